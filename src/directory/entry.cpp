#include "directory/entry.hpp"

namespace caremail::directory {

void common_name(std::string_view display_name, std::string_view given_name, std::string_view surname,
                 std::string_view address, std::string& out) {
  out.assign(display_name);
  if (!out.empty()) return;
  out.assign(given_name);
  if (!surname.empty()) {
    if (!out.empty()) out += ' ';
    out += surname;
  }
  if (out.empty()) out.assign(address);
}

std::string_view to_string(EntryKind k) noexcept {
  switch (k) {
    case EntryKind::person:
      return "person";
    case EntryKind::shared:
      return "shared";
    case EntryKind::list:
      return "list";
    case EntryKind::contact:
      return "contact";
  }
  return "person";
}

}  // namespace caremail::directory

#include "directory/entry.hpp"

namespace caremail::directory {

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

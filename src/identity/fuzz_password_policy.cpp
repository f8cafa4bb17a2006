// libFuzzer target for the password policy's handling of untrusted text (the password,
// and names that came from a directory): UTF-8 decoding, name splitting and folding, the
// common-list rules. Input: display name, address and password separated by NUL bytes.
// Beyond "no crash, no UB" it checks promises password_policy.hpp makes.
//
//   make fuzz   (build-fuzz/src/fuzz_identity_password)
//   build-fuzz/src/fuzz_identity_password -max_len=1024 $(mktemp -d)
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "identity/password_policy.hpp"

namespace {

using namespace caremail::identity;

void check(bool ok) {
  if (!ok) std::abort();
}

std::string_view take_field(std::string_view& in) {
  size_t nul = in.find('\0');
  std::string_view field = in.substr(0, nul);
  in = nul == std::string_view::npos ? std::string_view{} : in.substr(nul + 1);
  return field;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const CommonPasswords common = CommonPasswords::load().value();
  static const PasswordPolicyConfig config;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  const std::string_view display = take_field(in);
  const std::string_view address = take_field(in);
  const std::string_view password = in;  // may hold NULs: the policy must refuse them

  // utf8_length counts lead bytes of valid input and refuses the rest.
  if (auto n = utf8_length(password)) {
    size_t leads = 0;
    for (unsigned char c : password) leads += (c & 0xC0) != 0x80;
    check(*n == leads);
  }

  caremail::Status length = check_length(password, AccountKind::person, config);
  if (length.ok()) {
    check(password.size() <= config.max_bytes);
    check(password.find('\0') == std::string_view::npos);
    (void)check_names(password, display, address, config);
  }
  (void)check_common(password, common);

  // Name words are lower-case, at least min_name_word long, and a password that is one of
  // them is always refused.
  for (const std::string& w : name_words(display, address, config.min_name_word)) {
    check(w.size() >= config.min_name_word);
    for (char c : w) check(!(c >= 'A' && c <= 'Z') && c != ' ' && c != '.' && c != '@');
    check(utf8_length(w).has_value());
    check(!check_names(w, display, address, config).ok());
  }
  return 0;
}

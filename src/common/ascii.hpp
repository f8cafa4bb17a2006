// ASCII case, for what the protocols compare without regard to ASCII case: addresses'
// domains, our own addresses (stored lower case), header field names, List-Ids. Never
// Unicode case (that is common/case_ignore.hpp's, for LDAP). Pure, thread-safe.
#pragma once

#include <string>
#include <string_view>

namespace caremail {

// `s` with A-Z turned into a-z; every other byte (UTF-8 included) as it was.
inline std::string ascii_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

}  // namespace caremail

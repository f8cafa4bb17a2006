// caseIgnore matching as LDAP does it (RFC 4518 string preparation: case folding, NFKC,
// insignificant spaces; no prohibited-character check): what
// the LDAP front-end's filters and the directory index's substring assertions share, so
// that the index never drops an entry the filter would have matched. Pure, thread-safe.
#pragma once

#include <span>
#include <string>
#include <string_view>

namespace caremail {

// Case-folds (Unicode, NFKC; a value that is not UTF-8 only has its ASCII letters folded)
// and turns every run of spaces into one; with `trim`, drops
// the spaces at both ends. Values are prepared with trim, substring components without
// (RFC 4518 §2.6.1: a component's spaces are significant where they touch the wildcard).
void prepare_case_ignore(std::string_view v, bool trim, std::string& out);
std::string prepare_case_ignore(std::string_view v, bool trim);

// initial*any*...*final against a prepared value (null or empty components are absent).
// Greedy left to right: each "any" taken at its first occurrence after the previous one,
// which is optimal for plain strings, so no backtracking.
bool substrings_match(std::string_view value, const std::string* initial, std::span<const std::string> any,
                      const std::string* final_);

}  // namespace caremail

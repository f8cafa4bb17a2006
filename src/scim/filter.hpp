// SCIM 2.0 filters (RFC 7644 §3.4.2.2): the subset provisioning clients send, parsed into a
// tree and evaluated against a resource's attributes.
//
// SECURITY: the filter comes from the query string of an authenticated administrator's
// request, but it is still outside input: bounded length, depth and node count; no
// recursion deeper than the depth limit; errors carry the SCIM error type "invalidFilter".
//
// Grammar (case-insensitive operators and attribute names):
//   filter  = or
//   or      = and *( SP "or" SP and )
//   and     = unary *( SP "and" SP unary )
//   unary   = "not" *SP "(" filter ")" / "(" filter ")" / compare / present
//   compare = attrPath SP op SP value      ; op = eq ne co sw ew gt ge lt le
//   present = attrPath SP "pr"
//   attrPath = ATTRNAME *( "." ATTRNAME )   ; optionally prefixed by a schema URN and ":"
//   value   = quoted JSON string / "true" / "false" / "null" / number
// Value filters on multi-valued attributes ("emails[type eq \"work\"]") are not supported:
// clients send "emails.value eq ..." for the lookups we answer.
//
// Thread-safety: pure functions, no shared state.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"

namespace caremail::scim {

struct FilterLimits {
  size_t max_length = 2048;  // octets of the filter text
  size_t max_depth = 16;     // nesting of parentheses and not
  size_t max_nodes = 64;     // comparisons and logical operators together
};

enum class Op { eq, ne, co, sw, ew, gt, ge, lt, le, pr, and_, or_, not_ };

struct Filter {
  Op op = Op::eq;
  std::string attr;   // lower case, schema URN removed: "username", "emails.value", "name.familyname"
  // The comparison value: a string, or "true"/"false"/"null" or a number as written
  // (value_is_string tells which).
  std::string value;
  bool value_is_string = false;
  std::vector<Filter> children;  // and/or: two; not: one
};

// Parses `text`. Errc::invalid_argument with a message for the client on any error.
Result<Filter> parse_filter(std::string_view text, const FilterLimits& limits = {});

// The values of attribute `attr` (as in Filter::attr) of the resource being tested; empty
// when it has none. Strings compare case-insensitively (caseExact=false, RFC 7643 §2.2).
using Attributes = std::function<std::vector<std::string>(const std::string& attr)>;

bool matches(const Filter& f, const Attributes& attrs);

// Back to text (for logs and tests).
std::string to_string(const Filter& f);

}  // namespace caremail::scim

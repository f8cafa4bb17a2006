// LDAP search filters: the tree (RFC 4511 §4.5.1.7), its evaluation against an entry, and
// its string form (RFC 4515) both ways.
//
// SECURITY: filters come from authenticated but untrusted clients (and parse_filter's
// input may come from anyone who can reach a log or a test). Every way of building a
// Filter here is bounded by FilterLimits (depth, nodes, substring components, value
// sizes), so evaluation cost is bounded too: at most max_nodes tests, each linear in the
// values it looks at (substring matching is greedy and never backtracks). Recursion depth
// in evaluate() and to_string() is the tree's depth, which the builders bound.
//
// Matching semantics (what address-book clients rely on):
//   - Attribute names are case-insensitive, and the usual aliases and OIDs of the
//     address-book attributes are folded to their short names (commonName and 2.5.4.3 are
//     cn; see canonical_attribute()).
//   - Equality, substrings, ordering: caseIgnoreMatch / caseIgnoreSubstringsMatch /
//     caseIgnoreOrderingMatch with RFC 4518's string preparation (common/case_ignore):
//     Unicode case folding and NFKC, runs of spaces count as one, leading and trailing
//     spaces do not count; accents stay significant; a value that is not UTF-8 is
//     compared octet for octet with its ASCII letters folded.
//   - Telephone attributes (telephoneNumber, mobile, facsimileTelephoneNumber, homePhone,
//     pager) use telephoneNumberMatch: spaces and hyphens do not count.
//   - Approximate (~=): equality after removing all spaces (our "sounds like" is modest).
//   - Extensible: with no matching rule, the attribute's equality rule; caseIgnoreMatch
//     (2.5.13.2) and caseExactMatch (2.5.13.5) by name or OID; anything else, or no
//     attribute, is Undefined. dn:attributes are not looked at (the view has no DN).
//   - Three-valued logic: a test of an attribute the view does not know is Undefined,
//     NOT(Undefined) is Undefined, and only TRUE selects an entry.
//
// Thread-safety: pure functions; a Filter is a plain value.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"

namespace caremail::ldap {

// Every limit bounds what one hostile filter can make us hold or do. Clients' real filters
// are small: Thunderbird's and Outlook's address-book lookups are an OR of 4-10 substring
// tests, and the biggest we know of (Outlook's ANR-style lookups) stay under 60 nodes.
struct FilterLimits {
  // Nesting of and/or/not. Decoding, evaluation and rendering recurse once per level.
  size_t max_depth = 32;
  // Nodes in the whole tree (every and/or/not and every test). Bounds evaluation work per
  // entry, and allocations per request.
  size_t max_nodes = 1000;
  // initial + any + final components of one substring test: "(cn=*a*a*a*...*)" costs a
  // scan per component per value.
  size_t max_substring_components = 16;
  // Octets of one assertion value or substring component. Names, addresses and phone
  // numbers are far shorter; certificates are fetched, not searched by value.
  size_t max_value = 4096;
  // Octets of an attribute description or matching rule ("cn;lang-en", "2.5.13.2").
  size_t max_attribute = 256;
  // Octets of an RFC 4515 string given to parse_filter().
  size_t max_string = 64 * 1024;
};

struct Filter {
  enum class Kind {
    and_,              // children: any number (0 is "absolute true", RFC 4526)
    or_,               // children: any number (0 is "absolute false")
    not_,              // children: exactly one
    equality,          // attribute = value
    substrings,        // attribute, initial?, any*, final?  (at least one component)
    greater_or_equal,  // attribute >= value
    less_or_equal,     // attribute <= value
    present,           // attribute =*
    approx,            // attribute ~= value
    extensible,        // [attribute] [:dn] [:matching_rule] := value
  };
  Kind kind = Kind::present;
  std::string attribute;                // as sent (a valid attribute description); "" only
                                        // for an extensible test with a matching rule
  std::string value;                    // assertion value (raw octets, unescaped)
  std::optional<std::string> initial;   // substrings: non-empty when present
  std::vector<std::string> any;         // substrings: each non-empty
  std::optional<std::string> final_;    // substrings: non-empty when present
  std::string matching_rule;            // extensible: "" when absent
  bool dn_attributes = false;           // extensible
  std::vector<Filter> children;         // and_, or_, not_

  bool operator==(const Filter&) const = default;

  // Builders for tests and for the server's own filters.
  static Filter presence(std::string attribute);
  static Filter equal(std::string attribute, std::string value);
  static Filter all_of(std::vector<Filter> children);
  static Filter any_of(std::vector<Filter> children);
  static Filter negate(Filter child);
};

// Depth (a single test is 1) and node count of a tree.
size_t filter_depth(const Filter& f);
size_t filter_nodes(const Filter& f);

// RFC 4512 attribute description: (keystring / numericoid) *(";" option), option a
// keystring of ALPHA / DIGIT / "-". Also used for matching rule names (no options).
bool valid_attribute_description(std::string_view s);
// Matching rule ids: keystring or numericoid.
bool valid_oid_or_name(std::string_view s);

// The short lower-case name of an attribute the address-book schema knows under several
// names ("commonName", "CN", "2.5.4.3" -> "cn"; "surname" -> "sn"; "rfc822Mailbox" -> "mail";
// "mobileTelephoneNumber" -> "mobile"...), options kept ("CN;lang-en" -> "cn;lang-en");
// otherwise the input lower-cased. Entry views are looked up with this form.
std::string canonical_attribute(std::string_view name);

// Case-insensitive (ASCII) equality, for attribute names and OIDs.
bool iequals(std::string_view a, std::string_view b) noexcept;

// RFC 4515 string form: "(&(objectClass=person)(|(cn=*smith*)(mail=smith@*)))". Values are
// escaped as \XX where RFC 4515 requires (NUL ( ) * \), and so are control characters and,
// in a value that is not valid UTF-8, every octet >= 0x80: the result is printable and safe
// to log (it holds no CR/LF).
std::string to_string(const Filter& f);

// Parses an RFC 4515 filter. Also accepts a bare item without its parentheses ("cn=x"), as
// ldapsearch does. Bounded by `limits` (max_string first, then depth, nodes, components,
// sizes); an Error (invalid_argument or too_large) says what and where.
Result<Filter> parse_filter(std::string_view text, const FilterLimits& limits = {});

// What a filter test yields (RFC 4511 §4.5.1.7).
enum class Match { false_, true_, undefined };

// The attributes of one entry, as the evaluator sees them.
class EntryView {
 public:
  virtual ~EntryView() = default;
  // The values of the attribute named `canonical` (canonical_attribute() form, compared
  // case-insensitively), or nullptr when the entry has none.
  virtual const std::vector<std::string>* find(std::string_view canonical) const = 0;
  // Whether the schema knows this attribute: tests of unknown ones are Undefined rather
  // than FALSE, so "(!(unknown=x))" selects nothing (as OpenLDAP does).
  virtual bool known_attribute(std::string_view canonical) const {
    (void)canonical;
    return true;
  }
};

// A simple entry: the DN and its attributes in order. Also what SearchResultEntry encodes.
struct Attribute {
  std::string name;                 // as it should be returned ("cn", "telephoneNumber")
  std::vector<std::string> values;
  bool operator==(const Attribute&) const = default;
};
struct Entry : EntryView {
  std::string dn;
  std::vector<Attribute> attributes;

  Entry() = default;
  Entry(std::string dn_, std::vector<Attribute> attrs) : dn(std::move(dn_)), attributes(std::move(attrs)) {}
  // The first attribute whose canonical name equals canonical_attribute(name).
  const std::vector<std::string>* find(std::string_view canonical) const override;
  bool operator==(const Entry& o) const { return dn == o.dn && attributes == o.attributes; }
};

// Evaluates `f` against `entry`. REQUIRES: f within the FilterLimits it was built under
// (recursion follows its depth).
Match evaluate(const Filter& f, const EntryView& entry);
inline bool matches(const Filter& f, const EntryView& entry) { return evaluate(f, entry) == Match::true_; }

}  // namespace caremail::ldap

// Filter evaluation and RFC 4515 strings; the semantics are in filter.hpp.
#include "ldap/filter.hpp"

#include <array>

#include "common/case_ignore.hpp"

namespace caremail::ldap {

namespace {

constexpr bool is_alpha(char c) { return (c | 0x20) >= 'a' && (c | 0x20) <= 'z'; }
constexpr bool is_digit(char c) { return c >= '0' && c <= '9'; }
constexpr char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; }

std::string to_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = lower(c);
  return out;
}

bool valid_keystring(std::string_view s) {
  if (s.empty() || !is_alpha(s[0])) return false;
  for (char c : s)
    if (!is_alpha(c) && !is_digit(c) && c != '-') return false;
  return true;
}

// numericoid = number 1*( DOT number ); leading zeros are tolerated (clients do not send
// them, and rejecting them buys nothing here).
bool valid_numericoid(std::string_view s) {
  if (s.empty() || !is_digit(s.front()) || !is_digit(s.back())) return false;
  bool dot = false;
  char prev = '.';
  for (char c : s) {
    if (c == '.') {
      if (prev == '.') return false;
      dot = true;
    } else if (!is_digit(c)) {
      return false;
    }
    prev = c;
  }
  return dot;
}

// The address-book attributes clients ask for, under every name and OID they use.
struct Alias {
  std::string_view name;  // lower-case
  std::string_view canonical;
};
constexpr std::array<Alias, 52> kAliases{{
    {"commonname", "cn"}, {"2.5.4.3", "cn"},
    {"surname", "sn"}, {"2.5.4.4", "sn"},
    {"gn", "givenname"}, {"2.5.4.42", "givenname"},
    {"rfc822mailbox", "mail"}, {"0.9.2342.19200300.100.1.3", "mail"},
    {"organizationname", "o"}, {"2.5.4.10", "o"},
    {"organizationalunitname", "ou"}, {"2.5.4.11", "ou"},
    {"2.5.4.12", "title"},
    {"2.5.4.20", "telephonenumber"},
    {"mobiletelephonenumber", "mobile"}, {"0.9.2342.19200300.100.1.41", "mobile"},
    {"fax", "facsimiletelephonenumber"}, {"2.5.4.23", "facsimiletelephonenumber"},
    {"hometelephonenumber", "homephone"}, {"0.9.2342.19200300.100.1.20", "homephone"},
    {"pagertelephonenumber", "pager"}, {"0.9.2342.19200300.100.1.42", "pager"},
    {"2.16.840.1.113730.3.1.241", "displayname"},
    {"2.5.4.0", "objectclass"},
    {"localityname", "l"}, {"2.5.4.7", "l"},
    {"stateorprovincename", "st"}, {"2.5.4.8", "st"},
    {"streetaddress", "street"}, {"2.5.4.9", "street"},
    {"countryname", "c"}, {"2.5.4.6", "c"},
    {"2.5.4.17", "postalcode"},
    {"2.5.4.16", "postaladdress"},
    {"2.5.4.13", "description"},
    {"2.5.4.19", "physicaldeliveryofficename"},
    {"2.5.4.36", "usercertificate"},
    {"userid", "uid"}, {"0.9.2342.19200300.100.1.1", "uid"},
    {"2.16.840.1.113730.3.1.2", "departmentnumber"},
    {"2.16.840.1.113730.3.1.3", "employeenumber"},
    {"2.16.840.1.113730.3.1.4", "employeetype"},
    {"2.5.4.65", "pseudonym"},
    {"2.5.4.43", "initials"},
    {"2.5.4.44", "generationqualifier"},
    {"0.9.2342.19200300.100.1.60", "jpegphoto"},
    {"2.5.4.49", "distinguishedname"},
    {"2.5.4.31", "member"},
    {"0.9.2342.19200300.100.1.25", "dc"}, {"domaincomponent", "dc"},
    {"2.16.840.1.113730.3.1.39", "preferredlanguage"},
    {"0.9.2342.19200300.100.1.10", "manager"},
}};

bool is_phone_attribute(std::string_view canonical) {
  // Options ("telephoneNumber;x") keep the base type's rule.
  std::string_view base = canonical.substr(0, canonical.find(';'));
  return base == "telephonenumber" || base == "mobile" || base == "facsimiletelephonenumber" ||
         base == "homephone" || base == "pager";
}

// Prepares a value or assertion for caseIgnore / telephoneNumber matching (RFC 4518): for
// phones lower-case and drop spaces and hyphens; otherwise as prepare_case_ignore.
std::string prepare(std::string_view v, bool phone, bool trim) {
  if (!phone) return prepare_case_ignore(v, trim);
  std::string out;
  out.reserve(v.size());
  for (char c : v)
    if (c != ' ' && c != '-') out.push_back(lower(c));
  return out;
}

std::string strip_spaces(std::string_view v) {
  std::string out;
  for (char c : v)
    if (c != ' ') out.push_back(c);
  return out;
}

bool valid_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<uint8_t>(s[i]);
    size_t n;
    uint32_t cp;
    if (c < 0x80) { ++i; continue; }
    if ((c & 0xE0) == 0xC0) { n = 1; cp = c & 0x1F; }
    else if ((c & 0xF0) == 0xE0) { n = 2; cp = c & 0x0F; }
    else if ((c & 0xF8) == 0xF0) { n = 3; cp = c & 0x07; }
    else return false;
    if (i + n >= s.size()) return false;
    for (size_t k = 1; k <= n; ++k) {
      auto cc = static_cast<uint8_t>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    // Overlong forms, surrogates and values past U+10FFFF.
    if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000)) return false;
    if ((cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) return false;
    i += n + 1;
  }
  return true;
}

void escape_value(std::string_view v, std::string& out) {
  static constexpr char kHex[] = "0123456789abcdef";
  bool utf8 = valid_utf8(v);
  for (char ch : v) {
    auto c = static_cast<uint8_t>(ch);
    bool esc = c < 0x20 || c == 0x7F || c == '(' || c == ')' || c == '*' || c == '\\' || (c >= 0x80 && !utf8);
    if (esc) {
      out.push_back('\\');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    } else {
      out.push_back(ch);
    }
  }
}

void render(const Filter& f, std::string& out) {
  out.push_back('(');
  switch (f.kind) {
    case Filter::Kind::and_:
    case Filter::Kind::or_:
    case Filter::Kind::not_:
      out.push_back(f.kind == Filter::Kind::and_ ? '&' : f.kind == Filter::Kind::or_ ? '|' : '!');
      for (const Filter& c : f.children) render(c, out);
      break;
    case Filter::Kind::equality:
    case Filter::Kind::greater_or_equal:
    case Filter::Kind::less_or_equal:
    case Filter::Kind::approx:
      out += f.attribute;
      out += f.kind == Filter::Kind::equality ? "=" : f.kind == Filter::Kind::approx ? "~=" :
             f.kind == Filter::Kind::greater_or_equal ? ">=" : "<=";
      escape_value(f.value, out);
      break;
    case Filter::Kind::present:
      out += f.attribute;
      out += "=*";
      break;
    case Filter::Kind::substrings:
      out += f.attribute;
      out.push_back('=');
      if (f.initial) escape_value(*f.initial, out);
      out.push_back('*');
      for (const std::string& a : f.any) {
        escape_value(a, out);
        out.push_back('*');
      }
      if (f.final_) escape_value(*f.final_, out);
      break;
    case Filter::Kind::extensible:
      out += f.attribute;
      if (f.dn_attributes) out += ":dn";
      if (!f.matching_rule.empty()) {
        out.push_back(':');
        out += f.matching_rule;
      }
      out += ":=";
      escape_value(f.value, out);
      break;
  }
  out.push_back(')');
}

// ---- evaluation ------------------------------------------------------------------------

enum class Rule { case_ignore, case_exact, phone };

Match test_values(const Filter& f, const EntryView& entry, const std::string& canon, Rule rule) {
  if (!entry.known_attribute(canon)) return Match::undefined;
  const std::vector<std::string>* values = entry.find(canon);
  if (values == nullptr) return Match::false_;
  bool phone = rule == Rule::phone;
  auto prep = [&](std::string_view v, bool trim) {
    return rule == Rule::case_exact ? std::string(v) : prepare(v, phone, trim);
  };
  switch (f.kind) {
    case Filter::Kind::equality:
    case Filter::Kind::extensible: {
      std::string want = prep(f.value, true);
      for (const std::string& v : *values)
        if (prep(v, true) == want) return Match::true_;
      return Match::false_;
    }
    case Filter::Kind::approx: {
      std::string want = strip_spaces(prep(f.value, true));
      for (const std::string& v : *values)
        if (strip_spaces(prep(v, true)) == want) return Match::true_;
      return Match::false_;
    }
    case Filter::Kind::greater_or_equal:
    case Filter::Kind::less_or_equal: {
      std::string want = prep(f.value, true);
      for (const std::string& v : *values) {
        std::string have = prep(v, true);
        if (f.kind == Filter::Kind::greater_or_equal ? have >= want : have <= want) return Match::true_;
      }
      return Match::false_;
    }
    case Filter::Kind::substrings: {
      std::optional<std::string> initial, final_;
      if (f.initial) initial = prep(*f.initial, false);
      if (f.final_) final_ = prep(*f.final_, false);
      std::vector<std::string> any;
      any.reserve(f.any.size());
      for (const std::string& a : f.any) any.push_back(prep(a, false));
      for (const std::string& v : *values)
        if (substrings_match(prep(v, true), initial ? &*initial : nullptr, any, final_ ? &*final_ : nullptr))
          return Match::true_;
      return Match::false_;
    }
    case Filter::Kind::present:
      return values->empty() ? Match::false_ : Match::true_;
    default:
      return Match::undefined;
  }
}

}  // namespace

bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower(b[i])) return false;
  return true;
}

bool valid_oid_or_name(std::string_view s) { return valid_keystring(s) || valid_numericoid(s); }

bool valid_attribute_description(std::string_view s) {
  size_t semi = s.find(';');
  if (!valid_oid_or_name(s.substr(0, semi))) return false;
  while (semi != std::string_view::npos) {
    s.remove_prefix(semi + 1);
    semi = s.find(';');
    std::string_view option = s.substr(0, semi);
    if (option.empty()) return false;
    for (char c : option)
      if (!is_alpha(c) && !is_digit(c) && c != '-') return false;
  }
  return true;
}

std::string canonical_attribute(std::string_view name) {
  size_t semi = name.find(';');
  std::string base = to_lower(name.substr(0, semi));
  for (const Alias& a : kAliases)
    if (a.name == base) {
      base = a.canonical;
      break;
    }
  if (semi != std::string_view::npos) base += to_lower(name.substr(semi));
  return base;
}

Filter Filter::presence(std::string attribute) {
  Filter f;
  f.kind = Kind::present;
  f.attribute = std::move(attribute);
  return f;
}

Filter Filter::equal(std::string attribute, std::string value) {
  Filter f;
  f.kind = Kind::equality;
  f.attribute = std::move(attribute);
  f.value = std::move(value);
  return f;
}

Filter Filter::all_of(std::vector<Filter> children) {
  Filter f;
  f.kind = Kind::and_;
  f.children = std::move(children);
  return f;
}

Filter Filter::any_of(std::vector<Filter> children) {
  Filter f;
  f.kind = Kind::or_;
  f.children = std::move(children);
  return f;
}

Filter Filter::negate(Filter child) {
  Filter f;
  f.kind = Kind::not_;
  f.children.push_back(std::move(child));
  return f;
}

size_t filter_depth(const Filter& f) {
  size_t d = 0;
  for (const Filter& c : f.children) d = std::max(d, filter_depth(c));
  return d + 1;
}

size_t filter_nodes(const Filter& f) {
  size_t n = 1;
  for (const Filter& c : f.children) n += filter_nodes(c);
  return n;
}

std::string to_string(const Filter& f) {
  std::string out;
  render(f, out);
  return out;
}

const std::vector<std::string>* Entry::find(std::string_view canonical) const {
  for (const Attribute& a : attributes)
    if (iequals(canonical_attribute(a.name), canonical)) return &a.values;
  return nullptr;
}

Match evaluate(const Filter& f, const EntryView& entry) {
  switch (f.kind) {
    case Filter::Kind::and_: {
      Match m = Match::true_;
      for (const Filter& c : f.children) {
        Match r = evaluate(c, entry);
        if (r == Match::false_) return Match::false_;
        if (r == Match::undefined) m = Match::undefined;
      }
      return m;
    }
    case Filter::Kind::or_: {
      Match m = Match::false_;
      for (const Filter& c : f.children) {
        Match r = evaluate(c, entry);
        if (r == Match::true_) return Match::true_;
        if (r == Match::undefined) m = Match::undefined;
      }
      return m;
    }
    case Filter::Kind::not_: {
      if (f.children.size() != 1) return Match::undefined;
      Match r = evaluate(f.children[0], entry);
      return r == Match::true_ ? Match::false_ : r == Match::false_ ? Match::true_ : Match::undefined;
    }
    case Filter::Kind::present: {
      std::string canon = canonical_attribute(f.attribute);
      // Every entry has an object class (RFC 4512 §3.3), and clients test it to mean "any
      // entry": do not let a view that leaves it out hide everything.
      if (canon == "objectclass") return Match::true_;
      return test_values(f, entry, canon, Rule::case_ignore);
    }
    case Filter::Kind::extensible: {
      if (f.attribute.empty()) return Match::undefined;
      std::string canon = canonical_attribute(f.attribute);
      Rule rule = is_phone_attribute(canon) ? Rule::phone : Rule::case_ignore;
      if (!f.matching_rule.empty()) {
        if (iequals(f.matching_rule, "caseIgnoreMatch") || f.matching_rule == "2.5.13.2") rule = Rule::case_ignore;
        else if (iequals(f.matching_rule, "caseExactMatch") || f.matching_rule == "2.5.13.5") rule = Rule::case_exact;
        else return Match::undefined;
      }
      return test_values(f, entry, canon, rule);
    }
    default: {
      std::string canon = canonical_attribute(f.attribute);
      return test_values(f, entry, canon, is_phone_attribute(canon) ? Rule::phone : Rule::case_ignore);
    }
  }
}

// ---- RFC 4515 parser -------------------------------------------------------------------

namespace {

class StringParser {
 public:
  StringParser(std::string_view s, const FilterLimits& lim) : s_(s), lim_(lim) {}

  Result<Filter> top() {
    if (s_.size() > lim_.max_string)
      return make_error(Errc::too_large, "filter longer than " + std::to_string(lim_.max_string) + " octets");
    if (s_.empty()) return bad("empty filter");
    if (s_[0] != '(') {
      // ldapsearch-style bare item.
      if (s_.find_first_of("()") != std::string_view::npos) return bad("unbalanced parentheses");
      if (auto st = count_node(1); !st) return st.error();
      pos_ = s_.size();
      return item(s_);
    }
    auto f = filter(1);
    if (!f) return f;
    if (pos_ != s_.size()) return bad("trailing characters");
    return f;
  }

 private:
  Error bad(std::string what) const {
    return make_error(Errc::invalid_argument, "bad filter at offset " + std::to_string(pos_) + ": " + what);
  }

  Status count_node(size_t depth) {
    if (depth > lim_.max_depth)
      return make_error(Errc::too_large, "filter nested deeper than " + std::to_string(lim_.max_depth));
    if (++nodes_ > lim_.max_nodes)
      return make_error(Errc::too_large, "filter has more than " + std::to_string(lim_.max_nodes) + " parts");
    return {};
  }

  Result<Filter> filter(size_t depth) {
    if (pos_ >= s_.size() || s_[pos_] != '(') return bad("expected '('");
    if (auto st = count_node(depth); !st) return st.error();
    ++pos_;
    if (pos_ >= s_.size()) return bad("unexpected end");
    char c = s_[pos_];
    Filter f;
    if (c == '&' || c == '|' || c == '!') {
      f.kind = c == '&' ? Filter::Kind::and_ : c == '|' ? Filter::Kind::or_ : Filter::Kind::not_;
      ++pos_;
      while (pos_ < s_.size() && s_[pos_] == '(') {
        auto child = filter(depth + 1);
        if (!child) return child;
        f.children.push_back(std::move(child).value());
      }
      if (f.kind == Filter::Kind::not_ && f.children.size() != 1) return bad("'!' takes exactly one filter");
    } else {
      size_t end = s_.find_first_of("()", pos_);
      if (end == std::string_view::npos || s_[end] != ')') return bad("unterminated item");
      auto it = item(s_.substr(pos_, end - pos_));
      if (!it) return it;
      f = std::move(it).value();
      pos_ = end;
    }
    if (pos_ >= s_.size() || s_[pos_] != ')') return bad("expected ')'");
    ++pos_;
    return f;
  }

  Result<std::string> unescape(std::string_view v) const {
    std::string out;
    out.reserve(v.size());
    for (size_t i = 0; i < v.size(); ++i) {
      char c = v[i];
      if (c == '\0') return bad("NUL in value");
      if (c != '\\') {
        out.push_back(c);
        continue;
      }
      auto hex = [](char h) -> int {
        if (is_digit(h)) return h - '0';
        char l = lower(h);
        return l >= 'a' && l <= 'f' ? l - 'a' + 10 : -1;
      };
      if (i + 2 >= v.size()) return bad("truncated escape");
      int hi = hex(v[i + 1]), lo = hex(v[i + 2]);
      if (hi < 0 || lo < 0) return bad("escape is not \\XX");
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    }
    if (out.size() > lim_.max_value)
      return make_error(Errc::too_large, "filter value longer than " + std::to_string(lim_.max_value) + " octets");
    return out;
  }

  Status check_attribute(std::string_view a) const {
    if (a.size() > lim_.max_attribute) return make_error(Errc::too_large, "attribute description too long");
    if (!valid_attribute_description(a)) return bad("invalid attribute description");
    return {};
  }

  Result<Filter> item(std::string_view it) {
    size_t i = 0;
    while (i < it.size() && (is_alpha(it[i]) || is_digit(it[i]) || it[i] == '-' || it[i] == '.' || it[i] == ';')) ++i;
    std::string_view attr = it.substr(0, i);
    std::string_view rest = it.substr(i);
    Filter f;
    f.attribute = std::string(attr);
    if (!rest.empty() && rest[0] == ':') {
      f.kind = Filter::Kind::extensible;
      if (!attr.empty())
        if (auto st = check_attribute(attr); !st) return st.error();
      // [":dn"] [":" rule] ":="
      while (rest.size() >= 2 && rest[0] == ':' && rest[1] != '=') {
        size_t j = 1;
        while (j < rest.size() && rest[j] != ':' && rest[j] != '=') ++j;
        std::string_view tok = rest.substr(1, j - 1);
        if (iequals(tok, "dn") && !f.dn_attributes && f.matching_rule.empty()) {
          f.dn_attributes = true;
        } else if (f.matching_rule.empty()) {
          if (tok.size() > lim_.max_attribute || !valid_oid_or_name(tok) || iequals(tok, "dn"))
            return bad("invalid matching rule");
          f.matching_rule = std::string(tok);
        } else {
          return bad("extensible match with two rules");
        }
        rest.remove_prefix(j);
      }
      if (rest.substr(0, 2) != ":=") return bad("expected ':='");
      if (attr.empty() && f.matching_rule.empty()) return bad("extensible match needs an attribute or a rule");
      auto v = unescape(rest.substr(2));
      if (!v) return v.error();
      f.value = std::move(v).value();
      return f;
    }
    if (auto st = check_attribute(attr); !st) return st.error();
    std::string_view value;
    if (rest.substr(0, 2) == "~=") {
      f.kind = Filter::Kind::approx;
      value = rest.substr(2);
    } else if (rest.substr(0, 2) == ">=") {
      f.kind = Filter::Kind::greater_or_equal;
      value = rest.substr(2);
    } else if (rest.substr(0, 2) == "<=") {
      f.kind = Filter::Kind::less_or_equal;
      value = rest.substr(2);
    } else if (rest.substr(0, 1) == "=") {
      f.kind = Filter::Kind::equality;
      value = rest.substr(1);
    } else {
      return bad("expected '=', '~=', '>=', '<=' or ':' after the attribute");
    }
    if (f.kind != Filter::Kind::equality || value.find('*') == std::string_view::npos) {
      if (value.find('*') != std::string_view::npos) return bad("'*' in a value (escape it as \\2a)");
      auto v = unescape(value);
      if (!v) return v.error();
      f.value = std::move(v).value();
      return f;
    }
    if (value == "*") {
      f.kind = Filter::Kind::present;
      return f;
    }
    // Substrings: the pieces between unescaped '*' (an escape never contains '*').
    f.kind = Filter::Kind::substrings;
    std::vector<std::string_view> pieces;
    size_t start = 0;
    for (;;) {
      size_t star = value.find('*', start);
      pieces.push_back(value.substr(start, star == std::string_view::npos ? std::string_view::npos : star - start));
      if (star == std::string_view::npos) break;
      start = star + 1;
      if (pieces.size() > lim_.max_substring_components + 1)
        return make_error(Errc::too_large, "substring filter with more than " +
                                               std::to_string(lim_.max_substring_components) + " parts");
    }
    size_t components = 0;
    for (size_t k = 0; k < pieces.size(); ++k) {
      bool first = k == 0, last = k + 1 == pieces.size();
      if (pieces[k].empty()) {
        if (first || last) continue;
        return bad("empty substring between '**'");
      }
      auto v = unescape(pieces[k]);
      if (!v) return v.error();
      if (v->empty()) return bad("empty substring");
      ++components;
      if (first) f.initial = std::move(v).value();
      else if (last) f.final_ = std::move(v).value();
      else f.any.push_back(std::move(v).value());
    }
    if (components > lim_.max_substring_components)
      return make_error(Errc::too_large, "substring filter with more than " +
                                             std::to_string(lim_.max_substring_components) + " parts");
    return f;
  }

  std::string_view s_;
  const FilterLimits& lim_;
  size_t pos_ = 0;
  size_t nodes_ = 0;
};

}  // namespace

Result<Filter> parse_filter(std::string_view text, const FilterLimits& limits) {
  return StringParser(text, limits).top();
}

}  // namespace caremail::ldap

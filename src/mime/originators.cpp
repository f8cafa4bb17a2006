// The From check's reading of a message. See originators.hpp for the contract.
//
// The header section is split here (GMime's message parser is not used, for the reasons
// in mime.cpp); each originator field's unfolded value is then handed to GMime's address
// parser, with strict RFC 2047 and address compliance off (loose), as for summaries:
// strictness comes from the checks around GMime, not from GMime refusing odd input.
#include "mime/originators.hpp"

#include <gmime/gmime.h>

#include <algorithm>
#include <memory>
#include <optional>

#include "mime/glib_util.hpp"
#include "mime/mime.hpp"

namespace caremail::mime {
namespace {
using detail::ascii_lower;
using detail::iequals;
using detail::GCharPtr;
using detail::GFree;
using detail::GRef;

bool is_wsp(char c) { return c == ' ' || c == '\t'; }

// Printable US-ASCII except ':' (RFC 5322 2.2).
bool valid_field_name(std::string_view name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u > 32 && u < 127 && c != ':';
  });
}

// Printable text for an error message: control characters and non-ASCII become '?'.
std::string shown(std::string_view s, size_t max = 60) {
  std::string out;
  for (char c : s.substr(0, max)) {
    auto u = static_cast<unsigned char>(c);
    out += (u >= 0x20 && u < 0x7f) ? c : '?';
  }
  if (s.size() > max) out += "...";
  return out;
}

enum class Kind { from, sender, resent_from, resent_sender };

struct Field {
  Kind kind;
  std::string value;  // unfolded: line breaks removed, the whitespace after them kept
};

std::optional<Kind> originator_kind(std::string_view name) {
  if (iequals(name, "from")) return Kind::from;
  if (iequals(name, "sender")) return Kind::sender;
  if (iequals(name, "resent-from")) return Kind::resent_from;
  if (iequals(name, "resent-sender")) return Kind::resent_sender;
  return std::nullopt;
}

std::string_view kind_name(Kind k) {
  switch (k) {
    case Kind::from: return "From";
    case Kind::sender: return "Sender";
    case Kind::resent_from: return "Resent-From";
    case Kind::resent_sender: return "Resent-Sender";
  }
  return "From";
}

Error invalid(std::string why) { return make_error(Errc::invalid_argument, std::move(why)); }

// The originator fields of the header section. Strict: any line that is neither a field
// nor a continuation, a bare CR, a NUL or a header section over the limit is an error.
// Lenient: such lines are skipped and the scan stops at the limit.
Result<std::vector<Field>> originator_fields(std::string_view msg, const OriginatorLimits& limits, bool strict) {
  std::vector<Field> out;
  Field* current = nullptr;  // the originator field being unfolded, if the last field is one
  bool in_field = false;     // a field (of any name) precedes: continuation lines are allowed
  size_t pos = 0;
  while (pos < msg.size()) {
    if (pos > limits.max_header_bytes) {
      if (strict)
        return invalid("the message header is larger than " + std::to_string(limits.max_header_bytes) + " bytes");
      break;
    }
    size_t eol = msg.find('\n', pos);
    size_t next = eol == std::string_view::npos ? msg.size() : eol + 1;
    std::string_view line = msg.substr(pos, (eol == std::string_view::npos ? msg.size() : eol) - pos);
    pos = next;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) break;  // the end of the header section; the body is never read
    if (strict) {
      if (line.find('\r') != std::string_view::npos) return invalid("the message header has a bare CR");
      if (line.find('\0') != std::string_view::npos) return invalid("the message header has a NUL character");
    }
    if (is_wsp(line.front())) {
      if (!in_field) {
        if (strict) return invalid("the message header starts with a continuation line");
        continue;
      }
      if (current) current->value += line;
      continue;
    }
    size_t colon = line.find(':');
    std::string_view name = colon == std::string_view::npos ? line : line.substr(0, colon);
    while (!name.empty() && is_wsp(name.back())) name.remove_suffix(1);  // obs-optional: "From :"
    if (colon == std::string_view::npos || !valid_field_name(name)) {
      if (strict) return invalid("the message header has a line that is not a field: \"" + shown(line) + "\"");
      in_field = false;
      current = nullptr;
      continue;
    }
    in_field = true;
    current = nullptr;
    if (auto k = originator_kind(name)) {
      out.push_back(Field{*k, std::string(line.substr(colon + 1))});
      current = &out.back();
    }
  }
  return out;
}

// '@' signs outside quoted strings and comments: how many addr-specs a reader could see.
// Unterminated quotes and comments run to the end, as GMime reads them.
size_t count_ats(std::string_view v) {
  size_t n = 0;
  int comment = 0;
  bool quoted = false;
  for (size_t i = 0; i < v.size(); ++i) {
    char c = v[i];
    if (c == '\\' && (quoted || comment > 0)) {
      ++i;
    } else if (quoted) {
      if (c == '"') quoted = false;
    } else if (c == '(') {
      ++comment;
    } else if (comment > 0) {
      if (c == ')') --comment;
    } else if (c == '"') {
      quoted = true;
    } else if (c == '@') {
      ++n;
    }
  }
  return n;
}

// GMime's address parser recurses once per group level; groups cannot nest in RFC 5322,
// so a value that could make it recurse more than a few levels is refused before GMime
// sees it (detail::address_nesting_is_safe over-estimates the nesting: it only refuses
// odd mail).
constexpr int kMaxGroupNesting = 8;

GMimeParserOptions* parser_options() {
  static GMimeParserOptions* options = [] {
    init();  // g_mime_init
    GMimeParserOptions* o = g_mime_parser_options_new();
    static const char* fallback[] = {"utf-8", "windows-1252", nullptr};
    g_mime_parser_options_set_fallback_charsets(o, fallback);
    g_mime_parser_options_set_rfc2047_compliance_mode(o, GMIME_RFC_COMPLIANCE_LOOSE);
    g_mime_parser_options_set_address_compliance_mode(o, GMIME_RFC_COMPLIANCE_LOOSE);
    return o;
  }();
  return options;
}

// local@domain with the local part unquoted and the domain in lower case, or nullopt when
// `addr` is not one mailbox address.
std::optional<std::string> normalise(std::string_view addr) {
  size_t at = addr.rfind('@');
  if (at == std::string_view::npos || at == 0 || at + 1 == addr.size()) return std::nullopt;
  std::string_view local = addr.substr(0, at);
  std::string_view domain = addr.substr(at + 1);
  std::string out;
  if (local.size() >= 2 && local.front() == '"' && local.back() == '"') {
    for (size_t i = 1; i + 1 < local.size(); ++i) {
      if (local[i] == '\\' && i + 2 < local.size()) ++i;
      out += local[i];
    }
  } else {
    out.assign(local);
  }
  if (out.empty()) return std::nullopt;
  for (char c : out) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) return std::nullopt;
  }
  out += '@';
  for (char c : domain) {
    auto u = static_cast<unsigned char>(c);
    // Letters, digits, '-', '.', and UTF-8 (an internationalised domain as written).
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
              u >= 0x80;
    if (!ok) return std::nullopt;
    out += ascii_lower(c);
  }
  return out;
}

// Appends the mailboxes of `list` (groups expanded, one level) to `out`; false when the list
// holds something that is neither, or a group inside a group.
bool collect(InternetAddressList* list, std::vector<std::string>& raw_addrs, int depth = 0) {
  int n = internet_address_list_length(list);
  for (int i = 0; i < n; ++i) {
    InternetAddress* a = internet_address_list_get_address(list, i);
    if (INTERNET_ADDRESS_IS_MAILBOX(a)) {
      const char* addr = internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(a));
      raw_addrs.emplace_back(addr ? addr : "");
    } else if (INTERNET_ADDRESS_IS_GROUP(a) && depth == 0) {
      InternetAddressList* members = internet_address_group_get_members(INTERNET_ADDRESS_GROUP(a));
      if (members && !collect(members, raw_addrs, depth + 1)) return false;
    } else {
      return false;
    }
  }
  return true;
}

// The mailboxes of one field's value, as GMime reads it (not normalised).
std::optional<std::vector<std::string>> parse_mailboxes(const std::string& value) {
  if (!detail::address_nesting_is_safe(value, kMaxGroupNesting)) return std::nullopt;
  GRef<InternetAddressList> list(internet_address_list_parse(parser_options(), value.c_str()));
  std::vector<std::string> addrs;
  if (list && !collect(list.get(), addrs)) return std::nullopt;
  return addrs;
}

// The strict reading of one field: its mailboxes, normalised.
Result<std::vector<std::string>> mailboxes(const Field& f, const OriginatorLimits& limits) {
  const std::string_view name = kind_name(f.kind);
  auto blank = std::all_of(f.value.begin(), f.value.end(), [](char c) { return is_wsp(c); });
  if (blank) return invalid("the " + std::string(name) + " field is empty");
  if (f.value.find('\0') != std::string::npos) return invalid("the " + std::string(name) + " field has a NUL");
  auto cannot = [&](std::string_view why) {
    return invalid("the " + std::string(name) + " field cannot be read as addresses (" + std::string(why) +
                   "): \"" + shown(f.value) + "\"");
  };
  auto addrs = parse_mailboxes(f.value);
  if (!addrs) return cannot("groups or brackets nested too deep");
  if (addrs->empty()) return invalid("the " + std::string(name) + " field has no address: \"" + shown(f.value) + "\"");
  if (addrs->size() > limits.max_addresses)
    return invalid("the " + std::string(name) + " field has more than " + std::to_string(limits.max_addresses) +
                   " addresses");
  // Every '@' a reader could take for an address must be one GMime found, and no more.
  if (count_ats(f.value) != addrs->size()) return cannot("not every part of it is an address");
  std::vector<std::string> out;
  for (const auto& a : *addrs) {
    auto n = normalise(a);
    if (!n) return cannot("\"" + shown(a) + "\" is not an address");
    out.push_back(std::move(*n));
  }
  return out;
}

void add_domains(std::string_view text, std::vector<std::string>& out) {
  for (size_t at = text.find('@'); at != std::string_view::npos; at = text.find('@', at + 1)) {
    std::string d;
    for (size_t i = at + 1; i < text.size(); ++i) {
      char c = text[i];
      auto u = static_cast<unsigned char>(c);
      bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                c == '.' || c == '_' || u >= 0x80;
      if (!ok) break;
      d += ascii_lower(c);
    }
    while (!d.empty() && d.back() == '.') d.pop_back();
    while (!d.empty() && d.front() == '.') d.erase(0, 1);
    if (!d.empty()) out.push_back(std::move(d));
  }
}

}  // namespace

std::vector<std::string> Originators::all() const {
  std::vector<std::string> v = from;
  v.insert(v.end(), sender.begin(), sender.end());
  v.insert(v.end(), resent.begin(), resent.end());
  return v;
}

Result<Originators> originators(std::string_view message, const OriginatorLimits& limits) {
  auto fields = originator_fields(message, limits, true);
  if (!fields) return fields.error();
  size_t froms = 0, senders = 0;
  for (const auto& f : *fields) {
    froms += f.kind == Kind::from;
    senders += f.kind == Kind::sender;
  }
  if (froms == 0) return invalid("the message has no From field");
  if (froms > 1) return invalid("the message has " + std::to_string(froms) + " From fields; it must have one");
  if (senders > 1) return invalid("the message has " + std::to_string(senders) + " Sender fields; it may have one");
  Originators o;
  for (const auto& f : *fields) {
    auto m = mailboxes(f, limits);
    if (!m) return m.error();
    if ((f.kind == Kind::sender || f.kind == Kind::resent_sender) && m->size() != 1)
      return invalid("the " + std::string(kind_name(f.kind)) + " field must hold exactly one address");
    auto& dest = f.kind == Kind::from ? o.from : f.kind == Kind::sender ? o.sender : o.resent;
    dest.insert(dest.end(), m->begin(), m->end());
  }
  return o;
}

std::vector<std::string> originator_domains(std::string_view message, const OriginatorLimits& limits) {
  std::vector<std::string> out;
  auto fields = originator_fields(message, limits, false);
  if (!fields) return out;  // lenient: cannot fail
  for (const auto& f : *fields) {
    add_domains(f.value, out);
    std::unique_ptr<char, GFree> decoded(g_mime_utils_header_decode_text(parser_options(), f.value.c_str()));
    if (decoded) add_domains(decoded.get(), out);
    if (auto addrs = parse_mailboxes(f.value))
      for (const auto& a : *addrs) add_domains(a, out);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

}  // namespace caremail::mime

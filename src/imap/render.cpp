// IMAP message-data rendering. The contract is in render.hpp.
//
// Everything works from two inputs: the raw message and the body_structure JSON that
// mime::summarize() made of it (offsets of every part's header and body). The JSON may come
// from the store, so it is checked like untrusted input: every offset is clamped to the
// message, and its nesting is bounded at parse time, which in turn bounds every recursion
// below. Header fields and addresses are parsed here by small iterative scanners (no
// recursion, no GMime): ENVELOPE must show header text raw, which GMime's decoders do not.
#include "imap/render.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <cstdio>
#include <vector>

#include "mime/mime.hpp"
#include "common/hex.hpp"

namespace caremail::imap {
namespace {

// ---- Small text helpers -----------------------------------------------------------------

constexpr bool is_wsp(char c) { return c == ' ' || c == '\t'; }
constexpr char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; }
constexpr char upper(char c) { return c >= 'a' && c <= 'z' ? static_cast<char>(c - 32) : c; }

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower(b[i])) return false;
  return true;
}

std::string to_upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = upper(c);
  return out;
}

std::string to_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = lower(c);
  return out;
}

std::string_view trim_wsp(std::string_view s) {
  while (!s.empty() && is_wsp(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_wsp(s.back())) s.remove_suffix(1);
  return s;
}

// RFC 5322 3.2.2 unfolding; a stray CR or LF inside a value can only be damage, so every
// one goes (as mime::summarize does).
std::string unfold(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v)
    if (c != '\r' && c != '\n') out.push_back(c);
  return std::string(trim_wsp(out));
}

// Length of the well-formed UTF-8 sequence at s[i] (RFC 3629), 0 when there is none.
size_t utf8_sequence(std::string_view s, size_t i) {
  auto b = static_cast<unsigned char>(s[i]);
  size_t len = 0;
  uint32_t cp = 0;
  uint32_t min = 0;
  if (b >= 0xC2 && b <= 0xDF) { len = 2; cp = b & 0x1F; min = 0x80; }
  else if (b >= 0xE0 && b <= 0xEF) { len = 3; cp = b & 0x0F; min = 0x800; }
  else if (b >= 0xF0 && b <= 0xF4) { len = 4; cp = b & 0x07; min = 0x10000; }
  if (len == 0 || i + len > s.size()) return 0;
  for (size_t k = 1; k < len; ++k) {
    auto c = static_cast<unsigned char>(s[i + k]);
    if ((c & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (c & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return len;
}

// RFC 9051 quoted: TEXT-CHAR (CHAR except CR, LF; NUL is not a CHAR) or, with UTF8=ACCEPT,
// well-formed UTF-8.
bool quotable(std::string_view s, bool utf8) {
  for (size_t i = 0; i < s.size();) {
    auto b = static_cast<unsigned char>(s[i]);
    if (b == 0 || b == '\r' || b == '\n') return false;
    if (b < 0x80) {
      ++i;
      continue;
    }
    if (!utf8) return false;
    size_t len = utf8_sequence(s, i);
    if (len == 0) return false;
    i += len;
  }
  return true;
}

// Longer strings go as literals: a client can size its buffer from "{n}" and need not scan
// for the closing quote (Dovecot and Cyrus switch at similar lengths).
constexpr size_t kMaxQuoted = 1024;

// ---- Header sections --------------------------------------------------------------------

struct HeaderField {
  std::string_view name;   // trimmed of the whitespace before the colon
  std::string_view value;  // after the colon up to the end of its last line, folds included
  std::string_view text;   // the whole field: first line to its last line ending, inclusive
};

struct Line {
  size_t begin = 0;
  size_t end = 0;   // without the line ending (LF or CRLF)
  size_t next = 0;  // start of the following line
};

Line line_at(std::string_view s, size_t pos) {
  Line ln{pos, s.size(), s.size()};
  size_t nl = s.find('\n', pos);
  if (nl != std::string_view::npos) {
    ln.next = nl + 1;
    ln.end = (nl > pos && s[nl - 1] == '\r') ? nl - 1 : nl;
  }
  return ln;
}

// Header field names: printable US-ASCII except ':' (RFC 5322 2.2).
bool valid_field_name(std::string_view name) {
  if (name.empty()) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u > 32 && u < 127 && c != ':';
  });
}

// The header section at the start of `s`, split the way mime::summarize splits it: fields
// up to the blank line, or up to the first line that is not a field (where the body then
// starts). A continuation line with no field before it is dropped. `*body` (if given) is
// where the body starts; s.size() when the header runs to the end.
std::vector<HeaderField> parse_header(std::string_view s, size_t* body = nullptr) {
  std::vector<HeaderField> fields;
  size_t pos = 0;
  size_t body_at = s.size();
  while (pos < s.size()) {
    Line ln = line_at(s, pos);
    if (ln.begin == ln.end) {  // the blank line
      body_at = ln.next;
      break;
    }
    if (is_wsp(s[ln.begin])) {
      if (!fields.empty()) {
        HeaderField& f = fields.back();
        const char* start = f.text.data();
        f.value = std::string_view(f.value.data(), s.data() + ln.end - f.value.data());
        f.text = std::string_view(start, s.data() + ln.next - start);
      }
      pos = ln.next;
      continue;
    }
    std::string_view line = s.substr(ln.begin, ln.end - ln.begin);
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) {
      body_at = ln.begin;
      break;
    }
    std::string_view name = line.substr(0, colon);
    while (!name.empty() && is_wsp(name.back())) name.remove_suffix(1);  // "Subject :"
    if (!valid_field_name(name)) {
      body_at = ln.begin;
      break;
    }
    fields.push_back(HeaderField{name, line.substr(colon + 1), s.substr(ln.begin, ln.next - ln.begin)});
    pos = ln.next;
  }
  if (body != nullptr) *body = body_at;
  return fields;
}

const HeaderField* find_field(const std::vector<HeaderField>& fields, std::string_view name) {
  for (const HeaderField& f : fields)
    if (iequals(f.name, name)) return &f;
  return nullptr;
}

// HEADER.FIELDS[.NOT]: the chosen fields as they are (folds kept), each line ending made
// CRLF, then the blank line that ends a header.
std::string filter_header(std::string_view header, const std::vector<std::string>& names, bool keep) {
  std::string out;
  for (const HeaderField& f : parse_header(header)) {
    bool listed = std::any_of(names.begin(), names.end(),
                              [&](const std::string& n) { return iequals(f.name, n); });
    if (listed != keep) continue;
    for (size_t pos = 0; pos < f.text.size();) {
      Line ln = line_at(f.text, pos);
      out.append(f.text.substr(ln.begin, ln.end - ln.begin));
      out += "\r\n";
      pos = ln.next;
    }
  }
  out += "\r\n";
  return out;
}

// ---- Addresses (RFC 5322 3.4, with the obsolete forms of 4.4 read leniently) -------------

struct Address {  // RFC 9051 address; all-NIL is the end-of-group marker
  std::optional<std::string> name, adl, mailbox, host;
};

// A header this big is already absurd; past it further addresses are dropped, so that a
// field of ":;:;:;..." cannot turn each input octet into ~20 octets of group markers.
constexpr size_t kMaxAddresses = 10000;

constexpr bool is_address_special(char c) {
  switch (c) {
    case '(': case ')': case '<': case '>': case '[': case ']': case ':': case ';':
    case '@': case '\\': case ',': case '"':
      return true;
    default:
      return false;
  }
}

// atext plus '.', so that a dot-atom ("john.doe", "example.org") and obs-phrase words
// ("John Q. Public") are one token each. 8-bit octets count as text: they pass through.
constexpr bool is_atom_char(char c) {
  auto u = static_cast<unsigned char>(c);
  return u > 32 && u != 127 && !is_address_special(c);
}

// An address list parser for one (unfolded) field value. It never fails: whatever is not
// an address is skipped or kept as a mailbox name, so damaged headers still show
// something. Iterative throughout (comments are skipped with a depth counter), so nesting
// costs no stack; every step consumes input, so the work is linear in the value.
class AddressParser {
 public:
  explicit AddressParser(std::string_view s) : s_(s) {}

  std::vector<Address> parse() {
    bool in_group = false;
    while (out_.size() < kMaxAddresses) {
      skip_cfws();
      if (at_end()) break;
      char c = s_[i_];
      if (c == ',') {
        ++i_;
      } else if (c == ';') {
        ++i_;
        if (in_group) out_.emplace_back();  // end of group
        in_group = false;
      } else {
        item(in_group);
      }
    }
    if (in_group && out_.size() < kMaxAddresses) out_.emplace_back();  // unterminated group
    return std::move(out_);
  }

 private:
  struct Word {
    std::string text;      // as shown in a display name (quoted strings unquoted)
    std::string_view raw;  // as written (for a local-part)
  };

  bool at_end() const { return i_ >= s_.size(); }

  // Skips whitespace and comments. The text of the last comment is kept: "a@b (Name)" is
  // the old way of writing a display name.
  void skip_cfws() {
    while (!at_end()) {
      char c = s_[i_];
      if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
        ++i_;
      } else if (c == '(') {
        comment_ = comment();
      } else {
        break;
      }
    }
  }

  // At '(': the comment's text, unescaped, nested comments included; runs to the end of
  // the value when unterminated.
  std::string comment() {
    std::string text;
    size_t depth = 0;
    while (!at_end()) {
      char c = s_[i_++];
      if (c == '\\' && !at_end()) {
        text.push_back(s_[i_++]);
        continue;
      }
      if (c == '(') {
        if (depth++ == 0) continue;
      } else if (c == ')') {
        if (--depth == 0) break;
      }
      text.push_back(c);
    }
    return std::string(trim_wsp(text));
  }

  // At '"': the content with the backslash escapes removed.
  Word quoted() {
    size_t start = i_++;
    std::string text;
    while (!at_end()) {
      char c = s_[i_++];
      if (c == '"') break;
      if (c == '\\' && !at_end()) c = s_[i_++];
      text.push_back(c);
    }
    return Word{std::move(text), s_.substr(start, i_ - start)};
  }

  // At '[': a domain literal, kept as written.
  Word domain_literal() {
    size_t start = i_++;
    while (!at_end()) {
      char c = s_[i_++];
      if (c == ']') break;
      if (c == '\\' && !at_end()) ++i_;
    }
    std::string_view raw = s_.substr(start, i_ - start);
    return Word{std::string(raw), raw};
  }

  Word atom() {
    size_t start = i_;
    while (!at_end() && is_atom_char(s_[i_])) ++i_;
    std::string_view raw = s_.substr(start, i_ - start);
    return Word{std::string(raw), raw};
  }

  // Reads a word at s_[i_] if one starts there.
  std::optional<Word> word() {
    char c = s_[i_];
    if (c == '"') return quoted();
    if (c == '[') return domain_literal();
    if (is_atom_char(c)) return atom();
    return std::nullopt;
  }

  static std::optional<std::string> display(const std::vector<Word>& words) {
    std::string out;
    for (const Word& w : words) {
      if (!out.empty()) out.push_back(' ');
      out += w.text;
    }
    if (out.empty()) return std::nullopt;
    return out;
  }

  // obs-local-part allows CFWS around the dots ("john . doe"); words not joined by a dot
  // are damage, kept apart by a space.
  static std::string local_part(const std::vector<Word>& words) {
    std::string out;
    for (const Word& w : words) {
      bool dotted = out.empty() || out.back() == '.' || w.raw.front() == '.';
      if (!dotted) out.push_back(' ');
      out.append(w.raw);
    }
    return out;
  }

  // After '@': a dot-atom or domain literal, allowing CFWS around the dots.
  std::string domain() {
    std::string out;
    while (true) {
      skip_cfws();
      if (at_end()) break;
      char c = s_[i_];
      bool joins = out.empty() || out.back() == '.' || c == '.';
      if (!joins || !(c == '[' || is_atom_char(c))) break;
      out.append(word()->raw);
    }
    return out;
  }

  // One mailbox or the start of a group. Called at a character that is none of
  // whitespace, '(', ',', ';', so it always consumes input.
  void item(bool& in_group) {
    std::vector<Word> words;
    comment_.reset();
    while (true) {
      skip_cfws();
      if (at_end()) break;
      char c = s_[i_];
      if (c == ',' || c == ';') break;
      if (c == ':') {
        ++i_;
        if (in_group) continue;  // groups do not nest: the ':' is noise
        Address start;
        start.mailbox = display(words).value_or("");
        out_.push_back(std::move(start));
        in_group = true;
        return;
      }
      if (c == '<') {
        ++i_;
        angle_addr(display(words));
        return;
      }
      if (c == '@') {
        ++i_;
        Address a;
        a.mailbox = local_part(words);
        a.host = domain();
        skip_cfws();
        a.name = comment_;
        out_.push_back(std::move(a));
        return;
      }
      if (auto w = word()) {
        words.push_back(std::move(*w));
      } else {
        ++i_;  // a stray '>', ')', ']' or '\'
      }
    }
    if (!words.empty()) {  // no '@': a bare local name
      Address a;
      a.mailbox = local_part(words);
      a.name = comment_;
      out_.push_back(std::move(a));
    }
  }

  // After '<': [obs-route] addr-spec [">"].
  void angle_addr(std::optional<std::string> name) {
    Address a;
    a.name = std::move(name);
    skip_cfws();
    if (!at_end() && s_[i_] == '@') {  // "@a,@b:" source route
      // Only route characters are scanned, so the scan stops at the next '<' at the
      // latest, and no octet is looked at by more than one route scan.
      auto route_char = [](char c) { return is_atom_char(c) || is_wsp(c) || c == '@' || c == ',' || c == '[' || c == ']'; };
      size_t end = i_;
      while (end < s_.size() && route_char(s_[end])) ++end;
      if (end < s_.size() && s_[end] == ':') {
        std::string route;
        for (char c : s_.substr(i_, end - i_))
          if (!is_wsp(c)) route.push_back(c);
        a.adl = std::move(route);
        i_ = end + 1;
      }
    }
    std::vector<Word> words;
    bool at_sign = false;
    while (true) {
      skip_cfws();
      if (at_end()) break;
      char c = s_[i_];
      if (c == '@') {
        ++i_;
        at_sign = true;
        break;
      }
      auto w = word();
      if (!w) break;  // '>', ',' or damage
      words.push_back(std::move(*w));
    }
    a.mailbox = local_part(words);
    if (at_sign) a.host = domain();
    skip_cfws();
    if (!at_end() && s_[i_] == '>') ++i_;
    out_.push_back(std::move(a));
  }

  std::string_view s_;
  size_t i_ = 0;
  std::optional<std::string> comment_;
  std::vector<Address> out_;
};

void append_nstr(std::string& out, const std::optional<std::string>& s, bool utf8) {
  if (s) append_string(out, *s, utf8);
  else out += "NIL";
}

void append_addresses(std::string& out, const std::vector<Address>& list, bool utf8) {
  if (list.empty()) {
    out += "NIL";
    return;
  }
  out.push_back('(');
  for (const Address& a : list) {
    out.push_back('(');
    append_nstr(out, a.name, utf8);
    out.push_back(' ');
    append_nstr(out, a.adl, utf8);
    out.push_back(' ');
    append_nstr(out, a.mailbox, utf8);
    out.push_back(' ');
    append_nstr(out, a.host, utf8);
    out.push_back(')');
  }
  out.push_back(')');
}

// ---- body_structure JSON ----------------------------------------------------------------

using Params = std::vector<std::pair<std::string, std::string>>;

// One node of body_structure (see mime.hpp), offsets already clamped to the message.
struct Part {
  std::string type, subtype;
  Params params;
  std::string id, description, encoding, disposition, language, location;
  Params disposition_params;
  size_t header_offset = 0;
  size_t body_offset = 0;
  size_t size = 0;
  size_t lines = 0;
  std::vector<Part> parts;

  bool multipart() const { return type == "multipart"; }
  // message/rfc822 (or a kin) whose body summarize descended into.
  bool embeds_message() const { return type == "message" && !multipart() && !parts.empty(); }
};

// A node is an object holding a "parts" array of nodes; each level costs two JSON levels,
// plus one for its params. Deeper JSON than summarize can make is refused at parse time,
// which bounds the recursion in to_part() and in the renderers.
constexpr unsigned kMaxJsonDepth = 2 * static_cast<unsigned>(mime::Limits{}.max_depth) + 8;

size_t json_size(const boost::json::object& o, std::string_view key) {
  const boost::json::value* v = o.if_contains(key);
  if (v == nullptr) return 0;
  if (v->is_uint64()) return static_cast<size_t>(v->get_uint64());
  if (v->is_int64() && v->get_int64() > 0) return static_cast<size_t>(v->get_int64());
  return 0;
}

std::string json_str(const boost::json::object& o, std::string_view key) {
  const boost::json::value* v = o.if_contains(key);
  if (v == nullptr || !v->is_string()) return {};
  return std::string(v->get_string());
}

Params json_params(const boost::json::object& o, std::string_view key) {
  Params out;
  const boost::json::value* v = o.if_contains(key);
  if (v == nullptr || !v->is_object()) return out;
  for (const auto& kv : v->get_object())
    if (kv.value().is_string()) out.emplace_back(std::string(kv.key()), std::string(kv.value().get_string()));
  return out;
}

// The child BODYSTRUCTURE shows for a multipart whose parts could not be found.
Part empty_text_part(size_t at) {
  Part p;
  p.type = "text";
  p.subtype = "plain";
  p.params.emplace_back("charset", "us-ascii");
  p.encoding = "7bit";
  p.header_offset = p.body_offset = at;
  return p;
}

// A JSON offset (relative to the stored message, which starts at raw[base]) as an offset
// into `raw`, clamped to it. REQUIRES: base <= raw.size().
size_t json_offset(const boost::json::object& o, std::string_view key, std::string_view raw, size_t base) {
  size_t v = json_size(o, key);
  return v > raw.size() - base ? raw.size() : base + v;
}

Part to_part(const boost::json::object& o, std::string_view raw, size_t base) {
  Part p;
  p.type = to_lower(json_str(o, "type"));
  p.subtype = to_lower(json_str(o, "subtype"));
  if (p.type.empty() || p.subtype.empty()) {
    p.type = "text";
    p.subtype = "plain";
  }
  p.params = json_params(o, "params");
  p.id = json_str(o, "id");
  p.description = json_str(o, "description");
  p.encoding = to_lower(json_str(o, "encoding"));
  if (p.encoding.empty()) p.encoding = "7bit";
  p.disposition = json_str(o, "disposition");
  p.disposition_params = json_params(o, "disposition_params");
  p.language = json_str(o, "language");
  p.location = json_str(o, "location");
  // The JSON may be stale or damaged: no offset may point outside the message.
  p.header_offset = json_offset(o, "header_offset", raw, base);
  p.body_offset = std::max(json_offset(o, "body_offset", raw, base), p.header_offset);
  p.size = std::min(json_size(o, "size"), raw.size() - p.body_offset);
  p.lines = json_size(o, "lines");
  if (const boost::json::value* v = o.if_contains("parts"); v != nullptr && v->is_array()) {
    for (const boost::json::value& child : v->get_array())
      if (child.is_object()) p.parts.push_back(to_part(child.get_object(), raw, base));
  }
  if (p.multipart() && p.parts.empty()) p.parts.push_back(empty_text_part(p.body_offset));
  return p;
}

// `json` describes raw.substr(base) (see render.hpp on the per-entry trace).
std::optional<Part> parse_structure(std::string_view raw, std::string_view json, size_t base) {
  boost::json::parse_options opt;
  opt.max_depth = kMaxJsonDepth;
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(json, ec, {}, opt);
  if (ec || !v.is_object()) return std::nullopt;
  base = std::min(base, raw.size());
  Part root = to_part(v.get_object(), raw, base);
  // The trace lines are header fields of the message itself: its header starts at raw[0]
  // (which is also where BODY[1.MIME] of a single-part message starts).
  if (base > 0) root.header_offset = 0;
  return root;
}

// The structure of `raw`: from `json` (describing raw.substr(base)), else (empty or
// unreadable) summarised again, else (the message passes the MIME limits) the whole body
// as one text/plain part.
Part load_structure(std::string_view raw, std::string_view json, size_t base) {
  if (!json.empty()) {
    if (auto p = parse_structure(raw, json, base)) return std::move(*p);
  }
  auto summary = mime::summarize(raw);  // all of raw, trace included: offsets into raw
  if (summary) {
    if (auto p = parse_structure(raw, summary->body_structure, 0)) return std::move(*p);
  }
  size_t body = 0;
  parse_header(raw, &body);
  Part p = empty_text_part(0);
  p.body_offset = body;
  p.size = raw.size() - body;
  std::string_view b = raw.substr(body);
  p.lines = static_cast<size_t>(std::count(b.begin(), b.end(), '\n'));
  if (!b.empty() && b.back() != '\n') ++p.lines;
  return p;
}

// Part `n` of the entity whose body is `body` (RFC 9051 6.4.5): a child when it is a
// multipart, else only part 1, the body itself.
const Part* child(const Part& body, uint32_t n) {
  if (n == 0) return nullptr;
  if (body.multipart()) return n <= body.parts.size() ? &body.parts[n - 1] : nullptr;
  return n == 1 ? &body : nullptr;
}

// The part a section's part numbers name, nullptr when there is none. `path` is not empty.
const Part* resolve(const Part& root, const std::vector<uint32_t>& path) {
  const Part* cur = child(root, path[0]);
  for (size_t i = 1; cur != nullptr && i < path.size(); ++i) {
    if (cur->multipart()) cur = child(*cur, path[i]);
    else if (cur->embeds_message()) cur = child(cur->parts[0], path[i]);
    else cur = nullptr;  // a leaf has no parts
  }
  return cur;
}

std::string_view body_of(std::string_view raw, const Part& p) { return raw.substr(p.body_offset, p.size); }

// ---- BODYSTRUCTURE ----------------------------------------------------------------------

void append_params(std::string& out, const Params& ps, bool upper_names, bool utf8) {
  if (ps.empty()) {
    out += "NIL";
    return;
  }
  out.push_back('(');
  bool first = true;
  for (const auto& [k, v] : ps) {
    if (!first) out.push_back(' ');
    first = false;
    append_string(out, upper_names ? to_upper(k) : k, utf8);
    out.push_back(' ');
    append_string(out, v, utf8);
  }
  out.push_back(')');
}

void append_opt(std::string& out, const std::string& s, bool utf8) {
  append_nstring(out, s.empty() ? std::nullopt : std::optional<std::string_view>(s), utf8);
}

// body-fld-dsp SP body-fld-lang SP body-fld-loc: the extension data both kinds share.
void append_dsp_lang_loc(std::string& out, const Part& p, bool utf8) {
  if (p.disposition.empty()) {
    out += "NIL";
  } else {
    out.push_back('(');
    append_string(out, p.disposition, utf8);
    out.push_back(' ');
    append_params(out, p.disposition_params, false, utf8);
    out.push_back(')');
  }
  out.push_back(' ');
  // Content-Language is a comma-separated list of tags (RFC 3282).
  std::vector<std::string_view> tags;
  std::string_view rest = p.language;
  while (!rest.empty()) {
    size_t comma = rest.find(',');
    std::string_view tag = trim_wsp(rest.substr(0, comma));
    if (!tag.empty()) tags.push_back(tag);
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
  }
  if (tags.empty()) {
    out += "NIL";
  } else if (tags.size() == 1) {
    append_string(out, tags[0], utf8);
  } else {
    out.push_back('(');
    for (size_t i = 0; i < tags.size(); ++i) {
      if (i > 0) out.push_back(' ');
      append_string(out, tags[i], utf8);
    }
    out.push_back(')');
  }
  out.push_back(' ');
  append_opt(out, p.location, utf8);
}

// Recurses once per nesting level of the JSON, which parse_structure bounded.
void append_body(std::string& out, std::string_view raw, const Part& p, bool ext, bool utf8) {
  out.push_back('(');
  if (p.multipart()) {
    for (const Part& c : p.parts) append_body(out, raw, c, ext, utf8);
    out.push_back(' ');
    append_string(out, to_upper(p.subtype), utf8);
    if (ext) {
      out.push_back(' ');
      append_params(out, p.params, true, utf8);
      out.push_back(' ');
      append_dsp_lang_loc(out, p, utf8);
    }
    out.push_back(')');
    return;
  }
  append_string(out, to_upper(p.type), utf8);
  out.push_back(' ');
  append_string(out, to_upper(p.subtype), utf8);
  out.push_back(' ');
  append_params(out, p.params, true, utf8);
  out.push_back(' ');
  append_opt(out, p.id, utf8);
  out.push_back(' ');
  append_opt(out, p.description, utf8);
  out.push_back(' ');
  append_string(out, to_upper(p.encoding), utf8);
  out.push_back(' ');
  out += std::to_string(p.size);
  // body-type-msg is only for MESSAGE/RFC822 and MESSAGE/GLOBAL (RFC 9051 media-message);
  // other kin (message/news) go as basic bodies, which is what their grammar allows.
  if (p.embeds_message() && (p.subtype == "rfc822" || p.subtype == "global")) {
    const Part& inner = p.parts[0];
    out.push_back(' ');
    out += envelope(raw.substr(inner.header_offset, inner.body_offset - inner.header_offset), utf8);
    out.push_back(' ');
    append_body(out, raw, inner, ext, utf8);
    out.push_back(' ');
    out += std::to_string(p.lines);
  } else if (p.type == "text") {
    out.push_back(' ');
    out += std::to_string(p.lines);
  }
  if (ext) {
    out += " NIL ";  // body-fld-md5: Content-MD5 is obsolete and never checked
    append_dsp_lang_loc(out, p, utf8);
  }
  out.push_back(')');
}

// ---- Content-Transfer-Encoding ----------------------------------------------------------

int base64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

// RFC 2045 6.8: characters outside the alphabet (line breaks, spaces, damage) are ignored.
// '=' ends a quantum; the bits left over are dropped, so concatenated encodings still
// decode.
std::string decode_base64(std::string_view s) {
  std::string out;
  out.reserve(s.size() / 4 * 3);
  uint32_t acc = 0;
  int bits = 0;
  for (char c : s) {
    if (c == '=') {
      acc = 0;
      bits = 0;
      continue;
    }
    int v = base64_value(c);
    if (v < 0) continue;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  return out;
}


// RFC 2045 6.7: "=XX" (lower-case hex accepted too), "=" at the end of a line is a soft
// break, whitespace at the end of a line is transport padding. A malformed "=" is kept as
// it is (the RFC's suggested robustness).
std::string decode_qp(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  auto line_end_at = [&](size_t j) -> size_t {  // length of a line ending at j, 0 if none
    if (j < s.size() && s[j] == '\n') return 1;
    if (j + 1 < s.size() && s[j] == '\r' && s[j + 1] == '\n') return 2;
    return 0;
  };
  size_t i = 0;
  while (i < s.size()) {
    char c = s[i];
    if (c == '=') {
      if (i + 2 < s.size() && hex_value(s[i + 1]) >= 0 && hex_value(s[i + 2]) >= 0) {
        out.push_back(static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2])));
        i += 3;
        continue;
      }
      size_t j = i + 1;
      while (j < s.size() && is_wsp(s[j])) ++j;
      if (j == s.size()) {
        i = j;
      } else if (size_t n = line_end_at(j); n > 0) {
        i = j + n;
      } else {
        out.push_back('=');
        ++i;
      }
    } else if (is_wsp(c)) {
      size_t j = i;
      while (j < s.size() && is_wsp(s[j])) ++j;
      if (j < s.size() && line_end_at(j) == 0) out.append(s.substr(i, j - i));
      i = j;
    } else {
      out.push_back(c);
      ++i;
    }
  }
  return out;
}

}  // namespace

// ---- Strings ----------------------------------------------------------------------------

void append_string(std::string& out, std::string_view s, bool utf8) {
  if (s.size() >= kMaxQuoted || !quotable(s, utf8)) {
    append_literal(out, s);
    return;
  }
  out.push_back('"');
  for (char c : s) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('"');
}

void append_nstring(std::string& out, std::optional<std::string_view> s, bool utf8) {
  if (s) append_string(out, *s, utf8);
  else out += "NIL";
}

void append_literal(std::string& out, std::string_view s, bool binary) {
  if (binary) out.push_back('~');
  out.push_back('{');
  out += std::to_string(s.size());
  out += "}\r\n";
  out.append(s);
}

// ---- Dates ------------------------------------------------------------------------------

namespace {

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil): pure
// arithmetic, so no time zone or locale can change it.
int64_t days_from_civil(int64_t y, int m, int d) {
  y -= m <= 2 ? 1 : 0;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

struct Civil {
  int64_t year;
  int month, day;
};

Civil civil_from_days(int64_t z) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  const int d = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
  const int m = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  return Civil{yoe + era * 400 + (m <= 2 ? 1 : 0), m, d};
}

int64_t floor_div(int64_t a, int64_t b) { return a / b - ((a % b != 0 && (a < 0) != (b < 0)) ? 1 : 0); }

}  // namespace

std::string format_internaldate(UnixTime t) {
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  // date-year is four digits: keep to 0000-01-01 .. 9999-12-31.
  constexpr UnixTime kMin = -62167219200;
  constexpr UnixTime kMax = 253402300799;
  t = std::clamp(t, kMin, kMax);
  int64_t days = floor_div(t, 86400);
  int64_t secs = t - days * 86400;
  Civil c = civil_from_days(days);
  char buf[64];  // the clamp keeps it to 28 octets; the size only quiets -Wformat-truncation
  std::snprintf(buf, sizeof buf, "\"%2d-%s-%04d %02d:%02d:%02d +0000\"", c.day, kMonths[c.month - 1],
                static_cast<int>(c.year), static_cast<int>(secs / 3600), static_cast<int>(secs / 60 % 60),
                static_cast<int>(secs % 60));
  return buf;
}

UnixTime to_unix_time(const Date& d) {
  int month = std::clamp<int>(d.month, 1, 12);  // the parser checked it; stay defined anyway
  return days_from_civil(d.year, month, d.day) * 86400;
}

UnixTime to_unix_time(const DateTime& dt) {
  return to_unix_time(dt.date) + dt.hour * 3600 + dt.minute * 60 + dt.second -
         static_cast<UnixTime>(dt.zone_minutes) * 60;
}

// ---- ENVELOPE ---------------------------------------------------------------------------

std::string envelope(std::string_view raw) { return envelope(raw, false); }

std::string envelope(std::string_view raw, bool utf8) {
  const std::vector<HeaderField> fields = parse_header(raw);
  auto value = [&](std::string_view name) -> std::optional<std::string> {
    const HeaderField* f = find_field(fields, name);
    if (f == nullptr) return std::nullopt;
    return unfold(f->value);
  };
  auto addresses = [&](std::string_view name) -> std::vector<Address> {
    std::optional<std::string> v = value(name);
    if (!v) return {};
    return AddressParser(*v).parse();
  };

  std::vector<Address> from = addresses("From");
  std::vector<Address> sender = addresses("Sender");
  std::vector<Address> reply_to = addresses("Reply-To");
  // RFC 9051 7.5.2: absent or empty Sender / Reply-To are set to From.
  if (sender.empty()) sender = from;
  if (reply_to.empty()) reply_to = from;

  std::string out = "(";
  append_nstr(out, value("Date"), utf8);
  out.push_back(' ');
  append_nstr(out, value("Subject"), utf8);
  out.push_back(' ');
  append_addresses(out, from, utf8);
  out.push_back(' ');
  append_addresses(out, sender, utf8);
  out.push_back(' ');
  append_addresses(out, reply_to, utf8);
  for (std::string_view name : {"To", "Cc", "Bcc"}) {
    out.push_back(' ');
    append_addresses(out, addresses(name), utf8);
  }
  out.push_back(' ');
  append_nstr(out, value("In-Reply-To"), utf8);
  out.push_back(' ');
  append_nstr(out, value("Message-ID"), utf8);
  out.push_back(')');
  return out;
}

// ---- BODY / BODYSTRUCTURE ---------------------------------------------------------------

std::string body_structure(std::string_view raw, std::string_view json, bool extensible) {
  return body_structure(raw, json, extensible, false);
}

std::string body_structure(std::string_view raw, std::string_view json, bool extensible, bool utf8, size_t base) {
  Part root = load_structure(raw, json, base);
  std::string out;
  append_body(out, raw, root, extensible, utf8);
  return out;
}

// ---- BODY[section] ----------------------------------------------------------------------

bool is_top_header_section(const Section& section) {
  using Text = Section::Text;
  return section.part.empty() &&
         (section.text == Text::header || section.text == Text::header_fields || section.text == Text::header_fields_not);
}

std::string header_section_text(std::string_view header, const Section& section) {
  switch (section.text) {
    case Section::Text::header_fields: return filter_header(header, section.fields, true);
    case Section::Text::header_fields_not: return filter_header(header, section.fields, false);
    default: return std::string(header);
  }
}

std::optional<std::string> section_text(std::string_view raw, std::string_view json, const Section& section,
                                        size_t base) {
  using Text = Section::Text;
  Part root = load_structure(raw, json, base);

  // The message a HEADER / TEXT / HEADER.FIELDS[.NOT] specifier addresses.
  std::string_view header, text;
  if (section.part.empty()) {
    if (section.text == Text::none) return std::string(raw);
    header = raw.substr(0, root.body_offset);
    text = raw.substr(root.body_offset);
  } else {
    const Part* p = resolve(root, section.part);
    if (p == nullptr) return std::nullopt;
    if (section.text == Text::none) return std::string(body_of(raw, *p));
    if (section.text == Text::mime)
      return std::string(raw.substr(p->header_offset, p->body_offset - p->header_offset));
    if (!p->embeds_message()) return std::nullopt;
    const Part& inner = p->parts[0];
    header = raw.substr(inner.header_offset, inner.body_offset - inner.header_offset);
    // The embedded message ends where its enclosing part's body does.
    size_t end = std::max(p->body_offset + p->size, inner.body_offset);
    text = raw.substr(inner.body_offset, end - inner.body_offset);
  }
  switch (section.text) {
    case Text::text: return std::string(text);
    case Text::header:
    case Text::header_fields:
    case Text::header_fields_not: return header_section_text(header, section);
    case Text::none:
    case Text::mime: break;
  }
  return std::nullopt;  // MIME of the whole message: no such section
}

// ---- BINARY[part] -----------------------------------------------------------------------

BinaryStatus binary_section(std::string_view raw, std::string_view json, const std::vector<uint32_t>& part,
                            std::string& out, size_t base) {
  if (part.empty()) {
    out.assign(raw);
    return BinaryStatus::ok;
  }
  Part root = load_structure(raw, json, base);
  const Part* p = resolve(root, part);
  if (p == nullptr) return BinaryStatus::no_such_part;
  std::string_view body = body_of(raw, *p);
  const std::string& cte = p->encoding;
  if (p->multipart() || cte == "7bit" || cte == "8bit" || cte == "binary") {
    out.assign(body);
  } else if (cte == "base64") {
    out = decode_base64(body);
  } else if (cte == "quoted-printable") {
    out = decode_qp(body);
  } else {
    return BinaryStatus::unknown_cte;
  }
  return BinaryStatus::ok;
}

namespace {

// Base64 in lines of 76 characters joined by CRLF (RFC 2045 §6.8), no CRLF after the last:
// in a multipart the CRLF before the next boundary belongs to the boundary.
std::string base64_lines(std::string_view in) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve(in.size() / 57 * 78 + 80);
  size_t line = 0;
  for (size_t i = 0; i < in.size(); i += 3) {
    if (line == 76) {
      out += "\r\n";
      line = 0;
    }
    uint32_t n = static_cast<uint32_t>(static_cast<unsigned char>(in[i])) << 16;
    if (i + 1 < in.size()) n |= static_cast<uint32_t>(static_cast<unsigned char>(in[i + 1])) << 8;
    if (i + 2 < in.size()) n |= static_cast<unsigned char>(in[i + 2]);
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += i + 1 < in.size() ? kAlphabet[(n >> 6) & 63] : '=';
    out += i + 2 < in.size() ? kAlphabet[n & 63] : '=';
    line += 4;
  }
  return out;
}

// The leaves whose body holds a NUL, in message order.
void nul_leaves(std::string_view raw, const Part& p, std::vector<const Part*>& out) {
  if (p.multipart()) {
    for (const Part& c : p.parts) nul_leaves(raw, c, out);
  } else if (p.embeds_message()) {
    nul_leaves(raw, p.parts[0], out);
  } else if (body_of(raw, p).find('\0') != std::string_view::npos) {
    out.push_back(&p);
  }
}

// `header` (a part's header, blank line included) with its Content-Transfer-Encoding
// field, folded lines and all, replaced by "base64"; the field is added when missing.
std::string with_base64_cte(std::string_view header) {
  std::string out;
  bool replaced = false, skipping = false;
  size_t pos = 0;
  while (pos < header.size()) {
    size_t eol = header.find('\n', pos);
    size_t next = eol == std::string_view::npos ? header.size() : eol + 1;
    std::string_view line = header.substr(pos, next - pos);
    pos = next;
    bool continuation = !line.empty() && (line[0] == ' ' || line[0] == '\t');
    if (skipping && continuation) continue;
    skipping = false;
    bool blank = line == "\r\n" || line == "\n";
    if (blank && !replaced) {
      out += "Content-Transfer-Encoding: base64\r\n";
      replaced = true;
    }
    constexpr std::string_view kField = "content-transfer-encoding:";
    if (!blank && !continuation && line.size() >= kField.size() && to_lower(line.substr(0, kField.size())) == kField) {
      skipping = true;
      if (!replaced) out += "Content-Transfer-Encoding: base64\r\n";
      replaced = true;
      continue;
    }
    out += line;
  }
  if (!replaced) out += "Content-Transfer-Encoding: base64\r\n";
  return out;
}

}  // namespace

std::optional<std::string> encode_binary_parts(std::string_view raw) {
  if (raw.find('\0') == std::string_view::npos) return std::nullopt;
  Part root = load_structure(raw, {}, 0);
  std::vector<const Part*> leaves;
  nul_leaves(raw, root, leaves);
  if (leaves.empty()) return std::nullopt;
  std::string out;
  size_t at = 0;
  for (const Part* p : leaves) {
    if (p->header_offset < at) continue;  // overlapping offsets: the structure is damaged
    out.append(raw.substr(at, p->header_offset - at));
    out += with_base64_cte(raw.substr(p->header_offset, p->body_offset - p->header_offset));
    out += base64_lines(body_of(raw, *p));
    at = p->body_offset + p->size;
  }
  out.append(raw.substr(at));
  return out;
}

std::string_view apply_partial(std::string_view s, const std::optional<std::pair<uint32_t, uint32_t>>& partial) {
  if (!partial) return s;
  if (partial->first >= s.size()) return {};
  return s.substr(partial->first, partial->second);
}

}  // namespace caremail::imap

// MIME structure scanner and header decoding. See mime.hpp for the contract.
//
// Why our own scanner rather than GMimeParser: BODYSTRUCTURE needs the raw, still-encoded
// octet count of every part, including message/rfc822 bodies and multipart epilogues, which
// GMime does not expose; and GMimeParser builds the whole tree (up to 1024 levels deep,
// any number of parts) before we could apply our limits. The scanner below follows the
// same boundary rules as GMime 3.2 (see the comments at check_boundary and strip_newline)
// so both would split a message the same way.
#include "mime/glib_util.hpp"
#include "mime/mime.hpp"

#include "common/json_text.hpp"

#include <gmime/gmime.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace caremail::mime {
namespace {
using detail::ascii_lower;
using detail::iequals;
using detail::GCharPtr;
using detail::GFree;
using detail::GRef;

// ---- GLib/GMime ownership helpers -------------------------------------------------------

struct DateUnref {
  void operator()(GDateTime* d) const noexcept {
    if (d != nullptr) g_date_time_unref(d);
  }
};

// Built once in init(), read-only afterwards, so sharing it between threads is safe.
GMimeParserOptions* g_options = nullptr;
std::once_flag g_init_once;

std::string take(char* s) {  // copies and frees a g_malloc'ed string; nullptr -> ""
  GCharPtr owner(s);
  return s != nullptr ? std::string(s) : std::string();
}

// ---- Small text helpers -----------------------------------------------------------------

bool is_wsp(char c) { return c == ' ' || c == '\t'; }

std::string to_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = ascii_lower(c);
  return out;
}

std::string_view trim(std::string_view s) {
  auto ws = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (!s.empty() && ws(s.front())) s.remove_prefix(1);
  while (!s.empty() && ws(s.back())) s.remove_suffix(1);
  return s;
}

// RFC 5322 3.2.2: unfolding removes the CRLF before folding whitespace. Stray CR or LF
// bytes inside a value can only be damage, so they go too.
std::string unfold(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v)
    if (c != '\r' && c != '\n') out.push_back(c);
  return std::string(trim(out));
}

std::string join(std::string_view prefix, std::string_view n) {
  if (prefix.empty()) return std::string(n);
  std::string out(prefix);
  out.push_back('.');
  out.append(n);
  return out;
}

// Returns `s` as valid UTF-8: each byte that does not start a well-formed sequence
// (overlong, surrogate, beyond U+10FFFF, truncated) and each NUL becomes U+FFFD. Header
// bytes are untrusted and end up in JSON, SQLite and protocol replies that require UTF-8.
std::string valid_utf8(std::string_view s) {
  static constexpr char kReplacement[] = "\xEF\xBF\xBD";
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    auto b = static_cast<unsigned char>(s[i]);
    if (b == 0) {
      out += kReplacement;
      ++i;
      continue;
    }
    if (b < 0x80) {
      out.push_back(static_cast<char>(b));
      ++i;
      continue;
    }
    size_t len = 0;
    uint32_t cp = 0;
    uint32_t min = 0;
    if (b >= 0xC2 && b <= 0xDF) { len = 2; cp = b & 0x1F; min = 0x80; }
    else if (b >= 0xE0 && b <= 0xEF) { len = 3; cp = b & 0x0F; min = 0x800; }
    else if (b >= 0xF0 && b <= 0xF4) { len = 4; cp = b & 0x07; min = 0x10000; }
    bool ok = len != 0 && i + len <= s.size();
    for (size_t k = 1; ok && k < len; ++k) {
      auto c = static_cast<unsigned char>(s[i + k]);
      if ((c & 0xC0) != 0x80) ok = false;
      cp = (cp << 6) | (c & 0x3F);
    }
    if (ok && (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))) ok = false;
    if (ok) {
      out.append(s.substr(i, len));
      i += len;
    } else {
      out += kReplacement;
      ++i;
    }
  }
  return out;
}

// ---- Header value decoding (GMime) ------------------------------------------------------

// RFC 2047 encoded-words and raw 8-bit text (via the fallback charsets) to UTF-8.
std::string decode_text(const std::string& v) {
  if (v.empty()) return {};
  return valid_utf8(take(g_mime_utils_header_decode_text(g_options, v.c_str())));
}

// GMime's address parser recurses once per open group ("name:" without its ";"), and
// RFC 5322 does not even allow nested groups: 100,000 "g:" in a To header (200 KB, well
// inside max_header_bytes) overflow an 8 MB stack (detail::address_nesting_is_safe).
constexpr int kMaxAddressGroupNesting = 32;

// An address list, decoded and normalised; text that is not an address list (or that
// GMime's parser must not see, above) is still shown, decoded, rather than lost.
std::string decode_addresses(const std::string& v) {
  if (v.empty()) return {};
  if (!detail::address_nesting_is_safe(v, kMaxAddressGroupNesting)) return decode_text(v);
  GRef<InternetAddressList> list(internet_address_list_parse(g_options, v.c_str()));
  if (list && internet_address_list_length(list.get()) > 0)
    return valid_utf8(take(internet_address_list_to_string(list.get(), nullptr, FALSE)));
  return decode_text(v);
}

UnixTime parse_date(const std::string& v) {
  if (v.empty()) return 0;
  std::unique_ptr<GDateTime, DateUnref> d(g_mime_utils_header_decode_date(v.c_str()));
  return d ? static_cast<UnixTime>(g_date_time_to_unix(d.get())) : 0;
}

std::string decode_message_id(const std::string& v) {
  if (v.empty()) return {};
  return valid_utf8(take(g_mime_utils_decode_message_id(v.c_str())));
}

using Params = std::vector<std::pair<std::string, std::string>>;

// Parameters kept per Content-Type / Content-Disposition. Real headers carry a handful;
// a 1 MB header can carry 100,000, which would bloat body_structure and every BODYSTRUCTURE
// reply built from it.
constexpr size_t kMaxParams = 64;

// Parameter names lower case; a repeated name keeps its first value (JSON objects must
// not repeat keys, and the first is what most clients show).
Params collect_params(GMimeParamList* list) {
  Params out;
  if (list == nullptr) return out;
  int n = g_mime_param_list_length(list);
  for (int i = 0; i < n && out.size() < kMaxParams; ++i) {
    GMimeParam* p = g_mime_param_list_get_parameter_at(list, i);
    if (p == nullptr) continue;
    const char* name = g_mime_param_get_name(p);
    const char* value = g_mime_param_get_value(p);
    if (name == nullptr || *name == '\0') continue;
    std::string key = valid_utf8(to_lower(name));
    bool dup = std::any_of(out.begin(), out.end(), [&](const auto& kv) { return kv.first == key; });
    if (!dup) out.emplace_back(std::move(key), valid_utf8(value != nullptr ? value : ""));
  }
  return out;
}

const std::string* find_param(const Params& ps, std::string_view name) {
  for (const auto& [k, v] : ps)
    if (k == name) return &v;
  return nullptr;
}

// ---- The structure scanner -------------------------------------------------------------

// One header field; the value spans raw[value_begin, value_end), folds included.
struct Field {
  std::string_view name;
  size_t value_begin = 0;
  size_t value_end = 0;
};

// One MIME entity, as reported in body_structure.
struct Node {
  std::string part;
  std::string type, subtype;
  Params params;
  std::string id, description, encoding, disposition, filename, language, location;
  Params disposition_params;
  size_t header_offset = 0;
  size_t body_offset = 0;
  size_t size = 0;
  size_t lines = 0;
  bool report_lines = false;
  std::vector<Node> parts;
};

// How an entity's body ended: at a boundary line of one of the open multiparts (`level`
// indexes Scanner::bounds_), at a close-delimiter, or at the end of the input.
enum class Hit { eof, boundary, close };
struct Stop {
  Hit hit = Hit::eof;
  size_t level = 0;
  size_t pos = 0;  // where the boundary line starts; raw.size() at eof
};

// What the parent tells an entity about itself.
struct Context {
  std::string number;         // IMAP part number, or of the message whose body this is
  bool message_body = false;  // the body of a message (top level or message/rfc822)
  bool top = false;           // the top-level message itself
  bool digest = false;        // child of multipart/digest: default type message/rfc822
};

Error too_large(std::string what) { return make_error(Errc::too_large, std::move(what)); }

class Scanner {
 public:
  Scanner(std::string_view raw, const Limits& limits) : raw_(raw), limits_(limits) {}
  Scanner(const Scanner&) = delete;
  Scanner& operator=(const Scanner&) = delete;

  // Parses the entity (header and body) starting at `pos` into `out`; `stop` says where
  // and how it ended. Recurses once per nesting level, at most limits.max_depth deep.
  Status parse_entity(size_t pos, int depth, const Context& ctx, Node& out, Stop& stop);

  const std::vector<Field>& top_fields() const { return top_fields_; }
  bool has_attachments() const { return has_attachments_; }
  std::string value(const Field& f) const {
    return unfold(raw_.substr(f.value_begin, f.value_end - f.value_begin));
  }

 private:
  struct Line {
    size_t begin = 0;
    size_t end = 0;   // excludes the line ending (LF or CRLF)
    size_t next = 0;  // start of the following line
  };

  Line line_at(size_t pos) const {
    Line ln{pos, raw_.size(), raw_.size()};
    const void* nl = std::memchr(raw_.data() + pos, '\n', raw_.size() - pos);
    if (nl != nullptr) {
      size_t at = static_cast<size_t>(static_cast<const char*>(nl) - raw_.data());
      ln.next = at + 1;
      ln.end = (at > pos && raw_[at - 1] == '\r') ? at - 1 : at;
    }
    return ln;
  }

  // As GMime 3.2 is_boundary/check_boundary: a line "--" + boundary, optionally followed
  // by "--" (close-delimiter), then only linear whitespace. Open multiparts are tried
  // innermost first, and at each level the close-delimiter before the plain one.
  std::optional<Stop> check_boundary(const Line& ln) const {
    std::string_view text = raw_.substr(ln.begin, ln.end - ln.begin);
    if (text.size() < 2 || text[0] != '-' || text[1] != '-') return std::nullopt;
    text.remove_prefix(2);
    auto only_wsp = [](std::string_view s) { return std::all_of(s.begin(), s.end(), is_wsp); };
    for (size_t i = bounds_.size(); i-- > 0;) {
      const std::string& b = bounds_[i];
      if (text.size() < b.size() || text.compare(0, b.size(), b) != 0) continue;
      std::string_view rest = text.substr(b.size());
      if (rest.size() >= 2 && rest[0] == '-' && rest[1] == '-' && only_wsp(rest.substr(2)))
        return Stop{Hit::close, i, ln.begin};
      if (only_wsp(rest)) return Stop{Hit::boundary, i, ln.begin};
    }
    return std::nullopt;
  }

  // Skips content lines from `pos` to the next boundary line of any open multipart.
  Stop scan_to_boundary(size_t pos) const {
    if (bounds_.empty()) return Stop{Hit::eof, 0, raw_.size()};
    while (pos < raw_.size()) {
      Line ln = line_at(pos);
      if (auto s = check_boundary(ln)) return *s;
      pos = ln.next;
    }
    return Stop{Hit::eof, 0, raw_.size()};
  }

  // Where a body that runs up to `stop` ends: the line ending just before a boundary line
  // belongs to the boundary (RFC 2046 5.1.1; GMime does the same). At end of input nothing
  // is taken off.
  size_t body_end(size_t body, const Stop& stop) const {
    size_t end = stop.pos;
    if (stop.hit == Hit::eof || end <= body) return std::max(end, body);
    if (raw_[end - 1] == '\n') {
      --end;
      if (end > body && raw_[end - 1] == '\r') --end;
    }
    return end;
  }

  void set_body(Node& n, size_t end) const {
    n.size = end - n.body_offset;
    if (!n.report_lines || n.size == 0) return;
    std::string_view b = raw_.substr(n.body_offset, n.size);
    n.lines = static_cast<size_t>(std::count(b.begin(), b.end(), '\n'));
    if (b.back() != '\n') ++n.lines;  // a last line without its ending still counts
  }

  void read_content_headers(const std::vector<Field>& fields, const Context& ctx, Node& n,
                            std::string& boundary) const;

  std::string_view raw_;
  const Limits& limits_;
  size_t parts_ = 0;
  std::vector<std::string> bounds_;  // boundaries of the open multiparts, outermost first
  std::vector<Field> top_fields_;
  bool has_attachments_ = false;
};

bool is_rfc822(std::string_view subtype) {
  // The subtypes GMime also treats as an encapsulated message.
  return subtype == "rfc822" || subtype == "global" || subtype == "rfc2822" || subtype == "news";
}

// Header field names: printable US-ASCII except ':' (RFC 5322 2.2).
bool valid_field_name(std::string_view name) {
  if (name.empty()) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u > 32 && u < 127 && c != ':';
  });
}

void Scanner::read_content_headers(const std::vector<Field>& fields, const Context& ctx,
                                   Node& n, std::string& boundary) const {
  auto find = [&](std::string_view name) -> std::optional<std::string> {
    for (const Field& f : fields)
      if (iequals(f.name, name)) return value(f);
    return std::nullopt;
  };

  if (auto ct = find("Content-Type")) {
    GRef<GMimeContentType> t(g_mime_content_type_parse(g_options, ct->c_str()));
    if (t) {
      const char* type = g_mime_content_type_get_media_type(t.get());
      const char* sub = g_mime_content_type_get_media_subtype(t.get());
      n.type = valid_utf8(to_lower(type != nullptr ? type : ""));
      n.subtype = valid_utf8(to_lower(sub != nullptr ? sub : ""));
      n.params = collect_params(g_mime_content_type_get_parameters(t.get()));
      const char* b = g_mime_content_type_get_parameter(t.get(), "boundary");
      if (b != nullptr) boundary = b;
    }
  }
  if (n.type.empty() || n.subtype.empty()) {  // absent (or unusable): RFC 2045 5.2, 2046 5.1.5
    n.params.clear();
    boundary.clear();
    if (ctx.digest) {
      n.type = "message";
      n.subtype = "rfc822";
    } else {
      n.type = "text";
      n.subtype = "plain";
      n.params.emplace_back("charset", "us-ascii");
    }
  }

  n.encoding = "7bit";
  if (auto cte = find("Content-Transfer-Encoding")) {
    // The mechanism is one token; anything after it ("base64 (comment)") is noise.
    std::string_view v = *cte;
    size_t end = v.find_first_of(" \t;(");
    std::string token = to_lower(v.substr(0, end));
    if (!token.empty()) n.encoding = valid_utf8(token);
  }
  if (auto v = find("Content-ID")) n.id = valid_utf8(*v);
  if (auto v = find("Content-Description")) n.description = valid_utf8(*v);
  if (auto v = find("Content-Language")) n.language = valid_utf8(*v);
  if (auto v = find("Content-Location")) n.location = valid_utf8(*v);
  if (auto cd = find("Content-Disposition")) {
    GRef<GMimeContentDisposition> d(g_mime_content_disposition_parse(g_options, cd->c_str()));
    if (d) {
      const char* disp = g_mime_content_disposition_get_disposition(d.get());
      n.disposition = valid_utf8(to_lower(disp != nullptr ? disp : ""));
      n.disposition_params = collect_params(g_mime_content_disposition_get_parameters(d.get()));
    }
  }
  if (const std::string* f = find_param(n.disposition_params, "filename")) n.filename = *f;
  else if (const std::string* nm = find_param(n.params, "name")) n.filename = *nm;
}

Status Scanner::parse_entity(size_t pos, int depth, const Context& ctx, Node& out, Stop& stop) {
  if (++parts_ > limits_.max_parts)
    return too_large("message has more than max_parts (" + std::to_string(limits_.max_parts) +
                     ") MIME parts");

  // --- Header section: fields up to the blank line. A boundary line ends it early (a part
  // with no body); so does a line that is not a field, which then starts the body.
  out.header_offset = pos;
  std::vector<Field> fields;
  size_t body = raw_.size();
  bool cut_by_boundary = false;
  for (size_t p = pos; p < raw_.size();) {
    Line ln = line_at(p);
    if (!bounds_.empty()) {
      if (auto s = check_boundary(ln)) {
        stop = *s;
        cut_by_boundary = true;
        body = ln.begin;
        break;
      }
    }
    bool blank = ln.begin == ln.end;
    bool continuation = !blank && is_wsp(raw_[ln.begin]);
    size_t colon = std::string_view::npos;
    if (!blank && !continuation) {
      std::string_view text = raw_.substr(ln.begin, ln.end - ln.begin);
      colon = text.find(':');
      std::string_view name = colon == std::string_view::npos ? text : text.substr(0, colon);
      while (!name.empty() && is_wsp(name.back())) name.remove_suffix(1);  // "Subject :"
      if (colon == std::string_view::npos || !valid_field_name(name)) {
        body = ln.begin;  // not a header field: the body starts here
        break;
      }
      fields.push_back(Field{name, ln.begin + colon + 1, ln.end});
      if (ctx.top && fields.size() > limits_.max_headers)
        return too_large("message header has more than max_headers (" +
                         std::to_string(limits_.max_headers) + ") fields");
    } else if (continuation && !fields.empty()) {
      fields.back().value_end = ln.end;
    }  // a continuation with no field before it is dropped
    if (ln.next - pos > limits_.max_header_bytes)
      return too_large("a MIME header section is larger than max_header_bytes (" +
                       std::to_string(limits_.max_header_bytes) + ")");
    p = ln.next;
    if (blank) {
      body = p;
      break;
    }
  }
  out.body_offset = body;
  if (ctx.top) top_fields_ = fields;

  std::string boundary;
  read_content_headers(fields, ctx, out, boundary);
  const bool multipart = out.type == "multipart";
  out.part = ctx.message_body ? (multipart ? ctx.number : join(ctx.number, "1")) : ctx.number;
  out.report_lines = out.type == "text" || (out.type == "message" && is_rfc822(out.subtype));
  const bool identity = out.encoding == "7bit" || out.encoding == "8bit" || out.encoding == "binary";
  const bool leaf = !multipart && !(out.type == "message" && is_rfc822(out.subtype) && identity);
  if (out.disposition == "attachment" || (leaf && out.type != "text" && !out.filename.empty()))
    has_attachments_ = true;

  if (cut_by_boundary) {  // `stop` is already set
    set_body(out, body);
    return {};
  }

  auto nesting_error = [&] {
    return too_large("MIME nesting is deeper than max_depth (" +
                     std::to_string(limits_.max_depth) + ")");
  };

  if (multipart && !boundary.empty()) {
    bounds_.push_back(boundary);
    const size_t level = bounds_.size() - 1;
    Stop s = scan_to_boundary(body);  // the prologue
    int index = 0;
    while (s.hit == Hit::boundary && s.level == level) {
      Line ln = line_at(s.pos);
      if (ln.next >= raw_.size()) {  // a last boundary with nothing after it: truncated
        s = Stop{Hit::eof, 0, raw_.size()};
        break;
      }
      if (depth + 1 > limits_.max_depth) return nesting_error();
      Context child_ctx{join(out.part, std::to_string(++index)), false, false,
                        out.subtype == "digest"};
      Node child;
      Status st = parse_entity(ln.next, depth + 1, child_ctx, child, s);
      if (!st) return st;
      out.parts.push_back(std::move(child));
    }
    bounds_.pop_back();
    if (s.hit == Hit::close && s.level == level) {
      // The epilogue runs to the enclosing multipart's next boundary, or to the end.
      s = scan_to_boundary(line_at(s.pos).next);
    }
    // Otherwise the close-delimiter is missing: we end where the parent's boundary is.
    stop = s;
  } else if (!leaf) {  // message/rfc822: the body is a whole message
    if (depth + 1 > limits_.max_depth) return nesting_error();
    Context child_ctx{out.part, true, false, false};
    Node child;
    Status st = parse_entity(body, depth + 1, child_ctx, child, stop);
    if (!st) return st;
    out.parts.push_back(std::move(child));
  } else {
    stop = scan_to_boundary(body);
  }
  set_body(out, body_end(body, stop));
  return {};
}

// ---- JSON ------------------------------------------------------------------------------

// A tiny JSON writer: body_structure is small, flat in types and built in one place, so a
// dependency is not worth its compile time. Strings must already be valid UTF-8.
void json_string(std::string& out, std::string_view s) { append_json_string(out, s); }

void json_key(std::string& out, std::string_view key) {
  if (out.back() != '{') out.push_back(',');
  json_string(out, key);
  out.push_back(':');
}

void json_field(std::string& out, std::string_view key, std::string_view value) {
  if (value.empty()) return;
  json_key(out, key);
  json_string(out, value);
}

void json_params(std::string& out, std::string_view key, const Params& ps) {
  if (ps.empty()) return;
  json_key(out, key);
  out.push_back('{');
  for (const auto& [k, v] : ps) {
    json_key(out, k);
    json_string(out, v);
  }
  out.push_back('}');
}

// Recurses once per nesting level, which the scanner bounded by max_depth.
void json_node(std::string& out, const Node& n) {
  out.push_back('{');
  json_key(out, "part");  // always present: "" names the top-level multipart
  json_string(out, n.part);
  json_field(out, "type", n.type);
  json_field(out, "subtype", n.subtype);
  json_params(out, "params", n.params);
  json_field(out, "id", n.id);
  json_field(out, "description", n.description);
  json_field(out, "encoding", n.encoding);
  json_key(out, "size");
  out += std::to_string(n.size);
  if (n.report_lines) {
    json_key(out, "lines");
    out += std::to_string(n.lines);
  }
  json_field(out, "disposition", n.disposition);
  json_params(out, "disposition_params", n.disposition_params);
  json_field(out, "filename", n.filename);
  json_field(out, "language", n.language);
  json_field(out, "location", n.location);
  json_key(out, "header_offset");
  out += std::to_string(n.header_offset);
  json_key(out, "body_offset");
  out += std::to_string(n.body_offset);
  if (!n.parts.empty()) {
    json_key(out, "parts");
    out.push_back('[');
    for (size_t i = 0; i < n.parts.size(); ++i) {
      if (i > 0) out.push_back(',');
      json_node(out, n.parts[i]);
    }
    out.push_back(']');
  }
  out.push_back('}');
}

}  // namespace

void init() {
  std::call_once(g_init_once, [] {
    g_mime_init();
    g_options = g_mime_parser_options_new();
    // Unencoded 8-bit header text: UTF-8 if it is valid UTF-8, else the charset old
    // Windows mailers actually send (a superset of ISO-8859-1).
    static const char* fallback[] = {"utf-8", "windows-1252", nullptr};
    g_mime_parser_options_set_fallback_charsets(g_options, fallback);
    g_mime_parser_options_set_rfc2047_compliance_mode(g_options, GMIME_RFC_COMPLIANCE_LOOSE);
    g_mime_parser_options_set_parameter_compliance_mode(g_options, GMIME_RFC_COMPLIANCE_LOOSE);
    g_mime_parser_options_set_address_compliance_mode(g_options, GMIME_RFC_COMPLIANCE_LOOSE);
  });
}

Result<MessageSummary> summarize(std::string_view raw, const Limits& limits) {
  init();
  if (raw.size() > limits.max_message_bytes)
    return too_large("message is larger than max_message_bytes (" +
                     std::to_string(limits.max_message_bytes) + ")");

  Scanner scanner(raw, limits);
  Node root;
  Stop stop;
  Status st = scanner.parse_entity(0, 0, Context{"", true, true, false}, root, stop);
  if (!st) return st.error();

  MessageSummary s;
  auto first = [&](std::string_view name) -> std::string {
    for (const Field& f : scanner.top_fields())
      if (iequals(f.name, name)) return scanner.value(f);
    return {};
  };
  s.subject = decode_text(first("Subject"));
  s.from = decode_addresses(first("From"));
  s.to = decode_addresses(first("To"));
  s.cc = decode_addresses(first("Cc"));
  s.date = valid_utf8(first("Date"));
  s.sent_at = parse_date(s.date);
  s.message_id = decode_message_id(first("Message-ID"));
  s.in_reply_to = valid_utf8(first("In-Reply-To"));
  s.references = valid_utf8(first("References"));
  s.has_attachments = scanner.has_attachments();
  json_node(s.body_structure, root);
  return s;
}

}  // namespace caremail::mime

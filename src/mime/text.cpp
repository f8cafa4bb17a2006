// Readable text of a message and decoded header values. See text.hpp for the contract.
//
// The structure comes from the body_structure JSON that summarize() wrote (offsets into
// `raw`), so no MIME parsing happens here: every text/* leaf is cut out of `raw`, its
// transfer encoding removed by the small decoders below, its charset converted with iconv
// (names resolved by GMime, which knows the aliases mailers use), and text/html reduced to
// its text. Work is linear in the size of `raw`; output stops at max_bytes.
#include "mime/text.hpp"

#include "mime/glib_util.hpp"
#include "mime/mime.hpp"
#include "common/hex.hpp"

#include <gmime/gmime.h>
#include <iconv.h>

#include <boost/json.hpp>

#include <array>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace caremail::mime {
namespace {
using detail::ascii_lower;
using detail::iequals;

namespace json = boost::json;

// Header sections larger than this are not read further (summarize() refuses to decode
// more than Limits::max_header_bytes of one part's header either).
constexpr size_t kMaxHeaderBytes = 1u << 20;
// Nesting of the body_structure JSON we accept: summarize() nests at most
// Limits::max_depth (32) entities, two JSON levels each (node, "parts" array).
constexpr unsigned kMaxJsonDepth = 160;

constexpr char kReplacement[] = "\xEF\xBF\xBD";

// Own parser options (mime.cpp keeps its own private): same fallbacks, so unencoded 8-bit
// header text reads as UTF-8 when valid, else Windows-1252. Built once, then only read.
GMimeParserOptions* g_text_options = nullptr;
std::once_flag g_text_once;

GMimeParserOptions* options() {
  std::call_once(g_text_once, [] {
    init();  // g_mime_init()
    g_text_options = g_mime_parser_options_new();
    static const char* fallback[] = {"utf-8", "windows-1252", nullptr};
    g_mime_parser_options_set_fallback_charsets(g_text_options, fallback);
    g_mime_parser_options_set_rfc2047_compliance_mode(g_text_options, GMIME_RFC_COMPLIANCE_LOOSE);
  });
  return g_text_options;
}

std::string lower(std::string_view s) {
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

void append_utf8(std::string& out, uint32_t cp) {
  if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
    out += kReplacement;
  } else if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// Length of the well-formed UTF-8 sequence at s[i], 0 if there is none.
size_t utf8_sequence(std::string_view s, size_t i) {
  auto b = static_cast<unsigned char>(s[i]);
  if (b == 0) return 0;
  if (b < 0x80) return 1;
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

bool is_valid_utf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    size_t n = utf8_sequence(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

// ---- Transfer encodings ---------------------------------------------------------------

int base64_value(unsigned char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

// RFC 2045 6.8: characters outside the alphabet are ignored; '=' only pads.
std::string decode_base64(std::string_view in) {
  std::string out;
  out.reserve(in.size() / 4 * 3);
  uint32_t acc = 0;
  int bits = 0;
  for (char ch : in) {
    int v = base64_value(static_cast<unsigned char>(ch));
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


// RFC 2045 6.7. Lenient as receivers must be: an '=' that starts no valid escape stays.
std::string decode_qp(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c != '=') {
      out.push_back(c);
      continue;
    }
    // Soft line break: "=" then optional transport padding, then the line end.
    size_t j = i + 1;
    while (j < in.size() && (in[j] == ' ' || in[j] == '\t')) ++j;
    if (j < in.size() && (in[j] == '\n' || (in[j] == '\r' && j + 1 < in.size() && in[j + 1] == '\n'))) {
      i = in[j] == '\r' ? j + 1 : j;
      continue;
    }
    if (j == in.size()) break;  // "=" at the very end: a soft break without a line end
    if (i + 2 < in.size() && hex_value(in[i + 1]) >= 0 && hex_value(in[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex_value(in[i + 1]) * 16 + hex_value(in[i + 2])));
      i += 2;
      continue;
    }
    out.push_back('=');
  }
  return out;
}

// ---- Charsets ---------------------------------------------------------------------------

// Windows-1252 0x80..0x9F (0 where undefined; those stay C1 controls as in ISO-8859-1).
constexpr std::array<uint16_t, 32> kCp1252High = {
    0x20AC, 0, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
    0x2039, 0x0152, 0, 0x017D, 0, 0, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013,
    0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0, 0x017E, 0x0178};

std::string from_cp1252(std::string_view in, size_t budget) {
  std::string out;
  out.reserve(std::min(in.size() + in.size() / 4, budget + 4));
  for (char ch : in) {
    if (out.size() >= budget) break;
    auto b = static_cast<unsigned char>(ch);
    if (b == 0) out += kReplacement;
    else if (b < 0x80) out.push_back(ch);
    else if (b < 0xA0) append_utf8(out, kCp1252High[b - 0x80] != 0 ? kCp1252High[b - 0x80] : b);
    else append_utf8(out, b);
  }
  return out;
}

struct IconvClose {
  void operator()(iconv_t cd) const noexcept { iconv_close(cd); }
};

// Converts with iconv: a byte it cannot read becomes U+FFFD and is skipped.
// Returns false when iconv does not know `charset`.
bool convert_iconv(std::string_view in, const std::string& charset, size_t budget,
                   std::string& out) {
  const char* name = g_mime_charset_iconv_name(charset.c_str());
  iconv_t cd = iconv_open("UTF-8", name != nullptr ? name : charset.c_str());
  if (cd == reinterpret_cast<iconv_t>(-1)) return false;
  std::unique_ptr<void, IconvClose> owner(cd);
  std::array<char, 16384> buf;
  char* inp = const_cast<char*>(in.data());
  size_t inleft = in.size();
  while (inleft > 0 && out.size() < budget) {
    char* outp = buf.data();
    size_t outleft = buf.size();
    size_t r = iconv(cd, &inp, &inleft, &outp, &outleft);
    int err = errno;
    out.append(buf.data(), static_cast<size_t>(outp - buf.data()));
    if (r != static_cast<size_t>(-1)) break;
    if (err == E2BIG) continue;
    // EILSEQ (a byte it cannot read) or EINVAL (a sequence cut off at the end).
    out += kReplacement;
    ++inp;
    --inleft;
    iconv(cd, nullptr, nullptr, nullptr, nullptr);  // back to the initial shift state
  }
  char* outp = buf.data();
  size_t outleft = buf.size();
  iconv(cd, nullptr, nullptr, &outp, &outleft);  // flush a stateful encoding
  out.append(buf.data(), static_cast<size_t>(outp - buf.data()));
  return true;
}

// `in` in `charset` (lower case, may be empty) to UTF-8, at most about `budget` octets.
std::string to_utf8(std::string_view in, const std::string& charset, size_t budget) {
  if (in.size() > budget) in = in.substr(0, budget);  // no charset shrinks below 1 octet/char... mostly
  if (charset.empty() || charset == "utf-8" || charset == "utf8" || charset == "us-ascii" ||
      charset == "ascii" || charset == "unknown-8bit" || charset == "x-unknown") {
    // US-ASCII labels often hide 8-bit text: read it as UTF-8 if it is, else Windows-1252.
    if (is_valid_utf8(in) || charset.starts_with("utf")) return to_valid_utf8(in);
    return from_cp1252(in, budget);
  }
  // WHATWG: ISO-8859-1 labels mean Windows-1252, which mailers actually send.
  if (charset == "iso-8859-1" || charset == "latin1" || charset == "iso8859-1" ||
      charset == "windows-1252" || charset == "cp1252" || charset == "iso_8859-1")
    return from_cp1252(in, budget);
  std::string out;
  if (convert_iconv(in, charset, budget, out)) return to_valid_utf8(out);
  if (is_valid_utf8(in)) return std::string(in);
  return from_cp1252(in, budget);
}

// ---- format=flowed (RFC 3676) -----------------------------------------------------------

// Joins soft-broken lines so phrases that were wrapped can still be found.
std::string unflow(std::string_view in, bool delsp) {
  std::string out;
  out.reserve(in.size());
  size_t pos = 0;
  while (pos < in.size()) {
    size_t nl = in.find('\n', pos);
    size_t end = nl == std::string_view::npos ? in.size() : nl;
    std::string_view line = in.substr(pos, end - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (!line.empty() && line.front() == ' ') line.remove_prefix(1);  // space-stuffing
    bool soft = !line.empty() && line.back() == ' ' && line != "-- ";
    if (soft && delsp) line.remove_suffix(1);
    out.append(line);
    if (!soft && nl != std::string_view::npos) out.push_back('\n');
    pos = nl == std::string_view::npos ? in.size() : nl + 1;
  }
  return out;
}

// ---- HTML to text -----------------------------------------------------------------------

struct Entity {
  std::string_view name;
  uint32_t cp;
};
constexpr Entity kEntities[] = {
    {"amp", '&'},      {"lt", '<'},        {"gt", '>'},        {"quot", '"'},
    {"apos", '\''},    {"nbsp", ' '},      {"copy", 0xA9},     {"reg", 0xAE},
    {"euro", 0x20AC},  {"pound", 0xA3},    {"mdash", 0x2014},  {"ndash", 0x2013},
    {"hellip", 0x2026}, {"lsquo", 0x2018}, {"rsquo", 0x2019},  {"ldquo", 0x201C},
    {"rdquo", 0x201D}, {"laquo", 0xAB},    {"raquo", 0xBB},    {"bull", 0x2022},
    {"middot", 0xB7},  {"times", 0xD7},    {"shy", 0xAD},      {"trade", 0x2122},
    {"deg", 0xB0},     {"eacute", 0xE9},   {"egrave", 0xE8},   {"agrave", 0xE0},
    {"auml", 0xE4},    {"ouml", 0xF6},     {"uuml", 0xFC},     {"szlig", 0xDF},
    {"ccedil", 0xE7},  {"Auml", 0xC4},     {"Ouml", 0xD6},     {"Uuml", 0xDC},
};

// Tags after which the text visibly breaks: they become a line end.
bool is_block_tag(std::string_view t) {
  static constexpr std::string_view kBlocks[] = {
      "br", "p", "div", "tr", "li", "ul", "ol", "table", "h1", "h2", "h3", "h4", "h5",
      "h6", "blockquote", "hr", "pre", "title", "dd", "dt", "dl", "section", "article",
      "header", "footer", "address", "center"};
  for (auto b : kBlocks)
    if (t == b) return true;
  return false;
}

class HtmlText {
 public:
  explicit HtmlText(size_t budget) : budget_(budget) {}

  std::string run(std::string_view h) {
    size_t i = 0;
    while (i < h.size() && out_.size() < budget_) {
      char c = h[i];
      if (c == '<') {
        i = tag(h, i);
      } else if (c == '&') {
        i = entity(h, i);
      } else if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f') {
        space_ = true;
        ++i;
      } else {
        put(h.substr(i, 1));
        ++i;
      }
    }
    return std::move(out_);
  }

 private:
  void put(std::string_view s) {
    if (newline_ && !out_.empty()) out_.push_back('\n');
    else if (space_ && !out_.empty() && out_.back() != '\n') out_.push_back(' ');
    newline_ = space_ = false;
    out_.append(s);
  }

  // At '<': skips a comment, a tag, or a script/style element; returns where text resumes.
  size_t tag(std::string_view h, size_t i) {
    if (h.substr(i, 4) == "<!--") {
      size_t e = h.find("-->", i + 4);
      return e == std::string_view::npos ? h.size() : e + 3;
    }
    size_t j = i + 1;
    bool closing = j < h.size() && h[j] == '/';
    if (closing) ++j;
    auto alpha = [](char ch) { return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z'); };
    if (j >= h.size() || !(alpha(h[j]) || h[j] == '!' || h[j] == '?')) {
      put("<");  // a lone '<' in text
      return i + 1;
    }
    size_t name_begin = j;
    while (j < h.size() && (alpha(h[j]) || (h[j] >= '0' && h[j] <= '9'))) ++j;
    std::string name = lower(h.substr(name_begin, j - name_begin));
    // The end of the tag: the first '>' outside a quoted attribute value.
    char quote = 0;
    for (; j < h.size(); ++j) {
      if (quote != 0) {
        if (h[j] == quote) quote = 0;
      } else if (h[j] == '"' || h[j] == '\'') {
        quote = h[j];
      } else if (h[j] == '>') {
        break;
      }
    }
    size_t after = j < h.size() ? j + 1 : h.size();
    if (!closing && (name == "script" || name == "style")) {
      // Skip to the matching end tag, whatever it holds.
      std::string end = "</" + name;
      for (size_t k = after; k < h.size(); ++k) {
        if (h[k] == '<' && iequals(h.substr(k, end.size()), end)) {
          size_t gt = h.find('>', k);
          return gt == std::string_view::npos ? h.size() : gt + 1;
        }
      }
      return h.size();
    }
    if (is_block_tag(name)) newline_ = true;
    else if (name == "td" || name == "th") space_ = true;
    return after;
  }

  // At '&': a named or numeric character reference, or a literal '&'.
  size_t entity(std::string_view h, size_t i) {
    size_t semi = h.find(';', i + 1);
    if (semi == std::string_view::npos || semi - i > 12) {
      put("&");
      return i + 1;
    }
    std::string_view ref = h.substr(i + 1, semi - i - 1);
    std::string text;
    if (ref.size() >= 2 && ref[0] == '#') {
      uint32_t cp = 0;
      bool hex = ref[1] == 'x' || ref[1] == 'X';
      std::string_view digits = ref.substr(hex ? 2 : 1);
      bool ok = !digits.empty();
      for (char d : digits) {
        int v = hex ? hex_value(d) : (d >= '0' && d <= '9' ? d - '0' : -1);
        if (v < 0) ok = false;
        else cp = cp * (hex ? 16 : 10) + static_cast<uint32_t>(v);
        if (cp > 0x10FFFF) cp = 0x110000;  // keep it from wrapping
      }
      if (!ok) {
        put("&");
        return i + 1;
      }
      if (cp == 0xA0) cp = ' ';
      append_utf8(text, cp);
    } else {
      for (const Entity& e : kEntities)
        if (e.name == ref) append_utf8(text, e.cp);
      if (text.empty()) {
        put("&");
        return i + 1;
      }
    }
    if (text == " ") space_ = true;
    else put(text);
    return semi + 1;
  }

  size_t budget_;
  std::string out_;
  bool space_ = false;    // whitespace seen since the last text
  bool newline_ = false;  // a block tag seen since the last text
};

// ---- Walking body_structure -------------------------------------------------------------

std::string str(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr || !v->is_string()) return {};
  return std::string(v->get_string());
}

size_t num(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr) return 0;
  if (v->is_uint64()) return static_cast<size_t>(v->get_uint64());
  if (v->is_int64() && v->get_int64() > 0) return static_cast<size_t>(v->get_int64());
  return 0;
}

std::string param(const json::object& node, std::string_view name) {
  const json::value* p = node.if_contains("params");
  if (p == nullptr || !p->is_object()) return {};
  return lower(trim(str(p->get_object(), name)));
}

class Extractor {
 public:
  Extractor(std::string_view raw, size_t max_bytes) : raw_(raw), max_(max_bytes) {}

  void walk(const json::value& v, unsigned depth) {
    if (!v.is_object() || depth > kMaxJsonDepth || out_.size() >= max_) return;
    const json::object& node = v.get_object();
    const json::value* parts = node.if_contains("parts");
    if (parts != nullptr && parts->is_array()) {
      // multipart children, or the body of an embedded message
      for (const json::value& child : parts->get_array()) walk(child, depth + 1);
      return;
    }
    if (str(node, "type") != "text") return;
    leaf(node);
  }

  std::string take() {
    // Cut at max_ without splitting a UTF-8 sequence.
    if (out_.size() > max_) {
      size_t n = max_;
      while (n > 0 && (static_cast<unsigned char>(out_[n]) & 0xC0) == 0x80) --n;
      out_.resize(n);
    }
    return std::move(out_);
  }

 private:
  void leaf(const json::object& node) {
    size_t off = num(node, "body_offset");
    size_t size = num(node, "size");
    if (off > raw_.size()) return;
    size = std::min(size, raw_.size() - off);
    std::string_view body = raw_.substr(off, size);

    std::string enc = lower(str(node, "encoding"));
    std::string decoded;
    if (enc == "base64") decoded = decode_base64(body);
    else if (enc == "quoted-printable") decoded = decode_qp(body);
    else decoded = std::string(body);

    size_t budget = max_ - out_.size();
    std::string text = to_utf8(decoded, param(node, "charset"), budget);
    std::string subtype = str(node, "subtype");
    if (subtype == "html") {
      text = HtmlText(budget).run(text);
    } else if (param(node, "format") == "flowed") {
      text = unflow(text, param(node, "delsp") == "yes");
    }
    // One line-end convention in the output.
    std::string clean;
    clean.reserve(text.size());
    for (size_t i = 0; i < text.size(); ++i)
      if (!(text[i] == '\r' && i + 1 < text.size() && text[i + 1] == '\n')) clean.push_back(text[i]);
    if (std::string_view(trim(clean)).empty()) return;
    if (!out_.empty()) out_.push_back('\n');
    out_.append(clean);
  }

  std::string_view raw_;
  size_t max_;
  std::string out_;
};

// ---- The top-level header ---------------------------------------------------------------

struct RawField {
  std::string_view name;
  std::string value;  // unfolded, trimmed, still encoded
};

// Calls `fn` for every field of the top-level header (at most kMaxHeaderBytes of it).
template <class Fn>
void for_each_field(std::string_view raw, Fn&& fn) {
  std::string_view head = raw.substr(0, std::min(raw.size(), kMaxHeaderBytes));
  size_t pos = 0;
  std::string_view name;
  std::string value;
  bool have = false;
  auto flush = [&] {
    if (have) fn(RawField{name, std::string(trim(value))});
    have = false;
    value.clear();
  };
  while (pos < head.size()) {
    size_t nl = head.find('\n', pos);
    size_t end = nl == std::string_view::npos ? head.size() : nl;
    std::string_view line = head.substr(pos, end - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    pos = nl == std::string_view::npos ? head.size() : nl + 1;
    if (line.empty()) break;  // end of the header
    if (line.front() == ' ' || line.front() == '\t') {
      if (have) value.append(line);  // folded continuation
      continue;
    }
    flush();
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;  // "From " mbox line or damage
    std::string_view n = trim(line.substr(0, colon));
    if (n.empty() || n.find(' ') != std::string_view::npos) continue;
    name = n;
    value.assign(line.substr(colon + 1));
    have = true;
  }
  flush();
}

std::string decode_header_text(const std::string& v) {
  if (v.empty()) return {};
  char* s = g_mime_utils_header_decode_text(options(), v.c_str());
  std::string out = s != nullptr ? to_valid_utf8(s) : to_valid_utf8(v);
  g_free(s);
  return out;
}

}  // namespace

std::string to_valid_utf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    size_t n = utf8_sequence(s, i);
    if (n == 0) {
      out += kReplacement;
      ++i;
    } else {
      out.append(s.substr(i, n));
      i += n;
    }
  }
  return out;
}

std::string extract_text(std::string_view raw, std::string_view json_text, size_t max_bytes) {
  if (max_bytes == 0 || raw.empty()) return {};
  init();  // GMime's charset tables, used to name charsets for iconv
  std::string own;
  json::value root;
  auto parse = [&](std::string_view text) {
    json::parse_options opt;
    opt.max_depth = kMaxJsonDepth * 2;
    boost::system::error_code ec;
    root = json::parse(text, ec, json::storage_ptr(), opt);
    return !ec && root.is_object();
  };
  bool ok = !json_text.empty() && parse(json_text);
  if (!ok) {
    // No structure given, or a damaged one: describe the message again.
    auto summary = summarize(raw);
    if (!summary) return {};
    own = std::move(summary->body_structure);
    if (!parse(own)) return {};
  }
  Extractor ex(raw, max_bytes);
  ex.walk(root, 0);
  return ex.take();
}

std::vector<std::string> header_value_list(std::string_view raw, std::string_view name) {
  std::vector<std::string> out;
  for_each_field(raw, [&](const RawField& f) {
    if (iequals(f.name, name)) out.push_back(decode_header_text(f.value));
  });
  return out;
}

std::string header_values(std::string_view raw, std::string_view name) {
  std::string out;
  bool first = true;
  for (std::string& v : header_value_list(raw, name)) {
    if (!first) out.push_back('\n');
    out += v;
    first = false;
  }
  return out;
}

std::string header_text(std::string_view raw) {
  std::string out;
  for_each_field(raw, [&](const RawField& f) {
    out += to_valid_utf8(f.name);
    out += ": ";
    out += decode_header_text(f.value);
    out.push_back('\n');
  });
  return out;
}

}  // namespace caremail::mime

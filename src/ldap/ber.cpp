// BER reader and writer; the rules it enforces, and why, are in ber.hpp.
#include "ldap/ber.hpp"

#include <cassert>

namespace caremail::ldap {

namespace {

Error malformed(std::string what) { return make_error(Errc::invalid_argument, "malformed BER: " + std::move(what)); }

// Tag numbers past this cannot occur in LDAP; the bound keeps the shift below from
// overflowing and the identifier from growing without end.
constexpr uint32_t kMaxTagNumber = 1u << 28;
// Length octets in the long form. Eight hold any length a size_t can; more would only be
// zero padding, which a hostile peer could use to make the header arbitrarily long.
constexpr size_t kMaxLengthOctets = 8;

}  // namespace

std::string to_string(const Tag& t) {
  static constexpr const char* kClass[] = {"UNIVERSAL", "APPLICATION", "", "PRIVATE"};
  std::string s = "[";
  const char* cls = kClass[static_cast<uint8_t>(t.cls) & 3];
  if (*cls != '\0') {
    s += cls;
    s += ' ';
  }
  s += std::to_string(t.number);
  s += ']';
  if (t.constructed) s += " constructed";
  return s;
}

HeaderStatus decode_header(std::string_view data, Header& out, std::string& error) {
  size_t i = 0;
  if (data.empty()) return HeaderStatus::need_more;
  auto b0 = static_cast<uint8_t>(data[i++]);
  out.tag.cls = static_cast<TagClass>(b0 >> 6);
  out.tag.constructed = (b0 & 0x20) != 0;
  uint32_t number = b0 & 0x1F;
  if (number == 0x1F) {
    // High-tag-number form: base-128 digits, high bit set on all but the last.
    number = 0;
    for (;;) {
      if (i >= data.size()) return HeaderStatus::need_more;
      auto b = static_cast<uint8_t>(data[i++]);
      if (number == 0 && b == 0x80) {
        error = "tag number with leading zero digit";
        return HeaderStatus::error;
      }
      if (number > (kMaxTagNumber >> 7)) {
        error = "tag number too large";
        return HeaderStatus::error;
      }
      number = (number << 7) | (b & 0x7F);
      if (number >= kMaxTagNumber) {
        error = "tag number too large";
        return HeaderStatus::error;
      }
      if ((b & 0x80) == 0) break;
    }
    if (number < 0x1F) {
      error = "high-form tag for a low tag number";
      return HeaderStatus::error;
    }
  }
  out.tag.number = number;

  if (i >= data.size()) return HeaderStatus::need_more;
  auto l0 = static_cast<uint8_t>(data[i++]);
  if (l0 < 0x80) {
    out.length = l0;
  } else if (l0 == 0x80) {
    error = "indefinite length (not allowed in LDAP)";
    return HeaderStatus::error;
  } else if (l0 == 0xFF) {
    error = "reserved length octet 0xFF";
    return HeaderStatus::error;
  } else {
    size_t n = l0 & 0x7F;
    if (n > kMaxLengthOctets) {
      error = "length of " + std::to_string(n) + " octets";
      return HeaderStatus::error;
    }
    uint64_t len = 0;
    for (size_t k = 0; k < n; ++k) {
      if (i >= data.size()) return HeaderStatus::need_more;
      len = (len << 8) | static_cast<uint8_t>(data[i++]);
    }
    // Anything at or past 2^63 is nonsense for a message and would be awkward to compare
    // with signed sizes downstream.
    if (len >> 63) {
      error = "length overflow";
      return HeaderStatus::error;
    }
    out.length = len;
  }
  out.header_size = i;
  return HeaderStatus::ok;
}

Result<int64_t> decode_integer(std::string_view c) {
  if (c.empty()) return malformed("empty INTEGER");
  if (c.size() > 8) return malformed("INTEGER longer than 8 octets");
  // Sign-extend from the first octet, then shift the rest in as unsigned to avoid UB.
  uint64_t v = (static_cast<uint8_t>(c[0]) & 0x80) ? ~uint64_t{0} : 0;
  for (char ch : c) v = (v << 8) | static_cast<uint8_t>(ch);
  return static_cast<int64_t>(v);
}

Result<bool> decode_boolean(std::string_view c) {
  if (c.size() != 1) return malformed("BOOLEAN of " + std::to_string(c.size()) + " octets");
  return c[0] != 0;
}

Result<Tag> BerReader::peek_tag() const {
  if (at_end()) return malformed("missing element");
  Header h;
  std::string err;
  switch (decode_header(data_.substr(pos_), h, err)) {
    case HeaderStatus::ok: return h.tag;
    case HeaderStatus::need_more: return malformed("truncated header");
    case HeaderStatus::error: return malformed(std::move(err));
  }
  return malformed("unreachable");
}

Result<Element> BerReader::read_any() {
  if (at_end()) return malformed("missing element");
  std::string_view rest = data_.substr(pos_);
  Header h;
  std::string err;
  switch (decode_header(rest, h, err)) {
    case HeaderStatus::ok: break;
    case HeaderStatus::need_more: return malformed("truncated header");
    case HeaderStatus::error: return malformed(std::move(err));
  }
  // The check that matters: the announced length against what the enclosing element holds.
  if (h.length > rest.size() - h.header_size)
    return malformed("length " + std::to_string(h.length) + " past the end of its container");
  auto len = static_cast<size_t>(h.length);
  Element e{h.tag, rest.substr(h.header_size, len), h.header_size + len};
  pos_ += e.encoded_size;
  return e;
}

Result<Element> BerReader::read(Tag expected) {
  auto t = peek_tag();
  if (!t) return t.error();
  if (!(*t == expected)) return malformed("expected " + to_string(expected) + ", got " + to_string(*t));
  return read_any();
}

Result<BerReader> BerReader::enter(const Element& e) const {
  if (!e.tag.constructed) return malformed(to_string(e.tag) + " is not constructed");
  if (depth_ + 1 > limits_.max_depth) return make_error(Errc::too_large, "BER nesting deeper than " +
                                                                             std::to_string(limits_.max_depth));
  return BerReader(e.contents, limits_, depth_ + 1);
}

Result<BerReader> BerReader::read_constructed(Tag expected) {
  auto e = read(expected);
  if (!e) return e.error();
  return enter(*e);
}

Result<int64_t> BerReader::read_integer(Tag expected) {
  auto e = read(expected);
  if (!e) return e.error();
  return decode_integer(e->contents);
}

Result<bool> BerReader::read_boolean(Tag expected) {
  auto e = read(expected);
  if (!e) return e.error();
  return decode_boolean(e->contents);
}

Result<std::string_view> BerReader::read_octet_string(Tag expected) {
  auto e = read(expected);
  if (!e) return e.error();
  return e->contents;
}

// ---- writer ----------------------------------------------------------------------------

void BerWriter::identifier(Tag t) {
  auto first = static_cast<uint8_t>((static_cast<uint8_t>(t.cls) << 6) | (t.constructed ? 0x20 : 0));
  if (t.number < 0x1F) {
    out_.push_back(static_cast<char>(first | t.number));
    return;
  }
  out_.push_back(static_cast<char>(first | 0x1F));
  char digits[5];
  size_t n = 0;
  uint32_t v = t.number;
  do {
    digits[n++] = static_cast<char>(v & 0x7F);
    v >>= 7;
  } while (v != 0 && n < sizeof digits);
  while (n > 0) {
    char d = digits[--n];
    out_.push_back(static_cast<char>(n > 0 ? (d | 0x80) : d));
  }
}

namespace {
std::string length_octets(size_t n) {
  if (n < 0x80) return std::string(1, static_cast<char>(n));
  std::string s;
  for (size_t v = n; v != 0; v >>= 8) s.insert(s.begin(), static_cast<char>(v & 0xFF));
  s.insert(s.begin(), static_cast<char>(0x80 | s.size()));
  return s;
}
}  // namespace

void BerWriter::length(size_t n) { out_ += length_octets(n); }

void BerWriter::begin(Tag t) {
  identifier(t);
  open_.push_back(out_.size());
}

void BerWriter::end() {
  assert(!open_.empty());
  size_t at = open_.back();
  open_.pop_back();
  out_.insert(at, length_octets(out_.size() - at));
}

void BerWriter::integer(int64_t v, Tag t) {
  // Minimal two's complement: drop leading octets that only repeat the sign.
  char buf[8];
  auto u = static_cast<uint64_t>(v);
  for (int i = 7; i >= 0; --i, u >>= 8) buf[i] = static_cast<char>(u & 0xFF);
  int start = 0;
  while (start < 7) {
    auto b = static_cast<uint8_t>(buf[start]);
    auto next = static_cast<uint8_t>(buf[start + 1]);
    if ((b == 0x00 && !(next & 0x80)) || (b == 0xFF && (next & 0x80))) ++start;
    else break;
  }
  identifier(t);
  length(static_cast<size_t>(8 - start));
  out_.append(buf + start, static_cast<size_t>(8 - start));
}

void BerWriter::boolean(bool v, Tag t) {
  identifier(t);
  length(1);
  out_.push_back(v ? static_cast<char>(0xFF) : '\0');
}

void BerWriter::octet_string(std::string_view v, Tag t) {
  identifier(t);
  length(v.size());
  out_.append(v);
}

void BerWriter::null(Tag t) {
  identifier(t);
  length(0);
}

void BerWriter::raw(std::string_view encoded) { out_.append(encoded); }

std::string BerWriter::take() && {
  assert(open_.empty());
  return std::move(out_);
}

}  // namespace caremail::ldap

// BER (X.690) reader and writer, restricted to what LDAPv3 needs (RFC 4511 §5.1).
//
// SECURITY: the reader runs before authentication on every byte an LDAP client sends. It
// works on a complete buffer (the framer in message.hpp has already checked the outer
// length against the message limit), copies nothing, and never trusts a length the peer
// sent: every element's length is checked against what is left of its enclosing element
// before it is used, and constructed elements are entered through a depth counter bounded
// by BerLimits. Malformed input is an Error value; nothing here asserts or throws on it.
//
// What is accepted, and why:
//   - Definite lengths only. RFC 4511 §5.1 forbids the indefinite form; accepting it would
//     make a reader scan for end-of-contents markers, which is exactly the unbounded work a
//     hostile client wants.
//   - Long-form lengths need not be minimal: OpenLDAP's liblber and Windows' wldap32 send
//     "84 00 00 00 nn" for short contents. At most 8 length octets are read, and the value
//     must still fit in what is left.
//   - Tag numbers in the low form (0..30) and the high form up to 2^28: LDAP uses only the
//     low form, but reading the other costs one bounded loop and keeps the reader honest.
//   - BOOLEAN: one octet, any non-zero is TRUE (senders use FF; X.690 lets receivers take
//     any non-zero). INTEGER/ENUMERATED: 1..8 content octets, two's complement.
//
// Thread-safety: BerReader is a value over caller-owned bytes; BerWriter owns its buffer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"

namespace caremail::ldap {

enum class TagClass : uint8_t { universal = 0, application = 1, context = 2, private_ = 3 };

// An identifier: class, constructed bit and number.
struct Tag {
  TagClass cls = TagClass::universal;
  bool constructed = false;
  uint32_t number = 0;

  bool operator==(const Tag&) const = default;

  static constexpr Tag universal(uint32_t n, bool constructed = false) {
    return Tag{TagClass::universal, constructed, n};
  }
  static constexpr Tag application(uint32_t n, bool constructed) {
    return Tag{TagClass::application, constructed, n};
  }
  static constexpr Tag context(uint32_t n, bool constructed) {
    return Tag{TagClass::context, constructed, n};
  }
};

// The universal types LDAP uses.
inline constexpr Tag kBoolean = Tag::universal(1);
inline constexpr Tag kInteger = Tag::universal(2);
inline constexpr Tag kOctetString = Tag::universal(4);
inline constexpr Tag kNull = Tag::universal(5);
inline constexpr Tag kEnumerated = Tag::universal(10);
inline constexpr Tag kSequence = Tag::universal(16, true);
inline constexpr Tag kSet = Tag::universal(17, true);

// "[APPLICATION 3] constructed", "[UNIVERSAL 4]": for error messages and tests.
std::string to_string(const Tag& t);

struct BerLimits {
  // Nesting of constructed elements a reader will enter. LDAP's deepest legitimate shapes
  // are search filters (and/or/not nest); message.hpp sets this from its filter depth
  // limit plus the few levels around a filter. It bounds recursion in every caller.
  size_t max_depth = 64;
};

// One element: its tag and its contents (a view into the reader's buffer).
struct Element {
  Tag tag;
  std::string_view contents;
  size_t encoded_size = 0;  // identifier + length + contents octets
};

// Reads consecutive elements from a buffer, e.g. the contents of one SEQUENCE.
// Usage:
//   BerReader r(bytes, limits);
//   auto seq = r.read(kSequence);           // the next element must be a SEQUENCE
//   auto inner = r.enter(*seq);              // a reader over its contents, one level deeper
//   auto id = inner->read_integer();
//   if (!inner->at_end()) ... trailing data
class BerReader {
 public:
  explicit BerReader(std::string_view data, const BerLimits& limits = {}, size_t depth = 0)
      : data_(data), limits_(limits), depth_(depth) {}

  bool at_end() const noexcept { return pos_ >= data_.size(); }
  size_t remaining() const noexcept { return data_.size() - pos_; }
  size_t depth() const noexcept { return depth_; }

  // The next element's tag without consuming anything. Error when the identifier is
  // malformed or the reader is at its end.
  Result<Tag> peek_tag() const;
  // The next element, whatever its tag.
  Result<Element> read_any();
  // The next element, which must have tag `expected`.
  Result<Element> read(Tag expected);
  // A reader over a constructed element's contents. Error when `e` is primitive or the
  // depth would pass BerLimits::max_depth.
  Result<BerReader> enter(const Element& e) const;
  // read(expected) then enter(): the common case for SEQUENCE and friends.
  Result<BerReader> read_constructed(Tag expected);

  // Typed reads of the next element with the given (implicit) tag.
  Result<int64_t> read_integer(Tag expected = kInteger);
  Result<int64_t> read_enumerated() { return read_integer(kEnumerated); }
  Result<bool> read_boolean(Tag expected = kBoolean);
  // Primitive only (RFC 4511 §5.1: OCTET STRING is never constructed in LDAP).
  Result<std::string_view> read_octet_string(Tag expected = kOctetString);

 private:
  std::string_view data_;
  BerLimits limits_;
  size_t depth_ = 0;
  size_t pos_ = 0;
};

// Decodes one identifier + length header at the start of `data`.
//   need_more: `data` ends inside the header (only the framer cares).
//   error: malformed (indefinite or reserved length form, length over 8 octets or 2^63, tag
//          number over 2^28).
struct Header {
  Tag tag;
  size_t header_size = 0;   // identifier + length octets
  uint64_t length = 0;      // contents octets, as announced (NOT yet checked against data)
};
enum class HeaderStatus { ok, need_more, error };
HeaderStatus decode_header(std::string_view data, Header& out, std::string& error);

// Contents decoders, for elements already read with read_any().
Result<int64_t> decode_integer(std::string_view contents);
Result<bool> decode_boolean(std::string_view contents);

// Builds one encoding. Lengths are always minimal (short form under 128), so the writer's
// output is also valid DER for the types we emit; begin()/end() nest constructed elements.
// Usage:
//   BerWriter w;
//   w.begin(kSequence); w.integer(7); w.octet_string("x"); w.end();
//   std::string bytes = std::move(w).take();
class BerWriter {
 public:
  void begin(Tag t);
  // Closes the innermost begin(). REQUIRES: a begin() is open.
  void end();

  void integer(int64_t v, Tag t = kInteger);
  void enumerated(int64_t v) { integer(v, kEnumerated); }
  void boolean(bool v, Tag t = kBoolean);
  void octet_string(std::string_view v, Tag t = kOctetString);
  void null(Tag t = kNull);
  // A complete encoding made elsewhere (an already encoded control value, say).
  void raw(std::string_view encoded);

  size_t open() const noexcept { return open_.size(); }
  const std::string& bytes() const noexcept { return out_; }
  // REQUIRES: every begin() has been closed.
  std::string take() &&;

 private:
  void identifier(Tag t);
  void length(size_t n);

  std::string out_;
  std::vector<size_t> open_;  // offsets just after each open identifier
};

}  // namespace caremail::ldap

// The readable text of a message, for SEARCH BODY/TEXT and the full-text index: every
// text/* leaf part (text/html with its tags dropped) with its Content-Transfer-Encoding and
// charset removed, as UTF-8, parts separated by "\n". Attachments that are not text are
// left out; embedded message/rfc822 parts contribute their own text parts.
//
// SECURITY: untrusted mail; bounded by `max_bytes` of output and by the body_structure the
// summary was made with. Never throws for bad input.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace caremail::mime {

// `json`: MessageSummary::body_structure of `raw` (empty: summarised again here).
std::string extract_text(std::string_view raw, std::string_view json, size_t max_bytes = 8u << 20);

// RFC 2047-decoded UTF-8 value of every header field named `name` (case-insensitive) in the
// top-level header of `raw`, joined by "\n". For SEARCH HEADER / BCC.
std::string header_values(std::string_view raw, std::string_view name);

// The same values one by one, in header order: empty when no field has that name, an empty
// string for a field that is present but empty (SEARCH HEADER name "" matches it).
std::vector<std::string> header_value_list(std::string_view raw, std::string_view name);

// The whole top-level header as readable UTF-8 text, one "Name: decoded value\n" line per
// field (unfolded, RFC 2047-decoded), for SEARCH TEXT. Bounded like the header scan
// (1 MB of header).
std::string header_text(std::string_view raw);

// `s` as valid UTF-8: each byte that does not start a well-formed sequence, and each NUL,
// becomes U+FFFD.
std::string to_valid_utf8(std::string_view s);

}  // namespace caremail::mime

// IMAP modified UTF-7 (RFC 3501 §5.1.3, kept by RFC 9051 §5.1.3) for mailbox names.
//
// Mailbox names travel as raw bytes through the parser (parser.hpp); the session decodes them
// with mutf7_decode unless the client enabled UTF8=ACCEPT (RFC 9051 / RFC 6855), in which case
// they are UTF-8 already, and encodes names it sends to clients that did not.
//
// Only the canonical encoding is accepted, so that each mailbox has exactly one wire name:
// printable US-ASCII (0x20..0x7E) stands for itself except '&', written "&-"; everything else
// is UTF-16BE in modified base64 (RFC 2152 with ',' for '/', no '=' padding) between '&' and
// '-'. Rejected: bytes outside 0x20..0x7E, an unterminated shift, bad base64, non-zero pad
// bits or a partial UTF-16 unit, unpaired surrogates, a printable ASCII character encoded,
// an empty shift other than "&-", and two adjacent shifts ("&AOk-&AOk-" must be "&AOkA6Q-").
//
// Thread-safety: pure functions.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace caremail::imap {

// Modified UTF-7 to UTF-8; nullopt when `in` is not canonical modified UTF-7.
std::optional<std::string> mutf7_decode(std::string_view in);

// UTF-8 to modified UTF-7; nullopt when `in` is not valid UTF-8 (overlong forms, surrogates
// and code points past U+10FFFF are invalid) or holds U+0000.
std::optional<std::string> mutf7_encode(std::string_view in);

// True when `in` is canonical modified UTF-7 (mutf7_decode would succeed).
bool mutf7_valid(std::string_view in);

// True when `in` is valid UTF-8 (same rules as mutf7_encode, but U+0000 allowed).
bool utf8_valid(std::string_view in);

}  // namespace caremail::imap

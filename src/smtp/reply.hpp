// SMTP replies: the one place that turns a code, an enhanced status code and text into bytes
// on the wire, and the EHLO keyword list.
//
// SECURITY: reply text often echoes something the peer sent (an address, a parameter). Every
// formatter here therefore replaces CR, LF (other than as the line separator it means), NUL
// and every other control byte, so a peer can never inject a reply line of its own, and
// bounds every line to the 512 octets RFC 5321 §4.5.3.1.5 allows.
//
// Thread-safety: pure functions, no shared state.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace caremail::smtp {

// Length of the well-formed UTF-8 character starting at s[pos] (1 for ASCII), or 0 when the
// bytes there are not one: overlong forms, surrogates, code points past U+10FFFF and
// truncated sequences are all 0. REQUIRES: pos < s.size().
size_t utf8_char_length(std::string_view s, size_t pos) noexcept;
// Every byte belongs to a well-formed UTF-8 character.
bool is_utf8(std::string_view s) noexcept;

// One reply. `text` may hold '\n' to make a multi-line reply: every line gets the code and
// the enhanced code (RFC 2034 §3 requires it on each line).
struct Reply {
  int code = 0;          // 3 digits, 200..599
  std::string enhanced;  // RFC 3463 "x.y.z"; empty for replies that carry none (greeting, EHLO)
  std::string text;
};

// RFC 5321 §4.5.3.1.5: a reply line is at most 512 octets including the code and CRLF.
inline constexpr size_t kMaxReplyLine = 512;

// "250 2.1.0 Ok\r\n"; multi-line "250-2.1.0 first\r\n250 2.1.0 last\r\n".
// REQUIRES: 200 <= code <= 599 (checked: our own invariant, asserts).
// Control bytes in `text` become '?'; so do bytes >= 0x80 unless `utf8` (RFC 6531 lets a
// server send UTF-8 text only to a client that used SMTPUTF8). Over-long lines are cut at
// a UTF-8 character boundary. An empty text line is sent as the code alone ("250 2.0.0").
std::string format_reply(int code, std::string_view enhanced, std::string_view text,
                         bool utf8 = false);
std::string format_reply(const Reply& r, bool utf8 = false);

// What this listener offers after EHLO. Only what is set appears, in the order of the
// fields below.
struct EhloCapabilities {
  bool pipelining = true;                  // RFC 2920
  std::optional<uint64_t> size;            // RFC 1870; "SIZE n", 0 meaning "no fixed limit"
  bool starttls = false;                   // RFC 3207 (off once TLS is active)
  std::vector<std::string> auth;           // RFC 4954 mechanisms, e.g. {"PLAIN","LOGIN"}; empty: no AUTH
  bool enhancedstatuscodes = true;         // RFC 2034
  bool eightbitmime = true;                // RFC 6152
  bool binarymime = false;                 // RFC 3030 (needs CHUNKING)
  bool chunking = true;                    // RFC 3030 BDAT
  bool dsn = true;                         // RFC 3461
  bool smtputf8 = true;                    // RFC 6531
};

// The keywords alone, e.g. {"PIPELINING", "SIZE 36700160", "AUTH PLAIN LOGIN", ...}.
std::vector<std::string> ehlo_keywords(const EhloCapabilities& caps);

// The whole EHLO reply: "250-<server_name> <greeting>\r\n250-PIPELINING\r\n...250 SMTPUTF8\r\n".
// `greeting` may be empty. No enhanced codes (RFC 2034 does not use them on EHLO).
std::string format_ehlo(std::string_view server_name, std::string_view greeting,
                        const EhloCapabilities& caps);

}  // namespace caremail::smtp

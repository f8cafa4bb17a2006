// IMAP response rendering of message data (RFC 9051 §7.5.2, RFC 3501 §7.4.2, RFC 3516):
// strings, INTERNALDATE, ENVELOPE, BODY/BODYSTRUCTURE, BODY[section]<partial> and BINARY.
// Pure functions over the raw message and its MessageSummary::body_structure JSON (see
// mime/mime.hpp); no I/O, no store. Thread-safe.
//
// SECURITY: the message is untrusted mail. Everything here is bounded by the message size
// and the MIME limits the summary was made with; nothing recurses deeper than the
// body_structure JSON does (mime::Limits::max_depth).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "imap/parser.hpp"
#include "model/types.hpp"

namespace caremail::imap {

// Appends `s` as an IMAP string: quoted when it is short (< 1024 octets) and holds only
// quotable characters (no CR, LF, NUL, 8-bit unless `utf8`), with " and \ escaped;
// otherwise as a literal "{n}\r\n" followed by the octets.
void append_string(std::string& out, std::string_view s, bool utf8 = false);
// NIL for nullopt, else append_string.
void append_nstring(std::string& out, std::optional<std::string_view> s, bool utf8 = false);
// As a literal always ("{n}\r\n..."), or "~{n}\r\n..." (literal8) when `binary`.
void append_literal(std::string& out, std::string_view s, bool binary = false);

// "17-Jul-1996 02:44:25 +0000" (with the double quotes), UTC.
std::string format_internaldate(UnixTime t);
// APPEND date-time to Unix time (the zone applied).
UnixTime to_unix_time(const DateTime& dt);
// SEARCH dates compare in UTC days: seconds at 00:00:00 UTC of that day.
UnixTime to_unix_time(const Date& d);

// ENVELOPE of the message whose header starts at raw[0] (a whole message, or an embedded
// message/rfc822 body): "(date subject from sender reply-to to cc bcc in-reply-to
// message-id)". Header values are unfolded and kept raw (encoded-words are not decoded, as
// clients expect); addresses are parsed per RFC 5322 (groups become the RFC 9051 group
// markers); sender and reply-to default to from when absent.
std::string envelope(std::string_view raw);
// As above; with `utf8` (UTF8=ACCEPT enabled) valid UTF-8 header text is quoted rather than
// sent as literals.
std::string envelope(std::string_view raw, bool utf8);

// The functions below take the message as the client sees it (`raw`) and the
// body_structure JSON of the stored message. The two differ by a per-entry trace prefix
// (MailboxEntry::trace: header lines such as Delivered-To, kept outside the shared blob):
// `raw` = trace + stored message, and `base` = the trace's length. JSON offsets are
// relative to the stored message and are moved by `base`; the trace belongs to the
// top-level header (BODY[HEADER], BODY[] and their sizes include it, BODY[TEXT], parts
// and BODYSTRUCTURE sizes do not change). `raw` may also be only trace + the top-level
// header (the header cache) for HEADER sections. Empty JSON: `raw` is summarised again
// here, trace and all, and `base` is not used.

// BODYSTRUCTURE (`extensible`) or BODY (not) of a message from its body_structure JSON.
// `raw` is needed for the ENVELOPE of embedded message/rfc822 parts.
std::string body_structure(std::string_view raw, std::string_view json, bool extensible);
// As above; `utf8` as for envelope(). Output style: type, subtype, parameter names and the
// encoding in upper case ("TEXT" "PLAIN" ("CHARSET" "utf-8") ... "7BIT"); disposition as
// stored (lower case); a multipart without parts gets one empty text/plain child.
std::string body_structure(std::string_view raw, std::string_view json, bool extensible, bool utf8,
                           size_t base = 0);

// BODY[section]: the octets the section names, nullopt when no such part exists. Part
// numbers follow RFC 9051 §6.4.5 (a non-multipart message has part 1; HEADER/TEXT of a
// message/rfc822 part address the embedded message; MIME is the part's own header).
// HEADER.FIELDS[.NOT] match field names case-insensitively and keep the trailing blank line.
std::optional<std::string> section_text(std::string_view raw, std::string_view json, const Section& section,
                                        size_t base = 0);
// True for the sections that need only the top-level header: HEADER, HEADER.FIELDS and
// HEADER.FIELDS.NOT with no part number.
bool is_top_header_section(const Section& section);
// Such a section from `header`, every octet of the message before its body (the store's
// header cache holds exactly that), without reading the structure. REQUIRES:
// is_top_header_section(section).
std::string header_section_text(std::string_view header, const Section& section);

// BINARY[part] (RFC 3516): the part's body with its Content-Transfer-Encoding removed.
enum class BinaryStatus { ok, no_such_part, unknown_cte };
BinaryStatus binary_section(std::string_view raw, std::string_view json, const std::vector<uint32_t>& part,
                            std::string& out, size_t base = 0);

// A message APPENDed as literal8 (RFC 3516) may hold NUL octets, which no IMAP4rev1
// literal can carry (BODY[] would have nothing valid to send): `raw` with every leaf part
// whose body holds a NUL re-encoded as base64 (its Content-Transfer-Encoding field
// replaced or added), so BODY[...] stays a valid literal and BINARY[...] still gives the
// original octets. nullopt when no part body holds a NUL. A NUL outside every part body
// (in a header) is left: the caller checks for one.
std::optional<std::string> encode_binary_parts(std::string_view raw);

// <origin.length> applied to `s`; the whole of `s` without a partial. Origin past the end: "".
std::string_view apply_partial(std::string_view s, const std::optional<std::pair<uint32_t, uint32_t>>& partial);

}  // namespace caremail::imap

// MIME: turns a raw RFC 5322 message into the MessageSummary the store keeps for listing,
// threading and IMAP BODYSTRUCTURE.
//
// SECURITY: the input is untrusted mail straight from SMTP (or IMAP APPEND). The structure
// walk is our own single-pass scanner, bounded by Limits before anything is allocated per
// part; GMime 3 is used only to decode individual header values (RFC 2047 encoded-words,
// RFC 2231 parameters, addresses, dates), each of them already bounded by max_header_bytes.
// GMime's own MIME parser is not used: it recurses up to 1024 levels, builds every part
// before we could count them (8 MB of "--b\r\n\r\n" became 1.2 million parts, 1.5 GB and
// 10 s in GMime 3.2.13), and does not expose the raw offsets BODYSTRUCTURE needs for
// message/rfc822 parts. Cost here is linear: about 1 ms per MB of body, and roughly
// 125 ms per MB of Content-Type/-Disposition/address text that GMime decodes.
//
// Thread-safety: summarize() may be called concurrently from any number of threads; it
// shares no mutable state (the GMime parser options are built once in init() and then only
// read).
#pragma once

#include <cstddef>
#include <string_view>

#include "common/result.hpp"
#include "model/types.hpp"

namespace caremail::mime {

// Every limit bounds what a single hostile message can make one summarize() call cost.
struct Limits {
  // Whole message. Matches the SMTP SIZE we advertise; anything larger is refused before
  // a single byte is scanned.
  size_t max_message_bytes = 64u << 20;
  // Total header section (fields plus the blank line) of any one part. Header values are
  // copied and handed to GMime; this bounds that copy and the decoder's work per field.
  size_t max_header_bytes = 1u << 20;
  // Header fields in the top-level header. Listing and threading look fields up by name;
  // a million one-byte fields would turn each look-up into a long scan.
  size_t max_headers = 1000;
  // multipart / message/rfc822 nesting. The scanner and the JSON writer recurse once per
  // level, so this bounds stack use; real mail rarely nests more than 5 deep.
  int max_depth = 32;
  // Total MIME parts (every entity: multipart containers, leaves, embedded messages and
  // their bodies). Each part becomes a node in memory and in body_structure; this bounds
  // both. Real mail rarely has more than a few dozen.
  size_t max_parts = 1000;
};

// Initialises GMime (g_mime_init) and the shared, read-only decoder options.
// Call once at start-up before any thread uses summarize(); idempotent and itself
// thread-safe (std::call_once), and summarize() calls it too, so forgetting it is harmless.
// GMime is never shut down: its tables live for the life of the process.
void init();

// Parses `raw` (a complete RFC 5322 message, CRLF or bare LF line endings) and fills a
// MessageSummary:
//  - subject, from, to, cc: RFC 2047 decoded to UTF-8 (addresses normalised by GMime, e.g.
//    `"Doe, Jane" <jane@example.org>, bob@example.org`); unencoded 8-bit text is read as
//    UTF-8, else Windows-1252.
//  - date: the Date header as sent (unfolded, trimmed); sent_at: it parsed, 0 if absent or bad.
//  - message_id: without the angle brackets; in_reply_to, references: raw (unfolded, trimmed).
//  - has_attachments: some part has Content-Disposition: attachment, or is a non-text,
//    non-multipart part with a file name (disposition filename or Content-Type name).
//  - body_structure: JSON, one node per MIME entity:
//      {"part":"1.2","type":"text","subtype":"plain","params":{"charset":"utf-8"},
//       "id":"<cid>","description":"raw text","encoding":"quoted-printable",
//       "size":123,"lines":4,"disposition":"attachment",
//       "disposition_params":{"filename":"a.pdf"},"filename":"a.pdf",
//       "language":"en","location":"...","header_offset":456,"body_offset":500,
//       "parts":[...]}
//    part: the IMAP part number. The top-level body is "1" when single-part; a multipart
//      has no number of its own and carries the number of the message it is the body of
//      ("" at top level, "2" for the body of message/rfc822 part 2).
//    type/subtype lower case; params/disposition_params: names lower case, values decoded
//      (RFC 2231 / 2047) UTF-8, first of duplicates kept. Without Content-Type a part is
//      text/plain;charset=us-ascii (message/rfc822 inside multipart/digest).
//    id, description, language, location: raw header text, unfolded and trimmed.
//    encoding: Content-Transfer-Encoding lower case, "7bit" when absent.
//    size: octets of the still-encoded body exactly as in `raw` (body_offset .. +size);
//      lines: its line count, present for text/* and message/rfc822.
//    header_offset: where the part's MIME header starts in `raw` (= BODY[n.MIME]);
//      body_offset: where its body starts. Present on every node.
//    parts: children of a multipart, or for message/rfc822 the one-element list holding the
//      embedded message's body. A broken multipart (no boundary parameter, or the boundary
//      never appears) has no "parts"; IMAP must render it as it sees fit (e.g. an empty
//      text/plain child). message/rfc822 with a base64/quoted-printable encoding is not
//      descended into.
//    Keys with empty values are omitted; strings are valid UTF-8 (bad bytes become U+FFFD).
// Malformed MIME is NOT an error: mail must still be deliverable, so this is best effort.
// Errors: only Errc::too_large, when `raw` passes one of `limits`; the message names the
// limit. Never throws for bad input (std::bad_alloc aside).
Result<MessageSummary> summarize(std::string_view raw, const Limits& limits = {});

}  // namespace caremail::mime

// Message readers for the SMTP DATA phase (dot-stuffed, ended by CRLF.CRLF) and for BDAT
// chunks (RFC 3030: exact-length, no stuffing), sharing one accounting of size, header
// section and line length (MessageBuilder).
//
// SECURITY: the input is untrusted and arrives before any decision about the sender is
// final. Memory is bounded: the message is held only while it is within
// max_message_bytes, and a rejected message is freed at once and never grows again; with
// spill_to() a message past a threshold (smtp.spool_threshold_bytes, 1 MB) goes to a
// spool file instead, so a connection holds about that much whatever it sends. A
// problem found in the middle of DATA never stops the reader early: it keeps consuming,
// without storing, up to the real end of data, so the session stays in step with the
// client and the rejection is the reply to the final dot. Only CRLF "." CRLF at the start
// of a line ends DATA; bare LF and bare CR anywhere (including "\n.\n", "\n.\r\n",
// "\r.\r\n", "\r\n.\r") reject the message, because a receiver that reads those as line
// ends, or as the end of data, lets a sender smuggle a second message past the first
// server's checks (SMTP smuggling, SEC Consult, December 2023).
//
// Thread-safety: none; one reader belongs to one session (one strand).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "smtp/reply.hpp"

namespace caremail::smtp {

// Every limit bounds what one message can make a session hold or pass on. A message past
// any of them is rejected (see the replies below) but always read to its end.
struct DataLimits {
  // Octets of the message after dot-unstuffing: what we would store. The SIZE we advertise
  // (issue 3: 35 MB by default); past it we stop holding the message in memory at all.
  // Reply 552 5.3.4.
  uint64_t max_message_bytes = 35u << 20;
  // Header section, from the first octet to the empty line inclusive. mime::summarize and
  // every header rewrite we do (Received, Return-Path) walk it; real headers are a few KB.
  // Reply 554 5.6.0.
  uint64_t max_header_bytes = 1u << 20;
  // Header fields (a field with continuation lines counts once). Look-ups by name scan
  // them; a million tiny fields would make each scan slow. Reply 554 5.6.0.
  size_t max_headers = 1000;
  // Octets of one line including its CRLF. RFC 5321 §4.5.3.1.6 says 1000; real senders
  // (some web forms, some mailing-list software) pass it, so we are lenient up to 10,000
  // and refuse beyond, where a line is a sign of a broken or hostile sender.
  // Reply 500 5.5.6. Not applied to BINARYMIME content.
  size_t max_line = 10000;
  // Wire octets one DATA may consume, counting everything read after the message was
  // already rejected. Past it the reader stops (DataStatus::failed) and the session should
  // reply and close: a peer still sending after this is not going to resynchronise, and
  // draining it would only cost bandwidth. Raised to 2 * max_message_bytes if lower.
  uint64_t max_stream_bytes = 1u << 30;
};

// Where a message too large to hold in memory goes (smtp/spool.hpp has the file one).
// Written once, in order; the session reads it back when the message is complete.
class Spool {
 public:
  virtual ~Spool() = default;
  // False when the octets could not be written (disk full): the message is then refused
  // with 452 4.3.1 and the rest of it only counted.
  virtual bool write(std::string_view bytes) = 0;
};
// Opens a spool; nullptr when it cannot (treated as a failed write).
using SpoolFactory = std::function<std::unique_ptr<Spool>()>;

// Accumulates one message and applies DataLimits. Used by DataReader (fed unstuffed bytes)
// and BdatReader; usable directly by a session that frames the message itself.
// The first problem found (by position in the message) is the one reported; after it,
// bytes are only counted.
class MessageBuilder {
 public:
  // `binary`: the content is BODY=BINARYMIME (BDAT only), so NUL octets and long lines are
  // allowed. Otherwise NUL is rejected (RFC 5321 §4.1.4 / RFC 6152: not allowed in
  // 7BIT/8BITMIME content; it also features in smuggling probes).
  explicit MessageBuilder(const DataLimits& limits = {}, bool binary = false);

  // From now on, once the message would pass `threshold` octets, it is written to a spool
  // from `open` (what was held so far first) and memory holds none of it: a connection
  // then holds at most about `threshold` octets whatever the message size.
  void spill_to(SpoolFactory open, uint64_t threshold) {
    open_spool_ = std::move(open);
    spill_threshold_ = threshold;
  }

  // Appends message octets (already unstuffed).
  void append(std::string_view bytes);
  // Rejects the message with `reply` unless it already is; frees the message.
  void reject(Reply reply);

  bool rejected() const noexcept { return rejection_.has_value(); }
  // nullopt while the message is acceptable; else the reply for the end of data.
  const std::optional<Reply>& rejection() const noexcept { return rejection_; }
  // The octets appended so far; empty once rejected or spilled.
  const std::string& message() const noexcept { return message_; }
  std::string take_message();
  // The spool holding the message once it was spilled (nullptr otherwise, or once
  // rejected): the whole message, in order, with nothing of it in message().
  bool spilled() const noexcept { return spool_ != nullptr; }
  std::unique_ptr<Spool> take_spool() { return std::move(spool_); }
  // Octets appended, counted even after a rejection (for logs).
  uint64_t size() const noexcept { return size_; }
  // Header accounting so far (frozen at the rejection).
  size_t header_fields() const noexcept { return header_fields_; }
  uint64_t header_bytes() const noexcept { return header_bytes_; }
  // Back to empty, keeping limits and mode.
  void reset();

 private:
  void grow(size_t needed);
  void store(std::string_view bytes);

  // Constant after construction
  const DataLimits limits_;
  const bool binary_;

  SpoolFactory open_spool_;      // unset: never spill
  uint64_t spill_threshold_ = 0;
  std::unique_ptr<Spool> spool_;  // set once spilled

  std::string message_;  // capacity never exceeds max_message_bytes (+ allocator rounding)
  std::optional<Reply> rejection_;
  uint64_t size_ = 0;
  uint64_t header_bytes_ = 0;
  size_t header_fields_ = 0;
  size_t line_len_ = 0;       // octets of the current line so far
  char line_first_ = 0;       // its first octet, once line_len_ > 0
  bool in_header_ = true;     // before the empty line ending the header section
};

enum class DataStatus {
  need_more,  // feed more
  done,       // the terminating CRLF.CRLF was consumed; see rejection()
  failed,     // max_stream_bytes passed: send rejection() and close the connection
};

// Reads the DATA phase: feed() it what arrives after the "354" reply until done().
class DataReader {
 public:
  explicit DataReader(const DataLimits& limits = {});

  // Consumes octets of `chunk` up to and including the final "." CRLF, and returns how many.
  // Anything after that (a pipelined next command) is left to the caller: when done,
  // consumed < chunk.size() is normal. Returns 0 once not need_more.
  // Never more than chunk.size(); any split of the same stream gives the same result.
  size_t feed(std::string_view chunk);

  DataStatus status() const noexcept { return status_; }
  bool done() const noexcept { return status_ == DataStatus::done; }
  // done: nullopt when the message may be accepted, else the reply to the final dot.
  // failed: the reply to send before closing. need_more: the problem found so far, if any.
  const std::optional<Reply>& rejection() const noexcept;
  // The dot-unstuffed message, CRLF line ends, ending with the CRLF before the final dot.
  // Complete only when done() and !rejection(); empty once rejected.
  const std::string& message() const noexcept { return builder_.message(); }
  std::string take_message() { return builder_.take_message(); }
  // See MessageBuilder.
  void spill_to(SpoolFactory open, uint64_t threshold) { builder_.spill_to(std::move(open), threshold); }
  bool spilled() const noexcept { return builder_.spilled(); }
  std::unique_ptr<Spool> take_spool() { return builder_.take_spool(); }
  uint64_t message_size() const noexcept { return builder_.size(); }
  size_t header_fields() const noexcept { return builder_.header_fields(); }
  // Wire octets consumed by this DATA so far.
  uint64_t consumed() const noexcept { return consumed_; }
  // Ready for the next DATA.
  void reset();

 private:
  enum class State { bol, mid, cr, dot, dot_cr };
  void bad(std::string text);

  // Constant after construction
  const uint64_t stream_limit_;

  MessageBuilder builder_;
  State state_ = State::bol;  // the CRLF ending the DATA command counts as a line end
  DataStatus status_ = DataStatus::need_more;
  std::optional<Reply> failure_;
  uint64_t consumed_ = 0;
};

// Accumulates the chunks of a BDAT transaction. The session reads exactly chunk_size
// octets for each BDAT (BDAT has no terminator to find) and hands them here, in one call
// or in pieces; after the LAST chunk, rejection() decides the reply.
class BdatReader {
 public:
  // `binary`: MAIL had BODY=BINARYMIME.
  explicit BdatReader(const DataLimits& limits = {}, bool binary = false);

  // Appends octets of a BDAT chunk (any part of it; in order).
  void append_chunk(std::string_view bytes) { builder_.append(bytes); }
  // A chunk of `chunk_size` more octets would pass max_message_bytes. The session may then
  // reply 552 5.3.4 at once, but must still read (and discard) the chunk's octets.
  bool would_exceed(uint64_t chunk_size) const noexcept;

  const std::optional<Reply>& rejection() const noexcept { return builder_.rejection(); }
  const std::string& message() const noexcept { return builder_.message(); }
  std::string take_message() { return builder_.take_message(); }
  // See MessageBuilder.
  void spill_to(SpoolFactory open, uint64_t threshold) { builder_.spill_to(std::move(open), threshold); }
  bool spilled() const noexcept { return builder_.spilled(); }
  std::unique_ptr<Spool> take_spool() { return builder_.take_spool(); }
  uint64_t message_size() const noexcept { return builder_.size(); }
  size_t header_fields() const noexcept { return builder_.header_fields(); }
  void reset() { builder_.reset(); }

 private:
  const uint64_t max_message_bytes_;
  MessageBuilder builder_;
};

}  // namespace caremail::smtp

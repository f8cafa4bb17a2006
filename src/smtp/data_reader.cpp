#include "smtp/data_reader.hpp"

#include <algorithm>
#include <cstring>
#include <utility>

namespace caremail::smtp {

namespace {

// Problems the builder finds, in the order that wins when two happen at the same octet.
enum class Problem { none, size, line, header_bytes, header_fields, nul };

Reply reply_for(Problem p, const DataLimits& l) {
  switch (p) {
    case Problem::size:
      return Reply{552, "5.3.4",
                   "Message too large (limit " + std::to_string(l.max_message_bytes) +
                       " octets)"};
    case Problem::line:
      return Reply{500, "5.5.6",
                   "Line too long (limit " + std::to_string(l.max_line) + " octets)"};
    case Problem::header_bytes:
      return Reply{554, "5.6.0",
                   "Message header section too large (limit " +
                       std::to_string(l.max_header_bytes) + " octets)"};
    case Problem::header_fields:
      return Reply{554, "5.6.0",
                   "Too many header fields (limit " + std::to_string(l.max_headers) + ")"};
    case Problem::nul:
      return Reply{550, "5.6.0", "NUL character in message"};
    case Problem::none:
      break;
  }
  return Reply{451, "4.3.0", "internal error"};  // unreachable
}

}  // namespace

// ---- MessageBuilder -------------------------------------------------------------------

MessageBuilder::MessageBuilder(const DataLimits& limits, bool binary)
    : limits_(limits), binary_(binary) {}

void MessageBuilder::reset() {
  std::string().swap(message_);
  spool_.reset();
  rejection_.reset();
  size_ = 0;
  header_bytes_ = 0;
  header_fields_ = 0;
  line_len_ = 0;
  line_first_ = 0;
  in_header_ = true;
}

std::string MessageBuilder::take_message() {
  std::string out = std::move(message_);
  std::string().swap(message_);
  return out;
}

void MessageBuilder::reject(Reply reply) {
  if (rejection_) return;
  rejection_ = std::move(reply);
  std::string().swap(message_);  // free it now: a rejected message is never stored
  spool_.reset();
}

void MessageBuilder::grow(size_t needed) {
  if (needed <= message_.capacity()) return;
  // Grow geometrically but never past the limit. std::string::reserve may double on its
  // own (libstdc++ does), so build the new buffer from empty where reserve is exact.
  size_t cap = std::max(message_.capacity() * 2, size_t{4096});
  cap = std::max(needed, std::min<size_t>(cap, limits_.max_message_bytes));
  std::string bigger;
  bigger.reserve(cap);
  bigger.append(message_);
  message_.swap(bigger);
}

void MessageBuilder::append(std::string_view bytes) {
  uint64_t before = size_;
  size_ += bytes.size();
  if (rejection_ || bytes.empty()) return;

  // Find the earliest octet at which a limit is passed, so that how the stream was split
  // never changes which problem is reported.
  size_t at = bytes.size();
  Problem problem = Problem::none;
  auto found = [&](size_t pos, Problem p) {
    if (pos < at || (pos == at && p < problem)) {
      at = pos;
      problem = p;
    }
  };
  if (size_ > limits_.max_message_bytes) {
    found(static_cast<size_t>(before >= limits_.max_message_bytes
                                  ? 0
                                  : limits_.max_message_bytes - before),
          Problem::size);
  }

  const char* data = bytes.data();
  size_t pos = 0;
  // Line and header state advance only over octets before `at`.
  while (pos < bytes.size() && pos < at) {
    const void* lf = std::memchr(data + pos, '\n', bytes.size() - pos);
    size_t end = lf ? static_cast<size_t>(static_cast<const char*>(lf) - data) + 1 : bytes.size();
    size_t len = end - pos;
    if (!binary_) {
      if (const void* nul = std::memchr(data + pos, '\0', len))
        found(static_cast<size_t>(static_cast<const char*>(nul) - data), Problem::nul);
      if (line_len_ + len > limits_.max_line) found(pos + (limits_.max_line - line_len_), Problem::line);
    }
    if (in_header_ && header_bytes_ + len > limits_.max_header_bytes)
      found(pos + static_cast<size_t>(limits_.max_header_bytes - header_bytes_),
            Problem::header_bytes);
    if (lf && in_header_) {
      // Field counting happens at the line's LF (end - 1).
      size_t before_lf = line_len_ + len - 1;
      char first = line_len_ ? line_first_ : data[pos];
      bool blank = before_lf == 0 || (before_lf == 1 && first == '\r');
      if (!blank && first != ' ' && first != '\t' && header_fields_ + 1 > limits_.max_headers)
        found(end - 1, Problem::header_fields);
    }
    if (at < end) break;  // a problem inside this line: stop; it is final

    if (line_len_ == 0) line_first_ = data[pos];
    if (in_header_) header_bytes_ += len;
    if (lf) {
      size_t before_lf = line_len_ + len - 1;
      if (in_header_) {
        if (before_lf == 0 || (before_lf == 1 && line_first_ == '\r')) in_header_ = false;
        else if (line_first_ != ' ' && line_first_ != '\t') ++header_fields_;
      }
      line_len_ = 0;
    } else {
      line_len_ += len;
    }
    pos = end;
  }

  if (problem != Problem::none) {
    reject(reply_for(problem, limits_));
    return;
  }
  store(bytes);
}

void MessageBuilder::store(std::string_view bytes) {
  if (!spool_ && open_spool_ && message_.size() + bytes.size() > spill_threshold_) {
    spool_ = open_spool_();
    bool moved = spool_ && spool_->write(message_);
    std::string().swap(message_);
    if (!moved) {
      reject(Reply{452, "4.3.1", "Insufficient system storage for the message, try again later"});
      return;
    }
  }
  if (spool_) {
    if (!spool_->write(bytes))
      reject(Reply{452, "4.3.1", "Insufficient system storage for the message, try again later"});
    return;
  }
  grow(message_.size() + bytes.size());
  message_.append(bytes);
}

// ---- DataReader ------------------------------------------------------------------------

DataReader::DataReader(const DataLimits& limits)
    : stream_limit_(std::max(limits.max_stream_bytes,
                             limits.max_message_bytes > UINT64_MAX / 2 ? UINT64_MAX
                                                                       : limits.max_message_bytes * 2)),
      builder_(limits, false) {}

void DataReader::reset() {
  builder_.reset();
  state_ = State::bol;
  status_ = DataStatus::need_more;
  failure_.reset();
  consumed_ = 0;
}

const std::optional<Reply>& DataReader::rejection() const noexcept {
  return failure_ ? failure_ : builder_.rejection();
}

void DataReader::bad(std::string text) {
  builder_.reject(Reply{550, "5.6.0", std::move(text)});
}

size_t DataReader::feed(std::string_view chunk) {
  if (status_ != DataStatus::need_more) return 0;
  size_t limit = chunk.size();
  bool cut = false;
  if (limit > stream_limit_ - consumed_) {
    limit = static_cast<size_t>(stream_limit_ - consumed_);
    cut = true;
  }
  const char* p = chunk.data();
  size_t i = 0;
  size_t run = 0;  // start of the octets not yet handed to the builder
  // Hand [run, to) to the builder. Before a problem at octet i, everything before i goes
  // first, so the builder's own earlier problems win whatever the split.
  auto flush = [&](size_t to) {
    if (to > run) builder_.append(std::string_view(p + run, to - run));
    run = to;
  };

  while (i < limit) {
    switch (state_) {
      case State::mid: {
        // The hot loop: most octets are neither CR nor LF.
        while (i < limit && p[i] != '\r' && p[i] != '\n') ++i;
        if (i == limit) break;
        if (p[i] == '\r') {
          state_ = State::cr;
        } else {
          flush(i);
          bad("Bare LF in message: lines must end with CRLF");
        }
        ++i;
        break;
      }
      case State::cr:
        if (p[i] == '\n') {
          state_ = State::bol;
          ++i;
        } else {
          flush(i);
          bad("Bare CR in message: lines must end with CRLF");
          state_ = State::mid;  // look at this octet again as ordinary text
        }
        break;
      case State::bol:
        if (p[i] == '.') {
          flush(i);
          run = i + 1;  // the leading dot is stuffing (or the end): never part of the message
          state_ = State::dot;
          ++i;
        } else {
          state_ = State::mid;
        }
        break;
      case State::dot:
        if (p[i] == '\r') {
          run = i + 1;  // held back: part of the terminator if LF follows
          state_ = State::dot_cr;
          ++i;
        } else {
          state_ = State::mid;  // ".x": the dot was stuffing; x is ordinary text
        }
        break;
      case State::dot_cr:
        if (p[i] == '\n') {
          ++i;
          consumed_ += i;
          status_ = DataStatus::done;
          return i;
        }
        flush(i);
        bad("Bare CR in message: lines must end with CRLF");
        state_ = State::mid;
        break;
    }
  }
  flush(limit);
  consumed_ += limit;
  if (cut) {
    status_ = DataStatus::failed;
    failure_ = Reply{552, "5.3.4",
                     "Too much data (stopped after " + std::to_string(stream_limit_) +
                         " octets); closing connection"};
  }
  return limit;
}

// ---- BdatReader ------------------------------------------------------------------------

BdatReader::BdatReader(const DataLimits& limits, bool binary)
    : max_message_bytes_(limits.max_message_bytes), builder_(limits, binary) {}

bool BdatReader::would_exceed(uint64_t chunk_size) const noexcept {
  uint64_t size = builder_.size();
  return size > max_message_bytes_ || chunk_size > max_message_bytes_ - size;
}

}  // namespace caremail::smtp

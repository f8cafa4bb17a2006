// BDAT (RFC 3030 CHUNKING)
//   bdat = "BDAT" SP chunk-size [ SP "LAST" ] CRLF  chunk-size octets follow at once
// Needs MAIL and a recipient. Every chunk is read in full even when the transaction is
// doomed (no recipient, too large), because the octets are already on their way; then the
// error is the reply to that BDAT. LAST completes the message like the final dot of DATA.
#include "common/log.hpp"
#include "smtp/session.hpp"

namespace caremail::smtp {

namespace {

// Reads and hands over (or discards, when `sink` is null) exactly `n` octets.
boost::asio::awaitable<bool> read_chunk(Session& s, uint64_t n, BdatReader* sink) {
  auto& stream = s.stream();
  while (n > 0) {
    if (stream.peek().empty()) {
      auto st = co_await stream.read_more(s.data_timeout());
      if (st != net::ReadStatus::ok) co_return false;
    }
    size_t take = static_cast<size_t>(std::min<uint64_t>(n, stream.peek().size()));
    if (sink) sink->append_chunk(stream.peek().substr(0, take));
    stream.consume(take);
    n -= take;
  }
  co_return true;
}

}  // namespace

boost::asio::awaitable<void> cmd_bdat(Session& s, Command& c) {
  const char* refusal = nullptr;
  if (!s.in_transaction()) refusal = "Send MAIL first";
  else if (s.txn().rcpts.empty()) refusal = "No valid recipients";
  if (refusal) {
    bool read = co_await read_chunk(s, c.chunk_size, nullptr);
    if (!read) {
      s.close_after_reply();
      co_return;
    }
    s.reply(503, "5.5.1", refusal);
    s.error_counted();
    co_return;
  }
  Transaction& t = s.txn();
  if (!t.bdat) {
    t.bdat.emplace(s.data_limits(), false);
    spill_large_messages(s, *t.bdat);
  }
  bool over = t.bdat->would_exceed(c.chunk_size);
  bool read = co_await read_chunk(s, c.chunk_size, over ? nullptr : &*t.bdat);
  if (!read) {
    log::info("smtp.data_aborted", {{"session", s.peer().id}, {"queue_id", t.queue_id}});
    s.close_after_reply();
    co_return;
  }
  if (over) {
    s.reply(552, "5.3.4", "Message size exceeds the limit of " +
                              std::to_string(s.config().quota.max_message_bytes) + " bytes");
    s.reset_transaction();
    co_return;
  }
  if (!c.last) {
    s.reply(250, "2.0.0", "Ok: " + std::to_string(c.chunk_size) + " octets received");
    co_return;
  }
  if (t.bdat->rejection()) {
    s.reply(*t.bdat->rejection());
    s.reset_transaction();
    co_return;
  }
  std::optional<ReceivedMessage> message = take_received(*t.bdat);
  co_await finish_message(s, std::move(message));
}

}  // namespace caremail::smtp

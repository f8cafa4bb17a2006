// DATA (RFC 5321 4.1.1.4)
//   data = "DATA" CRLF  ->  354  ->  message lines, dot-stuffed  ->  CRLF "." CRLF
// Needs MAIL and at least one accepted RCPT; not after BDAT. The message is read by
// DataReader: only CRLF.CRLF ends it; bare CR or LF anywhere rejects the message (SMTP
// smuggling) while still reading to the real end, so the session stays in step; a message
// past a limit is counted, not held, and refused at the end. A message past
// smtp.spool_threshold_bytes is written to a spool file as it arrives, not held.
#include "common/log.hpp"
#include "smtp/session.hpp"

namespace caremail::smtp {

boost::asio::awaitable<void> cmd_data(Session& s, Command&) {
  if (!s.in_transaction()) {
    s.reply(503, "5.5.1", "Send MAIL first");
    s.error_counted();
    co_return;
  }
  Transaction& t = s.txn();
  if (t.bdat) {
    s.reply(503, "5.5.1", "DATA is not allowed after BDAT");
    s.error_counted();
    co_return;
  }
  if (t.rcpts.empty()) {
    s.reply(554, "5.5.1", "No valid recipients");
    s.error_counted();
    co_return;
  }
  s.reply(354, "", "End data with <CR><LF>.<CR><LF>");
  bool flushed = co_await s.flush();
  if (!flushed) {
    s.close_after_reply();
    co_return;
  }
  DataReader reader(s.data_limits());
  spill_large_messages(s, reader);
  auto& stream = s.stream();
  while (reader.status() == DataStatus::need_more) {
    if (stream.peek().empty()) {
      auto st = co_await stream.read_more(s.data_timeout());
      if (st != net::ReadStatus::ok) {
        log::info("smtp.data_aborted", {{"session", s.peer().id}, {"queue_id", t.queue_id},
                                        {"received", reader.consumed()}});
        if (st == net::ReadStatus::timeout) s.reply(421, "4.4.2", "Timeout while receiving the message");
        s.close_after_reply();
        co_return;
      }
    }
    stream.consume(reader.feed(stream.peek()));
  }
  if (reader.rejection()) {
    log::info("smtp.rejected", {{"session", s.peer().id}, {"queue_id", t.queue_id},
                                {"reason", reader.rejection()->text}, {"size", reader.message_size()}});
    s.reply(*reader.rejection());
    if (reader.status() == DataStatus::failed) s.close_after_reply();
    s.reset_transaction();
    co_return;
  }
  std::optional<ReceivedMessage> message = take_received(reader);
  co_await finish_message(s, std::move(message));
}

}  // namespace caremail::smtp

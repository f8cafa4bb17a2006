// IDLE (RFC 2177, RFC 9051 §6.3.13): after "+ idling" the session waits for either the
// client's DONE or a change notification for the account (ChangeFeed), and announces
// changes to the selected mailbox at once. A notification carries no data: the session
// syncs its view from the store, so a merged or early notification loses nothing.
#include <boost/asio/experimental/awaitable_operators.hpp>

#include "common/log.hpp"
#include "imap/session.hpp"

namespace caremail::imap {

namespace asio = boost::asio;

boost::asio::awaitable<void> cmd_idle(Session& s, Command& c) {
  using namespace asio::experimental::awaitable_operators;
  auto ex = co_await asio::this_coro::executor;
  auto wake = std::make_shared<asio::steady_timer>(ex, asio::steady_timer::time_point::max());
  auto pending = std::make_shared<bool>(false);
  // Runs on the notifying (worker) thread: hand over to the session's strand.
  auto on_change = [wake, pending, ex, dirty = s.dirty_flag()](AccountId) {
    dirty->store(true, std::memory_order_release);  // before the wake: the sync must look
    asio::post(ex, [wake, pending]() {
      *pending = true;
      wake->cancel();
    });
  };
  ChangeFeed::Subscription sub = s.shared().feed.subscribe(s.user->account_id, std::move(on_change));
  s.raw("+ idling\r\n");
  s.parser().expect_line();
  co_await s.sync(true);
  co_await search_updates(s);  // CONTEXT=SEARCH (cmd_search.cpp)
  bool flushed = co_await s.flush();
  if (!flushed) {
    s.close_after_reply();
    co_return;
  }
  for (;;) {
    if (*pending) {
      *pending = false;
      co_await s.sync(true);
      co_await search_updates(s);
      bool ok = co_await s.flush();
      if (!ok) {
        s.close_after_reply();
        co_return;
      }
      continue;
    }
    if (s.stream().has_buffered()) {
      size_t n = s.parser().feed(s.stream().peek());
      s.stream().consume(n);
    }
    auto st = s.parser().status();
    if (st == ParseStatus::done) {
      std::string line = s.parser().take_command().line;
      s.parser().next();
      if (is_idle_done(line))
        s.ok(c, "IDLE terminated");
      else
        s.bad(c, "Expected DONE to end IDLE");
      co_return;
    }
    if (st == ParseStatus::error) {
      bool close = s.parser().error().close_connection;
      s.parser().next();
      s.bad(c, "Line too long while idling");
      if (close) s.close_after_reply();
      co_return;
    }
    if (s.stream().has_buffered()) continue;
    auto read = s.stream().read_more(s.idle_timeout());
    auto wait = wake->async_wait(asio::as_tuple(asio::use_awaitable));
    auto race = std::move(read) || std::move(wait);
    auto result = co_await std::move(race);
    if (result.index() == 1) continue;  // woken by a change (or spuriously): loop looks at `pending`
    net::ReadStatus rs = std::get<0>(result);
    if (rs == net::ReadStatus::ok) continue;
    if (rs == net::ReadStatus::timeout) s.untagged("BYE Idle for too long, closing the connection");
    s.close_after_reply();
    co_return;
  }
}

}  // namespace caremail::imap

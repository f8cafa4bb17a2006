#include "net/deadline.hpp"

#include <gtest/gtest.h>

#include <exception>

namespace caremail::net {
namespace {

namespace asio = boost::asio;
using std::chrono::milliseconds;

// Runs `body` as a session does (throw_if_cancelled off), with a cancellation signal that
// `cancel_after` (when set) emits; fails the test if anything is thrown out of it.
template <class Body>
void run_session(Body body, std::optional<milliseconds> cancel_after = std::nullopt) {
  asio::io_context io;
  asio::cancellation_signal signal;
  std::exception_ptr thrown;
  bool done = false;
  auto session = [&]() -> asio::awaitable<void> {
    co_await asio::this_coro::throw_if_cancelled(false);
    co_await body();
  };
  asio::co_spawn(io, session(), asio::bind_cancellation_slot(signal.slot(), [&](std::exception_ptr e) {
                   thrown = e;
                   done = true;
                 }));
  asio::steady_timer canceller(io);
  if (cancel_after) {
    canceller.expires_after(*cancel_after);
    canceller.async_wait([&](boost::system::error_code) { signal.emit(asio::cancellation_type::terminal); });
  }
  io.run();
  EXPECT_TRUE(done);
  EXPECT_FALSE(thrown) << "an expected outcome was thrown instead of returned";
}

TEST(WithDeadline, TheOperationFinishingFirstGivesItsResult) {
  run_session([]() -> asio::awaitable<void> {
    asio::steady_timer quick(co_await asio::this_coro::executor);
    quick.expires_after(milliseconds(1));
    auto op = quick.async_wait(asio::deferred);
    auto r = co_await with_deadline(std::move(op), std::chrono::seconds(10));
    EXPECT_TRUE(r.has_value());
    if (r) {
      EXPECT_FALSE(std::get<0>(*r));
    }
  });
}

TEST(WithDeadline, TheDeadlinePassingFirstGivesNullopt) {
  run_session([]() -> asio::awaitable<void> {
    asio::steady_timer slow(co_await asio::this_coro::executor);
    slow.expires_after(std::chrono::seconds(10));
    auto op = slow.async_wait(asio::deferred);
    auto r = co_await with_deadline(std::move(op), milliseconds(1));
    EXPECT_FALSE(r.has_value());
  });
}

TEST(WithDeadline, CancellationFromOutsideIsOperationAbortedNotAnException) {
  run_session(
      []() -> asio::awaitable<void> {
        asio::steady_timer slow(co_await asio::this_coro::executor);
        slow.expires_after(std::chrono::seconds(10));
        auto op = slow.async_wait(asio::deferred);
        auto r = co_await with_deadline(std::move(op), std::chrono::seconds(10));
        EXPECT_TRUE(r.has_value()) << "a cancellation is not a timeout";
        if (r) {
          EXPECT_EQ(std::get<0>(*r), asio::error::operation_aborted);
        }
        // The session goes on: it can reset the state and still write its goodbye.
        co_await asio::this_coro::reset_cancellation_state();
        asio::steady_timer after(co_await asio::this_coro::executor);
        after.expires_after(milliseconds(1));
        auto [ec] = co_await after.async_wait(asio::as_tuple(asio::use_awaitable));
        EXPECT_FALSE(ec);
      },
      milliseconds(5));
}

}  // namespace
}  // namespace caremail::net

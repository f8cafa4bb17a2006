// Runs an awaitable against a deadline: the one that finishes first wins and the other is
// cancelled. Unlike beast::tcp_stream's timeouts this never closes the socket, so a session
// can still send its goodbye ("421 ... timeout") after a read timed out.
#pragma once

#include <chrono>
#include <optional>

#include <boost/asio.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>

namespace caremail::net {

// nullopt when the deadline passed first. `op` must be an awaitable; every awaitable here is
// a named local, never a temporary inside the co_await expression (GCC 12, see
// docs/CONTRIBUTING.md).
template <class T>
boost::asio::awaitable<std::optional<T>> with_deadline(boost::asio::awaitable<T> op,
                                                      std::chrono::steady_clock::duration timeout) {
  using namespace boost::asio::experimental::awaitable_operators;
  boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor);
  timer.expires_after(timeout);
  auto wait = timer.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
  auto race = std::move(op) || std::move(wait);
  auto result = co_await std::move(race);
  if (result.index() == 1) co_return std::nullopt;
  co_return std::optional<T>(std::move(std::get<0>(result)));
}

}  // namespace caremail::net

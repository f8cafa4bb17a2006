// Runs an asynchronous operation against a deadline: the one that finishes first wins and
// the other is cancelled. Unlike beast::tcp_stream's timeouts this never closes the socket,
// so a session can still send its goodbye ("421 ... timeout") after a read timed out.
#pragma once

#include <chrono>
#include <optional>
#include <tuple>
#include <type_traits>
#include <utility>

#include <boost/asio.hpp>
#include <boost/asio/experimental/parallel_group.hpp>

namespace caremail::net {

namespace deadline_detail {

template <class Signature>
struct Results;
template <class... Args>
struct Results<void(Args...)> {
  using type = std::tuple<std::decay_t<Args>...>;
};

// The operation's own results: the group's completion is (order, op's results..., timer's error).
template <class Result, class All, size_t... I>
Result op_results(All& all, std::index_sequence<I...>) {
  return Result(std::move(std::get<I + 1>(all))...);
}

}  // namespace deadline_detail

// `op` is a deferred operation (`sock.async_read_some(buf, asio::deferred)`); the result is
// its completion values as a tuple (error code first), or nullopt when the deadline passed
// first. Cancellation from outside (shutdown, a racing IDLE notification) is a value too:
// the operation completes with operation_aborted, nothing is thrown (STYLE.md, "Three kinds
// of failure"). Name `op` before the co_await, never a temporary inside it (GCC 12, see
// docs/CONTRIBUTING.md).
template <class Op>
auto with_deadline(Op op, std::chrono::steady_clock::duration timeout)
    -> boost::asio::awaitable<
        std::optional<typename deadline_detail::Results<boost::asio::completion_signature_of_t<Op>>::type>> {
  namespace asio = boost::asio;
  using Result = typename deadline_detail::Results<asio::completion_signature_of_t<Op>>::type;
  asio::steady_timer timer(co_await asio::this_coro::executor);
  timer.expires_after(timeout);
  auto group = asio::experimental::make_parallel_group(std::move(op), timer.async_wait(asio::deferred));
  auto wait = group.async_wait(asio::experimental::wait_for_one(), asio::as_tuple(asio::use_awaitable));
  auto all = co_await std::move(wait);
  const auto& order = std::get<0>(all);
  const boost::system::error_code& timer_ec = std::get<std::tuple_size_v<decltype(all)> - 1>(all);
  // The timer won only if it expired; aborted by an outside cancellation, the operation was
  // cancelled too and its operation_aborted is the answer.
  if (order[0] == 1 && !timer_ec) co_return std::nullopt;
  co_return deadline_detail::op_results<Result>(all, std::make_index_sequence<std::tuple_size_v<Result>>{});
}

}  // namespace caremail::net

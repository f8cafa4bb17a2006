// The one wall clock: seconds since the Unix epoch (UnixTime), as the store keeps them.
//
// Every rule that depends on the date reads the time through a Clock given to the service
// (or store) that applies it: the hourly sending window (MailService), expiry of tokens,
// sessions, passwords and lockouts and the account life cycle (the identity services,
// through IdentityContext::clock), the outbound queue's retries and the store's time
// stamps. caremaild gives them all the system clock; tests give them a TestClock and move
// time instead of waiting (STYLE.md, "Hermetic").
// Durations measured on one machine (deadlines, latency metrics) use
// std::chrono::steady_clock instead, which never jumps.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <type_traits>
#include <utility>

namespace caremail {

// A source of the current time. Copyable and cheap; a default-constructed Clock is the
// system's clock. Thread-safe when its source is (both below are).
class Clock {
 public:
  Clock();
  // Any callable returning seconds since the epoch (tests: `[&] { return t; }`).
  template <class F>
    requires(std::is_invocable_r_v<int64_t, F&> && !std::is_same_v<std::remove_cvref_t<F>, Clock>)
  Clock(F f) : now_(std::move(f)) {}

  int64_t now() const { return now_(); }
  int64_t operator()() const { return now_(); }

 private:
  std::function<int64_t()> now_;
};

// The system's wall clock, read once.
int64_t system_now();

// A clock for tests: it stands at `start` and moves only when told. Thread-safe.
// REQUIRES: the TestClock outlives every Clock made by clock().
class TestClock {
 public:
  explicit TestClock(int64_t start) : now_(start) {}
  TestClock(const TestClock&) = delete;
  TestClock& operator=(const TestClock&) = delete;

  int64_t now() const { return now_.load(); }
  void set(int64_t t) { now_.store(t); }
  void advance(int64_t seconds) { now_.fetch_add(seconds); }
  Clock clock() const {
    return Clock([this] { return now(); });
  }

 private:
  std::atomic<int64_t> now_;
};

}  // namespace caremail

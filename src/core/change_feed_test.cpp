// Tests for ChangeFeed: RAII subscriptions, per-account delivery, re-entrancy from
// callbacks, and concurrent notify.
#include "core/change_feed.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <optional>
#include <thread>
#include <vector>

namespace caremail {
namespace {

TEST(ChangeFeed, SubscribeNotifyUnsubscribeByScope) {
  ChangeFeed feed;
  std::vector<AccountId> got;
  {
    auto sub = feed.subscribe(7, [&](AccountId a) { got.push_back(a); });
    EXPECT_EQ(feed.subscribers(7), 1u);
    feed.notify(7);
    feed.notify(7);
    EXPECT_EQ(got, (std::vector<AccountId>{7, 7}));
  }
  EXPECT_EQ(feed.subscribers(7), 0u);
  feed.notify(7);  // nobody listens any more
  EXPECT_EQ(got.size(), 2u);
}

TEST(ChangeFeed, OtherAccountsAreNotNotified) {
  ChangeFeed feed;
  int a = 0, b = 0, b2 = 0;
  auto sa = feed.subscribe(1, [&](AccountId id) { EXPECT_EQ(id, 1); ++a; });
  auto sb = feed.subscribe(2, [&](AccountId id) { EXPECT_EQ(id, 2); ++b; });
  auto sb2 = feed.subscribe(2, [&](AccountId) { ++b2; });
  EXPECT_EQ(feed.subscribers(2), 2u);
  feed.notify(1);
  EXPECT_EQ(a, 1);
  EXPECT_EQ(b, 0);
  feed.notify(2);
  EXPECT_EQ(a, 1);
  EXPECT_EQ(b, 1);
  EXPECT_EQ(b2, 1);
  feed.notify(3);
  EXPECT_EQ(a + b + b2, 3);
  sb.reset();  // only that one goes
  feed.notify(2);
  EXPECT_EQ(b, 1);
  EXPECT_EQ(b2, 2);
  EXPECT_EQ(feed.subscribers(2), 1u);
}

TEST(ChangeFeed, MovedSubscriptionStaysSubscribedOnce) {
  ChangeFeed feed;
  int n = 0;
  ChangeFeed::Subscription outer;
  {
    auto inner = feed.subscribe(5, [&](AccountId) { ++n; });
    outer = std::move(inner);
  }  // the moved-from one must not unsubscribe
  EXPECT_EQ(feed.subscribers(5), 1u);
  feed.notify(5);
  EXPECT_EQ(n, 1);
  ChangeFeed::Subscription third(std::move(outer));
  EXPECT_EQ(feed.subscribers(5), 1u);
  // Assigning over a live subscription drops the old one.
  third = feed.subscribe(5, [&](AccountId) { n += 100; });
  EXPECT_EQ(feed.subscribers(5), 1u);
  feed.notify(5);
  EXPECT_EQ(n, 101);
  third.reset();
  third.reset();  // twice is harmless
  EXPECT_EQ(feed.subscribers(5), 0u);
}

TEST(ChangeFeed, SubscribeAndUnsubscribeFromInsideACallbackDoNotDeadlock) {
  ChangeFeed feed;
  std::vector<ChangeFeed::Subscription> added;
  int later = 0;
  std::optional<ChangeFeed::Subscription> self;
  int self_calls = 0;
  auto sub = feed.subscribe(1, [&](AccountId) {
    // Runs on the notifying thread; the feed's lock must not be held here.
    added.push_back(feed.subscribe(1, [&](AccountId) { ++later; }));
    EXPECT_GE(feed.subscribers(1), 2u);
  });
  self = feed.subscribe(1, [&](AccountId) {
    ++self_calls;
    self->reset();  // unsubscribes itself while being called
  });
  feed.notify(1);
  EXPECT_EQ(self_calls, 1);
  EXPECT_EQ(later, 0);  // added during this notify: called from the next one
  EXPECT_EQ(added.size(), 1u);
  EXPECT_EQ(feed.subscribers(1), 2u);  // sub + the one it added; self is gone
  feed.notify(1);
  EXPECT_EQ(self_calls, 1);
  EXPECT_EQ(later, 1);
  EXPECT_EQ(added.size(), 2u);
  added.clear();
  EXPECT_EQ(feed.subscribers(1), 1u);
}

TEST(ChangeFeed, ConcurrentNotifyFromEightThreads) {
  ChangeFeed feed;
  constexpr int kThreads = 8, kPerThread = 2000;
  std::atomic<int> on_1{0}, on_2{0}, churn_calls{0};
  auto s1 = feed.subscribe(1, [&](AccountId) { on_1.fetch_add(1, std::memory_order_relaxed); });
  auto s2 = feed.subscribe(2, [&](AccountId) { on_2.fetch_add(1, std::memory_order_relaxed); });
  std::atomic<bool> stop{false};
  // Subscriptions come and go on account 1 while notifications fly.
  std::thread churn([&] {
    while (!stop.load()) {
      auto s = feed.subscribe(1, [&](AccountId) { churn_calls.fetch_add(1, std::memory_order_relaxed); });
      std::this_thread::yield();
    }
  });
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t)
    ts.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) feed.notify(t % 2 == 0 ? 1 : 2);
    });
  for (auto& t : ts) t.join();
  stop = true;
  churn.join();
  EXPECT_EQ(on_1.load(), kThreads / 2 * kPerThread);
  EXPECT_EQ(on_2.load(), kThreads / 2 * kPerThread);
  EXPECT_EQ(feed.subscribers(1), 1u);
  EXPECT_EQ(feed.subscribers(2), 1u);
}

}  // namespace
}  // namespace caremail

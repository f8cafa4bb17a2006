// In-process change notification: after a write commits, the core notifies every
// subscriber of the account that changed; subscribers (IMAP IDLE, JMAP push, webmail)
// then read the change log from their last sequence number. A notification carries no
// data, so a missed or merged notification loses nothing.
// Thread-safe. Callbacks run on the notifying thread and must not block.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "model/types.hpp"

namespace caremail {

class ChangeFeed {
 public:
  using Callback = std::function<void(AccountId)>;

  class Subscription {
   public:
    Subscription() = default;
    Subscription(ChangeFeed* f, AccountId a, uint64_t id) : feed_(f), account_(a), id_(id) {}
    Subscription(Subscription&& o) noexcept { *this = std::move(o); }
    Subscription& operator=(Subscription&& o) noexcept {
      reset();
      feed_ = o.feed_;
      account_ = o.account_;
      id_ = o.id_;
      o.feed_ = nullptr;
      return *this;
    }
    ~Subscription() { reset(); }
    void reset() {
      if (feed_) feed_->unsubscribe(account_, id_);
      feed_ = nullptr;
    }

   private:
    ChangeFeed* feed_ = nullptr;
    AccountId account_ = 0;
    uint64_t id_ = 0;
  };

  // REQUIRES: the feed outlives the subscription.
  [[nodiscard]] Subscription subscribe(AccountId account, Callback cb);
  void notify(AccountId account);
  size_t subscribers(AccountId account) const;

 private:
  void unsubscribe(AccountId account, uint64_t id);

  mutable std::mutex mu_;
  uint64_t next_id_ = 1;  // guarded by mu_
  std::unordered_multimap<AccountId, std::pair<uint64_t, std::shared_ptr<Callback>>> subs_;  // guarded by mu_
};

}  // namespace caremail

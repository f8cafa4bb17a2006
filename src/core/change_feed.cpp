#include "core/change_feed.hpp"

#include <vector>

namespace caremail {

ChangeFeed::Subscription ChangeFeed::subscribe(AccountId account, Callback cb) {
  std::lock_guard lk(mu_);
  uint64_t id = next_id_++;
  subs_.emplace(account, std::make_pair(id, std::make_shared<Callback>(std::move(cb))));
  return Subscription(this, account, id);
}

void ChangeFeed::unsubscribe(AccountId account, uint64_t id) {
  std::lock_guard lk(mu_);
  auto [b, e] = subs_.equal_range(account);
  for (auto it = b; it != e; ++it)
    if (it->second.first == id) {
      subs_.erase(it);
      return;
    }
}

void ChangeFeed::notify(AccountId account) {
  // Copy out under the lock, call outside it: a callback may subscribe or unsubscribe.
  std::vector<std::shared_ptr<Callback>> cbs;
  {
    std::lock_guard lk(mu_);
    auto [b, e] = subs_.equal_range(account);
    for (auto it = b; it != e; ++it) cbs.push_back(it->second.second);
  }
  for (auto& cb : cbs) (*cb)(account);
}

size_t ChangeFeed::subscribers(AccountId account) const {
  std::lock_guard lk(mu_);
  return subs_.count(account);
}

}  // namespace caremail

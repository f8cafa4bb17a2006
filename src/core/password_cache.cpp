#include "core/password_cache.hpp"

#include <string>

#include <sodium.h>

#include "common/metrics.hpp"
#include "crypto/crypto.hpp"

namespace caremail {

namespace {

metrics::Counter& hits_total() {
  static auto& c = metrics::counter("caremail_auth_password_cache_hits_total",
                                    "Logins whose password matched a recently verified one (no Argon2id check)");
  return c;
}

}  // namespace

PasswordCache::PasswordCache(int ttl_seconds, size_t max_entries) : ttl_(ttl_seconds), max_entries_(max_entries) {
  randombytes_buf(key_.data(), key_.size());
}

PasswordCache::Mac PasswordCache::mac_of(AccountId account, std::string_view phc, std::string_view password) const {
  // Length-prefixed fields, so that no two (phc, password) pairs hash the same input.
  std::string in;
  in.reserve(32 + phc.size() + password.size());
  in += std::to_string(account);
  in += ':';
  in += std::to_string(phc.size());
  in += ':';
  in += phc;
  in += password;
  Mac m = crypto::keyed_hash(key_, in);
  sodium_memzero(in.data(), in.size());
  return m;
}

bool PasswordCache::check(AccountId account, std::string_view phc, std::string_view password, UnixTime now) {
  if (ttl_ <= 0) return false;
  Mac m = mac_of(account, phc, password);
  std::lock_guard lock(mu_);
  auto it = entries_.find(account);
  if (it == entries_.end()) return false;
  if (it->second.expires <= now) {
    entries_.erase(it);
    return false;
  }
  if (sodium_memcmp(it->second.mac.data(), m.data(), m.size()) != 0) return false;
  ++hits_;
  hits_total().inc();
  return true;
}

void PasswordCache::remember(AccountId account, std::string_view phc, std::string_view password, UnixTime now) {
  if (ttl_ <= 0) return;
  Mac m = mac_of(account, phc, password);
  std::lock_guard lock(mu_);
  if (entries_.size() >= max_entries_ && !entries_.contains(account)) {
    std::erase_if(entries_, [now](const auto& kv) { return kv.second.expires <= now; });
    // Still full: drop an arbitrary entry (its owner pays one more full check).
    if (entries_.size() >= max_entries_) entries_.erase(entries_.begin());
  }
  entries_[account] = Entry{m, now + ttl_};
}

void PasswordCache::forget(AccountId account) {
  std::lock_guard lock(mu_);
  entries_.erase(account);
}

uint64_t PasswordCache::hits() const {
  std::lock_guard lock(mu_);
  return hits_;
}

}  // namespace caremail

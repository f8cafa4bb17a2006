// PasswordCache: remembers, for a short time, that a password verified for an account, so
// that clients which reconnect often (phones, desktop clients opening several IMAP
// connections) do not pay an Argon2id check (64 MiB, ~80 ms of CPU) on every connection.
// Dovecot's auth_cache does the same job.
//
// What is kept: per account, a keyed BLAKE2b hash of (the account's current password hash,
// the password), keyed with 32 random bytes made at start and never written anywhere, and
// an expiry. Never the password. Because the stored password hash is part of the MAC, a
// password change (or reset) invalidates the entry without any call; forget() drops it
// explicitly (lockout, disable). Failures are never cached: a wrong password always takes
// the full check. Bounded: at most `max_entries`, the expired ones dropped first.
//
// Thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <mutex>
#include <string_view>
#include <unordered_map>

#include "model/types.hpp"

namespace caremail {

class PasswordCache {
 public:
  // ttl_seconds 0: disabled (check() is always false, remember() does nothing).
  explicit PasswordCache(int ttl_seconds, size_t max_entries = 200000);

  // True when `password` verified for `account` against this very `phc` less than the TTL
  // ago. Comparison in constant time.
  bool check(AccountId account, std::string_view phc, std::string_view password, UnixTime now);
  // REQUIRES: `password` has just verified against `phc` for `account`.
  void remember(AccountId account, std::string_view phc, std::string_view password, UnixTime now);
  void forget(AccountId account);

  uint64_t hits() const;

 private:
  using Mac = std::array<unsigned char, 32>;
  struct Entry {
    Mac mac;
    UnixTime expires;
  };
  Mac mac_of(AccountId account, std::string_view phc, std::string_view password) const;

  const int ttl_;
  const size_t max_entries_;
  std::array<unsigned char, 32> key_;  // constant after construction
  mutable std::mutex mu_;
  std::unordered_map<AccountId, Entry> entries_;  // guarded by mu_
  uint64_t hits_ = 0;                             // guarded by mu_
};

}  // namespace caremail

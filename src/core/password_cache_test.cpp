// Tests for PasswordCache: what it remembers, for how long, and what makes it forget.
#include "core/password_cache.hpp"

#include <gtest/gtest.h>

#include "crypto/crypto.hpp"

namespace caremail {
namespace {

TEST(PasswordCache, RemembersOnlyThePasswordAndHashItVerified) {
  crypto::init();
  PasswordCache c(300);
  EXPECT_FALSE(c.check(1, "$argon2id$A", "secret one", 1000));
  c.remember(1, "$argon2id$A", "secret one", 1000);
  EXPECT_TRUE(c.check(1, "$argon2id$A", "secret one", 1000));
  EXPECT_TRUE(c.check(1, "$argon2id$A", "secret one", 1299));
  EXPECT_FALSE(c.check(1, "$argon2id$A", "secret onE", 1001));  // another password
  EXPECT_FALSE(c.check(1, "$argon2id$B", "secret one", 1001));  // the password was changed
  EXPECT_FALSE(c.check(2, "$argon2id$A", "secret one", 1001));  // another account
  EXPECT_EQ(c.hits(), 2u);
  EXPECT_FALSE(c.check(1, "$argon2id$A", "secret one", 1300));  // expired
  EXPECT_FALSE(c.check(1, "$argon2id$A", "secret one", 1001));  // and dropped
}

TEST(PasswordCache, ForgetAndDisabled) {
  crypto::init();
  PasswordCache c(300);
  c.remember(7, "h", "pw pw pw pw", 10);
  c.forget(7);
  EXPECT_FALSE(c.check(7, "h", "pw pw pw pw", 11));
  PasswordCache off(0);
  off.remember(7, "h", "pw pw pw pw", 10);
  EXPECT_FALSE(off.check(7, "h", "pw pw pw pw", 11));
}

TEST(PasswordCache, BoundedExpiredEntriesGoFirst) {
  crypto::init();
  PasswordCache c(100, /*max_entries=*/3);
  c.remember(1, "h", "p1", 0);    // expires at 100
  c.remember(2, "h", "p2", 50);   // 150
  c.remember(3, "h", "p3", 60);   // 160
  c.remember(4, "h", "p4", 120);  // full: 1 has expired and makes room
  EXPECT_TRUE(c.check(2, "h", "p2", 121));
  EXPECT_TRUE(c.check(3, "h", "p3", 121));
  EXPECT_TRUE(c.check(4, "h", "p4", 121));
  c.remember(5, "h", "p5", 121);  // full, none expired: one goes, the newest stays
  EXPECT_TRUE(c.check(5, "h", "p5", 122));
  int kept = c.check(2, "h", "p2", 122) + c.check(3, "h", "p3", 122) + c.check(4, "h", "p4", 122);
  EXPECT_EQ(kept, 2);
}

}  // namespace
}  // namespace caremail

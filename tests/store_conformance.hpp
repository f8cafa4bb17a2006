// The Store conformance suite: behaviour every metadata backend must show, written
// against the abstract caremail::Store interface only.
//
// A backend runs it by instantiating the value-parameterised suite in its own test file:
//
//   INSTANTIATE_TEST_SUITE_P(Sqlite, StoreConformance,
//                            ::testing::Values(StoreFactory{"sqlite", make_sqlite}),
//                            caremail::testing::factory_name);
//
// Each test gets a fresh, empty store made by the factory in a fresh temporary directory.
#pragma once

#include "temp_dir.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <memory>
#include <ostream>
#include <stdexcept>
#include <string>

#include "common/result.hpp"
#include "store/store.hpp"

struct StoreFactory {
  std::string name;
  // Returns a fresh, empty store that keeps its files (if any) under `dir`; nullptr on failure.
  std::function<std::unique_ptr<caremail::Store>(const std::filesystem::path& dir)> make;
};
// gtest prints the parameter by its name (rather than as raw bytes).
inline void PrintTo(const StoreFactory& f, std::ostream* os) { *os << f.name; }

namespace caremail::testing {

// A fresh directory under the system temp dir, removed (recursively) on destruction.

// "ok" or the error code's name: EXPECT_EQ(code_of(r), "already_exists") prints readably.
template <class R>
std::string code_of(const R& r) {
  return r.ok() ? std::string("ok") : std::string(to_string(r.error().code));
}

// Unwraps a Result or fails the current test (gtest reports the exception as a failure).
template <class T>
T must(Result<T> r, const char* what) {
  if (!r.ok())
    throw std::runtime_error(std::string(what) + " failed: " + std::string(to_string(r.error().code)) + ": " +
                             r.error().message);
  return std::move(r).value();
}
inline void must(const Status& s, const char* what) {
  if (!s.ok())
    throw std::runtime_error(std::string(what) + " failed: " + std::string(to_string(s.error().code)) + ": " +
                             s.error().message);
}

inline std::string factory_name(const ::testing::TestParamInfo<StoreFactory>& info) { return info.param.name; }

}  // namespace caremail::testing

#define MUST(expr) ::caremail::testing::must((expr), #expr)

class StoreConformance : public ::testing::TestWithParam<StoreFactory> {
 protected:
  void SetUp() override;
  void TearDown() override;

  caremail::Store& store() { return *store_; }

  // Fixtures for the cases: each one MUSTs, so a broken precondition fails loudly.
  caremail::Organisation make_org(const std::string& ods, std::vector<std::string> domains = {});
  caremail::Account make_account(const std::string& address, caremail::OrgId org, uint64_t quota = 0);
  // A message whose blob id is the SHA-256 of `content` and whose size is its length.
  static caremail::NewMessage message(const std::string& content, const std::string& subject = "");
  caremail::Mailbox mailbox(caremail::AccountId a, const std::string& name);
  caremail::Mailbox reload(const caremail::Mailbox& m);
  // Delivers to one mailbox (0 = INBOX) and returns the outcome, failing the test on error.
  caremail::Delivered deliver_one(const caremail::NewMessage& m, caremail::AccountId a, caremail::MailboxId mb = 0,
                                  uint32_t flags = 0);

  std::unique_ptr<caremail::testing::TempDir> dir_;
  std::unique_ptr<caremail::Store> store_;
};

// Test helper: an account created through AdminService as `by` (a national administrator),
// returned as the Principal it signs in as; a failure is a test failure.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/admin_service.hpp"

namespace caremail::testing {

inline Principal make_account(AdminService& admin, const Principal& by, const std::string& address,
                              const std::string& ods, const std::string& display_name,
                              std::vector<Role> roles = {Role::user}) {
  CreateAccountRequest r;
  r.address = address;
  r.ods_code = ods;
  r.display_name = display_name;
  r.roles = std::move(roles);
  auto a = admin.create_account(by, r);
  EXPECT_TRUE(a.ok()) << (a.ok() ? "" : a.error().message);
  return a.ok() ? Principal::of(*a) : Principal{};
}

}  // namespace caremail::testing

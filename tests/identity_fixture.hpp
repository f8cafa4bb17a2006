// Test helper: the identity services (core/identity_services.hpp) for a fixture, with a
// short name for each. Derive from it, call make_identity in SetUp and reset_identity in
// TearDown (before the store goes).
#pragma once

#include <memory>

#include "core/identity_services.hpp"

namespace caremail::testing {

class IdentityFixture {
 protected:
  // `clock`: the system's by default (a TestClock's for the time rules).
  void make_identity(Store& store, const Config& config, Clock clock = {}) {
    identity_ = std::make_unique<IdentityServices>(store, config, nullptr, std::move(clock));
    admin_ = &identity_->admin;
    auth_ = &identity_->auth;
    sessions_ = &identity_->sessions;
    self_service_ = &identity_->self_service;
    lifecycle_ = &identity_->lifecycle;
  }
  void reset_identity() { identity_.reset(); }

  std::unique_ptr<IdentityServices> identity_;
  AdminService* admin_ = nullptr;
  SignInService* auth_ = nullptr;
  SessionService* sessions_ = nullptr;
  SelfService* self_service_ = nullptr;
  LifecycleService* lifecycle_ = nullptr;
};

}  // namespace caremail::testing

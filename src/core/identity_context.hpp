// What the identity services share (AdminService, SignInService, SessionService,
// SelfService, LifecycleService; core/identity_services.hpp wires them): the store, the
// configuration, one clock, and whom they tell about a person's account and about changes
// the directory shows. Set the clock and the callbacks before the services are used.
#pragma once

#include <functional>
#include <string>

#include "common/clock.hpp"
#include "common/config.hpp"
#include "store/store.hpp"

namespace caremail {

// Delivers a plain-text message to `to`'s INBOX (lock notices, leaver and inactivity
// notices, password expiry reminders).
using Notifier = std::function<Status(const Account& to, std::string subject, std::string body)>;

struct IdentityContext {
  // REQUIRES: `store` and `config` outlive the context and every service using it.
  // `clock`: the system's by default (tests pass a TestClock's, or set `clock` later).
  IdentityContext(Store& s, const Config& c, Clock clock = {});

  Store& store;
  const Config& config;
  // The one clock every expiry, lockout and life-cycle rule reads (common/clock.hpp; tests
  // move it).
  Clock clock;
  // Tells a person about their account (locks, leaver, inactive); unset: nobody is told.
  Notifier notify;
  // Called with an account's id after every change that may show in the directory
  // (DirectoryService::refresh): creation, roles, names, state, organisation; and with the
  // directory ids (model/types.hpp) of the contacts and lists a closure moved.
  std::function<void(AccountId)> observer;

  UnixTime now() const { return clock.now(); }
  void changed(AccountId id) const {
    if (observer) observer(id);
  }
};

}  // namespace caremail

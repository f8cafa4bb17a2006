// The identity services wired together, for caremaild and the tests: one context (store,
// configuration, clock, notices, directory observer) and the five services over it.
// Nothing but construction: each service's contract is in its own header. Set
// context.clock, context.notify and context.observer, and auth.set_secret_key, before use.
#pragma once

#include <memory>

#include "core/admin_service.hpp"
#include "core/identity_context.hpp"
#include "core/lifecycle.hpp"
#include "core/self_service.hpp"
#include "core/sessions.hpp"
#include "core/sign_in.hpp"

namespace caremail {

struct IdentityServices {
  // `policy` null: the policy of `config` with the shipped common list only (tests).
  // REQUIRES: `store` and `config` outlive the services.
  // `clock`: the one clock the services read (the system's by default; tests pass a TestClock's).
  IdentityServices(Store& store, const Config& config, std::shared_ptr<const identity::PasswordPolicy> policy = nullptr,
                   Clock clock = {})
      : context(store, config, std::move(clock)),
        auth(context),
        admin(context, auth, std::move(policy)),
        sessions(context, auth),
        self_service(context, auth, admin),
        lifecycle(context, auth, admin) {}
  IdentityServices(const IdentityServices&) = delete;
  IdentityServices& operator=(const IdentityServices&) = delete;

  IdentityContext context;
  SignInService auth;            // passwords, tokens, lockout, app passwords, AUP
  AdminService admin;            // organisations, accounts, passwords, API tokens
  SessionService sessions;       // web sessions, MFA
  SelfService self_service;      // reset questions, self-service reset, account secret
  LifecycleService lifecycle;    // states, roles, aliases, quotas, closures
};

}  // namespace caremail

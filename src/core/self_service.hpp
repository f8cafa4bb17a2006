// SelfService: self-service reset and unlock, and the helpdesk's account secret
// (PRODUCT.md S4). No sign-in for the reset: the person proves who they are with their
// security questions or their authenticator; nobody learns from the answers whether an
// address exists. Blocking (Argon2id); thread-safe. Implementation: core/self_service.cpp.
#pragma once

#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/identity_context.hpp"
#include "core/principal.hpp"
#include "core/sign_in.hpp"

namespace caremail {

class AdminService;

// One of the three security questions a person sets for self-service reset.
struct SecurityQuestion {
  std::string question;
  std::string answer;  // hashed (Argon2id) after normalising case, spaces and punctuation
};

// A self-service reset or unlock (no sign-in): the three answers in the order the questions
// were given, or a code from the authenticator (TOTP or recovery code). With a new
// password: reset; without: unlock only.
struct SelfServiceReset {
  std::string address;
  std::vector<std::string> answers;
  std::string code;
  std::optional<std::string> new_password;
};

class SelfService {
 public:
  // REQUIRES: `ctx`, `sign_in` and `admin` (the password policy) outlive the service.
  SelfService(IdentityContext& ctx, SignInService& sign_in, AdminService& admin);
  SelfService(const SelfService&) = delete;
  SelfService& operator=(const SelfService&) = delete;

  Status set_security_questions(const Principal& by, std::vector<SecurityQuestion> qa);
  // The person's own questions (texts only); empty when none are set.
  Result<std::vector<std::string>> security_questions(const Principal& by);
  // The questions to ask someone resetting `address`: theirs, or three stable decoys for an
  // address without any (so the answer never says whether an account exists).
  std::vector<std::string> reset_questions(std::string_view address);
  // Errc::unauthenticated with the same message whether the address exists or not.
  Status self_service_reset(const SelfServiceReset& r, const AuthContext& ctx);
  Status set_account_secret(const Principal& by, std::string_view secret);
  // Helpdesk and administrators in scope check what a caller says against the person's
  // secret: true/false, audited; Errc::conflict when none is set.
  Result<bool> check_account_secret(const Principal& by, std::string_view address, std::string_view secret);

 private:
  UnixTime now() const { return ctx_.now(); }
  // Wrong self-service answers (and account-secret checks) per key within the lockout
  // window: true when the limit is reached. `add` records one more.
  bool reset_attempts_exhausted(const std::string& key, UnixTime t, bool add);

  IdentityContext& ctx_;
  Store& store_;
  const Config& config_;
  SignInService& sign_in_;
  AdminService& admin_;

  std::mutex mu_;
  std::unordered_map<std::string, std::deque<UnixTime>> reset_failures_;  // guarded by mu_
};

}  // namespace caremail

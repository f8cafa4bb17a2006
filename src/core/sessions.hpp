// SessionService: web and API sign-in sessions with a second factor, TOTP enrolment and
// the organisations' MFA policy (PRODUCT.md S4, S7). The password part of a session's
// sign-in is SignInService's. Blocking; thread-safe. Implementation: core/sessions.cpp.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/identity_context.hpp"
#include "core/principal.hpp"
#include "core/sign_in.hpp"

namespace caremail {

// A new sign-in session (web and API): the token goes into an HttpOnly cookie, the CSRF
// token into every state-changing request (X-CSRF-Token). Both shown once.
struct SessionStart {
  std::string token;
  std::string csrf_token;
  Principal principal;
  UnixTime idle_seconds = 0;
  UnixTime expires_at = 0;
  bool public_computer = false;
  std::string alert;
};

struct TotpEnrolment {
  std::string secret;       // base32, for typing into an authenticator app
  std::string otpauth_uri;  // for a QR code
};

class SessionService {
 public:
  // REQUIRES: `ctx` and `sign_in` outlive the service.
  SessionService(IdentityContext& ctx, SignInService& sign_in);
  SessionService(const SessionService&) = delete;
  SessionService& operator=(const SessionService&) = delete;

  // start_session: password (lockout etc. as SignInService::sign_in), then the second
  // factor when the account has one or must have one: `code` is a TOTP code or a recovery
  // code; without it the answer is Errc::unauthenticated with the message "second factor
  // required" (the API adds "mfa_required": true). A person who must use MFA and has not
  // set it up gets a session restricted to enrolling.
  // `public_computer`: the short idle limit (mfa.public_session_idle_seconds).
  Result<SessionStart> start_session(std::string_view address, std::string_view password, std::string_view code,
                                     bool public_computer, const AuthContext& ctx);
  // The Principal of a live session (restrictions recomputed each time). `csrf`: the token
  // the request carried when it changes anything (nullopt for reads). Ends idle and expired
  // sessions, and those of accounts no longer active or locked.
  Result<Principal> authenticate_session(std::string_view token, std::optional<std::string_view> csrf);
  Status end_session(std::string_view token);

  // TOTP enrolment by the person: begin (a new secret, not yet active), then confirm with a
  // code from the app, which turns it on and returns 10 recovery codes (shown once).
  Result<TotpEnrolment> begin_totp(const Principal& by);
  Result<std::vector<std::string>> confirm_totp(const Principal& by, std::string_view code);
  // Removes an account's second factor: the person (with a current code) or helpdesk and
  // administrators in scope (a lost phone; audited). Their sessions end.
  Status remove_mfa(const Principal& by, std::string_view address, std::string_view code = {},
                    const AuthContext& ctx = {});
  // An organisation's MFA policy: administrators of that organisation or national ones.
  // Networks in CIDR notation, at most 50.
  Status set_org_mfa_policy(const Principal& by, std::string_view ods_code, bool required,
                            std::vector<std::string> trusted_networks);

 private:
  UnixTime now() const { return ctx_.now(); }

  IdentityContext& ctx_;
  Store& store_;
  const Config& config_;
  SignInService& sign_in_;
};

}  // namespace caremail

// SessionService: sign-in sessions with a second factor, TOTP enrolment and the
// organisations' MFA policy (PRODUCT.md S4, S7). The contracts are in sessions.hpp.
#include "core/sessions.hpp"

#include <algorithm>
#include <chrono>

#include "common/cidr.hpp"
#include "common/json_text.hpp"
#include "common/log.hpp"
#include "core/audit.hpp"
#include "core/scope.hpp"
#include "crypto/crypto.hpp"
#include "identity/password_policy.hpp"
#include "identity/recovery_codes.hpp"
#include "identity/totp.hpp"

namespace caremail {

namespace {

constexpr std::string_view kSecondFactor = "second factor required";

}  // namespace

SessionService::SessionService(IdentityContext& ctx, SignInService& sign_in)
    : ctx_(ctx), store_(ctx.store), config_(ctx.config), sign_in_(sign_in) {}

Result<SessionStart> SessionService::start_session(std::string_view address, std::string_view password,
                                                 std::string_view code, bool public_computer,
                                                 const AuthContext& ctx_in) {
  AuthContext ctx = ctx_in;
  ctx.mail_client = false;
  ctx.starts_session = true;
  auto in = sign_in_.sign_in(address, password, ctx);
  if (!in) return in.error();
  auto acct = store_.account(in->principal.account_id);
  if (!acct) return acct.error();
  Principal p = in->principal;
  if (!in->app_password) {
    auto m = store_.mfa(acct->id);
    bool enabled = m && m->enabled;
    if (enabled) {
      if (code.empty()) return make_error(Errc::unauthenticated, std::string(kSecondFactor));
      if (Status s = sign_in_.check_second_factor(*acct, code, ctx); !s) return s.error();
      p.mfa = true;
    } else if (sign_in_.mfa_required(*acct, ctx.peer)) {
      p.mfa_enrolment_pending = true;
    }
  } else {
    // An app password is for mail clients; it never opens a session.
    return make_error(Errc::unauthenticated, "app passwords are for mail clients: sign in with your own password");
  }
  UnixTime t = now();
  sign_in_.record_login(*acct, t, ctx.peer);
  SessionStart out;
  out.token = "cms_" + crypto::random_token(32);
  out.csrf_token = crypto::random_token(24);
  out.public_computer = public_computer;
  out.idle_seconds = public_computer ? config_.mfa.public_session_idle_seconds : config_.mfa.session_idle_seconds;
  out.expires_at = t + config_.mfa.session_max_seconds;
  out.alert = in->alert;
  WebSession w;
  w.token_hash = crypto::sha256_hex(out.token);
  w.account_id = acct->id;
  w.csrf_hash = crypto::sha256_hex(out.csrf_token);
  w.created_at = w.last_seen_at = t;
  w.idle_seconds = static_cast<int>(out.idle_seconds);
  w.expires_at = out.expires_at;
  w.public_computer = public_computer;
  w.mfa = p.mfa;
  w.peer = ctx.peer;
  w.user_agent = ctx.client;
  if (Status s = store_.create_session(w); !s) return s.error();
  audit(store_, p, "auth.session_start", acct->address, acct->org_id, "ok",
        std::string("{\"mfa\":") + (p.mfa ? "true" : "false") + ",\"public\":" + (public_computer ? "true" : "false") +
            ",\"peer\":" + json_string(ctx.peer) + "}");
  p.via = Principal::Via::session;
  p.credential_hash = w.token_hash;
  p.forced_change_sign_in = p.must_change_password;
  out.principal = std::move(p);
  return out;
}

Result<Principal> SessionService::authenticate_session(std::string_view token, std::optional<std::string_view> csrf) {
  if (token.size() < 10 || token.size() > 200) return make_error(Errc::unauthenticated, "invalid session");
  std::string hash = crypto::sha256_hex(token);
  auto w = store_.session(hash);
  if (!w) return make_error(Errc::unauthenticated, "your session has ended; sign in again");
  UnixTime t = now();
  if (t >= w->expires_at || t >= w->last_seen_at + w->idle_seconds) {
    (void)store_.delete_session(hash);
    return make_error(Errc::unauthenticated, t >= w->expires_at ? "your session has ended; sign in again"
                                                               : "your session ended after a while without "
                                                                 "activity; sign in again");
  }
  if (csrf && !crypto::equal_ct(crypto::sha256_hex(*csrf), w->csrf_hash))
    return make_error(Errc::permission_denied, "missing or wrong X-CSRF-Token for this session");
  auto acct = store_.account(w->account_id);
  if (!acct || !SignInService::may_sign_in(acct->state) || acct->locked_until > t) {
    (void)store_.delete_session(hash);
    return make_error(Errc::unauthenticated, "your session has ended; sign in again");
  }
  SignIn in;
  in.principal = Principal::of(*acct);
  AuthContext ctx;
  if (Status s = sign_in_.restrict(*acct, false, ctx, t, in); !s) return s.error();
  in.principal.mfa = w->mfa;
  if (!w->mfa && sign_in_.mfa_applies(*acct, w->peer)) {
    auto m = store_.mfa(acct->id);
    if (m && m->enabled) {
      // Set up during this session: sign in again with it before anything else.
      (void)store_.delete_session(hash);
      return make_error(Errc::unauthenticated, "two-step verification is now on: sign in again with your code");
    }
    in.principal.mfa_enrolment_pending = true;
  }
  in.principal.via = Principal::Via::session;
  if (in.principal.must_change_password) {
    // The forced-change flow of this sign-in: the session began after the reset or the
    // expiry, with the password that must now be changed, so it may choose the new one
    // without typing the old again. (Sessions from before a reset were ended by it.)
    UnixTime since = acct->password_changed_at;
    if (!acct->must_change_password && config_.password.expiry_days > 0)
      since += int64_t{config_.password.expiry_days} * 86400;
    in.principal.forced_change_sign_in = w->created_at >= since;
  }
  if (w->last_seen_at < t - 30) (void)store_.touch_session(hash, t);
  in.principal.credential_hash = std::move(hash);
  return in.principal;
}

Status SessionService::end_session(std::string_view token) {
  return store_.delete_session(crypto::sha256_hex(token));
}

Result<TotpEnrolment> SessionService::begin_totp(const Principal& by) {
  if (by.system) return make_error(Errc::invalid_argument, "the service itself has no second factor");
  if (by.must_change_password || by.aup_pending)
    return make_error(Errc::permission_denied, "change your password or accept the Acceptable Use Policy first");
  auto m = store_.mfa(by.account_id);
  if (m && m->enabled && !by.mfa)
    return make_error(Errc::permission_denied,
                      "two-step verification is already on: sign in with your code to replace it, or ask your "
                      "helpdesk to reset it");
  std::string secret = identity::totp_generate_secret();
  std::string sealed = crypto::seal(sign_in_.secret_key(), secret, SignInService::totp_aad(by.account_id));
  if (Status s = store_.begin_mfa(by.account_id, sealed); !s)
    return s.error();
  TotpEnrolment out;
  out.secret = identity::base32_encode(secret);
  out.otpauth_uri = identity::totp_uri(config_.mfa.issuer, by.address, secret);
  audit(store_, by, "mfa.enrol_start", by.address, by.org_id, "ok");
  return out;
}

Result<std::vector<std::string>> SessionService::confirm_totp(const Principal& by, std::string_view code) {
  if (by.system) return make_error(Errc::invalid_argument, "the service itself has no second factor");
  auto m = store_.mfa(by.account_id);
  if (!m) return make_error(Errc::invalid_argument, "start setting up two-step verification first");
  bool replacing = m->enabled && !m->sealed_pending.empty();
  if (m->enabled && (!by.mfa || !replacing))
    return make_error(Errc::permission_denied, "two-step verification is already on");
  // A replacement is checked against the new secret; the old one stays in force until then.
  auto secret = crypto::open(sign_in_.secret_key(), replacing ? m->sealed_pending : m->sealed_secret,
                            SignInService::totp_aad(by.account_id));
  if (!secret) return make_error(Errc::invalid_argument, "start setting up two-step verification again");
  auto step = identity::totp_verify(*secret, code, identity::SysSeconds(std::chrono::seconds(now())), std::nullopt);
  if (!step)
    return make_error(Errc::invalid_argument,
                      "that code does not match: check the time on your phone and type the code the app shows now");
  auto codes = identity::generate_recovery_codes(SignInService::kRecoveryCodes);
  if (!codes) return codes.error();
  if (Status s = store_.enable_mfa(by.account_id, *step, codes->hashes); !s) return s.error();
  audit(store_, by, replacing ? "mfa.replaced" : "mfa.enabled", by.address, by.org_id, "ok");
  return codes->codes;
}

Status SessionService::remove_mfa(const Principal& by, std::string_view address, std::string_view code,
                                const AuthContext& ctx) {
  auto acct = account_in_scope(store_, by, address, "mfa.remove", /*self_ok=*/true, /*helpdesk_ok=*/true);
  if (!acct) return acct.error();
  bool self = by.account_id == acct->id;
  // Removing someone's second factor is half of taking the account over.
  if (!self && !may_reset_credentials(by, *acct)) {
    audit(store_, by, "mfa.remove", acct->address, acct->org_id, "denied");
    return make_error(Errc::permission_denied, "you may not reset the two-step verification of this account");
  }
  if (self) {
    // The person needs a current code: a stolen password alone must not switch it off. A
    // wrong one is a refusal of this request, not the end of the sign-in.
    if (Status s = sign_in_.check_second_factor(*acct, code, ctx); !s)
      return make_error(s.error().code == Errc::unauthenticated ? Errc::invalid_argument : s.error().code,
                        s.error().message);
  }
  if (Status s = store_.delete_mfa(acct->id); !s) return s;
  (void)store_.delete_sessions(acct->id);
  audit(store_, by, "mfa.remove", acct->address, acct->org_id, "ok",
        std::string("{\"self\":") + (self ? "true" : "false") + "}");
  return {};
}

Status SessionService::set_org_mfa_policy(const Principal& by, std::string_view ods, bool required,
                                        std::vector<std::string> nets) {
  auto org = store_.organisation_by_ods(ods);
  if (!org) return org.error();
  if (!administers(by, org->id)) {
    audit(store_, by, "organisation.mfa_policy", org->ods_code, org->id, "denied");
    if (!by.system && !by.national() && org->id != by.org_id)
      return make_error(Errc::not_found, "no organisation with ODS code " + std::string(ods));
    return make_error(Errc::permission_denied, "you may not change this organisation's MFA policy");
  }
  if (nets.size() > 50) return make_error(Errc::invalid_argument, "at most 50 trusted networks");
  for (const auto& n : nets)
    if (!valid_network(n))
      return make_error(Errc::invalid_argument, "'" + n + "' is not a network such as 10.20.0.0/16 or 2001:db8::/32");
  if (Status s = store_.set_org_mfa_policy(org->id, required, nets); !s) return s;
  std::string list;
  for (const auto& n : nets) list += (list.empty() ? "" : ",") + json_string(n);
  audit(store_, by, "organisation.mfa_policy", org->ods_code, org->id, "ok",
        std::string("{\"required\":") + (required ? "true" : "false") + ",\"trusted_networks\":[" + list + "]}");
  return {};
}

}  // namespace caremail

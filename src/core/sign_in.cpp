// SignInService: signing in (lockout, failures, app passwords, expiry, the Acceptable Use
// Policy, the second-factor check) and the identity actions around it. PRODUCT.md S4, S5;
// see sign_in.hpp for the contract of each function.
#include "core/sign_in.hpp"

#include <algorithm>
#include <chrono>
#include <cctype>
#include <cstring>
#include <ctime>

#include <arpa/inet.h>
#include <sodium.h>

#include "common/time_text.hpp"
#include "common/json_text.hpp"
#include "common/cidr.hpp"
#include "common/log.hpp"
#include "common/ascii.hpp"
#include "common/metrics.hpp"
#include "core/audit.hpp"
#include "core/scope.hpp"
#include "crypto/crypto.hpp"
#include "identity/password_policy.hpp"
#include "identity/recovery_codes.hpp"
#include "identity/totp.hpp"

namespace caremail {

namespace {

constexpr std::string_view kWrong = "wrong address or password";

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](unsigned char c) { return c >= '0' && c <= '9'; });
}

metrics::Counter& failures_total() {
  static auto& c = metrics::counter("caremail_auth_failures_total", "Refused password sign-ins, every protocol");
  return c;
}
metrics::Counter& lockouts_total() {
  static auto& c = metrics::counter("caremail_auth_lockouts_total", "Accounts locked after repeated failures");
  return c;
}


// App passwords look like "abcd-efgh-jkmn-pqrs": 16 characters of an unambiguous alphabet
// of 31 (79 bits), so a SHA-256 of them is enough (no Argon2id: nobody guesses 2^79).
constexpr std::string_view kAppAlphabet = "abcdefghjkmnpqrstuvwxyz23456789";
bool looks_like_app_password(std::string_view p) {
  if (p.size() != 19) return false;
  for (size_t i = 0; i < p.size(); ++i) {
    if (i % 5 == 4) {
      if (p[i] != '-') return false;
    } else if (!std::isalnum(static_cast<unsigned char>(p[i]))) {
      return false;
    }
  }
  return true;
}

std::string app_secret() {
  std::string out;
  while (out.size() < 19) {
    if (out.size() % 5 == 4) out += '-';
    out += kAppAlphabet[randombytes_uniform(static_cast<uint32_t>(kAppAlphabet.size()))];
  }
  return out;
}

}  // namespace

SignInService::SignInService(IdentityContext& ctx)
    : ctx_(ctx), store_(ctx.store), config_(ctx.config), password_cache_(ctx.config.server.password_cache_seconds) {
  randombytes_buf(secret_key_.data(), secret_key_.size());
}

bool SignInService::may_sign_in(AccountState s) {
  // Leavers keep their address and mail until claimed; an inactive account wakes up.
  return s == AccountState::active || s == AccountState::inactive || s == AccountState::leaver;
}

std::string SignInService::totp_aad(AccountId id) { return "totp:" + std::to_string(id); }

Result<Principal> SignInService::authenticate_token(std::string_view token) {
  if (token.size() < 10 || token.size() > 200) return make_error(Errc::unauthenticated, "invalid API token");
  std::string hash = crypto::sha256_hex(token);
  auto tk = store_.api_token(hash);
  if (!tk) return make_error(Errc::unauthenticated, "invalid API token");
  const UnixTime t = now();
  if (t >= tk->expires_at)
    return make_error(Errc::unauthenticated, "this API token expired on " + date_text(tk->expires_at) +
                                                 "; issue a new one (POST /api/v1/tokens)");
  auto acct = store_.account(tk->account_id);
  if (!acct) return make_error(Errc::unauthenticated, "invalid API token");
  if (!SignInService::may_sign_in(acct->state)) return make_error(Errc::unauthenticated, "account is not active");
  // A locked account is locked for scripts too (its sessions and app passwords stop).
  if (acct->locked_until > t)
    return make_error(Errc::unauthenticated, "the account is locked after too many failed sign-ins");
  reactivate(*acct, t);
  // Last use, at most one durable write a minute per token.
  if (tk->last_used_at < t - 60) (void)store_.touch_api_token(tk->id, t);
  // A token carries its owner's rights, restrictions included: a forced password change or
  // a new Acceptable Use Policy applies to scripts too.
  SignIn in;
  in.principal = Principal::of(*acct);
  AuthContext ctx;
  if (Status s = restrict(*acct, false, ctx, t, in); !s) return s.error();
  in.principal.via = Principal::Via::token;
  in.principal.credential_hash = std::move(hash);
  return in.principal;
}

Result<Principal> SignInService::authenticate_password(std::string_view address, std::string_view password) {
  AuthContext ctx;
  auto r = sign_in(address, password, ctx);
  if (!r) return r.error();
  return std::move(r->principal);
}

void SignInService::reactivate(const Account& acct, UnixTime t) {
  if (acct.state != AccountState::inactive) return;
  if (Status s = store_.set_account_state(acct.id, AccountState::active, t); !s) {
    log::warn("lifecycle.reactivate_failed", {{"account", acct.address}, {"error", s.error().message}});
    return;
  }
  audit(store_, Principal::of(acct), "account.reactivate", acct.address, acct.org_id, "ok");
}

void SignInService::second_factor_dummy_work(std::string_view code, size_t checked) {
  static const std::string dummy = crypto::hash_password("caremail-second-factor-equaliser");
  std::string typed(code);
  std::erase(typed, ' ');
  if (all_digits(typed)) return;  // a TOTP code: no Argon2id
  auto normal = identity::normalize_recovery_code(typed);
  if (!normal) return;  // neither: no Argon2id either
  for (size_t i = checked; i < kRecoveryCodes; ++i) (void)crypto::verify_password(dummy, *normal);
}

Status SignInService::check_second_factor(const Account& acct, std::string_view code, const AuthContext& ctx,
                                         bool count_failure) {
  UnixTime t = now();
  auto m = store_.mfa(acct.id);
  if (!m || !m->enabled) return make_error(Errc::unauthenticated, "no second factor is set up");
  std::string typed(code);
  std::erase(typed, ' ');
  if (all_digits(typed)) {
    auto secret = crypto::open(secret_key_, m->sealed_secret, totp_aad(acct.id));
    if (!secret) {
      log::error("auth.totp_secret_unreadable", {{"account", acct.address}});
      return make_error(Errc::temporary, "your second factor cannot be checked now; try again later");
    }
    auto step = identity::totp_verify(*secret, typed, identity::SysSeconds(std::chrono::seconds(t)), m->last_step);
    if (step) {
      auto moved = store_.advance_mfa_step(acct.id, *step);
      if (moved && *moved) return {};
    }
  } else if (identity::normalize_recovery_code(typed)) {
    auto codes = store_.recovery_codes(acct.id);
    if (!codes) return codes.error();
    for (const auto& [id, phc] : *codes) {
      if (!crypto::verify_password(phc, *identity::normalize_recovery_code(typed))) continue;
      auto used = store_.use_recovery_code(acct.id, id);
      if (used && *used) {
        audit(store_, Principal::of(acct), "auth.recovery_code_used", acct.address, acct.org_id, "ok",
              "{\"left\":" + std::to_string(codes->size() - 1) + "}");
        return {};
      }
    }
    // A wrong code costs a check of all of them, however many are left (and the same as an
    // unknown address in a reset): the time says nothing about the account.
    second_factor_dummy_work(typed, codes->size());
  }
  if (count_failure) note_failure(acct, ctx, "second factor", t);
  return make_error(Errc::unauthenticated, "that code is not right (or was used already); try the next one");
}

bool SignInService::ip_blocked(const std::string& peer, UnixTime now) {
  if (peer.empty()) return false;
  std::lock_guard lock(ip_mu_);
  auto it = ip_failures_.find(peer);
  return it != ip_failures_.end() && it->second.blocked_until > now;
}

void SignInService::note_ip_failure(const std::string& peer, UnixTime now) {
  if (peer.empty()) return;
  const auto& lc = config_.lockout;
  std::lock_guard lock(ip_mu_);
  if (ip_failures_.size() > 100000) {
    // Bounded: forget the addresses that have nothing left in their window.
    std::erase_if(ip_failures_, [&](const auto& kv) {
      return kv.second.blocked_until <= now && (kv.second.at.empty() || kv.second.at.back() < now - lc.ip_window_seconds);
    });
  }
  IpFailures& f = ip_failures_[peer];
  f.at.push_back(now);
  while (!f.at.empty() && f.at.front() < now - lc.ip_window_seconds) f.at.pop_front();
  if (static_cast<int>(f.at.size()) >= lc.ip_failures && f.blocked_until <= now) {
    f.blocked_until = now + lc.ip_block_seconds;
    f.at.clear();
    log::warn("auth.ip_blocked", {{"peer", peer}, {"seconds", lc.ip_block_seconds}});
  }
}

std::string SignInService::source_of(const std::string& peer) const {
  unsigned char a[16];
  char text[INET6_ADDRSTRLEN];
  int family = AF_INET, bits = config_.lockout.familiar_prefix_v4, bytes = 4;
  if (peer.empty()) return {};
  if (inet_pton(AF_INET, peer.c_str(), a) != 1) {
    if (inet_pton(AF_INET6, peer.c_str(), a) != 1) return {};
    static constexpr unsigned char kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::memcmp(a, kMapped, 12) == 0) {
      std::memmove(a, a + 12, 4);  // an IPv4 client on an IPv6 socket
    } else {
      family = AF_INET6;
      bits = config_.lockout.familiar_prefix_v6;
      bytes = 16;
    }
  }
  for (int i = 0; i < bytes; ++i) a[i] &= static_cast<unsigned char>(0xff00 >> std::clamp(bits - 8 * i, 0, 8));
  if (!inet_ntop(family, a, text, sizeof text)) return {};
  return std::string(text) + "/" + std::to_string(bits);
}

bool SignInService::familiar(const Account& acct, const std::string& source, UnixTime now) {
  if (config_.lockout.familiar_days <= 0) return true;  // smart lockout off: one lock for all
  auto known = store_.familiar_sources(acct.id, now - int64_t{config_.lockout.familiar_days} * 86400);
  if (!known) return true;
  // An account with no familiar network has nobody to protect from a stranger's lock: its
  // failures all count towards the one lock, as before smart lockout.
  if (known->empty()) return true;
  return !source.empty() &&
         std::any_of(known->begin(), known->end(), [&](const FamiliarSource& f) { return f.source == source; });
}

void SignInService::note_failure(const Account& acct, const AuthContext& ctx, std::string_view reason, UnixTime now) {
  failures_total().inc();
  AuthFailure f;
  f.account_id = acct.id;
  f.at = now;
  f.protocol = ctx.protocol;
  f.peer = ctx.peer;
  f.client = ctx.client.substr(0, std::min<size_t>(ctx.client.size(), 200));
  f.reason = std::string(reason);
  f.familiar = familiar(acct, source_of(ctx.peer), now);
  std::string detail = "{\"protocol\":" + json_string(ctx.protocol) + ",\"peer\":" + json_string(ctx.peer) +
                       ",\"client\":" + json_string(f.client) + ",\"reason\":" + json_string(reason) +
                       ",\"familiar\":" + (f.familiar ? "true" : "false") + "}";
  AuditEvent e;
  e.at = now;
  e.actor = acct.address;
  e.action = "auth.fail";
  e.target = acct.address;
  e.target_org = acct.org_id;
  e.outcome = "denied";
  e.detail = std::move(detail);
  // One durable write, the failure and its audit event together: an unknown address costs
  // the same (note_unknown_failure).
  if (Status s = store_.record_auth_failure(f, std::move(e)); !s)
    log::warn("auth.failure_not_recorded", {{"account", acct.address}, {"error", s.error().message}});
  const auto& lc = config_.lockout;
  if (f.familiar) {
    // Failures from the person's own networks (an old password on their phone) lock the
    // account for everyone, as they always did.
    if (acct.locked_until > now) return;  // already locked
    auto n = store_.count_auth_failures(acct.id, now - lc.window_seconds);
    if (!n || *n < lc.failures) return;
    UnixTime until = now + lc.lock_seconds;
    if (Status s = store_.set_locked_until(acct.id, until, false); !s) {
      log::warn("auth.lock_failed", {{"account", acct.address}, {"error", s.error().message}});
      return;
    }
    password_cache_.forget(acct.id);
    lockouts_total().inc();
    log::info("auth.lockout", {{"account", acct.address}, {"failures", *n}, {"until", until}});
    audit(store_, Principal::service(), "auth.lockout", acct.address, acct.org_id, "ok",
          "{\"failures\":" + std::to_string(*n) + ",\"until\":" + std::to_string(until) + "}");
    notify_lock(acct, false, until, now);
    return;
  }
  // Failures from anywhere else lock out only networks the account has not signed in from:
  // a stranger cannot lock the person out of their usual devices.
  if (acct.unfamiliar_locked_until > now || acct.locked_until > now) return;
  auto n = store_.count_unfamiliar_failures(acct.id, now - lc.window_seconds);
  if (!n || *n < lc.unfamiliar_failures) return;
  UnixTime until = now + lc.lock_seconds;
  if (Status s = store_.set_unfamiliar_locked_until(acct.id, until); !s) {
    log::warn("auth.lock_failed", {{"account", acct.address}, {"error", s.error().message}});
    return;
  }
  lockouts_total().inc();
  log::info("auth.lockout_unfamiliar", {{"account", acct.address}, {"failures", *n}, {"until", until}});
  audit(store_, Principal::service(), "auth.lockout_unfamiliar", acct.address, acct.org_id, "ok",
        "{\"failures\":" + std::to_string(*n) + ",\"until\":" + std::to_string(until) + "}");
  notify_lock(acct, true, until, now);
}

void SignInService::note_unknown_failure(std::string_view address, const AuthContext& ctx, std::string_view action,
                                        std::string_view reason, UnixTime now) {
  // What was typed, bounded and without control characters: it came from anyone.
  std::string typed;
  for (char c : address.substr(0, 254))
    if (static_cast<unsigned char>(c) >= 0x20 && c != 0x7f) typed += c;
  std::string client = ctx.client.substr(0, std::min<size_t>(ctx.client.size(), 200));
  AuditEvent e;
  e.at = now;
  e.actor = typed;
  e.action = std::string(action);
  e.target = typed;
  e.outcome = "denied";
  e.detail = "{\"protocol\":" + json_string(ctx.protocol) + ",\"peer\":" + json_string(ctx.peer) +
             ",\"client\":" + json_string(client) + ",\"reason\":" + json_string(reason) + "}";
  if (auto r = store_.append_audit(std::move(e)); !r)
    log::warn("auth.failure_not_recorded", {{"error", r.error().message}});
}

void SignInService::notify_lock(const Account& acct, bool unfamiliar_only, UnixTime until, UnixTime now) {
  if (!ctx_.notify) return;
  // Which devices failed: the distinct protocol, client and address of this kind's
  // failures within the window (newest first, at most 5). Client names are what the device
  // called itself: shown, never trusted.
  auto recent = store_.auth_failures(acct.id, now - config_.lockout.window_seconds, 200);
  std::vector<std::string> lines;
  if (recent) {
    for (const auto& f : *recent) {
      if (f.familiar == unfamiliar_only || f.protocol == "reset" || f.protocol == "helpdesk") continue;
      std::string client;
      for (char c : f.client.substr(0, 80))
        if (static_cast<unsigned char>(c) >= 0x20 && c != 0x7f) client += c;
      std::string line = "  - " + f.protocol + (f.protocol == "http" ? " (web or API)" : "") + " from " +
                         (f.peer.empty() ? std::string("an unknown address") : f.peer) +
                         (client.empty() ? std::string() : ", calling itself \"" + client + "\"");
      if (std::find(lines.begin(), lines.end(), line) == lines.end()) lines.push_back(line);
      if (lines.size() == 5) break;
    }
  }
  std::string which;
  for (const auto& l : lines) which += l + "\r\n";
  std::string subject, body;
  if (unfamiliar_only) {
    subject = "Sign-ins to your account from new places are paused";
    body = "There were " + std::to_string(config_.lockout.unfamiliar_failures) +
           " failed attempts to sign in to your Caremail account from networks you have not used lately:\r\n\r\n" +
           which +
           "\r\nUntil " + time_text(until) +
           ", sign-ins from new places are refused. Your usual devices and networks keep working.\r\n\r\n"
           "If this was you (a new phone, another site), wait until then or ask your local administrator to unlock "
           "your account. If it was not you, someone may be guessing your password: choose a new one on the web "
           "and tell your local administrator.\r\n";
  } else {
    subject = "Your account is locked after failed sign-ins";
    body = "Your Caremail account is locked until " + time_text(until) + " after " +
           std::to_string(config_.lockout.failures) + " failed sign-ins from:\r\n\r\n" + which +
           "\r\nThese are networks you have used before: most often a phone, tablet or computer still using an "
           "old password. Update the password in that device's mail settings (or give it an app password), then "
           "wait or ask your local administrator to unlock your account.\r\n";
  }
  if (Status s = ctx_.notify(acct, subject, body); !s)
    log::warn("auth.lock_notice_failed", {{"account", acct.address}, {"error", s.error().message}});
}

Result<SignIn> SignInService::sign_in(std::string_view address, std::string_view password, const AuthContext& ctx) {
  // Hash even for unknown addresses so that timing does not reveal who exists.
  static const std::string dummy = crypto::hash_password("caremail-timing-equaliser");
  UnixTime t = now();
  if (ip_blocked(ctx.peer, t)) {
    failures_total().inc();
    return make_error(Errc::unauthenticated,
                      "too many failed sign-ins from your network address; try again in a few minutes");
  }
  auto acct = store_.account_by_address(address);
  if (!acct || acct->password_hash.empty() || acct->kind == AccountKind::shared) {
    // The same work as a wrong password for a known account: one Argon2id, one durable write.
    (void)crypto::verify_password(dummy, password);
    note_ip_failure(ctx.peer, t);
    failures_total().inc();
    note_unknown_failure(address, ctx, "auth.fail", "password", t);
    return make_error(Errc::unauthenticated, std::string(kWrong));
  }

  // App password first: one indexed lookup, no Argon2id.
  std::optional<AppPassword> app;
  if (looks_like_app_password(password)) {
    auto a = store_.app_password_by_hash(acct->id, crypto::sha256_hex(ascii_lower(password)));
    if (a) app = std::move(*a);
  }
  if (app && !ctx.mail_client) {
    // App passwords are for IMAP and SMTP clients only: one leaked from a phone must not
    // open the API (change the password, make more app passwords).
    return make_error(Errc::unauthenticated, "app passwords are for mail clients: sign in with your own password");
  }
  bool verified = app.has_value();
  bool cached = false;
  if (!verified) {
    cached = password_cache_.check(acct->id, acct->password_hash, password, t);
    verified = cached || crypto::verify_password(acct->password_hash, password);
  }
  // Smart lockout: the unfamiliar-networks lock applies only to networks the account has
  // not signed in from lately.
  bool unfamiliar_lock = acct->locked_until <= t && acct->unfamiliar_locked_until > t &&
                         !familiar(*acct, source_of(ctx.peer), t);
  bool locked = acct->locked_until > t || unfamiliar_lock;
  if (!verified) {
    note_failure(*acct, ctx, locked ? "locked" : "password", t);
    note_ip_failure(ctx.peer, t);
    return make_error(Errc::unauthenticated, std::string(kWrong));
  }
  if (locked) {
    // Only someone who knows the password learns that the account is locked.
    note_failure(*acct, ctx, "locked", t);
    if (unfamiliar_lock)
      return make_error(Errc::unauthenticated,
                        "sign-ins to your account from new places are paused until " +
                            time_text(acct->unfamiliar_locked_until) +
                            " after repeated failed attempts; your usual devices and networks still work, or ask "
                            "your local administrator to unlock it");
    return make_error(Errc::unauthenticated,
                      "your account is locked after too many failed sign-ins until " + time_text(acct->locked_until) +
                          "; check which device or app still uses an old password, then wait or ask your local "
                          "administrator to unlock it");
  }
  if (!may_sign_in(acct->state)) {
    password_cache_.forget(acct->id);
    return make_error(Errc::unauthenticated, acct->state == AccountState::disabled
                                                 ? "your account is disabled; ask your local administrator"
                                                 : "your account has been deleted; your local administrator can "
                                                   "restore it for a while after the deletion");
  }
  if (!cached && !app) password_cache_.remember(acct->id, acct->password_hash, password, t);

  SignIn out;
  out.principal = Principal::of(*acct);
  out.app_password = app.has_value();
  if (!app) out.principal.via = Principal::Via::password;  // proven in this request
  // Two-step verification: mail clients cannot do it, so they use app passwords; a Basic
  // sign-in over the API is refused too (a session with the second factor is the way in).
  if (!app && !ctx.starts_session && mfa_applies(*acct, ctx.peer)) {
    if (ctx.mail_client)
      return make_error(Errc::unauthenticated,
                        "your account uses two-step verification: create an app password on the web for this "
                        "mail client and sign in with it");
    return make_error(Errc::unauthenticated,
                      "your account uses two-step verification: start a session (POST /api/v1/sessions) with your "
                      "code");
  }
  if (Status r = restrict(*acct, app.has_value(), ctx, t, out); !r) return r.error();
  // A session's sign-in is complete only after its second factor (start_session records it).
  if (!ctx.starts_session) record_login(*acct, t, ctx.peer);
  if (app && app->last_used_at < t - 60) (void)store_.touch_app_password(app->id, t, ctx.protocol, ctx.peer);
  return out;
}

void SignInService::record_login(const Account& acct, UnixTime t, const std::string& peer) {
  reactivate(acct, t);
  // The network becomes (or stays) familiar; written at most once an hour per network.
  if (std::string source = source_of(peer); !source.empty() && config_.lockout.familiar_days > 0) {
    auto known = store_.familiar_sources(acct.id, t - 3600);
    bool fresh = known && std::any_of(known->begin(), known->end(),
                                      [&](const FamiliarSource& f) { return f.source == source; });
    if (!fresh)
      if (Status s = store_.note_familiar_source(acct.id, source, t, t - int64_t{config_.lockout.familiar_days} * 86400);
          !s)
        log::warn("auth.familiar_not_recorded", {{"account", acct.address}, {"error", s.error().message}});
  }
  // A success resets the failure count; written at most once a minute (a phone that
  // reconnects constantly should not cost a durable commit per connection).
  bool failures_pending = false;
  if (auto n = store_.count_auth_failures(acct.id, t - config_.lockout.window_seconds); n && *n > 0)
    failures_pending = true;
  if (failures_pending || acct.locked_until != 0 || acct.last_login_at < t - 60) {
    if (acct.locked_until != 0) (void)store_.set_locked_until(acct.id, 0, false);
    if (Status s = store_.note_login(acct.id, t); !s)
      log::warn("auth.login_not_recorded", {{"account", acct.address}, {"error", s.error().message}});
  }
}

Status SignInService::restrict(const Account& acct, bool app, const AuthContext& ctx, UnixTime t, SignIn& out) {
  // App passwords are separate credentials: the account password's age does not stop a
  // phone that was given its own. An administrator's reset does: it revokes them unless
  // told to keep them, and kept ones wait until the person has chosen a new password (a
  // reset means someone else may have had the account; issue 14).
  if (app && acct.must_change_password)
    return make_error(Errc::unauthenticated,
                      "your password must be changed first (an administrator set it, or it was a one-time "
                      "password): sign in on the web and choose a new one; "
                      "this app password works again after that");
  if (!app) {
    if (acct.must_change_password) {
      if (ctx.mail_client)
        return make_error(Errc::unauthenticated,
                          "your password must be changed first (an administrator set it, or it was a one-time "
                          "password): sign in on the web and choose a new one, "
                          "then use it here");
      out.principal.must_change_password = true;
    }
    if (config_.password.expiry_days > 0) {
      UnixTime expires = acct.password_changed_at + int64_t{config_.password.expiry_days} * 86400;
      if (t >= expires) {
        if (ctx.mail_client)
          return make_error(Errc::unauthenticated, "your password expired on " + date_text(expires) +
                                                       ": sign in on the web and choose a new one, then use it here");
        out.principal.must_change_password = true;
      } else {
        int first = 0;
        for (int d : config_.password.reminder_days) first = std::max(first, d);
        int64_t days_left = (expires - t + 86399) / 86400;
        if (days_left <= first)
          out.alert = "Your password expires in " + std::to_string(days_left) + (days_left == 1 ? " day" : " days") +
                      " (on " + date_text(expires) + "). Change it on the web before then.";
      }
    }
  }
  if (auto aup = store_.current_aup(); aup && aup->version > acct.aup_version) {
    if (ctx.mail_client)
      return make_error(Errc::unauthenticated, "please sign in on the web and accept the Acceptable Use Policy (version " +
                                                   std::to_string(aup->version) + ") before using this mail client");
    out.principal.aup_pending = true;
  }
  return {};
}

bool SignInService::mfa_required(const Account& acct, const std::string& peer) {
  if (acct.kind != AccountKind::person) return false;  // applications use their own long secrets
  bool admin = false;
  for (Role r : acct.roles) admin |= r != Role::user;
  if (admin && config_.mfa.required_for_administrators) return true;
  auto org = store_.organisation(acct.org_id);
  bool policy = config_.mfa.required_for_everyone || (org && org->mfa_required);
  if (!policy) return false;
  if (org)
    for (const auto& net : org->trusted_networks)
      if (address_in_network(peer, net)) return false;
  return true;
}

bool SignInService::mfa_applies(const Account& acct, const std::string& peer) {
  auto m = store_.mfa(acct.id);
  if (m && m->enabled) return true;
  return mfa_required(acct, peer);
}

Status SignInService::unlock(const Principal& by, std::string_view address) {
  // The person may unlock themselves only through self-service (with a second factor),
  // which comes with web sign-in; here: administrators and helpdesk in scope.
  auto acct = credentials_in_scope(store_, by, address, "auth.unlock", /*self_ok=*/false);
  if (!acct) return acct.error();
  if (Status s = store_.set_locked_until(acct->id, 0, true); !s) return s;
  audit(store_, by, "auth.unlock", acct->address, acct->org_id, "ok");
  return {};
}

Result<std::vector<AuthFailure>> SignInService::auth_failures(const Principal& by, std::string_view address,
                                                             size_t limit) {
  auto acct = credentials_in_scope(store_, by, address, "auth.failures.read", /*self_ok=*/true);
  if (!acct) return acct.error();
  return store_.auth_failures(acct->id, 0, std::min<size_t>(limit, 1000));
}

Result<NewAppPassword> SignInService::create_app_password(const Principal& by, std::string_view name) {
  if (by.system) return make_error(Errc::invalid_argument, "the service itself has no app passwords");
  if (by.restricted()) return make_error(Errc::permission_denied, "change your password or accept the Acceptable Use Policy first");
  if (name.empty() || name.size() > 100)
    return make_error(Errc::invalid_argument, "an app password needs a name of 1 to 100 characters (e.g. \"Work phone\")");
  auto existing = store_.app_passwords(by.account_id);
  if (!existing) return existing.error();
  if (existing->size() >= 20)
    return make_error(Errc::invalid_argument, "you already have 20 app passwords: revoke one you no longer use first");
  NewAppPassword out;
  out.secret = app_secret();
  auto a = store_.add_app_password(by.account_id, name, crypto::sha256_hex(out.secret));
  if (!a) return a.error();
  out.info = std::move(*a);
  audit(store_, by, "app_password.create", by.address, by.org_id, "ok",
        "{\"id\":" + std::to_string(out.info.id) + ",\"name\":" + json_string(name) + "}");
  return out;
}

Result<std::vector<AppPassword>> SignInService::list_app_passwords(const Principal& by, std::string_view address) {
  auto acct = credentials_in_scope(store_, by, address, "app_password.list", /*self_ok=*/true);
  if (!acct) return acct.error();
  return store_.app_passwords(acct->id);
}

Status SignInService::revoke_app_password(const Principal& by, std::string_view address, int64_t id) {
  auto acct = credentials_in_scope(store_, by, address, "app_password.revoke", /*self_ok=*/true);
  if (!acct) return acct.error();
  if (Status s = store_.delete_app_password(acct->id, id); !s) return s;
  audit(store_, by, "app_password.revoke", acct->address, acct->org_id, "ok", "{\"id\":" + std::to_string(id) + "}");
  return {};
}

Result<AupVersion> SignInService::publish_aup(const Principal& by, std::string_view text) {
  if (!by.system && (!by.has(Role::national_admin) || by.restricted())) {
    audit(store_, by, "aup.publish", "aup", 0, "denied");
    return make_error(Errc::permission_denied, "only national administrators publish the Acceptable Use Policy");
  }
  if (text.empty() || text.size() > 100000)
    return make_error(Errc::invalid_argument, "the policy text must be 1 to 100,000 bytes");
  auto v = store_.publish_aup(text, by.address);
  if (!v) return v.error();
  // Whoever publishes it has read it: their own tools (caremailctl's token) keep working.
  if (!by.system) (void)store_.set_aup_version(by.account_id, v->version);
  audit(store_, by, "aup.publish", "aup", 0, "ok", "{\"version\":" + std::to_string(v->version) + "}");
  return v;
}

Result<AupVersion> SignInService::current_aup(const Principal&) { return store_.current_aup(); }

Status SignInService::accept_aup(const Principal& by, int version) {
  if (by.system) return make_error(Errc::invalid_argument, "the service itself accepts no policy");
  auto cur = store_.current_aup();
  if (!cur) return cur.error();
  if (version != cur->version)
    return make_error(Errc::invalid_argument, "the current Acceptable Use Policy is version " +
                                                  std::to_string(cur->version) + ": read and accept that one");
  if (Status s = store_.set_aup_version(by.account_id, version); !s) return s;
  audit(store_, by, "aup.accept", by.address, by.org_id, "ok", "{\"version\":" + std::to_string(version) + "}");
  return {};
}

Result<int> SignInService::send_expiry_reminders(const Notifier& notify) {
  const auto& pc = config_.password;
  if (pc.expiry_days <= 0 || pc.reminder_days.empty()) return 0;
  int first = *std::max_element(pc.reminder_days.begin(), pc.reminder_days.end());
  UnixTime t = now();
  // Passwords set before this are within the first reminder's reach (or expired).
  UnixTime before = t - (int64_t{pc.expiry_days} - first) * 86400 + 1;
  identity::ExpiryRules rules;
  rules.period = std::chrono::days(pc.expiry_days);
  rules.reminder_days = pc.reminder_days;
  int sent = 0;
  auto due = store_.accounts_with_password_set_before(before, 100000);
  if (!due) return due.error();
  for (const Account& a : *due) {
    if (!may_sign_in(a.state)) continue;
    auto d = identity::reminder_due(identity::SysSeconds(std::chrono::seconds(a.password_changed_at)),
                                    a.expiry_reminder_sent, identity::SysSeconds(std::chrono::seconds(t)), rules);
    if (!d) continue;
    UnixTime expires = a.password_changed_at + int64_t{pc.expiry_days} * 86400;
    std::string subject = "Your password expires in " + std::to_string(*d) + (*d == 1 ? " day" : " days");
    std::string body = "Your Caremail password expires on " + date_text(expires) + " at " + time_text(expires) +
                       ".\r\n\r\nChange it before then: sign in on the web and choose a new password. After it "
                       "expires, your mail apps (phone, Outlook, Thunderbird) will stop signing in until you do.\r\n"
                       "\r\nA new password must be at least " +
                       std::to_string(a.kind == AccountKind::application ? pc.min_length_application : pc.min_length) +
                       " characters, must not contain your name, and must not be one of your last " +
                       std::to_string(pc.history) + " passwords. A few random words make a good one.\r\n";
    if (Status s = notify(a, subject, body); !s) {
      log::warn("identity.reminder_failed", {{"account", a.address}, {"error", s.error().message}});
      continue;
    }
    if (Status s = store_.set_expiry_reminder_sent(a.id, *d); !s) return s.error();
    ++sent;
  }
  return sent;
}

}  // namespace caremail

#include "core/admin_service.hpp"

#include <algorithm>
#include <chrono>

#include "common/ascii.hpp"
#include "common/json_text.hpp"
#include "common/log.hpp"
#include "core/audit.hpp"
#include "core/scope.hpp"
#include "core/sign_in.hpp"
#include "crypto/crypto.hpp"

namespace caremail {

namespace {

std::string json_str(std::string_view s) { return json_string(s); }

Error denied(std::string what) { return make_error(Errc::permission_denied, std::move(what)); }

bool is_national_role(Role r) { return r == Role::national_admin || r == Role::national_helpdesk; }

}  // namespace

namespace {

identity::PasswordPolicyConfig policy_config(const Config& c) {
  identity::PasswordPolicyConfig p;
  p.min_chars = static_cast<size_t>(c.password.min_length);
  p.min_chars_application = static_cast<size_t>(c.password.min_length_application);
  p.history_count = static_cast<size_t>(c.password.history);
  for (const auto& f : c.password.common_lists) p.extra_common_lists.emplace_back(f);
  p.breached_list = c.password.breached_list;
  p.expiry.period = std::chrono::days(c.password.expiry_days ? c.password.expiry_days : 365);
  p.expiry.reminder_days = c.password.reminder_days;
  return p;
}

}  // namespace

Result<std::shared_ptr<const identity::PasswordPolicy>> AdminService::load_policy(const Config& config) {
  auto p = identity::PasswordPolicy::load(policy_config(config));
  if (!p) return p.error();
  return std::shared_ptr<const identity::PasswordPolicy>(std::make_shared<identity::PasswordPolicy>(std::move(*p)));
}

IdentityContext::IdentityContext(Store& s, const Config& c, Clock clk)
    : store(s), config(c), clock(std::move(clk)) {}

AdminService::AdminService(IdentityContext& ctx, SignInService& sign_in,
                           std::shared_ptr<const identity::PasswordPolicy> policy)
    : ctx_(ctx), store_(ctx.store), config_(ctx.config), sign_in_(sign_in), policy_(std::move(policy)) {
  if (!policy_) {
    auto cfg = policy_config(config_);
    cfg.extra_common_lists.clear();
    cfg.breached_list.clear();
    auto p = identity::PasswordPolicy::load(cfg);
    if (!p) {
      log::error("identity.policy_failed", {{"error", p.error().message}});
      std::abort();  // the shipped list is compiled in: this cannot fail but through a bug
    }
    policy_ = std::make_shared<identity::PasswordPolicy>(std::move(*p));
  }
}

Status AdminService::check_new_password(const Account& acct, std::string_view password) {
  size_t n = static_cast<size_t>(config_.password.history);
  auto history = store_.password_history(acct.id, n);
  if (!history) return history.error();
  identity::PasswordChange change;
  change.password = password;
  change.kind = acct.kind == AccountKind::application ? identity::AccountKind::application
                                                        : identity::AccountKind::person;
  change.display_name = acct.display_name;
  change.address = acct.address;
  change.history = *history;
  return policy_->check(change);
}

Status AdminService::check_password(std::string_view password, AccountKind kind) {
  size_t min = kind == AccountKind::application ? 20 : 10;
  // Count characters, not bytes: a passphrase in any script counts the same.
  size_t chars = 0;
  for (unsigned char c : password)
    if ((c & 0xc0) != 0x80) ++chars;
  if (chars < min)
    return make_error(Errc::invalid_argument, "password must be at least " + std::to_string(min) + " characters");
  if (password.size() > 256) return make_error(Errc::invalid_argument, "password must be at most 256 bytes");
  return {};
}

Status AdminService::validate_address(std::string_view a, bool external) {
  auto bad = [&](const char* why) {
    return Status(make_error(Errc::invalid_argument, "address '" + std::string(a) + "' " + why));
  };
  if (a.size() < 3 || a.size() > 254) return bad("must be 3 to 254 characters");
  auto at = a.find('@');
  if (at == std::string_view::npos || at == 0 || at != a.rfind('@')) return bad("must be local-part@domain");
  auto local = a.substr(0, at), domain = a.substr(at + 1);
  if (local.size() > 64) return bad("has a local part longer than 64 characters");
  if (local.front() == '.' || local.back() == '.' || local.find("..") != std::string_view::npos)
    return bad("has a misplaced dot");
  // Outside addresses: RFC 5322 atext (O'Neill and the like); the service's own: a
  // conservative set every client and gateway handles.
  const std::string_view punctuation = external ? ".!#$%&'*+-/=?^_`{|}~" : ".-_+";
  for (char c : local)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || punctuation.find(c) != std::string_view::npos))
      return bad(external ? "has a character that is not allowed before the @"
                          : "may use only letters, digits and . - _ + before the @");
  if (domain.size() < 3 || domain.find('.') == std::string_view::npos || domain.front() == '.' ||
      domain.back() == '.' || domain.find("..") != std::string_view::npos)
    return bad("has no valid domain");
  for (char c : domain)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-')) return bad("has no valid domain");
  return {};
}

Status AdminService::validate_ods_code(std::string_view ods) {
  // ODS codes are 3 to 10 upper-case letters and digits (trusts: 3, sites and practices: 5-6).
  if (ods.size() < 3 || ods.size() > 10)
    return make_error(Errc::invalid_argument, "ODS code '" + std::string(ods) + "' must be 3 to 10 characters");
  for (char c : ods)
    if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
      return make_error(Errc::invalid_argument,
                        "ODS code '" + std::string(ods) + "' may contain only upper-case letters and digits");
  return {};
}

uint64_t AdminService::default_quota(AccountKind kind) const {
  return kind == AccountKind::shared ? config_.quota.shared_mailbox_bytes : config_.quota.default_mailbox_bytes;
}

Status AdminService::check_quota(const Principal& by, OrgId org_id, AccountKind kind, uint64_t bytes,
                                 AccountId except, std::string_view target) {
  // Not 0: the store reads a limit of 0 as none.
  if (bytes == 0) return make_error(Errc::invalid_argument, "a quota must be at least 1 byte (there is no unlimited quota)");
  if (bytes > config_.quota.max_mailbox_bytes)
    return make_error(Errc::invalid_argument,
                      "a quota may be at most " + std::to_string(config_.quota.max_mailbox_bytes) + " bytes");
  // A quota above the national default uses one of the organisation's larger quotas
  // (PRODUCT.md A1); national administrators give the allowance and are not bound by it.
  if (bytes <= default_quota(kind) || by.system || by.has(Role::national_admin)) return {};
  auto org = store_.organisation(org_id);
  if (!org) return org.error();
  auto used = store_.count_large_quotas(org_id, config_.quota.default_mailbox_bytes, config_.quota.shared_mailbox_bytes,
                                        except);
  if (!used) return used.error();
  if (*used >= org->large_quota_allowance) {
    audit(store_, by, "account.quota", target, org_id, "denied",
          "{\"bytes\":" + std::to_string(bytes) + ",\"reason\":\"allowance\"}");
    return make_error(Errc::quota_exceeded,
                      "your organisation has used all " + std::to_string(org->large_quota_allowance) +
                          " of its larger quotas; ask the national team for a bigger allowance or lower another "
                          "mailbox's quota first");
  }
  return {};
}

Result<BootstrapResult> AdminService::bootstrap(std::string address, std::string password) {
  BootstrapResult out;
  const auto& n = config_.national;
  auto org = store_.organisation_by_ods(n.ods_code);
  if (!org) {
    if (org.error().code != Errc::not_found) return org.error();
    if (Status s = validate_ods_code(n.ods_code); !s) return s.error();
    org = store_.create_organisation({n.ods_code, n.name, "national", {ascii_lower(n.domain)}});
    if (!org) return org.error();
    audit(store_, Principal::service(), "organisation.create", org->ods_code, org->id, "ok", "{\"bootstrap\":true}");
  }
  auto accounts = store_.list_accounts(org->id);
  if (!accounts) return accounts.error();
  for (const auto& a : *accounts)
    if (a.has_role(Role::national_admin)) {
      out.admin_address = a.address;
      return out;
    }
  if (address.empty()) address = "admin@" + ascii_lower(n.domain);
  if (Status s = validate_address(address); !s) return s.error();
  if (password.empty()) {
    password = crypto::random_token(15);  // 20 characters of base64url
    out.admin_password = password;
  }
  if (Status s = check_password(password, AccountKind::person); !s) return s.error();
  CreateAccountRequest r;
  r.address = address;
  r.display_name = "National administrator";
  r.ods_code = n.ods_code;
  r.roles = {Role::user, Role::national_admin};
  // The operator chose (or we generated) this password: only the length rule applies, so
  // that a start-up is never refused for a word in "National administrator".
  auto acct = create_account(Principal::service(), r);
  if (!acct) return acct.error();
  std::string hash = crypto::hash_password(password);
  if (hash.empty()) return make_error(Errc::temporary, "out of memory hashing the password");
  // A generated password was printed on a terminal: it must be changed at first use, so a
  // sign-in gets the forced-change flow and the account's API token (caremailctl) may only
  // set the password until then. One the operator chose (CAREMAIL_ADMIN_PASSWORD) is theirs.
  bool must_change = !out.admin_password.empty();
  if (Status s = store_.set_password_hash(acct->id, hash, now(), must_change,
                                          static_cast<size_t>(config_.password.history));
      !s)
    return s.error();
  // RFC 5321 4.5.1: postmaster@ every domain must reach a person; on the national
  // domain that is the first national administrator until an operator changes it.
  if (Status s = store_.add_alias(acct->id, "postmaster@" + ascii_lower(n.domain)); !s && s.error().code != Errc::already_exists)
    return s.error();
  // The operator's token for caremailctl (data_dir/admin.token); caremaild renews it at
  // start (renew_operator_token).
  auto token = issue_token(*acct, "caremailctl (bootstrap)", config_.api.operator_token_seconds);
  if (!token) return token.error();
  out.created = true;
  out.admin_address = acct->address;
  out.api_token = token->token;
  return out;
}

Result<Organisation> AdminService::create_organisation(const Principal& by, NewOrganisation o) {
  if (!by.system && !by.has(Role::national_admin)) {
    audit(store_, by, "organisation.create", o.ods_code, 0, "denied");
    return denied("only national administrators create organisations");
  }
  if (Status s = validate_ods_code(o.ods_code); !s) return s.error();
  if (o.name.empty() || o.name.size() > 200)
    return make_error(Errc::invalid_argument, "organisation name must be 1 to 200 characters");
  if (o.short_name.empty()) o.short_name = ascii_lower(o.ods_code);
  for (auto& d : o.domains) {
    d = ascii_lower(d);
    if (Status s = validate_address("x@" + d); !s)
      return make_error(Errc::invalid_argument, "domain '" + d + "' is not a valid domain name");
  }
  auto r = store_.create_organisation(o);
  if (!r) return r.error();
  std::string detail = "{\"name\":" + json_str(o.name) + "}";
  audit(store_, by, "organisation.create", r->ods_code, r->id, "ok", detail);
  return r;
}

Result<std::vector<Organisation>> AdminService::list_organisations(const Principal& by) {
  if (by.restricted()) return denied("finish signing in first");
  auto all = store_.list_organisations();
  if (!all) return all;
  if (by.system || by.national()) return all;
  std::vector<Organisation> own;
  for (auto& o : *all)
    if (o.id == by.org_id) own.push_back(std::move(o));
  return own;
}

Result<Account> AdminService::create_account(const Principal& by, CreateAccountRequest r) {
  auto org = store_.organisation_by_ods(r.ods_code);
  if (!org) {
    if (org.error().code == Errc::not_found)
      return make_error(Errc::invalid_argument, "no organisation with ODS code " + r.ods_code);
    return org.error();
  }
  if (!administers(by, org->id)) {
    audit(store_, by, "account.create", r.address, org->id, "denied");
    return denied("you may not create accounts in organisation " + org->ods_code);
  }
  if (!org->open)
    return make_error(Errc::conflict, "organisation " + org->ods_code + " is closed; create the account in its successor");
  for (Role role : r.roles)
    if (role != Role::user && !may_grant(by, role)) {
      audit(store_, by, "account.create", r.address, org->id, "denied",
            "{\"role\":" + json_str(to_string(role)) + "}");
      return denied(is_national_role(role) ? "only national administrators grant national roles"
                                           : "you may not give the role " + std::string(to_string(role)));
    }
  r.address = ascii_lower(r.address);
  if (Status s = validate_address(r.address); !s) return s.error();
  if (r.display_name.size() > 200) return make_error(Errc::invalid_argument, "display name is longer than 200 characters");
  if (std::find(r.roles.begin(), r.roles.end(), Role::user) == r.roles.end()) r.roles.insert(r.roles.begin(), Role::user);
  NewAccount na;
  na.address = r.address;
  na.display_name = r.display_name.empty() ? r.address.substr(0, r.address.find('@')) : r.display_name;
  na.org_id = org->id;
  na.kind = r.kind;
  na.roles = r.roles;
  na.quota_bytes = r.quota_bytes.value_or(r.kind == AccountKind::shared ? config_.quota.shared_mailbox_bytes
                                                                          : config_.quota.default_mailbox_bytes);
  if (r.quota_bytes)
    if (Status s = check_quota(by, org->id, r.kind, *r.quota_bytes, 0, r.address); !s) return s.error();
  if (!r.password.empty()) {
    if (r.kind == AccountKind::shared)
      return make_error(Errc::invalid_argument, "shared mailboxes never log in and have no password");
    identity::PasswordChange change;
    change.password = r.password;
    change.kind = r.kind == AccountKind::application ? identity::AccountKind::application
                                                     : identity::AccountKind::person;
    change.display_name = na.display_name;
    change.address = na.address;
    if (Status s = policy_->check(change); !s) return s.error();
    na.password_hash = crypto::hash_password(r.password);
    na.must_change_password = r.must_change_password && r.kind == AccountKind::person;
    if (na.password_hash.empty()) return make_error(Errc::temporary, "out of memory hashing the password");
  }
  auto acct = store_.create_account(na);
  if (!acct) return acct.error();
  ctx_.changed(acct->id);
  std::string roles;
  for (Role x : acct->roles) roles += (roles.empty() ? "" : ",") + std::string(to_string(x));
  audit(store_, by, "account.create", acct->address, acct->org_id, "ok",
        "{\"kind\":" + json_str(to_string(acct->kind)) + ",\"roles\":" + json_str(roles) + "}");
  return acct;
}

Result<std::vector<Account>> AdminService::list_accounts(const Principal& by, std::optional<std::string> ods) {
  if (by.restricted()) return denied("finish signing in first");
  std::optional<OrgId> org;
  if (ods) {
    auto o = store_.organisation_by_ods(*ods);
    if (!o) return o.error();
    org = o->id;
  }
  if (!by.system && !by.national()) {
    if (!is_local_staff(by)) return denied("only administrators list accounts");
    if (org && *org != by.org_id) {
      audit(store_, by, "account.list", *ods, *org, "denied");
      return denied("you may list accounts of your own organisation only");
    }
    org = by.org_id;
  }
  return store_.list_accounts(org);
}

Result<Account> AdminService::get_account(const Principal& by, std::string_view address) {
  auto acct = store_.account_by_address(address);
  if (!acct) return acct.error();
  if (by.restricted() && by.account_id != acct->id)
    return denied("finish signing in first (change your password, accept the Acceptable Use Policy or set up "
                  "two-step verification)");
  if (by.system || by.account_id == acct->id || sees_accounts_of(by, acct->org_id)) return acct;
  // Not in scope: indistinguishable from absent, so no one learns who exists.
  return make_error(Errc::not_found, "no account " + std::string(address));
}

Result<Account> AdminService::get_account_by_id(const Principal& by, AccountId id) {
  auto acct = store_.account(id);
  if (!acct) return acct.error();
  return get_account(by, acct->address);
}

std::string AdminService::ods_code(OrgId id) {
  auto o = store_.organisation(id);
  return o ? o->ods_code : std::string();
}

Status AdminService::check_store() {
  auto seq = store_.last_change_seq();
  if (!seq) return seq.error();
  return {};
}

Status AdminService::set_password(const Principal& by, std::string_view address, const PasswordChange& change) {
  auto acct = store_.account_by_address(address);
  if (!acct) return acct.error();
  bool self = by.account_id == acct->id && !by.system;
  // Setting someone else's password takes the account over, so it is for those with at
  // least its rights (may_reset_credentials): helpdesk resets plain users' passwords, a
  // local administrator not another administrator's, nobody but national administrators
  // a national role's (a local admin could reset a national admin placed in their
  // organisation, found by admin_service_test; and a primary local admin, found by the
  // authorisation matrix test).
  if (!self && (by.restricted() || !may_reset_credentials(by, *acct))) {
    audit(store_, by, "account.set_password", acct->address, acct->org_id, "denied");
    // Out of scope answers like an absent account (as get_account does): no enumeration.
    if (!by.system && !by.national() && acct->org_id != by.org_id)
      return make_error(Errc::not_found, "no account " + std::string(address));
    return denied("you may not set this account's password");
  }
  if (acct->kind == AccountKind::shared)
    return make_error(Errc::invalid_argument, "shared mailboxes never log in and have no password");
  std::string proof;  // how the person proved themselves, for the audit
  if (self) {
    // A stolen session or token must not take the account over by choosing a new password:
    // the person proves they know the current one, unless this request carried it (HTTP
    // Basic) or this is the forced-change flow of a sign-in made with it after the reset or
    // expiry (issue 14: a restricted token from before a reset could set the password).
    bool proven = by.via == Principal::Via::password || (by.must_change_password && by.forced_change_sign_in);
    if (proven) proof = by.via == Principal::Via::password ? "password" : "forced change";
    if (change.current_password) {
      proof = "current password";
      UnixTime t = now();
      bool right = !acct->password_hash.empty() && crypto::verify_password(acct->password_hash, *change.current_password);
      if (!right) {
        AuthContext ctx;
        ctx.protocol = "http";
        sign_in_.note_failure(*acct, ctx, "current password", t);
        audit(store_, by, "account.set_password", acct->address, acct->org_id, "denied",
              "{\"reason\":\"wrong current password\"}");
        return denied("your current password is not right");
      }
    } else if (change.mfa_code) {
      // A fresh second-factor step instead (issue 14): only for an account enrolled in MFA,
      // a wrong code counts towards the lockout like a wrong password, and each TOTP step
      // or recovery code works once (check_second_factor).
      proof = "second factor";
      AuthContext ctx;
      ctx.protocol = "http";
      auto m = store_.mfa(acct->id);
      if (!m || !m->enabled) {
        audit(store_, by, "account.set_password", acct->address, acct->org_id, "denied",
              "{\"reason\":\"no second factor set up\"}");
        return make_error(Errc::invalid_argument,
                          "your account has no second factor set up: give your current password "
                          "('current_password') instead");
      }
      if (Status st = sign_in_.check_second_factor(*acct, *change.mfa_code, ctx); !st) {
        audit(store_, by, "account.set_password", acct->address, acct->org_id, "denied",
              "{\"reason\":\"wrong second factor\"}");
        if (st.error().code == Errc::temporary) return st;
        return denied("that code is not right (or was used already): give a fresh code or your current password");
      }
    } else if (!proven) {
      audit(store_, by, "account.set_password", acct->address, acct->org_id, "denied",
            "{\"reason\":\"no current password\"}");
      return make_error(Errc::invalid_argument,
                        "give your current password ('current_password'), or a code from your authenticator "
                        "('mfa_code') if you use one, to choose a new one; if you have forgotten it, use the "
                        "password reset or ask your helpdesk");
    }
  }
  if (Status s = check_new_password(*acct, change.password); !s) return s;
  std::string hash = crypto::hash_password(change.password);
  if (hash.empty()) return make_error(Errc::temporary, "out of memory hashing the password");
  // A reset by someone else (administrator, helpdesk) must be changed at the next sign-in
  // (PRODUCT.md S4); the service itself (bootstrap, tools) and the person do not force it.
  bool must_change = !self && !by.system && acct->kind == AccountKind::person;
  if (Status s = store_.set_password_hash(acct->id, hash, now(), must_change,
                                          static_cast<size_t>(config_.password.history));
      !s)
    return s;
  sign_in_.forget_password(acct->id);
  // Every other sign-in ends with the old password: sessions, API tokens and (unless kept)
  // app passwords, so a stolen one does not outlive a reset. The person's own session or
  // token that made the change goes on.
  std::string keep_session = self && by.via == Principal::Via::session ? by.credential_hash : std::string();
  std::string keep_token = self && by.via == Principal::Via::token ? by.credential_hash : std::string();
  auto revoked = store_.revoke_credentials(acct->id, keep_session, keep_token, !change.keep_app_passwords);
  if (!revoked) {
    // The password is set but the old sign-ins are not gone: say so, and let them retry.
    log::error("account.revoke_failed", {{"account", acct->address}, {"error", revoked.error().message}});
    audit(store_, by, "account.set_password", acct->address, acct->org_id, "ok",
          "{\"revoked\":false}");
    return make_error(Errc::temporary, "the password is set but the old sign-ins could not be ended; set it again");
  }
  audit(store_, by, "account.set_password", acct->address, acct->org_id, "ok",
        std::string("{\"self\":") + (self ? "true" : "false") +
            (proof.empty() ? std::string() : ",\"proof\":" + json_string(proof)) +
            ",\"must_change\":" + (must_change ? "true" : "false") +
            ",\"revoked\":{\"sessions\":" + std::to_string(revoked->sessions) +
            ",\"api_tokens\":" + std::to_string(revoked->api_tokens) +
            ",\"app_passwords\":" + std::to_string(revoked->app_passwords) + "}}");
  return {};
}

Status AdminService::set_sending_suspended(const Principal& by, std::string_view address, bool suspended) {
  auto acct = store_.account_by_address(address);
  if (!acct) return acct.error();
  if (!administers(by, acct->org_id)) {
    audit(store_, by, suspended ? "mail.sending_suspend" : "mail.sending_resume", acct->address, acct->org_id,
          "denied");
    if (!by.system && !by.national() && acct->org_id != by.org_id)
      return make_error(Errc::not_found, "no account " + std::string(address));
    return denied("you may not change this account's sending");
  }
  if (Status s = store_.set_sending_suspended(acct->id, suspended); !s) return s;
  audit(store_, by, suspended ? "mail.sending_suspend" : "mail.sending_resume", acct->address, acct->org_id, "ok");
  return {};
}

Result<NewApiToken> AdminService::issue_token(const Account& acct, std::string_view name, UnixTime lifetime) {
  NewApiToken out;
  out.token = "cm_" + crypto::random_token(32);
  auto t = store_.add_api_token(acct.id, crypto::sha256_hex(out.token), name, now() + lifetime);
  if (!t) return t.error();
  out.info = std::move(*t);
  audit(store_, Principal::of(acct), "api_token.issue", acct.address, acct.org_id, "ok",
        "{\"id\":" + std::to_string(out.info.id) + ",\"name\":" + json_str(name) +
            ",\"expires_at\":" + std::to_string(out.info.expires_at) + "}");
  return out;
}

Result<NewApiToken> AdminService::issue_api_token(const Principal& by, std::string_view name) {
  if (by.system) return make_error(Errc::invalid_argument, "the service itself has no API tokens");
  if (by.restricted()) return denied("change your password or accept the Acceptable Use Policy first");
  auto acct = store_.account(by.account_id);
  if (!acct) return acct.error();
  return issue_token(*acct, name,
                     acct->kind == AccountKind::application ? config_.api.application_token_seconds
                                                             : config_.api.token_seconds);
}

Result<std::vector<ApiToken>> AdminService::list_api_tokens(const Principal& by, std::string_view address) {
  auto acct = credentials_in_scope(store_, by, address, "api_token.list", /*self_ok=*/true);
  if (!acct) return acct.error();
  return store_.api_tokens(acct->id);
}

Status AdminService::revoke_api_token(const Principal& by, std::string_view address, int64_t id) {
  auto acct = credentials_in_scope(store_, by, address, "api_token.revoke", /*self_ok=*/true);
  if (!acct) return acct.error();
  if (Status s = store_.delete_api_token(acct->id, id); !s) return s;
  audit(store_, by, "api_token.revoke", acct->address, acct->org_id, "ok", "{\"id\":" + std::to_string(id) + "}");
  return {};
}

Result<std::optional<std::string>> AdminService::renew_operator_token(std::string_view current) {
  const UnixTime t = now();
  std::optional<ApiToken> old;
  if (!current.empty() && current.size() <= 200)
    if (auto tk = store_.api_token(crypto::sha256_hex(current)); tk) old = std::move(*tk);
  if (old) {
    auto acct = store_.account(old->account_id);
    bool works = acct && acct->has_role(Role::national_admin) && SignInService::may_sign_in(acct->state) && old->expires_at > t;
    if (works && old->expires_at - t > config_.api.operator_token_seconds / 3) return std::optional<std::string>();
  }
  auto org = store_.organisation_by_ods(config_.national.ods_code);
  if (!org) return org.error();
  auto accounts = store_.list_accounts(org->id);
  if (!accounts) return accounts.error();
  const Account* admin = nullptr;
  for (const auto& a : *accounts)
    if (a.has_role(Role::national_admin) && SignInService::may_sign_in(a.state) && (!admin || a.id < admin->id)) admin = &a;
  if (!admin) return make_error(Errc::not_found, "no national administrator who may sign in holds the operator token");
  auto token = issue_token(*admin, "caremailctl (operator, renewed at start)", config_.api.operator_token_seconds);
  if (!token) return token.error();
  if (old) (void)store_.delete_api_token(old->account_id, old->id);
  audit(store_, Principal::service(), "api_token.renew_operator", admin->address, admin->org_id, "ok",
        "{\"id\":" + std::to_string(token->info.id) + ",\"replaced\":" + (old ? std::to_string(old->id) : "null") +
            ",\"expires_at\":" + std::to_string(token->info.expires_at) + "}");
  return std::optional<std::string>(std::move(token->token));
}

Result<std::vector<AuditEvent>> AdminService::audit_events(const Principal& by, int64_t after_id, size_t limit) {
  std::optional<OrgId> scope;
  if (by.restricted()) return denied("finish signing in first");
  if (!by.system && !by.national()) {
    if (!by.has(Role::auditor) && !is_local_admin(by))
      return denied("only auditors, administrators and national roles read the audit log");
    scope = by.org_id;  // their own organisation only
  }
  return store_.audit_events(scope, after_id, std::min<size_t>(limit, 1000));
}

Result<std::vector<OutboundEntry>> AdminService::outbound_queue(const Principal& by, size_t limit) {
  if (by.restricted() || !(by.system || by.national())) return denied("only national roles see the outbound queue");
  return store_.list_outbound(limit);
}

}  // namespace caremail

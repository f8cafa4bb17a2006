// /api/v1/accounts[/{address}[/...]]: accounts and what administrators and helpdesks do to
// them (state and life cycle, roles, quota, aliases, passwords, second factor, sign-in
// records, app passwords, API tokens, legal hold). Thin: every decision (who may act on
// whom, which role may grant which) is the identity services' (AdminService, LifecycleService,
// SignInService, SessionService, SelfService).
#include "http/api_routes.hpp"

namespace caremail::http {

namespace json = boost::json;

Response app_password_list(Call& c, const std::string& address) {
  auto list = c.d.auth.list_app_passwords(c.p, address);
  if (!list) return problem(list.error());
  json::array out;
  for (const auto& a : *list) out.push_back(to_json(a));
  return json_response(200, json::object{{"app_passwords", out}});
}

namespace {

json::object failure_json(const AuthFailure& f) {
  return {{"at", f.at},         {"protocol", f.protocol}, {"peer", f.peer},
          {"client", f.client}, {"reason", f.reason},     {"familiar", f.familiar}};
}

// The roles of a JSON list of role names; nullopt when one is not a role name.
std::optional<std::vector<Role>> roles_of(const json::array& names) {
  std::vector<Role> roles;
  for (const auto& v : names) {
    auto role = v.is_string() ? parse_role(std::string_view(v.as_string())) : std::nullopt;
    if (!role) return std::nullopt;
    roles.push_back(*role);
  }
  return roles;
}

Response list_accounts(Call& c) {
  std::optional<std::string> ods;
  if (auto v = c.r.query_one("ods_code"); !v.empty()) ods = v;
  auto list = c.d.admin.list_accounts(c.p, ods);
  if (!list) return problem(list.error());
  json::array out;
  for (const auto& a : *list) out.push_back(to_json(a, ods_of(c.d, a.org_id)));
  return json_response(200, json::object{{"accounts", out}});
}

Response create_account(Call& c) {
  auto& b = c.body;
  CreateAccountRequest req;
  req.address = b.str("address").value_or("");
  req.display_name = b.str("display_name").value_or("");
  req.ods_code = b.str("ods_code").value_or("");
  req.password = b.str("password").value_or("");
  if (auto k = b.str("kind")) {
    auto kind = parse_account_kind(*k);
    if (!kind) return problem(400, "'kind' must be person, shared or application");
    req.kind = *kind;
  }
  if (const json::value* v = b.find("roles")) {
    if (!v->is_array()) return problem(400, "'roles' must be a list of role names");
    auto roles = roles_of(v->as_array());
    if (!roles) return problem(400, "unknown role in 'roles'");
    req.roles = std::move(*roles);
  }
  if (b.find("must_change_password")) {
    auto must = b.flag("must_change_password");
    if (!must) return problem(400, "'must_change_password' must be true or false");
    req.must_change_password = *must;
  }
  if (const json::value* v = b.find("quota_bytes")) {
    if (!v->is_int64() || v->as_int64() < 0) return problem(400, "'quota_bytes' must be a non-negative whole number");
    req.quota_bytes = static_cast<uint64_t>(v->as_int64());
  }
  if (!b.ok()) return problem(400, b.error());
  if (req.address.empty() || req.ods_code.empty()) return problem(400, "'address' and 'ods_code' are required");
  auto a = c.d.admin.create_account(c.p, req);
  if (!a) return problem(a.error());
  return json_response(201, to_json(*a, req.ods_code));
}

Response get_account(Call& c) {
  auto a = c.d.admin.get_account(c.p, c.param("address"));
  if (!a) return problem(a.error());
  return json_response(200, to_json(*a, ods_of(c.d, a->org_id)));
}

Response set_password(Call& c) {
  auto& b = c.body;
  PasswordChange change;
  auto pw = b.str("password");
  change.current_password = b.str("current_password");
  change.mfa_code = b.str("mfa_code");
  if (!b.ok()) return problem(400, b.error());
  if (!pw) return problem(400, "'password' is required");
  change.password = std::move(*pw);
  if (b.find("keep_app_passwords")) {
    auto keep = b.flag("keep_app_passwords");
    if (!keep) return problem(400, "'keep_app_passwords' must be true or false");
    change.keep_app_passwords = *keep;
  }
  // The session or token of this request goes on after the person's own change
  // (Principal::credential_hash); everything else of the account ends.
  return status_response(c.d.admin.set_password(c.p, c.param("address"), change));
}

Response quota(Call& c) {
  auto a = c.d.admin.get_account(c.p, c.param("address"));
  if (!a) return problem(a.error());
  auto q = c.d.mail.quota(c.p, a->id);
  if (!q) return problem(q.error());
  json::object o{{"used_bytes", q->bytes}, {"messages", q->messages}, {"limit_bytes", q->limit_bytes}};
  o["address"] = a->address;
  return json_response(200, o);
}

Response set_quota(Call& c) {
  const json::value* v = c.body.find("bytes");
  if (!v || !(v->is_int64() || v->is_uint64())) return problem(400, "'bytes' (the new quota in bytes) is required");
  if (v->is_int64() && v->as_int64() < 0) return problem(400, "'bytes' must not be negative");
  uint64_t bytes = v->is_uint64() ? v->as_uint64() : static_cast<uint64_t>(v->as_int64());
  return status_response(c.d.lifecycle.set_quota(c.p, c.param("address"), bytes));
}

Response sending(Call& c) {
  auto suspended = c.body.flag("suspended");
  if (!suspended) return problem(400, "'suspended' (true or false) is required");
  return status_response(c.d.admin.set_sending_suspended(c.p, c.param("address"), *suspended));
}

Response unlock(Call& c) { return status_response(c.d.auth.unlock(c.p, c.param("address"))); }
Response remove_mfa(Call& c) { return status_response(c.d.sessions.remove_mfa(c.p, c.param("address"))); }

Response auth_failures(Call& c) {
  auto f = c.d.auth.auth_failures(c.p, c.param("address"));
  if (!f) return problem(f.error());
  json::array out;
  for (const auto& x : *f) out.push_back(failure_json(x));
  return json_response(200, json::object{{"failures", out}});
}

Response app_passwords(Call& c) { return app_password_list(c, c.param("address")); }

Response revoke_app_password(Call& c) {
  auto id = parse_id(c.param("id"));
  if (!id) return problem(400, "app password ids are whole numbers");
  return status_response(c.d.auth.revoke_app_password(c.p, c.param("address"), *id));
}

Response tokens(Call& c) {
  auto list = c.d.admin.list_api_tokens(c.p, c.param("address"));
  if (!list) return problem(list.error());
  json::array out;
  for (const auto& t : *list) out.push_back(to_json(t, c.d.admin.now()));
  return json_response(200, json::object{{"tokens", out}});
}

Response revoke_token(Call& c) {
  auto id = parse_id(c.param("id"));
  if (!id) return problem(400, "token ids are whole numbers");
  return status_response(c.d.admin.revoke_api_token(c.p, c.param("address"), *id));
}

Response delete_account(Call& c) {
  return status_response(c.d.lifecycle.change_state(c.p, c.param("address"), AccountState::deleted));
}
Response disable(Call& c) {
  return status_response(c.d.lifecycle.change_state(c.p, c.param("address"), AccountState::disabled));
}
Response enable(Call& c) { return status_response(c.d.lifecycle.change_state(c.p, c.param("address"), AccountState::active)); }
Response restore(Call& c) { return status_response(c.d.lifecycle.restore_account(c.p, c.param("address"))); }
Response leaver(Call& c) { return status_response(c.d.lifecycle.mark_leaver(c.p, c.param("address"))); }

Response claim(Call& c) {
  std::string ods = c.body.str("ods_code").value_or("");
  if (!c.body.ok()) return problem(400, c.body.error());
  auto a = c.d.lifecycle.claim_joiner(c.p, c.param("address"), ods);
  if (!a) return problem(a.error());
  return json_response(200, to_json(*a, ods_of(c.d, a->org_id)));
}

Response set_roles(Call& c) {
  const json::value* v = c.body.find("roles");
  if (!v || !v->is_array()) return problem(400, "'roles' (a list of role names) is required");
  auto roles = roles_of(v->as_array());
  if (!roles)
    return problem(400, "unknown role in 'roles'; roles are user, local_admin, primary_local_admin, "
                        "local_helpdesk, authoriser, auditor, national_admin, national_helpdesk");
  return status_response(c.d.lifecycle.set_roles(c.p, c.param("address"), std::move(*roles)));
}

Response add_alias(Call& c) {
  auto alias = c.body.str("alias");
  if (!c.body.ok() || !alias) return problem(400, "'alias' (the new address) is required");
  return status_response(c.d.lifecycle.add_alias(c.p, c.param("address"), *alias));
}

Response remove_alias(Call& c) {
  return status_response(c.d.lifecycle.remove_alias(c.p, c.param("address"), c.param("alias")));
}

Response check_account_secret(Call& c) {
  auto secret = c.body.str("secret");
  if (!c.body.ok() || !secret) return problem(400, "'secret' (what the caller says) is required");
  auto m = c.d.self_service.check_account_secret(c.p, c.param("address"), *secret);
  if (!m) return problem(m.error());
  return json_response(200, json::object{{"match", *m}});
}

Response legal_hold(Call& c) {
  auto hold = c.body.flag("hold");
  if (!hold) return problem(400, "'hold' (true or false) is required");
  return status_response(c.d.lifecycle.set_legal_hold(c.p, c.param("address"), *hold));
}

constexpr auto kJson = BodyUse::json;
constexpr auto kSigned = Access::signed_in;

const Route kRoutes[] = {
    {"GET", "/api/v1/accounts", list_accounts},
    {"POST", "/api/v1/accounts", create_account, kSigned, kJson, kHashesPassword},
    {"GET", "/api/v1/accounts/{address}", get_account},
    {"DELETE", "/api/v1/accounts/{address}", delete_account},
    {"PUT", "/api/v1/accounts/{address}/password", set_password, Access::own_while_restricted, kJson, kHashesPassword},
    {"POST", "/api/v1/accounts/{address}/password", set_password, Access::own_while_restricted, kJson, kHashesPassword},
    {"GET", "/api/v1/accounts/{address}/quota", quota},
    {"PUT", "/api/v1/accounts/{address}/quota", set_quota, kSigned, kJson},
    {"POST", "/api/v1/accounts/{address}/quota", set_quota, kSigned, kJson},
    {"PUT", "/api/v1/accounts/{address}/sending", sending, kSigned, kJson},
    {"POST", "/api/v1/accounts/{address}/sending", sending, kSigned, kJson},
    {"POST", "/api/v1/accounts/{address}/unlock", unlock},
    {"DELETE", "/api/v1/accounts/{address}/mfa", remove_mfa, kSigned, BodyUse::none, kHashesPassword},
    {"GET", "/api/v1/accounts/{address}/auth-failures", auth_failures},
    {"GET", "/api/v1/accounts/{address}/app-passwords", app_passwords},
    {"DELETE", "/api/v1/accounts/{address}/app-passwords/{id}", revoke_app_password},
    {"GET", "/api/v1/accounts/{address}/tokens", tokens},
    {"DELETE", "/api/v1/accounts/{address}/tokens/{id}", revoke_token},
    {"POST", "/api/v1/accounts/{address}/leaver", leaver},
    {"POST", "/api/v1/accounts/{address}/claim", claim, kSigned, BodyUse::json_if_sent},
    {"POST", "/api/v1/accounts/{address}/disable", disable},
    {"POST", "/api/v1/accounts/{address}/enable", enable},
    {"POST", "/api/v1/accounts/{address}/restore", restore},
    {"PUT", "/api/v1/accounts/{address}/roles", set_roles, kSigned, kJson},
    {"POST", "/api/v1/accounts/{address}/roles", set_roles, kSigned, kJson},
    {"POST", "/api/v1/accounts/{address}/aliases", add_alias, kSigned, kJson},
    {"DELETE", "/api/v1/accounts/{address}/aliases/{alias}", remove_alias},
    {"POST", "/api/v1/accounts/{address}/account-secret/check", check_account_secret, kSigned, kJson, kHashesPassword},
    {"PUT", "/api/v1/accounts/{address}/legal-hold", legal_hold, kSigned, kJson},
    {"POST", "/api/v1/accounts/{address}/legal-hold", legal_hold, kSigned, kJson},
};

}  // namespace

std::span<const Route> account_routes() { return kRoutes; }

}  // namespace caremail::http

// /api/v1/me[/...], /api/v1/tokens and /api/v1/aup: what a signed-in person does for
// themselves (their account, two-step verification, security questions, account secret,
// app passwords, API tokens, accepting the Acceptable Use Policy) and publishing the policy.
// Thin: every decision is the identity services' (AdminService, SignInService, SessionService,
// SelfService).
#include "http/api_routes.hpp"

namespace caremail::http {

namespace json = boost::json;

namespace {

Response me(Call& c) {
  auto acct = c.d.admin.get_account(c.p, c.p.address);
  if (!acct) return problem(acct.error());
  auto out = to_json(*acct, ods_of(c.d, acct->org_id));
  // What this sign-in still has to do before anything else works.
  out["required_actions"] = required_actions(c.p);
  return json_response(200, out);
}

// A signed-in person (or application) issues an API token for themselves, e.g. for
// scripts; it carries exactly their own rights.
Response issue_token(Call& c) {
  std::string name = c.body.str("name").value_or("api");
  if (!c.body.ok()) return problem(400, c.body.error());
  if (name.empty() || name.size() > 100) return problem(400, "'name' must be 1 to 100 characters");
  auto token = c.d.admin.issue_api_token(c.p, name);
  if (!token) return problem(token.error());
  auto out = to_json(token->info, c.d.admin.now());
  out["token"] = token->token;  // shown once
  return json_response(201, out);
}

Response begin_totp(Call& c) {
  auto e = c.d.sessions.begin_totp(c.p);
  if (!e) return problem(e.error());
  return json_response(201, json::object{{"secret", e->secret}, {"otpauth_uri", e->otpauth_uri}});
}

Response confirm_totp(Call& c) {
  auto code = c.body.str("code");
  if (!c.body.ok() || !code) return problem(400, "'code' (the 6 digits your app shows) is required");
  auto codes = c.d.sessions.confirm_totp(c.p, *code);
  if (!codes) return problem(codes.error());
  json::array out;
  for (const auto& x : *codes) out.emplace_back(x);
  return json_response(200, json::object{{"recovery_codes", out}});
}

Response remove_own_mfa(Call& c) {
  std::string code = c.body.str("code").value_or("");
  return status_response(c.d.sessions.remove_mfa(c.p, c.p.address, code, http_context(c.r)));
}

Response security_questions(Call& c) {
  auto q = c.d.self_service.security_questions(c.p);
  if (!q) return problem(q.error());
  json::array out;
  for (const auto& x : *q) out.emplace_back(x);
  return json_response(200, json::object{{"questions", out}, {"set", !q->empty()}});
}

Response set_security_questions(Call& c) {
  constexpr const char* kShape = "'questions' must be a list of three {\"question\": ..., \"answer\": ...}";
  const json::value* list = c.body.find("questions");
  if (!list || !list->is_array()) return problem(400, kShape);
  std::vector<SecurityQuestion> qa;
  for (const auto& v : list->as_array()) {
    if (!v.is_object()) return problem(400, kShape);
    JsonFields item(v.as_object());
    auto q = item.str("question");
    auto a = item.str("answer");
    if (!item.ok() || !q || !a) return problem(400, kShape);
    qa.push_back({*q, *a});
  }
  return status_response(c.d.self_service.set_security_questions(c.p, std::move(qa)));
}

Response set_account_secret(Call& c) {
  auto secret = c.body.str("secret");
  if (!c.body.ok() || !secret) return problem(400, "'secret' is required");
  return status_response(c.d.self_service.set_account_secret(c.p, *secret));
}

Response own_app_passwords(Call& c) { return app_password_list(c, c.p.address); }

Response create_app_password(Call& c) {
  auto name = c.body.str("name");
  if (!c.body.ok()) return problem(400, c.body.error());
  auto a = c.d.auth.create_app_password(c.p, name.value_or(""));
  if (!a) return problem(a.error());
  auto out = to_json(a->info);
  out["password"] = a->secret;  // shown once
  return json_response(201, out);
}

Response revoke_own_app_password(Call& c) {
  auto id = parse_id(c.param("id"));
  if (!id) return problem(400, "app password ids are whole numbers");
  return status_response(c.d.auth.revoke_app_password(c.p, c.p.address, *id));
}

Response current_aup(Call& c) {
  auto v = c.d.auth.current_aup(c.p);
  if (!v) return problem(v.error());
  return json_response(200, json::object{{"version", v->version}, {"text", v->text}, {"published_at", v->published_at}});
}

Response publish_aup(Call& c) {
  auto text = c.body.str("text");
  if (!c.body.ok()) return problem(400, c.body.error());
  auto v = c.d.auth.publish_aup(c.p, text.value_or(""));
  if (!v) return problem(v.error());
  return json_response(201, json::object{{"version", v->version}, {"published_at", v->published_at}});
}

Response accept_aup(Call& c) {
  auto version = c.body.integer("version");
  if (!version) return problem(400, "'version' (a whole number) is required");
  return status_response(c.d.auth.accept_aup(c.p, static_cast<int>(*version)));
}

const Route kRoutes[] = {
    {"GET", "/api/v1/me", me, Access::while_restricted},
    {"POST", "/api/v1/tokens", issue_token, Access::signed_in, BodyUse::json_if_sent},
    {"POST", "/api/v1/me/mfa/totp", begin_totp, Access::while_restricted},
    {"POST", "/api/v1/me/mfa/totp/confirm", confirm_totp, Access::while_restricted, BodyUse::json, kHashesPassword},
    {"DELETE", "/api/v1/me/mfa", remove_own_mfa, Access::signed_in, BodyUse::json_if_sent, kHashesPassword},
    {"GET", "/api/v1/me/security-questions", security_questions},
    {"PUT", "/api/v1/me/security-questions", set_security_questions, Access::signed_in, BodyUse::json, kHashesPassword},
    {"POST", "/api/v1/me/security-questions", set_security_questions, Access::signed_in, BodyUse::json, kHashesPassword},
    {"PUT", "/api/v1/me/account-secret", set_account_secret, Access::signed_in, BodyUse::json, kHashesPassword},
    {"POST", "/api/v1/me/account-secret", set_account_secret, Access::signed_in, BodyUse::json, kHashesPassword},
    {"GET", "/api/v1/me/app-passwords", own_app_passwords},
    {"POST", "/api/v1/me/app-passwords", create_app_password, Access::signed_in, BodyUse::json},
    {"DELETE", "/api/v1/me/app-passwords/{id}", revoke_own_app_password},
    {"POST", "/api/v1/me/aup", accept_aup, Access::while_aup_pending, BodyUse::json},
    {"GET", "/api/v1/aup", current_aup, Access::while_restricted},
    {"POST", "/api/v1/aup", publish_aup, Access::signed_in, BodyUse::json},
};

}  // namespace

std::span<const Route> me_routes() { return kRoutes; }

}  // namespace caremail::http

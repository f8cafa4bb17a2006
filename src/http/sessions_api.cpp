// /api/v1/sessions and /api/v1/password-reset[/complete]: signing in and out of the web
// client, and the self-service reset and unlock, which need no sign-in (that is what the
// person cannot do). Thin: every check (password, second factor, throttling, answers) is
// SessionService's or SelfService's.
#include "http/api_routes.hpp"

#include "common/log.hpp"

namespace caremail::http {

namespace json = boost::json;

json::array required_actions(const Principal& p) {
  json::array out;
  if (p.must_change_password) out.emplace_back("change_password");
  if (p.aup_pending) out.emplace_back("accept_aup");
  if (p.mfa_enrolment_pending) out.emplace_back("enrol_mfa");
  return out;
}

namespace {

Response start_session(Call& c) {
  auto& b = c.body;
  auto address = b.str("address");
  auto password = b.str("password");
  auto code = b.str("code");
  bool public_computer = b.flag("public_computer").value_or(false);
  if (!b.ok()) return problem(400, b.error());
  if (!address || !password) return problem(400, "'address' and 'password' are required");
  auto s = c.d.sessions.start_session(*address, *password, code.value_or(""), public_computer, http_context(c.r));
  if (!s) {
    log::warn("api.session_refused", {{"peer", c.r.peer}});
    json::object extra;
    if (s.error().message == "second factor required") extra["mfa_required"] = true;
    return problem(s.error().code == Errc::temporary ? 503 : 401, s.error().message, std::move(extra));
  }
  Response out = json_response(201, json::object{{"csrf_token", s->csrf_token},
                                                 {"expires_at", s->expires_at},
                                                 {"idle_seconds", s->idle_seconds},
                                                 {"public_computer", s->public_computer},
                                                 {"mfa", s->principal.mfa},
                                                 {"required_actions", required_actions(s->principal)},
                                                 {"alert", s->alert}});
  std::string cookie = "cm_session=" + s->token + "; Path=/; HttpOnly; Secure; SameSite=Strict";
  // A public computer keeps nothing once the browser closes; otherwise the cookie lives as
  // long as the session may.
  if (!s->public_computer)
    cookie += "; Max-Age=" + std::to_string(std::max<int64_t>(0, s->expires_at - c.d.admin.now()));
  out.headers.emplace_back("Set-Cookie", cookie);
  return out;
}

Response end_session(Call& c) {
  if (auto t = cookie_value(c.r.cookie, "cm_session").value_or(""); !t.empty()) (void)c.d.sessions.end_session(t);
  Response out = no_content();
  out.headers.emplace_back("Set-Cookie", "cm_session=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Strict");
  return out;
}

Response reset_questions(Call& c) {
  auto address = c.body.str("address");
  if (!c.body.ok() || !address || address->empty() || address->size() > 254)
    return problem(400, "'address' (your email address) is required");
  json::array qs;
  for (auto& q : c.d.self_service.reset_questions(*address)) qs.emplace_back(q);
  // The same answer for every address: nothing here says whether an account exists.
  return json_response(200, json::object{{"questions", qs},
                                         {"methods", json::array{"security_questions", "authenticator"}}});
}

Response reset_complete(Call& c) {
  auto& b = c.body;
  SelfServiceReset req;
  req.address = b.str("address").value_or("");
  req.code = b.str("code").value_or("");
  req.new_password = b.str("new_password");
  constexpr const char* kAnswers = "'answers' must be a list of three strings";
  req.answers = b.strings("answers", kAnswers).value_or(std::vector<std::string>{});
  if (!b.ok()) return problem(400, b.error());
  if (req.address.empty() || req.address.size() > 254) return problem(400, "'address' (your email address) is required");
  for (const auto& a : req.answers)
    if (a.size() > 200) return problem(400, kAnswers);
  return status_response(c.d.self_service.self_service_reset(req, http_context(c.r)));
}

const Route kRoutes[] = {
    {"POST", "/api/v1/sessions", start_session, Access::anyone, BodyUse::json, kHashesPassword},
    {"DELETE", "/api/v1/sessions/current", end_session, Access::while_restricted},
    {"POST", "/api/v1/password-reset", reset_questions, Access::anyone, BodyUse::json},
    {"POST", "/api/v1/password-reset/complete", reset_complete, Access::anyone, BodyUse::json, kHashesPassword},
};

}  // namespace

std::span<const Route> session_routes() { return kRoutes; }

}  // namespace caremail::http

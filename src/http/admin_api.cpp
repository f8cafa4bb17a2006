#include "http/admin_api.hpp"
#include "http/json_response.hpp"
#include "http/scim_api.hpp"

#include <boost/json.hpp>

#include "common/log.hpp"
#include "common/metrics.hpp"

namespace caremail::http {

namespace json = boost::json;

namespace {



json::object to_json(const Organisation& o) {
  json::array domains;
  for (const auto& d : o.domains) domains.emplace_back(d);
  return {{"id", o.id}, {"ods_code", o.ods_code}, {"name", o.name}, {"short_name", o.short_name},
          {"domains", domains}, {"open", o.open}, {"created_at", o.created_at},
          {"closed_at", o.closed_at}, {"successor_id", o.successor_id},
          {"large_quota_allowance", o.large_quota_allowance},
          {"sharing_agreement", o.sharing_agreement}};
}

json::object to_json(const Account& a, const std::string& ods) {
  json::array roles, aliases;
  for (Role r : a.roles) roles.emplace_back(to_string(r));
  for (const auto& x : a.aliases) aliases.emplace_back(x);
  return {{"id", a.id},
          {"address", a.address},
          {"display_name", a.display_name},
          {"ods_code", ods},
          {"kind", to_string(a.kind)},
          {"state", to_string(a.state)},
          {"roles", roles},
          {"aliases", aliases},
          {"quota_bytes", a.quota_bytes},
          {"has_password", !a.password_hash.empty()},
          {"sending_suspended", a.sending_suspended},
          {"created_at", a.created_at},
          {"password_changed_at", a.password_changed_at},
          {"must_change_password", a.must_change_password},
          {"locked_until", a.locked_until},
          {"unfamiliar_locked_until", a.unfamiliar_locked_until},
          {"aup_version", a.aup_version},
          {"last_login_at", a.last_login_at},
          {"state_changed_at", a.state_changed_at},
          {"legal_hold", a.legal_hold},
          {"external_id", a.external_id}};
}

json::object to_json(const AppPassword& a) {
  return {{"id", a.id},
          {"name", a.name},
          {"created_at", a.created_at},
          {"last_used_at", a.last_used_at},
          {"last_used_protocol", a.last_used_protocol},
          {"last_used_peer", a.last_used_peer}};
}

// Never the token or its hash: those are shown once, at issue.
json::object to_json(const ApiToken& t, UnixTime now) {
  return {{"id", t.id},
          {"name", t.name},
          {"created_at", t.created_at},
          {"expires_at", t.expires_at},
          {"expired", now >= t.expires_at},
          {"last_used_at", t.last_used_at}};
}

json::object to_json(const AuthFailure& f) {
  return {{"at", f.at},         {"protocol", f.protocol}, {"peer", f.peer},
          {"client", f.client}, {"reason", f.reason},     {"familiar", f.familiar}};
}

json::object to_json(const QuotaUsage& q) {
  return {{"used_bytes", q.bytes}, {"messages", q.messages}, {"limit_bytes", q.limit_bytes}};
}


// Optional string member; a wrong type is an error.
std::optional<std::string> get_str(const json::object& o, std::string_view key, std::string& err) {
  auto it = o.find(key);
  if (it == o.end() || it->value().is_null()) return std::nullopt;
  if (!it->value().is_string()) {
    err = "'" + std::string(key) + "' must be a string";
    return std::nullopt;
  }
  return std::string(it->value().as_string());
}

class Api {
 public:
  explicit Api(ApiDeps d) : d_(d) {}

  // The body a request may send, from its head (http_server asks only for more than
  // limits.max_http_unauthenticated_body_bytes): more only for a route that needs it and
  // only once the credentials have been checked; bad credentials are answered at once.
  BodyPolicy body_policy(const Request& r, const Config::Limits& l) {
    BodyPolicy out;
    out.limit = l.max_http_unauthenticated_body_bytes;
    bool api = r.path.rfind("/api/v1/", 0) == 0, scim = r.path.rfind("/scim/v2/", 0) == 0;
    if (!api && !scim) return out;  // /healthz, /metrics: no body
    if (r.path == "/api/v1/sessions" || r.path == "/api/v1/password-reset" ||
        r.path == "/api/v1/password-reset/complete")
      return out;  // before sign-in: a few hundred octets of JSON
    if (r.authorization.empty() && session_cookie(r).empty()) return out;  // the router answers 401
    auto who = authenticate(r);
    if (auto* refused = std::get_if<Response>(&who)) {
      out.reject = std::move(*refused);
      return out;
    }
    out.principal = std::make_shared<const Principal>(std::move(std::get<Principal>(who)));
    // Only message injection takes a whole message; every other route takes JSON.
    out.limit = r.path == "/api/v1/deliver" && r.method == "POST" ? l.max_http_body_bytes : l.max_http_json_body_bytes;
    return out;
  }

  Response route(const Request& r) {
    if (r.path == "/healthz") return health();
    if (r.path == "/metrics") {
      Response m;
      m.content_type = "text/plain; version=0.0.4";
      m.body = metrics::render();
      return m;
    }
    if (r.path.rfind("/scim/v2/", 0) == 0) {
      // SCIM 2.0 provisioning (http/scim_api.cpp), with the same authentication.
      auto who = r.principal ? std::variant<Principal, Response>(*r.principal) : authenticate(r);
      if (std::holds_alternative<Response>(who)) return std::get<Response>(who);
      return scim_route(std::get<Principal>(who), r, d_);
    }
    if (r.path.rfind("/api/v1/", 0) != 0) return problem(404, "no such resource");
    if (r.path == "/api/v1/sessions" && r.method == "POST") return start_session(r);
    // Self-service reset and unlock: no sign-in (that is what the person cannot do).
    if (r.path == "/api/v1/password-reset" && r.method == "POST") return reset_questions(r);
    if (r.path == "/api/v1/password-reset/complete" && r.method == "POST") return reset_complete(r);
    auto who = r.principal ? std::variant<Principal, Response>(*r.principal) : authenticate(r);
    if (std::holds_alternative<Response>(who)) return std::get<Response>(who);
    const Principal& p = std::get<Principal>(who);
    std::string_view rest = std::string_view(r.path).substr(8);
    if (p.restricted() && !allowed_while_restricted(p, r.method, rest))
      return problem(403, p.must_change_password ? "change your password first"
                          : p.aup_pending        ? "accept the Acceptable Use Policy first"
                                                 : "set up two-step verification first (POST /api/v1/me/mfa/totp)");

    if (rest == "organisations") {
      if (r.method == "GET") return list_orgs(p);
      if (r.method == "POST") return create_org(p, r);
      return problem(405, "use GET or POST");
    }
    if (rest == "accounts") {
      if (r.method == "GET") return list_accounts(p, r);
      if (r.method == "POST") return create_account(p, r);
      return problem(405, "use GET or POST");
    }
    if (rest.rfind("accounts/", 0) == 0) {
      std::string_view tail = rest.substr(9);
      auto slash = tail.find('/');
      std::string address(tail.substr(0, slash));
      std::string_view sub = slash == std::string_view::npos ? "" : tail.substr(slash + 1);
      if (sub.empty() && r.method == "GET") return get_account(p, address);
      if (sub == "password" && (r.method == "PUT" || r.method == "POST")) return set_password(p, address, r);
      if (sub == "quota" && r.method == "GET") return quota(p, address);
      if (sub == "sending" && (r.method == "PUT" || r.method == "POST")) return sending(p, address, r);
      if (sub == "mailboxes" && r.method == "GET") return mailboxes(p, address);
      if (sub == "unlock" && r.method == "POST") return status_response(d_.auth.unlock(p, address));
      if (sub == "mfa" && r.method == "DELETE") return status_response(d_.sessions.remove_mfa(p, address));
      if (sub == "auth-failures" && r.method == "GET") {
        auto f = d_.auth.auth_failures(p, address);
        if (!f) return problem(f.error());
        json::array out;
        for (const auto& x : *f) out.push_back(to_json(x));
        return json_response(200, json::object{{"failures", out}});
      }
      if (sub == "app-passwords" && r.method == "GET") return app_passwords(p, address);
      if (sub == "tokens" && r.method == "GET") {
        auto list = d_.admin.list_api_tokens(p, address);
        if (!list) return problem(list.error());
        json::array out;
        for (const auto& t : *list) out.push_back(to_json(t, d_.admin.now()));
        return json_response(200, json::object{{"tokens", out}});
      }
      if (sub.rfind("tokens/", 0) == 0 && r.method == "DELETE") {
        auto id = parse_id(sub.substr(7));
        if (!id) return problem(400, "token ids are whole numbers");
        return status_response(d_.admin.revoke_api_token(p, address, *id));
      }
      if (sub.rfind("app-passwords/", 0) == 0 && r.method == "DELETE") {
        auto id = parse_id(sub.substr(14));
        if (!id) return problem(400, "app password ids are whole numbers");
        return status_response(d_.auth.revoke_app_password(p, address, *id));
      }
      if (sub.empty() && r.method == "DELETE") return status_response(d_.lifecycle.change_state(p, address, AccountState::deleted));
      if (sub == "leaver" && r.method == "POST") return status_response(d_.lifecycle.mark_leaver(p, address));
      if (sub == "claim" && r.method == "POST") return claim(p, address, r);
      if (sub == "disable" && r.method == "POST") return status_response(d_.lifecycle.change_state(p, address, AccountState::disabled));
      if (sub == "enable" && r.method == "POST") return status_response(d_.lifecycle.change_state(p, address, AccountState::active));
      if (sub == "restore" && r.method == "POST") return status_response(d_.lifecycle.restore_account(p, address));
      if (sub == "roles" && (r.method == "PUT" || r.method == "POST")) return set_roles(p, address, r);
      if (sub == "quota" && (r.method == "PUT" || r.method == "POST")) return set_quota(p, address, r);
      if (sub == "aliases" && r.method == "POST") {
        auto body = parse_body(r);
        if (auto* resp = std::get_if<Response>(&body)) return *resp;
        std::string err;
        auto alias = get_str(std::get<json::object>(body), "alias", err);
        if (!err.empty() || !alias) return problem(400, "'alias' (the new address) is required");
        return status_response(d_.lifecycle.add_alias(p, address, *alias));
      }
      if (sub.rfind("aliases/", 0) == 0 && r.method == "DELETE")
        return status_response(d_.lifecycle.remove_alias(p, address, sub.substr(8)));
      if (sub == "account-secret/check" && r.method == "POST") {
        auto body = parse_body(r);
        if (auto* resp = std::get_if<Response>(&body)) return *resp;
        std::string err;
        auto secret = get_str(std::get<json::object>(body), "secret", err);
        if (!err.empty() || !secret) return problem(400, "'secret' (what the caller says) is required");
        auto m = d_.self_service.check_account_secret(p, address, *secret);
        if (!m) return problem(m.error());
        return json_response(200, json::object{{"match", *m}});
      }
      if (sub == "legal-hold" && (r.method == "PUT" || r.method == "POST")) {
        auto body = parse_body(r);
        if (auto* resp = std::get_if<Response>(&body)) return *resp;
        auto& o = std::get<json::object>(body);
        auto it = o.find("hold");
        if (it == o.end() || !it->value().is_bool()) return problem(400, "'hold' (true or false) is required");
        return status_response(d_.lifecycle.set_legal_hold(p, address, it->value().as_bool()));
      }
      // accounts/{address}/mailboxes/{name}/messages[/{uid}/raw]
      if (sub.rfind("mailboxes/", 0) == 0 && r.method == "GET") return messages(p, address, sub.substr(10), r);
      return problem(404, "no such resource");
    }
    if (rest.rfind("directory/", 0) == 0) return directory_route(p, r, d_, rest);
    if (rest == "deliver") {
      if (r.method != "POST") return problem(405, "use POST");
      return deliver(p, r);
    }
    if (rest == "queue") {
      // The outbound queue, for operators (national roles): who waits for what and why.
      if (r.method != "GET") return problem(405, "use GET");
      auto q = d_.admin.outbound_queue(p, 1000);
      if (!q) return problem(q.error());
      json::array out;
      for (const auto& e : *q)
        out.push_back(json::object{{"id", e.id}, {"queue_id", e.queue_id}, {"sender", e.sender},
                                   {"recipient", e.recipient}, {"size", e.size}, {"created_at", e.created_at},
                                   {"next_attempt_at", e.next_attempt_at}, {"attempts", e.attempts},
                                   {"last_error", e.last_error}, {"require_tls", e.require_tls}});
      return json_response(200, json::object{{"queue", out}});
    }
    if (rest == "audit") {
      if (r.method != "GET") return problem(405, "use GET");
      return audit_log(p, r);
    }
    if (rest == "tokens") {
      // A signed-in person (or application) issues an API token for themselves, e.g. for
      // scripts; it carries exactly their own rights.
      if (r.method != "POST") return problem(405, "use POST");
      std::string name = "api";
      if (!r.body.empty()) {
        auto body = parse_body(r);
        if (auto* resp = std::get_if<Response>(&body)) return *resp;
        std::string err;
        name = get_str(std::get<json::object>(body), "name", err).value_or("api");
        if (!err.empty()) return problem(400, err);
        if (name.empty() || name.size() > 100) return problem(400, "'name' must be 1 to 100 characters");
      }
      auto token = d_.admin.issue_api_token(p, name);
      if (!token) return problem(token.error());
      auto out = to_json(token->info, d_.admin.now());
      out["token"] = token->token;  // shown once
      return json_response(201, out);
    }
    if (rest == "sessions/current" && r.method == "DELETE") {
      if (auto t = session_cookie(r); !t.empty()) (void)d_.sessions.end_session(t);
      Response out;
      out.status = 204;
      out.headers.emplace_back("Set-Cookie", "cm_session=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Strict");
      return out;
    }
    if (rest == "me/mfa/totp" && r.method == "POST") {
      auto e = d_.sessions.begin_totp(p);
      if (!e) return problem(e.error());
      return json_response(201, json::object{{"secret", e->secret}, {"otpauth_uri", e->otpauth_uri}});
    }
    if (rest == "me/mfa/totp/confirm" && r.method == "POST") {
      auto body = parse_body(r);
      if (auto* resp = std::get_if<Response>(&body)) return *resp;
      std::string err;
      auto code = get_str(std::get<json::object>(body), "code", err);
      if (!err.empty() || !code) return problem(400, "'code' (the 6 digits your app shows) is required");
      auto codes = d_.sessions.confirm_totp(p, *code);
      if (!codes) return problem(codes.error());
      json::array out;
      for (const auto& c : *codes) out.emplace_back(c);
      return json_response(200, json::object{{"recovery_codes", out}});
    }
    if (rest == "me/mfa" && r.method == "DELETE") {
      std::string code;
      if (!r.body.empty()) {
        auto body = parse_body(r);
        if (auto* resp = std::get_if<Response>(&body)) return *resp;
        std::string err;
        code = get_str(std::get<json::object>(body), "code", err).value_or("");
      }
      AuthContext ctx;
      ctx.protocol = "http";
      ctx.peer = r.peer;
      ctx.client = r.user_agent;
      return status_response(d_.sessions.remove_mfa(p, p.address, code, ctx));
    }
    // Directory contacts and distribution lists (http/entries_api.cpp).
    if (rest.rfind("organisations/", 0) == 0 && is_entries_path(rest)) return entries_route(p, r, d_, rest);
    if (rest.rfind("organisations/", 0) == 0) {
      std::string_view tail = rest.substr(14);
      auto slash = tail.find('/');
      std::string ods(tail.substr(0, slash));
      std::string_view sub = slash == std::string_view::npos ? "" : tail.substr(slash + 1);
      if (sub == "close" && r.method == "POST") {
        auto body = parse_body(r);
        if (auto* resp = std::get_if<Response>(&body)) return *resp;
        std::string err;
        auto succ = get_str(std::get<json::object>(body), "successor", err);
        if (!err.empty() || !succ) return problem(400, "'successor' (the ODS code of the organisation taking over) is required");
        return status_response(d_.lifecycle.close_organisation(p, ods, *succ));
      }
      if (sub == "sharing-agreement" && (r.method == "PUT" || r.method == "POST")) {
        auto body = parse_body(r);
        if (auto* resp = std::get_if<Response>(&body)) return *resp;
        auto& o = std::get<json::object>(body);
        auto it = o.find("approved");
        if (it == o.end() || !it->value().is_bool()) return problem(400, "'approved' (true or false) is required");
        return status_response(d_.directory.set_sharing_agreement(p, ods, it->value().as_bool()));
      }
      if (sub == "quota-allowance" && (r.method == "PUT" || r.method == "POST")) {
        auto body = parse_body(r);
        if (auto* resp = std::get_if<Response>(&body)) return *resp;
        auto& o = std::get<json::object>(body);
        auto it = o.find("accounts");
        if (it == o.end() || !it->value().is_int64())
          return problem(400, "'accounts' (how many mailboxes may have a larger quota) is required");
        int64_t n = it->value().as_int64();
        if (n < 0 || n > 1000000) return problem(400, "'accounts' must be 0 to 1000000");
        return status_response(d_.lifecycle.set_quota_allowance(p, ods, static_cast<int>(n)));
      }
    }
    if (rest.rfind("organisations/", 0) == 0 && rest.size() > 18 && rest.substr(rest.size() - 4) == "/mfa" &&
        (r.method == "PUT" || r.method == "POST")) {
      std::string ods(rest.substr(14, rest.size() - 18));
      auto body = parse_body(r);
      if (auto* resp = std::get_if<Response>(&body)) return *resp;
      auto& o = std::get<json::object>(body);
      bool required = false;
      std::vector<std::string> nets;
      if (auto it = o.find("required"); it != o.end()) {
        if (!it->value().is_bool()) return problem(400, "'required' must be true or false");
        required = it->value().as_bool();
      }
      if (auto it = o.find("trusted_networks"); it != o.end()) {
        if (!it->value().is_array()) return problem(400, "'trusted_networks' must be a list of networks");
        for (auto& v : it->value().as_array()) {
          if (!v.is_string()) return problem(400, "'trusted_networks' must be a list of networks");
          nets.emplace_back(v.as_string());
        }
      }
      return status_response(d_.sessions.set_org_mfa_policy(p, ods, required, std::move(nets)));
    }
    if (rest == "me/security-questions") {
      if (r.method == "GET") {
        auto q = d_.self_service.security_questions(p);
        if (!q) return problem(q.error());
        json::array out;
        for (const auto& x : *q) out.emplace_back(x);
        return json_response(200, json::object{{"questions", out}, {"set", !q->empty()}});
      }
      if (r.method != "PUT" && r.method != "POST") return problem(405, "use GET or PUT");
      auto body = parse_body(r);
      if (auto* resp = std::get_if<Response>(&body)) return *resp;
      auto& o = std::get<json::object>(body);
      auto it = o.find("questions");
      constexpr const char* kShape = "'questions' must be a list of three {\"question\": ..., \"answer\": ...}";
      if (it == o.end() || !it->value().is_array()) return problem(400, kShape);
      std::vector<SecurityQuestion> qa;
      for (auto& v : it->value().as_array()) {
        if (!v.is_object()) return problem(400, kShape);
        std::string err;
        auto q = get_str(v.as_object(), "question", err);
        auto a = get_str(v.as_object(), "answer", err);
        if (!err.empty() || !q || !a) return problem(400, kShape);
        qa.push_back({*q, *a});
      }
      return status_response(d_.self_service.set_security_questions(p, std::move(qa)));
    }
    if (rest == "me/account-secret") {
      if (r.method != "PUT" && r.method != "POST") return problem(405, "use PUT");
      auto body = parse_body(r);
      if (auto* resp = std::get_if<Response>(&body)) return *resp;
      std::string err;
      auto secret = get_str(std::get<json::object>(body), "secret", err);
      if (!err.empty() || !secret) return problem(400, "'secret' is required");
      return status_response(d_.self_service.set_account_secret(p, *secret));
    }
    if (rest == "me/app-passwords") {
      if (r.method == "GET") return app_passwords(p, p.address);
      if (r.method != "POST") return problem(405, "use GET or POST");
      auto body = parse_body(r);
      if (auto* resp = std::get_if<Response>(&body)) return *resp;
      std::string err;
      auto name = get_str(std::get<json::object>(body), "name", err);
      if (!err.empty()) return problem(400, err);
      auto a = d_.auth.create_app_password(p, name.value_or(""));
      if (!a) return problem(a.error());
      auto out = to_json(a->info);
      out["password"] = a->secret;  // shown once
      return json_response(201, out);
    }
    if (rest.rfind("me/app-passwords/", 0) == 0 && r.method == "DELETE") {
      auto id = parse_id(rest.substr(17));
      if (!id) return problem(400, "app password ids are whole numbers");
      return status_response(d_.auth.revoke_app_password(p, p.address, *id));
    }
    if (rest == "aup") {
      if (r.method == "GET") {
        auto v = d_.auth.current_aup(p);
        if (!v) return problem(v.error());
        return json_response(200, json::object{{"version", v->version}, {"text", v->text},
                                                {"published_at", v->published_at}});
      }
      if (r.method != "POST") return problem(405, "use GET or POST");
      auto body = parse_body(r);
      if (auto* resp = std::get_if<Response>(&body)) return *resp;
      std::string err;
      auto text = get_str(std::get<json::object>(body), "text", err);
      if (!err.empty()) return problem(400, err);
      auto v = d_.auth.publish_aup(p, text.value_or(""));
      if (!v) return problem(v.error());
      return json_response(201, json::object{{"version", v->version}, {"published_at", v->published_at}});
    }
    if (rest == "me/aup") {
      if (r.method != "POST") return problem(405, "use POST");
      auto body = parse_body(r);
      if (auto* resp = std::get_if<Response>(&body)) return *resp;
      auto& o = std::get<json::object>(body);
      auto it = o.find("version");
      if (it == o.end() || !it->value().is_int64()) return problem(400, "'version' (a whole number) is required");
      return status_response(d_.auth.accept_aup(p, static_cast<int>(it->value().as_int64())));
    }
    if (rest == "me") {
      auto acct = d_.admin.get_account(p, p.address);
      if (!acct) return problem(acct.error());
      auto out = to_json(*acct, ods_of(acct->org_id));
      // What this sign-in still has to do before anything else works.
      out["required_actions"] = required_actions(p);
      return json_response(200, out);
    }
    return problem(404, "no such resource");
  }

 private:
  Response health() {
    auto seq = d_.store.last_change_seq();
    if (!seq) return problem(503, "store unavailable: " + seq.error().message);
    return json_response(200, json::object{{"status", "ok"}});
  }

  std::variant<Principal, Response> authenticate(const Request& r) {
    constexpr std::string_view kBearer = "Bearer ";
    constexpr std::string_view kBasic = "Basic ";
    if (r.authorization.compare(0, kBasic.size(), kBasic) == 0) {
      // No HTTP Basic: it sends the password with every request, so every request would
      // cost an Argon2id check (or hold the password in a cache), it cannot carry a second
      // factor, and a flood of it is a flood of hashing. Every client we ship uses a token
      // (caremailctl) or a session (the web client); refused without looking at it.
      log::info("api.basic_refused", {{"peer", r.peer}, {"path", r.path}});
      return problem(401, "HTTP Basic is not accepted: sign in with POST /api/v1/sessions (then send its cookie "
                          "and X-CSRF-Token) or use an API token (Authorization: Bearer <token>)");
    }
    if (r.authorization.empty()) {
      if (auto t = session_cookie(r); !t.empty()) {
        // A session: changes must carry the CSRF token (a page on another site can make the
        // browser send the cookie, never this header).
        bool changes = r.method != "GET" && r.method != "HEAD";
        std::optional<std::string_view> csrf;
        if (changes) csrf = std::string_view(r.csrf_token);
        auto p = d_.sessions.authenticate_session(t, csrf);
        if (!p) return problem(p.error().code == Errc::permission_denied ? 403 : 401, p.error().message);
        return std::move(p).value();
      }
    }
    if (r.authorization.size() <= kBearer.size() || r.authorization.compare(0, kBearer.size(), kBearer) != 0)
      return problem(401, "send an API token (Authorization: Bearer <token>) or sign in (POST /api/v1/sessions)");
    auto p = d_.auth.authenticate_token(std::string_view(r.authorization).substr(kBearer.size()));
    if (!p) {
      log::warn("api.auth_failed", {{"peer", r.peer}, {"path", r.path}});
      return problem(401, p.error().message);
    }
    return std::move(p).value();
  }

  Response reset_questions(const Request& r) {
    auto body = parse_body(r);
    if (auto* resp = std::get_if<Response>(&body)) return *resp;
    std::string err;
    auto address = get_str(std::get<json::object>(body), "address", err);
    if (!err.empty() || !address || address->empty() || address->size() > 254)
      return problem(400, "'address' (your email address) is required");
    json::array qs;
    for (auto& q : d_.self_service.reset_questions(*address)) qs.emplace_back(q);
    // The same answer for every address: nothing here says whether an account exists.
    return json_response(200, json::object{{"questions", qs},
                                           {"methods", json::array{"security_questions", "authenticator"}}});
  }

  Response reset_complete(const Request& r) {
    auto body = parse_body(r);
    if (auto* resp = std::get_if<Response>(&body)) return *resp;
    auto& o = std::get<json::object>(body);
    std::string err;
    SelfServiceReset req;
    req.address = get_str(o, "address", err).value_or("");
    req.code = get_str(o, "code", err).value_or("");
    req.new_password = get_str(o, "new_password", err);
    if (!err.empty()) return problem(400, err);
    if (req.address.empty() || req.address.size() > 254) return problem(400, "'address' (your email address) is required");
    if (auto it = o.find("answers"); it != o.end()) {
      if (!it->value().is_array()) return problem(400, "'answers' must be a list of three strings");
      for (auto& v : it->value().as_array()) {
        if (!v.is_string() || v.as_string().size() > 200) return problem(400, "'answers' must be a list of three strings");
        req.answers.emplace_back(v.as_string());
      }
    }
    AuthContext ctx;
    ctx.protocol = "http";
    ctx.peer = r.peer;
    ctx.client = r.user_agent;
    return status_response(d_.self_service.self_service_reset(req, ctx));
  }

  Response claim(const Principal& p, const std::string& address, const Request& r) {
    std::string ods;
    if (!r.body.empty()) {
      auto body = parse_body(r);
      if (auto* resp = std::get_if<Response>(&body)) return *resp;
      std::string err;
      ods = get_str(std::get<json::object>(body), "ods_code", err).value_or("");
      if (!err.empty()) return problem(400, err);
    }
    auto a = d_.lifecycle.claim_joiner(p, address, ods);
    if (!a) return problem(a.error());
    return json_response(200, to_json(*a, ods_of(a->org_id)));
  }

  Response set_roles(const Principal& p, const std::string& address, const Request& r) {
    auto body = parse_body(r);
    if (auto* resp = std::get_if<Response>(&body)) return *resp;
    auto& o = std::get<json::object>(body);
    auto it = o.find("roles");
    if (it == o.end() || !it->value().is_array()) return problem(400, "'roles' (a list of role names) is required");
    std::vector<Role> roles;
    for (auto& v : it->value().as_array()) {
      auto role = v.is_string() ? parse_role(std::string_view(v.as_string())) : std::nullopt;
      if (!role) return problem(400, "unknown role in 'roles'; roles are user, local_admin, primary_local_admin, "
                                     "local_helpdesk, authoriser, auditor, national_admin, national_helpdesk");
      roles.push_back(*role);
    }
    return status_response(d_.lifecycle.set_roles(p, address, std::move(roles)));
  }

  Response set_quota(const Principal& p, const std::string& address, const Request& r) {
    auto body = parse_body(r);
    if (auto* resp = std::get_if<Response>(&body)) return *resp;
    auto& o = std::get<json::object>(body);
    auto it = o.find("bytes");
    if (it == o.end() || !(it->value().is_int64() || it->value().is_uint64()))
      return problem(400, "'bytes' (the new quota in bytes) is required");
    if (it->value().is_int64() && it->value().as_int64() < 0) return problem(400, "'bytes' must not be negative");
    uint64_t bytes = it->value().is_uint64() ? it->value().as_uint64() : static_cast<uint64_t>(it->value().as_int64());
    return status_response(d_.lifecycle.set_quota(p, address, bytes));
  }

  std::string ods_of(OrgId id) {
    auto o = d_.store.organisation(id);
    return o ? o->ods_code : std::string();
  }

  Response list_orgs(const Principal& p) {
    auto r = d_.admin.list_organisations(p);
    if (!r) return problem(r.error());
    json::array out;
    for (const auto& o : *r) out.push_back(to_json(o));
    return json_response(200, json::object{{"organisations", out}});
  }

  Response create_org(const Principal& p, const Request& r) {
    auto body = parse_body(r);
    if (auto* resp = std::get_if<Response>(&body)) return *resp;
    auto& o = std::get<json::object>(body);
    std::string err;
    NewOrganisation n;
    n.ods_code = get_str(o, "ods_code", err).value_or("");
    n.name = get_str(o, "name", err).value_or("");
    n.short_name = get_str(o, "short_name", err).value_or("");
    if (auto it = o.find("domains"); it != o.end()) {
      if (!it->value().is_array()) err = "'domains' must be a list of strings";
      else
        for (auto& d : it->value().as_array()) {
          if (!d.is_string()) { err = "'domains' must be a list of strings"; break; }
          n.domains.emplace_back(d.as_string());
        }
    }
    if (!err.empty()) return problem(400, err);
    if (n.ods_code.empty() || n.name.empty()) return problem(400, "'ods_code' and 'name' are required");
    auto created = d_.admin.create_organisation(p, n);
    if (!created) return problem(created.error());
    return json_response(201, to_json(*created));
  }

  Response list_accounts(const Principal& p, const Request& r) {
    std::optional<std::string> ods;
    if (auto v = r.query_one("ods_code"); !v.empty()) ods = v;
    auto list = d_.admin.list_accounts(p, ods);
    if (!list) return problem(list.error());
    json::array out;
    for (const auto& a : *list) out.push_back(to_json(a, ods_of(a.org_id)));
    return json_response(200, json::object{{"accounts", out}});
  }

  Response create_account(const Principal& p, const Request& r) {
    auto body = parse_body(r);
    if (auto* resp = std::get_if<Response>(&body)) return *resp;
    auto& o = std::get<json::object>(body);
    std::string err;
    CreateAccountRequest c;
    c.address = get_str(o, "address", err).value_or("");
    c.display_name = get_str(o, "display_name", err).value_or("");
    c.ods_code = get_str(o, "ods_code", err).value_or("");
    c.password = get_str(o, "password", err).value_or("");
    if (auto k = get_str(o, "kind", err)) {
      auto kind = parse_account_kind(*k);
      if (!kind) return problem(400, "'kind' must be person, shared or application");
      c.kind = *kind;
    }
    if (auto it = o.find("roles"); it != o.end()) {
      if (!it->value().is_array()) return problem(400, "'roles' must be a list of role names");
      c.roles.clear();
      for (auto& v : it->value().as_array()) {
        auto role = v.is_string() ? parse_role(std::string_view(v.as_string())) : std::nullopt;
        if (!role) return problem(400, "unknown role in 'roles'");
        c.roles.push_back(*role);
      }
    }
    if (auto it = o.find("must_change_password"); it != o.end()) {
      if (!it->value().is_bool()) return problem(400, "'must_change_password' must be true or false");
      c.must_change_password = it->value().as_bool();
    }
    if (auto it = o.find("quota_bytes"); it != o.end()) {
      if (!it->value().is_int64() || it->value().as_int64() < 0)
        return problem(400, "'quota_bytes' must be a non-negative whole number");
      c.quota_bytes = static_cast<uint64_t>(it->value().as_int64());
    }
    if (!err.empty()) return problem(400, err);
    if (c.address.empty() || c.ods_code.empty()) return problem(400, "'address' and 'ods_code' are required");
    auto a = d_.admin.create_account(p, c);
    if (!a) return problem(a.error());
    return json_response(201, to_json(*a, c.ods_code));
  }

  // What a restricted sign-in (password to change, AUP to accept, MFA to set up) may do
  // over the API: the core refuses the rest too; this keeps the surface small.
  static bool allowed_while_restricted(const Principal& p, const std::string& method, std::string_view rest) {
    if (rest == "me" || rest == "aup") return method == "GET";
    if (rest == "sessions/current") return method == "DELETE";
    if (rest == "me/aup") return method == "POST" && p.aup_pending;
    if (rest == "me/mfa/totp" || rest == "me/mfa/totp/confirm") return method == "POST";
    if (rest == "accounts/" + p.address + "/password") return method == "PUT" || method == "POST";
    return false;
  }

  // What this sign-in must do before anything else works.
  static json::array required_actions(const Principal& p) {
    json::array out;
    if (p.must_change_password) out.emplace_back("change_password");
    if (p.aup_pending) out.emplace_back("accept_aup");
    if (p.mfa_enrolment_pending) out.emplace_back("enrol_mfa");
    return out;
  }

  static std::string session_cookie(const Request& r) {
    return cookie_value(r.cookie, "cm_session").value_or(std::string());
  }

  Response start_session(const Request& r) {
    auto body = parse_body(r);
    if (auto* resp = std::get_if<Response>(&body)) return *resp;
    auto& o = std::get<json::object>(body);
    std::string err;
    auto address = get_str(o, "address", err);
    auto password = get_str(o, "password", err);
    auto code = get_str(o, "code", err);
    bool public_computer = false;
    if (auto it = o.find("public_computer"); it != o.end()) {
      if (!it->value().is_bool()) return problem(400, "'public_computer' must be true or false");
      public_computer = it->value().as_bool();
    }
    if (!err.empty()) return problem(400, err);
    if (!address || !password) return problem(400, "'address' and 'password' are required");
    AuthContext ctx;
    ctx.protocol = "http";
    ctx.peer = r.peer;
    ctx.client = r.user_agent;
    auto s = d_.sessions.start_session(*address, *password, code.value_or(""), public_computer, ctx);
    if (!s) {
      log::warn("api.session_refused", {{"peer", r.peer}});
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
      cookie += "; Max-Age=" + std::to_string(std::max<int64_t>(0, s->expires_at - d_.admin.now()));
    out.headers.emplace_back("Set-Cookie", cookie);
    return out;
  }

  static Response status_response(const Status& s) {
    if (!s) return problem(s.error());
    Response ok;
    ok.status = 204;
    return ok;
  }

  static std::optional<int64_t> parse_id(std::string_view s) {
    if (s.empty() || s.size() > 18) return std::nullopt;
    int64_t v = 0;
    for (char c : s) {
      if (c < '0' || c > '9') return std::nullopt;
      v = v * 10 + (c - '0');
    }
    return v;
  }

  Response app_passwords(const Principal& p, const std::string& address) {
    auto list = d_.auth.list_app_passwords(p, address);
    if (!list) return problem(list.error());
    json::array out;
    for (const auto& a : *list) out.push_back(to_json(a));
    return json_response(200, json::object{{"app_passwords", out}});
  }

  Response get_account(const Principal& p, const std::string& address) {
    auto a = d_.admin.get_account(p, address);
    if (!a) return problem(a.error());
    return json_response(200, to_json(*a, ods_of(a->org_id)));
  }

  Response set_password(const Principal& p, const std::string& address, const Request& r) {
    auto body = parse_body(r);
    if (auto* resp = std::get_if<Response>(&body)) return *resp;
    std::string err;
    auto& o = std::get<json::object>(body);
    PasswordChange change;
    auto pw = get_str(o, "password", err);
    change.current_password = get_str(o, "current_password", err);
    change.mfa_code = get_str(o, "mfa_code", err);
    if (!err.empty()) return problem(400, err);
    if (!pw) return problem(400, "'password' is required");
    change.password = std::move(*pw);
    if (auto it = o.find("keep_app_passwords"); it != o.end()) {
      if (!it->value().is_bool()) return problem(400, "'keep_app_passwords' must be true or false");
      change.keep_app_passwords = it->value().as_bool();
    }
    // The session or token of this request goes on after the person's own change
    // (Principal::credential_hash); everything else of the account ends.
    Status s = d_.admin.set_password(p, address, change);
    if (!s) return problem(s.error());
    Response ok;
    ok.status = 204;
    return ok;
  }

  Response sending(const Principal& p, const std::string& address, const Request& r) {
    auto body = parse_body(r);
    if (auto* resp = std::get_if<Response>(&body)) return *resp;
    auto& o = std::get<json::object>(body);
    auto it = o.find("suspended");
    if (it == o.end() || !it->value().is_bool()) return problem(400, "'suspended' (true or false) is required");
    Status s = d_.admin.set_sending_suspended(p, address, it->value().as_bool());
    if (!s) return problem(s.error());
    Response ok;
    ok.status = 204;
    return ok;
  }

  Response quota(const Principal& p, const std::string& address) {
    auto a = d_.admin.get_account(p, address);
    if (!a) return problem(a.error());
    auto q = d_.mail.quota(p, a->id);
    if (!q) return problem(q.error());
    json::object o = to_json(*q);
    o["address"] = a->address;
    return json_response(200, o);
  }

  // GET .../mailboxes/{name}/messages           list (uid, size, flags, blob, subject)
  // GET .../mailboxes/{name}/messages/{uid}/raw  the message as its owner sees it (its own
  //                                             Delivered-To first), verified
  Response messages(const Principal& p, const std::string& address, std::string_view rest, const Request& r) {
    auto a = d_.admin.get_account(p, address);
    if (!a) return problem(a.error());
    auto slash = rest.find('/');
    std::string name(rest.substr(0, slash));
    std::string_view tail = slash == std::string_view::npos ? "" : rest.substr(slash + 1);
    auto mb = d_.mail.mailbox(p, a->id, name);
    if (!mb) return problem(mb.error());
    if (tail == "messages") {
      UidRange range;
      try {
        if (auto f = r.query_one("from_uid"); !f.empty()) range.first = static_cast<Uid>(std::stoul(f));
      } catch (const std::exception&) {
        return problem(400, "'from_uid' must be a whole number");
      }
      auto list = d_.mail.list(p, mb->id, range, true);
      if (!list) return problem(list.error());
      json::array out;
      for (const auto& e : *list)
        out.push_back(json::object{{"uid", e.uid}, {"size", e.size}, {"flags", e.flags}, {"modseq", e.modseq},
                                   {"internal_date", e.internal_date}, {"blob", e.blob_id},
                                   {"subject", e.summary.subject}, {"from", e.summary.from}});
      return json_response(200, json::object{{"mailbox", mb->name}, {"uidvalidity", mb->uidvalidity},
                                             {"messages", out}});
    }
    if (tail.rfind("messages/", 0) == 0 && tail.size() > 13 && tail.substr(tail.size() - 4) == "/raw") {
      std::string uid_text(tail.substr(9, tail.size() - 13));
      Uid uid = 0;
      try {
        size_t used = 0;
        unsigned long v = std::stoul(uid_text, &used);
        if (used != uid_text.size() || v == 0 || v > UINT32_MAX) throw std::invalid_argument("uid");
        uid = static_cast<Uid>(v);
      } catch (const std::exception&) {
        return problem(400, "the UID must be a whole number from 1");
      }
      auto raw = d_.mail.fetch(p, mb->id, uid);
      if (!raw) return problem(raw.error());
      Response out;
      out.content_type = "message/rfc822";
      out.body = std::move(raw).value();
      return out;
    }
    return problem(404, "no such resource");
  }

  Response mailboxes(const Principal& p, const std::string& address) {
    auto a = d_.admin.get_account(p, address);
    if (!a) return problem(a.error());
    auto list = d_.mail.list_mailboxes(p, a->id);
    if (!list) return problem(list.error());
    json::array out;
    for (const auto& m : *list)
      out.push_back(json::object{{"name", m.name},
                                 {"special_use", m.special_use},
                                 {"uidvalidity", m.uidvalidity},
                                 {"uidnext", m.uidnext},
                                 {"highest_modseq", m.highest_modseq},
                                 {"messages", m.messages},
                                 {"unseen", m.unseen},
                                 {"bytes", m.bytes}});
    return json_response(200, json::object{{"mailboxes", out}});
  }

  // Operator injection of a message (interim, until SMTP/LMTP): body is the raw
  // message, recipients in ?to=. National administrators only; audited.
  Response deliver(const Principal& p, const Request& r) {
    std::vector<std::string> rcpts;
    for (auto [b, e] = r.query.equal_range("to"); b != e; ++b) rcpts.push_back(b->second);
    if (rcpts.empty()) return problem(400, "name at least one recipient: ?to=address");
    if (rcpts.size() > 1000) return problem(400, "at most 1000 recipients per request");
    auto rep = d_.mail.inject(p, rcpts, r.body);
    if (!rep) return problem(rep.error());
    json::array out;
    for (const auto& o : rep->recipients) {
      json::object j{{"address", o.address}, {"delivered", !o.error}};
      if (o.error) {
        j["error"] = to_string(o.error->code);
        j["detail"] = o.error->message;
      } else {
        j["uid"] = o.uid;
        j["mailbox_id"] = o.mailbox_id;
      }
      out.push_back(std::move(j));
    }
    return json_response(rep->delivered() ? 200 : 422,
                         json::object{{"blob", rep->blob_id}, {"size", r.body.size()}, {"recipients", out}});
  }

  Response audit_log(const Principal& p, const Request& r) {
    int64_t after = 0;
    size_t limit = 100;
    try {
      if (auto a = r.query_one("after"); !a.empty()) after = std::stoll(a);
      if (auto l = r.query_one("limit"); !l.empty()) limit = std::min<size_t>(1000, std::stoul(l));
    } catch (const std::exception&) {
      return problem(400, "'after' and 'limit' must be whole numbers");
    }
    auto ev = d_.admin.audit_events(p, after, limit);
    if (!ev) return problem(ev.error());
    json::array out;
    for (const auto& e : *ev)
      out.push_back(json::object{{"id", e.id}, {"at", e.at}, {"actor", e.actor}, {"action", e.action},
                                 {"target", e.target}, {"outcome", e.outcome}, {"detail", e.detail},
                                 {"hash", e.hash}});
    return json_response(200, json::object{{"events", out}});
  }

  ApiDeps d_;
};

}  // namespace

int status_for(Errc e) {
  switch (e) {
    case Errc::invalid_argument: return 400;
    case Errc::unauthenticated: return 401;
    case Errc::permission_denied: return 403;
    case Errc::not_found: return 404;
    case Errc::already_exists: return 409;
    case Errc::conflict: return 409;
    case Errc::too_large: return 413;
    case Errc::quota_exceeded: return 507;
    case Errc::temporary: return 503;
    case Errc::corrupt:
    case Errc::io: return 500;
  }
  return 500;
}

bool admin_hashing_route(const Request& r) {
  if (r.method == "GET" || r.method == "HEAD") return false;
  std::string_view path = r.path;
  auto ends_with = [&](std::string_view tail) {
    return path.size() >= tail.size() && path.substr(path.size() - tail.size()) == tail;
  };
  // Users with a password (SCIM create, replace, patch).
  if (path.rfind("/scim/v2/Users", 0) == 0) return true;
  if (path.rfind("/api/v1/", 0) != 0) return false;
  std::string_view rest = path.substr(8);
  return rest == "sessions" || rest == "password-reset/complete" || rest == "accounts" ||
         (rest.rfind("accounts/", 0) == 0 &&
          (ends_with("/password") || ends_with("/mfa") || ends_with("/account-secret/check"))) ||
         rest == "me/mfa" || rest == "me/mfa/totp/confirm" || rest == "me/security-questions" ||
         rest == "me/account-secret";
}

Router make_admin_router(ApiDeps deps) {
  auto api = std::make_shared<Api>(deps);
  return [api](const Request& r) { return api->route(r); };
}

BodyLimiter make_admin_body_limiter(ApiDeps deps, const Config::Limits& limits) {
  auto api = std::make_shared<Api>(deps);
  return [api, limits](const Request& head) { return api->body_policy(head, limits); };
}

}  // namespace caremail::http

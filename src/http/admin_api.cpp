// The admin API's dispatcher: one table of routes (api_routes.hpp), assembled from each
// resource's rows; authentication (bearer token or session cookie, never HTTP Basic); the
// body size per route (make_admin_body_limiter); which routes hash passwords.
#include "http/admin_api.hpp"
#include "http/api_routes.hpp"
#include "http/scim_api.hpp"

#include "common/log.hpp"
#include "common/metrics.hpp"

namespace caremail::http {

namespace json = boost::json;

namespace {

Response health(Call& c) {
  if (Status s = c.d.admin.check_store(); !s) return problem(503, "store unavailable: " + s.error().message);
  return json_response(200, json::object{{"status", "ok"}});
}

Response metrics_text(Call&) {
  Response m;
  m.content_type = "text/plain; version=0.0.4";
  m.body = metrics::render();
  return m;
}

const Route kServiceRoutes[] = {
    {"GET", "/healthz", health, Access::anyone},
    {"GET", "/metrics", metrics_text, Access::anyone},
};

// The table, compiled once: every resource's rows with their patterns parsed.
class RouteTable {
 public:
  struct Match {
    const Route* route = nullptr;  // the row for this method and path
    PathParams params;
    std::vector<std::string_view> allow;  // when only the method differs: the methods there are
  };

  RouteTable() {
    for (auto rows : {std::span<const Route>(kServiceRoutes), session_routes(), me_routes(), account_routes(),
                      mailbox_routes(), organisation_routes(), operations_routes(), directory_routes(),
                      entries_routes()})
      for (const Route& r : rows) rows_.push_back({&r, PathPattern(r.pattern)});
  }

  Match find(std::string_view method, std::string_view path) const {
    Match m;
    const Route* head_as_get = nullptr;
    PathParams params;
    for (const auto& row : rows_) {
      if (!row.pattern.match(path, params)) continue;
      if (row.route->method == method) {
        m.route = row.route;
        m.params = std::move(params);
        m.allow.clear();
        return m;
      }
      if (method == "HEAD" && row.route->method == "GET" && !head_as_get) {
        head_as_get = row.route;
        m.params = params;
      }
      m.allow.push_back(row.route->method);
    }
    if (head_as_get) {
      m.route = head_as_get;
      m.allow.clear();
    }
    return m;
  }

  std::vector<std::string> list() const {
    std::vector<std::string> out;
    for (const auto& row : rows_) out.push_back(std::string(row.route->method) + " " + row.pattern.text());
    return out;
  }

 private:
  struct Row {
    const Route* route;
    PathPattern pattern;
  };
  std::vector<Row> rows_;
};

const RouteTable& routes() {
  static const RouteTable table;
  return table;
}

// "use GET, PUT or DELETE"
std::string use_methods(const std::vector<std::string_view>& allow) {
  std::string out = "use ";
  for (size_t i = 0; i < allow.size(); ++i) {
    if (i > 0) out += i + 1 == allow.size() ? " or " : ", ";
    out += allow[i];
  }
  return out;
}

std::string session_cookie(const Request& r) { return cookie_value(r.cookie, "cm_session").value_or(std::string()); }

// May a restricted sign-in (password to change, AUP to accept, MFA to set up) call this
// route? The core refuses the rest too; this keeps the surface small.
bool allowed_while_restricted(const Principal& p, const RouteTable::Match& m) {
  if (!m.route) return false;
  switch (m.route->access) {
    case Access::anyone:
    case Access::while_restricted: return true;
    case Access::own_while_restricted:
      for (const auto& [k, v] : m.params)
        if (k == "address") return v == p.address;
      return false;
    case Access::while_aup_pending: return p.aup_pending;
    case Access::signed_in: return false;
  }
  return false;
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
    auto m = routes().find(r.method, r.path);
    if (m.route && m.route->access == Access::anyone) return out;  // before sign-in: a few hundred octets of JSON
    if (r.authorization.empty() && session_cookie(r).empty()) return out;  // the router answers 401
    auto who = authenticate(r);
    if (auto* refused = std::get_if<Response>(&who)) {
      out.reject = std::move(*refused);
      return out;
    }
    out.principal = std::make_shared<const Principal>(std::move(std::get<Principal>(who)));
    // Only message injection takes a whole message; every other route takes JSON.
    out.limit = m.route && (m.route->flags & kTakesMessage) ? l.max_http_body_bytes : l.max_http_json_body_bytes;
    return out;
  }

  Response route(const Request& r) {
    if (r.path.rfind("/scim/v2/", 0) == 0) {
      // SCIM 2.0 provisioning (http/scim_api.cpp), with the same authentication.
      auto who = r.principal ? std::variant<Principal, Response>(*r.principal) : authenticate(r);
      if (std::holds_alternative<Response>(who)) return std::get<Response>(who);
      return scim_route(std::get<Principal>(who), r, d_);
    }
    auto m = routes().find(r.method, r.path);
    static const Principal kNobody;
    if (m.route && m.route->access == Access::anyone) return call(*m.route, r, kNobody, std::move(m.params));
    if (r.path.rfind("/api/v1/", 0) != 0) return not_found(m);
    auto who = r.principal ? std::variant<Principal, Response>(*r.principal) : authenticate(r);
    if (std::holds_alternative<Response>(who)) return std::get<Response>(who);
    const Principal& p = std::get<Principal>(who);
    if (p.restricted() && !allowed_while_restricted(p, m))
      return problem(403, p.must_change_password ? "change your password first"
                          : p.aup_pending        ? "accept the Acceptable Use Policy first"
                                                 : "set up two-step verification first (POST /api/v1/me/mfa/totp)");
    if (!m.route) return not_found(m);
    return call(*m.route, r, p, std::move(m.params));
  }

 private:
  // 404 for an unknown path, 405 with Allow for a known path and another method.
  static Response not_found(const RouteTable::Match& m) {
    if (m.allow.empty()) return problem(404, "no such resource");
    Response out = problem(405, use_methods(m.allow));
    std::string allow;
    for (auto a : m.allow) allow += (allow.empty() ? "" : ", ") + std::string(a);
    out.headers.emplace_back("Allow", allow);
    return out;
  }

  Response call(const Route& route, const Request& r, const Principal& p, PathParams params) {
    Call c{r, p, d_, std::move(params), {}};
    if (route.body == BodyUse::json || (route.body == BodyUse::json_if_sent && !r.body.empty())) {
      auto body = parse_body(r);
      if (auto* resp = std::get_if<Response>(&body)) return std::move(*resp);
      c.body = JsonFields(std::move(std::get<json::object>(body)));
    }
    return route.handler(c);
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
  // Users with a password (SCIM create, replace, patch).
  if (r.path.rfind("/scim/v2/Users", 0) == 0) return true;
  auto m = routes().find(r.method, r.path);
  return m.route && (m.route->flags & kHashesPassword);
}

std::vector<std::string> admin_route_list() { return routes().list(); }

Router make_admin_router(ApiDeps deps) {
  auto api = std::make_shared<Api>(deps);
  return [api](const Request& r) { return api->route(r); };
}

BodyLimiter make_admin_body_limiter(ApiDeps deps, const Config::Limits& limits) {
  auto api = std::make_shared<Api>(deps);
  return [api, limits](const Request& head) { return api->body_policy(head, limits); };
}

}  // namespace caremail::http

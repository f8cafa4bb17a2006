// The admin HTTP JSON API under /api/v1/ (and /healthz, /metrics; SCIM under /scim/v2/ is
// scim_api.hpp's). Thin: one route table (api_routes.hpp) whose rows each name a method, a
// path pattern, a handler and who may call it; handlers parse JSON, call the core services
// and map their errors to RFC 9457 problem documents. Every decision about who may do what
// is made in the core. The API is documented in docs/openapi.yaml; test_openapi.py checks
// the table against it both ways (caremaild --routes lists the table).
//
// SECURITY: reached by anyone who can connect to the HTTP listeners (http_server.hpp bounds
// the head, the deadlines and the body before anything here runs). Before sign-in only
// four routes answer (Access::anyone): POST /api/v1/sessions (SessionService::start_session:
// password, second factor, throttling), POST /api/v1/password-reset[/complete]
// (SelfService::reset_questions, self_service_reset: the same answer whether or not the
// account exists) and GET /healthz, /metrics; their bodies are limited to
// limits.max_http_unauthenticated_body_bytes. Every other route needs a bearer API token
// (SignInService::authenticate_token) or a session cookie, with the X-CSRF-Token header on
// changes (SessionService::authenticate_session); HTTP Basic is refused without being read.
// A restricted sign-in (password to change, AUP to accept, MFA to set up) reaches only
// the routes that get it out of that state. Routes that check or hash a password run on
// the hashing pool (admin_hashing_route), whose full queue answers 503. It holds no
// privilege of its own: it acts as the authenticated Principal through the core services.
#pragma once

#include <string>
#include <vector>

#include "core/admin_service.hpp"
#include "core/directory_service.hpp"
#include "core/lifecycle.hpp"
#include "core/mail_service.hpp"
#include "core/self_service.hpp"
#include "core/sessions.hpp"
#include "core/sign_in.hpp"
#include "http/http_server.hpp"

namespace caremail::http {

// The core services the API reaches (never the Store: every read and change goes through
// a service, which authorises it).
struct ApiDeps {
  AdminService& admin;
  MailService& mail;
  DirectoryService& directory;
  SignInService& auth;
  SessionService& sessions;
  SelfService& self_service;
  LifecycleService& lifecycle;
};

Router make_admin_router(ApiDeps deps);
// The routes of that router that check or hash a password (listen_http's HashingRoutes):
// sign-in, reset, password and secret changes, MFA confirmation and removal, SCIM users.
bool admin_hashing_route(const Request& r);
// The body size per route for listen_http (see Api::body_policy): the unauthenticated
// limit before sign-in, the JSON limit after it, the message limit for POST /api/v1/deliver.
BodyLimiter make_admin_body_limiter(ApiDeps deps, const Config::Limits& limits);

// Every route of the admin API's table as "METHOD /pattern", in table order
// ("GET /api/v1/accounts/{address}"): what caremaild --routes prints for test_openapi.py.
std::vector<std::string> admin_route_list();

// Error kind -> HTTP status (shared by every JSON API).
int status_for(Errc e);

}  // namespace caremail::http

// The admin HTTP JSON API under /api/v1/ (and /healthz, /metrics; SCIM under /scim/v2/ is
// scim_api.hpp's). Thin: one route table (api_routes.hpp) whose rows each name a method, a
// path pattern, a handler and who may call it; handlers parse JSON, call the core services
// and map their errors to RFC 9457 problem documents. Every decision about who may do what
// is made in the core. The API is documented in docs/openapi.yaml; test_openapi.py checks
// the table against it both ways (caremaild --routes lists the table).
#pragma once

#include <string>
#include <vector>

#include "core/admin_service.hpp"
#include "core/directory_service.hpp"
#include "core/mail_service.hpp"
#include "http/http_server.hpp"

namespace caremail::http {

// The core services the API reaches (never the Store: every read and change goes through
// a service, which authorises it).
struct ApiDeps {
  AdminService& admin;
  MailService& mail;
  DirectoryService& directory;
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

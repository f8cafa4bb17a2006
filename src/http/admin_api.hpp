// The admin HTTP JSON API (and /healthz, /metrics). Thin: it parses JSON, authenticates the
// bearer token or session cookie (never HTTP Basic), calls the core services and maps their errors to RFC 9457 problem
// documents. Every decision about who may do what is made in the core.
#pragma once

#include "core/admin_service.hpp"
#include "core/directory_service.hpp"
#include "core/lifecycle.hpp"
#include "core/mail_service.hpp"
#include "core/self_service.hpp"
#include "core/sessions.hpp"
#include "core/sign_in.hpp"
#include "http/http_server.hpp"

namespace caremail::http {

struct ApiDeps {
  AdminService& admin;
  MailService& mail;
  Store& store;
  DirectoryService& directory;
  SignInService& auth;
  SessionService& sessions;
  SelfService& self_service;
  LifecycleService& lifecycle;
};

// /api/v1/directory/... (http/directory_api.cpp); `rest` is the path after /api/v1/.
Response directory_route(const Principal& p, const Request& r, const ApiDeps& deps, std::string_view rest);

// /api/v1/organisations/{ods}/contacts[/{id}] and .../lists[/{address}[/members/{member}]]
// (http/entries_api.cpp): is_entries_path says whether `rest` (after /api/v1/) is one.
bool is_entries_path(std::string_view rest);
Response entries_route(const Principal& p, const Request& r, const ApiDeps& deps, std::string_view rest);

Router make_admin_router(ApiDeps deps);
// The routes of that router that check or hash a password (listen_http's HashingRoutes):
// sign-in, reset, password and secret changes, MFA confirmation and removal, SCIM users.
bool admin_hashing_route(const Request& r);
// The body size per route for listen_http (see Api::body_policy): the unauthenticated
// limit before sign-in, the JSON limit after it, the message limit for POST /api/v1/deliver.
BodyLimiter make_admin_body_limiter(ApiDeps deps, const Config::Limits& limits);

// Error kind -> HTTP status (shared by every JSON API).
int status_for(Errc e);

}  // namespace caremail::http

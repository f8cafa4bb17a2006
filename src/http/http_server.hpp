// HTTP/1.1 front-end (Boost.Beast) for /healthz, /metrics and the admin API; the web
// client and JMAP will extend the router. Plain or TLS per listener.
//
// SECURITY: this is reached by anyone who can connect to the listener. Before routing,
// it bounds what a peer can make us hold: header size (16 KB), idle and per-request
// deadlines, and the body size per request, decided from the head before one octet of the
// body is read: limits.max_http_unauthenticated_body_bytes (8 KB) unless the BodyLimiter
// (the router's table) allows more for the route, which it does only for requests whose
// credentials it has checked; a larger Content-Length gets 413 and the connection closes.
// Authentication and authorisation happen in the router and the core, never here.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/config.hpp"
#include "http/http_parse.hpp"
#include "core/principal.hpp"
#include "net/listener.hpp"

namespace boost::asio::ssl { class context; }

namespace caremail::http {

struct Request {
  std::string method;  // upper case
  std::string path;    // percent-decoded path, no query
  std::multimap<std::string, std::string> query;  // decoded
  std::string body;
  std::string content_type;
  std::string authorization;
  std::string peer;    // client IP
  std::string user_agent;  // for sign-in failure records (which device)
  std::string cookie;      // the Cookie header (sessions)
  std::string csrf_token;  // X-CSRF-Token (sessions: required on changes)
  uint64_t session = 0;
  // Set when the credentials were checked from the head, before a large body was read
  // (BodyLimiter): the router uses it instead of checking them a second time.
  std::shared_ptr<const Principal> principal;

  std::string query_one(const std::string& key) const {
    auto it = query.find(key);
    return it == query.end() ? std::string() : it->second;
  }
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

// Runs on the worker pool (it may block on the store).
using Router = std::function<Response(const Request&)>;
// True for the requests the router answers by checking or hashing a password (sign-in,
// reset, password changes): those run on the server's password-hashing pool instead of the
// workers, and get 503 with Retry-After when its queue is full. Called on an I/O thread:
// cheap and pure (method and path only).
using HashingRoutes = std::function<bool(const Request&)>;

// How large a request's body may be, decided from its head (body empty).
struct BodyPolicy {
  uint64_t limit = 0;
  std::optional<Response> reject;              // answer this now, without reading the body
  std::shared_ptr<const Principal> principal;  // credentials checked: passed to the router
};
// Called, on the worker pool, only for a request announcing (or streaming, chunked) more than
// limits.max_http_unauthenticated_body_bytes; smaller bodies are read without asking.
using BodyLimiter = std::function<BodyPolicy(const Request& head)>;

// Adds an HTTP listener to `server`. `tls` null: plain HTTP. `limiter` null: every body is
// limited to limits.max_http_unauthenticated_body_bytes.
Result<uint16_t> listen_http(net::Server& server, const std::string& name, const Endpoint& ep,
                             std::shared_ptr<boost::asio::ssl::context> tls, Router router,
                             const Config::Limits& limits, HashingRoutes hashing = {},
                             BodyLimiter limiter = nullptr);

}  // namespace caremail::http

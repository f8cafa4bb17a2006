// The admin API's route table and what its handlers share (http-internal: includes
// Boost.JSON through json_response.hpp, so only the http library's .cpp files include it).
//
// A route is one row: method, path pattern, handler, who may call it, what body it reads.
// Each resource's rows live in its own file (accounts_api.cpp, organisations_api.cpp, ...);
// admin_api.cpp assembles them into one table, authenticates and dispatches: an unknown
// path is 404 "no such resource", a known path with another method 405 with Allow.
// Handlers stay thin: read the request, call one core service, map the answer to JSON.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "http/admin_api.hpp"
#include "http/json_response.hpp"
#include "http/route_pattern.hpp"

namespace caremail::http {

// Who may call a route. The dispatcher checks only the sign-in; every decision about what
// the caller may do to what is the core's.
enum class Access {
  anyone,                // no sign-in: sign-in itself, self-service reset, /healthz, /metrics
  signed_in,             // a bearer token or a session whose sign-in is complete
  while_restricted,      // also a restricted sign-in (password to change, AUP to accept,
                         // MFA to set up): what it needs to get out of that state
  own_while_restricted,  // also a restricted sign-in when the path's {address} is its own
  while_aup_pending,     // also a restricted sign-in that has the AUP still to accept
};

// The body the dispatcher parses before the handler runs (after authentication); a body
// that is not a JSON object gets the 415 or 400 of parse_body and the handler never runs.
enum class BodyUse {
  none,          // the handler ignores the body or reads it itself
  json,          // a JSON object is required
  json_if_sent,  // a JSON object when the body is not empty; none is an empty object
};

// Route flags.
inline constexpr unsigned kHashesPassword = 1;  // checks or hashes a password: the hashing
                                                // pool (admin_hashing_route)
inline constexpr unsigned kTakesMessage = 2;    // a whole message as body: limits.max_http_body_bytes

// A JSON object read field by field. Each reader returns nullopt when the field is absent
// (or holds the wrong type); a wrong type also records the first such error for error(),
// worded as the reply says it ("'hold' must be true or false"). A null string counts as
// absent (clients send "code": null); a null anything else is the wrong type.
class JsonFields {
 public:
  JsonFields() = default;
  explicit JsonFields(boost::json::object o) : o_(std::move(o)) {}

  std::optional<std::string> str(std::string_view key);
  std::optional<bool> flag(std::string_view key);
  std::optional<int64_t> integer(std::string_view key);  // "'key' must be a whole number"
  // A list of strings; anything else records `wrong`.
  std::optional<std::vector<std::string>> strings(std::string_view key, std::string_view wrong);
  // The raw member, for the few shapes of their own; nullptr when absent.
  const boost::json::value* find(std::string_view key) const;

  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }

 private:
  void fail(std::string e) {
    if (error_.empty()) error_ = std::move(e);
  }
  boost::json::object o_;
  std::string error_;
};

// One request on its way to a handler.
struct Call {
  const Request& r;
  const Principal& p;  // the caller; an empty Principal on Access::anyone routes
  const ApiDeps& d;
  PathParams params;   // view r.path
  JsonFields body;     // per the route's BodyUse

  // The path parameter `name` of the route's pattern. REQUIRES: the pattern has it.
  std::string param(std::string_view name) const;
};

using Handler = Response (*)(Call&);

struct Route {
  std::string_view method;   // upper case; a GET route also answers HEAD
  std::string_view pattern;  // PathPattern: "/api/v1/accounts/{address}/password"
  Handler handler;
  Access access = Access::signed_in;
  BodyUse body = BodyUse::none;
  unsigned flags = 0;
};

// The rows of each resource, each from its own file.
std::span<const Route> session_routes();       // sessions_api.cpp: sign-in, sign-out, reset
std::span<const Route> me_routes();            // me_api.cpp: the caller's own settings, tokens, AUP
std::span<const Route> account_routes();       // accounts_api.cpp
std::span<const Route> mailbox_routes();       // mailboxes_api.cpp: mailboxes, messages, deliver
std::span<const Route> organisation_routes();  // organisations_api.cpp
std::span<const Route> operations_routes();    // operations_api.cpp: queue, audit
std::span<const Route> directory_routes();     // directory_api.cpp
std::span<const Route> entries_routes();       // entries_api.cpp: contacts and lists

// Shared by the handlers.
Response no_content();
Response status_response(const Status& s);  // 204 or the error's problem document
// A whole number of at most 18 digits (ids in paths), or nullopt.
std::optional<int64_t> parse_id(std::string_view s);
// "http" with the request's peer and User-Agent, for sign-in records.
AuthContext http_context(const Request& r);
// What a sign-in must do before anything else works ("change_password", "accept_aup",
// "enrol_mfa"); sessions_api.cpp.
boost::json::array required_actions(const Principal& p);
// The ODS code of an organisation, "" when there is none.
std::string ods_of(const ApiDeps& d, OrgId id);

// GET .../app-passwords of `address` (accounts_api.cpp; me_api.cpp for the caller's own).
Response app_password_list(Call& c, const std::string& address);

boost::json::object to_json(const Account& a, const std::string& ods);
boost::json::object to_json(const AppPassword& a);
// Never the token or its hash: those are shown once, at issue.
boost::json::object to_json(const ApiToken& t, UnixTime now);

}  // namespace caremail::http

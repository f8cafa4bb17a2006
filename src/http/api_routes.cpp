// What the admin API's handlers share: typed body reading, the common replies and the JSON
// forms of accounts, app passwords and tokens (used by accounts_api.cpp and me_api.cpp).
#include "http/api_routes.hpp"

#include <cassert>

namespace caremail::http {

namespace json = boost::json;

std::optional<std::string> JsonFields::str(std::string_view key) {
  auto it = o_.find(key);
  if (it == o_.end() || it->value().is_null()) return std::nullopt;
  if (!it->value().is_string()) {
    fail("'" + std::string(key) + "' must be a string");
    return std::nullopt;
  }
  return std::string(it->value().as_string());
}

std::optional<bool> JsonFields::flag(std::string_view key) {
  auto it = o_.find(key);
  if (it == o_.end()) return std::nullopt;
  if (!it->value().is_bool()) {
    fail("'" + std::string(key) + "' must be true or false");
    return std::nullopt;
  }
  return it->value().as_bool();
}

std::optional<int64_t> JsonFields::integer(std::string_view key) {
  auto it = o_.find(key);
  if (it == o_.end()) return std::nullopt;
  if (!it->value().is_int64()) {
    fail("'" + std::string(key) + "' must be a whole number");
    return std::nullopt;
  }
  return it->value().as_int64();
}

std::optional<std::vector<std::string>> JsonFields::strings(std::string_view key, std::string_view wrong) {
  auto it = o_.find(key);
  if (it == o_.end()) return std::nullopt;
  std::vector<std::string> out;
  if (it->value().is_array())
    for (const auto& v : it->value().as_array()) {
      if (!v.is_string()) break;
      out.emplace_back(v.as_string());
    }
  if (!it->value().is_array() || out.size() != it->value().as_array().size()) {
    fail(std::string(wrong));
    return std::nullopt;
  }
  return out;
}

const json::value* JsonFields::find(std::string_view key) const {
  auto it = o_.find(key);
  return it == o_.end() ? nullptr : &it->value();
}

std::string Call::param(std::string_view name) const {
  for (const auto& [k, v] : params)
    if (k == name) return std::string(v);
  assert(false && "the route's pattern has no such parameter");
  return {};
}

Response no_content() {
  Response r;
  r.status = 204;
  return r;
}

Response status_response(const Status& s) {
  if (!s) return problem(s.error());
  return no_content();
}

std::optional<int64_t> parse_id(std::string_view s) {
  if (s.empty() || s.size() > 18) return std::nullopt;
  int64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
  }
  return v;
}

AuthContext http_context(const Request& r) {
  AuthContext ctx;
  ctx.protocol = "http";
  ctx.peer = r.peer;
  ctx.client = r.user_agent;
  return ctx;
}

std::string ods_of(const ApiDeps& d, OrgId id) {
  return d.admin.ods_code(id);
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

json::object to_json(const ApiToken& t, UnixTime now) {
  return {{"id", t.id},
          {"name", t.name},
          {"created_at", t.created_at},
          {"expires_at", t.expires_at},
          {"expired", now >= t.expires_at},
          {"last_used_at", t.last_used_at}};
}

}  // namespace caremail::http

#include "http/scim_api.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <charconv>

#include "common/time_text.hpp"
#include "scim/filter.hpp"

namespace caremail::http {

namespace json = boost::json;

namespace {

constexpr std::string_view kUserSchema = "urn:ietf:params:scim:schemas:core:2.0:User";
constexpr std::string_view kGroupSchema = "urn:ietf:params:scim:schemas:core:2.0:Group";
constexpr std::string_view kExtSchema = "urn:ietf:params:scim:schemas:extension:caremail:2.0:User";
constexpr std::string_view kListSchema = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
constexpr std::string_view kPatchSchema = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
constexpr std::string_view kErrorSchema = "urn:ietf:params:scim:api:messages:2.0:Error";

// The organisation's roles, which SCIM sees as groups.
constexpr Role kGroupRoles[] = {Role::local_admin, Role::primary_local_admin, Role::local_helpdesk, Role::authoriser,
                                Role::auditor};

Response scim_json(int status, const json::value& v) {
  Response r;
  r.status = status;
  r.content_type = "application/scim+json";
  r.body = json::serialize(v);
  return r;
}

// RFC 7644 §3.12 error.
Response scim_error(int status, std::string_view detail, std::string_view scim_type = {}) {
  json::object o{{"schemas", json::array{kErrorSchema}}, {"status", std::to_string(status)}, {"detail", detail}};
  if (!scim_type.empty()) o["scimType"] = scim_type;
  return scim_json(status, o);
}

Response scim_error(const Error& e) {
  int status = status_for(e.code);
  std::string_view type;
  if (e.code == Errc::already_exists) type = "uniqueness";
  else if (e.code == Errc::invalid_argument) type = "invalidValue";
  return scim_error(status, e.message, type);
}

std::string iso_time(UnixTime t) { return format_utc(t, "%Y-%m-%dT%H:%M:%SZ"); }

bool active(const Account& a) {
  return a.state == AccountState::active || a.state == AccountState::inactive || a.state == AccountState::leaver;
}

class Scim {
 public:
  Scim(const Principal& p, const ApiDeps& d) : p_(p), d_(d) {}

  Response route(const Request& r) {
    std::string_view rest = std::string_view(r.path).substr(9);  // after "/scim/v2/"
    if (rest == "ServiceProviderConfig") return service_provider_config();
    if (rest == "ResourceTypes") return resource_types();
    if (rest == "Schemas") return schemas();
    if (rest == "Users") {
      if (r.method == "GET") return list_users(r);
      if (r.method == "POST") return create_user(r);
      return scim_error(405, "use GET or POST");
    }
    if (rest.rfind("Users/", 0) == 0) {
      auto acct = user_by_id(rest.substr(6));
      if (auto* e = std::get_if<Response>(&acct)) return *e;
      const Account& a = std::get<Account>(acct);
      if (r.method == "GET") return scim_json(200, user_json(a));
      if (r.method == "PUT") return replace_user(a, r);
      if (r.method == "PATCH") return patch_user(a, r);
      if (r.method == "DELETE") {
        Status s = d_.lifecycle.change_state(p_, a.address, AccountState::deleted);
        if (!s) return scim_error(s.error());
        Response out;
        out.status = 204;
        return out;
      }
      return scim_error(405, "use GET, PUT, PATCH or DELETE");
    }
    if (rest == "Groups") {
      if (r.method == "GET") return list_groups(r);
      return scim_error(403, "groups are the organisation's roles; they cannot be created or deleted");
    }
    if (rest.rfind("Groups/", 0) == 0) {
      auto role = parse_role(rest.substr(7));
      if (!role || std::find(std::begin(kGroupRoles), std::end(kGroupRoles), *role) == std::end(kGroupRoles))
        return scim_error(404, "no such group");
      if (r.method == "GET") return group(*role);
      if (r.method == "PATCH") return patch_group(*role, r);
      return scim_error(403, "groups are the organisation's roles; change their members with PATCH");
    }
    return scim_error(404, "no such SCIM resource");
  }

 private:
  // --- users ---------------------------------------------------------------------------
  json::object user_json(const Account& a) {
    json::array emails{json::object{{"value", a.address}, {"primary", true}, {"type", "work"}}};
    for (const auto& al : a.aliases) emails.push_back(json::object{{"value", al}, {"type", "other"}});
    json::array roles;
    for (Role r : a.roles)
      if (r != Role::user) roles.push_back(json::object{{"value", to_string(r)}});
    std::string loc = "/scim/v2/Users/" + std::to_string(a.id);
    json::object o{{"schemas", json::array{kUserSchema, kExtSchema}},
                   {"id", std::to_string(a.id)},
                   {"userName", a.address},
                   {"name", json::object{{"formatted", a.display_name}}},
                   {"displayName", a.display_name},
                   {"active", active(a)},
                   {"emails", emails},
                   {"roles", roles},
                   {"meta", json::object{{"resourceType", "User"},
                                         {"created", iso_time(a.created_at)},
                                         {"lastModified", iso_time(std::max(a.created_at, a.state_changed_at))},
                                         {"location", loc}}},
                   {kExtSchema, json::object{{"odsCode", ods_of(a.org_id)},
                                             {"state", to_string(a.state)},
                                             {"kind", to_string(a.kind)},
                                             {"quotaBytes", a.quota_bytes}}}};
    if (!a.external_id.empty()) o["externalId"] = a.external_id;
    return o;
  }

  std::string ods_of(OrgId id) {
    if (auto it = ods_.find(id); it != ods_.end()) return it->second;
    return ods_[id] = d_.admin.ods_code(id);
  }

  // The caller's view of account `id`: absent and out of scope look the same.
  std::variant<Account, Response> user_by_id(std::string_view id) {
    AccountId n = 0;
    auto [end, ec] = std::from_chars(id.data(), id.data() + id.size(), n);
    if (ec != std::errc() || end != id.data() + id.size() || n <= 0) return scim_error(404, "no such user");
    auto seen = d_.admin.get_account_by_id(p_, n);
    if (!seen) return seen.error().code == Errc::not_found ? scim_error(404, "no such user") : scim_error(seen.error());
    return std::move(*seen);
  }

  std::vector<std::string> user_attr(const Account& a, const std::string& attr) {
    if (attr == "username") return {a.address};
    if (attr == "id") return {std::to_string(a.id)};
    if (attr == "externalid") return a.external_id.empty() ? std::vector<std::string>{} : std::vector{a.external_id};
    if (attr == "displayname" || attr == "name.formatted") return {a.display_name};
    if (attr == "active") return {active(a) ? "true" : "false"};
    if (attr == "emails" || attr == "emails.value") {
      std::vector<std::string> v{a.address};
      v.insert(v.end(), a.aliases.begin(), a.aliases.end());
      return v;
    }
    if (attr == "roles" || attr == "roles.value") {
      std::vector<std::string> v;
      for (Role r : a.roles)
        if (r != Role::user) v.emplace_back(to_string(r));
      return v;
    }
    if (attr == "odscode") return {ods_of(a.org_id)};
    if (attr == "meta.created") return {iso_time(a.created_at)};
    return {};
  }

  // startIndex (1-based) and count (RFC 7644 §3.4.2.4).
  static std::pair<size_t, size_t> page(const Request& r) {
    auto num = [&](const char* key, size_t def) {
      std::string v = r.query_one(key);
      size_t n = def;
      if (!v.empty()) {
        auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
        if (ec != std::errc() || end != v.data() + v.size()) n = def;
      }
      return n;
    };
    return {std::max<size_t>(1, num("startIndex", 1)), std::min<size_t>(1000, num("count", 100))};
  }

  Response list_users(const Request& r) {
    std::optional<scim::Filter> filter;
    if (auto text = r.query_one("filter"); !text.empty()) {
      auto f = scim::parse_filter(text);
      if (!f) return scim_error(400, f.error().message, "invalidFilter");
      filter = std::move(*f);
    }
    std::optional<std::string> ods;
    if (!p_.national()) ods = ods_of(p_.org_id);  // administrators provision their own organisation
    auto all = d_.admin.list_accounts(p_, ods);
    if (!all) return scim_error(all.error());
    std::vector<const Account*> hits;
    for (const auto& a : *all) {
      if (a.state == AccountState::deleted) continue;
      if (filter && !scim::matches(*filter, [&](const std::string& attr) { return user_attr(a, attr); })) continue;
      hits.push_back(&a);
    }
    auto [start, count] = page(r);
    json::array resources;
    for (size_t i = start - 1; i < hits.size() && resources.size() < count; ++i) resources.push_back(user_json(*hits[i]));
    return scim_json(200, json::object{{"schemas", json::array{kListSchema}},
                                       {"totalResults", hits.size()},
                                       {"startIndex", start},
                                       {"itemsPerPage", resources.size()},
                                       {"Resources", resources}});
  }

  static std::optional<std::string> str(const json::object& o, std::string_view key) {
    auto it = o.find(key);
    if (it == o.end() || !it->value().is_string()) return std::nullopt;
    return std::string(it->value().as_string());
  }

  // SCIM clients send booleans as JSON booleans or (Entra ID) as "True"/"False".
  static std::optional<bool> boolean(const json::value& v) {
    if (v.is_bool()) return v.as_bool();
    if (v.is_string()) {
      std::string s(v.as_string());
      std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
      if (s == "true") return true;
      if (s == "false") return false;
    }
    return std::nullopt;
  }

  // displayName, else name.formatted, else givenName familyName.
  static std::optional<std::string> display_name(const json::object& o) {
    if (auto d = str(o, "displayName")) return d;
    auto it = o.find("name");
    if (it == o.end() || !it->value().is_object()) return std::nullopt;
    const auto& n = it->value().as_object();
    if (auto f = str(n, "formatted")) return f;
    std::string given = str(n, "givenName").value_or(""), family = str(n, "familyName").value_or("");
    std::string full = given + (given.empty() || family.empty() ? "" : " ") + family;
    if (full.empty()) return std::nullopt;
    return full;
  }

  std::variant<json::object, Response> body(const Request& r) {
    if (!is_json_media_type(r.content_type))
      return scim_error(415, "send application/scim+json");
    boost::system::error_code ec;
    json::value v = json::parse(r.body, ec);
    if (ec || !v.is_object()) return scim_error(400, "the body is not a JSON object", "invalidSyntax");
    return std::move(v.as_object());
  }

  // Applies `active` (a state change) when it differs.
  Status set_active(const Account& a, bool want) {
    if (active(a) == want) return {};
    return d_.lifecycle.change_state(p_, a.address, want ? AccountState::active : AccountState::disabled);
  }

  Response create_user(const Request& r) {
    auto b = body(r);
    if (auto* e = std::get_if<Response>(&b)) return *e;
    auto& o = std::get<json::object>(b);
    CreateAccountRequest req;
    auto user_name = str(o, "userName");
    if (!user_name || user_name->empty()) return scim_error(400, "'userName' (the email address) is required", "invalidValue");
    req.address = *user_name;
    req.display_name = display_name(o).value_or("");
    req.ods_code = ods_of(p_.org_id);
    if (auto it = o.find(kExtSchema); it != o.end() && it->value().is_object())
      if (auto ods = str(it->value().as_object(), "odsCode")) req.ods_code = *ods;
    if (auto pw = str(o, "password")) {
      req.password = *pw;
      req.must_change_password = true;  // set by a provisioning system: the person chooses their own
    }
    auto a = d_.admin.create_account(p_, req);
    if (!a) return scim_error(a.error());
    if (auto ext = str(o, "externalId"))
      if (Status s = d_.lifecycle.update_profile(p_, a->address, std::nullopt, *ext); !s) return scim_error(s.error());
    if (auto it = o.find("active"); it != o.end())
      if (auto want = boolean(it->value()); want && !*want)
        if (Status s = set_active(*a, false); !s) return scim_error(s.error());
    auto fresh = d_.admin.get_account_by_id(p_, a->id);
    if (!fresh) return scim_error(fresh.error());
    Response out = scim_json(201, user_json(*fresh));
    out.headers.emplace_back("Location", "/scim/v2/Users/" + std::to_string(a->id));
    return out;
  }

  Response replace_user(const Account& a, const Request& r) {
    auto b = body(r);
    if (auto* e = std::get_if<Response>(&b)) return *e;
    auto& o = std::get<json::object>(b);
    if (auto user_name = str(o, "userName"); user_name && !iequal(*user_name, a.address))
      return scim_error(400, "userName is the address for life and cannot change", "mutability");
    std::optional<std::string> ext = str(o, "externalId").value_or("");
    if (Status s = d_.lifecycle.update_profile(p_, a.address, display_name(o), ext); !s) return scim_error(s.error());
    if (auto it = o.find("active"); it != o.end()) {
      auto want = boolean(it->value());
      if (!want) return scim_error(400, "'active' must be true or false", "invalidValue");
      if (Status s = set_active(a, *want); !s) return scim_error(s.error());
    }
    return reread(a.id);
  }

  static bool iequal(std::string_view x, std::string_view y) {
    return x.size() == y.size() && std::equal(x.begin(), x.end(), y.begin(), [](unsigned char c, unsigned char d) {
             return std::tolower(c) == std::tolower(d);
           });
  }

  Response reread(AccountId id) {
    auto fresh = d_.admin.get_account_by_id(p_, id);
    if (!fresh) return scim_error(fresh.error());
    return scim_json(200, user_json(*fresh));
  }

  // The PatchOp's list of operations (RFC 7644 §3.5.2), bounded.
  static std::variant<const json::array*, Response> operations(const json::object& o) {
    auto ops = o.find("Operations");
    if (ops == o.end() || !ops->value().is_array() || ops->value().as_array().empty())
      return scim_error(400, "'Operations' (a list of PatchOp operations) is required", "invalidSyntax");
    if (ops->value().as_array().size() > 100) return scim_error(400, "at most 100 operations", "tooMany");
    return &ops->value().as_array();
  }

  // RFC 7644 §3.5.2: add/replace/remove of active, displayName, externalId, name.*; a
  // replace without a path carries an object of those.
  Response patch_user(const Account& a, const Request& r) {
    auto b = body(r);
    if (auto* e = std::get_if<Response>(&b)) return *e;
    auto ops = operations(std::get<json::object>(b));
    if (auto* e = std::get_if<Response>(&ops)) return *e;
    std::optional<std::string> name, ext;
    std::optional<bool> want_active;
    for (const auto& v : *std::get<const json::array*>(ops)) {
      if (!v.is_object()) return scim_error(400, "each operation is an object", "invalidSyntax");
      const auto& op = v.as_object();
      std::string kind = str(op, "op").value_or("");
      std::transform(kind.begin(), kind.end(), kind.begin(), [](unsigned char c) { return std::tolower(c); });
      if (kind != "add" && kind != "replace" && kind != "remove")
        return scim_error(400, "op must be add, replace or remove", "invalidSyntax");
      std::string path = str(op, "path").value_or("");
      std::transform(path.begin(), path.end(), path.begin(), [](unsigned char c) { return std::tolower(c); });
      const json::value* value = op.if_contains("value");
      json::object fields;
      if (path.empty()) {
        if (!value || !value->is_object()) return scim_error(400, "an operation without a path needs an object value", "noTarget");
        fields = value->as_object();
      } else {
        if (kind == "remove") {
          if (path == "externalid") { ext = ""; continue; }
          return scim_error(400, "'" + path + "' cannot be removed", "mutability");
        }
        if (!value) return scim_error(400, "the operation needs a value", "invalidValue");
        static const std::pair<std::string_view, std::string_view> kPaths[] = {
            {"active", "active"}, {"displayname", "displayName"}, {"externalid", "externalId"},
            {"name.formatted", "name.formatted"}, {"name.givenname", "name.givenName"},
            {"name.familyname", "name.familyName"}, {"username", "userName"}};
        std::string_view key;
        for (auto [p, k] : kPaths)
          if (path == p) key = k;
        if (key.empty()) return scim_error(400, "'" + path + "' cannot be changed here", "invalidPath");
        if (key.rfind("name.", 0) == 0) {
          json::object n = name_parts_;
          n[key.substr(5)] = *value;
          name_parts_ = n;
          fields["name"] = n;
        } else {
          fields[key] = *value;
        }
      }
      if (auto u = str(fields, "userName"); u && !iequal(*u, a.address))
        return scim_error(400, "userName is the address for life and cannot change", "mutability");
      if (auto it = fields.find("active"); it != fields.end()) {
        want_active = boolean(it->value());
        if (!want_active) return scim_error(400, "'active' must be true or false", "invalidValue");
      }
      if (auto d = display_name(fields)) name = d;
      if (auto x = str(fields, "externalId")) ext = x;
    }
    if (name || ext)
      if (Status s = d_.lifecycle.update_profile(p_, a.address, name, ext); !s) return scim_error(s.error());
    if (want_active)
      if (Status s = set_active(a, *want_active); !s) return scim_error(s.error());
    return reread(a.id);
  }

  // --- groups (roles) --------------------------------------------------------------------
  json::object group_json(Role role, const std::vector<Account>& accounts) {
    json::array members;
    for (const auto& a : accounts)
      if (a.has_role(role) && a.state != AccountState::deleted)
        members.push_back(json::object{{"value", std::to_string(a.id)}, {"display", a.address},
                                       {"$ref", "/scim/v2/Users/" + std::to_string(a.id)}});
    std::string id(to_string(role));
    return {{"schemas", json::array{kGroupSchema}},
            {"id", id},
            {"displayName", id},
            {"members", members},
            {"meta", json::object{{"resourceType", "Group"}, {"location", "/scim/v2/Groups/" + id}}}};
  }

  Result<std::vector<Account>> scope_accounts() {
    std::optional<std::string> ods;
    if (!p_.national()) ods = ods_of(p_.org_id);
    return d_.admin.list_accounts(p_, ods);
  }

  Response list_groups(const Request& r) {
    std::optional<scim::Filter> filter;
    if (auto text = r.query_one("filter"); !text.empty()) {
      auto f = scim::parse_filter(text);
      if (!f) return scim_error(400, f.error().message, "invalidFilter");
      filter = std::move(*f);
    }
    auto accounts = scope_accounts();
    if (!accounts) return scim_error(accounts.error());
    json::array resources;
    for (Role role : kGroupRoles) {
      std::string id(to_string(role));
      if (filter && !scim::matches(*filter, [&](const std::string& attr) {
            return attr == "displayname" || attr == "id" ? std::vector<std::string>{id} : std::vector<std::string>{};
          }))
        continue;
      resources.push_back(group_json(role, *accounts));
    }
    return scim_json(200, json::object{{"schemas", json::array{kListSchema}},
                                       {"totalResults", resources.size()},
                                       {"startIndex", 1},
                                       {"itemsPerPage", resources.size()},
                                       {"Resources", resources}});
  }

  Response group(Role role) {
    auto accounts = scope_accounts();
    if (!accounts) return scim_error(accounts.error());
    return scim_json(200, group_json(role, *accounts));
  }

  // Member ids of an operation: value [{"value": "42"}, ...], or a path
  // members[value eq "42"] (Entra ID's remove).
  static std::variant<std::vector<std::string>, Response> member_ids(const std::string& path, const json::value* value) {
    std::vector<std::string> ids;
    if (path.rfind("members[", 0) == 0) {
      auto f = scim::parse_filter(std::string_view(path).substr(8, path.size() - 9));
      if (!f || f->op != scim::Op::eq || f->attr != "value" || path.back() != ']')
        return scim_error(400, "use members[value eq \"<id>\"]", "invalidPath");
      ids.push_back(f->value);
      return ids;
    }
    if (path != "members") return scim_error(400, "only 'members' of a group can change", "invalidPath");
    if (!value || !value->is_array()) return scim_error(400, "'value' must be a list of {\"value\": id}", "invalidValue");
    for (const auto& m : value->as_array()) {
      if (!m.is_object()) return scim_error(400, "'value' must be a list of {\"value\": id}", "invalidValue");
      auto id = str(m.as_object(), "value");
      if (!id) return scim_error(400, "'value' must be a list of {\"value\": id}", "invalidValue");
      ids.push_back(*id);
    }
    return ids;
  }

  Response patch_group(Role role, const Request& r) {
    auto b = body(r);
    if (auto* e = std::get_if<Response>(&b)) return *e;
    auto ops = operations(std::get<json::object>(b));
    if (auto* e = std::get_if<Response>(&ops)) return *e;
    for (const auto& v : *std::get<const json::array*>(ops)) {
      if (!v.is_object()) return scim_error(400, "each operation is an object", "invalidSyntax");
      const auto& op = v.as_object();
      std::string kind = str(op, "op").value_or("");
      std::transform(kind.begin(), kind.end(), kind.begin(), [](unsigned char c) { return std::tolower(c); });
      if (kind != "add" && kind != "remove") return scim_error(400, "add or remove members", "invalidSyntax");
      std::string path = str(op, "path").value_or("");
      auto ids = member_ids(path, op.if_contains("value"));
      if (auto* e = std::get_if<Response>(&ids)) return *e;
      for (const auto& id : std::get<std::vector<std::string>>(ids)) {
        auto acct = user_by_id(id);
        if (auto* e = std::get_if<Response>(&acct)) return *e;
        Account& a = std::get<Account>(acct);
        std::vector<Role> roles = a.roles;
        if (kind == "add" && !a.has_role(role)) roles.push_back(role);
        if (kind == "remove") std::erase(roles, role);
        if (Status s = d_.lifecycle.set_roles(p_, a.address, roles); !s) return scim_error(s.error());
      }
    }
    return group(role);
  }

  // --- discovery (RFC 7644 §4) ------------------------------------------------------------
  static Response service_provider_config() {
    return scim_json(200, json::object{
        {"schemas", json::array{"urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"}},
        {"documentationUri", "https://github.com/caremail/caremail/blob/main/docs/ARCHITECTURE.md"},
        {"patch", json::object{{"supported", true}}},
        {"bulk", json::object{{"supported", false}, {"maxOperations", 0}, {"maxPayloadSize", 0}}},
        {"filter", json::object{{"supported", true}, {"maxResults", 1000}}},
        {"changePassword", json::object{{"supported", false}}},
        {"sort", json::object{{"supported", false}}},
        {"etag", json::object{{"supported", false}}},
        {"authenticationSchemes",
         json::array{json::object{{"type", "oauthbearertoken"},
                                  {"name", "API token"},
                                  {"description", "An administrator's API token (POST /api/v1/tokens)"},
                                  {"primary", true}}}}});
  }

  static Response resource_types() {
    json::array types{
        json::object{{"schemas", json::array{"urn:ietf:params:scim:schemas:core:2.0:ResourceType"}},
                     {"id", "User"},
                     {"name", "User"},
                     {"endpoint", "/Users"},
                     {"schema", kUserSchema},
                     {"schemaExtensions", json::array{json::object{{"schema", kExtSchema}, {"required", false}}}}},
        json::object{{"schemas", json::array{"urn:ietf:params:scim:schemas:core:2.0:ResourceType"}},
                     {"id", "Group"},
                     {"name", "Group"},
                     {"endpoint", "/Groups"},
                     {"schema", kGroupSchema}}};
    return scim_json(200, json::object{{"schemas", json::array{kListSchema}},
                                       {"totalResults", types.size()},
                                       {"Resources", types}});
  }

  static Response schemas() {
    auto attr = [](const char* name, const char* type, const char* mutability, bool required = false) {
      return json::object{{"name", name},       {"type", type},       {"multiValued", false},
                          {"required", required}, {"caseExact", false}, {"mutability", mutability},
                          {"returned", "default"}, {"uniqueness", std::string_view(name) == "userName" ? "server" : "none"}};
    };
    json::array res{
        json::object{{"id", kUserSchema},
                     {"name", "User"},
                     {"attributes", json::array{attr("userName", "string", "immutable", true),
                                                attr("displayName", "string", "readWrite"),
                                                attr("externalId", "string", "readWrite"),
                                                attr("active", "boolean", "readWrite"),
                                                attr("password", "string", "writeOnly")}}},
        json::object{{"id", kGroupSchema},
                     {"name", "Group"},
                     {"attributes", json::array{attr("displayName", "string", "readOnly", true)}}},
        json::object{{"id", kExtSchema},
                     {"name", "Caremail account"},
                     {"attributes", json::array{attr("odsCode", "string", "immutable"),
                                                attr("state", "string", "readOnly"),
                                                attr("quotaBytes", "integer", "readOnly")}}}};
    return scim_json(200, json::object{{"schemas", json::array{kListSchema}},
                                       {"totalResults", res.size()},
                                       {"Resources", res}});
  }

  const Principal& p_;
  const ApiDeps& d_;
  std::unordered_map<OrgId, std::string> ods_;
  json::object name_parts_;
};

}  // namespace

Response scim_route(const Principal& p, const Request& r, const ApiDeps& deps) {
  if (p.restricted()) return scim_error(403, "finish signing in first");
  return Scim(p, deps).route(r);
}

}  // namespace caremail::http

// /api/v1/organisations/{ods}/contacts[/{id}] and /lists[/{address}[/members/{member}]]:
// an organisation's directory contacts and distribution lists. Thin: it parses and checks
// the JSON shape (unknown fields and wrong types are 400s that change nothing), and every
// decision (who may, what is a valid address, the address lock) is DirectoryService's.
#include <boost/json.hpp>

#include <charconv>

#include "http/api_routes.hpp"

namespace caremail::http {

namespace json = boost::json;

namespace {

constexpr std::pair<const char*, std::string DirectoryProfile::*> kProfileFields[] = {
    {"title", &DirectoryProfile::title},         {"given_name", &DirectoryProfile::given_name},
    {"surname", &DirectoryProfile::surname},     {"job_role", &DirectoryProfile::job_role},
    {"speciality", &DirectoryProfile::speciality}, {"work_area", &DirectoryProfile::work_area},
    {"unit", &DirectoryProfile::unit},           {"site", &DirectoryProfile::site},
    {"telephone", &DirectoryProfile::telephone}, {"mobile", &DirectoryProfile::mobile},
    {"pager", &DirectoryProfile::pager},         {"fax", &DirectoryProfile::fax},
    {"notes", &DirectoryProfile::notes}};

json::object to_json(const DirectoryContact& c, std::string_view ods) {
  json::object o{{"id", c.directory_id()},         {"address", c.address},        {"display_name", c.display_name},
                 {"ods_code", ods},                {"hidden", c.profile.hidden},  {"mobile_hidden", c.profile.mobile_hidden},
                 {"created_at", c.created_at},     {"updated_at", c.updated_at}};
  for (auto [name, field] : kProfileFields) o[name] = c.profile.*field;
  return o;
}

json::object to_json(const DistributionList& l, std::string_view ods) {
  json::array members;
  for (const auto& m : l.members) members.emplace_back(m);
  return {{"id", l.directory_id()}, {"address", l.address},  {"display_name", l.display_name},
          {"ods_code", ods},        {"hidden", l.hidden},    {"senders", to_string(l.senders)},
          {"members", members},     {"created_at", l.created_at}};
}

// The whole contact (POST and PUT replace every field): address and display_name are
// required, the profile fields default to empty, the switches to false.
std::variant<DirectoryContact, Response> parse_contact(const Request& r) {
  auto body = parse_body(r);
  if (auto* resp = std::get_if<Response>(&body)) return std::move(*resp);
  DirectoryContact c;
  bool has_address = false, has_name = false;
  for (const auto& [k, v] : std::get<json::object>(body)) {
    auto text = [&](std::string& dst) -> std::optional<Response> {
      if (!v.is_string()) return problem(400, "'" + std::string(k) + "' must be a string");
      dst = std::string(v.as_string());
      return std::nullopt;
    };
    std::optional<Response> err;
    bool known = true;
    if (k == "address") {
      err = text(c.address);
      has_address = true;
    } else if (k == "display_name") {
      err = text(c.display_name);
      has_name = true;
    } else if (k == "hidden" || k == "mobile_hidden") {
      if (!v.is_bool()) return problem(400, "'" + std::string(k) + "' must be true or false");
      (k == "hidden" ? c.profile.hidden : c.profile.mobile_hidden) = v.as_bool();
    } else {
      known = false;
      for (auto [name, field] : kProfileFields)
        if (k == name) {
          err = text(c.profile.*field);
          known = true;
        }
    }
    if (!known) return problem(400, "unknown field '" + std::string(k) + "'");
    if (err) return std::move(*err);
  }
  if (!has_address || !has_name)
    return problem(400, "'address' (the contact's email address) and 'display_name' are required");
  return c;
}

std::optional<ListSenders> senders_of(const json::value& v) {
  if (!v.is_string()) return std::nullopt;
  return parse_list_senders(std::string_view(v.as_string()));
}

constexpr const char* kSendersHelp = "'senders' is anyone, service (people signed in to the service) or members";

std::variant<DistributionList, Response> parse_new_list(const Request& r) {
  auto body = parse_body(r);
  if (auto* resp = std::get_if<Response>(&body)) return std::move(*resp);
  DistributionList l;
  bool has_address = false, has_name = false;
  for (const auto& [k, v] : std::get<json::object>(body)) {
    if (k == "address" || k == "display_name") {
      if (!v.is_string()) return problem(400, "'" + std::string(k) + "' must be a string");
      (k == "address" ? l.address : l.display_name) = std::string(v.as_string());
      (k == "address" ? has_address : has_name) = true;
    } else if (k == "hidden") {
      if (!v.is_bool()) return problem(400, "'hidden' must be true or false");
      l.hidden = v.as_bool();
    } else if (k == "senders") {
      auto s = senders_of(v);
      if (!s) return problem(400, kSendersHelp);
      l.senders = *s;
    } else if (k == "members") {
      if (!v.is_array()) return problem(400, "'members' must be a list of addresses");
      for (const auto& m : v.as_array()) {
        if (!m.is_string()) return problem(400, "'members' must be a list of addresses");
        l.members.emplace_back(m.as_string());
      }
    } else {
      return problem(400, "unknown field '" + std::string(k) + "'");
    }
  }
  if (!has_address || !has_name) return problem(400, "'address' and 'display_name' are required");
  return l;
}

// PUT lists/{address}: display_name, hidden, senders; a field left out keeps its value.
std::variant<DistributionList, Response> parse_list_settings(const Request& r, DistributionList current) {
  auto body = parse_body(r);
  if (auto* resp = std::get_if<Response>(&body)) return std::move(*resp);
  for (const auto& [k, v] : std::get<json::object>(body)) {
    if (k == "display_name") {
      if (!v.is_string()) return problem(400, "'display_name' must be a string");
      current.display_name = std::string(v.as_string());
    } else if (k == "hidden") {
      if (!v.is_bool()) return problem(400, "'hidden' must be true or false");
      current.hidden = v.as_bool();
    } else if (k == "senders") {
      auto s = senders_of(v);
      if (!s) return problem(400, kSendersHelp);
      current.senders = *s;
    } else if (k == "address" || k == "members") {
      return problem(400, "'" + std::string(k) + "' cannot be changed here: " +
                              (k == "address" ? "delete the list and create another"
                                              : "use PUT or DELETE .../members/{member}"));
    } else {
      return problem(400, "unknown field '" + std::string(k) + "'");
    }
  }
  return current;
}

// The contact {id} of the path: a number, or the 404 to answer with.
std::variant<uint64_t, Response> contact_id(const Call& c) {
  std::string sub = c.param("id");
  uint64_t id = 0;
  auto [end, ec] = std::from_chars(sub.data(), sub.data() + sub.size(), id);
  if (ec != std::errc() || end != sub.data() + sub.size())
    return problem(404, "no directory contact " + sub + ": contacts are named by their numeric id");
  return id;
}

Response contacts(Call& c) {
  std::string ods = c.param("ods");
  auto all = c.d.directory.contacts(c.p, ods);
  if (!all) return problem(all.error());
  json::array out;
  for (const auto& x : *all) out.push_back(to_json(x, ods));
  return json_response(200, json::object{{"contacts", out}});
}

Response create_contact(Call& c) {
  std::string ods = c.param("ods");
  auto parsed = parse_contact(c.r);
  if (auto* resp = std::get_if<Response>(&parsed)) return *resp;
  auto made = c.d.directory.create_contact(c.p, ods, std::move(std::get<DirectoryContact>(parsed)));
  if (!made) return problem(made.error());
  return json_response(201, to_json(*made, ods));
}

Response contact(Call& c) {
  std::string ods = c.param("ods");
  auto id = contact_id(c);
  if (auto* resp = std::get_if<Response>(&id)) return *resp;
  auto x = c.d.directory.contact(c.p, ods, std::get<uint64_t>(id));
  if (!x) return problem(x.error());
  return json_response(200, to_json(*x, ods));
}

Response update_contact(Call& c) {
  std::string ods = c.param("ods");
  auto id = contact_id(c);
  if (auto* resp = std::get_if<Response>(&id)) return *resp;
  auto parsed = parse_contact(c.r);
  if (auto* resp = std::get_if<Response>(&parsed)) return *resp;
  auto x = c.d.directory.update_contact(c.p, ods, std::get<uint64_t>(id), std::move(std::get<DirectoryContact>(parsed)));
  if (!x) return problem(x.error());
  return json_response(200, to_json(*x, ods));
}

Response delete_contact(Call& c) {
  auto id = contact_id(c);
  if (auto* resp = std::get_if<Response>(&id)) return *resp;
  return status_response(c.d.directory.delete_contact(c.p, c.param("ods"), std::get<uint64_t>(id)));
}

Response lists(Call& c) {
  std::string ods = c.param("ods");
  auto all = c.d.directory.lists(c.p, ods);
  if (!all) return problem(all.error());
  json::array out;
  for (const auto& l : *all) out.push_back(to_json(l, ods));
  return json_response(200, json::object{{"lists", out}});
}

Response create_list(Call& c) {
  std::string ods = c.param("ods");
  auto parsed = parse_new_list(c.r);
  if (auto* resp = std::get_if<Response>(&parsed)) return *resp;
  auto made = c.d.directory.create_list(c.p, ods, std::move(std::get<DistributionList>(parsed)));
  if (!made) return problem(made.error());
  return json_response(201, to_json(*made, ods));
}

Response list(Call& c) {
  std::string ods = c.param("ods");
  auto l = c.d.directory.list(c.p, ods, c.param("list"));
  if (!l) return problem(l.error());
  return json_response(200, to_json(*l, ods));
}

Response update_list(Call& c) {
  std::string ods = c.param("ods"), address = c.param("list");
  auto current = c.d.directory.list(c.p, ods, address);
  if (!current) return problem(current.error());
  auto parsed = parse_list_settings(c.r, *current);
  if (auto* resp = std::get_if<Response>(&parsed)) return *resp;
  auto l = c.d.directory.update_list(c.p, ods, address, std::get<DistributionList>(parsed));
  if (!l) return problem(l.error());
  return json_response(200, to_json(*l, ods));
}

Response delete_list(Call& c) { return status_response(c.d.directory.delete_list(c.p, c.param("ods"), c.param("list"))); }

// PUT adds {member}, DELETE removes it.
Response set_member(Call& c) {
  std::string ods = c.param("ods");
  auto l = c.d.directory.set_list_member(c.p, ods, c.param("list"), c.param("member"), c.r.method == "PUT");
  if (!l) return problem(l.error());
  return json_response(200, to_json(*l, ods));
}

const Route kRoutes[] = {
    {"GET", "/api/v1/organisations/{ods}/contacts", contacts},
    {"POST", "/api/v1/organisations/{ods}/contacts", create_contact},
    {"GET", "/api/v1/organisations/{ods}/contacts/{id}", contact},
    {"PUT", "/api/v1/organisations/{ods}/contacts/{id}", update_contact},
    {"DELETE", "/api/v1/organisations/{ods}/contacts/{id}", delete_contact},
    {"GET", "/api/v1/organisations/{ods}/lists", lists},
    {"POST", "/api/v1/organisations/{ods}/lists", create_list},
    {"GET", "/api/v1/organisations/{ods}/lists/{list}", list},
    {"PUT", "/api/v1/organisations/{ods}/lists/{list}", update_list},
    {"DELETE", "/api/v1/organisations/{ods}/lists/{list}", delete_list},
    {"PUT", "/api/v1/organisations/{ods}/lists/{list}/members/{member}", set_member},
    {"DELETE", "/api/v1/organisations/{ods}/lists/{list}/members/{member}", set_member},
};

}  // namespace

std::span<const Route> entries_routes() { return kRoutes; }

}  // namespace caremail::http

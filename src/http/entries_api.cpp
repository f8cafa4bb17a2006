// /api/v1/organisations/{ods}/contacts[/{id}] and /lists[/{address}[/members/{member}]]:
// an organisation's directory contacts and distribution lists. Thin: it parses and checks
// the JSON shape (unknown fields and wrong types are 400s that change nothing), and every
// decision (who may, what is a valid address, the address lock) is DirectoryService's.
#include <boost/json.hpp>

#include <charconv>

#include "http/admin_api.hpp"
#include "http/json_response.hpp"

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

Response no_content() {
  Response r;
  r.status = 204;
  return r;
}

Response contacts_route(const Principal& p, const Request& r, const ApiDeps& d, const std::string& ods,
                        std::string_view sub) {
  if (sub.empty()) {
    if (r.method == "GET") {
      auto all = d.directory.contacts(p, ods);
      if (!all) return problem(all.error());
      json::array out;
      for (const auto& c : *all) out.push_back(to_json(c, ods));
      return json_response(200, json::object{{"contacts", out}});
    }
    if (r.method == "POST") {
      auto parsed = parse_contact(r);
      if (auto* resp = std::get_if<Response>(&parsed)) return *resp;
      auto made = d.directory.create_contact(p, ods, std::move(std::get<DirectoryContact>(parsed)));
      if (!made) return problem(made.error());
      return json_response(201, to_json(*made, ods));
    }
    return problem(405, "use GET or POST");
  }
  uint64_t id = 0;
  auto [end, ec] = std::from_chars(sub.data(), sub.data() + sub.size(), id);
  if (ec != std::errc() || end != sub.data() + sub.size())
    return problem(404, "no directory contact " + std::string(sub) + ": contacts are named by their numeric id");
  if (r.method == "GET") {
    auto c = d.directory.contact(p, ods, id);
    if (!c) return problem(c.error());
    return json_response(200, to_json(*c, ods));
  }
  if (r.method == "PUT") {
    auto parsed = parse_contact(r);
    if (auto* resp = std::get_if<Response>(&parsed)) return *resp;
    auto c = d.directory.update_contact(p, ods, id, std::move(std::get<DirectoryContact>(parsed)));
    if (!c) return problem(c.error());
    return json_response(200, to_json(*c, ods));
  }
  if (r.method == "DELETE") {
    if (Status s = d.directory.delete_contact(p, ods, id); !s) return problem(s.error());
    return no_content();
  }
  return problem(405, "use GET, PUT or DELETE");
}

Response lists_route(const Principal& p, const Request& r, const ApiDeps& d, const std::string& ods,
                     std::string_view sub) {
  if (sub.empty()) {
    if (r.method == "GET") {
      auto all = d.directory.lists(p, ods);
      if (!all) return problem(all.error());
      json::array out;
      for (const auto& l : *all) out.push_back(to_json(l, ods));
      return json_response(200, json::object{{"lists", out}});
    }
    if (r.method == "POST") {
      auto parsed = parse_new_list(r);
      if (auto* resp = std::get_if<Response>(&parsed)) return *resp;
      auto made = d.directory.create_list(p, ods, std::move(std::get<DistributionList>(parsed)));
      if (!made) return problem(made.error());
      return json_response(201, to_json(*made, ods));
    }
    return problem(405, "use GET or POST");
  }
  auto slash = sub.find('/');
  std::string address(sub.substr(0, slash));
  std::string_view rest = slash == std::string_view::npos ? "" : sub.substr(slash + 1);
  if (rest.empty()) {
    if (r.method == "GET") {
      auto l = d.directory.list(p, ods, address);
      if (!l) return problem(l.error());
      return json_response(200, to_json(*l, ods));
    }
    if (r.method == "PUT") {
      auto current = d.directory.list(p, ods, address);
      if (!current) return problem(current.error());
      auto parsed = parse_list_settings(r, *current);
      if (auto* resp = std::get_if<Response>(&parsed)) return *resp;
      auto l = d.directory.update_list(p, ods, address, std::get<DistributionList>(parsed));
      if (!l) return problem(l.error());
      return json_response(200, to_json(*l, ods));
    }
    if (r.method == "DELETE") {
      if (Status s = d.directory.delete_list(p, ods, address); !s) return problem(s.error());
      return no_content();
    }
    return problem(405, "use GET, PUT or DELETE");
  }
  if (rest.rfind("members/", 0) == 0 && rest.size() > 8 && rest.find('/', 8) == std::string_view::npos) {
    std::string member(rest.substr(8));
    if (r.method != "PUT" && r.method != "DELETE") return problem(405, "use PUT or DELETE");
    auto l = d.directory.set_list_member(p, ods, address, member, r.method == "PUT");
    if (!l) return problem(l.error());
    return json_response(200, to_json(*l, ods));
  }
  return problem(404, "no such resource");
}

}  // namespace

bool is_entries_path(std::string_view rest) {
  if (rest.rfind("organisations/", 0) != 0) return false;
  std::string_view tail = rest.substr(14);
  auto slash = tail.find('/');
  if (slash == std::string_view::npos || slash == 0) return false;
  std::string_view sub = tail.substr(slash + 1);
  return sub == "contacts" || sub.rfind("contacts/", 0) == 0 || sub == "lists" || sub.rfind("lists/", 0) == 0;
}

Response entries_route(const Principal& p, const Request& r, const ApiDeps& d, std::string_view rest) {
  std::string_view tail = rest.substr(14);  // after "organisations/"
  auto slash = tail.find('/');
  std::string ods(tail.substr(0, slash));
  std::string_view sub = tail.substr(slash + 1);
  if (sub == "contacts") return contacts_route(p, r, d, ods, "");
  if (sub.rfind("contacts/", 0) == 0) return contacts_route(p, r, d, ods, sub.substr(9));
  if (sub == "lists") return lists_route(p, r, d, ods, "");
  return lists_route(p, r, d, ods, sub.substr(6));
}

}  // namespace caremail::http

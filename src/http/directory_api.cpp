// /api/v1/directory/...: search and typeahead, one entry, profile edits, "find your local
// administrator", and the bulk export for organisations with a sharing agreement. Thin:
// every decision (privacy, scope, who may edit or export) is DirectoryService's.
#include <boost/json.hpp>

#include <charconv>

#include "http/api_routes.hpp"

namespace caremail::http {

namespace json = boost::json;

namespace {

json::object to_json(const directory::DirectoryEntry& e) {
  json::object o{{"id", e.id},
                 {"address", e.address},
                 {"kind", directory::to_string(e.kind)},
                 {"display_name", e.display_name},
                 {"ods_code", e.ods_code},
                 {"organisation", e.org_name},
                 {"administrator", e.is_org_admin}};
  // Only what is there: an empty field says nothing.
  const std::pair<const char*, const std::string*> fields[] = {
      {"title", &e.title},         {"given_name", &e.given_name}, {"surname", &e.surname},
      {"job_role", &e.job_role},   {"speciality", &e.speciality}, {"work_area", &e.work_area},
      {"unit", &e.unit},           {"site", &e.site},             {"telephone", &e.telephone},
      {"mobile", &e.mobile},       {"pager", &e.pager},           {"fax", &e.fax},
      {"notes", &e.notes}};
  for (auto [k, v] : fields)
    if (!v->empty()) o[k] = *v;
  if (e.hidden) o["hidden"] = true;
  return o;
}

std::optional<size_t> number(const Request& r, const char* key, size_t def, size_t max) {
  std::string v = r.query_one(key);
  if (v.empty()) return def;
  size_t n = 0;
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec != std::errc() || end != v.data() + v.size() || n > max) return std::nullopt;
  return n;
}

Response search(Call& c) {
  const Request& r = c.r;
  directory::Query q;
  q.text = r.query_one("q");
  q.typeahead = r.query_one("typeahead") == "1" || r.query_one("typeahead") == "true";
  q.ods_code = r.query_one("ods_code");
  q.organisation = r.query_one("organisation");
  q.job_role = r.query_one("job_role");
  q.speciality = r.query_one("speciality");
  q.work_area = r.query_one("work_area");
  q.unit = r.query_one("unit");
  q.site = r.query_one("site");
  q.address = r.query_one("address");
  q.admins_only = r.query_one("administrators") == "1" || r.query_one("administrators") == "true";
  if (auto k = r.query_one("kind"); !k.empty()) {
    for (auto kind : {directory::EntryKind::person, directory::EntryKind::shared, directory::EntryKind::list,
                      directory::EntryKind::contact})
      if (k == directory::to_string(kind)) q.kind = kind;
    if (!q.kind) return problem(400, "'kind' is person, shared, list or contact");
  }
  for (const std::string* s : {&q.text, &q.ods_code, &q.organisation, &q.job_role, &q.speciality, &q.work_area,
                               &q.unit, &q.site, &q.address})
    if (s->size() > 512) return problem(400, "a search field is longer than 512 characters");
  auto limit = number(r, "limit", 20, 100);
  auto offset = number(r, "offset", 0, 1000);
  if (!limit || !offset || *limit == 0) return problem(400, "'limit' must be 1 to 100 and 'offset' 0 to 1000");
  auto res = c.d.directory.search(c.p, q, *limit, *offset);
  if (!res) return problem(res.error());
  json::array hits;
  for (const auto& h : res->hits) {
    auto o = to_json(h.entry);
    o["match"] = h.match == directory::Match::exact ? "exact" : h.match == directory::Match::prefix ? "prefix" : "fuzzy";
    if (h.own_org) o["own_organisation"] = true;
    hits.push_back(std::move(o));
  }
  return json_response(200, json::object{{"results", hits}, {"total", res->total}, {"total_exact", res->total_exact}});
}

std::variant<DirectoryProfile, Response> parse_profile(const Request& r) {
  if (!is_media_type(r.content_type, "application", "json"))
    return problem(415, "send the request body as application/json");
  boost::system::error_code ec;
  json::value v = json::parse(r.body, ec);
  if (ec || !v.is_object()) return problem(400, "the body must be a JSON object");
  const auto& o = v.as_object();
  DirectoryProfile p;
  const std::pair<const char*, std::string*> fields[] = {
      {"title", &p.title},         {"given_name", &p.given_name}, {"surname", &p.surname},
      {"job_role", &p.job_role},   {"speciality", &p.speciality}, {"work_area", &p.work_area},
      {"unit", &p.unit},           {"site", &p.site},             {"telephone", &p.telephone},
      {"mobile", &p.mobile},       {"pager", &p.pager},           {"fax", &p.fax},
      {"notes", &p.notes}};
  for (const auto& [k, val] : o) {
    bool known = false;
    for (auto [name, dst] : fields)
      if (k == name) {
        if (!val.is_string()) return problem(400, "'" + std::string(name) + "' must be a string");
        *dst = std::string(val.as_string());
        known = true;
      }
    if (k == "hidden" || k == "mobile_hidden") {
      if (!val.is_bool()) return problem(400, "'" + std::string(k) + "' must be true or false");
      (k == "hidden" ? p.hidden : p.mobile_hidden) = val.as_bool();
      known = true;
    }
    if (!known) return problem(400, "unknown field '" + std::string(k) + "'");
  }
  return p;
}

json::object to_json(const DirectoryProfile& p) {
  return {{"title", p.title},         {"given_name", p.given_name}, {"surname", p.surname},
          {"job_role", p.job_role},   {"speciality", p.speciality}, {"work_area", p.work_area},
          {"unit", p.unit},           {"site", p.site},             {"telephone", p.telephone},
          {"mobile", p.mobile},       {"pager", p.pager},           {"fax", p.fax},
          {"notes", p.notes},         {"hidden", p.hidden},         {"mobile_hidden", p.mobile_hidden}};
}

Response administrators(Call& c) {
  auto admins = c.d.directory.administrators(c.p, c.r.query_one("ods_code"));
  if (!admins) return problem(admins.error());
  json::array out;
  for (const auto& e : *admins) out.push_back(to_json(e));
  return json_response(200, json::object{{"administrators", out}});
}

Response entry(Call& c) {
  auto e = c.d.directory.entry(c.p, c.param("address"));
  if (!e) return problem(e.error());
  return json_response(200, to_json(*e));
}

Response profile(Call& c) {
  auto pr = c.d.directory.profile(c.p, c.param("address"));
  if (!pr) return problem(pr.error());
  return json_response(200, to_json(*pr));
}

Response set_profile(Call& c) {
  auto parsed = parse_profile(c.r);
  if (auto* resp = std::get_if<Response>(&parsed)) return *resp;
  return status_response(c.d.directory.set_profile(c.p, c.param("address"), std::get<DirectoryProfile>(parsed)));
}

Response export_changes(Call& c) {
  auto limit = number(c.r, "limit", 1000, 10000);
  if (!limit || *limit == 0) return problem(400, "'limit' must be 1 to 10000");
  auto page = c.d.directory.export_changes(c.p, c.r.query_one("cursor"), *limit);
  if (!page) return problem(page.error());
  // JSON lines: one entry or removal a line, then the cursor line.
  Response out;
  out.content_type = "application/x-ndjson";
  for (const auto& e : page->entries) out.body += json::serialize(json::object{{"entry", to_json(e)}}) + "\n";
  for (uint64_t id : page->removed) out.body += json::serialize(json::object{{"removed", id}}) + "\n";
  out.body += json::serialize(json::object{{"next_cursor", page->next_cursor}, {"more", page->more}}) + "\n";
  return out;
}

// The profile is written with PUT on the entry itself; .../profile reads it.
const Route kRoutes[] = {
    {"GET", "/api/v1/directory/search", search},
    {"GET", "/api/v1/directory/administrators", administrators},
    {"GET", "/api/v1/directory/entries/{address}", entry},
    {"PUT", "/api/v1/directory/entries/{address}", set_profile},
    {"GET", "/api/v1/directory/entries/{address}/profile", profile},
    {"GET", "/api/v1/directory/export", export_changes},
};

}  // namespace

std::span<const Route> directory_routes() { return kRoutes; }

}  // namespace caremail::http

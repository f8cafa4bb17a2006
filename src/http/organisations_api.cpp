// /api/v1/organisations[/{ods}/...]: organisations and their settings (closing one into its
// successor, the data sharing agreement, the larger-quota allowance, the MFA policy). Their
// contacts and lists are entries_api.cpp's. Thin: every decision is the core's.
#include "http/api_routes.hpp"

namespace caremail::http {

namespace json = boost::json;

namespace {

json::object to_json(const Organisation& o) {
  json::array domains;
  for (const auto& d : o.domains) domains.emplace_back(d);
  return {{"id", o.id}, {"ods_code", o.ods_code}, {"name", o.name}, {"short_name", o.short_name},
          {"domains", domains}, {"open", o.open}, {"created_at", o.created_at},
          {"closed_at", o.closed_at}, {"successor_id", o.successor_id},
          {"large_quota_allowance", o.large_quota_allowance},
          {"sharing_agreement", o.sharing_agreement}};
}

Response list_orgs(Call& c) {
  auto r = c.d.admin.list_organisations(c.p);
  if (!r) return problem(r.error());
  json::array out;
  for (const auto& o : *r) out.push_back(to_json(o));
  return json_response(200, json::object{{"organisations", out}});
}

Response create_org(Call& c) {
  auto& b = c.body;
  NewOrganisation n;
  n.ods_code = b.str("ods_code").value_or("");
  n.name = b.str("name").value_or("");
  n.short_name = b.str("short_name").value_or("");
  n.domains = b.strings("domains", "'domains' must be a list of strings").value_or(std::vector<std::string>{});
  if (!b.ok()) return problem(400, b.error());
  if (n.ods_code.empty() || n.name.empty()) return problem(400, "'ods_code' and 'name' are required");
  auto created = c.d.admin.create_organisation(c.p, n);
  if (!created) return problem(created.error());
  return json_response(201, to_json(*created));
}

Response close_org(Call& c) {
  auto succ = c.body.str("successor");
  if (!c.body.ok() || !succ) return problem(400, "'successor' (the ODS code of the organisation taking over) is required");
  return status_response(c.d.lifecycle.close_organisation(c.p, c.param("ods"), *succ));
}

Response sharing_agreement(Call& c) {
  auto approved = c.body.flag("approved");
  if (!approved) return problem(400, "'approved' (true or false) is required");
  return status_response(c.d.directory.set_sharing_agreement(c.p, c.param("ods"), *approved));
}

Response quota_allowance(Call& c) {
  auto n = c.body.integer("accounts");
  if (!n) return problem(400, "'accounts' (how many mailboxes may have a larger quota) is required");
  if (*n < 0 || *n > 1000000) return problem(400, "'accounts' must be 0 to 1000000");
  return status_response(c.d.lifecycle.set_quota_allowance(c.p, c.param("ods"), static_cast<int>(*n)));
}

Response mfa_policy(Call& c) {
  auto& b = c.body;
  bool required = b.flag("required").value_or(false);
  auto nets = b.strings("trusted_networks", "'trusted_networks' must be a list of networks");
  if (!b.ok()) return problem(400, b.error());
  return status_response(c.d.sessions.set_org_mfa_policy(c.p, c.param("ods"), required,
                                                      nets.value_or(std::vector<std::string>{})));
}

constexpr auto kJson = BodyUse::json;
constexpr auto kSigned = Access::signed_in;

const Route kRoutes[] = {
    {"GET", "/api/v1/organisations", list_orgs},
    {"POST", "/api/v1/organisations", create_org, kSigned, kJson},
    {"POST", "/api/v1/organisations/{ods}/close", close_org, kSigned, kJson},
    {"PUT", "/api/v1/organisations/{ods}/sharing-agreement", sharing_agreement, kSigned, kJson},
    {"POST", "/api/v1/organisations/{ods}/sharing-agreement", sharing_agreement, kSigned, kJson},
    {"PUT", "/api/v1/organisations/{ods}/quota-allowance", quota_allowance, kSigned, kJson},
    {"POST", "/api/v1/organisations/{ods}/quota-allowance", quota_allowance, kSigned, kJson},
    {"PUT", "/api/v1/organisations/{ods}/mfa", mfa_policy, kSigned, kJson},
    {"POST", "/api/v1/organisations/{ods}/mfa", mfa_policy, kSigned, kJson},
};

}  // namespace

std::span<const Route> organisation_routes() { return kRoutes; }

}  // namespace caremail::http

#include "core/audit.hpp"

#include "common/log.hpp"

namespace caremail {

void audit(Store& store, const Principal& by, std::string_view action, std::string_view target, OrgId target_org,
           std::string_view outcome, std::string detail_json) {
  AuditEvent e;
  e.actor = by.address;
  e.actor_org = by.org_id;
  e.action = std::string(action);
  e.target = std::string(target);
  e.target_org = target_org;
  e.outcome = std::string(outcome);
  e.detail = std::move(detail_json);
  auto r = store.append_audit(std::move(e));
  if (!r)
    log::error("audit.write_failed", {{"action", action}, {"target", target}, {"error", r.error().message}});
}

}  // namespace caremail

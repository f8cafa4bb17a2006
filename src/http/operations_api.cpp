// /api/v1/queue and /api/v1/audit: what operators look at (the outbound queue, the audit
// log). Thin: who may see them is AdminService's decision.
#include "http/api_routes.hpp"

namespace caremail::http {

namespace json = boost::json;

namespace {

// The outbound queue, for operators (national roles): who waits for what and why.
Response queue(Call& c) {
  auto q = c.d.admin.outbound_queue(c.p, 1000);
  if (!q) return problem(q.error());
  json::array out;
  for (const auto& e : *q)
    out.push_back(json::object{{"id", e.id}, {"queue_id", e.queue_id}, {"sender", e.sender},
                               {"recipient", e.recipient}, {"size", e.size}, {"created_at", e.created_at},
                               {"next_attempt_at", e.next_attempt_at}, {"attempts", e.attempts},
                               {"last_error", e.last_error}, {"require_tls", e.require_tls}});
  return json_response(200, json::object{{"queue", out}});
}

Response audit_log(Call& c) {
  int64_t after = 0;
  size_t limit = 100;
  try {
    if (auto a = c.r.query_one("after"); !a.empty()) after = std::stoll(a);
    if (auto l = c.r.query_one("limit"); !l.empty()) limit = std::min<size_t>(1000, std::stoul(l));
  } catch (const std::exception&) {
    return problem(400, "'after' and 'limit' must be whole numbers");
  }
  auto ev = c.d.admin.audit_events(c.p, after, limit);
  if (!ev) return problem(ev.error());
  json::array out;
  for (const auto& e : *ev)
    out.push_back(json::object{{"id", e.id}, {"at", e.at}, {"actor", e.actor}, {"action", e.action},
                               {"target", e.target}, {"outcome", e.outcome}, {"detail", e.detail},
                               {"hash", e.hash}});
  return json_response(200, json::object{{"events", out}});
}

const Route kRoutes[] = {
    {"GET", "/api/v1/queue", queue},
    {"GET", "/api/v1/audit", audit_log},
};

}  // namespace

std::span<const Route> operations_routes() { return kRoutes; }

}  // namespace caremail::http

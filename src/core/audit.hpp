// The audit log's one writer for the core services (PRODUCT.md S9): refusals are audited
// where they are decided, changes where they are made.
#pragma once

#include <string>
#include <string_view>

#include "core/principal.hpp"
#include "store/store.hpp"

namespace caremail {

// Writes one audit event; never fails the caller (a failure is logged).
void audit(Store& store, const Principal& by, std::string_view action, std::string_view target, OrgId target_org,
           std::string_view outcome, std::string detail_json = "{}");

}  // namespace caremail

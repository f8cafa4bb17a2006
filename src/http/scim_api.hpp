// SCIM 2.0 (RFC 7643, RFC 7644) under /scim/v2/: an organisation provisions its staff in bulk
// from its own directory (Entra ID, Okta, a script). Users are accounts; Groups are the
// organisation's roles (local_admin, local_helpdesk, ...), whose members are the accounts
// holding them. The caller is an administrator with an API token; every decision is the
// core's (AdminService), so a local administrator provisions only their own organisation,
// and a group change is a role change under the usual rules.
#pragma once

#include "core/principal.hpp"
#include "http/admin_api.hpp"
#include "http/http_server.hpp"

namespace caremail::http {

// `r.path` starts with "/scim/v2/"; `p` is the authenticated caller.
Response scim_route(const Principal& p, const Request& r, const ApiDeps& deps);

}  // namespace caremail::http

// SCIM 2.0 (RFC 7643, RFC 7644) under /scim/v2/: an organisation provisions its staff in bulk
// from its own directory (Entra ID, Okta, a script). Users are accounts; Groups are the
// organisation's roles (local_admin, local_helpdesk, ...), whose members are the accounts
// holding them. The caller is an administrator with an API token; every decision is the
// core's (AdminService, LifecycleService), so a local administrator provisions only their
// own organisation, and a group change is a role change under the usual rules.
//
// SECURITY: reached only through the admin API's dispatcher (admin_api.cpp), after the
// same authentication (SignInService::authenticate_token or
// SessionService::authenticate_session; never HTTP Basic); a restricted sign-in gets 403
// before anything is read. It trusts nothing in the request: bodies are JSON objects within
// limits.max_http_json_body_bytes, filters are parsed by scim::parse_filter within
// FilterLimits (length, depth, nodes; fuzzed), a PatchOp has at most 100 operations, a page
// at most 1000 resources. It holds no Store: every read and change is a core service call
// (AdminService: get_account_by_id, list_accounts, create_account; LifecycleService:
// update_profile, change_state, set_roles), which decides scope and rank and audits; an
// account out of scope answers 404 as one that does not exist. Creating, replacing and
// patching users run on the password-hashing pool (admin_hashing_route).
#pragma once

#include "core/principal.hpp"
#include "http/admin_api.hpp"
#include "http/http_server.hpp"

namespace caremail::http {

// `r.path` starts with "/scim/v2/"; `p` is the authenticated caller.
Response scim_route(const Principal& p, const Request& r, const ApiDeps& deps);

}  // namespace caremail::http

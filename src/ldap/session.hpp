// The LDAPv3 read-only address book (RFC 4511, PRODUCT.md D2): port ldap.listen (389 in
// production; StartTLS) and ldap.tls_listen (636; implicit TLS). One coroutine per
// connection on its own strand, requests answered one at a time in the order they came.
//
// SECURITY: everything before a bind is reachable by anyone on the network. Input goes
// through the bounded Framer and decode_request (message.hpp: message size, BER nesting,
// filter depth and size, value and list sizes); a message that is not valid BER ends the
// session with a Notice of Disconnection. Before a successful bind only the root DSE,
// StartTLS, Who am I?, bind, abandon and unbind are served: an anonymous search gets
// insufficientAccessRights (50). A simple bind checks the person's address and password
// through SignInService::sign_in (protocol "ldap": per-IP throttling, lockout across
// protocols, failures recorded, expiry and AUP refusals); it is refused without TLS
// (confidentialityRequired) unless ldap.allow_plaintext_bind_on_loopback and the peer is
// on loopback. After a bind every search goes through DirectoryService with the person's
// Principal, so privacy (hidden entries, hidden mobiles) is the core's, never this
// front-end's. Nothing is ever written: add, modify, delete, modify DN and compare are
// answered unwillingToPerform (53). Passwords are never logged.
//
// Per connection: one message of at most 1 MiB buffered (Limits::max_message); one
// request at a time (the next is not read until the current one is answered, so a client
// that pipelines holds no more than a read buffer); abandon of a request already answered
// is ignored (RFC 4511 §4.11); one paged search in progress (a new one replaces it);
// ldap.idle_timeout_seconds without a request closes the connection; five failed binds on
// one connection close it; 20 refused requests in a row close it.
//
// How searches map onto the directory: search.hpp.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "common/config.hpp"
#include "common/result.hpp"
#include "core/sign_in.hpp"
#include "core/directory_service.hpp"
#include "net/listener.hpp"

namespace boost::asio::ssl { class context; }

namespace caremail::ldap {

// What every session of the process shares. Constant after construction.
struct Shared {
  net::Server& server;
  DirectoryService& directory;
  SignInService& auth;
  const Config& config;
  std::shared_ptr<boost::asio::ssl::context> tls;  // nullptr: no StartTLS, no implicit TLS
};

// Adds an LDAP listener to `server`; `implicit_tls` for the ldaps port. Returns the bound
// port.
Result<uint16_t> listen_ldap(std::shared_ptr<Shared> shared, const std::string& name, const Endpoint& ep,
                             bool implicit_tls);

}  // namespace caremail::ldap

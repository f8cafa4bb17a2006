// Pinned MX hosts of require-TLS domains (smtp.require_tls_mx): which mail servers a
// domain's mail may go to, decided from configuration rather than from DNS.
//
// SECURITY: require-TLS checks the server's certificate against the MX name DNS gave; an
// attacker who can answer the DNS query names a server of their own, with a valid
// certificate for that name, and the check passes. A pin closes that: only a host the
// configuration names is used, and its certificate must be valid for that name. It does
// not protect a domain that is not pinned, nor against an attacker who holds a valid
// certificate for a pinned name (MTA-STS and DANE do not either; DANE with DNSSEC adds the
// key). Pure functions, no I/O.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/config.hpp"

namespace caremail::smtp {

// True when `host` (an MX name from DNS, or a relay route's address) matches `pattern`:
// equal ignoring case and one trailing dot, or, for "*.example.org", exactly one label
// followed by ".example.org" (RFC 8461 3.2 and 4.1: a wildcard stands for the leftmost
// label only, so "*.example.org" matches neither "example.org" nor "a.b.example.org").
bool mx_host_matches(std::string_view host, std::string_view pattern);

// The pin for `domain` (the first entry whose domain is the domain itself or, for
// "*.x", x or one of its sub-domains, as smtp.require_tls_domains matches), or nullptr.
// REQUIRES: `pins` outlives the returned pointer.
const Config::Smtp::MxPin* mx_pin_for(std::string_view domain, const std::vector<Config::Smtp::MxPin>& pins);

// True when `host` matches one of the pin's host patterns.
bool mx_pinned(std::string_view host, const Config::Smtp::MxPin& pin);

}  // namespace caremail::smtp

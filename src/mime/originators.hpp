// Who a message says it is from: the addresses of its From, Sender, Resent-From and
// Resent-Sender fields, for the submission check (MailService::may_send_message_as) and
// the MX check against the service's own domains.
//
// SECURITY: the input is a message a client is submitting or a stranger is sending on
// port 25. The strict reading (originators) is what decides whether a signed-in user may
// send a message, so it refuses rather than guesses: every header line must be a field
// (`name *WSP ":"`, RFC 5322 3.6.8 and the obsolete 4.5.3 form), or a continuation line;
// no bare CR and no NUL in the header section; exactly one From field with at least one
// mailbox (groups expanded) and at most one Sender field with exactly one mailbox; every
// address is parsed by GMime (comments, quoted strings, encoded words, obsolete syntax) and
// the number of "@" signs outside quoted strings and comments must equal the number of
// mailboxes GMime found, so text GMime skipped but another reader might take for an address
// is refused. Field names are matched in any case; the body is never looked at.
// The lenient reading (originator_domains) is for mail from outside, which is often
// malformed: it never fails and errs towards finding more domains.
//
// Thread-safety: both functions may be called concurrently; they share only GMime's
// read-only options. Pure apart from mime::init().
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"

namespace caremail::mime {

struct Originators {
  // Addresses as local@domain: the local part unquoted ("a b"@x -> a b@x), the domain in
  // lower case. Never empty on success; in field order.
  std::vector<std::string> from;
  std::vector<std::string> sender;  // zero or one
  // Every mailbox of every Resent-From and Resent-Sender field (a redirected message).
  std::vector<std::string> resent;

  // from, sender and resent together.
  std::vector<std::string> all() const;
};

struct OriginatorLimits {
  // The header section scanned (fields plus the blank line). DataLimits::max_header_bytes
  // already bounds what SMTP accepts; this keeps the function safe on its own (fuzzing).
  size_t max_header_bytes = 1u << 20;
  // Mailboxes in one field. Real From fields hold one; a message "from" hundreds of
  // people is not one a person submits, and each address costs a store look-up.
  size_t max_addresses = 100;
};

// The strict reading; see SECURITY above. Errors: Errc::invalid_argument with a sentence
// for the SMTP reply saying what is wrong ("the message has no From field", "the message
// has 2 From fields", "the From field cannot be read as addresses: ..."). `message` may
// use CRLF or bare LF line ends.
Result<Originators> originators(std::string_view message, const OriginatorLimits& limits = {});

// The lenient reading: the lower-case domain of every "@domain" in any From, Sender,
// Resent-From or Resent-Sender field (every occurrence, any case, WSP before the colon,
// lines that are not fields skipped), as written and as GMime decodes the field (RFC 2047
// encoded words), plus the domains of the mailboxes GMime finds. Sorted, unique.
std::vector<std::string> originator_domains(std::string_view message, const OriginatorLimits& limits = {});

}  // namespace caremail::mime

// The outbound queue: delivers queued messages to other domains over SMTP, retries with
// backoff, and tells the sender what happened (RFC 3464 delivery status notifications).
//
// SECURITY: this talks to servers on the internet. A domain in smtp.require_tls_domains
// is never sent in clear: no STARTTLS, a failed handshake or a certificate that does not
// verify for the host is a temporary failure (and, when the queue time runs out, a failure
// report), never a fallback. The host is the MX name DNS gave, so a spoofed DNS answer
// naming the attacker's server (with a valid certificate for its own name) would pass: a
// domain pinned in smtp.require_tls_mx is sent only to the hosts named there, whose
// certificate must be valid for that name; an MX outside the pin is never connected to
// and the mail waits (smtp/mx_pins.hpp says what this does not cover). Everything the far side says is treated as untrusted text:
// bounded, and quoted in reports, never interpreted.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/clock.hpp"
#include "common/config.hpp"
#include "core/mail_service.hpp"
#include "net/listener.hpp"

namespace boost::asio::ssl { class context; }

namespace caremail::smtp {

// What one attempt at one recipient came to.
struct AttemptResult {
  enum class Kind { delivered, temporary, permanent } kind = Kind::temporary;
  std::string reply;        // the far side's reply ("550 5.1.1 No such user"), or our own explanation
  std::string remote;       // host we talked to
  bool remote_dsn = false;  // the far side took over DSN duties (it advertised DSN)
};

// Kinds of report sent to the sender.
enum class DsnKind { failed, delayed, delivered };

// Builds an RFC 3464 multipart/report. The first part is for a person: which recipient,
// what the far server said, what to do. `original` is the queued message (full or its
// header only, per RET).
std::string build_dsn(DsnKind kind, const OutboundEntry& e, const AttemptResult& last, std::string_view original,
                      const std::string& reporting_host, UnixTime now);

// Sends a report to `sender`: delivered here when the sender's domain is ours, else queued
// with the null reverse path (never bounced). Blocking.
void send_report(MailService& mail, const std::string& sender, const std::string& queue_id, const std::string& dsn);

// True when `domain` matches one of the patterns ("example.org" exactly, "*.example.org"
// for sub-domains and the domain itself).
bool domain_matches(std::string_view domain, const std::vector<std::string>& patterns);

class OutboundQueue {
 public:
  // REQUIRES: all references outlive the queue. `clock` decides which rows are due, when
  // the next attempt is and when a message has waited too long.
  OutboundQueue(net::Server& server, MailService& mail, Store& store, const Config& config, Clock clock = {});
  ~OutboundQueue();

  // Starts the runner on the server's I/O context: it claims due rows every second.
  void start();

 private:
  boost::asio::awaitable<void> run();
  boost::asio::awaitable<void> process(OutboundEntry e);
  boost::asio::awaitable<AttemptResult> attempt(const OutboundEntry& e, const std::string& message);
  void report(DsnKind kind, const OutboundEntry& e, const AttemptResult& last);

  net::Server& server_;
  MailService& mail_;
  Store& store_;
  const Config& config_;
  const Clock clock_;
  std::shared_ptr<boost::asio::ssl::context> tls_;
  int in_flight_ = 0;  // touched on the I/O thread only
};

}  // namespace caremail::smtp

// The end of a message (after the final dot of DATA or BDAT LAST): trace headers, then
// local delivery through MailService, which makes it durable before we answer 250.
//
// Trace fields: Return-Path and Received (RFC 5321 4.4) go into the message, which is
// stored once for every local recipient; Received names the recipient ("for <...>") only
// when there is exactly one. Delivered-To (RFC 9228) is per recipient, so it is not added
// here: MailService::deliver gives each recipient's copy its own, outside the shared blob
// (a Bcc recipient's address must not reach the others). Submission also adds Message-ID
// and Date when the client left them out (RFC 6409 8).
#include <ctime>

#include "common/time_text.hpp"
#include "common/log.hpp"
#include "common/metrics.hpp"
#include "common/cidr.hpp"
#include "crypto/crypto.hpp"
#include "mime/originators.hpp"
#include "smtp/outbound.hpp"
#include "smtp/session.hpp"

namespace caremail::smtp {

namespace {

// True when the header section of `msg` has a field called `name` (case-insensitive;
// whitespace before the colon allowed, as RFC 5322's obsolete syntax does).
bool has_header(std::string_view msg, std::string_view name) {
  size_t pos = 0;
  while (pos < msg.size()) {
    size_t eol = msg.find('\n', pos);
    if (eol == std::string_view::npos) eol = msg.size();
    std::string_view line = msg.substr(pos, eol - pos);
    if (line.empty() || line == "\r") return false;  // end of headers
    size_t colon = line.find(':');
    if (colon != std::string_view::npos && colon >= name.size()) {
      std::string_view field = line.substr(0, colon);
      while (!field.empty() && (field.back() == ' ' || field.back() == '\t')) field.remove_suffix(1);
      bool same = field.size() == name.size();
      for (size_t i = 0; i < name.size() && same; ++i)
        same = std::tolower(static_cast<unsigned char>(field[i])) == std::tolower(static_cast<unsigned char>(name[i]));
      if (same) return true;
    }
    pos = eol + 1;
  }
  return false;
}

// The reply code and text a sender gets for a local recipient that failed: only "unknown"
// or "full", never whether a mailbox is disabled or how full it is (issue 14; the log keeps
// the real reason).
Reply recipient_failure(const Error& e, std::string_view address) {
  switch (e.code) {
    case Errc::not_found:
    case Errc::conflict:  // disabled: said as unknown
      return Reply{550, "5.1.1", "No such user here: " + std::string(address)};
    case Errc::quota_exceeded:
      return Reply{552, "5.2.2", "Mailbox full: " + std::string(address)};
    case Errc::permission_denied:
      return Reply{550, "5.7.1", e.message};
    default:
      return Reply{451, "4.3.0", "Temporary failure delivering the message, try again later"};
  }
}

metrics::Counter& local_sender_refused_total() {
  static auto& c = metrics::counter("caremail_smtp_local_sender_refused_total",
                                    "Port 25 messages refused for claiming a domain of this service as sender");
  return c;
}

metrics::Counter& accepted_total() {
  static auto& c = metrics::counter("caremail_smtp_messages_accepted_total", "Messages accepted by SMTP");
  return c;
}
metrics::Histogram& delivery_seconds() {
  static auto& h = metrics::histogram("caremail_smtp_delivery_seconds", "Time from final dot to durable delivery");
  return h;
}

}  // namespace

bool from_trusted_relay(const Session& s) {
  if (s.mode() != Mode::mx) return false;
  for (const auto& net : s.config().smtp.trusted_relays)
    if (address_in_network(s.peer().address, net)) return true;
  return false;
}

void count_local_sender_refused() { local_sender_refused_total().inc(); }

namespace {

// Failure reports (RFC 3464) to the sender for local recipients that failed after DATA, and
// for remote ones that could not be queued, unless the sender asked for none.
boost::asio::awaitable<void> report_failures(Session& s, const std::vector<std::pair<std::string, Reply>>& failed,
                                             const std::shared_ptr<const ReceivedMessage>& msg) {
  Transaction& t = s.txn();
  if (failed.empty() || t.from.address().empty()) co_return;
  std::vector<OutboundEntry> bounced;
  for (const auto& [address, reply] : failed) {
    const Recipient* rc = nullptr;
    for (const auto& x : t.rcpts)
      if (x.address == address) rc = &x;
    const Notify n = rc ? rc->params.notify : Notify{};
    if (n.given && (n.never || !n.failure)) continue;
    OutboundEntry e;
    e.queue_id = t.queue_id;
    e.sender = t.from.address();
    e.recipient = address;
    if (rc && rc->params.orcpt) e.orcpt = rc->params.orcpt->address;
    if (t.params.envid) e.envid = *t.params.envid;
    e.ret_headers_only = t.params.ret == Ret::hdrs;
    e.last_error = std::to_string(reply.code) + " " + reply.enhanced + " " + reply.text;
    e.created_at = s.shared().clock.now();
    bounced.push_back(std::move(e));
  }
  if (bounced.empty()) co_return;
  auto bounce = [&mail = s.shared().mail, clock = s.shared().clock, bounced, msg, host = s.config().server.hostname]() {
    for (const auto& e : bounced) {
      AttemptResult last;
      last.kind = AttemptResult::Kind::permanent;
      last.reply = e.last_error;
      last.remote = host;
      send_report(mail, e.sender, e.queue_id, build_dsn(DsnKind::failed, e, last, msg->view(), host, clock.now()));
      log::info("smtp.report", {{"queue_id", e.queue_id}, {"kind", "failed"}, {"to", e.sender}, {"rcpt", e.recipient}});
    }
    return true;
  };
  co_await s.shared().server.blocking(std::move(bounce));
}

}  // namespace

boost::asio::awaitable<void> finish_message(Session& s, std::optional<ReceivedMessage> received) {
  Transaction& t = s.txn();
  if (!received) {
    log::warn("smtp.spool_failed", {{"session", s.peer().id}, {"queue_id", t.queue_id}});
    s.reply(452, "4.3.1", "Insufficient system storage for the message, try again later");
    s.reset_transaction();
    co_return;
  }
  ReceivedMessage message = std::move(*received);
  const auto& cfg = s.config();
  auto start = std::chrono::steady_clock::now();
  std::time_t now = s.shared().clock.now();

  std::string with = s.esmtp ? "ESMTP" : "SMTP";
  if (s.stream().is_tls()) with += "S";
  if (s.user) with += "A";
  std::string trace;
  trace += "Return-Path: <" + t.from.address() + ">\r\n";
  trace += "Received: from " + s.helo + " ([" + s.peer().address + "])\r\n\tby " + cfg.server.hostname +
           " (Caremail) with " + with + " id " + t.queue_id;
  if (s.stream().is_tls()) trace += "\r\n\t(using " + s.stream().tls_version() + " with cipher " + s.stream().tls_cipher() + ")";
  if (t.rcpts.size() == 1) trace += "\r\n\tfor <" + t.rcpts.front().address + ">";
  trace += ";\r\n\t" + rfc5322_date(now) + "\r\n";
  if (s.mode() != Mode::mx) {
    if (!has_header(message.view(), "Message-ID"))
      trace += "Message-ID: <" + crypto::random_token(16) + "@" + cfg.server.hostname + ">\r\n";
    if (!has_header(message.view(), "Date")) trace += "Date: " + rfc5322_date(now) + "\r\n";
  }
  if (s.user) {
    // Submission: every address the message claims to be from (From, groups included,
    // Sender, Resent-*) must be one the user may send as, like the envelope (an
    // application account's is its own address); a header that cannot be read that way is
    // refused, not waved through. Then the message counts against the hourly limits.
    auto check = [&mail = s.shared().mail, by = *s.user, &message, n = t.rcpts.size()]() -> Status {
      if (Status st = mail.may_send_message_as(by, message.view()); !st) return st;
      return mail.record_submission(by, n);
    };
    Status allowed = co_await s.shared().server.blocking(std::move(check));
    if (!allowed) {
      log::info("smtp.submission_refused", {{"session", s.peer().id}, {"queue_id", t.queue_id},
                                            {"reason", allowed.error().message}});
      if (allowed.error().code == Errc::invalid_argument)
        s.reply(550, "5.7.1", "Message refused: " + allowed.error().message);
      else
        s.reply(550, "5.7.1", allowed.error().message);
      s.reset_transaction();
      co_return;
    }
  } else if (s.mode() == Mode::mx && !from_trusted_relay(s)) {
    // Port 25: a message whose From or Sender names one of the service's domains is a
    // forgery until proved otherwise (our people use the submission port). Read leniently:
    // any "@domain" a mail client might show counts, however malformed the field.
    auto hosted = [&mail = s.shared().mail, &message]() -> std::string {
      for (const auto& d : mime::originator_domains(message.view()))
        if (mail.is_local_domain(d)) return d;
      return {};
    };
    std::string domain = co_await s.shared().server.blocking(std::move(hosted));
    if (!domain.empty()) {
      count_local_sender_refused();
      log::warn("smtp.local_sender_refused", {{"session", s.peer().id}, {"queue_id", t.queue_id},
                                              {"peer", s.peer().address}, {"from", t.from.address()},
                                              {"domain", domain}, {"where", "header"}});
      s.reply(550, "5.7.1", "The message claims to be from " + domain +
                                ", a domain of this service: sign in and send through the submission port");
      s.reset_transaction();
      co_return;
    }
  }
  message.prepend(trace);
  if (message.size() > cfg.quota.max_message_bytes) {
    s.reply(552, "5.3.4", "Message size exceeds the limit of " + std::to_string(cfg.quota.max_message_bytes) + " bytes");
    s.reset_transaction();
    co_return;
  }

  const uint64_t size = message.size();
  std::vector<std::string> rcpts;
  std::vector<NewOutbound> remote;
  for (const auto& r : t.rcpts) {
    if (r.local) {
      rcpts.push_back(r.address);  // as the sender gave it: each copy's Delivered-To
      continue;
    }
    NewOutbound o;
    o.queue_id = t.queue_id;
    o.sender = t.from.address();
    o.recipient = r.address;
    const auto& n = r.params.notify;
    if (n.given) {
      o.notify = 0;
      if (n.never) o.notify |= kNotifyNever;
      if (n.success) o.notify |= kNotifySuccess;
      if (n.failure) o.notify |= kNotifyFailure;
      if (n.delay) o.notify |= kNotifyDelay;
    }
    if (r.params.orcpt) o.orcpt = r.params.orcpt->address;
    if (t.params.envid) o.envid = *t.params.envid;
    o.ret_headers_only = t.params.ret == Ret::hdrs;
    remote.push_back(std::move(o));
  }
  // Shared with the jobs, and kept for a failure report should a recipient fail now.
  auto msg = std::make_shared<const ReceivedMessage>(std::move(message));

  // Local recipients first, remote ones after: a failure that makes us answer 4xx must
  // come before anything is queued, or the sender's retry would send the remote copies
  // twice. Once a copy is stored or queued, the answer is 250 (RFC 5321: the message is
  // ours) and what failed later gets a failure report.
  std::vector<std::pair<std::string, Reply>> failed;  // (recipient, why), for the report
  size_t delivered = 0;
  std::string blob;
  if (!rcpts.empty()) {
    // The envelope: distribution lists among the recipients queue their outside members'
    // copies with the original sender and this transaction's id.
    auto job = [&mail = s.shared().mail, rcpts, msg, env = Envelope{t.from.address(), t.queue_id}]() {
      return mail.deliver(Principal::service(), rcpts, msg->view(), 0, env, msg->source());
    };
    auto report = co_await s.shared().server.blocking(std::move(job));
    if (!report) {
      const Error& e = report.error();
      log::warn("smtp.delivery_failed", {{"session", s.peer().id}, {"queue_id", t.queue_id}, {"error", e.message}});
      switch (e.code) {
        case Errc::too_large: s.reply(552, "5.3.4", e.message); break;
        case Errc::temporary: s.reply(451, "4.3.0", "Temporary failure storing the message, try again later"); break;
        default: s.reply(451, "4.3.0", "Local error in processing, try again later"); break;
      }
      s.reset_transaction();
      co_return;
    }
    blob = report->blob_id;
    delivered = report->delivered();
    const Error* first_error = nullptr;
    for (const auto& r : report->recipients) {
      if (!r.error) continue;
      if (!first_error) first_error = &*r.error;
      log::warn("smtp.recipient_failed", {{"queue_id", t.queue_id}, {"to", r.address}, {"error", r.error->message}});
      failed.emplace_back(r.address, recipient_failure(*r.error, r.address));
    }
    if (delivered == 0 && first_error && remote.empty()) {
      // Nothing stored anywhere: the whole transaction fails, and the sender may retry.
      delivery_seconds().observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
      s.reply(recipient_failure(*first_error, failed.front().first));
      s.reset_transaction();
      co_return;
    }
  }
  if (!remote.empty()) {
    auto queue = [&mail = s.shared().mail, remote, msg]() {
      return mail.enqueue_remote(Principal::service(), remote, msg->view(), msg->source());
    };
    auto queued = co_await s.shared().server.blocking(std::move(queue));
    if (!queued) {
      log::warn("smtp.queue_failed", {{"session", s.peer().id}, {"queue_id", t.queue_id}, {"error", queued.error().message}});
      if (delivered == 0) {
        s.reply(451, "4.3.0", "Temporary failure queueing the message, try again later");
        s.reset_transaction();
        co_return;
      }
      // Local copies are stored: a 4xx now would make the sender's retry deliver them twice.
      for (const auto& o : remote)
        failed.emplace_back(o.recipient, Reply{451, "4.3.0", "The message could not be queued for this recipient"});
    } else {
      log::info("smtp.queued", {{"session", s.peer().id}, {"queue_id", t.queue_id}, {"recipients", remote.size()},
                                {"size", size}});
    }
  }
  delivery_seconds().observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  log::info("smtp.delivered", {{"session", s.peer().id},
                               {"queue_id", t.queue_id},
                               {"from", t.from.address()},
                               {"recipients", t.rcpts.size()},
                               {"failed", failed.size()},
                               {"blob", blob},
                               {"size", size}});
  accepted_total().inc();
  s.reply(250, "2.0.0", "Ok: queued as " + t.queue_id);
  // Recipients that failed between RCPT and now (a mailbox filled up meanwhile): the
  // message is accepted for the others, so these get a failure report (RFC 3461/3464)
  // unless the sender asked for none or there is no one to tell.
  co_await report_failures(s, failed, msg);
  s.reset_transaction();
}

}  // namespace caremail::smtp

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
#include "crypto/crypto.hpp"
#include "smtp/outbound.hpp"
#include "smtp/session.hpp"

namespace caremail::smtp {

namespace {

// True when the header section of `msg` has a field called `name` (case-insensitive).
bool has_header(std::string_view msg, std::string_view name) {
  size_t pos = 0;
  while (pos < msg.size()) {
    size_t eol = msg.find('\n', pos);
    if (eol == std::string_view::npos) eol = msg.size();
    std::string_view line = msg.substr(pos, eol - pos);
    if (line.empty() || line == "\r") return false;  // end of headers
    if (line.size() > name.size() && line[name.size()] == ':') {
      bool same = true;
      for (size_t i = 0; i < name.size() && same; ++i)
        same = std::tolower(static_cast<unsigned char>(line[i])) == std::tolower(static_cast<unsigned char>(name[i]));
      if (same) return true;
    }
    pos = eol + 1;
  }
  return false;
}

// The address in the first `name:` header ("Jo <jo@x>" or "jo@x"); "" when absent.
std::string header_address(std::string_view msg, std::string_view name) {
  size_t pos = 0;
  while (pos < msg.size()) {
    size_t eol = msg.find('\n', pos);
    if (eol == std::string_view::npos) eol = msg.size();
    std::string_view line = msg.substr(pos, eol - pos);
    if (line.empty() || line == "\r") return {};
    if (line.size() > name.size() && line[name.size()] == ':') {
      bool same = true;
      for (size_t i = 0; i < name.size() && same; ++i)
        same = std::tolower(static_cast<unsigned char>(line[i])) == std::tolower(static_cast<unsigned char>(name[i]));
      if (same) {
        // Unfold continuation lines.
        std::string value(line.substr(name.size() + 1));
        size_t next = eol + 1;
        while (next < msg.size() && (msg[next] == ' ' || msg[next] == '\t')) {
          size_t e2 = msg.find('\n', next);
          if (e2 == std::string_view::npos) e2 = msg.size();
          value += " ";
          value += msg.substr(next, e2 - next);
          next = e2 + 1;
        }
        auto lt = value.rfind('<');
        auto gt = value.rfind('>');
        std::string addr = (lt != std::string::npos && gt != std::string::npos && gt > lt)
                               ? value.substr(lt + 1, gt - lt - 1)
                               : value;
        auto b = addr.find_first_not_of(" \t\r");
        auto e = addr.find_last_not_of(" \t\r");
        return b == std::string::npos ? std::string() : addr.substr(b, e - b + 1);
      }
    }
    pos = eol + 1;
  }
  return {};
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

boost::asio::awaitable<void> finish_message(Session& s, std::string message) {
  Transaction& t = s.txn();
  const auto& cfg = s.config();
  auto start = std::chrono::steady_clock::now();
  std::time_t now = std::time(nullptr);

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
    if (!has_header(message, "Message-ID"))
      trace += "Message-ID: <" + crypto::random_token(16) + "@" + cfg.server.hostname + ">\r\n";
    if (!has_header(message, "Date")) trace += "Date: " + rfc5322_date(now) + "\r\n";
  }
  if (s.user) {
    // Submission: the From header must be an address the user may send as, like the
    // envelope (an application account's From is its own address), and the message counts
    // against the hourly sending limits.
    std::string from = header_address(message, "From");
    auto check = [&mail = s.shared().mail, by = *s.user, from, n = t.rcpts.size()]() -> Status {
      if (!from.empty())
        if (Status st = mail.may_send_as(by, from); !st) return st;
      return mail.record_submission(by, n);
    };
    Status allowed = co_await s.shared().server.blocking(std::move(check));
    if (!allowed) {
      log::info("smtp.submission_refused", {{"session", s.peer().id}, {"queue_id", t.queue_id},
                                            {"reason", allowed.error().message}});
      s.reply(550, "5.7.1", allowed.error().message);
      s.reset_transaction();
      co_return;
    }
  }
  message.insert(0, trace);
  if (message.size() > cfg.quota.max_message_bytes) {
    s.reply(552, "5.3.4", "Message size exceeds the limit of " + std::to_string(cfg.quota.max_message_bytes) + " bytes");
    s.reset_transaction();
    co_return;
  }

  const uint64_t size = message.size();
  std::vector<std::string> rcpts;
  std::vector<NewOutbound> remote;
  for (const auto& r : t.rcpts) {
    if (r.account_id != 0) {
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
  if (!remote.empty()) {
    auto queue = [&mail = s.shared().mail, remote, &message]() {
      return mail.enqueue_remote(Principal::service(), remote, message);
    };
    auto queued = co_await s.shared().server.blocking(std::move(queue));
    if (!queued) {
      log::warn("smtp.queue_failed", {{"session", s.peer().id}, {"queue_id", t.queue_id}, {"error", queued.error().message}});
      s.reply(451, "4.3.0", "Temporary failure queueing the message, try again later");
      s.reset_transaction();
      co_return;
    }
    log::info("smtp.queued", {{"session", s.peer().id}, {"queue_id", t.queue_id}, {"recipients", remote.size()},
                              {"size", size}});
    if (rcpts.empty()) {
      accepted_total().inc();
      s.reply(250, "2.0.0", "Ok: queued as " + t.queue_id);
      s.reset_transaction();
      co_return;
    }
  }
  // Shared with the job, and kept for a failure report should a recipient fail now.
  auto msg = std::make_shared<const std::string>(std::move(message));
  // The envelope: distribution lists among the recipients queue their outside members'
  // copies with the original sender and this transaction's id.
  auto job = [&mail = s.shared().mail, rcpts, msg, env = Envelope{t.from.address(), t.queue_id}]() {
    return mail.deliver(Principal::service(), rcpts, *msg, 0, env);
  };
  auto report = co_await s.shared().server.blocking(std::move(job));
  delivery_seconds().observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());

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
  size_t failed = 0;
  const Error* first_error = nullptr;
  for (const auto& r : report->recipients) {
    if (!r.error) continue;
    ++failed;
    if (!first_error) first_error = &*r.error;
    log::warn("smtp.recipient_failed", {{"queue_id", t.queue_id}, {"to", r.address}, {"error", r.error->message}});
  }
  log::info("smtp.delivered", {{"session", s.peer().id},
                               {"queue_id", t.queue_id},
                               {"from", t.from.address()},
                               {"recipients", report->recipients.size()},
                               {"failed", failed},
                               {"blob", report->blob_id},
                               {"size", size}});
  if (report->delivered() == 0 && first_error && remote.empty()) {
    if (first_error->code == Errc::quota_exceeded) s.reply(552, "5.2.2", first_error->message);
    else if (first_error->code == Errc::not_found) s.reply(550, "5.1.1", first_error->message);
    else s.reply(451, "4.3.0", "Temporary failure delivering the message, try again later");
  } else {
    accepted_total().inc();
    s.reply(250, "2.0.0", "Ok: queued as " + t.queue_id);
    // Recipients that failed between RCPT and now (a mailbox filled up meanwhile): the
    // message is accepted for the others, so these get a failure report (RFC 3461/3464)
    // unless the sender asked for none or there is no one to tell.
    if (failed > 0 && !t.from.address().empty()) {
      std::vector<OutboundEntry> bounced;
      for (const auto& r : report->recipients) {
        if (!r.error) continue;
        const Recipient* rc = nullptr;
        for (const auto& x : t.rcpts)
          if (x.address == r.address) rc = &x;
        const Notify n = rc ? rc->params.notify : Notify{};
        if (n.given && (n.never || !n.failure)) continue;
        OutboundEntry e;
        e.queue_id = t.queue_id;
        e.sender = t.from.address();
        e.recipient = r.address;
        if (rc && rc->params.orcpt) e.orcpt = rc->params.orcpt->address;
        if (t.params.envid) e.envid = *t.params.envid;
        e.ret_headers_only = t.params.ret == Ret::hdrs;
        e.last_error = (r.error->code == Errc::not_found ? "550 5.1.1 " : r.error->code == Errc::quota_exceeded
                                                                        ? "552 5.2.2 "
                                                                        : "554 5.3.0 ") +
                       r.error->message;
        e.created_at = std::time(nullptr);
        bounced.push_back(std::move(e));
      }
      if (!bounced.empty()) {
        auto bounce = [&mail = s.shared().mail, bounced, msg, host = cfg.server.hostname]() {
          for (const auto& e : bounced) {
            AttemptResult last;
            last.kind = AttemptResult::Kind::permanent;
            last.reply = e.last_error;
            last.remote = host;
            send_report(mail, e.sender, e.queue_id, build_dsn(DsnKind::failed, e, last, *msg, host, std::time(nullptr)));
            log::info("smtp.report", {{"queue_id", e.queue_id}, {"kind", "failed"}, {"to", e.sender}, {"rcpt", e.recipient}});
          }
          return true;
        };
        co_await s.shared().server.blocking(std::move(bounce));
      }
    }
  }
  s.reset_transaction();
}

}  // namespace caremail::smtp

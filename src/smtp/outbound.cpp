#include "smtp/outbound.hpp"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <resolv.h>

#include <algorithm>
#include <ctime>

#include <boost/asio/ssl.hpp>

#include "common/time_text.hpp"
#include "common/log.hpp"
#include "common/metrics.hpp"
#include "crypto/crypto.hpp"
#include "net/deadline.hpp"
#include "net/proto_stream.hpp"
#include "smtp/command.hpp"
#include "smtp/mx_pins.hpp"

namespace caremail::smtp {

namespace asio = boost::asio;

namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// The far side's reply, made safe to quote: one line, printable ASCII, bounded.
std::string sanitize(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (out.size() >= 400) break;
    out.push_back(c >= 0x20 && c < 0x7f ? static_cast<char>(c) : ' ');
  }
  return out;
}

metrics::Counter& sent_total() {
  static auto& c = metrics::counter("caremail_outbound_delivered_total", "Outbound recipients delivered");
  return c;
}
metrics::Counter& deferred_total() {
  static auto& c = metrics::counter("caremail_outbound_deferred_total", "Outbound attempts deferred");
  return c;
}
metrics::Counter& bounced_total() {
  static auto& c = metrics::counter("caremail_outbound_bounced_total", "Outbound recipients that failed");
  return c;
}

struct Target {
  std::string host;  // for TLS verification and logs
  std::string address;
  uint16_t port = 25;
};

// MX hosts of `domain`, best first; the domain itself when it has none (RFC 5321 5.1).
// `servers`: smtp.dns_servers (empty: the system's resolver).
// Blocking (libresolv): call on the worker pool.
std::vector<std::string> mx_hosts(const std::string& domain, const std::vector<std::string>& servers) {
  unsigned char answer[4096];
  struct __res_state st{};
  std::vector<std::pair<int, std::string>> mx;
  if (res_ninit(&st) == 0) {
    if (!servers.empty()) {
      // smtp.dns_servers replace the system's (validated at load: IPv4, optional port).
      int n = 0;
      for (const auto& ns : servers) {
        if (n == MAXNS) break;
        auto ep = parse_endpoint(ns.find(':') == std::string::npos ? ns + ":53" : ns);
        if (!ep) continue;
        sockaddr_in sa{};
        sa.sin_family = AF_INET;
        sa.sin_port = htons(ep->port);
        if (inet_pton(AF_INET, ep->host.c_str(), &sa.sin_addr) != 1) continue;
        st.nsaddr_list[n++] = sa;
      }
      st.nscount = n;
    }
    int len = res_nquery(&st, domain.c_str(), ns_c_in, ns_t_mx, answer, sizeof answer);
    ns_msg msg;
    if (len > 0 && ns_initparse(answer, len, &msg) == 0) {
      for (int i = 0; i < ns_msg_count(msg, ns_s_an); ++i) {
        ns_rr rr;
        if (ns_parserr(&msg, ns_s_an, i, &rr) != 0 || ns_rr_type(rr) != ns_t_mx) continue;
        const unsigned char* rd = ns_rr_rdata(rr);
        int pref = ns_get16(rd);
        char name[NS_MAXDNAME];
        if (ns_name_uncompress(ns_msg_base(msg), ns_msg_end(msg), rd + 2, name, sizeof name) < 0) continue;
        mx.emplace_back(pref, name);
      }
    }
    res_nclose(&st);
  }
  std::sort(mx.begin(), mx.end());
  std::vector<std::string> out;
  for (auto& [p, n] : mx) out.push_back(n);
  if (out.empty()) out.push_back(domain);
  return out;
}

std::string notify_text(uint32_t n) {
  if (n & kNotifyNever) return "NEVER";
  std::string s;
  if (n & kNotifySuccess) s += "SUCCESS";
  if (n & kNotifyFailure) s += std::string(s.empty() ? "" : ",") + "FAILURE";
  if (n & kNotifyDelay) s += std::string(s.empty() ? "" : ",") + "DELAY";
  return s;
}

}  // namespace

bool domain_matches(std::string_view domain, const std::vector<std::string>& patterns) {
  std::string d = lower(std::string(domain));
  for (const auto& p0 : patterns) {
    std::string p = lower(p0);
    if (p.rfind("*.", 0) == 0) {
      std::string base = p.substr(2);
      if (d == base || (d.size() > base.size() && d.compare(d.size() - base.size(), base.size(), base) == 0 &&
                        d[d.size() - base.size() - 1] == '.'))
        return true;
    } else if (d == p) {
      return true;
    }
  }
  return false;
}

std::string build_dsn(DsnKind kind, const OutboundEntry& e, const AttemptResult& last, std::string_view original,
                      const std::string& reporting_host, UnixTime now) {
  std::string boundary = "=_caremail_" + crypto::random_token(12);
  std::string action, status, subject, human;
  std::string far = last.reply.empty() ? std::string("(no reply)") : sanitize(last.reply);
  // Status code: the far side's enhanced code when it gave one, else a generic one.
  std::string enhanced;
  if (far.size() > 6 && far[4] >= '2' && far[4] <= '5' && far[5] == '.') {
    auto sp = far.find(' ', 4);
    enhanced = far.substr(4, sp == std::string::npos ? std::string::npos : sp - 4);
  }
  switch (kind) {
    case DsnKind::failed:
      action = "failed";
      status = enhanced.empty() || enhanced[0] != '5' ? "5.0.0" : enhanced;
      subject = "Undelivered: your message to " + e.recipient + " could not be delivered";
      human = "Your message could not be delivered to " + e.recipient + ".\r\n\r\n" +
              (last.remote.empty() ? std::string("We could not reach the recipient's mail server.")
                                   : "The recipient's mail server (" + last.remote + ") said:") +
              "\r\n\r\n    " + far + "\r\n\r\nWhat to do: check the address for mistakes. If it is right, the "
              "recipient's organisation may be refusing the message; contact them another way, or ask your "
              "local administrator for help. Your message is attached below.\r\n";
      break;
    case DsnKind::delayed:
      action = "delayed";
      status = enhanced.empty() || enhanced[0] != '4' ? "4.0.0" : enhanced;
      subject = "Delayed: your message to " + e.recipient + " has not been delivered yet";
      human = "Your message to " + e.recipient + " has not been delivered yet. We are still trying and will "
              "keep trying for up to 5 days; you do not need to send it again.\r\n\r\nThe last attempt "
              "failed with:\r\n\r\n    " + far + "\r\n";
      break;
    case DsnKind::delivered:
      action = last.remote_dsn ? "relayed" : "delivered";
      status = "2.0.0";
      subject = "Delivered: your message to " + e.recipient;
      human = "Your message was delivered to " + e.recipient + "'s mail server (" + last.remote + "):\r\n\r\n    " +
              far + "\r\n";
      break;
  }
  std::string m;
  m += "From: Mail Delivery System <MAILER-DAEMON@" + reporting_host + ">\r\n";
  m += "To: <" + e.sender + ">\r\n";
  m += "Subject: " + subject + "\r\n";
  m += "Date: " + rfc5322_date(now) + "\r\n";
  m += "Message-ID: <" + crypto::random_token(16) + "@" + reporting_host + ">\r\n";
  m += "Auto-Submitted: auto-replied\r\n";
  m += "MIME-Version: 1.0\r\n";
  m += "Content-Type: multipart/report; report-type=delivery-status; boundary=\"" + boundary + "\"\r\n\r\n";
  m += "This is a delivery status notification (RFC 3464).\r\n\r\n";
  m += "--" + boundary + "\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + human + "\r\n";
  m += "--" + boundary + "\r\nContent-Type: message/delivery-status\r\n\r\n";
  m += "Reporting-MTA: dns; " + reporting_host + "\r\n";
  if (!e.envid.empty()) m += "Original-Envelope-Id: " + sanitize(e.envid) + "\r\n";
  m += "Arrival-Date: " + rfc5322_date(e.created_at) + "\r\n\r\n";
  if (!e.orcpt.empty()) m += "Original-Recipient: " + sanitize(e.orcpt) + "\r\n";
  m += "Final-Recipient: rfc822; " + e.recipient + "\r\n";
  m += "Action: " + action + "\r\n";
  m += "Status: " + status + "\r\n";
  if (!last.remote.empty()) m += "Remote-MTA: dns; " + last.remote + "\r\n";
  if (!last.reply.empty()) m += "Diagnostic-Code: smtp; " + far + "\r\n";
  m += "Last-Attempt-Date: " + rfc5322_date(now) + "\r\n";
  if (kind == DsnKind::delayed) m += "Will-Retry-Until: " + rfc5322_date(e.created_at + 5 * 24 * 3600) + "\r\n";
  m += "\r\n";
  bool headers_only = e.ret_headers_only || kind != DsnKind::failed;
  if (headers_only) {
    auto end = original.find("\r\n\r\n");
    m += "--" + boundary + "\r\nContent-Type: text/rfc822-headers\r\n\r\n";
    m += std::string(original.substr(0, end == std::string_view::npos ? original.size() : end + 2));
  } else {
    m += "--" + boundary + "\r\nContent-Type: message/rfc822\r\n\r\n";
    m += std::string(original);
    if (!original.empty() && original.back() != '\n') m += "\r\n";
  }
  m += "\r\n--" + boundary + "--\r\n";
  return m;
}

OutboundQueue::OutboundQueue(net::Server& server, MailService& mail, Store& store, const Config& config,
                             Clock clock)
    : server_(server), mail_(mail), store_(store), config_(config), clock_(std::move(clock)) {
  tls_ = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
  SSL_CTX_set_min_proto_version(tls_->native_handle(), TLS1_2_VERSION);
  boost::system::error_code ec;
  tls_->set_default_verify_paths(ec);
  if (!config.smtp.outbound_ca_file.empty()) {
    tls_->load_verify_file(config.smtp.outbound_ca_file.string(), ec);
    if (ec)
      log::error("outbound.ca_file", {{"file", config.smtp.outbound_ca_file.string()}, {"error", ec.message()}});
  }
}

OutboundQueue::~OutboundQueue() = default;

void OutboundQueue::start() {
  asio::co_spawn(server_.io(), run(), [](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      log::error("outbound.runner_failed", {{"error", ex.what()}});
    }
  });
}

asio::awaitable<void> OutboundQueue::run() {
  asio::steady_timer timer(server_.io());
  for (;;) {
    int room = config_.smtp.outbound_concurrency - in_flight_;
    if (room > 0) {
      auto claim = [this, room] {
        return store_.claim_due(clock_.now(), static_cast<size_t>(room), 600);
      };
      auto due = co_await server_.blocking(std::move(claim));
      if (!due) {
        log::warn("outbound.claim_failed", {{"error", due.error().message}});
      } else {
        for (auto& e : *due) {
          ++in_flight_;
          asio::co_spawn(server_.io(), process(std::move(e)), [this](std::exception_ptr ex) {
            --in_flight_;
            if (!ex) return;
            try {
              std::rethrow_exception(ex);
            } catch (const std::exception& err) {
              log::error("outbound.attempt_failed", {{"error", err.what()}});
            }
          });
        }
      }
    }
    timer.expires_after(std::chrono::seconds(1));
    auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    if (ec) co_return;
  }
}

void send_report(MailService& mail, const std::string& sender, const std::string& queue_id, const std::string& dsn) {
  auto at = sender.rfind('@');
  std::string domain = at == std::string::npos ? "" : sender.substr(at + 1);
  if (mail.is_local_domain(domain)) {
    std::vector<std::string> to{sender};
    auto r = mail.deliver(Principal::service(), to, dsn);
    if (!r || r->delivered() == 0) log::warn("outbound.report_failed", {{"queue_id", queue_id}, {"to", sender}});
  } else {
    NewOutbound back;
    back.queue_id = queue_id;
    back.sender = "";  // reports travel with the null reverse path
    back.recipient = sender;
    back.notify = kNotifyNever;
    auto r = mail.enqueue_remote(Principal::service(), std::span<const NewOutbound>(&back, 1), dsn);
    if (!r) log::warn("outbound.report_failed", {{"queue_id", queue_id}, {"to", sender}, {"error", r.error().message}});
  }
}

void OutboundQueue::report(DsnKind kind, const OutboundEntry& e, const AttemptResult& last) {
  if (e.sender.empty()) {
    log::info("outbound.no_report", {{"queue_id", e.queue_id}, {"reason", "null sender (never bounce a bounce)"}});
    return;
  }
  auto original = mail_.read_blob(Principal::service(), e.blob_id);
  std::string dsn = build_dsn(kind, e, last, original ? std::string_view(*original) : std::string_view(),
                              config_.server.hostname, clock_.now());
  send_report(mail_, e.sender, e.queue_id, dsn);
  log::info("outbound.report", {{"queue_id", e.queue_id},
                                {"kind", kind == DsnKind::failed ? "failed" : kind == DsnKind::delayed ? "delayed" : "delivered"},
                                {"to", e.sender}});
}

asio::awaitable<void> OutboundQueue::process(OutboundEntry e) {
  auto load = [this, id = e.blob_id] { return mail_.read_blob(Principal::service(), id); };
  auto message = co_await server_.blocking(std::move(load));
  AttemptResult r;
  if (!message) {
    r.kind = AttemptResult::Kind::temporary;
    r.reply = "local error reading the queued message: " + message.error().message;
  } else {
    r = co_await attempt(e, *message);
  }
  UnixTime now = clock_.now();
  int attempts = e.attempts + 1;
  const auto& cfg = config_.smtp;
  auto finish = [&](std::optional<DsnKind> dsn) {
    auto job = [this, e, r, dsn] {
      if (dsn) report(*dsn, e, r);
      return store_.complete_outbound(e.id);
    };
    return job;
  };
  if (r.kind == AttemptResult::Kind::delivered) {
    sent_total().inc();
    log::info("outbound.delivered", {{"queue_id", e.queue_id}, {"to", e.recipient}, {"remote", r.remote},
                                     {"reply", sanitize(r.reply)}, {"attempts", attempts}});
    bool want = (e.notify & kNotifySuccess) && !r.remote_dsn;
    auto job = finish(want ? std::optional(DsnKind::delivered) : std::nullopt);
    Status s = co_await server_.blocking(std::move(job));
    if (!s) log::error("outbound.complete_failed", {{"queue_id", e.queue_id}, {"error", s.error().message}});
    co_return;
  }
  bool expired = now - e.created_at >= cfg.max_queue_seconds;
  if (r.kind == AttemptResult::Kind::permanent || expired) {
    bounced_total().inc();
    log::info("outbound.failed", {{"queue_id", e.queue_id}, {"to", e.recipient}, {"remote", r.remote},
                                  {"reply", sanitize(r.reply)}, {"expired", expired ? "yes" : "no"}});
    bool want = !(e.notify & kNotifyNever) && (e.notify & kNotifyFailure);
    if (expired && r.kind != AttemptResult::Kind::permanent)
      r.reply = "gave up after " + std::to_string(attempts) + " attempts over " + std::to_string(cfg.max_queue_seconds / 3600) +
                " hours; last: " + r.reply;
    auto job = finish(want ? std::optional(DsnKind::failed) : std::nullopt);
    Status s = co_await server_.blocking(std::move(job));
    if (!s) log::error("outbound.complete_failed", {{"queue_id", e.queue_id}, {"error", s.error().message}});
    co_return;
  }
  deferred_total().inc();
  const auto& sched = cfg.retry_schedule_seconds;
  int wait = sched[std::min<size_t>(static_cast<size_t>(e.attempts), sched.size() - 1)];
  bool notify_delay = !e.delay_notified && (e.notify & kNotifyDelay) && !(e.notify & kNotifyNever) &&
                      now - e.created_at >= cfg.delay_notice_seconds;
  log::info("outbound.deferred", {{"queue_id", e.queue_id}, {"to", e.recipient}, {"remote", r.remote},
                                  {"reply", sanitize(r.reply)}, {"retry_in", wait}});
  auto job = [this, e, r, notify_delay, now, wait, attempts] {
    if (notify_delay) report(DsnKind::delayed, e, r);
    return store_.reschedule(e.id, now + wait, attempts, sanitize(r.reply), e.delay_notified || notify_delay);
  };
  Status s = co_await server_.blocking(std::move(job));
  if (!s) log::error("outbound.reschedule_failed", {{"queue_id", e.queue_id}, {"error", s.error().message}});
}

asio::awaitable<AttemptResult> OutboundQueue::attempt(const OutboundEntry& e, const std::string& message) {
  using Kind = AttemptResult::Kind;
  const auto& cfg = config_.smtp;
  AttemptResult res;
  // A pinned domain (smtp.require_tls_mx) goes only to the hosts the configuration names,
  // whatever DNS or a route says; the others are never connected to (mx_pins.hpp).
  const Config::Smtp::MxPin* pin = mx_pin_for(e.domain, cfg.require_tls_mx);
  std::vector<std::string> unpinned;
  // Where to go: a static route, or the domain's MX hosts.
  std::vector<Target> targets;
  bool routed = false;
  for (const auto& route : cfg.relay_routes) {
    auto eq = route.find('=');
    std::string dom = route.substr(0, eq);
    if (dom == "*" || domain_matches(e.domain, {dom})) {
      routed = true;
      auto ep = parse_endpoint(route.substr(eq + 1));
      if (ep && pin && !mx_pinned(ep->host, *pin)) unpinned.push_back(ep->host);
      else if (ep) targets.push_back({ep->host, ep->host, ep->port});
      break;
    }
  }
  if (!routed) {
    auto lookup = [d = e.domain, servers = cfg.dns_servers] { return mx_hosts(d, servers); };
    auto hosts = co_await server_.blocking(std::move(lookup));
    asio::ip::tcp::resolver resolver(co_await asio::this_coro::executor);
    const auto port = static_cast<uint16_t>(cfg.mx_port);
    const std::string service = std::to_string(port);  // named: no temporaries inside co_await (GCC 12)
    for (const auto& h : hosts) {
      if (pin && !mx_pinned(h, *pin)) {
        unpinned.push_back(h);
        continue;
      }
      auto [ec, results] = co_await resolver.async_resolve(h, service, asio::as_tuple(asio::use_awaitable));
      if (ec) continue;
      for (const auto& r : results) targets.push_back({h, r.endpoint().address().to_string(), port});
    }
  }
  if (targets.empty() && !unpinned.empty()) {
    // The mail waits (and is finally bounced) rather than going to a server nobody chose.
    std::string names;
    for (const auto& h : unpinned) names += (names.empty() ? "" : ", ") + sanitize(h);
    log::warn("outbound.mx_not_pinned", {{"queue_id", e.queue_id}, {"domain", e.domain}, {"hosts", names}});
    res.kind = Kind::temporary;
    res.reply = "not sent: " + e.domain + " may only be reached through the mail servers pinned in "
                "smtp.require_tls_mx, and " + names + " is not one of them (check DNS for tampering, or the pin "
                "if the domain moved its mail)";
    co_return res;
  }
  if (!routed && targets.empty()) {
    res.kind = Kind::temporary;
    res.reply = "cannot find a mail server for " + e.domain + " (DNS)";
    co_return res;
  }
  bool require_tls = e.require_tls || pin || domain_matches(e.domain, cfg.require_tls_domains);
  const auto timeout = std::chrono::seconds(cfg.connect_timeout_seconds);
  const auto cmd_timeout = std::chrono::seconds(300);

  for (const auto& t : targets) {
    res = AttemptResult{};
    res.remote = t.host;
    asio::ip::tcp::socket sock(co_await asio::this_coro::executor);
    boost::system::error_code aec;
    auto addr = asio::ip::make_address(t.address, aec);
    if (aec) continue;
    auto conn = sock.async_connect(asio::ip::tcp::endpoint(addr, t.port), asio::deferred);
    auto cr = co_await net::with_deadline(std::move(conn), timeout);
    bool connected = cr && !std::get<0>(*cr);
    if (!connected) {
      res.kind = Kind::temporary;
      res.reply = "cannot connect to " + t.host + " port " + std::to_string(t.port);
      continue;
    }
    net::ProtoStream stream(std::move(sock), nullptr);
    std::string line;
    // Reads a (multi-line) reply; returns its code (0 on a broken connection).
    auto read_reply = [&](std::string& text) -> asio::awaitable<int> {
      text.clear();
      for (int lines = 0; lines < 100; ++lines) {
        auto st = co_await stream.read_line(line, 2048, cmd_timeout);
        if (st != net::ReadStatus::ok || line.size() < 3) co_return 0;
        if (!text.empty()) text += " ";
        text += line;
        if (line.size() == 3 || line[3] != '-') {
          int code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
          co_return (code >= 200 && code <= 599) ? code : 0;
        }
      }
      co_return 0;
    };
    std::string text;
    auto send = [&](std::string cmd) -> asio::awaitable<bool> {
      bool ok = co_await stream.write(cmd, cmd_timeout);
      co_return ok;
    };
    // Sends one command and reads its reply; 0 when the connection broke.
    auto exchange = [&](std::string cmd) -> asio::awaitable<int> {
      bool ok = co_await send(std::move(cmd));
      if (!ok) co_return 0;
      int c = co_await read_reply(text);
      co_return c;
    };
    auto fail = [&](int code, const std::string& what) {
      res.reply = what.empty() ? "connection lost" : what;
      res.kind = code >= 500 ? Kind::permanent : Kind::temporary;
    };
    int code = co_await read_reply(text);
    if (code != 220) { fail(code >= 500 ? 400 : code, text); co_await stream.close(); continue; }
    code = co_await exchange("EHLO " + config_.server.hostname + "\r\n");
    if (code != 250) { fail(400, text); co_await stream.close(); continue; }
    std::string caps = lower(text);
    if (caps.find("starttls") != std::string::npos) {
      code = co_await exchange("STARTTLS\r\n");
      std::string tls_error;
      bool secured = false;
      if (code == 220) {
        bool hs = co_await stream.start_tls_client(tls_, t.host, require_tls, timeout, &tls_error);
        secured = hs;
      }
      if (!secured) {
        if (require_tls) {
          res.kind = Kind::temporary;
          res.reply = "TLS is required for " + e.domain + " but could not be established with " + t.host + ": " +
                      (tls_error.empty() ? text : tls_error);
          co_await stream.close();
          continue;
        }
        // Opportunistic: the session is unusable after a failed handshake; try the next
        // host (or next time) rather than fall back to clear text on this connection.
        fail(400, "TLS handshake failed: " + tls_error);
        co_await stream.close();
        continue;
      }
      code = co_await exchange("EHLO " + config_.server.hostname + "\r\n");
      if (code != 250) { fail(400, text); co_await stream.close(); continue; }
      caps = lower(text);
    } else if (require_tls) {
      res.kind = Kind::temporary;
      res.reply = "TLS is required for " + e.domain + " but " + t.host + " does not offer STARTTLS";
      bool q = co_await send("QUIT\r\n");
      (void)q;
      co_await stream.close();
      continue;
    }
    bool dsn = caps.find(" dsn") != std::string::npos || caps.find("-dsn") != std::string::npos;
    std::string mail = "MAIL FROM:<" + e.sender + ">";
    if (caps.find("size") != std::string::npos) mail += " SIZE=" + std::to_string(message.size());
    if (dsn) {
      mail += e.ret_headers_only ? " RET=HDRS" : " RET=FULL";
      if (!e.envid.empty()) mail += " ENVID=" + xtext_encode(e.envid);
    }
    code = co_await exchange(mail + "\r\n");
    if (code != 250) { fail(code, text); co_await stream.close(); if (code >= 500) co_return res; continue; }
    std::string rcpt = "RCPT TO:<" + e.recipient + ">";
    if (dsn) {
      rcpt += " NOTIFY=" + notify_text(e.notify);
      if (!e.orcpt.empty()) rcpt += " ORCPT=rfc822;" + xtext_encode(e.orcpt);
    }
    code = co_await exchange(rcpt + "\r\n");
    if (code != 250 && code != 251) { fail(code, text); co_await stream.close(); if (code >= 500) co_return res; continue; }
    code = co_await exchange("DATA\r\n");
    if (code != 354) { fail(code, text); co_await stream.close(); if (code >= 500) co_return res; continue; }
    // Dot-stuff, CRLF line ends, final dot.
    std::string body;
    body.reserve(message.size() + message.size() / 50 + 8);
    bool bol = true;
    for (char ch : message) {
      if (bol && ch == '.') body.push_back('.');
      body.push_back(ch);
      bol = ch == '\n';
    }
    if (!bol) body += "\r\n";
    body += ".\r\n";
    code = co_await exchange(std::move(body));
    bool q = co_await send("QUIT\r\n");
    (void)q;
    co_await stream.close();
    if (code == 250) {
      res.kind = Kind::delivered;
      res.reply = text;
      res.remote_dsn = dsn;
      co_return res;
    }
    fail(code, text);
    if (code >= 500) co_return res;
  }
  co_return res;
}

}  // namespace caremail::smtp

#include "core/mail_service.hpp"

#include <ctime>
#include <future>

#include <algorithm>
#include <chrono>
#include <set>

#include <boost/json.hpp>

#include "common/config.hpp"
#include "common/time_text.hpp"
#include "common/log.hpp"
#include "crypto/crypto.hpp"
#include "mime/mime.hpp"
#include "mime/originators.hpp"

namespace caremail {

MailLimits MailLimits::from(const Config& cfg) {
  MailLimits l;
  l.max_message_bytes = cfg.quota.max_message_bytes;
  l.max_messages_per_hour = cfg.smtp.max_messages_per_hour;
  l.max_recipients_per_hour = cfg.smtp.max_recipients_per_hour;
  l.app_max_messages_per_hour = cfg.smtp.app_max_messages_per_hour;
  l.app_max_recipients_per_hour = cfg.smtp.app_max_recipients_per_hour;
  l.inline_blob_bytes = cfg.storage.inline_blob_bytes;
  l.fail_local_delivery = cfg.testing.fail_local_delivery;
  return l;
}

namespace {
// The RFC 9228 trace field of one local delivery: the address the message was delivered
// to, as the sender gave it (an alias stays an alias, its case is kept). `address` found
// an account, so it is a stored address up to ASCII case and cannot break the header; the
// check below keeps that true should the lookup ever become looser.
std::string delivered_to(std::string_view address, std::string_view primary) {
  bool clean = !address.empty() && std::none_of(address.begin(), address.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u < 0x21 || u == 0x7f;
  });
  return "Delivered-To: " + std::string(clean ? address : primary) + "\r\n";
}
// RFC 2919 list identifier of a list: its address with the @ as a dot ("ward7@a.nhs.uk"
// -> "ward7.a.nhs.uk"), a dot-atom since our list addresses are dot-atoms.
std::string list_id_of(std::string_view address) {
  std::string id(address);
  for (char& c : id) {
    if (c == '@') c = '.';
    else if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return id;
}

// "List-Id: "Ward 7 nurses" <ward7.a.nhs.uk>\r\n". The phrase only when it is printable
// ASCII (a quoted string, " and \ escaped); otherwise the identifier alone, which RFC 2919
// allows.
std::string list_id_field(const DistributionList& l) {
  std::string phrase;
  bool ascii = !l.display_name.empty() && std::all_of(l.display_name.begin(), l.display_name.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u >= 0x20 && u < 0x7f;
  });
  if (ascii) {
    phrase = "\"";
    for (char c : l.display_name) {
      if (c == '"' || c == '\\') phrase += '\\';
      phrase += c;
    }
    phrase += "\" ";
  }
  return "List-Id: " + phrase + "<" + list_id_of(l.address) + ">\r\n";
}

// True when a List-Id field of the header section of `raw` names `id` (any case): the
// message has been through that list before.
bool carries_list_id(std::string_view raw, std::string_view id) {
  auto lower = [](std::string_view v) {
    std::string out(v);
    for (char& c : out)
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return out;
  };
  const std::string want = "<" + lower(id) + ">";
  size_t pos = 0;
  while (pos < raw.size()) {
    size_t eol = raw.find('\n', pos);
    if (eol == std::string_view::npos) eol = raw.size();
    std::string_view line = raw.substr(pos, eol - pos);
    if (line.empty() || line == "\r") return false;  // end of the header section
    if (line.size() > 8 && lower(line.substr(0, 8)) == "list-id:") {
      std::string value(line.substr(8));
      size_t next = eol + 1;  // unfold
      while (next < raw.size() && (raw[next] == ' ' || raw[next] == '\t')) {
        size_t e2 = raw.find('\n', next);
        if (e2 == std::string_view::npos) e2 = raw.size();
        value += raw.substr(next, e2 - next);
        next = e2 + 1;
      }
      if (lower(value).find(want) != std::string::npos) return true;
    }
    pos = eol + 1;
  }
  return false;
}

Error no_mailbox(std::string_view address) {
  return make_error(Errc::not_found, "no mailbox here by that name: " + std::string(address));
}
}  // namespace

void audit(Store& store, const Principal& by, std::string_view action, std::string_view target, OrgId target_org,
           std::string_view outcome, std::string detail_json) {
  AuditEvent e;
  e.actor = by.address;
  e.actor_org = by.org_id;
  e.action = std::string(action);
  e.target = std::string(target);
  e.target_org = target_org;
  e.outcome = std::string(outcome);
  e.detail = std::move(detail_json);
  auto r = store.append_audit(std::move(e));
  if (!r)
    log::error("audit.write_failed", {{"action", action}, {"target", target}, {"error", r.error().message}});
}

Status MailService::validate_mailbox_name(std::string_view name) {
  auto bad = [&](const char* why) {
    return Status(make_error(Errc::invalid_argument, "mailbox name '" + std::string(name) + "' " + why));
  };
  if (name.empty()) return bad("is empty");
  if (name.size() > 255) return bad("is longer than 255 bytes");
  if (name.front() == '/' || name.back() == '/') return bad("starts or ends with '/'");
  if (name.find("//") != std::string_view::npos) return bad("has an empty level");
  for (unsigned char c : name)
    if (c < 0x20 || c == 0x7f) return bad("contains a control character");
  // UTF-8 well-formedness (no overlongs, no surrogates).
  size_t i = 0;
  while (i < name.size()) {
    unsigned char c = static_cast<unsigned char>(name[i]);
    size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (n == 0 || i + n > name.size()) return bad("is not valid UTF-8");
    uint32_t cp = n == 1 ? c : n == 2 ? (c & 0x1f) : n == 3 ? (c & 0x0f) : (c & 0x07);
    for (size_t k = 1; k < n; ++k) {
      unsigned char cc = static_cast<unsigned char>(name[i + k]);
      if ((cc >> 6) != 2) return bad("is not valid UTF-8");
      cp = (cp << 6) | (cc & 0x3f);
    }
    if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
      return bad("is not valid UTF-8");
    if (cp >= 0x80 && cp <= 0x9f) return bad("contains a control character");
    i += n;
  }
  return {};
}

Status MailService::authorise_account(const Principal& by, AccountId owner, std::string_view action) {
  if (by.restricted())  // signed in only to change the password or accept the AUP
    return make_error(Errc::permission_denied, by.must_change_password
                                                   ? "change your password first"
                                                   : "accept the Acceptable Use Policy first");
  if (by.system || by.account_id == owner) return {};
  // Nobody reads another person's mail without a recorded, approved request (PRODUCT.md
  // A5; the shared-mailbox and delegation issues add the grants). Refusals are audited.
  auto acct = store_.account(owner);
  audit(store_, by, action, acct ? acct->address : std::to_string(owner), acct ? acct->org_id : 0, "denied");
  return make_error(Errc::permission_denied, "you do not have access to this mailbox");
}

Result<Mailbox> MailService::authorise_mailbox(const Principal& by, MailboxId id, std::string_view action) {
  auto mb = store_.mailbox_by_id(id);
  if (!mb) return mb.error();
  if (Status s = authorise_account(by, mb->account_id, action); !s) return s.error();
  return mb;
}

Result<MailService::Staged> MailService::stage(std::string_view raw, UnixTime internal_date, const BlobSource* file) {
  if (raw.size() > limits_.max_message_bytes)
    return make_error(Errc::too_large, "message is " + std::to_string(raw.size()) + " bytes; the limit is " +
                                           std::to_string(limits_.max_message_bytes));
  if (file && file->size() != raw.size()) return make_error(Errc::invalid_argument, "the message file is not the message");
  Staged st;
  if (file) {
    auto id = content_id(*file);
    if (!id) return make_error(Errc::temporary, id.error().message);
    st.msg.blob_id = std::move(id).value();
  } else {
    st.msg.blob_id = crypto::sha256_hex(raw);
  }
  st.pin = std::make_unique<BlobPin>(&blobs_, st.msg.blob_id);
  // Malformed MIME is still mail: only a limit breach fails, and then the message is kept
  // without a structure summary rather than refused.
  auto summarize = [this, raw, file]() {
    NewMessage m;
    // A message in a file is parsed through its mapping, which makes every page of it
    // resident in this process for the parse: one such parse at a time, and its pages let
    // go after it, so that concurrent large deliveries hold one message's pages at most,
    // not one each (issue 14; the blob itself is hashed and written from the file).
    std::unique_lock<std::mutex> one_at_a_time;
    if (file) one_at_a_time = std::unique_lock<std::mutex>(file_parse_mu_);
    if (auto sum = mime::summarize(raw)) m.summary = std::move(sum).value();
    cache_header(raw, m);
    if (file) file->release_view();
    return m;
  };
  // A large message is parsed on another thread while this one seals, writes and fsyncs
  // its blob: a delivery's latency is then the longer of the two, not their sum (the
  // 100 KB single-connection SMTP case). Small ones are parsed in line: starting a thread
  // would cost more than the parse.
  std::future<NewMessage> parsed;
  if (raw.size() >= kParallelParseBytes) parsed = std::async(std::launch::async, summarize);
  Status stored;
  if (raw.size() <= limits_.inline_blob_bytes) {
    // Sealed here, made durable by the metadata commit together with its row.
    st.msg.inline_blob = blobs_.seal_record(raw, st.msg.blob_id);
  } else if (auto ref = file ? blobs_.put_with_id(*file, st.msg.blob_id) : blobs_.put_with_id(raw, st.msg.blob_id);
             !ref) {
    stored = ref.error();
  }
  NewMessage m = parsed.valid() ? parsed.get() : summarize();  // waits for the parse even when the put failed
  if (!stored) return stored.error();
  st.msg.summary = std::move(m.summary);
  st.msg.header = std::move(m.header);
  st.msg.size = raw.size();
  st.msg.internal_date = internal_date ? internal_date : clock_.now();
  return st;
}

void MailService::cache_header(std::string_view raw, NewMessage& msg) {
  // Where the header ends is taken from the structure summarize() found (the top node's
  // body_offset), the very offset IMAP renders BODY[HEADER] from: the fields up to and
  // including the blank line (CRLF or bare LF), or up to the first line that is not a
  // field, or the whole message when neither comes. Re-deriving it here could disagree
  // with the renderer on odd mail; without a structure nothing is cached.
  if (msg.summary.body_structure.empty()) return;
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(msg.summary.body_structure, ec);
  if (ec || !v.is_object()) return;
  const boost::json::value* off = v.get_object().if_contains("body_offset");
  uint64_t end = 0;
  if (off != nullptr && off->is_uint64()) end = off->get_uint64();
  else if (off != nullptr && off->is_int64() && off->get_int64() > 0) end = static_cast<uint64_t>(off->get_int64());
  if (end == 0 || end > raw.size() || end > kMaxCachedHeader) return;
  msg.header.assign(raw.substr(0, static_cast<size_t>(end)));
}

Result<DeliveryReport> MailService::inject(const Principal& by, std::span<const std::string> recipients,
                                           std::string_view raw) {
  std::string to;
  for (const auto& r : recipients) to += (to.empty() ? "" : ",") + r;
  if (to.size() > 200) to = to.substr(0, 197) + "...";
  if (by.restricted() || !(by.system || by.has(Role::national_admin))) {
    audit(store_, by, "mail.inject", to, 0, "denied");
    return make_error(Errc::permission_denied, "only national administrators may inject mail");
  }
  auto rep = deliver(Principal::service(), recipients, raw);
  if (rep)
    audit(store_, by, "mail.inject", to, 0, "ok",
          "{\"blob\":\"" + rep->blob_id + "\",\"size\":" + std::to_string(raw.size()) + "}");
  return rep;
}

Result<DeliveryReport> MailService::deliver(const Principal& by, std::span<const std::string> recipients,
                                            std::string_view raw, UnixTime internal_date, const Envelope& envelope,
                                            const BlobSource* file) {
  if (!by.system) return make_error(Errc::permission_denied, "only the mail service delivers mail");
  if (raw.size() > limits_.max_message_bytes)  // before resolving anyone
    return make_error(Errc::too_large, "message is " + std::to_string(raw.size()) + " bytes; the limit is " +
                                           std::to_string(limits_.max_message_bytes));
  DeliveryReport report;
  std::vector<DeliveryTarget> targets;
  std::set<AccountId> seen;
  std::vector<std::pair<size_t, DistributionList>> lists;  // (position in the report, list)
  for (const auto& rcpt : recipients) {
    RecipientOutcome out;
    out.address = rcpt;
    auto acct = store_.account_by_address(rcpt);
    if (!acct && acct.error().code == Errc::not_found) {
      // Lists share the address namespace: an address no account has may be a list's.
      if (auto l = store_.list_by_address(rcpt)) {
        out.list_id = l->directory_id();
        bool again = std::any_of(lists.begin(), lists.end(), [&](const auto& x) { return x.second.id == l->id; });
        if (!again) lists.emplace_back(report.recipients.size(), std::move(*l));
        report.recipients.push_back(std::move(out));
        continue;
      }
    }
    if (!acct) {
      out.error = acct.error().code == Errc::not_found
                      ? make_error(Errc::not_found, "no mailbox here by that name: " + rcpt)
                      : acct.error();
    } else if (acct->state == AccountState::deleted) {
      out.error = make_error(Errc::not_found, "no mailbox here by that name: " + rcpt);
    } else if (acct->state == AccountState::disabled) {
      out.error = make_error(Errc::conflict, "mailbox " + rcpt + " is disabled and does not accept mail");
    } else {
      out.account_id = acct->id;
      if (seen.insert(acct->id).second) {
        DeliveryTarget t;
        t.account_id = acct->id;
        t.trace = delivered_to(rcpt, acct->address);
        targets.push_back(std::move(t));
      }
    }
    report.recipients.push_back(std::move(out));
  }
  if (!targets.empty()) {
    if (limits_.fail_local_delivery)  // an injected fault (config [testing]), never in production
      return make_error(Errc::temporary, "local delivery failed (testing.fail_local_delivery)");
    auto staged = stage(raw, internal_date, file);
    if (!staged) return staged.error();
    report.blob_id = staged->msg.blob_id;
    auto done = store_.deliver(staged->msg, targets);
    if (!done) return done.error();
    for (size_t i = 0; i < done->size(); ++i) {
      const Delivered& d = (*done)[i];
      // Aliases of one account share the single copy; mark each of them.
      for (auto& out : report.recipients) {
        if (out.account_id != d.account_id || out.error) continue;
        if (d.error) out.error = d.error;
        else { out.mailbox_id = d.mailbox_id; out.uid = d.uid; }
      }
      if (!d.error) {
        feed_.notify(d.account_id);
        if (fts_) fts_->enqueue(d.account_id, staged->msg.blob_id);
      }
    }
  }
  // Lists after the direct recipients: someone addressed directly keeps the plain copy.
  std::vector<RecipientOutcome> failures;
  std::set<std::string> queued;  // outside members already queued by an earlier list
  for (auto& [pos, l] : lists) {
    RecipientOutcome& out = report.recipients[pos];
    if (Status s = expand_list(l, out, raw, internal_date, envelope, seen, queued, failures, report.blob_id); !s) {
      // Nothing of this list's copy was committed: the list fails as a whole (a temporary
      // error makes SMTP answer 4xx when nothing else was delivered).
      out.error = s.error();
      log::warn("mail.list_failed", {{"list", l.address}, {"error", s.error().message}});
    }
  }
  // The same list given twice (two spellings): both outcomes are the expansion's.
  for (auto& out : report.recipients)
    if (out.list_id)
      for (const auto& [pos, l] : lists)
        if (l.directory_id() == out.list_id && &report.recipients[pos] != &out) {
          out.error = report.recipients[pos].error;
          out.list_loop = report.recipients[pos].list_loop;
        }
  for (auto& f : failures) report.recipients.push_back(std::move(f));
  return report;
}

Status MailService::expand_list(const DistributionList& l, RecipientOutcome& out, std::string_view raw,
                                UnixTime internal_date, const Envelope& envelope, std::set<AccountId>& seen,
                                std::set<std::string>& queued, std::vector<RecipientOutcome>& failures,
                                std::string& blob_id) {
  if (carries_list_id(raw, list_id_of(l.address))) {
    out.list_loop = true;
    log::warn("mail.list_loop", {{"list", l.address}, {"sender", envelope.sender}, {"queue_id", envelope.queue_id}});
    return {};
  }
  std::vector<DeliveryTarget> targets;
  std::vector<std::string> target_address;
  std::vector<NewOutbound> remote;
  const std::string queue_id = envelope.queue_id.empty() ? crypto::random_token(8) : envelope.queue_id;
  for (const auto& m : l.members) {
    std::string domain = m.substr(m.rfind('@') + 1);
    if (!is_local_domain(domain)) {
      if (!queued.insert(m).second) continue;  // one copy each
      NewOutbound o;
      o.queue_id = queue_id;
      o.sender = envelope.sender;
      o.recipient = m;
      remote.push_back(std::move(o));
      continue;
    }
    RecipientOutcome f;
    f.address = m;
    f.via_list = l.address;
    auto acct = store_.account_by_address(m);
    if (!acct) {
      f.error = acct.error().code == Errc::not_found ? no_mailbox(m) : acct.error();
    } else if (acct->state == AccountState::deleted) {
      f.error = no_mailbox(m);
    } else if (acct->state == AccountState::disabled) {
      f.error = make_error(Errc::conflict, "mailbox " + m + " is disabled and does not accept mail");
    } else {
      if (!seen.insert(acct->id).second) continue;  // one copy each
      DeliveryTarget t;
      t.account_id = acct->id;
      t.trace = delivered_to(m, acct->address);
      targets.push_back(std::move(t));
      target_address.push_back(m);
      continue;
    }
    failures.push_back(std::move(f));
  }
  if (targets.empty() && remote.empty()) return {};
  // One copy for every member: the message with the list's List-Id in front.
  std::string copy = list_id_field(l);
  copy += raw;
  auto staged = stage(copy, internal_date);
  if (!staged) return staged.error();
  if (blob_id.empty()) blob_id = staged->msg.blob_id;
  if (!targets.empty()) {
    auto done = store_.deliver(staged->msg, targets);
    if (!done) return done.error();
    for (size_t i = 0; i < done->size(); ++i) {
      const Delivered& d = (*done)[i];
      if (d.error) {
        RecipientOutcome f;
        f.address = target_address[i];
        f.via_list = l.address;
        f.account_id = d.account_id;
        f.error = d.error;
        failures.push_back(std::move(f));
        continue;
      }
      ++out.list_local;
      feed_.notify(d.account_id);
      if (fts_) fts_->enqueue(d.account_id, staged->msg.blob_id);
    }
  }
  if (!remote.empty()) {
    auto queued = store_.enqueue(staged->msg, remote);
    if (!queued) return queued.error();
    out.list_queued = remote.size();
  }
  log::info("mail.list_expanded", {{"list", l.address}, {"queue_id", queue_id}, {"local", out.list_local},
                                   {"queued", out.list_queued}, {"blob", staged->msg.blob_id}});
  return {};
}

Result<std::vector<OutboundEntry>> MailService::enqueue_remote(const Principal& by,
                                                               std::span<const NewOutbound> rcpts,
                                                               std::string_view raw, const BlobSource* file) {
  if (!by.system) return make_error(Errc::permission_denied, "only the mail service queues mail");
  auto staged = stage(raw, 0, file);
  if (!staged) return staged.error();
  return store_.enqueue(staged->msg, rcpts);
}

Result<std::string> MailService::read_blob(const Principal& by, std::string_view blob_id) {
  if (!by.system) return make_error(Errc::permission_denied, "only the mail service reads blobs directly");
  return blobs_.get(blob_id);
}

Status MailService::sending_allowed(const Principal& by) {
  if (by.system) return {};
  auto acct = store_.account(by.account_id);
  if (!acct) return acct.error();
  if (acct->sending_suspended)
    return make_error(Errc::permission_denied,
                      "sending from " + acct->address + " is suspended because of excessive activity; "
                      "your administrator has been told and can lift the suspension");
  return {};
}

Status MailService::record_submission(const Principal& by, size_t recipients) {
  if (by.system) return {};
  if (Status s = sending_allowed(by); !s) return s;
  auto acct = store_.account(by.account_id);
  if (!acct) return acct.error();
  bool app = acct->kind == AccountKind::application;
  const size_t max_msgs = static_cast<size_t>(app ? limits_.app_max_messages_per_hour : limits_.max_messages_per_hour);
  const size_t max_rcpts =
      static_cast<size_t>(app ? limits_.app_max_recipients_per_hour : limits_.max_recipients_per_hour);
  UnixTime now = clock_.now();
  size_t msgs = 0, rcpts = 0;
  bool over = false;
  {
    std::lock_guard lk(send_mu_);
    SendWindow& w = send_windows_[by.account_id];
    if (w.tripped) {  // an administrator lifted the suspension: count from now
      w = SendWindow{};
    }
    while (!w.sent.empty() && w.sent.front().first <= now - 3600) {
      w.recipients -= w.sent.front().second;
      w.sent.pop_front();
    }
    msgs = w.sent.size() + 1;
    rcpts = w.recipients + recipients;
    over = msgs > max_msgs || rcpts > max_rcpts;
    if (!over) {
      w.sent.emplace_back(now, recipients);
      w.recipients += recipients;
    } else {
      w.tripped = true;
    }
  }
  if (!over) return {};
  std::string why = std::to_string(msgs) + " messages to " + std::to_string(rcpts) +
                    " recipients within an hour (the limit is " + std::to_string(max_msgs) + " messages and " +
                    std::to_string(max_rcpts) + " recipients)";
  if (Status s = store_.set_sending_suspended(acct->id, true); !s) return s;
  audit(store_, Principal::service(), "mail.sending_suspended", acct->address, acct->org_id, "ok",
        "{\"reason\":\"excessive activity\"}");
  log::warn("mail.sending_suspended", {{"account", acct->address}, {"messages", msgs}, {"recipients", rcpts}});
  // Tell the person and their organisation's administrators, in their INBOX.
  std::vector<std::string> to{acct->address};
  if (auto people = store_.list_accounts(acct->org_id))
    for (const auto& a : *people)
      if (a.id != acct->id && (a.has_role(Role::local_admin) || a.has_role(Role::primary_local_admin)))
        to.push_back(a.address);
  Status sent = send_notice(to, "Sending suspended for " + acct->address + " (excessive activity)",
                            "Sending from " + acct->address + " has been suspended because it sent " + why +
                                ".\r\n\r\nThis protects the service when an account is misused or a program "
                                "sends in a loop. Receiving mail is not affected. An administrator of your "
                                "organisation can lift the suspension once the cause is found.\r\n");
  if (!sent) log::warn("mail.suspension_notice_failed", {{"account", acct->address}, {"error", sent.error().message}});
  return make_error(Errc::permission_denied, "sending from " + acct->address +
                                                 " is suspended because of excessive activity (" + why +
                                                 "); your administrator has been told");
}

Status MailService::send_notice(std::span<const std::string> to, std::string_view subject, std::string_view body) {
  if (to.empty()) return {};
  std::string hdr_to;
  for (const auto& a : to) hdr_to += (hdr_to.empty() ? "" : ", ") + a;
  std::string date = rfc5322_date(clock_.now());
  std::string msg = "From: Caremail <postmaster@localhost>\r\nTo: " + hdr_to + "\r\nSubject: " + std::string(subject) +
                    "\r\nDate: " + date + "\r\nMessage-ID: <" + crypto::random_token(16) +
                    "@caremail.notice>\r\nAuto-Submitted: auto-generated\r\nMIME-Version: 1.0\r\n"
                    "Content-Type: text/plain; charset=utf-8\r\n\r\n" + std::string(body);
  auto r = deliver(Principal::service(), to, msg);
  if (!r) return r.error();
  if (r->delivered() == 0) return make_error(Errc::io, "the notice reached none of its recipients");
  return {};
}

bool MailService::is_local_domain(std::string_view domain) {
  std::string d(domain);
  for (char& c : d)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return store_.organisation_for_domain(d).ok();
}

Result<AccountId> MailService::check_recipient(std::string_view address, uint64_t size) {
  return check_recipient(address, size, Sender{});
}

Result<AccountId> MailService::check_recipient(std::string_view address, uint64_t size, const Sender& from) {
  auto acct = store_.account_by_address(address);
  if (!acct && acct.error().code == Errc::not_found) {
    if (auto l = store_.list_by_address(address)) {
      auto refuse = [&](std::string why) -> Result<AccountId> {
        log::info("mail.list_refused", {{"list", l->address}, {"sender", from.envelope_from},
                                        {"user", from.user ? from.user->address : std::string()}});
        return make_error(Errc::permission_denied, std::move(why));
      };
      const bool signed_in = from.user && !from.user->restricted() && !from.user->system;
      switch (l->senders) {
        case ListSenders::anyone:
          break;
        case ListSenders::service:
          if (!signed_in)
            return refuse("only people signed in to the service may send to the list " + l->address +
                          "; send it from your account through the submission port");
          break;
        case ListSenders::members: {
          bool member = false;
          auto is_member = [&](std::string_view a) {
            std::string x(a);
            for (char& c : x)
              if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
            return std::binary_search(l->members.begin(), l->members.end(), x);
          };
          if (signed_in) {
            if (auto me = store_.account(from.user->account_id)) {
              member = is_member(me->address);
              for (const auto& a : me->aliases) member = member || is_member(a);
            }
          } else if (auto at = from.envelope_from.rfind('@'); at != std::string::npos && from.trust_envelope) {
            // Unauthenticated (port 25), and the operator chose to believe the envelope:
            // only an outside member's address counts; the service's own addresses must
            // sign in to be believed. By default nothing unauthenticated counts: anyone can
            // forge a member's address, and the list would fan the forgery out.
            member = !is_local_domain(from.envelope_from.substr(at + 1)) && is_member(from.envelope_from);
          }
          if (!member) return refuse("only members of the list " + l->address + " may send to it");
          break;
        }
      }
      return static_cast<AccountId>(l->directory_id());
    }
  }
  if (!acct) {
    if (acct.error().code == Errc::not_found)
      return make_error(Errc::not_found, "no mailbox here by that name: " + std::string(address));
    return acct.error();
  }
  // A deleted account's address is unknown to senders; a disabled one says so (RFC 3463
  // 5.2.1), so the sender learns at once that nobody reads it.
  if (acct->state == AccountState::deleted)
    return make_error(Errc::not_found, "no mailbox here by that name: " + std::string(address));
  if (acct->state == AccountState::disabled)
    return make_error(Errc::conflict, "mailbox " + std::string(address) + " is disabled and does not accept mail");
  auto q = store_.quota(acct->id);
  if (!q) return q.error();
  if (q->limit_bytes != 0 && q->bytes + size > q->limit_bytes)
    return make_error(Errc::quota_exceeded,
                      "the mailbox of " + std::string(address) + " is full (" + std::to_string(q->bytes >> 20) +
                          " MB of " + std::to_string(q->limit_bytes >> 20) + " MB used); the recipient must make room");
  return acct->id;
}

Status MailService::may_send_as(const Principal& by, std::string_view from) {
  if (by.system) return {};
  auto acct = store_.account_by_address(from);
  if (acct && acct->id == by.account_id) return {};
  audit(store_, by, "mail.send_as", std::string(from), acct ? acct->org_id : 0, "denied");
  return make_error(Errc::permission_denied,
                    "you may send only as your own address (" + by.address + "), not as " + std::string(from));
}

Status MailService::may_send_message_as(const Principal& by, std::string_view raw) {
  if (by.system) return {};
  auto who = mime::originators(raw);
  if (!who) {
    boost::json::object detail{{"reason", who.error().message}};
    audit(store_, by, "mail.send_as", "(message header)", by.org_id, "denied", boost::json::serialize(detail));
    return who.error();
  }
  for (const auto& a : who->all())
    if (Status s = may_send_as(by, a); !s) return s;
  return {};
}

Result<AppendResult> MailService::append(const Principal& by, AccountId owner, std::string_view mailbox,
                                         std::string_view raw, uint32_t flags, std::vector<std::string> keywords,
                                         UnixTime internal_date) {
  if (Status s = authorise_account(by, owner, "mailbox.append"); !s) return s.error();
  auto mb = store_.mailbox(owner, mailbox);
  if (!mb) return mb.error();
  auto staged = stage(raw, internal_date);
  if (!staged) return staged.error();
  DeliveryTarget t;
  t.account_id = owner;
  t.mailbox_id = mb->id;
  t.flags = flags;
  t.keywords = std::move(keywords);
  auto done = store_.deliver(staged->msg, std::span<const DeliveryTarget>(&t, 1));
  if (!done) return done.error();
  const Delivered& d = done->front();
  if (d.error) return *d.error;
  feed_.notify(owner);
  if (fts_) fts_->enqueue(owner, staged->msg.blob_id);
  return AppendResult{d.mailbox_id, d.uidvalidity, d.uid, d.modseq};
}

Result<std::vector<AppendResult>> MailService::append_all(const Principal& by, AccountId owner,
                                                          std::string_view mailbox, std::span<const NewAppend> msgs) {
  if (Status s = authorise_account(by, owner, "mailbox.append"); !s) return s.error();
  auto mb = store_.mailbox(owner, mailbox);
  if (!mb) return mb.error();
  std::vector<Staged> staged;  // holds the pins until the commit
  std::vector<NewMessage> news;
  std::vector<DeliveryTarget> targets;
  for (const auto& m : msgs) {
    auto st = stage(m.raw, m.internal_date);
    if (!st) return st.error();
    news.push_back(std::move(st->msg));
    DeliveryTarget t;
    t.account_id = owner;
    t.mailbox_id = mb->id;
    t.flags = m.flags;
    t.keywords = m.keywords;
    targets.push_back(std::move(t));
    staged.push_back(std::move(*st));
  }
  auto done = store_.deliver_all(news, targets);
  if (!done) return done.error();
  feed_.notify(owner);
  std::vector<AppendResult> out;
  for (size_t i = 0; i < done->size(); ++i) {
    const Delivered& d = (*done)[i];
    if (fts_) fts_->enqueue(owner, news[i].blob_id);
    out.push_back(AppendResult{d.mailbox_id, d.uidvalidity, d.uid, d.modseq});
  }
  return out;
}

Result<std::vector<Mailbox>> MailService::list_mailboxes(const Principal& by, AccountId owner) {
  if (Status s = authorise_account(by, owner, "mailbox.list"); !s) return s.error();
  return store_.list_mailboxes(owner);
}

Result<Mailbox> MailService::mailbox(const Principal& by, AccountId owner, std::string_view name) {
  if (Status s = authorise_account(by, owner, "mailbox.select"); !s) return s.error();
  return store_.mailbox(owner, name);
}

Result<Mailbox> MailService::create_mailbox(const Principal& by, AccountId owner, std::string_view name) {
  return create_mailbox(by, owner, name, "");
}

Result<Mailbox> MailService::create_mailbox(const Principal& by, AccountId owner, std::string_view name,
                                            std::string_view special_use) {
  if (Status s = authorise_account(by, owner, "mailbox.create"); !s) return s.error();
  if (Status s = validate_mailbox_name(name); !s) return s.error();
  static constexpr std::string_view kSpecial[] = {"\\Sent", "\\Drafts", "\\Trash", "\\Junk", "\\Archive", "\\All",
                                                  "\\Flagged"};
  if (!special_use.empty() && std::find(std::begin(kSpecial), std::end(kSpecial), special_use) == std::end(kSpecial))
    return make_error(Errc::invalid_argument, "unknown special-use attribute " + std::string(special_use));
  auto r = store_.create_mailbox(owner, name, special_use);
  if (r) feed_.notify(owner);
  return r;
}

Result<Mailbox> MailService::mailbox_by_id(const Principal& by, MailboxId id) {
  return authorise_mailbox(by, id, "mailbox.select");
}

Result<std::vector<std::string>> MailService::subscriptions(const Principal& by, AccountId owner) {
  if (Status s = authorise_account(by, owner, "mailbox.list"); !s) return s.error();
  return store_.subscriptions(owner);
}

Status MailService::set_subscribed(const Principal& by, AccountId owner, std::string_view name, bool subscribed) {
  if (Status s = authorise_account(by, owner, "mailbox.subscribe"); !s) return s;
  // Unsubscribing takes any name, so that a name left from before a rule change can go.
  if (subscribed)
    if (Status s = validate_mailbox_name(name); !s) return s;
  return store_.set_subscribed(owner, name, subscribed);
}

Result<std::vector<MailboxEntry>> MailService::changed_since(const Principal& by, MailboxId id, ModSeq modseq) {
  auto mb = authorise_mailbox(by, id, "mailbox.read");
  if (!mb) return mb.error();
  return store_.changed_since(id, modseq);
}

Result<std::vector<Uid>> MailService::expunged_since(const Principal& by, MailboxId id, ModSeq modseq) {
  auto mb = authorise_mailbox(by, id, "mailbox.read");
  if (!mb) return mb.error();
  return store_.expunged_since(id, modseq);
}

Result<MailService::Changes> MailService::changes_since(const Principal& by, MailboxId id, ModSeq modseq) {
  auto mb = authorise_mailbox(by, id, "mailbox.read");
  if (!mb) return mb.error();
  Changes out;
  if (mb->highest_modseq != modseq) {
    auto changed = store_.changed_since(id, modseq);
    if (!changed) return changed.error();
    auto vanished = store_.expunged_since(id, modseq);
    if (!vanished) return vanished.error();
    out.changed = std::move(changed).value();
    out.vanished = std::move(vanished).value();
  }
  out.mailbox = std::move(mb).value();
  return out;
}

Result<UidRange> MailService::claim_recent(const Principal& by, MailboxId id, Uid last) {
  auto mb = authorise_mailbox(by, id, "mailbox.select");
  if (!mb) return mb.error();
  if (mb->first_recent_uid > last) return UidRange{1, 0};  // the common case: no write
  return store_.claim_recent(id, last);
}

Result<uint32_t> MailService::recent_count(const Principal& by, MailboxId id) {
  auto mb = authorise_mailbox(by, id, "mailbox.read");
  if (!mb) return mb.error();
  if (mb->first_recent_uid >= mb->uidnext) return 0u;
  return store_.recent_count(id);
}

Status MailService::delete_mailbox(const Principal& by, MailboxId id) {
  auto mb = authorise_mailbox(by, id, "mailbox.delete");
  if (!mb) return mb.error();
  if (mb->name == "INBOX") return make_error(Errc::invalid_argument, "INBOX cannot be deleted");
  Status s = store_.delete_mailbox(id);
  if (s) feed_.notify(mb->account_id);
  return s;
}

Status MailService::rename_mailbox(const Principal& by, MailboxId id, std::string_view new_name) {
  auto mb = authorise_mailbox(by, id, "mailbox.rename");
  if (!mb) return mb.error();
  if (Status s = validate_mailbox_name(new_name); !s) return s;
  if (mb->name == "INBOX") return make_error(Errc::invalid_argument, "renaming INBOX is not supported yet");
  Status s = store_.rename_mailbox(id, new_name);
  if (s) feed_.notify(mb->account_id);
  return s;
}

Result<std::vector<MailboxEntry>> MailService::list(const Principal& by, MailboxId id, UidRange range,
                                                    bool summaries) {
  auto mb = authorise_mailbox(by, id, "mailbox.read");
  if (!mb) return mb.error();
  return store_.list_entries(id, range, summaries);
}

Result<std::vector<MailboxEntry>> MailService::list_flags(const Principal& by, MailboxId id) {
  auto mb = authorise_mailbox(by, id, "mailbox.read");
  if (!mb) return mb.error();
  return store_.list_flags(id);
}

Result<std::string> MailService::fetch(const Principal& by, MailboxId id, Uid uid) {
  auto mb = authorise_mailbox(by, id, "message.read");
  if (!mb) return mb.error();
  auto e = store_.entry(id, uid);
  if (!e) return e.error();
  auto raw = blobs_.get(e->blob_id);
  if (!raw) {
    // The entry and the blob are two reads: another session may have expunged the message
    // in between, taking the blob (or its inline record, deleted with the message row)
    // with it. That is not corruption: the message is gone, as if the entry had not been
    // found (IMAP answers NO [EXPUNGEISSUED], RFC 2180 4.1.2).
    auto again = store_.entry(id, uid);
    if ((!again && again.error().code == Errc::not_found) || (again && again->blob_id != e->blob_id))
      return make_error(Errc::not_found, "message " + std::to_string(uid) + " was expunged");
    if (raw.error().code == Errc::corrupt)
      log::error("blob.corrupt", {{"blob", e->blob_id}, {"mailbox", id}, {"uid", uid}, {"error", raw.error().message}});
    return raw.error();
  }
  if (e->trace.size() + raw->size() != e->size) {
    log::error("blob.size_mismatch", {{"blob", e->blob_id}, {"expected", e->size - std::min(e->size, e->trace.size())},
                                      {"actual", raw->size()}});
    return make_error(Errc::corrupt, "stored message does not match its recorded size");
  }
  raw->insert(0, e->trace);  // this entry's own trace lines, never in the shared blob
  return raw;
}

Result<std::vector<std::pair<Uid, std::string>>> MailService::headers(const Principal& by, MailboxId id,
                                                                      UidRange range) {
  // Header bytes are message content: audited like fetch() when refused, which is what
  // answered header fetches before this cache.
  auto mb = authorise_mailbox(by, id, "message.read");
  if (!mb) return mb.error();
  return store_.headers(id, range);
}

Result<FlagResult> MailService::set_flags(const Principal& by, MailboxId id, std::span<const Uid> uids,
                                          const FlagUpdate& u) {
  auto mb = authorise_mailbox(by, id, "message.flag");
  if (!mb) return mb.error();
  auto r = store_.update_flags(id, uids, u);
  if (r && !r->updated.empty()) feed_.notify(mb->account_id);
  return r;
}

Result<CopyResult> MailService::copy(const Principal& by, MailboxId src, std::span<const Uid> uids, MailboxId dest) {
  auto s = authorise_mailbox(by, src, "message.copy");
  if (!s) return s.error();
  auto d = authorise_mailbox(by, dest, "message.copy");
  if (!d) return d.error();
  auto r = store_.copy(src, uids, dest, false);
  if (r) feed_.notify(d->account_id);
  if (r && fts_ && d->account_id != s->account_id) index_copies(d->account_id, dest, *r);
  return r;
}

Result<CopyResult> MailService::move(const Principal& by, MailboxId src, std::span<const Uid> uids, MailboxId dest) {
  auto s = authorise_mailbox(by, src, "message.move");
  if (!s) return s.error();
  auto d = authorise_mailbox(by, dest, "message.move");
  if (!d) return d.error();
  auto r = store_.copy(src, uids, dest, true);
  if (r) {
    feed_.notify(s->account_id);
    if (d->account_id != s->account_id) feed_.notify(d->account_id);
    if (fts_ && d->account_id != s->account_id) index_copies(d->account_id, dest, *r);
  }
  return r;
}

Result<std::vector<Uid>> MailService::expunge(const Principal& by, MailboxId id, std::optional<std::vector<Uid>> uids) {
  auto mb = authorise_mailbox(by, id, "message.expunge");
  if (!mb) return mb.error();
  if (uids) std::sort(uids->begin(), uids->end());
  auto r = store_.expunge(id, std::move(uids));
  if (r && !r->empty()) feed_.notify(mb->account_id);
  return r;
}

void MailService::index_copies(AccountId account, MailboxId dest, const CopyResult& r) {
  // Another account's index does not hold these yet (the same account's already does).
  for (auto [from, to] : r.uids) {
    auto e = store_.entry(dest, to);
    if (e) fts_->enqueue(account, e->blob_id);
  }
}

Result<QuotaUsage> MailService::quota(const Principal& by, AccountId owner) {
  if (by.restricted() && by.account_id != owner)
    return make_error(Errc::permission_denied, "change your password or accept the Acceptable Use Policy first");
  if (!by.system && by.account_id != owner) {
    // Administrators may see quota usage of accounts in their scope (not the mail).
    auto acct = store_.account(owner);
    if (!acct) return acct.error();
    bool allowed = by.national() || ((by.has(Role::local_admin) || by.has(Role::primary_local_admin) ||
                                      by.has(Role::local_helpdesk)) &&
                                     acct->org_id == by.org_id);
    if (!allowed) {
      audit(store_, by, "quota.read", acct->address, acct->org_id, "denied");
      return make_error(Errc::permission_denied, "you may not see this account's quota");
    }
  }
  return store_.quota(owner);
}

}  // namespace caremail

// MailService: storing a new message (stage), local delivery, injection, the outbound
// queue's entry points and the SMTP RCPT check. Contracts in mail_service.hpp.
#include "core/mail_service.hpp"

#include <ctime>
#include <future>

#include <algorithm>
#include <set>

#include <boost/json.hpp>

#include "common/ascii.hpp"
#include "common/time_text.hpp"
#include "common/log.hpp"
#include "core/scope.hpp"
#include "crypto/crypto.hpp"
#include "mime/mime.hpp"

namespace caremail {

// The RFC 9228 trace field of one local delivery: the address the message was delivered
// to, as the sender gave it (an alias stays an alias, its case is kept). `address` found
// an account, so it is a stored address up to ASCII case and cannot break the header; the
// check below keeps that true should the lookup ever become looser.
std::string MailService::delivered_to(std::string_view address, std::string_view primary) {
  bool clean = !address.empty() && std::none_of(address.begin(), address.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u < 0x21 || u == 0x7f;
  });
  return "Delivered-To: " + std::string(clean ? address : primary) + "\r\n";
}

std::optional<Error> MailService::refusal(const Result<Account>& acct, std::string_view address) {
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
  return std::nullopt;
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
  if (!administers_nationally(by)) {
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
    if (auto why = refusal(acct, rcpt)) {
      out.error = std::move(why);
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
  return store_.organisation_for_domain(ascii_lower(domain)).ok();
}

Result<LocalRecipient> MailService::check_recipient(std::string_view address, uint64_t size) {
  return check_recipient(address, size, Sender{});
}

Result<LocalRecipient> MailService::check_recipient(std::string_view address, uint64_t size, const Sender& from) {
  auto acct = store_.account_by_address(address);
  if (!acct && acct.error().code == Errc::not_found) {
    if (auto l = store_.list_by_address(address)) {
      if (Status s = may_send_to_list(*l, from); !s) return s.error();
      return LocalRecipient{0, l->directory_id()};
    }
  }
  if (auto why = refusal(acct, address)) return *why;
  auto q = store_.quota(acct->id);
  if (!q) return q.error();
  if (q->limit_bytes != 0 && q->bytes + size > q->limit_bytes)
    return make_error(Errc::quota_exceeded,
                      "the mailbox of " + std::string(address) + " is full (" + std::to_string(q->bytes >> 20) +
                          " MB of " + std::to_string(q->limit_bytes >> 20) + " MB used); the recipient must make room");
  return LocalRecipient{acct->id, 0};
}

}  // namespace caremail

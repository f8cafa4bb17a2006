#include "core/mail_service.hpp"

#include <algorithm>

#include <boost/json.hpp>

#include "common/config.hpp"
#include "common/log.hpp"
#include "core/scope.hpp"
#include "mime/originators.hpp"

// The mailboxes and messages of MailService: authorisation, APPEND, reads, flags, copies.
// Delivery is in mail_delivery.cpp, distribution lists in list_expansion.cpp, the hourly
// sending limits in sending_limits.cpp.

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
    if (!sees_accounts_of(by, acct->org_id)) {
      audit(store_, by, "quota.read", acct->address, acct->org_id, "denied");
      return make_error(Errc::permission_denied, "you may not see this account's quota");
    }
  }
  return store_.quota(owner);
}

}  // namespace caremail

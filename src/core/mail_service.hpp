// MailService: every read and write of mail goes through here, whichever front-end asks
// (SMTP delivery, IMAP, JMAP, webmail, the admin API). Authorisation, size and quota limits
// and the audit of refused access live here once, so no front-end can forget them.
//
// Durability: deliver() and append() return only after the blob is fsync'd and the
// metadata committed (group commit). Blocking: call from the worker pool, never from an
// I/O thread. Thread-safe.
//
// Implementation: mail_service.cpp (mailboxes, messages), mail_delivery.cpp (storing,
// delivery, the RCPT check), list_expansion.cpp (distribution lists), sending_limits.cpp.
#pragma once

#include <deque>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "common/clock.hpp"
#include "core/audit.hpp"
#include "core/change_feed.hpp"
#include "core/principal.hpp"
#include "fts/fts_index.hpp"
#include "store/blob/fs_blob_store.hpp"
#include "store/store.hpp"

namespace caremail {

struct Config;

struct MailLimits {
  uint64_t max_message_bytes = 35ull << 20;
  // Sending per account and hour (PRODUCT.md S6); application accounts have their own.
  int max_messages_per_hour = 500;
  int max_recipients_per_hour = 3000;
  int app_max_messages_per_hour = 20000;
  int app_max_recipients_per_hour = 100000;
  // Bodies up to this size are stored with their message row (storage.inline_blob_bytes).
  uint64_t inline_blob_bytes = 128 * 1024;
  // testing.fail_local_delivery (a test-only fault): deliver() fails as a whole.
  bool fail_local_delivery = false;

  // The limits the configuration sets (quota, smtp, storage and testing sections).
  static MailLimits from(const Config& cfg);
};

struct RecipientOutcome {
  std::string address;
  std::optional<Error> error;  // unset: delivered
  AccountId account_id = 0;
  MailboxId mailbox_id = 0;
  Uid uid = 0;
  // A distribution list's address: its directory id, and how its expansion went. Members
  // whose copy failed follow in the report as recipients of their own (with `via_list`).
  uint64_t list_id = 0;
  size_t list_local = 0;     // members delivered here (one copy each, the first address wins)
  size_t list_queued = 0;    // outside members queued for the outbound queue
  bool list_loop = false;    // the message had been through this list already: not expanded again
  std::string via_list;      // set on a member's outcome: the list it came through
};

// The SMTP envelope of a delivery, for what distribution lists do with it.
struct Envelope {
  std::string sender;    // MAIL FROM, "" for the null sender; outside members' copies keep it
  std::string queue_id;  // the transaction's id, for the outbound rows (generated when empty)
};

// Who is sending, for distribution lists' sender rules (check_recipient).
struct Sender {
  std::string envelope_from;    // MAIL FROM ("" null sender)
  std::optional<Principal> user;  // after SMTP AUTH (submission ports); none on port 25
  // Believe envelope_from as an outside member of a members-only list without AUTH
  // (smtp.trust_envelope_sender_for_lists; off by default: anyone can forge it).
  bool trust_envelope = false;
};

// What a local address reaches (check_recipient): an account, or a distribution list.
struct LocalRecipient {
  AccountId account_id = 0;  // the account of the address (or of the alias); 0 for a list
  uint64_t list_id = 0;      // a list's directory id (kListIdBase + n, model/types.hpp); 0 for an account
  bool is_list() const { return list_id != 0; }
};

struct DeliveryReport {
  std::string blob_id;
  std::vector<RecipientOutcome> recipients;  // in the order given
  size_t delivered() const {
    size_t n = 0;
    for (const auto& r : recipients) if (!r.error) ++n;
    return n;
  }
};

struct AppendResult {
  MailboxId mailbox_id = 0;
  uint32_t uidvalidity = 0;
  Uid uid = 0;
  ModSeq modseq = 0;
};

class MailService {
 public:
  // REQUIRES: all references outlive the service. `clock` dates deliveries and notices
  // and moves the hourly sending window (tests pass a TestClock).
  MailService(Store& store, FsBlobStore& blobs, ChangeFeed& feed, MailLimits limits, Clock clock = {})
      : store_(store), blobs_(blobs), feed_(feed), limits_(limits), clock_(std::move(clock)) {}

  // Local delivery of `raw` to each recipient's INBOX. Recipients that are unknown or over
  // quota get their own error; the others are delivered. Errors of the call itself:
  // too_large, permission_denied (only the service may deliver), temporary (disk full).
  // `raw` is stored once (one blob) for every recipient. Each recipient's copy starts with
  // its own trace field, "Delivered-To: <the address as given>\r\n" (RFC 9228), kept with
  // its entry (MailboxEntry::trace) rather than in the shared blob, so that no recipient
  // sees another's address (Bcc). Several addresses of one account (aliases) get one copy,
  // traced with the first of them. The entry's size (quota) counts the trace.
  //
  // A recipient that is a distribution list (a static subset of PRODUCT.md M9) is expanded
  // here: the list's copy is the message with a List-Id field (RFC 2919) in front, stored
  // once (one blob) for every member: delivered to each local member's INBOX (an account
  // reached directly, or through an earlier list, gets no second copy) and queued for the
  // outside members (once each, whatever lists they are on) with the original envelope
  // sender (so non-delivery reports go to whoever wrote, as Exchange distribution groups
  // do). A message that already carries this list's
  // List-Id went through it before (a loop through a member's forwarding): it is not
  // expanded again (RecipientOutcome::list_loop). Sender rules are check_recipient's: call
  // it first.
  // `file`, when given, holds the same bytes as `raw` (a spooled SMTP message): the blob
  // is hashed and written from it a piece at a time, so a large message is never copied
  // into memory whole (FsBlobStore::put_with_id).
  Result<DeliveryReport> deliver(const Principal& by, std::span<const std::string> recipients,
                                 std::string_view raw, UnixTime internal_date = 0, const Envelope& envelope = {},
                                 const BlobSource* file = nullptr);

  // An operator injects a message (the admin API's POST deliver): national administrators
  // only; audited either way. Then as deliver().
  Result<DeliveryReport> inject(const Principal& by, std::span<const std::string> recipients, std::string_view raw);

  // True when `domain` (any case) is one of the service's own domains: mail for it is
  // delivered here, never relayed.
  bool is_local_domain(std::string_view domain);

  // For SMTP RCPT: may a message of `size` bytes (0: unknown yet) be delivered to this
  // local address? Errors: not_found (no such active mailbox), quota_exceeded (with the
  // plain reason). Answers for the address as given; aliases resolve to their account.
  Result<LocalRecipient> check_recipient(std::string_view address, uint64_t size);
  // The same with the sender known, which distribution lists need: for a list's address
  // the result names the list (LocalRecipient::list_id) when
  // `from` may send to it: anyone; people in the service (an authenticated sender, not
  // restricted); the list's members (an authenticated sender one of whose addresses is a
  // member, or, only when `from.trust_envelope`, on port 25 an envelope sender that is an
  // outside member: an address of the service's own domains must authenticate).
  // Otherwise permission_denied with the
  // reason (SMTP: 550 5.7.1). The two-argument form is a sender with neither.
  Result<LocalRecipient> check_recipient(std::string_view address, uint64_t size, const Sender& from);

  // Submission policy: may `by` put `from` in the envelope sender / From header? Own
  // address and aliases today; delegation (send as / on behalf) extends this function.
  // Refusals are audited.
  Status may_send_as(const Principal& by, std::string_view from);
  // Submission policy for the message itself: every mailbox of its From field (groups
  // included), its Sender and any Resent-From/Resent-Sender must be one `by` may send as
  // (may_send_as, each refusal audited). The header is read strictly (mime::originators):
  // no From, several From or Sender fields, an empty or unreadable one, or a header line
  // that is not a field are refused with invalid_argument (audited as "mail.send_as"
  // with the reason). Reply-To is not checked: it claims no authorship, and people
  // legitimately point replies elsewhere (a team address, a personal one).
  Status may_send_message_as(const Principal& by, std::string_view raw);

  // Submission to other domains: stores the message once and queues one outbound row per
  // recipient (durable on return). Only the service (the SMTP session, after it checked
  // AUTH and may_send_as) calls this.
  // `file`: as for deliver().
  Result<std::vector<OutboundEntry>> enqueue_remote(const Principal& by, std::span<const NewOutbound> rcpts,
                                                    std::string_view raw, const BlobSource* file = nullptr);
  // The raw bytes of a stored blob, verified (the outbound queue reads what it sends).
  Result<std::string> read_blob(const Principal& by, std::string_view blob_id);

  // Sending limits (PRODUCT.md S6). sending_allowed: is the account's sending suspended?
  // record_submission: counts one submitted message with `recipients` recipients; when it
  // passes the hourly limit, sending is suspended (until an administrator lifts it), the
  // event is audited, and the user and their organisation's administrators are told why.
  // Both return permission_denied with a message for the user.
  Status sending_allowed(const Principal& by);
  Status record_submission(const Principal& by, size_t recipients);

  // A plain-text notice from the service (Auto-Submitted) delivered to the INBOX of each
  // local address in `to`: sending suspended, password expiring. Fails only when it reached
  // nobody.
  Status send_notice(std::span<const std::string> to, std::string_view subject, std::string_view body);

  // IMAP APPEND / JMAP Email/import into one of the owner's mailboxes.
  Result<AppendResult> append(const Principal& by, AccountId owner, std::string_view mailbox, std::string_view raw,
                              uint32_t flags = 0, std::vector<std::string> keywords = {}, UnixTime internal_date = 0);

  // IMAP MULTIAPPEND (RFC 3502): every message or none, in one transaction, in order.
  struct NewAppend {
    std::string_view raw;
    uint32_t flags = 0;
    std::vector<std::string> keywords;
    UnixTime internal_date = 0;
  };
  Result<std::vector<AppendResult>> append_all(const Principal& by, AccountId owner, std::string_view mailbox,
                                               std::span<const NewAppend> msgs);

  Result<std::vector<Mailbox>> list_mailboxes(const Principal& by, AccountId owner);
  Result<Mailbox> mailbox(const Principal& by, AccountId owner, std::string_view name);
  Result<Mailbox> create_mailbox(const Principal& by, AccountId owner, std::string_view name);
  Result<Mailbox> mailbox_by_id(const Principal& by, MailboxId id);
  // CREATE ... (USE (\\Sent)) (RFC 6154): `special_use` "" or one of the special-use names.
  Result<Mailbox> create_mailbox(const Principal& by, AccountId owner, std::string_view name,
                                 std::string_view special_use);
  // The owner's subscribed names (RFC 9051 §6.3.7: names that need not exist), and
  // SUBSCRIBE / UNSUBSCRIBE of one. A name subscribed must be a valid mailbox name.
  Result<std::vector<std::string>> subscriptions(const Principal& by, AccountId owner);
  Status set_subscribed(const Principal& by, AccountId owner, std::string_view name, bool subscribed);
  // Entries added or changed after `modseq` (IMAP sessions catching up).
  Result<std::vector<MailboxEntry>> changed_since(const Principal& by, MailboxId id, ModSeq modseq);
  // UIDs expunged after `modseq` (IMAP QRESYNC VANISHED).
  Result<std::vector<Uid>> expunged_since(const Principal& by, MailboxId id, ModSeq modseq);
  // What a view of mailbox `id` as at `modseq` must learn: the mailbox as it is now and,
  // only when its highest modseq has moved, the entries changed and the UIDs expunged
  // since (changed_since and expunged_since under one authorisation: an IMAP session asks
  // after every command that follows a change).
  struct Changes {
    Mailbox mailbox;
    std::vector<MailboxEntry> changed;
    std::vector<Uid> vanished;
  };
  Result<Changes> changes_since(const Principal& by, MailboxId id, ModSeq modseq);
  // IMAP4rev1 \Recent: see Store::claim_recent (a read-write SELECT, and a selected
  // session learning of new messages) and Store::recent_count (STATUS RECENT).
  Result<UidRange> claim_recent(const Principal& by, MailboxId id, Uid last);
  Result<uint32_t> recent_count(const Principal& by, MailboxId id);
  Status delete_mailbox(const Principal& by, MailboxId id);
  Status rename_mailbox(const Principal& by, MailboxId id, std::string_view new_name);

  Result<std::vector<MailboxEntry>> list(const Principal& by, MailboxId id, UidRange range = {}, bool summaries = true);
  // Every entry's uid, flags, keywords and modseq only (Store::list_flags): an IMAP SELECT.
  Result<std::vector<MailboxEntry>> list_flags(const Principal& by, MailboxId id);
  // The message as the mailbox owner sees it: the entry's trace (MailboxEntry::trace, e.g.
  // its Delivered-To) followed by the stored message, verified against its checksum/tag;
  // MailboxEntry::size octets. Errc::corrupt is never turned into mail. Offsets in the
  // summary's body structure are relative to the stored message: add trace.size().
  Result<std::string> fetch(const Principal& by, MailboxId id, Uid uid);
  // (uid, raw top-level header) for the messages in `range` whose header is cached,
  // ascending uid: exactly the bytes fetch() would give up to where the body starts (IMAP
  // BODY[HEADER], as mime::summarize splits it), the entry's trace included. Messages left
  // out (header over 16 KB, stored before the cache existed, unparseable) must be read with
  // fetch().
  Result<std::vector<std::pair<Uid, std::string>>> headers(const Principal& by, MailboxId id, UidRange range);
  // Committed and visible on return, but not fsync'd: see Store::update_flags.
  Result<FlagResult> set_flags(const Principal& by, MailboxId id, std::span<const Uid> uids, const FlagUpdate& u);
  Result<CopyResult> copy(const Principal& by, MailboxId src, std::span<const Uid> uids, MailboxId dest);
  Result<CopyResult> move(const Principal& by, MailboxId src, std::span<const Uid> uids, MailboxId dest);
  Result<std::vector<Uid>> expunge(const Principal& by, MailboxId id, std::optional<std::vector<Uid>> uids = {});
  Result<QuotaUsage> quota(const Principal& by, AccountId owner);

  // The full-text index kept up to date after deliveries, APPENDs and copies between
  // accounts (nullptr: none, SEARCH scans). REQUIRES: outlives the service; set before use.
  void set_index(FullTextIndex* fts) { fts_ = fts; }
  FullTextIndex* index() const { return fts_; }

  // Mailbox names: 1..255 bytes of UTF-8, '/' separates levels, no empty level, no
  // control characters, no leading/trailing '/'. Shared by every front-end.
  static Status validate_mailbox_name(std::string_view name);

 private:
  // Why mail for `address` (looked up as `acct`) is not delivered: no account or a deleted
  // one (not_found), a disabled one (conflict), or the lookup's own error. nullopt: it
  // takes mail. The one mapping for deliver, list expansion and check_recipient.
  static std::optional<Error> refusal(const Result<Account>& acct, std::string_view address);
  // The RFC 9228 trace field of one local delivery to `address` (`primary`: the account's
  // own address, used should `address` not be fit for a header).
  static std::string delivered_to(std::string_view address, std::string_view primary);
  // A distribution list's sender rule (see check_recipient): permission_denied with the
  // reason when `from` may not send to `l` (core/list_expansion.cpp).
  Status may_send_to_list(const DistributionList& l, const Sender& from);
  // Owner-only for now; shared mailboxes and delegates (ACL) extend this one function.
  Status authorise_account(const Principal& by, AccountId owner, std::string_view action);
  Result<Mailbox> authorise_mailbox(const Principal& by, MailboxId id, std::string_view action);
  // A message made durable in the blob store, with its metadata. The pin keeps the blob
  // from garbage collection until the caller has committed a reference to it.
  struct Staged {
    NewMessage msg;
    std::unique_ptr<BlobPin> pin;
  };
  // Messages at least this large are parsed in parallel with their blob write.
  static constexpr size_t kParallelParseBytes = 32 * 1024;
  // Fills msg.header from `raw` and the summary just made of it.
  static void cache_header(std::string_view raw, NewMessage& msg);
  Result<Staged> stage(std::string_view raw, UnixTime internal_date, const BlobSource* file = nullptr);

  void index_copies(AccountId account, MailboxId dest, const CopyResult& r);
  // Expands list `l` (a recipient of `raw`, reported in `out`): see deliver(). `seen`: the
  // accounts that have a copy already; `queued`: the outside addresses queued already.
  // Members whose copy failed go to `failures`; `blob_id` is set to the list copy's when
  // still empty.
  Status expand_list(const DistributionList& l, RecipientOutcome& out, std::string_view raw, UnixTime internal_date,
                     const Envelope& envelope, std::set<AccountId>& seen, std::set<std::string>& queued,
                     std::vector<RecipientOutcome>& failures, std::string& blob_id);

  Store& store_;
  FsBlobStore& blobs_;
  std::mutex file_parse_mu_;  // one parse of a message in a file at a time (stage())
  FullTextIndex* fts_ = nullptr;
  ChangeFeed& feed_;
  const MailLimits limits_;
  // The clock of the sending window, of messages stored without a date and of notices.
  const Clock clock_;

  struct SendWindow {
    std::deque<std::pair<UnixTime, size_t>> sent;  // (when, recipients), last hour
    size_t recipients = 0;
    bool tripped = false;  // this window suspended the account; a lift starts afresh
  };
  std::mutex send_mu_;
  std::unordered_map<AccountId, SendWindow> send_windows_;  // guarded by send_mu_
};

}  // namespace caremail

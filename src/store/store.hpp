// Store: the metadata of the service (organisations, accounts, mailboxes, messages,
// per-mailbox entries, quota counters, the change log and the audit log).
//
// The interface is written so that a second backend (PostgreSQL, a later issue) passes the
// very same conformance suite (tests/store_conformance.cpp). Policy (who may do what) is
// not here: the core service layer decides, the store only keeps data consistent.
//
// Every method is thread-safe. Writes are durable when they return: they are committed
// by a group-commit writer that batches concurrent writers into one transaction and one
// fsync. The one exception is update_flags (see there): committed and visible on return,
// and safe from a process crash, but not yet fsync'd. Quota counters (per account) and
// mailbox counters are updated in the same transaction as the rows they count, so they
// are always exact.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "common/result.hpp"
#include "model/types.hpp"

namespace caremail {

struct NewOrganisation {
  std::string ods_code;
  std::string name;
  std::string short_name;
  std::vector<std::string> domains;
};

struct NewAccount {
  std::string address;
  std::string display_name;
  OrgId org_id = 0;
  AccountKind kind = AccountKind::person;
  std::vector<Role> roles{Role::user};
  std::string password_hash;
  uint64_t quota_bytes = 0;
  bool must_change_password = false;  // set by an administrator: changed at first sign-in
};

// A message whose blob is already durable in the BlobStore.
struct NewMessage {
  std::string blob_id;
  uint64_t size = 0;
  UnixTime internal_date = 0;
  MessageSummary summary;
  // The raw top-level header section (IMAP BODY[HEADER]: the fields and the blank line
  // that ends them), kept beside the metadata so that header fetches need not read and
  // decrypt the blob. Empty = not cached (too big, or not known): readers use the blob.
  // At most kMaxCachedHeader bytes. Like subject and addresses, stored in clear.
  std::string header;
  // Small messages: the blob record itself (FsBlobStore::seal_record, sealed like a blob
  // file), stored with the message row in the same transaction, so that the delivery's
  // one WAL fsync makes body and metadata durable together; no blob file is written.
  // Empty: the blob is in the BlobStore (put() returned before this commit).
  std::string inline_blob;
};

// Headers larger than this are not cached (real ones are 1-8 KB; a bigger one is rare
// and would bloat every page of the messages table it lands on).
inline constexpr size_t kMaxCachedHeader = 16 * 1024;

struct DeliveryTarget {
  AccountId account_id = 0;
  MailboxId mailbox_id = 0;      // 0 = the account's INBOX
  uint32_t flags = 0;
  std::vector<std::string> keywords;
  bool enforce_quota = true;
  // Header lines for this target's entry alone (MailboxEntry::trace), stored with the
  // entry, not in the shared message; "" for none. The store keeps the bytes as given;
  // the caller makes them header fields, each line CRLF-terminated. The entry's size, and
  // so quota and mailbox bytes, is NewMessage::size + trace.size().
  std::string trace;
};

// Outcome for one target of deliver().
struct Delivered {
  AccountId account_id = 0;
  MailboxId mailbox_id = 0;
  Uid uid = 0;
  ModSeq modseq = 0;
  uint32_t uidvalidity = 0;
  std::optional<Error> error;    // set when this target failed (e.g. quota_exceeded)
};

enum class FlagOp { add, remove, replace };

struct FlagUpdate {
  FlagOp op = FlagOp::add;
  uint32_t flags = 0;
  std::vector<std::string> keywords;
  std::optional<ModSeq> unchanged_since;  // CONDSTORE: skip entries modified after this
};

struct FlagResult {
  std::vector<MailboxEntry> updated;  // new flags and modseq
  std::vector<Uid> skipped;           // failed UNCHANGEDSINCE
};

struct CopyResult {
  uint32_t dest_uidvalidity = 0;
  std::vector<std::pair<Uid, Uid>> uids;  // source uid -> destination uid
};

struct UidRange {
  Uid first = 1;
  Uid last = UINT32_MAX;  // inclusive
};

struct QuotaCheck {
  AccountId account_id = 0;
  QuotaUsage counted;   // from the counters
  QuotaUsage actual;    // recomputed from the rows
};

struct NewOutbound {
  std::string queue_id;
  std::string sender;
  std::string recipient;
  uint32_t notify = kNotifyFailure | kNotifyDelay;
  std::string orcpt;
  std::string envid;
  bool ret_headers_only = false;
  bool require_tls = false;
};

class Store {
 public:
  virtual ~Store() = default;

  // --- organisations ---------------------------------------------------------
  virtual Result<Organisation> create_organisation(const NewOrganisation& o) = 0;
  virtual Result<Organisation> organisation(OrgId id) = 0;
  virtual Result<Organisation> organisation_by_ods(std::string_view ods_code) = 0;
  virtual Result<std::vector<Organisation>> list_organisations() = 0;
  // The organisation that owns `domain` (exact match, lower case).
  virtual Result<OrgId> organisation_for_domain(std::string_view domain) = 0;

  // --- accounts --------------------------------------------------------------
  // Creates the account, its quota counter and its default mailboxes (INBOX, Drafts,
  // Sent, Trash, Junk, Archive with their special-use roles) in one transaction.
  // Errc::already_exists when the address (or an alias) is taken.
  virtual Result<Account> create_account(const NewAccount& a) = 0;
  virtual Result<Account> account(AccountId id) = 0;
  // By address or alias, case-insensitive.
  virtual Result<Account> account_by_address(std::string_view address) = 0;
  // All accounts, or those of one organisation; ordered by address.
  virtual Result<std::vector<Account>> list_accounts(std::optional<OrgId> org) = 0;
  // Sets the password hash, its change time (`at`) and whether the next sign-in must change
  // it; clears the expiry reminder; records the hash in the history, keeping the newest
  // `keep_history` (at least 1). One transaction.
  virtual Status set_password_hash(AccountId id, std::string_view hash, UnixTime at, bool must_change,
                                   size_t keep_history) = 0;
  // Convenience for callers without a policy: now, no forced change, history of 4.
  Status set_password_hash(AccountId id, std::string_view hash) { return set_password_hash(id, hash, 0, false, 4); }
  // The newest `n` password hashes of the account (the current one first).
  virtual Result<std::vector<std::string>> password_history(AccountId id, size_t n) = 0;
  // Accounts (person and application) whose password was set before `before`, oldest first:
  // the expiry and reminder job.
  virtual Result<std::vector<Account>> accounts_with_password_set_before(UnixTime before, size_t limit) = 0;
  // nullopt clears it.
  virtual Status set_expiry_reminder_sent(AccountId id, std::optional<int> days) = 0;

  // --- sign-in: lockout, failures (see SignInService::sign_in) -------
  // Records a failure (fills id; at = now when 0).
  virtual Status record_auth_failure(const AuthFailure& f) = 0;
  // Newest first, at or after `since`.
  virtual Result<std::vector<AuthFailure>> auth_failures(AccountId id, UnixTime since, size_t limit) = 0;
  // Records a failure and appends `audit` to the audit log in one transaction (one
  // durable commit: a refused sign-in costs the same whether or not the account exists).
  virtual Status record_auth_failure(const AuthFailure& f, AuditEvent audit) = 0;
  // Familiar failures at or after `since` and after the last login or unlock (which clear
  // the count: failures recorded later, even within the same second, count).
  virtual Result<int64_t> count_auth_failures(AccountId id, UnixTime since) = 0;
  // Unfamiliar failures at or after `since` and after the last unlock (a login does not
  // clear them: the owner signing in must not give a stranger fresh attempts).
  virtual Result<int64_t> count_unfamiliar_failures(AccountId id, UnixTime since) = 0;
  // locked_until = `until` (0 unlocks); with `reset_failures`, the failures so far stop
  // counting (failures_reset_at = now), familiar and unfamiliar, and the unfamiliar-networks
  // lock ends too (an unlock lifts both).
  virtual Status set_locked_until(AccountId id, UnixTime until, bool reset_failures) = 0;
  // Smart lockout: sign-ins from unfamiliar networks refused until `until`.
  virtual Status set_unfamiliar_locked_until(AccountId id, UnixTime until) = 0;
  // A successful sign-in: last_login_at = at, and the familiar failures so far stop counting.
  virtual Status note_login(AccountId id, UnixTime at) = 0;
  // Networks the account signed in from at or after `since`, newest first.
  virtual Result<std::vector<FamiliarSource>> familiar_sources(AccountId id, UnixTime since) = 0;
  // A successful sign-in from `source` at `at`; forgets the account's sources last used
  // before `forget_before`, and all but the newest 100.
  virtual Status note_familiar_source(AccountId id, std::string_view source, UnixTime at, UnixTime forget_before) = 0;

  // --- app passwords --------------------------------------------------------------
  virtual Result<AppPassword> add_app_password(AccountId id, std::string_view name, std::string_view secret_hash) = 0;
  virtual Result<std::vector<AppPassword>> app_passwords(AccountId id) = 0;
  // The app password of `id` with this hash; Errc::not_found otherwise.
  virtual Result<AppPassword> app_password_by_hash(AccountId id, std::string_view secret_hash) = 0;
  virtual Status touch_app_password(int64_t app_id, UnixTime at, std::string_view protocol, std::string_view peer) = 0;
  // Errc::not_found when `app_id` is not one of the account's.
  virtual Status delete_app_password(AccountId id, int64_t app_id) = 0;

  // --- MFA and sessions ---------------------------------------------------------------
  virtual Status set_org_mfa_policy(OrgId id, bool required, const std::vector<std::string>& trusted_networks) = 0;
  // Errc::not_found when the account has no factor.
  virtual Result<MfaState> mfa(AccountId id) = 0;
  // Starts (or restarts) enrolment. Without an enabled factor: this secret, not enabled,
  // last_step 0, no recovery codes. With one: this secret becomes the pending replacement
  // and the enabled factor (and its recovery codes) stay in force until enable_mfa.
  virtual Status begin_mfa(AccountId id, std::string_view sealed_secret) = 0;
  // Enables the factor (promoting a pending replacement, if any, to be the secret) and
  // stores the recovery codes' hashes (replacing any), one transaction.
  virtual Status enable_mfa(AccountId id, int64_t step, std::span<const std::string> recovery_hashes) = 0;
  // Moves last_step forward to `step`; false (no error) when it is not past the stored one:
  // the same code (or an older one) used twice, e.g. by two sign-ins racing.
  virtual Result<bool> advance_mfa_step(AccountId id, int64_t step) = 0;
  // Removes the factor and its recovery codes.
  virtual Status delete_mfa(AccountId id) = 0;
  // (id, Argon2id hash) of the unused recovery codes.
  virtual Result<std::vector<std::pair<int64_t, std::string>>> recovery_codes(AccountId id) = 0;
  // false when it was already used (raced).
  virtual Result<bool> use_recovery_code(AccountId id, int64_t code_id) = 0;

  virtual Status create_session(const WebSession& s) = 0;
  virtual Result<WebSession> session(std::string_view token_hash) = 0;
  virtual Status touch_session(std::string_view token_hash, UnixTime at) = 0;
  virtual Status delete_session(std::string_view token_hash) = 0;
  // Every session of the account (password change, lock, disable).
  // `except`: a token hash to keep (the session that changed the password).
  virtual Status delete_sessions(AccountId id, std::string_view except = {}) = 0;

  // --- Acceptable Use Policy --------------------------------------------------------
  // Publishes a new version (numbered 1, 2, ...).
  virtual Result<AupVersion> publish_aup(std::string_view text, std::string_view by) = 0;
  // The newest version; Errc::not_found when none was ever published.
  virtual Result<AupVersion> current_aup() = 0;
  virtual Status set_aup_version(AccountId id, int version) = 0;
  // --- life cycle (PRODUCT.md A2, A3, A6) ----------------------------------------------
  // Sets the state and state_changed_at. Leaving `leaver` clears leaver_from.
  virtual Status set_account_state(AccountId id, AccountState state, UnixTime at) = 0;
  virtual Status set_roles(AccountId id, std::span<const Role> roles) = 0;
  // A leaver: state leaver, roles only `user`, quota `quota_bytes`, leaver_from = its
  // organisation now. One transaction.
  virtual Status mark_leaver(AccountId id, uint64_t quota_bytes, UnixTime at) = 0;
  // A joiner: the account moves to `org` and is active again (leaver_from cleared).
  virtual Status move_account(AccountId id, OrgId org, UnixTime at) = 0;
  virtual Status set_legal_hold(AccountId id, bool hold) = 0;
  // Display name and the organisation's own identifier (SCIM externalId); nullopt: unchanged.
  virtual Status set_profile(AccountId id, const std::optional<std::string>& display_name,
                             const std::optional<std::string>& external_id) = 0;
  // Removes an alias (never the primary address); it stays reserved until `reusable_at`.
  // Errc::not_found when it is not one of the account's aliases.
  virtual Status remove_alias(AccountId id, std::string_view alias, UnixTime at, UnixTime reusable_at) = 0;
  // Person and application accounts in `state` not signed in since `before`: the later of
  // last_login_at and state_changed_at is before it. With `aup_published`, an account that
  // never accepted an Acceptable Use Policy counts from state_changed_at only (its
  // restricted sign-ins do not keep it alive). Oldest first, at most `limit`.
  virtual Result<std::vector<Account>> accounts_idle(AccountState state, UnixTime before, bool aup_published,
                                                     size_t limit) = 0;
  // Accounts in `state` whose state changed before `before`, oldest first; never those on
  // legal hold (this feeds the steps towards deletion).
  virtual Result<std::vector<Account>> accounts_in_state_since(AccountState state, UnixTime before, size_t limit) = 0;
  // Removes the account and everything it still owns (delete its mailboxes first: this
  // refuses with Errc::conflict while it has any). Its addresses are kept from anyone
  // else until release_addresses passes `reusable_at`.
  virtual Status forget_account(AccountId id, UnixTime at, UnixTime reusable_at) = 0;
  // When a removed account's (or alias's, or deleted list's) address may be used again;
  // Errc::not_found when it is free. create_account, add_alias and create_list refuse such
  // an address (Errc::already_exists).
  virtual Result<UnixTime> address_reserved_until(std::string_view address) = 0;
  // Frees addresses whose reservation ended before `before`; returns how many.
  virtual Result<int> release_addresses(UnixTime before) = 0;
  // Closure or merger (PRODUCT.md A3): every account and domain of `id` moves to
  // `successor`; organisation-scoped roles (administrators, helpdesk, authoriser, auditor)
  // are removed from the moved accounts; its distribution lists and directory contacts move
  // too (a contact whose address the successor already lists is dropped), each noted in the
  // directory change log; `id` is closed. One transaction.
  virtual Status close_organisation(OrgId id, OrgId successor, UnixTime at) = 0;
  virtual Status set_quota_allowance(OrgId id, int accounts) = 0;
  // How many accounts of `org` other than `except` have a quota above their kind's default.
  virtual Result<int> count_large_quotas(OrgId org, uint64_t person_default, uint64_t shared_default,
                                         AccountId except) = 0;

  // --- directory (PRODUCT.md D1-D3) ------------------------------------------------------
  // Errc::not_found when the account has said nothing yet.
  virtual Result<DirectoryProfile> directory_profile(AccountId id) = 0;
  // Every profile (the directory's start-up load).
  virtual Result<std::vector<std::pair<AccountId, DirectoryProfile>>> directory_profiles() = 0;
  virtual Status set_directory_profile(AccountId id, const DirectoryProfile& p, UnixTime at) = 0;
  // Appends to the change log (the export cursor); returns its sequence number.
  virtual Result<int64_t> note_directory_change(AccountId id, UnixTime at) = 0;
  // Accounts changed after `after_seq`, oldest first, each once with its newest sequence
  // number, at most `limit`.
  virtual Result<std::vector<std::pair<int64_t, AccountId>>> directory_changes(int64_t after_seq, size_t limit) = 0;
  virtual Result<int64_t> last_directory_change() = 0;
  // Listed candidates for a full export: account ids above `after`, ascending, at most `limit`.
  virtual Result<std::vector<AccountId>> account_ids(AccountId after, size_t limit) = 0;
  virtual Status set_sharing_agreement(OrgId id, bool approved) = 0;

  // --- directory contacts and distribution lists (PRODUCT.md D1, M9) ----------------------
  // Every write below also appends the entry's directory id to the directory change log
  // (the export cursor), in the same transaction; member changes do not (members are not
  // part of the directory entry).
  //
  // Fills id, created_at and updated_at (= at). Errc::already_exists when the organisation
  // already lists that address; invalid_argument when the organisation does not exist.
  virtual Result<DirectoryContact> create_contact(const DirectoryContact& c, UnixTime at) = 0;
  virtual Result<DirectoryContact> contact(int64_t id) = 0;
  // Every contact (org: nullopt) or one organisation's, ordered by address.
  virtual Result<std::vector<DirectoryContact>> contacts(std::optional<OrgId> org) = 0;
  // The contacts with this address (any case), in any organisation, by id.
  virtual Result<std::vector<DirectoryContact>> contacts_by_address(std::string_view address) = 0;
  // Replaces address, display name and profile of contact c.id. not_found, already_exists.
  virtual Status update_contact(const DirectoryContact& c, UnixTime at) = 0;
  virtual Status delete_contact(int64_t id, UnixTime at) = 0;

  // Fills id and created_at; the members given are added too. Errc::already_exists when
  // the address is an account's, an alias, another list's, or retired and not yet
  // reusable (the one address namespace: create_account and add_alias refuse a list's
  // address in turn).
  virtual Result<DistributionList> create_list(const DistributionList& l, UnixTime at) = 0;
  virtual Result<DistributionList> list(int64_t id) = 0;
  // By address (any case); not_found when no list has it.
  virtual Result<DistributionList> list_by_address(std::string_view address) = 0;
  // Every list (org: nullopt) or one organisation's, ordered by address, with members.
  virtual Result<std::vector<DistributionList>> lists(std::optional<OrgId> org) = 0;
  // Display name, hidden and senders of list l.id (its address and members stay).
  virtual Status update_list(const DistributionList& l, UnixTime at) = 0;
  // Adds (present) or removes a member; returns whether anything changed. not_found when
  // there is no such list.
  virtual Result<bool> set_list_member(int64_t id, std::string_view member, bool present) = 0;
  // Removes the list and its members; its address is reserved until `reusable_at`
  // (address_reserved_until answers for it).
  virtual Status delete_list(int64_t id, UnixTime at, UnixTime reusable_at) = 0;
  // Directory ids of contacts and lists above `after`, ascending, at most `limit`: the rest
  // of a full export after the accounts (their ids are all above every account id).
  virtual Result<std::vector<uint64_t>> entry_ids(uint64_t after, size_t limit) = 0;

  // --- self-service reset and helpdesk checks (PRODUCT.md S4) ----------------------------
  // Replaces the account's security questions: (question, Argon2id PHC of the answer).
  virtual Status set_security_questions(AccountId id, std::span<const std::pair<std::string, std::string>> qa) = 0;
  virtual Result<std::vector<std::pair<std::string, std::string>>> security_questions(AccountId id) = 0;
  virtual Status set_account_secret(AccountId id, std::string_view phc, UnixTime at) = 0;
  // Errc::not_found when none is set.
  virtual Result<std::string> account_secret(AccountId id) = 0;

  virtual Status add_alias(AccountId id, std::string_view alias) = 0;
  virtual Status set_quota_limit(AccountId id, uint64_t bytes) = 0;
  virtual Status set_sending_suspended(AccountId id, bool suspended) = 0;

  // --- API tokens (stored as SHA-256 of the token) --------------------------
  // Created now, ending at `expires_at`; Errc::already_exists when the hash is taken.
  virtual Result<ApiToken> add_api_token(AccountId id, std::string_view token_hash, std::string_view name,
                                         UnixTime expires_at) = 0;
  // The token with this hash, expired or not (the caller checks expires_at);
  // Errc::unauthenticated when there is none.
  virtual Result<ApiToken> api_token(std::string_view token_hash) = 0;
  // The account's tokens, expired ones included, oldest first.
  virtual Result<std::vector<ApiToken>> api_tokens(AccountId id) = 0;
  virtual Status touch_api_token(int64_t token_id, UnixTime at) = 0;
  // Errc::not_found when `token_id` is not one of the account's.
  virtual Status delete_api_token(AccountId id, int64_t token_id) = 0;
  // A password reset or change, in one transaction: every web session and API token of the
  // account ends but the one whose hash is given (empty: none is kept), and with
  // `app_passwords` every app password. Returns how many of each went.
  virtual Result<RevokedCredentials> revoke_credentials(AccountId id, std::string_view keep_session_hash,
                                                        std::string_view keep_token_hash, bool app_passwords) = 0;

  // --- mailboxes -------------------------------------------------------------
  virtual Result<std::vector<Mailbox>> list_mailboxes(AccountId id) = 0;
  // By name; "INBOX" matches case-insensitively.
  virtual Result<Mailbox> mailbox(AccountId id, std::string_view name) = 0;
  virtual Result<Mailbox> mailbox_by_id(MailboxId id) = 0;
  virtual Result<Mailbox> create_mailbox(AccountId id, std::string_view name, std::string_view special_use) = 0;
  // Removes the mailbox and everything in it (counters follow).
  virtual Status delete_mailbox(MailboxId id) = 0;
  virtual Status rename_mailbox(MailboxId id, std::string_view new_name) = 0;

  // --- subscriptions (RFC 9051 §6.3.7) ---------------------------------------------
  // Names, not mailboxes: a subscription outlives its mailbox's DELETE and may name a
  // mailbox that does not exist. rename_mailbox moves the subscriptions of the name and of
  // its inferiors with it. Mailbox::subscribed tells whether the mailbox's name is one.
  virtual Result<std::vector<std::string>> subscriptions(AccountId id) = 0;
  // Adds (idempotent) or removes (no error when absent) `name`. Adding fails with
  // Errc::too_large when the account already has kMaxSubscriptions: subscribing needs no
  // mailbox, so without a bound one client could grow the table without end.
  static constexpr size_t kMaxSubscriptions = 10000;
  virtual Status set_subscribed(AccountId id, std::string_view name, bool subscribed) = 0;
  // IMAP4rev1 \Recent (RFC 3501 2.3.2): a session takes the messages up to `last` that no
  // session has been told about yet. Returns the UIDs it got, [first, last] (first > last:
  // none) and moves Mailbox::first_recent_uid past `last`, atomically, so that each message
  // is recent in one session only. Committed like update_flags (not fsync'd: losing it
  // to an OS crash only shows a few messages as recent again).
  virtual Result<UidRange> claim_recent(MailboxId id, Uid last) = 0;
  // How many messages have a UID at or above Mailbox::first_recent_uid (STATUS RECENT).
  virtual Result<uint32_t> recent_count(MailboxId id) = 0;

  // --- messages --------------------------------------------------------------
  // Adds one message to every target in one transaction: one messages row (one blob) for
  // all of them, one entry per target carrying that target's trace. Per-target failures
  // (quota, checked for the entry's size: message plus trace) are reported in
  // Delivered::error and do not stop the others; the call itself fails only when nothing
  // could be committed (Errc::temporary on disk full).
  virtual Result<std::vector<Delivered>> deliver(const NewMessage& m, std::span<const DeliveryTarget> targets) = 0;
  // Message i to target i, all or none, in one transaction (IMAP MULTIAPPEND, RFC 3502):
  // the first failure of any (quota included) fails the call and nothing is added; a
  // blob stored for the messages beforehand is then recorded dead unless something else
  // holds it. REQUIRES: msgs.size() == targets.size(). Delivered::error is never set.
  virtual Result<std::vector<Delivered>> deliver_all(std::span<const NewMessage> msgs,
                                                     std::span<const DeliveryTarget> targets) = 0;

  // Entries with uid in `range`, ascending. With `summaries`, MailboxEntry::summary is filled
  // (trace and size always are).
  virtual Result<std::vector<MailboxEntry>> list_entries(MailboxId id, UidRange range, bool summaries) = 0;
  virtual Result<MailboxEntry> entry(MailboxId id, Uid uid) = 0;
  // Every entry with only uid, flags, keywords and modseq filled, ascending UID: what an
  // IMAP SELECT builds its view from. No message row is read (at 100,000 messages the
  // join list_entries makes doubled SELECT's time).
  virtual Result<std::vector<MailboxEntry>> list_flags(MailboxId id) = 0;
  // Entries added or changed after `modseq` (their modseq is higher), ascending UID, without
  // summaries: what an IMAP session must catch up on (expunges: expunged_since).
  virtual Result<std::vector<MailboxEntry>> changed_since(MailboxId id, ModSeq modseq) = 0;
  // (uid, entry's trace + cached header) of the entries with uid in `range` whose message
  // has a cached header (NewMessage::header non-empty), ascending uid: the top-level header
  // as the mailbox owner sees it. Entries without one are left out: the caller reads their
  // blob. list_entries never loads the header.
  virtual Result<std::vector<std::pair<Uid, std::string>>> headers(MailboxId id, UidRange range) = 0;
  // Flag and keyword changes are committed with relaxed durability: on return the change
  // is committed and visible to every reader and survives a crash of this process, but it
  // is not yet fsync'd; the next durable commit (any other write) or WAL checkpoint makes
  // it so. An operating-system crash or power loss can lose the latest flag changes (the
  // database stays consistent: what survives is a prefix of the commits), and their
  // modseqs with them, so a CONDSTORE client may hold a HIGHESTMODSEQ the server has not.
  // Flags are a client's state, not accepted mail, and an fsync per IMAP STORE was the
  // dominant cost of flag changes (Dovecot does not fsync them by default either).
  // Everything else, deliveries, appends, copies and expunges included, stays durable.
  // See docs/ARCHITECTURE.md, "Durability and group commit".
  virtual Result<FlagResult> update_flags(MailboxId id, std::span<const Uid> uids, const FlagUpdate& u) = 0;
  // Copies (or moves) the listed uids into `dest` (same account or another: quota of the
  // destination account is checked for the total, all or nothing: Errc::quota_exceeded).
  // A copy keeps the entry's trace (and so its size).
  virtual Result<CopyResult> copy(MailboxId src, std::span<const Uid> uids, MailboxId dest, bool move) = 0;
  // Removes entries flagged \Deleted (all of them, or only those in `uids`). Returns the
  // removed uids. Blobs whose last reference went are queued for deletion.
  virtual Result<std::vector<Uid>> expunge(MailboxId id, std::optional<std::vector<Uid>> uids) = 0;

  // --- quota -----------------------------------------------------------------
  virtual Result<QuotaUsage> quota(AccountId id) = 0;
  // Recomputes every account's usage from the rows (for the crash test and fsck).
  virtual Result<std::vector<QuotaCheck>> verify_quota() = 0;

  // --- change log ------------------------------------------------------------
  virtual Result<std::vector<Change>> changes_since(AccountId id, int64_t seq, size_t limit) = 0;
  virtual Result<int64_t> last_change_seq() = 0;
  // UIDs expunged from the mailbox with a modseq above `modseq`, ascending (QRESYNC).
  virtual Result<std::vector<Uid>> expunged_since(MailboxId id, ModSeq modseq) = 0;

  // --- audit (append-only, hash-chained) --------------------------------------
  // Fills id, at (when 0) and hash.
  virtual Result<AuditEvent> append_audit(AuditEvent e) = 0;
  virtual Result<std::vector<AuditEvent>> audit_events(std::optional<OrgId> org, int64_t after_id, size_t limit) = 0;
  // Recomputes the chain; the id of the first event whose hash does not match, or 0.
  virtual Result<int64_t> verify_audit_chain() = 0;

  // --- blob garbage ------------------------------------------------------------
  // Blob ids no message refers to any more (queued by expunge/delete).
  virtual Result<std::vector<std::string>> dead_blobs(size_t limit) = 0;
  // Forgets a dead blob after the BlobStore removed it. No-op if it came back to life.
  virtual Status forget_dead_blob(std::string_view id) = 0;
  // True if some message refers to the blob.
  virtual Result<bool> blob_referenced(std::string_view id) = 0;
  // The blob record stored with its message row (NewMessage::inline_blob); nullopt when
  // the blob is not stored inline (it is a BlobStore file, or unknown).
  virtual Result<std::optional<std::string>> inline_blob(std::string_view id) = 0;

  // --- outbound queue ----------------------------------------------------------
  // Queues one row per recipient; each row holds a reference to the message (so its blob
  // lives until the last row completes). Durable on return; next attempt is `now`.
  virtual Result<std::vector<OutboundEntry>> enqueue(const NewMessage& m, std::span<const NewOutbound> rcpts) = 0;
  // Rows due at `now` that no runner holds, leased to the caller for `lease_seconds`
  // (a runner that dies releases them when the lease runs out). Oldest first.
  virtual Result<std::vector<OutboundEntry>> claim_due(UnixTime now, size_t limit, int lease_seconds) = 0;
  // After a failed attempt: when to try again, what happened, releases the lease.
  virtual Status reschedule(int64_t id, UnixTime next_attempt_at, int attempts, std::string_view last_error,
                            bool delay_notified) = 0;
  // Delivered, bounced or expired: removes the row and drops its message reference.
  virtual Status complete_outbound(int64_t id) = 0;
  virtual Result<std::vector<OutboundEntry>> list_outbound(size_t limit) = 0;

  // --- group commit ------------------------------------------------------------
  // Runs once per commit batch, before the transaction commits; a failure aborts the
  // batch (every writer in it gets the error). Used to sync the BlobStore directories.
  virtual void set_pre_commit_hook(std::function<Status()> hook) = 0;
};

}  // namespace caremail

// Domain types shared by the store, the core and the front-ends. Plain data: no I/O.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace caremail {

using OrgId = int64_t;
using AccountId = int64_t;
using MailboxId = int64_t;
using MessageId = int64_t;
using Uid = uint32_t;
using ModSeq = uint64_t;
using UnixTime = int64_t;  // seconds since the epoch, UTC

enum class AccountKind { person, shared, application };
enum class AccountState { active, inactive, leaver, disabled, deleted };

// PRODUCT.md A2b. Stored as text; parse/format in model/names.cpp.
enum class Role {
  user,
  local_admin,
  primary_local_admin,
  local_helpdesk,
  authoriser,
  auditor,
  national_admin,
  national_helpdesk,
};

struct Organisation {
  OrgId id = 0;
  std::string ods_code;   // national organisation code, upper case
  std::string name;
  std::string short_name; // prefix for shared mailbox addresses
  std::vector<std::string> domains;
  bool open = true;
  UnixTime created_at = 0;
  // MFA for everyone in the organisation (administrators always need it), except from
  // these networks ("10.0.0.0/8", "2001:db8::/32") when the organisation chooses.
  bool mfa_required = false;
  std::vector<std::string> trusted_networks;
  // Closure or merger (PRODUCT.md A3): the organisation its accounts and domains moved to.
  OrgId successor_id = 0;
  UnixTime closed_at = 0;
  // How many of its mailboxes may have more than the national default quota (PRODUCT.md
  // A1: the national allowance of larger quotas); set by national administrators.
  int large_quota_allowance = 0;
  // Bulk directory export allowed (PRODUCT.md D2): an approved sharing agreement, set by an
  // authoriser.
  bool sharing_agreement = false;
};

// What a person (or their administrator) says about them in the directory (PRODUCT.md D1).
struct DirectoryProfile {
  std::string title;        // "Dr", "Mrs"
  std::string given_name;
  std::string surname;
  std::string job_role;
  std::string speciality;
  std::string work_area;
  std::string unit;
  std::string site;
  std::string telephone;
  std::string mobile;
  std::string pager;
  std::string fax;
  std::string notes;
  bool hidden = false;         // not listed, except to the organisation's administrators
  bool mobile_hidden = false;  // the mobile shown only to them
  bool operator==(const DirectoryProfile&) const = default;
};

// Directory ids (DirectoryEntry::id, the bulk export's ids, directory_changes.account_id)
// share one 64-bit space: accounts use their row id (below 2^40), the benchmarks'
// synthetic entries 2^40 + n, directory contacts kContactIdBase + their row id, and
// distribution lists kListIdBase + theirs. Below 2^53, so every id survives JSON numbers.
inline constexpr uint64_t kContactIdBase = uint64_t{1} << 44;
inline constexpr uint64_t kListIdBase = uint64_t{1} << 45;
inline constexpr uint64_t kDirectoryIdMax = uint64_t{1} << 46;
inline bool is_contact_id(uint64_t id) { return id >= kContactIdBase && id < kListIdBase; }
inline bool is_list_id(uint64_t id) { return id >= kListIdBase && id < kDirectoryIdMax; }

// A directory contact (PRODUCT.md D1): someone outside the service whom an organisation
// lists in the directory (a practice's external partner). No mailbox, no sign-in: an entry
// only. The address is external and need not be unique across organisations; within one
// organisation it is.
struct DirectoryContact {
  int64_t id = 0;  // row id; the directory id is kContactIdBase + id
  OrgId org_id = 0;
  std::string address;       // lower case
  std::string display_name;  // "Dr Ana Costa (Riverside Physiotherapy)"
  DirectoryProfile profile;  // title, names, role, ..., notes, hidden, mobile_hidden
  UnixTime created_at = 0;
  UnixTime updated_at = 0;
  uint64_t directory_id() const { return kContactIdBase + static_cast<uint64_t>(id); }
  bool operator==(const DirectoryContact&) const = default;
};

// Who may send to a distribution list.
enum class ListSenders {
  anyone,   // any sender, from the internet too
  service,  // people signed in to the service (authenticated submission)
  members,  // the list's own members only
};

// A static distribution list (PRODUCT.md M9, without the approval workflow, owners,
// moderation and dynamic lists, which come later). Its address is in the organisation's
// domains and shares the account/alias namespace: no account, alias or retired address may
// have it, and deleting the list retires it like an alias.
struct DistributionList {
  int64_t id = 0;  // row id; the directory id is kListIdBase + id
  OrgId org_id = 0;
  std::string address;  // lower case
  std::string display_name;
  bool hidden = false;  // not in the directory (except to the organisation's administrators)
  ListSenders senders = ListSenders::service;
  std::vector<std::string> members;  // addresses, lower case, sorted: local or external
  UnixTime created_at = 0;
  uint64_t directory_id() const { return kListIdBase + static_cast<uint64_t>(id); }
  bool operator==(const DistributionList&) const = default;
};

struct Account {
  AccountId id = 0;
  std::string address;  // the address for life, lower case
  std::string display_name;
  OrgId org_id = 0;
  AccountKind kind = AccountKind::person;
  AccountState state = AccountState::active;
  std::vector<Role> roles;       // always contains at least Role::user
  std::string password_hash;     // Argon2id PHC string; empty = cannot log in
  uint64_t quota_bytes = 0;      // limit for all its mailboxes together
  std::vector<std::string> aliases;
  UnixTime created_at = 0;
  bool sending_suspended = false;  // excessive activity (PRODUCT.md S6) until an admin lifts it
  // Identity (PRODUCT.md S4, S5): when the password was last set; an administrator's reset
  // forces a change before the account is used; the last expiry reminder sent (days before
  // expiry; unset: none since the last change); lockout; the Acceptable Use Policy version
  // accepted (0: none); the last successful sign-in (to the hour).
  UnixTime password_changed_at = 0;
  bool must_change_password = false;
  std::optional<int> expiry_reminder_sent;
  UnixTime locked_until = 0;       // sign-in refused until then (0: not locked)
  // Smart lockout (schema v16): sign-in from networks the account has not signed in from
  // recently refused until then (0: not locked); see SignInService::sign_in.
  UnixTime unfamiliar_locked_until = 0;
  UnixTime failures_reset_at = 0;  // failures before this do not count towards a lockout
  int aup_version = 0;
  UnixTime last_login_at = 0;
  // Life cycle (PRODUCT.md A2, A6): when the state last changed (creation included); the
  // organisation that marked the account a leaver (0: not a leaver); legal hold keeps it
  // from being deleted.
  UnixTime state_changed_at = 0;
  OrgId leaver_from = 0;
  bool legal_hold = false;
  // The organisation's own directory's identifier for the person (SCIM externalId).
  std::string external_id;

  bool has_role(Role r) const {
    for (Role x : roles) if (x == r) return true;
    return false;
  }
};

// One refused sign-in, kept so that the person and their administrator can see which
// device keeps using an old password (PRODUCT.md S4).
struct AuthFailure {
  int64_t id = 0;
  AccountId account_id = 0;
  UnixTime at = 0;
  std::string protocol;  // "imap", "smtp", "http", "ldap"
  std::string peer;      // client IP address
  std::string client;    // what the client called itself: IMAP ID name, EHLO name, User-Agent
  std::string reason;    // "password", "locked", "expired", ...
  // From a network where the account signed in successfully lately (schema v16): counts
  // towards the whole-account lockout; otherwise towards the unfamiliar-networks one.
  bool familiar = true;
};

// A network an account signed in from successfully (smart lockout, schema v16):
// "192.0.2.0/24" or "2001:db8:1:2::/64", and when last.
struct FamiliarSource {
  std::string source;
  UnixTime last_success_at = 0;
};

// A password for one IMAP/SMTP client that cannot do MFA (PRODUCT.md S4): generated by the
// service (high entropy, so stored as SHA-256 like API tokens), named, revocable.
struct AppPassword {
  int64_t id = 0;
  AccountId account_id = 0;
  std::string name;
  UnixTime created_at = 0;
  UnixTime last_used_at = 0;  // 0: never
  std::string last_used_protocol;
  std::string last_used_peer;
};

// An account's TOTP factor (PRODUCT.md S4). The secret is sealed with the service key.
struct MfaState {
  AccountId account_id = 0;
  std::string sealed_secret;
  bool enabled = false;     // false: enrolment started, not confirmed with a code
  // A replacement being set up while the current factor stays in force ("" none).
  std::string sealed_pending;
  int64_t last_step = 0;    // the last accepted TOTP time step (replays refused)
  UnixTime created_at = 0;
};

// A signed-in web or API session (cookie), stored as the SHA-256 of its token.
struct WebSession {
  std::string token_hash;
  AccountId account_id = 0;
  std::string csrf_hash;    // SHA-256 of the CSRF token the client echoes on changes
  UnixTime created_at = 0;
  UnixTime last_seen_at = 0;
  int idle_seconds = 0;     // ends after this long without a request
  UnixTime expires_at = 0;  // and at the latest then
  bool public_computer = false;
  bool mfa = false;         // a second factor was given at sign-in
  std::string peer;
  std::string user_agent;
};

// An API token (scripts, caremailctl), stored as the SHA-256 of the token (the token itself
// is shown once). It authenticates nothing from expires_at on.
struct ApiToken {
  int64_t id = 0;
  AccountId account_id = 0;
  std::string name;
  UnixTime created_at = 0;
  UnixTime expires_at = 0;
  UnixTime last_used_at = 0;  // 0: never; written at most once a minute
};

// What a password reset or change took away from the account (Store::revoke_credentials).
struct RevokedCredentials {
  int64_t sessions = 0;
  int64_t api_tokens = 0;
  int64_t app_passwords = 0;
};

// One version of the Acceptable Use Policy (PRODUCT.md S5).
struct AupVersion {
  int version = 0;
  std::string text;
  UnixTime published_at = 0;
  std::string published_by;
};

// IMAP system flags as a bit set; \Recent is per session and never stored.
enum Flag : uint32_t {
  kSeen = 1u << 0,
  kAnswered = 1u << 1,
  kFlagged = 1u << 2,
  kDeleted = 1u << 3,
  kDraft = 1u << 4,
};
constexpr uint32_t kAllFlags = kSeen | kAnswered | kFlagged | kDeleted | kDraft;

struct Mailbox {
  MailboxId id = 0;
  AccountId account_id = 0;
  std::string name;        // hierarchy separator '/', "INBOX" is case-insensitive
  std::string special_use; // "" or one of \Sent \Drafts \Trash \Junk \Archive (RFC 6154); INBOX has ""
  uint32_t uidvalidity = 0;
  Uid uidnext = 1;
  ModSeq highest_modseq = 1;
  bool subscribed = true;
  uint32_t messages = 0;   // exact counts, maintained with every change
  uint32_t unseen = 0;
  uint64_t bytes = 0;
  // IMAP4rev1 \Recent (RFC 3501 2.3.2): messages with a lower UID have been reported to
  // some session as recent already (or were there before schema v17).
  Uid first_recent_uid = 1;
};

// What the core parsed from a message's headers at delivery, for fast listing.
struct MessageSummary {
  std::string subject;      // decoded to UTF-8
  std::string from;         // as in the header, decoded
  std::string to;
  std::string cc;
  std::string date;         // the Date header as sent
  UnixTime sent_at = 0;     // Date header parsed; 0 when absent or unparseable
  std::string message_id;
  std::string in_reply_to;
  std::string references;
  bool has_attachments = false;
  std::string body_structure;  // JSON, see mime/mime.hpp
};

struct MailboxEntry {
  MailboxId mailbox_id = 0;
  Uid uid = 0;
  MessageId message_id = 0;
  std::string blob_id;      // SHA-256 hex of the stored (shared) message
  // Header lines of this entry alone, shown before the shared message: the message as the
  // mailbox owner sees it is `trace` followed by the blob's bytes. Local delivery puts the
  // RFC 9228 "Delivered-To: <address>\r\n" here (a message to many mailboxes is stored once,
  // so a per-recipient field cannot be in the blob without showing Bcc recipients to each
  // other). Empty for APPENDed messages and those delivered before schema v7; kept by
  // copy and move. Every line CRLF-terminated.
  std::string trace;
  uint64_t size = 0;        // octets of trace + blob (IMAP RFC822.SIZE, quota, mailbox bytes)
  UnixTime internal_date = 0;
  uint32_t flags = 0;
  std::vector<std::string> keywords;  // sorted, unique
  ModSeq modseq = 0;
  MessageSummary summary;   // filled when asked for (list_entries with summaries)
};

struct QuotaUsage {
  uint64_t bytes = 0;
  uint64_t messages = 0;
  uint64_t limit_bytes = 0;
};

enum class ChangeKind { message_added, flags_changed, message_expunged, mailbox_created, mailbox_deleted, mailbox_renamed };

// One row of the change log: drives IMAP IDLE, CONDSTORE/QRESYNC and, later, JMAP push.
struct Change {
  int64_t seq = 0;          // global, increasing
  AccountId account_id = 0;
  MailboxId mailbox_id = 0;
  ChangeKind kind = ChangeKind::message_added;
  Uid uid = 0;
  ModSeq modseq = 0;
};

struct AuditEvent {
  int64_t id = 0;
  UnixTime at = 0;
  std::string actor;      // address of who acted, or "system"
  OrgId actor_org = 0;
  std::string action;     // dotted name: "account.create", "mailbox.read_other"
  std::string target;     // what was acted on
  OrgId target_org = 0;
  std::string outcome;    // "ok" or "denied" or an error code
  std::string detail;     // JSON object, never secrets
  std::string hash;       // hex SHA-256 over the previous hash and this event
};

// DSN NOTIFY (RFC 3461) as bits.
enum Notify : uint32_t {
  kNotifySuccess = 1u << 0,
  kNotifyFailure = 1u << 1,
  kNotifyDelay = 1u << 2,
  kNotifyNever = 1u << 3,
};

// One recipient of a message waiting in the outbound queue.
struct OutboundEntry {
  int64_t id = 0;
  std::string queue_id;        // the submission's id, in every log line
  MessageId message_id = 0;
  std::string blob_id;
  uint64_t size = 0;
  std::string sender;          // envelope MAIL FROM; "" for a bounce
  std::string recipient;
  std::string domain;          // lower case
  uint32_t notify = kNotifyFailure | kNotifyDelay;
  std::string orcpt;           // original recipient (DSN), may be empty
  std::string envid;           // envelope id (DSN), may be empty
  bool ret_headers_only = false;
  bool require_tls = false;    // never sent without verified TLS
  UnixTime created_at = 0;
  UnixTime next_attempt_at = 0;
  int attempts = 0;
  std::string last_error;      // what the far side (or the network) said last
  bool delay_notified = false;
};

std::string_view to_string(AccountKind k);
std::string_view to_string(AccountState s);
std::string_view to_string(Role r);
std::string_view to_string(ChangeKind k);
std::optional<AccountKind> parse_account_kind(std::string_view s);
std::optional<AccountState> parse_account_state(std::string_view s);
std::optional<Role> parse_role(std::string_view s);
std::string_view to_string(ListSenders s);
std::optional<ListSenders> parse_list_senders(std::string_view s);

}  // namespace caremail

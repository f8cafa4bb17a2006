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

  bool has_role(Role r) const {
    for (Role x : roles) if (x == r) return true;
    return false;
  }
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
  std::string blob_id;      // SHA-256 hex of the raw message
  uint64_t size = 0;
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

}  // namespace caremail

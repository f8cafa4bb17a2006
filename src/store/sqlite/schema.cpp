#include "store/sqlite/schema.hpp"

namespace caremail::sqlite {

namespace {

const char* const kMigrations[] = {
    // 0 -> 1: the foundation model.
    R"sql(
CREATE TABLE organisations(
  id INTEGER PRIMARY KEY,
  ods_code TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL,
  short_name TEXT NOT NULL,
  open INTEGER NOT NULL DEFAULT 1,
  created_at INTEGER NOT NULL);
CREATE TABLE org_domains(
  domain TEXT PRIMARY KEY,
  org_id INTEGER NOT NULL REFERENCES organisations(id)) WITHOUT ROWID;
CREATE TABLE accounts(
  id INTEGER PRIMARY KEY,
  address TEXT NOT NULL UNIQUE,
  display_name TEXT NOT NULL,
  org_id INTEGER NOT NULL REFERENCES organisations(id),
  kind TEXT NOT NULL,
  state TEXT NOT NULL,
  roles TEXT NOT NULL,
  password_hash TEXT NOT NULL DEFAULT '',
  quota_bytes INTEGER NOT NULL,
  created_at INTEGER NOT NULL);
CREATE INDEX accounts_by_org ON accounts(org_id, address);
-- Every address an account answers to, the primary one included, so that an alias can
-- never shadow another account's address.
CREATE TABLE addresses(
  address TEXT PRIMARY KEY,
  account_id INTEGER NOT NULL REFERENCES accounts(id),
  is_alias INTEGER NOT NULL) WITHOUT ROWID;
CREATE INDEX addresses_by_account ON addresses(account_id);
CREATE TABLE api_tokens(
  token_hash TEXT PRIMARY KEY,
  account_id INTEGER NOT NULL REFERENCES accounts(id),
  name TEXT NOT NULL,
  created_at INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE quota_usage(
  account_id INTEGER PRIMARY KEY REFERENCES accounts(id),
  bytes INTEGER NOT NULL DEFAULT 0,
  messages INTEGER NOT NULL DEFAULT 0);
CREATE TABLE mailboxes(
  id INTEGER PRIMARY KEY,
  account_id INTEGER NOT NULL REFERENCES accounts(id),
  name TEXT NOT NULL,
  special_use TEXT NOT NULL DEFAULT '',
  uidvalidity INTEGER NOT NULL,
  uidnext INTEGER NOT NULL DEFAULT 1,
  highest_modseq INTEGER NOT NULL DEFAULT 1,
  subscribed INTEGER NOT NULL DEFAULT 1,
  messages INTEGER NOT NULL DEFAULT 0,
  unseen INTEGER NOT NULL DEFAULT 0,
  bytes INTEGER NOT NULL DEFAULT 0,
  UNIQUE(account_id, name));
-- One row per distinct message content; refcount = number of entries that hold it.
CREATE TABLE messages(
  id INTEGER PRIMARY KEY,
  blob_id TEXT NOT NULL UNIQUE,
  size INTEGER NOT NULL,
  refcount INTEGER NOT NULL,
  subject TEXT NOT NULL DEFAULT '',
  from_addr TEXT NOT NULL DEFAULT '',
  to_addrs TEXT NOT NULL DEFAULT '',
  cc_addrs TEXT NOT NULL DEFAULT '',
  date_hdr TEXT NOT NULL DEFAULT '',
  sent_at INTEGER NOT NULL DEFAULT 0,
  message_id_hdr TEXT NOT NULL DEFAULT '',
  in_reply_to TEXT NOT NULL DEFAULT '',
  references_hdr TEXT NOT NULL DEFAULT '',
  has_attachments INTEGER NOT NULL DEFAULT 0,
  body_structure TEXT NOT NULL DEFAULT '');
CREATE TABLE entries(
  mailbox_id INTEGER NOT NULL REFERENCES mailboxes(id),
  uid INTEGER NOT NULL,
  message_id INTEGER NOT NULL REFERENCES messages(id),
  internal_date INTEGER NOT NULL,
  flags INTEGER NOT NULL,
  keywords TEXT NOT NULL DEFAULT '',
  modseq INTEGER NOT NULL,
  PRIMARY KEY(mailbox_id, uid)) WITHOUT ROWID;
CREATE INDEX entries_by_modseq ON entries(mailbox_id, modseq);
CREATE TABLE changes(
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  account_id INTEGER NOT NULL,
  mailbox_id INTEGER NOT NULL,
  kind TEXT NOT NULL,
  uid INTEGER NOT NULL,
  modseq INTEGER NOT NULL,
  at INTEGER NOT NULL);
CREATE INDEX changes_by_account ON changes(account_id, seq);
CREATE TABLE dead_blobs(
  blob_id TEXT PRIMARY KEY,
  since INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE audit(
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  at INTEGER NOT NULL,
  actor TEXT NOT NULL,
  actor_org INTEGER NOT NULL,
  action TEXT NOT NULL,
  target TEXT NOT NULL,
  target_org INTEGER NOT NULL,
  outcome TEXT NOT NULL,
  detail TEXT NOT NULL,
  hash TEXT NOT NULL);
CREATE INDEX audit_by_org ON audit(target_org, id);
CREATE TRIGGER audit_append_only_u BEFORE UPDATE ON audit
  BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_append_only_d BEFORE DELETE ON audit
  BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
)sql",
    // 1 -> 2: the highest UIDVALIDITY ever handed out. Deriving the next value from the
    // mailboxes that exist gave a deleted-then-recreated mailbox its old UIDVALIDITY back
    // (RFC 9051 2.3.1.1 forbids reuse: clients would trust their cached UIDs).
    R"sql(
CREATE TABLE uidvalidity_hwm(
  id INTEGER PRIMARY KEY CHECK(id=1),
  value INTEGER NOT NULL);
INSERT INTO uidvalidity_hwm(id,value) VALUES(1, coalesce((SELECT max(uidvalidity) FROM mailboxes),0));
)sql",
    // 2 -> 3: the outbound queue, one row per recipient; message_id holds a reference
    // (messages.refcount counts entries and outbound rows).
    R"sql(
CREATE TABLE outbound(
  id INTEGER PRIMARY KEY,
  queue_id TEXT NOT NULL,
  message_id INTEGER NOT NULL REFERENCES messages(id),
  sender TEXT NOT NULL,
  recipient TEXT NOT NULL,
  domain TEXT NOT NULL,
  notify INTEGER NOT NULL,
  orcpt TEXT NOT NULL DEFAULT '',
  envid TEXT NOT NULL DEFAULT '',
  ret_hdrs INTEGER NOT NULL DEFAULT 0,
  require_tls INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  next_attempt_at INTEGER NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  last_error TEXT NOT NULL DEFAULT '',
  delay_notified INTEGER NOT NULL DEFAULT 0,
  lease_until INTEGER NOT NULL DEFAULT 0);
CREATE INDEX outbound_due ON outbound(next_attempt_at);
)sql",
    // 3 -> 4: sending suspended for excessive activity (PRODUCT.md S6).
    R"sql(
ALTER TABLE accounts ADD COLUMN sending_suspended INTEGER NOT NULL DEFAULT 0;
)sql",
    // 4 -> 5: IMAP QRESYNC asks per mailbox which UIDs were expunged after a modseq.
    R"sql(
CREATE INDEX changes_by_mailbox ON changes(mailbox_id, modseq);
)sql",
    // 5 -> 6: the raw top-level header of each message, so that IMAP header fetches need
    // not read and decrypt the blob. A table of its own rather than a column of messages:
    // a few KB per row there would spread messages over ~10x the pages and slow every
    // listing that joins it (measured: 5,000 rows, 455 -> 5,012 pages, listing +30%).
    // Only messages with a header of at most 16 KB have a row; older messages have none.
    R"sql(
CREATE TABLE message_headers(
  message_id INTEGER PRIMARY KEY REFERENCES messages(id),
  header BLOB NOT NULL);
)sql",
    // 6 -> 7: per-entry trace header lines (RFC 9228 Delivered-To), shown before the shared
    // message: a message delivered to several mailboxes is stored once, so a per-recipient
    // field cannot be in its blob without showing Bcc recipients to each other. NULL for
    // none (APPEND, and every entry stored before v7). An entry's size is messages.size
    // plus the octets of its trace; mailbox and quota counters already count them.
    R"sql(
ALTER TABLE entries ADD COLUMN trace TEXT;
)sql",
    // 7 -> 8: identity (issue 5). Password age, forced change and expiry reminders; the
    // last passwords (for "not one of the last 4"); lockout and every sign-in failure with
    // the device that caused it; app passwords for IMAP/SMTP clients; the Acceptable Use
    // Policy's versions and who accepted which. Existing passwords count from the account's
    // creation.
    R"sql(
ALTER TABLE accounts ADD COLUMN password_changed_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE accounts ADD COLUMN must_change_password INTEGER NOT NULL DEFAULT 0;
ALTER TABLE accounts ADD COLUMN expiry_reminder_sent INTEGER;
ALTER TABLE accounts ADD COLUMN locked_until INTEGER NOT NULL DEFAULT 0;
ALTER TABLE accounts ADD COLUMN failures_reset_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE accounts ADD COLUMN aup_version INTEGER NOT NULL DEFAULT 0;
ALTER TABLE accounts ADD COLUMN last_login_at INTEGER NOT NULL DEFAULT 0;
UPDATE accounts SET password_changed_at = created_at;
CREATE INDEX accounts_by_password_age ON accounts(password_changed_at);
CREATE TABLE password_history(
  account_id INTEGER NOT NULL REFERENCES accounts(id),
  set_at INTEGER NOT NULL,
  phc TEXT NOT NULL);
CREATE INDEX password_history_by_account ON password_history(account_id, set_at);
INSERT INTO password_history(account_id, set_at, phc)
  SELECT id, created_at, password_hash FROM accounts WHERE password_hash != '';
CREATE TABLE auth_failures(
  id INTEGER PRIMARY KEY,
  account_id INTEGER NOT NULL REFERENCES accounts(id),
  at INTEGER NOT NULL,
  protocol TEXT NOT NULL,
  peer TEXT NOT NULL,
  client TEXT NOT NULL,
  reason TEXT NOT NULL);
CREATE INDEX auth_failures_by_account ON auth_failures(account_id, at);
CREATE TABLE app_passwords(
  id INTEGER PRIMARY KEY,
  account_id INTEGER NOT NULL REFERENCES accounts(id),
  name TEXT NOT NULL,
  secret_hash TEXT NOT NULL UNIQUE,
  created_at INTEGER NOT NULL,
  last_used_at INTEGER NOT NULL DEFAULT 0,
  last_used_protocol TEXT NOT NULL DEFAULT '',
  last_used_peer TEXT NOT NULL DEFAULT '');
CREATE INDEX app_passwords_by_account ON app_passwords(account_id);
CREATE TABLE aup_versions(
  version INTEGER PRIMARY KEY,
  text TEXT NOT NULL,
  published_at INTEGER NOT NULL,
  published_by TEXT NOT NULL);
)sql",
    // 8 -> 9: multi-factor authentication and web sessions (issue 5). An organisation may
    // require MFA of everyone, exempting its trusted networks; a TOTP secret per account,
    // sealed with the service key, with the last accepted time step (no code is accepted
    // twice); recovery codes (Argon2id); sign-in sessions for the web and the API, stored
    // as SHA-256 of the cookie, with their CSRF token's hash and idle limit. And the last
    // failure a login or unlock cleared, by id (a time in seconds also cleared the failures
    // of that second that came after it).
    R"sql(
ALTER TABLE accounts ADD COLUMN failures_reset_id INTEGER NOT NULL DEFAULT 0;
ALTER TABLE organisations ADD COLUMN mfa_required INTEGER NOT NULL DEFAULT 0;
ALTER TABLE organisations ADD COLUMN trusted_networks TEXT NOT NULL DEFAULT '';
CREATE TABLE mfa(
  account_id INTEGER PRIMARY KEY REFERENCES accounts(id),
  totp_secret BLOB NOT NULL,
  pending_secret BLOB,
  enabled INTEGER NOT NULL DEFAULT 0,
  last_step INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL);
CREATE TABLE recovery_codes(
  id INTEGER PRIMARY KEY,
  account_id INTEGER NOT NULL REFERENCES accounts(id),
  phc TEXT NOT NULL);
CREATE INDEX recovery_codes_by_account ON recovery_codes(account_id);
CREATE TABLE web_sessions(
  token_hash TEXT PRIMARY KEY,
  account_id INTEGER NOT NULL REFERENCES accounts(id),
  csrf_hash TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  last_seen_at INTEGER NOT NULL,
  idle_seconds INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  public INTEGER NOT NULL,
  mfa INTEGER NOT NULL,
  peer TEXT NOT NULL,
  user_agent TEXT NOT NULL) WITHOUT ROWID;
CREATE INDEX web_sessions_by_account ON web_sessions(account_id);
)sql",
    // v10: account life cycle and organisations (PRODUCT.md A1-A3, A6): when an account's
    // state last changed, who marked it a leaver, legal hold; organisation successor and
    // closure, the allowance of larger quotas; addresses of removed accounts kept from
    // reuse until a date; self-service reset (three security questions, Argon2id answers)
    // and the account secret helpdesk checks identity with.
    R"sql(
ALTER TABLE accounts ADD COLUMN state_changed_at INTEGER NOT NULL DEFAULT 0;
UPDATE accounts SET state_changed_at=created_at;
ALTER TABLE accounts ADD COLUMN leaver_from INTEGER NOT NULL DEFAULT 0;
ALTER TABLE accounts ADD COLUMN legal_hold INTEGER NOT NULL DEFAULT 0;
CREATE INDEX accounts_by_state ON accounts(state, state_changed_at);
ALTER TABLE organisations ADD COLUMN successor_id INTEGER NOT NULL DEFAULT 0;
ALTER TABLE organisations ADD COLUMN closed_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE organisations ADD COLUMN large_quota_allowance INTEGER NOT NULL DEFAULT 0;
CREATE TABLE retired_addresses(
  address TEXT PRIMARY KEY,
  account_id INTEGER NOT NULL,
  retired_at INTEGER NOT NULL,
  reusable_at INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE security_questions(
  account_id INTEGER NOT NULL REFERENCES accounts(id),
  position INTEGER NOT NULL,
  question TEXT NOT NULL,
  answer_phc TEXT NOT NULL,
  PRIMARY KEY(account_id, position)) WITHOUT ROWID;
CREATE TABLE account_secrets(
  account_id INTEGER PRIMARY KEY REFERENCES accounts(id),
  phc TEXT NOT NULL,
  set_at INTEGER NOT NULL);
)sql",
    // v11: the identifier an organisation's own directory gives a person (SCIM externalId).
    R"sql(
ALTER TABLE accounts ADD COLUMN external_id TEXT NOT NULL DEFAULT '';
)sql",
    // v12: the directory (PRODUCT.md D1-D3): each account's profile (absent: nothing said
    // yet); organisations' sharing agreements (bulk export allowed); a log of directory
    // changes, the cursor of incremental exports.
    R"sql(
CREATE TABLE directory_profiles(
  account_id INTEGER PRIMARY KEY REFERENCES accounts(id),
  title TEXT NOT NULL, given_name TEXT NOT NULL, surname TEXT NOT NULL, job_role TEXT NOT NULL,
  speciality TEXT NOT NULL, work_area TEXT NOT NULL, unit TEXT NOT NULL, site TEXT NOT NULL,
  telephone TEXT NOT NULL, mobile TEXT NOT NULL, pager TEXT NOT NULL, fax TEXT NOT NULL, notes TEXT NOT NULL,
  hidden INTEGER NOT NULL, mobile_hidden INTEGER NOT NULL,
  updated_at INTEGER NOT NULL);
ALTER TABLE organisations ADD COLUMN sharing_agreement INTEGER NOT NULL DEFAULT 0;
CREATE TABLE directory_changes(
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  account_id INTEGER NOT NULL,
  at INTEGER NOT NULL);
CREATE INDEX directory_changes_by_account ON directory_changes(account_id, seq);
)sql",
    // v13: small messages' blob records beside their message row (NewMessage::inline_blob):
    // one fsync per delivery instead of three. A table of its own keeps the messages rows
    // small for the scans that read them; it goes with its row.
    R"sql(
CREATE TABLE message_blobs(
  message_id INTEGER PRIMARY KEY REFERENCES messages(id),
  record BLOB NOT NULL);
)sql",
    // v14: directory contacts (people outside the service an organisation lists) and
    // static distribution lists with their members (PRODUCT.md D1, M9). Their directory
    // ids are kContactIdBase/kListIdBase (model/types.hpp) plus the row id, which
    // AUTOINCREMENT never hands out twice; directory_changes.account_id holds those ids for
    // their changes. A list's address is in the one address namespace: the store checks
    // `addresses` and `retired_addresses` before creating a list, and this table before
    // creating an account or alias; a deleted list's address goes to retired_addresses
    // (its account_id column then holds the list's directory id).
    R"sql(
CREATE TABLE directory_contacts(
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  org_id INTEGER NOT NULL REFERENCES organisations(id),
  address TEXT NOT NULL,
  display_name TEXT NOT NULL,
  title TEXT NOT NULL, given_name TEXT NOT NULL, surname TEXT NOT NULL, job_role TEXT NOT NULL,
  speciality TEXT NOT NULL, work_area TEXT NOT NULL, unit TEXT NOT NULL, site TEXT NOT NULL,
  telephone TEXT NOT NULL, mobile TEXT NOT NULL, pager TEXT NOT NULL, fax TEXT NOT NULL, notes TEXT NOT NULL,
  hidden INTEGER NOT NULL, mobile_hidden INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  UNIQUE(org_id, address));
CREATE INDEX directory_contacts_by_address ON directory_contacts(address);
CREATE TABLE distribution_lists(
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  org_id INTEGER NOT NULL REFERENCES organisations(id),
  address TEXT NOT NULL UNIQUE,
  display_name TEXT NOT NULL,
  hidden INTEGER NOT NULL,
  senders TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL);
CREATE INDEX distribution_lists_by_org ON distribution_lists(org_id, address);
CREATE TABLE list_members(
  list_id INTEGER NOT NULL REFERENCES distribution_lists(id),
  address TEXT NOT NULL,
  PRIMARY KEY(list_id, address)) WITHOUT ROWID;
)sql",
    // v15: API tokens end (issue 14): each gets an id (to list and revoke it), an expiry
    // and the time of its last use. Tokens issued before have none: they end 90 days
    // after this upgrade (caremaild renews its own operator token, admin.token, at start).
    R"sql(
CREATE TABLE api_tokens_v15(
  id INTEGER PRIMARY KEY,
  token_hash TEXT NOT NULL UNIQUE,
  account_id INTEGER NOT NULL REFERENCES accounts(id),
  name TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  last_used_at INTEGER NOT NULL DEFAULT 0);
INSERT INTO api_tokens_v15(token_hash, account_id, name, created_at, expires_at)
  SELECT token_hash, account_id, name, created_at, CAST(strftime('%s','now') AS INTEGER) + 90 * 86400
  FROM api_tokens;
DROP TABLE api_tokens;
ALTER TABLE api_tokens_v15 RENAME TO api_tokens;
CREATE INDEX api_tokens_by_account ON api_tokens(account_id);
)sql",
    // v16: smart lockout (issue 14). Networks each account signed in from successfully
    // (peer /24 or /64), with the time of the last success; failures marked familiar or not
    // (those recorded before count as familiar, as they did); a second lock, for unfamiliar
    // networks only, and the last unfamiliar failure an unlock cleared. Self-contained: it
    // applies after any v15.
    R"sql(
ALTER TABLE accounts ADD COLUMN unfamiliar_locked_until INTEGER NOT NULL DEFAULT 0;
ALTER TABLE accounts ADD COLUMN unfamiliar_reset_id INTEGER NOT NULL DEFAULT 0;
ALTER TABLE auth_failures ADD COLUMN familiar INTEGER NOT NULL DEFAULT 1;
CREATE INDEX auth_failures_by_kind ON auth_failures(account_id, familiar, at);
CREATE TABLE familiar_sources(
  account_id INTEGER NOT NULL REFERENCES accounts(id),
  source TEXT NOT NULL,
  last_success_at INTEGER NOT NULL,
  PRIMARY KEY(account_id, source)) WITHOUT ROWID;
)sql",
    // v17: IMAP view consistency (issue 15). (1) Mailbox ids are never handed out twice:
    // `mailboxes.id` is a plain rowid, so deleting the newest mailbox and creating one gave
    // the new mailbox the old id, and with it the old one's expunge records in `changes`
    // (a session's view of the new mailbox lost messages to them, and a session still
    // holding the old one took the new one for it). The high-water mark starts above every
    // id the mailboxes and the change log have seen. (2) \Recent (IMAP4rev1, RFC 3501
    // 2.3.2): the first UID no session has yet been told is recent; messages below it are
    // not recent. Existing messages start as not recent.
    R"sql(
CREATE TABLE mailbox_id_hwm(
  id INTEGER PRIMARY KEY CHECK(id=1),
  value INTEGER NOT NULL);
INSERT INTO mailbox_id_hwm(id,value) VALUES(1, max(coalesce((SELECT max(id) FROM mailboxes),0),
                                                    coalesce((SELECT max(mailbox_id) FROM changes),0)));
ALTER TABLE mailboxes ADD COLUMN first_recent_uid INTEGER NOT NULL DEFAULT 1;
UPDATE mailboxes SET first_recent_uid=uidnext;
)sql",
    // v18: subscriptions are names, not a column of the mailbox (RFC 9051 §6.3.7): one
    // outlives its mailbox's DELETE (LIST (SUBSCRIBED) shows it \NonExistent) and may name a
    // mailbox that does not exist (yet). An IMAP CREATE no longer subscribes; the account's
    // default mailboxes are subscribed when made. mailboxes.subscribed is unused from here
    // on. Self-contained: it applies after any v17.
    R"sql(
CREATE TABLE subscriptions(
  account_id INTEGER NOT NULL REFERENCES accounts(id),
  name TEXT NOT NULL,
  PRIMARY KEY(account_id, name)) WITHOUT ROWID;
INSERT INTO subscriptions(account_id, name) SELECT account_id, name FROM mailboxes WHERE subscribed=1;
)sql",
};

}  // namespace

std::span<const char* const> migrations() { return kMigrations; }

}  // namespace caremail::sqlite

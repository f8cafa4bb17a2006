// The Store conformance suite (see store_conformance.hpp). Every case goes through the
// abstract interface only, so that every backend passes the very same cases.
#include "store_conformance.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "crypto/crypto.hpp"

using namespace caremail;
using caremail::testing::code_of;


// ---------------------------------------------------------------------------
// Fixture.

void StoreConformance::SetUp() {
  crypto::init();
  dir_ = std::make_unique<caremail::testing::TempDir>();
  store_ = GetParam().make(dir_->path());
  ASSERT_NE(store_, nullptr) << "the " << GetParam().name << " factory could not make a store";
}

void StoreConformance::TearDown() {
  store_.reset();
  dir_.reset();
}

Organisation StoreConformance::make_org(const std::string& ods, std::vector<std::string> domains) {
  return MUST(store().create_organisation({ods, "Organisation " + ods, ods, std::move(domains)}));
}

Account StoreConformance::make_account(const std::string& address, OrgId org, uint64_t quota) {
  NewAccount a;
  a.address = address;
  a.display_name = "Person " + address;
  a.org_id = org;
  a.quota_bytes = quota;
  return MUST(store().create_account(a));
}

NewMessage StoreConformance::message(const std::string& content, const std::string& subject) {
  NewMessage m;
  m.blob_id = crypto::sha256_hex(content);
  m.size = content.size();
  m.internal_date = 1700000000;
  m.summary.subject = subject;
  return m;
}

Mailbox StoreConformance::mailbox(AccountId a, const std::string& name) { return MUST(store().mailbox(a, name)); }

Mailbox StoreConformance::reload(const Mailbox& m) { return MUST(store().mailbox_by_id(m.id)); }

Delivered StoreConformance::deliver_one(const NewMessage& m, AccountId a, MailboxId mb, uint32_t flags) {
  DeliveryTarget t;
  t.account_id = a;
  t.mailbox_id = mb;
  t.flags = flags;
  auto out = MUST(store().deliver(m, std::span<const DeliveryTarget>(&t, 1)));
  if (out.size() != 1) throw std::runtime_error("deliver returned " + std::to_string(out.size()) + " outcomes");
  if (out[0].error)
    throw std::runtime_error("delivery failed: " + std::string(to_string(out[0].error->code)) + ": " +
                             out[0].error->message);
  return out[0];
}

namespace {

std::vector<std::string> names_of(const std::vector<Mailbox>& v) {
  std::vector<std::string> out;
  for (const auto& m : v) out.push_back(m.name);
  return out;
}

std::vector<Uid> uids_of(const std::vector<MailboxEntry>& v) {
  std::vector<Uid> out;
  for (const auto& e : v) out.push_back(e.uid);
  return out;
}

bool contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

AuditEvent audit_event(const std::string& action, OrgId actor_org, OrgId target_org, UnixTime at = 0) {
  AuditEvent e;
  e.at = at;
  e.actor = "admin@a.nhs.uk";
  e.actor_org = actor_org;
  e.action = action;
  e.target = "someone@b.nhs.uk";
  e.target_org = target_org;
  e.outcome = "ok";
  e.detail = "{}";
  return e;
}

}  // namespace

// ===========================================================================
// Organisations.

TEST_P(StoreConformance, CreateOrganisationAndLookUp) {
  auto o = MUST(store().create_organisation({"RXA", "Alpha Trust", "alpha", {"Alpha.NHS.uk", "alpha.nhs.net"}}));
  EXPECT_GT(o.id, 0);
  EXPECT_EQ(o.ods_code, "RXA");
  EXPECT_EQ(o.name, "Alpha Trust");
  EXPECT_EQ(o.short_name, "alpha");
  EXPECT_EQ(o.domains, (std::vector<std::string>{"alpha.nhs.net", "alpha.nhs.uk"}));  // lower case, sorted
  EXPECT_TRUE(o.open);
  EXPECT_GT(o.created_at, 0);

  auto by_id = MUST(store().organisation(o.id));
  EXPECT_EQ(by_id.ods_code, "RXA");
  auto by_ods = MUST(store().organisation_by_ods("RXA"));
  EXPECT_EQ(by_ods.id, o.id);
  EXPECT_EQ(MUST(store().organisation_for_domain("alpha.nhs.uk")), o.id);
  EXPECT_EQ(MUST(store().organisation_for_domain("ALPHA.nhs.NET")), o.id);

  EXPECT_EQ(code_of(store().organisation(o.id + 100)), "not_found");
  EXPECT_EQ(code_of(store().organisation_by_ods("ZZZ")), "not_found");
  EXPECT_EQ(code_of(store().organisation_for_domain("beta.nhs.uk")), "not_found");
}

TEST_P(StoreConformance, DuplicateOdsCodeIsAlreadyExists) {
  make_org("RXA", {"a.nhs.uk"});
  auto dup = store().create_organisation({"RXA", "Other", "other", {"other.nhs.uk"}});
  EXPECT_EQ(code_of(dup), "already_exists");
  // Nothing of the failed organisation remains, not even its domain.
  EXPECT_EQ(code_of(store().organisation_for_domain("other.nhs.uk")), "not_found");
  EXPECT_EQ(MUST(store().list_organisations()).size(), 1u);
}

TEST_P(StoreConformance, DuplicateDomainIsAlreadyExistsAndCreatesNothing) {
  auto a = make_org("RXA", {"shared.nhs.uk"});
  auto dup = store().create_organisation({"RXB", "Beta", "beta", {"beta.nhs.uk", "SHARED.nhs.uk"}});
  EXPECT_EQ(code_of(dup), "already_exists");
  EXPECT_EQ(code_of(store().organisation_by_ods("RXB")), "not_found");
  EXPECT_EQ(code_of(store().organisation_for_domain("beta.nhs.uk")), "not_found");
  EXPECT_EQ(MUST(store().organisation_for_domain("shared.nhs.uk")), a.id);
}

TEST_P(StoreConformance, ListOrganisationsOrderedByOdsCode) {
  make_org("RXC");
  make_org("RXA");
  make_org("RXB");
  auto all = MUST(store().list_organisations());
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].ods_code, "RXA");
  EXPECT_EQ(all[1].ods_code, "RXB");
  EXPECT_EQ(all[2].ods_code, "RXC");
}

// ===========================================================================
// Accounts.

TEST_P(StoreConformance, CreateAccountMakesDefaultMailboxes) {
  auto org = make_org("RXA", {"a.nhs.uk"});
  NewAccount na;
  na.address = "Alice.Smith@A.NHS.uk";
  na.display_name = "Alice Smith";
  na.org_id = org.id;
  na.kind = AccountKind::shared;
  na.roles = {Role::user, Role::local_admin};
  na.password_hash = "$argon2id$v=19$x";
  na.quota_bytes = 5000;
  auto a = MUST(store().create_account(na));
  EXPECT_GT(a.id, 0);
  EXPECT_EQ(a.address, "alice.smith@a.nhs.uk");
  EXPECT_EQ(a.display_name, "Alice Smith");
  EXPECT_EQ(a.org_id, org.id);
  EXPECT_EQ(a.kind, AccountKind::shared);
  EXPECT_EQ(a.state, AccountState::active);
  EXPECT_EQ(a.roles, (std::vector<Role>{Role::user, Role::local_admin}));
  EXPECT_EQ(a.password_hash, "$argon2id$v=19$x");
  EXPECT_EQ(a.quota_bytes, 5000u);
  EXPECT_TRUE(a.aliases.empty());
  EXPECT_GT(a.created_at, 0);

  auto mbs = MUST(store().list_mailboxes(a.id));
  std::map<std::string, std::string> special;
  std::set<uint32_t> validities;
  for (const auto& m : mbs) {
    special[m.name] = m.special_use;
    validities.insert(m.uidvalidity);
    EXPECT_EQ(m.account_id, a.id);
    EXPECT_EQ(m.uidnext, 1u) << m.name;
    EXPECT_EQ(m.messages, 0u) << m.name;
    EXPECT_EQ(m.unseen, 0u) << m.name;
    EXPECT_EQ(m.bytes, 0u) << m.name;
    EXPECT_TRUE(m.subscribed) << m.name;
    EXPECT_GT(m.uidvalidity, 0u) << m.name;
  }
  EXPECT_EQ(special, (std::map<std::string, std::string>{{"INBOX", ""},
                                                         {"Drafts", "\\Drafts"},
                                                         {"Sent", "\\Sent"},
                                                         {"Trash", "\\Trash"},
                                                         {"Junk", "\\Junk"},
                                                         {"Archive", "\\Archive"}}));
  EXPECT_EQ(validities.size(), 6u) << "every mailbox gets its own UIDVALIDITY";

  auto q = MUST(store().quota(a.id));
  EXPECT_EQ(q.bytes, 0u);
  EXPECT_EQ(q.messages, 0u);
  EXPECT_EQ(q.limit_bytes, 5000u);
}

TEST_P(StoreConformance, DuplicateAddressIsAlreadyExists) {
  auto org = make_org("RXA");
  make_account("bob@a.nhs.uk", org.id);
  NewAccount dup;
  dup.address = "BOB@a.nhs.uk";
  dup.org_id = org.id;
  EXPECT_EQ(code_of(store().create_account(dup)), "already_exists");
  EXPECT_EQ(MUST(store().list_accounts(std::nullopt)).size(), 1u);
}

TEST_P(StoreConformance, AliasesAndAddressesShareOneNamespace) {
  auto org = make_org("RXA");
  auto alice = make_account("alice@a.nhs.uk", org.id);
  auto bob = make_account("bob@a.nhs.uk", org.id);

  // An alias may not take another account's address...
  EXPECT_EQ(code_of(store().add_alias(alice.id, "Bob@a.nhs.uk")), "already_exists");
  // ...and an account may not take an existing alias as its address.
  MUST(store().add_alias(alice.id, "A.Smith@a.nhs.uk"));
  NewAccount clash;
  clash.address = "a.smith@a.nhs.uk";
  clash.org_id = org.id;
  EXPECT_EQ(code_of(store().create_account(clash)), "already_exists");
  EXPECT_EQ(MUST(store().list_accounts(std::nullopt)).size(), 2u);
  // Same alias twice, even on the same account.
  EXPECT_EQ(code_of(store().add_alias(bob.id, "a.smith@a.nhs.uk")), "already_exists");
  EXPECT_EQ(code_of(store().add_alias(alice.id + bob.id + 100, "nobody@a.nhs.uk")), "not_found");

  // Lookups by address or alias, case-insensitively.
  EXPECT_EQ(MUST(store().account_by_address("A.SMITH@A.NHS.UK")).id, alice.id);
  EXPECT_EQ(MUST(store().account_by_address("ALICE@a.nhs.uk")).id, alice.id);
  EXPECT_EQ(MUST(store().account_by_address("bob@a.nhs.uk")).id, bob.id);
  EXPECT_EQ(code_of(store().account_by_address("carol@a.nhs.uk")), "not_found");
  EXPECT_EQ(MUST(store().account(alice.id)).aliases, (std::vector<std::string>{"a.smith@a.nhs.uk"}));
  EXPECT_TRUE(MUST(store().account(bob.id)).aliases.empty());
}

TEST_P(StoreConformance, AccountInUnknownOrganisationIsInvalidArgument) {
  NewAccount a;
  a.address = "x@nowhere.nhs.uk";
  a.org_id = 4242;
  EXPECT_EQ(code_of(store().create_account(a)), "invalid_argument");
  EXPECT_EQ(code_of(store().account_by_address("x@nowhere.nhs.uk")), "not_found");
}

TEST_P(StoreConformance, ListAccountsByOrganisationOrderedByAddress) {
  auto a = make_org("RXA");
  auto b = make_org("RXB");
  make_account("zed@a.nhs.uk", a.id);
  make_account("amy@b.nhs.uk", b.id);
  make_account("bea@a.nhs.uk", a.id);
  make_account("cat@a.nhs.uk", a.id);

  auto in_a = MUST(store().list_accounts(a.id));
  std::vector<std::string> got;
  for (const auto& x : in_a) got.push_back(x.address);
  EXPECT_EQ(got, (std::vector<std::string>{"bea@a.nhs.uk", "cat@a.nhs.uk", "zed@a.nhs.uk"}));

  got.clear();
  for (const auto& x : MUST(store().list_accounts(std::nullopt))) got.push_back(x.address);
  EXPECT_EQ(got, (std::vector<std::string>{"amy@b.nhs.uk", "bea@a.nhs.uk", "cat@a.nhs.uk", "zed@a.nhs.uk"}));

  EXPECT_TRUE(MUST(store().list_accounts(a.id + b.id + 100)).empty());
}

TEST_P(StoreConformance, SetPasswordHashAndQuotaLimit) {
  auto org = make_org("RXA");
  auto a = make_account("alice@a.nhs.uk", org.id, 100);
  MUST(store().set_password_hash(a.id, "$argon2id$new"));
  EXPECT_EQ(MUST(store().account(a.id)).password_hash, "$argon2id$new");
  MUST(store().set_quota_limit(a.id, 777));
  EXPECT_EQ(MUST(store().account(a.id)).quota_bytes, 777u);
  EXPECT_EQ(MUST(store().quota(a.id)).limit_bytes, 777u);

  EXPECT_EQ(code_of(store().set_password_hash(a.id + 100, "x")), "not_found");
  EXPECT_EQ(code_of(store().set_quota_limit(a.id + 100, 1)), "not_found");
  EXPECT_EQ(code_of(store().account(a.id + 100)), "not_found");
  EXPECT_EQ(code_of(store().quota(a.id + 100)), "not_found");
}

TEST_P(StoreConformance, PasswordHistoryAgeAndReminders) {
  auto org = make_org("RXA");
  auto a = make_account("alice@a.nhs.uk", org.id, 100);
  MUST(store().set_password_hash(a.id, "$h1", 1000, false, 3));
  MUST(store().set_password_hash(a.id, "$h2", 2000, true, 3));
  MUST(store().set_expiry_reminder_sent(a.id, 18));
  EXPECT_EQ(MUST(store().account(a.id)).expiry_reminder_sent, 18);
  MUST(store().set_password_hash(a.id, "$h3", 3000, false, 3));
  MUST(store().set_password_hash(a.id, "$h4", 4000, false, 3));
  auto acct = MUST(store().account(a.id));
  EXPECT_EQ(acct.password_hash, "$h4");
  EXPECT_EQ(acct.password_changed_at, 4000);
  EXPECT_FALSE(acct.must_change_password);
  EXPECT_FALSE(acct.expiry_reminder_sent.has_value());  // a new password clears it
  EXPECT_EQ(MUST(store().password_history(a.id, 10)), (std::vector<std::string>{"$h4", "$h3", "$h2"}));
  EXPECT_EQ(MUST(store().password_history(a.id, 1)), (std::vector<std::string>{"$h4"}));
  EXPECT_TRUE(MUST(store().account(a.id)).must_change_password == false);
  MUST(store().set_password_hash(a.id, "$h5", 5000, true, 3));
  EXPECT_TRUE(MUST(store().account(a.id)).must_change_password);
  // Oldest password first; not after `before`.
  auto b = make_account("bob@a.nhs.uk", org.id, 100);
  MUST(store().set_password_hash(b.id, "$b", 4500, false, 3));
  auto old = MUST(store().accounts_with_password_set_before(5000, 10));
  ASSERT_EQ(old.size(), 1u);
  EXPECT_EQ(old[0].address, "bob@a.nhs.uk");
  EXPECT_EQ(MUST(store().accounts_with_password_set_before(5001, 10)).size(), 2u);
  EXPECT_EQ(code_of(store().set_expiry_reminder_sent(a.id + 100, 1)), "not_found");
}

// Smart lockout (schema v16): failures of two kinds counted apart, a login clears only the
// familiar ones, an unlock both; the networks an account signed in from, bounded.
TEST_P(StoreConformance, SmartLockoutFailuresAndFamiliarNetworks) {
  auto org = make_org("RXB");
  auto a = make_account("sam@b.nhs.uk", org.id, 100);
  for (int i = 0; i < 5; ++i) {
    AuthFailure f;
    f.account_id = a.id;
    f.at = 1000 + i;
    f.protocol = "imap";
    f.peer = i < 2 ? "192.0.2.1" : "203.0.113.9";
    f.reason = "password";
    f.familiar = i < 2;
    if (i == 4) {
      AuditEvent e;
      e.actor = e.target = a.address;
      e.action = "auth.fail";
      e.outcome = "denied";
      MUST(store().record_auth_failure(f, e));
    } else {
      MUST(store().record_auth_failure(f));
    }
  }
  EXPECT_EQ(MUST(store().count_auth_failures(a.id, 0)), 2);
  EXPECT_EQ(MUST(store().count_unfamiliar_failures(a.id, 0)), 3);
  EXPECT_EQ(MUST(store().count_unfamiliar_failures(a.id, 1003)), 2);
  EXPECT_FALSE(MUST(store().auth_failures(a.id, 0, 1))[0].familiar);
  auto events = MUST(store().audit_events(std::nullopt, 0, 100));
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().action, "auth.fail");  // with the failure, in one transaction
  MUST(store().note_login(a.id, 1500));
  EXPECT_EQ(MUST(store().count_auth_failures(a.id, 0)), 0);
  EXPECT_EQ(MUST(store().count_unfamiliar_failures(a.id, 0)), 3);
  MUST(store().set_unfamiliar_locked_until(a.id, 8888));
  EXPECT_EQ(MUST(store().account(a.id)).unfamiliar_locked_until, 8888);
  MUST(store().set_locked_until(a.id, 0, true));
  EXPECT_EQ(MUST(store().account(a.id)).unfamiliar_locked_until, 0);
  EXPECT_EQ(MUST(store().count_unfamiliar_failures(a.id, 0)), 0);
  EXPECT_EQ(code_of(store().set_unfamiliar_locked_until(a.id + 100, 1)), "not_found");

  MUST(store().note_familiar_source(a.id, "192.0.2.0/24", 2000, 0));
  MUST(store().note_familiar_source(a.id, "2001:db8::/64", 3000, 0));
  MUST(store().note_familiar_source(a.id, "192.0.2.0/24", 2500, 0));
  auto known = MUST(store().familiar_sources(a.id, 0));
  ASSERT_EQ(known.size(), 2u);
  EXPECT_EQ(known[0].source, "2001:db8::/64");  // newest first
  EXPECT_EQ(known[1].last_success_at, 2500);
  EXPECT_EQ(MUST(store().familiar_sources(a.id, 2600)).size(), 1u);
  MUST(store().note_familiar_source(a.id, "198.51.100.0/24", 4000, 2600));  // forgets the old one
  EXPECT_EQ(MUST(store().familiar_sources(a.id, 0)).size(), 2u);
  for (int i = 0; i < 120; ++i)
    MUST(store().note_familiar_source(a.id, "10.0." + std::to_string(i) + ".0/24", 5000 + i, 0));
  EXPECT_EQ(MUST(store().familiar_sources(a.id, 0)).size(), 100u);  // the newest 100
}

TEST_P(StoreConformance, SignInFailuresLockoutAndLogins) {
  auto org = make_org("RXA");
  auto a = make_account("alice@a.nhs.uk", org.id, 100);
  for (int i = 0; i < 3; ++i) {
    AuthFailure f;
    f.account_id = a.id;
    f.at = 1000 + i;
    f.protocol = i == 2 ? "smtp" : "imap";
    f.peer = "192.0.2.1";
    f.client = "Phone " + std::to_string(i);
    f.reason = "password";
    MUST(store().record_auth_failure(f));
  }
  EXPECT_EQ(MUST(store().count_auth_failures(a.id, 0)), 3);
  EXPECT_EQ(MUST(store().count_auth_failures(a.id, 1001)), 2);
  auto list = MUST(store().auth_failures(a.id, 0, 10));
  ASSERT_EQ(list.size(), 3u);
  EXPECT_EQ(list[0].protocol, "smtp");  // newest first
  EXPECT_EQ(list[0].client, "Phone 2");
  EXPECT_EQ(list[2].at, 1000);
  EXPECT_EQ(MUST(store().auth_failures(a.id, 0, 1)).size(), 1u);
  // A login resets the count (the rows stay, for the person to see).
  MUST(store().note_login(a.id, 1500));
  EXPECT_EQ(MUST(store().count_auth_failures(a.id, 0)), 0);
  EXPECT_EQ(MUST(store().account(a.id)).last_login_at, 1500);
  EXPECT_EQ(MUST(store().auth_failures(a.id, 0, 10)).size(), 3u);
  MUST(store().set_locked_until(a.id, 9999, false));
  EXPECT_EQ(MUST(store().account(a.id)).locked_until, 9999);
  MUST(store().set_locked_until(a.id, 0, true));
  EXPECT_EQ(MUST(store().account(a.id)).locked_until, 0);
  EXPECT_EQ(code_of(store().set_locked_until(a.id + 100, 1, false)), "not_found");
  EXPECT_EQ(code_of(store().note_login(a.id + 100, 1)), "not_found");
}

TEST_P(StoreConformance, AppPasswordsAndAup) {
  auto org = make_org("RXA");
  auto a = make_account("alice@a.nhs.uk", org.id, 100);
  auto b = make_account("bob@a.nhs.uk", org.id, 100);
  auto p1 = MUST(store().add_app_password(a.id, "Phone", "hash-1"));
  auto p2 = MUST(store().add_app_password(a.id, "Laptop", "hash-2"));
  EXPECT_NE(p1.id, p2.id);
  EXPECT_EQ(code_of(store().add_app_password(b.id, "Dup", "hash-1")), "already_exists");
  EXPECT_EQ(MUST(store().app_password_by_hash(a.id, "hash-2")).name, "Laptop");
  EXPECT_EQ(code_of(store().app_password_by_hash(b.id, "hash-2")), "not_found");  // another account's
  MUST(store().touch_app_password(p1.id, 777, "imap", "192.0.2.9"));
  auto list = MUST(store().app_passwords(a.id));
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].last_used_at, 777);
  EXPECT_EQ(list[0].last_used_protocol, "imap");
  EXPECT_EQ(code_of(store().delete_app_password(b.id, p1.id)), "not_found");
  MUST(store().delete_app_password(a.id, p1.id));
  EXPECT_EQ(MUST(store().app_passwords(a.id)).size(), 1u);

  EXPECT_EQ(code_of(store().current_aup()), "not_found");
  auto v1 = MUST(store().publish_aup("first", "admin@x"));
  auto v2 = MUST(store().publish_aup("second", "admin@x"));
  EXPECT_EQ(v1.version, 1);
  EXPECT_EQ(v2.version, 2);
  auto cur = MUST(store().current_aup());
  EXPECT_EQ(cur.version, 2);
  EXPECT_EQ(cur.text, "second");
  MUST(store().set_aup_version(a.id, 2));
  EXPECT_EQ(MUST(store().account(a.id)).aup_version, 2);
  EXPECT_EQ(MUST(store().account(b.id)).aup_version, 0);
}

TEST_P(StoreConformance, MfaRecoveryCodesSessionsAndOrgPolicy) {
  auto org = make_org("RXA");
  auto a = make_account("alice@a.nhs.uk", org.id, 100);
  EXPECT_EQ(code_of(store().mfa(a.id)), "not_found");
  MUST(store().begin_mfa(a.id, std::string("sealed\0bytes", 12)));
  auto m = MUST(store().mfa(a.id));
  EXPECT_EQ(m.sealed_secret, std::string("sealed\0bytes", 12));
  EXPECT_FALSE(m.enabled);
  std::vector<std::string> hashes{"$r1", "$r2"};
  MUST(store().enable_mfa(a.id, 100, hashes));
  m = MUST(store().mfa(a.id));
  EXPECT_TRUE(m.enabled);
  EXPECT_EQ(m.last_step, 100);
  EXPECT_FALSE(MUST(store().advance_mfa_step(a.id, 100)));  // not past it: a replay
  EXPECT_TRUE(MUST(store().advance_mfa_step(a.id, 101)));
  auto codes = MUST(store().recovery_codes(a.id));
  ASSERT_EQ(codes.size(), 2u);
  EXPECT_EQ(codes[1].second, "$r2");
  EXPECT_TRUE(MUST(store().use_recovery_code(a.id, codes[0].first)));
  EXPECT_FALSE(MUST(store().use_recovery_code(a.id, codes[0].first)));  // once
  EXPECT_EQ(MUST(store().recovery_codes(a.id)).size(), 1u);
  // A replacement waits beside the factor in force, codes and all, until it is enabled.
  MUST(store().begin_mfa(a.id, "again"));
  m = MUST(store().mfa(a.id));
  EXPECT_TRUE(m.enabled);
  EXPECT_EQ(m.sealed_secret, std::string("sealed\0bytes", 12));
  EXPECT_EQ(m.sealed_pending, "again");
  EXPECT_EQ(MUST(store().recovery_codes(a.id)).size(), 1u);
  std::vector<std::string> fresh{"$n1"};
  MUST(store().enable_mfa(a.id, 7, fresh));
  m = MUST(store().mfa(a.id));
  EXPECT_EQ(m.sealed_secret, "again");
  EXPECT_EQ(m.sealed_pending, "");
  EXPECT_EQ(m.last_step, 7);
  EXPECT_EQ(MUST(store().recovery_codes(a.id)).size(), 1u);
  EXPECT_EQ(MUST(store().recovery_codes(a.id))[0].second, "$n1");
  MUST(store().delete_mfa(a.id));
  EXPECT_EQ(code_of(store().mfa(a.id)), "not_found");

  WebSession w;
  w.token_hash = "t1";
  w.account_id = a.id;
  w.csrf_hash = "c1";
  w.created_at = w.last_seen_at = 10;
  w.idle_seconds = 300;
  w.expires_at = 1000;
  w.public_computer = true;
  w.mfa = true;
  w.peer = "192.0.2.1";
  w.user_agent = "Firefox";
  MUST(store().create_session(w));
  w.token_hash = "t2";
  MUST(store().create_session(w));
  EXPECT_EQ(code_of(store().create_session(w)), "already_exists");
  MUST(store().touch_session("t1", 50));
  auto got = MUST(store().session("t1"));
  EXPECT_EQ(got.last_seen_at, 50);
  EXPECT_TRUE(got.public_computer);
  EXPECT_TRUE(got.mfa);
  EXPECT_EQ(got.user_agent, "Firefox");
  MUST(store().delete_session("t1"));
  EXPECT_EQ(code_of(store().session("t1")), "not_found");
  MUST(store().delete_sessions(a.id));
  EXPECT_EQ(code_of(store().session("t2")), "not_found");

  MUST(store().set_org_mfa_policy(org.id, true, {"10.0.0.0/8", "2001:db8::/32"}));
  auto o = MUST(store().organisation(org.id));
  EXPECT_TRUE(o.mfa_required);
  EXPECT_EQ(o.trusted_networks, (std::vector<std::string>{"10.0.0.0/8", "2001:db8::/32"}));
  MUST(store().set_org_mfa_policy(org.id, false, {}));
  EXPECT_TRUE(MUST(store().organisation(org.id)).trusted_networks.empty());
  EXPECT_EQ(code_of(store().set_org_mfa_policy(org.id + 100, true, {})), "not_found");
}

TEST_P(StoreConformance, QuotaLimitIsEnforcedAtDelivery) {
  auto org = make_org("RXA");
  auto a = make_account("alice@a.nhs.uk", org.id, 100);
  deliver_one(message(std::string(60, 'a')), a.id);
  // 60 + 40 = 100: exactly at the limit is allowed.
  deliver_one(message(std::string(40, 'b')), a.id);
  DeliveryTarget t{a.id, 0, 0, {}, true};
  auto out = MUST(store().deliver(message("c"), std::span(&t, 1)));
  ASSERT_EQ(out.size(), 1u);
  ASSERT_TRUE(out[0].error.has_value());
  EXPECT_EQ(out[0].error->code, Errc::quota_exceeded);
  // Raising the limit lets it in; enforce_quota=false (system mail) ignores it.
  MUST(store().set_quota_limit(a.id, 101));
  deliver_one(message("c"), a.id);
  DeliveryTarget sys{a.id, 0, 0, {}, false};
  auto forced = MUST(store().deliver(message(std::string(500, 'd')), std::span(&sys, 1)));
  ASSERT_EQ(forced.size(), 1u);
  EXPECT_FALSE(forced[0].error.has_value());
  auto q = MUST(store().quota(a.id));
  EXPECT_EQ(q.bytes, 601u);
  EXPECT_EQ(q.messages, 4u);
  // A limit of 0 means unlimited.
  MUST(store().set_quota_limit(a.id, 0));
  deliver_one(message(std::string(10000, 'e')), a.id);
}

// ===========================================================================
// API tokens.

TEST_P(StoreConformance, ApiTokens) {
  auto org = make_org("RXA");
  auto a = make_account("alice@a.nhs.uk", org.id);
  auto b = make_account("bob@a.nhs.uk", org.id);
  std::string ha = crypto::sha256_hex("token-a"), hb = crypto::sha256_hex("token-b");
  auto ta = MUST(store().add_api_token(a.id, ha, "ci", 2'000'000'000));
  auto tb = MUST(store().add_api_token(b.id, hb, "backup", 1'000));  // long expired
  EXPECT_NE(ta.id, tb.id);
  EXPECT_EQ(ta.name, "ci");
  EXPECT_EQ(ta.expires_at, 2'000'000'000);
  EXPECT_GT(ta.created_at, 0);
  EXPECT_EQ(MUST(store().api_token(ha)).account_id, a.id);
  EXPECT_EQ(MUST(store().api_token(ha)).id, ta.id);
  // Expired tokens are still found (with their expiry): the core refuses them.
  auto got_b = MUST(store().api_token(hb));
  EXPECT_EQ(got_b.account_id, b.id);
  EXPECT_EQ(got_b.expires_at, 1'000);
  EXPECT_EQ(code_of(store().api_token(crypto::sha256_hex("token-c"))), "unauthenticated");
  EXPECT_EQ(code_of(store().add_api_token(b.id, ha, "stolen", 2'000'000'000)), "already_exists");
  EXPECT_EQ(MUST(store().api_token(ha)).account_id, a.id);
  // Listing (never the hash), last use, revocation by its own account only.
  auto ta2 = MUST(store().add_api_token(a.id, crypto::sha256_hex("token-a2"), "laptop", 2'000'000'001));
  MUST(store().touch_api_token(ta.id, 777));
  auto list = MUST(store().api_tokens(a.id));
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].id, ta.id);
  EXPECT_EQ(list[0].last_used_at, 777);
  EXPECT_EQ(list[1].id, ta2.id);
  EXPECT_EQ(list[1].last_used_at, 0);
  EXPECT_EQ(code_of(store().delete_api_token(b.id, ta.id)), "not_found");  // another account's
  MUST(store().delete_api_token(a.id, ta2.id));
  EXPECT_EQ(code_of(store().delete_api_token(a.id, ta2.id)), "not_found");
  EXPECT_EQ(MUST(store().api_tokens(a.id)).size(), 1u);
  EXPECT_EQ(code_of(store().api_token(crypto::sha256_hex("token-a2"))), "unauthenticated");
}

// A password reset or change ends the account's sessions, API tokens and (when asked) app
// passwords in one go, keeping the one session or token that made the change.
TEST_P(StoreConformance, RevokeCredentials) {
  auto org = make_org("RXA");
  auto a = make_account("alice@a.nhs.uk", org.id);
  auto b = make_account("bob@a.nhs.uk", org.id);
  auto session = [&](AccountId id, std::string hash) {
    WebSession w;
    w.token_hash = std::move(hash);
    w.account_id = id;
    w.csrf_hash = "csrf";
    w.created_at = w.last_seen_at = 100;
    w.idle_seconds = 600;
    w.expires_at = 2'000'000'000;
    MUST(store().create_session(w));
  };
  session(a.id, "s1");
  session(a.id, "s2");
  session(b.id, "s3");
  MUST(store().add_api_token(a.id, "t1", "one", 2'000'000'000));
  MUST(store().add_api_token(a.id, "t2", "two", 2'000'000'000));
  MUST(store().add_api_token(b.id, "t3", "bob's", 2'000'000'000));
  MUST(store().add_app_password(a.id, "Phone", "app-1"));
  MUST(store().add_app_password(b.id, "Phone", "app-3"));

  // Keep the session that made the change; app passwords stay when not asked.
  auto r = MUST(store().revoke_credentials(a.id, "s2", "", false));
  EXPECT_EQ(r.sessions, 1);
  EXPECT_EQ(r.api_tokens, 2);
  EXPECT_EQ(r.app_passwords, 0);
  EXPECT_EQ(code_of(store().session("s1")), "not_found");
  EXPECT_TRUE(store().session("s2").ok());
  EXPECT_EQ(code_of(store().api_token("t1")), "unauthenticated");
  EXPECT_EQ(MUST(store().app_passwords(a.id)).size(), 1u);
  // Everything, keeping a token this time.
  MUST(store().add_api_token(a.id, "t4", "four", 2'000'000'000));
  MUST(store().add_api_token(a.id, "t5", "five", 2'000'000'000));
  r = MUST(store().revoke_credentials(a.id, "", "t5", true));
  EXPECT_EQ(r.sessions, 1);
  EXPECT_EQ(r.api_tokens, 1);
  EXPECT_EQ(r.app_passwords, 1);
  EXPECT_TRUE(store().api_token("t5").ok());
  EXPECT_TRUE(MUST(store().app_passwords(a.id)).empty());
  // Nobody else's.
  EXPECT_TRUE(store().session("s3").ok());
  EXPECT_TRUE(store().api_token("t3").ok());
  EXPECT_EQ(MUST(store().app_passwords(b.id)).size(), 1u);
  r = MUST(store().revoke_credentials(a.id, "", "", true));
  EXPECT_EQ(r.api_tokens, 1);
}

// ===========================================================================
// Mailboxes.

TEST_P(StoreConformance, CreateMailboxAndLookUp) {
  auto org = make_org("RXA");
  auto a = make_account("alice@a.nhs.uk", org.id);
  auto b = make_account("bob@a.nhs.uk", org.id);
  auto before = MUST(store().list_mailboxes(a.id));
  auto w = MUST(store().create_mailbox(a.id, "Work/2024", ""));
  EXPECT_EQ(w.name, "Work/2024");
  EXPECT_EQ(w.account_id, a.id);
  EXPECT_EQ(w.uidnext, 1u);
  EXPECT_EQ(w.messages, 0u);
  uint32_t max_before = 0;
  for (const auto& m : before) max_before = std::max(max_before, m.uidvalidity);
  EXPECT_GT(w.uidvalidity, max_before) << "UIDVALIDITY never repeats in the store";
  auto flagged = MUST(store().create_mailbox(a.id, "Important", "\\Flagged"));
  EXPECT_EQ(flagged.special_use, "\\Flagged");

  EXPECT_EQ(MUST(store().mailbox(a.id, "Work/2024")).id, w.id);
  EXPECT_EQ(MUST(store().mailbox_by_id(w.id)).name, "Work/2024");
  EXPECT_EQ(code_of(store().mailbox(a.id, "work/2024")), "not_found") << "only INBOX is case-insensitive";
  EXPECT_EQ(code_of(store().mailbox(b.id, "Work/2024")), "not_found") << "mailboxes belong to one account";
  EXPECT_EQ(code_of(store().mailbox_by_id(w.id + 1000)), "not_found");

  EXPECT_EQ(code_of(store().create_mailbox(a.id, "Work/2024", "")), "already_exists");
  // Another account may use the same name.
  MUST(store().create_mailbox(b.id, "Work/2024", ""));

  // Listed in name order.
  auto names = names_of(MUST(store().list_mailboxes(a.id)));
  EXPECT_EQ(names.size(), 8u);
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
  EXPECT_TRUE(contains(names, "Work/2024"));
}

TEST_P(StoreConformance, InboxIsCaseInsensitive) {
  auto org = make_org("RXA");
  auto a = make_account("alice@a.nhs.uk", org.id);
  auto inbox = mailbox(a.id, "INBOX");
  EXPECT_EQ(MUST(store().mailbox(a.id, "inbox")).id, inbox.id);
  EXPECT_EQ(MUST(store().mailbox(a.id, "InBoX")).id, inbox.id);
  EXPECT_EQ(inbox.name, "INBOX");
  EXPECT_EQ(code_of(store().create_mailbox(a.id, "Inbox", "")), "already_exists");
  EXPECT_EQ(MUST(store().list_mailboxes(a.id)).size(), 6u);
}

TEST_P(StoreConformance, RenameMovesChildrenOnly) {
  auto org = make_org("RXA");
  auto a = make_account("alice@a.nhs.uk", org.id);
  auto top = MUST(store().create_mailbox(a.id, "A", ""));
  auto child = MUST(store().create_mailbox(a.id, "A/x", ""));
  auto grandchild = MUST(store().create_mailbox(a.id, "A/x/y", ""));
  auto lookalike = MUST(store().create_mailbox(a.id, "AB", ""));
  auto d = deliver_one(message("in the child"), a.id, child.id);

  MUST(store().rename_mailbox(top.id, "B"));
  EXPECT_EQ(reload(top).name, "B");
  EXPECT_EQ(reload(child).name, "B/x");
  EXPECT_EQ(reload(grandchild).name, "B/x/y");
  EXPECT_EQ(reload(lookalike).name, "AB") << "\"AB\" is not a child of \"A\"";
  EXPECT_EQ(code_of(store().mailbox(a.id, "A/x")), "not_found");
  EXPECT_EQ(MUST(store().mailbox(a.id, "B/x")).id, child.id);
  // Messages stay with their mailbox, UIDs unchanged.
  EXPECT_EQ(uids_of(MUST(store().list_entries(child.id, {}, false))), (std::vector<Uid>{d.uid}));

  // Renaming onto an existing name fails and changes nothing.
  EXPECT_EQ(code_of(store().rename_mailbox(top.id, "AB")), "already_exists");
  EXPECT_EQ(reload(top).name, "B");
  EXPECT_EQ(code_of(store().rename_mailbox(top.id + 1000, "C")), "not_found");
}

TEST_P(StoreConformance, DeleteMailboxRemovesEntriesAndFixesCounters) {
  auto org = make_org("RXA");
  auto a = make_account("alice@a.nhs.uk", org.id);
  auto work = MUST(store().create_mailbox(a.id, "Work", ""));
  auto only_here = message("only in Work, 29 bytes long!!");
  auto also_inbox = message("also in INBOX");
  deliver_one(only_here, a.id, work.id);
  deliver_one(also_inbox, a.id, work.id);
  deliver_one(also_inbox, a.id, 0);
  auto q = MUST(store().quota(a.id));
  EXPECT_EQ(q.bytes, 29u + 13u + 13u);
  EXPECT_EQ(q.messages, 3u);

  MUST(store().delete_mailbox(work.id));
  EXPECT_EQ(code_of(store().mailbox_by_id(work.id)), "not_found");
  EXPECT_EQ(code_of(store().mailbox(a.id, "Work")), "not_found");
  EXPECT_TRUE(MUST(store().list_entries(work.id, {}, false)).empty());
  q = MUST(store().quota(a.id));
  EXPECT_EQ(q.bytes, 13u);
  EXPECT_EQ(q.messages, 1u);
  EXPECT_FALSE(MUST(store().blob_referenced(only_here.blob_id)));
  EXPECT_TRUE(MUST(store().blob_referenced(also_inbox.blob_id)));
  auto dead = MUST(store().dead_blobs(100));
  EXPECT_EQ(dead, (std::vector<std::string>{only_here.blob_id}));
  for (const auto& c : MUST(store().verify_quota())) {
    EXPECT_EQ(c.counted.bytes, c.actual.bytes);
    EXPECT_EQ(c.counted.messages, c.actual.messages);
  }
  EXPECT_EQ(code_of(store().delete_mailbox(work.id)), "not_found");

  // The name can be used again, with a new UIDVALIDITY.
  auto again = MUST(store().create_mailbox(a.id, "Work", ""));
  EXPECT_NE(again.uidvalidity, work.uidvalidity);
  EXPECT_EQ(again.uidnext, 1u);
}

// A mailbox made after another was deleted never gets its id (and so its expunge history).
TEST_P(StoreConformance, DeletedMailboxIdIsNotReused) {
  auto org = make_org("RXA");
  auto a = make_account("alice@a.nhs.uk", org.id);
  auto old = MUST(store().create_mailbox(a.id, "Box", ""));
  deliver_one(message("one"), a.id, old.id);
  deliver_one(message("two"), a.id, old.id);
  MUST(store().expunge(old.id, std::vector<Uid>{1}));
  MUST(store().delete_mailbox(old.id));
  auto again = MUST(store().create_mailbox(a.id, "Box", ""));
  EXPECT_NE(again.id, old.id);
  deliver_one(message("three"), a.id, again.id);
  EXPECT_TRUE(MUST(store().expunged_since(again.id, 0)).empty());
}

// Issue 15: the newest mailbox deleted and one created handed the new mailbox the old id,
// and with it the old mailbox's expunges in the change log: an IMAP session of the new
// mailbox applied them to its own messages, and one still holding the old mailbox took the
// new one for it.
TEST_P(StoreConformance, DeletedMailboxIdIsNeverHandedOutAgain) {
  auto org = make_org("RXA");
  auto a = make_account("alice@a.nhs.uk", org.id);
  auto work = MUST(store().create_mailbox(a.id, "Work", ""));
  for (int i = 0; i < 3; ++i) deliver_one(message("w" + std::to_string(i)), a.id, work.id);
  MUST(store().update_flags(work.id, std::vector<Uid>{1, 2, 3}, FlagUpdate{FlagOp::add, kDeleted, {}, {}}));
  MUST(store().expunge(work.id, std::nullopt));
  ASSERT_EQ(MUST(store().expunged_since(work.id, 0)).size(), 3u);
  MUST(store().delete_mailbox(work.id));
  auto again = MUST(store().create_mailbox(a.id, "Work", ""));
  EXPECT_NE(again.id, work.id);
  for (const auto& m : MUST(store().list_mailboxes(a.id))) EXPECT_NE(m.id, work.id) << m.name;
  EXPECT_TRUE(MUST(store().expunged_since(again.id, 0)).empty()) << "a new mailbox has no past";
  EXPECT_EQ(code_of(store().mailbox_by_id(work.id)), "not_found");
}

// IMAP4rev1 \Recent: each message is recent in one session only.
TEST_P(StoreConformance, ClaimRecentHandsEachMessageOutOnce) {
  auto org = make_org("RXA");
  auto a = make_account("alice@a.nhs.uk", org.id);
  auto inbox = mailbox(a.id, "INBOX");
  EXPECT_EQ(inbox.first_recent_uid, 1u);
  EXPECT_EQ(MUST(store().recent_count(inbox.id)), 0u);
  for (int i = 0; i < 3; ++i) deliver_one(message("r" + std::to_string(i)), a.id);
  EXPECT_EQ(MUST(store().recent_count(inbox.id)), 3u);
  auto got = MUST(store().claim_recent(inbox.id, 2));
  EXPECT_EQ(got.first, 1u);
  EXPECT_EQ(got.last, 2u);
  EXPECT_EQ(reload(inbox).first_recent_uid, 3u);
  EXPECT_EQ(MUST(store().recent_count(inbox.id)), 1u);
  auto none = MUST(store().claim_recent(inbox.id, 2));
  EXPECT_GT(none.first, none.last) << "claimed already";
  auto rest = MUST(store().claim_recent(inbox.id, 3));
  EXPECT_EQ(rest.first, 3u);
  EXPECT_EQ(rest.last, 3u);
  EXPECT_EQ(MUST(store().recent_count(inbox.id)), 0u);
  EXPECT_EQ(code_of(store().claim_recent(inbox.id + 1000, 5)), "not_found");
}

TEST_P(StoreConformance, Subscribe) {
  auto org = make_org("RXA");
  auto a = make_account("alice@a.nhs.uk", org.id);
  auto b = make_account("bob@a.nhs.uk", org.id);
  // A mailbox made after the account's defaults is not subscribed (an IMAP CREATE does not
  // subscribe, as in Dovecot); the defaults are.
  auto w = MUST(store().create_mailbox(a.id, "Work", ""));
  EXPECT_FALSE(w.subscribed);
  EXPECT_EQ(MUST(store().subscriptions(a.id)),
            (std::vector<std::string>{"Archive", "Drafts", "INBOX", "Junk", "Sent", "Trash"}));
  MUST(store().set_subscribed(a.id, "Work", true));
  MUST(store().set_subscribed(a.id, "Work", true));  // idempotent
  EXPECT_TRUE(reload(w).subscribed);
  MUST(store().set_subscribed(a.id, "Work", false));
  EXPECT_FALSE(reload(w).subscribed);
  MUST(store().set_subscribed(a.id, "Work", false));  // not subscribed: no error
  // A name that does not exist may be subscribed; the subscription outlives a DELETE.
  MUST(store().set_subscribed(a.id, "Later/Maybe", true));
  MUST(store().set_subscribed(a.id, "Work", true));
  MUST(store().delete_mailbox(w.id));
  auto subs = MUST(store().subscriptions(a.id));
  EXPECT_NE(std::find(subs.begin(), subs.end(), "Work"), subs.end());
  EXPECT_NE(std::find(subs.begin(), subs.end(), "Later/Maybe"), subs.end());
  EXPECT_TRUE(MUST(store().subscriptions(b.id)).size() == 6u);  // another account's are apart
  // A rename moves the subscriptions of the name and its inferiors, not of look-alikes.
  auto p = MUST(store().create_mailbox(a.id, "Proj", ""));
  MUST(store().create_mailbox(a.id, "Proj/x", ""));
  MUST(store().set_subscribed(a.id, "Proj", true));
  MUST(store().set_subscribed(a.id, "Proj/x", true));
  MUST(store().set_subscribed(a.id, "Projects", true));
  MUST(store().rename_mailbox(p.id, "Done"));
  subs = MUST(store().subscriptions(a.id));
  for (const char* n : {"Done", "Done/x", "Projects"})
    EXPECT_NE(std::find(subs.begin(), subs.end(), n), subs.end()) << n;
  for (const char* n : {"Proj", "Proj/x"}) EXPECT_EQ(std::find(subs.begin(), subs.end(), n), subs.end()) << n;
  EXPECT_TRUE(MUST(store().mailbox(a.id, "Done/x")).subscribed);
}

// ===========================================================================
// Delivery.

TEST_P(StoreConformance, DeliverAssignsIncreasingUidsAndModseqs) {
  auto org = make_org("RXA");
  auto a = make_account("alice@a.nhs.uk", org.id);
  auto inbox = mailbox(a.id, "INBOX");
  std::vector<Delivered> ds;
  for (int i = 0; i < 3; ++i) ds.push_back(deliver_one(message("message " + std::to_string(i)), a.id));
  EXPECT_EQ(ds[0].uid, 1u);
  EXPECT_EQ(ds[1].uid, 2u);
  EXPECT_EQ(ds[2].uid, 3u);
  EXPECT_LT(ds[0].modseq, ds[1].modseq);
  EXPECT_LT(ds[1].modseq, ds[2].modseq);
  EXPECT_GT(ds[0].modseq, inbox.highest_modseq);
  for (const auto& d : ds) {
    EXPECT_EQ(d.account_id, a.id);
    EXPECT_EQ(d.mailbox_id, inbox.id) << "mailbox 0 means INBOX";
    EXPECT_EQ(d.uidvalidity, inbox.uidvalidity) << "UIDVALIDITY is stable";
    EXPECT_FALSE(d.error.has_value());
  }
  auto after = reload(inbox);
  EXPECT_EQ(after.uidnext, 4u);
  EXPECT_EQ(after.highest_modseq, ds[2].modseq);
  EXPECT_EQ(after.uidvalidity, inbox.uidvalidity);

  // Expunging the highest UID never lets it be reused.
  MUST(store().update_flags(inbox.id, std::vector<Uid>{3}, FlagUpdate{FlagOp::add, kDeleted, {}, {}}));
  EXPECT_EQ(MUST(store().expunge(inbox.id, std::nullopt)), (std::vector<Uid>{3}));
  EXPECT_EQ(deliver_one(message("message 3"), a.id).uid, 4u);
}

TEST_P(StoreConformance, DeliverToManyTargetsSharesOneMessage) {
  auto org = make_org("RXA");
  auto a = make_account("alice@a.nhs.uk", org.id);
  auto b = make_account("bob@a.nhs.uk", org.id);
  auto c = make_account("carol@a.nhs.uk", org.id);
  auto a_work = MUST(store().create_mailbox(a.id, "Work", ""));
  auto m = message("one body, four entries");
  std::vector<DeliveryTarget> ts = {{a.id, 0, 0, {}, true},
                                    {a.id, a_work.id, kSeen, {}, true},
                                    {b.id, 0, 0, {}, true},
                                    {c.id, 0, 0, {}, true}};
  auto out = MUST(store().deliver(m, ts));
  ASSERT_EQ(out.size(), 4u);
  std::set<MessageId> message_ids;
  for (size_t i = 0; i < out.size(); ++i) {
    ASSERT_FALSE(out[i].error.has_value()) << i;
    EXPECT_EQ(out[i].account_id, ts[i].account_id);
    EXPECT_EQ(out[i].uid, 1u);
    auto e = MUST(store().entry(out[i].mailbox_id, out[i].uid));
    EXPECT_EQ(e.blob_id, m.blob_id);
    message_ids.insert(e.message_id);
  }
  EXPECT_EQ(out[1].mailbox_id, a_work.id);
  EXPECT_EQ(message_ids.size(), 1u) << "one messages row for every target";
  EXPECT_TRUE(MUST(store().blob_referenced(m.blob_id)));

  // Expunge from all but one target: still referenced.
  for (size_t i = 0; i + 1 < out.size(); ++i) {
    MUST(store().update_flags(out[i].mailbox_id, std::vector<Uid>{out[i].uid},
                              FlagUpdate{FlagOp::add, kDeleted, {}, {}}));
    EXPECT_EQ(MUST(store().expunge(out[i].mailbox_id, std::nullopt)).size(), 1u);
    EXPECT_TRUE(MUST(store().blob_referenced(m.blob_id))) << "after expunging target " << i;
    EXPECT_TRUE(MUST(store().dead_blobs(100)).empty());
  }
  // The last one: the blob is dead.
  MUST(store().update_flags(out[3].mailbox_id, std::vector<Uid>{1}, FlagUpdate{FlagOp::add, kDeleted, {}, {}}));
  EXPECT_EQ(MUST(store().expunge(out[3].mailbox_id, std::nullopt)), (std::vector<Uid>{1}));
  EXPECT_FALSE(MUST(store().blob_referenced(m.blob_id)));
  EXPECT_EQ(MUST(store().dead_blobs(100)), (std::vector<std::string>{m.blob_id}));

  MUST(store().forget_dead_blob(m.blob_id));
  EXPECT_TRUE(MUST(store().dead_blobs(100)).empty());
  MUST(store().forget_dead_blob(m.blob_id));  // forgetting twice is harmless
}

TEST_P(StoreConformance, DeliverQuotaFailureIsPerTarget) {
  auto org = make_org("RXA");
  auto roomy = make_account("roomy@a.nhs.uk", org.id, 0);
  auto full = make_account("full@a.nhs.uk", org.id, 10);
  auto m = message("twenty bytes exactly");
  ASSERT_EQ(m.size, 20u);
  std::vector<DeliveryTarget> ts = {{full.id, 0, 0, {}, true}, {roomy.id, 0, 0, {}, true}};
  auto out = MUST(store().deliver(m, ts));
  ASSERT_EQ(out.size(), 2u);
  ASSERT_TRUE(out[0].error.has_value());
  EXPECT_EQ(out[0].error->code, Errc::quota_exceeded);
  EXPECT_EQ(out[0].account_id, full.id);
  EXPECT_FALSE(out[1].error.has_value());
  EXPECT_EQ(out[1].uid, 1u);

  EXPECT_EQ(MUST(store().quota(full.id)).bytes, 0u);
  EXPECT_EQ(MUST(store().quota(full.id)).messages, 0u);
  EXPECT_EQ(reload(mailbox(full.id, "INBOX")).messages, 0u);
  EXPECT_EQ(MUST(store().quota(roomy.id)).bytes, 20u);
  EXPECT_EQ(MUST(store().list_entries(mailbox(roomy.id, "INBOX").id, {}, false)).size(), 1u);
  EXPECT_TRUE(MUST(store().blob_referenced(m.blob_id)));
  EXPECT_TRUE(MUST(store().dead_blobs(10)).empty());
}

TEST_P(StoreConformance, DeliverWhereEveryTargetFailsLeavesTheBlobDead) {
  auto org = make_org("RXA");
  auto full = make_account("full@a.nhs.uk", org.id, 1);
  auto other = make_account("other@a.nhs.uk", org.id);
  auto other_inbox = mailbox(other.id, "INBOX");
  auto m = message("nobody can take this");
  // Over quota, and (quota not enforced) a mailbox that belongs to another account.
  std::vector<DeliveryTarget> ts = {{full.id, 0, 0, {}, true}, {full.id, other_inbox.id, 0, {}, false}};
  auto out = MUST(store().deliver(m, ts));
  ASSERT_EQ(out.size(), 2u);
  ASSERT_TRUE(out[0].error.has_value());
  EXPECT_EQ(out[0].error->code, Errc::quota_exceeded);
  ASSERT_TRUE(out[1].error.has_value());
  EXPECT_EQ(out[1].error->code, Errc::not_found);
  EXPECT_FALSE(MUST(store().blob_referenced(m.blob_id)));
  EXPECT_EQ(MUST(store().dead_blobs(10)), (std::vector<std::string>{m.blob_id}));
  EXPECT_EQ(reload(other_inbox).messages, 0u);

  // When the same content is later delivered for real, it is alive again.
  deliver_one(m, other.id);
  EXPECT_TRUE(MUST(store().blob_referenced(m.blob_id)));
  EXPECT_TRUE(MUST(store().dead_blobs(10)).empty());
}

TEST_P(StoreConformance, DeliverKeepsMailboxCountersExact) {
  auto org = make_org("RXA");
  auto a = make_account("alice@a.nhs.uk", org.id);
  auto inbox = mailbox(a.id, "INBOX");
  deliver_one(message("1234567890"), a.id, 0, 0);
  deliver_one(message("12345"), a.id, 0, kSeen | kFlagged);
  deliver_one(message("123"), a.id, 0, kAnswered);
  auto now = reload(inbox);
  EXPECT_EQ(now.messages, 3u);
  EXPECT_EQ(now.unseen, 2u);
  EXPECT_EQ(now.bytes, 18u);
  auto q = MUST(store().quota(a.id));
  EXPECT_EQ(q.bytes, 18u);
  EXPECT_EQ(q.messages, 3u);
  // Other mailboxes untouched.
  EXPECT_EQ(mailbox(a.id, "Sent").messages, 0u);
}

TEST_P(StoreConformance, DeliverStoresFlagsAndSortedKeywords) {
  auto org = make_org("RXA");
  auto a = make_account("alice@a.nhs.uk", org.id);
  DeliveryTarget t{a.id, 0, kFlagged | kDraft, {"zeta", "$Forwarded", "alpha", "zeta"}, true};
  auto out = MUST(store().deliver(message("with keywords"), std::span(&t, 1)));
  auto e = MUST(store().entry(out[0].mailbox_id, out[0].uid));
  EXPECT_EQ(e.flags, static_cast<uint32_t>(kFlagged | kDraft));
  EXPECT_EQ(e.keywords, (std::vector<std::string>{"$Forwarded", "alpha", "zeta"}));
  EXPECT_EQ(e.modseq, out[0].modseq);
  EXPECT_EQ(e.size, 13u);
  EXPECT_EQ(e.internal_date, 1700000000);
}

// ===========================================================================
// Listing.

TEST_P(StoreConformance, ListEntriesRangesAndSummaries) {
  auto org = make_org("RXA");
  auto a = make_account("alice@a.nhs.uk", org.id);
  auto inbox = mailbox(a.id, "INBOX");
  for (int i = 1; i <= 5; ++i) {
    NewMessage m = message("body " + std::to_string(i), "Subject " + std::to_string(i));
    m.summary.from = "Sender <s@b.nhs.uk>";
    m.summary.to = "alice@a.nhs.uk";
    m.summary.cc = "cc@b.nhs.uk";
    m.summary.date = "Tue, 14 Nov 2023 22:13:20 +0000";
    m.summary.sent_at = 1700000000 + i;
    m.summary.message_id = "<" + std::to_string(i) + "@b.nhs.uk>";
    m.summary.in_reply_to = "<0@b.nhs.uk>";
    m.summary.references = "<0@b.nhs.uk>";
    m.summary.has_attachments = (i % 2) == 0;
    m.summary.body_structure = R"({"type":"text/plain"})";
    m.internal_date = 1700000100 + i;
    deliver_one(m, a.id);
  }
  // Remove uid 3 to leave a gap.
  MUST(store().update_flags(inbox.id, std::vector<Uid>{3}, FlagUpdate{FlagOp::add, kDeleted, {}, {}}));
  MUST(store().expunge(inbox.id, std::nullopt));

  EXPECT_EQ(uids_of(MUST(store().list_entries(inbox.id, {}, false))), (std::vector<Uid>{1, 2, 4, 5}));
  EXPECT_EQ(uids_of(MUST(store().list_entries(inbox.id, {2, 4}, false))), (std::vector<Uid>{2, 4}));
  EXPECT_EQ(uids_of(MUST(store().list_entries(inbox.id, {3, 3}, false))), (std::vector<Uid>{}));
  EXPECT_EQ(uids_of(MUST(store().list_entries(inbox.id, {5, UINT32_MAX}, false))), (std::vector<Uid>{5}));
  EXPECT_EQ(uids_of(MUST(store().list_entries(inbox.id, {6, UINT32_MAX}, false))), (std::vector<Uid>{}));

  auto bare = MUST(store().list_entries(inbox.id, {2, 2}, false));
  ASSERT_EQ(bare.size(), 1u);
  EXPECT_EQ(bare[0].summary.subject, "") << "no summary unless asked";
  EXPECT_EQ(bare[0].blob_id, crypto::sha256_hex("body 2"));
  EXPECT_EQ(bare[0].size, 6u);
  EXPECT_EQ(bare[0].internal_date, 1700000102);
  EXPECT_EQ(bare[0].mailbox_id, inbox.id);

  auto full = MUST(store().list_entries(inbox.id, {2, 2}, true));
  ASSERT_EQ(full.size(), 1u);
  const auto& s = full[0].summary;
  EXPECT_EQ(s.subject, "Subject 2");
  EXPECT_EQ(s.from, "Sender <s@b.nhs.uk>");
  EXPECT_EQ(s.to, "alice@a.nhs.uk");
  EXPECT_EQ(s.cc, "cc@b.nhs.uk");
  EXPECT_EQ(s.date, "Tue, 14 Nov 2023 22:13:20 +0000");
  EXPECT_EQ(s.sent_at, 1700000002);
  EXPECT_EQ(s.message_id, "<2@b.nhs.uk>");
  EXPECT_EQ(s.in_reply_to, "<0@b.nhs.uk>");
  EXPECT_EQ(s.references, "<0@b.nhs.uk>");
  EXPECT_TRUE(s.has_attachments);
  EXPECT_EQ(s.body_structure, R"({"type":"text/plain"})");

  auto one = MUST(store().entry(inbox.id, 4));
  EXPECT_EQ(one.summary.subject, "Subject 4");
  EXPECT_EQ(code_of(store().entry(inbox.id, 3)), "not_found");
  EXPECT_EQ(code_of(store().entry(inbox.id, 99)), "not_found");
}

// ===========================================================================
// Header cache.

namespace {
using HeaderList = std::vector<std::pair<Uid, std::string>>;
}  // namespace

TEST_P(StoreConformance, HeadersAreCachedPerMessageAndFilteredByRange) {
  auto org = make_org("RXA");
  auto a = make_account("alice@a.nhs.uk", org.id);
  auto inbox = mailbox(a.id, "INBOX");
  const std::string crlf = "From: a@b.nhs.uk\r\nSubject: crlf\r\n\r\n";
  const std::string lf = "From: a@b.nhs.uk\nSubject: lf\n\n";
  // Any bytes: 8-bit, NUL (the store keeps the header as it was given).
  const std::string binary = std::string("Subject: \xc3\xa9\xff") + '\0' + "x\r\n\r\n";
  const std::string at_limit = "X-Pad: " + std::string(kMaxCachedHeader - 11, 'p') + "\r\n\r\n";
  ASSERT_EQ(at_limit.size(), kMaxCachedHeader);
  const std::string too_big = "X-Pad: " + std::string(20 * 1024, 'p') + "\r\n\r\n";
  const std::vector<std::string> headers = {crlf, lf, "", binary, at_limit, too_big};
  for (size_t i = 0; i < headers.size(); ++i) {
    NewMessage m = message("header test " + std::to_string(i));
    m.header = headers[i];
    deliver_one(m, a.id);  // uid i + 1
  }

  auto all = MUST(store().headers(inbox.id, {}));
  EXPECT_EQ(all, (HeaderList{{1, crlf}, {2, lf}, {4, binary}, {5, at_limit}}))
      << "no header, or one over kMaxCachedHeader, is not cached";
  EXPECT_EQ(MUST(store().headers(inbox.id, {2, 4})), (HeaderList{{2, lf}, {4, binary}}));
  EXPECT_EQ(MUST(store().headers(inbox.id, {3, 3})), HeaderList{});
  EXPECT_EQ(MUST(store().headers(inbox.id, {7, UINT32_MAX})), HeaderList{});
  EXPECT_EQ(MUST(store().headers(inbox.id + 1000, {})), HeaderList{}) << "an unknown mailbox has no entries";
  // Listing is not changed by the cache.
  EXPECT_EQ(uids_of(MUST(store().list_entries(inbox.id, {}, true))), (std::vector<Uid>{1, 2, 3, 4, 5, 6}));

  // Expunged entries are gone from it.
  MUST(store().update_flags(inbox.id, std::vector<Uid>{2}, FlagUpdate{FlagOp::add, kDeleted, {}, {}}));
  MUST(store().expunge(inbox.id, std::nullopt));
  EXPECT_EQ(MUST(store().headers(inbox.id, {1, 2})), (HeaderList{{1, crlf}}));
}

TEST_P(StoreConformance, HeadersFollowTheMessageThroughCopyMoveAndRedelivery) {
  auto org = make_org("RXA");
  auto a = make_account("alice@a.nhs.uk", org.id);
  auto b = make_account("bob@a.nhs.uk", org.id);
  auto inbox = mailbox(a.id, "INBOX");
  auto archive = mailbox(a.id, "Archive");
  auto b_inbox = mailbox(b.id, "INBOX");
  NewMessage m = message("shared content");
  m.header = "Subject: shared\r\n\r\n";
  deliver_one(m, a.id);

  // A copy is the same message row: the header comes with it.
  auto c = MUST(store().copy(inbox.id, std::vector<Uid>{1}, archive.id, false));
  ASSERT_EQ(c.uids.size(), 1u);
  EXPECT_EQ(MUST(store().headers(archive.id, {})), (HeaderList{{c.uids[0].second, m.header}}));
  auto mv = MUST(store().copy(archive.id, std::vector<Uid>{c.uids[0].second}, b_inbox.id, true));
  EXPECT_EQ(MUST(store().headers(b_inbox.id, {})), (HeaderList{{mv.uids[0].second, m.header}}));
  EXPECT_EQ(MUST(store().headers(archive.id, {})), HeaderList{});

  // The same content delivered again shares the row, and the header given first.
  NewMessage again = m;
  again.header = "Subject: ignored, the message exists\r\n\r\n";
  auto d = deliver_one(again, a.id);
  EXPECT_EQ(MUST(store().headers(inbox.id, {})), (HeaderList{{1, m.header}, {d.uid, m.header}}));

  // When the last reference goes the header goes with the message; delivered once more,
  // the content gets the header it now comes with.
  MUST(store().update_flags(inbox.id, std::vector<Uid>{1, d.uid}, FlagUpdate{FlagOp::add, kDeleted, {}, {}}));
  MUST(store().expunge(inbox.id, std::nullopt));
  MUST(store().update_flags(b_inbox.id, std::vector<Uid>{mv.uids[0].second},
                            FlagUpdate{FlagOp::add, kDeleted, {}, {}}));
  MUST(store().expunge(b_inbox.id, std::nullopt));
  EXPECT_FALSE(MUST(store().blob_referenced(m.blob_id)));
  auto back = deliver_one(again, a.id);
  EXPECT_EQ(MUST(store().headers(inbox.id, {})), (HeaderList{{back.uid, again.header}}));

  // The outbound queue keeps it too (the same messages row), and drops it with the row.
  NewOutbound o;
  o.queue_id = "Q1";
  o.sender = "alice@a.nhs.uk";
  o.recipient = "x@elsewhere.example";
  NewMessage out = message("outbound content");
  out.header = "Subject: out\r\n\r\n";
  auto q = MUST(store().enqueue(out, std::span<const NewOutbound>(&o, 1)));
  ASSERT_EQ(q.size(), 1u);
  MUST(store().complete_outbound(q[0].id));
  EXPECT_FALSE(MUST(store().blob_referenced(out.blob_id)));
  deliver_one(out, a.id);  // the same content again: no stale header row stands in the way
  EXPECT_EQ(MUST(store().headers(inbox.id, {})).back().second, out.header);
}

// ===========================================================================
// Per-entry trace (schema v7): header lines of one entry, outside the shared message.

TEST_P(StoreConformance, EachTargetKeepsItsOwnTraceAndOneSharedMessage) {
  auto org = make_org("RXA");
  auto a = make_account("alice@a.nhs.uk", org.id);
  auto b = make_account("bob@a.nhs.uk", org.id);
  auto a_work = MUST(store().create_mailbox(a.id, "Work", ""));
  NewMessage m = message("one shared body for three entries");
  m.header = "Subject: shared\r\n\r\n";
  const std::string ta = "Delivered-To: alice@a.nhs.uk\r\n";
  const std::string tb = "Delivered-To: B\xc3\xb8" "b@a.nhs.uk\r\n";  // 8-bit: size counts octets
  std::vector<DeliveryTarget> ts = {{a.id, 0, 0, {}, true, ta}, {b.id, 0, kSeen, {}, true, tb},
                                    {a.id, a_work.id, 0, {}, true, ""}};
  auto out = MUST(store().deliver(m, ts));
  ASSERT_EQ(out.size(), 3u);
  std::set<MessageId> message_ids;
  for (size_t i = 0; i < out.size(); ++i) {
    SCOPED_TRACE(i);
    ASSERT_FALSE(out[i].error.has_value());
    auto e = MUST(store().entry(out[i].mailbox_id, out[i].uid));
    EXPECT_EQ(e.trace, ts[i].trace);
    EXPECT_EQ(e.size, m.size + ts[i].trace.size()) << "the entry's size includes its trace";
    EXPECT_EQ(e.blob_id, m.blob_id);
    message_ids.insert(e.message_id);
    // Every way of reading entries shows the same trace and size.
    auto listed = MUST(store().list_entries(out[i].mailbox_id, {}, true));
    ASSERT_EQ(listed.size(), 1u);
    EXPECT_EQ(listed[0].trace, ts[i].trace);
    EXPECT_EQ(listed[0].size, e.size);
    auto bare = MUST(store().list_entries(out[i].mailbox_id, {}, false));
    EXPECT_EQ(bare[0].trace, ts[i].trace);
    auto changed = MUST(store().changed_since(out[i].mailbox_id, 0));
    ASSERT_EQ(changed.size(), 1u);
    EXPECT_EQ(changed[0].trace, ts[i].trace);
    EXPECT_EQ(changed[0].size, e.size);
    // The cached header is the entry's: its trace first.
    EXPECT_EQ(MUST(store().headers(out[i].mailbox_id, {})), (HeaderList{{out[i].uid, ts[i].trace + m.header}}));
  }
  EXPECT_EQ(message_ids.size(), 1u) << "one messages row (one blob) for every target";
  EXPECT_EQ(tb.size(), 29u);
  EXPECT_EQ(reload(mailbox(a.id, "INBOX")).bytes, m.size + ta.size());
  EXPECT_EQ(reload(a_work).bytes, m.size);
  EXPECT_EQ(reload(mailbox(b.id, "INBOX")).bytes, m.size + tb.size());
  EXPECT_EQ(MUST(store().quota(a.id)).bytes, 2 * m.size + ta.size());
  EXPECT_EQ(MUST(store().quota(b.id)).bytes, m.size + tb.size());
  for (const auto& c : MUST(store().verify_quota())) {
    EXPECT_EQ(c.counted.bytes, c.actual.bytes) << c.account_id;
    EXPECT_EQ(c.counted.messages, c.actual.messages) << c.account_id;
  }

  // Expunging an entry takes back exactly what it counted, trace included.
  MUST(store().update_flags(out[1].mailbox_id, std::vector<Uid>{out[1].uid},
                            FlagUpdate{FlagOp::add, kDeleted, {}, {}}));
  MUST(store().expunge(out[1].mailbox_id, std::nullopt));
  EXPECT_EQ(reload(mailbox(b.id, "INBOX")).bytes, 0u);
  EXPECT_EQ(MUST(store().quota(b.id)).bytes, 0u);
  EXPECT_TRUE(MUST(store().blob_referenced(m.blob_id)));
}

TEST_P(StoreConformance, QuotaAtDeliveryCountsTheTrace) {
  auto org = make_org("RXA");
  const std::string trace = "Delivered-To: tight@a.nhs.uk\r\n";
  auto m = message("twenty bytes exactly");
  ASSERT_EQ(m.size, 20u);
  auto tight = make_account("tight@a.nhs.uk", org.id, 20 + trace.size() - 1);
  auto fits = make_account("fits@a.nhs.uk", org.id, 20 + trace.size());
  std::vector<DeliveryTarget> ts = {{tight.id, 0, 0, {}, true, trace}, {fits.id, 0, 0, {}, true, trace}};
  auto out = MUST(store().deliver(m, ts));
  ASSERT_EQ(out.size(), 2u);
  ASSERT_TRUE(out[0].error.has_value()) << "the message fits, message and trace do not";
  EXPECT_EQ(out[0].error->code, Errc::quota_exceeded);
  EXPECT_FALSE(out[1].error.has_value());
  EXPECT_EQ(MUST(store().quota(tight.id)).bytes, 0u);
  EXPECT_EQ(MUST(store().quota(fits.id)).bytes, 20u + trace.size());
}

TEST_P(StoreConformance, CopyAndMoveKeepTheTrace) {
  auto org = make_org("RXA");
  auto a = make_account("alice@a.nhs.uk", org.id);
  auto b = make_account("bob@a.nhs.uk", org.id);
  auto inbox = mailbox(a.id, "INBOX");
  auto archive = mailbox(a.id, "Archive");
  auto b_inbox = mailbox(b.id, "INBOX");
  NewMessage m = message("traced content");
  m.header = "Subject: traced\r\n\r\n";
  const std::string trace = "Delivered-To: alice@a.nhs.uk\r\n";
  DeliveryTarget t{a.id, 0, 0, {}, true, trace};
  MUST(store().deliver(m, std::span<const DeliveryTarget>(&t, 1)));
  deliver_one(message("appended, no trace"), a.id);  // uid 2
  const uint64_t traced = m.size + trace.size();

  // COPY within the account: the copy carries the trace and its size.
  auto c = MUST(store().copy(inbox.id, std::vector<Uid>{1, 2}, archive.id, false));
  ASSERT_EQ(c.uids.size(), 2u);
  auto copied = MUST(store().list_entries(archive.id, {}, false));
  ASSERT_EQ(copied.size(), 2u);
  EXPECT_EQ(copied[0].trace, trace);
  EXPECT_EQ(copied[0].size, traced);
  EXPECT_EQ(copied[1].trace, "") << "no trace stays none";
  EXPECT_EQ(reload(archive).bytes, traced + 18u);
  EXPECT_EQ(MUST(store().headers(archive.id, {})), (HeaderList{{c.uids[0].second, trace + m.header}}));

  // MOVE to another account: the trace goes along, the source gives back the full size.
  auto mv = MUST(store().copy(archive.id, std::vector<Uid>{c.uids[0].second}, b_inbox.id, true));
  ASSERT_EQ(mv.uids.size(), 1u);
  auto moved = MUST(store().entry(b_inbox.id, mv.uids[0].second));
  EXPECT_EQ(moved.trace, trace);
  EXPECT_EQ(moved.size, traced);
  EXPECT_EQ(reload(archive).bytes, 18u);
  EXPECT_EQ(reload(b_inbox).bytes, traced);
  EXPECT_EQ(MUST(store().quota(b.id)).bytes, traced);
  EXPECT_EQ(MUST(store().quota(a.id)).bytes, traced + 18u + 18u);

  // A MOVE within the account keeps it too.
  auto mv2 = MUST(store().copy(inbox.id, std::vector<Uid>{1}, archive.id, true));
  ASSERT_EQ(mv2.uids.size(), 1u);
  EXPECT_EQ(MUST(store().entry(archive.id, mv2.uids[0].second)).trace, trace);
  EXPECT_EQ(MUST(store().quota(a.id)).bytes, traced + 18u + 18u);
  for (const auto& q : MUST(store().verify_quota())) EXPECT_EQ(q.counted.bytes, q.actual.bytes) << q.account_id;
}

// ===========================================================================
// Flags.

TEST_P(StoreConformance, UpdateFlagsAddRemoveReplace) {
  auto org = make_org("RXA");
  auto a = make_account("alice@a.nhs.uk", org.id);
  auto inbox = mailbox(a.id, "INBOX");
  for (int i = 0; i < 3; ++i) deliver_one(message("m" + std::to_string(i)), a.id);
  EXPECT_EQ(reload(inbox).unseen, 3u);

  std::vector<Uid> u12{1, 2};
  auto r = MUST(store().update_flags(inbox.id, u12, FlagUpdate{FlagOp::add, kSeen | kFlagged, {"work"}, {}}));
  ASSERT_EQ(r.updated.size(), 2u);
  EXPECT_TRUE(r.skipped.empty());
  EXPECT_EQ(r.updated[0].uid, 1u);
  EXPECT_EQ(r.updated[0].flags, static_cast<uint32_t>(kSeen | kFlagged));
  EXPECT_EQ(r.updated[0].keywords, (std::vector<std::string>{"work"}));
  EXPECT_LT(r.updated[0].modseq, r.updated[1].modseq);
  EXPECT_EQ(reload(inbox).unseen, 1u);
  EXPECT_EQ(reload(inbox).highest_modseq, r.updated[1].modseq);
  auto e1 = MUST(store().entry(inbox.id, 1));
  EXPECT_EQ(e1.flags, static_cast<uint32_t>(kSeen | kFlagged));
  EXPECT_EQ(e1.modseq, r.updated[0].modseq);

  // Adding what is already there changes nothing: no new modseq.
  auto again = MUST(store().update_flags(inbox.id, std::vector<Uid>{1}, FlagUpdate{FlagOp::add, kSeen, {"work"}, {}}));
  EXPECT_TRUE(again.updated.empty());
  EXPECT_EQ(MUST(store().entry(inbox.id, 1)).modseq, e1.modseq);

  auto rm = MUST(store().update_flags(inbox.id, std::vector<Uid>{1}, FlagUpdate{FlagOp::remove, kSeen, {"work"}, {}}));
  ASSERT_EQ(rm.updated.size(), 1u);
  EXPECT_EQ(rm.updated[0].flags, static_cast<uint32_t>(kFlagged));
  EXPECT_TRUE(rm.updated[0].keywords.empty());
  EXPECT_EQ(reload(inbox).unseen, 2u);

  auto rep = MUST(store().update_flags(inbox.id, std::vector<Uid>{2, 3},
                                       FlagUpdate{FlagOp::replace, kAnswered, {"b", "a", "b"}, {}}));
  ASSERT_EQ(rep.updated.size(), 2u);
  for (const auto& e : rep.updated) {
    EXPECT_EQ(e.flags, static_cast<uint32_t>(kAnswered));
    EXPECT_EQ(e.keywords, (std::vector<std::string>{"a", "b"}));
  }
  EXPECT_EQ(reload(inbox).unseen, 3u) << "uid 2 lost \\Seen by the replace";
  EXPECT_EQ(MUST(store().entry(inbox.id, 3)).keywords, (std::vector<std::string>{"a", "b"}));

  // Unknown bits are not stored; unknown uids are ignored.
  auto junk = MUST(store().update_flags(inbox.id, std::vector<Uid>{3, 77},
                                        FlagUpdate{FlagOp::replace, 0xffffffffu, {}, {}}));
  ASSERT_EQ(junk.updated.size(), 1u);
  EXPECT_EQ(junk.updated[0].flags, kAllFlags);
  EXPECT_EQ(MUST(store().entry(inbox.id, 3)).flags, kAllFlags);
  EXPECT_EQ(reload(inbox).unseen, 2u);
  EXPECT_EQ(code_of(store().update_flags(inbox.id + 1000, std::vector<Uid>{1}, FlagUpdate{})), "not_found");
}

TEST_P(StoreConformance, UpdateFlagsUnchangedSinceSkipsNewerEntries) {
  auto org = make_org("RXA");
  auto a = make_account("alice@a.nhs.uk", org.id);
  auto inbox = mailbox(a.id, "INBOX");
  auto d1 = deliver_one(message("one"), a.id);
  deliver_one(message("two"), a.id);
  auto bumped = MUST(store().update_flags(inbox.id, std::vector<Uid>{2}, FlagUpdate{FlagOp::add, kFlagged, {}, {}}));
  ASSERT_EQ(bumped.updated.size(), 1u);
  ModSeq seen_by_client = bumped.updated[0].modseq - 1;  // the client last saw the state before that

  auto r = MUST(store().update_flags(inbox.id, std::vector<Uid>{1, 2},
                                     FlagUpdate{FlagOp::add, kSeen, {}, seen_by_client}));
  EXPECT_EQ(r.skipped, (std::vector<Uid>{2}));
  ASSERT_EQ(r.updated.size(), 1u);
  EXPECT_EQ(r.updated[0].uid, 1u);
  EXPECT_EQ(MUST(store().entry(inbox.id, 1)).flags, static_cast<uint32_t>(kSeen));
  EXPECT_EQ(MUST(store().entry(inbox.id, 2)).flags, static_cast<uint32_t>(kFlagged));
  EXPECT_EQ(reload(inbox).unseen, 1u);
  // UNCHANGEDSINCE equal to the entry's modseq is not "changed since".
  auto eq = MUST(store().update_flags(inbox.id, std::vector<Uid>{2},
                                      FlagUpdate{FlagOp::add, kSeen, {}, bumped.updated[0].modseq}));
  EXPECT_TRUE(eq.skipped.empty());
  EXPECT_EQ(eq.updated.size(), 1u);
  EXPECT_GT(d1.modseq, 0u);
}

// ===========================================================================
// Copy and move.

TEST_P(StoreConformance, CopyWithinAccount) {
  auto org = make_org("RXA");
  auto a = make_account("alice@a.nhs.uk", org.id);
  auto inbox = mailbox(a.id, "INBOX");
  auto archive = mailbox(a.id, "Archive");
  deliver_one(message("aaaa"), a.id, 0, kSeen);
  deliver_one(message("bbbbbb"), a.id);
  deliver_one(message("cc"), a.id);
  MUST(store().update_flags(inbox.id, std::vector<Uid>{2}, FlagUpdate{FlagOp::add, 0, {"kw"}, {}}));
  deliver_one(message("already in archive"), a.id, archive.id);

  auto r = MUST(store().copy(inbox.id, std::vector<Uid>{1, 2, 99}, archive.id, false));
  EXPECT_EQ(r.dest_uidvalidity, archive.uidvalidity);
  EXPECT_EQ(r.uids, (std::vector<std::pair<Uid, Uid>>{{1, 2}, {2, 3}})) << "missing uid 99 is skipped";
  auto src = MUST(store().list_entries(inbox.id, {}, false));
  EXPECT_EQ(uids_of(src), (std::vector<Uid>{1, 2, 3}));
  auto dst = MUST(store().list_entries(archive.id, {}, false));
  ASSERT_EQ(uids_of(dst), (std::vector<Uid>{1, 2, 3}));
  EXPECT_EQ(dst[1].message_id, src[0].message_id) << "a copy shares the message";
  EXPECT_EQ(dst[1].flags, static_cast<uint32_t>(kSeen)) << "flags travel with the copy";
  EXPECT_EQ(dst[2].keywords, (std::vector<std::string>{"kw"}));
  EXPECT_EQ(dst[1].internal_date, src[0].internal_date);
  auto arch = reload(archive);
  EXPECT_EQ(arch.messages, 3u);
  EXPECT_EQ(arch.unseen, 2u);
  EXPECT_EQ(arch.bytes, 18u + 4u + 6u);
  auto q = MUST(store().quota(a.id));
  EXPECT_EQ(q.bytes, (4u + 6u + 2u) + (18u + 4u + 6u)) << "every copy counts";
  EXPECT_EQ(q.messages, 6u);

  // Copy into the same mailbox makes new UIDs.
  auto self = MUST(store().copy(inbox.id, std::vector<Uid>{3}, inbox.id, false));
  EXPECT_EQ(self.uids, (std::vector<std::pair<Uid, Uid>>{{3, 4}}));
}

TEST_P(StoreConformance, MoveWithinAccount) {
  auto org = make_org("RXA");
  auto a = make_account("alice@a.nhs.uk", org.id, 100);
  auto inbox = mailbox(a.id, "INBOX");
  auto trash = mailbox(a.id, "Trash");
  deliver_one(message(std::string(40, 'x')), a.id);
  deliver_one(message(std::string(50, 'y')), a.id, 0, kSeen);
  // The account is over its (lowered) limit, but a move within it adds nothing.
  MUST(store().set_quota_limit(a.id, 10));
  int64_t seq = MUST(store().last_change_seq());
  auto r = MUST(store().copy(inbox.id, std::vector<Uid>{1, 2}, trash.id, true));
  EXPECT_EQ(r.dest_uidvalidity, trash.uidvalidity);
  EXPECT_EQ(r.uids, (std::vector<std::pair<Uid, Uid>>{{1, 1}, {2, 2}}));
  EXPECT_TRUE(MUST(store().list_entries(inbox.id, {}, false)).empty());
  EXPECT_EQ(uids_of(MUST(store().list_entries(trash.id, {}, false))), (std::vector<Uid>{1, 2}));
  auto in = reload(inbox), tr = reload(trash);
  EXPECT_EQ(in.messages, 0u);
  EXPECT_EQ(in.unseen, 0u);
  EXPECT_EQ(in.bytes, 0u);
  EXPECT_EQ(tr.messages, 2u);
  EXPECT_EQ(tr.unseen, 1u);
  EXPECT_EQ(tr.bytes, 90u);
  auto q = MUST(store().quota(a.id));
  EXPECT_EQ(q.bytes, 90u);
  EXPECT_EQ(q.messages, 2u);
  // The source sees the messages expunged, the destination sees them added.
  int added = 0, expunged = 0;
  for (const auto& c : MUST(store().changes_since(a.id, seq, 100))) {
    if (c.kind == ChangeKind::message_added && c.mailbox_id == trash.id) ++added;
    if (c.kind == ChangeKind::message_expunged && c.mailbox_id == inbox.id) ++expunged;
  }
  EXPECT_EQ(added, 2);
  EXPECT_EQ(expunged, 2);

  // Into its own mailbox: a new UID (IMAP MOVE to the selected mailbox; imaptest's move
  // group), the counters unchanged.
  auto self = MUST(store().copy(trash.id, std::vector<Uid>{1}, trash.id, true));
  EXPECT_EQ(self.uids, (std::vector<std::pair<Uid, Uid>>{{1, 3}}));
  EXPECT_EQ(uids_of(MUST(store().list_entries(trash.id, {}, false))), (std::vector<Uid>{2, 3}));
  EXPECT_EQ(MUST(store().expunged_since(trash.id, tr.highest_modseq)), (std::vector<Uid>{1}));
  tr = reload(trash);
  EXPECT_EQ(tr.messages, 2u);
  EXPECT_EQ(tr.unseen, 1u);
  EXPECT_EQ(tr.bytes, 90u);
  EXPECT_EQ(MUST(store().quota(a.id)).bytes, 90u);
  EXPECT_EQ(code_of(store().copy(trash.id, std::vector<Uid>{1}, trash.id + 1000, false)), "not_found");
  EXPECT_EQ(code_of(store().copy(trash.id + 1000, std::vector<Uid>{1}, trash.id, false)), "not_found");
}

TEST_P(StoreConformance, CopyAndMoveToAnotherAccount) {
  auto org = make_org("RXA");
  auto a = make_account("alice@a.nhs.uk", org.id);
  auto shared = make_account("ward@a.nhs.uk", org.id);
  auto a_inbox = mailbox(a.id, "INBOX");
  auto s_inbox = mailbox(shared.id, "INBOX");
  deliver_one(message("0123456789"), a.id);
  deliver_one(message("01234"), a.id);

  auto c = MUST(store().copy(a_inbox.id, std::vector<Uid>{1}, s_inbox.id, false));
  EXPECT_EQ(c.uids, (std::vector<std::pair<Uid, Uid>>{{1, 1}}));
  EXPECT_EQ(MUST(store().quota(a.id)).bytes, 15u);
  EXPECT_EQ(MUST(store().quota(shared.id)).bytes, 10u);

  auto m = MUST(store().copy(a_inbox.id, std::vector<Uid>{2}, s_inbox.id, true));
  EXPECT_EQ(m.uids, (std::vector<std::pair<Uid, Uid>>{{2, 2}}));
  EXPECT_EQ(MUST(store().quota(a.id)).bytes, 10u);
  EXPECT_EQ(MUST(store().quota(a.id)).messages, 1u);
  EXPECT_EQ(MUST(store().quota(shared.id)).bytes, 15u);
  EXPECT_EQ(MUST(store().quota(shared.id)).messages, 2u);
  EXPECT_EQ(reload(s_inbox).messages, 2u);
  EXPECT_EQ(reload(a_inbox).messages, 1u);
}

TEST_P(StoreConformance, CopyChecksDestinationQuotaAllOrNothing) {
  auto org = make_org("RXA");
  auto a = make_account("alice@a.nhs.uk", org.id);
  auto small = make_account("small@a.nhs.uk", org.id, 25);
  auto a_inbox = mailbox(a.id, "INBOX");
  auto s_inbox = mailbox(small.id, "INBOX");
  deliver_one(message(std::string(20, 'a')), a.id);
  deliver_one(message(std::string(20, 'b')), a.id);

  // Either message fits alone (20 <= 25), both do not (40 > 25): nothing is copied.
  EXPECT_EQ(code_of(store().copy(a_inbox.id, std::vector<Uid>{1, 2}, s_inbox.id, false)), "quota_exceeded");
  EXPECT_EQ(code_of(store().copy(a_inbox.id, std::vector<Uid>{1, 2}, s_inbox.id, true)), "quota_exceeded");
  EXPECT_TRUE(MUST(store().list_entries(s_inbox.id, {}, false)).empty());
  EXPECT_EQ(reload(s_inbox).uidnext, 1u) << "no UID was used up";
  EXPECT_EQ(MUST(store().quota(small.id)).bytes, 0u);
  EXPECT_EQ(uids_of(MUST(store().list_entries(a_inbox.id, {}, false))), (std::vector<Uid>{1, 2}));
  EXPECT_EQ(MUST(store().quota(a.id)).bytes, 40u);

  // Within the same account, a copy (not a move) counts too.
  MUST(store().set_quota_limit(a.id, 50));
  EXPECT_EQ(code_of(store().copy(a_inbox.id, std::vector<Uid>{1}, mailbox(a.id, "Archive").id, false)),
            "quota_exceeded");

  auto one = MUST(store().copy(a_inbox.id, std::vector<Uid>{2}, s_inbox.id, false));
  EXPECT_EQ(one.uids, (std::vector<std::pair<Uid, Uid>>{{2, 1}}));
}

// ===========================================================================
// Expunge.

TEST_P(StoreConformance, ExpungeRemovesOnlyDeleted) {
  auto org = make_org("RXA");
  auto a = make_account("alice@a.nhs.uk", org.id);
  auto inbox = mailbox(a.id, "INBOX");
  for (int i = 1; i <= 6; ++i)
    deliver_one(message(std::string(static_cast<size_t>(i), 'x')), a.id, 0, i == 2 ? uint32_t{kSeen} : 0u);
  MUST(store().update_flags(inbox.id, std::vector<Uid>{1, 2, 4, 5}, FlagUpdate{FlagOp::add, kDeleted, {}, {}}));

  // A uid subset: only those of the subset that are \Deleted (3 is not).
  EXPECT_EQ(MUST(store().expunge(inbox.id, std::vector<Uid>{2, 3})), (std::vector<Uid>{2}));
  // The subset need not be sorted.
  EXPECT_EQ(MUST(store().expunge(inbox.id, std::vector<Uid>{5, 1})), (std::vector<Uid>{1, 5}));
  EXPECT_EQ(uids_of(MUST(store().list_entries(inbox.id, {}, false))), (std::vector<Uid>{3, 4, 6}));
  // All remaining \Deleted.
  EXPECT_EQ(MUST(store().expunge(inbox.id, std::nullopt)), (std::vector<Uid>{4}));
  EXPECT_EQ(MUST(store().expunge(inbox.id, std::nullopt)), (std::vector<Uid>{}));
  EXPECT_EQ(uids_of(MUST(store().list_entries(inbox.id, {}, false))), (std::vector<Uid>{3, 6}));

  auto mb = reload(inbox);
  EXPECT_EQ(mb.messages, 2u);
  EXPECT_EQ(mb.unseen, 2u);
  EXPECT_EQ(mb.bytes, 9u);
  auto q = MUST(store().quota(a.id));
  EXPECT_EQ(q.bytes, 9u);
  EXPECT_EQ(q.messages, 2u);
  auto dead = MUST(store().dead_blobs(100));
  std::sort(dead.begin(), dead.end());
  std::vector<std::string> want;
  for (size_t n : {1, 2, 4, 5}) want.push_back(crypto::sha256_hex(std::string(n, 'x')));
  std::sort(want.begin(), want.end());
  EXPECT_EQ(dead, want);
  EXPECT_EQ(code_of(store().expunge(inbox.id + 1000, std::nullopt)), "not_found");
}

// ===========================================================================
// Quota accounting under a random workload.

TEST_P(StoreConformance, CountersStayExactUnderRandomOperations) {
  auto org = make_org("RXA");
  std::vector<Account> accounts = {make_account("a@a.nhs.uk", org.id, 0), make_account("b@a.nhs.uk", org.id, 3000),
                                   make_account("c@a.nhs.uk", org.id, 0)};
  std::mt19937 rng(20240611);
  auto pick = [&](size_t n) { return static_cast<size_t>(std::uniform_int_distribution<size_t>(0, n - 1)(rng)); };
  std::vector<std::string> contents;
  for (int i = 0; i < 40; ++i) contents.push_back("content " + std::to_string(i) + std::string(pick(400), '.'));
  auto mailboxes_of = [&](AccountId id) { return MUST(store().list_mailboxes(id)); };
  int extra_mailboxes = 0;
  std::map<std::string, int> done;

  for (int op = 0; op < 500; ++op) {
    const Account& acc = accounts[pick(accounts.size())];
    auto mbs = mailboxes_of(acc.id);
    const Mailbox& mb = mbs[pick(mbs.size())];
    size_t kind = pick(100);
    if (kind < 40) {  // deliver to 1..3 targets
      std::vector<DeliveryTarget> ts;
      for (size_t n = 1 + pick(3); n > 0; --n) {
        const Account& t = accounts[pick(accounts.size())];
        auto tm = mailboxes_of(t.id);
        ts.push_back({t.id, tm[pick(tm.size())].id, static_cast<uint32_t>(pick(32)), {}, pick(4) != 0});
        if (pick(2)) ts.back().trace = "Delivered-To: " + t.address + std::string(pick(3), '+') + "\r\n";
      }
      MUST(store().deliver(message(contents[pick(contents.size())]), ts));
      ++done["deliver"];
    } else if (kind < 60) {  // flags
      auto es = MUST(store().list_entries(mb.id, {}, false));
      if (es.empty()) continue;
      std::vector<Uid> uids;
      for (const auto& e : es)
        if (pick(2)) uids.push_back(e.uid);
      auto opk = static_cast<FlagOp>(pick(3));
      MUST(store().update_flags(mb.id, uids, FlagUpdate{opk, static_cast<uint32_t>(pick(32)), {}, {}}));
      ++done["flags"];
    } else if (kind < 72) {  // expunge
      if (pick(2)) {
        MUST(store().expunge(mb.id, std::nullopt));
      } else {
        std::vector<Uid> some;
        for (Uid u = 1; u < mb.uidnext; ++u)
          if (pick(3) == 0) some.push_back(u);
        MUST(store().expunge(mb.id, some));
      }
      ++done["expunge"];
    } else if (kind < 90) {  // copy / move, possibly across accounts (quota may refuse)
      auto es = MUST(store().list_entries(mb.id, {}, false));
      if (es.empty()) continue;
      std::vector<Uid> uids;
      for (const auto& e : es)
        if (pick(3) == 0) uids.push_back(e.uid);
      const Account& to = accounts[pick(accounts.size())];
      auto tm = mailboxes_of(to.id);
      const Mailbox& dest = tm[pick(tm.size())];
      bool move = pick(2) != 0;
      auto r = store().copy(mb.id, uids, dest.id, move);
      if (!r) {
        const char* want = (move && dest.id == mb.id) ? "invalid_argument" : "quota_exceeded";
        ASSERT_EQ(code_of(r), want) << r.error().message;
      }
      ++done[move ? "move" : "copy"];
    } else if (kind < 95) {  // create a mailbox
      MUST(store().create_mailbox(acc.id, "Folder" + std::to_string(extra_mailboxes++), ""));
      ++done["create"];
    } else {  // delete a mailbox (not INBOX)
      if (mb.name == "INBOX") continue;
      MUST(store().delete_mailbox(mb.id));
      ++done["delete"];
    }
  }
  // The workload really did each kind of operation.
  for (const char* k : {"deliver", "flags", "expunge", "copy", "move", "create", "delete"})
    EXPECT_GT(done[k], 2) << k;

  // 1. The store's own recount agrees with its counters.
  auto checks = MUST(store().verify_quota());
  ASSERT_EQ(checks.size(), accounts.size());
  // 2. And the counters agree with what listing the rows shows.
  for (const auto& acc : accounts) {
    uint64_t bytes = 0, msgs = 0;
    for (const auto& mb : mailboxes_of(acc.id)) {
      auto es = MUST(store().list_entries(mb.id, {}, false));
      uint64_t mb_bytes = 0;
      uint32_t unseen = 0;
      for (const auto& e : es) {
        mb_bytes += e.size;
        if (!(e.flags & kSeen)) ++unseen;
        EXPECT_LT(e.uid, mb.uidnext);
      }
      EXPECT_EQ(mb.messages, es.size()) << mb.name;
      EXPECT_EQ(mb.unseen, unseen) << mb.name;
      EXPECT_EQ(mb.bytes, mb_bytes) << mb.name;
      bytes += mb_bytes;
      msgs += es.size();
    }
    auto q = MUST(store().quota(acc.id));
    EXPECT_EQ(q.bytes, bytes) << acc.address;
    EXPECT_EQ(q.messages, msgs) << acc.address;
    bool found = false;
    for (const auto& c : checks) {
      if (c.account_id != acc.id) continue;
      found = true;
      EXPECT_EQ(c.counted.bytes, bytes) << acc.address;
      EXPECT_EQ(c.actual.bytes, bytes) << acc.address;
      EXPECT_EQ(c.counted.messages, msgs) << acc.address;
      EXPECT_EQ(c.actual.messages, msgs) << acc.address;
    }
    EXPECT_TRUE(found) << acc.address;
  }
  // 3. Dead blobs are exactly the contents nobody holds any more.
  auto dead = MUST(store().dead_blobs(1000));
  std::set<std::string> dead_set(dead.begin(), dead.end());
  EXPECT_EQ(dead_set.size(), dead.size());
  for (const auto& c : contents) {
    std::string id = crypto::sha256_hex(c);
    bool referenced = MUST(store().blob_referenced(id));
    if (referenced) {
      EXPECT_EQ(dead_set.count(id), 0u) << "referenced blob queued as dead";
    }
    if (dead_set.count(id)) {
      EXPECT_FALSE(referenced);
    }
  }
}

// ===========================================================================
// Change log.

TEST_P(StoreConformance, ChangedSinceListsAddedAndReflaggedEntries) {
  auto org = make_org("RXC");
  auto a = make_account("cs@a.nhs.uk", org.id);
  auto inbox = mailbox(a.id, "INBOX");
  for (int i = 0; i < 3; ++i) deliver_one(message("c" + std::to_string(i)), a.id);
  ModSeq mark = MUST(store().mailbox_by_id(inbox.id)).highest_modseq;
  EXPECT_TRUE(MUST(store().changed_since(inbox.id, mark)).empty());
  MUST(store().update_flags(inbox.id, std::vector<Uid>{2}, FlagUpdate{FlagOp::add, kFlagged, {}, {}}));
  deliver_one(message("c3"), a.id);
  auto changed = MUST(store().changed_since(inbox.id, mark));
  ASSERT_EQ(changed.size(), 2u);
  EXPECT_EQ(changed[0].uid, 2u);
  EXPECT_EQ(changed[0].flags, static_cast<uint32_t>(kFlagged));
  EXPECT_EQ(changed[1].uid, 4u);
  EXPECT_GT(changed[0].modseq, mark);
  EXPECT_EQ(MUST(store().changed_since(inbox.id, 0)).size(), 4u);
}

TEST_P(StoreConformance, ExpungedSinceListsOnlyLaterExpungesOfThatMailbox) {
  auto org = make_org("RXQ");
  auto a = make_account("qr@a.nhs.uk", org.id);
  auto inbox = mailbox(a.id, "INBOX");
  auto other = mailbox(a.id, "Trash");
  for (int i = 0; i < 4; ++i) deliver_one(message("m" + std::to_string(i)), a.id);
  MUST(store().update_flags(inbox.id, std::vector<Uid>{1}, FlagUpdate{FlagOp::add, kDeleted, {}, {}}));
  MUST(store().expunge(inbox.id, std::nullopt));
  ModSeq after_first = MUST(store().mailbox_by_id(inbox.id)).highest_modseq;
  MUST(store().update_flags(inbox.id, std::vector<Uid>{3, 4}, FlagUpdate{FlagOp::add, kDeleted, {}, {}}));
  MUST(store().expunge(inbox.id, std::nullopt));
  EXPECT_EQ(MUST(store().expunged_since(inbox.id, 0)), (std::vector<Uid>{1, 3, 4}));
  EXPECT_EQ(MUST(store().expunged_since(inbox.id, after_first)), (std::vector<Uid>{3, 4}));
  EXPECT_TRUE(MUST(store().expunged_since(other.id, 0)).empty());
}

TEST_P(StoreConformance, ChangesSinceIsOrderedScopedAndLimited) {
  auto org = make_org("RXA");
  auto a = make_account("alice@a.nhs.uk", org.id);
  auto b = make_account("bob@a.nhs.uk", org.id);
  auto inbox = mailbox(a.id, "INBOX");
  int64_t start = MUST(store().last_change_seq());
  auto d1 = deliver_one(message("one"), a.id);
  deliver_one(message("for bob"), b.id);
  auto d2 = deliver_one(message("two"), a.id);
  auto f = MUST(store().update_flags(inbox.id, std::vector<Uid>{1}, FlagUpdate{FlagOp::add, kDeleted, {}, {}}));
  MUST(store().expunge(inbox.id, std::nullopt));
  auto w = MUST(store().create_mailbox(a.id, "W", ""));
  MUST(store().rename_mailbox(w.id, "W2"));
  MUST(store().delete_mailbox(w.id));

  auto ch = MUST(store().changes_since(a.id, start, 100));
  ASSERT_EQ(ch.size(), 7u);
  struct Want { ChangeKind kind; MailboxId mb; Uid uid; };
  std::vector<Want> want = {{ChangeKind::message_added, inbox.id, 1},    {ChangeKind::message_added, inbox.id, 2},
                            {ChangeKind::flags_changed, inbox.id, 1},    {ChangeKind::message_expunged, inbox.id, 1},
                            {ChangeKind::mailbox_created, w.id, 0},      {ChangeKind::mailbox_renamed, w.id, 0},
                            {ChangeKind::mailbox_deleted, w.id, 0}};
  for (size_t i = 0; i < ch.size(); ++i) {
    EXPECT_EQ(ch[i].account_id, a.id) << i;
    EXPECT_EQ(to_string(ch[i].kind), to_string(want[i].kind)) << i;
    EXPECT_EQ(ch[i].mailbox_id, want[i].mb) << i;
    EXPECT_EQ(ch[i].uid, want[i].uid) << i;
    if (i > 0) {
      EXPECT_GT(ch[i].seq, ch[i - 1].seq) << i;
    }
  }
  EXPECT_EQ(ch[0].modseq, d1.modseq);
  EXPECT_EQ(ch[1].modseq, d2.modseq);
  EXPECT_EQ(ch[2].modseq, f.updated[0].modseq);
  EXPECT_GT(ch[3].modseq, ch[2].modseq);
  EXPECT_EQ(MUST(store().last_change_seq()), ch.back().seq);

  // Paging with a limit gives the same sequence.
  auto p1 = MUST(store().changes_since(a.id, start, 3));
  ASSERT_EQ(p1.size(), 3u);
  EXPECT_EQ(p1[2].seq, ch[2].seq);
  auto p2 = MUST(store().changes_since(a.id, p1.back().seq, 3));
  ASSERT_EQ(p2.size(), 3u);
  EXPECT_EQ(p2[0].seq, ch[3].seq);
  auto p3 = MUST(store().changes_since(a.id, p2.back().seq, 3));
  ASSERT_EQ(p3.size(), 1u);
  EXPECT_EQ(p3[0].seq, ch[6].seq);
  EXPECT_TRUE(MUST(store().changes_since(a.id, ch.back().seq, 3)).empty());

  auto bob = MUST(store().changes_since(b.id, start, 100));
  ASSERT_EQ(bob.size(), 1u);
  EXPECT_EQ(bob[0].kind, ChangeKind::message_added);
  EXPECT_GT(bob[0].seq, ch[0].seq);
  EXPECT_LT(bob[0].seq, ch[1].seq);
}

// ===========================================================================
// Audit.

TEST_P(StoreConformance, AuditAppendFillsIdTimeAndChainedHash) {
  EXPECT_EQ(MUST(store().verify_audit_chain()), 0) << "an empty chain is a good chain";
  auto e1 = MUST(store().append_audit(audit_event("account.create", 1, 2, 1700000000)));
  auto e2 = MUST(store().append_audit(audit_event("account.create", 1, 2, 1700000000)));
  auto e3 = MUST(store().append_audit(audit_event("mailbox.read_other", 3, 3)));
  EXPECT_GT(e1.id, 0);
  EXPECT_GT(e2.id, e1.id);
  EXPECT_GT(e3.id, e2.id);
  EXPECT_EQ(e1.at, 1700000000) << "a given time is kept";
  EXPECT_GT(e3.at, 1700000000) << "time 0 means now";
  EXPECT_EQ(e1.hash.size(), 64u);
  EXPECT_EQ(e1.hash.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_NE(e1.hash, e2.hash) << "identical events differ by their place in the chain";
  EXPECT_EQ(MUST(store().verify_audit_chain()), 0);

  auto all = MUST(store().audit_events(std::nullopt, 0, 100));
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].id, e1.id);
  EXPECT_EQ(all[0].hash, e1.hash);
  EXPECT_EQ(all[0].actor, "admin@a.nhs.uk");
  EXPECT_EQ(all[0].actor_org, 1);
  EXPECT_EQ(all[0].action, "account.create");
  EXPECT_EQ(all[0].target, "someone@b.nhs.uk");
  EXPECT_EQ(all[0].target_org, 2);
  EXPECT_EQ(all[0].outcome, "ok");
  EXPECT_EQ(all[0].detail, "{}");
  EXPECT_EQ(all[2].hash, e3.hash);
  EXPECT_EQ(all[2].at, e3.at);
}

TEST_P(StoreConformance, AuditEventsScopedByOrganisationAndPaged) {
  std::vector<AuditEvent> added;
  added.push_back(MUST(store().append_audit(audit_event("a", 1, 1))));  // org 1 on itself
  added.push_back(MUST(store().append_audit(audit_event("b", 1, 2))));  // org 1 acting on org 2
  added.push_back(MUST(store().append_audit(audit_event("c", 3, 3))));  // unrelated
  added.push_back(MUST(store().append_audit(audit_event("d", 9, 2))));  // national acting on org 2
  added.push_back(MUST(store().append_audit(audit_event("e", 1, 1))));

  auto actions = [](const std::vector<AuditEvent>& v) {
    std::string s;
    for (const auto& e : v) s += e.action;
    return s;
  };
  EXPECT_EQ(actions(MUST(store().audit_events(1, 0, 100))), "abe");
  EXPECT_EQ(actions(MUST(store().audit_events(2, 0, 100))), "bd");
  EXPECT_EQ(actions(MUST(store().audit_events(3, 0, 100))), "c");
  EXPECT_EQ(actions(MUST(store().audit_events(4, 0, 100))), "");
  EXPECT_EQ(actions(MUST(store().audit_events(std::nullopt, 0, 100))), "abcde");
  EXPECT_EQ(actions(MUST(store().audit_events(std::nullopt, 0, 2))), "ab");
  EXPECT_EQ(actions(MUST(store().audit_events(std::nullopt, added[1].id, 2))), "cd");
  EXPECT_EQ(actions(MUST(store().audit_events(1, added[1].id, 100))), "e");
  EXPECT_EQ(MUST(store().verify_audit_chain()), 0);
}

// ===========================================================================
// Blob garbage.

TEST_P(StoreConformance, InlineBlobLivesAndDiesWithItsMessage) {
  auto org = make_org("RXA");
  auto a = make_account("alice@a.nhs.uk", org.id);
  auto b = make_account("bob@a.nhs.uk", org.id);
  auto inbox = mailbox(a.id, "INBOX");
  auto m = message("small enough to keep with its row");
  m.inline_blob = std::string("CMBL\x01\x00\0\0", 8) + std::string(8, '\0') + "the sealed record\0bytes";
  EXPECT_FALSE(MUST(store().inline_blob(m.blob_id)).has_value());
  deliver_one(m, a.id, 0, kDeleted);
  deliver_one(m, b.id);  // the same content again: one row, one record
  EXPECT_EQ(MUST(store().inline_blob(m.blob_id)), std::optional<std::string>(m.inline_blob));
  // A blob stored as a file has no record.
  auto filed = message("stored in the blob store");
  deliver_one(filed, a.id);
  EXPECT_FALSE(MUST(store().inline_blob(filed.blob_id)).has_value());
  // Still referenced by bob's copy after alice's goes.
  MUST(store().expunge(inbox.id, std::nullopt));
  EXPECT_TRUE(MUST(store().inline_blob(m.blob_id)).has_value());
  MUST(store().update_flags(mailbox(b.id, "INBOX").id, std::vector<Uid>{1}, FlagUpdate{FlagOp::add, kDeleted, {}, {}}));
  MUST(store().expunge(mailbox(b.id, "INBOX").id, std::nullopt));
  EXPECT_FALSE(MUST(store().blob_referenced(m.blob_id)));
  EXPECT_FALSE(MUST(store().inline_blob(m.blob_id)).has_value());
}

TEST_P(StoreConformance, DeadBlobsLimitAndForget) {
  auto org = make_org("RXA");
  auto a = make_account("alice@a.nhs.uk", org.id);
  auto inbox = mailbox(a.id, "INBOX");
  for (int i = 0; i < 5; ++i) deliver_one(message("gone " + std::to_string(i)), a.id, 0, kDeleted);
  MUST(store().expunge(inbox.id, std::nullopt));
  EXPECT_EQ(MUST(store().dead_blobs(100)).size(), 5u);
  auto two = MUST(store().dead_blobs(2));
  ASSERT_EQ(two.size(), 2u);
  for (const auto& id : two) MUST(store().forget_dead_blob(id));
  auto rest = MUST(store().dead_blobs(100));
  EXPECT_EQ(rest.size(), 3u);
  for (const auto& id : two) EXPECT_FALSE(contains(rest, id));
  // forget_dead_blob of a blob that is alive (re-delivered) does not touch its message.
  auto m = message("alive");
  deliver_one(m, a.id);
  MUST(store().forget_dead_blob(m.blob_id));
  EXPECT_TRUE(MUST(store().blob_referenced(m.blob_id)));
  EXPECT_EQ(MUST(store().entry(inbox.id, 6)).blob_id, m.blob_id);
}

// ===========================================================================
// Pre-commit hook.

TEST_P(StoreConformance, PreCommitHookRunsBeforeEveryWrite) {
  std::atomic<int> calls{0};
  store().set_pre_commit_hook([&]() -> Status {
    ++calls;
    return {};
  });
  auto org = make_org("RXA");
  EXPECT_GE(calls.load(), 1);
  int before = calls.load();
  make_account("alice@a.nhs.uk", org.id);
  EXPECT_GT(calls.load(), before);
  before = calls.load();
  // Reads do not commit.
  MUST(store().list_organisations());
  MUST(store().account_by_address("alice@a.nhs.uk"));
  EXPECT_EQ(calls.load(), before);
  store().set_pre_commit_hook(nullptr);
}

TEST_P(StoreConformance, FailingPreCommitHookFailsTheWriteAndLeavesNothing) {
  auto org = make_org("RXA");
  auto a = make_account("alice@a.nhs.uk", org.id);
  auto inbox = mailbox(a.id, "INBOX");
  int64_t seq = MUST(store().last_change_seq());
  store().set_pre_commit_hook([]() -> Status { return make_error(Errc::temporary, "blob directory sync failed"); });

  auto m = message("never committed");
  DeliveryTarget t{a.id, 0, 0, {}, true};
  auto d = store().deliver(m, std::span(&t, 1));
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.error().code, Errc::temporary);
  EXPECT_EQ(d.error().message, "blob directory sync failed");
  EXPECT_EQ(code_of(store().create_organisation({"RXB", "B", "b", {"b.nhs.uk"}})), "temporary");
  EXPECT_EQ(code_of(store().create_mailbox(a.id, "X", "")), "temporary");
  EXPECT_EQ(code_of(store().append_audit(audit_event("x", 1, 1))), "temporary");

  store().set_pre_commit_hook(nullptr);
  EXPECT_TRUE(MUST(store().list_entries(inbox.id, {}, false)).empty());
  auto mb = reload(inbox);
  EXPECT_EQ(mb.messages, 0u);
  EXPECT_EQ(mb.uidnext, 1u);
  EXPECT_EQ(mb.highest_modseq, inbox.highest_modseq);
  EXPECT_EQ(MUST(store().quota(a.id)).bytes, 0u);
  EXPECT_FALSE(MUST(store().blob_referenced(m.blob_id)));
  EXPECT_EQ(code_of(store().organisation_by_ods("RXB")), "not_found");
  EXPECT_EQ(code_of(store().organisation_for_domain("b.nhs.uk")), "not_found");
  EXPECT_EQ(code_of(store().mailbox(a.id, "X")), "not_found");
  EXPECT_TRUE(MUST(store().audit_events(std::nullopt, 0, 10)).empty());
  EXPECT_EQ(MUST(store().last_change_seq()), seq);

  // And the store works again afterwards.
  EXPECT_EQ(deliver_one(m, a.id).uid, 1u);
}

// ===========================================================================
// Concurrency.

TEST_P(StoreConformance, ConcurrentDeliveriesGetUniqueDenseUids) {
  constexpr int kThreads = 16, kPerThread = 50;
  auto org = make_org("RXA");
  auto shared = make_account("ward@a.nhs.uk", org.id);
  std::vector<Account> people;
  std::vector<Mailbox> own;  // one mailbox per thread, spread over four accounts
  for (int i = 0; i < 4; ++i) people.push_back(make_account("p" + std::to_string(i) + "@a.nhs.uk", org.id));
  for (int t = 0; t < kThreads; ++t)
    own.push_back(MUST(store().create_mailbox(people[t % 4].id, "T" + std::to_string(t), "")));
  auto shared_inbox = mailbox(shared.id, "INBOX");

  std::atomic<int> failures{0};
  std::atomic<int> ready{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      ++ready;
      while (ready.load() < kThreads) std::this_thread::yield();
      for (int i = 0; i < kPerThread; ++i) {
        // Sizes differ per message so that a lost or doubled update shows in the bytes.
        auto m = message("t" + std::to_string(t) + " i" + std::to_string(i) + std::string(static_cast<size_t>(i), '*'));
        std::vector<DeliveryTarget> ts = {{shared.id, 0, 0, {}, true},
                                          {people[t % 4].id, own[t].id, (i % 2) ? kSeen : 0u, {}, true}};
        auto r = store().deliver(m, ts);
        if (!r || r->size() != 2 || (*r)[0].error || (*r)[1].error) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  ASSERT_EQ(failures.load(), 0);

  auto check_dense = [&](const Mailbox& mb, size_t n) {
    auto es = MUST(store().list_entries(mb.id, {}, false));
    ASSERT_EQ(es.size(), n) << mb.name;
    for (size_t i = 0; i < n; ++i) ASSERT_EQ(es[i].uid, static_cast<Uid>(i + 1)) << mb.name;
    std::set<ModSeq> modseqs;
    for (const auto& e : es) modseqs.insert(e.modseq);
    EXPECT_EQ(modseqs.size(), n) << mb.name << ": modseqs are unique";
    auto now = reload(mb);
    EXPECT_EQ(now.uidnext, static_cast<Uid>(n + 1)) << mb.name;
    EXPECT_EQ(now.messages, n) << mb.name;
  };
  check_dense(shared_inbox, kThreads * kPerThread);
  for (const auto& mb : own) check_dense(mb, kPerThread);

  uint64_t per_thread_bytes = 0;
  for (int i = 0; i < kPerThread; ++i) per_thread_bytes += message("t0 i" + std::to_string(i)).size + i;
  // Thread numbers 10..15 have one more digit in "t<t>".
  uint64_t total = 0;
  std::vector<uint64_t> person_bytes(4, 0);
  for (int t = 0; t < kThreads; ++t) {
    uint64_t b = per_thread_bytes + (t >= 10 ? kPerThread : 0);
    total += b;
    person_bytes[t % 4] += b;
  }
  EXPECT_EQ(MUST(store().quota(shared.id)).bytes, total);
  EXPECT_EQ(MUST(store().quota(shared.id)).messages, static_cast<uint64_t>(kThreads * kPerThread));
  EXPECT_EQ(reload(shared_inbox).bytes, total);
  EXPECT_EQ(reload(shared_inbox).unseen, static_cast<uint32_t>(kThreads * kPerThread));
  for (int p = 0; p < 4; ++p) {
    auto q = MUST(store().quota(people[p].id));
    EXPECT_EQ(q.bytes, person_bytes[p]) << p;
    EXPECT_EQ(q.messages, static_cast<uint64_t>(4 * kPerThread)) << p;
  }
  for (const auto& mb : own) EXPECT_EQ(reload(mb).unseen, static_cast<uint32_t>(kPerThread / 2)) << mb.name;
  for (const auto& c : MUST(store().verify_quota())) {
    EXPECT_EQ(c.counted.bytes, c.actual.bytes) << c.account_id;
    EXPECT_EQ(c.counted.messages, c.actual.messages) << c.account_id;
  }
}

// Concurrent readers and writers: a reader never sees a half-applied delivery (the
// mailbox counter and the rows come from one snapshot per call, and never go backwards).
TEST_P(StoreConformance, ReadersSeeMonotonicCommittedState) {
  auto org = make_org("RXA");
  auto a = make_account("alice@a.nhs.uk", org.id);
  auto inbox = mailbox(a.id, "INBOX");
  std::atomic<bool> stop{false};
  std::atomic<int> bad{0};
  std::thread reader([&] {
    uint32_t last = 0;
    while (!stop.load()) {
      auto mb = store().mailbox_by_id(inbox.id);
      if (!mb || mb->messages < last) ++bad;
      if (mb) last = mb->messages;
    }
  });
  for (int i = 0; i < 100; ++i) deliver_one(message("r" + std::to_string(i)), a.id);
  stop = true;
  reader.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_EQ(reload(inbox).messages, 100u);
}

// --- life cycle (PRODUCT.md A2, A3, A6) ------------------------------------------------------

TEST_P(StoreConformance, StateChangesLeaverAndJoiner) {
  auto a = make_org("RXA", {"a.nhs.uk"});
  auto b = make_org("RXB", {"b.nhs.uk"});
  auto acct = make_account("jo@a.nhs.uk", a.id, 100);
  EXPECT_EQ(acct.state, AccountState::active);
  EXPECT_EQ(acct.state_changed_at, acct.created_at);
  std::vector<Role> roles{Role::user, Role::local_admin};
  MUST(store().set_roles(acct.id, roles));
  EXPECT_EQ(MUST(store().account(acct.id)).roles, roles);

  MUST(store().mark_leaver(acct.id, 50, 1000));
  auto l = MUST(store().account(acct.id));
  EXPECT_EQ(l.state, AccountState::leaver);
  EXPECT_EQ(l.state_changed_at, 1000);
  EXPECT_EQ(l.leaver_from, a.id);
  EXPECT_EQ(l.roles, std::vector<Role>{Role::user});
  EXPECT_EQ(l.quota_bytes, 50u);

  MUST(store().move_account(acct.id, b.id, 2000));
  auto j = MUST(store().account(acct.id));
  EXPECT_EQ(j.state, AccountState::active);
  EXPECT_EQ(j.org_id, b.id);
  EXPECT_EQ(j.leaver_from, 0);
  EXPECT_EQ(j.state_changed_at, 2000);

  MUST(store().set_account_state(acct.id, AccountState::disabled, 3000));
  MUST(store().set_legal_hold(acct.id, true));
  auto d = MUST(store().account(acct.id));
  EXPECT_EQ(d.state, AccountState::disabled);
  EXPECT_TRUE(d.legal_hold);
  EXPECT_EQ(code_of(store().set_account_state(acct.id + 100, AccountState::active, 1)), "not_found");
}

TEST_P(StoreConformance, IdleAndDueAccounts) {
  auto a = make_org("RXA", {"a.nhs.uk"});
  auto old = make_account("old@a.nhs.uk", a.id);
  auto fresh = make_account("fresh@a.nhs.uk", a.id);
  auto seen = make_account("seen@a.nhs.uk", a.id);
  NewAccount sh;
  sh.address = "ward@a.nhs.uk";
  sh.display_name = "Ward";
  sh.org_id = a.id;
  sh.kind = AccountKind::shared;
  auto shared = MUST(store().create_account(sh));
  for (const auto& x : {old, seen, shared}) MUST(store().set_account_state(x.id, AccountState::active, 100));
  MUST(store().set_account_state(fresh.id, AccountState::active, 900));
  MUST(store().note_login(seen.id, 800));
  MUST(store().set_aup_version(seen.id, 1));
  // Idle before 500: `old` only (shared mailboxes never count; `seen` signed in at 800).
  auto idle = MUST(store().accounts_idle(AccountState::active, 500, false, 10));
  ASSERT_EQ(idle.size(), 1u);
  EXPECT_EQ(idle[0].address, "old@a.nhs.uk");
  // With an AUP published, a sign-in without accepting it does not count.
  MUST(store().note_login(old.id, 800));
  EXPECT_TRUE(MUST(store().accounts_idle(AccountState::active, 500, false, 10)).empty());
  idle = MUST(store().accounts_idle(AccountState::active, 500, true, 10));
  ASSERT_EQ(idle.size(), 1u);
  EXPECT_EQ(idle[0].address, "old@a.nhs.uk");

  MUST(store().set_account_state(old.id, AccountState::deleted, 200));
  MUST(store().set_account_state(fresh.id, AccountState::deleted, 300));
  auto due = MUST(store().accounts_in_state_since(AccountState::deleted, 1000, 10));
  ASSERT_EQ(due.size(), 2u);
  EXPECT_EQ(due[0].address, "old@a.nhs.uk");  // oldest first
  EXPECT_EQ(MUST(store().accounts_in_state_since(AccountState::deleted, 250, 10)).size(), 1u);
  MUST(store().set_legal_hold(old.id, true));  // never due while held
  due = MUST(store().accounts_in_state_since(AccountState::deleted, 1000, 10));
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0].address, "fresh@a.nhs.uk");
}

TEST_P(StoreConformance, ForgetAccountKeepsItsAddressesUntilReleased) {
  auto a = make_org("RXA", {"a.nhs.uk"});
  auto jo = make_account("jo@a.nhs.uk", a.id);
  MUST(store().add_alias(jo.id, "joanne@a.nhs.uk"));
  deliver_one(message("Subject: x\r\n\r\nbody\r\n"), jo.id, mailbox(jo.id, "INBOX").id);
  // Mailboxes first.
  EXPECT_EQ(code_of(store().forget_account(jo.id, 1000, 5000)), "conflict");
  for (const auto& mb : MUST(store().list_mailboxes(jo.id))) MUST(store().delete_mailbox(mb.id));
  MUST(store().forget_account(jo.id, 1000, 5000));
  EXPECT_EQ(code_of(store().account(jo.id)), "not_found");
  EXPECT_EQ(code_of(store().account_by_address("joanne@a.nhs.uk")), "not_found");
  EXPECT_EQ(MUST(store().address_reserved_until("JO@a.nhs.uk")), 5000);
  EXPECT_EQ(MUST(store().address_reserved_until("joanne@a.nhs.uk")), 5000);
  EXPECT_EQ(code_of(store().address_reserved_until("free@a.nhs.uk")), "not_found");
  // Neither can be taken while reserved, as an address or an alias.
  NewAccount n;
  n.address = "jo@a.nhs.uk";
  n.display_name = "New Jo";
  n.org_id = a.id;
  EXPECT_EQ(code_of(store().create_account(n)), "already_exists");
  auto other = make_account("other@a.nhs.uk", a.id);
  EXPECT_EQ(code_of(store().add_alias(other.id, "joanne@a.nhs.uk")), "already_exists");
  EXPECT_EQ(MUST(store().release_addresses(4000)), 0);
  EXPECT_EQ(MUST(store().release_addresses(6000)), 2);
  EXPECT_EQ(MUST(store().create_account(n)).address, "jo@a.nhs.uk");
}

TEST_P(StoreConformance, CloseOrganisationMovesAccountsDomainsAndDropsLocalRoles) {
  auto a = make_org("RXA", {"a.nhs.uk"});
  auto b = make_org("RXB", {"b.nhs.uk"});
  auto admin = make_account("admin@a.nhs.uk", a.id);
  std::vector<Role> roles{Role::user, Role::local_admin, Role::auditor, Role::national_helpdesk};
  MUST(store().set_roles(admin.id, roles));
  auto jo = make_account("jo@a.nhs.uk", a.id);
  EXPECT_EQ(code_of(store().close_organisation(a.id, a.id, 10)), "invalid_argument");
  MUST(store().close_organisation(a.id, b.id, 10));
  auto closed = MUST(store().organisation(a.id));
  EXPECT_FALSE(closed.open);
  EXPECT_EQ(closed.successor_id, b.id);
  EXPECT_EQ(closed.closed_at, 10);
  EXPECT_TRUE(closed.domains.empty());
  EXPECT_EQ(MUST(store().organisation_for_domain("a.nhs.uk")), b.id);
  EXPECT_EQ(MUST(store().account(jo.id)).org_id, b.id);
  auto moved = MUST(store().account(admin.id));
  EXPECT_EQ(moved.org_id, b.id);
  EXPECT_EQ(moved.roles, (std::vector<Role>{Role::user, Role::national_helpdesk}));
  EXPECT_EQ(MUST(store().list_accounts(a.id)).size(), 0u);
  EXPECT_EQ(code_of(store().close_organisation(a.id, b.id, 20)), "conflict");  // already closed
  auto c = make_org("RXC", {"c.nhs.uk"});
  EXPECT_EQ(code_of(store().close_organisation(c.id, a.id, 20)), "conflict");  // closed successor
}

TEST_P(StoreConformance, QuotaAllowanceAndLargeQuotas) {
  auto a = make_org("RXA", {"a.nhs.uk"});
  MUST(store().set_quota_allowance(a.id, 3));
  EXPECT_EQ(MUST(store().organisation(a.id)).large_quota_allowance, 3);
  auto x = make_account("x@a.nhs.uk", a.id, 100);
  auto y = make_account("y@a.nhs.uk", a.id, 500);
  make_account("z@a.nhs.uk", a.id, 700);
  EXPECT_EQ(MUST(store().count_large_quotas(a.id, 100, 1000, 0)), 2);
  EXPECT_EQ(MUST(store().count_large_quotas(a.id, 100, 1000, y.id)), 1);
  (void)x;
}

TEST_P(StoreConformance, SecurityQuestionsAndAccountSecret) {
  auto a = make_org("RXA", {"a.nhs.uk"});
  auto jo = make_account("jo@a.nhs.uk", a.id);
  EXPECT_TRUE(MUST(store().security_questions(jo.id)).empty());
  std::vector<std::pair<std::string, std::string>> qa{{"q1", "h1"}, {"q2", "h2"}, {"q3", "h3"}};
  MUST(store().set_security_questions(jo.id, qa));
  EXPECT_EQ(MUST(store().security_questions(jo.id)), qa);
  qa[1].second = "h2b";
  MUST(store().set_security_questions(jo.id, qa));
  EXPECT_EQ(MUST(store().security_questions(jo.id)), qa);
  EXPECT_EQ(code_of(store().account_secret(jo.id)), "not_found");
  MUST(store().set_account_secret(jo.id, "phc1", 10));
  MUST(store().set_account_secret(jo.id, "phc2", 20));
  EXPECT_EQ(MUST(store().account_secret(jo.id)), "phc2");
}

TEST_P(StoreConformance, ProfileAndAliasRemoval) {
  auto a = make_org("RXA", {"a.nhs.uk"});
  auto jo = make_account("jo@a.nhs.uk", a.id);
  MUST(store().set_profile(jo.id, std::string("Jo Bloggs"), std::nullopt));
  auto x = MUST(store().account(jo.id));
  EXPECT_EQ(x.display_name, "Jo Bloggs");
  EXPECT_EQ(x.external_id, "");
  MUST(store().set_profile(jo.id, std::nullopt, std::string("HR-1")));
  x = MUST(store().account(jo.id));
  EXPECT_EQ(x.display_name, "Jo Bloggs");
  EXPECT_EQ(x.external_id, "HR-1");
  MUST(store().set_profile(jo.id, std::nullopt, std::string()));
  EXPECT_EQ(MUST(store().account(jo.id)).external_id, "");

  MUST(store().add_alias(jo.id, "joanne@a.nhs.uk"));
  EXPECT_EQ(code_of(store().remove_alias(jo.id, "jo@a.nhs.uk", 10, 100)), "not_found");  // the primary address
  EXPECT_EQ(code_of(store().remove_alias(jo.id, "nobody@a.nhs.uk", 10, 100)), "not_found");
  MUST(store().remove_alias(jo.id, "JOANNE@a.nhs.uk", 10, 100));
  EXPECT_TRUE(MUST(store().account(jo.id)).aliases.empty());
  EXPECT_EQ(MUST(store().address_reserved_until("joanne@a.nhs.uk")), 100);
  EXPECT_EQ(code_of(store().add_alias(jo.id, "joanne@a.nhs.uk")), "already_exists");
}

// ===========================================================================
// Directory contacts and distribution lists (schema v14).

TEST_P(StoreConformance, DirectoryContactsCrudAndChangeLog) {
  auto a = make_org("RXA", {"a.nhs.uk"});
  auto b = make_org("RXB", {"b.nhs.uk"});
  int64_t seq0 = MUST(store().last_directory_change());
  DirectoryContact c;
  c.org_id = a.id;
  c.address = "Ana.Costa@Physio.example";
  c.display_name = "Ana Costa";
  c.profile.job_role = "Physiotherapist";
  c.profile.mobile = "07700 900123";
  c.profile.mobile_hidden = true;
  auto made = MUST(store().create_contact(c, 1000));
  EXPECT_GT(made.id, 0);
  EXPECT_EQ(made.address, "ana.costa@physio.example");
  EXPECT_EQ(made.profile.job_role, "Physiotherapist");
  EXPECT_TRUE(made.profile.mobile_hidden);
  EXPECT_EQ(made.created_at, 1000);
  EXPECT_EQ(MUST(store().contact(made.id)), made);
  // The same address once per organisation; another organisation may list it too.
  EXPECT_EQ(code_of(store().create_contact(c, 1001)), "already_exists");
  c.org_id = b.id;
  auto other = MUST(store().create_contact(c, 1002));
  EXPECT_NE(other.id, made.id);
  c.org_id = 99999;
  EXPECT_EQ(code_of(store().create_contact(c, 1003)), "invalid_argument");
  EXPECT_EQ(MUST(store().contacts_by_address("ANA.COSTA@physio.example")).size(), 2u);
  EXPECT_EQ(MUST(store().contacts(a.id)).size(), 1u);
  EXPECT_EQ(MUST(store().contacts(std::nullopt)).size(), 2u);

  made.display_name = "Dr Ana Costa";
  made.profile.title = "Dr";
  MUST(store().update_contact(made, 2000));
  auto again = MUST(store().contact(made.id));
  EXPECT_EQ(again.display_name, "Dr Ana Costa");
  EXPECT_EQ(again.profile.title, "Dr");
  EXPECT_EQ(again.updated_at, 2000);
  EXPECT_EQ(again.created_at, 1000);

  // Every write is in the change log under the contact's directory id.
  auto changes = MUST(store().directory_changes(seq0, 100));
  std::set<uint64_t> ids;
  for (auto [s, id] : changes) ids.insert(static_cast<uint64_t>(id));
  EXPECT_EQ(ids, (std::set<uint64_t>{made.directory_id(), other.directory_id()}));

  MUST(store().delete_contact(made.id, 3000));
  EXPECT_EQ(code_of(store().contact(made.id)), "not_found");
  EXPECT_EQ(code_of(store().delete_contact(made.id, 3001)), "not_found");
  EXPECT_EQ(code_of(store().update_contact(made, 3002)), "not_found");
  auto last = MUST(store().directory_changes(seq0, 100));
  EXPECT_EQ(static_cast<uint64_t>(last.back().second), made.directory_id());
  EXPECT_EQ(MUST(store().entry_ids(0, 10)), (std::vector<uint64_t>{other.directory_id()}));
}

TEST_P(StoreConformance, DistributionListsShareTheAddressNamespace) {
  auto a = make_org("RXA", {"a.nhs.uk"});
  auto jo = make_account("jo@a.nhs.uk", a.id);
  MUST(store().add_alias(jo.id, "joanne@a.nhs.uk"));
  DistributionList l;
  l.org_id = a.id;
  l.address = "Ward7@a.nhs.uk";
  l.display_name = "Ward 7 nurses";
  l.senders = ListSenders::members;
  l.members = {"JO@a.nhs.uk", "partner@elsewhere.example", "jo@a.nhs.uk"};
  auto made = MUST(store().create_list(l, 1000));
  EXPECT_EQ(made.address, "ward7@a.nhs.uk");
  EXPECT_EQ(made.senders, ListSenders::members);
  EXPECT_EQ(made.members, (std::vector<std::string>{"jo@a.nhs.uk", "partner@elsewhere.example"}));
  EXPECT_EQ(MUST(store().list_by_address("WARD7@a.nhs.uk")), made);
  EXPECT_EQ(MUST(store().list(made.id)), made);
  EXPECT_EQ(code_of(store().list_by_address("jo@a.nhs.uk")), "not_found");

  // One namespace: a list may not take an account's or alias's address, nor they a list's.
  l.address = "jo@a.nhs.uk";
  EXPECT_EQ(code_of(store().create_list(l, 1001)), "already_exists");
  l.address = "joanne@a.nhs.uk";
  EXPECT_EQ(code_of(store().create_list(l, 1001)), "already_exists");
  l.address = "ward7@a.nhs.uk";
  EXPECT_EQ(code_of(store().create_list(l, 1001)), "already_exists");
  EXPECT_EQ(code_of(store().add_alias(jo.id, "ward7@a.nhs.uk")), "already_exists");
  NewAccount na;
  na.address = "ward7@a.nhs.uk";
  na.display_name = "Ward 7";
  na.org_id = a.id;
  EXPECT_EQ(code_of(store().create_account(na)), "already_exists");
  EXPECT_EQ(code_of(store().account_by_address("ward7@a.nhs.uk")), "not_found");  // nothing half-made

  // Members and settings.
  EXPECT_TRUE(MUST(store().set_list_member(made.id, "Kim@elsewhere.example", true)));
  EXPECT_FALSE(MUST(store().set_list_member(made.id, "kim@elsewhere.example", true)));
  EXPECT_TRUE(MUST(store().set_list_member(made.id, "partner@elsewhere.example", false)));
  EXPECT_FALSE(MUST(store().set_list_member(made.id, "partner@elsewhere.example", false)));
  EXPECT_EQ(code_of(store().set_list_member(made.id + 100, "x@y.example", true)), "not_found");
  made.display_name = "Ward 7";
  made.hidden = true;
  made.senders = ListSenders::anyone;
  MUST(store().update_list(made, 2000));
  auto again = MUST(store().list(made.id));
  EXPECT_EQ(again.display_name, "Ward 7");
  EXPECT_TRUE(again.hidden);
  EXPECT_EQ(again.senders, ListSenders::anyone);
  EXPECT_EQ(again.members, (std::vector<std::string>{"jo@a.nhs.uk", "kim@elsewhere.example"}));
  EXPECT_EQ(MUST(store().lists(a.id)).size(), 1u);

  // Deleting retires the address like an alias.
  MUST(store().delete_list(made.id, 3000, 9000));
  EXPECT_EQ(code_of(store().list(made.id)), "not_found");
  EXPECT_EQ(MUST(store().address_reserved_until("ward7@a.nhs.uk")), 9000);
  EXPECT_EQ(code_of(store().add_alias(jo.id, "ward7@a.nhs.uk")), "already_exists");
  l.address = "ward7@a.nhs.uk";
  l.members.clear();
  EXPECT_EQ(code_of(store().create_list(l, 3001)), "already_exists");
  EXPECT_EQ(code_of(store().delete_list(made.id, 3002, 9000)), "not_found");
  EXPECT_EQ(MUST(store().release_addresses(9001)), 1);
  auto reborn = MUST(store().create_list(l, 9002));
  EXPECT_NE(reborn.id, made.id);  // ids are never handed out twice
}

TEST_P(StoreConformance, EntryIdsListContactsThenListsAfterAccounts) {
  auto a = make_org("RXA", {"a.nhs.uk"});
  auto jo = make_account("jo@a.nhs.uk", a.id);
  DirectoryContact c;
  c.org_id = a.id;
  c.display_name = "Partner";
  std::vector<uint64_t> want;
  for (int i = 0; i < 3; ++i) {
    c.address = "p" + std::to_string(i) + "@elsewhere.example";
    want.push_back(MUST(store().create_contact(c, 10)).directory_id());
  }
  DistributionList l;
  l.org_id = a.id;
  l.display_name = "List";
  for (int i = 0; i < 2; ++i) {
    l.address = "list" + std::to_string(i) + "@a.nhs.uk";
    want.push_back(MUST(store().create_list(l, 10)).directory_id());
  }
  EXPECT_GT(want.front(), static_cast<uint64_t>(jo.id));
  EXPECT_EQ(MUST(store().entry_ids(0, 100)), want);
  // Paged with the last id as cursor, across the two kinds.
  std::vector<uint64_t> paged;
  uint64_t after = static_cast<uint64_t>(jo.id);
  for (;;) {
    auto page = MUST(store().entry_ids(after, 2));
    if (page.empty()) break;
    paged.insert(paged.end(), page.begin(), page.end());
    after = page.back();
  }
  EXPECT_EQ(paged, want);
  EXPECT_TRUE(is_contact_id(want[0]));
  EXPECT_TRUE(is_list_id(want.back()));
}

// Tests for AdminService against the real backends, wired as src/app/daemon.cpp wires
// them: bootstrap, the A2b scopes (national vs local administrators), password and address
// rules, authentication, and the audit trail every change leaves.
#include "core/identity_services.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <functional>
#include <string>

#include "common/config.hpp"
#include "core/change_feed.hpp"
#include "core/mail_service.hpp"
#include "crypto/crypto.hpp"
#include "mime/mime.hpp"
#include "store/blob/fs_blob_store.hpp"
#include "store/open_storage.hpp"
#include "store/sqlite/sqlite_store.hpp"
#include "identity_fixture.hpp"

namespace caremail {
namespace {

namespace fs = std::filesystem;

class AdminServiceTest : public ::testing::Test, protected testing::IdentityFixture {
 protected:
  static void SetUpTestSuite() {
    crypto::init();
    mime::init();
  }

  void SetUp() override {
    std::string t = (fs::temp_directory_path() / "cm-admin-test-XXXXXX").string();
    ASSERT_NE(::mkdtemp(t.data()), nullptr);
    dir_ = t;
    cfg_.server.data_dir = dir_;
    cfg_.national.domain = "care.example";
    cfg_.mfa.required_for_administrators = false;  // sign_in_test covers MFA

    // As daemon.cpp does.
    auto storage = open_storage(cfg_);
    ASSERT_TRUE(storage.ok()) << storage.error().message;
    store_ = std::move(storage->store);
    blobs_ = std::move(storage->blobs);
    mail_ = std::make_unique<MailService>(*store_, *blobs_, feed_, MailLimits{cfg_.quota.max_message_bytes});
    make_identity(*store_, cfg_);

    auto boot = admin_->bootstrap("", "");
    ASSERT_TRUE(boot.ok()) << boot.error().message;
    boot_ = *boot;
    national_ = principal("admin@care.example");
    ASSERT_TRUE(admin_->create_organisation(national_, {"RA1", "Trust A", "", {"a.care.example"}}).ok());
    ASSERT_TRUE(admin_->create_organisation(national_, {"RB2", "Trust B", "", {"b.care.example"}}).ok());
    alice_ = make("alice@a.care.example", "RA1");
    bob_ = make("bob@a.care.example", "RA1");
    carol_ = make("carol@b.care.example", "RB2");
    admin_a_ = make("admin@a.care.example", "RA1", {Role::user, Role::local_admin});
    admin_b_ = make("admin@b.care.example", "RB2", {Role::user, Role::local_admin});
    helpdesk_a_ = make("helpdesk@a.care.example", "RA1", {Role::user, Role::local_helpdesk});
  }

  void TearDown() override {
    mail_.reset();
    reset_identity();
    store_.reset();  // joins the committer before the blob store the hook points at goes
    blobs_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  Principal principal(const std::string& address) {
    auto a = store_->account_by_address(address);
    EXPECT_TRUE(a.ok()) << address;
    Principal p = a.ok() ? Principal::of(*a) : Principal{};
    p.via = Principal::Via::password;  // as signed in with HTTP Basic: the password was given
    return p;
  }

  Principal make(const std::string& address, const std::string& ods, std::vector<Role> roles = {Role::user},
                 const std::string& password = "") {
    CreateAccountRequest r;
    r.address = address;
    r.ods_code = ods;
    r.roles = std::move(roles);
    r.password = password;
    auto a = admin_->create_account(national_, r);
    EXPECT_TRUE(a.ok()) << address << ": " << (a.ok() ? "" : a.error().message);
    Principal p = a.ok() ? Principal::of(*a) : Principal{};
    p.via = Principal::Via::password;  // as signed in with HTTP Basic: the password was given
    return p;
  }

  static CreateAccountRequest request(const std::string& address, const std::string& ods,
                                      std::vector<Role> roles = {Role::user}) {
    CreateAccountRequest r;
    r.address = address;
    r.ods_code = ods;
    r.roles = std::move(roles);
    return r;
  }

  std::vector<AuditEvent> audit_after(int64_t after) {
    auto r = store_->audit_events(std::nullopt, after, 10000);
    EXPECT_TRUE(r.ok());
    return r.ok() ? *r : std::vector<AuditEvent>{};
  }
  int64_t last_audit_id() {
    auto all = audit_after(0);
    return all.empty() ? 0 : all.back().id;
  }
  // Exactly one new audit event since `mark`, with these fields.
  void expect_one_audit(int64_t mark, const std::string& actor, const std::string& action, const std::string& target,
                        const std::string& outcome) {
    auto ev = audit_after(mark);
    ASSERT_EQ(ev.size(), 1u) << action << " " << target;
    EXPECT_EQ(ev[0].actor, actor);
    EXPECT_EQ(ev[0].action, action);
    EXPECT_EQ(ev[0].target, target);
    EXPECT_EQ(ev[0].outcome, outcome);
    EXPECT_GT(ev[0].at, 0);
    EXPECT_EQ(ev[0].hash.size(), 64u);
  }

  std::vector<std::string> addresses(const Result<std::vector<Account>>& r) {
    std::vector<std::string> out;
    if (r.ok())
      for (const auto& a : *r) out.push_back(a.address);
    return out;
  }

  fs::path dir_;
  Config cfg_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<FsBlobStore> blobs_;
  ChangeFeed feed_;
  std::unique_ptr<MailService> mail_;
  BootstrapResult boot_;
  Principal national_, alice_, bob_, carol_, admin_a_, admin_b_, helpdesk_a_;
};

TEST_F(AdminServiceTest, BootstrapCreatesNationalOrgAdminPasswordAndTokenOnce) {
  EXPECT_TRUE(boot_.created);
  EXPECT_EQ(boot_.admin_address, "admin@care.example");
  EXPECT_GE(boot_.admin_password.size(), 10u);
  EXPECT_EQ(boot_.admin_password.size(), 20u);
  EXPECT_EQ(boot_.api_token.rfind("cm_", 0), 0u) << boot_.api_token;

  auto org = store_->organisation_by_ods("X26");
  ASSERT_TRUE(org.ok());
  EXPECT_EQ(org->name, "Caremail national service");
  EXPECT_EQ(org->domains, std::vector<std::string>{"care.example"});
  auto acct = store_->account_by_address("admin@care.example");
  ASSERT_TRUE(acct.ok());
  EXPECT_EQ(acct->org_id, org->id);
  EXPECT_TRUE(acct->has_role(Role::national_admin));
  EXPECT_TRUE(acct->has_role(Role::user));

  auto by_pw = auth_->authenticate_password("admin@care.example", boot_.admin_password);
  ASSERT_TRUE(by_pw.ok()) << by_pw.error().message;
  EXPECT_EQ(by_pw->account_id, acct->id);
  EXPECT_TRUE(by_pw->has(Role::national_admin));
  // The generated password was printed on a terminal: it is changed at first use, and until
  // then the account's token (caremailctl's) is restricted like the account.
  EXPECT_TRUE(acct->must_change_password);
  EXPECT_TRUE(by_pw->must_change_password);
  auto by_token = auth_->authenticate_token(boot_.api_token);
  ASSERT_TRUE(by_token.ok()) << by_token.error().message;
  EXPECT_EQ(by_token->account_id, acct->id);
  EXPECT_TRUE(by_token->restricted());

  // The first three audit events tell the story.
  auto ev = audit_after(0);
  ASSERT_GE(ev.size(), 3u);
  EXPECT_EQ(ev[0].action, "organisation.create");
  EXPECT_EQ(ev[0].actor, "system");
  EXPECT_EQ(ev[0].target, "X26");
  EXPECT_EQ(ev[1].action, "account.create");
  EXPECT_EQ(ev[1].actor, "system");
  EXPECT_EQ(ev[1].target, "admin@care.example");
  EXPECT_EQ(ev[2].action, "api_token.issue");
  EXPECT_EQ(ev[2].actor, "admin@care.example");
  for (const auto& e : ev) EXPECT_EQ(e.detail.find(boot_.admin_password), std::string::npos);  // never secrets

  // Second start: nothing new.
  auto before_accounts = store_->list_accounts(std::nullopt);
  ASSERT_TRUE(before_accounts.ok());
  const int64_t mark = last_audit_id();
  auto again = admin_->bootstrap("", "");
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->created);
  EXPECT_EQ(again->admin_address, "admin@care.example");
  EXPECT_EQ(again->admin_password, "");
  EXPECT_EQ(again->api_token, "");
  auto after_accounts = store_->list_accounts(std::nullopt);
  ASSERT_TRUE(after_accounts.ok());
  EXPECT_EQ(after_accounts->size(), before_accounts->size());
  EXPECT_TRUE(audit_after(mark).empty());
  // The old password still works: it was not regenerated.
  EXPECT_TRUE(auth_->authenticate_password("admin@care.example", boot_.admin_password).ok());
}

TEST_F(AdminServiceTest, BootstrapWithGivenAddressAndPassword) {
  // A fresh store next to the fixture's.
  auto store = open_sqlite_store({dir_ / "second.db", 16});
  ASSERT_TRUE(store.ok());
  IdentityServices identity(**store, cfg_);
  AdminService& admin = identity.admin;
  auto weak = admin.bootstrap("root@care.example", "short");
  ASSERT_FALSE(weak.ok());
  EXPECT_EQ(weak.error().code, Errc::invalid_argument);
  auto b = admin.bootstrap("Root@Care.Example", "a sufficiently long one");
  ASSERT_TRUE(b.ok()) << b.error().message;
  EXPECT_TRUE(b->created);
  EXPECT_EQ(b->admin_address, "root@care.example");
  EXPECT_EQ(b->admin_password, "");  // not generated: not echoed
  EXPECT_FALSE(b->api_token.empty());
  auto p = identity.auth.authenticate_password("root@care.example", "a sufficiently long one");
  ASSERT_TRUE(p.ok()) << p.error().message;
  EXPECT_FALSE(p->must_change_password) << "the operator chose it: no forced change";
  auto t = identity.auth.authenticate_token(b->api_token);
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_FALSE(t->restricted());
}

TEST_F(AdminServiceTest, CreateOrganisationOnlyByNationalAdmin) {
  int64_t mark = last_audit_id();
  auto ok = admin_->create_organisation(national_, {"RC3", "Trust C", "", {"C.Care.Example"}});
  ASSERT_TRUE(ok.ok()) << ok.error().message;
  EXPECT_EQ(ok->ods_code, "RC3");
  EXPECT_EQ(ok->short_name, "rc3");
  EXPECT_EQ(ok->domains, std::vector<std::string>{"c.care.example"});
  expect_one_audit(mark, "admin@care.example", "organisation.create", "RC3", "ok");

  for (const Principal& by : {admin_a_, alice_, helpdesk_a_}) {
    SCOPED_TRACE(by.address);
    mark = last_audit_id();
    auto r = admin_->create_organisation(by, {"RD4", "Trust D", "", {}});
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, Errc::permission_denied);
    expect_one_audit(mark, by.address, "organisation.create", "RD4", "denied");
    EXPECT_EQ(store_->organisation_by_ods("RD4").error().code, Errc::not_found);
  }

  auto dup = admin_->create_organisation(national_, {"RA1", "Again", "", {}});
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.error().code, Errc::already_exists);
}

TEST_F(AdminServiceTest, OdsCodeAndOrganisationValidation) {
  const std::pair<const char*, bool> ods[] = {
      {"ABC", true},  {"R1A2B3", true}, {"ABCDEFGHIJ", true}, {"AB", false},  {"ABCDEFGHIJK", false},
      {"ab1", false}, {"A-1", false},   {"A B", false},       {"", false},    {"\xc3\x89" "AB", false},
  };
  for (auto [code, valid] : ods) {
    SCOPED_TRACE(code);
    EXPECT_EQ(AdminService::validate_ods_code(code).ok(), valid);
    auto r = admin_->create_organisation(national_, {code, "Some trust", "", {}});
    EXPECT_EQ(r.ok(), valid);
    if (!valid) {
      EXPECT_EQ(r.error().code, Errc::invalid_argument);
      EXPECT_NE(r.error().message.find("ODS code"), std::string::npos);
    }
  }
  auto no_name = admin_->create_organisation(national_, {"RE5", "", "", {}});
  ASSERT_FALSE(no_name.ok());
  EXPECT_EQ(no_name.error().code, Errc::invalid_argument);
  auto long_name = admin_->create_organisation(national_, {"RE5", std::string(201, 'n'), "", {}});
  ASSERT_FALSE(long_name.ok());
  EXPECT_EQ(long_name.error().code, Errc::invalid_argument);
  auto bad_domain = admin_->create_organisation(national_, {"RE5", "Trust E", "", {"e..care.example"}});
  ASSERT_FALSE(bad_domain.ok());
  EXPECT_EQ(bad_domain.error().code, Errc::invalid_argument);
  EXPECT_NE(bad_domain.error().message.find("e..care.example"), std::string::npos);
  EXPECT_EQ(store_->organisation_by_ods("RE5").error().code, Errc::not_found);
}

TEST_F(AdminServiceTest, ListOrganisationsByScope) {
  auto all = admin_->list_organisations(national_);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 3u);  // X26, RA1, RB2
  auto own = admin_->list_organisations(admin_a_);
  ASSERT_TRUE(own.ok());
  ASSERT_EQ(own->size(), 1u);
  EXPECT_EQ(own->front().ods_code, "RA1");
}

TEST_F(AdminServiceTest, CreateAccountScopes) {
  // Local admin, own organisation: allowed, audited with actor and target.
  // A local administrator appoints helpdesk, not other administrators (the primary local
  // administrator does, PRODUCT.md A2b).
  auto peer = admin_->create_account(admin_a_, request("eve@a.care.example", "RA1", {Role::local_admin}));
  ASSERT_FALSE(peer.ok());
  EXPECT_EQ(peer.error().code, Errc::permission_denied);
  int64_t mark = last_audit_id();
  auto own = admin_->create_account(admin_a_, request("Dora@A.Care.Example", "RA1", {Role::local_helpdesk}));
  ASSERT_TRUE(own.ok()) << own.error().message;
  EXPECT_EQ(own->address, "dora@a.care.example");  // lower case for life
  EXPECT_EQ(own->display_name, "dora");
  EXPECT_EQ(own->org_id, admin_a_.org_id);
  EXPECT_TRUE(own->has_role(Role::user));  // always added
  EXPECT_TRUE(own->has_role(Role::local_helpdesk));
  EXPECT_EQ(own->quota_bytes, cfg_.quota.default_mailbox_bytes);
  EXPECT_TRUE(own->password_hash.empty());
  expect_one_audit(mark, "admin@a.care.example", "account.create", "dora@a.care.example", "ok");
  auto ev = audit_after(mark);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].target_org, admin_a_.org_id);
  EXPECT_EQ(ev[0].actor_org, admin_a_.org_id);
  EXPECT_NE(ev[0].detail.find("local_helpdesk"), std::string::npos) << ev[0].detail;
  // Its mailboxes exist at once.
  auto mbs = store_->list_mailboxes(own->id);
  ASSERT_TRUE(mbs.ok());
  EXPECT_EQ(mbs->size(), 6u);

  // Local admin, other organisation: denied and audited; nothing created.
  mark = last_audit_id();
  auto other = admin_->create_account(admin_a_, request("eve@b.care.example", "RB2"));
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.error().code, Errc::permission_denied);
  expect_one_audit(mark, "admin@a.care.example", "account.create", "eve@b.care.example", "denied");
  EXPECT_EQ(store_->account_by_address("eve@b.care.example").error().code, Errc::not_found);

  // Local admin cannot grant national roles, even in their own organisation.
  for (Role r : {Role::national_admin, Role::national_helpdesk}) {
    mark = last_audit_id();
    auto up = admin_->create_account(admin_a_, request("mallory@a.care.example", "RA1", {Role::user, r}));
    ASSERT_FALSE(up.ok());
    EXPECT_EQ(up.error().code, Errc::permission_denied);
    expect_one_audit(mark, "admin@a.care.example", "account.create", "mallory@a.care.example", "denied");
    EXPECT_EQ(store_->account_by_address("mallory@a.care.example").error().code, Errc::not_found);
  }

  // Plain users and helpdesk staff do not create accounts.
  for (const Principal& by : {alice_, helpdesk_a_}) {
    auto r = admin_->create_account(by, request("frank@a.care.example", "RA1"));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, Errc::permission_denied);
  }

  // National admin: anywhere, and may grant national roles.
  auto nat = admin_->create_account(national_, request("nat2@b.care.example", "RB2", {Role::national_helpdesk}));
  ASSERT_TRUE(nat.ok()) << nat.error().message;
  EXPECT_TRUE(nat->has_role(Role::national_helpdesk));

  // Unknown organisation; taken address.
  auto no_org = admin_->create_account(national_, request("gina@z.care.example", "ZZZ9"));
  ASSERT_FALSE(no_org.ok());
  EXPECT_EQ(no_org.error().code, Errc::invalid_argument);
  auto taken = admin_->create_account(national_, request("BOB@a.care.example", "RA1"));
  ASSERT_FALSE(taken.ok());
  EXPECT_EQ(taken.error().code, Errc::already_exists);
}

TEST_F(AdminServiceTest, PasswordRules) {
  struct Case {
    const char* label;
    std::string password;
    AccountKind kind;
    bool ok;
  };
  const std::string e_acute = "\xc3\xa9";
  // Not a repetition of one word (the common-password rules refuse those).
  auto varied = [](size_t n) {
    std::string out;
    for (size_t i = 0; i < n; ++i) out += "q7xk2mz9w4"[(i * 7 + i / 10) % 10];
    return out;
  };
  std::string ten_chars_20_bytes, nine_chars_18_bytes;
  for (int i = 0; i < 10; ++i) ten_chars_20_bytes += e_acute;
  for (int i = 0; i < 9; ++i) nine_chars_18_bytes += e_acute;
  const Case cases[] = {
      {"9 chars", "7q2x9k4m1", AccountKind::person, false},
      {"10 chars", "7q2x9k4m1z", AccountKind::person, true},
      {"9 two-byte chars", nine_chars_18_bytes, AccountKind::person, false},
      {"10 two-byte chars", ten_chars_20_bytes, AccountKind::person, true},
      {"empty", "", AccountKind::person, false},
      {"256 bytes", varied(256), AccountKind::person, true},
      {"257 bytes", varied(257), AccountKind::person, false},
      {"application 19", varied(19), AccountKind::application, false},
      {"application 20", varied(20), AccountKind::application, true},
  };
  int n = 0;
  for (const auto& c : cases) {
    SCOPED_TRACE(c.label);
    Status s = AdminService::check_password(c.password, c.kind);
    EXPECT_EQ(s.ok(), c.ok);
    if (!s.ok()) {
      EXPECT_EQ(s.error().code, Errc::invalid_argument);
    }
    if (c.password.empty()) continue;  // empty means "no password" to create_account
    CreateAccountRequest r = request("pw" + std::to_string(n++) + "@a.care.example", "RA1");
    r.kind = c.kind;
    r.password = c.password;
    auto a = admin_->create_account(admin_a_, r);
    ASSERT_EQ(a.ok(), c.ok) << (a.ok() ? "" : a.error().message);
    if (c.ok) {
      EXPECT_EQ(a->password_hash.rfind("$argon2id$", 0), 0u);
      EXPECT_TRUE(auth_->authenticate_password(a->address, c.password).ok());
    } else {
      EXPECT_EQ(a.error().code, Errc::invalid_argument);
      EXPECT_FALSE(store_->account_by_address(r.address).ok());
    }
  }
  // Messages name the minimum.
  EXPECT_NE(AdminService::check_password("short", AccountKind::person).error().message.find("10"), std::string::npos);
  EXPECT_NE(AdminService::check_password("short", AccountKind::application).error().message.find("20"),
            std::string::npos);

  // A shared mailbox never has a password; without one it is created with the shared quota.
  CreateAccountRequest shared = request("ward7@a.care.example", "RA1");
  shared.kind = AccountKind::shared;
  shared.password = "a perfectly good password";
  auto refused = admin_->create_account(admin_a_, shared);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, Errc::invalid_argument);
  shared.password.clear();
  auto made = admin_->create_account(admin_a_, shared);
  ASSERT_TRUE(made.ok()) << made.error().message;
  EXPECT_EQ(made->kind, AccountKind::shared);
  EXPECT_EQ(made->quota_bytes, cfg_.quota.shared_mailbox_bytes);
  Status sp = admin_->set_password(admin_a_, "ward7@a.care.example", "a perfectly good password");
  ASSERT_FALSE(sp.ok());
  EXPECT_EQ(sp.error().code, Errc::invalid_argument);
}

TEST_F(AdminServiceTest, AddressValidation) {
  const std::pair<std::string, bool> cases[] = {
      {"a@b.cd", true},
      {"first.last+tag@a.care.example", true},
      {"x_y-z@sub-domain.care.example", true},
      {std::string(64, 'l') + "@a.care.example", true},
      {"", false},
      {"ab", false},
      {"no-at-sign.care.example", false},
      {"@a.care.example", false},
      {"a@", false},
      {"a@@b.cd", false},
      {"a@b@c.de", false},
      {".a@b.cd", false},
      {"a.@b.cd", false},
      {"a..b@c.de", false},
      {"a b@c.de", false},
      {"a\"b@c.de", false},
      {"<a>@b.cd", false},
      {"a\r\n@b.cd", false},
      {"a@nodot", false},
      {"a@.b.cd", false},
      {"a@b.cd.", false},
      {"a@b..cd", false},
      {"a@b_c.de", false},
      {"a@b c.de", false},
      {"r\xc3\xa9" "f@b.cd", false},
      {std::string(65, 'l') + "@a.care.example", false},
      {"a@" + std::string(250, 'd') + ".cd", false},  // 255 characters
  };
  for (const auto& [addr, valid] : cases) {
    SCOPED_TRACE(addr);
    Status s = AdminService::validate_address(addr);
    EXPECT_EQ(s.ok(), valid) << (s.ok() ? "" : s.error().message);
    if (!valid) {
      EXPECT_EQ(s.error().code, Errc::invalid_argument);
      auto r = admin_->create_account(national_, request(addr, "RA1"));
      ASSERT_FALSE(r.ok());
      EXPECT_EQ(r.error().code, Errc::invalid_argument);
    }
  }
}

TEST_F(AdminServiceTest, SetPasswordScopes) {
  // Self.
  int64_t mark = last_audit_id();
  ASSERT_TRUE(admin_->set_password(bob_, "bob@a.care.example", "the own passphrase of B").ok());
  expect_one_audit(mark, "bob@a.care.example", "account.set_password", "bob@a.care.example", "ok");
  EXPECT_EQ(audit_after(mark)[0].detail,
            "{\"self\":true,\"proof\":\"password\",\"must_change\":false,\"revoked\":{\"sessions\":0,\"api_tokens\":0,"
            "\"app_passwords\":0}}");
  EXPECT_TRUE(auth_->authenticate_password("bob@a.care.example", "the own passphrase of B").ok());

  // Local admin of another organisation: denied, audited, password unchanged; the answer
  // is the one an absent address gets, so it does not reveal that bob exists.
  mark = last_audit_id();
  Status other = admin_->set_password(admin_b_, "bob@a.care.example", "taken over by B");
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.error().code, Errc::not_found);
  Status absent = admin_->set_password(admin_b_, "nobody-here@a.care.example", "taken over by B");
  ASSERT_FALSE(absent.ok());
  EXPECT_EQ(absent.error().code, Errc::not_found);
  expect_one_audit(mark, "admin@b.care.example", "account.set_password", "bob@a.care.example", "denied");
  EXPECT_FALSE(auth_->authenticate_password("bob@a.care.example", "taken over by B").ok());
  EXPECT_TRUE(auth_->authenticate_password("bob@a.care.example", "the own passphrase of B").ok());

  // A colleague: denied. The helpdesk may reset a plain user's password (after checking
  // the caller's identity), not an administrator's.
  Status colleague = admin_->set_password(alice_, "bob@a.care.example", "taken over by colleague");
  ASSERT_FALSE(colleague.ok());
  EXPECT_EQ(colleague.error().code, Errc::permission_denied);
  ASSERT_TRUE(admin_->set_password(helpdesk_a_, "bob@a.care.example", "reset by the helpdesk").ok());
  Status admin_reset = admin_->set_password(helpdesk_a_, "admin@a.care.example", "taken over by helpdesk");
  ASSERT_FALSE(admin_reset.ok());
  EXPECT_EQ(admin_reset.error().code, Errc::permission_denied);

  // Bob's own local administrator: allowed.
  mark = last_audit_id();
  ASSERT_TRUE(admin_->set_password(admin_a_, "bob@a.care.example", "reset by admin A").ok());
  expect_one_audit(mark, "admin@a.care.example", "account.set_password", "bob@a.care.example", "ok");
  EXPECT_EQ(audit_after(mark)[0].detail,
            "{\"self\":false,\"must_change\":true,\"revoked\":{\"sessions\":0,\"api_tokens\":0,\"app_passwords\":0}}");
  EXPECT_TRUE(auth_->authenticate_password("bob@a.care.example", "reset by admin A").ok());
  EXPECT_FALSE(auth_->authenticate_password("bob@a.care.example", "the own passphrase of B").ok());

  // The rules apply to a reset too.
  Status weak = admin_->set_password(bob_, "bob@a.care.example", "123456789");
  ASSERT_FALSE(weak.ok());
  EXPECT_EQ(weak.error().code, Errc::invalid_argument);

  // A local admin cannot take over an account that holds a national role in their own
  // organisation: that would grant a national role they may not grant directly.
  Principal nat_in_a = make("nat@a.care.example", "RA1", {Role::user, Role::national_admin}, "hidden harbour key");
  mark = last_audit_id();
  Status takeover = admin_->set_password(admin_a_, "nat@a.care.example", "now it is mine");
  ASSERT_FALSE(takeover.ok());
  EXPECT_EQ(takeover.error().code, Errc::permission_denied);
  expect_one_audit(mark, "admin@a.care.example", "account.set_password", "nat@a.care.example", "denied");
  EXPECT_FALSE(auth_->authenticate_password("nat@a.care.example", "now it is mine").ok());
  // ...but that account itself and a national admin can.
  EXPECT_TRUE(admin_->set_password(nat_in_a, "nat@a.care.example", "changed by myself").ok());
  EXPECT_TRUE(admin_->set_password(national_, "nat@a.care.example", "reset by the centre").ok());
}

TEST_F(AdminServiceTest, GetAccountOutOfScopeLooksAbsent) {
  // In scope: self, own local admin, own helpdesk, national.
  for (const Principal& by : {bob_, admin_a_, helpdesk_a_, national_}) {
    SCOPED_TRACE(by.address);
    auto r = admin_->get_account(by, "bob@a.care.example");
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->id, bob_.account_id);
  }
  auto absent = admin_->get_account(admin_b_, "nobody@a.care.example");
  ASSERT_FALSE(absent.ok());
  EXPECT_EQ(absent.error().code, Errc::not_found);
  for (const Principal& by : {admin_b_, alice_, carol_}) {
    SCOPED_TRACE(by.address);
    auto r = admin_->get_account(by, "bob@a.care.example");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, Errc::not_found);
    // Same shape of answer as for an address that does not exist.
    auto none = admin_->get_account(by, "bob2@a.care.example");
    ASSERT_FALSE(none.ok());
    EXPECT_EQ(none.error().code, Errc::not_found);
    EXPECT_EQ(r.error().message, "no account bob@a.care.example");
    EXPECT_EQ(none.error().message, "no account bob2@a.care.example");
  }
}

TEST_F(AdminServiceTest, AuthenticatePassword) {
  Principal dan = make("dan@a.care.example", "RA1", {Role::user, Role::local_admin}, "harbour lantern dusk");
  auto ok = auth_->authenticate_password("dan@a.care.example", "harbour lantern dusk");
  ASSERT_TRUE(ok.ok()) << ok.error().message;
  EXPECT_EQ(ok->account_id, dan.account_id);
  EXPECT_EQ(ok->address, "dan@a.care.example");
  EXPECT_EQ(ok->org_id, dan.org_id);
  EXPECT_TRUE(ok->has(Role::local_admin));
  EXPECT_FALSE(ok->system);
  EXPECT_TRUE(auth_->authenticate_password("DAN@A.care.example", "harbour lantern dusk").ok());  // case of address

  int64_t mark = last_audit_id();
  auto wrong = auth_->authenticate_password("dan@a.care.example", "dan's passphrasE");
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.error().code, Errc::unauthenticated);
  expect_one_audit(mark, "dan@a.care.example", "auth.fail", "dan@a.care.example", "denied");

  auto unknown = auth_->authenticate_password("nobody@a.care.example", "harbour lantern dusk");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().code, Errc::unauthenticated);
  // Wrong password and unknown address are indistinguishable.
  EXPECT_EQ(unknown.error().message, wrong.error().message);
  EXPECT_EQ(wrong.error().message, "wrong address or password");

  // An account without a password cannot log in, with the same answer.
  auto no_pw = auth_->authenticate_password("alice@a.care.example", "");
  ASSERT_FALSE(no_pw.ok());
  EXPECT_EQ(no_pw.error().message, wrong.error().message);
}

TEST_F(AdminServiceTest, VerifiedPasswordIsRememberedUntilItChanges) {
  make("erin@a.care.example", "RA1", {Role::user}, "quiet copper meadow");
  uint64_t hits = auth_->password_cache().hits();
  ASSERT_TRUE(auth_->authenticate_password("erin@a.care.example", "quiet copper meadow").ok());
  EXPECT_EQ(auth_->password_cache().hits(), hits);  // first login: full check
  ASSERT_TRUE(auth_->authenticate_password("erin@a.care.example", "quiet copper meadow").ok());
  EXPECT_EQ(auth_->password_cache().hits(), hits + 1);  // second: remembered
  // A wrong password is never answered from the cache, and is still audited.
  int64_t mark = last_audit_id();
  EXPECT_FALSE(auth_->authenticate_password("erin@a.care.example", "erin's passphrasE").ok());
  expect_one_audit(mark, "erin@a.care.example", "auth.fail", "erin@a.care.example", "denied");
  EXPECT_EQ(auth_->password_cache().hits(), hits + 1);
  // A password change makes the remembered one worthless at once.
  ASSERT_TRUE(admin_->set_password(Principal::service(), "erin@a.care.example", "quiet copper meadow two").ok());
  EXPECT_FALSE(auth_->authenticate_password("erin@a.care.example", "quiet copper meadow").ok());
  EXPECT_TRUE(auth_->authenticate_password("erin@a.care.example", "quiet copper meadow two").ok());
}

TEST_F(AdminServiceTest, AuthenticateToken) {
  auto token = admin_->issue_api_token(bob_, "bob's script");
  ASSERT_TRUE(token.ok());
  EXPECT_EQ(token->token.rfind("cm_", 0), 0u);
  EXPECT_EQ(token->token.size(), 3u + 43u);
  auto p = auth_->authenticate_token(token->token);
  ASSERT_TRUE(p.ok()) << p.error().message;
  EXPECT_EQ(p->account_id, bob_.account_id);
  EXPECT_EQ(p->address, "bob@a.care.example");

  std::string altered = token->token;
  altered.back() = altered.back() == 'A' ? 'B' : 'A';
  for (const std::string& bad : {altered, std::string("cm_short"), std::string(""), std::string(300, 'x'),
                                 token->token.substr(3)}) {
    SCOPED_TRACE(bad);
    auto r = auth_->authenticate_token(bad);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, Errc::unauthenticated);
  }
  auto sys = admin_->issue_api_token(Principal::service(), "nope");
  ASSERT_FALSE(sys.ok());
  EXPECT_EQ(sys.error().code, Errc::invalid_argument);
  // Two tokens for one account both work.
  auto second = admin_->issue_api_token(bob_, "another");
  ASSERT_TRUE(second.ok());
  EXPECT_NE(second->token, token->token);
  EXPECT_NE(second->info.id, token->info.id);
  EXPECT_TRUE(auth_->authenticate_token(token->token).ok());
  EXPECT_TRUE(auth_->authenticate_token(second->token).ok());
}

// Issue 14 (Low): a local helpdesk must not act on an administrator's sign-ins (app
// passwords, API tokens, failures, the lock); the take-over rank applies.
TEST_F(AdminServiceTest, HelpdeskDoesNotActOnAnAdministratorsSignIns) {
  Principal primary = make("primary@a.care.example", "RA1", {Role::user, Role::primary_local_admin},
                           "amber lantern kettle");
  auto app = auth_->create_app_password(primary, "Phone");
  ASSERT_TRUE(app.ok());
  auto token = admin_->issue_api_token(primary, "script");
  ASSERT_TRUE(token.ok());
  for (const Principal& by : {helpdesk_a_, admin_a_}) {
    SCOPED_TRACE(by.address);
    int64_t mark = last_audit_id();
    EXPECT_EQ(auth_->list_app_passwords(by, primary.address).error().code, Errc::permission_denied);
    expect_one_audit(mark, by.address, "app_password.list", primary.address, "denied");
    EXPECT_EQ(auth_->revoke_app_password(by, primary.address, app->info.id).error().code, Errc::permission_denied);
    EXPECT_EQ(auth_->auth_failures(by, primary.address).error().code, Errc::permission_denied);
    EXPECT_EQ(auth_->unlock(by, primary.address).error().code, Errc::permission_denied);
    EXPECT_EQ(admin_->list_api_tokens(by, primary.address).error().code, Errc::permission_denied);
    EXPECT_EQ(admin_->revoke_api_token(by, primary.address, token->info.id).error().code, Errc::permission_denied);
  }
  EXPECT_EQ(auth_->list_app_passwords(primary, primary.address)->size(), 1u);
  EXPECT_EQ(admin_->list_api_tokens(primary, primary.address)->size(), 1u);
  // The helpdesk still helps plain users; national administrators help everyone.
  auto bobs = auth_->create_app_password(bob_, "Phone");
  ASSERT_TRUE(bobs.ok());
  EXPECT_TRUE(auth_->list_app_passwords(helpdesk_a_, bob_.address).ok());
  EXPECT_TRUE(auth_->auth_failures(helpdesk_a_, bob_.address).ok());
  EXPECT_TRUE(auth_->unlock(helpdesk_a_, bob_.address).ok());
  EXPECT_TRUE(auth_->revoke_app_password(helpdesk_a_, bob_.address, bobs->info.id).ok());
  EXPECT_TRUE(auth_->revoke_app_password(national_, primary.address, app->info.id).ok());
  EXPECT_TRUE(admin_->revoke_api_token(national_, primary.address, token->info.id).ok());
}

TEST_F(AdminServiceTest, OperatorTokenIsRenewedWhenItNoLongerWorksOrNearsItsEnd) {
  std::optional<std::string> none;
  UnixTime t0 = admin_->now();
  // Fresh: kept.
  auto kept = admin_->renew_operator_token(boot_.api_token);
  ASSERT_TRUE(kept.ok()) << kept.error().message;
  EXPECT_EQ(*kept, none);
  // Two thirds of its life gone: a new one, the old one revoked.
  identity_->context.clock = [&] { return t0 + cfg_.api.operator_token_seconds * 2 / 3 + 10; };
  auto renewed = admin_->renew_operator_token(boot_.api_token);
  ASSERT_TRUE(renewed.ok());
  ASSERT_TRUE(renewed->has_value());
  EXPECT_FALSE(auth_->authenticate_token(boot_.api_token).ok());
  auto p = auth_->authenticate_token(**renewed);
  ASSERT_TRUE(p.ok()) << p.error().message;
  EXPECT_TRUE(p->has(Role::national_admin));
  EXPECT_EQ(*admin_->renew_operator_token(**renewed), none);
  // Missing or revoked (say by a password reset): a new one too.
  auto from_nothing = admin_->renew_operator_token("");
  ASSERT_TRUE(from_nothing.ok());
  EXPECT_TRUE(from_nothing->has_value());
  EXPECT_TRUE(auth_->authenticate_token(**from_nothing).ok());
}

TEST_F(AdminServiceTest, ListAccountsByScope) {
  const std::vector<std::string> org_a = {"admin@a.care.example", "alice@a.care.example", "bob@a.care.example",
                                          "helpdesk@a.care.example"};
  const std::vector<std::string> org_b = {"admin@b.care.example", "carol@b.care.example"};

  EXPECT_EQ(addresses(admin_->list_accounts(admin_a_, std::nullopt)), org_a);
  EXPECT_EQ(addresses(admin_->list_accounts(admin_a_, std::string("RA1"))), org_a);
  EXPECT_EQ(addresses(admin_->list_accounts(helpdesk_a_, std::nullopt)), org_a);
  EXPECT_EQ(addresses(admin_->list_accounts(admin_b_, std::nullopt)), org_b);

  int64_t mark = last_audit_id();
  auto other = admin_->list_accounts(admin_a_, std::string("RB2"));
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.error().code, Errc::permission_denied);
  expect_one_audit(mark, "admin@a.care.example", "account.list", "RB2", "denied");

  auto plain = admin_->list_accounts(alice_, std::nullopt);
  ASSERT_FALSE(plain.ok());
  EXPECT_EQ(plain.error().code, Errc::permission_denied);

  auto all = admin_->list_accounts(national_, std::nullopt);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), org_a.size() + org_b.size() + 1);  // + admin@care.example
  EXPECT_EQ(addresses(admin_->list_accounts(national_, std::string("RB2"))), org_b);
  auto unknown = admin_->list_accounts(national_, std::string("ZZZ9"));
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().code, Errc::not_found);
}

TEST_F(AdminServiceTest, EverySuccessfulAdminActionIsAuditedAndTheChainHolds) {
  struct Step {
    std::string action;
    std::string actor;
    std::string target;
    std::function<bool()> run;
  };
  const std::vector<Step> steps = {
      {"organisation.create", "admin@care.example", "RF6",
       [&] { return admin_->create_organisation(national_, {"RF6", "Trust F", "", {}}).ok(); }},
      {"account.create", "admin@care.example", "fred@f.care.example",
       [&] {
         return admin_->create_account(national_, request("fred@f.care.example", "RF6", {Role::local_admin})).ok();
       }},
      {"account.create", "admin@a.care.example", "gwen@a.care.example",
       [&] { return admin_->create_account(admin_a_, request("gwen@a.care.example", "RA1")).ok(); }},
      {"account.set_password", "admin@a.care.example", "gwen@a.care.example",
       [&] { return admin_->set_password(admin_a_, "gwen@a.care.example", "first one of hers").ok(); }},
      {"account.set_password", "alice@a.care.example", "alice@a.care.example",
       [&] { return admin_->set_password(alice_, "alice@a.care.example", "her very own one").ok(); }},
      {"api_token.issue", "admin@b.care.example", "admin@b.care.example",
       [&] { return admin_->issue_api_token(admin_b_, "b's script").ok(); }},
  };
  for (const auto& s : steps) {
    SCOPED_TRACE(s.action + " " + s.target);
    const int64_t mark = last_audit_id();
    ASSERT_TRUE(s.run());
    expect_one_audit(mark, s.actor, s.action, s.target, "ok");
  }
  auto all = audit_after(0);
  ASSERT_FALSE(all.empty());
  for (size_t i = 1; i < all.size(); ++i) EXPECT_GT(all[i].id, all[i - 1].id);
  for (const auto& e : all) {
    EXPECT_EQ(e.detail.find("passphrase"), std::string::npos);
    EXPECT_EQ(e.detail.find("first one"), std::string::npos);  // no secret reaches the audit log
  }
  auto chain = store_->verify_audit_chain();
  ASSERT_TRUE(chain.ok());
  EXPECT_EQ(*chain, 0);
  // The organisation filter shows B's own events.
  auto b_events = store_->audit_events(admin_b_.org_id, 0, 1000);
  ASSERT_TRUE(b_events.ok());
  ASSERT_FALSE(b_events->empty());
  EXPECT_EQ(b_events->back().action, "api_token.issue");
}

}  // namespace
}  // namespace caremail

// Tests for the account life cycle, roles, quotas and organisation closure (PRODUCT.md A1-A3,
// A2b, A6): the scheduled job's moves with an injected clock (inactive, deleted, purged,
// address lock), leavers and joiners, disable/enable/delete/restore, legal hold, who may
// grant which role, the allowance of larger quotas, and closing an organisation into its
// successor.
#include <gtest/gtest.h>

#include <ctime>
#include <filesystem>
#include <string>

#include "common/config.hpp"
#include "core/identity_services.hpp"
#include "core/change_feed.hpp"
#include "core/mail_service.hpp"
#include "crypto/crypto.hpp"
#include "store/open_storage.hpp"
#include "identity_fixture.hpp"
#include "temp_dir.hpp"

namespace caremail {
namespace {

constexpr UnixTime kDay = 86400;

class LifecycleTest : public ::testing::Test, protected testing::IdentityFixture {
 protected:
  static void SetUpTestSuite() { crypto::init(); }

  void SetUp() override {
    cfg_.server.data_dir = dir_.path();
    cfg_.national.domain = "care.example";
    cfg_.mfa.required_for_administrators = false;
    cfg_.quota.default_mailbox_bytes = 4ull << 30;
    auto storage = open_storage(cfg_);
    ASSERT_TRUE(storage.ok()) << storage.error().message;
    store_ = std::move(storage->store);
    blobs_ = std::move(storage->blobs);
    mail_ = std::make_unique<MailService>(*store_, *blobs_, feed_, MailLimits{cfg_.quota.max_message_bytes});
    make_identity(*store_, cfg_);
    // The store stamps creation with the wall clock; the test's clock starts there.
    now_ = static_cast<UnixTime>(std::time(nullptr)) + 1;
    identity_->context.clock = [this] { return now_; };
    identity_->context.notify = [this](const Account& a, std::string subject, std::string) {
      notices_.push_back(a.address + ": " + subject);
      return Status{};
    };
    ASSERT_TRUE(admin_->bootstrap("", "").ok());
    national_ = Principal::of(*store_->account_by_address("admin@care.example"));
    ASSERT_TRUE(admin_->create_organisation(national_, {"RA1", "Trust A", "", {"a.care.example"}}).ok());
    ASSERT_TRUE(admin_->create_organisation(national_, {"RB2", "Trust B", "", {"b.care.example"}}).ok());
    jo_ = make("jo.bloggs@a.care.example", "RA1");
    admin_a_ = make("admin@a.care.example", "RA1", {Role::user, Role::local_admin});
    primary_a_ = make("primary@a.care.example", "RA1", {Role::user, Role::primary_local_admin});
    helpdesk_a_ = make("helpdesk@a.care.example", "RA1", {Role::user, Role::local_helpdesk});
    admin_b_ = make("admin@b.care.example", "RB2", {Role::user, Role::local_admin});
  }

  void TearDown() override {
    reset_identity();
    mail_.reset();
    store_.reset();
    blobs_.reset();
  }

  Principal make(const std::string& address, const std::string& ods, std::vector<Role> roles = {Role::user}) {
    CreateAccountRequest r;
    r.address = address;
    r.ods_code = ods;
    r.roles = std::move(roles);
    r.password = kPw;
    auto a = admin_->create_account(national_, r);
    EXPECT_TRUE(a.ok()) << (a.ok() ? "" : a.error().message);
    return a.ok() ? Principal::of(*a) : Principal{};
  }

  Account account(const std::string& address) {
    auto a = store_->account_by_address(address);
    EXPECT_TRUE(a.ok()) << address;
    return a.ok() ? *a : Account{};
  }

  bool signs_in(const std::string& address) {
    AuthContext c;
    c.protocol = "imap";
    c.mail_client = true;
    c.peer = "192.0.2.1";
    return auth_->sign_in(address, kPw, c).ok();
  }

  LifecycleRun run() {
    auto r = lifecycle_->run_lifecycle([this](AccountId id) { forgotten_.push_back(id); });
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
    return r.ok() ? *r : LifecycleRun{};
  }

  // Keeps every account but `except` signed in "today", so only `except` goes idle.
  void keep_others_alive(const std::string& except) {
    for (const char* a : {"jo.bloggs@a.care.example", "admin@a.care.example", "primary@a.care.example",
                          "helpdesk@a.care.example", "admin@b.care.example", "admin@care.example"})
      if (a != except) (void)store_->note_login(account(a).id, now_);
  }

  static constexpr const char* kPw = "velvet hammock orbit";
  UnixTime now_ = 0;
  testing::TempDir dir_{"cm-lifecycle-test"};  // before the store: removed after it closes
  Config cfg_;
  ChangeFeed feed_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<FsBlobStore> blobs_;
  std::unique_ptr<MailService> mail_;
  std::vector<std::string> notices_;
  std::vector<AccountId> forgotten_;
  Principal national_, jo_, admin_a_, primary_a_, helpdesk_a_, admin_b_;
};

TEST_F(LifecycleTest, IdleAccountsGoInactiveThenDeletedThenPurgedAndTheAddressStaysLocked) {
  const std::string jo = jo_.address;
  // Mail in the account, to see it purged.
  std::vector<std::string> to{jo};
  ASSERT_TRUE(mail_->deliver(Principal::service(), to, "Subject: hi\r\n\r\nhello\r\n").ok());

  now_ += 29 * kDay;
  keep_others_alive(jo);
  EXPECT_EQ(run().inactive, 0);
  EXPECT_EQ(account(jo).state, AccountState::active);

  now_ += 2 * kDay;  // 31 days without a sign-in
  keep_others_alive(jo);
  LifecycleRun r = run();
  EXPECT_EQ(r.inactive, 1);
  EXPECT_EQ(account(jo).state, AccountState::inactive);
  ASSERT_EQ(notices_.size(), 1u);
  EXPECT_EQ(notices_[0], jo + ": Your account is inactive");
  // Mail still arrives while inactive.
  EXPECT_TRUE(mail_->check_recipient(jo, 100).ok());

  // A sign-in wakes it up (audited), and the clock starts again.
  ASSERT_TRUE(signs_in(jo));
  EXPECT_EQ(account(jo).state, AccountState::active);

  // Idle again: inactive after 30 days, deleted 30 days after that (never sooner, even when
  // the job ran late).
  now_ += 31 * kDay;
  keep_others_alive(jo);
  run();
  EXPECT_EQ(account(jo).state, AccountState::inactive);
  now_ += 29 * kDay;
  keep_others_alive(jo);
  EXPECT_EQ(run().deleted, 0);
  now_ += 2 * kDay;
  keep_others_alive(jo);
  EXPECT_EQ(run().deleted, 1);
  EXPECT_EQ(account(jo).state, AccountState::deleted);
  EXPECT_FALSE(signs_in(jo));
  auto rc = mail_->check_recipient(jo, 100);
  ASSERT_FALSE(rc.ok());
  EXPECT_EQ(rc.error().code, Errc::not_found);

  // Within the restore window the mail is still there.
  now_ += 29 * kDay;
  keep_others_alive(jo);
  EXPECT_EQ(run().purged, 0);
  auto inbox = store_->mailbox(account(jo).id, "INBOX");
  ASSERT_TRUE(inbox.ok());
  EXPECT_EQ(inbox->messages, 1u);

  // Past it: mailboxes, credentials and the account go; the address stays locked.
  now_ += 2 * kDay;
  keep_others_alive(jo);
  AccountId id = account(jo).id;
  EXPECT_EQ(run().purged, 1);
  EXPECT_EQ(store_->account_by_address(jo).error().code, Errc::not_found);
  EXPECT_TRUE(store_->list_mailboxes(id)->empty());
  ASSERT_EQ(forgotten_.size(), 1u);
  EXPECT_EQ(forgotten_[0], id);
  CreateAccountRequest again;
  again.address = jo;
  again.ods_code = "RB2";
  auto taken = admin_->create_account(national_, again);
  ASSERT_FALSE(taken.ok());
  EXPECT_EQ(taken.error().code, Errc::already_exists);
  EXPECT_NE(taken.error().message.find("deleted account"), std::string::npos) << taken.error().message;
  EXPECT_FALSE(store_->add_alias(account("admin@b.care.example").id, jo).ok());

  // Two years after the deletion it is free again.
  now_ += 700 * kDay;
  keep_others_alive(jo);
  EXPECT_EQ(run().addresses_released, 1);
  EXPECT_TRUE(admin_->create_account(national_, again).ok());
}

TEST_F(LifecycleTest, AnAccountThatNeverAcceptsTheAupGoesInactiveEvenIfItSignsIn) {
  ASSERT_TRUE(auth_->publish_aup(national_, "Use it well.").ok());
  // Everyone else accepts; jo signs in over the API (restricted) but never accepts.
  for (auto* p : {&admin_a_, &primary_a_, &helpdesk_a_, &admin_b_, &national_})
    ASSERT_TRUE(auth_->accept_aup(*p, 1).ok());
  now_ += 31 * kDay;
  keep_others_alive("");
  (void)auth_->authenticate_password(jo_.address, kPw);
  run();
  EXPECT_EQ(account(jo_.address).state, AccountState::inactive);
  EXPECT_EQ(account(admin_a_.address).state, AccountState::active);
}

TEST_F(LifecycleTest, LegalHoldStopsDeletion) {
  const std::string jo = jo_.address;
  auto denied = lifecycle_->set_legal_hold(admin_a_, jo, true);
  ASSERT_FALSE(denied.ok());
  EXPECT_EQ(denied.error().code, Errc::permission_denied);
  ASSERT_TRUE(lifecycle_->set_legal_hold(national_, jo, true).ok());
  // Nobody deletes it, and the job does not either.
  EXPECT_EQ(lifecycle_->change_state(admin_a_, jo, AccountState::deleted).error().code, Errc::conflict);
  ASSERT_TRUE(lifecycle_->change_state(admin_a_, jo, AccountState::disabled).ok());
  now_ += 600 * kDay;
  keep_others_alive(jo);
  EXPECT_EQ(run().deleted, 0);
  EXPECT_EQ(account(jo).state, AccountState::disabled);
  ASSERT_TRUE(lifecycle_->set_legal_hold(national_, jo, false).ok());
  now_ += kDay;
  keep_others_alive(jo);
  EXPECT_EQ(run().deleted, 1);
  EXPECT_EQ(run().purged, 0);  // the restore window starts at the deletion
}

TEST_F(LifecycleTest, LeaverKeepsTheAddressAndIsClaimedByTheNewOrganisation) {
  // Give the leaver-to-be a role and a larger quota first.
  ASSERT_TRUE(lifecycle_->set_roles(primary_a_, jo_.address, {Role::user, Role::local_admin}).ok());
  ASSERT_TRUE(lifecycle_->set_quota(national_, jo_.address, 10ull << 30).ok());

  // Another organisation cannot mark them (and cannot tell they exist).
  auto other = lifecycle_->mark_leaver(admin_b_, jo_.address);
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.error().code, Errc::not_found);
  // Helpdesk may not either.
  EXPECT_FALSE(lifecycle_->mark_leaver(helpdesk_a_, jo_.address).ok());
  // A claim before they are a leaver is refused.
  auto early = lifecycle_->claim_joiner(admin_b_, jo_.address);
  ASSERT_FALSE(early.ok());
  EXPECT_EQ(early.error().code, Errc::conflict);

  // A local administrator may not mark the primary (more rights); nobody marks themselves.
  EXPECT_EQ(lifecycle_->mark_leaver(admin_a_, primary_a_.address).error().code, Errc::permission_denied);
  EXPECT_EQ(lifecycle_->mark_leaver(primary_a_, primary_a_.address).error().code, Errc::invalid_argument);
  ASSERT_TRUE(lifecycle_->mark_leaver(primary_a_, jo_.address).ok());
  Account a = account(jo_.address);
  EXPECT_EQ(a.state, AccountState::leaver);
  EXPECT_EQ(a.roles, std::vector<Role>{Role::user});
  EXPECT_EQ(a.quota_bytes, cfg_.quota.default_mailbox_bytes);
  ASSERT_EQ(notices_.size(), 1u);
  EXPECT_NE(notices_[0].find("ready to move"), std::string::npos);
  EXPECT_TRUE(signs_in(jo_.address));  // keeps using mail meanwhile
  EXPECT_TRUE(mail_->check_recipient(jo_.address, 100).ok());

  // A helpdesk member of the new organisation cannot claim; its administrator can.
  auto hd = lifecycle_->claim_joiner(make("hd@b.care.example", "RB2", {Role::user, Role::local_helpdesk}), jo_.address);
  ASSERT_FALSE(hd.ok());
  EXPECT_EQ(hd.error().code, Errc::permission_denied);
  auto claimed = lifecycle_->claim_joiner(admin_b_, jo_.address);
  ASSERT_TRUE(claimed.ok()) << claimed.error().message;
  EXPECT_EQ(claimed->state, AccountState::active);
  auto rb2 = store_->organisation_by_ods("RB2");
  EXPECT_EQ(claimed->org_id, rb2->id);
  EXPECT_EQ(claimed->address, "jo.bloggs@a.care.example");  // the address is for life
  // The old organisation no longer administers them; the new one does.
  EXPECT_EQ(admin_->get_account(admin_a_, jo_.address).error().code, Errc::not_found);
  EXPECT_TRUE(admin_->get_account(admin_b_, jo_.address).ok());
}

TEST_F(LifecycleTest, UnclaimedLeaverIsDeletedAfterTheClaimPeriod) {
  ASSERT_TRUE(lifecycle_->mark_leaver(admin_a_, jo_.address).ok());
  now_ += 29 * kDay;
  keep_others_alive("");
  EXPECT_EQ(run().deleted, 0);
  now_ += 2 * kDay;
  keep_others_alive("");
  EXPECT_EQ(run().deleted, 1);
  EXPECT_EQ(account(jo_.address).state, AccountState::deleted);
  // Restorable by its organisation within the window.
  ASSERT_TRUE(lifecycle_->restore_account(admin_a_, jo_.address).ok());
  EXPECT_EQ(account(jo_.address).state, AccountState::active);
  EXPECT_TRUE(signs_in(jo_.address));
}

TEST_F(LifecycleTest, DisableEnableDeleteRestore) {
  const std::string jo = jo_.address;
  EXPECT_EQ(lifecycle_->change_state(admin_b_, jo, AccountState::disabled).error().code, Errc::not_found);
  EXPECT_EQ(lifecycle_->change_state(helpdesk_a_, jo, AccountState::disabled).error().code, Errc::permission_denied);
  EXPECT_EQ(lifecycle_->change_state(jo_, jo, AccountState::disabled).error().code, Errc::permission_denied);
  EXPECT_EQ(lifecycle_->change_state(admin_a_, admin_a_.address, AccountState::disabled).error().code,
            Errc::invalid_argument);  // not yourself

  ASSERT_TRUE(lifecycle_->change_state(admin_a_, jo, AccountState::disabled).ok());
  EXPECT_FALSE(signs_in(jo));
  AuthContext c;
  auto why = auth_->sign_in(jo, kPw, c);
  ASSERT_FALSE(why.ok());
  EXPECT_NE(why.error().message.find("disabled"), std::string::npos);
  auto rc = mail_->check_recipient(jo, 100);
  ASSERT_FALSE(rc.ok());
  EXPECT_EQ(rc.error().code, Errc::conflict);  // SMTP 550 5.2.1
  EXPECT_EQ(lifecycle_->change_state(admin_a_, jo, AccountState::disabled).error().code, Errc::conflict);

  ASSERT_TRUE(lifecycle_->change_state(admin_a_, jo, AccountState::active).ok());
  EXPECT_TRUE(signs_in(jo));

  ASSERT_TRUE(lifecycle_->change_state(admin_a_, jo, AccountState::deleted).ok());
  EXPECT_FALSE(signs_in(jo));
  EXPECT_EQ(lifecycle_->change_state(admin_a_, jo, AccountState::active).error().code, Errc::conflict);
  EXPECT_EQ(lifecycle_->restore_account(admin_b_, jo).error().code, Errc::not_found);
  ASSERT_TRUE(lifecycle_->restore_account(admin_a_, jo).ok());
  EXPECT_EQ(lifecycle_->restore_account(admin_a_, jo).error().code, Errc::conflict);
  EXPECT_TRUE(signs_in(jo));

  // Disabled accounts are kept 18 months, then deleted.
  ASSERT_TRUE(lifecycle_->change_state(admin_a_, jo, AccountState::disabled).ok());
  now_ += 547 * kDay;
  keep_others_alive("");
  EXPECT_EQ(run().deleted, 0);
  now_ += 2 * kDay;
  keep_others_alive("");
  EXPECT_EQ(run().deleted, 1);
}

TEST_F(LifecycleTest, WhoMayGrantWhichRole) {
  const std::string jo = jo_.address;
  auto code = [&](const Principal& by, std::vector<Role> roles) {
    Status s = lifecycle_->set_roles(by, jo, std::move(roles));
    return s.ok() ? std::string("ok") : std::string(to_string(s.error().code));
  };
  EXPECT_EQ(code(admin_a_, {Role::user, Role::local_helpdesk}), "ok");
  EXPECT_EQ(code(admin_a_, {Role::user}), "ok");  // and take it away
  EXPECT_EQ(code(admin_a_, {Role::user, Role::local_admin}), "permission_denied");
  EXPECT_EQ(code(admin_a_, {Role::user, Role::auditor}), "permission_denied");
  EXPECT_EQ(code(primary_a_, {Role::user, Role::local_admin, Role::auditor, Role::authoriser}), "ok");
  EXPECT_EQ(code(primary_a_, {Role::user, Role::primary_local_admin}), "permission_denied");
  EXPECT_EQ(code(primary_a_, {Role::user, Role::national_admin}), "permission_denied");
  EXPECT_EQ(code(helpdesk_a_, {Role::user}), "permission_denied");
  EXPECT_EQ(code(jo_, {Role::user}), "permission_denied");
  EXPECT_EQ(code(admin_b_, {Role::user}), "not_found");  // another organisation
  EXPECT_EQ(code(national_, {Role::user, Role::primary_local_admin}), "ok");
  // Nobody changes their own roles.
  EXPECT_EQ(lifecycle_->set_roles(primary_a_, primary_a_.address, {Role::user}).error().code, Errc::invalid_argument);
  // The roles were audited.
  auto events = store_->audit_events(std::nullopt, 0, 1000);
  ASSERT_TRUE(events.ok());
  int ok = 0, refused = 0;
  for (const auto& e : *events)
    if (e.action == "account.roles") (e.outcome == "ok" ? ok : refused)++;
  EXPECT_EQ(ok, 4);
  EXPECT_GE(refused, 5);
}

TEST_F(LifecycleTest, LargerQuotasComeFromTheOrganisationsAllowance) {
  const uint64_t big = 20ull << 30;
  auto first = lifecycle_->set_quota(admin_a_, jo_.address, big);
  ASSERT_FALSE(first.ok());
  EXPECT_EQ(first.error().code, Errc::quota_exceeded);
  EXPECT_NE(first.error().message.find("larger quotas"), std::string::npos);
  EXPECT_FALSE(lifecycle_->set_quota_allowance(admin_a_, "RA1", 5).ok());
  ASSERT_TRUE(lifecycle_->set_quota_allowance(national_, "RA1", 1).ok());
  ASSERT_TRUE(lifecycle_->set_quota(admin_a_, jo_.address, big).ok());
  EXPECT_EQ(account(jo_.address).quota_bytes, big);
  ASSERT_TRUE(lifecycle_->set_quota(admin_a_, jo_.address, big + (1ull << 30)).ok());  // the same one, bigger
  EXPECT_EQ(lifecycle_->set_quota(admin_a_, helpdesk_a_.address, big).error().code, Errc::quota_exceeded);
  // At or below the default never needs the allowance; above the maximum never allowed.
  EXPECT_TRUE(lifecycle_->set_quota(admin_a_, helpdesk_a_.address, 1ull << 30).ok());
  EXPECT_EQ(lifecycle_->set_quota(national_, helpdesk_a_.address, cfg_.quota.max_mailbox_bytes + 1).error().code,
            Errc::invalid_argument);
  EXPECT_EQ(lifecycle_->set_quota(admin_b_, jo_.address, 1ull << 30).error().code, Errc::not_found);
  // A leaver gives the larger quota back.
  ASSERT_TRUE(lifecycle_->mark_leaver(admin_a_, jo_.address).ok());
  EXPECT_TRUE(lifecycle_->set_quota(admin_a_, helpdesk_a_.address, big).ok());
}

TEST_F(LifecycleTest, ClosingAnOrganisationMovesEverythingToTheSuccessor) {
  EXPECT_EQ(lifecycle_->close_organisation(admin_a_, "RA1", "RB2").error().code, Errc::permission_denied);
  EXPECT_EQ(lifecycle_->close_organisation(national_, "RA1", "RA1").error().code, Errc::invalid_argument);
  EXPECT_EQ(lifecycle_->close_organisation(national_, "RA1", "ZZZ9").error().code, Errc::invalid_argument);
  ASSERT_TRUE(lifecycle_->close_organisation(national_, "RA1", "RB2").ok());
  auto ra1 = store_->organisation_by_ods("RA1");
  auto rb2 = store_->organisation_by_ods("RB2");
  EXPECT_FALSE(ra1->open);
  EXPECT_EQ(ra1->successor_id, rb2->id);
  // Accounts and domains moved; organisation-scoped roles are gone.
  for (const char* a : {"jo.bloggs@a.care.example", "admin@a.care.example", "primary@a.care.example"}) {
    Account acct = account(a);
    EXPECT_EQ(acct.org_id, rb2->id) << a;
    EXPECT_EQ(acct.roles, std::vector<Role>{Role::user}) << a;
  }
  EXPECT_EQ(*store_->organisation_for_domain("a.care.example"), rb2->id);
  EXPECT_TRUE(mail_->check_recipient("jo.bloggs@a.care.example", 100).ok());  // mail still arrives
  // The successor's administrator administers them now.
  EXPECT_TRUE(admin_->get_account(admin_b_, "jo.bloggs@a.care.example").ok());
  // No new accounts in the closed organisation; closing it again is a conflict.
  CreateAccountRequest r;
  r.address = "new@a.care.example";
  r.ods_code = "RA1";
  EXPECT_EQ(admin_->create_account(national_, r).error().code, Errc::conflict);
  EXPECT_EQ(lifecycle_->close_organisation(national_, "RA1", "RB2").error().code, Errc::conflict);
  EXPECT_EQ(lifecycle_->close_organisation(national_, "RB2", "RA1").error().code, Errc::conflict);  // closed successor
}

}  // namespace
}  // namespace caremail

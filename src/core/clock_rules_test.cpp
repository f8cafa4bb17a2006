// Time rules under one injected clock (common/clock.hpp): the store, MailService and the
// identity services are wired as daemon.cpp wires them, all reading one TestClock, so an
// hour's sending window or a token's life is crossed by moving the clock instead of waiting.
#include <gtest/gtest.h>

#include "common/clock.hpp"
#include "common/config.hpp"
#include "core/mail_service.hpp"
#include "crypto/crypto.hpp"
#include "identity_fixture.hpp"
#include "store/open_storage.hpp"
#include "temp_dir.hpp"

namespace caremail {
namespace {

constexpr UnixTime kStart = 1'900'000'000;  // 2030-03-17, far from the machine's clock

class ClockRulesTest : public ::testing::Test, protected testing::IdentityFixture {
 protected:
  static void SetUpTestSuite() { crypto::init(); }

  void SetUp() override {
    cfg_.server.data_dir = dir_.path();
    cfg_.national.domain = "care.example";
    cfg_.smtp.max_messages_per_hour = 3;
    cfg_.mfa.required_for_administrators = false;
    auto storage = open_storage(cfg_, clock_.clock());
    ASSERT_TRUE(storage.ok()) << storage.error().message;
    store_ = std::move(storage->store);
    blobs_ = std::move(storage->blobs);
    mail_ = std::make_unique<MailService>(*store_, *blobs_, feed_, MailLimits::from(cfg_), clock_.clock());
    make_identity(*store_, cfg_, clock_.clock());
    ASSERT_TRUE(admin_->bootstrap("", "").ok());
    national_ = Principal::of(*store_->account_by_address("admin@care.example"));
    ASSERT_TRUE(admin_->create_organisation(national_, {"RA1", "Trust A", "", {"a.care.example"}}).ok());
    CreateAccountRequest r;
    r.address = "jo.bloggs@a.care.example";
    r.ods_code = "RA1";
    r.password = "velvet hammock orbit";
    auto jo = admin_->create_account(national_, r);
    ASSERT_TRUE(jo.ok()) << jo.error().message;
    jo_ = Principal::of(*jo);
    jo_.via = Principal::Via::password;
  }

  void TearDown() override {
    mail_.reset();
    reset_identity();
    store_.reset();  // joins the committer before the blob store the hook points at goes
    blobs_.reset();
  }

  testing::TempDir dir_{"cm-clock-test"};
  TestClock clock_{kStart};
  Config cfg_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<FsBlobStore> blobs_;
  ChangeFeed feed_;
  std::unique_ptr<MailService> mail_;
  Principal national_, jo_;
};

TEST_F(ClockRulesTest, TheStoreStampsWithItsClock) {
  auto jo = store_->account(jo_.account_id);
  ASSERT_TRUE(jo.ok());
  EXPECT_EQ(jo->created_at, kStart);
  clock_.advance(90);
  AuditEvent ev;
  ev.actor = "system";
  ev.action = "test.clock";
  ev.outcome = "ok";
  ev.detail = "{}";
  auto e = store_->append_audit(ev);
  ASSERT_TRUE(e.ok()) << e.error().message;
  EXPECT_EQ(e->at, kStart + 90);
}

// PRODUCT.md S6: the limit counts the last hour; a message leaves the window an hour after
// it was sent.
TEST_F(ClockRulesTest, TheSendingWindowRollsOverAfterAnHour) {
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(mail_->record_submission(jo_, 1).ok()) << i;
    clock_.advance(10);
  }
  clock_.set(kStart + 3600);  // the first has left the window: three within the hour again
  EXPECT_TRUE(mail_->record_submission(jo_, 1).ok());
  clock_.advance(5);  // the second is still in it: a fourth within the hour
  Status over = mail_->record_submission(jo_, 1);
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.error().code, Errc::permission_denied);
  EXPECT_NE(over.error().message.find("4 messages"), std::string::npos) << over.error().message;
  EXPECT_TRUE(store_->account(jo_.account_id)->sending_suspended);
}

// Issue 14: an API token ends at expires_at, by the clock the service was given.
TEST_F(ClockRulesTest, AnApiTokenExpiresOnTheServicesClock) {
  auto t = admin_->issue_api_token(jo_, "script");
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_EQ(t->info.expires_at, kStart + cfg_.api.token_seconds);
  clock_.set(t->info.expires_at - 1);
  EXPECT_TRUE(auth_->authenticate_token(t->token).ok());
  clock_.set(t->info.expires_at);
  auto gone = auth_->authenticate_token(t->token);
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.error().code, Errc::unauthenticated);
}

}  // namespace
}  // namespace caremail

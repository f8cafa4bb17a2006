// Tests for SignInService::sign_in, sessions, self-service and the identity actions around
// it (PRODUCT.md S4, S5): the policy on password changes, lockout across protocols with the
// device recorded, the locked message only for someone who knows the password, per-IP
// throttling, app passwords, forced changes, expiry ([ALERT] and reminders) and the
// Acceptable Use Policy.
// The clock is injected, so periods are crossed without waiting.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <string>

#include "common/config.hpp"
#include "common/metrics.hpp"
#include "core/identity_services.hpp"
#include "crypto/crypto.hpp"
#include "identity/recovery_codes.hpp"
#include "identity/totp.hpp"
#include "store/open_storage.hpp"
#include "identity_fixture.hpp"

namespace caremail {
namespace {

namespace fs = std::filesystem;

constexpr UnixTime kStart = 1'800'000'000;

class SignInTest : public ::testing::Test, protected testing::IdentityFixture {
 protected:
  static void SetUpTestSuite() { crypto::init(); }

  void SetUp() override {
    std::string t = (fs::temp_directory_path() / "cm-signin-test-XXXXXX").string();
    ASSERT_NE(::mkdtemp(t.data()), nullptr);
    dir_ = t;
    cfg_.server.data_dir = dir_;
    cfg_.national.domain = "care.example";
    cfg_.lockout.failures = 3;
    cfg_.lockout.unfamiliar_failures = 3;
    cfg_.lockout.window_seconds = 600;
    cfg_.lockout.lock_seconds = 1800;
    cfg_.lockout.ip_failures = 8;
    cfg_.password.expiry_days = 365;
    cfg_.mfa.required_for_administrators = false;  // MfaTest turns it on
    auto storage = open_storage(cfg_);
    ASSERT_TRUE(storage.ok()) << storage.error().message;
    store_ = std::move(storage->store);
    blobs_ = std::move(storage->blobs);
    make_identity(*store_, cfg_);
    identity_->context.clock = [this] { return now_; };
    ASSERT_TRUE(admin_->bootstrap("", "").ok());
    national_ = Principal::of(*store_->account_by_address("admin@care.example"));
    ASSERT_TRUE(admin_->create_organisation(national_, {"RA1", "Trust A", "", {"a.care.example"}}).ok());
    ASSERT_TRUE(admin_->create_organisation(national_, {"RB2", "Trust B", "", {"b.care.example"}}).ok());
    CreateAccountRequest r;
    r.address = "jo.bloggs@a.care.example";
    r.display_name = "Jo Bloggs";
    r.ods_code = "RA1";
    r.password = kPw;
    auto jo = admin_->create_account(national_, r);
    ASSERT_TRUE(jo.ok()) << jo.error().message;
    jo_ = Principal::of(*jo);
    jo_.via = Principal::Via::password;  // as signed in with HTTP Basic: the password was given
    r = {};
    r.address = "admin@a.care.example";
    r.ods_code = "RA1";
    r.roles = {Role::user, Role::local_admin};
    admin_a_ = Principal::of(*admin_->create_account(national_, r));
    r.address = "admin@b.care.example";
    r.ods_code = "RB2";
    admin_b_ = Principal::of(*admin_->create_account(national_, r));
  }

  void TearDown() override {
    reset_identity();
    store_.reset();
    blobs_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  AuthContext ctx(std::string protocol, std::string peer = "192.0.2.1", std::string client = "",
                  bool mail_client = true) {
    AuthContext c;
    c.protocol = std::move(protocol);
    c.peer = std::move(peer);
    c.client = std::move(client);
    c.mail_client = mail_client;
    return c;
  }

  static constexpr const char* kPw = "velvet hammock orbit";
  UnixTime now_ = kStart;
  fs::path dir_;
  Config cfg_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<FsBlobStore> blobs_;
  Principal national_, jo_, admin_a_, admin_b_;
};

TEST_F(SignInTest, PolicyOnEveryPasswordChange) {
  struct Case {
    const char* password;
    const char* says;  // empty: accepted
  };
  const Case cases[] = {
      {"short one", "at least 10 characters"},
      {"bloggs is my name", "must not contain your name"},
      {"JO.BLOGGS.1234", "must not contain your name"},
      {"password1234", "most often guessed"},
      {"Password!!2024", "most often guessed"},
      {kPw, "last 4 passwords"},  // the current one
      {"granite willow ferry", ""},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.password);
    Status s = admin_->set_password(jo_, jo_.address, c.password);
    if (*c.says == 0) {
      EXPECT_TRUE(s.ok()) << s.error().message;
    } else {
      ASSERT_FALSE(s.ok());
      EXPECT_EQ(s.error().code, Errc::invalid_argument);
      EXPECT_NE(s.error().message.find(c.says), std::string::npos) << s.error().message;
      EXPECT_EQ(s.error().message.find(c.password), std::string::npos);  // never echoed
    }
  }
  // History: the four newest (current included) are refused, the fifth back is allowed.
  for (const char* p : {"second granite pass", "third granite pass", "fourth granite pass"})
    ASSERT_TRUE(admin_->set_password(jo_, jo_.address, p).ok()) << p;
  EXPECT_FALSE(admin_->set_password(jo_, jo_.address, "granite willow ferry").ok());  // 4th newest
  ASSERT_TRUE(admin_->set_password(jo_, jo_.address, "fifth granite pass").ok());
  EXPECT_TRUE(admin_->set_password(jo_, jo_.address, "granite willow ferry").ok());   // 5th: allowed
}

TEST_F(SignInTest, LockoutCountsEveryProtocolAndRecordsTheDevice) {
  EXPECT_FALSE(auth_->sign_in(jo_.address, "old password one", ctx("imap", "192.0.2.7", "iPhone Mail 17.1")).ok());
  now_ += 10;
  EXPECT_FALSE(auth_->sign_in(jo_.address, "old password one", ctx("smtp", "192.0.2.7", "jos-iphone")).ok());
  now_ += 10;
  // Still below the limit: the right password works and resets the count.
  ASSERT_TRUE(auth_->sign_in(jo_.address, kPw, ctx("imap")).ok());
  now_ += 10;
  for (int i = 0; i < 2; ++i)
    EXPECT_FALSE(auth_->sign_in(jo_.address, "old password one", ctx("http", "192.0.2.8", "curl/8")).ok());
  EXPECT_EQ(store_->account(jo_.account_id)->locked_until, 0);
  auto third = auth_->sign_in(jo_.address, "old password one", ctx("imap", "192.0.2.7", "iPhone Mail 17.1"));
  ASSERT_FALSE(third.ok());
  EXPECT_EQ(third.error().message, "wrong address or password");
  EXPECT_EQ(store_->account(jo_.account_id)->locked_until, now_ + 1800);

  // Locked: the right password learns it is locked, a wrong one learns nothing.
  now_ += 60;
  auto right = auth_->sign_in(jo_.address, kPw, ctx("imap"));
  ASSERT_FALSE(right.ok());
  EXPECT_NE(right.error().message.find("locked"), std::string::npos);
  auto wrong = auth_->sign_in(jo_.address, "guess guess guess", ctx("imap", "192.0.2.9"));
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.error().message, "wrong address or password");

  // The person and their administrators see which device; another organisation does not.
  auto seen = auth_->auth_failures(jo_, jo_.address);
  ASSERT_TRUE(seen.ok());
  ASSERT_GE(seen->size(), 6u);
  EXPECT_EQ((*seen)[0].reason, "locked");
  bool saw_phone = false;
  for (const auto& f : *seen) saw_phone |= f.protocol == "imap" && f.client == "iPhone Mail 17.1" && f.peer == "192.0.2.7";
  EXPECT_TRUE(saw_phone);
  EXPECT_TRUE(auth_->auth_failures(admin_a_, jo_.address).ok());
  auto other = auth_->auth_failures(admin_b_, jo_.address);
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.error().code, Errc::not_found);

  // The lock runs out by itself...
  now_ += 1800;
  EXPECT_TRUE(auth_->sign_in(jo_.address, kPw, ctx("imap")).ok());
  // ...or an administrator lifts it (not one of another organisation, not the person).
  for (int i = 0; i < 3; ++i) (void)auth_->sign_in(jo_.address, "nope nope nope", ctx("imap"));
  EXPECT_FALSE(auth_->sign_in(jo_.address, kPw, ctx("imap")).ok());
  EXPECT_FALSE(auth_->unlock(admin_b_, jo_.address).ok());
  EXPECT_FALSE(auth_->unlock(jo_, jo_.address).ok());
  ASSERT_TRUE(auth_->unlock(admin_a_, jo_.address).ok());
  EXPECT_TRUE(auth_->sign_in(jo_.address, kPw, ctx("imap")).ok());
}

TEST_F(SignInTest, FailuresOutsideTheWindowDoNotLock) {
  for (int i = 0; i < 2; ++i) (void)auth_->sign_in(jo_.address, "nope nope nope", ctx("imap"));
  now_ += 601;  // the first two are outside the window now
  (void)auth_->sign_in(jo_.address, "nope nope nope", ctx("imap"));
  EXPECT_EQ(store_->account(jo_.account_id)->locked_until, 0);
  EXPECT_TRUE(auth_->sign_in(jo_.address, kPw, ctx("imap")).ok());
}

TEST_F(SignInTest, OneAddressSprayingManyAccountsIsBlocked) {
  // Eight failures from one address over many (mostly unknown) accounts block it; another
  // address is not affected, and the block ends.
  for (int i = 0; i < 8; ++i)
    (void)auth_->sign_in("user" + std::to_string(i) + "@a.care.example", "Winter2026!!", ctx("smtp", "203.0.113.5"));
  auto blocked = auth_->sign_in(jo_.address, kPw, ctx("smtp", "203.0.113.5"));
  ASSERT_FALSE(blocked.ok());
  EXPECT_NE(blocked.error().message.find("network address"), std::string::npos);
  EXPECT_TRUE(auth_->sign_in(jo_.address, kPw, ctx("smtp", "203.0.113.6")).ok());
  now_ += cfg_.lockout.ip_block_seconds;
  EXPECT_TRUE(auth_->sign_in(jo_.address, kPw, ctx("smtp", "203.0.113.5")).ok());
}

// Smart lockout: failures from networks the account has not signed in from count apart
// and lock out only those networks; the person keeps their usual devices and is told.
TEST_F(SignInTest, StrangersCannotLockThePersonOutOfTheirUsualNetwork) {
  std::vector<std::pair<std::string, std::string>> notices;
  identity_->context.notify = [&](const Account& a, std::string subject, std::string body) -> Status {
    EXPECT_EQ(a.address, jo_.address);
    notices.emplace_back(std::move(subject), std::move(body));
    return {};
  };
  // Jo signs in from the office network (192.0.2.0/24): familiar from now on.
  ASSERT_TRUE(auth_->sign_in(jo_.address, kPw, ctx("imap", "192.0.2.1", "Thunderbird")).ok());
  now_ += 10;
  // A stranger guesses from elsewhere, more than enough to lock the account before.
  for (int i = 0; i < 6; ++i) {
    auto r = auth_->sign_in(jo_.address, "guess " + std::to_string(i), ctx("imap", "203.0.113.9", "evil-bot"));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().message, "wrong address or password");  // the lock is never shown to a guesser
  }
  auto acct = *store_->account(jo_.account_id);
  EXPECT_EQ(acct.locked_until, 0);
  EXPECT_EQ(acct.unfamiliar_locked_until, now_ + 1800);
  // Jo's own devices still work, from the office network and with the right password.
  EXPECT_TRUE(auth_->sign_in(jo_.address, kPw, ctx("imap", "192.0.2.77", "iPhone Mail")).ok());
  EXPECT_TRUE(auth_->sign_in(jo_.address, kPw, ctx("smtp", "192.0.2.1")).ok());
  // The right password from a new place is refused while the lock lasts, and says why.
  auto elsewhere = auth_->sign_in(jo_.address, kPw, ctx("imap", "198.51.100.3"));
  ASSERT_FALSE(elsewhere.ok());
  EXPECT_NE(elsewhere.error().message.find("new places are paused"), std::string::npos) << elsewhere.error().message;
  // Jo's successes do not give the stranger fresh attempts: the lock stays.
  EXPECT_EQ(store_->account(jo_.account_id)->unfamiliar_locked_until, now_ + 1800);
  // Told once, naming the protocol, the client and the address that failed.
  ASSERT_EQ(notices.size(), 1u);
  EXPECT_NE(notices[0].first.find("new places"), std::string::npos);
  EXPECT_NE(notices[0].second.find("imap from 203.0.113.9, calling itself \"evil-bot\""), std::string::npos)
      << notices[0].second;
  // Failures are marked, and the person and administrators can see which were unfamiliar.
  auto seen = auth_->auth_failures(jo_, jo_.address);
  ASSERT_TRUE(seen.ok());
  ASSERT_FALSE(seen->empty());
  EXPECT_FALSE(seen->back().familiar);

  // Failures from the familiar network (an old password on the phone) lock as before, for
  // everyone, with a notice naming that device.
  for (int i = 0; i < 3; ++i)
    EXPECT_FALSE(auth_->sign_in(jo_.address, "old password", ctx("imap", "192.0.2.50", "Jo's iPad")).ok());
  EXPECT_EQ(store_->account(jo_.account_id)->locked_until, now_ + 1800);
  auto locked = auth_->sign_in(jo_.address, kPw, ctx("imap", "192.0.2.1"));
  ASSERT_FALSE(locked.ok());
  EXPECT_NE(locked.error().message.find("locked"), std::string::npos);
  ASSERT_EQ(notices.size(), 2u);
  EXPECT_NE(notices[1].second.find("imap from 192.0.2.50, calling itself \"Jo's iPad\""), std::string::npos)
      << notices[1].second;
  EXPECT_EQ(notices[1].second.find("203.0.113.9"), std::string::npos);  // only this lock's devices
  // More failures while locked tell nobody again.
  (void)auth_->sign_in(jo_.address, "old password", ctx("imap", "192.0.2.50", "Jo's iPad"));
  (void)auth_->sign_in(jo_.address, "guess", ctx("imap", "203.0.113.9", "evil-bot"));
  EXPECT_EQ(notices.size(), 2u);

  // An administrator's unlock lifts both locks.
  ASSERT_TRUE(auth_->unlock(admin_a_, jo_.address).ok());
  EXPECT_TRUE(auth_->sign_in(jo_.address, kPw, ctx("imap", "198.51.100.3")).ok());
  // That place is familiar now (a success within lockout.familiar_days)...
  for (int i = 0; i < 3; ++i) (void)auth_->sign_in(jo_.address, "typo", ctx("imap", "198.51.100.3"));
  EXPECT_GT(store_->account(jo_.account_id)->locked_until, now_);
}

TEST_F(SignInTest, FamiliarNetworksAreForgottenAfterFamiliarDays) {
  ASSERT_TRUE(auth_->sign_in(jo_.address, kPw, ctx("imap", "192.0.2.1")).ok());
  ASSERT_TRUE(auth_->sign_in(jo_.address, kPw, ctx("imap", "2001:db8:1:2::5")).ok());
  now_ += 20 * 86400;
  ASSERT_TRUE(auth_->sign_in(jo_.address, kPw, ctx("imap", "2001:db8:1:2:aaaa::9")).ok());  // same /64
  now_ += 15 * 86400;  // the IPv4 network is 35 days old, the IPv6 one 15
  for (int i = 0; i < 3; ++i) (void)auth_->sign_in(jo_.address, "nope", ctx("imap", "192.0.2.1"));
  auto acct = *store_->account(jo_.account_id);
  EXPECT_EQ(acct.locked_until, 0);
  EXPECT_GT(acct.unfamiliar_locked_until, now_);
  EXPECT_TRUE(auth_->sign_in(jo_.address, kPw, ctx("imap", "2001:db8:1:2::77")).ok());
  EXPECT_FALSE(auth_->sign_in(jo_.address, kPw, ctx("imap", "::ffff:192.0.2.1")).ok());  // mapped IPv4 alike
}

TEST_F(SignInTest, AppPasswordsWorkAloneAndCanBeRevoked) {
  auto app = auth_->create_app_password(jo_, "Work phone");
  ASSERT_TRUE(app.ok()) << app.error().message;
  ASSERT_EQ(app->secret.size(), 19u);
  EXPECT_EQ(app->secret[4], '-');
  auto in = auth_->sign_in(jo_.address, app->secret, ctx("imap"));
  ASSERT_TRUE(in.ok()) << in.error().message;
  EXPECT_TRUE(in->app_password);
  EXPECT_EQ(in->principal.account_id, jo_.account_id);
  auto list = auth_->list_app_passwords(jo_, jo_.address);
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].name, "Work phone");
  EXPECT_EQ((*list)[0].last_used_protocol, "imap");
  // Another person's app password does not open this account.
  CreateAccountRequest r;
  r.address = "sam.other@a.care.example";
  r.ods_code = "RA1";
  r.password = "pebble lantern crane";
  auto sam = admin_->create_account(national_, r);
  ASSERT_TRUE(sam.ok());
  EXPECT_FALSE(auth_->sign_in(sam->address, app->secret, ctx("imap")).ok());
  // The account password's expiry does not stop the phone (its own credential).
  UnixTime changed = store_->account(jo_.account_id)->password_changed_at;
  now_ = changed + 366 * 86400LL;
  EXPECT_FALSE(auth_->sign_in(jo_.address, kPw, ctx("imap")).ok());
  EXPECT_TRUE(auth_->sign_in(jo_.address, app->secret, ctx("imap")).ok());
  now_ = kStart;
  // Revoked by an administrator (a lost phone): gone at once.
  EXPECT_FALSE(auth_->revoke_app_password(admin_b_, jo_.address, app->info.id).ok());
  ASSERT_TRUE(auth_->revoke_app_password(admin_a_, jo_.address, app->info.id).ok());
  EXPECT_FALSE(auth_->sign_in(jo_.address, app->secret, ctx("imap")).ok());
  EXPECT_FALSE(auth_->create_app_password(jo_, "").ok());
}

TEST_F(SignInTest, ForcedChangeRestrictsTheApiAndRefusesMailClients) {
  ASSERT_TRUE(admin_->set_password(admin_a_, jo_.address, "reset by the desk 1").ok());
  auto imap = auth_->sign_in(jo_.address, "reset by the desk 1", ctx("imap"));
  ASSERT_FALSE(imap.ok());
  EXPECT_NE(imap.error().message.find("an administrator set it"), std::string::npos);
  auto web = auth_->sign_in(jo_.address, "reset by the desk 1", ctx("http", "192.0.2.1", "", false));
  ASSERT_TRUE(web.ok());
  EXPECT_TRUE(web->principal.must_change_password);
  EXPECT_FALSE(admin_->issue_api_token(web->principal, "script").ok());
  EXPECT_FALSE(auth_->create_app_password(web->principal, "phone").ok());
  ASSERT_TRUE(admin_->set_password(web->principal, jo_.address, "my own choice again").ok());
  EXPECT_TRUE(auth_->sign_in(jo_.address, "my own choice again", ctx("imap")).ok());
}

// Issue 14: a stolen credential must not keep the account for good.
TEST_F(SignInTest, ApiTokensExpire) {
  auto t = admin_->issue_api_token(jo_, "script");
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_EQ(t->info.expires_at, kStart + cfg_.api.token_seconds);
  EXPECT_TRUE(auth_->authenticate_token(t->token).ok());
  now_ = t->info.expires_at - 1;
  EXPECT_TRUE(auth_->authenticate_token(t->token).ok());
  now_ = t->info.expires_at;
  auto gone = auth_->authenticate_token(t->token);
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.error().code, Errc::unauthenticated);
  EXPECT_NE(gone.error().message.find("expired"), std::string::npos) << gone.error().message;
  // Application accounts' tokens live longer.
  now_ = kStart;
  CreateAccountRequest r;
  r.address = "pas.feed@a.care.example";
  r.ods_code = "RA1";
  r.kind = AccountKind::application;
  r.password = "a long application secret 12345";
  auto app = admin_->create_account(national_, r);
  ASSERT_TRUE(app.ok()) << app.error().message;
  auto at = admin_->issue_api_token(Principal::of(*app), "feed");
  ASSERT_TRUE(at.ok());
  EXPECT_EQ(at->info.expires_at, kStart + cfg_.api.application_token_seconds);
  EXPECT_GT(cfg_.api.application_token_seconds, cfg_.api.token_seconds);
}

TEST_F(SignInTest, ApiTokensAreListedAndRevokedByTheOwnerAndTheirAdministrators) {
  auto t1 = admin_->issue_api_token(jo_, "one");
  auto t2 = admin_->issue_api_token(jo_, "two");
  ASSERT_TRUE(t1.ok() && t2.ok());
  auto p1 = auth_->authenticate_token(t1->token);
  ASSERT_TRUE(p1.ok());
  now_ += 120;
  ASSERT_TRUE(auth_->authenticate_token(t1->token).ok());  // last use recorded
  auto list = admin_->list_api_tokens(jo_, jo_.address);
  ASSERT_TRUE(list.ok()) << list.error().message;
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].name, "one");
  EXPECT_EQ((*list)[0].last_used_at, kStart + 120);
  EXPECT_EQ((*list)[1].last_used_at, 0);
  // Administrators in scope see them; another organisation's do not.
  EXPECT_TRUE(admin_->list_api_tokens(admin_a_, jo_.address).ok());
  EXPECT_EQ(admin_->list_api_tokens(admin_b_, jo_.address).error().code, Errc::not_found);
  EXPECT_EQ(admin_->revoke_api_token(admin_b_, jo_.address, t1->info.id).error().code, Errc::not_found);
  // The person revokes one, their administrator the other.
  ASSERT_TRUE(admin_->revoke_api_token(*p1, jo_.address, t1->info.id).ok());
  EXPECT_FALSE(auth_->authenticate_token(t1->token).ok());
  EXPECT_TRUE(auth_->authenticate_token(t2->token).ok());
  ASSERT_TRUE(admin_->revoke_api_token(admin_a_, jo_.address, t2->info.id).ok());
  EXPECT_FALSE(auth_->authenticate_token(t2->token).ok());
  EXPECT_EQ(admin_->revoke_api_token(admin_a_, jo_.address, t2->info.id).error().code, Errc::not_found);
  EXPECT_TRUE(admin_->list_api_tokens(jo_, jo_.address)->empty());
  auto ev = store_->audit_events(std::nullopt, 0, 10000);
  ASSERT_TRUE(ev.ok());
  int revokes = 0;
  for (const auto& e : *ev) revokes += e.action == "api_token.revoke" && e.outcome == "ok";
  EXPECT_EQ(revokes, 2);
}

TEST_F(SignInTest, AResetEndsEveryTokenSessionAndAppPassword) {
  auto token = admin_->issue_api_token(jo_, "script");
  ASSERT_TRUE(token.ok());
  auto session = sessions_->start_session(jo_.address, kPw, "", false, ctx("http", "192.0.2.1", "Firefox", false));
  ASSERT_TRUE(session.ok()) << session.error().message;
  auto app = auth_->create_app_password(jo_, "Phone");
  ASSERT_TRUE(app.ok());
  ASSERT_TRUE(admin_->set_password(admin_a_, jo_.address, "reset by the desk 1").ok());
  EXPECT_FALSE(auth_->authenticate_token(token->token).ok());
  EXPECT_FALSE(sessions_->authenticate_session(session->token, std::nullopt).ok());
  EXPECT_FALSE(auth_->sign_in(jo_.address, app->secret, ctx("imap")).ok());
  EXPECT_TRUE(auth_->list_app_passwords(admin_a_, jo_.address)->empty());
  auto ev = store_->audit_events(std::nullopt, 0, 10000);
  ASSERT_TRUE(ev.ok());
  auto reset = std::find_if(ev->rbegin(), ev->rend(), [](const AuditEvent& e) { return e.action == "account.set_password"; });
  ASSERT_NE(reset, ev->rend());
  EXPECT_EQ(reset->detail,
            "{\"self\":false,\"must_change\":true,\"revoked\":{\"sessions\":1,\"api_tokens\":1,\"app_passwords\":1}}");
}

TEST_F(SignInTest, KeptAppPasswordsWaitForTheForcedChange) {
  auto app = auth_->create_app_password(jo_, "Phone");
  ASSERT_TRUE(app.ok());
  PasswordChange reset{"reset by the desk 1", std::nullopt, /*keep_app_passwords=*/true};
  ASSERT_TRUE(admin_->set_password(admin_a_, jo_.address, reset).ok());
  EXPECT_EQ(auth_->list_app_passwords(admin_a_, jo_.address)->size(), 1u);
  auto refused = auth_->sign_in(jo_.address, app->secret, ctx("imap"));
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message.find("an administrator set it"), std::string::npos);
  // The person chooses a new password (keeping the phone): it works again.
  auto web = auth_->sign_in(jo_.address, "reset by the desk 1", ctx("http", "192.0.2.1", "", false));
  ASSERT_TRUE(web.ok());
  ASSERT_TRUE(admin_->set_password(web->principal, jo_.address, PasswordChange{"my own choice again", {}, true}).ok());
  EXPECT_TRUE(auth_->sign_in(jo_.address, app->secret, ctx("imap")).ok());
}

TEST_F(SignInTest, OwnChangeNeedsTheCurrentPasswordOutsideTheForcedChangeFlow) {
  auto t = admin_->issue_api_token(jo_, "script");
  auto other = admin_->issue_api_token(jo_, "other");
  ASSERT_TRUE(t.ok() && other.ok());
  auto by_token = auth_->authenticate_token(t->token);
  ASSERT_TRUE(by_token.ok());
  // A token alone (stolen, say) does not choose a new password.
  auto none = admin_->set_password(*by_token, jo_.address, "taken over by a thief");
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().code, Errc::invalid_argument);
  EXPECT_NE(none.error().message.find("current password"), std::string::npos);
  auto wrong = admin_->set_password(*by_token, jo_.address, PasswordChange{"taken over by a thief", "guess 1", false});
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.error().code, Errc::permission_denied);
  EXPECT_EQ(*store_->count_auth_failures(jo_.account_id, 0), 1);  // counts towards the lockout
  EXPECT_TRUE(auth_->sign_in(jo_.address, kPw, ctx("imap")).ok());
  // With it: done; the token that made the change goes on, the other ends.
  ASSERT_TRUE(admin_->set_password(*by_token, jo_.address, PasswordChange{"granite willow ferry", kPw, false}).ok());
  EXPECT_TRUE(auth_->authenticate_token(t->token).ok());
  EXPECT_FALSE(auth_->authenticate_token(other->token).ok());
  // A session that is not in a forced change needs it as well, and keeps itself.
  auto s = sessions_->start_session(jo_.address, "granite willow ferry", "", false, ctx("http", "192.0.2.1", "", false));
  ASSERT_TRUE(s.ok());
  auto by_session = sessions_->authenticate_session(s->token, std::string_view(s->csrf_token));
  ASSERT_TRUE(by_session.ok());
  EXPECT_EQ(admin_->set_password(*by_session, jo_.address, "fifth granite pass").error().code, Errc::invalid_argument);
  ASSERT_TRUE(
      admin_->set_password(*by_session, jo_.address, PasswordChange{"fifth granite pass", "granite willow ferry", false})
          .ok());
  EXPECT_TRUE(sessions_->authenticate_session(s->token, std::nullopt).ok());
  EXPECT_FALSE(auth_->authenticate_token(t->token).ok());
}

TEST_F(SignInTest, OnlyAFreshSignInSkipsTheCurrentPassword) {
  // A token from before an administrator's reset: revoked by it (401 over the API).
  auto old = admin_->issue_api_token(jo_, "script");
  ASSERT_TRUE(old.ok());
  ASSERT_TRUE(admin_->set_password(admin_a_, jo_.address, "reset by the desk 1").ok());
  auto stale = auth_->authenticate_token(old->token);
  ASSERT_FALSE(stale.ok());
  EXPECT_EQ(stale.error().code, Errc::unauthenticated);
  // The forced-change flow of a new session sign-in: no current password needed.
  auto web = ctx("http", "192.0.2.1", "", false);
  auto s = sessions_->start_session(jo_.address, "reset by the desk 1", "", false, web);
  ASSERT_TRUE(s.ok());
  auto p = sessions_->authenticate_session(s->token, std::string_view(s->csrf_token));
  ASSERT_TRUE(p.ok());
  EXPECT_TRUE(p->must_change_password);
  EXPECT_TRUE(p->forced_change_sign_in);
  ASSERT_TRUE(admin_->set_password(*p, jo_.address, "my own choice again").ok());
  // A token whose password has since expired is restricted, and still needs it.
  cfg_.api.token_seconds = 400 * 86400LL;  // outlives the password here
  auto t = admin_->issue_api_token(jo_, "script");
  ASSERT_TRUE(t.ok());
  now_ = store_->account(jo_.account_id)->password_changed_at + 366 * 86400LL;
  auto expired = auth_->authenticate_token(t->token);
  ASSERT_TRUE(expired.ok());
  EXPECT_TRUE(expired->must_change_password);
  EXPECT_FALSE(expired->forced_change_sign_in);
  EXPECT_EQ(admin_->set_password(*expired, jo_.address, "granite willow ferry").error().code, Errc::invalid_argument);
  // A new session signed in after the expiry is that flow.
  auto s2 = sessions_->start_session(jo_.address, "my own choice again", "", false, web);
  ASSERT_TRUE(s2.ok());
  auto p2 = sessions_->authenticate_session(s2->token, std::nullopt);
  ASSERT_TRUE(p2.ok());
  EXPECT_TRUE(p2->forced_change_sign_in);
  EXPECT_TRUE(admin_->set_password(*p2, jo_.address, "granite willow ferry").ok());
}

TEST_F(SignInTest, ExpiryAlertsThenRefusesMailClients) {
  auto fresh = auth_->sign_in(jo_.address, kPw, ctx("imap"));
  ASSERT_TRUE(fresh.ok());
  EXPECT_EQ(fresh->alert, "");
  UnixTime changed = store_->account(jo_.account_id)->password_changed_at;
  now_ = changed + (365 - 5) * 86400LL;
  auto soon = auth_->sign_in(jo_.address, kPw, ctx("imap"));
  ASSERT_TRUE(soon.ok());
  EXPECT_NE(soon->alert.find("expires in 5 days"), std::string::npos) << soon->alert;
  now_ = changed + 365 * 86400LL;
  auto expired = auth_->sign_in(jo_.address, kPw, ctx("imap"));
  ASSERT_FALSE(expired.ok());
  EXPECT_NE(expired.error().message.find("expired"), std::string::npos);
  auto web = auth_->sign_in(jo_.address, kPw, ctx("http", "192.0.2.1", "", false));
  ASSERT_TRUE(web.ok());
  EXPECT_TRUE(web->principal.must_change_password);
}

TEST_F(SignInTest, ExpiryRemindersGoOnceEach) {
  std::vector<std::pair<std::string, std::string>> sent;  // (to, subject)
  auto notify = [&](const Account& a, std::string subject, std::string) -> Status {
    sent.emplace_back(a.address, std::move(subject));
    return {};
  };
  UnixTime changed = store_->account(jo_.account_id)->password_changed_at;
  now_ = changed + (365 - 20) * 86400LL;
  EXPECT_EQ(*auth_->send_expiry_reminders(notify), 0);
  now_ = changed + (365 - 18) * 86400LL;
  EXPECT_EQ(*auth_->send_expiry_reminders(notify), 1);
  EXPECT_EQ(*auth_->send_expiry_reminders(notify), 0);  // not twice
  now_ = changed + (365 - 4) * 86400LL;                  // the job was down: only the most urgent
  EXPECT_EQ(store_->account(jo_.account_id)->expiry_reminder_sent, 18);
  EXPECT_EQ(*auth_->send_expiry_reminders(notify), 1);
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sent[0], std::make_pair(jo_.address, std::string("Your password expires in 18 days")));
  EXPECT_EQ(sent[1].second, "Your password expires in 5 days");
  // A new password starts afresh.
  ASSERT_TRUE(admin_->set_password(jo_, jo_.address, "granite willow ferry").ok());
  EXPECT_EQ(*auth_->send_expiry_reminders(notify), 0);
}

TEST_F(SignInTest, AcceptableUsePolicyVersions) {
  EXPECT_TRUE(auth_->sign_in(jo_.address, kPw, ctx("imap")).ok());  // none published yet
  EXPECT_FALSE(auth_->publish_aup(admin_a_, "local text").ok());
  auto v1 = auth_->publish_aup(national_, "Use the service for health and care work.");
  ASSERT_TRUE(v1.ok());
  EXPECT_EQ(v1->version, 1);
  auto imap = auth_->sign_in(jo_.address, kPw, ctx("smtp"));
  ASSERT_FALSE(imap.ok());
  EXPECT_NE(imap.error().message.find("Acceptable Use Policy (version 1)"), std::string::npos);
  auto web = auth_->sign_in(jo_.address, kPw, ctx("http", "192.0.2.1", "", false));
  ASSERT_TRUE(web.ok());
  EXPECT_TRUE(web->principal.aup_pending);
  EXPECT_FALSE(auth_->accept_aup(web->principal, 2).ok());
  ASSERT_TRUE(auth_->accept_aup(web->principal, 1).ok());
  EXPECT_TRUE(auth_->sign_in(jo_.address, kPw, ctx("smtp")).ok());
  ASSERT_TRUE(auth_->publish_aup(national_, "Version two.").ok());
  EXPECT_FALSE(auth_->sign_in(jo_.address, kPw, ctx("imap")).ok());
}

class MfaTest : public SignInTest {
 protected:
  void SetUp() override {
    SignInTest::SetUp();
    cfg_.mfa.required_for_administrators = true;
  }
  // The current code for a base32 secret, at the test clock (or `delta` steps away).
  std::string code(const std::string& b32, int delta = 0) {
    auto raw = identity::base32_decode(b32);
    EXPECT_TRUE(raw.has_value());
    int64_t step = identity::totp_step(identity::SysSeconds(std::chrono::seconds(now_))) + delta;
    return identity::totp_code(*raw, step);
  }
  AuthContext web(std::string peer = "192.0.2.1") { return ctx("http", std::move(peer), "Firefox", false); }
};

TEST_F(MfaTest, EnrolThenEverySessionNeedsACodeAndMailClientsAnAppPassword) {
  auto e = sessions_->begin_totp(jo_);
  ASSERT_TRUE(e.ok()) << e.error().message;
  EXPECT_EQ(e->otpauth_uri.rfind("otpauth://totp/Caremail:jo.bloggs%40a.care.example?secret=" + e->secret, 0), 0u)
      << e->otpauth_uri;
  // Not on until confirmed: a session still needs no code.
  EXPECT_TRUE(sessions_->start_session(jo_.address, kPw, "", false, web()).ok());
  EXPECT_FALSE(sessions_->confirm_totp(jo_, "000000").ok());
  auto codes = sessions_->confirm_totp(jo_, code(e->secret));
  ASSERT_TRUE(codes.ok()) << codes.error().message;
  ASSERT_EQ(codes->size(), 10u);

  now_ += 30;
  auto no_code = sessions_->start_session(jo_.address, kPw, "", false, web());
  ASSERT_FALSE(no_code.ok());
  EXPECT_EQ(no_code.error().message, "second factor required");
  auto s = sessions_->start_session(jo_.address, kPw, code(e->secret), false, web());
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_TRUE(s->principal.mfa);
  EXPECT_FALSE(s->principal.restricted());
  // The same code again (a replay, or a second sign-in in the same 30 s) is refused.
  EXPECT_FALSE(sessions_->start_session(jo_.address, kPw, code(e->secret), false, web()).ok());
  // A recovery code works once.
  EXPECT_TRUE(sessions_->start_session(jo_.address, kPw, (*codes)[3], false, web()).ok());
  EXPECT_FALSE(sessions_->start_session(jo_.address, kPw, (*codes)[3], false, web()).ok());
  // The password alone opens neither Basic nor mail clients.
  auto imap = auth_->sign_in(jo_.address, kPw, ctx("imap"));
  ASSERT_FALSE(imap.ok());
  EXPECT_NE(imap.error().message.find("app password"), std::string::npos);
  auto basic = auth_->sign_in(jo_.address, kPw, web());
  ASSERT_FALSE(basic.ok());
  EXPECT_NE(basic.error().message.find("POST /api/v1/sessions"), std::string::npos);
  auto app = auth_->create_app_password(s->principal, "Phone");
  ASSERT_TRUE(app.ok());
  EXPECT_TRUE(auth_->sign_in(jo_.address, app->secret, ctx("imap")).ok());
  // Removing it needs a current code from the person...
  now_ += 30;
  EXPECT_FALSE(sessions_->remove_mfa(s->principal, jo_.address, "123456").ok());
  ASSERT_TRUE(sessions_->remove_mfa(s->principal, jo_.address, code(e->secret)).ok());
  EXPECT_TRUE(auth_->sign_in(jo_.address, kPw, ctx("imap")).ok());
}

TEST_F(MfaTest, WrongCodesCountTowardsLockout) {
  auto e = sessions_->begin_totp(jo_);
  ASSERT_TRUE(sessions_->confirm_totp(jo_, code(e->secret)).ok());
  for (int i = 0; i < 3; ++i) EXPECT_FALSE(sessions_->start_session(jo_.address, kPw, "000000", false, web()).ok());
  EXPECT_GT(store_->account(jo_.account_id)->locked_until, now_);
  auto f = auth_->auth_failures(jo_, jo_.address);
  ASSERT_TRUE(f.ok());
  EXPECT_EQ((*f)[0].reason, "second factor");
}

TEST_F(MfaTest, AdministratorsMustEnrolBeforeAnythingElse) {
  CreateAccountRequest r;
  r.address = "la@a.care.example";
  r.ods_code = "RA1";
  r.roles = {Role::user, Role::local_admin};
  r.password = "tidal compass morning";
  ASSERT_TRUE(admin_->create_account(national_, r).ok());
  EXPECT_FALSE(auth_->sign_in(r.address, r.password, web()).ok());            // Basic
  EXPECT_FALSE(auth_->sign_in(r.address, r.password, ctx("smtp")).ok());      // mail client
  auto s = sessions_->start_session(r.address, r.password, "", false, web());
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_TRUE(s->principal.mfa_enrolment_pending);
  EXPECT_FALSE(admin_->list_accounts(s->principal, std::nullopt).ok());
  EXPECT_FALSE(auth_->create_app_password(s->principal, "Phone").ok());
  auto e = sessions_->begin_totp(s->principal);
  ASSERT_TRUE(e.ok());
  ASSERT_TRUE(sessions_->confirm_totp(s->principal, code(e->secret)).ok());
  // The enrolment session ends; a new one with a code has the full role.
  auto old = sessions_->authenticate_session(s->token, std::nullopt);
  ASSERT_FALSE(old.ok());
  EXPECT_NE(old.error().message.find("sign in again"), std::string::npos);
  now_ += 30;
  auto full = sessions_->start_session(r.address, r.password, code(e->secret), false, web());
  ASSERT_TRUE(full.ok());
  auto p = sessions_->authenticate_session(full->token, std::nullopt);
  ASSERT_TRUE(p.ok());
  EXPECT_FALSE(p->restricted());
  EXPECT_TRUE(admin_->list_accounts(*p, std::nullopt).ok());
  // A helpdesk or administrator of the organisation resets it (lost phone); not another's.
  EXPECT_FALSE(sessions_->remove_mfa(admin_b_, r.address).ok());
  ASSERT_TRUE(sessions_->remove_mfa(national_, r.address).ok());
  EXPECT_FALSE(sessions_->authenticate_session(full->token, std::nullopt).ok());  // sessions ended
}

TEST_F(MfaTest, OrganisationPolicyAndTrustedNetworks) {
  EXPECT_FALSE(sessions_->set_org_mfa_policy(admin_b_, "RA1", true, {}).ok());
  EXPECT_FALSE(sessions_->set_org_mfa_policy(national_, "RA1", true, {"10.0.0.0/33"}).ok());
  ASSERT_TRUE(sessions_->set_org_mfa_policy(national_, "RA1", true, {"10.20.0.0/16", "2001:db8::/32"}).ok());
  EXPECT_FALSE(auth_->sign_in(jo_.address, kPw, ctx("imap", "192.0.2.1")).ok());
  EXPECT_TRUE(auth_->sign_in(jo_.address, kPw, ctx("imap", "10.20.3.4")).ok());
  EXPECT_TRUE(auth_->sign_in(jo_.address, kPw, ctx("imap", "2001:db8::7")).ok());
  EXPECT_TRUE(auth_->sign_in(jo_.address, kPw, ctx("imap", "::ffff:10.20.9.9")).ok());
  ASSERT_TRUE(sessions_->set_org_mfa_policy(national_, "RA1", false, {}).ok());
  EXPECT_TRUE(auth_->sign_in(jo_.address, kPw, ctx("imap", "192.0.2.1")).ok());
}

TEST_F(MfaTest, SessionsEndWhenIdleExpiredOrPasswordChanged) {
  auto s = sessions_->start_session(jo_.address, kPw, "", true, web());
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->idle_seconds, cfg_.mfa.public_session_idle_seconds);
  EXPECT_TRUE(sessions_->authenticate_session(s->token, std::nullopt).ok());
  // Changes need the CSRF token.
  EXPECT_EQ(sessions_->authenticate_session(s->token, std::string_view("forged")).error().code, Errc::permission_denied);
  EXPECT_TRUE(sessions_->authenticate_session(s->token, std::string_view(s->csrf_token)).ok());
  now_ += cfg_.mfa.public_session_idle_seconds + 1;
  EXPECT_FALSE(sessions_->authenticate_session(s->token, std::nullopt).ok());
  auto t = sessions_->start_session(jo_.address, kPw, "", false, web());
  ASSERT_TRUE(t.ok());
  ASSERT_TRUE(admin_->set_password(admin_a_, jo_.address, "reset by the desk 1").ok());
  EXPECT_FALSE(sessions_->authenticate_session(t->token, std::nullopt).ok());
  auto u = sessions_->start_session(jo_.address, "reset by the desk 1", "", false, web());
  ASSERT_TRUE(u.ok());
  EXPECT_TRUE(u->principal.must_change_password);
  ASSERT_TRUE(sessions_->end_session(u->token).ok());
  EXPECT_FALSE(sessions_->authenticate_session(u->token, std::nullopt).ok());
  auto v = sessions_->start_session(jo_.address, "reset by the desk 1", "", false, web());
  ASSERT_TRUE(v.ok());
  now_ = v->expires_at;
  EXPECT_FALSE(sessions_->authenticate_session(v->token, std::nullopt).ok());
}


// Self-service reset and unlock (PRODUCT.md S4): three security questions or the
// authenticator; nothing tells an unknown address from a known one.
// A self-service reset is a reset: every token, session and app password of the account ends.
TEST_F(SignInTest, SelfServiceResetEndsEveryOtherSignIn) {
  std::vector<SecurityQuestion> qa{{"First pet?", "Rex"}, {"Town of birth?", "St. Ives"}, {"Favourite teacher?", "Mrs Ng"}};
  ASSERT_TRUE(self_service_->set_security_questions(jo_, qa).ok());
  auto token = admin_->issue_api_token(jo_, "script");
  auto app = auth_->create_app_password(jo_, "Phone");
  auto session = sessions_->start_session(jo_.address, kPw, "", false, ctx("http", "192.0.2.1", "", false));
  ASSERT_TRUE(token.ok() && app.ok() && session.ok());
  SelfServiceReset r{jo_.address, {"rex", "st ives", "mrs ng"}, "", std::string("granite willow ferry")};
  ASSERT_TRUE(self_service_->self_service_reset(r, ctx("http", "192.0.2.1", "", false)).ok());
  EXPECT_FALSE(auth_->authenticate_token(token->token).ok());
  EXPECT_FALSE(sessions_->authenticate_session(session->token, std::nullopt).ok());
  EXPECT_FALSE(auth_->sign_in(jo_.address, app->secret, ctx("imap")).ok());
  auto ev = store_->audit_events(std::nullopt, 0, 10000);
  ASSERT_TRUE(ev.ok());
  auto reset = std::find_if(ev->rbegin(), ev->rend(), [](const AuditEvent& e) { return e.action == "password.self_reset"; });
  ASSERT_NE(reset, ev->rend());
  EXPECT_NE(reset->detail.find("\"revoked\":{\"sessions\":1,\"api_tokens\":1,\"app_passwords\":1}"),
            std::string::npos)
      << reset->detail;
}

TEST_F(MfaTest, SelfServiceResetWithSecurityQuestionsOrTheAuthenticator) {
  std::vector<SecurityQuestion> qa{{"First pet?", "Rex"}, {"Town of birth?", "St. Ives"}, {"Favourite teacher?", "Mrs Ng"}};
  EXPECT_EQ(self_service_->set_security_questions(jo_, {qa[0], qa[1]}).error().code, Errc::invalid_argument);
  EXPECT_EQ(self_service_->set_security_questions(jo_, {qa[0], qa[0], qa[1]}).error().code, Errc::invalid_argument);
  ASSERT_TRUE(self_service_->set_security_questions(jo_, qa).ok());
  EXPECT_EQ(*self_service_->security_questions(jo_), (std::vector<std::string>{"First pet?", "Town of birth?",
                                                                         "Favourite teacher?"}));
  EXPECT_EQ(self_service_->reset_questions(jo_.address), *self_service_->security_questions(jo_));
  // An unknown address gets three stable questions of the same shape.
  auto decoy = self_service_->reset_questions("nobody@a.care.example");
  ASSERT_EQ(decoy.size(), 3u);
  EXPECT_EQ(decoy, self_service_->reset_questions("Nobody@A.care.example"));

  // Lock jo out with an old password on a phone.
  for (int i = 0; i < 3; ++i) EXPECT_FALSE(auth_->sign_in(jo_.address, "an old password", ctx("imap")).ok());
  ASSERT_GT(store_->account(jo_.account_id)->locked_until, now_);

  // Wrong answers: the same refusal as for an unknown address; recorded, not a lockout.
  SelfServiceReset r{jo_.address, {"rex", "st ives", "wrong"}, "", std::nullopt};
  auto wrong = self_service_->self_service_reset(r, web("198.51.100.4"));
  ASSERT_FALSE(wrong.ok());
  SelfServiceReset ghost{"nobody@a.care.example", {"a", "b", "c"}, "", std::nullopt};
  auto unknown = self_service_->self_service_reset(ghost, web("198.51.100.4"));
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(wrong.error().code, unknown.error().code);
  EXPECT_EQ(wrong.error().message, unknown.error().message);
  auto failures = auth_->auth_failures(jo_, jo_.address);
  ASSERT_TRUE(failures.ok());
  EXPECT_EQ(failures->front().protocol, "reset");

  // Unlock only: case, spaces and punctuation do not matter; the password stays.
  r.answers = {" REX ", "st ives", "mrs. ng"};
  ASSERT_TRUE(self_service_->self_service_reset(r, web()).ok());
  EXPECT_EQ(store_->account(jo_.account_id)->locked_until, 0);
  EXPECT_TRUE(auth_->sign_in(jo_.address, kPw, ctx("imap")).ok());

  // Reset: the whole policy applies; the new password works at once (no forced change).
  r.new_password = "short";
  EXPECT_EQ(self_service_->self_service_reset(r, web()).error().code, Errc::invalid_argument);
  r.new_password = "copper lantern meadow";
  ASSERT_TRUE(self_service_->self_service_reset(r, web()).ok());
  EXPECT_FALSE(auth_->sign_in(jo_.address, kPw, ctx("imap")).ok());
  auto in = auth_->sign_in(jo_.address, "copper lantern meadow", ctx("imap"));
  ASSERT_TRUE(in.ok()) << in.error().message;
  EXPECT_FALSE(in->principal.must_change_password);

  // With an authenticator, a code does it instead of the answers.
  auto e = sessions_->begin_totp(jo_);
  ASSERT_TRUE(sessions_->confirm_totp(jo_, code(e->secret)).ok());
  now_ += 30;
  SelfServiceReset by_code{jo_.address, {}, "000000", std::string("granite orchard bell")};
  EXPECT_FALSE(self_service_->self_service_reset(by_code, web()).ok());
  by_code.code = code(e->secret);
  ASSERT_TRUE(self_service_->self_service_reset(by_code, web()).ok());

  // Attempts are limited per address, for known and unknown ones alike.
  int refused_after = 0;
  for (int i = 0; i < 10; ++i) {
    auto s = self_service_->self_service_reset(ghost, web("198.51.100.9"));
    if (s.error().message.find("too many attempts") != std::string::npos) {
      refused_after = i;
      break;
    }
  }
  EXPECT_EQ(refused_after, 2);  // 3 in all: one wrong attempt came earlier
  // The audit shows each step.
  auto events = store_->audit_events(std::nullopt, 0, 1000);
  int resets = 0, unlocks = 0;
  for (const auto& ev : *events) {
    if (ev.action == "password.self_reset" && ev.outcome == "ok") ++resets;
    if (ev.action == "auth.self_unlock" && ev.outcome == "ok") ++unlocks;
  }
  EXPECT_EQ(resets, 2);
  EXPECT_EQ(unlocks, 1);
}

TEST_F(SignInTest, HelpdeskChecksTheAccountSecret) {
  CreateAccountRequest r;
  r.address = "helpdesk@a.care.example";
  r.ods_code = "RA1";
  r.roles = {Role::user, Role::local_helpdesk};
  Principal hd = Principal::of(*admin_->create_account(national_, r));
  EXPECT_EQ(self_service_->check_account_secret(hd, jo_.address, "anything").error().code, Errc::conflict);
  EXPECT_EQ(self_service_->set_account_secret(jo_, "abc").error().code, Errc::invalid_argument);
  ASSERT_TRUE(self_service_->set_account_secret(jo_, "Purple Giraffe 42").ok());
  EXPECT_TRUE(*self_service_->check_account_secret(hd, jo_.address, "purple giraffe 42"));
  EXPECT_FALSE(*self_service_->check_account_secret(hd, jo_.address, "purple giraffe"));
  // Not for colleagues or another organisation's administrators; not for oneself.
  EXPECT_EQ(self_service_->check_account_secret(admin_b_, jo_.address, "x").error().code, Errc::not_found);
  EXPECT_EQ(self_service_->check_account_secret(jo_, jo_.address, "x").error().code, Errc::permission_denied);
  // Guessing is limited.
  for (int i = 0; i < 2; ++i) EXPECT_FALSE(*self_service_->check_account_secret(hd, jo_.address, "guess"));
  EXPECT_EQ(self_service_->check_account_secret(hd, jo_.address, "purple giraffe 42").error().code, Errc::permission_denied);
  now_ += 601;
  EXPECT_TRUE(*self_service_->check_account_secret(hd, jo_.address, "purple giraffe 42"));
}

// Low finding: a refused sign-in or reset costs the same Argon2id work and durable writes
// whether the address exists or not (the reply time must not tell who has an account).
TEST_F(MfaTest, RefusalsCostTheSameForKnownAndUnknownAddresses) {
  auto& writes = metrics::counter("caremail_store_writes_total", "");
  struct Cost {
    uint64_t hashes, writes;
    bool operator==(const Cost&) const = default;
  };
  auto cost = [&](auto&& f) {
    uint64_t h0 = crypto::password_hashes(), w0 = writes.value();
    f();
    return Cost{crypto::password_hashes() - h0, writes.value() - w0};
  };
  const std::string ghost = "nobody@a.care.example";
  auto sample = identity::generate_recovery_codes(1);  // a recovery code's shape
  ASSERT_TRUE(sample.ok());
  const std::string recovery = sample->codes[0];
  // Warm-up: each path's first use hashes its dummy password once.
  (void)auth_->sign_in("warm@a.care.example", "x", ctx("imap", "192.0.2.200"));
  (void)self_service_->self_service_reset({"warm@a.care.example", {"a", "b", "c"}, "", std::nullopt}, web("192.0.2.201"));
  (void)self_service_->self_service_reset({"warm@a.care.example", {}, recovery, std::nullopt}, web("192.0.2.202"));
  // Sign-in with a wrong password (each attempt from its own address: no per-IP block).
  Cost known = cost([&] { EXPECT_FALSE(auth_->sign_in(jo_.address, "wrong one", ctx("imap", "192.0.2.10")).ok()); });
  Cost unknown = cost([&] { EXPECT_FALSE(auth_->sign_in(ghost, "wrong one", ctx("imap", "192.0.2.11")).ok()); });
  EXPECT_EQ(known.hashes, 1u);
  EXPECT_EQ(known.writes, 1u);
  EXPECT_EQ(known, unknown);
  // The unknown address's refusal is audited too (what a spraying looks like).
  bool audited = false;
  auto events = store_->audit_events(std::nullopt, 0, 1000);
  ASSERT_TRUE(events.ok());
  for (const auto& ev : *events)
    audited |= ev.action == "auth.fail" && ev.target == ghost && ev.outcome == "denied";
  EXPECT_TRUE(audited);

  // Self-service reset, without and with security questions and an authenticator.
  auto reset_cost = [&](const std::string& address, std::vector<std::string> answers, std::string code,
                        const std::string& peer) {
    now_ += 601;  // past the window of attempts per address
    return cost([&] {
      SelfServiceReset r{address, std::move(answers), std::move(code), std::nullopt};
      EXPECT_FALSE(self_service_->self_service_reset(r, web(peer)).ok());
    });
  };
  const std::vector<std::string> answers{"a1a", "b2b", "c3c"};
  EXPECT_EQ(reset_cost(jo_.address, answers, "", "192.0.2.20"), reset_cost(ghost, answers, "", "192.0.2.21"));
  EXPECT_EQ(reset_cost(jo_.address, {}, "123456", "192.0.2.22"), reset_cost(ghost, {}, "123456", "192.0.2.23"));
  EXPECT_EQ(reset_cost(jo_.address, {}, recovery, "192.0.2.24"), reset_cost(ghost, {}, recovery, "192.0.2.25"));
  std::vector<SecurityQuestion> qa{{"First pet?", "Rex"}, {"Town of birth?", "Ives"}, {"Favourite teacher?", "Mrs Ng"}};
  ASSERT_TRUE(self_service_->set_security_questions(jo_, qa).ok());
  auto e = sessions_->begin_totp(jo_);
  ASSERT_TRUE(sessions_->confirm_totp(jo_, code(e->secret)).ok());
  now_ += 60;
  Cost with_answers = reset_cost(jo_.address, answers, "", "192.0.2.26");
  EXPECT_EQ(with_answers.hashes, 3u);
  EXPECT_EQ(with_answers, reset_cost(ghost, answers, "", "192.0.2.27"));
  EXPECT_EQ(reset_cost(jo_.address, {}, "123456", "192.0.2.28"), reset_cost(ghost, {}, "123456", "192.0.2.29"));
  Cost with_recovery = reset_cost(jo_.address, {}, recovery, "192.0.2.30");
  EXPECT_EQ(with_recovery.hashes, 10u);
  EXPECT_EQ(with_recovery, reset_cost(ghost, {}, recovery, "192.0.2.31"));
}

}  // namespace
}  // namespace caremail

// Tests for DirectoryService (PRODUCT.md D1-D3): the index built from the store and kept
// current by AdminService's changes, profile edits by whom, privacy per viewer, "find your
// local administrator", and the bulk export only for organisations with an agreement.
#include "core/directory_service.hpp"

#include <gtest/gtest.h>

#include <filesystem>

#include "core/identity_services.hpp"
#include "crypto/crypto.hpp"
#include "store/open_storage.hpp"
#include "identity_fixture.hpp"
#include "make_account.hpp"
#include "temp_dir.hpp"

namespace caremail {
namespace {


class DirectoryServiceTest : public ::testing::Test, protected testing::IdentityFixture {
 protected:
  static void SetUpTestSuite() { crypto::init(); }

  void SetUp() override {
    cfg_.server.data_dir = dir_.path();
    cfg_.national.domain = "care.example";
    cfg_.mfa.required_for_administrators = false;
    auto storage = open_storage(cfg_);
    ASSERT_TRUE(storage.ok()) << storage.error().message;
    store_ = std::move(storage->store);
    blobs_ = std::move(storage->blobs);
    make_identity(*store_, cfg_);
    ASSERT_TRUE(admin_->bootstrap("", "").ok());
    national_ = Principal::of(*store_->account_by_address("admin@care.example"));
    ASSERT_TRUE(admin_->create_organisation(national_, {"RA1", "Northfield Hospitals", "", {"a.care.example"}}).ok());
    ASSERT_TRUE(admin_->create_organisation(national_, {"RB2", "Southgate Practice", "", {"b.care.example"}}).ok());
    // One account made before the directory loads, the rest after (kept current by refresh).
    jo_ = make("jo.bloggs@a.care.example", "RA1", "Jo Bloggs");
    dir_svc_ = std::make_unique<DirectoryService>(*store_, cfg_);
    ASSERT_TRUE(dir_svc_->load().ok());
    identity_->context.observer = [this](AccountId id) { dir_svc_->refresh(id); };
    admin_a_ = make("sam.admin@a.care.example", "RA1", "Sam Admin", {Role::user, Role::local_admin});
    kim_ = make("kim.smith@b.care.example", "RB2", "Kim Smith");
    admin_b_ = make("lee.admin@b.care.example", "RB2", "Lee Admin", {Role::user, Role::local_admin});
  }

  void TearDown() override {
    dir_svc_.reset();
    reset_identity();
    store_.reset();
    blobs_.reset();
  }

  Principal make(const std::string& address, const std::string& ods, const std::string& name,
                 std::vector<Role> roles = {Role::user}) {
    return testing::make_account(*admin_, national_, address, ods, name, std::move(roles));
  }

  std::vector<std::string> find(const Principal& by, const std::string& text, bool typeahead = false) {
    directory::Query q;
    q.text = text;
    q.typeahead = typeahead;
    auto r = dir_svc_->search(by, q, 20, 0);
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
    std::vector<std::string> out;
    if (r.ok())
      for (const auto& h : r->hits) out.push_back(h.entry.address);
    return out;
  }

  testing::TempDir dir_{"cm-directory-test"};  // before the store: removed after it closes
  Config cfg_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<FsBlobStore> blobs_;
  std::unique_ptr<DirectoryService> dir_svc_;
  Principal national_, jo_, admin_a_, kim_, admin_b_;
};

TEST_F(DirectoryServiceTest, LoadedAndKeptCurrent) {
  // Loaded at start (jo) and added by the observer (kim), found by name in any order,
  // prefix, a typo, and by organisation.
  EXPECT_EQ(find(kim_, "bloggs jo"), std::vector<std::string>{"jo.bloggs@a.care.example"});
  EXPECT_EQ(find(kim_, "blo", true), std::vector<std::string>{"jo.bloggs@a.care.example"});
  EXPECT_EQ(find(jo_, "smiht"), std::vector<std::string>{"kim.smith@b.care.example"});
  EXPECT_EQ(find(jo_, "kim southgate"), std::vector<std::string>{"kim.smith@b.care.example"});
  // Disabled and deleted accounts leave the directory; enabled ones return.
  ASSERT_TRUE(lifecycle_->change_state(admin_b_, kim_.address, AccountState::disabled).ok());
  EXPECT_TRUE(find(jo_, "kim smith").empty());
  ASSERT_TRUE(lifecycle_->change_state(admin_b_, kim_.address, AccountState::active).ok());
  EXPECT_EQ(find(jo_, "kim smith").size(), 1u);
  // A joiner shows under the new organisation.
  ASSERT_TRUE(lifecycle_->mark_leaver(admin_b_, kim_.address).ok());
  ASSERT_TRUE(lifecycle_->claim_joiner(admin_a_, kim_.address).ok());
  auto e = dir_svc_->entry(jo_, kim_.address);
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->ods_code, "RA1");
  EXPECT_EQ(e->org_name, "Northfield Hospitals");
}

TEST_F(DirectoryServiceTest, ProfilesArEditedByThePersonAndTheirAdministrators) {
  DirectoryProfile p;
  p.title = "Dr";
  p.given_name = "Joanna";
  p.surname = "Bloggs";
  p.job_role = "Consultant";
  p.speciality = "Cardiology";
  p.site = "Northfield General";
  p.mobile = "07700 900123";
  ASSERT_TRUE(dir_svc_->set_profile(jo_, jo_.address, p).ok());
  directory::Query q;
  q.speciality = "cardio";
  q.site = "northfield";
  auto r = dir_svc_->search(kim_, q, 20, 0);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->hits.size(), 1u);
  EXPECT_EQ(r->hits[0].entry.title, "Dr");
  EXPECT_EQ(r->hits[0].entry.mobile, "07700 900123");
  EXPECT_EQ(find(kim_, "joanna"), std::vector<std::string>{"jo.bloggs@a.care.example"});

  // Their administrator may; a colleague, another organisation's administrator may not.
  p.unit = "Ward 7";
  EXPECT_TRUE(dir_svc_->set_profile(admin_a_, jo_.address, p).ok());
  auto colleague = make("pat@a.care.example", "RA1", "Pat Colleague");
  EXPECT_EQ(dir_svc_->set_profile(colleague, jo_.address, p).error().code, Errc::permission_denied);
  EXPECT_EQ(dir_svc_->set_profile(admin_b_, jo_.address, p).error().code, Errc::not_found);
  EXPECT_EQ(dir_svc_->profile(colleague, jo_.address).error().code, Errc::permission_denied);
  EXPECT_EQ(dir_svc_->profile(jo_, jo_.address)->unit, "Ward 7");
  // Edits are audited with the fields that changed.
  auto events = store_->audit_events(std::nullopt, 0, 1000);
  std::string last;
  for (const auto& ev : *events)
    if (ev.action == "directory.edit" && ev.outcome == "ok") last = ev.detail;
  EXPECT_EQ(last, "{\"self\":false,\"fields\":[\"unit\"]}");
  // Bad input changes nothing.
  p.notes = std::string(2000, 'x');
  EXPECT_EQ(dir_svc_->set_profile(jo_, jo_.address, p).error().code, Errc::invalid_argument);
  p.notes = "line\nbreak";
  EXPECT_EQ(dir_svc_->set_profile(jo_, jo_.address, p).error().code, Errc::invalid_argument);
  EXPECT_EQ(dir_svc_->profile(jo_, jo_.address)->notes, "");
}

TEST_F(DirectoryServiceTest, PrivacyHidesEntriesAndMobiles) {
  DirectoryProfile p;
  p.mobile = "07700 900456";
  p.mobile_hidden = true;
  ASSERT_TRUE(dir_svc_->set_profile(kim_, kim_.address, p).ok());
  EXPECT_EQ(dir_svc_->entry(jo_, kim_.address)->mobile, "");          // another organisation
  EXPECT_EQ(dir_svc_->entry(admin_b_, kim_.address)->mobile, "07700 900456");  // their administrator
  EXPECT_EQ(dir_svc_->entry(national_, kim_.address)->mobile, "07700 900456");
  p.hidden = true;
  ASSERT_TRUE(dir_svc_->set_profile(kim_, kim_.address, p).ok());
  EXPECT_TRUE(find(jo_, "kim smith").empty());
  EXPECT_EQ(dir_svc_->entry(jo_, kim_.address).error().code, Errc::not_found);
  EXPECT_EQ(find(admin_b_, "kim smith").size(), 1u);
}

TEST_F(DirectoryServiceTest, FindYourLocalAdministrator) {
  auto mine = dir_svc_->administrators(jo_, "");
  ASSERT_TRUE(mine.ok());
  ASSERT_EQ(mine->size(), 1u);
  EXPECT_EQ((*mine)[0].address, "sam.admin@a.care.example");
  auto theirs = dir_svc_->administrators(jo_, "RB2");
  ASSERT_EQ(theirs->size(), 1u);
  EXPECT_EQ((*theirs)[0].address, "lee.admin@b.care.example");
  // A new administrator appears at once; a removed one goes.
  ASSERT_TRUE(lifecycle_->set_roles(national_, jo_.address, {Role::user, Role::primary_local_admin}).ok());
  EXPECT_EQ(dir_svc_->administrators(kim_, "RA1")->size(), 2u);
}

TEST_F(DirectoryServiceTest, BulkExportNeedsASharingAgreement) {
  auto refused = dir_svc_->export_changes(admin_a_, "", 100);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, Errc::permission_denied);
  auto authoriser = make("auth@a.care.example", "RA1", "Ann Authoriser", {Role::user, Role::authoriser});
  EXPECT_EQ(dir_svc_->set_sharing_agreement(admin_a_, "RA1", true).error().code, Errc::permission_denied);
  EXPECT_EQ(dir_svc_->set_sharing_agreement(authoriser, "RB2", true).error().code, Errc::permission_denied);
  ASSERT_TRUE(dir_svc_->set_sharing_agreement(authoriser, "RA1", true).ok());
  EXPECT_EQ(dir_svc_->export_changes(jo_, "", 100).error().code, Errc::permission_denied);  // not an administrator

  // Full export in pages, then the changes since.
  std::vector<std::string> seen;
  std::string cursor;
  for (int i = 0; i < 20; ++i) {
    auto page = dir_svc_->export_changes(admin_a_, cursor, 2);
    ASSERT_TRUE(page.ok()) << page.error().message;
    for (const auto& e : page->entries) seen.push_back(e.address);
    cursor = page->next_cursor;
    if (!page->more) break;
  }
  EXPECT_NE(std::find(seen.begin(), seen.end(), "kim.smith@b.care.example"), seen.end());
  EXPECT_EQ(seen.size(), 6u);  // national admin, jo, sam, kim, lee, ann
  auto none = dir_svc_->export_changes(admin_a_, cursor, 100);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->entries.empty());
  EXPECT_FALSE(none->more);
  // A change and a removal show in the next page.
  DirectoryProfile p;
  p.job_role = "Practice Manager";
  ASSERT_TRUE(dir_svc_->set_profile(kim_, kim_.address, p).ok());
  ASSERT_TRUE(lifecycle_->change_state(national_, "lee.admin@b.care.example", AccountState::disabled).ok());
  auto next = dir_svc_->export_changes(admin_a_, none->next_cursor, 100);
  ASSERT_TRUE(next.ok());
  ASSERT_EQ(next->entries.size(), 1u);
  EXPECT_EQ(next->entries[0].job_role, "Practice Manager");
  ASSERT_EQ(next->removed.size(), 1u);
  EXPECT_EQ(dir_svc_->export_changes(admin_a_, "garbage", 10).error().code, Errc::invalid_argument);
}

}  // namespace
}  // namespace caremail

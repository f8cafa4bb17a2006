// Tests for directory contacts and distribution lists: who may manage them (an
// organisation's administrators, national administrators; refusals change nothing and are
// audited), how they show in the directory (search, entry by address, privacy, bulk
// export), the address lock, and mail to a list (sender rules, expansion to local and
// outside members with one blob, List-Id, loops), all against the real store and blobs.
#include <gtest/gtest.h>

#include <algorithm>

#include "core/identity_services.hpp"
#include "core/directory_service.hpp"
#include "core/mail_service.hpp"
#include "crypto/crypto.hpp"
#include "mime/mime.hpp"
#include "store/open_storage.hpp"
#include "identity_fixture.hpp"
#include "make_account.hpp"
#include "temp_dir.hpp"

namespace caremail {
namespace {

class DirectoryEntriesTest : public ::testing::Test, protected testing::IdentityFixture {
 protected:
  static void SetUpTestSuite() {
    crypto::init();
    mime::init();
  }

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
    mail_ = std::make_unique<MailService>(*store_, *blobs_, feed_, MailLimits{});
    national_ = Principal::of(*store_->account_by_address("admin@care.example"));
    ASSERT_TRUE(admin_->create_organisation(national_, {"RA1", "Northfield Hospitals", "", {"a.care.example"}}).ok());
    ASSERT_TRUE(admin_->create_organisation(national_, {"RB2", "Southgate Practice", "", {"b.care.example"}}).ok());
    dir_svc_ = std::make_unique<DirectoryService>(*store_, cfg_);
    ASSERT_TRUE(dir_svc_->load().ok());
    identity_->context.observer = [this](AccountId id) { dir_svc_->refresh(id); };
    jo_ = make("jo.bloggs@a.care.example", "RA1", "Jo Bloggs");
    pat_ = make("pat.lee@a.care.example", "RA1", "Pat Lee");
    admin_a_ = make("sam.admin@a.care.example", "RA1", "Sam Admin", {Role::user, Role::local_admin});
    kim_ = make("kim.smith@b.care.example", "RB2", "Kim Smith");
    admin_b_ = make("lee.admin@b.care.example", "RB2", "Lee Admin", {Role::user, Role::local_admin});
  }

  void TearDown() override {
    dir_svc_.reset();
    mail_.reset();
    reset_identity();
    store_.reset();
    blobs_.reset();
  }

  Principal make(const std::string& address, const std::string& ods, const std::string& name,
                 std::vector<Role> roles = {Role::user}) {
    return testing::make_account(*admin_, national_, address, ods, name, std::move(roles));
  }

  std::vector<std::string> find(const Principal& by, const std::string& text) {
    directory::Query q;
    q.text = text;
    auto r = dir_svc_->search(by, q, 20, 0);
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
    std::vector<std::string> out;
    if (r.ok())
      for (const auto& h : r->hits) out.push_back(h.entry.address);
    return out;
  }

  // The audit events after `after` with this action, as "outcome actor".
  std::vector<std::string> audited(int64_t after, const std::string& action) {
    std::vector<std::string> out;
    auto ev = store_->audit_events(std::nullopt, after, 1000);
    EXPECT_TRUE(ev.ok());
    if (ev.ok())
      for (const auto& e : *ev)
        if (e.action == action) out.push_back(e.outcome + " " + e.actor);
    return out;
  }
  int64_t last_audit() {
    auto ev = store_->audit_events(std::nullopt, 0, 100000);
    return ev.ok() && !ev->empty() ? ev->back().id : 0;
  }

  DirectoryContact physio() {
    DirectoryContact c;
    c.address = "Ana.OConnor@riverside-physio.example";
    c.display_name = "Ana O'Connor";
    c.profile.job_role = "Physiotherapist";
    c.profile.site = "Riverside Clinic";
    c.profile.mobile = "07700 900456";
    c.profile.mobile_hidden = true;
    return c;
  }

  DistributionList ward_list(std::vector<std::string> members, ListSenders senders = ListSenders::service) {
    DistributionList l;
    l.address = "ward7@a.care.example";
    l.display_name = "Ward 7 nurses";
    l.senders = senders;
    l.members = std::move(members);
    return l;
  }

  size_t inbox_count(const Principal& p) {
    auto mb = store_->mailbox(p.account_id, "INBOX");
    EXPECT_TRUE(mb.ok());
    return mb.ok() ? mb->messages : 0;
  }

  std::string inbox_message(const Principal& p, size_t i = 0) {
    auto mb = store_->mailbox(p.account_id, "INBOX");
    auto list = mail_->list(p, mb->id);
    EXPECT_TRUE(list.ok());
    if (!list.ok() || list->size() <= i) return {};
    auto raw = mail_->fetch(p, mb->id, (*list)[i].uid);
    return raw.ok() ? *raw : std::string();
  }

  caremail::testing::TempDir dir_{"cm-entries-test"};
  Config cfg_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<FsBlobStore> blobs_;
  ChangeFeed feed_;
  std::unique_ptr<MailService> mail_;
  std::unique_ptr<DirectoryService> dir_svc_;
  Principal national_, jo_, pat_, admin_a_, kim_, admin_b_;
};

TEST_F(DirectoryEntriesTest, ContactsAreManagedByTheirOrganisationsAdministratorsOnly) {
  int64_t before = last_audit();
  // A colleague, and another organisation's administrator, are refused; nothing is made.
  for (const Principal* who : {&jo_, &admin_b_}) {
    auto r = dir_svc_->create_contact(*who, "RA1", physio());
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, Errc::permission_denied);
  }
  EXPECT_TRUE(store_->contacts(std::nullopt)->empty());
  EXPECT_TRUE(find(kim_, "ana physiotherapist").empty());
  EXPECT_EQ(audited(before, "directory.contact_create"),
            (std::vector<std::string>{"denied jo.bloggs@a.care.example", "denied lee.admin@b.care.example"}));

  auto made = dir_svc_->create_contact(admin_a_, "RA1", physio());
  ASSERT_TRUE(made.ok()) << made.error().message;
  EXPECT_EQ(made->address, "ana.oconnor@riverside-physio.example");
  EXPECT_TRUE(is_contact_id(made->directory_id()));
  EXPECT_EQ(audited(before, "directory.contact_create").back(), "ok sam.admin@a.care.example");
  // National administrators manage any organisation's.
  DirectoryContact other = physio();
  other.address = "front.desk@riverside-physio.example";
  other.display_name = "Riverside Front Desk";
  auto made2 = dir_svc_->create_contact(national_, "RA1", other);
  ASSERT_TRUE(made2.ok());

  // Searched by name, role, and found by address; the hidden mobile blanked for others.
  EXPECT_EQ(find(kim_, "ana o'connor"), std::vector<std::string>{"ana.oconnor@riverside-physio.example"});
  directory::Query q;
  q.job_role = "physio";
  q.kind = directory::EntryKind::contact;
  auto r = dir_svc_->search(kim_, q, 20, 0);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->hits.size(), 2u);
  auto e = dir_svc_->entry(kim_, "ANA.OConnor@riverside-physio.example");
  ASSERT_TRUE(e.ok()) << e.error().message;
  EXPECT_EQ(e->kind, directory::EntryKind::contact);
  EXPECT_EQ(e->ods_code, "RA1");
  EXPECT_EQ(e->site, "Riverside Clinic");
  EXPECT_EQ(e->mobile, "");
  EXPECT_EQ(dir_svc_->entry(admin_a_, made->address)->mobile, "07700 900456");

  // Edit: refused out of scope, unchanged; by the administrator, seen at once.
  DirectoryContact edit = *made;
  edit.display_name = "Dr Ana O'Connor";
  edit.profile.title = "Dr";
  edit.profile.hidden = true;
  EXPECT_EQ(dir_svc_->update_contact(admin_b_, "RA1", made->directory_id(), edit).error().code,
            Errc::permission_denied);
  EXPECT_EQ(store_->contact(made->id)->display_name, "Ana O'Connor");
  // Someone else's contact named under one's own organisation is absent.
  EXPECT_EQ(dir_svc_->update_contact(admin_b_, "RB2", made->directory_id(), edit).error().code, Errc::not_found);
  auto edited = dir_svc_->update_contact(admin_a_, "RA1", made->directory_id(), edit);
  ASSERT_TRUE(edited.ok()) << edited.error().message;
  EXPECT_EQ(edited->profile.title, "Dr");
  EXPECT_TRUE(find(kim_, "ana o'connor").empty());  // hidden now
  EXPECT_EQ(find(admin_a_, "ana o'connor").size(), 1u);  // but not from its administrators
  auto ev = store_->audit_events(std::nullopt, before, 1000);
  ASSERT_TRUE(ev.ok());
  EXPECT_EQ(ev->back().action, "directory.contact_edit");
  EXPECT_NE(ev->back().detail.find("\"title\""), std::string::npos);
  EXPECT_EQ(ev->back().detail.find("07700"), std::string::npos);  // names of fields, never values

  // Bad input: clear errors, nothing changes.
  DirectoryContact bad = physio();
  bad.address = "someone@a.care.example";  // the service's own: not a contact
  EXPECT_EQ(dir_svc_->create_contact(admin_a_, "RA1", bad).error().code, Errc::invalid_argument);
  bad = physio();
  bad.address = "not an address";
  EXPECT_EQ(dir_svc_->create_contact(admin_a_, "RA1", bad).error().code, Errc::invalid_argument);
  bad = physio();
  bad.display_name = "";
  EXPECT_EQ(dir_svc_->create_contact(admin_a_, "RA1", bad).error().code, Errc::invalid_argument);
  bad = physio();
  bad.profile.notes = std::string(1001, 'x');
  EXPECT_EQ(dir_svc_->create_contact(admin_a_, "RA1", bad).error().code, Errc::invalid_argument);
  EXPECT_EQ(dir_svc_->create_contact(admin_a_, "RA1", physio()).error().code, Errc::already_exists);
  EXPECT_EQ(store_->contacts(std::nullopt)->size(), 2u);

  // Delete: refused out of scope; then gone from search and entry lookups.
  EXPECT_EQ(dir_svc_->delete_contact(jo_, "RA1", made->directory_id()).error().code, Errc::permission_denied);
  ASSERT_TRUE(dir_svc_->delete_contact(admin_a_, "RA1", made->directory_id()).ok());
  EXPECT_TRUE(find(admin_a_, "ana o'connor").empty());
  EXPECT_EQ(dir_svc_->entry(admin_a_, made->address).error().code, Errc::not_found);
  EXPECT_EQ(dir_svc_->delete_contact(admin_a_, "RA1", made->directory_id()).error().code, Errc::not_found);
  EXPECT_EQ(audited(before, "directory.contact_delete"),
            (std::vector<std::string>{"denied jo.bloggs@a.care.example", "ok sam.admin@a.care.example"}));
}

TEST_F(DirectoryEntriesTest, ContactsAndListsAreLoadedAtStartAndExported) {
  ASSERT_TRUE(dir_svc_->create_contact(admin_a_, "RA1", physio()).ok());
  auto l = dir_svc_->create_list(admin_a_, "RA1", ward_list({jo_.address}));
  ASSERT_TRUE(l.ok()) << l.error().message;
  DistributionList hidden = ward_list({pat_.address});
  hidden.address = "quiet@a.care.example";
  hidden.display_name = "Quiet Room";
  hidden.hidden = true;
  ASSERT_TRUE(dir_svc_->create_list(admin_a_, "RA1", hidden).ok());

  // A fresh service (a restart) loads them from the store.
  DirectoryService again(*store_, cfg_);
  ASSERT_TRUE(again.load().ok());
  directory::Query q;
  q.text = "ward nurses";
  auto r = again.search(kim_, q, 20, 0);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->hits.size(), 1u);
  EXPECT_EQ(r->hits[0].entry.kind, directory::EntryKind::list);
  EXPECT_EQ(r->hits[0].entry.address, "ward7@a.care.example");
  q.text = "quiet room";
  EXPECT_TRUE(again.search(kim_, q, 20, 0)->hits.empty());         // hidden
  EXPECT_EQ(again.search(admin_a_, q, 20, 0)->hits.size(), 1u);     // but not from its administrators
  EXPECT_EQ(again.entry(jo_, "ana.oconnor@riverside-physio.example")->kind, directory::EntryKind::contact);

  // The bulk export: accounts, then the contact and the visible list; then the changes.
  auto authoriser = make("auth@b.care.example", "RB2", "Ann Authoriser", {Role::user, Role::authoriser});
  ASSERT_TRUE(dir_svc_->set_sharing_agreement(authoriser, "RB2", true).ok());
  std::vector<std::string> seen;
  std::string cursor;
  for (int i = 0; i < 50; ++i) {
    auto page = dir_svc_->export_changes(admin_b_, cursor, 2);
    ASSERT_TRUE(page.ok()) << page.error().message;
    for (const auto& e : page->entries) seen.push_back(e.address);
    cursor = page->next_cursor;
    if (!page->more) break;
  }
  std::sort(seen.begin(), seen.end());
  seen.erase(std::unique(seen.begin(), seen.end()), seen.end());
  EXPECT_TRUE(std::binary_search(seen.begin(), seen.end(), "ana.oconnor@riverside-physio.example"));
  EXPECT_TRUE(std::binary_search(seen.begin(), seen.end(), "ward7@a.care.example"));
  EXPECT_FALSE(std::binary_search(seen.begin(), seen.end(), "quiet@a.care.example"));
  // Edit the contact, delete the list: the next page has one entry and one removal.
  auto c = store_->contacts(std::nullopt)->front();
  c.profile.job_role = "Senior Physiotherapist";
  ASSERT_TRUE(dir_svc_->update_contact(admin_a_, "RA1", c.directory_id(), c).ok());
  ASSERT_TRUE(dir_svc_->delete_list(admin_a_, "RA1", "ward7@a.care.example").ok());
  auto next = dir_svc_->export_changes(admin_b_, cursor, 100);
  ASSERT_TRUE(next.ok());
  ASSERT_EQ(next->entries.size(), 1u);
  EXPECT_EQ(next->entries[0].job_role, "Senior Physiotherapist");
  EXPECT_EQ(next->removed, std::vector<uint64_t>{l->directory_id()});
}

TEST_F(DirectoryEntriesTest, ListsAreManagedInScopeAndShareTheAddressLock) {
  int64_t before = last_audit();
  EXPECT_EQ(dir_svc_->create_list(admin_b_, "RA1", ward_list({jo_.address})).error().code, Errc::permission_denied);
  EXPECT_EQ(dir_svc_->create_list(jo_, "RA1", ward_list({jo_.address})).error().code, Errc::permission_denied);
  EXPECT_TRUE(store_->lists(std::nullopt)->empty());
  EXPECT_EQ(audited(before, "directory.list_create").size(), 2u);

  // Bad input: an address outside the organisation's domains, taken, or bad members.
  DistributionList bad = ward_list({jo_.address});
  bad.address = "ward7@b.care.example";
  EXPECT_EQ(dir_svc_->create_list(admin_a_, "RA1", bad).error().code, Errc::invalid_argument);
  bad = ward_list({pat_.address});
  bad.address = jo_.address;  // an account's
  EXPECT_EQ(dir_svc_->create_list(admin_a_, "RA1", bad).error().code, Errc::already_exists);
  bad.address = "Jo.Bloggs@A.care.example";  // any case
  EXPECT_EQ(dir_svc_->create_list(admin_a_, "RA1", bad).error().code, Errc::already_exists);
  bad = ward_list({"nobody@a.care.example"});
  EXPECT_EQ(dir_svc_->create_list(admin_a_, "RA1", bad).error().code, Errc::invalid_argument);
  bad = ward_list({"not an address"});
  EXPECT_EQ(dir_svc_->create_list(admin_a_, "RA1", bad).error().code, Errc::invalid_argument);
  bad = ward_list({});
  bad.display_name = "";
  EXPECT_EQ(dir_svc_->create_list(admin_a_, "RA1", bad).error().code, Errc::invalid_argument);
  EXPECT_TRUE(store_->lists(std::nullopt)->empty());

  auto l = dir_svc_->create_list(admin_a_, "RA1", ward_list({jo_.address, "partner@physio.example"}));
  ASSERT_TRUE(l.ok()) << l.error().message;
  // An alias or account cannot take the list's address now.
  EXPECT_EQ(lifecycle_->add_alias(admin_a_, pat_.address, "ward7@a.care.example").error().code, Errc::already_exists);
  // Nor may a list be a member of a list (not yet supported).
  DistributionList nested = ward_list({"ward7@a.care.example"});
  nested.address = "all@a.care.example";
  EXPECT_EQ(dir_svc_->create_list(admin_a_, "RA1", nested).error().code, Errc::invalid_argument);

  // Members and settings, in scope only.
  EXPECT_EQ(dir_svc_->set_list_member(admin_b_, "RA1", l->address, pat_.address, true).error().code,
            Errc::permission_denied);
  auto with = dir_svc_->set_list_member(admin_a_, "RA1", l->address, "PAT.LEE@a.care.example", true);
  ASSERT_TRUE(with.ok());
  EXPECT_EQ(with->members.size(), 3u);
  EXPECT_EQ(dir_svc_->set_list_member(admin_a_, "RA1", l->address, "x@nowhere.example", false).error().code,
            Errc::not_found);
  DistributionList settings = *l;
  settings.display_name = "Ward 7";
  settings.senders = ListSenders::members;
  settings.hidden = true;
  auto changed = dir_svc_->update_list(admin_a_, "RA1", l->address, settings);
  ASSERT_TRUE(changed.ok());
  EXPECT_EQ(store_->list(l->id)->senders, ListSenders::members);
  EXPECT_TRUE(find(kim_, "ward").empty());  // hidden

  // Delete: the address is retired like an alias.
  EXPECT_EQ(dir_svc_->delete_list(admin_b_, "RA1", l->address).error().code, Errc::permission_denied);
  ASSERT_TRUE(dir_svc_->delete_list(admin_a_, "RA1", l->address).ok());
  EXPECT_EQ(dir_svc_->create_list(admin_a_, "RA1", ward_list({})).error().code, Errc::already_exists);
  EXPECT_EQ(lifecycle_->add_alias(admin_a_, pat_.address, "ward7@a.care.example").error().code, Errc::already_exists);
  EXPECT_EQ(audited(before, "directory.list_delete"),
            (std::vector<std::string>{"denied lee.admin@b.care.example", "ok sam.admin@a.care.example"}));
}

TEST_F(DirectoryEntriesTest, ClosingAnOrganisationMovesItsContactsAndLists) {
  // Both list the physiotherapist; RB2 also a second contact and a list.
  ASSERT_TRUE(dir_svc_->create_contact(admin_a_, "RA1", physio()).ok());
  ASSERT_TRUE(dir_svc_->create_contact(admin_b_, "RB2", physio()).ok());
  DirectoryContact other = physio();
  other.address = "gp@surgery.example";
  other.display_name = "Duty GP";
  ASSERT_TRUE(dir_svc_->create_contact(admin_b_, "RB2", other).ok());
  DistributionList l = ward_list({kim_.address});
  l.address = "reception@b.care.example";
  l.display_name = "Reception";
  auto made = dir_svc_->create_list(admin_b_, "RB2", l);
  ASSERT_TRUE(made.ok()) << made.error().message;

  ASSERT_TRUE(lifecycle_->close_organisation(national_, "RB2", "RA1").ok());
  auto a = store_->organisation_by_ods("RA1");
  auto contacts = store_->contacts(a->id);
  ASSERT_TRUE(contacts.ok());
  std::vector<std::string> addresses;
  for (const auto& c : *contacts) addresses.push_back(c.address);
  EXPECT_EQ(addresses, (std::vector<std::string>{"ana.oconnor@riverside-physio.example", "gp@surgery.example"}));
  EXPECT_TRUE(store_->contacts(store_->organisation_by_ods("RB2")->id)->empty());
  // The index follows: the list and the moved contact under RA1, no duplicate contact.
  EXPECT_EQ(dir_svc_->entry(jo_, "reception@b.care.example")->ods_code, "RA1");
  EXPECT_EQ(dir_svc_->entry(jo_, "gp@surgery.example")->ods_code, "RA1");
  EXPECT_EQ(find(jo_, "ana o'connor").size(), 1u);
  EXPECT_TRUE(dir_svc_->list(admin_a_, "RA1", "reception@b.care.example").ok());
}

TEST_F(DirectoryEntriesTest, ListSenderRulesAtRcpt) {
  auto anyone = ward_list({jo_.address, "partner@physio.example"}, ListSenders::anyone);
  anyone.address = "open@a.care.example";
  auto service = ward_list({jo_.address}, ListSenders::service);
  service.address = "staff@a.care.example";
  auto members = ward_list({jo_.address, "partner@physio.example"}, ListSenders::members);
  members.address = "closed@a.care.example";
  for (auto* l : {&anyone, &service, &members}) ASSERT_TRUE(dir_svc_->create_list(admin_a_, "RA1", *l).ok());

  auto from = [](std::string envelope, std::optional<Principal> user) { return Sender{std::move(envelope), user}; };
  auto code = [&](const std::string& list, const Sender& s) {
    auto r = mail_->check_recipient(list, 0, s);
    return r.ok() ? std::string("ok") : std::string(to_string(r.error().code));
  };
  // Anyone: even the internet.
  EXPECT_EQ(code("open@a.care.example", from("stranger@internet.example", std::nullopt)), "ok");
  auto id = mail_->check_recipient("OPEN@a.care.example", 0, from("", std::nullopt));
  ASSERT_TRUE(id.ok());
  EXPECT_TRUE(is_list_id(id->list_id));
  // People in the service: signed in; a claimed service address on port 25 is not enough.
  EXPECT_EQ(code("staff@a.care.example", from(kim_.address, kim_)), "ok");
  EXPECT_EQ(code("staff@a.care.example", from(kim_.address, std::nullopt)), "permission_denied");
  EXPECT_EQ(code("staff@a.care.example", from("stranger@internet.example", std::nullopt)), "permission_denied");
  // Members: a signed-in member; an outside member on port 25 only when the operator
  // trusts the envelope (issue 14: by default a forged member address is refused).
  EXPECT_EQ(code("closed@a.care.example", from(jo_.address, jo_)), "ok");
  EXPECT_EQ(code("closed@a.care.example", from("Partner@Physio.example", std::nullopt)), "permission_denied");
  EXPECT_EQ(code("closed@a.care.example", Sender{"Partner@Physio.example", std::nullopt, true}), "ok");
  EXPECT_EQ(code("closed@a.care.example", Sender{jo_.address, std::nullopt, true}), "permission_denied");
  EXPECT_EQ(code("closed@a.care.example", from(pat_.address, pat_)), "permission_denied");
  EXPECT_EQ(code("closed@a.care.example", from(jo_.address, std::nullopt)), "permission_denied");  // spoofable
  EXPECT_EQ(code("closed@a.care.example", from("stranger@internet.example", std::nullopt)), "permission_denied");
  // A member through an alias.
  ASSERT_TRUE(lifecycle_->add_alias(admin_a_, pat_.address, "patricia@a.care.example").ok());
  ASSERT_TRUE(dir_svc_->set_list_member(admin_a_, "RA1", "closed@a.care.example", "patricia@a.care.example", true).ok());
  EXPECT_EQ(code("closed@a.care.example", from(pat_.address, pat_)), "ok");
  auto refused = mail_->check_recipient("closed@a.care.example", 0, from("stranger@internet.example", std::nullopt));
  EXPECT_NE(refused.error().message.find("only members"), std::string::npos);
}

TEST_F(DirectoryEntriesTest, MailToAListIsExpandedOnceWithListIdAndLoopsStop) {
  ASSERT_TRUE(lifecycle_->add_alias(admin_a_, jo_.address, "joanna@a.care.example").ok());
  // jo twice (address and alias), pat, kim (another organisation), two outside members.
  auto l = dir_svc_->create_list(
      admin_a_, "RA1",
      ward_list({jo_.address, "joanna@a.care.example", pat_.address, kim_.address, "partner@physio.example",
                 "gp@surgery.example"}));
  ASSERT_TRUE(l.ok()) << l.error().message;
  const std::string raw =
      "From: kim.smith@b.care.example\r\nTo: ward7@a.care.example\r\nSubject: Handover\r\n\r\nBed 4 discharged.\r\n";
  // Pat is also addressed directly: one copy, the direct one.
  std::vector<std::string> rcpts{"Ward7@a.care.example", pat_.address};
  auto rep = mail_->deliver(Principal::service(), rcpts, raw, 0, Envelope{kim_.address, "Q1"});
  ASSERT_TRUE(rep.ok()) << rep.error().message;
  ASSERT_EQ(rep->recipients.size(), 2u);
  const RecipientOutcome& list_out = rep->recipients[0];
  EXPECT_FALSE(list_out.error);
  EXPECT_EQ(list_out.list_id, l->directory_id());
  EXPECT_EQ(list_out.list_local, 2u);  // jo, kim (pat had the direct copy)
  EXPECT_EQ(list_out.list_queued, 2u);
  EXPECT_EQ(inbox_count(jo_), 1u);
  EXPECT_EQ(inbox_count(pat_), 1u);
  EXPECT_EQ(inbox_count(kim_), 1u);
  std::string jo_copy = inbox_message(jo_);
  EXPECT_EQ(jo_copy.rfind("Delivered-To: jo.bloggs@a.care.example\r\nList-Id: \"Ward 7 nurses\" <ward7.a.care.example>\r\n", 0),
            0u)
      << jo_copy;
  EXPECT_EQ(inbox_message(pat_).find("List-Id"), std::string::npos);
  // The outside members are queued with the original sender, sharing the list copy's blob
  // with the local members.
  auto queued = store_->list_outbound(100);
  ASSERT_TRUE(queued.ok());
  ASSERT_EQ(queued->size(), 2u);
  for (const auto& q : *queued) {
    EXPECT_EQ(q.sender, kim_.address);
    EXPECT_EQ(q.queue_id, "Q1");
  }
  auto jo_entries = mail_->list(jo_, store_->mailbox(jo_.account_id, "INBOX")->id);
  ASSERT_TRUE(jo_entries.ok());
  EXPECT_EQ((*queued)[0].blob_id, jo_entries->front().blob_id);
  auto blob = mail_->read_blob(Principal::service(), (*queued)[0].blob_id);
  ASSERT_TRUE(blob.ok());
  EXPECT_EQ(blob->rfind("List-Id: \"Ward 7 nurses\" <ward7.a.care.example>\r\n", 0), 0u);

  // The same message back through the list (a member forwards it to the list): not expanded.
  auto loop = mail_->deliver(Principal::service(), std::vector<std::string>{"ward7@a.care.example"}, *blob, 0,
                             Envelope{"partner@physio.example", "Q2"});
  ASSERT_TRUE(loop.ok());
  EXPECT_TRUE(loop->recipients[0].list_loop);
  EXPECT_FALSE(loop->recipients[0].error);
  EXPECT_EQ(inbox_count(jo_), 1u);
  EXPECT_EQ(store_->list_outbound(100)->size(), 2u);

  // Two lists sharing members in one message: each member gets one copy.
  DistributionList second = ward_list({jo_.address, "partner@physio.example"});
  second.address = "ward8@a.care.example";
  ASSERT_TRUE(dir_svc_->create_list(admin_a_, "RA1", second).ok());
  auto both = mail_->deliver(Principal::service(), std::vector<std::string>{"ward7@a.care.example", "ward8@a.care.example"},
                             "Subject: both\r\n\r\nx\r\n", 0, Envelope{"", "Q4"});
  ASSERT_TRUE(both.ok());
  EXPECT_EQ(both->recipients[1].list_local + both->recipients[1].list_queued, 0u);
  EXPECT_EQ(inbox_count(jo_), 2u);
  EXPECT_EQ(store_->list_outbound(100)->size(), 4u);  // partner and gp once more, not partner twice

  // A member who cannot take it (disabled) is reported on its own, the others still get it.
  ASSERT_TRUE(lifecycle_->change_state(admin_b_, kim_.address, AccountState::disabled).ok());
  auto again = mail_->deliver(Principal::service(), std::vector<std::string>{"ward7@a.care.example"}, raw, 0,
                              Envelope{"", "Q3"});
  ASSERT_TRUE(again.ok());
  ASSERT_EQ(again->recipients.size(), 2u);
  EXPECT_FALSE(again->recipients[0].error);
  EXPECT_EQ(again->recipients[1].address, kim_.address);
  EXPECT_EQ(again->recipients[1].via_list, "ward7@a.care.example");
  ASSERT_TRUE(again->recipients[1].error);
  EXPECT_EQ(again->recipients[1].error->code, Errc::conflict);
  EXPECT_EQ(inbox_count(jo_), 3u);
  EXPECT_EQ(inbox_count(pat_), 3u);
}

}  // namespace
}  // namespace caremail

// Tests for MailService against the real backends, wired as src/app/daemon.cpp wires them:
// SqliteStore + encrypted FsBlobStore (synced by the group-commit hook) + ChangeFeed, with
// accounts made through AdminService. Each test starts from a fresh data directory.
#include "core/mail_service.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "common/config.hpp"
#include "core/identity_services.hpp"
#include "crypto/crypto.hpp"
#include "mime/mime.hpp"
#include "store/open_storage.hpp"
#include "store/sqlite/sqlite_store.hpp"
#include "identity_fixture.hpp"

namespace caremail {
namespace {

namespace fs = std::filesystem;

class MailServiceTest : public ::testing::Test, protected testing::IdentityFixture {
 protected:
  static void SetUpTestSuite() {
    crypto::init();
    mime::init();
  }

  void SetUp() override {
    std::string t = (fs::temp_directory_path() / "cm-mail-test-XXXXXX").string();
    ASSERT_NE(::mkdtemp(t.data()), nullptr);
    dir_ = t;
    cfg_.server.data_dir = dir_;
    cfg_.national.domain = "care.example";
    cfg_.quota.max_message_bytes = 64 * 1024;  // small, so that "too large" is cheap to build

    // As daemon.cpp does.
    auto storage = open_storage(cfg_);
    ASSERT_TRUE(storage.ok()) << storage.error().message;
    store_ = std::move(storage->store);
    blobs_ = std::move(storage->blobs);
    // Bodies as blob files, which most tests below look at; InlineBodies... covers the
    // default, small bodies kept with their message row.
    MailLimits limits{cfg_.quota.max_message_bytes};
    limits.inline_blob_bytes = 0;
    mail_ = std::make_unique<MailService>(*store_, *blobs_, feed_, limits);
    make_identity(*store_, cfg_);

    auto boot = admin_->bootstrap("", "");
    ASSERT_TRUE(boot.ok()) << boot.error().message;
    national_ = principal("admin@care.example");
    ASSERT_TRUE(admin_->create_organisation(national_, {"RA1", "Trust A", "", {"a.care.example"}}).ok());
    ASSERT_TRUE(admin_->create_organisation(national_, {"RB2", "Trust B", "", {"b.care.example"}}).ok());
    alice_ = make_account("alice@a.care.example", "RA1");
    bob_ = make_account("bob@a.care.example", "RA1");
    carol_ = make_account("carol@b.care.example", "RB2");
    admin_a_ = make_account("admin@a.care.example", "RA1", {Role::user, Role::local_admin});
    admin_b_ = make_account("admin@b.care.example", "RB2", {Role::user, Role::local_admin});
    for (AccountId id : {alice_.account_id, bob_.account_id, carol_.account_id})
      subs_.push_back(feed_.subscribe(id, [this](AccountId a) {
        std::lock_guard lk(notified_mu_);
        ++notified_[a];
      }));
  }

  void TearDown() override {
    subs_.clear();
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
    return a.ok() ? Principal::of(*a) : Principal{};
  }

  Principal make_account(const std::string& address, const std::string& ods, std::vector<Role> roles = {Role::user}) {
    CreateAccountRequest r;
    r.address = address;
    r.ods_code = ods;
    r.roles = std::move(roles);
    auto a = admin_->create_account(national_, r);
    EXPECT_TRUE(a.ok()) << address << ": " << (a.ok() ? "" : a.error().message);
    return a.ok() ? Principal::of(*a) : Principal{};
  }

  Mailbox mailbox(const Principal& p, const std::string& name) {
    auto m = store_->mailbox(p.account_id, name);
    EXPECT_TRUE(m.ok()) << name;
    return m.ok() ? *m : Mailbox{};
  }

  std::vector<MailboxEntry> entries(const Principal& p, const std::string& name) {
    auto r = mail_->list(p, mailbox(p, name).id);
    EXPECT_TRUE(r.ok());
    return r.ok() ? *r : std::vector<MailboxEntry>{};
  }

  QuotaUsage usage(const Principal& p) {
    auto q = store_->quota(p.account_id);
    EXPECT_TRUE(q.ok());
    return q.ok() ? *q : QuotaUsage{};
  }

  int notified(const Principal& p) {
    std::lock_guard lk(notified_mu_);
    return notified_[p.account_id];
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

  Result<DeliveryReport> deliver(std::vector<std::string> rcpts, const std::string& raw) {
    return mail_->deliver(Principal::service(), rcpts, raw);
  }

  // The trace a local delivery gives one recipient's copy (RFC 9228), outside the blob.
  static std::string trace_of(const std::string& address) { return "Delivered-To: " + address + "\r\n"; }
  // A delivered message as that recipient sees it (fetch, sizes, quota).
  static std::string as_seen_by(const std::string& address, const std::string& raw) {
    return trace_of(address) + raw;
  }

  static std::string message(const std::string& subject, const std::string& body = "Hello Bob.\r\n") {
    std::string id = subject;
    std::replace(id.begin(), id.end(), ' ', '-');
    return "From: Alice Example <alice@a.care.example>\r\n"
           "To: bob@a.care.example\r\n"
           "Subject: " + subject + "\r\n"
           "Date: Mon, 2 Mar 2026 10:00:00 +0000\r\n"
           "Message-ID: <" + id + "@a.care.example>\r\n"
           "\r\n" + body;
  }

  fs::path dir_;
  Config cfg_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<FsBlobStore> blobs_;
  ChangeFeed feed_;
  std::unique_ptr<MailService> mail_;
  Principal national_, alice_, bob_, carol_, admin_a_, admin_b_;
  std::vector<ChangeFeed::Subscription> subs_;
  std::mutex notified_mu_;
  std::map<AccountId, int> notified_;
};

TEST_F(MailServiceTest, OnlyTheServiceDelivers) {
  const std::string raw = message("forged delivery");
  for (const Principal& by : {alice_, bob_, national_, admin_a_}) {
    auto r = mail_->deliver(by, std::vector<std::string>{"bob@a.care.example"}, raw);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, Errc::permission_denied);
  }
  EXPECT_TRUE(entries(bob_, "INBOX").empty());
  EXPECT_FALSE(blobs_->exists(crypto::sha256_hex(raw)));
  EXPECT_EQ(notified(bob_), 0);
}

TEST_F(MailServiceTest, UnknownRecipientFailsAloneOthersAreDelivered) {
  const std::string raw = message("to three");
  auto r = deliver({"bob@a.care.example", "nobody@a.care.example", "carol@b.care.example"}, raw);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->blob_id, crypto::sha256_hex(raw));
  ASSERT_EQ(r->recipients.size(), 3u);
  EXPECT_EQ(r->delivered(), 2u);

  EXPECT_EQ(r->recipients[0].address, "bob@a.care.example");
  EXPECT_FALSE(r->recipients[0].error.has_value());
  EXPECT_EQ(r->recipients[0].account_id, bob_.account_id);
  EXPECT_EQ(r->recipients[0].mailbox_id, mailbox(bob_, "INBOX").id);
  EXPECT_EQ(r->recipients[0].uid, 1u);

  EXPECT_EQ(r->recipients[1].address, "nobody@a.care.example");
  ASSERT_TRUE(r->recipients[1].error.has_value());
  EXPECT_EQ(r->recipients[1].error->code, Errc::not_found);
  EXPECT_NE(r->recipients[1].error->message.find("nobody@a.care.example"), std::string::npos);
  EXPECT_EQ(r->recipients[1].uid, 0u);

  EXPECT_FALSE(r->recipients[2].error.has_value());
  EXPECT_EQ(r->recipients[2].mailbox_id, mailbox(carol_, "INBOX").id);
  EXPECT_EQ(r->recipients[2].uid, 1u);

  EXPECT_EQ(entries(bob_, "INBOX").size(), 1u);
  EXPECT_EQ(entries(carol_, "INBOX").size(), 1u);
  EXPECT_EQ(notified(bob_), 1);
  EXPECT_EQ(notified(carol_), 1);
  EXPECT_EQ(notified(alice_), 0);

  // Nobody known at all: a report of failures, nothing stored.
  const std::string raw2 = message("to nobody");
  auto none = deliver({"x@a.care.example", "y@nowhere.example"}, raw2);
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->delivered(), 0u);
  EXPECT_EQ(none->blob_id, "");
  EXPECT_FALSE(blobs_->exists(crypto::sha256_hex(raw2)));
}

TEST_F(MailServiceTest, AliasAndPrimaryAddressGetOneCopy) {
  ASSERT_TRUE(store_->add_alias(bob_.account_id, "robert@a.care.example").ok());
  const std::string raw = message("alias");
  auto r = deliver({"bob@a.care.example", "robert@a.care.example", "BOB@A.Care.Example"}, raw);
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(r->recipients.size(), 3u);
  EXPECT_EQ(r->delivered(), 3u);
  for (const auto& o : r->recipients) {
    SCOPED_TRACE(o.address);
    EXPECT_FALSE(o.error.has_value());
    EXPECT_EQ(o.account_id, bob_.account_id);
    EXPECT_EQ(o.uid, 1u);
  }
  auto e = entries(bob_, "INBOX");
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0].trace, trace_of("bob@a.care.example")) << "one copy, traced with the first address given";
  QuotaUsage q = usage(bob_);
  EXPECT_EQ(q.messages, 1u);
  EXPECT_EQ(q.bytes, as_seen_by("bob@a.care.example", raw).size());
  EXPECT_EQ(notified(bob_), 1);
}

// One message to several local mailboxes is stored once (one blob, one entry each), and
// each copy shows its own Delivered-To (RFC 9228) with the address the sender used, an
// alias included, and no one else's: a Bcc recipient stays unknown to the others.
TEST_F(MailServiceTest, EachCopyHasItsOwnDeliveredToAndTheBlobIsShared) {
  ASSERT_TRUE(store_->add_alias(carol_.account_id, "ward7@b.care.example").ok());
  const std::string raw =
      "From: Lab <lab@elsewhere.example>\r\nTo: undisclosed-recipients:;\r\nSubject: to three\r\n"
      "Date: Mon, 2 Mar 2026 10:00:00 +0000\r\n\r\nResults for the three of you.\r\n";
  const std::vector<std::string> rcpts = {"alice@a.care.example", "bob@a.care.example", "Ward7@b.care.example"};
  const std::vector<Principal> owners = {alice_, bob_, carol_};
  auto r = deliver(rcpts, raw);
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(r->delivered(), 3u);
  EXPECT_EQ(r->blob_id, crypto::sha256_hex(raw));

  // One blob file, holding the message exactly as delivered.
  size_t files = 0;
  for (const auto& f : fs::recursive_directory_iterator(dir_ / "blobs"))
    if (f.is_regular_file()) ++files;
  EXPECT_EQ(files, 1u);
  auto stored = blobs_->get(r->blob_id);
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(*stored, raw);

  std::set<MessageId> message_ids;
  for (size_t i = 0; i < rcpts.size(); ++i) {
    SCOPED_TRACE(rcpts[i]);
    const Principal& p = owners[i];
    const RecipientOutcome& out = r->recipients[i];
    ASSERT_FALSE(out.error.has_value());
    const std::string own = "Delivered-To: " + rcpts[i] + "\r\n";  // as given: alias, case and all
    auto got = mail_->fetch(p, out.mailbox_id, out.uid);
    ASSERT_TRUE(got.ok()) << got.error().message;
    EXPECT_EQ(*got, own + raw);
    for (size_t j = 0; j < rcpts.size(); ++j) {
      if (j == i) continue;
      EXPECT_EQ(got->find(rcpts[j]), std::string::npos) << "shows " << rcpts[j];
    }
    auto list = mail_->list(p, out.mailbox_id);
    ASSERT_TRUE(list.ok());
    ASSERT_EQ(list->size(), 1u);
    EXPECT_EQ(list->front().trace, own);
    EXPECT_EQ(list->front().size, got->size()) << "RFC822.SIZE counts the Delivered-To";
    EXPECT_EQ(list->front().blob_id, r->blob_id);
    message_ids.insert(list->front().message_id);
    EXPECT_EQ(usage(p).bytes, got->size());
    EXPECT_EQ(mailbox(p, "INBOX").bytes, got->size());
    // The header cache answers as fetch() does: Delivered-To first.
    auto headers = mail_->headers(p, out.mailbox_id, {});
    ASSERT_TRUE(headers.ok());
    ASSERT_EQ(headers->size(), 1u);
    const std::string header = raw.substr(0, raw.find("\r\n\r\n") + 4);
    EXPECT_EQ(headers->front().second, own + header);
    EXPECT_EQ(got->substr(0, headers->front().second.size()), headers->front().second);
  }
  EXPECT_EQ(message_ids.size(), 1u) << "one stored message for every copy";

  // A copy into another mailbox keeps the Delivered-To; an APPEND of the same bytes has none.
  const MailboxId archive = mailbox(bob_, "Archive").id;
  auto c = mail_->copy(bob_, r->recipients[1].mailbox_id, std::vector<Uid>{r->recipients[1].uid}, archive);
  ASSERT_TRUE(c.ok()) << c.error().message;
  auto copied = mail_->fetch(bob_, archive, c->uids[0].second);
  ASSERT_TRUE(copied.ok());
  EXPECT_EQ(*copied, "Delivered-To: bob@a.care.example\r\n" + raw);
  auto a = mail_->append(bob_, bob_.account_id, "Drafts", raw);
  ASSERT_TRUE(a.ok());
  auto appended = mail_->fetch(bob_, a->mailbox_id, a->uid);
  ASSERT_TRUE(appended.ok());
  EXPECT_EQ(*appended, raw);
  auto check = store_->verify_quota();
  ASSERT_TRUE(check.ok());
  for (const auto& q : *check) EXPECT_EQ(q.counted.bytes, q.actual.bytes) << "account " << q.account_id;
}

TEST_F(MailServiceTest, InlineBodiesAreKeptWithTheirRowAndLargerOnesAreFiles) {
  MailLimits limits{cfg_.quota.max_message_bytes};
  limits.inline_blob_bytes = 2048;
  mail_ = std::make_unique<MailService>(*store_, *blobs_, feed_, limits);
  auto blob_files = [&] {
    size_t n = 0;
    for (const auto& f : fs::recursive_directory_iterator(dir_ / "blobs"))
      if (f.is_regular_file()) ++n;
    return n;
  };
  const std::string small = message("a referral", "Please see this patient.\r\n");
  ASSERT_LE(small.size(), 2048u);
  auto r = deliver({"alice@a.care.example", "bob@a.care.example"}, small);
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(r->delivered(), 2u);
  EXPECT_EQ(blob_files(), 0u) << "a small body is no file";
  auto record = store_->inline_blob(r->blob_id);
  ASSERT_TRUE(record.ok());
  ASSERT_TRUE(record->has_value());
  EXPECT_EQ((*record)->find("Please see"), std::string::npos) << "sealed at rest like a file";
  EXPECT_TRUE(blobs_->exists(r->blob_id));
  auto got = mail_->fetch(bob_, r->recipients[1].mailbox_id, r->recipients[1].uid);
  ASSERT_TRUE(got.ok()) << got.error().message;
  EXPECT_EQ(*got, as_seen_by("bob@a.care.example", small));
  auto appended = mail_->append(alice_, alice_.account_id, "Drafts", small);  // same content: same row
  ASSERT_TRUE(appended.ok()) << appended.error().message;
  EXPECT_EQ(*mail_->fetch(alice_, appended->mailbox_id, appended->uid), small);

  const std::string large = message("a scan", std::string(3000, 'x') + "\r\n");
  auto big = deliver({"carol@b.care.example"}, large);
  ASSERT_TRUE(big.ok()) << big.error().message;
  EXPECT_EQ(blob_files(), 1u) << "a larger body is a blob file";
  EXPECT_FALSE(store_->inline_blob(big->blob_id)->has_value());
  EXPECT_EQ(*mail_->fetch(carol_, big->recipients[0].mailbox_id, big->recipients[0].uid),
            as_seen_by("carol@b.care.example", large));
}

TEST_F(MailServiceTest, TooLargeIsRefusedAndNothingIsStored) {
  const size_t limit = cfg_.quota.max_message_bytes;
  std::string head = message("big", "");
  std::string raw = head + std::string(limit - head.size() + 1, 'x');
  ASSERT_EQ(raw.size(), limit + 1);
  auto r = deliver({"bob@a.care.example"}, raw);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::too_large);
  EXPECT_NE(r.error().message.find(std::to_string(limit)), std::string::npos) << r.error().message;
  EXPECT_FALSE(blobs_->exists(crypto::sha256_hex(raw)));
  EXPECT_EQ(usage(bob_).messages, 0u);
  EXPECT_EQ(usage(bob_).bytes, 0u);

  auto a = mail_->append(bob_, bob_.account_id, "INBOX", raw);
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.error().code, Errc::too_large);
  EXPECT_FALSE(blobs_->exists(crypto::sha256_hex(raw)));

  // Exactly at the limit is accepted (the limit is the message's; its Delivered-To is the
  // copy's and counts in the quota).
  raw.pop_back();
  auto ok = deliver({"bob@a.care.example"}, raw);
  ASSERT_TRUE(ok.ok()) << ok.error().message;
  EXPECT_EQ(ok->delivered(), 1u);
  EXPECT_EQ(usage(bob_).bytes, limit + trace_of("bob@a.care.example").size());
}

TEST_F(MailServiceTest, OverQuotaFailsThatRecipientOnlyAndWritesNothingForIt) {
  const std::string first = message("fits exactly");
  const size_t first_size = as_seen_by("carol@b.care.example", first).size();  // with its Delivered-To
  ASSERT_TRUE(store_->set_quota_limit(carol_.account_id, first_size).ok());
  auto r1 = deliver({"carol@b.care.example"}, first);
  ASSERT_TRUE(r1.ok());
  ASSERT_EQ(r1->delivered(), 1u);  // used + size == limit is allowed
  const QuotaUsage carol_before = usage(carol_);
  EXPECT_EQ(carol_before.bytes, first_size);
  EXPECT_EQ(carol_before.messages, 1u);
  EXPECT_EQ(carol_before.limit_bytes, first_size);

  // Two recipients, one full: bob gets it, carol gets quota_exceeded.
  const std::string second = message("second");
  auto r2 = deliver({"carol@b.care.example", "bob@a.care.example"}, second);
  ASSERT_TRUE(r2.ok()) << r2.error().message;
  ASSERT_EQ(r2->recipients.size(), 2u);
  ASSERT_TRUE(r2->recipients[0].error.has_value());
  EXPECT_EQ(r2->recipients[0].error->code, Errc::quota_exceeded);
  EXPECT_EQ(r2->recipients[0].uid, 0u);
  EXPECT_FALSE(r2->recipients[1].error.has_value());
  EXPECT_EQ(usage(carol_).bytes, carol_before.bytes);
  EXPECT_EQ(usage(carol_).messages, carol_before.messages);
  EXPECT_EQ(entries(carol_, "INBOX").size(), 1u);
  EXPECT_EQ(mailbox(carol_, "INBOX").messages, 1u);
  EXPECT_EQ(mailbox(carol_, "INBOX").uidnext, 2u);  // no uid was spent on the refused copy
  EXPECT_EQ(usage(bob_).bytes, as_seen_by("bob@a.care.example", second).size());
  EXPECT_EQ(notified(carol_), 1);  // only for the first delivery

  // Only the full recipient: the blob is written but no message refers to it, and it is
  // queued as dead so that garbage collection removes the file.
  const std::string third = message("third");
  const std::string id = crypto::sha256_hex(third);
  auto r3 = deliver({"carol@b.care.example"}, third);
  ASSERT_TRUE(r3.ok()) << r3.error().message;
  EXPECT_EQ(r3->delivered(), 0u);
  ASSERT_TRUE(r3->recipients[0].error.has_value());
  EXPECT_EQ(r3->recipients[0].error->code, Errc::quota_exceeded);
  EXPECT_EQ(usage(carol_).bytes, carol_before.bytes);
  EXPECT_EQ(usage(carol_).messages, carol_before.messages);
  auto referenced = store_->blob_referenced(id);
  ASSERT_TRUE(referenced.ok());
  EXPECT_FALSE(*referenced);
  auto dead = store_->dead_blobs(100);
  ASSERT_TRUE(dead.ok());
  EXPECT_EQ(std::count(dead->begin(), dead->end(), id), 1);
  auto gc = blobs_->collect_garbage(*store_, 100);
  ASSERT_TRUE(gc.ok()) << gc.error().message;
  EXPECT_EQ(*gc, 1u);
  EXPECT_FALSE(blobs_->exists(id));

  // Counters equal a recount from the rows for every account.
  auto check = store_->verify_quota();
  ASSERT_TRUE(check.ok());
  for (const auto& c : *check) {
    EXPECT_EQ(c.counted.bytes, c.actual.bytes) << "account " << c.account_id;
    EXPECT_EQ(c.counted.messages, c.actual.messages) << "account " << c.account_id;
  }

  // Append over quota: refused the same way.
  auto a = mail_->append(carol_, carol_.account_id, "Sent", message("appended"));
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.error().code, Errc::quota_exceeded);
  EXPECT_EQ(usage(carol_).messages, 1u);
}

TEST_F(MailServiceTest, SummaryIsParsedAndListed) {
  const std::string raw =
      "From: \"Example, Alice\" <alice@a.care.example>\r\n"
      "To: bob@a.care.example\r\n"
      "Cc: carol@b.care.example\r\n"
      "Subject: =?UTF-8?Q?R=C3=A9f=C3=A9r=C3=A9s?= for Monday\r\n"
      "Date: Mon, 2 Mar 2026 10:00:00 +0000\r\n"
      "Message-ID: <summary-1@a.care.example>\r\n"
      "\r\n"
      "Body.\r\n";
  auto r = deliver({"bob@a.care.example"}, raw);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->delivered(), 1u);
  auto list = mail_->list(bob_, mailbox(bob_, "INBOX").id);
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 1u);
  const MailboxEntry& e = list->front();
  EXPECT_EQ(e.uid, 1u);
  EXPECT_EQ(e.size, as_seen_by("bob@a.care.example", raw).size());
  EXPECT_EQ(e.blob_id, crypto::sha256_hex(raw));
  EXPECT_EQ(e.flags, 0u);
  EXPECT_EQ(e.summary.subject, "R\xc3\xa9" "f\xc3\xa9r\xc3\xa9s for Monday");
  EXPECT_NE(e.summary.from.find("alice@a.care.example"), std::string::npos) << e.summary.from;
  EXPECT_NE(e.summary.from.find("Example, Alice"), std::string::npos) << e.summary.from;
  EXPECT_EQ(e.summary.to, "bob@a.care.example");
  EXPECT_EQ(e.summary.cc, "carol@b.care.example");
  EXPECT_EQ(e.summary.message_id, "summary-1@a.care.example");
  EXPECT_EQ(e.summary.sent_at, 1772445600);  // 2026-03-02T10:00:00Z
  EXPECT_FALSE(e.summary.body_structure.empty());

  auto bare = mail_->list(bob_, mailbox(bob_, "INBOX").id, {}, /*summaries=*/false);
  ASSERT_TRUE(bare.ok());
  ASSERT_EQ(bare->size(), 1u);
  EXPECT_EQ(bare->front().summary.subject, "");
  EXPECT_EQ(bare->front().uid, 1u);
}

// The header cache holds exactly the bytes fetch() returns up to where the body starts,
// by the rule IMAP BODY[HEADER] uses (mime::summarize's split).
struct HeaderCase {
  const char* what;
  std::string raw;
  std::string header;  // "" = not cached
};

TEST_F(MailServiceTest, HeaderIsCachedAsBodyHeaderSplitsIt) {
  const std::string big = "Subject: big\r\nX-Pad: " + std::string(17 * 1024, 'p') + "\r\n\r\n";
  const std::string at_limit = "Subject: limit\r\nX-Pad: " + std::string(kMaxCachedHeader - 27, 'p') + "\r\n\r\n";
  ASSERT_EQ(at_limit.size(), kMaxCachedHeader);
  const std::vector<HeaderCase> cases = {
      {"CRLF", "From: a@b.example\r\nSubject: crlf\r\n\r\nBody\r\n", "From: a@b.example\r\nSubject: crlf\r\n\r\n"},
      {"bare LF", "From: a@b.example\nSubject: lf\n\nBody\n", "From: a@b.example\nSubject: lf\n\n"},
      {"folded field", "Subject: one\r\n two\r\n\r\nBody\r\n", "Subject: one\r\n two\r\n\r\n"},
      {"no body", "Subject: empty body\r\n\r\n", "Subject: empty body\r\n\r\n"},
      {"no blank line: all header", "From: a@b.example\r\nSubject: no blank line\r\n",
       "From: a@b.example\r\nSubject: no blank line\r\n"},
      {"a line that is not a field starts the body", "Subject: odd\r\nnot a field\r\n\r\nrest\r\n",
       "Subject: odd\r\n"},
      {"blank line first", "\r\nonly a body\r\n", "\r\n"},
      {"multipart: the top-level header only",
       "Subject: parts\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
       "--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b--\r\n",
       "Subject: parts\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"},
      {"at 16 KB: cached", at_limit + "body\r\n", at_limit},
      {"over 16 KB: not cached", big + "body\r\n", ""},
      {"body only, no field at all", "hello\r\n", ""},
  };
  const MailboxId inbox = mailbox(bob_, "INBOX").id;
  for (const auto& c : cases) {
    auto r = deliver({"bob@a.care.example"}, c.raw);
    ASSERT_TRUE(r.ok()) << c.what;
    ASSERT_EQ(r->delivered(), 1u) << c.what;
  }
  auto got = mail_->headers(bob_, inbox, {});
  ASSERT_TRUE(got.ok()) << got.error().message;
  std::map<Uid, std::string> by_uid(got->begin(), got->end());
  EXPECT_TRUE(std::is_sorted(got->begin(), got->end()));
  for (size_t i = 0; i < cases.size(); ++i) {
    SCOPED_TRACE(cases[i].what);
    const Uid uid = static_cast<Uid>(i + 1);
    auto it = by_uid.find(uid);
    if (cases[i].header.empty()) {
      EXPECT_EQ(it, by_uid.end()) << "cached, but should not be";
      continue;
    }
    ASSERT_NE(it, by_uid.end()) << "not cached";
    EXPECT_EQ(it->second, trace_of("bob@a.care.example") + cases[i].header) << "the copy's Delivered-To first";
    auto raw = mail_->fetch(bob_, inbox, uid);
    ASSERT_TRUE(raw.ok());
    EXPECT_EQ(raw->substr(0, it->second.size()), it->second) << "not a prefix of the message";
  }
  auto some = mail_->headers(bob_, inbox, {2, 3});
  ASSERT_TRUE(some.ok());
  ASSERT_EQ(some->size(), 2u);
  EXPECT_EQ(some->front().first, 2u);
  EXPECT_EQ(some->back().first, 3u);

  // APPEND caches it too (an APPENDed message has no trace).
  auto a = mail_->append(bob_, bob_.account_id, "Drafts", "Subject: draft\r\n\r\ntext\r\n");
  ASSERT_TRUE(a.ok());
  auto drafts = mail_->headers(bob_, a->mailbox_id, {});
  ASSERT_TRUE(drafts.ok());
  EXPECT_EQ(*drafts, (std::vector<std::pair<Uid, std::string>>{{a->uid, "Subject: draft\r\n\r\n"}}));
}

TEST_F(MailServiceTest, FetchReturnsTheExactBytes) {
  std::string raw = message("exact", "line one\r\n\xc3\xa9\xff 8-bit\r\nbare LF\nno final newline");
  raw.push_back('\0');
  raw += "after NUL";
  auto r = deliver({"bob@a.care.example"}, raw);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->delivered(), 1u);
  auto got = mail_->fetch(bob_, r->recipients[0].mailbox_id, r->recipients[0].uid);
  ASSERT_TRUE(got.ok()) << got.error().message;
  EXPECT_EQ(*got, as_seen_by("bob@a.care.example", raw));
  auto stored = blobs_->get(r->blob_id);
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(*stored, raw) << "the blob is the message as delivered, without any Delivered-To";

  // Stored encrypted: the body is not on disk in clear.
  std::ifstream in(blobs_->path_for(r->blob_id), std::ios::binary);
  std::string on_disk((std::istreambuf_iterator<char>(in)), {});
  EXPECT_EQ(on_disk.find("line one"), std::string::npos);
  EXPECT_EQ(on_disk.size(), 16 + raw.size() + crypto::kSealOverhead);

  auto missing = mail_->fetch(bob_, r->recipients[0].mailbox_id, 99);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, Errc::not_found);
}

TEST_F(MailServiceTest, CorruptedBlobIsNeverServed) {
  const std::string secret = "the secret body text";
  const std::string raw = message("corrupt", secret + "\r\n");
  auto r = deliver({"bob@a.care.example"}, raw);
  ASSERT_TRUE(r.ok());
  const MailboxId inbox = r->recipients[0].mailbox_id;
  const fs::path file = blobs_->path_for(r->blob_id);
  ASSERT_TRUE(fs::exists(file));
  const auto size = fs::file_size(file);

  // Flip one byte at several places: header, nonce, ciphertext, tag.
  for (uintmax_t at : {uintmax_t{0}, uintmax_t{8}, uintmax_t{16}, uintmax_t{50}, size - 1}) {
    SCOPED_TRACE(at);
    int fd = ::open(file.c_str(), O_RDWR);
    ASSERT_GE(fd, 0);
    unsigned char b = 0;
    ASSERT_EQ(::pread(fd, &b, 1, static_cast<off_t>(at)), 1);
    unsigned char flipped = b ^ 0x01;
    ASSERT_EQ(::pwrite(fd, &flipped, 1, static_cast<off_t>(at)), 1);
    auto got = mail_->fetch(bob_, inbox, 1);
    ASSERT_FALSE(got.ok()) << "served altered bytes";
    EXPECT_EQ(got.error().code, Errc::corrupt);
    EXPECT_EQ(got.error().message.find(secret), std::string::npos);
    ASSERT_EQ(::pwrite(fd, &b, 1, static_cast<off_t>(at)), 1);  // restore
    ::close(fd);
    auto again = mail_->fetch(bob_, inbox, 1);
    ASSERT_TRUE(again.ok()) << again.error().message;
    EXPECT_EQ(*again, as_seen_by("bob@a.care.example", raw));
  }

  // Truncated, then missing.
  fs::resize_file(file, size - 5);
  auto trunc = mail_->fetch(bob_, inbox, 1);
  ASSERT_FALSE(trunc.ok());
  EXPECT_EQ(trunc.error().code, Errc::corrupt);
  fs::remove(file);
  auto gone = mail_->fetch(bob_, inbox, 1);
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.error().code, Errc::corrupt);
}

// Issue 15: an IMAP session fetching a message that another session expunges between the
// entry read and the blob read got "blob ... is missing" (Errc::corrupt, logged as
// corruption). A message expunged meanwhile is not_found; a blob missing under a live entry
// is still corruption (CorruptedBlobIsNeverServed).
TEST_F(MailServiceTest, MessageExpungedWhileBeingFetchedIsNotFoundNotCorrupt) {
  mail_ = std::make_unique<MailService>(*store_, *blobs_, feed_, MailLimits{cfg_.quota.max_message_bytes});
  auto r = deliver({"bob@a.care.example"}, message("going", "Soon gone.\r\n"));
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_TRUE(store_->inline_blob(r->blob_id)->has_value()) << "small: stored with its message row";
  const MailboxId inbox = r->recipients[0].mailbox_id;
  const Uid uid = r->recipients[0].uid;
  // The other session's expunge lands after fetch() read the entry, before it reads the blob.
  bool raced = false;
  blobs_->set_inline_reader([&](std::string_view id) -> Result<std::optional<std::string>> {
    if (!raced) {
      raced = true;
      EXPECT_TRUE(mail_->set_flags(bob_, inbox, std::vector<Uid>{uid}, FlagUpdate{FlagOp::add, kDeleted, {}, {}}).ok());
      auto gone = mail_->expunge(bob_, inbox);
      EXPECT_TRUE(gone.ok() && gone->size() == 1);
    }
    return store_->inline_blob(id);
  });
  auto got = mail_->fetch(bob_, inbox, uid);
  EXPECT_TRUE(raced);
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.error().code, Errc::not_found) << got.error().message;
}

TEST_F(MailServiceTest, AnotherUsersMailboxIsRefusedAndAudited) {
  const std::string raw = message("private");
  auto d = deliver({"bob@a.care.example"}, raw);
  ASSERT_TRUE(d.ok());
  const MailboxId bob_inbox = mailbox(bob_, "INBOX").id;
  const MailboxId bob_archive = mailbox(bob_, "Archive").id;
  const std::vector<Uid> one{1};
  // Each actor's own INBOX, holding one message, for copies and moves across the boundary.
  auto own_inbox = [&](const Principal& p) { return mailbox(p, "INBOX").id; };
  for (const char* to : {"carol@b.care.example", "admin@a.care.example", "admin@care.example"})
    ASSERT_TRUE(deliver({to}, message(std::string("own mail of ") + to)).ok());

  struct Attempt {
    const char* what;
    const char* action;
    std::function<Errc(const Principal&)> run;
  };
  auto code = [](const auto& r) { return r.ok() ? Errc::io : r.error().code; };  // io: "was allowed"
  const std::vector<Attempt> attempts = {
      {"list", "mailbox.read", [&](const Principal& p) { return code(mail_->list(p, bob_inbox)); }},
      {"fetch", "message.read", [&](const Principal& p) { return code(mail_->fetch(p, bob_inbox, 1)); }},
      {"headers", "message.read", [&](const Principal& p) { return code(mail_->headers(p, bob_inbox, {})); }},
      {"list_flags", "mailbox.read", [&](const Principal& p) { return code(mail_->list_flags(p, bob_inbox)); }},
      {"changes_since", "mailbox.read", [&](const Principal& p) { return code(mail_->changes_since(p, bob_inbox, 0)); }},
      {"set_flags", "message.flag",
       [&](const Principal& p) { return code(mail_->set_flags(p, bob_inbox, one, FlagUpdate{FlagOp::add, kDeleted})); }},
      {"expunge", "message.expunge", [&](const Principal& p) { return code(mail_->expunge(p, bob_inbox)); }},
      {"append", "mailbox.append",
       [&](const Principal& p) { return code(mail_->append(p, bob_.account_id, "INBOX", message("planted"))); }},
      {"copy_out", "message.copy", [&](const Principal& p) { return code(mail_->copy(p, bob_inbox, one, own_inbox(p))); }},
      {"copy_in", "message.copy", [&](const Principal& p) { return code(mail_->copy(p, own_inbox(p), one, bob_inbox)); }},
      {"move_out", "message.move", [&](const Principal& p) { return code(mail_->move(p, bob_inbox, one, own_inbox(p))); }},
      {"move_in", "message.move", [&](const Principal& p) { return code(mail_->move(p, own_inbox(p), one, bob_inbox)); }},
      {"list_mailboxes", "mailbox.list", [&](const Principal& p) { return code(mail_->list_mailboxes(p, bob_.account_id)); }},
      {"select", "mailbox.select", [&](const Principal& p) { return code(mail_->mailbox(p, bob_.account_id, "INBOX")); }},
      {"create", "mailbox.create",
       [&](const Principal& p) { return code(mail_->create_mailbox(p, bob_.account_id, "Planted")); }},
      {"delete", "mailbox.delete", [&](const Principal& p) {
         Status s = mail_->delete_mailbox(p, bob_archive);
         return s.ok() ? Errc::io : s.error().code;
       }},
  };
  // Carol (another organisation), Bob's own local administrator and a national
  // administrator: none of them reads Bob's mail.
  for (const Principal& by : {carol_, admin_a_, national_}) {
    for (const auto& a : attempts) {
      SCOPED_TRACE(by.address + " " + a.what);
      const int64_t before = last_audit_id();
      EXPECT_EQ(a.run(by), Errc::permission_denied);
      auto ev = audit_after(before);
      ASSERT_EQ(ev.size(), 1u);
      EXPECT_EQ(ev[0].outcome, "denied");
      EXPECT_EQ(ev[0].action, a.action);
      EXPECT_EQ(ev[0].actor, by.address);
      EXPECT_EQ(ev[0].actor_org, by.org_id);
      EXPECT_EQ(ev[0].target, "bob@a.care.example");
      EXPECT_EQ(ev[0].target_org, bob_.org_id);
    }
  }
  // Nothing changed in Bob's mailboxes.
  auto e = entries(bob_, "INBOX");
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0].flags, 0u);
  EXPECT_TRUE(store_->mailbox(bob_.account_id, "Archive").ok());
  EXPECT_FALSE(store_->mailbox(bob_.account_id, "Planted").ok());
  EXPECT_EQ(usage(bob_).messages, 1u);
  EXPECT_EQ(entries(carol_, "INBOX").size(), 1u);
  auto chain = store_->verify_audit_chain();
  ASSERT_TRUE(chain.ok());
  EXPECT_EQ(*chain, 0);
}

TEST_F(MailServiceTest, ChangesSinceAViewsModseq) {
  for (int i = 1; i <= 3; ++i) ASSERT_TRUE(deliver({"bob@a.care.example"}, message("m" + std::to_string(i))).ok());
  const Mailbox inbox = mailbox(bob_, "INBOX");
  // Nothing moved since the view's modseq: the mailbox only.
  auto none = mail_->changes_since(bob_, inbox.id, inbox.highest_modseq);
  ASSERT_TRUE(none.ok()) << none.error().message;
  EXPECT_EQ(none->mailbox.highest_modseq, inbox.highest_modseq);
  EXPECT_TRUE(none->changed.empty());
  EXPECT_TRUE(none->vanished.empty());
  // A flag change on 2 and an expunge of 3: both reported, as changed_since and
  // expunged_since report them.
  const std::vector<Uid> two{2}, three{3};
  ASSERT_TRUE(mail_->set_flags(bob_, inbox.id, two, FlagUpdate{FlagOp::add, kSeen}).ok());
  ASSERT_TRUE(mail_->set_flags(bob_, inbox.id, three, FlagUpdate{FlagOp::add, kDeleted}).ok());
  ASSERT_TRUE(mail_->expunge(bob_, inbox.id).ok());
  auto ch = mail_->changes_since(bob_, inbox.id, inbox.highest_modseq);
  ASSERT_TRUE(ch.ok()) << ch.error().message;
  EXPECT_GT(ch->mailbox.highest_modseq, inbox.highest_modseq);
  ASSERT_EQ(ch->changed.size(), 1u);
  EXPECT_EQ(ch->changed[0].uid, 2u);
  EXPECT_EQ(ch->changed[0].flags, kSeen);
  EXPECT_EQ(ch->vanished, std::vector<Uid>{3});
  auto ref = mail_->changed_since(bob_, inbox.id, inbox.highest_modseq);
  ASSERT_TRUE(ref.ok());
  EXPECT_EQ(ref->size(), ch->changed.size());
  // The SELECT listing: what list() says of uid, flags, keywords and modseq.
  auto slim = mail_->list_flags(bob_, inbox.id);
  auto full = mail_->list(bob_, inbox.id);
  ASSERT_TRUE(slim.ok() && full.ok());
  ASSERT_EQ(slim->size(), 2u);
  ASSERT_EQ(slim->size(), full->size());
  for (size_t i = 0; i < slim->size(); ++i) {
    EXPECT_EQ((*slim)[i].uid, (*full)[i].uid);
    EXPECT_EQ((*slim)[i].flags, (*full)[i].flags);
    EXPECT_EQ((*slim)[i].keywords, (*full)[i].keywords);
    EXPECT_EQ((*slim)[i].modseq, (*full)[i].modseq);
  }
}

TEST_F(MailServiceTest, AppendIntoSentWithFlagsAndKeywords) {
  const Mailbox sent = mailbox(alice_, "Sent");
  EXPECT_EQ(sent.special_use, "\\Sent");
  const std::string raw = message("sent by alice");
  auto r = mail_->append(alice_, alice_.account_id, "Sent", raw, kSeen | kAnswered, {"$Forwarded"}, 1772445600);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->mailbox_id, sent.id);
  EXPECT_EQ(r->uidvalidity, sent.uidvalidity);
  EXPECT_EQ(r->uid, 1u);
  EXPECT_GT(r->modseq, sent.highest_modseq);
  EXPECT_EQ(notified(alice_), 1);

  auto e = entries(alice_, "Sent");
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0].flags, uint32_t{kSeen | kAnswered});
  EXPECT_EQ(e[0].keywords, std::vector<std::string>{"$Forwarded"});
  EXPECT_EQ(e[0].internal_date, 1772445600);
  EXPECT_EQ(e[0].summary.subject, "sent by alice");
  const Mailbox after = mailbox(alice_, "Sent");
  EXPECT_EQ(after.messages, 1u);
  EXPECT_EQ(after.unseen, 0u);
  EXPECT_EQ(after.uidnext, 2u);
  auto got = mail_->fetch(alice_, sent.id, 1);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, raw);
  EXPECT_TRUE(entries(alice_, "INBOX").empty());

  auto nowhere = mail_->append(alice_, alice_.account_id, "No such folder", raw);
  ASSERT_FALSE(nowhere.ok());
  EXPECT_EQ(nowhere.error().code, Errc::not_found);
}

TEST_F(MailServiceTest, CopyMoveExpungeAndTheFeed) {
  std::vector<std::string> raws;
  for (int i = 1; i <= 3; ++i) {
    raws.push_back(message("message " + std::to_string(i)));
    auto d = deliver({"bob@a.care.example"}, raws.back());
    ASSERT_TRUE(d.ok());
    ASSERT_EQ(d->recipients[0].uid, static_cast<Uid>(i));
  }
  for (auto& r : raws) r = as_seen_by("bob@a.care.example", r);  // from here on, as Bob sees them
  const uint64_t total = raws[0].size() + raws[1].size() + raws[2].size();
  EXPECT_EQ(notified(bob_), 3);
  const MailboxId inbox = mailbox(bob_, "INBOX").id;
  const Mailbox archive = mailbox(bob_, "Archive");
  const MailboxId trash = mailbox(bob_, "Trash").id;

  // Copy 1 and 3 into Archive: new uids there, counted again in the quota.
  const std::vector<Uid> copy_uids{1, 3};
  auto c = mail_->copy(bob_, inbox, copy_uids, archive.id);
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->dest_uidvalidity, archive.uidvalidity);
  EXPECT_EQ(c->uids, (std::vector<std::pair<Uid, Uid>>{{1, 1}, {3, 2}}));
  EXPECT_EQ(notified(bob_), 4);
  EXPECT_EQ(entries(bob_, "INBOX").size(), 3u);
  auto arch = entries(bob_, "Archive");
  ASSERT_EQ(arch.size(), 2u);
  EXPECT_EQ(arch[1].blob_id, crypto::sha256_hex(raws[2].substr(trace_of("bob@a.care.example").size())));
  EXPECT_EQ(arch[1].trace, trace_of("bob@a.care.example")) << "a copy keeps its Delivered-To";
  EXPECT_EQ(usage(bob_).messages, 5u);
  EXPECT_EQ(usage(bob_).bytes, total + raws[0].size() + raws[2].size());
  auto fetched = mail_->fetch(bob_, archive.id, 2);
  ASSERT_TRUE(fetched.ok());
  EXPECT_EQ(*fetched, raws[2]);

  // Move 2 into Trash: gone from INBOX, there in Trash.
  const std::vector<Uid> move_uids{2};
  auto m = mail_->move(bob_, inbox, move_uids, trash);
  ASSERT_TRUE(m.ok()) << m.error().message;
  EXPECT_EQ(m->uids, (std::vector<std::pair<Uid, Uid>>{{2, 1}}));
  EXPECT_EQ(notified(bob_), 5);
  auto in = entries(bob_, "INBOX");
  ASSERT_EQ(in.size(), 2u);
  EXPECT_EQ(in[0].uid, 1u);
  EXPECT_EQ(in[1].uid, 3u);
  EXPECT_EQ(entries(bob_, "Trash").size(), 1u);
  EXPECT_EQ(usage(bob_).messages, 5u);

  // Flag 1 and 3 \Deleted; expunge only uid 3 first, then the rest.
  const std::vector<Uid> del{1, 3};
  auto f = mail_->set_flags(bob_, inbox, del, FlagUpdate{FlagOp::add, kDeleted | kSeen});
  ASSERT_TRUE(f.ok());
  ASSERT_EQ(f->updated.size(), 2u);
  EXPECT_EQ(f->updated[0].flags, uint32_t{kDeleted | kSeen});
  EXPECT_EQ(notified(bob_), 6);
  auto x1 = mail_->expunge(bob_, inbox, std::vector<Uid>{3});
  ASSERT_TRUE(x1.ok());
  EXPECT_EQ(*x1, std::vector<Uid>{3});
  EXPECT_EQ(notified(bob_), 7);
  auto x2 = mail_->expunge(bob_, inbox);
  ASSERT_TRUE(x2.ok());
  EXPECT_EQ(*x2, std::vector<Uid>{1});
  EXPECT_EQ(notified(bob_), 8);
  EXPECT_TRUE(entries(bob_, "INBOX").empty());
  // Nothing left to expunge: no notification.
  auto x3 = mail_->expunge(bob_, inbox);
  ASSERT_TRUE(x3.ok());
  EXPECT_TRUE(x3->empty());
  EXPECT_EQ(notified(bob_), 8);
  EXPECT_EQ(usage(bob_).messages, 3u);  // 2 in Archive, 1 in Trash
  EXPECT_EQ(usage(bob_).bytes, raws[0].size() + raws[2].size() + raws[1].size());

  // The change log saw all of it, in order.
  auto changes = store_->changes_since(bob_.account_id, 0, 1000);
  ASSERT_TRUE(changes.ok());
  size_t added = 0, expunged = 0, flags = 0;
  for (const auto& ch : *changes) {
    added += ch.kind == ChangeKind::message_added;
    expunged += ch.kind == ChangeKind::message_expunged;
    flags += ch.kind == ChangeKind::flags_changed;
  }
  EXPECT_EQ(added, 6u);     // 3 delivered + 2 copied + 1 moved in
  EXPECT_EQ(expunged, 3u);  // 1 moved out + 2 expunged
  EXPECT_EQ(flags, 2u);
  EXPECT_EQ(notified(alice_), 0);
  EXPECT_EQ(notified(carol_), 0);
}

struct NameCase {
  const char* label;
  std::string name;
  bool ok;
};

TEST_F(MailServiceTest, MailboxNameValidation) {
  const NameCase cases[] = {
      {"empty", "", false},
      {"leading slash", "/a", false},
      {"trailing slash", "a/", false},
      {"empty level", "a//b", false},
      {"slash only", "/", false},
      {"control char", "a\x01z", false},
      {"tab", "a\tb", false},
      {"newline", "a\nb", false},
      {"DEL", "a\x7f", false},
      {"NUL", std::string("a\0b", 3), false},
      {"overlong NUL C0 80", "a\xc0\x80", false},
      {"overlong slash E0 80 AF", "a\xe0\x80\xaf", false},
      {"surrogate ED A0 80", "a\xed\xa0\x80", false},
      {"lone continuation", "a\x80", false},
      {"truncated sequence", "a\xc3", false},
      {"beyond U+10FFFF", "a\xf4\x90\x80\x80", false},
      {"F8 lead byte", "a\xf8\x88\x80\x80\x80", false},
      {"256 bytes", std::string(256, 'n'), false},
      {"255 bytes", std::string(255, 'n'), true},
      {"Projects/2026", "Projects/2026", true},
      {"Référés", "R\xc3\xa9" "f\xc3\xa9r\xc3\xa9s", true},
      {"emoji", "Mail \xf0\x9f\x93\xa7", true},
      {"deep", "a/b/c/d", true},
      {"spaces", "Old mail", true},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.label);
    Status s = MailService::validate_mailbox_name(c.name);
    EXPECT_EQ(s.ok(), c.ok) << (s.ok() ? "" : s.error().message);
    auto created = mail_->create_mailbox(alice_, alice_.account_id, c.name);
    ASSERT_EQ(created.ok(), c.ok) << (created.ok() ? "" : created.error().message);
    if (c.ok) {
      EXPECT_EQ(created->name, c.name);
      EXPECT_EQ(created->account_id, alice_.account_id);
    } else {
      EXPECT_EQ(created.error().code, Errc::invalid_argument);
      EXPECT_FALSE(store_->mailbox(alice_.account_id, c.name).ok());
    }
  }
  auto all = mail_->list_mailboxes(alice_, alice_.account_id);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 6u + 6u);  // the defaults and the six valid names

  // Rename validates the same way.
  const Mailbox p = mailbox(alice_, "Projects/2026");
  Status bad = mail_->rename_mailbox(alice_, p.id, "Projects//2027");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, Errc::invalid_argument);
  ASSERT_TRUE(mail_->rename_mailbox(alice_, p.id, "Projects/2027").ok());
  EXPECT_TRUE(store_->mailbox(alice_.account_id, "Projects/2027").ok());
}

TEST_F(MailServiceTest, InboxCannotBeDeletedOrRenamedOtherMailboxesCan) {
  const Mailbox inbox = mailbox(bob_, "INBOX");
  Status s = mail_->delete_mailbox(bob_, inbox.id);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, Errc::invalid_argument);
  Status r = mail_->rename_mailbox(bob_, inbox.id, "Old inbox");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::invalid_argument);
  EXPECT_TRUE(store_->mailbox_by_id(inbox.id).ok());
  EXPECT_EQ(notified(bob_), 0);

  // INBOX is case-insensitive: no second one under another spelling.
  auto dup = mail_->create_mailbox(bob_, bob_.account_id, "inbox");
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.error().code, Errc::already_exists);

  auto created = mail_->create_mailbox(bob_, bob_.account_id, "Temporary");
  ASSERT_TRUE(created.ok());
  EXPECT_EQ(notified(bob_), 1);
  Status to_inbox = mail_->rename_mailbox(bob_, created->id, "Inbox");
  ASSERT_FALSE(to_inbox.ok());
  EXPECT_EQ(to_inbox.error().code, Errc::already_exists);
  ASSERT_TRUE(mail_->delete_mailbox(bob_, created->id).ok());
  EXPECT_EQ(notified(bob_), 2);
  auto gone = store_->mailbox_by_id(created->id);
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.error().code, Errc::not_found);
}

TEST_F(MailServiceTest, QuotaIsVisibleToSelfAndAdministratorsInScope) {
  const std::string raw = message("counted");
  ASSERT_TRUE(deliver({"bob@a.care.example"}, raw).ok());
  auto expect_usage = [&](const Principal& by) {
    SCOPED_TRACE(by.address);
    auto q = mail_->quota(by, bob_.account_id);
    ASSERT_TRUE(q.ok()) << q.error().message;
    EXPECT_EQ(q->bytes, as_seen_by("bob@a.care.example", raw).size());
    EXPECT_EQ(q->messages, 1u);
    EXPECT_EQ(q->limit_bytes, cfg_.quota.default_mailbox_bytes);
  };
  const int64_t before = last_audit_id();
  expect_usage(bob_);
  expect_usage(admin_a_);   // local admin of Bob's organisation
  expect_usage(national_);  // national administrator
  expect_usage(Principal::service());
  EXPECT_TRUE(audit_after(before).empty());

  for (const Principal& by : {admin_b_, alice_}) {  // other organisation's admin; a plain colleague
    SCOPED_TRACE(by.address);
    const int64_t mark = last_audit_id();
    auto q = mail_->quota(by, bob_.account_id);
    ASSERT_FALSE(q.ok());
    EXPECT_EQ(q.error().code, Errc::permission_denied);
    auto ev = audit_after(mark);
    ASSERT_EQ(ev.size(), 1u);
    EXPECT_EQ(ev[0].action, "quota.read");
    EXPECT_EQ(ev[0].outcome, "denied");
    EXPECT_EQ(ev[0].actor, by.address);
    EXPECT_EQ(ev[0].target, "bob@a.care.example");
  }
}

TEST_F(MailServiceTest, ConcurrentDeliveriesAreAllCountedExactly) {
  constexpr int kThreads = 4, kEach = 10;
  std::vector<std::thread> ts;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t)
    ts.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        // Every other message is the same content: it shares one blob.
        std::string raw = message(i % 2 ? "shared" : "t" + std::to_string(t) + "-" + std::to_string(i));
        auto r = deliver({"bob@a.care.example", "carol@b.care.example"}, raw);
        if (!r.ok() || r->delivered() != 2) failures.fetch_add(1);
      }
    });
  for (auto& t : ts) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(entries(bob_, "INBOX").size(), size_t{kThreads * kEach});
  EXPECT_EQ(usage(carol_).messages, uint64_t{kThreads * kEach});
  EXPECT_EQ(notified(bob_), kThreads * kEach);
  auto check = store_->verify_quota();
  ASSERT_TRUE(check.ok());
  for (const auto& c : *check) EXPECT_EQ(c.counted.bytes, c.actual.bytes) << "account " << c.account_id;
}

}  // namespace
}  // namespace caremail

// Tests for SEARCH, SORT and THREAD: a small mailbox of real-looking messages (summaries made
// by mime::summarize), searched with keys parsed from the IMAP commands a client would send.
#include "imap/search.hpp"

#include "mime/mime.hpp"

#include <gtest/gtest.h>

#include <ctime>
#include <deque>
#include <string>
#include <vector>

namespace caremail::imap {
namespace {

using Kind = SearchKey::Kind;
using Crit = SearchArgs::SortCriterion;

std::string crlf(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '\n') out += "\r\n";
    else out.push_back(c);
  }
  return out;
}

UnixTime utc(int y, int mo, int d, int h = 0, int mi = 0, int s = 0) {
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = s;
  return timegm(&tm);
}

// The whole command as a client sends it; returns its parsed search (or sort/thread) args.
SearchArgs parse(const std::string& command) {
  std::vector<std::string> lits;
  ParseError err;
  auto c = parse_command("t " + command, lits, Limits{}, err);
  EXPECT_TRUE(c.has_value()) << command << ": " << err.text;
  return c ? c->search : SearchArgs{};
}

SearchKey key(const std::string& criteria) { return parse("SEARCH " + criteria).key; }

SearchKey string_key(Kind kind, std::string s, std::string s2 = {}) {
  SearchKey k;
  k.kind = kind;
  k.str = std::move(s);
  k.str2 = std::move(s2);
  return k;
}

// A mailbox: messages in sequence order, each with its raw text, and a count of how often
// SEARCH asked for the raw text.
class TestMailbox {
 public:
  // `trace`: the entry's own header lines (a delivered copy's Delivered-To), in front of the
  // stored message as MailService::fetch gives it; the summary is the stored message's.
  MailboxEntry& add(const std::string& raw, UnixTime internal_date, uint32_t flags = 0,
                    bool recent = false, const std::string& trace = "") {
    Item& it = items_.emplace_back();
    const std::string stored = crlf(raw);
    it.raw = trace + stored;
    it.recent = recent;
    auto s = mime::summarize(stored);
    EXPECT_TRUE(s.ok());
    if (s) it.entry.summary = std::move(*s);
    it.entry.trace = trace;
    it.entry.uid = static_cast<Uid>(items_.size() * 10);  // uids 10, 20, 30...
    it.entry.size = it.raw.size();
    it.entry.internal_date = internal_date;
    it.entry.flags = flags;
    it.entry.modseq = items_.size();
    return it.entry;
  }

  // By hand, without a raw message (sort and thread tests).
  MailboxEntry& add_summary(MessageSummary summary, UnixTime internal_date = 0) {
    Item& it = items_.emplace_back();
    it.entry.summary = std::move(summary);
    it.entry.uid = static_cast<Uid>(items_.size() * 10);
    it.entry.internal_date = internal_date;
    return it.entry;
  }

  std::vector<SearchMessage> messages() {
    std::vector<SearchMessage> out;
    for (size_t i = 0; i < items_.size(); ++i) {
      Item* it = &items_[i];
      out.push_back(SearchMessage{static_cast<uint32_t>(i + 1), &it->entry, it->recent,
                                  [it]() -> std::string_view {
                                    ++it->raw_calls;
                                    return it->raw;
                                  }});
    }
    return out;
  }

  SearchContext context() const {
    SearchContext ctx;
    ctx.max_seq = static_cast<uint32_t>(items_.size());
    ctx.max_uid = items_.empty() ? 0 : items_.back().entry.uid;
    ctx.now = utc(2024, 3, 10, 12);
    return ctx;
  }

  // Sequence numbers of the messages matching `k`, as "1 3 4".
  std::string search(const SearchKey& k, const SearchContext& ctx) {
    std::string out;
    for (const SearchMessage& m : messages()) {
      if (!matches(k, m, ctx)) continue;
      if (!out.empty()) out += ' ';
      out += std::to_string(m.seq);
    }
    return out;
  }
  std::string search(const std::string& criteria) { return search(key(criteria), context()); }
  std::string search(const SearchKey& k) { return search(k, context()); }

  int raw_calls(size_t seq) const { return items_[seq - 1].raw_calls; }
  void reset_calls() {
    for (Item& it : items_) it.raw_calls = 0;
  }

 private:
  struct Item {
    std::string raw;
    MailboxEntry entry;
    bool recent = false;
    int raw_calls = 0;
  };
  std::deque<Item> items_;  // stable addresses: messages() hands out pointers
};

// ---- SEARCH ---------------------------------------------------------------------------

class SearchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // 1: plain, seen+answered, recent; sent late on 5 March in New York (6 March UTC).
    box_.add("From: \"Doe, Jane\" <jane@example.org>\n"
             "To: Bob <bob@example.org>, team@example.org\n"
             "Cc: carol@example.net\n"
             "Bcc: secret-watcher@example.com\n"
             "Subject: Quarterly report\n"
             "Date: Tue, 5 Mar 2024 23:30:00 -0500\n"
             "Message-ID: <q1@example.org>\n"
             "X-Mailer: Caremail Test\n"
             "\n"
             "Please find the figures below.\n",
             utc(2024, 3, 5, 23, 59, 59), kSeen | kAnswered, true);
    // 2: encoded headers, QP latin-1 body, flagged, keyword; internal date 7 March.
    MailboxEntry& e2 =
        box_.add("From: =?utf-8?q?J=C3=BCrgen_M=C3=BCller?= <jm@example.de>\n"
                 "To: jane@example.org\n"
                 "Subject: =?iso-8859-1?q?=DCber_den_Wolken?=\n"
                 "Date: Thu, 7 Mar 2024 09:00:00 +0100\n"
                 "Content-Type: text/plain; charset=iso-8859-1\n"
                 "Content-Transfer-Encoding: quoted-printable\n"
                 "\n"
                 "Gr=FC=DFe aus K=F6ln, mit Stra=DFenbahn.\n",
                 utc(2024, 3, 7, 8, 0, 0), kFlagged, true);
    e2.keywords = {"$Forwarded", "Work"};
    // 3: multipart with base64 HTML, deleted+draft, no Date header.
    box_.add("From: newsletter@shop.example\n"
             "To: jane@example.org\n"
             "Subject: Re: [shop] Spring sale\n"
             "MIME-Version: 1.0\n"
             "Content-Type: multipart/alternative; boundary=\"XX\"\n"
             "\n"
             "--XX\n"
             "Content-Type: text/html; charset=utf-8\n"
             "Content-Transfer-Encoding: base64\n"
             "\n"
             "PHA+U2F2ZSAmYW1wOyBzcGVuZDwvcD4=\n"  // <p>Save &amp; spend</p>
             "--XX--\n",
             utc(2024, 3, 9, 0, 0, 0), kDeleted | kDraft);
  }

  TestMailbox box_;
};

TEST_F(SearchTest, SystemFlagsAndRecent) {
  EXPECT_EQ(box_.search("ALL"), "1 2 3");
  EXPECT_EQ(box_.search("SEEN"), "1");
  EXPECT_EQ(box_.search("UNSEEN"), "2 3");
  EXPECT_EQ(box_.search("ANSWERED"), "1");
  EXPECT_EQ(box_.search("UNANSWERED"), "2 3");
  EXPECT_EQ(box_.search("FLAGGED"), "2");
  EXPECT_EQ(box_.search("UNFLAGGED"), "1 3");
  EXPECT_EQ(box_.search("DELETED"), "3");
  EXPECT_EQ(box_.search("UNDELETED"), "1 2");
  EXPECT_EQ(box_.search("DRAFT"), "3");
  EXPECT_EQ(box_.search("UNDRAFT"), "1 2");
  EXPECT_EQ(box_.search("RECENT"), "1 2");
  EXPECT_EQ(box_.search("NEW"), "2");  // recent and unseen
  EXPECT_EQ(box_.search("OLD"), "3");
}

TEST_F(SearchTest, KeywordsCaseInsensitive) {
  EXPECT_EQ(box_.search("KEYWORD $Forwarded"), "2");
  EXPECT_EQ(box_.search("KEYWORD work"), "2");
  EXPECT_EQ(box_.search("KEYWORD $Junk"), "");
  EXPECT_EQ(box_.search("UNKEYWORD $forwarded"), "1 3");
}

TEST_F(SearchTest, InternalDateInUtcDays) {
  EXPECT_EQ(box_.search("ON 5-Mar-2024"), "1");  // 23:59:59 UTC is still the 5th
  EXPECT_EQ(box_.search("BEFORE 6-Mar-2024"), "1");
  EXPECT_EQ(box_.search("SINCE 6-Mar-2024"), "2 3");
  EXPECT_EQ(box_.search("SINCE 7-Mar-2024 BEFORE 9-Mar-2024"), "2");
  EXPECT_EQ(box_.search("BEFORE 1-Jan-2000"), "");
  EXPECT_EQ(box_.search("SAVEDATESUPPORTED"), "1 2 3");
  EXPECT_EQ(box_.search("SAVEDBEFORE 7-Mar-2024"), "1");
  EXPECT_EQ(box_.search("SAVEDON 9-Mar-2024"), "3");
  EXPECT_EQ(box_.search("SAVEDSINCE 7-Mar-2024"), "2 3");
}

TEST_F(SearchTest, SentDatesUseTheDateHeaderAsWritten) {
  // Message 1 says 5 March (-0500), though that is 6 March in UTC.
  EXPECT_EQ(box_.search("SENTON 5-Mar-2024"), "1");
  EXPECT_EQ(box_.search("SENTBEFORE 6-Mar-2024"), "1");
  EXPECT_EQ(box_.search("SENTON 7-Mar-2024"), "2");
  // Message 3 has no Date header: its internal date (9 March) stands in.
  EXPECT_EQ(box_.search("SENTSINCE 8-Mar-2024"), "3");
  EXPECT_EQ(box_.search("SENTSINCE 6-Mar-2024"), "2 3");
}

TEST_F(SearchTest, OlderYoungerAgainstNow) {
  // now is 10 March 12:00 UTC; message 3 arrived 9 March 00:00 (36 hours before).
  EXPECT_EQ(box_.search("YOUNGER 129600"), "3");
  EXPECT_EQ(box_.search("YOUNGER 129599"), "");
  EXPECT_EQ(box_.search("OLDER 129600"), "1 2 3");
  EXPECT_EQ(box_.search("OLDER 129601"), "1 2");
}

TEST_F(SearchTest, SizesAndModseq) {
  auto sizes = box_.messages();
  uint64_t s2 = sizes[1].entry->size;
  EXPECT_EQ(box_.search("LARGER " + std::to_string(s2 - 1)).find('2') != std::string::npos, true);
  EXPECT_EQ(box_.search("LARGER " + std::to_string(s2)).find('2'), std::string::npos);
  EXPECT_EQ(box_.search("SMALLER " + std::to_string(s2 + 1)).find('2') != std::string::npos, true);
  EXPECT_EQ(box_.search("SMALLER " + std::to_string(s2)).find('2'), std::string::npos);
  EXPECT_EQ(box_.search("SMALLER 1"), "");
  EXPECT_EQ(box_.search("MODSEQ 2"), "2 3");
  EXPECT_EQ(box_.search("MODSEQ \"/flags/\\\\draft\" all 3"), "3");
}

TEST_F(SearchTest, SequenceAndUidSets) {
  EXPECT_EQ(box_.search("2:*"), "2 3");
  EXPECT_EQ(box_.search("*:2"), "2 3");  // either order
  EXPECT_EQ(box_.search("3:1"), "1 2 3");
  EXPECT_EQ(box_.search("*"), "3");
  EXPECT_EQ(box_.search("1,3"), "1 3");
  EXPECT_EQ(box_.search("UID 10,30"), "1 3");
  EXPECT_EQ(box_.search("UID 25:15"), "2");
  EXPECT_EQ(box_.search("UID *"), "3");
  EXPECT_EQ(box_.search("UID 100:*"), "3");  // RFC 9051: "100:*" holds the highest uid
  EXPECT_EQ(box_.search("UID 31:99"), "");
  // "$": the saved result (uids), both as a sequence set and as a UID set.
  SearchContext ctx = box_.context();
  std::vector<Uid> saved{10, 30};
  ctx.saved = saved;
  EXPECT_EQ(box_.search(key("$"), ctx), "1 3");
  EXPECT_EQ(box_.search(key("UID $"), ctx), "1 3");
  EXPECT_EQ(box_.search(key("NOT $"), ctx), "2");
}

TEST_F(SearchTest, BooleanCombinations) {
  EXPECT_EQ(box_.search("OR SEEN FLAGGED"), "1 2");
  EXPECT_EQ(box_.search("NOT SEEN"), "2 3");
  EXPECT_EQ(box_.search("NOT NOT SEEN"), "1");
  EXPECT_EQ(box_.search("(OR SEEN DELETED) UNDRAFT"), "1");
  EXPECT_EQ(box_.search("OR (SEEN ANSWERED) (DELETED DRAFT)"), "1 3");
  EXPECT_EQ(box_.search("OR OR SEEN FLAGGED DELETED"), "1 2 3");
  EXPECT_EQ(box_.search("SEEN FLAGGED"), "");
}

TEST_F(SearchTest, AddressAndSubjectFieldsAreDecoded) {
  EXPECT_EQ(box_.search("FROM jane"), "1");
  EXPECT_EQ(box_.search("FROM \"doe, jane\""), "1");
  EXPECT_EQ(box_.search("FROM EXAMPLE.DE"), "2");
  EXPECT_EQ(box_.search(string_key(Kind::from, "J\xC3\x9CRGEN")), "2");  // Ü folds to ü
  EXPECT_EQ(box_.search("TO jane@example.org"), "2 3");
  EXPECT_EQ(box_.search("TO team"), "1");
  EXPECT_EQ(box_.search("CC carol"), "1");
  EXPECT_EQ(box_.search("CC jane"), "");
  EXPECT_EQ(box_.search("SUBJECT report"), "1");
  EXPECT_EQ(box_.search(string_key(Kind::subject, "\xC3\xBC" "ber den")), "2");  // "über den"
  EXPECT_EQ(box_.search("SUBJECT \"\""), "1 2 3");
}

TEST_F(SearchTest, BccAndHeaderReadTheRawMessage) {
  EXPECT_EQ(box_.search("BCC secret-watcher"), "1");
  EXPECT_EQ(box_.search("HEADER X-Mailer caremail"), "1");
  EXPECT_EQ(box_.search("HEADER x-mailer \"\""), "1");  // present at all
  EXPECT_EQ(box_.search("HEADER Message-ID \"\""), "1");
  EXPECT_EQ(box_.search("HEADER Content-Transfer-Encoding quoted"), "2");
  EXPECT_EQ(box_.search("HEADER Subject wolken"), "2");  // RFC 2047 decoded
  EXPECT_EQ(box_.search("HEADER X-None \"\""), "");
}

TEST_F(SearchTest, BodyAndTextUseTheDecodedText) {
  EXPECT_EQ(box_.search("BODY figures"), "1");
  EXPECT_EQ(box_.search(string_key(Kind::body, "K\xC3\xB6ln")), "2");  // QP + Latin-1
  EXPECT_EQ(box_.search(string_key(Kind::body, "STRASSENBAHN")), "");   // no ß expansion
  EXPECT_EQ(box_.search("BODY \"save & spend\""), "3");  // base64 HTML, entity decoded
  EXPECT_EQ(box_.search("BODY amp"), "");
  EXPECT_EQ(box_.search("BODY quarterly"), "");  // only in the Subject header
  EXPECT_EQ(box_.search("TEXT quarterly"), "1");
  EXPECT_EQ(box_.search("TEXT figures"), "1");
  EXPECT_EQ(box_.search("TEXT \"X-Mailer: Caremail\""), "1");
  EXPECT_EQ(box_.search("TEXT wolken"), "2");
}

// A delivered copy is its Delivered-To + the stored message: the trace is a header like
// any other (HEADER, TEXT, LARGER count it), and the body is found at the stored message's
// offsets moved past it.
TEST(SearchTrace, DeliveredToIsAHeaderAndTheBodyIsStillFound) {
  const std::string multipart =
      "From: newsletter@shop.example\n"
      "Subject: Spring sale\n"
      "MIME-Version: 1.0\n"
      "Content-Type: multipart/alternative; boundary=\"XX\"\n"
      "\n"
      "--XX\n"
      "Content-Type: text/html; charset=utf-8\n"
      "Content-Transfer-Encoding: base64\n"
      "\n"
      "PHA+U2F2ZSAmYW1wOyBzcGVuZDwvcD4=\n"  // <p>Save &amp; spend</p>
      "--XX--\n";
  TestMailbox box;
  box.add(multipart, utc(2024, 3, 9), 0, false, "Delivered-To: jo@example.org\r\n");
  box.add(multipart, utc(2024, 3, 9), 0, false, "Delivered-To: Ward7@example.org\r\n");
  box.add(multipart, utc(2024, 3, 9));  // APPENDed: no trace
  EXPECT_EQ(box.search("HEADER Delivered-To jo@example.org"), "1");
  EXPECT_EQ(box.search("HEADER delivered-to ward7"), "2");
  EXPECT_EQ(box.search("HEADER Delivered-To \"\""), "1 2");
  EXPECT_EQ(box.search("TEXT jo@example.org"), "1");
  EXPECT_EQ(box.search("BODY \"save & spend\""), "1 2 3");
  EXPECT_EQ(box.search("BODY jo@example.org"), "");
  EXPECT_EQ(box.search("LARGER " + std::to_string(crlf(multipart).size())), "1 2");
}

TEST_F(SearchTest, RawFetchedOnlyWhenNeededAndOnce) {
  box_.reset_calls();
  box_.search("FROM jane SUBJECT x SEEN 1:* UID 1:*");
  EXPECT_EQ(box_.raw_calls(1) + box_.raw_calls(2) + box_.raw_calls(3), 0);
  // Four raw-based keys on an AND that all have to be evaluated: one fetch per message.
  box_.search("OR BODY nothing TEXT nothing OR BCC nothing HEADER X-None \"\"");
  EXPECT_EQ(box_.raw_calls(1), 1);
  EXPECT_EQ(box_.raw_calls(2), 1);
  EXPECT_EQ(box_.raw_calls(3), 1);
}

// Issue 14 finding 7: a sequence set is resolved once into sorted, merged ranges and then
// tested with a binary search, not walked range by range for every message.
TEST(SearchSets, ResolvedSetsMergeAndAgree) {
  TestMailbox box;
  for (int i = 0; i < 40; ++i) box.add("Subject: m\n\nx\n", utc(2024, 1, 1));
  std::vector<std::string> criteria = {"1:*",         "*:38",       "4,2,9:7,*", "40:50",
                                       "UID 15:*",    "UID *",      "UID 10:35,100:2000,1",
                                       "NOT 3:5,20",  "OR 1:2 UID 390:400", "(5:1 UID 20:10)"};
  SearchContext ctx = box.context();
  for (const std::string& c : criteria) {
    SCOPED_TRACE(c);
    SearchKey k = key(c);
    std::string before = box.search(k, ctx);
    resolve_sets(k, ctx.max_seq, ctx.max_uid);
    EXPECT_EQ(box.search(k, ctx), before);
  }
  // 10,000 copies of "1:*" become one range.
  std::string many = "1:*";
  for (int i = 1; i < 10000; ++i) many += ",1:*";
  SearchKey k = key(many);
  ASSERT_EQ(k.children.at(0).set.ranges.size(), 10000u);
  resolve_sets(k, ctx.max_seq, ctx.max_uid);
  ASSERT_EQ(k.children.at(0).set.ranges.size(), 1u);
  EXPECT_EQ(k.children.at(0).set.ranges[0], (SeqRange{1, 40}));
  EXPECT_TRUE(k.children.at(0).set.resolved);
  // "1:3,4:6" touch: merged too. "$" is left alone.
  SearchKey touching = key("1:3,4:6");
  resolve_sets(touching, 40, 400);
  EXPECT_EQ(touching.children.at(0).set.ranges.size(), 1u);
  SearchKey saved = key("$");
  resolve_sets(saved, 40, 400);
  EXPECT_FALSE(saved.children.at(0).set.resolved);
}

TEST(SearchNeedsRaw, OnlyForBccHeaderBodyText) {
  EXPECT_FALSE(needs_raw(key("ALL")));
  EXPECT_FALSE(needs_raw(key("FROM a TO b CC c SUBJECT d SINCE 1-Jan-2020 UID 1:* KEYWORD x")));
  EXPECT_TRUE(needs_raw(key("BCC a")));
  EXPECT_TRUE(needs_raw(key("HEADER X-Y z")));
  EXPECT_TRUE(needs_raw(key("BODY a")));
  EXPECT_TRUE(needs_raw(key("SEEN NOT (FLAGGED OR DRAFT TEXT a)")));
}

TEST(SearchEdge, MissingRawAndMissingEntry) {
  MailboxEntry e;
  e.summary.subject = "hello";
  SearchMessage m{1, &e, false, {}};  // no raw callback
  SearchContext ctx;
  EXPECT_TRUE(matches(key("SUBJECT hell"), m, ctx));
  EXPECT_FALSE(matches(key("BODY hell"), m, ctx));
  SearchMessage nothing{1, nullptr, false, {}};
  EXPECT_FALSE(matches(key("ALL"), nothing, ctx));
}

// ---- SORT -----------------------------------------------------------------------------

MessageSummary summary(std::string subject, std::string from, std::string to = {},
                       UnixTime sent_at = 0, std::string cc = {}) {
  MessageSummary s;
  s.subject = std::move(subject);
  s.from = std::move(from);
  s.to = std::move(to);
  s.cc = std::move(cc);
  s.sent_at = sent_at;
  return s;
}

std::string sorted(const std::string& criteria, std::span<const SearchMessage> msgs) {
  SearchArgs args = parse("SORT (" + criteria + ") UTF-8 ALL");
  std::string out;
  for (size_t i : sort_messages(args.sort, msgs)) {
    if (!out.empty()) out += ' ';
    out += std::to_string(msgs[i].seq);
  }
  return out;
}

class SortTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // seq 1..5
    box_.add_summary(summary("Re: Budget", "\"Zeta, Anna\" <anna@example.org>",
                             "Bob <Bob@example.org>", utc(2024, 1, 3), "x@example.org"),
                     utc(2024, 1, 5))
        .size = 300;
    box_.add_summary(summary("budget", "carl@example.org", "alice@example.org",
                             utc(2024, 1, 1)),
                     utc(2024, 1, 4))
        .size = 100;
    box_.add_summary(summary("[list] Fwd: Agenda", "Bert <BERT@example.org>",
                             "team: zed@example.org, amy@example.org;", 0),
                     utc(2024, 1, 2))
        .size = 200;
    box_.add_summary(summary("Agenda (fwd)", "", "", utc(2024, 1, 1)), utc(2024, 1, 1))
        .size = 100;
    box_.add_summary(summary("Zoo", "anna@example.org", "Bob <bob@example.org>",
                             utc(2024, 1, 3)),
                     utc(2024, 1, 3))
        .size = 300;
    msgs_ = box_.messages();
  }
  TestMailbox box_;
  std::vector<SearchMessage> msgs_;
};

TEST_F(SortTest, SingleCriteria) {
  EXPECT_EQ(sorted("ARRIVAL", msgs_), "4 3 5 2 1");
  EXPECT_EQ(sorted("REVERSE ARRIVAL", msgs_), "1 2 5 3 4");
  // DATE: message 3 has no Date, so its internal date (2 January) is used.
  EXPECT_EQ(sorted("DATE", msgs_), "2 4 3 1 5");
  EXPECT_EQ(sorted("SIZE", msgs_), "2 4 3 1 5");
  EXPECT_EQ(sorted("REVERSE SIZE", msgs_), "1 5 3 2 4");  // ties stay in mailbox order
  EXPECT_EQ(sorted("SUBJECT", msgs_), "3 4 1 2 5");        // agenda, budget, zoo
  // FROM: addr-mailbox of the first address, lower case; "" (no From) first.
  EXPECT_EQ(sorted("FROM", msgs_), "4 1 5 3 2");  // "", anna, anna, bert, carl
  EXPECT_EQ(sorted("TO", msgs_), "4 2 1 5 3");    // "", alice, bob, bob, team (a group: its name)
  EXPECT_EQ(sorted("CC", msgs_), "2 3 4 5 1");
  // DISPLAYFROM: display name, else the address.
  EXPECT_EQ(sorted("DISPLAYFROM", msgs_), "4 5 3 2 1");  // "", anna@, bert, carl@, zeta
  EXPECT_EQ(sorted("DISPLAYTO", msgs_), "4 2 1 5 3");    // "", alice@, bob, bob, team
}

TEST_F(SortTest, SeveralCriteria) {
  EXPECT_EQ(sorted("SUBJECT REVERSE DATE", msgs_), "3 4 1 2 5");
  EXPECT_EQ(sorted("SIZE REVERSE ARRIVAL", msgs_), "2 4 3 1 5");
  EXPECT_EQ(sorted("FROM DATE", msgs_), "4 1 5 3 2");
  EXPECT_EQ(sorted("FROM REVERSE DATE", msgs_), "4 1 5 3 2");
  EXPECT_EQ(sorted("REVERSE FROM ARRIVAL", msgs_), "2 3 5 1 4");
}

// RFC 5256 compares with i;ascii-casemap, which maps to upper case: "[" (0x5B) and "_"
// (0x5F) come after "C" (0x43), not before "a" as with a lower-case fold (imaptest's
// sort-subject; Dovecot agrees).
TEST(SortCaseMap, SubjectsCompareUpperCased) {
  TestMailbox box;
  for (const char* subject : {"a", "C", "b", "_", "[xyz]", "", "Re: [FWD: c]", "b (a)"})
    box.add_summary(summary(subject, "x@y"), 5);
  auto msgs = box.messages();
  EXPECT_EQ(sorted("SUBJECT", msgs), "6 1 3 8 2 7 5 4");
  EXPECT_EQ(sorted("REVERSE SUBJECT", msgs), "4 5 2 7 8 3 1 6");
}

// A group first in the list: its start marker is the first address of IMAP's address
// structure, so the group's name is the addr-mailbox (FROM/TO/CC) and the display name
// (DISPLAYFROM/DISPLAYTO) — imaptest's sort-addresses and sort-display-to, as Dovecot.
TEST(SortCaseMap, GroupSortsByItsName) {
  TestMailbox box;
  box.add_summary(summary("s", "x@y", "a: xx@xx.org, yy@yy.org;", 0, "user2@domain2.org (foo bar)"), 5);
  box.add_summary(summary("s", "x@y", "b@c.d", 0, "user2: blah@domain1.org;"), 5);
  box.add_summary(summary("s", "x@y", "empty:;", 0, "user1@domain1.org"), 5);
  box.add_summary(summary("s", "x@y", "foo bar <a@b.c>", 0, "zz@x"), 5);
  auto msgs = box.messages();
  EXPECT_EQ(sorted("CC", msgs), "3 1 2 4");  // user1, user2, user2 (group), zz
  EXPECT_EQ(sorted("REVERSE CC", msgs), "4 1 2 3");
  EXPECT_EQ(sorted("DISPLAYTO", msgs), "1 2 3 4");  // a, b@c.d, empty, foo bar
  EXPECT_EQ(sorted("TO", msgs), "1 4 2 3");         // a, a (a@b.c), b, empty
}

TEST(SortEdge, EmptyAndUnsortedInput) {
  std::vector<SearchMessage> none;
  EXPECT_TRUE(sort_messages({}, none).empty());
  TestMailbox box;
  box.add_summary(summary("b", "x@y"), 5);
  box.add_summary(summary("a", "x@y"), 5);
  auto msgs = box.messages();
  std::swap(msgs[0], msgs[1]);  // the caller's order need not be mailbox order
  std::vector<Crit> arrival{Crit{Crit::Key::arrival, false}};
  auto order = sort_messages(arrival, msgs);
  ASSERT_EQ(order.size(), 2u);
  EXPECT_EQ(msgs[order[0]].seq, 1u);
  EXPECT_EQ(msgs[order[1]].seq, 2u);
}

struct SubjectCase {
  const char* subject;
  const char* base;
};

TEST(SortBaseSubject, Rfc5256Rules) {
  const SubjectCase cases[] = {
      {"hello", "hello"},
      {"Re: hello", "hello"},
      {"RE:  Re:re: hello", "hello"},
      {"Re : hello", "hello"},
      {"Fwd: hello", "hello"},
      {"FW: hello", "hello"},
      {"Re[2]: hello", "hello"},
      {"Re: [list] hello", "hello"},
      {"[list] Re: hello", "hello"},
      {"[PATCH] Fwd: [list] Re: x", "x"},
      {"[only blob]", "[only blob]"},
      {"[a][b]", "[b]"},
      {"hello (fwd)", "hello"},
      {"hello (FWD) (fwd)  ", "hello"},
      {"RE: [fwd: Re: hello] (fwd)", "hello"},
      {"[Fwd: [Fwd: hi]]", "hi"},
      {"Fwd: Re: [fwd: hi]", "hi"},
      {"  spaced \t  out\r\n folded  ", "spaced out folded"},
      {"Reply all", "Reply all"},
      {"Re:", ""},
      {"Re: (fwd)", ""},
      {"", ""},
      {"Re: \xC3\x9C" "ber", "\xC3\x9C" "ber"},
      {"Ré: x", "Ré: x"},
  };
  for (const auto& c : cases) EXPECT_EQ(base_subject(c.subject), c.base) << c.subject;
}

// ---- THREAD ---------------------------------------------------------------------------

MessageSummary msg(std::string id, std::string subject, UnixTime sent, std::string refs = {},
                   std::string in_reply_to = {}) {
  MessageSummary s;
  s.message_id = std::move(id);
  s.subject = std::move(subject);
  s.sent_at = sent;
  s.references = std::move(refs);
  s.in_reply_to = std::move(in_reply_to);
  return s;
}

TEST(ThreadReferences, LinksPrunesAndGroups) {
  TestMailbox box;
  box.add_summary(msg("a@x", "Meeting", 100));
  box.add_summary(msg("b@x", "Re: Meeting", 200, "<a@x>"));
  box.add_summary(msg("c@x", "Re: Meeting", 300, "<a@x>\r\n <b@x>"));
  box.add_summary(msg("d@x", "Re: Meeting", 250, "", "<a@x> (Jane's message)"));
  box.add_summary(msg("e@x", "Lunch", 400));
  box.add_summary(msg("f@x", "Re: Lunch", 500, "<gone@x>"));  // parent never arrived
  box.add_summary(msg("g@x", "Other", 50, "<root@x>"));       // two replies to a missing
  box.add_summary(msg("h@x", "Other thing", 60, "<root@x>"));  // root: a dummy remains
  auto msgs = box.messages();
  EXPECT_EQ(thread_messages("REFERENCES", msgs, false), "((7)(8))(1 (2 3)(4))(5 6)");
  EXPECT_EQ(thread_messages("references", msgs, true), "((70)(80))(10 (20 30)(40))(50 60)");
}

TEST(ThreadReferences, Rfc5256Example) {
  // The shape of RFC 5256's example "(2)(3 6 (4 23)(44 7 96))", numbers as in the RFC.
  TestMailbox box;
  std::vector<std::pair<uint32_t, MessageSummary>> list = {
      {2, msg("m2", "Two", 10)},
      {3, msg("m3", "Three", 20)},
      {6, msg("m6", "Re: Three", 30, "<m3>")},
      {4, msg("m4", "Re: Three", 40, "<m3> <m6>")},
      {23, msg("m23", "Re: Three", 50, "<m3> <m6> <m4>")},
      {44, msg("m44", "Re: Three", 60, "<m3> <m6>")},
      {7, msg("m7", "Re: Three", 70, "<m44>")},
      {96, msg("m96", "Re: Three", 80, "<m3> <m6> <m44> <m7>")},
  };
  for (auto& [seq, s] : list) box.add_summary(s);
  auto msgs = box.messages();
  for (size_t i = 0; i < list.size(); ++i) msgs[i].seq = list[i].first;
  EXPECT_EQ(thread_messages("REFERENCES", msgs, false), "(2)(3 6 (4 23)(44 7 96))");
}

TEST(ThreadReferences, SubjectGroupingRules) {
  TestMailbox box;
  box.add_summary(msg("1", "Party", 10));
  box.add_summary(msg("2", "Party", 20));         // same subject, not a reply: siblings
  box.add_summary(msg("3", "Re: Trip", 30));      // a reply before the original...
  box.add_summary(msg("4", "Trip", 40));          // ...becomes its child
  box.add_summary(msg("5", "Re: Cake", 50));
  box.add_summary(msg("6", "Fwd: Cake", 60));     // both replies: siblings
  box.add_summary(msg("7", "", 70));              // empty subjects are never grouped
  box.add_summary(msg("8", "Re:", 80));
  auto msgs = box.messages();
  EXPECT_EQ(thread_messages("REFERENCES", msgs, false), "((1)(2))(4 3)((5)(6))(7)(8)");
}

TEST(ThreadReferences, DuplicatesLoopsAndMissingIds) {
  TestMailbox box;
  box.add_summary(msg("x", "A", 10, "<y>"));   // x says y is its parent
  box.add_summary(msg("y", "B", 20, "<x>"));   // and y says x: the loop is refused
  box.add_summary(msg("x", "C", 30));          // duplicate Message-ID: a thread of its own
  box.add_summary(msg("", "D", 40, "<x>"));    // no Message-ID of its own
  box.add_summary(msg("z", "E", 50, "<z>"));   // references itself
  auto msgs = box.messages();
  EXPECT_EQ(thread_messages("REFERENCES", msgs, false), "(2 1 4)(3)(5)");
}

TEST(ThreadReferences, DeepChainDoesNotRecurse) {
  TestMailbox box;
  const int n = 20000;
  for (int i = 1; i <= n; ++i)
    box.add_summary(msg("m" + std::to_string(i), "Re: chain", i,
                        i > 1 ? "<m" + std::to_string(i - 1) + ">" : ""));
  auto msgs = box.messages();
  std::string t = thread_messages("REFERENCES", msgs, false);
  EXPECT_EQ(t.substr(0, 9), "(1 2 3 4 ");
  EXPECT_EQ(t.substr(t.size() - 7), " 20000)");
  EXPECT_EQ(std::count(t.begin(), t.end(), '('), 1);
}

TEST(ThreadReferences, DatesFallBackToInternalDate) {
  TestMailbox box;
  box.add_summary(msg("a", "One", 0), 300);   // no Date header: arrived at 300
  box.add_summary(msg("b", "Two", 200), 100);
  auto msgs = box.messages();
  EXPECT_EQ(thread_messages("REFERENCES", msgs, false), "(2)(1)");
}

TEST(ThreadOrderedSubject, GroupsBySubjectThenDate) {
  TestMailbox box;
  box.add_summary(msg("", "Re: Lunch", 30));
  box.add_summary(msg("", "Budget", 20));
  box.add_summary(msg("", "lunch", 10));
  box.add_summary(msg("", "Fwd: LUNCH", 40));
  box.add_summary(msg("", "Re: budget", 50));
  box.add_summary(msg("", "Zoo", 5));
  auto msgs = box.messages();
  EXPECT_EQ(thread_messages("ORDEREDSUBJECT", msgs, false), "(6)(3 (1)(4))(2 5)");
  EXPECT_EQ(thread_messages("ORDEREDSUBJECT", msgs, true), "(60)(30 (10)(40))(20 50)");
  EXPECT_EQ(thread_messages("BOGUS", msgs, false), "");
  std::vector<SearchMessage> none;
  EXPECT_EQ(thread_messages("ORDEREDSUBJECT", none, false), "");
  EXPECT_EQ(thread_messages("REFERENCES", none, false), "");
}

}  // namespace
}  // namespace caremail::imap

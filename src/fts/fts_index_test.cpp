#include "fts/fts_index.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "temp_dir.hpp"

namespace caremail {
namespace {

std::string msg(std::string subject, std::string body, std::string extra = "") {
  return "From: Dr Jane Doe <jane@practice.nhs.uk>\r\nTo: ward@hospital.nhs.uk\r\nSubject: " + subject + "\r\n" + extra +
         "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + body + "\r\n";
}

struct Fixture {
  testing::TempDir dir;
  std::map<std::string, std::string> blobs;
  std::unique_ptr<FullTextIndex> fts;
  Fixture() {
    fts = std::make_unique<FullTextIndex>(dir.path() / "fts", [this](const std::string& id) -> Result<std::string> {
      auto it = blobs.find(id);
      if (it == blobs.end()) return make_error(Errc::not_found, "no blob");
      return it->second;
    });
  }
  void add(AccountId a, std::string id, std::string raw) {
    blobs[id] = std::move(raw);
    fts->enqueue(a, id);
  }
};

TEST(FullTextIndex, WordsAreLowerCaseUnicodeWords) {
  EXPECT_EQ(FullTextIndex::words("Discharge-letter, Müller's 2026!"),
            (std::vector<std::string>{"discharge", "letter", "müller", "s", "2026"}));
  EXPECT_TRUE(FullTextIndex::words(" ,;- ").empty());
}

TEST(FullTextIndex, FindsBodyWordsAndPrefixesPerAccount) {
  Fixture f;
  f.add(1, "b1", msg("Referral", "Please see the attached discharge summary for Mr Smith."));
  f.add(1, "b2", msg("Lunch", "Sandwiches in the seminar room."));
  f.add(2, "b3", msg("Referral", "Discharge planning meeting."));
  f.fts->drain();
  EXPECT_EQ(*f.fts->match(1, "discharge", true), (std::unordered_set<std::string>{"b1"}));
  EXPECT_EQ(*f.fts->match(1, "DISCHARGE summ", true), (std::unordered_set<std::string>{"b1"}));  // prefix, case
  EXPECT_EQ(*f.fts->match(1, "discharge sandwiches", true), (std::unordered_set<std::string>{}));  // all words
  EXPECT_EQ(*f.fts->match(2, "discharge", true), (std::unordered_set<std::string>{"b3"}));
  EXPECT_EQ(*f.fts->match(3, "discharge", true), (std::unordered_set<std::string>{}));  // no index yet
  EXPECT_EQ(f.fts->indexed(1), (std::unordered_set<std::string>{"b1", "b2"}));
}

TEST(FullTextIndex, TextAlsoSearchesHeadersBodyDoesNot) {
  Fixture f;
  f.add(1, "b1", msg("Cardiology clinic", "Appointment moved.", "Bcc: secretary@practice.nhs.uk\r\n"));
  f.fts->drain();
  EXPECT_EQ(*f.fts->match(1, "cardiology", false), (std::unordered_set<std::string>{"b1"}));
  EXPECT_TRUE(f.fts->match(1, "cardiology", true)->empty());
  EXPECT_EQ(*f.fts->match(1, "secretary", false), (std::unordered_set<std::string>{"b1"}));
  EXPECT_EQ(*f.fts->match(1, "jane appointment", false), (std::unordered_set<std::string>{"b1"}));
}

TEST(FullTextIndex, DecodesTransferEncodingAndCharset) {
  Fixture f;
  std::string raw =
      "From: a@b\r\nSubject: x\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=iso-8859-1\r\n"
      "Content-Transfer-Encoding: quoted-printable\r\n\r\nPatient M=FCller, pr=E9-op assessment\r\n";
  f.add(1, "b1", raw);
  f.fts->drain();
  EXPECT_EQ(*f.fts->match(1, "müller", true), (std::unordered_set<std::string>{"b1"}));
  EXPECT_EQ(*f.fts->match(1, "assessment", true), (std::unordered_set<std::string>{"b1"}));
}

TEST(FullTextIndex, ShortOrEmptyQueriesAreLeftToTheCaller) {
  Fixture f;
  f.add(1, "b1", msg("x", "an ok body"));
  f.fts->drain();
  EXPECT_FALSE(f.fts->match(1, "ok", true).has_value());
  EXPECT_FALSE(f.fts->match(1, "  ", true).has_value());
}

TEST(FullTextIndex, IndexingTwiceAndMissingBlobsAreHarmless) {
  Fixture f;
  f.add(1, "b1", msg("x", "radiology report"));
  f.fts->enqueue(1, "b1");
  f.fts->enqueue(1, "gone");  // expunged before the indexer got to it
  f.fts->drain();
  EXPECT_EQ(*f.fts->match(1, "radiology", true), (std::unordered_set<std::string>{"b1"}));
  EXPECT_EQ(f.fts->indexed(1).size(), 1u);
}

TEST(FullTextIndex, ACorruptIndexIsRebuilt) {
  // Commits are not fsync'd, so a machine crash may leave an index unreadable: the writer
  // removes it and starts again (what it held is scanned by SEARCH until re-indexed).
  Fixture f;
  f.add(1, "b1", msg("x", "radiology report"));
  f.fts->drain();
  ASSERT_EQ(f.fts->indexed(1).size(), 1u);
  for (const auto& e : std::filesystem::directory_iterator(f.dir.path() / "fts" / "1")) {
    std::ofstream out(e.path(), std::ios::binary | std::ios::trunc);
    out << "not a xapian file";
  }
  EXPECT_FALSE(f.fts->match(1, "radiology", true).has_value());  // unreadable: the caller scans
  f.add(1, "b2", msg("y", "cardiology letter"));
  f.fts->drain();
  EXPECT_EQ(*f.fts->match(1, "cardiology", true), (std::unordered_set<std::string>{"b2"}));
  f.add(1, "b1", f.blobs["b1"]);  // SEARCH queues what the index lost
  f.fts->drain();
  EXPECT_EQ(f.fts->indexed(1).size(), 2u);
}

}  // namespace
}  // namespace caremail

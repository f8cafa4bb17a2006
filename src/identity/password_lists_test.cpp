// Tests for the password lists: the shipped common list (real entries, loaded once into a
// set), and the breached list's binary search over files written here: every entry found
// at every size from 1 to 64 lines, absent hashes below, between and above, CRLF and
// ":count" lines, and the start-up checks that refuse the wrong file.
#include "identity/password_lists.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <sstream>

#include "temp_dir.hpp"

namespace caremail::identity {
namespace {

namespace fs = std::filesystem;

TEST(CommonPasswordList, ShippedListHasRealEntries) {
  std::string_view text = shipped_common_password_list();
  EXPECT_TRUE(text.starts_with("#!comment: Common passwords")) << text.substr(0, 80);
  auto common = CommonPasswords::load();
  ASSERT_TRUE(common.ok());
  EXPECT_GT(common->size(), 3000u);
  // Real entries of John's password.lst (most common first: 123456, 12345, password).
  for (const char* entry : {"123456", "password", "qwertyuiop", "letmein", "monkey", "1234567890"}) {
    SCOPED_TRACE(entry);
    EXPECT_TRUE(common->contains_entry(entry));
  }
  EXPECT_FALSE(common->contains_entry("Password"));  // stored lower-cased
  EXPECT_FALSE(common->contains_entry("correct horse battery staple"));
}

TEST(CommonPasswordList, FromText) {
  auto c = CommonPasswords::from_text("#!comment\nAlpha\r\nbeta\n\n#notacomment\nGamma Ray");
  EXPECT_EQ(c.size(), 4u);
  EXPECT_TRUE(c.contains_entry("alpha"));
  EXPECT_TRUE(c.contains_entry("#notacomment"));  // only "#!" starts a comment
  EXPECT_TRUE(c.is_common("ALPHA"));
  EXPECT_TRUE(c.is_common("gamma ray 99!"));
  EXPECT_TRUE(c.is_common("betabetabeta"));
  EXPECT_TRUE(c.is_common("beta1beta1"));
  EXPECT_FALSE(c.is_common("betabetabet"));
  EXPECT_FALSE(c.is_common("alphabeta"));
  EXPECT_FALSE(c.is_common("xalpha"));
  EXPECT_FALSE(c.is_common(""));
  EXPECT_FALSE(c.is_common("!!!"));
}

TEST(Sha1, KnownVectors) {
  EXPECT_EQ(sha1_hex_upper(""), "DA39A3EE5E6B4B0D3255BFEF95601890AFD80709");
  EXPECT_EQ(sha1_hex_upper("abc"), "A9993E364706816ABA3E25717850C26C9CD0D89D");
  EXPECT_EQ(sha1_hex_upper("password"), "5BAA61E4C9B93F3F0682250B6CF8331B7EE68FD8");
}

// Writes `hashes` (sorted here) in the Pwned Passwords shape, varying the line endings
// and counts so that every form appears at every position.
fs::path write_list(const fs::path& dir, std::vector<std::string> hashes, bool trailing_newline = true) {
  std::sort(hashes.begin(), hashes.end());
  std::ostringstream out;
  for (size_t i = 0; i < hashes.size(); ++i) {
    out << hashes[i];
    if (i % 3 == 1) out << ':' << (i * 7919 % 100000 + 1);
    if (i + 1 < hashes.size() || trailing_newline) out << (i % 2 == 0 ? "\r\n" : "\n");
  }
  fs::path file = dir / "pwned.txt";
  std::ofstream(file, std::ios::binary | std::ios::trunc) << out.str();
  return file;
}

std::vector<std::string> password_hashes(size_t n, std::string_view prefix = "pw") {
  std::vector<std::string> out;
  for (size_t i = 0; i < n; ++i) out.push_back(sha1_hex_upper(std::string(prefix) + std::to_string(i)));
  return out;
}

TEST(BreachedList, FindsEveryEntryAtEverySize) {
  testing::TempDir dir;
  for (size_t n = 1; n <= 64; ++n) {
    SCOPED_TRACE(n);
    for (bool trailing : {true, false}) {
      auto hashes = password_hashes(n);
      auto list = BreachedList::open(write_list(dir.path(), hashes, trailing));
      ASSERT_TRUE(list.ok()) << list.error().message;
      for (size_t i = 0; i < n; ++i) {
        auto found = list->find("pw" + std::to_string(i));
        ASSERT_TRUE(found.ok());
        EXPECT_TRUE(*found) << "pw" << i;
      }
      // Absent: other passwords, and the extremes below the first and above the last.
      for (size_t i = 0; i < 8; ++i) EXPECT_FALSE(list->contains("absent" + std::to_string(i)));
      EXPECT_FALSE(*list->find_sha1_hex(std::string(40, '0')));
      EXPECT_FALSE(*list->find_sha1_hex(std::string(40, 'F')));
    }
  }
}

TEST(BreachedList, FirstLastAndPrefixes) {
  testing::TempDir dir;
  std::vector<std::string> hashes = password_hashes(500);
  hashes.push_back(std::string(40, '0'));
  hashes.push_back(std::string(40, 'F'));
  std::sort(hashes.begin(), hashes.end());
  auto list = BreachedList::open(write_list(dir.path(), hashes));
  ASSERT_TRUE(list.ok()) << list.error().message;
  EXPECT_TRUE(*list->find_sha1_hex(hashes.front()));
  EXPECT_TRUE(*list->find_sha1_hex(hashes.back()));
  EXPECT_TRUE(*list->find_sha1_hex(hashes[250]));
  // Lower-case input is the same hash; a prefix or a longer string is not.
  std::string lower = hashes[17];
  std::transform(lower.begin(), lower.end(), lower.begin(), [](char c) { return static_cast<char>(std::tolower(c)); });
  EXPECT_TRUE(*list->find_sha1_hex(lower));
  EXPECT_FALSE(*list->find_sha1_hex(hashes[17].substr(0, 39)));
  EXPECT_FALSE(*list->find_sha1_hex(hashes[17] + "0"));
  EXPECT_FALSE(*list->find_sha1_hex(std::string(39, '0') + "G"));
  // One digit off, either way.
  std::string off = hashes[42];
  off.back() = off.back() == '0' ? '1' : '0';
  EXPECT_FALSE(*list->find_sha1_hex(off));
}

TEST(BreachedList, LargeFileFewReads) {
  // 50,000 lines (~2.3 MB); lookups still succeed and stay fast.
  testing::TempDir dir;
  auto hashes = password_hashes(50000, "big");
  auto list = BreachedList::open(write_list(dir.path(), hashes));
  ASSERT_TRUE(list.ok()) << list.error().message;
  for (size_t i = 0; i < 50000; i += 997) EXPECT_TRUE(list->contains("big" + std::to_string(i)));
  EXPECT_FALSE(list->contains("big50000"));
  EXPECT_TRUE(list->contains("big49999"));
}

TEST(BreachedList, MoveKeepsTheFile) {
  testing::TempDir dir;
  auto list = BreachedList::open(write_list(dir.path(), password_hashes(10)));
  ASSERT_TRUE(list.ok());
  BreachedList moved = std::move(list).value();
  EXPECT_TRUE(moved.contains("pw3"));
  BreachedList assigned = std::move(moved);
  EXPECT_TRUE(assigned.contains("pw9"));
  EXPECT_EQ(assigned.path(), dir.path() / "pwned.txt");
}

TEST(BreachedList, OpenRefusesWrongFiles) {
  testing::TempDir dir;
  auto write = [&](const std::string& name, const std::string& content) {
    fs::path p = dir.path() / name;
    std::ofstream(p, std::ios::binary) << content;
    return p;
  };
  auto sorted = password_hashes(100);
  std::sort(sorted.begin(), sorted.end());
  std::string unsorted_text;
  for (auto it = sorted.rbegin(); it != sorted.rend(); ++it) unsorted_text += *it + ":1\r\n";
  std::string ntlm_text;
  for (auto& h : sorted) ntlm_text += h.substr(0, 32) + ":1\n";

  struct Case {
    fs::path path;
    Errc code;
    std::string want;
  } cases[] = {
      {dir.path() / "absent.txt", Errc::not_found, "absent.txt: cannot open breached-password list"},
      {dir.path(), Errc::io, "not a readable regular file"},
      {write("empty.txt", ""), Errc::corrupt, "is empty"},
      {write("blank.txt", "\n\n"), Errc::corrupt, "holds no hashes"},
      {write("unsorted.txt", unsorted_text), Errc::corrupt, "not sorted"},
      {write("ntlm.txt", ntlm_text), Errc::corrupt, "not a SHA-1 hash"},
      {write("text.txt", "hello world\n"), Errc::corrupt, "not a SHA-1 hash"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.path.string());
    auto r = BreachedList::open(c.path);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, c.code);
    EXPECT_NE(r.error().message.find(c.want), std::string::npos) << r.error().message;
  }
  // A blank last line is tolerated.
  std::string ok_text;
  for (auto& h : sorted) ok_text += h + "\n";
  auto r = BreachedList::open(write("blank-end.txt", ok_text + "\n"));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_TRUE(r->contains("pw0"));
  EXPECT_TRUE(r->contains("pw99"));
}

TEST(BreachedList, TruncatedAfterOpenFindsNothing) {
  // A list truncated after open: lookups near the old end fail or find nothing, but never
  // claim a hash is present that is not.
  testing::TempDir dir;
  auto hashes = password_hashes(1000);
  auto path = write_list(dir.path(), hashes);
  auto list = BreachedList::open(path);
  ASSERT_TRUE(list.ok());
  fs::resize_file(path, 0);
  auto r = list->find("pw1");
  EXPECT_TRUE(!r.ok() || !*r);
  EXPECT_FALSE(list->contains("pw1"));
}

}  // namespace
}  // namespace caremail::identity

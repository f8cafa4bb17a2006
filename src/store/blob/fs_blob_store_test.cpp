// FsBlobStore: round trips, the on-disk format, refusal to serve altered bytes, id
// checking, garbage collection with pins, and disk full.
#include "store/blob/fs_blob_store.hpp"

#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <thread>

#include "crypto/crypto.hpp"
#include "store/sqlite/sqlite_store.hpp"
#include "store_conformance.hpp"

using namespace caremail;
using caremail::testing::code_of;
using caremail::testing::TempDir;

namespace {

crypto::Key key_of(unsigned char seed) {
  crypto::Key k;
  for (size_t i = 0; i < k.size(); ++i) k[i] = static_cast<unsigned char>(seed + 31 * i);
  return k;
}

std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_file(const std::filesystem::path& p, const std::string& data) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << data;
}

// Regular files under `root`, recursively (directories are not counted).
std::vector<std::filesystem::path> files_under(const std::filesystem::path& root) {
  std::vector<std::filesystem::path> out;
  for (const auto& e : std::filesystem::recursive_directory_iterator(root))
    if (e.is_regular_file()) out.push_back(e.path());
  return out;
}

uint64_t le64(const std::string& s, size_t at) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= static_cast<uint64_t>(static_cast<unsigned char>(s[at + i])) << (8 * i);
  return v;
}

class FsBlobStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { crypto::init(); }
  std::filesystem::path root() const { return dir_.path() / "blobs"; }
  std::unique_ptr<FsBlobStore> open(std::optional<crypto::Key> key) { return MUST(FsBlobStore::open(root(), key)); }
  TempDir dir_;
};

// ---------------------------------------------------------------------------

TEST_F(FsBlobStoreTest, ClearRoundTripAndFileLayout) {
  auto bs = open(std::nullopt);
  const std::string data = "From: a@b\r\n\r\nhello\r\n";
  auto ref = MUST(bs->put(data));
  EXPECT_EQ(ref.id, crypto::sha256_hex(data));
  EXPECT_EQ(ref.size, data.size());
  MUST(bs->sync());
  EXPECT_TRUE(bs->exists(ref.id));
  EXPECT_EQ(MUST(bs->get(ref.id)), data);

  auto p = bs->path_for(ref.id);
  EXPECT_EQ(p, root() / ref.id.substr(0, 2) / ref.id.substr(2, 2) / ref.id);
  struct stat st{};
  ASSERT_EQ(::stat(p.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  ASSERT_EQ(::stat(p.parent_path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0700u);

  // Header: "CMBL", version 1, flags 0 (clear), reserved 0, plaintext length LE64.
  std::string raw = read_file(p);
  ASSERT_EQ(raw.size(), 16 + data.size());
  EXPECT_EQ(raw.substr(0, 4), "CMBL");
  EXPECT_EQ(raw[4], 1);
  EXPECT_EQ(raw[5], 0);
  EXPECT_EQ(raw[6], 0);
  EXPECT_EQ(raw[7], 0);
  EXPECT_EQ(le64(raw, 8), data.size());
  EXPECT_EQ(raw.substr(16), data);
  EXPECT_TRUE(files_under(root() / "tmp").empty());
}

TEST_F(FsBlobStoreTest, EncryptedRoundTripAndFileLayout) {
  auto bs = open(key_of(1));
  const std::string data = "Subject: confidential patient letter\r\n\r\n" + std::string(5000, 'z');
  auto ref = MUST(bs->put(data));
  EXPECT_EQ(ref.id, crypto::sha256_hex(data)) << "the id is the hash of the plaintext";
  EXPECT_EQ(MUST(bs->get(ref.id)), data);

  auto p = bs->path_for(ref.id);
  struct stat st{};
  ASSERT_EQ(::stat(p.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  std::string raw = read_file(p);
  ASSERT_EQ(raw.size(), 16 + crypto::kSealOverhead + data.size());
  EXPECT_EQ(raw.substr(0, 4), "CMBL");
  EXPECT_EQ(raw[4], 1);
  EXPECT_EQ(raw[5], 1) << "flag bit 0: sealed";
  EXPECT_EQ(raw[6], 0);
  EXPECT_EQ(raw[7], 0);
  EXPECT_EQ(le64(raw, 8), data.size());
  EXPECT_EQ(raw.find("confidential"), std::string::npos) << "no plaintext on disk";

  // Empty and large blobs too.
  auto empty = MUST(bs->put(""));
  EXPECT_EQ(MUST(bs->get(empty.id)), "");
  std::string big(3 << 20, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>((i * 2654435761u) >> 13);
  auto bigref = MUST(bs->put(big));
  EXPECT_EQ(bigref.size, big.size());
  EXPECT_EQ(MUST(bs->get(bigref.id)), big);
}

// A spooled message is stored from its file a piece at a time (issue 14: never whole in
// memory): the source is read in pieces of at most kPiece, the blob reads back the same
// as put() of the bytes, and a source that fails to read leaves nothing behind.
class PieceSource final : public BlobSource {
 public:
  explicit PieceSource(const std::string& data, bool fail_late = false) : data_(data), fail_late_(fail_late) {}
  uint64_t size() const override { return data_.size(); }
  bool read(uint64_t offset, char* out, size_t len) const override {
    largest_ = std::max(largest_, len);
    if (fail_late_ && offset > 0) return false;
    std::memcpy(out, data_.data() + offset, len);
    return true;
  }
  mutable size_t largest_ = 0;

 private:
  const std::string& data_;
  bool fail_late_;
};

TEST_F(FsBlobStoreTest, PutFromASourceReadsItInPieces) {
  for (auto key : {std::optional<crypto::Key>(key_of(3)), std::optional<crypto::Key>()}) {
    TempDir dir;
    auto bs = MUST(FsBlobStore::open(dir.path() / "blobs", key));
    std::string big((5 << 20) + 123, '\0');
    for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>((i * 2654435761u) >> 11);
    PieceSource src(big);
    std::string id = MUST(content_id(src));
    EXPECT_EQ(id, crypto::sha256_hex(big));
    auto ref = MUST(bs->put_with_id(src, id));
    EXPECT_EQ(ref.size, big.size());
    EXPECT_LE(src.largest_, FsBlobStore::kPiece);
    EXPECT_EQ(MUST(bs->get(id)), big);
    EXPECT_EQ(std::filesystem::file_size(bs->path_for(id)),
              16 + big.size() + (key ? crypto::kSealOverhead : 0));

    std::string other = big + "x";
    PieceSource failing(other, /*fail_late=*/true);
    auto r = bs->put_with_id(failing, crypto::sha256_hex(other));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, Errc::temporary);
    EXPECT_FALSE(bs->exists(crypto::sha256_hex(other)));
    EXPECT_EQ(files_under(dir.path() / "blobs").size(), 1u) << "only the first blob";
  }
}

TEST_F(FsBlobStoreTest, SameContentIsStoredOnce) {
  auto bs = open(key_of(1));
  auto a = MUST(bs->put("same bytes"));
  auto before = read_file(bs->path_for(a.id));
  auto b = MUST(bs->put("same bytes"));
  EXPECT_EQ(a.id, b.id);
  EXPECT_EQ(files_under(root()).size(), 1u);
  EXPECT_EQ(read_file(bs->path_for(a.id)), before) << "the existing file is not rewritten";
  MUST(bs->put("other bytes"));
  EXPECT_EQ(files_under(root()).size(), 2u);

  // Racing writers of the same content: all succeed, one file, no temporaries left.
  std::string content(200000, 'r');
  std::vector<std::thread> ts;
  std::atomic<int> failures{0};
  for (int i = 0; i < 8; ++i)
    ts.emplace_back([&] {
      auto r = bs->put(content);
      if (!r || r->id != crypto::sha256_hex(content)) ++failures;
    });
  for (auto& t : ts) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(files_under(root()).size(), 3u);
  EXPECT_EQ(MUST(bs->get(crypto::sha256_hex(content))), content);
}

// Every kind of damage is reported as corrupt; the bytes are never served.
struct Tamper {
  const char* name;
  std::function<void(std::string&)> apply;
};

const std::vector<Tamper>& tampers() {
  static const std::vector<Tamper> t = {
      {"flip a payload byte", [](std::string& s) { s[s.size() / 2 + 8] ^= 0x01; }},
      {"flip the last byte", [](std::string& s) { s.back() ^= 0x80; }},
      {"truncate by one", [](std::string& s) { s.pop_back(); }},
      {"truncate to the header", [](std::string& s) { s.resize(16); }},
      {"truncate inside the header", [](std::string& s) { s.resize(10); }},
      {"empty file", [](std::string& s) { s.clear(); }},
      {"append a byte", [](std::string& s) { s.push_back('x'); }},
      {"wrong magic", [](std::string& s) { s[0] = 'X'; }},
      {"unknown version", [](std::string& s) { s[4] = 2; }},
      {"length field changed", [](std::string& s) { s[8] ^= 0x01; }},
      {"sealed flag flipped", [](std::string& s) { s[5] ^= 0x01; }},
  };
  return t;
}

void expect_every_tamper_is_corrupt(FsBlobStore& bs, const std::string& data) {
  auto ref = MUST(bs.put(data));
  auto p = bs.path_for(ref.id);
  const std::string good = read_file(p);
  for (const auto& t : tampers()) {
    std::string bad = good;
    t.apply(bad);
    write_file(p, bad);
    auto r = bs.get(ref.id);
    EXPECT_EQ(code_of(r), "corrupt") << t.name;
  }
  write_file(p, good);
  EXPECT_EQ(MUST(bs.get(ref.id)), data) << "the original file still reads";
}

TEST_F(FsBlobStoreTest, TamperedClearBlobIsCorrupt) {
  auto bs = open(std::nullopt);
  expect_every_tamper_is_corrupt(*bs, "Subject: clear\r\n\r\nthe quick brown fox");
}

TEST_F(FsBlobStoreTest, TamperedEncryptedBlobIsCorrupt) {
  auto bs = open(key_of(1));
  expect_every_tamper_is_corrupt(*bs, "Subject: sealed\r\n\r\nthe quick brown fox");
  // Sealed blobs also bind the reserved header bytes (they are in the AAD).
  auto ref = MUST(bs->put("reserved bytes"));
  auto p = bs->path_for(ref.id);
  std::string raw = read_file(p);
  raw[6] = 1;
  write_file(p, raw);
  EXPECT_EQ(code_of(bs->get(ref.id)), "corrupt");
}

TEST_F(FsBlobStoreTest, SwappedBlobFileIsCorrupt) {
  for (bool sealed : {false, true}) {
    SCOPED_TRACE(sealed ? "sealed" : "clear");
    auto bs = sealed ? open(key_of(1)) : open(std::nullopt);
    auto a = MUST(bs->put(std::string("letter for A ") + (sealed ? "s" : "c")));
    auto b = MUST(bs->put(std::string("letter for B ") + (sealed ? "s" : "c")));
    // A well-formed file under the wrong name: the id (in the AAD or the hash) gives it away.
    write_file(bs->path_for(b.id), read_file(bs->path_for(a.id)));
    EXPECT_EQ(code_of(bs->get(b.id)), "corrupt");
    EXPECT_TRUE(bs->get(a.id).ok());
  }
}

TEST_F(FsBlobStoreTest, WrongOrMissingKeyIsCorrupt) {
  std::string id;
  {
    auto bs = open(key_of(1));
    id = MUST(bs->put("sealed with key 1")).id;
  }
  EXPECT_EQ(code_of(open(key_of(2))->get(id)), "corrupt");
  EXPECT_EQ(code_of(open(std::nullopt)->get(id)), "corrupt");
  EXPECT_EQ(MUST(open(key_of(1))->get(id)), "sealed with key 1");
  // A clear blob stays readable after a key is configured (verified by its hash).
  std::string clear_id = MUST(open(std::nullopt)->put("written in clear")).id;
  EXPECT_EQ(MUST(open(key_of(1))->get(clear_id)), "written in clear");
}

TEST_F(FsBlobStoreTest, InlineRecordsAreReadLikeFiles) {
  auto bs = open(key_of(3));
  const std::string data = "Subject: a discharge letter\r\n\r\nkept with its message row\r\n";
  const std::string id = crypto::sha256_hex(data);
  std::string record = bs->seal_record(data, id);
  EXPECT_EQ(record.substr(0, 4), "CMBL");
  EXPECT_EQ(record.find("discharge"), std::string::npos) << "sealed like a file";
  EXPECT_EQ(record.size(), 16 + crypto::kSealOverhead + data.size());
  // No file, no reader: missing.
  EXPECT_FALSE(bs->exists(id));
  EXPECT_EQ(code_of(bs->get(id)), "corrupt");
  std::map<std::string, std::string> rows;
  bs->set_inline_reader([&rows](std::string_view want) -> Result<std::optional<std::string>> {
    auto it = rows.find(std::string(want));
    if (it == rows.end()) return std::optional<std::string>();
    return std::optional<std::string>(it->second);
  });
  EXPECT_FALSE(bs->exists(id));
  rows[id] = record;
  EXPECT_TRUE(bs->exists(id));
  EXPECT_EQ(MUST(bs->get(id)), data);
  EXPECT_TRUE(files_under(root()).empty()) << "nothing written to the blob directory";
  // A record is bound to its id and verified like a file.
  const std::string other = crypto::sha256_hex("something else");
  rows[other] = record;
  EXPECT_EQ(code_of(bs->get(other)), "corrupt");
  std::string flipped = record;
  flipped[flipped.size() - 3] ^= 1;
  rows[id] = flipped;
  EXPECT_EQ(code_of(bs->get(id)), "corrupt");
  // A file of the same content wins over the record (both are the same bytes).
  rows[id] = "garbage";
  MUST(bs->put(data));
  EXPECT_EQ(MUST(bs->get(id)), data);
}

TEST_F(FsBlobStoreTest, MissingBlobIsCorrupt) {
  auto bs = open(std::nullopt);
  std::string id = crypto::sha256_hex("never stored");
  EXPECT_FALSE(bs->exists(id));
  EXPECT_EQ(code_of(bs->get(id)), "corrupt");
}

TEST_F(FsBlobStoreTest, InvalidIdsAreRejected) {
  const std::string hex64 = crypto::sha256_hex("x");
  EXPECT_TRUE(valid_blob_id(hex64));
  // Outside the root, a file an attacker would like read or deleted.
  write_file(dir_.path() / "secret", "top secret");
  const std::vector<std::string> bad = {
      "",
      "../../etc/passwd",
      "../secret",
      hex64.substr(0, 63),
      hex64 + "0",
      std::string(64, 'A'),                 // upper case
      std::string(64, 'g'),
      "../" + hex64.substr(3),              // 64 characters, with a path in front
      hex64.substr(0, 62) + "/.",
      std::string("ab\0", 3) + hex64.substr(3),
  };
  auto bs = open(key_of(1));
  for (const auto& id : bad) {
    SCOPED_TRACE(id);
    EXPECT_FALSE(valid_blob_id(id));
    EXPECT_EQ(code_of(bs->get(id)), "invalid_argument");
    EXPECT_EQ(code_of(bs->remove(id)), "invalid_argument");
    EXPECT_EQ(code_of(bs->put_with_id("data", id)), "invalid_argument");
    EXPECT_FALSE(bs->exists(id));
  }
  EXPECT_EQ(read_file(dir_.path() / "secret"), "top secret");
  EXPECT_TRUE(files_under(root()).empty()) << "nothing was written for a bad id";
}

TEST_F(FsBlobStoreTest, OpenRemovesLeftoverTemporaryFiles) {
  std::string id;
  {
    auto bs = open(std::nullopt);
    id = MUST(bs->put("kept")).id;
  }
  write_file(root() / "tmp" / (id + ".123.0"), "half-written by a crashed run");
  write_file(root() / "tmp" / "other", "junk");
  ASSERT_EQ(files_under(root() / "tmp").size(), 2u);
  auto bs = open(std::nullopt);
  EXPECT_TRUE(files_under(root() / "tmp").empty());
  EXPECT_EQ(MUST(bs->get(id)), "kept") << "real blobs are untouched";
}

TEST_F(FsBlobStoreTest, Remove) {
  auto bs = open(key_of(1));
  auto a = MUST(bs->put("to be removed"));
  auto b = MUST(bs->put("to be kept"));
  MUST(bs->remove(a.id));
  EXPECT_FALSE(bs->exists(a.id));
  EXPECT_FALSE(std::filesystem::exists(bs->path_for(a.id)));
  EXPECT_EQ(code_of(bs->get(a.id)), "corrupt");
  MUST(bs->remove(a.id));  // removing twice is not an error
  EXPECT_TRUE(bs->exists(b.id));
  // Putting it again brings it back.
  MUST(bs->put("to be removed"));
  EXPECT_EQ(MUST(bs->get(a.id)), "to be removed");
}

// Garbage collection against a real metadata store: dead blobs go, pinned ones stay.
TEST_F(FsBlobStoreTest, CollectGarbageSkipsPinnedBlobs) {
  auto store = MUST(open_sqlite_store({dir_.path() / "meta.db"}));
  auto bs = open(key_of(1));
  store->set_pre_commit_hook([&] { return bs->sync(); });
  auto org = MUST(store->create_organisation({"RXA", "Alpha", "alpha", {}}));
  NewAccount na;
  na.address = "alice@a.nhs.uk";
  na.org_id = org.id;
  auto acc = MUST(store->create_account(na));
  auto inbox = MUST(store->mailbox(acc.id, "INBOX"));

  std::vector<BlobRef> refs;
  for (const char* body : {"pinned", "unpinned", "alive"}) {
    auto ref = MUST(bs->put(body));
    NewMessage m;
    m.blob_id = ref.id;
    m.size = ref.size;
    MUST(store->deliver(m, std::vector<DeliveryTarget>{{acc.id, 0, 0, {}, true}}));
    refs.push_back(ref);
  }
  const auto& pinned = refs[0].id;
  const auto& unpinned = refs[1].id;
  const auto& alive = refs[2].id;
  MUST(store->update_flags(inbox.id, std::vector<Uid>{1, 2}, FlagUpdate{FlagOp::add, kDeleted, {}, {}}));
  MUST(store->expunge(inbox.id, std::nullopt));
  ASSERT_EQ(MUST(store->dead_blobs(10)).size(), 2u);

  {
    BlobPin pin(bs.get(), pinned);  // e.g. a delivery of the same content in flight
    EXPECT_EQ(MUST(bs->collect_garbage(*store, 10)), 1u);
    EXPECT_TRUE(bs->exists(pinned));
    EXPECT_FALSE(bs->exists(unpinned));
    EXPECT_TRUE(bs->exists(alive));
    EXPECT_EQ(MUST(store->dead_blobs(10)), (std::vector<std::string>{pinned})) << "still queued for later";
  }
  EXPECT_EQ(MUST(bs->collect_garbage(*store, 10)), 1u);
  EXPECT_FALSE(bs->exists(pinned));
  EXPECT_TRUE(MUST(store->dead_blobs(10)).empty());
  EXPECT_EQ(MUST(bs->get(alive)), "alive");
  EXPECT_EQ(MUST(bs->collect_garbage(*store, 10)), 0u);

  // A dead blob that is delivered again before the collector runs comes back to life.
  auto again = MUST(bs->put("resurrected"));
  NewMessage m;
  m.blob_id = again.id;
  m.size = again.size;
  MUST(store->deliver(m, std::vector<DeliveryTarget>{{acc.id, 0, kDeleted, {}, true}}));
  MUST(store->expunge(inbox.id, std::nullopt));
  ASSERT_EQ(MUST(store->dead_blobs(10)), (std::vector<std::string>{again.id}));
  MUST(store->deliver(m, std::vector<DeliveryTarget>{{acc.id, 0, 0, {}, true}}));
  EXPECT_EQ(MUST(bs->collect_garbage(*store, 10)), 0u);
  EXPECT_EQ(MUST(bs->get(again.id)), "resurrected");
  store->set_pre_commit_hook(nullptr);
}

// Disk full: a put that cannot be written is Errc::temporary and leaves no file behind.
TEST_F(FsBlobStoreTest, DiskFullIsTemporaryAndLeavesNothing) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to mount a small tmpfs";
  auto mnt = dir_.path() / "small";
  std::filesystem::create_directories(mnt);
  if (::mount("tmpfs", mnt.c_str(), "tmpfs", 0, "size=1m,mode=0700") != 0)
    GTEST_SKIP() << "cannot mount a tmpfs here (" << std::strerror(errno) << ")";
  struct Unmount {
    std::filesystem::path p;
    ~Unmount() { ::umount2(p.c_str(), MNT_DETACH); }
  } unmount{mnt};

  for (bool sealed : {false, true}) {
    SCOPED_TRACE(sealed ? "sealed" : "clear");
    auto root = mnt / (sealed ? "sealed" : "clear");
    auto bs = MUST(FsBlobStore::open(root, sealed ? std::optional(key_of(1)) : std::nullopt));
    std::string big(2 << 20, 'B');
    auto r = bs->put(big);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, Errc::temporary) << r.error().message;
    EXPECT_NE(r.error().message.find("disk full"), std::string::npos) << r.error().message;
    EXPECT_FALSE(bs->exists(crypto::sha256_hex(big)));
    EXPECT_TRUE(files_under(root).empty());
    // The space came back: a small blob still fits.
    auto small = MUST(bs->put("small enough"));
    EXPECT_EQ(MUST(bs->get(small.id)), "small enough");
    MUST(bs->remove(small.id));
  }
}

}  // namespace

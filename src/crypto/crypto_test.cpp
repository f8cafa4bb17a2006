// Tests for the crypto wrappers: known SHA-256 vectors, password hashing, tokens, the
// blob AEAD (every tampering is Errc::corrupt) and the key file (created private, reloaded
// identical, never replaced when wrong).
#include "crypto/crypto.hpp"

#include <gtest/gtest.h>

#include "temp_dir.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <set>
#include <string>

namespace caremail::crypto {
namespace {

namespace fs = std::filesystem;

class CryptoEnv : public ::testing::Environment {
 public:
  void SetUp() override { init(); }
};
const auto* const kEnv = ::testing::AddGlobalTestEnvironment(new CryptoEnv);

TEST(Sha256, KnownVectors) {
  // FIPS 180-2 examples.
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(sha256_hex(std::string(1000000, 'a')),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  // Embedded NULs are data, not terminators.
  EXPECT_NE(sha256_hex(std::string("a\0b", 3)), sha256_hex("a"));
}

TEST(Sha256, IncrementalEqualsOneShot) {
  std::string data;
  for (int i = 0; i < 10000; ++i) data.push_back(static_cast<char>((i * 31 + 7) & 0xff));
  const std::string want = sha256_hex(data);
  for (size_t piece : {1u, 3u, 63u, 64u, 65u, 1000u, 9999u}) {
    SCOPED_TRACE(piece);
    Sha256 h;
    for (size_t at = 0; at < data.size(); at += piece) h.update(std::string_view(data).substr(at, piece));
    EXPECT_EQ(h.hex(), want);
  }
  Sha256 empty_updates;
  empty_updates.update("");
  empty_updates.update("abc");
  empty_updates.update("");
  EXPECT_EQ(empty_updates.hex(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Password, HashAndVerify) {
  std::string phc = hash_password("correct horse battery");
  ASSERT_FALSE(phc.empty());
  EXPECT_EQ(phc.rfind("$argon2id$", 0), 0u) << phc;
  EXPECT_EQ(phc.find("correct"), std::string::npos);
  EXPECT_TRUE(verify_password(phc, "correct horse battery"));
  EXPECT_FALSE(verify_password(phc, "correct horse batterY"));
  EXPECT_FALSE(verify_password(phc, "correct horse battery "));
  EXPECT_FALSE(verify_password(phc, ""));
  // Salted: the same password hashes differently each time, and both verify.
  std::string phc2 = hash_password("correct horse battery");
  EXPECT_NE(phc, phc2);
  EXPECT_TRUE(verify_password(phc2, "correct horse battery"));
}

TEST(Password, EmptyPasswordAndEmptyHash) {
  std::string phc = hash_password("");
  ASSERT_FALSE(phc.empty());
  EXPECT_TRUE(verify_password(phc, ""));
  EXPECT_FALSE(verify_password(phc, "x"));
  // An account without a hash never verifies, whatever is offered.
  EXPECT_FALSE(verify_password("", ""));
  EXPECT_FALSE(verify_password("", "anything"));
}

TEST(Password, CorruptedPhcNeverVerifies) {
  const std::string pw = "a long enough password";
  std::string phc = hash_password(pw);
  ASSERT_TRUE(verify_password(phc, pw));

  std::string flipped = phc;
  flipped.back() = flipped.back() == 'A' ? 'B' : 'A';  // last char of the hash
  EXPECT_FALSE(verify_password(flipped, pw));

  std::string salt_flipped = phc;
  auto salt_at = salt_flipped.rfind('$', salt_flipped.rfind('$') - 1) + 1;
  salt_flipped[salt_at] = salt_flipped[salt_at] == 'A' ? 'B' : 'A';
  EXPECT_FALSE(verify_password(salt_flipped, pw));

  EXPECT_FALSE(verify_password(phc.substr(0, phc.size() - 5), pw));     // truncated
  EXPECT_FALSE(verify_password(phc.substr(0, 20), pw));
  EXPECT_FALSE(verify_password("$argon2id$v=19$m=1,t=1,p=1$$", pw));    // nonsense parameters
  EXPECT_FALSE(verify_password("not a phc string", pw));
  EXPECT_FALSE(verify_password(phc + std::string(200, 'A'), pw));      // longer than any PHC string
  std::string with_nul = phc;
  with_nul.insert(10, 1, '\0');
  EXPECT_FALSE(verify_password(with_nul, pw));
}

TEST(RandomToken, LengthAlphabetAndUniqueness) {
  // URL-safe base64 without padding: ceil(4n/3) characters.
  EXPECT_EQ(random_token().size(), 43u);
  EXPECT_EQ(random_token(32).size(), 43u);
  EXPECT_EQ(random_token(15).size(), 20u);
  EXPECT_EQ(random_token(1).size(), 2u);
  EXPECT_EQ(random_token(0).size(), 0u);
  std::set<std::string> seen;
  std::set<char> chars;
  for (int i = 0; i < 2000; ++i) {
    std::string t = random_token(16);
    ASSERT_EQ(t.size(), 22u);
    for (char c : t) {
      ASSERT_TRUE((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
                  c == '_')
          << "bad character " << int(c) << " in " << t;
      chars.insert(c);
    }
    EXPECT_TRUE(seen.insert(t).second) << "repeated token " << t;
  }
  // 2000 * 22 characters from 64 symbols: every symbol appears (each misses with
  // probability ~ (63/64)^44000).
  EXPECT_EQ(chars.size(), 64u);
}

TEST(EqualCt, Table) {
  EXPECT_TRUE(equal_ct("", ""));
  EXPECT_TRUE(equal_ct("secret", "secret"));
  EXPECT_TRUE(equal_ct(std::string("a\0b", 3), std::string("a\0b", 3)));
  EXPECT_FALSE(equal_ct("secret", "secreT"));
  EXPECT_FALSE(equal_ct("secret", "secre"));
  EXPECT_FALSE(equal_ct("secret", ""));
  EXPECT_FALSE(equal_ct("", "x"));
  EXPECT_FALSE(equal_ct(std::string("a\0b", 3), std::string("a\0c", 3)));
}

Key test_key(unsigned char seed) {
  Key k{};
  for (size_t i = 0; i < k.size(); ++i) k[i] = static_cast<unsigned char>(seed + i);
  return k;
}

TEST(Aead, SealOpenRoundTrip) {
  const Key k = test_key(1);
  for (std::string plain : {std::string(), std::string("x"), std::string("hello\0world", 11),
                            std::string(100000, 'm')}) {
    SCOPED_TRACE(plain.size());
    std::string sealed = seal(k, plain, "blob-id");
    EXPECT_EQ(sealed.size(), plain.size() + kSealOverhead);
    if (plain.size() > 4) {
      EXPECT_EQ(sealed.find(plain), std::string::npos);  // not in clear
    }
    auto opened = open(k, sealed, "blob-id");
    ASSERT_TRUE(opened.ok()) << opened.error().message;
    EXPECT_EQ(*opened, plain);
  }
  // Random nonce: the same plaintext seals differently.
  EXPECT_NE(seal(k, "same", "aad"), seal(k, "same", "aad"));
}

// StreamSealer is seal() in pieces: open() reads what it writes, for every length around
// the cipher's 64-octet blocks and whatever the pieces, and the AAD still binds it.
TEST(Aead, StreamSealerOutputOpensLikeSeal) {
  const Key k = test_key(2);
  std::string data;
  for (size_t i = 0; i < 300000; ++i) data += static_cast<char>('a' + (i * 7919) % 26);
  for (size_t n : {size_t{0}, size_t{1}, size_t{63}, size_t{64}, size_t{65}, size_t{1000}, size_t{300000}}) {
    for (size_t piece : {size_t{64}, size_t{128}, size_t{65536}}) {
      SCOPED_TRACE(std::to_string(n) + " in pieces of " + std::to_string(piece));
      std::string_view plain(data.data(), n);
      StreamSealer s(k, "blob-id");
      std::string out(s.nonce());
      for (size_t off = 0; off < n; off += piece) {
        std::string_view part = plain.substr(off, piece);
        std::string ct(part.size(), '\0');
        s.update(part, ct.data());
        out += ct;
      }
      auto tag = s.finish();
      out.append(reinterpret_cast<const char*>(tag.data()), tag.size());
      EXPECT_EQ(out.size(), n + kSealOverhead);
      auto opened = open(k, out, "blob-id");
      ASSERT_TRUE(opened.ok()) << opened.error().message;
      EXPECT_EQ(*opened, plain);
      EXPECT_FALSE(open(k, out, "other-id").ok());
    }
  }
}

TEST(Aead, EveryTamperingIsCorrupt) {
  const Key k = test_key(1);
  const std::string plain = "Subject: test\r\n\r\nconfidential body\r\n";
  const std::string sealed = seal(k, plain, "aad-1");

  auto expect_corrupt = [&](const std::string& what, const Result<std::string>& r) {
    ASSERT_FALSE(r.ok()) << what << " was accepted";
    EXPECT_EQ(r.error().code, Errc::corrupt) << what;
  };
  for (size_t i : {size_t{0}, size_t{23}}) {  // nonce
    std::string t = sealed;
    t[i] ^= 0x01;
    expect_corrupt("nonce byte " + std::to_string(i), open(k, t, "aad-1"));
  }
  for (size_t i : {size_t{24}, size_t{24 + plain.size() / 2}, sealed.size() - 1}) {  // ciphertext and tag
    std::string t = sealed;
    t[i] ^= 0x80;
    expect_corrupt("byte " + std::to_string(i), open(k, t, "aad-1"));
  }
  expect_corrupt("other aad", open(k, sealed, "aad-2"));
  expect_corrupt("empty aad", open(k, sealed, ""));
  expect_corrupt("other key", open(test_key(2), sealed, "aad-1"));
  expect_corrupt("truncated by one", open(k, sealed.substr(0, sealed.size() - 1), "aad-1"));
  expect_corrupt("extended by one", open(k, sealed + "x", "aad-1"));
  expect_corrupt("shorter than overhead", open(k, sealed.substr(0, kSealOverhead - 1), "aad-1"));
  expect_corrupt("empty", open(k, "", "aad-1"));
  // The untouched original still opens: the failures above were the tampering.
  auto ok = open(k, sealed, "aad-1");
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(*ok, plain);
}

struct TempDir : caremail::testing::TempDir {
  TempDir() : caremail::testing::TempDir("cm-crypto-test") {}
};

mode_t mode_of(const fs::path& p) {
  struct stat st{};
  EXPECT_EQ(::stat(p.c_str(), &st), 0) << p;
  return st.st_mode & 07777;
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(KeyFile, CreatedPrivateThenReloadedIdentical) {
  TempDir d;
  fs::path file = d.path() / "data" / "keys" / "blob.key";
  auto k1 = load_or_create_key(file);
  ASSERT_TRUE(k1.ok()) << k1.error().message;
  EXPECT_EQ(mode_of(file), 0600u);
  EXPECT_EQ(mode_of(file.parent_path()), 0700u);
  EXPECT_EQ(fs::file_size(file), 32u);
  EXPECT_EQ(read_file(file), std::string(reinterpret_cast<const char*>(k1->data()), 32));
  EXPECT_FALSE(fs::exists(file.string() + ".tmp"));
  EXPECT_NE(*k1, Key{});  // not all zero

  auto k2 = load_or_create_key(file);
  ASSERT_TRUE(k2.ok()) << k2.error().message;
  EXPECT_EQ(*k1, *k2);

  // A second store gets its own key.
  auto other = load_or_create_key(d.path() / "other" / "blob.key");
  ASSERT_TRUE(other.ok());
  EXPECT_NE(*other, *k1);

  // What one key sealed, the reloaded key opens.
  auto opened = open(*k2, seal(*k1, "mail", "id"), "id");
  ASSERT_TRUE(opened.ok());
  EXPECT_EQ(*opened, "mail");
}

TEST(KeyFile, ExistingDirectoryKeepsItsMode) {
  TempDir d;
  fs::path dir = d.path() / "shared";
  fs::create_directory(dir);
  ASSERT_EQ(::chmod(dir.c_str(), 0755), 0);
  auto k = load_or_create_key(dir / "blob.key");
  ASSERT_TRUE(k.ok()) << k.error().message;
  EXPECT_EQ(mode_of(dir / "blob.key"), 0600u);
  EXPECT_EQ(mode_of(dir), 0755u);
}

TEST(KeyFile, WrongSizeIsCorruptAndTheFileIsNotReplaced) {
  TempDir d;
  for (size_t size : {size_t{0}, size_t{31}, size_t{33}, size_t{64}}) {
    SCOPED_TRACE(size);
    fs::path file = d.path() / ("blob" + std::to_string(size) + ".key");
    std::string content(size, '\x5a');
    std::ofstream(file, std::ios::binary) << content;
    auto k = load_or_create_key(file);
    ASSERT_FALSE(k.ok());
    EXPECT_EQ(k.error().code, Errc::corrupt);
    EXPECT_NE(k.error().message.find(file.string()), std::string::npos) << k.error().message;
    EXPECT_NE(k.error().message.find("32 bytes"), std::string::npos) << k.error().message;
    EXPECT_EQ(read_file(file), content);  // untouched: the operator restores it from backup
    // And still refused the second time: nothing was "repaired" behind the operator's back.
    auto again = load_or_create_key(file);
    ASSERT_FALSE(again.ok());
    EXPECT_EQ(again.error().code, Errc::corrupt);
  }
}

TEST(KeyFile, ReadableByGroupOrOthersIsRefused) {
  TempDir d;
  fs::path file = d.path() / "keys" / "blob.key";
  ASSERT_TRUE(load_or_create_key(file).ok());
  for (mode_t mode : {0644, 0640, 0604, 0660, 0602}) {
    SCOPED_TRACE(mode);
    ASSERT_EQ(::chmod(file.c_str(), mode), 0);
    auto k = load_or_create_key(file);
    ASSERT_FALSE(k.ok());
    EXPECT_EQ(k.error().code, Errc::permission_denied);
    EXPECT_NE(k.error().message.find(file.string()), std::string::npos) << k.error().message;
    EXPECT_NE(k.error().message.find("chmod 600"), std::string::npos) << k.error().message;
  }
  ASSERT_EQ(::chmod(file.c_str(), 0400), 0);  // read-only for the owner is fine
  EXPECT_TRUE(load_or_create_key(file).ok());
  // A group-readable file where the caller allows it (TLS keys and the ssl-cert group).
  ASSERT_EQ(::chmod(file.c_str(), 0640), 0);
  EXPECT_TRUE(check_private_mode(file, "the TLS key", 040).ok());
  EXPECT_FALSE(check_private_mode(file, "the TLS key").ok());
  EXPECT_TRUE(check_private_mode(d.path() / "absent", "nothing").ok());
}

TEST(KeyFile, UnreadablePathIsAnIoErrorNamingThePath) {
  TempDir d;
  fs::path not_a_dir = d.path() / "file";
  std::ofstream(not_a_dir) << "x";
  auto k = load_or_create_key(not_a_dir / "blob.key");  // parent is a regular file: ENOTDIR
  ASSERT_FALSE(k.ok());
  EXPECT_EQ(k.error().code, Errc::io);
  EXPECT_NE(k.error().message.find((not_a_dir / "blob.key").string()), std::string::npos) << k.error().message;
}

}  // namespace
}  // namespace caremail::crypto

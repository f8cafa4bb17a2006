// Cryptographic primitives used by the store and the core, all from libsodium.
// Thread-safe after init() has returned.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.hpp"

namespace caremail::crypto {

// Must be called once before any other function (sodium_init). Aborts when libsodium
// cannot initialise: there is no safe way on.
void init();

// SHA-256 of `data` as 64 lower-case hex digits (content address of a blob).
std::string sha256_hex(std::string_view data);

// Incremental SHA-256, for content that arrives in pieces.
// SHA-256 through OpenSSL, which uses the CPU's SHA instructions where it has them: 1.7 GB/s
// on this machine's EPYC against libsodium's portable 83 MB/s (1.2 ms for every 100 KB
// message hashed into its blob id, most of a single SMTP connection's delivery time).
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void update(std::string_view data);
  std::string hex();  // finishes; the object must not be updated afterwards
 private:
  void* ctx_;  // EVP_MD_CTX
};

// Argon2id (interactive limits unless `strong`) in the PHC string format. Empty on
// out-of-memory, which callers report as a temporary error.
//
// Both are counted: caremail_password_hashes_total, and caremail_password_hashes_off_pool_total
// for those on a thread not marked with set_hashing_thread (in caremaild that is every
// thread but the hashing pool's: a hash there would take a worker that delivers mail; the
// integration tests assert it stays 0). Thread-safe.
std::string hash_password(std::string_view password);
bool verify_password(std::string_view phc, std::string_view password);
// Marks (or unmarks) the calling thread as one of the password-hashing pool's.
void set_hashing_thread(bool on);
// Argon2id computations so far in this process, all threads; and those off the pool.
uint64_t password_hashes();
uint64_t password_hashes_off_pool();

// `n` random bytes as URL-safe base64 (no padding); for tokens and one-time passwords.
std::string random_token(size_t n = 32);

// Standard base64 (RFC 4648, with padding). Decoding ignores nothing: whitespace or a bad
// character gives nullopt.
std::string base64_encode(std::string_view data);
std::optional<std::string> base64_decode(std::string_view text);

// Keyed BLAKE2b-256 of `data` (a MAC; `key` must be secret and random). For values that
// must be recognised later without being kept, e.g. a password that verified recently.
std::array<unsigned char, 32> keyed_hash(const std::array<unsigned char, 32>& key, std::string_view data);

// Constant-time equality for secrets.
bool equal_ct(std::string_view a, std::string_view b);

// At-rest key for blobs (XChaCha20-Poly1305, 32 bytes).
using Key = std::array<unsigned char, 32>;

// Ok when `file` does not exist or gives no permission to its group or others beyond
// `allowed` (e.g. 040: group-readable, for TLS keys shared through a group such as Debian's
// ssl-cert); else Errc::permission_denied with a message naming the file, `what` it is and
// the fix (chmod 600).
Status check_private_mode(const std::filesystem::path& file, std::string_view what, unsigned allowed = 0);

// Reads the key file, or creates it (mode 0600, directory 0700) when it does not exist.
// A key file of the wrong size is an error, never silently replaced; an existing one that
// its group or others may read is refused (check_private_mode).
Result<Key> load_or_create_key(const std::filesystem::path& file);

// Seals `plain` with a random nonce; `aad` binds the ciphertext to its identity (the blob
// id), so that one blob cannot be substituted for another. Output: nonce || ciphertext||tag.
std::string seal(const Key& key, std::string_view plain, std::string_view aad);
// Opens what seal() produced. Errc::corrupt when the tag does not verify.
Result<std::string> open(const Key& key, std::string_view sealed, std::string_view aad);

constexpr size_t kSealOverhead = 24 + 16;  // nonce + tag

// seal() in pieces, for data too large to hold twice (a spooled 35 MB message): the same
// construction (XChaCha20-Poly1305 IETF, libsodium's crypto_aead_xchacha20poly1305_ietf),
// so open() reads the result. Output, in order: nonce(), then update()'s ciphertext for
// each piece, then finish()'s tag. REQUIRES: every piece but the last a multiple of
// kSealPiece octets (the cipher's position is counted in 64-octet blocks).
class StreamSealer {
 public:
  static constexpr size_t kSealPiece = 64;
  StreamSealer(const Key& key, std::string_view aad);
  ~StreamSealer();
  StreamSealer(const StreamSealer&) = delete;
  StreamSealer& operator=(const StreamSealer&) = delete;
  std::string_view nonce() const;
  // Encrypts `plain` into `out` (plain.size() octets; may be the same memory).
  void update(std::string_view plain, char* out);
  std::array<unsigned char, 16> finish();

 private:
  struct State;
  std::unique_ptr<State> st_;
};

}  // namespace caremail::crypto

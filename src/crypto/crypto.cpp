#include "crypto/crypto.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <openssl/evp.h>
#include <sodium.h>

#include "common/metrics.hpp"

namespace caremail::crypto {

void init() {
  if (sodium_init() < 0) {
    std::fprintf(stderr, "caremail: libsodium failed to initialise\n");
    std::abort();
  }
}


namespace {

// Fetched once: an implicit fetch in every EVP_DigestInit_ex costs a lookup per message.
const EVP_MD* sha256_md() {
  static EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  return md;
}

[[noreturn]] void digest_failed() {
  // Out of memory or a broken OpenSSL: a content address must never be guessed.
  std::fprintf(stderr, "caremail: SHA-256 failed in OpenSSL\n");
  std::abort();
}

}  // namespace

Sha256::Sha256() : ctx_(EVP_MD_CTX_new()) {
  if (ctx_ == nullptr || sha256_md() == nullptr ||
      EVP_DigestInit_ex(static_cast<EVP_MD_CTX*>(ctx_), sha256_md(), nullptr) != 1)
    digest_failed();
}

Sha256::~Sha256() { EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(ctx_)); }

void Sha256::update(std::string_view data) {
  if (EVP_DigestUpdate(static_cast<EVP_MD_CTX*>(ctx_), data.data(), data.size()) != 1) digest_failed();
}

std::string Sha256::hex() {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (EVP_DigestFinal_ex(static_cast<EVP_MD_CTX*>(ctx_), out, &n) != 1 || n != 32) digest_failed();
  char hex[65];
  sodium_bin2hex(hex, sizeof hex, out, n);
  return std::string(hex, 64);
}

std::string sha256_hex(std::string_view data) {
  Sha256 h;
  h.update(data);
  return h.hex();
}

namespace {
thread_local bool t_hashing_thread = false;
metrics::Counter& hashes_total() {
  static auto& c = metrics::counter("caremail_password_hashes_total", "Argon2id computations (hash or verify)");
  return c;
}
metrics::Counter& hashes_off_pool() {
  static auto& c = metrics::counter("caremail_password_hashes_off_pool_total",
                                    "Argon2id computations outside the password-hashing pool");
  return c;
}
void count_hash() {
  hashes_total().inc();
  if (!t_hashing_thread) hashes_off_pool().inc();
}
}  // namespace

void set_hashing_thread(bool on) { t_hashing_thread = on; }
uint64_t password_hashes() { return hashes_total().value(); }
uint64_t password_hashes_off_pool() { return hashes_off_pool().value(); }

std::string hash_password(std::string_view password) {
  count_hash();
  char out[crypto_pwhash_STRBYTES];
  if (crypto_pwhash_str(out, password.data(), password.size(), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                        crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0)
    return {};
  return out;
}

bool verify_password(std::string_view phc, std::string_view password) {
  if (phc.empty() || phc.size() >= crypto_pwhash_STRBYTES) return false;
  count_hash();
  char buf[crypto_pwhash_STRBYTES] = {};
  std::memcpy(buf, phc.data(), phc.size());
  return crypto_pwhash_str_verify(buf, password.data(), password.size()) == 0;
}

std::string random_token(size_t n) {
  std::string raw(n, '\0');
  randombytes_buf(raw.data(), n);
  std::string out(sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_URLSAFE_NO_PADDING), '\0');
  sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(raw.data()), n,
                    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  out.resize(std::strlen(out.c_str()));
  sodium_memzero(raw.data(), raw.size());
  return out;
}

std::string base64_encode(std::string_view data) {
  std::string out(sodium_base64_ENCODED_LEN(data.size(), sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(data.data()), data.size(),
                    sodium_base64_VARIANT_ORIGINAL);
  out.resize(std::strlen(out.c_str()));
  return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
  std::string out(text.size() / 4 * 3 + 3, '\0');
  size_t len = 0;
  const char* end = nullptr;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), text.data(), text.size(), nullptr,
                        &len, &end, sodium_base64_VARIANT_ORIGINAL) != 0 ||
      end != text.data() + text.size())
    return std::nullopt;
  out.resize(len);
  return out;
}

std::array<unsigned char, 32> keyed_hash(const std::array<unsigned char, 32>& key, std::string_view data) {
  std::array<unsigned char, 32> out{};
  crypto_generichash(out.data(), out.size(), reinterpret_cast<const unsigned char*>(data.data()), data.size(),
                     key.data(), key.size());
  return out;
}

bool equal_ct(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

Status check_private_mode(const std::filesystem::path& file, std::string_view what, unsigned allowed) {
  struct stat st{};
  if (::stat(file.c_str(), &st) != 0) return {};  // absent: whoever creates it makes it 0600
  unsigned extra = static_cast<unsigned>(st.st_mode) & 077u & ~allowed;
  if (extra == 0) return {};
  char mode[8];
  std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode) & 07777u);
  return make_error(Errc::permission_denied,
                    file.string() + ": " + std::string(what) + " is readable by " +
                        ((extra & 070u) && (extra & 007u) ? "its group and others"
                         : (extra & 070u)                 ? "its group"
                                                          : "others") +
                        " (mode " + mode + "); refusing to start: run 'chmod 600 " + file.string() +
                        "' and consider the secret exposed (who else could have read it?)");
}

Result<Key> load_or_create_key(const std::filesystem::path& file) {
  Key key{};
  int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    ssize_t n = ::read(fd, key.data(), key.size());
    char extra;
    ssize_t more = ::read(fd, &extra, 1);
    ::close(fd);
    if (n != static_cast<ssize_t>(key.size()) || more != 0)
      return make_error(Errc::corrupt, file.string() +
                        ": blob key file is not exactly 32 bytes; restore it from backup "
                        "(without it stored mail cannot be read)");
    // Whoever can read the key can read every stored message: a copy restored with the
    // wrong mode, or a umask of 022, must not go unnoticed.
    if (Status s = check_private_mode(file, "the blob key"); !s) return s.error();
    return key;
  }
  if (errno != ENOENT)
    return make_error(Errc::io, file.string() + ": cannot read blob key file: " + std::strerror(errno));
  std::error_code ec;
  // Tighten only a directory created here: a key_file placed in an existing shared
  // directory (/tmp, /etc/caremail) must not change that directory's mode (found by
  // crypto_test).
  if (std::filesystem::create_directories(file.parent_path(), ec))
    ::chmod(file.parent_path().c_str(), 0700);
  crypto_aead_xchacha20poly1305_ietf_keygen(key.data());
  std::string tmp = file.string() + ".tmp";
  fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return make_error(Errc::io, tmp + ": cannot create blob key file: " + std::strerror(errno));
  bool ok = ::write(fd, key.data(), key.size()) == static_cast<ssize_t>(key.size()) && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), file.c_str()) != 0)
    return make_error(Errc::io, file.string() + ": cannot write blob key file: " + std::strerror(errno));
  int dfd = ::open(file.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) { ::fsync(dfd); ::close(dfd); }
  return key;
}

std::string seal(const Key& key, std::string_view plain, std::string_view aad) {
  std::string out(crypto_aead_xchacha20poly1305_ietf_NPUBBYTES + plain.size() +
                      crypto_aead_xchacha20poly1305_ietf_ABYTES,
                  '\0');
  auto* nonce = reinterpret_cast<unsigned char*>(out.data());
  randombytes_buf(nonce, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
  unsigned long long clen = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(
      nonce + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES, &clen,
      reinterpret_cast<const unsigned char*>(plain.data()), plain.size(),
      reinterpret_cast<const unsigned char*>(aad.data()), aad.size(), nullptr, nonce, key.data());
  return out;
}

Result<std::string> open(const Key& key, std::string_view sealed, std::string_view aad) {
  constexpr size_t nb = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
  constexpr size_t ab = crypto_aead_xchacha20poly1305_ietf_ABYTES;
  if (sealed.size() < nb + ab) return make_error(Errc::corrupt, "sealed data is truncated");
  std::string plain(sealed.size() - nb - ab, '\0');
  unsigned long long plen = 0;
  const auto* nonce = reinterpret_cast<const unsigned char*>(sealed.data());
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(
          reinterpret_cast<unsigned char*>(plain.data()), &plen, nullptr, nonce + nb, sealed.size() - nb,
          reinterpret_cast<const unsigned char*>(aad.data()), aad.size(), nonce, key.data()) != 0)
    return make_error(Errc::corrupt, "authentication tag does not verify (data altered or wrong key)");
  plain.resize(plen);
  return plain;
}

struct StreamSealer::State {
  unsigned char nonce[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES];
  unsigned char subkey[crypto_stream_chacha20_ietf_KEYBYTES];
  unsigned char inner_nonce[crypto_stream_chacha20_ietf_NONCEBYTES] = {};
  crypto_onetimeauth_poly1305_state mac;
  uint64_t aad_len = 0;
  uint64_t len = 0;
};

namespace {
const unsigned char kPad0[16] = {};
void store64_le(unsigned char* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<unsigned char>(v >> (8 * i));
}
}  // namespace

// As libsodium's crypto_aead_xchacha20poly1305_ietf_encrypt_detached: HChaCha20 derives a
// subkey from the key and the nonce's first 16 octets; ChaCha20 (IETF) with the last 8
// encrypts from block 1, block 0's keystream keys Poly1305 over aad, pad, ciphertext, pad,
// and both lengths.
StreamSealer::StreamSealer(const Key& key, std::string_view aad) : st_(std::make_unique<State>()) {
  randombytes_buf(st_->nonce, sizeof st_->nonce);
  crypto_core_hchacha20(st_->subkey, st_->nonce, key.data(), nullptr);
  std::memcpy(st_->inner_nonce + 4, st_->nonce + crypto_core_hchacha20_INPUTBYTES, 8);
  unsigned char block0[64];
  crypto_stream_chacha20_ietf(block0, sizeof block0, st_->inner_nonce, st_->subkey);
  crypto_onetimeauth_poly1305_init(&st_->mac, block0);
  sodium_memzero(block0, sizeof block0);
  crypto_onetimeauth_poly1305_update(&st_->mac, reinterpret_cast<const unsigned char*>(aad.data()), aad.size());
  crypto_onetimeauth_poly1305_update(&st_->mac, kPad0, (0x10 - aad.size()) & 0xf);
  st_->aad_len = aad.size();
}

StreamSealer::~StreamSealer() { sodium_memzero(st_->subkey, sizeof st_->subkey); }

std::string_view StreamSealer::nonce() const {
  return {reinterpret_cast<const char*>(st_->nonce), sizeof st_->nonce};
}

void StreamSealer::update(std::string_view plain, char* out) {
  auto* c = reinterpret_cast<unsigned char*>(out);
  crypto_stream_chacha20_ietf_xor_ic(c, reinterpret_cast<const unsigned char*>(plain.data()), plain.size(),
                                     st_->inner_nonce, static_cast<uint32_t>(1 + st_->len / 64), st_->subkey);
  crypto_onetimeauth_poly1305_update(&st_->mac, c, plain.size());
  st_->len += plain.size();
}

std::array<unsigned char, 16> StreamSealer::finish() {
  crypto_onetimeauth_poly1305_update(&st_->mac, kPad0, (0x10 - st_->len) & 0xf);
  unsigned char lens[16];
  store64_le(lens, st_->aad_len);
  store64_le(lens + 8, st_->len);
  crypto_onetimeauth_poly1305_update(&st_->mac, lens, sizeof lens);
  std::array<unsigned char, 16> tag{};
  crypto_onetimeauth_poly1305_final(&st_->mac, tag.data());
  return tag;
}

}  // namespace caremail::crypto

#include "identity/password_lists.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <utility>

#include <openssl/evp.h>

namespace caremail::identity {

namespace detail {
// Generated at build time from data/common-passwords.txt (src/identity/embed_file.cmake).
extern const unsigned char kCommonPasswordList[];
extern const size_t kCommonPasswordListSize;
}  // namespace detail

std::string_view shipped_common_password_list() noexcept {
  return {reinterpret_cast<const char*>(detail::kCommonPasswordList), detail::kCommonPasswordListSize};
}

namespace {

char lower_ascii(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string lower_ascii(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = lower_ascii(c);
  return out;
}

// Characters that guessing tools add around a word: ASCII digits, punctuation, space.
// Locale-free on purpose (std::ispunct depends on the C locale).
bool is_padding(char c) {
  auto u = static_cast<unsigned char>(c);
  if (u >= 0x80) return false;
  bool letter = (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z');
  return !letter && u >= 0x20 && u != 0x7f;
}

std::string_view strip_padding(std::string_view s) {
  while (!s.empty() && is_padding(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_padding(s.back())) s.remove_suffix(1);
  return s;
}

}  // namespace

void CommonPasswords::add_text(std::string_view text) {
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty() || line.starts_with("#!")) continue;
    entries_.insert(lower_ascii(line));
  }
}

CommonPasswords CommonPasswords::from_text(std::string_view list_text) {
  CommonPasswords c;
  c.add_text(list_text);
  return c;
}

Result<CommonPasswords> CommonPasswords::load(std::span<const std::filesystem::path> extra_files) {
  CommonPasswords c;
  c.entries_.reserve(4096);
  c.add_text(shipped_common_password_list());
  for (const auto& file : extra_files) {
    std::ifstream in(file, std::ios::binary);
    if (!in)
      return make_error(Errc::io, file.string() + ": cannot read common-password list: " + std::strerror(errno));
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (in.bad()) return make_error(Errc::io, file.string() + ": read error in common-password list");
    c.add_text(text);
  }
  return c;
}

bool CommonPasswords::contains_entry(std::string_view entry) const { return entries_.find(entry) != entries_.end(); }

bool CommonPasswords::is_common(std::string_view password) const {
  const std::string lower = lower_ascii(password);
  auto common_or_core_common = [this](std::string_view s) {
    if (contains_entry(s)) return true;
    std::string_view core = strip_padding(s);
    return !core.empty() && core.size() != s.size() && contains_entry(core);
  };
  if (common_or_core_common(lower)) return true;
  // Rule 3: every way of seeing the password as one unit repeated (a 256-byte password
  // has few divisors, so trying them all is cheap).
  const std::string_view l = lower;
  for (size_t unit = 1; unit <= l.size() / 2; ++unit) {
    if (l.size() % unit != 0) continue;
    bool repeated = true;
    for (size_t i = unit; i < l.size() && repeated; ++i) repeated = l[i] == l[i - unit];
    if (repeated && common_or_core_common(l.substr(0, unit))) return true;
  }
  return false;
}

// ---------------------------------------------------------------------------------------
// BreachedList

std::string sha1_hex_upper(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  // EVP_Digest with the default provider cannot fail for SHA-1 short of memory exhaustion,
  // which is our own invariant broken, not an input problem.
  if (EVP_Digest(data.data(), data.size(), md, &len, EVP_sha1(), nullptr) != 1 || len != 20) std::abort();
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out(40, '\0');
  for (unsigned i = 0; i < 20; ++i) {
    out[2 * i] = kHex[md[i] >> 4];
    out[2 * i + 1] = kHex[md[i] & 0xf];
  }
  return out;
}

namespace {

constexpr size_t kHashLen = 40;

char upper_ascii(char c) { return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c; }

bool is_hex_upper(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F'); });
}

// Reads up to `n` bytes at `off`; fewer only at end of file. -1 with errno on error.
ssize_t pread_full(int fd, char* buf, size_t n, uint64_t off) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = ::pread(fd, buf + got, n - got, static_cast<off_t>(off + got));
    if (r < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    if (r == 0) break;
    got += static_cast<size_t>(r);
  }
  return static_cast<ssize_t>(got);
}

// The file as a sequence of lines, read a few bytes at a time.
struct LineReader {
  int fd;
  uint64_t size;

  // Offset of the first line that starts at or after `p` (a line starts at 0 or after
  // '\n'); `size` when there is none.
  Result<uint64_t> next_line_start(uint64_t p) const {
    if (p == 0) return uint64_t{0};
    char buf[256];
    for (uint64_t at = p - 1; at < size;) {
      ssize_t n = pread_full(fd, buf, sizeof buf, at);
      if (n < 0) return make_error(Errc::io, std::strerror(errno));
      if (n == 0) break;
      const void* nl = std::memchr(buf, '\n', static_cast<size_t>(n));
      if (nl) return at + static_cast<uint64_t>(static_cast<const char*>(nl) - buf) + 1;
      at += static_cast<uint64_t>(n);
    }
    return size;
  }

  // The hash of the line starting at `s`, upper-cased: the bytes before ':' or the line
  // end, at most 48 of them (longer is not a hash; enough to compare and to reject).
  Result<std::string> key_at(uint64_t s) const {
    char buf[48];
    ssize_t n = pread_full(fd, buf, sizeof buf, s);
    if (n < 0) return make_error(Errc::io, std::strerror(errno));
    std::string key;
    for (ssize_t i = 0; i < n && buf[i] != ':' && buf[i] != '\r' && buf[i] != '\n'; ++i)
      key.push_back(upper_ascii(buf[i]));
    return key;
  }
};

}  // namespace

BreachedList::BreachedList(int fd, uint64_t size, std::filesystem::path path)
    : fd_(fd), size_(size), path_(std::move(path)) {}

BreachedList::BreachedList(BreachedList&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), size_(other.size_), path_(std::move(other.path_)) {}

BreachedList& BreachedList::operator=(BreachedList&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    size_ = other.size_;
    path_ = std::move(other.path_);
  }
  return *this;
}

BreachedList::~BreachedList() {
  if (fd_ >= 0) ::close(fd_);
}

Result<BreachedList> BreachedList::open(const std::filesystem::path& path) {
  const std::string name = path.string();
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    return make_error(e == ENOENT ? Errc::not_found : Errc::io,
                      name + ": cannot open breached-password list: " + std::strerror(e));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return make_error(Errc::io, name + ": breached-password list is not a readable regular file");
  }
  BreachedList list(fd, static_cast<uint64_t>(st.st_size), path);
  if (list.size_ == 0) return make_error(Errc::corrupt, name + ": breached-password list is empty");

  // Sample lines across the file: each must be a SHA-1 in hex, and they must ascend.
  // 64 samples cost 128 small reads; enough to catch a wrong or unsorted download.
  const LineReader r{list.fd_, list.size_};
  constexpr uint64_t kSamples = 64;
  std::string prev;
  for (uint64_t i = 0; i < kSamples; ++i) {
    uint64_t p = list.size_ * i / kSamples;
    auto s = r.next_line_start(p);
    if (!s) return make_error(Errc::io, name + ": read error in breached-password list: " + s.error().message);
    if (*s >= list.size_) continue;
    auto key = r.key_at(*s);
    if (!key) return make_error(Errc::io, name + ": read error in breached-password list: " + key.error().message);
    if (key->empty()) continue;  // a blank last line
    if (key->size() != kHashLen || !is_hex_upper(*key))
      return make_error(Errc::corrupt, name + ": line at byte " + std::to_string(*s) +
                                           " is not a SHA-1 hash in hex; use the SHA-1 "
                                           "Pwned Passwords list ordered by hash");
    if (*key < prev)
      return make_error(Errc::corrupt, name + ": breached-password list is not sorted by hash (line at byte " +
                                           std::to_string(*s) + "); use the list ordered by hash");
    prev = std::move(*key);
  }
  if (prev.empty()) return make_error(Errc::corrupt, name + ": breached-password list holds no hashes");
  return list;
}

Result<bool> BreachedList::find_sha1_hex(std::string_view hex) const {
  if (hex.size() != kHashLen) return false;
  std::string target(hex);
  for (char& c : target) c = upper_ascii(c);
  if (!is_hex_upper(target)) return false;

  // Binary search over byte offsets. Invariant: if the target's line exists, it starts in
  // [lo, hi). For mid in that range, s is the first line start at or after mid: a key
  // below the target puts the target after s; above it (or no line start before hi) puts
  // it before mid. Each step is one or two small preads.
  const LineReader r{fd_, size_};
  uint64_t lo = 0;
  uint64_t hi = size_;
  while (lo < hi) {
    uint64_t mid = lo + (hi - lo) / 2;
    auto s = r.next_line_start(mid);
    if (!s) return make_error(Errc::io, path_.string() + ": " + s.error().message);
    if (*s >= hi) {
      hi = mid;
      continue;
    }
    auto key = r.key_at(*s);
    if (!key) return make_error(Errc::io, path_.string() + ": " + key.error().message);
    // A blank line (only ever seen at the end of a well-formed file) sorts last.
    int cmp = key->empty() ? 1 : key->compare(target);
    if (cmp == 0) return true;
    if (cmp < 0)
      lo = *s + 1;
    else
      hi = mid;
  }
  return false;
}

Result<bool> BreachedList::find(std::string_view password) const { return find_sha1_hex(sha1_hex_upper(password)); }

bool BreachedList::contains(std::string_view password) const {
  auto r = find(password);
  return r.ok() && *r;
}

}  // namespace caremail::identity

#include "store/blob/fs_blob_store.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <optional>

#include "store/store.hpp"

namespace caremail {

namespace {

// Blob file header (little-endian), 16 bytes:
//   0  4  magic "CMBL"
//   4  1  format version (1)
//   5  1  flags: bit 0 = payload sealed (XChaCha20-Poly1305, nonce || ct || tag)
//   6  2  reserved, zero
//   8  8  plaintext length
constexpr char kMagic[4] = {'C', 'M', 'B', 'L'};
constexpr uint8_t kVersion = 1;
constexpr uint8_t kFlagSealed = 1;
constexpr size_t kHeaderSize = 16;

std::string make_header(bool sealed, uint64_t len) {
  std::string h(kHeaderSize, '\0');
  std::memcpy(h.data(), kMagic, 4);
  h[4] = static_cast<char>(kVersion);
  h[5] = static_cast<char>(sealed ? kFlagSealed : 0);
  for (int i = 0; i < 8; ++i) h[8 + i] = static_cast<char>((len >> (8 * i)) & 0xff);
  return h;
}

Error io_error(const std::string& what, int err) {
  // ENOSPC/EDQUOT/EIO are conditions an operator fixes; the sender retries later.
  Errc code = (err == ENOSPC || err == EDQUOT || err == EIO || err == EINTR || err == EAGAIN) ? Errc::temporary
                                                                                               : Errc::io;
  std::string msg = what + ": " + std::strerror(err);
  if (err == ENOSPC) msg += " (disk full)";
  return make_error(code, msg);
}

Status write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return io_error("write blob", errno);
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return {};
}

Status fsync_dir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return io_error("open " + dir, errno);
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) return io_error("fsync " + dir, err);
  return {};
}

std::atomic<uint64_t> g_tmp_counter{0};

}  // namespace

bool valid_blob_id(std::string_view id) {
  if (id.size() != 64) return false;
  for (char c : id)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

Result<std::unique_ptr<FsBlobStore>> FsBlobStore::open(const std::filesystem::path& root,
                                                        std::optional<crypto::Key> key) {
  std::error_code ec;
  std::filesystem::create_directories(root / "tmp", ec);
  if (ec) return make_error(Errc::io, root.string() + ": cannot create blob directory: " + ec.message());
  // Temporary files belong to writes that never returned: nothing refers to them.
  for (auto& e : std::filesystem::directory_iterator(root / "tmp", ec)) std::filesystem::remove(e.path(), ec);
  return std::unique_ptr<FsBlobStore>(new FsBlobStore(root, key));
}

std::filesystem::path FsBlobStore::path_for(std::string_view id) const {
  return root_ / std::string(id.substr(0, 2)) / std::string(id.substr(2, 2)) / std::string(id);
}

Status FsBlobStore::ensure_dir(const std::filesystem::path& dir) {
  {
    std::lock_guard lk(dirs_mu_);
    if (known_dirs_.count(dir.string())) return {};
  }
  // Create both levels; each new directory's entry lives in its parent, which is synced
  // at once (this happens at most 65,536 times in the life of a store), so that the
  // group-commit sync only ever needs the leaf directory of each blob.
  for (const auto& d : {dir.parent_path(), dir}) {
    if (::mkdir(d.c_str(), 0700) == 0) {
      if (Status s = fsync_dir(d.parent_path().string()); !s) return s;
    } else if (errno != EEXIST) {
      return io_error("mkdir " + d.string(), errno);
    }
  }
  std::lock_guard lk(dirs_mu_);
  known_dirs_.insert(dir.string());
  return {};
}

std::string FsBlobStore::seal_record(std::string_view data, std::string_view id) const {
  std::string header = make_header(key_.has_value(), data.size());
  if (!key_) return header.append(data);
  std::string aad = header + std::string(id);
  return header + crypto::seal(*key_, data, aad);
}

namespace {

class MemorySource final : public BlobSource {
 public:
  explicit MemorySource(std::string_view data) : data_(data) {}
  uint64_t size() const override { return data_.size(); }
  bool read(uint64_t offset, char* out, size_t len) const override {
    std::memcpy(out, data_.data() + offset, len);
    return true;
  }

 private:
  std::string_view data_;
};

}  // namespace

Result<std::string> content_id(const BlobSource& source) {
  crypto::Sha256 h;
  std::string piece(std::min<uint64_t>(source.size(), FsBlobStore::kPiece), '\0');
  for (uint64_t off = 0; off < source.size();) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(piece.size(), source.size() - off));
    if (!source.read(off, piece.data(), n)) return make_error(Errc::io, "cannot read the message to hash it");
    h.update(std::string_view(piece.data(), n));
    off += n;
  }
  return h.hex();
}

Result<BlobRef> FsBlobStore::put(std::string_view data) { return put_with_id(data, crypto::sha256_hex(data)); }

Result<BlobRef> FsBlobStore::put_with_id(std::string_view data, std::string_view id) {
  return put_with_id(MemorySource(data), id);
}

Status FsBlobStore::write_record(int fd, const BlobSource& source, std::string_view id) const {
  // The bytes seal_record() makes, a piece at a time: header, then the payload in clear or
  // nonce || ciphertext || tag.
  const std::string header = make_header(key_.has_value(), source.size());
  if (Status s = write_all(fd, header); !s) return s;
  std::optional<crypto::StreamSealer> sealer;
  if (key_) {
    sealer.emplace(*key_, header + std::string(id));
    if (Status s = write_all(fd, sealer->nonce()); !s) return s;
  }
  static_assert(kPiece % crypto::StreamSealer::kSealPiece == 0);
  std::string piece(static_cast<size_t>(std::min<uint64_t>(source.size(), kPiece)), '\0');
  for (uint64_t off = 0; off < source.size();) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(piece.size(), source.size() - off));
    if (!source.read(off, piece.data(), n))
      return make_error(Errc::temporary, "cannot read the message to store it (blob " + std::string(id) + ")");
    if (sealer) sealer->update(std::string_view(piece.data(), n), piece.data());
    if (Status s = write_all(fd, std::string_view(piece.data(), n)); !s) return s;
    off += n;
  }
  if (sealer) {
    auto tag = sealer->finish();
    if (Status s = write_all(fd, std::string_view(reinterpret_cast<const char*>(tag.data()), tag.size())); !s)
      return s;
  }
  return {};
}

Result<BlobRef> FsBlobStore::put_with_id(const BlobSource& source, std::string_view id) {
  if (!valid_blob_id(id)) return make_error(Errc::invalid_argument, "bad blob id");
  BlobRef ref{std::string(id), source.size()};
  auto final_path = path_for(id);
  const std::string dir = final_path.parent_path().string();
  struct stat st{};
  if (::stat(final_path.c_str(), &st) == 0) {
    // Stored once, whoever holds it. The writer that created it may not have synced its
    // directory entry yet, and our commit must not depend on that writer: sync it here.
    if (Status s = fsync_dir(dir); !s) return s.error();
    return ref;
  }
  if (Status s = ensure_dir(final_path.parent_path()); !s) return s.error();

  // Preferred: an unnamed file in the target directory (O_TMPFILE), linked into place once
  // complete. A crash leaves nothing behind, and writers never contend on one shared
  // temporary directory. Fallback (file systems without O_TMPFILE): a named file in
  // <root>/tmp, renamed into place; open() removes leftovers of a crash.
  std::string tmp;
  int fd = ::open(dir.c_str(), O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
  if (fd < 0) {
    if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL) return io_error("create blob in " + dir, errno);
    tmp = (root_ / "tmp" / (std::string(id) + "." + std::to_string(::getpid()) + "." +
                            std::to_string(g_tmp_counter.fetch_add(1))))
              .string();
    fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) return io_error("create " + tmp, errno);
  }
  Status w = write_record(fd, source, id);
  if (w && ::fsync(fd) != 0) w = io_error("fsync blob " + std::string(id), errno);
  if (w) {
    int rc;
    if (tmp.empty()) {
      std::string proc = "/proc/self/fd/" + std::to_string(fd);
      rc = ::linkat(AT_FDCWD, proc.c_str(), AT_FDCWD, final_path.c_str(), AT_SYMLINK_FOLLOW);
    } else {
      rc = ::rename(tmp.c_str(), final_path.c_str());
    }
    // EEXIST: a concurrent writer of the same content won; its bytes are ours.
    if (rc != 0 && errno != EEXIST) w = io_error("link blob into " + final_path.string(), errno);
  }
  ::close(fd);
  if (!tmp.empty()) ::unlink(tmp.c_str());  // no-op after a successful rename
  if (!w) return w.error();
  // The new directory entry is made durable by this writer, in parallel with other writers,
  // rather than serially in the group-commit hook (measured: the serial hook capped
  // delivery at ~0.56x the disk's single-thread fsync rate; see bench/README.md).
  if (Status s = fsync_dir(dir); !s) return s.error();
  return ref;
}

Status FsBlobStore::sync() {
  // put() makes each blob and its directory entry durable before it returns.
  return {};
}

Result<std::string> FsBlobStore::get(std::string_view id) {
  if (!valid_blob_id(id)) return make_error(Errc::invalid_argument, "bad blob id");
  auto path = path_for(id);
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno != ENOENT) return io_error("open " + path.string(), errno);
    if (inline_reader_) {
      auto record = inline_reader_(id);
      if (!record) return record.error();
      if (*record) return open_record(id, **record);
    }
    return make_error(Errc::corrupt, "blob " + std::string(id) + " is missing from the store");
  }
  struct stat st{};
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    return io_error("stat " + path.string(), err);
  }
  std::string raw(static_cast<size_t>(st.st_size), '\0');
  size_t got = 0;
  while (got < raw.size()) {
    ssize_t n = ::read(fd, raw.data() + got, raw.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  ::close(fd);
  raw.resize(got);
  return open_record(id, raw);
}

Result<std::string> FsBlobStore::open_record(std::string_view id, const std::string& raw) const {
  auto corrupt = [&](const std::string& why) {
    return make_error(Errc::corrupt, "blob " + std::string(id) + " is corrupt: " + why);
  };
  if (raw.size() < kHeaderSize || std::memcmp(raw.data(), kMagic, 4) != 0) return corrupt("bad header");
  if (static_cast<uint8_t>(raw[4]) != kVersion) return corrupt("unknown format version");
  uint64_t len = 0;
  for (int i = 0; i < 8; ++i) len |= static_cast<uint64_t>(static_cast<uint8_t>(raw[8 + i])) << (8 * i);
  bool sealed = (static_cast<uint8_t>(raw[5]) & kFlagSealed) != 0;
  std::string_view payload(raw.data() + kHeaderSize, raw.size() - kHeaderSize);
  std::string plain;
  if (sealed) {
    if (!key_) return corrupt("blob is encrypted but no key is configured");
    std::string aad = raw.substr(0, kHeaderSize) + std::string(id);
    auto opened = crypto::open(*key_, payload, aad);
    if (!opened) return corrupt(opened.error().message);
    plain = std::move(opened).value();
  } else {
    plain.assign(payload);
    // Unsealed blobs are checked against their content address.
    if (crypto::sha256_hex(plain) != id) return corrupt("content does not match its SHA-256");
  }
  if (plain.size() != len) return corrupt("length does not match header");
  return plain;
}

bool FsBlobStore::exists(std::string_view id) {
  if (!valid_blob_id(id)) return false;
  struct stat st{};
  if (::stat(path_for(id).c_str(), &st) == 0) return true;
  if (!inline_reader_) return false;
  auto record = inline_reader_(id);
  return record && record->has_value();
}

Status FsBlobStore::remove(std::string_view id) {
  if (!valid_blob_id(id)) return make_error(Errc::invalid_argument, "bad blob id");
  auto p = path_for(id);
  if (::unlink(p.c_str()) != 0 && errno != ENOENT) return io_error("unlink " + p.string(), errno);
  return {};
}

void FsBlobStore::pin(const std::string& id) {
  std::unique_lock lk(pin_mu_);
  pin_cv_.wait(lk, [&] { return removing_.count(id) == 0; });
  ++pins_[id];
}

void FsBlobStore::unpin(const std::string& id) {
  std::lock_guard lk(pin_mu_);
  auto it = pins_.find(id);
  if (it != pins_.end() && --it->second == 0) pins_.erase(it);
}

Result<size_t> FsBlobStore::collect_garbage(Store& store, size_t limit) {
  auto dead = store.dead_blobs(limit);
  if (!dead) return dead.error();
  size_t removed = 0;
  for (const auto& id : *dead) {
    {
      std::lock_guard lk(pin_mu_);
      if (pins_.count(id)) continue;  // a delivery of the same content is in flight
      removing_.insert(id);
    }
    Status s;
    auto referenced = store.blob_referenced(id);
    if (!referenced) s = referenced.error();
    else if (!*referenced) s = remove(id);
    if (s) s = store.forget_dead_blob(id);
    {
      std::lock_guard lk(pin_mu_);
      removing_.erase(id);
    }
    pin_cv_.notify_all();
    if (!s) return s.error();
    if (referenced && !*referenced) ++removed;
  }
  return removed;
}

}  // namespace caremail

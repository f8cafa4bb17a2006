// Filesystem BlobStore: one file per blob under <root>/<aa>/<bb>/<sha256>, written as an
// unnamed O_TMPFILE in its directory, fsync'd, linked into place and the directory
// fsync'd, all before put() returns (writers sync in parallel; nothing is left to the
// group-commit hook). The file format (docs/ARCHITECTURE.md,
// "Blob files") is a typed, versioned header followed by the payload, sealed with
// XChaCha20-Poly1305 when a key is given (the AAD binds header and blob id).
//
// Garbage collection and concurrent re-delivery of the same content are kept apart by
// pins: the core pins a blob id from before put() until its metadata commit returned, and
// collect_garbage() never removes a pinned blob. Thread-safe.
#pragma once

#include <condition_variable>
#include <filesystem>
#include <functional>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>

#include "crypto/crypto.hpp"
#include "store/blob_store.hpp"

namespace caremail {

class Store;

class FsBlobStore final : public BlobStore {
 public:
  // `key` absent: blobs are stored in clear (verified by SHA-256 on read).
  // Creates `root` when missing. Removes leftover temporary files of a crashed run.
  static Result<std::unique_ptr<FsBlobStore>> open(const std::filesystem::path& root,
                                                    std::optional<crypto::Key> key);

  // The bytes a blob file for `data` holds (header, then the payload, sealed when a key
  // is configured), for a caller that stores them elsewhere: small messages go into the
  // metadata store with their message row (NewMessage::inline_blob), one fsync for both.
  std::string seal_record(std::string_view data, std::string_view id) const;
  // Where get() and exists() look for a blob that has no file: the metadata store's
  // inline records. Set once, before use.
  using InlineReader = std::function<Result<std::optional<std::string>>(std::string_view id)>;
  void set_inline_reader(InlineReader reader) { inline_reader_ = std::move(reader); }

  Result<BlobRef> put(std::string_view data) override;
  // put() for a caller that already hashed the data (the id must be sha256_hex(data)).
  Result<BlobRef> put_with_id(std::string_view data, std::string_view id);
  // The same from a source read a piece at a time (the id must be content_id(source)):
  // the file is written as it is sealed, and the process never holds more than a piece
  // (kPiece) of it, whatever its size. Errc::temporary when the source cannot be read.
  Result<BlobRef> put_with_id(const BlobSource& source, std::string_view id);
  static constexpr size_t kPiece = 1 << 20;
  Status sync() override;
  Result<std::string> get(std::string_view id) override;
  bool exists(std::string_view id) override;
  Status remove(std::string_view id) override;

  // Pin/unpin: see the class comment. Pinning waits while the blob is being removed.
  void pin(const std::string& id);
  void unpin(const std::string& id);

  // Removes blobs that the store says are dead and unreferenced, skipping pinned ones.
  // Returns how many files were removed.
  Result<size_t> collect_garbage(Store& store, size_t limit);

  std::filesystem::path path_for(std::string_view id) const;

 private:
  FsBlobStore(std::filesystem::path root, std::optional<crypto::Key> key) : root_(std::move(root)), key_(key) {}
  Status ensure_dir(const std::filesystem::path& dir);
  // Writes the blob file's bytes (as seal_record) for `source` to `fd`.
  Status write_record(int fd, const BlobSource& source, std::string_view id) const;
  // Verifies and opens a record (a file's bytes or an inline one).
  Result<std::string> open_record(std::string_view id, const std::string& raw) const;
  InlineReader inline_reader_;

  const std::filesystem::path root_;
  const std::optional<crypto::Key> key_;

  std::mutex dirs_mu_;
  std::set<std::string> known_dirs_;   // guarded by dirs_mu_: shard dirs known to exist

  std::mutex pin_mu_;
  std::condition_variable pin_cv_;
  std::unordered_map<std::string, int> pins_;  // guarded by pin_mu_
  std::set<std::string> removing_;             // guarded by pin_mu_
};

// RAII pin.
class BlobPin {
 public:
  BlobPin(FsBlobStore* s, std::string id) : s_(s), id_(std::move(id)) { if (s_) s_->pin(id_); }
  ~BlobPin() { if (s_) s_->unpin(id_); }
  BlobPin(const BlobPin&) = delete;
  BlobPin& operator=(const BlobPin&) = delete;
 private:
  FsBlobStore* s_;
  std::string id_;
};

}  // namespace caremail

// BlobStore: raw message bodies, content-addressed by SHA-256 and stored once.
//
// Contract (both backends, filesystem now and S3 later):
//  * put() returns only when the bytes are durable, or, for a backend that defers
//    part of that work, once the next sync() has returned: the group-commit hook runs
//    sync() once per batch, before the metadata transaction commits. (The filesystem
//    store defers nothing.)
//  * get() verifies what it reads (AEAD tag or SHA-256) and returns Errc::corrupt
//    rather than ever serving altered bytes as mail.
//  * Reference counts live in the metadata Store, not here; remove() is called by the
//    store's garbage collector once no message refers to the blob any more.
// Thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "common/result.hpp"

namespace caremail {

struct BlobRef {
  std::string id;    // 64 lower-case hex digits: SHA-256 of the plaintext
  uint64_t size = 0; // plaintext size in bytes
};

// Bytes read in pieces, for a blob too large to hold twice in memory: a message that SMTP
// spooled to a file (issue 14) is hashed, sealed and written from the file a piece at a
// time. Implementations are read-only and may be read from any thread.
class BlobSource {
 public:
  virtual ~BlobSource() = default;
  virtual uint64_t size() const = 0;
  // Copies the `len` octets at `offset` into `out`. REQUIRES: offset + len <= size().
  // False on a read error.
  virtual bool read(uint64_t offset, char* out, size_t len) const = 0;
  // The caller has finished reading these bytes through a mapped view of the same file
  // (a parse that needs them all at once): the pages it touched need not stay resident in
  // the process. The bytes remain readable. Default: nothing to let go.
  virtual void release_view() const {}
};

// SHA-256 (hex) of a source's bytes, read a piece at a time: the blob id a put of it gets.
// Errc::io when it cannot be read.
Result<std::string> content_id(const BlobSource& source);

class BlobStore {
 public:
  virtual ~BlobStore() = default;

  // Stores `data` (if not already present) and returns its id.
  // Errors: Errc::temporary for disk full or other transient I/O (nothing visible remains).
  virtual Result<BlobRef> put(std::string_view data) = 0;

  // Makes every put() that returned before this call durable.
  virtual Status sync() = 0;

  virtual Result<std::string> get(std::string_view id) = 0;
  virtual bool exists(std::string_view id) = 0;
  virtual Status remove(std::string_view id) = 0;
};

// True when `id` is 64 lower-case hex digits. Ids are used in paths: always check.
bool valid_blob_id(std::string_view id);

}  // namespace caremail

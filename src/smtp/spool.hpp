// Received messages, in memory or in a spool file (issue 14: a connection must not hold a
// 35 MB message in memory). DataReader/BdatReader spill a message past
// smtp.spool_threshold_bytes into a FileSpool; finish_message then works on a
// ReceivedMessage either way.
//
// The spool file lives under <data_dir>/spool, is unlinked as soon as it is created
// (O_TMPFILE, else mkstemp + unlink) so nothing is left behind by a crash, and is never
// fsync'd: it is scratch space, and the message is made durable by the blob store before
// the 250 reply. Its first kHeadRoom octets are left free for the trace fields
// (Return-Path, Received, ...), so prepending them costs no copy of the message. The
// complete file is mapped read-write, shared: the view handed to delivery is page cache,
// not memory of the process's own, and the kernel may drop it under pressure.
//
// Thread-safety: none; one object belongs to one session, and after finish() its view
// may be read from any thread while the object lives.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "smtp/data_reader.hpp"
#include "store/blob_store.hpp"

namespace caremail::smtp {

class FileSpool final : public Spool, public BlobSource {
 public:
  // Octets reserved before the message for the trace fields. Ours are a few hundred
  // (the HELO name and an address are at most 255 and 256 octets).
  static constexpr size_t kHeadRoom = 4096;

  // nullptr (and `error` set) when the file cannot be created.
  static std::unique_ptr<FileSpool> create(const std::filesystem::path& dir, std::string* error = nullptr);
  ~FileSpool() override;
  FileSpool(const FileSpool&) = delete;
  FileSpool& operator=(const FileSpool&) = delete;

  bool write(std::string_view bytes) override;
  // Writes out what is buffered and maps the file; false on failure.
  bool finish();
  // REQUIRES: finish() returned true. The message, starting with what prepend() added.
  std::string_view view() const { return {map_ + start_, end_ - start_}; }
  // Puts `text` in front of the message; false (and nothing changed) when it does not fit
  // the head room left.
  bool prepend(std::string_view text);
  // The message's size: once finished, the view's (with what prepend() added).
  uint64_t size() const override { return map_ ? end_ - start_ : written_ - kHeadRoom + buffer_.size(); }
  // BlobSource over the view (REQUIRES: finished), read from the file (pread) rather than
  // the mapping: the blob store hashes, seals and writes it without the pages becoming the
  // process's resident memory.
  bool read(uint64_t offset, char* out, size_t len) const override;
  // Drops the mapping's pages from the process (MADV_DONTNEED: for a shared file mapping
  // they stay in the page cache, what prepend() wrote included, and fault back in on use).
  void release_view() const override;

 private:
  explicit FileSpool(int fd) : fd_(fd) {}
  bool flush();

  int fd_ = -1;
  std::string buffer_;       // up to kBuffer octets not yet written
  uint64_t written_ = 0;     // file offset of the next write
  char* map_ = nullptr;
  size_t map_len_ = 0;
  size_t start_ = kHeadRoom;  // the view: [start_, end_) of the mapping
  size_t end_ = 0;
};

// A complete message as received, ready for finish_message.
class ReceivedMessage {
 public:
  ReceivedMessage() = default;
  explicit ReceivedMessage(std::string in_memory) : memory_(std::move(in_memory)) {}
  // REQUIRES: `file` finished (FileSpool::finish).
  explicit ReceivedMessage(std::unique_ptr<FileSpool> file) : file_(std::move(file)) {}

  std::string_view view() const { return file_ ? file_->view() : std::string_view(memory_); }
  size_t size() const { return view().size(); }
  bool spooled() const { return file_ != nullptr; }
  // The spool file as a source to read in pieces (MailService hands it to the blob store),
  // or nullptr for a message in memory.
  const BlobSource* source() const { return file_.get(); }
  // Puts `text` in front of the message. A spooled message whose head room is too small
  // (never with our trace fields) is copied into memory.
  void prepend(std::string_view text);

 private:
  std::string memory_;
  std::unique_ptr<FileSpool> file_;
};

// The spool directory for SMTP: <data_dir>/spool.
std::filesystem::path spool_dir(const std::filesystem::path& data_dir);

}  // namespace caremail::smtp

#include "smtp/spool.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace caremail::smtp {

namespace {
// Writes go out in pieces of this size: large enough that a 35 MB message is a few hundred
// writes, small enough not to matter per connection.
constexpr size_t kBuffer = 256 * 1024;

bool write_all(int fd, const char* p, size_t n, uint64_t offset) {
  while (n > 0) {
    ssize_t w = ::pwrite(fd, p, n, static_cast<off_t>(offset));
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= static_cast<size_t>(w);
    offset += static_cast<uint64_t>(w);
  }
  return true;
}
}  // namespace

std::filesystem::path spool_dir(const std::filesystem::path& data_dir) { return data_dir / "spool"; }

std::unique_ptr<FileSpool> FileSpool::create(const std::filesystem::path& dir, std::string* error) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  int fd = ::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd < 0) {
    // No O_TMPFILE on this file system: a named file, unlinked at once.
    std::string tmpl = (dir / "smtp-XXXXXX").string();
    fd = ::mkostemp(tmpl.data(), O_CLOEXEC);
    if (fd >= 0) ::unlink(tmpl.c_str());
  }
  if (fd < 0) {
    if (error) *error = "cannot create a spool file in " + dir.string() + ": " + std::strerror(errno);
    return nullptr;
  }
  std::unique_ptr<FileSpool> s(new FileSpool(fd));
  s->written_ = kHeadRoom;  // the head room stays a hole until prepend() fills part of it
  s->buffer_.reserve(kBuffer);
  return s;
}

FileSpool::~FileSpool() {
  if (map_) ::munmap(map_, map_len_);
  if (fd_ >= 0) ::close(fd_);
}

bool FileSpool::flush() {
  if (buffer_.empty()) return true;
  bool ok = write_all(fd_, buffer_.data(), buffer_.size(), written_);
  written_ += buffer_.size();
  buffer_.clear();
  return ok;
}

bool FileSpool::write(std::string_view bytes) {
  if (map_) return false;  // finished
  if (buffer_.size() + bytes.size() <= kBuffer) {
    buffer_.append(bytes);
    return true;
  }
  if (!flush()) return false;
  if (bytes.size() >= kBuffer) {
    bool ok = write_all(fd_, bytes.data(), bytes.size(), written_);
    written_ += bytes.size();
    return ok;
  }
  buffer_.append(bytes);
  return true;
}

bool FileSpool::finish() {
  if (map_) return true;
  if (!flush()) return false;
  if (::ftruncate(fd_, static_cast<off_t>(written_)) != 0) return false;
  map_len_ = static_cast<size_t>(written_);
  void* m = ::mmap(nullptr, map_len_, PROT_READ | PROT_WRITE, MAP_SHARED, fd_, 0);
  if (m == MAP_FAILED) {
    map_len_ = 0;
    return false;
  }
  map_ = static_cast<char*>(m);
  // Read in order, once (hashing, parsing, sealing): let the kernel read ahead.
  ::madvise(map_, map_len_, MADV_SEQUENTIAL);
  start_ = kHeadRoom;
  end_ = map_len_;
  return true;
}

bool FileSpool::prepend(std::string_view text) {
  if (!map_ || text.size() > start_) return false;
  start_ -= text.size();
  std::memcpy(map_ + start_, text.data(), text.size());
  return true;
}

bool FileSpool::read(uint64_t offset, char* out, size_t len) const {
  // The mapping is shared: what prepend() wrote into it is in the page cache the file
  // reads from.
  uint64_t at = start_ + offset;
  while (len > 0) {
    ssize_t n = ::pread(fd_, out, len, static_cast<off_t>(at));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    out += n;
    len -= static_cast<size_t>(n);
    at += static_cast<uint64_t>(n);
  }
  return true;
}

void FileSpool::release_view() const {
  if (map_) ::madvise(map_, map_len_, MADV_DONTNEED);
}

void ReceivedMessage::prepend(std::string_view text) {
  if (file_) {
    if (file_->prepend(text)) return;
    memory_.assign(file_->view());
    file_.reset();
  }
  memory_.insert(0, text);
}

}  // namespace caremail::smtp

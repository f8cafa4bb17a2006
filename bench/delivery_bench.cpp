// bench_delivery: durable local delivery through MailService::deliver, next to the raw
// fsync rate of the same disk, measured in one process so that the two can be compared.
//
// The store is wired exactly as caremaild wires it (src/app/daemon.cpp): SqliteStore with
// the default group-commit batch, FsBlobStore with at-rest encryption (key from
// crypto::load_or_create_key under the data directory), the pre-commit hook that syncs the
// blob directories, and MailService. Each run gets a fresh data directory under
// bench/work/ (same disk as the repository); everything is removed at the end.
//
// Cases: message size {4 KB, 100 KB} x writers {1, 32}, each run `--reps` times (default 3)
// for `--duration-seconds` (default 10) after a short warm-up; runs of the different cases
// are interleaved (A B C D, D C B A, A B C D) with the same rest before each, and the median
// of the runs is reported (BENCHMARKING.md). Every message is a distinct, realistic RFC 5322
// message (so every delivery writes a new blob); the 100 KB one carries a base64 attachment.
//
// fsync ceiling, same directory tree: (a) create a new file + write 4 KB + fsync + close,
// 1 thread; (b) the same on 32 threads; (c) append 4 KB + fdatasync to one file, 1 thread.
//
//   bench_delivery [--duration-seconds N] [--reps N] [--rest-seconds N] [--accounts N]
//                  [--work-dir DIR] [--out FILE.json] [--notes TEXT] [--smoke]
//                  [--sizes BYTES,...] [--writers N,...] [--no-fsync] [--prefill-dirs]
//                  [--no-dir-sync]
//
// Diagnostics (not part of the standard run): --prefill-dirs creates the 65,536 blob shard
// directories before the run, as in a store that already holds many messages (in a fresh
// store nearly every blob creates its leaf directory, which costs an extra directory fsync
// in the writer). --no-dir-sync installs no pre-commit hook, so blob directory entries are
// NOT synced before the commit: it shows what the hook costs, never a valid configuration.

// --smoke: 1 s per case, 4 KB only, one repetition, no rest; used by ctest. Writes no JSON
// unless --out is given.
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common/json_text.hpp"
#include "common/config.hpp"
#include "common/log.hpp"
#include "core/change_feed.hpp"
#include "core/mail_service.hpp"
#include "core/principal.hpp"
#include "crypto/crypto.hpp"
#include "mime/mime.hpp"
#include "store/blob/fs_blob_store.hpp"
#include "store/sqlite/sqlite_store.hpp"

namespace fs = std::filesystem;
using namespace caremail;
using SteadyClock = std::chrono::steady_clock;

namespace {

// ---------------------------------------------------------------------------------------
// Options

struct Options {
  double duration_s = 10;
  double warmup_s = 1;
  double rest_s = 2;
  int reps = 3;
  int accounts = 64;
  bool smoke = false;
  std::vector<size_t> sizes{4096, 100 * 1024};
  std::vector<int> writers{1, 32};
  int fsync_threads = 32;
  bool fsync_cases = true;
  bool prefill_dirs = false;  // create all 65,536 blob shard directories first (a mature store)
  bool no_dir_sync = false;   // DIAGNOSTIC, NOT DURABLE: no pre-commit hook
  fs::path work_root;
  std::string out;
  std::string notes;
};

[[noreturn]] void usage(const char* why) {
  std::cerr << "bench_delivery: " << why << "\n"
            << "usage: bench_delivery [--duration-seconds N] [--reps N] [--rest-seconds N] [--accounts N]\n"
            << "                      [--work-dir DIR] [--out FILE.json] [--notes TEXT] [--smoke]\n"
            << "                      [--sizes BYTES,...] [--writers N,...] [--no-fsync] [--prefill-dirs]\n"
            << "                      [--no-dir-sync (diagnostic: not durable)]\n";
  std::exit(2);
}

fs::path source_bench_dir() {
  fs::path here(__FILE__);
  return here.is_absolute() ? here.parent_path() : fs::path();
}

Options parse(int argc, char** argv) {
  Options o;
  bool duration_given = false;
  std::string sizes, writers;  // comma-separated overrides
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto val = [&]() -> std::string {
      if (i + 1 >= argc) usage(("missing value for " + a).c_str());
      return argv[++i];
    };
    auto num = [&](double lo) -> double {
      std::string v = val();
      char* end = nullptr;
      double d = std::strtod(v.c_str(), &end);
      if (end == v.c_str() || *end != '\0' || !(d >= lo)) usage(("bad value for " + a + ": " + v).c_str());
      return d;
    };
    if (a == "--duration-seconds") { o.duration_s = num(0.1); duration_given = true; }
    else if (a == "--reps") o.reps = static_cast<int>(num(1));
    else if (a == "--rest-seconds") o.rest_s = num(0);
    else if (a == "--accounts") o.accounts = static_cast<int>(num(1));
    else if (a == "--work-dir") o.work_root = val();
    else if (a == "--out") o.out = val();
    else if (a == "--notes") o.notes = val();
    else if (a == "--smoke") o.smoke = true;
    else if (a == "--sizes") sizes = val();
    else if (a == "--writers") writers = val();
    else if (a == "--no-fsync") o.fsync_cases = false;
    else if (a == "--prefill-dirs") o.prefill_dirs = true;
    else if (a == "--no-dir-sync") o.no_dir_sync = true;
    else if (a == "--help" || a == "-h") usage("help");
    else usage(("unknown option " + a).c_str());
  }
  if (o.smoke) {
    if (!duration_given) o.duration_s = 1;
    o.warmup_s = 0.2;
    o.rest_s = 0;
    o.reps = 1;
    o.sizes = {4096};
    o.accounts = std::min(o.accounts, 8);
  }
  auto list = [](const std::string& s, const char* what) {
    std::vector<long> v;
    std::stringstream ss(s);
    std::string item;
    while (std::getline(ss, item, ',')) {
      char* end = nullptr;
      long x = std::strtol(item.c_str(), &end, 10);
      if (end == item.c_str() || *end != '\0' || x < 1) usage((std::string("bad ") + what + ": " + s).c_str());
      v.push_back(x);
    }
    if (v.empty()) usage((std::string("empty ") + what).c_str());
    return v;
  };
  if (!sizes.empty()) {
    o.sizes.clear();
    for (long x : list(sizes, "--sizes")) {
      if (x < 2048) usage("--sizes: messages are at least 2048 bytes");
      o.sizes.push_back(static_cast<size_t>(x));
    }
  }
  if (!writers.empty()) {
    o.writers.clear();
    for (long x : list(writers, "--writers")) o.writers.push_back(static_cast<int>(x));
  }
  o.warmup_s = std::min(o.warmup_s, o.duration_s / 5);
  if (o.work_root.empty()) {
    fs::path b = source_bench_dir();
    o.work_root = (!b.empty() && fs::is_directory(b)) ? b / "work" : fs::temp_directory_path() / "caremail-bench";
  }
  return o;
}

// ---------------------------------------------------------------------------------------
// Small helpers


double cpu_seconds() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  auto tv = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; };
  return tv(ru.ru_utime) + tv(ru.ru_stime);
}

long ru_maxrss_kb() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

long proc_status_kb(const char* field) {
  std::ifstream f("/proc/self/status");
  std::string line;
  size_t n = std::strlen(field);
  while (std::getline(f, line))
    if (line.compare(0, n, field) == 0 && line.size() > n && line[n] == ':') return std::atol(line.c_str() + n + 1);
  return -1;
}

// Resets VmHWM to the current RSS (Linux >= 4.0), so each run reports its own peak.
bool reset_hwm() {
  std::ofstream f("/proc/self/clear_refs");
  f << "5";
  f.flush();
  return static_cast<bool>(f);
}

std::string read_first_line(const std::string& cmd) {
  std::string out;
  if (FILE* p = ::popen(cmd.c_str(), "r")) {
    char buf[512];
    if (std::fgets(buf, sizeof buf, p)) out = buf;
    ::pclose(p);
  }
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

std::string json_str(std::string_view s) { return caremail::json_string(s); }

std::string json_num(double v, int prec = 3) {
  if (!std::isfinite(v)) return "null";
  char b[64];
  std::snprintf(b, sizeof b, "%.*f", prec, v);
  return b;
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

struct Latency {
  double p50_ms = 0, p90_ms = 0, p99_ms = 0, max_ms = 0, mean_ms = 0;
};

// Nearest-rank percentiles over latencies in nanoseconds.
Latency percentiles(std::vector<int64_t>& ns) {
  Latency l;
  if (ns.empty()) return l;
  std::sort(ns.begin(), ns.end());
  auto at = [&](double p) {
    size_t rank = static_cast<size_t>(std::ceil(p * static_cast<double>(ns.size())));
    return static_cast<double>(ns[std::clamp<size_t>(rank, 1, ns.size()) - 1]) / 1e6;
  };
  l.p50_ms = at(0.50);
  l.p90_ms = at(0.90);
  l.p99_ms = at(0.99);
  l.max_ms = static_cast<double>(ns.back()) / 1e6;
  double sum = 0;
  for (int64_t x : ns) sum += static_cast<double>(x);
  l.mean_ms = sum / static_cast<double>(ns.size()) / 1e6;
  return l;
}

// ---------------------------------------------------------------------------------------
// A timed run of `threads` workers calling `op` until the window closes. Operations that
// complete inside [start + warmup, start + warmup + duration) are counted and timed.

struct WindowStats {
  uint64_t ops = 0;
  uint64_t errors = 0;
  double seconds = 0;
  double cpu_s = 0;  // process CPU time (all threads) inside the window
  Latency lat;
  std::string first_error;
};

using Op = std::function<bool(int thread, uint64_t seq, std::string& err)>;

// `on_window_open/close` run on the controlling thread at the edges of the window.
WindowStats run_window(int threads, double warmup_s, double duration_s, const Op& op,
                       const std::function<void()>& on_open = {}, const std::function<void()>& on_close = {}) {
  auto t0 = SteadyClock::now();
  auto open_at = t0 + std::chrono::duration_cast<SteadyClock::duration>(std::chrono::duration<double>(warmup_s));
  auto close_at = open_at + std::chrono::duration_cast<SteadyClock::duration>(std::chrono::duration<double>(duration_s));
  std::vector<std::vector<int64_t>> lat(threads);
  std::vector<uint64_t> errors(threads, 0);
  std::vector<std::string> first_err(threads);
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    lat[t].reserve(1 << 14);
    pool.emplace_back([&, t] {
      uint64_t seq = 0;
      for (;;) {
        auto a = SteadyClock::now();
        if (a >= close_at) break;
        std::string err;
        bool ok = op(t, seq++, err);
        auto b = SteadyClock::now();
        if (!ok) {
          ++errors[t];
          if (first_err[t].empty()) first_err[t] = err;
          if (errors[t] > 100) break;  // something is broken; do not spin
          continue;
        }
        if (a >= open_at && b < close_at) lat[t].push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(b - a).count());
      }
    });
  }
  std::this_thread::sleep_until(open_at);
  double cpu0 = cpu_seconds();
  if (on_open) on_open();
  std::this_thread::sleep_until(close_at);
  double cpu1 = cpu_seconds();
  if (on_close) on_close();
  for (auto& th : pool) th.join();

  WindowStats w;
  std::vector<int64_t> all;
  for (int t = 0; t < threads; ++t) {
    all.insert(all.end(), lat[t].begin(), lat[t].end());
    w.errors += errors[t];
    if (w.first_error.empty()) w.first_error = first_err[t];
  }
  w.ops = all.size();
  w.seconds = duration_s;
  w.cpu_s = cpu1 - cpu0;
  w.lat = percentiles(all);
  return w;
}

// ---------------------------------------------------------------------------------------
// Raw fsync rate.

enum class FsyncKind { create_1t, create_nt, append_1t };

struct FsyncRun {
  WindowStats w;
  double ops_per_s = 0;
};

FsyncRun run_fsync(FsyncKind kind, int nthreads, const fs::path& dir, const Options& o) {
  fs::create_directories(dir);
  std::string block(4096, '\0');
  std::mt19937_64 rng(42);
  for (auto& c : block) c = static_cast<char>(rng());
  int threads = kind == FsyncKind::create_nt ? nthreads : 1;
  int append_fd = -1;
  if (kind == FsyncKind::append_1t) {
    append_fd = ::open((dir / "append.log").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (append_fd < 0) {
      std::perror("bench_delivery: open append.log");
      std::exit(1);
    }
  }
  std::string prefix = (dir / "f").string();
  Op op = [&](int t, uint64_t seq, std::string& err) -> bool {
    if (kind == FsyncKind::append_1t) {
      if (::write(append_fd, block.data(), block.size()) != static_cast<ssize_t>(block.size())) {
        err = std::string("write: ") + std::strerror(errno);
        return false;
      }
      if (::fdatasync(append_fd) != 0) {
        err = std::string("fdatasync: ") + std::strerror(errno);
        return false;
      }
      return true;
    }
    std::string name = prefix + std::to_string(t) + "-" + std::to_string(seq);
    int fd = ::open(name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
      err = "create " + name + ": " + std::strerror(errno);
      return false;
    }
    bool ok = ::write(fd, block.data(), block.size()) == static_cast<ssize_t>(block.size()) && ::fsync(fd) == 0;
    if (!ok) err = std::string("write/fsync: ") + std::strerror(errno);
    ::close(fd);
    return ok;
  };
  FsyncRun r;
  r.w = run_window(threads, o.warmup_s, o.duration_s, op);
  r.ops_per_s = static_cast<double>(r.w.ops) / r.w.seconds;
  if (append_fd >= 0) ::close(append_fd);
  return r;
}

// ---------------------------------------------------------------------------------------
// Realistic, unique RFC 5322 messages of an exact size.

constexpr const char* kLorem =
    "Thank you for seeing this patient in clinic. She was discharged home on the ward round\r\n"
    "this morning after an uneventful recovery. Please review her medication in two weeks,\r\n"
    "in particular the anticoagulation, and arrange repeat bloods (FBC, U&E, LFT) at the\r\n"
    "practice. The full discharge summary and the clinic letter are attached; the imaging\r\n"
    "report will follow from radiology once it has been verified by the consultant.\r\n"
    "Safety-netting advice was given and understood. Do not hesitate to contact the ward.\r\n";

std::string base64(std::string_view in) {
  static const char* t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8) |
                 static_cast<unsigned char>(in[i + 2]);
    out += t[v >> 18];
    out += t[(v >> 12) & 63];
    out += t[(v >> 6) & 63];
    out += t[v & 63];
  }
  if (i < in.size()) {
    uint32_t v = static_cast<unsigned char>(in[i]) << 16;
    if (i + 1 < in.size()) v |= static_cast<unsigned char>(in[i + 1]) << 8;
    out += t[v >> 18];
    out += t[(v >> 12) & 63];
    out += i + 1 < in.size() ? t[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

class MessageFactory {
 public:
  MessageFactory(size_t size, std::string tag) : size_(size), tag_(std::move(tag)) {
    if (size_ > 16 * 1024) {
      // A PDF-like attachment: base64 in 76-column lines, sized to leave ~2.5 KB for the
      // headers and the text part.
      size_t lines = (size_ - 2600) / 78;
      std::string bin = "%PDF-1.4\n%\xe2\xe3\xcf\xd3\n";
      std::mt19937_64 rng(7);
      while (bin.size() < lines * 57) {
        uint64_t x = rng();
        bin.append(reinterpret_cast<const char*>(&x), sizeof x);
      }
      bin.resize(lines * 57);
      std::string b64 = base64(bin);
      attachment_.reserve(b64.size() + b64.size() / 76 * 2 + 2);
      for (size_t i = 0; i < b64.size(); i += 76) {
        attachment_.append(b64, i, 76);
        attachment_ += "\r\n";
      }
    }
  }

  // A distinct message for `seq` (unique Message-ID, Received id, subject and body line).
  std::string make(uint64_t seq, std::string_view to) const {
    char id[48];
    std::snprintf(id, sizeof id, "%s-%012" PRIu64, tag_.c_str(), seq);
    char date[64];
    std::time_t now = std::time(nullptr);
    std::tm tm{};
    ::gmtime_r(&now, &tm);
    std::strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", &tm);

    std::string m;
    m.reserve(size_ + 256);
    m += "Return-Path: <alice.example@gp-surgery.example>\r\n";
    m += "Received: from mx1.gp-surgery.example (mx1.gp-surgery.example [192.0.2.25])\r\n";
    m += "\tby mail.care.example (Caremail) with ESMTPS id ";
    m += id;
    m += "\r\n\tfor <";
    m += to;
    m += ">; ";
    m += date;
    m += "\r\n";
    m += "From: \"Dr Alice Example\" <alice.example@gp-surgery.example>\r\n";
    m += "To: <";
    m += to;
    m += ">\r\n";
    m += "Subject: Discharge summary and follow-up plan (ref ";
    m += id;
    m += ")\r\n";
    m += "Date: ";
    m += date;
    m += "\r\n";
    m += "Message-ID: <";
    m += id;
    m += "@gp-surgery.example>\r\n";
    m += "MIME-Version: 1.0\r\n";
    std::string boundary = std::string("=_caremail_bench_") + id;
    if (!attachment_.empty()) {
      m += "Content-Type: multipart/mixed; boundary=\"" + boundary + "\"\r\n\r\n";
      m += "This is a multi-part message in MIME format.\r\n\r\n";
      m += "--" + boundary + "\r\n";
    }
    m += "Content-Type: text/plain; charset=utf-8\r\n";
    m += "Content-Transfer-Encoding: 7bit\r\n\r\n";
    m += "Dear colleague,\r\n\r\nRe: reference ";
    m += id;
    m += "\r\n\r\n";
    std::string tail = "\r\nKind regards,\r\nDr Alice Example\r\nGP Surgery, Example Road\r\n";
    if (!attachment_.empty()) {
      tail += "\r\n--" + boundary + "\r\n";
      tail += "Content-Type: application/pdf; name=\"discharge-summary.pdf\"\r\n";
      tail += "Content-Disposition: attachment; filename=\"discharge-summary.pdf\"\r\n";
      tail += "Content-Transfer-Encoding: base64\r\n\r\n";
      tail += attachment_;
      tail += "--" + boundary + "--\r\n";
    }
    // Fill the text part so that the whole message is exactly size_ bytes.
    size_t fixed = m.size() + tail.size();
    size_t fill = size_ > fixed ? size_ - fixed : 0;
    size_t lorem_len = std::strlen(kLorem);
    while (fill > 0) {
      size_t n = std::min(fill, lorem_len);
      m.append(kLorem, n);
      fill -= n;
    }
    if (!m.empty() && m.back() == '\r') m.back() = ' ';  // never a bare CR
    m += tail;
    return m;
  }

 private:
  size_t size_;
  std::string tag_;
  std::string attachment_;
};

// ---------------------------------------------------------------------------------------
// Durable delivery.

struct DeliveryRun {
  WindowStats w;
  double msgs_per_s = 0;
  uint64_t batches = 0;      // pre-commit hook calls in the window = commit batches
  double hook_ms = 0;        // time spent in the hook (blob directory fsyncs) in the window
  long vmhwm_kb = -1;        // peak RSS of this run (VmHWM after a reset before the run)
  bool verified = false;     // one delivered message fetched back and compared
};

std::string address_of(int i) {
  char b[64];
  std::snprintf(b, sizeof b, "clinician%04d@bench.care.example", i);
  return b;
}

DeliveryRun run_delivery(size_t size, int writers, const fs::path& dir, const std::string& tag, const Options& o) {
  auto die = [](const std::string& what) {
    std::cerr << "bench_delivery: " << what << "\n";
    std::exit(1);
  };
  // Wired as in run_daemon().
  Config cfg;
  cfg.server.data_dir = dir;
  fs::create_directories(dir);
  ::chmod(dir.c_str(), 0700);
  auto key = crypto::load_or_create_key(cfg.key_file());
  if (!key) die("key: " + key.error().message);
  auto store = open_sqlite_store({cfg.db_file(), cfg.storage.group_commit_max_batch});
  if (!store) die("store: " + store.error().message);
  auto blobs = FsBlobStore::open(cfg.blob_dir(), cfg.storage.encrypt_blobs ? std::optional(*key) : std::nullopt);
  if (!blobs) die("blobs: " + blobs.error().message);
  FsBlobStore* blob_ptr = blobs->get();
  Store* store_ptr = store->get();
  blob_ptr->set_inline_reader([store_ptr](std::string_view id) { return store_ptr->inline_blob(id); });
  // The daemon's hook, timed: how often the committer commits and how long it spends
  // syncing blob directories before each COMMIT.
  std::atomic<uint64_t> hook_calls{0}, hook_ns{0};
  if (o.prefill_dirs) {
    char name[8];
    for (int a = 0; a < 256; ++a) {
      std::snprintf(name, sizeof name, "%02x", a);
      fs::path d1 = cfg.blob_dir() / name;
      ::mkdir(d1.c_str(), 0700);
      for (int b = 0; b < 256; ++b) {
        std::snprintf(name, sizeof name, "%02x", b);
        ::mkdir((d1 / name).c_str(), 0700);
      }
    }
    ::sync();
  }
  (*store)->set_pre_commit_hook([blob_ptr, &hook_calls, &hook_ns, skip = o.no_dir_sync] {
    auto a = SteadyClock::now();
    Status s = skip ? Status() : blob_ptr->sync();
    hook_ns += static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(SteadyClock::now() - a).count());
    ++hook_calls;
    return s;
  });
  auto feed = std::make_unique<ChangeFeed>();
  MailLimits limits{cfg.quota.max_message_bytes};
  limits.inline_blob_bytes = cfg.storage.inline_blob_bytes;  // small bodies with their row, as the daemon
  auto mail = std::make_unique<MailService>(**store, **blobs, *feed, limits);

  // One organisation, `accounts` people with the default quota.
  NewOrganisation org;
  org.ods_code = "BEN01";
  org.name = "Benchmark NHS Trust";
  org.short_name = "bench";
  org.domains = {"bench.care.example"};
  auto created = (*store)->create_organisation(org);
  if (!created) die("create_organisation: " + created.error().message);
  std::vector<std::string> addresses;
  std::vector<Account> accounts;
  for (int i = 0; i < o.accounts; ++i) {
    NewAccount a;
    a.address = address_of(i);
    a.display_name = "Clinician " + std::to_string(i);
    a.org_id = created->id;
    a.quota_bytes = cfg.quota.default_mailbox_bytes;
    auto acct = (*store)->create_account(a);
    if (!acct) die("create_account: " + acct.error().message);
    addresses.push_back(a.address);
    accounts.push_back(*acct);
  }

  MessageFactory factory(size, tag);
  const Principal service = Principal::service();
  struct Last {
    size_t account = 0;
    MailboxId mailbox = 0;
    Uid uid = 0;
    std::string raw;
  };
  std::vector<Last> last(writers);
  Op op = [&](int t, uint64_t seq, std::string& err) -> bool {
    uint64_t global = static_cast<uint64_t>(t) << 40 | seq;
    size_t acct = (static_cast<size_t>(t) * 7 + seq) % addresses.size();
    std::string raw = factory.make(global, addresses[acct]);
    std::span<const std::string> rcpt(&addresses[acct], 1);
    auto r = mail->deliver(service, rcpt, raw);
    if (!r) {
      err = r.error().message;
      return false;
    }
    if (r->delivered() != 1) {
      err = r->recipients.front().error ? r->recipients.front().error->message : "not delivered";
      return false;
    }
    if (seq % 64 == 0)  // read back as the recipient sees it: its own Delivered-To, then the message
      last[t] = Last{acct, r->recipients.front().mailbox_id, r->recipients.front().uid,
                     "Delivered-To: " + addresses[acct] + "\r\n" + raw};
    return true;
  };

  DeliveryRun run;
  uint64_t calls0 = 0, ns0 = 0;
  reset_hwm();
  run.w = run_window(
      writers, o.warmup_s, o.duration_s, op,
      [&] {
        calls0 = hook_calls.load();
        ns0 = hook_ns.load();
      },
      [&] {
        run.batches = hook_calls.load() - calls0;
        run.hook_ms = static_cast<double>(hook_ns.load() - ns0) / 1e6;
      });
  run.vmhwm_kb = proc_status_kb("VmHWM");
  run.msgs_per_s = static_cast<double>(run.w.ops) / run.w.seconds;

  // The wiring is only worth measuring if what was delivered reads back intact.
  run.verified = true;
  int checked = 0;
  for (const auto& l : last) {
    if (l.raw.empty()) continue;
    auto got = mail->fetch(Principal::of(accounts[l.account]), l.mailbox, l.uid);
    if (!got || *got != l.raw) {
      std::cerr << "bench_delivery: read-back of a delivered message failed: "
                << (got ? std::string("content differs") : got.error().message) << "\n";
      run.verified = false;
    }
    ++checked;
  }
  if (checked == 0) run.verified = false;

  mail.reset();
  feed.reset();
  store->reset();  // joins the committer, whose hook refers to the blob store
  blobs->reset();
  return run;
}

// ---------------------------------------------------------------------------------------
// Machine description.

std::string cpu_model() {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("model name", 0) == 0) {
      auto p = line.find(':');
      if (p != std::string::npos) return line.substr(line.find_first_not_of(" \t", p + 1));
    }
  return "unknown";
}

struct MountInfo {
  std::string device, mount_point, fs_type, options;
};

MountInfo mount_of(const fs::path& p) {
  std::error_code ec;
  fs::path abs = fs::weakly_canonical(p, ec);
  std::string target = (ec ? p : abs).string();
  std::ifstream f("/proc/mounts");
  std::string dev, mp, type, opts, rest;
  MountInfo best;
  while (f >> dev >> mp >> type >> opts) {
    std::getline(f, rest);
    bool under = target == mp || mp == "/" || (target.rfind(mp, 0) == 0 && target.size() > mp.size() && target[mp.size()] == '/');
    if (under && mp.size() >= best.mount_point.size()) best = {dev, mp, type, opts};
  }
  return best;
}

std::string utc_now(const char* fmt) {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  ::gmtime_r(&now, &tm);
  char b[64];
  std::strftime(b, sizeof b, fmt, &tm);
  return b;
}

std::string latency_json(const Latency& l) {
  return "\"p50_ms\":" + json_num(l.p50_ms) + ",\"p90_ms\":" + json_num(l.p90_ms) + ",\"p99_ms\":" +
         json_num(l.p99_ms) + ",\"max_ms\":" + json_num(l.max_ms) + ",\"mean_ms\":" + json_num(l.mean_ms);
}

}  // namespace

int main(int argc, char** argv) {
  Options o = parse(argc, argv);
  log::init("warn", "logfmt");
  crypto::init();
  mime::init();

  std::error_code ec;
  fs::create_directories(o.work_root, ec);
  fs::path work = o.work_root / ("delivery-" + utc_now("%Y%m%dT%H%M%SZ") + "-" + std::to_string(::getpid()));
  fs::create_directories(work, ec);
  if (ec) {
    std::cerr << "bench_delivery: cannot create " << work << ": " << ec.message() << "\n";
    return 1;
  }
  ::chmod(work.c_str(), 0700);
  MountInfo mnt = mount_of(work);
  bool hwm_resettable = reset_hwm();

  std::cout << "bench_delivery: work dir " << work.string() << " (" << mnt.fs_type << " on " << mnt.device
            << ", mounted " << mnt.mount_point << ")\n"
            << "  " << o.duration_s << " s per run after " << o.warmup_s << " s warm-up, " << o.reps
            << " run(s) per case, " << o.rest_s << " s rest before each run, " << o.accounts << " accounts"
            << (o.smoke ? ", SMOKE" : "") << (o.prefill_dirs ? ", blob shard dirs pre-created" : "")
            << (o.no_dir_sync ? ", DIAGNOSTIC --no-dir-sync: NOT DURABLE" : "") << "\n"
            << std::flush;

  // The schedule: every case once per repetition; delivery cases in alternating order.
  struct FsyncCase {
    const char* name;
    const char* what;
    FsyncKind kind;
    std::vector<FsyncRun> runs;
  };
  std::vector<FsyncCase> fsync_cases = {
      {"create_write_fsync_close_1t", "create new file + write 4 KB + fsync + close, 1 thread", FsyncKind::create_1t, {}},
      {"create_write_fsync_close_32t", "create new file + write 4 KB + fsync + close, 32 threads", FsyncKind::create_nt, {}},
      {"append_fdatasync_1t", "append 4 KB + fdatasync to one file, 1 thread", FsyncKind::append_1t, {}},
  };
  struct DelCase {
    size_t size;
    int writers;
    std::vector<DeliveryRun> runs;
    std::vector<int> order;
  };
  std::vector<DelCase> del_cases;
  for (size_t s : o.sizes)
    for (int w : o.writers) del_cases.push_back({s, w, {}, {}});

  int order = 0;
  bool failed = false;
  auto rest = [&] {
    ::sync();  // the previous run's writeback must not land in the next one
    if (o.rest_s > 0) std::this_thread::sleep_for(std::chrono::duration<double>(o.rest_s));
  };
  for (int rep = 0; rep < o.reps; ++rep) {
    for (auto& fc : fsync_cases) {
      if (!o.fsync_cases) break;
      rest();
      auto r = run_fsync(fc.kind, o.fsync_threads, work / ("fsync-" + std::string(fc.name) + "-" + std::to_string(rep)), o);
      ++order;
      std::printf("  [%2d] fsync %-30s %9.0f ops/s  p50 %6.2f ms  p99 %6.2f ms%s\n", order, fc.name, r.ops_per_s,
                  r.w.lat.p50_ms, r.w.lat.p99_ms, r.w.errors ? "  ERRORS" : "");
      std::fflush(stdout);
      if (r.w.errors) {
        std::cerr << "bench_delivery: fsync case " << fc.name << ": " << r.w.first_error << "\n";
        failed = true;
      }
      fc.runs.push_back(std::move(r));
    }
    std::vector<size_t> idx(del_cases.size());
    for (size_t i = 0; i < idx.size(); ++i) idx[i] = rep % 2 ? idx.size() - 1 - i : i;
    for (size_t i : idx) {
      auto& dc = del_cases[i];
      rest();
      std::string label = std::to_string(dc.size / 1024) + "k-" + std::to_string(dc.writers) + "w-" + std::to_string(rep);
      auto r = run_delivery(dc.size, dc.writers, work / ("deliver-" + label), "r" + std::to_string(rep) + "c" + std::to_string(i), o);
      ++order;
      double avg_batch = r.batches ? static_cast<double>(r.w.ops) / static_cast<double>(r.batches) : 0;
      std::printf("  [%2d] deliver %3zu KB x %2d writers %7.0f msgs/s  p50 %6.2f ms  p99 %6.2f ms  "
                  "batch %5.1f  hook %4.0f%%  cpu %3.0f%%  hwm %ld MB%s\n",
                  order, dc.size / 1024, dc.writers, r.msgs_per_s, r.w.lat.p50_ms, r.w.lat.p99_ms, avg_batch,
                  100 * r.hook_ms / 1000 / r.w.seconds, 100 * r.w.cpu_s / r.w.seconds, r.vmhwm_kb / 1024,
                  r.w.errors || !r.verified ? "  ERRORS" : "");
      std::fflush(stdout);
      if (r.w.errors || !r.verified || r.w.ops == 0) {
        if (r.w.errors) std::cerr << "bench_delivery: delivery error: " << r.w.first_error << "\n";
        failed = true;
      }
      dc.runs.push_back(std::move(r));
      dc.order.push_back(order);
    }
  }

  long peak_rss = ru_maxrss_kb();
  long vmhwm = proc_status_kb("VmHWM");

  // ---- summary table ---------------------------------------------------------------------
  auto fs_med = [](const FsyncCase& c) {
    std::vector<double> v;
    for (auto& r : c.runs) v.push_back(r.ops_per_s);
    return median(v);
  };
  double fsync1 = fs_med(fsync_cases[0]);
  std::printf("\nRaw fsync rate of %s (%s), median of %d:\n", mnt.mount_point.c_str(), mnt.fs_type.c_str(), o.reps);
  for (auto& fc : fsync_cases) {
    std::vector<double> p50, p99;
    for (auto& r : fc.runs) {
      p50.push_back(r.w.lat.p50_ms);
      p99.push_back(r.w.lat.p99_ms);
    }
    std::printf("  %-56s %9.0f ops/s  p50 %6.2f ms  p99 %6.2f ms\n", fc.what, fs_med(fc), median(p50), median(p99));
  }
  std::printf("\nDurable delivery (MailService::deliver, encrypted blobs, 1 recipient), median of %d:\n", o.reps);
  std::printf("  %-7s %-7s %10s %8s %8s %8s %8s %8s %8s %9s\n", "size", "writers", "msgs/s", "p50 ms", "p90 ms",
              "p99 ms", "max ms", "batch", "cpu%", "/fsync1t");
  struct Summary {
    double rate, p50, p90, p99, max, batch, cpu, hook, hwm;
  };
  std::vector<Summary> sums;
  for (auto& dc : del_cases) {
    std::vector<double> rate, p50, p90, p99, mx, batch, cpu, hook, hwm;
    for (auto& r : dc.runs) {
      rate.push_back(r.msgs_per_s);
      p50.push_back(r.w.lat.p50_ms);
      p90.push_back(r.w.lat.p90_ms);
      p99.push_back(r.w.lat.p99_ms);
      mx.push_back(r.w.lat.max_ms);
      batch.push_back(r.batches ? static_cast<double>(r.w.ops) / static_cast<double>(r.batches) : 0);
      cpu.push_back(100 * r.w.cpu_s / r.w.seconds);
      hook.push_back(r.batches ? r.hook_ms / static_cast<double>(r.batches) : 0);
      hwm.push_back(static_cast<double>(r.vmhwm_kb));
    }
    Summary s{median(rate), median(p50), median(p90), median(p99), median(mx), median(batch), median(cpu), median(hook), median(hwm)};
    sums.push_back(s);
    std::printf("  %4zu KB %7d %10.0f %8.2f %8.2f %8.2f %8.2f %8.1f %8.0f %9.2f\n", dc.size / 1024, dc.writers, s.rate,
                s.p50, s.p90, s.p99, s.max, s.batch, s.cpu, fsync1 > 0 ? s.rate / fsync1 : 0.0);
  }
  std::printf("  (batch = messages per group commit; cpu%% = process CPU / wall, 200%% = both cores;\n"
              "   /fsync1t = msgs/s divided by the 1-thread create+fsync rate)\n");
  std::printf("\nPeak RSS: %ld KB (ru_maxrss), VmHWM %ld KB\n", peak_rss, vmhwm);

  // ---- JSON ------------------------------------------------------------------------------
  if (!o.out.empty()) {
    utsname u{};
    ::uname(&u);
    fs::path src = source_bench_dir().parent_path();
    std::string commit = src.empty() ? "" : read_first_line("git -C '" + src.string() + "' rev-parse HEAD 2>/dev/null");
    std::string dirty = src.empty() ? "" : read_first_line("git -C '" + src.string() + "' status --porcelain --untracked-files=no 2>/dev/null");
    std::ostringstream j;
    j << "{\n  \"benchmark\": \"delivery\",\n";
    j << "  \"machine\": {\"cpus\": " << std::thread::hardware_concurrency()
      << ", \"mem_gb\": " << json_num(static_cast<double>(::sysconf(_SC_PHYS_PAGES)) * static_cast<double>(::sysconf(_SC_PAGESIZE)) / (1ull << 30), 1)
      << ", \"kernel\": " << json_str(u.release) << ", \"fs\": " << json_str(mnt.fs_type)
      << ", \"fs_device\": " << json_str(mnt.device) << ", \"fs_mount\": " << json_str(mnt.mount_point)
      << ", \"fs_options\": " << json_str(mnt.options) << ", \"cpu_model\": " << json_str(cpu_model()) << "},\n";
    j << "  \"git_commit\": " << json_str(commit.empty() ? "unknown" : commit) << ",\n";
    j << "  \"git_dirty\": " << (dirty.empty() ? "false" : "true") << ",\n";
    j << "  \"date\": " << json_str(utc_now("%Y-%m-%dT%H:%M:%SZ")) << ",\n";
    j << "  \"settings\": {\"duration_seconds\": " << json_num(o.duration_s, 1) << ", \"warmup_seconds\": "
      << json_num(o.warmup_s, 1) << ", \"rest_seconds\": " << json_num(o.rest_s, 1) << ", \"reps\": " << o.reps
      << ", \"accounts\": " << o.accounts << ", \"recipients_per_message\": 1, \"encrypt_blobs\": true"
      << ", \"prefill_dirs\": " << (o.prefill_dirs ? "true" : "false")
      << ", \"no_dir_sync_diagnostic\": " << (o.no_dir_sync ? "true" : "false")
      << ", \"group_commit_max_batch\": " << Config{}.storage.group_commit_max_batch << ", \"smoke\": "
      << (o.smoke ? "true" : "false") << ", \"vmhwm_reset_per_run\": " << (hwm_resettable ? "true" : "false")
      << ", \"order\": \"each repetition: fsync a,b,c then the delivery cases, forward on even and reversed on odd repetitions; sync + rest before every run\"},\n";
    j << "  \"notes\": " << json_str(o.notes) << ",\n";
    j << "  \"fsync\": {\n";
    for (size_t i = 0; i < fsync_cases.size(); ++i) {
      auto& fc = fsync_cases[i];
      std::vector<double> p50, p99;
      for (auto& r : fc.runs) {
        p50.push_back(r.w.lat.p50_ms);
        p99.push_back(r.w.lat.p99_ms);
      }
      j << "    " << json_str(fc.name) << ": {\"what\": " << json_str(fc.what)
        << ", \"threads\": " << (fc.kind == FsyncKind::create_nt ? o.fsync_threads : 1)
        << ", \"ops_per_s_median\": " << json_num(fs_med(fc), 1) << ", \"p50_ms\": " << json_num(median(p50))
        << ", \"p99_ms\": " << json_num(median(p99)) << ", \"runs\": [";
      for (size_t k = 0; k < fc.runs.size(); ++k) {
        auto& r = fc.runs[k];
        j << (k ? ", " : "") << "{\"ops\": " << r.w.ops << ", \"seconds\": " << json_num(r.w.seconds, 2)
          << ", \"ops_per_s\": " << json_num(r.ops_per_s, 1) << ", " << latency_json(r.w.lat)
          << ", \"errors\": " << r.w.errors << "}";
      }
      j << "]}" << (i + 1 < fsync_cases.size() ? "," : "") << "\n";
    }
    j << "  },\n  \"cases\": [\n";
    for (size_t i = 0; i < del_cases.size(); ++i) {
      auto& dc = del_cases[i];
      auto& s = sums[i];
      j << "    {\"size\": " << dc.size << ", \"writers\": " << dc.writers
        << ", \"msgs_per_s_median\": " << json_num(s.rate, 1) << ", \"p50_ms\": " << json_num(s.p50)
        << ", \"p90_ms\": " << json_num(s.p90) << ", \"p99_ms\": " << json_num(s.p99) << ", \"max_ms\": "
        << json_num(s.max) << ", \"avg_batch_median\": " << json_num(s.batch, 2)
        << ", \"hook_ms_per_batch_median\": " << json_num(s.hook) << ", \"cpu_percent_median\": " << json_num(s.cpu, 1)
        << ", \"vmhwm_kb_median\": " << json_num(s.hwm, 0)
        << ", \"ratio_to_fsync_create_1t\": " << json_num(fsync1 > 0 ? s.rate / fsync1 : 0.0)
        << ",\n     \"runs\": [";
      for (size_t k = 0; k < dc.runs.size(); ++k) {
        auto& r = dc.runs[k];
        j << (k ? ",\n              " : "") << "{\"order\": " << dc.order[k] << ", \"msgs\": " << r.w.ops
          << ", \"seconds\": " << json_num(r.w.seconds, 2) << ", \"msgs_per_s\": " << json_num(r.msgs_per_s, 1)
          << ", " << latency_json(r.w.lat) << ", \"errors\": " << r.w.errors
          << ", \"commit_batches\": " << r.batches << ", \"avg_batch\": "
          << json_num(r.batches ? static_cast<double>(r.w.ops) / static_cast<double>(r.batches) : 0, 2)
          << ", \"hook_ms_total\": " << json_num(r.hook_ms, 1)
          << ", \"cpu_seconds\": " << json_num(r.w.cpu_s, 2) << ", \"vmhwm_kb\": " << r.vmhwm_kb
          << ", \"read_back_ok\": " << (r.verified ? "true" : "false") << "}";
      }
      j << "]}" << (i + 1 < del_cases.size() ? "," : "") << "\n";
    }
    j << "  ],\n  \"peak_rss_kb\": " << peak_rss << ",\n  \"vmhwm_kb\": " << vmhwm << "\n}\n";
    fs::path out(o.out);
    if (out.has_parent_path()) fs::create_directories(out.parent_path(), ec);
    std::ofstream f(out);
    f << j.str();
    f.close();
    if (!f) {
      std::cerr << "bench_delivery: cannot write " << o.out << "\n";
      failed = true;
    } else {
      std::cout << "\nwrote " << o.out << "\n";
    }
  }

  fs::remove_all(work, ec);
  if (ec) std::cerr << "bench_delivery: could not remove " << work << ": " << ec.message() << "\n";
  std::error_code ec2;
  if (fs::is_empty(o.work_root, ec2)) fs::remove(o.work_root, ec2);
  return failed ? 1 : 0;
}

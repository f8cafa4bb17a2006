// bench_imap_load: an IMAP load generator for bench/imap_bench.py (and for ad-hoc runs).
//
// Two modes.
//
// 1. Mixed profile (default). C concurrent simulated clients, one thread each, plain
//    blocking sockets, TCP_NODELAY. Client i logs in as user (i mod N) + 1 and runs sessions
//    back to back:
//
//      connect + greeting, LOGIN, SELECT INBOX,
//      --ops-per-session operations, each drawn at random with these weights (default):
//        fetch_headers 30  UID FETCH a:a+49 (UID FLAGS RFC822.SIZE
//                              BODY.PEEK[HEADER.FIELDS (FROM TO SUBJECT DATE)])   (a page)
//        fetch_body    30  UID FETCH u (BODY.PEEK[])                               (open a message)
//        store         30  UID STORE u +FLAGS (\Seen), next time -FLAGS (\Seen)  (read/unread)
//        append         5  APPEND INBOX {4096+} a distinct ~4 KB message; it is always followed
//                          by "expunge" of that message: UID STORE uid +FLAGS.SILENT (\Deleted)
//                          then UID EXPUNGE uid (UIDPLUS; the uid comes from APPENDUID)
//        idle           5  IDLE, wait for "+", hold --idle-ms (2), DONE, tagged OK
//      LOGOUT.
//
//    Pages and messages are chosen uniformly among UIDs 1..min(--messages, EXISTS at
//    SELECT) (the pre-filled messages). Every operation's latency runs from sending its first
//    command to its tagged OK (for "expunge" across both commands; for "idle" the hold is
//    excluded: IDLE->"+" plus DONE->OK). Only operations completing inside the measurement
//    window (after --warmup-seconds, for --duration-seconds) count. Output: one JSON object
//    with the overall ops/s and latency percentiles (every operation except "connect"), the same
//    for the mail operations alone ("mail_ops": leaving out connect, LOGIN, SELECT, LOGOUT, so
//    that a run with a large --ops-per-session compares the servers without their logins) and the same
//    per operation type, errors (NO/BAD/lost connections) with samples, and sanity counters
//    (FETCH responses received per page, body bytes) so that a server answering OK without
//    data would show.
//
// 2. --idle-hold N. Opens N connections with epoll (non-blocking, one thread), at most
//    --ramp-concurrency of them between connect and IDLE at any time; each logs in, selects
//    INBOX and enters IDLE. When every connection is idling (or failed), prints one JSON line
//    {"ready": true, "idling": ..., "failed": ..., ...} to stdout and keeps the connections
//    (answering nothing, reading whatever the server sends) until stdin reaches EOF or
//    --hold-seconds pass; then closes them and prints a second JSON line. With --tls the
//    connections speak implicit TLS (imaps) through OpenSSL if it was found at build time.
//
//   bench_imap_load --port P [--host 127.0.0.1] [--connections 16] [--users 16]
//                   [--user-format u{i}@bench.care.example] [--password-format PW{i}]
//                   [--duration-seconds 20] [--warmup-seconds 2] [--ops-per-session 200]
//                   [--weights H,B,S,A,I] [--idle-ms 2] [--page 50] [--messages N]
//                   [--append-size 4096]
//                   [--seed S] [--tag TEXT] [--timeout-seconds 60] [--out FILE]
//   bench_imap_load --port P --idle-hold N [--users 16] [--user-format ..] [--password-format ..]
//                   [--ramp-concurrency 64] [--hold-seconds 600] [--tls]
//
// Exit status 0 when the run completed (errors are data), 2 on bad usage, 1 when nothing
// could be done at all.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#ifdef BENCH_WITH_OPENSSL
#include <openssl/err.h>
#include <openssl/ssl.h>
#endif

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <deque>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}

struct Options {
  std::string host = "127.0.0.1";
  int port = 0;
  int connections = 16;
  int users = 16;
  std::string user_format = "u{i}@bench.care.example";
  std::string password_format = "quill-meadow-{i}-x7Qz";
  double duration_s = 20;
  double warmup_s = 2;
  int ops_per_session = 200;
  std::array<int, 5> weights{30, 30, 30, 5, 5};  // fetch_headers, fetch_body, store, append, idle
  int idle_ms = 2;
  int page = 50;
  int messages = 0;  // pre-filled messages (UIDs 1..N); 0: EXISTS at SELECT
  size_t append_size = 4096;
  uint64_t seed = 0;
  std::string tag;
  double timeout_s = 60;
  std::string out;
  // --idle-hold
  int idle_hold = 0;
  int ramp = 64;
  double hold_s = 600;
  bool tls = false;
};

[[noreturn]] void usage(const std::string& why) {
  std::cerr << "bench_imap_load: " << why << "\n"
            << "usage: bench_imap_load --port P [--host H] [--connections C] [--users N]\n"
               "         [--user-format u{i}@domain] [--password-format pw{i}] [--duration-seconds S]\n"
               "         [--warmup-seconds S] [--ops-per-session N] [--weights H,B,S,A,I] [--idle-ms MS]\n"
               "         [--page N] [--messages N] [--append-size BYTES] [--seed S] [--tag T] [--timeout-seconds S] [--out FILE]\n"
               "       bench_imap_load --port P --idle-hold N [--ramp-concurrency K] [--hold-seconds S] [--tls]\n";
  std::exit(2);
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto val = [&]() -> std::string {
      if (i + 1 >= argc) usage(a + " needs a value");
      return argv[++i];
    };
    try {
      if (a == "--host") o.host = val();
      else if (a == "--port") o.port = std::stoi(val());
      else if (a == "--connections") o.connections = std::stoi(val());
      else if (a == "--users") o.users = std::stoi(val());
      else if (a == "--user-format") o.user_format = val();
      else if (a == "--password-format") o.password_format = val();
      else if (a == "--duration-seconds") o.duration_s = std::stod(val());
      else if (a == "--warmup-seconds") o.warmup_s = std::stod(val());
      else if (a == "--ops-per-session") o.ops_per_session = std::stoi(val());
      else if (a == "--weights") {
        std::string v = val();
        std::istringstream is(v);
        std::string part;
        size_t k = 0;
        while (std::getline(is, part, ',')) {
          if (k >= o.weights.size()) usage("--weights takes 5 numbers");
          o.weights[k++] = std::stoi(part);
        }
        if (k != o.weights.size()) usage("--weights takes 5 numbers");
      } else if (a == "--idle-ms") o.idle_ms = std::stoi(val());
      else if (a == "--page") o.page = std::stoi(val());
      else if (a == "--messages") o.messages = std::stoi(val());
      else if (a == "--append-size") o.append_size = std::stoul(val());
      else if (a == "--seed") o.seed = std::stoull(val());
      else if (a == "--tag") o.tag = val();
      else if (a == "--timeout-seconds") o.timeout_s = std::stod(val());
      else if (a == "--out") o.out = val();
      else if (a == "--idle-hold") o.idle_hold = std::stoi(val());
      else if (a == "--ramp-concurrency") o.ramp = std::stoi(val());
      else if (a == "--hold-seconds") o.hold_s = std::stod(val());
      else if (a == "--tls") o.tls = true;
      else if (a == "--help" || a == "-h") usage("help");
      else usage("unknown option " + a);
    } catch (const std::logic_error&) {
      usage("bad value for " + a);
    }
  }
  if (o.port <= 0 || o.port > 65535) usage("--port is required");
  if (o.connections < 1 || o.connections > 4096) usage("--connections must be 1..4096");
  if (o.users < 1) usage("--users must be at least 1");
  if (o.ops_per_session < 1) usage("--ops-per-session must be at least 1");
  if (o.page < 1) usage("--page must be at least 1");
  if (o.append_size < 1024) usage("--append-size must be at least 1024");
  if (o.duration_s <= 0 || o.warmup_s < 0) usage("bad duration");
  if (o.idle_hold < 0 || o.ramp < 1) usage("bad --idle-hold / --ramp-concurrency");
  int wsum = 0;
  for (int w : o.weights) {
    if (w < 0) usage("weights must be >= 0");
    wsum += w;
  }
  if (wsum == 0) usage("weights sum to 0");
#ifndef BENCH_WITH_OPENSSL
  if (o.tls) usage("--tls: built without OpenSSL");
#endif
  if (o.tls && o.idle_hold == 0) usage("--tls is for --idle-hold only");
  if (o.tag.empty()) {
    char b[40];
    std::snprintf(b, sizeof b, "I%lx%x", static_cast<unsigned long>(std::time(nullptr)), static_cast<unsigned>(::getpid()));
    o.tag = b;
  }
  if (o.seed == 0) o.seed = static_cast<uint64_t>(std::time(nullptr)) ^ (static_cast<uint64_t>(::getpid()) << 20);
  return o;
}

std::string fill(const std::string& fmt, int i) {
  std::string out = fmt;
  std::string n = std::to_string(i);
  for (size_t p; (p = out.find("{i}")) != std::string::npos;) out.replace(p, 3, n);
  return out;
}

// IMAP quoted string (the bench's user names and passwords need no literal).
std::string quoted(std::string_view s) {
  std::string o = "\"";
  for (char ch : s) {
    if (ch == '"' || ch == '\\') o += '\\';
    o += ch;
  }
  return o + "\"";
}

double percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  double idx = p * static_cast<double>(sorted.size() - 1);
  size_t lo = static_cast<size_t>(idx);
  size_t hi = std::min(lo + 1, sorted.size() - 1);
  double f = idx - static_cast<double>(lo);
  return sorted[lo] * (1 - f) + sorted[hi] * f;
}

std::string json_str(std::string_view s) {
  std::string o = "\"";
  for (unsigned char ch : s) {
    if (ch == '"' || ch == '\\') {
      o += '\\';
      o += static_cast<char>(ch);
    } else if (ch < 0x20 || ch >= 0x7f) {
      char b[8];
      std::snprintf(b, sizeof b, "\\u%04x", ch);
      o += b;
    } else {
      o += static_cast<char>(ch);
    }
  }
  return o + "\"";
}

std::string num(double v, int prec = 3) {
  char b[64];
  std::snprintf(b, sizeof b, "%.*f", prec, v);
  return b;
}

double cpu_seconds() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

void raise_nofile() {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &rl);
  }
}

bool resolve(const Options& o, sockaddr_storage& addr, socklen_t& len) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (int rc = ::getaddrinfo(o.host.c_str(), std::to_string(o.port).c_str(), &hints, &res); rc != 0 || !res) {
    std::cerr << "bench_imap_load: cannot resolve " << o.host << ": " << ::gai_strerror(rc) << "\n";
    return false;
  }
  std::memcpy(&addr, res->ai_addr, res->ai_addrlen);
  len = res->ai_addrlen;
  ::freeaddrinfo(res);
  return true;
}

// ---------------------------------------------------------------------------------------
// A distinct ~4 KB message for APPEND (realistic headers, text body, exact size).

constexpr const char* kLorem =
    "Thank you for seeing this patient in clinic. She was discharged home on the ward round\r\n"
    "this morning after an uneventful recovery. Please review her medication in two weeks,\r\n"
    "in particular the anticoagulation, and arrange repeat bloods (FBC, U&E, LFT) at the\r\n"
    "practice. The full discharge summary and the clinic letter are attached; the imaging\r\n"
    "report will follow from radiology once it has been verified by the consultant.\r\n"
    "Safety-netting advice was given and understood. Do not hesitate to contact the ward.\r\n";

std::string make_message(const std::string& tag, uint64_t seq, const std::string& to, size_t size) {
  char id[96];
  std::snprintf(id, sizeof id, "%s-a%012" PRIu64, tag.c_str(), seq);
  char date[64];
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  ::gmtime_r(&now, &tm);
  std::strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", &tm);
  std::string m;
  m.reserve(size + 64);
  m += "From: \"Dr Bob Example\" <bob.example@care.example>\r\n";
  m += "To: <" + to + ">\r\n";
  m += "Subject: Draft: referral letter (ref " + std::string(id) + ")\r\n";
  m += std::string("Date: ") + date + "\r\n";
  m += "Message-ID: <" + std::string(id) + "@care.example>\r\n";
  m += "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\n";
  m += "Dear colleague,\r\n\r\nRe: reference " + std::string(id) + "\r\n\r\n";
  std::string tail = "\r\nKind regards,\r\nDr Bob Example\r\n";
  size_t fixed = m.size() + tail.size();
  size_t fillb = size > fixed ? size - fixed : 0;
  size_t ll = std::strlen(kLorem);
  while (fillb > 0) {
    size_t n = std::min(fillb, ll);
    m.append(kLorem, n);
    fillb -= n;
  }
  if (m.back() == '\r') m.back() = ' ';
  m += tail;
  return m;
}

// ---------------------------------------------------------------------------------------
// Blocking IMAP client connection.

struct Response {
  bool ok = false;        // tagged OK
  bool lost = false;      // connection lost / timed out / protocol error
  std::string status;     // the tagged line (or why it was lost)
  size_t fetches = 0;     // untagged "* n FETCH" responses
  size_t literal_bytes = 0;
  int64_t exists = -1;    // last "* n EXISTS"
  bool continuation = false;  // stopped at a "+" (when asked to)
};

class Conn {
 public:
  ~Conn() { close(); }

  bool open(const sockaddr_storage& addr, socklen_t len, double timeout_s) {
    close();
    fd_ = ::socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) return false;
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(timeout_s);
    tv.tv_usec = static_cast<suseconds_t>((timeout_s - static_cast<double>(tv.tv_sec)) * 1e6);
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (::connect(fd_, reinterpret_cast<const sockaddr*>(&addr), len) != 0) {
      close();
      return false;
    }
    buf_.clear();
    pos_ = 0;
    return true;
  }

  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  bool ok() const { return fd_ >= 0; }
  uint64_t bytes_in() const { return bytes_in_; }

  bool send(std::string_view data) {
    while (!data.empty()) {
      ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        close();
        return false;
      }
      data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  // One response line with its literals ("{n}\r\n" + n bytes) folded in; literal bytes are
  // counted but not kept (only their first 64 bytes, for error samples).
  bool read_logical_line(std::string& line, size_t& literal_bytes) {
    line.clear();
    for (;;) {
      std::string part;
      if (!read_line(part)) return false;
      line += part;
      // literal at the end of the line: {n} or {n+}
      if (!part.empty() && part.back() == '}') {
        size_t open = part.rfind('{');
        if (open != std::string::npos) {
          std::string digits = part.substr(open + 1, part.size() - open - 2);
          if (!digits.empty() && digits.back() == '+') digits.pop_back();
          if (!digits.empty() && std::all_of(digits.begin(), digits.end(), ::isdigit)) {
            size_t n = std::stoul(digits);
            if (!skip(n)) return false;
            literal_bytes += n;
            line += "<literal>";
            continue;
          }
        }
      }
      return true;
    }
  }

  // Reads until the tagged response for `tag` (or a continuation when stop_at_plus).
  Response read_until(std::string_view tag, bool stop_at_plus = false) {
    Response r;
    std::string line;
    for (;;) {
      if (!read_logical_line(line, r.literal_bytes)) {
        close();
        r.lost = true;
        r.status = "connection lost or timed out";
        return r;
      }
      if (line.size() >= 2 && line[0] == '*' && line[1] == ' ') {
        // "* n FETCH", "* n EXISTS", "* BYE"
        size_t sp = line.find(' ', 2);
        if (sp != std::string::npos && std::isdigit(static_cast<unsigned char>(line[2]))) {
          std::string_view rest = std::string_view(line).substr(sp + 1);
          if (rest.substr(0, 5) == "FETCH") ++r.fetches;
          else if (rest.substr(0, 6) == "EXISTS") r.exists = std::atoll(line.c_str() + 2);
        } else if (line.compare(2, 3, "BYE") == 0) {
          bye_ = line;
        }
        continue;
      }
      if (!line.empty() && line[0] == '+') {
        if (stop_at_plus) {
          r.continuation = true;
          r.status = line;
          return r;
        }
        continue;
      }
      if (line.size() > tag.size() && line.compare(0, tag.size(), tag) == 0 && line[tag.size()] == ' ') {
        r.status = line;
        r.ok = line.compare(tag.size() + 1, 2, "OK") == 0;
        return r;
      }
      // anything else: a protocol error
      close();
      r.lost = true;
      r.status = "unexpected line: " + line.substr(0, 200);
      return r;
    }
  }

  const std::string& bye() const { return bye_; }

 private:
  bool fill_buf() {
    if (pos_ > 0 && pos_ == buf_.size()) {
      buf_.clear();
      pos_ = 0;
    } else if (pos_ > 65536) {
      buf_.erase(0, pos_);
      pos_ = 0;
    }
    char tmp[16384];
    for (;;) {
      ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      bytes_in_ += static_cast<uint64_t>(n);
      buf_.append(tmp, static_cast<size_t>(n));
      return true;
    }
  }

  bool read_line(std::string& line) {
    for (;;) {
      size_t nl = buf_.find('\n', pos_);
      if (nl != std::string::npos) {
        size_t end = nl;
        if (end > pos_ && buf_[end - 1] == '\r') --end;
        line.assign(buf_, pos_, end - pos_);
        pos_ = nl + 1;
        return true;
      }
      if (buf_.size() - pos_ > 1 << 20) return false;  // a line over 1 MB
      if (!fill_buf()) return false;
    }
  }

  bool skip(size_t n) {
    while (n > 0) {
      if (pos_ == buf_.size() && !fill_buf()) return false;
      size_t k = std::min(n, buf_.size() - pos_);
      pos_ += k;
      n -= k;
    }
    return true;
  }

  int fd_ = -1;
  std::string buf_;
  size_t pos_ = 0;
  uint64_t bytes_in_ = 0;
  std::string bye_;
};

// ---------------------------------------------------------------------------------------
// Mixed profile.

enum Op : int { kConnect, kLogin, kSelect, kFetchHeaders, kFetchBody, kStore, kAppend, kExpunge, kIdle, kLogout, kOps };
const char* kOpNames[kOps] = {"connect", "login", "select", "fetch_headers", "fetch_body",
                              "store", "append", "expunge", "idle", "logout"};

struct Sample {
  int64_t done_ns;
  float lat_ms;
  uint8_t op;
};

struct ErrorEvent {
  int64_t at_ns;
  std::string what;
};

struct Shared {
  const Options* o = nullptr;
  sockaddr_storage addr{};
  socklen_t addr_len = 0;
  std::atomic<uint64_t> seq{0};
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> sessions{0};
  std::atomic<int> ready{0};  // connections that have logged in and selected at least once
  std::atomic<uint64_t> header_fetches{0}, header_pages{0}, empty_pages{0};
  std::atomic<uint64_t> body_fetches{0}, body_bytes{0}, empty_bodies{0};
  std::atomic<uint64_t> appended{0}, expunged{0}, bytes_in{0};
  std::atomic<int> min_exists{INT32_MAX};
};

struct Worker {
  int index = 0;
  bool was_ready = false;
  std::vector<Sample> samples;
  std::vector<ErrorEvent> errors;
};

void worker_main(Shared& sh, Worker& w) {
  const Options& o = *sh.o;
  std::mt19937_64 rng(o.seed * 1000003u + static_cast<uint64_t>(w.index));
  const int user_no = w.index % o.users + 1;
  const std::string user = fill(o.user_format, user_no);
  const std::string pass = fill(o.password_format, user_no);
  const std::string to = user;
  int wsum = 0;
  for (int x : o.weights) wsum += x;
  uint64_t tagn = 0;
  bool seen_plus = true;  // alternate +FLAGS / -FLAGS
  Conn c;

  auto error = [&](std::string what) {
    if (what.size() > 300) what.resize(300);
    w.errors.push_back({now_ns(), std::move(what)});
  };
  auto record = [&](Op op, int64_t t0, int64_t t1) {
    w.samples.push_back({t1, static_cast<float>(static_cast<double>(t1 - t0) / 1e6), static_cast<uint8_t>(op)});
  };
  auto next_tag = [&]() { return "a" + std::to_string(++tagn); };

  // Runs one command; records it as `op` when OK. Returns the response.
  auto command = [&](Op op, const std::string& text, bool rec = true) -> Response {
    std::string tag = next_tag();
    int64_t t0 = now_ns();
    if (!c.send(tag + " " + text + "\r\n")) {
      Response r;
      r.lost = true;
      r.status = "send failed";
      error(std::string(kOpNames[op]) + ": send failed");
      return r;
    }
    Response r = c.read_until(tag);
    int64_t t1 = now_ns();
    if (r.ok) {
      if (rec) record(op, t0, t1);
    } else {
      error(std::string(kOpNames[op]) + ": " + text.substr(0, 60) + " -> " + r.status +
            (c.bye().empty() ? "" : " [" + c.bye() + "]"));
    }
    return r;
  };

  while (!sh.stop.load(std::memory_order_relaxed)) {
    // ---- connect + greeting
    int64_t t0 = now_ns();
    if (!c.open(sh.addr, sh.addr_len, o.timeout_s)) {
      error(std::string("connect: ") + std::strerror(errno));
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      continue;
    }
    std::string greeting;
    size_t lb = 0;
    if (!c.read_logical_line(greeting, lb) || greeting.rfind("* OK", 0) != 0) {
      error("greeting: " + greeting);
      c.close();
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      continue;
    }
    record(kConnect, t0, now_ns());
    bool literal_plus = greeting.find("LITERAL+") != std::string::npos;
    sh.sessions.fetch_add(1, std::memory_order_relaxed);

    Response r = command(kLogin, "LOGIN " + quoted(user) + " " + quoted(pass));
    if (!r.ok) {
      c.close();
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      continue;
    }
    if (r.status.find("LITERAL+") != std::string::npos) literal_plus = true;
    r = command(kSelect, "SELECT INBOX");
    if (!r.ok) {
      c.close();
      continue;
    }
    // Pick among the pre-filled messages only: EXISTS also counts messages that other
    // clients appended and are about to expunge.
    int exists = static_cast<int>(std::max<int64_t>(r.exists, 0));
    if (o.messages > 0 && exists > o.messages) exists = o.messages;
    {
      int cur = sh.min_exists.load();
      while (exists < cur && !sh.min_exists.compare_exchange_weak(cur, exists)) {
      }
    }
    if (exists < 1) {
      error("SELECT INBOX: mailbox is empty (pre-fill missing?)");
      c.close();
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
      continue;
    }
    if (!w.was_ready) {
      w.was_ready = true;
      sh.ready.fetch_add(1, std::memory_order_relaxed);
    }
    std::uniform_int_distribution<int> pick_uid(1, exists);
    std::uniform_int_distribution<int> pick_page(1, std::max(1, exists - o.page + 1));
    std::uniform_int_distribution<int> pick_op(0, wsum - 1);

    for (int k = 0; k < o.ops_per_session && c.ok() && !sh.stop.load(std::memory_order_relaxed); ++k) {
      int x = pick_op(rng), which = 0;
      while (x >= o.weights[static_cast<size_t>(which)]) x -= o.weights[static_cast<size_t>(which++)];
      switch (which) {
        case 0: {  // a page of headers
          int a = pick_page(rng);
          r = command(kFetchHeaders, "UID FETCH " + std::to_string(a) + ":" + std::to_string(a + o.page - 1) +
                                         " (UID FLAGS RFC822.SIZE BODY.PEEK[HEADER.FIELDS (FROM TO SUBJECT DATE)])");
          if (r.ok) {
            sh.header_pages.fetch_add(1, std::memory_order_relaxed);
            sh.header_fetches.fetch_add(r.fetches, std::memory_order_relaxed);
            if (r.fetches == 0) sh.empty_pages.fetch_add(1, std::memory_order_relaxed);
          }
          break;
        }
        case 1: {  // a body
          r = command(kFetchBody, "UID FETCH " + std::to_string(pick_uid(rng)) + " (BODY.PEEK[])");
          if (r.ok) {
            sh.body_fetches.fetch_add(1, std::memory_order_relaxed);
            sh.body_bytes.fetch_add(r.literal_bytes, std::memory_order_relaxed);
            if (r.literal_bytes == 0) sh.empty_bodies.fetch_add(1, std::memory_order_relaxed);
          }
          break;
        }
        case 2: {  // mark read / unread
          r = command(kStore, "UID STORE " + std::to_string(pick_uid(rng)) + (seen_plus ? " +FLAGS" : " -FLAGS") +
                                  " (\\Seen)");
          seen_plus = !seen_plus;
          break;
        }
        case 3: {  // append a message, then delete and expunge it
          uint64_t seq = sh.seq.fetch_add(1, std::memory_order_relaxed);
          std::string msg = make_message(o.tag, seq, to, o.append_size);
          std::string tag = next_tag();
          int64_t a0 = now_ns();
          std::string head = tag + " APPEND INBOX () {" + std::to_string(msg.size()) + (literal_plus ? "+}\r\n" : "}\r\n");
          bool sent = c.send(head);
          if (sent && !literal_plus) {
            Response cont = c.read_until(tag, true);
            if (!cont.continuation) {
              error("append: no continuation: " + cont.status);
              if (!cont.lost) break;
              sent = false;
            }
          }
          if (sent) sent = c.send(msg + "\r\n");
          if (!sent) {
            error("append: send failed");
            break;
          }
          Response ar = c.read_until(tag);
          int64_t a1 = now_ns();
          if (!ar.ok) {
            error("append: " + ar.status);
            break;
          }
          record(kAppend, a0, a1);
          sh.appended.fetch_add(1, std::memory_order_relaxed);
          // [APPENDUID uidvalidity uid]
          size_t p = ar.status.find("[APPENDUID ");
          if (p == std::string::npos) {
            error("append: no APPENDUID in " + ar.status);
            break;
          }
          std::istringstream is(ar.status.substr(p + 11));
          uint64_t uidvalidity = 0, uid = 0;
          is >> uidvalidity >> uid;
          if (uid == 0) {
            error("append: bad APPENDUID in " + ar.status);
            break;
          }
          int64_t e0 = now_ns();
          Response s1 = command(kExpunge, "UID STORE " + std::to_string(uid) + " +FLAGS.SILENT (\\Deleted)", false);
          if (!s1.ok) break;
          Response s2 = command(kExpunge, "UID EXPUNGE " + std::to_string(uid), false);
          if (!s2.ok) break;
          record(kExpunge, e0, now_ns());
          sh.expunged.fetch_add(1, std::memory_order_relaxed);
          break;
        }
        case 4: {  // IDLE briefly
          std::string tag = next_tag();
          int64_t i0 = now_ns();
          if (!c.send(tag + " IDLE\r\n")) {
            error("idle: send failed");
            break;
          }
          Response cont = c.read_until(tag, true);
          int64_t i1 = now_ns();
          if (!cont.continuation) {
            error("idle: no continuation: " + cont.status);
            break;
          }
          if (o.idle_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(o.idle_ms));
          int64_t i2 = now_ns();
          if (!c.send("DONE\r\n")) {
            error("idle: send of DONE failed");
            break;
          }
          Response done = c.read_until(tag);
          int64_t i3 = now_ns();
          if (!done.ok) {
            error("idle: DONE -> " + done.status);
            break;
          }
          w.samples.push_back({i3, static_cast<float>(static_cast<double>((i1 - i0) + (i3 - i2)) / 1e6),
                               static_cast<uint8_t>(kIdle)});
          break;
        }
      }
    }
    if (c.ok()) command(kLogout, "LOGOUT");
    sh.bytes_in.fetch_add(c.bytes_in(), std::memory_order_relaxed);
    c.close();
  }
}

struct Stats {
  uint64_t n = 0;
  double p50 = 0, p90 = 0, p99 = 0, max = 0, mean = 0;
};

Stats stats(std::vector<double>& v) {
  Stats s;
  std::sort(v.begin(), v.end());
  s.n = v.size();
  if (v.empty()) return s;
  s.p50 = percentile(v, 0.5);
  s.p90 = percentile(v, 0.9);
  s.p99 = percentile(v, 0.99);
  s.max = v.back();
  double sum = 0;
  for (double x : v) sum += x;
  s.mean = sum / static_cast<double>(v.size());
  return s;
}

std::string stats_json(const Stats& s, double secs) {
  return "{\"ops\": " + std::to_string(s.n) + ", \"ops_per_s\": " + num(secs > 0 ? static_cast<double>(s.n) / secs : 0, 1) +
         ", \"p50_ms\": " + num(s.p50) + ", \"p90_ms\": " + num(s.p90) + ", \"p99_ms\": " + num(s.p99) +
         ", \"max_ms\": " + num(s.max) + ", \"mean_ms\": " + num(s.mean) + "}";
}

int run_mixed(const Options& o) {
  Shared sh;
  sh.o = &o;
  if (!resolve(o, sh.addr, sh.addr_len)) return 1;
  std::vector<Worker> workers(static_cast<size_t>(o.connections));
  for (size_t i = 0; i < workers.size(); ++i) workers[i].index = static_cast<int>(i);
  std::vector<std::thread> threads;
  double cpu0 = cpu_seconds();
  auto wall0 = std::chrono::system_clock::now();
  int64_t start_ns = now_ns();
  for (auto& w : workers) threads.emplace_back([&sh, &w] { worker_main(sh, w); });
  // The warm-up starts when every connection has logged in and selected once (at most
  // 120 s): with long sessions (--ops-per-session 1000000) the logins, which take a
  // Argon2id hash each on either server, then stay out of the measured window.
  for (int waited = 0; sh.ready.load() < o.connections && waited < 1200; ++waited)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  std::this_thread::sleep_for(std::chrono::duration<double>(o.warmup_s));
  int64_t ws = now_ns();
  double cpu_ws = cpu_seconds();
  std::this_thread::sleep_for(std::chrono::duration<double>(o.duration_s));
  int64_t we = now_ns();
  double cpu_we = cpu_seconds();
  sh.stop.store(true);
  for (auto& t : threads) t.join();
  int64_t end_ns = now_ns();

  std::vector<double> all;
  std::vector<double> mail;  // the mail operations: every one but connect, login, select, logout
  std::vector<std::vector<double>> per(kOps);
  uint64_t errors_in = 0, errors_total = 0;
  std::vector<std::string> samples;
  for (auto& w : workers) {
    for (auto& s : w.samples)
      if (s.done_ns >= ws && s.done_ns <= we) {
        per[s.op].push_back(s.lat_ms);
        if (s.op != kConnect) all.push_back(s.lat_ms);
        if (s.op != kConnect && s.op != kLogin && s.op != kSelect && s.op != kLogout) mail.push_back(s.lat_ms);
      }
    for (auto& e : w.errors) {
      ++errors_total;
      if (e.at_ns >= ws && e.at_ns <= we) ++errors_in;
      if (samples.size() < 10 && std::find(samples.begin(), samples.end(), e.what) == samples.end())
        samples.push_back(e.what);
    }
  }
  double secs = static_cast<double>(we - ws) / 1e9;
  Stats overall = stats(all);
  Stats mail_ops = stats(mail);
  std::ostringstream j;
  j << "{\"mode\": \"mixed\", \"host\": " << json_str(o.host) << ", \"port\": " << o.port
    << ", \"connections\": " << o.connections << ", \"users\": " << o.users
    << ", \"ops_per_session\": " << o.ops_per_session << ", \"weights\": {\"fetch_headers\": " << o.weights[0]
    << ", \"fetch_body\": " << o.weights[1] << ", \"store\": " << o.weights[2] << ", \"append_expunge\": " << o.weights[3]
    << ", \"idle\": " << o.weights[4] << "}, \"idle_ms\": " << o.idle_ms << ", \"page\": " << o.page
    << ", \"messages\": " << o.messages << ", \"append_size\": " << o.append_size << ", \"warmup_seconds\": " << num(o.warmup_s, 1)
    << ", \"duration_seconds\": " << num(o.duration_s, 1)
    << ", \"started_at_unix\": " << num(std::chrono::duration<double>(wall0.time_since_epoch()).count(), 3)
    << ", \"seconds\": " << num(secs) << ", \"ops\": " << overall.n
    << ", \"ops_per_s\": " << num(secs > 0 ? static_cast<double>(overall.n) / secs : 0, 1)
    << ", \"p50_ms\": " << num(overall.p50) << ", \"p90_ms\": " << num(overall.p90) << ", \"p99_ms\": " << num(overall.p99)
    << ", \"max_ms\": " << num(overall.max) << ", \"mean_ms\": " << num(overall.mean)
    << ", \"mail_ops\": " << stats_json(mail_ops, secs) << ", \"by_op\": {";
  for (int k = 0; k < kOps; ++k) {
    Stats s = stats(per[static_cast<size_t>(k)]);
    j << (k ? ", " : "") << json_str(kOpNames[k]) << ": " << stats_json(s, secs);
  }
  j << "}, \"errors\": " << errors_in << ", \"errors_total\": " << errors_total << ", \"error_samples\": [";
  for (size_t i = 0; i < samples.size(); ++i) j << (i ? ", " : "") << json_str(samples[i]);
  int min_exists = sh.min_exists.load();
  j << "], \"sessions\": " << sh.sessions.load() << ", \"min_exists_at_select\": " << (min_exists == INT32_MAX ? -1 : min_exists)
    << ", \"check\": {\"header_pages\": " << sh.header_pages.load()
    << ", \"header_fetch_responses\": " << sh.header_fetches.load()
    << ", \"fetch_responses_per_page\": "
    << num(sh.header_pages.load() ? static_cast<double>(sh.header_fetches.load()) / static_cast<double>(sh.header_pages.load()) : 0, 2)
    << ", \"empty_pages\": " << sh.empty_pages.load() << ", \"body_fetches\": " << sh.body_fetches.load()
    << ", \"body_bytes\": " << sh.body_bytes.load() << ", \"empty_bodies\": " << sh.empty_bodies.load()
    << ", \"appended\": " << sh.appended.load() << ", \"expunged\": " << sh.expunged.load()
    << "}, \"bytes_in\": " << sh.bytes_in.load()
    << ", \"total_seconds\": " << num(static_cast<double>(end_ns - start_ns) / 1e9)
    << ", \"client_cpu_seconds_window\": " << num(cpu_we - cpu_ws)
    << ", \"client_cpu_seconds\": " << num(cpu_seconds() - cpu0) << "}";
  std::cout << j.str() << std::endl;
  if (!o.out.empty()) {
    std::ofstream f(o.out);
    f << j.str() << "\n";
    if (!f) {
      std::cerr << "bench_imap_load: cannot write " << o.out << "\n";
      return 1;
    }
  }
  return sh.sessions.load() == 0 ? 1 : 0;
}

// ---------------------------------------------------------------------------------------
// --idle-hold: N connections in IDLE, one epoll thread.

enum class St { connecting, tls_handshake, greeting, login, select, idle_cmd, idling, closed };

struct HoldConn {
  int fd = -1;
  int index = 0;
  St st = St::closed;
  std::string in;
  std::string out;
  int attempts = 0;
#ifdef BENCH_WITH_OPENSSL
  SSL* ssl = nullptr;
#endif
};

class Holder {
 public:
  explicit Holder(const Options& o) : o_(o) {}

  int run() {
    raise_nofile();
    if (!resolve(o_, addr_, addr_len_)) return 1;
#ifdef BENCH_WITH_OPENSSL
    if (o_.tls) {
      ctx_ = SSL_CTX_new(TLS_client_method());
      SSL_CTX_set_verify(ctx_, SSL_VERIFY_NONE, nullptr);
      SSL_CTX_set_session_cache_mode(ctx_, SSL_SESS_CACHE_OFF);
    }
#endif
    ep_ = ::epoll_create1(EPOLL_CLOEXEC);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = UINT64_MAX;  // stdin
    stdin_open_ = ::epoll_ctl(ep_, EPOLL_CTL_ADD, 0, &ev) == 0;
    conns_.resize(static_cast<size_t>(o_.idle_hold));
    for (size_t i = 0; i < conns_.size(); ++i) {
      conns_[i].index = static_cast<int>(i);
      pending_.push_back(static_cast<int>(i));
    }
    int64_t t0 = now_ns();
    int64_t last_progress = t0;
    bool ready_printed = false;
    int64_t hold_until = 0;
    std::vector<epoll_event> evs(1024);
    for (;;) {
      while (in_flight_ < o_.ramp && !pending_.empty()) {
        int i = pending_.front();
        pending_.pop_front();
        start(conns_[static_cast<size_t>(i)]);
      }
      if (!ready_printed && pending_.empty() && in_flight_ == 0) {
        ready_printed = true;
        ready_seconds_ = static_cast<double>(now_ns() - t0) / 1e9;
        std::cout << "{\"ready\": true, \"idling\": " << idling_ << ", \"failed\": " << failed_
                  << ", \"seconds\": " << num(ready_seconds_, 2) << ", \"error_samples\": " << samples_json() << "}"
                  << std::endl;
        hold_until = now_ns() + static_cast<int64_t>(o_.hold_s * 1e9);
      }
      if (ready_printed && (!stdin_open_ || now_ns() >= hold_until)) break;
      int n = ::epoll_wait(ep_, evs.data(), static_cast<int>(evs.size()), 500);
      if (n < 0 && errno != EINTR) break;
      for (int k = 0; k < n; ++k) {
        if (evs[static_cast<size_t>(k)].data.u64 == UINT64_MAX) {
          char b[256];
          ssize_t r = ::read(0, b, sizeof b);
          if (r <= 0) {
            ::epoll_ctl(ep_, EPOLL_CTL_DEL, 0, nullptr);
            stdin_open_ = false;
          }
          continue;
        }
        HoldConn& c = conns_[evs[static_cast<size_t>(k)].data.u64];
        if (c.fd < 0) continue;
        handle(c, evs[static_cast<size_t>(k)].events);
      }
      if (now_ns() - last_progress > 5'000'000'000LL) {
        last_progress = now_ns();
        std::cerr << "bench_imap_load: idle-hold " << idling_ << " idling, " << failed_ << " failed, " << in_flight_
                  << " in progress, " << pending_.size() << " to go, " << dropped_ << " dropped\n";
      }
    }
    int still = 0;
    for (auto& c : conns_)
      if (c.st == St::idling) ++still;
    for (auto& c : conns_) close_conn(c);
    std::cout << "{\"released\": true, \"idle_hold\": " << o_.idle_hold << ", \"idling_at_release\": " << still
              << ", \"dropped_during_hold\": " << dropped_ << ", \"failed\": " << failed_
              << ", \"ramp_seconds\": " << num(ready_seconds_, 2) << ", \"tls\": " << (o_.tls ? "true" : "false")
              << ", \"error_samples\": " << samples_json() << ", \"client_cpu_seconds\": " << num(cpu_seconds()) << "}"
              << std::endl;
    return idling_ > 0 || still > 0 ? 0 : 1;
  }

 private:
  std::string samples_json() {
    std::string s = "[";
    for (size_t i = 0; i < samples_.size(); ++i) s += (i ? ", " : "") + json_str(samples_[i]);
    return s + "]";
  }

  void fail(HoldConn& c, const std::string& why) {
    bool was_idling = c.st == St::idling;
    bool retry = !was_idling && c.attempts < 3 && (c.st == St::connecting || c.st == St::greeting || c.st == St::tls_handshake);
    if (samples_.size() < 10 && std::find(samples_.begin(), samples_.end(), why) == samples_.end())
      samples_.push_back(why);
    if (!was_idling) --in_flight_;
    close_conn(c);
    if (was_idling) {
      --idling_;
      ++dropped_;
    } else if (retry) {
      pending_.push_back(c.index);
    } else {
      ++failed_;
    }
  }

  void close_conn(HoldConn& c) {
#ifdef BENCH_WITH_OPENSSL
    if (c.ssl) {
      SSL_free(c.ssl);
      c.ssl = nullptr;
    }
#endif
    if (c.fd >= 0) ::close(c.fd);
    c.fd = -1;
    c.st = St::closed;
    std::string().swap(c.in);
    std::string().swap(c.out);
  }

  void start(HoldConn& c) {
    ++c.attempts;
    ++in_flight_;
    c.fd = ::socket(addr_.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c.fd < 0) {
      c.st = St::connecting;
      fail(c, std::string("socket: ") + std::strerror(errno));
      return;
    }
    int one = 1;
    ::setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c.st = St::connecting;
    int r = ::connect(c.fd, reinterpret_cast<const sockaddr*>(&addr_), addr_len_);
    if (r != 0 && errno != EINPROGRESS) {
      fail(c, std::string("connect: ") + std::strerror(errno));
      return;
    }
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP;
    ev.data.u64 = static_cast<uint64_t>(c.index);
    ::epoll_ctl(ep_, EPOLL_CTL_ADD, c.fd, &ev);
  }

  void want_write(HoldConn& c, bool w) {
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP | (w ? EPOLLOUT : 0u);
    ev.data.u64 = static_cast<uint64_t>(c.index);
    ::epoll_ctl(ep_, EPOLL_CTL_MOD, c.fd, &ev);
  }

  // Raw I/O, through TLS when enabled. Returns >0 bytes, 0 would-block, -1 error/EOF.
  ssize_t io_read(HoldConn& c, char* b, size_t n) {
#ifdef BENCH_WITH_OPENSSL
    if (c.ssl) {
      int r = SSL_read(c.ssl, b, static_cast<int>(n));
      if (r > 0) return r;
      int e = SSL_get_error(c.ssl, r);
      if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return 0;
      return -1;
    }
#endif
    ssize_t r = ::recv(c.fd, b, n, 0);
    if (r > 0) return r;
    if (r < 0 && (errno == EAGAIN || errno == EINTR)) return 0;
    return -1;
  }
  ssize_t io_write(HoldConn& c, const char* b, size_t n) {
#ifdef BENCH_WITH_OPENSSL
    if (c.ssl) {
      int r = SSL_write(c.ssl, b, static_cast<int>(n));
      if (r > 0) return r;
      int e = SSL_get_error(c.ssl, r);
      if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return 0;
      return -1;
    }
#endif
    ssize_t r = ::send(c.fd, b, n, MSG_NOSIGNAL);
    if (r >= 0) return r;
    if (errno == EAGAIN || errno == EINTR) return 0;
    return -1;
  }

  void send(HoldConn& c, const std::string& s) {
    c.out += s;
    flush(c);
  }

  bool flush(HoldConn& c) {
    while (!c.out.empty()) {
      ssize_t r = io_write(c, c.out.data(), c.out.size());
      if (r < 0) {
        fail(c, "write failed");
        return false;
      }
      if (r == 0) {
        want_write(c, true);
        return true;
      }
      c.out.erase(0, static_cast<size_t>(r));
    }
    want_write(c, false);
    return true;
  }

  void handle(HoldConn& c, uint32_t events) {
    if (c.st == St::connecting) {
      int err = 0;
      socklen_t l = sizeof err;
      ::getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &l);
      if (err != 0) {
        fail(c, std::string("connect: ") + std::strerror(err));
        return;
      }
      if (!(events & (EPOLLOUT | EPOLLIN))) return;
#ifdef BENCH_WITH_OPENSSL
      if (o_.tls) {
        c.ssl = SSL_new(ctx_);
        SSL_set_fd(c.ssl, c.fd);
        SSL_set_connect_state(c.ssl);
        c.st = St::tls_handshake;
      } else
#endif
      {
        c.st = St::greeting;
        want_write(c, false);
      }
    }
#ifdef BENCH_WITH_OPENSSL
    if (c.st == St::tls_handshake) {
      int r = SSL_do_handshake(c.ssl);
      if (r == 1) {
        c.st = St::greeting;
        want_write(c, false);
      } else {
        int e = SSL_get_error(c.ssl, r);
        if (e == SSL_ERROR_WANT_READ) want_write(c, false);
        else if (e == SSL_ERROR_WANT_WRITE) want_write(c, true);
        else {
          fail(c, "TLS handshake failed");
          return;
        }
        return;
      }
    }
#endif
    if ((events & EPOLLOUT) && !c.out.empty()) {
      if (!flush(c)) return;
    }
    // read everything available
    char b[8192];
    for (;;) {
      ssize_t r = io_read(c, b, sizeof b);
      if (r == 0) break;
      if (r < 0) {
        fail(c, c.st == St::idling ? "connection closed by the server during IDLE" : "connection closed by the server");
        return;
      }
      c.in.append(b, static_cast<size_t>(r));
      if (static_cast<size_t>(r) < sizeof b && !o_.tls) break;
    }
    size_t pos = 0;
    for (;;) {
      size_t nl = c.in.find('\n', pos);
      if (nl == std::string::npos) break;
      std::string line = c.in.substr(pos, nl - pos);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      pos = nl + 1;
      if (!on_line(c, line)) return;
    }
    c.in.erase(0, pos);
    if (c.st == St::idling && c.in.capacity() > 256) std::string().swap(c.in);
  }

  bool on_line(HoldConn& c, const std::string& line) {
    const int user_no = c.index % o_.users + 1;
    auto tagged = [&](const char* tag) {
      size_t n = std::strlen(tag);
      return line.size() > n && line.compare(0, n, tag) == 0 && line[n] == ' ';
    };
    auto tagged_ok = [&](const char* tag) { return line.compare(std::strlen(tag) + 1, 2, "OK") == 0; };
    switch (c.st) {
      case St::greeting:
        if (line.rfind("* OK", 0) != 0) {
          fail(c, "greeting: " + line.substr(0, 200));
          return false;
        }
        c.st = St::login;
        send(c, "a1 LOGIN " + quoted(fill(o_.user_format, user_no)) + " " + quoted(fill(o_.password_format, user_no)) + "\r\n");
        return c.fd >= 0;
      case St::login:
        if (!tagged("a1")) return true;
        if (!tagged_ok("a1")) {
          fail(c, "LOGIN: " + line.substr(0, 200));
          return false;
        }
        c.st = St::select;
        send(c, "a2 SELECT INBOX\r\n");
        return c.fd >= 0;
      case St::select:
        if (!tagged("a2")) return true;
        if (!tagged_ok("a2")) {
          fail(c, "SELECT: " + line.substr(0, 200));
          return false;
        }
        c.st = St::idle_cmd;
        send(c, "a3 IDLE\r\n");
        return c.fd >= 0;
      case St::idle_cmd:
        if (line.rfind("+", 0) == 0) {
          c.st = St::idling;
          --in_flight_;
          ++idling_;
          return true;
        }
        if (tagged("a3")) {
          fail(c, "IDLE: " + line.substr(0, 200));
          return false;
        }
        return true;
      case St::idling:
        if (line.rfind("* BYE", 0) == 0) {
          fail(c, "during IDLE: " + line.substr(0, 200));
          return false;
        }
        return true;  // untagged updates, keep-alives
      default:
        return true;
    }
  }

  const Options& o_;
  sockaddr_storage addr_{};
  socklen_t addr_len_ = 0;
  int ep_ = -1;
  bool stdin_open_ = false;
  std::vector<HoldConn> conns_;
  std::deque<int> pending_;
  int in_flight_ = 0;
  int idling_ = 0;
  int failed_ = 0;
  int dropped_ = 0;
  double ready_seconds_ = 0;
  std::vector<std::string> samples_;
#ifdef BENCH_WITH_OPENSSL
  SSL_CTX* ctx_ = nullptr;
#endif
};

}  // namespace

int main(int argc, char** argv) {
  Options o = parse(argc, argv);
  if (o.idle_hold > 0) {
    Holder h(o);
    return h.run();
  }
  return run_mixed(o);
}

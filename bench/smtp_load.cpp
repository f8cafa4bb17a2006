// bench_smtp_load: an SMTP load generator for bench/smtp_bench.py (and for ad-hoc runs).
//
// Opens C concurrent SMTP connections to host:port (one thread per connection, plain
// blocking sockets, TCP_NODELAY) and on each one repeatedly sends a mail transaction:
// MAIL FROM, RCPT TO (one recipient, chosen round-robin over u1..uN@<domain> across all
// connections), DATA and a unique message of exactly --size bytes. Connections are reused:
// the next MAIL follows the 250 after the final dot, without RSET (RSET is sent only after
// a refused command). With PIPELINING advertised (and not disabled), MAIL, RCPT and DATA go
// out in one write, as Postfix's SMTP client does (RFC 2920).
//
// A message counts as delivered only when the 250 after the final dot arrives. Its latency
// runs from sending MAIL to that 250. Only transactions whose 250 arrives inside the
// measurement window (after --warmup-seconds, for --duration-seconds) count toward msgs/s
// and the latency percentiles; "accepted_total" counts every 250-after-dot of the whole
// invocation (warm-up and the tail after the window included), which the driver needs to
// know how many messages a queueing server still owes its mailboxes.
//
// Messages are realistic RFC 5322: Received, From, To, Subject, Date, Message-ID, MIME; the
// 4 KB one is text/plain, anything above 16 KB is multipart/mixed with a text part and a
// base64 PDF-like attachment (the same generator as bench_delivery). Every message is
// distinct (unique Message-ID, Received id, subject and body line).
//
//   bench_smtp_load --port P [--host 127.0.0.1] [--connections 16] [--users 50]
//                   [--domain bench.care.example] [--size 4096] [--duration-seconds 10]
//                   [--warmup-seconds 2] [--from ADDR] [--no-pipelining] [--tag TEXT]
//                   [--timeout-seconds 60] [--out FILE]
//
// Prints one JSON object (also written to --out): msgs, seconds, msgs_per_s, latency
// p50/p90/p99/max/mean in ms, errors (refused transactions and broken connections inside
// the window), errors_total, error_samples (first replies seen), accepted_total,
// connects, client cpu_seconds. Exit status 0 when the run completed (errors are data,
// not failures), 2 on bad usage, 1 when no connection could be made at all.
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iostream>
#include <mutex>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  std::string host = "127.0.0.1";
  int port = 0;
  int connections = 16;
  int users = 50;
  std::string domain = "bench.care.example";
  size_t size = 4096;
  double duration_s = 10;
  double warmup_s = 2;
  std::string from = "alice.example@gp-surgery.example";
  bool pipelining = true;
  std::string tag;
  double timeout_s = 60;
  std::string out;
};

[[noreturn]] void usage(const std::string& why) {
  std::cerr << "bench_smtp_load: " << why << "\n"
            << "usage: bench_smtp_load --port P [--host H] [--connections C] [--users N] [--domain D]\n"
               "                       [--size BYTES] [--duration-seconds S] [--warmup-seconds S]\n"
               "                       [--from ADDR] [--no-pipelining] [--tag TEXT] [--timeout-seconds S]\n"
               "                       [--out FILE]\n";
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
      else if (a == "--domain") o.domain = val();
      else if (a == "--size") o.size = std::stoul(val());
      else if (a == "--duration-seconds") o.duration_s = std::stod(val());
      else if (a == "--warmup-seconds") o.warmup_s = std::stod(val());
      else if (a == "--from") o.from = val();
      else if (a == "--no-pipelining") o.pipelining = false;
      else if (a == "--tag") o.tag = val();
      else if (a == "--timeout-seconds") o.timeout_s = std::stod(val());
      else if (a == "--out") o.out = val();
      else if (a == "--help" || a == "-h") usage("help");
      else usage("unknown option " + a);
    } catch (const std::logic_error&) {
      usage("bad value for " + a);
    }
  }
  if (o.port <= 0 || o.port > 65535) usage("--port is required");
  if (o.connections < 1 || o.connections > 4096) usage("--connections must be 1..4096");
  if (o.users < 1) usage("--users must be at least 1");
  if (o.size < 1024) usage("--size must be at least 1024");
  if (o.duration_s <= 0 || o.warmup_s < 0) usage("bad duration");
  if (o.tag.empty()) {
    char b[40];
    std::snprintf(b, sizeof b, "L%lx%x", static_cast<unsigned long>(std::time(nullptr)), static_cast<unsigned>(::getpid()));
    o.tag = b;
  }
  return o;
}

// ---------------------------------------------------------------------------------------
// Realistic, unique RFC 5322 messages of an exact size (as in delivery_bench.cpp).

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

  // Appends to `m` a distinct message for `seq`, exactly size_ bytes.
  void make(uint64_t seq, std::string_view to, std::string& m) const {
    char id[64];
    std::snprintf(id, sizeof id, "%s-%012" PRIu64, tag_.c_str(), seq);
    char date[64];
    std::time_t now = std::time(nullptr);
    std::tm tm{};
    ::gmtime_r(&now, &tm);
    std::strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", &tm);

    size_t start = m.size();
    m += "Received: from mx1.gp-surgery.example (mx1.gp-surgery.example [192.0.2.25])\r\n";
    m += "\tby mail.gp-surgery.example (Postfix) with ESMTPS id ";
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
    }
    size_t fixed = (m.size() - start) + tail.size() + attachment_.size() +
                   (attachment_.empty() ? 0 : 6 + boundary.size());
    size_t fill = size_ > fixed ? size_ - fixed : 0;
    size_t lorem_len = std::strlen(kLorem);
    while (fill > 0) {
      size_t n = std::min(fill, lorem_len);
      m.append(kLorem, n);
      fill -= n;
    }
    if (m.back() == '\r') m.back() = ' ';  // never a bare CR
    m += tail;
    if (!attachment_.empty()) {
      m += attachment_;
      m += "--" + boundary + "--\r\n";
    }
  }

 private:
  size_t size_;
  std::string tag_;
  std::string attachment_;
};

// Dot-stuffs `msg` (RFC 5321 4.5.2) into `out` and terminates it with CRLF.CRLF.
void append_data(std::string_view msg, std::string& out) {
  out.reserve(out.size() + msg.size() + 8);
  bool line_start = true;
  size_t i = 0;
  while (i < msg.size()) {
    if (line_start && msg[i] == '.') out += '.';
    size_t nl = msg.find('\n', i);
    if (nl == std::string_view::npos) {
      out.append(msg.substr(i));
      break;
    }
    out.append(msg.substr(i, nl + 1 - i));
    i = nl + 1;
    line_start = true;
  }
  if (out.size() < 2 || out.compare(out.size() - 2, 2, "\r\n") != 0) out += "\r\n";
  out += ".\r\n";
}

// ---------------------------------------------------------------------------------------
// Blocking SMTP client connection.

struct Reply {
  int code = 0;  // 0: connection lost or timed out
  std::string text;  // the last line
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

  // Reads one (possibly multi-line) reply. `lines` receives every line's text if given.
  Reply read_reply(std::vector<std::string>* lines = nullptr) {
    Reply r;
    for (;;) {
      std::string line;
      if (!read_line(line)) {
        close();
        return {0, "connection lost or timed out"};
      }
      if (line.size() < 3) {
        close();
        return {0, "malformed reply: " + line};
      }
      int code = std::atoi(line.substr(0, 3).c_str());
      if (lines) lines->push_back(line.size() > 4 ? line.substr(4) : std::string());
      if (line.size() == 3 || line[3] == ' ') {
        r.code = code;
        r.text = line;
        return r;
      }
      if (line[3] != '-') {
        close();
        return {0, "malformed reply: " + line};
      }
    }
  }

 private:
  bool read_line(std::string& line) {
    for (;;) {
      size_t nl = buf_.find('\n', pos_);
      if (nl != std::string::npos) {
        size_t end = nl;
        if (end > pos_ && buf_[end - 1] == '\r') --end;
        line.assign(buf_, pos_, end - pos_);
        pos_ = nl + 1;
        if (pos_ == buf_.size()) {
          buf_.clear();
          pos_ = 0;
        }
        return true;
      }
      if (pos_ > 0) {
        buf_.erase(0, pos_);
        pos_ = 0;
      }
      if (buf_.size() > 65536) return false;
      char tmp[4096];
      ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      buf_.append(tmp, static_cast<size_t>(n));
    }
  }

  int fd_ = -1;
  std::string buf_;
  size_t pos_ = 0;
};

// ---------------------------------------------------------------------------------------
// The run.

struct Sample {
  int64_t done_ns;  // steady clock of the final 250
  double lat_ms;
};

struct ErrorEvent {
  int64_t at_ns;
  std::string what;
};

struct Shared {
  const Options* o = nullptr;
  sockaddr_storage addr{};
  socklen_t addr_len = 0;
  std::vector<std::string> rcpts;
  MessageFactory* factory = nullptr;
  std::atomic<uint64_t> seq{0};
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> accepted_total{0};
  std::atomic<uint64_t> connects{0};
  std::atomic<uint64_t> bytes_sent{0};
  std::atomic<int> pipelining_seen{-1};
};

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}

struct Worker {
  std::vector<Sample> samples;
  std::vector<ErrorEvent> errors;
};

void worker_main(Shared& sh, Worker& w) {
  const Options& o = *sh.o;
  Conn c;
  bool pipelining = false;
  std::string msg, wire;
  auto error = [&](std::string what) { w.errors.push_back({now_ns(), std::move(what)}); };

  auto connect = [&]() -> bool {
    for (int attempt = 0; !sh.stop.load(std::memory_order_relaxed); ++attempt) {
      if (c.open(sh.addr, sh.addr_len, o.timeout_s)) {
        Reply r = c.read_reply();
        if (r.code == 220) {
          c.send("EHLO loadgen.gp-surgery.example\r\n");
          std::vector<std::string> lines;
          r = c.read_reply(&lines);
          if (r.code == 250) {
            pipelining = false;
            for (auto& l : lines) {
              std::string u = l;
              for (auto& ch : u) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
              if (u == "PIPELINING") pipelining = true;
            }
            sh.pipelining_seen.store(pipelining ? 1 : 0);
            pipelining = pipelining && o.pipelining;
            sh.connects.fetch_add(1);
            return true;
          }
        }
        error("connect: " + (r.code ? r.text : std::string("no greeting/EHLO reply")));
        c.close();
      } else {
        error(std::string("connect: ") + std::strerror(errno));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(std::min(1000, 50 << std::min(attempt, 4))));
    }
    return false;
  };

  if (!connect()) return;
  const std::string mail_cmd = "MAIL FROM:<" + o.from + "> SIZE=" + std::to_string(o.size) + "\r\n";
  while (!sh.stop.load(std::memory_order_relaxed)) {
    if (!c.ok() && !connect()) break;
    uint64_t seq = sh.seq.fetch_add(1, std::memory_order_relaxed);
    const std::string& rcpt = sh.rcpts[seq % sh.rcpts.size()];
    msg.clear();
    sh.factory->make(seq, rcpt, msg);
    wire.clear();
    append_data(msg, wire);
    std::string rcpt_cmd = "RCPT TO:<" + rcpt + ">\r\n";

    int64_t t0 = now_ns();
    Reply rm, rr, rd;
    if (pipelining) {
      if (!c.send(mail_cmd + rcpt_cmd + "DATA\r\n")) {
        error("send failed");
        continue;
      }
      rm = c.read_reply();
      if (rm.code) rr = c.read_reply();
      if (rr.code) rd = c.read_reply();
    } else {
      if (c.send(mail_cmd)) rm = c.read_reply();
      if (rm.code == 250 && c.send(rcpt_cmd)) rr = c.read_reply();
      if (rr.code == 250 && c.send("DATA\r\n")) rd = c.read_reply();
    }
    if (!c.ok()) {
      error("connection lost in MAIL/RCPT/DATA: " + (rd.code ? rd.text : rr.code ? rr.text : rm.code ? rm.text : "no reply"));
      continue;
    }
    if (rm.code != 250 || rr.code != 250 || rd.code != 354) {
      std::string why = rm.code != 250 ? "MAIL: " + rm.text : rr.code != 250 ? "RCPT: " + rr.text : "DATA: " + rd.text;
      if (rd.code == 354) {  // pipelined DATA accepted although something failed: end it
        c.send(".\r\n");
        c.read_reply();
      }
      error(why);
      if (c.ok() && c.send("RSET\r\n")) c.read_reply();
      continue;
    }
    if (!c.send(wire)) {
      error("send of message failed");
      continue;
    }
    sh.bytes_sent.fetch_add(wire.size(), std::memory_order_relaxed);
    Reply rf = c.read_reply();
    int64_t t1 = now_ns();
    if (rf.code == 250) {
      sh.accepted_total.fetch_add(1, std::memory_order_relaxed);
      w.samples.push_back({t1, static_cast<double>(t1 - t0) / 1e6});
    } else {
      error("end of DATA: " + rf.text);
      if (rf.code == 421) c.close();  // the server is closing the connection
    }
  }
  if (c.ok()) {
    if (c.send("QUIT\r\n")) c.read_reply();
  }
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

}  // namespace

int main(int argc, char** argv) {
  Options o = parse(argc, argv);

  Shared sh;
  sh.o = &o;
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (int rc = ::getaddrinfo(o.host.c_str(), std::to_string(o.port).c_str(), &hints, &res); rc != 0 || !res) {
    std::cerr << "bench_smtp_load: cannot resolve " << o.host << ": " << ::gai_strerror(rc) << "\n";
    return 1;
  }
  std::memcpy(&sh.addr, res->ai_addr, res->ai_addrlen);
  sh.addr_len = res->ai_addrlen;
  ::freeaddrinfo(res);
  for (int i = 1; i <= o.users; ++i) sh.rcpts.push_back("u" + std::to_string(i) + "@" + o.domain);
  MessageFactory factory(o.size, o.tag);
  sh.factory = &factory;
  {
    std::string probe;
    factory.make(0, sh.rcpts[0], probe);
    if (probe.size() != o.size) {
      std::cerr << "bench_smtp_load: message generator made " << probe.size() << " bytes, wanted " << o.size << "\n";
      return 1;
    }
  }

  std::vector<Worker> workers(static_cast<size_t>(o.connections));
  std::vector<std::thread> threads;
  double cpu0 = cpu_seconds();
  auto wall0 = std::chrono::system_clock::now();
  int64_t start_ns = now_ns();
  for (auto& w : workers) threads.emplace_back([&sh, &w] { worker_main(sh, w); });
  std::this_thread::sleep_for(std::chrono::duration<double>(o.warmup_s));
  int64_t ws = now_ns();
  double cpu_ws = cpu_seconds();
  std::this_thread::sleep_for(std::chrono::duration<double>(o.duration_s));
  int64_t we = now_ns();
  double cpu_we = cpu_seconds();
  sh.stop.store(true);
  for (auto& t : threads) t.join();
  int64_t end_ns = now_ns();

  std::vector<double> lat;
  uint64_t msgs = 0, errors_in = 0, errors_total = 0;
  std::vector<std::string> samples;
  for (auto& w : workers) {
    for (auto& s : w.samples)
      if (s.done_ns >= ws && s.done_ns <= we) {
        ++msgs;
        lat.push_back(s.lat_ms);
      }
    for (auto& e : w.errors) {
      ++errors_total;
      if (e.at_ns >= ws && e.at_ns <= we) ++errors_in;
      if (samples.size() < 8 && std::find(samples.begin(), samples.end(), e.what) == samples.end()) samples.push_back(e.what);
    }
  }
  std::sort(lat.begin(), lat.end());
  double secs = static_cast<double>(we - ws) / 1e9;
  double mean = 0;
  for (double v : lat) mean += v;
  if (!lat.empty()) mean /= static_cast<double>(lat.size());

  std::ostringstream j;
  j << "{\"host\": " << json_str(o.host) << ", \"port\": " << o.port << ", \"connections\": " << o.connections
    << ", \"users\": " << o.users << ", \"domain\": " << json_str(o.domain) << ", \"size\": " << o.size
    << ", \"pipelining\": " << (o.pipelining && sh.pipelining_seen.load() == 1 ? "true" : "false")
    << ", \"server_pipelining\": " << (sh.pipelining_seen.load() == 1 ? "true" : "false")
    << ", \"warmup_seconds\": " << num(o.warmup_s, 1) << ", \"duration_seconds\": " << num(o.duration_s, 1)
    << ", \"started_at_unix\": "
    << num(std::chrono::duration<double>(wall0.time_since_epoch()).count(), 3)
    << ", \"msgs\": " << msgs << ", \"seconds\": " << num(secs, 3)
    << ", \"msgs_per_s\": " << num(secs > 0 ? static_cast<double>(msgs) / secs : 0, 1)
    << ", \"p50_ms\": " << num(percentile(lat, 0.50)) << ", \"p90_ms\": " << num(percentile(lat, 0.90))
    << ", \"p99_ms\": " << num(percentile(lat, 0.99)) << ", \"max_ms\": " << num(lat.empty() ? 0 : lat.back())
    << ", \"mean_ms\": " << num(mean) << ", \"errors\": " << errors_in << ", \"errors_total\": " << errors_total
    << ", \"error_samples\": [";
  for (size_t i = 0; i < samples.size(); ++i) j << (i ? ", " : "") << json_str(samples[i]);
  j << "], \"accepted_total\": " << sh.accepted_total.load() << ", \"connects\": " << sh.connects.load()
    << ", \"bytes_sent\": " << sh.bytes_sent.load()
    << ", \"total_seconds\": " << num(static_cast<double>(end_ns - start_ns) / 1e9, 3)
    << ", \"client_cpu_seconds_window\": " << num(cpu_we - cpu_ws, 3)
    << ", \"client_cpu_seconds\": " << num(cpu_seconds() - cpu0, 3) << "}";
  std::cout << j.str() << std::endl;
  if (!o.out.empty()) {
    std::ofstream f(o.out);
    f << j.str() << "\n";
    if (!f) {
      std::cerr << "bench_smtp_load: cannot write " << o.out << "\n";
      return 1;
    }
  }
  return sh.connects.load() == 0 ? 1 : 0;
}

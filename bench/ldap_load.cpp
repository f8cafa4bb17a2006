// LDAP load generator for bench/directory_bench.py: N client threads, each on its own
// connection (blocking sockets, plain LDAP on loopback), binds once, then sends searches
// from a query file one at a time (the next after SearchResultDone) for a fixed duration.
// Requests are encoded with cm_ldap_proto; responses are only framed in place, not decoded
// or copied (the entries are counted, the result code read from SearchResultDone), so the
// client costs a few microseconds per response and is not the bottleneck.
//
//   bench_ldap_load --port P --bind-dn DN --password PW --base o=caremail --queries FILE
//                   [--clients 1] [--seconds 10] [--warmup 1] [--size-limit 100]
//
// The query file has one "category<TAB>filter" a line (RFC 4515). Thread t starts at line
// t * lines / clients and walks the file in order, wrapping. Prints one JSON object:
// queries/s, and per category count, p50/p99/max in microseconds, mean entries, result
// codes.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "ldap/message.hpp"

namespace {

using namespace caremail::ldap;
using Clock = std::chrono::steady_clock;

struct Query {
  std::string category;
  Filter filter;
};

struct Sample {
  uint32_t category;
  uint32_t micros;
  uint32_t entries;
  int32_t code;
};

int connect_to(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

bool send_all(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    ssize_t n = ::send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

// Reads a BER length at p (after the tag); advances p. -1 on error.
long read_len(const unsigned char*& p, const unsigned char* end) {
  if (p >= end) return -1;
  unsigned b = *p++;
  if (b < 0x80) return b;
  unsigned n = b & 0x7f;
  if (n == 0 || n > 4 || p + n > end) return -1;
  long v = 0;
  for (unsigned i = 0; i < n; ++i) v = (v << 8) | *p++;
  return v;
}

// The protocolOp tag of one LDAPMessage, and the resultCode when it is an LDAPResult.
bool inspect(std::string_view m, unsigned& op, int& code) {
  auto p = reinterpret_cast<const unsigned char*>(m.data());
  auto end = p + m.size();
  if (p >= end || *p++ != 0x30 || read_len(p, end) < 0) return false;
  if (p >= end || *p++ != 0x02) return false;
  long idlen = read_len(p, end);
  if (idlen < 0 || p + idlen > end) return false;
  p += idlen;
  if (p >= end) return false;
  op = *p++;
  if (read_len(p, end) < 0) return false;
  code = -1;
  if (op == 0x61 || op == 0x65) {  // BindResponse, SearchResultDone
    if (p + 3 > end || p[0] != 0x0a || p[1] != 0x01) return false;
    code = p[2];
  }
  return true;
}

// The total length (header + contents) of the LDAPMessage at the start of `b`: 0 when more
// octets are needed, -1 when it is not one.
long message_length(std::string_view b) {
  if (b.size() < 2) return 0;
  if (static_cast<unsigned char>(b[0]) != 0x30) return -1;
  unsigned first = static_cast<unsigned char>(b[1]);
  if (first < 0x80) return 2 + static_cast<long>(first);
  unsigned n = first & 0x7f;
  if (n == 0 || n > 4) return -1;
  if (b.size() < 2 + n) return 0;
  long v = 0;
  for (unsigned i = 0; i < n; ++i) v = (v << 8) | static_cast<unsigned char>(b[2 + i]);
  return static_cast<long>(2 + n) + v;
}

// Reads messages until the one with op `until` arrives; counts entries on the way. The
// responses are looked at in place (no copy per message: a page of 100 entries is ~50 KB).
bool read_until(int fd, std::string& buf, size_t& pos, unsigned until, uint32_t& entries, int& code) {
  entries = 0;
  for (;;) {
    for (;;) {
      std::string_view rest(buf.data() + pos, buf.size() - pos);
      long len = message_length(rest);
      if (len < 0) return false;
      if (len == 0 || static_cast<size_t>(len) > rest.size()) break;
      unsigned op = 0;
      int c = -1;
      if (!inspect(rest.substr(0, static_cast<size_t>(len)), op, c)) return false;
      pos += static_cast<size_t>(len);
      if (op == 0x64) ++entries;
      if (op == until) {
        code = c;
        return true;
      }
    }
    if (pos > 0) {  // keep only the partial message
      buf.erase(0, pos);
      pos = 0;
    }
    size_t old = buf.size();
    buf.resize(old + 65536);
    ssize_t n = ::recv(fd, buf.data() + old, 65536, 0);
    if (n <= 0) return false;
    buf.resize(old + static_cast<size_t>(n));
  }
}

std::string arg(int argc, char** argv, const char* name, const char* def) {
  for (int i = 1; i + 1 < argc; ++i)
    if (std::string(argv[i]) == name) return argv[i + 1];
  return def;
}

}  // namespace

int main(int argc, char** argv) {
  int port = std::atoi(arg(argc, argv, "--port", "0").c_str());
  std::string bind_dn = arg(argc, argv, "--bind-dn", "");
  std::string password = arg(argc, argv, "--password", "");
  std::string base = arg(argc, argv, "--base", "o=caremail");
  std::string file = arg(argc, argv, "--queries", "");
  int clients = std::atoi(arg(argc, argv, "--clients", "1").c_str());
  double seconds = std::atof(arg(argc, argv, "--seconds", "10").c_str());
  double warmup = std::atof(arg(argc, argv, "--warmup", "1").c_str());
  int size_limit = std::atoi(arg(argc, argv, "--size-limit", "100").c_str());
  if (port <= 0 || file.empty() || clients <= 0) {
    std::fprintf(stderr, "usage: bench_ldap_load --port P --bind-dn DN --password PW --queries FILE [--clients N]"
                         " [--seconds S] [--warmup S] [--size-limit N] [--base DN]\n");
    return 2;
  }
  std::vector<Query> queries;
  std::vector<std::string> categories;
  {
    std::ifstream in(file);
    std::string line;
    while (std::getline(in, line)) {
      auto tab = line.find('\t');
      if (tab == std::string::npos) continue;
      auto f = parse_filter(std::string_view(line).substr(tab + 1));
      if (!f) {
        std::fprintf(stderr, "bad filter: %s\n", line.c_str());
        return 2;
      }
      std::string cat = line.substr(0, tab);
      if (std::find(categories.begin(), categories.end(), cat) == categories.end()) categories.push_back(cat);
      queries.push_back(Query{cat, std::move(*f)});
    }
  }
  if (queries.empty()) return 2;
  auto category_index = [&](const std::string& c) {
    return static_cast<uint32_t>(std::find(categories.begin(), categories.end(), c) - categories.begin());
  };
  std::vector<uint32_t> cat_of(queries.size());
  for (size_t i = 0; i < queries.size(); ++i) cat_of[i] = category_index(queries[i].category);

  std::atomic<int> ready{0};
  std::atomic<bool> failed{false};
  Clock::time_point start, measure_from, stop;
  std::atomic<bool> go{false};
  std::vector<std::vector<Sample>> samples(static_cast<size_t>(clients));
  std::vector<std::thread> threads;
  for (int t = 0; t < clients; ++t) {
    threads.emplace_back([&, t] {
      int fd = connect_to(port);
      if (fd < 0) {
        failed = true;
        ++ready;
        return;
      }
      std::string buf;
      size_t pos = 0;
      int32_t id = 1;
      Request bind;
      bind.message_id = id++;
      bind.body = BindRequest{3, bind_dn, password};
      uint32_t entries = 0;
      int code = -1;
      if (!send_all(fd, encode_request(bind)) || !read_until(fd, buf, pos, 0x61, entries, code) || code != 0) {
        std::fprintf(stderr, "bind failed (code %d)\n", code);
        failed = true;
        ++ready;
        ::close(fd);
        return;
      }
      ++ready;
      while (!go) std::this_thread::yield();
      size_t i = queries.size() * static_cast<size_t>(t) / static_cast<size_t>(clients);
      auto& out = samples[static_cast<size_t>(t)];
      out.reserve(1 << 16);
      Request req;
      SearchRequest s;
      s.base = base;
      s.scope = Scope::whole_subtree;
      s.size_limit = size_limit;
      for (;;) {
        auto t0 = Clock::now();
        if (t0 >= stop) break;
        const Query& q = queries[i];
        s.filter = q.filter;
        req.message_id = id++;
        if (id > 2000000000) id = 1;
        req.body = s;
        std::string wire = encode_request(req);
        if (!send_all(fd, wire) || !read_until(fd, buf, pos, 0x65, entries, code)) {
          failed = true;
          break;
        }
        auto t1 = Clock::now();
        if (t0 >= measure_from)
          out.push_back(Sample{cat_of[i],
                               static_cast<uint32_t>(std::chrono::duration_cast<std::chrono::microseconds>(t1 - t0).count()),
                               entries, code});
        i = (i + 1) % queries.size();
      }
      Request unbind;
      unbind.message_id = id++;
      unbind.body = UnbindRequest{};
      send_all(fd, encode_request(unbind));
      ::close(fd);
    });
  }
  while (ready < clients) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  start = Clock::now();
  measure_from = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(warmup));
  stop = measure_from + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  go = true;
  for (auto& th : threads) th.join();

  std::vector<Sample> all;
  for (auto& v : samples) all.insert(all.end(), v.begin(), v.end());
  auto pct = [](std::vector<uint32_t>& v, double p) -> double {
    if (v.empty()) return 0;
    size_t k = std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())));
    std::nth_element(v.begin(), v.begin() + static_cast<long>(k), v.end());
    return v[k];
  };
  std::string json = "{\"clients\":" + std::to_string(clients) + ",\"seconds\":" + std::to_string(seconds) +
                     ",\"queries\":" + std::to_string(all.size()) +
                     ",\"qps\":" + std::to_string(static_cast<double>(all.size()) / seconds) +
                     ",\"failed\":" + (failed ? "true" : "false");
  auto summarise = [&](const std::string& name, auto pred) {
    std::vector<uint32_t> lat;
    double entries = 0;
    std::map<int, size_t> codes;
    for (const Sample& s : all)
      if (pred(s)) {
        lat.push_back(s.micros);
        entries += s.entries;
        ++codes[s.code];
      }
    std::string o = "\"" + name + "\":{\"count\":" + std::to_string(lat.size());
    double mean_entries = lat.empty() ? 0 : entries / static_cast<double>(lat.size());
    o += ",\"p50_us\":" + std::to_string(pct(lat, 0.5)) + ",\"p99_us\":" + std::to_string(pct(lat, 0.99)) +
         ",\"max_us\":" + std::to_string(pct(lat, 1.0)) + ",\"mean_entries\":" + std::to_string(mean_entries) +
         ",\"codes\":{";
    bool first = true;
    for (auto& [c, n] : codes) {
      o += (first ? "\"" : ",\"") + std::to_string(c) + "\":" + std::to_string(n);
      first = false;
    }
    return o + "}}";
  };
  json += ",\"categories\":{" + summarise("all", [](const Sample&) { return true; });
  for (size_t c = 0; c < categories.size(); ++c)
    json += "," + summarise(categories[c], [c](const Sample& s) { return s.category == c; });
  json += "}}";
  std::printf("%s\n", json.c_str());
  return failed ? 1 : 0;
}

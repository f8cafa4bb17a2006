#include "net/listener.hpp"

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <thread>

#include "common/log.hpp"
#include "common/metrics.hpp"
#include "crypto/crypto.hpp"
#include "net/peer_key.hpp"

namespace caremail::net {

namespace {
metrics::Gauge& g_sessions() {
  static auto& g = metrics::gauge("caremail_sessions_active", "Open client connections, all protocols");
  return g;
}
metrics::Counter& g_refused() {
  static auto& c = metrics::counter("caremail_connections_refused_total", "Connections refused by limits");
  return c;
}
metrics::Gauge& g_auth_pending() {
  static auto& g = metrics::gauge("caremail_auth_pool_pending", "Password-hashing jobs running or waiting");
  return g;
}
metrics::Counter& g_auth_refused() {
  static auto& c = metrics::counter("caremail_auth_pool_refused_total",
                                    "Sign-ins refused with a temporary failure because the hashing queue was full");
  return c;
}
metrics::Counter& g_accepted() {
  static auto& c = metrics::counter("caremail_connections_accepted_total", "Connections accepted");
  return c;
}
struct PoolOf {
  int pool;
  const char* busy_reply;
};

// "smtp2" -> the SMTP pool. Replies go only where the client reads plain text first.
PoolOf pool_of(std::string_view name, int smtp, int imap, int ldap, int http, int other) {
  while (!name.empty() && name.back() >= '0' && name.back() <= '9') name.remove_suffix(1);
  if (name == "smtp" || name == "submission") return {smtp, "421 4.7.0 Too many connections, try again later\r\n"};
  if (name == "submissions") return {smtp, ""};
  if (name == "imap") return {imap, "* BYE [UNAVAILABLE] Too many connections, try again later\r\n"};
  if (name == "imaps") return {imap, ""};
  if (name == "ldap" || name == "ldaps") return {ldap, ""};
  if (name == "http")
    return {http, "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 10\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"};
  if (name == "https") return {http, ""};
  return {other, ""};
}

}  // namespace

Server::Server(const Config::Limits& limits, int io_threads, int worker_threads, int auth_threads, int auth_queue)
    : limits_(limits),
      io_threads_(std::max(1, io_threads)),
      workers_(std::max(1, worker_threads)),
      auth_(std::max(1, auth_threads)),
      io_(io_threads_),
      auth_limit_(std::max(1, auth_threads) + std::max(0, auth_queue)) {}

bool Server::admit_auth() {
  int n = auth_pending_.load();
  do {
    if (n >= auth_limit_) {
      g_auth_refused().inc();
      return false;
    }
  } while (!auth_pending_.compare_exchange_weak(n, n + 1));
  g_auth_pending().add(1);
  return true;
}

void Server::release_auth() {
  auth_pending_.fetch_sub(1);
  g_auth_pending().add(-1);
}

Server::HashingThreadMark::HashingThreadMark() {
  crypto::set_hashing_thread(true);
  // Below the threads that deliver mail (nice 10: about a tenth of a core's share when they
  // compete): a sign-in flood gets the CPU time delivery does not want, and never slows it
  // (tests/integration/test_auth_flood.py measures it). On a quiet machine that is all of it.
  thread_local bool lowered = false;
  if (!lowered) {
    (void)setpriority(PRIO_PROCESS, static_cast<id_t>(::syscall(SYS_gettid)), 10);
    lowered = true;
  }
}
Server::HashingThreadMark::~HashingThreadMark() { crypto::set_hashing_thread(false); }

Server::~Server() {
  auth_.join();
  workers_.join();
}

Result<uint16_t> Server::listen(const std::string& name, const Endpoint& ep, SessionFn fn, Placement where) {
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(ep.host, ec);
  if (ec) return make_error(Errc::invalid_argument, name + ": '" + ep.host + "' is not a numeric IP address");
  auto l = std::make_unique<Listener>(Listener{name, tcp::acceptor(io_), std::move(fn)});
  l->where = where;
  PoolOf p = pool_of(name, kSmtp, kImap, kLdap, kHttp, kOther);
  l->pool = static_cast<Pool>(p.pool);
  l->busy_reply = p.busy_reply;
  tcp::endpoint endpoint(addr, ep.port);
  l->acceptor.open(endpoint.protocol(), ec);
  if (!ec) l->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) l->acceptor.bind(endpoint, ec);
  if (!ec) l->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec)
    return make_error(Errc::io, name + ": cannot listen on " + ep.host + ":" + std::to_string(ep.port) + ": " +
                                    ec.message());
  uint16_t port = l->acceptor.local_endpoint().port();
  listeners_.push_back(std::move(l));
  return port;
}

// Three limits, each with its own reason: the listener kind's pool (a flood of one protocol
// cannot take another's slots), the total of the mail and directory pools (memory and file
// descriptors; HTTP stays outside it so administrators can always get in), and per client
// network within the pool (one client cannot take a whole pool).
bool Server::admit(Pool pool, const std::string& key) {
  static_assert(kPools == 5);
  std::lock_guard lk(mu_);
  if (stopping_) return false;
  const int pool_max[kPools] = {limits_.max_connections_smtp, limits_.max_connections_imap,
                                limits_.max_connections_ldap, limits_.max_connections_http, limits_.max_connections};
  if (in_pool_[pool] >= pool_max[pool]) return false;
  if (pool != kHttp && in_pool_[kSmtp] + in_pool_[kImap] + in_pool_[kLdap] + in_pool_[kOther] >= limits_.max_connections)
    return false;
  int& n = per_ip_[std::to_string(pool) + " " + key];
  if (n >= limits_.max_connections_per_ip) return false;
  ++n;
  ++in_pool_[pool];
  return true;
}

void Server::release(Pool pool, const std::string& key, uint64_t id) {
  std::lock_guard lk(mu_);
  auto it = per_ip_.find(std::to_string(pool) + " " + key);
  if (it != per_ip_.end() && --it->second <= 0) per_ip_.erase(it);
  --in_pool_[pool];
  sessions_.erase(id);
}

asio::awaitable<void> Server::accept_loop(Listener& l) {
  for (;;) {
    // A session placed on the pool has its socket (and so its timers' reactor) there too:
    // its reads, writes and deadlines complete on pool threads, never through the I/O
    // threads and back.
    asio::any_io_executor sock_ex = l.where == Placement::workers ? asio::any_io_executor(workers_.get_executor())
                                                                  : asio::any_io_executor(io_.get_executor());
    auto [ec, sock] = co_await l.acceptor.async_accept(sock_ex, asio::as_tuple(asio::use_awaitable));
    if (ec) {
      if (ec == asio::error::operation_aborted || !l.acceptor.is_open()) co_return;
      log::warn("listener.accept_error", {{"listener", l.name}, {"error", ec.message()}});
      // EMFILE and friends: back off briefly instead of spinning.
      asio::steady_timer t(io_, std::chrono::milliseconds(100));
      co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
      continue;
    }
    boost::system::error_code rec;
    auto remote = sock.remote_endpoint(rec);
    if (rec) continue;
    std::string ip = remote.address().to_string();
    std::string key = peer_key(ip, limits_.ipv4_prefix_length, limits_.ipv6_prefix_length);
    if (!admit(l.pool, key)) {
      g_refused().inc();
      log::warn("listener.refused", {{"listener", l.name}, {"peer", ip}, {"reason", "connection limit"}});
      if (!l.busy_reply.empty()) {
        // Best effort and never blocking: a fresh socket's send buffer takes these few bytes.
        sock.non_blocking(true, rec);
        sock.write_some(asio::buffer(l.busy_reply), rec);
        sock.shutdown(tcp::socket::shutdown_send, rec);
      }
      sock.close(rec);
      continue;
    }
    g_accepted().inc();
    // Replies are written whole; Nagle would hold a tagged reply that follows an untagged one
    // until the client's delayed ACK (~40 ms).
    sock.set_option(asio::ip::tcp::no_delay(true), rec);
    PeerInfo peer{ip, remote.port(), l.name, 0};
    asio::any_io_executor strand = l.where == Placement::workers ? asio::any_io_executor(asio::make_strand(workers_))
                                                                 : asio::any_io_executor(asio::make_strand(io_));
    auto cancel = std::make_shared<asio::cancellation_signal>();
    {
      std::lock_guard lk(mu_);
      peer.id = next_id_++;
      sessions_.emplace(peer.id, Session{strand, cancel});
    }
    g_sessions().add(1);
    uint64_t id = peer.id;
    asio::co_spawn(strand, l.fn(std::move(sock), std::move(peer)),
                   asio::bind_cancellation_slot(cancel->slot(), [this, key, pool = l.pool, id, name = l.name](std::exception_ptr e) {
                     if (e) {
                       try {
                         std::rethrow_exception(e);
                       } catch (const std::exception& ex) {
                         log::error("session.failed", {{"listener", name}, {"session", id}, {"error", ex.what()}});
                       }
                     }
                     g_sessions().add(-1);
                     release(pool, key, id);
                   }));
  }
}

void Server::run() {
  for (auto& l : listeners_) {
    asio::co_spawn(io_, accept_loop(*l), asio::detached);
  }
  std::vector<std::thread> threads;
  for (int i = 1; i < io_threads_; ++i) threads.emplace_back([this] { io_.run(); });
  io_.run();
  for (auto& t : threads) t.join();
  // Sessions that outlived the grace period wait on sockets no I/O thread serves any more;
  // those placed on the pool would keep it busy for ever. Then the pool stops: jobs that
  // are running (a delivery mid-commit) still finish; queued ones were acknowledged to
  // no one.
  if (active_sessions() > 0) workers_.stop();
  // Work already handed to the pool (a delivery mid-commit) completes before we return.
  auth_.join();
  workers_.join();
}

void Server::shutdown(std::chrono::milliseconds grace) {
  {
    std::lock_guard lk(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  asio::co_spawn(io_, [this, grace]() -> asio::awaitable<void> {
    for (auto& l : listeners_) {
      boost::system::error_code ec;
      l->acceptor.close(ec);
    }
    std::vector<Session> live;
    {
      std::lock_guard lk(mu_);
      for (auto& [id, s] : sessions_) live.push_back(s);
    }
    log::info("server.stopping", {{"sessions", live.size()}, {"grace_ms", grace.count()}});
    // Cancel each session's pending I/O on its own strand; a session mid-command
    // finishes the command (its blocking work is not cancellable) and then sees the
    // cancellation at its next read.
    for (auto& s : live)
      asio::post(s.strand, [c = s.cancel] { c->emit(asio::cancellation_type::terminal); });
    auto deadline = std::chrono::steady_clock::now() + grace;
    asio::steady_timer timer(io_);
    while (active_sessions() > 0 && std::chrono::steady_clock::now() < deadline) {
      timer.expires_after(std::chrono::milliseconds(20));
      co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    }
    if (active_sessions() != 0) log::warn("server.grace_expired", {{"sessions", active_sessions()}});
    io_.stop();
  }, asio::detached);
}

size_t Server::active_sessions() const {
  std::lock_guard lk(mu_);
  return sessions_.size();
}

}  // namespace caremail::net

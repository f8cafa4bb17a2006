// The listener framework every protocol shares: one io_context run by a few I/O threads,
// acceptors bound up front (so that root can be dropped afterwards), a strand and a
// cancellation signal per session, connection limits (per listener kind, total, and per
// client network: see admit() in listener.cpp), and graceful
// shutdown: stop accepting, cancel sessions' pending I/O, wait for them up to a grace
// period, then let the worker pool finish what it had started.
//
// Blocking work (store, fsync, MIME, password hashing) never runs on an I/O thread:
// sessions hand it to the bounded worker pool with `co_await server.blocking(fn)`.
//
// Deadlines: sessions wrap their socket in beast::tcp_stream and set expires_after()
// before every read and write (idle and per-command timeouts from [limits]).
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include <boost/asio.hpp>

#include "common/config.hpp"
#include "common/result.hpp"

namespace caremail::net {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

struct PeerInfo {
  std::string address;   // numeric
  uint16_t port = 0;
  std::string listener;  // name given to listen()
  uint64_t id = 0;       // unique per process; appears in every log line of the session
};

using SessionFn = std::function<asio::awaitable<void>(tcp::socket, PeerInfo)>;

// Where a listener's sessions run.
//   io:      on a strand of the I/O threads; each blocking() call hops to the worker pool
//            and back (SMTP, LDAP, HTTP: few blocking calls per session, or long ones).
//   workers: on a strand of the worker pool itself, with the socket (and so the reactor
//            that serves its reads, writes and timers) on the pool; blocking() runs in
//            line. For IMAP,
//            whose every command is one or two short store reads: the two thread hops per
//            call cost more than the work (at 16 connections they were a third of the
//            server's CPU, and every command waited in two queues). A session still runs
//            one step at a time; the pool's size bounds how many block at once.
enum class Placement { io, workers };

class Server {
 public:
  // `auth_threads`: the pool that checks and hashes passwords (Argon2id, 64 MiB and ~80 ms
  // of CPU each). Kept apart and small so that a burst of sign-ins queues there instead of
  // taking every worker (and core, and 64 MiB each) from the sessions delivering mail.
  // `auth_queue`: sign-ins that may wait for it beyond those running; more are refused at
  // once (blocking_auth returns nullopt), so a flood never grows an unbounded queue whose
  // clients have long given up.
  Server(const Config::Limits& limits, int io_threads, int worker_threads, int auth_threads = 1,
         int auth_queue = 64);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds and listens now; accepting starts in run(). Returns the bound port (useful with
  // port 0). Errors name the listener and the address.
  // The name, without a trailing number, picks the connection pool and the reply a refused
  // client gets: smtp/submission/submissions (limits.max_connections_smtp, "421"),
  // imap/imaps (_imap, "* BYE"), ldap/ldaps (_ldap), http/https (_http, "503"); implicit-TLS
  // listeners are closed without a reply. Any other name counts only towards the total.
  Result<uint16_t> listen(const std::string& name, const Endpoint& ep, SessionFn fn,
                          Placement where = Placement::io);

  // Runs the I/O threads until shutdown() has completed. Blocks the caller (which becomes
  // one of the I/O threads).
  void run();

  // Thread-safe; may be called from a signal handler's completion (not from a raw signal
  // handler). Idempotent.
  void shutdown(std::chrono::milliseconds grace);

  // Like blocking(), on the password-hashing pool (its threads are marked as such for
  // crypto::hash_password/verify_password, which count hashes done anywhere else). Bounded:
  // when `auth_queue` jobs already wait, nullopt at once without running `f`; the caller
  // answers with a temporary failure (IMAP NO [UNAVAILABLE], SMTP 454 4.7.0, LDAP busy,
  // HTTP 503). Never waits on or occupies the worker pool.
  template <class F>
  asio::awaitable<std::optional<std::invoke_result_t<F>>> blocking_auth(F f) {
    using R = std::invoke_result_t<F>;
    if (!admit_auth()) co_return std::nullopt;
    AuthSlot slot(*this);
    auto marked = [fn = std::move(f)]() mutable -> R {
      HashingThreadMark mark;
      return fn();
    };
    R r = co_await run_on(auth_, std::move(marked));
    co_return std::optional<R>(std::move(r));
  }
  // Password-hashing jobs running or waiting (for tests and metrics).
  int auth_pending() const { return auth_pending_.load(); }

  asio::io_context& io() { return io_; }
  size_t active_sessions() const;

  // Runs `f` on the worker pool; the awaiting coroutine resumes on its own executor. Called
  // from the pool (a Placement::workers session), `f` runs at once on the calling thread.
  template <class F>
  asio::awaitable<std::invoke_result_t<F>> blocking(F f) {
    if (workers_.get_executor().running_in_this_thread()) co_return f();
    std::invoke_result_t<F> r = co_await run_on(workers_, std::move(f));
    co_return r;
  }

 private:
  template <class F>
  static asio::awaitable<std::invoke_result_t<F>> run_on(asio::thread_pool& pool, F f) {
    using R = std::invoke_result_t<F>;
    // Through std::optional: co_spawn needs a default-constructible result type.
    // The lambda is a named local, never a temporary inside the co_await expression:
    // GCC 12 destroys such temporaries twice (a known coroutine bug).
    auto job = [fn = std::move(f)]() mutable -> asio::awaitable<std::optional<R>> { co_return fn(); };
    std::optional<R> r = co_await asio::co_spawn(pool, std::move(job), asio::use_awaitable);
    co_return std::move(*r);
  }

  // Connection pools: one per listener kind (limits.max_connections_<kind>).
  enum Pool { kSmtp, kImap, kLdap, kHttp, kOther, kPools };
  struct Listener {
    std::string name;
    tcp::acceptor acceptor;
    SessionFn fn;
    Placement where = Placement::io;
    Pool pool = kOther;
    std::string busy_reply;  // written (best effort) to a client refused by a limit
  };
  struct Session {
    asio::any_io_executor strand;  // a strand of io_ or of workers_ (Placement)
    std::shared_ptr<asio::cancellation_signal> cancel;
  };

  // The hashing pool's admission: a slot while fewer than auth threads + queue are taken.
  bool admit_auth();
  void release_auth();
  struct AuthSlot {
    explicit AuthSlot(Server& s) : s_(s) {}
    ~AuthSlot() { s_.release_auth(); }
    AuthSlot(const AuthSlot&) = delete;
    AuthSlot& operator=(const AuthSlot&) = delete;
    Server& s_;
  };
  // Marks the current thread as a hashing thread while alive (crypto/crypto.hpp).
  struct HashingThreadMark {
    HashingThreadMark();
    ~HashingThreadMark();
  };

  asio::awaitable<void> accept_loop(Listener& l);
  // REQUIRES: `key` is peer_key() of the client's address.
  bool admit(Pool pool, const std::string& key);
  void release(Pool pool, const std::string& key, uint64_t id);

  const Config::Limits limits_;
  const int io_threads_;
  // Declared before io_, so destroyed after it: an accept still pending on io_ at exit holds
  // a socket of the pool's (Placement::workers), which must outlive it.
  asio::thread_pool workers_;
  asio::thread_pool auth_;
  asio::io_context io_;
  const int auth_limit_;                 // auth threads + auth queue
  std::atomic<int> auth_pending_{0};     // hashing jobs running or waiting
  std::vector<std::unique_ptr<Listener>> listeners_;

  mutable std::mutex mu_;
  std::unordered_map<std::string, int> per_ip_;       // pool and network -> count; guarded by mu_
  int in_pool_[kPools] = {};                          // guarded by mu_
  std::map<uint64_t, Session> sessions_;              // guarded by mu_
  uint64_t next_id_ = 1;                              // guarded by mu_
  bool stopping_ = false;                             // guarded by mu_
};

}  // namespace caremail::net

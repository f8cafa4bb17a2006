#include "app/daemon.hpp"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <fstream>
#include <iostream>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>

#include "common/log.hpp"
#include "common/metrics.hpp"
#include "core/identity_services.hpp"
#include "core/directory_service.hpp"
#include "core/change_feed.hpp"
#include "core/mail_service.hpp"
#include "crypto/crypto.hpp"
#include "http/admin_api.hpp"
#include "http/http_server.hpp"
#include "mime/mime.hpp"
#include "net/listener.hpp"
#include "net/tls.hpp"
#include <malloc.h>

#include "imap/session.hpp"
#include "ldap/session.hpp"
#include "smtp/outbound.hpp"
#include "smtp/session.hpp"
#include "store/blob/fs_blob_store.hpp"
#include "store/open_storage.hpp"
#include "store/sqlite/sqlite_store.hpp"

namespace caremail {

namespace {

namespace fs = std::filesystem;
namespace asio = boost::asio;

int fatal(const std::string& msg) {
  log::error("startup.failed", {{"error", msg}});
  std::cerr << "caremaild: " << msg << "\n";
  return 1;
}

// Written whole or not at all, mode 0600, and durable once this returns: the file and then
// its directory entry are synced (a crash after rename() could otherwise lose the name, and
// with it the only copy of the operator's API token).
bool write_private_file(const fs::path& p, const std::string& content) {
  std::string tmp = p.string() + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return false;
  bool ok = ::write(fd, content.data(), content.size()) == static_cast<ssize_t>(content.size()) && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), p.c_str()) != 0) return false;
  int dfd = ::open(p.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return false;
  ok = ::fsync(dfd) == 0;
  ::close(dfd);
  return ok;
}

// When started as root with [server] user set: the uid/gid to become.
struct DropTo {
  uid_t uid;
  gid_t gid;
  std::string name;
};

std::optional<DropTo> privilege_target(const Config& c, std::string& err) {
  if (::geteuid() != 0 || c.server.user.empty()) return std::nullopt;
  struct passwd* pw = ::getpwnam(c.server.user.c_str());
  if (!pw) {
    err = "server.user: no such user '" + c.server.user + "'; create it (useradd --system --no-create-home "
          "--shell /usr/sbin/nologin " + c.server.user + "), or set server.user to an existing user of its own";
    return std::nullopt;
  }
  return DropTo{pw->pw_uid, pw->pw_gid, c.server.user};
}

void chown_tree(const fs::path& root, const DropTo& to, bool recursive) {
  ::chown(root.c_str(), to.uid, to.gid);
  std::error_code ec;
  if (recursive) {
    for (auto it = fs::recursive_directory_iterator(root, ec); !ec && it != fs::recursive_directory_iterator();
         it.increment(ec))
      ::lchown(it->path().c_str(), to.uid, to.gid);
  } else {
    for (auto& e : fs::directory_iterator(root, ec)) {
      ::lchown(e.path().c_str(), to.uid, to.gid);
      if (e.is_directory(ec) && e.path().filename() != "blobs")
        for (auto& f : fs::directory_iterator(e.path(), ec)) ::lchown(f.path().c_str(), to.uid, to.gid);
    }
    ::lchown((root / "blobs" / "tmp").c_str(), to.uid, to.gid);
  }
}

asio::awaitable<void> periodic(std::chrono::seconds first, std::chrono::seconds period,
                               std::function<asio::awaitable<void>()> job) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  for (auto wait = first;; wait = period) {
    timer.expires_after(wait);
    auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    if (ec) co_return;
    co_await job();
  }
}

// A periodic job: `job` runs on `io` after `first`, then again `period` after each run
// ends (runs never overlap; a slow run delays the next, it never queues another). A job
// that does blocking work hands it to the worker pool itself (server.blocking). The loop
// ends when `io` stops; an exception from `job` is logged under `name` and ends it.
// REQUIRES: whatever `job` refers to outlives `io`'s run().
void every(asio::io_context& io, std::chrono::seconds first, std::chrono::seconds period, const char* name,
           std::function<asio::awaitable<void>()> job) {
  asio::co_spawn(io, periodic(first, period, std::move(job)), [name](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      log::error("periodic_job.failed", {{"job", name}, {"error", ex.what()}});
    }
  });
}

}  // namespace

int run_daemon(DaemonOptions opts) {
  Config& cfg = opts.config;
  log::init(cfg.log.level, cfg.log.format);
  crypto::init();
  mime::init();
  std::signal(SIGPIPE, SIG_IGN);

  std::error_code ec;
  fs::create_directories(cfg.server.data_dir, ec);
  if (ec) return fatal("server.data_dir: cannot create " + cfg.server.data_dir.string() + ": " + ec.message());
  ::chmod(cfg.server.data_dir.c_str(), 0700);
  std::string perr;
  auto drop = privilege_target(cfg, perr);
  if (!perr.empty()) return fatal(perr);
  if (drop) {
    struct stat st{};
    if (::stat(cfg.server.data_dir.c_str(), &st) == 0 && st.st_uid != drop->uid)
      chown_tree(cfg.server.data_dir, *drop, true);  // first start as this user
  } else if (::geteuid() == 0) {
    log::warn("startup.running_as_root", {{"hint", "set server.user to drop privileges after binding"}});
  }

  // Secrets in the data directory must be the service's alone (the blob key is checked
  // where it is read, crypto::load_or_create_key).
  fs::path token_file = cfg.server.data_dir / "admin.token";
  if (Status s = crypto::check_private_mode(token_file, "the operator's API token"); !s) return fatal(s.error().message);
  if (Status s = crypto::check_private_mode(cfg.tls_dir() / "key.pem", "the TLS private key"); !s)
    return fatal(s.error().message);
  // A configured key may be shared with its group (Debian's ssl-cert group), never others.
  if (!cfg.tls.key_file.empty())
    if (Status s = crypto::check_private_mode(cfg.tls.key_file, "the TLS private key (tls.key_file)", 040); !s)
      return fatal(s.error().message);

  // The one wall clock every time rule reads (common/clock.hpp).
  const Clock clock;
  auto storage = open_storage(cfg, clock);
  if (!storage) return fatal(storage.error().message);
  auto& store = storage->store;
  auto& blobs = storage->blobs;
  FsBlobStore* blob_ptr = blobs.get();

  ChangeFeed feed;
  MailService mail(*store, *blobs, feed, MailLimits::from(cfg), clock);
  // The password policy's lists (the shipped common list, any configured ones, the
  // breached list) are read once here; a missing file stops the start with its name.
  auto policy = AdminService::load_policy(cfg);
  if (!policy) return fatal(policy.error().message);
  if (cfg.password.breached_list.empty())
    log::warn("startup.no_breached_list", {{"hint", "set password.breached_list to the Pwned Passwords SHA-1 file"}});
  IdentityServices identity(*store, cfg, *policy, clock);
  AdminService& admin = identity.admin;
  // TOTP secrets are sealed with the service key (the blob key), bound to their account.
  auto service_key = crypto::load_or_create_key(cfg.key_file());
  if (!service_key) return fatal(service_key.error().message);
  identity.auth.set_secret_key(*service_key);
  // SEARCH BODY/TEXT: indexed in the background after each delivery (a cache; rebuilt by
  // searching if lost). Declared after `mail`, so it stops before the service goes.
  FullTextIndex fts(cfg.server.data_dir / "fts", [&mail](const std::string& blob) {
    return mail.read_blob(Principal::service(), blob);
  });
  if (cfg.storage.full_text_index) mail.set_index(&fts);

  auto boot = admin.bootstrap(opts.admin_address, opts.admin_password);
  if (!boot) return fatal("bootstrap: " + boot.error().message);
  // The directory (PRODUCT.md D1-D3): built in memory from the store before serving, then
  // kept current by every account change AdminService makes.
  DirectoryService directory(*store, cfg, clock);
  if (Status s = directory.load(); !s) return fatal("directory: " + s.error().message);
  identity.context.observer = [&directory](AccountId id) { directory.refresh(id); };
  if (boot->created) {
    if (!write_private_file(token_file, boot->api_token + "\n"))
      return fatal("cannot write " + token_file.string());
    log::info("bootstrap.created", {{"admin", boot->admin_address}, {"token_file", token_file.string()},
                                    {"must_change_password", boot->admin_password.empty() ? "no" : "yes"}});
    // Shown once, on the terminal, never in the log.
    std::cout << "\n  First national administrator: " << boot->admin_address << "\n";
    if (!boot->admin_password.empty())
      std::cout << "  One-time password:            " << boot->admin_password << "\n";
    std::cout << "  API token for caremailctl:    " << token_file.string() << "\n";
    if (!boot->admin_password.empty())
      // The password was on a terminal (scroll-back, a CI log): until it is replaced the
      // account, and its API token, can do nothing but choose a new one (AdminService::bootstrap).
      std::cout << "\n  The one-time password must be changed before anything else, by the CLI:\n"
                << "    caremailctl password set --current " << boot->admin_address
                << "   (the one-time password, then the new one)\n"
                << "  or by signing in on the web; until then caremailctl is refused.\n";
    std::cout << "\n" << std::flush;
  }
  if (!boot->created) {
    // API tokens end (api.operator_token_seconds): the operator's one is renewed here when
    // it no longer works or nears its end, so caremailctl keeps working across restarts.
    std::string current;
    if (std::ifstream in(token_file); in) std::getline(in, current);
    auto renewed = admin.renew_operator_token(current);
    if (!renewed) {
      log::warn("bootstrap.operator_token_not_renewed", {{"error", renewed.error().message}});
    } else if (*renewed) {
      if (!write_private_file(token_file, **renewed + "\n")) return fatal("cannot write " + token_file.string());
      log::info("bootstrap.operator_token_renewed", {{"token_file", token_file.string()}});
    }
  }

  auto tls_files = net::ensure_certificate(cfg);
  if (!tls_files) return fatal(tls_files.error().message);
  auto tls = net::make_server_context(*tls_files, cfg.tls.min_version);
  if (!tls) return fatal(tls.error().message);

  net::Server server(cfg.limits, /*io_threads=*/1, cfg.server.worker_threads, cfg.server.password_check_threads,
                     cfg.server.password_check_queue);
  const http::ApiDeps api_deps{admin, mail, directory, identity.auth, identity.sessions, identity.self_service,
                               identity.lifecycle};
  http::Router router = http::make_admin_router(api_deps);
  http::BodyLimiter body_limiter = http::make_admin_body_limiter(api_deps, cfg.limits);
  std::string ports = "{";
  auto smtp_shared = std::make_shared<smtp::Shared>(smtp::Shared{server, mail, identity.auth, cfg, *tls, clock});
  auto imap_shared = std::make_shared<imap::Shared>(imap::Shared{server, mail, identity.auth, feed, cfg, *tls});
  // LDAP address book (PRODUCT.md D2): searches go through the DirectoryService.
  auto ldap_shared = std::make_shared<ldap::Shared>(ldap::Shared{server, directory, identity.auth, cfg, *tls});
  // Every listener, in the order they bind. A kind's first endpoint has its plain name in
  // ports.json and the log ("imap"), later ones a number ("imap1"); a failure names the option.
  using Start = std::function<Result<uint16_t>(const std::string& name, const Endpoint& ep)>;
  auto http_on = [&](const char* scheme, std::shared_ptr<asio::ssl::context> ctx) -> Start {
    return [&, scheme, ctx](const std::string&, const Endpoint& ep) {
      return http::listen_http(server, scheme, ep, ctx, router, cfg.limits, http::admin_hashing_route, body_limiter);
    };
  };
  auto smtp_on = [&](smtp::Mode mode) -> Start {
    return [&, mode](const std::string& name, const Endpoint& ep) { return smtp::listen_smtp(smtp_shared, name, ep, mode); };
  };
  auto imap_on = [&](bool implicit) -> Start {
    return [&, implicit](const std::string& name, const Endpoint& ep) {
      return imap::listen_imap(imap_shared, name, ep, implicit);
    };
  };
  auto ldap_on = [&](bool implicit) -> Start {
    return [&, implicit](const std::string& name, const Endpoint& ep) {
      return ldap::listen_ldap(ldap_shared, name, ep, implicit);
    };
  };
  struct Listen {
    const std::vector<Endpoint>& eps;
    std::string name;
    const char* option;
    Start start;
  };
  const Listen listens[] = {
      {cfg.http.listen, "http", "http.listen", http_on("http", nullptr)},
      {cfg.http.tls_listen, "https", "http.tls_listen", http_on("https", *tls)},
      {cfg.smtp.mx_listen, "smtp", "smtp.mx_listen", smtp_on(smtp::Mode::mx)},
      {cfg.smtp.submission_listen, "submission", "smtp.submission_listen", smtp_on(smtp::Mode::submission)},
      {cfg.smtp.submissions_listen, "submissions", "smtp.submissions_listen", smtp_on(smtp::Mode::submissions)},
      {cfg.imap.listen, "imap", "imap.listen", imap_on(false)},
      {cfg.imap.tls_listen, "imaps", "imap.tls_listen", imap_on(true)},
      {cfg.ldap.listen, "ldap", "ldap.listen", ldap_on(false)},
      {cfg.ldap.tls_listen, "ldaps", "ldap.tls_listen", ldap_on(true)},
  };
  for (const Listen& l : listens) {
    for (size_t i = 0; i < l.eps.size(); ++i) {
      const Endpoint& ep = l.eps[i];
      std::string name = i == 0 ? l.name : l.name + std::to_string(i);
      auto port = l.start(name, ep);
      if (!port) return fatal(std::string(l.option) + ": " + port.error().message);
      if (ports.size() > 1) ports += ",";
      ports += "\"" + name + "\":" + std::to_string(*port);
      log::info("listener.ready", {{"listener", name}, {"address", ep.host}, {"port", *port}});
    }
  }
  ports += "}";
  smtp::OutboundQueue outbound(server, mail, *store, cfg, clock);

  if (drop) {
    chown_tree(cfg.server.data_dir, *drop, false);  // files created during this start
    if (::setgroups(0, nullptr) != 0 || ::setgid(drop->gid) != 0 || ::setuid(drop->uid) != 0)
      return fatal("cannot drop privileges to user '" + drop->name + "'");
    if (::setuid(0) == 0) return fatal("privileges could be regained after dropping them; refusing to run");
    log::info("startup.privileges_dropped", {{"user", drop->name}, {"uid", static_cast<int64_t>(drop->uid)}});
  }

  // Graceful stop on SIGTERM/SIGINT, installed before ports.json says the daemon is up: a
  // supervisor (or test) that signals as soon as it sees the file must not kill it outright.
  asio::signal_set signals(server.io(), SIGINT, SIGTERM);
  auto grace = std::chrono::seconds(cfg.server.shutdown_grace_seconds);
  signals.async_wait([&](const boost::system::error_code& e, int sig) {
    if (e) return;
    log::info("server.signal", {{"signal", sig}});
    server.shutdown(grace);
  });

  fs::create_directories(cfg.server.data_dir / "run", ec);
  if (!write_private_file(cfg.server.data_dir / "run" / "ports.json", ports + "\n"))
    return fatal("cannot write " + (cfg.server.data_dir / "run" / "ports.json").string());

  // Password expiry reminders (PRODUCT.md S4): shortly after start, then every
  // password.expiry_check_seconds; each reminder goes once (SignInService remembers which).
  every(server.io(), std::chrono::seconds(std::min(30, cfg.password.expiry_check_seconds)),
        std::chrono::seconds(cfg.password.expiry_check_seconds), "identity.expiry_job",
        [&]() -> asio::awaitable<void> {
          auto remind = [&] {
            return identity.auth.send_expiry_reminders([&](const Account& a, std::string subject, std::string body) {
              std::vector<std::string> to{a.address};
              return mail.send_notice(to, subject, body);
            });
          };
          auto n = co_await server.blocking(std::move(remind));
          if (!n) log::warn("identity.expiry_job_failed", {{"error", n.error().message}});
          else if (*n) log::info("identity.expiry_reminders", {{"sent", *n}});
        });

  // Account life cycle (PRODUCT.md A2, A6): inactive, deleted, purged, addresses freed;
  // a minute after start, then every lifecycle.check_seconds.
  identity.context.notify = [&](const Account& a, std::string subject, std::string body) {
    std::vector<std::string> to{a.address};
    return mail.send_notice(to, subject, body);
  };
  every(server.io(), std::chrono::seconds(std::min(60, cfg.lifecycle.check_seconds)),
        std::chrono::seconds(cfg.lifecycle.check_seconds), "lifecycle.job", [&]() -> asio::awaitable<void> {
          auto job = [&] {
            return identity.lifecycle.run_lifecycle([&](AccountId id) {
              if (auto* fts = mail.index()) fts->forget(id);
            });
          };
          auto r = co_await server.blocking(std::move(job));
          if (!r) log::warn("lifecycle.job_failed", {{"error", r.error().message}});
          else if (r->inactive || r->deleted || r->purged || r->addresses_released)
            log::info("lifecycle.job", {{"inactive", r->inactive}, {"deleted", r->deleted}, {"purged", r->purged},
                                        {"addresses_released", r->addresses_released}});
        });

  // Blob garbage collection: a minute after start, then every minute.
  every(server.io(), std::chrono::seconds(60), std::chrono::seconds(60), "blob_gc", [&]() -> asio::awaitable<void> {
    auto collect = [&] { return blob_ptr->collect_garbage(*store, 1000); };
    auto n = co_await server.blocking(std::move(collect));
    if (!n) log::warn("blob_gc.failed", {{"error", n.error().message}});
    else if (*n) log::info("blob_gc.removed", {{"blobs", *n}});
  });

  outbound.start();
  // Memory freed after bursts (logins hash with 64 MiB each, SELECT lists whole mailboxes)
  // stays in glibc's per-thread arenas unless trimmed; give it back every 30 s so that the
  // resident size follows what the sessions actually hold.
  every(server.io(), std::chrono::seconds(30), std::chrono::seconds(30), "malloc_trim",
        []() -> asio::awaitable<void> {
          ::malloc_trim(0);
          co_return;
        });
  log::info("server.started", {{"data_dir", cfg.server.data_dir.string()}, {"pid", static_cast<int64_t>(::getpid())}});
  server.run();
  ::unlink((cfg.server.data_dir / "run" / "ports.json").c_str());
  log::info("server.stopped");
  return 0;
}

int run_fsck(const Config& cfg) {
  log::init("warn", cfg.log.format);
  crypto::init();
  std::error_code ec;
  if (!fs::exists(cfg.db_file(), ec)) return fatal("server.data_dir: no Caremail data in " + cfg.server.data_dir.string());
  auto storage = open_storage(cfg);
  if (!storage) return fatal(storage.error().message);
  auto& blobs = storage->blobs;
  Store& st = *storage->store;
  size_t problems = 0, messages = 0, mailboxes = 0, accounts_seen = 0;
  auto problem = [&](const std::string& what) {
    ++problems;
    std::cout << "PROBLEM " << what << "\n";
  };
  auto accounts = st.list_accounts(std::nullopt);
  if (!accounts) return fatal(accounts.error().message);
  for (const auto& a : *accounts) {
    ++accounts_seen;
    auto mbs = st.list_mailboxes(a.id);
    if (!mbs) { problem(a.address + ": " + mbs.error().message); continue; }
    for (const auto& mb : *mbs) {
      ++mailboxes;
      auto entries = st.list_entries(mb.id, {}, false);
      if (!entries) { problem(a.address + "/" + mb.name + ": " + entries.error().message); continue; }
      uint64_t bytes = 0;
      uint32_t unseen = 0;
      Uid last = 0;
      for (const auto& e : *entries) {
        ++messages;
        bytes += e.size;
        if (!(e.flags & kSeen)) ++unseen;
        if (e.uid <= last || e.uid >= mb.uidnext) problem(a.address + "/" + mb.name + ": UID order broken at " + std::to_string(e.uid));
        last = e.uid;
        auto raw = blobs->get(e.blob_id);
        if (!raw) problem(a.address + "/" + mb.name + " uid " + std::to_string(e.uid) + ": " + raw.error().message);
        else if (e.trace.size() + raw->size() != e.size || crypto::sha256_hex(*raw) != e.blob_id)
          problem(a.address + "/" + mb.name + " uid " + std::to_string(e.uid) + ": content does not match its id");
      }
      if (mb.messages != entries->size() || mb.bytes != bytes || mb.unseen != unseen)
        problem(a.address + "/" + mb.name + ": mailbox counters " + std::to_string(mb.messages) + "/" +
                std::to_string(mb.bytes) + "/" + std::to_string(mb.unseen) + " but rows say " +
                std::to_string(entries->size()) + "/" + std::to_string(bytes) + "/" + std::to_string(unseen));
    }
  }
  auto q = st.verify_quota();
  if (!q) problem("quota: " + q.error().message);
  else
    for (const auto& c : *q)
      if (c.counted.bytes != c.actual.bytes || c.counted.messages != c.actual.messages)
        problem("quota of account " + std::to_string(c.account_id) + ": counted " + std::to_string(c.counted.bytes) +
                " bytes/" + std::to_string(c.counted.messages) + " messages, actual " +
                std::to_string(c.actual.bytes) + "/" + std::to_string(c.actual.messages));
  auto chain = st.verify_audit_chain();
  if (!chain) problem("audit: " + chain.error().message);
  else if (*chain != 0) problem("audit chain broken at event " + std::to_string(*chain));
  std::cout << "fsck: " << accounts_seen << " accounts, " << mailboxes << " mailboxes, " << messages
            << " messages checked, " << problems << " problems\n";
  return problems == 0 ? 0 : 1;
}

}  // namespace caremail

#include "ldap/session.hpp"

#include <optional>
#include <unordered_set>

#include <boost/asio/ssl.hpp>

#include "common/log.hpp"
#include "common/metrics.hpp"
#include "ldap/message.hpp"
#include "ldap/search.hpp"
#include "net/proto_stream.hpp"

namespace caremail::ldap {

namespace asio = boost::asio;

namespace {

metrics::Counter& sessions_total() {
  static auto& c = metrics::counter("caremail_ldap_sessions_total", "LDAP sessions accepted");
  return c;
}
metrics::Counter& operations_total() {
  static auto& c = metrics::counter("caremail_ldap_operations_total", "LDAP requests answered");
  return c;
}

// Why: a client that cannot remember its password should not get to try forever on one
// connection (lockout counts across connections anyway).
constexpr int kMaxBindFailures = 5;
// Why: a client sending nothing but refused requests is broken or probing.
constexpr int kMaxErrorsInARow = 20;
// Candidates looked at per query of a search plan: the index's deepest page
// (directory::SearchLimits::max_window); see search.hpp.
constexpr size_t kWindow = 1000;

ResultCode code_for(Errc e) {
  switch (e) {
    case Errc::permission_denied:
    case Errc::unauthenticated: return ResultCode::insufficient_access_rights;
    case Errc::invalid_argument: return ResultCode::unwilling_to_perform;
    case Errc::not_found: return ResultCode::no_such_object;
    case Errc::too_large: return ResultCode::admin_limit_exceeded;
    case Errc::temporary: return ResultCode::busy;
    default: return ResultCode::other;
  }
}

// A paged search in progress (RFC 2696): where its next page starts.
struct Paged {
  std::string cookie;
  std::string key;  // base, scope, filter and attributes: a cookie is only good for the same search
  Cursor next;
  std::unordered_set<uint64_t> seen;
  size_t returned = 0;
};

class Session {
 public:
  Session(std::shared_ptr<Shared> shared, asio::ip::tcp::socket sock, net::PeerInfo peer, bool implicit_tls)
      : shared_(std::move(shared)),
        cfg_(shared_->config),
        stream_(std::move(sock), shared_->tls),
        peer_(std::move(peer)),
        implicit_tls_(implicit_tls),
        framer_(limits_) {}

  asio::awaitable<void> run();

 private:
  std::chrono::seconds io_timeout() const { return std::chrono::seconds(cfg_.limits.command_timeout_seconds); }
  std::chrono::seconds idle_timeout() const { return std::chrono::seconds(cfg_.ldap.idle_timeout_seconds); }
  bool is_loopback() const {
    boost::system::error_code ec;
    auto a = asio::ip::make_address(peer_.address, ec);
    return !ec && a.is_loopback();
  }
  bool bind_allowed() const { return stream_.is_tls() || (cfg_.ldap.allow_plaintext_bind_on_loopback && is_loopback()); }

  asio::awaitable<bool> flush();
  asio::awaitable<void> dispatch(Request& req);
  asio::awaitable<void> bind(const Request& req, const BindRequest& b);
  asio::awaitable<void> extended(const Request& req, const ExtendedRequest& x);
  asio::awaitable<void> search(const Request& req, const SearchRequest& s);
  void done(int32_t id, ResultCode code, std::string diagnostic = {},
            const std::optional<PagedResults>& paged = std::nullopt) {
    out_ += encode_search_done(id, LdapResult{code, "", std::move(diagnostic)}, paged);
    if (code == ResultCode::success || code == ResultCode::size_limit_exceeded) errors_ = 0;
  }
  void refuse(const Request& req, ResultCode code, std::string diagnostic) {
    if (auto op = req.response_op()) out_ += encode_result(req.message_id, *op, LdapResult{code, "", std::move(diagnostic)});
    ++errors_;
  }

  std::shared_ptr<Shared> shared_;
  const Config& cfg_;
  Limits limits_;
  net::ProtoStream stream_;
  net::PeerInfo peer_;
  const bool implicit_tls_;
  Framer framer_;
  std::string out_;
  std::optional<Principal> user_;  // nullopt: anonymous
  std::optional<Paged> paged_;
  uint64_t cookies_ = 0;
  int bind_failures_ = 0;
  int errors_ = 0;
  bool closing_ = false;
  std::string end_reason_ = "unbind";
};

asio::awaitable<bool> Session::flush() {
  if (out_.empty()) co_return true;
  std::string data;
  data.swap(out_);
  bool written = co_await stream_.write(data, io_timeout());
  co_return written;
}

asio::awaitable<void> Session::bind(const Request& req, const BindRequest& b) {
  // RFC 4513 §4: a bind (whatever its outcome) ends any earlier authentication.
  user_.reset();
  paged_.reset();
  if (b.name.empty() && b.password.empty()) {  // anonymous
    out_ += encode_bind_response(req.message_id, LdapResult{});
    co_return;
  }
  if (b.password.empty()) {  // unauthenticated bind, RFC 4513 §5.1.2
    refuse(req, ResultCode::unwilling_to_perform, "a bind with a name needs a password");
    co_return;
  }
  if (!bind_allowed()) {
    refuse(req, ResultCode::confidentiality_required, "use StartTLS (or port 636) before binding");
    co_return;
  }
  std::optional<std::string> address = bind_address(b.name);
  if (!address) {
    ++bind_failures_;
    refuse(req, ResultCode::invalid_credentials, "bind with your email address (or mail=<address>,...) and password");
  } else {
    AuthContext ctx;
    ctx.protocol = "ldap";
    ctx.peer = peer_.address;
    ctx.mail_client = true;
    auto check = [&auth = shared_->auth, a = *address, p = b.password, ctx]() { return auth.sign_in(a, p, ctx); };
    auto checked = co_await shared_->server.blocking_auth(std::move(check));
    if (!checked) {
      // The hashing queue is full (a flood of binds): busy (RFC 4511 §A.2), retried; not
      // counted as a failed bind.
      log::warn("ldap.bind_busy", {{"session", peer_.id}, {"peer", peer_.address}});
      refuse(req, ResultCode::busy, "too many sign-ins at once; try again in a few seconds");
      co_return;
    }
    auto& who = *checked;
    if (!who) {
      ++bind_failures_;
      log::warn("ldap.bind_failed", {{"session", peer_.id}, {"peer", peer_.address}, {"user", *address}});
      const std::string& why = who.error().message;
      refuse(req, ResultCode::invalid_credentials,
             why == "wrong address or password" ? "invalid address or password" : why);
    } else {
      user_ = std::move(who->principal);
      errors_ = 0;
      log::info("ldap.bind", {{"session", peer_.id}, {"user", user_->address}, {"peer", peer_.address}});
      out_ += encode_bind_response(req.message_id, LdapResult{});
      co_return;
    }
  }
  if (bind_failures_ >= kMaxBindFailures) {
    out_ += encode_notice_of_disconnection(ResultCode::unwilling_to_perform, "too many failed binds");
    end_reason_ = "too many failed binds";
    closing_ = true;
  }
}

asio::awaitable<void> Session::extended(const Request& req, const ExtendedRequest& x) {
  if (x.kind == ExtendedRequest::Kind::who_am_i) {
    std::string id = user_ ? "u:" + user_->address : std::string();
    out_ += encode_extended_response(req.message_id, LdapResult{}, std::nullopt, id);
    co_return;
  }
  // StartTLS (RFC 4511 §4.14)
  if (stream_.is_tls()) {
    out_ += encode_extended_response(req.message_id, LdapResult{ResultCode::operations_error, "", "TLS is already active"},
                                     kStartTlsOid);
    co_return;
  }
  if (!stream_.tls_available()) {
    out_ += encode_extended_response(req.message_id, LdapResult{ResultCode::protocol_error, "", "StartTLS is not offered"},
                                     kStartTlsOid);
    co_return;
  }
  out_ += encode_extended_response(req.message_id, LdapResult{}, kStartTlsOid);
  bool flushed = co_await flush();
  if (!flushed) {
    closing_ = true;
    end_reason_ = "write failed";
    co_return;
  }
  // Anything pipelined after the request is plaintext that may have been injected: the
  // stream drops it, and so does the framer (it held no partial message: we only read
  // more when it needed more, and it was complete).
  bool secured = co_await stream_.start_tls(io_timeout());
  if (!secured) {
    log::info("ldap.tls_failed", {{"session", peer_.id}, {"peer", peer_.address}});
    closing_ = true;
    end_reason_ = "tls failed";
    co_return;
  }
  framer_ = Framer(limits_);
  log::info("ldap.tls", {{"session", peer_.id}, {"version", stream_.tls_version()}, {"cipher", stream_.tls_cipher()}});
}

asio::awaitable<void> Session::search(const Request& req, const SearchRequest& s) {
  const int32_t id = req.message_id;
  const std::string& base_dn = cfg_.ldap.base_dn;
  Located at = locate(s.base, base_dn);
  Selection sel = parse_selection(s.attributes);

  // The root DSE, for anyone (RFC 4512 §5.1).
  if (at.kind == Located::Kind::root_dse && s.scope == Scope::base_object) {
    Entry dse = root_dse(base_dn);
    // Its attributes are operational: returned for "+", "*" or no selection.
    bool plus = std::find(s.attributes.begin(), s.attributes.end(), "+") != s.attributes.end();
    if (matches(s.filter, dse)) out_ += encode_search_entry(id, (plus || sel.all) ? dse : select(dse, sel), s.types_only);
    done(id, ResultCode::success);
    co_return;
  }
  if (!user_) {
    done(id, ResultCode::insufficient_access_rights, "bind first: the directory is for signed-in staff");
    ++errors_;
    co_return;
  }
  if (at.kind == Located::Kind::invalid) {
    done(id, ResultCode::invalid_dn_syntax, "the search base is not a valid DN");
    ++errors_;
    co_return;
  }
  if (at.kind == Located::Kind::root_dse || at.kind == Located::Kind::outside) {
    done(id, ResultCode::no_such_object, "the directory is under " + base_dn);
    co_return;
  }

  // Limits: the client's when smaller than ours.
  size_t size_limit = static_cast<size_t>(std::max(1, cfg_.ldap.size_limit));
  if (s.size_limit > 0) size_limit = std::min(size_limit, static_cast<size_t>(s.size_limit));
  int time_limit = std::max(1, cfg_.ldap.time_limit_seconds);
  if (s.time_limit > 0) time_limit = std::min(time_limit, s.time_limit);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(time_limit);

  DirectoryService& dir = shared_->directory;
  const Principal& who = *user_;

  // Base-object searches and leaves: one entry at most.
  if (at.kind == Located::Kind::entry || s.scope == Scope::base_object || at.kind == Located::Kind::suffix) {
    if (at.kind == Located::Kind::suffix && s.scope != Scope::base_object && s.scope != Scope::single_level) {
      // subtree below the suffix: the general search below
    } else {
      struct One {
        std::optional<Entry> entry;
        ResultCode code = ResultCode::success;
      };
      auto job = [&dir, &who, &at, &base_dn, scope = s.scope]() {
        One r;
        if (at.kind == Located::Kind::suffix) {
          // The organisations one level down are not listed.
          if (scope == Scope::base_object) r.entry = suffix_entry(base_dn);
          return r;
        }
        if (at.kind == Located::Kind::organisation) {
          directory::Query q;
          q.ods_code = at.ods_code;
          auto any = dir.search(who, q, 1, 0);
          if (!any || any->hits.empty()) {
            r.code = ResultCode::no_such_object;
            return r;
          }
          r.entry = organisation_entry(any->hits[0].entry.ods_code, any->hits[0].entry.org_name, base_dn);
          return r;
        }
        auto e = dir.entry(who, at.address, at.ods_code);
        if (!e || (!at.ods_code.empty() && !iequals(at.ods_code, e->ods_code))) {
          r.code = ResultCode::no_such_object;
          return r;
        }
        // An entry is a leaf: one level below it, or strictly below it, there is nothing.
        if (scope == Scope::base_object || scope == Scope::whole_subtree) r.entry = to_entry(*e, base_dn);
        return r;
      };
      One one = co_await shared_->server.blocking(std::move(job));
      if (one.code != ResultCode::success) {
        done(id, one.code, "no such entry");
        co_return;
      }
      if (one.entry && matches(s.filter, SchemaView(*one.entry)))
        out_ += encode_search_entry(id, select(*one.entry, sel), s.types_only);
      done(id, ResultCode::success);
      co_return;
    }
  }

  // Subtree (or one level below an organisation): plan, fetch candidates, check each.
  SearchPlan plan = plan_search(s.filter);
  if (at.kind == Located::Kind::organisation) restrict_to_organisation(plan, at.ods_code);
  if (plan.unbounded) {
    done(id, ResultCode::unwilling_to_perform,
         "give a name, address, organisation or role to search for: the directory is not listed in full");
    ++errors_;
    co_return;
  }

  // Paged results (RFC 2696).
  std::optional<PagedResults> paged_req = req.paged;
  std::string key;
  Cursor from;
  std::unordered_set<uint64_t> seen;
  size_t want = size_limit;
  size_t returned_before = 0;
  if (paged_req) {
    key = s.base + "\n" + std::to_string(static_cast<int>(s.scope)) + "\n" + to_string(s.filter) + "\n";
    for (const auto& a : s.attributes) key += a + ",";
    if (!paged_req->cookie.empty()) {
      if (!paged_ || paged_->cookie != paged_req->cookie || paged_->key != key) {
        done(id, ResultCode::unwilling_to_perform, "the paged results cookie is not valid for this search");
        ++errors_;
        co_return;
      }
      from = paged_->next;
      seen = std::move(paged_->seen);
      returned_before = paged_->returned;
    }
    paged_.reset();
    if (paged_req->size <= 0) {  // the client abandons the paged search
      done(id, ResultCode::success, {}, PagedResults{});
      co_return;
    }
    if (returned_before >= size_limit) {
      done(id, ResultCode::size_limit_exceeded, {}, PagedResults{});
      co_return;
    }
    want = std::min(static_cast<size_t>(paged_req->size), size_limit - returned_before);
  }

  struct Outcome {
    RunResult run;
    std::string encoded;
    size_t returned = 0;
  };
  RunOptions opts;
  opts.want = want;
  opts.window = kWindow;
  opts.deadline = deadline;
  auto job = [&dir, &who, &plan, &s, &base_dn, &sel, &seen, opts, from, id]() {
    Fetch fetch = [&dir, &who](const directory::Query& q, size_t limit, size_t offset) {
      return dir.search(who, q, limit, offset);
    };
    Outcome o;
    o.run = run_search(plan, s.filter, base_dn, fetch, opts, from, seen);
    for (const auto& e : o.run.entries) o.encoded += encode_entry(id, e, base_dn, sel, s.types_only);
    o.returned = o.run.entries.size();
    // Freed here, on the worker that allocated them: a hundred entries of twenty strings
    // each, freed on the I/O thread, took most of its time (cross-arena frees).
    o.run.entries = {};
    o.run.ids = {};
    return o;
  };
  Outcome o = co_await shared_->server.blocking(std::move(job));
  if (out_.empty())
    out_.swap(o.encoded);
  else
    out_ += o.encoded;
  size_t returned = returned_before + o.returned;
  if (log::enabled(log::Level::debug))
    log::debug("ldap.search", {{"session", peer_.id},
                               {"filter", to_string(s.filter)},
                               {"queries", plan.queries.size()},
                               {"entries", o.returned}});

  using End = RunResult::End;
  if (paged_req) {
    PagedResults resp;
    ResultCode code = ResultCode::success;
    std::string diag;
    if (o.run.end == End::more) {
      if (returned >= size_limit) {
        code = ResultCode::size_limit_exceeded;
      } else {
        Paged p;
        p.cookie = std::to_string(peer_.id) + "." + std::to_string(++cookies_);
        p.key = std::move(key);
        p.next = o.run.next;
        p.seen = std::move(seen);
        p.returned = returned;
        resp.cookie = p.cookie;
        paged_ = std::move(p);
      }
    } else if (o.run.end == End::window) {
      code = ResultCode::admin_limit_exceeded;
      diag = "more than 1000 candidates: refine the search";
    } else if (o.run.end == End::time) {
      code = ResultCode::time_limit_exceeded;
    } else if (o.run.end == End::error) {
      code = code_for(o.run.error.code);
      diag = o.run.error.message;
    }
    done(id, code, std::move(diag), resp);
    co_return;
  }
  switch (o.run.end) {
    case End::exhausted: done(id, ResultCode::success); break;
    case End::more: done(id, ResultCode::size_limit_exceeded); break;
    case End::window: done(id, ResultCode::admin_limit_exceeded, "more than 1000 candidates: refine the search"); break;
    case End::time: done(id, ResultCode::time_limit_exceeded); break;
    case End::error: done(id, code_for(o.run.error.code), o.run.error.message); break;
  }
}

asio::awaitable<void> Session::dispatch(Request& req) {
  operations_total().inc();
  if (auto* b = std::get_if<BindRequest>(&req.body)) {
    co_await bind(req, *b);
  } else if (std::holds_alternative<UnbindRequest>(req.body)) {
    closing_ = true;
    end_reason_ = "unbind";
  } else if (auto* s = std::get_if<SearchRequest>(&req.body)) {
    co_await search(req, *s);
  } else if (std::holds_alternative<AbandonRequest>(req.body)) {
    // Requests are answered one at a time: the one named has been answered already.
  } else if (auto* x = std::get_if<ExtendedRequest>(&req.body)) {
    co_await extended(req, *x);
  } else {
    refuse(req, ResultCode::unwilling_to_perform, "the directory is read-only");
  }
}

asio::awaitable<void> Session::run() {
  sessions_total().inc();
  co_await asio::this_coro::throw_if_cancelled(false);
  log::info("ldap.connect", {{"session", peer_.id}, {"peer", peer_.address}, {"tls", implicit_tls_}});
  if (implicit_tls_) {
    bool secured = co_await stream_.start_tls(io_timeout());
    if (!secured) {
      log::info("ldap.tls_failed", {{"session", peer_.id}, {"peer", peer_.address}});
      co_await stream_.close();
      co_return;
    }
  }
  using Clock = net::ProtoStream::Clock;
  int requests = 0;
  // While anonymous, a client is held to a few requests and seconds (ldap.max_anonymous_
  // requests, anonymous_timeout_seconds); a request once begun must arrive whole within the
  // command timeout, however slowly its bytes trickle in.
  int anonymous_requests = 0;
  const auto anonymous_deadline = Clock::now() + std::chrono::seconds(cfg_.ldap.anonymous_timeout_seconds);
  std::optional<Clock::time_point> request_deadline;
  while (!closing_) {
    if (stream_.has_buffered()) {
      size_t n = framer_.feed(stream_.peek());
      stream_.consume(n);
    }
    FrameStatus st = framer_.status();
    if (st == FrameStatus::need_more) {
      if (stream_.has_buffered()) continue;
      bool flushed = co_await flush();
      if (!flushed) {
        end_reason_ = "write failed";
        break;
      }
      const auto now = Clock::now();
      Clock::duration wait = idle_timeout();
      const char* why = "idle for too long";
      if (framer_.buffered() > 0) {
        if (!request_deadline) request_deadline = now + io_timeout();
        if (*request_deadline - now < wait) {
          wait = *request_deadline - now;
          why = "request not completed in time";
        }
      }
      if (!user_ && anonymous_deadline - now < wait) {
        wait = anonymous_deadline - now;
        why = "bind first: anonymous for too long";
      }
      // Shutdown cancelling the read is a value (ReadStatus::cancelled), not an exception.
      net::ReadStatus rs = net::ReadStatus::timeout;
      if (wait > Clock::duration::zero()) {
        rs = co_await stream_.read_more(wait);
      }
      if (rs == net::ReadStatus::ok) continue;
      if (rs == net::ReadStatus::timeout) {
        out_ += encode_notice_of_disconnection(ResultCode::unavailable, why);
        end_reason_ = "timeout";
      } else if (rs == net::ReadStatus::cancelled) {
        co_await asio::this_coro::reset_cancellation_state();
        out_ += encode_notice_of_disconnection(ResultCode::unavailable, "server shutting down");
        end_reason_ = "shutdown";
      } else {
        end_reason_ = "disconnected";
      }
      break;
    }
    if (st == FrameStatus::error) {
      out_ += encode_notice_of_disconnection(ResultCode::protocol_error, framer_.error());
      end_reason_ = "malformed";
      break;
    }
    DecodeResult decoded = decode_request(framer_.message(), limits_);
    framer_.next();
    request_deadline.reset();
    ++requests;
    const bool was_anonymous = !user_;
    if (!decoded) {
      out_ += encode_error(decoded.error());
      if (decoded.error().disconnect) {
        end_reason_ = "malformed";
        break;
      }
      ++errors_;
    } else {
      co_await dispatch(decoded.value());
      // Shutdown may have cancelled a worker hop or a write (a failed write, not an exception).
      asio::cancellation_state cs = co_await asio::this_coro::cancellation_state;
      if (cs.cancelled() != asio::cancellation_type::none) {
        co_await asio::this_coro::reset_cancellation_state();
        out_ += encode_notice_of_disconnection(ResultCode::unavailable, "server shutting down");
        end_reason_ = "shutdown";
        break;
      }
    }
    if (was_anonymous && !user_ && ++anonymous_requests >= cfg_.ldap.max_anonymous_requests && !closing_) {
      out_ += encode_notice_of_disconnection(ResultCode::unwilling_to_perform, "too many requests without a bind");
      end_reason_ = "too many anonymous requests";
      break;
    }
    if (errors_ >= kMaxErrorsInARow) {
      out_ += encode_notice_of_disconnection(ResultCode::unwilling_to_perform, "too many refused requests");
      end_reason_ = "too many errors";
      break;
    }
  }
  bool flushed = co_await flush();
  if (!flushed) log::debug("ldap.final_reply_lost", {{"session", peer_.id}});
  co_await stream_.close();
  log::info("ldap.disconnect", {{"session", peer_.id},
                                {"reason", end_reason_},
                                {"requests", requests},
                                {"user", user_ ? user_->address : std::string()}});
}

}  // namespace

Result<uint16_t> listen_ldap(std::shared_ptr<Shared> shared, const std::string& name, const Endpoint& ep,
                             bool implicit_tls) {
  net::Server& server = shared->server;
  return server.listen(name, ep,
                       [shared, implicit_tls](asio::ip::tcp::socket sock, net::PeerInfo peer) -> asio::awaitable<void> {
                         Session s(shared, std::move(sock), std::move(peer), implicit_tls);
                         co_await s.run();
                       });
}

}  // namespace caremail::ldap

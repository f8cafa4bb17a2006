#include "http/http_server.hpp"

#include <chrono>

#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include "common/log.hpp"
#include "common/metrics.hpp"

namespace caremail::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using net::tcp;

namespace {

metrics::Counter& requests_total() {
  static auto& c = metrics::counter("caremail_http_requests_total", "HTTP requests served");
  return c;
}
metrics::Histogram& request_seconds() {
  static auto& h = metrics::histogram("caremail_http_request_seconds", "HTTP request latency");
  return h;
}

struct Shared {
  net::Server& server;
  Router router;
  Config::Limits limits;
  std::shared_ptr<asio::ssl::context> tls;
  HashingRoutes hashing;
  BodyLimiter limiter;
};

Response problem(int status, std::string_view title, std::string_view detail) {
  Response r;
  r.status = status;
  r.content_type = "application/problem+json";
  r.body = "{\"type\":\"about:blank\",\"title\":\"" + std::string(title) + "\",\"status\":" + std::to_string(status) +
           ",\"detail\":\"" + std::string(detail) + "\"}";
  return r;
}

// Writes `out` and closes: the rest of the request is not read.
template <class Stream>
asio::awaitable<void> refuse(Stream& stream, beast::tcp_stream& tcp, const Response& out, unsigned version,
                             std::chrono::seconds timeout) {
  bhttp::response<bhttp::string_body> res{static_cast<bhttp::status>(out.status), version};
  res.set(bhttp::field::server, "caremail");
  res.set(bhttp::field::content_type, out.content_type);
  res.set(bhttp::field::cache_control, "no-store");
  for (auto& [k, v] : out.headers) res.set(k, v);
  res.set(bhttp::field::connection, "close");
  res.body() = out.body;
  res.prepare_payload();
  tcp.expires_after(timeout);
  co_await bhttp::async_write(stream, res, asio::as_tuple(asio::use_awaitable));
}

Response too_large() {
  return problem(413, "Payload Too Large", "the request body is larger than the server accepts for this request");
}

template <class Stream>
asio::awaitable<void> serve(std::shared_ptr<Shared> sh, Stream& stream, beast::tcp_stream& tcp, net::PeerInfo peer) {
  beast::flat_buffer buf;
  const auto idle = std::chrono::seconds(sh->limits.idle_timeout_seconds);
  const auto per_request = std::chrono::seconds(sh->limits.command_timeout_seconds);
  const uint64_t small = sh->limits.max_http_unauthenticated_body_bytes;
  for (;;) {
    bhttp::request_parser<bhttp::string_body> parser;
    parser.header_limit(16 * 1024);
    // The head first; the body's limit is decided from it (Beast checks a Content-Length
    // against this one when the head is parsed, so it is the largest any route accepts).
    parser.body_limit(std::max(sh->limits.max_http_body_bytes, small));
    tcp.expires_after(idle);
    auto [ec, n] = co_await bhttp::async_read_header(stream, buf, parser, asio::as_tuple(asio::use_awaitable));
    if (ec) {
      if (ec == bhttp::error::body_limit) {
        co_await refuse(stream, tcp, too_large(), 11, per_request);
      } else if (ec != bhttp::error::end_of_stream && ec != asio::error::operation_aborted &&
                 ec != beast::error::timeout && ec != asio::error::eof && ec != asio::error::connection_reset) {
        log::debug("http.read_error", {{"session", peer.id}, {"error", ec.message()}});
      }
      co_return;
    }
    auto start = std::chrono::steady_clock::now();
    auto& req = parser.get();
    Request r;
    r.method = std::string(req.method_string());
    std::string_view target = req.target();
    auto qpos = target.find('?');
    r.path = percent_decode(target.substr(0, qpos));
    if (qpos != std::string_view::npos) r.query = parse_query(target.substr(qpos + 1));
    r.content_type = std::string(req[bhttp::field::content_type]);
    r.authorization = std::string(req[bhttp::field::authorization]);
    r.user_agent = std::string(req[bhttp::field::user_agent]).substr(0, 200);
    r.cookie = std::string(req[bhttp::field::cookie]).substr(0, 4096);
    r.csrf_token = std::string(req["X-CSRF-Token"]).substr(0, 200);
    r.peer = peer.address;
    r.session = peer.id;
    bool hashes = sh->hashing && sh->hashing(r);
    unsigned version = req.version();

    // How much body this request may send, before any of it is read.
    uint64_t limit = small;
    auto declared = parser.content_length();
    if ((declared && *declared > small) || parser.chunked()) {
      BodyPolicy policy;
      if (sh->limiter) {
        auto decide = [sh, &r]() { return sh->limiter(r); };
        policy = co_await sh->server.blocking(std::move(decide));
      } else {
        policy.limit = small;
      }
      if (policy.reject) {
        co_await refuse(stream, tcp, *policy.reject, version, per_request);
        co_return;
      }
      limit = policy.limit;
      r.principal = std::move(policy.principal);
    }
    if (declared && *declared > limit) {
      log::info("http.body_refused", {{"session", peer.id}, {"peer", peer.address}, {"path", r.path},
                                      {"declared", *declared}, {"limit", limit}});
      co_await refuse(stream, tcp, too_large(), version, per_request);
      co_return;
    }
    parser.body_limit(limit);
    if (!parser.is_done()) {
      if (req[bhttp::field::expect] == "100-continue") {
        // The body is wanted: say so rather than make the client wait (curl waits 1 s).
        bhttp::response<bhttp::empty_body> cont{bhttp::status::continue_, version};
        auto [cec, cn] = co_await bhttp::async_write(stream, cont, asio::as_tuple(asio::use_awaitable));
        if (cec) co_return;
      }
      auto [bec, bn] = co_await bhttp::async_read(stream, buf, parser, asio::as_tuple(asio::use_awaitable));
      if (bec) {
        if (bec == bhttp::error::body_limit) {
          co_await refuse(stream, tcp, too_large(), version, per_request);
        }
        co_return;
      }
    }
    r.body = std::move(req.body());
    bool keep_alive = req.keep_alive();

    // Named, not a temporary in the co_await expression (GCC 12 coroutine bug).
    auto handle = [sh, rr = std::move(r)]() {
      try {
        return sh->router(rr);
      } catch (const std::exception& e) {
        log::error("http.handler_exception", {{"path", rr.path}, {"error", e.what()}});
        return problem(500, "Internal Server Error", "the server could not complete the request");
      }
    };
    Response out;
    if (hashes) {
      // Sign-ins and password changes hash on the bounded hashing pool, never on the
      // workers that deliver mail; a full queue is a temporary failure the client retries.
      std::optional<Response> hashed = co_await sh->server.blocking_auth(std::move(handle));
      if (hashed) {
        out = std::move(*hashed);
      } else {
        out = problem(503, "Service Unavailable", "too many sign-ins at once; try again in a few seconds");
        out.headers.emplace_back("Retry-After", "5");
      }
    } else {
      out = co_await sh->server.blocking(std::move(handle));
    }

    bhttp::response<bhttp::string_body> res{static_cast<bhttp::status>(out.status), version};
    res.set(bhttp::field::server, "caremail");
    res.set(bhttp::field::content_type, out.content_type);
    res.set(bhttp::field::cache_control, "no-store");
    res.set("X-Content-Type-Options", "nosniff");
    for (auto& [k, v] : out.headers) res.set(k, v);
    res.keep_alive(keep_alive);
    res.body() = std::move(out.body);
    res.prepare_payload();
    tcp.expires_after(per_request);
    auto [wec, wn] = co_await bhttp::async_write(stream, res, asio::as_tuple(asio::use_awaitable));
    requests_total().inc();
    request_seconds().observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    if (wec || !keep_alive) co_return;
  }
}

}  // namespace

Result<uint16_t> listen_http(net::Server& server, const std::string& name, const Endpoint& ep,
                             std::shared_ptr<asio::ssl::context> tls, Router router, const Config::Limits& limits,
                             HashingRoutes hashing, BodyLimiter limiter) {
  auto sh = std::make_shared<Shared>(
      Shared{server, std::move(router), limits, std::move(tls), std::move(hashing), std::move(limiter)});
  return server.listen(name, ep, [sh](tcp::socket sock, net::PeerInfo peer) -> asio::awaitable<void> {
    beast::tcp_stream tcp(std::move(sock));
    if (!sh->tls) {
      co_await serve(sh, tcp, tcp, std::move(peer));
      co_return;
    }
    beast::ssl_stream<beast::tcp_stream&> ssl(tcp, *sh->tls);
    tcp.expires_after(std::chrono::seconds(sh->limits.command_timeout_seconds));
    auto [ec] = co_await ssl.async_handshake(asio::ssl::stream_base::server, asio::as_tuple(asio::use_awaitable));
    if (ec) {
      log::debug("tls.handshake_failed", {{"listener", peer.listener}, {"peer", peer.address}, {"error", ec.message()}});
      co_return;
    }
    co_await serve(sh, ssl, tcp, std::move(peer));
    tcp.expires_after(std::chrono::seconds(5));
    co_await ssl.async_shutdown(asio::as_tuple(asio::use_awaitable));
  });
}

}  // namespace caremail::http

#include "common/config.hpp"

#include "common/cidr.hpp"

#include <arpa/inet.h>
#include <cstdlib>

#include <fstream>
#include <functional>
#include <limits>
#include <set>
#include <sstream>
#include <type_traits>
#include <utility>

#include <toml++/toml.h>

namespace caremail {

Result<Endpoint> parse_endpoint(std::string_view text) {
  Endpoint ep;
  std::string_view host, port;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':')
      return make_error(Errc::invalid_argument, "'" + std::string(text) + "' is not [ipv6]:port");
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos)
      return make_error(Errc::invalid_argument, "'" + std::string(text) + "' has no :port");
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  if (host.empty()) return make_error(Errc::invalid_argument, "'" + std::string(text) + "' has no host");
  {
    // Listeners bind numeric addresses only: a name would need DNS at start-up and could
    // resolve to more (or other) interfaces than intended.
    std::string h(host);
    unsigned char buf[sizeof(struct in6_addr)];
    if (inet_pton(AF_INET, h.c_str(), buf) != 1 && inet_pton(AF_INET6, h.c_str(), buf) != 1)
      return make_error(Errc::invalid_argument,
                        "'" + std::string(text) + "' must name a numeric IP address such as 127.0.0.1 or [::1]");
  }
  unsigned p = 0;
  if (port.empty() || port.size() > 5) return make_error(Errc::invalid_argument, "bad port in '" + std::string(text) + "'");
  for (char c : port) {
    if (c < '0' || c > '9') return make_error(Errc::invalid_argument, "bad port in '" + std::string(text) + "'");
    p = p * 10 + unsigned(c - '0');
  }
  if (p > 65535) return make_error(Errc::invalid_argument, "port out of range in '" + std::string(text) + "'");
  ep.host = std::string(host);
  ep.port = static_cast<uint16_t>(p);
  return ep;
}

namespace {

std::string lower_ascii(std::string_view s) {
  std::string out(s);
  for (char& ch : out)
    if (ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch - 'A' + 'a');
  return out;
}

// A host name (letters, digits, '-', dots between non-empty labels), optionally "*." first.
bool valid_host_pattern(std::string_view h) {
  if (h.rfind("*.", 0) == 0) h.remove_prefix(2);
  if (h.empty() || h.size() > 253 || h.front() == '.' || h.back() == '.') return false;
  size_t label = 0;
  for (char ch : h) {
    if (ch == '.') {
      if (label == 0) return false;
      label = 0;
    } else if ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-') {
      if (++label > 63) return false;
    } else {
      return false;
    }
  }
  return true;
}

bool is_ip_address(const std::string& h) {
  unsigned char buf[sizeof(struct in6_addr)];
  return inet_pton(AF_INET, h.c_str(), buf) == 1 || inet_pton(AF_INET6, h.c_str(), buf) == 1;
}

}  // namespace

std::optional<Config::Smtp::MxPin> parse_mx_pin(std::string_view text) {
  auto eq = text.find('=');
  if (eq == std::string_view::npos) return std::nullopt;
  Config::Smtp::MxPin pin;
  pin.domain = lower_ascii(text.substr(0, eq));
  if (!valid_host_pattern(pin.domain)) return std::nullopt;
  std::string_view rest = text.substr(eq + 1);
  while (true) {
    auto comma = rest.find(',');
    std::string host = lower_ascii(rest.substr(0, comma));
    while (!host.empty() && host.front() == ' ') host.erase(host.begin());
    while (!host.empty() && host.back() == ' ') host.pop_back();
    if (!valid_host_pattern(host) && !is_ip_address(host)) return std::nullopt;
    pin.hosts.push_back(std::move(host));
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  return pin;
}

namespace {

Error bad(std::string_view origin, std::string_view key, std::string_view why) {
  std::string m;
  m.append(origin).append(": option '").append(key).append("': ").append(why);
  return make_error(Errc::invalid_argument, std::move(m));
}

using Why = std::optional<std::string>;  // why a value is refused; nullopt: accepted

// --- Reading one value of each type from TOML --------------------------------------
// The messages follow "option 'section.key': ", so they say what the value must be.

template <class T>
Why read_value(const toml::node& n, const std::string& full, T& out) {
  if constexpr (std::is_same_v<T, std::string>) {
    if (auto v = n.value<std::string>()) { out = *v; return {}; }
    return "must be a string, e.g. " + full + " = \"...\"";
  } else if constexpr (std::is_same_v<T, std::filesystem::path>) {
    if (auto v = n.value<std::string>()) { out = *v; return {}; }
    return "must be a path in quotes";
  } else if constexpr (std::is_same_v<T, bool>) {
    if (auto v = n.value<bool>()) { out = *v; return {}; }
    return "must be true or false";
  } else if constexpr (std::is_integral_v<T>) {
    if (auto v = n.value<int64_t>()) {
      if (*v < 0) return "must not be negative";
      // Without this, 4294967346 narrowed to int silently became 50 (found by config_test).
      if (static_cast<uint64_t>(*v) > static_cast<uint64_t>(std::numeric_limits<T>::max()))
        return "is too large (at most " + std::to_string(std::numeric_limits<T>::max()) + ")";
      out = static_cast<T>(*v);
      return {};
    }
    return "must be a whole number";
  } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
    const toml::array* arr = n.as_array();
    if (!arr) return "must be a list of strings";
    std::vector<std::string> v;
    for (const auto& el : *arr) {
      auto x = el.value<std::string>();
      if (!x) return "every entry must be a string";
      v.push_back(*x);
    }
    out = std::move(v);
    return {};
  } else if constexpr (std::is_same_v<T, std::vector<int>>) {
    const toml::array* arr = n.as_array();
    if (!arr) return "must be a list of whole numbers";
    std::vector<int> v;
    for (const auto& el : *arr) {
      auto x = el.value<int64_t>();
      if (!x || *x < 1 || *x > 86400 * 30) return "every entry must be a whole number of seconds (1 to 2592000)";
      v.push_back(static_cast<int>(*x));
    }
    out = std::move(v);
    return {};
  } else if constexpr (std::is_same_v<T, std::vector<Endpoint>>) {
    const toml::array* arr = n.as_array();
    if (!arr) return "must be a list such as [\"127.0.0.1:8080\"]";
    std::vector<Endpoint> eps;
    for (const auto& el : *arr) {
      auto s = el.value<std::string>();
      if (!s) return "every entry must be a string \"host:port\"";
      auto ep = parse_endpoint(*s);
      if (!ep) return ep.error().message;
      eps.push_back(*ep);
    }
    out = std::move(eps);
    return {};
  } else if constexpr (std::is_same_v<T, std::vector<Config::Smtp::MxPin>>) {
    std::vector<std::string> texts;
    if (Why w = read_value(n, full, texts)) return w;
    std::vector<Config::Smtp::MxPin> pins;
    for (const auto& text : texts) {
      auto p = parse_mx_pin(text);
      if (!p)
        return "'" + text + "' is not domain=host[,host...] (a host is a name, *.name for one label, or an IP "
               "address), e.g. \"partner.example=mx1.partner.example,mx2.partner.example\"";
      for (const auto& other : pins)
        if (other.domain == p->domain) return "'" + p->domain + "' is pinned twice; list all its hosts in one entry";
      pins.push_back(std::move(*p));
    }
    out = std::move(pins);
    return {};
  } else {
    static_assert(sizeof(T) == 0, "no TOML reader for this option's type");
  }
}

// --- Showing a value as TOML (the defaults, and the example file's test) -------------

std::string toml_string(std::string_view s) {
  std::string out = "\"";
  for (char ch : s) {
    if (ch == '"' || ch == '\\') out += '\\';
    out += ch;
  }
  return out + "\"";
}

std::string show_one(const std::string& s) { return toml_string(s); }
std::string show_one(const std::filesystem::path& p) { return toml_string(p.string()); }
std::string show_one(bool b) { return b ? "true" : "false"; }
std::string show_one(const Endpoint& ep) {
  bool v6 = ep.host.find(':') != std::string::npos;
  return toml_string((v6 ? "[" + ep.host + "]" : ep.host) + ":" + std::to_string(ep.port));
}
std::string show_one(const Config::Smtp::MxPin& pin) {
  std::string s = pin.domain + "=";
  for (size_t i = 0; i < pin.hosts.size(); ++i) s += (i ? "," : "") + pin.hosts[i];
  return toml_string(s);
}
template <class T>
  requires std::is_integral_v<T>
std::string show_one(T n) {
  return std::to_string(n);
}
template <class T>
std::string show_one(const std::vector<T>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + show_one(v[i]);
  return s + "]";
}

// --- Rules: each names its reason exactly as the error says it ----------------------

template <class T>
using Rule = std::function<Why(const T& value, const Config& c)>;

// Refused unless `ok(value, config)`; `why` is the message.
template <class Ok>
auto rule(Ok ok, std::string why) {
  return [ok, why](const auto& v, const Config& c) -> Why {
    if (ok(v, c)) return {};
    return why;
  };
}
auto at_least(int64_t n) {
  return [n](const auto& v, const Config&) -> Why {
    if (std::cmp_less(v, n)) return "must be at least " + std::to_string(n);
    return {};
  };
}
// lo <= value <= hi, else `why` (the messages name the range their own way).
auto within(int64_t lo, int64_t hi, std::string why) {
  return [lo, hi, why](const auto& v, const Config&) -> Why {
    if (std::cmp_less(v, lo) || std::cmp_greater(v, hi)) return why;
    return {};
  };
}
auto not_empty() {
  return [](const auto& v, const Config&) -> Why {
    if (v.empty()) return std::string("must not be empty");
    return {};
  };
}
// Every entry of a list passes `ok`, else `why(entry)`.
template <class Ok, class WhyOf>
auto each(Ok ok, WhyOf why) {
  return [ok, why](const std::vector<std::string>& v, const Config&) -> Why {
    for (const auto& x : v)
      if (!ok(x)) return why(x);
    return {};
  };
}

// --- The options ---------------------------------------------------------------------

struct Option {
  std::string_view name;  // "section.key"
  std::string_view help;  // one line; config/caremail.example.toml says more
  bool in_example;        // false only for the [testing] faults
  std::function<Why(const toml::node&, Config&)> read;
  std::function<std::string(const Config&)> show;
  std::function<Why(const Config&)> check;  // every rule, in order
};

template <class S, class T>
Option option(std::string_view name, S Config::*section, T S::*field, std::string_view help,
              std::vector<Rule<T>> rules = {}, bool in_example = true) {
  std::string full(name);
  return Option{
      name,
      help,
      in_example,
      [section, field, full](const toml::node& n, Config& c) { return read_value(n, full, c.*section.*field); },
      [section, field](const Config& c) { return show_one(c.*section.*field); },
      [section, field, rules = std::move(rules)](const Config& c) -> Why {
        for (const auto& r : rules)
          if (Why w = r(c.*section.*field, c)) return w;
        return {};
      }};
}

// The option's name and its place in Config, written once: OPT(smtp, mx_port).
#define OPT(section, key) #section "." #key, &Config::section, &decltype(Config::section)::key

const std::string kTokensEnd = "must be between 1 second and 3650 days (315360000); tokens must end";

bool is_dns_server(const std::string& ns) {
  return parse_endpoint(ns.find(':') == std::string::npos ? ns + ":53" : ns).ok();
}

bool is_relay_route(const std::string& route) {
  auto eq = route.find('=');
  return eq != std::string::npos && eq != 0 && parse_endpoint(route.substr(eq + 1)).ok();
}

// Every option of caremaild: name, type (of its Config field), default (Config's
// initialiser), checks and a line of help. Read in this order, then checked in this order.
const std::vector<Option>& options() {
  static const std::vector<Option> kOptions = {
      // [server]
      option(OPT(server, data_dir), "Where the database, blobs, keys and TLS certificate live", {not_empty()}),
      option(OPT(server, hostname), "The name this server gives itself (TLS, Received headers)"),
      option(OPT(server, user), "Started as root: the user to become after binding (\"\" stays root)"),
      option(OPT(server, shutdown_grace_seconds), "On SIGTERM: how long in-flight work may take to finish"),
      option(OPT(server, worker_threads), "Threads for blocking work (database, fsync, MIME)",
             {within(1, 256, "must be between 1 and 256")}),
      option(OPT(server, password_check_threads), "Threads hashing and checking passwords (Argon2id)",
             {within(1, 64, "must be between 1 and 64")}),
      option(OPT(server, password_check_queue), "Sign-ins that may wait for a hashing thread",
             {within(0, 100000, "must be between 0 and 100000")}),
      option(OPT(server, password_cache_seconds), "How long a verified password skips the full check (0: off)",
             {within(0, 86400, "must be between 0 (off) and 86400")}),
      // [national]
      option(OPT(national, domain), "The national service's own domain",
             {rule([](const std::string& d, const Config&) { return !d.empty() && d.find('.') != std::string::npos; },
                   "must be a domain name such as \"care.example\"")}),
      option(OPT(national, ods_code), "The national service's organisation code", {not_empty()}),
      option(OPT(national, name), "The national service's organisation name"),
      // [log]
      option(OPT(log, level), "trace, debug, info, warn or error",
             {rule([](const std::string& l, const Config&) {
                     static const std::set<std::string> levels{"trace", "debug", "info", "warn", "error"};
                     return levels.count(l) > 0;
                   },
                   "must be one of trace, debug, info, warn, error")}),
      option(OPT(log, format), "logfmt or json, one event a line on standard error",
             {rule([](const std::string& f, const Config&) { return f == "logfmt" || f == "json"; },
                   "must be \"logfmt\" or \"json\"")}),
      // [tls]
      option(OPT(tls, cert_file), "Certificate chain (PEM); empty: self-signed under data_dir/tls",
             {rule([](const std::filesystem::path& cert, const Config& c) { return cert.empty() == c.tls.key_file.empty(); },
                   "set both tls.cert_file and tls.key_file, or neither (self-signed)")}),
      option(OPT(tls, key_file), "Private key (PEM) of tls.cert_file"),
      option(OPT(tls, min_version), "Lowest TLS version offered: 1.2 or 1.3",
             {rule([](const std::string& v, const Config&) { return v == "1.2" || v == "1.3"; },
                   "must be \"1.2\" or \"1.3\" (older versions are not offered)")}),
      // [limits]
      option(OPT(limits, max_connections), "SMTP, IMAP and LDAP connections together", {at_least(1)}),
      option(OPT(limits, max_connections_smtp), "SMTP connections (MX, submission, submissions)", {at_least(1)}),
      option(OPT(limits, max_connections_imap), "IMAP connections (imap, imaps)", {at_least(1)}),
      option(OPT(limits, max_connections_ldap), "LDAP connections (ldap, ldaps)", {at_least(1)}),
      option(OPT(limits, max_connections_http), "HTTP connections (the admin API)", {at_least(1)}),
      option(OPT(limits, max_connections_per_ip), "Connections per client network and listener kind", {at_least(1)}),
      option(OPT(limits, ipv4_prefix_length), "The IPv4 network the per-IP limit counts",
             {within(1, 32, "must be 1 to 32 (32: each address counts alone)")}),
      option(OPT(limits, ipv6_prefix_length), "The IPv6 network the per-IP limit counts",
             {within(1, 128, "must be 1 to 128 (64: each /64, one host's usual share)")}),
      option(OPT(limits, idle_timeout_seconds), "Seconds a connection may sit idle", {at_least(1)}),
      option(OPT(limits, command_timeout_seconds), "Seconds a command may take to arrive", {at_least(1)}),
      option(OPT(limits, max_http_body_bytes), "Largest HTTP body (POST /api/v1/deliver: a whole message)"),
      option(OPT(limits, max_http_unauthenticated_body_bytes), "Largest HTTP body before authentication",
             {rule([](uint64_t v, const Config&) { return v >= 1024; },
                   "must be at least 1024 (sign-in needs about 1 KB)")}),
      option(OPT(limits, max_http_json_body_bytes), "Largest authenticated JSON body",
             {rule([](uint64_t v, const Config& c) { return v >= c.limits.max_http_unauthenticated_body_bytes; },
                   "must be at least limits.max_http_unauthenticated_body_bytes")}),
      // [http]
      option(OPT(http, listen), "Plain HTTP listeners (the admin API)"),
      option(OPT(http, tls_listen), "HTTPS listeners"),
      // [smtp]
      option(OPT(smtp, mx_listen), "SMTP MX listeners (25 in production)"),
      option(OPT(smtp, submission_listen), "Submission listeners (587: STARTTLS, then AUTH)"),
      option(OPT(smtp, submissions_listen), "Submissions listeners (465: implicit TLS)"),
      option(OPT(smtp, max_recipients), "Recipients per message", {at_least(1)}),
      option(OPT(smtp, max_errors), "Bad commands before the connection is closed", {at_least(1)}),
      option(OPT(smtp, max_auth_failures), "Failed AUTHs per connection", {at_least(1)}),
      option(OPT(smtp, max_commands), "Commands per connection", {at_least(10)}),
      option(OPT(smtp, max_commands_before_mail), "Commands before the first MAIL FROM or AUTH",
             {rule([](int v, const Config&) { return v >= 5; },
                   "must be at least 5 (EHLO, STARTTLS, EHLO, AUTH, MAIL)")}),
      option(OPT(smtp, preauth_timeout_seconds), "Seconds before the first MAIL FROM or AUTH", {at_least(1)}),
      option(OPT(smtp, data_timeout_seconds), "Seconds between chunks of DATA/BDAT", {at_least(1)}),
      option(OPT(smtp, allow_plaintext_auth_on_loopback), "AUTH without TLS from loopback (development, tests)"),
      option(OPT(smtp, trusted_relays), "Networks whose port 25 mail may use the service's domains",
             {each([](const std::string& net) { return valid_network(net); },
                   [](const std::string& net) {
                     return "'" + net + "' is not an IP network (\"192.0.2.0/24\", \"2001:db8::1\")";
                   })}),
      option(OPT(smtp, trust_envelope_sender_for_lists), "Believe port 25's MAIL FROM for members-only lists"),
      option(OPT(smtp, spool_threshold_bytes), "Messages larger than this are spooled to a file as they arrive"),
      option(OPT(smtp, max_messages_per_hour), "Messages per account and hour", {at_least(1)}),
      option(OPT(smtp, max_recipients_per_hour), "Recipients per account and hour", {at_least(1)}),
      option(OPT(smtp, app_max_messages_per_hour), "Messages per application account and hour", {at_least(1)}),
      option(OPT(smtp, app_max_recipients_per_hour), "Recipients per application account and hour", {at_least(1)}),
      option(OPT(smtp, relay_routes), "Static routes, \"domain=host:port\" (\"*\" for a smarthost)",
             {each(is_relay_route,
                   [](const std::string& route) {
                     return "'" + route + "' is not domain=ip:port (use * for every domain)";
                   })}),
      option(OPT(smtp, require_tls_domains), "Domains only ever reached over verified TLS"),
      option(OPT(smtp, require_tls_mx), "Require-TLS domains whose mail servers are pinned by name"),
      option(OPT(smtp, retry_schedule_seconds), "Waits between delivery attempts; the last repeats",
             {rule([](const std::vector<int>& v, const Config&) { return !v.empty(); }, "needs at least one wait")}),
      option(OPT(smtp, max_queue_seconds), "Then the sender gets a failure report", {at_least(1)}),
      option(OPT(smtp, delay_notice_seconds), "Then the sender is told the message is delayed"),
      option(OPT(smtp, connect_timeout_seconds), "Seconds to connect to a remote server", {at_least(1)}),
      option(OPT(smtp, outbound_concurrency), "Deliveries in flight at once", {at_least(1)}),
      option(OPT(smtp, outbound_ca_file), "Extra CA certificates (PEM) for remote servers"),
      option(OPT(smtp, dns_servers), "DNS servers for MX lookups (\"ip\" or \"ip:port\"); empty: the system's",
             {each(is_dns_server,
                   [](const std::string& ns) {
                     return "'" + ns + "' is not an IPv4 address with an optional :port";
                   })}),
      option(OPT(smtp, mx_port), "Port of the MX hosts", {within(1, 65535, "must be a port number")}),
      // [directory]
      option(OPT(directory, export_page), "Entries per page of a bulk export",
             {within(1, 10000, "must be 1 to 10000")}),
      option(OPT(directory, synthetic_entries), "Synthetic entries for benchmarks (0: none)",
             {within(0, 5000000, "at most 5000000 (it is for benchmarks)")}),
      option(OPT(directory, synthetic_organisations), "Organisations the synthetic entries spread over",
             {at_least(1)}),
      option(OPT(directory, synthetic_seed), "Seed of the synthetic entries"),
      // [ldap]
      option(OPT(ldap, listen), "LDAP listeners (389: StartTLS)"),
      option(OPT(ldap, tls_listen), "LDAPS listeners (636: implicit TLS)"),
      option(OPT(ldap, base_dn), "The directory's base DN",
             {rule([](const std::string& dn, const Config&) { return !dn.empty() && dn.find('=') != std::string::npos; },
                   "must be a DN such as \"o=caremail\"")}),
      option(OPT(ldap, size_limit), "Entries per search at most", {within(1, 100000, "must be 1 to 100000")}),
      option(OPT(ldap, time_limit_seconds), "Seconds per search at most", {at_least(1)}),
      option(OPT(ldap, allow_plaintext_bind_on_loopback), "Simple bind without TLS from loopback (development, tests)"),
      option(OPT(ldap, idle_timeout_seconds), "Seconds a connection may sit idle", {at_least(1)}),
      option(OPT(ldap, max_anonymous_requests), "Requests before a successful bind",
             {rule([](int v, const Config&) { return v >= 3; }, "must be at least 3 (StartTLS, bind, root DSE)")}),
      option(OPT(ldap, anonymous_timeout_seconds), "Seconds before a successful bind", {at_least(1)}),
      // [imap]
      option(OPT(imap, listen), "IMAP listeners (143: STARTTLS)"),
      option(OPT(imap, tls_listen), "IMAPS listeners (993: implicit TLS)"),
      option(OPT(imap, allow_plaintext_auth_on_loopback), "LOGIN without TLS from loopback (development, tests)"),
      option(OPT(imap, max_errors), "Bad commands before the connection is closed", {at_least(1)}),
      option(OPT(imap, max_auth_failures), "Failed logins per connection", {at_least(1)}),
      option(OPT(imap, idle_timeout_seconds), "Seconds an authenticated connection may sit idle", {at_least(1)}),
      option(OPT(imap, preauth_timeout_seconds), "Seconds between reads before login", {at_least(1)}),
      // LOGIN with a 254-octet address and a long password as literals, or AUTHENTICATE PLAIN.
      option(OPT(imap, max_preauth_command_bytes), "Largest command (with its literals) before login",
             {within(1024, 64 * 1024, "must be 1024 to 65536 (LOGIN needs about 1 KB)")}),
      option(OPT(imap, max_preauth_literal_refusals), "Refused literals before login, then the connection closes",
             {at_least(1)}),
      option(OPT(imap, max_preauth_commands), "Commands before login",
             {rule([](int v, const Config&) { return v >= 5; },
                   "must be at least 5 (CAPABILITY, STARTTLS, ID, LOGIN...)")}),
      option(OPT(imap, max_preauth_seconds), "Seconds from connecting to logging in", {at_least(1)}),
      // [storage]
      option(OPT(storage, backend), "The metadata store: sqlite",
             {rule([](const std::string& b, const Config&) { return b == "sqlite"; },
                   "must be \"sqlite\" (PostgreSQL arrives with the scale-out issue)")}),
      option(OPT(storage, key_file), "The blob key; empty: data_dir/keys/blob.key"),
      option(OPT(storage, encrypt_blobs), "Seal message blobs with the blob key"),
      option(OPT(storage, full_text_index), "Index bodies for IMAP SEARCH BODY/TEXT"),
      option(OPT(storage, group_commit_max_batch), "Writes per commit at most", {at_least(1)}),
      option(OPT(storage, inline_blob_bytes), "Bodies up to this size live in the database (0: none)"),
      // [quota]
      option(OPT(quota, default_mailbox_bytes), "A person's mailbox quota"),
      option(OPT(quota, shared_mailbox_bytes), "A shared mailbox's quota"),
      option(OPT(quota, max_message_bytes), "Largest message",
             {rule([](uint64_t v, const Config&) { return v >= 1024; }, "must be at least 1024")}),
      // [password]
      option(OPT(password, min_length), "Characters at least", {within(8, 128, "must be between 8 and 128")}),
      option(OPT(password, min_length_application), "Characters at least, for application accounts",
             {rule([](int v, const Config& c) { return v >= c.password.min_length && v <= 128; },
                   "must be between password.min_length and 128")}),
      option(OPT(password, history), "The last N passwords may not be used again",
             {within(1, 24, "must be between 1 (only the current password) and 24")}),
      option(OPT(password, expiry_days), "Days a password lasts (0: never expires)",
             {within(0, 3650, "must be between 0 (never) and 3650")}),
      option(OPT(password, reminder_days), "Days before expiry that a reminder is sent",
             {rule(
                 [](const std::vector<int>& days, const Config& c) {
                   for (int d : days)
                     if (c.password.expiry_days && d >= c.password.expiry_days) return false;
                   return true;
                 },
                 "every entry must be fewer days than password.expiry_days")}),
      option(OPT(password, common_lists), "Extra files of common passwords, one a line"),
      option(OPT(password, breached_list), "Sorted SHA-1 list (Pwned Passwords format); \"\" off"),
      option(OPT(password, expiry_check_seconds), "How often the reminder job runs", {at_least(10)}),
      // [lockout]
      option(OPT(lockout, failures), "Failures within window_seconds that lock the account", {at_least(1)}),
      option(OPT(lockout, window_seconds), "The window failures are counted in",
             {rule([](int v, const Config& c) { return v >= 1 && c.lockout.lock_seconds >= 1; },
                   "lockout.window_seconds and lockout.lock_seconds must be at least 1")}),
      option(OPT(lockout, lock_seconds), "How long a locked account stays locked"),
      option(OPT(lockout, ip_failures), "Failures from one address across all accounts that block it",
             {rule([](int v, const Config& c) {
                     return v >= 1 && c.lockout.ip_window_seconds >= 1 && c.lockout.ip_block_seconds >= 1;
                   },
                   "lockout.ip_failures, ip_window_seconds and ip_block_seconds must be at least 1")}),
      option(OPT(lockout, ip_window_seconds), "The window an address's failures are counted in"),
      option(OPT(lockout, ip_block_seconds), "How long a blocked address stays blocked"),
      option(OPT(lockout, unfamiliar_failures), "Failures from unfamiliar networks that lock them out",
             {at_least(1)}),
      option(OPT(lockout, familiar_days), "A network is familiar this long after a successful sign-in",
             {within(0, 3650,
                     "must be between 0 (smart lockout off: every failure counts towards one lock) and 3650")}),
      option(OPT(lockout, familiar_prefix_v4), "The IPv4 network that is familiar",
             {within(8, 32, "must be between 8 and 32")}),
      option(OPT(lockout, familiar_prefix_v6), "The IPv6 network that is familiar",
             {within(16, 128, "must be between 16 and 128")}),
      option(OPT(quota, max_mailbox_bytes), "The largest quota of one mailbox",
             {rule([](uint64_t v, const Config& c) {
                     return v >= c.quota.default_mailbox_bytes && v >= c.quota.shared_mailbox_bytes;
                   },
                   "must be at least the default and shared mailbox quotas")}),
      // [lifecycle]
      option(OPT(lifecycle, inactive_after_days), "Days without a sign-in, then Inactive", {at_least(1)}),
      option(OPT(lifecycle, delete_after_days), "Days without a sign-in, then Deleted",
             {at_least(1), rule([](int v, const Config& c) { return v > c.lifecycle.inactive_after_days; },
                                "must be longer than lifecycle.inactive_after_days")}),
      option(OPT(lifecycle, restore_days), "Days a deleted account can be restored", {at_least(1)}),
      option(OPT(lifecycle, leaver_claim_days), "Days a leaver waits to be claimed, then Deleted", {at_least(1)}),
      option(OPT(lifecycle, disabled_keep_days), "Days a disabled account is kept, then Deleted", {at_least(1)}),
      option(OPT(lifecycle, address_lock_days), "Days a deleted account's addresses are not reused",
             {at_least(1), rule([](int v, const Config& c) { return v >= c.lifecycle.restore_days; },
                                "must be at least lifecycle.restore_days")}),
      option(OPT(lifecycle, check_seconds), "How often the life-cycle job runs", {at_least(1)}),
      // [mfa]
      option(OPT(mfa, required_for_administrators), "Every administrator must use a second factor"),
      option(OPT(mfa, required_for_everyone), "Everyone must use a second factor"),
      option(OPT(mfa, issuer), "The name authenticator apps show",
             {rule([](const std::string& s, const Config&) { return !s.empty() && s.size() <= 60; },
                   "must be 1 to 60 characters")}),
      option(OPT(mfa, session_idle_seconds), "A web/API session ends after this long unused",
             {rule([](int v, const Config& c) {
                     return v >= 60 && c.mfa.public_session_idle_seconds >= 60 && c.mfa.public_session_idle_seconds <= v;
                   },
                   "session_idle_seconds and public_session_idle_seconds must be at least 60, the public one no longer")}),
      option(OPT(mfa, public_session_idle_seconds), "The same, signed in on a public computer"),
      option(OPT(mfa, session_max_seconds), "A session ends after this long in any case",
             {rule([](int v, const Config& c) { return v >= c.mfa.session_idle_seconds; },
                   "must be at least mfa.session_idle_seconds")}),
      // [api]
      option(OPT(api, token_seconds), "A person's API token lasts this long",
             {within(1, 3650LL * 86400, kTokensEnd)}),
      option(OPT(api, application_token_seconds), "An application account's API token lasts this long",
             {within(1, 3650LL * 86400, kTokensEnd)}),
      option(OPT(api, operator_token_seconds), "caremailctl's token (data_dir/admin.token) lasts this long",
             {within(1, 3650LL * 86400, kTokensEnd)}),
      // [testing]: faults for the integration tests, never in a production file.
      option(OPT(testing, fail_local_delivery), "Every local delivery fails (a test fault)",
             {rule([](bool on, const Config&) {
                     const char* hooks = std::getenv("CAREMAIL_TEST_HOOKS");
                     return !on || (hooks != nullptr && std::string_view(hooks) == "1");
                   },
                   "injects faults for the test suite and is refused in production: remove the [testing] section")},
             /*in_example=*/false),
  };
  return kOptions;
}

#undef OPT

const Option* find_option(std::string_view name) {
  for (const auto& o : options())
    if (o.name == name) return &o;
  return nullptr;
}

}  // namespace

std::vector<ConfigOption> config_options() {
  std::vector<ConfigOption> out;
  for (const auto& o : options()) out.push_back({o.name, o.help, o.in_example});
  return out;
}

std::optional<std::string> config_value(const Config& c, std::string_view name) {
  const Option* o = find_option(name);
  if (!o) return std::nullopt;
  return o->show(c);
}

Result<Config> parse_config(std::string_view text, std::string_view origin) {
  Config c;
  toml::table root;
  try {
    root = toml::parse(text, origin);
  } catch (const toml::parse_error& e) {
    std::ostringstream m;
    m << origin << ":" << e.source().begin.line << ":" << e.source().begin.column
      << ": not valid TOML: " << e.description();
    return make_error(Errc::invalid_argument, m.str());
  }
  // Types first (every option present), then names nobody defines (typos), then values.
  for (const auto& o : options()) {
    const toml::node* n = root.at_path(o.name).node();
    if (!n) continue;
    if (Why w = o.read(*n, c)) return bad(origin, o.name, *w);
  }
  for (const auto& [sk, sv] : root) {
    std::string section(sk.str());
    const toml::table* t = sv.as_table();
    if (!t) return bad(origin, section, "unknown top-level option; options live in sections such as [server]");
    for (const auto& [k, v] : *t) {
      std::string full = section + "." + std::string(k.str());
      if (!find_option(full)) return bad(origin, full, "unknown option; see config/caremail.example.toml for every option");
    }
  }
  for (const auto& o : options())
    if (Why w = o.check(c)) return bad(origin, o.name, *w);
  return c;
}

Result<Config> load_config(const std::filesystem::path& file) {
  if (file.empty()) return Config{};
  std::ifstream in(file, std::ios::binary);
  if (!in)
    return make_error(Errc::invalid_argument,
                      file.string() + ": cannot read the configuration file; check the path given to --config");
  std::stringstream ss;
  ss << in.rdbuf();
  auto r = parse_config(ss.str(), file.string());
  if (!r) return r;
  Config c = std::move(r).value();
  // Relative paths are relative to the directory the daemon starts in, made absolute
  // now so that a later chdir cannot change their meaning.
  c.server.data_dir = std::filesystem::absolute(c.server.data_dir);
  return c;
}

std::filesystem::path Config::key_file() const {
  return storage.key_file.empty() ? server.data_dir / "keys" / "blob.key" : storage.key_file;
}

}  // namespace caremail

#include "common/config.hpp"

#include "common/cidr.hpp"

#include <arpa/inet.h>
#include <cstdlib>

#include <fstream>
#include <limits>
#include <set>
#include <sstream>

#include <toml++/toml.h>

namespace caremail {

namespace {

Error bad(std::string_view origin, std::string_view key, std::string_view why) {
  std::string m;
  m.append(origin).append(": option '").append(key).append("': ").append(why);
  return make_error(Errc::invalid_argument, std::move(m));
}

// Walks a table, consuming known keys; anything left over is an error (catches typos).
class Reader {
 public:
  Reader(const toml::table& root, std::string_view origin) : root_(root), origin_(origin) {}

  template <class T>
  Status get(std::string_view section, std::string_view key, T& out) {
    std::string full = std::string(section) + "." + std::string(key);
    seen_.insert(full);
    const toml::node* n = root_.at_path(full).node();
    if (!n) return {};
    if constexpr (std::is_same_v<T, std::string>) {
      if (auto v = n->value<std::string>()) { out = *v; return {}; }
      return bad(origin_, full, "must be a string, e.g. " + full + " = \"...\"");
    } else if constexpr (std::is_same_v<T, std::filesystem::path>) {
      if (auto v = n->value<std::string>()) { out = *v; return {}; }
      return bad(origin_, full, "must be a path in quotes");
    } else if constexpr (std::is_same_v<T, bool>) {
      if (auto v = n->value<bool>()) { out = *v; return {}; }
      return bad(origin_, full, "must be true or false");
    } else if constexpr (std::is_integral_v<T>) {
      if (auto v = n->value<int64_t>()) {
        if (*v < 0) return bad(origin_, full, "must not be negative");
        // Without this, 4294967346 narrowed to int silently became 50 (found by config_test).
        if (static_cast<uint64_t>(*v) > static_cast<uint64_t>(std::numeric_limits<T>::max()))
          return bad(origin_, full, "is too large (at most " + std::to_string(std::numeric_limits<T>::max()) + ")");
        out = static_cast<T>(*v);
        return {};
      }
      return bad(origin_, full, "must be a whole number");
    } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
      const toml::array* arr = n->as_array();
      if (!arr) return bad(origin_, full, "must be a list of strings");
      std::vector<std::string> v;
      for (const auto& el : *arr) {
        auto x = el.value<std::string>();
        if (!x) return bad(origin_, full, "every entry must be a string");
        v.push_back(*x);
      }
      out = std::move(v);
      return {};
    } else if constexpr (std::is_same_v<T, std::vector<int>>) {
      const toml::array* arr = n->as_array();
      if (!arr) return bad(origin_, full, "must be a list of whole numbers");
      std::vector<int> v;
      for (const auto& el : *arr) {
        auto x = el.value<int64_t>();
        if (!x || *x < 1 || *x > 86400 * 30) return bad(origin_, full, "every entry must be a whole number of seconds (1 to 2592000)");
        v.push_back(static_cast<int>(*x));
      }
      out = std::move(v);
      return {};
    } else if constexpr (std::is_same_v<T, std::vector<Endpoint>>) {
      const toml::array* arr = n->as_array();
      if (!arr) return bad(origin_, full, "must be a list such as [\"127.0.0.1:8080\"]");
      std::vector<Endpoint> eps;
      for (const auto& el : *arr) {
        auto s = el.value<std::string>();
        if (!s) return bad(origin_, full, "every entry must be a string \"host:port\"");
        auto ep = parse_endpoint(*s);
        if (!ep) return bad(origin_, full, ep.error().message);
        eps.push_back(*ep);
      }
      out = std::move(eps);
      return {};
    }
    return {};
  }

  Status check_unknown() const {
    for (const auto& [sk, sv] : root_) {
      std::string section(sk.str());
      const toml::table* t = sv.as_table();
      if (!t) return bad(origin_, section, "unknown top-level option; options live in sections such as [server]");
      for (const auto& [k, v] : *t) {
        std::string full = section + "." + std::string(k.str());
        if (!seen_.count(full))
          return bad(origin_, full, "unknown option; see config/caremail.example.toml for every option");
      }
    }
    return {};
  }

 private:
  const toml::table& root_;
  std::string_view origin_;
  std::set<std::string> seen_;
};

#define CM_TRY(expr) \
  do {               \
    Status s_ = (expr); \
    if (!s_) return s_.error(); \
  } while (0)

}  // namespace

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
  Reader r(root, origin);
  CM_TRY(r.get("server", "data_dir", c.server.data_dir));
  CM_TRY(r.get("server", "hostname", c.server.hostname));
  CM_TRY(r.get("server", "user", c.server.user));
  CM_TRY(r.get("server", "shutdown_grace_seconds", c.server.shutdown_grace_seconds));
  CM_TRY(r.get("server", "worker_threads", c.server.worker_threads));
  CM_TRY(r.get("server", "password_check_threads", c.server.password_check_threads));
  CM_TRY(r.get("server", "password_check_queue", c.server.password_check_queue));
  CM_TRY(r.get("server", "password_cache_seconds", c.server.password_cache_seconds));
  CM_TRY(r.get("national", "domain", c.national.domain));
  CM_TRY(r.get("national", "ods_code", c.national.ods_code));
  CM_TRY(r.get("national", "name", c.national.name));
  CM_TRY(r.get("log", "level", c.log.level));
  CM_TRY(r.get("log", "format", c.log.format));
  CM_TRY(r.get("tls", "cert_file", c.tls.cert_file));
  CM_TRY(r.get("tls", "key_file", c.tls.key_file));
  CM_TRY(r.get("tls", "min_version", c.tls.min_version));
  CM_TRY(r.get("limits", "max_connections", c.limits.max_connections));
  CM_TRY(r.get("limits", "max_connections_smtp", c.limits.max_connections_smtp));
  CM_TRY(r.get("limits", "max_connections_imap", c.limits.max_connections_imap));
  CM_TRY(r.get("limits", "max_connections_ldap", c.limits.max_connections_ldap));
  CM_TRY(r.get("limits", "max_connections_http", c.limits.max_connections_http));
  CM_TRY(r.get("limits", "max_connections_per_ip", c.limits.max_connections_per_ip));
  CM_TRY(r.get("limits", "ipv4_prefix_length", c.limits.ipv4_prefix_length));
  CM_TRY(r.get("limits", "ipv6_prefix_length", c.limits.ipv6_prefix_length));
  CM_TRY(r.get("limits", "idle_timeout_seconds", c.limits.idle_timeout_seconds));
  CM_TRY(r.get("limits", "command_timeout_seconds", c.limits.command_timeout_seconds));
  CM_TRY(r.get("limits", "max_http_body_bytes", c.limits.max_http_body_bytes));
  CM_TRY(r.get("limits", "max_http_unauthenticated_body_bytes", c.limits.max_http_unauthenticated_body_bytes));
  CM_TRY(r.get("limits", "max_http_json_body_bytes", c.limits.max_http_json_body_bytes));
  CM_TRY(r.get("http", "listen", c.http.listen));
  CM_TRY(r.get("http", "tls_listen", c.http.tls_listen));
  CM_TRY(r.get("smtp", "mx_listen", c.smtp.mx_listen));
  CM_TRY(r.get("smtp", "submission_listen", c.smtp.submission_listen));
  CM_TRY(r.get("smtp", "submissions_listen", c.smtp.submissions_listen));
  CM_TRY(r.get("smtp", "max_recipients", c.smtp.max_recipients));
  CM_TRY(r.get("smtp", "max_errors", c.smtp.max_errors));
  CM_TRY(r.get("smtp", "max_auth_failures", c.smtp.max_auth_failures));
  CM_TRY(r.get("smtp", "max_commands", c.smtp.max_commands));
  CM_TRY(r.get("smtp", "max_commands_before_mail", c.smtp.max_commands_before_mail));
  CM_TRY(r.get("smtp", "preauth_timeout_seconds", c.smtp.preauth_timeout_seconds));
  CM_TRY(r.get("smtp", "data_timeout_seconds", c.smtp.data_timeout_seconds));
  CM_TRY(r.get("smtp", "allow_plaintext_auth_on_loopback", c.smtp.allow_plaintext_auth_on_loopback));
  CM_TRY(r.get("smtp", "trusted_relays", c.smtp.trusted_relays));
  CM_TRY(r.get("smtp", "trust_envelope_sender_for_lists", c.smtp.trust_envelope_sender_for_lists));
  CM_TRY(r.get("smtp", "spool_threshold_bytes", c.smtp.spool_threshold_bytes));
  CM_TRY(r.get("smtp", "max_messages_per_hour", c.smtp.max_messages_per_hour));
  CM_TRY(r.get("smtp", "max_recipients_per_hour", c.smtp.max_recipients_per_hour));
  CM_TRY(r.get("smtp", "app_max_messages_per_hour", c.smtp.app_max_messages_per_hour));
  CM_TRY(r.get("smtp", "app_max_recipients_per_hour", c.smtp.app_max_recipients_per_hour));
  CM_TRY(r.get("smtp", "relay_routes", c.smtp.relay_routes));
  CM_TRY(r.get("smtp", "require_tls_domains", c.smtp.require_tls_domains));
  std::vector<std::string> mx_pins;
  CM_TRY(r.get("smtp", "require_tls_mx", mx_pins));
  CM_TRY(r.get("smtp", "retry_schedule_seconds", c.smtp.retry_schedule_seconds));
  CM_TRY(r.get("smtp", "max_queue_seconds", c.smtp.max_queue_seconds));
  CM_TRY(r.get("smtp", "delay_notice_seconds", c.smtp.delay_notice_seconds));
  CM_TRY(r.get("smtp", "connect_timeout_seconds", c.smtp.connect_timeout_seconds));
  CM_TRY(r.get("smtp", "outbound_concurrency", c.smtp.outbound_concurrency));
  CM_TRY(r.get("smtp", "outbound_ca_file", c.smtp.outbound_ca_file));
  CM_TRY(r.get("smtp", "dns_servers", c.smtp.dns_servers));
  CM_TRY(r.get("smtp", "mx_port", c.smtp.mx_port));
  CM_TRY(r.get("directory", "export_page", c.directory.export_page));
  CM_TRY(r.get("directory", "synthetic_entries", c.directory.synthetic_entries));
  CM_TRY(r.get("directory", "synthetic_organisations", c.directory.synthetic_organisations));
  CM_TRY(r.get("directory", "synthetic_seed", c.directory.synthetic_seed));
  CM_TRY(r.get("ldap", "listen", c.ldap.listen));
  CM_TRY(r.get("ldap", "tls_listen", c.ldap.tls_listen));
  CM_TRY(r.get("ldap", "base_dn", c.ldap.base_dn));
  CM_TRY(r.get("ldap", "size_limit", c.ldap.size_limit));
  CM_TRY(r.get("ldap", "time_limit_seconds", c.ldap.time_limit_seconds));
  CM_TRY(r.get("ldap", "allow_plaintext_bind_on_loopback", c.ldap.allow_plaintext_bind_on_loopback));
  CM_TRY(r.get("ldap", "idle_timeout_seconds", c.ldap.idle_timeout_seconds));
  CM_TRY(r.get("ldap", "max_anonymous_requests", c.ldap.max_anonymous_requests));
  CM_TRY(r.get("ldap", "anonymous_timeout_seconds", c.ldap.anonymous_timeout_seconds));
  CM_TRY(r.get("imap", "listen", c.imap.listen));
  CM_TRY(r.get("imap", "tls_listen", c.imap.tls_listen));
  CM_TRY(r.get("imap", "allow_plaintext_auth_on_loopback", c.imap.allow_plaintext_auth_on_loopback));
  CM_TRY(r.get("imap", "max_errors", c.imap.max_errors));
  CM_TRY(r.get("imap", "max_auth_failures", c.imap.max_auth_failures));
  CM_TRY(r.get("imap", "idle_timeout_seconds", c.imap.idle_timeout_seconds));
  CM_TRY(r.get("imap", "preauth_timeout_seconds", c.imap.preauth_timeout_seconds));
  CM_TRY(r.get("imap", "max_preauth_command_bytes", c.imap.max_preauth_command_bytes));
  CM_TRY(r.get("imap", "max_preauth_literal_refusals", c.imap.max_preauth_literal_refusals));
  CM_TRY(r.get("imap", "max_preauth_commands", c.imap.max_preauth_commands));
  CM_TRY(r.get("imap", "max_preauth_seconds", c.imap.max_preauth_seconds));
  CM_TRY(r.get("storage", "backend", c.storage.backend));
  CM_TRY(r.get("storage", "key_file", c.storage.key_file));
  CM_TRY(r.get("storage", "encrypt_blobs", c.storage.encrypt_blobs));
  CM_TRY(r.get("storage", "full_text_index", c.storage.full_text_index));
  CM_TRY(r.get("storage", "group_commit_max_batch", c.storage.group_commit_max_batch));
  CM_TRY(r.get("storage", "inline_blob_bytes", c.storage.inline_blob_bytes));
  CM_TRY(r.get("quota", "default_mailbox_bytes", c.quota.default_mailbox_bytes));
  CM_TRY(r.get("quota", "shared_mailbox_bytes", c.quota.shared_mailbox_bytes));
  CM_TRY(r.get("quota", "max_message_bytes", c.quota.max_message_bytes));
  CM_TRY(r.get("password", "min_length", c.password.min_length));
  CM_TRY(r.get("password", "min_length_application", c.password.min_length_application));
  CM_TRY(r.get("password", "history", c.password.history));
  CM_TRY(r.get("password", "expiry_days", c.password.expiry_days));
  CM_TRY(r.get("password", "reminder_days", c.password.reminder_days));
  CM_TRY(r.get("password", "common_lists", c.password.common_lists));
  CM_TRY(r.get("password", "breached_list", c.password.breached_list));
  CM_TRY(r.get("password", "expiry_check_seconds", c.password.expiry_check_seconds));
  CM_TRY(r.get("lockout", "failures", c.lockout.failures));
  CM_TRY(r.get("lockout", "window_seconds", c.lockout.window_seconds));
  CM_TRY(r.get("lockout", "lock_seconds", c.lockout.lock_seconds));
  CM_TRY(r.get("lockout", "ip_failures", c.lockout.ip_failures));
  CM_TRY(r.get("lockout", "ip_window_seconds", c.lockout.ip_window_seconds));
  CM_TRY(r.get("lockout", "ip_block_seconds", c.lockout.ip_block_seconds));
  CM_TRY(r.get("lockout", "unfamiliar_failures", c.lockout.unfamiliar_failures));
  CM_TRY(r.get("lockout", "familiar_days", c.lockout.familiar_days));
  CM_TRY(r.get("lockout", "familiar_prefix_v4", c.lockout.familiar_prefix_v4));
  CM_TRY(r.get("lockout", "familiar_prefix_v6", c.lockout.familiar_prefix_v6));
  CM_TRY(r.get("quota", "max_mailbox_bytes", c.quota.max_mailbox_bytes));
  CM_TRY(r.get("lifecycle", "inactive_after_days", c.lifecycle.inactive_after_days));
  CM_TRY(r.get("lifecycle", "delete_after_days", c.lifecycle.delete_after_days));
  CM_TRY(r.get("lifecycle", "restore_days", c.lifecycle.restore_days));
  CM_TRY(r.get("lifecycle", "leaver_claim_days", c.lifecycle.leaver_claim_days));
  CM_TRY(r.get("lifecycle", "disabled_keep_days", c.lifecycle.disabled_keep_days));
  CM_TRY(r.get("lifecycle", "address_lock_days", c.lifecycle.address_lock_days));
  CM_TRY(r.get("lifecycle", "check_seconds", c.lifecycle.check_seconds));
  CM_TRY(r.get("mfa", "required_for_administrators", c.mfa.required_for_administrators));
  CM_TRY(r.get("mfa", "required_for_everyone", c.mfa.required_for_everyone));
  CM_TRY(r.get("mfa", "issuer", c.mfa.issuer));
  CM_TRY(r.get("mfa", "session_idle_seconds", c.mfa.session_idle_seconds));
  CM_TRY(r.get("mfa", "public_session_idle_seconds", c.mfa.public_session_idle_seconds));
  CM_TRY(r.get("mfa", "session_max_seconds", c.mfa.session_max_seconds));
  CM_TRY(r.get("api", "token_seconds", c.api.token_seconds));
  CM_TRY(r.get("api", "application_token_seconds", c.api.application_token_seconds));
  CM_TRY(r.get("api", "operator_token_seconds", c.api.operator_token_seconds));
  CM_TRY(r.get("testing", "fail_local_delivery", c.testing.fail_local_delivery));
  CM_TRY(r.check_unknown());
  if (c.testing.fail_local_delivery) {
    const char* hooks = std::getenv("CAREMAIL_TEST_HOOKS");
    if (hooks == nullptr || std::string_view(hooks) != "1")
      return bad(origin, "testing.fail_local_delivery",
                 "injects faults for the test suite and is refused in production: remove the [testing] section");
  }

  // Semantic checks: each names the option and the fix.
  if (c.server.data_dir.empty()) return bad(origin, "server.data_dir", "must not be empty");
  if (c.server.password_check_threads < 1 || c.server.password_check_threads > 64)
    return bad(origin, "server.password_check_threads", "must be between 1 and 64");
  if (c.server.password_check_queue < 0 || c.server.password_check_queue > 100000)
    return bad(origin, "server.password_check_queue", "must be between 0 and 100000");
  if (c.password.min_length < 8 || c.password.min_length > 128)
    return bad(origin, "password.min_length", "must be between 8 and 128");
  if (c.password.min_length_application < c.password.min_length || c.password.min_length_application > 128)
    return bad(origin, "password.min_length_application", "must be between password.min_length and 128");
  if (c.password.history < 1 || c.password.history > 24)
    return bad(origin, "password.history", "must be between 1 (only the current password) and 24");
  if (c.password.expiry_days > 3650) return bad(origin, "password.expiry_days", "must be between 0 (never) and 3650");
  for (int d : c.password.reminder_days)
    if (c.password.expiry_days && d >= c.password.expiry_days)
      return bad(origin, "password.reminder_days", "every entry must be fewer days than password.expiry_days");
  if (c.password.expiry_check_seconds < 10)
    return bad(origin, "password.expiry_check_seconds", "must be at least 10");
  if (c.mfa.issuer.empty() || c.mfa.issuer.size() > 60) return bad(origin, "mfa.issuer", "must be 1 to 60 characters");
  if (c.mfa.session_idle_seconds < 60 || c.mfa.public_session_idle_seconds < 60 ||
      c.mfa.public_session_idle_seconds > c.mfa.session_idle_seconds)
    return bad(origin, "mfa.session_idle_seconds",
               "session_idle_seconds and public_session_idle_seconds must be at least 60, the public one no longer");
  if (c.mfa.session_max_seconds < c.mfa.session_idle_seconds)
    return bad(origin, "mfa.session_max_seconds", "must be at least mfa.session_idle_seconds");
  for (auto [name, v] : {std::pair<const char*, int64_t>{"api.token_seconds", c.api.token_seconds},
                         {"api.application_token_seconds", c.api.application_token_seconds},
                         {"api.operator_token_seconds", c.api.operator_token_seconds}})
    if (v < 1 || v > 3650LL * 86400)
      return bad(origin, name, "must be between 1 second and 3650 days (315360000); tokens must end");
  if (c.lockout.failures < 1) return bad(origin, "lockout.failures", "must be at least 1");
  if (c.lockout.unfamiliar_failures < 1) return bad(origin, "lockout.unfamiliar_failures", "must be at least 1");
  if (c.lockout.familiar_days < 0 || c.lockout.familiar_days > 3650)
    return bad(origin, "lockout.familiar_days", "must be between 0 (smart lockout off: every failure counts towards one lock) and 3650");
  if (c.lockout.familiar_prefix_v4 < 8 || c.lockout.familiar_prefix_v4 > 32)
    return bad(origin, "lockout.familiar_prefix_v4", "must be between 8 and 32");
  if (c.lockout.familiar_prefix_v6 < 16 || c.lockout.familiar_prefix_v6 > 128)
    return bad(origin, "lockout.familiar_prefix_v6", "must be between 16 and 128");
  if (c.directory.export_page < 1 || c.directory.export_page > 10000)
    return bad(origin, "directory.export_page", "must be 1 to 10000");
  if (c.directory.synthetic_entries > 5000000)
    return bad(origin, "directory.synthetic_entries", "at most 5000000 (it is for benchmarks)");
  if (c.directory.synthetic_organisations < 1) return bad(origin, "directory.synthetic_organisations", "must be at least 1");
  if (c.ldap.size_limit < 1 || c.ldap.size_limit > 100000) return bad(origin, "ldap.size_limit", "must be 1 to 100000");
  if (c.ldap.time_limit_seconds < 1) return bad(origin, "ldap.time_limit_seconds", "must be at least 1");
  if (c.ldap.idle_timeout_seconds < 1) return bad(origin, "ldap.idle_timeout_seconds", "must be at least 1");
  if (c.ldap.base_dn.empty() || c.ldap.base_dn.find('=') == std::string::npos)
    return bad(origin, "ldap.base_dn", "must be a DN such as \"o=caremail\"");
  {
    const auto& l = c.lifecycle;
    for (auto [name, v] : {std::pair{"lifecycle.inactive_after_days", l.inactive_after_days},
                           {"lifecycle.delete_after_days", l.delete_after_days},
                           {"lifecycle.restore_days", l.restore_days},
                           {"lifecycle.leaver_claim_days", l.leaver_claim_days},
                           {"lifecycle.disabled_keep_days", l.disabled_keep_days},
                           {"lifecycle.address_lock_days", l.address_lock_days},
                           {"lifecycle.check_seconds", l.check_seconds}})
      if (v < 1) return bad(origin, name, "must be at least 1");
    if (l.delete_after_days <= l.inactive_after_days)
      return bad(origin, "lifecycle.delete_after_days", "must be longer than lifecycle.inactive_after_days");
    if (l.address_lock_days < l.restore_days)
      return bad(origin, "lifecycle.address_lock_days", "must be at least lifecycle.restore_days");
  }
  if (c.quota.max_mailbox_bytes < c.quota.default_mailbox_bytes || c.quota.max_mailbox_bytes < c.quota.shared_mailbox_bytes)
    return bad(origin, "quota.max_mailbox_bytes", "must be at least the default and shared mailbox quotas");
  if (c.lockout.window_seconds < 1 || c.lockout.lock_seconds < 1)
    return bad(origin, "lockout.window_seconds", "lockout.window_seconds and lockout.lock_seconds must be at least 1");
  if (c.lockout.ip_failures < 1 || c.lockout.ip_window_seconds < 1 || c.lockout.ip_block_seconds < 1)
    return bad(origin, "lockout.ip_failures", "lockout.ip_failures, ip_window_seconds and ip_block_seconds must be at least 1");
  if (c.server.password_cache_seconds < 0 || c.server.password_cache_seconds > 86400)
    return bad(origin, "server.password_cache_seconds", "must be between 0 (off) and 86400");
  if (c.server.worker_threads < 1 || c.server.worker_threads > 256)
    return bad(origin, "server.worker_threads", "must be between 1 and 256");
  if (c.national.domain.empty() || c.national.domain.find('.') == std::string::npos)
    return bad(origin, "national.domain", "must be a domain name such as \"care.example\"");
  if (c.national.ods_code.empty()) return bad(origin, "national.ods_code", "must not be empty");
  static const std::set<std::string> levels{"trace", "debug", "info", "warn", "error"};
  if (!levels.count(c.log.level)) return bad(origin, "log.level", "must be one of trace, debug, info, warn, error");
  if (c.log.format != "logfmt" && c.log.format != "json")
    return bad(origin, "log.format", "must be \"logfmt\" or \"json\"");
  if (c.tls.min_version != "1.2" && c.tls.min_version != "1.3")
    return bad(origin, "tls.min_version", "must be \"1.2\" or \"1.3\" (older versions are not offered)");
  if (c.tls.cert_file.empty() != c.tls.key_file.empty())
    return bad(origin, "tls.cert_file", "set both tls.cert_file and tls.key_file, or neither (self-signed)");
  if (c.limits.max_connections < 1) return bad(origin, "limits.max_connections", "must be at least 1");
  for (auto [v, name] : {std::pair{c.limits.max_connections_smtp, "limits.max_connections_smtp"},
                         std::pair{c.limits.max_connections_imap, "limits.max_connections_imap"},
                         std::pair{c.limits.max_connections_ldap, "limits.max_connections_ldap"},
                         std::pair{c.limits.max_connections_http, "limits.max_connections_http"}})
    if (v < 1) return bad(origin, name, "must be at least 1");
  if (c.limits.max_connections_per_ip < 1) return bad(origin, "limits.max_connections_per_ip", "must be at least 1");
  if (c.limits.ipv4_prefix_length < 1 || c.limits.ipv4_prefix_length > 32)
    return bad(origin, "limits.ipv4_prefix_length", "must be 1 to 32 (32: each address counts alone)");
  if (c.limits.ipv6_prefix_length < 1 || c.limits.ipv6_prefix_length > 128)
    return bad(origin, "limits.ipv6_prefix_length", "must be 1 to 128 (64: each /64, one host's usual share)");
  if (c.limits.idle_timeout_seconds < 1) return bad(origin, "limits.idle_timeout_seconds", "must be at least 1");
  if (c.limits.command_timeout_seconds < 1) return bad(origin, "limits.command_timeout_seconds", "must be at least 1");
  if (c.smtp.max_recipients < 1) return bad(origin, "smtp.max_recipients", "must be at least 1");
  if (c.smtp.max_errors < 1) return bad(origin, "smtp.max_errors", "must be at least 1");
  if (c.smtp.max_auth_failures < 1) return bad(origin, "smtp.max_auth_failures", "must be at least 1");
  if (c.smtp.max_commands < 10) return bad(origin, "smtp.max_commands", "must be at least 10");
  if (c.smtp.data_timeout_seconds < 1) return bad(origin, "smtp.data_timeout_seconds", "must be at least 1");
  if (c.smtp.max_commands_before_mail < 5)
    return bad(origin, "smtp.max_commands_before_mail", "must be at least 5 (EHLO, STARTTLS, EHLO, AUTH, MAIL)");
  if (c.smtp.preauth_timeout_seconds < 1) return bad(origin, "smtp.preauth_timeout_seconds", "must be at least 1");
  if (c.ldap.max_anonymous_requests < 3)
    return bad(origin, "ldap.max_anonymous_requests", "must be at least 3 (StartTLS, bind, root DSE)");
  if (c.ldap.anonymous_timeout_seconds < 1) return bad(origin, "ldap.anonymous_timeout_seconds", "must be at least 1");
  for (const auto& net : c.smtp.trusted_relays)
    if (!valid_network(net))
      return bad(origin, "smtp.trusted_relays", "'" + net + "' is not an IP network (\"192.0.2.0/24\", \"2001:db8::1\")");
  for (const auto& route : c.smtp.relay_routes) {
    auto eq = route.find('=');
    if (eq == std::string::npos || eq == 0 || !parse_endpoint(route.substr(eq + 1)))
      return bad(origin, "smtp.relay_routes", "'" + route + "' is not domain=ip:port (use * for every domain)");
  }
  for (const auto& pin : mx_pins) {
    auto p = parse_mx_pin(pin);
    if (!p)
      return bad(origin, "smtp.require_tls_mx",
                 "'" + pin + "' is not domain=host[,host...] (a host is a name, *.name for one label, or an IP "
                 "address), e.g. \"partner.example=mx1.partner.example,mx2.partner.example\"");
    for (const auto& other : c.smtp.require_tls_mx)
      if (other.domain == p->domain)
        return bad(origin, "smtp.require_tls_mx", "'" + p->domain + "' is pinned twice; list all its hosts in one entry");
    c.smtp.require_tls_mx.push_back(std::move(*p));
  }
  for (auto [v, name] : {std::pair{c.smtp.max_messages_per_hour, "smtp.max_messages_per_hour"},
                         std::pair{c.smtp.max_recipients_per_hour, "smtp.max_recipients_per_hour"},
                         std::pair{c.smtp.app_max_messages_per_hour, "smtp.app_max_messages_per_hour"},
                         std::pair{c.smtp.app_max_recipients_per_hour, "smtp.app_max_recipients_per_hour"}})
    if (v < 1) return bad(origin, name, "must be at least 1");
  if (c.smtp.retry_schedule_seconds.empty())
    return bad(origin, "smtp.retry_schedule_seconds", "needs at least one wait");
  if (c.smtp.max_queue_seconds < 1) return bad(origin, "smtp.max_queue_seconds", "must be at least 1");
  if (c.smtp.outbound_concurrency < 1) return bad(origin, "smtp.outbound_concurrency", "must be at least 1");
  if (c.smtp.mx_port < 1 || c.smtp.mx_port > 65535) return bad(origin, "smtp.mx_port", "must be a port number");
  for (const auto& ns : c.smtp.dns_servers)
    if (!parse_endpoint(ns.find(':') == std::string::npos ? ns + ":53" : ns))
      return bad(origin, "smtp.dns_servers", "'" + ns + "' is not an IPv4 address with an optional :port");
  if (c.imap.max_errors < 1) return bad(origin, "imap.max_errors", "must be at least 1");
  if (c.imap.max_auth_failures < 1) return bad(origin, "imap.max_auth_failures", "must be at least 1");
  if (c.imap.idle_timeout_seconds < 1) return bad(origin, "imap.idle_timeout_seconds", "must be at least 1");
  if (c.imap.preauth_timeout_seconds < 1) return bad(origin, "imap.preauth_timeout_seconds", "must be at least 1");
  // LOGIN with a 254-octet address and a long password as literals, or AUTHENTICATE PLAIN.
  if (c.imap.max_preauth_command_bytes < 1024 || c.imap.max_preauth_command_bytes > 64 * 1024)
    return bad(origin, "imap.max_preauth_command_bytes", "must be 1024 to 65536 (LOGIN needs about 1 KB)");
  if (c.imap.max_preauth_literal_refusals < 1)
    return bad(origin, "imap.max_preauth_literal_refusals", "must be at least 1");
  if (c.imap.max_preauth_commands < 5)
    return bad(origin, "imap.max_preauth_commands", "must be at least 5 (CAPABILITY, STARTTLS, ID, LOGIN...)");
  if (c.imap.max_preauth_seconds < 1) return bad(origin, "imap.max_preauth_seconds", "must be at least 1");
  if (c.limits.max_http_unauthenticated_body_bytes < 1024)
    return bad(origin, "limits.max_http_unauthenticated_body_bytes", "must be at least 1024 (sign-in needs about 1 KB)");
  if (c.limits.max_http_json_body_bytes < c.limits.max_http_unauthenticated_body_bytes)
    return bad(origin, "limits.max_http_json_body_bytes", "must be at least limits.max_http_unauthenticated_body_bytes");
  if (c.smtp.connect_timeout_seconds < 1) return bad(origin, "smtp.connect_timeout_seconds", "must be at least 1");
  if (c.storage.backend != "sqlite")
    return bad(origin, "storage.backend", "must be \"sqlite\" (PostgreSQL arrives with the scale-out issue)");
  if (c.storage.group_commit_max_batch < 1) return bad(origin, "storage.group_commit_max_batch", "must be at least 1");
  if (c.quota.max_message_bytes < 1024) return bad(origin, "quota.max_message_bytes", "must be at least 1024");
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

// Tests for parse_config / load_config / parse_endpoint: the defaults, every option read
// back, then a table of wrong configurations, each of which must be refused with a message
// that names the option (STYLE.md: "one clear fatal message naming the option"); and the
// example file against the table of options, both ways.
#include "common/config.hpp"

#include <gtest/gtest.h>

#include "temp_dir.hpp"

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include <toml++/toml.h>

namespace caremail {
namespace {

namespace fs = std::filesystem;

TEST(ParseConfig, EmptyTextGivesTheDocumentedDefaults) {
  auto r = parse_config("", "t.toml");
  ASSERT_TRUE(r.ok()) << r.error().message;
  const Config& c = *r;
  EXPECT_EQ(c.server.data_dir, fs::path("var"));
  EXPECT_EQ(c.server.hostname, "localhost");
  // A user of its own, not "nobody" (shared with other daemons).
  EXPECT_EQ(c.server.user, "caremail");
  EXPECT_TRUE(c.smtp.require_tls_mx.empty());
  EXPECT_EQ(c.server.shutdown_grace_seconds, 10);
  EXPECT_EQ(c.server.worker_threads, 12);
  EXPECT_EQ(c.national.domain, "care.example");
  EXPECT_EQ(c.national.ods_code, "X26");
  EXPECT_EQ(c.national.name, "Caremail national service");
  EXPECT_EQ(c.log.level, "info");
  EXPECT_EQ(c.log.format, "logfmt");
  EXPECT_TRUE(c.tls.cert_file.empty());
  EXPECT_TRUE(c.tls.key_file.empty());
  EXPECT_EQ(c.tls.min_version, "1.2");
  EXPECT_EQ(c.limits.max_connections, 20000);
  EXPECT_EQ(c.limits.max_connections_per_ip, 50);
  EXPECT_EQ(c.limits.max_connections_smtp, 2000);
  EXPECT_EQ(c.limits.max_connections_imap, 16000);
  EXPECT_EQ(c.limits.max_connections_ldap, 2000);
  EXPECT_EQ(c.limits.max_connections_http, 256);
  EXPECT_EQ(c.limits.ipv4_prefix_length, 32);
  EXPECT_EQ(c.limits.ipv6_prefix_length, 64);
  EXPECT_EQ(c.smtp.max_commands_before_mail, 20);
  EXPECT_EQ(c.smtp.preauth_timeout_seconds, 60);
  EXPECT_EQ(c.ldap.max_anonymous_requests, 20);
  EXPECT_EQ(c.ldap.anonymous_timeout_seconds, 60);
  EXPECT_EQ(c.limits.idle_timeout_seconds, 300);
  EXPECT_EQ(c.limits.command_timeout_seconds, 60);
  EXPECT_EQ(c.limits.max_http_body_bytes, 40ull * 1024 * 1024);
  ASSERT_EQ(c.http.listen.size(), 1u);
  EXPECT_EQ(c.http.listen[0].host, "127.0.0.1");
  EXPECT_EQ(c.http.listen[0].port, 8080);
  ASSERT_EQ(c.http.tls_listen.size(), 1u);
  EXPECT_EQ(c.http.tls_listen[0].host, "127.0.0.1");
  EXPECT_EQ(c.http.tls_listen[0].port, 8443);
  EXPECT_EQ(c.storage.backend, "sqlite");
  EXPECT_TRUE(c.storage.key_file.empty());
  EXPECT_TRUE(c.storage.encrypt_blobs);
  EXPECT_EQ(c.storage.group_commit_max_batch, 512);
  EXPECT_EQ(c.quota.default_mailbox_bytes, 4ull << 30);
  EXPECT_EQ(c.quota.shared_mailbox_bytes, 50ull << 30);
  EXPECT_EQ(c.quota.max_message_bytes, 35ull << 20);
  EXPECT_EQ(c.api.token_seconds, 90 * 86400);
  EXPECT_EQ(c.api.application_token_seconds, 365 * 86400);
  EXPECT_EQ(c.api.operator_token_seconds, 365 * 86400);
  // Derived paths.
  EXPECT_EQ(c.key_file(), fs::path("var/keys/blob.key"));
  EXPECT_EQ(c.db_file(), fs::path("var/caremail.db"));
  EXPECT_EQ(c.blob_dir(), fs::path("var/blobs"));
  EXPECT_EQ(c.tls_dir(), fs::path("var/tls"));
}

TEST(ParseConfig, EveryOptionIsReadWithANonDefaultValue) {
  constexpr std::string_view text = R"(
[server]
data_dir = "/srv/caremail"
hostname = "mail.care.example"
user = "mailsvc"
shutdown_grace_seconds = 3
worker_threads = 16

[national]
domain = "nhs.example"
ods_code = "Y99"
name = "Test national"

[log]
level = "debug"
format = "json"

[tls]
cert_file = "/etc/cm/cert.pem"
key_file = "/etc/cm/key.pem"
min_version = "1.3"

[limits]
max_connections = 100
max_connections_smtp = 11
max_connections_imap = 12
max_connections_ldap = 13
max_connections_http = 14
ipv4_prefix_length = 24
ipv6_prefix_length = 56
max_connections_per_ip = 7
idle_timeout_seconds = 30
command_timeout_seconds = 5
max_http_body_bytes = 12345

[http]
listen = ["0.0.0.0:80", "[::1]:81"]
tls_listen = []

[storage]
backend = "sqlite"
key_file = "/etc/cm/blob.key"
encrypt_blobs = false
group_commit_max_batch = 9

[quota]
default_mailbox_bytes = 1000000
shared_mailbox_bytes = 2000000
max_message_bytes = 4096
)";
  auto r = parse_config(text, "full.toml");
  ASSERT_TRUE(r.ok()) << r.error().message;
  const Config& c = *r;
  EXPECT_EQ(c.server.data_dir, fs::path("/srv/caremail"));
  EXPECT_EQ(c.server.hostname, "mail.care.example");
  EXPECT_EQ(c.server.user, "mailsvc");
  EXPECT_EQ(c.server.shutdown_grace_seconds, 3);
  EXPECT_EQ(c.server.worker_threads, 16);
  EXPECT_EQ(c.national.domain, "nhs.example");
  EXPECT_EQ(c.national.ods_code, "Y99");
  EXPECT_EQ(c.national.name, "Test national");
  EXPECT_EQ(c.log.level, "debug");
  EXPECT_EQ(c.log.format, "json");
  EXPECT_EQ(c.tls.cert_file, fs::path("/etc/cm/cert.pem"));
  EXPECT_EQ(c.tls.key_file, fs::path("/etc/cm/key.pem"));
  EXPECT_EQ(c.tls.min_version, "1.3");
  EXPECT_EQ(c.limits.max_connections, 100);
  EXPECT_EQ(c.limits.max_connections_per_ip, 7);
  EXPECT_EQ(c.limits.max_connections_smtp, 11);
  EXPECT_EQ(c.limits.max_connections_imap, 12);
  EXPECT_EQ(c.limits.max_connections_ldap, 13);
  EXPECT_EQ(c.limits.max_connections_http, 14);
  EXPECT_EQ(c.limits.ipv4_prefix_length, 24);
  EXPECT_EQ(c.limits.ipv6_prefix_length, 56);
  EXPECT_EQ(c.limits.idle_timeout_seconds, 30);
  EXPECT_EQ(c.limits.command_timeout_seconds, 5);
  EXPECT_EQ(c.limits.max_http_body_bytes, 12345u);
  ASSERT_EQ(c.http.listen.size(), 2u);
  EXPECT_EQ(c.http.listen[0].host, "0.0.0.0");
  EXPECT_EQ(c.http.listen[0].port, 80);
  EXPECT_EQ(c.http.listen[1].host, "::1");
  EXPECT_EQ(c.http.listen[1].port, 81);
  EXPECT_TRUE(c.http.tls_listen.empty());  // an empty list turns the listener off
  EXPECT_EQ(c.storage.backend, "sqlite");
  EXPECT_EQ(c.storage.key_file, fs::path("/etc/cm/blob.key"));
  EXPECT_FALSE(c.storage.encrypt_blobs);
  EXPECT_EQ(c.storage.group_commit_max_batch, 9);
  EXPECT_EQ(c.quota.default_mailbox_bytes, 1000000u);
  EXPECT_EQ(c.quota.shared_mailbox_bytes, 2000000u);
  EXPECT_EQ(c.quota.max_message_bytes, 4096u);
  EXPECT_EQ(c.key_file(), fs::path("/etc/cm/blob.key"));
  EXPECT_EQ(c.db_file(), fs::path("/srv/caremail/caremail.db"));
}

// A configuration that must be refused, the option its message must name, and a
// fragment of the reason.
struct BadCase {
  const char* name;
  const char* toml;
  const char* option;  // appears as "option '<option>'"
  const char* why;
};

void PrintTo(const BadCase& c, std::ostream* os) { *os << c.name; }

class RefusedConfig : public ::testing::TestWithParam<BadCase> {};

TEST_P(RefusedConfig, NamesTheOptionAndTheReason) {
  const BadCase& c = GetParam();
  auto r = parse_config(c.toml, "bad.toml");
  ASSERT_FALSE(r.ok()) << "accepted: " << c.toml;
  EXPECT_EQ(r.error().code, Errc::invalid_argument);
  const std::string& m = r.error().message;
  EXPECT_EQ(m.rfind("bad.toml: ", 0), 0u) << m;  // names the file first
  EXPECT_NE(m.find(std::string("option '") + c.option + "'"), std::string::npos) << m;
  EXPECT_NE(m.find(c.why), std::string::npos) << m;
}

const BadCase kBadCases[] = {
    // Unknown names (typos must not be silently ignored).
    {"unknown_section", "[smtp]\nport = 25\n", "smtp.port", "unknown option"},
    {"unknown_key", "[server]\nhostnme = \"x\"\n", "server.hostnme", "unknown option"},
    {"unknown_key_after_known", "[limits]\nmax_connections = 5\nmax_conections_per_ip = 3\n",
     "limits.max_conections_per_ip", "unknown option"},
    {"top_level_key", "hostname = \"x\"\n", "hostname", "unknown top-level option"},
    {"nested_table", "[server.extra]\na = 1\n", "server.extra", "unknown option"},
    // Wrong types.
    {"string_for_int", "[limits]\nmax_connections_per_ip = \"50\"\n", "limits.max_connections_per_ip",
     "whole number"},
    {"float_for_int", "[limits]\nmax_connections_per_ip = 5.5\n", "limits.max_connections_per_ip", "whole number"},
    {"negative_int", "[limits]\nmax_connections_per_ip = -1\n", "limits.max_connections_per_ip", "negative"},
    {"negative_bytes", "[quota]\nmax_message_bytes = -4096\n", "quota.max_message_bytes", "negative"},
    {"int_for_string", "[server]\nhostname = 5\n", "server.hostname", "must be a string"},
    {"int_for_path", "[server]\ndata_dir = 5\n", "server.data_dir", "path"},
    {"string_for_bool", "[storage]\nencrypt_blobs = \"yes\"\n", "storage.encrypt_blobs", "true or false"},
    {"listen_not_list", "[http]\nlisten = \"127.0.0.1:8080\"\n", "http.listen", "must be a list"},
    {"listen_entry_not_string", "[http]\nlisten = [8080]\n", "http.listen", "every entry must be a string"},
    // Values that would wrap when narrowed to int must not come back as a small valid number
    // (4294967346 == 2^32 + 50).
    {"int_overflow_wraps", "[limits]\nmax_connections_per_ip = 4294967346\n", "limits.max_connections_per_ip",
     "too large"},
    {"int_overflow_negative", "[server]\nworker_threads = 2147483648\n", "server.worker_threads", "too large"},
    // Endpoints.
    {"endpoint_no_port", "[http]\nlisten = [\"127.0.0.1\"]\n", "http.listen", "has no :port"},
    {"endpoint_port_range", "[http]\nlisten = [\"127.0.0.1:99999\"]\n", "http.listen", "port out of range"},
    {"endpoint_host_name", "[http]\nlisten = [\"localhost:8080\"]\n", "http.listen", "numeric IP address"},
    {"endpoint_no_host", "[http]\ntls_listen = [\":25\"]\n", "http.tls_listen", "has no host"},
    {"endpoint_v6_no_port", "[http]\nlisten = [\"[::1]\"]\n", "http.listen", "is not [ipv6]:port"},
    {"endpoint_bad_port", "[http]\nlisten = [\"127.0.0.1:8o80\"]\n", "http.listen", "bad port"},
    {"trusted_relay_not_a_network", "[smtp]\ntrusted_relays = [\"relay.example\"]\n", "smtp.trusted_relays",
     "is not an IP network"},
    // Semantic checks.
    {"empty_data_dir", "[server]\ndata_dir = \"\"\n", "server.data_dir", "must not be empty"},
    {"zero_workers", "[server]\nworker_threads = 0\n", "server.worker_threads", "between 1 and 256"},
    {"too_many_workers", "[server]\nworker_threads = 257\n", "server.worker_threads", "between 1 and 256"},
    {"huge_hash_queue", "[server]\npassword_check_queue = 100001\n", "server.password_check_queue",
     "between 0 and 100000"},
    {"zero_unfamiliar", "[lockout]\nunfamiliar_failures = 0\n", "lockout.unfamiliar_failures", "at least 1"},
    {"familiar_days", "[lockout]\nfamiliar_days = 4000\n", "lockout.familiar_days", "smart lockout off"},
    {"familiar_prefix_v4", "[lockout]\nfamiliar_prefix_v4 = 33\n", "lockout.familiar_prefix_v4", "between 8 and 32"},
    {"familiar_prefix_v6", "[lockout]\nfamiliar_prefix_v6 = 8\n", "lockout.familiar_prefix_v6", "between 16 and 128"},
    {"domain_without_dot", "[national]\ndomain = \"localhost\"\n", "national.domain", "domain name"},
    {"empty_ods", "[national]\nods_code = \"\"\n", "national.ods_code", "must not be empty"},
    {"log_level", "[log]\nlevel = \"verbose\"\n", "log.level", "trace, debug, info, warn, error"},
    {"log_level_case", "[log]\nlevel = \"INFO\"\n", "log.level", "trace, debug, info, warn, error"},
    {"log_format", "[log]\nformat = \"text\"\n", "log.format", "\"logfmt\" or \"json\""},
    // API tokens must end (issue 14).
    {"token_never_ends", "[api]\ntoken_seconds = 0\n", "api.token_seconds", "tokens must end"},
    {"application_token_too_long", "[api]\napplication_token_seconds = 315360001\n", "api.application_token_seconds",
     "tokens must end"},
    {"operator_token_never_ends", "[api]\noperator_token_seconds = 0\n", "api.operator_token_seconds",
     "tokens must end"},
    {"tls_1_1", "[tls]\nmin_version = \"1.1\"\n", "tls.min_version", "older versions are not offered"},
    {"tls_number", "[tls]\nmin_version = 1.2\n", "tls.min_version", "must be a string"},
    {"cert_without_key", "[tls]\ncert_file = \"/etc/c.pem\"\n", "tls.cert_file", "or neither"},
    {"key_without_cert", "[tls]\nkey_file = \"/etc/k.pem\"\n", "tls.cert_file", "or neither"},
    {"zero_connections", "[limits]\nmax_connections = 0\n", "limits.max_connections", "at least 1"},
    {"zero_per_ip", "[limits]\nmax_connections_per_ip = 0\n", "limits.max_connections_per_ip", "at least 1"},
    {"zero_http_pool", "[limits]\nmax_connections_http = 0\n", "limits.max_connections_http", "at least 1"},
    {"ipv4_prefix_33", "[limits]\nipv4_prefix_length = 33\n", "limits.ipv4_prefix_length", "1 to 32"},
    {"ipv6_prefix_0", "[limits]\nipv6_prefix_length = 0\n", "limits.ipv6_prefix_length", "1 to 128"},
    {"smtp_preauth_cap", "[smtp]\nmax_commands_before_mail = 2\n", "smtp.max_commands_before_mail", "at least 5"},
    {"ldap_anon_cap", "[ldap]\nmax_anonymous_requests = 1\n", "ldap.max_anonymous_requests", "at least 3"},
    {"zero_idle", "[limits]\nidle_timeout_seconds = 0\n", "limits.idle_timeout_seconds", "at least 1"},
    {"zero_command", "[limits]\ncommand_timeout_seconds = 0\n", "limits.command_timeout_seconds", "at least 1"},
    {"backend", "[storage]\nbackend = \"postgres\"\n", "storage.backend", "must be \"sqlite\""},
    {"zero_batch", "[storage]\ngroup_commit_max_batch = 0\n", "storage.group_commit_max_batch", "at least 1"},
    {"tiny_message_limit", "[quota]\nmax_message_bytes = 1023\n", "quota.max_message_bytes", "at least 1024"},
    {"mx_pin_no_hosts", "[smtp]\nrequire_tls_mx = [\"partner.example\"]\n", "smtp.require_tls_mx",
     "is not domain=host"},
    {"mx_pin_empty_host", "[smtp]\nrequire_tls_mx = [\"partner.example=mx1.partner.example,\"]\n",
     "smtp.require_tls_mx", "is not domain=host"},
    {"mx_pin_wildcard_inside", "[smtp]\nrequire_tls_mx = [\"partner.example=mx.*.partner.example\"]\n",
     "smtp.require_tls_mx", "*.name for one label"},
    {"mx_pin_bare_star", "[smtp]\nrequire_tls_mx = [\"partner.example=*\"]\n", "smtp.require_tls_mx",
     "is not domain=host"},
    {"mx_pin_port", "[smtp]\nrequire_tls_mx = [\"partner.example=mx1.partner.example:25\"]\n",
     "smtp.require_tls_mx", "is not domain=host"},
    {"mx_pin_twice", "[smtp]\nrequire_tls_mx = [\"a.example=mx.a.example\", \"A.example=mx2.a.example\"]\n",
     "smtp.require_tls_mx", "pinned twice"},
};

INSTANTIATE_TEST_SUITE_P(Table, RefusedConfig, ::testing::ValuesIn(kBadCases),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(ParseConfig, MxPinsAreParsedLowerCase) {
  auto r = parse_config(
      "[smtp]\nrequire_tls_mx = [\"Partner.Example=MX1.partner.example, mx2.partner.example\", "
      "\"*.gsi.gov.uk=*.gsi.gov.uk\", \"routed.example=127.0.0.1,::1\"]\n",
      "t.toml");
  ASSERT_TRUE(r.ok()) << r.error().message;
  const auto& pins = r->smtp.require_tls_mx;
  ASSERT_EQ(pins.size(), 3u);
  EXPECT_EQ(pins[0].domain, "partner.example");
  EXPECT_EQ(pins[0].hosts, (std::vector<std::string>{"mx1.partner.example", "mx2.partner.example"}));
  EXPECT_EQ(pins[1].domain, "*.gsi.gov.uk");
  EXPECT_EQ(pins[1].hosts, std::vector<std::string>{"*.gsi.gov.uk"});
  EXPECT_EQ(pins[2].hosts, (std::vector<std::string>{"127.0.0.1", "::1"}));
}

TEST(ParseConfig, BoundaryValuesAreAccepted) {
  auto r = parse_config(
      "[server]\nworker_threads = 256\n[quota]\nmax_message_bytes = 1024\n"
      "[limits]\nmax_connections_per_ip = 2147483647\n[http]\nlisten = [\"[::]:0\"]\n",
      "t.toml");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->server.worker_threads, 256);
  EXPECT_EQ(r->quota.max_message_bytes, 1024u);
  EXPECT_EQ(r->limits.max_connections_per_ip, 2147483647);
  ASSERT_EQ(r->http.listen.size(), 1u);
  EXPECT_EQ(r->http.listen[0].host, "::");
  EXPECT_EQ(r->http.listen[0].port, 0);  // any free port
}

TEST(ParseConfig, BrokenTomlNamesFileLineAndColumn) {
  // Line 3 lacks the closing quote.
  auto r = parse_config("[server]\nhostname = \"a\"\nuser = \"nobody\n", "broken.toml");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::invalid_argument);
  const std::string& m = r.error().message;
  EXPECT_EQ(m.rfind("broken.toml:3:", 0), 0u) << m;
  EXPECT_NE(m.find("not valid TOML"), std::string::npos) << m;

  auto r2 = parse_config("[server\n", "b2.toml");
  ASSERT_FALSE(r2.ok());
  EXPECT_EQ(r2.error().message.rfind("b2.toml:1:", 0), 0u) << r2.error().message;

  auto r3 = parse_config("[log]\nlevel = \"info\"\nlevel = \"debug\"\n", "dup.toml");  // redefinition
  ASSERT_FALSE(r3.ok());
  EXPECT_EQ(r3.error().message.rfind("dup.toml:3:", 0), 0u) << r3.error().message;
}

struct EndpointCase {
  const char* text;
  bool ok;
  const char* host;
  uint16_t port;
};

TEST(ParseEndpoint, Table) {
  const EndpointCase cases[] = {
      {"127.0.0.1:25", true, "127.0.0.1", 25},
      {"[::1]:25", true, "::1", 25},
      {"[::]:65535", true, "::", 65535},
      {"0.0.0.0:0", true, "0.0.0.0", 0},
      {"127.0.0.1", false, "", 0},
      {"host:99999", false, "", 0},
      {"localhost:25", false, "", 0},
      {"mail.example:25", false, "", 0},
      {"[fe80::1%eth0]:25", false, "", 0},
      {"127.0.0.1:65536", false, "", 0},
      {"127.0.0.1:123456", false, "", 0},
      {":25", false, "", 0},
      {"[]:25", false, "", 0},
      {"127.0.0.1:", false, "", 0},
      {"127.0.0.1:-1", false, "", 0},
      {"127.0.0.1: 25", false, "", 0},
      {"[::1]", false, "", 0},
      {"[::1]25", false, "", 0},
      {"[::1:25", false, "", 0},
      {"", false, "", 0},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.text);
    auto r = parse_endpoint(c.text);
    ASSERT_EQ(r.ok(), c.ok) << (r.ok() ? "accepted" : r.error().message);
    if (c.ok) {
      EXPECT_EQ(r->host, c.host);
      EXPECT_EQ(r->port, c.port);
    } else {
      EXPECT_EQ(r.error().code, Errc::invalid_argument);
      EXPECT_NE(r.error().message.find(std::string("'") + c.text + "'"), std::string::npos) << r.error().message;
    }
  }
}

struct TempDir : caremail::testing::TempDir {
  TempDir() : caremail::testing::TempDir("cm-config-test") {}
};

TEST(LoadConfig, MissingFileNamesThePath) {
  TempDir d;
  fs::path p = d.path() / "nowhere" / "caremail.toml";
  auto r = load_config(p);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::invalid_argument);
  EXPECT_NE(r.error().message.find(p.string()), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("--config"), std::string::npos) << r.error().message;
}

TEST(LoadConfig, EmptyPathGivesDefaults) {
  auto r = load_config({});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->server.data_dir, fs::path("var"));
  EXPECT_EQ(r->limits.max_connections_per_ip, 50);
}

TEST(LoadConfig, ReadsTheFileAndMakesDataDirAbsolute) {
  TempDir d;
  fs::path p = d.path() / "caremail.toml";
  std::ofstream(p) << "[server]\ndata_dir = \"relative/var\"\n[limits]\nmax_connections_per_ip = 9\n";
  auto r = load_config(p);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_TRUE(r->server.data_dir.is_absolute());
  EXPECT_EQ(r->server.data_dir, fs::current_path() / "relative/var");
  EXPECT_EQ(r->limits.max_connections_per_ip, 9);
}

TEST(LoadConfig, ErrorsInAFileNameTheFile) {
  TempDir d;
  fs::path p = d.path() / "caremail.toml";
  std::ofstream(p) << "\n[limits]\nmax_connections_per_ip = \"many\"\n";
  auto r = load_config(p);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message,
            p.string() + ": option 'limits.max_connections_per_ip': must be a whole number");

  std::ofstream(p, std::ios::trunc) << "\n\n[limits\n";
  auto r2 = load_config(p);
  ASSERT_FALSE(r2.ok());
  EXPECT_EQ(r2.error().message.rfind(p.string() + ":3:", 0), 0u) << r2.error().message;
}

// STYLE.md: docs that can drift get a test against the code. Every option the table
// defines is in config/caremail.example.toml with its default, and every option the file
// documents is defined (parse_config refuses unknown names, and the walk below says which).
TEST(ConfigOptions, TheExampleFileDocumentsEveryOptionWithItsDefault) {
  const std::string path = std::string(CAREMAIL_SOURCE_DIR) + "/config/caremail.example.toml";
  std::ifstream in(path);
  ASSERT_TRUE(in) << path;
  std::stringstream text;
  text << in.rdbuf();
  std::set<std::string> documented;
  toml::table root = toml::parse(text.str(), path);
  for (const auto& [section, table] : root) {
    ASSERT_TRUE(table.is_table()) << section.str() << " is not a [section]";
    for (const auto& [key, value] : *table.as_table())
      documented.insert(std::string(section.str()) + "." + std::string(key.str()));
  }
  auto example = parse_config(text.str(), path);
  EXPECT_TRUE(example.ok()) << example.error().message;

  std::set<std::string> defined;
  const Config defaults;
  for (const auto& o : config_options()) {
    std::string name(o.name);
    EXPECT_TRUE(defined.insert(name).second) << name << " is defined twice";
    EXPECT_FALSE(o.help.empty()) << name << " has no help text";
    if (!o.in_example) {
      EXPECT_FALSE(documented.count(name)) << name << " is a test fault and does not belong in the example";
      continue;
    }
    EXPECT_TRUE(documented.count(name)) << name << " is not documented in " << path;
    if (example.ok()) {
      EXPECT_EQ(config_value(*example, name), config_value(defaults, name))
          << name << ": the example shows another value than the default";
    }
  }
  for (const auto& name : documented)
    EXPECT_TRUE(defined.count(name)) << path << " documents " << name << ", which no option defines";
}

TEST(ConfigOptions, ValuesAreShownAsToml) {
  Config c;
  EXPECT_EQ(config_value(c, "server.worker_threads"), "12");
  EXPECT_EQ(config_value(c, "log.level"), "\"info\"");
  EXPECT_EQ(config_value(c, "storage.encrypt_blobs"), "true");
  EXPECT_EQ(config_value(c, "http.listen"), "[\"127.0.0.1:8080\"]");
  EXPECT_EQ(config_value(c, "smtp.retry_schedule_seconds"), "[60, 300, 900, 1800, 3600, 7200, 14400]");
  c.http.listen = {{"::1", 80}};
  EXPECT_EQ(config_value(c, "http.listen"), "[\"[::1]:80\"]");
  EXPECT_EQ(config_value(c, "server.no_such_option"), std::nullopt);
}

}  // namespace
}  // namespace caremail

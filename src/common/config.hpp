// Configuration of caremaild. The Config struct below is what the rest of the code reads
// (and holds each option's default); config.cpp defines every option once, in one table:
// its name, its place in Config (hence its type), its checks and a line of help, and
// reads and validates the file from that table. The complete commented example is
// config/caremail.example.toml; config_test checks that it names every option (and no
// other) with its default.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"

namespace caremail {

struct Endpoint {
  std::string host;  // numeric address: "127.0.0.1", "::1", "0.0.0.0"
  uint16_t port = 0; // 0 = any free port (tests); the bound port is logged and written to ports.json
};

struct Config {
  struct Server {
    std::filesystem::path data_dir = "var";
    std::string hostname = "localhost";
    // When started as root: drop to this user after binding. A user of its own (created by
    // `make run` and the packaging), not "nobody", which other daemons share: a uid that
    // another compromised daemon also runs as could read the mail and the keys.
    std::string user = "caremail";
    int shutdown_grace_seconds = 10;
    int worker_threads = 12;         // bounded pool for blocking work (SQLite, fsync, MIME); see bench/README.md
    int password_check_threads = 1;  // Argon2id checks at once (64 MiB each); logins queue beyond
    // Sign-ins that may wait for a hashing thread; more get a temporary failure at once
    // (IMAP NO [UNAVAILABLE], SMTP 454, LDAP busy, HTTP 503): 64 waits at ~80 ms each are
    // about 5 s, within every client's timeout, and a flood never grows the queue further.
    int password_check_queue = 64;
    // A password that verified is remembered (as a keyed hash) for this long, so a client
    // reconnecting skips the Argon2id check; 0 turns it off. See core/password_cache.hpp.
    int password_cache_seconds = 300;
  } server;

  struct National {
    std::string domain = "care.example";
    std::string ods_code = "X26";
    std::string name = "Caremail national service";
  } national;

  struct Log {
    std::string level = "info";    // trace, debug, info, warn, error
    std::string format = "logfmt"; // logfmt or json
  } log;

  struct Tls {
    std::filesystem::path cert_file;  // empty: self-signed, generated under data_dir/tls
    std::filesystem::path key_file;
    std::string min_version = "1.2";  // 1.2 or 1.3
  } tls;

  struct Limits {
    // SMTP, IMAP and LDAP connections together (the HTTP pool is outside it, so that a mail
    // flood can never lock administrators out of the API).
    int max_connections = 20000;
    // Each listener kind has its own pool, so a flood on one cannot take the slots of the
    // others. IMAP holds the most (one or two IDLE connections per device, 10,000 in
    // bench-imap); SMTP sessions are short; HTTP is the admin API (and /healthz, /metrics).
    int max_connections_smtp = 2000;    // MX, submission and submissions together
    int max_connections_imap = 16000;   // imap and imaps
    int max_connections_ldap = 2000;    // ldap and ldaps
    int max_connections_http = 256;     // http and https
    // Per client network and listener kind (so one busy network cannot lock the same
    // network's administrators out either). The network: the address under these prefixes.
    int max_connections_per_ip = 50;
    int ipv4_prefix_length = 32;   // one IPv4 address is one client (or one NAT)
    int ipv6_prefix_length = 64;   // one IPv6 host usually holds a whole /64
    int idle_timeout_seconds = 300;
    int command_timeout_seconds = 60;
    uint64_t max_http_body_bytes = 40ull * 1024 * 1024;  // only POST /api/v1/deliver (a whole message)
    // Body of a request that is not (yet) authenticated: sign-in and password reset need
    // well under 1 KB; anything larger is refused with 413 before it is read.
    uint64_t max_http_unauthenticated_body_bytes = 8 * 1024;
    // Body of an authenticated JSON request (the largest: a distribution list's members).
    uint64_t max_http_json_body_bytes = 1024 * 1024;
  } limits;

  struct Http {
    std::vector<Endpoint> listen{{"127.0.0.1", 8080}};
    std::vector<Endpoint> tls_listen{{"127.0.0.1", 8443}};
  } http;

  struct Smtp {
    // Port 25 in production (MX: no AUTH, mail for the service's domains only).
    std::vector<Endpoint> mx_listen{{"127.0.0.1", 2525}};
    // Port 587 in production (RFC 6409 submission: STARTTLS, then AUTH).
    std::vector<Endpoint> submission_listen{{"127.0.0.1", 5870}};
    // Port 465 in production (RFC 8314 implicit TLS submission).
    std::vector<Endpoint> submissions_listen{{"127.0.0.1", 4650}};
    int max_recipients = 1000;       // per message; more get 452 4.5.3
    int max_errors = 10;             // bad commands before the connection is closed
    int max_auth_failures = 3;       // per connection, then it is closed
    int max_commands = 10000;        // per connection (a session that never ends is a bug or an attack)
    // Before the first accepted MAIL FROM (MX) or a successful AUTH (submission): commands
    // and seconds. A real client needs four commands (EHLO, STARTTLS, EHLO, MAIL or AUTH)
    // and well under a second; anything more is holding a slot without sending mail.
    int max_commands_before_mail = 20;
    int preauth_timeout_seconds = 60;
    int data_timeout_seconds = 180;  // between chunks of DATA/BDAT
    // AUTH without TLS from a loopback address (development and tests only).
    bool allow_plaintext_auth_on_loopback = false;
    // Networks (CIDR) whose port 25 mail may use the service's own domains in MAIL FROM
    // and in From/Sender: the inbound gateway or an internal relay that has checked the
    // sender. Empty by default: until the gateway's SPF/DKIM/DMARC lands, nobody on port
    // 25 is believed to be one of us (people use the submission port and sign in).
    std::vector<std::string> trusted_relays;
    // Believe port 25's MAIL FROM when it names an outside member of a members-only list.
    // Off by default: the envelope sender is unauthenticated, anyone can forge a member's
    // address, and one forged message fans out to every member. Turn on only when port 25
    // is reached through a gateway that verifies senders (SPF/DMARC).
    bool trust_envelope_sender_for_lists = false;
    // Messages received on SMTP larger than this are written to a spool file in the data
    // directory as they arrive instead of being held in memory (0: always in memory).
    // 1 MB keeps ordinary mail in memory (no file I/O) and bounds what a connection
    // sending a 35 MB message holds to about this much.
    uint64_t spool_threshold_bytes = 1u << 20;

    // Sending limits per account and hour (PRODUCT.md S6); passing one suspends sending
    // until an administrator lifts it. Application accounts (relay service) have their own.
    int max_messages_per_hour = 500;
    int max_recipients_per_hour = 3000;
    int app_max_messages_per_hour = 20000;
    int app_max_recipients_per_hour = 100000;

    // Outbound queue.
    // Static routes, "domain=host:port" ("*" for a smarthost); other domains use DNS MX.
    std::vector<std::string> relay_routes;
    // Domains only ever reached over verified TLS ("example.org" or "*.gsi.gov.uk").
    std::vector<std::string> require_tls_domains;
    // Require-TLS domains whose mail servers are pinned by name, because DNS (which gives
    // the MX names the certificate is checked against) can be spoofed: "domain=host,host".
    // The domain as in require_tls_domains; a host is a name, "*.name" (one label, as
    // MTA-STS matches) or an IP address (a relay route). A pinned domain is require-TLS;
    // only pinned hosts are connected to, and the certificate must be valid for that name.
    struct MxPin {
      std::string domain;              // lower case; "*.x" for x and its sub-domains
      std::vector<std::string> hosts;  // lower case patterns
    };
    std::vector<MxPin> require_tls_mx;
    // Waits between attempts; the last one repeats.
    std::vector<int> retry_schedule_seconds{60, 300, 900, 1800, 3600, 7200, 14400};
    int max_queue_seconds = 5 * 24 * 3600;    // then the sender gets a failure report
    int delay_notice_seconds = 4 * 3600;      // then the sender is told it is delayed
    int connect_timeout_seconds = 30;
    int outbound_concurrency = 20;            // deliveries in flight at once
    // Extra CA certificates (PEM) trusted when verifying remote servers, besides the system's.
    std::filesystem::path outbound_ca_file;
    // DNS servers for MX lookups ("ip" or "ip:port"); empty: the system's (/etc/resolv.conf).
    // A local validating resolver (unbound) is the usual choice in production.
    std::vector<std::string> dns_servers;
    // Port of the MX hosts (25; tests and unusual networks change it).
    int mx_port = 25;
  } smtp;

  struct Imap {
    // Port 143 in production (STARTTLS, then LOGIN/AUTHENTICATE).
    std::vector<Endpoint> listen{{"127.0.0.1", 1430}};
    // Port 993 in production (implicit TLS, RFC 8314).
    std::vector<Endpoint> tls_listen{{"127.0.0.1", 9930}};
    // LOGIN / AUTHENTICATE without TLS from a loopback address (development and tests only).
    bool allow_plaintext_auth_on_loopback = false;
    // Bad commands before the connection is closed: counted over the whole session before
    // login; after login a successful command starts the count again.
    int max_errors = 20;
    int max_auth_failures = 3;          // per connection, then it is closed
    int idle_timeout_seconds = 1800;    // RFC 9051 §5.4: at least 30 minutes when authenticated
    int preauth_timeout_seconds = 60;   // before login, between reads
    // Before login (issue 14): what an unauthenticated client can make a session hold or
    // keep. One command with its literals (LOGIN, AUTHENTICATE PLAIN need a few hundred octets);
    int max_preauth_command_bytes = 40 * 1024;  // RFC 2971 ID: 30 pairs of 30 + 1024 octets
    // literals refused (over that size, or in a command that needs login) before the
    // connection is closed;
    int max_preauth_literal_refusals = 3;
    // commands (a real client needs under 10: CAPABILITY, STARTTLS, ID, a few LOGINs);
    int max_preauth_commands = 20;
    // and seconds from connecting to logging in.
    int max_preauth_seconds = 60;
  } imap;

  // The directory (PRODUCT.md D1-D3).
  struct Directory {
    // Organisations whose bulk export (sync) is allowed are flagged by an authoriser; the
    // page size of an export.
    int export_page = 1000;
    // Benchmarks and demonstrations only: the directory also holds this many synthetic
    // entries (directory/synth.hpp, deterministic from synthetic_seed) besides the real
    // accounts, so that a search at national scale can be measured without 1.3 million
    // accounts. 0 (the default): none.
    int synthetic_entries = 0;
    int synthetic_organisations = 10000;
    uint64_t synthetic_seed = 1;
  } directory;

  // LDAPv3 read-only address book (RFC 4511): port 389 (StartTLS) and 636 (implicit TLS)
  // in production.
  struct Ldap {
    std::vector<Endpoint> listen{{"127.0.0.1", 3890}};
    std::vector<Endpoint> tls_listen{{"127.0.0.1", 6360}};
    std::string base_dn = "o=caremail";
    int size_limit = 500;              // entries per search at most (clients may ask for fewer)
    int time_limit_seconds = 10;       // per search at most
    bool allow_plaintext_bind_on_loopback = false;  // simple bind without TLS (development, tests)
    int idle_timeout_seconds = 600;
    // While anonymous (before a successful bind): requests and seconds. A real client needs
    // two or three (StartTLS, bind, perhaps the root DSE) at once.
    int max_anonymous_requests = 20;
    int anonymous_timeout_seconds = 60;
  } ldap;

  struct Storage {
    std::string backend = "sqlite";
    std::filesystem::path key_file;  // empty: data_dir/keys/blob.key, created on first start
    bool encrypt_blobs = true;
    // The Xapian index for IMAP SEARCH BODY/TEXT; off: those searches scan the messages.
    bool full_text_index = true;
    int group_commit_max_batch = 512;
    // Messages up to this size keep their (sealed) body in the metadata database with
    // their row: one fsync per delivery instead of three (blob file, its directory, the
    // WAL). SQLite reads blobs under about 100 KB faster from the database than from
    // files (sqlite.org/intern-v-extern-blob.html). 0: every body is a blob file.
    uint64_t inline_blob_bytes = 128 * 1024;
  } storage;

  struct Quota {
    uint64_t default_mailbox_bytes = 4ull << 30;    // 4 GB, PRODUCT.md M5
    uint64_t shared_mailbox_bytes = 50ull << 30;    // 50 GB
    uint64_t max_message_bytes = 35ull << 20;       // 35 MB attachments
    // The largest quota an administrator may give one mailbox; quotas above the default
    // count against the organisation's allowance (set by national administrators).
    uint64_t max_mailbox_bytes = 100ull << 30;      // 100 GB
  } quota;

  // Account life cycle and retention (PRODUCT.md A2, A6). Days; all configurable.
  struct Lifecycle {
    int inactive_after_days = 30;      // no sign-in (or never accepted the AUP): Inactive
    int delete_after_days = 60;        // no sign-in for this long: Deleted
    int restore_days = 30;             // a deleted account can be restored for this long
    int leaver_claim_days = 30;        // a leaver not claimed by a new organisation: Deleted
    int disabled_keep_days = 548;      // disabled accounts kept 18 months, then Deleted
    int address_lock_days = 730;       // a deleted account's addresses are not reused for 2 years
    int check_seconds = 3600;          // how often the life-cycle job runs
  } lifecycle;

  // The national password policy (PRODUCT.md S4); see identity/password_policy.hpp.
  struct Password {
    int min_length = 10;               // characters (Unicode code points)
    int min_length_application = 20;
    int history = 4;                   // the last N passwords may not be used again
    int expiry_days = 365;             // 0: passwords never expire
    std::vector<int> reminder_days{18, 10, 5, 2, 1};
    std::vector<std::string> common_lists;  // extra files of common passwords, one a line
    std::string breached_list;              // sorted SHA-1 list (Pwned Passwords format); "" off
    int expiry_check_seconds = 3600;   // how often the reminder job runs
  } password;

  // Sign-in failures (PRODUCT.md S4): every protocol counts towards one lockout.
  struct Lockout {
    int failures = 10;                 // failures within window_seconds lock the account...
    int window_seconds = 900;          // ...15 minutes...
    int lock_seconds = 1800;           // ...for 30 minutes
    // Password spraying: failures from one address across all accounts within
    // ip_window_seconds, after which that address is refused for ip_block_seconds.
    int ip_failures = 50;
    int ip_window_seconds = 900;
    int ip_block_seconds = 900;
    // Smart lockout: a failure from a network where the account signed in successfully
    // within familiar_days ("familiar": the peer's /familiar_prefix_v4 or
    // /familiar_prefix_v6 network) counts towards `failures` and locks the account for
    // everyone, as above; a failure from anywhere else counts towards unfamiliar_failures,
    // which locks out only unfamiliar networks: a stranger cannot lock the person out of
    // their usual devices. An account with no familiar network is locked for everyone.
    int unfamiliar_failures = 10;
    int familiar_days = 30;
    int familiar_prefix_v4 = 24;
    int familiar_prefix_v6 = 64;
  } lockout;

  // Multi-factor authentication and sign-in sessions (PRODUCT.md S4, S7).
  struct Mfa {
    bool required_for_administrators = true;  // every administrator role (PRODUCT.md S4)
    bool required_for_everyone = false;  // national policy; organisations may also require it
    std::string issuer = "Caremail";     // the name authenticator apps show
    int session_idle_seconds = 1800;     // a web/API session ends after this long unused
    int public_session_idle_seconds = 300;  // "public computer" sign-in
    int session_max_seconds = 43200;     // and after this long in any case
  } mfa;

  // API tokens (scripts, caremailctl): every token ends, so a stolen one does not keep the
  // account for good. A person's ends after token_seconds (90 days: a script that matters
  // is renewed by someone who still works here); an application account's lives longer
  // (365 days: integrations run unattended and are renewed on a yearly review); the
  // operator's token that caremaild writes to data_dir/admin.token for caremailctl lives
  // operator_token_seconds and is renewed by caremaild at start once less than a third is
  // left (or when it no longer works).
  struct Api {
    int64_t token_seconds = 90LL * 86400;
    int64_t application_token_seconds = 365LL * 86400;
    int64_t operator_token_seconds = 365LL * 86400;
  } api;

  // Faults for the integration tests to inject. The section is refused unless caremaild's
  // environment has CAREMAIL_TEST_HOOKS=1 (a production configuration cannot turn a fault
  // on by mistake), and nothing here belongs in config/caremail.example.toml.
  struct Testing {
    // Every local delivery fails as a whole (MailService::deliver answers Errc::temporary
    // before committing), as a full disk or a broken database would make it: the SMTP
    // test that a local failure queues no remote copy (issue 14) uses it.
    bool fail_local_delivery = false;
  } testing;

  // Resolved paths (after load): absolute.
  std::filesystem::path key_file() const;
  std::filesystem::path db_file() const { return server.data_dir / "caremail.db"; }
  std::filesystem::path blob_dir() const { return server.data_dir / "blobs"; }
  std::filesystem::path tls_dir() const { return server.data_dir / "tls"; }
};

// Loads and validates a TOML file. Errors name the file, the option and the fix.
// An empty path returns the defaults.
Result<Config> load_config(const std::filesystem::path& file);

// Parses TOML text (for tests); `origin` names the source in messages.
Result<Config> parse_config(std::string_view text, std::string_view origin);

// One smtp.require_tls_mx entry, "domain=host[,host...]", lower-cased; nullopt when it is
// not one (a domain or host that is not a name, "*.name" or, for hosts, an IP address).
std::optional<Config::Smtp::MxPin> parse_mx_pin(std::string_view text);

// The options config.cpp defines, in the order they are read and checked.
struct ConfigOption {
  std::string_view name;  // "section.key"
  std::string_view help;  // one line
  bool in_example;        // documented in config/caremail.example.toml ([testing] is not)
};
std::vector<ConfigOption> config_options();

// Option `name`'s value in `c` as TOML ("10", "\"info\"", "[\"127.0.0.1:8080\"]"); nullopt
// when no option has that name. config_value(Config{}, name) is the default.
std::optional<std::string> config_value(const Config& c, std::string_view name);

// "host:port", "[v6]:port" -> Endpoint.
Result<Endpoint> parse_endpoint(std::string_view text);

}  // namespace caremail

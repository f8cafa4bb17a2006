// caremailctl: the operator and administrator command line. It speaks caremaild's admin
// HTTP API (never the database), so every change it makes is authorised and audited by
// the core exactly as if it came from any other client.
//
// SECURITY: it sends an API token (from --token, CAREMAIL_TOKEN or the token file) and
// never takes passwords on the command line: they are read from standard input.
//
// Output: listings are aligned tables with a header line (nothing when there is nothing to
// list), times in UTC ISO-8601 ("2026-12-07T23:05:00Z"); --json prints the API's JSON
// instead, for scripts. Exit codes: see kExitCodes.
#include <termios.h>
#include <unistd.h>

#include <fstream>
#include <iostream>
#include <sstream>

#include <CLI/CLI.hpp>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <boost/url.hpp>

#include "common/time_text.hpp"

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;

namespace {

// The exit codes, for scripts (also in the usage text and docs/OPERATIONS.md).
constexpr int kExitOk = 0;       // done
constexpr int kExitRefused = 1;  // caremaild refused the request (the reason is on stderr)
constexpr int kExitUsage = 2;    // not sent: bad arguments, no caremaild or token, unreadable file
constexpr const char* kExitCodes =
    "Exit codes: 0 done; 1 caremaild refused the request (the reason on standard error); "
    "2 nothing was sent (bad arguments, caremaild not running or not reachable, no API token, "
    "a file that cannot be read).";

struct Client {
  std::string host = "127.0.0.1";
  std::string port = "8080";
  std::string token;

  // Returns (status, body). Throws on transport errors.
  std::pair<int, std::string> call(http::verb verb, const std::string& target, const std::string& body,
                                   const std::string& content_type = "application/json") {
    asio::io_context io;
    asio::ip::tcp::resolver resolver(io);
    beast::tcp_stream stream(io);
    stream.expires_after(std::chrono::seconds(120));
    stream.connect(resolver.resolve(host, port));
    http::request<http::string_body> req{verb, target, 11};
    req.set(http::field::host, host);
    req.set(http::field::user_agent, "caremailctl");
    req.set(http::field::authorization, "Bearer " + token);
    if (!body.empty() || verb == http::verb::post || verb == http::verb::put) {
      req.set(http::field::content_type, content_type);
      req.body() = body;
    }
    req.prepare_payload();
    http::write(stream, req);
    beast::flat_buffer buf;
    http::response_parser<http::string_body> parser;
    parser.body_limit(256u << 20);
    http::read(stream, buf, parser);
    beast::error_code ec;
    stream.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ec);
    return {parser.get().result_int(), parser.get().body()};
  }
};

std::string url_encode(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || c == '@') out += static_cast<char>(c);
    else {
      char b[4];
      std::snprintf(b, sizeof b, "%%%02X", c);
      out += b;
    }
  }
  return out;
}

std::string read_secret(const std::string& prompt) {
  std::string s;
  if (::isatty(STDIN_FILENO)) {
    std::cerr << prompt << std::flush;
    termios old{};
    tcgetattr(STDIN_FILENO, &old);
    termios quiet = old;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
    std::getline(std::cin, s);
    tcsetattr(STDIN_FILENO, TCSANOW, &old);
    std::cerr << "\n";
  } else {
    std::getline(std::cin, s);
  }
  return s;
}

// Prints the response; returns the exit code (kExitOk, or kExitRefused when the server refused).
int report(const std::pair<int, std::string>& r, bool raw_json, const std::function<void(const json::value&)>& pretty) {
  auto [status, body] = r;
  json::value v;
  boost::system::error_code ec;
  if (!body.empty()) v = json::parse(body, ec);
  if (status >= 400) {
    std::string detail = body;
    if (!ec && v.is_object() && v.as_object().contains("detail")) detail = json::value_to<std::string>(v.at("detail"));
    std::cerr << "caremailctl: " << status << ": " << detail << "\n";
    // A forced change restricts the account's API token too (the first administrator's
    // one-time password is changed at first use): say how to get out of it.
    if (status == 403 && detail == "change your password first")
      std::cerr << "caremailctl: the account this API token belongs to must choose a new password before anything "
                   "else (a one-time or reset password): run 'caremailctl password set --current ADDRESS' with its address "
                   "(caremaild printed it at first start) and give the one-time password, then the new one; "
                   "or sign in on the web\n";
    return kExitRefused;
  }
  if (raw_json || ec || !pretty) {
    if (!body.empty()) std::cout << body << "\n";
  } else {
    pretty(v);
  }
  return kExitOk;
}

std::string s(const json::value& v, const char* key) {
  const auto& o = v.as_object();
  auto it = o.find(key);
  if (it == o.end()) return "";
  if (it->value().is_string()) return std::string(it->value().as_string());
  return json::serialize(it->value());
}

// A time field (Unix seconds in the API) as UTC ISO-8601; "-" when absent, null or zero (never).
std::string when(const json::value& v, const char* key) {
  const auto& o = v.as_object();
  auto it = o.find(key);
  if (it == o.end() || it->value().is_null()) return "-";
  const json::value& x = it->value();
  int64_t t = 0;
  if (x.is_int64()) t = x.as_int64();
  else if (x.is_uint64()) t = static_cast<int64_t>(x.as_uint64());
  else if (x.is_string()) return std::string(x.as_string());
  else return json::serialize(x);
  if (t <= 0) return "-";
  return caremail::format_utc(t, "%Y-%m-%dT%H:%M:%SZ");
}

// A JSON array field as "a, b"; "-" when empty.
std::string joined(const json::value& v, const char* key) {
  const auto& o = v.as_object();
  auto it = o.find(key);
  if (it == o.end() || !it->value().is_array() || it->value().as_array().empty()) return "-";
  std::string out;
  for (const auto& x : it->value().as_array()) {
    if (!out.empty()) out += ", ";
    out += x.is_string() ? std::string(x.as_string()) : json::serialize(x);
  }
  return out;
}

// Columns aligned for people, under an upper-case header. Prints nothing without rows, so
// "nothing to list" is an empty output; scripts use --json.
class Table {
 public:
  explicit Table(std::vector<std::string> head) : head_(std::move(head)) {}
  void add(std::vector<std::string> row) {
    row.resize(head_.size());
    for (auto& cell : row)
      if (cell.empty()) cell = "-";
    rows_.push_back(std::move(row));
  }
  void print(std::ostream& out = std::cout) const {
    if (rows_.empty()) return;
    std::vector<size_t> width(head_.size(), 0);
    for (size_t i = 0; i < head_.size(); ++i) width[i] = columns(head_[i]);
    for (const auto& r : rows_)
      for (size_t i = 0; i < r.size(); ++i) width[i] = std::max(width[i], columns(r[i]));
    auto line = [&](const std::vector<std::string>& r) {
      std::string text;
      for (size_t i = 0; i < r.size(); ++i) {
        text += r[i];
        if (i + 1 < r.size()) text.append(width[i] - columns(r[i]) + 2, ' ');
      }
      out << text << "\n";
    };
    line(head_);
    for (const auto& r : rows_) line(r);
  }

 private:
  // Display width: UTF-8 code points (names may carry accents), not bytes.
  static size_t columns(const std::string& s) {
    size_t n = 0;
    for (unsigned char c : s)
      if ((c & 0xC0) != 0x80) ++n;
    return n;
  }
  std::vector<std::string> head_;
  std::vector<std::vector<std::string>> rows_;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"caremailctl: administer a Caremail service through its admin API"};
  app.require_subcommand(1);
  app.footer(kExitCodes);
  app.fallthrough();  // the global options (--json, --url ...) may follow the subcommand
  std::string url, token, token_file, data_dir = "var";
  bool raw = false;
  app.add_option("--url", url, "admin API, e.g. http://127.0.0.1:8080 (default: from DATA_DIR/run/ports.json)")
      ->envname("CAREMAIL_URL");
  app.add_option("--token", token, "API token")->envname("CAREMAIL_TOKEN");
  app.add_option("--token-file", token_file, "file holding the API token (default: DATA_DIR/admin.token)");
  app.add_option("--data-dir", data_dir, "caremaild's data directory, to find the port and token")
      ->envname("CAREMAIL_DATA_DIR");
  app.add_flag("--json", raw, "print the API's JSON (for scripts) instead of tables and sentences");

  auto* org = app.add_subcommand("org", "organisations")->require_subcommand(1);
  auto* org_create = org->add_subcommand("create", "create an organisation");
  std::string ods, name, short_name;
  std::vector<std::string> domains;
  org_create->add_option("--ods", ods, "ODS code")->required();
  org_create->add_option("--name", name, "name")->required();
  org_create->add_option("--short-name", short_name, "short name (shared mailbox prefix)");
  org_create->add_option("--domain", domains, "mail domain (repeatable)");
  auto* org_list = org->add_subcommand("list", "list organisations");

  std::string file;
  auto* acct = app.add_subcommand("account", "accounts")->require_subcommand(1);
  auto* acct_create = acct->add_subcommand("create", "create an account");
  std::string address, display, kind = "person";
  std::vector<std::string> roles;
  bool password_stdin = false;
  int64_t quota_bytes = -1;
  acct_create->add_option("--address", address, "address for life")->required();
  acct_create->add_option("--ods", ods, "organisation's ODS code")->required();
  acct_create->add_option("--name", display, "display name");
  acct_create->add_option("--kind", kind, "person, shared or application");
  acct_create->add_option("--role", roles, "role (repeatable)");
  acct_create->add_flag("--password-stdin", password_stdin, "read an initial password from standard input");
  acct_create->add_option("--quota-bytes", quota_bytes, "mailbox size limit");
  auto* acct_list = acct->add_subcommand("list", "list accounts");
  acct_list->add_option("--ods", ods, "only this organisation");
  auto* acct_show = acct->add_subcommand("show", "show one account");
  acct_show->add_option("address", address)->required();

  auto* acct_sending = acct->add_subcommand("sending", "suspend or resume an account's sending");
  bool resume = false, suspend = false;
  acct_sending->add_option("address", address)->required();
  auto* resume_flag = acct_sending->add_flag("--resume", resume, "lift a suspension (excessive activity)");
  acct_sending->add_flag("--suspend", suspend, "suspend sending")->excludes(resume_flag);

  auto* pw = app.add_subcommand("password", "passwords")->require_subcommand(1);
  auto* pw_set = pw->add_subcommand("set", "set a password (read from standard input); every session, API token "
                                           "and app password of the account ends");
  pw_set->add_option("address", address)->required();
  bool pw_current = false, pw_keep_apps = false;
  pw_set->add_flag("--current", pw_current,
                   "your own password: read the current one first (a line before the new one on standard input)");
  pw_set->add_flag("--keep-app-passwords", pw_keep_apps,
                   "keep the account's app passwords (after a reset they still wait for the person's new password)");

  // API tokens (they end: api.token_seconds); listed without their secret.
  auto* tok = app.add_subcommand("token", "API tokens")->require_subcommand(1);
  auto* tok_issue = tok->add_subcommand("issue", "issue a token for yourself (printed once)");
  std::string token_name = "api";
  tok_issue->add_option("--name", token_name, "what it is for, e.g. \"nightly export\"");
  auto* tok_list = tok->add_subcommand("list", "list an account's API tokens");
  tok_list->add_option("address", address)->required();
  auto* tok_revoke = tok->add_subcommand("revoke", "revoke one (a leaked script)");
  int64_t token_id = 0;
  tok_revoke->add_option("address", address)->required();
  tok_revoke->add_option("id", token_id)->required();

  auto* acct_unlock = acct->add_subcommand("unlock", "unlock an account locked after failed sign-ins");
  acct_unlock->add_option("address", address)->required();
  auto* acct_failures = acct->add_subcommand("failures", "recent sign-in failures (which device, which protocol)");
  acct_failures->add_option("address", address)->required();

  auto* acct_mfa_reset = acct->add_subcommand("mfa-reset", "remove an account's second factor (a lost phone)");
  acct_mfa_reset->add_option("address", address)->required();

  auto* org_mfa = org->add_subcommand("mfa", "an organisation's MFA policy");
  bool mfa_on = false, mfa_off = false;
  std::vector<std::string> trusted;
  org_mfa->add_option("--ods", ods, "ODS code")->required();
  auto* on_flag = org_mfa->add_flag("--require", mfa_on, "require MFA of everyone in the organisation");
  org_mfa->add_flag("--no-require", mfa_off, "administrators only (the national minimum)")->excludes(on_flag);
  org_mfa->add_option("--trusted-network", trusted, "CIDR exempt from the requirement (repeatable)");

  auto* app_pw = app.add_subcommand("app-password", "app passwords for mail clients")->require_subcommand(1);
  auto* app_list = app_pw->add_subcommand("list", "list an account's app passwords");
  app_list->add_option("address", address)->required();
  auto* app_revoke = app_pw->add_subcommand("revoke", "revoke one (a lost phone)");
  int64_t app_id = 0;
  app_revoke->add_option("address", address)->required();
  app_revoke->add_option("id", app_id)->required();

  auto* aup = app.add_subcommand("aup", "the Acceptable Use Policy")->require_subcommand(1);
  auto* aup_show = aup->add_subcommand("show", "the current version");
  auto* aup_publish = aup->add_subcommand("publish", "publish a new version (national administrators)");
  aup_publish->add_option("file", file, "text file, - for standard input")->required();

  auto* quota = app.add_subcommand("quota", "quota")->require_subcommand(1);
  auto* quota_show = quota->add_subcommand("show", "show quota usage");
  quota_show->add_option("address", address)->required();
  auto* quota_set = quota->add_subcommand("set", "set an account's quota (above the default: the allowance)");
  uint64_t new_quota = 0;
  quota_set->add_option("address", address)->required();
  quota_set->add_option("bytes", new_quota, "the new quota in bytes")->required();

  // Life cycle (PRODUCT.md A2, A6): one POST each, no body.
  struct StateAction {
    const char* name;
    const char* help;
    const char* path;   // after /api/v1/accounts/{address}
    const char* done;
    CLI::App* cmd = nullptr;
  };
  StateAction state_actions[] = {
      {"leaver", "mark a leaver (roles and larger quota go; a new organisation claims them within 30 days)",
       "/leaver", "marked as a leaver"},
      {"disable", "disable an account (kept 18 months, then deleted)", "/disable", "disabled"},
      {"enable", "enable a disabled or inactive account", "/enable", "enabled"},
      {"delete", "delete an account (restorable for 30 days)", "", "deleted"},
      {"restore", "restore a deleted account", "/restore", "restored"},
  };
  for (auto& a : state_actions) {
    a.cmd = acct->add_subcommand(a.name, a.help);
    a.cmd->add_option("address", address)->required();
  }
  auto* acct_claim = acct->add_subcommand("claim", "claim a leaver as a joiner into your organisation");
  acct_claim->add_option("address", address)->required();
  acct_claim->add_option("--ods", ods, "the new organisation (national administrators)");
  auto* acct_roles = acct->add_subcommand("roles", "set an account's roles");
  std::vector<std::string> roles_set;
  acct_roles->add_option("address", address)->required();
  acct_roles->add_option("--role", roles_set, "a role (repeatable); none: user only");
  auto* acct_hold = acct->add_subcommand("legal-hold", "place or lift a legal hold (never deleted)");
  bool hold_on = false, hold_off = false;
  acct_hold->add_option("address", address)->required();
  auto* hold_flag = acct_hold->add_flag("--on", hold_on, "place the hold");
  acct_hold->add_flag("--off", hold_off, "lift it")->excludes(hold_flag);
  auto* alias_cmd = acct->add_subcommand("alias", "add or remove an alias (another address)");
  std::string alias;
  bool alias_remove = false;
  alias_cmd->add_option("address", address)->required();
  alias_cmd->add_option("alias", alias)->required();
  alias_cmd->add_flag("--remove", alias_remove, "remove it (it stays reserved for the address lock period)");
  auto* secret_check = acct->add_subcommand("check-secret",
                                            "check what a caller says against their account secret (read from stdin)");
  secret_check->add_option("address", address)->required();
  auto* org_agreement = org->add_subcommand("sharing-agreement", "approve or withdraw bulk directory export");
  bool agree_on = false, agree_off = false;
  org_agreement->add_option("--ods", ods, "ODS code")->required();
  auto* agree_flag = org_agreement->add_flag("--approve", agree_on, "approve");
  org_agreement->add_flag("--withdraw", agree_off, "withdraw")->excludes(agree_flag);
  auto* org_close = org->add_subcommand("close", "close or merge an organisation into its successor");
  std::string successor;
  org_close->add_option("--ods", ods, "the organisation closing")->required();
  org_close->add_option("--successor", successor, "the organisation taking over its accounts and domains")->required();
  auto* org_allowance = org->add_subcommand("quota-allowance", "how many mailboxes may have a larger quota");
  int64_t allowance = 0;
  org_allowance->add_option("--ods", ods, "ODS code")->required();
  org_allowance->add_option("accounts", allowance, "number of mailboxes")->required();

  // Directory contacts and distribution lists of an organisation (its administrators).
  auto* contact = app.add_subcommand("contact", "directory contacts: people outside the service an organisation lists")
                      ->require_subcommand(1);
  auto* contact_list = contact->add_subcommand("list", "an organisation's directory contacts");
  contact_list->add_option("--ods", ods, "ODS code")->required();
  auto* contact_add = contact->add_subcommand("add", "list someone outside the service in the directory");
  std::vector<std::pair<const char*, std::string>> contact_fields = {
      {"title", ""}, {"given_name", ""}, {"surname", ""}, {"job_role", ""}, {"speciality", ""}, {"work_area", ""},
      {"unit", ""},  {"site", ""},       {"telephone", ""}, {"mobile", ""}, {"pager", ""},      {"fax", ""},
      {"notes", ""}};
  bool contact_hidden = false, contact_mobile_hidden = false;
  contact_add->add_option("--ods", ods, "ODS code")->required();
  contact_add->add_option("--address", address, "their email address (outside the service)")->required();
  contact_add->add_option("--name", display, "display name")->required();
  for (auto& [field, value] : contact_fields) {
    std::string opt = std::string("--") + field;
    for (char& ch : opt)
      if (ch == '_') ch = '-';
    contact_add->add_option(opt, value, field);
  }
  contact_add->add_flag("--hidden", contact_hidden, "only the organisation's administrators see the entry");
  contact_add->add_flag("--mobile-hidden", contact_mobile_hidden, "only they see the mobile number");
  auto* contact_remove = contact->add_subcommand("remove", "remove a directory contact");
  uint64_t contact_id = 0;
  contact_remove->add_option("--ods", ods, "ODS code")->required();
  contact_remove->add_option("id", contact_id, "the contact's id (from 'contact list')")->required();

  auto* dlist = app.add_subcommand("list", "distribution lists")->require_subcommand(1);
  auto* dlist_list = dlist->add_subcommand("list", "an organisation's distribution lists");
  dlist_list->add_option("--ods", ods, "ODS code")->required();
  auto* dlist_show = dlist->add_subcommand("show", "one list and its members");
  dlist_show->add_option("--ods", ods, "ODS code")->required();
  dlist_show->add_option("address", address)->required();
  auto* dlist_create = dlist->add_subcommand("create", "create a distribution list");
  std::string senders;
  std::vector<std::string> members;
  bool dlist_hidden = false;
  dlist_create->add_option("--ods", ods, "ODS code")->required();
  dlist_create->add_option("--address", address, "in one of the organisation's domains")->required();
  dlist_create->add_option("--name", display, "display name")->required();
  dlist_create->add_option("--senders", senders, "who may send: anyone, service (default) or members");
  dlist_create->add_option("--member", members, "a member's address (repeatable)");
  dlist_create->add_flag("--hidden", dlist_hidden, "not in the directory");
  auto* dlist_set = dlist->add_subcommand("set", "change a list's name, senders or visibility");
  std::string dlist_name;
  bool dlist_hide = false, dlist_show_flag = false;
  dlist_set->add_option("--ods", ods, "ODS code")->required();
  dlist_set->add_option("address", address)->required();
  dlist_set->add_option("--name", dlist_name, "display name");
  dlist_set->add_option("--senders", senders, "who may send: anyone, service or members");
  auto* hide_flag = dlist_set->add_flag("--hidden", dlist_hide, "hide it from the directory");
  dlist_set->add_flag("--listed", dlist_show_flag, "list it in the directory")->excludes(hide_flag);
  auto* dlist_delete = dlist->add_subcommand("delete", "delete a list (its address is retired like an alias)");
  dlist_delete->add_option("--ods", ods, "ODS code")->required();
  dlist_delete->add_option("address", address)->required();
  auto* dlist_member = dlist->add_subcommand("member", "add or remove a member");
  std::string member;
  bool member_remove = false;
  dlist_member->add_option("--ods", ods, "ODS code")->required();
  dlist_member->add_option("address", address, "the list")->required();
  dlist_member->add_option("member", member, "the member's address")->required();
  dlist_member->add_flag("--remove", member_remove, "remove instead of adding");

  auto* deliver = app.add_subcommand("deliver", "inject a message file for local recipients (operators)");
  std::vector<std::string> to;
  deliver->add_option("--to", to, "recipient (repeatable)")->required();
  deliver->add_option("file", file, "RFC 5322 message file, - for standard input")->required();

  auto* queue = app.add_subcommand("queue", "the outbound queue (operators)")->require_subcommand(1);
  auto* queue_list = queue->add_subcommand("list", "messages waiting for other domains");

  auto* audit = app.add_subcommand("audit", "read the audit log");
  int64_t after = 0, limit = 100;
  audit->add_option("--after", after, "events after this id");
  audit->add_option("--limit", limit, "at most this many");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);  // prints the usage or the error
    return rc == 0 ? kExitOk : kExitUsage;
  }

  Client c;
  if (url.empty()) {
    std::ifstream pf(data_dir + "/run/ports.json");
    if (!pf) {
      std::cerr << "caremailctl: caremaild does not seem to run (no " << data_dir
                << "/run/ports.json); start it with 'make run' or pass --url\n";
      return kExitUsage;
    }
    std::stringstream ss;
    ss << pf.rdbuf();
    boost::system::error_code ec;
    auto v = json::parse(ss.str(), ec);
    if (ec || !v.is_object() || !v.as_object().contains("http")) {
      std::cerr << "caremailctl: cannot read " << data_dir << "/run/ports.json\n";
      return kExitUsage;
    }
    c.port = std::to_string(v.at("http").as_int64());
  } else {
    auto u = boost::urls::parse_uri(url);
    if (!u || u->scheme() != "http") {
      std::cerr << "caremailctl: --url must look like http://127.0.0.1:8080\n";
      return kExitUsage;
    }
    c.host = u->host();
    c.port = u->port().empty() ? "80" : std::string(u->port());
  }
  if (token.empty()) {
    std::ifstream tf(token_file.empty() ? data_dir + "/admin.token" : token_file);
    std::getline(tf, token);
    if (token.empty()) {
      std::cerr << "caremailctl: no API token: pass --token, set CAREMAIL_TOKEN, or use --token-file\n";
      return kExitUsage;
    }
  }

  c.token = token;
  try {
    if (*org_create) {
      json::array d;
      for (auto& x : domains) d.emplace_back(x);
      json::object body{{"ods_code", ods}, {"name", name}, {"short_name", short_name}, {"domains", d}};
      return report(c.call(http::verb::post, "/api/v1/organisations", json::serialize(body)), raw,
                    [](const json::value& v) { std::cout << "created " << s(v, "ods_code") << " (" << s(v, "name") << ")\n"; });
    }
    if (*org_list) {
      return report(c.call(http::verb::get, "/api/v1/organisations", ""), raw, [](const json::value& v) {
        Table t({"ODS", "NAME", "DOMAINS"});
        for (auto& o : v.at("organisations").as_array()) t.add({s(o, "ods_code"), s(o, "name"), joined(o, "domains")});
        t.print();
      });
    }
    if (*acct_create) {
      json::array r;
      for (auto& x : roles) r.emplace_back(x);
      json::object body{{"address", address}, {"ods_code", ods}, {"display_name", display}, {"kind", kind}};
      if (!roles.empty()) body["roles"] = r;
      if (quota_bytes >= 0) body["quota_bytes"] = quota_bytes;
      if (password_stdin) body["password"] = read_secret("Password: ");
      return report(c.call(http::verb::post, "/api/v1/accounts", json::serialize(body)), raw,
                    [](const json::value& v) { std::cout << "created " << s(v, "address") << "\n"; });
    }
    if (*acct_list) {
      std::string target = "/api/v1/accounts";
      if (!ods.empty()) target += "?ods_code=" + url_encode(ods);
      return report(c.call(http::verb::get, target, ""), raw, [](const json::value& v) {
        Table t({"ADDRESS", "ODS", "KIND", "STATE", "ROLES"});
        for (auto& a : v.at("accounts").as_array())
          t.add({s(a, "address"), s(a, "ods_code"), s(a, "kind"), s(a, "state"), joined(a, "roles")});
        t.print();
      });
    }
    if (*acct_show) {
      return report(c.call(http::verb::get, "/api/v1/accounts/" + url_encode(address), ""), true, nullptr);
    }
    if (*acct_sending) {
      if (resume == suspend) {
        std::cerr << "caremailctl: say --resume or --suspend\n";
        return kExitUsage;
      }
      json::object body{{"suspended", suspend}};
      return report(c.call(http::verb::put, "/api/v1/accounts/" + url_encode(address) + "/sending",
                           json::serialize(body)),
                    raw, [&](const json::value&) {
                      std::cout << "sending " << (suspend ? "suspended" : "resumed") << " for " << address << "\n";
                    });
    }
    if (*acct_mfa_reset) {
      return report(c.call(http::verb::delete_, "/api/v1/accounts/" + url_encode(address) + "/mfa", ""), raw,
                    [&](const json::value&) { std::cout << "second factor removed for " << address << "\n"; });
    }
    if (*org_mfa) {
      if (mfa_on == mfa_off) {
        std::cerr << "caremailctl: say --require or --no-require\n";
        return kExitUsage;
      }
      json::array nets;
      for (auto& n : trusted) nets.emplace_back(n);
      json::object body{{"required", mfa_on}, {"trusted_networks", nets}};
      return report(c.call(http::verb::put, "/api/v1/organisations/" + url_encode(ods) + "/mfa", json::serialize(body)),
                    raw, [&](const json::value&) {
                      std::cout << ods << ": MFA " << (mfa_on ? "required of everyone" : "required of administrators")
                                << "\n";
                    });
    }
    for (auto& a : state_actions)
      if (*a.cmd) {
        bool del = *a.path == 0;
        return report(c.call(del ? http::verb::delete_ : http::verb::post,
                             "/api/v1/accounts/" + url_encode(address) + a.path, ""),
                      raw, [&](const json::value&) { std::cout << address << " " << a.done << "\n"; });
      }
    if (*alias_cmd) {
      if (alias_remove)
        return report(c.call(http::verb::delete_,
                             "/api/v1/accounts/" + url_encode(address) + "/aliases/" + url_encode(alias), ""),
                      raw, [&](const json::value&) { std::cout << "alias " << alias << " removed\n"; });
      json::object body{{"alias", alias}};
      return report(c.call(http::verb::post, "/api/v1/accounts/" + url_encode(address) + "/aliases",
                           json::serialize(body)),
                    raw, [&](const json::value&) { std::cout << "alias " << alias << " added to " << address << "\n"; });
    }
    if (*secret_check) {
      std::string secret;
      std::getline(std::cin, secret);
      json::object body{{"secret", secret}};
      return report(c.call(http::verb::post, "/api/v1/accounts/" + url_encode(address) + "/account-secret/check",
                           json::serialize(body)),
                    raw, [&](const json::value& v) {
                      std::cout << (v.at("match").as_bool() ? "match" : "no match") << "\n";
                    });
    }
    if (*org_agreement) {
      if (agree_on == agree_off) {
        std::cerr << "caremailctl: say --approve or --withdraw\n";
        return kExitUsage;
      }
      json::object body{{"approved", agree_on}};
      return report(c.call(http::verb::put, "/api/v1/organisations/" + url_encode(ods) + "/sharing-agreement",
                           json::serialize(body)),
                    raw, [&](const json::value&) {
                      std::cout << ods << ": sharing agreement " << (agree_on ? "approved" : "withdrawn") << "\n";
                    });
    }
    if (*acct_claim) {
      json::object body;
      if (!ods.empty()) body["ods_code"] = ods;
      return report(c.call(http::verb::post, "/api/v1/accounts/" + url_encode(address) + "/claim", json::serialize(body)),
                    raw, [&](const json::value& v) {
                      std::cout << address << " joined " << s(v, "ods_code") << "\n";
                    });
    }
    if (*acct_roles) {
      json::array roles;
      for (auto& r : roles_set) roles.emplace_back(r);
      json::object body{{"roles", roles}};
      return report(c.call(http::verb::put, "/api/v1/accounts/" + url_encode(address) + "/roles", json::serialize(body)),
                    raw, [&](const json::value&) { std::cout << "roles set for " << address << "\n"; });
    }
    if (*acct_hold) {
      if (hold_on == hold_off) {
        std::cerr << "caremailctl: say --on or --off\n";
        return kExitUsage;
      }
      json::object body{{"hold", hold_on}};
      return report(c.call(http::verb::put, "/api/v1/accounts/" + url_encode(address) + "/legal-hold",
                           json::serialize(body)),
                    raw, [&](const json::value&) {
                      std::cout << "legal hold " << (hold_on ? "placed on " : "lifted from ") << address << "\n";
                    });
    }
    if (*quota_set) {
      json::object body{{"bytes", new_quota}};
      return report(c.call(http::verb::put, "/api/v1/accounts/" + url_encode(address) + "/quota", json::serialize(body)),
                    raw, [&](const json::value&) { std::cout << "quota of " << address << " set\n"; });
    }
    if (*org_close) {
      json::object body{{"successor", successor}};
      return report(c.call(http::verb::post, "/api/v1/organisations/" + url_encode(ods) + "/close", json::serialize(body)),
                    raw, [&](const json::value&) { std::cout << ods << " closed; accounts moved to " << successor << "\n"; });
    }
    if (*org_allowance) {
      json::object body{{"accounts", allowance}};
      return report(c.call(http::verb::put, "/api/v1/organisations/" + url_encode(ods) + "/quota-allowance",
                           json::serialize(body)),
                    raw, [&](const json::value&) {
                      std::cout << ods << " may give " << allowance << " mailboxes a larger quota\n";
                    });
    }
    if (*acct_unlock) {
      return report(c.call(http::verb::post, "/api/v1/accounts/" + url_encode(address) + "/unlock", ""), raw,
                    [&](const json::value&) { std::cout << "unlocked " << address << "\n"; });
    }
    if (*acct_failures) {
      return report(c.call(http::verb::get, "/api/v1/accounts/" + url_encode(address) + "/auth-failures", ""), raw,
                    [](const json::value& v) {
                      Table t({"AT", "PROTOCOL", "PEER", "CLIENT", "REASON"});
                      for (auto& f : v.at("failures").as_array())
                        t.add({when(f, "at"), s(f, "protocol"), s(f, "peer"), s(f, "client"), s(f, "reason")});
                      t.print();
                    });
    }
    if (*app_list) {
      return report(c.call(http::verb::get, "/api/v1/accounts/" + url_encode(address) + "/app-passwords", ""), raw,
                    [](const json::value& v) {
                      Table t({"ID", "NAME", "CREATED", "LAST USED", "BY", "FROM"});
                      for (auto& a : v.at("app_passwords").as_array())
                        t.add({s(a, "id"), s(a, "name"), when(a, "created_at"), when(a, "last_used_at"),
                               s(a, "last_used_protocol"), s(a, "last_used_peer")});
                      t.print();
                    });
    }
    if (*app_revoke) {
      return report(c.call(http::verb::delete_,
                           "/api/v1/accounts/" + url_encode(address) + "/app-passwords/" + std::to_string(app_id), ""),
                    raw, [&](const json::value&) { std::cout << "revoked app password " << app_id << "\n"; });
    }
    if (*aup_show) {
      return report(c.call(http::verb::get, "/api/v1/aup", ""), raw, [](const json::value& v) {
        std::cout << "version " << s(v, "version") << "\n\n" << s(v, "text") << "\n";
      });
    }
    if (*aup_publish) {
      std::stringstream ss;
      if (file == "-") {
        ss << std::cin.rdbuf();
      } else {
        std::ifstream in(file, std::ios::binary);
        if (!in) {
          std::cerr << "caremailctl: cannot read " << file << "\n";
          return kExitUsage;
        }
        ss << in.rdbuf();
      }
      json::object body{{"text", ss.str()}};
      return report(c.call(http::verb::post, "/api/v1/aup", json::serialize(body)), raw,
                    [](const json::value& v) { std::cout << "published version " << s(v, "version") << "\n"; });
    }
    if (*tok_issue) {
      json::object body{{"name", token_name}};
      return report(c.call(http::verb::post, "/api/v1/tokens", json::serialize(body)), raw, [](const json::value& v) {
        std::cout << s(v, "token") << "\n";
        std::cerr << "token " << s(v, "id") << " expires at " << when(v, "expires_at") << " (shown once)\n";
      });
    }
    if (*tok_list) {
      return report(c.call(http::verb::get, "/api/v1/accounts/" + url_encode(address) + "/tokens", ""), raw,
                    [](const json::value& v) {
                      Table table({"ID", "NAME", "CREATED", "EXPIRES", "LAST USED"});
                      for (auto& t : v.at("tokens").as_array())
                        table.add({s(t, "id"), s(t, "name"), when(t, "created_at"),
                                   when(t, "expires_at") + (s(t, "expired") == "true" ? " (expired)" : ""),
                                   when(t, "last_used_at")});
                      table.print();
                    });
    }
    if (*tok_revoke) {
      return report(c.call(http::verb::delete_,
                           "/api/v1/accounts/" + url_encode(address) + "/tokens/" + std::to_string(token_id), ""),
                    raw, [&](const json::value&) { std::cout << "revoked API token " << token_id << "\n"; });
    }
    if (*pw_set) {
      json::object body;
      if (pw_current) body["current_password"] = read_secret("Current password: ");
      std::string p = read_secret("New password: ");
      body["password"] = p;
      if (pw_keep_apps) body["keep_app_passwords"] = true;
      return report(c.call(http::verb::put, "/api/v1/accounts/" + url_encode(address) + "/password",
                           json::serialize(body)),
                    raw, [&](const json::value&) { std::cout << "password set for " << address << "\n"; });
    }
    if (*quota_show) {
      return report(c.call(http::verb::get, "/api/v1/accounts/" + url_encode(address) + "/quota", ""), raw,
                    [](const json::value& v) {
                      std::cout << s(v, "address") << ": " << s(v, "used_bytes") << " of " << s(v, "limit_bytes")
                                << " bytes, " << s(v, "messages") << " messages\n";
                    });
    }
    if (*contact_list) {
      return report(c.call(http::verb::get, "/api/v1/organisations/" + url_encode(ods) + "/contacts", ""), raw,
                    [](const json::value& v) {
                      Table t({"ID", "ADDRESS", "NAME", "JOB ROLE"});
                      for (auto& e : v.at("contacts").as_array())
                        t.add({s(e, "id"), s(e, "address"), s(e, "display_name"), s(e, "job_role")});
                      t.print();
                    });
    }
    if (*contact_add) {
      json::object body{{"address", address}, {"display_name", display}};
      for (auto& [field, value] : contact_fields)
        if (!value.empty()) body[field] = value;
      if (contact_hidden) body["hidden"] = true;
      if (contact_mobile_hidden) body["mobile_hidden"] = true;
      return report(c.call(http::verb::post, "/api/v1/organisations/" + url_encode(ods) + "/contacts",
                           json::serialize(body)),
                    raw, [](const json::value& v) {
                      std::cout << "contact " << s(v, "id") << " " << s(v, "address") << " added\n";
                    });
    }
    if (*contact_remove) {
      return report(c.call(http::verb::delete_,
                           "/api/v1/organisations/" + url_encode(ods) + "/contacts/" + std::to_string(contact_id), ""),
                    raw, [&](const json::value&) { std::cout << "contact " << contact_id << " removed\n"; });
    }
    auto list_row = [](Table& t, const json::value& l) {
      t.add({s(l, "address"), s(l, "display_name"), s(l, "senders"), l.at("hidden").as_bool() ? "hidden" : "listed",
             std::to_string(l.at("members").as_array().size())});
    };
    auto print_list = [&](const json::value& l) {
      Table t({"ADDRESS", "NAME", "SENDERS", "DIRECTORY", "MEMBERS"});
      list_row(t, l);
      t.print();
    };
    if (*dlist_list) {
      return report(c.call(http::verb::get, "/api/v1/organisations/" + url_encode(ods) + "/lists", ""), raw,
                    [&](const json::value& v) {
                      Table t({"ADDRESS", "NAME", "SENDERS", "DIRECTORY", "MEMBERS"});
                      for (auto& l : v.at("lists").as_array()) list_row(t, l);
                      t.print();
                    });
    }
    if (*dlist_show) {
      return report(c.call(http::verb::get,
                           "/api/v1/organisations/" + url_encode(ods) + "/lists/" + url_encode(address), ""),
                    raw, [&](const json::value& v) {
                      print_list(v);
                      Table t({"MEMBER"});
                      for (auto& m : v.at("members").as_array()) t.add({std::string(m.as_string())});
                      std::cout << "\n";
                      t.print();
                    });
    }
    if (*dlist_create) {
      json::array m;
      for (auto& x : members) m.emplace_back(x);
      json::object body{{"address", address}, {"display_name", display}, {"members", m}, {"hidden", dlist_hidden}};
      if (!senders.empty()) body["senders"] = senders;
      return report(c.call(http::verb::post, "/api/v1/organisations/" + url_encode(ods) + "/lists",
                           json::serialize(body)),
                    raw, [&](const json::value& v) {
                      std::cout << "created " << s(v, "address") << "\n";
                    });
    }
    if (*dlist_set) {
      json::object body;
      if (!dlist_name.empty()) body["display_name"] = dlist_name;
      if (!senders.empty()) body["senders"] = senders;
      if (dlist_hide || dlist_show_flag) body["hidden"] = dlist_hide;
      if (body.empty()) {
        std::cerr << "caremailctl: say what to change: --name, --senders, --hidden or --listed\n";
        return kExitUsage;
      }
      return report(c.call(http::verb::put, "/api/v1/organisations/" + url_encode(ods) + "/lists/" + url_encode(address),
                           json::serialize(body)),
                    raw, [&](const json::value& v) {
                      std::cout << "list " << s(v, "address") << " changed\n";
                      print_list(v);
                    });
    }
    if (*dlist_delete) {
      return report(c.call(http::verb::delete_,
                           "/api/v1/organisations/" + url_encode(ods) + "/lists/" + url_encode(address), ""),
                    raw, [&](const json::value&) { std::cout << "list " << address << " deleted\n"; });
    }
    if (*dlist_member) {
      return report(c.call(member_remove ? http::verb::delete_ : http::verb::put,
                           "/api/v1/organisations/" + url_encode(ods) + "/lists/" + url_encode(address) + "/members/" +
                               url_encode(member),
                           ""),
                    raw, [&](const json::value&) {
                      std::cout << member << (member_remove ? " removed from " : " added to ") << address << "\n";
                    });
    }
    if (*deliver) {
      std::string data;
      if (file == "-") {
        std::stringstream ss;
        ss << std::cin.rdbuf();
        data = ss.str();
      } else {
        std::ifstream in(file, std::ios::binary);
        if (!in) {
          std::cerr << "caremailctl: cannot read " << file << "\n";
          return kExitUsage;
        }
        std::stringstream ss;
        ss << in.rdbuf();
        data = ss.str();
      }
      std::string target = "/api/v1/deliver?";
      for (size_t i = 0; i < to.size(); ++i) target += (i ? "&to=" : "to=") + url_encode(to[i]);
      return report(c.call(http::verb::post, target, data, "message/rfc822"), raw, [](const json::value& v) {
        for (auto& r : v.at("recipients").as_array())
          std::cout << s(r, "address") << ": "
                    << (r.at("delivered").as_bool() ? "delivered, uid " + s(r, "uid") : s(r, "detail")) << "\n";
      });
    }
    if (*queue_list) {
      return report(c.call(http::verb::get, "/api/v1/queue", ""), raw, [](const json::value& v) {
        Table t({"QUEUE ID", "SENDER", "RECIPIENT", "ATTEMPTS", "NEXT ATTEMPT", "LAST ERROR"});
        for (auto& e : v.at("queue").as_array())
          t.add({s(e, "queue_id"), s(e, "sender"), s(e, "recipient"), s(e, "attempts"), when(e, "next_attempt_at"),
                 s(e, "last_error")});
        t.print();
      });
    }
    if (*audit) {
      return report(c.call(http::verb::get,
                           "/api/v1/audit?after=" + std::to_string(after) + "&limit=" + std::to_string(limit), ""),
                    raw, [](const json::value& v) {
                      Table t({"ID", "AT", "ACTOR", "ACTION", "TARGET", "OUTCOME"});
                      for (auto& e : v.at("events").as_array())
                        t.add({s(e, "id"), when(e, "at"), s(e, "actor"), s(e, "action"), s(e, "target"),
                               s(e, "outcome")});
                      t.print();
                    });
    }
  } catch (const std::exception& e) {
    std::cerr << "caremailctl: cannot reach caremaild at " << c.host << ":" << c.port << ": " << e.what() << "\n";
    return kExitUsage;
  }
  return kExitOk;
}

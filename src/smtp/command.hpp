// SMTP command-line parser: one line in, a typed Command or the exact error reply out.
//
// SECURITY: this runs before authentication on every byte a peer sends in command mode. It
// does no I/O, touches no store, allocates at most a few copies of the (bounded) line, and
// never trusts a length or count the peer sent: every field is checked against
// CommandLimits before it is used. Anything it does not understand becomes a CommandError
// carrying the reply to send; it never asserts or throws on peer input.
//
// Grammar (RFC 5321 §4.1, with RFC 1870 SIZE, 6152 8BITMIME, 3030 BDAT/BINARYMIME,
// 3461 DSN, 4954 AUTH, 6531 SMTPUTF8):
//   ehlo  = ("EHLO" / "HELO") SP ( Domain / address-literal )
//   mail  = "MAIL FROM:" *SP ( "<>" / Path ) *( SP mail-param )
//   rcpt  = "RCPT TO:" *SP ( "<Postmaster>" / Path ) *( SP rcpt-param )
//   Path  = "<" [ A-d-l ":" ] Mailbox ">"        ; A-d-l (source route) parsed, ignored
//   mail-param = "SIZE=" 1*20DIGIT / "BODY=" ("7BIT" / "8BITMIME" / "BINARYMIME")
//              / "SMTPUTF8" / "RET=" ("FULL" / "HDRS") / "ENVID=" xtext
//              / "AUTH=" ( xtext / "<>" )
//   rcpt-param = "NOTIFY=" ( "NEVER" / 1#( "SUCCESS" / "FAILURE" / "DELAY" ) )
//              / "ORCPT=" addr-type ";" xtext
//   bdat  = "BDAT" SP 1*20DIGIT [ SP "LAST" ]
//   auth  = "AUTH" SP mechanism [ SP ( base64 / "=" ) ]
//   other = "DATA" / "RSET" / "QUIT" / "STARTTLS" / "NOOP" [ SP text ] / "HELP" [ SP text ]
//         / "VRFY" SP text / "EXPN" SP text
// Verbs, "FROM:", "TO:", parameter keywords and their enumerated values are
// case-insensitive. Trailing spaces are ignored; spaces after "FROM:"/"TO:" are tolerated
// (common in the wild), but the angle brackets are required.
//
// Thread-safety: pure functions, no shared state.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "smtp/reply.hpp"

namespace caremail::smtp {

// Every limit bounds what one hostile command line can make us hold or look at.
struct CommandLimits {
  // Octets of one command line without its CRLF. RFC 5321 §4.5.3.1.4 says 512 including
  // CRLF, but each SMTP extension may raise it (RFC 1869) and DSN's ORCPT (up to 500
  // octets) plus ENVID (100) plus a 256-octet path already pass 512; 2048 covers every
  // legitimate combination while keeping one line cheap. (AUTH lines with long initial
  // responses, up to 12288 per RFC 4954, matter only for GSSAPI, which we do not offer.)
  // The session's line reader must stop reading at this length too.
  size_t max_line = 2048;
  // Octets of a reverse- or forward-path from '<' to '>' inclusive (RFC 5321 §4.5.3.1.3).
  size_t max_path = 256;
  // Octets of a local part (RFC 5321 §4.5.3.1.1); longer ones cannot be ours and are
  // rejected before being copied.
  size_t max_local_part = 64;
  // Octets of a domain (RFC 5321 §4.5.3.1.2) in a path or in EHLO/HELO.
  size_t max_domain = 255;
};

enum class Verb { ehlo, helo, mail, rcpt, data, bdat, rset, noop, quit, vrfy, expn, help,
                  starttls, auth };

// Upper-case name of the verb ("EHLO").
std::string_view to_string(Verb v) noexcept;

// A reverse- or forward-path. Strings are exactly as the client wrote them (no case folding,
// no unquoting): compare domains case-insensitively, and use local_value() for the local
// part's meaning.
struct Path {
  enum class Kind {
    null,        // "<>" (MAIL only: bounces)
    postmaster,  // "<Postmaster>" with no domain (RCPT only; RFC 5321 §4.1.1.3)
    mailbox,     // local@domain
  };
  Kind kind = Kind::null;
  std::string local;    // `user.name`, `"john doe"` (quotes and backslashes kept)
  std::string domain;   // `example.org`, `[192.0.2.1]`, `[IPv6:2001:db8::1]`; empty unless mailbox
  bool quoted_local = false;    // local was a Quoted-string
  bool literal_domain = false;  // domain is an address literal
  bool utf8 = false;            // local or domain holds non-ASCII (only with SMTPUTF8)

  // "local@domain" as written; "" for <>; the local part alone for <Postmaster>.
  std::string address() const;
  // The local part with the quotes and quoted-pair backslashes removed
  // (`"john\ doe"` -> `john doe`); unchanged when not quoted.
  std::string local_value() const;
};

enum class Body { unspecified, seven_bit, eight_bit_mime, binary_mime };
enum class Ret { unspecified, full, hdrs };

struct MailParams {
  std::optional<uint64_t> size;       // SIZE=; values past 2^64-1 saturate (still "too big")
  Body body = Body::unspecified;      // BODY=
  bool smtputf8 = false;              // SMTPUTF8
  Ret ret = Ret::unspecified;         // RET=
  std::optional<std::string> envid;   // ENVID=, xtext-decoded: printable ASCII, <= 100 octets
  std::optional<std::string> auth;    // AUTH=, xtext-decoded; "<>" when the client sent AUTH=<>
};

struct Notify {
  bool given = false;  // NOTIFY= present
  bool never = false;  // exclusive with the three below
  bool success = false;
  bool failure = false;
  bool delay = false;
};

struct Orcpt {
  std::string addr_type;  // as written, e.g. "rfc822" or "utf-8" (compare case-insensitively)
  std::string address;    // xtext-decoded; raw UTF-8 allowed only with SMTPUTF8 and "utf-8"
};

struct RcptParams {
  Notify notify;               // NOTIFY=
  std::optional<Orcpt> orcpt;  // ORCPT=
};

// A parsed command. Only the members named for its verb are meaningful; others stay default.
struct Command {
  Verb verb = Verb::noop;
  std::string domain;          // EHLO/HELO: domain or address literal (with brackets) as written
  Path path;                   // MAIL (reverse-path), RCPT (forward-path)
  MailParams mail;             // MAIL
  RcptParams rcpt;             // RCPT
  uint64_t chunk_size = 0;     // BDAT
  bool last = false;           // BDAT ... LAST
  std::string mechanism;       // AUTH, upper-cased ("PLAIN")
  std::optional<std::string> initial_response;  // AUTH: base64 text as sent, or "="
  std::string argument;        // VRFY, EXPN, HELP, NOOP: the rest of the line, trimmed
};

// The reply to send for a line that failed to parse. Codes (see command_test.cpp):
//   500 5.5.6 line too long           500 5.5.2 unknown verb, empty line, control bytes
//   501 5.5.4 syntax (names what)     501 5.1.7 bad sender address   501 5.1.3 bad recipient
//   555 5.5.4 unknown/misplaced MAIL or RCPT parameter
//   553 5.6.7 non-ASCII address without SMTPUTF8
//   501 5.5.2 AUTH initial response is not base64
struct CommandError {
  int code = 500;
  std::string enhanced;
  std::string text;
  // Set when the stream can no longer be trusted, so the session should send this reply
  // and close: a BDAT line we could not parse (we cannot know how many octets follow),
  // or an HTTP verb (GET, POST, CONNECT...: a browser or proxy tricked into talking to us).
  bool close_connection = false;

  Reply reply() const { return Reply{code, enhanced, text}; }
};

// Either a Command or a CommandError; the same accessors as common/result.hpp's Result.
class [[nodiscard]] CommandResult {
 public:
  CommandResult(Command c) : v_(std::in_place_index<0>, std::move(c)) {}        // NOLINT
  CommandResult(CommandError e) : v_(std::in_place_index<1>, std::move(e)) {}  // NOLINT

  bool ok() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }
  Command& value() & { return std::get<0>(v_); }
  const Command& value() const& { return std::get<0>(v_); }
  Command&& value() && { return std::get<0>(std::move(v_)); }
  Command* operator->() { return &value(); }
  const Command* operator->() const { return &value(); }
  const CommandError& error() const { return std::get<1>(v_); }

 private:
  std::variant<Command, CommandError> v_;
};

// Parses one command line, `line` without its CRLF.
// `utf8_allowed`: the transaction's MAIL carried SMTPUTF8, so RCPT paths (and the ORCPT of
// type utf-8) may hold UTF-8. For MAIL itself it is ignored: the MAIL line's own SMTPUTF8
// parameter decides. Whether an extension was offered at all (SMTPUTF8, DSN, CHUNKING...)
// is for the session to check against the parsed parameters.
CommandResult parse_command(std::string_view line, const CommandLimits& limits,
                            bool utf8_allowed = false);

// RFC 3461 §4 xtext. Decoding accepts "+HH" with upper- or lower-case hex, rejects a bare
// '+' or '=', control bytes and space; bytes >= 0x80 only when `allow_utf8` (RFC 6533
// unitext; the caller checks it is valid UTF-8). Returns nullopt when malformed.
std::optional<std::string> xtext_decode(std::string_view in, bool allow_utf8 = false);
// Encodes every byte outside '!'..'~', and '+' and '=', as "+HH" (upper-case hex).
std::string xtext_encode(std::string_view in);

}  // namespace caremail::smtp

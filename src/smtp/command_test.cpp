// Tables for the SMTP command parser (command.hpp) and reply formatting (reply.hpp).
#include "smtp/command.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "smtp/reply.hpp"

namespace caremail::smtp {
namespace {

const CommandLimits kLimits;

Command ok(std::string_view line, bool utf8 = false) {
  auto r = parse_command(line, kLimits, utf8);
  EXPECT_TRUE(r.ok()) << "line: " << line << " -> "
                      << (r.ok() ? std::string() : format_reply(r.error().reply()));
  return r.ok() ? r.value() : Command{};
}

// ---- every verb, case-insensitive ------------------------------------------------------

struct VerbCase {
  const char* line;
  Verb verb;
};

TEST(SmtpCommand, EveryVerbAnyCase) {
  const VerbCase cases[] = {
      {"EHLO mail.example.org", Verb::ehlo},   {"ehlo mail.example.org", Verb::ehlo},
      {"HELO mail.example.org", Verb::helo},   {"hElO x", Verb::helo},
      {"MAIL FROM:<a@example.org>", Verb::mail}, {"mail from:<a@example.org>", Verb::mail},
      {"RCPT TO:<b@example.org>", Verb::rcpt},  {"Rcpt To:<b@example.org>", Verb::rcpt},
      {"DATA", Verb::data},                    {"data", Verb::data},
      {"BDAT 10", Verb::bdat},                 {"bdat 0 last", Verb::bdat},
      {"RSET", Verb::rset},                    {"rset", Verb::rset},
      {"NOOP", Verb::noop},                    {"noop anything at all", Verb::noop},
      {"QUIT", Verb::quit},                    {"Quit", Verb::quit},
      {"VRFY postmaster", Verb::vrfy},         {"vrfy x", Verb::vrfy},
      {"EXPN list", Verb::expn},               {"HELP", Verb::help},
      {"help mail", Verb::help},               {"STARTTLS", Verb::starttls},
      {"starttls", Verb::starttls},            {"AUTH PLAIN", Verb::auth},
      {"auth login", Verb::auth},              {"DATA   ", Verb::data},  // trailing spaces
  };
  for (const VerbCase& c : cases) {
    SCOPED_TRACE(c.line);
    EXPECT_EQ(ok(c.line).verb, c.verb);
  }
  EXPECT_EQ(to_string(Verb::starttls), "STARTTLS");
  EXPECT_EQ(to_string(Verb::mail), "MAIL");
}

// ---- every error: exact code, enhanced code, and what the text names -------------------

struct ErrorCase {
  std::string line;
  bool utf8;
  int code;
  const char* enhanced;
  const char* text_has;
  bool close = false;
};

TEST(SmtpCommand, ErrorReplies) {
  const std::string long_line = "NOOP " + std::string(2044, 'x');  // 2049 octets
  const std::vector<ErrorCase> cases = {
      // line level
      {long_line, false, 500, "5.5.6", "Line too long"},
      {"", false, 500, "5.5.2", "Empty"},
      {"   ", false, 500, "5.5.2", "Empty"},
      {"FOO bar", false, 500, "5.5.2", "not recognized"},
      {"MAILFROM:<a@b.c>", false, 500, "5.5.2", "not recognized"},
      {"EHLO\tx", false, 500, "5.5.2", "Control"},
      {std::string("NOOP a\0b", 8), false, 500, "5.5.2", "Control"},
      {"NOOP a\rb", false, 500, "5.5.2", "Control"},
      {"NOOP a\nb", false, 500, "5.5.2", "Control"},
      {"NOOP \x7f", false, 500, "5.5.2", "Control"},
      {"GET / HTTP/1.1", false, 500, "5.5.2", "HTTP", true},
      {"post /x HTTP/1.0", false, 500, "5.5.2", "HTTP", true},
      {"CONNECT a:25 HTTP/1.1", false, 500, "5.5.2", "HTTP", true},
      // verbs that take no argument
      {"DATA x", false, 501, "5.5.4", "Syntax: DATA"},
      {"RSET now", false, 501, "5.5.4", "Syntax: RSET"},
      {"QUIT please", false, 501, "5.5.4", "Syntax: QUIT"},
      {"STARTTLS x", false, 501, "5.5.4", "Syntax: STARTTLS"},
      {"VRFY", false, 501, "5.5.4", "Syntax: VRFY"},
      {"EXPN", false, 501, "5.5.4", "Syntax: EXPN"},
      {"VRFY \xff", false, 501, "5.5.4", "UTF-8"},
      // EHLO/HELO
      {"EHLO", false, 501, "5.5.4", "Syntax: EHLO hostname"},
      {"HELO", false, 501, "5.5.4", "Syntax: HELO hostname"},
      {"EHLO a b", false, 501, "5.5.4", "Syntax: EHLO"},
      {"EHLO -bad.example", false, 501, "5.5.4", "Invalid EHLO hostname"},
      {"EHLO bad-.example", false, 501, "5.5.4", "Invalid EHLO"},
      {"EHLO a..b", false, 501, "5.5.4", "Invalid EHLO"},
      {"EHLO a.b.", false, 501, "5.5.4", "Invalid EHLO"},
      {"EHLO a/b", false, 501, "5.5.4", "Invalid EHLO"},
      {"EHLO [1.2.3.256]", false, 501, "5.5.4", "Invalid EHLO"},
      {"EHLO [1.2.3]", false, 501, "5.5.4", "Invalid EHLO"},
      {"EHLO [IPv6:1::2::3]", false, 501, "5.5.4", "Invalid EHLO"},
      {"EHLO [x-tag:foo]", false, 501, "5.5.4", "Invalid EHLO"},
      {"EHLO 1.2.3.4]", false, 501, "5.5.4", "Invalid EHLO"},
      {"HELO \xc3\x28", false, 501, "5.5.4", "Invalid HELO"},
      {"EHLO " + std::string(64, 'a') + ".example", false, 501, "5.5.4", "Invalid EHLO"},
      // MAIL syntax
      {"MAIL", false, 501, "5.5.4", "Syntax: MAIL FROM:<address>"},
      {"MAIL TO:<a@b.c>", false, 501, "5.5.4", "Syntax: MAIL FROM"},
      {"MAIL FROM :<a@b.c>", false, 501, "5.5.4", "Syntax: MAIL FROM"},
      {"MAIL FROM:", false, 501, "5.5.4", "missing '<'"},
      {"MAIL FROM:a@b.c", false, 501, "5.5.4", "missing '<'"},
      {"MAIL FROM:<a@b.c", false, 501, "5.5.4", "missing '>'"},
      {"MAIL FROM:<a@b.c>SIZE=1", false, 501, "5.5.4", "space after '>'"},
      // sender addresses: 5.1.7
      {"MAIL FROM:<a>", false, 501, "5.1.7", "missing @domain"},
      {"MAIL FROM:<postmaster>", false, 501, "5.1.7", "missing @domain"},
      {"MAIL FROM:<a@>", false, 501, "5.1.7", "missing domain"},
      {"MAIL FROM:<@b.c>", false, 501, "5.1.7", "source route"},
      {"MAIL FROM:<a..b@c.d>", false, 501, "5.1.7", "empty atom"},
      {"MAIL FROM:<.a@c.d>", false, 501, "5.1.7", "empty atom"},
      {"MAIL FROM:<a.@c.d>", false, 501, "5.1.7", "ends with '.'"},
      {"MAIL FROM:<a b@c.d>", false, 501, "5.1.7", "bad character"},
      {"MAIL FROM:<a(b)@c.d>", false, 501, "5.1.7", "bad character"},
      {"MAIL FROM:<\"a@c.d>", false, 501, "5.5.4", "missing '>'"},
      {"MAIL FROM:<\"a\"b@c.d>", false, 501, "5.1.7", "after quoted"},
      {"MAIL FROM:<a@b_c.d>", false, 501, "5.1.7", "bad domain"},
      {"MAIL FROM:<a@-b.c>", false, 501, "5.1.7", "bad domain"},
      {"MAIL FROM:<a@b.c.>", false, 501, "5.1.7", "bad domain"},
      {"MAIL FROM:<a@[1.2.3.4>", false, 501, "5.1.7", "bad address literal"},
      {"MAIL FROM:<a@[300.1.1.1]>", false, 501, "5.1.7", "bad address literal"},
      {"MAIL FROM:<a@[IPv6:::1::]>", false, 501, "5.1.7", "bad address literal"},
      {"MAIL FROM:<a@[IPv6:1:2:3:4:5:6:7]>", false, 501, "5.1.7", "bad address literal"},
      {"MAIL FROM:<a@[IPv6:1:2:3:4:5:6:7:8:9]>", false, 501, "5.1.7", "bad address literal"},
      {"MAIL FROM:<a@[IPv6:12345::1]>", false, 501, "5.1.7", "bad address literal"},
      {"MAIL FROM:<@x,b:a@c.d>", false, 501, "5.1.7", "source route"},
      {"MAIL FROM:<@x,:a@c.d>", false, 501, "5.1.7", "source route"},
      // recipient addresses: 5.1.3
      {"RCPT", false, 501, "5.5.4", "Syntax: RCPT TO:<address>"},
      {"RCPT FROM:<a@b.c>", false, 501, "5.5.4", "Syntax: RCPT TO"},
      {"RCPT TO:<>", false, 501, "5.1.3", "empty address"},
      {"RCPT TO:<bob>", false, 501, "5.1.3", "missing @domain"},
      {"RCPT TO:<\"postmaster\">", false, 501, "5.1.3", "missing @domain"},
      {"RCPT TO:<@a.b:postmaster>", false, 501, "5.1.3", "missing @domain"},
      {"RCPT TO:<a@b..c>", false, 501, "5.1.3", "bad domain"},
      // unknown, misplaced, duplicate and malformed parameters
      {"MAIL FROM:<a@b.c> FOO=1", false, 555, "5.5.4", "Unsupported parameter FOO"},
      {"MAIL FROM:<a@b.c> notify=NEVER", false, 555, "5.5.4", "Unsupported parameter NOTIFY"},
      {"RCPT TO:<a@b.c> SIZE=10", false, 555, "5.5.4", "Unsupported parameter SIZE"},
      {"RCPT TO:<a@b.c> BODY=8BITMIME", false, 555, "5.5.4", "Unsupported parameter BODY"},
      {"MAIL FROM:<a@b.c> SIZE=1 size=2", false, 501, "5.5.4", "Duplicate SIZE"},
      {"MAIL FROM:<a@b.c> BODY=7BIT BODY=7BIT", false, 501, "5.5.4", "Duplicate BODY"},
      {"MAIL FROM:<a@b.c> SMTPUTF8 SMTPUTF8", false, 501, "5.5.4", "Duplicate SMTPUTF8"},
      {"MAIL FROM:<a@b.c> RET=FULL RET=HDRS", false, 501, "5.5.4", "Duplicate RET"},
      {"MAIL FROM:<a@b.c> ENVID=a ENVID=b", false, 501, "5.5.4", "Duplicate ENVID"},
      {"MAIL FROM:<a@b.c> AUTH=<> AUTH=<>", false, 501, "5.5.4", "Duplicate AUTH"},
      {"RCPT TO:<a@b.c> NOTIFY=NEVER NOTIFY=NEVER", false, 501, "5.5.4", "Duplicate NOTIFY"},
      {"RCPT TO:<a@b.c> ORCPT=rfc822;a ORCPT=rfc822;a", false, 501, "5.5.4", "Duplicate ORCPT"},
      {"MAIL FROM:<a@b.c> SIZE", false, 501, "5.5.4", "Missing value for SIZE"},
      {"MAIL FROM:<a@b.c> SIZE=", false, 501, "5.5.4", "Missing value for SIZE"},
      {"MAIL FROM:<a@b.c> SIZE=12a", false, 501, "5.5.4", "Bad SIZE"},
      {"MAIL FROM:<a@b.c> SIZE=-1", false, 501, "5.5.4", "Bad SIZE"},
      {"MAIL FROM:<a@b.c> SIZE=123456789012345678901", false, 501, "5.5.4", "Bad SIZE"},
      {"MAIL FROM:<a@b.c> BODY=9BIT", false, 501, "5.5.4", "Bad BODY"},
      {"MAIL FROM:<a@b.c> BODY", false, 501, "5.5.4", "Missing value for BODY"},
      {"MAIL FROM:<a@b.c> SMTPUTF8=yes", false, 501, "5.5.4", "SMTPUTF8 takes no value"},
      {"MAIL FROM:<a@b.c> RET=ALL", false, 501, "5.5.4", "Bad RET"},
      {"MAIL FROM:<a@b.c> ENVID=a+2", false, 501, "5.5.4", "Bad ENVID"},
      {"MAIL FROM:<a@b.c> ENVID=a+0A", false, 501, "5.5.4", "Bad ENVID"},  // decodes to LF
      {"MAIL FROM:<a@b.c> ENVID=" + std::string(101, 'e'), false, 501, "5.5.4", "ENVID too long"},
      {"MAIL FROM:<a@b.c> AUTH=+", false, 501, "5.5.4", "Bad AUTH"},
      {"MAIL FROM:<a@b.c> AUTH=a+00b", false, 501, "5.5.4", "Bad AUTH"},
      {"MAIL FROM:<a@b.c> -X=1", false, 501, "5.5.4", "Bad parameter syntax"},
      {"MAIL FROM:<a@b.c> =1", false, 501, "5.5.4", "Bad parameter syntax"},
      {"MAIL FROM:<a@b.c> X_Y=1", false, 501, "5.5.4", "Bad parameter syntax"},
      {"MAIL FROM:<a@b.c> SIZE=1=2", false, 501, "5.5.4", "Bad value for SIZE"},
      {"MAIL FROM:<a@b.c> ENVID=\xc3\xa9", false, 501, "5.5.4", "Non-ASCII value for ENVID"},
      {"RCPT TO:<a@b.c> NOTIFY=", false, 501, "5.5.4", "Missing value for NOTIFY"},
      {"RCPT TO:<a@b.c> NOTIFY=NEVER,SUCCESS", false, 501, "5.5.4", "NEVER cannot be combined"},
      {"RCPT TO:<a@b.c> NOTIFY=DELAY,NEVER", false, 501, "5.5.4", "NEVER cannot be combined"},
      {"RCPT TO:<a@b.c> NOTIFY=SUCCESS,SUCCESS", false, 501, "5.5.4", "Duplicate NOTIFY value"},
      {"RCPT TO:<a@b.c> NOTIFY=SUCCESS,", false, 501, "5.5.4", "Bad NOTIFY"},
      {"RCPT TO:<a@b.c> NOTIFY=ALWAYS", false, 501, "5.5.4", "Bad NOTIFY"},
      {"RCPT TO:<a@b.c> ORCPT=rfc822", false, 501, "5.5.4", "Bad ORCPT"},
      {"RCPT TO:<a@b.c> ORCPT=;a@b.c", false, 501, "5.5.4", "Bad ORCPT"},
      {"RCPT TO:<a@b.c> ORCPT=rfc822;", false, 501, "5.5.4", "Bad ORCPT"},
      {"RCPT TO:<a@b.c> ORCPT=rf(c;a", false, 501, "5.5.4", "Bad ORCPT address type"},
      {"RCPT TO:<a@b.c> ORCPT=rfc822;a+0Db", false, 501, "5.5.4", "control character"},
      {"RCPT TO:<a@b.c> ORCPT=rfc822;a+G0", false, 501, "5.5.4", "Bad ORCPT"},
      {"RCPT TO:<a@b.c> ORCPT=rfc822;" + std::string(494, 'o'), false, 501, "5.5.4",
       "ORCPT too long"},
      {"RCPT TO:<a@b.c> ORCPT=rfc822;j\xc3\xb6@b.c", true, 501, "5.5.4", "Non-ASCII ORCPT"},
      {"RCPT TO:<a@b.c> ORCPT=utf-8;j\xc3\xb6@b.c", false, 501, "5.5.4", "Non-ASCII value"},
      // UTF-8 without SMTPUTF8, and bad UTF-8 with it
      {"MAIL FROM:<j\xc3\xb6ran@example.org>", false, 553, "5.6.7", "SMTPUTF8"},
      {"MAIL FROM:<joran@ex\xc3\xa4mple.org>", true, 553, "5.6.7", "SMTPUTF8"},  // flag: RCPT only
      {"RCPT TO:<j\xc3\xb6ran@example.org>", false, 553, "5.6.7", "SMTPUTF8"},
      {"RCPT TO:<a@\xe4\xbe\x8b.example>", false, 553, "5.6.7", "SMTPUTF8"},
      {"MAIL FROM:<j\xf6ran@example.org> SMTPUTF8", false, 501, "5.1.7", "invalid UTF-8"},
      {"RCPT TO:<j\xc0\xafran@example.org>", true, 501, "5.1.3", "invalid UTF-8"},   // overlong
      {"RCPT TO:<\xed\xa0\x80@example.org>", true, 501, "5.1.3", "invalid UTF-8"},   // surrogate
      {"RCPT TO:<a@b\xe4\xbe.example>", true, 501, "5.1.3", "invalid UTF-8"},       // truncated
      // BDAT: the stream is out of step after a bad BDAT line, so close
      {"BDAT", false, 501, "5.5.4", "Syntax: BDAT", true},
      {"BDAT x", false, 501, "5.5.4", "Bad BDAT chunk size", true},
      {"BDAT -1", false, 501, "5.5.4", "Bad BDAT chunk size", true},
      {"BDAT 10 FIRST", false, 501, "5.5.4", "Syntax: BDAT", true},
      {"BDAT 10 LAST x", false, 501, "5.5.4", "Syntax: BDAT", true},
      {"BDAT 123456789012345678901", false, 501, "5.5.4", "Bad BDAT chunk size", true},
      {"BDAT 18446744073709551615", false, 501, "5.5.4", "Bad BDAT chunk size", true},
      // AUTH
      {"AUTH", false, 501, "5.5.4", "Syntax: AUTH"},
      {"AUTH PLAIN a b", false, 501, "5.5.4", "Syntax: AUTH"},
      {"AUTH PL@IN", false, 501, "5.5.4", "Syntax: AUTH"},
      {"AUTH " + std::string(21, 'A'), false, 501, "5.5.4", "Syntax: AUTH"},
      {"AUTH PLAIN AG!=", false, 501, "5.5.2", "base64"},
      {"AUTH PLAIN A=B", false, 501, "5.5.2", "base64"},
      {"AUTH PLAIN A===", false, 501, "5.5.2", "base64"},
  };
  for (const ErrorCase& c : cases) {
    SCOPED_TRACE(c.line);
    auto r = parse_command(c.line, kLimits, c.utf8);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, c.code);
    EXPECT_EQ(r.error().enhanced, c.enhanced);
    EXPECT_NE(r.error().text.find(c.text_has), std::string::npos) << r.error().text;
    EXPECT_EQ(r.error().close_connection, c.close);
    Reply rep = r.error().reply();
    EXPECT_EQ(rep.code, c.code);
  }
}

// ---- EHLO/HELO ---------------------------------------------------------------------------

TEST(SmtpCommand, EhloArguments) {
  const char* good[] = {
      "mail.example.org", "localhost", "DESKTOP-AB12CD", "my_host.lan", "192.0.2.1",
      "[192.0.2.1]", "[IPv6:2001:db8::1]", "[ipv6:::1]", "[IPv6:::]",
      "[IPv6:2001:db8:0:0:0:0:0:1]", "[IPv6:::ffff:192.0.2.1]", "[IPv6:1:2:3:4:5:6:1.2.3.4]",
      "b\xc3\xbcro.example",  // a U-label: the name is only logged
  };
  for (const char* g : good) {
    SCOPED_TRACE(g);
    Command c = ok(std::string("EHLO ") + g);
    EXPECT_EQ(c.domain, g);
    c = ok(std::string("HELO ") + g);
    EXPECT_EQ(c.verb, Verb::helo);
  }
  // max_domain exactly, and one more.
  std::string label(63, 'a');
  std::string d = label + '.' + label + '.' + label + '.' + label;
  ASSERT_EQ(d.size(), 255u);
  EXPECT_TRUE(parse_command("EHLO " + d, kLimits).ok()) << d;
  EXPECT_FALSE(parse_command("EHLO " + d + "a", kLimits).ok());
}

// ---- MAIL ---------------------------------------------------------------------------------

TEST(SmtpCommand, MailPaths) {
  Command c = ok("MAIL FROM:<>");
  EXPECT_EQ(c.path.kind, Path::Kind::null);
  EXPECT_EQ(c.path.address(), "");

  c = ok("MAIL FROM:<Jane.Doe@Example.ORG>");
  EXPECT_EQ(c.path.kind, Path::Kind::mailbox);
  EXPECT_EQ(c.path.local, "Jane.Doe");
  EXPECT_EQ(c.path.domain, "Example.ORG");  // as written
  EXPECT_EQ(c.path.address(), "Jane.Doe@Example.ORG");
  EXPECT_FALSE(c.path.quoted_local);
  EXPECT_FALSE(c.path.literal_domain);

  c = ok("mail from: <a@b.c>");  // space after the colon: tolerated
  EXPECT_EQ(c.path.address(), "a@b.c");
  c = ok("MAIL FROM:   <a@b.c>   ");
  EXPECT_EQ(c.path.address(), "a@b.c");

  c = ok("MAIL FROM:<!#$%&'*+-/=?^_`{|}~@x.y>");
  EXPECT_EQ(c.path.local, "!#$%&'*+-/=?^_`{|}~");

  c = ok(R"(MAIL FROM:<"john \"jd\" doe"@example.org>)");
  EXPECT_TRUE(c.path.quoted_local);
  EXPECT_EQ(c.path.local, R"("john \"jd\" doe")");
  EXPECT_EQ(c.path.local_value(), R"(john "jd" doe)");
  EXPECT_EQ(c.path.address(), R"("john \"jd\" doe"@example.org)");

  c = ok(R"(MAIL FROM:<"a>b@c"@example.org> SIZE=5)");  // '>' and '@' inside quotes
  EXPECT_EQ(c.path.local_value(), "a>b@c");
  EXPECT_EQ(c.mail.size, 5u);
  c = ok(R"(MAIL FROM:<""@example.org>)");
  EXPECT_EQ(c.path.local_value(), "");
  c = ok(R"(MAIL FROM:<"a\\b"@example.org>)");
  EXPECT_EQ(c.path.local_value(), "a\\b");

  c = ok("MAIL FROM:<user@[192.0.2.7]>");
  EXPECT_TRUE(c.path.literal_domain);
  EXPECT_EQ(c.path.domain, "[192.0.2.7]");
  c = ok("MAIL FROM:<user@[IPv6:2001:db8::7]>");
  EXPECT_EQ(c.path.domain, "[IPv6:2001:db8::7]");

  // Source routes: parsed and ignored.
  c = ok("MAIL FROM:<@relay.one,@relay.two:user@example.org>");
  EXPECT_EQ(c.path.address(), "user@example.org");
  c = ok("RCPT TO:<@hop.example:bob@example.org>");
  EXPECT_EQ(c.path.address(), "bob@example.org");
}

TEST(SmtpCommand, MailParameters) {
  Command c = ok("MAIL FROM:<a@b.c>");
  EXPECT_FALSE(c.mail.size);
  EXPECT_EQ(c.mail.body, Body::unspecified);
  EXPECT_FALSE(c.mail.smtputf8);
  EXPECT_EQ(c.mail.ret, Ret::unspecified);
  EXPECT_FALSE(c.mail.envid);
  EXPECT_FALSE(c.mail.auth);

  c = ok("MAIL FROM:<a@b.c> SIZE=36700160 BODY=8BITMIME SMTPUTF8 RET=HDRS "
         "ENVID=QQ314159+2Bx AUTH=e+3Dmc2@example.com");
  EXPECT_EQ(c.mail.size, 36700160u);
  EXPECT_EQ(c.mail.body, Body::eight_bit_mime);
  EXPECT_TRUE(c.mail.smtputf8);
  EXPECT_EQ(c.mail.ret, Ret::hdrs);
  EXPECT_EQ(c.mail.envid, "QQ314159+x");
  EXPECT_EQ(c.mail.auth, "e=mc2@example.com");

  c = ok("mail from:<a@b.c> size=0 body=7bit ret=full smtputf8 auth=<>");
  EXPECT_EQ(c.mail.size, 0u);
  EXPECT_EQ(c.mail.body, Body::seven_bit);
  EXPECT_EQ(c.mail.ret, Ret::full);
  EXPECT_TRUE(c.mail.smtputf8);
  EXPECT_EQ(c.mail.auth, "<>");

  c = ok("MAIL FROM:<a@b.c> BODY=BinaryMIME");
  EXPECT_EQ(c.mail.body, Body::binary_mime);
  c = ok("MAIL FROM:<a@b.c>  SIZE=1   RET=FULL");  // extra spaces between parameters
  EXPECT_EQ(c.mail.size, 1u);
  c = ok("MAIL FROM:<a@b.c> SIZE=99999999999999999999");  // 20 digits: saturates
  EXPECT_EQ(c.mail.size, UINT64_MAX);
  c = ok("MAIL FROM:<a@b.c> SIZE=18446744073709551615");
  EXPECT_EQ(c.mail.size, UINT64_MAX);
  c = ok("MAIL FROM:<a@b.c> ENVID=" + std::string(100, 'e'));
  EXPECT_EQ(c.mail.envid->size(), 100u);
  c = ok("MAIL FROM:<> ENVID=a+20b");  // a space is printable
  EXPECT_EQ(c.mail.envid, "a b");
}

// ---- RCPT ---------------------------------------------------------------------------------

TEST(SmtpCommand, RcptPaths) {
  for (const char* pm : {"RCPT TO:<postmaster>", "RCPT TO:<Postmaster>", "rcpt to:<POSTMASTER>"}) {
    SCOPED_TRACE(pm);
    Command c = ok(pm);
    EXPECT_EQ(c.path.kind, Path::Kind::postmaster);
    EXPECT_EQ(c.path.domain, "");
    EXPECT_EQ(c.path.address(), std::string_view(pm).substr(9, 10));
  }
  Command c = ok("RCPT TO:<postmaster@example.org>");
  EXPECT_EQ(c.path.kind, Path::Kind::mailbox);
  EXPECT_EQ(c.path.address(), "postmaster@example.org");
  c = ok("RCPT TO: <bob@example.org>");
  EXPECT_EQ(c.path.address(), "bob@example.org");
}

TEST(SmtpCommand, RcptParameters) {
  struct NotifyCase {
    const char* value;
    bool never, success, failure, delay;
  };
  const NotifyCase cases[] = {
      {"NEVER", true, false, false, false},
      {"never", true, false, false, false},
      {"SUCCESS", false, true, false, false},
      {"FAILURE", false, false, true, false},
      {"DELAY", false, false, false, true},
      {"SUCCESS,FAILURE", false, true, true, false},
      {"delay,Success,FAILURE", false, true, true, true},
  };
  for (const NotifyCase& n : cases) {
    SCOPED_TRACE(n.value);
    Command c = ok(std::string("RCPT TO:<a@b.c> NOTIFY=") + n.value);
    EXPECT_TRUE(c.rcpt.notify.given);
    EXPECT_EQ(c.rcpt.notify.never, n.never);
    EXPECT_EQ(c.rcpt.notify.success, n.success);
    EXPECT_EQ(c.rcpt.notify.failure, n.failure);
    EXPECT_EQ(c.rcpt.notify.delay, n.delay);
  }
  Command c = ok("RCPT TO:<a@b.c>");
  EXPECT_FALSE(c.rcpt.notify.given);
  EXPECT_FALSE(c.rcpt.orcpt);

  c = ok("RCPT TO:<a@b.c> ORCPT=rfc822;Bob+2BTag@Example.org NOTIFY=FAILURE");
  ASSERT_TRUE(c.rcpt.orcpt);
  EXPECT_EQ(c.rcpt.orcpt->addr_type, "rfc822");
  EXPECT_EQ(c.rcpt.orcpt->address, "Bob+Tag@Example.org");
  EXPECT_TRUE(c.rcpt.notify.failure);

  c = ok("RCPT TO:<a@b.c> orcpt=RFC822;a+2bb");  // lower-case hex accepted
  EXPECT_EQ(c.rcpt.orcpt->address, "a+b");
  c = ok("RCPT TO:<a@b.c> ORCPT=rfc822;" + std::string(493, 'o'));  // 500 octets exactly
  EXPECT_EQ(c.rcpt.orcpt->address.size(), 493u);

  // RFC 6533: raw UTF-8 in a utf-8 ORCPT once SMTPUTF8 is in force.
  c = ok("RCPT TO:<j\xc3\xb6@b.c> ORCPT=utf-8;j\xc3\xb6@b.c", true);
  EXPECT_EQ(c.rcpt.orcpt->addr_type, "utf-8");
  EXPECT_EQ(c.rcpt.orcpt->address, "j\xc3\xb6@b.c");
}

// ---- SMTPUTF8 -----------------------------------------------------------------------------

TEST(SmtpCommand, Utf8Addresses) {
  Command c = ok("MAIL FROM:<j\xc3\xb6ran@ex\xc3\xa4mple.org> SMTPUTF8");
  EXPECT_TRUE(c.path.utf8);
  EXPECT_EQ(c.path.local, "j\xc3\xb6ran");
  EXPECT_EQ(c.path.domain, "ex\xc3\xa4mple.org");
  c = ok("MAIL FROM:<\"\xe7\x94\xb0\xe4\xb8\xad \xe5\xa4\xaa\xe9\x83\x8e\"@example.jp> smtputf8");
  EXPECT_TRUE(c.path.quoted_local);
  c = ok("RCPT TO:<\xe7\x94\xb0\xe4\xb8\xad@\xe4\xbe\x8b.jp>", true);
  EXPECT_TRUE(c.path.utf8);
  c = ok("RCPT TO:<\xf0\x9f\x98\x80@example.org>", true);  // 4-octet character
  EXPECT_EQ(c.path.local, "\xf0\x9f\x98\x80");
  c = ok("RCPT TO:<plain@example.org>", true);
  EXPECT_FALSE(c.path.utf8);
}

// ---- limits -------------------------------------------------------------------------------

TEST(SmtpCommand, Limits) {
  // Line: max_line exactly is fine.
  std::string line = "NOOP " + std::string(2043, 'x');
  ASSERT_EQ(line.size(), 2048u);
  EXPECT_TRUE(parse_command(line, kLimits).ok());
  CommandLimits small;
  small.max_line = 10;
  EXPECT_TRUE(parse_command("NOOP 12345", small).ok());
  auto r = parse_command("NOOP 123456", small);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, 500);
  EXPECT_EQ(r.error().enhanced, "5.5.6");

  // Local part: 64 octets fine, 65 not.
  std::string local64(64, 'l');
  EXPECT_TRUE(parse_command("RCPT TO:<" + local64 + "@b.c>", kLimits).ok());
  r = parse_command("RCPT TO:<" + local64 + "l@b.c>", kLimits);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, 501);
  EXPECT_EQ(r.error().enhanced, "5.1.3");
  EXPECT_NE(r.error().text.find("local part too long"), std::string::npos);

  // Path: 256 octets with punctuation fine, 257 not.
  std::string domain = std::string(63, 'd') + '.' + std::string(63, 'd') + '.' +
                       std::string(63, 'd') + '.' + std::string(59, 'd');  // 251
  std::string path = "<" + std::string(3, 'l') + "@" + domain + ">";
  ASSERT_EQ(path.size(), 257u);
  r = parse_command("MAIL FROM:" + path, kLimits);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().enhanced, "5.1.7");
  EXPECT_NE(r.error().text.find("address too long"), std::string::npos);
  path = "<" + std::string(2, 'l') + "@" + domain + ">";
  EXPECT_TRUE(parse_command("MAIL FROM:" + path, kLimits).ok());

  // Domain: a smaller limit shows the domain check on its own.
  CommandLimits dl;
  dl.max_domain = 5;
  EXPECT_TRUE(parse_command("RCPT TO:<a@bb.cc>", dl).ok());
  r = parse_command("RCPT TO:<a@bbb.cc>", dl);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().text.find("domain too long"), std::string::npos);
  EXPECT_FALSE(parse_command("EHLO bbb.cc", dl).ok());
  // A label of 64 octets.
  EXPECT_FALSE(parse_command("RCPT TO:<a@" + std::string(64, 'x') + ".c>", kLimits).ok());
  EXPECT_TRUE(parse_command("RCPT TO:<a@" + std::string(63, 'x') + ".c>", kLimits).ok());
}

// ---- BDAT, AUTH, free-text verbs ----------------------------------------------------------

TEST(SmtpCommand, Bdat) {
  Command c = ok("BDAT 0");
  EXPECT_EQ(c.chunk_size, 0u);
  EXPECT_FALSE(c.last);
  c = ok("BDAT 86 LAST");
  EXPECT_EQ(c.chunk_size, 86u);
  EXPECT_TRUE(c.last);
  c = ok("bdat 1000000 last");
  EXPECT_TRUE(c.last);
  c = ok("BDAT 18446744073709551614");
  EXPECT_EQ(c.chunk_size, UINT64_MAX - 1);
}

TEST(SmtpCommand, Auth) {
  Command c = ok("AUTH plain");
  EXPECT_EQ(c.mechanism, "PLAIN");
  EXPECT_FALSE(c.initial_response);
  c = ok("AUTH PLAIN AGFsaWNlAHNlY3JldA==");
  EXPECT_EQ(c.initial_response, "AGFsaWNlAHNlY3JldA==");
  c = ok("AUTH PLAIN =");
  EXPECT_EQ(c.initial_response, "=");
  c = ok("AUTH SCRAM-SHA-256");
  EXPECT_EQ(c.mechanism, "SCRAM-SHA-256");
  c = ok("AUTH X_OAUTH2 dGVzdA");
  EXPECT_EQ(c.mechanism, "X_OAUTH2");
}

TEST(SmtpCommand, TextArguments) {
  EXPECT_EQ(ok("VRFY  Jane Doe ").argument, "Jane Doe");
  EXPECT_EQ(ok("EXPN staff").argument, "staff");
  EXPECT_EQ(ok("HELP").argument, "");
  EXPECT_EQ(ok("HELP RCPT").argument, "RCPT");
  EXPECT_EQ(ok("NOOP").argument, "");
  EXPECT_EQ(ok("NOOP h\xc3\xa9").argument, "h\xc3\xa9");
}

// ---- xtext --------------------------------------------------------------------------------

TEST(SmtpCommand, Xtext) {
  struct Case {
    const char* in;
    const char* out;  // nullptr: invalid
  };
  const Case cases[] = {
      {"", ""},
      {"abc", "abc"},
      {"a+2Bb", "a+b"},
      {"a+3Db", "a=b"},
      {"+20", " "},
      {"+2b+3d", "+="},
      {"+00", nullptr},  // valid xtext; decodes to NUL (handled below)
      {"+", nullptr},
      {"+2", nullptr},
      {"+GG", nullptr},
      {"a=b", nullptr},
      {"a b", nullptr},
      {"a\x01", nullptr},
      {"\xc3\xa9", nullptr},  // non-ASCII without allow_utf8
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.in);
    auto d = xtext_decode(c.in);
    if (std::string_view(c.in) == "+00") {
      ASSERT_TRUE(d);
      EXPECT_EQ(*d, std::string(1, '\0'));
      continue;
    }
    if (c.out) {
      ASSERT_TRUE(d);
      EXPECT_EQ(*d, c.out);
    } else {
      EXPECT_FALSE(d);
    }
  }
  EXPECT_EQ(xtext_decode("\xc3\xa9", true), "\xc3\xa9");
  EXPECT_EQ(xtext_encode("a+b=c d\x01\xff~!"), "a+2Bb+3Dc+20d+01+FF~!");
  std::string all;
  for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
  EXPECT_EQ(xtext_decode(xtext_encode(all)), all);
}

// ---- replies ------------------------------------------------------------------------------

TEST(SmtpReply, Format) {
  EXPECT_EQ(format_reply(250, "2.1.0", "Ok"), "250 2.1.0 Ok\r\n");
  EXPECT_EQ(format_reply(220, "", "mx.example ESMTP"), "220 mx.example ESMTP\r\n");
  EXPECT_EQ(format_reply(250, "2.0.0", ""), "250 2.0.0\r\n");
  EXPECT_EQ(format_reply(354, "", ""), "354\r\n");
  EXPECT_EQ(format_reply(Reply{550, "5.1.1", "No such user\nTry again\n"}),
            "550-5.1.1 No such user\r\n550 5.1.1 Try again\r\n");
  // A peer-supplied value cannot inject a line.
  EXPECT_EQ(format_reply(501, "5.1.3", "Bad <a\r\n250 ok>"),
            "501-5.1.3 Bad <a?\r\n501 5.1.3 250 ok>\r\n");
  EXPECT_EQ(format_reply(501, "5.1.3", std::string("a\0b\x1b\tc", 6)), "501 5.1.3 a?b? c\r\n");
  EXPECT_EQ(format_reply(553, "5.6.7", "j\xc3\xb6"), "553 5.6.7 j??\r\n");
  EXPECT_EQ(format_reply(553, "5.6.7", "j\xc3\xb6", true), "553 5.6.7 j\xc3\xb6\r\n");
  EXPECT_EQ(format_reply(553, "5.6.7", "j\xff", true), "553 5.6.7 j?\r\n");
  // Every line fits in 512 octets with CRLF, and a UTF-8 character is never cut.
  std::string big = format_reply(250, "2.0.0", std::string(1000, 'x'));
  EXPECT_EQ(big.size(), 512u);
  EXPECT_EQ(big.substr(510), "\r\n");
  std::string utf;
  for (int i = 0; i < 400; ++i) utf += "\xc3\xa9";
  std::string cut = format_reply(250, "2.0.0", utf, true);
  EXPECT_LE(cut.size(), 512u);
  EXPECT_TRUE(is_utf8(cut));
}

TEST(SmtpReply, Ehlo) {
  EhloCapabilities caps;
  caps.size = 36700160;
  caps.starttls = true;
  caps.auth = {"PLAIN", "LOGIN"};
  caps.binarymime = true;
  EXPECT_EQ(format_ehlo("mx.example.org", "Hello", caps),
            "250-mx.example.org Hello\r\n"
            "250-PIPELINING\r\n"
            "250-SIZE 36700160\r\n"
            "250-STARTTLS\r\n"
            "250-AUTH PLAIN LOGIN\r\n"
            "250-ENHANCEDSTATUSCODES\r\n"
            "250-8BITMIME\r\n"
            "250-BINARYMIME\r\n"
            "250-CHUNKING\r\n"
            "250-DSN\r\n"
            "250 SMTPUTF8\r\n");
  EhloCapabilities none{};
  none.pipelining = none.enhancedstatuscodes = none.eightbitmime = none.chunking = none.dsn =
      none.smtputf8 = false;
  EXPECT_TRUE(ehlo_keywords(none).empty());
  EXPECT_EQ(format_ehlo("mx", "", none), "250 mx\r\n");
}

TEST(SmtpReply, Utf8Validation) {
  EXPECT_TRUE(is_utf8(""));
  EXPECT_TRUE(is_utf8("abc \xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"));
  EXPECT_FALSE(is_utf8("\x80"));
  EXPECT_FALSE(is_utf8("\xc0\x80"));          // overlong NUL
  EXPECT_FALSE(is_utf8("\xe0\x80\xaf"));      // overlong '/'
  EXPECT_FALSE(is_utf8("\xed\xa0\x80"));      // surrogate
  EXPECT_FALSE(is_utf8("\xf4\x90\x80\x80"));  // past U+10FFFF
  EXPECT_FALSE(is_utf8("\xe2\x82"));          // truncated
  EXPECT_FALSE(is_utf8("\xf8\x88\x80\x80\x80"));
}

}  // namespace
}  // namespace caremail::smtp

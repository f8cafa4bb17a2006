// Tests for the IMAP message-data renderers. Expected strings follow RFC 9051 §7.5.2 and the
// RFC 3501 §7.4.2 examples (upper-case type, subtype, parameter names and encoding as in
// those examples); sizes of parts are derived from the message pieces, not copied from
// output.
#include "imap/render.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "mime/mime.hpp"

namespace caremail::imap {
namespace {

using Text = Section::Text;

std::string json_of(std::string_view raw) {
  auto s = mime::summarize(raw);
  EXPECT_TRUE(s.ok());
  return s.ok() ? s->body_structure : std::string();
}

Section sec(std::vector<uint32_t> part, Text text = Text::none, std::vector<std::string> fields = {}) {
  Section s;
  s.part = std::move(part);
  s.text = text;
  s.fields = std::move(fields);
  return s;
}

std::optional<std::string> body(std::string_view raw, const Section& s) { return section_text(raw, json_of(raw), s); }

std::string lines_of(std::string_view s) {  // as mime::summarize counts them
  size_t n = static_cast<size_t>(std::count(s.begin(), s.end(), '\n'));
  if (!s.empty() && s.back() != '\n') ++n;
  return std::to_string(n);
}

// ---- Strings ----------------------------------------------------------------------------

TEST(RenderString, QuotedOrLiteral) {
  struct Case {
    std::string in;
    bool utf8;
    std::string want;
  };
  const Case cases[] = {
      {"", false, "\"\""},
      {"hello world", false, "\"hello world\""},
      {"a\"b\\c", false, "\"a\\\"b\\\\c\""},
      {"tab\there", false, "\"tab\there\""},
      {"two\r\nlines", false, "{10}\r\ntwo\r\nlines"},
      {"lf\n", false, "{3}\r\nlf\n"},
      {std::string("nul\0x", 5), false, std::string("{5}\r\nnul\0x", 10)},
      {"Gr\xC3\xBC\xC3\x9F" "e", false, "{7}\r\nGr\xC3\xBC\xC3\x9F" "e"},
      {"Gr\xC3\xBC\xC3\x9F" "e", true, "\"Gr\xC3\xBC\xC3\x9F" "e\""},
      {"bad \xC3(", true, "{6}\r\nbad \xC3("},      // not UTF-8: literal even with utf8
      {"\xED\xA0\x80", true, "{3}\r\n\xED\xA0\x80"},  // a surrogate is not UTF-8
  };
  for (const Case& c : cases) {
    std::string out;
    append_string(out, c.in, c.utf8);
    EXPECT_EQ(out, c.want) << c.in;
  }
}

TEST(RenderString, LongStringsAreLiterals) {
  std::string out;
  append_string(out, std::string(1023, 'a'));
  EXPECT_EQ(out, "\"" + std::string(1023, 'a') + "\"");
  out.clear();
  append_string(out, std::string(1024, 'a'));
  EXPECT_EQ(out, "{1024}\r\n" + std::string(1024, 'a'));
}

TEST(RenderString, NStringAndLiteral) {
  std::string out;
  append_nstring(out, std::nullopt);
  out += ' ';
  append_nstring(out, std::string_view("x"));
  EXPECT_EQ(out, "NIL \"x\"");
  out.clear();
  append_literal(out, "abc");
  EXPECT_EQ(out, "{3}\r\nabc");
  out.clear();
  append_literal(out, std::string_view("a\0b", 3), true);
  EXPECT_EQ(out, std::string("~{3}\r\na\0b", 9));
  out.clear();
  append_literal(out, "");
  EXPECT_EQ(out, "{0}\r\n");
}

// ---- Dates ------------------------------------------------------------------------------

TEST(RenderDate, InternalDate) {
  // Expected values from Python's calendar.timegm.
  EXPECT_EQ(format_internaldate(0), "\" 1-Jan-1970 00:00:00 +0000\"");
  EXPECT_EQ(format_internaldate(837596665), "\"17-Jul-1996 09:44:25 +0000\"");
  EXPECT_EQ(format_internaldate(951782400), "\"29-Feb-2000 00:00:00 +0000\"");
  EXPECT_EQ(format_internaldate(4107542400), "\" 1-Mar-2100 00:00:00 +0000\"");
  EXPECT_EQ(format_internaldate(-1), "\"31-Dec-1969 23:59:59 +0000\"");
  EXPECT_EQ(format_internaldate(1735689599), "\"31-Dec-2024 23:59:59 +0000\"");
  // Outside four-digit years: clamped, still grammatical.
  EXPECT_EQ(format_internaldate(INT64_MAX), "\"31-Dec-9999 23:59:59 +0000\"");
  EXPECT_EQ(format_internaldate(INT64_MIN), "\" 1-Jan-0000 00:00:00 +0000\"");
}

TEST(RenderDate, ToUnixTime) {
  EXPECT_EQ(to_unix_time(Date{1970, 1, 1}), 0);
  EXPECT_EQ(to_unix_time(Date{2000, 2, 29}), 951782400);
  EXPECT_EQ(to_unix_time(Date{2100, 3, 1}), 4107542400);
  EXPECT_EQ(to_unix_time(DateTime{Date{1996, 7, 17}, 2, 44, 25, -420}), 837596665);
  EXPECT_EQ(to_unix_time(DateTime{Date{2000, 1, 1}, 5, 30, 0, 570}), 946670400);
  EXPECT_EQ(to_unix_time(DateTime{Date{1969, 12, 31}, 23, 59, 59, 0}), -1);
  // Round trip through INTERNALDATE.
  EXPECT_EQ(format_internaldate(to_unix_time(DateTime{Date{2024, 12, 31}, 23, 59, 59, 0})),
            "\"31-Dec-2024 23:59:59 +0000\"");
}

// ---- A simple text message (RFC 3501 §7.4.2's example message) --------------------------

const std::string kSimpleHeader =
    "Date: Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\r\n"
    "From: Terry Gray <gray@cac.washington.edu>\r\n"
    "Subject: IMAP4rev1 WG mtg summary and minutes\r\n"
    "To: imap@cac.washington.edu\r\n"
    "cc: minutes@CNRI.Reston.VA.US, John Klensin <KLENSIN@MIT.EDU>\r\n"
    "Message-Id: <B27397-0100000@cac.washington.edu>\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: TEXT/PLAIN; CHARSET=US-ASCII\r\n"
    "\r\n";
const std::string kSimpleBody = "Hello\r\nWorld\r\n";
const std::string kSimple = kSimpleHeader + kSimpleBody;

TEST(RenderEnvelope, Rfc3501Example) {
  EXPECT_EQ(envelope(kSimple),
            "(\"Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\" \"IMAP4rev1 WG mtg summary and minutes\" "
            "((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) "
            "((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) "
            "((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) "
            "((NIL NIL \"imap\" \"cac.washington.edu\")) "
            "((NIL NIL \"minutes\" \"CNRI.Reston.VA.US\")(\"John Klensin\" NIL \"KLENSIN\" \"MIT.EDU\")) "
            "NIL NIL \"<B27397-0100000@cac.washington.edu>\")");
}

TEST(RenderBodyStructure, SimpleText) {
  const std::string want_body = "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 14 2)";
  const std::string want_bs = "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 14 2 NIL NIL NIL NIL)";
  EXPECT_EQ(body_structure(kSimple, json_of(kSimple), false), want_body);
  EXPECT_EQ(body_structure(kSimple, json_of(kSimple), true), want_bs);
  // Empty JSON: summarised here; unreadable JSON: summarised again.
  EXPECT_EQ(body_structure(kSimple, "", true), want_bs);
  EXPECT_EQ(body_structure(kSimple, "{not json", true), want_bs);
  EXPECT_EQ(body_structure(kSimple, "[1,2]", true), want_bs);
}

TEST(RenderSection, SimpleText) {
  EXPECT_EQ(body(kSimple, sec({})), kSimple);
  EXPECT_EQ(body(kSimple, sec({}, Text::header)), kSimpleHeader);
  EXPECT_EQ(body(kSimple, sec({}, Text::text)), kSimpleBody);
  EXPECT_EQ(body(kSimple, sec({1})), kSimpleBody);
  EXPECT_EQ(body(kSimple, sec({1}, Text::mime)), kSimpleHeader);
  EXPECT_EQ(section_text(kSimple, "", sec({1})), kSimpleBody);
  // No such part, or HEADER/TEXT of a part that is not message/rfc822.
  EXPECT_EQ(body(kSimple, sec({2})), std::nullopt);
  EXPECT_EQ(body(kSimple, sec({0})), std::nullopt);
  EXPECT_EQ(body(kSimple, sec({1, 1})), std::nullopt);
  EXPECT_EQ(body(kSimple, sec({1}, Text::header)), std::nullopt);
  EXPECT_EQ(body(kSimple, sec({1}, Text::text)), std::nullopt);
  EXPECT_EQ(body(kSimple, sec({}, Text::mime)), std::nullopt);
}

TEST(RenderSection, HeaderFields) {
  EXPECT_EQ(body(kSimple, sec({}, Text::header_fields, {"SUBJECT", "Cc"})),
            "Subject: IMAP4rev1 WG mtg summary and minutes\r\n"
            "cc: minutes@CNRI.Reston.VA.US, John Klensin <KLENSIN@MIT.EDU>\r\n"
            "\r\n");
  EXPECT_EQ(body(kSimple, sec({}, Text::header_fields, {"X-Absent"})), "\r\n");
  EXPECT_EQ(body(kSimple, sec({}, Text::header_fields_not,
                              {"date", "from", "subject", "to", "cc", "message-id"})),
            "MIME-Version: 1.0\r\nContent-Type: TEXT/PLAIN; CHARSET=US-ASCII\r\n\r\n");
  EXPECT_EQ(body(kSimple, sec({}, Text::header_fields_not, {})), kSimpleHeader);
}

TEST(RenderSection, HeaderFieldsKeepFoldsAndRepeats) {
  const std::string raw =
      "Received: from a\r\n\tby b\r\n"
      "Subject: one\r\n"
      "Received: from c\r\n"
      "X-Other: y\r\n"
      "\r\n"
      "body\r\n";
  EXPECT_EQ(body(raw, sec({}, Text::header_fields, {"received"})),
            "Received: from a\r\n\tby b\r\nReceived: from c\r\n\r\n");
  EXPECT_EQ(body(raw, sec({}, Text::header_fields_not, {"received"})), "Subject: one\r\nX-Other: y\r\n\r\n");
}

// ---- multipart/mixed with a nested multipart/alternative and an attachment ---------------

const std::string kMixedHeader =
    "From: a@example.com\r\n"
    "To: b@example.com\r\n"
    "Subject: mixed\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: multipart/mixed; boundary=\"outer\"\r\n"
    "\r\n";
const std::string kAltHeader = "Content-Type: multipart/alternative; boundary=inner\r\n\r\n";
const std::string kHtmlHeader =
    "Content-Type: text/html; charset=utf-8\r\n"
    "Content-Transfer-Encoding: quoted-printable\r\n"
    "\r\n";
const std::string kAltBody =
    "--inner\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "\r\n"
    "plain\r\n"
    "--inner\r\n" +
    kHtmlHeader +
    "<p>h=C3=A9</p>\r\n"
    "--inner--";
const std::string kPdfHeader =
    "Content-Type: application/pdf; name=\"a.pdf\"\r\n"
    "Content-Disposition: attachment; filename=\"a.pdf\"\r\n"
    "Content-Transfer-Encoding: base64\r\n"
    "Content-ID: <att1@example.com>\r\n"
    "Content-Description: The PDF\r\n"
    "Content-Language: en, de\r\n"
    "Content-Location: http://example.com/a.pdf\r\n"
    "\r\n";
const std::string kMixedText =
    "preamble\r\n"
    "--outer\r\n" +
    kAltHeader + kAltBody +
    "\r\n"
    "--outer\r\n" +
    kPdfHeader +
    "JVBERi0x\r\nLjQK\r\n"
    "--outer--\r\n"
    "epilogue\r\n";
const std::string kMixed = kMixedHeader + kMixedText;

TEST(RenderBodyStructure, NestedMultipart) {
  EXPECT_EQ(body_structure(kMixed, json_of(kMixed), true),
            "((("
            "\"TEXT\" \"PLAIN\" (\"CHARSET\" \"utf-8\") NIL NIL \"7BIT\" 5 1 NIL NIL NIL NIL)("
            "\"TEXT\" \"HTML\" (\"CHARSET\" \"utf-8\") NIL NIL \"QUOTED-PRINTABLE\" 14 1 NIL NIL NIL NIL) "
            "\"ALTERNATIVE\" (\"BOUNDARY\" \"inner\") NIL NIL NIL)("
            "\"APPLICATION\" \"PDF\" (\"NAME\" \"a.pdf\") \"<att1@example.com>\" \"The PDF\" \"BASE64\" 14 "
            "NIL (\"attachment\" (\"filename\" \"a.pdf\")) (\"en\" \"de\") \"http://example.com/a.pdf\") "
            "\"MIXED\" (\"BOUNDARY\" \"outer\") NIL NIL NIL)");
  EXPECT_EQ(body_structure(kMixed, json_of(kMixed), false),
            "(((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"utf-8\") NIL NIL \"7BIT\" 5 1)("
            "\"TEXT\" \"HTML\" (\"CHARSET\" \"utf-8\") NIL NIL \"QUOTED-PRINTABLE\" 14 1) \"ALTERNATIVE\")("
            "\"APPLICATION\" \"PDF\" (\"NAME\" \"a.pdf\") \"<att1@example.com>\" \"The PDF\" \"BASE64\" 14) "
            "\"MIXED\")");
}

TEST(RenderSection, NestedMultipart) {
  EXPECT_EQ(body(kMixed, sec({}, Text::text)), kMixedText);
  EXPECT_EQ(body(kMixed, sec({}, Text::header)), kMixedHeader);
  EXPECT_EQ(body(kMixed, sec({1})), kAltBody);
  EXPECT_EQ(body(kMixed, sec({1}, Text::mime)), kAltHeader);
  EXPECT_EQ(body(kMixed, sec({1, 1})), "plain");
  EXPECT_EQ(body(kMixed, sec({1, 2})), "<p>h=C3=A9</p>");
  EXPECT_EQ(body(kMixed, sec({1, 2}, Text::mime)), kHtmlHeader);
  EXPECT_EQ(body(kMixed, sec({2})), "JVBERi0x\r\nLjQK");
  EXPECT_EQ(body(kMixed, sec({2}, Text::mime)), kPdfHeader);
  EXPECT_EQ(body(kMixed, sec({3})), std::nullopt);
  EXPECT_EQ(body(kMixed, sec({1, 3})), std::nullopt);
  EXPECT_EQ(body(kMixed, sec({2, 1})), std::nullopt);
  EXPECT_EQ(body(kMixed, sec({1, 1, 1})), std::nullopt);
  EXPECT_EQ(body(kMixed, sec({2}, Text::header)), std::nullopt);
}

TEST(RenderBinary, DecodesParts) {
  const std::string json = json_of(kMixed);
  std::string out;
  EXPECT_EQ(binary_section(kMixed, json, {2}, out), BinaryStatus::ok);
  EXPECT_EQ(out, "%PDF-1.4\n");
  EXPECT_EQ(binary_section(kMixed, json, {1, 2}, out), BinaryStatus::ok);
  EXPECT_EQ(out, "<p>h\xC3\xA9</p>");
  EXPECT_EQ(binary_section(kMixed, json, {1, 1}, out), BinaryStatus::ok);
  EXPECT_EQ(out, "plain");
  EXPECT_EQ(binary_section(kMixed, json, {}, out), BinaryStatus::ok);
  EXPECT_EQ(out, kMixed);
  EXPECT_EQ(binary_section(kMixed, json, {3}, out), BinaryStatus::no_such_part);
  EXPECT_EQ(binary_section(kMixed, json, {2, 1}, out), BinaryStatus::no_such_part);
  EXPECT_EQ(binary_section(kMixed, "", {2}, out), BinaryStatus::ok);
  EXPECT_EQ(out, "%PDF-1.4\n");
}

// ---- message/rfc822 attachment ----------------------------------------------------------

const std::string kInnerHeader =
    "From: Inner <inner@example.org>\r\n"
    "Subject: inner subject\r\n"
    "Message-ID: <inner@example.org>\r\n"
    "Content-Type: multipart/alternative; boundary=b2\r\n"
    "\r\n";
const std::string kInnerText =
    "--b2\r\n"
    "Content-Type: text/plain\r\n"
    "\r\n"
    "inner text\r\n"
    "--b2\r\n"
    "Content-Type: text/html\r\n"
    "\r\n"
    "<b>inner</b>\r\n"
    "--b2--";
const std::string kInner = kInnerHeader + kInnerText;
const std::string kForward =
    "From: \"Doe, John\" <john@example.com>\r\n"
    "To: Group: a@b.example, \"Q \\\"x\\\" Y\" <c@d.example>;, e@f.example\r\n"
    "Subject: fwd\r\n"
    "Content-Type: multipart/mixed; boundary=b1\r\n"
    "\r\n"
    "--b1\r\n"
    "Content-Type: text/plain\r\n"
    "\r\n"
    "see attached\r\n"
    "--b1\r\n"
    "Content-Type: message/rfc822\r\n"
    "\r\n" +
    kInner +
    "\r\n"
    "--b1--\r\n";

const std::string kInnerEnvelope =
    "(NIL \"inner subject\" ((\"Inner\" NIL \"inner\" \"example.org\")) "
    "((\"Inner\" NIL \"inner\" \"example.org\")) ((\"Inner\" NIL \"inner\" \"example.org\")) "
    "NIL NIL NIL NIL \"<inner@example.org>\")";

TEST(RenderEnvelope, GroupsAndQuotedNames) {
  EXPECT_EQ(envelope(kForward),
            "(NIL \"fwd\" ((\"Doe, John\" NIL \"john\" \"example.com\")) "
            "((\"Doe, John\" NIL \"john\" \"example.com\")) ((\"Doe, John\" NIL \"john\" \"example.com\")) "
            "((NIL NIL \"Group\" NIL)(NIL NIL \"a\" \"b.example\")(\"Q \\\"x\\\" Y\" NIL \"c\" \"d.example\")"
            "(NIL NIL NIL NIL)(NIL NIL \"e\" \"f.example\")) NIL NIL NIL NIL)");
  EXPECT_EQ(envelope(kInner), kInnerEnvelope);
}

TEST(RenderBodyStructure, MessageRfc822) {
  const std::string inner_body =
      "((\"TEXT\" \"PLAIN\" NIL NIL NIL \"7BIT\" 10 1 NIL NIL NIL NIL)"
      "(\"TEXT\" \"HTML\" NIL NIL NIL \"7BIT\" 12 1 NIL NIL NIL NIL) "
      "\"ALTERNATIVE\" (\"BOUNDARY\" \"b2\") NIL NIL NIL)";
  EXPECT_EQ(body_structure(kForward, json_of(kForward), true),
            "((\"TEXT\" \"PLAIN\" NIL NIL NIL \"7BIT\" 12 1 NIL NIL NIL NIL)"
            "(\"MESSAGE\" \"RFC822\" NIL NIL NIL \"7BIT\" " +
                std::to_string(kInner.size()) + " " + kInnerEnvelope + " " + inner_body + " " +
                lines_of(kInner) +
                " NIL NIL NIL NIL) "
                "\"MIXED\" (\"BOUNDARY\" \"b1\") NIL NIL NIL)");
  EXPECT_EQ(body_structure(kForward, json_of(kForward), false),
            "((\"TEXT\" \"PLAIN\" NIL NIL NIL \"7BIT\" 12 1)"
            "(\"MESSAGE\" \"RFC822\" NIL NIL NIL \"7BIT\" " +
                std::to_string(kInner.size()) + " " + kInnerEnvelope +
                " ((\"TEXT\" \"PLAIN\" NIL NIL NIL \"7BIT\" 10 1)(\"TEXT\" \"HTML\" NIL NIL NIL \"7BIT\" 12 1) "
                "\"ALTERNATIVE\") " +
                lines_of(kInner) + ") \"MIXED\")");
}

TEST(RenderSection, MessageRfc822) {
  EXPECT_EQ(body(kForward, sec({1})), "see attached");
  EXPECT_EQ(body(kForward, sec({2})), kInner);  // the whole embedded message
  EXPECT_EQ(body(kForward, sec({2}, Text::mime)), "Content-Type: message/rfc822\r\n\r\n");
  EXPECT_EQ(body(kForward, sec({2}, Text::header)), kInnerHeader);
  EXPECT_EQ(body(kForward, sec({2}, Text::text)), kInnerText);
  EXPECT_EQ(body(kForward, sec({2}, Text::header_fields, {"subject", "message-id"})),
            "Subject: inner subject\r\nMessage-ID: <inner@example.org>\r\n\r\n");
  EXPECT_EQ(body(kForward, sec({2}, Text::header_fields_not, {"content-type", "from", "message-id"})),
            "Subject: inner subject\r\n\r\n");
  // The embedded body is multipart: 2.1 is its first child.
  EXPECT_EQ(body(kForward, sec({2, 1})), "inner text");
  EXPECT_EQ(body(kForward, sec({2, 2})), "<b>inner</b>");
  EXPECT_EQ(body(kForward, sec({2, 1}, Text::mime)), "Content-Type: text/plain\r\n\r\n");
  EXPECT_EQ(body(kForward, sec({2, 3})), std::nullopt);
  EXPECT_EQ(body(kForward, sec({2, 1, 1})), std::nullopt);
  EXPECT_EQ(body(kForward, sec({1}, Text::header)), std::nullopt);
}

// A whole message that is message/rfc822 around a single-part message.
const std::string kWrappedInner = "Subject: inner\r\n\r\nbody\r\n";
const std::string kWrapped = "Subject: outer\r\nContent-Type: message/rfc822\r\n\r\n" + kWrappedInner;

TEST(RenderBodyStructure, MessageRfc822SinglePart) {
  EXPECT_EQ(body_structure(kWrapped, json_of(kWrapped), true),
            "(\"MESSAGE\" \"RFC822\" NIL NIL NIL \"7BIT\" 24 "
            "(NIL \"inner\" NIL NIL NIL NIL NIL NIL NIL NIL) "
            "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") NIL NIL \"7BIT\" 6 1 NIL NIL NIL NIL) 3 "
            "NIL NIL NIL NIL)");
}

TEST(RenderSection, MessageRfc822SinglePart) {
  EXPECT_EQ(body(kWrapped, sec({1})), kWrappedInner);
  EXPECT_EQ(body(kWrapped, sec({1, 1})), "body\r\n");  // the embedded message's only body
  EXPECT_EQ(body(kWrapped, sec({1}, Text::header)), "Subject: inner\r\n\r\n");
  EXPECT_EQ(body(kWrapped, sec({1}, Text::text)), "body\r\n");
  EXPECT_EQ(body(kWrapped, sec({1, 2})), std::nullopt);
  EXPECT_EQ(body(kWrapped, sec({}, Text::header_fields, {"Subject"})), "Subject: outer\r\n\r\n");
}

TEST(RenderBodyStructure, Rfc822NotDescendedIntoIsBasic) {
  // summarize does not look inside an encoded message/rfc822: no envelope to show.
  const std::string raw =
      "Content-Type: multipart/mixed; boundary=x\r\n\r\n"
      "--x\r\n"
      "Content-Type: message/rfc822\r\n"
      "Content-Transfer-Encoding: base64\r\n\r\n"
      "U3ViamVjdDogaGkNCg0KYm9keQ0K\r\n"
      "--x--\r\n";
  EXPECT_EQ(body_structure(raw, json_of(raw), false),
            "((\"MESSAGE\" \"RFC822\" NIL NIL NIL \"BASE64\" 28) \"MIXED\")");
  std::string out;
  EXPECT_EQ(binary_section(raw, json_of(raw), {1}, out), BinaryStatus::ok);
  EXPECT_EQ(out, "Subject: hi\r\n\r\nbody\r\n");
  EXPECT_EQ(body(raw, sec({1}, Text::header)), std::nullopt);
}

TEST(RenderBodyStructure, BrokenMultipartGetsAnEmptyChild) {
  // The boundary never appears: summarize gives the multipart no parts.
  const std::string raw = "Content-Type: multipart/mixed; boundary=q\r\n\r\nno boundary here\r\n";
  EXPECT_EQ(body_structure(raw, json_of(raw), true),
            "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") NIL NIL \"7BIT\" 0 0 NIL NIL NIL NIL) "
            "\"MIXED\" (\"BOUNDARY\" \"q\") NIL NIL NIL)");
  EXPECT_EQ(body_structure(raw, json_of(raw), false),
            "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") NIL NIL \"7BIT\" 0 0) \"MIXED\")");
  EXPECT_EQ(body(raw, sec({1})), "");
  EXPECT_EQ(body(raw, sec({2})), std::nullopt);
}

TEST(RenderBodyStructure, NoContentTypeAndLanguage) {
  const std::string raw = "Subject: x\r\nContent-Language: fr\r\n\r\none\r\ntwo";
  EXPECT_EQ(body_structure(raw, "", true),
            "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") NIL NIL \"7BIT\" 8 2 NIL NIL \"fr\" NIL)");
}

TEST(RenderBodyStructure, EightBitParameters) {
  const std::string raw =
      "Content-Type: application/octet-stream; name=\"caf\xC3\xA9.bin\"\r\n\r\nxx";
  EXPECT_EQ(body_structure(raw, "", false),
            "(\"APPLICATION\" \"OCTET-STREAM\" (\"NAME\" {9}\r\ncaf\xC3\xA9.bin) NIL NIL \"7BIT\" 2)");
  EXPECT_EQ(body_structure(raw, "", false, true),
            "(\"APPLICATION\" \"OCTET-STREAM\" (\"NAME\" \"caf\xC3\xA9.bin\") NIL NIL \"7BIT\" 2)");
}

TEST(RenderBodyStructure, DamagedJsonStaysInsideTheMessage) {
  const std::string raw = "Subject: x\r\n\r\nbody\r\n";
  // Offsets and sizes past the end are clamped; wrong types read as absent.
  const std::string json =
      R"({"part":"1","type":"text","subtype":"plain","size":99999,"lines":"x",)"
      R"("header_offset":5000,"body_offset":7000})";
  EXPECT_EQ(body_structure(raw, json, false), "(\"TEXT\" \"PLAIN\" NIL NIL NIL \"7BIT\" 0 0)");
  EXPECT_EQ(section_text(raw, json, sec({1})), "");
  const std::string negative = R"({"type":"text","subtype":"plain","size":-5,"body_offset":-1})";
  EXPECT_EQ(body_structure(raw, negative, false), "(\"TEXT\" \"PLAIN\" NIL NIL NIL \"7BIT\" 0 0)");
  // Nesting deeper than summarize can produce: the message is summarised again instead.
  std::string deep;
  for (int i = 0; i < 200; ++i) deep += R"({"type":"multipart","subtype":"mixed","parts":[)";
  deep += "{}";
  for (int i = 0; i < 200; ++i) deep += "]}";
  EXPECT_EQ(body_structure(raw, deep, false),
            "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") NIL NIL \"7BIT\" 6 1)");
}

// ---- ENVELOPE details -------------------------------------------------------------------

TEST(RenderEnvelope, MissingHeadersAreNil) {
  EXPECT_EQ(envelope("\r\nbody"), "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)");
  EXPECT_EQ(envelope(""), "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)");
  // Present but empty: "" for the nstrings, NIL for address lists.
  EXPECT_EQ(envelope("Subject:\r\nDate: \r\nTo:\r\n\r\n"), "(\"\" \"\" NIL NIL NIL NIL NIL NIL NIL NIL)");
}

TEST(RenderEnvelope, SenderAndReplyTo) {
  EXPECT_EQ(envelope("From: a@x\r\nSender: s@x\r\nReply-To: r@x, q@x\r\n\r\n"),
            "(NIL NIL ((NIL NIL \"a\" \"x\")) ((NIL NIL \"s\" \"x\")) "
            "((NIL NIL \"r\" \"x\")(NIL NIL \"q\" \"x\")) NIL NIL NIL NIL NIL)");
  EXPECT_EQ(envelope("From: a@x\r\nSender:\r\nReply-To: \r\n\r\n"),
            "(NIL NIL ((NIL NIL \"a\" \"x\")) ((NIL NIL \"a\" \"x\")) ((NIL NIL \"a\" \"x\")) "
            "NIL NIL NIL NIL NIL)");
}

TEST(RenderEnvelope, UnfoldingCaseAndFirstOccurrence) {
  EXPECT_EQ(envelope("SUBJECT: one\r\n two\r\nsubject: later\r\n"
                     "in-reply-to: <p@x>\r\nBcc: b@x\r\nCC: c@x\r\n\r\nbody\r\n"),
            "(NIL \"one two\" NIL NIL NIL NIL ((NIL NIL \"c\" \"x\")) ((NIL NIL \"b\" \"x\")) \"<p@x>\" NIL)");
  // The header ends at the blank line: fields in the body are not read.
  EXPECT_EQ(envelope("X: y\r\n\r\nSubject: no\r\n"), "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)");
}

TEST(RenderEnvelope, BareLineFeeds) {
  EXPECT_EQ(envelope("Subject: lf\n folded\nFrom: a@x\n\nSubject: body\n"),
            "(NIL \"lf folded\" ((NIL NIL \"a\" \"x\")) ((NIL NIL \"a\" \"x\")) ((NIL NIL \"a\" \"x\")) "
            "NIL NIL NIL NIL NIL)");
}

std::string to_field(std::string_view value) {  // the To member of the envelope
  std::string env = envelope("To: " + std::string(value) + "\r\n\r\n");
  // "(NIL NIL NIL NIL NIL " then To, then " NIL NIL NIL NIL)"
  const std::string head = "(NIL NIL NIL NIL NIL ";
  const std::string tail = " NIL NIL NIL NIL)";
  EXPECT_EQ(env.compare(0, head.size(), head), 0) << env;
  EXPECT_GE(env.size(), head.size() + tail.size());
  return env.substr(head.size(), env.size() - head.size() - tail.size());
}

TEST(RenderEnvelope, AddressForms) {
  struct Case {
    std::string in, want;
  };
  const Case cases[] = {
      {"joe@x.example", "((NIL NIL \"joe\" \"x.example\"))"},
      {"Joe <joe@x.example>", "((\"Joe\" NIL \"joe\" \"x.example\"))"},
      {"Joe Q. Public <joe@x.example>", "((\"Joe Q. Public\" NIL \"joe\" \"x.example\"))"},
      {"\"Joe \\\\ Q\" <joe@x.example>", "((\"Joe \\\\ Q\" NIL \"joe\" \"x.example\"))"},
      {"<joe@x.example>", "((NIL NIL \"joe\" \"x.example\"))"},
      {"joe@x.example (Joe Public)", "((\"Joe Public\" NIL \"joe\" \"x.example\"))"},
      {"Joe (the (nested) man) <joe (c) @ x.example (d)>", "((\"Joe\" NIL \"joe\" \"x.example\"))"},
      {"<@r1.example,@r2.example:joe@x.example>", "((NIL \"@r1.example,@r2.example\" \"joe\" \"x.example\"))"},
      {"Joe <@r1.example: joe@x.example>", "((\"Joe\" \"@r1.example\" \"joe\" \"x.example\"))"},
      {"john . doe @ x . example", "((NIL NIL \"john.doe\" \"x.example\"))"},
      {"\"john doe\"@x.example", "((NIL NIL \"\\\"john doe\\\"\" \"x.example\"))"},
      {"joe@[192.0.2.1]", "((NIL NIL \"joe\" \"[192.0.2.1]\"))"},
      {"undisclosed", "((NIL NIL \"undisclosed\" NIL))"},
      {"undisclosed-recipients:;", "((NIL NIL \"undisclosed-recipients\" NIL)(NIL NIL NIL NIL))"},
      {"Team: a@x, Bob <b@y>", "((NIL NIL \"Team\" NIL)(NIL NIL \"a\" \"x\")(\"Bob\" NIL \"b\" \"y\")(NIL NIL NIL NIL))"},
      {"A: a@x;, B: b@y;", "((NIL NIL \"A\" NIL)(NIL NIL \"a\" \"x\")(NIL NIL NIL NIL)"
                           "(NIL NIL \"B\" NIL)(NIL NIL \"b\" \"y\")(NIL NIL NIL NIL))"},
      {"=?UTF-8?Q?J=C3=B6rg?= <j@x.example>", "((\"=?UTF-8?Q?J=C3=B6rg?=\" NIL \"j\" \"x.example\"))"},
      {"\"=?UTF-8?Q?J=C3=B6rg?=\" <j@x.example>", "((\"=?UTF-8?Q?J=C3=B6rg?=\" NIL \"j\" \"x.example\"))"},
      {"a@x,, ,b@y,", "((NIL NIL \"a\" \"x\")(NIL NIL \"b\" \"y\"))"},
      {"\"\" <a@x>", "((NIL NIL \"a\" \"x\"))"},
      {"J\xC3\xB6rg <j@x>", "(({5}\r\nJ\xC3\xB6rg NIL \"j\" \"x\"))"},
      {"<>", "((NIL NIL \"\" NIL))"},
      {"a@", "((NIL NIL \"a\" \"\"))"},
      {",,,", "NIL"},
      {"(just a comment)", "NIL"},
  };
  for (const Case& c : cases) EXPECT_EQ(to_field(c.in), c.want) << c.in;
}

TEST(RenderEnvelope, GarbageDoesNotCrash) {
  const std::string garbage[] = {
      "<<<>>>", "\"unterminated", "(unterminated (comment", "@@@:::;;;", "<@a,@b", "<@a,@b:",
      "a@b@c", "\\", ")))", "]]][[[", "Group: <a@b", ":;:;:;", "a <b@c> d <e@f>", "<a, b>",
      std::string(5000, '('), std::string(5000, '<'), std::string(5000, ':'), std::string("\0\0", 2),
  };
  for (const std::string& g : garbage) {
    std::string env = envelope("From: " + g + "\r\nTo: " + g + "\r\n\r\n");
    EXPECT_EQ(env.front(), '(') << g;
    EXPECT_EQ(env.back(), ')') << g;
  }
  EXPECT_EQ(to_field("a <b@c> d <e@f>"), "((\"a\" NIL \"b\" \"c\")(\"d\" NIL \"e\" \"f\"))");
  EXPECT_EQ(to_field(":;:;"), "((NIL NIL \"\" NIL)(NIL NIL NIL NIL)(NIL NIL \"\" NIL)(NIL NIL NIL NIL))");
  // Unterminated group: closed at the end.
  EXPECT_EQ(to_field("G: a@b"), "((NIL NIL \"G\" NIL)(NIL NIL \"a\" \"b\")(NIL NIL NIL NIL))");
}

TEST(RenderEnvelope, LiteralsForEightBitAndLongText) {
  EXPECT_EQ(envelope("Subject: Gr\xC3\xBC\xC3\x9F" "e\r\n\r\n"),
            "(NIL {7}\r\nGr\xC3\xBC\xC3\x9F" "e NIL NIL NIL NIL NIL NIL NIL NIL)");
  EXPECT_EQ(envelope("Subject: Gr\xC3\xBC\xC3\x9F" "e\r\n\r\n", true),
            "(NIL \"Gr\xC3\xBC\xC3\x9F" "e\" NIL NIL NIL NIL NIL NIL NIL NIL)");
  const std::string long_subject(2000, 's');
  EXPECT_EQ(envelope("Subject: " + long_subject + "\r\n\r\n"),
            "(NIL {2000}\r\n" + long_subject + " NIL NIL NIL NIL NIL NIL NIL NIL)");
}

// ---- Header/body split edge cases -------------------------------------------------------

TEST(RenderSection, BareLineFeeds) {
  const std::string raw = "Subject: x\nFrom: a@b\n\nbody\n";
  EXPECT_EQ(body(raw, sec({}, Text::header)), "Subject: x\nFrom: a@b\n\n");
  EXPECT_EQ(body(raw, sec({}, Text::text)), "body\n");
  EXPECT_EQ(body(raw, sec({1})), "body\n");
  EXPECT_EQ(body(raw, sec({}, Text::header_fields, {"subject"})), "Subject: x\r\n\r\n");
}

TEST(RenderSection, NoSeparator) {
  const std::string raw = "Subject: x\r\nFrom: a@b\r\n";
  EXPECT_EQ(body(raw, sec({}, Text::header)), raw);
  EXPECT_EQ(body(raw, sec({}, Text::text)), "");
  EXPECT_EQ(body(raw, sec({1})), "");
  EXPECT_EQ(body(raw, sec({}, Text::header_fields, {"from"})), "From: a@b\r\n\r\n");
  // The last field without its line ending still gets a CRLF.
  EXPECT_EQ(body("Subject: x", sec({}, Text::header_fields, {"subject"})), "Subject: x\r\n\r\n");
}

// ---- BINARY -----------------------------------------------------------------------------

std::string part_with(std::string_view cte, std::string_view body) {
  return "Content-Type: multipart/mixed; boundary=z\r\n\r\n--z\r\nContent-Transfer-Encoding: " +
         std::string(cte) + "\r\n\r\n" + std::string(body) + "\r\n--z--\r\n";
}

TEST(RenderBinary, Encodings) {
  struct Case {
    std::string cte, body;
    BinaryStatus status;
    std::string want;
  };
  const Case cases[] = {
      {"base64", "aGVsbG8gd29ybGQ=", BinaryStatus::ok, "hello world"},
      {"BASE64", "aGVs\r\nbG8g\r\n d29y bGQ=\r\n", BinaryStatus::ok, "hello world"},
      {"base64", "AAEC/w==", BinaryStatus::ok, std::string("\x00\x01\x02\xff", 4)},
      {"base64", "aGk=aGk=", BinaryStatus::ok, "hihi"},
      {"base64", "", BinaryStatus::ok, ""},
      {"quoted-printable", "a=3Db=\r\nc  \r\nd=e9", BinaryStatus::ok, "a=bc\r\nd\xe9"},
      {"quoted-printable", "x=ZZ y= \r\nz\ttail\t\r\nend", BinaryStatus::ok, "x=ZZ yz\ttail\r\nend"},
      {"quoted-printable", "soft=", BinaryStatus::ok, "soft"},
      {"quoted-printable", "=4", BinaryStatus::ok, "=4"},
      {"7bit", "as is=3D", BinaryStatus::ok, "as is=3D"},
      {"8bit", "caf\xC3\xA9", BinaryStatus::ok, "caf\xC3\xA9"},
      {"binary", std::string("a\0b", 3), BinaryStatus::ok, std::string("a\0b", 3)},
      {"x-uuencode", "begin 644 x", BinaryStatus::unknown_cte, ""},
  };
  for (const Case& c : cases) {
    const std::string raw = part_with(c.cte, c.body);
    std::string out;
    EXPECT_EQ(binary_section(raw, json_of(raw), {1}, out), c.status) << c.cte << " " << c.body;
    if (c.status == BinaryStatus::ok) {
      EXPECT_EQ(out, c.want) << c.cte << " " << c.body;
    }
  }
}

TEST(RenderBinary, SinglePartMessage) {
  const std::string raw = "Content-Transfer-Encoding: base64\r\n\r\naGk=\r\n";
  std::string out;
  EXPECT_EQ(binary_section(raw, "", {1}, out), BinaryStatus::ok);
  EXPECT_EQ(out, "hi");
  EXPECT_EQ(binary_section(raw, "", {2}, out), BinaryStatus::no_such_part);
  EXPECT_EQ(binary_section(raw, "", {}, out), BinaryStatus::ok);
  EXPECT_EQ(out, raw);  // the whole message: nothing decoded
}

// ---- Per-entry trace in front of the stored message ------------------------------------
//
// A delivered copy is its own Delivered-To line + the shared stored message, whose JSON
// offsets are relative to the stored message (render.hpp): every part and BODYSTRUCTURE
// stays as it is, the top-level header and the whole message gain the line.

const std::string kTrace = "Delivered-To: jo@example.org\r\n";

std::string header_of(const std::string& m) { return *section_text(m, json_of(m), sec({}, Text::header)); }

TEST(RenderTrace, PartsAndStructureAreUnchangedHeaderAndWholeGainTheTrace) {
  for (const std::string& m : {kSimple, kMixed, kForward, kWrapped}) {
    SCOPED_TRACE(m.substr(0, 40));
    const std::string json = json_of(m);
    const std::string raw = kTrace + m;
    const size_t base = kTrace.size();
    for (bool ext : {false, true})
      EXPECT_EQ(body_structure(raw, json, ext, false, base), body_structure(m, json, ext));
    EXPECT_EQ(section_text(raw, json, sec({}), base), raw);
    EXPECT_EQ(section_text(raw, json, sec({}, Text::header), base), kTrace + header_of(m));
    EXPECT_EQ(section_text(raw, json, sec({}, Text::text), base), body(m, sec({}, Text::text)));
    EXPECT_EQ(section_text(raw, json, sec({}, Text::header_fields, {"delivered-to"}), base), kTrace + "\r\n");
    EXPECT_EQ(section_text(raw, json, sec({}, Text::header_fields_not, {"Delivered-To"}), base),
              body(m, sec({}, Text::header_fields_not, {"Delivered-To"})));
    std::string whole;
    EXPECT_EQ(binary_section(raw, json, {}, whole, base), BinaryStatus::ok);
    EXPECT_EQ(whole, raw);
    // Every part, its MIME header and (for embedded messages) HEADER and TEXT: as before.
    for (uint32_t a = 1; a <= 3; ++a) {
      for (uint32_t b = 0; b <= 3; ++b) {
        std::vector<uint32_t> part{a};
        if (b > 0) part.push_back(b);
        for (Text t : {Text::none, Text::header, Text::text, Text::header_fields}) {
          SCOPED_TRACE(std::to_string(a) + "." + std::to_string(b) + " " + std::to_string(static_cast<int>(t)));
          EXPECT_EQ(section_text(raw, json, sec(part, t, {"subject"}), base), body(m, sec(part, t, {"subject"})));
        }
        const bool top_is_part_1 = m == kSimple || m == kWrapped;  // 1.MIME is the top-level header: below
        if (part.size() > 1 || !top_is_part_1) {
          EXPECT_EQ(section_text(raw, json, sec(part, Text::mime), base), body(m, sec(part, Text::mime)));
        }
        std::string traced, plain;
        EXPECT_EQ(binary_section(raw, json, part, traced, base), binary_section(m, json, part, plain));
        EXPECT_EQ(traced, plain);
      }
    }
  }
  // The header of a single-part message is its part 1's MIME header too, trace included.
  EXPECT_EQ(section_text(kTrace + kSimple, json_of(kSimple), sec({1}, Text::mime), kTrace.size()),
            kTrace + kSimpleHeader);
}

TEST(RenderTrace, HeaderCacheAndResummarisedForms) {
  // The header cache gives the trace + the stored top-level header, no body.
  const std::string json = json_of(kMixed);
  const std::string cached = kTrace + kMixedHeader;
  EXPECT_EQ(section_text(cached, json, sec({}, Text::header), kTrace.size()), cached);
  EXPECT_EQ(section_text(cached, json, sec({}, Text::header_fields, {"subject", "delivered-to"}), kTrace.size()),
            kTrace + "Subject: mixed\r\n\r\n");
  // Without JSON (not requested, or unreadable) the whole of raw is summarised: the trace is
  // simply the first header field, and `base` is not used.
  for (std::string_view none : {std::string_view(), std::string_view("{not json")}) {
    EXPECT_EQ(section_text(kTrace + kMixed, none, sec({}, Text::header), kTrace.size()), kTrace + kMixedHeader);
    EXPECT_EQ(section_text(kTrace + kMixed, none, sec({2}), kTrace.size()), "JVBERi0x\r\nLjQK");
    EXPECT_EQ(body_structure(kTrace + kMixed, none, true, false, kTrace.size()), body_structure(kMixed, json, true));
  }
}

TEST(RenderTrace, OffsetsStayInsideTheMessage) {
  // Damaged or hostile JSON: offsets near SIZE_MAX must not wrap around when moved by base.
  const std::string raw = kTrace + "Subject: x\r\n\r\nbody";
  const std::string huge = "{\"type\":\"text\",\"subtype\":\"plain\",\"header_offset\":18446744073709551615,"
                           "\"body_offset\":18446744073709551615,\"size\":18446744073709551615}";
  EXPECT_EQ(section_text(raw, huge, sec({1}), kTrace.size()), "");
  EXPECT_EQ(section_text(raw, huge, sec({}, Text::text), kTrace.size()), "");
  EXPECT_EQ(section_text(raw, huge, sec({}, Text::header), kTrace.size()), raw);
  // A base past the end is clamped to it.
  EXPECT_EQ(section_text(raw, json_of("Subject: x\r\n\r\nbody"), sec({1}), raw.size() + 100), "");
}

// ---- Partial ----------------------------------------------------------------------------

TEST(RenderPartial, Ranges) {
  using P = std::optional<std::pair<uint32_t, uint32_t>>;
  EXPECT_EQ(apply_partial("hello", P()), "hello");
  EXPECT_EQ(apply_partial("hello", P({1, 3})), "ell");
  EXPECT_EQ(apply_partial("hello", P({3, 100})), "lo");
  EXPECT_EQ(apply_partial("hello", P({0, 0})), "");
  EXPECT_EQ(apply_partial("hello", P({4, 1})), "o");
  EXPECT_EQ(apply_partial("hello", P({5, 1})), "");
  EXPECT_EQ(apply_partial("hello", P({UINT32_MAX, UINT32_MAX})), "");
  EXPECT_EQ(apply_partial("", P({0, 10})), "");
}

// ---- Robustness -------------------------------------------------------------------------

// Random damage to real messages must never crash or read outside the message (run under
// ASan to make the last point count).
TEST(RenderRobustness, MutatedMessages) {
  std::mt19937 rng(20240601);
  const std::string seeds[] = {kSimple, kMixed, kForward, kWrapped};
  const char alphabet[] = "\r\n \t:;<>@,\"()[]\\-=z";
  for (const std::string& seed : seeds) {
    for (int round = 0; round < 200; ++round) {
      std::string raw = seed;
      int edits = 1 + static_cast<int>(rng() % 8);
      for (int e = 0; e < edits && !raw.empty(); ++e) {
        size_t at = rng() % raw.size();
        switch (rng() % 3) {
          case 0: raw[at] = alphabet[rng() % (sizeof alphabet - 1)]; break;
          case 1: raw.erase(at, 1 + rng() % 10); break;
          default: raw.insert(at, 1, alphabet[rng() % (sizeof alphabet - 1)]); break;
        }
      }
      const std::string json = json_of(raw);
      (void)envelope(raw);
      std::string bs = body_structure(raw, json, true);
      EXPECT_EQ(bs.front(), '(');
      for (uint32_t a = 0; a < 4; ++a) {
        for (uint32_t b = 0; b < 3; ++b) {
          std::vector<uint32_t> part{a};
          if (b > 0) part.push_back(b);
          for (Text t : {Text::none, Text::header, Text::text, Text::mime, Text::header_fields}) {
            (void)section_text(raw, json, sec(part, t, {"subject"}));
          }
          std::string out;
          (void)binary_section(raw, json, part, out);
        }
      }
    }
  }
}

// Literal8 APPENDs with NUL octets (imaptest's append-binary group): part bodies holding a
// NUL become base64, BINARY[] decodes them back, BODY[] holds no NUL.
TEST(RenderBinaryParts, NulBodiesBecomeBase64) {
  const std::string body("\0-\xe4\r\n\r\n\r\n", 9);
  const std::string single = "From: a@b\r\nContent-Type: application/octet-stream\r\n"
                             "Content-Transfer-Encoding: binary\r\n\r\n" + body;
  auto enc = encode_binary_parts(single);
  ASSERT_TRUE(enc);
  EXPECT_EQ(*enc, "From: a@b\r\nContent-Type: application/octet-stream\r\n"
                  "Content-Transfer-Encoding: base64\r\n\r\nAC3kDQoNCg0K");
  std::string out;
  ASSERT_EQ(binary_section(*enc, json_of(*enc), {1}, out), BinaryStatus::ok);
  EXPECT_EQ(out, body);

  // A multipart: only the part with the NUL changes; a folded CTE field goes whole; a
  // part without the field gets one.
  const std::string big(100, '\0');
  static constexpr char kTail[] = "\r\n--B\r\nContent-Type: application/y\r\n\r\nA\0B\r\n--B--\r\n";
  const std::string multi = "Content-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\n"
                            "Content-Type: text/plain\r\n\r\nplain text\r\n--B\r\n"
                            "Content-Type: application/x\r\nContent-Transfer-Encoding:\r\n binary\r\nX: y\r\n\r\n" +
                            big + std::string(kTail, sizeof kTail - 1);
  enc = encode_binary_parts(multi);
  ASSERT_TRUE(enc);
  EXPECT_EQ(enc->find('\0'), std::string::npos);
  std::string json = json_of(*enc);
  ASSERT_EQ(binary_section(*enc, json, {2}, out), BinaryStatus::ok);
  EXPECT_EQ(out, big);
  ASSERT_EQ(binary_section(*enc, json, {3}, out), BinaryStatus::ok);
  EXPECT_EQ(out, std::string("A\0B", 3));
  EXPECT_EQ(section_text(*enc, json, Section{{1}, Text::none, {}}), "plain text");
  EXPECT_EQ(section_text(*enc, json, Section{{2}, Text::mime, {}}),
            "Content-Type: application/x\r\nContent-Transfer-Encoding: base64\r\nX: y\r\n\r\n");
  EXPECT_NE(section_text(*enc, json, Section{{2}, Text::none, {}})->find("\r\n"), std::string::npos)
      << "76-character lines";
  // Nothing to do without a NUL; a NUL in a header is left for the caller.
  EXPECT_FALSE(encode_binary_parts("Subject: x\r\n\r\nbody"));
  auto hdr = encode_binary_parts(std::string("Subject: \0\r\n\r\nbody", 18));
  EXPECT_TRUE(!hdr || hdr->find('\0') != std::string::npos);
}

}  // namespace
}  // namespace caremail::imap


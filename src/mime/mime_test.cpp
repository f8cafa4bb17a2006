// Tests for mime::summarize: a table of real messages with the exact summary and body
// structure each must produce, then the limits, then concurrent use.
#include "mime/mime.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

namespace caremail::mime {
namespace {

namespace json = boost::json;

// Test messages are written with "\n"; real mail uses CRLF.
std::string crlf(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '\n') out += "\r\n";
    else out.push_back(c);
  }
  return out;
}

// What one node of body_structure must hold. `body` is the exact encoded body: the test
// checks size == body.size() and that raw[body_offset, +size) is that text.
struct PartExpect {
  std::string part;
  std::string type;
  std::string subtype;
  std::string encoding;
  std::string body;
  int lines = -1;  // -1: "lines" must be absent
  std::string filename;
  std::string charset;
  std::string disposition;
  size_t children = 0;
};

struct Case {
  std::string name;
  std::string raw;
  std::string subject, from, to, cc, date;
  UnixTime sent_at = 0;
  std::string message_id, in_reply_to, references;
  bool has_attachments = false;
  std::vector<PartExpect> parts;  // body_structure in pre-order
};

std::string str(const json::object& o, const char* key) {
  const json::value* v = o.if_contains(key);
  return v != nullptr ? std::string(v->as_string()) : std::string();
}

void flatten(const json::object& node, std::vector<const json::object*>& out) {
  out.push_back(&node);
  if (const json::value* ps = node.if_contains("parts"))
    for (const json::value& child : ps->as_array()) flatten(child.as_object(), out);
}

void check_case(const Case& c) {
  SCOPED_TRACE(c.name);
  auto r = summarize(c.raw);
  ASSERT_TRUE(r.ok()) << r.error().message;
  const MessageSummary& s = *r;
  EXPECT_EQ(s.subject, c.subject);
  EXPECT_EQ(s.from, c.from);
  EXPECT_EQ(s.to, c.to);
  EXPECT_EQ(s.cc, c.cc);
  EXPECT_EQ(s.date, c.date);
  EXPECT_EQ(s.sent_at, c.sent_at);
  EXPECT_EQ(s.message_id, c.message_id);
  EXPECT_EQ(s.in_reply_to, c.in_reply_to);
  EXPECT_EQ(s.references, c.references);
  EXPECT_EQ(s.has_attachments, c.has_attachments);

  json::value root = json::parse(s.body_structure);
  std::vector<const json::object*> nodes;
  flatten(root.as_object(), nodes);
  ASSERT_EQ(nodes.size(), c.parts.size()) << s.body_structure;
  for (size_t i = 0; i < nodes.size(); ++i) {
    const json::object& n = *nodes[i];
    const PartExpect& e = c.parts[i];
    SCOPED_TRACE("part \"" + e.part + "\"");
    EXPECT_EQ(str(n, "part"), e.part);
    EXPECT_EQ(str(n, "type"), e.type);
    EXPECT_EQ(str(n, "subtype"), e.subtype);
    EXPECT_EQ(str(n, "encoding"), e.encoding);
    auto size = static_cast<size_t>(n.at("size").as_int64());
    auto body_offset = static_cast<size_t>(n.at("body_offset").as_int64());
    EXPECT_EQ(size, e.body.size());
    ASSERT_LE(body_offset + size, c.raw.size());
    EXPECT_EQ(c.raw.substr(body_offset, size), e.body);
    if (e.lines < 0) EXPECT_FALSE(n.contains("lines"));
    else EXPECT_EQ(n.at("lines").as_int64(), e.lines);
    EXPECT_EQ(str(n, "filename"), e.filename);
    EXPECT_EQ(str(n, "disposition"), e.disposition);
    std::string charset;
    if (const json::value* p = n.if_contains("params"))
      if (const json::value* cs = p->as_object().if_contains("charset")) charset = cs->as_string();
    EXPECT_EQ(charset, e.charset);
    size_t children = n.contains("parts") ? n.at("parts").as_array().size() : 0;
    EXPECT_EQ(children, e.children);
  }
}

// ---- The table -------------------------------------------------------------------------

const std::string kPlain = crlf(
    "From: Alice Example <alice@example.org>\n"
    "To: bob@example.org\n"
    "Cc: \"Carol, C.\" <carol@example.org>\n"
    "Subject: Hello\n"
    "Date: Tue, 1 Aug 2023 10:00:00 +0000\n"
    "Message-ID: <abc@example.org>\n"
    "In-Reply-To: <prev@example.org>\n"
    "References: <root@example.org>\n"
    " <prev@example.org>\n"
    "Content-Type: text/plain; charset=utf-8\n"
    "\n"
    "Hello Bob,\n"
    "line two\n");

const std::string kMixedPdf = crlf(
    "From: a@example.org\n"
    "Subject: report\n"
    "MIME-Version: 1.0\n"
    "Content-Type: multipart/mixed; boundary=\"b1\"\n"
    "\n"
    "This is a multi-part message in MIME format.\n"
    "--b1\n"
    "Content-Type: text/plain; charset=us-ascii\n"
    "\n"
    "See attached.\n"
    "--b1\n"
    "Content-Type: application/pdf; name=\"report.pdf\"\n"
    "Content-Transfer-Encoding: base64\n"
    "Content-Disposition: attachment; filename=\"report.pdf\"\n"
    "\n"
    "JVBERi0xLjQgZmFr\n"
    "ZQ==\n"
    "--b1--\n"
    "epilogue\n");

std::vector<Case> cases() {
  std::vector<Case> t;

  t.push_back({"plain text", kPlain, "Hello", "Alice Example <alice@example.org>",
               "bob@example.org", "\"Carol, C.\" <carol@example.org>",
               "Tue, 1 Aug 2023 10:00:00 +0000", 1690884000, "abc@example.org",
               "<prev@example.org>", "<root@example.org> <prev@example.org>", false,
               {{"1", "text", "plain", "7bit", crlf("Hello Bob,\nline two\n"), 2, "", "utf-8"}}});

  t.push_back({"quoted-printable",
               crlf("From: a@example.org\n"
                    "Subject: qp\n"
                    "Content-Type: text/plain; charset=\"UTF-8\"\n"
                    "Content-Transfer-Encoding: Quoted-Printable\n"
                    "\n"
                    "Caf=C3=A9 au lait, tr=\n"
                    "=C3=A8s bien\n"
                    "last line without ending"),
               "qp", "a@example.org", "", "", "", 0, "", "", "", false,
               {{"1", "text", "plain", "quoted-printable",
                 crlf("Caf=C3=A9 au lait, tr=\n=C3=A8s bien\nlast line without ending"), 3, "",
                 "UTF-8"}}});

  t.push_back({"base64 attachment", kMixedPdf, "report", "a@example.org", "", "", "", 0, "", "",
               "", true,
               {{"", "multipart", "mixed", "7bit",
                 crlf("This is a multi-part message in MIME format.\n--b1\n"
                      "Content-Type: text/plain; charset=us-ascii\n\nSee attached.\n--b1\n"
                      "Content-Type: application/pdf; name=\"report.pdf\"\n"
                      "Content-Transfer-Encoding: base64\n"
                      "Content-Disposition: attachment; filename=\"report.pdf\"\n\n"
                      "JVBERi0xLjQgZmFr\nZQ==\n--b1--\nepilogue\n"),
                 -1, "", "", "", 2},
                {"1", "text", "plain", "7bit", "See attached.", 1, "", "us-ascii"},
                {"2", "application", "pdf", "base64", crlf("JVBERi0xLjQgZmFr\nZQ=="), -1,
                 "report.pdf", "", "attachment"}}});

  t.push_back({"alternative inside mixed, inline image with a name",
               crlf("From: a@example.org\n"
                    "Content-Type: multipart/mixed; boundary=outer\n"
                    "\n"
                    "--outer\n"
                    "Content-Type: multipart/alternative; boundary=\"inner\"\n"
                    "\n"
                    "--inner\n"
                    "Content-Type: text/plain\n"
                    "\n"
                    "plain body\n"
                    "--inner\n"
                    "Content-Type: text/html; charset=utf-8\n"
                    "\n"
                    "<p>html</p>\n"
                    "\n"
                    "--inner--\n"
                    "\n"
                    "--outer\n"
                    "Content-Type: image/png; name=logo.png\n"
                    "Content-Disposition: inline\n"
                    "Content-ID: <logo@x>\n"
                    "Content-Transfer-Encoding: base64\n"
                    "\n"
                    "iVBORw0KGgo=\n"
                    "--outer--\n"),
               "", "a@example.org", "", "", "", 0, "", "", "", true,
               {{"", "multipart", "mixed", "7bit",
                 crlf("--outer\nContent-Type: multipart/alternative; boundary=\"inner\"\n\n"
                      "--inner\nContent-Type: text/plain\n\nplain body\n--inner\n"
                      "Content-Type: text/html; charset=utf-8\n\n<p>html</p>\n\n--inner--\n\n"
                      "--outer\nContent-Type: image/png; name=logo.png\n"
                      "Content-Disposition: inline\nContent-ID: <logo@x>\n"
                      "Content-Transfer-Encoding: base64\n\niVBORw0KGgo=\n--outer--\n"),
                 -1, "", "", "", 2},
                {"1", "multipart", "alternative", "7bit",
                 crlf("--inner\nContent-Type: text/plain\n\nplain body\n--inner\n"
                      "Content-Type: text/html; charset=utf-8\n\n<p>html</p>\n\n--inner--\n"),
                 -1, "", "", "", 2},
                {"1.1", "text", "plain", "7bit", "plain body", 1, "", ""},
                {"1.2", "text", "html", "7bit", crlf("<p>html</p>\n"), 1, "", "utf-8"},
                {"2", "image", "png", "base64", "iVBORw0KGgo=", -1, "logo.png", "", "inline"}}});

  const std::string inner1 = crlf(
      "From: Dave <dave@example.org>\n"
      "Subject: original\n"
      "\n"
      "forwarded text\n");
  const std::string inner2 = crlf(
      "Subject: second\n"
      "Content-Type: multipart/alternative; boundary=alt\n"
      "\n"
      "--alt\n"
      "\n"
      "a\n"
      "--alt\n"
      "Content-Type: text/html\n"
      "\n"
      "<b>b</b>\n"
      "--alt--\n");
  const std::string fwd = crlf(
      "From: a@example.org\n"
      "Subject: Fwd: original\n"
      "Content-Type: multipart/mixed; boundary=\"==fwd==\"\n"
      "\n"
      "--==fwd==\n"
      "\n"
      "see below\n"
      "--==fwd==\n"
      "Content-Type: message/rfc822\n"
      "Content-Disposition: attachment; filename=\"fwd.eml\"\n"
      "\n") + inner1 + crlf("--==fwd==\n"
      "Content-Type: message/rfc822\n"
      "\n") + inner2 + crlf("--==fwd==--\n");
  const std::string inner1_body = inner1.substr(0, inner1.size() - 2);  // CRLF before boundary
  const std::string inner2_body = inner2.substr(0, inner2.size() - 2);
  t.push_back({"message/rfc822 attachments", fwd, "Fwd: original", "a@example.org", "", "", "",
               0, "", "", "", true,
               {{"", "multipart", "mixed", "7bit", fwd.substr(fwd.find("\r\n\r\n") + 4), -1, "",
                 "", "", 3},
                {"1", "text", "plain", "7bit", "see below", 1, "", "us-ascii"},
                {"2", "message", "rfc822", "7bit", inner1_body, 4, "fwd.eml", "", "attachment", 1},
                {"2.1", "text", "plain", "7bit", "forwarded text", 1, "", "us-ascii"},
                {"3", "message", "rfc822", "7bit", inner2_body, 11, "", "", "", 1},
                {"3", "multipart", "alternative", "7bit",
                 crlf("--alt\n\na\n--alt\nContent-Type: text/html\n\n<b>b</b>\n--alt--"), -1, "",
                 "", "", 2},
                {"3.1", "text", "plain", "7bit", "a", 1, "", "us-ascii"},
                {"3.2", "text", "html", "7bit", "<b>b</b>", 1, "", ""}}});

  t.push_back({"RFC 2047 subject and From, UTF-8 and ISO-8859-1",
               crlf("From: =?ISO-8859-1?Q?Andr=E9?= Pirard <pirard@example.org>\n"
                    "To: =?UTF-8?B?SsO8cmdlbg==?= <j@example.org>, plain@example.org\n"
                    "Subject: =?UTF-8?B?R3LDvMOfZSBhdXMgS8O2bG4=?=\n"
                    " =?iso-8859-1?q?_und_M=FCnchen?=\n"
                    "\n"
                    "x\n"),
               "Grüße aus Köln und München", "André Pirard <pirard@example.org>",
               "Jürgen <j@example.org>, plain@example.org", "", "", 0, "", "", "", false,
               {{"1", "text", "plain", "7bit", crlf("x\n"), 1, "", "us-ascii"}}});

  t.push_back({"unencoded 8-bit Latin-1 subject",
               crlf("Subject: Caf\xE9 cr\xE8me\n\nx"), "Café crème", "", "", "", "", 0, "", "", "",
               false, {{"1", "text", "plain", "7bit", "x", 1, "", "us-ascii"}}});

  t.push_back({"missing headers", crlf("\nbody only\n"), "", "", "", "", "", 0, "", "", "", false,
               {{"1", "text", "plain", "7bit", crlf("body only\n"), 1, "", "us-ascii"}}});

  t.push_back({"unparseable date kept raw",
               crlf("Date: the day after tomorrow\nMessage-ID: broken\n\nx\n"), "", "", "", "",
               "the day after tomorrow", 0, "broken", "", "", false,
               {{"1", "text", "plain", "7bit", crlf("x\n"), 1, "", "us-ascii"}}});

  t.push_back({"broken boundary: declared boundary never appears",
               crlf("Content-Type: multipart/mixed; boundary=XYZ\n"
                    "\n"
                    "--ABC\n"
                    "Content-Type: text/plain\n"
                    "\n"
                    "lost\n"
                    "--ABC--\n"),
               "", "", "", "", "", 0, "", "", "", false,
               {{"", "multipart", "mixed", "7bit",
                 crlf("--ABC\nContent-Type: text/plain\n\nlost\n--ABC--\n"), -1}}});

  t.push_back({"truncated multipart: no close delimiter",
               crlf("Content-Type: multipart/mixed; boundary=b\n"
                    "\n"
                    "--b\n"
                    "\n"
                    "one\n"
                    "--b\n"
                    "Content-Type: text/plain\n"
                    "\n"
                    "two, cut off"),
               "", "", "", "", "", 0, "", "", "", false,
               {{"", "multipart", "mixed", "7bit",
                 crlf("--b\n\none\n--b\nContent-Type: text/plain\n\ntwo, cut off"), -1, "", "",
                 "", 2},
                {"1", "text", "plain", "7bit", "one", 1, "", "us-ascii"},
                {"2", "text", "plain", "7bit", "two, cut off", 1, "", ""}}});

  t.push_back({"header-only message, no blank line",
               crlf("From: a@example.org\nSubject: only headers\n"), "only headers",
               "a@example.org", "", "", "", 0, "", "", "", false,
               {{"1", "text", "plain", "7bit", "", 0, "", "us-ascii"}}});

  t.push_back({"bare LF line endings",
               "From: a@example.org\n"
               "Subject: lf\n"
               "Date: Thu, 29 Feb 2024 23:59:59 +0000\n"
               "Content-Type: multipart/alternative; boundary=\"lf\"\n"
               "\n"
               "--lf\n"
               "Content-Type: text/plain\n"
               "\n"
               "first\n"
               "second\n"
               "--lf\n"
               "Content-Type: text/html\n"
               "Content-Disposition: attachment; filename*=UTF-8''na%C3%AFve.html\n"
               "\n"
               "<i>x</i>\n"
               "--lf--\n",
               "lf", "a@example.org", "", "", "Thu, 29 Feb 2024 23:59:59 +0000", 1709251199, "", "",
               "", true,
               {{"", "multipart", "alternative", "7bit",
                 "--lf\nContent-Type: text/plain\n\nfirst\nsecond\n--lf\nContent-Type: text/html\n"
                 "Content-Disposition: attachment; filename*=UTF-8''na%C3%AFve.html\n\n"
                 "<i>x</i>\n--lf--\n",
                 -1, "", "", "", 2},
                {"1", "text", "plain", "7bit", "first\nsecond", 2, "", ""},
                {"2", "text", "html", "7bit", "<i>x</i>", 1, "naïve.html", "", "attachment"}}});

  t.push_back({"part whose header is cut by the next boundary",
               crlf("Content-Type: multipart/mixed; boundary=b\n"
                    "\n"
                    "--b\n"
                    "Content-Type: text/plain\n"
                    "--b\n"
                    "\n"
                    "second\n"
                    "--b--\n"),
               "", "", "", "", "", 0, "", "", "", false,
               {{"", "multipart", "mixed", "7bit",
                 crlf("--b\nContent-Type: text/plain\n--b\n\nsecond\n--b--\n"), -1, "", "", "", 2},
                {"1", "text", "plain", "7bit", "", 0, "", ""},
                {"2", "text", "plain", "7bit", "second", 1, "", "us-ascii"}}});

  t.push_back({"multipart/digest children default to message/rfc822",
               crlf("Content-Type: multipart/digest; boundary=d\n"
                    "\n"
                    "--d\n"
                    "\n"
                    "Subject: one\n"
                    "\n"
                    "1\n"
                    "--d--\n"),
               "", "", "", "", "", 0, "", "", "", false,
               {{"", "multipart", "digest", "7bit", crlf("--d\n\nSubject: one\n\n1\n--d--\n"), -1, "",
                 "", "", 1},
                {"1", "message", "rfc822", "7bit", crlf("Subject: one\n\n1"), 3, "", "", "", 1},
                {"1.1", "text", "plain", "7bit", "1", 1, "", "us-ascii"}}});
  return t;
}

TEST(MimeSummarize, TableOfMessages) {
  for (const Case& c : cases()) check_case(c);
}

// Pins the JSON shape itself, key order and omissions included.
TEST(MimeSummarize, BodyStructureJsonShape) {
  auto r = summarize(kPlain);
  ASSERT_TRUE(r.ok());
  size_t body = kPlain.find("\r\n\r\n") + 4;
  EXPECT_EQ(r->body_structure,
            "{\"part\":\"1\",\"type\":\"text\",\"subtype\":\"plain\",\"params\":{\"charset\":\"utf-8\"},"
            "\"encoding\":\"7bit\",\"size\":22,\"lines\":2,\"header_offset\":0,\"body_offset\":" +
                std::to_string(body) + "}");
}

TEST(MimeSummarize, JsonEscapesAndRepairsUtf8) {
  std::string raw = crlf("Content-Type: text/plain; name=\"a\\\"b\"\n"
                         "Content-Description: tab\there \xff bad\n"
                         "\n"
                         "x");
  auto r = summarize(raw);
  ASSERT_TRUE(r.ok());
  json::object o = json::parse(r->body_structure).as_object();
  EXPECT_EQ(str(o.at("params").as_object(), "name"), "a\"b");
  EXPECT_EQ(str(o, "description"), "tab\there \xEF\xBF\xBD bad");
}

// ---- Limits ----------------------------------------------------------------------------

std::string many_parts(size_t n) {
  std::string raw = crlf("Subject: many\nContent-Type: multipart/mixed; boundary=p\n\n");
  for (size_t i = 0; i < n; ++i) raw += crlf("--p\n\nx\n");
  raw += crlf("--p--\n");
  return raw;
}

std::string nested(int levels) {
  std::string raw = "Subject: deep\r\n";
  for (int i = 0; i < levels; ++i)
    raw += "Content-Type: multipart/mixed; boundary=n" + std::to_string(i) + "\r\n\r\n--n" +
           std::to_string(i) + "\r\n";
  raw += "\r\nleaf\r\n";
  for (int i = levels; i-- > 0;) raw += "--n" + std::to_string(i) + "--\r\n";
  return raw;
}

TEST(MimeLimits, TwoThousandPartsHitMaxParts) {
  auto r = summarize(many_parts(2000));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::too_large);
  EXPECT_NE(r.error().message.find("max_parts"), std::string::npos) << r.error().message;

  auto ok = summarize(many_parts(500));  // 501 entities with the container
  ASSERT_TRUE(ok.ok()) << ok.error().message;
  EXPECT_NE(ok->body_structure.find("\"part\":\"500\""), std::string::npos);
  EXPECT_EQ(ok->body_structure.find("\"part\":\"501\""), std::string::npos);
}

TEST(MimeLimits, DeepNestingHitsMaxDepth) {
  auto r = summarize(nested(40));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::too_large);
  EXPECT_NE(r.error().message.find("max_depth"), std::string::npos) << r.error().message;

  auto ok = summarize(nested(32));  // the leaf is exactly at depth 32
  ASSERT_TRUE(ok.ok()) << ok.error().message;
  std::string deepest = "1";
  for (int i = 1; i < 32; ++i) deepest += ".1";
  EXPECT_NE(ok->body_structure.find("\"part\":\"" + deepest + "\",\"type\":\"text\""),
            std::string::npos);

  // message/rfc822 nesting counts too.
  std::string msgs = "Subject: m\r\n";
  for (int i = 0; i < 40; ++i) msgs += "Content-Type: message/rfc822\r\n\r\n";
  msgs += "\r\nbody\r\n";
  auto m = summarize(msgs);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.error().message.find("max_depth"), std::string::npos);
}

TEST(MimeLimits, OversizeMessage) {
  Limits l;
  l.max_message_bytes = 1000;
  std::string raw = crlf("Subject: big\n\n") + std::string(1000, 'a');
  auto r = summarize(raw, l);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::too_large);
  EXPECT_NE(r.error().message.find("max_message_bytes"), std::string::npos);
  EXPECT_TRUE(summarize(raw.substr(0, 1000), l).ok());
}

TEST(MimeLimits, TooManyTopLevelHeaders) {
  std::string raw;
  for (int i = 0; i < 1001; ++i) raw += "X-H: " + std::to_string(i) + "\r\n";
  raw += "\r\nx";
  auto r = summarize(raw);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("max_headers"), std::string::npos);
  Limits l;
  l.max_headers = 1001;
  EXPECT_TRUE(summarize(raw, l).ok());
}

TEST(MimeLimits, OversizePartHeader) {
  Limits l;
  l.max_header_bytes = 200;
  std::string raw = crlf("Content-Type: multipart/mixed; boundary=b\n\n--b\nX-Long: ") +
                    std::string(300, 'h') + crlf("\n\nbody\n--b--\n");
  auto r = summarize(raw, l);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("max_header_bytes"), std::string::npos);
  l.max_header_bytes = 400;
  EXPECT_TRUE(summarize(raw, l).ok());
}

// GMime's address parser recurses once per unclosed group; 100,000 of them used to
// overflow the stack. They must come back as decoded text instead.
TEST(MimeRobustness, DeeplyNestedAddressGroupsDoNotReachGMime) {
  std::string groups;
  for (int i = 0; i < 100000; ++i) groups += "g:";
  for (const std::string& prefix : {std::string(), std::string("\""), std::string("a,")}) {
    auto r = summarize("To: " + prefix + groups + "\r\n\r\nx");
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->to, prefix + groups);
  }
  // An ordinary group still goes through the address parser.
  auto ok = summarize(crlf("To: Ward 3: a@example.org, b@example.org;\n\nx"));
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->to, "Ward 3: a@example.org, b@example.org;");
}

// ---- Concurrency -----------------------------------------------------------------------

TEST(MimeSummarize, ConcurrentCallsAgreeWithSerialOnes) {
  init();
  std::vector<Case> table = cases();
  std::vector<std::string> expected;
  for (const Case& c : table) {
    auto r = summarize(c.raw);
    ASSERT_TRUE(r.ok());
    expected.push_back(r->subject + "|" + r->from + "|" + r->to + "|" + r->body_structure);
  }
  std::atomic<int> mismatches{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 50; ++round) {
        for (size_t i = 0; i < table.size(); ++i) {
          size_t k = (i + static_cast<size_t>(t)) % table.size();
          auto r = summarize(table[k].raw);
          if (!r.ok() ||
              r->subject + "|" + r->from + "|" + r->to + "|" + r->body_structure != expected[k])
            ++mismatches;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(mismatches.load(), 0);
}

}  // namespace
}  // namespace caremail::mime

// Tests for mime::extract_text and the header helpers: a table of real-looking messages
// with the text each must yield, then the bounds and damaged input.
#include "mime/text.hpp"

#include "mime/mime.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace caremail::mime {
namespace {

// Test messages are written with "\n"; real mail uses CRLF.
std::string crlf(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '\n') out += "\r\n";
    else out.push_back(c);
  }
  return out;
}

std::string text_of(const std::string& raw, size_t max = 8u << 20) {
  auto s = summarize(raw);
  EXPECT_TRUE(s.ok());
  if (!s) return {};
  return extract_text(raw, s->body_structure, max);
}

struct TextCase {
  std::string name;
  std::string raw;
  std::string text;  // exact expected output
};

class MimeTextTable : public ::testing::TestWithParam<TextCase> {};

TEST_P(MimeTextTable, ExtractsExactText) {
  const TextCase& c = GetParam();
  for (bool use_crlf : {false, true}) {
    std::string raw = use_crlf ? crlf(c.raw) : c.raw;
    SCOPED_TRACE(use_crlf ? "CRLF" : "LF");
    EXPECT_EQ(text_of(raw), c.text);
    // Without the structure it is summarised again, with the same result.
    EXPECT_EQ(extract_text(raw, ""), c.text);
  }
}

const TextCase kTextCases[] = {
    {"plain_7bit",
     "From: a@example.org\nSubject: hi\n\nHello world.\nSecond line.\n",
     "Hello world.\nSecond line.\n"},
    {"qp_latin1",
     "Content-Type: text/plain; charset=iso-8859-1\n"
     "Content-Transfer-Encoding: quoted-printable\n\n"
     "Caf=E9 cr=E8me, soft=\nbreak =3D done\n",
     "Caf\xC3\xA9 cr\xC3\xA8me, softbreak = done\n"},
    {"base64_utf8",
     "Content-Type: text/plain; charset=utf-8\n"
     "Content-Transfer-Encoding: base64\n\n"
     "R3LDvMOfZSBhdXMgS8O2bG4=\n",
     "Gr\xC3\xBC\xC3\x9F" "e aus K\xC3\xB6ln"},
    {"base64_folded_lines",
     "Content-Transfer-Encoding: BASE64\n\n"
     "SGVsbG8g\nd29ybGQ=\n",
     "Hello world"},
    {"koi8r_via_iconv",
     "Content-Type: text/plain; charset=\"koi8-r\"\n"
     "Content-Transfer-Encoding: 8bit\n\n"
     "\xF0\xD2\xC9\xD7\xC5\xD4\n",
     "\xD0\x9F\xD1\x80\xD0\xB8\xD0\xB2\xD0\xB5\xD1\x82\n"},  // "Привет"
    {"windows1252_quotes",
     "Content-Type: text/plain; charset=windows-1252\n\n"
     "\x93quoted\x94 \x80" "5\n",
     "\xE2\x80\x9Cquoted\xE2\x80\x9D \xE2\x82\xAC" "5\n"},
    {"unknown_charset_valid_utf8",
     "Content-Type: text/plain; charset=x-made-up\n\n"
     "na\xC3\xAFve\n",
     "na\xC3\xAFve\n"},
    {"unknown_charset_8bit_is_cp1252",
     "Content-Type: text/plain; charset=x-made-up\n\n"
     "na\xEFve\n",
     "na\xC3\xAFve\n"},
    {"utf8_with_bad_bytes",
     "Content-Type: text/plain; charset=utf-8\n\n"
     "ok\xFF!\n",
     "ok\xEF\xBF\xBD!\n"},
    {"html_tags_entities",
     "Content-Type: text/html; charset=utf-8\n\n"
     "<html><head><style>p { color: red; }</style><script>var x = '<b>';</script></head>\n"
     "<body><p>Fish &amp; chips &lt;3&gt; &quot;now&quot;</p>\n"
     "<div>caf&#233;&nbsp;&#x41;B &unknown; a < b</div><!-- hidden --><br/>end</body></html>\n",
     "Fish & chips <3> \"now\"\ncaf\xC3\xA9 AB &unknown; a < b\nend"},
    {"multipart_alternative_and_attachment",
     "MIME-Version: 1.0\n"
     "Content-Type: multipart/mixed; boundary=\"outer\"\n\n"
     "preamble\n"
     "--outer\n"
     "Content-Type: multipart/alternative; boundary=inner\n\n"
     "--inner\n"
     "Content-Type: text/plain; charset=us-ascii\n\n"
     "Plain part\n"
     "--inner\n"
     "Content-Type: text/html\n\n"
     "<p>Html <i>part</i></p>\n"
     "--inner--\n"
     "--outer\n"
     "Content-Type: application/pdf; name=a.pdf\n"
     "Content-Transfer-Encoding: base64\n\n"
     "JVBERi0xLjQK\n"
     "--outer\n"
     "Content-Type: text/plain; name=notes.txt\n"
     "Content-Disposition: attachment; filename=notes.txt\n\n"
     "attached notes\n"
     "--outer--\n"
     "epilogue\n",
     "Plain part\nHtml part\nattached notes"},
    {"embedded_message",
     "Content-Type: multipart/mixed; boundary=b\n\n"
     "--b\n"
     "Content-Type: text/plain\n\n"
     "See below.\n"
     "--b\n"
     "Content-Type: message/rfc822\n\n"
     "From: x@example.org\n"
     "Subject: inner\n"
     "Content-Type: text/plain; charset=utf-8\n"
     "Content-Transfer-Encoding: quoted-printable\n\n"
     "Inner =C3=BCber\n"
     "--b--\n",
     "See below.\nInner \xC3\xBC" "ber"},
    {"format_flowed",
     "Content-Type: text/plain; charset=utf-8; format=flowed\n\n"
     "This is a long \nwrapped line.\n>quoted\n",
     "This is a long wrapped line.\n>quoted\n"},
    {"no_text_parts",
     "Content-Type: image/png\nContent-Transfer-Encoding: base64\n\niVBORw0KGgo=\n",
     ""},
};

INSTANTIATE_TEST_SUITE_P(MimeText, MimeTextTable, ::testing::ValuesIn(kTextCases),
                         [](const auto& info) { return info.param.name; });

TEST(MimeText, BoundedByMaxBytesOnCharacterBoundary) {
  std::string raw = "Content-Type: text/plain; charset=utf-8\n\n";
  for (int i = 0; i < 1000; ++i) raw += "\xC3\xA9";  // é, two octets each
  std::string t = text_of(raw, 101);
  EXPECT_LE(t.size(), 101u);
  EXPECT_GE(t.size(), 99u);
  EXPECT_EQ(t.size() % 2, 0u);  // no half character
  EXPECT_EQ(to_valid_utf8(t), t);
  EXPECT_EQ(text_of(raw, 0), "");
}

TEST(MimeText, DamagedStructureFallsBackToSummarising) {
  std::string raw = "Subject: x\n\nbody text\n";
  EXPECT_EQ(extract_text(raw, "{not json"), "body text\n");
  // Offsets past the end of raw are clamped, never read.
  EXPECT_EQ(extract_text(raw, R"({"part":"1","type":"text","subtype":"plain","body_offset":999,"size":5})"), "");
  EXPECT_EQ(extract_text(raw, R"({"part":"1","type":"text","subtype":"plain","body_offset":12,"size":999})"),
            "body text\n");
  EXPECT_EQ(extract_text("", ""), "");
}

TEST(MimeText, BrokenMultipartAndHostileEncodings) {
  // Boundary never appears: no parts, so nothing is claimed to be text.
  std::string raw = "Content-Type: multipart/mixed; boundary=zz\n\nnot really\n";
  EXPECT_NO_THROW(text_of(raw));
  // Truncated QP escapes and garbage base64 stay harmless.
  EXPECT_EQ(text_of("Content-Transfer-Encoding: quoted-printable\n\na=4\n=ZZ b="), "a=4\n=ZZ b");
  EXPECT_EQ(text_of("Content-Transfer-Encoding: base64\n\n!!!*** ***\n"), "");
}

TEST(MimeText, HeaderValuesDecodesEveryField) {
  std::string raw = crlf(
      "From: =?utf-8?q?J=C3=BCrgen?= <j@example.org>\n"
      "X-Tag: one\n"
      "x-tag: =?iso-8859-1?b?dHfk?=\n"
      "Subject: folded\n"
      " continuation\n"
      "X-Empty:\n"
      "\n"
      "X-Tag: in the body, not a header\n");
  EXPECT_EQ(header_values(raw, "X-TAG"), "one\ntw\xC3\xA4");
  EXPECT_EQ(header_values(raw, "from"), "J\xC3\xBCrgen <j@example.org>");
  EXPECT_EQ(header_values(raw, "Subject"), "folded continuation");
  EXPECT_EQ(header_values(raw, "Bcc"), "");
  EXPECT_EQ(header_value_list(raw, "Bcc").size(), 0u);
  ASSERT_EQ(header_value_list(raw, "x-empty").size(), 1u);
  EXPECT_EQ(header_value_list(raw, "x-empty")[0], "");
}

TEST(MimeText, HeaderValuesRawEightBitIsUtf8OrCp1252) {
  EXPECT_EQ(header_values("Subject: caf\xC3\xA9\n\n", "subject"), "caf\xC3\xA9");
  EXPECT_EQ(header_values("Subject: caf\xE9\n\n", "subject"), "caf\xC3\xA9");
}

TEST(MimeText, HeaderTextListsDecodedFields) {
  std::string raw = "Subject: =?utf-8?b?w6k=?=\nTo: b@example.org\n\nbody\n";
  EXPECT_EQ(header_text(raw), "Subject: \xC3\xA9\nTo: b@example.org\n");
}

}  // namespace
}  // namespace caremail::mime

// Tests for log::format_line: exact logfmt and JSON output for a table of awkward values,
// and the invariant that every event is exactly one line whatever the values hold.
#include "common/log.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <cstdint>
#include <string>

namespace caremail::log {
namespace {

namespace json = boost::json;

// The line without its leading "ts=<timestamp> " (logfmt); the timestamp is checked apart.
std::string logfmt_after_ts(const std::string& line) {
  EXPECT_EQ(line.rfind("ts=", 0), 0u) << line;
  auto sp = line.find(' ');
  EXPECT_NE(sp, std::string::npos) << line;
  return line.substr(sp + 1);
}

TEST(LogFmt, PlainLine) {
  std::string line = format_line(false, Level::info, "smtp.accepted", {{"peer", "192.0.2.1"}, {"size", 1234}});
  EXPECT_EQ(logfmt_after_ts(line), "level=info event=smtp.accepted peer=192.0.2.1 size=1234");
}

TEST(LogFmt, TimestampIsUtcIso8601WithMilliseconds) {
  std::string line = format_line(false, Level::warn, "x", {});
  // ts=2026-01-02T03:04:05.678Z level=warn event=x
  ASSERT_EQ(line.size(), std::string("ts=2026-01-02T03:04:05.678Z level=warn event=x").size()) << line;
  std::string ts = line.substr(3, 24);
  for (size_t i : {4u, 7u}) EXPECT_EQ(ts[i], '-') << ts;
  EXPECT_EQ(ts[10], 'T') << ts;
  EXPECT_EQ(ts[13], ':') << ts;
  EXPECT_EQ(ts[16], ':') << ts;
  EXPECT_EQ(ts[19], '.') << ts;
  EXPECT_EQ(ts[23], 'Z') << ts;
}

TEST(LogFmt, EveryLevelHasItsName) {
  const std::pair<Level, const char*> levels[] = {{Level::trace, "trace"}, {Level::debug, "debug"},
                                                  {Level::info, "info"},   {Level::warn, "warn"},
                                                  {Level::error, "error"}};
  for (auto [l, name] : levels) {
    EXPECT_EQ(logfmt_after_ts(format_line(false, l, "e", {})), std::string("level=") + name + " event=e");
    auto v = json::parse(format_line(true, l, "e", {}));
    EXPECT_EQ(v.at("level").as_string(), name);
  }
}

struct QuoteCase {
  const char* name;
  std::string value;
  std::string logfmt;  // what follows "k="
  std::string json;    // what follows "\"k\":"
};

void PrintTo(const QuoteCase& c, std::ostream* os) { *os << c.name; }

class Quoting : public ::testing::TestWithParam<QuoteCase> {};

TEST_P(Quoting, ExactOutputInBothFormats) {
  const QuoteCase& c = GetParam();
  std::string lf = logfmt_after_ts(format_line(false, Level::info, "e", {{"k", c.value}}));
  EXPECT_EQ(lf, "level=info event=e k=" + c.logfmt);
  std::string js = format_line(true, Level::info, "e", {{"k", c.value}});
  const std::string tail = ",\"k\":" + c.json + "}";
  ASSERT_GE(js.size(), tail.size());
  EXPECT_EQ(js.substr(js.size() - tail.size()), tail) << js;
  // And a JSON parser reads the original value back.
  auto v = json::parse(js);
  EXPECT_EQ(std::string(v.at("k").as_string()), c.value);
}

const QuoteCase kQuoteCases[] = {
    {"bare", "abc", "abc", "\"abc\""},
    {"empty", "", "\"\"", "\"\""},
    {"space", "a b", "\"a b\"", "\"a b\""},
    {"quote", "say \"hi\"", "\"say \\\"hi\\\"\"", "\"say \\\"hi\\\"\""},
    {"equals", "a=b", "\"a=b\"", "\"a=b\""},
    {"backslash", "c:\\x", "\"c:\\\\x\"", "\"c:\\\\x\""},
    {"newline", "line1\nline2", "\"line1\\nline2\"", "\"line1\\nline2\""},
    {"crlf", "a\r\nb", "\"a\\r\\nb\"", "\"a\\r\\nb\""},
    {"tab", "a\tb", "\"a\\tb\"", "\"a\\tb\""},
    {"control", std::string("a\x01" "b\x1f", 4), "\"a\\u0001b\\u001f\"", "\"a\\u0001b\\u001f\""},
    {"nul", std::string("a\0b", 3), "\"a\\u0000b\"", "\"a\\u0000b\""},
    {"escape_seq", "\x1b[31mred", "\"\\u001b[31mred\"", "\"\\u001b[31mred\""},
    {"utf8", "R\xc3\xa9" "f", "\"R\xc3\xa9" "f\"", "\"R\xc3\xa9" "f\""},
    {"punctuation", "a.b-c_d/e:f@g", "a.b-c_d/e:f@g", "\"a.b-c_d/e:f@g\""},
    {"forged_field", "x level=error event=forged", "\"x level=error event=forged\"",
     "\"x level=error event=forged\""},
};

INSTANTIATE_TEST_SUITE_P(Table, Quoting, ::testing::ValuesIn(kQuoteCases),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(LogJson, NumbersAreBareStringsAreQuoted) {
  std::string js = format_line(true, Level::error, "blob.size_mismatch",
                               {{"expected", uint64_t{42}}, {"actual", -7}, {"id", "42"}, {"port", uint16_t{25}}});
  EXPECT_NE(js.find(",\"expected\":42,"), std::string::npos) << js;
  EXPECT_NE(js.find(",\"actual\":-7,"), std::string::npos) << js;
  EXPECT_NE(js.find(",\"id\":\"42\","), std::string::npos) << js;
  EXPECT_NE(js.find(",\"port\":25}"), std::string::npos) << js;
  auto v = json::parse(js).as_object();
  EXPECT_TRUE(v.at("expected").is_number());
  EXPECT_EQ(v.at("expected").to_number<int64_t>(), 42);
  EXPECT_EQ(v.at("actual").to_number<int64_t>(), -7);
  EXPECT_TRUE(v.at("id").is_string());
  EXPECT_EQ(v.at("event").as_string(), "blob.size_mismatch");
  EXPECT_EQ(v.at("level").as_string(), "error");
  EXPECT_EQ(v.at("ts").as_string().size(), 24u);
  EXPECT_EQ(js.rfind("{\"ts\":\"", 0), 0u) << js;
  // Field order is kept: ts, level, event, then the fields as given.
  EXPECT_LT(js.find("\"level\""), js.find("\"event\""));
  EXPECT_LT(js.find("\"event\""), js.find("\"expected\""));
  EXPECT_LT(js.find("\"expected\""), js.find("\"actual\""));
}

TEST(LogJson, NumbersAreBareInLogfmtToo) {
  EXPECT_EQ(logfmt_after_ts(format_line(false, Level::info, "e", {{"n", -12}, {"m", uint64_t{1} << 40}})),
            "level=info event=e n=-12 m=1099511627776");
}

TEST(LogJson, EventAndKeysAreEscaped) {
  std::string js = format_line(true, Level::info, "ev\"ent\n", {{"ke\"y", "v"}});
  auto v = json::parse(js).as_object();
  EXPECT_EQ(v.at("event").as_string(), "ev\"ent\n");
  EXPECT_EQ(v.at("ke\"y").as_string(), "v");
}

TEST(LogFmt, EventWithSpaceIsQuoted) {
  EXPECT_EQ(logfmt_after_ts(format_line(false, Level::info, "two words", {})), "level=info event=\"two words\"");
}

TEST(LogLines, EveryLineIsOneLineWhateverTheValues) {
  std::string nasty;
  for (int c = 0; c < 256; ++c) nasty.push_back(static_cast<char>(c));
  nasty += "\r\n\n\r\u2028";
  for (bool js : {false, true}) {
    std::string line = format_line(js, Level::info, "a\nb\rc", {{"v", nasty}, {"w", "x\ny"}, {"n", 1}});
    EXPECT_EQ(line.find('\n'), std::string::npos) << line;
    EXPECT_EQ(line.find('\r'), std::string::npos) << line;
    for (unsigned char ch : line) EXPECT_GE(ch, 0x20) << "raw control byte in " << (js ? "json" : "logfmt");
    if (js) {
      // Still one valid JSON object that gives the bytes back (the test value is not UTF-8,
      // so compare the ASCII part: boost::json accepts invalid UTF-8 only when asked).
      std::string ascii = nasty.substr(0, 128);
      std::string l2 = format_line(true, Level::info, "e", {{"v", ascii}});
      auto v = json::parse(l2);
      EXPECT_EQ(std::string(v.at("v").as_string()), ascii);
    }
  }
}

TEST(LogLevel, InitSetsThreshold) {
  init("warn", "logfmt");
  EXPECT_FALSE(enabled(Level::info));
  EXPECT_TRUE(enabled(Level::warn));
  EXPECT_TRUE(enabled(Level::error));
  init("trace", "json");
  EXPECT_TRUE(enabled(Level::trace));
  init("nonsense", "logfmt");  // unknown level: the default, info
  EXPECT_FALSE(enabled(Level::debug));
  EXPECT_TRUE(enabled(Level::info));
  init("info", "logfmt");
}

}  // namespace
}  // namespace caremail::log

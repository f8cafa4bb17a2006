// Tables for the DATA and BDAT readers (data_reader.hpp): dot-unstuffing, end detection
// under every split, SMTP smuggling probes, size/header/line limits.
#include "smtp/data_reader.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <random>
#include <string>
#include <vector>

namespace caremail::smtp {
namespace {

struct Outcome {
  DataStatus status = DataStatus::need_more;
  uint64_t consumed = 0;
  std::optional<Reply> rejection;
  std::string message;
  uint64_t size = 0;
  size_t header_fields = 0;

  bool operator==(const Outcome& o) const {
    auto same_reply = [](const std::optional<Reply>& a, const std::optional<Reply>& b) {
      if (a.has_value() != b.has_value()) return false;
      return !a || (a->code == b->code && a->enhanced == b->enhanced && a->text == b->text);
    };
    return status == o.status && consumed == o.consumed && same_reply(rejection, o.rejection) &&
           message == o.message && size == o.size && header_fields == o.header_fields;
  }
};

std::ostream& operator<<(std::ostream& os, const Outcome& o) {
  os << "status=" << static_cast<int>(o.status) << " consumed=" << o.consumed
     << " size=" << o.size << " fields=" << o.header_fields;
  if (o.rejection) os << " rejection=" << o.rejection->code << ' ' << o.rejection->enhanced
                      << ' ' << o.rejection->text;
  return os << " message=" << testing::PrintToString(o.message);
}

// Feeds `input` cut at `cuts` (ascending offsets), as a session would: stop at done/failed.
Outcome run(std::string_view input, const std::vector<size_t>& cuts, const DataLimits& limits) {
  DataReader r(limits);
  size_t start = 0;
  uint64_t total = 0;
  std::vector<size_t> ends = cuts;
  ends.push_back(input.size());
  for (size_t end : ends) {
    if (end < start) continue;
    std::string_view piece = input.substr(start, end - start);
    size_t n = r.feed(piece);
    EXPECT_LE(n, piece.size());
    total += n;
    if (r.status() != DataStatus::need_more) break;
    EXPECT_EQ(n, piece.size()) << "need_more must consume everything";
    start = end;
  }
  EXPECT_EQ(total, r.consumed());
  Outcome o;
  o.status = r.status();
  o.consumed = r.consumed();
  o.rejection = r.rejection();
  o.message = r.message();
  o.size = r.message_size();
  o.header_fields = r.header_fields();
  return o;
}

Outcome whole(std::string_view input, const DataLimits& limits = {}) {
  return run(input, {}, limits);
}

std::vector<size_t> every_byte(size_t n) {
  std::vector<size_t> c;
  for (size_t i = 1; i < n; ++i) c.push_back(i);
  return c;
}

// The same input fed whole, one byte at a time, cut once at every position, and in random
// pieces (fixed seed) must give one and the same outcome.
Outcome same_under_every_split(std::string_view input, const DataLimits& limits = {}) {
  Outcome ref = whole(input, limits);
  EXPECT_EQ(run(input, every_byte(input.size()), limits), ref) << "byte at a time";
  if (input.size() <= 2000) {
    for (size_t k = 0; k <= input.size(); ++k)
      EXPECT_EQ(run(input, {k}, limits), ref) << "cut at " << k;
  }
  std::mt19937 rng(20231218);
  for (int round = 0; round < 20; ++round) {
    std::vector<size_t> cuts;
    size_t pos = 0;
    while (input.size() > 0) {
      pos += 1 + rng() % 7;
      if (pos >= input.size()) break;
      cuts.push_back(pos);
    }
    EXPECT_EQ(run(input, cuts, limits), ref) << "random split round " << round;
  }
  return ref;
}

// ---- plain messages, dot-unstuffing, end detection --------------------------------------

struct UnstuffCase {
  const char* wire;
  const char* message;
};

TEST(SmtpData, DotUnstuffing) {
  const UnstuffCase cases[] = {
      {".\r\n", ""},
      {"Subject: x\r\n\r\nHello\r\n.\r\n", "Subject: x\r\n\r\nHello\r\n"},
      {"..\r\n.\r\n", ".\r\n"},
      {"...\r\n.\r\n", "..\r\n"},
      {"..foo\r\n.\r\n", ".foo\r\n"},
      {".foo\r\n.\r\n", "foo\r\n"},  // non-conforming single dot: still removed (RFC 5321 §4.5.2)
      {"a.b\r\n.\r\n", "a.b\r\n"},
      {"a\r\n..\r\n.\r\n", "a\r\n.\r\n"},
      {"a\r\n. \r\n.\r\n", "a\r\n \r\n"},  // ". " is not the end
      {"\r\n.\r\n", "\r\n"},
      {"\r\n\r\n.\r\n", "\r\n\r\n"},
      {"x\r\n..\r\n..\r\n.\r\n", "x\r\n.\r\n.\r\n"},
  };
  for (const UnstuffCase& c : cases) {
    SCOPED_TRACE(testing::PrintToString(std::string(c.wire)));
    Outcome o = same_under_every_split(c.wire);
    EXPECT_EQ(o.status, DataStatus::done);
    EXPECT_FALSE(o.rejection) << o;
    EXPECT_EQ(o.message, c.message);
    EXPECT_EQ(o.consumed, std::string_view(c.wire).size());
    EXPECT_EQ(o.size, std::string_view(c.message).size());
  }
}

TEST(SmtpData, StopsAtEndAndLeavesPipelinedCommands) {
  std::string wire = "Subject: a\r\n\r\nbody\r\n.\r\nMAIL FROM:<x@y.z>\r\nRCPT TO:<a@b.c>\r\n";
  Outcome o = same_under_every_split(wire);
  EXPECT_EQ(o.status, DataStatus::done);
  EXPECT_EQ(o.consumed, wire.find("MAIL"));
  EXPECT_EQ(o.message, "Subject: a\r\n\r\nbody\r\n");

  DataReader r;
  EXPECT_EQ(r.feed(wire), wire.find("MAIL"));
  EXPECT_EQ(r.feed("more"), 0u);  // nothing after done
  EXPECT_EQ(r.feed(""), 0u);
  EXPECT_TRUE(r.done());
  std::string taken = r.take_message();
  EXPECT_EQ(taken, "Subject: a\r\n\r\nbody\r\n");
  EXPECT_TRUE(r.message().empty());

  r.reset();  // the next transaction
  EXPECT_EQ(r.status(), DataStatus::need_more);
  EXPECT_EQ(r.feed("x\r\n.\r\n"), 6u);
  EXPECT_EQ(r.message(), "x\r\n");
  EXPECT_EQ(r.consumed(), 6u);
}

TEST(SmtpData, NeedsMoreUntilTheEnd) {
  for (std::string_view partial : {"", "a", "a\r", "a\r\n", "a\r\n.", "a\r\n.\r", "..\r\n",
                                   "x\r\n.\r\r\n"}) {  // bare CR: rejected, not ended
    SCOPED_TRACE(testing::PrintToString(std::string(partial)));
    Outcome o = same_under_every_split(partial);
    EXPECT_EQ(o.status, DataStatus::need_more);
    EXPECT_EQ(o.consumed, partial.size());
  }
}

// ---- SMTP smuggling (SEC Consult, 2023): none of these may end DATA --------------------

TEST(SmtpData, SmugglingProbesNeverEndDataAndReject) {
  struct Probe {
    std::string seq;
    const char* why;  // what the rejection names
  };
  const Probe probes[] = {
      {"\n.\n", "Bare LF"},
      {"\n.\r\n", "Bare LF"},
      {"\r\n.\n", "Bare LF"},
      {"\r.\r\n", "Bare CR"},
      {"\r\n.\r", "Bare CR"},
      {"\r.\r", "Bare CR"},
      {"\n.\r", "Bare LF"},
      {"\r.\n", "Bare CR"},
      {"\r\n.\r\r\n", "Bare CR"},
      {"\r\r\n.\r\n", "Bare CR"},  // this one IS CRLF.CRLF after a bare CR: ends, but rejected
      {"\n\n.\n\n", "Bare LF"},
      {std::string("\r\n\0.\r\n", 6), "NUL"},
      {std::string("\r\n.\0\r\n", 6), "NUL"},
  };
  const std::string head = "From: a@b.c\r\nSubject: hi\r\n\r\nfirst message";
  const std::string smuggled = "MAIL FROM:<ceo@victim.example>\r\nRCPT TO:<x@y.z>\r\nDATA\r\n"
                               "From: ceo@victim.example\r\n\r\nsmuggled";
  const std::string end = "\r\n.\r\n";
  for (const Probe& p : probes) {
    SCOPED_TRACE(testing::PrintToString(p.seq));
    std::string wire = head + p.seq + smuggled + end + "QUIT\r\n";
    Outcome o = same_under_every_split(wire);
    if (p.seq == "\r\r\n.\r\n") {
      // The real terminator is inside the probe; the bare CR before it still rejects.
      EXPECT_EQ(o.consumed, head.size() + p.seq.size());
    } else {
      EXPECT_EQ(o.consumed, wire.size() - 6) << "ended early";
    }
    EXPECT_EQ(o.status, DataStatus::done);
    ASSERT_TRUE(o.rejection);
    EXPECT_EQ(o.rejection->code, 550);
    EXPECT_EQ(o.rejection->enhanced, "5.6.0");
    EXPECT_NE(o.rejection->text.find(p.why), std::string::npos) << o.rejection->text;
    EXPECT_TRUE(o.message.empty()) << "a rejected message is not kept";
  }
}

TEST(SmtpData, BareLineEndsAnywhereReject) {
  for (std::string_view wire : {"a\nb\r\n.\r\n", "a\rb\r\n.\r\n", "\n\r\n.\r\n", "\r\r\n.\r\n",
                                "Subject: x\n\r\n.\r\n", "a\r\n\n\r\n.\r\n"}) {
    SCOPED_TRACE(testing::PrintToString(std::string(wire)));
    Outcome o = same_under_every_split(wire);
    EXPECT_EQ(o.status, DataStatus::done);
    EXPECT_EQ(o.consumed, wire.size());
    ASSERT_TRUE(o.rejection);
    EXPECT_EQ(o.rejection->code, 550);
  }
}

// A byte-level oracle written differently from the reader: the end is the first CRLF.CRLF
// in CRLF + input; the message is the lines before it, each with one leading dot removed;
// it is rejected when it holds a bare CR, a bare LF or a NUL.
TEST(SmtpData, RandomStreamsMatchOracle) {
  std::mt19937 rng(5321);
  const char alphabet[] = {'\r', '\n', '.', 'a', '\r', '\n', '.', 'b', '\0'};
  for (int iter = 0; iter < 3000; ++iter) {
    std::string wire;
    size_t len = rng() % 40;
    for (size_t i = 0; i < len; ++i) wire += alphabet[rng() % sizeof alphabet];
    if (rng() % 2) wire += "\r\n.\r\n";
    SCOPED_TRACE(testing::PrintToString(wire));

    std::string framed = "\r\n" + wire;
    size_t at = framed.find("\r\n.\r\n");
    Outcome o = same_under_every_split(wire);
    if (at == std::string::npos) {
      EXPECT_EQ(o.status, DataStatus::need_more);
      EXPECT_EQ(o.consumed, wire.size());
      continue;
    }
    EXPECT_EQ(o.status, DataStatus::done);
    EXPECT_EQ(o.consumed, at + 3);  // framed offset - 2 + 5
    std::string body = framed.substr(2, at);  // up to and including the CRLF before "."
    bool bad = body.find('\0') != std::string::npos;
    for (size_t i = 0; i < body.size(); ++i) {
      if (body[i] == '\n' && (i == 0 || body[i - 1] != '\r')) bad = true;
      if (body[i] == '\r' && (i + 1 == body.size() || body[i + 1] != '\n')) bad = true;
    }
    EXPECT_EQ(o.rejection.has_value(), bad) << o;
    if (!bad) {
      std::string expect;
      size_t pos = 0;
      while (pos < body.size()) {
        size_t eol = body.find("\r\n", pos);
        std::string line = body.substr(pos, eol + 2 - pos);
        if (!line.empty() && line[0] == '.') line.erase(0, 1);
        expect += line;
        pos = eol + 2;
      }
      EXPECT_EQ(o.message, expect);
    }
  }
}

// ---- limits: reject, keep reading, end in step ------------------------------------------

TEST(SmtpData, OversizeKeepsConsumingAndEndsCorrectly) {
  DataLimits l;
  l.max_message_bytes = 100;
  std::string body;
  for (int i = 0; i < 50; ++i) body += "line " + std::to_string(i) + " of a long message\r\n";
  std::string wire = body + ".\r\nQUIT\r\n";
  Outcome o = same_under_every_split(wire, l);
  EXPECT_EQ(o.status, DataStatus::done);
  EXPECT_EQ(o.consumed, wire.size() - 6);
  ASSERT_TRUE(o.rejection);
  EXPECT_EQ(o.rejection->code, 552);
  EXPECT_EQ(o.rejection->enhanced, "5.3.4");
  EXPECT_TRUE(o.message.empty());
  EXPECT_EQ(o.size, body.size());  // still counted, for the log

  // Exactly at the limit: fine. One more octet: not.
  std::string hundred(98, 'x');
  hundred += "\r\n";
  o = same_under_every_split(hundred + ".\r\n", l);
  EXPECT_FALSE(o.rejection) << o;
  EXPECT_EQ(o.message, hundred);
  o = same_under_every_split("y" + hundred + ".\r\n", l);
  ASSERT_TRUE(o.rejection);
  EXPECT_EQ(o.rejection->code, 552);
  // The limit is on the message, not the wire: stuffing dots do not count.
  std::string stuffed;
  for (int i = 0; i < 33; ++i) stuffed += "..\r\n";  // 132 wire octets, 99 message octets
  o = same_under_every_split(stuffed + ".\r\n", l);
  EXPECT_FALSE(o.rejection) << o;
  EXPECT_EQ(o.size, 99u);
}

TEST(SmtpData, MemoryStaysWithinTheLimit) {
  DataLimits l;
  l.max_message_bytes = 10000;
  DataReader r(l);
  std::string line(98, 'm');
  line += "\r\n";
  size_t max_cap = 0;
  for (int i = 0; i < 99; ++i) {
    for (char c : line) {
      ASSERT_EQ(r.feed(std::string_view(&c, 1)), 1u);
      max_cap = std::max(max_cap, r.message().capacity());
    }
  }
  EXPECT_EQ(r.message().size(), 9900u);
  EXPECT_LE(max_cap, 10000u + 32u);
  for (int i = 0; i < 10; ++i) r.feed(line);  // past the limit: freed
  EXPECT_EQ(r.message().capacity(), std::string().capacity());
  EXPECT_EQ(r.feed(".\r\n"), 3u);
  EXPECT_TRUE(r.done());
  ASSERT_TRUE(r.rejection());
  EXPECT_EQ(r.rejection()->code, 552);
}

TEST(SmtpData, HeaderLimits) {
  DataLimits l;
  l.max_headers = 3;
  // Three fields, one folded over two lines: fine.
  std::string three = "A: 1\r\nB: 2\r\n folded\r\n\tmore\r\nC: 3\r\n\r\nbody\r\nD: not a header\r\n.\r\n";
  Outcome o = same_under_every_split(three, l);
  EXPECT_FALSE(o.rejection) << o;
  EXPECT_EQ(o.header_fields, 3u);
  // Four: rejected, read to the end.
  std::string four = "A: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\nbody\r\n.\r\n";
  o = same_under_every_split(four, l);
  EXPECT_EQ(o.status, DataStatus::done);
  EXPECT_EQ(o.consumed, four.size());
  ASSERT_TRUE(o.rejection);
  EXPECT_EQ(o.rejection->code, 554);
  EXPECT_EQ(o.rejection->enhanced, "5.6.0");
  EXPECT_NE(o.rejection->text.find("Too many header fields"), std::string::npos);
  // Default: 1000 fields pass, 1001 do not.
  std::string many;
  for (int i = 0; i < 1000; ++i) many += "X-H: v\r\n";
  o = whole(many + "\r\n.\r\n");
  EXPECT_FALSE(o.rejection) << o.rejection->text;
  EXPECT_EQ(o.header_fields, 1000u);
  o = whole(many + "X-H: v\r\n\r\n.\r\n");
  ASSERT_TRUE(o.rejection);
  EXPECT_EQ(o.rejection->code, 554);

  // Header section bytes, blank line included.
  DataLimits hb;
  hb.max_header_bytes = 20;
  std::string h = "Subject: 123456789\r\n";  // 20 octets: the blank line makes it 22
  o = same_under_every_split(h + "\r\nbody body body body body\r\n.\r\n", hb);
  ASSERT_TRUE(o.rejection);
  EXPECT_NE(o.rejection->text.find("header section too large"), std::string::npos);
  hb.max_header_bytes = 22;
  o = same_under_every_split(h + "\r\nbody body body body body\r\n.\r\n", hb);
  EXPECT_FALSE(o.rejection) << o;
  // No blank line at all: everything is header.
  hb.max_header_bytes = 30;
  o = same_under_every_split("A: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\nF: 6\r\n.\r\n", hb);
  ASSERT_TRUE(o.rejection);
  EXPECT_EQ(o.rejection->code, 554);
}

TEST(SmtpData, LineTooLong) {
  DataLimits l;
  l.max_line = 20;
  std::string ok_line(18, 'a');  // 20 with CRLF
  Outcome o = same_under_every_split(ok_line + "\r\n.\r\n", l);
  EXPECT_FALSE(o.rejection) << o;
  std::string wire = ok_line + "a\r\nnext\r\n.\r\nQUIT\r\n";
  o = same_under_every_split(wire, l);
  EXPECT_EQ(o.status, DataStatus::done);
  EXPECT_EQ(o.consumed, wire.size() - 6);
  ASSERT_TRUE(o.rejection);
  EXPECT_EQ(o.rejection->code, 500);
  EXPECT_EQ(o.rejection->enhanced, "5.5.6");
  // A stuffed dot does not count towards the line.
  o = same_under_every_split("." + ok_line + "\r\n.\r\n", l);
  EXPECT_FALSE(o.rejection) << o;
  // Default: 10,000 with CRLF.
  std::string big(9998, 'b');
  EXPECT_FALSE(whole(big + "\r\n.\r\n").rejection);
  EXPECT_TRUE(whole(big + "b\r\n.\r\n").rejection);
}

TEST(SmtpData, FirstProblemByPositionWins) {
  DataLimits l;
  l.max_message_bytes = 10;
  Outcome o = same_under_every_split("a\nbbbbbbbbbbbbbbbbbbbb\r\n.\r\n", l);
  ASSERT_TRUE(o.rejection);
  EXPECT_EQ(o.rejection->code, 550);  // the bare LF comes first
  o = same_under_every_split("bbbbbbbbbbbbbbbbbbbb\nb\r\n.\r\n", l);
  ASSERT_TRUE(o.rejection);
  EXPECT_EQ(o.rejection->code, 552);  // the size comes first
}

TEST(SmtpData, StreamLimitFails) {
  DataLimits l;
  l.max_message_bytes = 10;
  l.max_stream_bytes = 50;
  std::string flood(200, 'z');
  Outcome o = same_under_every_split(flood, l);
  EXPECT_EQ(o.status, DataStatus::failed);
  EXPECT_EQ(o.consumed, 50u);
  ASSERT_TRUE(o.rejection);
  EXPECT_EQ(o.rejection->code, 552);
  EXPECT_NE(o.rejection->text.find("closing connection"), std::string::npos);
  // Exactly 50 octets ending the message: done, not failed.
  std::string fifty(45, 'z');
  fifty += "\r\n.\r\n";
  o = same_under_every_split(fifty + "QUIT\r\n", l);
  EXPECT_EQ(o.status, DataStatus::done);
  EXPECT_EQ(o.consumed, 50u);
  // The stream limit is never below twice the message limit.
  l.max_stream_bytes = 1;
  o = whole(std::string(19, 'z'), l);
  EXPECT_EQ(o.status, DataStatus::need_more);
  o = whole(std::string(21, 'z'), l);
  EXPECT_EQ(o.status, DataStatus::failed);
  EXPECT_EQ(o.consumed, 20u);
}

// ---- BDAT ---------------------------------------------------------------------------------

TEST(SmtpBdat, ChunksAccumulateWithTheSameAccounting) {
  const std::string msg = "Subject: a\r\nFrom: b\r\n\r\n.leading dot kept\r\nbody\r\n";
  BdatReader b;
  b.append_chunk(msg.substr(0, 7));
  b.append_chunk(msg.substr(7));
  EXPECT_FALSE(b.rejection());
  EXPECT_EQ(b.message(), msg);  // no unstuffing in BDAT
  EXPECT_EQ(b.header_fields(), 2u);
  EXPECT_EQ(b.message_size(), msg.size());
  EXPECT_EQ(b.take_message(), msg);
  b.reset();
  EXPECT_EQ(b.message_size(), 0u);

  // Same header count as DATA gives for the same message.
  Outcome o = whole("Subject: a\r\nFrom: b\r\n\r\nbody\r\n.\r\n");
  EXPECT_EQ(o.header_fields, 2u);
}

TEST(SmtpBdat, Limits) {
  DataLimits l;
  l.max_message_bytes = 10;
  l.max_headers = 1;
  l.max_line = 8;
  {
    BdatReader b(l);
    EXPECT_FALSE(b.would_exceed(10));
    EXPECT_TRUE(b.would_exceed(11));
    b.append_chunk("A: 1\r\n");
    EXPECT_TRUE(b.would_exceed(5));
    EXPECT_FALSE(b.would_exceed(4));
    b.append_chunk("\r\nxy");
    EXPECT_FALSE(b.rejection());
    b.append_chunk("zzz");  // 13 > 10
    ASSERT_TRUE(b.rejection());
    EXPECT_EQ(b.rejection()->code, 552);
    EXPECT_TRUE(b.message().empty());
    EXPECT_EQ(b.message_size(), 13u);
    EXPECT_TRUE(b.would_exceed(0));
  }
  l.max_message_bytes = 100;
  {
    BdatReader b(l);
    b.append_chunk("A: 1\r\nB: 2\r\n");
    ASSERT_TRUE(b.rejection());
    EXPECT_EQ(b.rejection()->code, 554);
  }
  {
    BdatReader b(l);
    b.append_chunk(std::string("a\0b\r\n", 5));
    ASSERT_TRUE(b.rejection());
    EXPECT_NE(b.rejection()->text.find("NUL"), std::string::npos);
  }
  {
    BdatReader b(l);
    b.append_chunk("\r\n123456789");  // line of 9 > 8
    ASSERT_TRUE(b.rejection());
    EXPECT_EQ(b.rejection()->code, 500);
  }
  {
    BdatReader b(l, /*binary=*/true);  // BINARYMIME: NUL and long lines are content
    b.append_chunk(std::string("\r\n\0\x01\xff" "56789", 10));
    EXPECT_FALSE(b.rejection()) << b.rejection()->text;
    EXPECT_EQ(b.message().size(), 10u);
  }
  {
    BdatReader b;  // bare LF is not a smuggling vector in BDAT: length-framed
    b.append_chunk("a\nb\rc\r\n");
    EXPECT_FALSE(b.rejection());
  }
}

}  // namespace
}  // namespace caremail::smtp

namespace caremail::smtp {
namespace {

// A spool that keeps what it is given, and can be told to fail after some octets.
struct TestSpool : Spool {
  std::string* out;
  size_t fail_after;
  TestSpool(std::string* o, size_t f) : out(o), fail_after(f) {}
  bool write(std::string_view b) override {
    if (out->size() + b.size() > fail_after) return false;
    out->append(b);
    return true;
  }
};

// Issue 14: a message past the threshold is not held in memory; the spool gets all of it,
// in order, whatever the split, and a spool that fails refuses the message with 452 4.3.1.
TEST(SmtpData, LargeMessagesSpillToTheSpool) {
  std::string body;
  for (int i = 0; body.size() < 300000; ++i) body += "line " + std::to_string(i) + " of the message\r\n";
  const std::string wire = "Subject: big\r\n\r\n" + body + ".\r\n";
  const std::string want = "Subject: big\r\n\r\n" + body;
  std::mt19937 rng(7);
  for (int round = 0; round < 5; ++round) {
    std::string spooled;
    int opened = 0;
    DataReader r;
    r.spill_to([&]() -> std::unique_ptr<Spool> { ++opened; return std::make_unique<TestSpool>(&spooled, SIZE_MAX); },
               64 * 1024);
    size_t pos = 0;
    size_t max_held = 0;
    while (pos < wire.size() && !r.done()) {
      size_t n = std::uniform_int_distribution<size_t>(1, 9000)(rng);
      pos += r.feed(std::string_view(wire).substr(pos, n));
      max_held = std::max(max_held, r.message().capacity());
    }
    ASSERT_TRUE(r.done());
    EXPECT_FALSE(r.rejection());
    EXPECT_TRUE(r.spilled());
    EXPECT_EQ(opened, 1);
    EXPECT_TRUE(r.message().empty());
    EXPECT_LE(max_held, 2 * 64 * 1024u);
    auto spool = r.take_spool();
    ASSERT_NE(spool, nullptr);
    EXPECT_EQ(spooled, want);
  }
  // Under the threshold: in memory, no spool opened.
  DataReader small;
  int opened = 0;
  small.spill_to([&]() -> std::unique_ptr<Spool> { ++opened; return nullptr; }, 1 << 20);
  small.feed("Subject: s\r\n\r\nhi\r\n.\r\n");
  ASSERT_TRUE(small.done());
  EXPECT_FALSE(small.spilled());
  EXPECT_EQ(small.take_message(), "Subject: s\r\n\r\nhi\r\n");
  EXPECT_EQ(opened, 0);
  // A spool that cannot be opened, or fills up: 452 4.3.1 at the end, the stream still read.
  for (size_t fail_after : {size_t{0}, size_t{100000}}) {
    std::string spooled;
    DataReader r;
    if (fail_after == 0)
      r.spill_to([]() -> std::unique_ptr<Spool> { return nullptr; }, 64 * 1024);
    else
      r.spill_to([&]() -> std::unique_ptr<Spool> { return std::make_unique<TestSpool>(&spooled, fail_after); },
                 64 * 1024);
    EXPECT_EQ(r.feed(wire + "QUIT\r\n"), wire.size());
    ASSERT_TRUE(r.done());
    ASSERT_TRUE(r.rejection());
    EXPECT_EQ(r.rejection()->code, 452);
    EXPECT_EQ(r.rejection()->enhanced, "4.3.1");
    EXPECT_FALSE(r.spilled());
  }
}

TEST(SmtpBdat, LargeMessagesSpillToTheSpool) {
  std::string spooled;
  BdatReader r;
  r.spill_to([&]() -> std::unique_ptr<Spool> { return std::make_unique<TestSpool>(&spooled, SIZE_MAX); }, 1000);
  std::string msg = "Subject: b\r\n\r\n" + std::string(5000, 'x') + "\r\n";
  r.append_chunk(std::string_view(msg).substr(0, 700));
  EXPECT_FALSE(r.spilled());
  r.append_chunk(std::string_view(msg).substr(700));
  EXPECT_TRUE(r.spilled());
  EXPECT_FALSE(r.rejection());
  EXPECT_TRUE(r.message().empty());
  EXPECT_EQ(spooled, msg);
}

}  // namespace
}  // namespace caremail::smtp

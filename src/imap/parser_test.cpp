// Tables for the IMAP command parser (parser.hpp): every command with its exact parsed
// structure, every BAD text, literals split at every boundary, and the limits.
#include "imap/parser.hpp"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace caremail::imap {
namespace {

using namespace std::string_literals;

// "\n" in a test case stands for CRLF on the wire.
std::string wire(std::string_view text) {
  std::string w;
  for (char c : text) {
    if (c == '\n') w += "\r\n";
    else w += c;
  }
  return w + "\r\n";
}

// What a session sees: one event per completed command, error, or "+" continuation.
std::vector<std::string> run(std::string_view in, const std::vector<size_t>& cuts,
                             const Limits& lim = {}) {
  std::vector<std::string> events;
  Parser p(lim);
  size_t start = 0;
  for (size_t i = 0; i <= cuts.size(); ++i) {
    size_t end = i < cuts.size() ? cuts[i] : in.size();
    std::string_view chunk = in.substr(start, end - start);
    start = end;
    for (;;) {
      size_t n = p.feed(chunk);
      EXPECT_LE(n, chunk.size());
      chunk.remove_prefix(n);
      ParseStatus s = p.status();
      if (s == ParseStatus::need_continuation) {
        events.push_back("+ " + std::to_string(p.literal().size));
        continue;
      }
      if (s == ParseStatus::done) {
        events.push_back(debug_string(p.command(), true));
      } else if (s == ParseStatus::error) {
        const ParseError& e = p.error();
        events.push_back("ERR [" + e.tag + "] " + e.text + (e.too_big ? " TOOBIG" : "") +
                         (e.close_connection ? " CLOSE" : ""));
        if (e.close_connection) return events;
      } else {
        break;  // need_more: next chunk
      }
      p.next();
    }
  }
  return events;
}

std::vector<std::string> run_whole(std::string_view in, const Limits& lim = {}) {
  return run(in, {}, lim);
}

Command ok(std::string_view text, const Limits& lim = {}) {
  Parser p(lim);
  std::string w = wire(text);
  std::string_view in = w;
  while (!in.empty()) {
    in.remove_prefix(p.feed(in));
    if (p.status() != ParseStatus::need_continuation) break;
  }
  EXPECT_EQ(p.status(), ParseStatus::done)
      << text << " -> " << (p.status() == ParseStatus::error ? p.error().text : "need more");
  EXPECT_TRUE(in.empty()) << text;
  return p.status() == ParseStatus::done ? p.command() : Command{};
}

// ---- every command: exact structure ----------------------------------------------------

struct Case {
  const char* text;
  const char* parsed;  // debug_string()
};

TEST(ImapParser, DebugStringRedactsSecretsByDefault) {
  Limits lim;
  std::vector<std::string> lits;
  ParseError err;
  auto c = parse_command("a1 LOGIN fred \"pass word\"", lits, lim, err);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(debug_string(*c), "tag=[a1] LOGIN user=[fred] password=[<redacted>]");
  EXPECT_EQ(debug_string(*c, true), "tag=[a1] LOGIN user=[fred] password=[pass word]");
}

TEST(ImapParser, EveryCommand) {
  const Case cases[] = {
      {"a1 CAPABILITY", "tag=[a1] CAPABILITY"},
      {"a1 noop", "tag=[a1] NOOP"},
      {"a1 LOGOUT", "tag=[a1] LOGOUT"},
      {"a1 STARTTLS", "tag=[a1] STARTTLS"},
      {"a1 CHECK", "tag=[a1] CHECK"},
      {"a1 CLOSE", "tag=[a1] CLOSE"},
      {"a1 UNSELECT", "tag=[a1] UNSELECT"},
      {"a1 IDLE", "tag=[a1] IDLE"},
      {"a1 NAMESPACE", "tag=[a1] NAMESPACE"},
      {"a1 EXPUNGE", "tag=[a1] EXPUNGE"},
      {"A]1 NOOP", "tag=[A]1] NOOP"},
      {"a2 login fred \"pass word\"", "tag=[a2] LOGIN user=[fred] password=[pass word]"},
      {"a2 LOGIN \"q\\\"x\\\\\" p", "tag=[a2] LOGIN user=[q\"x\\] password=[p]"},
      {"a3 LOGIN {4}\nfred {3+}\nabc", "tag=[a3] LOGIN user=[fred] password=[abc]"},
      {"a4 AUTHENTICATE PLAIN AGZyZWQAc2VjcmV0",
       "tag=[a4] AUTHENTICATE mech=[PLAIN] ir=[AGZyZWQAc2VjcmV0]"},
      {"a5 authenticate plain =", "tag=[a5] AUTHENTICATE mech=[PLAIN] ir=[=]"},
      {"a5 AUTHENTICATE SCRAM-SHA-256", "tag=[a5] AUTHENTICATE mech=[SCRAM-SHA-256]"},
      {"a6 SELECT inbox (QRESYNC (67890007 20050715194045000 41,43:211,214:541))",
       "tag=[a6] SELECT mailbox=[INBOX] qresync=67890007/20050715194045000 "
       "known=41,43:211,214:541"},
      {"a6 SELECT INBOX (QRESYNC (67890007 90060115194045000 1:29997 (5000,7500 "
       "25000,37500)))",
       "tag=[a6] SELECT mailbox=[INBOX] qresync=67890007/90060115194045000 known=1:29997 "
       "match=5000,7500/25000,37500"},
      {"a6 SELECT INBOX (QRESYNC (1 2 (3 4)))",
       "tag=[a6] SELECT mailbox=[INBOX] qresync=1/2 match=3/4"},
      {"a7 EXAMINE \"Archive/2024\" (CONDSTORE)",
       "tag=[a7] EXAMINE mailbox=[Archive/2024] condstore"},
      {"a7 SELECT &AOk-t&AOk-", "tag=[a7] SELECT mailbox=[&AOk-t&AOk-]"},
      {"a8 LIST (SUBSCRIBED RECURSIVEMATCH) \"\" (\"INBOX\" %) RETURN (CHILDREN STATUS "
       "(MESSAGES UNSEEN SIZE))",
       "tag=[a8] LIST ref=[] patterns=([INBOX] [%]) sel=1010 ret=010 extended "
       "status=(0 3 5 )"},
      {"a8 LIST (SPECIAL-USE REMOTE) \"\" * RETURN (SUBSCRIBED SPECIAL-USE)",
       "tag=[a8] LIST ref=[] patterns=([*]) sel=0101 ret=101 extended"},
      {"a9 LIST \"\" *", "tag=[a9] LIST ref=[] patterns=([*]) sel=0000 ret=000"},
      {"a9 LIST ~/Mail/ %/a]", "tag=[a9] LIST ref=[~/Mail/] patterns=([%/a]]) sel=0000 ret=000"},
      {"a9 LSUB \"\" %", "tag=[a9] LSUB ref=[] patterns=([%]) sel=0000 ret=000"},
      {"b1 STATUS INBOX (MESSAGES UIDNEXT UIDVALIDITY UNSEEN DELETED SIZE HIGHESTMODSEQ "
       "RECENT APPENDLIMIT)",
       "tag=[b1] STATUS mailbox=[INBOX] items=(0 1 2 3 4 5 7 6 8 )"},
      {"b2 APPEND Drafts (\\Seen \\Draft) \" 7-Feb-1994 21:52:25 -0800\" {5}\nhello",
       "tag=[b2] APPEND mailbox=[Drafts] msg(([\\Seen] [\\Draft]) 7-2-1994 21:52:25 -480 5)"},
      {"b2 APPEND INBOX \"17-Jul-1996 02:44:25 +0130\" {0}\n",
       "tag=[b2] APPEND mailbox=[INBOX] msg(() 17-7-1996 2:44:25 90 0)"},
      {"b3 APPEND INBOX {1+}\nx ~{2+}\nab",
       "tag=[b3] APPEND mailbox=[INBOX] msg(() 1) msg(() binary 2)"},
      {"b3 APPEND {5}\nINBOX () {1}\nx", "tag=[b3] APPEND mailbox=[INBOX] msg(() 1)"},
      // RFC 6855 §4, as Thunderbird sends it after ENABLE UTF8=ACCEPT.
      {"b5 APPEND \"Sent\" (\\Seen $label1) UTF8 (~{5+}\nhello)",
       "tag=[b5] APPEND mailbox=[Sent] msg(([\\Seen] [$label1]) binary 5)"},
      {"b5 APPEND INBOX \"17-Jul-1996 02:44:25 +0130\" utf8 (~{1}\nx) {1}\ny",
       "tag=[b5] APPEND mailbox=[INBOX] msg(() 17-7-1996 2:44:25 90 binary 1) msg(() 1)"},
      // CATENATE (RFC 4469), alone and with MULTIAPPEND.
      {"c1 APPEND INBOX CATENATE (TEXT {5}\nhello URL \"/INBOX/;UID=3/;SECTION=HEADER\")",
       "tag=[c1] APPEND mailbox=[INBOX] msg(() 0 catenate text5 url[/INBOX/;UID=3/;SECTION=HEADER])"},
      {"c2 APPEND Box catenate (url \"/a/;uid=1\") (\\Answered) {3}\nabc catenate (text ~{1+}\nz)",
       "tag=[c2] APPEND mailbox=[Box] msg(() 0 catenate url[/a/;uid=1]) msg(([\\Answered]) 3) "
       "msg(() binary 0 catenate text1)"},
      {"c3 APPEND INBOX CATENATE (UTF8 (~{2}\nhi) URL \"/INBOX/;UID=3\")",
       "tag=[c3] APPEND mailbox=[INBOX] msg(() binary 0 catenate text2 url[/INBOX/;UID=3])"},
      {"b4 UID FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (From Subject)]<0.1024> "
       "BINARY[1.2]<5.10> BINARY.SIZE[3] RFC822.SIZE) (CHANGEDSINCE 12345 VANISHED)",
       "tag=[b4] UID FETCH set=1:* att1 att11.peek[2([From] [Subject])]<0.1024> "
       "att12[1.2.0]<5.10> att13[3.0] att5 changedsince=12345 vanished"},
      {"b5 FETCH 2,4:*,*:4 ALL", "tag=[b5] FETCH set=2,4:*,*:4 att1 att2 att5 att0"},
      {"b5 FETCH 1 FAST", "tag=[b5] FETCH set=1 att1 att2 att5"},
      {"b6 FETCH $ FULL", "tag=[b6] FETCH set=$ att1 att2 att5 att0 att7"},
      {"b6 FETCH 4294967295 (ENVELOPE BODYSTRUCTURE BODY RFC822 RFC822.HEADER RFC822.TEXT "
       "INTERNALDATE UID MODSEQ BINARY.PEEK[])",
       "tag=[b6] FETCH set=4294967295 att0 att8 att7 att3 att4 att6 att2 att9 att10 "
       "att12.peek[0]"},
      {"b7 FETCH 1 BODY[1.2.MIME]", "tag=[b7] FETCH set=1 att11[1.2.5]"},
      {"b7 FETCH 1 (BODY[] BODY[TEXT] BODY[HEADER] BODY[2.HEADER.FIELDS.NOT (X-A)])",
       "tag=[b7] FETCH set=1 att11[0] att11[4] att11[1] att11[2.3([X-A])]"},
      {"b7 FETCH 1 (FLAGS) (CHANGEDSINCE 9)", "tag=[b7] FETCH set=1 att1 changedsince=9"},
      {"b8 STORE 1:3 +FLAGS.SILENT (\\Deleted $Junk)",
       "tag=[b8] STORE set=1:3 store=1.silent ([\\Deleted] [$Junk])"},
      {"b8 STORE 1 FLAGS ()", "tag=[b8] STORE set=1 store=0 ()"},
      {"b9 UID STORE 5 (UNCHANGEDSINCE 300) -FLAGS \\Seen \\Flagged",
       "tag=[b9] UID STORE set=5 store=2 ([\\Seen] [\\Flagged]) unchangedsince=300"},
      {"c1 UID SEARCH RETURN (MIN MAX COUNT SAVE) CHARSET UTF-8 OR FROM \"x\" NOT (SEEN "
       "LARGER 100) SINCE 1-Feb-1994 HEADER Message-ID \"<a@b>\" MODSEQ \"/flags/\\\\draft\" "
       "all 620162338",
       "tag=[c1] UID SEARCH return=11011 charset=[UTF-8] k36(k17(k9[x] k14(k36(k19 k12#100))) "
       "k23@1-2-1994 k10[Message-ID][<a@b>] k37[/flags/\\draft][all]#620162338)"},
      {"c1 SEARCH RETURN () ALL", "tag=[c1] SEARCH return=00000 k36(k0)"},
      {"c2 SEARCH 1:5,* UID $ KEYWORD $Junk",
       "tag=[c2] SEARCH k36(k35{1:5,*} k28{$} k11[$Junk])"},
      {"c2 SEARCH ANSWERED BCC b BEFORE 1-Jan-2000 BODY x CC c DELETED DRAFT FLAGGED NEW OLD "
       "ON 2-Jan-2000 RECENT SEEN SENTBEFORE 3-Jan-2000 SENTON 4-Jan-2000 SENTSINCE "
       "5-Jan-2000 SMALLER 9 SUBJECT s TEXT t TO u UNANSWERED UNDELETED UNDRAFT UNFLAGGED "
       "UNKEYWORD k UNSEEN OLDER 60 YOUNGER 70 MODSEQ 5",
       "tag=[c2] SEARCH k36(k1 k2[b] k3@1-1-2000 k4[x] k5[c] k6 k7 k8 k13 k15 k16@2-1-2000 k18 "
       "k19 k20@3-1-2000 k21@4-1-2000 k22@5-1-2000 k24#9 k25[s] k26[t] k27[u] k29 k30 k31 k32 "
       "k33[k] k34 k38#60 k39#70 k37#5)"},
      {"c2 SEARCH CHARSET UTF-8 SUBJECT {4}\n\xc3\xa9t\xc3",
       "tag=[c2] SEARCH charset=[UTF-8] k36(k25[\xc3\xa9t\xc3])"},
      {"c3 UID SORT (REVERSE DATE SUBJECT) UTF-8 ALL",
       "tag=[c3] UID SORT charset=[UTF-8] sort=-2 sort=5 k36(k0)"},
      // ESORT, CONTEXT=SEARCH, PARTIAL (RFC 5267, RFC 9394), CANCELUPDATE.
      {"c3 UID SORT RETURN (MIN ALL) (ARRIVAL) UTF-8 ALL",
       "tag=[c3] UID SORT return=10100 charset=[UTF-8] sort=0 k36(k0)"},
      {"c3 SEARCH RETURN (UPDATE CONTEXT COUNT) SEEN",
       "tag=[c3] SEARCH return=00010 update context k36(k19)"},
      {"c3 SEARCH RETURN (PARTIAL 1:100) ALL", "tag=[c3] SEARCH return=00000 partial=1:100 k36(k0)"},
      {"c3 SEARCH RETURN (PARTIAL -1:-10 MIN) ALL",
       "tag=[c3] SEARCH return=10000 partial=-1:-10 k36(k0)"},
      {"c3 CANCELUPDATE \"a1\" {2}\nb2", "tag=[c3] CANCELUPDATE cancel=([a1] [b2])"},
      // RFC 7162 entry-name and entry-type-req (imaptest's esearch-condstore).
      {"c3 SEARCH RETURN (ALL) 2:3 MODSEQ \"/flags/\\\\seen\" all 12",
       "tag=[c3] SEARCH return=00100 k36(k35{2:3} k37[/flags/\\seen][all]#12)"},
      {"c4 THREAD REFERENCES UTF-8 SINCE \"5-MAR-2000\"",
       "tag=[c4] THREAD charset=[UTF-8] thread=[REFERENCES] k36(k23@5-3-2000)"},
      {"c4 UID THREAD orderedsubject US-ASCII ALL",
       "tag=[c4] UID THREAD charset=[US-ASCII] thread=[ORDEREDSUBJECT] k36(k0)"},
      {"c5 ID (\"name\" \"Thunderbird\" \"version\" NIL)",
       "tag=[c5] ID id[name]=[Thunderbird] id[version]=NIL"},
      {"c5 ID NIL", "tag=[c5] ID id=NIL"},
      {"c5 ID ()", "tag=[c5] ID"},
      {"c6 SETQUOTA \"\" (STORAGE 512 message 1000)",
       "tag=[c6] SETQUOTA limit[STORAGE]=512 limit[MESSAGE]=1000"},
      {"c6 GETQUOTA \"user.fred\"", "tag=[c6] GETQUOTA root=[user.fred]"},
      {"c6 GETQUOTAROOT INBOX", "tag=[c6] GETQUOTAROOT mailbox=[INBOX]"},
      {"c7 SETACL INBOX fred +lrswi",
       "tag=[c7] SETACL mailbox=[INBOX] identifier=[fred] rights=[+lrswi]"},
      {"c7 DELETEACL INBOX -fred", "tag=[c7] DELETEACL mailbox=[INBOX] identifier=[-fred]"},
      {"c7 GETACL Shared", "tag=[c7] GETACL mailbox=[Shared]"},
      {"c7 LISTRIGHTS INBOX anyone", "tag=[c7] LISTRIGHTS mailbox=[INBOX] identifier=[anyone]"},
      {"c7 MYRIGHTS INBOX", "tag=[c7] MYRIGHTS mailbox=[INBOX]"},
      {"c8 UID MOVE 1:3 \"Trash\"", "tag=[c8] UID MOVE mailbox=[Trash] set=1:3"},
      {"c8 MOVE $ Trash", "tag=[c8] MOVE mailbox=[Trash] set=$"},
      {"c8 COPY 2:4 MEETING", "tag=[c8] COPY mailbox=[MEETING] set=2:4"},
      {"c8 UID COPY 1 x", "tag=[c8] UID COPY mailbox=[x] set=1"},
      {"c9 ENABLE QRESYNC utf8=accept", "tag=[c9] ENABLE caps=([QRESYNC] [UTF8=ACCEPT])"},
      {"d1 COMPRESS deflate", "tag=[d1] COMPRESS mech=[DEFLATE]"},
      {"d2 UID EXPUNGE 3000:3002", "tag=[d2] UID EXPUNGE set=3000:3002"},
      {"d3 CREATE Drafts (USE (\\Drafts))", "tag=[d3] CREATE mailbox=[Drafts] use=([\\Drafts])"},
      {"d3 CREATE owatagusiam/", "tag=[d3] CREATE mailbox=[owatagusiam/]"},
      {"d3 DELETE blurdybloop", "tag=[d3] DELETE mailbox=[blurdybloop]"},
      {"d4 RENAME a b", "tag=[d4] RENAME mailbox=[a] new=[b]"},
      {"d4 SUBSCRIBE #news", "tag=[d4] SUBSCRIBE mailbox=[#news]"},
      {"d4 UNSUBSCRIBE #news", "tag=[d4] UNSUBSCRIBE mailbox=[#news]"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.text);
    EXPECT_EQ(debug_string(ok(c.text), true), c.parsed);
  }
  EXPECT_EQ(to_string(Verb::select), "SELECT");
  EXPECT_EQ(to_string(Verb::delete_), "DELETE");
}

TEST(ImapParser, StructuresInDetail) {
  Command c = ok("x UID FETCH 1:*,7 BODY.PEEK[1.2.HEADER.FIELDS (From \"To\")]<10.20>");
  EXPECT_EQ(c.verb, Verb::fetch);
  EXPECT_TRUE(c.uid);
  ASSERT_EQ(c.set.ranges.size(), 2u);
  EXPECT_EQ(c.set.ranges[0], (SeqRange{1, SeqRange::kStar}));
  EXPECT_EQ(c.set.ranges[1], (SeqRange{7, 7}));
  ASSERT_EQ(c.fetch.atts.size(), 1u);
  const FetchAtt& a = c.fetch.atts[0];
  EXPECT_EQ(a.kind, FetchAtt::Kind::body_section);
  EXPECT_TRUE(a.peek);
  EXPECT_EQ(a.section.part, (std::vector<uint32_t>{1, 2}));
  EXPECT_EQ(a.section.text, Section::Text::header_fields);
  EXPECT_EQ(a.section.fields, (std::vector<std::string>{"From", "To"}));
  EXPECT_EQ(a.partial, (std::pair<uint32_t, uint32_t>{10, 20}));

  c = ok("y APPEND \"Sent\" (\\Seen) \"01-Jan-2024 10:00:00 +0000\" {10}\nHello\nBye");
  ASSERT_EQ(c.messages.size(), 1u);
  EXPECT_EQ(c.messages[0].data, "Hello\r\nBye");
  EXPECT_EQ(c.messages[0].flags, (std::vector<std::string>{"\\Seen"}));
  ASSERT_TRUE(c.messages[0].date);
  EXPECT_EQ(c.messages[0].date->date, (Date{2024, 1, 1}));
  EXPECT_EQ(c.messages[0].date->hour, 10);

  c = ok("z SEARCH NOT NOT 3");
  ASSERT_EQ(c.search.key.children.size(), 1u);
  const SearchKey& k = c.search.key.children[0];
  EXPECT_EQ(k.kind, SearchKey::Kind::not_);
  ASSERT_EQ(k.children.size(), 1u);
  EXPECT_EQ(k.children[0].kind, SearchKey::Kind::not_);
  EXPECT_EQ(k.children[0].children[0].kind, SearchKey::Kind::seqset);
  EXPECT_EQ(k.children[0].children[0].set.ranges[0], (SeqRange{3, 3}));

  c = ok("w SELECT iNbOx");
  EXPECT_EQ(c.mailbox, "INBOX");
  c = ok("w SELECT INBOX.sub");
  EXPECT_EQ(c.mailbox, "INBOX.sub");  // only the whole name is case-insensitive
}

// ---- errors: exact BAD texts -------------------------------------------------------------

struct ErrorCase {
  std::string text;
  const char* tag;
  const char* error;
};

TEST(ImapParser, BadTexts) {
  const std::vector<ErrorCase> cases = {
      {"a BOGUS", "a", "Unknown command"},
      {"a", "a", "Missing command"},
      {" NOOP", "", "Missing tag"},
      {"a+b NOOP", "", "Invalid tag"},
      {"a(b NOOP", "", "Invalid tag"},
      {"a NOOP extra", "a", "Unexpected characters at end of command"},
      {"a NOOP ", "a", "Unexpected characters at end of command"},
      {"a  NOOP", "a", "Missing command"},
      {"a LOGIN fred", "a", "Missing argument"},
      {"a LOGIN \"fred", "a", "Unterminated quoted string"},
      {"a LOGIN \"a\\b\" x", "a", "Invalid escape in quoted string"},
      {"a LOGIN {3+}\na\0b x"s, "a", "NUL in literal (use a binary literal)"},
      {"a LOGIN ~{1+}\nx x", "a", "Expected a space"},
      {"a LOGIN {1} x", "a", "Literal must end the line"},
      {"a LOGIN fr\red x", "a", "Expected a space"},
      {"a SELECT", "a", "Missing argument"},
      {"a SELECT \"\"", "a", "Empty mailbox name"},
      {"a SELECT {3+}\na\tb", "a", "Control character in mailbox name"},
      {"a SELECT INBOX (FOO)", "a", "Unknown SELECT parameter"},
      {"a FETCH 0 FLAGS", "a", "Sequence number 0 is invalid"},
      {"a FETCH 1:0 FLAGS", "a", "Sequence number 0 is invalid"},
      {"a FETCH 4294967296 FLAGS", "a", "Sequence number out of range"},
      {"a FETCH 1,,2 FLAGS", "a", "Invalid sequence set"},
      {"a FETCH 1,$ FLAGS", "a", "Invalid sequence set"},
      {"a FETCH -1 FLAGS", "a", "Invalid sequence set"},
      {"a FETCH 1 (FLAGS BOGUS)", "a", "Unknown fetch item"},
      {"a FETCH 1 ()", "a", "Expected a fetch item"},
      {"a FETCH 1 BODY[HEADER.FIELDS ()]", "a", "Expected a string"},
      {"a FETCH 1 BODY[MIME]", "a", "Invalid section"},
      {"a FETCH 1 BODY[0]", "a", "Invalid section part"},
      {"a FETCH 1 BINARY[TEXT]", "a", "Invalid section"},
      {"a FETCH 1 BODY.PEEK", "a", "Expected '['"},
      {"a FETCH 1 BODY[]<0.0>", "a", "Invalid partial"},
      {"a FETCH 1 FLAGS (VANISHED)", "a", "VANISHED needs UID FETCH and CHANGEDSINCE"},
      {"a FETCH 1 FLAGS (CHANGEDSINCE 9223372036854775808)", "a", "Invalid mod-sequence value"},
      {"a STORE 1 FLAGZ \\Seen", "a", "Expected FLAGS, +FLAGS or -FLAGS"},
      {"a STORE 1 FLAGS (\\Seen", "a", "Expected ')'"},
      {"a STORE 1 (FOO 1) FLAGS \\Seen", "a", "Unknown STORE modifier"},
      {"a SEARCH", "a", "Missing argument"},
      {"a SEARCH FOO", "a", "Unknown search key"},
      {"a SEARCH SINCE 31-Foo-2000", "a", "Invalid date"},
      {"a SEARCH SINCE 32-Jan-2000", "a", "Invalid date"},
      {"a SEARCH OR SEEN", "a", "Missing argument"},
      {"a SEARCH RETURN (BOGUS) ALL", "a", "Unknown SEARCH return option"},
      {"a SEARCH ()", "a", "Expected a search key"},
      {"a UID BOGUS 1", "a", "Unknown UID command"},
      {"a UID NOOP", "a", "Unknown UID command"},
      {"a UID EXPUNGE", "a", "Missing argument"},
      {"a STATUS INBOX (BOGUS)", "a", "Unknown STATUS item"},
      {"a STATUS INBOX ()", "a", "Unknown STATUS item"},
      {"a LIST (BOGUS) \"\" *", "a", "Unknown LIST selection option"},
      {"a LIST (RECURSIVEMATCH) \"\" *", "a", "RECURSIVEMATCH needs another selection option"},
      {"a LIST \"\" * RETURN (BOGUS)", "a", "Unknown LIST return option"},
      {"a LIST \"\" * FOO", "a", "Expected RETURN"},
      {"a AUTHENTICATE PLAIN abc", "a", "Initial response is not base64"},
      {"a AUTHENTICATE PLAIN ab=c", "a", "Initial response is not base64"},
      {"a APPEND INBOX (\\Seen) \"bad date\" {1}\nx", "a", "Invalid date-time"},
      {"a APPEND INBOX (\\Seen)", "a", "Missing argument"},
      {"a APPEND INBOX UTF9 (~{1}\nx)", "a", "Expected a message literal or CATENATE"},
      {"a APPEND INBOX UTF8 ({1}\nx)", "a", "Expected a literal8 in UTF8 ( )"},
      {"a APPEND INBOX UTF8 (~{1}\nx", "a", "Expected ')'"},
      {"a APPEND INBOX UTF8 ~{1}\nx", "a", "Expected '('"},
      {"a APPEND INBOX hello", "a", "Expected a message literal or CATENATE"},
      {"a APPEND INBOX CATENATE ()", "a", "Expected TEXT or URL"},
      {"a APPEND INBOX CATENATE (TEXT \"x\")", "a", "CATENATE TEXT takes a literal"},
      {"a APPEND INBOX CATENATE (URL \"\")", "a", "Empty CATENATE URL"},
      {"a APPEND INBOX CATENATE (URL x", "a", "Expected ')'"},
      {"a APPEND INBOX CATENATE URL x", "a", "Expected '('"},
      {"a ID (\"a\")", "a", "Expected a space"},
      {"a SORT (BOGUS) UTF-8 ALL", "a", "Unknown sort criterion"},
      {"a SORT RETURN (BOGUS) (ARRIVAL) UTF-8 ALL", "a", "Unknown SEARCH return option"},
      {"a SORT FOO (ARRIVAL) UTF-8 ALL", "a", "Expected '(' or RETURN"},
      {"a SEARCH RETURN (PARTIAL 0:5) ALL", "a", "Invalid PARTIAL range"},
      {"a SEARCH RETURN (PARTIAL -1:5) ALL", "a", "Invalid PARTIAL range"},
      {"a SEARCH RETURN (PARTIAL 1:2 PARTIAL 3:4) ALL", "a", "PARTIAL given twice"},
      {"a CANCELUPDATE", "a", "Missing argument"},
      {"a SETQUOTA x (STORAGE x)", "a", "Invalid quota limit"},
      {"a CREATE x (FOO)", "a", "Unknown CREATE parameter"},
      {"a ENABLE", "a", "Missing argument"},
      {"a COMPRESS", "a", "Missing argument"},
  };
  for (const ErrorCase& c : cases) {
    SCOPED_TRACE(c.text);
    auto ev = run_whole(wire(c.text));
    ASSERT_FALSE(ev.empty());
    EXPECT_EQ(ev.back(), "ERR [" + std::string(c.tag) + "] " + c.error);
  }
}

TEST(ImapParser, ErrorDoesNotLoseTheNextCommand) {
  auto ev = run_whole("a BOGUS\r\nb NOOP\r\n\r\nc LOGOUT\n");
  EXPECT_EQ(ev, (std::vector<std::string>{"ERR [a] Unknown command", "tag=[b] NOOP", "ERR [] Empty command line",
                                          "tag=[c] LOGOUT"}));
}

// ---- literals ------------------------------------------------------------------------------

const std::string kLiteralStream =
    "a1 LOGIN {4}\r\nfred {7+}\r\nse{3}\r\n\r\n"
    "a2 APPEND INBOX (\\Seen) {12}\r\nline\r\nline2\r\n"
    "a3 APPEND INBOX ~{3+}\r\n\0\1\2 {0}\r\n\r\n"
    "a4 SEARCH SUBJECT {2}\r\n{}\r\n"
    "a5 BOGUS\r\n"
    "a6 UID FETCH 1:* (FLAGS)\r\n"s;

const std::vector<std::string> kLiteralEvents = {
    "+ 4",
    "tag=[a1] LOGIN user=[fred] password=[se{3}\r\n]",
    "+ 12",
    "tag=[a2] APPEND mailbox=[INBOX] msg(([\\Seen]) 12)",
    "+ 0",
    "tag=[a3] APPEND mailbox=[INBOX] msg(() binary 3) msg(() 0)",
    "+ 2",
    "tag=[a4] SEARCH k36(k25[{}])",
    "ERR [a5] Unknown command",
    "tag=[a6] UID FETCH set=1:* att1",
};

TEST(ImapParser, LiteralsWhole) {
  std::string in(kLiteralStream.data(), kLiteralStream.size());
  EXPECT_EQ(run_whole(in), kLiteralEvents);
}

TEST(ImapParser, LiteralsSplitAtEveryBoundary) {
  const std::string& in = kLiteralStream;
  // Byte by byte.
  std::vector<size_t> cuts;
  for (size_t i = 1; i < in.size(); ++i) cuts.push_back(i);
  EXPECT_EQ(run(in, cuts), kLiteralEvents);
  // Every single cut.
  for (size_t i = 1; i < in.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(run(in, {i}), kLiteralEvents);
  }
  // Random splits, fixed seed.
  std::mt19937 rng(20240901);
  for (int round = 0; round < 300; ++round) {
    std::vector<size_t> c;
    for (size_t i = 1; i < in.size(); ++i)
      if (rng() % 5 == 0) c.push_back(i);
    EXPECT_EQ(run(in, c), kLiteralEvents) << "round " << round;
  }
}

TEST(ImapParser, SynchronisingLiteralStopsAfterItsLine) {
  Parser p;
  std::string in = "a LOGIN {4}\r\nfred x\r\n";
  size_t n = p.feed(in);
  EXPECT_EQ(n, 13u);  // up to and including the CRLF after {4}: the client waits for "+"
  EXPECT_EQ(p.status(), ParseStatus::need_continuation);
  EXPECT_EQ(p.literal().size, 4u);
  EXPECT_TRUE(p.literal().synchronizing);
  EXPECT_FALSE(p.literal().message);
  n = p.feed(std::string_view(in).substr(13));
  EXPECT_EQ(n, in.size() - 13);
  EXPECT_EQ(p.status(), ParseStatus::done);
  EXPECT_EQ(p.feed("b NOOP\r\n"), 0u);  // done: nothing more until next()
  p.next();
  EXPECT_EQ(p.feed("b NOOP\r\nc NOOP\r\n"), 8u);  // stops at the end of the command
}

TEST(ImapParser, NonSynchronisingLiteralNeedsNoContinuation) {
  auto ev = run_whole("a LOGIN {4+}\r\nfred {1+}\r\nx\r\n");
  EXPECT_EQ(ev, (std::vector<std::string>{"tag=[a] LOGIN user=[fred] password=[x]"}));
}

TEST(ImapParser, LiteralOverAppendLimitRefusedBeforeReading) {
  Limits lim;
  lim.max_literal = 100;
  Parser p(lim);
  std::string in = "a APPEND INBOX {101}\r\n";
  EXPECT_EQ(p.feed(in), in.size());
  ASSERT_EQ(p.status(), ParseStatus::error);
  EXPECT_EQ(p.error().tag, "a");
  EXPECT_EQ(p.error().text, "Message too large");
  EXPECT_TRUE(p.error().too_big);
  EXPECT_FALSE(p.error().close_connection);  // the client will not send it: go on
  p.next();
  EXPECT_EQ(p.feed("b NOOP\r\n"), 8u);
  EXPECT_EQ(p.status(), ParseStatus::done);
  // A huge announced size is refused the same way, with nothing allocated for it.
  EXPECT_EQ(run_whole("a APPEND INBOX {99999999999999}\r\n", lim),
            (std::vector<std::string>{"ERR [a] Message too large TOOBIG"}));
  EXPECT_EQ(run_whole("a APPEND INBOX {99999999999999999999999}\r\n", lim),
            (std::vector<std::string>{"ERR [a] Literal size out of range CLOSE"}));
  // Exactly at the limit is fine.
  std::string at = "a APPEND INBOX {100}\r\n" + std::string(100, 'x') + "\r\n";
  EXPECT_EQ(run_whole(at, lim), (std::vector<std::string>{
                                    "+ 100", "tag=[a] APPEND mailbox=[INBOX] msg(() 100)"}));
  // Non-synchronising: the octets are coming anyway, so the connection must close.
  EXPECT_EQ(run_whole("a APPEND INBOX {101+}\r\n", lim),
            (std::vector<std::string>{"ERR [a] Message too large TOOBIG CLOSE"}));
  // MULTIAPPEND total.
  lim.max_append_total = 150;
  EXPECT_EQ(run_whole("a APPEND INBOX {100+}\r\n" + std::string(100, 'x') + " {51}\r\n", lim),
            (std::vector<std::string>{"ERR [a] Message too large TOOBIG"}));
}

TEST(ImapParser, LiteralMinusAndCommandLiterals) {
  Limits lim;
  lim.max_nonsync_literal = 4096;  // LITERAL-
  EXPECT_EQ(run_whole("a LOGIN {4097+}\r\n", lim),
            (std::vector<std::string>{"ERR [a] Non-synchronizing literal too large TOOBIG CLOSE"}));
  lim.max_line = 100;
  // Literals outside APPEND messages count against max_line.
  EXPECT_EQ(run_whole("a LOGIN {90}\r\n", lim),
            (std::vector<std::string>{"ERR [a] Literal too large"}));
  EXPECT_EQ(run_whole("a LOGIN {90+}\r\n", lim),
            (std::vector<std::string>{"ERR [a] Literal too large CLOSE"}));
  // An unknown command gets its BAD before the client sends the literal.
  EXPECT_EQ(run_whole("a FROB {5}\r\n", lim), (std::vector<std::string>{"ERR [a] Unknown command"}));
}

// Before login (issue 14 finding 2): the session allows only the pre-login verbs and a
// few KB per command, so a literal is refused before one octet of it is read and "+" is
// sent only for a command that can run.
TEST(ImapParser, LiteralsRefusedByStateBeforeReading) {
  Limits pre;
  pre.max_line = 8192;
  pre.max_literal = 0;
  pre.max_append_total = 0;
  pre.max_nonsync_literal = 8192;
  pre.allowed_verbs = verb_bit(Verb::capability) | verb_bit(Verb::noop) | verb_bit(Verb::logout) |
                      verb_bit(Verb::id) | verb_bit(Verb::starttls) | verb_bit(Verb::login) |
                      verb_bit(Verb::authenticate);
  Parser p(pre);
  std::string in = "a APPEND INBOX {29000000}\r\n";
  EXPECT_EQ(p.feed(in), in.size());
  ASSERT_EQ(p.status(), ParseStatus::error);  // never need_continuation: no "+"
  EXPECT_EQ(p.error().text, "APPEND is not valid in this state");
  EXPECT_FALSE(p.error().too_big);
  EXPECT_FALSE(p.error().close_connection);
  EXPECT_TRUE(p.error().refused_literal);
  p.next();
  EXPECT_EQ(p.feed("b NOOP\r\n"), 8u);
  EXPECT_EQ(p.status(), ParseStatus::done);
  // A LOGIN literal over the pre-login budget: BAD, not read.
  EXPECT_EQ(run_whole("a LOGIN {20000}\r\n", pre), (std::vector<std::string>{"ERR [a] Literal too large"}));
  // Within it, LOGIN and AUTHENTICATE take literals as usual (also non-synchronising ones).
  EXPECT_EQ(run_whole("a LOGIN {4}\r\nfred {1+}\r\nx\r\n", pre),
            (std::vector<std::string>{"+ 4", "tag=[a] LOGIN user=[fred] password=[x]"}));
  // Other verbs and UID commands: BAD before the literal.
  EXPECT_EQ(run_whole("a SELECT {5}\r\n", pre), (std::vector<std::string>{"ERR [a] SELECT is not valid in this state"}));
  EXPECT_EQ(run_whole("a UID FETCH 1 (BODY[HEADER.FIELDS {7}\r\n", pre),
            (std::vector<std::string>{"ERR [a] FETCH is not valid in this state"}));
  // Non-synchronising: a big one cannot be skipped, so the stream is lost.
  EXPECT_EQ(run_whole("a APPEND INBOX {29000000+}\r\n", pre),
            (std::vector<std::string>{"ERR [a] APPEND is not valid in this state CLOSE"}));
  EXPECT_EQ(run_whole("a LOGIN {9000+}\r\n", pre),
            (std::vector<std::string>{"ERR [a] Non-synchronizing literal too large TOOBIG CLOSE"}));
  // A small one is read, then the command is refused by the session as usual.
  EXPECT_EQ(run_whole("a SELECT {5+}\r\nINBOX\r\n", pre), (std::vector<std::string>{"tag=[a] SELECT mailbox=[INBOX]"}));
}

TEST(ImapParser, SetLimitsBetweenCommandsTakesEffectAtOnce) {
  Limits pre;
  pre.allowed_verbs = verb_bit(Verb::login);
  Parser p(pre);
  EXPECT_EQ(p.feed("a LOGIN u p\r\n"), 13u);
  ASSERT_EQ(p.status(), ParseStatus::done);
  p.next();
  p.set_limits(Limits{});  // after login, before the next command's first octet
  std::string in = "b APPEND INBOX {3}\r\n";
  EXPECT_EQ(p.feed(in), in.size());
  EXPECT_EQ(p.status(), ParseStatus::need_continuation);
  // Mid-command, a change waits for next().
  p.set_limits(pre);
  EXPECT_EQ(p.limits().allowed_verbs, Limits{}.allowed_verbs);
}

TEST(ImapParser, LineTooLongCloses) {
  Limits lim;
  lim.max_line = 50;
  std::string in = "a NOOP " + std::string(60, 'x');
  Parser p(lim);
  size_t n = p.feed(in);  // no line end yet: still refused once past the limit
  EXPECT_LE(n, in.size());
  ASSERT_EQ(p.status(), ParseStatus::error);
  EXPECT_EQ(p.error().text, "Command line too long");
  EXPECT_TRUE(p.error().close_connection);
  EXPECT_EQ(p.error().tag, "a");
}

TEST(ImapParser, RawLinesForIdleAndSasl) {
  Parser p;
  EXPECT_EQ(p.feed("a IDLE\r\n"), 8u);
  EXPECT_EQ(p.command().verb, Verb::idle);
  p.next();
  p.expect_line();
  EXPECT_EQ(p.feed("done\r\nb NOOP\r\n"), 6u);
  ASSERT_EQ(p.status(), ParseStatus::done);
  EXPECT_EQ(p.command().verb, Verb::line);
  EXPECT_TRUE(is_idle_done(p.command().line));
  EXPECT_FALSE(is_idle_done("DONE "));
  p.next();  // back to commands
  EXPECT_EQ(p.feed("b NOOP\r\n"), 8u);
  EXPECT_EQ(p.command().verb, Verb::noop);
}

// ---- limits: nesting, ranges, tokens -----------------------------------------------------

TEST(ImapParser, NestingLimit) {
  Limits lim;
  lim.max_nesting = 8;
  auto nested = [](int n) {
    return "a SEARCH " + std::string(n, '(') + "ALL" + std::string(n, ')');
  };
  // Each "(" is one level and the key inside it another; the top key is one more.
  EXPECT_EQ(run_whole(nested(3) + "\r\n", lim).at(0).substr(0, 14), "tag=[a] SEARCH");
  EXPECT_EQ(run_whole(nested(4) + "\r\n", lim), (std::vector<std::string>{"ERR [a] Nesting too deep"}));
  std::string nots = "a SEARCH ";
  for (int i = 0; i < 100000; ++i) nots += "NOT ";
  nots += "ALL\r\n";
  Limits big;
  big.max_line = 1 << 20;
  big.max_tokens = 1 << 20;
  EXPECT_EQ(run_whole(nots, big), (std::vector<std::string>{"ERR [a] Nesting too deep"}));
  // Default limit, deep parentheses: an error, not a stack overflow.
  std::string parens = "a SEARCH " + std::string(30000, '(') + "\r\n";
  EXPECT_EQ(run_whole(parens), (std::vector<std::string>{"ERR [a] Nesting too deep"}));
}

TEST(ImapParser, SequenceSetEdges) {
  EXPECT_EQ(ok("a FETCH 4294967295 FLAGS").set.ranges[0], (SeqRange{4294967295u, 4294967295u}));
  EXPECT_EQ(ok("a FETCH *:4 FLAGS").set.ranges[0], (SeqRange{SeqRange::kStar, 4}));
  EXPECT_EQ(ok("a FETCH * FLAGS").set.ranges[0], (SeqRange{SeqRange::kStar, SeqRange::kStar}));
  EXPECT_TRUE(ok("a FETCH $ FLAGS").set.saved);
  EXPECT_EQ(ok("a FETCH 1:1,2 FLAGS").set.ranges.size(), 2u);
  Limits lim;
  lim.max_sequence_ranges = 3;
  EXPECT_EQ(ok("a FETCH 1,2,3 FLAGS", lim).set.ranges.size(), 3u);
  EXPECT_EQ(run_whole("a FETCH 1,2,3,4 FLAGS\r\n", lim),
            (std::vector<std::string>{"ERR [a] Too many ranges in sequence set"}));
  EXPECT_EQ(run_whole("a FETCH 00000000000000000001 FLAGS\r\n").at(0),
            "tag=[a] FETCH set=1 att1");
}

TEST(ImapParser, ListPatternLimit) {
  Limits lim;
  lim.max_list_patterns = 3;
  EXPECT_EQ(ok("a LIST \"\" (a b c)", lim).list.patterns.size(), 3u);
  EXPECT_EQ(run_whole("a LIST \"\" (a b c d)\r\n", lim),
            (std::vector<std::string>{"ERR [a] Too many LIST patterns"}));
  std::string many = "a LIST \"\" (";
  for (int i = 0; i < 101; ++i) many += (i ? " p" : "p") + std::to_string(i);
  EXPECT_EQ(run_whole(many + ")\r\n"), (std::vector<std::string>{"ERR [a] Too many LIST patterns"}));
}

TEST(ImapParser, TokenLimit) {
  Limits lim;
  lim.max_tokens = 50;
  std::string s = "a SEARCH";
  for (int i = 0; i < 60; ++i) s += " ALL";
  EXPECT_EQ(run_whole(s + "\r\n", lim),
            (std::vector<std::string>{"ERR [a] Too many tokens in command"}));
}

TEST(ImapParser, BareLfAndEmptyLines) {
  EXPECT_EQ(run_whole("\r\n\na NOOP\nb LOGIN {1+}\nx y\n"),
            (std::vector<std::string>{"ERR [] Empty command line", "ERR [] Empty command line", "tag=[a] NOOP",
                                      "tag=[b] LOGIN user=[x] password=[y]"}));
}

// IMAP URLs as CATENATE takes them (RFC 4469 with RFC 5092), and what is refused.
TEST(ImapUrl, Table) {
  auto u = parse_imap_url("/INBOX/;UID=20/;SECTION=1.2.MIME/;PARTIAL=5.10");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->mailbox, "INBOX");
  EXPECT_EQ(u->uid, 20u);
  EXPECT_FALSE(u->uidvalidity);
  ASSERT_TRUE(u->section);
  EXPECT_EQ(u->section->part, (std::vector<uint32_t>{1, 2}));
  EXPECT_EQ(u->section->text, Section::Text::mime);
  EXPECT_EQ(u->partial, (std::make_pair(5u, 10u)));
  u = parse_imap_url("imap://jo%40x.nhs.uk;AUTH=*@mail.example:143/Work%2FCaf%C3%A9;uidvalidity=7/;uid=3");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->user, "jo@x.nhs.uk");
  EXPECT_EQ(u->mailbox, "Work/Caf\xC3\xA9");
  EXPECT_EQ(u->uidvalidity, 7u);
  EXPECT_EQ(u->uid, 3u);
  EXPECT_FALSE(u->section);
  EXPECT_FALSE(u->partial);
  u = parse_imap_url("/a/b/;UID=1/;section=header.fields%20(subject%20from)/;partial=100000");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->mailbox, "a/b");
  EXPECT_EQ(u->section->text, Section::Text::header_fields);
  EXPECT_EQ(u->section->fields, (std::vector<std::string>{"subject", "from"}));
  EXPECT_EQ(u->partial, (std::make_pair(100000u, UINT32_MAX)));
  for (const char* bad : {"", "/", "INBOX/;UID=1", "/INBOX", "/INBOX/;UID=0", "/INBOX/;UID=x", "/;UID=1",
                          "/INBOX/;UID=4294967296", "/INBOX;UIDVALIDITY=0/;UID=1", "/INBOX/;UID=1/;SECTION=",
                          "/INBOX/;UID=1/;SECTION=BOGUS", "/INBOX/;UID=1/;PARTIAL=1.0",
                          "/INBOX/;UID=1/;URLAUTH=anonymous:internal:abc", "/INBOX/;UID=1/;EXPIRE=2030-01-01T00:00:00Z",
                          "/IN%2/;UID=1", "/IN%00X/;UID=1", "imap://host", "imap:///INBOX/;UID=1",
                          "imap://@host/INBOX/;UID=1", "/IN;BOX/;UID=1"})
    EXPECT_FALSE(parse_imap_url(bad)) << bad;
}

}  // namespace
}  // namespace caremail::imap

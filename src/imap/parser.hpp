// IMAP command parser: bytes from the client in, a typed Command (or the BAD to send) out.
//
// SECURITY: this runs before authentication on every byte a client sends. It does no I/O,
// touches no store and never trusts a length or count the client sent: a literal's size is
// checked against Limits before one octet of it is accepted, and the command text, the
// nesting depth, the sequence ranges and the tokens of one command are bounded. Peer input
// never asserts or throws out of it; it becomes a ParseError carrying the text for "BAD"
// (or "NO [TOOBIG]"), and a flag when the stream can no longer be trusted.
//
// Framing. A command is one line, or several when it holds literals: a line ending in
// "{n}" (synchronising: the client waits for "+"), "{n+}" (non-synchronising, RFC 7888
// LITERAL+ / LITERAL-) or "~{n}" / "~{n+}" (RFC 3516 literal8, may hold NUL) is followed by
// exactly n octets, then the command goes on. Lines end with CRLF; a bare LF is accepted as
// a line end too (as Dovecot does), a CR not before LF is rejected by the grammar.
//
// Grammar (RFC 9051 §9 and RFC 3501 §9, with the extensions of issue 4). Keywords are
// case-insensitive; "INBOX" in any case becomes "INBOX".
//   command   = tag SP ( "CAPABILITY" / "NOOP" / "LOGOUT" / "STARTTLS" / "CHECK" / "CLOSE"
//               / "UNSELECT" / "IDLE" / "NAMESPACE" / "EXPUNGE" ) CRLF
//   login     = "LOGIN" SP astring SP astring
//   authenticate = "AUTHENTICATE" SP atom [ SP ( base64 / "=" ) ]          ; SASL-IR
//   enable    = "ENABLE" 1*( SP atom )
//   select    = ( "SELECT" / "EXAMINE" ) SP mailbox [ SP "(" select-param *( SP select-param ) ")" ]
//   select-param = "CONDSTORE" / "QRESYNC" SP "(" nz-number SP mod-sequence-value
//                  [ SP known-uids ] [ SP "(" seq-set SP seq-set ")" ] ")"
//   create    = "CREATE" SP mailbox [ SP "(" "USE" SP "(" [ flag *( SP flag ) ] ")" ")" ]
//   delete / subscribe / unsubscribe / getquotaroot / getacl / myrights = verb SP mailbox
//   rename    = "RENAME" SP mailbox SP mailbox
//   list      = "LIST" [ SP "(" [ sel-opt *( SP sel-opt ) ] ")" ] SP mailbox
//               SP ( list-mailbox / "(" list-mailbox *( SP list-mailbox ) ")" )
//               [ SP "RETURN" SP "(" [ ret-opt *( SP ret-opt ) ] ")" ]
//   sel-opt   = "SUBSCRIBED" / "REMOTE" / "RECURSIVEMATCH" / "SPECIAL-USE"
//   ret-opt   = "SUBSCRIBED" / "CHILDREN" / "SPECIAL-USE" / "STATUS" SP "(" status-att+ ")"
//   lsub      = "LSUB" SP mailbox SP list-mailbox
//   status    = "STATUS" SP mailbox SP "(" status-att *( SP status-att ) ")"
//   status-att = "MESSAGES" / "UIDNEXT" / "UIDVALIDITY" / "UNSEEN" / "DELETED" / "SIZE"
//              / "RECENT" / "HIGHESTMODSEQ" / "APPENDLIMIT"
//   append    = "APPEND" SP mailbox 1*( [ SP flag-list ] [ SP date-time ] SP
//               ( literal / literal8 / "CATENATE" SP "(" cat-part *( SP cat-part ) ")" ) )
//               ; MULTIAPPEND (RFC 3502), CATENATE (RFC 4469)
//   cat-part  = "TEXT" SP ( literal / literal8 ) / "URL" SP astring
//   fetch     = "FETCH" SP seq-set SP ( "ALL" / "FULL" / "FAST" / fetch-att /
//               "(" fetch-att *( SP fetch-att ) ")" ) [ SP "(" "CHANGEDSINCE" SP
//               mod-sequence-value [ SP "VANISHED" ] ")" ]
//   fetch-att = "ENVELOPE" / "FLAGS" / "INTERNALDATE" / "RFC822" [ ".HEADER" / ".SIZE" /
//               ".TEXT" ] / "BODY" [ ".PEEK" ] section [ "<" number "." nz-number ">" ]
//             / "BODY" / "BODYSTRUCTURE" / "UID" / "MODSEQ" / "BINARY" [ ".PEEK" ]
//               section-binary [ partial ] / "BINARY.SIZE" section-binary
//   store     = "STORE" SP seq-set [ SP "(" "UNCHANGEDSINCE" SP mod-sequence-value ")" ]
//               SP ( "FLAGS" / "+FLAGS" / "-FLAGS" ) [ ".SILENT" ] SP
//               ( flag-list / flag *( SP flag ) )
//   copy / move = verb SP seq-set SP mailbox
//   search    = "SEARCH" [ SP "RETURN" SP "(" [ ret *( SP ret ) ] ")" ]
//               [ SP "CHARSET" SP astring ] 1*( SP search-key )
//   ret       = "MIN" / "MAX" / "ALL" / "COUNT" / "SAVE" / "UPDATE" / "CONTEXT"
//             / "PARTIAL" SP partial-range                      ; RFC 4731, 5182, 5267
//   partial-range = nz-number ":" nz-number / "-" nz-number ":-" nz-number  ; RFC 9394
//   sort      = "SORT" [ SP "RETURN" SP "(" [ ret *( SP ret ) ] ")" ]      ; ESORT RFC 5267
//               SP "(" sort-crit *( SP sort-crit ) ")" SP astring 1*( SP search-key )
//   cancelupdate = "CANCELUPDATE" 1*( SP string )                ; RFC 5267 §4.3
//   thread    = "THREAD" SP atom SP astring 1*( SP search-key )
//   uid       = "UID" SP ( copy / move / fetch / search / store / sort / thread /
//               "EXPUNGE" SP seq-set )
//   id        = "ID" SP ( "NIL" / "(" [ string SP nstring *( SP string SP nstring ) ] ")" )
//   getquota  = "GETQUOTA" SP astring;  setquota = "SETQUOTA" SP astring SP "("
//               [ atom SP number64 *( SP atom SP number64 ) ] ")"
//   setacl    = "SETACL" SP mailbox SP astring SP astring
//   deleteacl / listrights = verb SP mailbox SP astring
//   compress  = "COMPRESS" SP atom
// seq-set is RFC 9051's sequence-set (nz-number up to 4294967295, "*", ranges, ",") or "$"
// (RFC 5182 SEARCHRES). Search keys are every one of RFC 9051 §6.4.4 plus RFC 3501's
// NEW/OLD/RECENT/UNKEYWORD... and RFC 7162's MODSEQ.
//
// Thread-safety: a Parser belongs to one session (one strand); the free functions are pure.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace caremail::imap {

// Every limit bounds what one hostile command can make a session hold or look at.
struct Limits {
  // Octets of one command's text outside APPEND message literals: all its lines (with
  // their CRLFs) plus the payload of every other literal (mailbox names, search strings).
  // Real commands are far smaller; a UID FETCH of a long, fragmented UID set from a
  // syncing client is the largest we have seen (~20 KB). Past it the connection is closed:
  // we cannot tell where the overlong command ends.
  size_t max_line = 64 * 1024;
  // Octets of one APPEND message literal: the APPENDLIMIT we advertise (35 MB message limit
  // of the SMTP side plus room for the headers delivery would have added). A synchronising
  // literal past it is refused with NO [TOOBIG] before the client sends it.
  uint64_t max_literal = (35u << 20) + (64u << 10);
  // Octets of all APPEND message literals of one command together (MULTIAPPEND): one
  // command must not make us hold more than this before the session can act on it.
  uint64_t max_append_total = 2 * ((35u << 20) + (64u << 10));
  // Octets of a non-synchronising literal: unlimited with LITERAL+, 4096 with LITERAL-
  // (RFC 7888 §5). Past it the connection is closed: the octets are already on the way.
  uint64_t max_nonsync_literal = UINT64_MAX;
  // Depth of parenthesised lists and of search keys (NOT/OR nest too). Parsing is
  // recursive; this bounds our stack as well as the size of the search tree.
  size_t max_nesting = 64;
  // Ranges in one sequence set (and "1,3,5" counts three). The session iterates them for
  // every message; syncing clients send a few thousand at most.
  size_t max_sequence_ranges = 10000;
  // Tokens (atoms, numbers, strings, parentheses) of one command: bounds the work and the
  // number of small allocations one command can cause (a SEARCH of 30,000 "ALL"s).
  size_t max_tokens = 20000;
  // Octets of a mailbox name as sent (modified UTF-7 or UTF-8). Longer names cannot be ours.
  size_t max_mailbox = 1024;
  // Patterns of one LIST (RFC 5258 allows a list of them). Each is matched against every
  // name the user has, so they multiply the work; clients send one or two. Past it: BAD.
  size_t max_list_patterns = 100;
  // Verbs the session can run in its current state, one bit each (verb_bit()). A
  // synchronising literal in a command for any other verb is refused with BAD before it is
  // read, so "+" goes only to a command that can run: an APPEND before login gets no "+"
  // and the session never holds its message (issue 14 finding 2). A non-synchronising one
  // within the limits is read and then refused; past them the connection is closed.
  uint64_t allowed_verbs = ~uint64_t{0};
};

enum class Verb {
  capability, noop, logout, starttls, authenticate, login, enable, select, examine,
  create, delete_, rename, subscribe, unsubscribe, list, lsub, namespace_, status,
  append, idle, check, close, unselect, expunge, search, fetch, store, copy, move, sort,
  thread, id, getquota, getquotaroot, setquota, getacl, setacl, deleteacl, listrights,
  myrights, compress, cancelupdate,
  line,  // not a command: a raw line read after expect_line() (IDLE "DONE", SASL data)
};

// Upper-case name of the verb ("SELECT"); "" for Verb::line.
std::string_view to_string(Verb v) noexcept;

// The bit of `v` in Limits::allowed_verbs.
constexpr uint64_t verb_bit(Verb v) noexcept { return uint64_t{1} << static_cast<unsigned>(v); }
static_assert(static_cast<unsigned>(Verb::line) < 64, "Limits::allowed_verbs has one bit per verb");

// RFC 9051 sequence-set or "$". A number is 1..4294967295; kStar stands for "*".
struct SeqRange {
  static constexpr uint32_t kStar = 0;  // 0 is never a valid number, so it can mean "*"
  uint32_t first = 1;  // as written: "*:4" is {kStar, 4}; the session orders the ends
  uint32_t last = 1;   // equal to first for a single number
  bool operator==(const SeqRange&) const = default;
};
struct SequenceSet {
  bool saved = false;            // "$": the result saved by SEARCH RETURN (SAVE); ranges empty
  std::vector<SeqRange> ranges;  // in the order written, not merged
  // Set by search's resolve_sets(): no "*", each range first <= last, sorted and disjoint.
  bool resolved = false;
  bool operator==(const SequenceSet&) const = default;
};

struct Date {  // date-text "1-Feb-1994"
  uint16_t year = 0;
  uint8_t month = 0;  // 1..12
  uint8_t day = 0;    // 1..31 (not checked against the month)
  bool operator==(const Date&) const = default;
};

struct DateTime {  // APPEND date-time "17-Jul-1996 02:44:25 -0700"
  Date date;
  uint8_t hour = 0, minute = 0, second = 0;
  int16_t zone_minutes = 0;  // -0700 is -420
  bool operator==(const DateTime&) const = default;
};

// BODY[section] / BINARY[section].
struct Section {
  enum class Text { none, header, header_fields, header_fields_not, text, mime };
  std::vector<uint32_t> part;          // "1.2" is {1, 2}; empty for the whole message
  Text text = Text::none;
  std::vector<std::string> fields;     // HEADER.FIELDS[.NOT], as written (astrings)
  bool operator==(const Section&) const = default;
};

struct FetchAtt {
  enum class Kind {
    envelope, flags, internaldate, rfc822, rfc822_header, rfc822_size, rfc822_text,
    body,           // BODY without a section: the non-extensible BODYSTRUCTURE
    bodystructure, uid, modseq,
    body_section,   // BODY[...] / BODY.PEEK[...]
    binary,         // BINARY[...] / BINARY.PEEK[...]
    binary_size,    // BINARY.SIZE[...]
  };
  Kind kind = Kind::flags;
  bool peek = false;                 // BODY.PEEK / BINARY.PEEK
  Section section;                   // body_section, binary (part only), binary_size
  std::optional<std::pair<uint32_t, uint32_t>> partial;  // <offset.length>
  bool operator==(const FetchAtt&) const = default;
};

struct FetchArgs {
  std::vector<FetchAtt> atts;         // macros ALL / FAST / FULL expanded (RFC 9051 §6.4.5)
  std::optional<uint64_t> changedsince;  // CHANGEDSINCE (RFC 7162)
  bool vanished = false;                 // VANISHED (QRESYNC, UID FETCH only)
};

enum class StatusItem { messages, uidnext, uidvalidity, unseen, deleted, size, recent,
                        highestmodseq, appendlimit };

struct StoreArgs {
  enum class Mode { replace, add, remove };  // FLAGS, +FLAGS, -FLAGS
  Mode mode = Mode::replace;
  bool silent = false;
  std::optional<uint64_t> unchangedsince;
  std::vector<std::string> flags;  // as written: "\Seen", "$Junk"
};

struct SearchKey {
  enum class Kind {
    all, answered, bcc, before, body, cc, deleted, draft, flagged, from, header, keyword,
    larger, new_, not_, old, on, or_, recent, seen, sentbefore, senton, sentsince, since,
    smaller, subject, text, to, uid, unanswered, undeleted, undraft, unflagged, unkeyword,
    unseen, seqset, and_, modseq, older, younger, saved_date_before, saved_date_on,
    saved_date_since, saved_date_supported,
  };
  Kind kind = Kind::all;
  std::string str;                 // BCC..TO, BODY, TEXT: the string; HEADER: field name;
                                   // KEYWORD/UNKEYWORD: the flag; MODSEQ: entry name or ""
  std::string str2;                // HEADER: the value; MODSEQ: "priv"/"shared"/"all" or ""
  uint64_t number = 0;             // LARGER, SMALLER, MODSEQ, OLDER, YOUNGER (seconds)
  Date date;                       // BEFORE..SINCE, SENT*, SAVEDDATE*
  SequenceSet set;                 // seqset, uid
  std::vector<SearchKey> children; // not_: 1, or_: 2, and_: "(" keys ")" or the top level
};

struct SearchArgs {
  bool esearch = false;  // RETURN given (RFC 4731): reply with ESEARCH
  bool ret_min = false, ret_max = false, ret_all = false, ret_count = false,
       ret_save = false;  // RETURN options; "RETURN ()" means ALL (esearch, none set)
  bool ret_update = false;   // UPDATE (RFC 5267 CONTEXT=SEARCH/SORT): keep the result current
  bool ret_context = false;  // CONTEXT: a hint that UPDATE or PARTIAL may follow
  // PARTIAL first:last (RFC 5267, RFC 9394): 1-based positions in the result, both > 0,
  // or both < 0 counting from the end (-1 is the last). Stored as written, not ordered.
  std::optional<std::pair<int64_t, int64_t>> ret_partial;
  std::vector<std::string> cancel_tags;  // CANCELUPDATE: the tags of the searches
  std::string charset;    // CHARSET as written, "" when absent (then US-ASCII / UTF-8)
  SearchKey key;          // kind and_ with the keys of the command as children
  // SORT
  struct SortCriterion {
    enum class Key { arrival, cc, date, from, size, subject, to, displayfrom, displayto };
    Key key = Key::arrival;
    bool reverse = false;
    bool operator==(const SortCriterion&) const = default;
  };
  std::vector<SortCriterion> sort;
  std::string thread_algorithm;  // THREAD: upper-cased ("REFERENCES", "ORDEREDSUBJECT")
};

// SELECT/EXAMINE (QRESYNC (uidvalidity modseq [known-uids] [(seqs uids)])) (RFC 7162)
struct QresyncParams {
  uint32_t uidvalidity = 0;
  uint64_t modseq = 0;
  std::optional<SequenceSet> known_uids;
  std::optional<std::pair<SequenceSet, SequenceSet>> seq_match;  // (seqs uids)
};

struct SelectArgs {
  bool condstore = false;
  std::optional<QresyncParams> qresync;
};

struct ListArgs {
  bool extended = false;  // selection or return options, or several patterns (RFC 5258)
  bool sel_subscribed = false, sel_remote = false, sel_recursivematch = false,
       sel_special_use = false;
  bool ret_subscribed = false, ret_children = false, ret_special_use = false;
  std::optional<std::vector<StatusItem>> ret_status;  // RFC 5819 LIST-STATUS
  std::string reference;                 // raw bytes, may be ""
  std::vector<std::string> patterns;     // raw bytes, with % and *
};

// One part of a CATENATE (RFC 4469): TEXT octets, or an IMAP URL naming a message or part.
struct CatPart {
  bool url = false;
  std::string value;  // TEXT: the octets (literal or literal8); URL: the URL as sent
};

struct AppendMessage {
  std::vector<std::string> flags;
  std::optional<DateTime> date;
  bool binary = false;   // sent as literal8 (~{n}): may hold NUL
  std::string data;      // the message octets (empty with catenate)
  bool catenate = false; // CATENATE: the message is `parts` joined
  std::vector<CatPart> parts;
};

// An IMAP URL as CATENATE takes it (RFC 4469 §5 with RFC 5092): one message, or a section
// or a partial range of it, in a mailbox of the session's own user:
//   [ "imap://" [ user [ ";AUTH=" ... ] "@" ] host [ ":" port ] ] "/" enc-mailbox
//   [ ";UIDVALIDITY=" nz-number ] "/;UID=" nz-number [ "/;SECTION=" enc-section ]
//   [ "/;PARTIAL=" number [ "." nz-number ] ]
// Keywords are case-insensitive; %XX escapes are decoded (the mailbox is UTF-8, RFC 5092
// §3.1). A URL with URLAUTH or EXPIRE, a relative path without the leading "/", or
// anything else is refused (nullopt): we do not support URLAUTH (see ARCHITECTURE).
struct ImapUrl {
  std::string user;                        // from the authority ("" when absent), decoded
  std::string mailbox;                     // decoded, UTF-8
  std::optional<uint32_t> uidvalidity;
  uint32_t uid = 0;
  std::optional<Section> section;          // none: the whole message
  std::optional<std::pair<uint32_t, uint32_t>> partial;  // (offset, length); no length: UINT32_MAX
};
std::optional<ImapUrl> parse_imap_url(std::string_view url);

// A parsed command. Only the members named for its verb are meaningful; others stay default.
struct Command {
  std::string tag;
  Verb verb = Verb::noop;
  bool uid = false;                  // UID FETCH/STORE/COPY/MOVE/SEARCH/SORT/THREAD/EXPUNGE
  std::string mailbox;               // SELECT..STATUS, APPEND, COPY/MOVE target, RENAME from,
                                     // GETQUOTAROOT, ACL commands. Raw bytes (mUTF-7 or UTF-8)
  std::string new_mailbox;           // RENAME to
  std::string user, password;        // LOGIN (astring values)
  std::string mechanism;             // AUTHENTICATE, COMPRESS: upper-cased
  std::optional<std::string> initial_response;  // AUTHENTICATE (SASL-IR): base64 or "="
  std::vector<std::string> capabilities;        // ENABLE: upper-cased
  std::vector<std::string> use;      // CREATE ... (USE (\Drafts)) (RFC 6154)
  SelectArgs select;                 // SELECT, EXAMINE
  ListArgs list;                     // LIST, LSUB
  std::vector<StatusItem> status_items;  // STATUS
  std::vector<AppendMessage> messages;   // APPEND (several with MULTIAPPEND)
  SequenceSet set;                   // FETCH, STORE, COPY, MOVE, UID EXPUNGE
  FetchArgs fetch;                   // FETCH
  StoreArgs store;                   // STORE
  SearchArgs search;                 // SEARCH, SORT, THREAD
  bool id_nil = false;               // ID NIL
  std::vector<std::pair<std::string, std::optional<std::string>>> id_params;  // ID
  std::string quota_root;            // GETQUOTA, SETQUOTA
  std::vector<std::pair<std::string, uint64_t>> quota_limits;  // SETQUOTA: upper-cased names
  std::string identifier, rights;    // SETACL, DELETEACL, LISTRIGHTS
  std::string line;                  // Verb::line: the line without its line end
};

// Why a command was rejected. The reply is "<tag> BAD <text>", or "<tag> NO [TOOBIG] <text>"
// when too_big; "*" instead of the tag when tag is empty (it could not be read).
struct ParseError {
  std::string tag;
  std::string text;
  bool too_big = false;
  // The stream can no longer be trusted (the session sends "* BYE <text>" and closes): a
  // command longer than max_line, a non-synchronising literal over its limit (its octets
  // are already coming), or a literal size we cannot even read.
  bool close_connection = false;
  // A literal refused before it was read (over a limit, or in a command that cannot run
  // now). Before login the session closes the connection after a few of these.
  bool refused_literal = false;
};

// A literal announced by the client and accepted by the limits.
struct LiteralInfo {
  uint64_t size = 0;
  bool synchronizing = true;  // "{n}": the client waits for "+" before sending it
  bool binary = false;        // "~{n}"
  bool message = false;       // an APPEND command: counted against max_literal, not max_line
};

enum class ParseStatus {
  need_more,          // feed more octets
  need_continuation,  // a synchronising literal was accepted (literal()): send "+ Ready"
                      // then feed more
  done,               // command() is ready
  error,              // error() is ready
};

// Incremental command parser. Usage:
//   size_t n = parser.feed(bytes);   // consumes a prefix of bytes
//   switch (parser.status()) { ... }  // after done/error (unless close), call next()
// feed() never consumes more than it is given, and any split of the same stream gives the
// same sequence of statuses, commands and errors. It stops consuming at the end of a
// command, at an error, and after the line announcing a synchronising literal, so bytes
// after those stay with the caller (pipelined commands).
// Memory: at most max_line octets of command text plus max_append_total of messages; a
// literal grows only as its octets arrive, never by the announced size.
class Parser {
 public:
  explicit Parser(const Limits& limits = {});

  // Consumes a prefix of `chunk` and returns its length. Returns 0 when status() is done or
  // error: call next() first.
  size_t feed(std::string_view chunk);

  ParseStatus status() const noexcept { return status_; }
  // REQUIRES: status() == done.
  const Command& command() const noexcept { return command_; }
  Command take_command() { return std::move(command_); }
  // REQUIRES: status() == error.
  const ParseError& error() const noexcept { return error_; }
  // The literal last announced (meaningful in need_continuation, and while reading it).
  const LiteralInfo& literal() const noexcept { return literal_; }

  // Ready for the next command; limits kept. REQUIRES: not error().close_connection.
  void next();
  // The next unit is one raw line, returned as Verb::line (IDLE's "DONE", AUTHENTICATE
  // responses): call after next(), before feeding it.
  void expect_line() { raw_line_ = true; }
  // Replaces the limits for the following commands (after login, after SELECT...). Takes
  // effect at once when no octet of a command has been fed since next() (the session calls
  // it between commands), else at next().
  void set_limits(const Limits& limits) {
    pending_limits_ = limits;
    if (!mid_command() && status_ == ParseStatus::need_more) limits_ = limits;
  }
  const Limits& limits() const noexcept { return limits_; }
  // Some octets of the next command (or raw line) have been consumed and it is not complete.
  bool mid_command() const noexcept { return !text_.empty() || in_literal_; }
  // Octets of the current command announced so far: its text and the sizes of the
  // literals accepted (the session allows time for them to arrive).
  uint64_t octets_announced() const noexcept { return budget_used_ + append_used_; }

 private:
  size_t feed_text(std::string_view chunk);
  size_t feed_literal(std::string_view chunk);
  void end_of_line();
  void fail(std::string text, bool close, bool too_big = false);

  Limits limits_;
  Limits pending_limits_;

  ParseStatus status_ = ParseStatus::need_more;
  Command command_;
  ParseError error_;
  LiteralInfo literal_;

  std::string text_;                  // the command text; literal payloads excluded
  size_t line_start_ = 0;             // where the current line starts in text_
  std::vector<std::string> literals_; // payloads, in order
  uint64_t literal_left_ = 0;         // octets of the current literal still to read
  bool in_literal_ = false;
  size_t budget_used_ = 0;            // text_ plus non-message literals, against max_line
  uint64_t append_used_ = 0;          // message literals, against max_append_total
  bool raw_line_ = false;
  int is_append_ = -1;                // -1 unknown yet, else whether this is APPEND
};

// Parses one complete command held in `text` with `literals` the payloads of its literals
// in order (text keeps each "{n}" marker followed by its CRLF). Parser uses it; exposed for
// tests. The error has close_connection false.
std::optional<Command> parse_command(std::string_view text, std::vector<std::string>& literals,
                                     const Limits& limits, ParseError& error);

// A one-line rendering of every meaningful field, for tests, fuzzing and debug logs
// (literal payloads shown by size only, so it never holds a message).
// `with_secrets`: include the LOGIN password and the AUTHENTICATE initial response (tests
// only). Without it they appear as "<redacted>", so the result may be logged.
std::string debug_string(const Command& c, bool with_secrets = false);

// "DONE" ends IDLE (RFC 2177: case-insensitive).
bool is_idle_done(std::string_view line) noexcept;

}  // namespace caremail::imap

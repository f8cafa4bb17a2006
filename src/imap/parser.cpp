// IMAP command parser. The grammar and the framing rules are in parser.hpp; every BAD text
// is in parser_test.cpp's tables.
//
// Two stages: Parser frames a command (lines and literals, applying the size limits before
// accepting an octet), then parse_command walks the complete text with a recursive-descent
// reader whose depth is bounded by Limits::max_nesting. Framing first keeps the grammar
// code free of "need more" states, and makes any split of the input give the same result.
#include "imap/parser.hpp"
#include "common/hex.hpp"

#include <array>
#include <cstring>

namespace caremail::imap {

namespace {

constexpr bool is_digit(int c) { return c >= '0' && c <= '9'; }
constexpr bool is_alpha(int c) { return (c | 0x20) >= 'a' && (c | 0x20) <= 'z'; }
constexpr char upper(char c) { return c >= 'a' && c <= 'z' ? static_cast<char>(c - 32) : c; }

// RFC 9051 ATOM-CHAR: CHAR except atom-specials.
constexpr bool is_atom_char(int c) {
  if (c <= 0x1F || c >= 0x7F) return false;
  switch (c) {
    case '(': case ')': case '{': case ' ': case '%': case '*': case '"': case '\\': case ']':
      return false;
    default:
      return true;
  }
}
constexpr bool is_astring_char(int c) { return is_atom_char(c) || c == ']'; }
constexpr bool is_list_char(int c) { return is_astring_char(c) || c == '%' || c == '*'; }
constexpr bool is_tag_char(int c) { return is_astring_char(c) && c != '+'; }

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (upper(a[i]) != upper(b[i])) return false;
  return true;
}

std::string to_upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = upper(c);
  return out;
}

struct VerbName {
  std::string_view name;
  Verb verb;
};
constexpr std::array<VerbName, 42> kVerbs{{
    {"CAPABILITY", Verb::capability}, {"NOOP", Verb::noop}, {"LOGOUT", Verb::logout},
    {"STARTTLS", Verb::starttls}, {"AUTHENTICATE", Verb::authenticate},
    {"LOGIN", Verb::login}, {"ENABLE", Verb::enable}, {"SELECT", Verb::select},
    {"EXAMINE", Verb::examine}, {"CREATE", Verb::create}, {"DELETE", Verb::delete_},
    {"RENAME", Verb::rename}, {"SUBSCRIBE", Verb::subscribe},
    {"UNSUBSCRIBE", Verb::unsubscribe}, {"LIST", Verb::list}, {"LSUB", Verb::lsub},
    {"NAMESPACE", Verb::namespace_}, {"STATUS", Verb::status}, {"APPEND", Verb::append},
    {"IDLE", Verb::idle}, {"CHECK", Verb::check}, {"CLOSE", Verb::close},
    {"UNSELECT", Verb::unselect}, {"EXPUNGE", Verb::expunge}, {"SEARCH", Verb::search},
    {"FETCH", Verb::fetch}, {"STORE", Verb::store}, {"COPY", Verb::copy},
    {"MOVE", Verb::move}, {"SORT", Verb::sort}, {"THREAD", Verb::thread}, {"ID", Verb::id},
    {"GETQUOTA", Verb::getquota}, {"GETQUOTAROOT", Verb::getquotaroot},
    {"SETQUOTA", Verb::setquota}, {"GETACL", Verb::getacl}, {"SETACL", Verb::setacl},
    {"DELETEACL", Verb::deleteacl}, {"LISTRIGHTS", Verb::listrights},
    {"MYRIGHTS", Verb::myrights}, {"COMPRESS", Verb::compress},
    {"CANCELUPDATE", Verb::cancelupdate},
}};

std::optional<Verb> find_verb(std::string_view name) {
  for (const VerbName& v : kVerbs)
    if (iequals(v.name, name)) return v.verb;
  return std::nullopt;
}

constexpr std::array<std::string_view, 12> kMonths{
    {"JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"}};

// ---- the reader over one complete command ----------------------------------------------

class Reader {
 public:
  Reader(std::string_view s, std::vector<std::string>& lits, const Limits& lim)
      : s_(s), lits_(lits), lim_(lim) {}

  const std::string& err() const { return err_; }
  bool failed() const { return !err_.empty(); }

  bool fail(std::string_view text) {
    if (err_.empty()) err_ = text;
    return false;
  }
  bool eol() const { return pos_ == s_.size(); }
  int peek() const { return eol() ? -1 : static_cast<unsigned char>(s_[pos_]); }
  bool sp() {
    if (peek() == ' ') {
      ++pos_;
      return true;
    }
    return fail(eol() ? "Missing argument" : "Expected a space");
  }
  bool end() { return eol() || fail("Unexpected characters at end of command"); }
  bool token() { return ++tokens_ <= lim_.max_tokens || fail("Too many tokens in command"); }
  bool enter() { return ++depth_ <= lim_.max_nesting || fail("Nesting too deep"); }
  void leave() { --depth_; }
  bool open() {
    if (peek() != '(') return fail("Expected '('");
    ++pos_;
    return token() && enter();
  }
  bool close() {
    if (peek() != ')') return fail("Expected ')'");
    ++pos_;
    leave();
    return true;
  }
  bool accept(char c) {
    if (peek() != c) return false;
    ++pos_;
    return true;
  }
  size_t pos() const { return pos_; }
  std::string_view slice(size_t from) const { return s_.substr(from, pos_ - from); }
  // tag = 1*<any ASTRING-CHAR except "+">
  bool tag(std::string_view& out) {
    size_t b = pos_;
    while (is_tag_char(peek())) ++pos_;
    out = s_.substr(b, pos_ - b);
    if (peek() == ' ' && pos_ > b) return token();
    if (eol() && pos_ > b) return fail("Missing command");
    return fail(pos_ == b && (eol() || peek() == ' ') ? "Missing tag" : "Invalid tag");
  }
  void rewind(size_t p) { pos_ = p; }

  // 1*ATOM-CHAR
  bool atom(std::string_view& out, std::string_view what = "Expected an atom") {
    size_t b = pos_;
    while (is_atom_char(peek())) ++pos_;
    if (pos_ == b) return fail(what);
    out = s_.substr(b, pos_ - b);
    return token();
  }
  // An upper-cased atom for keywords; "" at a non-atom character (no failure).
  std::string keyword() {
    size_t b = pos_;
    while (is_atom_char(peek())) ++pos_;
    return to_upper(s_.substr(b, pos_ - b));
  }

  bool number64(uint64_t& out, uint64_t max, std::string_view what) {
    size_t b = pos_;
    uint64_t v = 0;
    while (is_digit(peek())) {
      unsigned d = static_cast<unsigned>(peek() - '0');
      if (v > (max - d) / 10) return fail(what);
      v = v * 10 + d;
      ++pos_;
    }
    if (pos_ == b) return fail(what);
    out = v;
    return token();
  }
  bool number(uint32_t& out, std::string_view what = "Invalid number") {
    uint64_t v;
    if (!number64(v, UINT32_MAX, what)) return false;
    out = static_cast<uint32_t>(v);
    return true;
  }
  bool nz_number(uint32_t& out, std::string_view what = "Invalid number") {
    return number(out, what) && (out != 0 || fail(what));
  }
  // RFC 9051 number64 / RFC 7162 mod-sequence-value: up to 2^63-1.
  bool modseq(uint64_t& out) {
    return number64(out, INT64_MAX, "Invalid mod-sequence value");
  }

  // quoted / literal (literal8 only when allow_binary); `binary` tells which was read.
  bool string(std::string& out, bool allow_binary = false, bool* binary = nullptr) {
    if (!token()) return false;
    if (peek() == '"') {
      ++pos_;
      out.clear();
      for (;;) {
        int c = peek();
        if (c < 0 || c == '\r' || c == '\n' || c == 0) return fail("Unterminated quoted string");
        ++pos_;
        if (c == '"') return true;
        if (c == '\\') {
          c = peek();
          if (c != '"' && c != '\\') return fail("Invalid escape in quoted string");
          ++pos_;
        }
        out += static_cast<char>(c);
      }
    }
    bool bin = false;
    if (peek() == '~') {
      if (!allow_binary) return fail("Binary literal not allowed here");
      bin = true;
      ++pos_;
    }
    if (peek() != '{') return fail("Expected a string");
    ++pos_;
    while (is_digit(peek())) ++pos_;
    accept('+');
    if (!accept('}')) return fail("Invalid literal");
    accept('\r');
    if (!accept('\n')) return fail("Literal must end the line");
    if (lit_ >= lits_.size()) return fail("Invalid literal");  // framing saw no literal here
    out = std::move(lits_[lit_++]);
    if (!bin && std::memchr(out.data(), 0, out.size()) != nullptr)
      return fail("NUL in literal (use a binary literal)");
    if (binary != nullptr) *binary = bin;
    return true;
  }
  bool astring(std::string& out) {
    int c = peek();
    if (c == '"' || c == '{') return string(out);
    size_t b = pos_;
    while (is_astring_char(peek())) ++pos_;
    if (pos_ == b) return fail(eol() ? "Missing argument" : "Expected a string");
    out.assign(s_.substr(b, pos_ - b));
    return token();
  }
  bool nstring(std::optional<std::string>& out) {
    size_t b = pos_;
    if (iequals(keyword(), "NIL")) {
      out.reset();
      return token();
    }
    pos_ = b;
    out.emplace();
    return string(*out);
  }
  bool mailbox(std::string& out) {
    if (!astring(out)) return false;
    if (out.size() > lim_.max_mailbox) return fail("Mailbox name too long");
    if (out.empty()) return fail("Empty mailbox name");
    for (char c : out)
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F)
        return fail("Control character in mailbox name");
    if (iequals(out, "INBOX")) out = "INBOX";
    return true;
  }
  bool list_mailbox(std::string& out) {
    int c = peek();
    if (c == '"' || c == '{') return string(out);
    size_t b = pos_;
    while (is_list_char(peek())) ++pos_;
    if (pos_ == b) return fail("Expected a mailbox pattern");
    out.assign(s_.substr(b, pos_ - b));
    return token();
  }
  bool flag(std::string& out) {
    size_t b = pos_;
    accept('\\');
    std::string_view a;
    if (!atom(a, "Invalid flag")) return false;
    out.assign(s_.substr(b, pos_ - b));
    return true;
  }
  bool flag_list(std::vector<std::string>& out) {
    if (!open()) return false;
    if (peek() != ')') {
      do {
        if (!flag(out.emplace_back())) return false;
      } while (accept(' '));
    }
    return close();
  }

  bool seq_number(uint32_t& out) {
    if (accept('*')) {
      out = SeqRange::kStar;
      return true;
    }
    if (!is_digit(peek())) return fail("Invalid sequence set");
    if (!number(out, "Sequence number out of range")) return false;
    return out != 0 || fail("Sequence number 0 is invalid");
  }
  bool seq_set(SequenceSet& out) {
    if (accept('$')) {
      out.saved = true;
      return token();
    }
    do {
      SeqRange r;
      if (!seq_number(r.first)) return false;
      r.last = r.first;
      if (accept(':') && !seq_number(r.last)) return false;
      if (out.ranges.size() >= lim_.max_sequence_ranges)
        return fail("Too many ranges in sequence set");
      out.ranges.push_back(r);
    } while (accept(','));
    return true;
  }

  // date-text or DQUOTE date-text DQUOTE; date-day is 1 or 2 digits.
  bool date(Date& out) {
    bool quoted = accept('"');
    uint32_t day = 0;
    size_t b = pos_;
    while (is_digit(peek()) && pos_ - b < 2) day = day * 10 + static_cast<uint32_t>(s_[pos_++] - '0');
    if (pos_ == b || day < 1 || day > 31 || !accept('-')) return fail("Invalid date");
    if (!month(out.month) || !accept('-')) return fail("Invalid date");
    uint32_t year = 0;
    for (int i = 0; i < 4; ++i) {
      if (!is_digit(peek())) return fail("Invalid date");
      year = year * 10 + static_cast<uint32_t>(s_[pos_++] - '0');
    }
    if (quoted && !accept('"')) return fail("Invalid date");
    out.day = static_cast<uint8_t>(day);
    out.year = static_cast<uint16_t>(year);
    return token();
  }
  bool month(uint8_t& out) {
    if (s_.size() - pos_ < 3) return false;
    std::string_view m = s_.substr(pos_, 3);
    for (size_t i = 0; i < kMonths.size(); ++i)
      if (iequals(m, kMonths[i])) {
        out = static_cast<uint8_t>(i + 1);
        pos_ += 3;
        return true;
      }
    return false;
  }
  bool digits(int n, uint32_t& out) {
    out = 0;
    for (int i = 0; i < n; ++i) {
      if (!is_digit(peek())) return false;
      out = out * 10 + static_cast<uint32_t>(s_[pos_++] - '0');
    }
    return true;
  }
  // DQUOTE date-day-fixed "-" date-month "-" date-year SP time SP zone DQUOTE
  bool date_time(DateTime& out) {
    const std::string_view bad = "Invalid date-time";
    if (!accept('"')) return fail(bad);
    uint32_t day, year, h, m, sec, zone;
    if (accept(' ')) {
      if (!digits(1, day)) return fail(bad);
    } else if (!digits(2, day)) {
      return fail(bad);
    }
    if (day < 1 || day > 31 || !accept('-') || !month(out.date.month) || !accept('-') ||
        !digits(4, year) || !accept(' ') || !digits(2, h) || !accept(':') || !digits(2, m) ||
        !accept(':') || !digits(2, sec) || !accept(' '))
      return fail(bad);
    int sign = accept('+') ? 1 : accept('-') ? -1 : 0;
    if (sign == 0 || !digits(4, zone) || !accept('"')) return fail(bad);
    if (h > 23 || m > 59 || sec > 60 || zone % 100 > 59 || zone / 100 > 23) return fail(bad);
    out.date.day = static_cast<uint8_t>(day);
    out.date.year = static_cast<uint16_t>(year);
    out.hour = static_cast<uint8_t>(h);
    out.minute = static_cast<uint8_t>(m);
    out.second = static_cast<uint8_t>(sec);
    out.zone_minutes = static_cast<int16_t>(sign * static_cast<int>(zone / 100 * 60 + zone % 100));
    return token();
  }

  bool status_att(StatusItem& out) {
    std::string k = keyword();
    static constexpr std::pair<std::string_view, StatusItem> kItems[] = {
        {"MESSAGES", StatusItem::messages}, {"UIDNEXT", StatusItem::uidnext},
        {"UIDVALIDITY", StatusItem::uidvalidity}, {"UNSEEN", StatusItem::unseen},
        {"DELETED", StatusItem::deleted}, {"SIZE", StatusItem::size},
        {"RECENT", StatusItem::recent}, {"HIGHESTMODSEQ", StatusItem::highestmodseq},
        {"APPENDLIMIT", StatusItem::appendlimit}};
    for (const auto& [name, item] : kItems)
      if (k == name) {
        out = item;
        return token();
      }
    return fail("Unknown STATUS item");
  }
  bool status_list(std::vector<StatusItem>& out) {
    if (!open()) return false;
    do {
      if (!status_att(out.emplace_back())) return false;
    } while (accept(' '));
    return close();
  }

  bool search_key(SearchKey& k);
  bool search_keys(SearchArgs& a);  // 1*(SP search-key) into a.key
  bool fetch_att(std::vector<FetchAtt>& out);
  bool section(Section& out, bool binary);
  bool partial(std::optional<std::pair<uint32_t, uint32_t>>& out);

 private:
  bool search_key_inner(SearchKey& k);

  std::string_view s_;
  std::vector<std::string>& lits_;
  const Limits& lim_;
  size_t pos_ = 0;
  size_t lit_ = 0;
  size_t tokens_ = 0;
  size_t depth_ = 0;
  std::string err_;
};

bool Reader::search_keys(SearchArgs& a) {
  a.key.kind = SearchKey::Kind::and_;
  do {
    if (!sp() || !search_key(a.key.children.emplace_back())) return false;
  } while (!eol());
  return true;
}

bool Reader::search_key(SearchKey& k) {
  if (!enter()) return false;
  bool ok = search_key_inner(k);
  if (ok) leave();
  return ok;
}

bool Reader::search_key_inner(SearchKey& k) {
  using K = SearchKey::Kind;
  if (!token()) return false;
  int c = peek();
  if (c == '(') {
    k.kind = K::and_;
    if (!open()) return false;
    do {
      if (!search_key(k.children.emplace_back())) return false;
    } while (accept(' '));
    return close();
  }
  if (is_digit(c) || c == '*' || c == '$') {
    k.kind = K::seqset;
    return seq_set(k.set);
  }
  std::string name = keyword();
  struct Simple {
    std::string_view name;
    K kind;
    char arg;  // 0 none, 's' astring, 'd' date, 'n' number64, 'k' keyword, 'z' nz-number
  };
  static constexpr Simple kKeys[] = {
      {"ALL", K::all, 0}, {"ANSWERED", K::answered, 0}, {"BCC", K::bcc, 's'},
      {"BEFORE", K::before, 'd'}, {"BODY", K::body, 's'}, {"CC", K::cc, 's'},
      {"DELETED", K::deleted, 0}, {"DRAFT", K::draft, 0}, {"FLAGGED", K::flagged, 0},
      {"FROM", K::from, 's'}, {"KEYWORD", K::keyword, 'k'}, {"LARGER", K::larger, 'n'},
      {"NEW", K::new_, 0}, {"OLD", K::old, 0}, {"ON", K::on, 'd'}, {"RECENT", K::recent, 0},
      {"SEEN", K::seen, 0}, {"SENTBEFORE", K::sentbefore, 'd'}, {"SENTON", K::senton, 'd'},
      {"SENTSINCE", K::sentsince, 'd'}, {"SINCE", K::since, 'd'},
      {"SMALLER", K::smaller, 'n'}, {"SUBJECT", K::subject, 's'}, {"TEXT", K::text, 's'},
      {"TO", K::to, 's'}, {"UNANSWERED", K::unanswered, 0}, {"UNDELETED", K::undeleted, 0},
      {"UNDRAFT", K::undraft, 0}, {"UNFLAGGED", K::unflagged, 0},
      {"UNKEYWORD", K::unkeyword, 'k'}, {"UNSEEN", K::unseen, 0},
      {"OLDER", K::older, 'z'}, {"YOUNGER", K::younger, 'z'},
      {"SAVEDBEFORE", K::saved_date_before, 'd'}, {"SAVEDON", K::saved_date_on, 'd'},
      {"SAVEDSINCE", K::saved_date_since, 'd'},
      {"SAVEDATESUPPORTED", K::saved_date_supported, 0},
  };
  for (const Simple& s : kKeys) {
    if (name != s.name) continue;
    k.kind = s.kind;
    switch (s.arg) {
      case 's': return sp() && astring(k.str);
      case 'd': return sp() && date(k.date);
      case 'n': return sp() && number64(k.number, INT64_MAX, "Invalid number");
      case 'k': return sp() && flag(k.str);
      case 'z': {
        uint32_t v;
        if (!sp() || !nz_number(v)) return false;
        k.number = v;
        return true;
      }
      default: return true;
    }
  }
  if (name == "HEADER") {
    k.kind = K::header;
    return sp() && astring(k.str) && sp() && astring(k.str2);
  }
  if (name == "NOT") {
    k.kind = K::not_;
    return sp() && search_key(k.children.emplace_back());
  }
  if (name == "OR") {
    k.kind = K::or_;
    k.children.reserve(2);
    return sp() && search_key(k.children.emplace_back()) && sp() &&
           search_key(k.children.emplace_back());
  }
  if (name == "UID") {
    k.kind = K::uid;
    return sp() && seq_set(k.set);
  }
  if (name == "MODSEQ") {
    // MODSEQ [SP entry-name SP entry-type-req] SP mod-sequence-valzer (RFC 7162)
    k.kind = K::modseq;
    if (!sp()) return false;
    if (peek() == '"') {
      if (!string(k.str) || !sp()) return false;
      std::string type = keyword();
      if (type != "PRIV" && type != "SHARED" && type != "ALL")
        return fail("Invalid MODSEQ entry type");
      k.str2 = type == "PRIV" ? "priv" : type == "SHARED" ? "shared" : "all";
      if (!sp()) return false;
    }
    return number64(k.number, INT64_MAX, "Invalid mod-sequence value");
  }
  return fail(name.empty() ? "Expected a search key" : "Unknown search key");
}

bool Reader::partial(std::optional<std::pair<uint32_t, uint32_t>>& out) {
  if (!accept('<')) return true;
  uint32_t off, len;
  if (!number(off, "Invalid partial") || !accept('.') || !nz_number(len, "Invalid partial") ||
      !accept('>'))
    return fail("Invalid partial");
  out.emplace(off, len);
  return true;
}

bool Reader::section(Section& out, bool binary) {
  if (!accept('[')) return fail("Expected '['");
  if (!token() || !enter()) return false;
  if (is_digit(peek())) {
    do {
      uint32_t p;
      if (!nz_number(p, "Invalid section part")) return false;
      out.part.push_back(p);
    } while (peek() == '.' && pos_ + 1 < s_.size() && is_digit(s_[pos_ + 1]) && accept('.'));
    if (!binary && accept('.')) {
      if (peek() == ']') return fail("Invalid section");
    } else if (accept(']')) {
      leave();
      return true;
    }
  } else if (binary || accept(']')) {
    if (binary && !accept(']')) return fail("Invalid section");
    leave();
    return true;
  }
  size_t b = pos_;
  while (is_alpha(peek()) || peek() == '.') ++pos_;
  std::string t = to_upper(s_.substr(b, pos_ - b));
  using T = Section::Text;
  if (t == "HEADER") out.text = T::header;
  else if (t == "TEXT") out.text = T::text;
  else if (t == "MIME" && !out.part.empty()) out.text = T::mime;
  else if (t == "HEADER.FIELDS") out.text = T::header_fields;
  else if (t == "HEADER.FIELDS.NOT") out.text = T::header_fields_not;
  else return fail("Invalid section");
  if (out.text == T::header_fields || out.text == T::header_fields_not) {
    if (!sp() || !open()) return false;
    do {
      if (!astring(out.fields.emplace_back())) return false;
    } while (accept(' '));
    if (!close()) return false;
  }
  if (!accept(']')) return fail("Invalid section");
  leave();
  return true;
}

bool Reader::fetch_att(std::vector<FetchAtt>& out) {
  using K = FetchAtt::Kind;
  size_t b = pos_;
  while (is_alpha(peek()) || is_digit(peek()) || peek() == '.') ++pos_;
  std::string name = to_upper(s_.substr(b, pos_ - b));
  if (!token()) return false;
  auto add = [&](K k) { out.push_back(FetchAtt{k, false, {}, {}}); };
  if (name == "ALL" || name == "FAST" || name == "FULL") {
    add(K::flags);
    add(K::internaldate);
    add(K::rfc822_size);
    if (name != "FAST") add(K::envelope);
    if (name == "FULL") add(K::body);
    return true;
  }
  static constexpr std::pair<std::string_view, K> kPlain[] = {
      {"ENVELOPE", K::envelope}, {"FLAGS", K::flags}, {"INTERNALDATE", K::internaldate},
      {"RFC822", K::rfc822}, {"RFC822.HEADER", K::rfc822_header},
      {"RFC822.SIZE", K::rfc822_size}, {"RFC822.TEXT", K::rfc822_text},
      {"BODYSTRUCTURE", K::bodystructure}, {"UID", K::uid}, {"MODSEQ", K::modseq}};
  for (const auto& [n, k] : kPlain)
    if (name == n) {
      add(k);
      return true;
    }
  FetchAtt a;
  if (name == "BODY" || name == "BODY.PEEK") {
    a.peek = name == "BODY.PEEK";
    if (peek() != '[') {
      if (a.peek) return fail("Expected '['");
      add(K::body);
      return true;
    }
    a.kind = K::body_section;
    if (!section(a.section, false) || !partial(a.partial)) return false;
  } else if (name == "BINARY" || name == "BINARY.PEEK") {
    a.kind = K::binary;
    a.peek = name == "BINARY.PEEK";
    if (!section(a.section, true) || !partial(a.partial)) return false;
  } else if (name == "BINARY.SIZE") {
    a.kind = K::binary_size;
    if (!section(a.section, true)) return false;
  } else {
    return fail(name.empty() ? "Expected a fetch item" : "Unknown fetch item");
  }
  out.push_back(std::move(a));
  return true;
}

// ---- per-command grammar -----------------------------------------------------------------

bool parse_select(Reader& r, Command& c) {
  if (!r.mailbox(c.mailbox)) return false;
  if (r.eol()) return true;
  if (!r.sp() || !r.open()) return false;
  do {
    std::string p = r.keyword();
    if (p == "CONDSTORE") {
      c.select.condstore = true;
    } else if (p == "QRESYNC") {
      auto& q = c.select.qresync.emplace();
      if (!r.sp() || !r.open() || !r.nz_number(q.uidvalidity, "Invalid UIDVALIDITY") ||
          !r.sp() || !r.modseq(q.modseq))
        return false;
      if (r.accept(' ')) {
        if (r.peek() != '(') {
          if (!r.seq_set(q.known_uids.emplace())) return false;
        }
        if (r.peek() == '(' || (q.known_uids && r.accept(' '))) {
          auto& m = q.seq_match.emplace();
          if (!r.open() || !r.seq_set(m.first) || !r.sp() || !r.seq_set(m.second) ||
              !r.close())
            return false;
        }
      }
      if (!r.close()) return false;
    } else {
      return r.fail("Unknown SELECT parameter");
    }
  } while (r.accept(' '));
  return r.close();
}

bool parse_list(Reader& r, Command& c, const Limits& lim) {
  ListArgs& l = c.list;
  if (r.peek() == '(') {
    l.extended = true;
    if (!r.open()) return false;
    if (r.peek() != ')') {
      do {
        std::string o = r.keyword();
        if (o == "SUBSCRIBED") l.sel_subscribed = true;
        else if (o == "REMOTE") l.sel_remote = true;
        else if (o == "RECURSIVEMATCH") l.sel_recursivematch = true;
        else if (o == "SPECIAL-USE") l.sel_special_use = true;
        else return r.fail("Unknown LIST selection option");
      } while (r.accept(' '));
    }
    if (!r.close() || !r.sp()) return false;
    // RFC 5258 §3: RECURSIVEMATCH alone is meaningless.
    if (l.sel_recursivematch && !l.sel_subscribed && !l.sel_special_use)
      return r.fail("RECURSIVEMATCH needs another selection option");
  }
  if (!r.astring(l.reference) || !r.sp()) return false;
  if (r.peek() == '(') {
    l.extended = true;
    if (!r.open()) return false;
    do {
      if (l.patterns.size() >= lim.max_list_patterns) return r.fail("Too many LIST patterns");
      if (!r.list_mailbox(l.patterns.emplace_back())) return false;
    } while (r.accept(' '));
    if (!r.close()) return false;
  } else if (!r.list_mailbox(l.patterns.emplace_back())) {
    return false;
  }
  if (r.eol()) return true;
  if (!r.sp() || r.keyword() != "RETURN") return r.fail("Expected RETURN");
  l.extended = true;
  if (!r.sp() || !r.open()) return false;
  if (r.peek() != ')') {
    do {
      std::string o = r.keyword();
      if (o == "SUBSCRIBED") l.ret_subscribed = true;
      else if (o == "CHILDREN") l.ret_children = true;
      else if (o == "SPECIAL-USE") l.ret_special_use = true;
      else if (o == "STATUS") {
        if (!r.sp() || !r.status_list(l.ret_status.emplace())) return false;
      } else {
        return r.fail("Unknown LIST return option");
      }
    } while (r.accept(' '));
  }
  return r.close();
}

bool parse_append(Reader& r, Command& c, const Limits& lim) {
  if (!r.mailbox(c.mailbox)) return false;
  do {
    if (!r.sp()) return false;
    AppendMessage& m = c.messages.emplace_back();
    if (r.peek() == '(') {
      if (!r.flag_list(m.flags) || !r.sp()) return false;
    }
    if (r.peek() == '"') {
      if (!r.date_time(m.date.emplace()) || !r.sp()) return false;
    }
    if (r.peek() == '{' || r.peek() == '~') {
      if (!r.string(m.data, true, &m.binary)) return false;
      continue;
    }
    std::string word = r.keyword();
    if (word == "UTF8") {
      // RFC 6855 §4: append-data =/ "UTF8" SP "(" literal8 ")", how a message with UTF-8
      // header fields comes once UTF8=ACCEPT is enabled (Thunderbird sends every APPEND so).
      if (!r.sp() || !r.open()) return false;
      if (r.peek() != '~') return r.fail("Expected a literal8 in UTF8 ( )");
      if (!r.string(m.data, true, &m.binary) || !r.close()) return false;
      continue;
    }
    if (word != "CATENATE") return r.fail("Expected a message literal or CATENATE");
    m.catenate = true;
    if (!r.sp() || !r.open()) return false;
    do {
      std::string kind = r.keyword();
      CatPart& p = m.parts.emplace_back();
      if (kind == "TEXT") {
        if (!r.sp()) return false;
        if (r.peek() != '{' && r.peek() != '~') return r.fail("CATENATE TEXT takes a literal");
        bool bin = false;
        if (!r.string(p.value, true, &bin)) return false;
        m.binary = m.binary || bin;
      } else if (kind == "UTF8") {
        // RFC 6855 §4: cat-part =/ utf8-literal, a text part in UTF8 ( literal8 ).
        if (!r.sp() || !r.open()) return false;
        if (r.peek() != '~') return r.fail("Expected a literal8 in UTF8 ( )");
        bool bin = false;
        if (!r.string(p.value, true, &bin) || !r.close()) return false;
        m.binary = m.binary || bin;
      } else if (kind == "URL") {
        p.url = true;
        if (!r.sp() || !r.astring(p.value)) return false;
        if (p.value.empty()) return r.fail("Empty CATENATE URL");
      } else {
        return r.fail("Expected TEXT or URL");
      }
    } while (r.accept(' '));
    if (!r.close()) return false;
    (void)lim;
  } while (!r.eol());
  return true;
}

namespace {


// %XX decoding; nullopt on a broken escape or a control character after decoding.
std::optional<std::string> url_decode(std::string_view in) {
  std::string out;
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size()) return std::nullopt;
      int h = hex_value(in[i + 1]), l = hex_value(in[i + 2]);
      if (h < 0 || l < 0) return std::nullopt;
      c = static_cast<char>(h * 16 + l);
      i += 2;
    }
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return std::nullopt;
    out += c;
  }
  return out;
}

bool starts_with_ci(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

// A decimal number in [min, UINT32_MAX], the whole of `s`.
std::optional<uint32_t> url_number(std::string_view s, uint32_t min) {
  if (s.empty() || s.size() > 10) return std::nullopt;
  uint64_t v = 0;
  for (char c : s) {
    if (!is_digit(static_cast<unsigned char>(c))) return std::nullopt;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  if (v < min || v > UINT32_MAX) return std::nullopt;
  return static_cast<uint32_t>(v);
}

// Position of `key` ("/;UID=") in `s`, case-insensitively; npos when absent.
size_t find_ci(std::string_view s, std::string_view key) {
  for (size_t i = 0; i + key.size() <= s.size(); ++i)
    if (iequals(s.substr(i, key.size()), key)) return i;
  return std::string_view::npos;
}

}  // namespace

std::optional<ImapUrl> imap_url(std::string_view url) {
  if (url.size() > 4096) return std::nullopt;
  ImapUrl out;
  if (starts_with_ci(url, "imap://")) {
    url.remove_prefix(7);
    size_t slash = url.find('/');
    if (slash == std::string_view::npos) return std::nullopt;
    std::string_view authority = url.substr(0, slash);
    if (size_t at = authority.rfind('@'); at != std::string_view::npos) {
      std::string_view user = authority.substr(0, at);
      if (size_t semi = user.find(';'); semi != std::string_view::npos) user = user.substr(0, semi);
      auto u = url_decode(user);
      if (!u || u->empty()) return std::nullopt;
      out.user = std::move(*u);
      authority.remove_prefix(at + 1);
    }
    if (authority.empty()) return std::nullopt;
    url.remove_prefix(slash);
  }
  if (url.empty() || url[0] != '/') return std::nullopt;
  url.remove_prefix(1);
  size_t uid_at = find_ci(url, "/;UID=");
  if (uid_at == std::string_view::npos || uid_at == 0) return std::nullopt;
  std::string_view box = url.substr(0, uid_at);
  std::string_view rest = url.substr(uid_at + 6);
  if (size_t v = find_ci(box, ";UIDVALIDITY="); v != std::string_view::npos) {
    out.uidvalidity = url_number(box.substr(v + 13), 1);
    if (!out.uidvalidity) return std::nullopt;
    box = box.substr(0, v);
  }
  if (box.empty() || box.find(';') != std::string_view::npos) return std::nullopt;
  auto mbox = url_decode(box);
  if (!mbox || mbox->empty()) return std::nullopt;
  out.mailbox = std::move(*mbox);
  size_t end = rest.find('/');
  auto uid = url_number(rest.substr(0, end), 1);
  if (!uid) return std::nullopt;
  out.uid = *uid;
  rest = end == std::string_view::npos ? std::string_view() : rest.substr(end);
  if (starts_with_ci(rest, "/;SECTION=")) {
    rest.remove_prefix(10);
    size_t e = rest.find('/');
    auto dec = url_decode(rest.substr(0, e));
    rest = e == std::string_view::npos ? std::string_view() : rest.substr(e);
    if (!dec || dec->empty()) return std::nullopt;
    // The section grammar is FETCH's (RFC 5092 §3: enc-section is a section-text).
    std::string text = "[" + *dec + "]";
    std::vector<std::string> no_literals;
    Limits lim;
    Reader r(text, no_literals, lim);
    Section sec;
    if (!r.section(sec, false) || !r.eol()) return std::nullopt;
    out.section = std::move(sec);
  }
  if (starts_with_ci(rest, "/;PARTIAL=")) {
    rest.remove_prefix(10);
    std::string_view range = rest;
    size_t dot = range.find('.');
    auto off = url_number(range.substr(0, dot), 0);
    if (!off) return std::nullopt;
    uint32_t len = UINT32_MAX;
    if (dot != std::string_view::npos) {
      auto l = url_number(range.substr(dot + 1), 1);
      if (!l) return std::nullopt;
      len = *l;
    }
    out.partial = std::make_pair(*off, len);
    rest = {};
  }
  if (!rest.empty()) return std::nullopt;  // URLAUTH, EXPIRE, or anything we do not know
  return out;
}

bool parse_fetch(Reader& r, Command& c) {
  if (!r.seq_set(c.set) || !r.sp()) return false;
  auto& atts = c.fetch.atts;
  if (r.peek() == '(') {
    if (!r.open()) return false;
    do {
      if (!r.fetch_att(atts)) return false;
    } while (r.accept(' '));
    if (!r.close()) return false;
  } else if (!r.fetch_att(atts)) {
    return false;
  }
  if (r.eol()) return true;
  if (!r.sp() || !r.open()) return false;
  do {
    std::string m = r.keyword();
    if (m == "CHANGEDSINCE") {
      uint64_t v;
      if (!r.sp() || !r.modseq(v)) return false;
      c.fetch.changedsince = v;
    } else if (m == "VANISHED") {
      c.fetch.vanished = true;
    } else {
      return r.fail("Unknown FETCH modifier");
    }
  } while (r.accept(' '));
  if (!r.close()) return false;
  if (c.fetch.vanished && (!c.uid || !c.fetch.changedsince))
    return r.fail("VANISHED needs UID FETCH and CHANGEDSINCE");
  return true;
}

bool parse_store(Reader& r, Command& c) {
  StoreArgs& s = c.store;
  if (!r.seq_set(c.set) || !r.sp()) return false;
  if (r.peek() == '(') {
    if (!r.open() || r.keyword() != "UNCHANGEDSINCE") return r.fail("Unknown STORE modifier");
    uint64_t v;
    if (!r.sp() || !r.number64(v, INT64_MAX, "Invalid mod-sequence value") || !r.close() ||
        !r.sp())
      return false;
    s.unchangedsince = v;
  }
  if (r.accept('+')) s.mode = StoreArgs::Mode::add;
  else if (r.accept('-')) s.mode = StoreArgs::Mode::remove;
  std::string item = r.keyword();
  if (item == "FLAGS.SILENT") s.silent = true;
  else if (item != "FLAGS") return r.fail("Expected FLAGS, +FLAGS or -FLAGS");
  if (!r.sp()) return false;
  if (r.peek() == '(') return r.flag_list(s.flags);
  do {
    if (!r.flag(s.flags.emplace_back())) return false;
  } while (r.accept(' '));
  return true;
}

// search-return-opts after "RETURN" SP (RFC 4731, RFC 5182, RFC 5267, RFC 9394).
bool parse_return(Reader& r, SearchArgs& a) {
  a.esearch = true;
  if (!r.open()) return false;
  if (r.peek() != ')') {
    do {
      std::string o = r.keyword();
      if (!r.token()) return false;
      if (o == "MIN") a.ret_min = true;
      else if (o == "MAX") a.ret_max = true;
      else if (o == "ALL") a.ret_all = true;
      else if (o == "COUNT") a.ret_count = true;
      else if (o == "SAVE") a.ret_save = true;
      else if (o == "UPDATE") a.ret_update = true;
      else if (o == "CONTEXT") a.ret_context = true;
      else if (o == "PARTIAL") {
        if (a.ret_partial) return r.fail("PARTIAL given twice");
        if (!r.sp()) return false;
        bool negative = r.accept('-');
        uint32_t first = 0, last = 0;
        if (!r.nz_number(first, "Invalid PARTIAL range") || !r.accept(':') ||
            (negative && !r.accept('-')) || !r.nz_number(last, "Invalid PARTIAL range"))
          return r.fail("Invalid PARTIAL range");
        int64_t sign = negative ? -1 : 1;
        a.ret_partial.emplace(sign * first, sign * last);
      } else {
        return r.fail("Unknown SEARCH return option");
      }
    } while (r.accept(' '));
  }
  return r.close();
}

bool parse_search(Reader& r, Command& c) {
  SearchArgs& a = c.search;
  size_t save = r.pos();
  if (!r.sp()) return false;
  std::string k = r.keyword();
  if (k == "RETURN") {
    if (!r.sp() || !parse_return(r, a)) return false;
    save = r.pos();
    if (!r.sp()) return false;
    k = r.keyword();
  }
  if (k == "CHARSET") {
    if (!r.sp() || !r.astring(a.charset)) return false;
  } else {
    r.rewind(save);
  }
  return r.search_keys(a);
}

bool parse_sort(Reader& r, Command& c) {
  using Key = SearchArgs::SortCriterion::Key;
  if (r.peek() != '(') {
    if (r.keyword() != "RETURN") return r.fail("Expected '(' or RETURN");
    if (!r.sp() || !parse_return(r, c.search) || !r.sp()) return false;
  }
  if (!r.open()) return false;
  do {
    SearchArgs::SortCriterion sc;
    std::string k = r.keyword();
    if (k == "REVERSE") {
      sc.reverse = true;
      if (!r.sp()) return false;
      k = r.keyword();
    }
    static constexpr std::pair<std::string_view, Key> kKeys[] = {
        {"ARRIVAL", Key::arrival}, {"CC", Key::cc}, {"DATE", Key::date},
        {"FROM", Key::from}, {"SIZE", Key::size}, {"SUBJECT", Key::subject},
        {"TO", Key::to}, {"DISPLAYFROM", Key::displayfrom}, {"DISPLAYTO", Key::displayto}};
    bool found = false;
    for (const auto& [n, key] : kKeys)
      if (k == n) {
        sc.key = key;
        found = true;
      }
    if (!found) return r.fail("Unknown sort criterion");
    if (!r.token()) return false;
    c.search.sort.push_back(sc);
  } while (r.accept(' '));
  return r.close() && r.sp() && r.astring(c.search.charset) && r.search_keys(c.search);
}

bool parse_thread(Reader& r, Command& c) {
  std::string_view alg;
  if (!r.atom(alg, "Expected a threading algorithm")) return false;
  c.search.thread_algorithm = to_upper(alg);
  return r.sp() && r.astring(c.search.charset) && r.search_keys(c.search);
}

bool parse_id(Reader& r, Command& c) {
  if (r.peek() != '(') {
    if (r.keyword() != "NIL") return r.fail("Expected NIL or '('");
    c.id_nil = true;
    return r.token();
  }
  if (!r.open()) return false;
  if (r.peek() != ')') {
    do {
      // RFC 2971 §3.3: at most 30 pairs, field names up to 30 octets, values up to 1024.
      if (c.id_params.size() >= 30) return r.fail("Too many ID fields");
      auto& [field, value] = c.id_params.emplace_back();
      if (!r.string(field) || !r.sp() || !r.nstring(value)) return false;
      if (field.size() > 30 || (value && value->size() > 1024))
        return r.fail("ID field or value too long");
    } while (r.accept(' '));
  }
  return r.close();
}

bool parse_setquota(Reader& r, Command& c) {
  if (!r.astring(c.quota_root) || !r.sp() || !r.open()) return false;
  if (r.peek() != ')') {
    do {
      std::string_view name;
      uint64_t v;
      if (!r.atom(name, "Expected a quota resource") || !r.sp() ||
          !r.number64(v, INT64_MAX, "Invalid quota limit"))
        return false;
      c.quota_limits.emplace_back(to_upper(name), v);
    } while (r.accept(' '));
  }
  return r.close();
}

bool parse_authenticate(Reader& r, Command& c) {
  std::string_view mech;
  if (!r.atom(mech, "Expected a SASL mechanism")) return false;
  c.mechanism = to_upper(mech);
  if (r.eol()) return true;
  if (!r.sp()) return false;
  std::string& ir = c.initial_response.emplace();
  if (r.accept('=')) {
    ir = "=";
    return r.token();
  }
  // base64: letters, digits, '+', '/', then up to two '='.
  size_t b = r.pos();
  while (is_alpha(r.peek()) || is_digit(r.peek()) || r.peek() == '+' || r.peek() == '/')
    r.accept(static_cast<char>(r.peek()));
  size_t pad = 0;
  while (pad < 2 && r.accept('=')) ++pad;
  ir.assign(r.slice(b));
  if (ir.empty() || ir.size() % 4 != 0 || !r.eol()) return r.fail("Initial response is not base64");
  return r.token();
}

bool parse_body(Reader& r, Command& c, const Limits& lim) {
  switch (c.verb) {
    case Verb::capability: case Verb::noop: case Verb::logout: case Verb::starttls:
    case Verb::namespace_: case Verb::idle: case Verb::check: case Verb::close:
    case Verb::unselect:
      return true;
    case Verb::expunge:
      return !c.uid || (r.sp() && r.seq_set(c.set));
    case Verb::login:
      return r.sp() && r.astring(c.user) && r.sp() && r.astring(c.password);
    case Verb::authenticate:
      return r.sp() && parse_authenticate(r, c);
    case Verb::enable:
      do {
        std::string_view cap;
        if (!r.sp() || !r.atom(cap, "Expected a capability")) return false;
        c.capabilities.push_back(to_upper(cap));
      } while (!r.eol());
      return true;
    case Verb::select: case Verb::examine:
      return r.sp() && parse_select(r, c);
    case Verb::create:
      if (!r.sp() || !r.mailbox(c.mailbox)) return false;
      if (r.eol()) return true;
      if (!r.sp() || !r.open() || r.keyword() != "USE") return r.fail("Unknown CREATE parameter");
      return r.sp() && r.flag_list(c.use) && r.close();
    case Verb::delete_: case Verb::subscribe: case Verb::unsubscribe:
    case Verb::getquotaroot: case Verb::getacl: case Verb::myrights:
      return r.sp() && r.mailbox(c.mailbox);
    case Verb::rename:
      return r.sp() && r.mailbox(c.mailbox) && r.sp() && r.mailbox(c.new_mailbox);
    case Verb::list:
      return r.sp() && parse_list(r, c, lim);
    case Verb::lsub:
      return r.sp() && r.astring(c.list.reference) && r.sp() &&
             r.list_mailbox(c.list.patterns.emplace_back());
    case Verb::status:
      return r.sp() && r.mailbox(c.mailbox) && r.sp() && r.status_list(c.status_items);
    case Verb::append:
      return r.sp() && parse_append(r, c, lim);
    case Verb::search:
      return parse_search(r, c);
    case Verb::fetch:
      return r.sp() && parse_fetch(r, c);
    case Verb::store:
      return r.sp() && parse_store(r, c);
    case Verb::copy: case Verb::move:
      return r.sp() && r.seq_set(c.set) && r.sp() && r.mailbox(c.mailbox);
    case Verb::sort:
      return r.sp() && parse_sort(r, c);
    case Verb::thread:
      return r.sp() && parse_thread(r, c);
    case Verb::id:
      return r.sp() && parse_id(r, c);
    case Verb::cancelupdate:
      do {
        if (!r.sp() || !r.string(c.search.cancel_tags.emplace_back())) return false;
      } while (!r.eol());
      return true;
    case Verb::getquota:
      return r.sp() && r.astring(c.quota_root);
    case Verb::setquota:
      return r.sp() && parse_setquota(r, c);
    case Verb::setacl:
      return r.sp() && r.mailbox(c.mailbox) && r.sp() && r.astring(c.identifier) && r.sp() &&
             r.astring(c.rights);
    case Verb::deleteacl: case Verb::listrights:
      return r.sp() && r.mailbox(c.mailbox) && r.sp() && r.astring(c.identifier);
    case Verb::compress: {
      std::string_view mech;
      if (!r.sp() || !r.atom(mech, "Expected a compression mechanism")) return false;
      c.mechanism = to_upper(mech);
      return true;
    }
    case Verb::line:
      break;
  }
  return r.fail("Unknown command");
}

// The tag at the start of `text`, if well-formed and followed by SP.
std::string_view read_tag(std::string_view text) {
  size_t i = 0;
  while (i < text.size() && is_tag_char(static_cast<unsigned char>(text[i]))) ++i;
  if (i == 0 || i >= text.size() || text[i] != ' ') return {};
  return text.substr(0, i);
}

}  // namespace

std::optional<ImapUrl> parse_imap_url(std::string_view url) { return imap_url(url); }

std::string_view to_string(Verb v) noexcept {
  for (const VerbName& n : kVerbs)
    if (n.verb == v) return n.name;
  return "";
}

bool is_idle_done(std::string_view line) noexcept { return iequals(line, "DONE"); }

std::optional<Command> parse_command(std::string_view text, std::vector<std::string>& literals,
                                     const Limits& limits, ParseError& error) {
  error = ParseError{};
  Reader r(text, literals, limits);
  Command c;
  std::string_view tag;
  if (!r.tag(tag)) {
    if (r.err() == "Missing command") error.tag.assign(tag);
    error.text = r.err();
    return std::nullopt;
  }
  error.tag.assign(tag);
  c.tag.assign(tag);
  bool ok = r.sp();
  std::string_view name;
  if (ok) ok = r.atom(name, "Missing command");
  if (ok) {
    std::optional<Verb> v = find_verb(name);
    if (v && *v == Verb::line) v.reset();
    if (!v && iequals(name, "UID")) {
      c.uid = true;
      ok = r.sp() && r.atom(name, "Missing command");
      if (ok) {
        v = find_verb(name);
        if (!v || (*v != Verb::fetch && *v != Verb::store && *v != Verb::copy &&
                   *v != Verb::move && *v != Verb::search && *v != Verb::expunge &&
                   *v != Verb::sort && *v != Verb::thread)) {
          ok = r.fail("Unknown UID command");
        }
      }
    } else if (!v) {
      ok = r.fail("Unknown command");
    }
    if (ok) {
      c.verb = *v;
      ok = parse_body(r, c, limits) && r.end();
    }
  }
  if (!ok) {
    error.text = r.err();
    return std::nullopt;
  }
  return c;
}

// ---- framing -------------------------------------------------------------------------------

Parser::Parser(const Limits& limits) : limits_(limits), pending_limits_(limits) {}

void Parser::next() {
  limits_ = pending_limits_;
  status_ = ParseStatus::need_more;
  command_ = Command{};
  error_ = ParseError{};
  literal_ = LiteralInfo{};
  text_.clear();
  line_start_ = 0;
  literals_.clear();
  literal_left_ = 0;
  in_literal_ = false;
  budget_used_ = 0;
  append_used_ = 0;
  raw_line_ = false;
  is_append_ = -1;
}

void Parser::fail(std::string text, bool close, bool too_big) {
  error_.tag.assign(read_tag(text_));
  error_.text = std::move(text);
  error_.close_connection = close;
  error_.too_big = too_big;
  status_ = ParseStatus::error;
  // Free what the command held at once; it will not grow again.
  literals_ = {};
  text_ = {};
}

size_t Parser::feed(std::string_view chunk) {
  if (status_ == ParseStatus::done || status_ == ParseStatus::error) return 0;
  status_ = ParseStatus::need_more;
  size_t used = 0;
  while (used < chunk.size() && status_ == ParseStatus::need_more)
    used += in_literal_ ? feed_literal(chunk.substr(used)) : feed_text(chunk.substr(used));
  return used;
}

size_t Parser::feed_literal(std::string_view chunk) {
  size_t n = static_cast<size_t>(std::min<uint64_t>(literal_left_, chunk.size()));
  literals_.back().append(chunk.data(), n);
  literal_left_ -= n;
  if (literal_left_ == 0) in_literal_ = false;
  return n;
}

size_t Parser::feed_text(std::string_view chunk) {
  size_t eol = chunk.find('\n');
  size_t n = eol == std::string_view::npos ? chunk.size() : eol + 1;
  if (budget_used_ + n > limits_.max_line) {
    text_.append(chunk.data(), std::min(n, limits_.max_line - std::min(budget_used_, limits_.max_line)));
    fail("Command line too long", true);
    return n;
  }
  budget_used_ += n;
  text_.append(chunk.data(), n);
  if (eol != std::string_view::npos) end_of_line();
  return n;
}

void Parser::end_of_line() {
  std::string_view line(text_);
  line.remove_prefix(line_start_);
  line.remove_suffix(1);  // '\n'
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);

  if (raw_line_) {
    command_.verb = Verb::line;
    command_.line.assign(line);
    status_ = ParseStatus::done;
    return;
  }
  if (line.empty() && line_start_ == 0) {
    // An empty line between commands: no tag to answer, so "* BAD" (RFC 9051 §7.1.5).
    fail("Empty command line", false);
    return;
  }

  // A literal marker "{n}" / "{n+}" / "~{n}" ends the line?
  size_t open = line.rfind('{');
  bool marker = !line.empty() && line.back() == '}' && open != std::string_view::npos;
  std::string_view digits;
  bool sync = true;
  if (marker) {
    digits = line.substr(open + 1, line.size() - open - 2);
    if (!digits.empty() && digits.back() == '+') {
      sync = false;
      digits.remove_suffix(1);
    }
    for (char ch : digits)
      if (!is_digit(ch)) marker = false;
    if (digits.empty()) marker = false;
  }
  if (!marker) {
    // The command without its final line end.
    std::string_view whole = std::string_view(text_).substr(0, line_start_ + line.size());
    std::optional<Command> c = parse_command(whole, literals_, limits_, error_);
    if (c) {
      command_ = std::move(*c);
      status_ = ParseStatus::done;
    } else {
      status_ = ParseStatus::error;
    }
    literals_ = {};
    return;
  }

  bool binary = open > 0 && line[open - 1] == '~';
  uint64_t size = 0;
  for (char ch : digits) {
    unsigned d = static_cast<unsigned>(ch - '0');
    if (size > (UINT64_MAX - d) / 10) {
      fail("Literal size out of range", true);
      return;
    }
    size = size * 10 + d;
  }

  std::string_view tag = read_tag(text_);
  if (is_append_ < 0) {
    std::string_view rest = std::string_view(text_).substr(tag.empty() ? 0 : tag.size() + 1);
    is_append_ = !tag.empty() && rest.size() >= 7 && iequals(rest.substr(0, 7), "APPEND ");
  }
  // The mailbox of APPEND may be a literal too: it is the one right after "tag APPEND ".
  bool message = is_append_ == 1 &&
                 !(literals_.empty() && line_start_ == 0 && open == tag.size() + 8);
  literal_ = LiteralInfo{size, sync, binary, message};

  // Which command is it? "UID x" is x.
  std::optional<Verb> verb;
  if (!tag.empty()) {
    std::string_view rest = std::string_view(text_).substr(tag.size() + 1);
    std::string_view name = rest.substr(0, std::min(rest.find(' '), rest.size()));
    verb = find_verb(name);
    if (!verb && iequals(name, "UID") && rest.size() > 4) {
      std::string_view sub = rest.substr(4);
      sub = sub.substr(0, std::min(sub.find(' '), sub.size()));
      verb = find_verb(sub);
    }
  }
  auto refuse = [this](std::string text, bool close, bool too_big = false) {
    fail(std::move(text), close, too_big);
    error_.refused_literal = true;
  };
  if (sync) {
    // Refuse a command we cannot run before the client sends the literal.
    if (tag.empty()) return refuse("Invalid tag", false);
    if (!verb) return refuse("Unknown command", false);
  }
  bool allowed = verb && (limits_.allowed_verbs & verb_bit(*verb)) != 0;
  bool nonsync_over = !sync && size > limits_.max_nonsync_literal;
  bool over = message ? size > limits_.max_literal || append_used_ + size > limits_.max_append_total
                      : budget_used_ + size > limits_.max_line;
  if (!allowed && (sync || over || nonsync_over)) {
    // Not read: a synchronising literal is never sent without "+"; the octets of a
    // non-synchronising one are already coming, so the stream is lost.
    return refuse(verb ? std::string(to_string(*verb)) + " is not valid in this state" : std::string("Unknown command"),
                  !sync);
  }
  if (nonsync_over) return refuse("Non-synchronizing literal too large", true, true);
  if (over) return message ? refuse("Message too large", !sync, true) : refuse("Literal too large", !sync);
  if (message)
    append_used_ += size;
  else
    budget_used_ += size;
  literals_.emplace_back();
  in_literal_ = size > 0;
  literal_left_ = size;
  line_start_ = text_.size();
  if (sync) status_ = ParseStatus::need_continuation;
}

}  // namespace caremail::imap

namespace caremail::imap {

namespace {

void dump_set(std::string& o, const SequenceSet& s) {
  if (s.saved) o += "$";
  for (size_t i = 0; i < s.ranges.size(); ++i) {
    if (i) o += ',';
    auto num = [&](uint32_t v) { o += v == SeqRange::kStar ? "*" : std::to_string(v); };
    num(s.ranges[i].first);
    if (s.ranges[i].last != s.ranges[i].first) {
      o += ':';
      num(s.ranges[i].last);
    }
  }
}

void dump_strings(std::string& o, const std::vector<std::string>& v) {
  o += '(';
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) o += ' ';
    o += '[' + v[i] + ']';
  }
  o += ')';
}

void dump_date(std::string& o, const Date& d) {
  o += std::to_string(d.day) + '-' + std::to_string(d.month) + '-' + std::to_string(d.year);
}

void dump_key(std::string& o, const SearchKey& k) {
  o += "k" + std::to_string(static_cast<int>(k.kind));
  if (!k.str.empty()) o += "[" + k.str + "]";
  if (!k.str2.empty()) o += "[" + k.str2 + "]";
  if (k.number) o += "#" + std::to_string(k.number);
  if (k.date.year) {
    o += '@';
    dump_date(o, k.date);
  }
  if (k.set.saved || !k.set.ranges.empty()) {
    o += '{';
    dump_set(o, k.set);
    o += '}';
  }
  if (!k.children.empty()) {
    o += '(';
    for (size_t i = 0; i < k.children.size(); ++i) {
      if (i) o += ' ';
      dump_key(o, k.children[i]);
    }
    o += ')';
  }
}

void dump_items(std::string& o, const std::vector<StatusItem>& v) {
  o += '(';
  for (StatusItem i : v) o += std::to_string(static_cast<int>(i)) + ' ';
  o += ')';
}

}  // namespace

std::string debug_string(const Command& c, bool with_secrets) {
  std::string o = "tag=[" + c.tag + "] " + (c.uid ? "UID " : "") +
                  std::string(c.verb == Verb::line ? "LINE" : to_string(c.verb));
  auto field = [&](std::string_view name, const std::string& v) {
    if (!v.empty()) o += " " + std::string(name) + "=[" + v + "]";
  };
  field("mailbox", c.mailbox);
  field("new", c.new_mailbox);
  field("user", c.user);
  field("password", with_secrets || c.password.empty() ? c.password : std::string("<redacted>"));
  field("mech", c.mechanism);
  if (c.initial_response) o += " ir=[" + (with_secrets ? *c.initial_response : std::string("<redacted>")) + "]";
  if (!c.capabilities.empty()) o += " caps=", dump_strings(o, c.capabilities);
  if (!c.use.empty()) o += " use=", dump_strings(o, c.use);
  if (c.select.condstore) o += " condstore";
  if (c.select.qresync) {
    const auto& q = *c.select.qresync;
    o += " qresync=" + std::to_string(q.uidvalidity) + "/" + std::to_string(q.modseq);
    if (q.known_uids) o += " known=", dump_set(o, *q.known_uids);
    if (q.seq_match) {
      o += " match=";
      dump_set(o, q.seq_match->first);
      o += '/';
      dump_set(o, q.seq_match->second);
    }
  }
  const ListArgs& l = c.list;
  if (c.verb == Verb::list || c.verb == Verb::lsub) {
    o += " ref=[" + l.reference + "] patterns=";
    dump_strings(o, l.patterns);
    o += " sel=" + std::to_string(l.sel_subscribed) + std::to_string(l.sel_remote) +
         std::to_string(l.sel_recursivematch) + std::to_string(l.sel_special_use);
    o += " ret=" + std::to_string(l.ret_subscribed) + std::to_string(l.ret_children) +
         std::to_string(l.ret_special_use);
    if (l.extended) o += " extended";
    if (l.ret_status) o += " status=", dump_items(o, *l.ret_status);
  }
  if (!c.status_items.empty()) o += " items=", dump_items(o, c.status_items);
  for (const AppendMessage& m : c.messages) {
    o += " msg(";
    dump_strings(o, m.flags);
    if (m.date)
      o += ' ' + std::to_string(m.date->date.day) + '-' + std::to_string(m.date->date.month) +
           '-' + std::to_string(m.date->date.year) + ' ' + std::to_string(m.date->hour) + ':' +
           std::to_string(m.date->minute) + ':' + std::to_string(m.date->second) + ' ' +
           std::to_string(m.date->zone_minutes);
    o += (m.binary ? " binary " : " ") + std::to_string(m.data.size());
    if (m.catenate) {
      o += " catenate";
      for (const CatPart& p : m.parts) o += p.url ? " url[" + p.value + "]" : " text" + std::to_string(p.value.size());
    }
    o += ")";
  }
  if (c.set.saved || !c.set.ranges.empty()) o += " set=", dump_set(o, c.set);
  for (const FetchAtt& a : c.fetch.atts) {
    o += " att" + std::to_string(static_cast<int>(a.kind)) + (a.peek ? ".peek" : "");
    if (a.kind == FetchAtt::Kind::body_section || a.kind == FetchAtt::Kind::binary ||
        a.kind == FetchAtt::Kind::binary_size) {
      o += '[';
      for (uint32_t p : a.section.part) o += std::to_string(p) + '.';
      o += std::to_string(static_cast<int>(a.section.text));
      if (!a.section.fields.empty()) dump_strings(o, a.section.fields);
      o += ']';
    }
    if (a.partial)
      o += '<' + std::to_string(a.partial->first) + '.' + std::to_string(a.partial->second) + '>';
  }
  if (c.fetch.changedsince) o += " changedsince=" + std::to_string(*c.fetch.changedsince);
  if (c.fetch.vanished) o += " vanished";
  if (c.verb == Verb::store) {
    o += " store=" + std::to_string(static_cast<int>(c.store.mode)) +
         (c.store.silent ? ".silent " : " ");
    dump_strings(o, c.store.flags);
    if (c.store.unchangedsince) o += " unchangedsince=" + std::to_string(*c.store.unchangedsince);
  }
  if (c.verb == Verb::search || c.verb == Verb::sort || c.verb == Verb::thread) {
    const SearchArgs& s = c.search;
    if (s.esearch)
      o += " return=" + std::to_string(s.ret_min) + std::to_string(s.ret_max) +
           std::to_string(s.ret_all) + std::to_string(s.ret_count) + std::to_string(s.ret_save) +
           (s.ret_update ? " update" : "") + (s.ret_context ? " context" : "");
    if (s.ret_partial)
      o += " partial=" + std::to_string(s.ret_partial->first) + ':' + std::to_string(s.ret_partial->second);
    field("charset", s.charset);
    for (const auto& sc : s.sort)
      o += " sort=" + std::string(sc.reverse ? "-" : "") + std::to_string(static_cast<int>(sc.key));
    field("thread", s.thread_algorithm);
    o += ' ';
    dump_key(o, s.key);
  }
  if (c.verb == Verb::cancelupdate) {
    o += " cancel=";
    dump_strings(o, c.search.cancel_tags);
  }
  if (c.id_nil) o += " id=NIL";
  for (const auto& [f, v] : c.id_params) o += " id[" + f + "]=" + (v ? "[" + *v + "]" : "NIL");
  field("root", c.quota_root);
  for (const auto& [n, v] : c.quota_limits) o += " limit[" + n + "]=" + std::to_string(v);
  field("identifier", c.identifier);
  field("rights", c.rights);
  if (c.verb == Verb::line) o += " line=[" + c.line + "]";
  return o;
}

}  // namespace caremail::imap

// SEARCH, SORT and THREAD. See search.hpp for the contract.
//
// Everything here works on what the session hands over: the entries (flags, dates, size,
// the decoded summary) and, only for BCC/HEADER/BODY/TEXT, the raw message. Strings are
// compared after a simple case folding (ASCII, Latin-1, Latin Extended-A, Greek and
// Cyrillic capitals; no ICU), as substrings of the decoded UTF-8 text.
#include "imap/search.hpp"

#include "mime/text.hpp"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

namespace caremail::imap {
namespace {

using Kind = SearchKey::Kind;
using SortKey = SearchArgs::SortCriterion::Key;

const MailboxEntry kNoEntry{};

const MailboxEntry& entry_of(const SearchMessage& m) {
  return m.entry != nullptr ? *m.entry : kNoEntry;
}

// ---- Days ---------------------------------------------------------------------------

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
// Days past the end of the month roll over, as the parser does not check them.
int64_t days_from_civil(int64_t y, int64_t m, int64_t d) {
  y -= m <= 2 ? 1 : 0;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

int64_t day_of(const Date& d) { return days_from_civil(d.year, d.month, d.day); }

int64_t day_of(UnixTime t) {  // floor division: times before 1970 belong to earlier days
  return t >= 0 ? t / 86400 : -((-t + 86399) / 86400);
}

// Offset east of UTC, in seconds, of an RFC 5322 Date header as written ("... +0200
// (CEST)"): SENT* compare the date the sender's clock showed, as RFC 9051 intends
// ("disregarding time and timezone") and Dovecot does. 0 when none can be read.
int64_t zone_offset(std::string_view date) {
  std::string s;  // without comments
  int depth = 0;
  for (char c : date) {
    if (c == '(') ++depth;
    else if (c == ')' && depth > 0) --depth;
    else if (depth == 0) s.push_back(c);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.pop_back();
  size_t sp = s.find_last_of(" \t");
  std::string_view z = std::string_view(s).substr(sp == std::string::npos ? 0 : sp + 1);
  if (z.size() == 5 && (z[0] == '+' || z[0] == '-') &&
      std::all_of(z.begin() + 1, z.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    int64_t h = (z[1] - '0') * 10 + (z[2] - '0');
    int64_t m = (z[3] - '0') * 10 + (z[4] - '0');
    if (h > 23 || m > 59) return 0;
    int64_t off = (h * 60 + m) * 60;
    return z[0] == '-' ? -off : off;
  }
  static constexpr std::pair<std::string_view, int> kZones[] = {
      {"EST", -5}, {"EDT", -4}, {"CST", -6}, {"CDT", -5},
      {"MST", -7}, {"MDT", -6}, {"PST", -8}, {"PDT", -7}};
  for (auto [name, hours] : kZones)
    if (z == name) return int64_t{hours} * 3600;
  return 0;
}

// RFC 5256: the sent date, or the internal date when the Date header is missing or bad.
UnixTime sent_time(const MailboxEntry& e) {
  return e.summary.sent_at != 0 ? e.summary.sent_at : e.internal_date;
}

int64_t sent_day(const MailboxEntry& e) {
  if (e.summary.sent_at == 0) return day_of(e.internal_date);
  return day_of(e.summary.sent_at + zone_offset(e.summary.date));
}

// ---- Case folding -------------------------------------------------------------------

uint32_t fold_cp(uint32_t c) {
  if (c < 0x80) return (c >= 'A' && c <= 'Z') ? c + 32 : c;
  if (c >= 0xC0 && c <= 0xDE && c != 0xD7) return c + 32;
  if (c >= 0x100 && c <= 0x17F) {
    if (c == 0x130) return 'i';
    if (c == 0x131 || c == 0x138 || c == 0x149) return c;
    if (c == 0x178) return 0xFF;
    if (c == 0x17F) return 's';  // long s folds to s
    if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E))
      return (c % 2 == 1) ? c + 1 : c;
    return (c % 2 == 0) ? c + 1 : c;
  }
  if (c >= 0x391 && c <= 0x3A9 && c != 0x3A2) return c + 32;  // Greek capitals
  if (c == 0x3C2) return 0x3C3;                                 // final sigma
  if (c == 0x386) return 0x3AC;
  if (c >= 0x388 && c <= 0x38A) return c + 37;
  if (c == 0x38C) return 0x3CC;
  if (c == 0x38E || c == 0x38F) return c + 63;
  if (c >= 0x410 && c <= 0x42F) return c + 32;  // Cyrillic capitals
  if (c >= 0x400 && c <= 0x40F) return c + 80;
  return c;
}

void put_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {  // fold_cp never produces anything past U+FFFF
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// Case-folded copy of UTF-8 text. Only two-octet sequences can change (all folded
// letters lie below U+0800); every other octet is copied as it is.
std::string fold(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    auto b = static_cast<unsigned char>(s[i]);
    if (b < 0x80) {
      out.push_back((b >= 'A' && b <= 'Z') ? static_cast<char>(b + 32) : static_cast<char>(b));
      continue;
    }
    if (b >= 0xC2 && b <= 0xDF && i + 1 < s.size() &&
        (static_cast<unsigned char>(s[i + 1]) & 0xC0) == 0x80) {
      uint32_t cp = ((b & 0x1Fu) << 6) | (static_cast<unsigned char>(s[i + 1]) & 0x3Fu);
      put_utf8(out, fold_cp(cp));
      ++i;
      continue;
    }
    out.push_back(static_cast<char>(b));
  }
  return out;
}

bool contains(std::string_view haystack, const std::string& folded_needle) {
  if (folded_needle.empty()) return true;
  return fold(haystack).find(folded_needle) != std::string::npos;
}

// ---- Addresses ----------------------------------------------------------------------

struct Address {
  std::string name;     // display name, unquoted; "" when none
  std::string mailbox;  // local part
  std::string domain;
  std::string spec() const { return domain.empty() ? mailbox : mailbox + "@" + domain; }
};

std::string collapse_ws(std::string_view s) {
  std::string out;
  for (char c : s) {
    bool ws = c == ' ' || c == '\t' || c == '\r' || c == '\n';
    if (ws) {
      if (!out.empty() && out.back() != ' ') out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  if (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

// The first mailbox of an address list as GMime writes it (`"Doe, Jane" <jane@x.org>,
// bob@x.org`, `team: a@x.org;`): quoted strings, comments, angle addresses and groups are
// understood, group names skipped. nullopt when there is no mailbox at all.
std::optional<Address> first_address(std::string_view s) {
  std::string phrase;
  std::string angle;
  bool have_angle = false;
  auto finish = [&]() -> std::optional<Address> {
    Address a;
    std::string spec;
    if (have_angle) {
      a.name = collapse_ws(phrase);
      spec = angle;
      size_t colon = spec.rfind(':');  // obsolete source route "@a,@b:user@host"
      if (colon != std::string::npos) spec.erase(0, colon + 1);
    } else {
      for (char c : phrase)
        if (c != ' ' && c != '\t' && c != '\r' && c != '\n') spec.push_back(c);
    }
    phrase.clear();
    angle.clear();
    have_angle = false;
    size_t at = spec.rfind('@');
    a.mailbox = at == std::string::npos ? spec : spec.substr(0, at);
    a.domain = at == std::string::npos ? std::string() : spec.substr(at + 1);
    if (a.mailbox.empty() && a.domain.empty()) return std::nullopt;
    return a;
  };
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '"') {
      for (++i; i < s.size() && s[i] != '"'; ++i) {
        if (s[i] == '\\' && i + 1 < s.size()) ++i;
        phrase.push_back(s[i]);
      }
    } else if (c == '(') {
      int depth = 1;
      for (++i; i < s.size() && depth > 0; ++i) {
        if (s[i] == '\\') ++i;
        else if (s[i] == '(') ++depth;
        else if (s[i] == ')') --depth;
      }
      --i;
      phrase.push_back(' ');
    } else if (c == '<') {
      size_t end = s.find('>', i + 1);
      if (end == std::string_view::npos) end = s.size();
      angle = collapse_ws(s.substr(i + 1, end - i - 1));
      have_angle = true;
      i = end;
    } else if (c == ':' && !have_angle) {
      // A group comes first: in IMAP's address structure (ENVELOPE) that is the group's
      // start marker, whose addr-mailbox is the group name and addr-host NIL. RFC 5256's
      // "first address" is that marker (as Dovecot sorts), so the name is the mailbox.
      Address a;
      a.mailbox = collapse_ws(phrase);
      if (a.mailbox.empty()) {
        phrase.clear();
        continue;
      }
      return a;
    } else if (c == ',' || c == ';') {
      if (auto a = finish()) return a;
    } else {
      phrase.push_back(c);
    }
  }
  return finish();
}

// A sort key: RFC 5256 compares with i;ascii-casemap (RFC 4790 §9.2), which maps a-z to
// A-Z, so "[" and "_" sort before letters, not after them as with a lower-case fold.
// fold() first (the other scripts' capitals), then the ASCII letters up.
std::string sort_key(std::string_view s) {
  std::string out = fold(s);
  for (char& c : out)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 32);
  return out;
}

// RFC 5256 FROM/TO/CC: the addr-mailbox of the first address.
std::string sort_mailbox(std::string_view list) {
  auto a = first_address(list);
  return a ? sort_key(a->mailbox) : std::string();
}

// RFC 5957 DISPLAYFROM/DISPLAYTO: the display name, or else the addr-spec (a group: its
// name, see first_address).
std::string sort_display(std::string_view list) {
  auto a = first_address(list);
  if (!a) return {};
  return sort_key(a->name.empty() ? a->spec() : a->name);
}

// ---- Base subject (RFC 5256 §2.1) -----------------------------------------------------

char lower_ascii(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

bool istarts_with(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i)
    if (lower_ascii(s[i]) != prefix[i]) return false;
  return true;
}

// Length of the subj-blob ("[" *BLOBCHAR "]" *WSP) at s[pos], 0 if there is none.
size_t blob_at(std::string_view s, size_t pos) {
  if (pos >= s.size() || s[pos] != '[') return 0;
  size_t i = pos + 1;
  while (i < s.size() && s[i] != '[' && s[i] != ']') ++i;
  if (i >= s.size() || s[i] != ']') return 0;
  ++i;
  while (i < s.size() && s[i] == ' ') ++i;
  return i - pos;
}

// Length of a subj-leader's "*subj-blob subj-refwd" at the start of s, 0 if none.
// subj-refwd = ("re" / ("fw" ["d"])) *WSP [subj-blob] ":"
size_t refwd_leader(std::string_view s) {
  size_t i = 0;
  while (size_t b = blob_at(s, i)) i += b;
  std::string_view rest = s.substr(i);
  if (istarts_with(rest, "re")) i += 2;
  else if (istarts_with(rest, "fwd")) i += 3;
  else if (istarts_with(rest, "fw")) i += 2;
  else return 0;
  while (i < s.size() && s[i] == ' ') ++i;
  i += blob_at(s, i);
  if (i < s.size() && s[i] == ':') return i + 1;
  return 0;
}

// The base subject, and whether the subject was a reply or forward (a subj-refwd or a
// "[fwd: ...]" wrapper was taken off) for THREAD's "Re:" rules.
std::string base_subject_of(std::string_view subject, bool* is_reply) {
  bool reply = false;
  // (1) tabs and line ends are spaces, runs of spaces one space.
  std::string s;
  s.reserve(subject.size());
  for (char c : subject) {
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
      if (!s.empty() && s.back() == ' ') continue;
      s.push_back(' ');
    } else {
      s.push_back(c);
    }
  }
  for (;;) {
    // (2) subj-trailer: "(fwd)" / WSP at the end, repeatedly.
    for (;;) {
      if (!s.empty() && s.back() == ' ') s.pop_back();
      else if (s.size() >= 5 && istarts_with(std::string_view(s).substr(s.size() - 5), "(fwd)"))
        s.resize(s.size() - 5);
      else break;
    }
    // (3) subj-leader, repeatedly; (4) a leading subj-blob if something remains; until
    // neither changes anything.
    for (;;) {
      bool changed = false;
      for (;;) {
        if (!s.empty() && s.front() == ' ') {
          s.erase(0, 1);
          changed = true;
        } else if (size_t n = refwd_leader(s)) {
          s.erase(0, n);
          reply = true;
          changed = true;
        } else {
          break;
        }
      }
      size_t b = blob_at(s, 0);
      if (b > 0 && b < s.size()) {
        s.erase(0, b);
        changed = true;
      }
      if (!changed) break;
    }
    // (5) "[fwd:" subject "]" is unwrapped, then back to (2).
    if (s.size() >= 6 && istarts_with(s, "[fwd:") && s.back() == ']') {
      s = s.substr(5, s.size() - 6);
      reply = true;
      continue;
    }
    break;
  }
  if (is_reply != nullptr) *is_reply = reply;
  return s;
}

// ---- Sequence sets ------------------------------------------------------------------

bool in_set(const SequenceSet& set, uint32_t value, uint32_t star, Uid uid,
            std::span<const Uid> saved) {
  if (set.saved) return std::binary_search(saved.begin(), saved.end(), uid);
  if (set.resolved) {
    // The last range starting at or before `value`.
    auto it = std::upper_bound(set.ranges.begin(), set.ranges.end(), value,
                               [](uint32_t v, const SeqRange& r) { return v < r.first; });
    return it != set.ranges.begin() && value <= (it - 1)->last;
  }
  for (const SeqRange& r : set.ranges) {
    uint32_t a = r.first == SeqRange::kStar ? star : r.first;
    uint32_t b = r.last == SeqRange::kStar ? star : r.last;
    if (a > b) std::swap(a, b);
    if (value >= a && value <= b) return true;
  }
  return false;
}

// ---- Evaluation ---------------------------------------------------------------------

bool has_keyword(const MailboxEntry& e, std::string_view kw) {
  static constexpr std::pair<std::string_view, uint32_t> kSystem[] = {
      {"\\seen", kSeen}, {"\\answered", kAnswered}, {"\\flagged", kFlagged},
      {"\\deleted", kDeleted}, {"\\draft", kDraft}};
  std::string k = fold(kw);
  for (auto [name, bit] : kSystem)
    if (k == name) return (e.flags & bit) != 0;
  for (const std::string& have : e.keywords)
    if (fold(have) == k) return true;
  return false;
}

// One message against one search tree. Fetches the raw message at most once and derives
// the body text and the header text from it at most once each.
class Evaluator {
 public:
  Evaluator(const SearchMessage& m, const SearchContext& ctx)
      : m_(m), e_(entry_of(m)), ctx_(ctx) {}

  bool eval(const SearchKey& k) {
    const uint32_t f = e_.flags;
    switch (k.kind) {
      case Kind::all: return true;
      case Kind::answered: return (f & kAnswered) != 0;
      case Kind::deleted: return (f & kDeleted) != 0;
      case Kind::draft: return (f & kDraft) != 0;
      case Kind::flagged: return (f & kFlagged) != 0;
      case Kind::seen: return (f & kSeen) != 0;
      case Kind::unanswered: return (f & kAnswered) == 0;
      case Kind::undeleted: return (f & kDeleted) == 0;
      case Kind::undraft: return (f & kDraft) == 0;
      case Kind::unflagged: return (f & kFlagged) == 0;
      case Kind::unseen: return (f & kSeen) == 0;
      case Kind::keyword: return has_keyword(e_, k.str);
      case Kind::unkeyword: return !has_keyword(e_, k.str);
      case Kind::new_: return m_.recent && (f & kSeen) == 0;
      case Kind::old: return !m_.recent;
      case Kind::recent: return m_.recent;

      case Kind::before:
      case Kind::saved_date_before: return day_of(e_.internal_date) < day_of(k.date);
      case Kind::on:
      case Kind::saved_date_on: return day_of(e_.internal_date) == day_of(k.date);
      case Kind::since:
      case Kind::saved_date_since: return day_of(e_.internal_date) >= day_of(k.date);
      case Kind::saved_date_supported: return true;  // the internal date is the save date
      case Kind::sentbefore: return sent_day(e_) < day_of(k.date);
      case Kind::senton: return sent_day(e_) == day_of(k.date);
      case Kind::sentsince: return sent_day(e_) >= day_of(k.date);
      // RFC 5032: OLDER n = at least n seconds old, YOUNGER n = at most n seconds old.
      case Kind::older: return e_.internal_date <= ctx_.now - static_cast<int64_t>(k.number);
      case Kind::younger: return e_.internal_date >= ctx_.now - static_cast<int64_t>(k.number);

      case Kind::larger: return e_.size > k.number;
      case Kind::smaller: return e_.size < k.number;
      case Kind::modseq: return e_.modseq >= k.number;

      case Kind::seqset: return in_set(k.set, m_.seq, ctx_.max_seq, e_.uid, ctx_.saved);
      case Kind::uid: return in_set(k.set, e_.uid, ctx_.max_uid, e_.uid, ctx_.saved);

      case Kind::from: return contains(e_.summary.from, fold(k.str));
      case Kind::to: return contains(e_.summary.to, fold(k.str));
      case Kind::cc: return contains(e_.summary.cc, fold(k.str));
      case Kind::subject: return contains(e_.summary.subject, fold(k.str));
      case Kind::bcc: return contains(mime::header_values(raw(), "Bcc"), fold(k.str));
      case Kind::header: {
        std::vector<std::string> values = mime::header_value_list(raw(), k.str);
        if (k.str2.empty()) return !values.empty();
        std::string needle = fold(k.str2);
        return std::any_of(values.begin(), values.end(),
                           [&](const std::string& v) { return contains(v, needle); });
      }
      case Kind::body:
        if (ctx_.text_index)
          if (auto indexed = ctx_.text_index(k, m_)) return *indexed;
        return contains(body(), fold(k.str));
      case Kind::text: {
        if (ctx_.text_index)
          if (auto indexed = ctx_.text_index(k, m_)) return *indexed;
        std::string needle = fold(k.str);
        return contains(headers(), needle) || contains(body(), needle);
      }

      case Kind::not_: return k.children.size() == 1 && !eval(k.children[0]);
      case Kind::or_: return k.children.size() == 2 && (eval(k.children[0]) || eval(k.children[1]));
      case Kind::and_:
        for (const SearchKey& c : k.children)
          if (!eval(c)) return false;
        return true;
    }
    return false;
  }

 private:
  std::string_view raw() {
    if (!raw_fetched_) {
      raw_fetched_ = true;
      if (m_.raw) raw_ = m_.raw();
    }
    return raw_;
  }
  const std::string& body() {
    // raw() is the entry's trace + the stored message; the structure's offsets are the
    // stored message's. Headers (HEADER, BCC, TEXT) are searched with the trace in it.
    if (!body_) {
      std::string_view r = raw();
      body_ = mime::extract_text(r.substr(std::min(e_.trace.size(), r.size())), e_.summary.body_structure);
    }
    return *body_;
  }
  const std::string& headers() {
    if (!headers_) headers_ = mime::header_text(raw());
    return *headers_;
  }

  const SearchMessage& m_;
  const MailboxEntry& e_;
  const SearchContext& ctx_;
  bool raw_fetched_ = false;
  std::string_view raw_;
  std::optional<std::string> body_;
  std::optional<std::string> headers_;
};

// ---- Threading ----------------------------------------------------------------------

// Message ids ("<...>") of a References or In-Reply-To value, in order. A hostile
// References header can list tens of thousands; only the last kMaxReferences count (the
// nearest ancestors), which bounds the loop checks of the linking step.
constexpr size_t kMaxReferences = 1000;

std::vector<std::string> message_ids(std::string_view v) {
  std::vector<std::string> out;
  size_t pos = 0;
  while ((pos = v.find('<', pos)) != std::string_view::npos) {
    size_t end = v.find('>', pos + 1);
    if (end == std::string_view::npos) break;
    std::string id;
    for (char c : v.substr(pos + 1, end - pos - 1))
      if (c != ' ' && c != '\t' && c != '\r' && c != '\n') id.push_back(c);
    if (!id.empty() && id.find('<') == std::string::npos) out.push_back(std::move(id));
    pos = end + 1;
  }
  if (out.size() > kMaxReferences) out.erase(out.begin(), out.end() - kMaxReferences);
  return out;
}

struct Container {
  int msg = -1;     // index into msgs; -1 for a dummy
  int parent = -1;
  std::vector<int> children;
};

class Threader {
 public:
  Threader(std::span<const SearchMessage> msgs, bool uid) : msgs_(msgs), uid_(uid) {}

  std::string references() {
    build_links();                 // step 1
    std::vector<int> roots;        // step 2
    for (size_t i = 0; i < nodes_.size(); ++i)
      if (nodes_[i].parent < 0) roots.push_back(static_cast<int>(i));
    ids_.clear();                  // step 3
    roots = prune(roots);          // step 4
    sort_siblings(roots);          // step 5
    roots = group_by_subject(roots);  // step 6
    sort_siblings(roots);          // step 7
    std::string out;               // step 8
    for (int r : roots) render(r, out);
    return out;
  }

  std::string ordered_subject() {
    struct Item {
      std::string subject;
      UnixTime date;
      uint32_t seq;
      int msg;
    };
    std::vector<Item> items;
    items.reserve(msgs_.size());
    for (size_t i = 0; i < msgs_.size(); ++i) {
      const MailboxEntry& e = entry_of(msgs_[i]);
      items.push_back({sort_key(base_subject(e.summary.subject)), sent_time(e), msgs_[i].seq,
                       static_cast<int>(i)});
    }
    std::sort(items.begin(), items.end(), [](const Item& a, const Item& b) {
      if (a.subject != b.subject) return a.subject < b.subject;
      if (a.date != b.date) return a.date < b.date;
      return a.seq < b.seq;
    });
    // One thread per subject: the first message the parent, the others its children.
    std::vector<std::pair<size_t, size_t>> threads;  // [begin, end) in items
    for (size_t i = 0; i < items.size();) {
      size_t j = i + 1;
      while (j < items.size() && items[j].subject == items[i].subject) ++j;
      threads.emplace_back(i, j);
      i = j;
    }
    std::sort(threads.begin(), threads.end(), [&](const auto& a, const auto& b) {
      const Item& x = items[a.first];
      const Item& y = items[b.first];
      if (x.date != y.date) return x.date < y.date;
      return x.seq < y.seq;
    });
    std::string out;
    for (auto [b, e] : threads) {
      out += '(';
      out += id(items[b].msg);
      if (e - b == 2) {
        out += ' ';
        out += id(items[b + 1].msg);
      } else if (e - b > 2) {
        out += ' ';
        for (size_t k = b + 1; k < e; ++k) out += "(" + id(items[k].msg) + ")";
      }
      out += ')';
    }
    return out;
  }

 private:
  const MailboxEntry& entry(int msg) const { return entry_of(msgs_[static_cast<size_t>(msg)]); }

  std::string id(int msg) const {
    const SearchMessage& m = msgs_[static_cast<size_t>(msg)];
    return std::to_string(uid_ ? entry_of(m).uid : m.seq);
  }

  int add_node(int msg) {
    nodes_.push_back(Container{msg, -1, {}});
    return static_cast<int>(nodes_.size() - 1);
  }

  int container_for(const std::string& mid) {
    auto it = ids_.find(mid);
    if (it != ids_.end()) return it->second;
    int c = add_node(-1);
    ids_.emplace(mid, c);
    return c;
  }

  // Is `a` the same as `b` or one of its ancestors? A container without children is no
  // one's ancestor, which keeps long reply chains linear.
  bool is_ancestor(int a, int b) const {
    if (a == b) return true;
    if (nodes_[static_cast<size_t>(a)].children.empty()) return false;
    for (int x = b; x >= 0; x = nodes_[static_cast<size_t>(x)].parent)
      if (x == a) return true;
    return false;
  }

  void link(int parent, int child) {
    nodes_[static_cast<size_t>(child)].parent = parent;
    nodes_[static_cast<size_t>(parent)].children.push_back(child);
  }

  void unlink(int child) {
    int p = nodes_[static_cast<size_t>(child)].parent;
    if (p < 0) return;
    auto& kids = nodes_[static_cast<size_t>(p)].children;
    kids.erase(std::find(kids.begin(), kids.end(), child));
    nodes_[static_cast<size_t>(child)].parent = -1;
  }

  // Step 1 (RFC 5256 §2.2 REFERENCES, after jwz).
  void build_links() {
    // In mailbox order, so that of two messages with the same Message-ID the first keeps it.
    std::vector<int> order(msgs_.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int>(i);
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
      return msgs_[static_cast<size_t>(a)].seq < msgs_[static_cast<size_t>(b)].seq;
    });
    for (int i : order) {
      const MessageSummary& s = entry(i).summary;
      // A. This message's container; a duplicate Message-ID counts as none.
      int c = -1;
      if (!s.message_id.empty()) {
        auto it = ids_.find(s.message_id);
        if (it == ids_.end()) {
          c = add_node(i);
          ids_.emplace(s.message_id, c);
        } else if (nodes_[static_cast<size_t>(it->second)].msg < 0) {
          c = it->second;
          nodes_[static_cast<size_t>(c)].msg = i;
        }
      }
      if (c < 0) c = add_node(i);
      // B. Chain the references, keeping links already made and never making a loop.
      std::vector<std::string> refs = message_ids(s.references);
      if (refs.empty()) {
        refs = message_ids(s.in_reply_to);
        if (refs.size() > 1) refs.resize(1);
      }
      int prev = -1;
      for (const std::string& r : refs) {
        int cur = container_for(r);
        if (prev >= 0 && nodes_[static_cast<size_t>(cur)].parent < 0 && !is_ancestor(cur, prev))
          link(prev, cur);
        prev = cur;
      }
      // C. The last reference is the parent; our own References beat what others implied.
      unlink(c);
      if (prev >= 0 && !is_ancestor(c, prev)) link(prev, c);
    }
  }

  // Step 4: drops dummies without children and promotes the children of the others, except
  // that a dummy with several children stays at the top level. Bottom-up, without
  // recursion (a chain of replies can be thousands deep).
  std::vector<int> prune(const std::vector<int>& roots) {
    std::vector<int> order;
    std::vector<int> stack(roots.begin(), roots.end());
    while (!stack.empty()) {
      int x = stack.back();
      stack.pop_back();
      order.push_back(x);
      for (int ch : nodes_[static_cast<size_t>(x)].children) stack.push_back(ch);
    }
    auto pruned = [&](const std::vector<int>& kids, int parent, bool top) {
      std::vector<int> out;
      for (int ch : kids) {
        Container& n = nodes_[static_cast<size_t>(ch)];
        if (n.msg >= 0 || (top && n.children.size() > 1)) {
          out.push_back(ch);
          continue;
        }
        for (int g : n.children) {  // promote (possibly none)
          nodes_[static_cast<size_t>(g)].parent = parent;
          out.push_back(g);
        }
        n.children.clear();
      }
      return out;
    };
    for (size_t k = order.size(); k-- > 0;) {
      int x = order[k];
      nodes_[static_cast<size_t>(x)].children = pruned(nodes_[static_cast<size_t>(x)].children, x, false);
    }
    return pruned(roots, -1, true);
  }

  // The date a container sorts by: its message's, or for a dummy its first child's.
  std::pair<UnixTime, uint32_t> sort_date(int c) const {
    const Container& n = nodes_[static_cast<size_t>(c)];
    if (n.msg < 0) {
      if (n.children.empty()) return {0, 0};
      return sort_date(n.children.front());  // children of a dummy are messages
    }
    return {sent_time(entry(n.msg)), msgs_[static_cast<size_t>(n.msg)].seq};
  }

  // Steps 5 and 7: every set of siblings by sent date, children before their parents'
  // level so a dummy's first child is known when the top level is sorted.
  void sort_siblings(std::vector<int>& roots) {
    auto by_date = [&](int a, int b) { return sort_date(a) < sort_date(b); };
    for (Container& n : nodes_)
      if (n.msg >= 0) std::stable_sort(n.children.begin(), n.children.end(), by_date);
    for (Container& n : nodes_)
      if (n.msg < 0) std::stable_sort(n.children.begin(), n.children.end(), by_date);
    std::stable_sort(roots.begin(), roots.end(), by_date);
  }

  // The subject a top-level container is grouped by: its own, or its first child's.
  std::string group_subject(int c, bool* reply) const {
    const Container& n = nodes_[static_cast<size_t>(c)];
    int m = n.msg;
    if (m < 0 && !n.children.empty()) m = nodes_[static_cast<size_t>(n.children.front())].msg;
    if (m < 0) {
      *reply = false;
      return {};
    }
    return fold(base_subject_of(entry(m).summary.subject, reply));
  }

  // Step 6: top-level threads with the same base subject are gathered.
  std::vector<int> group_by_subject(std::vector<int> roots) {
    std::unordered_map<std::string, int> table;
    auto dummy = [&](int c) { return nodes_[static_cast<size_t>(c)].msg < 0; };
    std::vector<std::string> subj(roots.size());
    std::unordered_map<int, bool> is_reply;  // container -> its subject was a reply
    for (size_t i = 0; i < roots.size(); ++i) {
      bool r = false;
      subj[i] = group_subject(roots[i], &r);
      is_reply[roots[i]] = r;
      if (subj[i].empty()) continue;
      auto [it, inserted] = table.emplace(subj[i], roots[i]);
      if (inserted) continue;
      int old = it->second;
      if ((dummy(roots[i]) && !dummy(old)) || (is_reply[old] && !r)) it->second = roots[i];
    }
    // Where each container sits in `roots` (-1: no longer at the top).
    std::unordered_map<int, size_t> slot;
    for (size_t i = 0; i < roots.size(); ++i) slot[roots[i]] = i;
    auto remove_top = [&](int c) {
      roots[slot[c]] = -1;
      slot.erase(c);
    };
    auto adopt = [&](int parent, int child) {
      nodes_[static_cast<size_t>(child)].parent = parent;
      nodes_[static_cast<size_t>(parent)].children.push_back(child);
    };
    for (size_t i = 0; i < roots.size(); ++i) {
      int c = roots[i];
      if (c < 0 || subj[i].empty()) continue;
      int t = table[subj[i]];
      if (t == c) continue;
      if (dummy(t) && dummy(c)) {
        for (int ch : nodes_[static_cast<size_t>(c)].children) adopt(t, ch);
        nodes_[static_cast<size_t>(c)].children.clear();
        remove_top(c);
      } else if (dummy(t)) {
        remove_top(c);
        adopt(t, c);
      } else if (dummy(c)) {
        remove_top(t);
        adopt(c, t);
        table[subj[i]] = c;
      } else if (!is_reply[t] && is_reply[c]) {
        remove_top(c);
        adopt(t, c);
      } else if (is_reply[t] && !is_reply[c]) {
        remove_top(t);
        adopt(c, t);
        table[subj[i]] = c;
      } else {
        int d = add_node(-1);
        size_t at = slot[t];
        remove_top(c);
        slot.erase(t);
        roots[at] = d;
        slot[d] = at;
        adopt(d, t);
        adopt(d, c);
        is_reply[d] = is_reply[t];
        table[subj[i]] = d;
      }
    }
    std::vector<int> out;
    for (int r : roots)
      if (r >= 0) out.push_back(r);
    return out;
  }

  // Step 8: "(3 6 (4 23)(44 7 96))". Iterative, for the same reason as prune().
  void render(int root, std::string& out) const {
    using Item = std::variant<int, const char*>;
    std::vector<Item> stack{Item{")"}, Item{root}, Item{"("}};
    while (!stack.empty()) {
      Item item = stack.back();
      stack.pop_back();
      if (const char* const* lit = std::get_if<const char*>(&item)) {
        out += *lit;
        continue;
      }
      const Container& n = nodes_[static_cast<size_t>(std::get<int>(item))];
      if (n.msg >= 0) out += id(n.msg);
      if (n.children.empty()) continue;
      if (n.msg >= 0) out += ' ';
      if (n.children.size() == 1 && n.msg >= 0) {
        stack.push_back(n.children.front());
        continue;
      }
      for (size_t k = n.children.size(); k-- > 0;) {
        stack.push_back(")");
        stack.push_back(n.children[k]);
        stack.push_back("(");
      }
    }
  }

  std::span<const SearchMessage> msgs_;
  bool uid_;
  std::vector<Container> nodes_;
  std::unordered_map<std::string, int> ids_;
};

}  // namespace

void resolve_sets(SearchKey& key, uint32_t max_seq, Uid max_uid) {
  if ((key.kind == Kind::seqset || key.kind == Kind::uid) && !key.set.saved && !key.set.resolved) {
    const uint32_t star = key.kind == Kind::seqset ? max_seq : max_uid;
    std::vector<SeqRange>& rs = key.set.ranges;
    for (SeqRange& r : rs) {
      if (r.first == SeqRange::kStar) r.first = star;
      if (r.last == SeqRange::kStar) r.last = star;
      if (r.first > r.last) std::swap(r.first, r.last);
    }
    std::sort(rs.begin(), rs.end(), [](const SeqRange& a, const SeqRange& b) { return a.first < b.first; });
    size_t merged = 0;
    for (const SeqRange& r : rs) {
      // Adjacent ranges merge too ("1:3,4:6"); last + 1 cannot overflow past a first.
      if (merged > 0 && uint64_t{r.first} <= uint64_t{rs[merged - 1].last} + 1)
        rs[merged - 1].last = std::max(rs[merged - 1].last, r.last);
      else
        rs[merged++] = r;
    }
    rs.resize(merged);
    rs.shrink_to_fit();
    key.set.resolved = true;
  }
  for (SearchKey& c : key.children) resolve_sets(c, max_seq, max_uid);
}

bool needs_raw(const SearchKey& key) {
  switch (key.kind) {
    case Kind::bcc:
    case Kind::header:
    case Kind::body:
    case Kind::text:
      return true;
    default:
      break;
  }
  return std::any_of(key.children.begin(), key.children.end(),
                     [](const SearchKey& c) { return needs_raw(c); });
}

bool matches(const SearchKey& key, const SearchMessage& m, const SearchContext& ctx) {
  if (m.entry == nullptr) return false;
  Evaluator ev(m, ctx);
  return ev.eval(key);
}

std::string base_subject(std::string_view subject) { return base_subject_of(subject, nullptr); }

std::vector<size_t> sort_messages(std::span<const SearchArgs::SortCriterion> criteria,
                                  std::span<const SearchMessage> msgs) {
  // The string keys, computed once per message and only for the criteria asked for.
  struct Keys {
    std::string from, to, cc, subject, display_from, display_to;
  };
  auto wants = [&](SortKey k) {
    return std::any_of(criteria.begin(), criteria.end(),
                       [&](const auto& c) { return c.key == k; });
  };
  std::vector<Keys> keys(msgs.size());
  for (size_t i = 0; i < msgs.size(); ++i) {
    const MessageSummary& s = entry_of(msgs[i]).summary;
    if (wants(SortKey::from)) keys[i].from = sort_mailbox(s.from);
    if (wants(SortKey::to)) keys[i].to = sort_mailbox(s.to);
    if (wants(SortKey::cc)) keys[i].cc = sort_mailbox(s.cc);
    if (wants(SortKey::subject)) keys[i].subject = sort_key(base_subject(s.subject));
    if (wants(SortKey::displayfrom)) keys[i].display_from = sort_display(s.from);
    if (wants(SortKey::displayto)) keys[i].display_to = sort_display(s.to);
  }
  auto cmp = [](const auto& a, const auto& b) { return a < b ? -1 : (b < a ? 1 : 0); };
  auto compare = [&](size_t a, size_t b, SortKey k) -> int {
    const MailboxEntry& x = entry_of(msgs[a]);
    const MailboxEntry& y = entry_of(msgs[b]);
    switch (k) {
      case SortKey::arrival: return cmp(x.internal_date, y.internal_date);
      case SortKey::date: return cmp(sent_time(x), sent_time(y));
      case SortKey::size: return cmp(x.size, y.size);
      case SortKey::from: return cmp(keys[a].from, keys[b].from);
      case SortKey::to: return cmp(keys[a].to, keys[b].to);
      case SortKey::cc: return cmp(keys[a].cc, keys[b].cc);
      case SortKey::subject: return cmp(keys[a].subject, keys[b].subject);
      case SortKey::displayfrom: return cmp(keys[a].display_from, keys[b].display_from);
      case SortKey::displayto: return cmp(keys[a].display_to, keys[b].display_to);
    }
    return 0;
  };
  std::vector<size_t> order(msgs.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    for (const auto& c : criteria) {
      int r = compare(a, b, c.key);
      if (r != 0) return c.reverse ? r > 0 : r < 0;
    }
    // RFC 5256: exact ties keep mailbox order, whatever REVERSE said.
    if (msgs[a].seq != msgs[b].seq) return msgs[a].seq < msgs[b].seq;
    return a < b;
  });
  return order;
}

std::string thread_messages(std::string_view algorithm, std::span<const SearchMessage> msgs,
                            bool uid) {
  auto upper_eq = [](std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i)
      if (static_cast<char>(std::toupper(static_cast<unsigned char>(a[i]))) != b[i]) return false;
    return true;
  };
  Threader t(msgs, uid);
  if (upper_eq(algorithm, "REFERENCES")) return t.references();
  if (upper_eq(algorithm, "ORDEREDSUBJECT")) return t.ordered_subject();
  return {};
}

}  // namespace caremail::imap

// SEARCH / UID SEARCH (RFC 9051 §6.4.4, ESEARCH RFC 4731, SEARCHRES RFC 5182, MODSEQ
// RFC 7162), SORT and THREAD (RFC 5256), ESORT, PARTIAL and CONTEXT=SEARCH (RFC 5267:
// SEARCH RETURN (UPDATE) and CANCELUPDATE). The criteria are evaluated by imap/search.cpp
// over the store's entries (flags from the session's view, so a search agrees with what
// the client was told); the raw message is read only for criteria that need it.
#include <algorithm>
#include <cstdlib>
#include <iterator>
#include <span>
#include <unordered_map>
#include <unordered_set>

#include "imap/render.hpp"
#include "imap/search.hpp"
#include "imap/session.hpp"

namespace caremail::imap {

namespace {

// The most searches one session keeps up to date (RFC 5267 lets a server refuse more
// with NOUPDATE): each is evaluated again after every command that changed the mailbox.
constexpr size_t kMaxUpdates = 16;

// Ascending numbers as a sequence-set: "1:3,5".
std::string set_text(std::vector<uint32_t> v) {
  std::sort(v.begin(), v.end());
  std::string set;
  for (size_t i = 0; i < v.size();) {
    size_t j = i;
    while (j + 1 < v.size() && v[j + 1] == v[j] + 1) ++j;
    if (!set.empty()) set += ',';
    set += std::to_string(v[i]);
    if (j > i) set += ':' + std::to_string(v[j]);
    i = j + 1;
  }
  return set;
}

// Numbers in the order given (ESORT, RFC 5267 §3.2): only ascending runs become ranges,
// since "3:1" would name the same set as "1:3" and lose the order.
std::string ordered_text(std::span<const uint32_t> v) {
  std::string out;
  for (size_t i = 0; i < v.size();) {
    size_t j = i;
    while (j + 1 < v.size() && v[j + 1] == v[j] + 1) ++j;
    if (!out.empty()) out += ',';
    out += std::to_string(v[i]);
    if (j > i) out += ':' + std::to_string(v[j]);
    i = j + 1;
  }
  return out;
}

bool uses_modseq(const SearchKey& k) {
  if (k.kind == SearchKey::Kind::modseq) return true;
  for (const auto& ch : k.children)
    if (uses_modseq(ch)) return true;
  return false;
}

// What the store must supply for `k`: summaries (decoded headers, Date), entries (size,
// dates, blob id), or only each entry's flags, keywords and modseq (Store::list_flags: a
// client's "UID SEARCH UNSEEN" in a 100,000-message mailbox reads no message row). UID and
// sequence criteria need none of them.
void needs_of(const SearchKey& k, bool& summary, bool& entry, bool& flags) {
  using K = SearchKey::Kind;
  switch (k.kind) {
    case K::from: case K::to: case K::cc: case K::subject:
    case K::sentbefore: case K::senton: case K::sentsince:
      summary = entry = true;
      break;
    case K::all: case K::seqset: case K::uid: case K::and_: case K::or_: case K::not_:
      break;
    case K::answered: case K::deleted: case K::draft: case K::flagged: case K::keyword: case K::new_:
    case K::old: case K::recent: case K::seen: case K::unanswered: case K::undeleted: case K::undraft:
    case K::unflagged: case K::unkeyword: case K::unseen: case K::modseq:
      flags = true;
      break;
    default:
      entry = true;
      break;
  }
  for (const auto& ch : k.children) needs_of(ch, summary, entry, flags);
}

struct Found {
  std::optional<Error> error;
  std::vector<uint32_t> seqs;   // the matches in result order (SORT: sorted; else ascending)
  std::vector<Uid> uids;        // the same, as UIDs
  std::vector<ModSeq> modseqs;   // the same, their modseqs
  ModSeq max_modseq = 0;
  std::string thread;           // THREAD result
};

// Runs SEARCH (or SORT, THREAD) over the view as the client knows it.
Found run_search(Session& s, Verb verb, bool by_uid, const SearchArgs& args) {
  Found f;
  View& v = s.view();
  bool want_summary = verb != Verb::search, want_entry = want_summary, want_flags = false;
  needs_of(args.key, want_summary, want_entry, want_flags);
  Result<std::vector<MailboxEntry>> listed = std::vector<MailboxEntry>{};
  if (want_entry) {
    listed = s.mail().list(*s.user, v.mailbox.id, UidRange{}, want_summary);
  } else if (want_flags) {
    listed = s.mail().list_flags(*s.user, v.mailbox.id);
  } else {
    // UIDs and sequence numbers only: the view answers without the store.
    listed->reserve(v.uids.size());
    for (size_t i = 0; i < v.uids.size(); ++i) {
      MailboxEntry e;
      e.uid = v.uids.at(i);
      listed->push_back(std::move(e));
    }
  }
  if (!listed) {
    f.error = listed.error();
    return f;
  }
  const size_t n = v.uids.size();
  std::vector<std::string> raws(n);
  std::vector<char> loaded(n, 0);
  std::vector<SearchMessage> msgs;
  msgs.reserve(listed->size());
  MailService& mail = s.mail();
  const Principal& p = *s.user;
  MailboxId id = v.mailbox.id;
  for (auto& e : *listed) {
    // Messages the client has not been told about yet are not searched (their numbers
    // do not exist for it); nor are those expunged elsewhere and not yet announced.
    size_t i = v.uids.find(e.uid);
    if (i == UidList::npos || v.is_gone(e.uid)) continue;
    SearchMessage sm;
    sm.seq = static_cast<uint32_t>(i + 1);
    sm.entry = &e;
    sm.recent = v.is_recent(e.uid);  // \Recent in this session (RECENT, NEW, OLD)
    Uid uid = e.uid;
    sm.raw = [&raws, &loaded, i, &mail, &p, id, uid]() -> std::string_view {
      if (!loaded[i]) {
        loaded[i] = 1;
        auto r = mail.fetch(p, id, uid);
        if (r) raws[i] = std::move(r).value();
      }
      return raws[i];
    };
    msgs.push_back(std::move(sm));
  }
  SearchContext ctx;
  ctx.max_seq = static_cast<uint32_t>(v.uids.size());
  ctx.max_uid = v.uids.back();
  ctx.saved = v.saved;
  ctx.now = static_cast<UnixTime>(::time(nullptr));
  // Sequence sets as sorted, merged intervals: one binary search per message and set.
  SearchKey key = args.key;
  resolve_sets(key, ctx.max_seq, ctx.max_uid);
  // BODY/TEXT from the full-text index: one index query per distinct criterion; messages
  // the index does not hold yet are scanned and queued for indexing.
  FullTextIndex* fts = mail.index();
  std::optional<std::unordered_set<std::string>> indexed;
  std::unordered_map<const SearchKey*, std::optional<std::unordered_set<std::string>>> answers;
  std::unordered_set<std::string> requeued;
  if (fts) {
    ctx.text_index = [&](const SearchKey& k, const SearchMessage& m) -> std::optional<bool> {
      if (!indexed) indexed = fts->indexed(v.mailbox.account_id);
      const std::string& blob = m.entry->blob_id;
      if (!indexed->count(blob)) {
        if (requeued.insert(blob).second) fts->enqueue(v.mailbox.account_id, blob);
        return std::nullopt;
      }
      auto it = answers.find(&k);
      if (it == answers.end())
        it = answers.emplace(&k, fts->match(v.mailbox.account_id, k.str, k.kind == SearchKey::Kind::body)).first;
      if (!it->second) return std::nullopt;
      return it->second->count(blob) > 0;
    };
  }
  std::vector<SearchMessage> hits;
  for (size_t k = 0; k < msgs.size(); ++k)
    if (matches(key, msgs[k], ctx)) hits.push_back(msgs[k]);
  if (verb == Verb::thread) {
    f.thread = thread_messages(args.thread_algorithm, hits, by_uid);
    return f;
  }
  std::vector<size_t> order(hits.size());
  for (size_t k = 0; k < hits.size(); ++k) order[k] = k;
  if (verb == Verb::sort) order = sort_messages(args.sort, hits);
  for (size_t k : order) {
    f.seqs.push_back(hits[k].seq);
    f.uids.push_back(hits[k].entry->uid);
    f.modseqs.push_back(hits[k].entry->modseq);
    f.max_modseq = std::max(f.max_modseq, hits[k].entry->modseq);
  }
  return f;
}

// The positions first..last (1-based; negative: from the end, RFC 9394) of `n` results as
// a [begin, end) slice.
std::pair<size_t, size_t> partial_slice(std::pair<int64_t, int64_t> range, size_t n) {
  auto [a, b] = range;
  if (a > b) std::swap(a, b);
  const auto count = static_cast<int64_t>(n);
  int64_t lo, hi;  // 0-based, inclusive
  if (a > 0) {
    lo = a - 1;
    hi = b - 1;
  } else {  // "-1:-3" is the last three: -3 .. -1
    lo = count + a;
    hi = count + b;
  }
  lo = std::max<int64_t>(lo, 0);
  hi = std::min<int64_t>(hi, count - 1);
  if (lo > hi) return {0, 0};
  return {static_cast<size_t>(lo), static_cast<size_t>(hi + 1)};
}

// The ESEARCH response for one result (RFC 4731, ESORT and PARTIAL of RFC 5267).
// `numbers`: in result order (a SORT's order, else ascending).
std::string esearch_line(const std::string& tag, bool uid, bool sort, const SearchArgs& a,
                         const std::vector<uint32_t>& numbers, std::optional<ModSeq> modseq) {
  bool none = !a.ret_min && !a.ret_max && !a.ret_count && !a.ret_all && !a.ret_save && !a.ret_update &&
              !a.ret_partial;
  bool all = a.ret_all || none;
  std::string line = "ESEARCH (TAG ";
  append_string(line, tag, true);
  line += ")";
  if (uid) line += " UID";
  if (!numbers.empty()) {
    // SORT: the first and last in sort order (as Dovecot); SEARCH: the lowest and highest.
    uint32_t lo = numbers.front(), hi = numbers.back();
    if (!sort) {
      auto [l, h] = std::minmax_element(numbers.begin(), numbers.end());
      lo = *l;
      hi = *h;
    }
    if (a.ret_min) line += " MIN " + std::to_string(lo);
    if (a.ret_max) line += " MAX " + std::to_string(hi);
  }
  if (all && !numbers.empty()) line += " ALL " + (sort ? ordered_text(numbers) : set_text(numbers));
  if (a.ret_count) line += " COUNT " + std::to_string(numbers.size());
  if (a.ret_partial) {
    auto [b, e] = partial_slice(*a.ret_partial, numbers.size());
    auto [x, y] = *a.ret_partial;
    if (std::abs(x) > std::abs(y)) std::swap(x, y);  // "4:2" is echoed "2:4" (as Dovecot)
    line += " PARTIAL (" + std::to_string(x) + ':' + std::to_string(y) + ' ';
    std::span<const uint32_t> slice(numbers.data() + b, e - b);
    line += slice.empty() ? std::string("NIL") : (sort ? ordered_text(slice) : set_text({slice.begin(), slice.end()}));
    line += ')';
  }
  if (modseq) line += " MODSEQ " + std::to_string(*modseq);
  return line;
}

// The MODSEQ of an ESEARCH response (RFC 7162 §3.1.5): the highest mod-sequence of the
// messages it returns. With ALL or COUNT (or no option, meaning ALL) that is every match;
// with only MIN, MAX and/or PARTIAL, only the messages those name.
ModSeq returned_modseq(const SearchArgs& a, bool sort, const Found& f) {
  bool everything = a.ret_all || a.ret_count || (!a.ret_min && !a.ret_max && !a.ret_partial);
  if (everything || f.seqs.empty()) return f.max_modseq;
  ModSeq out = 0;
  // MIN/MAX: the lowest/highest number (SEARCH) or the first/last in sort order (SORT).
  size_t lo = 0, hi = f.seqs.size() - 1;
  if (!sort) {
    lo = static_cast<size_t>(std::min_element(f.seqs.begin(), f.seqs.end()) - f.seqs.begin());
    hi = static_cast<size_t>(std::max_element(f.seqs.begin(), f.seqs.end()) - f.seqs.begin());
  }
  if (a.ret_min) out = std::max(out, f.modseqs[lo]);
  if (a.ret_max) out = std::max(out, f.modseqs[hi]);
  if (a.ret_partial) {
    auto [b, e] = partial_slice(*a.ret_partial, f.seqs.size());
    for (size_t i = b; i < e; ++i) out = std::max(out, f.modseqs[i]);
  }
  return out != 0 ? out : f.max_modseq;
}

boost::asio::awaitable<void> cancel_update(Session& s, Command& c) {
  auto& ups = s.view().updates;
  for (const std::string& tag : c.search.cancel_tags) {
    auto it = std::find_if(ups.begin(), ups.end(), [&](const SearchUpdate& u) { return u.tag == tag; });
    if (it == ups.end()) {
      s.no(c, "Unknown search tag: no search with that tag is being updated");
      co_return;
    }
  }
  std::erase_if(ups, [&](const SearchUpdate& u) {
    return std::find(c.search.cancel_tags.begin(), c.search.cancel_tags.end(), u.tag) != c.search.cancel_tags.end();
  });
  s.ok(c, "CANCELUPDATE completed");
}

}  // namespace

boost::asio::awaitable<void> cmd_search(Session& s, Command& c) {
  if (c.verb == Verb::cancelupdate) {
    co_await cancel_update(s, c);
    co_return;
  }
  const SearchArgs& a = c.search;
  std::string charset = a.charset;
  std::transform(charset.begin(), charset.end(), charset.begin(), [](unsigned char ch) { return std::toupper(ch); });
  if (!charset.empty() && charset != "UTF-8" && charset != "US-ASCII") {
    s.no(c, "[BADCHARSET (UTF-8 US-ASCII)] Only UTF-8 and US-ASCII are supported");
    co_return;
  }
  if (c.verb == Verb::thread && a.thread_algorithm != "REFERENCES" && a.thread_algorithm != "ORDEREDSUBJECT") {
    s.bad(c, "Unknown threading algorithm; use REFERENCES or ORDEREDSUBJECT");
    co_return;
  }
  if (a.ret_update && std::any_of(s.view().updates.begin(), s.view().updates.end(),
                                  [&](const SearchUpdate& u) { return u.tag == c.tag; })) {
    s.bad(c, "A search with this tag is already being updated (RFC 5267 §4.2)");
    co_return;
  }
  if (uses_modseq(a.key)) s.enable_condstore();  // RFC 7162 3.1: an enabling command
  Verb verb = c.verb;
  bool uid = c.uid;
  auto job = [&s, verb, uid, &a]() { return run_search(s, verb, uid, a); };
  Found f = co_await s.blocking(std::move(job));
  if (f.error) {
    s.no(c, *f.error);
    co_return;
  }
  const char* done = c.verb == Verb::sort ? "SORT completed" : c.verb == Verb::thread ? "THREAD completed" : "SEARCH completed";
  if (c.verb == Verb::thread) {
    s.untagged("THREAD " + f.thread);
    s.ok(c, done);
    co_return;
  }
  const std::vector<uint32_t>& numbers = c.uid ? f.uids : f.seqs;
  bool modseq = uses_modseq(a.key) && !numbers.empty();
  // IMAP4rev2 has no SEARCH response: a rev2 client always gets ESEARCH (RFC 9051 §6.4.4).
  SearchArgs rev2_args;
  const SearchArgs* args = &a;
  if (!a.esearch && s.rev2 && c.verb == Verb::search) {
    rev2_args = a;
    rev2_args.esearch = true;
    rev2_args.ret_all = true;
    args = &rev2_args;
  }
  if (args->esearch) {
    const SearchArgs& r = *args;
    if (r.ret_save) {
      // SAVE keeps UIDs; with MIN/MAX only those (RFC 5182 §2.4).
      std::vector<Uid> saved;
      if ((r.ret_min || r.ret_max) && !r.ret_all && !r.ret_count) {
        if (!f.uids.empty()) {
          auto [lo, hi] = std::minmax_element(f.uids.begin(), f.uids.end());
          if (r.ret_min) saved.push_back(*lo);
          if (r.ret_max && *hi != (r.ret_min ? *lo : 0)) saved.push_back(*hi);
        }
      } else {
        saved = f.uids;
      }
      std::sort(saved.begin(), saved.end());
      s.view().saved = std::move(saved);
    }
    bool only_save = r.ret_save && !r.ret_min && !r.ret_max && !r.ret_count && !r.ret_all && !r.ret_update &&
                     !r.ret_partial;
    if (!only_save)
      s.untagged(esearch_line(c.tag, c.uid, c.verb == Verb::sort, r, numbers,
                              modseq ? std::optional<ModSeq>(returned_modseq(r, c.verb == Verb::sort, f))
                                     : std::nullopt));
    if (r.ret_update) {
      // SORT results are not kept in order (CONTEXT=SORT is not offered), and a session
      // keeps at most kMaxUpdates searches current.
      View& v = s.view();
      if (v.updates.size() >= kMaxUpdates) {
        // An untagged NO refuses only the UPDATE; the rest stands (RFC 5267 §4.3.1).
        std::string no = "NO [NOUPDATE ";
        append_string(no, c.tag, true);
        no += "] Too many searches kept up to date; CANCELUPDATE one";
        s.untagged(no);
      } else {
        SearchUpdate u;
        u.tag = c.tag;
        u.uid = c.uid;
        u.sorted = c.verb == Verb::sort;
        u.args = r;
        u.result = f.uids;
        if (!u.sorted) std::sort(u.result.begin(), u.result.end());
        u.at_modseq = v.mailbox.highest_modseq;
        u.at_exists = v.uids.size();
        v.updates.push_back(std::move(u));
      }
    }
  } else {
    std::string line = c.verb == Verb::sort ? "SORT" : "SEARCH";
    for (uint32_t n : numbers) line += " " + std::to_string(n);
    if (modseq) line += " (MODSEQ " + std::to_string(f.max_modseq) + ")";
    s.untagged(line);
  }
  s.ok(c, std::string(c.uid ? "UID " : "") + done);
}

namespace {

// "* ESEARCH (TAG "t") [UID] WHAT (pos set pos set ...)" for one context.
void send_update(Session& s, const SearchUpdate& u, const char* what,
                 const std::vector<std::pair<uint32_t, std::vector<uint32_t>>>& pairs) {
  if (pairs.empty()) return;
  std::string line = "ESEARCH (TAG ";
  append_string(line, u.tag, true);
  line += std::string(")") + (u.uid ? " UID " : " ") + what + " (";
  for (size_t i = 0; i < pairs.size(); ++i) {
    if (i) line += ' ';
    line += std::to_string(pairs[i].first) + ' ';
    line += u.sorted ? ordered_text(pairs[i].second) : set_text(pairs[i].second);
  }
  line += ')';
  s.untagged(line);
}

// The number the client knows message `uid` by in this context.
uint32_t number_of(const View& v, const SearchUpdate& u, Uid uid) {
  return u.uid ? uid : static_cast<uint32_t>(v.uids.find(uid) + 1);
}

// REMOVEFROM pairs for the members of `u.result` that `gone` says are gone, and the result
// without them. A SEARCH context: one pair at position 0 (RFC 5267 §4.3.4 lets a SEARCH
// use 0), numbers in mailbox order. A SORT context: one pair per run of adjacent
// positions, the last run first, so that each position still holds when it is applied.
template <class Gone>
std::vector<std::pair<uint32_t, std::vector<uint32_t>>> removals(const View& v, SearchUpdate& u, Gone gone) {
  std::vector<std::pair<uint32_t, std::vector<uint32_t>>> pairs;
  std::vector<Uid> kept;
  kept.reserve(u.result.size());
  for (size_t i = 0; i < u.result.size(); ++i) {
    Uid x = u.result[i];
    if (!gone(x)) {
      kept.push_back(x);
      continue;
    }
    uint32_t n = number_of(v, u, x);
    if (!u.sorted) {
      if (pairs.empty()) pairs.emplace_back(0, std::vector<uint32_t>{});
      pairs[0].second.push_back(n);
    } else if (!pairs.empty() && i > 0 && gone(u.result[i - 1])) {
      pairs.back().second.push_back(n);  // continues the run
    } else {
      pairs.emplace_back(static_cast<uint32_t>(i + 1), std::vector<uint32_t>{n});
    }
  }
  if (u.sorted) std::reverse(pairs.begin(), pairs.end());
  u.result = std::move(kept);
  return pairs;
}

}  // namespace

void search_expunged(Session& s, const std::vector<Uid>& sorted) {
  View& v = s.view();
  for (SearchUpdate& u : v.updates) {
    auto pairs = removals(v, u, [&](Uid x) { return std::binary_search(sorted.begin(), sorted.end(), x); });
    send_update(s, u, "REMOVEFROM", pairs);
  }
}

boost::asio::awaitable<void> search_updates(Session& s) {
  if (!s.selected()) co_return;
  View& v = s.view();
  for (size_t k = 0; k < v.updates.size(); ++k) {
    if (v.updates[k].at_modseq == v.mailbox.highest_modseq && v.updates[k].at_exists == v.uids.size()) continue;
    const SearchArgs* args = &v.updates[k].args;
    Verb verb = v.updates[k].sorted ? Verb::sort : Verb::search;
    auto job = [&s, verb, args]() { return run_search(s, verb, false, *args); };
    Found f = co_await s.blocking(std::move(job));
    if (f.error) continue;  // try again after the next command
    SearchUpdate& u = v.updates[k];
    std::vector<Uid> now = std::move(f.uids);  // SORT: in sort order
    std::vector<Uid> now_sorted = now, old_sorted = u.result;
    std::sort(now_sorted.begin(), now_sorted.end());
    std::sort(old_sorted.begin(), old_sorted.end());
    auto in = [](const std::vector<Uid>& set, Uid x) { return std::binary_search(set.begin(), set.end(), x); };
    // Removed first, then added. A message's sort keys never change (dates, size,
    // addresses, subject; ties by sequence number, whose order expunges keep), so after the
    // removals the old members stand in their new relative order, and inserting the new
    // ones at their final positions, lowest first, gives the new order.
    send_update(s, u, "REMOVEFROM", removals(v, u, [&](Uid x) { return !in(now_sorted, x); }));
    std::vector<std::pair<uint32_t, std::vector<uint32_t>>> adds;
    for (size_t i = 0; i < now.size(); ++i) {
      if (in(old_sorted, now[i])) continue;
      uint32_t n = number_of(v, u, now[i]);
      if (!u.sorted) {
        if (adds.empty()) adds.emplace_back(0, std::vector<uint32_t>{});
        adds[0].second.push_back(n);
      } else if (!adds.empty() && i > 0 && !in(old_sorted, now[i - 1])) {
        adds.back().second.push_back(n);
      } else {
        adds.emplace_back(static_cast<uint32_t>(i + 1), std::vector<uint32_t>{n});
      }
    }
    send_update(s, u, "ADDTO", adds);
    u.result = std::move(now);
    if (!u.sorted) std::sort(u.result.begin(), u.result.end());
    u.at_modseq = v.mailbox.highest_modseq;
    u.at_exists = v.uids.size();
  }
}

}  // namespace caremail::imap

// SEARCH / UID SEARCH (RFC 9051 §6.4.4, ESEARCH RFC 4731, SEARCHRES RFC 5182, MODSEQ
// RFC 7162), SORT and THREAD (RFC 5256). The criteria are evaluated by imap/search.cpp
// over the store's entries (flags from the session's view, so a search agrees with what
// the client was told); the raw message is read only for criteria that need it.
#include <algorithm>
#include <unordered_map>
#include <unordered_set>

#include "imap/search.hpp"
#include "imap/session.hpp"

namespace caremail::imap {

namespace {

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

bool uses_modseq(const SearchKey& k) {
  if (k.kind == SearchKey::Kind::modseq) return true;
  for (const auto& ch : k.children)
    if (uses_modseq(ch)) return true;
  return false;
}

// What the store must supply for `k`: summaries (decoded headers, Date) and/or entries
// (flags, size, dates, blob id). Only UID and sequence criteria need neither.
void needs_of(const SearchKey& k, bool& summary, bool& entry) {
  using K = SearchKey::Kind;
  switch (k.kind) {
    case K::from: case K::to: case K::cc: case K::subject:
    case K::sentbefore: case K::senton: case K::sentsince:
      summary = entry = true;
      break;
    case K::all: case K::seqset: case K::uid: case K::and_: case K::or_: case K::not_:
      break;
    default:
      entry = true;
      break;
  }
  for (const auto& ch : k.children) needs_of(ch, summary, entry);
}

struct Found {
  std::optional<Error> error;
  std::vector<size_t> order;    // indices into msgs of the matches (SORT: sorted)
  std::vector<uint32_t> seqs;
  std::vector<Uid> uids;
  ModSeq max_modseq = 0;
  std::string thread;           // THREAD result
};

Found run_search(Session& s, const Command& c) {
  Found f;
  View& v = s.view();
  bool want_summary = c.verb != Verb::search, want_entry = want_summary;
  needs_of(c.search.key, want_summary, want_entry);
  Result<std::vector<MailboxEntry>> listed = std::vector<MailboxEntry>{};
  if (want_entry) {
    listed = s.mail().list(*s.user, v.mailbox.id, UidRange{}, want_summary);
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
    if (matches(c.search.key, msgs[k], ctx)) hits.push_back(msgs[k]);
  if (c.verb == Verb::thread) {
    f.thread = thread_messages(c.search.thread_algorithm, hits, c.uid);
    return f;
  }
  std::vector<size_t> order(hits.size());
  for (size_t k = 0; k < hits.size(); ++k) order[k] = k;
  if (c.verb == Verb::sort) order = sort_messages(c.search.sort, hits);
  for (size_t k : order) {
    f.seqs.push_back(hits[k].seq);
    f.uids.push_back(hits[k].entry->uid);
    f.max_modseq = std::max(f.max_modseq, hits[k].entry->modseq);
  }
  return f;
}

}  // namespace

boost::asio::awaitable<void> cmd_search(Session& s, Command& c) {
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
  if (uses_modseq(a.key)) s.enable_condstore();  // RFC 7162 3.1: an enabling command
  auto job = [&s, &c]() { return run_search(s, c); };
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
    const SearchArgs& a = *args;
    bool none = !a.ret_min && !a.ret_max && !a.ret_count && !a.ret_all && !a.ret_save;
    bool all = a.ret_all || none;
    if (a.ret_save) {
      // SAVE keeps UIDs; with MIN/MAX only those (RFC 5182 §2.4).
      std::vector<Uid> saved;
      if ((a.ret_min || a.ret_max) && !a.ret_all && !a.ret_count) {
        if (!f.uids.empty()) {
          auto [lo, hi] = std::minmax_element(f.uids.begin(), f.uids.end());
          if (a.ret_min) saved.push_back(*lo);
          if (a.ret_max && *hi != (a.ret_min ? *lo : 0)) saved.push_back(*hi);
        }
      } else {
        saved = f.uids;
      }
      std::sort(saved.begin(), saved.end());
      s.view().saved = std::move(saved);
    }
    bool only_save = a.ret_save && !a.ret_min && !a.ret_max && !a.ret_count && !a.ret_all;
    if (!only_save) {
      std::string line = "ESEARCH (TAG ";
      line += '"' + c.tag + '"';
      line += ")";
      if (c.uid) line += " UID";
      if (!numbers.empty()) {
        auto [lo, hi] = std::minmax_element(numbers.begin(), numbers.end());
        if (a.ret_min) line += " MIN " + std::to_string(*lo);
        if (a.ret_max) line += " MAX " + std::to_string(*hi);
      }
      if (a.ret_count) line += " COUNT " + std::to_string(numbers.size());
      if (all && !numbers.empty()) line += " ALL " + set_text(numbers);
      if (modseq) line += " MODSEQ " + std::to_string(f.max_modseq);
      s.untagged(line);
    }
  } else {
    std::string line = c.verb == Verb::sort ? "SORT" : "SEARCH";
    for (uint32_t n : numbers) line += " " + std::to_string(n);
    if (modseq) line += " (MODSEQ " + std::to_string(f.max_modseq) + ")";
    s.untagged(line);
  }
  s.ok(c, std::string(c.uid ? "UID " : "") + done);
}

}  // namespace caremail::imap

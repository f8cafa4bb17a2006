// STORE (RFC 9051 §6.4.6, UNCHANGEDSINCE of RFC 7162), COPY (§6.4.7, COPYUID of RFC 4315),
// MOVE (RFC 6851) and EXPUNGE / UID EXPUNGE (§6.4.3, RFC 4315), with and without UID.
#include <algorithm>

#include "imap/session.hpp"

namespace caremail::imap {

namespace {

std::string uid_set_text(std::vector<Uid> uids, bool sort = true) {
  if (sort) std::sort(uids.begin(), uids.end());
  std::string set;
  for (size_t i = 0; i < uids.size();) {
    size_t j = i;
    while (sort && j + 1 < uids.size() && uids[j + 1] == uids[j] + 1) ++j;
    if (!set.empty()) set += ',';
    set += std::to_string(uids[i]);
    if (j > i) set += ':' + std::to_string(uids[j]);
    i = j + 1;
  }
  return set;
}

// Keywords are atoms (RFC 9051 flag-keyword); the parser checked the syntax.
std::optional<std::string> parse_flags(const std::vector<std::string>& in, uint32_t& flags,
                                       std::vector<std::string>& keywords) {
  for (const auto& f : in) {
    if (!f.empty() && f[0] == '\\') {
      std::string up = f;
      std::transform(up.begin(), up.end(), up.begin(), [](unsigned char ch) { return std::tolower(ch); });
      if (up == "\\seen") flags |= kSeen;
      else if (up == "\\answered") flags |= kAnswered;
      else if (up == "\\flagged") flags |= kFlagged;
      else if (up == "\\deleted") flags |= kDeleted;
      else if (up == "\\draft") flags |= kDraft;
      else if (up == "\\recent") continue;  // session flag, never stored
      else return "Unknown system flag " + f;
    } else {
      keywords.push_back(f);
    }
  }
  std::sort(keywords.begin(), keywords.end());
  keywords.erase(std::unique(keywords.begin(), keywords.end()), keywords.end());
  return std::nullopt;
}

boost::asio::awaitable<void> store(Session& s, Command& c) {
  View& v = s.view();
  if (v.read_only) {
    s.no(c, "[READ-ONLY] The mailbox is open read-only (EXAMINE)");
    co_return;
  }
  std::string err;
  auto idx = s.resolve(c.set, c.uid, err);
  if (!idx) {
    s.bad(c, err);
    co_return;
  }
  FlagUpdate u;
  u.op = c.store.mode == StoreArgs::Mode::add      ? FlagOp::add
         : c.store.mode == StoreArgs::Mode::remove ? FlagOp::remove
                                                   : FlagOp::replace;
  if (auto bad_flag = parse_flags(c.store.flags, u.flags, u.keywords)) {
    s.bad(c, *bad_flag);
    co_return;
  }
  if (c.store.unchangedsince) {
    u.unchanged_since = *c.store.unchangedsince;
    s.enable_condstore();
  }
  std::vector<Uid> uids;
  for (size_t i : *idx)
    if (!v.is_gone(v.uids.at(i))) uids.push_back(v.uids.at(i));
  if (uids.empty()) {
    s.ok(c, "STORE completed");
    co_return;
  }
  MailboxId id = v.mailbox.id;
  bool silent = c.store.silent;
  struct Stored {
    Result<FlagResult> r = Error{Errc::io, {}};
    std::vector<MailboxEntry> unchanged;  // flags already as asked: still reported (not .SILENT)
  };
  auto job = [&s, id, uids, u, silent]() {
    Stored st;
    st.r = s.mail().set_flags(*s.user, id, uids, u);
    if (!st.r || silent || st.r->updated.size() + st.r->skipped.size() == uids.size()) return st;
    std::vector<Uid> done;
    for (const auto& e : st.r->updated) done.push_back(e.uid);
    done.insert(done.end(), st.r->skipped.begin(), st.r->skipped.end());
    std::sort(done.begin(), done.end());
    auto listed = s.mail().list(*s.user, id, UidRange{uids.front(), uids.back()}, false);
    if (listed)
      for (auto& e : *listed)
        if (std::binary_search(uids.begin(), uids.end(), e.uid) && !std::binary_search(done.begin(), done.end(), e.uid))
          st.unchanged.push_back(std::move(e));
    return st;
  };
  Stored st = co_await s.blocking(std::move(job));
  if (!st.r) {
    s.no(c, st.r.error());
    co_return;
  }
  auto& r = st.r;
  // Updated and unchanged messages in sequence order, each reported once.
  std::vector<std::pair<const MailboxEntry*, bool>> report;  // (entry, updated)
  for (const auto& e : r->updated) report.emplace_back(&e, true);
  for (const auto& e : st.unchanged) report.emplace_back(&e, false);
  std::sort(report.begin(), report.end(), [](const auto& a, const auto& b) { return a.first->uid < b.first->uid; });
  for (const auto& [e, updated] : report) {
    size_t i = v.uids.find(e->uid);
    if (i == UidList::npos) continue;
    // Keywords go into FLAGS before a FETCH carries them, also those of a message left as
    // it was (another session may have just given it one this session was not told of).
    s.note_keywords(e->keywords);
    if (updated) v.own.emplace_back(e->uid, e->modseq);  // reported here, not again by the sync
    // .SILENT suppresses the FETCH, except that a CONDSTORE client still learns the new
    // modseq of what changed (RFC 7162 §3.1.3).
    if (c.store.silent && !(updated && s.condstore)) continue;
    std::string line = std::to_string(i + 1) + " FETCH (";
    if (c.uid || s.qresync) line += "UID " + std::to_string(e->uid) + " ";
    if (!c.store.silent) line += "FLAGS " + s.flags_of(e->uid, e->flags, e->keywords);
    if (s.condstore) line += std::string(c.store.silent ? "" : " ") + "MODSEQ (" + std::to_string(e->modseq) + ")";
    s.untagged(line + ")");
  }
  if (!r->skipped.empty()) {
    // UNCHANGEDSINCE failed for these: [MODIFIED set] (UIDs for UID STORE, else numbers).
    std::vector<Uid> listed;
    for (Uid su : r->skipped) {
      if (c.uid) {
        listed.push_back(su);
        continue;
      }
      size_t i = v.uids.find(su);
      if (i != UidList::npos) listed.push_back(static_cast<Uid>(i + 1));
    }
    s.ok(c, "[MODIFIED " + uid_set_text(listed) + "] Conditional STORE failed for some messages");
    co_return;
  }
  s.ok(c, c.uid ? "UID STORE completed" : "STORE completed");
}

boost::asio::awaitable<void> copy_move(Session& s, Command& c) {
  bool move = c.verb == Verb::move;
  View& v = s.view();
  if (move && v.read_only) {
    s.no(c, "[READ-ONLY] The mailbox is open read-only (EXAMINE)");
    co_return;
  }
  std::string err;
  auto idx = s.resolve(c.set, c.uid, err);
  if (!idx) {
    s.bad(c, err);
    co_return;
  }
  auto dest_name = s.decode_mailbox(c.mailbox);
  if (!dest_name) {
    s.no(c, "[NONEXISTENT] Mailbox name is not valid modified UTF-7");  // no mailbox has it
    co_return;
  }
  std::vector<Uid> uids;
  for (size_t i : *idx)
    if (!v.is_gone(v.uids.at(i))) uids.push_back(v.uids.at(i));
  MailboxId src = v.mailbox.id;
  auto job = [&s, src, uids, move, dest = *dest_name]() -> Result<CopyResult> {
    auto d = s.mail().mailbox(*s.user, s.user->account_id, dest);
    if (!d) return d.error();
    if (uids.empty()) return CopyResult{d->uidvalidity, {}};
    return move ? s.mail().move(*s.user, src, uids, d->id) : s.mail().copy(*s.user, src, uids, d->id);
  };
  auto r = co_await s.blocking(std::move(job));
  if (!r) {
    if (r.error().code == Errc::not_found)
      s.no(c, "[TRYCREATE] No mailbox named " + *dest_name);
    else
      s.no(c, r.error());
    co_return;
  }
  std::string code;
  if (!r->uids.empty()) {
    std::vector<Uid> from, to;
    for (auto [a, b] : r->uids) {
      from.push_back(a);
      to.push_back(b);
    }
    // Source and destination lists correspond element by element (RFC 4315 §3).
    code = "[COPYUID " + std::to_string(r->dest_uidvalidity) + " " + uid_set_text(from, false) + " " +
           uid_set_text(to, false) + "] ";
  }
  if (move) {
    if (!code.empty()) s.untagged("OK " + code + "Moved");
    std::vector<Uid> moved;
    for (auto [a, b] : r->uids) moved.push_back(a);
    s.announce_expunged(moved);
    s.ok(c, c.uid ? "UID MOVE completed" : "MOVE completed");
  } else {
    s.ok(c, code + (c.uid ? "UID COPY completed" : "COPY completed"));
  }
}

boost::asio::awaitable<void> expunge(Session& s, Command& c) {
  View& v = s.view();
  if (v.read_only) {
    s.no(c, "[READ-ONLY] The mailbox is open read-only (EXAMINE)");
    co_return;
  }
  std::optional<std::vector<Uid>> only;
  if (c.uid) {
    std::string err;
    auto idx = s.resolve(c.set, true, err);
    if (!idx) {
      s.bad(c, err);
      co_return;
    }
    only.emplace();
    for (size_t i : *idx) only->push_back(v.uids.at(i));
    if (only->empty()) {
      s.ok(c, "UID EXPUNGE completed");
      co_return;
    }
  }
  MailboxId id = v.mailbox.id;
  auto job = [&s, id, only]() { return s.mail().expunge(*s.user, id, only); };
  auto r = co_await s.blocking(std::move(job));
  if (!r) {
    s.no(c, r.error());
    co_return;
  }
  s.announce_expunged(*r);
  s.ok(c, c.uid ? "UID EXPUNGE completed" : "EXPUNGE completed");
}

}  // namespace

boost::asio::awaitable<void> cmd_store(Session& s, Command& c) {
  switch (c.verb) {
    case Verb::store: co_await store(s, c); break;
    case Verb::copy:
    case Verb::move: co_await copy_move(s, c); break;
    default: co_await expunge(s, c); break;
  }
}

}  // namespace caremail::imap

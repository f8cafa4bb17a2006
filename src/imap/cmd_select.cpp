// SELECT / EXAMINE (RFC 9051 §6.3.2-3, with CONDSTORE and QRESYNC parameters of RFC 7162),
// CLOSE and UNSELECT (RFC 3691).
#include <algorithm>
#include <set>

#include "imap/session.hpp"

namespace caremail::imap {

namespace {

std::string uid_set_text(const std::vector<Uid>& sorted) {
  std::string set;
  for (size_t i = 0; i < sorted.size();) {
    size_t j = i;
    while (j + 1 < sorted.size() && sorted[j + 1] == sorted[j] + 1) ++j;
    if (!set.empty()) set += ',';
    set += std::to_string(sorted[i]);
    if (j > i) set += ':' + std::to_string(sorted[j]);
    i = j + 1;
  }
  return set;
}

bool in_set(const SequenceSet& set, uint32_t n, uint32_t star) {
  for (const auto& r : set.ranges) {
    uint32_t a = r.first == SeqRange::kStar ? star : r.first;
    uint32_t b = r.last == SeqRange::kStar ? star : r.last;
    if (a > b) std::swap(a, b);
    if (n >= a && n <= b) return true;
  }
  return false;
}

boost::asio::awaitable<void> select(Session& s, Command& c) {
  bool examine = c.verb == Verb::examine;
  if (c.select.qresync && !s.qresync) {
    s.bad(c, "QRESYNC must be enabled first (ENABLE QRESYNC)");
    co_return;
  }
  auto name = s.decode_mailbox(c.mailbox);
  if (!name) {
    s.no(c, "[NONEXISTENT] Mailbox name is not valid modified UTF-7");  // no mailbox has it
    co_return;
  }
  if (s.selected()) {
    s.deselect();
    // RFC 7162 §3.2.11: tells a QRESYNC client where the old mailbox's responses end.
    if (s.qresync) s.untagged("OK [CLOSED] Previous mailbox closed");
  }
  if (c.select.condstore) s.condstore = true;
  struct Loaded {
    Result<Mailbox> mb = Error{Errc::io, {}};
    Result<std::vector<MailboxEntry>> entries = Error{Errc::io, {}};
    std::vector<Uid> vanished;
    UidRange recent{1, 0};
  };
  std::optional<QresyncParams> qr = c.select.qresync;
  s.mark_clean();  // what changes after the read below makes the next sync look
  auto job = [&s, n = *name, qr, examine]() {
    Loaded l;
    l.mb = s.mail().mailbox(*s.user, s.user->account_id, n);
    if (!l.mb) return l;
    l.entries = s.mail().list_flags(*s.user, l.mb->id);
    if (l.entries && !l.entries->empty()) {
      // \Recent (IMAP4rev1): SELECT takes the messages no session was told about yet;
      // EXAMINE shows them without taking them (RFC 3501 6.3.2).
      Uid last = l.entries->back().uid;
      if (!examine) {
        auto r = s.mail().claim_recent(*s.user, l.mb->id, last);
        if (r) l.recent = *r;
      } else {
        l.recent = UidRange{l.mb->first_recent_uid, last};
      }
    }
    if (qr && qr->uidvalidity == l.mb->uidvalidity) {
      auto v = s.mail().expunged_since(*s.user, l.mb->id, qr->modseq);
      if (v) l.vanished = std::move(*v);
    }
    return l;
  };
  Loaded l = co_await s.blocking(std::move(job));
  if (!l.mb) {
    s.no(c, l.mb.error());
    co_return;
  }
  if (!l.entries) {
    s.no(c, l.entries.error());
    co_return;
  }
  View v;
  v.mailbox = *l.mb;
  v.read_only = examine;
  v.synced_modseq = l.mb->highest_modseq;
  std::set<std::string> keywords = {"$Forwarded", "$MDNSent", "$Junk", "$NotJunk", "$Phishing"};
  uint32_t first_unseen = 0;
  for (const auto& e : *l.entries) {
    for (const auto& k : e.keywords) keywords.insert(k);
    if (!(e.flags & kSeen) && first_unseen == 0) first_unseen = static_cast<uint32_t>(v.uids.size() + 1);
    v.uids.push_back(e.uid);
  }
  v.keywords = std::move(keywords);
  v.add_recent(l.recent.first, l.recent.last);
  size_t exists = v.uids.size();
  uint32_t recent = v.recent_count();
  s.select(std::move(v));
  s.announce_flags();
  s.untagged(std::to_string(exists) + " EXISTS");
  if (!s.rev2) {
    s.untagged(std::to_string(recent) + " RECENT");
    if (first_unseen) s.untagged("OK [UNSEEN " + std::to_string(first_unseen) + "] First unseen");
  }
  s.untagged("OK [UIDVALIDITY " + std::to_string(l.mb->uidvalidity) + "] UIDs valid");
  s.untagged("OK [UIDNEXT " + std::to_string(l.mb->uidnext) + "] Predicted next UID");
  s.untagged("OK [HIGHESTMODSEQ " + std::to_string(l.mb->highest_modseq) + "] Highest");
  if (s.rev2) {
    std::string line = "LIST () \"/\" ";
    s.append_mailbox(line, l.mb->name);
    s.untagged(line);
  }
  if (qr && qr->uidvalidity == l.mb->uidvalidity) {
    // RFC 7162 §3.2.5: what vanished since the client's modseq (limited to its known UIDs),
    // then the flags of every message changed since.
    std::vector<Uid> vanished;
    Uid star = s.view().uids.back();
    for (Uid u : l.vanished)
      if (!qr->known_uids || in_set(*qr->known_uids, u, std::max(star, u))) vanished.push_back(u);
    if (!vanished.empty()) s.untagged("VANISHED (EARLIER) " + uid_set_text(vanished));
    for (size_t i = 0; i < l.entries->size(); ++i) {
      const auto& m = (*l.entries)[i];
      if (m.modseq <= qr->modseq) continue;
      s.untagged(std::to_string(i + 1) + " FETCH (UID " + std::to_string(m.uid) + " FLAGS " +
                 s.flags_of(m.uid, m.flags, m.keywords) + " MODSEQ (" + std::to_string(m.modseq) + "))");
    }
  }
  s.ok(c, examine ? "[READ-ONLY] EXAMINE completed" : "[READ-WRITE] SELECT completed");
}

boost::asio::awaitable<void> close(Session& s, Command& c) {
  if (c.verb == Verb::close && !s.view().read_only) {
    // CLOSE expunges silently (RFC 9051 §6.4.1).
    MailboxId id = s.view().mailbox.id;
    auto job = [&s, id]() { return s.mail().expunge(*s.user, id); };
    auto r = co_await s.blocking(std::move(job));
    if (!r) {
      s.no(c, r.error());
      co_return;
    }
  }
  s.deselect();
  s.ok(c, c.verb == Verb::close ? "CLOSE completed" : "UNSELECT completed");
}

}  // namespace

boost::asio::awaitable<void> cmd_select(Session& s, Command& c) {
  if (c.verb == Verb::select || c.verb == Verb::examine)
    co_await select(s, c);
  else
    co_await close(s, c);
}

}  // namespace caremail::imap

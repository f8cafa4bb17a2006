// Mailbox commands of the authenticated state: CREATE (with RFC 6154 USE), DELETE, RENAME,
// SUBSCRIBE, UNSUBSCRIBE, LIST (RFC 9051 with LIST-EXTENDED RFC 5258, SPECIAL-USE RFC 6154,
// LIST-STATUS RFC 5819), LSUB (RFC 3501) and STATUS (with STATUS=SIZE RFC 8438,
// HIGHESTMODSEQ RFC 7162, APPENDLIMIT RFC 7889).
// Hierarchy separator "/". Every store access goes through MailService with the user's
// Principal; names are validated there too.
#include <algorithm>
#include <map>
#include <set>
#include <string_view>
#include <vector>

#include "imap/render.hpp"
#include "imap/session.hpp"

namespace caremail::imap {

namespace {

// RFC 9051 §6.3.9: "*" matches anything, "%" anything but the separator. Dynamic
// programming over (name, pattern) prefixes, O(name x pattern): the backtracking matcher
// this replaces took exponential time on a pattern like "*a*a*a...*b" against a long name
// of "a"s, holding a worker thread for as long as the client liked.
bool pattern_match(std::string_view name, std::string_view pat) {
  std::vector<char> row(pat.size() + 1, 0), next(pat.size() + 1, 0);
  row[0] = 1;
  for (size_t j = 1; j <= pat.size(); ++j) row[j] = row[j - 1] && (pat[j - 1] == '*' || pat[j - 1] == '%');
  for (char c : name) {
    next[0] = 0;
    for (size_t j = 1; j <= pat.size(); ++j) {
      char p = pat[j - 1];
      if (p == '*') next[j] = next[j - 1] || row[j];
      else if (p == '%') next[j] = next[j - 1] || (row[j] && c != '/');
      else next[j] = row[j - 1] && p == c;
    }
    row.swap(next);
  }
  return row[pat.size()] != 0;
}

// The same pattern with every run of wildcards made one ("*" when the run holds one, else
// "%"), so its length is at most twice its literal characters plus one. A pattern with more
// literal characters than a mailbox name may have (255 octets) matches nothing: it becomes
// one no name can match, which bounds pattern_match's work to 511 x 255 per name.
std::string simplify_pattern(std::string_view pat) {
  std::string out;
  size_t literal = 0;
  for (size_t i = 0; i < pat.size(); ++i) {
    char c = pat[i];
    if (c == '*' || c == '%') {
      bool star = false;
      while (i < pat.size() && (pat[i] == '*' || pat[i] == '%')) star |= pat[i++] == '*';
      --i;
      out += star ? '*' : '%';
    } else {
      out += c;
      if (++literal > 255) return std::string(1, '\0');  // names hold no NUL
    }
  }
  return out;
}

// INBOX matches case-insensitively, so a pattern "inbox" finds it.
bool matches_any(const std::string& name, const std::vector<std::string>& patterns) {
  for (const auto& p : patterns) {
    if (pattern_match(name, p)) return true;
    if (name == "INBOX" || name.starts_with("INBOX/")) {
      std::string up = p;
      for (size_t i = 0; i < std::min<size_t>(5, up.size()); ++i) up[i] = static_cast<char>(std::toupper(up[i]));
      if (pattern_match(name, up)) return true;
    }
  }
  return false;
}

// `recent`: IMAP4rev1 \Recent messages (MailService::recent_count), asked for only when
// RECENT is (wants_recent).
std::string status_items(const Session& s, const Mailbox& mb, const std::vector<StatusItem>& items, uint32_t deleted,
                         uint32_t recent = 0) {
  std::string out = "(";
  auto add = [&](std::string_view k, uint64_t v) {
    if (out.size() > 1) out += ' ';
    out += k;
    out += ' ';
    out += std::to_string(v);
  };
  for (StatusItem it : items) {
    switch (it) {
      case StatusItem::messages: add("MESSAGES", mb.messages); break;
      case StatusItem::uidnext: add("UIDNEXT", mb.uidnext); break;
      case StatusItem::uidvalidity: add("UIDVALIDITY", mb.uidvalidity); break;
      case StatusItem::unseen: add("UNSEEN", mb.unseen); break;
      case StatusItem::deleted: add("DELETED", deleted); break;
      case StatusItem::size: add("SIZE", mb.bytes); break;
      case StatusItem::recent: add("RECENT", recent); break;
      case StatusItem::highestmodseq: add("HIGHESTMODSEQ", mb.highest_modseq); break;
      case StatusItem::appendlimit: add("APPENDLIMIT", s.config().quota.max_message_bytes); break;
    }
  }
  return out + ")";
}

bool wants_deleted(const std::vector<StatusItem>& items) {
  return std::find(items.begin(), items.end(), StatusItem::deleted) != items.end();
}

bool wants_recent(const std::vector<StatusItem>& items) {
  return std::find(items.begin(), items.end(), StatusItem::recent) != items.end();
}

uint32_t count_deleted(MailService& mail, const Principal& p, MailboxId id) {
  auto entries = mail.list(p, id, UidRange{}, false);
  if (!entries) return 0;
  uint32_t n = 0;
  for (const auto& e : *entries)
    if (e.flags & kDeleted) ++n;
  return n;
}

// A name that is not valid modified UTF-7 (or UTF-8 after ENABLE UTF8=ACCEPT) is not the
// name of any mailbox: every name we hold is valid and we send it encoded. So the command is
// well formed and the mailbox does not exist: NO, not BAD (RFC 3501 §5.1.3; Dovecot says
// the same). Naming a new mailbox with it cannot work either.
void no_such_name(Session& s, const Command& c) {
  s.no(c, "[NONEXISTENT] Mailbox name is not valid modified UTF-7");
}
void cannot_name(Session& s, const Command& c) {
  s.no(c, "[CANNOT] Mailbox name is not valid modified UTF-7");
}

boost::asio::awaitable<void> create(Session& s, Command& c) {
  auto name = s.decode_mailbox(c.mailbox);
  if (!name) {
    cannot_name(s, c);
    co_return;
  }
  if (*name == "INBOX") {
    s.no(c, "[ALREADYEXISTS] INBOX always exists");
    co_return;
  }
  if (name->starts_with("Shared/") || *name == "Shared") {
    s.no(c, "[CANNOT] Shared/ holds shared mailboxes; your administrator creates those");
    co_return;
  }
  if (c.use.size() > 1) {
    s.no(c, "[USEATTR] Give at most one special-use attribute");
    co_return;
  }
  std::string use = c.use.empty() ? std::string() : c.use.front();
  auto job = [&s, n = *name, use]() -> Result<Mailbox> {
    // Superior levels are created too (RFC 9051 §6.3.4), quietly if they exist.
    for (size_t pos = n.find('/'); pos != std::string::npos; pos = n.find('/', pos + 1)) {
      auto parent = s.mail().create_mailbox(*s.user, s.user->account_id, n.substr(0, pos));
      if (!parent && parent.error().code != Errc::already_exists) return parent.error();
    }
    return s.mail().create_mailbox(*s.user, s.user->account_id, n, use);
  };
  auto r = co_await s.blocking(std::move(job));
  if (!r) {
    if (r.error().code == Errc::invalid_argument && !use.empty() && r.error().message.starts_with("unknown special"))
      s.no(c, "[USEATTR] " + r.error().message);
    else
      s.no(c, r.error());
    co_return;
  }
  s.ok(c, "CREATE completed");
}

boost::asio::awaitable<void> delete_(Session& s, Command& c) {
  auto name = s.decode_mailbox(c.mailbox);
  if (!name) {
    no_such_name(s, c);
    co_return;
  }
  auto job = [&s, n = *name]() -> Result<MailboxId> {
    auto mb = s.mail().mailbox(*s.user, s.user->account_id, n);
    if (!mb) return mb.error();
    if (Status st = s.mail().delete_mailbox(*s.user, mb->id); !st) return st.error();
    return mb->id;
  };
  auto r = co_await s.blocking(std::move(job));
  if (!r) {
    s.no(c, r.error());
    co_return;
  }
  if (s.selected() && s.view().mailbox.id == *r) s.deselect();
  s.ok(c, "DELETE completed");
}

boost::asio::awaitable<void> rename(Session& s, Command& c) {
  auto from = s.decode_mailbox(c.mailbox);
  auto to = s.decode_mailbox(c.new_mailbox);
  if (!from || !to) {
    if (!from) no_such_name(s, c);
    else cannot_name(s, c);
    co_return;
  }
  auto job = [&s, from = *from, to = *to]() -> Status {
    MailService& mail = s.mail();
    const Principal& p = *s.user;
    auto mb = mail.mailbox(p, p.account_id, from);
    if (!mb) return mb.error();
    if (auto exists = mail.mailbox(p, p.account_id, to); exists)
      return make_error(Errc::already_exists, "a mailbox named " + to + " already exists");
    if (from == "INBOX") {
      // RFC 9051 §6.3.6: renaming INBOX moves its messages to the new mailbox; INBOX stays.
      auto dest = mail.create_mailbox(p, p.account_id, to);
      if (!dest) return dest.error();
      auto entries = mail.list(p, mb->id, UidRange{}, false);
      if (!entries) return entries.error();
      std::vector<Uid> uids;
      for (const auto& e : *entries) uids.push_back(e.uid);
      if (!uids.empty()) {
        auto moved = mail.move(p, mb->id, uids, dest->id);
        if (!moved) return moved.error();
      }
      return {};
    }
    if (to.starts_with(from + "/"))
      return make_error(Errc::invalid_argument, "a mailbox cannot be moved inside itself");
    // Superior levels of the new name are created, as CREATE does (RFC 9051 §6.3.6).
    for (size_t pos = to.find('/'); pos != std::string::npos; pos = to.find('/', pos + 1)) {
      auto parent = mail.create_mailbox(p, p.account_id, to.substr(0, pos));
      if (!parent && parent.error().code != Errc::already_exists) return parent.error();
    }
    // The store moves inferior names with their parent ("A/x" becomes "B/x").
    return mail.rename_mailbox(p, mb->id, to);
  };
  Status r = co_await s.blocking(std::move(job));
  if (!r) {
    s.no(c, r.error());
    co_return;
  }
  s.ok(c, "RENAME completed");
}

boost::asio::awaitable<void> subscribe(Session& s, Command& c, bool on) {
  auto name = s.decode_mailbox(c.mailbox);
  if (!name) {
    no_such_name(s, c);
    co_return;
  }
  // A name, not a mailbox: it need not exist (RFC 9051 §6.3.7), and it stays subscribed
  // when its mailbox is deleted.
  auto job = [&s, n = *name, on]() -> Status {
    return s.mail().set_subscribed(*s.user, s.user->account_id, n, on);
  };
  Status r = co_await s.blocking(std::move(job));
  if (!r) {
    if (r.error().code == Errc::too_large)
      s.no(c, "[LIMIT] " + r.error().message);
    else
      s.no(c, r.error());
    co_return;
  }
  s.ok(c, on ? "SUBSCRIBE completed" : "UNSUBSCRIBE completed");
}

// LIST and LSUB. Names come from two sources: the mailboxes that exist (with the parents
// their names imply, which may not exist themselves) and the subscriptions (names that
// need not exist). A selection option (SUBSCRIBED, SPECIAL-USE; LSUB is SUBSCRIBED) keeps
// the names that satisfy it. With RECURSIVEMATCH, and always for LSUB, a name that matches
// a pattern but not the selection is listed too when one of its descendants satisfies the
// selection without being listed itself (RFC 5258 §3.5, CHILDINFO; RFC 3501 §6.3.9, LSUB's
// \Noselect parent for "%"); a listed name carries CHILDINFO for such a descendant as well
// (RFC 5258 example 8).
boost::asio::awaitable<void> list(Session& s, Command& c) {
  const ListArgs& a = c.list;
  bool lsub = c.verb == Verb::lsub;
  // Reference and patterns join into full patterns in the store's UTF-8.
  std::vector<std::string> patterns;
  for (const auto& p : a.patterns) {
    // Reference and pattern join as sent ("Projects/" + "*"), then decode as a pattern:
    // a trailing "/" is meaningful here. A pattern that is not valid modified UTF-7 can
    // match no name we hold (every name we send is valid): it matches nothing, as in
    // Dovecot, rather than failing the command.
    auto d = s.decode_mailbox(a.reference + p, /*pattern=*/true);
    if (d) patterns.push_back(simplify_pattern(*d));
  }
  std::sort(patterns.begin(), patterns.end());
  patterns.erase(std::unique(patterns.begin(), patterns.end()), patterns.end());
  if (!lsub && a.patterns.size() == 1 && a.patterns[0].empty()) {
    // LIST "" "": the hierarchy delimiter and root (RFC 9051 §6.3.9).
    s.untagged("LIST (\\Noselect) \"/\" \"\"");
    s.ok(c, "LIST completed");
    co_return;
  }
  bool sel_subscribed = lsub || a.sel_subscribed;
  bool need_subs = sel_subscribed || a.ret_subscribed;
  struct Found {
    Result<std::vector<Mailbox>> boxes = Error{Errc::io, {}};
    Result<std::vector<std::string>> subs = std::vector<std::string>{};
  };
  auto job = [&s, need_subs]() {
    Found f;
    f.boxes = s.mail().list_mailboxes(*s.user, s.user->account_id);
    if (f.boxes && need_subs) f.subs = s.mail().subscriptions(*s.user, s.user->account_id);
    return f;
  };
  Found found = co_await s.blocking(std::move(job));
  if (!found.boxes || !found.subs) {
    s.no(c, found.boxes ? found.subs.error() : found.boxes.error());
    co_return;
  }
  const std::vector<Mailbox>& boxes = *found.boxes;
  std::set<std::string> subs(found.subs->begin(), found.subs->end());
  std::map<std::string, const Mailbox*> by_name;
  std::set<std::string> has_children;  // names with an existing descendant
  for (const auto& mb : boxes) by_name[mb.name] = &mb;
  auto parents_of = [](const std::string& n, auto&& fn) {
    for (size_t pos = n.find('/'); pos != std::string::npos; pos = n.find('/', pos + 1)) fn(n.substr(0, pos));
  };
  for (const auto& mb : boxes) parents_of(mb.name, [&](std::string p) { has_children.insert(std::move(p)); });

  bool selective = sel_subscribed || a.sel_special_use;
  bool recursive = lsub || a.sel_recursivematch;
  auto selected = [&](const std::string& n) {
    auto it = by_name.find(n);
    const Mailbox* mb = it == by_name.end() ? nullptr : it->second;
    if (sel_subscribed && !subs.count(n)) return false;
    if (a.sel_special_use && (!mb || mb->special_use.empty())) return false;
    return true;
  };
  // The names that could be listed.
  std::set<std::string> candidates;
  if (!selective) {
    for (const auto& [n, mb] : by_name) candidates.insert(n);
    candidates.insert(has_children.begin(), has_children.end());
  } else {
    std::vector<std::string> sel;
    if (sel_subscribed) {
      for (const auto& n : subs)
        if (selected(n)) sel.push_back(n);
    } else {
      for (const auto& [n, mb] : by_name)
        if (selected(n)) sel.push_back(n);
    }
    for (const auto& n : sel) {
      candidates.insert(n);
      if (recursive) parents_of(n, [&](std::string p) { candidates.insert(std::move(p)); });
    }
  }
  // Descendants that satisfy the selection but match no pattern: their ancestors that do
  // match get CHILDINFO (LIST) or are listed \Noselect (LSUB).
  std::set<std::string> childinfo;
  if (selective && recursive) {
    for (const auto& n : candidates)
      if (selected(n) && !matches_any(n, patterns))
        parents_of(n, [&](std::string p) { childinfo.insert(std::move(p)); });
  }
  std::vector<std::string> names(candidates.begin(), candidates.end());
  std::stable_sort(names.begin(), names.end(), [](const std::string& x, const std::string& y) {
    return (x == "INBOX") > (y == "INBOX");
  });

  // \NonExistent is RFC 5258's (and IMAP4rev2's) word; an IMAP4rev1 LIST says \Noselect.
  bool nonexistent_word = a.extended || s.rev2;
  struct Line {
    std::string name;
    const Mailbox* mb;
    std::string attrs;
    bool childinfo;
  };
  std::vector<Line> lines;
  for (const auto& n : names) {
    if (!matches_any(n, patterns)) continue;
    bool sel = !selective || selected(n);
    bool info = childinfo.count(n) > 0;
    if (!sel && !info) continue;
    auto it = by_name.find(n);
    const Mailbox* mb = it == by_name.end() ? nullptr : it->second;
    std::string attrs;
    auto add = [&](std::string_view at) {
      if (!attrs.empty()) attrs += ' ';
      attrs += at;
    };
    if (lsub) {
      // LSUB: a subscribed name as it is; a parent listed for "%" is \Noselect.
      if (!sel) add("\\Noselect");
      lines.push_back(Line{n, mb, std::move(attrs), false});
      continue;
    }
    if (!mb) add(nonexistent_word ? "\\NonExistent" : "\\Noselect");
    if (mb || !nonexistent_word || has_children.count(n))
      add(has_children.count(n) ? "\\HasChildren" : "\\HasNoChildren");
    if (mb && !mb->special_use.empty()) add(mb->special_use);
    if ((sel_subscribed || a.ret_subscribed) && subs.count(n)) add("\\Subscribed");
    lines.push_back(Line{n, mb, std::move(attrs), info && a.sel_recursivematch});
  }
  // LIST-STATUS (RFC 5819): each selectable mailbox's STATUS right after its LIST line.
  std::vector<uint32_t> deleted_counts(lines.size(), 0);
  if (a.ret_status && wants_deleted(*a.ret_status)) {
    auto count = [&s, &lines, &deleted_counts]() {
      for (size_t i = 0; i < lines.size(); ++i)
        if (lines[i].mb) deleted_counts[i] = count_deleted(s.mail(), *s.user, lines[i].mb->id);
      return true;
    };
    co_await s.blocking(std::move(count));
  }
  for (size_t i = 0; i < lines.size(); ++i) {
    std::string line = std::string(lsub ? "LSUB (" : "LIST (") + lines[i].attrs + ") \"/\" ";
    s.append_mailbox(line, lines[i].name);
    if (lines[i].childinfo)
      line += a.sel_special_use && !sel_subscribed ? " (\"CHILDINFO\" (\"SPECIAL-USE\"))"
                                                   : " (\"CHILDINFO\" (\"SUBSCRIBED\"))";
    s.untagged(line);
    if (a.ret_status && lines[i].mb) {
      std::string st = "STATUS ";
      s.append_mailbox(st, lines[i].name);
      st += ' ' + status_items(s, *lines[i].mb, *a.ret_status, deleted_counts[i]);
      s.untagged(st);
    }
  }
  s.ok(c, lsub ? "LSUB completed" : "LIST completed");
}

boost::asio::awaitable<void> status(Session& s, Command& c) {
  auto name = s.decode_mailbox(c.mailbox);
  if (!name) {
    no_such_name(s, c);
    co_return;
  }
  bool deleted = wants_deleted(c.status_items);
  bool recent = wants_recent(c.status_items);
  // STATUS (HIGHESTMODSEQ) is a CONDSTORE enabling command (RFC 7162 3.1).
  if (std::find(c.status_items.begin(), c.status_items.end(), StatusItem::highestmodseq) != c.status_items.end())
    s.enable_condstore();
  struct Out {
    Result<Mailbox> mb = Error{Errc::io, {}};
    uint32_t deleted = 0;
    uint32_t recent = 0;
  };
  auto job = [&s, n = *name, deleted, recent]() {
    Out o;
    o.mb = s.mail().mailbox(*s.user, s.user->account_id, n);
    if (o.mb && deleted) o.deleted = count_deleted(s.mail(), *s.user, o.mb->id);
    if (o.mb && recent) {
      auto r = s.mail().recent_count(*s.user, o.mb->id);
      if (r) o.recent = *r;
    }
    return o;
  };
  Out o = co_await s.blocking(std::move(job));
  if (!o.mb) {
    s.no(c, o.mb.error());
    co_return;
  }
  std::string line = "STATUS ";
  s.append_mailbox(line, o.mb->name);
  line += ' ' + status_items(s, *o.mb, c.status_items, o.deleted, o.recent);
  s.untagged(line);
  s.ok(c, "STATUS completed");
}

}  // namespace

boost::asio::awaitable<void> cmd_mailbox(Session& s, Command& c) {
  switch (c.verb) {
    case Verb::create: co_await create(s, c); break;
    case Verb::delete_: co_await delete_(s, c); break;
    case Verb::rename: co_await rename(s, c); break;
    case Verb::subscribe: co_await subscribe(s, c, true); break;
    case Verb::unsubscribe: co_await subscribe(s, c, false); break;
    case Verb::status: co_await status(s, c); break;
    default: co_await list(s, c); break;
  }
}

}  // namespace caremail::imap

// Mailbox commands of the authenticated state: CREATE (with RFC 6154 USE), DELETE, RENAME,
// SUBSCRIBE, UNSUBSCRIBE, LIST (RFC 9051 with LIST-EXTENDED RFC 5258, SPECIAL-USE RFC 6154,
// LIST-STATUS RFC 5819), LSUB (RFC 3501) and STATUS (with STATUS=SIZE RFC 8438,
// HIGHESTMODSEQ RFC 7162, APPENDLIMIT RFC 7889).
// Hierarchy separator "/". Every store access goes through MailService with the user's
// Principal; names are validated there too.
#include <algorithm>
#include <map>
#include <set>

#include "imap/render.hpp"
#include "imap/session.hpp"

namespace caremail::imap {

namespace {

// RFC 9051 §6.3.9: "*" matches anything, "%" anything but the separator.
bool pattern_match(std::string_view name, std::string_view pat) {
  // Iterative matcher with backtracking on the last wildcard; "%" cannot cross '/'.
  if (pat.empty()) return name.empty();
  char p = pat[0];
  if (p == '*') {
    for (size_t i = 0; i <= name.size(); ++i)
      if (pattern_match(name.substr(i), pat.substr(1))) return true;
    return false;
  }
  if (p == '%') {
    for (size_t i = 0; i <= name.size(); ++i) {
      if (pattern_match(name.substr(i), pat.substr(1))) return true;
      if (i < name.size() && name[i] == '/') break;
    }
    return false;
  }
  if (name.empty() || name[0] != p) return false;
  return pattern_match(name.substr(1), pat.substr(1));
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

boost::asio::awaitable<void> create(Session& s, Command& c) {
  auto name = s.decode_mailbox(c.mailbox);
  if (!name) {
    s.bad(c, "Invalid mailbox name encoding");
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
    s.bad(c, "Invalid mailbox name encoding");
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
    s.bad(c, "Invalid mailbox name encoding");
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
    s.bad(c, "Invalid mailbox name encoding");
    co_return;
  }
  auto job = [&s, n = *name, on]() -> Status {
    auto mb = s.mail().mailbox(*s.user, s.user->account_id, n);
    if (!mb) return mb.error();
    return s.mail().set_subscribed(*s.user, mb->id, on);
  };
  Status r = co_await s.blocking(std::move(job));
  if (!r) {
    s.no(c, r.error());
    co_return;
  }
  s.ok(c, on ? "SUBSCRIBE completed" : "UNSUBSCRIBE completed");
}

boost::asio::awaitable<void> list(Session& s, Command& c) {
  const ListArgs& a = c.list;
  bool lsub = c.verb == Verb::lsub;
  // Reference and patterns join into full patterns in the store's UTF-8.
  std::vector<std::string> patterns;
  for (const auto& p : a.patterns) {
    // Reference and pattern join as sent ("Projects/" + "*"), then decode as a pattern:
    // a trailing "/" is meaningful here.
    auto d = s.decode_mailbox(a.reference + p, /*pattern=*/true);
    if (!d) {
      s.bad(c, "Invalid mailbox pattern encoding");
      co_return;
    }
    patterns.push_back(*d);
  }
  if (!lsub && patterns.size() == 1 && a.patterns[0].empty()) {
    // LIST "" "": the hierarchy delimiter and root (RFC 9051 §6.3.9).
    s.untagged("LIST (\\Noselect) \"/\" \"\"");
    s.ok(c, "LIST completed");
    co_return;
  }
  auto job = [&s]() { return s.mail().list_mailboxes(*s.user, s.user->account_id); };
  auto boxes = co_await s.blocking(std::move(job));
  if (!boxes) {
    s.no(c, boxes.error());
    co_return;
  }
  // Every existing name, and the parents it implies (which may not exist themselves).
  std::map<std::string, const Mailbox*> by_name;
  std::set<std::string> has_children;
  for (const auto& mb : *boxes) by_name[mb.name] = &mb;
  for (const auto& mb : *boxes)
    for (size_t pos = mb.name.find('/'); pos != std::string::npos; pos = mb.name.find('/', pos + 1))
      has_children.insert(mb.name.substr(0, pos));
  std::vector<std::string> names;
  for (const auto& [n, mb] : by_name) names.push_back(n);
  for (const auto& n : has_children)
    if (!by_name.count(n)) names.push_back(n);
  std::sort(names.begin(), names.end(), [](const std::string& x, const std::string& y) {
    if ((x == "INBOX") != (y == "INBOX")) return x == "INBOX";
    return x < y;
  });

  bool subscribed_only = lsub || a.sel_subscribed;
  bool show_subscribed = a.ret_subscribed || a.sel_subscribed;
  struct Line {
    std::string name;
    const Mailbox* mb;
    std::string attrs;
  };
  std::vector<Line> lines;
  for (const auto& n : names) {
    if (!matches_any(n, patterns)) continue;
    auto it = by_name.find(n);
    const Mailbox* mb = it == by_name.end() ? nullptr : it->second;
    if (subscribed_only && (!mb || !mb->subscribed)) continue;
    if (a.sel_special_use && (!mb || mb->special_use.empty())) continue;
    std::string attrs;
    auto add = [&](std::string_view at) {
      if (!attrs.empty()) attrs += ' ';
      attrs += at;
    };
    if (!mb) add(lsub ? "\\Noselect" : "\\NonExistent");
    if (!lsub) add(has_children.count(n) ? "\\HasChildren" : "\\HasNoChildren");
    if (mb && !mb->special_use.empty()) add(mb->special_use);
    if (show_subscribed && mb && mb->subscribed) add("\\Subscribed");
    lines.push_back(Line{n, mb, std::move(attrs)});
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
    s.bad(c, "Invalid mailbox name encoding");
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

#include "imap/session.hpp"

#include <algorithm>

#include <boost/asio/ssl.hpp>

#include "common/log.hpp"
#include "common/metrics.hpp"
#include "imap/mutf7.hpp"
#include "imap/render.hpp"

namespace caremail::imap {

namespace asio = boost::asio;

namespace {

metrics::Counter& sessions_total() {
  static auto& c = metrics::counter("caremail_imap_sessions_total", "IMAP sessions accepted");
  return c;
}
metrics::Counter& commands_total() {
  static auto& c = metrics::counter("caremail_imap_commands_total", "IMAP commands executed");
  return c;
}

using Handler = asio::awaitable<void> (*)(Session&, Command&);

Handler handler_for(Verb v) {
  switch (v) {
    case Verb::capability:
    case Verb::noop:
    case Verb::logout:
    case Verb::id:
    case Verb::enable:
    case Verb::namespace_:
    case Verb::check:
    case Verb::compress: return cmd_any;
    case Verb::starttls:
    case Verb::login:
    case Verb::authenticate: return cmd_auth;
    case Verb::create:
    case Verb::delete_:
    case Verb::rename:
    case Verb::subscribe:
    case Verb::unsubscribe:
    case Verb::list:
    case Verb::lsub:
    case Verb::status: return cmd_mailbox;
    case Verb::select:
    case Verb::examine:
    case Verb::close:
    case Verb::unselect: return cmd_select;
    case Verb::append: return cmd_append;
    case Verb::fetch: return cmd_fetch;
    case Verb::store:
    case Verb::copy:
    case Verb::move:
    case Verb::expunge: return cmd_store;
    case Verb::search:
    case Verb::sort:
    case Verb::thread:
    case Verb::cancelupdate: return cmd_search;
    case Verb::idle: return cmd_idle;
    case Verb::getquota:
    case Verb::getquotaroot:
    case Verb::setquota:
    case Verb::getacl:
    case Verb::setacl:
    case Verb::deleteacl:
    case Verb::listrights:
    case Verb::myrights: return cmd_admin;
    case Verb::line: return nullptr;
  }
  return nullptr;
}

// Response codes for core errors (RFC 5530, RFC 9051 §7.1).
std::string_view code_for(Errc e) {
  switch (e) {
    case Errc::not_found: return "[NONEXISTENT] ";
    case Errc::already_exists: return "[ALREADYEXISTS] ";
    case Errc::permission_denied: return "[NOPERM] ";
    case Errc::unauthenticated: return "[AUTHENTICATIONFAILED] ";
    case Errc::quota_exceeded: return "[OVERQUOTA] ";
    case Errc::too_large: return "[TOOBIG] ";
    case Errc::temporary: return "[UNAVAILABLE] ";
    case Errc::invalid_argument:
    case Errc::conflict: return "[CANNOT] ";
    case Errc::corrupt:
    case Errc::io: return "[SERVERBUG] ";
  }
  return "";
}

// Response text is one line: never let a message from below break the framing.
std::string one_line(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char ch : s) out += (ch == '\r' || ch == '\n') ? ' ' : ch;
  return out;
}

}  // namespace

Session::Session(std::shared_ptr<Shared> shared, asio::ip::tcp::socket sock, net::PeerInfo peer, bool implicit_tls)
    : shared_(std::move(shared)),
      stream_(std::move(sock), shared_->tls),
      peer_(std::move(peer)),
      implicit_tls_(implicit_tls) {
  parser_ = Parser(limits_for_state());
  preauth_deadline_ = Clock::now() + std::chrono::seconds(config().imap.max_preauth_seconds);
}

Limits Session::limits_for_state() const {
  Limits l;
  if (state == State::not_authenticated) {
    // Nothing held before login beyond one small command (issue 14 finding 2).
    const uint64_t cap = static_cast<uint64_t>(config().imap.max_preauth_command_bytes);
    l.max_line = cap;
    l.max_literal = 0;
    l.max_append_total = 0;
    l.max_nonsync_literal = cap;
  } else {
    l.max_literal = config().quota.max_message_bytes;  // = the APPENDLIMIT advertised
    l.max_append_total = 2 * l.max_literal;
  }
  l.allowed_verbs = 0;
  for (unsigned v = 0; v < static_cast<unsigned>(Verb::line); ++v)
    if (allowed_in_state(static_cast<Verb>(v))) l.allowed_verbs |= verb_bit(static_cast<Verb>(v));
  return l;
}

namespace {
// A literal must arrive at least this fast (octets per second) on top of the command
// timeout: 35 MB in 37 minutes, so slow mobile links still append, while a client cannot
// hold a session open by trickling a literal.
constexpr uint64_t kMinLiteralRate = 16 * 1024;
}  // namespace

void Session::note_progress() {
  if (!parser_.mid_command()) {
    command_started_.reset();
    return;
  }
  if (!command_started_) command_started_ = Clock::now();
}

std::chrono::seconds Session::read_timeout() const {
  using namespace std::chrono;
  auto now = Clock::now();
  auto limit = now + idle_timeout();
  if (command_started_) {
    auto allowed = seconds(config().limits.command_timeout_seconds) +
                   seconds(parser_.octets_announced() / kMinLiteralRate);
    limit = std::min(limit, *command_started_ + allowed);
  }
  if (state == State::not_authenticated) limit = std::min(limit, preauth_deadline_);
  if (limit <= now) return seconds(0);
  return ceil<seconds>(limit - now);
}

std::string Session::timeout_text() const {
  auto now = Clock::now() + std::chrono::milliseconds(50);
  if (state == State::not_authenticated && now >= preauth_deadline_)
    return "BYE Too long without logging in, closing the connection";
  if (command_started_) return "BYE The command did not arrive in time, closing the connection";
  return "BYE Idle for too long, closing the connection";
}

bool Session::is_loopback() const {
  boost::system::error_code ec;
  auto a = asio::ip::make_address(peer_.address, ec);
  return !ec && a.is_loopback();
}

bool Session::login_allowed() const {
  return stream_.is_tls() || (config().imap.allow_plaintext_auth_on_loopback && is_loopback());
}

std::chrono::seconds Session::idle_timeout() const {
  return std::chrono::seconds(state == State::not_authenticated ? config().imap.preauth_timeout_seconds
                                                                 : config().imap.idle_timeout_seconds);
}

std::string Session::capabilities() const {
  std::string caps = "IMAP4rev1 IMAP4rev2 SASL-IR ID ENABLE";
  if (state == State::not_authenticated) {
    // No LITERAL+ before login: a non-synchronising literal arrives unasked, so a stranger
    // could make us read (or drop the connection over) octets we would refuse.
    if (stream_.tls_available() && !stream_.is_tls()) caps += " STARTTLS";
    if (login_allowed())
      caps += " AUTH=PLAIN";
    else
      caps += " LOGINDISABLED";
    return caps;
  }
  caps +=
      " LITERAL+ IDLE UIDPLUS MOVE NAMESPACE UNSELECT CHILDREN SPECIAL-USE CREATE-SPECIAL-USE LIST-EXTENDED LIST-STATUS"
      " STATUS=SIZE ESEARCH ESORT SEARCHRES CONTEXT=SEARCH CONTEXT=SORT WITHIN SORT SORT=DISPLAY THREAD=REFERENCES THREAD=ORDEREDSUBJECT CONDSTORE QRESYNC"
      " QUOTA QUOTA=RES-STORAGE ACL RIGHTS=texk BINARY UTF8=ACCEPT";
  // APPEND's extensions (cmd_append.cpp): several messages at once, atomically; messages
  // joined from parts and URLs of the user's own messages, with ";PARTIAL=" ranges.
  caps += " MULTIAPPEND CATENATE URL-PARTIAL";
  if (!stream_.is_compressed()) caps += " COMPRESS=DEFLATE";
  caps += " APPENDLIMIT=" + std::to_string(config().quota.max_message_bytes);
  return caps;
}

void Session::untagged(std::string_view text) {
  out_ += "* ";
  out_ += text;
  out_ += "\r\n";
}

// Errors before login are never forgiven: NOOP (OK) between bad commands must not let a
// stranger hold the connection for ever. After login (LOGIN's own OK is the first) a
// command that ran (OK or NO) starts the count again: the client is known and accountable,
// and a long IDLE session should not be cut for a few unsupported commands over days.
void Session::ok(const Command& c, std::string_view text) {
  tagged_ += c.tag + " OK " + one_line(text) + "\r\n";
  if (state != State::not_authenticated) errors_ = 0;
}

void Session::no(const Command& c, std::string_view text) {
  tagged_ += c.tag + " NO " + one_line(text) + "\r\n";
  if (state != State::not_authenticated) errors_ = 0;
}

void Session::no(const Command& c, const Error& e) {
  no(c, std::string(code_for(e.code)) + e.message);
}

void Session::bad(const Command& c, std::string_view text) {
  tagged_ += (c.tag.empty() ? std::string("*") : c.tag) + " BAD " + one_line(text) + "\r\n";
  ++errors_;
}

asio::awaitable<bool> Session::flush() {
  out_ += tagged_;
  tagged_.clear();
  if (out_.empty()) co_return true;
  std::string data;
  data.swap(out_);
  bool written = co_await stream_.write(data, write_timeout());
  co_return written;
}

void Session::logged_in(Principal p) {
  user = std::move(p);
  changes_ = shared_->feed.subscribe(user->account_id, [d = dirty_](AccountId) {
    d->store(true, std::memory_order_release);
  });
  state = State::authenticated;
  parser_.set_limits(limits_for_state());
}

std::optional<std::string> Session::decode_mailbox(std::string_view wire, bool pattern) const {
  std::string name;
  if (utf8) {
    if (!utf8_valid(wire)) return std::nullopt;
    name.assign(wire);
  } else {
    auto d = mutf7_decode(wire);
    if (!d) return std::nullopt;
    name = std::move(*d);
  }
  // "INBOX" in any case is the inbox, at the top level and as a parent ("inbox/x").
  if (name.size() >= 5 && (name.size() == 5 || name[5] == '/')) {
    std::string head = name.substr(0, 5);
    std::transform(head.begin(), head.end(), head.begin(), [](unsigned char ch) { return std::toupper(ch); });
    if (head == "INBOX") name.replace(0, 5, "INBOX");
  }
  while (!pattern && name.size() > 1 && name.back() == '/') name.pop_back();  // "a/" names "a"
  return name;
}

std::string Session::encode_mailbox(std::string_view name) const {
  if (utf8) return std::string(name);
  auto e = mutf7_encode(name);
  return e ? *e : std::string(name);
}

void Session::append_mailbox(std::string& out, std::string_view name) const {
  append_string(out, encode_mailbox(name), utf8);
}

void Session::announce_flags() {
  const View& v = *view_;
  std::string kws;
  for (const auto& k : v.keywords) kws += " " + k;
  untagged("FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft" + kws + ")");
  if (v.read_only)
    untagged("OK [PERMANENTFLAGS ()] Read-only mailbox");
  else
    untagged("OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft" + kws + " \\*)] Flags permitted");
}

void Session::note_keywords(const std::vector<std::string>& kw) {
  if (!view_) return;
  bool added = false;
  for (const auto& k : kw) added |= view_->keywords.insert(k).second;
  if (added) announce_flags();
}

void Session::enable_condstore() {
  if (condstore) return;
  condstore = true;
  // RFC 7162 3.1: a CONDSTORE enabling command in the selected state gets the mailbox's
  // HIGHESTMODSEQ, as a SELECT after ENABLE CONDSTORE would have.
  if (view_) untagged("OK [HIGHESTMODSEQ " + std::to_string(view_->synced_modseq) + "] Highest");
}

std::string Session::flags_text(uint32_t flags, const std::vector<std::string>& keywords, bool recent) {
  std::string out = "(";
  auto add = [&](std::string_view f) {
    if (out.size() > 1) out += ' ';
    out += f;
  };
  if (recent) add("\\Recent");
  if (flags & kSeen) add("\\Seen");
  if (flags & kAnswered) add("\\Answered");
  if (flags & kFlagged) add("\\Flagged");
  if (flags & kDeleted) add("\\Deleted");
  if (flags & kDraft) add("\\Draft");
  for (const auto& k : keywords) add(k);
  out += ')';
  return out;
}

std::optional<std::vector<size_t>> Session::resolve(const SequenceSet& set, bool uid, std::string& error) const {
  std::vector<size_t> out;
  const UidList& uids = view_->uids;
  if (set.saved) {
    // "$": the UIDs saved by SEARCH RETURN (SAVE) that are still here.
    for (Uid u : view_->saved) {
      size_t i = uids.find(u);
      if (i != UidList::npos) out.push_back(i);
    }
    return out;
  }
  return resolve_ranges(uids, set.ranges, uid, error);
}

void Session::announce_expunged(const std::vector<Uid>& uids) {
  if (uids.empty() || !view_) return;
  View& v = *view_;
  std::vector<Uid> sorted = uids;
  std::sort(sorted.begin(), sorted.end());
  sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
  std::erase_if(sorted, [&](Uid u) { return v.uids.find(u) == UidList::npos; });
  if (sorted.empty()) return;
  search_expunged(*this, sorted);  // REMOVEFROM while the sequence numbers still hold
  if (qresync) {
    // One VANISHED for the lot (RFC 7162 §3.2.10).
    std::string set;
    for (size_t i = 0; i < sorted.size();) {
      size_t j = i;
      while (j + 1 < sorted.size() && sorted[j + 1] == sorted[j] + 1) ++j;
      if (!set.empty()) set += ',';
      set += std::to_string(sorted[i]);
      if (j > i) set += ':' + std::to_string(sorted[j]);
      i = j + 1;
    }
    untagged("VANISHED " + set);
  } else {
    // Highest sequence number first, so that every number sent is still valid when read.
    for (size_t k = sorted.size(); k-- > 0;) untagged(std::to_string(v.uids.find(sorted[k]) + 1) + " EXPUNGE");
  }
  v.uids.erase(sorted);
  std::erase_if(v.gone, [&](Uid u) { return std::binary_search(sorted.begin(), sorted.end(), u); });
}

asio::awaitable<void> Session::sync(bool allow_expunge) {
  if (!view_ || !user) co_return;
  View& v = *view_;
  if (!dirty_->exchange(false, std::memory_order_acq_rel)) {
    // Nothing of this account changed since the last look: no store query, only the
    // expunges held back earlier may now be announced.
    if (allow_expunge && !v.gone.empty()) {
      std::vector<Uid> gone = std::move(v.gone);
      v.gone.clear();
      announce_expunged(gone);
    }
    co_return;
  }
  MailboxId id = v.mailbox.id;
  ModSeq known = v.synced_modseq;
  const Uid view_last = v.uids.back();
  const bool read_write = !v.read_only;
  // One cheap query when nothing moved; otherwise only what changed since the last sync
  // (entries with a higher modseq, and the UIDs expunged since), so a session in a
  // 100,000-message mailbox pays for the changes, not for the mailbox.
  struct Fresh {
    Result<MailService::Changes> ch = Error{Errc::io, {}};
    UidRange recent{1, 0};  // new messages that are \Recent in this session
  };
  auto job = [this, id, known, view_last, read_write]() {
    Fresh f;
    f.ch = mail().changes_since(*user, id, known);
    if (!f.ch) return f;
    Uid newest = 0;
    for (const auto& e : f.ch->changed) newest = std::max(newest, e.uid);
    if (newest > view_last) {
      // New messages: a read-write view takes those no session was told about yet; a
      // read-only one (EXAMINE) only looks (RFC 3501 6.3.2).
      if (read_write) {
        auto r = mail().claim_recent(*user, id, newest);
        if (r) f.recent = *r;
      } else {
        f.recent = UidRange{std::max(f.ch->mailbox.first_recent_uid, view_last + 1), newest};
      }
    }
    return f;
  };
  Fresh fresh = co_await blocking(std::move(job));
  if (!fresh.ch || fresh.ch->mailbox.uidvalidity != v.mailbox.uidvalidity) {
    // Gone, or (should an id ever be reused) another mailbox: the view is of nothing that
    // exists, and its UIDs must not be applied to what does.
    if (!fresh.ch && fresh.ch.error().code != Errc::not_found) co_return;
    untagged("BYE The selected mailbox was deleted by another session");
    closing_ = true;
    co_return;
  }
  MailService::Changes& ch = *fresh.ch;
  if (ch.mailbox.highest_modseq != known) {
    for (Uid u : ch.vanished) {
      if (v.uids.find(u) == UidList::npos || v.is_gone(u)) continue;
      v.gone.insert(std::lower_bound(v.gone.begin(), v.gone.end(), u), u);
    }
    std::sort(v.own.begin(), v.own.end());
    std::string updates;
    size_t before = v.uids.size();
    for (auto& e : ch.changed) {
      size_t i = v.uids.find(e.uid);
      note_keywords(e.keywords);
      if (i == UidList::npos) {
        v.uids.push_back(e.uid);  // new since the last sync (UIDs only grow)
        continue;
      }
      if (v.is_gone(e.uid) || std::binary_search(v.own.begin(), v.own.end(), std::pair{e.uid, e.modseq})) continue;
      updates += "* " + std::to_string(i + 1) + " FETCH (UID " + std::to_string(e.uid) + " FLAGS " +
                 flags_of(e.uid, e.flags, e.keywords);
      if (condstore) updates += " MODSEQ (" + std::to_string(e.modseq) + ")";
      updates += ")\r\n";
    }
    raw(updates);
    v.add_recent(fresh.recent.first, fresh.recent.last);
    if (v.uids.size() != before) {
      untagged(std::to_string(v.uids.size()) + " EXISTS");
      if (!rev2) untagged(std::to_string(v.recent_count()) + " RECENT");
    }
    v.synced_modseq = ch.mailbox.highest_modseq;
    v.own.clear();
  }
  v.mailbox = std::move(ch.mailbox);
  if (allow_expunge && !v.gone.empty()) {
    std::vector<Uid> gone = std::move(v.gone);
    v.gone.clear();
    announce_expunged(gone);
  }
}

bool Session::allowed_in_state(Verb v) const {
  switch (v) {
    case Verb::capability:
    case Verb::noop:
    case Verb::logout:
    case Verb::id: return true;
    case Verb::starttls:
    case Verb::login:
    case Verb::authenticate: return state == State::not_authenticated;
    case Verb::check:
    case Verb::close:
    case Verb::unselect:
    case Verb::expunge:
    case Verb::search:
    case Verb::fetch:
    case Verb::store:
    case Verb::copy:
    case Verb::move:
    case Verb::sort:
    case Verb::thread:
    case Verb::cancelupdate: return state == State::selected;
    default: return state == State::authenticated || state == State::selected;
  }
}

asio::awaitable<void> Session::dispatch(Command& cmd) {
  commands_total().inc();
  if (!allowed_in_state(cmd.verb)) {
    if (state == State::not_authenticated)
      bad(cmd, std::string(to_string(cmd.verb)) + " needs you to log in first");
    else if (cmd.verb == Verb::starttls || cmd.verb == Verb::login || cmd.verb == Verb::authenticate)
      bad(cmd, "Already logged in");
    else
      bad(cmd, std::string(to_string(cmd.verb)) + " needs a selected mailbox (SELECT or EXAMINE first)");
    co_return;
  }
  Handler h = handler_for(cmd.verb);
  if (!h) {
    bad(cmd, "Unknown command");
    co_return;
  }
  co_await h(*this, cmd);
  // The state may have changed (login, SELECT, CLOSE): literals of the next command are
  // judged by the new one. The parser is between commands, so this applies at once.
  parser_.set_limits(limits_for_state());
  // What changed elsewhere is announced before the tagged reply; expunges are held back
  // while answering FETCH, STORE and SEARCH by sequence number (RFC 9051 §7.5.1).
  if (view_ && state != State::logout && !closing_) {
    bool by_seq = !cmd.uid && (cmd.verb == Verb::fetch || cmd.verb == Verb::store || cmd.verb == Verb::search ||
                               cmd.verb == Verb::sort || cmd.verb == Verb::thread);
    co_await sync(!by_seq);
    if (view_ && !view_->updates.empty()) {
      co_await search_updates(*this);  // CONTEXT=SEARCH: ADDTO / REMOVEFROM
    }
  }
  out_ += tagged_;
  tagged_.clear();
}

asio::awaitable<void> Session::run() {
  sessions_total().inc();
  co_await asio::this_coro::throw_if_cancelled(false);
  const auto& cfg = config();
  log::info("imap.connect", {{"session", peer_.id}, {"peer", peer_.address}, {"tls", implicit_tls_}});
  if (implicit_tls_) {
    bool secured = co_await stream_.start_tls(write_timeout());
    if (!secured) {
      log::info("imap.tls_failed", {{"session", peer_.id}, {"peer", peer_.address}});
      co_await stream_.close();
      co_return;
    }
  }
  untagged("OK [CAPABILITY " + capabilities() + "] " + cfg.server.hostname + " Caremail IMAP ready");
  std::string end_reason = "logout";
  int commands = 0;
  while (!closing_) {
    // Feed what is buffered; read more only when the parser needs it.
    if (stream_.has_buffered()) {
      size_t n = parser_.feed(stream_.peek());
      stream_.consume(n);
    }
    note_progress();
    if (state == State::not_authenticated && std::chrono::steady_clock::now() >= preauth_deadline_) {
      untagged(timeout_text());
      end_reason = "preauth time";
      break;
    }
    ParseStatus st = parser_.status();
    if (st == ParseStatus::need_more || st == ParseStatus::need_continuation) {
      if (st == ParseStatus::need_continuation && parser_.literal().synchronizing && !stream_.has_buffered()) {
        raw("+ Ready for literal data\r\n");
      }
      if (stream_.has_buffered()) continue;
      bool flushed = co_await flush();
      if (!flushed) {
        end_reason = "write failed";
        break;
      }
      // A deadline for the whole command (and for logging in), not for each read: a client
      // sending a byte at a time is cut off as surely as a silent one.
      std::chrono::seconds wait = read_timeout();
      net::ReadStatus rs = net::ReadStatus::timeout;
      if (wait.count() > 0) {
        try {
          rs = co_await stream_.read_more(wait);
        } catch (const boost::system::system_error&) {
          rs = net::ReadStatus::cancelled;
        }
      }
      if (rs == net::ReadStatus::ok) continue;
      if (rs == net::ReadStatus::timeout) {
        untagged(timeout_text());
        end_reason = "timeout";
      } else if (rs == net::ReadStatus::cancelled) {
        co_await asio::this_coro::reset_cancellation_state();
        untagged("BYE [UNAVAILABLE] Server shutting down, please reconnect later");
        end_reason = "shutdown";
      } else {
        end_reason = "disconnected";
      }
      break;
    }
    if (st == ParseStatus::error) {
      const ParseError& e = parser_.error();
      if (e.close_connection) {
        untagged("BYE " + one_line(e.text));
        end_reason = "unparseable";
        break;
      }
      std::string tag = e.tag.empty() ? "*" : e.tag;
      if (e.too_big)
        raw(tag + " NO [TOOBIG] " + one_line(e.text) + "\r\n");
      else
        raw(tag + " BAD " + one_line(e.text) + "\r\n");
      ++errors_;
      bool refused = e.refused_literal;
      parser_.next();
      if (state == State::not_authenticated) {
        if (refused && ++preauth_refusals_ >= cfg.imap.max_preauth_literal_refusals) {
          untagged("BYE Too many refused literals before login, closing the connection");
          end_reason = "preauth literals";
          break;
        }
        if (++preauth_commands_ > cfg.imap.max_preauth_commands) {
          untagged("BYE Too many commands without logging in, closing the connection");
          end_reason = "preauth commands";
          break;
        }
      }
    } else {  // done
      Command cmd = parser_.take_command();
      parser_.next();
      ++commands;
      if (state == State::not_authenticated && ++preauth_commands_ > cfg.imap.max_preauth_commands) {
        // Not run: the cap is on what a stranger can make us do, LOGIN included.
        untagged("BYE Too many commands without logging in, closing the connection");
        end_reason = "preauth commands";
        break;
      }
      bool cancelled = false;
      try {
        co_await dispatch(cmd);
      } catch (const boost::system::system_error&) {
        // Shutdown cancelled a write or a worker hop in the middle of a command.
        cancelled = true;
      }
      if (cancelled) {
        co_await asio::this_coro::reset_cancellation_state();
        untagged("BYE [UNAVAILABLE] Server shutting down, please reconnect later");
        end_reason = "shutdown";
        break;
      }
      if (state == State::logout) break;
    }
    if (errors_ >= cfg.imap.max_errors) {
      untagged("BYE Too many errors, closing the connection");
      end_reason = "too many errors";
      break;
    }
  }
  bool flushed = co_await flush();
  if (!flushed) log::debug("imap.final_reply_lost", {{"session", peer_.id}});
  co_await stream_.close();
  log::info("imap.disconnect", {{"session", peer_.id},
                                {"reason", end_reason},
                                {"commands", commands},
                                {"user", user ? user->address : std::string()}});
}

Result<uint16_t> listen_imap(std::shared_ptr<Shared> shared, const std::string& name, const Endpoint& ep,
                             bool implicit_tls) {
  net::Server& server = shared->server;
  return server.listen(name, ep,
                       [shared, implicit_tls](asio::ip::tcp::socket sock, net::PeerInfo peer) -> asio::awaitable<void> {
                         Session s(shared, std::move(sock), std::move(peer), implicit_tls);
                         co_await s.run();
                       },
                       net::Placement::workers);
}

}  // namespace caremail::imap

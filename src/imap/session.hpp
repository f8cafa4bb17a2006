// IMAP server sessions (RFC 9051 IMAP4rev2 and RFC 3501 IMAP4rev1, with the extensions of
// issue 4): port 143 (STARTTLS, then LOGIN/AUTHENTICATE) and 993 (implicit TLS). One
// coroutine per connection on its own strand of the worker pool (net::Placement::workers:
// store reads run in line, without a thread hop); the command handlers live in cmd_*.cpp.
//
// SECURITY: everything before login is reachable by anyone on the network. Pre-auth input
// goes through the bounded Parser (parser.hpp) and only CAPABILITY, NOOP, LOGOUT, ID,
// STARTTLS, LOGIN and AUTHENTICATE are accepted. Before login a session holds at most
// imap.max_preauth_command_bytes of input: bigger literals, and literals of any other
// command, are refused before they are read (no "+", and no LITERAL+ advertised), and
// the connection is closed after imap.max_preauth_literal_refusals of them, after
// imap.max_preauth_commands commands, after imap.max_preauth_seconds, or when a command
// has not arrived whole within limits.command_timeout_seconds of its first octet (a client
// trickling a byte at a time). Errors before login are counted over the whole session.
// Credentials are checked by
// SignInService::sign_in (which audits failures) and are refused without TLS
// (except on loopback when imap.allow_plaintext_auth_on_loopback). After login every read
// and write of mail goes through MailService with the user's Principal, so authorisation,
// quota and audit are the core's, never this front-end's.
//
// The selected mailbox is a View: the message sequence as this client knows it (UID,
// flags, modseq per message). After each command (and at once during IDLE) the view is
// compared with the store and the differences are announced: new messages as EXISTS, flag
// changes as FETCH, expunges as EXPUNGE (or VANISHED with QRESYNC). Expunges are held back
// while a FETCH, STORE or SEARCH by sequence number runs (RFC 9051 §7.5.1), so sequence
// numbers never shift under a client's feet.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/config.hpp"
#include "core/sign_in.hpp"
#include "core/mail_service.hpp"
#include "imap/parser.hpp"
#include "imap/uid_list.hpp"
#include "net/listener.hpp"
#include "net/proto_stream.hpp"

namespace boost::asio::ssl { class context; }

namespace caremail::imap {

// What every session of the process shares. Constant after construction.
struct Shared {
  net::Server& server;
  MailService& mail;
  SignInService& auth;
  ChangeFeed& feed;
  const Config& config;
  std::shared_ptr<boost::asio::ssl::context> tls;
};

enum class State { not_authenticated, authenticated, selected, logout };

// A search kept up to date (RFC 5267 CONTEXT=SEARCH: SEARCH RETURN (UPDATE)); cmd_search.cpp.
struct SearchUpdate {
  std::string tag;
  bool uid = false;             // UID SEARCH: ADDTO/REMOVEFROM carry UIDs
  bool sorted = false;          // SORT (CONTEXT=SORT): updates carry positions in the order
  SearchArgs args;
  std::vector<Uid> result;      // ascending; a SORT's in its sort order
  ModSeq at_modseq = 0;         // the mailbox's highest modseq when `result` was computed
  size_t at_exists = 0;         // and the number of messages in the view
};

// The selected mailbox as this client knows it: its message sequence (UIDs) and what it
// has been told. Flags are not kept here (they are read from the store when asked for), so
// an idle session in a large mailbox holds little more than a few runs of UIDs.
struct View {
  Mailbox mailbox;                  // as at the last sync (id, name, uidvalidity, counts)
  bool read_only = false;           // EXAMINE
  UidList uids;                     // index = sequence number - 1
  std::vector<Uid> gone;            // ascending: expunged elsewhere, not announced yet (still numbered)
  ModSeq synced_modseq = 0;         // highest_modseq the view reflects
  std::vector<Uid> saved;           // SEARCHRES "$"
  std::vector<SearchUpdate> updates;  // CONTEXT=SEARCH: searches kept up to date
  std::set<std::string> keywords;   // announced in FLAGS; a new one is announced again
  // This session's own flag changes since the last sync (uid, modseq): already reported
  // in its STORE/FETCH responses, so the sync does not announce them again.
  std::vector<std::pair<Uid, ModSeq>> own;
  // IMAP4rev1 \Recent: the UID ranges [first, last] that are recent in this session, in
  // ascending order (claimed from the store by a read-write view, see
  // MailService::claim_recent; an EXAMINE only looks). A few ranges, not one per message.
  std::vector<std::pair<Uid, Uid>> recent;

  bool is_gone(Uid u) const { return !gone.empty() && std::binary_search(gone.begin(), gone.end(), u); }
  // Adds [first, last] (above every range so far); a range that continues the last one
  // extends it, so a session that takes one delivery at a time keeps one range.
  void add_recent(Uid first, Uid last) {
    if (first > last) return;
    if (!recent.empty() && recent.back().second + 1 >= first)
      recent.back().second = std::max(recent.back().second, last);
    else
      recent.emplace_back(first, last);
  }
  bool is_recent(Uid u) const {
    for (const auto& [a, b] : recent)
      if (u >= a && u <= b) return true;
    return false;
  }
  // Messages of the view that are recent (the RECENT response).
  uint32_t recent_count() const {
    size_t n = 0;
    for (const auto& [a, b] : recent) n += uids.lower_bound(b == UINT32_MAX ? b : b + 1) - uids.lower_bound(a);
    return static_cast<uint32_t>(n);
  }
};

class Session {
 public:
  Session(std::shared_ptr<Shared> shared, boost::asio::ip::tcp::socket sock, net::PeerInfo peer, bool implicit_tls);

  boost::asio::awaitable<void> run();

  // --- used by the command handlers -----------------------------------------------
  Shared& shared() { return *shared_; }
  MailService& mail() { return shared_->mail; }
  const Config& config() const { return shared_->config; }
  net::ProtoStream& stream() { return stream_; }
  Parser& parser() { return parser_; }
  const net::PeerInfo& peer() const { return peer_; }

  // Runs `f` (store, blobs) where blocking is allowed: in line, as the session runs on the
  // worker pool. `f` may use the session: the session does nothing else while it waits.
  template <class F>
  boost::asio::awaitable<std::invoke_result_t<F>> blocking(F f) {
    return shared_->server.blocking(std::move(f));
  }

  // Responses. Queued; flushed before the session waits for input. The tagged reply
  // (ok/no/bad) goes out after the untagged responses the command and the sync produce.
  void untagged(std::string_view text);             // "* text\r\n"
  void raw(std::string_view bytes) { out_ += bytes; }
  void ok(const Command& c, std::string_view text);  // "<tag> OK text"
  void no(const Command& c, std::string_view text);
  void bad(const Command& c, std::string_view text);
  // NO with the response code matching the error ([NONEXISTENT], [OVERQUOTA]...).
  void no(const Command& c, const Error& e);
  boost::asio::awaitable<bool> flush();
  size_t pending_output() const { return out_.size(); }

  void error_counted() { ++errors_; }
  void close_after_reply() { closing_ = true; }

  std::string capabilities() const;
  bool login_allowed() const;  // LOGIN/AUTHENTICATE allowed on this connection now
  bool is_loopback() const;

  // After a successful login.
  void logged_in(Principal p);

  // Mailbox names: wire form (modified UTF-7, or UTF-8 after ENABLE UTF8=ACCEPT) to the
  // store's UTF-8 and back. nullopt when the wire name is not valid in the current mode.
  // `pattern`: a LIST pattern (a trailing "/" is kept).
  std::optional<std::string> decode_mailbox(std::string_view wire, bool pattern = false) const;
  std::string encode_mailbox(std::string_view name) const;
  // Appends the name as an IMAP string in wire form.
  void append_mailbox(std::string& out, std::string_view name) const;

  // The selected view; the sync after each command.
  void select(View v) { view_ = std::move(v); state = State::selected; }
  // Before a SELECT reads the store: changes from now on make the next sync look.
  void mark_clean() { dirty_->store(false, std::memory_order_release); }
  // The flag itself, for other change-feed callbacks (IDLE) that must set it before they
  // wake the session.
  std::shared_ptr<std::atomic<bool>> dirty_flag() const { return dirty_; }
  void deselect() {
    view_.reset();
    if (state == State::selected) state = State::authenticated;
  }
  View& view() { return *view_; }
  bool selected() const { return view_.has_value(); }
  // Brings the view up to date with the store and queues the untagged responses.
  // `allow_expunge` false while answering FETCH/STORE/SEARCH by sequence number.
  boost::asio::awaitable<void> sync(bool allow_expunge);
  // Announces FLAGS and PERMANENTFLAGS again when `kw` holds a keyword the client has not
  // been told about (RFC 9051 §7.3.5).
  void note_keywords(const std::vector<std::string>& kw);
  // The FLAGS and PERMANENTFLAGS responses for the selected mailbox.
  void announce_flags();
  // Renders one message's flags "(\Seen $Label1)"; `recent` adds \Recent.
  static std::string flags_text(uint32_t flags, const std::vector<std::string>& keywords, bool recent = false);
  // The flags of message `uid` of the view as this session shows them: \Recent only to an
  // IMAP4rev1 session (RFC 9051 has none).
  std::string flags_of(Uid uid, uint32_t flags, const std::vector<std::string>& keywords) const {
    return flags_text(flags, keywords, !rev2 && view_ && view_->is_recent(uid));
  }
  // A command that implies CONDSTORE (FETCH MODSEQ, CHANGEDSINCE, UNCHANGEDSINCE, SEARCH
  // MODSEQ; RFC 7162 3.1) turns it on for the session; the first time, with a mailbox
  // selected, the client is told the mailbox's HIGHESTMODSEQ. From then on every
  // unsolicited FETCH carries MODSEQ.
  void enable_condstore();
  // Removes messages from the view that this session expunged itself and announces them
  // (EXPUNGE, or VANISHED with QRESYNC).
  void announce_expunged(const std::vector<Uid>& uids);

  // Resolves a sequence set against the view: indices into view().uids, ascending, unique.
  // Sequence numbers past the end make the command BAD (returns nullopt and sets `error`);
  // UIDs that do not exist are ignored, as RFC 9051 asks.
  std::optional<std::vector<size_t>> resolve(const SequenceSet& set, bool uid, std::string& error) const;

  // Session state the commands change.
  State state = State::not_authenticated;
  std::optional<Principal> user;
  std::string client_name;  // from ID (name version), for sign-in failure records
  int auth_failures = 0;
  bool utf8 = false;       // ENABLE UTF8=ACCEPT
  bool condstore = false;  // ENABLE CONDSTORE, or a command that implies it
  bool qresync = false;    // ENABLE QRESYNC
  bool rev2 = false;       // ENABLE IMAP4rev2

  std::chrono::seconds idle_timeout() const;
  std::chrono::seconds write_timeout() const { return std::chrono::seconds(config().limits.command_timeout_seconds); }
  // After feeding the parser: starts the whole-command deadline at a command's first octet,
  // and clears it when the parser is between commands.
  void note_progress();
  // How long the next read may wait: the idle timeout, but never past the whole-command
  // deadline nor, before login, past the time allowed to log in. Zero: a deadline passed.
  std::chrono::seconds read_timeout() const;
  // The BYE text for a read that timed out (which deadline it was).
  std::string timeout_text() const;
  // The parser limits for the current state (pre-login limits and verbs, APPENDLIMIT...).
  Limits limits_for_state() const;

 private:
  boost::asio::awaitable<void> dispatch(Command& cmd);
  bool allowed_in_state(Verb v) const;

  std::shared_ptr<Shared> shared_;
  net::ProtoStream stream_;
  net::PeerInfo peer_;
  const bool implicit_tls_;
  Parser parser_;
  std::string out_;
  std::string tagged_;  // the tagged reply of the running command, sent after the untagged ones
  // Set by the change feed (on the notifying thread) when anything of the user's account
  // changed; sync() asks the store only then. Every write goes through MailService, which
  // notifies after its commit, so a clear flag means there is nothing to learn.
  std::shared_ptr<std::atomic<bool>> dirty_ = std::make_shared<std::atomic<bool>>(true);
  ChangeFeed::Subscription changes_;
  std::optional<View> view_;
  // Bad commands: over the whole session before login; after it, since the last command
  // that was answered OK or NO (see imap.max_errors).
  int errors_ = 0;
  bool closing_ = false;
  using Clock = std::chrono::steady_clock;
  Clock::time_point preauth_deadline_;                // connect + imap.max_preauth_seconds
  std::optional<Clock::time_point> command_started_;  // first octet of the command being read
  int preauth_commands_ = 0;
  int preauth_refusals_ = 0;
};

// The command handlers (cmd_*.cpp).
boost::asio::awaitable<void> cmd_any(Session& s, Command& c);       // CAPABILITY NOOP LOGOUT ID ENABLE NAMESPACE CHECK
boost::asio::awaitable<void> cmd_auth(Session& s, Command& c);      // STARTTLS LOGIN AUTHENTICATE
boost::asio::awaitable<void> cmd_mailbox(Session& s, Command& c);   // CREATE DELETE RENAME (UN)SUBSCRIBE LIST LSUB STATUS
boost::asio::awaitable<void> cmd_select(Session& s, Command& c);    // SELECT EXAMINE CLOSE UNSELECT
boost::asio::awaitable<void> cmd_append(Session& s, Command& c);
boost::asio::awaitable<void> cmd_fetch(Session& s, Command& c);
boost::asio::awaitable<void> cmd_store(Session& s, Command& c);     // STORE COPY MOVE EXPUNGE
boost::asio::awaitable<void> cmd_search(Session& s, Command& c);    // SEARCH SORT THREAD CANCELUPDATE
// CONTEXT=SEARCH (cmd_search.cpp): after each command's sync, ADDTO/REMOVEFROM for the
// searches being updated; and, before EXPUNGE responses renumber, REMOVEFROM for expunged
// messages in their results (`sorted`: ascending UIDs still in the view).
boost::asio::awaitable<void> search_updates(Session& s);
void search_expunged(Session& s, const std::vector<Uid>& sorted);
boost::asio::awaitable<void> cmd_idle(Session& s, Command& c);
boost::asio::awaitable<void> cmd_admin(Session& s, Command& c);     // QUOTA and ACL commands

// Adds an IMAP listener to `server`.
Result<uint16_t> listen_imap(std::shared_ptr<Shared> shared, const std::string& name, const Endpoint& ep,
                             bool implicit_tls);

}  // namespace caremail::imap

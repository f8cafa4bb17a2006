// SMTP server sessions: MX (port 25), submission (587, STARTTLS then AUTH) and implicit-TLS
// submission (465). One coroutine per connection on its own strand; one file per command
// (cmd_*.cpp), registered in the table in session.cpp.
//
// SECURITY: everything before AUTH is reachable by anyone on the network. The pre-auth code
// (greeting, EHLO, STARTTLS, AUTH, and on the MX port MAIL/RCPT/DATA) parses with the
// bounded parsers in command.hpp and data_reader.hpp, touches the store only through
// MailService::is_local_domain/check_recipient and SignInService::sign_in,
// and counts errors and commands so that a misbehaving peer is disconnected. AUTH is
// refused without TLS (except on loopback when the configuration allows it for
// development). Relaying to other domains needs authentication. On port 25 nobody may
// claim the service's own domains as sender (MAIL FROM, From/Sender) unless the peer is in
// smtp.trusted_relays, and a members-only list does not believe the unauthenticated
// envelope sender (smtp.trust_envelope_sender_for_lists). DATA/BDAT are read only after an
// accepted RCPT, and a message past smtp.spool_threshold_bytes goes to a spool file, not
// memory. Message content is interpreted here only for the originator checks
// (mime/originators.hpp) and header limits: delivery goes through MailService, which
// authorises (the From check on submission too), enforces quota and makes the message
// durable before we answer 250.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.hpp"
#include "common/config.hpp"
#include "core/mail_service.hpp"
#include "core/sign_in.hpp"
#include "net/listener.hpp"
#include "net/proto_stream.hpp"
#include "smtp/command.hpp"
#include "smtp/data_reader.hpp"
#include "smtp/reply.hpp"
#include "smtp/spool.hpp"

namespace boost::asio::ssl { class context; }

namespace caremail::smtp {

enum class Mode { mx, submission, submissions };
std::string_view to_string(Mode m);

// What every session of the process shares. Constant after construction.
struct Shared {
  net::Server& server;
  MailService& mail;
  SignInService& auth;
  const Config& config;
  std::shared_ptr<boost::asio::ssl::context> tls;
  Clock clock;  // dates Received fields and failure reports (common/clock.hpp)
};

struct Recipient {
  Path path;
  RcptParams params;
  std::string address;   // normalised local@domain (local part unquoted, domain lower case)
  std::optional<LocalRecipient> local;  // delivered here (an account or a list); unset: another domain
};

// One mail transaction (MAIL ... DATA/BDAT LAST).
struct Transaction {
  std::string queue_id;  // appears in every log line about this message
  Path from;
  MailParams params;
  std::vector<Recipient> rcpts;
  std::optional<BdatReader> bdat;  // while BDAT chunks arrive
};

class Session {
 public:
  Session(std::shared_ptr<Shared> shared, boost::asio::ip::tcp::socket sock, net::PeerInfo peer, Mode mode);

  boost::asio::awaitable<void> run();

  // --- used by the command handlers -----------------------------------------------
  Shared& shared() { return *shared_; }
  const Config& config() const { return shared_->config; }
  net::ProtoStream& stream() { return stream_; }
  const net::PeerInfo& peer() const { return peer_; }
  Mode mode() const { return mode_; }
  bool is_loopback() const;
  bool auth_offered() const;     // AUTH allowed here and now
  EhloCapabilities capabilities() const;

  // Queues a reply; replies are flushed when no pipelined input is waiting or before the
  // session blocks on anything else (PIPELINING, RFC 2920).
  void reply(int code, std::string_view enhanced, std::string_view text);
  void reply(const Reply& r) { reply(r.code, r.enhanced, r.text); }
  void reply_raw(std::string bytes) { out_ += std::move(bytes); }
  boost::asio::awaitable<bool> flush();

  // Counts a protocol error; past smtp.max_errors the session is closed with 421.
  void error_counted() { ++errors_; }
  void close_after_reply() { closing_ = true; }

  void reset_transaction();
  Transaction& txn() { return *txn_; }
  bool in_transaction() const { return txn_.has_value(); }
  Transaction& begin_transaction();

  // Session state the commands change.
  std::string helo;        // EHLO/HELO argument; empty before
  bool esmtp = false;
  std::optional<Principal> user;  // after AUTH
  int auth_failures = 0;
  bool client_utf8 = false;  // the current transaction used SMTPUTF8

  DataLimits data_limits() const;
  std::chrono::seconds command_timeout() const { return std::chrono::seconds(config().limits.idle_timeout_seconds); }
  std::chrono::seconds data_timeout() const { return std::chrono::seconds(config().smtp.data_timeout_seconds); }

 private:
  boost::asio::awaitable<void> dispatch(Command& cmd);

  std::shared_ptr<Shared> shared_;
  net::ProtoStream stream_;
  net::PeerInfo peer_;
  const Mode mode_;
  std::string out_;
  std::optional<Transaction> txn_;
  int errors_ = 0;
  int commands_ = 0;
  bool closing_ = false;
};

// The command handlers (one file each).
boost::asio::awaitable<void> cmd_ehlo(Session& s, Command& c);
boost::asio::awaitable<void> cmd_starttls(Session& s, Command& c);
boost::asio::awaitable<void> cmd_auth(Session& s, Command& c);
boost::asio::awaitable<void> cmd_mail(Session& s, Command& c);
boost::asio::awaitable<void> cmd_rcpt(Session& s, Command& c);
boost::asio::awaitable<void> cmd_data(Session& s, Command& c);
boost::asio::awaitable<void> cmd_bdat(Session& s, Command& c);
boost::asio::awaitable<void> cmd_misc(Session& s, Command& c);  // RSET NOOP QUIT VRFY EXPN HELP

// Finishing a message (shared by DATA and BDAT LAST): trace headers, delivery, the reply.
// nullopt (take_received could not finish the spool file): 452 4.3.1 and the transaction
// is reset.
boost::asio::awaitable<void> finish_message(Session& s, std::optional<ReceivedMessage> received);

// Makes `reader` (DataReader or BdatReader) spill a message past smtp.spool_threshold_bytes
// to a spool file (smtp/spool.hpp) rather than hold it.
template <class Reader>
void spill_large_messages(const Session& s, Reader& reader);
// The message `reader` completed (it must not be rejected), in memory or spooled; nullopt
// when the spool file cannot be finished (then reply 452 4.3.1).
template <class Reader>
std::optional<ReceivedMessage> take_received(Reader& reader);

// Port 25 only: is the peer in smtp.trusted_relays, so that it may use the service's own
// domains as the sender (MAIL FROM, From/Sender)? Always false on the submission ports.
bool from_trusted_relay(const Session& s);
// Counts a port 25 message refused for claiming one of the service's domains as sender.
void count_local_sender_refused();

// Adds an SMTP listener of the given mode to `server`.
Result<uint16_t> listen_smtp(std::shared_ptr<Shared> shared, const std::string& name, const Endpoint& ep, Mode mode);

template <class Reader>
void spill_large_messages(const Session& s, Reader& reader) {
  const uint64_t threshold = s.config().smtp.spool_threshold_bytes;
  if (threshold == 0) return;
  reader.spill_to([dir = spool_dir(s.config().server.data_dir)]() -> std::unique_ptr<Spool> {
    return FileSpool::create(dir);
  }, threshold);
}

template <class Reader>
std::optional<ReceivedMessage> take_received(Reader& reader) {
  if (!reader.spilled()) return ReceivedMessage(reader.take_message());
  std::unique_ptr<FileSpool> file(static_cast<FileSpool*>(reader.take_spool().release()));
  if (!file->finish()) return std::nullopt;
  return ReceivedMessage(std::move(file));
}

}  // namespace caremail::smtp

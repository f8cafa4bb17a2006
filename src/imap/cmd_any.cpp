// Commands valid in any state after the greeting: CAPABILITY, NOOP, LOGOUT, ID (RFC 2971),
// and once logged in ENABLE (RFC 5161), NAMESPACE (RFC 2342), CHECK, COMPRESS=DEFLATE
// (RFC 4978).
#include "imap/render.hpp"
#include "common/log.hpp"
#include "imap/session.hpp"

namespace caremail::imap {

boost::asio::awaitable<void> cmd_any(Session& s, Command& c) {
  switch (c.verb) {
    case Verb::capability:
      s.untagged("CAPABILITY " + s.capabilities());
      s.ok(c, "CAPABILITY completed");
      break;
    case Verb::noop:
    case Verb::check:
      // The session syncs the selected mailbox after every command; nothing else to do.
      s.ok(c, c.verb == Verb::noop ? "NOOP completed" : "CHECK completed");
      break;
    case Verb::logout:
      s.untagged("BYE Caremail logging out");
      s.ok(c, "LOGOUT completed");
      s.state = State::logout;
      break;
    case Verb::id: {
      // The client's identification is kept for sign-in failure records (which device keeps
      // using an old password) and logged (it helps support); ours is short.
      {
        std::string name, version;
        for (const auto& [k, v] : c.id_params) {
          std::string key = k;
          for (auto& ch : key) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
          if (key == "name" && v) name = v->substr(0, 100);
          if (key == "version" && v) version = v->substr(0, 50);
        }
        if (!name.empty()) s.client_name = version.empty() ? name : name + " " + version;
        log::info("imap.id", {{"session", s.peer().id}, {"client", s.client_name}});
      }
      s.untagged("ID (\"name\" \"Caremail\" \"vendor\" \"Caremail\")");
      s.ok(c, "ID completed");
      break;
    }
    case Verb::enable: {
      std::string enabled;
      for (const auto& cap : c.capabilities) {
        bool known = true;
        if (cap == "CONDSTORE") s.condstore = true;
        else if (cap == "QRESYNC") s.qresync = s.condstore = true;
        else if (cap == "IMAP4REV2") s.rev2 = true;
        else if (cap == "UTF8=ACCEPT") s.utf8 = true;
        else known = false;
        if (known) enabled += " " + (cap == "IMAP4REV2" ? std::string("IMAP4rev2") : cap);
      }
      s.untagged("ENABLED" + enabled);
      s.ok(c, "ENABLE completed");
      break;
    }
    case Verb::namespace_:
      // Personal mailboxes at the top; shared mailboxes (the collaboration issue) under
      // "Shared/".
      s.untagged("NAMESPACE ((\"\" \"/\")) NIL ((\"Shared/\" \"/\"))");
      s.ok(c, "NAMESPACE completed");
      break;
    case Verb::compress:
      if (c.mechanism != "DEFLATE") {
        s.bad(c, "Unknown compression mechanism; use DEFLATE");
      } else if (s.stream().is_compressed()) {
        s.no(c, "[COMPRESSIONACTIVE] DEFLATE is already active");
      } else {
        // The OK goes out uncompressed; everything after it is compressed (RFC 4978 §3).
        s.ok(c, "DEFLATE active");
        bool flushed = co_await s.flush();
        if (!flushed || !s.stream().start_deflate()) s.close_after_reply();
      }
      break;
    default:
      s.bad(c, "Unknown command");
      break;
  }
  co_return;
}

}  // namespace caremail::imap

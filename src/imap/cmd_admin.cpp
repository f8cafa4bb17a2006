// QUOTA (RFC 9208) and ACL (RFC 4314) commands.
// Quota: one root "" per account holding the STORAGE resource (in units of 1024 octets);
// limits are set by administrators through the admin API, so SETQUOTA is refused.
// ACL: a person holds every right on their own mailboxes. Sharing is arranged through
// shared mailboxes by organisation administrators (the collaboration issue), so SETACL and
// DELETEACL are refused with NOPERM here; the core authorises every access either way.
#include "imap/render.hpp"
#include "imap/session.hpp"

namespace caremail::imap {

namespace {

constexpr std::string_view kOwnerRights = "lrswipkxtea";

std::string quota_line(const QuotaUsage& q) {
  std::string line = "QUOTA \"\" (STORAGE " + std::to_string((q.bytes + 1023) / 1024) + " " +
                     std::to_string(q.limit_bytes / 1024) + ")";
  return line;
}

}  // namespace

boost::asio::awaitable<void> cmd_admin(Session& s, Command& c) {
  switch (c.verb) {
    case Verb::getquota:
    case Verb::getquotaroot: {
      std::optional<std::string> name;
      if (c.verb == Verb::getquotaroot) {
        name = s.decode_mailbox(c.mailbox);
        if (!name) {
          s.no(c, "[NONEXISTENT] Mailbox name is not valid modified UTF-7");
          co_return;
        }
      } else if (!c.quota_root.empty()) {
        s.no(c, "[NONEXISTENT] No such quota root; the account's root is \"\"");
        co_return;
      }
      auto job = [&s, name]() -> Result<QuotaUsage> {
        if (name) {
          auto mb = s.mail().mailbox(*s.user, s.user->account_id, *name);
          if (!mb) return mb.error();
        }
        return s.mail().quota(*s.user, s.user->account_id);
      };
      auto q = co_await s.blocking(std::move(job));
      if (!q) {
        s.no(c, q.error());
        co_return;
      }
      if (name) {
        std::string line = "QUOTAROOT ";
        s.append_mailbox(line, *name);
        s.untagged(line + " \"\"");
      }
      if (q->limit_bytes) s.untagged(quota_line(*q));
      s.ok(c, c.verb == Verb::getquota ? "GETQUOTA completed" : "GETQUOTAROOT completed");
      break;
    }
    case Verb::setquota:
      s.no(c, "[NOPERM] Quotas are set by your organisation's administrators");
      break;
    case Verb::myrights:
    case Verb::getacl:
    case Verb::listrights: {
      auto name = s.decode_mailbox(c.mailbox);
      if (!name) {
        s.no(c, "[NONEXISTENT] Mailbox name is not valid modified UTF-7");
        co_return;
      }
      auto job = [&s, n = *name]() { return s.mail().mailbox(*s.user, s.user->account_id, n); };
      auto mb = co_await s.blocking(std::move(job));
      if (!mb) {
        s.no(c, mb.error());
        co_return;
      }
      std::string line;
      if (c.verb == Verb::myrights) {
        line = "MYRIGHTS ";
        s.append_mailbox(line, mb->name);
        line += " " + std::string(kOwnerRights);
      } else if (c.verb == Verb::getacl) {
        line = "ACL ";
        s.append_mailbox(line, mb->name);
        line += ' ';
        append_string(line, s.user->address);
        line += " " + std::string(kOwnerRights);
      } else {
        line = "LISTRIGHTS ";
        s.append_mailbox(line, mb->name);
        line += ' ';
        append_string(line, c.identifier);
        // The owner's rights are fixed; nobody else can be granted any here.
        line += c.identifier == s.user->address ? " " + std::string(kOwnerRights) : std::string(" \"\"");
      }
      s.untagged(line);
      s.ok(c, "Completed");
      break;
    }
    default:
      s.no(c, "[NOPERM] Mailbox sharing is arranged through shared mailboxes by your administrator");
      break;
  }
}

}  // namespace caremail::imap

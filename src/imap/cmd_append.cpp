// APPEND (RFC 9051 §6.3.12) with MULTIAPPEND (RFC 3502), literal8 (RFC 3516), APPENDUID
// (RFC 4315). Literals over APPENDLIMIT were refused by the parser before they were read.
// The message is made durable by MailService::append before the tagged OK.
#include <algorithm>

#include "imap/render.hpp"
#include "imap/session.hpp"

namespace caremail::imap {

boost::asio::awaitable<void> cmd_append(Session& s, Command& c) {
  auto name = s.decode_mailbox(c.mailbox);
  if (!name) {
    s.bad(c, "Invalid mailbox name encoding");
    co_return;
  }
  struct Item {
    uint32_t flags = 0;
    std::vector<std::string> keywords;
    UnixTime date = 0;
  };
  std::vector<Item> items;
  for (const auto& m : c.messages) {
    Item it;
    for (const auto& f : m.flags) {
      std::string low = f;
      std::transform(low.begin(), low.end(), low.begin(), [](unsigned char ch) { return std::tolower(ch); });
      if (low == "\\seen") it.flags |= kSeen;
      else if (low == "\\answered") it.flags |= kAnswered;
      else if (low == "\\flagged") it.flags |= kFlagged;
      else if (low == "\\deleted") it.flags |= kDeleted;
      else if (low == "\\draft") it.flags |= kDraft;
      else if (low == "\\recent") continue;
      else if (!f.empty() && f[0] == '\\') {
        s.bad(c, "Unknown system flag " + f);
        co_return;
      } else {
        it.keywords.push_back(f);
      }
    }
    std::sort(it.keywords.begin(), it.keywords.end());
    it.keywords.erase(std::unique(it.keywords.begin(), it.keywords.end()), it.keywords.end());
    if (m.date) it.date = to_unix_time(*m.date);
    if (m.data.empty()) {
      s.no(c, "[CANNOT] An empty message cannot be appended");
      co_return;
    }
    items.push_back(std::move(it));
  }
  auto job = [&s, &c, &items, n = *name]() -> Result<std::vector<AppendResult>> {
    std::vector<AppendResult> done;
    for (size_t i = 0; i < items.size(); ++i) {
      auto r = s.mail().append(*s.user, s.user->account_id, n, c.messages[i].data, items[i].flags,
                               items[i].keywords, items[i].date);
      if (!r) return r.error();
      done.push_back(*r);
    }
    return done;
  };
  auto r = co_await s.blocking(std::move(job));
  if (!r) {
    if (r.error().code == Errc::not_found)
      s.no(c, "[TRYCREATE] No mailbox named " + *name);
    else
      s.no(c, r.error());
    co_return;
  }
  std::string uids;
  for (const auto& a : *r) {
    if (!uids.empty()) uids += ',';
    uids += std::to_string(a.uid);
  }
  s.ok(c, "[APPENDUID " + std::to_string(r->front().uidvalidity) + " " + uids + "] APPEND completed");
}

}  // namespace caremail::imap

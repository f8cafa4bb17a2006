// APPEND (RFC 9051 §6.3.12) with MULTIAPPEND (RFC 3502: all messages or none), CATENATE
// (RFC 4469: a message joined from TEXT literals and IMAP URLs of messages or parts in the
// user's own mailboxes), literal8 (RFC 3516: part bodies holding NUL are stored base64),
// APPENDUID (RFC 4315).
//   append = "APPEND" SP mailbox 1*( [ SP flag-list ] [ SP date-time ] SP append-data )
//   append-data = literal / literal8 / "CATENATE" SP "(" cat-part *( SP cat-part ) ")"
// Literals over APPENDLIMIT were refused by the parser before they were read. A URL is
// resolved through MailService with the session's Principal, so it can name only what the
// user may read; one that names nothing (or another user, or uses URLAUTH) is NO [BADURL].
// The messages are made durable by MailService::append_all before the tagged OK.
#include <algorithm>

#include "imap/mutf7.hpp"
#include "imap/render.hpp"
#include "imap/session.hpp"

namespace caremail::imap {

namespace {

bool same_address(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

struct Assembled {
  std::string data;
  std::string badurl;  // set: this URL names nothing we can give
  std::optional<Error> error;
};

// The octets an IMAP URL of CATENATE names. Runs on the blocking pool.
// Returns false with out.badurl or out.error set.
bool resolve_url(Session& s, const std::string& url, std::string& piece, Assembled& out) {
  auto u = parse_imap_url(url);
  if (!u || (!u->user.empty() && !same_address(u->user, s.user->address))) {
    out.badurl = url;
    return false;
  }
  MailService& mail = s.mail();
  const Principal& p = *s.user;
  auto mb = mail.mailbox(p, p.account_id, u->mailbox);
  if (!mb && mb.error().code == Errc::not_found && u->mailbox.find('&') != std::string::npos) {
    // RFC 2192's URLs carried the modified UTF-7 name; some clients still send those.
    if (auto d = mutf7_decode(u->mailbox)) mb = mail.mailbox(p, p.account_id, *d);
  }
  if (!mb || (u->uidvalidity && *u->uidvalidity != mb->uidvalidity)) {
    out.badurl = url;
    return false;
  }
  auto entries = mail.list(p, mb->id, UidRange{u->uid, u->uid}, true);
  if (!entries || entries->empty()) {
    out.badurl = url;
    return false;
  }
  const MailboxEntry& e = entries->front();
  auto raw = mail.fetch(p, mb->id, u->uid);
  if (!raw) {
    if (raw.error().code == Errc::not_found)
      out.badurl = url;
    else
      out.error = raw.error();
    return false;
  }
  std::string text;
  if (u->section) {
    auto t = section_text(*raw, e.summary.body_structure, *u->section, e.trace.size());
    if (!t) {
      out.badurl = url;
      return false;
    }
    text = std::move(*t);
  } else {
    text = std::move(*raw);
  }
  piece.assign(apply_partial(text, u->partial));
  return true;
}

// The URL inside "[BADURL ...]" (a resp-text-code): what cannot stand there is %-escaped.
std::string url_for_reply(std::string_view url) {
  std::string out;
  for (unsigned char ch : url.substr(0, 1024)) {
    if (ch <= 0x20 || ch >= 0x7f || ch == ']') {
      static constexpr char kHex[] = "0123456789ABCDEF";
      out += '%';
      out += kHex[ch >> 4];
      out += kHex[ch & 15];
    } else {
      out += static_cast<char>(ch);
    }
  }
  return out;
}

}  // namespace

boost::asio::awaitable<void> cmd_append(Session& s, Command& c) {
  auto name = s.decode_mailbox(c.mailbox);
  if (!name) {
    // Not the name of any mailbox we hold (every name we send is valid); Dovecot says NO too.
    s.no(c, "[NONEXISTENT] Mailbox name is not valid modified UTF-7");
    co_return;
  }
  std::vector<MailService::NewAppend> items;
  for (const auto& m : c.messages) {
    MailService::NewAppend it;
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
    if (m.date) it.internal_date = to_unix_time(*m.date);
    if (!m.catenate && m.data.empty()) {
      s.no(c, "[CANNOT] An empty message cannot be appended");
      co_return;
    }
    it.raw = m.data;
    items.push_back(std::move(it));
  }
  struct Out {
    Result<std::vector<AppendResult>> r = std::vector<AppendResult>{};
    bool trycreate = false;
    std::string badurl;
  };
  const uint64_t max_bytes = s.config().quota.max_message_bytes;
  auto job = [&s, &c, &items, n = *name, max_bytes]() {
    Out o;
    MailService& mail = s.mail();
    const Principal& p = *s.user;
    // The target first: a URL's failure must not hide a missing mailbox (TRYCREATE).
    if (auto mb = mail.mailbox(p, p.account_id, n); !mb) {
      o.trycreate = mb.error().code == Errc::not_found;
      o.r = mb.error();
      return o;
    }
    std::vector<std::string> joined(items.size());
    for (size_t i = 0; i < items.size(); ++i) {
      const AppendMessage& m = c.messages[i];
      if (!m.catenate) continue;
      Assembled a;
      std::string piece;
      for (const CatPart& part : m.parts) {
        if (part.url) {
          if (!resolve_url(s, part.value, piece, a)) {
            o.badurl = a.badurl;
            o.r = a.error ? *a.error : make_error(Errc::invalid_argument, "bad URL");
            return o;
          }
          a.data += piece;
        } else {
          a.data += part.value;
        }
        // Checked as it grows: a few URLs must not make us hold many large messages.
        if (a.data.size() > max_bytes) {
          o.r = make_error(Errc::too_large, "the joined message is over the " + std::to_string(max_bytes) +
                                                " byte limit (APPENDLIMIT)");
          return o;
        }
      }
      if (a.data.empty()) {
        o.r = make_error(Errc::invalid_argument, "an empty message cannot be appended");
        return o;
      }
      joined[i] = std::move(a.data);
      items[i].raw = joined[i];
    }
    // Literal8 (RFC 3516) may carry NUL octets, which no later BODY[] could send: such part
    // bodies are stored base64-encoded (BINARY[] still decodes them to what was sent).
    for (size_t i = 0; i < items.size(); ++i) {
      if (items[i].raw.find('\0') == std::string_view::npos) continue;
      if (auto enc = encode_binary_parts(items[i].raw)) {
        joined[i] = std::move(*enc);
        items[i].raw = joined[i];
      }
      if (items[i].raw.find('\0') != std::string_view::npos) {
        o.r = make_error(Errc::invalid_argument, "a NUL octet outside any part's body cannot be stored");
        return o;
      }
    }
    o.r = mail.append_all(p, p.account_id, n, items);
    return o;
  };
  Out o = co_await s.blocking(std::move(job));
  if (!o.r) {
    if (o.trycreate)
      s.no(c, "[TRYCREATE] No mailbox named " + *name);
    else if (!o.badurl.empty())
      s.no(c, "[BADURL " + url_for_reply(o.badurl) + "] The URL names no message or part of yours");
    else
      s.no(c, o.r.error());
    co_return;
  }
  std::string uids;
  for (const auto& a : *o.r) {
    if (!uids.empty()) uids += ',';
    uids += std::to_string(a.uid);
  }
  s.ok(c, "[APPENDUID " + std::to_string(o.r->front().uidvalidity) + " " + uids + "] APPEND completed");
}

}  // namespace caremail::imap

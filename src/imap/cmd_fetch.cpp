// FETCH and UID FETCH (RFC 9051 §6.4.5, RFC 3516 BINARY, RFC 7162 CHANGEDSINCE/VANISHED).
// Flags, UIDs and modseqs come from the session's view; sizes and dates from the store's
// entries; ENVELOPE, BODYSTRUCTURE and body sections from the raw message (read through
// MailService::fetch, which verifies it). Messages are handled in batches so that a FETCH
// of a whole large mailbox never holds more than one batch of bodies in memory.
// A non-PEEK body fetch sets \Seen (not in a read-only mailbox) and reports the new FLAGS.
#include <algorithm>
#include <cstring>
#include <set>
#include <unordered_map>

#include "imap/render.hpp"
#include "imap/session.hpp"

namespace caremail::imap {

namespace {

constexpr size_t kBatch = 64;                // messages per worker hop (bodies held: 64 x message size)
constexpr size_t kFlushBytes = 256u << 10;   // write out before queueing more

std::string section_name(const Section& s) {
  std::string out;
  for (size_t i = 0; i < s.part.size(); ++i) {
    if (i) out += '.';
    out += std::to_string(s.part[i]);
  }
  auto add = [&](std::string_view t) {
    if (!out.empty()) out += '.';
    out += t;
  };
  switch (s.text) {
    case Section::Text::none: break;
    case Section::Text::header: add("HEADER"); break;
    case Section::Text::text: add("TEXT"); break;
    case Section::Text::mime: add("MIME"); break;
    case Section::Text::header_fields:
    case Section::Text::header_fields_not: {
      add(s.text == Section::Text::header_fields ? "HEADER.FIELDS (" : "HEADER.FIELDS.NOT (");
      for (size_t i = 0; i < s.fields.size(); ++i) {
        if (i) out += ' ';
        // Echo field names as atoms, as sent by nearly every client (some compare the
        // section text literally); anything else as a string.
        const std::string& f = s.fields[i];
        bool atom = !f.empty() && std::all_of(f.begin(), f.end(), [](unsigned char ch) {
          return ch > 0x20 && ch < 0x7f && !std::strchr("(){%*\"\\]", ch);
        });
        if (atom)
          out += f;
        else
          append_string(out, f);
      }
      out += ')';
      break;
    }
  }
  return out;
}

std::string part_name(const std::vector<uint32_t>& part) {
  std::string out;
  for (size_t i = 0; i < part.size(); ++i) {
    if (i) out += '.';
    out += std::to_string(part[i]);
  }
  return out;
}

struct Needs {
  bool entry = false;    // INTERNALDATE, RFC822.SIZE
  bool summary = false;  // BODY, BODYSTRUCTURE (the structure JSON)
  bool raw = false;      // ENVELOPE, sections, RFC822*, BINARY*, BODYSTRUCTURE
  // Every raw need is the top-level header (ENVELOPE, BODY[HEADER*], RFC822.HEADER, and the
  // structure of a message without embedded messages): answered from the header cache.
  bool header_only = true;
  bool seen = false;     // sets \Seen
  bool uid = false, flags = false, modseq = false;
};

Needs needs_of(const FetchArgs& a, bool read_only) {
  Needs n;
  for (const auto& att : a.atts) {
    switch (att.kind) {
      case FetchAtt::Kind::uid: n.uid = true; break;
      case FetchAtt::Kind::flags: n.flags = true; break;
      case FetchAtt::Kind::modseq: n.modseq = true; break;
      case FetchAtt::Kind::internaldate:
      case FetchAtt::Kind::rfc822_size: n.entry = true; break;
      case FetchAtt::Kind::body:
      case FetchAtt::Kind::bodystructure:
        // The renderer checks part sizes against the bytes it is given: the whole message.
        n.entry = n.summary = n.raw = true;
        n.header_only = false;
        break;
      case FetchAtt::Kind::envelope:
      case FetchAtt::Kind::rfc822_header: n.raw = true; break;
      // (The structure (`summary`) is needed only to find sections in the body: top-level
      // header sections come from the header alone, see the end.)
      case FetchAtt::Kind::rfc822:
      case FetchAtt::Kind::rfc822_text:
        n.raw = true;
        n.header_only = false;
        n.seen = !read_only;
        break;
      case FetchAtt::Kind::body_section: {
        n.raw = n.entry = n.summary = true;
        if (!att.peek) n.seen = !read_only;
        bool header = att.section.part.empty() && (att.section.text == Section::Text::header ||
                                                   att.section.text == Section::Text::header_fields ||
                                                   att.section.text == Section::Text::header_fields_not);
        if (!header) n.header_only = false;
        break;
      }
      case FetchAtt::Kind::binary:
        n.raw = n.entry = n.summary = true;
        n.header_only = false;
        if (!att.peek) n.seen = !read_only;
        break;
      case FetchAtt::Kind::binary_size:
        n.raw = n.entry = n.summary = true;
        n.header_only = false;
        break;
    }
  }
  // A page of a message list (headers only) is answered from the header cache without
  // reading or parsing any message's structure; render_batch reads the structures only
  // for messages whose header is not cached.
  if (n.raw && n.header_only) n.summary = false;
  return n;
}

struct BatchOut {
  std::string text;
  std::optional<Error> error;  // a message could not be read
  // Asked for but no longer there: expunged by another session (the client has not been
  // told yet, so it still numbers them). Left out, and the tagged OK says why
  // ([EXPUNGEISSUED], RFC 9051 7.1).
  bool expunged = false;
  // Every keyword in `text`: the session announces any it has not in FLAGS first
  // (RFC 9051 7.3.5), before the FETCH responses that carry them.
  std::set<std::string> keywords;
};

// Renders one batch; runs on the worker pool (the session waits for it).
BatchOut render_batch(Session& s, const Command& c, const Needs& need, const std::vector<size_t>& idx, size_t from,
                      size_t to) {
  BatchOut out;
  View& v = s.view();
  MailService& mail = s.mail();
  const Principal& p = *s.user;
  // Flags and modseqs come from the store's entries (the view keeps only UIDs).
  std::unordered_map<Uid, MailboxEntry> entries;
  {
    Uid lo = v.uids.at(idx[from]), hi = v.uids.at(idx[to - 1]);
    auto listed = mail.list(p, v.mailbox.id, UidRange{lo, hi}, need.summary);
    if (!listed) {
      out.error = listed.error();
      return out;
    }
    for (auto& e : *listed) entries.emplace(e.uid, std::move(e));
  }
  // The header cache, when every raw need is the header (a page of a message list).
  std::unordered_map<Uid, std::string> headers;
  if (need.raw && need.header_only) {
    Uid lo = v.uids.at(idx[from]), hi = v.uids.at(idx[to - 1]);
    auto cached = mail.headers(p, v.mailbox.id, UidRange{lo, hi});
    if (cached)
      for (auto& [u, h] : *cached) headers.emplace(u, std::move(h));
    // A message whose header is not cached (bigger than the cache takes) is read whole and
    // its sections found through its structure, which the first listing left out.
    bool missing = false;
    for (size_t k = from; k < to && !missing; ++k) {
      Uid u = v.uids.at(idx[k]);
      missing = entries.contains(u) && !headers.contains(u);
    }
    if (missing) {
      auto listed = mail.list(p, v.mailbox.id, UidRange{lo, hi}, true);
      if (listed)
        for (auto& e : *listed)
          if (auto it = entries.find(e.uid); it != entries.end()) it->second.summary = std::move(e.summary);
    }
  }
  if (need.seen) {
    std::vector<Uid> unseen;
    for (size_t k = from; k < to; ++k) {
      Uid u = v.uids.at(idx[k]);
      auto it = entries.find(u);
      if (it != entries.end() && !(it->second.flags & kSeen) && !v.is_gone(u)) unseen.push_back(u);
    }
    if (!unseen.empty()) {
      auto r = mail.set_flags(p, v.mailbox.id, unseen, FlagUpdate{FlagOp::add, kSeen, {}, {}});
      if (r) {
        for (const auto& e : r->updated) {
          auto it = entries.find(e.uid);
          if (it == entries.end()) continue;
          it->second.flags = e.flags;
          it->second.keywords = e.keywords;
          it->second.modseq = e.modseq;
          v.own.emplace_back(e.uid, e.modseq);  // reported here, not again by the sync
        }
      }
    }
  }
  for (size_t k = from; k < to; ++k) {
    size_t i = idx[k];
    const Uid uid = v.uids.at(i);
    auto found = entries.find(uid);
    if (v.is_gone(uid) || found == entries.end()) {
      out.expunged = true;  // expunged elsewhere; a later sync announces it
      continue;
    }
    const MailboxEntry* e = &found->second;
    if (c.fetch.changedsince && e->modseq <= *c.fetch.changedsince) continue;  // CHANGEDSINCE
    struct {
      Uid uid;
      uint32_t flags;
      ModSeq modseq;
      const std::vector<std::string>& keywords;
    } m{uid, e->flags, e->modseq, e->keywords};
    std::string raw;
    auto cached = headers.find(uid);
    bool header_enough = cached != headers.end();
    if (need.raw && header_enough) {
      raw = std::move(cached->second);
    } else if (need.raw) {
      auto r = mail.fetch(p, v.mailbox.id, m.uid);
      if (!r) {
        if (r.error().code == Errc::not_found) {
          out.expunged = true;  // expunged since the entries were read
          continue;
        }
        out.error = r.error();
        continue;
      }
      raw = std::move(r).value();
    }
    std::string line = "* " + std::to_string(i + 1) + " FETCH (";
    bool first = true;
    auto item = [&](std::string_view name) {
      if (!first) line += ' ';
      first = false;
      line += name;
    };
    const std::string& json = e->summary.body_structure;
    const size_t base = e->trace.size();  // raw is the entry's trace + the message json describes
    bool flags_done = false, uid_done = false, modseq_done = false;
    if (c.uid || need.uid) {
      item("UID " + std::to_string(m.uid));
      uid_done = true;
    }
    for (const auto& att : c.fetch.atts) {
      switch (att.kind) {
        case FetchAtt::Kind::uid:
          if (!uid_done) item("UID " + std::to_string(m.uid));
          uid_done = true;
          break;
        case FetchAtt::Kind::flags:
          if (!flags_done) item("FLAGS " + s.flags_of(m.uid, m.flags, m.keywords));
          flags_done = true;
          break;
        case FetchAtt::Kind::modseq:
          if (!modseq_done) item("MODSEQ (" + std::to_string(m.modseq) + ")");
          modseq_done = true;
          break;
        case FetchAtt::Kind::internaldate: item("INTERNALDATE " + format_internaldate(e->internal_date)); break;
        case FetchAtt::Kind::rfc822_size: item("RFC822.SIZE " + std::to_string(e->size)); break;
        case FetchAtt::Kind::envelope: item("ENVELOPE " + envelope(raw, s.utf8)); break;
        case FetchAtt::Kind::body: item("BODY " + body_structure(raw, json, false, s.utf8, base)); break;
        case FetchAtt::Kind::bodystructure: item("BODYSTRUCTURE " + body_structure(raw, json, true, s.utf8, base)); break;
        case FetchAtt::Kind::rfc822:
          item("RFC822 ");
          append_literal(line, raw);
          break;
        case FetchAtt::Kind::rfc822_header: {
          Section sec;
          sec.text = Section::Text::header;
          auto h = header_enough ? header_section_text(raw, sec) : section_text(raw, json, sec, base);
          item("RFC822.HEADER ");
          append_literal(line, h ? *h : std::string());
          break;
        }
        case FetchAtt::Kind::rfc822_text: {
          Section sec;
          sec.text = Section::Text::text;
          auto t = section_text(raw, json, sec, base);
          item("RFC822.TEXT ");
          append_literal(line, t ? *t : std::string());
          break;
        }
        case FetchAtt::Kind::body_section: {
          auto t = header_enough && is_top_header_section(att.section) ? header_section_text(raw, att.section)
                                                                       : section_text(raw, json, att.section, base);
          std::string name = "BODY[" + section_name(att.section) + "]";
          if (att.partial) name += "<" + std::to_string(att.partial->first) + ">";
          item(name + " ");
          if (!t)
            line += "NIL";
          else
            append_literal(line, apply_partial(*t, att.partial));
          break;
        }
        case FetchAtt::Kind::binary:
        case FetchAtt::Kind::binary_size: {
          std::string decoded;
          BinaryStatus bs = binary_section(raw, json, att.section.part, decoded, base);
          if (bs == BinaryStatus::unknown_cte) {
            out.error = make_error(Errc::invalid_argument, "[UNKNOWN-CTE] Cannot decode the part's transfer encoding");
            line.clear();
            break;
          }
          if (att.kind == FetchAtt::Kind::binary_size) {
            item("BINARY.SIZE[" + part_name(att.section.part) + "] " +
                 (bs == BinaryStatus::ok ? std::to_string(decoded.size()) : std::string("0")));
            break;
          }
          std::string name = "BINARY[" + part_name(att.section.part) + "]";
          if (att.partial) name += "<" + std::to_string(att.partial->first) + ">";
          item(name + " ");
          if (bs != BinaryStatus::ok) {
            line += "NIL";
          } else {
            std::string_view part = apply_partial(decoded, att.partial);
            append_literal(line, part, part.find('\0') != std::string_view::npos);
          }
          break;
        }
      }
      if (line.empty()) break;
    }
    if (line.empty()) continue;
    // Implicit \Seen and CONDSTORE: the client learns the new flags and modseq.
    if (need.seen && !flags_done) item("FLAGS " + s.flags_of(m.uid, m.flags, m.keywords));
    if (!modseq_done && (c.fetch.changedsince || (s.condstore && need.seen)))
      item("MODSEQ (" + std::to_string(m.modseq) + ")");
    line += ")\r\n";
    out.text += line;
    if (flags_done || need.seen) out.keywords.insert(m.keywords.begin(), m.keywords.end());
  }
  return out;
}

}  // namespace

boost::asio::awaitable<void> cmd_fetch(Session& s, Command& c) {
  const FetchArgs& a = c.fetch;
  if (a.vanished && (!c.uid || !s.qresync || !a.changedsince)) {
    s.bad(c, "VANISHED needs UID FETCH, CHANGEDSINCE and ENABLE QRESYNC");
    co_return;
  }
  std::string err;
  auto idx = s.resolve(c.set, c.uid, err);
  if (!idx) {
    s.bad(c, err);
    co_return;
  }
  // FETCH MODSEQ and CHANGEDSINCE are CONDSTORE enabling commands (RFC 7162 3.1).
  bool wants_modseq = a.changedsince.has_value() ||
                      std::any_of(a.atts.begin(), a.atts.end(),
                                  [](const FetchAtt& att) { return att.kind == FetchAtt::Kind::modseq; });
  if (wants_modseq) s.enable_condstore();
  Needs need = needs_of(a, s.view().read_only);
  View& v = s.view();
  if (a.changedsince) {
    if (a.vanished) {
      MailboxId id = v.mailbox.id;
      ModSeq since = *a.changedsince;
      auto job = [&s, id, since]() { return s.mail().expunged_since(*s.user, id, since); };
      auto gone = co_await s.blocking(std::move(job));
      if (gone) {
        std::string err2;
        std::vector<Uid> in_set;
        Uid star = v.uids.back();
        for (Uid u : *gone) {
          for (const auto& r : c.set.ranges) {
            Uid lo = r.first == SeqRange::kStar ? star : r.first, hi = r.last == SeqRange::kStar ? star : r.last;
            if (lo > hi) std::swap(lo, hi);
            if (u >= lo && u <= hi) {
              in_set.push_back(u);
              break;
            }
          }
        }
        if (!in_set.empty()) {
          std::string set;
          for (size_t i = 0; i < in_set.size();) {
            size_t j = i;
            while (j + 1 < in_set.size() && in_set[j + 1] == in_set[j] + 1) ++j;
            if (!set.empty()) set += ',';
            set += std::to_string(in_set[i]);
            if (j > i) set += ':' + std::to_string(in_set[j]);
            i = j + 1;
          }
          s.untagged("VANISHED (EARLIER) " + set);
        }
      }
    }
  }
  std::optional<Error> failure;
  bool expunged = false;
  // Bodies are held a batch at a time; without them a batch is only entries.
  const size_t batch = need.raw ? kBatch : 4096;
  size_t pos = 0;
  while (pos < idx->size()) {
    size_t end = std::min(idx->size(), pos + batch);
    auto job = [&s, &c, &need, &idx, pos, end]() { return render_batch(s, c, need, *idx, pos, end); };
    BatchOut out = co_await s.blocking(std::move(job));
    s.note_keywords(std::vector<std::string>(out.keywords.begin(), out.keywords.end()));
    s.raw(out.text);
    if (out.error) failure = out.error;
    expunged |= out.expunged;
    pos = end;
    if (s.pending_output() > kFlushBytes) {
      bool flushed = co_await s.flush();
      if (!flushed) {
        s.close_after_reply();
        co_return;
      }
    }
  }
  if (failure && failure->message.starts_with("["))
    s.no(c, failure->message);
  else if (failure)
    s.no(c, *failure);
  else if (expunged)
    // RFC 2180 4.1 allows several answers; Dovecot's is this one (the command did its work,
    // the code says why some messages are missing, the next NOOP announces them).
    s.ok(c, "[EXPUNGEISSUED] Some messages were already expunged");
  else
    s.ok(c, c.uid ? "UID FETCH completed" : "FETCH completed");
}

}  // namespace caremail::imap

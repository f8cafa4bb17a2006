// /api/v1/accounts/{address}/mailboxes[/...] and /api/v1/deliver: an account's mailboxes
// and messages as the core lets the caller see them, and operator injection of a message.
// Thin: every decision is MailService's (and AdminService's, for finding the account).
#include "http/api_routes.hpp"

namespace caremail::http {

namespace json = boost::json;

namespace {

Response mailboxes(Call& c) {
  auto a = c.d.admin.get_account(c.p, c.param("address"));
  if (!a) return problem(a.error());
  auto list = c.d.mail.list_mailboxes(c.p, a->id);
  if (!list) return problem(list.error());
  json::array out;
  for (const auto& m : *list)
    out.push_back(json::object{{"name", m.name},
                               {"special_use", m.special_use},
                               {"uidvalidity", m.uidvalidity},
                               {"uidnext", m.uidnext},
                               {"highest_modseq", m.highest_modseq},
                               {"messages", m.messages},
                               {"unseen", m.unseen},
                               {"bytes", m.bytes}});
  return json_response(200, json::object{{"mailboxes", out}});
}

// The mailbox {name} of account {address}, as the caller may see it.
std::variant<Mailbox, Response> mailbox_of(Call& c) {
  auto a = c.d.admin.get_account(c.p, c.param("address"));
  if (!a) return problem(a.error());
  auto mb = c.d.mail.mailbox(c.p, a->id, c.param("name"));
  if (!mb) return problem(mb.error());
  return std::move(mb).value();
}

// GET .../mailboxes/{name}/messages: uid, size, flags, blob, subject of each.
Response messages(Call& c) {
  auto found = mailbox_of(c);
  if (auto* resp = std::get_if<Response>(&found)) return std::move(*resp);
  const Mailbox& mb = std::get<Mailbox>(found);
  UidRange range;
  try {
    if (auto f = c.r.query_one("from_uid"); !f.empty()) range.first = static_cast<Uid>(std::stoul(f));
  } catch (const std::exception&) {
    return problem(400, "'from_uid' must be a whole number");
  }
  auto list = c.d.mail.list(c.p, mb.id, range, true);
  if (!list) return problem(list.error());
  json::array out;
  for (const auto& e : *list)
    out.push_back(json::object{{"uid", e.uid}, {"size", e.size}, {"flags", e.flags}, {"modseq", e.modseq},
                               {"internal_date", e.internal_date}, {"blob", e.blob_id},
                               {"subject", e.summary.subject}, {"from", e.summary.from}});
  return json_response(200, json::object{{"mailbox", mb.name}, {"uidvalidity", mb.uidvalidity}, {"messages", out}});
}

// GET .../mailboxes/{name}/messages/{uid}/raw: the message as its owner sees it (its own
// Delivered-To first), verified.
Response raw_message(Call& c) {
  auto found = mailbox_of(c);
  if (auto* resp = std::get_if<Response>(&found)) return std::move(*resp);
  std::string uid_text = c.param("uid");
  Uid uid = 0;
  try {
    size_t used = 0;
    unsigned long v = std::stoul(uid_text, &used);
    if (used != uid_text.size() || v == 0 || v > UINT32_MAX) throw std::invalid_argument("uid");
    uid = static_cast<Uid>(v);
  } catch (const std::exception&) {
    return problem(400, "the UID must be a whole number from 1");
  }
  auto raw = c.d.mail.fetch(c.p, std::get<Mailbox>(found).id, uid);
  if (!raw) return problem(raw.error());
  Response out;
  out.content_type = "message/rfc822";
  out.body = std::move(raw).value();
  return out;
}

// Operator injection of a message: the body is the raw message, the recipients are in
// ?to=. National administrators only; audited.
Response deliver(Call& c) {
  std::vector<std::string> rcpts;
  for (auto [b, e] = c.r.query.equal_range("to"); b != e; ++b) rcpts.push_back(b->second);
  if (rcpts.empty()) return problem(400, "name at least one recipient: ?to=address");
  if (rcpts.size() > 1000) return problem(400, "at most 1000 recipients per request");
  auto rep = c.d.mail.inject(c.p, rcpts, c.r.body);
  if (!rep) return problem(rep.error());
  json::array out;
  for (const auto& o : rep->recipients) {
    json::object j{{"address", o.address}, {"delivered", !o.error}};
    if (o.error) {
      j["error"] = to_string(o.error->code);
      j["detail"] = o.error->message;
    } else {
      j["uid"] = o.uid;
      j["mailbox_id"] = o.mailbox_id;
    }
    out.push_back(std::move(j));
  }
  return json_response(rep->delivered() ? 200 : 422,
                       json::object{{"blob", rep->blob_id}, {"size", c.r.body.size()}, {"recipients", out}});
}

const Route kRoutes[] = {
    {"GET", "/api/v1/accounts/{address}/mailboxes", mailboxes},
    {"GET", "/api/v1/accounts/{address}/mailboxes/{name}/messages", messages},
    {"GET", "/api/v1/accounts/{address}/mailboxes/{name}/messages/{uid}/raw", raw_message},
    {"POST", "/api/v1/deliver", deliver, Access::signed_in, BodyUse::none, kTakesMessage},
};

}  // namespace

std::span<const Route> mailbox_routes() { return kRoutes; }

}  // namespace caremail::http

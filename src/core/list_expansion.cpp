// MailService: distribution lists (a static subset of PRODUCT.md M9): who may send to a
// list (check_recipient) and its expansion at delivery (deliver). Contracts in
// mail_service.hpp.
#include "core/mail_service.hpp"

#include <algorithm>
#include <set>

#include "common/ascii.hpp"
#include "common/log.hpp"
#include "crypto/crypto.hpp"

namespace caremail {

namespace {

// RFC 2919 list identifier of a list: its address with the @ as a dot ("ward7@a.nhs.uk"
// -> "ward7.a.nhs.uk"), a dot-atom since our list addresses are dot-atoms.
std::string list_id_of(std::string_view address) {
  std::string id = ascii_lower(address);
  std::replace(id.begin(), id.end(), '@', '.');
  return id;
}

// "List-Id: "Ward 7 nurses" <ward7.a.nhs.uk>\r\n". The phrase only when it is printable
// ASCII (a quoted string, " and \ escaped); otherwise the identifier alone, which RFC 2919
// allows.
std::string list_id_field(const DistributionList& l) {
  std::string phrase;
  bool ascii = !l.display_name.empty() && std::all_of(l.display_name.begin(), l.display_name.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u >= 0x20 && u < 0x7f;
  });
  if (ascii) {
    phrase = "\"";
    for (char c : l.display_name) {
      if (c == '"' || c == '\\') phrase += '\\';
      phrase += c;
    }
    phrase += "\" ";
  }
  return "List-Id: " + phrase + "<" + list_id_of(l.address) + ">\r\n";
}

// True when a List-Id field of the header section of `raw` names `id` (any case): the
// message has been through that list before.
bool carries_list_id(std::string_view raw, std::string_view id) {
  const std::string want = "<" + ascii_lower(id) + ">";
  size_t pos = 0;
  while (pos < raw.size()) {
    size_t eol = raw.find('\n', pos);
    if (eol == std::string_view::npos) eol = raw.size();
    std::string_view line = raw.substr(pos, eol - pos);
    if (line.empty() || line == "\r") return false;  // end of the header section
    if (line.size() > 8 && ascii_lower(line.substr(0, 8)) == "list-id:") {
      std::string value(line.substr(8));
      size_t next = eol + 1;  // unfold
      while (next < raw.size() && (raw[next] == ' ' || raw[next] == '\t')) {
        size_t e2 = raw.find('\n', next);
        if (e2 == std::string_view::npos) e2 = raw.size();
        value += raw.substr(next, e2 - next);
        next = e2 + 1;
      }
      if (ascii_lower(value).find(want) != std::string::npos) return true;
    }
    pos = eol + 1;
  }
  return false;
}

}  // namespace

Status MailService::may_send_to_list(const DistributionList& l, const Sender& from) {
  auto refuse = [&](std::string why) -> Status {
    log::info("mail.list_refused", {{"list", l.address}, {"sender", from.envelope_from},
                                    {"user", from.user ? from.user->address : std::string()}});
    return make_error(Errc::permission_denied, std::move(why));
  };
  const bool signed_in = from.user && !from.user->restricted() && !from.user->system;
  switch (l.senders) {
    case ListSenders::anyone:
      break;
    case ListSenders::service:
      if (!signed_in)
        return refuse("only people signed in to the service may send to the list " + l.address +
                      "; send it from your account through the submission port");
      break;
    case ListSenders::members: {
      bool member = false;
      auto is_member = [&](std::string_view a) {
        return std::binary_search(l.members.begin(), l.members.end(), ascii_lower(a));
      };
      if (signed_in) {
        if (auto me = store_.account(from.user->account_id)) {
          member = is_member(me->address);
          for (const auto& a : me->aliases) member = member || is_member(a);
        }
      } else if (auto at = from.envelope_from.rfind('@'); at != std::string::npos && from.trust_envelope) {
        // Unauthenticated (port 25), and the operator chose to believe the envelope:
        // only an outside member's address counts; the service's own addresses must
        // sign in to be believed. By default nothing unauthenticated counts: anyone can
        // forge a member's address, and the list would fan the forgery out.
        member = !is_local_domain(from.envelope_from.substr(at + 1)) && is_member(from.envelope_from);
      }
      if (!member) return refuse("only members of the list " + l.address + " may send to it");
      break;
    }
  }
  return {};
}

Status MailService::expand_list(const DistributionList& l, RecipientOutcome& out, std::string_view raw,
                                UnixTime internal_date, const Envelope& envelope, std::set<AccountId>& seen,
                                std::set<std::string>& queued, std::vector<RecipientOutcome>& failures,
                                std::string& blob_id) {
  if (carries_list_id(raw, list_id_of(l.address))) {
    out.list_loop = true;
    log::warn("mail.list_loop", {{"list", l.address}, {"sender", envelope.sender}, {"queue_id", envelope.queue_id}});
    return {};
  }
  std::vector<DeliveryTarget> targets;
  std::vector<std::string> target_address;
  std::vector<NewOutbound> remote;
  const std::string queue_id = envelope.queue_id.empty() ? crypto::random_token(8) : envelope.queue_id;
  for (const auto& m : l.members) {
    std::string domain = m.substr(m.rfind('@') + 1);
    if (!is_local_domain(domain)) {
      if (!queued.insert(m).second) continue;  // one copy each
      NewOutbound o;
      o.queue_id = queue_id;
      o.sender = envelope.sender;
      o.recipient = m;
      remote.push_back(std::move(o));
      continue;
    }
    RecipientOutcome f;
    f.address = m;
    f.via_list = l.address;
    auto acct = store_.account_by_address(m);
    if (auto why = refusal(acct, m)) {
      f.error = std::move(why);
    } else {
      if (!seen.insert(acct->id).second) continue;  // one copy each
      DeliveryTarget t;
      t.account_id = acct->id;
      t.trace = delivered_to(m, acct->address);
      targets.push_back(std::move(t));
      target_address.push_back(m);
      continue;
    }
    failures.push_back(std::move(f));
  }
  if (targets.empty() && remote.empty()) return {};
  // One copy for every member: the message with the list's List-Id in front.
  std::string copy = list_id_field(l);
  copy += raw;
  auto staged = stage(copy, internal_date);
  if (!staged) return staged.error();
  if (blob_id.empty()) blob_id = staged->msg.blob_id;
  if (!targets.empty()) {
    auto done = store_.deliver(staged->msg, targets);
    if (!done) return done.error();
    for (size_t i = 0; i < done->size(); ++i) {
      const Delivered& d = (*done)[i];
      if (d.error) {
        RecipientOutcome f;
        f.address = target_address[i];
        f.via_list = l.address;
        f.account_id = d.account_id;
        f.error = d.error;
        failures.push_back(std::move(f));
        continue;
      }
      ++out.list_local;
      feed_.notify(d.account_id);
      if (fts_) fts_->enqueue(d.account_id, staged->msg.blob_id);
    }
  }
  if (!remote.empty()) {
    auto queued = store_.enqueue(staged->msg, remote);
    if (!queued) return queued.error();
    out.list_queued = remote.size();
  }
  log::info("mail.list_expanded", {{"list", l.address}, {"queue_id", queue_id}, {"local", out.list_local},
                                   {"queued", out.list_queued}, {"blob", staged->msg.blob_id}});
  return {};
}

}  // namespace caremail

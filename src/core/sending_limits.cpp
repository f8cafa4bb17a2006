// MailService: the hourly sending limits (PRODUCT.md S6). Contracts in mail_service.hpp.
#include "core/mail_service.hpp"

#include "common/log.hpp"
#include "core/scope.hpp"

namespace caremail {

Status MailService::sending_allowed(const Principal& by) {
  if (by.system) return {};
  auto acct = store_.account(by.account_id);
  if (!acct) return acct.error();
  if (acct->sending_suspended)
    return make_error(Errc::permission_denied,
                      "sending from " + acct->address + " is suspended because of excessive activity; "
                      "your administrator has been told and can lift the suspension");
  return {};
}

Status MailService::record_submission(const Principal& by, size_t recipients) {
  if (by.system) return {};
  if (Status s = sending_allowed(by); !s) return s;
  auto acct = store_.account(by.account_id);
  if (!acct) return acct.error();
  bool app = acct->kind == AccountKind::application;
  const size_t max_msgs = static_cast<size_t>(app ? limits_.app_max_messages_per_hour : limits_.max_messages_per_hour);
  const size_t max_rcpts =
      static_cast<size_t>(app ? limits_.app_max_recipients_per_hour : limits_.max_recipients_per_hour);
  const UnixTime now = clock_.now();
  size_t msgs = 0, rcpts = 0;
  bool over = false;
  {
    std::lock_guard lk(send_mu_);
    SendWindow& w = send_windows_[by.account_id];
    if (w.tripped) {  // an administrator lifted the suspension: count from now
      w = SendWindow{};
    }
    while (!w.sent.empty() && w.sent.front().first <= now - 3600) {
      w.recipients -= w.sent.front().second;
      w.sent.pop_front();
    }
    msgs = w.sent.size() + 1;
    rcpts = w.recipients + recipients;
    over = msgs > max_msgs || rcpts > max_rcpts;
    if (!over) {
      w.sent.emplace_back(now, recipients);
      w.recipients += recipients;
    } else {
      w.tripped = true;
    }
  }
  if (!over) return {};
  std::string why = std::to_string(msgs) + " messages to " + std::to_string(rcpts) +
                    " recipients within an hour (the limit is " + std::to_string(max_msgs) + " messages and " +
                    std::to_string(max_rcpts) + " recipients)";
  if (Status s = store_.set_sending_suspended(acct->id, true); !s) return s;
  audit(store_, Principal::service(), "mail.sending_suspended", acct->address, acct->org_id, "ok",
        "{\"reason\":\"excessive activity\"}");
  log::warn("mail.sending_suspended", {{"account", acct->address}, {"messages", msgs}, {"recipients", rcpts}});
  // Tell the person and their organisation's administrators, in their INBOX.
  std::vector<std::string> to{acct->address};
  if (auto people = store_.list_accounts(acct->org_id))
    for (const auto& a : *people)
      if (a.id != acct->id && is_local_admin(a))
        to.push_back(a.address);
  Status sent = send_notice(to, "Sending suspended for " + acct->address + " (excessive activity)",
                            "Sending from " + acct->address + " has been suspended because it sent " + why +
                                ".\r\n\r\nThis protects the service when an account is misused or a program "
                                "sends in a loop. Receiving mail is not affected. An administrator of your "
                                "organisation can lift the suspension once the cause is found.\r\n");
  if (!sent) log::warn("mail.suspension_notice_failed", {{"account", acct->address}, {"error", sent.error().message}});
  return make_error(Errc::permission_denied, "sending from " + acct->address +
                                                 " is suspended because of excessive activity (" + why +
                                                 "); your administrator has been told");
}

}  // namespace caremail

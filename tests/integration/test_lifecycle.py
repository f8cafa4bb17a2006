"""Account life cycle end to end (PRODUCT.md A1-A3, A2b, A6) through a real caremaild with
real clients (imaplib, smtplib on the MX and submission ports, http.client through the
harness, caremailctl):

- leaver to joiner: the old organisation marks a leaver (administrator roles and a larger
  quota go), the person still signs in and still receives mail, the new organisation's
  administrator claims the account, the old administrator no longer sees it;
- closing and merging organisations (caremailctl `org close` and the API): accounts and
  domains move to the successor, mail to the old domain is still delivered, the successor's
  administrators administer the accounts, the closed organisation takes no new accounts;
- disable / enable and delete / restore: sign-in refused (IMAP says "disabled"), RCPT 550
  5.1.1 for a disabled account as for a deleted one (never saying which), and back again;
- roles (caremailctl `account roles`), the quota allowance (507, then allowed once a national
  administrator gives an allowance), legal hold (national administrators only);
- every refused action changes nothing (the account as the national administrator reads it
  is the same before and after).
"""
import base64
import imaplib
import itertools
import os
import smtplib
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import ADMIN, DaemonTestCase, make_message  # noqa: E402

PLAINTEXT = "[imap]\nallow_plaintext_auth_on_loopback = true\n[smtp]\nallow_plaintext_auth_on_loopback = true\n"
GB = 1 << 30
DEFAULT_QUOTA = 4 * GB          # [quota] default_mailbox_bytes
MAX_QUOTA = 100 * GB            # [quota] max_mailbox_bytes

_n = itertools.count(1)


def password():
    return "zq" + os.urandom(6).hex() + "-" + str(next(_n))


def imap_login(d, user, pw):
    """("OK", None) or ("NO", the server's text)."""
    c = imaplib.IMAP4("127.0.0.1", d.ports["imap"], timeout=15)
    try:
        try:
            c.login(user, pw)
        except imaplib.IMAP4.error as e:
            msg = e.args[0]
            return "NO", msg.decode() if isinstance(msg, bytes) else str(msg)
        c.logout()
        return "OK", None
    finally:
        if c.state != "LOGOUT":
            c.shutdown()


def smtp_auth(d, user, pw):
    """One AUTH PLAIN on the submission port: (code, text)."""
    with smtplib.SMTP("127.0.0.1", d.ports["submission"], timeout=15) as s:
        s.ehlo("lifecycle-test")
        code, text = s.docmd("AUTH", "PLAIN " + base64.b64encode(f"\0{user}\0{pw}".encode()).decode())
        return code, text.decode()


def mx_send(d, rcpt, subject):
    """One message to `rcpt` on the MX port: (RCPT code, RCPT text); delivered when 250."""
    with smtplib.SMTP("127.0.0.1", d.ports["smtp"], timeout=15) as s:
        s.ehlo("gp.practice.example")
        s.mail("gp@practice.example")
        code, text = s.rcpt(rcpt)
        if code == 250:
            s.data(make_message(subject, to=rcpt))
        else:
            s.rset()
        return code, text.decode()


class Who:
    """An account the test signs in as (API token; password for IMAP/SMTP)."""

    def __init__(self, d, address, ods, roles=(), quota=None, with_token=True):
        self.d, self.address, self.ods, self.password = d, address, ods, password()
        extra = {"roles": list(roles)} if roles else {}
        if quota:
            extra["quota_bytes"] = quota
        d.create_user(address, ods, self.password, **extra)
        self.token = d.user_token(address, self.password) if with_token else None

    def api(self, method, path, body=None, **kw):
        return self.d.api(method, path, body, token=self.token, **kw)

    def ctl(self, *args, check=False):
        return self.d.ctl("--token", self.token, *args, check=check)


class LifecycleTest(DaemonTestCase):
    EXTRA = PLAINTEXT + "[lockout]\nfailures = 3\nip_failures = 100000\n"

    @classmethod
    def setUpClass(cls):
        cls.t0 = time.time()
        super().setUpClass()

    @classmethod
    def populate(cls):
        # An AUP everyone must accept would get in the way: none is published here.
        cls.national_helpdesk = Who(cls.d, "nhelp@care.example", "X26", ["national_helpdesk"])

    # -- helpers ---------------------------------------------------------------------------
    def org(self, label):
        """A new organisation: (ODS code, domain)."""
        n = next(_n)
        ods, domain = f"L{label.upper()}{n}", f"{label.lower()}{n}.care.example"
        self.d.create_org(ods, f"Organisation {label} {n}", [domain])
        return ods, domain

    def account(self, address):
        st, _, body = self.d.api("GET", f"/api/v1/accounts/{address}")
        self.assertEqual(st, 200, body)
        return body

    def orgs(self):
        st, _, body = self.d.api("GET", "/api/v1/organisations")
        self.assertEqual(st, 200, body)
        return {o["ods_code"]: o for o in body["organisations"]}

    def refused(self, address, fn, statuses=(403, 404), why=""):
        """fn() must be refused with one of `statuses` and leave the account as it was."""
        before = self.account(address)
        st, _, body = fn()
        self.assertIn(st, statuses, (why, body))
        if st >= 400:
            self.assertEqual(body.get("status"), st, ("a problem document", body))
        self.assertEqual(self.account(address), before, f"refused ({why}), yet the account changed")
        return body

    def inbox_subjects(self, who):
        st, _, body = self.d.api("GET", f"/api/v1/accounts/{who.address}/mailboxes/INBOX/messages", token=who.token)
        self.assertEqual(st, 200, body)
        return [m["subject"] for m in body["messages"]]

    def wait_subject(self, who, subject, timeout=5):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if subject in self.inbox_subjects(who):
                return
            time.sleep(0.1)
        self.fail(f"{subject!r} did not arrive for {who.address}: {self.inbox_subjects(who)}")

    # -- A2: leaver to joiner ----------------------------------------------------------------
    def test_leaver_to_joiner(self):
        d = self.d
        old_ods, old_dom = self.org("Old")
        new_ods, new_dom = self.org("New")
        old_admin = Who(d, f"primary@{old_dom}", old_ods, ["primary_local_admin"])
        old_help = Who(d, f"help@{old_dom}", old_ods, ["local_helpdesk"])
        new_admin = Who(d, f"admin@{new_dom}", new_ods, ["local_admin"])
        new_help = Who(d, f"help@{new_dom}", new_ods, ["local_helpdesk"])
        # The national administrator gave the person an administrator role and a larger quota.
        pat = Who(d, f"pat.mover@{old_dom}", old_ods, ["local_admin", "auditor"], quota=8 * GB)
        before = self.account(pat.address)
        self.assertEqual(before["state"], "active")
        self.assertEqual(before["legal_hold"], False)
        self.assertEqual(sorted(before["roles"]), ["auditor", "local_admin", "user"])

        # Refused: the helpdesk, another organisation's administrator, a claim before leaving.
        self.refused(pat.address, lambda: old_help.api("POST", f"/api/v1/accounts/{pat.address}/leaver"),
                     why="helpdesk marks a leaver")
        self.refused(pat.address, lambda: new_admin.api("POST", f"/api/v1/accounts/{pat.address}/leaver"),
                     statuses=(404,), why="another organisation's administrator marks a leaver")
        self.refused(pat.address, lambda: new_admin.api("POST", f"/api/v1/accounts/{pat.address}/claim"),
                     statuses=(409,), why="only a leaver can be claimed")

        st, _, body = old_admin.api("POST", f"/api/v1/accounts/{pat.address}/leaver")
        self.assertEqual(st, 204, body)
        a = self.account(pat.address)
        self.assertEqual(a["state"], "leaver")
        self.assertEqual(a["roles"], ["user"], "administrator roles go")
        self.assertEqual(a["quota_bytes"], DEFAULT_QUOTA, "a larger quota goes")
        self.assertEqual(a["ods_code"], old_ods, "still the old organisation's until claimed")
        self.assertGreaterEqual(a["state_changed_at"], int(self.t0) - 1)
        self.refused(pat.address, lambda: old_admin.api("POST", f"/api/v1/accounts/{pat.address}/leaver"),
                     statuses=(409,), why="a leaver again")

        # The person keeps signing in and receiving mail.
        self.assertEqual(imap_login(d, pat.address, pat.password), ("OK", None))
        self.assertEqual(smtp_auth(d, pat.address, pat.password)[0], 235)
        code, text = mx_send(d, pat.address, "For the leaver")
        self.assertEqual(code, 250, text)
        self.wait_subject(pat, "For the leaver")
        self.wait_subject(pat, "Your account is ready to move with you")
        st, _, me = pat.api("GET", "/api/v1/me")
        self.assertEqual((st, me["state"]), (200, "leaver"), me)

        # A leaver keeps the default quota until claimed; no roles either.
        self.refused(pat.address, lambda: old_admin.api("PUT", f"/api/v1/accounts/{pat.address}/quota",
                                                        {"bytes": 8 * GB}),
                     statuses=(409, 507), why="a larger quota for a leaver")
        # The new organisation's helpdesk is not an administrator; a local administrator
        # cannot claim into another organisation.
        self.refused(pat.address, lambda: new_help.api("POST", f"/api/v1/accounts/{pat.address}/claim"),
                     statuses=(403,), why="helpdesk claims")
        self.refused(pat.address, lambda: new_admin.api("POST", f"/api/v1/accounts/{pat.address}/claim",
                                                        {"ods_code": old_ods}),
                     statuses=(403, 404), why="a local administrator claims into another organisation")

        st, _, body = new_admin.api("POST", f"/api/v1/accounts/{pat.address}/claim")
        self.assertEqual(st, 200, body)
        self.assertEqual((body["address"], body["ods_code"], body["state"]), (pat.address, new_ods, "active"))
        self.assertEqual(body["roles"], ["user"], "roles do not come back with the claim")
        self.assertEqual(body["quota_bytes"], DEFAULT_QUOTA)
        self.refused(pat.address, lambda: new_admin.api("POST", f"/api/v1/accounts/{pat.address}/claim"),
                     statuses=(409,), why="claimed twice")

        # The old administrator no longer sees the person; the new one does.
        st, _, body = old_admin.api("GET", f"/api/v1/accounts/{pat.address}")
        self.assertEqual(st, 404, body)
        st, _, body = old_admin.api("GET", "/api/v1/accounts")
        self.assertEqual(st, 200, body)
        self.assertNotIn(pat.address, [x["address"] for x in body["accounts"]])
        st, _, body = new_admin.api("GET", "/api/v1/accounts")
        self.assertIn(pat.address, [x["address"] for x in body["accounts"]])
        self.refused(pat.address, lambda: old_admin.api("POST", f"/api/v1/accounts/{pat.address}/disable"),
                     statuses=(404,), why="the old organisation disables a joiner of another")
        # The person's mail came along; they still sign in.
        self.assertIn("For the leaver", self.inbox_subjects(pat))
        self.assertEqual(imap_login(d, pat.address, pat.password), ("OK", None))

    def test_national_administrator_claims_into_a_named_organisation(self):
        d = self.d
        a_ods, a_dom = self.org("Nat")
        b_ods, _ = self.org("Nbt")
        sam = Who(d, f"sam@{a_dom}", a_ods, with_token=False)
        st, _, body = d.api("POST", f"/api/v1/accounts/{sam.address}/leaver")
        self.assertEqual(st, 204, body)
        r = d.ctl("account", "claim", sam.address, "--ods", b_ods)
        self.assertIn(b_ods, r.stdout)
        self.assertEqual(self.account(sam.address)["ods_code"], b_ods)
        # A closed organisation takes no joiners; an unknown one is a 400.
        st, _, body = d.api("POST", f"/api/v1/accounts/{sam.address}/leaver")
        self.assertEqual(st, 204, body)
        self.refused(sam.address, lambda: d.api("POST", f"/api/v1/accounts/{sam.address}/claim",
                                                {"ods_code": "NOSUCH9"}), statuses=(400,), why="unknown org")

    # -- A3: closing and merging organisations -------------------------------------------------
    def test_merge_with_caremailctl(self):
        d = self.d
        old_ods, old_dom = self.org("Mrg")
        succ_ods, succ_dom = self.org("Suc")
        old_admin = Who(d, f"admin@{old_dom}", old_ods, ["primary_local_admin"])
        succ_admin = Who(d, f"admin@{succ_dom}", succ_ods, ["local_admin"])
        lee = Who(d, f"lee@{old_dom}", old_ods)
        code, text = mx_send(d, lee.address, "Before the merger")
        self.assertEqual(code, 250, text)

        # Refused: nobody but national administrators closes an organisation.
        for who in (old_admin, succ_admin, self.national_helpdesk):
            r = who.ctl("org", "close", "--ods", old_ods, "--successor", succ_ods)
            self.assertEqual(r.returncode, 1, (who.address, r.stdout, r.stderr))
            self.assertIn("403", r.stderr)
        self.assertTrue(self.orgs()[old_ods]["open"])
        self.assertEqual(self.account(lee.address)["ods_code"], old_ods)

        r = d.ctl("org", "close", "--ods", old_ods, "--successor", succ_ods)
        self.assertIn("closed", r.stdout)
        orgs = self.orgs()
        old, succ = orgs[old_ods], orgs[succ_ods]
        self.assertFalse(old["open"])
        self.assertGreater(old["closed_at"], 0)
        self.assertEqual(old["successor_id"], succ["id"])
        self.assertIn(old_dom, succ["domains"], "domains move to the successor")
        self.assertNotIn(old_dom, old["domains"])
        for who in (lee, old_admin):
            self.assertEqual(self.account(who.address)["ods_code"], succ_ods, who.address)
        self.assertEqual(self.account(old_admin.address)["roles"], ["user"],
                         "the closed organisation's administrator roles go")

        # Mail to the old domain still arrives; the person still signs in with the address.
        code, text = mx_send(d, lee.address, "After the merger")
        self.assertEqual(code, 250, text)
        self.wait_subject(lee, "After the merger")
        self.assertIn("Before the merger", self.inbox_subjects(lee))
        self.assertEqual(imap_login(d, lee.address, lee.password), ("OK", None))

        # The successor's administrator administers them; the old one no longer does.
        st, _, body = succ_admin.api("GET", f"/api/v1/accounts/{lee.address}")
        self.assertEqual(st, 200, body)
        self.refused(lee.address, lambda: old_admin.api("POST", f"/api/v1/accounts/{lee.address}/disable"),
                     why="the closed organisation's former administrator")
        st, _, body = succ_admin.api("PUT", f"/api/v1/accounts/{lee.address}/quota", {"bytes": 2 * GB})
        self.assertEqual(st, 204, body)
        self.assertEqual(self.account(lee.address)["quota_bytes"], 2 * GB)

        # The closed organisation takes no new accounts; it cannot be closed again.
        st, _, body = d.api("POST", "/api/v1/accounts", {"address": f"new@{old_dom}", "ods_code": old_ods})
        self.assertEqual(st, 409, body)
        self.assertEqual(d.api("GET", f"/api/v1/accounts/new@{old_dom}")[0], 404)
        r = d.ctl("org", "close", "--ods", old_ods, "--successor", succ_ods, check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("409", r.stderr)
        # A new account in the successor may use the old domain.
        st, _, body = succ_admin.api("POST", "/api/v1/accounts", {"address": f"new@{old_dom}", "ods_code": succ_ods})
        self.assertEqual(st, 201, body)

    def test_merge_with_the_api(self):
        d = self.d
        old_ods, old_dom = self.org("Api")
        succ_ods, succ_dom = self.org("Aps")
        closed_ods, _ = self.org("Cls")
        help_old = Who(d, f"help@{old_dom}", old_ods, ["local_helpdesk"])
        succ_admin = Who(d, f"admin@{succ_dom}", succ_ods, ["primary_local_admin"])
        kit = Who(d, f"kit@{old_dom}", old_ods)
        shared = d.create_user(f"ward7@{old_dom}", old_ods, kind="shared")

        self.refused(kit.address, lambda: succ_admin.api("POST", f"/api/v1/organisations/{old_ods}/close",
                                                         {"successor": succ_ods}), statuses=(403,),
                     why="the successor's administrator closes")
        self.assertTrue(self.orgs()[old_ods]["open"])
        # Closing into a closed organisation is a conflict; so is a missing body.
        st, _, body = d.api("POST", f"/api/v1/organisations/{closed_ods}/close", {"successor": succ_ods})
        self.assertEqual(st, 204, body)
        st, _, body = d.api("POST", f"/api/v1/organisations/{old_ods}/close", {"successor": closed_ods})
        self.assertEqual(st, 409, body)
        st, _, body = d.api("POST", f"/api/v1/organisations/{old_ods}/close", {})
        self.assertEqual(st, 400, body)
        st, _, body = d.api("POST", f"/api/v1/organisations/{old_ods}/close", {"successor": old_ods})
        self.assertEqual(st, 400, body)
        st, _, body = d.api("POST", "/api/v1/organisations/X26/close", {"successor": succ_ods})
        self.assertEqual(st, 400, body)
        self.assertTrue(self.orgs()[old_ods]["open"])

        st, _, body = d.api("POST", f"/api/v1/organisations/{old_ods}/close", {"successor": succ_ods})
        self.assertEqual(st, 204, body)
        for address in (kit.address, help_old.address, shared["address"]):
            self.assertEqual(self.account(address)["ods_code"], succ_ods, address)
        self.assertEqual(self.account(help_old.address)["roles"], ["user"])
        self.assertIn(old_dom, self.orgs()[succ_ods]["domains"])
        code, text = mx_send(d, shared["address"], "To the ward after the merger")
        self.assertEqual(code, 250, text)
        code, text = mx_send(d, kit.address, "To kit after the merger")
        self.assertEqual(code, 250, text)
        self.wait_subject(kit, "To kit after the merger")
        # The successor's administrator administers the moved accounts.
        st, _, body = succ_admin.api("POST", f"/api/v1/accounts/{kit.address}/disable")
        self.assertEqual(st, 204, body)
        st, _, body = succ_admin.api("POST", f"/api/v1/accounts/{kit.address}/enable")
        self.assertEqual(st, 204, body)
        st, _, body = succ_admin.api("PUT", f"/api/v1/accounts/{help_old.address}/roles",
                                     {"roles": ["local_helpdesk"]})
        self.assertEqual(st, 204, body)
        # The old helpdesk's token carries the roles it has now (none in the closed one).
        st, _, body = help_old.api("GET", f"/api/v1/accounts/{kit.address}")
        self.assertEqual(st, 200, body)
        self.assertEqual(self.account(help_old.address)["ods_code"], succ_ods)
        st, _, body = d.api("POST", "/api/v1/accounts", {"address": f"other@{old_dom}", "ods_code": old_ods})
        self.assertEqual(st, 409, body)
        st, _, body = d.api("POST", f"/api/v1/organisations/{old_ods}/close", {"successor": succ_ods})
        self.assertEqual(st, 409, body)

    # -- A6: disable, enable, delete, restore ---------------------------------------------------
    def test_disable_and_enable(self):
        d = self.d
        ods, dom = self.org("Dis")
        admin = Who(d, f"admin@{dom}", ods, ["local_admin"])
        helper = Who(d, f"help@{dom}", ods, ["local_helpdesk"])
        other_ods, other_dom = self.org("Dot")
        other_admin = Who(d, f"admin@{other_dom}", other_ods, ["local_admin"])
        jo = Who(d, f"jo@{dom}", ods)
        self.assertEqual(imap_login(d, jo.address, jo.password), ("OK", None))

        self.refused(jo.address, lambda: helper.api("POST", f"/api/v1/accounts/{jo.address}/disable"),
                     statuses=(403,), why="helpdesk disables")
        self.refused(jo.address, lambda: jo.api("POST", f"/api/v1/accounts/{jo.address}/disable"),
                     statuses=(403, 400), why="the person disables themselves")
        self.refused(admin.address, lambda: admin.api("POST", f"/api/v1/accounts/{admin.address}/disable"),
                     statuses=(400,), why="an administrator disables themselves")
        self.refused(jo.address, lambda: admin.api("POST", f"/api/v1/accounts/{jo.address}/enable"),
                     statuses=(409,), why="enable an active account")
        self.refused(jo.address, lambda: other_admin.api("POST", f"/api/v1/accounts/{jo.address}/disable"),
                     statuses=(404,), why="another organisation's administrator disables")

        st, _, body = admin.api("POST", f"/api/v1/accounts/{jo.address}/disable")
        self.assertEqual(st, 204, body)
        self.assertEqual(self.account(jo.address)["state"], "disabled")
        typ, text = imap_login(d, jo.address, jo.password)
        self.assertEqual(typ, "NO")
        self.assertIn("disabled", text)
        code, text = mx_send(d, jo.address, "To a disabled account")
        self.assertEqual(code, 550, text)
        # Said as unknown: a stranger must not learn that the mailbox exists but is disabled.
        self.assertIn("5.1.1", text)
        self.assertNotIn("disabled", text)
        self.assertEqual(smtp_auth(d, jo.address, jo.password)[0], 535)
        st, _, body = d.api("GET", "/api/v1/me", basic=(jo.address, jo.password))
        self.assertEqual(st, 401, body)
        self.assertIn("disabled", body["detail"])
        st, _, body = jo.api("GET", "/api/v1/me")
        self.assertEqual(st, 401, ("the token of a disabled account stops", body))
        self.refused(jo.address, lambda: admin.api("POST", f"/api/v1/accounts/{jo.address}/disable"),
                     statuses=(409,), why="disabled twice")
        self.refused(jo.address, lambda: admin.api("POST", f"/api/v1/accounts/{jo.address}/leaver"),
                     statuses=(409,), why="a disabled account is not a leaver")

        r = d.ctl("account", "enable", jo.address)
        self.assertIn("enabled", r.stdout)
        self.assertEqual(self.account(jo.address)["state"], "active")
        self.assertEqual(imap_login(d, jo.address, jo.password), ("OK", None))
        code, text = mx_send(d, jo.address, "After enabling")
        self.assertEqual(code, 250, text)
        self.wait_subject(jo, "After enabling")
        self.assertNotIn("To a disabled account", self.inbox_subjects(jo))

    def test_delete_and_restore(self):
        d = self.d
        ods, dom = self.org("Del")
        other_ods, other_dom = self.org("Dlo")
        admin = Who(d, f"admin@{dom}", ods, ["primary_local_admin"])
        other_admin = Who(d, f"admin@{other_dom}", other_ods, ["primary_local_admin"])
        helper = Who(d, f"help@{dom}", ods, ["local_helpdesk"])
        max_ = Who(d, f"max@{dom}", ods)
        code, text = mx_send(d, max_.address, "Before deletion")
        self.assertEqual(code, 250, text)
        self.wait_subject(max_, "Before deletion")

        self.refused(max_.address, lambda: helper.api("DELETE", f"/api/v1/accounts/{max_.address}"),
                     statuses=(403,), why="helpdesk deletes")
        self.refused(max_.address, lambda: other_admin.api("DELETE", f"/api/v1/accounts/{max_.address}"),
                     statuses=(404,), why="another organisation's administrator deletes")
        self.refused(admin.address, lambda: admin.api("DELETE", f"/api/v1/accounts/{admin.address}"),
                     statuses=(400,), why="an administrator deletes themselves")
        self.refused(max_.address, lambda: admin.api("POST", f"/api/v1/accounts/{max_.address}/restore"),
                     statuses=(409,), why="restore an account that is not deleted")

        r = admin.ctl("account", "delete", max_.address)
        self.assertEqual(r.returncode, 0, r.stderr)
        a = self.account(max_.address)
        self.assertEqual(a["state"], "deleted", "restorable: still there for the national administrator")
        code, text = mx_send(d, max_.address, "To a deleted account")
        self.assertEqual(code, 550, text)
        self.assertIn("5.1.1", text)
        typ, text = imap_login(d, max_.address, max_.password)
        self.assertEqual(typ, "NO", text)
        self.assertEqual(d.api("GET", "/api/v1/me", basic=(max_.address, max_.password))[0], 401)
        self.refused(max_.address, lambda: admin.api("DELETE", f"/api/v1/accounts/{max_.address}"),
                     statuses=(409,), why="deleted twice")
        self.refused(max_.address, lambda: admin.api("POST", f"/api/v1/accounts/{max_.address}/enable"),
                     statuses=(409,), why="enable a deleted account (restore it instead)")
        self.refused(max_.address, lambda: helper.api("POST", f"/api/v1/accounts/{max_.address}/restore"),
                     statuses=(403,), why="helpdesk restores")
        self.refused(max_.address, lambda: other_admin.api("POST", f"/api/v1/accounts/{max_.address}/restore"),
                     statuses=(404,), why="another organisation's administrator restores")

        r = admin.ctl("account", "restore", max_.address)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.account(max_.address)["state"], "active")
        self.assertEqual(imap_login(d, max_.address, max_.password), ("OK", None))
        code, text = mx_send(d, max_.address, "After restoring")
        self.assertEqual(code, 250, text)
        self.wait_subject(max_, "After restoring")
        self.assertIn("Before deletion", self.inbox_subjects(max_), "mail kept through the deletion")
        self.assertNotIn("To a deleted account", self.inbox_subjects(max_))

    # -- A2b: roles ---------------------------------------------------------------------------
    def test_roles_with_caremailctl(self):
        d = self.d
        ods, dom = self.org("Rol")
        other_ods, other_dom = self.org("Rot")
        primary = Who(d, f"primary@{dom}", ods, ["primary_local_admin"])
        local = Who(d, f"local@{dom}", ods, ["local_admin"])
        other = Who(d, f"admin@{other_dom}", other_ods, ["primary_local_admin"])
        ann = Who(d, f"ann@{dom}", ods, with_token=False)
        ben = Who(d, f"ben@{dom}", ods, with_token=False)

        r = primary.ctl("account", "roles", ann.address, "--role", "local_admin", "--role", "auditor")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(sorted(self.account(ann.address)["roles"]), ["auditor", "local_admin", "user"])
        r = local.ctl("account", "roles", ben.address, "--role", "local_helpdesk")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(sorted(self.account(ben.address)["roles"]), ["local_helpdesk", "user"])

        def ctl_refused(who, address, roles, code, why):
            before = self.account(address)
            args = [x for r in roles for x in ("--role", r)]
            r = who.ctl("account", "roles", address, *args)
            self.assertEqual(r.returncode, 1, (why, r.stdout, r.stderr))
            self.assertIn(str(code), r.stderr, why)
            self.assertEqual(self.account(address), before, f"refused ({why}), yet the account changed")

        ctl_refused(local, ben.address, ["local_helpdesk", "local_admin"], 403, "a local administrator appoints one")
        ctl_refused(local, ann.address, ["auditor"], 403, "a local administrator removes local_admin")
        ctl_refused(primary, ben.address, ["primary_local_admin"], 403, "a primary appoints a primary")
        ctl_refused(primary, ben.address, ["national_helpdesk"], 403, "a primary grants a national role")
        ctl_refused(primary, primary.address, ["primary_local_admin", "auditor"], 400, "one's own roles")
        ctl_refused(other, ben.address, ["local_admin"], 404, "another organisation's administrator")
        st, _, body = d.api("PUT", f"/api/v1/accounts/{ADMIN}/roles", {"roles": ["national_admin", "auditor"]})
        self.assertEqual(st, 400, ("nobody changes their own roles", body))
        st, _, body = d.api("PUT", f"/api/v1/accounts/{ben.address}/roles", {"roles": ["superuser"]})
        self.assertEqual(st, 400, body)

        # National administrators grant any role, and remove them.
        r = d.ctl("account", "roles", ben.address, "--role", "primary_local_admin")
        self.assertEqual(sorted(self.account(ben.address)["roles"]), ["primary_local_admin", "user"])
        r = primary.ctl("account", "roles", ann.address)  # none: user only
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.account(ann.address)["roles"], ["user"])
        # A leaver holds no administrator roles.
        st, _, body = primary.api("POST", f"/api/v1/accounts/{ann.address}/leaver")
        self.assertEqual(st, 204, body)
        self.refused(ann.address, lambda: primary.api("PUT", f"/api/v1/accounts/{ann.address}/roles",
                                                      {"roles": ["auditor"]}), statuses=(409,),
                     why="roles for a leaver")

    # -- M5 / A1: quotas and the allowance of larger ones ----------------------------------------
    def test_quota_allowance(self):
        d = self.d
        ods, dom = self.org("Quo")
        admin = Who(d, f"admin@{dom}", ods, ["primary_local_admin"])
        helper = Who(d, f"help@{dom}", ods, ["local_helpdesk"])
        one = Who(d, f"one@{dom}", ods, with_token=False)
        two = Who(d, f"two@{dom}", ods, with_token=False)
        self.assertEqual(self.orgs()[ods]["large_quota_allowance"], 0)

        st, _, body = admin.api("PUT", f"/api/v1/accounts/{one.address}/quota", {"bytes": 2 * GB})
        self.assertEqual(st, 204, body)
        self.assertEqual(self.account(one.address)["quota_bytes"], 2 * GB)
        st, _, body = d.api("GET", f"/api/v1/accounts/{one.address}/quota")
        self.assertEqual(body["limit_bytes"], 2 * GB)
        self.refused(one.address, lambda: helper.api("PUT", f"/api/v1/accounts/{one.address}/quota",
                                                     {"bytes": 3 * GB}), statuses=(403,), why="helpdesk sets a quota")
        body = self.refused(one.address, lambda: admin.api("PUT", f"/api/v1/accounts/{one.address}/quota",
                                                           {"bytes": 8 * GB}), statuses=(507,),
                            why="a larger quota without an allowance")
        self.assertIn("larger quotas", body["detail"])
        self.refused(one.address, lambda: admin.api("PUT", f"/api/v1/accounts/{one.address}/quota",
                                                    {"bytes": 0}), statuses=(400,), why="zero (no unlimited quota)")
        self.refused(one.address, lambda: d.api("PUT", f"/api/v1/accounts/{one.address}/quota",
                                                {"bytes": MAX_QUOTA + 1}), statuses=(400,), why="above the maximum")
        # Only national administrators set the allowance.
        for who in (admin, self.national_helpdesk):
            r = who.ctl("org", "quota-allowance", "--ods", ods, "1")
            self.assertEqual(r.returncode, 1, (who.address, r.stderr))
            self.assertIn("403", r.stderr)
        self.assertEqual(self.orgs()[ods]["large_quota_allowance"], 0)
        st, _, body = d.api("PUT", f"/api/v1/organisations/{ods}/quota-allowance", {"accounts": -1})
        self.assertEqual(st, 400, body)

        r = d.ctl("org", "quota-allowance", "--ods", ods, "1")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.orgs()[ods]["large_quota_allowance"], 1)
        r = admin.ctl("quota", "set", one.address, str(8 * GB))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.account(one.address)["quota_bytes"], 8 * GB)
        # The one larger quota is used: the next is refused; changing the same one is not.
        self.refused(two.address, lambda: admin.api("PUT", f"/api/v1/accounts/{two.address}/quota",
                                                    {"bytes": 5 * GB}), statuses=(507,), why="allowance used up")
        st, _, body = admin.api("PUT", f"/api/v1/accounts/{one.address}/quota", {"bytes": 10 * GB})
        self.assertEqual(st, 204, body)
        # National administrators are not bound by the allowance.
        st, _, body = d.api("PUT", f"/api/v1/accounts/{two.address}/quota", {"bytes": 5 * GB})
        self.assertEqual(st, 204, body)
        # Nor can a local administrator get round it by creating the account with the quota.
        with self.subTest("create with a larger quota"):
            st, _, body = admin.api("POST", "/api/v1/accounts", {"address": f"three@{dom}", "ods_code": ods,
                                                                 "quota_bytes": 20 * GB})
            self.assertEqual(st, 507, ("a new account with a larger quota uses the allowance too", body))
        with self.subTest("create above the maximum"):
            st, _, body = d.api("POST", "/api/v1/accounts", {"address": f"four@{dom}", "ods_code": ods,
                                                             "quota_bytes": MAX_QUOTA + GB})
            self.assertEqual(st, 400, ("a new account's quota is bounded by [quota] max_mailbox_bytes too", body))

    # -- A6: legal hold -------------------------------------------------------------------------
    def test_legal_hold_only_by_national_administrators(self):
        d = self.d
        ods, dom = self.org("Hol")
        primary = Who(d, f"primary@{dom}", ods, ["primary_local_admin"])
        lou = Who(d, f"lou@{dom}", ods, with_token=False)
        for who, code in ((primary, 403), (self.national_helpdesk, 403)):
            before = self.account(lou.address)
            r = who.ctl("account", "legal-hold", lou.address, "--on")
            self.assertEqual(r.returncode, 1, (who.address, r.stderr))
            self.assertIn(str(code), r.stderr)
            self.assertEqual(self.account(lou.address), before)
        st, _, body = d.api("PUT", f"/api/v1/accounts/{lou.address}/legal-hold", {})
        self.assertEqual(st, 400, body)
        r = d.ctl("account", "legal-hold", lou.address, "--on")
        self.assertIn("placed", r.stdout)
        self.assertTrue(self.account(lou.address)["legal_hold"])
        self.refused(lou.address, lambda: primary.api("PUT", f"/api/v1/accounts/{lou.address}/legal-hold",
                                                      {"hold": False}), statuses=(403,),
                     why="a local administrator lifts a hold")
        # On hold, the account is never deleted (A6; lifecycle.cpp: "legal hold stops every
        # step towards deletion"), by an administrator either.
        with self.subTest("delete on legal hold"):
            try:
                self.refused(lou.address, lambda: primary.api("DELETE", f"/api/v1/accounts/{lou.address}"),
                             statuses=(409,), why="deleting an account on legal hold")
            finally:
                if self.account(lou.address)["state"] == "deleted":
                    d.api("POST", f"/api/v1/accounts/{lou.address}/restore")
        r = d.ctl("account", "legal-hold", lou.address, "--off")
        self.assertIn("lifted", r.stdout)
        self.assertFalse(self.account(lou.address)["legal_hold"])

    # -- S4: a locked account's API token stops working ------------------------------------------
    def test_token_stops_while_locked(self):
        d = self.d
        ods, dom = self.org("Lck")
        admin = Who(d, f"admin@{dom}", ods, ["local_admin"])
        vic = Who(d, f"vic@{dom}", ods)
        self.assertEqual(vic.api("GET", "/api/v1/me")[0], 200)
        for _ in range(3):
            d.api("GET", "/api/v1/me", basic=(vic.address, "not-the-password-at-all"))
        self.assertGreater(self.account(vic.address)["locked_until"], time.time())
        st, _, body = vic.api("GET", "/api/v1/me")
        self.assertEqual(st, 401, body)
        st, _, body = admin.api("POST", f"/api/v1/accounts/{vic.address}/unlock")
        self.assertEqual(st, 204, body)
        self.assertEqual(vic.api("GET", "/api/v1/me")[0], 200)


    # -- aliases: more addresses, never reused while reserved ----------------------------------
    def test_aliases(self):
        d = self.d
        ods, dom = self.org("Alias")
        other_ods, other_dom = self.org("Else")
        admin = Who(d, f"admin@{dom}", ods, ["local_admin"])
        stranger = Who(d, f"admin@{other_dom}", other_ods, ["local_admin"])
        pat = Who(d, f"patricia.long@{dom}", ods)
        alias = f"pat.long@{dom}"
        self.refused(pat.address, lambda: stranger.api("POST", f"/api/v1/accounts/{pat.address}/aliases",
                                                       {"alias": alias}), statuses=(404,), why="another organisation")
        self.refused(pat.address, lambda: admin.api("POST", f"/api/v1/accounts/{pat.address}/aliases",
                                                    {"alias": f"pat@{other_dom}"}), statuses=(400,),
                     why="an alias in another organisation's domain")
        self.refused(pat.address, lambda: admin.api("POST", f"/api/v1/accounts/{pat.address}/aliases",
                                                    {"alias": admin.address}), statuses=(409,), why="taken")
        st, _, body = admin.api("POST", f"/api/v1/accounts/{pat.address}/aliases", {"alias": alias.upper()})
        self.assertEqual(st, 204, body)
        self.assertEqual(self.account(pat.address)["aliases"], [alias])
        # Mail to the alias reaches the account, traced with the alias.
        self.assertEqual(mx_send(d, alias, "to the alias")[0], 250)
        self.wait_subject(pat, "to the alias")
        # Removed: the address is reserved (no one else gets it for the lock period).
        st, _, body = admin.api("DELETE", f"/api/v1/accounts/{pat.address}/aliases/{alias}")
        self.assertEqual(st, 204, body)
        self.assertEqual(self.account(pat.address)["aliases"], [])
        self.assertEqual(mx_send(d, alias, "after removal")[0], 550)
        st, _, body = d.api("POST", "/api/v1/accounts", {"address": alias, "ods_code": ods})
        self.assertEqual(st, 409, body)
        st, _, body = admin.api("POST", f"/api/v1/accounts/{pat.address}/aliases", {"alias": alias})
        self.assertEqual(st, 409, body)
        self.assertIn("cannot be used before", body["detail"])
        st, _, body = admin.api("DELETE", f"/api/v1/accounts/{pat.address}/aliases/{pat.address}")
        self.assertEqual(st, 404, body)  # the primary address is not an alias
        # caremailctl does the same.
        r = admin.ctl("account", "alias", pat.address, f"patricia@{dom}")
        self.assertEqual((r.returncode, r.stdout), (0, f"alias patricia@{dom} added to {pat.address}\n"), r.stderr)
        self.assertEqual(self.account(pat.address)["aliases"], [f"patricia@{dom}"])
        r = admin.ctl("account", "alias", pat.address, f"patricia@{dom}", "--remove")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.account(pat.address)["aliases"], [])

if __name__ == "__main__":
    unittest.main()

"""The authorisation matrix over the mail and directory protocols (issue 14): every role
against what IMAP, SMTP submission and LDAP let a signed-in person try on someone else.

test_authz_matrix.py covers the admin API. This file checks that an administrator's rights
there give nothing extra over the protocols, where a person only ever reaches their own
mail and sends only as themselves (PRODUCT.md A5: nobody reads another person's mail
without an approved request; S1: no sending as someone else). Each row names the action
and the roles ALLOWED; every other role must be refused, and a refusal must change
nothing (the target's mailbox is read back through the bootstrap administrator).

Targets: a person in the actor's own organisation ("own": for national roles, organisation
A too) and a person in another organisation ("other").

Rows (allowed roles in brackets):
  IMAP  SELECT / EXAMINE / STATUS / APPEND / LIST on the target's mailboxes by every
        spelling a client could try ("Other Users/", "Shared/", "~", "#user") [nobody]
        AUTHENTICATE PLAIN with the target as authorisation identity [nobody]
        SETACL giving oneself rights on the target, SETQUOTA [nobody]
  SMTP  MAIL FROM the target [nobody], From: the target [nobody], AUTH PLAIN with the
        target as authorisation identity [nobody]; own address [everyone] (the control)
  LDAP  add / modify / delete / modify DN of the target's entry [nobody]; the proxied
        authorisation control (RFC 4370) marked critical [nobody]; a search finds the
        other organisation's hidden entry [national roles]
"""
import base64
import imaplib
import smtplib
import socket
import unittest

try:
    import ldap3
    from ldap3.core.exceptions import LDAPException
except ImportError:  # pragma: no cover - deps.sh installs python3-ldap3
    ldap3 = None

from harness import DaemonTestCase, make_message

ROLES = ("user", "local_admin", "primary_local_admin", "local_helpdesk", "authoriser", "auditor",
         "national_admin", "national_helpdesk")
NATIONAL_ROLES = {"national_admin", "national_helpdesk"}

ORG_A, DOMAIN_A = "RA1", "alpha.care.example"
ORG_B, DOMAIN_B = "RB2", "beta.care.example"
NATIONAL_ORG, NATIONAL_DOMAIN = "X26", "care.example"
PASSWORD = "teal-orchard-4471"

OWN = "own.person@" + DOMAIN_A
OTHER = "other.person@" + DOMAIN_B
HIDDEN = "hidden.person@" + DOMAIN_B
BASE = "o=caremail"


def actor_address(role):
    if role in NATIONAL_ROLES:
        return f"{role.replace('_', '.')}@{NATIONAL_DOMAIN}"
    return f"{role.replace('_', '.')}@{DOMAIN_A}"


class ProtocolAuthzMatrix(DaemonTestCase):
    EXTRA = ("[imap]\nallow_plaintext_auth_on_loopback = true\n"
             "[smtp]\nallow_plaintext_auth_on_loopback = true\n"
             "[ldap]\nallow_plaintext_bind_on_loopback = true\n"
             "[lockout]\nfailures = 1000\nip_failures = 100000\n")

    @classmethod
    def populate(cls):
        d = cls.d
        d.create_org(ORG_A, "Alpha Teaching Hospitals", [DOMAIN_A])
        d.create_org(ORG_B, "Beta Community Care", [DOMAIN_B])
        for address, org in ((OWN, ORG_A), (OTHER, ORG_B), (HIDDEN, ORG_B)):
            d.create_user(address, org, PASSWORD, display_name=address.split("@")[0].replace(".", " ").title())
        st, _, body = d.api("PUT", f"/api/v1/directory/entries/{HIDDEN}",
                            {"given_name": "Hidden", "surname": "Person", "hidden": True})
        assert st == 204, (st, body)
        for role in ROLES:
            org = ORG_A if role not in NATIONAL_ROLES else NATIONAL_ORG
            d.create_user(actor_address(role), org, PASSWORD, roles=[role], display_name=role)
        # Something in each target's INBOX, so a leak would show.
        for t in (OWN, OTHER):
            st, _, body = d.deliver([t], make_message(f"private to {t}", to=t))
            assert st in (200, 201), (st, body)
        cls.refusals = []

    # -- helpers ----------------------------------------------------------------------
    def snapshot(self, target):
        # Read as the target itself: nobody else may (that is the point of this file).
        c = imaplib.IMAP4("127.0.0.1", self.d.ports["imap"])
        try:
            c.login(target, PASSWORD)
            typ, data = c.list('""', "*")
            self.assertEqual(typ, "OK")
            out = []
            for line in data:
                name = line.decode().rsplit(" ", 1)[-1]
                typ, st = c.status(name, "(MESSAGES UIDNEXT HIGHESTMODSEQ)")
                out.append((name, st[0].decode().split(" ", 1)[1] if typ == "OK" else typ))
            typ, acl = c.getacl("INBOX")
            out.append(("ACL", acl[0].decode() if typ == "OK" else typ))
            return sorted(out)
        finally:
            c.logout()

    def imap(self, role):
        c = imaplib.IMAP4("127.0.0.1", self.d.ports["imap"])
        c.login(actor_address(role), PASSWORD)
        return c

    def each(self, fn):
        for role in ROLES:
            for target in (OWN, OTHER):
                with self.subTest(role=role, target=target):
                    before = {t: self.snapshot(t) for t in (OWN, OTHER)}
                    fn(role, target)
                    self.assertEqual(before, {t: self.snapshot(t) for t in (OWN, OTHER)},
                                     "a refused action changed a mailbox")

    # -- IMAP ---------------------------------------------------------------------------
    def test_imap_other_mailboxes_unreachable(self):
        def run(role, target):
            local, domain = target.split("@")
            names = [f"Other Users/{target}/INBOX", f"Other Users/{local}/INBOX", f"Shared/{target}/INBOX",
                     f"Shared/{target}", f"~{local}/INBOX", f"#user/{local}/INBOX", f"user/{local}",
                     f"../{target}/INBOX", f"{target}/INBOX", f"INBOX/../../{target}"]
            c = self.imap(role)
            try:
                for name in names:
                    quoted = '"' + name + '"'
                    for cmd in ("SELECT", "EXAMINE"):
                        typ, data = c._simple_command(cmd, quoted)
                        self.assertEqual(typ, "NO", (cmd, name, data))
                    typ, data = c._simple_command("STATUS", quoted, "(MESSAGES)")
                    self.assertEqual(typ, "NO", ("STATUS", name, data))
                    typ, data = c.append(quoted, None, None, b"Subject: planted\r\n\r\nx\r\n")
                    self.assertEqual(typ, "NO", ("APPEND", name, data))
                    typ, data = c.list('""', quoted)
                    self.assertEqual(typ, "OK")
                    self.assertEqual([x for x in data if x], [], ("LIST", name, data))
                typ, data = c.list('""', "*")
                listed = b" ".join(x for x in data if x)
                self.assertNotIn(local.encode(), listed)
                typ, data = c._simple_command("SETACL", "INBOX", actor_address(role), "lrswipkxtea")
                self.assertEqual(typ, "NO", data)
                typ, data = c._simple_command("SETQUOTA", '""', "(STORAGE 99999999)")
                self.assertIn(typ, ("NO", "BAD"), data)
            finally:
                c.logout()
        self.each(run)

    def test_imap_authenticate_as_someone_else(self):
        def run(role, target):
            c = imaplib.IMAP4("127.0.0.1", self.d.ports["imap"])
            blob = f"{target}\0{actor_address(role)}\0{PASSWORD}".encode()
            try:
                with self.assertRaises(imaplib.IMAP4.error):
                    c.authenticate("PLAIN", lambda _: blob)
                self.assertEqual(c.state, "NONAUTH")
            finally:
                c.shutdown()
        self.each(run)

    # -- SMTP submission -----------------------------------------------------------------
    def smtp(self, role):
        s = smtplib.SMTP("127.0.0.1", self.d.ports["submission"], timeout=30)
        s.ehlo("matrix.test")
        s.login(actor_address(role), PASSWORD)
        return s

    def test_smtp_send_as_someone_else_refused(self):
        def run(role, target):
            me = actor_address(role)
            s = self.smtp(role)
            try:
                code, msg = s.mail(target)
                self.assertEqual(code // 100, 5, ("MAIL FROM", target, msg))
                s.rset()
                # The envelope is the actor's own, the From header claims the target.
                code, _ = s.mail(me)
                self.assertEqual(code, 250)
                code, _ = s.rcpt(OWN)
                self.assertEqual(code, 250)
                code, msg = s.data(make_message(f"as {target} by {role}", sender=target, to=OWN))
                self.assertEqual(code // 100, 5, ("From:", target, msg))
            finally:
                s.quit()
        self.each(run)

    def test_smtp_own_address_allowed(self):
        # The control: every role sends as itself, so the refusals above are about the
        # address, not the role.
        for role in ROLES:
            with self.subTest(role=role):
                me = actor_address(role)
                s = self.smtp(role)
                try:
                    s.sendmail(me, [OWN], make_message(f"from {role}", sender=me, to=OWN))
                finally:
                    s.quit()

    def test_smtp_auth_as_someone_else(self):
        def run(role, target):
            s = smtplib.SMTP("127.0.0.1", self.d.ports["submission"], timeout=30)
            try:
                s.ehlo("matrix.test")
                blob = base64.b64encode(f"{target}\0{actor_address(role)}\0{PASSWORD}".encode()).decode()
                code, msg = s.docmd("AUTH", "PLAIN " + blob)
                self.assertEqual(code // 100, 5, (code, msg))
                # Still not signed in: relaying elsewhere is refused.
                code, _ = s.mail(target)
                if code == 250:
                    code, _ = s.rcpt("someone@elsewhere.example")
                self.assertEqual(code // 100, 5)
            finally:
                s.close()
        self.each(run)

    # -- LDAP ---------------------------------------------------------------------------
    def ldap(self, role):
        if ldap3 is None:
            self.skipTest("python3-ldap3 is not installed")
        server = ldap3.Server("127.0.0.1", port=self.d.ports["ldap"], get_info=ldap3.NONE)
        c = ldap3.Connection(server, user=actor_address(role), password=PASSWORD, auto_bind=True,
                             raise_exceptions=False, receive_timeout=30)
        return c

    def dn(self, target):
        ods = ORG_A if target.endswith(DOMAIN_A) else ORG_B
        return f"mail={target},ou={ods},{BASE}"

    def test_ldap_writes_refused(self):
        def run(role, target):
            c = self.ldap(role)
            try:
                dn = self.dn(target)
                c.modify(dn, {"displayName": [(ldap3.MODIFY_REPLACE, ["Taken Over"])]})
                self.assertEqual(c.result["description"], "unwillingToPerform", c.result)
                c.delete(dn)
                self.assertEqual(c.result["description"], "unwillingToPerform", c.result)
                c.modify_dn(dn, "mail=renamed@" + target.split("@")[1])
                self.assertEqual(c.result["description"], "unwillingToPerform", c.result)
                c.add(f"mail=planted.{role}@{DOMAIN_A},ou={ORG_A},{BASE}", "inetOrgPerson",
                      {"cn": "Planted", "sn": "Planted"})
                self.assertEqual(c.result["description"], "unwillingToPerform", c.result)
                c.search(BASE, f"(mail={target})", attributes=["displayName"])
                names = [str(e.displayName) for e in c.entries]
                self.assertNotIn("Taken Over", names)
            finally:
                c.unbind()
        self.each(run)

    def test_ldap_proxied_authorisation_refused(self):
        # RFC 4370 proxied authorisation, critical: the server must not act as the target,
        # and must not quietly ignore a critical control it does not support (RFC 4511 4.1.11).
        def run(role, target):
            c = self.ldap(role)
            try:
                control = ("2.16.840.1.113730.3.4.18", True, ("dn:" + self.dn(target)).encode())
                c.search(BASE, f"(mail={HIDDEN})", attributes=["mail"], controls=[control])
                self.assertEqual(c.result["description"], "unavailableCriticalExtension", c.result)
                self.assertEqual(c.entries, [])
            finally:
                c.unbind()
        self.each(run)

    def test_ldap_hidden_entry_not_shown_to_other_organisations(self):
        # The hidden entry (organisation B) is hidden from everyone outside B but the
        # national roles (directory::Viewer::national: they support every organisation);
        # organisation A's administrators see only their own organisation's hidden entries.
        for role in ROLES:
            with self.subTest(role=role):
                c = self.ldap(role)
                try:
                    c.search(BASE, f"(mail={HIDDEN})", attributes=["mail"])
                    want = [HIDDEN] if role in NATIONAL_ROLES else []
                    self.assertEqual([str(e.mail) for e in c.entries], want, role)
                    c.search(BASE, f"(mail={OTHER})", attributes=["mail"])
                    self.assertEqual([str(e.mail) for e in c.entries], [OTHER], role)
                finally:
                    c.unbind()

    def test_anonymous_ldap_sees_nothing(self):
        if ldap3 is None:
            self.skipTest("python3-ldap3 is not installed")
        server = ldap3.Server("127.0.0.1", port=self.d.ports["ldap"], get_info=ldap3.NONE)
        c = ldap3.Connection(server, auto_bind=True, raise_exceptions=False)
        try:
            c.search(BASE, f"(mail={OTHER})", attributes=["mail"])
            self.assertEqual(c.result["description"], "insufficientAccessRights", c.result)
            self.assertEqual(c.entries, [])
        finally:
            c.unbind()


if __name__ == "__main__":
    unittest.main()

"""Directory contacts and distribution lists (issue 6, PRODUCT.md D1, M9) end to end, with
real clients against a real caremaild: the admin API creates, edits and deletes a contact
(refused for another organisation's administrator, bad input refused without a trace), the
contact is found through the search API, ldapsearch (its DN, mail=<address>,ou=<ODS>,
o=caremail) and python ldap3; a list created through the API takes mail sent with smtplib
(submission) and delivers it to each local member's mailbox (read with imaplib) and to an
outside member through the outbound queue (a local SMTP sink); a members-only list refuses
outsiders at RCPT with 550 on both ports; a hidden list is not found; a deleted list's
address is retired like an alias; caremailctl manages both."""
import email
import email.policy
import imaplib
import json
import os
import shutil
import smtplib
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # also runnable as a script
from harness import DaemonTestCase, ldap3, make_message  # noqa: E402 - ldap3 is None when python3-ldap3 is absent
from test_outbound import Sink, client_tls, wait_for  # noqa: E402

ORG, DOMAIN = "RX1", "leeds.care.example"
ORG2, DOMAIN2 = "RR8", "sheffield.care.example"
BASE = "o=caremail"
KIM = ("kim.admin@" + DOMAIN, "silver-birch-123")    # local administrator of RX1
LEE = ("lee.admin@" + DOMAIN2, "copper-meadow-123")  # local administrator of RR8
JO = ("jo.bloggs@" + DOMAIN, "amber-lantern-123")
SARAH = ("sarah.smith@" + DOMAIN, "quiet-harbour-123")
PAT = ("pat.lee@" + DOMAIN2, "maple-orchard-123")    # another organisation, not a member
PARTNER = "partner@physio.example"                    # an outside member, reached through the sink
HAVE_LDAPSEARCH = shutil.which("ldapsearch") is not None


class DirectoryEntriesTest(DaemonTestCase):
    @classmethod
    def setUpClass(cls):
        cls.sink = Sink()
        cfg = ("[smtp]\n"
               f'relay_routes = ["physio.example=127.0.0.1:{cls.sink.port}"]\n'
               "retry_schedule_seconds = [1]\n"
               "[imap]\nallow_plaintext_auth_on_loopback = true\n"
               "[ldap]\nallow_plaintext_bind_on_loopback = true\n")
        cls.EXTRA = cfg
        super().setUpClass()

    @classmethod
    def populate(cls):
        d = cls.d
        d.create_org(ORG, "Leeds Teaching Hospitals", [DOMAIN])
        d.create_org(ORG2, "Sheffield Teaching Hospitals", [DOMAIN2])
        d.create_user(KIM[0], ORG, KIM[1], display_name="Kim Admin", roles=["local_admin"])
        d.create_user(LEE[0], ORG2, LEE[1], display_name="Lee Admin", roles=["local_admin"])
        d.create_user(JO[0], ORG, JO[1], display_name="Jo Bloggs")
        d.create_user(SARAH[0], ORG, SARAH[1], display_name="Sarah Smith")
        d.create_user(PAT[0], ORG2, PAT[1], display_name="Pat Lee")
        cls.kim = d.user_token(*KIM)
        cls.lee = d.user_token(*LEE)
        cls.sarah = d.user_token(*SARAH)

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        cls.sink.stop()

    # -- helpers ---------------------------------------------------------------------
    def search(self, q, token):
        st, _, body = self.d.api("GET", "/api/v1/directory/search?q=" + q.replace(" ", "%20"), token=token)
        self.assertEqual(st, 200, body)
        return body["results"]

    def audit(self, action):
        st, _, body = self.d.api("GET", "/api/v1/audit?limit=1000")
        self.assertEqual(st, 200, body)
        return [(e["outcome"], e["actor"]) for e in body["events"] if e["action"] == action]

    def ldapsearch(self, flt, *attrs, base=BASE, scope="sub", who=SARAH):
        if not HAVE_LDAPSEARCH:
            self.skipTest("ldapsearch (ldap-utils) is not installed")
        cmd = ["ldapsearch", "-LLL", "-x", "-o", "ldif-wrap=no", "-H", f"ldap://127.0.0.1:{self.d.ports['ldap']}",
               "-b", base, "-s", scope, "-D", who[0], "-w", who[1], flt, *attrs]
        env = dict(os.environ, LDAPTLS_REQCERT="never", LDAPCONF="/dev/null")
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=30, env=env)
        entries, cur = [], None
        for line in r.stdout.splitlines():
            if not line.strip():
                cur = None
                continue
            k, _, v = line.partition(": ")
            if k == "dn":
                cur = {"dn": v}
                entries.append(cur)
            elif cur is not None:
                cur.setdefault(k.lower(), []).append(v)
        return r.returncode, entries, r.stderr

    def imap_messages(self, user, subject):
        """The raw messages in the user's INBOX with this subject (imaplib, plain login on loopback)."""
        c = imaplib.IMAP4("127.0.0.1", self.d.ports["imap"], timeout=15)
        try:
            c.login(*user)
            c.select("INBOX")
            typ, data = c.uid("SEARCH", None, "SUBJECT", f'"{subject}"')
            self.assertEqual(typ, "OK")
            out = []
            for uid in data[0].split():
                typ, msg = c.uid("FETCH", uid, "(BODY.PEEK[])")
                self.assertEqual(typ, "OK")
                out.append(msg[0][1])
            return out
        finally:
            c.logout()

    def submit(self, user, rcpts, subject):
        msg = make_message(subject, sender=user[0], to=rcpts[0])
        with smtplib.SMTP("127.0.0.1", self.d.ports["submission"]) as c:
            c.starttls(context=client_tls())
            c.login(*user)
            return c.sendmail(user[0], rcpts, msg)

    # -- directory contacts ------------------------------------------------------------
    def test_contact_created_found_edited_and_deleted(self):
        base = f"/api/v1/organisations/{ORG}/contacts"
        contact = {"address": "Ana.Costa@physio.example", "display_name": "Ana Costa", "title": "Ms",
                   "job_role": "Physiotherapist", "site": "Riverside Clinic", "telephone": "0113 496 0000"}
        # Another organisation's administrator and a plain user are refused; nothing is made.
        st, _, body = self.d.api("POST", base, contact, token=self.lee)
        self.assertEqual(st, 403, body)
        st, _, body = self.d.api("POST", base, contact, token=self.sarah)
        self.assertEqual(st, 403, body)
        created = self.audit("directory.contact_create")
        self.assertIn(("denied", LEE[0]), created)
        self.assertIn(("denied", SARAH[0]), created)
        # Bad input: a clear problem document, nothing made.
        for bad, why in (({**contact, "colour": "blue"}, "unknown field"),
                         ({**contact, "address": "someone@" + DOMAIN}, "outside the service"),
                         ({**contact, "hidden": "yes"}, "true or false"),
                         ({"display_name": "No Address"}, "required")):
            st, hdrs, body = self.d.api("POST", base, bad, token=self.kim)
            self.assertEqual(st, 400, body)
            self.assertEqual(hdrs["content-type"], "application/problem+json")
            self.assertIn(why, body["detail"])
        st, _, body = self.d.api("GET", base, token=self.kim)
        self.assertEqual((st, body["contacts"]), (200, []))

        st, _, made = self.d.api("POST", base, contact, token=self.kim)
        self.assertEqual(st, 201, made)
        self.assertEqual(made["address"], "ana.costa@physio.example")
        cid = made["id"]
        st, _, body = self.d.api("POST", base, contact, token=self.kim)
        self.assertEqual(st, 409, body)  # listed once per organisation

        # The search API, as anyone signed in.
        hits = self.search("ana costa", self.sarah)
        self.assertEqual([(h["address"], h["kind"], h["id"]) for h in hits],
                         [("ana.costa@physio.example", "contact", cid)])
        st, _, entry = self.d.api("GET", "/api/v1/directory/entries/ana.costa@physio.example", token=self.sarah)
        self.assertEqual((st, entry["kind"], entry["ods_code"], entry["site"]), (200, "contact", ORG, "Riverside Clinic"))

        # LDAP: found by name, and its DN answers a base search.
        dn = f"mail=ana.costa@physio.example,ou={ORG},{BASE}"
        rc, entries, err = self.ldapsearch("(sn=costa)", "mail", "title", "telephoneNumber")
        self.assertEqual(rc, 0, err)
        self.assertEqual([e["dn"] for e in entries], [dn])
        self.assertEqual(entries[0]["title"], ["Physiotherapist"])
        rc, entries, err = self.ldapsearch("(objectClass=*)", "cn", base=dn, scope="base")
        self.assertEqual(rc, 0, err)
        self.assertEqual(entries[0]["cn"], ["Ana Costa"])
        if ldap3 is not None:
            server = ldap3.Server("127.0.0.1", port=self.d.ports["ldap"], get_info=ldap3.NONE)
            c = ldap3.Connection(server, user=SARAH[0], password=SARAH[1], raise_exceptions=False, receive_timeout=15)
            self.assertTrue(c.bind(), c.result)
            self.assertTrue(c.search(BASE, "(mail=ana.costa@physio.example)", attributes=["cn", "physicalDeliveryOfficeName"]))
            self.assertEqual([e.entry_dn for e in c.entries], [dn])
            self.assertEqual(c.entries[0]["physicalDeliveryOfficeName"].value, "Riverside Clinic")
            c.unbind()

        # Edit (whole contact): refused out of scope and unchanged, then done and seen at once.
        edit = {**contact, "job_role": "Senior Physiotherapist"}
        st, _, body = self.d.api("PUT", f"{base}/{cid}", edit, token=self.lee)
        self.assertEqual(st, 403, body)
        st, _, body = self.d.api("PUT", f"{base}/{cid}", {**edit, "notes": "x" * 1001}, token=self.kim)
        self.assertEqual(st, 400, body)
        rc, entries, _ = self.ldapsearch("(mail=ana.costa@physio.example)", "title")
        self.assertEqual(entries[0]["title"], ["Physiotherapist"])
        st, _, body = self.d.api("PUT", f"{base}/{cid}", edit, token=self.kim)
        self.assertEqual((st, body.get("job_role")), (200, "Senior Physiotherapist"), body)
        rc, entries, _ = self.ldapsearch("(mail=ana.costa@physio.example)", "title")
        self.assertEqual(entries[0]["title"], ["Senior Physiotherapist"])

        # Delete: gone from search, the entry API and LDAP.
        st, _, body = self.d.api("DELETE", f"{base}/{cid}", token=self.lee)
        self.assertEqual(st, 403, body)
        st, _, _ = self.d.api("DELETE", f"{base}/{cid}", token=self.kim)
        self.assertEqual(st, 204)
        self.assertEqual(self.search("ana costa", self.sarah), [])
        st, _, _ = self.d.api("GET", "/api/v1/directory/entries/ana.costa@physio.example", token=self.sarah)
        self.assertEqual(st, 404)
        rc, entries, err = self.ldapsearch("(objectClass=*)", base=dn, scope="base")
        self.assertEqual(rc, 32, err)  # noSuchObject
        self.assertEqual(self.audit("directory.contact_delete")[-2:], [("denied", LEE[0]), ("ok", KIM[0])])
        self.assertEqual(self.audit("directory.contact_edit")[-2:], [("denied", LEE[0]), ("ok", KIM[0])])

    def test_caremailctl_manages_contacts_and_lists(self):
        r = self.d.ctl("contact", "add", "--ods", ORG, "--address", "front.desk@physio.example", "--name",
                       "Riverside Front Desk", "--job-role", "Reception")
        self.assertIn("front.desk@physio.example added", r.stdout)
        r = self.d.ctl("--json", "contact", "list", "--ods", ORG)
        cid = str([e for e in json.loads(r.stdout)["contacts"] if e["address"] == "front.desk@physio.example"][0]["id"])
        self.d.ctl("contact", "remove", "--ods", ORG, cid)
        self.assertNotIn("front.desk", self.d.ctl("contact", "list", "--ods", ORG).stdout)
        self.d.ctl("list", "create", "--ods", ORG, "--address", "porters@" + DOMAIN, "--name", "Porters",
                   "--member", JO[0], "--senders", "anyone")
        self.d.ctl("list", "member", "--ods", ORG, "porters@" + DOMAIN, SARAH[0])
        shown = json.loads(self.d.ctl("--json", "list", "show", "--ods", ORG, "porters@" + DOMAIN).stdout)
        self.assertIn(SARAH[0], shown["members"])
        self.assertEqual(shown["senders"], "anyone")
        out = self.d.ctl("list", "show", "--ods", ORG, "porters@" + DOMAIN).stdout  # for people
        self.assertIn(SARAH[0], out)
        changed = json.loads(self.d.ctl("--json", "list", "set", "--ods", ORG, "porters@" + DOMAIN, "--senders",
                                        "members", "--hidden").stdout)
        self.assertEqual((changed["senders"], changed["hidden"]), ("members", True))
        r = self.d.ctl("list", "create", "--ods", ORG, "--address", "porters@" + DOMAIN, "--name", "Again", check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("409", r.stderr)
        self.d.ctl("list", "delete", "--ods", ORG, "porters@" + DOMAIN)

    # -- distribution lists ------------------------------------------------------------
    def test_mail_to_a_list_reaches_every_member(self):
        base = f"/api/v1/organisations/{ORG}/lists"
        lst = {"address": "ward7@" + DOMAIN, "display_name": "Ward 7 Nurses", "members": [JO[0], SARAH[0], PARTNER]}
        st, _, body = self.d.api("POST", base, lst, token=self.lee)
        self.assertEqual(st, 403, body)
        for bad in ({**lst, "address": "ward7@" + DOMAIN2}, {**lst, "members": ["nobody@" + DOMAIN]},
                    {**lst, "senders": "everyone"}, {**lst, "address": JO[0]}):
            st, _, body = self.d.api("POST", base, bad, token=self.kim)
            self.assertIn(st, (400, 409), body)
        st, _, made = self.d.api("POST", base, lst, token=self.kim)
        self.assertEqual(st, 201, made)
        self.assertEqual(made["senders"], "service")
        self.assertEqual(made["members"], sorted([JO[0], SARAH[0], PARTNER]))
        self.assertEqual([h["kind"] for h in self.search("ward nurses", self.sarah)], ["list"])

        refused = self.submit(JO, ["ward7@" + DOMAIN], "list handover")
        self.assertEqual(refused, {})
        for user in (JO, SARAH):
            msgs = wait_for(lambda: self.imap_messages(user, "list handover"), what=f"delivery to {user[0]}")
            self.assertEqual(len(msgs), 1)
            m = email.message_from_bytes(msgs[0], policy=email.policy.default)
            self.assertEqual(m["List-Id"], '"Ward 7 Nurses" <ward7.leeds.care.example>')
            self.assertEqual(m["Delivered-To"], user[0])
        got = wait_for(lambda: [m for m in self.sink.messages() if b"Subject: list handover" in m["data"]],
                       what="the outside member's copy")
        self.assertEqual(got[0]["to"], [PARTNER])
        self.assertEqual(got[0]["from"], JO[0], "the original sender gets any non-delivery report")
        self.assertIn(b"List-Id: \"Ward 7 Nurses\" <ward7.leeds.care.example>", got[0]["data"])
        # The list's copy shares one blob among local members.
        blobs = {m["blob"] for u in (JO, SARAH) for m in self.d.messages(*u) if m["subject"] == "list handover"}
        self.assertEqual(len(blobs), 1)

        # "people in the service": port 25 from outside is refused at RCPT.
        with smtplib.SMTP("127.0.0.1", self.d.ports["smtp"]) as c:
            c.ehlo("client.example")
            c.mail("stranger@internet.example")
            code, text = c.rcpt("ward7@" + DOMAIN)
        self.assertEqual(code, 550)
        self.assertIn(b"5.7.1", text)

        # Delete: the address is retired like an alias.
        st, _, _ = self.d.api("DELETE", f"{base}/ward7@{DOMAIN}", token=self.kim)
        self.assertEqual(st, 204)
        st, _, body = self.d.api("POST", f"/api/v1/accounts/{SARAH[0]}/aliases", {"alias": "ward7@" + DOMAIN})
        self.assertEqual(st, 409, body)
        self.assertEqual(self.search("ward nurses", self.sarah), [])
        with smtplib.SMTP("127.0.0.1", self.d.ports["smtp"]) as c:
            c.ehlo("client.example")
            c.mail("gp@practice.example")
            code, _ = c.rcpt("ward7@" + DOMAIN)
        self.assertEqual(code, 550)

    def test_members_only_list_refuses_outsiders_at_rcpt(self):
        base = f"/api/v1/organisations/{ORG}/lists"
        st, _, made = self.d.api("POST", base, {"address": "mdt@" + DOMAIN, "display_name": "Cancer MDT",
                                                "senders": "members", "members": [JO[0], PARTNER]}, token=self.kim)
        self.assertEqual(st, 201, made)
        # A signed-in person who is not a member: 550 5.7.1 with the reason.
        with self.assertRaises(smtplib.SMTPRecipientsRefused) as ctx:
            self.submit(PAT, ["mdt@" + DOMAIN], "mdt from a non-member")
        code, text = ctx.exception.recipients["mdt@" + DOMAIN]
        self.assertEqual(code, 550)
        self.assertIn(b"5.7.1", text)
        self.assertIn(b"only members", text)
        # Port 25: a stranger is refused, and so is the outside member's address: the
        # envelope sender is not authenticated and anyone can forge it (issue 14), unless
        # smtp.trust_envelope_sender_for_lists is on (MailService's unit test covers that).
        with smtplib.SMTP("127.0.0.1", self.d.ports["smtp"]) as c:
            c.ehlo("client.example")
            c.mail("stranger@internet.example")
            self.assertEqual(c.rcpt("mdt@" + DOMAIN)[0], 550)
            c.rset()
            c.mail(PARTNER)
            code, text = c.rcpt("mdt@" + DOMAIN)
            self.assertEqual(code, 550, text)
            self.assertIn(b"5.7.1", text)
        # A member signed in may send.
        self.assertEqual(self.submit(JO, ["mdt@" + DOMAIN], "mdt from a member"), {})
        # Membership changes through the API: now Sarah may too.
        st, _, body = self.d.api("PUT", f"{base}/mdt@{DOMAIN}/members/{SARAH[0]}", token=self.kim)
        self.assertEqual((st, SARAH[0] in body["members"]), (200, True), body)
        self.assertEqual(self.submit(SARAH, ["mdt@" + DOMAIN], "mdt from a new member"), {})

    def test_hidden_list_is_not_in_the_directory(self):
        base = f"/api/v1/organisations/{ORG}/lists"
        st, _, made = self.d.api("POST", base, {"address": "bank.staff@" + DOMAIN, "display_name": "Bank Staff Rota",
                                                "hidden": True, "members": [JO[0]]}, token=self.kim)
        self.assertEqual(st, 201, made)
        self.assertEqual(self.search("bank staff rota", self.sarah), [])
        st, _, _ = self.d.api("GET", f"/api/v1/directory/entries/bank.staff@{DOMAIN}", token=self.sarah)
        self.assertEqual(st, 404)
        rc, entries, err = self.ldapsearch("(cn=Bank Staff*)", "mail")
        self.assertEqual((rc, entries), (0, []), err)
        rc, entries, err = self.ldapsearch("(cn=Bank Staff*)", "mail", who=KIM)
        self.assertEqual((rc, [e["mail"] for e in entries]), (0, [["bank.staff@" + DOMAIN]]), err)
        # Its organisation's administrators still see it; unhiding shows it to everyone.
        self.assertEqual([h["address"] for h in self.search("bank staff rota", self.kim)], ["bank.staff@" + DOMAIN])
        st, _, body = self.d.api("PUT", f"{base}/bank.staff@{DOMAIN}", {"hidden": False}, token=self.kim)
        self.assertEqual((st, body["hidden"], body["display_name"]), (200, False, "Bank Staff Rota"), body)
        self.assertEqual([h["address"] for h in self.search("bank staff rota", self.sarah)], ["bank.staff@" + DOMAIN])
        st, _, body = self.d.api("PUT", f"{base}/bank.staff@{DOMAIN}", {"address": "x@" + DOMAIN}, token=self.kim)
        self.assertEqual(st, 400, body)


if __name__ == "__main__":
    unittest.main()

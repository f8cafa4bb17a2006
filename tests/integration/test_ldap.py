"""The LDAP address book (issue 6, PRODUCT.md D2) with real clients: OpenLDAP's ldapsearch,
ldapwhoami and ldapmodify (Debian ldap-utils) and python3-ldap3, against a real caremaild.

Covers: simple bind (address or DN) through the national sign-in (wrong passwords count
towards the lockout, which then refuses IMAP too), binds refused without TLS, StartTLS and
ldaps, anonymous searches refused except the root DSE, the filters Thunderbird and Outlook
send, equality on mail, attribute selection, size limits, paged results, privacy (hidden
entries and hidden mobiles), a base search on an entry's DN, unbounded listings and writes
refused, and malformed BER ending the connection without harming the server."""
import imaplib
import os
import shutil
import socket
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # also runnable as a script
from harness import DaemonTestCase, ldap3  # noqa: E402 - ldap3 is None when python3-ldap3 is absent

ORG, DOMAIN = "RX1", "leeds.care.example"
ORG2, DOMAIN2 = "RR8", "sheffield.care.example"
BASE = "o=caremail"
PLAINTEXT = ("[ldap]\nallow_plaintext_bind_on_loopback = true\n"
             "[imap]\nallow_plaintext_auth_on_loopback = true\n"
             "[lockout]\nfailures = 3\nip_failures = 1000\n")

HAVE_LDAPSEARCH = shutil.which("ldapsearch") is not None

SARAH = ("sarah.smith@" + DOMAIN, "amber-lantern-123")
JOHN = ("john.smithson@" + DOMAIN, "quiet-harbour-123")
LOCKME = ("lock.me@" + DOMAIN, "copper-meadow-123")
KIM = ("kim.admin@" + DOMAIN2, "silver-birch-123")   # local administrator of RR8
HIDDEN = ("hidden.smithers@" + DOMAIN2, "velvet-canyon-123")
PRIYA = ("priya.smithwick@" + DOMAIN2, "maple-orchard-123")
NINA = ("nina.goldsmith@" + DOMAIN, "harbour-lantern-123")
LUKASZ = ("lukasz.wojcik@" + DOMAIN, "granite-willow-123")


def parse_ldif(text):
    """ldapsearch -LLL output to a list of {"dn": dn, attr: [values]} (attribute names lower-cased)."""
    entries, cur, last = [], None, None
    for line in text.splitlines():
        if line.startswith(" ") and cur is not None and last:
            cur[last][-1] += line[1:]
            continue
        if not line.strip():
            if cur:
                entries.append(cur)
            cur, last = None, None
            continue
        if line.startswith("#"):
            continue
        k, _, v = line.partition(":")
        if v.startswith(":"):  # base64
            import base64
            v = base64.b64decode(v[1:].strip()).decode("utf-8", "replace")
        else:
            v = v.strip()
        if k == "dn":
            cur = {"dn": v}
            last = None
            continue
        if cur is None:
            continue
        last = k.lower()
        cur.setdefault(last, []).append(v)
    if cur:
        entries.append(cur)
    return entries


class LdapBase(DaemonTestCase):
    EXTRA = PLAINTEXT

    @classmethod
    def populate(cls):
        d = cls.d
        d.create_org(ORG, "Leeds Teaching Hospitals", [DOMAIN])
        d.create_org(ORG2, "Sheffield Teaching Hospitals", [DOMAIN2])
        d.create_user(SARAH[0], ORG, SARAH[1], display_name="Sarah Smith")
        d.create_user(JOHN[0], ORG, JOHN[1], display_name="John Smithson")
        d.create_user(LOCKME[0], ORG, LOCKME[1], display_name="Lock Me")
        d.create_user(KIM[0], ORG2, KIM[1], display_name="Kim Admin", roles=["local_admin"])
        d.create_user(HIDDEN[0], ORG2, HIDDEN[1], display_name="Hidden Smithers")
        d.create_user(PRIYA[0], ORG2, PRIYA[1], display_name="Priya Smithwick")
        d.create_user(NINA[0], ORG, NINA[1], display_name="Nina Goldsmith")
        d.create_user(LUKASZ[0], ORG, LUKASZ[1], display_name="Łukasz Wójcik")
        for i in range(6):
            d.create_user(f"sam.smith{i}@{DOMAIN}", ORG, "pebble-stream-123", display_name=f"Sam Smith")
        cls.profile(SARAH[0], title="Dr", given_name="Sarah", surname="Smith", job_role="Consultant",
                    speciality="Cardiology", unit="Ward 7B", site="Leeds General Infirmary",
                    telephone="0113 243 3144", mobile="07700 900001")
        cls.profile(JOHN[0], given_name="John", surname="Smithson", job_role="Staff Nurse", unit="Ward 7B")
        cls.profile(HIDDEN[0], given_name="Hidden", surname="Smithers", hidden=True)
        cls.profile(PRIYA[0], given_name="Priya", surname="Smithwick", job_role="Pharmacist",
                    telephone="0114 271 1900", mobile="07700 900002", mobile_hidden=True)
        for i in range(6):
            cls.profile(f"sam.smith{i}@{DOMAIN}", given_name="Sam", surname="Smith", job_role="Porter")
        cls.profile(NINA[0], given_name="Nina", surname="Goldsmith")
        cls.profile(LUKASZ[0], given_name="Łukasz", surname="Wójcik")

    @classmethod
    def profile(cls, address, **fields):
        st, _, body = cls.d.api("PUT", f"/api/v1/directory/entries/{address}", fields)
        assert st == 204, (st, body)

    # -- clients ---------------------------------------------------------------------
    def url(self, tls=False):
        return f"ldaps://127.0.0.1:{self.d.ports['ldaps']}" if tls else f"ldap://127.0.0.1:{self.d.ports['ldap']}"

    def ldapsearch(self, flt, *attrs, who=SARAH, base=BASE, scope="sub", extra=(), tls=False, starttls=False):
        """(exit code, entries, stderr) of `ldapsearch -LLL`."""
        if not HAVE_LDAPSEARCH:
            self.skipTest("ldapsearch (ldap-utils) is not installed")
        cmd = ["ldapsearch", "-LLL", "-x", "-o", "ldif-wrap=no", "-H", self.url(tls), "-b", base, "-s", scope]
        if starttls:
            cmd.append("-ZZ")
        if who:
            cmd += ["-D", who[0], "-w", who[1]]
        cmd += list(extra) + [flt] + list(attrs)
        # LDAPNOINIT would also ignore LDAPTLS_REQCERT: point LDAPCONF away from /etc instead.
        env = dict(os.environ, LDAPTLS_REQCERT="never", LDAPCONF="/dev/null")
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=30, env=env)
        return r.returncode, parse_ldif(r.stdout), r.stderr

    def conn(self, who=SARAH, tls=False):
        if ldap3 is None:
            self.skipTest("python3-ldap3 is not installed")
        port = self.d.ports["ldaps" if tls else "ldap"]
        server = ldap3.Server("127.0.0.1", port=port, use_ssl=tls, get_info=ldap3.NONE,
                              tls=ldap3.Tls(validate=0) if tls else None)
        c = ldap3.Connection(server, user=who[0] if who else None, password=who[1] if who else None,
                             auto_bind=False, raise_exceptions=False, receive_timeout=15)
        c.open()
        if who:
            self.assertTrue(c.bind(), c.result)
        return c

    @staticmethod
    def mails(entries):
        return sorted(e["mail"][0] for e in entries if "mail" in e)


class LdapTest(LdapBase):
    # -- binds -----------------------------------------------------------------------
    def test_root_dse_anonymous(self):
        rc, entries, err = self.ldapsearch("(objectClass=*)", "+", who=None, base="", scope="base")
        self.assertEqual(rc, 0, err)
        self.assertEqual(len(entries), 1)
        dse = entries[0]
        self.assertEqual(dse["namingcontexts"], [BASE])
        self.assertEqual(dse["supportedldapversion"], ["3"])
        self.assertIn("1.2.840.113556.1.4.319", dse["supportedcontrol"])
        self.assertIn("1.3.6.1.4.1.1466.20037", dse["supportedextension"])
        self.assertIn("1.3.6.1.4.1.4203.1.11.3", dse["supportedextension"])

    def test_anonymous_search_refused(self):
        rc, entries, err = self.ldapsearch("(cn=smith)", who=None)
        self.assertEqual(rc, 50, err)
        self.assertEqual(entries, [])

    def test_bind_with_address_and_dn_whoami(self):
        env = dict(os.environ, LDAPNOINIT="1")
        for name in (SARAH[0], f"mail={SARAH[0]},ou={ORG},{BASE}", f"uid={SARAH[0]},{BASE}"):
            r = subprocess.run(["ldapwhoami", "-x", "-H", self.url(), "-D", name, "-w", SARAH[1]],
                               capture_output=True, text=True, timeout=30, env=env)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stdout.strip(), "u:" + SARAH[0])

    def test_wrong_password_is_49_and_locks_imap_too(self):
        for _ in range(3):
            rc, _, err = self.ldapsearch("(cn=smith)", who=(LOCKME[0], "not-the-password"))
            self.assertEqual(rc, 49, err)
        # Locked: the right password no longer works, on LDAP nor on IMAP.
        rc, _, err = self.ldapsearch("(cn=smith)", who=LOCKME)
        self.assertEqual(rc, 49, err)
        c = imaplib.IMAP4("127.0.0.1", self.d.ports["imap"], timeout=15)
        try:
            with self.assertRaises(imaplib.IMAP4.error):
                c.login(*LOCKME)
        finally:
            c.shutdown()

    def test_unauthenticated_bind_refused(self):
        # A name without a password (RFC 4513 §5.1.2) is not an anonymous bind.
        r = subprocess.run(["ldapwhoami", "-x", "-H", self.url(), "-D", SARAH[0], "-w", ""],
                           capture_output=True, text=True, timeout=30, env=dict(os.environ, LDAPNOINIT="1"))
        self.assertEqual(r.returncode, 53, r.stderr)

    # -- searches --------------------------------------------------------------------
    def test_thunderbird_autocomplete(self):
        rc, entries, err = self.ldapsearch("(|(mail=*smi*)(cn=*smi*)(givenName=*smi*)(sn=*smi*))",
                                           "cn", "mail", "title")
        self.assertEqual(rc, 0, err)
        m = self.mails(entries)
        self.assertIn(SARAH[0], m)
        self.assertIn(JOHN[0], m)
        self.assertIn(PRIYA[0], m)
        self.assertNotIn(HIDDEN[0], m)  # hidden from other organisations
        self.assertEqual(sum(1 for x in m if x.startswith("sam.smith")), 6)
        sarah = next(e for e in entries if e["mail"] == [SARAH[0]])
        self.assertEqual(sarah["cn"], ["Sarah Smith"])
        self.assertEqual(sarah["title"], ["Consultant"])
        self.assertNotIn("telephonenumber", sarah)  # not asked for
        self.assertTrue(sarah["dn"].lower().startswith("mail=" + SARAH[0] + ",ou=rx1,o=caremail"), sarah["dn"])

    def test_typed_letter_by_letter(self):
        seen = []
        for typed in ("s", "sa", "sar", "sara", "sarah"):
            flt = f"(|(mail=*{typed}*)(cn=*{typed}*)(givenName=*{typed}*)(sn=*{typed}*))"
            rc, entries, err = self.ldapsearch(flt, "mail", extra=["-z", "50"])
            self.assertIn(rc, (0, 4), err)
            seen.append(self.mails(entries))
        self.assertEqual(seen[-1], [SARAH[0]])

    def test_outlook_style(self):
        rc, entries, err = self.ldapsearch("(&(objectClass=person)(|(cn=john*)(mail=john*)))")
        self.assertEqual(rc, 0, err)
        self.assertEqual(self.mails(entries), [JOHN[0]])
        john = entries[0]
        self.assertIn("inetOrgPerson", john["objectclass"])
        self.assertEqual(john["ou"], ["Ward 7B"])
        self.assertEqual(john["o"], ["Leeds Teaching Hospitals"])

    def test_mail_equality_and_all_attributes(self):
        rc, entries, err = self.ldapsearch(f"(mail={SARAH[0]})")
        self.assertEqual(rc, 0, err)
        self.assertEqual(len(entries), 1)
        e = entries[0]
        self.assertEqual(e["givenname"], ["Sarah"])
        self.assertEqual(e["sn"], ["Smith"])
        self.assertEqual(e["displayname"], ["Sarah Smith"])
        self.assertEqual(e["personaltitle"], ["Dr"])
        self.assertEqual(e["businesscategory"], ["Cardiology"])
        self.assertEqual(e["physicaldeliveryofficename"], ["Leeds General Infirmary"])
        self.assertEqual(e["telephonenumber"], ["0113 243 3144"])
        self.assertEqual(e["mobile"], ["07700 900001"])

    def test_typed_surname_first(self):
        # Thunderbird's filter with "smith sa" typed: nobody's cn, mail or sn starts with
        # "smith" and goes on to "sa" (Sarah Smith's cn starts with "Sarah"), though the
        # words match; given name first finds her and the Sams.
        v = "smith*sa*"
        rc, entries, err = self.ldapsearch(f"(|(cn={v})(mail={v})(sn={v}))", "mail")
        self.assertEqual(rc, 0, err)
        self.assertEqual(entries, [])
        v = "sa*smith*"
        rc, entries, err = self.ldapsearch(f"(|(cn={v})(mail={v})(sn={v}))", "mail")
        self.assertEqual(rc, 0, err)
        self.assertEqual(self.mails(entries), sorted([SARAH[0]] + [f"sam.smith{i}@{DOMAIN}" for i in range(6)]))
        # Case and repeated spaces do not matter, as in the filter's own matching.
        rc, entries, err = self.ldapsearch("(cn=SARAH  S*)", "mail")
        self.assertEqual(rc, 0, err)
        self.assertEqual(self.mails(entries), [SARAH[0]])

    def test_pieces_inside_words(self):
        # Thunderbird's address-book search looks for the text anywhere in the value, as
        # the filter says: Goldsmith holds "smith". Word starts come first.
        rc, entries, err = self.ldapsearch("(|(mail=*smith*)(cn=*smith*)(sn=*smith*))", "mail")
        self.assertEqual(rc, 0, err)
        m = [e["mail"][0] for e in entries]
        self.assertIn(NINA[0], m)
        self.assertEqual(m[-1], NINA[0])
        self.assertIn(SARAH[0], m)
        # A final component: the surnames ending in "smith", not Smithson or Smithwick.
        rc, entries, err = self.ldapsearch("(sn=*SMITH)", "mail")
        self.assertEqual(rc, 0, err)
        sams = [f"sam.smith{i}@{DOMAIN}" for i in range(6)]
        self.assertEqual(self.mails(entries), sorted([SARAH[0], NINA[0]] + sams))
        # For mail, anywhere in the address, across the @ and into the domain.
        rc, entries, err = self.ldapsearch("(mail=*wick@sheff*)", "mail")
        self.assertEqual(rc, 0, err)
        self.assertEqual(self.mails(entries), [PRIYA[0]])
        # An inner component after an initial: "Nina Goldsmith" starts "nina" and holds "dsm".
        if ldap3 is not None:
            c = self.conn()
            c.search(BASE, "(cn=nina*dsm*)", attributes=["mail"])
            self.assertEqual([r["attributes"]["mail"][0] for r in c.response if r["type"] == "searchResEntry"],
                             [NINA[0]])
            c.unbind()

    def test_case_beyond_ascii(self):
        # caseIgnoreMatch folds Unicode case, as slapd does; accents stay significant.
        for flt in ("(cn=ł*)", "(sn=WÓJCIK)", "(givenName=ŁUKASZ)", "(|(cn=*ÓJC*)(mail=*ójc*))"):
            rc, entries, err = self.ldapsearch(flt, "mail", "cn")
            self.assertEqual(rc, 0, err)
            self.assertEqual(self.mails(entries), [LUKASZ[0]], flt)
        self.assertEqual(entries[0]["cn"], ["Łukasz Wójcik"])
        rc, entries, err = self.ldapsearch("(sn=wojcik)", "mail")
        self.assertEqual((rc, entries), (0, []), err)

    def test_surname_and_organisation(self):
        rc, entries, err = self.ldapsearch("(&(sn=smith*)(o=sheffield*))", "mail")
        self.assertEqual(rc, 0, err)
        self.assertEqual(self.mails(entries), [PRIYA[0]])

    def test_attribute_selection_ldap3(self):
        c = self.conn()
        ok = c.search(BASE, f"(mail={JOHN[0]})", attributes=["cn", "title"])
        self.assertTrue(ok, c.result)
        self.assertEqual(len(c.entries), 1)
        attrs = c.response[0]["attributes"]
        self.assertEqual(sorted(k.lower() for k in attrs), ["cn", "title"])
        self.assertEqual(str(c.entries[0].title), "Staff Nurse")
        # "1.1": the DN only.
        c.search(BASE, f"(mail={JOHN[0]})", attributes=["1.1"])
        self.assertEqual(c.response[0]["attributes"], {})
        c.unbind()

    def test_size_limit(self):
        rc, entries, err = self.ldapsearch("(cn=sam*)", "mail", extra=["-z", "4"])
        self.assertEqual(rc, 4, err)  # sizeLimitExceeded
        self.assertEqual(len(entries), 4)

    def test_paged_results(self):
        rc, entries, err = self.ldapsearch("(|(cn=sam*)(sn=smith*))", "mail", extra=["-E", "pr=2/noprompt"])
        self.assertEqual(rc, 0, err)
        m = self.mails(entries)
        self.assertEqual(len(m), len(set(m)))
        self.assertEqual(len(m), 9)  # six Sams, Sarah, John Smithson, Priya Smithwick
        if ldap3 is not None:
            c = self.conn()
            pages = 0
            got = []
            cookie = None
            while True:
                c.search(BASE, "(sn=smith*)", attributes=["mail"], paged_size=3, paged_cookie=cookie)
                pages += 1
                got += [r["attributes"]["mail"][0] for r in c.response if r["type"] == "searchResEntry"]
                cookie = c.result["controls"]["1.2.840.113556.1.4.319"]["value"]["cookie"]
                if not cookie:
                    break
            self.assertGreaterEqual(pages, 3)
            self.assertEqual(sorted(got), sorted(m))
            c.unbind()

    def test_privacy_hidden_entry_and_mobile(self):
        # Another organisation's user sees neither the hidden entry nor the hidden mobile.
        rc, entries, err = self.ldapsearch("(sn=smith*)", "mail", "mobile", who=SARAH)
        self.assertEqual(rc, 0, err)
        self.assertNotIn(HIDDEN[0], self.mails(entries))
        priya = next(e for e in entries if e["mail"] == [PRIYA[0]])
        self.assertNotIn("mobile", priya)
        rc, entries, err = self.ldapsearch(f"(mail={HIDDEN[0]})", who=SARAH)
        self.assertEqual((rc, entries), (0, []), err)
        # An initial substring is the beginning of the whole value (RFC 4511), as in slapd.
        rc, entries, err = self.ldapsearch("(|(cn=smiths*)(mail=smiths*))")
        self.assertEqual((rc, entries), (0, []), err)
        # Their own organisation's administrator sees both.
        rc, entries, err = self.ldapsearch("(sn=smith*)", "mail", "mobile", who=KIM)
        self.assertEqual(rc, 0, err)
        self.assertIn(HIDDEN[0], self.mails(entries))
        priya = next(e for e in entries if e["mail"] == [PRIYA[0]])
        self.assertEqual(priya["mobile"], ["07700 900002"])

    def test_base_search_on_entry_dn_and_organisation(self):
        dn = f"mail={JOHN[0]},ou={ORG},{BASE}"
        rc, entries, err = self.ldapsearch("(objectClass=*)", "cn", base=dn, scope="base")
        self.assertEqual(rc, 0, err)
        self.assertEqual([e["cn"] for e in entries], [["John Smithson"]])
        rc, entries, err = self.ldapsearch("(objectClass=*)", base=f"mail=nobody@{DOMAIN},ou={ORG},{BASE}",
                                           scope="base")
        self.assertEqual(rc, 32, err)
        # The right address under another organisation is no entry either.
        rc, entries, err = self.ldapsearch("(objectClass=*)", base=f"mail={JOHN[0]},ou={ORG2},{BASE}", scope="base")
        self.assertEqual(rc, 32, err)
        # Below an organisation: that organisation only.
        rc, entries, err = self.ldapsearch("(sn=smith*)", "mail", base=f"ou={ORG2},{BASE}")
        self.assertEqual(rc, 0, err)
        self.assertEqual(self.mails(entries), [PRIYA[0]])
        rc, entries, err = self.ldapsearch("(objectClass=*)", base=BASE, scope="base")
        self.assertEqual(rc, 0, err)
        self.assertEqual(entries[0]["dn"], BASE)
        rc, _, err = self.ldapsearch("(cn=smith)", base="dc=example,dc=com")
        self.assertEqual(rc, 32, err)

    def test_unbounded_listing_refused(self):
        rc, entries, err = self.ldapsearch("(objectClass=*)")
        self.assertEqual(rc, 53, err)
        self.assertEqual(entries, [])

    def test_write_operations_refused(self):
        c = self.conn()
        self.assertFalse(c.add(f"mail=new@{DOMAIN},ou={ORG},{BASE}", ["inetOrgPerson"], {"cn": "x", "sn": "y"}))
        self.assertEqual(c.result["result"], 53)
        self.assertFalse(c.modify(f"mail={JOHN[0]},ou={ORG},{BASE}", {"title": [(ldap3.MODIFY_REPLACE, ["Boss"])]}))
        self.assertEqual(c.result["result"], 53)
        self.assertFalse(c.delete(f"mail={JOHN[0]},ou={ORG},{BASE}"))
        self.assertEqual(c.result["result"], 53)
        # Still served afterwards.
        self.assertTrue(c.search(BASE, f"(mail={JOHN[0]})", attributes=["title"]))
        self.assertEqual(str(c.entries[0].title), "Staff Nurse")
        c.unbind()

    # -- hostile input -----------------------------------------------------------------
    def raw(self, data, read=True):
        s = socket.create_connection(("127.0.0.1", self.d.ports["ldap"]), timeout=10)
        try:
            s.sendall(data)
            out = b""
            if read:
                while True:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    out += chunk
            return out
        finally:
            s.close()

    def test_malformed_ber_disconnects(self):
        notice_oid = b"1.3.6.1.4.1.1466.20036"
        for garbage in (b"\x30\x84\xff\xff\xff\xff",            # 4 GB message
                        b"GET / HTTP/1.0\r\n\r\n",                  # not BER
                        b"\x30\x03\x02\x01\x01",                    # a messageID and no operation
                        b"\x30\x05\x02\x01\x01\x77\x00",            # unknown protocolOp
                        b"\x30\x80\x02\x01\x01\x00\x00",            # indefinite length
                        b"\x30\x0a\x02\x01\x01\x63\x05\x04\x83\xff\xff\xff"):  # inner length past the end
            out = self.raw(garbage)
            self.assertIn(notice_oid, out, garbage)
        # A filter nested far past the limit is refused on its own message, not by crashing.
        if ldap3 is not None:
            c = self.conn()
            deep = "(&" * 200 + "(cn=x)" + ")" * 200
            try:
                c.search(BASE, deep, attributes=["cn"])
                self.assertNotEqual(c.result["result"], 0)
            except Exception:
                pass  # the client may refuse to encode it; the server must simply survive
            c.unbind()
        rc, _, err = self.ldapsearch(f"(mail={SARAH[0]})", "cn")
        self.assertEqual(rc, 0, err)
        self.assertIsNone(self.d.proc.poll())

    def test_substring_bomb_bounded(self):
        bomb = "(cn=" + "*a" * 500 + "*)"
        rc, _, err = self.ldapsearch(bomb, "cn")
        self.assertNotEqual(rc, 0)
        self.assertIsNone(self.d.proc.poll())


class LdapSyntheticTest(LdapBase):
    """A synthetic directory (the benchmark's) beside the real accounts: its entries, which only
    the index holds, answer base searches on their DNs like any other."""
    EXTRA = PLAINTEXT + "[directory]\nsynthetic_entries = 300\nsynthetic_organisations = 10\n"

    def test_base_search_on_a_synthetic_entry(self):
        rc, entries, err = self.ldapsearch("(sn=a*)", "mail", "cn", extra=("-z", "5"))
        self.assertIn(rc, (0, 4), err)  # 4: sizeLimitExceeded
        synthetic = [e for e in entries if not e["mail"][0].endswith(DOMAIN) and not e["mail"][0].endswith(DOMAIN2)]
        self.assertTrue(synthetic, entries)
        dn, cn = synthetic[0]["dn"], synthetic[0]["cn"]
        rc, found, err = self.ldapsearch("(objectClass=*)", "cn", base=dn, scope="base")
        self.assertEqual(rc, 0, err)
        self.assertEqual([e["cn"] for e in found], [cn])


class LdapTlsTest(LdapBase):
    """Default configuration: no plaintext bind, even on loopback."""
    EXTRA = "[lockout]\nfailures = 50\nip_failures = 1000\n"

    def test_plaintext_bind_refused(self):
        rc, _, err = self.ldapsearch("(cn=smith)")
        self.assertEqual(rc, 13, err)  # confidentialityRequired

    def test_starttls_and_ldaps(self):
        rc, entries, err = self.ldapsearch(f"(mail={SARAH[0]})", "cn", starttls=True)
        self.assertEqual(rc, 0, err)
        self.assertEqual([e["cn"] for e in entries], [["Sarah Smith"]])
        rc, entries, err = self.ldapsearch(f"(mail={SARAH[0]})", "cn", tls=True)
        self.assertEqual(rc, 0, err)
        self.assertEqual([e["cn"] for e in entries], [["Sarah Smith"]])
        if ldap3 is not None:
            c = self.conn(who=None)
            self.assertTrue(c.start_tls())
            self.assertTrue(c.rebind(user=JOHN[0], password=JOHN[1]))
            self.assertEqual(c.extend.standard.who_am_i(), "u:" + JOHN[0])
            c.unbind()

    # -- StartTLS injection (issue 14): plaintext sent with the StartTLS request must never be
    # executed inside the TLS session (the CVE-2011-0411 class of bug).
    @staticmethod
    def ber(tag, content):
        n = len(content)
        length = bytes([n]) if n < 128 else bytes([0x82, n >> 8, n & 0xFF])
        return bytes([tag]) + length + content

    def ldap_message(self, msgid, op):
        return self.ber(0x30, self.ber(0x02, bytes([msgid])) + op)

    def start_tls_request(self, msgid):
        return self.ldap_message(msgid, self.ber(0x77, self.ber(0x80, b"1.3.6.1.4.1.1466.20037")))

    def bind_request(self, msgid, who):
        return self.ldap_message(msgid, self.ber(0x60, b"\x02\x01\x03" + self.ber(0x04, who[0].encode()) +
                                                  self.ber(0x80, who[1].encode())))

    def who_am_i_request(self, msgid):
        return self.ldap_message(msgid, self.ber(0x77, self.ber(0x80, b"1.3.6.1.4.1.4203.1.11.3")))

    @staticmethod
    def read_messages(sock, until_id):
        """LDAP messages (bytes each) up to the one with message ID `until_id`, or to EOF."""
        buf, out = b"", []
        while True:
            while len(buf) >= 2:
                head = 2 if buf[1] < 128 else 2 + (buf[1] & 0x7F)
                if len(buf) < head:
                    break
                n = buf[1] if buf[1] < 128 else int.from_bytes(buf[2:head], "big")
                if len(buf) < head + n:
                    break
                m, buf = buf[:head + n], buf[head + n:]
                out.append(m)
                if m[head + 2] == until_id:
                    return out
            chunk = sock.recv(65536)
            if not chunk:
                return out
            buf += chunk

    @staticmethod
    def id_and_op(m):
        """(message ID, protocolOp tag) of one LDAP message (IDs below 128)."""
        head = 2 if m[1] < 128 else 2 + (m[1] & 0x7F)
        return m[head + 2], m[head + 3]

    def starttls_then(self, first_write, after_tls):
        """Sends `first_write` (starting with a StartTLS request) in one TCP write, completes
        the handshake, sends `after_tls` over TLS and returns every message read until the
        reply to the last request (message ID 9)."""
        import ssl
        s = socket.create_connection(("127.0.0.1", self.d.ports["ldap"]), timeout=10)
        try:
            s.sendall(first_write)
            resp = self.read_messages(s, 1)
            self.assertEqual([self.id_and_op(m) for m in resp], [(1, 0x78)], "an ExtendedResponse to StartTLS")
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            s = ctx.wrap_socket(s, server_hostname="localhost")
            s.sendall(after_tls)
            return self.read_messages(s, 9)
        finally:
            s.close()

    def test_starttls_discards_pipelined_plaintext(self):
        # Control: a bind sent over TLS is executed (WhoAmI names the user).
        got = self.starttls_then(self.start_tls_request(1), self.bind_request(2, SARAH) + self.who_am_i_request(9))
        self.assertIn((2, 0x61), [self.id_and_op(m) for m in got], "a BindResponse over TLS")
        self.assertIn(("u:" + SARAH[0]).encode(), got[-1])
        # Injected: the same bind in the StartTLS request's TCP write must be dropped.
        got = self.starttls_then(self.start_tls_request(1) + self.bind_request(2, SARAH), self.who_am_i_request(9))
        self.assertNotIn(0x61, [self.id_and_op(m)[1] for m in got], f"the injected bind was answered: {got!r}")
        self.assertNotIn(("u:" + SARAH[0]).encode(), got[-1], "the injected bind must not have run")


if __name__ == "__main__":
    unittest.main()

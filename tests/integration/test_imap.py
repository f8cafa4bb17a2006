"""IMAP with real clients (Python imaplib and raw sockets where imaplib cannot say what we
need to send): TLS and login rules, every command with its success and error cases, the
extensions we advertise (CONDSTORE/QRESYNC, ESEARCH, SEARCHRES, SORT, THREAD, BINARY,
QUOTA, ACL, LIST-EXTENDED, LIST-STATUS, APPENDLIMIT, LITERAL+ ...), bad input, and
the notification rules between concurrent sessions (NOOP and IDLE)."""
import base64
import imaplib
import itertools
import re
import select
import signal
import smtplib
import socket
import ssl
import time
import unittest
import warnings
import zlib

from harness import DaemonTestCase, client_tls as tls_ctx, make_message

ORG = "RX1"
DOMAIN = "leeds.care.example"


# -- a tiny IMAP response parser --------------------------------------------------------
# Values: atoms and numbers are str, quoted strings and literals are bytes, NIL is None,
# parenthesised lists are Python lists.
_LITERAL = re.compile(rb"~?\{(\d+)\+?\}\r\n")


def parse_value(b: bytes, i: int = 0):
    while b[i:i + 1] == b" ":
        i += 1
    c = b[i:i + 1]
    if c == b"(":
        i += 1
        out = []
        while True:
            while b[i:i + 1] == b" ":
                i += 1
            if b[i:i + 1] == b")":
                return out, i + 1
            if i >= len(b):
                raise ValueError("unterminated list in " + repr(b[:300]))
            v, i = parse_value(b, i)
            out.append(v)
    if c == b'"':
        i += 1
        s = bytearray()
        while b[i:i + 1] != b'"':
            if i >= len(b):
                raise ValueError("unterminated string in " + repr(b[:300]))
            if b[i:i + 1] == b"\\":
                i += 1
            s += b[i:i + 1]
            i += 1
        return bytes(s), i + 1
    m = _LITERAL.match(b, i)
    if m:
        n = int(m.group(1))
        start = m.end()
        return b[start:start + n], start + n
    j = i
    depth = 0
    while j < len(b):
        ch = b[j:j + 1]
        if ch == b"[":
            depth += 1
        elif ch == b"]":
            depth -= 1
        elif depth == 0 and ch in (b" ", b")", b"("):
            break
        j += 1
    atom = b[i:j].decode("utf-8", "surrogateescape")
    return (None if atom.upper() == "NIL" else atom), j


def parse_values(b: bytes, i: int = 0):
    out = []
    while i < len(b):
        while b[i:i + 1] == b" ":
            i += 1
        if i >= len(b):
            break
        v, i = parse_value(b, i)
        out.append(v)
    return out


def s(v):
    """A parsed string/atom as str (None stays None)."""
    if v is None or isinstance(v, str):
        return v
    return v.decode("utf-8", "surrogateescape")


class Result:
    def __init__(self, tag, status, text, raw_untagged):
        self.tag = tag
        self.status = status          # "OK", "NO", "BAD" (or "BYE" when the server hung up)
        self.text = text              # the tagged line after the tag, e.g. "OK [READ-WRITE] done"
        self.raw = raw_untagged       # untagged/continuation lines as bytes, literals inlined
        self.untagged = [r.decode("utf-8", "surrogateescape") for r in raw_untagged]

    @property
    def code(self):
        m = re.match(r"\w+ \[([^\]]*)\]", self.text)
        return m.group(1) if m else None

    def lines(self, keyword):
        """Untagged lines '* KEYWORD ...' or '* n KEYWORD ...' (raw bytes)."""
        k = keyword.upper().encode()
        out = []
        for r in self.raw:
            parts = r.split(b" ", 3)
            if len(parts) >= 2 and parts[0] == b"*" and parts[1].upper() == k:
                out.append(r)
            elif len(parts) >= 3 and parts[0] == b"*" and parts[1].isdigit() and parts[2].upper() == k:
                out.append(r)
        return out

    def fetches(self):
        """{seq: {ITEM: value}} from the untagged FETCH responses (merged per message)."""
        out = {}
        for r in self.raw:
            m = re.match(rb"\* (\d+) FETCH ", r)
            if m:
                lst, _ = parse_value(r, m.end())
                items = out.setdefault(int(m.group(1)), {})
                for k, v in zip(lst[::2], lst[1::2]):
                    items[fetch_key(k)] = v
        return out

    def numbers(self, keyword):
        """seq numbers of '* n KEYWORD' lines, in order."""
        return [int(r.split(b" ")[1]) for r in self.lines(keyword) if r.split(b" ")[1].isdigit()]

    def search(self):
        """Numbers of an untagged SEARCH response ([] when absent); MODSEQ suffix dropped."""
        for r in self.lines("SEARCH"):
            t = re.sub(rb"\(MODSEQ \d+\)", b"", r[len(b"* SEARCH"):])
            return [int(x) for x in t.split()]
        return None

    def esearch(self):
        """dict of the ESEARCH response's data ({'TAG': 'a1', 'UID': True, 'MIN': '1', 'ALL': '1:3'})."""
        for r in self.lines("ESEARCH"):
            vals = parse_values(r, len(b"* ESEARCH"))
            out = {}
            if vals and isinstance(vals[0], list):
                out["TAG"] = s(vals[0][1])
                vals = vals[1:]
            i = 0
            while i < len(vals):
                k = vals[i].upper()
                if k == "UID":
                    out["UID"] = True
                    i += 1
                else:
                    out[k] = vals[i + 1]
                    i += 2
            return out
        return None

    def __repr__(self):
        return f"<{self.tag} {self.text!r} untagged={self.untagged!r}>"


def fetch_key(k: str) -> str:
    """A FETCH item name, upper-cased, with header-field lists as atoms: the server may echo
    BODY[HEADER.FIELDS ("SUBJECT")] for BODY[HEADER.FIELDS (SUBJECT)] (astring either way)."""
    k = k.upper()
    return re.sub(r"(HEADER\.FIELDS(?:\.NOT)? \()([^)]*)\)",
                  lambda m: m.group(1) + " ".join(x.strip('"') for x in m.group(2).split()) + ")", k)


def flagset(flags):
    """FLAGS as a set, without \\Recent (IMAP4rev1 only; IMAP4rev2 dropped it)."""
    return {f for f in flags if f.lower() != "\\recent"}


def expand(seqset: str):
    out = []
    for part in seqset.split(","):
        if ":" in part:
            a, b = sorted(int(x) for x in part.split(":"))
            out.extend(range(a, b + 1))
        else:
            out.append(int(part))
    return out


class Conn:
    """A bare IMAP conversation over a socket (plain, STARTTLS or implicit TLS)."""

    def __init__(self, port, tls=False, timeout=15):
        sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        if tls:
            sock = tls_ctx().wrap_socket(sock, server_hostname="localhost")
        self.s = sock
        self.buf = b""
        self.n = 0
        self.greeting = self.line().decode("utf-8", "surrogateescape")

    # -- bytes -------------------------------------------------------------------
    def fill(self):
        chunk = self.s.recv(65536)
        if not chunk:
            raise ConnectionError("connection closed; buffered " + repr(self.buf[:300]))
        self.buf += chunk

    def line(self) -> bytes:
        """One response line with the literals it carries inlined ('{n}\\r\\n' + data)."""
        out = b""
        while True:
            while b"\r\n" not in self.buf:
                self.fill()
            piece, self.buf = self.buf.split(b"\r\n", 1)
            out += piece
            m = re.search(rb"~?\{(\d+)\}$", piece)
            if not m:
                return out
            n = int(m.group(1))
            while len(self.buf) < n:
                self.fill()
            out += b"\r\n" + self.buf[:n]
            self.buf = self.buf[n:]

    def pending(self, wait=0.0) -> bool:
        """Whether server data is waiting (or arrives within `wait` seconds)."""
        if self.buf:
            return True
        if isinstance(self.s, ssl.SSLSocket) and self.s.pending():
            return True
        r, _, _ = select.select([self.s], [], [], wait)
        return bool(r)

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.s.sendall(data)

    # -- commands ----------------------------------------------------------------
    def tag(self):
        self.n += 1
        return "t%d" % self.n

    def until(self, tag) -> Result:
        raw = []
        t = tag.encode() + b" "
        while True:
            try:
                ln = self.line()
            except (ConnectionError, OSError) as e:
                # The server hung up before answering: report it as BYE with what it said.
                byes = [r for r in raw if r.startswith(b"* BYE")]
                return Result(tag, "BYE", (byes[-1].decode(errors="replace") if byes else str(e)), raw)
            if ln.startswith(t):
                text = ln[len(t):].decode("utf-8", "surrogateescape")
                return Result(tag, text.split(" ", 1)[0].upper(), text, raw)
            raw.append(ln)

    def cmd(self, text) -> Result:
        tag = self.tag()
        if isinstance(text, str):
            text = text.encode()
        self.send(tag.encode() + b" " + text + b"\r\n")
        return self.until(tag)

    def cmd_literal(self, before: str, literal: bytes, after: str = "", plus=False) -> Result:
        """`tag before {n}` + literal + after, with a synchronising literal unless plus."""
        tag = self.tag()
        if plus:
            self.send(f"{tag} {before} {{{len(literal)}+}}\r\n".encode() + literal + after.encode() + b"\r\n")
            return self.until(tag)
        self.send(f"{tag} {before} {{{len(literal)}}}\r\n".encode())
        raw = []
        while True:
            ln = self.line()
            if ln.startswith(b"+"):
                break
            if ln.startswith(tag.encode() + b" "):
                text = ln[len(tag) + 1:].decode("utf-8", "surrogateescape")
                return Result(tag, text.split(" ", 1)[0].upper(), text, raw)
            raw.append(ln)
        self.send(literal + after.encode() + b"\r\n")
        r = self.until(tag)
        r.raw[:0] = raw
        r.untagged[:0] = [x.decode("utf-8", "surrogateescape") for x in raw]
        return r

    def login(self, user, password):
        r = self.cmd(f'LOGIN "{user}" "{password}"')
        assert r.status == "OK", r
        return r

    def starttls(self):
        r = self.cmd("STARTTLS")
        assert r.status == "OK", r
        self.s = tls_ctx().wrap_socket(self.s, server_hostname="localhost")
        return r

    def capabilities(self):
        r = self.cmd("CAPABILITY")
        line = r.lines("CAPABILITY")[0].decode()
        return set(line.split()[2:])

    def select(self, mailbox="INBOX", args=""):
        r = self.cmd(f'SELECT "{mailbox}"' + (" " + args if args else ""))
        assert r.status == "OK", r
        return r

    def closed(self, wait=5):
        """True when the server has closed the connection (any BYE before it is consumed)."""
        deadline = time.time() + wait
        while time.time() < deadline:
            try:
                self.s.settimeout(max(0.1, deadline - time.time()))
                chunk = self.s.recv(65536)
            except socket.timeout:
                return False
            except (ConnectionResetError, BrokenPipeError, ssl.SSLError, OSError):
                return True
            if not chunk:
                return True
            self.buf += chunk
        return False

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass


def message(subject, body="Hello from the IMAP tests.\r\n", sender="gp@practice.example", to="someone@" + DOMAIN,
            date="Sat, 21 Nov 2026 10:00:00 +0000", msgid=None, headers="", content_type="text/plain; charset=utf-8",
            cte=None):
    msgid = msgid or "<%s@test>" % abs(hash((subject, body, sender, date)))
    return (f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\nDate: {date}\r\nMessage-ID: {msgid}\r\n"
            f"{headers}MIME-Version: 1.0\r\nContent-Type: {content_type}\r\n"
            + (f"Content-Transfer-Encoding: {cte}\r\n" if cte else "") + f"\r\n{body}").encode()


ATTACHMENT = bytes(range(256)) * 4


def multipart_message():
    b64 = base64.encodebytes(ATTACHMENT).replace(b"\n", b"\r\n").decode()
    return ("From: \"Dr Alice Example\" <alice@practice.example>\r\n"
            f"To: jo.bloggs@{DOMAIN}\r\n"
            "Subject: Results attached\r\n"
            "Date: Sat, 21 Nov 2026 10:00:00 +0000\r\n"
            "Message-ID: <multi@test>\r\n"
            "MIME-Version: 1.0\r\n"
            "Content-Type: multipart/mixed; boundary=\"XYZ\"\r\n"
            "\r\n"
            "This is a multi-part message in MIME format.\r\n"
            "--XYZ\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n"
            "Content-Transfer-Encoding: 7bit\r\n"
            "\r\n"
            "The results are attached.\r\nSecond line.\r\n"
            "--XYZ\r\n"
            "Content-Type: application/octet-stream; name=\"results.bin\"\r\n"
            "Content-Transfer-Encoding: base64\r\n"
            "Content-Disposition: attachment; filename=\"results.bin\"\r\n"
            "\r\n"
            f"{b64}"
            "--XYZ--\r\n").encode()


class ImapBase(DaemonTestCase):
    """One daemon per class (EXTRA its configuration); each test makes its own accounts so
    tests do not share state."""
    _n = itertools.count(1)

    @classmethod
    def populate(cls):
        cls.d.create_org(ORG, "Leeds Teaching Hospitals", [DOMAIN])
        cls.imap = cls.d.ports["imap"]
        cls.imaps = cls.d.ports["imaps"]

    def user(self, **extra):
        n = next(self._n)
        u = (f"{self.__class__.__name__.lower()}{n}@{DOMAIN}", f"imap-password-{n:04d}")
        self.d.create_user(u[0], ORG, u[1], **extra)
        return u

    def deliver(self, user, msg: bytes):
        st, _, body = self.d.deliver([user[0]], msg)
        self.assertEqual(st, 200, body)
        return body["recipients"][0]["uid"]

    def conn(self, user=None, tls=True):
        c = Conn(self.imaps if tls else self.imap, tls=tls)
        self.addCleanup(c.close)
        if user:
            c.login(*user)
        return c

    def client(self, user):
        c = imaplib.IMAP4_SSL("127.0.0.1", self.imaps, ssl_context=tls_ctx(), timeout=15)
        self.addCleanup(lambda: c.shutdown() if c.state != "LOGOUT" else None)
        c.login(*user)
        return c

    def ok(self, r, msg=""):
        self.assertEqual(r.status, "OK", msg or repr(r))
        return r

    def no(self, r, code=None):
        self.assertEqual(r.status, "NO", repr(r))
        if code:
            self.assertIsNotNone(r.code, f"expected NO [{code}]: {r!r}")
            self.assertEqual(r.code.split()[0].upper(), code, repr(r))
        return r

    def bad(self, r):
        self.assertEqual(r.status, "BAD", repr(r))
        return r

    def mailboxes(self, c):
        """{name: set(attributes)} from LIST "" "*"."""
        r = self.ok(c.cmd('LIST "" "*"'))
        out = {}
        for line in r.lines("LIST"):
            attrs, delim, name = parse_values(line, len(b"* LIST"))
            out[s(name)] = {a.lower() for a in attrs}
        return out

    def uids(self, c):
        r = self.ok(c.cmd("UID SEARCH ALL"))
        return r.search()

    def flags(self, c, seq):
        r = self.ok(c.cmd(f"FETCH {seq} (FLAGS)"))
        return flagset(r.fetches()[int(seq)]["FLAGS"])


# ==========================================================================================
class ImapTlsAndLoginTest(ImapBase):
    """Default configuration: no plaintext login on the plain port until STARTTLS. The
    conversations that only check replies (greeting and capabilities, STARTTLS rules, login
    and AUTHENTICATE errors, wrong states, max_errors, LOGOUT) are transcripts:
    tests/transcripts/imap_login/ (test_transcripts.py)."""
    EXTRA = "[imap]\nmax_errors = 5\nmax_auth_failures = 3\n"

    def test_starttls_with_imaplib_then_login(self):
        u = self.user()
        c = imaplib.IMAP4("127.0.0.1", self.imap, timeout=15)
        try:
            self.assertIn("STARTTLS", c.capabilities)
            with self.assertRaises(imaplib.IMAP4.error):
                c.login(*u)
            c.starttls(ssl_context=tls_ctx())
            self.assertNotIn("LOGINDISABLED", c.capabilities)
            self.assertNotIn("STARTTLS", c.capabilities, "no second STARTTLS (RFC 9051 6.2.1)")
            self.assertIn("AUTH=PLAIN", c.capabilities)
            typ, _ = c.login(*u)
            self.assertEqual(typ, "OK")
            typ, data = c.select("INBOX")
            self.assertEqual(typ, "OK")
            self.assertEqual(c.logout()[0], "BYE")
        finally:
            if c.state != "LOGOUT":
                c.shutdown()

    def test_imaps_login_and_authenticate_plain(self):
        u = self.user()
        c = imaplib.IMAP4_SSL("127.0.0.1", self.imaps, ssl_context=tls_ctx(), timeout=15)
        for cap in ("IMAP4REV1", "IMAP4REV2", "AUTH=PLAIN", "SASL-IR"):
            self.assertIn(cap, c.capabilities)
        self.assertNotIn("LOGINDISABLED", c.capabilities)
        self.assertNotIn("STARTTLS", c.capabilities)
        self.assertEqual(c.login(*u)[0], "OK")
        c.logout()
        # AUTHENTICATE PLAIN with a continuation (imaplib) ...
        c = imaplib.IMAP4_SSL("127.0.0.1", self.imaps, ssl_context=tls_ctx(), timeout=15)
        typ, _ = c.authenticate("PLAIN", lambda _: b"\0" + u[0].encode() + b"\0" + u[1].encode())
        self.assertEqual(typ, "OK")
        self.assertEqual(c.select("INBOX")[0], "OK")
        c.logout()
        # ... and with an initial response (SASL-IR): tests/transcripts/imap_login/authenticate_initial_response.

    def test_implicit_tls_refuses_old_versions(self):
        ctx = tls_ctx()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            ctx.minimum_version = ssl.TLSVersion.TLSv1
            ctx.maximum_version = ssl.TLSVersion.TLSv1_1
        with self.assertRaises((ssl.SSLError, ConnectionResetError, OSError)):
            imaplib.IMAP4_SSL("127.0.0.1", self.imaps, ssl_context=ctx, timeout=10)


# ==========================================================================================
class ImapCommandsTest(ImapBase):
    """Every command, success and error. Plaintext login on loopback is allowed here so the
    raw-socket tests can stay short; the imaplib client uses implicit TLS."""
    EXTRA = "[imap]\nallow_plaintext_auth_on_loopback = true\n"

    # -- any state ----------------------------------------------------------------------
    def test_capability_id_namespace_enable_noop(self):
        u = self.user()
        c = self.conn(tls=False)
        pre = c.capabilities()
        self.assertIn("AUTH=PLAIN", pre, "plaintext allowed on loopback here")
        self.assertNotIn("LOGINDISABLED", pre)
        c.login(*u)
        caps = c.capabilities()
        for cap in ("IMAP4rev1", "IMAP4rev2", "LITERAL+", "IDLE", "UIDPLUS", "MOVE", "NAMESPACE", "ID", "ENABLE",
                    "UNSELECT", "SPECIAL-USE", "LIST-EXTENDED", "LIST-STATUS", "STATUS=SIZE", "ESEARCH", "SORT",
                    "THREAD=REFERENCES", "THREAD=ORDEREDSUBJECT", "CONDSTORE", "QRESYNC", "QUOTA", "ACL",
                    "SEARCHRES", "BINARY", "CHILDREN"):
            self.assertIn(cap, caps)
        limit = [x for x in caps if x.startswith("APPENDLIMIT=")]
        self.assertEqual(len(limit), 1, caps)
        self.assertTrue(limit[0].split("=")[1].isdigit(), limit)
        # ID
        r = self.ok(c.cmd('ID ("name" "caremail-tests" "version" "1")'))
        idl = r.lines("ID")
        self.assertEqual(len(idl), 1, r)
        vals = parse_values(idl[0], len(b"* ID"))
        self.assertTrue(vals[0] is None or isinstance(vals[0], list), vals)
        self.ok(c.cmd("ID NIL"))
        self.bad(c.cmd("ID"))
        self.bad(c.cmd('ID ("name")'))  # odd number of strings
        # NAMESPACE: personal "" with "/", others and shared (maybe NIL)
        r = self.ok(c.cmd("NAMESPACE"))
        ns = parse_values(r.lines("NAMESPACE")[0], len(b"* NAMESPACE"))
        self.assertEqual(len(ns), 3, ns)
        self.assertEqual(ns[0][0][0], b"")
        self.assertEqual(ns[0][0][1], b"/")
        self.bad(c.cmd("NAMESPACE extra"))
        # ENABLE
        r = self.ok(c.cmd("ENABLE CONDSTORE X-UNKNOWN-EXTENSION"))
        enabled = r.lines("ENABLED")
        self.assertEqual(len(enabled), 1, r)
        self.assertEqual(enabled[0].split()[2:], [b"CONDSTORE"], "unknown extensions are not listed")
        r = self.ok(c.cmd("ENABLE IMAP4rev2"))
        self.assertIn(b"IMAP4REV2", r.lines("ENABLED")[0].upper())
        self.bad(c.cmd("ENABLE"))
        # NOOP
        self.ok(c.cmd("NOOP"))
        # imaplib
        cl = self.client(u)
        self.assertEqual(cl.noop()[0], "OK")
        typ, data = cl.xatom("ID", '("name" "imaplib")')
        self.assertEqual(typ, "OK")
        typ, data = cl.namespace()
        self.assertEqual(typ, "OK")
        self.assertIn(b'(("" "/"))', data[0])

    def test_select_and_examine(self):
        u = self.user()
        for i in range(3):
            self.deliver(u, message(f"select {i}"))
        c = self.conn(u, tls=False)
        r = self.ok(c.cmd("SELECT INBOX"))
        self.assertEqual(r.numbers("EXISTS"), [3])
        self.assertEqual(r.code, "READ-WRITE")
        flags = set(parse_values(r.lines("FLAGS")[0], len(b"* FLAGS"))[0])
        self.assertTrue({"\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft"} <= flags, flags)
        oks = " ".join(x for x in r.untagged if x.startswith("* OK ["))
        m = re.search(r"\[PERMANENTFLAGS \(([^)]*)\)\]", oks)
        self.assertTrue(m, r)
        self.assertIn("\\*", m.group(1).split(), "keywords can be created")
        uidvalidity = int(re.search(r"\[UIDVALIDITY (\d+)\]", oks).group(1))
        self.assertGreater(uidvalidity, 0)
        self.assertEqual(int(re.search(r"\[UIDNEXT (\d+)\]", oks).group(1)), 4)
        # Case-insensitive INBOX, same UIDVALIDITY from another session and with CONDSTORE.
        c2 = self.conn(u, tls=False)
        r2 = self.ok(c2.cmd("SELECT inbox (CONDSTORE)"))
        oks2 = " ".join(x for x in r2.untagged if x.startswith("* OK ["))
        self.assertEqual(int(re.search(r"\[UIDVALIDITY (\d+)\]", oks2).group(1)), uidvalidity)
        self.assertTrue(re.search(r"\[HIGHESTMODSEQ \d+\]", oks2), r2)
        # EXAMINE: read-only; STORE/EXPUNGE refused; FETCH BODY[] does not set \Seen.
        r = self.ok(c.cmd("EXAMINE INBOX"))
        self.assertEqual(r.code, "READ-ONLY")
        self.assertEqual(r.numbers("EXISTS"), [3])
        r = c.cmd("STORE 1 +FLAGS (\\Flagged)")
        self.assertEqual(r.status, "NO", r)
        self.ok(c2.cmd("STORE 3 +FLAGS.SILENT (\\Deleted)"))
        r = c.cmd("EXPUNGE")
        self.assertIn(r.status, ("NO", "OK"), r)
        self.assertEqual(r.lines("EXPUNGE"), [], "EXPUNGE under EXAMINE removes nothing")
        self.ok(c2.cmd("STORE 3 -FLAGS.SILENT (\\Deleted)"))
        self.ok(c.cmd("FETCH 1 BODY[]"))
        self.assertNotIn("\\Seen", self.flags(c2, 1), "BODY[] under EXAMINE must not set \\Seen")
        # SELECT of a mailbox that does not exist: NO, and the session is no longer in
        # selected state (RFC 9051 6.3.2).
        r = c.cmd("SELECT Nowhere")
        self.no(r)
        self.assertIn(c.cmd("FETCH 1 FLAGS").status, ("BAD", "NO"), "no mailbox selected after a failed SELECT")
        self.bad(c.cmd("SELECT"))
        # imaplib
        cl = self.client(u)
        typ, data = cl.select("INBOX")
        self.assertEqual((typ, data), ("OK", [b"3"]))
        typ, data = cl.select("INBOX", readonly=True)
        self.assertEqual(typ, "OK")
        self.assertEqual(cl.select("Nowhere")[0], "NO")

    def test_create_delete_rename(self):
        u = self.user()
        c = self.conn(u, tls=False)
        self.ok(c.cmd('CREATE "Projects/2026"'))
        boxes = self.mailboxes(c)
        self.assertIn("Projects", boxes, "superior names are created (RFC 9051 6.3.4)")
        self.assertIn("Projects/2026", boxes)
        self.no(c.cmd('CREATE "Projects/2026"'), "ALREADYEXISTS")
        self.no(c.cmd("CREATE Projects"), "ALREADYEXISTS")
        r = c.cmd("CREATE INBOX")
        self.assertEqual(r.status, "NO", r)
        self.ok(c.cmd('CREATE "Trailing/"'))
        self.assertIn("Trailing", self.mailboxes(c), "a trailing separator is dropped (RFC 9051 6.3.4)")
        # Non-ASCII names in modified UTF-7 come back the same.
        self.ok(c.cmd('CREATE "Caf&AOk-"'))
        self.assertIn("Caf&AOk-", self.mailboxes(c))
        # A name that is not valid modified UTF-7 is well formed: NO, not BAD (test_imap_mailbox).
        self.no(c.cmd('CREATE "&Jjo"'), "CANNOT")       # unterminated base64
        self.no(c.cmd('CREATE "&AGE-"'), "CANNOT")      # "a" must not be encoded
        self.bad(c.cmd('CREATE "' + "x" * 2000 + '"'))
        self.bad(c.cmd("CREATE"))
        # DELETE
        self.no(c.cmd("DELETE Nowhere"), "NONEXISTENT")
        r = c.cmd("DELETE INBOX")
        self.assertEqual(r.status, "NO", r)
        self.ok(c.cmd("DELETE Trailing"))
        self.assertNotIn("Trailing", self.mailboxes(c))
        # RENAME moves the children too.
        self.ok(c.cmd("RENAME Projects Work"))
        boxes = self.mailboxes(c)
        self.assertIn("Work", boxes)
        self.assertIn("Work/2026", boxes)
        self.assertNotIn("Projects", boxes)
        self.assertNotIn("Projects/2026", boxes)
        self.no(c.cmd("RENAME Nowhere Elsewhere"), "NONEXISTENT")
        self.no(c.cmd("RENAME Work Archive"), "ALREADYEXISTS")
        self.bad(c.cmd("RENAME Work"))
        # RENAME INBOX moves its messages to the new name and leaves INBOX empty.
        for i in range(2):
            self.deliver(u, message(f"rename {i}"))
        self.ok(c.cmd('RENAME INBOX "Old Inbox"'))
        r = self.ok(c.cmd('STATUS "Old Inbox" (MESSAGES)'))
        self.assertIn(b"MESSAGES 2", r.lines("STATUS")[0])
        r = self.ok(c.cmd("STATUS INBOX (MESSAGES)"))
        self.assertIn(b"MESSAGES 0", r.lines("STATUS")[0])
        # Deleting a parent keeps the child.
        r = c.cmd("DELETE Work")
        if r.status == "OK":
            self.assertIn("Work/2026", self.mailboxes(c))
        # imaplib
        cl = self.client(u)
        self.assertEqual(cl.create("Lib/Box")[0], "OK")
        self.assertEqual(cl.create("Lib/Box")[0], "NO")
        self.assertEqual(cl.rename("Lib/Box", "Lib/Renamed")[0], "OK")
        self.assertEqual(cl.delete("Lib/Renamed")[0], "OK")
        self.assertEqual(cl.delete("Lib/Renamed")[0], "NO")

    def test_selected_mailbox_deleted_or_renamed_elsewhere(self):
        u = self.user()
        c = self.conn(u, tls=False)
        self.ok(c.cmd("CREATE Doomed"))
        self.ok(c.cmd('APPEND Doomed {%d+}\r\n%s' % (len(message("doomed")), message("doomed").decode())))
        other = self.conn(u, tls=False)
        other.select("Doomed")
        self.ok(c.cmd("DELETE Doomed"))
        # The other session is told on its next command (caremaild says BYE; NO or a frozen
        # view would also be acceptable); the deleting session carries on.
        r = other.cmd("NOOP")
        self.assertIn(r.status, ("OK", "NO", "BYE"), r)
        self.ok(c.cmd("NOOP"))

    def test_create_special_use(self):
        u = self.user()
        c = self.conn(u, tls=False)
        if "CREATE-SPECIAL-USE" not in c.capabilities():
            self.skipTest("CREATE-SPECIAL-USE not advertised")
        self.ok(c.cmd('CREATE "Old Sent" (USE (\\Sent))'))
        self.assertIn("\\sent", self.mailboxes(c)["Old Sent"])
        r = c.cmd('CREATE "Odd" (USE (\\Bogus))')
        self.no(r, "USEATTR")  # RFC 6154 3
        self.assertNotIn("Odd", self.mailboxes(c), "nothing is created on a refused CREATE")

    def test_subscribe_lsub(self):
        u = self.user()
        c = self.conn(u, tls=False)
        self.ok(c.cmd("CREATE Subs"))
        self.ok(c.cmd("SUBSCRIBE Subs"))
        r = self.ok(c.cmd('LSUB "" "*"'))
        names = [s(parse_values(x, len(b"* LSUB"))[2]) for x in r.lines("LSUB")]
        self.assertIn("Subs", names)
        r = self.ok(c.cmd('LIST (SUBSCRIBED) "" "*"'))
        sub = {s(parse_values(x, len(b"* LIST"))[2]): parse_values(x, len(b"* LIST"))[0] for x in r.lines("LIST")}
        self.assertIn("Subs", sub)
        self.assertIn("\\subscribed", [a.lower() for a in sub["Subs"]])
        r = self.ok(c.cmd('LIST "" "*" RETURN (SUBSCRIBED)'))
        self.assertTrue(any(b"\\Subscribed" in x and b"Subs" in x for x in r.lines("LIST")), r)
        self.ok(c.cmd("UNSUBSCRIBE Subs"))
        r = self.ok(c.cmd('LSUB "" "*"'))
        self.assertNotIn("Subs", [s(parse_values(x, len(b"* LSUB"))[2]) for x in r.lines("LSUB")])
        self.bad(c.cmd("SUBSCRIBE"))
        self.bad(c.cmd("UNSUBSCRIBE"))
        cl = self.client(u)
        self.assertEqual(cl.subscribe("Subs")[0], "OK")
        typ, data = cl.lsub()
        self.assertEqual(typ, "OK")
        self.assertTrue(any(b"Subs" in x for x in data), data)
        self.assertEqual(cl.unsubscribe("Subs")[0], "OK")

    def test_list(self):
        u = self.user()
        self.deliver(u, message("list one"))
        c = self.conn(u, tls=False)
        self.ok(c.cmd('CREATE "Projects/2026"'))
        r = self.ok(c.cmd('LIST "" "*"'))
        boxes = {}
        for line in r.lines("LIST"):
            attrs, delim, name = parse_values(line, len(b"* LIST"))
            self.assertEqual(delim, b"/", line)
            boxes[s(name)] = {a.lower() for a in attrs}
        for name, use in (("Drafts", "\\drafts"), ("Sent", "\\sent"), ("Trash", "\\trash"), ("Junk", "\\junk"),
                          ("Archive", "\\archive")):
            self.assertIn(name, boxes)
            self.assertIn(use, boxes[name], f"special-use attribute on {name}: {boxes[name]}")
        self.assertIn("INBOX", boxes)
        self.assertIn("\\haschildren", boxes["Projects"])
        self.assertIn("\\hasnochildren", boxes["Projects/2026"])
        self.assertIn("\\hasnochildren", boxes["INBOX"])
        # % matches one level only.
        r = self.ok(c.cmd('LIST "" "%"'))
        names = {s(parse_values(x, len(b"* LIST"))[2]) for x in r.lines("LIST")}
        self.assertIn("Projects", names)
        self.assertNotIn("Projects/2026", names)
        r = self.ok(c.cmd('LIST "" "Projects/%"'))
        names = [s(parse_values(x, len(b"* LIST"))[2]) for x in r.lines("LIST")]
        self.assertEqual(names, ["Projects/2026"])
        r = self.ok(c.cmd('LIST "Projects/" "*"'))
        self.assertEqual([s(parse_values(x, len(b"* LIST"))[2]) for x in r.lines("LIST")], ["Projects/2026"])
        r = self.ok(c.cmd('LIST "" "inbox"'))
        self.assertEqual(len(r.lines("LIST")), 1, "INBOX matches case-insensitively")
        # The hierarchy delimiter query.
        r = self.ok(c.cmd('LIST "" ""'))
        attrs, delim, name = parse_values(r.lines("LIST")[0], len(b"* LIST"))
        self.assertEqual((delim, name), (b"/", b""))
        self.assertIn("\\noselect", [a.lower() for a in attrs])
        r = self.ok(c.cmd('LIST "" "Nowhere*"'))
        self.assertEqual(r.lines("LIST"), [])
        # LIST-EXTENDED: selection SPECIAL-USE; RETURN (SPECIAL-USE STATUS (...)).
        r = self.ok(c.cmd('LIST (SPECIAL-USE) "" "*"'))
        names = {s(parse_values(x, len(b"* LIST"))[2]) for x in r.lines("LIST")}
        self.assertEqual(names, {"Drafts", "Sent", "Trash", "Junk", "Archive"})
        r = self.ok(c.cmd('LIST "" "*" RETURN (SPECIAL-USE STATUS (MESSAGES UNSEEN))'))
        status = {}
        for line in r.lines("STATUS"):
            name, items = parse_values(line, len(b"* STATUS"))
            status[s(name)] = dict(zip(items[::2], (int(x) for x in items[1::2])))
        self.assertEqual(status.get("INBOX"), {"MESSAGES": 1, "UNSEEN": 1})
        self.assertEqual(status.get("Trash"), {"MESSAGES": 0, "UNSEEN": 0})
        # Each STATUS comes after the LIST line of its mailbox (RFC 5819 2).
        listed_at = {parse_values(x, len(b"* LIST"))[2]: i for i, x in enumerate(r.raw) if x.startswith(b"* LIST")}
        for i, x in enumerate(r.raw):
            if x.startswith(b"* STATUS"):
                name = parse_values(x, len(b"* STATUS"))[0]
                self.assertIn(name, listed_at, r)
                self.assertLess(listed_at[name], i, r)
        # Multiple patterns (LIST-EXTENDED).
        r = self.ok(c.cmd('LIST "" ("INBOX" "Sent")'))
        self.assertEqual({s(parse_values(x, len(b"* LIST"))[2]) for x in r.lines("LIST")}, {"INBOX", "Sent"})
        self.bad(c.cmd("LIST"))
        self.bad(c.cmd('LIST ""'))
        self.bad(c.cmd('LIST (FROBNICATE) "" "*"'))
        # imaplib
        cl = self.client(u)
        typ, data = cl.list()
        self.assertEqual(typ, "OK")
        self.assertTrue(any(b"\\Sent" in x and b"Sent" in x for x in data), data)
        typ, data = cl.list('""', "%")
        self.assertEqual(typ, "OK")

    def test_status(self):
        u = self.user()
        for i in range(3):
            self.deliver(u, message(f"status {i}"))
        c = self.conn(u, tls=False)
        c.select("INBOX")
        r = self.ok(c.cmd("FETCH 1:3 (RFC822.SIZE)"))
        total = sum(int(v["RFC822.SIZE"]) for v in r.fetches().values())
        self.ok(c.cmd("STORE 1 +FLAGS.SILENT (\\Seen)"))
        r = self.ok(c.cmd("STATUS INBOX (MESSAGES UIDNEXT UIDVALIDITY UNSEEN SIZE HIGHESTMODSEQ)"))
        name, items = parse_values(r.lines("STATUS")[0], len(b"* STATUS"))
        st = dict(zip(items[::2], (int(x) for x in items[1::2])))
        self.assertEqual(st["MESSAGES"], 3)
        self.assertEqual(st["UNSEEN"], 2)
        self.assertEqual(st["UIDNEXT"], 4)
        self.assertEqual(st["SIZE"], total)
        self.assertGreater(st["UIDVALIDITY"], 0)
        self.assertGreater(st["HIGHESTMODSEQ"], 0)
        r = self.ok(c.cmd("STATUS Trash (MESSAGES UNSEEN)"))
        self.assertIn(b"MESSAGES 0", r.lines("STATUS")[0])
        # DELETED (RFC 9051 6.3.11).
        self.ok(c.cmd("STORE 2 +FLAGS.SILENT (\\Deleted)"))
        r = c.cmd("STATUS INBOX (DELETED)")
        if "IMAP4rev2" in c.capabilities():
            self.ok(r)
            self.assertIn(b"DELETED 1", r.lines("STATUS")[0])
        self.no(c.cmd("STATUS Nowhere (MESSAGES)"))
        self.bad(c.cmd("STATUS INBOX (FROBNICATE)"))
        self.bad(c.cmd("STATUS INBOX"))
        cl = self.client(u)
        typ, data = cl.status("INBOX", "(MESSAGES UNSEEN)")
        self.assertEqual(typ, "OK")
        self.assertIn(b"MESSAGES 3", data[0])

    def test_append(self):
        u = self.user()
        c = self.conn(u, tls=False)
        c.select("INBOX")
        msg = message("appended", body="Caf\u00e9 8-bit body.\r\n")
        r = self.ok(c.cmd_literal('APPEND INBOX (\\Seen $Label1) "21-Nov-2026 10:00:00 +0000"', msg))
        m = re.match(r"OK \[APPENDUID (\d+) (\d+)\]", r.text)
        self.assertTrue(m, r)
        uid = int(m.group(2))
        self.assertEqual(r.numbers("EXISTS"), [1], "the selected mailbox is told at once")
        r = self.ok(c.cmd(f"UID FETCH {uid} (FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[])"))
        f = r.fetches()[1]
        self.assertEqual(flagset(f["FLAGS"]), {"\\Seen", "$Label1"})
        self.assertEqual(f["INTERNALDATE"], b"21-Nov-2026 10:00:00 +0000")
        self.assertEqual(f["BODY[]"], msg, "byte-identical")
        self.assertEqual(int(f["RFC822.SIZE"]), len(msg))
        # LITERAL+ (non-synchronising), no flags, no date.
        msg2 = message("literal plus")
        r = self.ok(c.cmd_literal("APPEND INBOX", msg2, plus=True))
        self.assertTrue(r.code and r.code.startswith("APPENDUID"), r)
        # TRYCREATE for a mailbox that does not exist; nothing appended.
        r = c.cmd_literal("APPEND Nowhere", message("nowhere"))
        self.no(r, "TRYCREATE")
        # Invalid flag / date: BAD, nothing appended.
        self.bad(c.cmd_literal('APPEND INBOX (\\Bogus)', message("bad flag")))
        self.bad(c.cmd_literal('APPEND INBOX "99-Foo-2026 10:00:00 +0000"', message("bad date")))
        self.bad(c.cmd("APPEND INBOX"))
        r = self.ok(c.cmd("STATUS INBOX (MESSAGES)"))
        self.assertIn(b"MESSAGES 2", r.lines("STATUS")[0], "rejected APPENDs change nothing")
        # imaplib append
        cl = self.client(u)
        typ, data = cl.append("Drafts", "(\\Draft)", imaplib.Time2Internaldate(time.time()), message("draft"))
        self.assertEqual(typ, "OK")
        self.assertIn(b"APPENDUID", data[0])
        typ, data = cl.append("Nowhere", None, None, message("draft"))
        self.assertEqual(typ, "NO")
        self.assertIn(b"TRYCREATE", data[0])

    def test_pipelining_and_large_messages(self):
        u = self.user(quota_bytes=100 * 1024 * 1024)
        c = self.conn(u, tls=True)
        # A 6 MB message through a synchronising literal, back byte for byte, and in pieces.
        body = "".join(f"{n:07d} " + "abcdefghij" * 7 + "\r\n" for n in range(75000))
        big = message("large", body=body)
        r = self.ok(c.cmd_literal("APPEND INBOX", big))
        uid = int(re.match(r"OK \[APPENDUID \d+ (\d+)\]", r.text).group(1))
        c.select("INBOX")
        r = self.ok(c.cmd(f"UID FETCH {uid} (RFC822.SIZE BODY.PEEK[] BODY.PEEK[TEXT]<1000000.100>)"))
        f = r.fetches()[1]
        self.assertEqual(int(f["RFC822.SIZE"]), len(big))
        self.assertEqual(f["BODY[]"], big)
        self.assertEqual(f["BODY[TEXT]<1000000>"], body.encode()[1000000:1000100])
        # Fifty commands in one write: fifty answers, in order, each to its own tag.
        for i in range(4):
            self.ok(c.cmd_literal("APPEND INBOX", message(f"pipelined {i}"), plus=True))
        tags = [f"p{i}" for i in range(50)]
        c.send("".join(f"{tag} FETCH {1 + i % 5} (FLAGS UID)\r\n" for i, tag in enumerate(tags)))
        seen = []
        while len(seen) < len(tags):
            ln = c.line()
            if not ln.startswith(b"*"):
                seen.append(ln.split(b" ")[0].decode())
                self.assertIn(b" OK ", ln)
        self.assertEqual(seen, tags)

    def test_append_binary_literal8(self):
        u = self.user()
        c = self.conn(u, tls=False)
        body = b"binary part:\x00\x01\x02\xff\r\n"
        msg = (b"From: a@b.example\r\nSubject: binary\r\nMIME-Version: 1.0\r\n"
               b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n" + body)
        tag = c.tag()
        c.send(f"{tag} APPEND INBOX ~{{{len(msg)}}}\r\n".encode())
        ln = c.line()
        self.assertTrue(ln.startswith(b"+"), ln)
        c.send(msg + b"\r\n")
        self.ok(c.until(tag))
        c.select("INBOX")
        r = self.ok(c.cmd("FETCH 1 (BINARY.PEEK[1] BINARY.SIZE[1])"))
        f = r.fetches()[1]
        self.assertEqual(f["BINARY[1]"], body)
        self.assertEqual(int(f["BINARY.SIZE[1]"]), len(body))

    def test_append_over_quota(self):
        u = self.user(quota_bytes=3000)
        c = self.conn(u, tls=False)
        r = c.cmd_literal("APPEND INBOX", message("too big", body="x" * 5000 + "\r\n"))
        self.no(r, "OVERQUOTA")
        r = self.ok(c.cmd("STATUS INBOX (MESSAGES)"))
        self.assertIn(b"MESSAGES 0", r.lines("STATUS")[0])

    def test_fetch(self):
        u = self.user()
        raw = multipart_message()
        self.deliver(u, raw)
        self.deliver(u, message("second"))
        c = self.conn(u, tls=False)
        c.select("INBOX")
        r = self.ok(c.cmd("FETCH 1 (FLAGS UID INTERNALDATE RFC822.SIZE ENVELOPE BODYSTRUCTURE MODSEQ)"))
        f = r.fetches()[1]
        self.assertEqual(flagset(f["FLAGS"]), set())
        self.assertEqual(f["UID"], "1")
        self.assertTrue(re.fullmatch(rb"[ \d]\d-[A-Z][a-z]{2}-\d{4} \d\d:\d\d:\d\d [+-]\d{4}", f["INTERNALDATE"]), f)
        self.assertTrue(f["MODSEQ"][0].isdigit(), f)
        size = int(f["RFC822.SIZE"])
        env = f["ENVELOPE"]
        self.assertEqual(env[0], b"Sat, 21 Nov 2026 10:00:00 +0000")
        self.assertEqual(env[1], b"Results attached")
        self.assertEqual(env[2], [[b"Dr Alice Example", None, b"alice", b"practice.example"]])
        self.assertEqual(env[3], env[2], "sender defaults to from")
        self.assertEqual(env[4], env[2], "reply-to defaults to from")
        self.assertEqual(env[5], [[None, None, b"jo.bloggs", DOMAIN.encode()]])
        self.assertEqual(env[6:9], [None, None, None])
        self.assertEqual(env[9], b"<multi@test>")
        bs = f["BODYSTRUCTURE"]
        self.assertEqual(s(bs[2]).lower(), "mixed", bs)
        self.assertEqual([s(x).lower() for x in bs[3]], ["boundary", "xyz"])
        p1, p2 = bs[0], bs[1]
        self.assertEqual((s(p1[0]).lower(), s(p1[1]).lower()), ("text", "plain"))
        self.assertEqual([s(x).lower() for x in p1[2]], ["charset", "utf-8"])
        self.assertEqual(s(p1[5]).lower(), "7bit")
        self.assertEqual(int(p1[6]), len(b"The results are attached.\r\nSecond line."))
        self.assertIn(int(p1[7]), (1, 2), "text parts carry their line count")
        self.assertEqual((s(p2[0]).lower(), s(p2[1]).lower()), ("application", "octet-stream"))
        self.assertEqual(s(p2[5]).lower(), "base64")
        disposition = [x for x in p2[7:] if isinstance(x, list) and x and s(x[0]).lower() == "attachment"]
        self.assertTrue(disposition, p2)
        self.assertEqual([s(x).lower() for x in disposition[0][1]], ["filename", "results.bin"])
        # Sections
        r = self.ok(c.cmd("FETCH 1 (BODY.PEEK[] BODY.PEEK[HEADER.FIELDS (SUBJECT FROM)] BODY.PEEK[TEXT] "
                          "BODY.PEEK[1] BODY.PEEK[1.MIME] BODY.PEEK[2] BODY.PEEK[]<0.10> BINARY.PEEK[2] "
                          "BINARY.SIZE[2] BODY.PEEK[HEADER.FIELDS.NOT (SUBJECT)] BODY.PEEK[HEADER])"))
        f = r.fetches()[1]
        self.assertNotIn("FLAGS", f, "PEEK does not set \\Seen")
        whole = f["BODY[]"]
        self.assertEqual(len(whole), size)
        self.assertTrue(whole.endswith(raw), "the stored message is what was delivered")
        head, _, text = whole.partition(b"\r\n\r\n")
        self.assertEqual(f["BODY[TEXT]"], text)
        self.assertEqual(f["BODY[HEADER]"], head + b"\r\n\r\n")
        self.assertEqual(f["BODY[HEADER.FIELDS (SUBJECT FROM)]"],
                         b"From: \"Dr Alice Example\" <alice@practice.example>\r\nSubject: Results attached\r\n\r\n")
        self.assertNotIn(b"Subject:", f["BODY[HEADER.FIELDS.NOT (SUBJECT)]"])
        self.assertEqual(f["BODY[1]"], b"The results are attached.\r\nSecond line.")
        self.assertEqual(f["BODY[1.MIME]"], b"Content-Type: text/plain; charset=utf-8\r\n"
                                            b"Content-Transfer-Encoding: 7bit\r\n\r\n")
        self.assertEqual(base64.b64decode(f["BODY[2]"]), ATTACHMENT)
        self.assertEqual(f["BODY[]<0>"], whole[:10])
        self.assertEqual(f["BINARY[2]"], ATTACHMENT)
        self.assertEqual(int(f["BINARY.SIZE[2]"]), len(ATTACHMENT))
        # Partial beyond the end: empty string; origin in the response.
        r = self.ok(c.cmd("FETCH 1 (BODY.PEEK[1]<5.10> BODY.PEEK[1]<100000.10>)"))
        f = r.fetches()[1]
        self.assertEqual(f["BODY[1]<5>"], b"The results are attached."[5:15])
        self.assertEqual(f["BODY[1]<100000>"], b"")
        # RFC822.* and macros
        r = self.ok(c.cmd("FETCH 2 (RFC822.HEADER RFC822.TEXT)"))
        f = r.fetches()[2]
        self.assertTrue(f["RFC822.HEADER"].endswith(b"\r\n\r\n"))
        self.assertEqual(f["RFC822.TEXT"], b"Hello from the IMAP tests.\r\n")
        self.assertIn("\\Seen", self.flags(c, 2), "RFC822.TEXT sets \\Seen like BODY[TEXT]")
        r = self.ok(c.cmd("FETCH 1:2 FAST"))
        self.assertEqual(set(r.fetches()[1]), {"FLAGS", "INTERNALDATE", "RFC822.SIZE"})
        r = self.ok(c.cmd("FETCH 1:* ALL"))
        self.assertEqual(set(r.fetches()[2]), {"FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE"})
        r = self.ok(c.cmd("FETCH 1 FULL"))
        self.assertIn("BODY", r.fetches()[1])
        # BODY[] sets \Seen and reports the change in the same response.
        r = self.ok(c.cmd("FETCH 1 BODY[1]"))
        self.assertIn("\\Seen", r.fetches()[1].get("FLAGS", []), "FETCH BODY[] reports the new \\Seen flag")
        self.assertIn("\\Seen", self.flags(c, 1))
        # Errors
        self.bad(c.cmd("FETCH 3 FLAGS"))          # beyond EXISTS (RFC 9051 9 seq-number)
        self.bad(c.cmd("FETCH 0 FLAGS"))
        self.bad(c.cmd("FETCH 1: FLAGS"))
        self.bad(c.cmd("FETCH 1 FROBNICATE"))
        self.bad(c.cmd("FETCH 1 BODY[9.X]"))
        self.bad(c.cmd("FETCH 1"))
        r = self.ok(c.cmd("UID FETCH 999 FLAGS"))
        self.assertEqual(r.fetches(), {}, "a UID that does not exist is ignored")
        r = self.ok(c.cmd("UID FETCH 2:* (FLAGS)"))
        self.assertEqual(set(r.fetches()), {2})
        self.assertEqual(r.fetches()[2]["UID"], "2", "UID FETCH always returns UID")
        r = self.ok(c.cmd("UID FETCH 5:* (FLAGS)"))
        self.assertEqual(set(r.fetches()), {2}, "n:* includes the highest UID even when n is larger (RFC 9051 "
                                                 "6.4.9)")
        # imaplib
        cl = self.client(u)
        cl.select("INBOX")
        typ, data = cl.fetch("1", "(BODY.PEEK[])")
        self.assertEqual(typ, "OK")
        self.assertEqual(data[0][1], whole)
        typ, data = cl.uid("FETCH", "1:*", "(UID FLAGS)")
        self.assertEqual(typ, "OK")
        self.assertEqual(len(data), 2)

    def test_fetch_broken_and_odd_messages(self):
        u = self.user()
        odd = [
            b"Subject: no body separator",                                            # header only, no CRLF
            b"no headers at all\r\njust text\r\n",
            b"Subject: bad multipart\r\nContent-Type: multipart/mixed; boundary=\"Q\"\r\n\r\nno parts here\r\n",
            b"Subject: =?utf-8?b?8J+Ygg==?= emoji\r\nFrom: =?iso-8859-1?q?Andr=E9?= <andre@x.example>\r\n\r\nhi\r\n",
            b"Subject: message/rfc822 inside\r\nContent-Type: message/rfc822\r\n\r\n" + message("inner"),
        ]
        for m in odd:
            self.deliver(u, m)
        c = self.conn(u, tls=False)
        c.select("INBOX")
        r = self.ok(c.cmd("FETCH 1:* (ENVELOPE BODYSTRUCTURE BODY.PEEK[] RFC822.SIZE)"))
        f = r.fetches()
        self.assertEqual(len(f), len(odd))
        for i, m in enumerate(odd, 1):
            self.assertTrue(f[i]["BODY[]"].endswith(m), i)
            self.assertEqual(int(f[i]["RFC822.SIZE"]), len(f[i]["BODY[]"]))
        self.assertEqual(f[4]["ENVELOPE"][1], b"=?utf-8?b?8J+Ygg==?= emoji", "ENVELOPE is not decoded")
        inner = f[5]["BODYSTRUCTURE"]
        self.assertEqual((s(inner[0]).lower(), s(inner[1]).lower()), ("message", "rfc822"))
        r = self.ok(c.cmd("FETCH 5 (BODY.PEEK[1.HEADER.FIELDS (SUBJECT)] BODY.PEEK[1.TEXT])"))
        f = r.fetches()[5]
        self.assertEqual(f["BODY[1.HEADER.FIELDS (SUBJECT)]"], b"Subject: inner\r\n\r\n")
        self.assertEqual(f["BODY[1.TEXT]"], b"Hello from the IMAP tests.\r\n")

    def test_store(self):
        u = self.user()
        for i in range(3):
            self.deliver(u, message(f"store {i}"))
        c = self.conn(u, tls=False)
        c.select("INBOX")
        r = self.ok(c.cmd("STORE 1 +FLAGS (\\Flagged $Label1)"))
        self.assertEqual(flagset(r.fetches()[1]["FLAGS"]), {"\\Flagged", "$Label1"})
        # A keyword new to the mailbox is announced in FLAGS / PERMANENTFLAGS at once.
        self.assertIn(b"$Label1", r.lines("FLAGS")[0])
        r = self.ok(c.cmd("STORE 1 -FLAGS ($Label1)"))
        self.assertEqual(flagset(r.fetches()[1]["FLAGS"]), {"\\Flagged"})
        r = self.ok(c.cmd("STORE 1:2 FLAGS (\\Answered)"))
        self.assertEqual(flagset(r.fetches()[1]["FLAGS"]), {"\\Answered"})
        self.assertEqual(flagset(r.fetches()[2]["FLAGS"]), {"\\Answered"})
        r = self.ok(c.cmd("STORE 3 +FLAGS.SILENT (\\Seen)"))
        self.assertEqual(r.fetches(), {}, ".SILENT: no FETCH for our own change")
        self.assertEqual(self.flags(c, 3), {"\\Seen"})
        r = self.ok(c.cmd("UID STORE 3 -FLAGS (\\Seen)"))
        self.assertEqual(r.fetches()[3]["UID"], "3", "UID STORE reports UID")
        # FLAGS on SELECT lists the keywords the mailbox's messages carry.
        self.ok(c.cmd("STORE 2 +FLAGS ($Label2)"))
        r = self.ok(c.cmd("SELECT INBOX"))
        self.assertIn(b"$Label2", r.lines("FLAGS")[0])
        # Errors: nothing changes.
        self.bad(c.cmd("STORE 1 +FLAGS (\\Bogus)"))
        self.bad(c.cmd("STORE 1 +FLAGS (\\Seen"))
        self.bad(c.cmd("STORE 1 FROB (\\Seen)"))
        self.bad(c.cmd("STORE 9 +FLAGS (\\Seen)"))
        self.bad(c.cmd("STORE 1,x +FLAGS (\\Seen)"))
        self.assertEqual(self.flags(c, 1), {"\\Answered"}, "rejected STOREs changed nothing")
        self.ok(c.cmd("UID STORE 999 +FLAGS (\\Seen)"))
        # imaplib
        cl = self.client(u)
        cl.select("INBOX")
        typ, data = cl.store("2", "+FLAGS", "(\\Flagged)")
        self.assertEqual(typ, "OK")
        self.assertIn(b"\\Flagged", data[0])
        typ, data = cl.uid("STORE", "2", "-FLAGS.SILENT", "(\\Flagged)")
        self.assertEqual(typ, "OK")

    def test_condstore_and_qresync(self):
        u = self.user()
        uids = [self.deliver(u, message(f"modseq {i}")) for i in range(4)]
        c = self.conn(u, tls=False)
        self.ok(c.cmd("ENABLE CONDSTORE"))
        r = c.select("INBOX")
        uidvalidity = int(re.search(r"\[UIDVALIDITY (\d+)\]", " ".join(r.untagged)).group(1))
        h0 = int(re.search(r"\[HIGHESTMODSEQ (\d+)\]", " ".join(r.untagged)).group(1))
        r = self.ok(c.cmd("STORE 1 +FLAGS (\\Flagged)"))
        f = r.fetches()[1]
        self.assertIn("MODSEQ", f, "with CONDSTORE enabled, STORE results carry MODSEQ (RFC 7162 3.1.4)")
        h1 = int(f["MODSEQ"][0])
        self.assertGreater(h1, h0)
        r = self.ok(c.cmd(f"FETCH 1:* (FLAGS) (CHANGEDSINCE {h0})"))
        self.assertEqual(set(r.fetches()), {1})
        self.assertEqual(int(r.fetches()[1]["MODSEQ"][0]), h1)
        r = self.ok(c.cmd(f"SEARCH MODSEQ {h1}"))
        self.assertEqual(r.search(), [1])
        self.assertIn(f"(MODSEQ {h1})", r.untagged[0] if r.untagged else "", r)
        # UNCHANGEDSINCE: message 1 changed after h0, 2 did not.
        r = self.ok(c.cmd(f"STORE 1:2 (UNCHANGEDSINCE {h0}) +FLAGS (\\Seen)"))
        m = re.match(r"OK \[MODIFIED ([\d:,]+)\]", r.text)
        self.assertTrue(m, r)
        self.assertEqual(expand(m.group(1)), [1])
        self.assertNotIn("\\Seen", self.flags(c, 1))
        self.assertIn("\\Seen", self.flags(c, 2))
        r = self.ok(c.cmd(f"UID STORE {uids[2]} (UNCHANGEDSINCE 1) +FLAGS (\\Seen)"))
        self.assertTrue(r.code and r.code.startswith("MODIFIED"), r)
        self.bad(c.cmd("STORE 1 (UNCHANGEDSINCE x) +FLAGS (\\Seen)"))
        r = self.ok(c.cmd("STATUS INBOX (HIGHESTMODSEQ)"))
        h2 = int(re.search(rb"HIGHESTMODSEQ (\d+)", r.lines("STATUS")[0]).group(1))
        self.assertGreater(h2, h1)
        # QRESYNC: another session expunges a message and flags another; resync from h2.
        other = self.conn(u, tls=False)
        other.select("INBOX")
        self.ok(other.cmd(f"UID STORE {uids[3]} +FLAGS (\\Deleted)"))
        self.ok(other.cmd("EXPUNGE"))
        self.ok(other.cmd(f"UID STORE {uids[0]} +FLAGS ($Resynced)"))
        q = self.conn(u, tls=False)
        self.ok(q.cmd("ENABLE QRESYNC"))
        r = self.ok(q.cmd(f"SELECT INBOX (QRESYNC ({uidvalidity} {h2}))"))
        vanished = [x for x in r.untagged if x.startswith("* VANISHED")]
        self.assertEqual(vanished, [f"* VANISHED (EARLIER) {uids[3]}"])
        f = r.fetches()
        self.assertEqual([v["UID"] for v in f.values()], [str(uids[0])], r)
        self.assertIn("$Resynced", list(f.values())[0]["FLAGS"])
        # In QRESYNC mode EXPUNGE answers with VANISHED, not EXPUNGE.
        self.ok(q.cmd(f"UID STORE {uids[1]} +FLAGS.SILENT (\\Deleted)"))
        r = self.ok(q.cmd("EXPUNGE"))
        self.assertEqual(r.lines("EXPUNGE"), [])
        self.assertEqual([x for x in r.untagged if x.startswith("* VANISHED")], [f"* VANISHED {uids[1]}"])
        # With QRESYNC enabled, closing a mailbox by selecting another says [CLOSED] first.
        r = self.ok(q.cmd("EXAMINE INBOX"))
        self.assertTrue(r.untagged and r.untagged[0].startswith("* OK [CLOSED]"), r)
        # A wrong UIDVALIDITY: plain SELECT without VANISHED.
        q2 = self.conn(u, tls=False)
        self.ok(q2.cmd("ENABLE QRESYNC"))
        r = self.ok(q2.cmd(f"SELECT INBOX (QRESYNC ({uidvalidity + 1} 1))"))
        self.assertFalse([x for x in r.untagged if x.startswith("* VANISHED")], r)
        # QRESYNC parameter without ENABLE: BAD (RFC 7162 3.2.5).
        q3 = self.conn(u, tls=False)
        self.bad(q3.cmd(f"SELECT INBOX (QRESYNC ({uidvalidity} 1))"))

    def test_search(self):
        u = self.user()
        c = self.conn(u, tls=False)
        ms = [
            (message("Budget review", sender="alice@practice.example", date="Wed, 15 Jan 2020 10:00:00 +0000",
                     body="Discussed the budget for the pancreas unit.\r\n", msgid="<search-1@test>"),
             "(\\Seen)", "15-Jan-2020 10:00:00 +0000"),
            (message("Rota", sender="bob@hospital.example", date="Tue, 10 Jun 2025 09:00:00 +0000",
                     body="Night shift rota.\r\n" + ("padding line " * 5 + "\r\n") * 100, msgid="<search-2@test>"),
             "()", "10-Jun-2025 09:00:00 +0000"),
            (message("=?utf-8?q?Caf=C3=A9_meeting?=", sender="alice@practice.example",
                     date="Fri, 20 Nov 2026 08:00:00 +0000", cte="base64", msgid="<search-3@test>",
                     body=base64.encodebytes("Rendez-vous au caf\u00e9 \u00e0 midi. Zebrafish.\r\n".encode())
                     .decode().replace("\n", "\r\n")),
             "($Label1)", "20-Nov-2026 08:00:00 +0000"),
            (message("Lab results", sender="carol@lab.example", date="Sat, 21 Nov 2026 12:00:00 +0000",
                     cte="quoted-printable", body="Haemoglobin normal =E2=80=94 no action.\r\n",
                     msgid="<search-4@test>"),
             "(\\Flagged \\Seen)", "21-Nov-2026 12:00:00 +0000"),
        ]
        for msg, flags, date in ms:
            self.ok(c.cmd_literal(f'APPEND INBOX {flags} "{date}"', msg))
        c.select("INBOX")
        cases = {
            "ALL": [1, 2, 3, 4], "UNSEEN": [2, 3], "SEEN": [1, 4], "FLAGGED": [4], "UNFLAGGED": [1, 2, 3],
            "FROM alice": [1, 3], "FROM ALICE@PRACTICE": [1, 3], "TO someone": [1, 2, 3, 4],
            "SUBJECT budget": [1], "SUBJECT \"lab res\"": [4],
            "TEXT pancreas": [1], "BODY pancreas": [1], "BODY Budget": [1], "BODY zebrafish": [3],
            "TEXT bob@hospital": [2], "BODY bob@hospital": [],
            "SINCE 1-Jan-2025": [2, 3, 4], "BEFORE 1-Jan-2025": [1], "ON 20-Nov-2026": [3],
            "SENTSINCE 1-Jan-2025": [2, 3, 4], "SENTBEFORE 1-Jan-2025": [1], "SENTON 10-Jun-2025": [2],
            "LARGER 5000": [2], "SMALLER 5000": [1, 3, 4],
            "UID 2:3": [2, 3], "2:3": [2, 3], "1,4": [1, 4], "*": [4], "UID *": [4],
            "OR FROM carol SUBJECT rota": [2, 4], "NOT FROM alice": [2, 4], "NOT NOT SEEN": [1, 4],
            "(FROM alice SEEN)": [1], "KEYWORD $Label1": [3], "UNKEYWORD $Label1": [1, 2, 4],
            "HEADER Message-ID <search-2@test>": [2], "HEADER X-Missing \"\"": [],
            "UNDELETED UNDRAFT UNANSWERED": [1, 2, 3, 4], "ANSWERED": [], "DRAFT": [],
            "FROM nobody": [],
        }
        for crit, want in cases.items():
            with self.subTest(criterion=crit):
                r = self.ok(c.cmd("SEARCH " + crit))
                self.assertEqual(r.search(), want, r)
        r = self.ok(c.cmd("UID SEARCH ALL"))
        self.assertEqual(r.search(), [1, 2, 3, 4])
        # UTF-8: encoded-word subjects and transfer-encoded bodies are decoded for search.
        for crit, lit, want in (("SUBJECT", "caf\u00e9", [3]), ("BODY", "caf\u00e9", [3]),
                                ("BODY", "normal \u2014 no", [4]), ("TEXT", "\u00e0 midi", [3])):
            with self.subTest(utf8=crit + " " + lit):
                r = self.ok(c.cmd_literal(f"SEARCH CHARSET UTF-8 {crit}", lit.encode()))
                self.assertEqual(r.search(), want, r)
        r = self.ok(c.cmd('SEARCH CHARSET US-ASCII SUBJECT "lab"'))
        self.assertEqual(r.search(), [4])
        self.no(c.cmd("SEARCH CHARSET X-UNKNOWN-CHARSET SUBJECT x"), "BADCHARSET")
        self.bad(c.cmd("SEARCH FROBNICATE"))
        self.bad(c.cmd("SEARCH SINCE not-a-date"))
        self.bad(c.cmd("SEARCH OR FROM alice"))
        self.bad(c.cmd("SEARCH"))
        self.bad(c.cmd("SEARCH (FROM alice"))
        # ESEARCH
        r = self.ok(c.cmd("SEARCH RETURN (MIN MAX COUNT ALL) UNSEEN"))
        e = r.esearch()
        self.assertEqual(r.lines("SEARCH"), [], "RETURN gets ESEARCH, not SEARCH")
        self.assertEqual(e["TAG"], r.tag)
        self.assertEqual((e["MIN"], e["MAX"], e["COUNT"], expand(e["ALL"])), ("2", "3", "2", [2, 3]))
        self.assertNotIn("UID", e)
        r = self.ok(c.cmd("UID SEARCH RETURN (COUNT) ALL"))
        self.assertEqual(r.esearch(), {"TAG": r.tag, "UID": True, "COUNT": "4"})
        r = self.ok(c.cmd("SEARCH RETURN () FROM alice"))
        self.assertEqual(expand(r.esearch()["ALL"]), [1, 3], "RETURN () means RETURN (ALL)")
        r = self.ok(c.cmd("SEARCH RETURN (MIN COUNT) FROM nobody"))
        self.assertEqual(r.esearch(), {"TAG": r.tag, "COUNT": "0"}, "MIN is omitted when nothing matches")
        self.bad(c.cmd("SEARCH RETURN (FROB) ALL"))
        # SEARCHRES: SAVE then use $.
        r = self.ok(c.cmd("SEARCH RETURN (SAVE) FROM alice"))
        self.assertEqual(r.lines("ESEARCH"), [], "SAVE alone returns no ESEARCH (RFC 5182 2.4)")
        r = self.ok(c.cmd("FETCH $ (UID)"))
        self.assertEqual(sorted(r.fetches()), [1, 3])
        r = self.ok(c.cmd("UID SEARCH UID $ SEEN"))
        self.assertEqual(r.search(), [1])
        # IMAP4rev2 enabled: SEARCH answers with ESEARCH.
        c2 = self.conn(u, tls=False)
        self.ok(c2.cmd("ENABLE IMAP4rev2"))
        c2.select("INBOX")
        r = self.ok(c2.cmd("SEARCH FROM alice"))
        self.assertEqual(r.lines("SEARCH"), [])
        self.assertEqual(expand(r.esearch()["ALL"]), [1, 3])
        r = self.ok(c2.cmd("SEARCH FROM nobody"))
        self.assertEqual(r.esearch(), {"TAG": r.tag})
        # imaplib
        cl = self.client(u)
        cl.select("INBOX")
        typ, data = cl.search(None, "FROM", "alice")
        self.assertEqual((typ, data), ("OK", [b"1 3"]))
        cl.literal = "caf\u00e9".encode()
        typ, data = cl.search("UTF-8", "SUBJECT")
        self.assertEqual((typ, data), ("OK", [b"3"]))
        typ, data = cl.uid("SEARCH", "UNSEEN")
        self.assertEqual((typ, data), ("OK", [b"2 3"]))
        with self.assertRaises(imaplib.IMAP4.error):
            cl.search(None, "FROBNICATE")
        # SORT
        sorts = {
            "(SUBJECT)": [1, 3, 4, 2], "(REVERSE SUBJECT)": [2, 4, 3, 1], "(ARRIVAL)": [1, 2, 3, 4],
            "(REVERSE ARRIVAL)": [4, 3, 2, 1], "(DATE)": [1, 2, 3, 4], "(FROM)": [1, 3, 2, 4],
            "(REVERSE FROM)": [4, 2, 1, 3], "(SIZE)": None, "(TO DATE)": [1, 2, 3, 4],
        }
        r = self.ok(c.cmd("FETCH 1:* RFC822.SIZE"))
        sizes = {k: int(v["RFC822.SIZE"]) for k, v in r.fetches().items()}
        sorts["(SIZE)"] = sorted(sizes, key=lambda k: (sizes[k], k))
        for crit, want in sorts.items():
            with self.subTest(sort=crit):
                r = self.ok(c.cmd(f"SORT {crit} UTF-8 ALL"))
                got = [int(x) for x in r.lines("SORT")[0].split()[2:]]
                self.assertEqual(got, want, r)
        r = self.ok(c.cmd("SORT (SUBJECT) UTF-8 FROM alice"))
        self.assertEqual([int(x) for x in r.lines("SORT")[0].split()[2:]], [1, 3])
        r = self.ok(c.cmd("UID SORT (REVERSE ARRIVAL) UTF-8 ALL"))
        self.assertEqual([int(x) for x in r.lines("SORT")[0].split()[2:]], [4, 3, 2, 1])
        self.bad(c.cmd("SORT (FROBNICATE) UTF-8 ALL"))
        self.bad(c.cmd("SORT SUBJECT UTF-8 ALL"))
        self.no(c.cmd("SORT (SUBJECT) X-UNKNOWN-CHARSET ALL"), "BADCHARSET")
        typ, data = cl.sort("(REVERSE DATE)", "UTF-8", "ALL")
        self.assertEqual((typ, data), ("OK", [b"4 3 2 1"]))

    def test_thread(self):
        u = self.user()
        c = self.conn(u, tls=False)
        msgs = [
            message("Plan", msgid="<t1@test>", date="Sat, 21 Nov 2026 10:00:00 +0000"),
            message("Re: Plan", msgid="<t2@test>", date="Sat, 21 Nov 2026 11:00:00 +0000",
                    headers="In-Reply-To: <t1@test>\r\nReferences: <t1@test>\r\n"),
            message("Other", msgid="<t3@test>", date="Sat, 21 Nov 2026 12:00:00 +0000"),
            message("Re: Plan", msgid="<t4@test>", date="Sat, 21 Nov 2026 13:00:00 +0000",
                    headers="In-Reply-To: <t2@test>\r\nReferences: <t1@test> <t2@test>\r\n"),
        ]
        for m in msgs:
            self.ok(c.cmd_literal("APPEND INBOX", m))
        c.select("INBOX")
        r = self.ok(c.cmd("THREAD REFERENCES UTF-8 ALL"))
        self.assertEqual(r.lines("THREAD")[0], b"* THREAD (1 2 4)(3)")
        r = self.ok(c.cmd("THREAD ORDEREDSUBJECT UTF-8 ALL"))
        self.assertEqual(r.lines("THREAD")[0], b"* THREAD (1 (2)(4))(3)")
        r = self.ok(c.cmd("UID THREAD REFERENCES UTF-8 SUBJECT plan"))
        self.assertEqual(r.lines("THREAD")[0], b"* THREAD (1 2 4)")
        r = self.ok(c.cmd("THREAD REFERENCES UTF-8 FROM nobody"))
        self.assertEqual(r.lines("THREAD")[0].rstrip(), b"* THREAD")
        r = c.cmd("THREAD FROBNICATE UTF-8 ALL")
        self.assertIn(r.status, ("BAD", "NO"), r)
        self.no(c.cmd("THREAD REFERENCES X-UNKNOWN-CHARSET ALL"), "BADCHARSET")
        cl = self.client(u)
        cl.select("INBOX")
        typ, data = cl.thread("REFERENCES", "UTF-8", "ALL")
        self.assertEqual((typ, data), ("OK", [b"(1 2 4)(3)"]))

    def test_copy_move(self):
        u = self.user()
        for i in range(5):
            self.deliver(u, message(f"copy move {i}"))
        c = self.conn(u, tls=False)
        c.select("INBOX")
        r = self.ok(c.cmd("STATUS Archive (UIDVALIDITY UIDNEXT)"))
        av = int(re.search(rb"UIDVALIDITY (\d+)", r.lines("STATUS")[0]).group(1))
        r = self.ok(c.cmd("COPY 1:2 Archive"))
        m = re.match(r"OK \[COPYUID (\d+) ([\d:,]+) ([\d:,]+)\]", r.text)
        self.assertTrue(m, r)
        self.assertEqual(int(m.group(1)), av)
        self.assertEqual(expand(m.group(2)), [1, 2])
        self.assertEqual(len(expand(m.group(3))), 2)
        self.no(c.cmd("COPY 1 Nowhere"), "TRYCREATE")
        self.bad(c.cmd("COPY 9 Archive"))
        self.bad(c.cmd("COPY 1"))
        # MOVE: COPYUID in an untagged OK before the EXPUNGE (RFC 6851 4.3).
        r = self.ok(c.cmd("MOVE 2 Trash"))
        self.assertEqual(r.numbers("EXPUNGE"), [2])
        copyuid = [x for x in r.untagged if x.startswith("* OK [COPYUID")]
        self.assertEqual(len(copyuid), 1, r)
        self.assertLess(r.untagged.index(copyuid[0]), [i for i, x in enumerate(r.untagged) if "EXPUNGE" in x][0])
        # UID MOVE of several
        r = self.ok(c.cmd("UID MOVE 4:5 Archive"))
        self.assertEqual(sorted(r.numbers("EXPUNGE")), [3, 3] if r.numbers("EXPUNGE")[0] == 3 else [3, 4])
        self.assertEqual(self.uids(c), [1, 3])
        r = c.cmd("MOVE 1 Nowhere")
        self.no(r, "TRYCREATE")
        self.assertEqual(self.uids(c), [1, 3], "a failed MOVE leaves the source alone")
        r = self.ok(c.cmd("STATUS Archive (MESSAGES)"))
        self.assertIn(b"MESSAGES 4", r.lines("STATUS")[0])
        # Content survives.
        c2 = self.conn(u, tls=False)
        c2.select("Trash")
        r = self.ok(c2.cmd("FETCH 1 BODY.PEEK[HEADER.FIELDS (SUBJECT)]"))
        self.assertEqual(r.fetches()[1]["BODY[HEADER.FIELDS (SUBJECT)]"], b"Subject: copy move 1\r\n\r\n")
        # Under EXAMINE: COPY is fine, MOVE is not.
        self.ok(c2.cmd("EXAMINE Trash"))
        self.ok(c2.cmd("COPY 1 Archive"))
        r = c2.cmd("MOVE 1 Archive")
        self.assertEqual(r.lines("EXPUNGE"), [], "MOVE from a read-only mailbox expunges nothing")
        self.assertEqual(r.status, "NO", "MOVE needs expunge rights; the mailbox is read-only (EXAMINE)")
        # imaplib
        cl = self.client(u)
        cl.select("Archive")
        typ, data = cl.copy("1", "Drafts")
        self.assertEqual(typ, "OK")
        self.assertIn(b"COPYUID", data[0])
        typ, data = cl.uid("MOVE", "1", "Junk")
        self.assertEqual(typ, "OK")

    def test_expunge_close_unselect_check(self):
        u = self.user()
        uids = [self.deliver(u, message(f"expunge {i}")) for i in range(6)]
        c = self.conn(u, tls=False)
        c.select("INBOX")
        self.ok(c.cmd("STORE 2,4,5 +FLAGS.SILENT (\\Deleted)"))
        # UID EXPUNGE only removes the given UIDs.
        r = self.ok(c.cmd(f"UID EXPUNGE {uids[3]}"))
        self.assertEqual(r.numbers("EXPUNGE"), [4])
        self.assertEqual(self.uids(c), [uids[i] for i in (0, 1, 2, 4, 5)])
        r = self.ok(c.cmd("EXPUNGE"))
        # Messages 2 and 4 (old 5): each EXPUNGE renumbers the ones after it.
        got = r.numbers("EXPUNGE")
        self.assertIn(got, ([4, 2], [2, 3]), r)
        self.assertEqual(self.uids(c), [uids[i] for i in (0, 2, 5)])
        self.ok(c.cmd("CHECK"))
        self.bad(c.cmd("UID EXPUNGE"))
        self.bad(c.cmd("UID EXPUNGE x"))
        # UNSELECT does not expunge.
        self.ok(c.cmd("STORE 1 +FLAGS.SILENT (\\Deleted)"))
        r = self.ok(c.cmd("UNSELECT"))
        self.assertEqual(r.lines("EXPUNGE"), [])
        self.assertIn(c.cmd("FETCH 1 FLAGS").status, ("BAD", "NO"))
        self.bad(c.cmd("UNSELECT"))
        c.select("INBOX")
        self.assertEqual(self.uids(c), [uids[i] for i in (0, 2, 5)])
        # CLOSE expunges silently and leaves the selected state.
        r = self.ok(c.cmd("CLOSE"))
        self.assertEqual(r.lines("EXPUNGE"), [], "CLOSE sends no EXPUNGE")
        self.assertIn(c.cmd("FETCH 1 FLAGS").status, ("BAD", "NO"))
        self.bad(c.cmd("CLOSE"))
        c.select("INBOX")
        self.assertEqual(self.uids(c), [uids[i] for i in (2, 5)])
        # CLOSE under EXAMINE does not expunge.
        self.ok(c.cmd("STORE 1 +FLAGS.SILENT (\\Deleted)"))
        self.ok(c.cmd("EXAMINE INBOX"))
        self.ok(c.cmd("CLOSE"))
        c.select("INBOX")
        self.assertEqual(len(self.uids(c)), 2)
        # imaplib
        cl = self.client(u)
        cl.select("INBOX")
        self.assertEqual(cl.check()[0], "OK")
        typ, data = cl.expunge()
        self.assertEqual(typ, "OK")
        self.assertEqual(data, [b"1"])
        self.assertEqual(cl.unselect()[0], "OK")
        cl.select("INBOX")
        self.assertEqual(cl.close()[0], "OK")

    def test_quota(self):
        u = self.user(quota_bytes=10 * 1024 * 1024)
        size = len(multipart_message())
        self.deliver(u, multipart_message())
        c = self.conn(u, tls=False)
        r = self.ok(c.cmd("GETQUOTAROOT INBOX"))
        qr = parse_values(r.lines("QUOTAROOT")[0], len(b"* QUOTAROOT"))
        self.assertEqual(s(qr[0]).upper(), "INBOX")
        self.assertEqual(len(qr), 2, "one quota root")
        root = qr[1]
        q = r.lines("QUOTA")
        self.assertEqual(len(q), 1, r)
        name, res = parse_values(q[0], len(b"* QUOTA"))
        self.assertEqual(name, root if isinstance(root, bytes) else root)
        self.assertEqual(res[0].upper(), "STORAGE")
        used, limit = int(res[1]), int(res[2])
        self.assertEqual(limit, 10240, "STORAGE is in units of 1024 octets (RFC 9208 5.1)")
        self.assertIn(used, ((size + 1023) // 1024, size // 1024), (used, size))
        r = self.ok(c.cmd('GETQUOTA "%s"' % s(root)))
        self.assertEqual(len(r.lines("QUOTA")), 1)
        self.no(c.cmd('GETQUOTA "no-such-root"'))
        self.no(c.cmd("GETQUOTAROOT Nowhere"))
        r = c.cmd('SETQUOTA "%s" (STORAGE 99999999)' % s(root))
        self.assertIn(r.status, ("NO", "BAD"), "users cannot raise their own quota")
        cl = self.client(u)
        typ, data = cl.getquotaroot("INBOX")
        self.assertEqual(typ, "OK")
        self.assertIn(b"STORAGE", data[1][0])

    def test_acl_on_own_mailbox(self):
        u = self.user()
        other = self.user()
        c = self.conn(u, tls=False)
        r = self.ok(c.cmd("MYRIGHTS INBOX"))
        name, rights = parse_values(r.lines("MYRIGHTS")[0], len(b"* MYRIGHTS"))
        self.assertEqual(s(name).upper(), "INBOX")
        self.assertTrue(set("lrswipkxtea") <= set(s(rights)), rights)
        r = self.ok(c.cmd("GETACL INBOX"))
        vals = parse_values(r.lines("ACL")[0], len(b"* ACL"))
        acl = dict(zip((s(x) for x in vals[1::2]), (s(x) for x in vals[2::2])))
        self.assertIn(u[0], acl, vals)
        self.assertTrue(set("lrswipkxtea") <= set(acl[u[0]]))
        r = self.ok(c.cmd("LISTRIGHTS INBOX " + other[0]))
        self.assertEqual(len(r.lines("LISTRIGHTS")), 1)
        self.no(c.cmd("MYRIGHTS Nowhere"))
        self.no(c.cmd("GETACL Nowhere"))
        self.bad(c.cmd("MYRIGHTS"))
        # Rights of another account on someone else's mailbox are not visible.
        o = self.conn(other, tls=False)
        r = o.cmd(f'MYRIGHTS "Other Users/{u[0]}/INBOX"')
        self.assertEqual(r.status, "NO", r)
        cl = self.client(u)
        typ, data = cl.myrights("INBOX")
        self.assertEqual(typ, "OK")
        typ, data = cl.getacl("INBOX")
        self.assertEqual(typ, "OK")

    def test_utf8_accept_if_advertised(self):
        u = self.user()
        c = self.conn(u, tls=False)
        if "UTF8=ACCEPT" not in c.capabilities():
            self.skipTest("UTF8=ACCEPT not advertised")
        r = self.ok(c.cmd("ENABLE UTF8=ACCEPT"))
        self.assertIn(b"UTF8=ACCEPT", r.lines("ENABLED")[0])
        self.ok(c.cmd('CREATE "Caf\u00e9 UTF-8"'.encode()))
        boxes = self.mailboxes(c)
        self.assertIn("Caf\u00e9 UTF-8", boxes)

    def test_compress_if_advertised(self):
        u = self.user()
        c = self.conn(u, tls=True)
        if "COMPRESS=DEFLATE" not in c.capabilities():
            self.skipTest("COMPRESS=DEFLATE not advertised")
        msg = message("compressed", body="compressible line\r\n" * 2000)
        self.ok(c.cmd_literal("APPEND INBOX", msg))
        self.ok(c.cmd("COMPRESS DEFLATE"))
        comp = zlib.compressobj(wbits=-15)
        decomp = zlib.decompressobj(wbits=-15)
        got = b""

        def exchange(cmd, tag):
            nonlocal got
            c.s.sendall(comp.compress(cmd) + comp.flush(zlib.Z_SYNC_FLUSH))
            deadline = time.time() + 10
            while not re.search(rb"(^|\r\n)" + tag + rb" [A-Z]+ [^\r\n]*\r\n", got) and time.time() < deadline:
                got += decomp.decompress(c.s.recv(65536))
            out, got = got, b""
            return out

        out = exchange(b"z1 SELECT INBOX\r\nz2 FETCH 1 (BODY.PEEK[])\r\n", b"z2")
        self.assertIn(b"z1 OK", out)
        self.assertIn(b"z2 OK", out)
        self.assertIn(b"{%d}\r\n" % len(msg) + msg, out)
        out = exchange(b"z3 COMPRESS DEFLATE\r\n", b"z3")
        self.assertTrue(re.search(rb"z3 (NO|BAD)", out), out)  # RFC 4978: NO [COMPRESSIONACTIVE]
        self.assertNotIn(b"COMPRESS=DEFLATE", exchange(b"z4 CAPABILITY\r\n", b"z4"))

    # -- bad input ----------------------------------------------------------------------
    # A literal over APPENDLIMIT and an over-long line: tests/transcripts/imap_commands/.

    def test_limits_give_bad_and_change_nothing(self):
        u = self.user()
        self.deliver(u, message("limits"))
        c = self.conn(u, tls=False)
        c.select("INBOX")
        before = self.mailboxes(c)
        self.bad(c.cmd("SEARCH " + "(" * 200 + "ALL" + ")" * 200))        # nesting
        self.bad(c.cmd("FETCH " + ",".join(["1"] * 10001) + " FLAGS"))   # sequence ranges
        self.bad(c.cmd("FETCH 1:x FLAGS"))
        self.bad(c.cmd("FETCH 1,,2 FLAGS"))
        self.bad(c.cmd("FETCH 4294967296 FLAGS"))
        self.bad(c.cmd("STORE 1 +FLAGS (\\Seen \\Deleted"))
        self.bad(c.cmd("MOVE 1"))
        self.bad(c.cmd('CREATE "unterminated'))
        self.ok(c.cmd("NOOP"))
        self.bad(c.cmd("\x01\x02 NOOP"))
        self.bad(c.cmd("NOOP\x00"))
        self.assertEqual(self.mailboxes(c), before)
        self.assertEqual(self.flags(c, 1), set())
        self.assertEqual(self.uids(c), [1])
        # An empty line has no tag: untagged BAD (RFC 9051 7.1.5), and the session goes on.
        c.send(b"\r\n")
        r = self.ok(c.cmd("NOOP"))
        self.assertTrue(any(x.startswith("* BAD") for x in r.untagged), f"no untagged BAD for an empty line: {r!r}")

    # Literals in LOGIN and SELECT: tests/transcripts/imap_commands/literals_in_commands.

    # -- sessions see each other ----------------------------------------------------------
    def test_expunge_announced_with_correct_numbers_and_never_during_fetch_store_search(self):
        u = self.user()
        uids = [self.deliver(u, message(f"concurrent {i}")) for i in range(6)]
        a = self.conn(u, tls=False)
        b = self.conn(u, tls=False)
        a.select("INBOX")
        b.select("INBOX")
        # B expunges messages 2, 4 and 5.
        self.ok(b.cmd("STORE 2,4,5 +FLAGS.SILENT (\\Deleted)"))
        self.ok(b.cmd("EXPUNGE"))
        # A's view still has 6 messages: FETCH/STORE/SEARCH by sequence number get no EXPUNGE.
        # The FETCH answers the others and says the rest are gone ([EXPUNGEISSUED]).
        r = self.ok(a.cmd("FETCH 1:6 (UID)"))
        self.assertEqual(r.code, "EXPUNGEISSUED", r)
        self.assertEqual(r.lines("EXPUNGE"), [], "no EXPUNGE during FETCH (RFC 9051 7.5.1)")
        self.assertTrue(set(r.fetches()) <= set(range(1, 7)))
        self.assertEqual({int(v["UID"]) for k, v in r.fetches().items() if k in (1, 3, 6)},
                         {uids[0], uids[2], uids[5]}, "sequence numbers still in A's numbering")
        r = a.cmd("STORE 6 +FLAGS (\\Flagged)")
        self.assertIn(r.status, ("OK", "NO"))
        self.assertEqual(r.lines("EXPUNGE"), [], "no EXPUNGE during STORE")
        r = self.ok(a.cmd("SEARCH ALL"))
        self.assertEqual(r.lines("EXPUNGE"), [], "no EXPUNGE during SEARCH")
        # NOOP: three EXPUNGEs whose numbers, applied in order, give the survivors.
        r = self.ok(a.cmd("NOOP"))
        view = list(uids)
        for n in r.numbers("EXPUNGE"):
            del view[n - 1]
        self.assertEqual(len(r.numbers("EXPUNGE")), 3, r)
        self.assertEqual(view, [uids[0], uids[2], uids[5]], r)
        self.assertEqual(self.uids(a), view)
        r = self.ok(a.cmd("FETCH 3 (UID)"))
        self.assertEqual(int(r.fetches()[3]["UID"]), uids[5])
        # A flag change in B shows in A as FETCH (FLAGS ...).
        self.ok(b.cmd("STORE 1 +FLAGS (\\Answered)"))
        r = self.ok(a.cmd("NOOP"))
        f = r.fetches()
        self.assertIn(1, f, r)
        self.assertIn("\\Answered", f[1]["FLAGS"])
        # A delivery by SMTP shows as EXISTS.
        with smtplib.SMTP("127.0.0.1", self.d.ports["smtp"]) as sm:
            sm.sendmail("gp@practice.example", [u[0]], message("by smtp", to=u[0]))
        r = self.ok(a.cmd("NOOP"))
        self.assertEqual(r.numbers("EXISTS"), [4], r)
        r = self.ok(a.cmd("FETCH 4 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])"))
        self.assertEqual(r.fetches()[4]["BODY[HEADER.FIELDS (SUBJECT)]"], b"Subject: by smtp\r\n\r\n")
        # An expunge elsewhere during a UID command may be announced; numbers stay right.
        self.ok(b.cmd("STORE 1 +FLAGS.SILENT (\\Deleted)"))
        self.ok(b.cmd("EXPUNGE"))
        r = self.ok(a.cmd("UID FETCH 1:* (FLAGS)"))
        r2 = self.ok(a.cmd("NOOP"))
        self.assertEqual(r.numbers("EXPUNGE") + r2.numbers("EXPUNGE"), [1])
        self.assertEqual(self.uids(a), [uids[2], uids[5], self.uids(b)[-1]])

    def test_idle(self):
        u = self.user()
        self.deliver(u, message("before idle"))
        a = self.conn(u, tls=True)
        b = self.conn(u, tls=False)
        a.select("INBOX")
        b.select("INBOX")
        tag = a.tag()
        a.send(f"{tag} IDLE\r\n")
        ln = a.line()
        self.assertTrue(ln.startswith(b"+"), ln)

        def expect(pattern, what, timeout=3.0):
            t0 = time.time()
            a.s.settimeout(timeout)
            try:
                ln = a.line()
                while re.match(rb"\* \d+ RECENT", ln):  # IMAP4rev1 servers may add RECENT
                    ln = a.line()
            except socket.timeout:
                self.fail(f"{what}: nothing within {timeout}s during IDLE")
            finally:
                a.s.settimeout(15)
            self.assertTrue(re.match(pattern, ln), (what, ln))
            return time.time() - t0, ln

        # Delivery by SMTP during IDLE.
        t0 = time.time()
        with smtplib.SMTP("127.0.0.1", self.d.ports["smtp"]) as sm:
            sm.sendmail("gp@practice.example", [u[0]], message("during idle", to=u[0]))
        expect(rb"\* 2 EXISTS", "delivery")
        delay = time.time() - t0
        self.assertLess(delay, 3.0)
        # Flag change in another session.
        self.ok(b.cmd("STORE 1 +FLAGS.SILENT (\\Flagged)"))
        _, ln = expect(rb"\* 1 FETCH \(", "flag change")
        self.assertIn(b"\\Flagged", ln)
        # Expunge in another session: EXPUNGE is allowed during IDLE.
        self.ok(b.cmd("STORE 1 +FLAGS.SILENT (\\Deleted)"))
        got = []
        b.send("x EXPUNGE\r\n")
        deadline = time.time() + 3
        while time.time() < deadline:
            _, ln = expect(rb"\* ", "expunge")
            got.append(ln)
            if re.match(rb"\* 1 EXPUNGE", ln):
                break
        self.assertTrue(any(re.match(rb"\* 1 EXPUNGE", x) for x in got), got)
        self.assertTrue(b.until("x").status == "OK")
        # A message APPENDed in another session, and a delivery by the HTTP API.
        self.ok(b.cmd_literal("APPEND INBOX", message("appended during idle")))
        expect(rb"\* 2 EXISTS", "append elsewhere")
        a.send("DONE\r\n")
        r = a.until(tag)
        self.ok(r)
        # Nothing after DONE is lost: the session goes on.
        r = self.ok(a.cmd("FETCH 2 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])"))
        self.assertEqual(r.fetches()[2]["BODY[HEADER.FIELDS (SUBJECT)]"], b"Subject: appended during idle\r\n\r\n")
        # Anything but DONE ends IDLE with BAD.
        tag = a.tag()
        a.send(f"{tag} IDLE\r\n")
        self.assertTrue(a.line().startswith(b"+"))
        a.send("NOOP\r\n")
        self.bad(a.until(tag))
        # IDLE in authenticated state (no mailbox) is allowed.
        c = self.conn(u, tls=False)
        tag = c.tag()
        c.send(f"{tag} IDLE\r\n")
        self.assertTrue(c.line().startswith(b"+"))
        c.send("DONE\r\n")
        self.ok(c.until(tag))


# ==========================================================================================
def rss_kb(pid, field="VmRSS"):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


class ImapPreauthLimitsTest(ImapBase):
    """Issue 14 findings 2 and 5: what a client that has not logged in can make a session hold
    (literals refused before they are read, no LITERAL+), do (a command cap, errors that NOOP
    does not forgive) and keep (time to log in, a whole-command deadline against trickling).
    The conversations that only check replies are transcripts: tests/transcripts/imap_preauth/."""
    EXTRA = ("[imap]\nallow_plaintext_auth_on_loopback = true\nmax_errors = 5\nmax_preauth_seconds = 6\n"
             "max_preauth_command_bytes = 8192\n"
             "[limits]\ncommand_timeout_seconds = 3\n")

    def test_big_literals_before_login_are_refused_without_reading(self):
        pid = self.d.proc.pid
        before = rss_kb(pid)
        conns, replies = [], []
        for i in range(5):
            c = self.conn(tls=False)
            conns.append(c)
            c.send("a APPEND INBOX {29000000}\r\n")
            ln = c.line()
            replies.append(ln)
            if ln.startswith(b"+"):  # what the finding reproduced: send what the server asked for
                try:
                    c.send(b"x" * 29000000)
                except OSError:
                    pass
        time.sleep(1)
        grown = rss_kb(pid) - before
        print(f"\nRSS before {before} KB, with 5 pre-login 29 MB literals {before + grown} KB")
        for ln in replies:
            self.assertFalse(ln.startswith(b"+"), f"no continuation for APPEND before login: {ln!r}")
            self.assertTrue(ln.startswith(b"a BAD"), ln)
        self.assertLess(grown, 20 * 1024, f"RSS grew by {grown} KB for 5 unauthenticated connections")
        for c in conns:
            self.ok(c.cmd("NOOP"), "a refused synchronising literal leaves the session usable")
        # The other literal cases before login: tests/transcripts/imap_preauth/literals_before_login.

    def test_time_to_log_in_is_bounded(self):
        c = self.conn(tls=False)
        t0 = time.time()
        r = None
        while time.time() - t0 < 15:
            try:
                r = c.cmd("NOOP")
            except OSError:
                r = c.until("never")
            if r.status != "OK":
                break
            time.sleep(1)
        self.assertEqual(r.status, "BYE", r)
        self.assertIn("logging in", r.text)
        elapsed = time.time() - t0
        self.assertGreater(elapsed, 5)
        self.assertLess(elapsed, 9, "max_preauth_seconds (6) bounds a busy pre-login session")

    def test_trickled_command_is_cut_off(self):
        u = self.user()
        c = self.conn(u, tls=False)  # logged in: the idle timeout is 30 minutes
        t0 = time.time()
        closed = False
        for ch in "a NOOP" + "x" * 100:
            try:
                c.send(ch)
            except OSError:
                closed = True
                break
            if c.pending(0.3):
                break
        ln = c.line() if not closed else b""
        self.assertTrue(ln.startswith(b"* BYE"), ln)
        self.assertIn(b"in time", ln)
        elapsed = time.time() - t0
        self.assertLess(elapsed, 6, "the whole line must arrive within command_timeout_seconds (3)")
        self.assertTrue(c.closed())
        # Before login the same.
        c = self.conn(tls=False)
        t0 = time.time()
        for ch in "b LOGIN " + "y" * 100:
            c.send(ch)
            if c.pending(0.3):
                break
        ln = c.line()
        self.assertTrue(ln.startswith(b"* BYE"), ln)
        self.assertLess(time.time() - t0, 5.5)


# ==========================================================================================
class ImapSequenceSetTest(ImapBase):
    """Issue 14 finding 7: sequence sets resolve on ranges; "1:*" ten thousand times costs no
    more than once. Its own daemon, so its memory peak is its own."""
    EXTRA = "[imap]\nallow_plaintext_auth_on_loopback = true\n"

    def test_many_overlapping_ranges(self):
        u = self.user()
        c = self.conn(u, tls=False)
        n = 2000
        msgs = [message(f"seq {i}", body="x\r\n") for i in range(n)]
        tag = c.tag()
        c.send(f"{tag} APPEND INBOX".encode() + b"".join(b" {%d+}\r\n" % len(m) + m for m in msgs) + b"\r\n")
        self.ok(c.until(tag))
        c.select("INBOX")
        pid = self.d.proc.pid
        before = rss_kb(pid, "VmHWM")
        t0 = time.time()
        r = self.ok(c.cmd("FETCH " + ",".join(["1:*"] * 10000) + " (UID)"))
        self.assertEqual(len(r.fetches()), n)
        r = self.ok(c.cmd("UID FETCH " + ",".join(["1:*", "*:1"] * 5000) + " (FLAGS)"))
        self.assertEqual(len(r.fetches()), n)
        elapsed = time.time() - t0
        grown = rss_kb(pid, "VmHWM") - before
        print(f"\npeak RSS before {before} KB, after two 10,000-range FETCHes {before + grown} KB, {elapsed:.2f} s")
        self.assertLess(grown, 30 * 1024, "each range must not hold its own copy of the mailbox")
        self.assertLess(elapsed, 5)


# ==========================================================================================
class ImapTimeoutAndShutdownTest(ImapBase):
    EXTRA = "[imap]\nallow_plaintext_auth_on_loopback = true\npreauth_timeout_seconds = 1\nidle_timeout_seconds = 2\n"

    def test_preauth_timeout(self):
        c = self.conn(tls=False)
        t0 = time.time()
        c.s.settimeout(6)
        ln = c.line()
        self.assertTrue(ln.startswith(b"* BYE"), ln)
        self.assertLess(time.time() - t0, 4)
        self.assertTrue(c.closed())

    def test_idle_timeout_after_login(self):
        u = self.user()
        c = self.conn(u, tls=False)
        t0 = time.time()
        c.s.settimeout(8)
        ln = c.line()
        self.assertTrue(ln.startswith(b"* BYE"), ln)
        self.assertGreater(time.time() - t0, 1.5)
        self.assertTrue(c.closed())

    def test_zz_shutdown_says_bye(self):
        u = self.user()
        c = self.conn(u, tls=True)
        c.select("INBOX")
        self.d.proc.send_signal(signal.SIGTERM)
        c.s.settimeout(10)
        ln = c.line()
        self.assertTrue(ln.startswith(b"* BYE"), ln)
        self.assertEqual(self.d.proc.wait(10), 0)


if __name__ == "__main__":
    unittest.main()

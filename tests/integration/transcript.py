"""Transcript tests (Postfix's smtpd_check.in / .ref habit): a NAME.in file of client lines
is played against a real caremaild, the conversation is written down as it happened, and it
must match NAME.ref line by line. The format is described in tests/transcripts/README.md.

    python3 test_transcripts.py --print smtp/state_errors   # the conversation now (to write a .ref)
"""
import base64
import os
import re
import socket
import ssl

from harness import client_tls

TRANSCRIPTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "transcripts")

_VAR = re.compile(r"\$\{([a-z_][a-z0-9_]*)\}")
_FUNC = re.compile(r"\$\{(b64|repeat) ([^{}]*)\}")
_PATTERN = re.compile(r"\{\{(.*?)\}\}")
_LITERAL = re.compile(rb"~?\{(\d+)\+?\}$")


def expand(text, variables):
    """${name} from `variables`, then ${repeat N TEXT} and ${b64 TEXT} (TEXT may say \\0)."""
    text = _VAR.sub(lambda m: str(variables[m.group(1)]), text)

    def func(m):
        name, arg = m.group(1), m.group(2)
        if name == "repeat":
            n, _, what = arg.partition(" ")
            return what * int(n)
        return base64.b64encode(arg.replace("\\0", "\0").encode()).decode()

    return _FUNC.sub(func, text)


class Player:
    """Plays one .in file; `out` is the transcript: directives as written, `C: ` client lines,
    `S: ` server lines, and `!closed` / `!timeout` / `!error ...` for what happened instead."""

    def __init__(self, ports, variables, timeout=15):
        self.ports = ports
        self.vars = variables
        self.timeout = timeout
        self.sock = None
        self.proto = None
        self.buf = b""
        self.pending = b""       # lines sent with !send or !raw, written with the next command
        self.continued = None    # IMAP: the tag whose "+" continuation the next line answers
        self.literal_tag = None  # IMAP: the tag of a !send line ending in a {n+} literal
        self.in_data = False     # SMTP: after a 354, until the lone dot
        self.out = []

    # -- bytes --------------------------------------------------------------------------
    def fill(self):
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            raise TimeoutError()
        except (ConnectionResetError, ssl.SSLError, OSError):
            chunk = b""
        if not chunk:
            raise EOFError()
        self.buf += chunk

    def raw_line(self):
        while b"\r\n" not in self.buf:
            self.fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def server_line(self):
        """One line, written down; an IMAP literal's octets are written down as the lines they
        make, the text after them joined to the last one (as the bytes arrive)."""
        line = self.raw_line()
        text = line
        while self.proto == "imap":
            m = _LITERAL.search(line)
            if not m:
                break
            n = int(m.group(1))
            while len(self.buf) < n:
                self.fill()
            data, self.buf = self.buf[:n], self.buf[n:]
            rest = self.raw_line()
            text += b"\r\n" + data + rest
            line = rest
        for piece in text.split(b"\r\n"):
            self.out.append("S: " + piece.decode("utf-8", "backslashreplace"))
        return text

    def send(self, data: bytes):
        """Writes; a server that already hung up shows as what it said before, then !closed."""
        data, self.pending = self.pending + data, b""
        try:
            self.sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass

    # -- replies ------------------------------------------------------------------------
    def smtp_reply(self):
        while True:
            line = self.server_line()
            if len(line) < 4 or line[3:4] != b"-":
                return line

    def imap_until(self, tag):
        """Lines up to `tag`'s completion or a "+" continuation (then the next line answers it)."""
        t = tag.encode() + b" "
        while True:
            line = self.server_line()
            if line.startswith(b"+"):
                self.continued = tag
                return line
            if line.startswith(t):
                self.continued = None
                return line

    def replies(self, n):
        for _ in range(n):
            if self.proto == "smtp":
                self.smtp_reply()
            else:
                while True:
                    line = self.server_line()
                    if line and not line.startswith((b"*", b"+")):
                        break

    # -- steps --------------------------------------------------------------------------
    def connect(self, name):
        self.hang_up()
        self.proto = "imap" if name.startswith("imap") else "smtp"
        sock = socket.create_connection(("127.0.0.1", self.ports[name]), timeout=self.timeout)
        if name in ("imaps", "submissions"):
            sock = client_tls().wrap_socket(sock, server_hostname="localhost")
        self.sock, self.buf, self.pending, self.continued, self.literal_tag = sock, b"", b"", None, None
        if self.proto == "smtp":
            self.smtp_reply()
        else:
            self.server_line()

    def command(self, line):
        self.out.append("C: " + line)
        self.send(line.encode() + b"\r\n")
        if self.proto == "smtp":
            self.smtp_reply()
            self.in_data = self.out[-1].startswith("S: 354")
        else:
            tag = self.continued or self.literal_tag or line.split(" ", 1)[0]
            self.literal_tag = None
            self.imap_until(tag)

    def closed(self, wait):
        """Reads (and writes down) what is left until the server closes, at most `wait` seconds."""
        self.sock.settimeout(wait)
        try:
            while True:
                self.server_line()
        except EOFError:
            if self.buf:
                self.out.append("S: " + self.buf.decode("utf-8", "backslashreplace"))
            self.out.append("!closed")
            self.hang_up()
            return
        except TimeoutError:
            self.out.append("!open (not closed within %s s)" % wait)
        self.sock.settimeout(self.timeout)

    def start_tls(self):
        if self.buf:
            self.out.append("!error plaintext after the reply: %r" % self.buf[:200])
            return
        self.sock = client_tls().wrap_socket(self.sock, server_hostname="localhost")

    def play(self, lines):
        for raw in lines:
            if raw.startswith("#") or not raw.strip() and not self.in_data:
                continue
            line = expand(raw, self.vars)
            if self.sock is None and not line.startswith("!connect"):
                if line != "!closed" and not line.startswith("!closed "):  # closed, as expected
                    self.out.append("!error not connected for: " + line)
                continue
            try:
                if self.in_data:  # SMTP DATA: lines go unanswered until the lone dot
                    self.out.append("C: " + line)
                    self.send(line.encode() + b"\r\n")
                    if line == ".":
                        self.in_data = False
                        self.smtp_reply()
                    continue
                if not line.startswith("!"):
                    self.command(line)
                    continue
                word, _, arg = line[1:].partition(" ")
                self.out.append(line.strip())
                if word == "connect":
                    self.connect(arg)
                elif word == "send":
                    self.out[-1] = "C: " + arg
                    self.pending += arg.encode() + b"\r\n"
                    if self.proto == "imap" and not self.continued and not self.literal_tag and \
                            re.search(r"\{\d+\+\}$", arg):  # the next line goes on with this command
                        self.literal_tag = arg.split(" ", 1)[0]
                elif word == "raw":
                    self.out[-1] = "C: " + arg + " (no line end)"
                    self.pending += arg.encode()
                elif word == "replies":
                    self.send(b"")
                    self.replies(int(arg or 1))
                elif word == "tls":
                    self.start_tls()
                elif word == "closed":
                    self.send(b"")
                    self.out.pop()
                    self.closed(float(arg or 5))
                else:
                    raise ValueError("unknown directive " + line)
            except EOFError:  # the server hung up: so the transcript says, then goes on at !connect
                self.out.append("!closed")
                self.hang_up()
            except TimeoutError:
                self.out.append("!timeout")
                self.hang_up()
        self.hang_up()
        return self.out

    def hang_up(self):
        if self.sock:
            self.sock.close()
        self.sock = None


def load(name):
    with open(os.path.join(TRANSCRIPTS, name + ".in")) as f:
        lines = f.read().splitlines()
    with open(os.path.join(TRANSCRIPTS, name + ".ref")) as f:
        ref = f.read().splitlines()
    return lines, ref


def matches(pattern, line):
    """A .ref server line: literal text with {{regex}} parts."""
    parts = _PATTERN.split(pattern)
    rx = "".join(re.escape(p) if i % 2 == 0 else "(?:%s)" % p for i, p in enumerate(parts))
    return re.fullmatch(rx, line) is not None


def compare(ref, got, variables):
    """None when `got` matches `ref`; otherwise a message showing both from the first difference.
    Ref lines: `S: text` (one server line), `S+ text` (one or more), `S~ text` (a run of these
    matches as many server lines in any order), anything else exactly."""
    ref = [expand(r, variables) for r in ref if r.strip() and not r.startswith("#")]
    i = j = 0
    while i < len(ref):
        r = ref[i]
        if r.startswith("S~ "):
            n = 0
            while i + n < len(ref) and ref[i + n].startswith("S~ "):
                n += 1
            lines = [g[3:] for g in got[j:j + n] if g.startswith("S: ")]
            patterns = [x[3:] for x in ref[i:i + n]]
            for line in lines:
                hit = next((p for p in patterns if matches(p, line)), None)
                if hit is None:
                    break
                patterns.remove(hit)
            if patterns or len(lines) < n:
                break
            i += n
            j += n
            continue
        if r.startswith("S+ "):
            n = 0
            while j < len(got) and got[j].startswith("S: ") and matches(r[3:], got[j][3:]):
                j += 1
                n += 1
            if n == 0:
                break
            i += 1
            continue
        if j >= len(got):
            break
        if r.startswith("S: "):
            ok = got[j].startswith("S: ") and matches(r[3:], got[j][3:])
        else:
            ok = r == got[j]
        if not ok:
            break
        i += 1
        j += 1
    else:
        if j == len(got):
            return None
    shown = "\n".join((">> " if k == j else "   ") + g for k, g in enumerate(got))
    return (f"the conversation differs at .ref line {i + 1} ({ref[i] if i < len(ref) else 'end of .ref'!r}) "
            f"and transcript line {j + 1}:\n{shown}" + ("\n>> (end)" if j >= len(got) else ""))


def run(testcase, name, variables, ports=None):
    """Plays tests/transcripts/NAME.in against testcase.d and asserts NAME.ref."""
    lines, ref = load(name)
    got = Player(ports or testcase.d.ports, variables).play(lines)
    problem = compare(ref, got, variables)
    if problem:
        testcase.fail(f"{name}: {problem}")
    return got

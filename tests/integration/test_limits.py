"""Connection slots and slow clients (issue 14, finding 5), with raw sockets against a real
caremaild: each listener kind has its own connection pool (a flood of SMTP connections
leaves IMAP and the admin API usable, and the other way round), a line or an LDAP request
must arrive whole within its timeout however slowly its bytes trickle in, and before a
mail transaction (SMTP) or a bind (LDAP) a client is held to a few commands and seconds.
The per-IP key by /64 is unit-tested (src/net/peer_key_test.cpp): loopback offers one
address only."""
import os
import socket
import sys
import time
import unittest
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # also runnable as a script
from harness import DaemonTestCase  # noqa: E402

# An LDAPv3 anonymous simple bind (messageID 1): name "", password "".
ANON_BIND = bytes.fromhex("300c020101600702010304008000")


def connect(port, timeout=10):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    return s


def read_until(s, marker: bytes, timeout=10) -> bytes:
    """Reads until `marker` is seen or the peer closes; returns what arrived."""
    s.settimeout(timeout)
    data = b""
    while marker not in data:
        try:
            chunk = s.recv(4096)
        except socket.timeout:
            break
        if not chunk:
            break
        data += chunk
    return data


def closed_within(s, seconds) -> (bool, bytes):
    """True when the peer closes the connection within `seconds`; also what it sent."""
    s.settimeout(seconds)
    data = b""
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            chunk = s.recv(4096)
        except socket.timeout:
            return False, data
        except ConnectionResetError:
            return True, data
        if not chunk:
            return True, data
        data += chunk
    return False, data


class ListenerPoolTest(DaemonTestCase):
    """Pools per listener kind: SMTP 5, HTTP 3."""
    EXTRA = "[limits]\nmax_connections_smtp = 5\nmax_connections_http = 3\n"

    def healthz(self):
        # Retried briefly: slots of another test's closed connections come back when the
        # server has seen them close.
        deadline = time.time() + 5
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.d.ports['http']}/healthz", timeout=10) as r:
                    return r.status
            except (urllib.error.URLError, ConnectionError):
                if time.time() > deadline:
                    raise
                time.sleep(0.2)

    def test_smtp_flood_leaves_imap_and_api(self):
        held = []
        try:
            for _ in range(5):
                deadline = time.time() + 5  # an earlier test's closed connection may not be released yet
                while True:
                    s = connect(self.d.ports["smtp"])
                    greeting = read_until(s, b"\r\n")
                    if greeting.startswith(b"220") or time.time() > deadline:
                        break
                    s.close()
                    time.sleep(0.2)
                self.assertTrue(greeting.startswith(b"220"), greeting)
                held.append(s)
            # The sixth SMTP connection (any SMTP listener: the pool is shared) is refused
            # with 421 ...
            for name in ("smtp", "submission"):
                extra = connect(self.d.ports[name])
                reply = read_until(extra, b"\r\n")
                self.assertTrue(reply.startswith(b"421"), (name, reply))
                self.assertTrue(closed_within(extra, 5)[0])
                extra.close()
            # ... while IMAP and the admin API still answer.
            imap = connect(self.d.ports["imap"])
            self.assertTrue(read_until(imap, b"\r\n").startswith(b"* OK"))
            imap.close()
            self.assertEqual(self.healthz(), 200)
        finally:
            for s in held:
                s.close()
        # Slots come back when the connections end.
        deadline = time.time() + 10
        while True:
            s = connect(self.d.ports["smtp"])
            reply = read_until(s, b"\r\n")
            s.close()
            if reply.startswith(b"220") or time.time() > deadline:
                break
            time.sleep(0.2)
        self.assertTrue(reply.startswith(b"220"), reply)

    def test_http_flood_leaves_mail(self):
        held = []
        try:
            for _ in range(3):
                held.append(connect(self.d.ports["http"]))
            # A slot still held by an earlier test's closed connection would refuse one of
            # these: the fourth is judged only once all three are known to be open.
            time.sleep(0.5)
            time.sleep(0.5)  # accepted (the server reads nothing until a request comes)
            extra = connect(self.d.ports["http"])
            reply = read_until(extra, b"\r\n\r\n")
            self.assertTrue(reply.startswith(b"HTTP/1.1 503"), reply)
            extra.close()
            s = connect(self.d.ports["smtp"])
            self.assertTrue(read_until(s, b"\r\n").startswith(b"220"))
            s.close()
        finally:
            for s in held:
                s.close()


class SlowClientTest(DaemonTestCase):
    """Whole-line (and whole-request) deadlines, and command caps before a transaction (the
    SMTP ones, which only check replies, are tests/transcripts/smtp_limits/)."""
    EXTRA = ("[limits]\nidle_timeout_seconds = 3\ncommand_timeout_seconds = 2\n"
             "[smtp]\nmax_commands_before_mail = 5\npreauth_timeout_seconds = 120\n"
             "[ldap]\nmax_anonymous_requests = 5\nanonymous_timeout_seconds = 120\nidle_timeout_seconds = 600\n")

    def test_smtp_trickle_is_cut_off(self):
        s = connect(self.d.ports["smtp"])
        self.assertTrue(read_until(s, b"\r\n").startswith(b"220"))
        start = time.time()
        data = b""
        # One byte every half second: each read is prompt, the line never ends.
        for b in b"NOOP " + b"x" * 30:
            try:
                s.sendall(bytes([b]))
            except (BrokenPipeError, ConnectionResetError):
                break
            closed, got = closed_within(s, 0.5)
            data += got
            if closed:
                break
        elapsed = time.time() - start
        self.assertIn(b"421", data)
        self.assertLess(elapsed, 6, "the line deadline (idle_timeout_seconds = 3) did not cut the trickle off")
        s.close()

    def test_ldap_trickle_is_cut_off(self):
        s = connect(self.d.ports["ldap"])
        start = time.time()
        closed = False
        for b in ANON_BIND:  # 14 bytes at two a second: 7 seconds if nothing stops it
            try:
                s.sendall(bytes([b]))
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            closed, _ = closed_within(s, 0.5)
            if closed:
                break
        elapsed = time.time() - start
        self.assertTrue(closed, "the request was never cut off")
        self.assertLess(elapsed, 5, "the request deadline (command_timeout_seconds = 2) did not cut the trickle off")
        s.close()

    def test_ldap_anonymous_requests_are_capped(self):
        s = connect(self.d.ports["ldap"])
        closed = False
        answered = 0
        for _ in range(8):
            try:
                s.sendall(ANON_BIND)
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            got = read_until(s, b"\x61", timeout=5)  # a BindResponse (or the notice) arrives
            if not got:
                closed = True
                break
            if b"\x61" in got:
                answered += 1
            if b"1.3.6.1.4.1.1466.20036" in got:  # notice of disconnection
                closed = True
                break
        if not closed:
            closed = closed_within(s, 5)[0]
        self.assertTrue(closed, "anonymous requests were not capped")
        self.assertLessEqual(answered, 5)
        s.close()


class PreauthTimeTest(DaemonTestCase):
    """Total time before a transaction (SMTP) or a bind (LDAP), however busy the client."""
    EXTRA = ("[smtp]\npreauth_timeout_seconds = 2\nmax_commands_before_mail = 100\n"
             "[ldap]\nanonymous_timeout_seconds = 2\nmax_anonymous_requests = 100\n")

    def test_smtp_noops_do_not_hold_a_slot(self):
        s = connect(self.d.ports["smtp"])
        read_until(s, b"\r\n")
        start = time.time()
        data = b""
        while time.time() - start < 8:
            try:
                s.sendall(b"NOOP\r\n")
            except (BrokenPipeError, ConnectionResetError):
                break
            got = read_until(s, b"\r\n", timeout=2)
            data += got
            if b"421" in got or not got:
                break
            time.sleep(0.5)
        self.assertIn(b"421", data)
        self.assertLess(time.time() - start, 5)
        s.close()

    def test_ldap_anonymous_session_ends(self):
        s = connect(self.d.ports["ldap"])
        start = time.time()
        closed = False
        while time.time() - start < 8:
            try:
                s.sendall(ANON_BIND)
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            got = read_until(s, b"\x61", timeout=2)
            if not got or b"1.3.6.1.4.1.1466.20036" in got:
                closed = True
                break
            time.sleep(0.5)
        self.assertTrue(closed or closed_within(s, 3)[0])
        self.assertLess(time.time() - start, 5)
        s.close()


if __name__ == "__main__":
    unittest.main()

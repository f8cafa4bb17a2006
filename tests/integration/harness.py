"""Integration harness: starts a real caremaild on free loopback ports with a temporary
data directory, and drives it with real clients (Python's http.client, curl, openssl,
caremailctl).

Environment (set by ctest): CAREMAILD, CAREMAILCTL (binaries), CAREMAIL_SOURCE (repo).
"""
import base64
import hashlib
import http.client
import imaplib
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import unittest

try:
    import ldap3  # noqa: F401 - for the tests: `from harness import ldap3` (None when absent)
except ImportError:  # a pyenv interpreter: use Debian's python3-ldap3 (pure Python) if present
    sys.path.append("/usr/lib/python3/dist-packages")
    try:
        import ldap3  # noqa: F401
    except ImportError:
        ldap3 = None

SOURCE = os.environ.get("CAREMAIL_SOURCE", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
CAREMAILD = os.environ.get("CAREMAILD", os.path.join(SOURCE, "build", "src", "caremaild"))
CAREMAILCTL = os.environ.get("CAREMAILCTL", os.path.join(SOURCE, "build", "src", "caremailctl"))

ADMIN = "admin@care.example"
ADMIN_PASSWORD = "integration-admin-pass"


def client_tls():
    """A TLS client context that accepts the daemon's self-signed certificate."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def make_message(subject: str, body: str = "Hello from the integration tests.\r\n", sender="gp@practice.example",
                 to="someone@care.example", extra_headers="") -> bytes:
    return (f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\n"
            f"Date: Sat, 21 Nov 2026 10:00:00 +0000\r\nMessage-ID: <{sha256(subject.encode())[:16]}@test>\r\n"
            f"{extra_headers}MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}").encode()


class SourceIMAP(imaplib.IMAP4):
    """imaplib from a chosen loopback address (127.0.0.x): another peer to the server."""

    def __init__(self, host, port, source, timeout=15):
        self._source = source
        super().__init__(host, port, timeout=timeout)

    def _create_socket(self, timeout):
        return socket.create_connection((self.host, self.port), timeout, source_address=(self._source, 0))


def imap_login(d, user, password, client_id=None, source="127.0.0.1"):
    """One LOGIN on a fresh plain IMAP connection from `source` (ID first when client_id is
    given). ("OK", untagged responses {type: [bytes]}) or ("NO", the tagged text)."""
    c = SourceIMAP("127.0.0.1", d.ports["imap"], source)
    try:
        if client_id:
            typ, data = c.xatom("ID", client_id)
            assert typ == "OK", (typ, data)
        try:
            c.login(user, password)
        except imaplib.IMAP4.error as e:
            msg = e.args[0]
            return "NO", msg.decode() if isinstance(msg, bytes) else str(msg)
        untagged = {k: list(v) for k, v in c.untagged_responses.items()}
        c.logout()
        return "OK", untagged
    finally:
        if c.state != "LOGOUT":
            c.shutdown()


def proc_status(pid):
    """A process's memory figures from /proc/<pid>/status (VmRSS, VmHWM, RssAnon, RssFile), in MB."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
                out[k] = int(v.split()[0]) / 1024.0
    return out


class Daemon:
    """One caremaild process. Use as a context manager or call start()/stop()."""

    def __init__(self, extra_config: str = "", data_dir: str = None, user: str = "", keep=False, env=None):
        self.env = dict(env or {})  # more environment for caremaild (e.g. CAREMAIL_TEST_HOOKS)
        self.tmp = tempfile.mkdtemp(prefix="caremail-it-")
        self.data_dir = data_dir or os.path.join(self.tmp, "data")
        self.config_path = os.path.join(self.tmp, "caremail.toml")
        self.keep = keep
        self.proc = None
        self.ports = {}
        self.log_path = os.path.join(self.tmp, "caremaild.log")
        self.write_config(extra_config, user)

    def write_config(self, extra_config: str = "", user: str = ""):
        # extra_config's options override these defaults, section by section.
        defaults = {
            "server": {"data_dir": f'"{self.data_dir}"', "user": f'"{user}"', "shutdown_grace_seconds": "5",
                       "worker_threads": "4"},
            "http": {"listen": '["127.0.0.1:0"]', "tls_listen": '["127.0.0.1:0"]'},
            "smtp": {"mx_listen": '["127.0.0.1:0"]', "submission_listen": '["127.0.0.1:0"]',
                     "submissions_listen": '["127.0.0.1:0"]'},
            "imap": {"listen": '["127.0.0.1:0"]', "tls_listen": '["127.0.0.1:0"]'},
            "ldap": {"listen": '["127.0.0.1:0"]', "tls_listen": '["127.0.0.1:0"]'},
            "log": {"level": '"info"'},
            # Administrators need MFA in production; tests that are not about it sign them in
            # with a password (test_identity.py turns it back on).
            "mfa": {"required_for_administrators": "false"},
        }
        sections = {}
        current = None
        for line in extra_config.splitlines():
            line = line.strip()
            if line.startswith("[") and line.endswith("]"):
                current = line[1:-1]
                sections.setdefault(current, {})
            elif "=" in line and current:
                k, v = line.split("=", 1)
                sections[current][k.strip()] = v.strip()
        for name, opts in defaults.items():
            merged = dict(opts)
            merged.update(sections.get(name, {}))
            sections[name] = merged
        text = ""
        for name, opts in sections.items():
            text += f"[{name}]\n" + "".join(f"{k} = {v}\n" for k, v in opts.items()) + "\n"
        with open(self.config_path, "w") as f:
            f.write(text)

    # -- process ---------------------------------------------------------------------
    def start(self, timeout=30):
        env = dict(os.environ, CAREMAIL_ADMIN_ADDRESS=ADMIN, CAREMAIL_ADMIN_PASSWORD=ADMIN_PASSWORD, **self.env)
        ports_file = os.path.join(self.data_dir, "run", "ports.json")
        if os.path.exists(ports_file):
            os.unlink(ports_file)
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([CAREMAILD, "--config", self.config_path], stdout=self.log,
                                     stderr=subprocess.STDOUT, env=env)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"caremaild exited with {self.proc.returncode}:\n{self.read_log()}")
            if os.path.exists(ports_file):
                try:
                    with open(ports_file) as f:
                        self.ports = json.load(f)
                    break
                except (ValueError, OSError):
                    pass
            time.sleep(0.05)
        else:
            self.kill9()
            raise RuntimeError("caremaild did not start:\n" + self.read_log())
        with open(os.path.join(self.data_dir, "admin.token")) as f:
            self.token = f.read().strip()
        return self

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if not self.proc or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        finally:
            self.log.close()

    def kill9(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.proc:
            self.log.close()

    def read_log(self) -> str:
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def cleanup(self):
        self.kill9()
        if not self.keep:
            subprocess.run(["umount", "-q", self.data_dir], stderr=subprocess.DEVNULL)
            shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        if exc[0] is not None:
            print("---- caremaild log ----\n" + self.read_log()[-6000:])
        self.cleanup()

    # -- clients ---------------------------------------------------------------------
    def sign_in(self, address, password, headers=None, timeout=60):
        """POST /api/v1/sessions: ((cookie, csrf), None) or (None, (status, headers, body)) when refused."""
        h = {"Content-Type": "application/json"}
        if headers and "User-Agent" in headers:
            h["User-Agent"] = headers["User-Agent"]
        conn = http.client.HTTPConnection("127.0.0.1", self.ports["http"], timeout=timeout)
        conn.request("POST", "/api/v1/sessions", body=json.dumps({"address": address, "password": password}).encode(),
                     headers=h)
        resp = conn.getresponse()
        payload = resp.read()
        conn.close()
        hdrs = {k.lower(): v for k, v in resp.getheaders()}
        try:
            payload = json.loads(payload) if payload else payload
        except ValueError:
            pass
        if resp.status != 201:
            return None, (resp.status, hdrs, payload)
        return (hdrs["set-cookie"].split(";")[0], payload["csrf_token"]), None

    def api(self, method, path, body=None, token=None, basic=None, content_type="application/json",
            headers=None, raw_body=False, timeout=60):
        """Returns (status, headers dict, parsed JSON or bytes). `basic`: (address, password), signed
        in with a session first (the API takes no HTTP Basic); a refused sign-in is the answer."""
        h = dict(headers or {})
        if basic:
            session, refused = self.sign_in(basic[0], basic[1], headers=h, timeout=timeout)
            if refused:
                return refused
            h["Cookie"], h["X-CSRF-Token"] = session
        conn = http.client.HTTPConnection("127.0.0.1", self.ports["http"], timeout=timeout)
        if basic:
            pass
        elif token is not False:
            h["Authorization"] = "Bearer " + (token or self.token)
        data = None
        if body is not None:
            data = body if isinstance(body, (bytes, bytearray)) else json.dumps(body).encode()
            h["Content-Type"] = content_type
        conn.request(method, path, body=data, headers=h)
        resp = conn.getresponse()
        payload = resp.read()
        conn.close()
        hdrs = {k.lower(): v for k, v in resp.getheaders()}
        if not raw_body and hdrs.get("content-type", "").startswith("application/") and payload:
            try:
                payload = json.loads(payload)
            except ValueError:
                pass
        return resp.status, hdrs, payload

    def ctl(self, *args, input=None, check=True):
        r = subprocess.run([CAREMAILCTL, "--data-dir", self.data_dir, *args], input=input, capture_output=True,
                           text=True, timeout=60)
        if check and r.returncode != 0:
            raise AssertionError(f"caremailctl {' '.join(args)} failed ({r.returncode}): {r.stderr}")
        return r

    def deliver(self, recipients, message: bytes):
        q = "&".join("to=" + r for r in recipients)
        return self.api("POST", "/api/v1/deliver?" + q, body=message, content_type="message/rfc822")

    # -- setup helpers -----------------------------------------------------------------
    def create_org(self, ods, name, domains):
        st, _, body = self.api("POST", "/api/v1/organisations", {"ods_code": ods, "name": name, "domains": domains})
        assert st == 201, (st, body)
        return body

    def create_user(self, address, ods, password=None, **extra):
        req = {"address": address, "ods_code": ods, **extra}
        if password:
            req["password"] = password
        st, _, body = self.api("POST", "/api/v1/accounts", req)
        assert st == 201, (st, body)
        return body

    def messages(self, address, password, mailbox="INBOX"):
        st, _, body = self.api("GET", f"/api/v1/accounts/{address}/mailboxes/{mailbox}/messages",
                               basic=(address, password))
        assert st == 200, (st, body)
        return body["messages"]

    def raw(self, address, password, uid, mailbox="INBOX"):
        st, _, body = self.api("GET", f"/api/v1/accounts/{address}/mailboxes/{mailbox}/messages/{uid}/raw",
                               basic=(address, password), raw_body=True)
        assert st == 200, (st, body)
        return body

    def user_token(self, address, password):
        st, _, body = self.api("POST", "/api/v1/tokens", {"name": "integration"}, basic=(address, password))
        assert st == 201, (st, body)
        return body["token"]

    def fsck(self):
        return subprocess.run([CAREMAILD, "--config", self.config_path, "--fsck"], capture_output=True, text=True,
                              timeout=600)


class DaemonTestCase(unittest.TestCase):
    """A test class whose tests share one daemon, cls.d, started with the configuration
    EXTRA and filled by populate() (organisations, accounts). When starting or filling it
    fails, its log is printed and it is removed before the error goes on."""
    EXTRA = ""

    @classmethod
    def setUpClass(cls):
        cls.d = Daemon(cls.EXTRA)
        try:
            cls.d.start()
            cls.populate()
        except Exception:
            print(cls.d.read_log()[-4000:])
            cls.d.cleanup()
            raise

    @classmethod
    def populate(cls):
        pass

    @classmethod
    def tearDownClass(cls):
        cls.d.cleanup()

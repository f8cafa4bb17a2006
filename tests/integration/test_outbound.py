"""The outbound queue against a real SMTP server (aiosmtpd): delivery, temporary failure
and retry, permanent failure and the report the sender gets, success notices, delay
notices, expiry, and required TLS that never falls back to clear text."""
import email
import email.policy
import json
import os
import shutil
import smtplib
import socket
import ssl
import subprocess
import tempfile
import time
import unittest

from harness import DaemonTestCase, client_tls, make_message

JO = ("jo.bloggs@leeds.care.example", "jo-password-123")
SYS_PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else "python3"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Sink:
    def __init__(self, *flags):
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="caremail-sink-")
        self.proc = subprocess.Popen([SYS_PYTHON, os.path.join(os.path.dirname(__file__), "smtp_sink.py"),
                                      str(self.port), self.dir, *flags], stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True)
        assert self.proc.stdout.readline().strip() == "ready"

    def messages(self):
        out = []
        for name in sorted(os.listdir(self.dir)):
            if name.endswith(".json"):
                with open(os.path.join(self.dir, name)) as f:
                    env = json.load(f)
                with open(os.path.join(self.dir, name[:-5] + ".eml"), "rb") as f:
                    env["data"] = f.read()
                out.append(env)
        return out

    def connections(self):
        try:
            with open(os.path.join(self.dir, "connections")) as f:
                return len(f.readlines())
        except FileNotFoundError:
            return 0

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)


def make_ca(tmp):
    """A CA and a certificate for 127.0.0.1 signed by it (openssl)."""
    def run(*a):
        subprocess.run(a, check=True, capture_output=True, cwd=tmp)
    run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
        "-subj", "/CN=Test CA")
    run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "srv.key", "-out", "srv.csr", "-subj",
        "/CN=127.0.0.1")
    with open(os.path.join(tmp, "ext.cnf"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1\n")
    run("openssl", "x509", "-req", "-in", "srv.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out",
        "srv.pem", "-days", "2", "-extfile", "ext.cnf")
    return os.path.join(tmp, "ca.pem"), os.path.join(tmp, "srv.pem"), os.path.join(tmp, "srv.key")


def make_cert(tmp, name, san):
    """A certificate for `name` (subjectAltName `san`) signed by make_ca's CA in `tmp`."""
    def run(*a):
        subprocess.run(a, check=True, capture_output=True, cwd=tmp)
    run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", name + ".key", "-out", name + ".csr", "-subj",
        "/CN=" + name)
    with open(os.path.join(tmp, name + ".cnf"), "w") as f:
        f.write("subjectAltName=" + san + "\n")
    run("openssl", "x509", "-req", "-in", name + ".csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", name + ".pem", "-days", "2", "-extfile", name + ".cnf")
    return os.path.join(tmp, name + ".pem"), os.path.join(tmp, name + ".key")


def wait_for(pred, timeout=30, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.2)
    raise AssertionError("timed out waiting for " + what)


class OutboundTest(DaemonTestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="caremail-ca-")
        ca, cert, key = make_ca(cls.tmp)
        cls.plain = Sink()
        cls.tls = Sink("--tls", cert, key)
        cls.noverify = Sink()  # offers no STARTTLS at all
        cfg = ("[smtp]\n"
               f'relay_routes = ["remote.example=127.0.0.1:{cls.plain.port}", '
               f'"secure.example=127.0.0.1:{cls.tls.port}", "cleartext.example=127.0.0.1:{cls.noverify.port}", '
               f'"gone.example=127.0.0.1:{free_port()}"]\n'
               'require_tls_domains = ["secure.example", "cleartext.example"]\n'
               "retry_schedule_seconds = [1]\n"
               "delay_notice_seconds = 3\n"
               "max_queue_seconds = 8\n"
               f'outbound_ca_file = "{ca}"\n')
        cls.EXTRA = cfg
        super().setUpClass()

    @classmethod
    def populate(cls):
        cls.d.create_org("RX1", "Leeds", ["leeds.care.example"])
        cls.d.create_user(JO[0], "RX1", JO[1])

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        for s in (cls.plain, cls.tls, cls.noverify):
            s.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def submit(self, rcpts, subject, options=(), rcpt_options=()):
        msg = make_message(subject, sender=JO[0], to=rcpts[0])
        with smtplib.SMTP("127.0.0.1", self.d.ports["submission"]) as c:
            c.starttls(context=client_tls())
            c.login(*JO)
            c.sendmail(JO[0], rcpts, msg, mail_options=list(options), rcpt_options=list(rcpt_options))
        return msg

    def reports(self, subject_part):
        out = []
        for m in self.d.messages(*JO):
            if subject_part in m["subject"]:
                raw = self.d.raw(*JO, m["uid"])
                out.append(email.message_from_bytes(raw, policy=email.policy.default))
        return out

    def sink_has(self, sink, subject):
        return [m for m in sink.messages() if ("Subject: " + subject).encode() in m["data"]]

    def test_delivers_to_another_domain(self):
        msg = self.submit(["alice@remote.example"], "outbound plain")
        got = wait_for(lambda: self.sink_has(self.plain, "outbound plain"), what="delivery")
        self.assertEqual(got[0]["from"], JO[0])
        self.assertEqual(got[0]["to"], ["alice@remote.example"])
        self.assertTrue(got[0]["data"].endswith(msg.split(b"\r\n\r\n", 1)[1]))
        st, _, body = self.d.api("GET", "/api/v1/audit?limit=1")  # daemon still healthy
        self.assertEqual(st, 200)

    def test_temporary_failure_is_retried_then_delivered(self):
        self.submit(["temp-2-bob@remote.example"], "outbound retry")
        wait_for(lambda: self.sink_has(self.plain, "outbound retry"), timeout=40, what="delivery after retries")
        self.assertIn("outbound.deferred", self.d.read_log())

    def test_permanent_failure_reports_to_the_sender(self):
        self.submit(["reject-carol@remote.example"], "outbound reject")
        # Other tests of this class produce failure reports too: wait for this one.
        reps = wait_for(lambda: [x for x in self.reports("could not be delivered")
                                 if "reject-carol@remote.example" in x["Subject"]], what="failure report")
        r = reps[0]
        self.assertEqual(r.get_content_type(), "multipart/report")
        self.assertEqual(r.get_param("report-type"), "delivery-status")
        parts = list(r.iter_parts())
        human = parts[0].get_content()
        self.assertIn("reject-carol@remote.example", human)
        self.assertIn("550 5.1.1 No such user here", human)
        self.assertIn("What to do", human)
        status = parts[1].as_string()
        self.assertIn("Action: failed", status)
        self.assertIn("Status: 5.1.1", status)
        self.assertIn("Final-Recipient: rfc822; reject-carol@remote.example", status)
        self.assertEqual(parts[2].get_content_type(), "message/rfc822")

    def test_notify_never_and_ret_hdrs(self):
        self.submit(["reject-hal@remote.example"], "outbound never", rcpt_options=["NOTIFY=NEVER"])
        self.submit(["reject-ivy@remote.example"], "outbound hdrs", options=["RET=HDRS", "ENVID=case-42"])
        reps = wait_for(lambda: [r for r in self.reports("could not be delivered") if "reject-ivy" in r["Subject"]],
                        what="failure report with headers only")
        parts = list(reps[0].iter_parts())
        self.assertEqual(parts[2].get_content_type(), "text/rfc822-headers", "RET=HDRS returns the header only")
        self.assertIn("Original-Envelope-Id: case-42", parts[1].as_string())
        self.assertNotIn(b"Hello from the integration tests", parts[2].as_bytes())
        time.sleep(2)  # the NEVER one was refused at the same time; no report may come
        self.assertEqual([r for r in self.reports("could not be delivered") if "reject-hal" in r["Subject"]], [])

    def test_success_notice_when_asked(self):
        self.submit(["dave@remote.example"], "outbound notify", rcpt_options=["NOTIFY=SUCCESS"])
        got = wait_for(lambda: self.sink_has(self.plain, "outbound notify"), what="delivery")
        # aiosmtpd does not offer DSN, so we report delivery ourselves.
        reps = wait_for(lambda: [r for r in self.reports("Delivered:") if "dave@remote.example" in r["Subject"]],
                        what="success notice")
        self.assertIn("Action: delivered", list(reps[0].iter_parts())[1].as_string())
        self.assertTrue(got)

    def test_required_tls_uses_verified_tls(self):
        self.submit(["erin@secure.example"], "outbound secure")
        got = wait_for(lambda: self.sink_has(self.tls, "outbound secure"), what="TLS delivery")
        self.assertTrue(got[0]["tls"], "delivered inside TLS")

    def test_required_tls_is_never_sent_in_clear(self):
        self.submit(["frank@cleartext.example"], "outbound cleartext")
        reps = wait_for(lambda: [r for r in self.reports("could not be delivered") if "frank@cleartext.example" in r["Subject"]],
                        timeout=40, what="failure report after the queue time")
        self.assertEqual(self.sink_has(self.noverify, "outbound cleartext"), [])
        human = list(reps[0].iter_parts())[0].get_content()
        self.assertIn("does not offer STARTTLS", human)

    def test_unreachable_server_gets_delay_notice_then_failure(self):
        self.submit(["gina@gone.example"], "outbound gone")
        delayed = wait_for(lambda: [r for r in self.reports("Delayed:") if "gina@gone.example" in r["Subject"]],
                           timeout=40, what="delay notice")
        self.assertIn("Action: delayed", list(delayed[0].iter_parts())[1].as_string())
        wait_for(lambda: [r for r in self.reports("could not be delivered") if "gina@gone.example" in r["Subject"]],
                 timeout=40, what="failure after expiry")

    def test_operators_see_the_queue(self):
        self.submit(["hold-on@gone.example"], "outbound visible")
        def queued():
            r = self.d.ctl("--json", "queue", "list")
            return "hold-on@gone.example" in r.stdout and json.loads(r.stdout)["queue"]
        out = wait_for(queued, what="queue entry")
        self.assertIn((JO[0], "hold-on@gone.example"), [(e["sender"], e["recipient"]) for e in out])
        st, _, _ = self.d.api("GET", "/api/v1/queue", basic=JO)
        self.assertEqual(st, 403)

    def test_mx_port_still_refuses_relaying(self):
        with smtplib.SMTP("127.0.0.1", self.d.ports["smtp"]) as c:
            c.ehlo()
            c.mail("x@outside.example")
            self.assertEqual(c.rcpt("alice@remote.example")[0], 550)


class MxLookupTest(DaemonTestCase):
    """Domains without a static route are looked up in DNS (libresolv), here against a
    small local DNS server: MX records in preference order (an unreachable best MX is
    skipped), and a domain without MX records reached at its own address (RFC 5321 5.1)."""

    @classmethod
    def setUpClass(cls):
        cls.sink = Sink()
        cls.dns_port = free_port()
        # mx.example: preference 5 points at a name that does not resolve; 10 at localhost.
        cls.dns = subprocess.Popen([SYS_PYTHON, os.path.join(os.path.dirname(__file__), "dns_server.py"),
                                    str(cls.dns_port), "mx.example=10:localhost,5:nowhere.invalid"],
                                   stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        assert cls.dns.stdout.readline().strip() == "ready"
        cfg = ("[smtp]\n"
               f'dns_servers = ["127.0.0.1:{cls.dns_port}"]\n'
               f"mx_port = {cls.sink.port}\n"
               "retry_schedule_seconds = [1]\n")
        cls.EXTRA = cfg
        super().setUpClass()

    @classmethod
    def populate(cls):
        cls.d.create_org("RX1", "Leeds", ["leeds.care.example"])
        cls.d.create_user(JO[0], "RX1", JO[1])

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        cls.sink.stop()
        cls.dns.terminate()
        cls.dns.wait(10)

    def send(self, rcpt, subject):
        msg = make_message(subject, sender=JO[0], to=rcpt)
        with smtplib.SMTP("127.0.0.1", self.d.ports["submission"]) as c:
            c.starttls(context=client_tls())
            c.login(*JO)
            c.sendmail(JO[0], [rcpt], msg)

    def test_mx_records_are_followed(self):
        self.send("alice@mx.example", "via mx")
        got = wait_for(lambda: [m for m in self.sink.messages() if b"Subject: via mx" in m["data"]], what="MX delivery")
        self.assertEqual(got[0]["to"], ["alice@mx.example"])

    def test_domain_without_mx_is_its_own_mail_server(self):
        # "localhost" has no MX record here (NXDOMAIN), so its address is used.
        self.send("bob@localhost", "implicit mx")
        got = wait_for(lambda: [m for m in self.sink.messages() if b"Subject: implicit mx" in m["data"]],
                       what="implicit MX delivery")
        self.assertEqual(got[0]["to"], ["bob@localhost"])


class PinnedMxTest(DaemonTestCase):
    """smtp.require_tls_mx: a require-TLS domain's mail servers pinned by name. Require-TLS
    alone checks the certificate against the MX name DNS gives, so a spoofed DNS answer
    naming the attacker's server, with a valid certificate for its own name, passes. With a
    pin only the pinned hosts are used, their certificate must be valid for the pinned name,
    and otherwise the mail waits in the queue with the reason."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="caremail-pin-")
        ca, cert, key = make_ca(cls.tmp)  # a certificate for 127.0.0.1
        wrong = make_cert(cls.tmp, "wrong.example", "DNS:wrong.example")
        spoof = make_cert(cls.tmp, "localhost", "DNS:localhost,IP:127.0.0.1")
        cls.good = Sink("--tls", cert, key)
        cls.wrong = Sink("--tls", *wrong)
        cls.unpinned_route = Sink("--tls", cert, key)
        # What a spoofed DNS answer points at: a server with a valid certificate for the
        # name DNS gave ("localhost"), which is not the name pinned for the domain.
        cls.spoofed = Sink("--tls", *spoof)
        cls.dns_port = free_port()
        cls.dns = subprocess.Popen([SYS_PYTHON, os.path.join(os.path.dirname(__file__), "dns_server.py"),
                                    str(cls.dns_port), "spoofed.example=10:localhost"],
                                   stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        assert cls.dns.stdout.readline().strip() == "ready"
        cfg = ("[smtp]\n"
               f'relay_routes = ["pinned.example=127.0.0.1:{cls.good.port}", '
               f'"wrongcert.example=127.0.0.1:{cls.wrong.port}", '
               f'"routed.example=127.0.0.1:{cls.unpinned_route.port}"]\n'
               'require_tls_mx = ["pinned.example=127.0.0.1", "wrongcert.example=127.0.0.1", '
               '"routed.example=mx1.routed.example", "spoofed.example=mx1.spoofed.example,*.mx.spoofed.example"]\n'
               f'dns_servers = ["127.0.0.1:{cls.dns_port}"]\n'
               f"mx_port = {cls.spoofed.port}\n"
               "retry_schedule_seconds = [1]\n"
               f'outbound_ca_file = "{ca}"\n')
        cls.EXTRA = cfg
        super().setUpClass()

    @classmethod
    def populate(cls):
        cls.d.create_org("RX1", "Leeds", ["leeds.care.example"])
        cls.d.create_user(JO[0], "RX1", JO[1])
        # aiosmtpd connects to itself once when it starts: connections beyond these are ours.
        cls.before = {id(s): s.connections() for s in (cls.unpinned_route, cls.spoofed)}

    def connections_since_start(self, sink):
        return sink.connections() - self.before[id(sink)]

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        for s in (cls.good, cls.wrong, cls.unpinned_route, cls.spoofed):
            s.stop()
        cls.dns.terminate()
        cls.dns.wait(10)
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def submit(self, rcpt, subject):
        msg = make_message(subject, sender=JO[0], to=rcpt)
        with smtplib.SMTP("127.0.0.1", self.d.ports["submission"]) as c:
            c.starttls(context=client_tls())
            c.login(*JO)
            c.sendmail(JO[0], [rcpt], msg)

    def deferred(self, rcpt, attempts=2):
        """The queue entry of `rcpt` once it has been tried `attempts` times."""
        def entry():
            st, _, body = self.d.api("GET", "/api/v1/queue")
            self.assertEqual(st, 200, body)
            got = [e for e in body["queue"] if e["recipient"] == rcpt and e["attempts"] >= attempts]
            return got[0] if got else None
        return wait_for(entry, what="deferred queue entry of " + rcpt)

    def test_pinned_host_with_its_certificate_delivers(self):
        self.submit("ann@pinned.example", "pinned ok")
        got = wait_for(lambda: [m for m in self.good.messages() if b"Subject: pinned ok" in m["data"]],
                       what="delivery to the pinned host")
        self.assertTrue(got[0]["tls"], "delivered inside TLS")

    def test_certificate_for_another_name_is_refused(self):
        # The pinned host answers with a certificate (from a trusted CA) for another name.
        self.submit("bea@wrongcert.example", "pinned wrong cert")
        e = self.deferred("bea@wrongcert.example")
        self.assertIn("TLS is required for wrongcert.example", e["last_error"])
        self.assertIn("certificate verify failed", e["last_error"])
        self.assertEqual([m for m in self.wrong.messages() if b"pinned wrong cert" in m["data"]], [])

    def test_route_to_an_unpinned_host_is_never_used(self):
        self.submit("cal@routed.example", "pinned unrouted")
        e = self.deferred("cal@routed.example")
        self.assertIn("smtp.require_tls_mx", e["last_error"])
        self.assertIn("127.0.0.1 is not one of them", e["last_error"])
        self.assertEqual(self.connections_since_start(self.unpinned_route), 0, "never connected to")

    def test_spoofed_mx_with_a_valid_certificate_is_never_used(self):
        # DNS (here: the attacker) names "localhost", whose certificate is valid; the domain
        # is pinned to other names, so the mail waits instead of going there.
        self.submit("dee@spoofed.example", "pinned spoofed")
        e = self.deferred("dee@spoofed.example", attempts=3)
        self.assertIn("not sent: spoofed.example may only be reached through the mail servers pinned in "
                      "smtp.require_tls_mx, and localhost is not one of them", e["last_error"])
        self.assertEqual(self.connections_since_start(self.spoofed), 0, "the spoofed MX is never connected to")
        self.assertEqual(self.spoofed.messages(), [])
        self.assertIn("event=outbound.mx_not_pinned", self.d.read_log())


if __name__ == "__main__":
    unittest.main()

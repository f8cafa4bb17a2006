"""The admin HTTP API and caremailctl, driven by real clients (http.client, curl,
caremailctl): success paths, scopes, and bad input that must change nothing."""
import json
import socket
import subprocess
import unittest

from harness import ADMIN, ADMIN_PASSWORD, DaemonTestCase, make_message, sha256


class AdminApiTest(DaemonTestCase):
    @classmethod
    def populate(cls):
        cls.d.create_org("RX1", "Leeds Teaching Hospitals", ["leeds.care.example"])
        cls.d.create_org("RR8", "Sheffield Teaching Hospitals", ["sheffield.care.example"])
        cls.d.create_user("jo.bloggs@leeds.care.example", "RX1", "jo-password-123", display_name="Jo Bloggs")
        cls.d.create_user("sam.admin@leeds.care.example", "RX1", "amber-lantern-123", roles=["local_admin"])
        cls.d.create_user("kim.smith@sheffield.care.example", "RR8", "copper-meadow-123")

    def test_healthz_and_metrics_with_curl(self):
        out = subprocess.run(["curl", "-sf", f"http://127.0.0.1:{self.d.ports['http']}/healthz"], capture_output=True,
                             text=True, check=True).stdout
        self.assertEqual(json.loads(out), {"status": "ok"})
        metrics = subprocess.run(["curl", "-sf", f"http://127.0.0.1:{self.d.ports['http']}/metrics"],
                                 capture_output=True, text=True, check=True).stdout
        self.assertIn("# TYPE caremail_http_requests_total counter", metrics)
        self.assertIn("caremail_sessions_active", metrics)

    def test_https_serves_with_tls12_and_13(self):
        for flag in ("--tlsv1.2", "--tlsv1.3"):
            out = subprocess.run(["curl", "-sk", flag, f"https://127.0.0.1:{self.d.ports['https']}/healthz"],
                                 capture_output=True, text=True)
            self.assertEqual(out.returncode, 0, out.stderr)
            self.assertIn('"ok"', out.stdout)

    def test_tls_below_12_refused(self):
        r = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{self.d.ports['https']}", "-tls1_1"],
                           input="", capture_output=True, text=True, timeout=20)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("Cipher is (NONE)", r.stdout, "no TLS 1.1 session may be established")

    def test_requires_token(self):
        st, hdrs, body = self.d.api("GET", "/api/v1/organisations", token=False)
        self.assertEqual(st, 401)
        self.assertEqual(hdrs["content-type"], "application/problem+json")
        self.assertEqual(body["status"], 401)
        st, _, _ = self.d.api("GET", "/api/v1/organisations", token="cm_not-a-real-token")
        self.assertEqual(st, 401)

    def test_caremailctl_lists_and_shows(self):
        orgs = json.loads(self.d.ctl("--json", "org", "list").stdout)["organisations"]
        self.assertIn(("RX1", "Leeds Teaching Hospitals"), [(o["ods_code"], o["name"]) for o in orgs])
        self.assertIn("X26", [o["ods_code"] for o in orgs])
        out = self.d.ctl("org", "list").stdout  # for people: a table with a header
        self.assertTrue(out.startswith("ODS "), out)
        self.assertIn("Leeds Teaching Hospitals", out)
        out = self.d.ctl("account", "list", "--ods", "RX1").stdout
        self.assertIn("jo.bloggs@leeds.care.example", out)
        self.assertNotIn("kim.smith", out)
        shown = json.loads(self.d.ctl("account", "show", "jo.bloggs@leeds.care.example").stdout)
        self.assertEqual(shown["display_name"], "Jo Bloggs")
        self.assertEqual(shown["ods_code"], "RX1")
        self.assertEqual(shown["quota_bytes"], 4 * 1024 ** 3)
        self.assertTrue(shown["has_password"])

    def test_caremailctl_password_from_stdin_and_a_session(self):
        self.d.create_user("pat.new@leeds.care.example", "RX1")
        st, _, _ = self.d.api("GET", "/api/v1/accounts/pat.new@leeds.care.example/mailboxes",
                              basic=("pat.new@leeds.care.example", "anything-at-all"))
        self.assertEqual(st, 401)
        self.d.ctl("password", "set", "pat.new@leeds.care.example", input="a fresh passphrase\n")
        # Set by an administrator: the person must choose their own before anything else.
        me = ("pat.new@leeds.care.example", "a fresh passphrase")
        st, _, body = self.d.api("GET", "/api/v1/accounts/pat.new@leeds.care.example/mailboxes", basic=me)
        self.assertEqual(st, 403)
        self.assertIn("change your password first", body["detail"])
        st, _, body = self.d.api("GET", "/api/v1/me", basic=me)
        self.assertEqual((st, body["required_actions"]), (200, ["change_password"]))
        st, _, body = self.d.api("PUT", "/api/v1/accounts/pat.new@leeds.care.example/password",
                                 {"password": "a fresh passphrase"}, basic=me)
        self.assertEqual(st, 400)  # the same one again: history
        self.assertIn("last 4 passwords", body["detail"])
        st, _, _ = self.d.api("PUT", "/api/v1/accounts/pat.new@leeds.care.example/password",
                              {"password": "tangerine orbit sledge"}, basic=me)
        self.assertEqual(st, 204)
        st, _, body = self.d.api("GET", "/api/v1/accounts/pat.new@leeds.care.example/mailboxes",
                                 basic=("pat.new@leeds.care.example", "tangerine orbit sledge"))
        self.assertEqual(st, 200)
        self.assertEqual(sorted(m["name"] for m in body["mailboxes"]),
                         ["Archive", "Drafts", "INBOX", "Junk", "Sent", "Trash"])
        r = self.d.ctl("password", "set", "pat.new@leeds.care.example", input="short\n", check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("at least 10 characters", r.stderr)

    def test_deliver_and_fetch_round_trip(self):
        msg = make_message("Discharge letter", to="jo.bloggs@leeds.care.example")
        st, _, body = self.d.deliver(["jo.bloggs@leeds.care.example", "nobody@leeds.care.example"], msg)
        self.assertEqual(st, 200, body)
        self.assertEqual(body["blob"], sha256(msg))
        ok, missing = body["recipients"]
        self.assertTrue(ok["delivered"])
        self.assertFalse(missing["delivered"])
        self.assertEqual(missing["error"], "not_found")
        jo = ("jo.bloggs@leeds.care.example", "jo-password-123")
        st, _, listing = self.d.api("GET", "/api/v1/accounts/jo.bloggs@leeds.care.example/mailboxes/INBOX/messages",
                                    basic=jo)
        self.assertEqual(st, 200)
        entry = [m for m in listing["messages"] if m["uid"] == ok["uid"]][0]
        self.assertEqual(entry["subject"], "Discharge letter")
        # The copy as its owner sees it: its own Delivered-To (RFC 9228), then the stored message.
        seen = b"Delivered-To: jo.bloggs@leeds.care.example\r\n" + msg
        self.assertEqual(entry["size"], len(seen))
        st, hdrs, raw = self.d.api(
            "GET", f"/api/v1/accounts/jo.bloggs@leeds.care.example/mailboxes/INBOX/messages/{ok['uid']}/raw",
            basic=jo, raw_body=True)
        self.assertEqual(st, 200)
        self.assertEqual(hdrs["content-type"], "message/rfc822")
        self.assertEqual(raw, seen)

    def test_people_cannot_read_each_others_mail_and_refusals_are_audited(self):
        kim = ("kim.smith@sheffield.care.example", "copper-meadow-123")
        st, _, body = self.d.api("GET", "/api/v1/accounts/jo.bloggs@leeds.care.example/mailboxes/INBOX/messages",
                                 basic=kim)
        self.assertIn(st, (403, 404))
        # The national administrator cannot read a person's mail either (A5 needs a request).
        st, _, _ = self.d.api("GET", "/api/v1/accounts/jo.bloggs@leeds.care.example/mailboxes/INBOX/messages")
        self.assertEqual(st, 403)
        st, _, audit = self.d.api("GET", "/api/v1/audit?limit=1000")
        denied = [e for e in audit["events"] if e["outcome"] == "denied" and e["actor"] == ADMIN]
        self.assertTrue(any(e["action"] == "mailbox.select" for e in denied), audit)

    def test_scopes_of_local_admin(self):
        sam = ("sam.admin@leeds.care.example", "amber-lantern-123")
        st, _, body = self.d.api("GET", "/api/v1/accounts", basic=sam)
        self.assertEqual(st, 200)
        self.assertTrue(all(a["ods_code"] == "RX1" for a in body["accounts"]))
        st, _, body = self.d.api("POST", "/api/v1/accounts",
                                 {"address": "x.y@sheffield.care.example", "ods_code": "RR8"}, basic=sam)
        self.assertEqual(st, 403)
        st, _, body = self.d.api("POST", "/api/v1/accounts",
                                 {"address": "boss@leeds.care.example", "ods_code": "RX1", "roles": ["national_admin"]},
                                 basic=sam)
        self.assertEqual(st, 403)
        st, _, _ = self.d.api("GET", "/api/v1/accounts/boss@leeds.care.example")
        self.assertEqual(st, 404, "a refused create must change nothing")
        st, _, _ = self.d.api("POST", "/api/v1/organisations", {"ods_code": "ZZ9", "name": "Nope"}, basic=sam)
        self.assertEqual(st, 403)
        # Out of scope reads look like absence (no enumeration).
        st, _, _ = self.d.api("GET", "/api/v1/accounts/kim.smith@sheffield.care.example", basic=sam)
        self.assertEqual(st, 404)

    def test_bad_input_is_a_clear_problem_and_changes_nothing(self):
        cases = [
            ("POST", "/api/v1/organisations", b"{not json", "application/json", 400),
            ("POST", "/api/v1/organisations", b"[]", "application/json", 400),
            ("POST", "/api/v1/organisations", b'{"ods_code":"rx 1","name":"Bad"}', "application/json", 400),
            ("POST", "/api/v1/organisations", b'{"ods_code":"RX1","name":"Again"}', "application/json", 409),
            ("POST", "/api/v1/organisations", b'{"ods_code":"AB1","name":"x"}', "text/plain", 415),
            ("POST", "/api/v1/accounts", b'{"address":"no-at-sign","ods_code":"RX1"}', "application/json", 400),
            ("POST", "/api/v1/accounts", b'{"address":"a@leeds.care.example","ods_code":"NOPE"}',
             "application/json", 400),
            ("POST", "/api/v1/accounts", b'{"address":"a@leeds.care.example","ods_code":"RX1","kind":"robot"}',
             "application/json", 400),
            ("POST", "/api/v1/accounts", b'{"address":"a@leeds.care.example","ods_code":"RX1","password":"short"}',
             "application/json", 400),
            ("POST", "/api/v1/accounts", b'{"address":"jo.bloggs@leeds.care.example","ods_code":"RX1"}',
             "application/json", 409),
            ("POST", "/api/v1/accounts", b'{"address":5,"ods_code":"RX1"}', "application/json", 400),
            ("DELETE", "/api/v1/organisations", None, None, 405),
            ("GET", "/api/v1/nothing-here", None, None, 404),
            ("POST", "/api/v1/deliver", b"Subject: x\r\n\r\nx", "message/rfc822", 400),
        ]
        st, _, before = self.d.api("GET", "/api/v1/accounts")
        for method, path, body, ctype, want in cases:
            with self.subTest(path=path, body=body):
                st, hdrs, resp = self.d.api(method, path, body=body, content_type=ctype or "application/json")
                self.assertEqual(st, want, resp)
                self.assertEqual(hdrs["content-type"], "application/problem+json")
                self.assertEqual(resp["status"], want)
                self.assertTrue(resp["detail"])
        st, _, after = self.d.api("GET", "/api/v1/accounts")
        self.assertEqual(before, after)

    def test_bad_uid_and_oversize_body(self):
        jo = ("jo.bloggs@leeds.care.example", "jo-password-123")
        for uid in ("0", "abc", "99999999999", "-1"):
            st, _, _ = self.d.api(
                "GET", f"/api/v1/accounts/jo.bloggs@leeds.care.example/mailboxes/INBOX/messages/{uid}/raw", basic=jo)
            self.assertEqual(st, 400, uid)
        st, _, _ = self.d.api("GET", "/api/v1/accounts/jo.bloggs@leeds.care.example/mailboxes/INBOX/messages/424242/raw",
                              basic=jo)
        self.assertEqual(st, 404)
        # A declared length over the limit is refused before the body is read.
        with socket.create_connection(("127.0.0.1", self.d.ports["http"]), timeout=10) as s:
            s.sendall(b"POST /api/v1/deliver?to=jo.bloggs@leeds.care.example HTTP/1.1\r\nHost: x\r\n"
                      b"Authorization: Bearer " + self.d.token.encode() + b"\r\n"
                      b"Content-Length: 41943050\r\n\r\n")
            reply = s.recv(4096)
        self.assertTrue(reply.startswith(b"HTTP/1.1 413"), reply)

    def _head_only(self, path, length, headers=b"", wait=5):
        """Sends a request head announcing `length` body octets and none of them: the reply
        (status line and all) or b"" when the server waits for the body."""
        s = socket.create_connection(("127.0.0.1", self.d.ports["http"]), timeout=wait)
        try:
            s.sendall(b"POST " + path.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" +
                      headers + b"Content-Length: %d\r\n\r\n" % length)
            try:
                return s.recv(65536)
            except socket.timeout:
                return b""
        finally:
            s.close()

    def test_bodies_are_limited_by_route_before_they_are_read(self):
        """Issue 14 finding 2: a stranger may send a few KB (sign-in, reset), no more; after
        authentication JSON routes take 1 MB and only message injection takes a message."""
        # Before sign-in: 413 at once, without waiting for (or reading) the body.
        for path in ("/api/v1/sessions", "/api/v1/password-reset", "/api/v1/password-reset/complete",
                     "/api/v1/organisations", "/scim/v2/Users", "/healthz"):
            reply = self._head_only(path, 100_000)
            self.assertTrue(reply.startswith(b"HTTP/1.1 413"), f"{path}: {reply[:200]!r}")
        # Bad credentials: 401 without reading the body (and one failure, not two).
        reply = self._head_only("/api/v1/deliver?to=jo.bloggs@leeds.care.example", 5_000_000,
                                b"Authorization: Bearer cm_not-a-real-token\r\n")
        self.assertTrue(reply.startswith(b"HTTP/1.1 401"), reply[:200])
        # A small sign-in still works (and a 100 KB one with urllib gets 413).
        st, _, _ = self.d.api("POST", "/api/v1/sessions",
                              {"address": "jo.bloggs@leeds.care.example", "password": "jo-password-123"}, token=False)
        self.assertIn(st, (200, 201), st)
        st, _, _ = self.d.api("POST", "/api/v1/sessions",
                              {"address": "jo.bloggs@leeds.care.example", "password": "x" * 100_000}, token=False)
        self.assertEqual(st, 413)
        # Authenticated: JSON routes up to 1 MB, so 2 MB is refused; deliver takes a message.
        auth = b"Authorization: Bearer " + self.d.token.encode() + b"\r\n"
        reply = self._head_only("/api/v1/organisations", 2_000_000, auth)
        self.assertTrue(reply.startswith(b"HTTP/1.1 413"), reply[:200])
        st, _, body = self.d.api("POST", "/api/v1/organisations",
                                 {"ods_code": "RZZ", "name": "n" * 200_000, "domains": ["zz.care.example"]})
        self.assertNotEqual(st, 413, "200 KB of JSON is within the authenticated limit")
        big = make_message("five megabytes", body=("z" * 998 + "\r\n") * 5000)
        st, _, body = self.d.deliver(["jo.bloggs@leeds.care.example"], big)
        self.assertEqual(st, 200, body)
        self.assertEqual(body["size"], len(big))
        # The same with curl (Expect: 100-continue) and with HTTP Basic.
        import tempfile
        with tempfile.NamedTemporaryFile(suffix=".eml") as f:
            f.write(big)
            f.flush()
            out = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--data-binary", "@" + f.name,
                                  "-H", "Content-Type: message/rfc822", "-H", "Authorization: Bearer " + self.d.token,
                                  f"http://127.0.0.1:{self.d.ports['http']}/api/v1/deliver?to=jo.bloggs@leeds.care.example"],
                                 capture_output=True, text=True, timeout=60)
            self.assertEqual(out.stdout, "200", out.stderr)
            out = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--data-binary", "@" + f.name,
                                  "-H", "Content-Type: message/rfc822", "-H", "Transfer-Encoding: chunked",
                                  f"http://127.0.0.1:{self.d.ports['http']}/api/v1/deliver?to=jo.bloggs@leeds.care.example"],
                                 capture_output=True, text=True, timeout=60)
            self.assertIn(out.stdout, ("401", "413"), "chunked without credentials: refused")

    def test_unauthenticated_bodies_do_not_grow_the_server(self):
        """Five strangers streaming 30 MB bodies at password reset: the server must not hold them."""
        pid = self.d.proc.pid

        def rss():
            with open(f"/proc/{pid}/status") as f:
                return next(int(ln.split()[1]) for ln in f if ln.startswith("VmRSS:"))
        before = rss()
        socks = []
        try:
            for i in range(5):
                s = socket.create_connection(("127.0.0.1", self.d.ports["http"]), timeout=10)
                socks.append(s)
                s.sendall(b"POST /api/v1/password-reset HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                          b"Content-Length: 30000000\r\n\r\n")
                s.settimeout(0.2)
                try:
                    for _ in range(30):
                        s.sendall(b"a" * 1_000_000)
                except OSError:
                    pass  # refused and closed: what we want
            after = rss()
        finally:
            for s in socks:
                s.close()
        print(f"\nRSS before {before} KB, with 5 unauthenticated 30 MB bodies {after} KB")
        self.assertLess(after - before, 20 * 1024)

    def test_message_over_the_size_limit_is_refused(self):
        msg = make_message("big", body="y" * (36700160 + 100))
        st, _, body = self.d.deliver(["jo.bloggs@leeds.care.example"], msg)
        self.assertEqual(st, 413, body)

    def test_audit_chain_records_admin_actions(self):
        st, _, audit = self.d.api("GET", "/api/v1/audit?limit=1000")
        self.assertEqual(st, 200)
        actions = [(e["actor"], e["action"], e["target"]) for e in audit["events"]]
        self.assertIn((ADMIN, "organisation.create", "RX1"), actions)
        self.assertIn((ADMIN, "account.create", "jo.bloggs@leeds.care.example"), actions)
        self.assertTrue(all(len(e["hash"]) == 64 for e in audit["events"]))
        # A plain user may not read the audit log.
        st, _, _ = self.d.api("GET", "/api/v1/audit", basic=("jo.bloggs@leeds.care.example", "jo-password-123"))
        self.assertEqual(st, 403)


if __name__ == "__main__":
    unittest.main()

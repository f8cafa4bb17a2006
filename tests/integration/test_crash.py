"""Never lose accepted mail: kill -9 the daemon during a burst of deliveries, restart it,
and prove that every acknowledged message is present and byte-identical, and that quota
and mailbox counters match the stored rows."""
import http.client
import os
import random
import threading
import time
import unittest

from harness import Daemon, make_message, sha256

USERS = [f"user{i}@crash.care.example" for i in range(4)]
PASSWORD = "crash-test-password"
WRITERS = 8
ROUNDS = 3


class CrashTest(unittest.TestCase):
    def test_kill9_during_burst_loses_nothing_acknowledged(self):
        d = Daemon()
        try:
            d.start()
            d.create_org("CR1", "Crash Test Trust", ["crash.care.example"])
            for u in USERS:
                d.create_user(u, "CR1", PASSWORD)
            tokens = {u: d.user_token(u, PASSWORD) for u in USERS}
            acked = {}  # (user, uid) -> sha256 of what was sent
            checked = {u: 0 for u in USERS}  # highest uid whose bytes were verified
            total_acked = 0
            for round_no in range(ROUNDS):
                acked_now, attempted = self.burst(d, round_no)
                total_acked += len(acked_now)
                acked.update(acked_now)
                self.assertGreater(len(acked_now), 20, "the burst should acknowledge deliveries before the kill")
                self.assertGreater(attempted, len(acked_now), "some deliveries must be in flight at the kill")
                d.start()
                self.verify(d, acked, tokens, checked)
            print(f"crash test: {ROUNDS} kills, {total_acked} acknowledged deliveries, all present and intact")
            d.stop()
            r = d.fsck()
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertIn(" 0 problems", r.stdout)
        finally:
            d.cleanup()

    def burst(self, d, round_no):
        acked = {}
        attempted = [0]
        lock = threading.Lock()
        stop = threading.Event()
        port = d.ports["http"]

        def writer(n):
            rnd = random.Random(round_no * 1000 + n)
            i = 0
            while not stop.is_set():
                user = rnd.choice(USERS)
                size = rnd.choice([2_000, 4_000, 30_000, 120_000])
                body = f"round {round_no} writer {n} message {i}\r\n" + ("x" * 76 + "\r\n") * (size // 78)
                msg = make_message(f"crash r{round_no} w{n} m{i}", body=body, to=user)
                i += 1
                with lock:
                    attempted[0] += 1
                try:
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                    conn.request("POST", f"/api/v1/deliver?to={user}", body=msg,
                                 headers={"Authorization": "Bearer " + d.token, "Content-Type": "message/rfc822"})
                    resp = conn.getresponse()
                    payload = resp.read()
                    conn.close()
                except (OSError, http.client.HTTPException):
                    return  # the daemon is gone: this delivery was never acknowledged
                if resp.status == 200:
                    import json
                    r = json.loads(payload)["recipients"][0]
                    self.assertTrue(r["delivered"])
                    with lock:
                        acked[(user, r["uid"])] = sha256(msg)

        threads = [threading.Thread(target=writer, args=(n,)) for n in range(WRITERS)]
        for t in threads:
            t.start()
        time.sleep(1.5 + round_no * 0.37)
        d.kill9()
        stop.set()
        for t in threads:
            t.join(60)
        return acked, attempted[0]

    def verify(self, d, acked, tokens, checked):
        for user in USERS:
            token = tokens[user]
            st, _, listing = d.api("GET", f"/api/v1/accounts/{user}/mailboxes/INBOX/messages", token=token)
            self.assertEqual(st, 200, listing)
            present = {m["uid"]: m for m in listing["messages"]}
            for (u, uid), digest in acked.items():
                if u != user:
                    continue
                self.assertIn(uid, present, f"acknowledged message {user} uid {uid} is missing")
                self.assertEqual(present[uid]["blob"], digest)
            # Everything that arrived since the last check (acknowledged or not) is intact;
            # older messages were read after the previous kill, and fsck reads them all at the end.
            for uid, m in present.items():
                if uid <= checked[user]:
                    continue
                st, _, raw = d.api("GET", f"/api/v1/accounts/{user}/mailboxes/INBOX/messages/{uid}/raw",
                                   token=token, raw_body=True)
                self.assertEqual(st, 200)
                # Its own Delivered-To (kept with the entry), then the stored message.
                trace = b"Delivered-To: " + user.encode() + b"\r\n"
                self.assertTrue(raw.startswith(trace), f"{user} uid {uid}: {raw[:100]!r}")
                self.assertEqual(sha256(raw[len(trace):]), m["blob"], f"{user} uid {uid} is damaged")
                self.assertEqual(len(raw), m["size"])
            checked[user] = max(present, default=0)
            st, _, q = d.api("GET", f"/api/v1/accounts/{user}/quota", token=token)
            self.assertEqual(q["messages"], len(present))
            self.assertEqual(q["used_bytes"], sum(m["size"] for m in present.values()))


class SmtpCrashTest(unittest.TestCase):
    """The same promise through the SMTP MX port: a 250 after the final dot survives kill -9."""

    def test_kill9_during_smtp_burst(self):
        import smtplib
        d = Daemon()
        try:
            d.start()
            d.create_org("CR1", "Crash Test Trust", ["crash.care.example"])
            for u in USERS:
                d.create_user(u, "CR1", PASSWORD)
            tokens = {u: d.user_token(u, PASSWORD) for u in USERS}
            acked = {}
            lock = threading.Lock()
            stop = threading.Event()
            port = d.ports["smtp"]

            def writer(n):
                rnd = random.Random(n)
                try:
                    c = smtplib.SMTP("127.0.0.1", port, timeout=30)
                    i = 0
                    while not stop.is_set():
                        user = rnd.choice(USERS)
                        subject = f"smtp crash w{n} m{i}"
                        msg = make_message(subject, body=("y" * 70 + "\r\n") * rnd.choice([20, 200, 1500]), to=user)
                        i += 1
                        c.sendmail("gp@practice.example", [user], msg)
                        with lock:
                            acked[subject] = (user, len(msg))
                except (OSError, smtplib.SMTPException):
                    return  # the daemon is gone; the message in flight was never acknowledged

            threads = [threading.Thread(target=writer, args=(n,)) for n in range(WRITERS)]
            for t in threads:
                t.start()
            time.sleep(2.0)
            d.kill9()
            stop.set()
            for t in threads:
                t.join(60)
            self.assertGreater(len(acked), 20)
            d.start()
            present = {}
            for u in USERS:
                st, _, listing = d.api("GET", f"/api/v1/accounts/{u}/mailboxes/INBOX/messages", token=tokens[u])
                for m in listing["messages"]:
                    present[m["subject"]] = (u, m)
            for subject, (user, size) in acked.items():
                self.assertIn(subject, present, f"acknowledged SMTP message {subject} is missing")
                self.assertEqual(present[subject][0], user)
                self.assertGreater(present[subject][1]["size"], size, "stored with its trace headers")
            print(f"smtp crash test: {len(acked)} acknowledged, all present")
            d.stop()
            r = d.fsck()
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        finally:
            d.cleanup()


if __name__ == "__main__":
    unittest.main()

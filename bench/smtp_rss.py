#!/usr/bin/env python3
"""bench/smtp_rss: how much memory caremaild holds while connections send large messages
to the MX port (issue 14: a connection must not hold a 35 MB message).

    bench/smtp_rss.py [BUILD_DIR] [--conns 5] [--mb 30] [--spool-threshold BYTES]

Starts BUILD_DIR/src/caremaild (default build) with the integration harness, makes one
mailbox with room, then CONNS connections each send one MB-megabyte message at once while
the script samples caremaild's /proc status every 20 ms. Prints what is resident while
the messages have arrived but not ended (reception), then the resident set before, its
peak (VmHWM, including delivery), and the peak of anonymous memory (RssAnon) and of file-backed pages
(RssFile: the mapped spool, reclaimable page cache), in MB. --spool-threshold 0 keeps
every message in memory (the behaviour before the spool), for comparison.
"""
import argparse
import os
import smtplib
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "integration"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build", nargs="?", default="build")
    ap.add_argument("--conns", type=int, default=5)
    ap.add_argument("--mb", type=int, default=30)
    ap.add_argument("--spool-threshold", type=int, default=None)
    args = ap.parse_args()
    os.environ.setdefault("CAREMAILD", os.path.join(args.build, "src", "caremaild"))
    os.environ.setdefault("CAREMAILCTL", os.path.join(args.build, "src", "caremailctl"))
    from harness import Daemon, proc_status as status
    extra = ""
    if args.spool_threshold is not None:
        extra = f"[smtp]\nspool_threshold_bytes = {args.spool_threshold}\n"
    with Daemon(extra) as d:
        d.create_org("RSS1", "Memory test", ["rss.care.example"])
        user = "big@rss.care.example"
        d.create_user(user, "RSS1", "amber-lantern-58", quota_bytes=10 << 30)
        pid = d.proc.pid
        time.sleep(0.5)
        before = status(pid)
        line = ("x" * 76 + "\r\n").encode()
        body = line * ((args.mb << 20) // len(line))
        msg = (b"From: gp@practice.example\r\nTo: " + user.encode() + b"\r\nSubject: big\r\n\r\n" + body)
        peak = {"RssAnon": 0.0, "RssFile": 0.0, "VmRSS": 0.0}
        done = threading.Event()

        def sample():
            while not done.is_set():
                try:
                    st = status(pid)
                except OSError:
                    return
                for k in peak:
                    peak[k] = max(peak[k], st.get(k, 0.0))
                time.sleep(0.02)

        codes = []
        # Every connection sends its whole message but the final dot, then waits until all
        # have: the resident set then is what reception holds. Then the dots go, and the
        # peak after that is delivery's (blob hashing, sealing and writing on workers).
        sent_all = threading.Barrier(args.conns + 1)
        go = threading.Event()

        def send():
            with smtplib.SMTP("127.0.0.1", d.ports["smtp"], timeout=300) as c:
                c.ehlo("rss.example")
                c.mail("gp@practice.example")
                c.rcpt(user)
                c.putcmd("data")
                c.getreply()
                c.send(msg)  # CRLF lines, none starting with a dot: nothing to stuff
                sent_all.wait(timeout=240)
                go.wait()
                c.send(b".\r\n")
                codes.append(c.getreply()[0])

        s = threading.Thread(target=sample)
        s.start()
        t0 = time.time()
        senders = [threading.Thread(target=send) for _ in range(args.conns)]
        for t in senders:
            t.start()
        sent_all.wait(timeout=240)
        time.sleep(1.0)  # the last octets reach the server
        held = status(pid)
        recv_peak = dict(peak)
        go.set()
        for t in senders:
            t.join()
        done.set()
        s.join()
        after = status(pid)
        print(f"{args.conns} connections x {args.mb} MB, spool threshold "
              f"{'default' if args.spool_threshold is None else args.spool_threshold}: replies {codes}, "
              f"{time.time() - t0:.1f} s")
        print(f"  receiving (all sent but the final dots): RSS {held['VmRSS']:.0f} MB, RssAnon {held['RssAnon']:.0f} MB "
              f"(peak so far {recv_peak['RssAnon']:.0f} MB), RssFile {held['RssFile']:.0f} MB")
        print(f"  RSS before {before['VmRSS']:.0f} MB, peak {after['VmHWM']:.0f} MB (sampled {peak['VmRSS']:.0f}); "
              f"peak RssAnon {peak['RssAnon']:.0f} MB, peak RssFile {peak['RssFile']:.0f} MB; "
              f"after {after['VmRSS']:.0f} MB")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""bench/imap_search: IMAP in one large mailbox (issue 4: "search stays fast in a
100,000-message mailbox").

    bench/imap_search.py [BUILD_DIR]           default BUILD_DIR: build

Starts BUILD_DIR/src/caremaild on loopback ports with a temporary data directory, fills one
INBOX over SMTP (8 connections) with generated clinical-looking mail, waits until the
full-text indexer has caught up (caremail_fts_queue = 0 in /metrics), then times with
Python's imaplib, each operation REPS times (median reported):
  SELECT, UID SEARCH UNSEEN, SEARCH FROM, SEARCH SUBJECT, SEARCH BODY (rare word, common
  word, two words), SEARCH TEXT, UID FETCH of a 50-message page (ENVELOPE FLAGS), a body
  fetch, STORE on one message, and the time from an SMTP delivery to "* n EXISTS" in a
  second session in IDLE.

Environment (all optional):
    IMAP_SEARCH_MESSAGES   messages in the mailbox (100000)
    IMAP_SEARCH_REPS       timings per operation (5)
    BENCH_NOTES            free text for the JSON "notes"

Writes bench/results/imap-search-<UTC date-time>.json and prints a table.
"""
import imaplib
import json
import os
import platform
import random
import smtplib
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BUILD = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build")
os.environ.setdefault("CAREMAILD", os.path.join(os.path.abspath(BUILD), "src", "caremaild"))
os.environ.setdefault("CAREMAILCTL", os.path.join(os.path.abspath(BUILD), "src", "caremailctl"))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import harness  # noqa: E402

N = int(os.environ.get("IMAP_SEARCH_MESSAGES", "100000"))
REPS = int(os.environ.get("IMAP_SEARCH_REPS", "5"))
USER = "big.mailbox@search.care.example"
PASSWORD = "search-bench-password-1"

WORDS = ("patient referral discharge summary appointment clinic ward pharmacy prescription medication review "
         "follow-up results blood test imaging report consultant nurse practice surgery outpatient inpatient "
         "admission transfer assessment plan allergy history examination diagnosis treatment therapy dose "
         "monitoring observation letter request urgent routine please attached regards thanks team meeting "
         "schedule rota audit governance safeguarding consent capacity community district physiotherapy "
         "radiology pathology microbiology haematology oncology paediatrics maternity midwife health visitor").split()


def log(*a):
    print("imap_search:", *a, file=sys.stderr, flush=True)


def message(i, rng):
    words = rng.choices(WORDS, k=180)
    if i % 20 == 0:
        words.insert(rng.randrange(len(words)), "cardiology")
    if i % 1000 == 7:
        words.insert(rng.randrange(len(words)), "zygomatic")
    body = "\r\n".join(" ".join(words[j:j + 15]) for j in range(0, len(words), 15))
    subject = " ".join(rng.choices(WORDS, k=5)) + (" cardiology" if i % 50 == 0 else "")
    sender = f"clinician{i % 400}@practice{i % 37}.example"
    return (f"From: Clinician {i % 400} <{sender}>\r\nTo: {USER}\r\nSubject: {subject}\r\n"
            f"Date: Sat, 21 Nov 2026 {i % 24:02d}:{i % 60:02d}:00 +0000\r\nMessage-ID: <m{i}@bench>\r\n"
            f"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n").encode()


def fill(d):
    port = d.ports["smtp"]
    threads = 8
    done = [0]
    lock = threading.Lock()

    def worker(t):
        rng = random.Random(t)
        c = smtplib.SMTP("127.0.0.1", port, timeout=120)
        sent = 0
        for i in range(t, N, threads):
            if sent and sent % 1000 == 0:  # smtp.max_commands per connection
                c.quit()
                c = smtplib.SMTP("127.0.0.1", port, timeout=120)
            c.sendmail(f"clinician{i % 400}@practice.example", [USER], message(i, rng))
            sent += 1
            with lock:
                done[0] += 1
        c.quit()

    start = time.time()
    ts = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
    for t in ts:
        t.start()
    last = 0
    while any(t.is_alive() for t in ts):
        time.sleep(5)
        if done[0] - last >= 10000 or not any(t.is_alive() for t in ts):
            log(f"{done[0]} delivered ({done[0] / (time.time() - start):.0f}/s)")
            last = done[0]
    for t in ts:
        t.join()
    return time.time() - start


def fts_queue(d):
    with urllib.request.urlopen(f"http://127.0.0.1:{d.ports['http']}/metrics", timeout=10) as r:
        for line in r.read().decode().splitlines():
            if line.startswith("caremail_fts_queue "):
                return int(float(line.split()[1]))
    return -1


def timed(fn, reps=REPS):
    out = []
    result = None
    for _ in range(reps):
        t = time.perf_counter()
        result = fn()
        out.append((time.perf_counter() - t) * 1000)
    return statistics.median(out), out, result


def main():
    d = harness.Daemon("[server]\nworker_threads = 12\n[imap]\nallow_plaintext_auth_on_loopback = true\n"
                       "[quota]\ndefault_mailbox_bytes = 21474836480\n")
    d.start()
    results = {}
    try:
        d.create_org("SRCH1", "Search bench", ["search.care.example"])
        d.create_user(USER, "SRCH1", PASSWORD)
        fill_s = fill(d)
        log(f"filled {N} messages in {fill_s:.1f} s")
        t0 = time.time()
        while fts_queue(d) > 0:
            time.sleep(2)
        index_s = time.time() - t0
        log(f"indexer caught up {index_s:.1f} s after the last delivery")
        du = subprocess.run(["du", "-sm", os.path.join(d.data_dir, "fts")], capture_output=True, text=True).stdout
        fts_mb = int(du.split()[0]) if du else None

        M = imaplib.IMAP4("127.0.0.1", d.ports["imap"])
        M.login(USER, PASSWORD)
        ops = {}

        def op(name, fn, check=None):
            med, all_ms, res = timed(fn)
            if check:
                check(res)
            ops[name] = {"median_ms": round(med, 2), "runs_ms": [round(x, 2) for x in all_ms]}
            log(f"{name:38s} {med:9.1f} ms")
            return res

        def count(res):
            return len(res[1][0].split()) if res[1] and res[1][0] else 0

        exists = op("SELECT INBOX", lambda: M.select("INBOX"))
        assert int(exists[1][0]) == N, exists
        op("UID SEARCH UNSEEN", lambda: M.uid("SEARCH", "UNSEEN"), lambda r: count(r) == N or sys.exit(r))
        op("SEARCH FROM clinician17@", lambda: M.search(None, "FROM", "clinician17@"))
        op("SEARCH SUBJECT cardiology", lambda: M.search(None, "SUBJECT", "cardiology"))
        rare = op("SEARCH BODY zygomatic (0.1%)", lambda: M.search(None, "BODY", "zygomatic"))
        common = op("SEARCH BODY cardiology (5%)", lambda: M.search(None, "BODY", "cardiology"))
        op("SEARCH BODY zygomatic cardiology", lambda: M.search(None, "BODY", '"zygomatic cardiology"'))
        op("SEARCH TEXT cardiology", lambda: M.search(None, "TEXT", "cardiology"))
        op("SEARCH BODY zygomatic UNSEEN FROM x", lambda: M.search(None, "BODY", "zygomatic", "UNSEEN", "FROM",
                                                                     "clinician"))
        op("UID FETCH page of 50 (ENVELOPE FLAGS)", lambda: M.uid("FETCH", f"{N - 60}:{N - 11}", "(ENVELOPE FLAGS)"))
        op("FETCH one body (BODY.PEEK[])", lambda: M.fetch(str(N // 2), "(BODY.PEEK[])"))
        op("STORE +FLAGS \\Flagged (one)", lambda: M.store(str(N // 3), "+FLAGS", "(\\Flagged)"))
        op("NOOP", lambda: M.noop())
        n_rare, n_common = count(rare), count(common)
        expect_rare = len([i for i in range(N) if i % 1000 == 7])
        expect_common = len([i for i in range(N) if i % 20 == 0])
        assert n_rare == expect_rare, (n_rare, expect_rare)
        assert n_common == expect_common, (n_common, expect_common)

        # Delivery -> "* n EXISTS" in an IDLE session on this mailbox.
        s = socket.create_connection(("127.0.0.1", d.ports["imap"]))
        f = s.makefile("rb")
        f.readline()
        s.sendall(f"a LOGIN {USER} {PASSWORD}\r\nb SELECT INBOX\r\nc IDLE\r\n".encode())
        while not f.readline().startswith(b"+ "):
            pass
        lat = []
        rng = random.Random(99)
        with smtplib.SMTP("127.0.0.1", d.ports["smtp"]) as c:
            for k in range(REPS):
                t = time.perf_counter()
                c.sendmail("x@practice.example", [USER], message(N + k, rng))
                while b"EXISTS" not in f.readline():
                    pass
                lat.append((time.perf_counter() - t) * 1000)
        s.sendall(b"DONE\r\nz LOGOUT\r\n")
        s.close()
        ops["SMTP delivery -> IDLE EXISTS"] = {"median_ms": round(statistics.median(lat), 2),
                                               "runs_ms": [round(x, 2) for x in lat]}
        log(f"{'SMTP delivery -> IDLE EXISTS':38s} {statistics.median(lat):9.1f} ms")
        M.logout()
        rss_kb = None
        with open(f"/proc/{d.proc.pid}/status") as st:
            for line in st:
                if line.startswith("VmHWM:"):
                    rss_kb = int(line.split()[1])
        results = {
            "benchmark": "imap-search",
            "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                        "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)},
            "messages": N,
            "fill_seconds": round(fill_s, 1),
            "fill_msgs_per_s": round(N / fill_s),
            "indexer_lag_after_fill_seconds": round(index_s, 1),
            "fts_index_mb": fts_mb,
            "caremaild_peak_rss_mb": round(rss_kb / 1024) if rss_kb else None,
            "reps": REPS,
            "operations": ops,
            "notes": os.environ.get("BENCH_NOTES", ""),
        }
    finally:
        d.cleanup()
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    path = os.path.join(HERE, "results", "imap-search-" + time.strftime("%Y-%m-%dT%H%M%SZ", time.gmtime()) + ".json")
    with open(path, "w") as fjson:
        json.dump(results, fjson, indent=2)
    print(f"\n{N} messages; medians of {REPS}:")
    for name, v in results["operations"].items():
        print(f"  {name:38s} {v['median_ms']:9.1f} ms")
    print(f"written {path}")


if __name__ == "__main__":
    main()

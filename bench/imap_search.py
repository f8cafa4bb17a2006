#!/usr/bin/env python3
"""bench/imap_search: IMAP in one large mailbox, Caremail and Debian's Dovecot in the same run
(issue 4: "search stays fast in a 100,000-message mailbox"; issue 15, deliverable 5).

    bench/imap_search.py [BUILD_DIR]           default BUILD_DIR: build

Both servers hold the same N generated clinical-looking messages in one INBOX, with the same
UIDs (UID n is the same message on both) and the same internal dates:

  caremail  BUILD_DIR/src/caremaild (or $CAREMAILD) on loopback ports with a temporary data
            directory (tests/integration/harness.py), filled by 8 concurrent deliveries over
            the admin API (POST /api/v1/deliver, the same delivery path as SMTP without the
            SMTP dialogue; IMAP_SEARCH_CAREMAIL_FILL=smtp uses 8 SMTP connections instead).
            Timing starts once the full-text indexer has caught up (caremail_fts_queue = 0).
  dovecot   a private Dovecot (bench/imap_bench.py's Dovecot class: root-started instance on
            127.0.0.1, throwaway config, mail owned by nobody, passwd-file, no FTS plugin).
            LMTP is far too slow for 100,000 messages (~70 msg/s here), so the Maildir files
            are written directly into cur/ (maildir names with S= and W=, LF line endings as
            Dovecot's own deliveries store them, file mtime = Caremail's INTERNALDATE), in
            Caremail's UID order, with the Delivered-To line caremaild adds; Dovecot assigns
            UIDs by file name, which sorts in that order.
            Then one untimed SELECT builds Dovecot's index (its duration is recorded).

Before timing, each server gets the same untimed UID FETCH 1:* (INTERNALDATE Message-ID),
which also checks that UID n is the same message on both. Then, with Python's imaplib (one
session per server), every operation REPS times, Caremail and Dovecot alternating rep by rep
(medians reported, each rep kept):
  SELECT INBOX; UID SEARCH UNSEEN; SEARCH FROM x; SEARCH SUBJECT x; SEARCH BODY (rare word,
  common word, two words), SEARCH TEXT, BODY + UNSEEN + FROM; UID FETCH of a 50-message page
  (ENVELOPE FLAGS) and the headers page bench/imap_load uses (UID FLAGS RFC822.SIZE
  BODY.PEEK[HEADER.FIELDS (FROM TO SUBJECT DATE)]); UID FETCH one body; UID SORT (DATE) and
  UID SORT (REVERSE ARRIVAL) US-ASCII ALL; UID STORE of one flag (set and cleared in turn);
  NOOP. The SEARCH/SORT results of the two servers are compared (same UIDs expected).
  Dovecot has no full-text index here: its BODY/TEXT searches read every message file.
  Caremail only: the time from an SMTP delivery to "* n EXISTS" in a second session in IDLE,
  and caremaild's VmRSS/VmHWM after the fill, after each operation's reps and 35 s after the
  last (past its 30 s malloc_trim).

Environment (all optional):
    IMAP_SEARCH_MESSAGES      messages in the mailbox (100000)
    IMAP_SEARCH_REPS          timings per operation and server (5)
    IMAP_SEARCH_SYSTEMS       caremail,dovecot (either alone; dovecot alone writes UIDs in
                              generation order with synthetic internal dates)
    IMAP_SEARCH_CAREMAIL_FILL http (default) or smtp
    IMAP_SEARCH_KEEP          1: keep bench/work/imap-search-<stamp>/ (Dovecot's Maildir, logs)
    BENCH_NOTES               free text for the JSON "notes" (load average is added)

Dovecot needs root and the Debian packages dovecot-core, dovecot-imapd, dovecot-lmtpd
(installed with apt-get when missing, nothing started system-wide).
Writes bench/results/imap-search-<UTC date-time>.json and prints a side-by-side table
(ratio = Dovecot ms / Caremail ms: above 1, Caremail is faster).
"""
import hashlib
import imaplib
import json
import os
import random
import re
import smtplib
import socket
import statistics
import subprocess
import sys
import threading
import time
import http.client
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BUILD = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build")
os.environ.setdefault("CAREMAILD", os.path.join(os.path.abspath(BUILD), "src", "caremaild"))
os.environ.setdefault("CAREMAILCTL", os.path.join(os.path.abspath(BUILD), "src", "caremailctl"))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
sys.path.insert(0, HERE)
import harness  # noqa: E402
import imap_bench  # noqa: E402  (its Dovecot class and package check)
from smtp_bench import machine_info, package_version, remove_work  # noqa: E402

N = int(os.environ.get("IMAP_SEARCH_MESSAGES", "100000"))
REPS = int(os.environ.get("IMAP_SEARCH_REPS", "5"))
SYSTEMS = [s.strip() for s in os.environ.get("IMAP_SEARCH_SYSTEMS", "caremail,dovecot").split(",") if s.strip()]
CAREMAIL_FILL = os.environ.get("IMAP_SEARCH_CAREMAIL_FILL", "http")
KEEP = os.environ.get("IMAP_SEARCH_KEEP", "") not in ("", "0")
USER = "big.mailbox@search.care.example"
PASSWORD = "search-bench-password-1"
imaplib._MAXLINE = 50_000_000  # a SEARCH/SORT of 100,000 UIDs is one ~600 KB line

WORDS = ("patient referral discharge summary appointment clinic ward pharmacy prescription medication review "
         "follow-up results blood test imaging report consultant nurse practice surgery outpatient inpatient "
         "admission transfer assessment plan allergy history examination diagnosis treatment therapy dose "
         "monitoring observation letter request urgent routine please attached regards thanks team meeting "
         "schedule rota audit governance safeguarding consent capacity community district physiotherapy "
         "radiology pathology microbiology haematology oncology paediatrics maternity midwife health visitor").split()


def log(*a):
    print("imap_search:", *a, file=sys.stderr, flush=True)


def message(i):
    """Message i (deterministic: the same bytes for both servers, whatever order they arrive in).
    ~1.5 KB; "cardiology" in 5% of bodies and 2% of subjects, "zygomatic" in 0.1% of bodies;
    Date headers spread over a year in an order unrelated to i (SORT (DATE) has work to do)."""
    rng = random.Random(i)
    words = rng.choices(WORDS, k=180)
    if i % 20 == 0:
        words.insert(rng.randrange(len(words)), "cardiology")
    if i % 1000 == 7:
        words.insert(rng.randrange(len(words)), "zygomatic")
    body = "\r\n".join(" ".join(words[j:j + 15]) for j in range(0, len(words), 15))
    subject = " ".join(rng.choices(WORDS, k=5)) + (" cardiology" if i % 50 == 0 else "")
    sender = f"clinician{i % 400}@practice{i % 37}.example"
    date = time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime(1767225600 + (i * 7919 % 524287) * 60))
    return (f"From: Clinician {i % 400} <{sender}>\r\nTo: {USER}\r\nSubject: {subject}\r\n"
            f"Date: {date}\r\nMessage-ID: <m{i}@bench>\r\n"
            f"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n").encode()


# ---------------------------------------------------------------------------------------
# Filling

def fill_caremail(d, method, threads=8):
    """Delivers messages 0..N-1 over `threads` concurrent connections (arrival order, hence
    UIDs, not in i order: the UID order is read back afterwards)."""
    done = [0]
    lock = threading.Lock()
    errors = []

    def worker_smtp(t):
        c = smtplib.SMTP("127.0.0.1", d.ports["smtp"], timeout=120)
        sent = 0
        for i in range(t, N, threads):
            if sent and sent % 1000 == 0:  # smtp.max_commands per connection
                c.quit()
                c = smtplib.SMTP("127.0.0.1", d.ports["smtp"], timeout=120)
            c.sendmail(f"clinician{i % 400}@practice.example", [USER], message(i))
            sent += 1
            with lock:
                done[0] += 1
        c.quit()

    def worker_http(t):
        c = http.client.HTTPConnection("127.0.0.1", d.ports["http"], timeout=120)
        for i in range(t, N, threads):
            c.request("POST", "/api/v1/deliver?to=" + USER, body=message(i),
                      headers={"Authorization": "Bearer " + d.token, "Content-Type": "message/rfc822"})
            r = c.getresponse()
            body = r.read()
            if r.status != 200:
                errors.append((i, r.status, body[:200]))
                return
            with lock:
                done[0] += 1
        c.close()

    worker = worker_http if method == "http" else worker_smtp
    start = time.time()
    ts = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
    for t in ts:
        t.start()
    last = 0
    while any(t.is_alive() for t in ts):
        time.sleep(0.5)
        if done[0] - last >= 10000:
            log(f"caremail: {done[0]} delivered ({done[0] / (time.time() - start):.0f}/s)")
            last = done[0]
    for t in ts:
        t.join()
    if errors or done[0] != N:
        sys.exit(f"caremail fill failed: {done[0]}/{N} delivered; {errors[:3]}")
    return time.time() - start


def mem_mb(pid):
    """VmRSS and VmHWM (peak) of a process, MB."""
    out = {}
    try:
        with open(f"/proc/{pid}/status") as st:
            for line in st:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    out[line.split(":")[0].lower().replace("vm", "") + "_mb"] = round(int(line.split()[1]) / 1024)
    except OSError:
        pass
    return out


def fts_queue(d):
    with urllib.request.urlopen(f"http://127.0.0.1:{d.ports['http']}/metrics", timeout=10) as r:
        for line in r.read().decode().splitlines():
            if line.startswith("caremail_fts_queue "):
                return int(float(line.split()[1]))
    return -1


FETCH_IDS = "(INTERNALDATE BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])"


def uid_map(M):
    """UID FETCH 1:* (INTERNALDATE Message-ID): [(uid, i, internaldate epoch)] in UID order."""
    typ, data = M.uid("FETCH", "1:*", FETCH_IDS)
    assert typ == "OK", (typ, data)
    out = []
    for item in data:
        if not isinstance(item, tuple):
            continue
        head = item[0].decode()
        uid = int(re.search(r"UID (\d+)", head).group(1))
        when = time.mktime(imaplib.Internaldate2tuple(item[0]))
        i = int(re.search(rb"<m(\d+)@bench>", item[1]).group(1))
        out.append((uid, i, when))
    out.sort()
    return out


# caremaild adds this trace field to each delivered copy (MailService); Dovecot's LMTP would
# add its own (Return-Path, Delivered-To, Received): the Maildir files get the same one line,
# so both servers hold the same bytes.
TRACE = f"Delivered-To: {USER}\r\n".encode()


def fill_dovecot_maildir(dv, order):
    """Writes the messages as Maildir files in cur/ of Dovecot's mailbox for bench user 1, in
    `order` ([(i, mtime)]): names sort in that order, so Dovecot's UIDs follow it."""
    home = os.path.join(dv.mail, "u1")
    md = os.path.join(home, "Maildir")
    for p in (home, md) + tuple(os.path.join(md, s) for s in ("cur", "new", "tmp")):
        os.makedirs(p, exist_ok=True)
        os.chown(p, dv.uid, dv.gid)
        os.chmod(p, 0o700)
    cur = os.path.join(md, "cur")
    base = int(time.time()) - len(order) - 10
    pid = os.getpid()
    t = time.time()
    total = 0
    for k, (i, mtime) in enumerate(order):
        crlf = TRACE + message(i)
        lf = crlf.replace(b"\r\n", b"\n")
        name = f"{base + k}.M{k % 1000000}P{pid}Q{k}.bench,S={len(lf)},W={len(crlf)}:2,"
        path = os.path.join(cur, name)
        with open(path, "wb") as f:
            f.write(lf)
        os.chown(path, dv.uid, dv.gid)
        os.utime(path, (mtime, mtime))
        total += len(lf)
    return time.time() - t, total


# ---------------------------------------------------------------------------------------
# Timing

def numbers(res):
    """The numbers of a SEARCH/SORT answer, in answer order."""
    out = []
    for line in res[1] or []:
        if line:
            out.extend(int(x) for x in line.split())
    return out


def summary_of(res):
    typ, data = res
    if typ != "OK":
        return {"status": typ, "text": repr(data)[:200]}
    return {"status": typ, "bytes": sum(len(x[0]) + len(x[1]) if isinstance(x, tuple) else len(x or b"")
                                        for x in data)}


def main():
    unknown = [s for s in SYSTEMS if s not in ("caremail", "dovecot")]
    if unknown or not SYSTEMS:
        sys.exit(f"IMAP_SEARCH_SYSTEMS: caremail and/or dovecot, not {unknown}")
    if "dovecot" in SYSTEMS:
        if os.geteuid() != 0:
            sys.exit("dovecot needs root (a private instance started by root; IMAP_SEARCH_SYSTEMS=caremail)")
        imap_bench.ensure_packages()
    stamp = time.strftime("%Y-%m-%dT%H%M%SZ", time.gmtime())
    load_start = os.getloadavg()
    work = os.path.join(HERE, "work", f"imap-search-{stamp}")
    os.makedirs(work)
    os.chmod(os.path.join(HERE, "work"), 0o755)
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "HEAD"], text=True, stdout=subprocess.PIPE).stdout.strip()
    cm_bin = os.environ["CAREMAILD"]
    d = dv = None
    sessions = {}
    fill = {}
    extra = {}
    dv_extra = {}
    ops = {}
    results = {}
    try:
        order = [(i, 1767225600 + i) for i in range(N)]  # dovecot alone: generation order
        if "caremail" in SYSTEMS:
            d = harness.Daemon("[server]\nworker_threads = 12\n[imap]\nallow_plaintext_auth_on_loopback = true\n"
                               "[quota]\ndefault_mailbox_bytes = 21474836480\n")
            d.start()
            d.create_org("SRCH1", "Search bench", ["search.care.example"])
            d.create_user(USER, "SRCH1", PASSWORD)
            fill_s = fill_caremail(d, CAREMAIL_FILL)
            log(f"caremail: {N} messages in {fill_s:.1f} s ({N / fill_s:.0f}/s, {CAREMAIL_FILL})")
            t0 = time.time()
            while fts_queue(d) > 0:
                time.sleep(1)
            index_s = time.time() - t0
            log(f"caremail: indexer caught up {index_s:.1f} s after the last delivery")
            rss_stages = {"after_fill_and_index": mem_mb(d.proc.pid)}
            du = subprocess.run(["du", "-sm", os.path.join(d.data_dir, "fts")], capture_output=True, text=True).stdout
            fill["caremail"] = {
                "method": ("POST /api/v1/deliver (admin API, the delivery path SMTP uses), 8 concurrent keep-alive "
                           "HTTP connections" if CAREMAIL_FILL == "http" else "SMTP, 8 concurrent connections"),
                "seconds": round(fill_s, 1), "msgs_per_s": round(N / fill_s),
                "indexer_lag_after_fill_seconds": round(index_s, 1), "fts_index_mb": int(du.split()[0]) if du else None,
                "data_dir_mb": int(subprocess.run(["du", "-sm", d.data_dir], capture_output=True,
                                                  text=True).stdout.split()[0])}
            M = imaplib.IMAP4("127.0.0.1", d.ports["imap"])
            M.login(USER, PASSWORD)
            M.select("INBOX")
            t0 = time.time()
            cm_map = uid_map(M)
            fill["caremail"]["untimed_uid_fetch_seconds"] = round(time.time() - t0, 1)
            assert [u for u, _, _ in cm_map] == list(range(1, N + 1)), "caremail UIDs are not 1..N"
            order = [(i, when) for _, i, when in cm_map]
            rss_stages["after_untimed_uid_fetch"] = mem_mb(d.proc.pid)
            sessions["caremail"] = M
        if "dovecot" in SYSTEMS:
            dv = imap_bench.Dovecot(work, 1, None)
            dv.start()
            write_s, nbytes = fill_dovecot_maildir(dv, order)
            log(f"dovecot: {N} Maildir files written in {write_s:.1f} s")
            subprocess.run(["sync"])
            user, password = imap_bench.USER_FMT.format(i=1), imap_bench.PASS_FMT.format(i=1)
            M = imaplib.IMAP4("127.0.0.1", dv.port)
            M.login(user, password)
            caps = M.capability()[1][0].decode().split()
            t0 = time.time()
            typ, data = M.select("INBOX")
            first_select = time.time() - t0
            assert typ == "OK" and int(data[0]) == N, (typ, data)
            log(f"dovecot: first (untimed) SELECT, building the index: {first_select:.1f} s")
            t0 = time.time()
            dv_map = uid_map(M)
            fetch_s = time.time() - t0
            if "caremail" in SYSTEMS:
                same = [(u, i) for u, i, _ in dv_map] == [(u, i) for u, i, _ in cm_map]
                same_dates = all(abs(a[2] - b[2]) < 1 for a, b in zip(dv_map, cm_map))
                log(f"dovecot: UID n is caremail's UID n: {same}; same internal dates: {same_dates}")
                if not same:
                    sys.exit("dovecot's UIDs do not follow caremail's")
            du = subprocess.run(["du", "-sm", os.path.join(dv.mail, "u1")], capture_output=True, text=True).stdout
            idx = sum(os.path.getsize(os.path.join(dv.mail, "u1", "Maildir", f))
                      for f in os.listdir(os.path.join(dv.mail, "u1", "Maildir")) if f.startswith("dovecot"))
            fill["dovecot"] = {
                "method": "Maildir files written directly into cur/ (LF line endings, ,S=<size>,W=<crlf size>:2, names "
                          + ("sorting in caremail's UID order, mtime = caremail's INTERNALDATE" if "caremail" in SYSTEMS
                             else "sorting in generation order, synthetic mtimes")
                          + ", the Delivered-To line caremaild adds prepended, owned by nobody), then one untimed "
                          "SELECT in which Dovecot builds its index and assigns UIDs",
                "seconds_writing_files": round(write_s, 1), "maildir_bytes": nbytes,
                "first_select_seconds": round(first_select, 2), "untimed_uid_fetch_seconds": round(fetch_s, 1),
                "mailbox_dir_mb": int(du.split()[0]) if du else None, "index_files_bytes_after_first_select": idx,
                "sort_advertised": "SORT" in caps, "capabilities": caps}
            sessions["dovecot"] = M
        names = list(sessions)
        subprocess.run(["sync"])

        page = f"{N - 60}:{N - 11}"
        half, third = N // 2, N // 3
        store_state = {n: 0 for n in names}

        def store(M, name):
            store_state[name] += 1
            return M.uid("STORE", str(third), "+FLAGS" if store_state[name] % 2 else "-FLAGS", "(\\Flagged)")

        # (name, IMAP command as sent, function(session, system) -> imaplib result, kind)
        table = [
            ("SELECT INBOX", "SELECT INBOX", lambda M, s: M.select("INBOX"), "select"),
            ("UID SEARCH UNSEEN", "UID SEARCH UNSEEN", lambda M, s: M.uid("SEARCH", "UNSEEN"), "search"),
            ("SEARCH FROM clinician17@", "SEARCH FROM clinician17@",
             lambda M, s: M.search(None, "FROM", "clinician17@"), "search"),
            ("SEARCH SUBJECT cardiology", "SEARCH SUBJECT cardiology",
             lambda M, s: M.search(None, "SUBJECT", "cardiology"), "search"),
            ("SEARCH BODY zygomatic (0.1%)", "SEARCH BODY zygomatic",
             lambda M, s: M.search(None, "BODY", "zygomatic"), "search"),
            ("SEARCH BODY cardiology (5%)", "SEARCH BODY cardiology",
             lambda M, s: M.search(None, "BODY", "cardiology"), "search"),
            ("SEARCH BODY zygomatic cardiology", 'SEARCH BODY "zygomatic cardiology"',
             lambda M, s: M.search(None, "BODY", '"zygomatic cardiology"'), "search"),
            ("SEARCH TEXT cardiology", "SEARCH TEXT cardiology",
             lambda M, s: M.search(None, "TEXT", "cardiology"), "search"),
            ("SEARCH BODY zygomatic UNSEEN FROM x", "SEARCH BODY zygomatic UNSEEN FROM clinician",
             lambda M, s: M.search(None, "BODY", "zygomatic", "UNSEEN", "FROM", "clinician"), "search"),
            ("UID FETCH 50 (ENVELOPE FLAGS)", f"UID FETCH {page} (ENVELOPE FLAGS)",
             lambda M, s: M.uid("FETCH", page, "(ENVELOPE FLAGS)"), "fetch"),
            ("UID FETCH 50 headers (imap_load)",
             f"UID FETCH {page} (UID FLAGS RFC822.SIZE BODY.PEEK[HEADER.FIELDS (FROM TO SUBJECT DATE)])",
             lambda M, s: M.uid("FETCH", page, "(UID FLAGS RFC822.SIZE BODY.PEEK[HEADER.FIELDS (FROM TO SUBJECT DATE)])"),
             "fetch"),
            ("UID FETCH one body", f"UID FETCH {half} (BODY.PEEK[])",
             lambda M, s: M.uid("FETCH", str(half), "(BODY.PEEK[])"), "fetch"),
            ("UID SORT (DATE)", "UID SORT (DATE) US-ASCII ALL",
             lambda M, s: M.uid("SORT", "(DATE)", "US-ASCII", "ALL"), "sort"),
            ("UID SORT (REVERSE ARRIVAL)", "UID SORT (REVERSE ARRIVAL) US-ASCII ALL",
             lambda M, s: M.uid("SORT", "(REVERSE ARRIVAL)", "US-ASCII", "ALL"), "sort"),
            ("UID STORE one \\Flagged", f"UID STORE {third} +FLAGS / -FLAGS (\\Flagged), in turn", store, "store"),
            ("NOOP", "NOOP", lambda M, s: M.noop(), "other"),
        ]
        for name, command, fn, kind in table:
            entry = {"command": command}
            runs = {n: [] for n in names}
            last = {}
            for rep in range(REPS):
                for n in (names if rep % 2 == 0 else list(reversed(names))):
                    t = time.perf_counter()
                    res = fn(sessions[n], n)
                    runs[n].append((time.perf_counter() - t) * 1000)
                    last[n] = res
            for n in names:
                r = {"median_ms": round(statistics.median(runs[n]), 2), "runs_ms": [round(x, 2) for x in runs[n]]}
                if kind in ("search", "sort"):
                    nums = numbers(last[n])
                    r["matches"] = len(nums)
                    r["result_sha1"] = hashlib.sha1(" ".join(map(str, nums)).encode()).hexdigest()[:12]
                else:
                    r.update(summary_of(last[n]))
                if last[n][0] != "OK":
                    r["status"] = last[n][0]
                entry[n] = r
            if len(names) == 2:
                c, v = entry["caremail"]["median_ms"], entry["dovecot"]["median_ms"]
                entry["ratio_dovecot_over_caremail"] = round(v / c, 2) if c else None
                if kind in ("search", "sort"):
                    entry["same_result"] = entry["caremail"]["result_sha1"] == entry["dovecot"]["result_sha1"]
                    if not entry["same_result"]:
                        log(f"  {name}: results differ: caremail {entry['caremail']['matches']}, dovecot "
                            f"{entry['dovecot']['matches']} matches")
            ops[name] = entry
            if "caremail" in names:
                rss_stages["after " + name] = mem_mb(d.proc.pid)
            log(f"{name:36s} " + "  ".join(f"{n} {entry[n]['median_ms']:9.1f} ms" for n in names))

        expect = {"SELECT INBOX": None, "UID SEARCH UNSEEN": N,
                  "SEARCH BODY zygomatic (0.1%)": len([i for i in range(N) if i % 1000 == 7]),
                  "SEARCH BODY cardiology (5%)": len([i for i in range(N) if i % 20 == 0]),
                  "SEARCH SUBJECT cardiology": len([i for i in range(N) if i % 50 == 0]),
                  "SEARCH FROM clinician17@": len([i for i in range(N) if i % 400 == 17])}
        for op_name, want in expect.items():
            for n in names:
                if want is not None and ops[op_name][n].get("matches") != want:
                    log(f"WARNING {n} {op_name}: {ops[op_name][n].get('matches')} matches, expected {want}")
                    ops[op_name][n]["expected_matches"] = want

        if "caremail" in names:
            # Delivery -> "* n EXISTS" in an IDLE session on this mailbox (caremail only).
            s = socket.create_connection(("127.0.0.1", d.ports["imap"]))
            f = s.makefile("rb")
            f.readline()
            s.sendall(f"a LOGIN {USER} {PASSWORD}\r\nb SELECT INBOX\r\nc IDLE\r\n".encode())
            while not f.readline().startswith(b"+ "):
                pass
            lat = []
            with smtplib.SMTP("127.0.0.1", d.ports["smtp"]) as c:
                for k in range(REPS):
                    t = time.perf_counter()
                    c.sendmail("x@practice.example", [USER], message(N + k))
                    while b"EXISTS" not in f.readline():
                        pass
                    lat.append((time.perf_counter() - t) * 1000)
            s.sendall(b"DONE\r\nz LOGOUT\r\n")
            s.close()
            extra["SMTP delivery -> IDLE EXISTS"] = {"median_ms": round(statistics.median(lat), 2),
                                                     "runs_ms": [round(x, 2) for x in lat]}
            log(f"{'caremail: SMTP delivery -> IDLE EXISTS':36s} {statistics.median(lat):9.1f} ms")
            extra["caremaild_peak_rss_mb"] = mem_mb(d.proc.pid).get("hwm_mb")
            time.sleep(35)  # caremaild hands freed memory back every 30 s (malloc_trim)
            rss_stages["35 s after the last operation"] = mem_mb(d.proc.pid)
            extra["caremaild_rss_mb_by_stage"] = rss_stages
        if "dovecot" in names:
            # the imap process serving the session (one per connection)
            rss = 0
            for pid in imap_bench.tree_pids(dv.pid):
                try:
                    with open(f"/proc/{pid}/comm") as fc:
                        if fc.read().strip() != "imap":
                            continue
                    with open(f"/proc/{pid}/status") as st:
                        for line in st:
                            if line.startswith("VmHWM:"):
                                rss = max(rss, int(line.split()[1]))
                except OSError:
                    pass
            dv_extra["imap_process_peak_rss_mb"] = round(rss / 1024) if rss else None
        for M in sessions.values():
            try:
                M.logout()
            except (imaplib.IMAP4.error, OSError):
                pass
        load_end = os.getloadavg()
        notes = os.environ.get("BENCH_NOTES", "")
        notes = (notes + "; " if notes else "") + (
            f"load average at start {load_start[0]:.2f} {load_start[1]:.2f} {load_start[2]:.2f}, at end "
            f"{load_end[0]:.2f} {load_end[1]:.2f} {load_end[2]:.2f} ({os.cpu_count()} CPUs)")
        results = {
            "benchmark": "imap-search",
            "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "machine": machine_info(work),
            "git_commit": commit,
            "caremaild_binary": {"path": cm_bin, "built": time.strftime(
                "%Y-%m-%dT%H:%M:%SZ", time.gmtime(os.path.getmtime(cm_bin)))} if "caremail" in SYSTEMS else None,
            "versions": {"dovecot": package_version("dovecot-core") if "dovecot" in SYSTEMS else None,
                         "python": sys.version.split()[0]},
            "settings": {
                "messages": N, "reps": REPS, "systems": names, "message_bytes_crlf_median": len(message(N // 2)),
                "fill": fill,
                "client": "Python imaplib, one logged-in session per server (plain LOGIN on loopback), INBOX "
                          "selected; reps alternate between the servers (caremail first on even reps)",
                "before_timing": "caremail: indexer caught up (fts queue 0); dovecot: one untimed SELECT (index "
                                 "build); both: one untimed UID FETCH 1:* " + FETCH_IDS + " and a sync",
                "caremail": {"worker_threads": 12, "fts": "Xapian index of each delivered message (built in the "
                             "background, caught up before timing)"},
                "dovecot": {"mail_location": "maildir:~/Maildir", "fts": "none (no fts plugin): SEARCH BODY/TEXT "
                            "read every message file", "config": "bench/imap_bench.py Dovecot class, defaults "
                            "otherwise"},
            },
            "operations": ops,
            "caremail_only": extra,
            "dovecot_extra": dv_extra,
            "notes": notes,
        }
    finally:
        for M in sessions.values():
            try:
                M.shutdown()
            except Exception:
                pass
        if dv:
            dv.stop()
        if d:
            d.cleanup()
        if KEEP:
            log(f"kept {work}")
        else:
            remove_work(work)
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    path = os.path.join(HERE, "results", f"imap-search-{stamp}.json")
    with open(path, "w") as fjson:
        json.dump(results, fjson, indent=1)
        fjson.write("\n")
    names = results["settings"]["systems"]
    print(f"\n{N} messages in one INBOX; medians of {REPS}, ms"
          + ("; ratio = Dovecot / Caremail (> 1: Caremail faster)" if len(names) == 2 else ""))
    head = f"  {'operation':36s}" + "".join(f" {n:>10s}" for n in names) + ("      ratio" if len(names) == 2 else "")
    print(head)
    for name, v in results["operations"].items():
        line = f"  {name:36s}" + "".join(f" {v[n]['median_ms']:10.1f}" for n in names)
        if len(names) == 2:
            r = v.get("ratio_dovecot_over_caremail")
            line += f" {r:10.2f}" if r is not None else f" {'-':>10s}"
            if v.get("same_result") is False:
                line += "  (results differ)"
        print(line)
    for k, v in results["caremail_only"].items():
        if isinstance(v, dict) and "median_ms" in v:
            print(f"  {'caremail: ' + k:36s} {v['median_ms']:10.1f}")
    for n, f in results["settings"]["fill"].items():
        print(f"  fill {n}: {f['method']}")
    print(f"written {path}")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""bench/imap: IMAP, Caremail vs Debian's Dovecot, in one run (issue 4, "Benchmark (bench/imap)").

    bench/imap_bench.py [BUILD_DIR [CAREMAILD]]   default BUILD_DIR: build; CAREMAILD: BUILD_DIR/src/caremaild

Needs BUILD_DIR/bench/bench_imap_load and a caremaild binary (builds nothing), root (Dovecot
runs as a private instance started by root, mail owned by nobody) and the Debian packages
dovecot-core, dovecot-imapd, dovecot-lmtpd (installed with apt-get when missing; nothing is
started system-wide). Everything listens on 127.0.0.1 ports chosen at start.

Two parts:
  1. Mixed profile (bench_imap_load): login, select, fetch a page of headers, fetch a body,
     store flags, append + expunge, idle, logout, over C connections, both servers holding
     the same pre-filled mailboxes; ops/s and latency percentiles per operation and overall.
  2. IDLE memory: N connections logged in, INBOX selected, in IDLE; resident memory of the
     server before and after, per connection.

Environment (all optional):
    IMAP_BENCH_DURATION   seconds measured per run (20)
    IMAP_BENCH_WARMUP     seconds of load before measuring (2)
    IMAP_BENCH_REST       seconds of rest (after `sync`) before every run (3)
    IMAP_BENCH_REPS       runs per case and system (3)
    IMAP_BENCH_CONNS      concurrent connections (1,16,64)
    IMAP_BENCH_USERS      mailboxes on each system (16); connection i uses user i mod N
    IMAP_BENCH_MESSAGES   messages pre-filled in each INBOX (2000)
    IMAP_BENCH_OPS_PER_SESSION  operations between LOGIN/SELECT and LOGOUT (200)
    IMAP_BENCH_SYSTEMS    caremail,dovecot (either alone for investigations)
    IMAP_BENCH_IDLE_CONNS        IDLE connections to caremaild (10000; 0 skips)
    IMAP_BENCH_IDLE_TLS_CONNS    IDLE connections to caremaild over imaps (2000; 0 skips)
    IMAP_BENCH_DOVECOT_IDLE_CONNS  IDLE connections to Dovecot (1000; one process each; 0 skips)
    IMAP_BENCH_SKIP_LOAD  1: only the IDLE memory part
    IMAP_BENCH_KEEP       1: keep bench/work/imap-<stamp>/ (mail, logs, configs)
    IMAP_BENCH_PASSWORD_CACHE  caremaild server.password_cache_seconds (unset: its default; 0: off)
    BENCH_NOTES           free text for the JSON "notes"

Writes bench/results/imap-<UTC date-time>.json and prints tables. See bench/README.md.
"""
import json
import os
import pwd
import resource
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from smtp_bench import (Sampler, free_port, machine_info, median, package_version, remove_work,  # noqa: E402
                        system_cpu_ticks, wait_port)

DOMAIN = "bench.care.example"
ODS = "BEN01"
HZ = os.sysconf("SC_CLK_TCK")


def env_list(name, default):
    return [int(x) for x in os.environ.get(name, default).split(",") if x.strip()]


DURATION = float(os.environ.get("IMAP_BENCH_DURATION", "20"))
WARMUP = float(os.environ.get("IMAP_BENCH_WARMUP", "2"))
REST = float(os.environ.get("IMAP_BENCH_REST", "3"))
REPS = int(os.environ.get("IMAP_BENCH_REPS", "3"))
CONNS = env_list("IMAP_BENCH_CONNS", "1,16,64")
USERS = int(os.environ.get("IMAP_BENCH_USERS", "16"))
MESSAGES = int(os.environ.get("IMAP_BENCH_MESSAGES", "2000"))
OPS_PER_SESSION = int(os.environ.get("IMAP_BENCH_OPS_PER_SESSION", "200"))
SYSTEMS = [s for s in os.environ.get("IMAP_BENCH_SYSTEMS", "caremail,dovecot").split(",") if s]
IDLE_CONNS = int(os.environ.get("IMAP_BENCH_IDLE_CONNS", "10000"))
IDLE_TLS_CONNS = int(os.environ.get("IMAP_BENCH_IDLE_TLS_CONNS", "2000"))
DOVECOT_IDLE_CONNS = int(os.environ.get("IMAP_BENCH_DOVECOT_IDLE_CONNS", "1000"))
SKIP_LOAD = os.environ.get("IMAP_BENCH_SKIP_LOAD", "") not in ("", "0")
KEEP = os.environ.get("IMAP_BENCH_KEEP", "") not in ("", "0")
# caremaild's server.password_cache_seconds: unset keeps its default (300 s); 0 turns the
# cache of recently verified passwords off, so every LOGIN pays Argon2id as Dovecot's does.
PASSWORD_CACHE = os.environ.get("IMAP_BENCH_PASSWORD_CACHE", "")
PASSWORD_CACHE_LINE = f"password_cache_seconds = {int(PASSWORD_CACHE)}\n" if PASSWORD_CACHE else ""
USER_FMT = "u{i}@" + DOMAIN
PASS_FMT = "quill-meadow-{i}-x7Qz"  # not the "Bench User" display name (password policy)


def log(*a):
    print("imap_bench:", *a, file=sys.stderr, flush=True)


def die(msg):
    log(msg)
    sys.exit(1)


def raise_nofile(n):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = max(soft, min(n, hard if hard != resource.RLIM_INFINITY else n))
    if want > hard and os.geteuid() == 0:
        hard = want
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, max(hard, want)))
    except (ValueError, OSError) as e:
        log(f"cannot raise RLIMIT_NOFILE to {n}: {e}")
    return resource.getrlimit(resource.RLIMIT_NOFILE)


# ---------------------------------------------------------------------------------------
# /proc: memory of one process or a process tree.

def proc_mem(pid):
    """VmRSS, RssAnon (kB, /proc/PID/status) and Pss (kB, smaps_rollup) of one process."""
    out = {"rss_kb": 0, "anon_kb": 0, "pss_kb": 0}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    out["rss_kb"] = int(line.split()[1])
                elif line.startswith("RssAnon:"):
                    out["anon_kb"] = int(line.split()[1])
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    out["pss_kb"] = int(line.split()[1])
    except OSError:
        pass
    return out


def tree_pids(root):
    children = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                s = f.read()
            ppid = int(s[s.rfind(")") + 2:].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(d))
    out, stack = [], [root]
    while stack:
        p = stack.pop()
        out.append(p)
        stack.extend(children.get(p, []))
    return out


def tree_mem(root):
    tot = {"rss_kb": 0, "anon_kb": 0, "pss_kb": 0, "processes": 0}
    for p in tree_pids(root):
        m = proc_mem(p)
        for k in ("rss_kb", "anon_kb", "pss_kb"):
            tot[k] += m[k]
        tot["processes"] += 1
    return tot


# ---------------------------------------------------------------------------------------
# The messages both servers hold: realistic, distinct, sizes 3-40 KB (mostly small).

SIZES = [3072, 4096, 4096, 5120, 6144, 8192, 12288, 40960]
LOREM = ("Thank you for seeing this patient in clinic. She was discharged home on the ward round\r\n"
         "this morning after an uneventful recovery. Please review her medication in two weeks,\r\n"
         "in particular the anticoagulation, and arrange repeat bloods (FBC, U&E, LFT) at the\r\n"
         "practice. The full discharge summary and the clinic letter are attached; the imaging\r\n"
         "report will follow from radiology once it has been verified by the consultant.\r\n")


def make_message(n):
    size = SIZES[n % len(SIZES)]
    day = 1 + n % 28
    head = (f"Received: from mx1.gp-surgery.example (mx1.gp-surgery.example [192.0.2.25])\r\n"
            f"\tby mail.gp-surgery.example (Postfix) with ESMTPS id PF{n:08d}\r\n"
            f"\tfor <list@{DOMAIN}>; {day:02d} Oct 2026 09:{n % 60:02d}:00 +0000\r\n"
            f"From: \"Dr Alice Example {n % 37}\" <alice.example{n % 37}@gp-surgery.example>\r\n"
            f"To: <team@{DOMAIN}>\r\n"
            f"Subject: Discharge summary and follow-up plan (ref {n:06d})\r\n"
            f"Date: Mon, {day:02d} Oct 2026 09:{n % 60:02d}:00 +0000\r\n"
            f"Message-ID: <bench-{n:06d}@gp-surgery.example>\r\n"
            "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
            "Content-Transfer-Encoding: 7bit\r\n\r\n"
            f"Dear colleague,\r\n\r\nRe: reference {n:06d}\r\n\r\n")
    tail = "\r\nKind regards,\r\nDr Alice Example\r\n"
    body = (LOREM * (size // len(LOREM) + 1))[:max(0, size - len(head) - len(tail))]
    body = body.rstrip("\r")
    return (head + body + tail).encode()


def prefill(sysobj, users, count):
    """Delivers message 0..count-1 to every user, in order, so UIDs 1..count are the same."""
    t = time.time()
    # Order matters (UID n = message n on both servers): deliver in order, one at a time,
    # each message to all users at once.
    for n in range(count):
        sysobj.deliver_all(make_message(n), users)
        if n and n % 500 == 0:
            log(f"{sysobj.name}: pre-filled {n}/{count} messages x {users} mailboxes ({time.time() - t:.0f} s)")
    return round(time.time() - t, 1)


# ---------------------------------------------------------------------------------------
# Caremail

class Caremail:
    name = "caremail"

    def __init__(self, binary, work):
        self.bin = binary
        if not os.access(self.bin, os.X_OK):
            die(f"no caremaild at {self.bin}")
        self.dir = os.path.join(work, "caremail")
        self.data = os.path.join(self.dir, "data")
        os.makedirs(self.dir)
        self.conf = os.path.join(self.dir, "caremail.toml")
        with open(self.conf, "w") as f:
            f.write(f"""# written by bench/imap_bench.py
[server]
data_dir = "{self.data}"
hostname = "imap.{DOMAIN}"
user = ""
shutdown_grace_seconds = 5
{PASSWORD_CACHE_LINE}
[log]
level = "info"

[limits]
# all load comes from 127.0.0.1: up to 64 load connections, then {IDLE_CONNS} IDLE connections
max_connections = {max(20000, IDLE_CONNS + 1000)}
max_connections_per_ip = {max(20000, IDLE_CONNS + 1000)}

[http]
listen = ["127.0.0.1:0"]
tls_listen = []

[smtp]
mx_listen = []
submission_listen = []
submissions_listen = []

[imap]
listen = ["127.0.0.1:0"]
tls_listen = ["127.0.0.1:0"]
allow_plaintext_auth_on_loopback = true
""")
        self.proc = None
        self.logf = None
        self.starts = 0

    def start(self):
        self.starts += 1
        self.logf = open(os.path.join(self.dir, "caremaild.log"), "a")
        self.proc = subprocess.Popen([self.bin, "--config", self.conf], stdout=self.logf, stderr=subprocess.STDOUT,
                                     start_new_session=True,
                                     # A password of our own: a generated one must be changed first.
                                     env=dict(os.environ, CAREMAIL_ADMIN_PASSWORD=os.environ.get(
                                         "CAREMAIL_ADMIN_PASSWORD", "bench-admin-password-1")))
        ports_file = os.path.join(self.data, "run", "ports.json")
        end = time.time() + 60
        while not os.path.exists(ports_file):
            if self.proc.poll() is not None or time.time() > end:
                die(f"caremaild did not start; see {self.logf.name}")
            time.sleep(0.1)
        time.sleep(0.1)
        with open(ports_file) as f:
            ports = json.load(f)
        self.http, self.port, self.tls_port = ports["http"], ports["imap"], ports["imaps"]
        with open(os.path.join(self.data, "admin.token")) as f:
            self.token = f.read().strip()

    def api(self, method, path, body=None, raw=None):
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        req = urllib.request.Request(f"http://127.0.0.1:{self.http}/api/v1/{path}", method=method, data=data,
                                     headers={"Authorization": "Bearer " + self.token,
                                              "Content-Type": "message/rfc822" if raw is not None else "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return r.status, json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode(errors="replace")

    def setup(self, users):
        st, body = self.api("POST", "organisations",
                            {"ods_code": ODS, "name": "Bench Hospitals NHS Trust", "domains": [DOMAIN]})
        if st != 201:
            die(f"caremail: creating the organisation: {st} {body}")
        for i in range(1, users + 1):
            st, body = self.api("POST", "accounts", {"address": USER_FMT.format(i=i), "display_name": f"Bench User {i}",
                                                     "ods_code": ODS, "password": PASS_FMT.format(i=i)})
            if st != 201:
                die(f"caremail: creating {USER_FMT.format(i=i)}: {st} {body}")

    def deliver_all(self, msg, users):
        q = "&".join(f"to={USER_FMT.format(i=i)}" for i in range(1, users + 1))
        st, body = self.api("POST", "deliver?" + q, raw=msg)
        if st != 200:
            die(f"caremail: /api/v1/deliver: {st} {body}")

    def fts_queue(self):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.http}/metrics", timeout=10) as r:
            for line in r.read().decode().splitlines():
                if line.startswith("caremail_fts_queue "):
                    return float(line.split()[1])
        return 0.0

    def wait_index(self, limit=600):
        """Waits until the full-text indexer has caught up with the pre-fill (Dovecot keeps
        no full-text index, so measuring while caremaild still indexes 32,000 documents in
        the background would compare a busy server with an idle one). Returns seconds."""
        t = time.time()
        while self.fts_queue() > 0 and time.time() - t < limit:
            time.sleep(0.5)
        return round(time.time() - t, 1)

    def password_hashes(self, users):
        """The accounts' argon2id hashes (PHC strings), so Dovecot verifies the very same."""
        db = os.path.join(self.data, "caremail.db")
        try:
            c = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
            rows = dict(c.execute("SELECT address, password_hash FROM accounts"))
            c.close()
            return {i: rows[USER_FMT.format(i=i)] for i in range(1, users + 1)}
        except (sqlite3.Error, KeyError) as e:
            log(f"caremail: cannot read password hashes ({e}); Dovecot gets its own")
            return None

    def roots(self):
        return {"caremaild": self.proc.pid}

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.logf:
            self.logf.close()
            self.logf = None

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def log_excerpt(self, n=40):
        try:
            with open(os.path.join(self.dir, "caremaild.log"), errors="replace") as f:
                lines = [l.rstrip() for l in f if "level=warn" in l or "level=error" in l]
            return lines[-n:]
        except OSError:
            return []


# ---------------------------------------------------------------------------------------
# Dovecot

class Dovecot:
    name = "dovecot"

    def __init__(self, work, users, hashes):
        self.dir = os.path.join(work, "dovecot")
        self.mail = os.path.join(self.dir, "mail")
        self.users = users
        self.port = free_port()
        self.lmtp_port = free_port()
        while self.lmtp_port == self.port:
            self.lmtp_port = free_port()
        os.makedirs(self.mail)
        nobody = pwd.getpwnam("nobody")
        self.uid, self.gid = nobody.pw_uid, nobody.pw_gid
        os.chown(self.mail, self.uid, self.gid)
        for p in (work, self.dir):
            os.chmod(p, 0o755)
        self.hash_source = "caremail accounts (same argon2id PHC strings)" if hashes else "doveadm pw -s ARGON2ID"
        with open(os.path.join(self.dir, "users"), "w") as f:
            for i in range(1, users + 1):
                if hashes:
                    h = "{ARGON2ID}" + hashes[i]
                else:
                    h = subprocess.run(["doveadm", "pw", "-s", "ARGON2ID", "-p", PASS_FMT.format(i=i)], text=True,
                                       stdout=subprocess.PIPE, check=True).stdout.strip()
                f.write(f"{USER_FMT.format(i=i)}:{h}:{self.uid}:{self.gid}::{self.mail}/u{i}::\n")
        conns = max(DOVECOT_IDLE_CONNS, 256)
        self.conf = os.path.join(self.dir, "dovecot.conf")
        with open(self.conf, "w") as f:
            f.write(f"""# written by bench/imap_bench.py: a private instance on loopback
base_dir = {self.dir}/run
state_dir = {self.dir}/state
log_path = {self.dir}/dovecot.log
instance_name = dovecot-imapbench-{os.getpid()}
protocols = imap lmtp
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain
mail_location = maildir:~/Maildir
# the default, named for the record: fsync before replying to APPEND / LMTP
mail_fsync = optimized
first_valid_uid = 1
default_login_user = dovenull
default_internal_user = dovecot
# enough processes and clients for {conns} concurrent IMAP connections from 127.0.0.1
# (one imap process per connection, the default)
default_client_limit = {conns + 1000}
default_process_limit = {conns + 200}
default_vsz_limit = 1G
service auth {{
  client_limit = {3 * conns + 3000}
}}
passdb {{
  driver = passwd-file
  args = {self.dir}/users
}}
userdb {{
  driver = passwd-file
  args = {self.dir}/users
}}
protocol imap {{
  mail_max_userip_connections = {conns + 1000}
}}
service lmtp {{
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {self.lmtp_port}
  }}
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
""")
        self.pid = None

    def start(self):
        with open(os.path.join(self.dir, "dovecot-start.log"), "a") as f:
            r = subprocess.run(["dovecot", "-c", self.conf], stdout=f, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL)
        if r.returncode != 0:
            with open(os.path.join(self.dir, "dovecot-start.log")) as f:
                die(f"dovecot failed to start: {f.read()}")
        pidf = os.path.join(self.dir, "run", "master.pid")
        end = time.time() + 20
        while not os.path.exists(pidf) and time.time() < end:
            time.sleep(0.1)
        with open(pidf) as f:
            self.pid = int(f.read().split()[0])
        if not wait_port(self.port) or not wait_port(self.lmtp_port):
            die(f"dovecot did not come up; see {self.dir}/dovecot.log")
        self.lmtp = None

    def setup(self, users):
        pass

    def _lmtp_reply(self):
        """One (possibly multi-line) LMTP reply: (code, text)."""
        while True:
            line = self.lmtp_f.readline()
            if not line:
                die("dovecot LMTP closed the connection")
            if line[3:4] != b"-":
                return int(line[:3]), line.decode(errors="replace").strip()

    def deliver_all(self, msg, users):
        """One LMTP transaction to every mailbox (LMTP answers DATA once per recipient)."""
        import socket
        if self.lmtp is None:
            self.lmtp = socket.create_connection(("127.0.0.1", self.lmtp_port), timeout=60)
            self.lmtp_f = self.lmtp.makefile("rb")
            self._lmtp_reply()
            self.lmtp.sendall(b"LHLO bench\r\n")
            self._lmtp_reply()
        rcpts = [USER_FMT.format(i=i) for i in range(1, users + 1)]
        self.lmtp.sendall(b"MAIL FROM:<alice@gp-surgery.example>\r\n" +
                          b"".join(f"RCPT TO:<{r}>\r\n".encode() for r in rcpts) + b"DATA\r\n")
        for what in ["MAIL"] + rcpts + ["DATA"]:
            code, text = self._lmtp_reply()
            if code not in (250, 354):
                die(f"dovecot LMTP {what}: {text}")
        body = b"\r\n".join((b"." + l if l.startswith(b".") else l) for l in msg.split(b"\r\n"))
        self.lmtp.sendall(body + (b"" if body.endswith(b"\r\n") else b"\r\n") + b".\r\n")
        for r in rcpts:
            code, text = self._lmtp_reply()
            if code != 250:
                die(f"dovecot LMTP delivery to {r}: {text}")

    def close_lmtp(self):
        if self.lmtp is not None:
            try:
                self.lmtp.sendall(b"QUIT\r\n")
                self.lmtp.close()
            except OSError:
                pass
            self.lmtp = None

    def roots(self):
        return {"dovecot": self.pid}

    def alive(self):
        try:
            os.kill(self.pid, 0)
            return True
        except (ProcessLookupError, TypeError):
            return False

    def stop(self):
        if getattr(self, "lmtp", None):
            self.close_lmtp()
        if not self.pid:
            try:
                with open(os.path.join(self.dir, "run", "master.pid")) as f:
                    self.pid = int(f.read().split()[0])
            except (OSError, ValueError, IndexError):
                return
        try:
            os.kill(self.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        end = time.time() + 30
        while time.time() < end:
            try:
                os.kill(self.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)
        os.kill(self.pid, signal.SIGKILL)

    def log_excerpt(self, n=40):
        try:
            with open(os.path.join(self.dir, "dovecot.log"), errors="replace") as f:
                lines = [l.rstrip() for l in f if "Error" in l or "Warning" in l or "Fatal" in l or "Panic" in l]
            return lines[-n:]
        except OSError:
            return []


# ---------------------------------------------------------------------------------------
# Part 1: the mixed profile

def loadgen_cmd(loadgen, port, conns, duration, warmup, tag):
    return [loadgen, "--port", str(port), "--connections", str(conns), "--users", str(USERS),
            "--user-format", USER_FMT, "--password-format", PASS_FMT, "--duration-seconds", str(duration),
            "--warmup-seconds", str(warmup), "--ops-per-session", str(OPS_PER_SESSION),
            "--messages", str(MESSAGES), "--tag", tag]


def run_one(sysobj, loadgen, conns, sampler, order, tag):
    subprocess.run(["sync"])
    time.sleep(REST)
    load1 = os.getloadavg()[0]
    sampler.reset(sysobj.roots())
    busy0, all0 = system_cpu_ticks()
    t0 = time.time()
    out = subprocess.run(loadgen_cmd(loadgen, sysobj.port, conns, DURATION, WARMUP, tag), text=True,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if out.returncode != 0:
        die(f"bench_imap_load failed ({out.returncode}) against {sysobj.name}: {out.stderr.strip()} {out.stdout.strip()}"
            f"\nserver log: {sysobj.log_excerpt()}")
    r = json.loads(out.stdout)
    t_end = time.time()
    time.sleep(0.25)
    busy1, all1 = system_cpu_ticks()
    res = sampler.result()
    run = {"order": order, "ops": r["ops"], "seconds": r["seconds"], "ops_per_s": r["ops_per_s"],
           "p50_ms": r["p50_ms"], "p90_ms": r["p90_ms"], "p99_ms": r["p99_ms"], "max_ms": r["max_ms"],
           "mean_ms": r["mean_ms"], "mail_ops": r["mail_ops"], "by_op": r["by_op"], "errors": r["errors"], "errors_total": r["errors_total"],
           "error_samples": r["error_samples"], "sessions": r["sessions"], "check": r["check"],
           "min_exists_at_select": r["min_exists_at_select"], "bytes_in": r["bytes_in"],
           "client_cpu_seconds": r["client_cpu_seconds"], "load1_before": round(load1, 2)}
    run.update(res)
    run["system_cpu_busy_percent"] = round(100.0 * (busy1 - busy0) / max(1, all1 - all0) * os.cpu_count(), 1)
    run["system_cpu_busy_seconds"] = round((busy1 - busy0) / HZ, 2)
    run["other_cpu_seconds"] = round(max(0.0, run["system_cpu_busy_seconds"] - res["server_cpu_seconds"]
                                         - r["client_cpu_seconds"]), 2)
    run["wall_seconds"] = round(t_end - t0, 2)
    run["server_alive_after"] = sysobj.alive()
    if not run["server_alive_after"]:
        die(f"{sysobj.name} died during the run; log: {sysobj.log_excerpt()}")
    return run


OPS = ["connect", "login", "select", "fetch_headers", "fetch_body", "store", "append", "expunge", "idle", "logout"]


def summarise(runs):
    s = {}
    for k in ["ops_per_s", "p50_ms", "p90_ms", "p99_ms", "max_ms", "mean_ms", "peak_rss_kb", "peak_rss_anon_kb",
              "server_cpu_seconds", "client_cpu_seconds", "other_cpu_seconds", "system_cpu_busy_percent"]:
        vals = [r[k] for r in runs if k in r]
        if vals:
            s[k + "_median"] = median(vals)
    by_op = {}
    for op in OPS:
        d = {}
        for k in ["ops_per_s", "p50_ms", "p90_ms", "p99_ms", "max_ms"]:
            # runs without such an operation in their window (e.g. no session turned over
            # at 64 connections) have no latency for it
            vals = [r["by_op"][op][k] for r in runs if op in r["by_op"] and r["by_op"][op]["ops"] > 0]
            if vals:
                d[k + "_median"] = median(vals)
        by_op[op] = d
    s["by_op"] = by_op
    # the mail operations alone (no connect, LOGIN, SELECT, LOGOUT): with a large
    # IMAP_BENCH_OPS_PER_SESSION this compares the servers without their password hashing
    s["mail_ops"] = {k + "_median": median([r["mail_ops"][k] for r in runs])
                     for k in ["ops_per_s", "p50_ms", "p99_ms"] if runs and "mail_ops" in runs[0]}
    s["errors_total"] = sum(r["errors"] for r in runs)
    return s


def fmt(v, prec=0):
    if v is None:
        return "-"
    return f"{v:,.{prec}f}"


# ---------------------------------------------------------------------------------------
# Part 2: IDLE memory

def idle_memory(sysobj, loadgen, port, n, tls, mem_of):
    """Opens n IDLE connections; returns memory before/after and per connection."""
    hold_args = [loadgen, "--port", str(port), "--users", str(USERS), "--user-format", USER_FMT,
                 "--password-format", PASS_FMT, "--ramp-concurrency", "64", "--hold-seconds", "3600"]
    if tls:
        hold_args.append("--tls")
    # Warm-up: a few connections through the whole path (login, select, IDLE), released.
    warm = subprocess.Popen(hold_args + ["--idle-hold", "64"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    json.loads(warm.stdout.readline())
    warm.stdin.close()
    warm.wait(60)
    # caremaild gives freed memory back every 30 s (malloc_trim): measure after a trim on
    # both sides, so that neither figure holds the logins' transient hashing memory.
    time.sleep(35)
    before = mem_of()
    t0 = time.time()
    p = subprocess.Popen(hold_args + ["--idle-hold", str(n)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    errlines = []
    threading.Thread(target=lambda: errlines.extend(p.stderr), daemon=True).start()
    line = p.stdout.readline()
    if not line:
        p.wait()
        die(f"idle-hold against {sysobj.name} failed: {''.join(errlines[-5:])}")
    ready = json.loads(line)
    ramp = time.time() - t0
    time.sleep(35)  # let the server settle (sessions finish their SELECT work, a trim)
    after = mem_of()
    time.sleep(5)
    after2 = mem_of()
    p.stdin.close()
    rel = json.loads(p.stdout.readline() or "{}")
    p.wait(120)
    time.sleep(3)
    released = mem_of()
    idling = ready["idling"]
    res = {"connections": n, "tls": tls, "idling": idling, "failed": ready["failed"],
           "dropped_during_hold": rel.get("dropped_during_hold"), "error_samples": ready.get("error_samples", []),
           "ramp_seconds": round(ramp, 1), "before": before, "after": after, "after_5s_more": after2,
           "after_release": released, "server_alive_after": sysobj.alive()}
    for k in ("rss_kb", "anon_kb", "pss_kb"):
        res[f"{k.replace('_kb', '')}_kb_per_connection"] = round((after[k] - before[k]) / idling, 2) if idling else None
    return res


def caremail_mem(cm):
    def f():
        m = proc_mem(cm.proc.pid)
        m["processes"] = 1
        return m
    return f


def dovecot_mem(dv):
    return lambda: tree_mem(dv.pid)


# ---------------------------------------------------------------------------------------

def ensure_packages():
    pkgs = ["dovecot-core", "dovecot-imapd", "dovecot-lmtpd"]
    missing = [p for p in pkgs if not package_version(p)]
    if not missing:
        return
    log("installing", " ".join(missing))
    guard = "/usr/sbin/policy-rc.d"
    made_guard = False
    if not os.path.exists(guard):
        with open(guard, "w") as f:
            f.write("#!/bin/sh\nexit 101\n")
        os.chmod(guard, 0o755)
        made_guard = True
    try:
        envi = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        r = subprocess.run(["apt-get", "install", "-y", "-q"] + missing, env=envi)
        if r.returncode != 0:
            subprocess.run(["apt-get", "update", "-q"], env=envi)
            subprocess.run(["apt-get", "install", "-y", "-q"] + missing, env=envi, check=True)
    finally:
        if made_guard:
            os.unlink(guard)


def main():
    if os.geteuid() != 0:
        die("run as root (Dovecot is started as a private root instance)")
    build = sys.argv[1] if len(sys.argv) > 1 else "build"
    if not os.path.isabs(build):
        build = os.path.join(ROOT, build)
    caremaild_bin = sys.argv[2] if len(sys.argv) > 2 else os.path.join(build, "src", "caremaild")
    loadgen = None
    for c in (os.path.join(build, "bench", "bench_imap_load"), os.path.join(build, "bench_imap_load")):
        if os.access(c, os.X_OK):
            loadgen = c
            break
    if not loadgen:
        die(f"no bench_imap_load under {build} (cmake --build {build} --target bench_imap_load caremaild)")
    if "dovecot" in SYSTEMS:
        ensure_packages()
    nofile = raise_nofile(max(IDLE_CONNS, IDLE_TLS_CONNS, DOVECOT_IDLE_CONNS) * 2 + 4096)
    log(f"RLIMIT_NOFILE {nofile}")

    stamp = time.strftime("%Y-%m-%dT%H%M%SZ", time.gmtime())
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "HEAD"], text=True, stdout=subprocess.PIPE).stdout.strip()
    dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"], text=True,
                           stdout=subprocess.PIPE).stdout.strip() != ""
    binary = {"path": caremaild_bin, "built": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(
        os.path.getmtime(caremaild_bin)))} if os.path.exists(caremaild_bin) else None
    work = os.path.join(HERE, "work", f"imap-{stamp}")
    os.makedirs(work)
    os.chmod(os.path.join(HERE, "work"), 0o755)
    load_start = os.getloadavg()
    notes = os.environ.get("BENCH_NOTES") or (
        f"{os.cpu_count()} CPUs shared by the load generator, the server under test and whatever else runs on "
        f"this machine; load average at start: {load_start[0]:.2f} {load_start[1]:.2f} {load_start[2]:.2f}")
    systems = {}
    sampler = Sampler()
    sampler.start()
    stopped = []

    def stop_all(*_):
        if stopped:
            return
        stopped.append(True)
        for s in systems.values():
            try:
                s.stop()
            except Exception as e:
                log("stopping", s.name, ":", e)

    def on_signal(sig, _frame):
        stop_all()
        sys.exit(128 + sig)

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    results = {}
    idle = {}
    prefill_s = {}
    index_wait_s = None
    hash_source = None
    try:
        if "caremail" in SYSTEMS:
            cm = Caremail(caremaild_bin, work)
            systems["caremail"] = cm
            cm.start()
            t = time.time()
            cm.setup(USERS)
            log(f"caremail: IMAP on 127.0.0.1:{cm.port}, imaps {cm.tls_port} ({USERS} accounts in {time.time() - t:.1f} s)")
        if "dovecot" in SYSTEMS:
            hashes = systems["caremail"].password_hashes(USERS) if "caremail" in systems else None
            dv = Dovecot(work, USERS, hashes)
            hash_source = dv.hash_source
            systems["dovecot"] = dv
            dv.start()
            log(f"dovecot: IMAP on 127.0.0.1:{dv.port}, LMTP {dv.lmtp_port}")
        names = list(systems)
        for name in names:
            prefill_s[name] = prefill(systems[name], USERS, MESSAGES)
            log(f"{name}: {MESSAGES} messages x {USERS} mailboxes pre-filled in {prefill_s[name]} s")
            if name == "caremail":
                index_wait_s = systems[name].wait_index()
                log(f"caremail: full-text index caught up {index_wait_s} s after the pre-fill")
        if "dovecot" in systems:
            systems["dovecot"].close_lmtp()

        if not SKIP_LOAD:
            # Warm both (Dovecot builds its indexes on first SELECT; caremaild's caches): one short
            # unrecorded run with a connection per mailbox.
            for name in names:
                subprocess.run(loadgen_cmd(loadgen, systems[name].port, USERS, 5, 0, f"warm-{name}"),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            results = {(name, c): [] for name in names for c in CONNS}
            order = 0
            total = REPS * len(CONNS) * len(names)
            for rep in range(REPS):
                seq = CONNS if rep % 2 == 0 else list(reversed(CONNS))
                pair = names if rep % 2 == 0 else list(reversed(names))
                for c in seq:
                    for name in pair:
                        order += 1
                        r = run_one(systems[name], loadgen, c, sampler, order, f"{name[:2]}{rep}c{c}-{stamp}")
                        results[(name, c)].append(r)
                        bo = r["by_op"]
                        log(f"[{order}/{total}] {name:8s} x {c:2d}: {r['ops_per_s']:7.0f} ops/s p50 {r['p50_ms']:.2f}"
                            f" p99 {r['p99_ms']:.2f} ms (headers p99 {bo['fetch_headers']['p99_ms']:.1f}, body"
                            f" {bo['fetch_body']['p99_ms']:.1f}, store {bo['store']['p99_ms']:.1f}, append"
                            f" {bo['append']['p99_ms']:.1f}, login {bo['login']['p50_ms']:.0f}), errors {r['errors']},"
                            f" server CPU {r['server_cpu_seconds']} s, peak RSS {r['peak_rss_kb'] // 1024} MB")
                        if r["errors"]:
                            log(f"    error samples: {r['error_samples']}")

        # ---- IDLE memory ----------------------------------------------------------------------
        if "caremail" in systems and (IDLE_CONNS or IDLE_TLS_CONNS):
            cm = systems["caremail"]
            for n, tls in ((IDLE_CONNS, False), (IDLE_TLS_CONNS, True)):
                if not n:
                    continue
                # A fresh caremaild (same data), so the baseline is not inflated by the load runs.
                cm.stop()
                time.sleep(1)
                cm.start()
                log(f"caremail: {n} IDLE connections{' over TLS' if tls else ''} (logins are argon2id: minutes)")
                r = idle_memory(cm, loadgen, cm.tls_port if tls else cm.port, n, tls, caremail_mem(cm))
                idle["caremail_tls" if tls else "caremail"] = r
                log(f"caremail{' TLS' if tls else ''}: {r['idling']} idling ({r['failed']} failed) in {r['ramp_seconds']} s;"
                    f" VmRSS {r['before']['rss_kb'] // 1024} -> {r['after']['rss_kb'] // 1024} MB ="
                    f" {r['rss_kb_per_connection']} KB per connection (anon {r['anon_kb_per_connection']},"
                    f" Pss {r['pss_kb_per_connection']})")
        if "dovecot" in systems and DOVECOT_IDLE_CONNS:
            dv = systems["dovecot"]
            log(f"dovecot: {DOVECOT_IDLE_CONNS} IDLE connections")
            r = idle_memory(dv, loadgen, dv.port, DOVECOT_IDLE_CONNS, False, dovecot_mem(dv))
            idle["dovecot"] = r
            log(f"dovecot: {r['idling']} idling ({r['failed']} failed) in {r['ramp_seconds']} s; summed VmRSS"
                f" {r['before']['rss_kb'] // 1024} -> {r['after']['rss_kb'] // 1024} MB over"
                f" {r['after']['processes']} processes = {r['rss_kb_per_connection']} KB per connection (anon"
                f" {r['anon_kb_per_connection']}, Pss {r['pss_kb_per_connection']})")
        logs = {name: s.log_excerpt() for name, s in systems.items()}
        load_end = os.getloadavg()
        versions = {"dovecot": package_version("dovecot-core")}
    finally:
        sampler.running = False
        stop_all()

    # ---- summary --------------------------------------------------------------------------------
    out_cases = []
    names = [n for n in ("caremail", "dovecot") if n in SYSTEMS]
    if results:
        print()
        print(f"{'conns':>5} | {'Caremail ops/s':>14} {'p50':>6} {'p90':>6} {'p99':>7} | {'Dovecot ops/s':>13} {'p50':>6}"
              f" {'p90':>6} {'p99':>7} | {'x ops/s':>7} {'p99 ratio':>9}")
    for c in CONNS if results else []:
        entry = {"connections": c}
        for name in names:
            entry[name] = summarise(results[(name, c)])
            entry[name]["runs"] = results[(name, c)]
        cm, dv = entry.get("caremail"), entry.get("dovecot")
        if cm and dv:
            entry["ratio_ops_per_s_caremail_over_dovecot"] = round(cm["ops_per_s_median"] / dv["ops_per_s_median"], 2) \
                if dv["ops_per_s_median"] else None
            entry["ratio_mail_ops_per_s_caremail_over_dovecot"] = (
                round(cm["mail_ops"]["ops_per_s_median"] / dv["mail_ops"]["ops_per_s_median"], 2)
                if cm["mail_ops"].get("ops_per_s_median") and dv["mail_ops"].get("ops_per_s_median") else None)
            entry["ratio_p99_caremail_over_dovecot"] = round(cm["p99_ms_median"] / dv["p99_ms_median"], 2) \
                if dv["p99_ms_median"] else None
            entry["ratio_p99_by_op_caremail_over_dovecot"] = {
                op: (round(cm["by_op"][op]["p99_ms_median"] / dv["by_op"][op]["p99_ms_median"], 2)
                     if cm["by_op"][op].get("p99_ms_median") and dv["by_op"][op].get("p99_ms_median") else None)
                for op in OPS}
            entry["target_met"] = bool(entry["ratio_ops_per_s_caremail_over_dovecot"] is not None
                                       and entry["ratio_ops_per_s_caremail_over_dovecot"] >= 1)
        out_cases.append(entry)

        def col(d, k, p=0):
            return fmt(d.get(k + "_median") if d else None, p)
        print(f"{c:>5} | {col(cm, 'ops_per_s'):>14} {col(cm, 'p50_ms', 2):>6} {col(cm, 'p90_ms', 2):>6} {col(cm, 'p99_ms', 2):>7} |"
              f" {col(dv, 'ops_per_s'):>13} {col(dv, 'p50_ms', 2):>6} {col(dv, 'p90_ms', 2):>6} {col(dv, 'p99_ms', 2):>7} |"
              f" {fmt(entry.get('ratio_ops_per_s_caremail_over_dovecot'), 2):>7}"
              f" {fmt(entry.get('ratio_p99_caremail_over_dovecot'), 2):>9}")
        print(f"{'':>5}   mail operations only (no connect/LOGIN/SELECT/LOGOUT): Caremail"
              f" {fmt(cm['mail_ops'].get('ops_per_s_median') if cm else None)} ops/s, Dovecot"
              f" {fmt(dv['mail_ops'].get('ops_per_s_median') if dv else None)} ops/s, x"
              f" {fmt(entry.get('ratio_mail_ops_per_s_caremail_over_dovecot'), 2)}")
    if results:
        print("(medians of the runs; overall = every operation but connect; x ops/s = Caremail / Dovecot;"
              " p99 ratio = Caremail p99 / Dovecot p99)")
        print()
        print("p50 / p99 ms per operation (medians):")
        print(f"{'op':>14} | " + " | ".join(f"{n[:8]:>8} x{c:<3} p50     p99" for c in CONNS for n in names))
        for op in OPS:
            cells = []
            for c in CONNS:
                for n in names:
                    d = summarise(results[(n, c)])["by_op"][op]
                    cells.append(f"{fmt(d.get('p50_ms_median'), 2):>17} {fmt(d.get('p99_ms_median'), 2):>7}")
            print(f"{op:>14} | " + " | ".join(cells))
    if idle:
        print()
        for k, r in idle.items():
            print(f"IDLE memory {k:13s}: {r['idling']:>6} idling, {r['failed']} failed; before {r['before']['rss_kb']:,} KB,"
                  f" after {r['after']['rss_kb']:,} KB -> {r['rss_kb_per_connection']} KB/conn VmRSS,"
                  f" {r['anon_kb_per_connection']} anon, {r['pss_kb_per_connection']} Pss")
        if "caremail" in idle:
            v = idle["caremail"]["rss_kb_per_connection"]
            print(f"target (caremail, plain): <= 20 KB per IDLE connection: {'met' if v is not None and v <= 20 else 'NOT met'}")

    doc = {
        "benchmark": "imap",
        "machine": machine_info(work),
        "git_commit": commit or "unknown",
        "git_dirty": dirty,
        "caremaild_binary": binary,
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "settings": {"duration_seconds": DURATION, "warmup_seconds": WARMUP, "rest_seconds": REST, "reps": REPS,
                     "connections": CONNS, "users": USERS, "messages_per_mailbox": MESSAGES,
                     "message_sizes": SIZES, "prefill_seconds": prefill_s,
                     "ops_per_session": OPS_PER_SESSION,
                     "profile": {"weights": {"fetch_headers": 30, "fetch_body": 30, "store": 30, "append_expunge": 5,
                                             "idle": 5}, "page": 50, "append_size": 4096, "idle_hold_ms": 2,
                                 "fetch_headers": "UID FETCH a:a+49 (UID FLAGS RFC822.SIZE BODY.PEEK[HEADER.FIELDS "
                                                  "(FROM TO SUBJECT DATE)])",
                                 "fetch_body": "UID FETCH u (BODY.PEEK[])", "store": "UID STORE u +FLAGS/-FLAGS (\\Seen)",
                                 "append": "APPEND INBOX () {4096+}", "expunge": "UID STORE uid +FLAGS.SILENT (\\Deleted);"
                                 " UID EXPUNGE uid", "idle": "IDLE, +, 2 ms, DONE (latency excludes the hold)",
                                 "session": "connect, LOGIN, SELECT INBOX, ops_per_session operations, LOGOUT"},
                     "order": "each repetition: every connection count (forward on even, reversed on odd "
                              "repetitions), the two systems back to back (caremail first on even, dovecot first on "
                              "odd repetitions); sync + the same rest before every run; one unrecorded 5 s warm-up "
                              "run per system before the first",
                     "passwords": "argon2id m=64 MiB t=2 on both (libsodium crypto_pwhash_str INTERACTIVE); Dovecot's "
                                  "hashes: " + str(hash_source),
                     "caremail": {"log_level": "info", "encrypt_blobs": True, "worker_threads": "default",
                                  "password_cache_seconds": int(PASSWORD_CACHE) if PASSWORD_CACHE else "default (300)",
                                  "index_caught_up_seconds_after_prefill": index_wait_s,
                                  "allow_plaintext_auth_on_loopback": True},
                     "dovecot": {"version": versions["dovecot"], "mail_location": "maildir:~/Maildir",
                                 "mail_fsync": "optimized", "import": "LMTP (one DATA per message, every mailbox)",
                                 "auth": "passwd-file", "defaults_otherwise": True,
                                 "raised": "default_client_limit, default_process_limit, mail_max_userip_connections"},
                     "idle": {"caremail_connections": IDLE_CONNS, "caremail_tls_connections": IDLE_TLS_CONNS,
                              "dovecot_connections": DOVECOT_IDLE_CONNS,
                              "method": "bench_imap_load --idle-hold N (epoll, at most 64 connections between connect "
                                        "and IDLE); each connection: LOGIN, SELECT INBOX (" + str(MESSAGES) +
                                        " messages), IDLE. Memory before = after a warm-up of 64 such connections "
                                        "(released) on a freshly started caremaild; after = 5 s after all are idling."
                                        " caremail: VmRSS / RssAnon of caremaild (/proc/PID/status), Pss from "
                                        "smaps_rollup; dovecot: the same summed over its process tree"},
                     "rss": "peak_rss_kb: sum of VmRSS over the server's process tree, sampled every 200 ms"},
        "notes": notes + f"; load average at end: {load_end[0]:.2f} {load_end[1]:.2f} {load_end[2]:.2f}",
        "cases": out_cases,
        "idle_memory": idle,
        "server_log_warnings": logs,
    }
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    out = os.path.join(HERE, "results", f"imap-{stamp}.json")
    with open(out, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    print(f"\nimap_bench: results in {out}")
    if KEEP:
        print(f"imap_bench: kept {work}")
    else:
        remove_work(work)


if __name__ == "__main__":
    main()

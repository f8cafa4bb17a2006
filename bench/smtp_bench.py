#!/usr/bin/env python3
"""bench/smtp: inbound SMTP, Caremail vs Debian's Postfix -> LMTP -> Dovecot, in one run.

    bench/smtp_bench.py [BUILD_DIR]            default BUILD_DIR: build

Needs BUILD_DIR/src/caremaild and BUILD_DIR/bench/bench_smtp_load (builds nothing), root
(Postfix and Dovecot run as private instances started by root), and the Debian packages
postfix, dovecot-core, dovecot-imapd, dovecot-lmtpd (installed with apt-get when missing;
nothing is started system-wide). Everything listens on 127.0.0.1 ports chosen at start.

Environment (all optional):
    SMTP_BENCH_DURATION   seconds measured per run (10)
    SMTP_BENCH_WARMUP     seconds of load before measuring (2)
    SMTP_BENCH_REST       seconds of rest (after `sync`) before every run (5)
    SMTP_BENCH_REPS       runs per case and system (3)
    SMTP_BENCH_SIZES      message sizes in bytes (4096,102400)
    SMTP_BENCH_CONNS      concurrent connections (1,16,64)
    SMTP_BENCH_USERS      mailboxes on each system (50)
    SMTP_BENCH_SYSTEMS    caremail,postfix (either alone for investigations)
    SMTP_BENCH_DRAIN_TIMEOUT  seconds to wait for Postfix's queue to drain (600)
    SMTP_BENCH_CAREMAIL_WORKERS  caremaild's [server] worker_threads (12, its default)
    SMTP_BENCH_FTS        1 (default): caremaild indexes every delivery for SEARCH; 0: no index
    SMTP_BENCH_KEEP       1: keep bench/work/smtp-<stamp>/ (mail, logs, configs)
    BENCH_NOTES           free text for the JSON "notes"

Writes bench/results/smtp-<UTC date-time>.json and prints a table. See bench/README.md.
"""
import json
import os
import platform
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DOMAIN = "bench.care.example"
ODS = "BEN01"
HZ = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


def env_list(name, default):
    return [int(x) for x in os.environ.get(name, default).split(",") if x.strip()]


DURATION = float(os.environ.get("SMTP_BENCH_DURATION", "10"))
WARMUP = float(os.environ.get("SMTP_BENCH_WARMUP", "2"))
REST = float(os.environ.get("SMTP_BENCH_REST", "5"))
REPS = int(os.environ.get("SMTP_BENCH_REPS", "3"))
SIZES = env_list("SMTP_BENCH_SIZES", "4096,102400")
CONNS = env_list("SMTP_BENCH_CONNS", "1,16,64")
USERS = int(os.environ.get("SMTP_BENCH_USERS", "50"))
SYSTEMS = [s for s in os.environ.get("SMTP_BENCH_SYSTEMS", "caremail,postfix").split(",") if s]
DRAIN_TIMEOUT = float(os.environ.get("SMTP_BENCH_DRAIN_TIMEOUT", "600"))
KEEP = os.environ.get("SMTP_BENCH_KEEP", "") not in ("", "0")
WORKERS = int(os.environ.get("SMTP_BENCH_CAREMAIL_WORKERS", "12"))  # [server] worker_threads (its default)
# caremaild's [storage] full_text_index (on by default: every delivery is also indexed for
# IMAP SEARCH, at idle CPU priority); 0 measures delivery alone.
FTS = os.environ.get("SMTP_BENCH_FTS", "1") not in ("", "0")


def log(*a):
    print("smtp_bench:", *a, file=sys.stderr, flush=True)


def die(msg):
    log(msg)
    sys.exit(1)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=20):
    end = time.time() + timeout
    while time.time() < end:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.recv(512)
                return True
        except OSError:
            time.sleep(0.1)
    return False


def sh(cmd, **kw):
    return subprocess.run(cmd, shell=isinstance(cmd, str), check=True, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **kw).stdout


# ---------------------------------------------------------------------------------------
# /proc sampling: RSS and CPU of process trees, every 200 ms.

def read_stat(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            s = f.read()
    except OSError:
        return None
    r = s.rfind(")")
    comm = s[s.find("(") + 1:r]
    f = s[r + 2:].split()
    # fields after comm: state(0) ppid(1) ... utime(11) stime(12) ... rss(21)
    return comm, int(f[1]), int(f[11]) + int(f[12]), int(f[21]) * PAGE_KB


def read_anon_kb(pid):
    """Resident pages not backed by files (statm resident - shared): what a process costs on
    its own, without the shared libraries that a plain VmRSS sum counts once per process."""
    try:
        with open(f"/proc/{pid}/statm") as f:
            v = f.read().split()
        return (int(v[1]) - int(v[2])) * PAGE_KB
    except (OSError, IndexError, ValueError):
        return 0


class Sampler(threading.Thread):
    """Samples the process trees under `roots` (name -> pid) every `interval` seconds."""

    def __init__(self, interval=0.2):
        super().__init__(daemon=True)
        self.interval = interval
        self.lock = threading.Lock()
        self.roots = {}
        self.running = True
        self.reset()

    def reset(self, roots=None):
        with self.lock:
            if roots is not None:
                self.roots = dict(roots)
            self.peak = {k: 0 for k in self.roots}
            self.peak_total = 0
            self.peak_anon = {k: 0 for k in self.roots}
            self.peak_anon_total = 0
            self.peak_procs = 0
            self.cpu_first = {}  # pid -> ticks at first sight (0 if born after reset)
            self.cpu_last = {}
            self.born_after = set()
            self.first_scan = True
            self.samples = 0

    def scan(self):
        stats = {}
        for d in os.listdir("/proc"):
            if d.isdigit():
                st = read_stat(int(d))
                if st:
                    stats[int(d)] = st
        children = {}
        for pid, (_, ppid, _, _) in stats.items():
            children.setdefault(ppid, []).append(pid)
        with self.lock:
            total = 0
            anon_total = 0
            procs = 0
            for name, root in self.roots.items():
                rss = 0
                anon = 0
                stack = [root] if root in stats else []
                while stack:
                    p = stack.pop()
                    comm, _, ticks, kb = stats[p]
                    rss += kb
                    anon += read_anon_kb(p)
                    procs += 1
                    if p not in self.cpu_first:
                        self.cpu_first[p] = ticks if self.first_scan else 0
                    self.cpu_last[p] = ticks
                    stack.extend(children.get(p, []))
                self.peak[name] = max(self.peak.get(name, 0), rss)
                self.peak_anon[name] = max(self.peak_anon.get(name, 0), anon)
                total += rss
                anon_total += anon
            self.peak_total = max(self.peak_total, total)
            self.peak_anon_total = max(self.peak_anon_total, anon_total)
            self.peak_procs = max(self.peak_procs, procs)
            self.first_scan = False
            self.samples += 1

    def result(self):
        with self.lock:
            cpu = sum(self.cpu_last[p] - self.cpu_first[p] for p in self.cpu_last) / HZ
            return {"peak_rss_kb": self.peak_total, "peak_rss_kb_by_tree": dict(self.peak),
                    "peak_rss_anon_kb": self.peak_anon_total, "peak_rss_anon_kb_by_tree": dict(self.peak_anon),
                    "peak_processes": self.peak_procs, "server_cpu_seconds": round(cpu, 2),
                    "rss_samples": self.samples}

    def run(self):
        while self.running:
            t = time.time()
            try:
                self.scan()
            except Exception as e:  # a process vanishing mid-scan is normal
                log("sampler:", e)
            time.sleep(max(0.0, self.interval - (time.time() - t)))


def system_cpu_ticks():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]
    return sum(v[:8]) - idle, sum(v[:8])


# ---------------------------------------------------------------------------------------
# Machine description (same keys as bench_delivery's JSON).

def machine_info(path):
    cpu_model = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    target = os.path.realpath(path)
    best = ("", "", "", "")
    with open("/proc/mounts") as f:
        for line in f:
            dev, mp, typ, opts = line.split()[:4]
            if (target == mp or mp == "/" or target.startswith(mp.rstrip("/") + "/")) and len(mp) >= len(best[1]):
                best = (dev, mp, typ, opts)
    mem = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / (1 << 30)
    return {"cpus": os.cpu_count(), "mem_gb": round(mem, 1), "kernel": platform.release(), "fs": best[2],
            "fs_device": best[0], "fs_mount": best[1], "fs_options": best[3], "cpu_model": cpu_model}


def remove_work(work):
    """Removes a run's work directory, and bench/work when it is left empty."""
    shutil.rmtree(work, ignore_errors=True)
    try:
        os.rmdir(os.path.join(HERE, "work"))
    except OSError:
        pass


def package_version(pkg):
    try:
        return sh(["dpkg-query", "-W", "-f=${Version}", pkg]).strip()
    except subprocess.CalledProcessError:
        return None


def ensure_packages():
    pkgs = ["postfix", "dovecot-core", "dovecot-imapd", "dovecot-lmtpd"]
    missing = [p for p in pkgs if not package_version(p)]
    if not missing:
        return
    log("installing", " ".join(missing))
    guard = "/usr/sbin/policy-rc.d"
    made_guard = False
    if not os.path.exists(guard):  # never let the packages start system-wide daemons
        with open(guard, "w") as f:
            f.write("#!/bin/sh\nexit 101\n")
        os.chmod(guard, 0o755)
        made_guard = True
    try:
        subprocess.run(["debconf-set-selections"], input="postfix postfix/main_mailer_type select No configuration\n",
                       text=True, check=True)
        envi = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        r = subprocess.run(["apt-get", "install", "-y", "-q"] + missing, env=envi)
        if r.returncode != 0:
            subprocess.run(["apt-get", "update", "-q"], env=envi)
            subprocess.run(["apt-get", "install", "-y", "-q"] + missing, env=envi, check=True)
    finally:
        if made_guard:
            os.unlink(guard)


# ---------------------------------------------------------------------------------------
# Caremail

class Caremail:
    name = "caremail"

    def __init__(self, build, work):
        self.bin = os.path.join(build, "src", "caremaild")
        if not os.access(self.bin, os.X_OK):
            die(f"no caremaild at {self.bin} (cmake --build {build} --target caremaild)")
        self.dir = os.path.join(work, "caremail")
        self.data = os.path.join(self.dir, "data")
        os.makedirs(self.dir)
        self.conf = os.path.join(self.dir, "caremail.toml")
        with open(self.conf, "w") as f:
            f.write(f"""# written by bench/smtp_bench.py
[server]
data_dir = "{self.data}"
hostname = "mx.{DOMAIN}"
user = ""
shutdown_grace_seconds = 5
worker_threads = {WORKERS}

[storage]
full_text_index = {"true" if FTS else "false"}

[log]
level = "info"

[limits]
# the load generator opens up to 64 connections from 127.0.0.1
max_connections_per_ip = 10000

[http]
listen = ["127.0.0.1:0"]
tls_listen = []

[smtp]
mx_listen = ["127.0.0.1:0"]
submission_listen = []
submissions_listen = []
# connections are reused for the whole run (3 commands per message)
max_commands = 100000000
""")
        self.proc = None
        self.logf = None

    def start(self):
        self.logf = open(os.path.join(self.dir, "caremaild.log"), "w")
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
        self.http, self.port = ports["http"], ports["smtp"]
        with open(os.path.join(self.data, "admin.token")) as f:
            self.token = f.read().strip()

    def api(self, method, path, body=None):
        req = urllib.request.Request(f"http://127.0.0.1:{self.http}/api/v1/{path}", method=method,
                                     data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Authorization": "Bearer " + self.token,
                                              "Content-Type": "application/json"})
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
            st, body = self.api("POST", "accounts", {"address": f"u{i}@{DOMAIN}", "display_name": f"Bench User {i}",
                                                     "ods_code": ODS, "password": f"quill-meadow-{i}-x7Qz"})
            if st != 201:
                die(f"caremail: creating u{i}@{DOMAIN}: {st} {body}")

    def roots(self):
        return {"caremaild": self.proc.pid}

    def delivered(self, users):
        total = 0
        for i in range(1, users + 1):
            st, body = self.api("GET", f"accounts/u{i}@{DOMAIN}/quota")
            if st != 200:
                return None
            total += int(body.get("messages", body.get("used_messages", 0)))
        return total

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

    def version(self):
        return None


# ---------------------------------------------------------------------------------------
# Postfix -> LMTP -> Dovecot

MASTER_CF = """# written by bench/smtp_bench.py: no chroot, smtpd on {listen} only
{listen} inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


class PostfixDovecot:
    name = "postfix"

    def __init__(self, work, users):
        self.dir = os.path.join(work, "postfix-dovecot")
        self.pf = os.path.join(self.dir, "postfix")
        self.dv = os.path.join(self.dir, "dovecot")
        self.mail = os.path.join(self.dir, "mail")
        self.users = users
        self.port = free_port()
        self.lmtp_port = free_port()
        self.imap_port = free_port()
        while len({self.port, self.lmtp_port, self.imap_port}) < 3:
            self.imap_port = free_port()
        self.pf_conf = os.path.join(self.pf, "conf")
        for d in (self.pf_conf, self.dv, self.mail):
            os.makedirs(d)
        nobody = pwd.getpwnam("nobody")
        self.uid, self.gid = nobody.pw_uid, nobody.pw_gid
        # mail is stored as nobody; the path must be traversable by it
        for d in (self.mail,):
            os.chown(d, self.uid, self.gid)
        for p in (work, self.dir):
            os.chmod(p, 0o755)

        with open(os.path.join(self.pf_conf, "vmailbox"), "w") as f:
            for i in range(1, users + 1):
                f.write(f"u{i}@{DOMAIN} ok\n")
        with open(os.path.join(self.pf_conf, "main.cf"), "w") as f:
            f.write(f"""# written by bench/smtp_bench.py: a private instance on loopback
compatibility_level = 3.6
queue_directory = {self.pf}/queue
data_directory = {self.pf}/data
maillog_file = {self.pf}/maillog
maillog_file_prefixes = {self.pf}
mail_owner = postfix
setgid_group = postdrop
myhostname = mx.peer.{DOMAIN}
mydomain = peer.{DOMAIN}
myorigin = $myhostname
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
mydestination =
relay_domains =
local_recipient_maps =
alias_maps =
alias_database =
biff = no
virtual_mailbox_domains = {DOMAIN}
virtual_mailbox_maps = texthash:{self.pf_conf}/vmailbox
virtual_transport = lmtp:inet:127.0.0.1:{self.lmtp_port}
smtp_dns_support_level = disabled
lmtp_dns_support_level = disabled
smtpd_peername_lookup = no
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_recipient_restrictions = reject_unlisted_recipient
message_size_limit = 36700160
""")
        with open(os.path.join(self.pf_conf, "master.cf"), "w") as f:
            f.write(MASTER_CF.format(listen=f"127.0.0.1:{self.port}"))

        with open(os.path.join(self.dv, "users"), "w") as f:
            for i in range(1, users + 1):
                f.write(f"u{i}:{{PLAIN}}bench-password-{i}:{self.uid}:{self.gid}::{self.mail}/u{i}::\n")
        self.dv_conf = os.path.join(self.dv, "dovecot.conf")
        with open(self.dv_conf, "w") as f:
            f.write(f"""# written by bench/smtp_bench.py: a private instance on loopback
base_dir = {self.dv}/run
state_dir = {self.dv}/state
log_path = {self.dv}/dovecot.log
instance_name = dovecot-bench-{os.getpid()}
protocols = imap lmtp
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain
mail_location = maildir:~/Maildir
# the default, named for the record: fsync a delivered message before LMTP's 250
mail_fsync = optimized
first_valid_uid = 1
default_login_user = dovenull
default_internal_user = dovecot
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {self.dv}/users
}}
userdb {{
  driver = passwd-file
  args = {self.dv}/users
}}
protocol lmtp {{
  auth_username_format = %Ln
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
    port = {self.imap_port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
""")
        self.pf_pid = self.dv_pid = None

    def _daemon(self, argv, logname):
        # Both daemonise; their children inherit our stdout, so never capture it with a pipe.
        with open(os.path.join(self.dir, logname), "a") as f:
            r = subprocess.run(argv, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        with open(os.path.join(self.dir, logname)) as f:
            text = f.read()
        if r.returncode != 0:
            # Postfix reports start-up errors on a terminal or to syslog only: ask again on a pty.
            why = subprocess.run(["script", "-qc", " ".join(argv[:-1] + ["check"]), "/dev/null"], text=True,
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT).stdout if argv[0] == "postfix" else ""
            die(f"{' '.join(argv)} failed ({r.returncode}): {text.strip()} {why.strip()}")
        return text

    def start(self):
        self._daemon(["dovecot", "-c", self.dv_conf], "dovecot-start.log")
        pidf = os.path.join(self.dv, "run", "master.pid")
        end = time.time() + 20
        while not os.path.exists(pidf) and time.time() < end:
            time.sleep(0.1)
        with open(pidf) as f:
            self.dv_pid = int(f.read().split()[0])
        if not wait_port(self.lmtp_port):
            die(f"dovecot LMTP did not come up; see {self.dv}/dovecot.log")
        os.makedirs(os.path.join(self.pf, "queue"), exist_ok=True)
        os.makedirs(os.path.join(self.pf, "data"), exist_ok=True)
        pfu = pwd.getpwnam("postfix")
        os.chown(os.path.join(self.pf, "data"), pfu.pw_uid, pfu.pw_gid)
        os.chmod(os.path.join(self.pf, "data"), 0o700)
        self._daemon(["postfix", "-c", self.pf_conf, "set-permissions", "create-missing"], "postfix-start.log")
        out = self._daemon(["postfix", "-c", self.pf_conf, "start"], "postfix-start.log")
        pidf = os.path.join(self.pf, "queue", "pid", "master.pid")
        end = time.time() + 20
        while not os.path.exists(pidf) and time.time() < end:
            time.sleep(0.1)
        try:
            with open(pidf) as f:
                self.pf_pid = int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            die(f"postfix did not start: {out}; see {self.pf}/maillog")
        if not wait_port(self.port):
            die(f"postfix smtpd did not come up; see {self.pf}/maillog")

    def setup(self, users):
        pass

    def roots(self):
        return {"postfix": self.pf_pid, "dovecot": self.dv_pid}

    def delivered(self, users=None):
        n = 0
        for i in range(1, self.users + 1):
            for sub in ("new", "cur"):
                try:
                    n += sum(1 for _ in os.scandir(f"{self.mail}/u{i}/Maildir/{sub}"))
                except FileNotFoundError:
                    pass
        return n

    def queue_empty(self):
        out = subprocess.run(["postqueue", "-c", self.pf_conf, "-p"], text=True, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT).stdout
        return "Mail queue is empty" in out

    def maillog_size(self):
        try:
            return os.path.getsize(os.path.join(self.pf, "maillog"))
        except OSError:
            return 0

    def stop(self):
        for attr, pidf in (("pf_pid", os.path.join(self.pf, "queue", "pid", "master.pid")),
                           ("dv_pid", os.path.join(self.dv, "run", "master.pid"))):
            if not getattr(self, attr):  # interrupted while starting
                try:
                    with open(pidf) as f:
                        setattr(self, attr, int(f.read().split()[0]))
                except (OSError, ValueError, IndexError):
                    pass
        if self.pf_pid:
            subprocess.run(["postfix", "-c", self.pf_conf, "stop"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            self._wait_gone(self.pf_pid)
        if self.dv_pid:
            try:
                os.kill(self.dv_pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            self._wait_gone(self.dv_pid)

    @staticmethod
    def _wait_gone(pid, timeout=20):
        end = time.time() + timeout
        while time.time() < end:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


# ---------------------------------------------------------------------------------------
# Runs

class SentCounter:
    """Counts 'status=sent' LMTP deliveries appended to Postfix's maillog after `offset` and
    collects their delay= (seconds from the message's arrival in the queue to Dovecot's 250)."""

    def __init__(self, path, offset):
        self.path, self.pos, self.rest, self.count, self.delays = path, offset, b"", 0, []

    def poll(self):
        try:
            with open(self.path, "rb") as f:
                f.seek(self.pos)
                data = f.read()
        except OSError:
            return self.count
        self.pos += len(data)
        lines = (self.rest + data).split(b"\n")
        self.rest = lines.pop()
        for line in lines:
            if b"status=sent" in line and b"relay=127.0.0.1" in line:
                self.count += 1
                m = re.search(rb"delay=([0-9.]+)", line)
                if m:
                    self.delays.append(float(m.group(1)))
        return self.count


def percentile(sorted_v, p):
    if not sorted_v:
        return 0.0
    idx = p * (len(sorted_v) - 1)
    lo = int(idx)
    hi = min(lo + 1, len(sorted_v) - 1)
    return sorted_v[lo] * (1 - (idx - lo)) + sorted_v[hi] * (idx - lo)


def median(v):
    v = sorted(x for x in v if x is not None)
    if not v:
        return None
    n = len(v)
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2


def run_one(sysobj, loadgen, size, conns, sampler, order, tag):
    subprocess.run(["sync"])
    time.sleep(REST)
    load1 = os.getloadavg()[0]
    log_off = sysobj.maillog_size() if sysobj.name == "postfix" else 0
    sampler.reset(sysobj.roots())
    busy0, all0 = system_cpu_ticks()
    t0 = time.time()
    out = subprocess.run([loadgen, "--port", str(sysobj.port), "--connections", str(conns), "--users", str(USERS),
                          "--domain", DOMAIN, "--size", str(size), "--duration-seconds", str(DURATION),
                          "--warmup-seconds", str(WARMUP), "--tag", tag],
                         text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    t_gen = time.time()
    if out.returncode != 0:
        die(f"bench_smtp_load failed ({out.returncode}): {out.stderr.strip()} {out.stdout.strip()}")
    r = json.loads(out.stdout)
    run = {"order": order, "msgs": r["msgs"], "seconds": r["seconds"], "msgs_per_s": r["msgs_per_s"],
           "p50_ms": r["p50_ms"], "p90_ms": r["p90_ms"], "p99_ms": r["p99_ms"], "max_ms": r["max_ms"],
           "mean_ms": r["mean_ms"], "errors": r["errors"], "errors_total": r["errors_total"],
           "error_samples": r["error_samples"], "accepted_total": r["accepted_total"],
           "pipelining": r["pipelining"], "connects": r["connects"],
           "client_cpu_seconds": r["client_cpu_seconds"], "load1_before": round(load1, 2)}
    if sysobj.name == "postfix":
        # End to end: wait until Postfix has logged every accepted message as delivered by
        # LMTP (status=sent; one recipient per message). Reading the log incrementally costs
        # next to nothing; counting the maildirs (done once at the end) would steal CPU from
        # the drain.
        target = r["accepted_total"]
        end = time.time() + DRAIN_TIMEOUT
        counter = SentCounter(os.path.join(sysobj.pf, "maillog"), log_off)
        n = counter.poll()
        while n < target and time.time() < end:
            time.sleep(0.2)
            n = counter.poll()
        t_drained = time.time()
        delays = sorted(counter.delays)
        elapsed = t_drained - r["started_at_unix"]
        run.update({
            "delivered": n, "drained": n >= target and sysobj.queue_empty(),
            "drain_seconds_after_load": round(t_drained - t_gen, 2),
            "e2e_seconds": round(elapsed, 2),
            "e2e_msgs_per_s": round(n / elapsed, 1) if elapsed > 0 else 0,
            "queue_to_mailbox_delay_p50_ms": round(percentile(delays, 0.5) * 1000, 1),
            "queue_to_mailbox_delay_p99_ms": round(percentile(delays, 0.99) * 1000, 1),
            "queue_to_mailbox_delay_max_ms": round(delays[-1] * 1000, 1) if delays else 0,
        })
    else:
        # The 250 after the final dot is the durable delivery: end to end = accepted.
        elapsed = t_gen - r["started_at_unix"]
        run.update({"delivered": r["accepted_total"], "drained": True, "drain_seconds_after_load": 0.0,
                    "e2e_seconds": round(elapsed, 2),
                    "e2e_msgs_per_s": round(r["accepted_total"] / elapsed, 1) if elapsed > 0 else 0})
    t_end = time.time()
    time.sleep(0.25)  # one more sample
    busy1, all1 = system_cpu_ticks()
    res = sampler.result()
    run.update(res)
    run["system_cpu_busy_percent"] = round(100.0 * (busy1 - busy0) / max(1, all1 - all0) * os.cpu_count(), 1)
    run["system_cpu_busy_seconds"] = round((busy1 - busy0) / HZ, 2)
    # Whatever else used the CPU during the run (a build, another benchmark).
    run["other_cpu_seconds"] = round(max(0.0, run["system_cpu_busy_seconds"] - res["server_cpu_seconds"]
                                         - r["client_cpu_seconds"]), 2)
    run["wall_seconds"] = round(t_end - t0, 2)
    return run


def summarise(runs):
    keys = ["msgs_per_s", "e2e_msgs_per_s", "p50_ms", "p90_ms", "p99_ms", "max_ms", "peak_rss_kb", "peak_rss_anon_kb",
            "server_cpu_seconds", "client_cpu_seconds", "other_cpu_seconds", "queue_to_mailbox_delay_p50_ms",
            "queue_to_mailbox_delay_p99_ms", "drain_seconds_after_load"]
    s = {}
    for k in keys:
        vals = [r[k] for r in runs if k in r]
        if vals:
            s[k + "_median"] = median(vals)
    s["errors_total"] = sum(r["errors"] for r in runs)
    s["all_drained"] = all(r.get("drained", True) for r in runs)
    return s


def fmt(v, prec=0):
    if v is None:
        return "-"
    return f"{v:,.{prec}f}"


def main():
    if os.geteuid() != 0:
        die("run as root (Postfix and Dovecot are started as private root instances)")
    build = sys.argv[1] if len(sys.argv) > 1 else "build"
    if not os.path.isabs(build):
        build = os.path.join(ROOT, build)
    loadgen = None
    for c in (os.path.join(build, "bench", "bench_smtp_load"), os.path.join(build, "bench_smtp_load")):
        if os.access(c, os.X_OK):
            loadgen = c
            break
    if not loadgen:
        die(f"no bench_smtp_load under {build} (cmake --build {build} --target bench_smtp_load caremaild)")
    if "postfix" in SYSTEMS:
        ensure_packages()

    stamp = time.strftime("%Y-%m-%dT%H%M%SZ", time.gmtime())
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "HEAD"], text=True, stdout=subprocess.PIPE).stdout.strip()
    dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"], text=True,
                           stdout=subprocess.PIPE).stdout.strip() != ""
    caremaild_bin = os.path.join(build, "src", "caremaild")
    binary = {"path": caremaild_bin, "built": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(
        os.path.getmtime(caremaild_bin)))} if os.path.exists(caremaild_bin) else None
    work = os.path.join(HERE, "work", f"smtp-{stamp}")
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
    try:
        if "caremail" in SYSTEMS:
            systems["caremail"] = Caremail(build, work)
        if "postfix" in SYSTEMS:
            systems["postfix"] = PostfixDovecot(work, USERS)
        for s in systems.values():
            s.start()
            t = time.time()
            s.setup(USERS)
            log(f"{s.name}: listening on 127.0.0.1:{s.port} ({USERS} mailboxes, set up in {time.time() - t:.1f} s)")

        cases = [(size, c) for size in SIZES for c in CONNS]
        results = {(name, size, c): [] for name in systems for (size, c) in cases}
        order = 0
        names = list(systems)
        total_runs = REPS * len(cases) * len(names)
        for rep in range(REPS):
            seq = cases if rep % 2 == 0 else list(reversed(cases))
            pair = names if rep % 2 == 0 else list(reversed(names))
            for (size, c) in seq:
                for name in pair:
                    order += 1
                    tag = f"{name[:2]}{rep}s{size}c{c}-{stamp}"
                    r = run_one(systems[name], loadgen, size, c, sampler, order, tag)
                    results[(name, size, c)].append(r)
                    extra = (f" e2e {r['e2e_msgs_per_s']:.0f}/s (drained {r['drain_seconds_after_load']} s after load)"
                             if name == "postfix" else "")
                    log(f"[{order}/{total_runs}] {name:8s} {size // 1024:3d} KB x {c:2d}: {r['msgs_per_s']:7.0f} msgs/s"
                        f" p50 {r['p50_ms']:.2f} p99 {r['p99_ms']:.2f} ms, errors {r['errors']}{extra},"
                        f" peak RSS {r['peak_rss_kb'] // 1024} MB, load1 {r['load1_before']}")

        # Cross-check: everything acknowledged is in the mailboxes.
        checks = {}
        for name, s in systems.items():
            acked = sum(r["accepted_total"] for k, rs in results.items() if k[0] == name for r in rs)
            got = s.delivered(USERS)
            checks[name] = {"acknowledged": acked, "in_mailboxes": got, "ok": got == acked}
            log(f"check {name}: {acked} acknowledged with 250, {got} in the mailboxes")
        load_end = os.getloadavg()
        versions = {"postfix": package_version("postfix"), "dovecot": package_version("dovecot-core")}
    finally:
        sampler.running = False
        stop_all()

    # ---- summary ----------------------------------------------------------------------------
    out_cases = []
    print()
    print(f"{'size':>6} {'conns':>5} | {'Caremail msgs/s':>15} {'p50':>7} {'p99':>7} {'RSS MB':>6} |"
          f" {'Postfix acc/s':>13} {'e2e/s':>7} {'p50':>7} {'p99':>7} {'RSS MB':>6} | {'x e2e':>6} {'p99 ratio':>9}")
    for (size, c) in cases:
        entry = {"size": size, "connections": c}
        for name in names:
            entry[name] = summarise(results[(name, size, c)])
            entry[name]["runs"] = results[(name, size, c)]
        cm, pf = entry.get("caremail"), entry.get("postfix")
        if cm and pf:
            entry["ratio_throughput_vs_postfix_e2e"] = round(cm["e2e_msgs_per_s_median"] / pf["e2e_msgs_per_s_median"], 2) \
                if pf["e2e_msgs_per_s_median"] else None
            entry["ratio_throughput_vs_postfix_accept"] = round(cm["msgs_per_s_median"] / pf["msgs_per_s_median"], 2) \
                if pf["msgs_per_s_median"] else None
            entry["ratio_p99_caremail_over_postfix_accept"] = round(cm["p99_ms_median"] / pf["p99_ms_median"], 2) \
                if pf["p99_ms_median"] else None
            entry["target_met"] = bool(entry["ratio_throughput_vs_postfix_e2e"] and entry["ratio_throughput_vs_postfix_e2e"] >= 2
                                       and entry["ratio_p99_caremail_over_postfix_accept"] is not None
                                       and entry["ratio_p99_caremail_over_postfix_accept"] < 1)
        out_cases.append(entry)

        def col(d, k, p=0):
            return fmt(d.get(k + "_median") if d else None, p)
        print(f"{size // 1024:>4}KB {c:>5} | {col(cm, 'msgs_per_s'):>15} {col(cm, 'p50_ms', 2):>7} {col(cm, 'p99_ms', 2):>7}"
              f" {fmt((cm or {}).get('peak_rss_kb_median', 0) / 1024 if cm else None):>6} |"
              f" {col(pf, 'msgs_per_s'):>13} {col(pf, 'e2e_msgs_per_s'):>7} {col(pf, 'p50_ms', 2):>7} {col(pf, 'p99_ms', 2):>7}"
              f" {fmt(pf['peak_rss_kb_median'] / 1024 if pf else None):>6} |"
              f" {fmt(entry.get('ratio_throughput_vs_postfix_e2e'), 2):>6} {fmt(entry.get('ratio_p99_caremail_over_postfix_accept'), 2):>9}")
    print("(medians of the runs; Postfix acc/s = 250s after DATA per second, e2e/s = messages in Dovecot's maildirs per"
          " second until the queue drained; Caremail's 250 is the durable delivery, so its e2e = its msgs/s;"
          " x e2e = Caremail msgs/s / Postfix e2e/s; p99 ratio = Caremail p99 / Postfix p99 (MAIL to final 250))")

    doc = {
        "benchmark": "smtp",
        "machine": machine_info(work),
        "git_commit": commit or "unknown",
        "git_dirty": dirty,
        "caremaild_binary": binary,
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "settings": {"duration_seconds": DURATION, "warmup_seconds": WARMUP, "rest_seconds": REST, "reps": REPS,
                     "sizes": SIZES, "connections": CONNS, "users": USERS, "domain": DOMAIN,
                     "recipients_per_message": 1, "pipelining": True,
                     "order": "each repetition: every case (forward on even, reversed on odd repetitions), the two "
                              "systems back to back (caremail then postfix on even, postfix then caremail on odd "
                              "repetitions); sync + the same rest before every run",
                     "caremail": {"log_level": "info", "encrypt_blobs": True, "worker_threads": WORKERS,
                                  "full_text_index": FTS},
                     "postfix": {"version": versions["postfix"], "dovecot_version": versions["dovecot"],
                                 "path": "smtpd -> cleanup (fsync) -> qmgr -> lmtp -> Dovecot LMTP -> maildir",
                                 "mail_fsync": "optimized", "chroot": False, "defaults_otherwise": True},
                     "rss": "sum of VmRSS (from /proc/PID/stat) over each server's process tree, sampled every 200 ms,"
                            " max over the run (load + drain); postfix = postfix master tree + dovecot master tree;"
                            " peak_rss_anon_kb: the same with statm resident - shared (no shared libraries), fairer"
                            " to a many-process design"},
        "notes": notes + f"; load average at end: {load_end[0]:.2f} {load_end[1]:.2f} {load_end[2]:.2f}",
        "mailbox_check": checks,
        "cases": out_cases,
    }
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    out = os.path.join(HERE, "results", f"smtp-{stamp}.json")
    with open(out, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    print(f"\nsmtp_bench: results in {out}")
    if KEEP:
        print(f"smtp_bench: kept {work}")
    else:
        remove_work(work)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Directory benchmark (issue 6): caremaild's LDAP address book over the national-scale
synthetic directory against Debian's OpenLDAP slapd (mdb, equality and substring indexes)
loaded with the same entries, the same searches sent to both.

    bench/directory_bench.py [BUILD_DIR]          default BUILD_DIR: build
    bench/directory_bench.py --smoke [BUILD_DIR]  5,000 entries, one short run (a check, not a number)

Needs BUILD_DIR/src/caremaild, BUILD_DIR/src/directory/directory_bench and
BUILD_DIR/bench/bench_ldap_load (builds nothing), and root for apt-get when slapd is missing
(installed once, idempotent; nothing is started system-wide).

What it does, in one run:
  1. directory_bench --jsonl-only writes the synthetic directory (the same generator, seed and
     sizes caremaild uses for [directory] synthetic_entries) as JSON lines; this script turns it
     into LDIF for slapd: the same DNs and attributes caremaild serves (ldap/search.hpp), minus
     what the bench account may not see (hidden entries, hidden mobiles), so both servers
     hold the same visible data.
  2. slapd: a throwaway slapd.conf (mdb; indexes objectClass eq; cn, sn, givenName, mail eq,sub;
     o, ou eq), loaded with slapadd -q (timed), started on a loopback port.
  3. caremaild with [directory] synthetic_entries = N; its index build time comes from its
     log (directory.loaded), its resident memory from /proc. A plain account of an
     organisation that is not in the synthetic data binds (it sees every non-hidden entry).
  4. The query mix (below), sent by bench_ldap_load (C++, pre-parsed filters, responses
     framed not decoded: the client is not the bottleneck) at 1 and 32 concurrent clients,
     alternating caremaild and slapd run by run with the same rest before each; medians of
     3 runs (BENCH_RUNS). slapd binds as its rootdn (no ACL work), caremaild as the account
     (privacy checked per entry): if anything, slapd's advantage.

The mix (deterministic), every search with sizeLimit 100 (Thunderbird's maxHits):
  typeahead     60%  a name typed letter by letter ("given surname", sometimes "surname
                     given"), as Thunderbird's default autocomplete filter
                     (|(cn=%v1*%v2-*)(mail=%v1*%v2-*)(sn=%v1*%v2-*))
  contains      10%  the "contains" lookup (|(mail=*x*)(cn=*x*)(givenName=*x*)(sn=*x*)),
                     x = 3 to 6 letters of a surname
  surname+org   15%  (&(objectClass=person)(sn=<surname>)(o=<first word of organisation>*))
  address       10%  (mail=<address>)
  address-prefix 5%  (mail=<beginning of the local part>*)
Before the timed runs, every 50th search of the mix goes to both servers (python3-ldap3,
size limit 500) and the addresses each returns are compared: "agreement" in the JSON
counts the searches both answered in full and how many of those gave the same entries
(with a few differing filters as examples). Searches either one cut short (size limit,
caremaild's window) are counted apart.

Results: bench/results/directory-<UTC timestamp>.json (smoke runs write nothing there).
Environment: BENCH_ENTRIES (1300000), BENCH_RUNS (3), BENCH_SECONDS (15), BENCH_WARMUP (2),
BENCH_REST (3), BENCH_CLIENTS ("1,32"), BENCH_PREWARM (60: seconds of the mix against slapd,
after reading its database files once, and a third of that against caremaild, before any
measurement), BENCH_SLAPD_CACHE (1: keep slapd's loaded database in bench/work/slapd-cache and
reuse it, reporting the slapadd time of the run that made it; 0: slapadd every run),
BENCH_NOTES (free text for the JSON).
"""
import base64
import json
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import unicodedata
import urllib.error
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
BASE_DN = "o=caremail"
ORGS = 10000
SEED = 1
SIZE_LIMIT = 100
BENCH_USER = ("bench.reader@bench-directory.care.example", "amber-lantern-kettle-2026")
SLAPD_ROOT = ("cn=admin," + BASE_DN, "bench-slapd-secret")


def log(*a):
    print(time.strftime("%H:%M:%S"), *a, flush=True)


def die(msg):
    log("error:", msg)
    sys.exit(1)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def rss_kb(pid, field="VmRSS"):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


# ---------------------------------------------------------------------------------------
# packages

def package_version(pkg):
    r = subprocess.run(["dpkg-query", "-W", "-f=${Version}", pkg], capture_output=True, text=True)
    return r.stdout.strip() if r.returncode == 0 and r.stdout.strip() else None


def ensure_slapd():
    if package_version("slapd") and shutil.which("slapadd", path="/usr/sbin:/usr/bin"):
        return
    log("installing slapd")
    guard = "/usr/sbin/policy-rc.d"
    made_guard = False
    if not os.path.exists(guard):  # never let the package start a system-wide slapd
        with open(guard, "w") as f:
            f.write("#!/bin/sh\nexit 101\n")
        os.chmod(guard, 0o755)
        made_guard = True
    try:
        envi = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        r = subprocess.run(["apt-get", "install", "-y", "-q", "slapd"], env=envi)
        if r.returncode != 0:
            subprocess.run(["apt-get", "update", "-q"], env=envi)
            subprocess.run(["apt-get", "install", "-y", "-q", "slapd"], env=envi, check=True)
    finally:
        if made_guard:
            os.unlink(guard)


# ---------------------------------------------------------------------------------------
# data

def fold(s):
    """Lower-case ASCII letters of a name, accents removed ("Zoë" -> "zoe")."""
    s = unicodedata.normalize("NFKD", s)
    return "".join(c for c in s if not unicodedata.combining(c)).lower()


def ldif_line(attr, value):
    safe = (value and value.isascii() and value[0] not in " :<" and value[-1] != " "
            and not any(c in value for c in "\0\r\n"))
    if safe:
        return f"{attr}: {value}\n"
    return f"{attr}:: {base64.b64encode(value.encode()).decode()}\n"


def dn_escape(v):
    out = []
    for i, c in enumerate(v):
        if c in ',+"\\<>;=' or (c == " " and i in (0, len(v) - 1)) or (c == "#" and i == 0):
            out.append("\\" + c)
        else:
            out.append(c)
    return "".join(out)


def entry_attrs(e):
    """The attributes caremaild serves for an entry (ldap::to_entry), as (name, value) pairs."""
    name = e["display_name"] or (e["given_name"] + " " + e["surname"]).strip() or e["address"]
    pairs = [("objectClass", v) for v in ("top", "person", "organizationalPerson", "inetOrgPerson")]
    for attr, v in (("cn", name), ("displayName", name), ("givenName", e["given_name"]),
                    ("sn", e["surname"] or name), ("mail", e["address"]), ("o", e["org_name"]), ("ou", e["unit"]),
                    ("title", e["job_role"]), ("businessCategory", e["speciality"]),
                    ("departmentNumber", e["work_area"]), ("physicalDeliveryOfficeName", e["site"]),
                    ("telephoneNumber", e["telephone"]), ("mobile", "" if e["mobile_hidden"] else e["mobile"]),
                    ("pager", e["pager"]), ("facsimileTelephoneNumber", e["fax"]), ("description", e["notes"])):
        if v:
            pairs.append((attr, v))
    return pairs


def write_ldif(jsonl, ldif):
    """JSON lines -> LDIF for slapadd; returns (entries written, sample of visible entries)."""
    seen_ou, seen_dn = set(), set()
    sample = []
    n = 0
    with open(jsonl) as fin, open(ldif, "w") as out:
        rdn = BASE_DN.split(",")[0].split("=", 1)[1]
        out.write(f"dn: {BASE_DN}\nobjectClass: top\nobjectClass: organization\no: {rdn}\n\n")
        for i, line in enumerate(fin):
            e = json.loads(line)
            if e["hidden"]:
                continue  # the bench account may not see it; caremaild does not return it
            ods = e["ods_code"]
            if ods not in seen_ou:
                seen_ou.add(ods)
                out.write(f"dn: ou={dn_escape(ods)},{BASE_DN}\nobjectClass: top\nobjectClass: organizationalUnit\n"
                          f"ou: {ods}\n" + ldif_line("description", e["org_name"]) + "\n")
            dn = f"mail={dn_escape(e['address'])},ou={dn_escape(ods)},{BASE_DN}"
            if dn.lower() in seen_dn:
                continue
            seen_dn.add(dn.lower())
            out.write(ldif_line("dn", dn))
            for a, v in entry_attrs(e):
                out.write(ldif_line(a, v))
            out.write("\n")
            n += 1
            if i % 97 == 0 and e["kind"] == "person":
                sample.append(e)
    return n, sample


def ldap_value(s):
    """RFC 4515 escaping of an assertion value."""
    return "".join("\\%02x" % ord(c) if c in "*()\\\0" else c for c in s)


def make_queries(sample, n):
    rng = random.Random(SEED)
    out = []
    while len(out) < n:
        e = rng.choice(sample)
        given, surname = fold(e["given_name"]), fold(e["surname"])
        if not given or not surname:
            continue
        k = rng.randrange(100)
        if k < 60:
            full = surname + " " + given if rng.randrange(4) == 0 else given + " " + surname
            stop = min(len(full), 3 + rng.randrange(10))
            for ln in range(1, stop + 1):
                typed = full[:ln]
                if typed.endswith(" "):
                    continue
                words = typed.split(" ", 1)
                v = ldap_value(words[0]) + "*" + (ldap_value(words[1]) + "*" if len(words) > 1 else "")
                out.append(("typeahead", f"(|(cn={v})(mail={v})(sn={v}))"))
        elif k < 70:
            x = ldap_value(surname[:3 + rng.randrange(4)])
            out.append(("contains", f"(|(mail=*{x}*)(cn=*{x}*)(givenName=*{x}*)(sn=*{x}*))"))
        elif k < 85:
            first = e["org_name"].split()[0] if e["org_name"].split() else "x"
            out.append(("surname+org",
                        f"(&(objectClass=person)(sn={ldap_value(e['surname'])})(o={ldap_value(first)}*))"))
        elif k < 95:
            out.append(("address", f"(mail={ldap_value(e['address'])})"))
        else:
            local = e["address"].split("@")[0]
            out.append(("address-prefix", f"(mail={ldap_value(local[:max(3, len(local) * 2 // 3)])}*)"))
    return out[:n]


# ---------------------------------------------------------------------------------------
# servers

class Slapd:
    name = "slapd"

    def __init__(self, work, db=None):
        self.dir = os.path.join(work, "slapd")
        self.db = db or os.path.join(self.dir, "db")
        os.makedirs(self.dir)
        os.makedirs(self.db, exist_ok=True)
        self.conf = os.path.join(self.dir, "slapd.conf")
        self.port = free_port()
        self.pidfile = os.path.join(self.dir, "slapd.pid")
        self.pid = None
        with open(self.conf, "w") as f:
            f.write(f"""# written by bench/directory_bench.py
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
pidfile {self.pidfile}
argsfile {self.dir}/slapd.args
modulepath /usr/lib/ldap
moduleload back_mdb
sizelimit 500
timelimit 10
tool-threads 2
loglevel 0

database mdb
maxsize 34359738368
suffix "{BASE_DN}"
rootdn "{SLAPD_ROOT[0]}"
rootpw {SLAPD_ROOT[1]}
directory {self.db}
index objectClass eq
index cn,sn,givenName,mail eq,sub
index o,ou eq
""")

    def load(self, ldif):
        t = time.time()
        r = subprocess.run(["/usr/sbin/slapadd", "-q", "-f", self.conf, "-l", ldif], capture_output=True, text=True)
        if r.returncode != 0:
            die(f"slapadd failed: {r.stderr[-2000:]}")
        return round(time.time() - t, 1)

    def start(self):
        r = subprocess.run(["/usr/sbin/slapd", "-f", self.conf, "-h", f"ldap://127.0.0.1:{self.port}/"],
                           capture_output=True, text=True)
        if r.returncode != 0:
            die(f"slapd did not start: {r.stderr}")
        end = time.time() + 60
        while time.time() < end:
            if os.path.exists(self.pidfile):
                try:
                    with open(self.pidfile) as f:
                        self.pid = int(f.read().strip())
                    socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                    return
                except (OSError, ValueError):
                    pass
            time.sleep(0.1)
        die("slapd did not start listening")

    def stop(self):
        if self.pid:
            try:
                os.kill(self.pid, signal.SIGTERM)
                for _ in range(300):
                    os.kill(self.pid, 0)
                    time.sleep(0.1)
            except ProcessLookupError:
                pass
            self.pid = None

    def bind(self):
        return SLAPD_ROOT


class Caremail:
    name = "caremail"

    def __init__(self, binary, work, entries):
        self.bin = binary
        self.dir = os.path.join(work, "caremail")
        self.data = os.path.join(self.dir, "data")
        os.makedirs(self.dir)
        self.conf = os.path.join(self.dir, "caremail.toml")
        self.logpath = os.path.join(self.dir, "caremaild.log")
        self.proc = None
        with open(self.conf, "w") as f:
            f.write(f"""# written by bench/directory_bench.py
[server]
data_dir = "{self.data}"
user = ""
shutdown_grace_seconds = 5
[log]
level = "info"
[limits]
max_connections_per_ip = 1000
[http]
listen = ["127.0.0.1:0"]
tls_listen = []
[smtp]
mx_listen = []
submission_listen = []
submissions_listen = []
[imap]
listen = []
tls_listen = []
[ldap]
listen = ["127.0.0.1:0"]
tls_listen = []
base_dn = "{BASE_DN}"
allow_plaintext_bind_on_loopback = true
[directory]
synthetic_entries = {entries}
synthetic_organisations = {ORGS}
synthetic_seed = {SEED}
[mfa]
required_for_administrators = false
""")

    def start(self):
        logf = open(self.logpath, "a")
        self.proc = subprocess.Popen([self.bin, "--config", self.conf], stdout=logf, stderr=subprocess.STDOUT,
                                     start_new_session=True,
                                     # A password of our own: a generated one must be changed first.
                                     env=dict(os.environ, CAREMAIL_ADMIN_PASSWORD=os.environ.get(
                                         "CAREMAIL_ADMIN_PASSWORD", "bench-admin-password-1")))
        ports_file = os.path.join(self.data, "run", "ports.json")
        end = time.time() + 600
        while not os.path.exists(ports_file):
            if self.proc.poll() is not None or time.time() > end:
                die(f"caremaild did not start; see {self.logpath}")
            time.sleep(0.2)
        time.sleep(0.2)
        with open(ports_file) as f:
            ports = json.load(f)
        self.http, self.port = ports["http"], ports["ldap"]
        with open(os.path.join(self.data, "admin.token")) as f:
            self.token = f.read().strip()
        self.pid = self.proc.pid

    def api(self, method, path, body):
        req = urllib.request.Request(f"http://127.0.0.1:{self.http}/api/v1/{path}", method=method,
                                     data=json.dumps(body).encode(),
                                     headers={"Authorization": "Bearer " + self.token,
                                              "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def setup(self):
        st, body = self.api("POST", "organisations", {"ods_code": "ZZB01", "name": "Directory Benchmark Unit",
                                                      "domains": ["bench-directory.care.example"]})
        if st != 201:
            die(f"creating the organisation: {st} {body}")
        st, body = self.api("POST", "accounts", {"address": BENCH_USER[0], "ods_code": "ZZB01",
                                                 "display_name": "Bench Reader", "password": BENCH_USER[1]})
        if st != 201:
            die(f"creating the bench account: {st} {body}")

    def build_stats(self):
        """(index build seconds, index memory bytes) from the directory.loaded log line."""
        secs = mem = None
        with open(self.logpath, errors="replace") as f:
            for line in f:
                if "directory.loaded" in line:
                    m = re.search(r'seconds["=: ]+([0-9.]+)', line)
                    secs = float(m.group(1)) if m else secs
                    m = re.search(r'memory_bytes["=: ]+([0-9]+)', line)
                    mem = int(m.group(1)) if m else mem
        return secs, mem

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def bind(self):
        return BENCH_USER


# ---------------------------------------------------------------------------------------

def agreement(servers, queries, every=50, size_limit=500):
    """The same searches on both servers: do they return the same entries?"""
    try:
        import ldap3
    except ImportError:  # a pyenv interpreter: Debian's python3-ldap3 (pure Python)
        sys.path.append("/usr/lib/python3/dist-packages")
        import ldap3
    conns = {}
    for server in servers:
        dn, pw = server.bind()
        c = ldap3.Connection(ldap3.Server("127.0.0.1", port=server.port, get_info=ldap3.NONE), user=dn,
                             password=pw, raise_exceptions=False, receive_timeout=60)
        c.open()
        if not c.bind():
            die(f"agreement: bind to {server.name} failed: {c.result}")
        conns[server.name] = c
    out = {"compared": 0, "same": 0, "differ": 0, "cut_short": 0, "examples": []}
    for cat, flt in queries[::every]:
        got = {}
        for name, c in conns.items():
            c.search(BASE_DN, flt, attributes=["mail"], size_limit=size_limit, time_limit=30)
            mails = {r["attributes"]["mail"][0].lower() for r in c.response
                     if r.get("type") == "searchResEntry" and r["attributes"].get("mail")}
            # caremaild's own accounts (its first administrator, the bench reader) are not
            # in the synthetic data slapd holds.
            mails = {m for m in mails if m.rsplit("@", 1)[-1] not in ("care.example", BENCH_USER[0].split("@")[1])}
            got[name] = (c.result["result"], mails)
        if any(rc != 0 for rc, _ in got.values()):
            out["cut_short"] += 1
            continue
        out["compared"] += 1
        a, b = got["caremail"][1], got["slapd"][1]
        if a == b:
            out["same"] += 1
            continue
        out["differ"] += 1
        if len(out["examples"]) < 10:
            out["examples"].append({"category": cat, "filter": flt, "only_caremail": sorted(a - b)[:5],
                                    "only_slapd": sorted(b - a)[:5], "caremail": len(a), "slapd": len(b)})
    for c in conns.values():
        c.unbind()
    return out


def load_run(loader, server, queries_file, clients, seconds, warmup):
    dn, pw = server.bind()
    r = subprocess.run([loader, "--port", str(server.port), "--bind-dn", dn, "--password", pw, "--base", BASE_DN,
                        "--queries", queries_file, "--clients", str(clients), "--seconds", str(seconds),
                        "--warmup", str(warmup), "--size-limit", str(SIZE_LIMIT)],
                       capture_output=True, text=True, timeout=seconds + warmup + 300)
    if r.returncode != 0 or not r.stdout.strip():
        die(f"bench_ldap_load against {server.name} failed ({r.returncode}): {r.stderr[-2000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def cpu_seconds(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return None


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    smoke = "--smoke" in sys.argv
    build = os.path.abspath(args[0] if args else os.path.join(ROOT, "build"))
    entries = int(os.environ.get("BENCH_ENTRIES", "5000" if smoke else "1300000"))
    runs = int(os.environ.get("BENCH_RUNS", "1" if smoke else "3"))
    seconds = float(os.environ.get("BENCH_SECONDS", "2" if smoke else "15"))
    warmup = float(os.environ.get("BENCH_WARMUP", "0.5" if smoke else "2"))
    rest = float(os.environ.get("BENCH_REST", "0" if smoke else "3"))
    clients_list = [int(x) for x in os.environ.get("BENCH_CLIENTS", "1,32").split(",")]
    prewarm = float(os.environ.get("BENCH_PREWARM", "0" if smoke else "60"))
    caremaild = os.path.join(build, "src", "caremaild")
    dirbench = os.path.join(build, "src", "directory", "directory_bench")
    loader = os.path.join(build, "bench", "bench_ldap_load")
    for p in (caremaild, dirbench, loader):
        if not os.access(p, os.X_OK):
            die(f"missing {p} (cmake --build {build} --target caremaild directory_bench bench_ldap_load)")
    # The smoke run (in `make test`) installs slapd too when it can (root): its agreement
    # check is what says caremaild's LDAP answers are complete.
    if smoke and not package_version("slapd") and os.geteuid() != 0:
        log("smoke: slapd is not installed and this is not root (apt-get install slapd): skipped")
        return 77  # ctest SKIP_RETURN_CODE
    try:
        ensure_slapd()
    except (subprocess.CalledProcessError, OSError) as e:
        if not smoke:
            raise
        log(f"smoke: slapd could not be installed ({e}): skipped")
        return 77

    work = os.path.join(ROOT, "bench", "work", time.strftime("directory-%Y%m%dT%H%M%SZ", time.gmtime()))
    os.makedirs(work)
    slapd = cm = None
    try:
        log(f"generating {entries} entries")
        jsonl = os.path.join(work, "directory.jsonl")
        subprocess.run([dirbench, "--entries", str(entries), "--orgs", str(ORGS), "--seed", str(SEED),
                        "--jsonl", jsonl, "--jsonl-only"], check=True)
        ldif = os.path.join(work, "directory.ldif")
        t = time.time()
        visible, sample = write_ldif(jsonl, ldif)
        log(f"LDIF: {visible} visible entries in {time.time() - t:.0f} s")
        os.unlink(jsonl)
        queries = make_queries(sample, 500 if smoke else 20000)
        qfile = os.path.join(work, "queries.tsv")
        with open(qfile, "w") as f:
            for cat, flt in queries:
                f.write(f"{cat}\t{flt}\n")

        # slapadd takes 10-15 minutes at full scale: its database is kept between runs in
        # bench/work/slapd-cache/<entries>-<orgs>-<seed> (BENCH_SLAPD_CACHE=0: load afresh).
        cache = os.path.join(ROOT, "bench", "work", "slapd-cache", f"{entries}-{ORGS}-{SEED}")
        meta_path = os.path.join(cache, "meta.json")
        use_cache = os.environ.get("BENCH_SLAPD_CACHE", "0" if smoke else "1") == "1"
        slapd_cached = False
        if use_cache and os.path.exists(meta_path):
            with open(meta_path) as f:
                meta = json.load(f)
            slapd = Slapd(work, os.path.join(cache, "db"))
            slapadd_s = meta["slapadd_seconds"]
            slapd_cached = True
            log(f"slapd: database from {cache} (slapadd took {slapadd_s} s on {meta['date']})")
        else:
            if use_cache:
                shutil.rmtree(cache, ignore_errors=True)
            slapd = Slapd(work, os.path.join(cache, "db") if use_cache else None)
            log("slapadd ...")
            slapadd_s = slapd.load(ldif)
            log(f"slapadd: {slapadd_s} s")
            if use_cache:
                with open(meta_path, "w") as f:
                    json.dump({"slapadd_seconds": slapadd_s, "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                               "slapd": package_version("slapd")}, f)
        os.unlink(ldif)
        # Blocks in use: data.mdb is a sparse file of `maxsize` octets.
        db_bytes = sum(os.stat(os.path.join(slapd.db, f)).st_blocks * 512 for f in os.listdir(slapd.db))
        slapd.start()

        cm = Caremail(caremaild, work, entries)
        t = time.time()
        cm.start()
        start_s = round(time.time() - t, 1)
        cm.setup()
        build_s, index_bytes = cm.build_stats()
        rss_after_start = rss_kb(cm.pid)
        log(f"caremaild: started in {start_s} s, index build {build_s} s, VmRSS {rss_after_start // 1024} MB")

        agree = agreement((cm, slapd), queries, every=2 if smoke else 50)
        log(f"agreement: {agree['same']} of {agree['compared']} searches answered in full gave the same entries "
            f"({agree['cut_short']} cut short by a limit)")
        for x in agree["examples"][:3]:
            log(f"  differ: {x['filter']} caremail {x['caremail']} slapd {x['slapd']} "
                f"only caremail {x['only_caremail'][:2]} only slapd {x['only_slapd'][:2]}")

        # Warm both: slapd's database is a memory map read from disk on first use (read it
        # once, then run the mix); caremaild's index is in memory already (a shorter pass).
        if prewarm > 0:
            log(f"warming up ({prewarm:.0f} s slapd, {prewarm / 3:.0f} s caremaild)")
            for f in os.listdir(slapd.db):
                with open(os.path.join(slapd.db, f), "rb") as fh:
                    while fh.read(1 << 24):
                        pass
            load_run(loader, slapd, qfile, 4, prewarm, 0)
            load_run(loader, cm, qfile, 4, prewarm / 3, 0)

        results = {s: {c: [] for c in clients_list} for s in ("caremail", "slapd")}
        cpu = {s: {c: [] for c in clients_list} for s in ("caremail", "slapd")}
        for run in range(runs):
            for clients in clients_list:
                for server in (cm, slapd) if run % 2 == 0 else (slapd, cm):
                    time.sleep(rest)
                    c0 = cpu_seconds(server.pid)
                    r = load_run(loader, server, qfile, clients, seconds, warmup)
                    c1 = cpu_seconds(server.pid)
                    r["server_cpu_seconds"] = round(c1 - c0, 2) if c0 is not None and c1 is not None else None
                    results[server.name][clients].append(r)
                    a = r["categories"]["all"]
                    log(f"run {run + 1} {server.name:8} {clients:2} clients: {r['qps']:8.0f} q/s  "
                        f"p50 {a['p50_us']:6.0f} us  p99 {a['p99_us']:7.0f} us  "
                        f"typeahead p99 {r['categories'].get('typeahead', {}).get('p99_us', 0):7.0f} us")
        rss_end = rss_kb(cm.pid)
        hwm = rss_kb(cm.pid, "VmHWM")
        slapd_rss = rss_kb(slapd.pid)

        def med(server, clients, cat, key):
            vals = [r["categories"].get(cat, {}).get(key) for r in results[server][clients]]
            vals = [v for v in vals if v is not None]
            return statistics.median(vals) if vals else None

        summary = {}
        cats = ["all", "typeahead", "contains", "surname+org", "address", "address-prefix"]
        for clients in clients_list:
            s = {}
            for server in ("caremail", "slapd"):
                s[server] = {"qps": statistics.median(r["qps"] for r in results[server][clients])}
                for cat in cats:
                    s[server][cat] = {k: med(server, clients, cat, k) for k in ("p50_us", "p99_us", "mean_entries")}
            s["qps_ratio_caremail_over_slapd"] = round(s["caremail"]["qps"] / s["slapd"]["qps"], 2) \
                if s["slapd"]["qps"] else None
            summary[f"{clients}_clients"] = s
        out = {
            "benchmark": "directory",
            "utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "smoke": smoke,
            "notes": os.environ.get("BENCH_NOTES", ""),
            "machine": {"cpus": os.cpu_count()},
            "entries": entries, "visible_entries": visible, "organisations": ORGS, "seed": SEED,
            "runs": runs, "seconds": seconds, "warmup": warmup, "rest": rest, "prewarm": prewarm,
            "size_limit": SIZE_LIMIT,
            "queries_in_mix": len(queries),
            "caremail": {"index_build_seconds": build_s, "index_memory_bytes": index_bytes,
                         "start_seconds": start_s,
                         "rss_mb_after_start": rss_after_start // 1024 if rss_after_start else None,
                         "rss_mb_end": rss_end // 1024 if rss_end else None,
                         "hwm_mb": hwm // 1024 if hwm else None},
            "slapd": {"version": package_version("slapd"), "slapadd_seconds": slapadd_s,
                      "database_from_cache": slapd_cached,
                      "db_mb": db_bytes // (1 << 20), "rss_mb_end": slapd_rss // 1024 if slapd_rss else None},
            "agreement": agree,
            "summary": summary,
            "raw": results,
            "targets": {"typeahead_p99_ms": 5, "qps_ratio": 5, "index_build_s": 60, "rss_gb": 2},
        }
        text = json.dumps(out, indent=1)
        if smoke:
            print(json.dumps(summary, indent=1))
        else:
            path = os.path.join(ROOT, "bench", "results", time.strftime("directory-%Y-%m-%dT%H%M%SZ.json",
                                                                        time.gmtime()))
            with open(path, "w") as f:
                f.write(text + "\n")
            log("wrote", path)
            print(json.dumps(summary, indent=1))
        failed = any(r.get("failed") for srv in results.values() for lst in srv.values() for r in lst)
        if smoke and agree["differ"]:
            log("smoke: the servers disagree")
            failed = True
        return 1 if failed else 0
    finally:
        if cm:
            cm.stop()
        if slapd:
            slapd.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

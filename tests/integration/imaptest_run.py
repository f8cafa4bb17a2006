"""Run Dovecot's imaptest against a fresh caremaild (issue 15).

    python3 tests/integration/imaptest_run.py compliance [--keep] [--groups a,b]
    python3 tests/integration/imaptest_run.py stress --clients 50 --users 5 --secs 300
    python3 tests/integration/imaptest_run.py build

imaptest itself stays outside the repository: it is built from ../shared/tools/imaptest into
IMAPTEST_DIR (default /tmp/imaptest) on first use. Exits 0 when nothing failed, 1 on a failed
command or an "Error:" line, 77 when imaptest is not present (ctest reports that as skipped).
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Daemon, SOURCE  # noqa: E402

TOOLS = os.environ.get("CAREMAIL_IMAPTEST_SOURCE", os.path.abspath(os.path.join(SOURCE, "..", "shared", "tools",
                                                                                  "imaptest")))
IMAPTEST_DIR = os.environ.get("IMAPTEST_DIR", "/tmp/imaptest")
ORG = "RR8"
DOMAIN = "leeds.care.example"
# imaptest logs in as the same user on a second connection for its two-session tests; the
# password must not contain the user's name (the password policy refuses that).
PASSWORD = "copper-meadow-981"
SKIP = 77


def imaptest_binary():
    binary = os.path.join(IMAPTEST_DIR, "bin", "imaptest")
    if os.path.exists(binary):
        return binary
    if not os.path.exists(os.path.join(TOOLS, "build.sh")):
        return None
    r = subprocess.run(["bash", os.path.join(TOOLS, "build.sh"), IMAPTEST_DIR], capture_output=True, text=True)
    if r.returncode != 0 or not os.path.exists(binary):
        sys.stderr.write(r.stdout + r.stderr)
        raise SystemExit("imaptest did not build")
    return binary


def start_daemon(extra=""):
    d = Daemon("[imap]\nallow_plaintext_auth_on_loopback = true\n" + extra)
    d.start()
    d.create_org(ORG, "Leeds Teaching Hospitals", [DOMAIN])
    return d


def run(binary, args, timeout):
    env = dict(os.environ, LD_LIBRARY_PATH="/usr/lib/dovecot")
    r = subprocess.run([binary, *args], capture_output=True, text=True, env=env, timeout=timeout)
    return r.stdout + r.stderr


def compliance(binary, groups, keep):
    d = start_daemon()
    try:
        d.create_user(f"imaptest@{DOMAIN}", ORG, PASSWORD)
        tests = os.path.join(IMAPTEST_DIR, "tests")
        if groups:
            # imaptest runs every file of a directory: make one with the named groups only.
            sel = tempfile.mkdtemp(prefix="imaptest-groups-")
            shutil.copy(os.path.join(tests, "default.mbox"), sel)
            for g in groups:
                for suffix in ("", ".mbox"):
                    src = os.path.join(tests, g + suffix)
                    if os.path.exists(src):
                        shutil.copy(src, sel)
            tests = sel
        out = run(binary, ["host=127.0.0.1", f"port={d.ports['imap']}", f"user=imaptest@{DOMAIN}",
                           f"pass={PASSWORD}", f"test={tests}"], timeout=900)
        print(out)
        m_groups = re.search(r"(\d+) test groups: (\d+) failed", out)
        m_base = re.search(r"base protocol: (\d+)/(\d+) individual commands failed", out)
        m_ext = re.search(r"extensions: (\d+)/(\d+) individual commands failed", out)
        if not (m_groups and m_base and m_ext):
            print("imaptest's summary lines are missing")
            return 1
        failed = int(m_groups.group(2)) + int(m_base.group(1)) + int(m_ext.group(1))
        print(f"caremaild: {m_groups.group(2)} groups failed, base {m_base.group(1)}/{m_base.group(2)}, "
              f"extensions {m_ext.group(1)}/{m_ext.group(2)}")
        return 1 if failed else 0
    finally:
        if keep:
            print("kept", d.tmp)
            d.stop()
        else:
            d.cleanup()


def stress(binary, clients, users, secs):
    # Every client comes from 127.0.0.1, and imaptest reconnects as soon as it logs out,
    # while the server may still be closing the old connection: the per-address cap (a
    # guard against one host holding the server, 50 by default) would refuse some of them
    # ("Malformed banner" errors at 50 clients), which says nothing about consistency.
    d = start_daemon(f"[limits]\nmax_connections_per_ip = {4 * clients + 16}\n")
    try:
        for i in range(1, users + 1):
            d.create_user(f"st{i}@{DOMAIN}", ORG, PASSWORD)
        mbox = os.path.join(d.tmp, "stress.mbox")
        with open(mbox, "w") as f:
            for i in range(40):
                f.write(f"From sender{i}@example.org Mon Dec  7 10:00:00 2026\n"
                        f"From: Sender {i} <sender{i}@example.org>\nTo: st@{DOMAIN}\n"
                        f"Subject: stress message {i}\nMessage-ID: <stress{i}@example.org>\n"
                        f"Date: Mon, 7 Dec 2026 10:{i % 60:02d}:00 +0000\n\n"
                        + f"Line {i} of the stress body.\n" * (1 + i * 7) + "\n")
        out = run(binary, ["host=127.0.0.1", f"port={d.ports['imap']}", f"user=st%d@{DOMAIN}",
                           f"users={users}", f"pass={PASSWORD}", f"clients={clients}", f"secs={secs}",
                           f"mbox={mbox}"], timeout=secs + 300)
        errors = [line for line in out.splitlines() if "Error:" in line]
        print(out[-6000:])
        kinds = {}
        for line in errors:  # "Error: user[client]: what" -> what, numbers elided
            what = re.sub(r"\d+", "N", line.split("]: ", 1)[-1])[:160]
            kinds[what] = kinds.get(what, 0) + 1
        for what, n in sorted(kinds.items(), key=lambda kv: -kv[1]):
            print(f"{n:6d} x {what}")
        d.stop()
        fsck = d.fsck()
        print("fsck:", fsck.returncode, fsck.stdout[-2000:], fsck.stderr[-2000:])
        # The server's own view: nothing it logged at error level (a message expunged by one
        # session while another fetched it was once logged as blob corruption).
        logged = [line for line in d.read_log().splitlines() if '"level":"error"' in line or " level=error " in line]
        for line in logged[:20]:
            print("caremaild error:", line[:400])
        print(f"caremaild stress: {clients} clients, {users} users, {secs} s: {len(errors)} Error lines, "
              f"{len(logged)} errors logged by caremaild, fsck {'clean' if fsck.returncode == 0 else 'FAILED'}")
        return 1 if errors or logged or fsck.returncode != 0 else 0
    finally:
        d.cleanup()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["build", "compliance", "stress"])
    p.add_argument("--groups", default="")
    p.add_argument("--keep", action="store_true")
    p.add_argument("--clients", type=int, default=20)
    p.add_argument("--users", type=int, default=5)
    p.add_argument("--secs", type=int, default=30)
    a = p.parse_args()
    binary = imaptest_binary()
    if binary is None:
        print("skipped: imaptest not present (../shared/tools/imaptest)")
        return SKIP
    if a.mode == "build":
        print(binary)
        return 0
    if a.mode == "compliance":
        return compliance(binary, [g for g in a.groups.split(",") if g], a.keep)
    return stress(binary, a.clients, a.users, a.secs)


if __name__ == "__main__":
    sys.exit(main())

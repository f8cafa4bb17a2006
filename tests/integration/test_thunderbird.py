"""Thunderbird's address-book autocomplete against caremaild's LDAP directory.

A real Thunderbird (Debian's ESR, headless) with a fresh profile holding an LDAP directory
that points at caremaild and is the autocomplete directory, driven over Marionette: the
password is saved where Thunderbird's LDAP code looks it up, and the names a user types
in a recipient field go through Thunderbird's own LDAP autocomplete search (its default
filter template, (|(cn=*%v1*%v2-*)(mail=*%v*)(givenName=*%v1*)(sn=*%v*)): pieces anywhere
in the value), bind included.
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # also runnable as a script
from harness import DaemonTestCase  # noqa: E402

THUNDERBIRD = shutil.which("thunderbird")
ORG, DOMAIN = "RX1", "leeds.care.example"
ORG2, DOMAIN2 = "RR8", "sheffield.care.example"
SARAH = ("sarah.smith@" + DOMAIN, "river-stone-123")
PEOPLE = [
    (SARAH[0], ORG, SARAH[1], "Sarah Smith"),
    ("john.smithson@" + DOMAIN, ORG, "copper-meadow-123", "John Smithson"),
    ("nina.goldsmith@" + DOMAIN, ORG, "harbour-lantern-123", "Nina Goldsmith"),
    ("lukasz.wojcik@" + DOMAIN, ORG, "granite-willow-123", "Łukasz Wójcik"),
    ("hidden.smithers@" + DOMAIN2, ORG2, "velvet-canyon-123", "Hidden Smithers"),
]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Marionette:
    """The Marionette protocol: length-prefixed JSON, [0, id, command, params] ->
    [1, id, error, result]."""

    def __init__(self, port, timeout=120):
        end = time.time() + timeout
        while True:
            try:
                self.sock = socket.create_connection(("127.0.0.1", port), timeout=90)
                break
            except OSError:
                if time.time() > end:
                    raise
                time.sleep(0.5)
        self.buf = b""
        self.id = 0
        self.read()  # the server's hello

    def read(self):
        while b":" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("Marionette closed the connection")
            self.buf += chunk
        n, _, rest = self.buf.partition(b":")
        n = int(n)
        while len(rest) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("Marionette closed the connection")
            rest += chunk
        self.buf = rest[n:]
        return json.loads(rest[:n])

    def command(self, name, params):
        self.id += 1
        data = json.dumps([0, self.id, name, params]).encode()
        self.sock.sendall(str(len(data)).encode() + b":" + data)
        while True:
            msg = self.read()
            if msg[0] == 1 and msg[1] == self.id:
                if msg[2]:
                    raise RuntimeError(f"{name}: {msg[2].get('message', msg[2])}")
                return msg[3]

    def close(self):
        self.sock.close()


def start_thunderbird(test, prefs, env=None):
    """Starts Thunderbird headless on a fresh profile (test.profile, removed at cleanup) with
    these preferences in user.js, and returns a Marionette connection in chrome context.
    Its output goes to thunderbird.log in the profile; `env` adds environment variables, in
    whose values {profile} is the profile's path."""
    test.profile = tempfile.mkdtemp(prefix="caremail-tb-")
    test.addCleanup(shutil.rmtree, test.profile, True)
    port = free_port()
    prefs = {
        "marionette.port": port,
        "mail.provider.suppress_dialog_on_startup": True,
        "mail.shell.checkDefaultClient": False,
        "app.update.disabledForTesting": True,
        **prefs,
    }
    with open(os.path.join(test.profile, "user.js"), "w") as f:
        for k, v in prefs.items():
            f.write(f"user_pref({json.dumps(k)}, {json.dumps(v)});\n")
    env = dict(os.environ, **{k: v.format(profile=test.profile) for k, v in (env or {}).items()})
    with open(os.path.join(test.profile, "thunderbird.log"), "w") as log:
        tb = subprocess.Popen([THUNDERBIRD, "--headless", "--marionette", "-remote-allow-system-access",
                               "--no-remote", "--profile", test.profile], stdout=log, stderr=subprocess.STDOUT, env=env)
    test.addCleanup(stop_thunderbird, tb)
    m = Marionette(port)
    test.addCleanup(m.close)
    m.command("WebDriver:NewSession", {"capabilities": {}})
    m.command("Marionette:SetContext", {"value": "chrome"})
    return m


def stop_thunderbird(tb):
    tb.terminate()
    try:
        tb.wait(30)
    except subprocess.TimeoutExpired:
        tb.kill()
        tb.wait()


# Runs in Thunderbird's chrome: saves the bind password where its LDAP code looks for it
# (LoginManagerAuthPrompter: the directory URL's origin, the URL as the realm, the URL's
# user name, none), then types each string into its LDAP autocomplete search.
AUTOCOMPLETE = r"""
const password = arguments[0], typed = arguments[1];
const run = async () => {
  const { MailServices } = ChromeUtils.importESModule("resource:///modules/MailServices.sys.mjs");
  const dir = MailServices.ab.getDirectory("moz-abldapdirectory://ldap_2.servers.caremail")
    .QueryInterface(Ci.nsIAbLDAPDirectory);
  const url = dir.lDAPURL;
  const login = Cc["@mozilla.org/login-manager/loginInfo;1"].createInstance(Ci.nsILoginInfo);
  login.init(url.prePath, null, url.prePath + url.pathQueryRef, "", password, "", "");
  await Services.logins.initializationPromise;
  await Services.logins.addLoginAsync(login);
  const search = Cc["@mozilla.org/autocomplete/search;1?name=ldap"].getService(Ci.nsIAutoCompleteSearch);
  const out = {};
  for (const t of typed) {
    out[t] = await new Promise(resolve => {
      search.startSearch(t, "{}", null, {
        onSearchResult(s, r) {
          if (r.searchResult == Ci.nsIAutoCompleteResult.RESULT_SUCCESS_ONGOING ||
              r.searchResult == Ci.nsIAutoCompleteResult.RESULT_NOMATCH_ONGOING) return;
          const values = [];
          for (let i = 0; i < r.matchCount; i++) values.push(r.getValueAt(i));
          resolve({result: r.searchResult, values});
        },
      });
    });
  }
  return out;
};
return run().then(out => JSON.stringify(out), e => JSON.stringify({error: String(e)}));
"""

RESULT_NOMATCH, RESULT_SUCCESS = 3, 4  # nsIAutoCompleteResult


@unittest.skipIf(THUNDERBIRD is None, "thunderbird is not installed (scripts/deps.sh installs it)")
class ThunderbirdTest(DaemonTestCase):
    EXTRA = "[ldap]\nallow_plaintext_bind_on_loopback = true\n"

    @classmethod
    def populate(cls):
        cls.d.create_org(ORG, "Leeds Teaching Hospitals", [DOMAIN])
        cls.d.create_org(ORG2, "Sheffield Teaching Hospitals", [DOMAIN2])
        for address, org, password, name in PEOPLE:
            cls.d.create_user(address, org, password, display_name=name)
        st, _, body = cls.d.api("PUT", f"/api/v1/directory/entries/{PEOPLE[4][0]}", {"hidden": True})
        assert st == 204, (st, body)

    def start_thunderbird(self):
        return start_thunderbird(self, {
            "ldap_2.servers.caremail.uri": f"ldap://127.0.0.1:{self.d.ports['ldap']}/o=caremail??sub?(objectclass=*)",
            "ldap_2.servers.caremail.description": "Caremail",
            "ldap_2.servers.caremail.dirType": 0,  # LDAP
            "ldap_2.servers.caremail.auth.dn": SARAH[0],
            "ldap_2.servers.caremail.maxHits": 100,
            "ldap_2.autoComplete.useDirectory": True,
            "ldap_2.autoComplete.directoryServer": "ldap_2.servers.caremail",
        })

    def test_autocomplete(self):
        m = self.start_thunderbird()
        typed = ["smi", "sarah smi", "gold", "ł", "WÓJC", "nobody"]
        r = m.command("WebDriver:ExecuteScript", {"script": AUTOCOMPLETE, "args": [SARAH[1], typed]})
        got = json.loads(r["value"])
        self.assertNotIn("error", got, got)
        # Pieces anywhere in a name (Thunderbird's default filter): Goldsmith too; not the
        # entry hidden from other organisations.
        self.assertEqual(got["smi"]["result"], RESULT_SUCCESS)
        self.assertEqual(sorted(got["smi"]["values"]), [
            f"John Smithson <john.smithson@{DOMAIN}>",
            f"Nina Goldsmith <nina.goldsmith@{DOMAIN}>",
            f"Sarah Smith <sarah.smith@{DOMAIN}>",
        ])
        self.assertEqual(got["sarah smi"]["values"], [f"Sarah Smith <sarah.smith@{DOMAIN}>"])
        self.assertEqual(got["gold"]["values"], [f"Nina Goldsmith <nina.goldsmith@{DOMAIN}>"])
        # caseIgnore beyond ASCII, as slapd: ł is Ł, ó is Ó.
        self.assertEqual(got["ł"]["values"], [f"Łukasz Wójcik <lukasz.wojcik@{DOMAIN}>"])
        self.assertEqual(got["WÓJC"]["values"], [f"Łukasz Wójcik <lukasz.wojcik@{DOMAIN}>"])
        self.assertEqual(got["nobody"], {"result": RESULT_NOMATCH, "values": []})
        # Thunderbird bound with Sarah's credentials (no anonymous search is allowed).
        self.assertIn("event=ldap.bind session=", self.d.read_log())
        self.assertIn(f"user={SARAH[0]}", self.d.read_log())


if __name__ == "__main__":
    unittest.main()

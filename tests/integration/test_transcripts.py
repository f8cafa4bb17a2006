"""Every transcript under tests/transcripts/ (SMTP and IMAP conversations: client lines and the
replies expected, see tests/transcripts/README.md) played against a real caremaild. One
daemon per directory, configured here; one test per .in file.

    python3 test_transcripts.py --print imap_login/logout   # the conversation as it is now
"""
import itertools
import os
import sys
import unittest

import transcript
from harness import DaemonTestCase

DOMAIN = "leeds.care.example"


class TranscriptSuite(DaemonTestCase):
    """A directory of transcripts against one daemon (EXTRA, populate()); variables() gives
    each transcript the names its lines use."""
    DIRECTORY = None

    def variables(self, name):
        return {"domain": DOMAIN}


def with_transcripts(cls):
    """One test method per .in file of cls.DIRECTORY."""
    folder = os.path.join(transcript.TRANSCRIPTS, cls.DIRECTORY)
    for f in sorted(os.listdir(folder)):
        if f.endswith(".in"):
            name = cls.DIRECTORY + "/" + f[:-3]

            def test(self, name=name):
                transcript.run(self, name, self.variables(name))

            setattr(cls, "test_" + f[:-3], test)
    return cls


class SmtpSuite(TranscriptSuite):
    """Two accounts, ${jo} and ${al}."""
    USERS = {"jo": "jo.bloggs@" + DOMAIN, "al": "al.smith@" + DOMAIN}

    @classmethod
    def populate(cls):
        cls.d.create_org("RX1", "Leeds Teaching Hospitals", [DOMAIN])
        for i, address in enumerate(cls.USERS.values()):
            cls.d.create_user(address, "RX1", f"transcript-password-{i:04d}")

    def variables(self, name):
        return {"domain": DOMAIN, **self.USERS}


@with_transcripts
class SmtpTranscripts(SmtpSuite):
    """The MX and submission ports, configured as in test_smtp.py's SmtpTest."""
    DIRECTORY = "smtp"
    EXTRA = '[smtp]\nmax_recipients = 5\ntrusted_relays = ["127.0.0.2/32"]\n'


@with_transcripts
class SmtpLimitsTranscripts(SmtpSuite):
    """Commands before a mail transaction, configured as in test_limits.py's SlowClientTest."""
    DIRECTORY = "smtp_limits"
    EXTRA = ("[limits]\nidle_timeout_seconds = 3\ncommand_timeout_seconds = 2\n"
             "[smtp]\nmax_commands_before_mail = 5\npreauth_timeout_seconds = 120\n"
             "[ldap]\nmax_anonymous_requests = 5\nanonymous_timeout_seconds = 120\nidle_timeout_seconds = 600\n")


class ImapSuite(TranscriptSuite):
    """Each transcript gets two fresh accounts: ${user} (password ${password}) and ${other}."""
    _n = itertools.count(1)

    @classmethod
    def populate(cls):
        cls.d.create_org("RX1", "Leeds Teaching Hospitals", [DOMAIN])

    def variables(self, name):
        out = {"domain": DOMAIN}
        for key in ("user", "other"):
            n = next(self._n)
            address, password = f"{self.DIRECTORY.replace('_', '-')}{n}@{DOMAIN}", f"quiet-harbour-{n:04d}"
            self.d.create_user(address, "RX1", password)
            out[key], out[key + "_password"] = address, password
        out["password"] = out["user_password"]
        out["user_length"], out["password_length"] = len(out["user"]), len(out["password"])
        return out


@with_transcripts
class ImapLoginTranscripts(ImapSuite):
    """TLS and login rules, configured as in test_imap.py's ImapTlsAndLoginTest."""
    DIRECTORY = "imap_login"
    EXTRA = "[imap]\nmax_errors = 5\nmax_auth_failures = 3\n"


@with_transcripts
class ImapPreauthTranscripts(ImapSuite):
    """What a client that has not logged in may do, configured as in test_imap.py's
    ImapPreauthLimitsTest."""
    DIRECTORY = "imap_preauth"
    EXTRA = ("[imap]\nallow_plaintext_auth_on_loopback = true\nmax_errors = 5\nmax_preauth_seconds = 6\n"
             "max_preauth_command_bytes = 8192\n"
             "[limits]\ncommand_timeout_seconds = 3\n")


@with_transcripts
class ImapCommandsTranscripts(ImapSuite):
    """Commands after login, configured as in test_imap.py's ImapCommandsTest."""
    DIRECTORY = "imap_commands"
    EXTRA = "[imap]\nallow_plaintext_auth_on_loopback = true\n"


@with_transcripts
class ImapMailboxTranscripts(ImapSuite):
    """Mailbox names and subscriptions, configured as in test_imap_mailbox.py."""
    DIRECTORY = "imap_mailbox"
    EXTRA = "[imap]\nallow_plaintext_auth_on_loopback = true\n"


SUITES = (SmtpTranscripts, SmtpLimitsTranscripts, ImapLoginTranscripts, ImapPreauthTranscripts,
          ImapCommandsTranscripts, ImapMailboxTranscripts)


def print_transcript(name):
    """Plays NAME.in and prints the conversation (a start for its .ref)."""
    suite = next(c for c in SUITES if name.startswith(c.DIRECTORY + "/"))
    suite.setUpClass()
    try:
        with open(os.path.join(transcript.TRANSCRIPTS, name + ".in")) as f:
            lines = f.read().splitlines()
        variables = suite().variables(name)
        for line in transcript.Player(suite.d.ports, variables).play(lines):
            for k, v in variables.items():
                if k != "domain" and isinstance(v, str) and len(v) > 3:
                    line = line.replace(v, "${%s}" % k)
            print(line)
    finally:
        suite.tearDownClass()


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--print":
        print_transcript(sys.argv[2])
    else:
        unittest.main()

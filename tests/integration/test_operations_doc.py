"""docs/OPERATIONS.md names configuration options (`smtp.trusted_relays`, `[server] user`):
every one it names must exist in config/caremail.example.toml, which test_daemon checks
against caremaild itself, so the operators' guide cannot drift from the code."""
import os
import re
import unittest

from harness import SOURCE


def example_options():
    opts, section = set(), None
    with open(os.path.join(SOURCE, "config", "caremail.example.toml")) as f:
        for line in f:
            line = line.strip()
            m = re.match(r"^#?\s*\[([a-z_]+)\]$", line)
            if m:
                section = m.group(1)
                continue
            m = re.match(r"^#?\s*([a-z_0-9]+)\s*=", line)
            if m and section:
                opts.add(f"{section}.{m.group(1)}")
    return opts


def log_events():
    """Names the code logs events under (`log::info("imap.login", ...)`): the doc names those too."""
    events = set()
    for root, _, files in os.walk(os.path.join(SOURCE, "src")):
        for name in files:
            if name.endswith(".cpp"):
                with open(os.path.join(root, name), errors="replace") as f:
                    events.update(re.findall(r'log::[a-z]+\(\s*"([a-z_]+\.[a-z_.]+)"', f.read()))
    return events


class OperationsDocTest(unittest.TestCase):
    def test_every_option_named_exists(self):
        with open(os.path.join(SOURCE, "docs", "OPERATIONS.md")) as f:
            doc = f.read()
        sections = {o.split(".")[0] for o in example_options()}
        named = set()
        for m in re.finditer(r"`\[([a-z_]+)\] ([a-z_0-9]+)`", doc):
            named.add(f"{m.group(1)}.{m.group(2)}")
        for m in re.finditer(r"`([a-z_]+)\.([a-z_0-9]+)`", doc):
            if m.group(1) in sections:
                named.add(f"{m.group(1)}.{m.group(2)}")
        named -= log_events()
        self.assertGreater(len(named), 30, "the Security model names its options")
        missing = sorted(named - example_options())
        self.assertEqual(missing, [], "options named in docs/OPERATIONS.md but not in the example config")


if __name__ == "__main__":
    unittest.main()

"""IMAP search extensions of issue 15 with raw IMAP over a socket (test_imap.py's Conn):
ESORT and PARTIAL (RFC 5267), CONTEXT=SEARCH updates and CANCELUPDATE (RFC 5267 §4),
RFC 7162 MODSEQ entry names and the ESEARCH MODSEQ of RFC 7162 §3.1.5."""
import time
import unittest

from test_imap import ImapBase, message


class ImapSearchExtensionsTest(ImapBase):
    EXTRA = "[imap]\nallow_plaintext_auth_on_loopback = true\n"

    def box(self, n, mailbox="INBOX", subjects=None):
        u = self.user()
        c = self.conn(u, tls=False)
        if mailbox != "INBOX":
            self.ok(c.cmd(f"CREATE {mailbox}"))
        for i in range(n):
            subject = subjects[i] if subjects else f"message {i + 1}"
            self.ok(c.cmd_literal(f"APPEND {mailbox}", message(subject, body=f"body {i + 1}\r\n")))
        self.ok(c.select(mailbox))
        return u, c

    def test_capabilities(self):
        u, c = self.box(0)
        caps = c.capabilities()
        for cap in ("ESEARCH", "ESORT", "SEARCHRES", "CONTEXT=SEARCH", "WITHIN", "SORT", "SORT=DISPLAY"):
            self.assertIn(cap, caps)

    def test_esort_returns_in_sort_order(self):
        u, c = self.box(4, subjects=["d", "b", "c", "a"])
        r = self.ok(c.cmd("SORT RETURN (MIN MAX ALL COUNT) (SUBJECT) UTF-8 ALL"))
        e = r.esearch()
        # MIN and MAX are the first and last in sort order; ALL keeps the order.
        self.assertEqual((e["MIN"], e["MAX"], e["ALL"], e["COUNT"]), ("4", "1", "4,2:3,1", "4"), r)
        r = self.ok(c.cmd("UID SORT RETURN (ALL) (REVERSE SUBJECT) UTF-8 ALL"))
        self.assertEqual(r.esearch()["ALL"], "1,3,2,4")
        self.assertTrue(r.esearch()["UID"])
        r = self.ok(c.cmd("SORT RETURN () (SUBJECT) UTF-8 2:4"))
        self.assertEqual(r.esearch()["ALL"], "4,2:3")
        self.bad(c.cmd("SORT RETURN (BOGUS) (SUBJECT) UTF-8 ALL"))

    def test_partial(self):
        u, c = self.box(5, subjects=["e", "d", "c", "b", "a"])
        r = self.ok(c.cmd("SEARCH RETURN (PARTIAL 2:3) ALL"))
        self.assertEqual(r.esearch()["PARTIAL"], ["2:3", "2:3"], r)
        r = self.ok(c.cmd("SEARCH RETURN (PARTIAL 4:9 COUNT) ALL"))
        self.assertEqual((r.esearch()["PARTIAL"], r.esearch()["COUNT"]), (["4:9", "4:5"], "5"), r)
        r = self.ok(c.cmd("SEARCH RETURN (PARTIAL 3:2) ALL"))  # echoed in order
        self.assertEqual(r.esearch()["PARTIAL"], ["2:3", "2:3"], r)
        r = self.ok(c.cmd("SEARCH RETURN (PARTIAL 7:9) ALL"))
        self.assertEqual(r.esearch()["PARTIAL"], ["7:9", None], r)
        r = self.ok(c.cmd("SEARCH RETURN (PARTIAL -1:-2) ALL"))  # RFC 9394: the last two
        self.assertEqual(r.esearch()["PARTIAL"], ["-1:-2", "4:5"], r)
        r = self.ok(c.cmd("SORT RETURN (PARTIAL 1:2) (SUBJECT) UTF-8 ALL"))
        self.assertEqual(r.esearch()["PARTIAL"], ["1:2", "5,4"], r)
        self.bad(c.cmd("SEARCH RETURN (PARTIAL 0:3) ALL"))

    def test_context_search_updates(self):
        u, c = self.box(5)
        r = self.ok(c.cmd("SEARCH RETURN (UPDATE) SEEN"))
        self.assertEqual(r.esearch(), {"TAG": r.tag}, r)
        tag = r.tag
        r = self.ok(c.cmd("STORE 1,2,4 +FLAGS (\\Seen)"))
        self.assertIn(f'* ESEARCH (TAG "{tag}") ADDTO (0 1:2,4)', r.untagged)
        r = self.ok(c.cmd("STORE 1,2 -FLAGS (\\Seen)"))
        self.assertIn(f'* ESEARCH (TAG "{tag}") REMOVEFROM (0 1:2)', r.untagged)
        # An expunged result is removed before EXPUNGE renumbers (its number still holds).
        self.ok(c.cmd("STORE 3:5 +FLAGS (\\Deleted)"))
        r = self.ok(c.cmd("EXPUNGE"))
        i = r.untagged.index(f'* ESEARCH (TAG "{tag}") REMOVEFROM (0 4)')
        self.assertLess(i, r.untagged.index("* 5 EXPUNGE"), r)
        # A new message that matches is added.
        r = self.ok(c.cmd_literal("APPEND INBOX (\\Seen)", message("new one")))
        self.assertIn(f'* ESEARCH (TAG "{tag}") ADDTO (0 3)', r.untagged)
        # UID searches report UIDs; a second session's change arrives with the next command.
        r = self.ok(c.cmd("UID SEARCH RETURN (UPDATE ALL) UNSEEN"))
        self.assertEqual(r.esearch()["ALL"], "1:2")
        utag = r.tag
        other = self.conn(u, tls=False)
        self.ok(other.select("INBOX"))
        self.ok(other.cmd("STORE 1 +FLAGS (\\Seen)"))
        r = self.ok(c.cmd("NOOP"))
        self.assertIn(f'* ESEARCH (TAG "{utag}") UID REMOVEFROM (0 1)', r.untagged)
        self.assertIn(f'* ESEARCH (TAG "{tag}") ADDTO (0 1)', r.untagged)
        # CANCELUPDATE stops them; an unknown tag is NO; a tag in use is BAD.
        c.send(f"{tag} SEARCH RETURN (UPDATE) ALL\r\n")
        self.bad(c.until(tag))
        self.no(c.cmd('CANCELUPDATE "nosuch"'))
        self.ok(c.cmd(f'CANCELUPDATE "{tag}" "{utag}"'))
        r = self.ok(c.cmd("STORE 1:* -FLAGS (\\Seen)"))
        self.assertFalse([x for x in r.untagged if "ESEARCH" in x], r)
        # At most 16 searches per session are kept current; the 17th is refused the same way.
        for i in range(16):
            self.ok(c.cmd("SEARCH RETURN (UPDATE) ALL"))
        r = self.ok(c.cmd("SEARCH RETURN (UPDATE COUNT) ALL"))
        self.assertTrue(any(x.startswith(f'* NO [NOUPDATE "{r.tag}"]') for x in r.untagged), r)
        self.assertEqual(r.esearch()["COUNT"], "3", r)

    def test_context_sort_updates_carry_positions(self):
        # CONTEXT=SORT (RFC 5267 §4.3.3-4.3.4): positions in the sort order; removals of
        # several runs come last run first, so each position holds when applied.
        u, c = self.box(4, subjects=["b", "d", "f", "h"])
        self.assertIn("CONTEXT=SORT", c.capabilities())
        r = self.ok(c.cmd("SORT RETURN (UPDATE ALL) (SUBJECT) UTF-8 UNSEEN"))
        tag = r.tag
        self.assertEqual(r.esearch()["ALL"], "1:4", r)
        r = self.ok(c.cmd_literal("APPEND INBOX", message("e")))  # b d e f h
        self.assertIn(f'* ESEARCH (TAG "{tag}") ADDTO (3 5)', r.untagged)
        r = self.ok(c.cmd("STORE 2:3 +FLAGS (\\Seen)"))  # d and f go: b e h
        self.assertIn(f'* ESEARCH (TAG "{tag}") REMOVEFROM (4 3 2 2)', r.untagged)
        r = self.ok(c.cmd("STORE 2 -FLAGS (\\Seen)"))  # d is back: b d e h
        self.assertIn(f'* ESEARCH (TAG "{tag}") ADDTO (2 2)', r.untagged)
        self.ok(c.cmd("STORE 1 +FLAGS (\\Deleted)"))
        r = self.ok(c.cmd("EXPUNGE"))
        i = r.untagged.index(f'* ESEARCH (TAG "{tag}") REMOVEFROM (1 1)')
        self.assertLess(i, r.untagged.index("* 1 EXPUNGE"), r)
        # UID SORT REVERSE: UIDs, and two new adjacent results in one pair, in sort order.
        r = self.ok(c.cmd("UID SORT RETURN (UPDATE ALL) (REVERSE SUBJECT) UTF-8 UNSEEN"))
        utag = r.tag
        self.assertEqual(r.esearch()["ALL"], "4:5,2", r)  # h e d: an ascending run is a range
        other = self.conn(u, tls=False)
        self.ok(other.cmd_literal("APPEND INBOX", message("g")))  # uid 6
        self.ok(other.cmd_literal("APPEND INBOX", message("ga")))  # uid 7
        r = self.ok(c.cmd("NOOP"))  # h ga g e d
        self.assertIn(f'* ESEARCH (TAG "{utag}") UID ADDTO (2 7,6)', r.untagged)
        self.ok(c.cmd(f'CANCELUPDATE "{tag}" "{utag}"'))
        r = self.ok(c.cmd("UID SORT RETURN (ALL) (REVERSE SUBJECT) UTF-8 UNSEEN"))
        self.assertEqual(r.esearch()["ALL"], "4,7,6,5,2", r)

    def test_context_updates_during_idle(self):
        u, c = self.box(2)
        r = self.ok(c.cmd("SEARCH RETURN (UPDATE ALL) FLAGGED"))
        tag = r.tag
        c.send("i1 IDLE\r\n")
        self.assertTrue(c.line().startswith(b"+"))
        other = self.conn(u, tls=False)
        self.ok(other.select("INBOX"))
        self.ok(other.cmd("STORE 2 +FLAGS (\\Flagged)"))
        want = f'* ESEARCH (TAG "{tag}") ADDTO (0 2)'.encode()
        deadline = time.time() + 5
        seen = []
        while time.time() < deadline and want not in seen:
            if c.pending(0.2):
                seen.append(c.line())
        self.assertIn(want, seen)
        c.send("DONE\r\n")
        self.ok(c.until("i1"))

    def test_modseq_entry_name(self):
        u, c = self.box(3)
        self.ok(c.cmd("ENABLE CONDSTORE"))
        self.ok(c.cmd("STORE 2 +FLAGS (\\Seen)"))
        r = self.ok(c.cmd("FETCH 1:3 (MODSEQ)"))
        ms = {n: int(f["MODSEQ"][0]) for n, f in r.fetches().items()}
        r = self.ok(c.cmd(f'SEARCH RETURN (ALL) 1:3 MODSEQ "/flags/\\\\seen" all {ms[2]}'))
        self.assertEqual((r.esearch()["ALL"], r.esearch()["MODSEQ"]), ("2", str(ms[2])), r)
        r = self.ok(c.cmd('SEARCH MODSEQ "/flags/\\\\seen" priv 1'))
        self.assertEqual(r.search(), [1, 2, 3])
        self.bad(c.cmd('SEARCH MODSEQ "/flags/\\\\seen" bogus 1'))

    def test_search_modseq_enables_condstore(self):
        u, c = self.box(2)
        r = self.ok(c.cmd("SEARCH MODSEQ 1"))
        self.assertTrue(any(x.startswith("* OK [HIGHESTMODSEQ ") for x in r.untagged), r)
        r = self.ok(c.cmd("STORE 1 +FLAGS (\\Seen)"))
        self.assertIn("MODSEQ", r.fetches()[1], r)  # CONDSTORE is on: FETCH carries MODSEQ
        r = self.ok(c.cmd("SEARCH MODSEQ 1"))
        self.assertFalse(any("HIGHESTMODSEQ" in x for x in r.untagged), "only the first time")

    def test_esearch_modseq_is_that_of_the_returned_messages(self):
        # RFC 7162 §3.1.5, imaptest's esearch-condstore: MIN or MAX alone return the
        # modseq of the message they name; ALL and COUNT the highest of all matches.
        u, c = self.box(4)
        self.ok(c.cmd("ENABLE CONDSTORE"))
        ms = {}
        for n in (1, 3, 2, 4):
            r = self.ok(c.cmd(f"STORE {n} +FLAGS (\\Seen)"))
            r = self.ok(c.cmd(f"FETCH {n} (MODSEQ)"))
            ms[n] = r.fetches()[n]["MODSEQ"][0]
        q = 'MODSEQ "/flags/\\\\seen" all 1'
        cases = [("MIN", "1:3", {"MIN": "1", "MODSEQ": ms[1]}),
                 ("MAX", "1:3", {"MAX": "3", "MODSEQ": ms[3]}),
                 ("", "1:3", {"ALL": "1:3", "MODSEQ": ms[2]}),
                 ("MIN MAX", "2:3", {"MIN": "2", "MAX": "3", "MODSEQ": ms[2]}),
                 ("COUNT MIN", "1,3", {"MIN": "1", "COUNT": "2", "MODSEQ": ms[3]})]
        for opts, seqs, want in cases:
            with self.subTest(opts=opts, seqs=seqs):
                r = self.ok(c.cmd(f"SEARCH RETURN ({opts}) {seqs} {q}"))
                e = r.esearch()
                e.pop("TAG")
                self.assertEqual(e, want, r)


if __name__ == "__main__":
    unittest.main()

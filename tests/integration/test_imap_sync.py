"""IMAP sessions kept consistent with the store and with each other (issue 15): a mailbox
deleted and created again under the same name is a new mailbox to every session, \\Recent
(IMAP4rev1) is given to one session only, a CONDSTORE enabling FETCH tells the client the
HIGHESTMODSEQ, keywords are announced in FLAGS before a FETCH carries them, and a message
expunged by another session is left out of a FETCH whose OK says [EXPUNGEISSUED] (as
Dovecot answers), never answered as corruption. imaptest's compliance groups and its stress profile found each of these."""
import re
import unittest

from test_imap import ImapBase, message


class ImapSyncTest(ImapBase):
    def append(self, c, mailbox, subject, flags=""):
        r = c.cmd_literal(f'APPEND "{mailbox}"' + (f" ({flags})" if flags else ""), message(subject))
        self.ok(r)
        return r

    def exists(self, r):
        n = [int(x.split()[1]) for x in r.untagged if re.match(r"\* \d+ EXISTS$", x)]
        return n[-1] if n else None

    def recent(self, r):
        n = [int(x.split()[1]) for x in r.untagged if re.match(r"\* \d+ RECENT$", x)]
        return n[-1] if n else None

    # -- a mailbox deleted and created again ------------------------------------------------
    def test_recreated_mailbox_does_not_inherit_the_old_ones_expunges(self):
        """imaptest deletes and creates its mailbox for every group: the new mailbox got the
        old one's id and its expunges, so the session's view dropped its messages ("BAD No
        messages in this mailbox" for FETCH 1)."""
        u = self.user()
        c = self.conn(u)
        self.ok(c.cmd('CREATE "work"'))
        for i in range(5):
            self.append(c, "work", f"old {i}")
        c.select("work")
        self.ok(c.cmd("STORE 1:5 +FLAGS.SILENT (\\Deleted)"))
        self.ok(c.cmd("EXPUNGE"))
        self.ok(c.cmd("UNSELECT"))
        self.ok(c.cmd('DELETE "work"'))
        self.ok(c.cmd('CREATE "work"'))
        for i in range(3):
            self.append(c, "work", f"new {i}")
        r = c.select("work")
        self.assertEqual(self.exists(r), 3)
        self.ok(c.cmd("STORE 1 +FLAGS (\\Seen)"))
        r = self.ok(c.cmd("NOOP"))
        self.assertEqual(r.lines("EXPUNGE"), [], r)
        r = self.ok(c.cmd("FETCH 1:3 (UID)"))
        self.assertEqual(sorted(r.fetches()), [1, 2, 3])
        r = self.ok(c.cmd("FETCH 3 (FLAGS)"))
        self.assertIn(3, r.fetches())

    def test_session_holding_a_deleted_mailbox_is_told_not_given_the_new_one(self):
        u = self.user()
        a = self.conn(u)
        b = self.conn(u)
        self.ok(a.cmd('CREATE "box"'))
        self.append(a, "box", "first")
        b.select("box")
        self.ok(a.cmd('DELETE "box"'))
        self.ok(a.cmd('CREATE "box"'))
        for i in range(3):
            self.append(a, "box", f"other {i}")
        r = b.cmd("NOOP")
        self.assertTrue(any(x.startswith("* BYE") for x in r.untagged) or r.status == "BYE", r)
        self.assertEqual(r.lines("EXISTS"), [], "the new mailbox is not the one selected")

    # -- \Recent ----------------------------------------------------------------------------
    def test_recent_is_shown_by_examine_and_taken_by_one_select(self):
        u = self.user()
        a = self.conn(u)
        self.ok(a.cmd('CREATE "r"'))
        self.append(a, "r", "one")
        self.append(a, "r", "two")
        r = self.ok(a.cmd('EXAMINE "r"'))
        self.assertEqual(self.recent(r), 2, r)
        self.ok(a.cmd("CLOSE"))
        r = self.ok(a.cmd('STATUS "r" (MESSAGES RECENT)'))
        self.assertIn("RECENT 2", r.untagged[0])
        r = self.ok(a.cmd('SELECT "r"'))
        self.assertEqual(self.recent(r), 2, r)
        r = self.ok(a.cmd("FETCH 1:2 (FLAGS)"))
        for seq in (1, 2):
            self.assertIn("\\Recent", r.fetches()[seq]["FLAGS"])
        b = self.conn(u)
        r = self.ok(b.cmd('SELECT "r"'))
        self.assertEqual(self.recent(r), 0, r)
        r = self.ok(b.cmd("FETCH 1 (FLAGS)"))
        self.assertNotIn("\\Recent", r.fetches()[1]["FLAGS"])
        # A new message is recent in the first session to learn of it, and only there.
        self.append(a, "r", "three")  # a's own APPEND: a learns of it in the sync after it
        r = self.ok(b.cmd("NOOP"))
        self.assertEqual(self.exists(r), 3)
        self.assertEqual(self.recent(r), 0, r)
        r = self.ok(a.cmd("FETCH 3 (FLAGS)"))
        self.assertIn("\\Recent", r.fetches()[3]["FLAGS"])
        self.ok(a.cmd("CLOSE"))
        r = self.ok(a.cmd('STATUS "r" (RECENT)'))
        self.assertIn("RECENT 0", r.untagged[0])

    def test_messages_arriving_one_at_a_time_are_all_recent(self):
        u = self.user()
        c = self.conn(u)
        c.select("INBOX")
        for i in range(4):
            self.deliver(u, message(f"arrives {i}"))
            r = self.ok(c.cmd("NOOP"))
            self.assertEqual(self.exists(r), i + 1, r)
            self.assertEqual(self.recent(r), i + 1, r)
        r = self.ok(c.cmd("FETCH 1:4 (FLAGS)"))
        self.assertEqual([("\\Recent" in r.fetches()[n]["FLAGS"]) for n in range(1, 5)], [True] * 4)
        self.ok(c.cmd("STORE 2 +FLAGS.SILENT (\\Deleted)"))
        r = self.ok(c.cmd("EXPUNGE"))
        r = self.ok(c.cmd('STATUS "INBOX" (RECENT)'))
        self.assertIn("RECENT 0", r.untagged[0], "all taken by this session")

    def test_no_recent_for_imap4rev2(self):
        u = self.user()
        c = self.conn(u)
        self.ok(c.cmd("ENABLE IMAP4rev2"))
        self.ok(c.cmd('CREATE "r2"'))
        self.append(c, "r2", "one")
        r = c.select("r2")
        self.assertEqual(r.lines("RECENT"), [])
        r = self.ok(c.cmd("FETCH 1 (FLAGS)"))
        self.assertNotIn("\\Recent", r.fetches()[1]["FLAGS"])

    # -- CONDSTORE enabled by FETCH MODSEQ --------------------------------------------------
    def test_fetch_modseq_enables_condstore(self):
        """RFC 7162 3.1: FETCH MODSEQ is a CONDSTORE enabling command: the client gets the
        HIGHESTMODSEQ, and every later unsolicited FETCH carries MODSEQ."""
        u = self.user()
        a = self.conn(u)
        b = self.conn(u)
        self.ok(a.cmd('CREATE "c"'))
        self.append(a, "c", "one")
        a.select("c")
        b.select("c")
        r = self.ok(a.cmd("FETCH 1 (MODSEQ)"))
        self.assertTrue(any(re.match(r"\* OK \[HIGHESTMODSEQ \d+\]", x) for x in r.untagged), r)
        self.assertIn("MODSEQ", r.fetches()[1])
        r = self.ok(a.cmd("FETCH 1 (MODSEQ)"))
        self.assertFalse(any("HIGHESTMODSEQ" in x for x in r.untagged), "only the first time")
        self.ok(b.cmd("STORE 1 +FLAGS (\\Flagged)"))
        r = self.ok(a.cmd("NOOP"))
        f = r.fetches()[1]
        self.assertIn("\\Flagged", f["FLAGS"])
        self.assertIn("MODSEQ", f, r)

    def test_search_modseq_and_status_highestmodseq_enable_condstore_too(self):
        u = self.user()
        for cmd in ("SEARCH MODSEQ 1", 'STATUS "INBOX" (HIGHESTMODSEQ)'):
            c = self.conn(u)
            c.select("INBOX")
            r = self.ok(c.cmd(cmd))
            self.assertTrue(any(re.match(r"\* OK \[HIGHESTMODSEQ \d+\]", x) for x in r.untagged), (cmd, r))

    # -- keywords ---------------------------------------------------------------------------
    def test_keyword_is_in_flags_before_a_fetch_carries_it(self):
        u = self.user()
        a = self.conn(u)
        b = self.conn(u)
        self.ok(a.cmd('CREATE "k"'))
        self.append(a, "k", "one")
        a.select("k")
        b.select("k")
        self.ok(b.cmd("STORE 1 +FLAGS ($Triage)"))
        r = self.ok(a.cmd("FETCH 1 (FLAGS)"))
        flags_at = [i for i, x in enumerate(r.untagged) if x.startswith("* FLAGS") and "$Triage" in x]
        fetch_at = [i for i, x in enumerate(r.untagged) if " FETCH " in x and "$Triage" in x]
        self.assertTrue(flags_at and fetch_at, r)
        self.assertLess(flags_at[0], fetch_at[0], r)

    def test_move_into_the_selected_mailbox_gives_a_new_uid(self):
        """imaptest's move group: MOVE to the mailbox itself (RFC 6851 allows it)."""
        u = self.user()
        c = self.conn(u)
        self.ok(c.cmd('CREATE "m"'))
        self.append(c, "m", "one")
        r = c.select("m")
        uidnext = int(re.search(r"UIDNEXT (\d+)", " ".join(r.untagged)).group(1))
        r = self.ok(c.cmd('MOVE 1 "m"'))
        copyuid = [x for x in r.untagged if "COPYUID" in x]
        self.assertTrue(copyuid and copyuid[0].endswith(f" 1 {uidnext}] Moved"), r)
        self.assertEqual(r.numbers("EXPUNGE"), [1])
        self.assertEqual(self.exists(r), 1)
        r = self.ok(c.cmd("FETCH 1 (UID)"))
        self.assertEqual(r.fetches()[1]["UID"], str(uidnext))

    # -- a message expunged by another session ----------------------------------------------
    def test_fetch_of_a_message_expunged_elsewhere_is_ok_expungeissued(self):
        u = self.user()
        a = self.conn(u)
        b = self.conn(u)
        self.ok(a.cmd('CREATE "e"'))
        for i in range(3):
            self.append(a, "e", f"m{i}")
        a.select("e")
        b.select("e")
        self.ok(b.cmd("STORE 2 +FLAGS.SILENT (\\Deleted)"))
        self.ok(b.cmd("EXPUNGE"))
        r = self.ok(a.cmd("FETCH 1:3 (UID BODY.PEEK[])"))
        self.assertEqual(r.code, "EXPUNGEISSUED", r)
        self.assertEqual(sorted(r.fetches()), [1, 3], "the others are answered")
        self.assertEqual(r.lines("EXPUNGE"), [], "no EXPUNGE during FETCH by number")
        r = self.ok(a.cmd("NOOP"))
        self.assertEqual(r.numbers("EXPUNGE"), [2])
        r = self.ok(a.cmd("FETCH 1:2 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])"))
        self.assertEqual(sorted(r.fetches()), [1, 2])
        log = self.d.read_log()
        self.assertNotIn("blob.corrupt", log)

    def test_sequence_number_past_the_end_is_bad_as_dovecot_says(self):
        """RFC 9051 9 (seq-number): a number above the messages the client knows is BAD;
        one the client still knows (expunged elsewhere, not yet announced) is not."""
        u = self.user()
        a = self.conn(u)
        b = self.conn(u)
        self.ok(a.cmd('CREATE "s"'))
        for i in range(2):
            self.append(a, "s", f"m{i}")
        a.select("s")
        b.select("s")
        self.bad(a.cmd("FETCH 3 (UID)"))
        self.bad(a.cmd("STORE 3 +FLAGS (\\Seen)"))
        self.ok(b.cmd("STORE 2 +FLAGS.SILENT (\\Deleted)"))
        self.ok(b.cmd("EXPUNGE"))
        r = a.cmd("STORE 2 +FLAGS (\\Seen)")
        self.assertNotEqual(r.status, "BAD", r)
        r = self.ok(a.cmd("NOOP"))
        self.assertEqual(r.numbers("EXPUNGE"), [2])
        self.bad(a.cmd("FETCH 2 (UID)"))


if __name__ == "__main__":
    unittest.main()

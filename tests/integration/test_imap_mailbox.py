"""IMAP mailbox names, subscriptions and LIST (issue 15, imaptest's atoms, subscribe, listext
and list groups): names that are not valid modified UTF-7, subscriptions as names of their
own (RFC 9051 6.3.7), LSUB's \\Noselect parents (RFC 3501 6.3.9), LIST-EXTENDED's selection
and return options with \\NonExistent and CHILDINFO (RFC 5258), and LIST-STATUS (RFC 5819)."""
import unittest

from test_imap import ImapBase, message, parse_values, s


def listed(r, keyword="LIST"):
    """{name: (set(lower-case attributes), extended data or None)} of a LIST/LSUB reply."""
    out = {}
    for line in r.lines(keyword):
        vals = parse_values(line, len(b"* ") + len(keyword))
        out[s(vals[2])] = ({a.lower() for a in vals[0]}, vals[3] if len(vals) > 3 else None)
    return out


class ImapMailboxNamesTest(ImapBase):
    EXTRA = "[imap]\nallow_plaintext_auth_on_loopback = true\n"

    def test_names_not_valid_modified_utf7_are_no_not_bad(self):
        u = self.user()
        c = self.conn(u, tls=False)
        bad_name = "!#$&'+,-.0123456789:;<=>?@^_`|[}"  # imaptest's atoms group: "&'" is no base64
        for cmd in (f"SELECT {bad_name}", f"EXAMINE {bad_name}", f"STATUS {bad_name} (MESSAGES)",
                    f"DELETE {bad_name}", f"SUBSCRIBE {bad_name}", f"RENAME {bad_name} Elsewhere",
                    'SELECT "&Jjo"'):
            self.no(c.cmd(cmd), "NONEXISTENT")
        self.no(c.cmd(f"CREATE {bad_name}"), "CANNOT")
        self.no(c.cmd('RENAME INBOX "&AGE-"'), "CANNOT")
        r = self.no(c.cmd_literal(f"APPEND {bad_name}", message("x")))
        self.ok(c.cmd("SELECT INBOX"))
        self.no(c.cmd(f"COPY 1:* {bad_name}"), "NONEXISTENT") if self.uids(c) else None
        # A pattern that is not valid modified UTF-7 matches nothing; the command is fine.
        r = self.ok(c.cmd(f'LIST "" {bad_name}%*'))
        self.assertEqual(r.lines("LIST"), [])
        self.ok(c.cmd('LIST "" ~foo'))
        self.no(c.cmd("SELECT ~foo"), "NONEXISTENT")
        self.ok(c.cmd("NOOP"), "the session stays usable")


class ImapSubscriptionsTest(ImapBase):
    EXTRA = "[imap]\nallow_plaintext_auth_on_loopback = true\n"

    def test_create_does_not_subscribe_defaults_are_subscribed(self):
        u = self.user()
        c = self.conn(u, tls=False)
        r = self.ok(c.cmd('LSUB "" "*"'))
        self.assertEqual(set(listed(r, "LSUB")), {"INBOX", "Drafts", "Sent", "Trash", "Junk", "Archive"})
        self.ok(c.cmd("CREATE Fresh"))
        r = self.ok(c.cmd('LSUB "" "*"'))
        self.assertNotIn("Fresh", listed(r, "LSUB"), "CREATE does not subscribe (as Dovecot)")

    def test_subscription_outlives_delete_and_may_name_nothing(self):
        u = self.user()
        c = self.conn(u, tls=False)
        self.ok(c.cmd("CREATE Gone"))
        self.ok(c.cmd("SUBSCRIBE Gone"))
        self.ok(c.cmd("DELETE Gone"))
        self.ok(c.cmd('SUBSCRIBE "Not/Yet"'))
        r = self.ok(c.cmd('LIST (SUBSCRIBED) "" "*"'))
        got = listed(r)
        self.assertEqual(got["Gone"][0], {"\\subscribed", "\\nonexistent"})
        self.assertEqual(got["Not/Yet"][0], {"\\subscribed", "\\nonexistent"})
        self.assertNotIn("Not", got, "a parent is listed only with RECURSIVEMATCH")
        r = self.ok(c.cmd('LSUB "" "*"'))
        self.assertIn("Gone", listed(r, "LSUB"))
        # Plain LIST shows only what exists.
        self.assertNotIn("Gone", self.mailboxes(c))
        self.ok(c.cmd("UNSUBSCRIBE Gone"))
        self.ok(c.cmd("UNSUBSCRIBE Gone"), "unsubscribing a name not subscribed is no error")
        r = self.ok(c.cmd('LSUB "" "*"'))
        self.assertNotIn("Gone", listed(r, "LSUB"))
        # Re-creating a mailbox under a subscribed name makes it subscribed again.
        self.ok(c.cmd('CREATE "Not/Yet"'))
        self.assertIn("\\subscribed", listed(self.ok(c.cmd('LIST "" "Not/Yet" RETURN (SUBSCRIBED)')))["Not/Yet"][0])

    def test_rename_moves_subscriptions(self):
        u = self.user()
        c = self.conn(u, tls=False)
        self.ok(c.cmd('CREATE "Proj/Sub"'))
        self.ok(c.cmd("SUBSCRIBE Proj"))
        self.ok(c.cmd('SUBSCRIBE "Proj/Sub"'))
        self.ok(c.cmd("RENAME Proj Done"))
        got = listed(self.ok(c.cmd('LSUB "" "*"')), "LSUB")
        self.assertIn("Done", got)
        self.assertIn("Done/Sub", got)
        self.assertNotIn("Proj", got)
        self.assertNotIn("Proj/Sub", got)

    def test_lsub_percent_lists_unsubscribed_parents_noselect(self):
        # imaptest's subscribe group (RFC 3501 6.3.9).
        u = self.user()
        c = self.conn(u, tls=False)
        for n in ("box/test", "box/test2/test", "box/test3/test3"):  # superiors are created too
            self.ok(c.cmd(f'CREATE "{n}"'))
        for n in ("box/test", "box/test2/test", "box/test3/test3"):
            self.ok(c.cmd(f'SUBSCRIBE "{n}"'))
        got = listed(self.ok(c.cmd('LSUB "" "box/%"')), "LSUB")
        self.assertEqual(got, {"box/test": (set(), None), "box/test2": ({"\\noselect"}, None),
                               "box/test3": ({"\\noselect"}, None)})
        got = listed(self.ok(c.cmd('LSUB "" "*test"')), "LSUB")
        self.assertEqual(got["box/test"][0], set())
        self.assertEqual(got["box/test2/test"][0], set())
        self.assertNotIn("box/test3/test3", got)
        self.ok(c.cmd('UNSUBSCRIBE "box/test3/test3"'))
        got = listed(self.ok(c.cmd('LSUB "" "box/%"')), "LSUB")
        self.assertNotIn("box/test3", got)


class ImapListExtendedTest(ImapBase):
    EXTRA = "[imap]\nallow_plaintext_auth_on_loopback = true\n"

    def setup_tree(self, c):
        # imaptest's listext group.
        for n in ("m/test1", "m/test2/", "m/test2/test1", "m/test3", "m/test4/test5", "m/test4/test52",
                  "m/test6", "m/test7/test7", "m/test8/test8", "m/test8/test9"):
            self.ok(c.cmd(f'CREATE "{n}"'))
        for n in ("m/test1", "m/test2/test1", "m/test6", "m/test7/test7", "m/test8/test8", "m/test8/test9"):
            self.ok(c.cmd(f'SUBSCRIBE "{n}"'))
        self.ok(c.cmd('DELETE "m/test6"'))
        # CREATE made the superiors; without them these are names only (\NonExistent).
        for n in ("m/test4", "m/test7", "m/test8"):
            self.ok(c.cmd(f'DELETE "{n}"'))

    def test_selection_and_return_options(self):
        u = self.user()
        c = self.conn(u, tls=False)
        self.setup_tree(c)
        # Several patterns.
        got = listed(self.ok(c.cmd('LIST "" ("m/*2" "m/test3")')))
        self.assertEqual(set(got), {"m/test2", "m/test3", "m/test4/test52"})
        # Errors.
        for bad in ('LIST (imaptest) "" ""', 'LIST (RECURSIVEMATCH) "" ""', 'LIST (RECURSIVEMATCH REMOTE) "" ""',
                    'LIST "" "" RETURN (imaptest)'):
            self.bad(c.cmd(bad))
        self.ok(c.cmd('LIST (REMOTE) "" %'))
        # SUBSCRIBED: a deleted mailbox's subscription is \NonExistent, never \Noselect.
        got = listed(self.ok(c.cmd('LIST (SUBSCRIBED) "" "m/*"')))
        self.assertEqual(set(got), {"m/test1", "m/test2/test1", "m/test6", "m/test7/test7", "m/test8/test8",
                                    "m/test8/test9"})
        self.assertEqual(got["m/test6"][0], {"\\subscribed", "\\nonexistent"})
        for n in got:
            self.assertIn("\\subscribed", got[n][0])
        # RECURSIVEMATCH: a parent whose subscribed child is not listed gets CHILDINFO.
        got = listed(self.ok(c.cmd('LIST (SUBSCRIBED RECURSIVEMATCH) "" "m/test2%" RETURN (CHILDREN)')))
        self.assertEqual(set(got), {"m/test2"})
        self.assertIn("\\haschildren", got["m/test2"][0])
        self.assertNotIn("\\subscribed", got["m/test2"][0])
        self.assertEqual(got["m/test2"][1], [b"CHILDINFO", [b"SUBSCRIBED"]])
        got = listed(self.ok(c.cmd('LIST (SUBSCRIBED RECURSIVEMATCH) "" "m*test7"')))
        self.assertEqual(set(got), {"m/test7/test7"}, "the child is listed itself: no CHILDINFO parent")
        got = listed(self.ok(c.cmd('LIST (SUBSCRIBED RECURSIVEMATCH) "" "m*test8"')))
        self.assertEqual(set(got), {"m/test8", "m/test8/test8"})
        self.assertEqual(got["m/test8"][1], [b"CHILDINFO", [b"SUBSCRIBED"]])
        self.assertIn("\\nonexistent", got["m/test8"][0])
        self.assertIsNone(got["m/test8/test8"][1])
        got = listed(self.ok(c.cmd('LIST (SUBSCRIBED RECURSIVEMATCH) "" ("m/test2" "m/test2/test1")')))
        self.assertEqual(set(got), {"m/test2/test1"})
        # A subscribed parent with a subscribed child not listed carries CHILDINFO too (RFC 5258 example 8).
        self.ok(c.cmd('SUBSCRIBE "m/test8"'))
        got = listed(self.ok(c.cmd('LIST (SUBSCRIBED RECURSIVEMATCH) "" "m/%"')))
        self.assertEqual(got["m/test8"], ({"\\subscribed", "\\nonexistent", "\\haschildren"},
                                          [b"CHILDINFO", [b"SUBSCRIBED"]]))
        self.assertIsNone(got["m/test1"][1])
        # RETURN (CHILDREN SUBSCRIBED) over everything that exists.
        got = listed(self.ok(c.cmd('LIST "" "m/%" RETURN (CHILDREN SUBSCRIBED)')))
        self.assertEqual(set(got), {"m/test1", "m/test2", "m/test3", "m/test4", "m/test7", "m/test8"})
        self.assertEqual(got["m/test1"][0], {"\\hasnochildren", "\\subscribed"})
        self.assertEqual(got["m/test2"][0], {"\\haschildren"})
        self.assertEqual(got["m/test4"][0], {"\\haschildren", "\\nonexistent"})
        self.assertEqual(got["m/test8"][0], {"\\haschildren", "\\nonexistent", "\\subscribed"})

    def test_list_status(self):
        u = self.user()
        self.deliver(u, message("one"))
        c = self.conn(u, tls=False)
        self.ok(c.cmd('CREATE "p/q"'))
        self.ok(c.cmd('DELETE "p"'))  # "p" stays as a name only
        r = self.ok(c.cmd('LIST "" "*" RETURN (STATUS (MESSAGES UIDNEXT))'))
        st = {}
        for line in r.lines("STATUS"):
            vals = parse_values(line, len(b"* STATUS"))
            st[s(vals[0])] = vals[1]
        self.assertEqual(st["INBOX"], ["MESSAGES", "1", "UIDNEXT", "2"])
        self.assertIn("p/q", st)
        self.assertNotIn("p", st, "no STATUS for a name that does not exist")

    def test_plain_list_of_implied_parent_says_noselect(self):
        u = self.user()
        c = self.conn(u, tls=False)
        self.ok(c.cmd('CREATE "x/y"'))
        self.ok(c.cmd('DELETE "x"'))
        got = listed(self.ok(c.cmd('LIST "" "x"')))
        self.assertEqual(got["x"][0], {"\\noselect", "\\haschildren"}, "IMAP4rev1 LIST says \\Noselect")
        got = listed(self.ok(c.cmd('LIST () "" "x"')))
        self.assertEqual(got["x"][0], {"\\nonexistent", "\\haschildren"}, "LIST-EXTENDED says \\NonExistent")


if __name__ == "__main__":
    unittest.main()

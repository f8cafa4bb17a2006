"""IMAP mailbox names, subscriptions and LIST (issue 15, imaptest's atoms, subscribe, listext
and list groups): names that are not valid modified UTF-7, subscriptions as names of their
own (RFC 9051 6.3.7), LSUB's \\Noselect parents (RFC 3501 6.3.9), LIST-EXTENDED's selection
and return options with \\NonExistent and CHILDINFO (RFC 5258), and LIST-STATUS (RFC 5819)."""
import time
import unittest

from test_imap import ImapBase, message, parse_values, s


def listed(r, keyword="LIST"):
    """{name: (set(lower-case attributes), extended data or None)} of a LIST/LSUB reply."""
    out = {}
    for line in r.lines(keyword):
        vals = parse_values(line, len(b"* ") + len(keyword))
        out[s(vals[2])] = ({a.lower() for a in vals[0]}, vals[3] if len(vals) > 3 else None)
    return out


# Mailbox names that are not valid modified UTF-7, and subscriptions (LSUB, LIST
# (SUBSCRIBED), RENAME and DELETE): tests/transcripts/imap_mailbox/ (test_transcripts.py).


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

    def test_pathological_patterns_answer_at_once(self):
        u = self.user()
        c = self.conn(u, tls=False)
        self.ok(c.cmd('CREATE "' + "a" * 200 + '"'))
        started = time.monotonic()
        r = self.ok(c.cmd('LIST "" "' + "*a" * 60 + '*b"'))  # exponential for a backtracking matcher
        self.assertEqual(r.lines("LIST"), [])
        r = self.ok(c.cmd('LIST "" "' + "*%" * 2000 + 'a"'))
        self.assertEqual(len(r.lines("LIST")), 1)
        self.ok(c.cmd('LIST "" "' + "x" * 300 + '*"'))  # longer than any name: matches nothing
        self.assertLess(time.monotonic() - started, 5)
        self.bad(c.cmd('LIST "" (' + " ".join(f"p{i}" for i in range(101)) + ")"))

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


class ImapAppendExtensionsTest(ImapBase):
    """MULTIAPPEND (RFC 3502, atomic) and CATENATE (RFC 4469) with URL-PARTIAL (RFC 5550)."""
    EXTRA = "[imap]\nallow_plaintext_auth_on_loopback = true\n"

    def append_multi(self, c, mailbox, parts):
        """APPEND with several messages, non-synchronising literals; parts: [(flags, bytes)]."""
        tag = c.tag()
        out = f"{tag} APPEND {mailbox}".encode()
        for flags, data in parts:
            out += (f" ({flags})" if flags else "").encode() + f" {{{len(data)}+}}\r\n".encode() + data
        c.send(out + b"\r\n")
        return c.until(tag)

    def test_capabilities(self):
        u = self.user()
        caps = self.conn(u, tls=False).capabilities()
        for cap in ("MULTIAPPEND", "CATENATE", "URL-PARTIAL", "UIDPLUS", "BINARY", "LIST-EXTENDED", "LIST-STATUS",
                    "SPECIAL-USE", "CREATE-SPECIAL-USE", "NAMESPACE", "UNSELECT", "ID", "CHILDREN"):
            self.assertIn(cap, caps)
        self.assertNotIn("URLAUTH", caps)

    def test_multiappend_all_or_nothing(self):
        u = self.user(quota_bytes=6000)
        c = self.conn(u, tls=False)
        r = self.ok(self.append_multi(c, "INBOX", [("\\Seen", message("one")), ("", message("two"))]))
        code = r.code.split()
        self.assertEqual(code[0], "APPENDUID")
        self.assertEqual(len(code), 3, r)  # APPENDUID uidvalidity uid-set
        st = self.ok(c.cmd("STATUS INBOX (MESSAGES UNSEEN)"))
        self.assertIn(b"MESSAGES 2 UNSEEN 1", st.lines("STATUS")[0])
        # The third message passes the quota: none of the three is added.
        r = self.append_multi(c, "INBOX", [("", message("three")), ("", message("four")),
                                           ("", message("big", body="x" * 5000 + "\r\n"))])
        self.no(r, "OVERQUOTA")
        st = self.ok(c.cmd("STATUS INBOX (MESSAGES)"))
        self.assertIn(b"MESSAGES 2", st.lines("STATUS")[0])
        # An empty message in the middle fails the whole command too.
        r = self.append_multi(c, "INBOX", [("", message("five")), ("", b"")])
        self.assertEqual(r.status, "NO", r)
        st = self.ok(c.cmd("STATUS INBOX (MESSAGES)"))
        self.assertIn(b"MESSAGES 2", st.lines("STATUS")[0])

    def test_catenate(self):
        u = self.user()
        c = self.conn(u, tls=False)
        src = (b"From: foo@example.com\r\nSubject: parts\r\nMIME-Version: 1.0\r\n"
               b"Content-Type: multipart/mixed; boundary=XX\r\n\r\npreamble\r\n--XX\r\n"
               b"Content-Type: text/plain\r\n\r\nfirst part\r\n--XX\r\nContent-Type: text/plain\r\n\r\n"
               b"second part\r\n--XX--\r\n")
        self.ok(c.cmd("CREATE Src"))
        r = self.ok(c.cmd_literal("APPEND Src", src))
        uidv, uid = r.code.split()[1:3]
        r = self.ok(c.cmd("SELECT Src"))
        hdr = src[:src.index(b"\r\n\r\n") + 4]
        text = b"body\r\n"
        # URL of the header, then a TEXT literal.
        tag = c.tag()
        c.send(f'{tag} APPEND INBOX (\\Seen) CATENATE (URL "/Src;UIDVALIDITY={uidv}/;UID={uid}/;SECTION=HEADER" '
               f'TEXT {{{len(text)}+}}\r\n'.encode() + text + b")\r\n")
        r = self.ok(c.until(tag))
        self.assertEqual(r.code.split()[0], "APPENDUID")
        # Part 2, the whole message, a partial range, an absolute URL naming our own user.
        parts = [f'URL "/Src/;UID={uid}/;SECTION=2"', f'URL "/Src/;uid={uid}"',
                 f'URL "/Src/;UID={uid}/;PARTIAL=6.3"',
                 f'URL "imap://{u[0].replace("@", "%40")}@localhost/Src/;UID={uid}/;SECTION=1"']
        for p in parts:
            self.ok(c.cmd(f"APPEND INBOX CATENATE ({p})"), p)
        # MULTIAPPEND of two CATENATEs.
        self.ok(c.cmd(f'APPEND INBOX CATENATE (URL "/Src/;UID={uid}/;SECTION=1") CATENATE (URL "/Src/;UID={uid}/;SECTION=2")'))
        self.ok(c.cmd("SELECT INBOX"))
        r = self.ok(c.cmd("FETCH 1:* (FLAGS BODY.PEEK[])"))
        got = {int(k): v for k, v in r.fetches().items()}
        self.assertEqual(got[1]["BODY[]"], hdr + text)
        self.assertIn("\\Seen", got[1]["FLAGS"] if isinstance(got[1]["FLAGS"], list) else [got[1]["FLAGS"]])
        self.assertEqual(got[2]["BODY[]"], b"second part")
        self.assertEqual(got[3]["BODY[]"], src)
        self.assertEqual(got[4]["BODY[]"], b"foo")
        self.assertEqual(got[5]["BODY[]"], b"first part")
        self.assertEqual(got[6]["BODY[]"], b"first part")
        self.assertEqual(got[7]["BODY[]"], b"second part")
        # URLs that name nothing: NO [BADURL], nothing added. A missing target wins: TRYCREATE.
        for bad in (f'URL "/Src;UIDVALIDITY=12345/;UID={uid}/;SECTION=HEADER"', f'URL "/Src/;UID=999"',
                    f'URL "/Nowhere/;UID={uid}"', f'URL "/Src/;UID={uid}/;SECTION=9"',
                    f'URL "/Src/;UID={uid}/;URLAUTH=anonymous:internal:0123"',
                    f'URL "imap://someone.else%40{u[0].split("@")[1]}@localhost/Src/;UID={uid}"',
                    f'TEXT {{3+}}\r\nabc URL "/Src;UIDVALIDITY=1/;UID={uid}"'):
            r = c.cmd(f"APPEND INBOX CATENATE ({bad})")
            self.no(r, "BADURL")
        r = self.ok(c.cmd("STATUS INBOX (MESSAGES)"))
        self.assertIn(b"MESSAGES 7", r.lines("STATUS")[0])
        self.no(c.cmd(f'APPEND Nowhere CATENATE (URL "/Src;UIDVALIDITY=1/;UID={uid}")'), "TRYCREATE")
        # Another user's mailbox by URL is not reachable: it resolves in our own account.
        other = self.user()
        oc = self.conn(other, tls=False)
        self.ok(oc.cmd("CREATE Src"))
        self.no(oc.cmd(f'APPEND INBOX CATENATE (URL "/Src/;UID={uid}")'), "BADURL")

    def test_literal8_with_nul_is_stored_base64(self):
        # imaptest's append-binary group: BODY[1] must not carry the NUL (no IMAP4rev1
        # literal can), BINARY[1] gives back what was sent.
        u = self.user()
        c = self.conn(u, tls=False)
        body = b"\x00-\xe4\r\n\r\n\r\n"
        msg = (b"From: user@domain.org\r\nMime-Version: 1.0\r\nContent-Type: application/octet-stream\r\n"
               b"Content-Transfer-Encoding: binary\r\n\r\n" + body)
        tag = c.tag()
        c.send(f"{tag} APPEND INBOX ~{{{len(msg)}+}}\r\n".encode() + msg + b"\r\n")
        self.ok(c.until(tag))
        c.select("INBOX")
        r = self.ok(c.cmd("FETCH 1 (BODY.PEEK[1] BODY.PEEK[] BINARY.PEEK[1] BINARY.SIZE[1] BODYSTRUCTURE)"))
        f = r.fetches()[1]
        self.assertEqual(f["BODY[1]"], b"AC3kDQoNCg0K")
        self.assertNotIn(b"\x00", f["BODY[]"])
        self.assertIn(b"Content-Transfer-Encoding: base64", f["BODY[]"])
        self.assertEqual(f["BINARY[1]"], body)
        self.assertEqual(int(f["BINARY.SIZE[1]"]), len(body))
        # A NUL in the header has no part to re-encode: refused, nothing stored.
        bad = b"Subject: a\x00b\r\n\r\nbody\r\n"
        tag = c.tag()
        c.send(f"{tag} APPEND INBOX ~{{{len(bad)}+}}\r\n".encode() + bad + b"\r\n")
        self.no(c.until(tag))
        st = self.ok(c.cmd("STATUS INBOX (MESSAGES)"))
        self.assertIn(b"MESSAGES 1", st.lines("STATUS")[0])


if __name__ == "__main__":
    unittest.main()

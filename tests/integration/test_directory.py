"""The directory through the HTTP API (PRODUCT.md D1-D3) against a real caremaild: people
edit their own entry and administrators their organisation's; search and typeahead by name
in any order, prefix and typo, by organisation, role, speciality and site; privacy (hidden
entries, hidden mobiles) per viewer; "find your local administrator"; bulk export as JSON
lines only for an organisation with a sharing agreement; bad input refused."""
import json
import os
import sys
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import DaemonTestCase  # noqa: E402

ORG_A, DOM_A = "RDA1", "northfield.care.example"
ORG_B, DOM_B = "RDB2", "southgate.care.example"


class DirectoryApiTest(DaemonTestCase):
    @classmethod
    def populate(cls):
        d = cls.d
        d.create_org(ORG_A, "Northfield Hospitals NHS Trust", [DOM_A])
        d.create_org(ORG_B, "Southgate Medical Practice", [DOM_B])
        cls.tok = {}
        for addr, ods, name, roles in (
                (f"siobhan.oneill@{DOM_A}", ORG_A, "Siobhán O'Neill", []),
                (f"sam.admin@{DOM_A}", ORG_A, "Sam Admin", ["local_admin"]),
                (f"ann.auth@{DOM_A}", ORG_A, "Ann Authoriser", ["authoriser"]),
                (f"kim.smith@{DOM_B}", ORG_B, "Kim Smith", []),
                (f"lee.admin@{DOM_B}", ORG_B, "Lee Admin", ["local_admin"])):
            pw = "dir-" + os.urandom(6).hex()
            d.create_user(addr, ods, pw, display_name=name, roles=roles)
            cls.tok[addr.split("@")[0]] = d.user_token(addr, pw)

    def as_(self, who, method, path, body=None):
        return self.d.api(method, "/api/v1/directory/" + path, body, token=self.tok[who])

    def search(self, who, **q):
        st, _, body = self.as_(who, "GET", "search?" + urllib.parse.urlencode(q))
        self.assertEqual(st, 200, body)
        return [r["address"] for r in body["results"]], body

    def test_a_profile_then_search(self):
        siobhan = f"siobhan.oneill@{DOM_A}"
        st, _, body = self.as_("siobhan.oneill", "PUT", f"entries/{siobhan}", {
            "title": "Dr", "given_name": "Siobhán", "surname": "O'Neill", "job_role": "Consultant",
            "speciality": "Cardiology", "site": "Northfield General Hospital", "telephone": "0113 496 0000",
            "mobile": "07700 900123"})
        self.assertEqual(st, 204, body)
        # Accents, case and word order do not matter; the last word typed is a prefix; a typo.
        for q in ({"q": "oneill siobhan"}, {"q": "SIOBHAN o'nei", "typeahead": "1"}, {"q": "siobahn"},
                  {"q": "siobhan northfield"}, {"speciality": "cardio", "site": "northfield"},
                  {"ods_code": ORG_A.lower(), "job_role": "consultant"}):
            hits, body = self.search("kim.smith", **q)
            self.assertEqual(hits, [siobhan], (q, body))
        hits, body = self.search("kim.smith", q="siob", typeahead="1")
        self.assertEqual(body["results"][0]["title"], "Dr")
        self.assertEqual(body["results"][0]["mobile"], "07700 900123")
        self.assertEqual(body["results"][0]["organisation"], "Northfield Hospitals NHS Trust")

    def test_b_who_edits(self):
        siobhan = f"siobhan.oneill@{DOM_A}"
        body = {"unit": "Ward 7B"}
        st, _, out = self.as_("sam.admin", "PUT", f"entries/{siobhan}", body)
        self.assertEqual(st, 204, out)
        st, _, out = self.as_("lee.admin", "PUT", f"entries/{siobhan}", body)
        self.assertEqual(st, 404, out)  # another organisation: absent
        st, _, out = self.as_("kim.smith", "PUT", f"entries/{siobhan}", body)
        self.assertEqual(st, 404, out)
        st, _, prof = self.as_("siobhan.oneill", "GET", f"entries/{siobhan}/profile")
        self.assertEqual((st, prof["unit"]), (200, "Ward 7B"))
        st, _, out = self.as_("ann.auth", "GET", f"entries/{siobhan}/profile")
        self.assertEqual(st, 403, out)  # a colleague sees the entry, not the whole profile
        for bad in ({"unknown": "x"}, {"notes": 5}, {"hidden": "yes"}, {"notes": "x" * 1001}):
            st, _, out = self.as_("siobhan.oneill", "PUT", f"entries/{siobhan}", bad)
            self.assertEqual(st, 400, (bad, out))

    def test_c_privacy(self):
        kim = f"kim.smith@{DOM_B}"
        st, _, _ = self.as_("kim.smith", "PUT", f"entries/{kim}", {"mobile": "07700 900456", "mobile_hidden": True})
        self.assertEqual(st, 204)
        st, _, e = self.as_("siobhan.oneill", "GET", f"entries/{kim}")
        self.assertEqual(st, 200, e)
        self.assertNotIn("mobile", e)
        st, _, e = self.as_("lee.admin", "GET", f"entries/{kim}")
        self.assertEqual(e["mobile"], "07700 900456")
        st, _, _ = self.as_("kim.smith", "PUT", f"entries/{kim}", {"hidden": True})
        self.assertEqual(st, 204)
        self.assertEqual(self.search("siobhan.oneill", q="kim smith")[0], [])
        st, _, _ = self.as_("siobhan.oneill", "GET", f"entries/{kim}")
        self.assertEqual(st, 404)
        self.assertEqual(self.search("lee.admin", q="kim smith")[0], [kim])
        st, _, _ = self.as_("kim.smith", "PUT", f"entries/{kim}", {"hidden": False})

    def test_d_find_your_local_administrator(self):
        st, _, body = self.as_("siobhan.oneill", "GET", "administrators")
        self.assertEqual([a["address"] for a in body["administrators"]], [f"sam.admin@{DOM_A}"])
        st, _, body = self.as_("siobhan.oneill", "GET", f"administrators?ods_code={ORG_B}")
        self.assertEqual([a["address"] for a in body["administrators"]], [f"lee.admin@{DOM_B}"])

    def test_e_export_needs_an_agreement(self):
        st, _, out = self.as_("sam.admin", "GET", "export")
        self.assertEqual(st, 403, out)
        st, _, out = self.d.api("PUT", f"/api/v1/organisations/{ORG_A}/sharing-agreement", {"approved": True},
                                token=self.tok["sam.admin"])
        self.assertEqual(st, 403, out)  # administrators do not approve their own agreement
        st, _, out = self.d.api("PUT", f"/api/v1/organisations/{ORG_A}/sharing-agreement", {"approved": True},
                                token=self.tok["ann.auth"])
        self.assertEqual(st, 204, out)
        entries, cursor = [], ""
        for _ in range(20):
            st, h, raw = self.d.api("GET", "/api/v1/directory/export?limit=2&cursor=" + urllib.parse.quote(cursor),
                                    token=self.tok["sam.admin"], raw_body=True)
            self.assertEqual(st, 200, raw)
            self.assertTrue(h["content-type"].startswith("application/x-ndjson"), h)
            lines = [json.loads(x) for x in raw.decode().splitlines()]
            entries += [x["entry"]["address"] for x in lines if "entry" in x]
            cursor, more = lines[-1]["next_cursor"], lines[-1]["more"]
            if not more:
                break
        self.assertIn(f"kim.smith@{DOM_B}", entries)
        self.assertIn(f"siobhan.oneill@{DOM_A}", entries)
        # Then only what changes.
        st, _, _ = self.as_("kim.smith", "PUT", f"entries/{'kim.smith@' + DOM_B}", {"job_role": "Receptionist"})
        st, _, raw = self.d.api("GET", "/api/v1/directory/export?cursor=" + urllib.parse.quote(cursor),
                                token=self.tok["sam.admin"], raw_body=True)
        lines = [json.loads(x) for x in raw.decode().splitlines()]
        self.assertEqual([x["entry"]["job_role"] for x in lines if "entry" in x], ["Receptionist"])
        st, _, out = self.as_("sam.admin", "GET", "export?cursor=nonsense")
        self.assertEqual(st, 400, out)
        # Withdrawn (caremailctl, as the national administrator): no more exports.
        r = self.d.ctl("org", "sharing-agreement", "--ods", ORG_A, "--withdraw")
        self.assertEqual(r.stdout, f"{ORG_A}: sharing agreement withdrawn\n")
        st, _, out = self.as_("sam.admin", "GET", "export")
        self.assertEqual(st, 403, out)

    def test_f_bad_input(self):
        for q in ("", "limit=0&q=x", "limit=101&q=x", "offset=5000&q=x", "kind=robot&q=x", "q=" + "x" * 600):
            st, _, out = self.as_("kim.smith", "GET", "search?" + q)
            self.assertEqual(st, 400, (q, out))
        st, _, out = self.d.api("GET", "/api/v1/directory/search?q=x", token=False)
        self.assertEqual(st, 401, out)


if __name__ == "__main__":
    unittest.main()

"""SCIM 2.0 provisioning (RFC 7643/7644) end to end: an organisation's administrator, with an
API token, creates, finds, changes, disables and deletes its staff's accounts and manages
its roles as groups, the way Entra ID, Okta or a script does (including Entra's habits:
"Replace" with "False" as a string, members[value eq "id"] paths). Scope and refusals come
from the core: another organisation's users are absent, role changes follow the usual
rules, and a refused request changes nothing."""
import imaplib
import json
import os
import sys
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import DaemonTestCase  # noqa: E402

ORG, DOMAIN = "RSC1", "scim-a.care.example"
ORG2, DOMAIN2 = "RSC2", "scim-b.care.example"
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
EXT = "urn:ietf:params:scim:schemas:extension:caremail:2.0:User"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
PLAINTEXT = "[imap]\nallow_plaintext_auth_on_loopback = true\n"


class ScimTest(DaemonTestCase):
    EXTRA = PLAINTEXT

    @classmethod
    def populate(cls):
        cls.d.create_org(ORG, "Scim Trust A", [DOMAIN])
        cls.d.create_org(ORG2, "Scim Trust B", [DOMAIN2])
        cls.d.create_user("primary@" + DOMAIN, ORG, "amber-kettle-9031", roles=["primary_local_admin"])
        cls.d.create_user("admin@" + DOMAIN2, ORG2, "silver-ferry-4410", roles=["local_admin"])
        cls.d.create_user("plain@" + DOMAIN, ORG, "copper-gate-7722")
        cls.tok_a = cls.d.user_token("primary@" + DOMAIN, "amber-kettle-9031")
        cls.tok_b = cls.d.user_token("admin@" + DOMAIN2, "silver-ferry-4410")
        cls.tok_plain = cls.d.user_token("plain@" + DOMAIN, "copper-gate-7722")

    def scim(self, method, path, body=None, token=None):
        st, headers, out = self.d.api(method, "/scim/v2/" + path, body, token=token or self.tok_a,
                                      content_type="application/scim+json")
        return st, headers, out

    def create(self, user, **extra):
        body = {"schemas": [USER], "userName": user, "name": {"givenName": "Pat", "familyName": "Jones"},
                "emails": [{"value": user, "primary": True}], **extra}
        st, h, out = self.scim("POST", "Users", body)
        self.assertEqual(st, 201, out)
        return out

    def account(self, address):
        st, _, body = self.d.api("GET", f"/api/v1/accounts/{address}")
        self.assertEqual(st, 200, body)
        return body

    def test_discovery(self):
        st, h, spc = self.scim("GET", "ServiceProviderConfig")
        self.assertEqual(st, 200, spc)
        self.assertTrue(h["content-type"].startswith("application/scim+json"), h)
        self.assertTrue(spc["patch"]["supported"])
        self.assertTrue(spc["filter"]["supported"])
        st, _, types = self.scim("GET", "ResourceTypes")
        self.assertEqual({t["id"] for t in types["Resources"]}, {"User", "Group"})
        st, _, schemas = self.scim("GET", "Schemas")
        self.assertIn(USER, {s["id"] for s in schemas["Resources"]})

    def test_create_find_change_disable_delete(self):
        addr = "pat.jones@" + DOMAIN
        u = self.create(addr, externalId="HR-0042", password="provisioned-pass-881")
        self.assertEqual(u["userName"], addr)
        self.assertEqual(u["displayName"], "Pat Jones")
        self.assertEqual(u["externalId"], "HR-0042")
        self.assertTrue(u["active"])
        self.assertEqual(u[EXT]["odsCode"], ORG)
        uid = u["id"]
        self.assertTrue(self.account(addr)["must_change_password"], "a provisioned password is temporary")

        # Creating it again is a uniqueness conflict.
        st, _, err = self.scim("POST", "Users", {"schemas": [USER], "userName": addr})
        self.assertEqual((st, err["scimType"], err["schemas"]), (409, "uniqueness", [ERROR]))

        # What provisioning clients look up before they create.
        for f in (f'userName eq "{addr.upper()}"', 'externalId eq "HR-0042"', f'emails.value eq "{addr}"',
                  'externalId eq "HR-0042" and active eq true'):
            st, _, found = self.scim("GET", "Users?filter=" + urllib.parse.quote(f))
            self.assertEqual((st, found["totalResults"]), (200, 1), (f, found))
            self.assertEqual(found["Resources"][0]["id"], uid)
        st, _, none = self.scim("GET", "Users?filter=" + urllib.parse.quote('userName eq "nobody@x.example"'))
        self.assertEqual((st, none["totalResults"], none["Resources"]), (200, 0, []))
        st, _, err = self.scim("GET", "Users?filter=" + urllib.parse.quote("userName eq"))
        self.assertEqual((st, err["scimType"]), (400, "invalidFilter"))

        # Replace and patch the profile.
        st, _, out = self.scim("PUT", f"Users/{uid}", {"schemas": [USER], "userName": addr,
                                                        "displayName": "Patricia Jones", "externalId": "HR-0042"})
        self.assertEqual((st, out["displayName"]), (200, "Patricia Jones"), out)
        self.assertEqual(self.account(addr)["display_name"], "Patricia Jones")
        st, _, out = self.scim("PATCH", f"Users/{uid}", {"schemas": [PATCH], "Operations": [
            {"op": "replace", "path": "name.familyName", "value": "Smith"},
            {"op": "replace", "path": "name.givenName", "value": "Pat"}]})
        self.assertEqual((st, out["displayName"]), (200, "Pat Smith"), out)
        st, _, err = self.scim("PATCH", f"Users/{uid}", {"schemas": [PATCH], "Operations": [
            {"op": "replace", "path": "userName", "value": "other@" + DOMAIN}]})
        self.assertEqual((st, err["scimType"]), (400, "mutability"))
        self.assertEqual(self.account(addr)["address"], addr)

        # Entra ID disables with "Replace" / "False": the account is disabled, sign-in refused.
        st, _, out = self.scim("PATCH", f"Users/{uid}", {"schemas": [PATCH], "Operations": [
            {"op": "Replace", "path": "active", "value": "False"}]})
        self.assertEqual((st, out["active"]), (200, False), out)
        self.assertEqual(self.account(addr)["state"], "disabled")
        c = imaplib.IMAP4("127.0.0.1", self.d.ports["imap"], timeout=10)
        with self.assertRaises(imaplib.IMAP4.error) as e:
            c.login(addr, "provisioned-pass-881")
        self.assertIn("disabled", str(e.exception))
        c.shutdown()
        st, _, out = self.scim("PATCH", f"Users/{uid}", {"schemas": [PATCH], "Operations": [
            {"op": "replace", "value": {"active": True}}]})
        self.assertEqual((st, out["active"]), (200, True), out)
        self.assertEqual(self.account(addr)["state"], "active")

        # Delete: restorable for a while, gone from SCIM lists.
        st, _, _ = self.scim("DELETE", f"Users/{uid}")
        self.assertEqual(st, 204)
        self.assertEqual(self.account(addr)["state"], "deleted")
        st, _, found = self.scim("GET", "Users?filter=" + urllib.parse.quote('externalId eq "HR-0042"'))
        self.assertEqual(found["totalResults"], 0)

    def test_scope_and_refusals(self):
        addr = "scoped@" + DOMAIN
        uid = self.create(addr)["id"]
        # Another organisation's administrator: the user does not exist for them.
        for method, body in (("GET", None), ("DELETE", None),
                             ("PATCH", {"schemas": [PATCH], "Operations": [{"op": "replace", "path": "active",
                                                                             "value": False}]})):
            st, _, err = self.scim(method, f"Users/{uid}", body, token=self.tok_b)
            self.assertEqual(st, 404, (method, err))
        st, _, lst = self.scim("GET", "Users", token=self.tok_b)
        self.assertNotIn(addr, [u["userName"] for u in lst["Resources"]])
        # Nor can they create users in organisation A.
        st, _, err = self.scim("POST", "Users", {"schemas": [USER], "userName": "x@" + DOMAIN,
                                                 EXT: {"odsCode": ORG}}, token=self.tok_b)
        self.assertEqual(st, 403, err)
        # A plain user provisions nothing.
        st, _, err = self.scim("GET", "Users", token=self.tok_plain)
        self.assertEqual(st, 403, err)
        st, _, err = self.scim("POST", "Users", {"schemas": [USER], "userName": "y@" + DOMAIN}, token=self.tok_plain)
        self.assertEqual(st, 403, err)
        self.assertEqual(self.account(addr)["state"], "active")
        # Bad input.
        for body in ({"schemas": [USER]}, {"schemas": [USER], "userName": "not an address"}):
            st, _, err = self.scim("POST", "Users", body)
            self.assertEqual(st, 400, (body, err))
        st, _, err = self.d.api("POST", "/scim/v2/Users", b"{not json", token=self.tok_a,
                                content_type="application/scim+json")
        self.assertEqual((st, err["scimType"]), (400, "invalidSyntax"))
        st, _, err = self.scim("GET", "Users/abc")
        self.assertEqual(st, 404)

    def test_pages(self):
        for i in range(5):
            self.create(f"page{i}@{DOMAIN}")
        f = urllib.parse.quote('userName sw "page"')
        st, _, p1 = self.scim("GET", f"Users?filter={f}&startIndex=1&count=2")
        st, _, p3 = self.scim("GET", f"Users?filter={f}&startIndex=5&count=2")
        self.assertEqual((p1["totalResults"], p1["itemsPerPage"], p1["startIndex"]), (5, 2, 1))
        self.assertEqual((p3["itemsPerPage"], p3["Resources"][0]["userName"]), (1, "page4@" + DOMAIN))

    def test_groups_are_roles(self):
        uid = self.create("grouped@" + DOMAIN)["id"]
        st, _, groups = self.scim("GET", "Groups")
        self.assertEqual(st, 200, groups)
        self.assertIn("local_helpdesk", [g["id"] for g in groups["Resources"]])
        primary = [g for g in groups["Resources"] if g["id"] == "primary_local_admin"][0]
        self.assertIn("primary@" + DOMAIN, [m["display"] for m in primary["members"]])

        st, _, g = self.scim("PATCH", "Groups/local_helpdesk", {"schemas": [PATCH], "Operations": [
            {"op": "add", "path": "members", "value": [{"value": uid}]}]})
        self.assertEqual(st, 200, g)
        self.assertIn(uid, [m["value"] for m in g["members"]])
        self.assertIn("local_helpdesk", self.account("grouped@" + DOMAIN)["roles"])
        # Entra ID's remove form.
        st, _, g = self.scim("PATCH", "Groups/local_helpdesk", {"schemas": [PATCH], "Operations": [
            {"op": "remove", "path": f'members[value eq "{uid}"]'}]})
        self.assertEqual(st, 200, g)
        self.assertNotIn("local_helpdesk", self.account("grouped@" + DOMAIN)["roles"])
        # The usual rules: a primary local administrator does not appoint another primary.
        st, _, err = self.scim("PATCH", "Groups/primary_local_admin", {"schemas": [PATCH], "Operations": [
            {"op": "add", "path": "members", "value": [{"value": uid}]}]})
        self.assertEqual(st, 403, err)
        self.assertEqual(self.account("grouped@" + DOMAIN)["roles"], ["user"])
        # Groups are not created or deleted.
        st, _, err = self.scim("POST", "Groups", {"displayName": "ward 7"})
        self.assertEqual(st, 403, err)
        st, _, err = self.scim("GET", "Groups/ward7")
        self.assertEqual(st, 404, err)


if __name__ == "__main__":
    unittest.main()

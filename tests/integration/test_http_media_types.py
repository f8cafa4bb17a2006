"""Content-Type is parsed as a media type (issue 14, low finding): type/subtype compared
case-insensitively, parameters allowed, and nothing else passes for JSON. Before, a
substring search let "text/plain; a=application/json" and "application/jsonx" through.
The pure parser has its table test in src/http/http_parse_test.cpp."""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # also runnable as a script
from harness import DaemonTestCase  # noqa: E402

BODY = {"ods_code": "ZZ9", "name": "Media type test", "domains": ["media.care.example"]}


class MediaTypeTest(DaemonTestCase):
    def post(self, path, content_type, body=BODY):
        st, _, _ = self.d.api("POST", path, body, content_type=content_type)
        return st

    def test_json_api_refuses_what_only_contains_json(self):
        for ct in ("text/plain; a=application/json", "application/jsonx", "xapplication/json",
                   "text/plain; charset=\"application/json\"", "application/json garbage"):
            self.assertEqual(self.post("/api/v1/organisations", ct), 415, ct)

    def test_json_api_accepts_any_case_and_parameters(self):
        st = self.post("/api/v1/organisations", "Application/JSON; charset=UTF-8")
        self.assertNotEqual(st, 415)
        self.assertLess(st, 300)

    def test_scim_wants_a_json_media_type(self):
        user = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "x@care.example"}
        for ct in ("application/jsonx", "text/json-like", "text/plain; note=json"):
            self.assertEqual(self.post("/scim/v2/Users", ct, user), 415, ct)


if __name__ == "__main__":
    unittest.main()

"""docs/openapi.yaml stays true to the router's route table (src/http/api_routes.hpp).

(a) every path and method in the document is served by a real caremaild: called as the
    bootstrap national administrator with the parameters' `example` values and a harmless or
    invalid body, the answer is neither the router's generic 404 ("no such resource") nor a
    405, nor a 401 or 5xx; errors are RFC 9457 problem documents.
(b) the route table (`caremaild --routes`: one "METHOD /pattern" a line) and the document
    name the same operations, both ways: every row is documented with its method, and every
    documented operation is a row. Path parameter names are ignored.
(c) the document's structure: OpenAPI 3.1, every operation has responses, a description
    saying who may call it ("**Who:**"), an operationId (unique); every {param} of a path is
    declared; every $ref resolves.
Needs PyYAML (Debian: python3-yaml).
"""
import json
import os
import re
import subprocess
import unittest

import yaml

from harness import CAREMAILD, SOURCE, Daemon, DaemonTestCase

DOC = os.path.join(SOURCE, "docs", "openapi.yaml")
METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


def load_doc():
    with open(DOC) as f:
        return yaml.safe_load(f)


def normalise(path):
    return re.sub(r"\{[^}]*\}", "{}", path)


def operations(doc):
    for path, item in doc["paths"].items():
        for m in METHODS:
            if m in item:
                yield path, m, item[m], item


def table_routes():
    """[(METHOD, normalised pattern)] of the router's table, as caremaild lists it."""
    out = subprocess.run([CAREMAILD, "--routes"], check=True, capture_output=True, text=True).stdout
    routes = []
    for line in out.splitlines():
        method, path = line.split(" ", 1)
        routes.append((method, normalise(path)))
    return routes


def fill(path, item, op):
    """The path with every {param} replaced by its example, and the query string."""
    params = {}
    query = []
    for p in item.get("parameters", []) + op.get("parameters", []):
        p = resolve(p)
        if p["in"] == "path":
            params[p["name"]] = p["example"]
        elif p["in"] == "query" and p.get("required"):
            ex = p["example"]
            for v in (ex if isinstance(ex, list) else [ex]):
                query.append(f"{p['name']}={v}")
    out = re.sub(r"\{([^}]+)\}", lambda m: str(params[m.group(1)]), path)
    return out + ("?" + "&".join(query) if query else "")


_DOC = None


def resolve(obj):
    while isinstance(obj, dict) and "$ref" in obj:
        node = _DOC
        for part in obj["$ref"].lstrip("#/").split("/"):
            node = node[part]
        obj = node
    return obj


class OpenApiDocumentTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        global _DOC
        _DOC = cls.doc = load_doc()

    def test_structure(self):
        doc = self.doc
        self.assertTrue(str(doc["openapi"]).startswith("3.1"), doc["openapi"])
        self.assertIn("title", doc["info"])
        self.assertIn("version", doc["info"])
        schemes = doc["components"]["securitySchemes"]
        self.assertEqual({schemes[k]["type"] for k in schemes} >= {"http", "apiKey"}, True)
        self.assertEqual(schemes["sessionCookie"]["name"], "cm_session")
        self.assertEqual(schemes["csrfToken"]["name"], "X-CSRF-Token")
        self.assertIn("Problem", doc["components"]["schemas"])
        ids = []
        for path, m, op, item in operations(doc):
            where = f"{m.upper()} {path}"
            self.assertTrue(op.get("responses"), f"{where}: no responses")
            self.assertIn("**Who:**", op.get("description", ""), f"{where}: the description must say who may call it")
            self.assertTrue(op.get("operationId"), f"{where}: no operationId")
            ids.append(op["operationId"])
            declared = {resolve(p)["name"] for p in item.get("parameters", []) + op.get("parameters", [])
                        if resolve(p)["in"] == "path"}
            self.assertEqual(set(re.findall(r"\{([^}]+)\}", path)), declared, f"{where}: path parameters")
            for status in op["responses"]:
                self.assertRegex(str(status), r"^[1-5][0-9][0-9]$", where)
            for s in op.get("security", doc.get("security", [])):
                for name in s:
                    self.assertIn(name, schemes, where)
        self.assertEqual(len(ids), len(set(ids)), "operationIds must be unique")

        def walk(node, at):
            if isinstance(node, dict):
                if "$ref" in node:
                    try:
                        resolve(node)
                    except KeyError:
                        self.fail(f"{at}: unresolved $ref {node['$ref']}")
                for k, v in node.items():
                    walk(v, f"{at}/{k}")
            elif isinstance(node, list):
                for i, v in enumerate(node):
                    walk(v, f"{at}/{i}")
        walk(doc, "#")

    def test_the_route_table_and_the_document_agree(self):
        rows = table_routes()
        self.assertGreater(len(rows), 20, "caremaild --routes listed too few routes")
        routes = set(rows)
        self.assertEqual(len(rows), len(routes), "a method and path in the route table twice: the second never runs")
        documented = {(m.upper(), normalise(path)) for path, m, _, _ in operations(self.doc)}
        self.assertFalse(sorted(routes - documented),
                         "routes in the router's table (caremaild --routes) missing from docs/openapi.yaml")
        self.assertFalse(sorted(documented - routes),
                         "operations in docs/openapi.yaml that the router's table does not have")

    def test_unknown_paths_and_methods(self):
        """The dispatcher's own answers: 404 for a path no row has, 405 with Allow for a
        path some row has with another method, after authentication as before."""
        with Daemon() as d:
            st, _, body = d.api("GET", "/api/v1/no-such-thing")
            self.assertEqual((st, body["detail"]), (404, "no such resource"))
            st, _, body = d.api("GET", "/api/v1/accounts/a@b.nhs.uk/password/extra")
            self.assertEqual((st, body["detail"]), (404, "no such resource"))
            st, hdrs, body = d.api("PATCH", "/api/v1/accounts")
            self.assertEqual((st, body["detail"], hdrs.get("allow")), (405, "use GET or POST", "GET, POST"))
            st, hdrs, body = d.api("POST", "/api/v1/organisations/X26/contacts/1")
            self.assertEqual((st, hdrs.get("allow")), (405, "GET, PUT, DELETE"))
            self.assertEqual(body["detail"], "use GET, PUT or DELETE")
            st, _, _ = d.api("GET", "/api/v1/no-such-thing", token=False)
            self.assertEqual(st, 401, "unknown paths are not told apart before sign-in")



class OpenApiServedTest(DaemonTestCase):
    """What the document says against a running daemon."""

    @classmethod
    def setUpClass(cls):
        global _DOC
        _DOC = cls.doc = load_doc()
        super().setUpClass()

    def test_every_documented_operation_is_served(self):
        d = self.d
        wrong = []
        for path, m, op, item in operations(self.doc):
            url = fill(path, item, op)
            body = None
            if m in ("post", "put", "delete"):
                # Invalid on purpose: handlers that read a body refuse it before acting.
                body = b"[]"
            st, hdrs, payload = d.api(m.upper(), url, body=body, token=None if op.get("security") != [] else False)
            detail = payload.get("detail", "") if isinstance(payload, dict) else ""
            if st == 405 or (st == 404 and detail == "no such resource") or st == 401 or st >= 500:
                wrong.append(f"{m.upper()} {url}: {st} {detail}")
                continue
            documented = {str(k): resolve(v) for k, v in op["responses"].items()}
            if str(st) not in documented:
                wrong.append(f"{m.upper()} {url}: {st} is not among the documented responses "
                             f"{sorted(documented)} ({detail})")
                continue
            types = list(documented[str(st)].get("content", {}))
            got = hdrs.get("content-type", "").split(";")[0]
            if types and got not in types:
                wrong.append(f"{m.upper()} {url}: {st} answered {got}, documented {types}")
            if st >= 400 and "application/problem+json" in types and not isinstance(payload, dict):
                wrong.append(f"{m.upper()} {url}: {st} is not a problem document")
            elif st >= 400 and "application/problem+json" in types:
                for k in ("type", "title", "status", "detail"):
                    if k not in payload:
                        wrong.append(f"{m.upper()} {url}: the problem document has no '{k}'")
        self.assertFalse(wrong, "documented operations the daemon does not serve as documented:\n" +
                         "\n".join(wrong))


if __name__ == "__main__":
    unittest.main()

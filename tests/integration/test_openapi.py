"""docs/openapi.yaml stays true to the router (src/http/admin_api.cpp).

(a) every path and method in the document is served by a real caremaild: called as the
    bootstrap national administrator with the parameters' `example` values and a harmless or
    invalid body, the answer is neither the router's generic 404 ("no such resource") nor a
    405, nor a 401 or 5xx; errors are RFC 9457 problem documents.
(b) every route in the router's source is in the document. The scan reads the body of
    `Api::route` only and knows these patterns (keep to them when adding routes):
      r.path == "/x"                      -> /x
      rest == "x/y"                       -> /api/v1/x/y
      rest.rfind("x/", 0) == 0            -> a prefix /api/v1/x/{param}: the `sub` routes
                                             below it hang off it; with a `... == "/z"`
                                             suffix test on the same line: /api/v1/x/{param}/z
      sub.empty()                         -> the prefix itself
      sub == "z"                          -> prefix/z
      sub.rfind("z/", 0) == 0             -> some documented path starts with prefix/z/{
    A route's methods are the `r.method == "M"` / `r.method != "M"` tests from its line up to
    the next route line; none means "some method". Path parameter names are ignored.
(c) the document's structure: OpenAPI 3.1, every operation has responses, a description
    saying who may call it ("**Who:**"), an operationId (unique); every {param} of a path is
    declared; every $ref resolves.
Needs PyYAML (Debian: python3-yaml).
"""
import json
import os
import re
import unittest

import yaml

from harness import SOURCE, DaemonTestCase

DOC = os.path.join(SOURCE, "docs", "openapi.yaml")
ROUTER = os.path.join(SOURCE, "src", "http", "admin_api.cpp")
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


def route_body(source):
    """The lines of `Response route(const Request& r) { ... }`."""
    lines = source.splitlines()
    start = next(i for i, l in enumerate(lines) if re.match(r"\s*Response route\(const Request& r\) \{", l))
    indent = len(lines[start]) - len(lines[start].lstrip())
    end = next(i for i in range(start + 1, len(lines)) if lines[i] == " " * indent + "}")
    return lines[start + 1:end]


ROUTE_LINE = re.compile(r'r\.path == "|rest == "|rest\.rfind\("[^"]*", 0\) == 0|sub\.empty\(\)|sub == "|'
                        r'sub\.rfind\("[^"]*", 0\) == 0')


def scan_routes(source):
    """[(path pattern, exact: bool, methods: set, line)] from the router's source. exact=False:
    some documented path must start with the pattern."""
    body = route_body(source)
    starts = [i for i, l in enumerate(body) if ROUTE_LINE.search(l)]
    routes, prefix = [], None
    for n, i in enumerate(starts):
        line = body[i]
        block = body[i:starts[n + 1] if n + 1 < len(starts) else len(body)]
        methods = set()
        for l in block:
            methods |= set(re.findall(r'r\.method [!=]= "([A-Z]+)"', l))
        found = []
        for m in re.finditer(r'r\.path == "([^"]+)"', line):
            found.append((m.group(1), True))
        for m in re.finditer(r'rest == "([^"]+)"', line):
            found.append(("/api/v1/" + m.group(1), True))
        m = re.search(r'rest\.rfind\("([^"]*)", 0\) == 0', line)
        if m and re.search(r"return \w+_route\(", line):
            # Handed whole to another file's router (directory/...): some documented path
            # must live under the prefix.
            found.append(("/api/v1/" + m.group(1), False))
            m = None
        if m:
            base = "/api/v1/" + m.group(1) + "{}"
            suffix = re.search(r'\) == "(/[^"]+)"', line[m.end():])
            if suffix:
                found.append((base + suffix.group(1), True))
            else:
                prefix = base
                found.append((base, False))
        if re.search(r"sub\.empty\(\)", line) and prefix:
            found.append((prefix, True))
        for s in re.findall(r'sub == "([^"]+)"', line):
            found.append((prefix + "/" + s, True))
        m = re.search(r'sub\.rfind\("([^"]*)", 0\) == 0', line)
        if m:
            found.append((prefix + "/" + m.group(1) + "{", False))
        for path, exact in found:
            routes.append((path, exact, methods, line.strip()))
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

    def test_every_route_in_the_source_is_documented(self):
        with open(ROUTER) as f:
            routes = scan_routes(f.read())
        self.assertGreater(len(routes), 20, "the scan found too few routes: has the router's pattern changed?")
        documented = {}
        for path, m, _, _ in operations(self.doc):
            documented.setdefault(normalise(path), set()).add(m.upper())
        missing = []
        for path, exact, methods, line in routes:
            if exact:
                have = documented.get(path)
                if have is None:
                    missing.append(f"{'/'.join(sorted(methods)) or 'any method'} {path}: {line}")
                else:
                    missing += [f"{m} {path}: {line}" for m in sorted(methods - have)]
            else:
                have = set().union(*[v for p, v in documented.items() if p.startswith(path)] or [set()])
                if not have:
                    missing.append(f"{path}... (no documented path under this prefix): {line}")
                else:
                    missing += [f"{m} {path}...: {line}" for m in sorted(methods - have)]
        self.assertFalse(missing, "routes in src/http/admin_api.cpp missing from docs/openapi.yaml:\n" +
                         "\n".join(missing))



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

"""The whole authorisation matrix (issue 5, PRODUCT.md A2b): every role x every action of
the admin API x the target's scope (the actor itself, an account or organisation in the
actor's own organisation, that organisation's primary local administrator, an account or
organisation in another organisation), run against a real caremaild.

How to read and extend it
-------------------------
ACTIONS is the table: one `Action` per row. A row names the action, a function `run(ctx,
cell)` that performs it as `cell.actor` against `cell.target` and returns an `Outcome`, and
`expect`: for each scope the row applies to, the set of roles that are ALLOWED (every other
role must be refused). Scopes a row does not name are not applicable ("self" makes no sense
for creating an organisation; "any" is for actions that name no target at all).

The expectations come from PRODUCT.md (A2b: each role sees only its scope; S4: helpdesk
identity checks, administrator unlock and reset; S6; S9: administrators see their own
organisation's audit trail; A5: nobody reads another person's mail without an approved
request) and docs/ARCHITECTURE.md. Where those and the code disagree the row says so in
`note` and follows the product: such a cell fails until the code is fixed.

Each cell:
  1. `prepare` (only when the cell is expected to be refused, unless `always_prepare`) puts
     the target into a state where a change would show: locked (for unlock), with a second
     factor (MFA reset), with an app password (revoke);
  2. `snapshot` reads the target's state as the bootstrap national administrator;
  3. `run`; the answer is classified: 2xx = allowed (for listings only when the target is
     in the list: `Outcome.visible`), 403 or 404 = refused (404 is what the code answers for
     an account out of scope: "no enumeration"), anything else = an error of the test;
  4. for rows with `changes=True`: a refusal must leave the snapshot as it was, add no "ok"
     event to the audit log and add a "denied" one (refusals are audited, ARCHITECTURE.md);
     an allowed change must add an "ok" event (S9: administrator actions are audited);
  5. `after_allow` restores what the other rows rely on (e.g. a reset password must be
     changed by its owner before their token works again; a new AUP must be accepted).
  6. no enumeration: when a non-national actor is refused on an account of another
     organisation, the same request for an address that does not exist there must get the
     same status (rows with `hides_absent=True`).

Actors authenticate with API tokens (POST /api/v1/tokens, issued once each): Argon2id runs
only where a row needs it. National roles live in the national organisation; for them
"own" is organisation A like for everyone else (their scope is every organisation).
A second test runs the rows marked `session_too` through cookie sessions (POST
/api/v1/sessions + X-CSRF-Token) to check they carry exactly the token's rights.

Life-cycle rows (leaver, claim, disable, enable, delete, restore, roles, quotas) act on a
fresh account per cell, made by the bootstrap national administrator in `prepare`, so cells
do not interfere; a row's `refusals` adds statuses that count as a refusal (400 "not on
yourself", 507 "allowance used up"); `skip` leaves out cells that would wreck the fixture
(a national administrator closing organisation A). The "@local_admin" rows act on
organisation A's other local administrator (a peer of the local_admin actor).

Set CAREMAIL_PRINT_MATRIX=1 to print the matrix even when everything passes.
"""
import base64
import hashlib
import hmac
import itertools
import os
import re
import struct
import time
import unittest
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from harness import ADMIN, Daemon, DaemonTestCase, make_message

ROLES = ("user", "local_admin", "primary_local_admin", "local_helpdesk", "authoriser", "auditor",
         "national_admin", "national_helpdesk")
SHORT = {"user": "user", "local_admin": "l.adm", "primary_local_admin": "pl.adm", "local_helpdesk": "l.help",
         "authoriser": "auth", "auditor": "audit", "national_admin": "n.adm", "national_helpdesk": "n.help"}
# self: the actor's own account; own: a person in organisation A (the local actors'
# organisation); admin: organisation A's other primary local administrator (taking over an
# account with more rights than one's own is an escalation); other: a person in organisation
# B; any: the action names no target.
SCOPES = ("self", "own", "admin", "other", "any")
COLUMNS = ("self", "own", "admin", "other")

ALL = frozenset(ROLES)
NONE = frozenset()
LOCAL_ADMINS = frozenset({"local_admin", "primary_local_admin"})
LOCAL_HELPDESK = frozenset({"local_helpdesk"})
NATIONAL_ADMIN = frozenset({"national_admin"})
NATIONAL = frozenset({"national_admin", "national_helpdesk"})
# Administrators and helpdesk of organisation A, and the national roles: who supports a person.
SUPPORT = LOCAL_ADMINS | LOCAL_HELPDESK | NATIONAL

ORG_A = ("RAA1", "Alpha Teaching Hospitals", "alpha.care.example")
ORG_B = ("RBB2", "Beta Community Care", "beta.care.example")
NATIONAL_ORG = ("X26", "care.example")

_counter = itertools.count(1)


def fresh_password():
    # Random enough to pass the whole policy (not common, no name words, not in the history).
    return "zq" + os.urandom(6).hex() + "-" + str(next(_counter))


def totp(secret, step):
    key = base64.b32decode(secret.upper() + "=" * (-len(secret) % 8))
    mac = hmac.new(key, struct.pack(">Q", step), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    return "%06d" % ((struct.unpack(">I", mac[offset:offset + 4])[0] & 0x7FFFFFFF) % 1000000)


# --------------------------------------------------------------------------------------
# Principals and cells
# --------------------------------------------------------------------------------------

@dataclass
class Person:
    """An account the test controls: its own API token (and a cookie session when made)."""
    d: Daemon
    role: str
    address: str
    ods: str
    password: str
    token: str = ""
    session: Optional[tuple] = None  # (cookie token, csrf token)

    def api(self, method, path, body=None, **kw):
        if self.session:
            h = {"Cookie": "cm_session=" + self.session[0]}
            if method not in ("GET", "HEAD"):
                h["X-CSRF-Token"] = self.session[1]
            h.update(kw.pop("headers", {}) or {})
            return self.d.api(method, path, body, token=False, headers=h, **kw)
        return self.d.api(method, path, body, token=self.token, **kw)

    def via_session(self, cookie, csrf):
        return Person(self.d, self.role, self.address, self.ods, self.password, self.token, (cookie, csrf))


@dataclass
class Target:
    """What a cell acts on: an account (address) and/or an organisation (ods)."""
    address: str
    ods: str
    owner: Optional[Person] = None  # the account's own principal (None: a ghost, absent)


@dataclass
class Cell:
    row: "Action"
    role: str
    scope: str
    actor: Person
    target: Optional[Target]
    vars: dict = field(default_factory=dict)  # shared by prepare / snapshot / run


@dataclass
class Outcome:
    status: int
    body: Any = None
    visible: Optional[bool] = None  # listings: is the target in the answer?
    request: str = ""

    def verdict(self, refusals=(403, 404)):
        if 200 <= self.status < 300:
            return "deny" if self.visible is False else "allow"
        if self.status in refusals:
            return "deny"
        return "error"


@dataclass
class Action:
    name: str
    run: Callable[["Ctx", Cell], Outcome]
    expect: dict  # scope -> frozenset of roles allowed
    changes: bool = False
    prepare: Optional[Callable[["Ctx", Cell], None]] = None
    always_prepare: bool = False
    snapshot: Optional[Callable[["Ctx", Cell], Any]] = None
    after_allow: Optional[Callable[["Ctx", Cell], None]] = None
    hides_absent: bool = False
    audited_ok: bool = True
    session_too: bool = False
    note: str = ""
    # Statuses that count as a refusal besides 403 and 404: e.g. 400 for "not on yourself",
    # 507 for "your organisation's allowance is used up". Only 403/404/507 refusals must be
    # in the audit log (a 400 is a malformed or pointless request, not a decision).
    refusals: tuple = (403, 404)
    # (role, scope) -> True: the cell is not run (e.g. it would close the test's organisation).
    skip: Optional[Callable[[str, str], bool]] = None


def call(cell, method, path, body=None, **kw):
    st, _, payload = cell.actor.api(method, path, body, **kw)
    return Outcome(st, payload, request=f"{method} {path}" + (f" {body}" if isinstance(body, dict) else ""))


# --------------------------------------------------------------------------------------
# The context: daemon, organisations, people, helpers the rows use
# --------------------------------------------------------------------------------------

class Ctx:
    def __init__(self, d):
        self.d = d
        self.actors = {}        # role -> Person
        self.targets = {}       # "own"/"other" -> Target
        self.ghost = None       # an address that does not exist in organisation B
        self.sink = None        # Person receiving injected mail
        self.mfa_on = {}        # address -> bool (second factor enabled, as this test left it)
        self.uid = {}           # address -> uid of a message in its INBOX
        self.audit_mark = 0

    # -- reads as the bootstrap national administrator --
    def admin(self, method, path, body=None):
        return self.d.api(method, path, body)

    def account(self, address):
        st, _, body = self.admin("GET", f"/api/v1/accounts/{address}")
        return body if st == 200 else None

    def new_events(self):
        out = []
        while True:
            st, _, body = self.admin("GET", f"/api/v1/audit?after={self.audit_mark}&limit=1000")
            if st == 403 and "Acceptable Use Policy" in body.get("detail", ""):
                # A row just published a new AUP: the bootstrap administrator accepts it too.
                st, _, aup = self.admin("GET", "/api/v1/aup")
                self.admin("POST", "/api/v1/me/aup", {"version": aup["version"]})
                continue
            assert st == 200, body
            ev = body["events"]
            out += ev
            if not ev:
                return out
            self.audit_mark = ev[-1]["id"]

    def people(self):
        return list(self.actors.values()) + [t.owner for t in self.targets.values()] + [self.sink]

    # -- states the rows prepare --
    def lock(self, address, password="not-the-password-at-all"):
        acct = self.account(address)
        if acct and acct["locked_until"] > time.time() + 5:
            return
        self.d.api("GET", "/api/v1/me", basic=(address, password))
        assert self.account(address)["locked_until"] > time.time(), f"{address} did not lock"

    def enrol_mfa(self, person):
        if self.mfa_on.get(person.address):
            return
        self.unlocked(person)
        st, _, body = person.api("POST", "/api/v1/me/mfa/totp")
        assert st == 201, (person.address, st, body)
        code = totp(body["secret"], int(time.time() // 30))
        st, _, body = person.api("POST", "/api/v1/me/mfa/totp/confirm", {"code": code})
        assert st == 200, (person.address, st, body)
        self.mfa_on[person.address] = True

    def app_password_ids(self, address):
        st, _, body = self.admin("GET", f"/api/v1/accounts/{address}/app-passwords")
        return sorted(a["id"] for a in body["app_passwords"]) if st == 200 else []

    def unlocked(self, person):
        """A row that may not unlock (the lock is the rank check's) can leave a target locked
        after its last refused cell: the next rows need the person able to act."""
        acct = self.account(person.address)
        if acct and acct["locked_until"] > time.time():
            st, _, body = self.admin("POST", f"/api/v1/accounts/{person.address}/unlock")
            assert st == 204, (person.address, st, body)

    def ensure_app_password(self, person):
        self.unlocked(person)
        if not self.app_password_ids(person.address):
            st, _, body = person.api("POST", "/api/v1/me/app-passwords", {"name": "Ward phone"})
            assert st == 201, (st, body)

    def accept_aup(self):
        st, _, body = self.admin("GET", "/api/v1/aup")
        assert st == 200, body
        self.admin("POST", "/api/v1/me/aup", {"version": body["version"]})  # 403 when accepted already
        for p in self.people():
            st, _, b = p.api("POST", "/api/v1/me/aup", {"version": body["version"]})
            assert st == 204, (p.address, st, b)

    def own_password_back(self, person):
        """After someone else reset it, the owner chooses a new one, signing in with the reset
        one (the forced-change flow); the reset ended their token, so they get a new one."""
        acct = self.account(person.address)
        if acct and acct["must_change_password"]:
            reset = person.password
            person.password = fresh_password()
            st, _, b = self.d.api("PUT", f"/api/v1/accounts/{person.address}/password", {"password": person.password},
                                  basic=(person.address, reset))
            assert st == 204, (person.address, st, b)
        st, _, _ = person.api("GET", "/api/v1/me")
        if st == 401:
            person.token = self.d.user_token(person.address, person.password)

    def extra_token_ids(self, address):
        st, _, body = self.admin("GET", f"/api/v1/accounts/{address}/tokens")
        return sorted(t["id"] for t in body["tokens"] if t["name"] == "matrix-extra") if st == 200 else []

    def ensure_extra_token(self, person):
        """A token besides the one the person signs in with, for the revoke row to take."""
        self.unlocked(person)
        if not self.extra_token_ids(person.address):
            st, _, body = person.api("POST", "/api/v1/tokens", {"name": "matrix-extra"})
            assert st == 201, (person.address, st, body)

    def inbox_count(self, person):
        st, _, body = person.api("GET", f"/api/v1/accounts/{person.address}/mailboxes")
        assert st == 200, body
        return next(m["messages"] for m in body["mailboxes"] if m["name"] == "INBOX")


def unique_address(cell, label):
    return f"new-{label}-{next(_counter)}@{cell.target.address.split('@')[1]}"


# --------------------------------------------------------------------------------------
# The rows
# --------------------------------------------------------------------------------------

def in_list(outcome, key, field_name, value):
    if 200 <= outcome.status < 300 and isinstance(outcome.body, dict):
        outcome.visible = any(x.get(field_name) == value for x in outcome.body.get(key, []))
    return outcome


def run_list_orgs(ctx, c):
    return in_list(call(c, "GET", "/api/v1/organisations"), "organisations", "ods_code", c.target.ods)


def run_create_org(ctx, c):
    c.vars["ods"] = "N%05d" % next(_counter)
    return call(c, "POST", "/api/v1/organisations", {"ods_code": c.vars["ods"], "name": "Gamma Surgery"})


def snap_create_org(ctx, c):
    st, _, body = ctx.admin("GET", "/api/v1/organisations")
    return sorted(o["ods_code"] for o in body["organisations"])


def run_list_accounts_of(ctx, c):
    return in_list(call(c, "GET", f"/api/v1/accounts?ods_code={c.target.ods}"), "accounts", "address",
                   c.target.address)


def run_list_accounts(ctx, c):
    return in_list(call(c, "GET", "/api/v1/accounts"), "accounts", "address", c.target.address)


def create_account_row(roles):
    def prepare(ctx, c):
        c.vars["address"] = unique_address(c, "-".join(roles) or "person")

    def run(ctx, c):
        if "address" not in c.vars:
            prepare(ctx, c)
        body = {"address": c.vars["address"], "ods_code": c.target.ods}
        if roles:
            body["roles"] = list(roles)
        return call(c, "POST", "/api/v1/accounts", body)

    def snapshot(ctx, c):
        if "address" not in c.vars:
            prepare(ctx, c)
        return ctx.account(c.vars["address"])

    return run, prepare, snapshot


def run_get_account(ctx, c):
    return call(c, "GET", f"/api/v1/accounts/{c.target.address}")


def snap_password(ctx, c):
    a = ctx.account(c.target.address)
    return a and (a["password_changed_at"], a["must_change_password"])


def run_set_password(ctx, c):
    c.vars["password"] = fresh_password()
    body = {"password": c.vars["password"]}
    if c.scope == "self":
        body["current_password"] = c.actor.password  # a token alone does not change its own password
    return call(c, "PUT", f"/api/v1/accounts/{c.target.address}/password", body)


def after_set_password(ctx, c):
    if c.target.owner:
        c.target.owner.password = c.vars["password"]
        ctx.own_password_back(c.target.owner)


def run_quota(ctx, c):
    return call(c, "GET", f"/api/v1/accounts/{c.target.address}/quota")


def snap_sending(ctx, c):
    a = ctx.account(c.target.address)
    return a and a["sending_suspended"]


def run_sending(ctx, c):
    a = ctx.account(c.target.address)
    flip = not a["sending_suspended"] if a else True
    return call(c, "PUT", f"/api/v1/accounts/{c.target.address}/sending", {"suspended": flip})


def prep_locked(ctx, c):
    if c.scope != "self":  # never lock an actor: its token would be its only way in
        ctx.lock(c.target.address)


def snap_locked(ctx, c):
    a = ctx.account(c.target.address)
    return a and a["locked_until"]


def run_unlock(ctx, c):
    return call(c, "POST", f"/api/v1/accounts/{c.target.address}/unlock")


def run_auth_failures(ctx, c):
    return call(c, "GET", f"/api/v1/accounts/{c.target.address}/auth-failures")


def run_list_app_passwords(ctx, c):
    return call(c, "GET", f"/api/v1/accounts/{c.target.address}/app-passwords")


def prep_app_password(ctx, c):
    if c.target.owner:
        ctx.ensure_app_password(c.target.owner)


def snap_app_passwords(ctx, c):
    return ctx.app_password_ids(c.target.address)


def run_revoke_app_password(ctx, c):
    ids = ctx.app_password_ids(c.target.address) or [1]
    return call(c, "DELETE", f"/api/v1/accounts/{c.target.address}/app-passwords/{ids[0]}")


def run_list_tokens(ctx, c):
    return call(c, "GET", f"/api/v1/accounts/{c.target.address}/tokens")


def prep_extra_token(ctx, c):
    if c.target.owner:
        ctx.ensure_extra_token(c.target.owner)


def snap_extra_tokens(ctx, c):
    return ctx.extra_token_ids(c.target.address)


def run_revoke_token(ctx, c):
    ids = ctx.extra_token_ids(c.target.address) or [1]
    return call(c, "DELETE", f"/api/v1/accounts/{c.target.address}/tokens/{ids[0]}")


def prep_mfa(ctx, c):
    if c.target.owner:
        ctx.enrol_mfa(c.target.owner)


def snap_mfa(ctx, c):
    return ctx.mfa_on.get(c.target.address, False)


def run_reset_mfa(ctx, c):
    out = call(c, "DELETE", f"/api/v1/accounts/{c.target.address}/mfa")
    if 200 <= out.status < 300:
        ctx.mfa_on[c.target.address] = False
    return out


def run_org_mfa(ctx, c):
    nets = [f"10.{next(_counter) % 250}.0.0/16"]
    return call(c, "PUT", f"/api/v1/organisations/{c.target.ods}/mfa", {"required": False, "trusted_networks": nets})


def run_audit(ctx, c):
    # Visible: the log shows what the bootstrap national administrator did to the target
    # (its account.create). Events by the reader's own organisation's people about others
    # are that organisation's business, so they do not count.
    out = call(c, "GET", "/api/v1/audit?after=0&limit=1000")
    if out.status == 200:
        out.visible = any(e["target"] == c.target.address and e["actor"] == ADMIN for e in out.body["events"])
    return out


def run_queue(ctx, c):
    return call(c, "GET", "/api/v1/queue")


def snap_sink(ctx, c):
    return ctx.inbox_count(ctx.sink)


def run_deliver(ctx, c):
    msg = make_message(f"Matrix injection {next(_counter)}", to=ctx.sink.address)
    st, _, body = c.actor.api("POST", f"/api/v1/deliver?to={ctx.sink.address}", msg, content_type="message/rfc822")
    return Outcome(st, body, request=f"POST /api/v1/deliver?to={ctx.sink.address} <message>")


def snap_aup(ctx, c):
    st, _, body = ctx.admin("GET", "/api/v1/aup")
    return body.get("version")


def run_publish_aup(ctx, c):
    return call(c, "POST", "/api/v1/aup", {"text": f"Acceptable Use Policy, edition {next(_counter)}."})


def run_read_aup(ctx, c):
    return call(c, "GET", "/api/v1/aup")


def run_accept_aup(ctx, c):
    st, _, body = ctx.admin("GET", "/api/v1/aup")
    return call(c, "POST", "/api/v1/me/aup", {"version": body["version"]})


def run_token(ctx, c):
    return call(c, "POST", "/api/v1/tokens", {"name": "matrix script"})


def run_me(ctx, c):
    return call(c, "GET", "/api/v1/me")


def run_my_app_passwords(ctx, c):
    return call(c, "GET", "/api/v1/me/app-passwords")


def run_create_my_app_password(ctx, c):
    out = call(c, "POST", "/api/v1/me/app-passwords", {"name": "Matrix phone"})
    if out.status == 201:  # keep well under the limit of 20
        c.actor.api("DELETE", f"/api/v1/me/app-passwords/{out.body['id']}")
    return out


def run_revoke_my_app_password(ctx, c):
    ids = ctx.app_password_ids(c.actor.address) or [1]
    return call(c, "DELETE", f"/api/v1/me/app-passwords/{ids[0]}")


def run_begin_totp(ctx, c):
    return call(c, "POST", "/api/v1/me/mfa/totp")


def run_mailboxes(ctx, c):
    return call(c, "GET", f"/api/v1/accounts/{c.target.address}/mailboxes")


def run_messages(ctx, c):
    return call(c, "GET", f"/api/v1/accounts/{c.target.address}/mailboxes/INBOX/messages")


def run_raw(ctx, c):
    uid = ctx.uid.get(c.target.address, 1)
    return call(c, "GET", f"/api/v1/accounts/{c.target.address}/mailboxes/INBOX/messages/{uid}/raw", raw_body=True)


# -- the account life cycle, roles, quotas, organisations (PRODUCT.md A1-A3, A2b, A6) ----------
# State changes act on a fresh account per cell (created by the bootstrap national
# administrator in `prepare`), so cells never interfere: "own" is a person of organisation A,
# "admin" a primary local administrator of A, "other" a person of organisation B. "self" is
# the actor itself; should the code wrongly allow a change to oneself, `after_allow` puts the
# actor back as it was.

def org_of(scope):
    return ORG_B if scope == "other" else ORG_A


def fresh_account(ctx, c, roles=(), state=None, org=None, label=None):
    ods, _, domain = org or org_of(c.scope)
    roles = list(roles) + (["primary_local_admin"] if c.scope == "admin" and org is None else [])
    label = label or re.sub(r"[^a-z0-9]+", "-", c.row.name.lower()).strip("-")
    address = f"fresh-{label}-{next(_counter)}@{domain}"
    body = {"address": address, "ods_code": ods}
    if roles:
        body["roles"] = roles
    st, _, b = ctx.admin("POST", "/api/v1/accounts", body)
    assert st == 201, (st, b)
    if state == "disabled":
        st, _, b = ctx.admin("POST", f"/api/v1/accounts/{address}/disable")
    elif state == "deleted":
        st, _, b = ctx.admin("DELETE", f"/api/v1/accounts/{address}")
    elif state == "leaver":
        st, _, b = ctx.admin("POST", f"/api/v1/accounts/{address}/leaver")
    assert st in (201, 204), (state, st, b)
    c.target = Target(address, ods, None)
    return c.target


def fresh_target(roles=(), state=None):
    def prepare(ctx, c):
        if c.scope != "self":
            fresh_account(ctx, c, roles, state)
    return prepare


def snap_lifecycle(ctx, c):
    a = ctx.account(c.target.address)
    return a and {k: a[k] for k in ("state", "roles", "quota_bytes", "ods_code", "legal_hold")}


def put_actor_back(ctx, c):
    """After a change the actor should not have been able to make to itself."""
    if c.scope != "self":
        return
    p = c.actor
    a = ctx.account(p.address)
    if a["state"] == "leaver":
        ctx.admin("POST", f"/api/v1/accounts/{p.address}/claim", {"ods_code": p.ods})
    elif a["state"] == "disabled":
        ctx.admin("POST", f"/api/v1/accounts/{p.address}/enable")
    elif a["state"] == "deleted":
        ctx.admin("POST", f"/api/v1/accounts/{p.address}/restore")
    ctx.admin("PUT", f"/api/v1/accounts/{p.address}/roles", {"roles": [] if p.role == "user" else [p.role]})
    a = ctx.account(p.address)
    assert a["state"] == "active" and sorted(a["roles"]) == sorted({"user", p.role}), a


def state_row(method, suffix):
    def run(ctx, c):
        return call(c, method, f"/api/v1/accounts/{c.target.address}{suffix}")
    return run


def run_claim(ctx, c):
    return call(c, "POST", f"/api/v1/accounts/{c.target.address}/claim", {"ods_code": c.vars["into"]})


def prep_claim(ctx, c):
    # own: a leaver from organisation B claimed into A (the actors' own); other: a leaver from
    # A claimed into B.
    into = org_of(c.scope)
    fresh_account(ctx, c, state="leaver", org=ORG_A if c.scope == "other" else ORG_B)
    c.vars["into"] = into[0]


def roles_row(add=(), remove=(), start=()):
    """PUT roles: the target's roles plus `add` minus `remove`; a fresh target holding
    `start` (or the actor itself for "self")."""
    def prepare(ctx, c):
        if c.scope != "self":
            fresh_account(ctx, c, start)

    def run(ctx, c):
        a = ctx.account(c.target.address)
        current = set(a["roles"]) if a else set(start) | {"user"}
        extra = set(add)
        if c.scope == "self" and extra <= current:
            extra = {"auditor"} if "auditor" not in current else {"authoriser"}
        roles = sorted((current | extra) - set(remove) - {"user"})
        return call(c, "PUT", f"/api/v1/accounts/{c.target.address}/roles", {"roles": roles})
    return run, prepare


def quota_row(bytes_, allowance=None, fresh=True):
    def prepare(ctx, c):
        if allowance is not None:
            for ods, _, _ in (ORG_A, ORG_B):
                st, _, b = ctx.admin("PUT", f"/api/v1/organisations/{ods}/quota-allowance", {"accounts": allowance})
                assert st == 204, (st, b)
        if fresh:
            fresh_account(ctx, c)

    def run(ctx, c):
        return call(c, "PUT", f"/api/v1/accounts/{c.target.address}/quota", {"bytes": bytes_ + next(_counter)})
    return run, prepare


def run_legal_hold(ctx, c):
    a = ctx.account(c.target.address)
    hold = not a["legal_hold"] if a else True
    return call(c, "PUT", f"/api/v1/accounts/{c.target.address}/legal-hold", {"hold": hold})


def new_org(ctx, label, with_account=True):
    n = next(_counter)
    ods, domain = "C%05d" % n, f"{label}{n}.care.example"
    st, _, b = ctx.admin("POST", "/api/v1/organisations", {"ods_code": ods, "name": f"{label} {n}", "domains": [domain]})
    assert st == 201, (st, b)
    if with_account:
        st, _, b = ctx.admin("POST", "/api/v1/accounts", {"address": f"staff@{domain}", "ods_code": ods})
        assert st == 201, (st, b)
    return ods, domain


def prep_close_any(ctx, c):
    c.vars["closing"], c.vars["domain"] = new_org(ctx, "closing")
    c.vars["successor"], _ = new_org(ctx, "successor", with_account=False)


def prep_close_own(ctx, c):
    c.vars["closing"], c.vars["domain"] = ORG_A[0], ORG_A[2]
    c.vars["successor"], _ = new_org(ctx, "successor", with_account=False)


def snap_close(ctx, c):
    st, _, body = ctx.admin("GET", "/api/v1/organisations")
    orgs = {o["ods_code"]: o for o in body["organisations"]}
    closing = orgs[c.vars["closing"]]
    return closing["open"], sorted(closing["domains"])


def run_close(ctx, c):
    return call(c, "POST", f"/api/v1/organisations/{c.vars['closing']}/close", {"successor": c.vars["successor"]})


def snap_allowance(ctx, c):
    st, _, body = ctx.admin("GET", "/api/v1/organisations")
    return next(o["large_quota_allowance"] for o in body["organisations"] if o["ods_code"] == c.target.ods)


def run_allowance(ctx, c):
    return call(c, "PUT", f"/api/v1/organisations/{c.target.ods}/quota-allowance", {"accounts": next(_counter) % 997})


def run_directory_search(ctx, c):
    return call(c, "GET", "/api/v1/directory/search?q=target")


def snap_profile(ctx, c):
    st, _, body = ctx.admin("GET", f"/api/v1/directory/entries/{c.target.address}/profile")
    return body if st == 200 else None


def run_directory_edit(ctx, c):
    return call(c, "PUT", f"/api/v1/directory/entries/{c.target.address}", {"job_role": f"Role {next(_counter)}"})


def snap_agreement(ctx, c):
    st, _, body = ctx.admin("GET", "/api/v1/organisations")
    return next(o["sharing_agreement"] for o in body["organisations"] if o["ods_code"] == c.target.ods)


def run_agreement(ctx, c):
    return call(c, "PUT", f"/api/v1/organisations/{c.target.ods}/sharing-agreement",
                {"approved": next(_counter) % 2 == 0})


def snap_aliases(ctx, c):
    a = ctx.account(c.target.address)
    return a and a["aliases"]


def run_add_alias(ctx, c):
    domain = c.target.address.split("@")[1]
    return call(c, "POST", f"/api/v1/accounts/{c.target.address}/aliases", {"alias": f"alias{next(_counter)}@{domain}"})


def snap_contacts(ctx, c):
    st, _, body = ctx.admin("GET", f"/api/v1/organisations/{c.target.ods}/contacts")
    assert st == 200, body
    return sorted(x["address"] for x in body["contacts"])


def run_create_contact(ctx, c):
    return call(c, "POST", f"/api/v1/organisations/{c.target.ods}/contacts",
                {"address": f"partner{next(_counter)}@physio.example", "display_name": "Outside Partner"})


def run_list_contacts(ctx, c):
    return call(c, "GET", f"/api/v1/organisations/{c.target.ods}/contacts")


def snap_lists(ctx, c):
    st, _, body = ctx.admin("GET", f"/api/v1/organisations/{c.target.ods}/lists")
    assert st == 200, body
    return sorted((x["address"], tuple(x["members"])) for x in body["lists"])


def run_create_list(ctx, c):
    domain = c.target.address.split("@")[1]
    return call(c, "POST", f"/api/v1/organisations/{c.target.ods}/lists",
                {"address": f"list{next(_counter)}@{domain}", "display_name": "Ward list",
                 "members": [c.target.address]})


def prep_list(ctx, c):
    domain = c.target.address.split("@")[1]
    c.vars["list"] = f"members{next(_counter)}@{domain}"
    st, _, b = ctx.admin("POST", f"/api/v1/organisations/{c.target.ods}/lists",
                         {"address": c.vars["list"], "display_name": "Members list"})
    assert st == 201, (st, b)


def run_add_list_member(ctx, c):
    return call(c, "PUT", f"/api/v1/organisations/{c.target.ods}/lists/{c.vars['list']}/members/{c.target.address}")


def on_peer(prepare=None):
    """Rows about organisation A's other local administrator ("own" column): a local
    administrator resetting a peer's credentials takes over an account with its own rights."""
    def prep(ctx, c):
        c.target = ctx.targets["peer"]
        if prepare:
            prepare(ctx, c)
    return prep


_lv_run = state_row("POST", "/leaver")
_dis_run = state_row("POST", "/disable")
_en_run = state_row("POST", "/enable")
_del_run = state_row("DELETE", "")
_res_run = state_row("POST", "/restore")
_r_help_run, _r_help_prep = roles_row(add=("local_helpdesk",))
_r_ladm_run, _r_ladm_prep = roles_row(add=("local_admin",))
_r_aud_run, _r_aud_prep = roles_row(add=("auditor", "authoriser"))
_r_pla_run, _r_pla_prep = roles_row(add=("primary_local_admin",))
_r_nh_run, _r_nh_prep = roles_row(add=("national_helpdesk",))
_r_unladm_run, _r_unladm_prep = roles_row(remove=("local_admin",), start=("local_admin",))
_q_run, _q_prep = quota_row(2 << 30, fresh=False)
_qbig0_run, _qbig0_prep = quota_row(8 << 30, allowance=0)
_qbig_run, _qbig_prep = quota_row(8 << 30, allowance=100000)
_clh_run, _clh_prep, _clh_snap = create_account_row(("local_helpdesk",))
_cau_run, _cau_prep, _cau_snap = create_account_row(("auditor",))
_cpl_run, _cpl_prep, _cpl_snap = create_account_row(("primary_local_admin",))
ADMINS_IN_SCOPE = LOCAL_ADMINS | NATIONAL_ADMIN
PRIMARY = frozenset({"primary_local_admin"})


_ca_run, _ca_prep, _ca_snap = create_account_row(())
_cla_run, _cla_prep, _cla_snap = create_account_row(("local_admin",))
_cnh_run, _cnh_prep, _cnh_snap = create_account_row(("national_helpdesk",))

ACTIONS = [
    Action("organisations.list", run_list_orgs, {"own": ALL, "other": NATIONAL},
           note="A2b: everyone sees their own organisation; only national roles see the others"),
    Action("organisations.create", run_create_org, {"any": NATIONAL_ADMIN}, changes=True, snapshot=snap_create_org),
    Action("accounts.list?ods_code", run_list_accounts_of, {"own": SUPPORT, "other": NATIONAL}),
    Action("accounts.list", run_list_accounts, {"own": SUPPORT, "other": NATIONAL}, session_too=True),
    Action("accounts.create", _ca_run, {"own": LOCAL_ADMINS | NATIONAL_ADMIN, "other": NATIONAL_ADMIN},
           changes=True, prepare=_ca_prep, always_prepare=True, snapshot=_ca_snap,
           note="helpdesk does not provision accounts"),
    Action("accounts.create+local_admin", _cla_run,
           {"own": frozenset({"primary_local_admin"}) | NATIONAL_ADMIN, "other": NATIONAL_ADMIN},
           changes=True, prepare=_cla_prep, always_prepare=True, snapshot=_cla_snap,
           note="A2b distinguishes the primary local administrator: it appoints local administrators; a "
                "local administrator granting the same role is an escalation (code: allowed)"),
    Action("accounts.create+national_helpdesk", _cnh_run, {"own": NATIONAL_ADMIN, "other": NATIONAL_ADMIN},
           changes=True, prepare=_cnh_prep, always_prepare=True, snapshot=_cnh_snap),
    Action("accounts.create+local_helpdesk", _clh_run, {"own": ADMINS_IN_SCOPE, "other": NATIONAL_ADMIN},
           changes=True, prepare=_clh_prep, always_prepare=True, snapshot=_clh_snap,
           note="A2b: local administrators create accounts only with roles they may grant"),
    Action("accounts.create+auditor", _cau_run, {"own": PRIMARY | NATIONAL_ADMIN, "other": NATIONAL_ADMIN},
           changes=True, prepare=_cau_prep, always_prepare=True, snapshot=_cau_snap),
    Action("accounts.create+primary_local_admin", _cpl_run, {"own": NATIONAL_ADMIN, "other": NATIONAL_ADMIN},
           changes=True, prepare=_cpl_prep, always_prepare=True, snapshot=_cpl_snap),
    Action("account.get", run_get_account, {"self": ALL, "own": SUPPORT, "admin": SUPPORT, "other": NATIONAL},
           hides_absent=True,
           session_too=True),
    Action("account.password", run_set_password,
           {"self": ALL, "own": SUPPORT, "admin": NATIONAL_ADMIN, "other": NATIONAL},
           changes=True,
           snapshot=snap_password, after_allow=after_set_password, hides_absent=True,
           note="S4: administrator reset, and an account secret for helpdesk identity checks: local and "
                "national helpdesk reset plain users' passwords, never an administrator's. Resetting the "
                "password of an account with as many or more rights than one's own is a take-over: a local "
                "administrator not a (primary) local administrator's, a primary not another primary's"),
    Action("account.password@local_admin", run_set_password, {"own": PRIMARY | NATIONAL_ADMIN}, changes=True,
           prepare=on_peer(), always_prepare=True, snapshot=snap_password, after_allow=after_set_password,
           note="the target is organisation A's other local administrator: a local administrator does not "
                "reset a peer's password; helpdesk never an administrator's"),
    Action("account.quota", run_quota, {"self": ALL, "own": SUPPORT, "other": NATIONAL}, hides_absent=True),
    Action("account.sending", run_sending,
           {"self": LOCAL_ADMINS | NATIONAL_ADMIN, "own": LOCAL_ADMINS | NATIONAL_ADMIN, "other": NATIONAL_ADMIN},
           changes=True, snapshot=snap_sending, hides_absent=True, session_too=True,
           note="S6: the administrator lifts a sending suspension; helpdesk does not"),
    Action("account.unlock", run_unlock, {"self": SUPPORT, "own": SUPPORT, "admin": NATIONAL_ADMIN, "other": NATIONAL},
           changes=True,
           prepare=prep_locked, snapshot=snap_locked, hides_absent=True, session_too=True,
           note="S4: administrator unlock; the person unlocks only through self-service. Someone's sign-ins "
                "(lock, failures, app passwords, tokens) are for those who may reset their password (issue 14: "
                "a local helpdesk acted on a primary administrator's)"),
    Action("account.auth-failures", run_auth_failures,
           {"self": ALL, "own": SUPPORT, "admin": NATIONAL_ADMIN, "other": NATIONAL}, hides_absent=True),
    Action("account.app-passwords", run_list_app_passwords,
           {"self": ALL, "own": SUPPORT, "admin": NATIONAL_ADMIN, "other": NATIONAL}, hides_absent=True),
    Action("account.app-password.revoke", run_revoke_app_password,
           {"self": ALL, "own": SUPPORT, "admin": NATIONAL_ADMIN, "other": NATIONAL},
           changes=True, prepare=prep_app_password, always_prepare=True, snapshot=snap_app_passwords,
           hides_absent=True),
    Action("account.tokens", run_list_tokens,
           {"self": ALL, "own": SUPPORT, "admin": NATIONAL_ADMIN, "other": NATIONAL}, hides_absent=True,
           session_too=True,
           note="issue 14: API tokens are listed (never the secret) for the person and whoever may reset them"),
    Action("account.token.revoke", run_revoke_token,
           {"self": ALL, "own": SUPPORT, "admin": NATIONAL_ADMIN, "other": NATIONAL},
           changes=True, prepare=prep_extra_token, always_prepare=True, snapshot=snap_extra_tokens,
           hides_absent=True),
    Action("account.mfa.reset", run_reset_mfa, {"own": SUPPORT, "admin": NATIONAL_ADMIN, "other": NATIONAL},
           changes=True, prepare=prep_mfa,
           snapshot=snap_mfa, hides_absent=True,
           note="a lost phone: helpdesk (plain users only) and administrators (not a peer's or a superior's, as "
                "for passwords); the person removes their own with a code (DELETE me/mfa), so 'self' is not a "
                "cell here"),
    Action("account.mfa.reset@local_admin", run_reset_mfa, {"own": PRIMARY | NATIONAL_ADMIN}, changes=True,
           prepare=on_peer(prep_mfa), always_prepare=True, snapshot=snap_mfa,
           note="the target is organisation A's other local administrator"),
    Action("organisation.mfa-policy", run_org_mfa,
           {"own": LOCAL_ADMINS | NATIONAL_ADMIN, "other": NATIONAL_ADMIN}, changes=True),
    # -- life cycle (A2, A6): a fresh target account per cell --
    Action("account.leaver", _lv_run,
           {"self": NONE, "own": ADMINS_IN_SCOPE, "admin": PRIMARY | NATIONAL_ADMIN, "other": NATIONAL_ADMIN},
           changes=True, prepare=fresh_target(), always_prepare=True, snapshot=snap_lifecycle,
           after_allow=put_actor_back, hides_absent=True, refusals=(400, 403, 404),
           note="A2: the old organisation's administrators mark a leaver. Marking one removes the administrator "
                "roles (A2b), so not by someone with fewer rights: a local administrator does not mark the "
                "primary local administrator (admin column); a peer primary may (the one staying marks the one "
                "leaving); nobody marks themselves"),
    Action("account.claim", run_claim, {"own": ADMINS_IN_SCOPE, "other": NATIONAL_ADMIN},
           changes=True, prepare=prep_claim, always_prepare=True, snapshot=snap_lifecycle,
           note="A2: the new organisation's administrators claim a leaver (own: from B into A; other: from A into "
                "B); helpdesk does not"),
    Action("account.disable", _dis_run,
           {"self": NONE, "own": ADMINS_IN_SCOPE, "admin": PRIMARY | NATIONAL_ADMIN, "other": NATIONAL_ADMIN},
           changes=True, prepare=fresh_target(), always_prepare=True, snapshot=snap_lifecycle,
           after_allow=put_actor_back, hides_absent=True, session_too=True, refusals=(400, 403, 404),
           note="A6: administrators in scope, never on themselves (400); a local administrator does not act "
                "against the primary local administrator (more rights than its own, as for credentials; code: "
                "allowed)"),
    Action("account.enable", _en_run,
           {"own": ADMINS_IN_SCOPE, "admin": PRIMARY | NATIONAL_ADMIN, "other": NATIONAL_ADMIN},
           changes=True, prepare=fresh_target(state="disabled"), always_prepare=True, snapshot=snap_lifecycle,
           hides_absent=True),
    Action("account.delete", _del_run,
           {"self": NONE, "own": ADMINS_IN_SCOPE, "admin": PRIMARY | NATIONAL_ADMIN, "other": NATIONAL_ADMIN},
           changes=True, prepare=fresh_target(), always_prepare=True, snapshot=snap_lifecycle,
           after_allow=put_actor_back, hides_absent=True, refusals=(400, 403, 404)),
    Action("account.restore", _res_run,
           {"own": ADMINS_IN_SCOPE, "admin": PRIMARY | NATIONAL_ADMIN, "other": NATIONAL_ADMIN},
           changes=True, prepare=fresh_target(state="deleted"), always_prepare=True, snapshot=snap_lifecycle,
           hides_absent=True),
    # -- roles (A2b) --
    Action("account.roles+local_helpdesk", _r_help_run, {"self": NONE, "own": ADMINS_IN_SCOPE, "other": NATIONAL_ADMIN},
           changes=True, prepare=_r_help_prep, always_prepare=True, snapshot=snap_lifecycle,
           after_allow=put_actor_back, hides_absent=True, session_too=True, refusals=(400, 403, 404),
           note="a local administrator grants only local_helpdesk; nobody changes their own roles (400)"),
    Action("account.roles+local_admin", _r_ladm_run, {"own": PRIMARY | NATIONAL_ADMIN, "other": NATIONAL_ADMIN},
           changes=True, prepare=_r_ladm_prep, always_prepare=True, snapshot=snap_lifecycle, hides_absent=True),
    Action("account.roles+auditor+authoriser", _r_aud_run, {"own": PRIMARY | NATIONAL_ADMIN, "other": NATIONAL_ADMIN},
           changes=True, prepare=_r_aud_prep, always_prepare=True, snapshot=snap_lifecycle, hides_absent=True),
    Action("account.roles+primary_local_admin", _r_pla_run, {"own": NATIONAL_ADMIN, "other": NATIONAL_ADMIN},
           changes=True, prepare=_r_pla_prep, always_prepare=True, snapshot=snap_lifecycle, hides_absent=True),
    Action("account.roles+national_helpdesk", _r_nh_run, {"own": NATIONAL_ADMIN, "other": NATIONAL_ADMIN},
           changes=True, prepare=_r_nh_prep, always_prepare=True, snapshot=snap_lifecycle, hides_absent=True),
    Action("account.roles-local_admin", _r_unladm_run, {"own": PRIMARY | NATIONAL_ADMIN, "other": NATIONAL_ADMIN},
           changes=True, prepare=_r_unladm_prep, always_prepare=True, snapshot=snap_lifecycle, hides_absent=True,
           note="removing a role takes the same right as giving it"),
    # -- quotas (M5, A1) --
    Action("account.quota.set", _q_run,
           {"own": ADMINS_IN_SCOPE, "admin": ADMINS_IN_SCOPE, "other": NATIONAL_ADMIN},
           changes=True, snapshot=snap_lifecycle, hides_absent=True,
           note="up to the national default: administrators in scope"),
    Action("account.quota.set>default,no-allowance", _qbig0_run, {"own": NATIONAL_ADMIN, "other": NATIONAL_ADMIN},
           changes=True, prepare=_qbig0_prep, always_prepare=True, snapshot=snap_lifecycle, hides_absent=True,
           refusals=(403, 404, 507),
           note="above the default uses the organisation's allowance (507 when used up); national "
                "administrators are not bound by it"),
    Action("account.quota.set>default,allowance", _qbig_run, {"own": ADMINS_IN_SCOPE, "other": NATIONAL_ADMIN},
           changes=True, prepare=_qbig_prep, always_prepare=True, snapshot=snap_lifecycle, hides_absent=True),
    Action("account.legal-hold", run_legal_hold,
           {"own": NATIONAL_ADMIN, "admin": NATIONAL_ADMIN, "other": NATIONAL_ADMIN},
           changes=True, snapshot=snap_lifecycle, hides_absent=True, note="A6: national administrators only"),
    # -- organisations (A1, A3) --
    Action("organisation.close", run_close, {"any": NATIONAL_ADMIN}, changes=True, prepare=prep_close_any,
           always_prepare=True, snapshot=snap_close,
           note="a fresh organisation (with an account) merged into a fresh successor"),
    Action("organisation.close(own)", run_close, {"own": NONE}, changes=True, prepare=prep_close_own,
           always_prepare=True, snapshot=snap_close, skip=lambda role, scope: role == "national_admin",
           note="nobody but national administrators closes their own organisation (the national "
                "administrator's cell is not run: it would close organisation A)"),
    Action("organisation.quota-allowance", run_allowance, {"own": NATIONAL_ADMIN, "other": NATIONAL_ADMIN},
           changes=True, snapshot=snap_allowance),
    Action("account.aliases.add", run_add_alias,
           {"self": ADMINS_IN_SCOPE, "own": ADMINS_IN_SCOPE, "admin": ADMINS_IN_SCOPE, "other": NATIONAL_ADMIN},
           changes=True, snapshot=snap_aliases, hides_absent=True,
           note="A1: administrators in scope give addresses in the organisation's domains"),
    # -- the directory (D1, D2) --
    Action("directory.search", run_directory_search, {"any": ALL}, session_too=True),
    Action("directory.entry.edit", run_directory_edit,
           {"self": ALL, "own": ADMINS_IN_SCOPE, "admin": ADMINS_IN_SCOPE, "other": NATIONAL_ADMIN},
           changes=True, snapshot=snap_profile, hides_absent=True,
           note="D1: people edit their own entry, administrators their organisation's; helpdesk does not"),
    Action("directory.contacts.create", run_create_contact, {"own": ADMINS_IN_SCOPE, "other": NATIONAL_ADMIN},
           changes=True, snapshot=snap_contacts,
           note="D1: an organisation's administrators list people outside the service"),
    Action("directory.contacts.list", run_list_contacts, {"own": ADMINS_IN_SCOPE, "other": NATIONAL_ADMIN}),
    Action("directory.lists.create", run_create_list, {"own": ADMINS_IN_SCOPE, "other": NATIONAL_ADMIN},
           changes=True, snapshot=snap_lists,
           note="M9 (static subset): the organisation's administrators create its lists"),
    Action("directory.lists.member.add", run_add_list_member, {"own": ADMINS_IN_SCOPE, "other": NATIONAL_ADMIN},
           changes=True, snapshot=snap_lists, prepare=prep_list, always_prepare=True),
    Action("organisation.sharing-agreement", run_agreement,
           {"own": frozenset({"authoriser"}) | NATIONAL_ADMIN, "other": NATIONAL_ADMIN}, changes=True,
           snapshot=snap_agreement,
           note="D2: the organisation's authoriser approves bulk export (not its administrators)"),
    Action("audit.read", run_audit, {"own": LOCAL_ADMINS | frozenset({"auditor"}) | NATIONAL, "other": NATIONAL},
           note="S9: 'administrators see their own organisation only': local administrators, primary local "
                "administrators and auditors read their own organisation's events"),
    Action("queue.read", run_queue, {"any": NATIONAL}),
    Action("deliver", run_deliver, {"any": NATIONAL_ADMIN}, changes=True, snapshot=snap_sink,
           note="operator injection; S9: administrator actions are audited (mail.inject ok)"),
    Action("aup.publish", run_publish_aup, {"any": NATIONAL_ADMIN}, changes=True, snapshot=snap_aup,
           after_allow=lambda ctx, c: ctx.accept_aup()),
    Action("aup.read", run_read_aup, {"any": ALL}),
    Action("me.aup.accept", run_accept_aup, {"self": ALL}),
    Action("tokens.issue", run_token, {"self": ALL}),
    Action("me", run_me, {"self": ALL}),
    Action("me.app-passwords", run_my_app_passwords, {"self": ALL}),
    Action("me.app-passwords.create", run_create_my_app_password, {"self": ALL}),
    Action("me.app-passwords.revoke", run_revoke_my_app_password, {"self": ALL}, prepare=prep_app_password,
           always_prepare=True),
    Action("me.mfa.totp.begin", run_begin_totp, {"self": ALL}),
    Action("mailboxes.list", run_mailboxes, {"self": ALL, "own": NONE, "other": NONE},
           note="A5: another person's mail only through an approved, recorded request (not yet built)"),
    Action("messages.list", run_messages, {"self": ALL, "own": NONE, "other": NONE}, session_too=True),
    Action("message.raw", run_raw, {"self": ALL, "own": NONE, "other": NONE}),
]


# --------------------------------------------------------------------------------------
# Running the table
# --------------------------------------------------------------------------------------

@dataclass
class Result:
    row: str
    role: str
    scope: str
    expected: str
    actual: str
    outcome: Outcome
    problems: list


def run_cell(ctx, cell):
    row = cell.row
    expected = "allow" if cell.role in row.expect[cell.scope] else "deny"
    problems = []
    if row.prepare and (row.always_prepare or expected == "deny"):
        row.prepare(ctx, cell)
    before = row.snapshot(ctx, cell) if row.snapshot else None
    ctx.new_events()  # move the mark past everything so far
    out = row.run(ctx, cell)
    actual = out.verdict(row.refusals)
    if row.changes:
        events = ctx.new_events()
        oks = [e for e in events if e["outcome"] == "ok"]
        if actual == "deny":
            after = row.snapshot(ctx, cell) if row.snapshot else None
            if after != before:
                problems.append(f"refused, yet the state changed: {before!r} -> {after!r}")
            if oks:
                problems.append(f"refused, yet audited as done: {[(e['action'], e['target']) for e in oks]}")
            if out.status in (403, 404, 507) and not any(e["outcome"] == "denied" for e in events):
                problems.append("the refusal is not in the audit log")
        elif actual == "allow" and row.audited_ok and not oks:
            problems.append("allowed, but no 'ok' event in the audit log")
    if actual == "allow" and row.after_allow:
        row.after_allow(ctx, cell)
    # No enumeration: out of scope in another organisation looks like absent.
    if (row.hides_absent and actual == "deny" and cell.scope == "other" and cell.role not in NATIONAL
            and ctx.ghost):
        ghost = Cell(row, cell.role, cell.scope, cell.actor, ctx.ghost)
        g = row.run(ctx, ghost)
        if g.status != out.status:
            problems.append(f"no enumeration: {out.status} for an account of another organisation, {g.status} "
                            f"for an absent address ({g.request})")
    if actual == "error":
        problems.append(f"unexpected status {out.status}: {out.body!r:.200}")
    return Result(row.name, cell.role, cell.scope, expected, actual, out, problems)


def run_matrix(ctx, rows, actors):
    results = []
    for row in rows:
        for scope in SCOPES:
            if scope not in row.expect:
                continue
            for role in ROLES:
                if row.skip and row.skip(role, scope):
                    continue
                actor = actors[role]
                if scope == "self":
                    target = Target(actor.address, actor.ods, actor)
                elif scope == "any":
                    target = None
                else:
                    target = ctx.targets[scope]
                results.append(run_cell(ctx, Cell(row, role, scope, actor, target)))
    return results


def render(results, rows):
    """One line per action; per role four columns: self, own, admin, other (or one: any).
    + allowed as expected   . refused as expected   ! allowed, should be refused
    x refused, should be allowed   ? unexpected status   * verdict right, a check failed
    (blank: not applicable)."""
    by = {(r.row, r.role, r.scope): r for r in results}
    width = max(len(r.name) for r in rows) + 1
    head = " " * width + " ".join(f"{SHORT[x]:^7}" for x in ROLES)
    sub = " " * width + " ".join(f"{'s o a x':^7}" for _ in ROLES)
    lines = [head, sub]
    for row in rows:
        cells = []
        for role in ROLES:
            marks = ""
            for scope in (("any",) if "any" in row.expect else COLUMNS):
                r = by.get((row.name, role, scope))
                if r is None:
                    marks += " "
                elif r.actual == "error":
                    marks += "?"
                elif r.actual != r.expected:
                    marks += "!" if r.actual == "allow" else "x"
                elif r.problems:
                    marks += "*"
                else:
                    marks += "+" if r.actual == "allow" else "."
            cells.append(f"{' '.join(marks):^7}")
        lines.append(f"{row.name:<{width}}" + " ".join(cells))
    lines.append("columns: s = self, o = a person of organisation A (the local actors' own), a = A's primary local "
                 "administrator, x = a person of organisation B; 'any' rows have one "
                 "mark; + allowed, . refused (as expected); ! allowed but should be refused; x refused but should "
                 "be allowed; ? unexpected status; * a check of the cell failed")
    return "\n".join(lines)


def failures(results):
    out = []
    for r in results:
        if r.actual != r.expected or r.problems:
            why = "; ".join(r.problems) if r.problems else ""
            out.append(f"{r.row} [{r.role}, {r.scope}]: expected {r.expected}, got {r.actual} ({r.outcome.status}) "
                       f"{r.outcome.request} {why}".rstrip())
    return out


class AuthorisationMatrixTest(DaemonTestCase):
    EXTRA = "[lockout]\nfailures = 1\nip_failures = 100000\n[password]\nhistory = 1\n"

    @classmethod
    def setUpClass(cls):
        cls.t0 = time.time()
        super().setUpClass()

    @classmethod
    def populate(cls):
        d = cls.d
        ctx = cls.ctx = Ctx(d)
        for ods, name, domain in (ORG_A, ORG_B):
            d.create_org(ods, name, [domain])

        def person(role, local, ods, domain, roles):
            p = Person(d, role, f"{local}@{domain}", ods, fresh_password())
            d.create_user(p.address, ods, p.password, display_name=f"Matrix {role.replace('_', ' ')}",
                          roles=roles)
            p.token = d.user_token(p.address, p.password)
            return p

        for role in ROLES:
            national = role in NATIONAL
            ods, domain = (NATIONAL_ORG if national else ORG_A[::2])
            ctx.actors[role] = person(role, "actor-" + role.replace("_", "-"), ods, domain,
                                      [] if role == "user" else [role])
        for scope, (ods, _, domain), roles in (("own", ORG_A, []), ("admin", ORG_A, ["primary_local_admin"]),
                                               ("other", ORG_B, []), ("peer", ORG_A, ["local_admin"])):
            p = person(roles[0] if roles else "user", "target-" + scope, ods, domain, roles)
            ctx.targets[scope] = Target(p.address, ods, p)
        ctx.sink = person("user", "sink", ORG_A[0], ORG_A[2], [])
        ctx.ghost = Target("nobody-here@" + ORG_B[2], ORG_B[0], None)
        # A message in every mailbox (for reading rows), then an AUP everyone has accepted.
        people = ctx.people()
        st, _, body = d.deliver([p.address for p in people], make_message("Matrix letter"))
        assert st == 200, body
        for r in body["recipients"]:
            ctx.uid[r["address"]] = r["uid"]
        st, _, body = d.api("POST", "/api/v1/aup", {"text": "Acceptable Use Policy, first edition."})
        assert st == 201, body
        ctx.accept_aup()
        cls.setup_seconds = time.time() - cls.t0

    def report(self, title, results, rows):
        bad = failures(results)
        text = f"\n{title}\n{render(results, rows)}\n" + "".join(f"  - {f}\n" for f in bad)
        if bad or os.environ.get("CAREMAIL_PRINT_MATRIX"):
            print(text)
        self.assertFalse(bad, f"{len(bad)} cells of the authorisation matrix disagree with the product rules:\n"
                              + "\n".join(bad))

    def test_every_role_every_action_every_scope(self):
        t = time.time()
        results = run_matrix(self.ctx, ACTIONS, self.ctx.actors)
        cells = len(results)
        self.report(f"Authorisation matrix via API tokens ({cells} cells, {time.time() - t:.1f} s, setup "
                    f"{self.setup_seconds:.1f} s)", results, ACTIONS)

    def test_sessions_carry_the_same_rights(self):
        """The same rows through cookie sessions with the CSRF token; a change without the
        token is refused whoever asks."""
        d, ctx = self.d, self.ctx
        actors = {}
        for role, p in ctx.actors.items():
            st, hdrs, body = d.api("POST", "/api/v1/sessions", {"address": p.address, "password": p.password},
                                   token=False)
            self.assertEqual(st, 201, (role, body))
            cookie = re.match(r"cm_session=([^;]+);", hdrs["set-cookie"]).group(1)
            actors[role] = p.via_session(cookie, body["csrf_token"])
            target = ctx.targets["own"].address
            st, _, body = d.api("POST", f"/api/v1/accounts/{target}/unlock", token=False,
                                headers={"Cookie": "cm_session=" + cookie})
            self.assertEqual(st, 403, (role, "a change without X-CSRF-Token", body))
        rows = [r for r in ACTIONS if r.session_too]
        results = run_matrix(ctx, rows, actors)
        self.report("Authorisation matrix via cookie sessions", results, rows)


if __name__ == "__main__":
    unittest.main()

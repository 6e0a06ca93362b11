"""The operator console: a server-rendered web application over the gRPC API, for the privacy
team, operators and CRM staff. It holds no store of its own: every page is made of API calls
carrying the signed-in key, so the server's auth, roles, bounds, audit log and telemetry apply to
it as to any caller, and a page shows (and a form offers) only what the key's role may call.

Privacy in the page itself: identifiers travel in POST bodies only — never in a URL, which ends
up in proxy logs and browser history; values are shown in the API's display-safe forms; every
state-changing form carries a CSRF token (Flask-WTF); Jinja escapes everything shown.
"""

from __future__ import annotations

import logging
import secrets
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import grpc
from flask import Flask, Response, abort, g, redirect, render_template, request, session, url_for
from flask_wtf.csrf import CSRFError, CSRFProtect  # type: ignore[import-untyped]
from google.protobuf.json_format import MessageToDict

from console.picture import evidence_name, picture
from console.sessions import Session, Sessions
from idstitch.client import Client
from idstitch.errors import ApiError, NotFound, PermissionDenied, Unauthenticated, Unavailable

log = logging.getLogger("idstitch.console")
TYPES = ("email", "phone", "customer_id", "loyalty_number", "cookie", "device_id", "card_token", "ad_id")
"""Offered in the identifier forms (any configured type may be typed)."""
MAX_FIELD = 1024
"""Longest value a form field may carry; the API bounds what it accepts itself."""


@dataclass(frozen=True)
class ConsoleSettings:
    target: str
    """The idstitch server (host:port)."""
    ca: Path | None = None
    cert: Path | None = None
    client_key: Path | None = None
    secure_cookies: bool = False
    """Mark the session cookie Secure: the console is served over TLS."""
    idle_minutes: float = 30.0
    proxy_key_header: str = ""
    """Behind a reverse proxy that authenticates: the header carrying the caller key it chose
    (no sign-in page). Empty: sign in with a key."""
    timeout_seconds: float = 10.0


def create_app(settings: ConsoleSettings, *, secret: bytes | None = None) -> Flask:
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=secret or secrets.token_bytes(32),
        SESSION_COOKIE_NAME="idstitch_console",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_SECURE=settings.secure_cookies,
        PERMANENT_SESSION_LIFETIME=timedelta(minutes=settings.idle_minutes),
        WTF_CSRF_TIME_LIMIT=None,  # the session's own lifetime bounds the token's
        MAX_CONTENT_LENGTH=64 * 1024,
    )
    CSRFProtect(app)
    sessions = Sessions(settings.idle_minutes * 60)

    def client(key: str) -> Client:
        return Client(
            settings.target, key=key, ca=settings.ca, cert=settings.cert, client_key=settings.client_key,
            timeout=settings.timeout_seconds, retries=1,
        )  # fmt: skip

    def current() -> Session | None:
        if settings.proxy_key_header:
            key = request.headers.get(settings.proxy_key_header, "")
            return _proxy_session(key) if key else None
        return sessions.get(session.get("sid"))

    proxied: dict[str, Session] = {}

    def _proxy_session(key: str) -> Session | None:
        found = proxied.get(key)
        if found is None:
            with client(key) as c:
                me = c.whoami()
            found = proxied[key] = Session(key, me.key_id, me.role, frozenset(me.methods), 0.0)
        return found

    @contextmanager
    def api() -> Iterator[Client]:
        with client(g.me.key) as c:
            yield c

    def page(template: str, status: int = 200, **context: Any) -> tuple[str, int]:
        return render_template(template, me=g.get("me"), types=TYPES, **context), status

    @app.before_request
    def _signed_in() -> Any:
        g.me = None
        if request.endpoint in ("signin", "static"):
            return None
        g.me = current()
        if g.me is None:
            if settings.proxy_key_header:
                abort(401)
            return redirect(url_for("signin"))
        return None

    @app.after_request
    def _no_store(response: Response) -> Response:
        response.headers["Cache-Control"] = "no-store"  # pages hold personal data
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["Content-Security-Policy"] = (
            "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; form-action 'self'"
        )
        return response

    @app.errorhandler(ApiError)
    def _api_error(e: ApiError) -> tuple[str, int]:
        if isinstance(e, Unavailable):
            message = f"{settings.target} did not answer. The page works again once it does."
            return page("error.html", 503, title="The idstitch server cannot be reached", message=message)
        if isinstance(e, Unauthenticated):
            sessions.close(session.pop("sid", None))
            return page("error.html", 401, title="Signed out", message="The key is not (or no longer) valid.")
        status = 403 if isinstance(e, PermissionDenied) else 404 if isinstance(e, NotFound) else 400
        return page(
            "error.html", status, title=e.code().name.replace("_", " ").capitalize(), message=e.details
        )

    @app.errorhandler(CSRFError)
    def _csrf(e: CSRFError) -> tuple[str, int]:
        return page(
            "error.html", 400, title="Refused", message="The form was not this console's (CSRF check)."
        )

    @app.errorhandler(grpc.RpcError)
    def _rpc(e: grpc.RpcError) -> tuple[str, int]:
        return page("error.html", 503, title="The idstitch server cannot be reached", message=settings.target)

    # -- signing in --------------------------------------------------------------------------

    @app.route("/signin", methods=["GET", "POST"])
    def signin() -> Any:
        if settings.proxy_key_header:
            return redirect(url_for("home"))
        if request.method == "GET":
            return page("signin.html")
        key = _field("key")
        try:
            with client(key) as c:
                me = c.whoami()
        except (Unauthenticated, PermissionDenied):
            return page("signin.html", 401, failed=True)
        sessions.close(session.pop("sid", None))
        session.clear()
        session.permanent = True
        session["sid"] = sessions.open(key, me.key_id, me.role, frozenset(me.methods))
        return redirect(url_for("home"))

    @app.post("/signout")
    def signout() -> Any:
        sessions.close(session.pop("sid", None))
        session.clear()
        return redirect(url_for("signin"))

    # -- finding a person --------------------------------------------------------------------

    @app.get("/")
    def home() -> Any:
        return page("home.html")

    @app.post("/find")
    def find() -> Any:
        person_id = _field("person_id", required=False)
        if person_id:
            return redirect(url_for("person", person_id=person_id))
        ident = (_field("type"), _field("value"))
        if not g.me.may("IdentityService/Resolve"):  # a privacy key acts on an identifier unseen
            return page("subject.html", subject=_subject(identifier=ident), shown=ident[0])
        with api() as c:
            found = c.resolve(*ident)
        if found.shared:
            return page("shared.html", type=ident[0], persons=list(found.shared_by))
        return _person_page(found.person.person_id, resolved=found.person)

    @app.get("/person/<person_id>")
    def person(person_id: str) -> Any:
        return _person_page(person_id[:MAX_FIELD], resolved=None)

    def _person_page(person_id: str, resolved: Any) -> tuple[str, int]:
        me: Session = g.me
        graph = profile = audit = changes = None
        with api() as c:
            if me.may("IdentityService/GetIdentityGraph"):
                graph = c.graph(person_id=person_id)
                person_id = graph.person_id
            if me.may("ProfileService/GetProfile"):
                profile = MessageToDict(c.get_profile(person_id=person_id))
            if me.may("AdminService/ListAudit"):
                ids = {person_id, *(graph.aliases if graph else ())}
                audit = [a for a in c.audit() if ids & set(a.detail.values())]
            if me.may("ChangeService/ListChanges"):
                changes = [_change_row(x) for x in c.changes_of(person_id, limit=20)]
        return page(
            "person.html", person_id=person_id, graph=graph, picture=picture(graph) if graph else None,
            resolved=resolved, profile=profile, audit=audit, changes=changes, evidence_name=evidence_name,
            subject=_subject(person_id=person_id),
        )  # fmt: skip

    @app.post("/why")
    def why() -> Any:
        a, b = (_field("a_type"), _field("a_value")), (_field("b_type"), _field("b_value"))
        with api() as c:
            x = c.explain(a, b)
        return page("why.html", x=x, a_type=a[0], b_type=b[0], evidence_name=evidence_name)

    # -- acting ------------------------------------------------------------------------------

    @app.post("/detach")
    def detach() -> Any:
        ident = (_field("type"), _field("value"))
        shared = _field("mode", required=False) == "shared"
        if _field("confirmed", required=False) != "yes":  # first the confirmation, with sizes
            with api() as c:
                graph = c.graph(identifier=ident)
                events = MessageToDict(c.get_profile(person_id=graph.person_id, fields=["context.events"]))
            return page("detach.html", graph=graph, ident=ident, shared=shared,
                        events=events.get("context", {}).get("events", 0))  # fmt: skip
        with api() as c:
            done = c.detach(ident, shared=shared)
        return page("detached.html", done=done, type=ident[0])

    @app.post("/consent")
    def consent() -> Any:
        subject = _subject_from_form()
        with api() as c:
            done = c.set_consent(
                f"console-{uuid.uuid4().hex}", _field("purpose"), _field("decision") == "granted",
                source="console", **subject,
            )  # fmt: skip
        return page("done.html", title="Consent recorded", person_id=done.person_id)

    @app.post("/export")
    def export() -> Response:
        subject = _subject_from_form()
        with api() as c:
            document = c.export(**subject)
        name = f"idstitch-export-{uuid.uuid4().hex[:8]}.json"  # nothing of the subject in the name
        return Response(
            document, mimetype="application/json",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )  # fmt: skip

    @app.post("/erase")
    def erase() -> Any:
        subject = _subject_from_form()
        request_id = _field("request_id", required=False) or f"console-{uuid.uuid4().hex}"
        with api() as c:
            receipt = c.erase(request_id, **subject)
        g.me.erasures.append(receipt.erasure_id)
        return page("receipt.html", receipt=MessageToDict(receipt, preserving_proto_field_name=True))

    @app.get("/erasures")
    def erasures() -> Any:
        me: Session = g.me
        ids = list(dict.fromkeys(reversed(me.erasures)))
        with api() as c:
            if me.may("AdminService/ListAudit"):
                ids += [a.detail["erasure_id"] for a in reversed(c.audit()) if a.operation == "erase"]
            ids = list(dict.fromkeys(ids))[:100]
            receipts = [MessageToDict(c.erasure(i), preserving_proto_field_name=True) for i in ids]
        return page("erasures.html", receipts=receipts)

    # -- keys and audit ----------------------------------------------------------------------

    @app.get("/keys")
    def keys() -> Any:
        with api() as c:
            listed = c.list_keys()
        return page("keys.html", keys=listed, created=None)

    @app.post("/keys/create")
    def create_key() -> Any:
        with api() as c:
            made = c.create_key(_field("role"))
            listed = c.list_keys()
        return page("keys.html", keys=listed, created=made)

    @app.post("/keys/revoke")
    def revoke_key() -> Any:
        with api() as c:
            c.revoke_key(_field("key_id"))
        return redirect(url_for("keys"))

    @app.get("/audit")
    def audit() -> Any:
        operation = request.args.get("operation", "")[:64]
        caller = request.args.get("caller", "")[:64]
        with api() as c:
            records = c.audit()
        shown = [
            r for r in reversed(records)
            if (not operation or r.operation == operation) and (not caller or r.caller == caller)
        ][:500]  # fmt: skip
        operations = sorted({r.operation for r in records})
        return page("audit.html", records=shown, operations=operations, operation=operation, caller=caller)

    return app


def _change_row(change: Any) -> dict[str, Any]:
    """A change as the page lists it: when, what, and its detail (ids, names, counts: never an
    identifier, which the feed does not hold)."""
    found = MessageToDict(change, preserving_proto_field_name=True)
    kind = found.pop("kind", "").removeprefix("CHANGE_KIND_").lower()
    at = found.pop("at", "")
    for gone in ("cursor", "person_id"):
        found.pop(gone, None)
    return {"kind": kind, "at": at, "detail": found}


def _field(name: str, *, required: bool = True) -> str:
    value = request.form.get(name, "")
    if len(value) > MAX_FIELD:
        abort(Response(f"{name}: longer than {MAX_FIELD} characters", status=400))
    if required and not value.strip():
        abort(Response(f"{name}: required", status=400))
    return value


def _subject(*, identifier: tuple[str, str] | None = None, person_id: str = "") -> dict[str, str]:
    """The hidden fields that name a request's subject in the next form (POST bodies only)."""
    if identifier is not None:
        return {"subject_type": identifier[0], "subject_value": identifier[1]}
    return {"subject_person_id": person_id}


def _subject_from_form() -> dict[str, Any]:
    person_id = _field("subject_person_id", required=False)
    if person_id:
        return {"person_id": person_id}
    return {"identifier": (_field("subject_type"), _field("subject_value"))}

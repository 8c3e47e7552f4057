"""Who may use the viewer, and what a browser is allowed to do with it.

Every request passes three checks, in this order, before its view runs:

1. Host: the `Host` header must name the address the server is bound to, or localhost,
   127.0.0.1 or [::1] (any port). A page on another site that rebinds its DNS name to our
   address (DNS rebinding) sends its own name, and is refused with a 403.
2. API key, when one is configured (always when bound to a non-loopback address; also when
   `TRACER_API_KEY` is set): a browser logs in once at `/login` and keeps a session cookie
   (HttpOnly, SameSite=Lax); an API client sends the `x-api-key` header. Keys are compared in
   constant time. `/login` and `/static/...` are open. A browser without a session is sent to
   `/login`; an API client gets a 401.
3. CSRF: POST/PUT/PATCH/DELETE carry the session's token in the `X-CSRF-Token` header or the
   `csrf_token` form field (`base.html` exposes it as `<meta name="csrf-token">`, `app.js` adds
   the header to `fetch`). Requests authenticated by a valid `x-api-key` are exempt (a browser
   cannot send that header cross-site), as are views marked with `@csrf_exempt`.

Every response, errors included, carries the Content-Security-Policy (no inline scripts or
styles), `X-Content-Type-Options: nosniff`, `Referrer-Policy: same-origin` and
`X-Frame-Options: DENY`.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import Blueprint, Flask, Response, current_app, redirect, render_template, request, session, url_for

from .errors import Forbidden, Unauthorized

__all__ = [
    "CSP",
    "SECURITY_HEADERS",
    "csrf_token",
    "csrf_exempt",
    "is_loopback",
    "needs_key",
    "safe_next",
    "init_app",
    "bp",
]

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
OPEN_ENDPOINTS = frozenset({"static", "security.login"})
CSRF_SESSION_KEY = "csrf"
AUTH_SESSION_KEY = "auth"
WILDCARD_HOSTS = frozenset({"0.0.0.0", "::", ""})

F = TypeVar("F", bound=Callable[..., Any])

bp = Blueprint("security", __name__)


# --- addresses -------------------------------------------------------------------------------


def _bare_host(host: str) -> str:
    """`Host` header or bind address without port or IPv6 brackets, lower-case."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    if host.count(":") == 1:
        return host.split(":", 1)[0]
    return host.rstrip(".")


def is_loopback(host: str) -> bool:
    """True for localhost, 127.0.0.0/8 and ::1: only this machine can connect there."""
    bare = _bare_host(host)
    if bare == "localhost" or bare.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(bare).is_loopback
    except ValueError:
        return False


def needs_key(host: str) -> bool:
    """True when serving on `host` requires an API key (any address but loopback)."""
    return not is_loopback(host)


def allowed_hosts(bound_host: str) -> frozenset[str] | None:
    """The `Host` names this server answers to; None means any (bound to every interface,
    where the API key, always required there, is the protection)."""
    bare = _bare_host(bound_host)
    if bare in WILDCARD_HOSTS:
        return None
    return frozenset({bare, "localhost", "127.0.0.1", "::1"})


# --- tokens ----------------------------------------------------------------------------------


def _key_fingerprint(key: str) -> str:
    """What the session keeps of the key: its hash, so changing the key logs everyone out."""
    return hashlib.sha256(key.encode()).hexdigest()


def _same(a: str | None, b: str | None) -> bool:
    if not a or not b:
        return False
    return hmac.compare_digest(a.encode(), b.encode())


def csrf_token() -> str:
    """This session's CSRF token (created on first use). Templates call `csrf_token()`."""
    token = session.get(CSRF_SESSION_KEY)
    if not isinstance(token, str) or not token:
        token = secrets.token_urlsafe(32)
        session[CSRF_SESSION_KEY] = token
    return token


def csrf_exempt(view: F) -> F:
    """Mark a view as taking unsafe methods without a CSRF token (it must protect itself)."""
    view.csrf_exempt = True  # type: ignore[attr-defined]
    return view


def _api_key() -> str | None:
    key = current_app.config.get("TRACER_API_KEY")
    return key or None


def _key_header_valid() -> bool:
    key = _api_key()
    return key is not None and _same(request.headers.get("x-api-key"), key)


def is_logged_in() -> bool:
    """True when the session holds the current key's fingerprint."""
    key = _api_key()
    return key is not None and _same(session.get(AUTH_SESSION_KEY), _key_fingerprint(key))


# --- the checks ------------------------------------------------------------------------------


def _check_host() -> None:
    allowed = current_app.config.get("TRACER_ALLOWED_HOSTS")
    if allowed is None:
        return
    host = request.headers.get("Host", "")
    if _bare_host(host) not in allowed:
        raise Forbidden(f"This server does not answer to the host {host[:100]!r}; open it at its own address.")


def _browser_navigation() -> bool:
    if request.method not in ("GET", "HEAD") or "x-api-key" in request.headers or request.path.startswith(("/api/", "/langsmith/")):
        return False  # (the JSON APIs answer 401, never a redirect to the login page)
    if "Accept" not in request.headers:
        return True
    return request.accept_mimetypes.best_match(("text/html", "application/json")) == "text/html"


def _check_key() -> Response | None:
    if _api_key() is None or request.endpoint in OPEN_ENDPOINTS:
        return None
    if _key_header_valid() or is_logged_in():
        return None
    if "x-api-key" in request.headers:
        raise Unauthorized("The x-api-key header does not hold this viewer's API key.")
    if _browser_navigation():
        return redirect(url_for("security.login", next=request.full_path.rstrip("?")))
    raise Unauthorized()


def _check_csrf() -> None:
    if request.method not in UNSAFE_METHODS or request.routing_exception is not None or _key_header_valid():
        return  # (a request no view takes changes nothing: it gets its 404 or 405)
    view = current_app.view_functions.get(request.endpoint or "")
    if view is not None and getattr(view, "csrf_exempt", False):
        return
    sent = request.headers.get("X-CSRF-Token") or request.form.get("csrf_token")
    if not _same(sent, session.get(CSRF_SESSION_KEY)):
        raise Forbidden("The form expired or did not come from this viewer; reload the page and try again.")


def _before_request() -> Response | None:
    _check_host()
    response = _check_key()
    if response is not None:
        return response
    _check_csrf()
    return None


def _add_headers(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


# --- login -----------------------------------------------------------------------------------


def safe_next(target: str | None, fallback: str = "/") -> str:
    """`target` when it is a path on this server, else `fallback`: a `next` field must never
    send the browser to another site (an open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return fallback
    if any(ord(char) < 32 or ord(char) == 127 for char in target):
        return fallback  # browsers drop tabs and newlines: "/\t/evil.example" would be "//evil.example"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return fallback
    return target


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    key = _api_key()
    target = safe_next(request.values.get("next"))
    if key is None or (request.method == "GET" and is_logged_in()):
        return redirect(target)
    if request.method == "GET":
        return render_template("login.html", next=target, failed=False)
    if not _same(request.form.get("api_key", "").strip(), key):
        return render_template("login.html", next=target, failed=True), 401
    session.clear()
    session[AUTH_SESSION_KEY] = _key_fingerprint(key)
    csrf_token()  # a fresh token for the new session
    return redirect(target)


@bp.route("/logout", methods=["POST"])
def logout() -> Any:
    session.clear()
    return redirect(url_for("security.login") if _api_key() else "/")


# --- wiring ----------------------------------------------------------------------------------


def init_app(app: Flask) -> None:
    """Install the checks, the headers, the login views and the template helpers on `app`."""
    host = app.config["TRACER_HOST"]
    app.config.setdefault("TRACER_ALLOWED_HOSTS", allowed_hosts(host))
    app.before_request(_before_request)
    app.after_request(_add_headers)
    app.register_blueprint(bp)
    app.jinja_env.globals["csrf_token"] = csrf_token
    app.jinja_env.globals["auth_enabled"] = lambda: _api_key() is not None
    app.jinja_env.globals["logged_in"] = is_logged_in

"""The viewer's shell: the app factory, Host check, API key and login, CSRF, security headers,
error pages, a real server over real HTTP, and `tracer ui`.

The pages of the viewer are tested in test_viewer_pages.py; here a test-only blueprint under
`/_t/` stands in for them, registered on the real app next to whatever areas are installed.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Blueprint, Flask, jsonify, render_template_string, request
from flask.testing import FlaskClient

from tracer._ids import uuid7
from viewer import create_app, get_store
from viewer.errors import BadRequest
from viewer.security import CSP, csrf_exempt

KEY = "k-" + "s3cret" * 4


def _test_blueprint() -> Blueprint:
    bp = Blueprint("t", __name__, url_prefix="/_t")

    @bp.get("/page")
    def page() -> str:
        return render_template_string('{% extends "base.html" %}{% block content %}<p id="p">page of {{ name }}</p>{% endblock %}', name=request.args.get("name", ""), current_project=request.args.get("project"))

    @bp.post("/change")
    def change() -> Any:
        return jsonify(changed=True)

    @bp.post("/hook")
    @csrf_exempt
    def hook() -> Any:
        return jsonify(hooked=True)

    @bp.get("/run/<run_id>")
    def run(run_id: str) -> Any:
        return jsonify(get_store().read_run(run_id).name)

    @bp.get("/number")
    def number() -> Any:
        return jsonify(int(request.args.get("n", "")))  # a bad n is a ValueError: 400

    @bp.get("/bad")
    def bad() -> Any:
        raise BadRequest("The limit must be a number from 1 to 500.")

    @bp.get("/boom")
    def boom() -> Any:
        raise RuntimeError("secret internals")

    return bp


def _app(tmp_path: Path, **kwargs: Any) -> Flask:
    config = {"TESTING": True, "PROPAGATE_EXCEPTIONS": False, **kwargs.pop("config", {})}
    app = create_app(f"sqlite:///{tmp_path / 'traces.db'}", test_config=config, **kwargs)
    app.register_blueprint(_test_blueprint())
    return app


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Flask]:
    app = _app(tmp_path)
    yield app
    app.extensions["tracer_store"].close()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def keyed(tmp_path: Path) -> Iterator[Flask]:
    """An app bound to a non-loopback address, so it requires the API key."""
    app = _app(tmp_path, host="192.0.2.10", api_key=KEY)
    yield app
    app.extensions["tracer_store"].close()


def _csrf(client: FlaskClient, path: str = "/_t/page", **headers: str) -> str:
    html = client.get(path, headers=headers).get_data(as_text=True)
    match = re.search(r'<meta name="csrf-token" content="([^"]+)">', html)
    assert match, html
    return match.group(1)


# --- the factory -------------------------------------------------------------------------------


def test_the_app_holds_one_store_and_renders_the_shell(app: Flask, client: FlaskClient, tmp_path: Path) -> None:
    with app.app_context():
        store = get_store()
        assert get_store() is store
        assert str(tmp_path / "traces.db") in store.url
    response = client.get("/_t/page?name=%3Cscript%3Ealert(1)%3C/script%3E")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "chat-tracer" in html and 'href="/"' in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>alert" not in html
    assert '<link rel="stylesheet" href="/static/base.css">' in html
    assert '<script src="/static/app.js" defer></script>' in html
    assert "<script>" not in html and " style=" not in html and " onclick" not in html
    assert 'role="search"' not in html  # no project here: no search box


def test_the_search_box_targets_the_current_project(client: FlaskClient) -> None:
    html = client.get("/_t/page?project=my%20app/v2&search=refund").get_data(as_text=True)
    assert 'action="/projects/my%20app%2Fv2"' in html
    assert 'name="search" value="refund"' in html


def test_each_app_has_its_own_secret_key(tmp_path: Path) -> None:
    first, second = _app(tmp_path), _app(tmp_path)
    try:
        assert first.secret_key and first.secret_key != second.secret_key
        assert first.config["SESSION_COOKIE_HTTPONLY"] and first.config["SESSION_COOKIE_SAMESITE"] == "Lax"
    finally:
        first.extensions["tracer_store"].close()
        second.extensions["tracer_store"].close()


def test_static_files_are_served(client: FlaskClient) -> None:
    css = client.get("/static/base.css")
    js = client.get("/static/app.js")
    assert css.status_code == 200 and "overflow-wrap: anywhere" in css.get_data(as_text=True)
    assert js.status_code == 200 and "tracerKeys" in js.get_data(as_text=True)
    assert ".innerHTML" not in js.get_data(as_text=True)
    css.close()
    js.close()


# --- Host check --------------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1:5055", "[::1]:5055", "localhost:8080"])
def test_loopback_names_are_accepted(client: FlaskClient, host: str) -> None:
    assert client.get("/_t/page", headers={"Host": host}).status_code == 200


@pytest.mark.parametrize("host", ["evil.example", "evil.example:5055", "127.0.0.1.evil.example"])
def test_other_hosts_are_refused_against_dns_rebinding(client: FlaskClient, host: str) -> None:
    response = client.get("/_t/page", headers={"Host": host})
    assert response.status_code == 403
    assert "does not answer to the host" in response.get_data(as_text=True)
    assert response.headers["Content-Security-Policy"] == CSP


def test_the_bound_address_is_an_accepted_host(keyed: Flask) -> None:
    client = keyed.test_client()
    assert client.get("/_t/page", headers={"Host": "192.0.2.10:5055", "x-api-key": KEY}).status_code == 200
    assert client.get("/_t/page", headers={"Host": "evil.example", "x-api-key": KEY}).status_code == 403


# --- API key and login -------------------------------------------------------------------------


def test_loopback_needs_no_key(app: Flask, client: FlaskClient) -> None:
    assert app.config["TRACER_API_KEY"] is None
    assert client.get("/_t/page").status_code == 200
    assert client.get("/login").status_code == 302  # nothing to log in to


def test_a_non_loopback_app_without_a_key_generates_one(tmp_path: Path) -> None:
    app = _app(tmp_path, host="0.0.0.0")
    try:
        assert app.config["TRACER_API_KEY_GENERATED"] and len(app.config["TRACER_API_KEY"]) >= 24
        assert app.test_client().get("/_t/page", headers={"Host": "anything.lan"}).status_code == 302
    finally:
        app.extensions["tracer_store"].close()


def test_tracer_api_key_protects_a_loopback_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACER_API_KEY", KEY)
    app = _app(tmp_path)
    try:
        client = app.test_client()
        assert client.get("/_t/page").status_code == 302
        assert client.get("/_t/page", headers={"x-api-key": KEY}).status_code == 200
    finally:
        app.extensions["tracer_store"].close()


def test_a_browser_without_a_session_is_sent_to_login(keyed: Flask) -> None:
    response = keyed.test_client().get("/_t/page?name=x", headers={"Host": "192.0.2.10", "Accept": "text/html"})
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=/_t/page?name%3Dx"


def test_an_api_client_without_the_key_gets_401_json(keyed: Flask) -> None:
    client = keyed.test_client()
    response = client.get("/_t/page", headers={"Host": "192.0.2.10", "Accept": "application/json"})
    assert response.status_code == 401
    assert response.get_json()["error"]["status"] == 401
    wrong = client.get("/_t/page", headers={"Host": "192.0.2.10", "x-api-key": "nope"})
    assert wrong.status_code == 401 and wrong.is_json
    assert "x-api-key" in wrong.get_json()["error"]["message"]


def test_x_api_key_works_and_skips_csrf(keyed: Flask) -> None:
    client = keyed.test_client()
    headers = {"Host": "192.0.2.10", "x-api-key": KEY}
    assert client.get("/_t/page", headers=headers).status_code == 200
    assert client.post("/_t/change", headers=headers).get_json() == {"changed": True}


def test_login_with_a_wrong_key_fails_and_the_right_key_opens_a_session(keyed: Flask) -> None:
    client = keyed.test_client()
    host = {"Host": "192.0.2.10"}
    page = client.get("/login?next=/_t/page", headers=host)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'type="password"' in html and 'name="next" value="/_t/page"' in html
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)  # type: ignore[union-attr]

    wrong = client.post("/login", data={"api_key": "guess", "csrf_token": token, "next": "/_t/page"}, headers=host)
    assert wrong.status_code == 401 and "not this viewer" in wrong.get_data(as_text=True)
    assert client.get("/_t/page", headers=host).status_code == 302

    no_csrf = client.post("/login", data={"api_key": KEY, "next": "/_t/page"}, headers=host)
    assert no_csrf.status_code == 403

    right = client.post("/login", data={"api_key": KEY, "csrf_token": token, "next": "/_t/page"}, headers=host)
    assert right.status_code == 302 and right.headers["Location"] == "/_t/page"
    cookie = right.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    page = client.get("/_t/page", headers=host)
    assert page.status_code == 200 and "Log out" in page.get_data(as_text=True)

    # The session's CSRF token changed at login; the new one works, the old one does not.
    assert client.post("/_t/change", headers={**host, "X-CSRF-Token": token}).status_code == 403
    fresh = _csrf(client, **host)
    assert client.post("/_t/change", headers={**host, "X-CSRF-Token": fresh}).status_code == 200

    assert client.post("/logout", data={"csrf_token": fresh}, headers=host).status_code == 302
    assert client.get("/_t/page", headers=host).status_code == 302


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/\\evil.example", "/\t/evil.example", "javascript:alert(1)"])
def test_login_never_redirects_to_another_site(keyed: Flask, target: str) -> None:
    client = keyed.test_client()
    host = {"Host": "192.0.2.10"}
    token = _csrf(client, "/login", **host)
    response = client.post("/login", data={"api_key": KEY, "csrf_token": token, "next": target}, headers=host)
    assert response.status_code == 302 and response.headers["Location"] == "/"


def test_static_files_and_login_are_open_without_a_key(keyed: Flask) -> None:
    client = keyed.test_client()
    host = {"Host": "192.0.2.10"}
    assert client.get("/static/base.css", headers=host).status_code == 200
    assert client.get("/login", headers=host).status_code == 200


# --- CSRF ----------------------------------------------------------------------------------------


def test_csrf_missing_or_wrong_is_refused_and_right_passes(client: FlaskClient) -> None:
    token = _csrf(client)
    missing = client.post("/_t/change")
    assert missing.status_code == 403 and "reload the page" in missing.get_data(as_text=True)
    assert client.post("/_t/change", headers={"X-CSRF-Token": "wrong"}).status_code == 403
    assert client.post("/_t/change", data={"csrf_token": token + "x"}).status_code == 403
    assert client.post("/_t/change", headers={"X-CSRF-Token": token}).get_json() == {"changed": True}
    assert client.post("/_t/change", data={"csrf_token": token}).get_json() == {"changed": True}
    for method in (client.put, client.patch, client.delete):
        assert method("/_t/change").status_code in (403, 405)


def test_a_token_from_another_session_does_not_pass(app: Flask) -> None:
    token = _csrf(app.test_client())
    assert app.test_client().post("/_t/change", headers={"X-CSRF-Token": token}).status_code == 403


def test_csrf_exempt_views_take_posts_without_a_token(client: FlaskClient) -> None:
    assert client.post("/_t/hook").get_json() == {"hooked": True}


# --- headers and errors --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("get", "/_t/page", 200),
        ("get", "/static/app.js", 200),
        ("get", "/no/such/page", 404),
        ("get", "/_t/bad", 400),
        ("post", "/_t/page", 405),
        ("post", "/_t/change", 403),
        ("get", "/_t/boom", 500),
    ],
)
def test_security_headers_are_on_every_response(client: FlaskClient, method: str, path: str, status: int) -> None:
    response = getattr(client, method)(path)
    assert response.status_code == status
    assert response.headers["Content-Security-Policy"] == CSP
    assert "script-src 'self'" in CSP and "frame-ancestors 'none'" in CSP
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    response.close()


@pytest.mark.parametrize(
    ("method", "path", "status", "sentence"),
    [
        ("get", "/no/such/page", 404, "There is nothing at this address."),
        ("get", "/_t/bad", 400, "The limit must be a number from 1 to 500."),
        ("get", "/_t/number?n=ten", 400, "invalid literal for int()"),
        ("get", f"/_t/run/{uuid7()}", 404, "run"),
        ("post", "/_t/page", 405, "This address does not accept a POST request."),
        ("get", "/_t/boom", 500, "Something went wrong on the server"),
    ],
)
def test_error_pages_are_one_sentence_in_html_or_json(client: FlaskClient, method: str, path: str, status: int, sentence: str) -> None:
    page = getattr(client, method)(path, headers={"Accept": "text/html"})
    html = page.get_data(as_text=True)
    assert page.status_code == status and page.mimetype == "text/html"
    assert sentence in html and "Traceback" not in html and "secret internals" not in html
    assert '<meta name="csrf-token"' in html  # the full shell, not a bare page

    api = getattr(client, method)(path, headers={"Accept": "application/json"})
    body = api.get_json()
    assert api.status_code == status and set(body) == {"error"}
    assert body["error"]["status"] == status and sentence in body["error"]["message"]
    if status == 405:
        assert "GET" in api.headers["Allow"]


def test_a_too_large_body_is_413(tmp_path: Path) -> None:
    app = _app(tmp_path, config={"MAX_CONTENT_LENGTH": 100})
    try:
        response = app.test_client().post("/_t/change", data={"csrf_token": "x" * 500})
        assert response.status_code == 413 and "too large" in response.get_data(as_text=True)
    finally:
        app.extensions["tracer_store"].close()


# --- a real server -------------------------------------------------------------------------------


def test_a_real_server_on_loopback_answers_over_http(app: Flask) -> None:
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        conn.request("GET", "/_t/page?name=real")
        response = conn.getresponse()
        body = response.read().decode()
        assert response.status == 200 and "page of real" in body
        assert response.getheader("Content-Security-Policy") == CSP
        cookie = response.getheader("Set-Cookie") or ""
        token = re.search(r'name="csrf-token" content="([^"]+)"', body).group(1)  # type: ignore[union-attr]
        conn.request("POST", "/_t/change", headers={"X-CSRF-Token": token, "Cookie": cookie.split(";")[0]})
        changed = conn.getresponse()
        assert changed.status == 200 and json.loads(changed.read()) == {"changed": True}
        conn.request("GET", "/nothing", headers={"Host": "evil.example"})
        refused = conn.getresponse()
        refused.read()
        assert refused.status == 403
        conn.close()
    finally:
        server.shutdown()
        thread.join(timeout=10)


# --- tracer ui ---------------------------------------------------------------------------------


def _tracer(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tracer.cli", *args], capture_output=True, text=True, env=dict(os.environ), timeout=timeout)


def test_tracer_ui_on_a_busy_port_fails_with_one_sentence() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        result = _tracer("ui", "--port", str(port))
    assert result.returncode == 1
    assert result.stderr.startswith("Error: ") and len(result.stderr.strip().splitlines()) == 1
    assert f"Port {port} on 127.0.0.1 is already in use" in result.stderr
    assert "Traceback" not in result.stderr


def test_tracer_ui_on_a_bad_host_fails_with_one_sentence() -> None:
    result = _tracer("ui", "--host", "no-such-host.invalid", "--port", "0")
    assert result.returncode == 1
    assert result.stderr.startswith("Error: The host 'no-such-host.invalid'") and len(result.stderr.strip().splitlines()) == 1


def _start_ui(*args: str, expect_key: bool = False, command: str = "ui") -> tuple[subprocess.Popen[str], list[str]]:
    """Start `tracer ui` (or `demo`) on a free port; its lines up to the URL (and the key if asked)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tracer.cli", command, "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )
    lines: list[str] = []
    deadline = time.monotonic() + 90
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip("\n"))
        if "API key" in line or ("is at http://" in line and not expect_key):
            return proc, lines
    proc.kill()
    _, errors = proc.communicate(timeout=20)
    pytest.fail(f"`tracer {command}` did not start: {lines} {errors}")


def _stop(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    try:
        proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()


def test_tracer_ui_serves_the_viewer(isolated_tracer: Path) -> None:
    proc, lines = _start_ui()
    try:
        url = re.search(r"is at (http://127\.0\.0\.1:(\d+)/)", lines[-1])
        assert url, lines
        conn = http.client.HTTPConnection("127.0.0.1", int(url.group(2)), timeout=10)
        conn.request("GET", "/static/base.css")
        response = conn.getresponse()
        response.read()
        assert response.status == 200 and response.getheader("X-Content-Type-Options") == "nosniff"
        conn.close()
        assert str(isolated_tracer / "traces.db") in lines[-1]
    finally:
        _stop(proc)


def test_tracer_ui_on_all_interfaces_prints_a_generated_key_and_requires_it() -> None:
    proc, lines = _start_ui("--host", "0.0.0.0", expect_key=True)
    try:
        port = int(re.search(r"127\.0\.0\.1:(\d+)/", lines[-2]).group(1))  # type: ignore[union-attr]
        key = re.search(r"API key \(.*\): (\S+)$", lines[-1]).group(1)  # type: ignore[union-attr]
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/static/app.js")
        open_file = conn.getresponse()
        open_file.read()
        assert open_file.status == 200
        conn.request("GET", "/_anything", headers={"Accept": "application/json"})
        refused = conn.getresponse()
        assert refused.status == 401 and json.loads(refused.read())["error"]["status"] == 401
        conn.request("GET", "/_anything", headers={"x-api-key": key})
        allowed = conn.getresponse()
        allowed.read()
        assert allowed.status == 404  # past the key check, to the router
        conn.close()
    finally:
        _stop(proc)


def test_tracer_demo_ends_by_serving_the_demo_project() -> None:
    proc, lines = _start_ui("-q", command="demo")
    try:
        assert any("Recorded 10 runs in project 'demo'" in line for line in lines), lines
        url = re.search(r"is at http://127\.0\.0\.1:(\d+)(/projects/demo)\s", lines[-1])
        assert url, lines
        conn = http.client.HTTPConnection("127.0.0.1", int(url.group(1)), timeout=10)
        conn.request("GET", url.group(2))
        response = conn.getresponse()
        body = response.read().decode()
        assert response.status == 200 and "demo" in body
        conn.close()
    finally:
        _stop(proc)

"""The `tracer` command: `demo`, `runs`, `ui`, `db upgrade` / `db current`; `export` and `import` (in `cli_data.py`).

Built on click (which Flask brings). Every command turns the errors a user can cause (a bad
URL, a database that is not there or not upgraded, a bad setting) into one sentence through
`click.ClickException`; a traceback means a bug.
"""

from __future__ import annotations

import functools
import gc
import os
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import click

from .config import Settings, get_settings

__all__ = ["main"]

F = TypeVar("F", bound=Callable[..., Any])


def _friendly(command: F) -> F:
    """Show the errors a user can cause as one sentence."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from sqlalchemy.exc import ArgumentError, SQLAlchemyError

        from .errors import TracerError
        from .store import StoreError

        try:
            return command(*args, **kwargs)
        except (TracerError, StoreError, ValueError, OSError) as exc:
            raise click.ClickException(str(exc)) from exc
        except ModuleNotFoundError as exc:
            if (exc.name or "").startswith("tracer"):
                raise  # one of ours: a bug, not a missing install
            raise click.ClickException(f"The module {exc.name!r} is needed here but is not installed: pip install {exc.name}") from exc
        except ArgumentError as exc:
            raise click.ClickException(f"The database URL is not valid: {exc}") from exc
        except SQLAlchemyError as exc:
            raise click.ClickException(f"The database failed: {exc.__class__.__name__}: {str(exc).splitlines()[0]}") from exc

    return wrapper  # type: ignore[return-value]


def _settings() -> Settings:
    try:
        return get_settings()
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc


def _store_exists(settings: Settings) -> bool:
    """False for a SQLite store whose file was never created (nothing traced yet)."""
    return bool(settings.database_url) or (settings.home / "traces.db").exists()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="chat-tracer", prog_name="tracer")
def main() -> None:
    """chat-tracer: local-first tracing for chat-model applications.

    Set LANGCHAIN_TRACING_V2=true, run your program, then look at its runs here.
    """


@main.command()
@click.option("--project", "-p", default="demo", show_default=True, help="Project to record the demo's runs in.")
@click.option("--quiet", "-q", is_flag=True, help="Print the outputs only, not the code of each cell.")
@click.option("--model", "-m", "spec", default=None, metavar="PROVIDER[:MODEL]", help="Run on a real provider, e.g. openai:gpt-4o-mini, anthropic, google (default: the offline model).")
@click.option("--base-url", default=None, help="The provider's URL, e.g. a local OpenAI-compatible server (then no key is needed).")
@click.option("--no-ui", is_flag=True, help="Do not serve the viewer afterwards.")
@click.option("--port", default=5055, show_default=True, type=click.IntRange(0, 65535), help="Port of the viewer (another free one if it is taken).")
@_friendly
def demo(project: str, quiet: bool, spec: str | None, base_url: str | None, no_ui: bool, port: int) -> None:
    """Run the chat-model quickstart, with tracing on: on the offline model, or with --model
    on a real provider whose key is set; then serve the viewer on the demo's project."""
    from .demo import run_quickstart, setup_cell_for
    from .store import open_store
    from .tracing import flush, tracing_enabled

    settings = _settings()
    setup = None
    if spec and spec.split(":", 1)[0] != "fake":
        _require_key(spec, base_url)
        setup = setup_cell_for(spec, base_url)
    with tracing_enabled(project_name=project):
        run_quickstart(echo=not quiet, setup=setup)
    if not flush(timeout=60):
        raise click.ClickException("The demo's runs could not all be written within 60 seconds.")
    with open_store(settings.store_url) as store:
        count = store.count_runs(project_name=project)
        where = store.url
    click.echo(f"Recorded {count} runs in project {project!r} of the store at {where}.")
    click.echo(f"List them with:  tracer runs --project {project}")
    if not no_ui:
        from urllib.parse import quote

        _serve(settings.store_url, "127.0.0.1", port, path=f"/projects/{quote(project, safe='')}", any_port=True)


@main.command()
@click.option("--db", "db_url", default=None, metavar="URL", help="The store to view (default: TRACER_DATABASE_URL, or traces.db in TRACER_HOME).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on; any but loopback requires an API key.")
@click.option("--port", default=5055, show_default=True, type=click.IntRange(0, 65535), help="Port to listen on (0: any free port).")
@click.option("--open", "open_browser", is_flag=True, help="Open the viewer in the web browser.")
@_friendly
def ui(db_url: str | None, host: str, port: int, open_browser: bool) -> None:
    """Serve the trace viewer. On an address other than 127.0.0.1 it asks for an API key:
    TRACER_API_KEY, or one generated and printed here."""
    _serve(db_url or _settings().store_url, host, port, open_browser=open_browser)


def _serve(store_url: str, host: str, port: int, *, path: str = "/", open_browser: bool = False, any_port: bool = False) -> None:
    """Serve the viewer on host:port until interrupted (werkzeug, one thread per request)."""
    import webbrowser

    from werkzeug.serving import make_server

    from viewer import close_app, create_app, get_store

    sock = _listen(host, port, any_port=any_port)
    try:
        app = create_app(store_url, host=host)
        bound_port = sock.getsockname()[1]
        # Cookies do not tell ports apart: one viewer's session must not clobber another's.
        app.config["SESSION_COOKIE_NAME"] = f"tracer_session_{bound_port}"
        server = make_server(host, bound_port, app, threaded=True, fd=sock.fileno())
    finally:
        sock.close()  # the server works on its own duplicate of the socket
    url = f"http://{_url_host(host)}:{server.port}{path}"
    with app.app_context():
        where = get_store().url
    click.echo(f"The viewer of the store at {where} is at {url}  (Ctrl+C stops it)")
    if app.config["TRACER_API_KEY"]:
        if app.config["TRACER_API_KEY_GENERATED"]:
            click.echo(f"It asks for this API key (log in with it, or send it as x-api-key): {app.config['TRACER_API_KEY']}")
        else:
            click.echo("It asks for the API key in TRACER_API_KEY (log in with it, or send it as x-api-key).")
    if open_browser:
        webbrowser.open(url)
    _collect_less()
    try:
        server.serve_forever()
    finally:
        close_app(app)
        click.echo("The viewer stopped.")


#: Young collections between two full ones in a server (CPython's default is 10).
FULL_COLLECTION_EVERY = 100


def _collect_less() -> None:
    """Make the server's full garbage collections rarer: the runs waiting in its ingest queue are
    thousands of small containers that live long enough to reach the oldest generation, and with
    the default thresholds they set off a collection of the whole heap every few hundred runs
    (about 15% of ingestion's CPU; 10 -> 100 took bench/ingest.py from ~208 to ~177 µs a run).
    Only objects in reference cycles wait longer to be freed."""
    young, middle, oldest = gc.get_threshold()
    gc.set_threshold(young, middle, max(oldest, FULL_COLLECTION_EVERY))


def _listen(host: str, port: int, *, any_port: bool = False) -> Any:
    """A listening socket on host:port, or a one-sentence `ClickException`."""
    import errno
    import socket

    try:
        # The family werkzeug will assume for this host: IPv6 for a literal with a colon.
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        infos = socket.getaddrinfo(host or None, port, family, socket.SOCK_STREAM, 0, socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError) as exc:
        raise click.ClickException(f"The host {host!r} is not an address this machine can listen on ({getattr(exc, 'strerror', None) or exc}).") from exc
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        if os.name != "nt":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE and any_port:
                sock.bind((address[0], 0, *address[2:]))
            else:
                raise
        sock.listen(128)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise click.ClickException(f"Port {port} on {host} is already in use; stop the program using it or choose another with --port.") from exc
        if exc.errno == errno.EADDRNOTAVAIL:
            raise click.ClickException(f"The host {host!r} is not an address of this machine.") from exc
        if exc.errno == errno.EACCES:
            raise click.ClickException(f"Listening on port {port} is not permitted; choose a port above 1023 with --port.") from exc
        raise click.ClickException(f"Cannot listen on {host} port {port}: {exc.strerror or exc}.") from exc
    return sock


def _url_host(host: str) -> str:
    """The host part of the URL to print: a wildcard address shows as 127.0.0.1."""
    if host in ("", "0.0.0.0", "::"):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def _require_key(spec: str, base_url: str | None) -> None:
    """Say which variable to set before the first call fails for want of a key."""
    import os

    from .chat_models import provider_class

    provider = spec.split(":", 1)[0].strip().lower()
    cls = provider_class(provider)
    names = getattr(cls, "api_key_env", ())
    if base_url or any(os.environ.get(name) for name in names):
        return
    raise click.ClickException(f"The {provider} demo needs an API key: set {' or '.join(names)} (or run `tracer demo` for the offline model).")


@main.command()
@click.option("--project", "-p", help="Only this project's runs.")
@click.option("--type", "run_type", type=click.Choice(["llm", "chain", "tool", "retriever", "prompt", "parser", "embedding"]), help="Only runs of this type.")
@click.option("--status", type=click.Choice(["running", "success", "error"]), help="Only runs with this status.")
@click.option("--limit", "-n", default=20, show_default=True, type=click.IntRange(1, 10_000), help="How many runs, newest first.")
@_friendly
def runs(project: str | None, run_type: str | None, status: str | None, limit: int) -> None:
    """List recent runs: time, project, name, type, status, latency, tokens."""
    from .store import open_store

    settings = _settings()
    if not _store_exists(settings):
        click.echo("No runs yet. Set LANGCHAIN_TRACING_V2=true and run your program, or try `tracer demo`.")
        return
    with open_store(settings.store_url) as store:
        found = store.list_runs(project_name=project, run_type=run_type, status=status, limit=limit)
    if not found:
        click.echo("No runs match." if project or run_type or status else "No runs yet. Try `tracer demo`.")
        return
    rows = [
        (
            run.start_time.astimezone().strftime("%Y-%m-%d %H:%M:%S"),
            run.project,
            run.name,
            run.run_type,
            run.status,
            _latency(run.latency),
            "" if run.total_tokens is None else str(run.total_tokens),
        )
        for run in found
    ]
    click.echo(_table(("time", "project", "name", "type", "status", "latency", "tokens"), rows, right=(5, 6)))


def _latency(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 0.001:
        return f"{seconds * 1000:.2f} ms"
    return f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[int] = ()) -> str:
    widths = [max(len(str(row[i])) for row in (header, *rows)) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(str(c).rjust(w) if i in right else str(c).ljust(w) for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    return "\n".join([line(header), line(["-" * w for w in widths]), *(line(row) for row in rows)])


@main.group()
def db() -> None:
    """The store's schema (Alembic migrations)."""


@db.command()
@_friendly
def upgrade() -> None:
    """Bring the store's schema to the newest revision (needed for PostgreSQL)."""
    from .store import upgrade as upgrade_store
    from .store.engine import describe, parse_url

    settings = _settings()
    revision = upgrade_store(settings.store_url)
    click.echo(f"The store at {describe(parse_url(settings.store_url))} is at revision {revision} (the newest).")


@db.command()
@_friendly
def current() -> None:
    """Show the store's schema revision."""
    from .store import current_revision
    from .store.engine import describe, parse_url
    from .store.migrate import head_revision

    settings = _settings()
    revision = current_revision(settings.store_url)
    where = describe(parse_url(settings.store_url))
    if revision is None:
        click.echo(f"The store at {where} has no schema yet; `tracer db upgrade` creates it.")
    else:
        newest = head_revision()
        click.echo(f"The store at {where} is at revision {revision}" + (" (the newest)." if revision == newest else f"; the newest is {newest}: run `tracer db upgrade`."))

from .cli_data import export_group, import_group  # noqa: E402  (they use this module's helpers)

main.add_command(export_group)
main.add_command(import_group)

if __name__ == "__main__":
    main()

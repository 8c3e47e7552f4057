"""Settings, read once from the environment into one object.

Every switch of DESIGN.md's configuration table lives here. The `LANGSMITH_*` name wins over
the `LANGCHAIN_*` one, as in the official client, so programs written for LangSmith behave the
same. Code reads `get_settings()`; tests and embedding programs call `configure()` with an
explicit `Settings` instead of patching the environment.
"""

from __future__ import annotations

import contextvars
import functools
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

__all__ = ["Settings", "get_settings", "configure", "tracing_active", "current_project"]

_TRUE = {"1", "true", "yes", "on"}


def _env(env: Mapping[str, str], *suffixes: str) -> str | None:
    for suffix in suffixes:
        for prefix in ("LANGSMITH_", "LANGCHAIN_"):
            value = env.get(prefix + suffix)
            if value not in (None, ""):
                return value
    return None


def _flag(value: str | None) -> bool:
    return value is not None and value.strip().lower() in _TRUE


def _rate(value: str | None) -> float:
    """The sampling rate; a bad value keeps every trace (and says so) rather than breaking the
    program that set it."""
    if value is None:
        return 1.0
    try:
        rate = float(value)
    except ValueError:
        rate = -1.0
    if not 0.0 <= rate <= 1.0:
        logging.getLogger("tracer").warning("LANGCHAIN_TRACING_SAMPLING_RATE=%r is not a number from 0 to 1; keeping every trace.", value)
        return 1.0
    return rate


@dataclass(frozen=True)
class Settings:
    """What the tracer does, decided once per process (or per `configure` call)."""

    tracing: bool = False
    project: str = "default"
    endpoint: str | None = None
    api_key: str | None = field(default=None, repr=False)
    sampling_rate: float = 1.0
    hide_inputs: bool = False
    hide_outputs: bool = False
    home: Path = field(default_factory=lambda: Path.home() / ".tracer")
    database_url: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        home = Path(env.get("TRACER_HOME") or Path.home() / ".tracer").expanduser()
        endpoint = _env(env, "ENDPOINT")
        return cls(
            tracing=_flag(_env(env, "TRACING_V2", "TRACING")),
            project=_env(env, "PROJECT", "SESSION") or "default",
            endpoint=endpoint.rstrip("/") if endpoint else None,
            api_key=_env(env, "API_KEY"),
            sampling_rate=_rate(_env(env, "TRACING_SAMPLING_RATE")),
            hide_inputs=_flag(_env(env, "HIDE_INPUTS")),
            hide_outputs=_flag(_env(env, "HIDE_OUTPUTS")),
            home=home,
            database_url=env.get("TRACER_DATABASE_URL") or None,
        )

    @functools.cached_property
    def store_url(self) -> str:
        """The SQLAlchemy URL of the store: `TRACER_DATABASE_URL`, or a SQLite file in `home`."""
        return self.database_url or f"sqlite:///{self.home / 'traces.db'}"

    def with_changes(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]


_settings: Settings | None = None
# `tracing_enabled()` switches tracing on (and names the project) for one block of code.
_override: contextvars.ContextVar[Settings | None] = contextvars.ContextVar("tracer_settings", default=None)


def get_settings() -> Settings:
    """The settings in force here: a `tracing_enabled` block's, else the process's."""
    override = _override.get()
    if override is not None:
        return override
    global _settings
    if _settings is None:
        _settings = Settings.from_env()
    return _settings


def configure(settings: Settings | None = None) -> Settings:
    """Replace the process's settings (None: read the environment again). Returns them."""
    global _settings
    _settings = settings if settings is not None else Settings.from_env()
    return _settings


def tracing_active() -> bool:
    """The one flag the hot path checks."""
    override = _override.get()
    if override is not None:
        return override.tracing
    return (_settings or get_settings()).tracing


def current_project() -> str:
    return get_settings().project

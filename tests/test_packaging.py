"""The wheel carries what an installed package needs: the migrations, the demo, the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import tracer

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", str(out), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (built,) = out.glob("chat_tracer-*.whl")
    return built


def test_wheel_contains_the_migrations_under_the_tracer_package(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"tracer/migrations/env.py", "tracer/migrations/script.py.mako", "tracer/migrations/versions/0001_initial.py"} <= names
    assert not any(name.startswith("migrations/") for name in names), "no generic top-level 'migrations' package"
    assert "tracer/_seed_replies.py" in names and "viewer/__init__.py" in names


def test_db_upgrade_works_from_the_installed_wheel(wheel: Path, tmp_path: Path, isolated_tracer: Path) -> None:
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--quiet", "--target", str(target), str(wheel)], check=True, timeout=300)
    env = {**os.environ, "PYTHONPATH": str(target)}
    where = subprocess.run([sys.executable, "-c", "import tracer; print(tracer.__file__)"], env=env, cwd=tmp_path, capture_output=True, text=True, check=True)
    assert where.stdout.strip().startswith(str(target)), "the test must exercise the installed copy, not the checkout"
    result = subprocess.run([sys.executable, "-m", "tracer.cli", "db", "upgrade"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "is at revision 0003 (the newest)" in result.stdout
    assert (isolated_tracer / "traces.db").exists()


def test_public_surface_is_deliberate() -> None:
    assert sorted(tracer.__all__) == sorted(
        ["Client", "RunHandle", "Settings", "Tracer", "configure", "flush", "get_settings", "trace", "traceable", "tracing_enabled"]
    )
    for name in tracer.__all__:
        assert getattr(tracer, name) is not None

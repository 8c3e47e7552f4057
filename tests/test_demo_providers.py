"""`tracer demo --model`: the quickstart on a real provider's wire, here the local fake one."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from fakeproviders import FakeProviderServer, Reply, fake_provider  # noqa: F401  (the fixture)

from tracer.store import open_store


def _tracer(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    return subprocess.run([sys.executable, "-m", "tracer.cli", *args], capture_output=True, text=True, env={**clean, **env}, timeout=120)


def test_without_a_key_the_demo_says_which_variable_to_set(isolated_tracer: Path) -> None:
    for provider, variable in [("openai", "OPENAI_API_KEY"), ("anthropic", "ANTHROPIC_API_KEY"), ("google", "GOOGLE_API_KEY")]:
        result = _tracer("demo", "--model", provider, env={"TRACER_HOME": str(isolated_tracer)})
        assert result.returncode == 1
        assert variable in result.stderr and "Traceback" not in result.stderr
    assert not (isolated_tracer / "traces.db").exists()


def test_the_quickstart_runs_on_an_openai_compatible_server(isolated_tracer: Path, fake_provider: FakeProviderServer) -> None:  # noqa: F811
    fake_provider.default = Reply(echo=True)
    result = _tracer(
        "demo", "--no-ui", "-q", "--model", "openai:gpt-4o-mini", "--base-url", f"{fake_provider.url}/v1",
        env={"TRACER_HOME": str(isolated_tracer), "OPENAI_API_KEY": "sk-local-test"},
    )
    assert result.returncode == 0, result.stderr
    assert "echo: What is the purpose of model regularization?" in result.stdout
    assert "Recorded 10 runs in project 'demo'" in result.stdout
    assert {request.body["model"] for request in fake_provider.requests} == {"gpt-4o-mini"}
    with open_store(f"sqlite:///{isolated_tracer / 'traces.db'}") as store:
        runs = store.list_runs(project_name="demo")
    assert len(runs) == 10
    assert all(run.metadata["ls_provider"] == "openai" and run.model_name and run.total_tokens for run in runs)


def test_a_provider_error_is_one_sentence(isolated_tracer: Path, fake_provider: FakeProviderServer) -> None:  # noqa: F811
    result = _tracer("demo", "--no-ui", "-q", "--model", "openai", "--base-url", f"{fake_provider.url}/v1", env={"TRACER_HOME": str(isolated_tracer)})
    assert result.returncode == 1
    assert result.stderr.startswith("Error: openai answered 401") and "Traceback" not in result.stderr

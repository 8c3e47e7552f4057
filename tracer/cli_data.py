"""`tracer export dataset|runs` and `tracer import dataset`: datasets and runs to and from files.

Exports stream (one page of rows in memory) and show a progress bar on stderr, so stdout stays
for the one-line summary. Formats: see `tracer.export`.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import click

from .export import FORMATS, RUN_FORMATS

__all__ = ["export_group", "import_group"]


F = TypeVar("F", bound=Callable[..., Any])


# `tracer.cli` registers these commands at its end, so its helpers are looked up when a command
# runs, not at import (also when it runs as `python -m tracer.cli`, i.e. as `__main__`).
def _friendly(command: F) -> F:
    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from .cli import _friendly as friendly

        return friendly(command)(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def _settings() -> Any:
    from .cli import _settings as settings

    return settings()


@contextmanager
def _progress(length: int, label: str) -> Iterator[Callable[[int], None]]:
    """A click progress bar on stderr (shown in a terminal only), as an `update(n)` callable."""
    # Redrawn about 200 times in all, not once per row.
    with click.progressbar(length=length, label=label, file=sys.stderr, show_pos=True, update_min_steps=max(1, length // 200)) as bar:
        yield bar.update


def _store():  # type: ignore[no-untyped-def]
    from .store import open_store

    return open_store(_settings().store_url)


@click.group("export")
def export_group() -> None:
    """Write a dataset or a project's runs to a file."""


@export_group.command("dataset")
@click.argument("name")
@click.option("--format", "-f", "fmt", type=click.Choice(FORMATS), default="jsonl", show_default=True, help="jsonl, csv, openai (chat fine-tuning JSONL) or langsmith.")
@click.option("--output", "-o", "path", required=True, type=click.Path(dir_okay=False, writable=True), help="The file to write.")
@_friendly
def export_dataset(name: str, fmt: str, path: str) -> None:
    """Write dataset NAME to a file."""
    from .datasets import read_dataset
    from .export import export_dataset as write

    with _store() as store:
        total = read_dataset(store, name).example_count
        with _progress(total, f"Exporting {name}") as update:
            count = write(store, name, fmt, path, progress=update)
    click.echo(f"Wrote {count} examples of dataset {name!r} to {path} ({fmt}).")


@export_group.command("runs")
@click.option("--project", "-p", required=True, help="The project whose runs to write.")
@click.option("--filter", "filter_text", default=None, help="Only runs matching this filter.")
@click.option("--type", "run_type", type=click.Choice(["llm", "chain", "tool", "retriever", "prompt", "parser", "embedding"]), help="Only runs of this type.")
@click.option("--format", "-f", "fmt", type=click.Choice(RUN_FORMATS), default="jsonl", show_default=True)
@click.option("--output", "-o", "path", required=True, type=click.Path(dir_okay=False, writable=True), help="The file to write.")
@_friendly
def export_runs(project: str, filter_text: str | None, run_type: str | None, fmt: str, path: str) -> None:
    """Write a project's runs, with their feedback, to a file."""
    from .filters import sql_or_test
    from .export import export_runs as write

    with _store() as store:
        try:
            clause, _ = sql_or_test(filter_text, dialect_name=store.engines.reader.dialect.name)
        except NotImplementedError as exc:
            raise click.ClickException(str(exc)) from exc
        total = store.count_runs(project_name=project)
        with _progress(total, f"Exporting runs of {project}") as update:
            count = write(store, project, fmt, path, run_type=run_type, clause=clause, progress=update)
    click.echo(f"Wrote {count} runs of project {project!r} to {path} ({fmt}).")


@click.group("import")
def import_group() -> None:
    """Read a dataset from a file."""


@import_group.command("dataset")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--name", "-n", default=None, help="The new dataset's name (default: the file's name).")
@click.option("--format", "-f", "fmt", type=click.Choice(FORMATS), default=None, help="The file's format (default: detected).")
@_friendly
def import_dataset(path: str, name: str | None, fmt: str | None) -> None:
    """Create a dataset from a file written by `tracer export` (or by OpenAI/LangSmith tools)."""
    from .export import import_dataset as read

    with _store() as store:
        dataset = read(store, path, name=name, fmt=fmt)
    click.echo(f"Imported {dataset.example_count} examples into dataset {dataset.name!r}.")

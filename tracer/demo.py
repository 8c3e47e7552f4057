"""`tracer demo`: the seed's chat-model quickstart, run like a notebook on the offline model.

`CELLS` are the quickstart's code blocks with their imports changed to ours; the one setup
cell, where the quickstart picks a provider, picks `FakeChatModel` answering with the seed's
replies. `run_cell` executes a cell the way a notebook does: top-level `await` and `async for`
work, and the value of a final expression is displayed.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import io
import textwrap
from pprint import pformat
from typing import Any

from ._seed_replies import SEED_REPLIES

__all__ = ["CELLS", "SETUP_CELL", "SEED_REPLIES", "run_cell", "cell_output", "run_quickstart", "setup_cell_for"]

SETUP_CELL = """\
from tracer.chat_models import FakeChatModel
from tracer.demo import SEED_REPLIES

chat = FakeChatModel(SEED_REPLIES, model="gpt-3.5-turbo")
"""

CELLS: list[str] = [
    """\
from tracer.messages import HumanMessage, SystemMessage

messages = [
    SystemMessage(content="You're a helpful assistant"),
    HumanMessage(content="What is the purpose of model regularization?"),
]
""",
    SETUP_CELL,
    "chat.invoke(messages)\n",
    """\
for chunk in chat.stream(messages):
    print(chunk.content, end="", flush=True)
""",
    "chat.batch([messages])\n",
    "await chat.ainvoke(messages)\n",
    """\
async for chunk in chat.astream(messages):
    print(chunk.content, end="", flush=True)
""",
    """\
async for chunk in chat.astream_log(messages):
    print(chunk)
""",
    """\
from tracer.messages import HumanMessage, SystemMessage

chat(
    [
        HumanMessage(
            content="Translate this sentence from English to French: I love programming."
        )
    ]
)
""",
    """\
messages = [
    SystemMessage(
        content="You are a helpful assistant that translates English to French."
    ),
    HumanMessage(content="I love programming."),
]
chat(messages)
""",
    """\
batch_messages = [
    [
        SystemMessage(
            content="You are a helpful assistant that translates English to French."
        ),
        HumanMessage(content="I love programming."),
    ],
    [
        SystemMessage(
            content="You are a helpful assistant that translates English to French."
        ),
        HumanMessage(content="I love artificial intelligence."),
    ],
]
result = chat.generate(batch_messages)
result
""",
    "result.llm_output\n",
]


def _display(value: Any) -> str:
    """A notebook's display of a value: dicts pretty-printed in insertion order, else repr."""
    return pformat(value, sort_dicts=False) if isinstance(value, dict) else repr(value)


def run_cell(source: str, namespace: dict[str, Any]) -> None:
    """Execute one cell in `namespace`, printing its output as a notebook shows it."""
    flags = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
    tree = ast.parse(source)
    last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
    body = compile(tree, "<cell>", "exec", flags=flags)
    result = eval(body, namespace)  # noqa: S307 - the cells are ours
    if asyncio.iscoroutine(result):
        asyncio.run(result)
    if last is not None:
        value = eval(compile(ast.Expression(last.value), "<cell>", "eval", flags=flags), namespace)  # noqa: S307
        if asyncio.iscoroutine(value):
            value = asyncio.run(value)
        if value is not None:
            print(_display(value))


def cell_output(source: str, namespace: dict[str, Any]) -> str:
    """What `run_cell` prints, as a string."""
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        run_cell(source, namespace)
    return buffer.getvalue()


def setup_cell_for(spec: str, base_url: str | None = None) -> str:
    """The setup cell that picks a provider's model instead of the offline one."""
    extra = f", base_url={base_url!r}" if base_url else ""
    return f"from tracer.chat_models import init_chat_model\n\nchat = init_chat_model({spec!r}{extra})\n"


def run_quickstart(echo: bool = True, setup: str | None = None) -> None:
    """Run every cell in one namespace, printing each cell's output (and, with `echo`, its
    code). `setup` replaces the cell that picks the model."""
    namespace: dict[str, Any] = {"__name__": "__quickstart__"}
    for number, source in enumerate(CELLS, 1):
        if source is SETUP_CELL and setup is not None:
            source = setup
        if echo:
            print(f"In [{number}]:")
            print(textwrap.indent(source.rstrip(), "    "))
        output = cell_output(source, namespace).rstrip("\n")
        if output:
            print(f"Out[{number}]:\n{output}" if echo else output)
        if echo:
            print()

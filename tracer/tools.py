"""Tools for tool calling: a Python function, a pydantic model or a JSON schema, described once.

`convert_to_tool(obj)` gives the one neutral description every provider starts from,
OpenAI's function shape (the de facto standard):
`{"type": "function", "function": {"name", "description", "parameters": <JSON schema>}}`.
A function's parameters come from its signature and type hints (pydantic writes the schema),
its description from the docstring's first paragraph. Providers translate this into their own
format (Anthropic's `input_schema`, Gemini's `functionDeclarations`).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, create_model

__all__ = ["convert_to_tool", "tool_name"]


def _describe(doc: str | None) -> str:
    return inspect.cleandoc(doc).split("\n\n", 1)[0].replace("\n", " ").strip() if doc else ""


def _schema_of_model(model: type[BaseModel]) -> dict[str, Any]:
    schema = model.model_json_schema()
    schema.pop("title", None)
    schema.pop("description", None)
    for prop in schema.get("properties", {}).values():
        prop.pop("title", None)
    return schema


def _from_function(func: Callable[..., Any]) -> dict[str, Any]:
    signature = inspect.signature(func)
    hints = inspect.get_annotations(func, eval_str=True)
    fields: dict[str, Any] = {}
    for name, param in signature.parameters.items():
        if name in ("self", "cls") or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        annotation = hints.get(name, Any)
        fields[name] = (annotation, ... if param.default is param.empty else param.default)
    model = create_model(func.__name__, **fields)  # type: ignore[call-overload]
    return {"name": func.__name__, "description": _describe(func.__doc__), "parameters": _schema_of_model(model)}


def convert_to_tool(obj: Any) -> dict[str, Any]:
    """The OpenAI-shaped description of a tool given as a function, a pydantic model class,
    an OpenAI tool dict, a bare `{"name", "parameters"}` dict or an Anthropic
    `{"name", "input_schema"}` dict."""
    if isinstance(obj, dict):
        if obj.get("type") == "function" and isinstance(obj.get("function"), dict):
            return obj
        if "name" in obj and ("parameters" in obj or "input_schema" in obj):
            parameters = obj.get("parameters", obj.get("input_schema"))
            return {"type": "function", "function": {"name": obj["name"], "description": obj.get("description", ""), "parameters": parameters}}
        raise ValueError(f"A tool dict needs 'name' and 'parameters' (or OpenAI's function shape); got keys {sorted(obj)}")
    if isinstance(obj, type) and issubclass(obj, BaseModel):
        function = {"name": obj.__name__, "description": _describe(obj.__doc__), "parameters": _schema_of_model(obj)}
    elif callable(obj):
        function = _from_function(obj)
    else:
        raise TypeError(f"Cannot use {type(obj).__name__} as a tool: give a function, a pydantic model class or a JSON schema dict")
    return {"type": "function", "function": function}


def tool_name(tool: dict[str, Any]) -> str:
    """The name of a tool in `convert_to_tool`'s shape."""
    return str(tool["function"]["name"])

"""Prompt templates: the first step of most chains (`prompt | model | parser`).

`ChatPromptTemplate.from_messages([("system", "You are {role}."), ("human", "{question}")])`
formats its variables into a `ChatPromptValue`; `MessagesPlaceholder("history")` splices a list
of messages in. Variables use `str.format` syntax (`{{` for a literal brace). A call is a
`prompt` run, so the formatted messages show in the trace.
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from typing import Any, ClassVar

from .messages import BaseMessage, ChatPromptValue, PromptValue, StringPromptValue, _from_role, convert_to_messages
from .runnables import Runnable, RunnableConfig

__all__ = ["ChatPromptTemplate", "PromptTemplate", "MessagesPlaceholder"]


def _variables(template: str) -> list[str]:
    return [field for _, field, _, _ in string.Formatter().parse(template) if field]


def _format(template: str, values: dict[str, Any]) -> str:
    missing = [name for name in _variables(template) if name not in values]
    if missing:
        raise KeyError(f"The prompt needs {', '.join(repr(m) for m in missing)}; got {sorted(values)}")
    return template.format(**values)


def _as_values(input: Any, variables: Sequence[str]) -> dict[str, Any]:
    if isinstance(input, dict):
        return input
    if len(variables) == 1:
        return {variables[0]: input}
    raise TypeError(f"A prompt with variables {list(variables)} takes a dict, not {type(input).__name__}")


class MessagesPlaceholder:
    """A slot for a list of messages (a chat history) given as the variable `variable_name`."""

    def __init__(self, variable_name: str, *, optional: bool = False) -> None:
        self.variable_name = variable_name
        self.optional = optional

    def format(self, values: dict[str, Any]) -> list[BaseMessage]:
        if self.variable_name not in values:
            if self.optional:
                return []
            raise KeyError(f"The prompt needs the messages {self.variable_name!r}")
        return convert_to_messages(values[self.variable_name])


class ChatPromptTemplate(Runnable[dict[str, Any], PromptValue]):
    """A list of message templates, formatted into a `ChatPromptValue`."""

    run_type: ClassVar[str] = "prompt"

    def __init__(self, messages: Sequence[Any], *, name: str | None = None) -> None:
        self.messages: list[BaseMessage | tuple[str, str] | MessagesPlaceholder] = []
        for item in messages:
            if isinstance(item, (BaseMessage, MessagesPlaceholder)):
                self.messages.append(item)
            elif isinstance(item, tuple) and len(item) == 2:
                role, template = item
                self.messages.append(MessagesPlaceholder(template.strip("{}")) if role == "placeholder" else (role, template))
            elif isinstance(item, str):
                self.messages.append(("human", item))
            else:
                raise TypeError(f"A chat prompt takes messages, (role, template) tuples or placeholders, not {type(item).__name__}")
        self.name = name

    @classmethod
    def from_messages(cls, messages: Sequence[Any]) -> ChatPromptTemplate:
        return cls(messages)

    @classmethod
    def from_template(cls, template: str) -> ChatPromptTemplate:
        """One human message."""
        return cls([("human", template)])

    @property
    def input_variables(self) -> list[str]:
        names: list[str] = []
        for item in self.messages:
            found = [item.variable_name] if isinstance(item, MessagesPlaceholder) and not item.optional else _variables(item[1]) if isinstance(item, tuple) else []
            names.extend(name for name in found if name not in names)
        return names

    def format_messages(self, **values: Any) -> list[BaseMessage]:
        formatted: list[BaseMessage] = []
        for item in self.messages:
            if isinstance(item, MessagesPlaceholder):
                formatted.extend(item.format(values))
            elif isinstance(item, tuple):
                formatted.append(_from_role(item[0], _format(item[1], values)))
            else:
                formatted.append(item)
        return formatted

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> PromptValue:
        return self._call_with_run(lambda value, _: ChatPromptValue(messages=self.format_messages(**_as_values(value, self.input_variables))), input, config)


class PromptTemplate(Runnable[dict[str, Any], PromptValue]):
    """One text template, formatted into a `StringPromptValue` (a chat model reads it as one
    human message)."""

    run_type: ClassVar[str] = "prompt"

    def __init__(self, template: str, *, name: str | None = None) -> None:
        self.template = template
        self.name = name

    @classmethod
    def from_template(cls, template: str) -> PromptTemplate:
        return cls(template)

    @property
    def input_variables(self) -> list[str]:
        return list(dict.fromkeys(_variables(self.template)))

    def format(self, **values: Any) -> str:
        return _format(self.template, values)

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> PromptValue:
        return self._call_with_run(lambda value, _: StringPromptValue(text=self.format(**_as_values(value, self.input_variables))), input, config)

"""A run's stored inputs and outputs as something to read: a conversation, or pretty JSON.

The run page shows a chat model call as the messages it was given and the reply it gave. The
stored shapes vary with who wrote the run: our own message dumps (`{"type": "human", ...}`),
LangChain's serialized form (`{"lc": 1, "id": [..., "HumanMessage"], "kwargs": {...}}`),
OpenAI-style dicts (`{"role": "user", ...}`), and content blocks of every provider (OpenAI
`image_url`, Anthropic `image`/`tool_use`/`tool_result`/`thinking`, Gemini parts). Each becomes
a `Message` of `Block`s; anything not understood becomes a `json` block, never an error.

Everything here is plain data for templates, which escape it. Images are never loaded from
another site: a web address becomes a link (only for http and https), and only images embedded
as data (base64) are shown inline, as `data:` URLs (the page's CSP allows `img-src data:`).
Non-llm runs (chains, tools, ...) are shown as their inputs and outputs in pretty JSON.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Block", "Message", "Conversation", "conversation", "pretty_json", "reply_text", "token_events"]

#: Raster image types shown inline when embedded as base64 (SVG is not: it is a document).
_INLINE_IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
_DATA_URL = re.compile(r"^data:(?P<mime>[\w.+-]+/[\w.+-]+)?(?:;[^,]*)?,", re.IGNORECASE)
_ROLE_OF_TYPE = {
    "human": "user",
    "user": "user",
    "ai": "assistant",
    "assistant": "assistant",
    "model": "assistant",
    "system": "system",
    "developer": "system",
    "tool": "tool",
    "function": "function",
}


@dataclass
class Block:
    """One piece of a message. `kind` is text, image, tool_call, tool_result, thinking or json.

    text: the text (text, thinking), the pretty JSON (json, tool_call args), the result
    (tool_result); url: a link (http/https only) or a `data:` image; label: what to say
    about an image or a block; name/call_id: a tool call's or tool result's."""

    kind: str
    text: str = ""
    url: str | None = None
    inline: bool = False
    label: str = ""
    name: str | None = None
    call_id: str | None = None
    is_error: bool = False


@dataclass
class Message:
    role: str  # user, assistant, system, tool, function, or a chat message's own role
    blocks: list[Block] = field(default_factory=list)
    name: str | None = None
    call_id: str | None = None  # what a tool message answers

    @property
    def text(self) -> str:
        return "".join(block.text for block in self.blocks if block.kind == "text")


@dataclass
class Conversation:
    """`messages` (the prompt) and `reply` (the outputs) when the run is a chat; `is_chat`
    False means the template shows `inputs_json` / `outputs_json` instead."""

    is_chat: bool
    messages: list[Message] = field(default_factory=list)
    reply: list[Message] = field(default_factory=list)
    inputs_json: str = ""
    outputs_json: str = ""


def pretty_json(value: Any) -> str:
    """Indented JSON for people: non-ASCII kept, anything odd shown through `str`."""
    try:
        return json.dumps(value, indent=2, ensure_ascii=False, default=str)
    except (TypeError, ValueError):  # circular or otherwise unserializable
        return repr(value)


def conversation(run_type: str, inputs: Any, outputs: Any, events: list[dict[str, Any]] | None = None) -> Conversation:
    """The view-model of one run. A running llm run's reply is its streamed tokens so far."""
    view = Conversation(is_chat=False, inputs_json=pretty_json(inputs or {}), outputs_json=pretty_json(outputs) if outputs is not None else "")
    if run_type != "llm":
        return view
    messages = _prompt_messages(inputs)
    reply = _reply_messages(outputs)
    if outputs is None:  # running (the tokens so far), failed, or outputs hidden
        streamed = "".join(token for _, token in token_events(events or []))
        reply = [Message("assistant", [Block("text", streamed)])] if streamed else []
    if messages is None or reply is None:
        return view
    view.is_chat = True
    view.messages, view.reply = messages, reply
    return view


def reply_text(run_type: str, outputs: Any) -> str:
    """The output as one text, for diffs: the reply's text and tool calls, else the JSON."""
    if outputs is None:
        return ""
    if run_type == "llm":
        reply = _reply_messages(outputs)
        if reply is not None:
            return "\n".join(_message_as_text(message) for message in reply)
    if isinstance(outputs, dict) and set(outputs) == {"output"} and isinstance(outputs["output"], str):
        return outputs["output"]
    return pretty_json(outputs)


def token_events(events: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(time, text) of every streamed token that carries text, in order."""
    found = []
    for event in events:
        if isinstance(event, dict) and event.get("name") == "new_token":
            kwargs = event.get("kwargs")
            token = kwargs.get("token") if isinstance(kwargs, dict) else None
            if isinstance(token, str) and token:
                found.append((str(event.get("time") or ""), token))
    return found


# -- inputs -------------------------------------------------------------------------------------


def _prompt_messages(inputs: Any) -> list[Message] | None:
    if not isinstance(inputs, dict):
        return None
    raw = inputs.get("messages")
    if raw is None and isinstance(inputs.get("prompts"), list):  # a text-completion model
        return [Message("user", [Block("text", str(prompt))]) for prompt in inputs["prompts"]]
    if raw is None and isinstance(inputs.get("input"), (str, list)):
        raw = inputs["input"]
    if isinstance(raw, str):
        return [Message("user", [Block("text", raw)])]
    if not isinstance(raw, list):
        return None
    # LangChain stores a batch: a list of message lists (one per prompt); flatten one level.
    if raw and all(isinstance(item, list) and not _is_pair(item) for item in raw):
        raw = [message for batch in raw for message in batch]
    parsed = [_message(item) for item in raw]
    if any(message is None for message in parsed):
        return None
    return [message for message in parsed if message is not None]


def _is_pair(item: list[Any]) -> bool:
    """`("human", "hello")` given as a list."""
    return len(item) == 2 and isinstance(item[0], str) and item[0] in _ROLE_OF_TYPE


# -- outputs ------------------------------------------------------------------------------------


def _reply_messages(outputs: Any) -> list[Message] | None:
    if outputs is None:
        return None
    if not isinstance(outputs, dict):
        return [Message("assistant", [Block("text", outputs)])] if isinstance(outputs, str) else None
    if isinstance(outputs.get("generations"), list):  # LLMResult
        found: list[Message] = []
        for batch in outputs["generations"]:
            for generation in batch if isinstance(batch, list) else [batch]:
                if not isinstance(generation, dict):
                    return None
                if isinstance(generation.get("message"), dict):
                    message = _message(generation["message"])
                    if message is None:
                        return None
                    found.append(message)
                else:
                    found.append(Message("assistant", [Block("text", str(generation.get("text", "")))]))
        return found
    if isinstance(outputs.get("choices"), list):  # an OpenAI completion, as a wrapper logs it
        found = []
        for choice in outputs["choices"]:
            message = _message(choice.get("message")) if isinstance(choice, dict) and isinstance(choice.get("message"), dict) else None
            if message is None and isinstance(choice, dict) and isinstance(choice.get("text"), str):
                message = Message("assistant", [Block("text", choice["text"])])
            if message is None:
                return None
            found.append(message)
        return found
    if "role" in outputs or outputs.get("type") in _ROLE_OF_TYPE or "lc" in outputs:
        message = _message(outputs)
        return [message] if message is not None else None
    if set(outputs) == {"output"}:
        inner = outputs["output"]
        if isinstance(inner, str):
            return [Message("assistant", [Block("text", inner)])]
        if isinstance(inner, dict):
            message = _message(inner)
            return [message] if message is not None else None
    return None


# -- one message --------------------------------------------------------------------------------


def _message(raw: Any) -> Message | None:
    """A message of any known shape, or None when `raw` is not a message."""
    if isinstance(raw, str):
        return Message("user", [Block("text", raw)])
    if isinstance(raw, list) and _is_pair(raw):
        return Message(_ROLE_OF_TYPE.get(raw[0], raw[0]), _blocks(raw[1]))
    if not isinstance(raw, dict):
        return None
    if raw.get("lc") == 1 and isinstance(raw.get("kwargs"), dict):  # LangChain's serialized form
        class_name = raw.get("id", [""])[-1] if isinstance(raw.get("id"), list) and raw["id"] else ""
        kind = str(class_name).removesuffix("Chunk").removesuffix("Message").lower()
        return _message({**raw["kwargs"], "type": raw["kwargs"].get("type") or kind})
    kind = raw.get("role") or raw.get("type")
    if not isinstance(kind, str) or "content" not in raw and "parts" not in raw and "tool_calls" not in raw:
        return None
    kind = kind.removesuffix("MessageChunk").lower() if kind.endswith("MessageChunk") else kind
    role = _ROLE_OF_TYPE.get(kind.lower(), kind)
    if kind == "chat" and isinstance(raw.get("role"), str):
        role = raw["role"]
    content = raw.get("content") if "content" in raw else raw.get("parts")
    blocks = _blocks(content)
    blocks.extend(_tool_calls(raw, seen={b.call_id for b in blocks if b.kind == "tool_call" and b.call_id}))
    name = raw.get("name") if isinstance(raw.get("name"), str) else None
    call_id = raw.get("tool_call_id") if isinstance(raw.get("tool_call_id"), str) else None
    if role in ("tool", "function"):  # its text is the result of a call
        failed = raw.get("status") == "error"
        blocks = [
            Block("tool_result", b.text, name=name, call_id=call_id, is_error=failed) if b.kind == "text" else b for b in blocks
        ]
    return Message(role, blocks, name=name, call_id=call_id)


def _tool_calls(raw: dict[str, Any], seen: set[str]) -> list[Block]:
    """A message's tool calls, from `tool_calls` (ours or OpenAI's), `invalid_tool_calls`, or
    the legacy `additional_kwargs` (`tool_calls`, `function_call`); each call once."""
    calls: list[Any] = list(raw.get("tool_calls") or [])
    extra = raw.get("additional_kwargs") if isinstance(raw.get("additional_kwargs"), dict) else {}
    if not calls:
        calls = list(extra.get("tool_calls") or [])
    function_call = raw.get("function_call") or extra.get("function_call")
    if not calls and isinstance(function_call, dict):
        calls = [{"function": function_call}]
    blocks = []
    for call in calls:
        if not isinstance(call, dict):
            continue
        block = _call_block(call)
        if block.call_id and block.call_id in seen:
            continue
        if block.call_id:
            seen.add(block.call_id)
        blocks.append(block)
    for call in raw.get("invalid_tool_calls") or []:
        if isinstance(call, dict):
            block = Block("tool_call", _args_text(call.get("args")), name=_str(call.get("name")), call_id=_str(call.get("id")), is_error=True)
            block.label = _str(call.get("error")) or "invalid tool call"
            blocks.append(block)
    return blocks


def _call_block(call: dict[str, Any]) -> Block:
    function = call.get("function") if isinstance(call.get("function"), dict) else None
    if function is not None:  # OpenAI: {"id", "type": "function", "function": {"name", "arguments"}}
        return Block("tool_call", _args_text(function.get("arguments")), name=_str(function.get("name")), call_id=_str(call.get("id")))
    return Block("tool_call", _args_text(call.get("args", call.get("input"))), name=_str(call.get("name")), call_id=_str(call.get("id")))


def _args_text(args: Any) -> str:
    """Tool-call arguments as pretty JSON; a JSON string is parsed first, a broken one kept."""
    if isinstance(args, str):
        try:
            args = json.loads(args)
        except ValueError:
            return args
    return pretty_json(args if args is not None else {})


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None if value is None else str(value)


# -- content blocks -----------------------------------------------------------------------------


def _blocks(content: Any) -> list[Block]:
    if content is None or content == "":
        return []
    if isinstance(content, str):
        return [Block("text", content)]
    if isinstance(content, dict):
        content = [content]
    if not isinstance(content, list):
        return [Block("json", pretty_json(content))]
    return [_block(item) for item in content if item is not None and item != ""]


def _block(item: Any) -> Block:
    if isinstance(item, str):
        return Block("text", item)
    if not isinstance(item, dict):
        return Block("json", pretty_json(item))
    kind = item.get("type")
    if kind in ("text", "input_text", "output_text") and isinstance(item.get("text"), str):
        return Block("text", item["text"])
    if kind is None and isinstance(item.get("text"), str) and len(item) == 1:  # a Gemini part
        return Block("text", item["text"])
    if kind in ("thinking", "reasoning") and isinstance(item.get("thinking", item.get("text")), str):
        return Block("thinking", item.get("thinking", item.get("text")))
    if kind == "redacted_thinking":
        return Block("thinking", "", label="redacted thinking")
    if kind in ("image_url", "input_image"):
        image = item.get("image_url")
        return _image(image.get("url") if isinstance(image, dict) else image, None)
    if kind == "image":
        source = item.get("source")
        if isinstance(source, dict):  # Anthropic
            if source.get("type") == "base64":
                return _image(None, source.get("media_type"), source.get("data"))
            return _image(source.get("url"), source.get("media_type"))
        return _image(item.get("url"), item.get("mime_type"), item.get("data") or item.get("base64"))
    inline_data = item.get("inline_data") or item.get("inlineData")
    if isinstance(inline_data, dict):
        return _image(None, inline_data.get("mime_type") or inline_data.get("mimeType"), inline_data.get("data"))
    if kind == "tool_use" or isinstance(item.get("functionCall"), dict):
        call = item.get("functionCall") or item
        return Block("tool_call", _args_text(call.get("input", call.get("args"))), name=_str(call.get("name")), call_id=_str(call.get("id")))
    if kind == "tool_result":
        return Block("tool_result", _result_text(item.get("content")), call_id=_str(item.get("tool_use_id")), is_error=bool(item.get("is_error")))
    if isinstance(item.get("functionResponse"), dict):
        response = item["functionResponse"]
        return Block("tool_result", pretty_json(response.get("response")), name=_str(response.get("name")))
    return Block("json", pretty_json(item), label=str(kind) if kind else "")


def _result_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list) and all(isinstance(b, dict) and b.get("type") == "text" for b in content):
        return "".join(str(b.get("text", "")) for b in content)
    return pretty_json(content)


def _image(url: Any, mime: Any, data: Any = None) -> Block:
    """An image: inline only when embedded as raster base64 data; a web address is a link
    (http and https only; any other scheme is shown as text, never as an active link)."""
    mime = mime.lower() if isinstance(mime, str) else None
    if isinstance(data, str) and data:
        size = len(data) * 3 // 4
        if mime in _INLINE_IMAGE_TYPES:
            return Block("image", url=f"data:{mime};base64,{data}", inline=True, label=f"{mime} image, {_size(size)}")
        return Block("image", label=f"embedded {mime or 'image'}, {_size(size)} (not shown)")
    if not isinstance(url, str) or not url:
        return Block("image", label="image (no address)")
    match = _DATA_URL.match(url)
    if match:
        data_mime = (match["mime"] or "").lower()
        size = _size((len(url) - match.end()) * 3 // 4)
        if data_mime in _INLINE_IMAGE_TYPES and ";base64" in url[: match.end()].lower():
            return Block("image", url=url, inline=True, label=f"{data_mime} image, {size}")
        return Block("image", label=f"embedded {data_mime or 'data'}, {size} (not shown)")
    if url.lower().startswith(("http://", "https://")):
        return Block("image", url=url, label=url)
    return Block("image", label=url)


def _size(n: int) -> str:
    return f"{n} bytes" if n < 1024 else f"{n / 1024:.1f} KB" if n < 1024 * 1024 else f"{n / 1024 / 1024:.1f} MB"


def _message_as_text(message: Message) -> str:
    parts = []
    for block in message.blocks:
        if block.kind in ("text", "thinking", "tool_result", "json"):
            parts.append(block.text)
        elif block.kind == "tool_call":
            parts.append(f"tool call {block.name or ''}({block.text})")
        elif block.kind == "image":
            parts.append(f"[image: {block.label}]")
    return "\n".join(parts)

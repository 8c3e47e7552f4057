"""`ChatMistralAI`: Mistral's chat completions API (`https://api.mistral.ai/v1`).

It is OpenAI's shape with these differences, which the class-level switches of `ChatOpenAI`
express: the API rejects fields it does not know, so streams carry no `stream_options` (its
streams end with a chunk that carries `usage` anyway) and user, system and assistant messages
carry no `name`; `seed` is called `random_seed`; "must call a tool" is `tool_choice="any"`
("required" is accepted and sent as "any"); an image part is `{"type": "image_url",
"image_url": <URL or data URL>}`; there is no legacy "function" role, so a `FunctionMessage`
goes as a "tool" message; an assistant message that only calls tools has content "".
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import AliasChoices, Field, SecretStr

from .openai import ChatOpenAI

__all__ = ["ChatMistralAI"]


class ChatMistralAI(ChatOpenAI):
    """Mistral chat models (`model="mistral-large-latest"` by default). The key comes from
    `api_key=` (or `mistral_api_key=`) or `MISTRAL_API_KEY`."""

    model_name: str = Field(default="mistral-large-latest", alias="model")
    api_key: SecretStr | None = Field(default=None, validation_alias=AliasChoices("api_key", "mistral_api_key"))
    #: Let Mistral prepend its safety prompt.
    safe_prompt: bool | None = None

    provider: ClassVar[str] = "mistral"
    default_base_url: ClassVar[str] = "https://api.mistral.ai/v1"
    api_key_env: ClassVar[tuple[str, ...]] = ("MISTRAL_API_KEY",)
    organization_env: ClassVar[tuple[str, ...]] = ()
    base_url_env: ClassVar[tuple[str, ...]] = ()

    _stream_options: ClassVar[bool] = False
    _tool_choice_required: ClassVar[str] = "any"
    _seed_field: ClassVar[str] = "random_seed"
    _message_names: ClassVar[bool] = False
    _image_url_object: ClassVar[bool] = False
    _function_role: ClassVar[str] = "tool"
    _tool_call_content: ClassVar[Any] = ""

    def _request_body(self, messages: Any, stop: list[str] | None, kwargs: dict[str, Any], stream: bool) -> dict[str, Any]:
        body = super()._request_body(messages, stop, kwargs, stream)
        if self.safe_prompt is not None:
            body.setdefault("safe_prompt", self.safe_prompt)
        return body

"""The JSON API's operations and its OpenAPI 3.1 document, made from the same declarations.

Every view of `/api/v1` is registered with `route(bp, method, rule, ...)`, which records an
`Operation` (summary, query parameters, request body model, response type, status) and wraps
the view: it reads and validates the JSON body, and serializes what the view returns with the
declared response type. `document()` is built from those records, so no operation goes
undocumented and no schema is written twice: every schema comes from a pydantic model or type
(`TypeAdapter.json_schemas`, into `#/components/schemas`), never from a hand-kept field list.

The error codes of an operation follow from what it takes: 404 for an id or name in the path,
400 for query parameters or a body, 413 and 415 for a body, plus the ones given (`errors=`);
401 (an API key is configured and missing) and 403 (a Host this server does not answer to)
can happen to any request.

Unsafe views are exempt from the CSRF token (`viewer.security.csrf_exempt`) and protect
themselves: a body is taken only as `application/json` (else 415), and DELETE takes none. A page
on another site can send neither a JSON POST nor a PATCH or DELETE without a CORS preflight,
which this server never grants; the API key, when there is one, is still checked.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Response, request
from pydantic import BaseModel, TypeAdapter, ValidationError

from .errors import BadRequest, ViewerError
from .security import csrf_exempt

__all__ = ["PREFIX", "Query", "Operation", "OPERATIONS", "route", "document", "json_body", "ErrorBody"]

PREFIX = "/api/v1"
TITLE = "chat-tracer API"
VERSION = "1"
_REF = "#/components/schemas/{model}"
_PATH_PARAM = re.compile(r"<(?:[a-z]+:)?([a-z_]+)>")

#: What each error status means here; each is a reusable response of the document.
ERRORS: dict[int, str] = {
    400: "A parameter or the body is not valid (a bad filter's error has its `position`).",
    401: "An API key is configured and the request does not carry it (`x-api-key`).",
    403: "The request's Host is not one this server answers to.",
    404: "No such resource: an id or name in the path (an id that is not a UUID names nothing).",
    413: "The body is larger than the server accepts.",
    415: "The body is not JSON (`Content-Type: application/json`).",
}
_ALWAYS = (401, 403)


class ErrorDetail(BaseModel):
    status: int
    message: str
    #: Where a filter stops parsing (0-based), for a bad `filter`.
    position: int | None = None


class ErrorBody(BaseModel):
    """What every error answers, with a 4xx status."""

    error: ErrorDetail


def _reason(exc: ValidationError, where: str) -> str:
    """One sentence naming the field of the first problem pydantic found."""
    first = exc.errors(include_url=False)[0]
    field = ".".join(str(part) for part in first["loc"])
    name = f"{where} {field}".strip() if field else where
    message = str(first["ctx"]["error"]) if first["type"] == "value_error" else first["msg"]  # our own words
    return f"{name}: {message.rstrip('.')}."


@dataclass(frozen=True)
class Query:
    """A query parameter: documented and read with the same pydantic type. Empty values count
    as absent; `many` takes every value given (`?k=a&k=b`), `type` then being the list's."""

    name: str
    type: Any
    description: str = ""
    required: bool = False
    many: bool = False
    default: Any = None

    @functools.cached_property
    def adapter(self) -> TypeAdapter[Any]:
        return TypeAdapter(self.type)

    def read(self) -> Any:
        """The validated value of this request's argument; `BadRequest` naming it otherwise."""
        values = [value for value in request.args.getlist(self.name) if value.strip()]
        if not values:
            if self.required:
                raise BadRequest(f"The query parameter {self.name} is required.")
            return self.default
        try:
            return self.adapter.validate_python(values if self.many else values[0])
        except ValidationError as exc:
            raise BadRequest(_reason(exc, f"The query parameter {self.name}")) from None

    def spec(self, schema: dict[str, Any]) -> dict[str, Any]:
        spec = {"name": self.name, "in": "query", "required": self.required, "schema": schema}
        if self.description:
            spec["description"] = self.description
        return spec


@dataclass(frozen=True)
class Operation:
    method: str
    rule: str
    name: str
    summary: str
    description: str
    tag: str
    query: tuple[Query, ...]
    body: type[BaseModel] | None
    response: Any
    status: int
    #: Media types of a streamed download (the view returns the `Response` itself).
    stream: tuple[str, ...]
    errors: tuple[int, ...]

    @property
    def path(self) -> str:
        return PREFIX + _PATH_PARAM.sub(r"{\1}", self.rule)

    @property
    def path_params(self) -> list[str]:
        return _PATH_PARAM.findall(self.rule)

    @property
    def error_codes(self) -> list[int]:
        codes = set(self.errors) | set(_ALWAYS)
        if self.path_params:
            codes.add(404)
        if self.query or self.body is not None:
            codes.add(400)
        if self.body is not None:
            codes |= {413, 415}
        return sorted(codes)


OPERATIONS: list[Operation] = []


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def json_body(model: type[BaseModel]) -> BaseModel:
    """The request's JSON body validated by `model`: 415 when it is not JSON, 400 naming the
    first bad field."""
    if not request.is_json:
        raise ViewerError("Send the body as JSON, with Content-Type: application/json.", status=415)
    try:
        data = json.loads(request.get_data(as_text=True), parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:
        raise BadRequest(f"The body is not valid JSON ({str(exc)[:200]}).") from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise BadRequest(_reason(exc, "The body's field" if exc.errors()[0]["loc"] else "The body")) from None


def route(
    bp: Blueprint,
    method: str,
    rule: str,
    *,
    summary: str,
    tag: str,
    query: tuple[Query, ...] = (),
    body: type[BaseModel] | None = None,
    response: Any = None,
    status: int | None = None,
    stream: tuple[str, ...] = (),
    errors: tuple[int, ...] = (),
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a view on `bp` and record its operation. The view gets the path's values and,
    with a `body` model, `body=` the validated body; it returns a value of type `response`
    (serialized as JSON with `status`, 200 by default), or None (for 204, when there is no
    `response`), or, when `stream`, a `Response`."""
    code = status or (204 if response is None and not stream else 200)

    def register(view: Callable[..., Any]) -> Callable[..., Any]:
        operation = Operation(
            method, rule, view.__name__, summary, (view.__doc__ or "").strip(), tag, query, body,
            response, code, stream, errors,
        )
        OPERATIONS.append(operation)
        adapter = None if response is None else TypeAdapter(response)

        @functools.wraps(view)
        def endpoint(**values: Any) -> Any:
            if body is not None:
                values["body"] = json_body(body)
            result = view(**values)
            if stream:
                return result
            if adapter is None:
                return Response(status=204)
            return Response(adapter.dump_json(result), status=code, mimetype="application/json")

        if method != "GET":
            csrf_exempt(endpoint)  # see the module's docstring
        bp.add_url_rule(rule, view_func=endpoint, methods=[method])
        return endpoint

    return register


# -- the document -------------------------------------------------------------------------------


def _content(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _operation_spec(operation: Operation, schemas: dict[Any, dict[str, Any]]) -> dict[str, Any]:
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}
        for name in operation.path_params
    ]
    parameters += [query.spec(schemas[operation.name, "query", query.name]) for query in operation.query]
    if operation.stream:
        success = {
            "description": "The file, streamed (`Content-Disposition: attachment`).",
            "headers": {"Content-Disposition": {"schema": {"type": "string"}}},
            "content": {media: {"schema": {"type": "string"}} for media in operation.stream},
        }
    elif operation.response is None:
        success = {"description": "Done; nothing to return."}
    else:
        success = {"description": "OK.", "content": _content(schemas[operation.name, "response"])}
    responses: dict[str, Any] = {str(operation.status): success}
    for code in operation.error_codes:
        responses[str(code)] = {"$ref": f"#/components/responses/Error{code}"}
    spec: dict[str, Any] = {
        "operationId": operation.name,
        "summary": operation.summary,
        "tags": [operation.tag],
        "parameters": parameters,
        "responses": responses,
    }
    if operation.description:
        spec["description"] = operation.description
    if operation.body is not None:
        spec["requestBody"] = {"required": True, "content": _content(schemas[operation.name, "body"])}
    return spec


def _schemas() -> tuple[dict[Any, dict[str, Any]], dict[str, Any]]:
    """Each operation's schemas by key, and the shared definitions they refer to."""
    inputs: list[tuple[Any, Any, TypeAdapter[Any]]] = [("error", "serialization", TypeAdapter(ErrorBody))]
    for operation in OPERATIONS:
        if operation.body is not None:
            inputs.append(((operation.name, "body"), "validation", TypeAdapter(operation.body)))
        if operation.response is not None and not operation.stream:
            inputs.append(((operation.name, "response"), "serialization", TypeAdapter(operation.response)))
        inputs += [((operation.name, "query", q.name), "validation", q.adapter) for q in operation.query]
    keyed, definitions = TypeAdapter.json_schemas(inputs, ref_template=_REF)
    return {key: schema for (key, _mode), schema in keyed.items()}, definitions.get("$defs", {})


@functools.cache
def document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of every registered operation (built once)."""
    schemas, definitions = _schemas()
    paths: dict[str, dict[str, Any]] = {}
    for operation in OPERATIONS:
        paths.setdefault(operation.path, {})[operation.method.lower()] = _operation_spec(operation, schemas)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": TITLE,
            "version": VERSION,
            "description": "Projects, runs, feedback, datasets, examples and exports of a local chat-tracer store.",
        },
        "servers": [{"url": "/"}],
        "security": [{}, {"apiKey": []}],
        "paths": paths,
        "components": {
            "schemas": definitions,
            "securitySchemes": {"apiKey": {"type": "apiKey", "in": "header", "name": "x-api-key"}},
            "responses": {
                f"Error{code}": {"description": text, "content": _content(schemas["error"])}
                for code, text in ERRORS.items()
            },
        },
    }

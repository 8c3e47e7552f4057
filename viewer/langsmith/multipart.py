"""A streaming `multipart/form-data` parser for LangSmith ingestion bodies.

Why our own: werkzeug's form parser stops at 1,000 parts and 500 KB per field, and a LangSmith
batch is 100 runs of up to 7 parts each plus attachments, with `inputs` parts of megabytes. This
parser limits nothing; the caller caps the body's total size while it reads (and decompresses)
it. It takes the body in chunks as they arrive, keeps only the part in progress, and hands out
each part once its closing delimiter is seen; `finish()` then insists on the final delimiter,
so a truncated body is an error, never a shorter batch.

    parser = Parser(boundary_of(request.content_type))
    for chunk in chunks:
        parts.extend(parser.feed(chunk))
    parser.finish()

Per RFC 2046 the delimiter is CRLF + "--" + boundary: the body is searched for it with
`bytearray.find` (C speed), never line by line. A part without a `Content-Type` is `text/plain`
(RFC 7578).
"""

from __future__ import annotations

import re
from typing import NamedTuple

__all__ = ["Part", "MultipartError", "Parser", "boundary_of"]

_BOUNDARY = re.compile(r"""boundary=(?:"([^"]{1,70})"|([^";\s]{1,70}))""", re.I)
_BOUNDARY_CHARS = re.compile(r"^[0-9A-Za-z'()+_,\-./:=? ]*[0-9A-Za-z'()+_,\-./:=?]$")
# A part's header block: "Name: value" lines and nothing else; only two of them are read.
_HEADER_BLOCK = re.compile(rb"[!-9;-~]+:[^\r\n]*(?:\r\n[!-9;-~]+:[^\r\n]*)*")
_DISPOSITION = re.compile(rb"(?im)^content-disposition:[ \t]*form-data[ \t]*(;[^\r\n]*)")
_CONTENT_TYPE = re.compile(rb"(?im)^content-type:[ \t]*([^\r\n]*)")
_NAME = re.compile(rb"""(?i);[ \t]*name[ \t]*=[ \t]*(?:"([^"\\]*(?:\\.[^"\\]*)*)"|([^;\s"]+))""")
_ESCAPED = re.compile(rb"\\(.)")
# The block as the langsmith client writes it: one regex match, the others only otherwise.
_USUAL = re.compile(rb'Content-Disposition: form-data; name="([^"\\\r\n]*)"\r\nContent-Type: ([^\r\n]*)(?:\r\n[!-9;-~]+:[^\r\n]*)*')
_HEADERS_END = b"\r\n\r\n"

_PREAMBLE, _NEXT, _HEADERS, _BODY, _DONE = range(5)


class MultipartError(ValueError):
    """The body is not well-formed multipart/form-data (the message says where)."""


class Part(NamedTuple):
    name: str
    content_type: str
    data: bytes


def boundary_of(content_type: str | None) -> bytes:
    """The boundary named in a `multipart/form-data` Content-Type header."""
    if not content_type or content_type.split(";", 1)[0].strip().lower() != "multipart/form-data":
        raise MultipartError("The body must be multipart/form-data (Content-Type: multipart/form-data; boundary=...).")
    found = _BOUNDARY.search(content_type)
    boundary = (found.group(1) or found.group(2)) if found else None
    if not boundary or not _BOUNDARY_CHARS.match(boundary):
        raise MultipartError("The multipart Content-Type has no valid boundary parameter.")
    return boundary.encode("ascii")


class Parser:
    """Parts of one body fed in chunks; not thread-safe (one per request)."""

    def __init__(self, boundary: bytes) -> None:
        self._delimiter = b"\r\n--" + boundary
        # The first delimiter may open the body without a CRLF before it: supply one.
        self._buf = bytearray(b"\r\n")
        self._state = _PREAMBLE
        self._name = ""
        self._type = ""
        self._scan = 0  # where the search for the current part's end resumes
        self._count = 0

    def feed(self, chunk: bytes) -> list[Part]:
        """The parts that `chunk` completes, in body order."""
        if self._state == _DONE:
            return []  # the epilogue is ignored
        buf, delimiter = self._buf, self._delimiter
        buf += chunk
        parts: list[Part] = []
        state, pos = self._state, 0  # the buffer starts with what is still unread
        while True:  # one state per turn, in locals: this loop runs for every part of a batch
            if state == _BODY:  # everything up to the next delimiter
                found = buf.find(delimiter, self._scan)
                if found < 0:
                    self._scan = max(pos, len(buf) - len(delimiter) + 1)
                    break
                parts.append(Part(self._name, self._type, bytes(buf[pos:found])))
                self._count += 1
                pos, state = found + len(delimiter), _NEXT
            elif state == _NEXT:  # just after a delimiter: "--" ends the body, else a line end
                if buf[pos : pos + 2] == b"--":
                    state = _DONE
                    break
                end = buf.find(b"\r\n", pos)
                if end < 0 and len(buf) - pos <= 256:
                    break
                if end < 0 or buf[pos:end].strip(b" \t"):
                    raise MultipartError(f"A boundary after part {self._count} is followed by junk instead of a line end.")
                pos, state = end, _HEADERS  # keep the CRLF: an empty header block is CRLF CRLF
            elif state == _HEADERS:
                end = buf.find(_HEADERS_END, pos)
                if end < 0:
                    break
                self._name, self._type = _headers(bytes(buf[pos + 2 : end]), self._count + 1)
                pos, state = end + len(_HEADERS_END), _BODY
                self._scan = pos
            else:  # _PREAMBLE: anything before the first delimiter is ignored
                found = buf.find(delimiter, pos)
                if found < 0:
                    pos = max(pos, len(buf) - len(delimiter))
                    break
                pos, state = found + len(delimiter), _NEXT
        self._state = state
        del buf[:pos]
        self._scan = max(0, self._scan - pos)
        return parts

    def finish(self) -> None:
        """Raise unless the body ended with its closing delimiter."""
        if self._state == _PREAMBLE:
            raise MultipartError("The body does not contain the boundary its Content-Type names.")
        if self._state != _DONE:
            where = f"in part {self._count + 1} ({self._name!r})" if self._state == _BODY else f"after {self._count} parts"
            raise MultipartError(f"The multipart body is truncated {where}: it does not end with its closing boundary.")


def _headers(block: bytes, number: int) -> tuple[str, str]:
    """(name, content type) from one part's header block."""
    try:
        usual = _USUAL.fullmatch(block)
        if usual is not None:
            return usual.group(1).decode("utf-8"), usual.group(2).decode("utf-8")
        return _any_headers(block, number)
    except UnicodeDecodeError:
        raise MultipartError(f"The headers of part {number} are not UTF-8.") from None


def _any_headers(block: bytes, number: int) -> tuple[str, str]:
    if not _HEADER_BLOCK.fullmatch(block):
        raise MultipartError(f"Part {number} has a malformed header block: {block[:80]!r}.")
    disposition = _DISPOSITION.search(block)
    if disposition is None:
        raise MultipartError(f"Part {number} has no Content-Disposition: form-data header.")
    found = _NAME.search(disposition.group(1))
    if found is None:
        raise MultipartError(f"Part {number} has no name in its Content-Disposition header.")
    quoted = found.group(1)
    name = _ESCAPED.sub(rb"\1", quoted) if quoted is not None else found.group(2)
    content_type = _CONTENT_TYPE.search(block)
    return name.decode("utf-8"), content_type.group(1).strip().decode("utf-8") if content_type else "text/plain"

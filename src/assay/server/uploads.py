"""A ``multipart/form-data`` body read part by part as it arrives, never held whole.

``MultipartReader`` pulls the body one chunk at a time from ``pull`` (a callable that gives
the next chunk, or ``b""`` at the end) and hands out each part with a file-like ``stream``
that reads on into the body as it is read. So a 2 GB upload is copied into the store with at
most a chunk or two of it in memory (python-multipart's push parser does the parsing)::

    reader = MultipartReader.of(request.headers["content-type"], pull)
    for part in reader.parts():
        part.name, part.filename      # "files", "train/part-1.jsonl"
        part.stream.read(1 << 20)     # the next bytes of that part
"""

from __future__ import annotations

import io
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, cast

from python_multipart.multipart import MultipartParser, parse_options_header

from assay.errors import InvalidRequest

#: the longest value of a form field that is not a file
MAX_FIELD = 64 * 1024
_BEGIN, _DATA, _END_PART, _END = "begin", "data", "end-part", "end"


@dataclass(frozen=True)
class Part:
    name: str
    filename: str | None  # None: a plain form field
    stream: PartStream

    def text(self) -> str:
        """A form field's value (at most ``MAX_FIELD`` bytes)."""
        value = self.stream.read(MAX_FIELD + 1)
        if len(value) > MAX_FIELD:
            raise InvalidRequest(f"form field {self.name!r} is longer than {MAX_FIELD} bytes")
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidRequest(f"form field {self.name!r} is not UTF-8 text") from None


class MultipartReader:
    def __init__(self, boundary: bytes, pull: Callable[[], bytes]) -> None:
        self._pull = pull
        self._events: deque[tuple[str, Any]] = deque()
        self._field = b""
        self._value = b""
        self._headers: dict[str, bytes] = {}
        self._done = False
        self._parser = MultipartParser(boundary, cast(Any, self._callbacks()))

    @classmethod
    def of(cls, content_type: str | None, pull: Callable[[], bytes]) -> MultipartReader:
        kind, options = parse_options_header(content_type or "")
        boundary = options.get(b"boundary")
        if kind != b"multipart/form-data" or not boundary:
            raise InvalidRequest(
                "an upload is a multipart/form-data body with a boundary",
                hint="send the files as `files` parts (Client.create_dataset_version does)",
            )
        try:
            return cls(boundary, pull)
        except ValueError as exc:  # python-multipart refuses the boundary (too long)
            raise InvalidRequest(f"the upload's multipart boundary is refused: {exc}") from None

    def parts(self) -> Iterator[Part]:
        """Each part in turn; a part not read to its end is skipped when the next is asked for."""
        current: PartStream | None = None
        while True:
            if current is not None:
                current.drain()
            kind, value = self._next()
            if kind == _END:
                return
            if kind != _BEGIN:  # pragma: no cover (the parser begins every part)
                raise InvalidRequest("the upload's multipart body is malformed")
            disposition, options = parse_options_header(value.get("content-disposition", b""))
            if disposition != b"form-data" or b"name" not in options:
                raise InvalidRequest("each part of an upload needs a Content-Disposition with a name")
            current = PartStream(self)
            filename = options.get(b"filename")
            yield Part(
                name=options[b"name"].decode("utf-8", errors="replace"),
                filename=filename.decode("utf-8", errors="replace") if filename is not None else None,
                stream=current,
            )

    def _next(self) -> tuple[str, Any]:
        while not self._events:
            if self._done:
                raise InvalidRequest("the upload ended in the middle of its multipart body")
            chunk = self._pull()
            try:
                if chunk:
                    self._parser.write(chunk)
                else:
                    self._done = True
                    self._parser.finalize()
            except ValueError as exc:  # python-multipart's FormParserError is one
                raise InvalidRequest(f"the upload's multipart body is malformed: {exc}") from None
        return self._events.popleft()

    def _callbacks(self) -> dict[str, Callable[..., None]]:
        def header_field(data: bytes, start: int, end: int) -> None:
            self._field += data[start:end]

        def header_value(data: bytes, start: int, end: int) -> None:
            self._value += data[start:end]

        def header_end() -> None:
            self._headers[self._field.decode("latin-1").lower()] = self._value
            self._field = self._value = b""

        def headers_finished() -> None:
            self._events.append((_BEGIN, self._headers))
            self._headers = {}

        def part_data(data: bytes, start: int, end: int) -> None:
            self._events.append((_DATA, bytes(data[start:end])))

        return {
            "on_header_field": header_field,
            "on_header_value": header_value,
            "on_header_end": header_end,
            "on_headers_finished": headers_finished,
            "on_part_data": part_data,
            "on_part_end": lambda: self._events.append((_END_PART, None)),
            "on_end": lambda: self._events.append((_END, None)),
        }


class PartStream(io.RawIOBase):
    """The bytes of one part, read on into the body as they are asked for."""

    def __init__(self, reader: MultipartReader) -> None:
        self._reader = reader
        self._buffer = bytearray()
        self._ended = False

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        wanted = size if size is not None and size >= 0 else None
        while not self._ended and (wanted is None or len(self._buffer) < wanted):
            kind, value = self._reader._next()
            if kind == _DATA:
                self._buffer += value
            elif kind == _END_PART:
                self._ended = True
            else:  # pragma: no cover (the parser ends every part before the next)
                raise InvalidRequest("the upload's multipart body is malformed")
        cut = len(self._buffer) if wanted is None else min(wanted, len(self._buffer))
        given = bytes(self._buffer[:cut])
        del self._buffer[:cut]
        return given

    def readinto(self, target: Any) -> int:
        data = self.read(len(target))
        target[: len(data)] = data
        return len(data)

    def drain(self) -> None:
        while not self._ended:
            kind, _ = self._reader._next()
            self._ended = kind == _END_PART
        self._buffer.clear()

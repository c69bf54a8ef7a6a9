"""Strings that a user or a step controls, made safe to show on a terminal, as written.

Every renderer passes such strings (a step's log lines and metadata, names, tags, comments,
actors, file names, YAML lines, messages that quote any of them) through one of two functions::

    visible(text)   every control character shown as an escape: ``\\x1b``, ``\\x00``, ``\\u202e``;
                    for plain writes (live logs) and for ``rich.text.Text``
    shown(text)     ``visible``, cut to ``LINE_LIMIT`` characters a line, and escaped for Rich
                    markup: to put inside a renderer's markup (``f"[bold]{shown(name)}[/]"``)

Escaped: C0 controls except tab and newline, DEL, C1 controls (U+0080–U+009F; some terminals
read U+009B as CSI and U+009D as OSC), the bidi marks, embeddings, overrides and isolates
(U+061C, U+200E–U+200F, U+202A–U+202E, U+2066–U+2069) and the Unicode line and paragraph
separators. An escape sequence is neutralized by its introducer: with ``ESC`` shown as
``\\x1b``, the rest of ``ESC[31m`` is ordinary text, shown as written.

``--json`` needs none of this: ``json.dumps`` escapes every control and non-ASCII character.
"""

from __future__ import annotations

import re

from rich.markup import escape

LINE_LIMIT = 1000
"""The longest line ``shown`` keeps; the rest is replaced by a note of how much was cut."""

_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_TRAILING_BACKSLASHES = re.compile(r"\\+\Z")


def visible(value: object, limit: int | None = None) -> str:
    """``value`` as text with every control character escaped; lines cut past ``limit``.

    >>> visible("\\x1b[31mred\\u202e")
    '\\\\x1b[31mred\\\\u202e'
    """
    text = _CONTROL.sub(_escape, value if isinstance(value, str) else str(value))
    if limit is None or len(text) <= limit:
        return text
    return "\n".join(_cut(line, limit) for line in text.split("\n"))


def shown(value: object, limit: int | None = LINE_LIMIT) -> str:
    """``visible(value, limit)`` escaped for Rich markup, whatever markup comes around it.

    >>> shown("[/INST]")
    '\\\\[/INST]'
    """
    text = visible(value, limit)
    trailing = _TRAILING_BACKSLASHES.search(text)
    if trailing is None:
        return escape(text)
    # NOTE: a renderer may follow the text with a tag (`{name}[/]`), and backslashes before a
    # tag escape it. Rich's `escape` doubles one trailing backslash only; doubled, all of them,
    # and closed by an empty tag, they read as themselves before a tag or plain text alike.
    return escape(text[: trailing.start()]) + "\\" * (2 * len(trailing.group())) + "[i][/i]"


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def _cut(line: str, limit: int) -> str:
    if len(line) <= limit:
        return line
    return f"{line[:limit]}… ({len(line) - limit:,} more characters)"

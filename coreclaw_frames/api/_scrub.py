"""Keeping the client's own key out of every answer, before anything reads it.

A server that quotes the key back (in an error message, in a run's ``err_msg``) never gets it
any further: :func:`scrub_secret` replaces it in the body, also where a JSON string spells it
with escapes.
"""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["MIN_SECRET_CHARS", "REDACTED", "scrub_secret", "secret_bytes"]

#: What the key is replaced with in an answer that quotes it.
REDACTED = "***"
#: A key shorter than this is not looked for in answers: it could not be told apart from
#: ordinary text (CoreClaw's keys are far longer).
MIN_SECRET_CHARS = 8
# One escape of a JSON string: \uXXXX or a short escape. Those of ASCII characters decoded are
# enough to find an escaped key (keys are printable ASCII); scanning every escape keeps the
# scan aligned ("\\u0041" is a backslash and "u0041").
_JSON_ESCAPE = re.compile(rb'\\(?:u([0-9a-fA-F]{4})|(["\\/bfnrt]))')
_SHORT_ESCAPES = {b'"': b'"', b"\\": b"\\", b"/": b"/"}


def secret_bytes(key: str) -> bytes:
    """What :func:`scrub_secret` looks for when the key is ``key``: nothing for a short key.

    Examples
    --------
    >>> secret_bytes("sk-12345678"), secret_bytes("short")
    (b'sk-12345678', b'')
    """
    return key.encode() if len(key) >= MIN_SECRET_CHARS else b""


def scrub_secret(body: bytes, secret: bytes) -> bytes:
    r"""``body`` with every occurrence of ``secret`` replaced by :data:`REDACTED`, also where a
    JSON string spells it with escapes (``\u0073k-...``); ``body`` itself when it holds none.

    Examples
    --------
    >>> scrub_secret(b'{"message": "bad key sk-12345678"}', b"sk-12345678")
    b'{"message": "bad key ***"}'
    >>> scrub_secret(b'{"message": "bad key \\u0073k-12345678"}', b"sk-12345678")
    b'{"message":"bad key ***"}'
    """
    if not secret:
        return body
    if secret in body:
        body = body.replace(secret, REDACTED.encode())
    if b"\\" not in body or secret not in _JSON_ESCAPE.sub(_ascii_escape, body):
        return body
    text = secret.decode()
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):  # not JSON: what is quoted of it must not hold the key
        return _JSON_ESCAPE.sub(_ascii_escape, body).replace(secret, REDACTED.encode())
    clean = _scrub_strings(document, text)
    return json.dumps(clean, ensure_ascii=False, separators=(",", ":")).encode()


def _ascii_escape(match: re.Match[bytes]) -> bytes:
    code, short = match.groups()
    if short is not None:
        return _SHORT_ESCAPES.get(short, match.group(0))
    value = int(code, 16)
    return bytes([value]) if value < 0x80 else match.group(0)


def _scrub_strings(value: Any, secret: str) -> Any:
    """``value`` (decoded JSON) with ``secret`` replaced in every string, keys included."""
    if isinstance(value, str):
        return value.replace(secret, REDACTED)
    if isinstance(value, list):
        return [_scrub_strings(item, secret) for item in value]
    if isinstance(value, dict):
        return {
            _scrub_strings(key, secret): _scrub_strings(item, secret) for key, item in value.items()
        }
    return value

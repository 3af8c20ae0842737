"""The ``echo_key`` knob: a server that quotes the request's credential back in its answers.

Some servers put the key they were given into an error message ("invalid token sk-...") or
into a stored error text; a client must never show or store it. With ``echo_key`` the sandbox
does both, on v1 and v2 alike: every error envelope's ``message`` ends with the credential the
request carried, and so does the ``err_msg`` of every run record in an answer (a run detail or
a page of Run History). ``echo_key="escaped"`` spells the credential with JSON ``\\u`` escapes,
as a hostile server could, so that a byte search for the key finds nothing.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from coreclaw_frames.sandbox._protocol import JSON_CONTENT_TYPE, Answer

__all__ = ["ESCAPED", "echo_credential"]

#: The ``echo_key`` value that spells the credential with escapes (True: as it is).
ESCAPED = "escaped"


def echo_credential(answer: Answer, key: str, mode: bool | str) -> Answer:
    """``answer`` with ``key`` quoted in its error message and its runs' ``err_msg``.

    Examples
    --------
    >>> from coreclaw_frames.sandbox._protocol import json_answer
    >>> echoed = echo_credential(json_answer({"code": 4010, "message": "Unauthorized"}), "k1", True)
    >>> json.loads(echoed.body)["message"]
    'Unauthorized (key k1)'
    """
    if not mode or not key or answer.drop or answer.content_type != JSON_CONTENT_TYPE:
        return answer
    try:
        document = json.loads(answer.body)
    except ValueError:  # a truncated body stays as it is
        return answer
    if not isinstance(document, dict):
        return answer
    quote = f"(key {key})"
    if document.get("code") not in (0, None):
        document["message"] = f"{document.get('message')} {quote}"
    for record in _run_records(document.get("data")):
        if record.get("err_msg"):
            record["err_msg"] = f"{record['err_msg']} {quote}"
    body = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
    if mode == ESCAPED:
        plain = json.dumps(key, ensure_ascii=False)[1:-1].encode()
        body = body.replace(plain, "".join(f"\\u{ord(char):04x}" for char in key).encode())
    return replace(answer, body=body)


def _run_records(data: Any) -> list[dict[str, Any]]:
    """The run records of an answer's data: a run detail, or the list of a Run History page."""
    items = data.get("list") if isinstance(data, dict) and "list" in data else [data]
    if not isinstance(items, list):
        return []
    return [item for item in items if isinstance(item, dict) and "scraper_slug" in item]

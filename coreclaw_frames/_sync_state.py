"""What a sync remembers between runs: the small JSON file next to the data.

``.<name>.sync.json`` records the server, the API version and the account a path holds, the
earliest ``since`` listed, and when the previous sync began, by the **server's** clock (from
the ``Date`` of its answers), so that a machine whose clock is off neither lists too little
nor too much. The account is remembered without the key: an HMAC of the key under a random
salt kept in the file, which tells two keys apart and gives nothing away.

The file is written after the data, atomically; it is read strictly, and a file that is not
what a sync wrote is refused with an error naming it and what to do.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from coreclaw_frames._atomic import atomic_write

__all__ = ["STATE_FORMAT", "STATE_SUFFIX", "SyncState", "state_path"]

#: Version of the state file's layout. Format 1 (coreclaw-frames 0.1) had no account and kept
#: this machine's clock; it is read, and rewritten as format 2 by the next sync.
STATE_FORMAT = 2
STATE_SUFFIX = ".sync.json"
#: Bytes of random salt under which the key's HMAC is kept.
SALT_BYTES = 16
#: The largest time a state may hold (unix seconds, year 2200): anything later is damage.
LATEST_TIME = 7_258_118_400

_TIME_FIELDS = ("since", "listed_at", "synced_at")
_TEXT_FIELDS = ("base_url", "api_version")
_HEX_FIELDS = {"key_salt": 2 * SALT_BYTES, "key_digest": 64}


@dataclass(frozen=True)
class SyncState:
    """What a sync remembers of the previous one.

    Times are unix seconds by the server's clock: ``since`` the earliest time listed,
    ``listed_at`` when the previous sync began (the next lists from shortly before it),
    ``synced_at`` when it ended. ``key_salt`` and ``key_digest`` identify the API key, hence
    the account (``None`` in a state written before accounts were remembered).
    """

    base_url: str
    api_version: str
    since: int
    listed_at: int
    synced_at: int
    key_salt: str | None = None
    key_digest: str | None = None

    @classmethod
    def load(cls, target: Path) -> SyncState | None:
        """The state next to ``target``, or None before its first sync.

        Raises ValueError naming the file when it is not what a sync wrote.
        """
        path = state_path(target)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as exc:
            raise _damaged(path, f"it cannot be read: {exc}") from exc
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise _damaged(path, f"it is not JSON ({exc})") from exc
        return cls(**_checked(data, path))

    def save(self, target: Path) -> None:
        """Write the state next to ``target``, atomically."""
        document = json.dumps({"format": STATE_FORMAT, **asdict(self)}).encode()
        atomic_write(state_path(target), document)

    def same_key(self, digest_of: Any) -> bool | None:
        """Whether the key behind ``digest_of(salt)`` is the one this state remembers; None
        when it remembers none."""
        if self.key_salt is None or self.key_digest is None:
            return None
        return bool(
            secrets.compare_digest(digest_of(bytes.fromhex(self.key_salt)), self.key_digest)
        )


def new_key_fields(digest_of: Any) -> dict[str, str]:
    """``key_salt`` and ``key_digest`` for a new state: a fresh salt, and the key's HMAC."""
    salt = os.urandom(SALT_BYTES)
    return {"key_salt": salt.hex(), "key_digest": digest_of(salt)}


def state_path(target: Path) -> Path:
    """Where the sync state of ``target`` lives: a hidden sibling."""
    return target.with_name(f".{target.name}{STATE_SUFFIX}")


def _checked(data: Any, path: Path) -> dict[str, Any]:
    """The fields of a state document, each checked; ValueError naming what is wrong."""
    if not isinstance(data, dict):
        raise _damaged(path, f"it holds {_brief(data)}, not an object")
    version = data.get("format")
    if type(version) is not int or version < 1:
        raise _damaged(path, f"its format is {_brief(version)}, not a number")
    if version > STATE_FORMAT:
        raise ValueError(
            f"the sync state {str(path)!r} was written by a newer coreclaw-frames (format "
            f"{version}, this version reads up to {STATE_FORMAT}); upgrade coreclaw-frames"
        )
    expected = {*_TEXT_FIELDS, *_TIME_FIELDS, *(_HEX_FIELDS if version >= 2 else ())}
    present = set(data) - {"format"}
    if present != expected:
        missing, unknown = sorted(expected - present), sorted(present - expected)
        what = "; ".join(
            part
            for part in (
                f"missing {', '.join(missing)}" if missing else "",
                f"unexpected {', '.join(map(repr, unknown))}" if unknown else "",
            )
            if part
        )
        raise _damaged(path, f"its fields are wrong ({what})")
    for name in _TEXT_FIELDS:
        if not isinstance(data[name], str) or not data[name]:
            raise _damaged(path, f"{name} is {_brief(data[name])}, not a text")
    for name in _TIME_FIELDS:
        value = data[name]
        if type(value) is not int or not 0 <= value <= LATEST_TIME:
            raise _damaged(path, f"{name} is {_brief(value)}, not a time in unix seconds")
    for name, length in _HEX_FIELDS.items():
        value = data.get(name)
        if version >= 2 and not _is_hex(value, length):
            raise _damaged(path, f"{name} is {_brief(value)}, not {length} hex digits")
    return {name: data[name] for name in sorted(expected)}


def _is_hex(value: Any, length: int) -> bool:
    if not isinstance(value, str) or len(value) != length:
        return False
    try:
        bytes.fromhex(value)
    except ValueError:
        return False
    return True


def _brief(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _damaged(path: Path, why: str) -> ValueError:
    return ValueError(
        f"the sync state {str(path)!r} is damaged: {why}. Remove it and sync again with "
        "since= (the stored runs are kept; Run History is listed again from that date)"
    )

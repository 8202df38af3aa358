"""Identifier generation for FakeFleep.

Entity ids (accounts, conversations, files, ...) come from a seeded generator so that a test run
is reproducible. Secrets (token_id, ticket, hook url ids, notification ids) come from
:mod:`secrets`: a fake server that may listen on a socket must not hand out guessable sessions.
"""

from __future__ import annotations

import base64
import random
import secrets
import uuid


class IdSource:
    """Seeded source of entity ids plus an unseeded source of secrets."""

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)

    def uuid(self) -> str:
        """A hyphenated UUID4-shaped string (36 chars), reproducible under the seed."""
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def short(self) -> str:
        """A 22-char url-safe base64 id (the form Fleep uses in URLs), reproducible."""
        return b64_id(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    @staticmethod
    def token_id() -> str:
        """A session cookie value: a 36-char UUID."""
        return str(uuid.UUID(bytes=secrets.token_bytes(16), version=4))

    @staticmethod
    def ticket() -> str:
        """A session ticket: 20 lowercase hex chars."""
        return secrets.token_hex(10)

    @staticmethod
    def secret_short() -> str:
        """A 22-char url-safe base64 secret (hook url ids)."""
        return b64_id(uuid.UUID(bytes=secrets.token_bytes(16), version=4))

    @staticmethod
    def secret_uuid() -> str:
        """An unguessable UUID string (notification ids)."""
        return str(uuid.UUID(bytes=secrets.token_bytes(16), version=4))


def b64_id(value: uuid.UUID) -> str:
    """The 22-char url-safe base64 form of a UUID (no padding)."""
    return base64.urlsafe_b64encode(value.bytes).decode("ascii").rstrip("=")


def is_uuid(value: object) -> bool:
    """True for a hyphenated 36-char UUID string."""
    if not isinstance(value, str) or len(value) != 36:
        return False
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True

"""The dead-letter stream: list what the workers gave up on, and replay it.

A record lands in ``FLEEP_DEAD`` (subject ``fleep.dead.<account>.<partition>``) with its original
bytes and the headers ``Fleep-Error`` (type and message, redacted), ``Fleep-Deliveries``,
``Fleep-Original-Subject`` and its ``Nats-Msg-Id``. :func:`replay_dead_letters` publishes each one
back to its original subject and only then deletes it from the dead-letter stream: a crash in
between leaves it in both places (replayed once more by the next replay: handlers see it at least
once, and replies keep their record-derived ``client_req_id``), never in neither.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from typing import TYPE_CHECKING

import attrs

from fleep_async.cluster._nats import (
    DEAD_STREAM,
    DEAD_SUBJECT_PREFIX,
    EVENTS_STREAM,
    HEADER_ACCOUNT,
    HEADER_DELIVERIES,
    HEADER_ERROR,
    HEADER_MSG_ID,
    HEADER_ORIGINAL_SUBJECT,
)
from fleep_async.errors import ClusterError

if TYPE_CHECKING:
    from nats.js.client import JetStreamContext

__all__ = ["DeadLetter", "dead_letters", "replay_dead_letters"]


@attrs.frozen(kw_only=True)
class DeadLetter:
    """One record in the dead-letter stream.

    Attributes:
        sequence: its sequence in ``FLEEP_DEAD`` (what :func:`replay_dead_letters` deletes).
        subject: its subject there (``fleep.dead.<account>.<partition>``).
        original_subject: where it was published first (and is replayed to).
        account_id: the account it belongs to.
        error: why it was given up (type and message, redacted).
        deliveries: how many times it was delivered.
        msg_id: its ``Nats-Msg-Id`` (``<account>:<idempotency key>``).
        time: when it was dead-lettered (UTC), if the server said.
        data: the raw record JSON, as the server sent it.
    """

    sequence: int
    subject: str
    original_subject: str
    account_id: str
    error: str
    deliveries: int
    msg_id: str
    time: datetime.datetime | None
    data: bytes = attrs.field(repr=False)


async def dead_letters(js: JetStreamContext, *, limit: int | None = None) -> list[DeadLetter]:
    """The records in the dead-letter stream, oldest first (at most ``limit``).

    Raises:
        ClusterError: the dead-letter stream does not exist (no poller ever set the tier up).
    """
    import nats.js.errors

    found: list[DeadLetter] = []
    sequence = 1
    while limit is None or len(found) < limit:
        try:
            raw = await js.get_msg(
                DEAD_STREAM, seq=sequence, subject=f"{DEAD_SUBJECT_PREFIX}.>", next=True
            )
        except nats.js.errors.NotFoundError as exc:
            if exc.err_code == 10059:  # JSStreamNotFoundErr
                raise ClusterError(
                    f"the stream {DEAD_STREAM} does not exist (start a poller, or ensure_stream)"
                ) from exc
            break  # no message at or after this sequence
        headers = raw.headers or {}
        seq = raw.seq or sequence
        deliveries = headers.get(HEADER_DELIVERIES, "0")
        found.append(
            DeadLetter(
                sequence=seq,
                subject=raw.subject or "",
                original_subject=headers.get(HEADER_ORIGINAL_SUBJECT, ""),
                account_id=headers.get(HEADER_ACCOUNT, ""),
                error=headers.get(HEADER_ERROR, ""),
                deliveries=int(deliveries) if deliveries.isdigit() else 0,
                msg_id=headers.get(HEADER_MSG_ID, ""),
                time=raw.time,
                data=raw.data or b"",
            )
        )
        sequence = seq + 1
    return found


async def replay_dead_letters(js: JetStreamContext, letters: Iterable[DeadLetter]) -> int:
    """Publish each dead letter back to its original subject, then delete it; return how many.

    The replayed record gets the ``Nats-Msg-Id`` ``<original>:replay:<dead-letter sequence>``:
    new to the events stream (whose de-duplication window would drop the original id), the
    same on a repeated replay of the same dead letter. It is handled after what the partition
    received meanwhile.

    Raises:
        ClusterError: a dead letter has no original subject (it was not written by a worker).
    """
    replayed = 0
    for letter in letters:
        if not letter.original_subject:
            raise ClusterError(
                f"dead letter {letter.sequence} has no {HEADER_ORIGINAL_SUBJECT} header"
            )
        headers = {HEADER_MSG_ID: f"{letter.msg_id}:replay:{letter.sequence}"}
        if letter.account_id:
            headers[HEADER_ACCOUNT] = letter.account_id
        await js.publish(
            letter.original_subject, letter.data, stream=EVENTS_STREAM, headers=headers
        )
        await js.delete_msg(DEAD_STREAM, letter.sequence)
        replayed += 1
    return replayed

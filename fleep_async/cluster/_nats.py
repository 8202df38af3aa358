"""The fixed names of the NATS JetStream tier, the connection and the stream and bucket setup.

Every process of the tier (pollers, workers, ``cluster status``) agrees on these names; they are
part of the operator's contract (``docs/cluster.md``), so they never change silently.

- Stream ``FLEEP_EVENTS``: subjects ``fleep.events.<account_id>.<partition>.<kind>``; payload =
  the raw record JSON as the server sent it; headers ``Nats-Msg-Id`` =
  ``<account_id>:<idempotency key>`` (JetStream stores a repeat within the duplicate window
  once), ``Fleep-Account``, ``Fleep-Horizon``.
- Stream ``FLEEP_DEAD``: subjects ``fleep.dead.<account_id>.<partition>``.
- KV buckets ``fleep_leases`` (TTL = the lease TTL), ``fleep_checkpoints``, ``fleep_effects``.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any, Final, TypeVar

import anyio
import attrs

from fleep_async.errors import ClusterUnavailableError, UsageError, redact
from fleep_async.events._dedup import Deduplicator

if TYPE_CHECKING:
    from nats.aio.client import Client as NATS
    from nats.js.client import JetStreamContext
    from nats.js.kv import KeyValue

__all__ = [
    "CHECKPOINTS_BUCKET",
    "DEAD_STREAM",
    "DEAD_SUBJECT_PREFIX",
    "DEFAULT_EFFECTS_TTL",
    "DEFAULT_LEASE_TTL",
    "DEFAULT_PARTITIONS",
    "DUPLICATE_WINDOW",
    "EFFECTS_BUCKET",
    "EVENTS_STREAM",
    "EVENTS_SUBJECT_PREFIX",
    "HEADER_ACCOUNT",
    "HEADER_DELIVERIES",
    "HEADER_ERROR",
    "HEADER_HORIZON",
    "HEADER_MSG_ID",
    "HEADER_ORIGINAL_SUBJECT",
    "HEADER_PUBLISHER",
    "LEASES_BUCKET",
    "Buckets",
    "bucket_keys",
    "connect",
    "dead_subject",
    "ensure_buckets",
    "ensure_stream",
    "event_subject",
    "message_id",
    "partition_lease_key",
    "partition_of",
    "poller_lease_key",
    "poller_member_key",
    "record_partition",
    "worker_key",
]

logger = logging.getLogger("fleep_async.cluster")

EVENTS_STREAM: Final = "FLEEP_EVENTS"
EVENTS_SUBJECT_PREFIX: Final = "fleep.events"
DEAD_STREAM: Final = "FLEEP_DEAD"
DEAD_SUBJECT_PREFIX: Final = "fleep.dead"
LEASES_BUCKET: Final = "fleep_leases"
CHECKPOINTS_BUCKET: Final = "fleep_checkpoints"
EFFECTS_BUCKET: Final = "fleep_effects"

HEADER_MSG_ID: Final = "Nats-Msg-Id"
HEADER_ACCOUNT: Final = "Fleep-Account"
HEADER_HORIZON: Final = "Fleep-Horizon"
HEADER_ERROR: Final = "Fleep-Error"
HEADER_DELIVERIES: Final = "Fleep-Deliveries"
HEADER_ORIGINAL_SUBJECT: Final = "Fleep-Original-Subject"
HEADER_PUBLISHER: Final = "Fleep-Publisher"
"""Which poller process published a record (its lease holder id): for operators and audits."""

DEFAULT_PARTITIONS: Final = 16
DEFAULT_LEASE_TTL: Final = 5.0
"""Seconds a lease lives without renewal (renewed every third of it)."""
DUPLICATE_WINDOW: Final = 120.0
"""Seconds within which the stream stores a repeated ``Nats-Msg-Id`` once."""
DEFAULT_EFFECTS_TTL: Final = 7 * 24 * 3600.0

# A subject token: no dots, wildcards or whitespace. Fleep ids and record kinds already fit;
# anything else is mapped, never allowed to split or widen a subject.
_UNSAFE_TOKEN: Final = re.compile(r"[^A-Za-z0-9_\-]")
# JetStream's "insufficient resources" (not enough servers for the replicas asked) and
# "replicas > 1 not supported in non-clustered mode" (a single server).
_TOO_FEW_SERVERS: Final = frozenset({10023, 10074})
_STREAM_NAME_IN_USE: Final = 10058


def _token(value: str) -> str:
    token = _UNSAFE_TOKEN.sub("_", value)
    return token or "_"


def partition_of(key: str, partitions: int = DEFAULT_PARTITIONS) -> int:
    """The partition of a conversation id (or of a record identity): a stable hash modulo P.

    The same on every machine and Python version (no ``hash()``: it is salted per process).
    """
    if partitions < 1:
        raise UsageError("partitions must be >= 1")
    digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % partitions


def record_partition(raw: Mapping[str, Any], partitions: int = DEFAULT_PARTITIONS) -> int:
    """The partition of a raw record: by its conversation, else by its identity key."""
    conversation_id = raw.get("conversation_id")
    if isinstance(conversation_id, str) and conversation_id:
        return partition_of(conversation_id, partitions)
    return partition_of(Deduplicator.key(raw)[0], partitions)


def event_subject(account_id: str, partition: int, kind: str) -> str:
    """``fleep.events.<account_id>.<partition>.<kind>``."""
    return f"{EVENTS_SUBJECT_PREFIX}.{_token(account_id)}.{partition}.{_token(kind)}"


def dead_subject(account_id: str, partition: int) -> str:
    """``fleep.dead.<account_id>.<partition>``."""
    return f"{DEAD_SUBJECT_PREFIX}.{_token(account_id)}.{partition}"


def message_id(account_id: str, raw: Mapping[str, Any]) -> str:
    """``Nats-Msg-Id`` of a record: ``<account_id>:<the engine's idempotency key>``.

    The key is :attr:`Context.idempotency_key <fleep_async.events.Context.idempotency_key>`'s:
    the same revision of a record has the same id however often it is published.
    """
    return f"{account_id}:{Deduplicator.key(raw)[0]}"


def poller_lease_key(account_id: str) -> str:
    """The key of an account's poller lease in ``fleep_leases``."""
    return f"poller.{_token(account_id)}"


def poller_member_key(holder: str) -> str:
    """The key a live poller process keeps in ``fleep_leases`` (replicas count them to share
    the accounts out)."""
    return f"member.poller.{_token(holder)}"


def partition_lease_key(account_id: str, partition: int) -> str:
    """The key of a partition lease in ``fleep_leases``."""
    return f"partition.{_token(account_id)}.{partition}"


def worker_key(worker_id: str) -> str:
    """The key a live worker keeps in ``fleep_leases``."""
    return f"worker.{_token(worker_id)}"


def _safe_servers(servers: Sequence[str]) -> tuple[str, ...]:
    # nats://user:pass@host: the credentials never reach an error message or a log line.
    return tuple(re.sub(r"//[^@/]*@", "//***@", redact(s)) for s in servers)


async def connect(
    servers: str | Sequence[str],
    *,
    name: str | None = None,
    connect_timeout: float = 5.0,
    **options: Any,
) -> NATS:
    """Connect to NATS (reconnecting forever once connected); check that JetStream answers.

    Args:
        servers: ``nats://host:port`` URL(s); several are tried in turn.
        name: the connection name the server shows (``fleep-async poller host:pid``).
        connect_timeout: seconds for the first connection (each server) and the JetStream check.
        **options: more ``nats.connect`` options (credentials, TLS).

    Raises:
        ClusterUnavailableError: no server answered, or JetStream is not enabled.
    """
    import nats
    import nats.errors
    import nats.js.errors

    urls = [servers] if isinstance(servers, str) else list(servers)
    if not urls:
        raise UsageError("at least one NATS server URL is needed")
    shown = _safe_servers(urls)

    async def on_error(exc: Exception) -> None:
        logger.warning("NATS: %s", redact(str(exc)) or type(exc).__name__)

    made: list[NATS] = []

    async def on_disconnected() -> None:
        if made and made[0].is_closed:
            return  # our own close()
        logger.warning("NATS: disconnected; reconnecting")

    async def on_reconnected() -> None:
        logger.info("NATS: reconnected")

    settings: dict[str, Any] = {
        "servers": urls,
        "connect_timeout": connect_timeout,
        # The first connection tries each server twice and fails (an operator typo must not
        # hang); once connected the client reconnects forever (set below): a NATS node restart
        # is routine in a cluster.
        "allow_reconnect": True,
        "max_reconnect_attempts": 1,
        "reconnect_time_wait": 0.5,
        "error_cb": on_error,
        "disconnected_cb": on_disconnected,
        "reconnected_cb": on_reconnected,
    }
    if name is not None:
        settings["name"] = name
    settings.update(options)
    try:
        client = await nats.connect(**settings)
    except (OSError, TimeoutError, nats.errors.Error) as exc:
        reason = redact(str(exc)) or type(exc).__name__
        raise ClusterUnavailableError(
            f"cannot connect to NATS at {', '.join(shown)}: {reason}",
            servers=shown,
        ) from exc
    made.append(client)
    client.options["max_reconnect_attempts"] = options.get("max_reconnect_attempts", -1)
    try:
        await client.jetstream(timeout=connect_timeout).account_info()
    except (TimeoutError, nats.errors.Error) as exc:
        await client.close()
        raise ClusterUnavailableError(
            f"NATS at {', '.join(shown)} answers but JetStream does not "
            f"(start nats-server with -js): {redact(str(exc)) or type(exc).__name__}",
            servers=shown,
        ) from exc
    return client


#: How long :func:`ensure_stream` and :func:`ensure_buckets` keep asking a JetStream that does
#: not answer in time (seconds; each attempt waits the context's own timeout).
SETUP_RETRY_FOR: Final = 30.0

_T = TypeVar("_T")


async def _patiently(what: str, deadline: float, call: Callable[[], Awaitable[_T]]) -> _T:
    """``call()``, asked again while JetStream does not answer in time, until ``deadline``.

    Only for setup calls that are idempotent (creating or reading a stream or bucket with the
    same config): a timeout does not say whether the request was applied, so it is asked
    again. A cluster electing a leader, or a loaded machine, answers such calls late.
    """
    import nats.errors

    while True:
        try:
            return await call()
        except nats.errors.TimeoutError:
            if anyio.current_time() >= deadline:
                raise
            logger.warning("JetStream did not answer %s in time; asking again", what)


async def _add_stream(
    js: JetStreamContext, replicas: int | None, deadline: float, **config: Any
) -> int:
    """Create or update a stream with ``replicas`` (or 3, then 1 on a single node)."""
    import nats.js.errors

    name = config["name"]
    tried = [replicas] if replicas is not None else [3, 1]
    for count in tried:
        try:
            await _patiently(
                f"creating {name}", deadline, partial(js.add_stream, num_replicas=count, **config)
            )
        except nats.js.errors.APIError as exc:
            if exc.err_code == _STREAM_NAME_IN_USE:
                # Exists with another config: keep its replica count, update the rest.
                info = await _patiently(f"reading {name}", deadline, lambda: js.stream_info(name))
                kept = info.config.num_replicas
                await _patiently(
                    f"updating {name}",
                    deadline,
                    partial(js.update_stream, num_replicas=kept, **config),
                )
                return kept or 1
            if exc.err_code in _TOO_FEW_SERVERS and count != tried[-1]:
                continue
            raise
        return count
    raise AssertionError("unreachable")  # pragma: no cover


async def ensure_stream(
    js: JetStreamContext, *, replicas: int | None = None, retry_for: float = SETUP_RETRY_FOR
) -> int:
    """Create (or update) the ``FLEEP_EVENTS`` and ``FLEEP_DEAD`` streams; return the replicas.

    File storage, limits retention, ``duplicate_window`` 2 min, discard new when full (a
    publisher then waits and retries: nothing is dropped). ``replicas=None``: R3, or R1 when
    the cluster has fewer than three nodes. A request JetStream does not answer in time is
    asked again for up to ``retry_for`` seconds, then ``nats.errors.TimeoutError`` is raised.
    """
    deadline = anyio.current_time() + retry_for
    from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType

    common: dict[str, Any] = {
        "storage": StorageType.FILE,
        "retention": RetentionPolicy.LIMITS,
        "discard": DiscardPolicy.NEW,
        "duplicate_window": DUPLICATE_WINDOW,
        "max_msgs_per_subject": -1,
    }
    count = await _add_stream(
        js,
        replicas,
        deadline,
        name=EVENTS_STREAM,
        subjects=[f"{EVENTS_SUBJECT_PREFIX}.>"],
        **common,
    )
    await _add_stream(
        js, count, deadline, name=DEAD_STREAM, subjects=[f"{DEAD_SUBJECT_PREFIX}.>"], **common
    )
    return count


@attrs.frozen
class Buckets:
    """The tier's KV buckets."""

    leases: KeyValue
    checkpoints: KeyValue
    effects: KeyValue
    lease_ttl: float
    """The TTL of ``fleep_leases`` (what every lease in it lives without renewal)."""


async def _bucket(
    js: JetStreamContext, name: str, ttl: float | None, replicas: int, deadline: float
) -> KeyValue:
    import nats.js.errors
    from nats.js.api import StorageType

    try:
        return await _patiently(f"opening {name}", deadline, lambda: js.key_value(name))
    except nats.js.errors.BucketNotFoundError:
        pass
    try:
        return await _patiently(
            f"creating {name}",
            deadline,
            lambda: js.create_key_value(
                bucket=name, ttl=ttl, history=1, replicas=replicas, storage=StorageType.FILE
            ),
        )
    except nats.js.errors.BadRequestError as exc:
        if exc.err_code == _STREAM_NAME_IN_USE:
            # Another process created it meanwhile.
            return await _patiently(f"opening {name}", deadline, lambda: js.key_value(name))
        raise


async def ensure_buckets(
    js: JetStreamContext,
    *,
    lease_ttl: float = DEFAULT_LEASE_TTL,
    effects_ttl: float = DEFAULT_EFFECTS_TTL,
    replicas: int | None = None,
    retry_for: float = SETUP_RETRY_FOR,
) -> Buckets:
    """Create (or open) ``fleep_leases``, ``fleep_checkpoints`` and ``fleep_effects``.

    The lease TTL is the ``fleep_leases`` bucket's: an existing bucket keeps its own (its TTL is
    returned in :attr:`Buckets.lease_ttl`, and a different one asked for is logged).
    ``replicas=None``: the replica count of the ``FLEEP_EVENTS`` stream (see
    :func:`ensure_stream`), or 1 without it. Requests JetStream does not answer in time are
    asked again for up to ``retry_for`` seconds, as in :func:`ensure_stream`.
    """
    import nats.js.errors

    if lease_ttl <= 0 or effects_ttl <= 0:
        raise UsageError("TTLs must be > 0")
    deadline = anyio.current_time() + retry_for
    if replicas is None:
        try:
            info = await _patiently(
                f"reading {EVENTS_STREAM}", deadline, lambda: js.stream_info(EVENTS_STREAM)
            )
            replicas = info.config.num_replicas or 1
        except nats.js.errors.NotFoundError:
            replicas = 1
    leases = await _bucket(js, LEASES_BUCKET, lease_ttl, replicas, deadline)
    status = await _patiently(f"reading {LEASES_BUCKET}", deadline, leases.status)
    actual = status.ttl or lease_ttl
    if abs(actual - lease_ttl) > 1e-3:
        logger.warning(
            "bucket %s has a TTL of %.3fs (asked %.3fs): leases live %.3fs",
            LEASES_BUCKET,
            actual,
            lease_ttl,
            actual,
        )
    checkpoints = await _bucket(js, CHECKPOINTS_BUCKET, None, replicas, deadline)
    effects = await _bucket(js, EFFECTS_BUCKET, effects_ttl, replicas, deadline)
    return Buckets(leases=leases, checkpoints=checkpoints, effects=effects, lease_ttl=actual)


#: A key listing's consumer, should the listing die half-way (the process killed, the
#: connection lost), goes by itself after this long idle (seconds); normally it is deleted at
#: once.
_LISTING_INACTIVE: Final = 30.0
#: The longest a listing may take (seconds): a lost delivery must not hang a rebalance.
_LISTING_TIMEOUT: Final = 10.0
#: KV headers that mark a key deleted or purged (by a client, or by the server's own markers).
_KV_OPERATION: Final = "KV-Operation"
_MARKER_REASON: Final = "Nats-Marker-Reason"


async def bucket_keys(js: JetStreamContext, bucket: str, pattern: str = ">") -> list[str]:
    """The live keys of KV ``bucket`` that match the subject ``pattern``, in stream order.

    nats-py's ``KeyValue.keys()`` (a watch) is not fit for a process that lists every few
    seconds: it decides the listing is over by comparing the consumer's pending count with what
    its callback has handled so far, so on a busy machine it can end before the first key
    arrives and answer "no keys"; and the server keeps each listing's consumer five minutes,
    so a worker rebalancing every TTL/3 reaches nats-server 2.15's default cap of 1,000
    consumers per stream. Here the listing's consumer delivers the last message of each
    subject to an inbox subscribed beforehand; the consumer's creation answer says exactly how
    many there are, and each message says how many are still to come (writes made since
    included), so the listing ends when nothing is pending. The consumer is then deleted.

    Raises ``nats.errors.TimeoutError`` when the listing takes longer than 10 s, and
    ``nats.js.errors.NotFoundError`` when the bucket does not exist.
    """
    import nats.errors
    from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

    nc = js._nc  # nats-py keeps no public handle; the listing needs a plain subscription
    stream = f"KV_{bucket}"
    prefix = f"$KV.{bucket}."
    inbox = nc.new_inbox()
    sub = await nc.subscribe(inbox)
    live: dict[str, None] = {}  # insertion-ordered; a key deleted during the listing goes
    consumer: str | None = None
    try:
        config = ConsumerConfig(
            deliver_subject=inbox,
            deliver_policy=DeliverPolicy.LAST_PER_SUBJECT,
            ack_policy=AckPolicy.NONE,
            filter_subject=prefix + pattern,
            headers_only=True,
            inactive_threshold=_LISTING_INACTIVE,
            mem_storage=True,
            num_replicas=1,
        )
        info = await js.add_consumer(stream, config)
        consumer = info.name
        pending = info.num_pending or 0
        try:
            with anyio.fail_after(_LISTING_TIMEOUT):
                while pending:
                    msg = await sub.next_msg(timeout=None)
                    key = msg.subject[len(prefix) :]
                    headers = msg.headers or {}
                    if _KV_OPERATION in headers or _MARKER_REASON in headers:
                        live.pop(key, None)  # DEL, PURGE or a server's expiry marker
                    else:
                        live[key] = None
                    pending = msg.metadata.num_pending or 0
        except TimeoutError as exc:
            raise nats.errors.TimeoutError from exc
    finally:
        await _quietly(sub.unsubscribe())
        if consumer is not None:
            await _quietly(js.delete_consumer(stream, consumer))
    return list(live)


async def _quietly(step: Any) -> None:
    """Await a clean-up ``step`` even when cancelled (bounded); a failure (the connection gone)
    is logged, not raised: the consumer then goes by its inactivity threshold."""
    import nats.errors

    with anyio.CancelScope(shield=True), anyio.move_on_after(5.0):
        try:
            await step
        except (TimeoutError, OSError, nats.errors.Error) as exc:
            logger.debug("cleaning up a key listing failed: %s", exc)

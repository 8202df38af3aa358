"""The NATS JetStream tier: pollers with failover and workers that scale out (``docs/cluster.md``).

Needs the ``nats`` extra (``pip install 'fleep-async[nats]'``). Nothing in the core imports this
package; it builds on :mod:`fleep_async.events`.
"""

from __future__ import annotations

from fleep_async.cluster._dead import DeadLetter, dead_letters, replay_dead_letters
from fleep_async.cluster._effects import EffectLedger, effect_key
from fleep_async.cluster._lease import Lease, process_id
from fleep_async.cluster._metrics import Metrics
from fleep_async.cluster._nats import (
    CHECKPOINTS_BUCKET,
    DEAD_STREAM,
    DEAD_SUBJECT_PREFIX,
    DEFAULT_EFFECTS_TTL,
    DEFAULT_LEASE_TTL,
    DEFAULT_PARTITIONS,
    DUPLICATE_WINDOW,
    EFFECTS_BUCKET,
    EVENTS_STREAM,
    EVENTS_SUBJECT_PREFIX,
    HEADER_ACCOUNT,
    HEADER_DELIVERIES,
    HEADER_ERROR,
    HEADER_HORIZON,
    HEADER_MSG_ID,
    HEADER_ORIGINAL_SUBJECT,
    HEADER_PUBLISHER,
    LEASES_BUCKET,
    Buckets,
    bucket_keys,
    connect,
    dead_subject,
    ensure_buckets,
    ensure_stream,
    event_subject,
    message_id,
    partition_lease_key,
    partition_of,
    poller_lease_key,
    poller_member_key,
    record_partition,
    worker_key,
)
from fleep_async.cluster._poller import AccountPoller, ClusterPoller
from fleep_async.cluster._store import JetStreamHorizonStore
from fleep_async.cluster._worker import (
    DEFAULT_ACK_WAIT,
    DEFAULT_MAX_DELIVER,
    ClusterWorker,
    WorkerHealth,
    consumer_name,
)
from fleep_async.errors import ClusterError, ClusterUnavailableError, FencedError

__all__ = [
    # setup
    "connect",
    "ensure_stream",
    "bucket_keys",
    "ensure_buckets",
    "Buckets",
    # the poller
    "ClusterPoller",
    "AccountPoller",
    # leases and checkpoints
    "Lease",
    "process_id",
    "JetStreamHorizonStore",
    # names
    "EVENTS_STREAM",
    "EVENTS_SUBJECT_PREFIX",
    "DEAD_STREAM",
    "DEAD_SUBJECT_PREFIX",
    "LEASES_BUCKET",
    "CHECKPOINTS_BUCKET",
    "EFFECTS_BUCKET",
    "HEADER_MSG_ID",
    "HEADER_ACCOUNT",
    "HEADER_HORIZON",
    "HEADER_ERROR",
    "HEADER_DELIVERIES",
    "HEADER_ORIGINAL_SUBJECT",
    "HEADER_PUBLISHER",
    "DEFAULT_PARTITIONS",
    "DEFAULT_LEASE_TTL",
    "DUPLICATE_WINDOW",
    "DEFAULT_EFFECTS_TTL",
    "partition_of",
    "record_partition",
    "event_subject",
    "dead_subject",
    "message_id",
    "poller_lease_key",
    "poller_member_key",
    "partition_lease_key",
    "worker_key",
    # workers
    "ClusterWorker",
    "WorkerHealth",
    "EffectLedger",
    "Metrics",
    "DeadLetter",
    "dead_letters",
    "replay_dead_letters",
    "effect_key",
    "consumer_name",
    "DEFAULT_ACK_WAIT",
    "DEFAULT_MAX_DELIVER",
    # errors
    "ClusterError",
    "ClusterUnavailableError",
    "FencedError",
]

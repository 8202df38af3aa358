"""Prometheus metrics for the single-process engine and the cluster tier (extra ``[metrics]``).

::

    from prometheus_client import start_http_server
    from fleep_async.cluster import Metrics

    metrics = Metrics()                      # registers with prometheus_client's REGISTRY
    metrics.track_engine(engine)             # a single-process bot ...
    router.outer_middleware(metrics.timer)   # ... and its handler latency
    metrics.track_worker(worker)             # or a cluster worker (latency included)
    metrics.track_poller(poller)             # or a cluster poller (publish latency included)
    start_http_server(9100)

Values are read from the components' ``health`` snapshots (a poller's accounts) when Prometheus
scrapes, so tracking costs nothing between scrapes; only the latency histograms are fed per
record. Every series has a ``source`` label (``engine:<name>``, ``worker:<id>``,
``poller:<id>``) so that several components can share one process and one registry; the
poller's per-account series add ``account``.

=================================  =========  ====================================================
metric                             type       meaning
=================================  =========  ====================================================
fleep_poll_lag_events              gauge      events received and not yet committed (horizon lag)
fleep_poll_age_seconds             gauge      seconds since the last successful poll
fleep_queue_depth                  gauge      records admitted and not finished (engine)
fleep_in_flight                    gauge      handlers running now
fleep_stream_pending               gauge      records waiting in the stream (worker's partitions;
                                              cluster-wide with :meth:`Metrics.watch_cluster`)
fleep_handled_total                counter    records a handler took and finished
fleep_handler_errors_total         counter    failed handler attempts
fleep_redeliveries_total           counter    records delivered again (worker)
fleep_dead_letters_total           counter    records given up (dead-lettered)
fleep_dead_letter_stream_messages  gauge      records in ``FLEEP_DEAD`` (``watch_cluster``)
fleep_lease_changes_total          counter    leases taken, lost or released; labels ``lease``
                                              (``partition``, ``poller``, ``member``) and
                                              ``change`` (``gained``, ``lost``, ``released``)
fleep_partitions_held              gauge      partitions a worker holds
fleep_live_workers                 gauge      workers alive, as a worker last saw
fleep_handler_seconds              histogram  time from dispatch to the handler's return
fleep_poller_active                gauge      1 if this poller holds the account's lease
fleep_poller_poll_age_seconds      gauge      seconds since the account's last completed poll
                                              (active accounts only)
fleep_poller_record_age_seconds    gauge      seconds since the stream acknowledged the
                                              account's newest record (active accounts only)
fleep_poller_publish_pending       gauge      records of the answer in hand not acknowledged yet
fleep_poller_published_total       counter    records the stream acknowledged (repeats included)
fleep_poller_publish_failures      counter    publish attempts that failed and were retried
  _total                                      (a full stream, a node down)
fleep_publish_seconds              histogram  time from a publish to its acknowledgement
=================================  =========  ====================================================
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import anyio

from fleep_async.cluster._nats import DEAD_STREAM, EVENTS_STREAM
from fleep_async.errors import UsageError

if TYPE_CHECKING:
    from nats.js.client import JetStreamContext
    from prometheus_client.core import Metric
    from prometheus_client.registry import CollectorRegistry

    from fleep_async.cluster._lease import Lease
    from fleep_async.cluster._poller import ClusterPoller
    from fleep_async.cluster._worker import ClusterWorker
    from fleep_async.events import Context, EngineHealth, EventEngine, NextHandler

__all__ = ["Metrics"]

_LATENCY_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    """Prometheus metrics of engines and workers in this process.

    Args:
        registry: where to register (default: ``prometheus_client``'s global ``REGISTRY``).

    Raises:
        UsageError: ``prometheus-client`` is not installed (``pip install 'fleep-async[metrics]'``).
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        try:
            from prometheus_client import REGISTRY, Histogram
        except ImportError as exc:  # pragma: no cover - the extra is part of dev
            raise UsageError(
                "metrics need prometheus-client: pip install 'fleep-async[metrics]'"
            ) from exc
        self.registry = registry if registry is not None else REGISTRY
        self._engines: dict[str, EventEngine[Any]] = {}
        self._workers: dict[str, ClusterWorker[Any]] = {}
        self._pollers: dict[str, ClusterPoller] = {}
        self._cluster: dict[str, float] = {}
        self.handler_seconds = Histogram(
            "fleep_handler_seconds",
            "Time from dispatch to the handler's return, per record kind.",
            ["source", "kind"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.publish_seconds = Histogram(
            "fleep_publish_seconds",
            "Time from a poller's publish to the stream's acknowledgement.",
            ["source"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(self)

    def __repr__(self) -> str:
        return (
            f"Metrics(engines={len(self._engines)}, workers={len(self._workers)}, "
            f"pollers={len(self._pollers)})"
        )

    # -- sources ------------------------------------------------------------------------------

    def track_engine(self, engine: EventEngine[Any], name: str = "bot") -> None:
        """Report ``engine``'s health as ``source="engine:<name>"``."""
        self._engines[f"engine:{name}"] = engine

    def track_worker(self, worker: ClusterWorker[Any]) -> None:
        """Report ``worker``'s health as ``source="worker:<id>"``, and time its handlers."""
        source = f"worker:{worker.worker_id}"
        self._workers[source] = worker
        previous = worker.on_handled
        observe = self.handler_seconds.labels

        def on_handled(kind: str, seconds: float) -> None:
            observe(source, kind).observe(seconds)
            if previous is not None:
                previous(kind, seconds)

        worker.on_handled = on_handled

    def track_poller(self, poller: ClusterPoller) -> None:
        """Report ``poller``'s accounts as ``source="poller:<holder>"``, and time its publishes."""
        source = f"poller:{poller.holder}"
        self._pollers[source] = poller
        observe = self.publish_seconds.labels(source).observe
        for account in poller.accounts.values():
            previous = account.on_published

            def on_published(
                seconds: float, previous: Callable[[float], Any] | None = previous
            ) -> None:
                observe(seconds)
                if previous is not None:
                    previous(seconds)

            account.on_published = on_published

    def timer(self, name: str = "bot") -> Callable[..., Any]:
        """An outer middleware timing every record's dispatch (``source="engine:<name>"``).

        ``router.outer_middleware(metrics.timer())`` on the root router.
        """
        source = f"engine:{name}"
        labels = self.handler_seconds.labels

        async def timed(handler: NextHandler, record: Any, ctx: Context[Any]) -> Any:
            started = time.perf_counter()
            try:
                return await handler(record, ctx)
            finally:
                labels(source, ctx.kind).observe(time.perf_counter() - started)

        return timed

    async def watch_cluster(self, js: JetStreamContext, *, interval: float = 15.0) -> None:
        """Refresh the cluster-wide figures every ``interval`` seconds (run it as a task).

        ``fleep_stream_pending{source="cluster"}``: records no worker has acked yet, summed
        over the partition consumers; ``fleep_dead_letter_stream_messages``.
        """
        while True:
            await self.refresh_cluster(js)
            await anyio.sleep(interval)

    async def refresh_cluster(self, js: JetStreamContext) -> None:
        """Read the cluster-wide figures once (see :meth:`watch_cluster`)."""
        import nats.errors

        try:
            pending = 0
            for info in await js.consumers_info(EVENTS_STREAM):
                pending += (info.num_pending or 0) + (info.num_ack_pending or 0)
            self._cluster["pending"] = float(pending)
            dead = await js.stream_info(DEAD_STREAM)
            self._cluster["dead"] = float(dead.state.messages or 0)
        except (nats.errors.Error, OSError):
            self._cluster.clear()  # unknown now: report nothing rather than stale figures

    # -- the collector ------------------------------------------------------------------------

    def describe(self) -> list[Metric]:
        """No fixed description: the series depend on what is tracked."""
        return []

    def collect(self) -> Iterator[Metric]:
        """Build the families from the tracked components' health (called per scrape)."""
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        def gauge(name: str, doc: str) -> GaugeMetricFamily:
            return GaugeMetricFamily(name, doc, labels=["source"])

        def counter(name: str, doc: str) -> CounterMetricFamily:
            return CounterMetricFamily(name, doc, labels=["source"])

        lag = gauge("fleep_poll_lag_events", "Events received and not yet committed.")
        age = gauge("fleep_poll_age_seconds", "Seconds since the last successful poll.")
        depth = gauge("fleep_queue_depth", "Records admitted and not finished.")
        in_flight = gauge("fleep_in_flight", "Handlers running now.")
        pending = gauge("fleep_stream_pending", "Records waiting in the stream.")
        handled = counter("fleep_handled", "Records a handler took and finished.")
        errors = counter("fleep_handler_errors", "Failed handler attempts.")
        redelivered = counter("fleep_redeliveries", "Records delivered again.")
        dead = counter("fleep_dead_letters", "Records given up (dead-lettered).")
        dead_stream = gauge("fleep_dead_letter_stream_messages", "Records in FLEEP_DEAD.")
        leases = CounterMetricFamily(
            "fleep_lease_changes",
            "Leases taken, lost or released, per lease kind.",
            labels=["source", "lease", "change"],
        )

        def lease_changes(source: str, kind: str, counts: tuple[int, int, int]) -> None:
            for change, count in zip(("gained", "lost", "released"), counts, strict=True):
                leases.add_metric([source, kind, change], count)

        def account_gauge(name: str, doc: str) -> GaugeMetricFamily:
            return GaugeMetricFamily(name, doc, labels=["source", "account"])

        active = account_gauge("fleep_poller_active", "1 if this poller holds the lease.")
        poll_age = account_gauge(
            "fleep_poller_poll_age_seconds", "Seconds since the last completed poll."
        )
        record_age = account_gauge(
            "fleep_poller_record_age_seconds",
            "Seconds since the stream acknowledged the newest record.",
        )
        publishing = account_gauge(
            "fleep_poller_publish_pending", "Records in hand not acknowledged by the stream."
        )
        published = CounterMetricFamily(
            "fleep_poller_published",
            "Records the stream acknowledged.",
            labels=["source", "account"],
        )
        publish_failures = CounterMetricFamily(
            "fleep_poller_publish_failures",
            "Publish attempts that failed and were retried.",
            labels=["source", "account"],
        )
        held = gauge("fleep_partitions_held", "Partitions a worker holds.")
        live = gauge("fleep_live_workers", "Workers alive, as a worker last saw.")
        for source, engine in self._engines.items():
            health: EngineHealth = engine.health
            lag.add_metric([source], health.lag)
            if health.seconds_since_poll is not None:
                age.add_metric([source], health.seconds_since_poll)
            depth.add_metric([source], health.queue_depth)
            in_flight.add_metric([source], health.in_flight)
            handled.add_metric([source], health.handled)
            errors.add_metric([source], health.handler_errors)
            dead.add_metric([source], health.dead_lettered)
        for source, worker in self._workers.items():
            state = worker.health
            in_flight.add_metric([source], state.in_flight)
            pending.add_metric([source], state.pending)
            handled.add_metric([source], state.handled)
            errors.add_metric([source], state.handler_errors)
            redelivered.add_metric([source], state.redelivered)
            dead.add_metric([source], state.dead_lettered)
            lease_changes(
                source,
                "partition",
                (state.lease_gains, state.lease_losses, state.lease_releases),
            )
            held.add_metric([source], len(state.partitions))
            live.add_metric([source], state.live_workers)
        now = time.monotonic()
        for source, poller in self._pollers.items():
            poller_leases = [0, 0, 0]
            for account_id, account in poller.accounts.items():
                labels = [source, account_id]
                active.add_metric(labels, 1 if account.active else 0)
                if account.active and account.polled_at is not None:
                    poll_age.add_metric(labels, now - account.polled_at)
                if account.active and account.published_at is not None:
                    record_age.add_metric(labels, now - account.published_at)
                publishing.add_metric(labels, account.publish_pending)
                published.add_metric(labels, account.published)
                publish_failures.add_metric(labels, account.publish_failures)
                _add(poller_leases, account.lease)
            lease_changes(source, "poller", _counts(poller_leases))
            lease_changes(source, "member", _counts(_add([0, 0, 0], poller.member)))
        if "pending" in self._cluster:
            pending.add_metric(["cluster"], self._cluster["pending"])
        if "dead" in self._cluster:
            dead_stream.add_metric(["cluster"], self._cluster["dead"])
        yield from (lag, age, depth, in_flight, pending, handled, errors, redelivered, dead)
        yield from (dead_stream, leases, held, live)
        yield from (active, poll_age, record_age, publishing, published, publish_failures)


def _add(counts: list[int], lease: Lease) -> list[int]:
    counts[0] += lease.gains
    counts[1] += lease.losses
    counts[2] += lease.releases
    return counts


def _counts(counts: list[int]) -> tuple[int, int, int]:
    return counts[0], counts[1], counts[2]

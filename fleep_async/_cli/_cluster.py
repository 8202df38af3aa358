"""``fleep-async cluster ...``: the NATS JetStream tier's commands (``docs/cluster.md``).

Each subcommand is one ``register_*`` function taking the group's ``command`` factory (the same
shape as the top-level one: name, handler, help, global options) and adding its own options;
:data:`SUBCOMMANDS` lists them in help order. Adding a command = one function + one line there.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import stat
import sys
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import anyio
import attrs

from fleep_async._cli._cluster_workers import register_dead_letters, register_worker
from fleep_async._cli._common import (
    DEFAULT_BASE_URL,
    EXIT_OK,
    EXIT_USAGE,
    CliError,
    Options,
    check_base_url,
    exit_code_for_signal,
    open_client,
    stop_on_signals,
)

if TYPE_CHECKING:
    from nats.aio.client import Client as NATS

    from fleep_async._client import FleepClient

__all__ = [
    "SUBCOMMANDS",
    "account_clients",
    "add_metrics_options",
    "add_nats_option",
    "metrics_server",
    "nats_connection",
    "read_accounts",
    "register_poller",
]

Command = Callable[..., Any]
"""The group's factory: ``command(name, handler, help_text, which=...) -> ArgumentParser``."""

NATS_ENV: Final = "FLEEP_NATS_URL"


def _run(func: Callable[..., Any], *args: Any) -> int:
    result: int = anyio.run(func, *args)
    return result


def _err(message: str) -> None:
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


def add_nats_option(parser: argparse.ArgumentParser) -> None:
    """``--nats URL[,URL...]`` (default ``$FLEEP_NATS_URL``): every cluster command takes it."""
    parser.add_argument(
        "--nats",
        metavar="URL",
        default=None,
        help=f"NATS server URL(s), comma-separated (default: ${NATS_ENV})",
    )


def _nats_urls(args: Any) -> list[str]:
    raw = args.nats or os.environ.get(NATS_ENV) or ""
    urls = [u.strip() for u in raw.split(",") if u.strip()]
    if not urls:
        raise CliError(f"no NATS server: pass --nats URL (or set ${NATS_ENV})", EXIT_USAGE)
    return urls


def _need_nats_extra() -> None:
    try:
        import nats  # noqa: F401
    except ImportError as exc:
        raise CliError(
            f"the cluster commands need the nats extra: pip install 'fleep-async[nats]' ({exc})",
            EXIT_USAGE,
        ) from exc


@contextlib.asynccontextmanager
async def nats_connection(args: Any, *, name: str) -> AsyncIterator[NATS]:
    """A NATS connection for a cluster command (closed on exit).

    Raises:
        ClusterUnavailableError: NATS cannot be reached (exit 4).
    """
    from fleep_async.cluster import connect

    _need_nats_extra()
    client = await connect(_nats_urls(args), name=name)
    try:
        yield client
    finally:
        with anyio.CancelScope(shield=True):
            await client.close()


# -- cluster poller ------------------------------------------------------------------------


def read_accounts(path: Path, options: Options) -> list[dict[str, str]]:
    """The ``--accounts`` file: a JSON array of ``{"email", "password"[, "base_url"]}`` or
    ``{"session_file"}`` objects."""
    try:
        mode = path.stat().st_mode
        data = json.loads(path.read_text())
    except OSError:
        raise
    except ValueError as exc:
        raise CliError(f"{path} is not JSON: {exc}", EXIT_USAGE) from exc
    if not isinstance(data, list) or not data:
        raise CliError(f"{path}: expected a non-empty JSON array of accounts", EXIT_USAGE)
    accounts: list[dict[str, str]] = []
    for index, item in enumerate(data):
        if not isinstance(item, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in item.items()
        ):
            raise CliError(f"{path}: account {index} is not an object of strings", EXIT_USAGE)
        unknown = set(item) - {"email", "password", "base_url", "session_file"}
        if unknown:
            raise CliError(
                f"{path}: account {index} has unknown keys {sorted(unknown)}", EXIT_USAGE
            )
        if "session_file" not in item and not ("email" in item and "password" in item):
            raise CliError(
                f"{path}: account {index} needs email and password, or session_file", EXIT_USAGE
            )
        if "session_file" in item:
            item["session_file"] = str(Path(item["session_file"]).expanduser())
        if "base_url" in item:
            item["base_url"] = check_base_url(
                item["base_url"], allow_insecure_http=options.allow_insecure_http
            )
        accounts.append(item)
    if any("password" in a for a in accounts) and mode & (stat.S_IRWXG | stat.S_IRWXO):
        _err(f"warning: {path} holds passwords and is readable by others (chmod 600 it)")
    return accounts


@contextlib.asynccontextmanager
async def account_clients(
    options: Options, accounts: list[dict[str, str]] | None
) -> AsyncIterator[list[FleepClient]]:
    async with contextlib.AsyncExitStack() as stack:
        if accounts is None:
            yield [await stack.enter_async_context(open_client(options))]
            return
        clients: list[FleepClient] = []
        for item in accounts:
            if "session_file" in item:
                # That file's session (and its server), never the environment's login.
                one = attrs.evolve(
                    options, session_path=Path(item["session_file"]), email=None, password=None
                )
                clients.append(await stack.enter_async_context(open_client(one)))
                continue
            client = options.client(
                item.get("base_url") or options.base_url or DEFAULT_BASE_URL,
                email=item["email"],
                password=item["password"],
            )
            clients.append(await stack.enter_async_context(client))
        yield clients


def cmd_cluster_poller(args: Any, options: Options) -> int:
    """``cluster poller``: poll the account(s) and publish to JetStream, one active replica."""
    _need_nats_extra()
    accounts = read_accounts(Path(args.accounts), options) if args.accounts else None
    # Operators need to see which process holds which lease: the tier's INFO lines are shown
    # without --verbose (the rest of the library stays at warnings).
    tier = logging.getLogger("fleep_async.cluster")
    if not args.verbose and tier.level == logging.NOTSET:
        tier.setLevel(logging.INFO)

    async def run() -> int:
        from fleep_async.cluster import ClusterPoller, ensure_buckets, ensure_stream, process_id

        holder = process_id()
        interrupted: list[int] = []
        async with (
            nats_connection(args, name=f"fleep-async poller {holder}") as nc,
            account_clients(options, accounts) as clients,
        ):
            js = nc.jetstream()
            replicas = await ensure_stream(js, replicas=args.replicas)
            buckets = await ensure_buckets(js, lease_ttl=args.lease_ttl, replicas=replicas)
            poller = ClusterPoller(js, buckets, clients, holder=holder, partitions=args.partitions)
            with contextlib.ExitStack() as stack, anyio.CancelScope() as scope:
                if args.metrics_port is not None:
                    stack.enter_context(metrics_server(args, poller))

                def on_signal(signum: int) -> None:
                    interrupted.append(signum)
                    scope.cancel()

                async with stop_on_signals(on_signal), anyio.create_task_group() as tg:
                    await tg.start(poller.run)
                    _err(
                        f"cluster poller {holder}: {len(clients)} account(s), "
                        f"stream R{replicas}, lease TTL {buckets.lease_ttl:g}s; Ctrl-C to stop"
                    )
        return exit_code_for_signal(interrupted[0]) if interrupted else EXIT_OK

    try:
        return _run(run)
    finally:
        if not args.verbose:
            tier.setLevel(logging.NOTSET)


@contextlib.contextmanager
def metrics_server(args: Any, component: Any) -> Iterator[None]:
    """Serve ``component``'s Prometheus metrics on ``--metrics-host``:``--metrics-port``."""
    try:
        from prometheus_client import start_http_server
    except ImportError as exc:
        raise CliError(
            f"--metrics-port needs the metrics extra: pip install 'fleep-async[metrics]' ({exc})",
            EXIT_USAGE,
        ) from exc
    from fleep_async.cluster import ClusterWorker, Metrics

    metrics = Metrics()
    if isinstance(component, ClusterWorker):
        metrics.track_worker(component)
    else:
        metrics.track_poller(component)
    try:
        server, thread = start_http_server(args.metrics_port, addr=args.metrics_host)
    except OSError as exc:
        raise CliError(
            f"--metrics-port {args.metrics_port}: cannot listen on {args.metrics_host}: {exc}",
            EXIT_USAGE,
        ) from exc
    _err(f"fleep-async: metrics on http://{args.metrics_host}:{server.server_port}/metrics")
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def add_metrics_options(parser: argparse.ArgumentParser) -> None:
    """``--metrics-port PORT [--metrics-host ADDR]``: the poller's and the worker's."""
    from fleep_async.cli import _port

    parser.add_argument(
        "--metrics-port",
        type=_port,
        default=None,
        metavar="PORT",
        help="serve Prometheus metrics on this port (0: any free one)",
    )
    parser.add_argument(
        "--metrics-host", default="127.0.0.1", help="address for --metrics-port (127.0.0.1)"
    )


def register_poller(command: Command) -> None:
    """``cluster poller --nats URL [--accounts FILE]``."""
    from fleep_async.cluster import DEFAULT_LEASE_TTL, DEFAULT_PARTITIONS

    p = command(
        "poller",
        cmd_cluster_poller,
        "poll Fleep account(s) and publish every record to NATS JetStream (one active "
        "replica per account; run two or more for failover)",
    )
    add_nats_option(p)
    p.add_argument(
        "--accounts",
        metavar="FILE",
        help="many accounts: a JSON array of {email, password[, base_url]} or {session_file} "
        "(default: one account, from the session file or FLEEP_EMAIL/FLEEP_PASSWORD)",
    )
    p.add_argument(
        "--partitions",
        type=_positive_int,
        default=DEFAULT_PARTITIONS,
        metavar="P",
        help=f"partitions per account; the same for every process (default: {DEFAULT_PARTITIONS})",
    )
    p.add_argument(
        "--lease-ttl",
        type=_positive_float,
        default=DEFAULT_LEASE_TTL,
        metavar="SECONDS",
        help=f"poller lease TTL for a new lease bucket (default: {DEFAULT_LEASE_TTL:g})",
    )
    p.add_argument(
        "--replicas",
        type=_positive_int,
        default=None,
        metavar="R",
        help="stream and bucket replicas when created (default: 3, or 1 on a single node)",
    )
    add_metrics_options(p)


# -- cluster status ------------------------------------------------------------------------


async def cluster_status(nc: NATS) -> dict[str, Any]:
    """What ``cluster status`` shows, as a JSON-compatible dict."""
    import nats.errors
    import nats.js.errors
    import orjson

    from fleep_async.cluster import (
        CHECKPOINTS_BUCKET,
        DEAD_STREAM,
        EVENTS_STREAM,
        LEASES_BUCKET,
        bucket_keys,
        poller_lease_key,
    )

    js = nc.jetstream()
    report: dict[str, Any] = {"streams": {}, "leases": [], "accounts": {}, "consumers": []}
    for name in (EVENTS_STREAM, DEAD_STREAM):
        try:
            info = await js.stream_info(name)
        except nats.js.errors.NotFoundError:
            report["streams"][name] = None
            continue
        report["streams"][name] = {
            "messages": info.state.messages,
            "bytes": info.state.bytes,
            "replicas": info.config.num_replicas,
            "consumers": info.state.consumer_count,
        }
        if name == EVENTS_STREAM:
            for consumer in await js.consumers_info(name):
                report["consumers"].append(
                    {
                        "name": consumer.name,
                        "pending": consumer.num_pending,
                        "ack_pending": consumer.num_ack_pending,
                        "redelivered": consumer.num_redelivered,
                    }
                )
    try:
        leases = await js.key_value(LEASES_BUCKET)
        keys = sorted(await bucket_keys(js, LEASES_BUCKET))
    except nats.js.errors.NotFoundError:  # the bucket is not created yet
        keys = None
    values: dict[str, dict[str, Any]] = {}
    for key in keys or []:
        try:
            entry = await leases.get(key)
        except nats.js.errors.KeyNotFoundError:
            continue  # expired meanwhile
        try:
            value = orjson.loads(entry.value or b"{}")
        except orjson.JSONDecodeError:
            value = None
        values[key] = value if isinstance(value, dict) else {}
        holder = values[key].get("holder")
        report["leases"].append({"key": key, "holder": holder, "revision": entry.revision})
    try:
        checkpoints = await js.key_value(CHECKPOINTS_BUCKET)
        accounts = sorted(await bucket_keys(js, CHECKPOINTS_BUCKET))
    except nats.js.errors.NotFoundError:
        accounts = None
    for account in accounts or []:
        try:
            entry = await checkpoints.get(account)
            horizon = orjson.loads(entry.value or b"{}").get("horizon")
        except (nats.js.errors.KeyNotFoundError, orjson.JSONDecodeError, AttributeError):
            continue
        report["accounts"][account] = {"horizon": horizon, "revision": entry.revision}
        report["accounts"][account].update(_poll_lag(values.get(poller_lease_key(account))))
    if report["streams"].get(EVENTS_STREAM):
        for account in report["accounts"]:
            try:
                info = await js.stream_info(
                    EVENTS_STREAM, subjects_filter=f"fleep.events.{account}.>"
                )
            except (TimeoutError, nats.errors.Error):
                continue
            subjects = info.state.subjects or {}
            report["accounts"][account]["stored"] = sum(subjects.values())
    if report["streams"].get(DEAD_STREAM):
        report["dead_letters"] = report["streams"][DEAD_STREAM]["messages"]
    else:
        report["dead_letters"] = 0
    return report


def _poll_lag(lease: dict[str, Any] | None) -> dict[str, Any]:
    """The active poller and its lag, from what it wrote in its lease at its last renewal.

    Both ages are taken on the poller's clock (its write time ``at`` minus its poll and publish
    times), so the machines' clocks need not agree; they are as of that renewal (every TTL/3).
    """
    if not lease:
        return {"poller": None}
    found: dict[str, Any] = {"poller": lease.get("holder")}
    at = lease.get("at")
    for field, name in (("polled", "poll_lag_seconds"), ("published", "record_age_seconds")):
        when = lease.get(field)
        if isinstance(at, int | float) and isinstance(when, int | float):
            found[name] = round(max(0.0, at - when), 3)
    return found


def _print_status(report: dict[str, Any]) -> None:
    out = sys.stdout
    for name, info in report["streams"].items():
        if info is None:
            out.write(f"stream {name}: not created yet (start a poller)\n")
        else:
            out.write(
                f"stream {name}: {info['messages']} messages, {info['bytes']} bytes, "
                f"R{info['replicas']}, {info['consumers']} consumers\n"
            )
    out.write(f"dead letters: {report['dead_letters']}\n")
    if not report["leases"]:
        out.write("leases: none held\n")
    for lease in report["leases"]:
        out.write(f"lease {lease['key']}: {lease['holder']} (revision {lease['revision']})\n")
    for account, info in report["accounts"].items():
        stored = info.get("stored")
        more = f", {stored} records in the stream" if stored is not None else ""
        if info.get("poller") is None:
            more += ", no active poller"
        else:
            lag = info.get("poll_lag_seconds")
            more += f", polled {lag:.1f}s ago" if lag is not None else ", not polled yet"
            more += f" by {info['poller']}"
            age = info.get("record_age_seconds")
            if age is not None:
                more += f", newest record published {age:.1f}s ago"
        out.write(f"account {account}: committed horizon {info['horizon']}{more}\n")
    for consumer in report["consumers"]:
        out.write(
            f"consumer {consumer['name']}: {consumer['pending']} pending (lag), "
            f"{consumer['ack_pending']} being handled, {consumer['redelivered']} redelivered\n"
        )


def cmd_cluster_status(args: Any, options: Options) -> int:
    """``cluster status``: leases, committed horizons, poll lag, backlog, dead letters."""
    _need_nats_extra()

    async def run() -> int:
        async with nats_connection(args, name="fleep-async status") as nc:
            report = await cluster_status(nc)
        if args.json:
            sys.stdout.write(json.dumps(report, indent=2, sort_keys=True) + "\n")
        else:
            _print_status(report)
        return EXIT_OK

    return _run(run)


def register_status(command: Command) -> None:
    """``cluster status --nats URL [--json]``."""
    p = command(
        "status",
        cmd_cluster_status,
        "show the cluster: leases and their holders, each account's committed horizon, active "
        "poller and poll lag, consumers' backlog, dead letters",
        ("verbose",),
    )
    add_nats_option(p)
    p.add_argument("--json", action="store_true", help="print JSON")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number > 0, got {text}")
    return value


SUBCOMMANDS: Final[Sequence[Callable[[Command], None]]] = [
    register_poller,
    register_worker,
    register_status,
    register_dead_letters,
]
"""The ``cluster`` subcommands, in help order: each adds itself through the group's factory."""

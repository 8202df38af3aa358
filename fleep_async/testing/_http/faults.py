"""Fault injection for FakeFleep: scripted one-shot faults and seeded random chaos.

Faults are matched by *endpoint key*: the registry path without its id (``"message/send"``,
``"account/poll"``), ``"hook"`` for ``/hook/...``, ``"file"`` for downloads, or ``"*"`` for any.
They are applied by :class:`FaultMiddleware`, an ASGI middleware around the whole app, so a
faulted request never reaches (or never leaves) the handlers in a half-done state.

Kinds (and the name each is counted under in :attr:`Faults.counts`):

- ``status_<code>``: answer ``code`` instead (JSON body, or an nginx-like HTML page for
  502/504 or ``html=True``; ``Retry-After`` when given). ``commit=True`` runs the handler first,
  so the change happens but the answer is lost.
- ``delay``: sleep before handling. ``hold_poll`` is a delay on ``account/poll`` meant to
  outlast the client's read timeout.
- ``drop``: send the headers and part of the body, then drop the connection. Over a socket
  (``FakeFleep.serve``) the client sees a closed connection; in-process (``ASGITransport``) the
  app raises :class:`httpx.RemoteProtocolError`, which httpx passes through unchanged.
- ``truncate``: a complete HTTP response whose JSON body is cut in half.
- ``malformed``: a 200 whose body is not valid JSON.
- ``duplicate`` / ``reorder`` / ``unknown_record``: the next response with a non-empty
  ``stream`` gets records repeated / shuffled / an unknown ``mk_rec_type`` added.
- ``expire_session`` / ``force_resync``: immediate actions on an account.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Final

import anyio
import attrs
import orjson

from fleep_async.testing._http.routing import endpoint_key
from fleep_async.testing._http.web import PAGE_PATHS

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

STREAM_KINDS: Final = ("duplicate", "reorder", "unknown_record")
CHAOS_KINDS: Final = (
    "status_500",
    "status_502",
    "status_503",
    "status_429",
    "delay",
    "drop",
    "truncate",
    "malformed",
    "duplicate",
    "reorder",
    "unknown_record",
)
SERVED_KEY: Final = "fakefleep.served"

_HTML_PAGE: Final = (
    b"<html>\r\n<head><title>{status} Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>{status} Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    b"</body>\r\n</html>\r\n"
)


@attrs.define
class Rule:
    """One scripted fault."""

    kind: str
    endpoint: str = "*"
    times: int = 1
    status: int = 500
    retry_after: float | None = None
    html: bool = False
    seconds: float = 0.0
    commit: bool = False
    record: dict[str, Any] | None = None

    def matches(self, key: str) -> bool:
        """True when this rule applies to the endpoint key."""
        return self.times > 0 and self.endpoint in ("*", key)

    @property
    def count_name(self) -> str:
        """The name this fault is counted under."""
        return f"status_{self.status}" if self.kind == "status" else self.kind


@attrs.define
class Plan:
    """What to do to one request."""

    pre: Rule | None = None
    stream: Rule | None = None


class Faults:
    """The fault controller: ``fake.faults``."""

    def __init__(
        self,
        *,
        seed: int,
        expire_session: Callable[[str], int],
        force_resync: Callable[[str], None],
    ) -> None:
        self._rules: list[Rule] = []
        self._rng = random.Random(seed)
        self._expire = expire_session
        self._resync = force_resync
        self._chaos_rate = 0.0
        self._chaos_kinds: tuple[str, ...] = ()
        self._chaos_endpoints: frozenset[str] | None = None
        self._chaos_delay = 0.05
        self.counts: Counter[str] = Counter()

    # -------------------------------------------------------------- scripting

    def fail(
        self,
        endpoint: str = "*",
        status: int = 500,
        *,
        times: int = 1,
        retry_after: float | None = None,
        html: bool | None = None,
        commit: bool = False,
    ) -> None:
        """Answer the next ``times`` calls with ``status`` (HTML body for 502/504 by default)."""
        self._add(
            Rule(
                "status",
                endpoint,
                times,
                status=status,
                retry_after=retry_after,
                html=status in (502, 504) if html is None else html,
                commit=commit,
            )
        )

    def delay(self, endpoint: str = "*", seconds: float = 0.1, *, times: int = 1) -> None:
        """Sleep ``seconds`` before handling the next ``times`` calls."""
        self._add(Rule("delay", endpoint, times, seconds=seconds))

    def hold_poll(self, seconds: float, *, times: int = 1) -> None:
        """Hold the next ``times`` polls ``seconds`` before answering (past a client timeout)."""
        self._add(Rule("hold_poll", "account/poll", times, seconds=seconds))

    def drop(self, endpoint: str = "*", *, times: int = 1, commit: bool = True) -> None:
        """Drop the connection mid-response (after handling it unless ``commit=False``)."""
        self._add(Rule("drop", endpoint, times, commit=commit))

    def truncate(self, endpoint: str = "*", *, times: int = 1) -> None:
        """Send a complete response whose JSON body is cut in half."""
        self._add(Rule("truncate", endpoint, times, commit=True))

    def malformed(self, endpoint: str = "*", *, times: int = 1) -> None:
        """Send a 200 whose body is not JSON."""
        self._add(Rule("malformed", endpoint, times, commit=True))

    def duplicate_records(self, endpoint: str = "account/poll", *, times: int = 1) -> None:
        """Repeat every record of the next non-empty stream (in place, keeping order)."""
        self._add(Rule("duplicate", endpoint, times))

    def reorder_records(self, endpoint: str = "account/poll", *, times: int = 1) -> None:
        """Shuffle (seeded) the records of the next non-empty stream."""
        self._add(Rule("reorder", endpoint, times))

    def unknown_records(
        self,
        endpoint: str = "account/poll",
        *,
        times: int = 1,
        record: dict[str, Any] | None = None,
    ) -> None:
        """Add a record of an unknown ``mk_rec_type`` to the next non-empty stream."""
        self._add(Rule("unknown_record", endpoint, times, record=record))

    def expire_session(self, who: str) -> int:
        """Expire every session of an account (email or account id) now."""
        self.counts["expire_session"] += 1
        return self._expire(who)

    def force_resync(self, who: str) -> None:
        """Make the account's next poll answer ``event_horizon: 0``."""
        self.counts["force_resync"] += 1
        self._resync(who)

    def chaos(
        self,
        rate: float = 0.1,
        kinds: Sequence[str] | None = None,
        *,
        endpoints: Iterable[str] | None = None,
        delay_seconds: float = 0.05,
    ) -> None:
        """Inject a random fault (seeded) into a ``rate`` share of requests; ``rate=0`` stops."""
        chosen = tuple(kinds) if kinds is not None else CHAOS_KINDS
        unknown = [k for k in chosen if k not in CHAOS_KINDS]
        if unknown or not 0.0 <= rate <= 1.0:
            raise ValueError(f"bad chaos settings: rate={rate}, unknown kinds={unknown}")
        self._chaos_rate = rate
        self._chaos_kinds = chosen
        self._chaos_endpoints = frozenset(endpoints) if endpoints is not None else None
        self._chaos_delay = delay_seconds

    def clear(self) -> None:
        """Remove scripted faults and stop chaos (counts are kept)."""
        self._rules.clear()
        self._chaos_rate = 0.0

    @property
    def pending(self) -> list[Rule]:
        """Scripted faults not used up yet."""
        return [r for r in self._rules if r.times > 0]

    @property
    def active(self) -> bool:
        """True when any request may be faulted."""
        return self._chaos_rate > 0 or any(r.times > 0 for r in self._rules)

    def configure(self, spec: dict[str, Any]) -> None:
        """Apply a JSON fault spec (the admin route ``POST /_fakefleep/faults``)."""
        spec = dict(spec)
        kind = spec.pop("kind", None)
        actions: dict[str, Callable[..., Any]] = {
            "status": self.fail,
            "fail": self.fail,
            "delay": self.delay,
            "hold_poll": self.hold_poll,
            "drop": self.drop,
            "truncate": self.truncate,
            "malformed": self.malformed,
            "duplicate": self.duplicate_records,
            "reorder": self.reorder_records,
            "unknown_record": self.unknown_records,
            "expire_session": self.expire_session,
            "force_resync": self.force_resync,
            "chaos": self.chaos,
            "clear": self.clear,
        }
        if kind not in actions:
            raise ValueError(f"unknown fault kind: {kind!r}")
        actions[kind](**spec)

    def _add(self, rule: Rule) -> None:
        if rule.times < 1:
            raise ValueError("times must be at least 1")
        self._rules.append(rule)

    # -------------------------------------------------------------- matching

    def plan(self, key: str) -> Plan | None:
        """Decide the faults for one request (consumes the pre-request fault)."""
        plan = Plan()
        for rule in self._rules:
            if rule.kind in STREAM_KINDS:
                if plan.stream is None and rule.matches(key):
                    plan.stream = rule
            elif plan.pre is None and rule.matches(key):
                rule.times -= 1
                plan.pre = rule
                self.counts[rule.count_name] += 1
        self._rules = [r for r in self._rules if r.times > 0 or r is plan.stream]
        if plan.pre is None and plan.stream is None and self._chaos_rate > 0:
            self._chaos_plan(key, plan)
        return plan if plan.pre is not None or plan.stream is not None else None

    def _chaos_plan(self, key: str, plan: Plan) -> None:
        if self._chaos_endpoints is not None and key not in self._chaos_endpoints:
            return
        if self._rng.random() >= self._chaos_rate:
            return
        kind = self._rng.choice(self._chaos_kinds)
        if kind in STREAM_KINDS:
            plan.stream = Rule(kind, key, 1)
            return
        if kind.startswith("status_"):
            status = int(kind.removeprefix("status_"))
            rule = Rule(
                "status",
                key,
                0,
                status=status,
                html=status == 502,
                retry_after=1.0 if status == 429 else None,
            )
        elif kind == "delay":
            rule = Rule("delay", key, 0, seconds=self._chaos_delay)
        else:
            rule = Rule(kind, key, 0, commit=True)
        plan.pre = rule
        self.counts[rule.count_name] += 1

    def apply_stream(self, rule: Rule, body: dict[str, Any]) -> bool:
        """Apply a stream fault to a decoded response; False if its stream is empty."""
        stream = body.get("stream")
        if not isinstance(stream, list) or not stream:
            return False
        if rule.kind == "duplicate":
            body["stream"] = [r for record in stream for r in (record, record)]
        elif rule.kind == "reorder":
            shuffled = list(stream)
            self._rng.shuffle(shuffled)
            if len(shuffled) > 1 and shuffled == stream:
                shuffled.reverse()
            body["stream"] = shuffled
        else:
            extra = rule.record or {
                "mk_rec_type": "fakefleep_unknown",
                "payload": {"note": "a record type no client knows"},
            }
            at = self._rng.randrange(len(stream) + 1)
            body["stream"] = [*stream[:at], dict(extra), *stream[at:]]
        rule.times -= 1
        self._rules = [r for r in self._rules if r.times > 0]
        self.counts[rule.kind] += 1
        return True


def _error_body(rule: Rule) -> tuple[bytes, bytes]:
    if rule.html:
        return _HTML_PAGE.replace(b"{status}", str(rule.status).encode()), b"text/html"
    body = {"error_id": "fakefleep_fault", "error_message": f"Injected fault ({rule.status})."}
    return orjson.dumps(body), b"application/json; charset=utf-8"


def _headers_without(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> list[Any]:
    return [(k, v) for k, v in headers if k.lower() != name]


class FaultMiddleware:
    """ASGI middleware applying :class:`Faults` to requests."""

    def __init__(self, app: ASGIApp, faults: Faults) -> None:
        self.app = app
        self.faults = faults

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.faults.active:
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if path.startswith("/_fakefleep") or path in PAGE_PATHS:
            await self.app(scope, receive, send)
            return
        plan = self.faults.plan(endpoint_key(path))
        if plan is None:
            await self.app(scope, receive, send)
            return
        pre = plan.pre
        if pre is not None and pre.kind in ("delay", "hold_poll"):
            await anyio.sleep(pre.seconds)
            pre = None
        if pre is not None and pre.kind == "status" and not pre.commit:
            await self._send_error(send, pre)
            return
        if pre is not None and pre.kind == "drop" and not pre.commit:
            await self._drop(scope, send, 200, [], b'{"stream": [{"mk_rec_type": "conv"')
            return
        if pre is None and plan.stream is None:
            await self.app(scope, receive, send)
            return
        status, headers, body = await self._capture(scope, receive)
        if pre is not None and pre.kind == "status":
            await self._send_error(send, pre)
        elif pre is not None and pre.kind == "drop":
            await self._drop(scope, send, status, headers, body)
        elif pre is not None and pre.kind == "truncate":
            await self._send(send, status, headers, body[: len(body) // 2])
        elif pre is not None and pre.kind == "malformed":
            await self._send(send, 200, headers, b'{"event_horizon": 1, "stream": [}')
        else:
            if plan.stream is not None and status == 200:
                body = self._mangle(plan.stream, body)
            await self._send(send, status, headers, body)

    def _mangle(self, rule: Rule, body: bytes) -> bytes:
        try:
            decoded = orjson.loads(body)
        except orjson.JSONDecodeError:
            return body
        if isinstance(decoded, dict) and self.faults.apply_stream(rule, decoded):
            return orjson.dumps(decoded)
        return body

    async def _capture(self, scope: Scope, receive: Receive) -> tuple[int, list[Any], bytes]:
        # Ask for an identity body: faults cut and rewrite bytes, not gzip frames.
        inner = dict(scope)
        inner["headers"] = _headers_without(scope["headers"], b"accept-encoding")
        start: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(inner, receive, capture)
        return int(start.get("status", 500)), list(start.get("headers", [])), b"".join(chunks)

    async def _send(self, send: Send, status: int, headers: list[Any], body: bytes) -> None:
        headers = _headers_without(headers, b"content-length")
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _send_error(self, send: Send, rule: Rule) -> None:
        body, content_type = _error_body(rule)
        headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
        if rule.retry_after is not None:
            headers.append((b"retry-after", f"{rule.retry_after:g}".encode()))
        await send({"type": "http.response.start", "status": rule.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _drop(
        self, scope: Scope, send: Send, status: int, headers: list[Any], body: bytes
    ) -> None:
        headers = _headers_without(headers, b"content-length")
        headers.append((b"content-length", str(max(len(body), 2)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send(
            {"type": "http.response.body", "body": body[: len(body) // 2], "more_body": True}
        )
        if scope.get("extensions", {}).get(SERVED_KEY):
            # uvicorn closes the socket when the app returns with the body unfinished.
            return
        import httpx  # a core dependency; imported here to keep this module light

        raise httpx.RemoteProtocolError("FakeFleep fault: connection dropped mid-response")

"""Raw-protocol helpers for tests that talk to FakeFleep (or any Fleep) with plain httpx.

:class:`RawUser` is one logged-in account over a shared ``httpx.AsyncClient``: it sends the
``token_id`` cookie explicitly, so several users can share one client (and one connection pool).
It is deliberately tiny and independent of :class:`fleep_async.FleepClient`: protocol tests use
it to see exactly what goes over the wire.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import attrs
import httpx


class RawCallError(Exception):
    """A non-2xx answer to :meth:`RawUser.call`."""

    def __init__(self, path: str, status_code: int, body: Any) -> None:
        super().__init__(f"{path}: HTTP {status_code}")
        self.path = path
        self.status_code = status_code
        self.body = body


def _decode(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text


@attrs.define(kw_only=True)
class RawUser:
    """A logged-in account speaking the raw Fleep protocol."""

    http: httpx.AsyncClient
    account_id: str
    display_name: str
    ticket: str = attrs.field(repr=False)
    token_id: str = attrs.field(repr=False)
    login_response: dict[str, Any] = attrs.field(repr=False, factory=dict)

    @classmethod
    async def login(
        cls,
        http: httpx.AsyncClient,
        email: str,
        password: str,
        *,
        remember_me: bool = False,
    ) -> RawUser:
        """``account/login``; raises :class:`RawCallError` on failure."""
        response = await http.post(
            "/api/account/login",
            json={"email": email, "password": password, "remember_me": remember_me},
        )
        if response.status_code != 200:
            raise RawCallError("account/login", response.status_code, _decode(response))
        token_id = response.cookies.get("token_id")
        if token_id is None:
            raise RawCallError("account/login", response.status_code, "no token_id cookie")
        # The shared client must not carry this user's cookie into other users' requests.
        http.cookies.clear()
        body = response.json()
        return cls(
            http=http,
            account_id=body["account_id"],
            display_name=body["display_name"],
            ticket=body["ticket"],
            token_id=token_id,
            login_response=body,
        )

    @property
    def cookie_header(self) -> dict[str, str]:
        """The session cookie as a header."""
        return {"Cookie": f"token_id={self.token_id}"}

    async def raw(
        self, path: str, body: dict[str, Any] | None = None, *, ticket: bool = True
    ) -> httpx.Response:
        """POST ``/api/<path>`` with the ticket and cookie; no status check."""
        payload = dict(body or {})
        if ticket:
            payload.setdefault("ticket", self.ticket)
        return await self.http.post(f"/api/{path}", json=payload, headers=self.cookie_header)

    async def call(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """POST and decode; raises :class:`RawCallError` on a non-200 status."""
        response = await self.raw(path, body)
        if response.status_code != 200:
            raise RawCallError(path, response.status_code, _decode(response))
        decoded = response.json()
        assert isinstance(decoded, dict)
        return decoded

    async def poll(
        self,
        event_horizon: int,
        *,
        wait: bool = False,
        flags: Iterable[str] | None = None,
    ) -> dict[str, Any]:
        """One ``account/poll``."""
        body: dict[str, Any] = {"event_horizon": event_horizon, "wait": wait}
        if flags is not None:
            body["poll_flags"] = list(flags)
        return await self.call("account/poll", body)

    async def initial_sync(
        self, *, flags: Iterable[str] | None = None, max_batches: int = 1000
    ) -> tuple[int, list[dict[str, Any]], list[dict[str, Any]]]:
        """Poll from 0 until the horizon turns positive.

        Returns:
            ``(horizon, records, responses)``.
        """
        horizon = 0
        records: list[dict[str, Any]] = []
        responses: list[dict[str, Any]] = []
        for _ in range(max_batches):
            answer = await self.poll(horizon, wait=False, flags=flags)
            responses.append(answer)
            records.extend(answer["stream"])
            horizon = answer["event_horizon"]
            if horizon > 0:
                return horizon, records, responses
        raise RuntimeError("initial sync did not finish")

    async def drain(self, event_horizon: int) -> tuple[int, list[dict[str, Any]]]:
        """Poll with ``wait=false`` while the horizon moves; returns ``(horizon, records)``."""
        records: list[dict[str, Any]] = []
        while True:
            answer = await self.poll(event_horizon, wait=False)
            records.extend(answer["stream"])
            if answer["event_horizon"] == event_horizon:
                return event_horizon, records
            event_horizon = answer["event_horizon"]

    async def upload(
        self,
        name: str,
        data: bytes,
        content_type: str = "application/octet-stream",
    ) -> dict[str, Any]:
        """Multipart ``file/upload`` of one file; returns its ``files[0]`` entry."""
        response = await self.http.post(
            "/api/file/upload/",
            params={"ticket": self.ticket},
            files={"files": (name, data, content_type)},
            headers=self.cookie_header,
        )
        if response.status_code != 200:
            raise RawCallError("file/upload", response.status_code, _decode(response))
        files = response.json()["files"]
        assert isinstance(files, list)
        entry = files[0]
        assert isinstance(entry, dict)
        return entry

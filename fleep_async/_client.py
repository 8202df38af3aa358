"""``FleepClient``: the object users hold. Owns the transport and the session.

The core here is deliberately small: construction, ``async with`` (log in or resume on enter,
close on exit), the raw :meth:`FleepClient.request` every service and the poller use, and the file
and hook passthroughs. Services (``client.message`` ...) and the event engine (``client.run()``
...) attach at the marked places.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from types import TracebackType
from typing import Any

import anyio
import anyio.abc
import httpx

from fleep_async._http import DEFAULT_MAX_RESPONSE_BYTES, Transport, UploadFile
from fleep_async._http._secret import Secret
from fleep_async._retry import RetryPolicy, Sleep
from fleep_async._session import Credentials, Session, SessionState, StateCallback
from fleep_async.errors import UsageError
from fleep_async.events import (
    Backlog,
    EngineHealth,
    EventCache,
    EventEngine,
    EventStream,
    HorizonStore,
    Router,
)
from fleep_async.models.records import (
    ContactRecord,
    ConversationRecord,
    Record,
    RecordKind,
)
from fleep_async.models.results import ConversationSyncResult
from fleep_async.services import (
    AccountService,
    AliasService,
    AvatarService,
    BusinessService,
    ClassificatorsService,
    ContactService,
    ConversationService,
    EventService,
    FileService,
    HookService,
    LabelService,
    MailService,
    MessageService,
    SearchService,
    ServiceHub,
    TeamService,
    send_text,
)

__all__ = ["FleepClient"]

logger = logging.getLogger("fleep_async.client")


class FleepClient:
    """The async Fleep client.

    Use it as an async context manager: entering logs in (or resumes ``session``), leaving
    closes the connections. Leaving does **not** log out, so a restarted bot keeps its session;
    call :meth:`logout` to end it.

    ::

        async with FleepClient("bot@example.com", password) as client:
            await client.request("message/send/" + conversation_id, {"message": "hi"})

    Args:
        email: the account's email or Fleep address (with ``password``).
        password: the account's password; kept in memory only, to log in again after a 401.
        base_url: the server. Plain http only to loopback unless ``allow_insecure_http``.
        session: a saved :class:`SessionState` to resume instead of logging in.
        transport: an httpx transport (tests: ``httpx.ASGITransport(app=fake)``; speed:
            :func:`~fleep_async.aiohttp_transport`). The client closes it on :meth:`aclose`,
            like ``httpx.AsyncClient`` does: clients sharing one must not close it early.
            Sharing is safe for sessions: cookies and tickets travel per call, never in a jar.
        poll_transport: an httpx transport for long polls (default: ``transport``).
        retry: the retry policy (default :class:`RetryPolicy`).
        timeout: seconds for each connect, read, write and pool wait of normal calls.
        deadline: seconds for the whole of one attempt of a normal call (connect, send, full
            answer; default twice ``timeout``; uploads get one more second per 256 KiB). Past
            it the call fails with :class:`FleepTimeoutError`. The long poll has none.
        poll_timeout: read timeout for long polls (above the server's ~90 s hold).
        allow_insecure_http: allow plain http to non-loopback hosts.
        max_response_bytes: refuse responses larger than this.
        sleep: the sleep used between retries (tests inject one that records).
        user_agent: the ``User-Agent`` header (default ``fleep-async/<version>``).
        http2: use HTTP/2 (needs ``h2``).
        on_session_change: called with the new :class:`SessionState` after each login, token
            rotation and resume, and with ``None`` after logout (e.g. to save it to a file).

    Raises:
        UsageError: bad arguments (an email without a password, a bad ``base_url``).
    """

    def __init__(
        self,
        email: str | None = None,
        password: str | None = None,
        *,
        base_url: str = "https://fleep.io",
        session: SessionState | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        poll_transport: httpx.AsyncBaseTransport | None = None,
        retry: RetryPolicy | None = None,
        timeout: float = 30.0,
        deadline: float | None = None,
        poll_timeout: float = 120.0,
        allow_insecure_http: bool = False,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        sleep: Sleep | None = None,
        user_agent: str | None = None,
        http2: bool = False,
        on_session_change: StateCallback | None = None,
    ) -> None:
        if (email is None) != (password is None):
            raise UsageError("pass both email and password, or neither")
        credentials = (
            Credentials(email=email, password=password)
            if email is not None and password is not None
            else None
        )
        self._transport = Transport(
            base_url=base_url,
            timeout=timeout,
            deadline=deadline,
            poll_timeout=poll_timeout,
            retry=retry,
            sleep=sleep,
            max_response_bytes=max_response_bytes,
            allow_insecure_http=allow_insecure_http,
            user_agent=user_agent,
            http2=http2,
            transport=transport,
            poll_transport=poll_transport,
        )
        self._initial_state = session
        self._session = Session(self._transport, credentials, on_state_change=on_session_change)
        self._closed = False

        # Services: one object per API area over this client's request(); generated from the
        # endpoint registry, so the client itself holds no endpoint logic.
        hub = ServiceHub(self)
        self.account: AccountService = hub.account
        self.alias: AliasService = hub.alias
        self.avatar: AvatarService = hub.avatar
        self.business: BusinessService = hub.business
        self.classificators: ClassificatorsService = hub.classificators
        self.contact: ContactService = hub.contact
        self.conversation: ConversationService = hub.conversation
        self.event: EventService = hub.event
        self.file: FileService = hub.file
        self.hook: HookService = hub.hook
        self.label: LabelService = hub.label
        self.mail: MailService = hub.mail
        self.message: MessageService = hub.message
        self.search: SearchService = hub.search
        self.team: TeamService = hub.team

        # The event engine: handlers register on this router; run() builds an engine over it.
        self.router = Router(name="client")
        self._engine: EventEngine[FleepClient] | None = None

    def __repr__(self) -> str:
        return (
            f"FleepClient(base_url={self._transport.base_url!r}, "
            f"account_id={self._session.account_id!r})"
        )

    # -- lifecycle --------------------------------------------------------------------------

    async def __aenter__(self) -> FleepClient:
        try:
            await self.start()
        except BaseException:
            await self.aclose()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def start(self) -> None:
        """Resume the saved session, or log in; a no-op without either (hooks only).

        ``async with`` calls this for you.

        Raises:
            AuthenticationError: the login was refused, or the saved session is dead and no
                credentials are known.
        """
        self._check_open()
        if self._initial_state is not None and self._session.state is None:
            await self._session.resume(self._initial_state)
        elif self._session.has_credentials and self._session.state is None:
            await self._session.login()

    async def aclose(self) -> None:
        """Close the connections (without logging out). Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        # Stop the poller before the transport goes. Not shutdown(): aclose() may be called from
        # inside a handler, and waiting there for the handlers to drain would deadlock.
        if self._engine is not None:
            self._engine.stop(0)
        await self._transport.aclose()

    async def logout(self) -> None:
        """End the session on the server (``account/logout``) and forget it."""
        await self._session.logout()

    @property
    def closed(self) -> bool:
        """Whether :meth:`aclose` has run."""
        return self._closed

    @property
    def account_id(self) -> str | None:
        """The logged-in account's id, or ``None``."""
        return self._session.account_id

    @property
    def session_state(self) -> SessionState | None:
        """The current session (save it with ``to_dict()`` to resume later), or ``None``."""
        return self._session.state

    @property
    def profile(self) -> dict[str, Any] | None:
        """The own contact record returned by the last login (raw dict), or ``None``."""
        return self._session.profile

    @property
    def base_url(self) -> str:
        """The server's base URL."""
        return self._transport.base_url

    # -- raw calls ------------------------------------------------------------------------

    async def request(
        self,
        path: str,
        body: Mapping[str, Any] | None = None,
        *,
        idempotent: bool = False,
        long_poll: bool = False,
        auth: bool = True,
    ) -> Any:
        """Call ``POST /api/{path}`` and return the decoded JSON answer.

        An object for nearly every endpoint; ``None`` or a list for the few that answer so
        (``avatar/delete`` may answer ``null``, ``search/suggest`` a list of strings).

        Adds the session's ticket and cookie (``auth=True``), logs in again once on 401 when the
        password is known, and retries transport errors, 5xx and 429 when ``idempotent``.

        Raises:
            FleepAPIError: (a subclass of) for an error status.
            TransportError: the network failed after retries.
            UsageError: a bad path or body, or no session and no credentials.
        """
        self._check_open()
        return await self._session.call(
            path, body, idempotent=idempotent, long_poll=long_poll, auth=auth
        )

    def on_records(self, records: list[Record]) -> None:
        """Take the records of a service call's result into the running engine's cache.

        Every ``client.<area>.<method>(...)`` hands its result's records here: the header a
        ``message.store`` answers, the own contact ``account.configure`` answers, a search's
        stream ... so ``ctx.conversation`` and the cache see what the client itself changed
        before the poll brings it. A no-op while :meth:`run` is not running.
        """
        engine = self._engine
        if engine is None:
            return
        cache = engine.cache
        for record in records:
            if isinstance(record, ConversationRecord):
                cache.update_conversation(record)
            elif isinstance(record, ContactRecord):
                cache.update_contact(record)

    async def upload(self, path: str, files: UploadFile | Sequence[UploadFile]) -> Any:
        """Upload files (multipart field ``files``) to ``/api/{path}``, e.g. ``file/upload``.

        Returns:
            The decoded answer: ``{"files": [{"file_id": ..., "upload_url": ...}, ...]}``.
        """
        self._check_open()
        batch = [files] if isinstance(files, UploadFile) else list(files)
        return await self._session.upload(path, batch)

    @contextlib.asynccontextmanager
    async def download(self, url_or_path: str) -> AsyncIterator[httpx.Response]:
        """Stream a file: ``async with client.download(url) as response: ...``.

        ``url_or_path`` is a ``/file/...`` path or an absolute URL; the session cookie goes only
        to the client's own server. Read with ``response.aiter_bytes()``.
        """
        self._check_open()
        state = self._session.state
        token_id = state.token_id if state is not None else None
        async with self._transport.stream_get(url_or_path, token_id=token_id) as response:
            yield response

    async def post_hook(
        self,
        url: str | Secret[str],
        data: Mapping[str, Any],
        *,
        files: Sequence[UploadFile] | None = None,
    ) -> None:
        """Post ``data`` (e.g. ``{"message": "hi", "user": "CI"}``) to a hook URL; no login.

        The hook URL is a secret: it is never logged or put in an error message, nor held in
        a plain local (a traceback recorded with its locals does not show it).
        """
        url = Secret.of(url)
        self._check_open()
        await self._transport.post_hook(url, data, files=files)

    async def send_text(
        self,
        conversation_id: str,
        text: str,
        *,
        attachments: Sequence[str] | None = None,
    ) -> ConversationSyncResult:
        """Send plain ``text`` (Fleep markup allowed) to a conversation.

        It uses ``message/store`` (a new message) with a ``client_req_id`` fixed before the
        first attempt, which the server de-duplicates: a retried send never posts twice.
        ``attachments`` are upload URLs from ``client.file.upload``.
        """
        return await send_text(self, conversation_id, text, attachments=attachments)

    def _check_open(self) -> None:
        if self._closed:
            raise UsageError("the client is closed")

    # -- event engine ---------------------------------------------------------------------

    async def run(
        self,
        *,
        store: HorizonStore | None = None,
        backlog: Backlog = "resume",
        dedup: bool = False,
        task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
        **options: Any,
    ) -> None:
        """Long-poll for events and dispatch them to the handlers on :attr:`router`.

        Runs until :meth:`stop` is called or the task is cancelled; either way the checkpoint
        is written before it returns. With ``task_group.start(client.run)`` it returns once the
        starting horizon is known, so nothing after that point is missed.

        Args:
            store: where the horizon (and dedup state) is checkpointed (``FileStore``,
                ``SQLiteStore``); in memory if ``None``.
            backlog: ``"resume"`` from the stored horizon (a new store starts at the current
                horizon), ``"skip"`` history, or ``"full"`` initial sync from 0.
            dedup: handle each record revision at most once, across restarts.
            task_status: for ``task_group.start``.
            **options: further :class:`~fleep_async.events.EventEngine` options
                (``max_concurrency``, ``queue_size``, ``handler_timeout``, ``on_dead_letter``...).

        Raises:
            AuthenticationError: the session died and logging in again failed.
            UsageError: ``run`` is already running, or bad options.
        """
        self._check_open()
        if self._engine is not None:
            raise UsageError("the client's event engine is already running")
        engine = EventEngine(
            self, self.router, store=store, backlog=backlog, dedup=dedup, **options
        )
        self._engine = engine
        try:
            await engine.run(task_status=task_status)
        finally:
            self._engine = None

    def stop(self, deadline: float | None = None) -> None:
        """Ask :meth:`run` to stop: finish the handlers in flight (up to ``deadline`` seconds),
        then cancel the rest and write the checkpoint. Safe from any task; a no-op if idle."""
        if self._engine is not None:
            self._engine.stop(deadline)

    def events(self, *, kinds: Sequence[RecordKind] | None = None, **options: Any) -> EventStream:
        """Iterate over records instead of registering handlers.

        ::

            async with client.events(kinds=["message"], store=FileStore("bot.json")) as stream:
                async for record in stream:
                    ...

        A record counts as handled when the loop asks for the next one. ``options`` are
        :class:`~fleep_async.events.EventEngine` options (``store``, ``backlog``, ``dedup``...).

        Raises:
            UsageError: an unknown kind in ``kinds`` (the message lists the valid ones).
        """
        return EventEngine(self, Router(name="events"), **options).events(kinds=kinds)

    @property
    def cache(self) -> EventCache | None:
        """The running engine's conversation and contact cache, or ``None`` while idle."""
        return None if self._engine is None else self._engine.cache

    @property
    def health(self) -> EngineHealth | None:
        """The running engine's health snapshot (horizon, lag, queue depth, retries), or None."""
        return None if self._engine is None else self._engine.health

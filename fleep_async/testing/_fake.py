"""The public :class:`FakeFleep` object."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import anyio
import attrs
import httpx

from fleep_async.testing._http.app import build_app
from fleep_async.testing._http.errors import ApiError
from fleep_async.testing._http.faults import Faults
from fleep_async.testing._http.limits import DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_UPLOAD_BYTES
from fleep_async.testing._http.routing import Ctx, Params, Result, load_handlers
from fleep_async.testing._world import records as rec
from fleep_async.testing._world.state import AccountState, Record
from fleep_async.testing._world.world import Account, OutboxMail, World, WorldConfig

if TYPE_CHECKING:
    from starlette.applications import Starlette

    from fleep_async.testing._http.server import FakeFleepServer

AccountRef = Account | str


class FakeFleep:
    """A faithful local Fleep server: a Starlette ASGI app over in-memory state.

    In-process (no sockets)::

        fake = FakeFleep(hold_seconds=1.0)
        alice = fake.create_account("alice@example.com", "pw", "Alice")
        async with httpx.AsyncClient(transport=fake.transport(), base_url=fake.base_url) as http:
            ...  # or FleepClient(..., base_url=fake.base_url, transport=fake.transport())

    Over a real loopback socket (uvicorn; asyncio only)::

        async with FakeFleep.serve(port=0, hold_seconds=1.0) as server:
            server.base_url  # "http://127.0.0.1:<port>"
            server.fake.create_account(...)

    Or out of process: ``python -m fleep_async.testing serve --port 8900``.

    What it implements: every endpoint of ``endpoints.md`` (sessions with ``token_id`` cookie +
    ticket, the per-account event log behind ``account/poll`` with long polls and a batched
    initial sync, conversations, messages with flow numbering, edits, deletes, pins, files,
    hooks, teams, labels, contacts, search, idempotent ``client_req_id``, a fake mail outbox).
    What it does not: video calls, slash commands, Trello / external accounts, organisations and
    billing (answered with 431 ``not_supported_by_fakefleep``), real email, URL previews,
    reactions, emoticon rendering. See ``docs/fakefleep.md``.

    Faults: ``fake.faults`` (:class:`~fleep_async.testing.Faults`), e.g.
    ``fake.faults.fail("message/send", 503, retry_after=1)``, ``fake.faults.drop("account/poll")``,
    ``fake.faults.chaos(rate=0.1)``; also ``POST /_fakefleep/faults`` for a served fake.

    Args:
        hold_seconds: how long a ``wait=true`` poll with nothing new is held (real: ~90 s).
        seed: seeds entity ids and fault randomness (secrets stay random).
        base_url: the URL clients use; hook, autojoin and upload URLs are built on it.
        sync_batch_size: conversations per initial-sync batch.
        sync_messages: recent messages per conversation in the initial sync.
        poll_batch_size: max records per poll answer (clients keep polling while it moves).
        static_version: the poll's ``static_version``.
        clock: unix time source (``posted_time`` and friends).
        admin: serve the ``/_fakefleep/*`` admin routes (no auth: loopback test use only).
        max_body_bytes: the largest request body (JSON calls, hook posts); larger ones get 413
            ``request_too_large``, refused by ``Content-Length`` or while streaming.
        max_upload_bytes: the same for ``file/upload`` and ``avatar/upload`` bodies.
        welcome: give every new account the "Fleep Support" contact and its dialog with a
            welcome message, as the real server does. ``False`` starts accounts empty (for
            tests that count conversations or contacts).
    """

    def __init__(
        self,
        *,
        hold_seconds: float = 90.0,
        seed: int = 0,
        base_url: str = "https://fleep.test",
        sync_batch_size: int = 20,
        sync_messages: int = 5,
        poll_batch_size: int = 500,
        static_version: str = "fakefleep-1",
        clock: Callable[[], float] = time.time,
        admin: bool = True,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
        welcome: bool = True,
    ) -> None:
        if hold_seconds < 0 or sync_batch_size < 1 or poll_batch_size < 1 or sync_messages < 0:
            raise ValueError("hold_seconds, sync_messages >= 0; batch sizes >= 1")
        config = WorldConfig(
            base_url=base_url.rstrip("/"),
            hold_seconds=hold_seconds,
            sync_batch_size=sync_batch_size,
            sync_messages=sync_messages,
            poll_batch_size=poll_batch_size,
            static_version=static_version,
            welcome=welcome,
        )
        self.world = World(config, seed=seed, clock=clock)
        self.faults = Faults(
            seed=seed, expire_session=self.expire_session, force_resync=self.force_resync
        )
        self.app: Starlette = build_app(
            self.world,
            self.faults,
            fake=self if admin else None,
            max_body_bytes=max_body_bytes,
            max_upload_bytes=max_upload_bytes,
        )

    def __repr__(self) -> str:
        return f"FakeFleep(base_url={self.base_url!r}, accounts={len(self.world.accounts)})"

    # ---------------------------------------------------------------- plumbing

    @property
    def base_url(self) -> str:
        """The base URL clients should use."""
        return self.world.config.base_url

    def set_base_url(self, base_url: str) -> None:
        """Change the base URL (``serve`` sets the real loopback URL)."""
        self.world.config = attrs.evolve(self.world.config, base_url=base_url.rstrip("/"))

    def transport(self) -> httpx.ASGITransport:
        """An httpx transport that calls the app in-process."""
        return httpx.ASGITransport(app=self.app)

    def http_client(self, **kwargs: Any) -> httpx.AsyncClient:
        """A raw ``httpx.AsyncClient`` wired to the app in-process."""
        return httpx.AsyncClient(transport=self.transport(), base_url=self.base_url, **kwargs)

    @classmethod
    @asynccontextmanager
    async def serve(
        cls,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        fake: FakeFleep | None = None,
        backlog: int = 2048,
        **kwargs: Any,
    ) -> AsyncIterator[FakeFleepServer]:
        """Serve a (new or given) FakeFleep over a real socket with uvicorn (asyncio only).

        ``port=0`` picks a free port; ``server.base_url`` has the real one. Parked polls are
        released on exit so shutdown is prompt.
        """
        from fleep_async.testing._http.server import serve_fake

        async with serve_fake(cls, host, port, fake=fake, backlog=backlog, **kwargs) as server:
            yield server

    # ---------------------------------------------------------------- knobs and state

    @property
    def outbox(self) -> list[OutboxMail]:
        """Mails FakeFleep "sent" (registration, invites, resets, alias confirmations)."""
        return self.world.outbox

    @property
    def external_files(self) -> dict[str, bytes]:
        """URL -> bytes that ``file/upload/external`` may "download"."""
        return self.world.external_files

    @property
    def parked_polls(self) -> int:
        """Long polls currently waiting for events."""
        return self.world.parked_polls

    def _account(self, ref: AccountRef) -> AccountState:
        ident = ref.account_id if isinstance(ref, Account) else ref
        found = self.world.find_account(ident)
        if found is None:
            raise KeyError(f"no such account: {ident}")
        return found

    def create_account(
        self,
        email: str,
        password: str,
        display_name: str | None = None,
        *,
        fleep_address: str | None = None,
    ) -> Account:
        """Create an active account (no mail round trip)."""
        return self.world.public(
            self.world.create_account(email, password, display_name, fleep_address=fleep_address)
        )

    def account(self, ref: AccountRef) -> Account:
        """The current public view of an account (by value, id, email or Fleep address)."""
        return self.world.public(self._account(ref))

    def create_conversation(
        self,
        owner: AccountRef,
        topic: str | None = None,
        members: Iterable[AccountRef] = (),
    ) -> str:
        """Create a conversation owned by ``owner``; returns its id."""
        creator = self._account(owner)
        ids = [self._account(m).account_id for m in members]
        conv = self.world.create_conversation(creator, topic=topic, member_ids=ids)
        return conv.conversation_id

    async def call_as(
        self,
        account: AccountRef,
        path: str,
        body: dict[str, Any] | None = None,
        *,
        path_id: str | None = None,
    ) -> Result:
        """Run an API handler as ``account`` without HTTP (raises :class:`ApiError`)."""
        spec = load_handlers()[path]
        ctx = Ctx(
            world=self.world,
            faults=self.faults,
            params=Params(dict(body or {})),
            path=path,
            path_id=path_id,
            account=self._account(account),
        )
        if spec.is_async:
            return await spec.func(ctx)  # type: ignore[no-any-return,misc]
        return spec.func(ctx)  # type: ignore[return-value]

    async def post_as(
        self,
        account: AccountRef,
        conversation_id: str,
        text: str,
        *,
        attachments: Iterable[str] = (),
    ) -> int:
        """Post as a simulated human through the message/send code path; returns message_nr."""
        result = await self.call_as(
            account,
            "message/send",
            {"message": text, "attachments": list(attachments) or None},
            path_id=conversation_id,
        )
        return int(result["result_message_nr"])

    def upload_as(
        self, account: AccountRef, name: str, data: bytes, content_type: str | None = None
    ) -> str:
        """Store a file as ``account``; returns an ``upload_url`` for ``attachments``."""
        return self.world.store_file(self._account(account), name, data, content_type).upload_url

    def create_hook(
        self, account: AccountRef, conversation_id: str, hook_name: str | None = None
    ) -> str:
        """Create a plain webhook; returns its (secret) ``hook_url``."""
        me = self._account(account)
        conv = self.world.conversation(conversation_id)
        self.world.require_member(conv, me.account_id)
        hook = self.world.create_hook(
            conv, me.account_id, hook_name=hook_name, mk_hook_type="plain", outgoing_url=None
        )
        return f"{self.base_url}/hook/{hook.url_id}"

    def messages(self, conversation_id: str, viewer: AccountRef | None = None) -> list[Record]:
        """Message records of a conversation, as ``viewer`` (default: the creator) sees them."""
        conv = self.world.conversation(conversation_id)
        viewer_id = self._account(viewer).account_id if viewer is not None else conv.creator_id
        m = conv.memberships[viewer_id]
        return [rec.message(conv, msg, viewer_id) for msg in conv.visible_messages(m)]

    def message_counts(
        self, conversation_id: str | None = None, *, mk_message_type: str | None = "text"
    ) -> Counter[tuple[str, str]]:
        """Messages stored per ``(conversation_id, account_id)``: the server's own tally.

        What an independent judge of a bot's effects reads (one reply per message, say): it
        counts what the server stored, whatever the bot believes it did.

        Args:
            conversation_id: one conversation, or every one.
            mk_message_type: only messages of this type (``None``: every type).
        """
        conversations = (
            [self.world.conversation(conversation_id)]
            if conversation_id is not None
            else list(self.world.conversations.values())
        )
        counts: Counter[tuple[str, str]] = Counter()
        for conv in conversations:
            for message in conv.messages.values():
                if mk_message_type is None or message.mk_message_type == mk_message_type:
                    counts[conv.conversation_id, message.account_id] += 1
        return counts

    def header(self, conversation_id: str, viewer: AccountRef) -> Record:
        """The full conversation header as ``viewer`` sees it."""
        conv = self.world.conversation(conversation_id)
        return self.world.full_header(conv, self._account(viewer).account_id)

    def horizon(self, account: AccountRef) -> int:
        """The account's current event horizon."""
        return self._account(account).log.horizon

    def events(self, account: AccountRef, after: int = 0) -> list[Record]:
        """The account's event log after a horizon (what polls would deliver)."""
        return list(self._account(account).log.records[max(after, 0) :])

    def expire_session(self, who: AccountRef) -> int:
        """Kill every session of an account: its next call (and parked polls) get 401."""
        return self.world.expire_sessions(self._account(who).account_id)

    def force_resync(self, who: AccountRef) -> None:
        """The account's next (or parked) poll answers ``event_horizon: 0``."""
        account = self._account(who)
        account.resync_pending = True
        account.log.signal.fire()
        self.world.notify()

    def complete_password_reset(self, notification_id: str, password: str) -> None:
        """Finish a reset from its outbox mail; the account's sessions are closed."""
        from fleep_async.testing._handlers.account import complete_password_reset

        complete_password_reset(self.world, notification_id, password)

    # A timeout parameter on purpose: the condition is re-checked on state changes, and the
    # bound is part of the call so that a forgotten fail_after cannot hang a test.
    async def wait_for(
        self,
        predicate: Callable[[], bool],
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> None:
        """Wait until ``predicate()`` holds, re-checking on every state change.

        Raises:
            TimeoutError: not true within ``timeout`` seconds.
        """
        with anyio.fail_after(timeout):
            while not predicate():
                await self.world.changed.wait()

    def release_polls(self) -> None:
        """Answer every parked poll now (used on shutdown)."""
        self.world.closing = True
        self.world.release_generation += 1
        for account in self.world.accounts.values():
            account.log.signal.fire()
        self.world.notify()

    def reopen(self) -> None:
        """Let polls park again after :meth:`release_polls`."""
        self.world.closing = False


__all__ = ["ApiError", "FakeFleep"]

"""The login session: credentials, ticket + ``token_id``, and a single-flight re-login.

Fleep authenticates each call twice: a ``ticket`` in the JSON body and a ``token_id`` cookie,
both handed out by ``account/login``. :class:`Session` keeps them, adds them to every call, picks
up a rotated ``token_id`` from any 200 answer, and when the server says 401 (the session expired)
logs in again *once* for all the callers that saw it, then repeats each failed call once.

Re-logins are also rate limited across calls: a server that rejects every fresh session (answers
401 to every send while ``account/login`` keeps succeeding) would otherwise turn each call into a
login, and enough logins lock an account. The first re-login after a login is immediate; each
further one within :data:`RELOGIN_MAX_INTERVAL` of the previous login must wait twice as long as
the last (from :data:`RELOGIN_MIN_INTERVAL`); a call that would need one sooner fails at once
with :class:`~fleep_async.errors.RateLimitError` (``error_id="relogin_rate_limited"``,
``retry_after`` set), which the poller waits out like a 429. A re-login whose repeated call
succeeds resets that backoff: the session had only expired, and a server that expires sessions
often (each new one working) must not lock the client out.
"""

from __future__ import annotations

import copy
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Final

import anyio
import attrs

from fleep_async._http import Transport, TransportResult, UploadFile
from fleep_async._http._secret import Secret
from fleep_async._http._urls import check_path
from fleep_async.errors import (
    AuthenticationError,
    DecodeError,
    FleepAPIError,
    FleepError,
    RateLimitError,
    Redactor,
    UsageError,
)

__all__ = [
    "API_VERSION",
    "RELOGIN_MAX_INTERVAL",
    "RELOGIN_MIN_INTERVAL",
    "Credentials",
    "Session",
    "SessionState",
    "StateCallback",
]

logger = logging.getLogger("fleep_async.session")

API_VERSION: Final = 2
"""The ``api_version`` every authenticated JSON body carries, as Fleep's own clients send it
(the official Python client and the server tests: ``{ticket, api_version: 2, ...}``). The
answers' shapes follow it (system message bodies are JSON objects, for one). Login and the
other calls made without a session carry neither ticket nor ``api_version``."""


def _versioned(body: Mapping[str, Any] | None) -> dict[str, Any]:
    # The caller's own api_version wins (event/store is documented with 4).
    return {"api_version": API_VERSION, **(body or {})}


_HIDDEN = "'***'"

# Statuses Fleep answers a refused login with: 401, 431 (business rule "bad password") and 400.
_LOGIN_REFUSED = frozenset({400, 401, 431})

RELOGIN_MIN_INTERVAL: Final = 5.0
"""Seconds between the second re-login and the previous login (then doubling)."""
RELOGIN_MAX_INTERVAL: Final = 300.0
"""The longest wait between re-logins; a login older than this resets the doubling."""


def _hide(value: object) -> str:
    return "None" if value is None else _HIDDEN


@attrs.frozen(kw_only=True)
class Credentials:
    """An email (or Fleep address) and password; the password never appears in a repr.

    The password is kept in memory only, so that an expired session can log in again.
    """

    email: str
    password: str = attrs.field(repr=_hide)


@attrs.frozen(kw_only=True)
class SessionState:
    """What identifies a logged-in session; enough to resume it without the password.

    Attributes:
        account_id: the account's id.
        ticket: the ticket that goes in every JSON body (secret: redacted in the repr).
        token_id: the ``token_id`` cookie (secret: redacted in the repr), if the server set one.
        display_name: the account's display name, if known.
        email: the account's email, if known.
    """

    account_id: str
    ticket: str = attrs.field(repr=_hide)
    token_id: str | None = attrs.field(default=None, repr=_hide)
    display_name: str | None = None
    email: str | None = None

    def to_dict(self) -> dict[str, str | None]:
        """A JSON-ready dict (secrets included: store it like a password)."""
        return {
            "account_id": self.account_id,
            "ticket": self.ticket,
            "token_id": self.token_id,
            "display_name": self.display_name,
            "email": self.email,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SessionState:
        """Rebuild a state saved with :meth:`to_dict`; unknown keys are ignored.

        Raises:
            UsageError: a required field is missing or a field is not a string.
        """
        values: dict[str, str | None] = {}
        for key in ("account_id", "ticket", "token_id", "display_name", "email"):
            value = data.get(key)
            if value is not None and not isinstance(value, str):
                raise UsageError(f"session field {key!r} must be a string")
            values[key] = value
        account_id, ticket = values.pop("account_id"), values.pop("ticket")
        if not account_id or not ticket:
            raise UsageError("a saved session needs 'account_id' and 'ticket'")
        return cls(account_id=account_id, ticket=ticket, **values)


StateCallback = Callable[[SessionState | None], Awaitable[None] | None]
"""Called (and awaited if it returns an awaitable) with the new state, or ``None`` on logout."""


def _text(data: object, key: str) -> str | None:
    value = data.get(key) if isinstance(data, Mapping) else None
    return value if isinstance(value, str) and value else None


class Session:
    """Adds the session's ticket and cookie to calls, and keeps the session alive.

    Args:
        transport: the transport to send through (not owned: the caller closes it).
        credentials: email and password, for ``login()`` and re-login after a 401.
        state: a saved session to start from (``resume`` checks it; calls just use it).
        on_state_change: called after every login, token rotation, resume and logout.
        clock: a monotonic clock in seconds, for the re-login rate limit (tests inject one).
    """

    def __init__(
        self,
        transport: Transport,
        credentials: Credentials | None = None,
        state: SessionState | None = None,
        *,
        on_state_change: StateCallback | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._transport = transport
        self._credentials = credentials
        self._state = state
        self._on_state_change = on_state_change
        self._profile: dict[str, Any] | None = None
        # Bumped whenever the state is replaced by a login; a call remembers the generation it
        # used, so a 401 from an old generation does not trigger a second login.
        self._generation = 0
        self._login_lock = anyio.Lock()
        self._login_attempts = 0
        self._last_login_error: FleepError | None = None
        self._clock = clock
        self._last_login_at: float | None = None
        # Re-logins in a row, each within RELOGIN_MAX_INTERVAL of the login before it.
        self._relogin_streak = 0
        self.redactor = Redactor()
        """Scrubs this session's secrets from text (for logs of layers above)."""
        if credentials is not None:
            self.redactor.add(credentials.password)
        self._remember_secrets(state)

    def __repr__(self) -> str:
        account = self._state.account_id if self._state else None
        return f"Session(account_id={account!r}, logged_in={self._state is not None})"

    @property
    def state(self) -> SessionState | None:
        """The current session, or ``None`` when logged out."""
        return self._state

    @property
    def account_id(self) -> str | None:
        """The logged-in account's id, or ``None``."""
        return self._state.account_id if self._state else None

    @property
    def profile(self) -> dict[str, Any] | None:
        """The own contact record from the last login (raw dict), or ``None``."""
        return self._profile

    @property
    def generation(self) -> int:
        """How many times this session has logged in (or resumed)."""
        return self._generation

    @property
    def has_credentials(self) -> bool:
        """Whether a password is known, so a 401 can be healed by logging in again."""
        return self._credentials is not None

    # -- login / logout ---------------------------------------------------------------------

    async def login(self) -> SessionState:
        """Log in with the credentials (``account/login``) and start a new generation.

        Raises:
            AuthenticationError: the server refused the credentials (401, 431 or 400).
            UsageError: no credentials were given.
        """
        async with self._login_lock:
            return await self._login()

    async def _login(self) -> SessionState:
        if self._credentials is None:
            raise UsageError("cannot log in: no email and password were given")
        self._login_attempts += 1
        self._last_login_at = self._clock()
        body = {
            "email": self._credentials.email,
            # Wrapped: no local of this frame (or below) holds the password in clear.
            "password": Secret(self._credentials.password),
            # A bot wants the long-term session cookie: it outlives restarts.
            "remember_me": True,
        }
        try:
            # A login is safe to repeat: at worst the server opens a session we never use.
            result = await self._transport.post_json("account/login", body, idempotent=True)
        except FleepAPIError as exc:
            if exc.status_code in _LOGIN_REFUSED or isinstance(exc, AuthenticationError):
                raise AuthenticationError(
                    # The server's own words ("Invalid email or password.") say the most.
                    exc.error_message or "login refused",
                    status_code=exc.status_code,
                    error_id=exc.error_id,
                    error_message=exc.error_message,
                    endpoint="account/login",
                ) from exc
            raise
        state, profile = self._state_from_login(result, self._credentials.email)
        if result.token_id is None:
            logger.warning("account/login set no token_id cookie; later calls may get 401")
        self._profile = profile
        await self._set_state(state, new_generation=True)
        logger.info("logged in as account %s", state.account_id)
        return state

    @classmethod
    def _state_from_login(
        cls, result: TransportResult, email: str
    ) -> tuple[SessionState, dict[str, Any] | None]:
        # The answer is read through ``result`` (whose repr hides it): no local holds the ticket.
        account_id = _text(result.data, "account_id")
        if account_id is None or _text(result.data, "ticket") is None:
            raise DecodeError(
                "the login answer has no ticket or account_id", endpoint="account/login"
            )
        profile = cls._own_profile(result.data, account_id)
        state = SessionState(
            account_id=account_id,
            ticket=str(result.data["ticket"]),
            token_id=result.token_id,
            display_name=_text(result.data, "display_name"),
            email=(profile and _text(profile, "email")) or email,
        )
        return state, profile

    @staticmethod
    def _own_profile(data: Mapping[str, Any], account_id: str) -> dict[str, Any] | None:
        profiles = data.get("profiles")
        if not isinstance(profiles, list):
            return None
        candidates = [p for p in profiles if isinstance(p, dict)]
        for profile in candidates:
            if profile.get("account_id") == account_id:
                return profile
        return candidates[0] if candidates else None

    async def logout(self) -> None:
        """Close the session on the server (``account/logout``) and forget it.

        A session that is already dead (401) counts as logged out. The state is forgotten
        even if the call fails.
        """
        state = self._state
        if state is None:
            return
        try:
            await self._transport.post_json(
                "account/logout", _versioned(None), ticket=state.ticket, token_id=state.token_id
            )
        except AuthenticationError:
            pass
        finally:
            self._profile = None
            await self._set_state(None, new_generation=True)
        logger.info("logged out of account %s", state.account_id)

    async def resume(self, state: SessionState) -> SessionState:
        """Adopt a saved session and check it with ``account/sync`` (no password needed).

        Refreshes ``display_name`` and ``email`` from the answer. If the saved session has
        expired and credentials are known, logs in again instead.

        Raises:
            AuthenticationError: the session is dead and no (valid) credentials are known.
        """
        self._profile = None
        await self._set_state(state, new_generation=True)
        try:
            data = await self.call("account/sync", {}, idempotent=True)
        except AuthenticationError:
            if self._state is state:
                await self._set_state(None, new_generation=True)  # dead, and no way to heal it
            raise
        current = self._state
        if current is not None and current.account_id == state.account_id:
            refreshed = attrs.evolve(
                current,
                display_name=_text(data, "display_name") or current.display_name,
                email=_text(data, "email") or current.email,
            )
            if refreshed != current:
                await self._set_state(refreshed, new_generation=False)
        assert self._state is not None  # a failed call raised above
        return self._state

    async def ensure_login(self) -> SessionState:
        """Return the current session, logging in first if there is none.

        Raises:
            AuthenticationError: the login was refused.
            UsageError: no session and no credentials.
        """
        state = self._state
        if state is not None:
            return state
        async with self._login_lock:
            # Another task may have logged in while we waited for the lock.
            if self._state is not None:
                return self._state
            return await self._login()

    async def relogin(self, failed_generation: int) -> None:
        """Log in again because a call of ``failed_generation`` got 401: once for all callers.

        Concurrent callers that saw the same 401 wait for the first one's login and then use
        its result; a login that fails is reported to all of them without being repeated.

        Raises:
            AuthenticationError: the re-login was refused, or there are no credentials.
            RateLimitError: a re-login is not allowed yet (``error_id="relogin_rate_limited"``,
                ``retry_after`` says when): see the module docstring.
        """
        if self._credentials is None:
            raise AuthenticationError(
                "the session expired and no credentials are known to log in again",
                status_code=401,
                endpoint="account/login",
            )
        attempts_seen = self._login_attempts
        async with self._login_lock:
            if self._generation != failed_generation:
                return  # someone else has already logged in again
            if self._login_attempts != attempts_seen and self._last_login_error is not None:
                # A login ran while we waited for the lock, and failed: share its outcome.
                raise copy.copy(self._last_login_error) from self._last_login_error
            self._check_relogin_rate()
            logger.info("session expired (401); logging in again")
            try:
                await self._login()
            except FleepError as exc:
                self._last_login_error = exc
                raise
            self._last_login_error = None

    def _check_relogin_rate(self) -> None:
        """Count this re-login in the streak, or refuse it if it comes too soon."""
        last = self._last_login_at
        now = self._clock()
        if last is None or now - last >= RELOGIN_MAX_INTERVAL:
            self._relogin_streak = 0
        if self._relogin_streak > 0:
            interval = min(
                RELOGIN_MIN_INTERVAL * 2 ** (self._relogin_streak - 1), RELOGIN_MAX_INTERVAL
            )
            assert last is not None  # a streak starts with a login
            wait = last + interval - now
            if wait > 0:
                logger.warning(
                    "the server rejected a fresh session again; not logging in for %.0f s", wait
                )
                raise RateLimitError(
                    "the server keeps rejecting fresh sessions; the next re-login is allowed "
                    f"in {wait:.0f} s (re-logins are rate limited)",
                    status_code=401,
                    error_id="relogin_rate_limited",
                    endpoint="account/login",
                    retry_after=wait,
                )
        self._relogin_streak += 1

    # -- calls ------------------------------------------------------------------------------

    async def call(
        self,
        path: str,
        body: Mapping[str, Any] | None = None,
        *,
        idempotent: bool = False,
        long_poll: bool = False,
        auth: bool = True,
    ) -> Any:
        """Call an API endpoint with the session's ticket and cookie; return the JSON answer.

        The answer is an object for nearly every endpoint; ``null`` or a list for the few that
        answer so (see :class:`~fleep_async._http.TransportResult`).

        On 401 with credentials known, logs in again (single flight) and repeats the call once:
        a 401 means the server did not act on the call, so this is safe even for sends.

        Args:
            path: the API path, e.g. ``"message/send/<conversation_id>"``.
            body: the JSON fields (without ``ticket``; ``api_version`` is added to
                authenticated calls unless given).
            idempotent: whether transport failures may be retried.
            long_poll: use the long-poll connection (``account/poll``).
            auth: ``False`` for calls made without a session (no ticket, no cookie).

        Raises:
            AuthenticationError: 401 and no way to log in again, or the re-login failed.
            FleepError: any other failure (see :meth:`Transport.post_json`).
        """
        # A bad path is refused before anything is sent, including the login it would need.
        check_path(path)
        if not auth:
            result = await self._transport.post_json(
                path, body, idempotent=idempotent, long_poll=long_poll
            )
            return result.data

        versioned = _versioned(body)

        async def send(state: SessionState) -> TransportResult:
            return await self._transport.post_json(
                path,
                versioned,
                ticket=state.ticket,
                token_id=state.token_id,
                idempotent=idempotent,
                long_poll=long_poll,
            )

        return await self._authenticated(send, retry_after_login=True)

    async def upload(self, path: str, files: Sequence[UploadFile]) -> Any:
        """Upload files with the session's ticket and cookie (see :meth:`Transport.upload`).

        After a 401 the upload is repeated once only if every file can be replayed.
        """
        check_path(path)

        async def send(state: SessionState) -> TransportResult:
            return await self._transport.upload(
                path, files, ticket=state.ticket, token_id=state.token_id
            )

        return await self._authenticated(
            send, retry_after_login=all(file.replayable for file in files)
        )

    async def _authenticated(
        self,
        send: Callable[[SessionState], Awaitable[TransportResult]],
        *,
        retry_after_login: bool,
    ) -> Any:
        state = await self.ensure_login()
        generation = self._generation
        try:
            result = await send(state)
        except AuthenticationError:
            if self._credentials is None or not retry_after_login:
                raise
            await self.relogin(generation)
            state = await self.ensure_login()
            generation = self._generation
            # Exactly one repeat: a second 401 propagates instead of looping.
            result = await send(state)
            # The re-login healed the call: the session had expired, the server is not
            # rejecting fresh sessions. The backoff is for the latter only: without this reset a
            # server that expires sessions every few seconds (while each new one works) would
            # lock the client out for minutes, and a bot's handlers would give their records up.
            self._relogin_streak = 0
        await self._absorb_token(result.token_id, generation)
        return result.data

    async def _absorb_token(self, token_id: str | None, generation: int) -> None:
        state = self._state
        # An answer from before a re-login must not overwrite the new session's cookie.
        if token_id is None or state is None or generation != self._generation:
            return
        if token_id != state.token_id:
            logger.debug("the server rotated the token_id cookie")
            await self._set_state(attrs.evolve(state, token_id=token_id), new_generation=False)

    async def _set_state(self, state: SessionState | None, *, new_generation: bool) -> None:
        self._state = state
        if new_generation:
            self._generation += 1
        # Old secrets stay registered with the redactor: they may still show up in late logs.
        self._remember_secrets(state)
        if self._on_state_change is not None:
            outcome = self._on_state_change(state)
            if inspect.isawaitable(outcome):
                await outcome

    def _remember_secrets(self, state: SessionState | None) -> None:
        if state is not None:
            self.redactor.add(state.ticket)
            self.redactor.add(state.token_id)

"""Every service method through a recording requester: path, body, flags, decoded result."""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest

from fleep_async._http import UploadFile
from fleep_async._http._secret import Secret
from fleep_async.endpoints import (
    NOT_REGISTERED,
    REGISTRY,
    ClientEvent,
    Endpoint,
    _fields,
    service_location,
)
from fleep_async.endpoints.event import to_client_events
from fleep_async.errors import DecodeError, UsageError
from fleep_async.models import (
    ContactRecord,
    ConversationRecord,
    HookRecord,
    LabelRecord,
    MessageRecord,
    TeamRecord,
    UnknownRecord,
)
from fleep_async.models.results import (
    AccountPrepareResult,
    AccountSyncResult,
    AliasSyncResult,
    AvatarUploadResult,
    CallResult,
    ContactHideResult,
    ContactListResult,
    ConversationListResult,
    ConversationSyncResult,
    DiffTeamResult,
    EmptyResult,
    EventStoreResult,
    ExternalUploadResult,
    HookListResult,
    ListenResult,
    LoginResult,
    PollResult,
    RawResult,
    SearchResult,
    StreamResult,
    SuggestResult,
    TeamResult,
    UploadResult,
    result_records,
)
from fleep_async.services import (
    SERVICE_AREAS,
    ServiceHub,
    attach_services,
    safe_file_name,
    send_text,
)

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[2]

CID = "6f1c6a58-5f43-4c4e-9d0a-2f0d9a1b7c01"
CID2 = "0b9e2c3d-1a2b-4c5d-8e9f-00112233aabb"
AID = "3c2c8dee-02c6-4280-9306-d76a932cd79e"
TID = "d1e2f3a4-b5c6-4d7e-8f90-a1b2c3d4e5f6"
HOOK_URL = "https://fleep.io/hook/Z0Ph_W2LTVa8sgicQ5Gruw"

CONV = {"mk_rec_type": "conv", "conversation_id": CID, "topic": "t", "last_message_nr": 2}
MSG = {
    "mk_rec_type": "message",
    "conversation_id": CID,
    "message_nr": 2,
    "message": "<msg><p>hi</p></msg>",
}
CONTACT = {"mk_rec_type": "contact", "account_id": AID, "email": "a@example.com"}
HOOK = {
    "mk_rec_type": "hook",
    "conversation_id": CID,
    "hook_key": "Z0Ph_W2LTVa8sgicQ5Gruw",
    "hook_url": HOOK_URL,
}
TEAM = {"mk_rec_type": "team", "team_id": TID, "team_name": "T"}
EVENT_OUTCOME = {
    "mk_rec_type": "request",
    "client_req_id": CID2,
    "mk_event_type": "urn:fleep:client:message:add_plain",
    "status_code": 200,
    "identifier": {"conversation_id": CID, "message_nr": 2},
}


# --- a representative response per result type, and what must decode from it ------------------

RESPONSES: dict[type, Any] = {
    RawResult: {"anything": 1},
    EmptyResult: None,  # documented with no output: the real server may answer null
    SuggestResult: ["alpha", "alphabet"],  # a bare JSON list
    AliasSyncResult: {"failed": None, "stream": [CONTACT]},
    AvatarUploadResult: {
        "file_id": "f1",
        "name": "me.png",
        "size": 5,
        "file_sha256": "ab",
        "file_type": "image/png",
        "width": 2,
        "height": 3,
        "upload_url": "https://fleep.io/upload/u1",
    },
    DiffTeamResult: {"add_to_org_account_ids": [AID], "add_to_team_account_ids": []},
    StreamResult: {"stream": [CONTACT, MSG, {"mk_rec_type": "brand_new", "x": 1}]},
    EventStoreResult: {"stream": [EVENT_OUTCOME, MSG]},
    ConversationSyncResult: {
        "header": CONV,
        "stream": [MSG],
        "result_message_nr": 2,
        "hook_info": HOOK,
        "client_req_id": "echo",
    },
    PollResult: {
        "event_horizon": 9,
        "stream": [CONV, MSG],
        "sync_progress": 1,
        "static_version": "v1",
        "limit_time": 0,
    },
    ListenResult: {
        "event_horizon": 3,
        "conv_count": 1,
        "messages": [{"conversation_id": CID, "topic": "t", "message": "<msg/>"}],
    },
    AccountSyncResult: {
        "event_horizon": 12,
        "account_id": AID,
        "email": "a@example.com",
        "is_in_org": False,
    },
    LoginResult: {
        "account_id": AID,
        "display_name": "Bot",
        "ticket": "d5a9c3c2fc696c4a4b55",
        "profiles": [CONTACT],
    },
    AccountPrepareResult: {"notification_id": "n1", "suggestions": ["bot", "bot2"]},
    ContactRecord: dict(CONTACT),
    ContactListResult: {"contacts": [CONTACT]},
    ContactHideResult: {"contacts": [AID]},
    ConversationListResult: {"conversations": [CONV], "sync_horizon": 4, "sync_progress": 0.5},
    HookListResult: {"hooks": [HOOK]},
    UploadResult: {
        "files": [
            {
                "file_id": "f1",
                "upload_url": "https://fleep.io/upload/u1",
                "name": "a.txt",
                "size": 5,
                "file_type": "text/plain",
                "file_sha256": "ab",
            }
        ]
    },
    ExternalUploadResult: {"request_id": CID2},
    SearchResult: {"matches": [dict(MSG, marked_text="<mark>hi</mark>")], "headers": [CONV]},
    CallResult: {"join_url": "https://whereby.com/x"},
    TeamResult: dict(TEAM),
}

CHECKS: dict[type, Callable[[Any], bool]] = {
    RawResult: lambda r: r.get("anything") == 1,
    EmptyResult: lambda r: r.raw is None,
    SuggestResult: lambda r: r.suggestions == ["alpha", "alphabet"],
    AliasSyncResult: lambda r: isinstance(r.stream[0], ContactRecord) and r.failed is None,
    AvatarUploadResult: lambda r: (
        r.file_id == "f1" and r.width == 2 and r.upload_url == "https://fleep.io/upload/u1"
    ),
    DiffTeamResult: lambda r: r.add_to_org_account_ids == [AID],
    StreamResult: lambda r: (
        [type(x) for x in r.stream] == [ContactRecord, MessageRecord, UnknownRecord]
    ),
    EventStoreResult: lambda r: (
        [o.client_req_id for o in r.outcomes] == [CID2] and isinstance(r.stream[1], MessageRecord)
    ),
    ConversationSyncResult: lambda r: (
        isinstance(r.header, ConversationRecord)
        and r.conversation_id == CID
        and isinstance(r.stream[0], MessageRecord)
        and r.result_message_nr == 2
        and isinstance(r.hook_info, HookRecord)
    ),
    PollResult: lambda r: r.event_horizon == 9 and len(r.stream) == 2 and r.sync_progress == 1.0,
    ListenResult: lambda r: r.messages[0].conversation_id == CID and r.conv_count == 1,
    AccountSyncResult: lambda r: r.event_horizon == 12 and r.is_in_org is False,
    LoginResult: lambda r: isinstance(r.profiles[0], ContactRecord) and "d5a9" not in repr(r),
    AccountPrepareResult: lambda r: r.suggestions == ["bot", "bot2"],
    ContactRecord: lambda r: r.account_id == AID and r.email == "a@example.com",
    ContactListResult: lambda r: isinstance(r.contacts[0], ContactRecord),
    ContactHideResult: lambda r: r.contacts == [AID],
    ConversationListResult: lambda r: (
        isinstance(r.conversations[0], ConversationRecord) and r.sync_horizon == 4
    ),
    HookListResult: lambda r: isinstance(r.hooks[0], HookRecord),
    UploadResult: lambda r: r.upload_urls == ["https://fleep.io/upload/u1"],
    ExternalUploadResult: lambda r: r.request_id == CID2,
    SearchResult: lambda r: (
        r.matches[0].marked_text == "<mark>hi</mark>"
        and isinstance(r.headers[0], ConversationRecord)
    ),
    CallResult: lambda r: r.join_url == "https://whereby.com/x",
    TeamResult: lambda r: isinstance(r.team, TeamRecord) and r.team.team_id == TID,
}


# --- the recording requester ----------------------------------------------------------------


@attrs.frozen
class Sent:
    kind: str
    path: str
    body: dict[str, Any] | None = None
    idempotent: bool | None = None
    long_poll: bool | None = None
    auth: bool | None = None
    files: tuple[UploadFile, ...] = ()


class FakeResponse:
    def __init__(self, chunks: Sequence[bytes], fail_after: int | None = None) -> None:
        self._chunks = chunks
        self._fail_after = fail_after

    async def aiter_bytes(self, chunk_size: int | None = None) -> AsyncIterator[bytes]:
        for index, chunk in enumerate(self._chunks):
            if self._fail_after is not None and index >= self._fail_after:
                raise httpx.ReadError("connection dropped")
            yield chunk


@attrs.define
class Recorder:
    """Satisfies the ``Requester`` protocol; answers from a script and records every call."""

    answer: Callable[[str, dict[str, Any] | None], dict[str, Any]] = lambda p, b: {}
    sent: list[Sent] = attrs.Factory(list)
    fed: list[Any] = attrs.Factory(list)
    download_chunks: Sequence[bytes] = (b"he", b"llo")
    download_fail_after: int | None = None

    async def request(
        self,
        path: str,
        body: Mapping[str, Any] | None = None,
        *,
        idempotent: bool = False,
        long_poll: bool = False,
        auth: bool = True,
    ) -> dict[str, Any]:
        copy = dict(body) if body is not None else None
        self.sent.append(Sent("request", path, copy, idempotent, long_poll, auth))
        return self.answer(path, copy)

    async def upload(self, path: str, files: UploadFile | Sequence[UploadFile]) -> dict[str, Any]:
        batch = (files,) if isinstance(files, UploadFile) else tuple(files)
        self.sent.append(Sent("upload", path, files=batch))
        return self.answer(path, None)

    @contextlib.asynccontextmanager
    async def download(self, url_or_path: str) -> AsyncIterator[FakeResponse]:
        self.sent.append(Sent("download", url_or_path))
        yield FakeResponse(self.download_chunks, self.download_fail_after)

    async def post_hook(
        self,
        url: str | Secret[str],
        data: Mapping[str, Any],
        *,
        files: Sequence[UploadFile] | None = None,
    ) -> None:
        # The hook service hands the URL over wrapped (no plain local holds it).
        assert isinstance(url, Secret)
        self.sent.append(Sent("hook", url.reveal(), dict(data), files=tuple(files or ())))

    def on_records(self, records: list[Any]) -> None:
        self.fed.extend(records)


def method_for(hub: ServiceHub, path: str) -> Callable[..., Any]:
    area, action = service_location(path)
    service = getattr(hub, area)
    return service if action == "__call__" else getattr(service, action)


# --- sample arguments: what a caller passes, and what must reach the wire ---------------------

MARKER = object()


def sample(field: attrs.Attribute[Any]) -> tuple[Any, Any]:
    """(argument, expected wire value) for a field; the wire value MARKER means "not in body"."""
    conv = field.converter
    if conv in (_fields.to_uuid, _fields.to_optional_uuid):
        return uuid.UUID(CID2), CID2  # a UUID object: proves the conversion
    if conv in (_fields.to_uuid_list, _fields.to_optional_uuid_list):
        return [uuid.UUID(AID), TID.upper()], [AID, TID]
    if conv in (_fields.to_str_list, _fields.to_optional_str_list):
        return ("one", "two"), ["one", "two"]
    if conv in (_fields.to_email_line, _fields.to_optional_email_line):
        return ["a@example.com", " b@example.com"], "a@example.com, b@example.com"
    if conv is _fields.to_keywords:
        return ["alpha", "beta"], "alpha beta"
    if conv is _fields.to_mapping_list:
        return [{"addr_full": "a@example.com"}], [{"addr_full": "a@example.com"}]
    if conv is _fields.to_optional_list:
        return [{"reaction": "+1"}], [{"reaction": "+1"}]
    if conv is _fields.to_upload_files:
        return ("a.txt", b"hello"), MARKER
    if conv is _fields.to_client_req_id:
        return uuid.UUID(CID2), CID2
    if conv is to_client_events:
        event = ClientEvent("message:add_plain", {"message": "hi"}, client_req_id=CID2)
        return [event], [event.to_wire()]
    assert conv is None, f"no sample for converter {conv}"
    kind = field.type
    if kind in ("int", "int | None"):
        return 7, 7
    if kind in ("float", "float | None"):
        return 1.5, 1.5
    if kind in ("bool", "bool | None"):
        value = field.default is not True  # differ from a True default
        return value, value
    if kind in ("str", "str | None"):
        return f"{field.name}-value", f"{field.name}-value"
    raise AssertionError(f"no sample for {field.name}: {kind}")


def expected_path(cls: type[Endpoint[Any]], args: Mapping[str, Any]) -> str:
    values = {name: str(uuid.UUID(str(args[name]))) for name in cls.path_parameters()}
    return cls.PATH.format_map(values) + ("/" if cls.TRAILING_SLASH else "")


def answer_for(cls: type[Endpoint[Any]]) -> Callable[[str, Any], Any]:
    return lambda path, body: RESPONSES[cls.RESULT]


# --- every endpoint, every parameter set ----------------------------------------------------


def test_every_result_type_has_a_fixture() -> None:
    assert {cls.RESULT for cls in REGISTRY.values()} <= set(RESPONSES)


@pytest.mark.parametrize("path", sorted(REGISTRY))
async def test_every_service_with_every_parameter(path: str) -> None:
    cls = REGISTRY[path]
    recorder = Recorder(answer=answer_for(cls))
    hub = ServiceHub(recorder)
    args: dict[str, Any] = {}
    wire: dict[str, Any] = {}
    for field in attrs.fields(cls):
        args[field.name], wire[field.name] = sample(field)
    result = await method_for(hub, path)(**args)

    assert len(recorder.sent) == 1
    sent = recorder.sent[0]
    assert sent.path == expected_path(cls, args)
    if cls.MULTIPART:
        assert sent.kind == "upload"
        assert [(f.name, f.content) for f in sent.files] == [("a.txt", b"hello")]
    else:
        assert sent.kind == "request"
        in_path = set(cls.path_parameters())
        assert sent.body == {k: v for k, v in wire.items() if k not in in_path}
        assert sent.idempotent is (cls.RETRY_SAFE or cls.IDEMPOTENCY_KEY)
        assert sent.long_poll is cls.LONG_POLL
        assert sent.auth is cls.AUTH
    assert isinstance(result, cls.RESULT)
    assert CHECKS[cls.RESULT](result)
    assert recorder.fed == result_records(result)


@pytest.mark.parametrize("path", sorted(REGISTRY))
async def test_every_service_with_only_required_parameters(path: str) -> None:
    cls = REGISTRY[path]
    recorder = Recorder(answer=answer_for(cls))
    args = {
        field.name: sample(field)[0]
        for field in attrs.fields(cls)
        if field.default is attrs.NOTHING
    }
    result = await method_for(ServiceHub(recorder), path)(**args)
    assert isinstance(result, cls.RESULT)
    sent = recorder.sent[0]
    if cls.MULTIPART:
        return
    body = dict(sent.body or {})
    # Documented non-null defaults are sent; unset (None) parameters are not.
    expected = {
        field.name
        for field in attrs.fields(cls)
        if field.name not in cls.path_parameters()
        and (field.default is attrs.NOTHING or field.default is not None)
    }
    if cls.IDEMPOTENCY_KEY and "client_req_id" in attrs.fields_dict(cls):
        assert uuid.UUID(body["client_req_id"]).version == 4
        expected.add("client_req_id")
    assert set(body) == expected
    for field in attrs.fields(cls):
        if field.default not in (attrs.NOTHING, None):
            assert body[field.name] == field.default


def test_hub_methods_are_exactly_the_registry_plus_iterators_and_hand_written() -> None:
    hub = ServiceHub(Recorder())
    found = set()
    for area in SERVICE_AREAS:
        service = getattr(hub, area)
        for name in dir(type(service)):
            if not name.startswith("_") or name == "__call__":
                if name == "__call__" and "__call__" not in type(service).__dict__:
                    continue
                found.add(f"{area}.{name}")
    from_registry = {"{}.{}".format(*service_location(p)) for p in REGISTRY}
    iterators = {
        f"{service_location(p)[0]}.iter_{service_location(p)[1].removeprefix('sync_')}"
        for p, cls in REGISTRY.items()
        if cls.PAGER is not None
    }
    hand_written = {"file.download", "file.iter_download", "hook.post"}
    assert found == from_registry | iterators | hand_written
    assert len(iterators) == 8


# --- path validation -----------------------------------------------------------------------


@pytest.mark.parametrize("path", sorted(p for p in REGISTRY if "{" in p))
async def test_a_traversal_id_is_refused_before_any_request(path: str) -> None:
    cls = REGISTRY[path]
    recorder = Recorder(answer=answer_for(cls))
    args = {
        field.name: sample(field)[0]
        for field in attrs.fields(cls)
        if field.default is attrs.NOTHING
    }
    for name in cls.path_parameters():
        args[name] = "../account/close"
    with pytest.raises(UsageError):
        await method_for(ServiceHub(recorder), path)(**args)
    assert recorder.sent == []


async def test_message_send_refuses_a_traversal_id() -> None:
    recorder = Recorder()
    with pytest.raises(UsageError, match="UUID"):
        await ServiceHub(recorder).message.send("../account/close", message="x")
    assert recorder.sent == []


@pytest.mark.parametrize(
    ("call", "what"),
    [
        (lambda hub: hub.contact.sync_list(contacts=AID), "a bare string for a list"),
        (lambda hub: hub.account.lookup(lookup_list="a@example.com"), "a bare string"),
        (lambda hub: hub.conversation.create(team_ids=["x"]), "a bad id in a list"),
        (lambda hub: hub.conversation.create(emails=[1]), "a non-string address"),
        (lambda hub: hub.file.upload(Path("/nonexistent/file.bin")), "a missing file"),
        (lambda hub: hub.file.upload([]), "no file"),
        (lambda hub: hub.file.upload(12), "not a file"),
    ],
)
async def test_bad_arguments_raise_before_any_request(
    call: Callable[[ServiceHub], Any], what: str
) -> None:
    recorder = Recorder()
    with pytest.raises(UsageError):
        await call(ServiceHub(recorder))
    assert recorder.sent == [], what


# --- idempotency keys ----------------------------------------------------------------------


async def test_store_generates_one_client_req_id_per_call_and_send_none() -> None:
    recorder = Recorder(answer=lambda p, b: RESPONSES[ConversationSyncResult])
    hub = ServiceHub(recorder)
    await hub.message.store(CID, message="a")
    await hub.message.store(CID, message="b")
    await hub.message.send(CID, message="c")
    stores, sends = recorder.sent[:2], recorder.sent[2:]
    ids = [sent.body["client_req_id"] for sent in stores if sent.body]
    assert len(set(ids)) == 2
    assert all(uuid.UUID(i).version == 4 for i in ids)
    assert all(sent.idempotent for sent in stores)
    # message/send: no key made up, and never retried (the server is not known to dedupe it)
    assert sends[0].body is not None
    assert "client_req_id" not in sends[0].body
    assert sends[0].idempotent is False


async def test_client_req_id_is_reused_across_a_retried_attempt() -> None:
    """Through the real client and transport: the first attempt gets a 503, the retry must carry
    the same client_req_id (so the server stores the message once)."""
    from fleep_async._client import FleepClient
    from fleep_async._retry import RetryPolicy

    attempts: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        import orjson

        path = request.url.path
        if path == "/api/account/login":
            return httpx.Response(
                200,
                json={"account_id": AID, "display_name": "Bot", "ticket": "t" * 20},
                headers={"Set-Cookie": "token_id=dd737a29-7819-41dc-ad93-a38aab2c9409; Path=/"},
            )
        assert path == f"/api/message/store/{CID}"
        attempts.append(orjson.loads(request.content))
        if len(attempts) == 1:
            return httpx.Response(503, json={"error_id": "unavailable"})
        return httpx.Response(200, json=RESPONSES[ConversationSyncResult])

    slept: list[float] = []

    async def no_sleep(seconds: float) -> None:
        slept.append(seconds)

    async with FleepClient(
        "bot@example.com",
        "pw",
        base_url="http://127.0.0.1:9",
        transport=httpx.MockTransport(handler),
        retry=RetryPolicy(max_attempts=3, random=lambda: 0.5),
        sleep=no_sleep,
    ) as client:
        result = await ServiceHub(client).message.store(CID, message="once")
    assert result.result_message_nr == 2
    assert len(attempts) == 2
    assert attempts[0]["client_req_id"] == attempts[1]["client_req_id"]
    assert attempts[0]["message"] == "once"
    assert len(slept) == 1


async def test_message_send_is_not_retried_after_an_ambiguous_failure() -> None:
    """A 503 (or a timeout) leaves unknown whether the server posted the message; message/send
    is not known to be de-duplicated, so it is not repeated, even with a client_req_id."""
    from fleep_async._client import FleepClient
    from fleep_async._retry import RetryPolicy
    from fleep_async.errors import ServerError

    hits: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/account/login":
            return httpx.Response(200, json={"account_id": AID, "ticket": "t" * 20})
        hits.append(request.url.path)
        return httpx.Response(503, json={})

    async def no_sleep(seconds: float) -> None:
        return None

    async with FleepClient(
        "bot@example.com",
        "pw",
        base_url="http://127.0.0.1:9",
        transport=httpx.MockTransport(handler),
        retry=RetryPolicy(max_attempts=3, random=lambda: 0.5),
        sleep=no_sleep,
    ) as client:
        with pytest.raises(ServerError):
            await client.message.send(CID, message="hi", client_req_id=uuid.uuid4())
    assert hits == [f"/api/message/send/{CID}"]


async def test_a_write_without_a_key_is_not_retried_by_the_real_transport() -> None:
    from fleep_async._client import FleepClient
    from fleep_async._retry import RetryPolicy
    from fleep_async.errors import ServerError

    hits: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/account/login":
            return httpx.Response(200, json={"account_id": AID, "ticket": "t" * 20})
        hits.append(request.url.path)
        return httpx.Response(503, json={})

    async def no_sleep(seconds: float) -> None:
        return None

    async with FleepClient(
        "bot@example.com",
        "pw",
        base_url="http://127.0.0.1:9",
        transport=httpx.MockTransport(handler),
        retry=RetryPolicy(max_attempts=3, random=lambda: 0.5),
        sleep=no_sleep,
    ) as client:
        with pytest.raises(ServerError):
            await ServiceHub(client).conversation.set_topic(CID, topic="t")
    assert hits == [f"/api/conversation/set_topic/{CID}"]


# --- conveniences ---------------------------------------------------------------------------


async def test_create_joins_a_list_of_emails_into_a_to_line() -> None:
    recorder = Recorder(answer=lambda p, b: RESPONSES[ConversationSyncResult])
    result = await ServiceHub(recorder).conversation.create(
        topic="Launch", emails=["a@example.com", "b@example.com"]
    )
    assert recorder.sent[0].body == {"topic": "Launch", "emails": "a@example.com, b@example.com"}
    assert recorder.sent[0].idempotent is False
    assert result.conversation_id == CID


async def test_create_passes_an_email_line_through() -> None:
    recorder = Recorder(answer=lambda p, b: RESPONSES[ConversationSyncResult])
    await ServiceHub(recorder).conversation.create(emails="a@example.com, b@example.com")
    assert recorder.sent[0].body == {"emails": "a@example.com, b@example.com"}


async def test_send_text() -> None:
    recorder = Recorder(answer=lambda p, b: RESPONSES[ConversationSyncResult])
    result = await send_text(recorder, CID, "hello *world*", attachments=["u1"])
    sent = recorder.sent[0]
    # message/store without a message_nr: a new message, de-duplicated by client_req_id
    assert sent.path == f"message/store/{CID}"
    assert sent.body is not None
    assert "message_nr" not in sent.body
    assert sent.body["message"] == "hello *world*"
    assert sent.body["attachments"] == ["u1"]
    assert uuid.UUID(sent.body["client_req_id"]).version == 4
    assert sent.idempotent is True
    assert result.result_message_nr == 2
    with pytest.raises(UsageError):
        await send_text(recorder, CID, b"bytes")  # type: ignore[arg-type]


async def test_search_is_the_area_called_directly() -> None:
    recorder = Recorder(answer=lambda p, b: RESPONSES[SearchResult])
    result = await ServiceHub(recorder).search(keywords=["release", "notes"], conversation_id=CID)
    assert recorder.sent[0].path == "search"
    assert recorder.sent[0].body == {
        "keywords": "release notes",
        "conversation_id": CID,
        "need_suggestions": False,
        "is_extended_search": False,
    }
    assert isinstance(result, SearchResult)


async def test_attach_services_sets_every_area() -> None:
    class Client(Recorder):
        pass

    client = Client()
    hub = attach_services(client)
    for area in SERVICE_AREAS:
        assert getattr(client, area) is getattr(hub, area)
    client.answer = lambda p, b: RESPONSES[RawResult]
    await client.classificators()  # type: ignore[attr-defined]
    assert client.sent[0].path == "classificators"


async def test_a_requester_without_on_records_is_fine_and_async_sinks_are_awaited() -> None:
    class Bare:
        async def request(self, path: str, body: Any = None, **kw: Any) -> dict[str, Any]:
            return RESPONSES[ConversationSyncResult]

    result = await ServiceHub(Bare()).conversation.sync(CID)  # type: ignore[arg-type]
    assert result.conversation_id == CID

    fed: list[Any] = []

    class AsyncSink(Bare):
        async def on_records(self, records: list[Any]) -> None:
            fed.extend(records)

    await ServiceHub(AsyncSink()).conversation.sync(CID)  # type: ignore[arg-type]
    assert [type(r) for r in fed] == [ConversationRecord, MessageRecord, HookRecord]


async def test_an_undecodable_answer_is_a_decode_error_naming_the_endpoint() -> None:
    recorder = Recorder(answer=lambda p, b: {"stream": "not a list"})
    with pytest.raises(DecodeError) as info:
        await ServiceHub(recorder).alias.sync()
    assert info.value.endpoint == "alias/sync"
    recorder = Recorder(answer=lambda p, b: {"stream": []})
    with pytest.raises(DecodeError, match="event_horizon"):
        await ServiceHub(recorder).account.poll()


async def test_team_result_also_decodes_a_stream_answer() -> None:
    recorder = Recorder(answer=lambda p, b: {"stream": [CONV, TEAM]})
    result = await ServiceHub(recorder).team.sync(TID)
    assert isinstance(result.team, TeamRecord)
    assert len(result.stream) == 2
    assert recorder.fed == result.stream


async def test_login_result_repr_hides_the_ticket() -> None:
    recorder = Recorder(answer=lambda p, b: RESPONSES[LoginResult])
    result = await ServiceHub(recorder).account.login(email="a@example.com", password="pw-123")
    assert "d5a9c3c2fc696c4a4b55" not in repr(result)
    assert recorder.sent[0].auth is False
    assert recorder.sent[0].body == {
        "email": "a@example.com",
        "password": "pw-123",
        "remember_me": False,
    }


# --- uploads --------------------------------------------------------------------------------


async def test_upload_accepts_bytes_paths_pairs_and_async_iterators(tmp_path: Path) -> None:
    source = tmp_path / "report.pdf"
    source.write_bytes(b"%PDF")

    async def chunks() -> AsyncIterator[bytes]:
        yield b"a"
        yield b"b"

    stream = chunks()
    recorder = Recorder(answer=lambda p, b: RESPONSES[UploadResult])
    result = await ServiceHub(recorder).file.upload(
        [b"raw", source, str(source), ("notes.txt", b"n"), stream]
    )
    files = recorder.sent[0].files
    assert [f.name for f in files] == [
        _fields.DEFAULT_UPLOAD_NAME,
        "report.pdf",
        "report.pdf",
        "notes.txt",
        _fields.DEFAULT_UPLOAD_NAME,
    ]
    assert files[0].content == b"raw"
    assert files[1].content == source
    assert files[4].content is stream
    assert recorder.sent[0].path == "file/upload"
    assert result.upload_urls == ["https://fleep.io/upload/u1"]
    await stream.aclose()


async def test_avatar_upload_and_delete() -> None:
    recorder = Recorder(answer=lambda p, b: RESPONSES[UploadResult])
    hub = ServiceHub(recorder)
    await hub.avatar.upload(UploadFile(name="me.png", content=b"png"))
    recorder.answer = lambda p, b: {}
    await hub.avatar.delete()
    assert [(s.kind, s.path) for s in recorder.sent] == [
        ("upload", "avatar/upload"),
        ("request", "avatar/delete"),
    ]


# --- downloads ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "name"),
    [
        ("/file/a/12/b/..%2F..%2Fetc%2Fpasswd", "passwd"),
        ("/file/a/12/b/%2E%2E", "download"),
        ("/file/a/12/b/..%5C..%5Cwin.ini", "win.ini"),
        ("/file/a/12/b/.hidden", "hidden"),
        ("/file/a/12/b/report%20Q1.pdf", "report Q1.pdf"),
        ("/file/a/12/b/a%00b%0A.txt", "a_b_.txt"),
        ("/file/a/12/b/", "download"),
        ("https://fleep.io/file/a/1/b/x.png?sig=1", "x.png"),
        ("/file/a/1/b/" + "x" * 300 + ".pdf", "x" * 196 + ".pdf"),
    ],
)
def test_safe_file_name(url: str, name: str) -> None:
    assert safe_file_name(url) == name


async def test_download_into_a_directory_stays_inside_it(tmp_path: Path) -> None:
    recorder = Recorder()
    target = await ServiceHub(recorder).file.download(
        "/file/a/12/b/..%2F..%2F..%2Fetc%2Fpasswd", tmp_path
    )
    assert target == tmp_path.resolve() / "passwd"
    assert target.read_bytes() == b"hello"
    assert sorted(os.listdir(tmp_path)) == ["passwd"]
    assert recorder.sent[0].kind == "download"


async def test_download_to_a_file_path_and_to_memory(tmp_path: Path) -> None:
    recorder = Recorder(download_chunks=[b"x" * 10, b"y"])
    hub = ServiceHub(recorder)
    dest = tmp_path / "chosen.bin"
    assert await hub.file.download("/file/a/1/b/orig.bin", dest) == dest
    assert dest.read_bytes() == b"x" * 10 + b"y"
    assert await hub.file.download("/file/a/1/b/orig.bin") == b"x" * 10 + b"y"
    chunks = [c async for c in hub.file.iter_download("/file/a/1/b/orig.bin")]
    assert chunks == [b"x" * 10, b"y"]


async def test_a_failed_download_leaves_no_file(tmp_path: Path) -> None:
    recorder = Recorder(download_chunks=[b"a", b"b", b"c"], download_fail_after=1)
    with pytest.raises(httpx.ReadError):
        await ServiceHub(recorder).file.download("/file/a/1/b/f.txt", tmp_path)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(
    "url",
    ["", "file/a/b", "/file/../api/account/close", "/file/a/%2e%2e/x", "ftp://x/y", "/a\nb", 5],
)
async def test_bad_download_urls_are_refused(url: Any, tmp_path: Path) -> None:
    recorder = Recorder()
    with pytest.raises(UsageError):
        await ServiceHub(recorder).file.download(url, tmp_path)
    assert recorder.sent == []


async def test_download_to_a_missing_directory_is_refused(tmp_path: Path) -> None:
    recorder = Recorder()
    with pytest.raises(UsageError):
        await ServiceHub(recorder).file.download("/file/a/1/b/f", tmp_path / "no" / "f")
    assert recorder.sent == []


# --- hooks ----------------------------------------------------------------------------------


async def test_hook_post_sends_message_and_user_without_auth() -> None:
    recorder = Recorder()
    hub = ServiceHub(recorder)
    await hub.hook.post(HOOK_URL, "build *green*", user="CI")
    await hub.hook.post(HOOK_URL, "no user")
    await hub.hook.post(HOOK_URL, "with file", files=("log.txt", b"ok"))
    assert recorder.sent[0] == Sent("hook", HOOK_URL, {"message": "build *green*", "user": "CI"})
    assert recorder.sent[1].body == {"message": "no user"}
    assert [f.name for f in recorder.sent[2].files] == ["log.txt"]


@pytest.mark.parametrize(
    "url",
    [
        "https://fleep.io/api/account/close",
        "https://fleep.io/hook/",
        "https://fleep.io/hook/key/extra",
        "fleep.io/hook/key",
        "javascript:alert(1)",
        "https://fleep.io/hook/key with space",
    ],
)
async def test_bad_hook_urls_are_refused_without_echoing_them(url: str) -> None:
    recorder = Recorder()
    with pytest.raises(UsageError) as info:
        await ServiceHub(recorder).hook.post(url, "x")
    assert url not in str(info.value)
    assert recorder.sent == []


async def test_hook_keys_stay_out_of_logs_and_reprs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="fleep_async")
    recorder = Recorder(answer=lambda p, b: RESPONSES[ConversationSyncResult])
    hub = ServiceHub(recorder)
    await hub.conversation.drop_hook(CID, hook_key="Z0Ph_W2LTVa8sgicQ5Gruw")
    await hub.hook.post(HOOK_URL, "x")
    assert "Z0Ph_W2LTVa8sgicQ5Gruw" not in caplog.text
    assert "Z0Ph" not in repr(hub) + repr(hub.hook)


# --- pagination -----------------------------------------------------------------------------


def pages(*answers: dict[str, Any]) -> Callable[[str, Any], dict[str, Any]]:
    queue = list(answers)
    return lambda path, body: queue.pop(0)


def conv(n: int) -> dict[str, Any]:
    return {"mk_rec_type": "conv", "conversation_id": str(uuid.UUID(int=n))}


def msg(nr: int, **extra: Any) -> dict[str, Any]:
    return {"mk_rec_type": "message", "conversation_id": CID, "message_nr": nr, **extra}


async def collect(iterator: AsyncGenerator[Any, None]) -> list[Any]:
    async with contextlib.aclosing(iterator) as items:
        return [item async for item in items]


async def test_iter_list_follows_sync_horizon_until_an_empty_page() -> None:
    recorder = Recorder(
        answer=pages(
            {"conversations": [conv(1), conv(2)], "sync_horizon": 5},
            {"conversations": [conv(3)], "sync_horizon": 9},
            {"conversations": [], "sync_horizon": 9},
        )
    )
    items = await collect(ServiceHub(recorder).conversation.iter_list())
    assert [c.conversation_id for c in items] == [str(uuid.UUID(int=n)) for n in (1, 2, 3)]
    assert [s.body for s in recorder.sent] == [
        {"sync_horizon": 0},
        {"sync_horizon": 5},
        {"sync_horizon": 9},
    ]
    assert len(recorder.fed) == 3


async def test_iter_list_stops_when_the_horizon_stops_moving() -> None:
    page = {"conversations": [conv(1)], "sync_horizon": 0}
    recorder = Recorder(answer=lambda p, b: page)
    items = await collect(ServiceHub(recorder).conversation.iter_list())
    assert len(items) == 1
    assert len(recorder.sent) == 1


async def test_iterators_stop_at_max_pages_against_a_server_that_never_ends(
    caplog: pytest.LogCaptureFixture,
) -> None:
    counter = iter(range(1, 10_000))

    def endless(path: str, body: Any) -> dict[str, Any]:
        n = next(counter)
        return {"conversations": [conv(n)], "sync_horizon": n}

    recorder = Recorder(answer=endless)
    items = await collect(ServiceHub(recorder).conversation.iter_list(max_pages=5))
    assert len(items) == 5
    assert len(recorder.sent) == 5
    assert "max_pages=5" in caplog.text


async def test_iter_conversations_follows_sync_cursor() -> None:
    recorder = Recorder(
        answer=pages(
            {"stream": [conv(1)], "sync_cursor": "c1"},
            {"stream": [conv(2)], "sync_cursor": "c2"},
            {"stream": [conv(3)]},
        )
    )
    items = await collect(ServiceHub(recorder).account.iter_conversations(mk_init_mode="ic_full"))
    assert len(items) == 3
    assert [s.body for s in recorder.sent] == [
        {"mk_init_mode": "ic_full"},
        {"mk_init_mode": "ic_full", "sync_cursor": "c1"},
        {"mk_init_mode": "ic_full", "sync_cursor": "c2"},
    ]


async def test_label_iter_conversations_takes_the_cursor_from_the_label_record() -> None:
    label = {"mk_rec_type": "label", "label_id": "L1", "label": "x"}
    recorder = Recorder(
        answer=pages(
            {"stream": [dict(label, sync_cursor="k1"), conv(1)]},
            {"stream": [dict(label, sync_cursor="k2"), conv(2)]},
            {"stream": [dict(label, sync_cursor="k3")]},
        )
    )
    items = await collect(ServiceHub(recorder).label.iter_conversations(label_id="L1"))
    assert sum(isinstance(i, ConversationRecord) for i in items) == 2
    assert sum(isinstance(i, LabelRecord) for i in items) == 1  # each record once
    assert [s.body.get("sync_cursor") for s in recorder.sent if s.body is not None] == [
        None,
        "k1",
        "k2",
    ]


async def test_iter_backward_walks_down_to_the_first_message() -> None:
    recorder = Recorder(
        answer=pages(
            {"header": CONV, "stream": [msg(9), msg(8)]},
            {"header": CONV, "stream": [msg(7), msg(5), msg(6)]},
            {"header": CONV, "stream": [msg(4), msg(1)]},
        )
    )
    items = await collect(ServiceHub(recorder).conversation.iter_backward(CID, from_message_nr=10))
    assert [i.message_nr for i in items] == [9, 8, 7, 5, 6, 4, 1]
    assert [s.body for s in recorder.sent] == [
        {"from_message_nr": 10},
        {"from_message_nr": 8},
        {"from_message_nr": 5},
    ]


async def test_iter_backward_stops_without_progress() -> None:
    recorder = Recorder(answer=lambda p, b: {"header": CONV, "stream": [msg(8)]})
    items = await collect(ServiceHub(recorder).conversation.iter_backward(CID, from_message_nr=8))
    assert len(items) == 1
    assert len(recorder.sent) == 1


async def test_a_server_ignoring_the_cursor_yields_each_record_once() -> None:
    page = {"stream": [msg(1, task_weight=1.0), msg(2, task_weight=2.0)]}
    recorder = Recorder(answer=lambda p, b: page)
    hub = ServiceHub(recorder)
    items = await collect(
        hub.account.iter_taskboard(conversation_id=CID, section_id=TID, task_limit=2)
    )
    assert [i.message_nr for i in items] == [1, 2]
    assert len(recorder.sent) == 2


async def test_iter_files_follows_the_header_file_horizon() -> None:
    file_rec = {"mk_rec_type": "file", "conversation_id": CID, "message_nr": 30}
    recorder = Recorder(
        answer=pages(
            {"header": dict(CONV, file_horizon=20), "stream": [file_rec]},
            {"header": dict(CONV, file_horizon=0), "stream": [dict(file_rec, message_nr=12)]},
        )
    )
    items = await collect(ServiceHub(recorder).conversation.iter_files(CID))
    assert len(items) == 2
    assert [s.body for s in recorder.sent] == [{}, {"from_message_nr": 20}]


async def test_iter_pins_falls_back_to_the_lowest_message() -> None:
    recorder = Recorder(
        answer=pages(
            {"header": CONV, "stream": [msg(40, pin_weight=2.0), msg(33, pin_weight=1.0)]},
            {"header": CONV, "stream": []},
        )
    )
    items = await collect(ServiceHub(recorder).conversation.iter_pins(CID))
    assert len(items) == 2
    assert [s.body for s in recorder.sent] == [{}, {"from_message_nr": 33}]


async def test_iter_pinboard_pages_by_weight_until_a_short_page() -> None:
    recorder = Recorder(
        answer=pages(
            {"stream": [msg(1, pin_weight=9.0), msg(2, pin_weight=8.0)]},
            {"stream": [msg(3, pin_weight=7.0)]},
        )
    )
    hub = ServiceHub(recorder)
    items = await collect(hub.account.iter_pinboard(conversation_id=CID, pin_limit=2))
    assert [i.message_nr for i in items] == [1, 2, 3]
    assert [s.body for s in recorder.sent] == [
        {"conversation_id": CID, "pin_limit": 2},
        {"conversation_id": CID, "pin_limit": 2, "pin_weight": 8.0},
    ]


async def test_iter_taskboard_pages_by_weight() -> None:
    recorder = Recorder(
        answer=pages(
            {"stream": [msg(1, task_weight=5.0)]},
            {"stream": []},
        )
    )
    hub = ServiceHub(recorder)
    items = await collect(
        hub.account.iter_taskboard(conversation_id=CID, section_id=TID, task_limit=1)
    )
    assert len(items) == 1
    assert recorder.sent[1].body == {
        "conversation_id": CID,
        "section_id": TID,
        "task_limit": 1,
        "task_weight": 5.0,
    }


async def test_breaking_out_of_an_iterator_early_is_clean() -> None:
    page = {"conversations": [conv(1), conv(2)], "sync_horizon": 1}
    recorder = Recorder(answer=lambda p, b: page)
    async with contextlib.aclosing(ServiceHub(recorder).conversation.iter_list()) as items:
        async for _ in items:
            break
    assert len(recorder.sent) == 1


# --- the generated code is current ----------------------------------------------------------


def test_generated_services_and_docs_are_current() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_services.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_docs_list_every_endpoint_and_every_excuse() -> None:
    docs = (ROOT / "docs" / "endpoints.md").read_text()
    for path in list(REGISTRY) + list(NOT_REGISTERED):
        assert f"`{path}`" in docs

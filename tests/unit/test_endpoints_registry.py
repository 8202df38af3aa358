"""The endpoint registry against the inventory: every row registered (or excused), one naming
rule, safe retries, validated path parameters."""

from __future__ import annotations

import os
import re
import uuid
from pathlib import Path
from typing import Any

import attrs
import pytest

from fleep_async.endpoints import (
    FROM_SPECS,
    NOT_REGISTERED,
    PATH_RULE,
    REGISTRY,
    Endpoint,
    MessageSend,
    MessageStore,
    _fields,
    service_location,
)
from fleep_async.endpoints.event import to_client_events
from fleep_async.errors import UsageError
from fleep_async.models.results import RawResult

HERE = Path(__file__).resolve().parent
INVENTORY_COPY = HERE / "endpoint_inventory.txt"
# The endpoint inventory the checked-in copy was made from is not part of the repository; to
# compare with a fresh copy of it, point FLEEP_ENDPOINTS_REFERENCE at that markdown file.
REFERENCE_ENV = "FLEEP_ENDPOINTS_REFERENCE"
# Endpoints beyond the documented inventory: Fleep's own server tests (fleep-api-tests) call them.
SPEC_INVENTORY = HERE / "endpoint_inventory_from_server_tests.txt"

EXPECTED_ROWS = 94  # 91 from the seeds + 3 "not in the seeds but needed"


def parse_inventory(markdown: str) -> list[str]:
    """The path of every endpoint row of endpoints.md, normalised to the registry's rule.

    A row is a table line whose first cell starts with a backticked path. ``file/upload/``
    loses its trailing slash; the two rows outside ``/api`` (``POST https://fleep.io/hook/...``
    and ``GET https://fleep.io{file_url}``) become ``hook/{hook_id}`` and ``{file_url}``.
    """
    paths = []
    for line in markdown.splitlines():
        match = re.match(r"^\| `([^`]+)`", line)
        if not match:
            continue
        path = match.group(1).strip()
        path = re.sub(r"^(?:GET|POST) ", "", path)
        path = path.removeprefix("https://fleep.io").lstrip("/").rstrip("/")
        paths.append(path)
    return paths


def checked_in_inventory() -> list[str]:
    return [line for line in INVENTORY_COPY.read_text().splitlines() if line.strip()]


def test_inventory_copy_has_every_row_once() -> None:
    inventory = checked_in_inventory()
    assert len(inventory) == EXPECTED_ROWS
    assert len(set(inventory)) == EXPECTED_ROWS


def test_inventory_copy_matches_a_given_reference() -> None:
    reference = os.environ.get(REFERENCE_ENV)
    if not reference:
        pytest.skip(f"set {REFERENCE_ENV} to an endpoints.md to compare the inventory with it")
    assert parse_inventory(Path(reference).read_text()) == checked_in_inventory()


def test_every_inventory_row_is_registered_or_excused() -> None:
    inventory = set(checked_in_inventory())
    missing = sorted(inventory - set(REGISTRY) - set(NOT_REGISTERED))
    assert missing == []
    assert not set(REGISTRY) & set(NOT_REGISTERED)
    for path, reason in NOT_REGISTERED.items():
        assert path in inventory, f"{path} excused but not in the inventory"
        assert len(reason.strip()) > 20, f"{path} needs a real reason"


def spec_inventory() -> list[str]:
    lines = SPEC_INVENTORY.read_text().splitlines()
    return [line for line in lines if line.strip() and not line.startswith("#")]


def test_everything_registered_outside_the_inventory_is_from_the_server_tests() -> None:
    # The documented inventory stays as the reference has it; what the server tests add is
    # listed apart, in FROM_SPECS and its checked-in copy.
    assert sorted(set(REGISTRY) - set(checked_in_inventory())) == sorted(FROM_SPECS)
    assert sorted(spec_inventory()) == sorted(FROM_SPECS)
    assert not FROM_SPECS & set(checked_in_inventory())


def test_registry_counts() -> None:
    assert len(REGISTRY) == 91 + len(FROM_SPECS)
    # the 17 business calls, account/confirm_password, account/sync_teams, event/store,
    # label/store, mail/list
    assert len(FROM_SPECS) == 22
    assert len(NOT_REGISTERED) == 3


@pytest.mark.parametrize("path", sorted(REGISTRY))
def test_path_follows_the_naming_rule(path: str) -> None:
    assert PATH_RULE.match(path)
    assert path == path.lower()
    assert not path.startswith("/")
    assert not path.endswith("/")
    assert "//" not in path
    assert path == REGISTRY[path].PATH


def _pascal(path: str) -> str:
    literal = [part for part in path.split("/") if not part.startswith("{")]
    return "".join(word.capitalize() for part in literal for word in part.split("_"))


@pytest.mark.parametrize("path", sorted(REGISTRY))
def test_class_name_is_the_pascal_case_of_the_path(path: str) -> None:
    assert REGISTRY[path].__name__ == _pascal(path)


def test_service_locations_are_unique() -> None:
    seen: dict[tuple[str, str], str] = {}
    for path in REGISTRY:
        location = service_location(path)
        assert location not in seen, f"{path} and {seen[location]} map to {location}"
        seen[location] = path
        assert location[1].isidentifier()


@pytest.mark.parametrize("path", sorted(p for p in REGISTRY if "{" in p))
def test_path_parameters_are_uuid_fields(path: str) -> None:
    cls = REGISTRY[path]
    fields = attrs.fields_dict(cls)
    for name in cls.path_parameters():
        assert name in fields
        assert fields[name].converter is _fields.to_uuid
        assert fields[name].default is attrs.NOTHING


@pytest.mark.parametrize("path", sorted(REGISTRY))
def test_result_type_is_declared(path: str) -> None:
    cls = REGISTRY[path]
    assert isinstance(cls.RESULT, type)
    assert cls.summary()


@pytest.mark.parametrize("path", sorted(REGISTRY))
def test_every_write_is_retry_safe_or_keyed_or_never_retried(path: str) -> None:
    cls = REGISTRY[path]
    fields = attrs.fields_dict(cls)
    if cls.IDEMPOTENCY_KEY:
        # The key is made by the converter when the request object is built: before the first
        # attempt, once, so every retry of that object carries the same id. event/store keys
        # each event: every ClientEvent made its own when it was built.
        if "client_req_id" in fields:
            assert fields["client_req_id"].converter is _fields.to_client_req_id
        else:
            assert fields["stream"].converter is to_client_events
        assert not cls.RETRY_SAFE
    elif "client_req_id" in fields:
        # Accepted and passed on, but not proven de-duplicated: never made up, never retried.
        assert fields["client_req_id"].default is None
        assert not cls.RETRY_SAFE
    if cls.LONG_POLL:
        assert cls.RETRY_SAFE


def test_only_the_calls_proven_to_deduplicate_are_keyed() -> None:
    # Fleep's server tests prove client_req_id de-duplication for message/store and for the
    # events of event/store, and for nothing else.
    keyed = sorted(path for path, cls in REGISTRY.items() if cls.IDEMPOTENCY_KEY)
    assert keyed == ["event/store", "message/store/{conversation_id}"]


def test_message_send_is_never_retried_even_with_a_client_req_id() -> None:
    cid = str(uuid.uuid4())
    assert not MessageSend(conversation_id=cid, message="hi").is_retry_safe()
    given = MessageSend(conversation_id=cid, message="hi", client_req_id=uuid.uuid4())
    assert not given.is_retry_safe()
    assert uuid.UUID(given.body()["client_req_id"])  # passed on, canonical
    assert "client_req_id" not in MessageSend(conversation_id=cid, message="hi").body()


def test_client_req_id_is_fixed_when_the_request_is_built() -> None:
    cid = str(uuid.uuid4())
    request = MessageStore(conversation_id=cid, message="hi")
    first = request.body()["client_req_id"]
    assert uuid.UUID(first).version == 4
    assert request.body()["client_req_id"] == first  # the same on every attempt
    assert request.is_retry_safe()
    other = MessageStore(conversation_id=cid, message="hi")
    assert other.client_req_id != first  # a new call, a new id
    given = MessageStore(conversation_id=cid, client_req_id=first.upper())
    assert given.client_req_id == first


def test_non_keyed_writes_are_never_retried() -> None:
    from fleep_async.endpoints import ConversationCreate, ConversationSetTopic

    assert not ConversationCreate(topic="x").is_retry_safe()
    cid = str(uuid.uuid4())
    assert not ConversationSetTopic(conversation_id=cid, topic="x").is_retry_safe()


def test_duplicate_registration_raises_at_definition() -> None:
    with pytest.raises(TypeError, match="duplicate endpoint"):

        @attrs.frozen(kw_only=True)
        class Impostor(Endpoint[RawResult]):
            PATH = "account/logout"

    assert REGISTRY["account/logout"].__name__ == "AccountLogout"


@pytest.mark.parametrize("bad", ["/account/x", "account/x/", "Account/x", "account//x", "a/{Id}"])
def test_a_path_breaking_the_rule_raises_at_definition(bad: str) -> None:
    with pytest.raises(TypeError, match="naming rule"):

        @attrs.frozen(kw_only=True)
        class Bad(Endpoint[RawResult]):
            PATH = bad

    assert bad not in REGISTRY


@pytest.mark.parametrize(
    "value", ["../account/close", "", "not-a-uuid", "00000000-0000-0000-0000-00000000000/"]
)
def test_bad_path_ids_are_refused_when_the_request_is_built(value: str) -> None:
    with pytest.raises(UsageError):
        MessageSend(conversation_id=value, message="x")


def test_path_ids_are_rendered_canonically() -> None:
    cid = uuid.uuid4()
    for given in (cid, str(cid).upper(), "{" + str(cid) + "}", cid.hex):
        request = MessageSend(conversation_id=given, message="x")
        assert request.path() == f"message/send/{cid}"


def test_path_revalidates_a_value_that_bypassed_the_converter() -> None:
    request = MessageSend(conversation_id=str(uuid.uuid4()), message="x")
    object.__setattr__(request, "conversation_id", "../account/close")
    with pytest.raises(UsageError):
        request.path()


SECRET = "s3cr3t-value-never-shown"


@pytest.mark.parametrize(
    ("path", "kwargs"),
    [
        ("account/login", {"email": "a@example.com", "password": SECRET}),
        ("account/configure", {"password": SECRET, "old_password": SECRET}),
        (
            "account/smtp/store",
            {
                "smtp_address": "a@example.com",
                "smtp_username": "u",
                "smtp_password": SECRET,
                "smtp_host": "h",
            },
        ),
        (
            "conversation/configure_hook/{conversation_id}",
            {"conversation_id": str(uuid.uuid4()), "hook_key": SECRET},
        ),
        (
            "conversation/drop_hook/{conversation_id}",
            {"conversation_id": str(uuid.uuid4()), "hook_key": SECRET},
        ),
    ],
)
def test_secrets_stay_out_of_reprs(path: str, kwargs: dict[str, Any]) -> None:
    request = REGISTRY[path](**kwargs)
    assert SECRET not in repr(request)
    assert SECRET in request.body().values()  # but they do go on the wire


def test_file_upload_external_keeps_its_trailing_slash() -> None:
    from fleep_async.endpoints import BusinessDeclineInvite, FileUploadExternal

    request = FileUploadExternal(file_url="https://example.com/a.png", file_name="a.png")
    assert request.path() == "file/upload/external/"
    assert BusinessDeclineInvite(notification_id="n").path() == "business/decline_invite/"
    slashed = sorted(path for path, cls in REGISTRY.items() if cls.TRAILING_SLASH)
    assert slashed == ["business/decline_invite", "event/store", "file/upload/external"]

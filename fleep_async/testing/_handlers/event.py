"""``event/store``: the message-event API (a stream of client events, one ``request`` each).

A body ``{"stream": [{"mk_event_type", "client_req_id", "params"}, ...]}`` applies each event
and answers ``{"requests": [...], "stream": [...]}``: a ``request`` record per event, in order
(``status_code`` 200 with the ``identifier`` of what it changed, or an error status with
``error_id``; the call itself answers 200), and the changed records: the message and its
files, any system message the event posted, the header when the conversation's settings
changed, or the section. The newest of Fleep's test clients reads the request records from
``requests`` only (older ones, from the days they came inside ``stream``, from the stream).
A repeated ``client_req_id`` answers the first outcome again without a second change, as
Fleep's own server tests show. Message records carry the
``urn:fleep:message:mk_message_state:*`` states every other answer carries (the newest of
Fleep's server tests); the older event family answers the older ``urn:fleep:msgstate:*`` ones.

Event types: ``urn:fleep:client:message:<op>`` (and the older
``urn:fleep:client:conversation:message:<op>`` spellings of the same operations),
``urn:fleep:client:conv:enable_done_notifications|disable_done_notifications``, the
taskboard sections ``urn:fleep:client:section:task:add|rename|delete|sync|archive_done`` (the
board's own "To Do" and "Archived" cannot be renamed or deleted) and the personal "my
tasks" board ``urn:fleep:client:section:my_task:add|rename|delete|set_position|sync`` (no
``conversation_id``: the board is the caller's). Others answer a ``request`` with status 400.
"""

from __future__ import annotations

from typing import Any, Final

from fleep_async.testing._handlers.conversation import copy_message
from fleep_async.testing._http.errors import ApiError, bad_request
from fleep_async.testing._http.routing import Ctx, Params, Result, handler
from fleep_async.testing._world import records as rec
from fleep_async.testing._world.ids import is_uuid
from fleep_async.testing._world.state import (
    AccountState,
    Conversation,
    Message,
    Record,
    Section,
)
from fleep_async.testing._world.world import World, my_board_id

MSGSTATE_URN: Final = "urn:fleep:msgstate:"
_MESSAGE_PREFIXES: Final = ("urn:fleep:client:message:", "urn:fleep:client:conversation:message:")
# Older and newer event names -> the operation.
_ALIASES: Final = {
    "add_text": "add_plain",
    "add_pin": "add_pinned",
    "set_pin": "set_pinned",
    "set_unpin": "set_unpinned",
    "delete": "del",
    "edit_body": "edit",
    "pos_pin": "pos_pinned",
    "pin:set_position": "pos_pinned",
    "task:set_position": "pos_task",
}
# The older event family (``urn:fleep:client:conversation:message:*``) calls plain "text".
_OLD_PREFIX: Final = "urn:fleep:client:conversation:message:"
_MESSAGE_OPS: Final = frozenset(
    {
        "add_plain",
        "add_todo",
        "add_pinned",
        "edit",
        "del",
        "set_plain",
        "set_todo",
        "set_done",
        "set_pinned",
        "set_unpinned",
        "pos_task",
        "pos_pinned",
        "set_assignees",
        "disable_preview",
        "copy",
    }
)
_OTHER_OPS: Final = {
    "urn:fleep:client:conv:enable_done_notifications": "done_notifications_on",
    "urn:fleep:client:conv:disable_done_notifications": "done_notifications_off",
    "urn:fleep:client:section:task:add": "section_add",
    "urn:fleep:client:section:task:rename": "section_rename",
    "urn:fleep:client:section:task:delete": "section_delete",
    "urn:fleep:client:section:task:del": "section_delete",
    "urn:fleep:client:section:task:sync": "section_sync",
    "urn:fleep:client:section:task:archive_done": "section_archive_done",
    "urn:fleep:client:section:my_task:add": "my_section_add",
    "urn:fleep:client:section:my_task:rename": "my_section_rename",
    "urn:fleep:client:section:my_task:delete": "my_section_delete",
    "urn:fleep:client:section:my_task:set_position": "my_section_position",
    "urn:fleep:client:section:my_task:sync": "my_section_sync",
}
_MY_SYNC: Final = "urn:fleep:client:section:my_task:sync"
_TASK_SYNC: Final = "urn:fleep:client:section:task:sync"
# A new user section sits below the previous one: 2**32 - 65536 * n (Fleep's server tests).
_SECTION_STEP: Final = 65536.0


def _operation(mk_event_type: str) -> str:
    if mk_event_type in _OTHER_OPS:
        return _OTHER_OPS[mk_event_type]
    for prefix in _MESSAGE_PREFIXES:
        if mk_event_type.startswith(prefix):
            op = mk_event_type[len(prefix) :]
            op = _ALIASES.get(op, op)
            if op in _MESSAGE_OPS:
                return op
    raise bad_request(f"Unknown mk_event_type: {mk_event_type}.")


def _event_message(conv: Conversation, msg: Message, viewer: str, *, old: bool = False) -> Record:
    record = rec.message(conv, msg, viewer)
    # This API's records carry no lock_account_id (Fleep's server tests).
    record.pop("lock_account_id", None)
    if old:
        # The older event family's tests see the older state URNs, "text" for plain.
        state = "text" if msg.state == "plain" else msg.state
        record["mk_message_state"] = MSGSTATE_URN + state
    return record


def _invalid(message: str) -> ApiError:
    return ApiError(400, "invalid_call", message)


def _apply_message(
    ctx: Ctx, conv: Conversation, op: str, params: Params
) -> tuple[Conversation, Message]:
    """Run one message event: the conversation and message it created or changed."""
    world, me = ctx.world, ctx.me.account_id
    if op == "copy" and params.has("copy_conversation_id"):
        # The event's conversation is the target; the source is named by copy_*.
        source = world.conversation(params.req_uuid("copy_conversation_id"))
        world.membership(source, me)
        original = world.get_message(source, params.req_integer("copy_message_nr"))
        return conv, copy_message(world, source, conv, me, original)
    if op.startswith("add_"):
        tags = {"add_plain": [], "add_todo": ["is_todo"], "add_pinned": ["pin"]}[op]
        text = params.text("message")
        return conv, world.post(
            conv, me, text, tags=tags, assignee_ids=params.uuids("assignee_ids")
        )
    msg = world.get_message(conv, params.req_integer("message_nr"))
    if msg.is_deleted and op == "edit":
        # An edit that comes after the delete succeeds and changes nothing: the message stays
        # deleted and empty (Fleep's editev spec). Other changes to it are refused.
        return conv, msg
    if msg.is_deleted or msg.state == "system":
        raise _invalid("This message cannot be changed.")
    if op == "edit":
        world.edit(conv, me, msg.message_nr, text=params.text("message"))
    elif op == "del":
        world.delete(conv, me, msg.message_nr)
    elif op == "set_plain":
        world.set_plain(conv, me, msg.message_nr)
    elif op in ("set_todo", "set_done", "set_pinned"):
        tag = {"set_todo": "is_todo", "set_done": "is_done", "set_pinned": "pin"}[op]
        world.set_tags(conv, me, msg.message_nr, [tag])
    elif op == "set_unpinned":
        if msg.state != "pinned":
            raise _invalid("Only a pinned message can be unpinned.")
        world.set_tags(conv, me, msg.message_nr, [])
    elif op == "pos_task" and params.has("section_id"):
        # *inferred*: the task moves into that section of its board, below prev_message_nr.
        world.place_task(
            conv,
            me,
            msg.message_nr,
            params.req_uuid("section_id"),
            params.integer("prev_message_nr"),
        )
    elif op in ("pos_pinned", "pos_task") and params.has("prev_message_nr"):
        world.place_pin(conv, me, msg.message_nr, params.integer("prev_message_nr"))
    elif op in ("pos_task", "pos_pinned"):
        weight = params.number("pin_weight") or params.number("task_weight")
        world.set_tags(conv, me, msg.message_nr, list(msg.tags), pin_weight=weight)
    elif op == "set_assignees":
        world.set_tags(
            conv,
            me,
            msg.message_nr,
            list(msg.tags),
            assignee_ids=params.uuids("assignee_ids") or [],
        )
    elif op == "disable_preview":
        world.disable_preview(conv, me, msg.message_nr)
    else:  # copy, into the event's conversation (or the older ``to_conv_id``)
        target = world.conversation(params.req_uuid("to_conv_id"))
        world.require_member(target, me)
        return target, copy_message(world, conv, target, me, msg)
    return conv, msg


def _section_name(params: Params) -> str:
    """The ``section_name`` parameter, stripped (400 when blank)."""
    name = params.req_text("section_name").strip()
    if not name:
        raise _invalid("A section needs a name.")
    return name


def _apply_section(ctx: Ctx, conv: Conversation, op: str, params: Params) -> Section:
    """Add, rename or delete a user section of the conversation's taskboard."""
    world, me = ctx.world, ctx.me.account_id
    if op == "section_add":
        name = _section_name(params)
        # Below the previous user section: 2**32 - 65536 * n (Fleep's server tests).
        count = sum(1 for s in conv.sections.values() if s.subtype == "user")
        weight = float(2**32) - _SECTION_STEP * (count + 1)
        sec = Section(world.ids.uuid(), conv.conversation_id, name, weight)
        conv.sections[sec.section_id] = sec
        return sec
    sec_or_none = conv.live_section(params.req_uuid("section_id"))
    if sec_or_none is None:
        raise ApiError(430, "not_found", "Section not found.")
    if sec_or_none.subtype != "user":
        # *inferred*: "To Do" and "Archived" are the board's own, as on the "my tasks" board.
        raise _invalid("This section cannot be changed.")
    if op == "section_rename":
        sec_or_none.name = _section_name(params)
    else:
        sec_or_none.is_deleted = True
        # *inferred*: its tasks go back to "To Do", keeping their weights.
        default = conv.system_section("default")
        if default is not None:
            world.move_tasks(
                conv, me, conv.section_tasks(sec_or_none.section_id), default.section_id
            )
    return sec_or_none


def _section_board(world: World, conv: Conversation, section_id: str, viewer: str) -> list[Record]:
    """The tasks in one section of a conversation's board, top first, with their files."""
    out: list[Record] = []
    for msg in conv.section_tasks(section_id):
        out.append(_event_message(conv, msg, viewer))
        out.extend(world.file_records(conv, msg))
    return out


def _apply_board(ctx: Ctx, conv: Conversation, op: str, params: Params) -> list[Record]:
    """``section:task:sync`` and ``archive_done`` (*inferred* from the "my tasks" board)."""
    world, me = ctx.world, ctx.me.account_id
    sec = conv.live_section(params.req_uuid("section_id"))
    if sec is None:
        raise ApiError(430, "not_found", "Section not found.")
    if op == "section_sync":
        return _section_board(world, conv, sec.section_id, me)
    archived = conv.system_section("archived")
    if archived is None:  # every board opens with one; kept for the type checker
        raise ApiError(430, "not_found", "Section not found.")
    done = [msg for msg in conv.section_tasks(sec.section_id) if msg.state == "done"]
    moved = world.move_tasks(conv, me, done, archived.section_id)
    return [_event_message(conv, msg, me) for msg in moved]


def _my_section(account: AccountState, section_id: str) -> Section:
    """The caller's live personal section ``section_id`` (430 for any other)."""
    sec = account.my_sections.get(section_id)
    if sec is None or sec.is_deleted:
        raise ApiError(430, "not_found", "Section not found.")
    return sec


def _my_board(world: World, account: AccountState, section_id: str) -> list[Record]:
    """The messages in one section of the caller's board (each names its place there in
    ``assigned_to_me_state``)."""
    out: list[Record] = []
    for conv, msg, _ in world.my_board(account, section_id):
        out.append(_event_message(conv, msg, account.account_id))
        out.extend(world.file_records(conv, msg))
    return out


def _apply_my_board(ctx: Ctx, op: str, params: Params) -> tuple[Record, list[Record]]:
    """Run one event of the caller's "my tasks" board (its sections and their tasks)."""
    world, account = ctx.world, ctx.me
    if op == "my_section_add":
        name = _section_name(params)
        # Below the previous user section, as on a conversation's board.
        account.my_section_count += 1
        weight = float(2**32) - _SECTION_STEP * account.my_section_count
        sec = Section(
            world.ids.uuid(), my_board_id(account.account_id), name, weight, kind="my_task"
        )
        account.my_sections[sec.section_id] = sec
    else:
        sec = _my_section(account, params.req_uuid("section_id"))
        if op == "my_section_sync":
            return {"section_id": sec.section_id}, _my_board(world, account, sec.section_id)
        if sec.subtype != "user":
            # *inferred*: "To Do" and "Archived" are the board's own, like system labels.
            raise _invalid("This section cannot be changed.")
        if op == "my_section_rename":
            sec.name = _section_name(params)
        elif op == "my_section_delete":
            sec.is_deleted = True
            # *inferred*: its tasks go back to "To Do", keeping their weights.
            default = world.my_section(account, "default").section_id
            for place in account.my_tasks.values():
                if place.section_id == sec.section_id:
                    place.section_id = default
        else:
            sec.weight = _my_section_weight(account, sec, params)
    world.emit(account.account_id, [rec.section(sec)])
    return {"section_id": sec.section_id}, [rec.section(sec)]


def _my_section_weight(account: AccountState, sec: Section, params: Params) -> float:
    """``set_position``: an explicit ``weight``, or just below ``prev_section_id``."""
    weight = params.number("weight")
    if weight is not None:
        return weight
    prev = _my_section(account, params.req_uuid("prev_section_id"))
    if prev is sec:
        raise _invalid("A section cannot follow itself.")
    below = [
        s.weight
        for s in account.my_sections.values()
        if not s.is_deleted and s is not sec and s.weight < prev.weight
    ]
    # Halfway to the next section down, as a task placed after another (weights descend).
    return (prev.weight + max(below, default=prev.weight - _SECTION_STEP * 2)) / 2


def _apply(ctx: Ctx, op: str, params: Params, *, old: bool) -> tuple[Record, list[Record]]:
    """Run one event: the request's ``identifier`` and the records to answer with."""
    if op.startswith("my_section_"):
        return _apply_my_board(ctx, op, params)
    world, me = ctx.world, ctx.me.account_id
    conv = world.conversation(params.req_uuid("conversation_id"))
    world.require_member(conv, me)
    before = conv.last_message_nr
    if op in ("section_sync", "section_archive_done"):
        records = _apply_board(ctx, conv, op, params)
        ident = {
            "conversation_id": conv.conversation_id,
            "section_id": params.req_uuid("section_id"),
        }
        return ident, records
    if op.startswith("section_"):
        sec = _apply_section(ctx, conv, op, params)
        for viewer in conv.members:
            world.emit(viewer, [rec.section(sec)])
        return (
            {"conversation_id": conv.conversation_id, "section_id": sec.section_id},
            [rec.section(sec)],
        )
    if op.startswith("done_notifications_"):
        world.set_done_notifications(conv, me, op.endswith("_on"))
        return {"conversation_id": conv.conversation_id}, [
            *_posted(world, conv, before, me),
            world.full_header(conv, me),
        ]
    target, msg = _apply_message(ctx, conv, op, params)
    records = [_event_message(target, msg, me, old=old), *world.file_records(target, msg)]
    if target is conv:
        # System messages the event posted (a completed task's notification).
        records += [
            r for r in _posted(world, conv, before, me) if r["message_nr"] != msg.message_nr
        ]
    return {"conversation_id": target.conversation_id, "message_nr": msg.message_nr}, records


def _posted(world: World, conv: Conversation, before: int, viewer: str) -> list[Record]:
    """System messages posted in ``conv`` after flow position ``before``."""
    return [
        rec.message(conv, m, viewer)
        for nr, m in sorted(conv.messages.items())
        if nr > before and m.state == "system"
    ]


def _store_one(ctx: Ctx, event: Any) -> tuple[Record, list[Record]]:
    """Apply one event: its ``request`` record and the records it changed."""
    world, me = ctx.world, ctx.me.account_id
    if not isinstance(event, dict):
        raise bad_request("Invalid value for stream: expected event objects.")
    events = Params(event)
    client_req_id = events.req_text("client_req_id")
    mk_event_type = events.req_text("mk_event_type")
    raw_params = event.get("params") or {}
    if not isinstance(raw_params, dict):
        raise bad_request("Invalid value for params: expected an object.")
    old = mk_event_type.startswith(_OLD_PREFIX)
    key = (me, client_req_id)
    seen = world.event_requests.get(key)
    if seen is not None:
        return dict(seen), _current(world, seen, me, old=old)
    request: Record = {
        "mk_rec_type": "request",
        "client_req_id": client_req_id,
        "mk_event_type": mk_event_type,
    }
    try:
        identifier, records = _apply(ctx, _operation(mk_event_type), Params(raw_params), old=old)
    except ApiError as error:
        request.update(status_code=error.status, **error.body())
        world.event_requests[key] = request
        return dict(request), []
    request.update(status_code=200, identifier=identifier)
    world.event_requests[key] = request
    return dict(request), records


def _current(world: World, request: Record, viewer: str, *, old: bool) -> list[Record]:
    """The current state of what a request changed (answering a repeated client_req_id)."""
    ident = request.get("identifier")
    if isinstance(ident, dict) and "conversation_id" not in ident and "section_id" in ident:
        # The caller's own board: the section as it is now, or its tasks for a sync.
        account = world.accounts[viewer]
        sec = account.my_sections.get(ident["section_id"])
        if sec is None:
            return []
        if request.get("mk_event_type") == _MY_SYNC:
            return _my_board(world, account, sec.section_id) if not sec.is_deleted else []
        return [rec.section(sec)]
    if not isinstance(ident, dict) or not is_uuid(ident.get("conversation_id")):
        return []
    conv = world.conversations.get(ident["conversation_id"])
    if conv is None:
        return []
    if "section_id" in ident:
        if request.get("mk_event_type") == _TASK_SYNC:
            return _section_board(world, conv, ident["section_id"], viewer)
        sec = conv.sections.get(ident["section_id"])
        return [rec.section(sec)] if sec is not None else []
    if "message_nr" not in ident:
        return [world.full_header(conv, viewer)] if viewer in conv.memberships else []
    msg = conv.messages.get(ident["message_nr"])
    if msg is None:
        return []
    return [_event_message(conv, msg, viewer, old=old)]


@handler("event/store")
def event_store(ctx: Ctx) -> Result:
    """Apply a stream of client events; answer a ``request`` record per event and the records
    they changed.

    The request records come in ``requests``, where the newest of Fleep's test clients reads
    them, and also in ``stream``, each before the records its event changed, where the older
    clients and event specs read them (the reference: "in the Jun-2017 branch, request records
    came inside ``stream``"). No spec shows them gone from ``stream``; both forms are kept so
    that clients of either era work (*inferred*).
    """
    events = ctx.params.raw("stream")
    if not isinstance(events, list) or not events:
        raise bad_request("Missing required field: stream.")
    requests: list[Record] = []
    stream: list[Record] = []
    for event in events:
        request, records = _store_one(ctx, event)
        requests.append(request)
        stream.append(request)
        stream.extend(records)
    return {"requests": requests, "stream": stream}

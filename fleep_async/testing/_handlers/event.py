"""``event/store``: the message-event API (a stream of client events, one ``request`` each).

A body ``{"stream": [{"mk_event_type", "client_req_id", "params"}, ...]}`` applies each event
and answers a ``request`` record per event (``status_code`` 200 with the ``identifier`` of the
message, or an error status with ``error_id``; the call itself answers 200), followed by the
changed message records. A repeated ``client_req_id`` answers the first outcome again without
a second change, as Fleep's own server tests show. Message records in this answer carry the
``urn:fleep:message:mk_message_state:*`` states every other answer carries (the newest of
Fleep's server tests); the older event family answers the older ``urn:fleep:msgstate:*`` ones.

Event types are ``urn:fleep:client:message:<op>`` (and the older
``urn:fleep:client:conversation:message:<op>`` spellings of the same operations).
"""

from __future__ import annotations

from typing import Any, Final

from fleep_async.testing._handlers.conversation import copy_message
from fleep_async.testing._http.errors import ApiError, bad_request
from fleep_async.testing._http.routing import Ctx, Params, Result, handler
from fleep_async.testing._world import records as rec
from fleep_async.testing._world.ids import is_uuid
from fleep_async.testing._world.state import Conversation, Message, Record
from fleep_async.testing._world.world import World

MSGSTATE_URN: Final = "urn:fleep:msgstate:"
_PREFIXES: Final = ("urn:fleep:client:message:", "urn:fleep:client:conversation:message:")
# Older event names -> the current operation.
_ALIASES: Final = {
    "add_text": "add_plain",
    "add_pin": "add_pinned",
    "set_pin": "set_pinned",
    "set_unpin": "set_unpinned",
    "delete": "del",
    "pos_pin": "pos_pinned",
}
# The older event family (``urn:fleep:client:conversation:message:*``) calls plain "text".
_OLD_PREFIX: Final = "urn:fleep:client:conversation:message:"
_OPS: Final = frozenset(
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


def _operation(mk_event_type: str) -> str:
    for prefix in _PREFIXES:
        if mk_event_type.startswith(prefix):
            op = mk_event_type[len(prefix) :]
            op = _ALIASES.get(op, op)
            if op in _OPS:
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


def _apply(ctx: Ctx, op: str, params: Params) -> tuple[Conversation, Message]:
    """Run one event; the message it created or changed."""
    world, me = ctx.world, ctx.me.account_id
    conv = world.conversation(params.req_uuid("conversation_id"))
    world.require_member(conv, me)
    if op == "copy" and params.has("copy_conversation_id"):
        # The event's conversation is the target; the source is named by copy_*.
        source = world.conversation(params.req_uuid("copy_conversation_id"))
        world.membership(source, me)
        original = world.get_message(source, params.req_integer("copy_message_nr"))
        return conv, copy_message(world, source, conv, me, original)
    if op.startswith("add_"):
        tags = {"add_plain": [], "add_todo": ["is_todo"], "add_pinned": ["pin"]}[op]
        return conv, world.post(conv, me, params.text("message"), tags=tags)
    msg = world.get_message(conv, params.req_integer("message_nr"))
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


def _store_one(ctx: Ctx, event: Any) -> list[Record]:
    world, me = ctx.world, ctx.me.account_id
    if not isinstance(event, dict):
        raise bad_request("Invalid value for stream: expected event objects.")
    events = Params(event)
    client_req_id = events.req_text("client_req_id")
    mk_event_type = events.req_text("mk_event_type")
    raw_params = event.get("params") or {}
    if not isinstance(raw_params, dict):
        raise bad_request("Invalid value for params: expected an object.")
    key = (me, client_req_id)
    seen = world.event_requests.get(key)
    if seen is not None:
        return [dict(seen), *_current(world, seen, me, old=mk_event_type.startswith(_OLD_PREFIX))]
    request: Record = {
        "mk_rec_type": "request",
        "client_req_id": client_req_id,
        "mk_event_type": mk_event_type,
    }
    try:
        conv, msg = _apply(ctx, _operation(mk_event_type), Params(raw_params))
    except ApiError as error:
        request.update(status_code=error.status, **error.body())
        world.event_requests[key] = request
        return [dict(request)]
    request.update(
        status_code=200,
        identifier={"conversation_id": conv.conversation_id, "message_nr": msg.message_nr},
    )
    world.event_requests[key] = request
    old = mk_event_type.startswith(_OLD_PREFIX)
    return [dict(request), _event_message(conv, msg, me, old=old), *world.file_records(conv, msg)]


def _current(world: World, request: Record, viewer: str, *, old: bool) -> list[Record]:
    ident = request.get("identifier")
    if not isinstance(ident, dict) or not is_uuid(ident.get("conversation_id")):
        return []
    conv = world.conversations.get(ident["conversation_id"])
    msg = conv.messages.get(ident["message_nr"]) if conv is not None else None
    if conv is None or msg is None:
        return []
    return [_event_message(conv, msg, viewer, old=old)]


@handler("event/store")
def event_store(ctx: Ctx) -> Result:
    """Apply a stream of message events; answer a ``request`` record per event."""
    stream = ctx.params.raw("stream")
    if not isinstance(stream, list) or not stream:
        raise bad_request("Missing required field: stream.")
    out: list[Record] = []
    for event in stream:
        out.extend(_store_one(ctx, event))
    return {"stream": out}

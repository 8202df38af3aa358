"""The boards: ``account/sync_pinboard`` and ``account/sync_taskboard``."""

from __future__ import annotations

from typing import Final

from fleep_async.testing._http.errors import bad_request
from fleep_async.testing._http.routing import Ctx, Result, handler
from fleep_async.testing._world import records as rec

MAX_EXTERNAL_SIZE: Final = 1024**3


@handler("account/sync_pinboard")
def sync_pinboard(ctx: Ctx) -> Result:
    """Pinned messages of a conversation, ``pin_limit`` at a time after ``pin_weight``."""
    world, me = ctx.world, ctx.me
    conv = world.conversation(ctx.params.req_uuid("conversation_id"))
    m = world.membership(conv, me.account_id)
    after = ctx.params.number("pin_weight")
    limit = ctx.params.integer("pin_limit") or 30
    pins = [msg for msg in conv.visible_messages(m) if msg.state == "pinned"]
    pins.sort(key=lambda msg: msg.pin_weight or 0.0)
    if after is not None:
        pins = [msg for msg in pins if (msg.pin_weight or 0.0) > after]
    return {"stream": [rec.message(conv, msg, me.account_id) for msg in pins[: max(limit, 1)]]}


@handler("account/sync_taskboard")
def sync_taskboard(ctx: Ctx) -> Result:
    """Tasks of one section of a conversation's board, ``task_limit`` at a time after
    ``task_weight`` (weights ascending, as the pinboard).

    *inferred*: a ``section_id`` that names no section of the board (FakeFleep had none before
    the board's own sections) answers the tasks of every section.
    """
    world, me = ctx.world, ctx.me
    conv = world.conversation(ctx.params.req_uuid("conversation_id"))
    section_id = ctx.params.req_uuid("section_id")
    m = world.membership(conv, me.account_id)
    limit = ctx.params.integer("task_limit") or 30
    if not 1 <= limit <= 100:
        raise bad_request("Invalid value for task_limit: 1..100.")
    after = ctx.params.number("task_weight")
    tasks = [msg for msg in conv.visible_messages(m) if msg.state in ("todo", "done")]
    if conv.live_section(section_id) is not None:
        tasks = [msg for msg in tasks if msg.section_id == section_id]
    tasks.sort(key=lambda msg: msg.task_weight or 0.0)
    if after is not None:
        tasks = [msg for msg in tasks if (msg.task_weight or 0.0) > after]
    return {"stream": [rec.message(conv, msg, me.account_id) for msg in tasks[:limit]]}

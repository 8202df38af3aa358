"""Admin routes under ``/_fakefleep/`` for driving an out-of-process FakeFleep over HTTP.

- ``GET  /_fakefleep/state``: accounts, conversations, horizons, parked polls, fault counts.
- ``POST /_fakefleep/state``: ``{"action": ...}`` with ``create_account`` (email, password,
  display_name), ``create_conversation`` (owner, topic, members), ``post`` (account,
  conversation_id, text), ``expire_session`` (account), ``force_resync`` (account),
  ``create_hook`` (account, conversation_id, hook_name).
- ``GET  /_fakefleep/faults``: counts and pending faults; ``POST`` a fault spec
  (``{"kind": "status", "endpoint": "message/send", "status": 503, "times": 2}``; kinds as in
  :meth:`Faults.configure`).
- ``GET  /_fakefleep/outbox``: the fake mails (including notification ids).

No authentication: these routes exist for tests on loopback (``FakeFleep(admin=False)`` drops
them).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs
import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from fleep_async.testing._http.errors import ApiError

if TYPE_CHECKING:
    from fleep_async.testing._fake import FakeFleep


def _json(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status, media_type="application/json; charset=utf-8")


def admin_routes(fake: FakeFleep | None) -> list[Route]:
    """The admin routes (none when ``fake`` is None)."""
    if fake is None:
        return []

    def state_summary() -> dict[str, Any]:
        world = fake.world
        return {
            "base_url": fake.base_url,
            "accounts": [
                {
                    "account_id": a.account_id,
                    "email": a.email,
                    "display_name": a.display_name,
                    "fleep_address": a.fleep_address,
                    "mk_account_status": a.mk_account_status,
                    "event_horizon": a.log.horizon,
                }
                for a in world.accounts.values()
            ],
            "conversations": [
                {
                    "conversation_id": c.conversation_id,
                    "topic": c.topic,
                    "members": c.members,
                    "last_message_nr": c.last_message_nr,
                }
                for c in world.conversations.values()
            ],
            "parked_polls": world.parked_polls,
            "faults": dict(fake.faults.counts),
            # Text messages per conversation and author, as stored: an independent judge's tally.
            "message_counts": [
                {"conversation_id": cid, "account_id": aid, "messages": n}
                for (cid, aid), n in sorted(fake.message_counts().items())
            ],
        }

    async def state(request: Request) -> Response:
        if request.method == "GET":
            return _json(state_summary())
        try:
            body = orjson.loads(await request.body())
            if not isinstance(body, dict):
                raise TypeError("body must be an object")
            return _json(await _action(fake, body))
        except ApiError as error:
            return _json(error.body(), error.status)
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            return _json({"error_id": "invalid_call", "error_message": str(exc)}, 400)

    async def faults(request: Request) -> Response:
        if request.method == "POST":
            try:
                spec = orjson.loads(await request.body())
                specs = spec if isinstance(spec, list) else [spec]
                for item in specs:
                    fake.faults.configure(item)
            except (orjson.JSONDecodeError, TypeError, ValueError) as exc:
                return _json({"error_id": "invalid_call", "error_message": str(exc)}, 400)
        return _json(
            {
                "counts": dict(fake.faults.counts),
                "pending": [attrs.asdict(rule) for rule in fake.faults.pending],
            }
        )

    async def outbox(request: Request) -> Response:
        return _json(
            [
                {
                    "to": m.to,
                    "kind": m.kind,
                    "notification_id": m.notification_id,
                    "registration_code": m.registration_code,
                    "subject": m.subject,
                }
                for m in fake.outbox
            ]
        )

    return [
        Route("/_fakefleep/state", state, methods=["GET", "POST"]),
        Route("/_fakefleep/faults", faults, methods=["GET", "POST"]),
        Route("/_fakefleep/outbox", outbox, methods=["GET"]),
    ]


async def _action(fake: FakeFleep, body: dict[str, Any]) -> dict[str, Any]:
    action = body.get("action")
    if action == "create_account":
        account = fake.create_account(
            body["email"],
            body["password"],
            body.get("display_name"),
            fleep_address=body.get("fleep_address"),
        )
        return {
            "account_id": account.account_id,
            "email": account.email,
            "display_name": account.display_name,
            "fleep_address": account.fleep_address,
        }
    if action == "create_conversation":
        conv_id = fake.create_conversation(
            body["owner"], body.get("topic"), body.get("members") or []
        )
        return {"conversation_id": conv_id}
    if action == "post":
        nr = await fake.post_as(body["account"], body["conversation_id"], body["text"])
        return {"message_nr": nr}
    if action == "expire_session":
        return {"expired": fake.expire_session(body["account"])}
    if action == "force_resync":
        fake.force_resync(body["account"])
        return {}
    if action == "create_hook":
        url = fake.create_hook(body["account"], body["conversation_id"], body.get("hook_name"))
        return {"hook_url": url}
    raise ValueError(f"unknown action: {action!r}")

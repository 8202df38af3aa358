"""``search`` and ``search/*``."""

from __future__ import annotations

import re
from typing import Final

from fleep_async.testing._http.errors import bad_request
from fleep_async.testing._http.routing import Ctx, Result, handler
from fleep_async.testing._world import records as rec
from fleep_async.testing._world.render import escape
from fleep_async.testing._world.state import AccountState, Conversation, Record
from fleep_async.testing._world.world import World

MAX_EXTERNAL_SIZE: Final = 1024**3


def _marked(text: str, words: list[str]) -> str:
    out = escape(text)
    for word in words:
        out = re.sub(f"({re.escape(escape(word))})", r"<mark>\1</mark>", out, flags=re.IGNORECASE)
    return out


@handler("search")
def search(ctx: Ctx) -> Result:
    """Messages containing every keyword (case-insensitive), newest first."""
    world, me, p = ctx.world, ctx.me, ctx.params
    keywords = p.raw("keywords")
    if isinstance(keywords, list):
        keywords = " ".join(k for k in keywords if isinstance(k, str))
    if not isinstance(keywords, str) or not keywords.strip():
        raise bad_request("Missing required field: keywords.")
    words = keywords.lower().split()
    types = set(p.texts("search_types") or ["topic", "chat"])
    conv_filter = p.uuid("conversation_id")
    ignore = set(p.uuids("ignore_conversation_ids") or [])
    matches: list[Record] = []
    headers: dict[str, Record] = {}
    for conv_id in world.convs_of.get(me.account_id, []):
        if (conv_filter is not None and conv_id != conv_filter) or conv_id in ignore:
            continue
        conv = world.conversations[conv_id]
        hit_conv = "topic" in types and all(w in _topic_text(world, conv) for w in words)
        for msg in conv.visible_messages(conv.memberships[me.account_id]):
            text = world.message_text(msg) if msg.mk_message_type == "text" else ""
            kind_ok = ("chat" in types) or (msg.state == "pinned" and "pin" in types)
            kind_ok = kind_ok or (msg.state in ("todo", "done") and "task" in types)
            if text and kind_ok and all(w in text.lower() for w in words):
                record = rec.message(conv, msg, me.account_id)
                record["marked_text"] = _marked(text, words)
                matches.append(record)
                hit_conv = True
        if hit_conv:
            # The real answer's headers are the conversation's name and members only.
            headers[conv_id] = {
                "conversation_id": conv_id,
                "members": conv.members,
                "mk_rec_type": "conv",
                "topic": conv.topic,
            }
    matches.sort(key=lambda r: (r["posted_time"], r["message_nr"]), reverse=True)
    # The real answer also carries a ``stream`` (the matched messages' authors' contacts, for
    # the client's cache) and ``suggestions: null`` unless they were asked for.
    authors = dict.fromkeys(m["account_id"] for m in matches if m["account_id"] in world.accounts)
    result: Result = {
        "matches": matches,
        "headers": list(headers.values()),
        "stream": [world.contact_for(world.accounts[a], me) for a in authors],
        "suggestions": None,
    }
    if p.flag("need_suggestions"):
        result["suggestions"] = _suggest(world, me, words[-1] if words else "")
    return result


def _topic_text(world: World, conv: Conversation) -> str:
    """What a topic search looks in: the topic, or for an untitled group its members.

    Fleep's tests find an untitled conversation of three or four people by a member's name or
    e-mail address, but not one of two people by the other's name (*inferred* rule: groups
    only, as a two-person chat is found through the contact instead).
    """
    if conv.topic or len(conv.members) < 3:
        return conv.topic.lower()
    people = [world.accounts[a] for a in conv.members if a in world.accounts]
    return " ".join(f"{p.display_name} {p.email}" for p in people).lower()


def _suggest(world: World, me: AccountState, prefix: str) -> list[str]:
    seen: dict[str, None] = {}
    for conv_id in world.convs_of.get(me.account_id, []):
        conv = world.conversations[conv_id]
        for msg in conv.visible_messages(conv.memberships[me.account_id]):
            for word in re.findall(r"\w+", world.message_text(msg).lower()):
                if word.startswith(prefix) and word != prefix:
                    seen[word] = None
    return sorted(seen)[:10]


@handler("search/suggest")
def search_suggest(ctx: Ctx) -> Result:
    """Completions for the last word of ``keywords``."""
    keywords = ctx.params.req_text("keywords").lower().split()
    return {"suggestions": _suggest(ctx.world, ctx.me, keywords[-1] if keywords else "")}


@handler("search/prepare")
def search_prepare(ctx: Ctx) -> Result:
    """No index to warm up in FakeFleep."""
    return {}


@handler("search/reset")
def search_reset(ctx: Ctx) -> Result:
    """No index to drop in FakeFleep."""
    return {}

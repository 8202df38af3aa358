"""A realistic, deterministic ``account/poll`` page for benchmarks.

The record shapes follow the real stream (docs/fakefleep.md, "Records"): poll records omit unset
fields, conversation headers are mostly partial, message bodies are XML, system message bodies are
JSON strings. The mix is close to a busy poll: mostly messages and conversation headers, then
activity, contacts, files, requests, labels, pokes, hooks, a few previews, teams and lastseen, and a
few record types the library does not model.

Use :func:`make_page` (bytes, as the transport receives them) or :func:`make_stream` (the decoded
``stream`` list).
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from typing import Any, Final

import orjson

__all__ = ["MIX", "make_drain_stream", "make_page", "make_stream"]

#: Records per 1000 in a page, by ``mk_rec_type`` ("unknown" = types the library does not model).
MIX: Final[dict[str, int]] = {
    "message": 480,
    "conv": 220,
    "activity": 90,
    "contact": 60,
    "file": 40,
    "request": 40,
    "label": 20,
    "poke": 15,
    "hook": 10,
    "preview": 8,
    "lastseen": 7,
    "team": 5,
    "unknown": 5,
}

_TEXT: Final = (
    "the deploy is done please review the pull request before lunch we should ship it today "
    "build failed again on the integration tests can someone look at the flaky poller test "
    "meeting moved to three thanks great work let me know when the release notes are ready "
    "customer reported slow uploads from the mobile app looks like a timeout on large files"
)
_WORDS: Final = tuple(_TEXT.split(" "))

_STATE: Final = "urn:fleep:message:mk_message_state:"
_T0: Final = 1_500_000_000


class _Gen:
    def __init__(self, seed: int, conversations: int = 60) -> None:
        self.rng = random.Random(seed)
        self.accounts = [self.uuid() for _ in range(40)]
        self.convs = [self.uuid() for _ in range(conversations)]
        self.me = self.accounts[0]
        self.next_nr: dict[str, int] = {c: self.rng.randint(2, 500) for c in self.convs}

    def uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def key22(self) -> str:
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"
        return "".join(self.rng.choice(alphabet) for _ in range(22))

    def words(self, lo: int, hi: int) -> str:
        return " ".join(self.rng.choice(_WORDS) for _ in range(self.rng.randint(lo, hi)))

    def time(self) -> int:
        return _T0 + self.rng.randint(0, 10_000_000)

    def conv_id(self) -> str:
        return self.rng.choice(self.convs)

    def account(self) -> str:
        return self.rng.choice(self.accounts)

    # --- record builders -------------------------------------------------------------------

    def message(self) -> dict[str, Any]:
        conv = self.conv_id()
        nr = self.next_nr[conv]
        self.next_nr[conv] = nr + 1
        rec: dict[str, Any] = {
            "mk_rec_type": "message",
            "conversation_id": conv,
            "message_nr": nr,
            "prev_message_nr": nr - 1,
            "inbox_nr": nr - 1,
            "account_id": self.account(),
            "profile_id": self.me,
            "posted_time": self.time(),
            "mk_message_type": "text",
            "mk_message_state": _STATE + "plain",
            "tags": [],
            "lock_account_id": None,
        }
        roll = self.rng.random()
        if roll < 0.06:
            kind = self.rng.choice(("create", "add", "topic"))
            rec["mk_message_type"] = kind
            rec["mk_message_state"] = _STATE + "system"
            body: dict[str, Any] = {"topic": self.words(1, 4)}
            if kind != "topic":
                body = {"members": [self.account() for _ in range(self.rng.randint(1, 4))]}
                body.update(org_name=None, organisation_id=None, topic=self.words(1, 3))
            rec["message"] = orjson.dumps(body).decode()
            return rec
        paragraphs = [self.words(3, 30) for _ in range(self.rng.randint(1, 3))]
        if self.rng.random() < 0.15:
            paragraphs[-1] += ' see <a href="https://example.com/x">example.com/x</a>'
        rec["message"] = "<msg>" + "".join(f"<p>{p}</p>" for p in paragraphs) + "</msg>"
        if roll < 0.16:  # an edit, delete or pin of an older message
            rec["flow_message_nr"] = nr + self.rng.randint(1, 5)
            rec["edit_account_id"] = rec["account_id"]
            rec["edited_time"] = rec["posted_time"] + 60
            if roll < 0.09:
                rec["message"] = ""
                rec["mk_message_state"] = _STATE + "deleted"
        elif roll < 0.21:
            rec["hook_key"] = self.key22()
            rec["is_new_sheet"] = False
        return rec

    def conv(self) -> dict[str, Any]:
        conv = self.conv_id()
        last = self.next_nr[conv] - 1
        rec: dict[str, Any] = {
            "mk_rec_type": "conv",
            "conversation_id": conv,
            "inbox_message_nr": last,
            "is_mark_unread": False,
            "join_message_nr": 1,
            "last_inbox_nr": last - 1,
            "last_message_nr": last,
            "mk_alert_level": "default",
            "read_message_nr": last,
            "send_message_nr": last,
            "show_message_nr": last,
            "snooze_interval": 0,
            "snooze_time": 0,
            "unread_count": self.rng.randint(0, 5),
        }
        roll = self.rng.random()
        if roll < 0.25:
            return rec  # the smallest partial header
        rec.update(
            profile_id=self.me,
            export_files=[],
            export_progress="1",
            has_done_notifications=False,
            has_pinboard=False,
            has_task_archive=False,
            has_taskboard=False,
            passive=[],
            pending=[],
            inbox_time=self.time(),
            is_automute=False,
            is_list=False,
            label_ids=[],
            last_message_time=self.time(),
            teams=[],
            is_muted=False,
            read_inbox_nr=last - 1,
        )
        if roll < 0.8:
            return rec  # the usual partial header after a send
        members = [self.me, *self.rng.sample(self.accounts[1:], self.rng.randint(1, 8))]
        rec.update(
            topic=self.words(1, 5),
            topic_message_nr=1,
            creator_id=self.account(),
            members=members,
            leavers=[],
            admins=[],
            guests=[],
            default_members=[],
            autojoin_url="https://fleep.io/chat/" + self.key22(),
            cmail=f"conv.{self.key22().lower()}@fleep.io",
            begin_message_nr=1,
            bw_message_nr=1,
            fw_message_nr=last,
            can_post=True,
            is_init=True,
            is_full=True,
            is_tiny=False,
            mk_init_mode="ic_full",
            mk_conv_type="cct_default",
            organisation_id=None,
            has_email_subject=False,
            is_managed=False,
            is_premium=False,
            pin_cursor=None,
            pin_sync_state=None,
        )
        return rec

    def contact(self) -> dict[str, Any]:
        name = self.words(2, 2).title()
        return {
            "mk_rec_type": "contact",
            "account_id": self.account(),
            "display_name": name,
            "email": name.replace(" ", ".").lower() + "@example.com",
            "fleep_address": name.replace(" ", ".").lower(),
            "dialog_id": self.conv_id(),
            "activity_time": self.time(),
            "is_hidden_for_add": self.rng.random() < 0.5,
            "mk_account_status": "active",
            "organisation_id": None,
            "sort_rank": self.rng.randint(0, 9),
        }

    def activity(self) -> dict[str, Any]:
        rec: dict[str, Any] = {
            "mk_rec_type": "activity",
            "account_id": self.account(),
            "conversation_id": self.conv_id(),
        }
        if self.rng.random() < 0.7:
            rec.update(
                is_writing=self.rng.random() < 0.3,
                join_message_nr=1,
                read_message_nr=self.rng.randint(1, 500),
                activity_time=self.time(),
            )
        return rec

    def file(self) -> dict[str, Any]:
        key = self.key22()
        name = self.rng.choice(("report.pdf", "screenshot.png", "notes.txt", "photo.jpg"))
        image = name.endswith((".png", ".jpg"))
        rec: dict[str, Any] = {
            "mk_rec_type": "file",
            "conversation_id": self.conv_id(),
            "message_nr": self.rng.randint(2, 500),
            "account_id": self.account(),
            "attachment_id": key,
            "file_name": name,
            "file_size": self.rng.randint(1_000, 5_000_000),
            "file_type": "image/png" if image else "application/pdf",
            "file_sha256": f"{self.rng.getrandbits(256):064x}",
            "file_url": f"/file/{self.key22()}/00/{key}/{name}",
            "width": 400 if image else None,
            "height": 300 if image else None,
            "orientation": None,
            "is_animated": False if image else None,
            "is_deleted": False,
            "is_hidden": False,
            "deleter_id": "",
            "sender_name": None,
            "posted_time": self.time(),
        }
        if image:  # non-images carry no thumbnails
            rec["thumb_url_50"] = f"/thumb/{key}/thumb50"
            rec["thumb_url_100"] = f"/thumb/{key}/thumb100"
        return rec

    def request(self) -> dict[str, Any]:
        return {
            "mk_rec_type": "request",
            "client_req_id": self.uuid(),
            "conversation_id": self.conv_id(),
            "result_message_nr": self.rng.randint(2, 500),
        }

    def label(self) -> dict[str, Any]:
        return {
            "mk_rec_type": "label",
            "label_id": self.uuid(),
            "label": self.rng.choice(_WORDS),
            "index": self.rng.randint(0, 9),
            "mk_label_type": "user_label",
            "mk_label_subtype": "user",
            "mk_label_status": "active",
            "is_on_left_pane": True,
            "is_in_muted": True,
            "is_in_recent": True,
            "sync_cursor": "{}",
            "sync_inbox_time": 0,
        }

    def poke(self) -> dict[str, Any]:
        return {
            "mk_rec_type": "poke",
            "account_id": self.me,
            "conversation_id": self.conv_id(),
            "message_nr": self.rng.randint(1, 1_000_000),
        }

    def hook(self) -> dict[str, Any]:
        key = self.key22()
        return {
            "mk_rec_type": "hook",
            "conversation_id": self.conv_id(),
            "account_id": self.account(),
            "hook_id": self.uuid(),
            "hook_key": key,
            "hook_name": "plainHook",
            "hook_url": "https://fleep.io/hook/" + key,
            "is_active": True,
            "mk_hook_type": "plain",
            "avatar_urls": orjson.dumps(
                {"size_50": "/avatar/hook/x/thumb50.png", "size_100": "/avatar/hook/x/thumb100.png"}
            ).decode(),
            "outgoing_url": "",
            "outgoing_disabled": False,
            "outgoing_disable_reason": None,
        }

    def preview(self) -> dict[str, Any]:
        return {
            "mk_rec_type": "preview",
            "conversation_id": self.conv_id(),
            "message_nr": self.rng.randint(2, 500),
            "attached_url": "https://example.com/" + self.key22(),
            "title": self.words(2, 6),
            "description": self.words(5, 20),
            "attachment_id": self.key22(),
            "file_name": "preview575.png",
            "file_type": "image/png",
            "file_url": "/file/x/preview575.png",
            "thumb_url_50": "/thumb/x/thumb50",
            "thumb_url_100": "/thumb/x/thumb100",
            "width": 575,
            "height": 315,
            "orig_file_name": "og.png",
            "orig_file_size": 65032,
            "file_size": 47421,
            "account_id": self.account(),
            "is_deleted": False,
            "posted_time": self.time(),
        }

    def lastseen(self) -> dict[str, Any]:
        return {
            "mk_rec_type": "lastseen",
            "account_id": self.account(),
            "activity_time": self.time(),
        }

    def team(self) -> dict[str, Any]:
        return {
            "mk_rec_type": "team",
            "team_id": self.uuid(),
            "team_name": self.words(1, 2),
            "members": self.rng.sample(self.accounts, 5),
            "admins": [],
            "autojoin_url": "https://fleep.io/team/" + self.key22(),
            "is_autojoin": False,
            "is_deleted": False,
            "is_managed": False,
            "is_org_wide": False,
            "is_tiny": False,
            "mk_sync_mode": "tsm_full",
            "organisation_id": None,
            "pending": [],
            "team_version_nr": self.rng.randint(1, 9),
        }

    def unknown(self) -> dict[str, Any]:
        # Record types the client does not model (org_conv is modelled now).
        kind = self.rng.choice(("hangout_activity", "replace", "mail_conf_progress"))
        return {"mk_rec_type": kind, "conversation_id": self.conv_id(), "hangout_id": self.uuid()}


def make_stream(
    n_records: int = 1000, *, seed: int = 0, conversations: int = 60
) -> list[dict[str, Any]]:
    """Return ``n_records`` realistic stream records in the :data:`MIX` proportions, shuffled.

    The records spread over ``conversations`` conversations.
    """
    gen = _Gen(seed, conversations)
    builders: dict[str, Callable[[], dict[str, Any]]] = {kind: getattr(gen, kind) for kind in MIX}
    kinds: list[str] = []
    total = sum(MIX.values())
    for kind, share in MIX.items():
        kinds.extend([kind] * max(1, round(share * n_records / total)))
    kinds = kinds[:n_records]
    while len(kinds) < n_records:
        kinds.append("message")
    gen.rng.shuffle(kinds)
    return [builders[kind]() for kind in kinds]


def make_drain_stream(n_records: int = 500, *, seed: int = 0) -> list[dict[str, Any]]:
    """``n_records`` records as a busy conversation list drains: message + header pairs.

    Each message is followed by the (partial) header of its conversation, as Fleep sends them
    after a post; the conversations rotate over the generator's 60.
    """
    gen = _Gen(seed)
    stream: list[dict[str, Any]] = []
    while len(stream) < n_records:
        message = gen.message()
        header = gen.conv()
        header_conv = message["conversation_id"]
        last = message["message_nr"]
        header.update(
            conversation_id=header_conv,
            inbox_message_nr=last,
            last_message_nr=last,
            read_message_nr=last,
            send_message_nr=last,
            show_message_nr=last,
        )
        stream.append(message)
        stream.append(header)
    return stream[:n_records]


def make_page(n_records: int = 1000, *, seed: int = 0) -> bytes:
    """Return an ``account/poll`` response body carrying ``n_records`` records, as bytes."""
    page = {
        "event_horizon": 1000 + n_records,
        "limit_time": 0,
        "static_version": "static-20171201",
        "stream": make_stream(n_records, seed=seed),
    }
    return orjson.dumps(page)

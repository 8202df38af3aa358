"""Stream records exactly as the real server shapes them (docs/fakefleep.md, "Records").

Every builder takes the *viewer*: ``profile_id`` is the viewing account, and per-member fields
(read horizon, unread count, labels, alert level) come from the viewer's membership.
Unset optional fields are omitted, except the nulls the real stream always carries
(``lock_account_id`` on messages, ``organisation_id`` on conv/contact).
"""

from __future__ import annotations

import bisect
import json
from typing import Any, Final

from fleep_async.testing._world.state import (
    AccountState,
    Attachment,
    Conversation,
    Hook,
    Label,
    Membership,
    Message,
    MyTask,
    Record,
    Section,
    Smtp,
    StoredFile,
    Team,
)

STATE_URN: Final = "urn:fleep:message:mk_message_state:"
STORAGE_QUOTA: Final = 10 * 1024**3
MONOLOGUE_TOPIC: Final = "Monologue with myself"
# A contact's ``sort_rank`` ("show higher ranking contacts on top") for a viewer: set by the
# viewer's last hide, import or description of it (``AccountState.contact_ranks``), the default
# otherwise. The values are Fleep's contacts spec's; that the last action decides is *inferred*.
DEFAULT_SORT_RANK: Final = 1
HIDDEN_RANK: Final = 0
IMPORTED_RANK: Final = 3
DESCRIBED_RANK: Final = 4
# Labels the server puts on conversations by itself, never named in a header's ``labels``.
AUTOMATIC_LABEL_SUBTYPES: Final = frozenset({"team_label", "1:1 conversations"})

# The partial header the real server answers after a message change (``message/send``,
# ``message/store``, the read-state calls): the counters only, as the newest versions of Fleep's
# main, read and crapnet specs show (older ones gave ``message/send`` the identity fields too).
PARTIAL_KEYS: Final = (
    "mk_rec_type",
    "conversation_id",
    "profile_id",
    "export_files",
    "export_progress",
    "has_pinboard",
    "has_task_archive",
    "has_taskboard",
    "inbox_message_nr",
    "inbox_time",
    "is_automute",
    "is_list",
    "is_mark_unread",
    "join_message_nr",
    "label_ids",
    "last_inbox_nr",
    "last_message_nr",
    "last_message_time",
    "mk_alert_level",
    "read_message_nr",
    "send_message_nr",
    "show_message_nr",
    "snooze_interval",
    "snooze_time",
    "teams",
    "unread_count",
    "inactives",
)

# The conversation's identity, added to the counters by a topic or membership change.
IDENTITY_KEYS: Final = (
    *PARTIAL_KEYS,
    "admins",
    "can_post",
    "creator_id",
    "has_email_subject",
    "is_managed",
    "is_premium",
    "mk_conv_type",
    "organisation_id",
    "topic",
    "topic_message_nr",
)

# ``conversation/set_topic`` answers the identity shape plus the member lists (Fleep's tests).
TOPIC_KEYS: Final = (*IDENTITY_KEYS, "default_members", "leavers", "members")

# What the poll brings the actor of a team change or a ``conversation/store``: the topic
# shape plus ``guests`` (Fleep's ``team_basic`` spec) and the label names it set (the
# ``label`` spec), not a full header.
ACTOR_KEYS: Final = (*TOPIC_KEYS, "guests", "labels")

# What a header no longer carries once its viewer has left (leave, remove_members).
LEFT_DROPS: Final = (
    "autojoin_url",
    "begin_message_nr",
    "bw_message_nr",
    "cmail",
    "fw_message_nr",
    "is_full",
    "is_init",
    "is_tiny",
    "mk_init_mode",
    "pin_cursor",
    "pin_sync_state",
)

TINY_KEYS: Final = (
    "mk_rec_type",
    "conversation_id",
    "profile_id",
    "topic",
    "members",
    "label_ids",
    "last_message_nr",
    "read_message_nr",
    "unread_count",
    "inbox_time",
    "last_message_time",
    "mk_alert_level",
    "can_post",
    "organisation_id",
)


def conv_full(
    conv: Conversation,
    m: Membership,
    *,
    base_url: str,
    labels: dict[str, Label],
    is_init: bool = True,
) -> Record:
    """The full ConvInfo for one member (``mk_init_mode: ic_full``)."""
    last_nr = (
        m.left_message_nr
        if not m.active and m.left_message_nr is not None
        else conv.last_message_nr
    )
    rec: Record = {
        "mk_rec_type": "conv",
        "conversation_id": conv.conversation_id,
        "profile_id": m.account_id,
        "topic": conv.topic,
        "topic_message_nr": conv.topic_message_nr,
        "creator_id": conv.creator_id,
        "members": conv.members,
        "leavers": conv.leavers,
        "admins": list(conv.admins),
        "guests": [],
        "default_members": list(conv.default_members),
        "teams": list(conv.teams),
        "label_ids": list(m.label_ids),
        "autojoin_url": f"{base_url}/chat/{conv.autojoin_key}",
        "cmail": conv.cmail,
        "begin_message_nr": m.rejoin_message_nr or max(m.join_message_nr, 1),
        "bw_message_nr": max(m.join_message_nr, 1),
        "fw_message_nr": last_nr,
        "join_message_nr": m.join_message_nr,
        "last_message_nr": last_nr,
        "read_message_nr": m.read_message_nr,
        "show_message_nr": min(conv.last_shown_nr, last_nr),
        # Nothing before the member's join is in its inbox.
        "inbox_message_nr": max(_inbox_position(conv, m.read_message_nr), m.join_message_nr),
        "last_inbox_nr": conv.last_inbox_nr,
        "unread_count": conv.unread_count(m.account_id, m.read_message_nr),
        "inbox_time": conv.last_message_time,
        "last_message_time": conv.last_message_time,
        "can_post": m.active,
        "is_init": is_init,
        "is_full": True,
        "is_tiny": False,
        "mk_init_mode": "ic_full",
        "mk_alert_level": m.mk_alert_level,
        "mk_conv_type": conv.mk_conv_type,
        "organisation_id": None,
        "export_files": [],
        "export_progress": "1",
        "has_email_subject": conv.has_email_subject,
        "has_pinboard": bool(conv.pinned),
        "has_task_archive": False,
        "has_taskboard": bool(conv.tasks),
        "is_automute": False,
        "is_list": conv.is_list,
        "is_managed": conv.is_managed,
        "is_premium": False,
        "snooze_interval": m.snooze_interval,
        "snooze_time": m.snooze_time,
        # The newest of Fleep's specs (main, members, read, conversation_sync at 544ef434) show
        # these on every header: no closed accounts here, and the pin board's sync state.
        "inactives": [],
        "pin_cursor": None,
        "pin_sync_state": None,
    }
    if m.is_mark_unread is not None:
        rec["is_mark_unread"] = m.is_mark_unread
    if m.send_message_nr is not None:
        rec["send_message_nr"] = m.send_message_nr
    if m.my_message_nr is not None:
        rec["my_message_nr"] = m.my_message_nr
    if conv.dialog_with is not None:
        # A 1:1 conversation is named after the other party until it gets a topic.
        rec["default_topic"] = conv.dialog_topic(m.account_id)
    elif not conv.topic and conv.members == [m.account_id]:
        # An untitled conversation of one is named so by the server (Fleep's tests).
        rec["default_topic"] = MONOLOGUE_TOPIC
    # ``labels`` names the labels someone set on the conversation (starred, Spam, user
    # labels); the ones the server sets itself (team labels, "1:1 Conversations") are in
    # ``label_ids`` only (Fleep's system_labels and team specs).
    names = [
        labels[i].label
        for i in m.label_ids
        if i in labels and labels[i].mk_label_subtype not in AUTOMATIC_LABEL_SUBTYPES
    ]
    if names:
        rec["labels"] = names
    if not m.active:
        # An ex-member sees none of the conversation's teams, nor their labels; one who was
        # removed gets a header to replace, not merge (Fleep's tests: ``is_reset``).
        rec["teams"] = []
        rec["label_ids"] = [
            i for i in m.label_ids if i not in labels or labels[i].mk_label_subtype != "team_label"
        ]
        if m.was_removed:
            rec["is_reset"] = True
    if m.hide_message_nr is not None:
        rec["hide_message_nr"] = m.hide_message_nr
    if m.is_deleted:
        rec["is_deleted"] = True
    if conv.is_autojoin:
        rec["is_autojoin"] = True
    if conv.is_disclose:
        rec["is_disclose"] = True
    if conv.is_url_preview_disabled:
        rec["is_url_preview_disabled"] = True
    if conv.has_done_notifications is not None:
        rec["has_done_notifications"] = conv.has_done_notifications
    return rec


def _inbox_position(conv: Conversation, read_nr: int) -> int:
    """The member's first unread alerting message, or the last one when all are read."""
    i = bisect.bisect_right(conv.inbox_nrs, read_nr)
    if i < len(conv.inbox_nrs):
        return conv.inbox_nrs[i]
    return conv.inbox_nrs[-1] if conv.inbox_nrs else conv.inbox_message_nr


def conv_partial(full: Record, keys: tuple[str, ...] = PARTIAL_KEYS) -> Record:
    """Only the counters a message change touches (clients must merge, not replace)."""
    return {key: full[key] for key in keys if key in full}


def conv_for_actor(header: Record) -> Record:
    """The poll's header for the actor of a change: full headers shrink to ``ACTOR_KEYS``.

    A header to replace (``is_reset``, its reader was removed) and one that is already partial
    stay as they are.
    """
    if header.get("mk_rec_type") != "conv" or "mk_init_mode" not in header:
        return header
    if header.get("is_reset"):
        return header
    return conv_partial(header, ACTOR_KEYS)


def conv_left(full: Record) -> Record:
    """The header a member gets back after leaving (or being removed)."""
    return {key: value for key, value in full.items() if key not in LEFT_DROPS}


def conv_tiny_full(full: Record) -> Record:
    """Every field of the full header, flagged tiny but still ``is_full`` (``mark_read``, label
    syncs: the newest read and label specs)."""
    rec = dict(full)
    # Only the last message comes along, so the backward position is the forward one.
    rec.update(is_tiny=True, mk_init_mode="ic_tiny", bw_message_nr=rec["show_message_nr"])
    return rec


def conv_tiny(full: Record) -> Record:
    """The minimal header used for long conversation lists."""
    rec = {key: full[key] for key in TINY_KEYS}
    rec.update(is_tiny=True, is_full=False, mk_init_mode="ic_tiny")
    return rec


def message(conv: Conversation, msg: Message, viewer: str) -> Record:
    """A MessageInfo as seen by ``viewer``."""
    rec: Record = {
        "mk_rec_type": "message",
        "conversation_id": conv.conversation_id,
        "message_nr": msg.message_nr,
        "prev_message_nr": msg.prev_message_nr,
        "inbox_nr": msg.inbox_nr,
        "account_id": msg.account_id,
        "profile_id": viewer,
        "posted_time": msg.posted_time,
        "mk_message_type": msg.mk_message_type,
        "mk_message_state": STATE_URN + msg.state,
        "message": msg.body,
        "tags": list(msg.tags),
        "lock_account_id": None,
    }
    optional: dict[str, Any] = {
        "flow_message_nr": msg.flow_message_nr,
        "ref_message_nr": msg.ref_message_nr,
        "edit_account_id": msg.edit_account_id,
        "edited_time": msg.edited_time,
        "hook_key": msg.hook_key,
        "sender_name": msg.sender_name,
        "subject": msg.subject,
        "pin_weight": msg.pin_weight,
        "task_weight": msg.task_weight,
        # A task names its board section (MessageInfo's "task section id"; Fleep's server tests
        # send it back to reposition the task).
        "section_id": msg.section_id if msg.state in ("todo", "done") else None,
        "is_new_sheet": msg.is_new_sheet,
        "assignee_ids": msg.assignee_ids,
        "is_url_preview_disabled": msg.is_url_preview_disabled,
        "mk_msg_sub_type": msg.mk_msg_sub_type,
    }
    rec.update({key: value for key, value in optional.items() if value is not None})
    place = msg.my_task_places.get(viewer)
    if place is not None and msg.state in ("todo", "done") and viewer in (msg.assignee_ids or ()):
        # A task on the viewer's own board says where (the newest of Fleep's specs: in the
        # poll of an assignee and in the board's sync answer).
        rec["assigned_to_me_state"] = task_state(place)
    if msg.is_deleted:
        # A deleted message keeps who deleted it and when, not its flow position.
        rec.pop("flow_message_nr", None)
    return rec


def system_body(**fields: Any) -> str:
    """System message bodies travel as JSON *strings*."""
    return json.dumps(fields, sort_keys=True)


def compact_body(**fields: Any) -> str:
    """The newer system messages' bodies: compact JSON in the server's key order.

    Fleep's server tests compare the task-notification messages as these exact strings.
    """
    return json.dumps(fields, separators=(",", ":"))


SECTION_TYPE_URN: Final = "urn:fleep:section:mk_section_type:"
SECTION_SUBTYPE_URN: Final = "urn:fleep:section:mk_section_subtype:"


def section(sec: Section) -> Record:
    """A SectionInfo: a section of a conversation's taskboard or of a "my tasks" board.

    A personal section's ``conversation_id`` is its board's id, which names no conversation
    (*inferred*: see :func:`~fleep_async.testing._world.world.my_board_id`). A
    conversation board's own "To Do" and "Archived" carry ``sync_cursor`` and ``sync_state``
    (both ``null``); a user section does not (Fleep's server tests show both shapes).
    """
    record: Record = {
        "mk_rec_type": "section",
        "conversation_id": sec.conversation_id,
        "section_id": sec.section_id,
        "name": sec.name,
        "mk_section_type": SECTION_TYPE_URN + sec.kind,
        "mk_section_subtype": SECTION_SUBTYPE_URN + sec.subtype,
        "weight": sec.weight,
        "is_deleted": sec.is_deleted,
    }
    if sec.kind == "task" and sec.subtype != "user":
        record.update(sync_cursor=None, sync_state=None)
    return record


def task_state(place: MyTask) -> Record:
    """A message's place on its viewer's "my tasks" board (Fleep's server tests' fields)."""
    return {
        "mk_section_type": SECTION_TYPE_URN + "my_task",
        "section_id": place.section_id,
        "task_weight": place.task_weight,
    }


def preview(conv: Conversation, msg: Message, url: str) -> Record:
    """A PreviewInfo for one URL of a message (its fetched title etc. are not modelled)."""
    return {
        "mk_rec_type": "preview",
        "conversation_id": conv.conversation_id,
        "message_nr": msg.message_nr,
        "attached_url": url,
    }


def file(att: Attachment, stored: StoredFile) -> Record:
    """A FileInfo for one attachment."""
    rec: Record = {
        "mk_rec_type": "file",
        "conversation_id": att.conversation_id,
        "message_nr": att.message_nr,
        "account_id": att.account_id,
        "attachment_id": att.attachment_id,
        "file_name": att.file_name,
        "file_size": len(stored.data),
        "file_type": att.file_type,
        "file_sha256": stored.file_sha256,
        "file_url": att.file_url,
        "width": stored.width,
        "height": stored.height,
        "orientation": stored.orientation,
        "is_animated": stored.is_animated,
        "is_deleted": att.is_deleted,
        "is_hidden": False,
        "deleter_id": att.deleter_id,
        "sender_name": att.sender_name,
        "posted_time": att.posted_time,
    }
    # The real server previews images and PDFs (a thumbnail of the first page).
    if stored.width is not None or stored.file_type == "application/pdf":
        base = f"/thumb/{att.url_key}/01/{att.attachment_id}"
        rec["thumb_url_50"] = f"{base}/thumb50"
        rec["thumb_url_100"] = f"{base}/thumb100"
        if stored.height is not None and stored.height > 575:
            # A 575-pixel preview for tall images (*inferred* from the specs' three images:
            # 566x800 has one, 680x573 and 400x400 do not).
            rec["thumb_url_575"] = f"{base}/thumb575"
    return rec


def avatar_urls(account: AccountState) -> str | None:
    """The contact ``avatar_urls`` JSON string, or None without an avatar."""
    if account.avatar_file_id is None:
        return None
    base = f"/avatar/{account.account_id}/{account.avatar_file_id}"
    return json.dumps({"size_50": f"{base}/thumb50.png", "size_100": f"{base}/thumb100.png"})


def public_contact(account: AccountState) -> Record:
    """What anyone may see of an account found by its Fleep address: no email, no activity.

    The shape ``account/lookup`` answers in Fleep's account_configure spec when a stranger looks
    a new user up by ``<fleep address>@fleep.io``.
    """
    return {
        "mk_rec_type": "contact",
        "account_id": account.account_id,
        "display_name": account.display_name,
        "fleep_address": account.fleep_address,
        "avatar_urls": avatar_urls(account),
        "is_in_org": False,  # organisations are not modelled
        "mk_account_status": account.mk_account_status,
    }


def own_contact(account: AccountState, alias_ids: list[str]) -> Record:
    """The owner's own ContactInfo (the login ``profiles[0]`` shape)."""
    rec: Record = {
        "mk_rec_type": "contact",
        "account_id": account.account_id,
        "email": account.email,
        "display_name": account.display_name,
        "fleep_address": account.fleep_address,
        "fleep_autogen": account.fleep_autogen or account.fleep_address,
        "mk_account_status": account.mk_account_status,
        "client_flags": list(account.client_flags),
        "connected_email": "",
        "dialog_id": None,
        "export_files": [],
        "export_progress": account.export_progress,
        "has_password": account.password is not None,
        "is_automute_enabled": account.is_automute_enabled,
        "is_hidden_for_add": True,
        "is_premium": False,
        "mk_email_interval": account.mk_email_interval,
        "organisation_id": None,
        "activated_time": account.activated_time,
        "trial_end_time": account.created_time + 30 * 86400,
        # Fleep's account_configure and alias specs: the own record always counts the storage.
        "storage_used_bytes": account.storage_used_bytes,
    }
    # Settings the account never changed are not in the record (Fleep's server tests).
    if account.is_full_privacy is not None:
        rec["is_full_privacy"] = account.is_full_privacy
    if account.is_newsletter_disabled is not None:
        rec["is_newsletter_disabled"] = account.is_newsletter_disabled
    if account.phone_nr is not None:
        rec["phone_nr"] = account.phone_nr
    if account.client_settings is not None:
        rec["client_settings"] = account.client_settings
    avatars = avatar_urls(account)
    if avatars is not None:
        rec["avatar_urls"] = avatars
    if alias_ids:
        rec["alias_account_ids"] = alias_ids
    return rec


def storage(account: AccountState) -> Record:
    """The storage fields ``contact/sync`` adds to the own contact."""
    return {
        "sleep_interval": 1,
        "storage_quota_bytes": STORAGE_QUOTA,
        "storage_used_bytes": account.storage_used_bytes,
    }


def contact(account: AccountState, viewer: AccountState, *, dialog_id: str | None = None) -> Record:
    """Another account's ContactInfo as ``viewer`` sees it (``dialog_id``: their 1:1 chat)."""
    rank = viewer.contact_ranks.get(account.account_id, DEFAULT_SORT_RANK)
    if account.mk_account_status == "new":
        rec: Record = {
            "mk_rec_type": "contact",
            "account_id": account.account_id,
            "display_name": account.email,
            "email": account.email,
            "dialog_id": None,
            "is_hidden_for_add": True,
            "mk_account_status": "new",
            "organisation_id": None,
            "sort_rank": rank,
        }
    else:
        rec = {
            "mk_rec_type": "contact",
            "account_id": account.account_id,
            "display_name": account.display_name,
            "email": account.email,
            "fleep_address": account.fleep_address,
            "dialog_id": dialog_id,
            "activity_time": account.activity_time,
            "is_hidden_for_add": account.account_id in viewer.hidden_contacts,
            "mk_account_status": account.mk_account_status,
            "organisation_id": None,
            "sort_rank": rank,
        }
        avatars = avatar_urls(account)
        if avatars is not None:
            rec["avatar_urls"] = avatars
    name, phone = viewer.contact_notes.get(account.account_id, (None, None))
    if name is not None:
        # The describer sees the contact under the name it gave, in ``display_name`` alone
        # (the newest contacts spec has no ``contact_name`` in the record).
        rec["display_name"] = name
    phone = phone if phone is not None else account.phone_nr
    if phone is not None:
        rec["phone_nr"] = phone
    return rec


def label(lab: Label, *, sync: bool = False) -> Record:
    """A LabelInfo; ``sync`` adds the cursor fields ``label/sync_conversations`` answers with.

    A removed label has no name any more.
    """
    rec: Record = {
        "mk_rec_type": "label",
        "label_id": lab.label_id,
        "label": lab.label,
        "index": lab.index,
        "mk_label_type": lab.mk_label_type,
        "mk_label_subtype": lab.mk_label_subtype,
        "mk_label_status": lab.mk_label_status,
        "is_on_left_pane": lab.is_on_left_pane,
        "is_in_muted": lab.is_in_muted,
        "is_in_recent": lab.is_in_recent,
    }
    if lab.team_id is not None:
        rec["team_id"] = lab.team_id
    if lab.mk_label_status == "removed":
        del rec["label"]
    if sync:
        rec.update(sync_cursor="{}", sync_inbox_time=0)
    return rec


def team(t: Team, *, base_url: str) -> Record:
    """A TeamInfo."""
    return {
        "mk_rec_type": "team",
        "team_id": t.team_id,
        "team_name": t.team_name,
        "members": list(t.members),
        "admins": list(t.admins),
        "autojoin_url": f"{base_url}/team/{t.autojoin_key}",
        "is_autojoin": t.is_autojoin,
        "is_deleted": t.is_deleted,
        "is_managed": t.is_managed,
        "is_org_wide": False,
        "is_tiny": False,
        "mk_sync_mode": "tsm_full",
        "organisation_id": None,
        "team_version_nr": t.team_version_nr,
    }


def hook(h: Hook, viewer: str, *, base_url: str) -> Record:
    """A HookInfo; ``hook_url`` only for the hook's owner."""
    avatars = {
        "size_50": f"/avatar/hook/{h.hook_id}/thumb50.png",
        "size_100": f"/avatar/hook/{h.hook_id}/thumb100.png",
    }
    rec: Record = {
        "mk_rec_type": "hook",
        "conversation_id": h.conversation_id,
        "account_id": h.account_id,
        "hook_id": h.hook_id,
        "hook_key": h.hook_key,
        "hook_name": h.hook_name,
        "is_active": h.is_active,
        "mk_hook_type": h.mk_hook_type,
        "avatar_urls": json.dumps(avatars, separators=(",", ":")),
    }
    if viewer == h.account_id:
        rec["hook_url"] = f"{base_url}/hook/{h.url_id}"
        rec["outgoing_url"] = h.outgoing_url
        rec["outgoing_disabled"] = h.outgoing_disabled
        rec["outgoing_disable_reason"] = None
    return rec


def activity(
    conversation_id: str,
    account_id: str,
    activity_time: int,
    **fields: Any,
) -> Record:
    """An ActivityInfo (writing status / read horizon of another member)."""
    rec: Record = {
        "mk_rec_type": "activity",
        "conversation_id": conversation_id,
        "account_id": account_id,
    }
    rec.update({key: value for key, value in fields.items() if value is not None})
    rec["activity_time"] = activity_time
    return rec


def smtp(s: Smtp) -> Record:
    """An SMTPInfo (the password is never echoed)."""
    return {
        "mk_rec_type": "smtp",
        "smtp_id": s.smtp_id,
        "smtp_address": s.smtp_address,
        "smtp_username": s.smtp_username,
        "smtp_host": s.smtp_host,
        "smtp_port": s.smtp_port,
        "smtp_connection": s.smtp_connection,
        "mk_smtp_status": s.mk_smtp_status,
        "smtp_status_description": "",
    }

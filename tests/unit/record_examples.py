"""Real stream records, as the wire carries them (shapes: docs/fakefleep.md, "Records").

Placeholders of the sources (``"<account:Alice>"``, ``"…"``) are replaced by realistic values;
field sets, value types and nulls are as observed. System message bodies are JSON **strings**,
as on the wire. The ``webhook_*`` records come from outgoing-webhook payloads, which carry every
field, nulls included. The few types without any observed example (``billing``, ``mail``,
``smtp``, ``transaction``, ``external_account``, ``lock``) use the documented field lists.
"""

from __future__ import annotations

import json
from typing import Any, Final

ME: Final = "3c2c8dee-02c6-4280-9306-d76a932cd79e"
BOB: Final = "5b9b2a0e-6a4c-4b8e-9f0a-1d2e3f405162"
MEG: Final = "8d1e6f5a-2b3c-4d5e-8f90-a1b2c3d4e5f6"
CONV: Final = "0f0e1d2c-3b4a-4958-8776-a5b4c3d2e1f0"
CONV2: Final = "6a7b8c9d-0e1f-4a2b-9c3d-4e5f60718293"
ORG: Final = "9e8d7c6b-5a49-4837-a625-1403f2e1d0c9"
TEAM: Final = "2468ace0-1357-49bd-8f02-4681357924ab"
LABEL: Final = "13579bdf-0246-48ac-9e13-579bdf024680"
HOOK_KEY: Final = "Z0Ph_W2LTVa8sgicQ5Gruw"
HOOK_URL: Final = "https://fleep.io/hook/" + HOOK_KEY
T: Final = 1500000000
PLAIN: Final = "urn:fleep:message:mk_message_state:plain"
SYSTEM: Final = "urn:fleep:message:mk_message_state:system"
DELETED: Final = "urn:fleep:message:mk_message_state:deleted"
UNPINNED: Final = "urn:fleep:message:mk_message_state:unpinned"
ZERO: Final = "00000000-0000-0000-0000-000000000000"


def _body(obj: dict[str, Any]) -> str:
    return json.dumps(obj)


# --- conv ----------------------------------------------------------------------------------

CONV_FULL: Final[dict[str, Any]] = {
    "mk_rec_type": "conv",
    "conversation_id": CONV,
    "profile_id": ME,
    "topic": "test",
    "topic_message_nr": 1,
    "creator_id": ME,
    "members": [ME],
    "leavers": [],
    "admins": [],
    "guests": [],
    "default_members": [],
    "passive": [],
    "pending": [],
    "teams": [],
    "label_ids": [],
    "autojoin_url": "https://fleep.io/chat/P6lD79k_TMSYwg8AAbX6Tg",
    "cmail": "conv.p6ld79ktmsywg8aabx6tg@fleep.io",
    "begin_message_nr": 1,
    "bw_message_nr": 1,
    "fw_message_nr": 1,
    "join_message_nr": 1,
    "last_message_nr": 1,
    "read_message_nr": 1,
    "send_message_nr": 1,
    "show_message_nr": 1,
    "inbox_message_nr": 1,
    "last_inbox_nr": 0,
    "read_inbox_nr": 0,
    "unread_count": 0,
    "inbox_time": T,
    "last_message_time": T,
    "can_post": True,
    "is_init": True,
    "is_full": True,
    "is_tiny": False,
    "mk_init_mode": "ic_full",
    "mk_alert_level": "default",
    "mk_conv_type": "cct_default",
    "organisation_id": None,
    "export_files": [],
    "export_progress": "1",
    "has_done_notifications": False,
    "has_email_subject": False,
    "has_pinboard": False,
    "has_task_archive": False,
    "has_taskboard": False,
    "is_automute": False,
    "is_list": False,
    "is_managed": False,
    "is_mark_unread": False,
    "is_muted": False,
    "is_premium": False,
    "pin_cursor": None,
    "pin_sync_state": None,
    "snooze_interval": 0,
    "snooze_time": 0,
}

# In the message/send response after the 2nd message; the poll conv looks the same.
CONV_PARTIAL: Final[dict[str, Any]] = {
    "mk_rec_type": "conv",
    "conversation_id": CONV,
    "profile_id": ME,
    "export_files": [],
    "export_progress": "1",
    "has_done_notifications": False,
    "has_pinboard": False,
    "has_task_archive": False,
    "has_taskboard": False,
    "passive": [],
    "pending": [],
    "inbox_message_nr": 2,
    "inbox_time": T + 60,
    "is_automute": False,
    "is_list": False,
    "is_mark_unread": False,
    "join_message_nr": 1,
    "label_ids": [],
    "last_inbox_nr": 1,
    "last_message_nr": 2,
    "last_message_time": T + 60,
    "mk_alert_level": "default",
    "read_message_nr": 2,
    "send_message_nr": 1,
    "show_message_nr": 2,
    "snooze_interval": 0,
    "snooze_time": 0,
    "teams": [],
    "unread_count": 0,
    "is_muted": False,
    "read_inbox_nr": 1,
}

# The sender's header after its 3rd message (read.spec.js alice_first_header).
CONV_SMALLEST: Final[dict[str, Any]] = {
    "mk_rec_type": "conv",
    "conversation_id": CONV,
    "inbox_message_nr": 4,
    "is_mark_unread": False,
    "join_message_nr": 1,
    "last_inbox_nr": 3,
    "last_message_nr": 4,
    "mk_alert_level": "default",
    "read_message_nr": 4,
    "send_message_nr": 1,
    "show_message_nr": 4,
    "snooze_interval": 0,
    "snooze_time": 0,
    "unread_count": 0,
}

# label/sync_conversations: tiny headers with labels and label_ids.
CONV_TINY: Final[dict[str, Any]] = {
    "mk_rec_type": "conv",
    "conversation_id": CONV2,
    "topic": "frontend work",
    "is_tiny": True,
    "mk_init_mode": "ic_tiny",
    "labels": ["frontend"],
    "label_ids": [LABEL],
    "last_message_nr": 7,
    "read_message_nr": 7,
    "unread_count": 0,
}

WEBHOOK_CONV: Final[dict[str, Any]] = {
    "snooze_time": 0,
    "is_disclose": None,
    "members": None,
    "mk_rec_type": "conv",
    "read_message_nr": 59,
    "mk_alert_level": "default",
    "profile_id": ZERO,
    "default_members": None,
    "snooze_interval": 0,
    "topic": "",
    "has_email_subject": False,
    "export_progress": "1",
    "guests": None,
    "autojoin_url": None,
    "topic_message_nr": 1,
    "last_message_time": None,
    "cmail": None,
    "delete_message_nr": None,
    "unread_count": 0,
    "disclose_message_nr": None,
    "can_post": True,
    "is_list": False,
    "admins": [],
    "inbox_time": None,
    "passive": [],
    "send_message_nr": 1,
    "join_message_nr": 1,
    "begin_message_nr": 1,
    "pending": [],
    "has_taskboard": False,
    "labels": None,
    "read_inbox_nr": 55,
    "is_init": None,
    "is_muted": False,
    "export_files": [],
    "has_done_notifications": True,
    "last_message_nr": 59,
    "label_ids": [],
    "my_message_nr": None,
    "is_automute": False,
    "show_message_nr": 59,
    "has_pinboard": False,
    "no_notifications": None,
    "is_autojoin": None,
    "is_admin_write_only": None,
    "is_mark_unread": False,
    "organisation_id": None,
    "is_deleted": None,
    "last_inbox_nr": 55,
    "conversation_id": ZERO,
    "hide_message_nr": None,
    "teams": [],
    "mk_conv_type": "cct_no_mail",
    "assignees": None,
    "creator_id": ZERO,
    "leavers": None,
    "is_url_preview_disabled": None,
    "inbox_message_nr": None,
    "is_managed": False,
    "default_call_room": None,
    "has_task_archive": False,
}

# --- message -------------------------------------------------------------------------------

MESSAGE_TEXT: Final[dict[str, Any]] = {
    "mk_rec_type": "message",
    "conversation_id": CONV,
    "message_nr": 2,
    "prev_message_nr": 1,
    "inbox_nr": 1,
    "account_id": ME,
    "profile_id": ME,
    "posted_time": T,
    "mk_message_type": "text",
    "mk_message_state": PLAIN,
    "message": "<msg><p>msgSend1</p></msg>",
    "tags": [],
    "lock_account_id": None,
}

MESSAGE_EDITED_UNPINNED: Final[dict[str, Any]] = {
    "mk_rec_type": "message",
    "conversation_id": CONV,
    "message_nr": 2,
    "flow_message_nr": 4,
    "ref_message_nr": 2,
    "prev_message_nr": 1,
    "inbox_nr": 1,
    "account_id": ME,
    "edit_account_id": ME,
    "edited_time": T + 100,
    "posted_time": T,
    "profile_id": ME,
    "lock_account_id": None,
    "message": "<msg><p>unpinMsg</p></msg>",
    "mk_message_type": "text",
    "mk_message_state": UNPINNED,
    "tags": ["is_archived", "is_shared", "unpin"],
}

MESSAGE_DELETED: Final[dict[str, Any]] = {
    "mk_rec_type": "message",
    "conversation_id": CONV,
    "message_nr": 3,
    "flow_message_nr": 5,
    "prev_message_nr": 2,
    "inbox_nr": 2,
    "account_id": BOB,
    "edit_account_id": BOB,
    "edited_time": T + 200,
    "posted_time": T + 50,
    "profile_id": MEG,
    "lock_account_id": None,
    "message": "",
    "mk_message_type": "text",
    "mk_message_state": DELETED,
    "tags": [],
}

MESSAGE_HOOK: Final[dict[str, Any]] = {
    **MESSAGE_TEXT,
    "message_nr": 3,
    "prev_message_nr": 2,
    "inbox_nr": 2,
    "message": "<msg><p>Testing hook with<br/>Python</p></msg>",
    "hook_key": HOOK_KEY,
    "is_new_sheet": False,
}

MESSAGE_IMPORT_HOOK: Final[dict[str, Any]] = {
    **MESSAGE_HOOK,
    "message_nr": 4,
    "message": "<msg><p>imported</p></msg>",
    "sender_name": "Importer",
    "posted_time": T - 86400,
}

MESSAGE_SYSTEM_CREATE: Final[dict[str, Any]] = {
    "mk_rec_type": "message",
    "message_nr": 1,
    "prev_message_nr": 0,
    "inbox_nr": 0,
    "mk_message_type": "create",
    "mk_message_state": SYSTEM,
    "message": '{"members": [], "org_name": null, "organisation_id": null, '
    '"topic": "customLabels"}',
    "account_id": ME,
    "conversation_id": CONV,
    "profile_id": ME,
    "posted_time": T,
    "tags": [],
    "lock_account_id": None,
}

MESSAGE_SYSTEM_ADD: Final[dict[str, Any]] = {
    **MESSAGE_SYSTEM_CREATE,
    "message_nr": 5,
    "mk_message_type": "add",
    "message": _body({"members": [BOB, MEG]}),
}

MESSAGE_SYSTEM_TOPIC: Final[dict[str, Any]] = {
    **MESSAGE_SYSTEM_CREATE,
    "message_nr": 6,
    "mk_message_type": "topic",
    "message": _body({"topic": "Release planning"}),
}

MESSAGE_SYSTEM_HOOK: Final[dict[str, Any]] = {
    **MESSAGE_SYSTEM_CREATE,
    "message_nr": 7,
    "mk_message_type": "hook",
    "message": _body({"hook_name": "plainHook", "hook_key": HOOK_KEY}),
}

MESSAGE_SYSTEM_SHARE: Final[dict[str, Any]] = {
    **MESSAGE_SYSTEM_CREATE,
    "message_nr": 8,
    "mk_message_type": "share",
    "message": _body({"sysmsg_text": "enabled the join link"}),
}

# Fleep's history export and some hook handlers: the body is JSON around the XML.
MESSAGE_TEXT_V2: Final[dict[str, Any]] = {
    **MESSAGE_TEXT,
    "message_nr": 9,
    "mk_message_type": "textV2",
    "message": _body(
        {
            "message": '<msg><p>wrapped <b flp="*" fls="*">text</b></p>'
            '<file key="I4dpFlmQSXq1stnB1kvi3w">avatar1.jpg</file></msg>',
            "attachments": [],
        }
    ),
}

_WEBHOOK_MESSAGE_NULLS: Final[dict[str, Any]] = {
    "notification_id": None,
    "reactions": None,
    "is_assigned": None,
    "attachments": [],
    "edit_account_id": None,
    "sender_name": None,
    "revision_message_nr": None,
    "is_archived": None,
    "is_new_sheet": None,
    "file_ids": None,
    "is_email_locked_for_edit": None,
    "pin_weight": None,
    "subject": None,
    "is_edited_by_others": None,
    "search_weight": None,
    "reply_to_message_nr": None,
    "task_weight": None,
    "on_behalf_id": None,
    "pinned_account_id": None,
    "lock_account_id": None,
    "section_id": None,
    "assigner_id": None,
    "store_time": None,
    "edited_time": None,
    "is_spam": None,
    "flow_message_nr": None,
    "mail_hdrs": None,
    "mention_ids": None,
    "mk_msg_sub_type": None,
    "tasked_account_id": None,
    "subject_hash": None,
    "is_edit": False,
    "assignee_ids": None,
    "hook_key": None,
    "is_url_preview_disabled": None,
    "raw_id": None,
    "ref_message_nr": None,
}

WEBHOOK_MESSAGE: Final[dict[str, Any]] = {
    **_WEBHOOK_MESSAGE_NULLS,
    "mk_rec_type": "message",
    "inbox_nr": 55,
    "message": "<msg><p>simple message</p></msg>",
    "mk_message_state": PLAIN,
    "message_id": ZERO,
    "profile_id": ZERO,
    "account_id": ZERO,
    "tags": [],
    "mk_message_type": "text",
    "posted_time": 1534598339,
    "conversation_id": ZERO,
    "message_nr": 59,
    "prev_message_nr": 58,
}

WEBHOOK_MESSAGE_EMAIL: Final[dict[str, Any]] = {
    **WEBHOOK_MESSAGE,
    "message_nr": 72,
    "prev_message_nr": 71,
    "inbox_nr": 67,
    "sender_name": "Helmo",
    "subject": "test",
    "message": "<msg><p>message via email</p><p><q>-- <br/>Helmo</q></p></msg>",
    "mk_message_type": "email",
    "tags": ["add_guests"],
    "mail_hdrs": [
        {"prefix": "From", "addresses": [{"addr": "support@fleep.io"}]},
        {"prefix": "To", "addresses": [{"addr": "conv.xxxxxxxxxxxxxx@fleep.io"}]},
    ],
}

WEBHOOK_MESSAGE_LINK: Final[dict[str, Any]] = {
    **WEBHOOK_MESSAGE,
    "message_nr": 74,
    "prev_message_nr": 73,
    "inbox_nr": 69,
    "message": '<msg><p>message with url <a flp="https://google.com&lt;&lt;" fls="&gt;&gt;" '
    'href="https://www.google.com">google.com</a></p></msg>',
}

WEBHOOK_MESSAGE_HOOK: Final[dict[str, Any]] = {
    **WEBHOOK_MESSAGE,
    "message_nr": 71,
    "prev_message_nr": 70,
    "inbox_nr": 66,
    "is_new_sheet": False,
    "hook_key": "00000000",
    "message": "<msg><p>message via hook</p></msg>",
}


def _webhook_file(name: str, size: int, width: int, height: int) -> dict[str, Any]:
    key = "0000000000000000000000"
    return {
        "thumb_url_700": f"/thumb/{key}/00/{key}/thumb700",
        "attachment_id": key,
        "orientation": None,
        "file_type": "image/png",
        "file_name": name,
        "height": height,
        "sender_name": None,
        "file_size": size,
        "is_hidden": False,
        "thumb_url_575": f"/thumb/{key}/00/{key}/thumb575",
        "width": width,
        "thumb_url_100": f"/thumb/{key}/00/{key}/thumb100",
        "message_id": ZERO,
        "file_sha256": "xxx",
        "mk_rec_type": "file",
        "account_id": ZERO,
        "deleter_id": "",
        "posted_time": 1534849487,
        "conversation_id": ZERO,
        "message_nr": 73,
        "is_deleted": False,
        "file_url": f"/file/{key}/00/{key}/{name.replace(' ', '%20')}",
        "thumb_url_50": f"/thumb/{key}/00/{key}/thumb50",
        "is_animated": False,
    }


WEBHOOK_MESSAGE_FILES: Final[dict[str, Any]] = {
    **WEBHOOK_MESSAGE,
    "message_nr": 73,
    "prev_message_nr": 72,
    "inbox_nr": 68,
    "posted_time": 1534849487,
    "attachments": [
        _webhook_file("Screen Shot 2018-08-03 at 17.17.40.png", 1131939, 3492, 2114),
        _webhook_file("Screen Shot 2018-08-03 at 17.17.26.png", 599415, 3492, 2114),
        _webhook_file("Screen Shot 2018-08-03 at 17.15.13.png", 72113, 2376, 582),
    ],
    "message": '<msg><p>message with files</p><file key="0000000000000000000000">'
    "Screen Shot 2018-08-03 at 17.17.40.png</file>"
    '<file key="0000000000000000000000">Screen Shot 2018-08-03 at 17.17.26.png</file>'
    '<file key="0000000000000000000000">Screen Shot 2018-08-03 at 17.15.13.png</file></msg>',
}

# --- contact -------------------------------------------------------------------------------

CONTACT_OTHER: Final[dict[str, Any]] = {
    "mk_rec_type": "contact",
    "account_id": BOB,
    "display_name": "Fleep Support",
    "email": "support@fleep.io",
    "fleep_address": "support",
    "dialog_id": CONV2,
    "activity_time": T,
    "is_hidden_for_add": True,
    "mk_account_status": "active",
    "organisation_id": None,
    "sort_rank": 1,
}

CONTACT_EMAIL_ONLY: Final[dict[str, Any]] = {
    "mk_rec_type": "contact",
    "account_id": MEG,
    "display_name": "meg@example.com",
    "email": "meg@example.com",
    "is_hidden_for_add": True,
    "mk_account_status": "new",
}

# The own contact: profiles[0] of the login response.
CONTACT_OWN: Final[dict[str, Any]] = {
    "mk_rec_type": "contact",
    "account_id": ME,
    "email": "bob@example.com",
    "display_name": "Bob Marley",
    "fleep_address": "bob.marley",
    "fleep_autogen": "bob.marley.x7",
    "mk_account_status": "active",
    "client_flags": ["emoticons_old", "send_email_on_enter", "show_onboarding"],
    "connected_email": "",
    "dialog_id": None,
    "export_files": [],
    "export_progress": "1",
    "has_password": True,
    "is_automute_enabled": True,
    "is_hidden_for_add": True,
    "is_premium": False,
    "mk_email_interval": "never",
    "organisation_id": None,
    "sleep_interval": 1,
    "storage_quota_bytes": 10737418240,
    "storage_used_bytes": 0,
    "activated_time": T,
    "trial_end_time": T,
}

WEBHOOK_CONTACT: Final[dict[str, Any]] = {
    "fleep_address": "helmo",
    "mk_rec_type": "contact",
    "display_name": "Helmo",
    "status_emoji": None,
    "organisation_id": ZERO,
    "mk_account_status": "active",
    "is_hidden_for_add": None,
    "phone_nr": None,
    "avatar_urls": None,
    "activity_time": 1534598029,
    "status_message": None,
    "email": "support@fleep.io",
    "account_id": ZERO,
}

WEBHOOK_CONTACT_NEW: Final[dict[str, Any]] = {
    **WEBHOOK_CONTACT,
    "fleep_address": None,
    "display_name": None,
    "organisation_id": None,
    "mk_account_status": "new",
    "is_hidden_for_add": False,
    "activity_time": None,
}

# --- the rest --------------------------------------------------------------------------------

ACTIVITY: Final[dict[str, Any]] = {
    "mk_rec_type": "activity",
    "account_id": BOB,
    "conversation_id": CONV,
    "is_writing": False,
    "join_message_nr": 1,
    "read_message_nr": 2,
    "activity_time": T,
}
ACTIVITY_MINIMAL: Final[dict[str, Any]] = {
    "mk_rec_type": "activity",
    "account_id": BOB,
    "conversation_id": CONV,
}

HOOK: Final[dict[str, Any]] = {
    "mk_rec_type": "hook",
    "conversation_id": CONV,
    "account_id": ME,
    "hook_id": "7c1e2d3f-4a5b-4c6d-8e7f-901a2b3c4d5e",
    "hook_key": HOOK_KEY,
    "hook_name": "plainHook",
    "hook_url": HOOK_URL,
    "is_active": True,
    "mk_hook_type": "plain",
    "avatar_urls": '{"size_50":"/avatar/hook/0000000000000000000000/thumb50.png",'
    '"size_100":"/avatar/hook/0000000000000000000000/thumb100.png"}',
    "outgoing_url": "",
    "outgoing_disabled": False,
    "outgoing_disable_reason": None,
}

WEBHOOK_HOOK: Final[dict[str, Any]] = {
    "outgoing_disabled": None,
    "mk_rec_type": "hook",
    "hook_url": None,
    "account_id": ZERO,
    "hook_name": "Generic Webhook",
    "outgoing_disable_reason": None,
    "is_active": True,
    "hook_key": "00000000",
    "outgoing_url": None,
    "conversation_id": ZERO,
    "avatar_urls": '{"size_50":"/avatar/hook/0000000000000000000000/thumb50.png",'
    '"size_100":"/avatar/hook/0000000000000000000000/thumb100.png"}',
    "hook_id": None,
    "mk_hook_type": "plain",
}

FILE_IMAGE: Final[dict[str, Any]] = {
    "mk_rec_type": "file",
    "conversation_id": CONV,
    "message_nr": 2,
    "account_id": ME,
    "attachment_id": "I4dpFlmQSXq1stnB1kvi3w",
    "file_name": "avatar1.jpg",
    "file_size": 24875,
    "file_type": "image/jpeg",
    "file_sha256": "3508c9011a8b93ef73df7be4aa2231d2a6e7f06a9a967e18a38263cde160b281",
    "file_url": "/file/P6lD79k_TMSYwg8AAbX6Tg/03/I4dpFlmQSXq1stnB1kvi3w/avatar1.jpg",
    "thumb_url_50": "/thumb/I4dpFlmQSXq1stnB1kvi3w/thumb50",
    "thumb_url_100": "/thumb/I4dpFlmQSXq1stnB1kvi3w/thumb100",
    "width": 400,
    "height": 400,
    "orientation": None,
    "is_animated": False,
    "is_deleted": False,
    "is_hidden": False,
    "deleter_id": "",
    "sender_name": None,
    "posted_time": T,
}

FILE_DOCUMENT: Final[dict[str, Any]] = {
    "mk_rec_type": "file",
    "conversation_id": CONV,
    "message_nr": 3,
    "account_id": ME,
    "attachment_id": "Xq1stnB1kvi3wI4dpFlmQS",
    "file_name": "example1.txt",
    "file_size": 31,
    "file_type": "application/octet-stream",
    "file_sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "file_url": "/file/P6lD79k_TMSYwg8AAbX6Tg/04/Xq1stnB1kvi3wI4dpFlmQS/example1.txt",
    "width": None,
    "height": None,
    "orientation": None,
    "is_animated": None,
    "is_deleted": False,
    "is_hidden": False,
    "deleter_id": "",
    "sender_name": None,
    "posted_time": T,
}

PREVIEW: Final[dict[str, Any]] = {
    "mk_rec_type": "preview",
    "conversation_id": CONV,
    "message_nr": 75,
    "attached_url": "https://www.hiig.de/en/",
    "title": "HIIG",
    "description": "Alexander von Humboldt Institute for Internet and Society",
    "attachment_id": "pV1ewq2sTmuLX0yb3QYxXg",
    "file_name": "preview575.png",
    "file_type": "image/png",
    "file_url": "/file/P6lD79k_TMSYwg8AAbX6Tg/75/pV1ewq2sTmuLX0yb3QYxXg/preview575.png",
    "thumb_url_50": "/thumb/pV1ewq2sTmuLX0yb3QYxXg/thumb50",
    "thumb_url_100": "/thumb/pV1ewq2sTmuLX0yb3QYxXg/thumb100",
    "width": 575,
    "height": 315,
    "orig_file_name": "og-image.png",
    "orig_file_size": 65032,
    "file_size": 47421,
    "account_id": ME,
    "is_deleted": False,
    "posted_time": 1540891516,
}

LABEL_USER: Final[dict[str, Any]] = {
    "mk_rec_type": "label",
    "label_id": LABEL,
    "label": "frontend",
    "index": 3,
    "mk_label_type": "user_label",
    "mk_label_subtype": "user",
    "mk_label_status": "active",
    "is_on_left_pane": True,
    "is_in_muted": True,
    "is_in_recent": True,
    "sync_cursor": "{}",
    "sync_inbox_time": 0,
}
LABEL_SYSTEM: Final[dict[str, Any]] = {
    **LABEL_USER,
    "label_id": "02468ace-1357-49bd-8f02-4681357924ac",
    "label": "starred",
    "index": 0,
    "mk_label_type": "system_label",
    "mk_label_subtype": "starred",
}
LABEL_REMOVED: Final[dict[str, Any]] = {
    "mk_rec_type": "label",
    "label_id": LABEL,
    "mk_label_status": "removed",
}

TEAM_RECORD: Final[dict[str, Any]] = {
    "mk_rec_type": "team",
    "team_id": TEAM,
    "team_name": "teamName",
    "members": [ME, BOB],
    "admins": [],
    "autojoin_url": "https://fleep.io/team/8d1e6f5a2b3c4d5e",
    "is_autojoin": False,
    "is_deleted": False,
    "is_managed": False,
    "is_org_wide": False,
    "is_tiny": False,
    "mk_sync_mode": "tsm_full",
    "organisation_id": None,
    "pending": [],
    "team_version_nr": 3,
}

ORG_HEADER: Final[dict[str, Any]] = {
    "mk_rec_type": "org_header",
    "organisation_id": ORG,
    "organisation_name": "Acme",
    "organisation_founder_id": ME,
    "is_admin": True,
    "is_member": True,
    "status": "bos_new",
    "version_nr": 4,
    "trial_time": T + 30 * 86400,
    "grace_time": T + 44 * 86400,
    "active_member_count": 2,
}
ORG_MEMBER: Final[dict[str, Any]] = {
    "mk_rec_type": "org_member",
    "organisation_id": ORG,
    "account_id": BOB,
    "inviter_id": ME,
    "is_admin": False,
    "mk_member_status": "bms_pending",
}
ORG_CHANGELOG: Final[dict[str, Any]] = {
    "mk_rec_type": "org_changelog",
    "organisation_id": ORG,
    "version_nr": 5,
    "event_type": "urn:fleep:org:changelog:member_invite",
    "event_time": T,
    "event_data": {"account_id": BOB},
    "account_id": ME,
}

REQUEST_POLL: Final[dict[str, Any]] = {
    "mk_rec_type": "request",
    "client_req_id": "8faf3a5a-2c1b-4a6f-9c0e-3d7b1f2a4e6c",
    "conversation_id": CONV,
    "result_message_nr": 2,
}
REQUEST_EVENT_OK: Final[dict[str, Any]] = {
    "mk_rec_type": "request",
    "client_req_id": "84d73134-ca41-4dda-b818-f724f42cd79e",
    "mk_event_type": "urn:fleep:client:message:add_plain",
    "status_code": 200,
    "identifier": {"conversation_id": CONV, "message_nr": 2},
}
REQUEST_EVENT_ERROR: Final[dict[str, Any]] = {
    "mk_rec_type": "request",
    "client_req_id": "0c5d1e2f-3a4b-4c5d-8e6f-7a8b9c0d1e2f",
    "mk_event_type": "urn:fleep:client:message:edit",
    "status_code": 430,
    "error_id": "not_found",
    "error_message": "Message not found.",
}

POKE: Final[dict[str, Any]] = {
    "mk_rec_type": "poke",
    "account_id": ME,
    "conversation_id": CONV,
    "message_nr": 123456,
}
LASTSEEN: Final[dict[str, Any]] = {"mk_rec_type": "lastseen", "account_id": BOB, "activity_time": T}
REMINDER: Final[dict[str, Any]] = {
    "mk_rec_type": "reminder",
    "reminder_id": "5f4e3d2c-1b0a-4998-8776-655443322110",
    "mk_reminder_type": "org_invite",
    "account_id": BOB,
    "creator_id": ME,
    "organisation_id": ORG,
    "is_active": True,
    "expire_time": T + 7 * 86400,
    "remind_time": T + 86400,
}
LOCK: Final[dict[str, Any]] = {
    "mk_rec_type": "lock",
    "conversation_id": CONV,
    "message_nr": 2,
    "lock_account_id": BOB,
}
SECTION: Final[dict[str, Any]] = {
    "mk_rec_type": "section",
    "conversation_id": CONV,
    "section_id": "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d",
    "name": "To Do",
    "mk_section_type": "urn:fleep:section:mk_section_type:task",
    "mk_section_subtype": "urn:fleep:section:mk_section_subtype:default",
    "weight": 1.0,
    "is_deleted": False,
    "sync_cursor": "{}",
    "sync_state": None,
}
UPLOAD: Final[dict[str, Any]] = {
    "mk_rec_type": "upload",
    "conversation_id": CONV,
    "name": "report.pdf",
    "status": "success",
    "error": "",
    "upload_url": "https://fleep.io/uploads/x7Yq/report.pdf",
    "file_sha256": "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae",
    "file_type": "application/pdf",
    "size": 1048576,
    "width": None,
    "height": None,
    "is_animated": None,
}

# Documented field lists only (ref-info.html copies): no raw example was ever published.
SMTP: Final[dict[str, Any]] = {
    "mk_rec_type": "smtp",
    "smtp_id": "b1c2d3e4-f5a6-4b7c-8d9e-0f1a2b3c4d5e",
    "smtp_address": "me@example.com",
    "smtp_username": "me",
    "smtp_host": "smtp.example.com",
    "smtp_port": 587,
    "smtp_connection": "starttls",
    "mk_smtp_status": "smtp_confirmed",
    "smtp_status_description": "",
}
MAIL: Final[dict[str, Any]] = {
    "mk_rec_type": "mail",
    "mail_id": "c1d2e3f4-a5b6-4c7d-8e9f-0a1b2c3d4e5f",
    "mail_address": "me@example.com",
    "smtp_username": "me",
    "smtp_host": "smtp.example.com",
    "smtp_port": 465,
    "mk_smtp_connection": "ssl",
    "smtp_err": None,
    "smtp_disable_tls_verify": False,
    "imap_username": "me",
    "imap_host": "imap.example.com",
    "imap_port": 993,
    "mk_imap_connection": "ssl",
    "imap_err": None,
    "imap_disable_tls_verify": False,
    "mk_mail_type": "mail",
    "mk_mail_status": "mail_confirmed",
}
BILLING: Final[dict[str, Any]] = {
    "mk_rec_type": "billing",
    "organisation_id": ORG,
    "country_code": "EE",
    "billing_details": "Acme OU, Tallinn",
    "billing_email": "billing@example.com",
    "vat_number": "EE100000000",
    "plan_id": "business-monthly",
    "account_quantity": 5,
    "payment_method_image_url": "https://example.com/visa.png",
    "payment_method_description": "Visa ending 4242",
    "payment_method_expiration_date": "12/2030",
    "subscription_status": "confirmed",
    "discount": 0.1,
    "next_billing_date": T + 30 * 86400,
}
TRANSACTION: Final[dict[str, Any]] = {
    "mk_rec_type": "transaction",
    "organisation_id": ORG,
    "transaction_id": "d1e2f3a4-b5c6-4d7e-8f9a-0b1c2d3e4f5a",
    "amount": 25.0,
    "transaction_time": T,
    "download_url": "/invoice/d1e2f3a4.pdf",
}
EXTERNAL_ACCOUNT: Final[dict[str, Any]] = {
    "mk_rec_type": "external_account",
    "external_account_id": "e1f2a3b4-c5d6-4e7f-8a9b-0c1d2e3f4a5b",
    "account_id": ME,
    "mk_external_account_type": "trello",
    "external_id": "5a1b2c3d4e5f",
    "email": "me@example.com",
}

#: Every example above by name: each must decode with the strict converter.
EXAMPLES: Final[dict[str, dict[str, Any]]] = {
    "conv_full": CONV_FULL,
    "conv_partial": CONV_PARTIAL,
    "conv_smallest": CONV_SMALLEST,
    "conv_tiny": CONV_TINY,
    "webhook_conv": WEBHOOK_CONV,
    "message_text": MESSAGE_TEXT,
    "message_edited_unpinned": MESSAGE_EDITED_UNPINNED,
    "message_deleted": MESSAGE_DELETED,
    "message_hook": MESSAGE_HOOK,
    "message_import_hook": MESSAGE_IMPORT_HOOK,
    "message_system_create": MESSAGE_SYSTEM_CREATE,
    "message_system_add": MESSAGE_SYSTEM_ADD,
    "message_system_topic": MESSAGE_SYSTEM_TOPIC,
    "message_system_hook": MESSAGE_SYSTEM_HOOK,
    "message_system_share": MESSAGE_SYSTEM_SHARE,
    "message_text_v2": MESSAGE_TEXT_V2,
    "webhook_message": WEBHOOK_MESSAGE,
    "webhook_message_email": WEBHOOK_MESSAGE_EMAIL,
    "webhook_message_link": WEBHOOK_MESSAGE_LINK,
    "webhook_message_hook": WEBHOOK_MESSAGE_HOOK,
    "webhook_message_files": WEBHOOK_MESSAGE_FILES,
    "contact_other": CONTACT_OTHER,
    "contact_email_only": CONTACT_EMAIL_ONLY,
    "contact_own": CONTACT_OWN,
    "webhook_contact": WEBHOOK_CONTACT,
    "webhook_contact_new": WEBHOOK_CONTACT_NEW,
    "activity": ACTIVITY,
    "activity_minimal": ACTIVITY_MINIMAL,
    "hook": HOOK,
    "webhook_hook": WEBHOOK_HOOK,
    "file_image": FILE_IMAGE,
    "file_document": FILE_DOCUMENT,
    "preview": PREVIEW,
    "label_user": LABEL_USER,
    "label_system": LABEL_SYSTEM,
    "label_removed": LABEL_REMOVED,
    "team": TEAM_RECORD,
    "org_header": ORG_HEADER,
    "org_member": ORG_MEMBER,
    "org_changelog": ORG_CHANGELOG,
    "request_poll": REQUEST_POLL,
    "request_event_ok": REQUEST_EVENT_OK,
    "request_event_error": REQUEST_EVENT_ERROR,
    "poke": POKE,
    "lastseen": LASTSEEN,
    "reminder": REMINDER,
    "lock": LOCK,
    "section": SECTION,
    "upload": UPLOAD,
    "smtp": SMTP,
    "mail": MAIL,
    "billing": BILLING,
    "transaction": TRANSACTION,
    "external_account": EXTERNAL_ACCOUNT,
}

#: account/login response: profiles holds the own ContactInfo.
LOGIN_RESPONSE: Final[dict[str, Any]] = {
    "account_id": ME,
    "display_name": "Bob Marley",
    "ticket": "d5a9c3c2fc696c4a4b55",
    "profiles": [CONTACT_OWN],
}

#: account/poll response, one record of each kind it shows.
POLL_RESPONSE: Final[dict[str, Any]] = {
    "event_horizon": 26,
    "limit_time": 0,
    "static_version": "static-20171201",
    "stream": [
        ORG_HEADER,
        CONTACT_OTHER,
        TEAM_RECORD,
        CONV_FULL,
        MESSAGE_TEXT,
        ACTIVITY_MINIMAL,
        POKE,
    ],
}

#: An outgoing-webhook payload.
WEBHOOK_PAYLOAD: Final[dict[str, Any]] = {
    "reply_url": "https://fleep.io/hook/0000000000000000000000",
    "messages": [WEBHOOK_MESSAGE_FILES],
    "conversations": [WEBHOOK_CONV],
    "contacts": [WEBHOOK_CONTACT],
    "hooks": [WEBHOOK_HOOK],
}

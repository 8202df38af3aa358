"""The client decodes the conversation and team answers of Fleep's real server (issue 12).

Our own samples of the shapes Fleep's black-box server tests assert (their field names and value
types, our values); each decodes with the client's result types under the strict converter.
"""

from __future__ import annotations

from typing import Any

from fleep_async.endpoints import REGISTRY
from fleep_async.models import ConversationRecord, MessageRecord, TeamRecord, UnknownRecord
from fleep_async.models.enums import MessageType
from fleep_async.models.results import decode_result, result_records

CONV = "5eed0000-0000-4000-8000-00000000000a"
BOB = "5eed0000-0000-4000-8000-000000000001"


def _store_answer(kind: str, text: str, passive: list[str]) -> dict[str, Any]:
    return {
        "header": {
            "conversation_id": CONV, "export_files": [], "export_progress": "1",
            "has_pinboard": False, "has_task_archive": False, "has_taskboard": False,
            "inactives": [], "inbox_message_nr": 5, "inbox_time": 1733130000,
            "is_automute": False, "is_list": False, "is_mark_unread": False,
            "join_message_nr": 1, "label_ids": [], "last_inbox_nr": 3, "last_message_nr": 6,
            "last_message_time": 1733130000, "mk_alert_level": "passive" if passive else "default",
            "mk_rec_type": "conv", "passive": passive, "profile_id": BOB, "read_message_nr": 6,
            "send_message_nr": 1, "show_message_nr": 6,
            "snooze_interval": -3 if passive else 0, "snooze_time": 0, "teams": [],
            "unread_count": 0,
        },
        "stream": [{
            "account_id": BOB, "conversation_id": CONV, "inbox_nr": -3, "lock_account_id": None,
            "message": '{"sysmsg_text": "' + text + '"}', "message_nr": 6,
            "mk_message_state": "urn:fleep:message:mk_message_state:system",
            "mk_message_type": kind, "mk_rec_type": "message", "posted_time": 1733130000,
            "prev_message_nr": 5, "profile_id": BOB, "tags": [],
        }],
    }  # fmt: skip


def test_a_passive_store_answer_decodes_with_its_passive_and_inactive_lists() -> None:
    answer = _store_answer(
        "passiveV1",
        "{author} left and became a passive member in this conversation and will not receive "
        "notifications unless @mentioned.",
        [BOB],
    )
    result = decode_result(
        REGISTRY["conversation/store/{conversation_id}"].RESULT, answer, strict=True
    )
    records = result_records(result)
    assert not [r for r in records if isinstance(r, UnknownRecord)]
    header = next(r for r in records if isinstance(r, ConversationRecord))
    assert header.passive == (BOB,)
    assert header.inactives == ()
    message = next(r for r in records if isinstance(r, MessageRecord))
    assert message.mk_message_type == MessageType.PASSIVE_V1
    assert message.text == "became a passive member"


def test_a_join_v1_message_reads_as_joining_the_conversation() -> None:
    answer = _store_answer("joinV1", "{author} joined the conversation.", [])
    result = decode_result(
        REGISTRY["conversation/store/{conversation_id}"].RESULT, answer, strict=True
    )
    message = next(r for r in result_records(result) if isinstance(r, MessageRecord))
    assert message.mk_message_type == MessageType.JOIN_V1
    assert message.text == "joined the conversation"


def test_a_free_team_record_with_is_org_wide_decodes_strictly() -> None:
    answer = {"stream": [{
        "admins": [], "autojoin_url": "https://fleep.io/team/abc", "is_autojoin": False,
        "is_deleted": False, "is_managed": False, "is_org_wide": False, "is_tiny": False,
        "members": [BOB], "mk_rec_type": "team", "mk_sync_mode": "tsm_full",
        "organisation_id": None, "team_id": CONV, "team_name": "free", "team_version_nr": 1,
    }]}  # fmt: skip
    result = decode_result(REGISTRY["team/create"].RESULT, answer, strict=True)
    (team,) = result_records(result)
    assert isinstance(team, TeamRecord)
    assert team.is_org_wide is False


def test_a_topic_search_answer_with_name_only_headers_feeds_them_to_the_cache() -> None:
    answer = {
        "headers": [
            {"conversation_id": CONV, "members": [BOB], "mk_rec_type": "conv", "topic": ""}
        ],
        "matches": [],
        "stream": [],
        "suggestions": None,
    }
    result = decode_result(REGISTRY["search"].RESULT, answer, strict=True)
    (header,) = result_records(result)
    assert isinstance(header, ConversationRecord)
    assert (header.conversation_id, header.members, header.topic) == (CONV, (BOB,), "")


def test_account_sync_teams_answers_the_team_records() -> None:
    answer = {"stream": [{
        "admins": [], "autojoin_url": "https://fleep.io/team/abc", "is_autojoin": True,
        "is_deleted": False, "is_managed": False, "is_org_wide": False, "is_tiny": False,
        "members": [BOB], "mk_rec_type": "team", "mk_sync_mode": "tsm_full",
        "organisation_id": None, "team_id": CONV, "team_name": "Actors", "team_version_nr": 4,
    }]}  # fmt: skip
    endpoint = REGISTRY["account/sync_teams"]
    assert endpoint.RETRY_SAFE is True
    (team,) = result_records(decode_result(endpoint.RESULT, answer, strict=True))
    assert isinstance(team, TeamRecord)
    assert (team.team_name, team.team_version_nr) == ("Actors", 4)

"""``contact/*``: other people the account knows."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from fleep_async.endpoints._base import Endpoint
from fleep_async.endpoints._fields import (
    to_mapping_list,
    to_optional_uuid_list,
    to_uuid,
    to_uuid_list,
)
from fleep_async.models import ContactRecord
from fleep_async.models.results import (
    ContactHideResult,
    ContactListResult,
    RawResult,
    StreamResult,
)

__all__ = [
    "ContactDescribe",
    "ContactHide",
    "ContactImport",
    "ContactSync",
    "ContactSyncActivity",
    "ContactSyncAll",
    "ContactSyncList",
    "ContactUnlist",
]


@attrs.frozen(kw_only=True)
class ContactDescribe(Endpoint[RawResult]):
    """Set your own name and phone number for a contact (the change comes via poll).

    The seed lists all three parameters without defaults; name and phone are optional here so
    that one can be changed without the other.

    Attributes:
        contact_id: the contact's account id.
        contact_name: the name to show for them.
        phone_nr: their phone number.
    """

    PATH = "contact/describe"
    RETRY_SAFE = True  # sets values

    contact_id: str = attrs.field(converter=to_uuid)
    contact_name: str | None = None
    phone_nr: str | None = None


@attrs.frozen(kw_only=True)
class ContactHide(Endpoint[ContactHideResult]):
    """Hide contacts from the contact list; answers the ids actually hidden.

    Attributes:
        contacts: the account ids to hide.
    """

    PATH = "contact/hide"
    RETRY_SAFE = True  # hiding twice changes nothing

    contacts: tuple[str, ...] = attrs.field(converter=to_uuid_list)


@attrs.frozen(kw_only=True)
class ContactImport(Endpoint[StreamResult]):
    """Import contacts from an address book.

    Attributes:
        contact_list: entries ``{"addr_full": ..., "addr_descr": ..., "phone_nr": ...}``.
    """

    PATH = "contact/import"

    contact_list: tuple[Mapping[str, Any], ...] = attrs.field(converter=to_mapping_list)


@attrs.frozen(kw_only=True)
class ContactSync(Endpoint[ContactRecord]):
    """Get one contact (the answer is the contact record itself).

    Attributes:
        contact_id: the contact's account id.
    """

    PATH = "contact/sync"
    RETRY_SAFE = True

    contact_id: str = attrs.field(converter=to_uuid)


@attrs.frozen(kw_only=True)
class ContactSyncActivity(Endpoint[StreamResult]):
    """Get when contacts were last seen (``lastseen`` records).

    Attributes:
        contacts: the account ids.
    """

    PATH = "contact/sync/activity"
    RETRY_SAFE = True

    contacts: tuple[str, ...] = attrs.field(converter=to_uuid_list)


@attrs.frozen(kw_only=True)
class ContactSyncAll(Endpoint[ContactListResult]):
    """Get all contacts, optionally filtered by a search string.

    Attributes:
        ignore: account ids already held (not sent back).
        search_str: only contacts matching this text.
    """

    PATH = "contact/sync/all"
    RETRY_SAFE = True

    ignore: tuple[str, ...] | None = attrs.field(default=None, converter=to_optional_uuid_list)
    search_str: str | None = None


@attrs.frozen(kw_only=True)
class ContactSyncList(Endpoint[ContactListResult]):
    """Get the given contacts.

    Attributes:
        contacts: the account ids.
    """

    PATH = "contact/sync/list"
    RETRY_SAFE = True

    contacts: tuple[str, ...] = attrs.field(converter=to_uuid_list)


@attrs.frozen(kw_only=True)
class ContactUnlist(Endpoint[RawResult]):
    """Stop suggesting a contact in the "add to conversation" dialog (weakly sourced path).

    Attributes:
        contact_id: the contact's account id.
    """

    PATH = "contact/unlist"
    RETRY_SAFE = True  # removes a suggestion: twice is the same as once

    contact_id: str = attrs.field(converter=to_uuid)

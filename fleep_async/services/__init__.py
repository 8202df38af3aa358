"""The whole Fleep API as awaitable services: ``await client.message.send(cid, message="hi")``.

The service classes are generated from the endpoint registry by ``scripts/gen_services.py``
(``_generated.py``; do not edit it by hand). Naming rule: ``client.<area>.<method>`` where the
area is the path's first segment and the method the remaining literal segments joined with
``_`` (``contact/sync/list`` is ``client.contact.sync_list``); a one-segment path is the area
object itself, called (``await client.search(keywords="x")``). Paged endpoints also have an
``iter_*`` async iterator (``client.conversation.iter_list()``).

Attach them to a client with :func:`attach_services` (or hold a :class:`ServiceHub`). Every call
goes through :func:`call` over a :class:`Requester`; the requester's optional
``on_records(records)`` receives the stream records of every result.
"""

from __future__ import annotations

from fleep_async.services._base import (
    DEFAULT_MAX_PAGES,
    ByteStream,
    Requester,
    Service,
    call,
    paginate,
)
from fleep_async.services._convenience import send_text
from fleep_async.services._files import FileTransferService, safe_file_name
from fleep_async.services._generated import (
    SERVICE_AREAS,
    AccountService,
    AliasService,
    AvatarService,
    BusinessService,
    ClassificatorsService,
    ContactService,
    ConversationService,
    EventService,
    FileService,
    LabelService,
    MailService,
    MessageService,
    SearchService,
    ServiceHub,
    TeamService,
)
from fleep_async.services._hooks import HookService, check_hook_url

__all__ = [
    "DEFAULT_MAX_PAGES",
    "SERVICE_AREAS",
    "AccountService",
    "AliasService",
    "AvatarService",
    "BusinessService",
    "ByteStream",
    "ClassificatorsService",
    "ContactService",
    "ConversationService",
    "EventService",
    "FileService",
    "FileTransferService",
    "HookService",
    "LabelService",
    "MailService",
    "MessageService",
    "Requester",
    "SearchService",
    "Service",
    "ServiceHub",
    "TeamService",
    "attach_services",
    "call",
    "check_hook_url",
    "paginate",
    "safe_file_name",
    "send_text",
]


def attach_services(target: object, requester: Requester | None = None) -> ServiceHub:
    """Set every service area as an attribute of ``target`` (``target.message`` ...).

    Call it from ``FleepClient.__init__``: ``attach_services(self)``. The requester defaults to
    ``target`` itself. Declare the attributes on the class (``message: MessageService``) for
    type checkers; :class:`ServiceHub` lists them.

    Returns:
        The hub holding the same service objects.
    """
    hub = ServiceHub(requester if requester is not None else target)  # type: ignore[arg-type]
    for area in SERVICE_AREAS:
        setattr(target, area, getattr(hub, area))
    return hub

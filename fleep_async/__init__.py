"""fleep-async: the async Python client for the Fleep team messenger.

::

    async with FleepClient("bot@example.com", password) as client:
        await client.send_text(conversation_id, "hello")
"""

from __future__ import annotations

from fleep_async._aiohttp import aiohttp_transport
from fleep_async._client import FleepClient
from fleep_async._converter import parse_record, parse_stream
from fleep_async._http import UploadFile
from fleep_async._retry import RetryPolicy, Sleep
from fleep_async._session import Credentials, SessionState
from fleep_async._version import __version__
from fleep_async.endpoints import ClientEvent
from fleep_async.errors import (
    AuthenticationError,
    BusinessRuleError,
    ConflictError,
    DecodeError,
    FleepAPIError,
    FleepError,
    FleepTimeoutError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ResponseTooLargeError,
    ServerError,
    StorageQuotaError,
    StoreLockedError,
    TransportError,
    UsageError,
)
from fleep_async.events import (
    Command,
    CommandMatch,
    Context,
    EngineHealth,
    ErrorEvent,
    EventEngine,
    FileStore,
    FromAccount,
    HorizonStore,
    InConversation,
    MemoryStore,
    OfMessageType,
    Regex,
    Router,
    SkipHandler,
    SQLiteStore,
    Text,
    not_own,
)
from fleep_async.models import (
    ActivityRecord,
    ContactRecord,
    ConversationRecord,
    FileRecord,
    HookRecord,
    LabelRecord,
    MessageRecord,
    MessageType,
    Record,
    RecordKind,
    RequestRecord,
    TeamRecord,
    UnknownRecord,
)

__all__ = [
    # the client
    "FleepClient",
    "SessionState",
    "Credentials",
    "RetryPolicy",
    "Sleep",
    "UploadFile",
    "ClientEvent",
    "aiohttp_transport",
    # events
    "Router",
    "Context",
    "ErrorEvent",
    "SkipHandler",
    "Command",
    "CommandMatch",
    "Regex",
    "Text",
    "InConversation",
    "FromAccount",
    "OfMessageType",
    "not_own",
    "EventEngine",
    "EngineHealth",
    "HorizonStore",
    "MemoryStore",
    "FileStore",
    "SQLiteStore",
    # records
    "Record",
    "RecordKind",
    "ActivityRecord",
    "ContactRecord",
    "ConversationRecord",
    "FileRecord",
    "HookRecord",
    "LabelRecord",
    "MessageRecord",
    "MessageType",
    "RequestRecord",
    "TeamRecord",
    "UnknownRecord",
    "parse_record",
    "parse_stream",
    # errors
    "FleepError",
    "TransportError",
    "FleepTimeoutError",
    "FleepAPIError",
    "AuthenticationError",
    "PermissionDeniedError",
    "NotFoundError",
    "InvalidRequestError",
    "ConflictError",
    "RateLimitError",
    "BusinessRuleError",
    "ServerError",
    "StorageQuotaError",
    "StoreLockedError",
    "ResponseTooLargeError",
    "DecodeError",
    "UsageError",
    "__version__",
]

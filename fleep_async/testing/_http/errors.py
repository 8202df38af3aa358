"""The errors FakeFleep answers with: an HTTP status plus ``{error_id, error_message}``.

Statuses (docs/fakefleep.md, "Transport and sessions"): 400 bad request, 401 dead session,
404 unknown path, 405 wrong method, 430 fatal / not found, 431 business rule. Messages never
contain secrets.
"""

from __future__ import annotations

from typing import Final

EXPIRED_TOKEN_MESSAGE: Final = "Expired token, please relogin."  # noqa: S105 (a message, not a secret)


class ApiError(Exception):
    """An error answer: raised anywhere in a handler, turned into a JSON error response."""

    def __init__(
        self,
        status: int,
        error_id: str,
        error_message: str,
        *,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {error_id}: {error_message}")
        self.status = status
        self.error_id = error_id
        self.error_message = error_message
        self.headers = dict(headers or {})

    def body(self) -> dict[str, str]:
        """The JSON body the server sends."""
        return {"error_id": self.error_id, "error_message": self.error_message}


def bad_request(message: str) -> ApiError:
    """400: missing or invalid fields, or a body that is not a JSON object."""
    return ApiError(400, "invalid_call", message)


def unauthorized() -> ApiError:
    """401: missing, expired or logged-out session."""
    return ApiError(401, "expired_token", EXPIRED_TOKEN_MESSAGE)


def business(error_id: str, message: str) -> ApiError:
    """431: a business-rule violation ("Message says what")."""
    return ApiError(431, error_id, message)


def fatal(error_id: str, message: str) -> ApiError:
    """430: the object does not exist for this account."""
    return ApiError(430, error_id, message)


def message_not_found() -> ApiError:
    """430 ``not_found``: the exact error the real server gives for an unknown message_nr."""
    return ApiError(430, "not_found", "Message not found.")


def conversation_not_found() -> ApiError:
    """430 ``not_found``: a conversation the account never belonged to (or that does not exist)."""
    return ApiError(430, "not_found", "Conversation not found.")


def not_supported(feature: str) -> ApiError:
    """431 ``not_supported_by_fakefleep``: a real Fleep feature this fake does not implement."""
    return ApiError(
        431,
        "not_supported_by_fakefleep",
        f"{feature} is not supported by FakeFleep.",
    )

"""The Device Shadow service's error responses (AWS "Shadow error messages").

An error travels as `{"code", "message", "timestamp", "clientToken"}` on `.../rejected`
over MQTT, and as the HTTP status with the same body (plus `x-amzn-ErrorType`) over REST.
"""

from __future__ import annotations

from typing import Any

# HTTP status → the iot-data exception name boto3 raises for it.
EXCEPTION_NAMES = {
    400: "InvalidRequestException",
    401: "UnauthorizedException",
    404: "ResourceNotFoundException",
    405: "MethodNotAllowedException",
    409: "ConflictException",
    413: "RequestEntityTooLargeException",
    415: "UnsupportedDocumentEncodingException",
    429: "ThrottlingException",
    500: "InternalFailureException",
    503: "ServiceUnavailableException",
}

# AWS's own wording, so clients that match on messages behave as they do against AWS.
INVALID_JSON = "Invalid JSON"
MISSING_STATE = "Missing required node: state"
STATE_NOT_OBJECT = "State node must be an object"
DESIRED_NOT_OBJECT = "Desired node must be an object"
REPORTED_NOT_OBJECT = "Reported node must be an object"
INVALID_VERSION = "Invalid version"
INVALID_CLIENT_TOKEN = "Invalid clientToken"
TOO_DEEP = "JSON contains too many levels of nesting; maximum is 6"
INVALID_NODE = "State contains an invalid node"
VERSION_CONFLICT = "Version conflict"
PAYLOAD_TOO_LARGE = "The payload exceeds the maximum size allowed"
UNSUPPORTED_ENCODING = "Unsupported documented encoding; supported encoding is UTF-8"
INTERNAL_FAILURE = "Internal service failure"


def no_shadow_message(display_name: str) -> str:
    """AWS's 404 text; named shadows are shown as `thing~name`."""
    return f"No shadow exists with name: '{display_name}'"


class ShadowError(Exception):
    """A request the shadow service rejects, with the HTTP code AWS uses for it."""

    def __init__(self, code: int, message: str, client_token: str | None = None,
                 detail: str | None = None) -> None:
        super().__init__(f"{code} {message}" + (f": {detail}" if detail else ""))
        self.code = code
        self.message = message
        self.client_token = client_token
        self.detail = detail

    @property
    def text(self) -> str:
        """AWS's message, followed by what exactly was wrong when AWS's text alone is vague."""
        return f"{self.message}: {self.detail}" if self.detail else self.message

    @property
    def exception_name(self) -> str:
        return EXCEPTION_NAMES.get(self.code, "InternalFailureException")

    def with_client_token(self, client_token: str | None) -> ShadowError:
        """The same error, echoing `client_token` (AWS echoes it once the JSON was valid)."""
        return ShadowError(self.code, self.message, client_token, self.detail)

    def payload(self, timestamp: int) -> dict[str, Any]:
        """The error response document."""
        doc: dict[str, Any] = {"code": self.code, "message": self.text, "timestamp": timestamp}
        if self.client_token is not None:
            doc["clientToken"] = self.client_token
        return doc

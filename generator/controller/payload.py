"""Flagger's webhook payload, read strictly enough to refuse garbage and loosely enough to accept every Flagger.

Flagger (fluxcd/flagger v1.44.0, pkg/apis/flagger/v1beta1/canary.go ``CanaryWebhookPayload``) POSTs JSON
``{"name", "namespace", "phase", "checksum", "metadata"}``; ``metadata`` is a map of strings and is left out when
the webhook has none (``omitempty``). For ``event`` hooks (pkg/controller/webhook.go ``CallEventWebhook``) metadata
carries ``eventMessage``, ``eventType`` (Normal|Warning) and ``timestamp`` (unix milliseconds, a string). Unknown
fields are ignored (forks add some); a missing name or namespace, a wrong type or invalid JSON is a 400 with one line.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

MAX_BODY = 64 * 1024  # bytes; Flagger's payloads are well under 1 KiB plus the webhook's metadata


class PayloadError(Exception):
    """A 400: the body is not a payload Flagger sends. ``reason`` is one line."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class PayloadTooLarge(Exception):
    """A 413: the body is over the limit (counted while reading; Content-Length is not trusted alone)."""


@dataclass(frozen=True)
class Payload:
    name: str
    namespace: str
    phase: str
    checksum: str
    metadata: dict[str, str]

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


async def read_limited(chunks: AsyncIterator[bytes], limit: int = MAX_BODY, declared: str | None = None) -> bytes:
    """The body, or PayloadTooLarge as soon as more than ``limit`` bytes have arrived (or Content-Length, when
    given, says so): a client cannot make the controller buffer more than the limit."""
    if declared is not None and declared.strip().isdigit() and int(declared) > limit:
        raise PayloadTooLarge
    body = bytearray()
    async for chunk in chunks:
        body += chunk
        if len(body) > limit:
            raise PayloadTooLarge
    return bytes(body)


def parse(body: bytes) -> Payload:
    """Flagger's JSON body -> Payload. Raises PayloadError with a one-line reason."""
    try:
        doc = json.loads(body.decode("utf-8"))  # decode first: json.loads(bytes) would also take UTF-16 and -32
    except UnicodeDecodeError:
        raise PayloadError("the body is not UTF-8 JSON") from None
    except json.JSONDecodeError as e:
        raise PayloadError(f"the body is not valid JSON: {e.msg} at line {e.lineno} column {e.colno}") from None
    if not isinstance(doc, dict):
        raise PayloadError(f"the body must be a JSON object (Flagger's CanaryWebhookPayload), got {_kind(doc)}")
    name = _string(doc, "name", required=True)
    namespace = _string(doc, "namespace", required=True)
    return Payload(name=name, namespace=namespace, phase=_string(doc, "phase"), checksum=_string(doc, "checksum"),
                   metadata=_metadata(doc.get("metadata")))


def _string(doc: dict[str, Any], field: str, *, required: bool = False) -> str:
    value = doc.get(field)
    if value is None and not required:
        return ""
    if value is None:
        raise PayloadError(f"missing {field!r}: Flagger sends the Canary's name and namespace")
    if not isinstance(value, str):
        raise PayloadError(f"{field!r} must be a string, got {_kind(value)}")
    if required and not value:
        raise PayloadError(f"{field!r} must not be empty")
    return value


def _metadata(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise PayloadError(f"'metadata' must be an object of strings, got {_kind(value)}")
    for key, item in value.items():
        if not isinstance(item, str):
            raise PayloadError(f"'metadata' must be an object of strings: {_clip(key)!r} is {_kind(item)}")
    return dict(value)


def _kind(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null",
            int: "a number", float: "a number"}.get(type(value), type(value).__name__)


def _clip(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[:limit] + "..."

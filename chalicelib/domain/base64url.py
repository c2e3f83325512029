"""base64url (RFC 4648 §5) without padding: how Webex-style ids (domain/report_ids.py) and list
cursors (domain/listing.py) are written."""

from __future__ import annotations

import base64


def encode(raw: bytes) -> str:
    """`raw` as base64url, its "=" padding left out."""
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(text: str) -> bytes:
    """The bytes of base64url `text`, padded or not. As lenient as `base64.urlsafe_b64decode`
    (a character outside the alphabet is skipped): a caller that needs the exact spelling checks
    it (`decode_canonical`). Raises binascii.Error (a ValueError) for text that cannot be bytes."""
    return base64.urlsafe_b64decode((text + "=" * (-len(text) % 4)).encode())


def decode_canonical(text: str) -> bytes:
    """Strict `decode`: only the exact spelling `encode` writes is accepted (no padding, no
    character outside the alphabet, no spare bits); anything else raises ValueError."""
    raw = decode(text)
    if encode(raw) != text:
        raise ValueError("non-canonical base64")
    return raw

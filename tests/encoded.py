"""A secret in every form a file or an output could hold it: a search for its bytes.

Files keep secrets encoded (an archive's FURL as base64 in JSON, keys as base32 or
hex): searching only for the raw bytes finds nothing even where the secret is in
plain sight. ``forms`` gives, for each encoding, a piece that appears in ANY longer
text holding the secret encoded that way, wherever it starts (base64 and base32
encode a secret differently at each byte offset modulo 3 and 5: each alignment's
piece is the part its neighbours cannot change).
"""

from __future__ import annotations

import base64
from collections.abc import Callable

_ENCODINGS: list[tuple[str, Callable[[bytes], bytes], int, int]] = [
    # name, encoder, bytes per group, characters per group
    ("base64", base64.b64encode, 3, 4),
    ("urlsafe base64", base64.urlsafe_b64encode, 3, 4),
    ("base32", base64.b32encode, 5, 8),
    ("base32 lowercase", lambda b: base64.b32encode(b).lower(), 5, 8),
]


def forms(secret: bytes) -> dict[str, bytes]:
    """Name of the form -> the bytes to search for."""
    out = {"raw": secret, "hex": secret.hex().encode(), "HEX": secret.hex().upper().encode()}
    for name, encode, group, chars in _ENCODINGS:
        for offset in range(group):
            text = encode(b"\0" * offset + secret)
            end = (offset + len(secret)) // group * chars  # the last whole group
            piece = text[(chars if offset else 0) : end]
            # Long enough to mean this secret and nothing else (16 bytes and up do).
            assert len(piece) >= 12, f"{secret!r} is too short to search for encoded"
            out[f"{name} at offset {offset}"] = piece
    return out


def found(data: bytes, secrets: dict[str, bytes]) -> list[str]:
    """'<secret> as <form>' for each secret found in ``data``, in any form."""
    return [
        f"{what} as {form}"
        for what, secret in secrets.items()
        for form, piece in forms(secret).items()
        if piece in data
    ]

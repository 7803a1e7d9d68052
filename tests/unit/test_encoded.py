"""tests/encoded.py finds a secret in each encoding, wherever it starts in the text.

Mutation: forms() trying only offset 0 (a search for the secret's base64 as if it
always started a group) fails 17 of these cases (checked).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable

import pytest
from encoded import forms, found

SECRET = b"swissnumSWISSNUMswissnum1234"


@pytest.mark.parametrize(
    "encode",
    [
        base64.b64encode,
        base64.urlsafe_b64encode,
        base64.b32encode,
        lambda b: base64.b32encode(b).lower(),
        lambda b: b.hex().encode(),
        lambda b: b,
    ],
)
@pytest.mark.parametrize("before", range(6))
def test_a_secret_inside_a_longer_encoded_text_is_found(
    encode: Callable[[bytes], bytes], before: int
) -> None:
    # Each offset modulo 3 and 5 (base64's and base32's groups): 6 starts cover both.
    furl = b"pb://tubid@tor:abc.onion:3457/"[: 20 + before] + SECRET + b"\n"
    text = json.dumps({"furl": encode(furl).decode()}).encode()
    assert found(text, {"swissnum": SECRET}), text


def test_control_other_bytes_are_not_found() -> None:
    text = json.dumps({"furl": base64.b64encode(b"pb://x@tor:y/" + b"o" * 28).decode()}).encode()
    assert found(text, {"swissnum": SECRET}) == []
    assert len(forms(SECRET)) == 3 + 2 * 3 + 2 * 5

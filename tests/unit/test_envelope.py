"""The sealed envelope: round trips, and every kind of damage rejected with its own error."""

from __future__ import annotations

import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from htb.errors import (
    DamagedArmorError,
    NotSealedError,
    SealError,
    TamperedError,
    TruncatedError,
    UnsupportedVersionError,
    WrongPassphraseError,
)
from htb.manifest import envelope
from htb.manifest.envelope import PREFIX_LEN, TEST_KDF, KdfParams

PW = "correct staple horse battery with nine more words"
# Sealed once: the mutation properties reuse it (each unseal is one cheap KDF run).
SEALED = envelope.seal(b'{"version":1}', PW, TEST_KDF)


def test_round_trip_and_layout() -> None:
    blob = envelope.seal(b"secret plaintext", PW, TEST_KDF)
    assert blob[:4] == b"HTBM"
    assert blob[4] == 1
    assert len(blob) == PREFIX_LEN + len(b"secret plaintext") + 16
    assert b"secret plaintext" not in blob
    assert envelope.unseal(blob, PW) == b"secret plaintext"


def test_sealing_is_randomized() -> None:
    a = envelope.seal(b"same", PW, TEST_KDF)
    b = envelope.seal(b"same", PW, TEST_KDF)
    assert a != b
    assert a[18:34] != b[18:34], "fresh salt"
    assert a[34:58] != b[34:58], "fresh nonce"


def test_header_records_kdf_parameters() -> None:
    kdf = KdfParams(opslimit=2, memlimit=16 * 1024)
    parsed = envelope.parse_header(envelope.seal(b"x", PW, kdf))
    assert parsed.kdf == kdf


def test_wrong_passphrase() -> None:
    with pytest.raises(WrongPassphraseError, match="wrong passphrase"):
        envelope.unseal(SEALED, PW + "x")


def test_unicode_passphrase_is_normalized() -> None:
    composed, decomposed = "caf\u00e9 " * 8, "cafe\u0301 " * 8
    blob = envelope.seal(b"x", composed, TEST_KDF)
    assert envelope.unseal(blob, decomposed) == b"x"


def test_flipped_ciphertext_bit_is_tampering() -> None:
    bad = bytearray(SEALED)
    bad[-1] ^= 0x01
    with pytest.raises(TamperedError, match="altered or damaged"):
        envelope.unseal(bytes(bad), PW)


def test_truncation_and_trailing_bytes() -> None:
    with pytest.raises(TruncatedError, match="truncated"):
        envelope.unseal(SEALED[:-1], PW)
    with pytest.raises(TruncatedError, match="header"):
        envelope.unseal(SEALED[:40], PW)
    with pytest.raises(TamperedError, match="unexpected bytes"):
        envelope.unseal(SEALED + b"\0", PW)


def test_unknown_version_and_kdf() -> None:
    with pytest.raises(UnsupportedVersionError, match="format version 2"):
        envelope.unseal(SEALED[:4] + b"\x02" + SEALED[5:], PW)
    with pytest.raises(UnsupportedVersionError, match="key-derivation"):
        envelope.unseal(SEALED[:5] + b"\x09" + SEALED[6:], PW)


def test_hostile_kdf_cost_is_refused_before_running_it() -> None:
    huge = struct.pack(">Q", 64 * 1024**3)
    with pytest.raises(UnsupportedVersionError, match="memlimit"):
        envelope.unseal(SEALED[:10] + huge + SEALED[18:], PW)


def test_not_sealed() -> None:
    with pytest.raises(NotSealedError):
        envelope.unseal(b'{"version": 1}', PW)
    with pytest.raises(NotSealedError):
        envelope.unseal(b"", PW)


def test_armor_round_trip_survives_quoting_and_crlf() -> None:
    text = envelope.armor(SEALED)
    assert text.startswith(envelope.ARMOR_BEGIN)
    assert all(len(line) <= 64 for line in text.splitlines())
    mail = "Hi, here it is:\r\n" + "".join(f"> {line}\r\n" for line in text.splitlines()) + "bye"
    assert envelope.dearmor(mail) == SEALED
    assert envelope.unseal(envelope.to_binary(mail.encode()), PW) == b'{"version":1}'


def test_armor_damage_is_caught_before_the_kdf() -> None:
    lines = envelope.armor(SEALED).splitlines()
    body = lines[2]
    lines[2] = ("B" if body[0] != "B" else "C") + body[1:]
    with pytest.raises(DamagedArmorError, match="checksum"):
        envelope.dearmor("\n".join(lines))
    with pytest.raises(TruncatedError, match="END"):
        envelope.dearmor("\n".join(lines[:3]))
    with pytest.raises(DamagedArmorError, match="base64"):
        envelope.dearmor("\n".join([*lines[:2], "!!!!", *lines[3:]]))


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(position=st.integers(0, len(SEALED) - 1), bit=st.integers(0, 7))
def test_every_flipped_bit_is_rejected(position: int, bit: int) -> None:
    bad = bytearray(SEALED)
    bad[position] ^= 1 << bit
    with pytest.raises(SealError):
        envelope.unseal(bytes(bad), PW)


@settings(max_examples=80, deadline=None)
@given(length=st.integers(0, len(SEALED) - 1))
def test_every_truncation_is_rejected(length: int) -> None:
    with pytest.raises(SealError):
        envelope.unseal(SEALED[:length], PW)


@settings(max_examples=60, deadline=None)
@given(plaintext=st.binary(max_size=2000), passphrase=st.text(min_size=1, max_size=40))
def test_round_trip_property(plaintext: bytes, passphrase: str) -> None:
    blob = envelope.seal(plaintext, passphrase, TEST_KDF)
    assert envelope.unseal(blob, passphrase) == plaintext
    assert envelope.unseal(envelope.dearmor(envelope.armor(blob)), passphrase) == plaintext

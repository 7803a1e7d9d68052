"""The sealed envelope: round trips, and every kind of damage rejected with its own error."""

from __future__ import annotations

import base64
import struct
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from htb.errors import (
    DamagedArmorError,
    HtbError,
    NotSealedError,
    SealError,
    TamperedError,
    TruncatedError,
    UnsupportedVersionError,
    WrongPassphraseError,
)
from htb.manifest import envelope
from htb.manifest.envelope import ARMOR_BEGIN, ARMOR_END, PREFIX_LEN, TEST_KDF, KdfParams

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
    with pytest.raises(UnsupportedVersionError, match="KDF cost 1 pass x 65536 MiB is above"):
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


# --- manifests written before issue 13 keep opening ------------------------------
# Sealed (TEST_KDF) and armored by the code of commit HEAD before issue 13.
GOLDEN_PW = "golden passphrase for issue 13 tests"
GOLDEN_PLAIN = b'{"golden":"sealed by htb 0.1.0"}'
GOLDEN_BIN = bytes.fromhex(
    "4854424d0101000000010000000000002000a5002c5dc7950d987690816768e6e14f8e0c5bad"
    "10335aa2cd101a4838bb796d4da9b939a2d8ba0e000000300a56efb89dfef60513fed227cf7f"
    "39bca134b655b45223cb7aa2fb605d9601e1e724e0319f0d9e9206998cb2a5fca291782dd7fd"
    "4732fd7ccc7e47cdf1c8943d"
)
GOLDEN_ASC = """-----BEGIN HTB SEALED MANIFEST-----

SFRCTQEBAAAAAQAAAAAAACAApQAsXceVDZh2kIFnaObhT44MW60QM1qizRAaSDi7
eW1Nqbk5oti6DgAAADAKVu+4nf72BRP+0ifPfzm8oTS2VbRSI8t6ovtgXZYB4eck
4DGfDZ6SBpmMsqX8opF4Ldf9RzL9fMx+R83xyJQ9
=rYQ5B1f/
-----END HTB SEALED MANIFEST-----
"""


def test_manifests_sealed_before_issue_13_still_open() -> None:
    assert envelope.unseal(GOLDEN_BIN, GOLDEN_PW) == GOLDEN_PLAIN
    assert envelope.dearmor(GOLDEN_ASC.encode()) == GOLDEN_BIN
    assert envelope.unseal(envelope.to_binary(GOLDEN_ASC.encode()), GOLDEN_PW) == GOLDEN_PLAIN
    assert envelope.armor(GOLDEN_BIN) == GOLDEN_ASC, "armor() output unchanged"


# --- defect 1: the armor is parsed as bytes, by exact rules --------------------------
def _checksum_line_index(lines: list[str]) -> int:
    return next(i for i, line in enumerate(lines) if line.startswith("="))


@pytest.mark.parametrize("as_bytes", [True, False])
def test_defect_1_non_ascii_in_checksum_line_is_damaged_armor(as_bytes: bool) -> None:
    # sed 's/^=\(.\)/=é/' m.asc: was "TypeError: comparing strings with non-ASCII characters"
    lines = GOLDEN_ASC.splitlines()
    i = _checksum_line_index(lines)
    lines[i] = "=é" + lines[i][2:]
    text = "\n".join(lines) + "\n"
    with pytest.raises(DamagedArmorError, match="checksum mismatch") as info:
        envelope.dearmor(text.encode() if as_bytes else text)
    assert "é" not in str(info.value)


@pytest.mark.parametrize(
    "bad",
    [
        b"=\xff\xfe",  # not UTF-8 at all
        b"=\xc3\xa9" * 4,  # UTF-8 non-ASCII only
        b"=rYQ5B1f/\xc2\xa0",  # a trailing no-break space is not stripped
        b"=rYQ5B1f/\x00",
        b"=",  # empty checksum
    ],
)
def test_defect_1_any_byte_in_checksum_line_is_damaged_armor(bad: bytes) -> None:
    lines = GOLDEN_ASC.encode().split(b"\n")
    lines[_checksum_line_index([x.decode() for x in lines])] = bad
    with pytest.raises(DamagedArmorError, match="checksum"):
        envelope.dearmor(b"\n".join(lines))


@pytest.mark.parametrize(
    "line",
    [
        b"Version: htb 0.1.0",  # a header line, as in OpenPGP armor
        b"Comment: hi",
        b"SFRCTQ\xc3\xa9",  # non-ASCII
        b"SFRC\xe2\x80\xa8TQ",  # U+2028 is not a line break
        b"SFRC\x0bTQ",  # nor VT
        b"SFRC\x0cTQ",  # nor FF
        b"SFRC\xc2\x85TQ",  # nor NEL
        b"SFRC\rTQ",  # nor a lone CR
        b"SFRC TQ",  # no blank inside a line
        b"-SFRCTQ",  # base64url is not base64
    ],
)
def test_armor_line_outside_base64_alphabet_is_damaged(line: bytes) -> None:
    lines = GOLDEN_ASC.encode().split(b"\n")
    lines.insert(2, line)
    with pytest.raises(DamagedArmorError, match="outside base64"):
        envelope.dearmor(b"\n".join(lines))


def test_armor_line_rules_quoting_blanks_crlf_any_width() -> None:
    body = base64.b64encode(GOLDEN_BIN).decode()
    checksum = GOLDEN_ASC.splitlines()[_checksum_line_index(GOLDEN_ASC.splitlines())]
    variants = [
        # one long line, no blank line after BEGIN
        f"{ARMOR_BEGIN}\n{body}\n{checksum}\n{ARMOR_END}",
        # 76 wide, CRLF, leading tabs/spaces, trailing blanks, nested quoting
        "\r\n".join(
            [
                "\t> > " + ARMOR_BEGIN + " \t",
                ">",
                *("  >" + body[i : i + 76] + "  " for i in range(0, len(body), 76)),
                ">\t" + checksum,
                "> " + ARMOR_END,
            ]
        ),
        # many empty lines; END line last, without a line ending, with a CR
        f"{ARMOR_BEGIN}\n\n\n{body[:10]}\n\n{body[10:]}\n\n{checksum}\n\n{ARMOR_END}\r",
        # text before and after; later blocks (even damaged ones) ignored
        f"Dear friend,\n{ARMOR_BEGIN} (not a marker)\n{ARMOR_BEGIN}\n{body}\n{checksum}\n"
        f"{ARMOR_END}\nbye\n{ARMOR_BEGIN}\nnot@base64\n=x\n{ARMOR_END}\n",
    ]
    for text in variants:
        assert envelope.dearmor(text.encode()) == GOLDEN_BIN, text
        assert envelope.is_armored(text.encode())


def test_armor_markers_must_be_whole_lines() -> None:
    text = GOLDEN_ASC.replace(ARMOR_BEGIN, "x" + ARMOR_BEGIN)
    assert not envelope.is_armored(text.encode())
    with pytest.raises(NotSealedError, match="BEGIN"):
        envelope.dearmor(text)
    text = GOLDEN_ASC.replace(ARMOR_END, ARMOR_END + " x")
    with pytest.raises(TruncatedError, match="END"):
        envelope.dearmor(text)
    # CR alone does not end a line: the whole text is one line, so no BEGIN line.
    assert not envelope.is_armored(GOLDEN_ASC.replace("\n", "\r").encode())


def test_armor_checksum_line_must_be_last() -> None:
    lines = GOLDEN_ASC.splitlines()
    i = _checksum_line_index(lines)
    with pytest.raises(TruncatedError, match="checksum line is missing"):
        envelope.dearmor("\n".join(lines[:i] + lines[i + 1 :]))
    with pytest.raises(TruncatedError, match="checksum line is missing"):
        envelope.dearmor(f"{ARMOR_BEGIN}\n\n{ARMOR_END}\n")
    moved = [*lines[:2], lines[i], *lines[2:i], *lines[i + 1 :]]
    with pytest.raises(TruncatedError, match="checksum line is missing"):
        envelope.dearmor("\n".join(moved))


@pytest.mark.parametrize(
    "mangle",
    [
        lambda b: b.rstrip("="),  # padding removed
        lambda b: b + "=",  # one '=' too many
        lambda b: b[:-4] + "=" + b[-4:],  # '=' in the middle
        lambda b: b[:-3] + chr(ord(b[-3]) + 1) + b[-2:],  # non-zero pad bits
    ],
)
def test_armor_base64_is_strict(mangle: Callable[[str], str]) -> None:
    blob = GOLDEN_BIN + b"\0"  # 127 bytes: the base64 ends in "=="
    body = base64.b64encode(blob).decode()
    assert body.endswith("==")
    bad = mangle(body)
    assert bad != body
    checksum = "=" + envelope._armor_checksum(blob)
    good = f"{ARMOR_BEGIN}\n\n{body}\n{checksum}\n{ARMOR_END}\n"
    assert envelope.dearmor(good) == blob
    text = f"{ARMOR_BEGIN}\n\n{bad}\n{checksum}\n{ARMOR_END}\n"
    with pytest.raises(DamagedArmorError):
        envelope.dearmor(text)


@settings(max_examples=300, deadline=None)
@given(
    lines=st.lists(
        st.one_of(
            st.binary(max_size=80),
            st.text(alphabet="AZaz09+/= \t>\r\u2028\x85é", max_size=80).map(str.encode),
            st.sampled_from([ARMOR_BEGIN.encode(), ARMOR_END.encode(), b"", b"=", b"=rYQ5B1f/"]),
        ),
        max_size=12,
    ),
    sep=st.sampled_from([b"\n", b"\r\n", b"\r"]),
)
def test_armor_never_raises_anything_but_htb_errors(lines: list[bytes], sep: bytes) -> None:
    text = sep.join(lines)
    try:
        blob = envelope.dearmor(text)
    except HtbError as exc:
        assert "\n" not in str(exc)
        return
    assert isinstance(blob, bytes)

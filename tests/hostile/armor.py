"""Armored envelopes: the reference reading of the armor lines, and armor edits."""

from __future__ import annotations

import base64
import binascii
import random
from collections.abc import Iterator
from dataclasses import dataclass

from hostile.binary import BYTE_OPS
from hostile.format import ARMOR_BEGIN, ARMOR_END, B64_LINE
from hostile.sealing import armor_checksum


@dataclass
class ArmorRules:
    cr_at_eof: bool = False  # also drop a CR ending the last line (no LF after it)
    strip_then_cr: bool = False  # drop trailing blanks first, then one CR


def _norm_line(line: bytes, has_lf: bool, rules: ArmorRules) -> bytes:
    if rules.strip_then_cr:
        line = line.rstrip(b" \t")
        if line.endswith(b"\r") and (has_lf or rules.cr_at_eof):
            line = line[:-1]
    elif line.endswith(b"\r") and (has_lf or rules.cr_at_eof):
        line = line[:-1]
    return line.lstrip(b" \t>").rstrip(b" \t")


def _begin_line(data: bytes, rules: ArmorRules) -> int | None:
    """Offset just after the first BEGIN line (after its LF), or None."""
    pos = 0
    while (k := data.find(ARMOR_BEGIN, pos)) >= 0:
        start = data.rfind(b"\n", 0, k) + 1
        end = data.find(b"\n", k)
        has_lf = end >= 0
        end = end if has_lf else len(data)
        if _norm_line(data[start:end], has_lf, rules) == ARMOR_BEGIN:
            return end + 1 if has_lf else len(data) + 1
        pos = k + 1
    return None


def ref_dearmor(data: bytes, rules: ArmorRules) -> tuple[str, bytes | None, bool]:
    """(reason, blob, canonical): reason "no-begin" if there is no block at all."""
    after = _begin_line(data, rules)
    if after is None:
        return "no-begin", None, True
    raw = data[after:].split(b"\n") if after <= len(data) else []
    body, end_found = [], False
    for i, line in enumerate(raw):
        norm = _norm_line(line, i < len(raw) - 1, rules)
        if norm == ARMOR_END:
            end_found = True
            break
        if norm:
            body.append(norm)
    if not end_found:
        return "armor-no-end", None, True
    if not body or not body[-1].startswith(b"="):
        return "armor-no-checksum", None, True
    checksum = body.pop()
    if not all(B64_LINE.fullmatch(line) for line in body):
        return "armor-bad-char", None, True
    joined = b"".join(body)
    try:
        blob = binascii.a2b_base64(joined, strict_mode=True)
    except binascii.Error:
        return "armor-bad-base64", None, True
    if checksum != b"=" + armor_checksum(blob):
        return "armor-checksum", None, True
    return "armor-ok", blob, base64.b64encode(blob) == joined


_ARMOR_JUNK = [
    "é",
    "\u00a0",
    "\u200b",
    "\uff21",
    "\u2028",
    "\u2029",
    "\x85",
    "\x0b",
    "\x0c",
    "\x00",
    "\ufeff",
    "-",
    "*",
    " ",
    "\t",
    ">",
    "\r",
    "\x1b[2J",
    "Ω",
    "😀",
]


def _lines(text: bytes) -> list[bytes]:
    return text.split(b"\n")


def armor_edits(text: bytes, other: bytes, rng: random.Random) -> Iterator[tuple[str, bytes]]:
    """Deliberate armor edits of ``text`` (``other``: another armored manifest)."""
    lines = _lines(text)
    begin, end = lines.index(ARMOR_BEGIN), lines.index(ARMOR_END)
    check = end - 1
    body = base64.b64encode(binascii.a2b_base64(b"".join(lines[begin + 1 : check])))

    def join(ls: list[bytes]) -> bytes:
        return b"\n".join(ls)

    def rewrap(
        width: int, *, sep: bytes = b"\n", prefix: bytes = b"", suffix: bytes = b""
    ) -> bytes:
        chunks = [body[i : i + width] for i in range(0, len(body), width)]
        ls = [ARMOR_BEGIN, *chunks, lines[check], ARMOR_END, b""]
        return sep.join(prefix + line + suffix for line in ls)

    yield "armor:identity", text
    for width in (1, 4, 63, 65, 76, 200, 10**6):
        yield f"armor:rewrap-{width}", rewrap(width)
    yield "armor:crlf", rewrap(64, sep=b"\r\n")
    yield "armor:cr-only", rewrap(64, sep=b"\r")
    yield "armor:double-cr", rewrap(64, suffix=b"\r\r")
    yield "armor:cr-then-space", rewrap(64, suffix=b"\r ")
    yield "armor:space-then-cr", rewrap(64, sep=b" \r\n")
    yield "armor:quoted", rewrap(64, prefix=b"> ")
    yield "armor:quoted-deep", rewrap(64, prefix=b"> > >")
    yield "armor:indented-tabs", rewrap(64, prefix=b"\t \t")
    yield "armor:trailing-blanks", rewrap(64, suffix=b" \t ")
    yield "armor:nbsp-indent", rewrap(64, prefix="\u00a0".encode())
    yield "armor:ideographic-space", rewrap(64, prefix="\u3000".encode())
    for sep in ("\u2028", "\u2029", "\x85", "\x0b", "\x0c", "\x1c", "\x1e"):
        yield f"armor:sep-U+{ord(sep):04X}", rewrap(64, sep=sep.encode())
        yield (
            f"armor:sep-U+{ord(sep):04X}-before-begin",
            (b"hello" + sep.encode() + b"world\n" + text),
        )
        yield f"armor:sep-U+{ord(sep):04X}-joins-begin", b"hello" + sep.encode() + text
    yield "armor:no-begin", join(lines[:begin] + lines[begin + 1 :])
    yield "armor:no-end", join(lines[:end] + lines[end + 1 :])
    yield "armor:no-checksum", join(lines[:check] + lines[check + 1 :])
    yield "armor:checksum-only-eq", join([*lines[:check], b"=", *lines[end:]])
    yield "armor:checksum-twice", join([*lines[:end], lines[check], *lines[end:]])
    yield (
        "armor:checksum-first",
        join([*lines[: begin + 1], lines[check], *lines[begin + 1 : check], *lines[end:]]),
    )
    yield "armor:begin-twice", join([*lines[: begin + 1], *lines[begin:]])
    yield "armor:end-twice", join([*lines[: end + 1], *lines[end:]])
    yield "armor:end-before-begin", join([ARMOR_END, *lines])
    yield (
        "armor:swapped-markers",
        text.replace(ARMOR_BEGIN, b"@@").replace(ARMOR_END, ARMOR_BEGIN).replace(b"@@", ARMOR_END),
    )
    for header in (b"Version: 1", b"Comment: hi", b"Hash: SHA256", b"version1"):
        yield (
            f"armor:header-{header.decode()}",
            join([*lines[: begin + 1], header, *lines[begin + 1 :]]),
        )
    yield "armor:begin-lowercase", text.replace(ARMOR_BEGIN, ARMOR_BEGIN.lower())
    yield "armor:begin-extra-dash", text.replace(ARMOR_BEGIN, ARMOR_BEGIN + b"-")
    yield "armor:begin-trailing-x", text.replace(ARMOR_BEGIN, ARMOR_BEGIN + b"x")
    yield "armor:begin-inline", b"see: " + text
    yield "armor:end-inline", text.replace(ARMOR_END, b"x" + ARMOR_END)
    yield "armor:empty-lines", join([line + b"\n" for line in lines])
    yield "armor:text-around", b"Hi,\nhere it is:\n\n" + text + b"\n-- \nBob\n\xff\xfe\x00"
    yield (
        "armor:utf8-around",
        "Привет 😀\n".encode() + text + "\n\u043f\u043e\u043a\u0430\n".encode(),
    )
    yield "armor:no-final-newline", text.rstrip(b"\n")
    yield "armor:two-blocks", text + other
    yield "armor:other-first", other + text
    yield "armor:damaged-first-block", text.replace(body[:8], body[:8][::-1], 1) + other
    yield "armor:nested", join([*lines[: begin + 1], *_lines(other), *lines[begin + 1 :]])
    yield "armor:garbage-line", join([*lines[: begin + 2], b"AAAA", *lines[begin + 2 :]])
    yield (
        "armor:garbage-b64-line",
        join([*lines[:check], base64.b64encode(rng.randbytes(30)), *lines[check:]]),
    )
    yield "armor:padding-middle", join([*lines[: begin + 2], b"QQ==", *lines[begin + 2 :]])
    yield "armor:unpadded", join([ARMOR_BEGIN, body.rstrip(b"="), lines[check], ARMOR_END])
    yield (
        "armor:base64url",
        join([ARMOR_BEGIN, body.replace(b"+", b"-").replace(b"/", b"_"), lines[check], ARMOR_END]),
    )
    yield "armor:empty-block", join([ARMOR_BEGIN, ARMOR_END])
    yield "armor:only-checksum-block", join([ARMOR_BEGIN, lines[check], ARMOR_END])
    yield "armor:quoted-begin-only", text.replace(ARMOR_BEGIN, b">> " + ARMOR_BEGIN)
    for junk in _ARMOR_JUNK:
        tag = f"U+{ord(junk[0]):04X}"
        cl = lines[check]
        yield (
            f"armor:in-body-{tag}",
            join(
                [
                    *lines[: begin + 2],
                    lines[begin + 2][:10] + junk.encode() + lines[begin + 2][10:],
                    *lines[begin + 3 :],
                ]
            ),
        )
        yield (
            f"armor:in-checksum-{tag}",
            join([*lines[:check], cl[:4] + junk.encode() + cl[4:], *lines[check + 1 :]]),
        )
        yield (
            f"armor:checksum-replaced-{tag}",
            join([*lines[:check], cl[:-1] + junk.encode(), *lines[check + 1 :]]),
        )
        yield f"armor:in-begin-{tag}", text.replace(b"SEALED", b"SEALED" + junk.encode(), 1)
        yield f"armor:before-begin-{tag}", junk.encode() + b"\n" + text
    yield (
        "armor:checksum-case",
        join([*lines[:check], lines[check].swapcase(), *lines[check + 1 :]]),
    )
    yield (
        "armor:checksum-of-other",
        join(
            [*lines[:check], _lines(other)[_lines(other).index(ARMOR_END) - 1], *lines[check + 1 :]]
        ),
    )
    # the last base64 character, changed in its unused low bits (non-canonical encoding)
    last = body.rstrip(b"=")
    alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    idx = alphabet.index(last[-1:])
    pad = len(body) - len(last)
    if pad:
        tweaked = last[:-1] + alphabet[idx ^ 1 : (idx ^ 1) + 1] + b"=" * pad
        yield "armor:non-canonical-bits", join([ARMOR_BEGIN, tweaked, lines[check], ARMOR_END])


def _b64_char_edit(rng: random.Random, text: bytes) -> tuple[str, bytes]:
    """Change one base64 character of an armored or 2014 text to another one."""
    positions = [i for i, ch in enumerate(text) if chr(ch).isalnum() or ch in b"+/"]
    pos = rng.choice(positions)
    alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    new = rng.choice([c for c in alphabet if c != text[pos]])
    return f"b64char@{pos}", text[:pos] + bytes([new]) + text[pos + 1 :]


def _text_op(rng: random.Random, text: bytes, other: bytes) -> tuple[str, bytes]:
    """Line-level edits of an armored text that keep or break the block."""
    lines = _lines(text)
    op = rng.randrange(12)
    if op == 0 and not (ARMOR_BEGIN in lines and ARMOR_END in lines):
        op = 11
    if op == 0:  # rewrap at a random width (must open)
        begin, end = lines.index(ARMOR_BEGIN), lines.index(ARMOR_END)
        body = b"".join(lines[begin + 1 : end - 1])
        w = rng.randint(1, 120)
        chunks = [body[i : i + w] for i in range(0, len(body), w)]
        return f"rewrap-{w}", b"\n".join([*lines[:begin], ARMOR_BEGIN, *chunks, *lines[end - 1 :]])
    if op == 1:  # quote / indent / trailing blanks on random lines (must open)
        pre = rng.choice([b"> ", b">", b"  ", b"\t", b" > > "])
        post = rng.choice([b"", b" ", b"\t", b"\r"])
        return "quote-lines", b"\n".join(
            (pre if rng.random() < 0.5 else b"") + line + (post if rng.random() < 0.3 else b"")
            for line in lines
        )
    if op == 2:  # text before and after (must open unless it makes a BEGIN line)
        before = rng.choice([b"", b"Hi\n", rng.randbytes(20) + b"\n", "é\u2028\n".encode()])
        after = rng.choice([b"", b"\nbye", rng.randbytes(40), other])
        return "surround", before + text + after
    if op == 3:  # remove a random line
        i = rng.randrange(len(lines))
        return f"drop-line-{i}", b"\n".join(lines[:i] + lines[i + 1 :])
    if op == 4:  # duplicate a random line
        i = rng.randrange(len(lines))
        return f"dup-line-{i}", b"\n".join([*lines[: i + 1], *lines[i:]])
    if op == 5:  # swap two lines
        i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
        ls = list(lines)
        ls[i], ls[j] = ls[j], ls[i]
        return f"swap-lines-{i}-{j}", b"\n".join(ls)
    if op == 6:  # a junk character somewhere
        junk = rng.choice(_ARMOR_JUNK).encode()
        pos = rng.randrange(len(text) + 1)
        return f"junk@{pos}", text[:pos] + junk + text[pos:]
    if op == 7:
        return _b64_char_edit(rng, text)
    if op == 8:  # blank lines (must open)
        i = rng.randrange(len(lines))
        return f"blank-line-{i}", b"\n".join([*lines[:i], b"", b"  ", *lines[i:]])
    if op == 9:  # CRLF everywhere (must open)
        return "crlf", text.replace(b"\n", b"\r\n")
    if op == 10:  # a header line
        i = rng.randrange(len(lines))
        return f"header-line-{i}", b"\n".join([*lines[:i], b"Version: 1", *lines[i:]])
    name, data = rng.choice(BYTE_OPS)(rng, text)
    return name, data

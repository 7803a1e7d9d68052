"""The corpus: from a seed, the originals and every input, by random access."""

from __future__ import annotations

import base64
import dataclasses
import json
import random
from collections.abc import Iterator

import nacl.exceptions
import nacl.pwhash
import nacl.secret

from hostile.armor import ArmorRules, _b64_char_edit, _text_op, armor_edits, ref_dearmor
from hostile.binary import _INTERESTING, BYTE_OPS, header_edit, header_edits, ref_binary
from hostile.cases import Case
from hostile.expect import OPEN, Expect, refuse
from hostile.format import MAGIC, MAX_INPUT, MAX_PLAINTEXT, PREFIX_LEN, SEALED
from hostile.legacy import LEGACY_EITHER, LEGACY_OPEN, legacy_structures, ref_legacy_raw
from hostile.manifests import (
    canonical,
    legacy_manifest,
    manifest_rich,
    manifest_servers_only,
    manifest_small,
)
from hostile.plaintexts import (
    _mutate_json,
    _padded_plaintext,
    hostile_plaintexts,
    ref_content,
    wrong_type_plaintexts,
)
from hostile.sealing import armor, legacy_key, seal_bytes, seal_legacy


# --- the corpus ----------------------------------------------------------------------
class Corpus:
    """Originals, the registry of what each sealed blob holds, and every input."""

    def __init__(self, seed: int, *, fast: bool = False) -> None:
        self.seed = seed
        self.fast = fast
        rng = random.Random(seed)  # noqa: S311 - reproducible inputs, not secrets
        self.contents: dict[bytes, Expect] = {}  # binary blob -> what opening it gives
        self.legacy_contents: dict[bytes, Expect] = {}  # 2014 plaintext -> expectation
        self.binaries: list[bytes] = []
        for data in (manifest_small(), manifest_rich(), manifest_servers_only()):
            blob = self.seal(canonical(data), OPEN, rng)
            self.binaries.append(blob)
        self.armored = [armor(b) for b in self.binaries]
        self.legacy: list[bytes] = []
        lm = json.dumps(legacy_manifest()).encode()
        self.legacy_contents[lm] = LEGACY_OPEN
        self.legacy = [seal_legacy(lm, rng), seal_legacy(lm, rng, width=76)]
        self.originals = {
            "binary": self.binaries,
            "armored": self.armored,
            "legacy-2014": self.legacy,
        }
        self._fixed: list[Case] | None = None

    def seal(self, plaintext: bytes, expect: Expect, rng: random.Random) -> bytes:
        blob = seal_bytes(plaintext, rng)
        self.contents[blob] = expect
        return blob

    # -- the oracle --
    def _blob_expect(self, blob: bytes) -> Expect:
        reason, pre_kdf = ref_binary(blob)
        if reason != "kdf":
            return refuse(SEALED, reason, pre_kdf=pre_kdf)
        known = self.contents.get(blob)
        if known is not None:
            return known
        prefix = blob[:PREFIX_LEN]
        same_header = any(b[:PREFIX_LEN] == prefix for b in self.contents)
        return refuse(SEALED, "tampered" if same_header else "wrong-passphrase")

    def _armor_expect(self, data: bytes) -> Expect | None:
        """None if no rule reading finds a BEGIN line; several readings where CRs differ."""
        variants = [ArmorRules()]
        if b"\r" in data:
            variants += [ArmorRules(True, False), ArmorRules(False, True), ArmorRules(True, True)]
        results: list[Expect | None] = []
        for rules in variants:
            reason, blob, canonical_b64 = ref_dearmor(data, rules)
            if reason == "no-begin":
                results.append(None)
            elif blob is None:
                results.append(refuse(SEALED, reason, pre_kdf=True))
            else:
                e = self._blob_expect(blob)
                if not canonical_b64:
                    e = e.merge(refuse(SEALED, "non-canonical-base64", pre_kdf=True))
                results.append(e)
        if all(r is None for r in results):
            return None
        merged = [r or refuse(SEALED, "no-begin") for r in results]
        result = merged[0]
        for r in merged[1:]:
            result = result.merge(r)
        return result

    def expect_unseal(self, data: bytes) -> Expect:
        if len(data) > MAX_INPUT:
            return refuse(SEALED, "too-large", pre_kdf=True)
        armored = self._armor_expect(data)
        if data.startswith(MAGIC):
            binary = self._blob_expect(data)
            return binary if armored is None else binary.merge(armored)
        if armored is not None:
            return armored
        raw = ref_legacy_raw(data)
        if raw is None:
            return refuse(SEALED, "not-sealed")
        try:
            plaintext = nacl.secret.SecretBox(legacy_key()).decrypt(raw[24:], raw[:24])
        except nacl.exceptions.CryptoError:
            return refuse(SEALED, "2014-wrong-passphrase")
        e = self.legacy_contents.get(plaintext, LEGACY_EITHER)
        if b"\x0b" in data or b"\x0c" in data:  # whitespace the rules do not name
            e = e.merge(refuse(SEALED, "not-sealed"))
        return e

    # -- inputs --
    def fixed(self) -> list[Case]:
        if self._fixed is None:
            self._fixed = [
                Case(c.kind, c.op, c.data, c.expect, c.verb, i)
                for i, c in enumerate(self._build_fixed())
            ]
        return self._fixed

    def case(self, index: int) -> Case:
        fixed = self.fixed()
        if index < len(fixed):
            return fixed[index]
        rng = random.Random(f"{self.seed}:{index}")  # noqa: S311
        c = self._random_case(rng)
        return Case(c.kind, c.op, c.data, c.expect, c.verb, index)

    def _unseal_case(self, kind: str, op: str, data: bytes) -> Case:
        return Case(kind, op, data, self.expect_unseal(data))

    def _build_fixed(self) -> Iterator[Case]:
        rng = random.Random(f"{self.seed}:fixed")  # noqa: S311
        fast = self.fast
        # every original opens
        for kind, texts in self.originals.items():
            for i, t in enumerate(texts):
                yield self._unseal_case(kind, f"original-{i}", t)
        # truncations at every length (the fast slice: one binary, sampled others)
        for kind, texts in self.originals.items():
            for j, t in enumerate(texts):
                if fast and j > 0:
                    continue
                step = 1 if not fast or kind == "binary" else 7
                for n in range(0, len(t), step):
                    yield self._unseal_case(kind, f"truncate@{n}", t[:n])
        # header field edits
        for blob in self.binaries[:1] if fast else self.binaries:
            for op, data in header_edits(blob):
                yield self._unseal_case("binary", op, data)
                if not fast:
                    yield self._unseal_case("armored", op, armor(data))
        # binary splices at chosen points
        a, b = self.binaries[0], self.binaries[1]
        for i in (0, 4, 5, 62, 78, 100, len(a)):
            for j in (0, 4, 62, 78, 100, len(b) - 10, len(b)):
                yield self._unseal_case("binary", f"splice@{i}:{j}", a[:i] + b[j:])
        # armor edits
        for t, other in ((self.armored[0], self.armored[1]), (self.armored[1], self.armored[0])):
            for op, data in armor_edits(t, other, rng):
                yield self._unseal_case("armored", op, data)
            if fast:
                break
        # 2014: whitespace variants that must open, and JSON structures
        lm = json.dumps(legacy_manifest()).encode()
        for op, data in self._legacy_variants(lm, rng):
            yield self._unseal_case("legacy-2014", op, data)
        for name, plaintext, expect in legacy_structures():
            self.legacy_contents[plaintext] = expect
            yield self._unseal_case("legacy-2014", f"json:{name}", seal_legacy(plaintext, rng))
        # hostile plaintexts: sealed properly (unseal) and given to `htb seal`
        plaintexts = hostile_plaintexts()
        wrong = wrong_type_plaintexts(manifest_rich())
        if fast:
            wrong = random.Random(f"{self.seed}:wrong").sample(wrong, 120)  # noqa: S311
        for name, plaintext in plaintexts + wrong:
            yield self._sealed_case(f"json:{name}", plaintext, rng)
            yield Case(
                "seal-plaintext",
                f"json:{name}",
                plaintext,
                ref_content(plaintext, plain_file=True),
                "seal",
            )
        yield from self._size_cases(rng)

    def _sealed_case(self, op: str, plaintext: bytes, rng: random.Random) -> Case:
        blob = seal_bytes(plaintext, rng)
        expect = ref_content(plaintext)
        self.contents[blob] = expect
        return Case("sealed-plaintext", op, blob, self._blob_expect(blob))

    def _legacy_variants(self, lm: bytes, rng: random.Random) -> Iterator[tuple[str, bytes]]:
        text = seal_legacy(lm, rng).strip()
        for width in (1, 4, 64, 76, 77):
            yield (
                f"rewrap-{width}",
                b"\n".join(text[i : i + width] for i in range(0, len(text), width)),
            )
        yield "crlf", b"\r\n".join(text[i : i + 76] for i in range(0, len(text), 76)) + b"\r\n"
        yield "no-newline", text
        yield "surrounding-blanks", b"\n\n  " + text + b"  \n\t\n"
        yield "tabs-inside", text[:30] + b"\t" + text[30:]
        yield "vertical-tab-inside", text[:30] + b"\x0b" + text[30:]
        yield "nbsp-inside", text[:30] + "\u00a0".encode() + text[30:]
        yield "short-40", base64.b64encode(rng.randbytes(40))
        yield "short-39", base64.b64encode(rng.randbytes(39))
        yield "just-equals", b"=" * 64
        yield "wrong-key", base64.b64encode(rng.randbytes(300))
        yield "urlsafe", text.replace(b"+", b"-").replace(b"/", b"_")
        yield "padding-inside", text[:40] + b"==" + text[40:]
        yield "two-manifests", text + b"\n" + text

    def _size_cases(self, rng: random.Random) -> Iterator[Case]:
        blob, text, leg = self.binaries[0], self.armored[0], self.legacy[0]

        def pad_to(data: bytes, size: int, filler: bytes) -> bytes:
            return (filler * (size // len(filler) + 1))[: size - len(data)] + data

        yield self._unseal_case("size", "binary+padding>MAX_INPUT", blob + b"\0" * MAX_INPUT)
        yield self._unseal_case("size", "armored-at-MAX_INPUT", pad_to(text, MAX_INPUT, b"x\n"))
        yield self._unseal_case(
            "size", "armored-over-MAX_INPUT", pad_to(text, MAX_INPUT + 1, b"x\n")
        )
        yield self._unseal_case("size", "armored-5MiB", pad_to(text, 5 * 2**20, b"y\n"))
        yield self._unseal_case("size", "2014-at-MAX_INPUT", pad_to(leg, MAX_INPUT, b"\n"))
        yield self._unseal_case("size", "2014-over-MAX_INPUT", pad_to(leg, MAX_INPUT + 1, b"\n"))
        yield self._unseal_case("size", "garbage-over-MAX_INPUT", b"A" * (MAX_INPUT + 1))
        yield self._unseal_case(
            "size", "header-ct-len-too-large", header_edit(blob, "ct-len", MAX_PLAINTEXT + 17, True)
        )
        base = manifest_rich()
        exact = _padded_plaintext(base, MAX_PLAINTEXT)
        over = _padded_plaintext(base, MAX_PLAINTEXT + 1)
        for name, plain in (
            ("plaintext-at-MAX_PLAINTEXT", exact),
            ("plaintext-over-MAX_PLAINTEXT", over),
        ):
            yield dataclasses.replace(self._sealed_case(name, plain, rng), kind="size")
        for name, plain in (
            ("seal-at-MAX_PLAINTEXT", exact),
            ("seal-over-MAX_PLAINTEXT", over),
            ("seal-3MiB", _padded_plaintext(base, 3 * 2**20)),
            ("seal-over-MAX_INPUT", _padded_plaintext(base, MAX_INPUT + 1)),
            ("seal-5MiB-garbage", b"[" * (5 * 2**20)),
        ):
            yield Case("size", name, plain, ref_content(plain, plain_file=True), "seal")
            yield Case(
                "size", name + "-stdin", plain, ref_content(plain, plain_file=True), "seal-stdin"
            )

    def _random_case(self, rng: random.Random) -> Case:
        roll = rng.random()
        if roll < 0.25:
            src = rng.choice(self.binaries)
            if rng.random() < 0.15:
                other = rng.choice(self.binaries + self.armored)
                i, j = rng.randrange(len(src) + 1), rng.randrange(len(other) + 1)
                return self._unseal_case("binary", f"splice@{i}:{j}", src[:i] + other[j:])
            if rng.random() < 0.1:
                name = rng.choice(list(_INTERESTING))
                value = rng.choice([*_INTERESTING[name], rng.randrange(2**8)])
                if name == "memlimit" and rng.random() < 0.5:
                    value = rng.randrange(2**64)
                op, data = (
                    f"header:{name}={value}",
                    header_edit(src, name, value, rng.random() < 0.5),
                )
                return self._unseal_case("binary", op, data)
            data, names = src, []
            for _ in range(rng.choice([1, 1, 1, 2, 3])):
                name, data = rng.choice(BYTE_OPS)(rng, data)
                names.append(name)
            return self._unseal_case("binary", "+".join(names), data)
        if roll < 0.55:
            src = rng.choice(self.armored)
            other = rng.choice(self.armored)
            if rng.random() < 0.1:
                i, j = rng.randrange(len(src) + 1), rng.randrange(len(other) + 1)
                return self._unseal_case("armored", f"splice@{i}:{j}", src[:i] + other[j:])
            name, data = _text_op(rng, src, other)
            if rng.random() < 0.2 and data:
                name2, data = _text_op(rng, data, other)
                name = f"{name}+{name2}"
            return self._unseal_case("armored", name, data)
        if roll < 0.65:
            if rng.random() < 0.5:
                data = _mutate_json(rng, legacy_manifest())
                self.legacy_contents.setdefault(data, LEGACY_EITHER)
                return self._unseal_case("legacy-2014", "json-mutation", seal_legacy(data, rng))
            src = rng.choice(self.legacy)
            if rng.random() < 0.5:
                lines = src.strip()
                w = rng.randint(1, 100)
                sep = rng.choice([b"\n", b"\r\n", b" ", b"\t", b"\n\n"])
                data = sep.join(lines[i : i + w] for i in range(0, len(lines), w))
                return self._unseal_case("legacy-2014", f"rewrap-{w}", data)
            name, data = rng.choice((*BYTE_OPS, _b64_char_edit))(rng, src)
            return self._unseal_case("legacy-2014", name, data)
        data = _mutate_json(rng, rng.choice([manifest_rich(), manifest_small()]))
        if roll < 0.85:
            c = self._sealed_case("json-mutation", data, rng)
            return c
        return Case(
            "seal-plaintext", "json-mutation", data, ref_content(data, plain_file=True), "seal"
        )

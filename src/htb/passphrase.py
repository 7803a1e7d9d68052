"""Passphrases: generated from the EFF long word list, read without ever being an argument.

Sources, in order: ``--passphrase-file`` (first line), the ``HTB_PASSPHRASE``
environment variable, then a prompt on the terminal. Never a command-line
argument: those are visible to every user through ``ps`` and /proc.
"""

from __future__ import annotations

import getpass
import math
import os
import secrets
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from xkcdpass import xkcd_password
from zxcvbn import zxcvbn

from htb.errors import PassphraseUnavailableError, WeakPassphraseError

ENV_VAR = "HTB_PASSPHRASE"
DEFAULT_WORDS = 7  # 7 x 12.9 = 90 bits
MIN_BITS = 64.0
# zxcvbn's cost grows with length; past this the estimate uses a prefix (a lower bound).
_ESTIMATE_CHARS = 128


@cache
def wordlist() -> tuple[str, ...]:
    """The EFF long list (7776 words), as shipped by xkcdpass."""
    path = xkcd_password.locate_wordfile("eff-long")
    words = xkcd_password.generate_wordlist(wordfile=path, min_length=1, max_length=64)
    return tuple(sorted(set(words)))


def generate(words: int = DEFAULT_WORDS) -> str:
    """A passphrase of ``words`` words drawn uniformly with the system CSPRNG."""
    if words < 1:
        raise ValueError("a passphrase needs at least one word")
    wl = wordlist()
    return " ".join(secrets.choice(wl) for _ in range(words))


def generated_bits(words: int = DEFAULT_WORDS) -> float:
    return words * math.log2(len(wordlist()))


@dataclass(frozen=True)
class Strength:
    bits: float
    advice: str


def estimate(passphrase: str) -> Strength:
    """A conservative entropy estimate: the lower of zxcvbn's and a word-list count.

    zxcvbn rates word passphrases generously ("correct horse battery staple"
    scores 67 bits); counting list words at log2(7776) bits each corrects that.
    """
    sample = passphrase[:_ESTIMATE_CHARS]
    result = zxcvbn(sample)
    z_bits = math.log2(max(float(result["guesses"]), 1.0))
    known = set(wordlist())
    tokens = sample.split()
    word_bits = sum(
        math.log2(len(known))
        if t.lower() in known
        else math.log2(max(float(zxcvbn(t)["guesses"]), 1.0))
        for t in tokens
    )
    bits = min(z_bits, word_bits) if tokens else z_bits
    feedback = result.get("feedback") or {}
    advice = " ".join([feedback.get("warning") or "", *feedback.get("suggestions", [])]).strip()
    return Strength(bits=bits, advice=advice)


def check(passphrase: str, *, allow_weak: bool = False) -> Strength:
    """Refuse a passphrase below MIN_BITS unless explicitly allowed."""
    if not passphrase:
        raise WeakPassphraseError("the passphrase is empty")
    strength = estimate(passphrase)
    if strength.bits < MIN_BITS and not allow_weak:
        raise WeakPassphraseError(
            f"passphrase too weak: about {strength.bits:.0f} bits, {MIN_BITS:.0f} needed. "
            f"Use `htb passphrase` for a {DEFAULT_WORDS}-word one"
            + (f" ({strength.advice})" if strength.advice else "")
        )
    return strength


def read(*, file: Path | None = None, confirm: bool = False, prompt: str = "Passphrase: ") -> str:
    """Read a passphrase from a file, the environment or the terminal, in that order."""
    if file is not None:
        try:
            text = file.read_text("utf-8")
        except OSError as exc:
            raise PassphraseUnavailableError(
                f"cannot read passphrase file {file}: {exc.strerror}"
            ) from None
        first = text.splitlines()[0] if text else ""
        if not first:
            raise PassphraseUnavailableError(f"passphrase file {file} is empty")
        return first
    env = os.environ.get(ENV_VAR)
    if env:
        return env
    if not sys.stdin.isatty():
        raise PassphraseUnavailableError(
            f"no passphrase: no terminal to prompt on; use --passphrase-file or {ENV_VAR}"
        )
    first = getpass.getpass(prompt)
    if confirm and getpass.getpass("Again: ") != first:
        raise PassphraseUnavailableError("the two passphrases differ; nothing was written")
    return first

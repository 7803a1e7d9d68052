"""Passphrases: generated from the EFF long word list, read without ever being an argument.

Sources, in order: ``--passphrase-file`` (first line), the ``HTB_PASSPHRASE``
environment variable, then a prompt on the terminal. Never a command-line
argument: those are visible to every user through ``ps`` and /proc.

What a passphrase is (docs/manifest-format.md and the issue 13 spec): a
non-empty Unicode string without lone surrogates. The envelope NFC-normalizes it
and encodes it as UTF-8 for the KDF; nothing here changes it.

A passphrase file is bytes: at most :data:`MAX_FILE` of them; a leading UTF-8
BOM is removed; the rest must be strict UTF-8; the passphrase is everything
before the first LF, with one CR before that LF removed. Nothing else ends a
line (U+2028, NEL, VT and FF are part of the passphrase) and nothing is
stripped.
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
NEW_ENV_VAR = "HTB_NEW_PASSPHRASE"  # `htb convert`: the passphrase of the new file
DEFAULT_WORDS = 7  # 7 x 12.9 = 90 bits
MIN_WORDS = 1
MAX_WORDS = 100
MIN_BITS = 64.0
MAX_FILE = 64 * 1024  # bytes of a passphrase file; a longer file is refused
_BOM = b"\xef\xbb\xbf"
# zxcvbn refuses longer strings (ValueError). A longer passphrase is estimated on
# windows of this many characters: the strength of a part is a lower bound of the
# whole's. Only the first _ESTIMATE_WINDOWS windows are looked at (time: ~50 ms each).
ZXCVBN_MAX_CHARS = 72
_ESTIMATE_WINDOWS = 4


@cache
def wordlist() -> tuple[str, ...]:
    """The EFF long list (7776 words), as shipped by xkcdpass."""
    path = xkcd_password.locate_wordfile("eff-long")
    words = xkcd_password.generate_wordlist(wordfile=path, min_length=1, max_length=64)
    return tuple(sorted(set(words)))


def generate(words: int = DEFAULT_WORDS) -> str:
    """A passphrase of ``words`` words drawn uniformly with the system CSPRNG."""
    if not MIN_WORDS <= words <= MAX_WORDS:
        raise ValueError(f"a passphrase has {MIN_WORDS} to {MAX_WORDS} words")
    wl = wordlist()
    return " ".join(secrets.choice(wl) for _ in range(words))


def generated_bits(words: int = DEFAULT_WORDS) -> float:
    return words * math.log2(len(wordlist()))


@dataclass(frozen=True)
class Strength:
    bits: float
    advice: str


def _zxcvbn(text: str) -> tuple[float, str]:
    """zxcvbn's bits and advice for at most ZXCVBN_MAX_CHARS characters; 0 bits if it fails."""
    if not text:
        return 0.0, ""  # zxcvbn("") raises IndexError
    try:
        result = zxcvbn(text[:ZXCVBN_MAX_CHARS])
        bits = math.log2(max(float(result["guesses"]), 1.0))
    except Exception:  # a bug in the estimator must not crash htb: count this part as 0 bits
        return 0.0, ""
    feedback = result.get("feedback") or {}
    advice = " ".join([feedback.get("warning") or "", *feedback.get("suggestions", [])]).strip()
    return bits, advice


def _estimate_window(text: str) -> Strength:
    """The lower of zxcvbn's estimate and a word-list count, for one window.

    Each distinct word counts once: a repeated word (or a repeated phrase, which
    zxcvbn does not always see) adds nothing.
    """
    z_bits, advice = _zxcvbn(text)
    tokens = set(text.split())
    if not tokens:
        return Strength(bits=z_bits, advice=advice)
    known = set(wordlist())
    listed = {t.lower() for t in tokens if t.lower() in known}
    others = {t for t in tokens if t.lower() not in known}
    word_bits = len(listed) * math.log2(len(known)) + sum(_zxcvbn(t)[0] for t in others)
    return Strength(bits=min(z_bits, word_bits), advice=advice)


def estimate(passphrase: str) -> Strength:
    """A conservative entropy estimate, for a passphrase of any length.

    zxcvbn rates word passphrases generously ("correct horse battery staple"
    scores 67 bits); counting list words at log2(7776) bits each corrects that.
    zxcvbn takes at most 72 characters: a longer passphrase is cut into windows of
    72 and rated as its strongest window -- guessing the whole means guessing that
    part, so this is a lower bound (a long passphrase is never rated above what
    its parts earn).
    """
    windows = [
        passphrase[i : i + ZXCVBN_MAX_CHARS]
        for i in range(0, ZXCVBN_MAX_CHARS * _ESTIMATE_WINDOWS, ZXCVBN_MAX_CHARS)
        if passphrase[i : i + ZXCVBN_MAX_CHARS]
    ]
    if not windows:
        return Strength(bits=0.0, advice="")
    rated = [_estimate_window(w) for w in windows]
    return max(rated, key=lambda s: s.bits)


def has_surrogates(text: str) -> bool:
    """True if ``text`` holds a lone surrogate (undecodable bytes, or a \\ud800 escape)."""
    return any("\ud800" <= ch <= "\udfff" for ch in text)


def validate(passphrase: str, source: str = "") -> str:
    """Refuse what is not a passphrase at all (exit 5); ``source`` names where it came from."""
    what = f"the passphrase from {source}" if source else "the passphrase"
    if not passphrase:
        raise PassphraseUnavailableError(f"{what} is empty")
    if has_surrogates(passphrase):
        raise PassphraseUnavailableError(
            f"{what} is not valid Unicode text (it holds a lone surrogate)"
        )
    return passphrase


def check(passphrase: str, *, allow_weak: bool = False) -> Strength:
    """Refuse a passphrase below MIN_BITS unless explicitly allowed."""
    if not passphrase:
        raise WeakPassphraseError("the passphrase is empty")
    validate(passphrase)
    return _refuse_if_weak(estimate(passphrase), allow_weak)


def check_generated(words: int, *, allow_weak: bool = False) -> Strength:
    """The strength of a passphrase :func:`generate` drew: counted, not estimated (each
    word is log2(7776) bits from the CSPRNG; an estimator rates common words lower, e.g.
    77.5 bits for a 7-word one). Refused below MIN_BITS, as :func:`check` does."""
    return _refuse_if_weak(Strength(bits=generated_bits(words), advice=""), allow_weak)


def _refuse_if_weak(strength: Strength, allow_weak: bool) -> Strength:
    if strength.bits < MIN_BITS and not allow_weak:
        raise WeakPassphraseError(
            # Rounded down: 63.6 bits is refused as "about 63", never "about 64, 64 needed".
            f"passphrase too weak: about {math.floor(strength.bits)} bits, {MIN_BITS:.0f} needed. "
            f"Use `htb passphrase` for a {DEFAULT_WORDS}-word one"
            + (f" ({strength.advice})" if strength.advice else "")
        )
    return strength


def read_file(file: Path) -> str:
    """The passphrase in a file: the first line of strict UTF-8 text (module docstring)."""
    try:
        with file.open("rb") as f:
            data = f.read(MAX_FILE + 1)
    except OSError as exc:
        raise PassphraseUnavailableError(
            f"cannot read passphrase file {file}: {exc.strerror or type(exc).__name__}"
        ) from None
    if len(data) > MAX_FILE:
        raise PassphraseUnavailableError(
            f"passphrase file {file} is larger than {MAX_FILE // 1024} KiB: not a passphrase file"
        )
    data = data.removeprefix(_BOM)
    if not data:
        raise PassphraseUnavailableError(f"passphrase file {file} is empty")
    try:
        text = data.decode("utf-8", errors="strict")
    except UnicodeDecodeError:
        raise PassphraseUnavailableError(f"passphrase file {file} is not UTF-8 text") from None
    first = text.split("\n", 1)[0].removesuffix("\r")
    if not first:
        raise PassphraseUnavailableError(f"passphrase file {file}: its first line is empty")
    return validate(first, f"passphrase file {file}")  # the UTF-8 codec refuses surrogates


def read_env(name: str = ENV_VAR) -> str | None:
    """The variable's value as strict UTF-8 text, exactly (nothing stripped); None if unset/empty.

    os.environ decodes undecodable bytes to lone surrogates; the raw bytes are
    decoded here strictly instead, so both a non-UTF-8 value and one holding
    encoded surrogates are refused.
    """
    if os.supports_bytes_environ:
        raw = os.environb.get(os.fsencode(name))
        if not raw:
            return None
        try:
            value = raw.decode("utf-8", errors="strict")
        except UnicodeDecodeError:
            raise PassphraseUnavailableError(f"${name} is not UTF-8 text") from None
    else:  # pragma: no cover - Windows
        value = os.environ.get(name, "")
        if not value:
            return None
    return validate(value, f"${name}")


def _has_terminal() -> bool:
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except ValueError:  # closed
        return False


def _prompt(prompt: str) -> str:
    try:
        typed = getpass.getpass(prompt)
    except EOFError:
        raise PassphraseUnavailableError("no passphrase: the input ended") from None
    except UnicodeDecodeError:
        raise PassphraseUnavailableError(
            "the passphrase typed is not text in the terminal's encoding"
        ) from None
    return validate(typed, "the prompt")


def read(
    *,
    file: Path | None = None,
    confirm: bool = False,
    prompt: str = "Passphrase: ",
    env_var: str = ENV_VAR,
    file_option: str = "--passphrase-file",
) -> str:
    """Read a passphrase from a file, the environment or the terminal, in that order.

    ``env_var`` and ``file_option`` name the variable read and the option to suggest
    (`htb convert` reads the new passphrase from its own pair).
    """
    if file is not None:
        return read_file(file)
    env = read_env(env_var)
    if env is not None:
        return env
    if not _has_terminal():
        what = "new passphrase" if env_var == NEW_ENV_VAR else "passphrase"
        raise PassphraseUnavailableError(
            f"no {what}: no terminal to prompt on; use {file_option} or ${env_var}"
        )
    first = _prompt(prompt)
    if confirm and _prompt("Again: ") != first:
        raise PassphraseUnavailableError("the two passphrases differ; nothing was written")
    return first


def from_options(passphrase: str | None, passphrase_file: str | None, variable: str) -> str:
    """The passphrase an Ansible module was given, as text or as a file's first line."""
    if passphrase:
        return validate(passphrase, "the passphrase option")
    if passphrase_file:
        return read_file(Path(passphrase_file))
    raise PassphraseUnavailableError(
        f"no passphrase: set passphrase or passphrase_file ({variable})"
    )

"""Generated passphrases, the strength check, and where passphrases may come from."""

from __future__ import annotations

from pathlib import Path

import pytest

from htb import passphrase as pw
from htb.errors import PassphraseUnavailableError, WeakPassphraseError


def test_generated_passphrases_are_strong_and_distinct() -> None:
    a, b = pw.generate(), pw.generate()
    assert a != b
    assert len(a.split()) == pw.DEFAULT_WORDS
    assert all(word in pw.wordlist() for word in a.split())
    assert len(pw.wordlist()) == 7776
    assert pw.generated_bits() > 90
    assert pw.check(a).bits >= pw.MIN_BITS


@pytest.mark.parametrize(
    "weak", ["password123", "correct horse battery staple", "Tr0ub4dor&3", "aaaaaaaaaaaaaaaaaaaa"]
)
def test_weak_passphrases_are_refused_unless_allowed(weak: str) -> None:
    with pytest.raises(WeakPassphraseError, match="too weak"):
        pw.check(weak)
    assert pw.check(weak, allow_weak=True).bits < pw.MIN_BITS


def test_empty_passphrase_is_always_refused() -> None:
    with pytest.raises(WeakPassphraseError, match="empty"):
        pw.check("", allow_weak=True)


def test_sources_file_then_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = tmp_path / "pw"
    f.write_text("from the file\nsecond line ignored\n")
    monkeypatch.setenv(pw.ENV_VAR, "from the environment")
    assert pw.read(file=f) == "from the file"
    assert pw.read() == "from the environment"
    monkeypatch.delenv(pw.ENV_VAR)
    with pytest.raises(PassphraseUnavailableError, match="no terminal"):
        pw.read()
    (tmp_path / "empty").write_text("")
    with pytest.raises(PassphraseUnavailableError, match="empty"):
        pw.read(file=tmp_path / "empty")
    with pytest.raises(PassphraseUnavailableError, match="cannot read"):
        pw.read(file=tmp_path / "missing")

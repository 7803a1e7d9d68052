"""Generated passphrases, the strength check, and where passphrases may come from."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType, SimpleNamespace

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


# Just either side of the threshold: four EFF words (4 x 12.92 = 51.70 bits) and a
# common word zxcvbn rates at 11.89 bits; five EFF words, 5 x 12.92 = 64.62 bits.
JUST_UNDER_64 = "abreast doctrine majority scribe marble"
JUST_OVER_64 = "able customary grid partridge skyrocket"


def test_the_threshold_is_64_bits_just_under_refused_just_over_accepted() -> None:
    # Mutation: MIN_BITS 60 (or any below 63.6) accepts JUST_UNDER_64; MIN_BITS 65
    # refuses JUST_OVER_64; either fails this test (checked).
    under, over = pw.estimate(JUST_UNDER_64).bits, pw.estimate(JUST_OVER_64).bits
    assert 63 < under < 64 < over < 65, (under, over)
    with pytest.raises(WeakPassphraseError, match="about 63 bits, 64 needed") as info:
        pw.check(JUST_UNDER_64)
    assert info.value.exit_code == 5
    assert pw.check(JUST_OVER_64).bits == over
    assert pw.MIN_BITS == 64  # the constant itself, as the threat model states it


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


# --- issue 13 ---------------------------------------------------------------------
MAX_FILE = 64 * 1024  # the design's bound on a passphrase file


def _long_words(n: int = 10) -> str:
    """n EFF words spread over the list: a strong passphrase longer than zxcvbn's 72."""
    wl = pw.wordlist()
    return " ".join(wl[i * len(wl) // n + 3] for i in range(n))


def test_defect_2_any_length_is_estimated_as_a_lower_bound() -> None:
    long = _long_words()
    assert len(long) > pw.ZXCVBN_MAX_CHARS
    strength = pw.check(long)  # was: ValueError from zxcvbn (over 72 characters)
    assert pw.MIN_BITS <= strength.bits <= pw.generated_bits(10)
    for n in (10, 20, 100):
        assert pw.check(pw.generate(n)).bits >= pw.MIN_BITS
    # One word too long for zxcvbn, and long but weak passphrases: estimated, refused.
    for weak in ("a" * 73, "a" * 200 + " b", "password " * 30, "x" * MAX_FILE):
        assert pw.estimate(weak).bits < pw.MIN_BITS
        with pytest.raises(WeakPassphraseError, match="too weak"):
            pw.check(weak)
        assert pw.check(weak, allow_weak=True).bits < pw.MIN_BITS
    # A long passphrase is never rated above what its parts earn.
    assert pw.estimate("correct horse battery staple " * 5).bits < pw.MIN_BITS
    # A strong part anywhere in the first windows counts.
    assert pw.estimate("a" * 72 + _long_words(7)).bits >= pw.MIN_BITS
    assert pw.estimate("").bits == 0  # zxcvbn("") raises IndexError


def test_defect_9_generate_takes_1_to_100_words() -> None:
    for bad in (0, -1, 101):
        with pytest.raises(ValueError, match="1 to 100"):
            pw.generate(bad)
    assert len(pw.generate(1).split()) == 1
    assert len(pw.generate(100).split()) == 100


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"pass phrase\n", "pass phrase"),
        (b"pass phrase", "pass phrase"),
        (b"pass phrase\r\n", "pass phrase"),
        (b"pass phrase\r\r\n", "pass phrase\r"),  # one CR removed, not all
        (b"\xef\xbb\xbfpass phrase\n", "pass phrase"),  # a BOM is not part of it
        (b"\xef\xbb\xbf\xef\xbb\xbfx\n", "\ufeffx"),  # only one BOM is removed
        (b"  pass phrase \t\n", "  pass phrase \t"),  # nothing stripped
        (b"first\nsecond\n", "first"),
        (b"a\rb\n", "a\rb"),  # CR alone ends no line
        ("a\u2028b\x85c\x0bd\x0ce\u2029f\n".encode(), "a\u2028b\x85c\x0bd\x0ce\u2029f"),
        ("caf\u00e9 \u2603\n".encode(), "caf\u00e9 \u2603"),
        (b"p\x00q\n", "p\x00q"),
        (b"x" * MAX_FILE, "x" * MAX_FILE),
    ],
)
def test_defect_3_passphrase_file_rules(tmp_path: Path, content: bytes, expected: str) -> None:
    assert pw.MAX_FILE == MAX_FILE
    f = tmp_path / "pw"
    f.write_bytes(content)
    assert pw.read_file(f) == expected
    assert pw.read(file=f) == expected


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "is empty"),
        (b"\xef\xbb\xbf", "is empty"),
        (b"\n", "its first line is empty"),
        (b"\r\n", "its first line is empty"),
        (b"\nsecond line\n", "its first line is empty"),
        (b"caf\xe9\n", "is not UTF-8 text"),  # Latin-1
        (b"ok\n\xff\xfe\n", "is not UTF-8 text"),  # the whole file is text
        (b"\xed\xa0\x80x\n", "is not UTF-8 text"),  # an encoded lone surrogate
        (b"\xff\xfep\x00w\x00", "is not UTF-8 text"),  # UTF-16
        (b"x" * (MAX_FILE + 1), "larger than 64 KiB"),
    ],
)
def test_defect_3_passphrase_file_refusals(tmp_path: Path, content: bytes, message: str) -> None:
    f = tmp_path / "pw"
    f.write_bytes(content)
    with pytest.raises(PassphraseUnavailableError, match=message) as info:
        pw.read(file=f)
    assert info.value.exit_code == 5
    assert "\n" not in str(info.value)
    with pytest.raises(PassphraseUnavailableError, match="cannot read"):
        pw.read(file=tmp_path)  # a directory


def test_defect_3_environment_must_be_utf8(monkeypatch: pytest.MonkeyPatch) -> None:
    # os.environ holds undecodable bytes as lone surrogates (surrogateescape).
    monkeypatch.setenv(pw.ENV_VAR, "caf\udce9 latin-1")
    with pytest.raises(PassphraseUnavailableError, match=r"\$HTB_PASSPHRASE is not UTF-8"):
        pw.read()
    monkeypatch.setenv(pw.ENV_VAR, "\udced\udca0\udc80 encoded surrogate")
    with pytest.raises(PassphraseUnavailableError, match="not UTF-8"):
        pw.read()
    monkeypatch.setenv(pw.ENV_VAR, " caf\u00e9\u2028 \n")
    assert pw.read() == " caf\u00e9\u2028 \n"  # the whole value, exactly


def test_defect_3_lone_surrogates_refused_from_every_source(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(pw.ENV_VAR, raising=False)
    monkeypatch.setattr(pw, "_has_terminal", lambda: True)
    monkeypatch.setattr(pw.getpass, "getpass", lambda _prompt: "typed\udcff")
    with pytest.raises(PassphraseUnavailableError, match="lone surrogate") as info:
        pw.read()
    assert info.value.exit_code == 5
    for secret in ("\ud800", "ok\udfff"):
        with pytest.raises(PassphraseUnavailableError, match="lone surrogate"):
            pw.check(secret, allow_weak=True)

    def eof(_prompt: str) -> str:
        raise EOFError

    monkeypatch.setattr(pw.getpass, "getpass", eof)
    with pytest.raises(PassphraseUnavailableError, match="input ended"):
        pw.read()
    monkeypatch.setattr(pw.getpass, "getpass", lambda _prompt: "")
    with pytest.raises(PassphraseUnavailableError, match="empty"):
        pw.read()


def test_defect_10_new_passphrase_has_its_own_sources(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(pw.ENV_VAR, "the old one")
    monkeypatch.delenv(pw.NEW_ENV_VAR, raising=False)
    new = {"env_var": pw.NEW_ENV_VAR, "file_option": "--new-passphrase-file"}
    with pytest.raises(PassphraseUnavailableError, match="--new-passphrase-file or"):
        pw.read(**new)
    monkeypatch.setenv(pw.NEW_ENV_VAR, "the new one")
    assert pw.read(**new) == "the new one"


def _ansible_module(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    pytest.importorskip("ansible")
    repo = Path(__file__).resolve().parents[2]
    # Its module_utils imports (ansible_collections.htb.grid) resolve through the
    # checkout's link collections/ansible_collections/htb/grid, as ansible.cfg's do.
    monkeypatch.syspath_prepend(str(repo / "collections"))
    path = repo / "library" / "htb_manifest.py"
    spec = importlib.util.spec_from_file_location("htb_manifest_module", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _params(**params: object) -> SimpleNamespace:
    base = {"passphrase": None, "passphrase_file": None, "generate_passphrase": False}
    return SimpleNamespace(params={**base, "passphrase_words": 7, **params})


def test_defect_3_ansible_module_reads_passphrase_files_like_htb(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mod = _ansible_module(monkeypatch)
    f = tmp_path / "pw"
    f.write_bytes(b"\xef\xbb\xbf" + _long_words().encode() + b"\r\nsecond\n")
    assert mod._resolve_passphrase(_params(passphrase_file=str(f))) == (_long_words(), False)
    f.write_bytes(b"caf\xe9\n")
    with pytest.raises(PassphraseUnavailableError, match="not UTF-8 text"):
        mod._resolve_passphrase(_params(passphrase_file=str(f)))
    with pytest.raises(PassphraseUnavailableError, match="lone surrogate"):
        mod._resolve_passphrase(_params(passphrase="abc\ud800"))


def test_defect_2_ansible_module_long_and_out_of_range_passphrases(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    mod = _ansible_module(monkeypatch)
    secret, generated = mod._resolve_passphrase(
        _params(generate_passphrase=True, passphrase_words=100)
    )
    assert generated and len(secret.split()) == 100
    assert pw.check(secret).bits >= pw.MIN_BITS  # what the module checks next
    for words in (0, -1, 101):
        with pytest.raises(mod.Fail, match="passphrase_words must be 1 to 100"):
            mod._resolve_passphrase(_params(generate_passphrase=True, passphrase_words=words))

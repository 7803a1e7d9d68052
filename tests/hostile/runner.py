"""Running htb in-process on one input, guarded (see the package docstring)."""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import io
import os
import re
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nacl.exceptions
import nacl.pwhash
import nacl.secret

from hostile.cases import Case
from hostile.expect import cost_ok
from hostile.format import TEST_MEM, TEST_OPS
from hostile.leaks import PASSPHRASE
from hostile.sealing import _REAL_KDF, _REAL_SCRYPT


# --- running htb -----------------------------------------------------------------
class KdfGuardError(BaseException):
    """Argon2id asked to run outside the design's cost bounds: stopped, reported."""


@dataclass
class Stats:
    kdf_calls: int = 0
    kdf_substituted: int = 0
    kdf_out_of_bounds: int = 0
    scrypt_calls: int = 0
    scrypt_stubbed: int = 0


@dataclass
class Outcome:
    code: int | None
    stdout: bytes
    stderr: bytes
    error: str = ""  # an uncaught exception: "Type: message"
    where: str = ""  # where it was raised, in htb's code
    seconds: float = 0.0
    kdf_calls: int = 0
    scrypt_calls: int = 0
    output_file: bytes | None = None


_KDF_DEFAULTS = {
    name: p.default
    for name, p in inspect.signature(_REAL_KDF).parameters.items()
    if p.default is not inspect.Parameter.empty
}


class Runner:
    """Runs htb.cli.main on inputs, in this process, guarded; see the module docstring."""

    def __init__(self, workdir: Path, *, real_scrypt: bool = False) -> None:
        self.workdir = workdir
        self.real_scrypt = real_scrypt
        self.stats = Stats()
        workdir.mkdir(parents=True, exist_ok=True)
        self.input = workdir / "input"
        self.output = workdir / "output.htb"

    def _kdf(self, size: int, password: bytes, salt: bytes, *args: Any, **kwargs: Any) -> Any:
        bound = dict(_KDF_DEFAULTS)
        bound.update(zip(("opslimit", "memlimit", "encoder"), args, strict=False))
        bound.update(kwargs)
        ops, mem = bound["opslimit"], bound["memlimit"]
        self.stats.kdf_calls += 1
        if not cost_ok(ops, mem):
            self.stats.kdf_out_of_bounds += 1
            raise KdfGuardError(f"Argon2id called with opslimit={ops} memlimit={mem}")
        if ops * mem > 4 * 2**20:
            self.stats.kdf_substituted += 1
            bound["opslimit"], bound["memlimit"] = TEST_OPS, TEST_MEM
        return _REAL_KDF(size, password, salt, **bound)

    def _scrypt(self, password: bytes, **kwargs: Any) -> bytes:
        self.stats.scrypt_calls += 1
        if self.real_scrypt:
            return _REAL_SCRYPT(password, **kwargs)
        self.stats.scrypt_stubbed += 1
        size = kwargs.get("dklen", 64)
        return hashlib.blake2b(password, digest_size=size, person=b"htb-fuzz-scrypt").digest()

    @contextlib.contextmanager
    def installed(self) -> Iterator[Runner]:
        saved = nacl.pwhash.argon2id.kdf, hashlib.scrypt, os.environ.get("HTB_PASSPHRASE")
        nacl.pwhash.argon2id.kdf = self._kdf
        hashlib.scrypt = self._scrypt  # type: ignore[assignment]
        os.environ["HTB_PASSPHRASE"] = PASSPHRASE
        try:
            yield self
        finally:
            nacl.pwhash.argon2id.kdf, hashlib.scrypt = saved[0], saved[1]
            if saved[2] is None:
                os.environ.pop("HTB_PASSPHRASE", None)
            else:
                os.environ["HTB_PASSPHRASE"] = saved[2]

    def argv(self, case: Case) -> list[str]:
        if case.verb == "unseal":
            return ["unseal", str(self.input)]
        source = "-" if case.verb == "seal-stdin" else str(self.input)
        return [
            "seal",
            source,
            "-o",
            str(self.output),
            "--kdf-opslimit",
            "1",
            "--kdf-memlimit",
            "1",
        ]

    def run(self, case: Case) -> Outcome:
        if case.verb == "seal-stdin":
            self.input.write_bytes(b"")
        else:
            self.input.write_bytes(case.data)
        self.output.unlink(missing_ok=True)
        before = self.stats.kdf_calls, self.stats.scrypt_calls
        out = capture(lambda: _main(self.argv(case)), stdin=case.data)
        out.kdf_calls = self.stats.kdf_calls - before[0]
        out.scrypt_calls = self.stats.scrypt_calls - before[1]
        if case.verb != "unseal" and self.output.exists():
            out.output_file = self.output.read_bytes()
        return out


def _main(argv: list[str]) -> int:
    from htb import cli

    return cli.main(argv)


def capture(call: Callable[[], int | None], stdin: bytes = b"") -> Outcome:
    """Run ``call`` with stdin/stdout/stderr in memory (bytes underneath, like a pipe)."""
    out_b, err_b = io.BytesIO(), io.BytesIO()
    out = io.TextIOWrapper(out_b, encoding="utf-8", errors="strict", write_through=True)
    err = io.TextIOWrapper(err_b, encoding="utf-8", errors="backslashreplace", write_through=True)
    inp = io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8")
    saved = sys.stdin, sys.stdout, sys.stderr
    sys.stdin, sys.stdout, sys.stderr = inp, out, err
    start = time.perf_counter()
    code: int | None = None
    error = where = ""
    try:
        code = call()
    except KeyboardInterrupt:
        raise
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 2
    except BaseException as exc:
        error = f"{type(exc).__name__}: {str(exc)[:200]}"
        where = _where(exc)
    finally:
        with contextlib.suppress(Exception):
            out.flush()
            err.flush()
        sys.stdin, sys.stdout, sys.stderr = saved
    return Outcome(
        code, out_b.getvalue(), err_b.getvalue(), error, where, time.perf_counter() - start
    )


def _where(exc: BaseException) -> str:
    """The innermost frame in htb's own code (src/htb), else the innermost one."""
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if re.search(r"[/\\](src|site-packages)[/\\]htb[/\\]", f.filename)]
    frame = (ours or frames or [None])[-1]
    if frame is None:
        return "?"
    path = frame.filename
    if "/src/" in path:
        path = path.split("/src/", 1)[1]
    return f"{path}:{frame.lineno} in {frame.name}"

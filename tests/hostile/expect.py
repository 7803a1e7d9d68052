"""What htb must do with an input: open it, refuse it (with which exit codes), or either."""

from __future__ import annotations

from dataclasses import dataclass

from hostile.format import MEM_MAX, MEM_MIN, OPS_MAX, PRODUCT_MAX


# --- expectations ------------------------------------------------------------------
@dataclass(frozen=True)
class Expect:
    """What htb must do with an input: ``open`` (exit 0), ``refuse`` or ``either``."""

    outcome: str
    codes: tuple[int, ...] = ()
    reason: str = ""
    pre_kdf: bool = False  # refused before any key derivation (size, header, armor)
    check: str = ""  # name of an extra check of a successful output (CHECKS)

    def merge(self, other: Expect) -> Expect:
        if (self.outcome, self.codes) == (other.outcome, other.codes):
            return self
        codes = tuple(sorted(set(self.codes) | set(other.codes)))
        return Expect("either", codes, f"{self.reason}|{other.reason}")


OPEN = Expect("open", (), "valid")


def refuse(codes: tuple[int, ...], reason: str, *, pre_kdf: bool = False) -> Expect:
    return Expect("refuse", codes, reason, pre_kdf)


def cost_ok(ops: int, mem: int) -> bool:
    return (
        1 <= ops <= OPS_MAX
        and MEM_MIN <= mem <= MEM_MAX
        and mem % 1024 == 0
        and (ops * mem <= PRODUCT_MAX)
    )

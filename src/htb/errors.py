"""Every error htb reports to a person: one class each, one line of text each.

The CLI prints ``htb: error: <message>`` and exits with the class's
``exit_code``; nothing below ever carries a passphrase, a capability, plaintext
or bytes of its input in its message.
"""

from __future__ import annotations

# What each exit code means, shortly: ``htb --help`` lists them with details, the
# desktop app shows one beside an error ("exit 3: sealed-file problem").
EXIT_MEANINGS: dict[int, str] = {
    0: "ok",
    1: "local system problem",
    2: "usage error",
    3: "sealed-file problem",
    4: "invalid manifest content",
    5: "weak/missing/unreadable passphrase",
    6: "grid problems",
    7: "restore refused",
    8: "verification failed",
    9: "check: some data needs repair",
    10: "check: some data is unrecoverable, or could not be walked",
    11: "restore refused: the snapshot holds what no backup makes",
    12: "a different manifest is installed (join FILE keeps it)",
    130: "interrupted",
}


class HtbError(Exception):
    """Base of every error htb reports instead of a traceback."""

    exit_code = 1


# --- the local system (exit 1) ----------------------------------------------
class LocalSystemError(HtbError):
    """A problem of this computer, not of the input: a file, free memory."""

    exit_code = 1


class UnreadableFileError(LocalSystemError):
    """A file (or standard input) could not be read."""


class NotEnoughMemoryError(LocalSystemError):
    """Argon2id could not get the memory the sealed manifest's KDF cost asks for."""


# --- sealed manifests -------------------------------------------------------
class SealError(HtbError):
    """A sealed manifest could not be opened or written."""

    exit_code = 3


class NotSealedError(SealError):
    """The input is not a sealed manifest at all (or too large to be one)."""


class UnsupportedVersionError(SealError):
    """Sealed with a format version, KDF or KDF cost this htb does not run."""


class TruncatedError(SealError):
    """The sealed manifest is shorter than its header says."""


class DamagedArmorError(SealError):
    """The ASCII-armored block was damaged in transit (bad character, base64 or checksum)."""


class WrongPassphraseError(SealError):
    """The passphrase does not open this manifest."""


class TamperedError(SealError):
    """The manifest was changed after it was sealed."""


# --- manifest content -------------------------------------------------------
class ManifestInvalidError(HtbError):
    """The manifest's JSON does not follow the schema; the message names the field."""

    exit_code = 4


class ManifestInstalledError(HtbError):
    """`htb join FILE`: another manifest is installed where the invitation would go."""

    exit_code = 12


# --- passphrases ------------------------------------------------------------
class WeakPassphraseError(HtbError):
    """A passphrase too weak to protect a manifest."""

    exit_code = 5


class PassphraseUnavailableError(HtbError):
    """No passphrase could be read (no terminal, no file, no variable)."""

    exit_code = 5


# --- the grid ---------------------------------------------------------------
class GridError(HtbError):
    """Talking to the Tahoe client node or the grid failed."""

    exit_code = 6


class NodeNotRunningError(GridError):
    """The client node is not running."""


class NotEnoughServersError(GridError):
    """Fewer storage servers are connected than the manifest needs."""


class UnrecoverableError(GridError):
    """Too few shares are left on the grid to rebuild a file."""


class MissingAliasError(GridError):
    """A backup entry names an alias the manifest does not define."""


class SnapshotNotFoundError(GridError):
    """The asked-for snapshot does not exist."""


# --- local data -------------------------------------------------------------
class RestoreRefusedError(HtbError):
    """A restore would overwrite data it was not told to overwrite."""

    exit_code = 7


class VerifyError(HtbError):
    """What was restored differs from what the grid holds."""

    exit_code = 8


class HostileSnapshotError(HtbError):
    """A snapshot holds what `tahoe backup` never makes and a restore must not write:
    a name that climbs or is a path, a control character, a link, a mutable object.
    Whoever holds a write cap of a backup directory can link such a tree."""

    exit_code = 11


# --- the person stopped it (exit 130, as an interrupt) ---------------------
class Cancelled(HtbError):
    """The person cancelled an operation; raised from a Progress callback to stop it.

    A cancelled backup links no new snapshot: ``tahoe backup`` links one only at its end.
    """

    exit_code = 130

    def __init__(self, message: str = "cancelled: the last complete snapshot is unchanged") -> None:
        super().__init__(message)


# --- the operator's Grid Manager (Ansible's htb_grid_manager, not the htb CLI) -----
class GridManagerError(HtbError):
    """A Grid Manager key or certificate is missing, foreign, malformed or sealed otherwise."""

    exit_code = 4


# --- the operator's identity archive (Ansible's htb_identity_archive) --------------
class IdentityArchiveError(HtbError):
    """The identity archive is missing, sealed otherwise, malformed or lacks a node."""

    exit_code = 4

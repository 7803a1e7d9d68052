# Copyright: the hidden-tahoe-backup grid authors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The sealing options, documented once (their argument spec: module_utils/sealing.py)."""

from __future__ import annotations


class ModuleDocFragment:
    """extends_documentation_fragment: htb.grid.sealing"""

    DOCUMENTATION = r"""
options:
  passphrase:
    description:
      - The passphrase that seals O(path). Never shown in any output.
    type: str
  passphrase_file:
    description:
      - A file whose first line is the passphrase, read as C(htb --passphrase-file) reads it -
        UTF-8 text (a leading BOM is ignored), at most 64 KiB, the passphrase ending at the
        first line feed (one carriage return before it removed).
      - One of O(passphrase) and O(passphrase_file) is required (M(htb.grid.htb_manifest)
        can instead generate the passphrase,
        O(htb.grid.htb_manifest#module:generate_passphrase)).
    type: path
  allow_weak_passphrase:
    description:
      - Seal even under a passphrase whose estimated entropy is under 64 bits.
        Only for tests and demos.
    type: bool
    default: false
  kdf_opslimit:
    description:
      - Argon2id passes (operations per guess) of a seal this module makes. Default -
        libsodium's MODERATE, 3.
      - Lower values are for tests only.
    type: int
  kdf_memlimit_mib:
    description:
      - Argon2id memory per guess of a seal this module makes, in MiB. Default -
        libsodium's MODERATE, 256.
      - Lower values are for tests only.
    type: int
"""

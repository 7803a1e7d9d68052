#!/usr/bin/python
# Copyright: the hidden-tahoe-backup grid authors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible module: write a sealed hidden-tahoe-backup manifest."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: htb_manifest
short_description: Seal a hidden-tahoe-backup manifest with a passphrase
version_added: "0.1.0"
description:
  - Writes a sealed manifest to O(path) from the fields in O(manifest) and a passphrase,
    using the same format code as the C(htb) tool (C(htb.manifest)); C(htb unseal) opens
    what this module writes and vice versa.
  - Sealing is randomized (fresh salt and nonce), so idempotence is judged on content -
    an existing file that opens with the passphrase and holds the same manifest, in the
    same form and with the same KDF cost, is left alone.
  - An existing file that does not open with the passphrase (sealed with another one,
    damaged or not a manifest) is never replaced unless O(force=true) - it may be the
    only copy someone has.
  - The passphrase comes from O(passphrase), from O(passphrase_file), or is generated
    (O(generate_passphrase)) and then stored in O(passphrase_file) if given and returned
    as RV(passphrase). Set C(no_log) on a task that generates one.
  - Runs where the C(htb) package and PyNaCl are importable. For an operator's machine,
    delegate to C(localhost) with C(ansible_python_interpreter) set to the interpreter
    of the virtualenv that holds C(htb) (for example C({{ ansible_playbook_python }})).
  - Check mode and diff mode report what would change without revealing any secret -
    the diff shows the form, the KDF cost and the names of the changed top-level fields,
    never their values.
author:
  - hidden-tahoe-backup grid authors
requirements:
  - python >= 3.11
  - hidden-tahoe-backup (the C(htb) package of this repository)
  - PyNaCl >= 1.5
options:
  path:
    description: Where the sealed manifest is written.
    type: path
    required: true
  state:
    description:
      - V(present) writes the sealed manifest; V(absent) removes the file.
    type: str
    choices: [present, absent]
    default: present
  manifest:
    description:
      - The manifest's fields, as described in C(docs/manifest-format.md) -
        C(grid) (introducer FURLs and/or static servers, C(shares)), C(aliases)
        (name to rootcap), C(backups), optional C(name), C(description), C(tor).
      - C(kind) V(invitation) seals an invitation - the grid and the backups, C(aliases)
        V({}), no capability - that the activist's C(htb start) makes their own;
        V(full) (or no C(kind)) a manifest whose backups' aliases are all defined, with an
        optional C(convergence) secret.
      - C(version) defaults to V(1).
      - Validated against the manifest schema; an error names the offending field.
      - Required with O(state=present).
      - The rootcaps, FURLs, keys and convergence secret in it are secrets - they are masked
        in every output.
    type: dict
  passphrase:
    description:
      - The passphrase to seal with. Never shown in any output.
      - Mutually exclusive with O(generate_passphrase).
    type: str
  passphrase_file:
    description:
      - A file whose first line is the passphrase, read as C(htb --passphrase-file) reads it -
        UTF-8 text (a leading BOM is ignored), at most 64 KiB, the passphrase ending at the
        first line feed (one carriage return before it removed).
      - With O(generate_passphrase) and no such file yet, the generated passphrase is
        written there (mode 0600) so that a re-run seals with the same one.
    type: path
  generate_passphrase:
    description:
      - Generate a word passphrase (EFF long list) when O(passphrase_file) does not
        exist yet (or is not given). Returned as RV(passphrase).
    type: bool
    default: false
  passphrase_words:
    description: Number of words of a generated passphrase (12.9 bits each), 1 to 100.
    type: int
    default: 7
  allow_weak_passphrase:
    description:
      - Seal even if the passphrase's estimated entropy is under 64 bits.
        Only for tests and demos.
    type: bool
    default: false
  armor:
    description:
      - Write the ASCII-armored text form (survives e-mail and chat) instead of the
        binary form.
    type: bool
    default: false
  kdf_opslimit:
    description:
      - Argon2id operations per guess. Defaults to libsodium's MODERATE (3).
      - Lower values are for tests only.
    type: int
  kdf_memlimit_mib:
    description:
      - Argon2id memory per guess, in MiB. Defaults to libsodium's MODERATE (256).
      - Lower values are for tests only.
    type: int
  force:
    description:
      - Reseal even when the existing file holds the same manifest, and replace an
        existing file that does not open with the passphrase.
    type: bool
    default: false
extends_documentation_fragment:
  - ansible.builtin.files
attributes:
  check_mode:
    support: full
    description: Nothing is written; the result says whether something would be.
  diff_mode:
    support: full
    description: Shows form, KDF cost and changed field names, never values.
  idempotent:
    support: full
    description: Judged on the unsealed content, not on the randomized bytes.
notes:
  - O(mode) defaults to V(0600) for a newly written manifest.
  - The format (byte layout, KDF, JSON schema, versioning) is described in
    C(docs/manifest-format.md) of this repository.
"""

EXAMPLES = r"""
- name: Seal Alice's manifest with a generated passphrase kept on the operator's machine
  htb_manifest:
    path: "{{ playbook_dir }}/../private/manifests/alice.htbm"
    passphrase_file: "{{ playbook_dir }}/../private/manifests/alice.passphrase"
    generate_passphrase: true
    manifest:
      name: alice
      grid:
        introducers:
          default:
            furl: "{{ introducer_furl }}"
        shares: {needed: 2, happy: 3, total: 4}
      aliases:
        documents: "{{ alice_rootcap }}"
      backups:
        - alias: documents
          path: laptop/documents
          local: /home/amnesia/Persistent/Documents
          excludes: ["*.tmp"]
  delegate_to: localhost
  no_log: true

- name: The armored form, to paste into a message to a trusted friend
  htb_manifest:
    path: /srv/manifests/alice.htbm.asc
    passphrase_file: /srv/manifests/alice.passphrase
    armor: true
    manifest: "{{ alice_manifest }}"
    mode: "0600"

- name: Destroy a manifest that is no longer needed
  htb_manifest:
    path: /srv/manifests/bob.htbm
    state: absent
"""

RETURN = r"""
path:
  description: The sealed manifest's path.
  returned: always
  type: str
  sample: /srv/manifests/alice.htbm
form:
  description: The sealed form written or kept.
  returned: state is present
  type: str
  sample: binary
kdf:
  description: The Argon2id cost recorded in the header.
  returned: state is present
  type: dict
  sample: {opslimit: 3, memlimit: 268435456}
sha256:
  description: SHA-256 of the sealed file's bytes (ciphertext; reveals nothing).
  returned: state is present and not in check mode
  type: str
  sample: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
passphrase:
  description:
    - The generated passphrase. Only when one was generated by this run.
    - A secret - register the result with C(no_log) on the task.
  returned: when generated
  type: str
  sample: lantern mosaic unpaved fidelity outsmart gurgle quarrel
passphrase_bits:
  description: Estimated entropy of the passphrase, in bits.
  returned: state is present
  type: float
  sample: 90.5
changed_fields:
  description: Top-level manifest fields that differ from the existing file (names only).
  returned: state is present
  type: list
  elements: str
  sample: [aliases, backups]
"""

import hashlib  # noqa: E402
import os  # noqa: E402
import traceback  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from ansible.module_utils.basic import AnsibleModule, missing_required_lib  # noqa: E402

NACL_IMPORT_ERROR: str | None = None
HTB_IMPORT_ERROR: str | None = None
try:
    import nacl.secret  # noqa: F401
except ImportError:
    NACL_IMPORT_ERROR = traceback.format_exc()
try:
    from htb import passphrase as htb_passphrase
    from htb.errors import HtbError, SealError
    from htb.manifest import DEFAULT_KDF, KdfParams, Manifest, read_sealed, seal, write_atomic
    from htb.manifest.schema import MANIFEST_VERSION, validate
except ImportError:
    HTB_IMPORT_ERROR = traceback.format_exc()

# Ansible puts every leaf of a no_log option in its mask list, numbers included:
# masking "1" or "3" would garble every path and hash in the output. Keep long
# strings (conservative) and add the manifest's real secrets explicitly.
_MASK_MIN_LEN = 12


def _argument_spec() -> dict[str, Any]:
    return {
        "path": {"type": "path", "required": True},
        "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
        "manifest": {"type": "dict", "no_log": True},
        "passphrase": {"type": "str", "no_log": True},
        "passphrase_file": {"type": "path"},
        "generate_passphrase": {"type": "bool", "default": False},
        "passphrase_words": {"type": "int", "default": 7},
        "allow_weak_passphrase": {"type": "bool", "default": False},
        "armor": {"type": "bool", "default": False},
        "kdf_opslimit": {"type": "int"},
        "kdf_memlimit_mib": {"type": "int"},
        "force": {"type": "bool", "default": False},
    }


def _remove(module: AnsibleModule, path: Path) -> None:
    exists = path.exists()
    result: dict[str, Any] = {"changed": exists, "path": str(path)}
    if module._diff:
        result["diff"] = {
            "before": {"state": "present" if exists else "absent"},
            "after": {"state": "absent"},
        }
    if exists and not module.check_mode:
        path.unlink()
    module.exit_json(**result)


def _resolve_passphrase(module: AnsibleModule) -> tuple[str, bool]:
    """The passphrase to use, and whether this run generated it."""
    p = module.params
    if p["passphrase"]:
        # The same rules as htb's: non-empty Unicode text without lone surrogates.
        return htb_passphrase.validate(p["passphrase"], "the passphrase option"), False
    pfile = Path(p["passphrase_file"]) if p["passphrase_file"] else None
    if pfile is not None and pfile.exists():
        # Bytes, at most 64 KiB, BOM dropped, strict UTF-8, first line up to LF (one CR
        # removed): exactly what `htb --passphrase-file` reads.
        return htb_passphrase.read_file(pfile), False
    if p["generate_passphrase"]:
        words = p["passphrase_words"]
        if not htb_passphrase.MIN_WORDS <= words <= htb_passphrase.MAX_WORDS:
            raise _Fail(
                f"passphrase_words must be {htb_passphrase.MIN_WORDS} to {htb_passphrase.MAX_WORDS}"
            )
        return htb_passphrase.generate(words), True
    if pfile is not None:
        raise _Fail(f"passphrase_file {pfile} does not exist (set generate_passphrase: true?)")
    raise _Fail("no passphrase: set passphrase, passphrase_file or generate_passphrase")


class _Fail(Exception):
    """A message for fail_json."""


def _existing(path: Path, secret: str, force: bool) -> tuple[Any, str]:
    """The opened existing manifest (or None) and a one-word description of it."""
    if not path.exists():
        return None, "absent"
    try:
        return read_sealed(path, secret), "present"
    except SealError as exc:
        if force:
            return None, "unreadable"
        raise _Fail(
            f"{path} exists but does not open with this passphrase ({exc}); nothing was "
            "changed. Set force: true to replace it, or remove it first"
        ) from None


def _changed_fields(old: Manifest | None, new: Manifest) -> list[str]:
    if old is None:
        return sorted(new.data)
    keys = set(old.data) | set(new.data)
    return sorted(k for k in keys if old.data.get(k) != new.data.get(k))


def _describe(opened: Any, state: str) -> dict[str, Any]:
    if opened is None:
        return {"state": state}
    kdf = opened.kdf
    return {
        "state": state,
        "form": opened.form,
        "kdf": {"opslimit": kdf.opslimit, "memlimit": kdf.memlimit} if kdf else "legacy-2014",
    }


def _present(module: AnsibleModule, path: Path) -> None:
    p = module.params
    if p["manifest"] is None:
        raise _Fail("manifest is required when state is present")
    data = {"version": MANIFEST_VERSION, **p["manifest"]}
    manifest = validate(data)
    module.no_log_values = {v for v in module.no_log_values if len(v) >= _MASK_MIN_LEN}
    module.no_log_values.update(manifest.secrets())
    # The invocation echoed back shows none of the manifest, secret or not.
    module.params["manifest"] = "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"

    secret, generated = _resolve_passphrase(module)
    module.no_log_values.add(secret)
    strength = htb_passphrase.check(secret, allow_weak=p["allow_weak_passphrase"])
    kdf = KdfParams(
        opslimit=p["kdf_opslimit"] or DEFAULT_KDF.opslimit,
        memlimit=p["kdf_memlimit_mib"] * 2**20 if p["kdf_memlimit_mib"] else DEFAULT_KDF.memlimit,
    )
    kdf.validate()
    form = "armored" if p["armor"] else "binary"

    old, before_state = _existing(path, secret, p["force"])
    old_manifest = old.manifest if old is not None else None
    changed_fields = _changed_fields(old_manifest, manifest)
    same = old is not None and not changed_fields and old.form == form and old.kdf == kdf
    reseal = p["force"] or not same

    pfile = Path(p["passphrase_file"]) if p["passphrase_file"] else None
    if not module.check_mode:
        if generated and pfile is not None:
            write_atomic(pfile, (secret + "\n").encode(), mode=0o600)
        if reseal:
            write_atomic(path, seal(manifest, secret, armored=p["armor"], kdf=kdf))

    changed = reseal
    file_args = module.load_file_common_arguments(p, path=str(path))
    if file_args.get("mode") is None:
        file_args["mode"] = "0600"
    diff: dict[str, Any] = {
        "before": _describe(old, before_state),
        "after": {
            "state": "present",
            "form": form,
            "kdf": {"opslimit": kdf.opslimit, "memlimit": kdf.memlimit},
            "changed_fields": changed_fields,
        },
    }
    if path.exists():
        changed = module.set_fs_attributes_if_different(file_args, changed, diff=None)

    result: dict[str, Any] = {
        "changed": changed,
        "path": str(path),
        "form": form,
        "kdf": {"opslimit": kdf.opslimit, "memlimit": kdf.memlimit},
        "passphrase_bits": round(strength.bits, 1),
        "changed_fields": changed_fields,
    }
    if path.exists() and not (module.check_mode and reseal):
        result["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    if generated:
        result["passphrase"] = secret
        module.no_log_values.discard(secret)  # returned on purpose: the task uses no_log
        if pfile is not None:
            result["passphrase_file"] = str(pfile)
    if module._diff:
        result["diff"] = diff
    module.exit_json(**result)


def main() -> None:
    module = AnsibleModule(
        argument_spec=_argument_spec(),
        add_file_common_args=True,
        supports_check_mode=True,
        mutually_exclusive=[("passphrase", "generate_passphrase")],
    )
    if NACL_IMPORT_ERROR:
        module.fail_json(msg=missing_required_lib("PyNaCl"), exception=NACL_IMPORT_ERROR)
    if HTB_IMPORT_ERROR:
        module.fail_json(
            msg=missing_required_lib(
                "hidden-tahoe-backup (the htb package)",
                reason="to use the manifest format",
            ),
            exception=HTB_IMPORT_ERROR,
        )
    path = Path(module.params["path"])
    try:
        if module.params["state"] == "absent":
            _remove(module, path)
        else:
            _present(module, path)
    except (_Fail, HtbError) as exc:
        module.fail_json(msg=str(exc))
    except OSError as exc:
        module.fail_json(msg=f"{exc.filename or path}: {exc.strerror}")


if __name__ == "__main__":
    os.umask(0o077)
    main()

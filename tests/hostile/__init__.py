"""Hostile inputs for htb's whole reading path, and the judge of what htb does with them.

One implementation, shared by ``tests/unit/test_fuzz.py`` (a fast slice in CI) and
``bench/fuzz.py`` (100 000 inputs and more). Issue 13: hostile input never crashes htb
and never leaks through it.

* :class:`Corpus` builds, from a seed, the originals (manifests sealed binary and
  armored with the cheap test KDF, 2014 manifests sealed with ``sha256(passphrase)``)
  and every input: a fixed list (truncations at every length, header field edits,
  armor edits, hostile plaintexts sealed properly, 2014 JSON structures, size limits)
  then random mutations. ``corpus.case(i)`` is random access and reproducible: the
  random case ``i`` comes from ``random.Random(f"{seed}:{i}")`` alone.
* The expectation of each input comes from a reference reading of the rules in
  notes/issue13-design.md written here independently of the product (binary check
  order, armor lines, JSON rules, the schema file for content): ``open`` (exit 0:
  e.g. text around the armor block, a re-wrap, CRLF, quoting), ``refuse`` (with the
  documented exit codes) or ``either`` where the rules leave the choice open.
* :class:`Runner` drives ``htb.cli.main(["unseal", PATH])`` / ``htb.cli.main(["seal",
  PLAIN, ...])`` in-process with ``$HTB_PASSPHRASE`` set, stdout/stderr captured as
  bytes. Two guards: Argon2id calls outside the design's cost bounds are stopped
  (reported as a failure, never run); in-bound but costly calls (a hostile header may
  ask for 512 MiB) run with the cheap cost instead: the header no longer matches its
  check value either way, so the outcome (wrong passphrase, exit 3) is the same. The
  2014 scrypt fallback (~11 s) is likewise replaced by a cheap key that fails the same
  way, unless ``real_scrypt``.
* :func:`judge` lists the problems of one outcome: uncaught exception, a mutated input
  accepted, a valid one refused, a wrong exit code, not exactly one ``htb: error:``
  line, a secret in the output, a key derived for an input the header checks refuse.

The package, by input kind: ``binary``, ``armor``, ``legacy`` (2014) and
``plaintexts`` (their reference readings and hostile edits); ``format``, ``leaks``,
``manifests``, ``sealing``, ``expect`` and ``cases`` below them; ``corpus``, ``runner``,
``judge`` and ``tally`` on top. Everything is re-exported here: ``import hostile`` and
``hostile.<name>`` work as when this was one file.
"""

from __future__ import annotations

from hostile.armor import (  # noqa: F401
    _ARMOR_JUNK,
    ArmorRules,
    _b64_char_edit,
    _begin_line,
    _lines,
    _norm_line,
    _text_op,
    armor_edits,
    ref_dearmor,
)
from hostile.binary import (  # noqa: F401
    _FIELDS,
    _INTERESTING,
    BYTE_OPS,
    _append,
    _bitflip,
    _byteset,
    _delete,
    _duplicate,
    _insert,
    _prepend,
    _truncate,
    header_edit,
    header_edits,
    ref_binary,
)
from hostile.cases import (  # noqa: F401
    _DELETE,
    KINDS,
    WRONG_TYPES,
    Case,
    _deep_set,
    _paths,
)
from hostile.corpus import (  # noqa: F401
    Corpus,
)
from hostile.expect import (  # noqa: F401
    OPEN,
    Expect,
    cost_ok,
    refuse,
)
from hostile.format import (  # noqa: F401
    ARMOR_BEGIN,
    ARMOR_END,
    B64_LINE,
    BOM,
    CONTENT,
    HEADER,
    MAGIC,
    MAX_INPUT,
    MAX_PLAINTEXT,
    MEM_MAX,
    MEM_MIN,
    OPS_MAX,
    PREFIX_LEN,
    PRODUCT_MAX,
    SEALED,
    TAG_LEN,
    TEST_MEM,
    TEST_OPS,
)
from hostile.judge import (  # noqa: F401
    CHECKS,
    MESSAGE_WORDS,
    _check_excludes,
    _check_restore_version,
    _valid_json_output,
    judge,
    soft_findings,
)
from hostile.leaks import (  # noqa: F401
    CLIENT_AUTH_KEY,
    FINGERPRINT,
    INTRO_FURL,
    INTRO_SWISS,
    INTRO_TUBID,
    NEW_PASSPHRASE,
    NURL,
    NURL_HASH,
    NURL_SWISS,
    ONION,
    PASSPHRASE,
    ROOTCAP,
    ROOTCAP_RO,
    SECRETS,
    SERVER_FURL,
    SERVER_SWISS,
    SERVER_TUBID,
    SHARED_CAP,
    WEAK_PASSPHRASE,
    WRITEKEY,
    WRONG_PASSPHRASE,
    leaks,
    read_only_cap,
)
from hostile.legacy import (  # noqa: F401
    LEGACY_BAD,
    LEGACY_EITHER,
    LEGACY_OPEN,
    legacy_structures,
    ref_legacy_raw,
)
from hostile.manifests import (  # noqa: F401
    canonical,
    legacy_manifest,
    manifest_rich,
    manifest_servers_only,
    manifest_small,
)
from hostile.plaintexts import (  # noqa: F401
    _HOSTILE_VALUES,
    _JSON_STRING,
    _NOT_BRACKET,
    _SURROGATE,
    _UNKNOWN_KEYS,
    _Bad,
    _constant,
    _depth,
    _ecma_patterns,
    _int,
    _mutate_json,
    _padded_plaintext,
    _pairs,
    _semantics_ok,
    _strings_ok,
    _validator,
    _with,
    hostile_plaintexts,
    product_schema,
    ref_content,
    wrong_type_plaintexts,
)
from hostile.runner import (  # noqa: F401
    _KDF_DEFAULTS,
    KdfGuardError,
    Outcome,
    Runner,
    Stats,
    _main,
    _where,
    capture,
)
from hostile.sealing import (  # noqa: F401
    _REAL_KDF,
    _REAL_SCRYPT,
    armor,
    armor_checksum,
    legacy_key,
    seal_bytes,
    seal_legacy,
)
from hostile.tally import (  # noqa: F401
    _CORPORA,
    Tally,
    _run_chunk,
    _run_scrypt_case,
    corpus_for,
    real_scrypt_cases,
    run_cases,
    run_parallel,
    run_range,
    run_real_scrypt,
)

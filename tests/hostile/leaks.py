"""Recognizable secrets: none may ever appear in htb's output."""

from __future__ import annotations

from testbed_memsearch import memsearch

# --- recognizable secrets: none may ever appear in htb's output --------------------
PASSPHRASE = "quokka lantern mosaic leakpassword fidelity outsmart gurgle"
WRONG_PASSPHRASE = "leakwrongpass mosaic unpaved quokka tundra"
NEW_PASSPHRASE = "leaknewpass velvet sprocket marmot tundra quartz nimbus"
WEAK_PASSPHRASE = "leakweakpass1"
WRITEKEY = "leakwritekey" + "q" * 14  # 26 base32 characters: 16 bytes
FINGERPRINT = "leakfingerprint" + "r" * 37  # 52 base32 characters: 32 bytes
ROOTCAP = f"URI:DIR2:{WRITEKEY}:{FINGERPRINT}"
SHARED_CAP = "URI:DIR2-RO:leakreadonlyb" + "s" * 13 + ":leaksharedfp" + "t" * 40
ONION = "c" * 56 + ".onion"
INTRO_TUBID = "leaktubidintro" + "a" * 18
INTRO_SWISS = "leakswissintro" + "b" * 18
INTRO_FURL = f"pb://{INTRO_TUBID}@tor:{ONION}:3457/{INTRO_SWISS}"
SERVER_TUBID = "leaktubidserver" + "d" * 17
SERVER_SWISS = "leakswissserver" + "e" * 17
SERVER_FURL = f"pb://{SERVER_TUBID}@tor:{ONION}:3458/{SERVER_SWISS}"
NURL_HASH = "leaknurlhash" + "f" * 31
NURL_SWISS = "leaknurlswiss" + "g" * 19
# Tahoe 1.20's form of an onion NURL (schema: $defs/nurl).
NURL = f"pb+tor://{NURL_HASH}@{ONION}:3459/{NURL_SWISS}#v=1"
CLIENT_AUTH_KEY = "LEAKCLIENTAUTHKEY" + "Q" * 35  # 52 characters [A-Z2-7]


# Tahoe's DIR2-RO form of a cap: the test bed's one implementation (it runs on the laptop).
read_only_cap = memsearch.read_only_cap


ROOTCAP_RO = read_only_cap(ROOTCAP)

#: Whole secrets, then the parts that identify them; searched case-insensitively.
SECRETS: tuple[str, ...] = (
    PASSPHRASE,
    WRONG_PASSPHRASE,
    NEW_PASSPHRASE,
    WEAK_PASSPHRASE,
    ROOTCAP,
    ROOTCAP_RO,
    SHARED_CAP,
    INTRO_FURL,
    SERVER_FURL,
    NURL,
    CLIENT_AUTH_KEY,
    WRITEKEY,
    FINGERPRINT,
    ROOTCAP_RO.split(":")[2],
    INTRO_TUBID,
    INTRO_SWISS,
    SERVER_TUBID,
    SERVER_SWISS,
    NURL_HASH,
    NURL_SWISS,
    "leakpassword",
    "leakwrongpass",
    "leaknewpass",
    "leakwritekey",
    "leakfingerprint",
    "leaktubid",
    "leakswiss",
    "leaknurl",
    "leakclientauth",
    "leakreadonly",
    "leakshared",
)


def leaks(text: bytes | str, secrets: tuple[str, ...] = SECRETS) -> list[str]:
    """The secrets (or recognizable parts of them) found in ``text``."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "backslashreplace")
    low = text.lower()
    return [s for s in secrets if s.lower() in low]

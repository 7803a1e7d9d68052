"""The limits and the format, as the design states them (notes/issue13-design.md)."""

from __future__ import annotations

import re
import struct

# --- the limits and format, as the design states them ------------------------------
MAX_INPUT = 4 * 1024 * 1024
MAX_PLAINTEXT = 1024 * 1024
MAGIC = b"HTBM"
PREFIX_LEN = 78
TAG_LEN = 16
HEADER = struct.Struct(">4sBBIQ16s24sI")
ARMOR_BEGIN = b"-----BEGIN HTB SEALED MANIFEST-----"
ARMOR_END = b"-----END HTB SEALED MANIFEST-----"
B64_LINE = re.compile(rb"[A-Za-z0-9+/=]*")
OPS_MAX, MEM_MIN, MEM_MAX, PRODUCT_MAX = 16, 8192, 512 * 1024**2, 2 * 1024**3
TEST_OPS, TEST_MEM = 1, 8192  # htb.manifest.TEST_KDF
BOM = b"\xef\xbb\xbf"

SEALED = (3,)  # exit code of sealed-file problems
CONTENT = (4,)  # exit code of invalid manifest content

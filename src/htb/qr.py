"""The one QR writer: a manifest's armored form as a PNG QR code.

Drawn here for ``htb export --qr``, the app's copy for a friend and the Ansible
module htb_manifest's ``qr_path``: the same text gives the same bytes everywhere.
"""

from __future__ import annotations

import io

import segno

from htb.errors import ManifestInvalidError

QR_TOO_LARGE_HINT = "give the file instead, without --qr"


def qr_png(text: str, *, hint: str = QR_TOO_LARGE_HINT, max_pixels: int | None = None) -> bytes:
    """A QR code (PNG) of ``text``: error correction L, 4 pixels a module, a 4-module border.

    ``max_pixels``: the largest whole number of pixels per module that keeps the
    image within that width (at least 2), for a screen. Too much text for one code
    is a :class:`ManifestInvalidError` ending with ``hint``.
    """
    try:
        code = segno.make(text, error="l", micro=False)
    except segno.DataOverflowError:
        raise ManifestInvalidError(
            f"the manifest is too large for one QR code ({len(text)} characters armored): {hint}"
        ) from None
    scale = 4
    if max_pixels is not None:
        modules = int(code.symbol_size(scale=1, border=4)[0])
        scale = max(2, min(4, max_pixels // modules))
    out = io.BytesIO()
    code.save(out, kind="png", scale=scale, border=4)
    return out.getvalue()

"""The fonts of the statement PDF: an embedded Chinese font, and a fallback for rare characters.

``NotoSansSC-Subset.ttf`` (in ``fonts/``, SIL Open Font License, built by
``scripts/make_cjk_font.py``) holds Latin text, punctuation, the 6,763 Hanzi of GB 2312, some
common name characters beyond it and every character of the Chinese catalogues. reportlab
embeds the glyphs a document uses as a TrueType subset (``FontFile2``), so any viewer shows the
text without fonts of its own, and the text still extracts. A rarer character of the Basic
Multilingual Plane (``䶮``) is set in reportlab's CID font ``STSong-Light``, which viewers with
Adobe's Asian fonts draw; a character beyond it (CJK Extension B and up), which that CID
encoding cannot carry, is shown as ``□``. Nothing is downloaded at run time.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Final
from xml.sax.saxutils import escape

from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfbase.pdfmetrics import registerFont
from reportlab.pdfbase.ttfonts import TTFont

FONT_FILE: Final = Path(__file__).resolve().parent / "fonts" / "NotoSansSC-Subset.ttf"
EMBEDDED_FONT: Final = "NotoSansSC"
FALLBACK_FONT: Final = "STSong-Light"
UNSHOWABLE: Final = "\u25a1"  # □: for a character neither font can carry
BMP_END: Final = 0xFFFF


@functools.cache
def covered_characters() -> frozenset[int]:
    """Register both fonts once per process; the code points the embedded font draws."""
    font = TTFont(EMBEDDED_FONT, str(FONT_FILE))
    registerFont(font)
    registerFont(UnicodeCIDFont(FALLBACK_FONT))
    return frozenset(font.face.charToGlyph)


def markup(text: str) -> str:
    """``text`` escaped for a reportlab ``Paragraph``, rare characters set in the fallback.

    Consecutive characters the embedded font lacks become one ``<font>`` run, so a paragraph
    in the embedded font needs no markup at all in the common case.
    """
    covered = covered_characters()
    parts: list[str] = []
    run: list[str] = []
    for character in text:
        if ord(character) > BMP_END and ord(character) not in covered:
            character = UNSHOWABLE  # noqa: PLW2901 - the glyph drawn in its place
        if ord(character) in covered or character in "\n\t":
            if run:
                parts.append(f'<font name="{FALLBACK_FONT}">{escape("".join(run))}</font>')
                run = []
            parts.append(escape(character))
        else:
            run.append(character)
    if run:
        parts.append(f'<font name="{FALLBACK_FONT}">{escape("".join(run))}</font>')
    return "".join(parts)

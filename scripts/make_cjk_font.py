"""Build the statement PDF's embedded Chinese font: a subset of Noto Sans CJK SC as TrueType.

reportlab embeds TrueType (glyf) fonts only, and Noto Sans CJK ships CFF outlines, so this
script subsets the font to the characters a statement needs and converts the outlines to
quadratic curves. It is run by a developer when the character set changes, never at run time::

    python -m venv /tmp/ft && /tmp/ft/bin/pip install fonttools
    apt-get install fonts-noto-cjk
    /tmp/ft/bin/python scripts/make_cjk_font.py \
        /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc \
        src/bankmall/banking/fonts/NotoSansSC-Subset.ttf

Characters: printable ASCII and Latin-1, general punctuation, CJK symbols and punctuation,
full-width forms, every Hanzi of GB 2312 (levels 1 and 2: 6,763 characters, which covers the
characters of everyday names and addresses) and every character of the project's Chinese
translation catalogues, plus a few name characters outside GB 2312 (``NAME_CHARACTERS``).
Anything else falls back to reportlab's CID font at render time.
"""

from __future__ import annotations

import sys
from pathlib import Path

from fontTools import subset
from fontTools.pens.cu2quPen import Cu2QuPen
from fontTools.pens.ttGlyphPen import TTGlyphPen
from fontTools.ttLib import TTCollection, TTFont, newTable

FAMILY = "Noto Sans CJK SC"
# Characters outside GB 2312 that are common in given names (GBK / Unicode only).
NAME_CHARACTERS = "喆堃珺玥昇淼犇祎琤赟玹琬昱晞婧旻钰瑄炜烜"
MAX_ERROR = 1.0  # font units: the quadratic approximation stays within one unit


def gb2312_characters() -> set[str]:
    characters = set()
    for high in [*range(0xA1, 0xAA), *range(0xB0, 0xF8)]:  # symbols, Hanzi levels 1 and 2
        for low in range(0xA1, 0xFF):
            try:
                characters.add(bytes([high, low]).decode("gb2312"))
            except UnicodeDecodeError:
                continue
    return characters


def catalogue_characters(root: Path) -> set[str]:
    characters: set[str] = set()
    for po in root.glob("src/bankmall/*/locale/zh_Hans/LC_MESSAGES/django.po"):
        characters.update(po.read_text(encoding="utf-8"))
    return characters


def wanted_characters(root: Path) -> set[str]:
    ranges = [
        (0x20, 0x7E),
        (0xA0, 0xFF),
        (0x2000, 0x206F),
        (0x20A0, 0x20BF),
        (0x2190, 0x21FF),
        (0x2212, 0x2212),
        (0x3000, 0x303F),
        (0xFF01, 0xFF65),
    ]
    characters = {chr(code) for start, end in ranges for code in range(start, end + 1)}
    return characters | gb2312_characters() | catalogue_characters(root) | set(NAME_CHARACTERS)


def simplified_face(path: Path) -> TTFont:
    for font in TTCollection(str(path)).fonts:
        if font["name"].getDebugName(1) == FAMILY:
            return font
    raise SystemExit(f"{FAMILY} is not in {path}")


def cff_to_glyf(font: TTFont) -> None:
    """Replace CFF outlines by TrueType ones (the fontTools otf2ttf recipe)."""
    glyph_order = font.getGlyphOrder()
    glyph_set = font.getGlyphSet()
    glyphs = {}
    for name in glyph_order:
        pen = TTGlyphPen(glyph_set)
        glyph_set[name].draw(Cu2QuPen(pen, MAX_ERROR, reverse_direction=True))
        glyphs[name] = pen.glyph()
    font["loca"] = newTable("loca")
    font["glyf"] = glyf = newTable("glyf")
    glyf.glyphOrder = glyph_order
    glyf.glyphs = glyphs
    del font["CFF "]
    if "VORG" in font:
        del font["VORG"]
    glyf.compile(font)
    font["maxp"] = maxp = newTable("maxp")
    maxp.tableVersion = 0x00010000
    maxp.maxZones = 1
    maxp.maxTwilightPoints = maxp.maxStorage = maxp.maxFunctionDefs = 0
    maxp.maxInstructionDefs = maxp.maxStackElements = maxp.maxSizeOfInstructions = 0
    maxp.maxComponentElements = max(
        len(g.components if hasattr(g, "components") else []) for g in glyphs.values()
    )
    maxp.compile(font)
    post = font["post"]
    post.formatType = 2.0
    post.extraNames = []
    post.mapping = {}
    post.glyphOrder = glyph_order
    font.sfntVersion = "\000\001\000\000"


def main(source: str, target: str) -> None:
    root = Path(__file__).resolve().parent.parent
    font = simplified_face(Path(source))
    options = subset.Options()
    options.layout_features = []  # statements need no OpenType shaping
    options.name_IDs = [0, 1, 2, 3, 4, 5, 6, 13, 14]
    options.notdef_outline = True
    options.hinting = False
    options.desubroutinize = True
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=[ord(c) for c in wanted_characters(root)])
    subsetter.subset(font)
    cff_to_glyf(font)
    for table in ("GSUB", "GPOS", "GDEF", "BASE", "vhea", "vmtx"):
        if table in font:
            del font[table]
    font.save(target)
    covered = len(font.getBestCmap())
    sys.stdout.write(f"{target}: {covered} characters, {Path(target).stat().st_size:,} bytes\n")


if __name__ == "__main__":
    main(*sys.argv[1:3])

"""Finding a font that has Chinese characters, and saying so clearly when there is none."""

from __future__ import annotations

import warnings
from functools import cache

# Families that carry CJK glyphs, most common on Linux first.
CJK_FAMILIES = (
    "WenQuanYi Micro Hei",
    "WenQuanYi Zen Hei",
    "Noto Sans CJK SC",
    "Noto Sans CJK JP",
    "Noto Serif CJK SC",
    "Source Han Sans SC",
    "Source Han Sans CN",
    "Droid Sans Fallback",
    "AR PL UMing CN",
    "AR PL UKai CN",
    "SimHei",
    "Microsoft YaHei",
    "PingFang SC",
    "Heiti SC",
    "Hiragino Sans GB",
)
INSTALL_HINT = (
    "install a CJK font, e.g. Debian's fonts-wqy-microhei or fonts-noto-cjk "
    "(apt-get install fonts-wqy-microhei)"
)


class CJKFontWarning(UserWarning):
    """Chinese labels cannot be drawn with the installed fonts."""


def has_cjk(text: str) -> bool:
    return any(
        "\u2e80" <= ch <= "\u9fff"
        or "\uf900" <= ch <= "\ufaff"
        or "\u3000" <= ch <= "\u303f"
        or "\uff00" <= ch <= "\uffef"
        for ch in text
    )


@cache
def find_cjk_font() -> str | None:
    """The family name of an installed CJK font, or None."""
    found = _cjk_family()
    if found is None and _add_new_system_fonts():
        found = _cjk_family()
    return found


def _cjk_family() -> str | None:
    from matplotlib import font_manager

    installed = {f.name for f in font_manager.fontManager.ttflist}
    for family in CJK_FAMILIES:
        if family in installed:
            return family
    for name in sorted(installed):  # any other family that says it is CJK
        if "CJK" in name or "Han" in name.split():
            return name
    return None


def _add_new_system_fonts() -> bool:
    """Fonts installed after matplotlib built its font cache (apt-get install
    fonts-wqy-microhei after pip install matplotlib) stay unknown to it until the cache is
    deleted: add them. True when any was added."""
    from matplotlib import font_manager

    known = {f.fname for f in font_manager.fontManager.ttflist}
    added = False
    for path in font_manager.findSystemFonts():
        if path not in known:
            try:
                font_manager.fontManager.addfont(path)
            except (OSError, RuntimeError, ValueError):  # a broken font file: skip it
                continue
            added = True
    return added


def families(cjk: str | None) -> list[str]:
    """Font families for labels and titles, in fallback order: matplotlib's own sans-serif
    first (it has ᵀ, √, ·, which CJK fonts such as WenQuanYi lack and would draw as boxes),
    then the CJK font for the characters it lacks."""
    from matplotlib import rcParams

    base = list(rcParams["font.sans-serif"])[:1] or ["DejaVu Sans"]
    return base + ([cjk] if cjk else [])


def codepoints(text: str) -> str:
    """笔 -> U+7B14: what a label shows when no font can draw it (never an empty box)."""
    return "".join(f"U+{ord(ch):04X}" if has_cjk(ch) else ch for ch in text)


def label_fonts(labels: list[str]) -> tuple[list[str], str | None]:
    """(labels to draw, font family to draw them with); warns once when CJK cannot be drawn."""
    if not any(has_cjk(t) for t in labels):
        return labels, None
    family = find_cjk_font()
    if family is not None:
        return labels, family
    warnings.warn(
        f"no CJK font found: Chinese labels are shown as code points; {INSTALL_HINT}",
        CJKFontWarning,
        stacklevel=3,
    )
    return [codepoints(t) for t in labels], None

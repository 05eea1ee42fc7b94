"""What the generated PDFs share (case archive summaries, return labels): one CJK font, found once, registered
with ReportLab and embedded (subset) in every PDF, so Chinese prints the same everywhere."""

from __future__ import annotations

import os
import shutil
import subprocess
from functools import lru_cache
from pathlib import Path

from .errors import Explained
from .i18n import N_

# TrueType-outline CJK fonts (ReportLab embeds TrueType, not CFF): the Debian package scripts/setup installs first.
FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/arphic/uming.ttc",
)
# Looked up through fontconfig when none of the files above is there.
FONT_FAMILIES = ("WenQuanYi Micro Hei", "WenQuanYi Zen Hei", "AR PL UMing CN")
FONT = "ReturnflowCJK"
ENV = "RETURNFLOW_PDF_FONT"


@lru_cache(maxsize=1)
def font_path() -> Path:
    """The CJK font file: $RETURNFLOW_PDF_FONT, else a known file, else what fontconfig finds."""
    configured = os.environ.get(ENV)
    for candidate in ([configured] if configured else []) + list(FONT_CANDIDATES):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    if shutil.which("fc-match"):
        for family in FONT_FAMILIES:
            found = subprocess.run(["fc-match", "-f", "%{file}\n%{family}", f"{family}:lang=zh-cn"],
                                   capture_output=True, text=True, timeout=10).stdout.split("\n", 1)
            if len(found) == 2 and family.split()[0].lower() in found[1].lower() and Path(found[0]).is_file():
                return Path(found[0])
    raise Explained("font", N_("no Chinese font to embed in the PDF: install fonts-wqy-microhei (scripts/setup "
                               "does) or set {variable} to a TrueType font file"), variable=ENV,
                    code="pdf_font_missing", status=503)


@lru_cache(maxsize=1)
def cjk_font() -> str:
    """Registers the CJK font with ReportLab (once) and returns its name."""
    from reportlab.pdfbase import pdfmetrics  # loaded when a PDF is made (see logistics/labels.py)
    from reportlab.pdfbase.ttfonts import TTFont

    path = font_path()
    kwargs = {"subfontIndex": 0} if path.suffix.lower() == ".ttc" else {}
    pdfmetrics.registerFont(TTFont(FONT, str(path), **kwargs))
    return FONT

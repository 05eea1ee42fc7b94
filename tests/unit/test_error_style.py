"""One error style: refusals carry an English msgid of the catalogs (with placeholders) and, where they have one,
an area code — never an English text beside a Chinese one, which other languages cannot read. This counts, from the
source, refusals written as (English, Chinese) pairs and places that choose a text by comparing the reader's
language with zh-CN: there are none (issue 19: a language is added as catalogs, with no code change)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "returnflow"

# Raised with two texts side by side: Explained(field, en, zh) and the classes built on it.
PAIR_CLASSES = {"Explained", "Refused", "SetupError", "PolicyError", "EvidenceRefused"}
MAX_PAIRS = 0  # Explained(field, en, zh) no longer exists


def pairs() -> list[str]:
    found = []
    for path in sorted(SRC.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", None)
            if name not in PAIR_CLASSES:
                continue
            texts = [a for a in node.args if isinstance(a, (ast.Constant, ast.JoinedStr, ast.BinOp))]
            if len(texts) >= 3 or any(k.arg == "zh" for k in node.keywords):
                found.append(f"{path.relative_to(SRC)}:{node.lineno}")
    return found


def test_no_refusal_is_written_as_an_english_and_chinese_pair_any_more_than_before():
    found = pairs()
    assert len(found) <= MAX_PAIRS, "\n".join(found)


# Choosing a text by `locale == "zh-CN"` gives every other language English (or Simplified Chinese): texts come from
# the catalogs (gettext, i18n.every/pick) instead.
MAX_ZH_CHOICES = 0


def zh_choices() -> list[str]:
    found = []
    for path in sorted(SRC.rglob("*.py")):
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if re.search(r'==\s*"zh-CN"|"zh-CN"\s*==|!=\s*"zh-CN"|\.startswith\("zh"\)', line):
                found.append(f"{path.relative_to(SRC)}:{n}")
    return found


def test_no_more_texts_are_chosen_by_comparing_the_language_with_zh_cn_than_before():
    found = zh_choices()
    assert len(found) <= MAX_ZH_CHOICES, "\n".join(found)

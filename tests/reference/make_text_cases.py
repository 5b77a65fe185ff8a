"""Expected results of the Python `str` operations lm-eval's task formatters use — capitalize(),
strip(), rstrip(), len() — computed by CPython itself, and of lm-eval's HellaSwag preprocess (its
own function, imported from the installed package), for lowbit's evaluation/python_text.

Usage: make_text_cases.py OUT.json
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _require import require  # noqa: E402

CASES = [
    "hello World", "HELLO WORLD", "élan VITAL", "Ängstrom ÖL", "ÉCOLE normale", "mIxEd CaSe 123",
    "ĀĒĪŌŪ ŁÓDŹ", "ΑΘΗΝΑ Πόλη", "МОСКВА москва", "ÿes", "  spaced  ", "\u00a0nbsp\u2003em\u3000ideo ",
    "\ttabs\n\r", "", "x", "İstanbul", "straße", "emoji 😀 ok", "[title] Bracket [step] text  two  spaces",
    "Removing ice from car: Then, the man writes over the snow covering the window of a car. [header] How",
    "[unclosed bracket text", "a [b\nc] d",
]


def main():
    hellaswag = require("lm_eval.tasks.hellaswag.utils")
    out = []
    for s in CASES:
        case = {"text": s, "len": len(s), "strip": s.strip(), "rstrip": s.rstrip(),
                "hellaswag": hellaswag.preprocess(s)}
        try:
            c = s.capitalize()
            # lowbit maps one code point to one; Python's multi-character mappings are refused there.
            case["capitalize"] = c if len(c) == len(s) else None
        except Exception:  # noqa: BLE001
            case["capitalize"] = None
        out.append(case)
    os.makedirs(os.path.dirname(os.path.abspath(sys.argv[1])), exist_ok=True)
    json.dump({"cases": out}, open(sys.argv[1], "w", encoding="utf-8"), ensure_ascii=False, indent=1)
    print(f"{len(out)} text cases")


if __name__ == "__main__":
    main()

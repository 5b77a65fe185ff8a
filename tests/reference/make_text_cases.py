"""Expected results of the Python `str` operations lm-eval's task formatters use — capitalize(),
strip(), rstrip(), len() — computed by CPython itself, and of lm-eval's HellaSwag preprocess (its
own function, imported from the installed package), for lowbit's evaluation/python_text.
Also the operations lmms-eval's scorers use — lower(), len(upper()), split(), float() — on every
code point Python case-maps, every decimal digit, the final-sigma contexts of every character the
rule looks at, and float()'s edge cases ("scoring" entries).

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


FLOATS = [
    "12", " 12 ", "12\n", "-3.5", "+.5", "5.", ".", "1e3", "1E-3", "1e", "1e+", "1_000", "1__0", "_1", "1_",
    "1_.5", "1._5", "1e1_0", "0x10", "inf", "-Infinity", "INFINITY", "infinit", "nan", "-NaN", "nan(1)",
    "1e500", "-1e500", "1e-400", "2.5e-324", "0.1", "12%", "1,000", "$5", "", "   ", "1 2", "٣٫٥", "١٢",
    "\u00a012\u3000", "\x1c5", "\u0d6a\u0d66", "𝟙𝟚", "12\x85", "1.7976931348623157e308", "9" * 400,
    "0." + "0" * 350 + "1", "00012", "-0", "3.14159265358979323846264338327950288",
]


def scoring_cases():
    """lower / len(upper) / split / float / capitalize of strings that reach every table entry."""
    texts = list(CASES)
    cased = [c for c in range(0x110000) if not 0xD800 <= c < 0xE000 and (chr(c).lower() != chr(c)
                                                                        or chr(c).upper() != chr(c))]
    for i in range(0, len(cased), 64):
        texts.append("".join(chr(c) for c in cased[i:i + 64]))
    texts += [chr(c) + "xY" for c in cased]  # each as a first character: capitalize() title-cases it
    # Final sigma: Σ after and before every character the rule may skip or stop at.
    probe = [c for c in range(0x110000) if not 0xD800 <= c < 0xE000 and c != 0x3A3 and (
        ("A" + chr(c) + "\u03a3").lower() != "a" + chr(c).lower() + "\u03c3")]
    for i in range(0, len(probe), 16):
        chunk = probe[i:i + 16]
        texts.append(" ".join(f"A{chr(c)}\u03a3 \u03a3{chr(c)}A {chr(c)}\u03a3 A\u03a3{chr(c)}" for c in chunk))
    texts += ["ΟΔΥΣΣΕΥΣ", "Σ", "ΑΣ", "ΑΣ.", "ΑΣ'Α", "Α'Σ", "ΑΣ\u0301", "ΑΣΑ", "İİ", "ß ŉ ǰ ΐ ﬃ"]
    digits = [c for c in range(0x110000) if not 0xD800 <= c < 0xE000 and chr(c).isdecimal()]
    floats = list(FLOATS) + ["".join(chr(c) for c in digits[i:i + 10]) for i in range(0, len(digits), 10)]
    out = []
    for t in texts + floats:
        try:
            f = float(t)
            value = repr(f)  # exact round trip of the double ("nan", "inf", "-0.0" included)
        except ValueError:
            value = None
        cap = t.capitalize()
        out.append({"text": t, "lower": t.lower(), "upper_len": len(t.upper()), "split": t.split(), "float": value,
                    "capitalize": cap if len(cap) == len(t) else None})
    return out


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
    scoring = scoring_cases()
    json.dump({"cases": out, "scoring": scoring}, open(sys.argv[1], "w", encoding="utf-8"), ensure_ascii=False,
              indent=1)
    print(f"{len(out)} text cases, {len(scoring)} scoring-operation cases")


if __name__ == "__main__":
    main()

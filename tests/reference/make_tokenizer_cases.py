"""Writes tokenizer reference cases from the Hugging Face `tokenizers` package.

Usage: make_tokenizer_cases.py TOKENIZER_JSON OUT_DIR
OUT_DIR/cases.json          {"tokenizer": path, "cases": [{"text", "ids", "decoded", "pieces"}...]}
                            ids = Tokenizer.encode(text).ids (post-processor applied),
                            decoded = decode(ids, skip_special_tokens=False),
                            pieces = [decode([id]) for each id] (partial UTF-8 -> U+FFFD)
OUT_DIR/bos/tokenizer.json  the same tokenizer with a Llama-3.1-style post-processor
                            (Sequence[ByteLevel, TemplateProcessing] putting <|begin_of_text|> first)
OUT_DIR/bos/cases.json      cases for that variant
OUT_DIR/gpt2style/...       the same vocabulary with GPT-2-style pre-tokenization (ByteLevel: its own
                            regex and add_prefix_space)
OUT_DIR/big.txt, big.ids    a multi-megabyte text and its ids (int32 little endian)
"""
import json
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _require import require  # noqa: E402

tokenizers = require("tokenizers")

PROSE = [
    "The quick brown fox jumps over the lazy dog.",
    "It was the best of times, it was the worst of times, it was the age of wisdom.",
    "Quantization maps each weight to one of 2^b levels; GPTQ corrects the error column by column.",
    "Call me Ishmael. Some years ago—never mind how long precisely—having little or no money in my purse...",
    "\"Hello,\" she said. 'Goodbye,' he replied; (parenthetical) [bracketed] {braced}!",
    "Mr. O'Neil's dog isn't here; the Smiths' car is.",
    "Dr. Smith earned $1,234.56 on 2024-04-22 at 10:30am (UTC+02:00).",
    "e-mail: someone@example.com, web: https://example.org/path?q=1&r=two#frag",
    "   leading spaces and trailing spaces   ",
    "Tabs\tbetween\twords\tand\ttrailing tab\t",
    "ALL CAPS SENTENCE WITH NUMBERS 12345 AND SYMBOLS !@#$%^&*()",
    "mIxEd CaSe WoRdS aNd sHoUtInG",
    "Hello, world!",
    "a",
    "",
    " ",
    "Perplexity on WikiText2 rose from 6.1 to 8.2 at 3 bits; ARC-e fell 2.5 points.",
    "The model has 8,030,261,248 parameters (≈8.0B) and 32 layers × 32 heads.",
    "Line one.\nLine two.\n\nParagraph two.\n\n\n",
    " = Valkyria Chronicles III = \n \n Senjō no Valkyria 3 : Unrecorded Chronicles ( Japanese : 戦場のヴァルキュリア3 , lit . Valkyria of the Battlefield 3 ) , commonly referred to as Valkyria Chronicles III outside Japan , is a tactical role @-@ playing video game .",
]
CODE = [
    "def f(x):\n    return x ** 2  # square\n",
    "for (int i = 0; i < n; ++i) {\n\tsum += a[i] * b[i];\n}\n",
    "#include <vector>\nint main() { std::vector<int> v{1,2,3}; return v.size(); }",
    "{\"key\": [1, 2.5, null, true], \"nested\": {\"a\": \"b\"}}",
    "SELECT name, COUNT(*) FROM users WHERE age >= 18 GROUP BY name;",
    "$ mpirun -np 4 lowbit quantize configs/llama3-8b.yaml method.bits=3 2>&1 | tee log.txt",
    "x = [i for i in range(10) if i % 2 == 0]\nprint(f\"{x!r:>10}\")",
    "    if (a&&b||!c) { return a->b.c[0]; }  // comment\r\n",
    "<html><body class=\"main\">&nbsp;&lt;tag&gt;</body></html>",
    "fn main() -> Result<(), Box<dyn Error>> { let s: &'static str = \"hi\"; Ok(()) }",
    "    \n        \n    deeply_indented_code()\n",
    "lambda: (yield from gen())  ;;  ~/path/to/file.txt  C:\\Windows\\System32",
]
NUMBERS = ["0", "7", "42", "123", "1234", "12345", "123456", "1234567", "12345678901234567890", "3.14159",
           "-0.001", "1e-10", "6.02214076e23", "1,000,000", "1 000 000", "0x1F 0b1010 0o777", "2024-05-01",
           "+1 (555) 123-4567", "99.9%", "1/2 3/4", "v1.2.3-rc4", "１２３４５", "٣٤٥", "१२३", "Ⅻ ⅷ", "²³¹"]
WHITESPACE = [" " * n for n in range(1, 9)] + ["\t" * n for n in (1, 2, 5)] + [
    "a  b", "a   b", "a    b", "a \n b", "a\n\nb", "a\n \n b", "\n", "\n\n", "\n\n\n\n", " \n", "\n ", " \n ",
    "word   \n   word", "x\t \t y", "trailing   ", "   leading", "a\u00a0b", "a\u3000b", "a\u2003b",
    "\u00a0\u00a0", "a \u00a0 b", "\f\v", "a\u2028b\u2029c", "a\u0085b", "  \t\n  \r\n ",
]
CRLF = ["line1\r\nline2\r\n", "\r\n", "\r\n\r\n", "a\rb", "\r", "text\r\n\r\n\r\nmore", " \r\n ", "x \r\n y",
        "end.\r\n", "\r\n  indented\r\n", "a\n\rb", "1\r\n2\r\n3"]
CONTRACTIONS = []
for word, suffix in [("I", "m"), ("you", "re"), ("we", "ve"), ("they", "ll"), ("she", "d"), ("it", "s"),
                     ("don", "t"), ("he", "ll"), ("could", "ve")]:
    for s in sorted({suffix, suffix.upper(), suffix.capitalize()}):
        CONTRACTIONS.append(f"{word}'{s}")
        CONTRACTIONS.append(f"{word.upper()}'{s} here")
CONTRACTIONS += ["'s", "'S", "''s", "rock 'n' roll", "'tis", "o'clock", "L'homme", "rock'N'roll", "it's'", "’s curly", "x'ſ", "'K'"]
ACCENTS = ["café", "naïve résumé", "Ångström", "e\u0301", "Tiếng Việt có dấu", "Straße", "zażółć gęślą jaźń",
           "İstanbul ıi", "Ça va? Où ça?", "ñandú pingüino", "Ærøskøbing", "Đà Nẵng", "crème brûlée", "ﬁnance ﬂow"]
SCRIPTS = ["你好，世界！", "我爱自然语言处理。量化模型很有趣。", "日本語のテキストとカタカナとひらがな", "한국어 문장입니다.",
           "مرحبا بالعالم", "النص العربي مع أرقام 123", "שלום עולם", "नमस्ते दुनिया", "สวัสดีชาวโลก",
           "Привет, мир! Ёжик", "Γειά σου Κόσμε", "Բարեւ աշխարհ", "ሰላም ዓለም", "ᐊᐃᓐᖓᐃ", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝕞𝕒𝕥𝕙",
           "中文English混合123テスト", "漢字ｶﾀｶﾅ", "\U00020000\U0002a6d6"]
EMOJI = ["👍", "👍🏽", "👨‍👩‍👧‍👦", "🇫🇷🇯🇵", "❤️", "I ❤ NY", "😂😂😂", "emoji at end 🎉", "🤖: beep", "⚡️🔥💯",
         "☃", "✓ done ✗ failed", "→ ← ↑ ↓", "©®™", "½ ¼", "…", "—–-"]
SPECIAL = ["<|begin_of_text|>Hello", "a<|end_of_text|>b", "<|eot_id|>",
           "<|start_header_id|>user<|end_header_id|>\n\nHi there<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
           "<|begin_of_tex", "<|reserved_special_token_5|>", "<<|eot_id|>>", " <|eot_id|> ", "<|eot_id|><|eot_id|>",
           "text <|begin_of_text|> text", "<|begin_of_text|>", "|<|end_of_text|>|", "<|finetune_right_pad_id|>x",
           "<|python_tag|>print(1)<|eom_id|>"]
CONTROL = ["\x00", "a\x00b", "\x1b[31mred\x1b[0m", "zero\u200bwidth", "\ufeffBOM", "\U0010FFFF", "\ue000private",
           "\x7f", "\x01\x02\x03", "tab\x0bvt"]


def random_texts(rng, pools, n):
    out = []
    flat = [t for pool in pools for t in pool if t]
    for _ in range(n):
        k = rng.randint(2, 6)
        seps = ["", " ", "  ", "\n", "\r\n", "\t", " \n "]
        out.append("".join(rng.choice(flat) + rng.choice(seps) for _ in range(k)))
    return out


def all_texts():
    pools = [PROSE, CODE, NUMBERS, WHITESPACE, CRLF, CONTRACTIONS, ACCENTS, SCRIPTS, EMOJI, SPECIAL, CONTROL]
    texts = [t for pool in pools for t in pool]
    texts += random_texts(random.Random(20240422), pools, 160)
    seen, unique = set(), []
    for t in texts:
        if t not in seen:
            seen.add(t)
            unique.append(t)
    return unique


def cases_for(tok, texts):
    cases = []
    for t in texts:
        ids = tok.encode(t).ids
        cases.append({"text": t, "ids": ids, "decoded": tok.decode(ids, skip_special_tokens=False),
                      "pieces": [tok.decode([i], skip_special_tokens=False) for i in ids]})
    return cases


def write_variant(out, name, spec, texts):
    """OUT/name/tokenizer.json from `spec`, and OUT/name/cases.json from `tokenizers` loading it."""
    os.makedirs(os.path.join(out, name), exist_ok=True)
    path = os.path.join(out, name, "tokenizer.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(spec, f, ensure_ascii=False)
    tok = tokenizers.Tokenizer.from_file(path)
    with open(os.path.join(out, name, "cases.json"), "w", encoding="utf-8") as f:
        json.dump({"tokenizer": path, "cases": cases_for(tok, texts)}, f, ensure_ascii=False)


def big_text(texts, rng):
    words = [w for t in texts for w in t.split(" ") if w]
    parts, size = [], 0
    while size < 3_000_000:
        if rng.random() < 0.1:
            s = rng.choice(texts)
        else:
            s = " ".join(rng.choice(words) for _ in range(rng.randint(5, 40))) + rng.choice([". ", ".\n", "\n\n", "; "])
        parts.append(s)
        size += len(s.encode("utf-8"))
    return "".join(parts)


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    src, out = sys.argv[1], sys.argv[2]
    if not os.path.isfile(src):
        sys.exit(f"{src}: the Llama 3 tokenizer fixture is not there; configure with "
                 f"-DLOWBIT_SHARED_DIR=<the team's shared/ folder>")
    os.makedirs(out, exist_ok=True)
    tok = tokenizers.Tokenizer.from_file(src)
    texts = all_texts()
    with open(os.path.join(out, "cases.json"), "w", encoding="utf-8") as f:
        json.dump({"tokenizer": os.path.abspath(src), "tokenizers_version": tokenizers.__version__,
                   "cases": cases_for(tok, texts)}, f, ensure_ascii=False)

    # Llama-3.1-style post-processor adding <|begin_of_text|>.
    spec = json.load(open(src, encoding="utf-8"))
    bos = "<|begin_of_text|>"
    bos_id = tok.token_to_id(bos)
    spec["post_processor"] = {"type": "Sequence", "processors": [
        {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True},
        {"type": "TemplateProcessing",
         "single": [{"SpecialToken": {"id": bos, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
         "pair": [{"SpecialToken": {"id": bos, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                  {"SpecialToken": {"id": bos, "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
         "special_tokens": {bos: {"id": bos, "ids": [bos_id], "tokens": [bos]}}}]}
    write_variant(out, "bos", spec, texts[:40])

    # GPT-2-style pre-tokenization (ByteLevel with its own regex and a prefix space) on the same vocab.
    spec["pre_tokenizer"] = {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True}
    spec["post_processor"] = {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True}
    write_variant(out, "gpt2style", spec, texts[:120])

    text = big_text(texts, random.Random(7))
    with open(os.path.join(out, "big.txt"), "w", encoding="utf-8", newline="") as f:
        f.write(text)
    ids = tok.encode(text).ids
    import array
    arr = array.array("i", ids)
    if sys.byteorder != "little":
        arr.byteswap()
    with open(os.path.join(out, "big.ids"), "wb") as f:
        arr.tofile(f)
    print(f"{len(texts)} texts, big text {len(text.encode('utf-8'))} bytes -> {len(ids)} ids "
          f"(tokenizers {tokenizers.__version__})")


if __name__ == "__main__":
    main()

"""Expected calibration windows from CPython's `random` and Hugging Face `tokenizers`, drawn the way
the reference loaders draw them (METHODS.md §2; IST-DASLab/gptq datautils), on the tiny corpus.

Usage: make_calibration_cases.py TOKENIZER_JSON TRAIN_TXT OUT_DIR
OUT_DIR/random.json       CPython random: randint sequences and getrandbits for several seeds
OUT_DIR/docs.json.gz      the training split's documents as gzip JSON Lines ({"text": ...})
OUT_DIR/calibration.json  stream windows (seed 0 and 2, 16 x 256 of the joined split) and document
                          windows (seed 0, 8 x 128 from docs.json.gz): starts, documents and ids
"""
import gzip
import json
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _require import require  # noqa: E402

tokenizers = require("tokenizers")


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    tok_path, train, out = sys.argv[1:4]
    os.makedirs(out, exist_ok=True)
    rnd = {}
    for seed in (0, 1, 2, 1234567, 2 ** 40 + 5):
        r = random.Random(seed)
        rnd[str(seed)] = {"randint_0_9": [r.randint(0, 9) for _ in range(50)],
                          "randint_0_1e6": [r.randint(0, 10 ** 6) for _ in range(50)],
                          "randint_5_2pow40": [r.randint(5, 2 ** 40) for _ in range(20)],
                          "getrandbits_64": [str(r.getrandbits(64)) for _ in range(10)]}
    json.dump(rnd, open(os.path.join(out, "random.json"), "w"))

    tok = tokenizers.Tokenizer.from_file(tok_path)
    text = open(train, encoding="utf-8", newline="").read()
    docs = [d for d in text.split("\n\n") if d.strip()]
    with gzip.open(os.path.join(out, "docs.json.gz"), "wt", encoding="utf-8", newline="\n") as f:
        for d in docs:
            f.write(json.dumps({"text": d, "url": "local"}, ensure_ascii=False) + "\n")

    stream = tok.encode("\n\n".join(docs)).ids
    cases = {"stream": {}, "documents": {}}
    for seed in (0, 2):
        random.seed(seed)
        starts = [random.randint(0, len(stream) - 256 - 1) for _ in range(16)]
        cases["stream"][str(seed)] = {"starts": starts, "ids": [stream[s:s + 256] for s in starts]}
    random.seed(0)
    starts, picked, ids = [], [], []
    for _ in range(8):
        while True:
            i = random.randint(0, len(docs) - 1)
            enc = tok.encode(docs[i]).ids
            if len(enc) > 128:  # lowbit skips a document of exactly seq_len tokens (the reference crashes there)
                break
        s = random.randint(0, len(enc) - 128 - 1)
        starts.append(s)
        picked.append(i)
        ids.append(enc[s:s + 128])
    cases["documents"]["0"] = {"starts": starts, "docs": picked, "ids": ids}
    # AWQ's get_calib_dataset (llm-awq utils/calib_data.py) with the shuffle of CPython's random
    # (seed 5): stripped documents of 1..64 tokens (special tokens included, as tokenizer.encode
    # adds them), 12 of them, concatenated and cut into 64-token blocks.
    order = list(range(len(docs)))
    random.Random(5).shuffle(order)
    taken, cat = [], []
    for i in order:
        enc = tok.encode(docs[i].strip()).ids
        if len(enc) > 64 or len(enc) == 0:
            continue
        taken.append(i)
        cat += enc
        if len(taken) == 12:
            break
    n = len(cat) // 64
    cases["blocks"] = {"docs": taken, "ids": [cat[b * 64:(b + 1) * 64] for b in range(n)]}
    json.dump(cases, open(os.path.join(out, "calibration.json"), "w"))
    print(f"{len(docs)} documents, stream of {len(stream)} tokens")


if __name__ == "__main__":
    main()

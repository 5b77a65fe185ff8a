"""Builds a small instruction-tuning set in the Alpaca format from the tiny corpus' dictionary entries,
for lowbit's fine-tuning tests and demo (the study's own data, tatsu-lab/alpaca, needs the Hub:
launch/prepare_data.py fetches it where the Hub is reachable).

Each GCIDE entry of the form "Word, pos. [etymology] (Field) definition. ..." becomes one record, its
instruction one of a few phrasings chosen by a hash of the word:
  {"instruction": "Define the word \"lakelet\".", "input": "", "output": "A little lake."}
  {"instruction": "What does this word mean?", "input": "lakelet", "output": "A little lake."}
  {"instruction": "Give the part of speech of the word below.", "input": "lakelet", "output": "noun"}
The output is the entry's first definition (etymology, field labels, sense numbers and citations
removed), or its part of speech spelled out. Records come from the corpus' train split for
train.json and from its validation split for validation.json, so held-out words were never seen in
training (the small model's pretraining saw the train split's text, not this format).

Usage: prepare_tiny_instructions.py CORPUS_DIR OUT_DIR [--train N] [--validation N]
Writes OUT_DIR/train.json, OUT_DIR/validation.json (JSON arrays) and OUT_DIR/manifest.json.
"""
import argparse
import hashlib
import json
import os
import re

POS = {"n.": "noun", "v. t.": "transitive verb", "v. i.": "intransitive verb", "a.": "adjective",
       "adv.": "adverb", "prep.": "preposition", "conj.": "conjunction", "interj.": "interjection",
       "pron.": "pronoun", "p. p.": "past participle", "p. a.": "participial adjective"}
# "Word, pos. rest": the headword (letters, hyphens, spaces), then a part of speech we can name.
ENTRY = re.compile(r"^([A-Z][A-Za-z\- ]{1,30}), (" + "|".join(re.escape(p) for p in sorted(POS, key=len, reverse=True))
                   + r") (.*)$", re.S)
BRACKETS = re.compile(r"\[[^\]]*\]")
FIELD = re.compile(r"^\((?:[A-Z][A-Za-z. &]*)\)\s*")
SENSE = re.compile(r"^\d+\.\s*")


def first_definition(rest):
    text = rest.split("\n")[0]                      # the first sense
    text = BRACKETS.sub("", text).strip()           # etymology, [Obs.], [Written also ...]
    text = SENSE.sub("", text)
    while FIELD.match(text):
        text = FIELD.sub("", text, count=1)
    text = text.split(" --")[0].split(" -- ")[0]    # citations and derived forms
    text = re.sub(r"\s+", " ", text).strip()
    m = re.match(r"(.+?[.;])(\s|$)", text)           # up to the first sentence end
    text = m.group(1).rstrip(";") + "." if m else text
    text = text.rstrip(".;,") + "."
    if text.startswith("See ") or text.startswith("Same as") or len(text) < 8 or len(text) > 200 or "?" in text:
        return None
    return text


def records(path, limit):
    out = []
    with open(path, encoding="utf-8") as f:
        docs = f.read().split("\n\n")
    for doc in docs:
        m = ENTRY.match(doc.strip())
        if not m:
            continue
        word, pos, rest = m.group(1).strip(), m.group(2), m.group(3)
        definition = first_definition(rest)
        if definition is None:
            continue
        w = word.lower()
        kind = int(hashlib.sha256(w.encode()).hexdigest()[:8], 16) % 5
        if kind in (0, 1):
            out.append({"instruction": f"Define the word \"{w}\".", "input": "", "output": definition})
        elif kind in (2, 3):
            out.append({"instruction": "What does this word mean?", "input": w, "output": definition})
        else:
            out.append({"instruction": "Give the part of speech of the word below.", "input": w, "output": POS[pos]})
        if len(out) == limit:
            break
    return out


def write_if_changed(path, text):
    data = text.encode("utf-8")
    if os.path.exists(path) and open(path, "rb").read() == data:  # unchanged files keep their mtime
        return
    with open(path + ".tmp", "wb") as f:
        f.write(data)
    os.replace(path + ".tmp", path)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("corpus_dir")
    ap.add_argument("out_dir")
    ap.add_argument("--train", type=int, default=4000)
    ap.add_argument("--validation", type=int, default=256)
    a = ap.parse_args()
    os.makedirs(a.out_dir, exist_ok=True)
    manifest = {"source": os.path.abspath(a.corpus_dir), "splits": {}}
    for split, limit in (("train", a.train), ("validation", a.validation)):
        src = os.path.join(a.corpus_dir, f"{split}.txt")
        if not os.path.exists(src):
            raise SystemExit(f"{src}: missing; build the corpus first (launch/prepare_tiny_corpus.py {a.corpus_dir})")
        recs = records(src, limit)
        if len(recs) < limit:
            raise SystemExit(f"{src}: only {len(recs)} dictionary entries usable, {limit} asked")
        text = json.dumps(recs, indent=1, ensure_ascii=False) + "\n"
        write_if_changed(os.path.join(a.out_dir, f"{split}.json"), text)
        manifest["splits"][split] = {"records": len(recs), "sha256": hashlib.sha256(text.encode()).hexdigest()}
    write_if_changed(os.path.join(a.out_dir, "manifest.json"), json.dumps(manifest, indent=2) + "\n")
    print(", ".join(f"{k}: {v['records']} records" for k, v in manifest["splits"].items()), "->", a.out_dir)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Small evaluation data sets in lowbit's layout (docs/evaluation.md), written from the tiny corpus
(dictionary entries and fortunes from Debian packages, split by launch/prepare_tiny_corpus.py), for
the demo and the tests:

  wikitext2/test.txt (the test split as it is), ptb/test.txt (the validation split), a C4-like
  c4/c4-validation.00000-of-00008.json.gz (long and short documents), and piqa, arc_easy,
  arc_challenge, hellaswag, winogrande and mmlu files in the Hugging Face schemas whose documents
  are cut from the corpus's documents (the right continuation against continuations of others).

Usage: launch/prepare_tiny_eval.py CORPUS_DIR OUT_DIR
Deterministic (seeded); a model that learnt the corpus scores above chance on the tasks.
"""
import gzip
import json
import os
import random
import shutil
import sys

DOCS = 40            # documents per multiple-choice task
SUBJECTS = ["abstract_algebra", "high_school_us_history", "miscellaneous", "sociology"]


def corpus_documents(path):
    text = open(path, encoding="utf-8", newline="").read()
    return [" ".join(d.split()) for d in text.split("\n\n") if len(d.split()) >= 8]


def halves(doc):
    words = doc.split()
    k = max(2, len(words) // 2)
    return " ".join(words[:k]), " ".join(words[k:])


def write_jsonl(path, rows, gz=False):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    opener = gzip.open if gz else open
    with opener(path, "wt", encoding="utf-8", newline="\n") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


def make_data(corpus, out):
    rng = random.Random(1234)
    docs = corpus_documents(os.path.join(corpus, "test.txt"))
    val = corpus_documents(os.path.join(corpus, "validation.txt"))
    pick = lambda: rng.choice(docs)  # noqa: E731  (distractors)
    # Each task document's own text comes from a different corpus document: lm-eval reuses one forward for
    # requests whose whole token sequences are equal and then scores one of them with the other's
    # context length (its logits cache), which two task documents cut from one text would trigger.
    own = iter(rng.sample(docs, 5 * DOCS))
    os.makedirs(os.path.join(out, "wikitext2"), exist_ok=True)
    os.makedirs(os.path.join(out, "ptb"), exist_ok=True)
    shutil.copyfile(os.path.join(corpus, "test.txt"), os.path.join(out, "wikitext2", "test.txt"))
    shutil.copyfile(os.path.join(corpus, "validation.txt"), os.path.join(out, "ptb", "test.txt"))
    # C4-like: long documents (groups of corpus documents) and short ones the sampler must skip.
    c4 = []
    for i in range(0, len(val) - 12, 12):
        c4.append({"text": " ".join(val[i:i + 12]), "timestamp": "2019-04-25T12:00:00Z", "url": f"https://example.org/{i}"})
        c4.append({"text": val[i], "timestamp": "2019-04-25T12:00:00Z", "url": f"https://example.org/s{i}"})
    write_jsonl(os.path.join(out, "c4", "c4-validation.00000-of-00008.json.gz"), c4, gz=True)

    piqa, arc, hella, wino = [], [], [], []
    for i in range(DOCS):
        goal, right = halves(next(own))
        _, wrong = halves(pick())
        label = rng.randint(0, 1)
        sols = [right, wrong] if label == 0 else [wrong, right]
        piqa.append({"goal": goal, "sol1": sols[0], "sol2": sols[1], "label": label})

        q, right = halves(next(own))
        choices = [right] + [halves(pick())[1] for _ in range(3)]
        rng.shuffle(choices)
        labels = ["A", "B", "C", "D"] if i % 5 else ["1", "2", "3", "4"]  # ARC has both styles
        arc.append({"id": f"arc-{i}", "question": q + "?", "choices": {"text": choices, "label": labels},
                    "answerKey": labels[choices.index(right)]})

        a, b = halves(next(own))
        b_words = b.split()
        ctx_a = a + (" [title] Step one." if i % 4 == 0 else "")
        ctx_b = (b_words[0].upper() + " " + " ".join(b_words[1:3])) if len(b_words) >= 3 else "then"
        endings = [" ".join(b_words[3:]) or "it ends."] + [halves(pick())[1] for _ in range(3)]
        if i % 3 == 0:
            endings[1] = "[header] " + endings[1] + " [step] more  spaces"
        gold = rng.randint(0, 3)
        endings[0], endings[gold] = endings[gold], endings[0]
        hella.append({"ind": i, "activity_label": a.split()[0].strip(".,;:!?") or "Thing", "ctx_a": ctx_a,
                      "ctx_b": ctx_b, "ctx": ctx_a + " " + ctx_b, "endings": endings, "source_id": f"s{i}",
                      "split": "val", "split_type": "indomain", "label": str(gold)})

        words = next(own).split()
        k = rng.randint(1, len(words) - 2)
        other = rng.choice(pick().split())
        right_word = words[k]
        answer = rng.choice(["1", "2"])
        opts = [right_word, other] if answer == "1" else [other, right_word]
        wino.append({"sentence": " ".join(words[:k] + ["_"] + words[k + 1:]), "option1": opts[0],
                     "option2": opts[1], "answer": answer})
    write_jsonl(os.path.join(out, "piqa", "validation.jsonl"), piqa)
    write_jsonl(os.path.join(out, "arc_easy", "test.jsonl"), arc[: DOCS // 2])
    write_jsonl(os.path.join(out, "arc_challenge", "test.jsonl"), arc[DOCS // 2:])
    write_jsonl(os.path.join(out, "hellaswag", "validation.jsonl"), hella)
    write_jsonl(os.path.join(out, "winogrande", "validation.jsonl"), wino)

    def mmlu_rows(n, subject):
        rows = []
        for _ in range(n):
            q, right = halves(pick())
            choices = [right] + [halves(pick())[1] for _ in range(3)]
            rng.shuffle(choices)
            rows.append({"question": q, "subject": subject, "choices": choices, "answer": choices.index(right)})
        return rows
    write_jsonl(os.path.join(out, "mmlu", "dev.jsonl"), [r for s in SUBJECTS for r in mmlu_rows(5, s)])
    write_jsonl(os.path.join(out, "mmlu", "test.jsonl"), [r for s in SUBJECTS for r in mmlu_rows(6, s)])


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    make_data(sys.argv[1], sys.argv[2])
    print(f"wrote the tiny evaluation data sets to {sys.argv[2]}")


if __name__ == "__main__":
    main()

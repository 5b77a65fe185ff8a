"""lmms-eval's own scoring of synthetic responses for the five visual benchmarks of the study, for
lowbit's evaluation/multimodal_scoring (tests/reference/test_mm_scoring_vs_lmms_eval.cpp).

Each benchmark's responses go through lmms-eval 0.7.3's functions in the order its evaluator runs
them: the raw response, the task's filter (AI2D's MultiChoiceRegexFilter), the strip of
ConfigurableTask.process_results, the task's process_results / metric, then its aggregation.
The cases are built to hit the edge cases: letters with punctuation and articles, numbers with units,
percentages, zero targets, NaN, Unicode digits; ANLS around its 0.5 threshold with several references
and case/whitespace/ß; MME's y/n, "none", "not sure" and incomplete pairs; MMBench circular variants
readable by each rule, unreadable ones (the random letter lmms-eval draws when its GPT judge cannot
be reached: the judge call is replaced by its failure answer, so nothing waits on the network).
Also each task's prompt (its doc_to_text with the default kwargs) on synthetic documents, and the
llava_llama_3 conversation and its token ids: the Llama 3 Instruct chat template applied by
transformers to the real Llama 3 tokenizer, then LLaVA-NeXT's tokenizer_image_token transcribed.
Usage (the oracle venv): .venv-oracles/bin/python make_mm_scoring_cases.py OUT.json LLAMA3_TOKENIZER_DIR
"""
import json
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _require import require  # noqa: E402

loguru = require("loguru")
loguru.logger.remove()  # lmms-eval logs every judge failure; the case file is the output
metrics = require("lmms_eval.api.metrics")
ai2d = require("lmms_eval.tasks.ai2d.utils")
chartqa = require("lmms_eval.tasks.chartqa.utils")
mme = require("lmms_eval.tasks.mme.utils")
mmbench = require("lmms_eval.tasks.mmbench.en_utils")

transformers = require("transformers")
rng = random.Random(20)


def ai2d_cases():
    responses = ["B", "B.", " B. because the arrow", "(B)", "b", "b.", "The answer is B", "B)", "  C.", "A.B", "Answer: B",
                 "É.", "B .", "\u00a0B.", "BB", "", "B\n", "[B]", "B,", "\u201cB\u201d", "D. the sun", "d", "B!?",
                 "Option B", "B: leaf", " (A) ", "a.", "C.D.", "\tD.\n"]
    filt = ai2d.MultiChoiceRegexFilter(regex_pattern=r"([A-Z])\.", group_select=0, ignore_case=True,
                                       ignore_punctuation=True)
    out = []
    for i, resp in enumerate(responses):
        doc = {"question": "Which?", "options": ["sun", "leaf", "root", "water"], "answer": str(i % 4 if i % 3 else 1)}
        gold = ai2d.ai2d_doc_to_target(doc, "mcq")
        filtered = filt.apply([[resp]], [doc])[0]
        score = metrics.exact_match_hf_evaluate(predictions=[filtered.strip()], references=[gold], ignore_case=True,
                                                ignore_punctuation=True)["exact_match"]
        out.append({"response": resp, "gold": gold, "correct": bool(score == 1.0)})
    return out


def chartqa_cases():
    pairs = [("12", "12"), ("12.5", "12"), ("12.6", "12"), ("11.4", "12"), ("11.39", "12"), ("12%", "12"),
             ("12%", "12%"), ("0.12", "12%"), ("0", "0"), ("0.0", "0"), ("1,000", "1000"), ("$5", "5"), ("5 kg", "5"),
             ("Yes", "yes"), ("nan", "nan"), ("inf", "inf"), ("1e3", "1000"), ("1_000", "1000"), ("\u0663", "3"),
             (" 12 ", "12"), ("12", " 12 "), ("-5", "5"), ("1.05e2", "100"), ("95", "100"), ("94.9", "100"),
             ("\u00dcn\u00efcode", "\u00fcN\u00cfCODE"), ("\u039f\u0394\u039f\u03a3", "\u03bf\u03b4\u03bf\u03c2"),
             ("2019", "2019"), ("%", "5"), ("5%%", "0.05"), ("-0", "0"), ("0.049", "-0.05"), ("17.5", "17.50"),
             ("seventeen", "17"), ("17", "seventeen"), ("", ""), ("", "0"), ("1e400", "1e400"), ("2,5", "2.5")]
    out = []
    for k, (pred, target) in enumerate(pairs):
        doc = {"answer": target, "type": "human_test" if k % 2 else "augmented"}
        r = chartqa.chartqa_process_results(doc, [pred.strip()])
        out.append({"response": pred, "target": target, "correct": bool(r["relaxed_overall"] == 1.0)})
    return out


def docvqa_cases():
    base = [(["12 March 1998"], "12 march 1998"), (["12 March 1998"], "12 March 1999"), (["ITC Limited"], "ITC Ltd"),
            (["ITC Limited"], "ITC"), (["abcd"], "abcx"), (["abcd"], "abxy"), (["abcd"], "axyz"),
            (["0.25", "25%", "1/4"], "25 %"), (["Straße"], "STRASSE"), (["straße"], "strasse"), (["  A   b  "], "a b"),
            (["", "x"], ""), ([""], ""), (["yes"], "Yes."), (["Mr. John   Smith", "J. Smith"], "john smith"),
            (["\u039f\u0394\u039f\u03a3"], "οδος"), (["ab"], "a"), (["abcdefghij"], "abcde"), (["abcdefghij"], "abcdef"),
            (["1,234"], "1234"), (["dr. p. h. jones", "p. jones"], " Dr P H Jones "), (["İstanbul"], "istanbul")]
    words = ["total", "sales", "2019", "inc.", "Report", "page", "7", "st", "the", "of"]
    for _ in range(24):
        refs = [" ".join(rng.choice(words) for _ in range(rng.randint(1, 3))) for _ in range(rng.randint(1, 3))]
        pred = rng.choice(refs)
        if rng.random() < 0.7:
            pred = "".join(c for c in pred if rng.random() > 0.2) + rng.choice(["", "s", " x", "."])
        base.append((refs, pred))
    out, scores, any_scores = [], [], []
    for refs, pred in base:
        p = pred.strip()
        score = metrics.anls(references=refs, predictions=[p])["anls"]
        # lmms-eval <= 0.2's ConfigurableTask.process_results: the metric on each reference alone,
        # then 1.0 if any scored.
        any_score = 1.0 if any(metrics.anls(references=[g], predictions=[p])["anls"] for g in refs) else 0.0
        scores.append(score)
        any_scores.append(any_score)
        out.append({"references": refs, "response": pred, "anls": score, "anls_any_reference": any_score})
    return out, metrics.mean(scores), metrics.mean(any_scores)


def mme_cases():
    parse_inputs = ["Yes", "yes.", "No", "no", "Y", "n", "x", "", "Yes, there is", "No.", "none", "not sure", "nope",
                    "Nobody", "It is yes", "yesno", "YES!", "y.", "N.", " no ", "…", "Ye s", "İs", "n o"]
    parsed = [{"response": r, "label": mme.parse_pred_ans(r.strip())} for r in parse_inputs]
    perception, cognition = mme.eval_type_dict["Perception"], mme.eval_type_dict["Cognition"]
    categories = perception[:4] + cognition[:2] + ["OCR", "code_reasoning"]
    items = []
    for ci, cat in enumerate(categories):
        for img in range(rng.randint(2, 5)):
            qid = f"{cat}/{img:03d}.png"
            for answer in ("Yes", "No"):
                items.append({"question_id": qid, "category": cat, "answer": answer,
                              "response": rng.choice(parse_inputs)})
    rng.shuffle(items)  # categories and images interleave; the aggregation keeps first-appearance order
    per_key = {"mme_perception_score": [], "mme_cognition_score": []}
    for it in items:
        r = mme.mme_process_results({"question_id": it["question_id"], "category": it["category"],
                                     "answer": it["answer"]}, [it["response"].strip()])
        for key, value in r.items():
            per_key[key].append(value)
    scores = {key: mme.mme_aggregate_results(v) for key, v in per_key.items()}
    return {"parse": parsed, "items": items, "perception": scores["mme_perception_score"],
            "cognition": scores["mme_cognition_score"]}


def mmbench_cases():
    evaluator = mmbench.mmbench_evaluator
    # The GPT judge unreachable, without the 5 x 3 s waits per attempt: its failure answer at once.
    evaluator.get_chat_response = lambda *args, **kwargs: "Failed to obtain answer via API"
    opts = {"A": "a red apple", "B": "banana", "C": "the cat", "D": "nan"}
    readable = ["A", "B.", "(C)", "D)", "Answer: B", "The answer is C", "A cat is on the mat", "b", "B) banana",
                "I pick :C", "the cat", "a red apple", "A B", "(A).", "C,", "It is banana", "E", "A A"]
    unreadable = ["I don't know", "", "none of these", "Failed to obtain answer via API", "apple or cat", "banana nan"]
    infer = []
    for resp in readable + unreadable:
        choices = {k: v for k, v in opts.items()}
        got = evaluator.can_infer(resp, dict(choices))
        infer.append({"response": resp, "options": [opts[c] for c in "ABCD"] + [None], "letter": got or None})
    results = []
    for q in range(40):
        gold = "ABCD"[rng.randint(0, 3)]
        n_opts = rng.choice([2, 3, 4, 4])
        options = [f"option {q}-{k}" for k in range(n_opts)] + [None] * (5 - n_opts)
        if q % 7 == 3:
            options[3] = "nan"  # as the dataset's missing options can read
        for v in range(rng.choice([1, 2, 4])):
            index = q + v * 1_000_000
            r = rng.random()
            resp = (gold if r < 0.55 else rng.choice("ABCD") + rng.choice(["", ".", ")"]) if r < 0.75
                    else rng.choice(unreadable))
            doc = {"index": index, "question": f"q{q}", "answer": gold, "hint": None, "source": "s", "split": "dev",
                   "category": ["ocr", "celebrity", "spatial"][q % 3], "L2-category": "x"}
            for k, c in enumerate("ABCDE"):
                doc[c] = options[k]
            results.append(mmbench.mmbench_process_results(doc, [resp])["gpt_eval_score"])
    order = list(range(len(results)))
    rng.shuffle(order)  # eval_result sorts by index itself
    results = [results[i] for i in order]
    draws = []
    randint = random.randint  # eval_result draws from the module-level generator it seeds (rd.seed(2680))

    def counted_randint(a, b):
        draws.append((a, b))
        return randint(a, b)

    random.randint = counted_randint
    try:
        overall, category, _ = evaluator.eval_result(list(results), "openai")
    finally:
        random.randint = randint
    items = [{"index": r["index"], "answer": r["answer"], "response": r["prediction"], "category": r["category"],
              "options": [r[c] for c in "ABCDE"]} for r in results]
    assert draws and all(d == (0, 4) for d in draws), draws
    return {"infer": infer, "items": items, "accuracy": overall * 100, "judged_randomly": len(draws),
            "categories": {k: v for k, v in category.items()}}


def prompt_cases():
    import yaml  # noqa: F401  (lmms-eval's task modules read their YAML with it)
    docvqa_utils = require("lmms_eval.tasks.docvqa.utils")
    kw = {"pre_prompt": "", "post_prompt": "\nAnswer with the option's letter from the given choices directly.",
          "prompt_format": "mcq"}
    out = []
    for q, opts in [("Which part absorbs water?", ["root", "leaf", "stem", "flower"]), ("Name it", ["a", "b"]),
                    (" spaced question ", ["x\ny", "ünï"])]:
        doc = {"question": q, "options": opts}
        out.append({"task": "ai2d", "doc": doc, "prompt": ai2d.ai2d_doc_to_text(doc, kw)})
    for q in ["What is the value of 2019?", "How many bars are there? "]:
        doc = {"question": q}
        out.append({"task": "chartqa", "doc": doc, "prompt": chartqa.chartqa_doc_to_text(
            doc, {"pre_prompt": "", "post_prompt": "\nAnswer the question with a single word."})})
        out.append({"task": "docvqa", "doc": doc, "prompt": docvqa_utils.docvqa_doc_to_text(
            doc, {"pre_prompt": "", "post_prompt": "\nAnswer the question using a single word or phrase."})})
    for q in ["Is there a dog in the image? Please answer yes or no.", "  Is this red? Please answer yes or no.  ",
              "Is the answer 5?"]:
        doc = {"question": q}
        out.append({"task": "mme", "doc": doc, "prompt": mme.mme_doc_to_text(
            doc, {"pre_prompt": "", "post_prompt": "\nAnswer the question using a single word or phrase."})})
    base = {"category": "c", "L2-category": "l", "index": 3, "source": "s", "split": "dev", "answer": "A"}
    for hint, opts in [(None, {"A": "cat", "B": "dog", "C": None, "D": None}),
                       ("The picture shows a farm.", {"A": "cow", "B": "nan", "C": "pig", "D": "hen"}),
                       ("nan", {"A": "1", "B": "2", "C": "3", "D": "", "E": "5"})]:
        doc = dict(base, question="What animal is this?", hint=hint, **opts)
        out.append({"task": "mmbench_en", "doc": doc, "prompt": mmbench.mmbench_doc_to_text(
            doc, {"pre_prompt": "", "post_prompt": "\nAnswer with the option's letter from the given choices directly."})})
    return out


def conversation_cases(tokenizer_dir):
    """llava_llama_3 in lmms-eval's llava model: the system prompt and "<image>\n" + the question through
    the tokenizer's chat template, then tokenizer_image_token (LLaVA-NeXT's llava/mm_utils.py)."""
    tok = transformers.AutoTokenizer.from_pretrained(tokenizer_dir)
    system = ("You are a helpful language and vision assistant. You are able to understand the visual content that "
              "the user provides, and assist the user with a variety of tasks using natural language.")
    out = []
    for question in ["What is shown?\nAnswer the question using a single word or phrase.", "  Two\n\nlines  "]:
        text = tok.apply_chat_template([{"role": "system", "content": system},
                                        {"role": "user", "content": "<image>\n" + question}],
                                       tokenize=False, add_generation_prompt=True)
        chunks = [tok(chunk).input_ids for chunk in text.split("<image>")]
        ids, offset = [], 0
        if chunks and chunks[0] and chunks[0][0] == tok.bos_token_id:
            offset, ids = 1, [chunks[0][0]]
        image = 128256
        for k, chunk in enumerate(chunks):
            if k:
                ids.extend([image] * 7)  # the placeholder, expanded to an image of 7 embeddings
            ids.extend(chunk[offset:])
        out.append({"prompt": question, "conversation": text, "ids": ids, "image_token": image, "image_tokens": 7})
    return out


def main():
    docvqa, docvqa_mean, docvqa_any_mean = docvqa_cases()
    out = {"ai2d": ai2d_cases(), "chartqa": chartqa_cases(), "docvqa": docvqa, "docvqa_mean": docvqa_mean,
           "docvqa_any_reference_mean": docvqa_any_mean, "mme": mme_cases(), "mmbench": mmbench_cases(),
           "prompts": prompt_cases(), "conversations": conversation_cases(sys.argv[2])}
    os.makedirs(os.path.dirname(os.path.abspath(sys.argv[1])), exist_ok=True)
    json.dump(out, open(sys.argv[1], "w", encoding="utf-8"), ensure_ascii=False, indent=1)
    print(f"lmms-eval scoring cases: ai2d {len(out['ai2d'])}, chartqa {len(out['chartqa'])}, docvqa {len(docvqa)}, "
          f"mme {len(out['mme']['items'])}, mmbench {len(out['mmbench']['items'])}; MMBench accuracy "
          f"{out['mmbench']['accuracy']:.2f}")


if __name__ == "__main__":
    main()

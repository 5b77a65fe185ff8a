"""lmms-eval 0.7.3's own scoring of given responses (stdin: {task: {docs, responses}}), printed as one
JSON line {task: {metric: value}} with the metrics lowbit reports. Runs in the oracle venv.
MMBench: its circular evaluation with the GPT judge replaced by its failure answer (no network)."""
import json
import sys

from loguru import logger

logger.remove()
import lmms_eval.api.metrics as metrics  # noqa: E402
import lmms_eval.tasks.ai2d.utils as ai2d  # noqa: E402
import lmms_eval.tasks.chartqa.utils as chartqa  # noqa: E402
import lmms_eval.tasks.mmbench.en_utils as mmbench  # noqa: E402
import lmms_eval.tasks.mme.utils as mme  # noqa: E402

data = json.load(sys.stdin)
out = {}
for task, d in data.items():
    docs, responses = d["docs"], d["responses"]
    if task == "ai2d":
        filt = ai2d.MultiChoiceRegexFilter(regex_pattern=r"([A-Z])\.", group_select=0, ignore_case=True,
                                           ignore_punctuation=True)
        s = [metrics.exact_match_hf_evaluate(predictions=[filt.apply([[r]], [doc])[0].strip()],
                                             references=[ai2d.ai2d_doc_to_target(doc, "mcq")], ignore_case=True,
                                             ignore_punctuation=True)["exact_match"] for doc, r in zip(docs, responses)]
        out[task] = {"exact_match": metrics.mean(s)}
    elif task == "chartqa":
        s = [chartqa.chartqa_process_results(doc, [r.strip()])["relaxed_overall"] for doc, r in zip(docs, responses)]
        out[task] = {"relaxed_overall": metrics.mean(s)}
    elif task == "docvqa":
        s = [metrics.anls(references=doc["answers"], predictions=[r.strip()])["anls"] for doc, r in zip(docs, responses)]
        out[task] = {"anls": metrics.mean(s)}
    elif task == "mme":
        per_key = {"mme_perception_score": [], "mme_cognition_score": []}
        for doc, r in zip(docs, responses):
            for key, value in mme.mme_process_results(doc, [r.strip()]).items():
                per_key[key].append(value)
        out[task] = {k: mme.mme_aggregate_results(v) for k, v in per_key.items() if v}
    elif task == "mmbench_en":
        evaluator = mmbench.mmbench_evaluator
        evaluator.get_chat_response = lambda *a, **k: "Failed to obtain answer via API"
        results = [mmbench.mmbench_process_results(doc, [r.strip()])["gpt_eval_score"] for doc, r in zip(docs, responses)]
        overall, _, _ = evaluator.eval_result(results, "openai")
        out[task] = {"gpt_eval_score": overall * 100}
print(json.dumps(out))

#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets (tests/fuzz/fuzz_*.cpp) into OUT_DIR/<target>/.

Usage: make_seeds.py SOURCE_DIR LLAMA3_TOKENIZER OUT_DIR

Seeds come from the project's fixtures (the tiny model's config, tokenizer and safetensors header,
configs/experiments/*.yaml, the real Llama 3 tokenizer's template), made small so that the fuzzer
runs fast: a tokenizer.json is trimmed to its byte alphabet and the merges among it. The shard
target's seeds are written by the fuzz_make_shard_seeds program (make_shard_seeds.cpp). Only the
Python standard library is used, so a fresh CI machine can run it.
"""
import json
import pathlib
import struct
import sys


def write(out, target, name, data):
    d = out / target
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data if isinstance(data, bytes) else data.encode())


def safetensors_bytes(tensors, metadata=None):
    """tensors: [(name, dtype, shape, element size)] -> a valid file (data all zero bytes)."""
    header, offset = {}, 0
    for name, dtype, shape, size in tensors:
        n = size
        for d in shape:
            n *= d
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + n]}
        offset += n
    if metadata is not None:
        header["__metadata__"] = metadata
    h = json.dumps(header, separators=(",", ":")).encode()
    return struct.pack("<Q", len(h)) + h + bytes(offset)


def safetensors_seeds(src, out):
    t = "safetensors_header"
    small = safetensors_bytes([("a", "F32", [2, 3], 4), ("b", "BF16", [4], 2), ("c", "I64", [], 8), ("e", "U8", [0], 1)],
                              {"format": "pt"})
    write(out, t, "raw-small", b"\x00" + small)
    # The same header with the length field computed by the target (odd first byte): JSON \0 data.
    n = struct.unpack("<Q", small[:8])[0]
    write(out, t, "built-small", b"\x01" + small[8:8 + n] + b"\x00" + small[8 + n:])
    with open(src / "tests/fixtures/models/lowbit-tiny-llama3/model.safetensors", "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = f.read(n)
    write(out, t, "tiny-model-header", b"\x01" + header + b"\x00")  # offsets past the (absent) data
    write(out, t, "every-dtype", b"\x00" + safetensors_bytes(
        [(f"t{i}", d, [3], s) for i, (d, s) in enumerate(
            [("F64", 8), ("F32", 4), ("F16", 2), ("BF16", 2), ("I64", 8), ("I32", 4), ("I16", 2), ("I8", 1), ("U8", 1),
             ("BOOL", 1)])]))

    t = "safetensors_index"
    a, b = "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"
    write(out, t, "valid", json.dumps({"metadata": {"total_size": 24}, "weight_map": {
        "model.embed_tokens.weight": a, "model.norm.weight": a, "lm_head.weight": b}}, indent=2))
    write(out, t, "wrong-shard", json.dumps({"weight_map": {"lm_head.weight": a, "model.norm.weight": b}}))
    write(out, t, "missing-file", json.dumps({"weight_map": {"x": "model-00003-of-00003.safetensors"}}))


def config_seeds(src, out):
    t = "llama_config"
    tiny = (src / "tests/fixtures/models/lowbit-tiny-llama3/config.json").read_text()
    write(out, t, "tiny", tiny)
    v4 = json.loads(tiny)
    del v4["rope_parameters"], v4["dtype"]
    v4.update({"rope_theta": 500000.0, "torch_dtype": "bfloat16", "eos_token_id": [128001, 128008, 128009],
               "rope_scaling": {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                                "original_max_position_embeddings": 8192, "rope_type": "llama3"}})
    write(out, t, "transformers4-llama3.1", json.dumps(v4, indent=2))
    write(out, t, "minimal", json.dumps({"model_type": "llama", "hidden_size": 64, "intermediate_size": 128,
                                         "num_hidden_layers": 1, "num_attention_heads": 4, "vocab_size": 300}))


def trimmed_tokenizer(path, keep_merges):
    """The file's byte alphabet and the first merges whose parts and result it then holds."""
    j = json.loads(pathlib.Path(path).read_text())
    # GPT-2's byte-to-unicode table: the 256 byte-level tokens.
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs, k = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + k)
            k += 1
    vocab = {chr(c): i for i, c in enumerate(cs)}
    merges = []
    for m in j["model"]["merges"]:
        left, right = m.split(" ") if isinstance(m, str) else m
        if left in vocab and right in vocab:
            merges.append([left, right])
            vocab.setdefault(left + right, len(vocab))
            if len(merges) == keep_merges:
                break
    j["model"]["vocab"] = vocab
    j["model"]["merges"] = merges
    return j


def tokenizer_seeds(src, llama3, out):
    t = "tokenizer_json"
    tiny = trimmed_tokenizer(src / "tests/fixtures/models/lowbit-tiny-llama3/tokenizer.json", 40)
    n = len(tiny["model"]["vocab"])
    tiny["added_tokens"] = [{"id": n + i, "content": c, "single_word": False, "lstrip": False, "rstrip": False,
                             "normalized": False, "special": True} for i, c in enumerate(["<|begin_of_text|>", "<|eot_id|>"])]
    write(out, t, "tiny-trimmed", json.dumps(tiny, ensure_ascii=False))
    real = json.loads(pathlib.Path(llama3).read_text())
    l3 = trimmed_tokenizer(llama3, 40)
    n = len(l3["model"]["vocab"])
    l3["added_tokens"] = [dict(a, id=n + i) for i, a in enumerate(real["added_tokens"][:3])]
    l3["post_processor"] = real["post_processor"]
    bos = l3["added_tokens"][0]
    for p in l3["post_processor"].get("processors", []):
        for s in p.get("special_tokens", {}).values():
            s["ids"] = [bos["id"]]
    write(out, t, "llama3-trimmed-template", json.dumps(l3, ensure_ascii=False))
    gpt2 = trimmed_tokenizer(src / "tests/fixtures/models/lowbit-tiny-llama3/tokenizer.json", 10)
    gpt2["pre_tokenizer"] = {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True}
    gpt2["model"]["merges"] = [" ".join(m) for m in gpt2["model"]["merges"]]  # the older "a b" spelling
    gpt2["model"]["ignore_merges"] = True
    write(out, t, "gpt2-style", json.dumps(gpt2, ensure_ascii=False))

    t = "tokenizer_encode"
    for i, s in enumerate([
            "Hello world! It's 2024; don't   panic.\n\n",
            "<|begin_of_text|>Question: what is 12345 + 678?\nAnswer:<|eot_id|>",
            "Café naïve résumé — “quotes” ‘x’ … 中文字符 日本語 한국어 Ελληνικά Кириллица 🙂🚀",
            "\t  mixed\r\n whitespace \u00a0\u2003 and\u200b zero-width\n",
            "def f(x):\n    return x ** 2  # code\n",
            "<|start_header_id|>user<|end_header_id|>\n\nhi<|reserved_special_token_5|>",
    ]):
        write(out, t, f"text-{i}", s)
    write(out, t, "architecture-doc", (src / "docs/architecture.md").read_text()[:400])


def yaml_seeds(src, out):
    t = "yaml_config"
    for p in sorted((src / "configs/experiments").glob("*.yaml")):
        if p.stem.startswith("tiny") or p.stem in ("llama3-8b-gptq", "llama3-8b-rtn"):
            text = p.read_text()
            write(out, t, p.stem, text)
            write(out, t, p.stem + "+overrides",
                  text + "\0method.bits=3\ncalibration.seed=7\ndistributed.threads=1\noutput.run_dir=runs/x")


def jsonl_seeds(out, n_tasks=5):
    t = "jsonl_tasks"
    docs = [  # in the order of multiple_choice_tasks(): piqa, arc_easy, arc_challenge, hellaswag, winogrande
        [{"goal": "Keep bread fresh", "sol1": "Freeze it.", "sol2": "Leave it in the sun.", "label": 0}],
        [{"id": "x", "question": "Which is a mammal?", "choices": {"text": ["Shark", "Whale", "Trout"],
                                                                   "label": ["A", "B", "C"]}, "answerKey": "B"}],
        [{"question": "2+2?", "choices": {"text": ["3", "4", "5", "6"], "label": ["1", "2", "3", "4"]}, "answerKey": "2"}],
        [{"activity_label": "Baking", "ctx_a": "A man mixes flour.", "ctx_b": "he", "label": "2",
          "endings": ["eats it [title] now.", "runs  away.", "bakes a loaf.", "sings"]}],
        [{"sentence": "The cup fell off the table because _ was unsteady.", "option1": "the cup",
          "option2": "the table", "answer": "2"}],
    ]
    for i, d in enumerate(docs[:n_tasks]):
        write(out, t, f"task-{i}", bytes([i]) + ("\n".join(json.dumps(x, ensure_ascii=False) for x in d * 2) + "\n").encode())
    mmlu = {"question": "What is 1+1?", "subject": "abstract_algebra", "choices": ["0", "1", "2", "3"], "answer": 2}
    write(out, t, "mmlu", bytes([n_tasks]) + (json.dumps(mmlu) + "\n" + json.dumps(dict(mmlu, subject="virology", answer=0)) + "\n").encode())
    write(out, t, "text", bytes([n_tasks + 1]) + b"First doc line.\nStill first.\n\nSecond document.\n\n\n")
    write(out, t, "jsonl-text", bytes([n_tasks + 2]) + b'{"text": "one"}\n\n{"text": "two", "meta": 1}\n')
    import gzip
    write(out, t, "json-gz", bytes([n_tasks + 3]) + gzip.compress(b'{"text": "c4 doc"}\n'))


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    src, llama3, out = pathlib.Path(sys.argv[1]), sys.argv[2], pathlib.Path(sys.argv[3])
    safetensors_seeds(src, out)
    config_seeds(src, out)
    tokenizer_seeds(src, llama3, out)
    yaml_seeds(src, out)
    jsonl_seeds(out)


if __name__ == "__main__":
    main()

"""`lowbit export --format gptq | awq | compressed-tensors` against each format's own released package,
and lowbit's import of those checkpoints.

Expected values come from the run's shard itself, read with h5py (docs/shard-format.md): codes q, fp32
scale s, zero z, g_idx. A packed checkpoint stores s rounded to its float dtype, so the weight every
loader computes is round(s16 * (q - z)) in that dtype (one rounding: the product is exact in fp32).
- gptq: gptqmodel loads the export (GPTQModel.load, its torch kernel; v1 zeros converted as it
  converts them) and each linear's dequantize_weight() equals that weight bit for bit;
- awq: AutoAWQ's dequantize_gemm unpacks each linear bit for bit;
- compressed-tensors: the package validates config.json's quantization_config and its
  PackedQuantizationCompressor.decompress unpacks each linear bit for bit (fp16 and bf16 scales);
  transformers loads the symmetric export and its logits equal `lowbit logits` on the import;
- import: `lowbit export EXPORT --format hf --dtype float32` holds s16 * (q - z) exactly, the
  other tensors as exported; export -> import -> export gives identical bytes (weights, config.json,
  quantize_config.json); `lowbit eval` of the GPTQ export reproduces the run's perplexity to 1e-4;
  `lowbit quantize` with the export as its model quantizes exactly those imported weights (RTN);
  an AutoGPTQ-era directory (quantize_config.json only) and a plain linear among packed ones load;
- refusals: a method or setting a format cannot hold (no directory left), a truncated or foreign
  checkpoint or an unknown quant_method on import (the message names the file and the tensor/field).
Usage: check_packed_exports.py LOWBIT REPO CORPUS WORK MPI_RUNS NF4_RUN"""
import glob
import json
import os
import shutil
import struct
import subprocess
import sys

os.environ.setdefault("TORCHDYNAMO_DISABLE", "1")  # gptqmodel's torch kernel would compile itself (minutes)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _require import require  # noqa: E402

torch, h5py, st_torch = require("torch", "h5py", "safetensors.torch")
lowbit, repo, corpus, work, runs, nf4_run = sys.argv[1:7]
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
failures = []
MODULES = ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj", "mlp.gate_proj",
           "mlp.up_proj", "mlp.down_proj"]


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


def lowbit_run(*args, ok=True):
    r = subprocess.run([lowbit, *args], capture_output=True, text=True)
    print(f"$ lowbit {' '.join(args)}\n{r.stdout[-400:]}{r.stderr[-600:]}")
    if ok and r.returncode != 0:
        sys.exit(f"FAIL: lowbit {' '.join(args)} exited {r.returncode}")
    return r


def run_linears(run):
    """{(block, module): (codes [out, in] int64, scale fp32, zero fp32, g_idx int64)} from the run's shards."""
    out = {}
    for path in sorted(glob.glob(os.path.join(run, "shards", "*.h5"))):
        with h5py.File(path, "r") as f:
            for block in f["blocks"]:
                for module in MODULES:
                    g = f["blocks"][block][module]
                    out[(int(block), module)] = tuple(torch.from_numpy(g[k][()]) for k in ("codes", "scale", "zero", "g_idx"))
    return out


def weight(lin, dtype):
    """round(s_dtype * (q - z)) in dtype, and the exact fp32 product."""
    codes, scale, zero, g_idx = lin
    g = g_idx.long()
    exact = scale.to(dtype).float()[:, g] * (codes.float() - zero[:, g])
    return exact.to(dtype), exact


def run_weight16(lin):
    """lowbit's own fp32 dequantized weight of the run, rounded to fp16 (for the count of differences)."""
    codes, scale, zero, g_idx = lin
    g = g_idx.long()
    return (scale[:, g] * (codes.float() - zero[:, g])).half()


def compare(name, got, lin, dtype, stats):
    want, _ = weight(lin, dtype)
    if not torch.equal(got, want):
        bad = (got != want).sum().item()
        check(False, f"{name}: {bad} of {want.numel()} weights differ from round(s16 * (q - z))")
    if dtype == torch.float16:
        stats[0] += (got != run_weight16(lin)).sum().item()
        stats[1] += got.numel()


def export(run, fmt, name, *extra):
    out = os.path.join(work, name)
    lowbit_run("export", run, out, "--format", fmt, *extra)
    return out


def quantization_config(d):
    return json.load(open(os.path.join(d, "config.json")))["quantization_config"]


def check_import_and_round_trip(d, fmt, lin_of, dtype, *extra):
    """`lowbit export D --format hf --dtype float32` holds the exact s16 * (q - z); re-exporting D gives D's bytes."""
    name = os.path.basename(d)
    hf = os.path.join(work, name + "-imported")
    lowbit_run("export", d, hf, "--format", "hf", "--dtype", "float32")
    w = st_torch.load_file(os.path.join(hf, "model.safetensors"))
    packed = st_torch.load_file(os.path.join(d, "model.safetensors"))
    bad = [k for (b, m), lin in lin_of.items()
           if not torch.equal(w[k := f"model.layers.{b}.{m}.weight"], weight(lin, dtype)[1])]
    check(not bad, f"{name}: lowbit's import of {len(bad)} linears differs from s16 * (q - z) (e.g. {bad[:2]})")
    dense = [k for k in packed if k.endswith("norm.weight") or "embed" in k or k.startswith("lm_head")]
    check(all(torch.equal(w[k], packed[k].float()) for k in dense), f"{name}: imported norms/embedding/head differ")
    again = os.path.join(work, name + "-again")
    lowbit_run("export", d, again, "--format", fmt, *extra)
    for f in ("model.safetensors", "config.json", "quantize_config.json"):
        if os.path.exists(os.path.join(d, f)):
            check(open(os.path.join(d, f), "rb").read() == open(os.path.join(again, f), "rb").read(),
                  f"{name}: export -> import -> export changed {f}")
    return hf


# ---- the runs: GPTQ W4 g128 asym (np1), RTN W3 asym, GPTQ W2 per channel, SmoothQuant W8 per channel
# symmetric, and a fresh GPTQ W4 symmetric act-order run (permuted g_idx).
actorder = os.path.join(work, "run-gptq-sym-actorder")
lowbit_run("quantize", os.path.join(repo, "configs/experiments/tiny-llama3-gptq-w4g128.yaml"), "method.sym=true",
           "method.act_order=true", f"calibration.source={corpus}/train.txt", "calibration.nsamples=8",
           "distributed.threads=1", f"output.run_dir={actorder}")
RUNS = {"gptq4": os.path.join(runs, "np1"), "rtn3": os.path.join(runs, "rtn3_np1"),
        "gptq2pc": os.path.join(runs, "gptq2pc_np1"), "sq8": os.path.join(runs, "sq8_np1"), "actorder": actorder}
LIN = {k: run_linears(v) for k, v in RUNS.items()}
has_zero0 = any((lin[2] == 0).any().item() for lin in LIN["gptq4"].values())

# ---- gptq, through gptqmodel itself
from gptqmodel import BACKEND, GPTQModel  # noqa: E402

gptq_cases = [("gptq4", "gptq4-v2", []), ("rtn3", "rtn3-v2", []), ("gptq2pc", "gptq2pc-v2", []),
              ("sq8", "sq8-v1", []), ("actorder", "actorder-v1", [])]
r = lowbit_run("export", RUNS["gptq4"], os.path.join(work, "gptq4-v1"), "--format", "gptq", "--gptq-format", "v1",
               ok=False)
if has_zero0:
    check(r.returncode != 0 and "zero point 0" in r.stderr and not os.path.exists(os.path.join(work, "gptq4-v1"))
          and not os.path.exists(os.path.join(work, "gptq4-v1.partial")),
          "v1 export of a run with a zero point 0: not refused cleanly")
else:
    check(r.returncode == 0, "v1 export of a run without a zero point 0 refused")
    gptq_cases.append(("gptq4", "gptq4-v1", ["--gptq-format", "v1"]))
stats = [0, 0]
for run, name, extra in gptq_cases:
    d = os.path.join(work, name)
    if not os.path.exists(d):  # gptq4-v1 exists already when it was not refused above
        export(RUNS[run], "gptq", name, *extra)
    qc = quantization_config(d)
    sym = run in ("sq8", "actorder")
    check(qc["checkpoint_format"] == ("gptq" if name.endswith("v1") else "gptq_v2") and qc["sym"] == sym and
          qc["desc_act"] == (run == "actorder") and json.load(open(os.path.join(d, "quantize_config.json"))) == qc,
          f"{name}: quantization_config {qc}")
    if name == "gptq4-v1":
        # gptqmodel refuses an asymmetric v1 checkpoint it did not write itself (older AutoGPTQ wrote zero 0
        # wrongly); its v1 -> v2 conversion adds 1 to every 4-bit field (0x11111111 per word), which must give
        # the v2 export (checked above against gptqmodel) word for word, the other tensors unchanged.
        v1 = st_torch.load_file(os.path.join(d, "model.safetensors"))
        v2 = st_torch.load_file(os.path.join(work, "gptq4-v2", "model.safetensors"))
        converted = {k: ((t.long() + 0x11111111) & 0xFFFFFFFF) if k.endswith("qzeros") else t for k, t in v1.items()}
        check(all(torch.equal(converted[k], (v2[k].long() & 0xFFFFFFFF) if k.endswith("qzeros") else v2[k])
                  for k in v2), "gptq4-v1: v1 + 0x11111111 is not the v2 export")
        check_import_and_round_trip(d, "gptq", LIN[run], torch.float16, *extra)
        continue
    model = GPTQModel.load(d, device="cpu", backend=BACKEND.TORCH, dtype=torch.float16)
    seen = 0
    for (b, m), lin in LIN[run].items():
        mod = model.model.get_submodule(f"model.layers.{b}.{m}")
        compare(f"{name} gptqmodel {b}.{m}", mod.dequantize_weight().t().contiguous(), lin, torch.float16, stats)
        seen += 1
    check(seen == 21, f"{name}: {seen} linears compared")
    del model
    check_import_and_round_trip(d, "gptq", LIN[run], torch.float16, *extra)
print(f"gptq: of {stats[1]} weights, {stats[0]} ({stats[0] / stats[1]:.2%}) differ from lowbit's fp32-scale weights "
      "rounded to fp16 (the scale's own rounding)")

# ---- awq, through AutoAWQ's unpacker
from awq.utils.packing_utils import dequantize_gemm  # noqa: E402

d = export(RUNS["gptq4"], "awq", "gptq4-awq")
qc = quantization_config(d)
check(qc == {"quant_method": "awq", "version": "gemm", "zero_point": True, "bits": 4, "group_size": 128,
             "modules_to_not_convert": None}, f"awq: quantization_config {qc}")
t = st_torch.load_file(os.path.join(d, "model.safetensors"))
for (b, m), lin in LIN["gptq4"].items():
    p = f"model.layers.{b}.{m}."
    got = dequantize_gemm(t[p + "qweight"], t[p + "qzeros"], t[p + "scales"], 4, 128)
    compare(f"awq {b}.{m}", got.t().contiguous(), lin, torch.float16, [0, 0])
check_import_and_round_trip(d, "awq", LIN["gptq4"], torch.float16)

# ---- compressed-tensors, through the package's own config model and decompressor
from compressed_tensors.compressors.pack_quantized.base import PackedQuantizationCompressor  # noqa: E402
from compressed_tensors.quantization import QuantizationConfig, QuantizationScheme  # noqa: E402

for run, name, dtype, extra in (("gptq4", "gptq4-ct", torch.float16, []),
                                ("gptq4", "gptq4-ct-bf16", torch.bfloat16, ["--dtype", "bfloat16"]),
                                ("sq8", "sq8-ct", torch.float16, [])):
    d = export(RUNS[run], "compressed-tensors", name, *extra)
    qc = quantization_config(d)
    QuantizationConfig.model_validate(qc)  # raises on a config the package would not read
    scheme = QuantizationScheme.model_validate(qc["config_groups"]["group_0"])
    check(scheme.weights.symmetric == (run == "sq8") and scheme.weights.num_bits == (8 if run == "sq8" else 4),
          f"{name}: scheme {scheme.weights}")
    t = st_torch.load_file(os.path.join(d, "model.safetensors"))
    for (b, m), lin in LIN[run].items():
        p = f"model.layers.{b}.{m}."
        state = {k[len(p):]: v for k, v in t.items() if k.startswith(p)}
        got = PackedQuantizationCompressor.decompress(state, scheme)["weight"]
        check(got.dtype == dtype, f"{name}: decompressed dtype {got.dtype}")
        compare(f"{name} {b}.{m}", got, lin, dtype, [0, 0])
    check_import_and_round_trip(d, "compressed-tensors", LIN[run], dtype, *extra)

# transformers itself loads the symmetric compressed-tensors export (decompressing it through the
# package) and gives the logits lowbit gives on its import. (An asymmetric one it cannot load: its
# meta-device model expects weight_zero_point unpacked [out, groups], the package's compressor writes
# it packed [ceil(out * bits / 32), groups]; docs/exports.md.)
transformers = require("transformers")
IDS = [0, 17, 250, 1033, 9, 77, 3001, 512]
ct_dir = os.path.join(work, "sq8-ct")
lowbit_run("logits", ct_dir, "--ids", ",".join(map(str, IDS)), "--out", os.path.join(work, "sq8-ct-logits.safetensors"))
expected = st_torch.load_file(os.path.join(work, "sq8-ct-logits.safetensors"))["logits"]
with torch.no_grad():
    got = transformers.AutoModelForCausalLM.from_pretrained(ct_dir, dtype=torch.float32)(torch.tensor([IDS])).logits[0]
err = float((got - expected).abs().max() / expected.abs().max())
print(f"transformers on the compressed-tensors export vs lowbit logits on its import: relative {err:.2e}")
check(err <= 1e-4, f"transformers' logits of the compressed-tensors export differ by {err:.2e}")

# ---- import -> eval of the GPTQ export reproduces the run's perplexity
ppl = {}
for label, target in (("run", RUNS["gptq4"]), ("gptq export", os.path.join(work, "gptq4-v2"))):
    out = os.path.join(work, f"results-{label.replace(' ', '-')}.json")
    lowbit_run("eval", target, "--tasks", "wikitext2", "--data", f"wikitext2={corpus}/test.txt", "--seq-len", "256",
               "--limit", "16", "--threads", "1", "--out", out)
    ppl[label] = json.load(open(out))["results"][0]["result"]["perplexity"]
rel = abs(ppl["gptq export"] - ppl["run"]) / ppl["run"]
print(f"perplexity: run {ppl['run']:.6f}, imported GPTQ export {ppl['gptq export']:.6f} (relative {rel:.1e})")
check(rel <= 1e-4, f"imported GPTQ export's perplexity differs by {rel:.1e} relative")

# ---- `lowbit quantize` with the GPTQ export as its model: RTN sees the imported weights s16 * (q - z)
from make_quant_cases import fake_quant  # noqa: E402  (the independent NumPy RTN of the uniform-quantizer tests)

requant = os.path.join(work, "run-rtn-of-gptq-export")
lowbit_run("quantize", os.path.join(repo, "configs/experiments/tiny-llama3-rtn-w4g128.yaml"),
           f"model={os.path.join(work, 'gptq4-v2')}", f"calibration.source={corpus}/train.txt", "distributed.threads=1",
           f"output.run_dir={requant}")
hf = os.path.join(work, "run-rtn-of-gptq-export-hf")
lowbit_run("export", requant, hf, "--format", "hf", "--dtype", "float32")
w = st_torch.load_file(os.path.join(hf, "model.safetensors"))
for (b, m), lin in LIN["gptq4"].items():
    want = torch.from_numpy(fake_quant(weight(lin, torch.float16)[1].numpy(), 4, 128, False))
    got = w[f"model.layers.{b}.{m}.weight"]
    check(torch.allclose(got, want, rtol=1e-6, atol=0), f"RTN of the imported GPTQ export, {b}.{m}: not RTN of s16 * (q - z)")

# ---- an AutoGPTQ-era directory (settings in quantize_config.json only) and a linear left unquantized
# (a plain .weight beside packed ones, as `ignore` / `modules_to_not_convert` leave it) load too.
def imported_weights(d):
    hf = d + "-hf"
    lowbit_run("export", d, hf, "--format", "hf", "--dtype", "float32")
    return st_torch.load_file(os.path.join(hf, "model.safetensors"))


reference = imported_weights(os.path.join(work, "gptq4-v2"))
legacy = os.path.join(work, "gptq4-legacy")
shutil.copytree(os.path.join(work, "gptq4-v2"), legacy)
c = json.load(open(os.path.join(legacy, "config.json")))
del c["quantization_config"]
json.dump(c, open(os.path.join(legacy, "config.json"), "w"))
w = imported_weights(legacy)
check(all(torch.equal(w[k], reference[k]) for k in reference), "an AutoGPTQ-era directory imports differently")
mixed = os.path.join(work, "ct-one-plain-linear")
shutil.copytree(os.path.join(work, "gptq4-ct"), mixed)
t = st_torch.load_file(os.path.join(mixed, "model.safetensors"))
p = "model.layers.0.self_attn.q_proj."
for k in [k for k in t if k.startswith(p)]:
    del t[k]
plain = torch.randn(256, 256).half()
t[p + "weight"] = plain
st_torch.save_file(t, os.path.join(mixed, "model.safetensors"), metadata={"format": "pt"})
w = imported_weights(mixed)
check(torch.equal(w[p + "weight"], plain.float()), "a plain linear in a packed checkpoint is not read as it is")
ct = imported_weights(os.path.join(work, "gptq4-ct"))
check(all(torch.equal(w[k], ct[k]) for k in ct if not k.startswith(p)), "a plain linear changed the packed ones")

# ---- refusals: what a format cannot hold leaves nothing behind
for run, fmt, words in ((nf4_run, "gptq", "--format hf"), (RUNS["rtn3"], "awq", "4-bit"),
                        (RUNS["actorder"], "compressed-tensors", "act-order"), (RUNS["actorder"], "awq", "act-order"),
                        (RUNS["gptq2pc"], "awq", "2-bit"),
                        (RUNS["gptq4"], "gptq-fp8", "not an export format")):
    out = os.path.join(work, f"refused-{fmt}")
    r = lowbit_run("export", run, out, "--format", fmt, ok=False)
    check(r.returncode != 0 and words in r.stderr and not os.path.exists(out) and not os.path.exists(out + ".partial"),
          f"export of {os.path.basename(run)} as {fmt}: expected a refusal mentioning '{words}'")


# ---- import refusals: truncated file, foreign tensor, unknown quant_method
def broken_copy(name, edit):
    d = os.path.join(work, name)
    shutil.copytree(os.path.join(work, "gptq4-v2"), d)
    edit(d)
    return lowbit_run("logits", d, "--ids", "1,2,3", "--out", os.path.join(work, name + ".safetensors"), ok=False)


def truncate(d):
    p = os.path.join(d, "model.safetensors")
    os.truncate(p, os.path.getsize(p) - 1000)


def foreign(d):
    p = os.path.join(d, "model.safetensors")
    t = st_torch.load_file(p)
    t["model.layers.1.mlp.up_proj.qzeros"] = torch.zeros(2, 64, dtype=torch.int32)  # 8 x 768 / 32 = 96 expected
    st_torch.save_file(t, p, metadata={"format": "pt"})


def unknown_method(d):
    p = os.path.join(d, "config.json")
    c = json.load(open(p))
    c["quantization_config"]["quant_method"] = "bitsandbytes"
    json.dump(c, open(p, "w"))


for name, edit, words in (("truncated", truncate, ["model.safetensors"]),
                          ("foreign", foreign, ["model.safetensors", "model.layers.1.mlp.up_proj.qzeros"]),
                          ("unknown-method", unknown_method, ["config.json", "quant_method", "bitsandbytes"])):
    r = broken_copy(name, edit)
    check(r.returncode != 0 and all(w in r.stderr for w in words) and "terminate" not in r.stderr,
          f"import of a {name} checkpoint: expected one error naming {words}")

if failures:
    sys.exit(f"{len(failures)} check(s) failed")
print("packed exports: all checks passed")

"""Expected LoRA results from Hugging Face PEFT itself (peft, transformers), for lowbit's adapters.

The bases are lowbit's NF4 runs exported dequantized (tests/reference/export_dequantized_model: plain
NF4 for QLoRA, NF4 with ICQ for IR-QLoRA), loaded into transformers' LlamaForCausalLM in fp32; the batch is the first examples of the instruction set
framed as qlora.py frames them (Alpaca template, f"{bos}{prompt}" / f"{output}{eos}" tokenized
without special tokens, truncated to 384 / 128, labels -100 on the source, right padding) — written
here from qlora.py's collator, independently of lowbit's C++.

Cases (OUT_DIR/cases.safetensors):
  batch.input_ids, batch.labels     (i64 [B, T]; padding id = eos, label -100)
  qlora.logits                      lowbit's QLoRA adapter loaded with PeftModel.from_pretrained
  qlora.loss, qlora.grad.<name>, qlora.step.<name>
                                    the loss on the batch, the adapters' gradients, and the adapters
                                    after clip_grad_norm_(0.3) + torch.optim.AdamW(lr 2e-4, wd 0)
  iec.*                             the same for lowbit's IR-QLoRA adapter, its forward written from
                                    IR-QLoRA's IRQLoraLinear4bit (β_A·GroupMean, β_B·Repeat)
  peft.logits                       a PEFT adapter trained here (3 AdamW steps), saved to
                                    OUT_DIR/peft_adapter (PEFT's own save_pretrained)
Names are PEFT's saved names ("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight").

Usage: make_lora_cases.py NF4_BASE_DIR QLORA_ADAPTER_DIR ICQ_BASE_DIR IRQLORA_ADAPTER_DIR INSTRUCTIONS.json OUT_DIR
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _require import require  # noqa: E402

torch, st_torch, transformers, peft = require("torch", "safetensors.torch", "transformers", "peft")

PROMPT_INPUT = ("Below is an instruction that describes a task, paired with an input that provides further context. "
                "Write a response that appropriately completes the request.\n\n"
                "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response: ")
PROMPT_NO_INPUT = ("Below is an instruction that describes a task. "
                   "Write a response that appropriately completes the request.\n\n"
                   "### Instruction:\n{instruction}\n\n### Response: ")
BATCH = 4
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def tokenizer_for(base_dir):
    config = json.load(open(os.path.join(base_dir, "config.json")))
    tok_json = json.load(open(os.path.join(base_dir, "tokenizer.json")))
    names = {t["id"]: t["content"] for t in tok_json["added_tokens"]}
    tok = transformers.PreTrainedTokenizerFast(tokenizer_file=os.path.join(base_dir, "tokenizer.json"),
                                               bos_token=names[config["bos_token_id"]],
                                               eos_token=names[config["eos_token_id"]])
    return tok, config


def qlora_batch(tok, records):
    """qlora.py: extract_alpaca_dataset, then DataCollatorForCausalLM (train_on_source False)."""
    sources, targets = [], []
    for r in records:
        prompt = (PROMPT_INPUT if r.get("input", "") != "" else PROMPT_NO_INPUT).format(**r)
        sources.append(f"{tok.bos_token}{prompt}")
        targets.append(f"{r['output']}{tok.eos_token}")
    src = tok(sources, max_length=384, truncation=True, add_special_tokens=False)["input_ids"]
    tgt = tok(targets, max_length=128, truncation=True, add_special_tokens=False)["input_ids"]
    ids = [torch.tensor(s + t) for s, t in zip(src, tgt)]
    labels = [torch.tensor([-100] * len(s) + t) for s, t in zip(src, tgt)]
    pad = tok.eos_token_id
    input_ids = torch.nn.utils.rnn.pad_sequence(ids, batch_first=True, padding_value=pad)
    labels = torch.nn.utils.rnn.pad_sequence(labels, batch_first=True, padding_value=-100)
    mask = torch.zeros_like(input_ids, dtype=torch.bool)
    for i, x in enumerate(ids):
        mask[i, :len(x)] = True
    return input_ids, labels, mask


def load_base(base_dir):
    model = transformers.LlamaForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
    model.config.use_cache = False
    return model


def saved_name(param_name):
    return param_name.replace(".default", "")


def check_loaded(model, adapter_dir):
    """Every adapter tensor PEFT holds equals the file's (a silently skipped key would leave B at 0)."""
    saved = st_torch.load_file(os.path.join(adapter_dir, "adapter_model.safetensors"))
    held = {saved_name(n): p for n, p in model.named_parameters() if "lora_" in n}
    missing = [n for n in held if n not in saved]
    assert not missing, f"PEFT holds adapters the file lacks: {missing[:3]}"
    for n, p in held.items():
        assert torch.equal(p.detach(), saved[n]), f"{n}: PEFT did not load lowbit's tensor"
    return saved


def add_iec(model, saved):
    """IR-QLoRA's IRQLoraLinear4bit forward on each LoRA linear, with β from lowbit's file."""
    for name, module in model.named_modules():
        if not isinstance(module, peft.tuners.lora.layer.Linear):
            continue
        prefix = saved_name(name)
        module.lora_default_A_scale = torch.nn.Parameter(saved[prefix + ".lora_default_A_scale"].clone())
        module.lora_default_B_scale = torch.nn.Parameter(saved[prefix + ".lora_default_B_scale"].clone())

        def forward(x, self=module):
            result = self.base_layer(x)
            a, b = self.lora_A["default"], self.lora_B["default"]
            x = x.to(a.weight.dtype)
            groups = x.reshape(list(x.shape[:-1]) + [a.out_features, -1]).mean(dim=-1)  # r contiguous chunks
            h = a(self.lora_dropout["default"](x)) + self.lora_default_A_scale * groups
            y = (b(h).reshape(list(h.shape) + [-1]) + self.lora_default_B_scale * h.unsqueeze(-1))
            y = y.reshape(list(h.shape[:-1]) + [-1])
            return result + y.to(result.dtype) * self.scaling["default"]

        module.forward = forward


def trainable(model):
    return [(saved_name(n), p) for n, p in model.named_parameters() if p.requires_grad]


def loss_grads_step(model, input_ids, labels, mask, out, prefix):
    params = trainable(model)
    model.zero_grad()
    loss = model(input_ids=input_ids, attention_mask=mask, labels=labels).loss
    loss.backward()
    out[f"{prefix}.loss"] = loss.detach().reshape(1)
    for n, p in params:
        out[f"{prefix}.grad.{n}"] = p.grad.detach().clone()
    torch.nn.utils.clip_grad_norm_([p for _, p in params], 0.3)
    opt = torch.optim.AdamW([p for _, p in params], lr=2e-4, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
    opt.step()
    for n, p in params:
        out[f"{prefix}.step.{n}"] = p.detach().clone()


def main():
    if len(sys.argv) != 7:
        sys.exit(__doc__)
    base_dir, qlora_dir, icq_base_dir, irqlora_dir, data_path, out_dir = sys.argv[1:]
    os.makedirs(out_dir, exist_ok=True)
    torch.manual_seed(0)
    torch.set_num_threads(1)
    tok, _ = tokenizer_for(base_dir)
    records = json.load(open(data_path))[:BATCH]
    input_ids, labels, mask = qlora_batch(tok, records)
    out = {"batch.input_ids": input_ids, "batch.labels": labels}

    for prefix, base, adapter_dir in (("qlora", base_dir, qlora_dir), ("iec", icq_base_dir, irqlora_dir)):
        model = peft.PeftModel.from_pretrained(load_base(base), adapter_dir, is_trainable=True)
        saved = check_loaded(model, adapter_dir)
        if prefix == "iec":
            add_iec(model, saved)
            assert any(float(v.abs()) > 0 for k, v in saved.items() if "scale" in k), "the IEC adapter's β are all 0"
        with torch.no_grad():
            out[f"{prefix}.logits"] = model(input_ids=input_ids, attention_mask=mask).logits.float()
        loss_grads_step(model, input_ids, labels, mask, out, prefix)

    # An adapter PEFT trains itself (B no longer zero), for lowbit to load.
    config = peft.LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0, target_modules=TARGETS, task_type="CAUSAL_LM")
    model = peft.get_peft_model(load_base(base_dir), config)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3, weight_decay=0.0)
    for _ in range(3):
        opt.zero_grad()
        model(input_ids=input_ids, attention_mask=mask, labels=labels).loss.backward()
        opt.step()
    model.save_pretrained(os.path.join(out_dir, "peft_adapter"))
    with torch.no_grad():
        out["peft.logits"] = model(input_ids=input_ids, attention_mask=mask).logits.float()

    st_torch.save_file({k: v.contiguous() for k, v in out.items()}, os.path.join(out_dir, "cases.safetensors"))
    print(f"{len(out)} tensors -> {out_dir}/cases.safetensors; PEFT adapter -> {out_dir}/peft_adapter")


if __name__ == "__main__":
    main()

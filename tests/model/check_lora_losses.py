"""The LoRA fixtures' fine-tunings (QLoRA on NF4, IR-QLoRA = IEC on NF4 with ICQ) lower the held-out
response loss below their base's; prints the four numbers (IR-QLoRA against QLoRA is measured, not
asserted: docs/fine-tuning.md says what the small model shows and why).
Usage: check_lora_losses.py QLORA_DIR IRQLORA_DIR"""
import json
import os
import sys

results = {}
for name, d in (("QLoRA", sys.argv[1]), ("IR-QLoRA", sys.argv[2])):
    info = json.load(open(os.path.join(d, "finetune.json")))
    results[name] = info
    print(f"{name}: base {info['base_heldout_loss']:.4f} -> {info['heldout_loss']:.4f} after {info['steps']} steps "
          f"(lora {info['lora']})")
failed = [n for n, i in results.items() if not i["heldout_loss"] < i["base_heldout_loss"] - 0.05]
if failed:
    sys.exit(f"FAIL: fine-tuning did not lower the held-out response loss by 0.05 for {failed}")
if results["QLoRA"]["lora"]["iec"] or not results["IR-QLoRA"]["lora"]["iec"]:
    sys.exit("FAIL: the QLoRA run has IEC or the IR-QLoRA run lacks it")
print("ok")

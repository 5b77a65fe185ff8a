#!/usr/bin/env python3
"""Convert SliM-LLM's saved per-group bit map to the JSON lowbit's `method.bit_map` reads.

Usage: slim_llm_bit_map.py block_precision_128_2bit/Meta-Llama-3-8B.pt OUT.json

The reference (Aaronhuang-778/SliM-LLM, slim-llm/run.py) saves torch.save({block: {linear: [widths]}})
after a run that searched the widths, and loads it from ../SliM-LLM_group-precision/ to skip the search.
lowbit's JSON is the same structure: {"0": {"self_attn.q_proj": [2, 3, 1, ...], ...}, ...}.
"""
import json
import sys


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    import torch
    saved = torch.load(sys.argv[1], map_location="cpu", weights_only=True)
    out = {str(int(block)): {name: [int(w) for w in widths] for name, widths in linears.items()}
           for block, linears in saved.items()}
    with open(sys.argv[2], "w") as f:
        json.dump(out, f, indent=1)
    n = sum(len(v) for v in out.values())
    print(f"{sys.argv[2]}: {len(out)} blocks, {n} linears")


if __name__ == "__main__":
    main()

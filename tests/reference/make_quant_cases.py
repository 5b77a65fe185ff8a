"""Expected fake-quantized weights from an independent NumPy implementation of the GPTQ quantizer
(METHODS.md §1.5: zero forced into [min, max], asymmetric integer zero point or symmetric at
(maxq+1)/2, round half to even), for lowbit's methods/common/uniform_quantizer.

Usage: make_quant_cases.py OUT.safetensors
Writes w (F32 [96, 384], with outliers, an all-zero row and a constant row) and, per case,
"<bits>b_g<group>_<sym|asym>" = dequant(quant(w)).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _require import require  # noqa: E402

np, st_numpy = require("numpy", "safetensors.numpy")


def fake_quant(w, bits, group, sym):
    out_f, in_f = w.shape
    g = group or in_f
    rows = w.reshape(out_f * (in_f // g), g).astype(np.float32)
    maxq = np.float32(2 ** bits - 1)
    xmin = np.minimum(rows.min(axis=1), np.float32(0))
    xmax = np.maximum(rows.max(axis=1), np.float32(0))
    if sym:
        xmax = np.maximum(np.abs(xmin), xmax)
        xmin = np.where(xmin < 0, -xmax, xmin)
    both = (xmin == 0) & (xmax == 0)
    xmin = np.where(both, np.float32(-1), xmin).astype(np.float32)
    xmax = np.where(both, np.float32(1), xmax).astype(np.float32)
    scale = ((xmax - xmin) / maxq).astype(np.float32)[:, None]
    zero = (np.full_like(scale, (maxq + 1) / 2) if sym else np.round(-xmin[:, None] / scale)).astype(np.float32)
    q = np.clip(np.round(rows / scale) + zero, 0, maxq).astype(np.float32)
    return (scale * (q - zero)).astype(np.float32).reshape(out_f, in_f)


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    rng = np.random.default_rng(11)
    w = (rng.standard_normal((96, 384)) * 0.05).astype(np.float32)
    w[3, 17] = 1.7     # outliers
    w[40, 200] = -2.2
    w[7, :] = 0.0      # all-zero row: the (-1, +1) fallback grid
    w[8, :] = 0.25     # constant positive row
    cases = {"w": w}
    for bits in (2, 3, 4, 8):
        for group in (0, 128):
            for sym in (False, True):
                cases[f"{bits}b_g{group}_{'sym' if sym else 'asym'}"] = fake_quant(w, bits, group, sym)
    os.makedirs(os.path.dirname(os.path.abspath(sys.argv[1])), exist_ok=True)
    st_numpy.save_file(cases, sys.argv[1])
    print(f"{len(cases) - 1} cases")


if __name__ == "__main__":
    main()

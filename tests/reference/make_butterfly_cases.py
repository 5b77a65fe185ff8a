"""Expected QuIP butterfly products from a plain transcription of Cornell-RelaxML/QuIP method.py
(butterfly_factors, mul_ortho_butterfly), independent of lowbit's C++: for given factors (random
orthogonal blocks, input and output permutations, drawn here with torch) the dense matrix the
reference's mul_ortho_butterfly(Bpp, I) builds. lowbit's test loads the same factors into its
Butterfly and compares its structured product.

Usage: make_butterfly_cases.py OUT.safetensors
Writes per n: "n<n>.factors" (i64 [2]), ".block0" / ".block1" (f64 [n/p, p, p]), ".perm_in" /
".perm_out" (i64 [n]), ".dense" (f64 [n, n]).
"""
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _require import require  # noqa: E402

torch, st_torch = require("torch", "safetensors.torch")


def prime_factors(n):  # ascending, as primefac yields them for these sizes
    out, d = [], 2
    while n > 1:
        if d * d > n:
            out.append(n)
            break
        if n % d == 0:
            out.append(d)
            n //= d
        else:
            d += 1
    return out


def butterfly_factors(n):
    pf = prime_factors(n)
    return (math.prod(pf[0::2]), math.prod(pf[1::2]))


def mul_ortho_butterfly(B, p_in, p_out, x):
    n, q = x.shape
    x = x[p_in, :]
    pfn = butterfly_factors(n)
    for i in range(len(pfn)):
        mpfx, p, msfx = math.prod(pfn[0:i]), pfn[i], math.prod(pfn[(i + 1):])
        x = x.reshape(mpfx, p, msfx, q).permute(0, 2, 1, 3).reshape(mpfx * msfx, p, q)
        x = B[i] @ x
        x = x.reshape(mpfx, msfx, p, q).permute(0, 2, 1, 3).reshape(n, q)
    return x[p_out, :]


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    torch.manual_seed(16)
    out = {}
    for n in (768, 256, 14, 13):
        f = butterfly_factors(n)
        B = [torch.linalg.qr(torch.randn(n // p, p, p, dtype=torch.float64))[0] for p in f]
        p_in, p_out = torch.randperm(n), torch.randperm(n)
        out[f"n{n}.factors"] = torch.tensor(f)
        out[f"n{n}.block0"], out[f"n{n}.block1"] = B[0].contiguous(), B[1].contiguous()
        out[f"n{n}.perm_in"], out[f"n{n}.perm_out"] = p_in, p_out
        out[f"n{n}.dense"] = mul_ortho_butterfly(B, p_in, p_out, torch.eye(n, dtype=torch.float64)).contiguous()
    os.makedirs(os.path.dirname(os.path.abspath(sys.argv[1])), exist_ok=True)
    st_torch.save_file(out, sys.argv[1])
    print(f"{len(out) // 6} butterfly cases")


if __name__ == "__main__":
    main()

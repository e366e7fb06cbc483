#!/usr/bin/python3
"""Writes tests/fixtures/ref_int8/<name>.json: what siamsql's "compute":"int8" must give
for each fixture model and the token ids in tests/fixtures/ref/<name>.json.

The semantics it pins down (model/gemm_int8.h), for each of a BERT layer's four dense
products (query/key/value, attention output, intermediate, output):
  - the weight, per output channel n: s_w = max |W[n]| / 127, w = round(W[n] / s_w),
    clamped to -127..127;
  - the input, per row (token) m, taken as float32: lo = min(0, min x), hi = max(0, max x),
    s_x = (hi - lo) / 255, z = round(-lo / s_x), q = clamp(round(x / s_x) + z, 0, 255);
  - y = s_x s_w sum (q - z) w + b, the sum exact.
All scales in float32 arithmetic, round half to even (torch.round), as the C code does;
everything else (embeddings, attention scores, softmax, LayerNorm, GELU, pooling, the
dense head) stays in float64, from reference.py's encoder.  The int8-vs-float cosine it
prints shows how far int8 lands from float32, i.e. that the C test comparing against
these tells the two apart.

Run from the repository root after gen_fixtures.py:
    /usr/bin/python3 tests/gen/gen_int8.py
"""
import os
import sys

import torch

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference as ref  # noqa: E402

REFS = "tests/fixtures/ref"
OUT = "tests/fixtures/ref_int8"


def quantize_weight(w):
    """w (out, in) -> (int values as float64, per-row float32 scale)."""
    w = w.to(torch.float32)
    s = w.abs().max(dim=1).values / 127
    s = torch.where(s > 0, s, torch.ones_like(s))
    q = torch.clamp(torch.round(w / s[:, None]), -127, 127)
    return q.to(torch.float64), s


def quantize_rows(x):
    """x (..., K) -> (q - z as float64, per-row float32 scale)."""
    x = x.to(torch.float32)
    lo = torch.clamp(x.min(dim=-1).values, max=0)
    hi = torch.clamp(x.max(dim=-1).values, min=0)
    s = (hi - lo) / 255
    s = torch.where(s > 0, s, torch.ones_like(s))
    z = torch.round(-lo / s)
    q = torch.clamp(torch.round(x / s[..., None]) + z[..., None], 0, 255)
    return (q - z[..., None]).to(torch.float64), s


class Int8DenseRef(ref.SentenceModelRef):
    def linear(self, x, prefix):
        wq, sw = quantize_weight(self.w[prefix + ".weight"])
        xq, sx = quantize_rows(x)
        scale = (sx[..., None] * sw).to(torch.float64)  # float32 product, as in C
        return (xq @ wq.T) * scale + self.w[prefix + ".bias"]


def main():
    ref.write_mode_refs(REFS, OUT, Int8DenseRef, "int8")


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""Writes tests/fixtures/ref_bf16/<name>.json: what siamsql's "compute":"bf16" must give
for each fixture model and the token ids in tests/fixtures/ref/<name>.json.

The semantics it pins down: each of a BERT layer's four dense products (query/key/value,
attention output, intermediate, output) takes its input and its weight rounded to
bfloat16 (round to nearest even, torch's .to(torch.bfloat16)), and sums the exact
products at high precision; everything else (embeddings, attention scores, softmax,
LayerNorm, GELU, pooling, the dense head) stays at full precision.  Computed in float64
by reference.py's encoder with its linear() rounded; the fp32-vs-bf16 cosine it prints
shows how far the bf16 embeddings are from the float32 ones, i.e. that the C test
comparing against these (cos >= 0.99999) tells the two apart.

Run from the repository root after gen_fixtures.py:
    /usr/bin/python3 tests/gen/gen_bf16.py
"""
import os
import sys

import torch

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference as ref  # noqa: E402

REFS = "tests/fixtures/ref"
OUT = "tests/fixtures/ref_bf16"


def to_bf16(t):
    return t.to(torch.float32).to(torch.bfloat16).to(torch.float64)


class Bf16DenseRef(ref.SentenceModelRef):
    def linear(self, x, prefix):
        return to_bf16(x) @ to_bf16(self.w[prefix + ".weight"]).T + self.w[prefix + ".bias"]


def main():
    ref.write_mode_refs(REFS, OUT, Bf16DenseRef, "bf16")


if __name__ == "__main__":
    main()

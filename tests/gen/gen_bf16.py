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
import json
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
    os.makedirs(OUT, exist_ok=True)
    for name in sorted(os.listdir(REFS)):
        r = json.load(open(os.path.join(REFS, name)))
        model = Bf16DenseRef(r["dir"])
        emb = model.embed_ids(r["ids"])
        f64 = torch.tensor(r["embeddings"], dtype=torch.float64)
        cos = torch.nn.functional.cosine_similarity(emb, f64, dim=1)
        head = {"model": r["model"], "dim": emb.shape[1]}
        lines = [json.dumps(head)[:-1] + ","]
        lines.append(' "embeddings": [\n  ' + ",\n  ".join(
            json.dumps([float("%.9g" % v) for v in row]) for row in emb.tolist()) + "]}")
        with open(os.path.join(OUT, name), "w") as f:
            f.write("\n".join(lines) + "\n")
        rel = ((emb - f64).abs().max(dim=1).values / f64.abs().max(dim=1).values.clamp(min=1)).max().item()
        print(f"{r['model']:26s} bf16 vs float: 1 - cos max {(1 - cos).max().item():.2e} "
              f"mean {(1 - cos).mean().item():.2e}, max |diff| / max(1, |emb|) {rel:.2e}")


if __name__ == "__main__":
    main()

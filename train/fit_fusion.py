#!/usr/bin/python3
"""fit_fusion.py — chooses how siam_search fuses a model's dense ranking with FTS5
bm25's, on the validation split only (training-side data the model was not trained
on; the held-out split is never looked at), and stores the choice with the model
(models/default/siamsql.json, which siam_import reads into the config).

For each validation task it takes the model's and bm25's best 100, then tries
reciprocal rank fusion over a grid of k and dense weights, computed exactly as
model/fusion.c computes it.  The choice maximises the smallest gain over bm25 across
the tasks (siam_search must never do worse than bm25 alone), ties broken by the mean.

Usage: /usr/bin/python3 train/fit_fusion.py [--model models/default] [--data train/data]
"""
import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "bench"))
import eval_retrieval as ev  # noqa: E402

KS = (1, 2, 5, 10, 20, 30, 40, 60, 80, 100, 150)
WEIGHTS = tuple(round(0.05 * i, 2) for i in range(2, 19))
DEPTH = 100


def fuse(dense, bm25, k, w):
    """The order model/fusion.c gives: score desc, then id."""
    score = {}
    for r, d in enumerate(dense[:DEPTH], 1):
        score[d] = w / (k + r)
    for r, d in enumerate(bm25[:DEPTH], 1):
        score[d] = score.get(d, 0.0) + (1 - w) / (k + r)
    return [d for d, _ in sorted(score.items(), key=lambda kv: (-kv[1], kv[0]))]


def mrr(ranked, relevant):
    return ev.metrics(ranked, relevant)["mrr"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default=os.path.join(ROOT, "models", "default"))
    ap.add_argument("--data", default=os.path.join(HERE, "data"))
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    res = ev.evaluate(args.model, args.data, ev.TASKS, ("dense", "FTS5 bm25"), split="valid", keep_rankings=True)
    tasks = [t for t in ev.TASKS if t + " rankings" in res and res[t + " size"][1] >= 20]
    base = {t: res[t]["FTS5 bm25"]["mrr"] for t in tasks}
    for t in tasks:
        print(f"valid {t:18s} queries {res[t + ' size'][1]:5d}  dense MRR {res[t]['dense']['mrr']:.3f}  "
              f"bm25 MRR {base[t]:.3f}")
    best = None
    for k in KS:
        for w in WEIGHTS:
            gains = []
            for t in tasks:
                rk = res[t + " rankings"]
                fused = [fuse(d, b, k, w) for d, b in zip(rk["dense"], rk["FTS5 bm25"])]
                gains.append(mrr(fused, res[t + " relevant"]) - base[t])
            key = (round(min(gains), 4), sum(gains) / len(gains))
            if best is None or key > best[0]:
                best = (key, k, w, gains)
    (worst, mean), k, w, gains = best
    print(f"chosen: k {k}, dense weight {w}: gain over bm25 MRR per task "
          + ", ".join(f"{t} {g:+.3f}" for t, g in zip(tasks, gains)) + f" (smallest {worst:+.3f}, mean {mean:+.3f})")
    if args.no_write:
        return
    out = {"search": {"fusion": "rrf", "k": k, "dense_weight": w, "depth": DEPTH},
           "fitted_on": "validation split (train/fit_fusion.py): " + ", ".join(tasks)}
    with open(os.path.join(args.model, "siamsql.json"), "w") as f:
        json.dump(out, f, indent=2)
        f.write("\n")
    print("wrote", os.path.join(args.model, "siamsql.json"))


if __name__ == "__main__":
    main()

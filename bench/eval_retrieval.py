#!/usr/bin/python3
"""eval_retrieval.py — how well the shipped default model finds related
passages, against the lexical baselines a SQLite user already has.

On the held-out split of Debian package descriptions (train/build_data.py;
sources never seen in training):
  (a) near-duplicates: each description with same-source siblings queries
      all held-out descriptions; a hit is any sibling;
  (b) synopsis -> description: each one-line synopsis queries all held-out
      long descriptions; the hit is its own package's description.
Methods: siamsql (siam_embed_each in SQLite, cosine), SQLite FTS5 bm25 (the query's
words OR-ed), TF-IDF cosine (log tf, smoothed idf, written here).
Reports recall@1, recall@10 and MRR (of the first hit, 0 past rank 100).

Usage: /usr/bin/python3 bench/eval_retrieval.py [--model models/default] [--data train/data]
(needs Debian's /usr/bin/python3 for sqlite3 extension loading, and numpy)
"""
import argparse
import collections
import json
import math
import os
import re
import sqlite3
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORD = re.compile(r"\w+", re.UNICODE)
DEPTH = 100  # ranks past this count as misses


def load(data_dir):
    passages = {}
    with open(os.path.join(data_dir, "passages.jsonl"), encoding="utf-8") as f:
        for line in f:
            p = json.loads(line)
            if p["split"] == "heldout":
                passages[p["package"]] = p
    siblings = collections.defaultdict(set)
    with open(os.path.join(data_dir, "heldout_dup.tsv"), encoding="utf-8") as f:
        for line in f:
            _, a, b = line.rstrip("\n").split("\t")
            if a in passages and b in passages:
                siblings[a].add(b)
                siblings[b].add(a)
    synopses = []
    with open(os.path.join(data_dir, "heldout_syn.tsv"), encoding="utf-8") as f:
        for line in f:
            _, pkg = line.rstrip("\n").split("\t")
            if pkg in passages and passages[pkg]["synopsis"].strip():
                synopses.append(pkg)
    return passages, siblings, synopses


def metrics(ranked_lists, relevant_sets):
    r1 = r10 = mrr = 0.0
    for ranked, rel in zip(ranked_lists, relevant_sets):
        for rank, doc in enumerate(ranked[:DEPTH], 1):
            if doc in rel:
                r1 += rank == 1
                r10 += rank <= 10
                mrr += 1.0 / rank
                break
    n = len(ranked_lists)
    return r1 / n, r10 / n, mrr / n


# ---- siamsql -------------------------------------------------------------------

def embed_all(db, texts):
    """Embeds texts in bulk (siam_embed_each), one row per text, in order."""
    db.execute("CREATE TEMP TABLE IF NOT EXISTS eval_texts(id INTEGER PRIMARY KEY, t TEXT)")
    db.execute("DELETE FROM eval_texts")
    db.executemany("INSERT INTO eval_texts(id, t) VALUES (?, ?)", enumerate(texts))
    rows = db.execute("SELECT id, embedding FROM siam_embed_each('m', 'SELECT id, t FROM eval_texts ORDER BY id') "
                      "ORDER BY id").fetchall()
    assert [r[0] for r in rows] == list(range(len(texts)))
    return np.stack([np.frombuffer(r[1], dtype=np.float32) for r in rows])


def siamsql_rankings(model_dir, names, texts, queries, exclude):
    db = sqlite3.connect(":memory:")
    db.enable_load_extension(True)
    db.load_extension(os.path.join(ROOT, "siamsql"))
    db.execute("SELECT siam_import('m', ?)", (model_dir,))
    t0 = time.time()
    docs, qs = embed_all(db, texts), embed_all(db, queries)
    seconds = time.time() - t0
    docs /= np.maximum(np.linalg.norm(docs, axis=1, keepdims=True), 1e-12)
    qs /= np.maximum(np.linalg.norm(qs, axis=1, keepdims=True), 1e-12)
    scores = qs @ docs.T
    out = []
    for i, row in enumerate(scores):
        if exclude[i] is not None:
            row[exclude[i]] = -np.inf
        top = np.argpartition(-row, DEPTH)[:DEPTH]
        top = top[np.argsort(-row[top])]
        out.append([names[j] for j in top])
    return out, seconds


# ---- FTS5 bm25 -----------------------------------------------------------------

def fts5_rankings(names, texts, queries, exclude_names):
    db = sqlite3.connect(":memory:")
    db.execute("CREATE VIRTUAL TABLE docs USING fts5(name UNINDEXED, body)")
    db.executemany("INSERT INTO docs(name, body) VALUES (?, ?)", zip(names, texts))
    out = []
    for q, ex in zip(queries, exclude_names):
        words = list(dict.fromkeys(w.lower() for w in WORD.findall(q)))[:64]
        if not words:
            out.append([])
            continue
        match = " OR ".join('"' + w.replace('"', '""') + '"' for w in words)
        rows = db.execute("SELECT name FROM docs WHERE docs MATCH ? ORDER BY bm25(docs) LIMIT ?",
                          (match, DEPTH + 1)).fetchall()
        out.append([r[0] for r in rows if r[0] != ex][:DEPTH])
    return out


# ---- TF-IDF cosine ---------------------------------------------------------------

def tfidf_vectors(texts, idf=None):
    bags = [collections.Counter(w.lower() for w in WORD.findall(t)) for t in texts]
    if idf is None:
        df = collections.Counter(w for b in bags for w in b)
        n = len(bags)
        idf = {w: math.log((1 + n) / (1 + c)) + 1 for w, c in df.items()}
    vecs = []
    for b in bags:
        v = {w: (1 + math.log(c)) * idf[w] for w, c in b.items() if w in idf}
        norm = math.sqrt(sum(x * x for x in v.values())) or 1.0
        vecs.append({w: x / norm for w, x in v.items()})
    return vecs, idf


def tfidf_rankings(names, texts, queries, exclude):
    docs, idf = tfidf_vectors(texts)
    postings = collections.defaultdict(list)
    for j, v in enumerate(docs):
        for w, x in v.items():
            postings[w].append((j, x))
    qvecs, _ = tfidf_vectors(queries, idf)
    out = []
    for i, qv in enumerate(qvecs):
        acc = collections.defaultdict(float)
        for w, x in qv.items():
            for j, y in postings.get(w, ()):
                acc[j] += x * y
        if exclude[i] is not None:
            acc.pop(exclude[i], None)
        top = sorted(acc.items(), key=lambda kv: -kv[1])[:DEPTH]
        out.append([names[j] for j, _ in top])
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=os.path.join(ROOT, "models/default"))
    ap.add_argument("--data", default=os.path.join(ROOT, "train/data"))
    args = ap.parse_args()
    if not os.path.exists(os.path.join(args.data, "passages.jsonl")):
        sys.exit(f"no {args.data}/passages.jsonl: run /usr/bin/python3 train/build_data.py first")
    passages, siblings, synopses = load(args.data)
    names = sorted(passages)
    index = {n: i for i, n in enumerate(names)}
    texts = [passages[n]["text"] for n in names]
    dup_queries = [n for n in names if siblings.get(n)]
    tasks = {
        "near-duplicate": ([passages[n]["text"] for n in dup_queries], [siblings[n] for n in dup_queries],
                           [index[n] for n in dup_queries], dup_queries),
        "synopsis->desc": ([passages[n]["synopsis"] for n in synopses], [{n} for n in synopses],
                           [None] * len(synopses), [None] * len(synopses)),
    }
    print(f"held-out corpus: {len(names)} descriptions; near-duplicate queries: {len(dup_queries)}; "
          f"synopsis queries: {len(synopses)}")
    print(f"{'task':16} {'method':18} {'R@1':>6} {'R@10':>6} {'MRR':>6}")
    for task, (queries, relevant, exclude_idx, exclude_name) in tasks.items():
        results = {}
        ranked, secs = siamsql_rankings(args.model, names, texts, queries, exclude_idx)
        results["siamsql default"] = metrics(ranked, relevant)
        results["FTS5 bm25"] = metrics(fts5_rankings(names, texts, queries, exclude_name), relevant)
        results["TF-IDF cosine"] = metrics(tfidf_rankings(names, texts, queries, exclude_idx), relevant)
        for method, (r1, r10, mrr) in results.items():
            print(f"{task:16} {method:18} {r1:6.3f} {r10:6.3f} {mrr:6.3f}")
        print(f"  (siamsql embedded {len(names) + len(queries)} texts in bulk (siam_embed_each) in {secs:.1f} s)")


if __name__ == "__main__":
    main()

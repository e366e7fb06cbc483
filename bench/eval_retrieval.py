#!/usr/bin/python3
"""eval_retrieval.py — how well a siamsql model finds related passages, against the
lexical baselines a SQLite user already has, on text the model never saw.

Held-out tasks (train/build_data.py and train/build_docs.py keep these sources out of
training: packages by source, documentation by page):
  near-duplicate     each held-out package description with same-source siblings
                     queries all held-out descriptions; a hit is any sibling
  synopsis->desc     each one-line synopsis queries all held-out descriptions; the hit
                     is its own package's description
  heading->section   each held-out documentation section's heading (headings that
                     occur once) queries all held-out sections; the hit is its section
  paraphrase         a package's description in one Debian release queries the
                     held-out descriptions as a later release wrote them; the hit is
                     the rewritten one
  edited copy        a held-out section with words dropped, swapped and misspelt
                     (seeded) queries the original sections; the hit is its original
Methods, all in SQLite: dense (siam_embed_each, cosine), hybrid (siam_search: FTS5
bm25 and dense fused as the model's config says), FTS5 bm25 (siam_fts_query: the
query's words OR-ed), FTS5 bm25 with the porter stemmer, and TF-IDF cosine (log tf,
smoothed idf, written here).  Reports recall@1, recall@10, MRR (of the first hit, 0
past rank 100) and seconds.

Usage: /usr/bin/python3 bench/eval_retrieval.py [--model models/default] [--data train/data]
       [--tasks near-duplicate,...] [--json out.json]
Other scripts call evaluate(model_dir, data_dir, tasks) for the same figures.
"""
import argparse
import collections
import hashlib
import json
import math
import os
import random
import re
import sqlite3
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORD = re.compile(r"\w+", re.UNICODE)
DEPTH = 100  # ranks past this count as misses
TASKS = ("near-duplicate", "synopsis->desc", "heading->section", "paraphrase", "edited copy")
METHODS = ("dense", "hybrid", "FTS5 bm25", "FTS5 bm25 porter", "TF-IDF")


# ---- tasks -------------------------------------------------------------------------
# A task: corpus (list of texts), queries (list of texts), relevant (list of sets of
# corpus indexes), exclude (list of a corpus index to leave out, or None).

def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def read_tsv(path):
    with open(path, encoding="utf-8") as f:
        return [line.rstrip("\n").split("\t") for line in f if line.strip()]


def edit(text, rng):
    """A copy someone edited: ~15% of words dropped, a few neighbours swapped,
    ~5% of words misspelt (a letter doubled, dropped or swapped)."""
    words = [w for w in text.split() if rng.random() > 0.15]
    for _ in range(max(1, len(words) // 20)):
        if len(words) > 2:
            i = rng.randrange(len(words) - 1)
            words[i], words[i + 1] = words[i + 1], words[i]
    for i, w in enumerate(words):
        if len(w) > 3 and rng.random() < 0.05:
            j = rng.randrange(1, len(w) - 1)
            words[i] = rng.choice([w[:j] + w[j] + w[j:], w[:j] + w[j + 1:], w[:j - 1] + w[j] + w[j - 1] + w[j + 1:]])
    return " ".join(words)


def pkg_split(source):
    """heldout (bucket < 10, as train/build_data.py splits), valid (10..12: the
    training side's share that train/train.py and train/fit_fusion.py keep out
    of training for their choices) or train."""
    b = int.from_bytes(hashlib.sha1(("siamsql:" + source).encode()).digest()[:8], "big") % 100
    return "heldout" if b < 10 else "valid" if b < 13 else "train"


def doc_split(package, doc):
    b = int.from_bytes(hashlib.sha1(("siamsql-doc:" + package + "/" + doc).encode()).digest()[:8], "big") % 100
    return "heldout" if b < 10 else "valid" if b < 13 else "train"


def load_tasks(data_dir, wanted, split="heldout"):
    """The tasks over one split: "heldout" (evaluation) or "valid" (choices)."""
    passages = {p["package"]: p for p in read_jsonl(os.path.join(data_dir, "passages.jsonl"))
                if pkg_split(p["source"]) == split}
    names = sorted(passages)
    index = {n: i for i, n in enumerate(names)}
    descs = [passages[n]["text"] for n in names]
    tasks = {}
    if "near-duplicate" in wanted:
        sib = collections.defaultdict(set)
        for _, a, b in read_tsv(os.path.join(data_dir, ("heldout" if split == "heldout" else "train") + "_dup.tsv")):
            if a in index and b in index:
                sib[index[a]].add(index[b])
                sib[index[b]].add(index[a])
        qs = sorted(sib)
        tasks["near-duplicate"] = (descs, [descs[i] for i in qs], [sib[i] for i in qs], qs)
    if "synopsis->desc" in wanted:
        syn = [index[pkg] for _, pkg in read_tsv(os.path.join(data_dir, ("heldout" if split == "heldout" else "train") + "_syn.tsv"))
               if pkg in index and passages[pkg]["synopsis"].strip()]
        tasks["synopsis->desc"] = (descs, [passages[names[i]]["synopsis"] for i in syn], [{i} for i in syn],
                                   [None] * len(syn))
    sections = [s for s in read_jsonl(os.path.join(data_dir, "sections.jsonl")) if doc_split(s["package"], s["doc"]) == split]
    stexts = [s["text"] for s in sections]
    if "heading->section" in wanted:
        counts = collections.Counter(s["heading"].lower() for s in sections)
        qs = [i for i, s in enumerate(sections) if counts[s["heading"].lower()] == 1]
        tasks["heading->section"] = (stexts, [sections[i]["heading"] for i in qs], [{i} for i in qs], [None] * len(qs))
    if "paraphrase" in wanted:
        rel = collections.defaultdict(dict)
        for r in read_jsonl(os.path.join(data_dir, "releases.jsonl")):
            if pkg_split(r["source"]) == split:
                rel[r["package"]][r["release"]] = r["text"]
        corpus = list(descs)
        qs, relevant = [], []
        for _, pkg, ra, rb in read_tsv(os.path.join(data_dir, ("heldout" if split == "heldout" else "train") + "_para.tsv")):
            if pkg in index and ra in rel[pkg] and rb in rel[pkg]:
                corpus[index[pkg]] = rel[pkg][rb]
                qs.append(rel[pkg][ra])
                relevant.append({index[pkg]})
        tasks["paraphrase"] = (corpus, qs, relevant, [None] * len(qs))
    if "edited copy" in wanted:
        rng = random.Random(7)
        qs = [i for i, t in enumerate(stexts) if len(t.split()) >= 20]
        tasks["edited copy"] = (stexts, [edit(stexts[i], rng) for i in qs], [{i} for i in qs], [None] * len(qs))
    return tasks


def metrics(ranked, relevant):
    r1 = r10 = mrr = 0.0
    for ranks, rel in zip(ranked, relevant):
        for rank, doc in enumerate(ranks[:DEPTH], 1):
            if doc in rel:
                r1 += rank == 1
                r10 += rank <= 10
                mrr += 1.0 / rank
                break
    n = max(1, len(ranked))
    return {"recall@1": r1 / n, "recall@10": r10 / n, "mrr": mrr / n}


# ---- the methods, in SQLite ------------------------------------------------------------

def connect(model_dir, compute="f32"):
    db = sqlite3.connect(":memory:")
    db.enable_load_extension(True)
    db.load_extension(os.path.join(ROOT, "siamsql"))
    db.execute("SELECT siam_import('m', ?)", (model_dir,))
    if compute != "f32":  # the precision is part of the model's config
        db.execute("UPDATE siam_model SET config = json_set(config, '$.compute', ?) WHERE name = 'm'", (compute,))
    return db


def load_corpus(db, corpus, tokenize="unicode61"):
    db.execute("DROP TABLE IF EXISTS docs")
    db.execute("DROP TABLE IF EXISTS docs_fts")
    db.execute("CREATE TABLE docs(id INTEGER PRIMARY KEY, body TEXT, emb BLOB)")
    db.executemany("INSERT INTO docs(id, body) VALUES (?, ?)", enumerate(corpus, 1))
    db.execute(f"CREATE VIRTUAL TABLE docs_fts USING fts5(body, content='docs', content_rowid='id', tokenize='{tokenize}')")
    db.execute("INSERT INTO docs_fts(docs_fts) VALUES('rebuild')")


def drop_excluded(ids, exclude):
    return [i for i in ids if i != exclude][:DEPTH]


def dense_rankings(db, corpus, queries, exclude):
    t = time.time()
    db.execute("UPDATE docs SET emb = e.embedding FROM siam_embed_each('m', 'SELECT id, body FROM docs') AS e"
               " WHERE e.id = docs.id")
    db.execute("CREATE TEMP TABLE IF NOT EXISTS q(id INTEGER PRIMARY KEY, t TEXT)")
    db.execute("DELETE FROM q")
    db.executemany("INSERT INTO q(id, t) VALUES (?, ?)", enumerate(queries))
    qe = [np.frombuffer(e, dtype=np.float32) for _, e in
          db.execute("SELECT id, embedding FROM siam_embed_each('m', 'SELECT id, t FROM q ORDER BY id') ORDER BY id")]
    de = np.stack([np.frombuffer(e, dtype=np.float32) for (e,) in db.execute("SELECT emb FROM docs ORDER BY id")])
    de /= np.maximum(np.linalg.norm(de, axis=1, keepdims=True), 1e-12)
    out = []
    for i, q in enumerate(qe):
        s = de @ (q / max(np.linalg.norm(q), 1e-12))
        top = np.argpartition(-s, DEPTH + 1)[:DEPTH + 1]
        top = top[np.lexsort((top, -s[top]))]
        out.append(drop_excluded([int(j) for j in top], exclude[i]))
    return out, time.time() - t


def hybrid_rankings(db, queries, exclude):
    t = time.time()
    out = []
    for i, q in enumerate(queries):
        rows = db.execute("SELECT rowid FROM siam_search('docs', 'body', 'emb', 'm', ?, ?)", (q, DEPTH + 1)).fetchall()
        out.append(drop_excluded([r[0] - 1 for r in rows], exclude[i]))
    return out, time.time() - t


def bm25_rankings(db, queries, exclude):
    t = time.time()
    out = []
    for i, q in enumerate(queries):
        rows = db.execute("SELECT rowid FROM docs_fts WHERE docs_fts MATCH siam_fts_query(?)"
                          " ORDER BY bm25(docs_fts), rowid LIMIT ?", (q, DEPTH + 1)).fetchall() \
            if db.execute("SELECT siam_fts_query(?) IS NOT NULL", (q,)).fetchone()[0] else []
        out.append(drop_excluded([r[0] - 1 for r in rows], exclude[i]))
    return out, time.time() - t


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


def tfidf_rankings(corpus, queries, exclude):
    t = time.time()
    docs, idf = tfidf_vectors(corpus)
    postings = collections.defaultdict(list)
    for j, v in enumerate(docs):
        for w, x in v.items():
            postings[w].append((j, x))
    out = []
    for i, qv in enumerate(tfidf_vectors(queries, idf)[0]):
        acc = collections.defaultdict(float)
        for w, x in qv.items():
            for j, y in postings.get(w, ()):
                acc[j] += x * y
        top = sorted(acc.items(), key=lambda kv: (-kv[1], kv[0]))[:DEPTH + 1]
        out.append(drop_excluded([j for j, _ in top], exclude[i]))
    return out, time.time() - t


def evaluate(model_dir, data_dir, tasks=TASKS, methods=METHODS, log=print, split="heldout", keep_rankings=False,
             compute="f32"):
    """{task: {method: {recall@1, recall@10, mrr, seconds}}, task + ' size': (corpus, queries)};
    with keep_rankings, also task + ' rankings': {method: ranked lists} and task + ' relevant'."""
    db = connect(model_dir, compute)
    res = {}
    for task, (corpus, queries, relevant, exclude) in load_tasks(data_dir, tasks, split).items():
        r = res[task] = {}
        load_corpus(db, corpus)
        runs = {}
        if "dense" in methods or "hybrid" in methods:
            runs["dense"] = dense_rankings(db, corpus, queries, exclude)
        if "hybrid" in methods:
            runs["hybrid"] = hybrid_rankings(db, queries, exclude)
        if "FTS5 bm25" in methods:
            runs["FTS5 bm25"] = bm25_rankings(db, queries, exclude)
        if "FTS5 bm25 porter" in methods:
            load_corpus(db, corpus, "porter unicode61")
            runs["FTS5 bm25 porter"] = bm25_rankings(db, queries, exclude)
        if "TF-IDF" in methods:
            runs["TF-IDF"] = tfidf_rankings(corpus, queries, exclude)
        for m in methods:
            if m in runs:
                ranked, secs = runs[m]
                r[m] = dict(metrics(ranked, relevant), seconds=round(secs, 2))
        res[task + " size"] = (len(corpus), len(queries))
        if keep_rankings:
            res[task + " rankings"] = {m: runs[m][0] for m in runs}
            res[task + " relevant"] = relevant
        log(f"  {task}: {len(queries)} queries over {len(corpus)} texts done")
    return res


def print_table(res, tasks=TASKS, methods=METHODS):
    print(f"{'task':18} {'method':18} {'R@1':>6} {'R@10':>6} {'MRR':>6} {'seconds':>8}")
    for task in tasks:
        if task not in res:
            continue
        n, q = res[task + " size"]
        for m in methods:
            if m in res[task]:
                x = res[task][m]
                print(f"{task:18} {m:18} {x['recall@1']:6.3f} {x['recall@10']:6.3f} {x['mrr']:6.3f} {x['seconds']:8.1f}")
        print(f"{'':18} ({q} queries over {n} texts)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=os.path.join(ROOT, "models/default"))
    ap.add_argument("--data", default=os.path.join(ROOT, "train/data"))
    ap.add_argument("--tasks", default=",".join(TASKS))
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--compute", default="f32", choices=["f32", "bf16", "int8"], help="the model's dense-layer precision")
    ap.add_argument("--json")
    args = ap.parse_args()
    for f in ("passages.jsonl", "sections.jsonl", "releases.jsonl"):
        if not os.path.exists(os.path.join(args.data, f)):
            sys.exit(f"no {args.data}/{f}: run bash train/fetch_sources.sh, then /usr/bin/python3 train/build_data.py "
                     "and train/build_docs.py")
    tasks, methods = args.tasks.split(","), args.methods.split(",")
    res = evaluate(args.model, args.data, tasks, methods, compute=args.compute)
    print_table(res, tasks, methods)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""Similarity at scale: siamsql's batched and blocked paths against the plain
SQL they replace, on the same data, in one run (issue 6).

    make bench-similarity
    /usr/bin/python3 bench/bench_similarity.py [--runs 3] [--passages 600]
        [--sizes 10000,100000] [--sample 1500] [--queries 20] [--model DIR]

  embed    UPDATE ... FROM siam_embed_each (batched) against
           UPDATE ... SET emb = siam_embed(...) (row by row) on the first
           --passages passages of demo/data/passages.tsv; the largest
           difference between the two results is printed.
  cache    siam_similarity(model, a.text, b.text) over a 30 x 30 join of
           short texts, embedding cache on (default) and off
           (SIAMSQL_EMBED_CACHE_BYTES=0).
  pairs    siam_pairs(t, 'emb', 0.9) over --sizes random 384-d float32
           vectors (1% planted near-duplicates of nearby rows) against the plain self-join
           WHERE a.rowid < b.rowid AND siam_similarity(a.emb, b.emb) >= 0.9,
           run on the first --sample rows and extrapolated per pair; the two
           are also checked to find the same pairs on the sample.
  nearest  siam_nearest(t, 'emb', q, 10) over the largest size: the first
           query (reads the table) and the median of --queries more (the
           vectors kept in memory), against ORDER BY siam_similarity LIMIT 10.

The model is --model, else models/default, else bench/.cache/minilm (made by
`make bench`), else a small test fixture.  Figures are medians of --runs.
"""
import argparse
import os
import sqlite3
import statistics
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SO = os.path.join(ROOT, "siamsql")  # sqlite appends .so
PASSAGES = os.path.join(ROOT, "demo", "data", "passages.tsv")
MODELS = [os.path.join(ROOT, "models", "default"), os.path.join(HERE, ".cache", "minilm"),
          os.path.join(ROOT, "tests", "fixtures", "models", "st_a_mean_norm_f16")]
DIM = 384
THRESHOLD = 0.9

rows = []  # (what, siamsql, plain, ratio, target, ok)


def connect(path=":memory:"):
    db = sqlite3.connect(path, isolation_level=None)
    db.enable_load_extension(True)
    db.load_extension(SO)
    return db


def timed(db, sql, args=()):
    t = time.perf_counter()
    out = db.execute(sql, args).fetchall()
    return time.perf_counter() - t, out


def median_time(db, sql, args=(), runs=3):
    times = []
    out = None
    for _ in range(runs):
        t, out = timed(db, sql, args)
        times.append(t)
    return statistics.median(times), out


def passages(n):
    out = []
    with open(PASSAGES, encoding="utf-8") as f:
        header = f.readline().rstrip("\n").split("\t")
        for line in f:
            fields = line.rstrip("\n").split("\t")
            if len(fields) == len(header):
                out.append(dict(zip(header, fields)))
    return out[:n]


def fmt_s(t):
    return f"{t * 1e3:.1f} ms" if t < 1 else f"{t:.2f} s"


def bench_embed(args, model):
    db = connect()
    db.execute("SELECT siam_import('m', ?)", (model,))
    db.execute("CREATE TABLE p(body TEXT, emb BLOB)")
    ps = passages(args.passages)
    db.executemany("INSERT INTO p(body) VALUES (?)", [(p["text"],) for p in ps])
    db.execute("SELECT siam_embed('m', 'warm up')")
    n = len(ps)
    tokens = db.execute("SELECT sum(json_array_length(siam_tokenize('m', body))) FROM p").fetchone()[0]
    row_t, _ = median_time(db, "UPDATE p SET emb = siam_embed('m', body)", runs=args.runs)
    row_emb = [r[0] for r in db.execute("SELECT emb FROM p ORDER BY rowid")]
    bulk_t, _ = median_time(db, "UPDATE p SET emb = e.embedding FROM siam_embed_each('m', 'SELECT rowid, body FROM p')"
                            " AS e WHERE e.id = p.rowid", runs=args.runs)
    bulk_emb = [r[0] for r in db.execute("SELECT emb FROM p ORDER BY rowid")]
    diff = max(float(np.max(np.abs(np.frombuffer(a, "<f4") - np.frombuffer(b, "<f4"))))
               for a, b in zip(row_emb, bulk_emb))
    print(f"embed: {n} passages, {tokens} tokens, dim {db.execute('SELECT siam_dim(?)', ('m',)).fetchone()[0]};"
          f" largest difference bulk vs row by row {diff:.3g}")
    ratio = row_t / bulk_t
    rows.append((f"embed {n} passages (passages/s)", f"{n / bulk_t:.1f}/s", f"{n / row_t:.1f}/s", ratio,
                 ">= 1.5x", ratio >= 1.5 and diff <= 1e-6))
    return db, ps


def bench_cache(args, model, ps):
    texts = [p["synopsis"] for p in ps[:30]]
    sql = ("SELECT count(*) FROM t a, t b WHERE siam_similarity('m', a.s, b.s) > 0.5")
    results = {}
    for label, env in (("on", None), ("off", "0")):
        if env is None:
            os.environ.pop("SIAMSQL_EMBED_CACHE_BYTES", None)
        else:
            os.environ["SIAMSQL_EMBED_CACHE_BYTES"] = env
        db = connect()
        db.execute("SELECT siam_import('m', ?)", (model,))
        db.execute("CREATE TABLE t(s TEXT)")
        db.executemany("INSERT INTO t VALUES (?)", [(s,) for s in texts])
        db.execute("SELECT siam_embed('m', 'warm up')")
        # Each run in a fresh statement; the cache outlives statements, so
        # only the first "on" run pays for encoding: report that one.
        t, out = timed(db, sql)
        results[label] = (t, out)
        db.close()
    os.environ.pop("SIAMSQL_EMBED_CACHE_BYTES", None)
    same = results["on"][1] == results["off"][1]
    ratio = results["off"][0] / results["on"][0]
    n = len(texts)
    rows.append((f"similarity(model, a, b) {n}x{n} texts, cache on vs off", fmt_s(results["on"][0]),
                 fmt_s(results["off"][0]), ratio, "same result", same))


def make_vectors(n, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, DIM)).astype("<f4")
    # Near-duplicates of a row up to 50 rows earlier, so a sample of the
    # first rows holds some of them too.
    dup = np.sort(rng.choice(np.arange(50, n), size=n // 100, replace=False))
    src = dup - rng.integers(1, 51, size=len(dup))
    for d, s in zip(dup, src):
        x[d] = x[s] + 0.2 * rng.standard_normal(DIM).astype("<f4")
    return x


def load_table(db, name, x):
    db.execute(f"CREATE TABLE {name}(emb BLOB)")
    db.execute("BEGIN")
    db.executemany(f"INSERT INTO {name}(emb) VALUES (?)", ((r.tobytes(),) for r in x))
    db.execute("COMMIT")


def bench_pairs(args, db, n, x):
    table = f"v{n}"
    load_table(db, table, x)
    fast_sql = f"SELECT count(*) FROM siam_pairs('{table}', 'emb', {THRESHOLD})"
    t, out = median_time(db, fast_sql, runs=args.runs if n <= 20000 else max(1, min(args.runs, 3)))
    found = out[0][0]

    s = min(args.sample, n)
    sample = f"s{n}"
    load_table(db, sample, x[:s])
    join = (f"SELECT a.rowid, b.rowid FROM {sample} a, {sample} b WHERE a.rowid < b.rowid"
            f" AND siam_similarity(a.emb, b.emb) >= {THRESHOLD}")
    tj, jrows = median_time(db, join, runs=args.runs)
    per_pair = tj / (s * (s - 1) / 2)
    plain = per_pair * n * (n - 1) / 2
    frows = db.execute(f"SELECT rowid_a, rowid_b FROM siam_pairs('{sample}', 'emb', {THRESHOLD})").fetchall()
    same = sorted(jrows) == sorted(frows)
    print(f"pairs n={n}: {found} pairs >= {THRESHOLD}; plain join on {s} rows {fmt_s(tj)}"
          f" ({per_pair * 1e9:.0f} ns/pair); same pairs on the sample: {'yes' if same else 'NO'} ({len(frows)})")
    ratio = plain / t
    target = "< 2 min, >= 50x" if n >= 100000 else ">= 50x"
    ok = same and ratio >= 50 and (n < 100000 or t < 120)
    rows.append((f"siam_pairs {n} x {DIM}-d, t={THRESHOLD}", fmt_s(t), fmt_s(plain) + " (extrap.)", ratio, target, ok))
    return table


def bench_nearest(args, db, table, n, x):
    rng = np.random.default_rng(7)
    queries = [(x[i] + 0.3 * rng.standard_normal(DIM).astype("<f4")).tobytes()
               for i in rng.choice(n, size=args.queries + 1)]
    sql = f"SELECT rowid, score FROM siam_nearest('{table}', 'emb', ?, 10)"
    db.execute(f"SELECT 1 FROM {table} LIMIT 1")
    # Leave the kept vectors of earlier statements behind: a change commits.
    db.execute(f"UPDATE {table} SET emb = emb WHERE rowid = 1")
    cold, _ = timed(db, sql, (queries[0],))
    warm = []
    for q in queries[1:]:
        t, _ = timed(db, sql, (q,))
        warm.append(t)
    t = statistics.median(warm)
    plain_sql = f"SELECT rowid, siam_similarity(emb, ?1) AS s FROM {table} ORDER BY s DESC LIMIT 10"
    tp, prow = median_time(db, plain_sql, (queries[1],), runs=args.runs)
    frow = db.execute(sql, (queries[1],)).fetchall()
    same = [r[0] for r in prow] == [r[0] for r in frow]
    print(f"nearest n={n}: first query (reads the table) {fmt_s(cold)}; median of {len(warm)} more {fmt_s(t)};"
          f" same top 10 as ORDER BY siam_similarity: {'yes' if same else 'NO'}")
    rows.append((f"siam_nearest k=10 over {n} x {DIM}-d", fmt_s(t), fmt_s(tp), tp / t, "< 40 ms", same and t < 0.040))
    rows.append((f"siam_nearest k=10, first query (reads the table)", fmt_s(cold), fmt_s(tp), tp / cold, "-", True))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--passages", type=int, default=600)
    ap.add_argument("--sizes", default="10000,100000")
    ap.add_argument("--sample", type=int, default=1500)
    ap.add_argument("--queries", type=int, default=20)
    ap.add_argument("--model")
    ap.add_argument("--skip", default="", help="comma-separated: embed,cache,pairs,nearest")
    args = ap.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    model = args.model or next(m for m in MODELS if os.path.isdir(m))
    db = connect()
    print(f"siamsql: {db.execute('SELECT siam_info()').fetchone()[0]}")
    print(f"model: {os.path.relpath(model, ROOT)}; SQLite {sqlite3.sqlite_version}; {os.cpu_count()} CPUs;"
          f" load average {os.getloadavg()[0]:.1f}")
    ps = passages(args.passages)
    if "embed" not in skip:
        bench_embed(args, model)
    if "cache" not in skip:
        bench_cache(args, model, ps)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    table = None
    for i, n in enumerate(sizes):
        x = make_vectors(n, seed=i + 1)
        if "pairs" not in skip:
            table = bench_pairs(args, db, n, x)
        elif n == max(sizes):
            table = f"v{n}"
            load_table(db, table, x)
        if n == max(sizes) and "nearest" not in skip:
            bench_nearest(args, db, table, n, x)

    print()
    w = max(len(r[0]) for r in rows)
    print(f"{'measurement':<{w}}  {'siamsql':>12}  {'plain SQL':>22}  {'ratio':>8}  {'target':<16} ok")
    print("-" * (w + 72))
    for what, fast, plain, ratio, target, ok in rows:
        print(f"{what:<{w}}  {fast:>12}  {plain:>22}  {ratio:>7.1f}x  {target:<16} {'yes' if ok else 'NO'}")
    return 0 if all(r[5] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())

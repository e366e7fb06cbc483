"""Checks what docs/similarity.md's sqlite-vec recipe built: one connection
with siamsql and sqlite-vec loaded, its passage_vec (vec0, L2) and a second
vec0 table with distance_metric=cosine over the same vectors, against
siam_nearest and an independent brute-force search (Python, double
precision) over those vectors: the same rowids, and cosines within 1e-6.

Run by tests/docs/run_snippets.py after the recipe, in its scratch directory:
    /usr/bin/python3 tests/docs/check_sqlite_vec.py DB_PATH
Prints 'check_sqlite_vec.py: N passed, N failed'.
"""
import math
import sqlite3
import struct
import sys

VEC0 = "sqlite-vec/node_modules/sqlite-vec-linux-x64/vec0"
QUERIES = ["cheap flights to Lisbon", "extract files from compressed archives",
           "a small text editor for the terminal", "library for HTTP requests", "fonts"]
K = 10
TOLERANCE = 1e-6

passed = failed = 0
worst_by_search = {}  # search -> the largest |cosine - exact| it reported


def check(name, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
    else:
        failed += 1
        print(f"FAIL {name} {detail}")


def floats(blob):
    return struct.unpack(f"<{len(blob) // 4}f", blob)


def cosine(a, b):
    dot = sum(x * y for x, y in zip(a, b))
    return dot / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))


def compare(name, got, all_scores, k):
    """got: [(rowid, cosine)], k of them, as a search reported them. all_scores:
    {rowid: exact cosine} over every vector. Ties at the k-th place aside, the
    rowids must be the k best, and every cosine the exact one."""
    best = sorted(all_scores.items(), key=lambda item: -item[1])[:k]
    cutoff = best[-1][1]
    check(f"{name}: {k} results", len(got) == k, len(got))
    worst = max((abs(score - all_scores.get(rowid, math.inf)) for rowid, score in got), default=math.inf)
    check(f"{name}: every cosine within {TOLERANCE} of the exact one", worst <= TOLERANCE, worst)
    search = name.split("' ", 1)[1]
    worst_by_search[search] = max(worst, worst_by_search.get(search, 0.0))
    must = {rowid for rowid, score in best if score > cutoff + TOLERANCE}
    allowed = {rowid for rowid, score in all_scores.items() if score >= cutoff - TOLERANCE}
    rowids = {rowid for rowid, _ in got}
    check(f"{name}: the k nearest rowids", must <= rowids <= allowed,
          f"missing {sorted(must - rowids)}, not among the nearest {sorted(rowids - allowed)}")


def main(db_path):
    db = sqlite3.connect(db_path)
    db.enable_load_extension(True)
    db.load_extension("./siamsql")
    db.load_extension(VEC0)
    db.enable_load_extension(False)

    stored = dict(db.execute("SELECT rowid, embedding FROM passage_vec"))
    fresh = dict(db.execute("SELECT id, embedding FROM siam_embed_each('default', 'SELECT rowid, body FROM passages')"))
    check("passage_vec holds every passage's siamsql embedding, byte for byte", stored == fresh,
          f"{len(stored)} stored, {len(fresh)} embedded")
    vectors = {rowid: floats(blob) for rowid, blob in stored.items()}
    worst_norm = max(abs(math.sqrt(sum(x * x for x in v)) - 1) for v in vectors.values())
    check("the embeddings are normalized (so L2 distance ranks like cosine)", worst_norm < 1e-5, worst_norm)

    db.execute("CREATE TEMP TABLE check_vectors(emb BLOB)")
    db.executemany("INSERT INTO check_vectors(rowid, emb) VALUES (?, ?)", stored.items())
    dim = db.execute("SELECT siam_dim('default')").fetchone()[0]
    db.execute(f"CREATE VIRTUAL TABLE temp.check_cosine USING vec0(embedding float[{dim}] distance_metric=cosine)")
    db.execute("INSERT INTO check_cosine(rowid, embedding) SELECT rowid, emb FROM check_vectors")

    for text in QUERIES:
        (query,) = db.execute("SELECT siam_embed('default', ?)", (text,)).fetchone()
        q = floats(query)
        exact = {rowid: cosine(q, v) for rowid, v in vectors.items()}
        l2 = db.execute("SELECT rowid, distance FROM passage_vec WHERE embedding MATCH ? AND k = ?", (query, K))
        compare(f"'{text}' vec0 L2", [(r, 1 - d * d / 2) for r, d in l2], exact, K)
        cos = db.execute("SELECT rowid, distance FROM check_cosine WHERE embedding MATCH ? AND k = ?", (query, K))
        compare(f"'{text}' vec0 cosine", [(r, 1 - d) for r, d in cos], exact, K)
        nearest = db.execute("SELECT rowid, score FROM siam_nearest('check_vectors', 'emb', ?, ?)", (query, K))
        compare(f"'{text}' siam_nearest", list(nearest), exact, K)
    print(f"{len(QUERIES)} queries, k={K}, {len(vectors)} vectors of {dim} floats; largest |cosine - exact|: " +
          ", ".join(f"{search} {worst:.1e}" for search, worst in worst_by_search.items()))
    print(f"check_sqlite_vec.py: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))

"""The Python door: Debian's /usr/bin/python3 sqlite3 module loads siamsql
and runs import -> embed -> similarity -> update, as the README shows.

Usage: /usr/bin/python3 tests/doors/door.py PATH_TO_siamsql MODEL_DIR
Prints 'N passed, N failed'; exit status 1 on any failure.
"""
import sqlite3
import sys

passed = failed = 0


def check(name, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
    else:
        failed += 1
        print(f"FAIL {name} {detail}")


def main(ext, model_dir):
    if not hasattr(sqlite3.Connection, "enable_load_extension"):
        print(f"FAIL {sys.executable}: this Python's sqlite3 was built without extension loading; "
              "use Debian's /usr/bin/python3")
        return 1
    db = sqlite3.connect(":memory:")
    db.enable_load_extension(True)
    db.load_extension(ext)
    db.enable_load_extension(False)

    n = db.execute("SELECT siam_import('m', ?)", (model_dir,)).fetchone()[0]
    check("import", n > 5, n)
    dim = db.execute("SELECT siam_dim('m')").fetchone()[0]
    emb = db.execute("SELECT siam_embed('m', ?)", ("a cat sat on the mat",)).fetchone()[0]
    check("embed is float32 bytes", isinstance(emb, bytes) and len(emb) == 4 * dim, len(emb))
    same = db.execute("SELECT siam_similarity('m', ?, ?)", ("a cat", "a cat")).fetchone()[0]
    check("self similarity", abs(same - 1) < 1e-6, same)

    db.execute("CREATE TABLE docs(id INTEGER PRIMARY KEY, body TEXT, emb BLOB)")
    db.executemany("INSERT INTO docs(body) VALUES (?)", [("the cat sat",), ("a dog ran",), ("cats sit",)])
    db.execute("UPDATE docs SET emb = siam_embed('m', body)")
    top = db.execute("""SELECT id FROM docs ORDER BY siam_similarity(emb, siam_embed('m', 'the cat sat')) DESC
                        LIMIT 1""").fetchone()[0]
    check("top match", top == 1, top)

    db.execute("""UPDATE siam_tensor SET data = siam_pack(zeroblob(length(siam_unpack(data))))
                  WHERE model = 'm' AND name = 'embeddings.LayerNorm.bias'""")
    after = db.execute("SELECT siam_embed('m', ?)", ("a cat sat on the mat",)).fetchone()[0]
    check("update seen by next statement", after != emb)

    try:
        db.execute("SELECT siam_embed('nope', 'x')").fetchone()
        check("error", False, "no error raised")
    except sqlite3.OperationalError as e:
        check("error names the function", str(e) == "siam_embed: no model named 'nope'", str(e))
    print(f"door.py: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))

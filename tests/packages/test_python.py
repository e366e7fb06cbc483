"""The Python package (python/), installed with pip into a venv: siamsql.load()
on a sqlite3 and an APSW connection, loadable_path(), default_model_path(),
and the errors a user meets.

Usage (tests/shell/python_package.sh runs it, from outside the tree):
    VENV/bin/python test_python.py BUNDLED|INSTALLED [DESTDIR]
  BUNDLED: the package was built with siamsql.so and the default model in it.
  INSTALLED: built with SIAMSQL_BUNDLE=0; DESTDIR holds a `make install` tree
  that the package is pointed at instead of /.
Prints 'N passed, N failed'.
"""
import json
import os
import sqlite3
import sys

import apsw
import siamsql

passed = failed = 0


def check(name, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
    else:
        failed += 1
        print(f"FAIL {name} {detail}")


def raises(fn, kind):
    """The exception fn() raises, if it is a kind; None when it raises none."""
    try:
        fn()
    except kind as e:
        return e
    return None


def similarities(execute):
    """siam_similarity of a related and an unrelated pair, through execute(sql, args) -> rows."""
    execute("SELECT siam_import('default', ?)", (siamsql.default_model_path(),))
    query = "library to read zip archives"
    related = execute("SELECT siam_similarity('default', ?, ?)",
                      (query, "Ruby module for reading and writing zip files"))[0][0]
    unrelated = execute("SELECT siam_similarity('default', ?, ?)",
                        (query, "fonts for the Tamil script"))[0][0]
    return related, unrelated


def check_sqlite3():
    db = sqlite3.connect(":memory:")
    siamsql.load(db)
    info = json.loads(db.execute("SELECT siam_info()").fetchone()[0])
    check("sqlite3: siam_info version is the package's", info["version"] == siamsql.__version__, info)
    related, unrelated = similarities(lambda sql, args: db.execute(sql, args).fetchall())
    check("sqlite3: related texts score above unrelated ones", related > unrelated + 0.1,
          (related, unrelated))
    e = raises(lambda: db.load_extension(siamsql.loadable_path()), sqlite3.OperationalError)
    check("sqlite3: extension loading is off again after load()", e is not None)
    siamsql.load(db)  # a second load into the same connection is harmless
    e = raises(lambda: db.execute("SELECT siam_embed('nope', 'x')").fetchall(), sqlite3.OperationalError)
    check("sqlite3: errors name the function", str(e) == "siam_embed: no model named 'nope'", e)


def check_apsw():
    db = apsw.Connection(":memory:")
    siamsql.load(db)
    related, unrelated = similarities(lambda sql, args: list(db.cursor().execute(sql, args)))
    check("apsw: related texts score above unrelated ones", related > unrelated + 0.1, (related, unrelated))
    e = raises(lambda: list(db.cursor().execute("SELECT siam_embed('nope', 'x')")), apsw.Error)
    check("apsw: errors name the function", e is not None and "siam_embed: no model named 'nope'" in str(e), e)


class NoExtensionLoading(sqlite3.Connection):
    """A connection as a Python built without extension loading gives it."""

    @property
    def enable_load_extension(self):
        raise AttributeError("enable_load_extension")


def check_errors():
    db = sqlite3.connect(":memory:", factory=NoExtensionLoading)
    e = raises(lambda: siamsql.load(db), RuntimeError)
    check("a Python without extension loading is told to use APSW",
          e is not None and "built without extension loading" in str(e) and "APSW" in str(e), e)
    e = raises(lambda: siamsql.load("notes.db"), TypeError)
    check("a non-connection is refused by name", e is not None and "got str" in str(e), e)


def check_bundled():
    here = os.path.dirname(siamsql.__file__)
    check("loadable_path is the bundled copy", siamsql.loadable_path() == os.path.join(here, "siamsql.so"),
          siamsql.loadable_path())
    check("default_model_path is the bundled copy",
          siamsql.default_model_path() == os.path.join(here, "models", "default"), siamsql.default_model_path())


def check_installed(destdir):
    """The package without a bundle finds what `make install` installed."""
    libs = [destdir + p for p in siamsql._installed_library_paths()]
    models = [destdir + p for p in siamsql._installed_model_paths()]
    siamsql._installed_library_paths = lambda: libs
    siamsql._installed_model_paths = lambda: models
    check("loadable_path is the installed library", siamsql.loadable_path() == libs[0], siamsql.loadable_path())
    check("default_model_path is the installed model", siamsql.default_model_path() == models[0],
          siamsql.default_model_path())
    check_sqlite3()
    siamsql._installed_library_paths = lambda: [destdir + "/nowhere/siamsql.so"]
    e = raises(siamsql.loadable_path, FileNotFoundError)
    check("no library anywhere: the error says where it looked and what to do",
          e is not None and "/nowhere/siamsql.so" in str(e) and "make install" in str(e), e)


def main(kind, destdir=None):
    if kind == "BUNDLED":
        check_bundled()
        check_sqlite3()
        check_apsw()
        check_errors()
    else:
        check_installed(destdir)
    print(f"test_python.py ({kind.lower()}): {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))

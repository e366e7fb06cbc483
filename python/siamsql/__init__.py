"""Load the siamsql SQLite extension into a Python connection.

    import sqlite3, siamsql
    db = sqlite3.connect("notes.db")
    siamsql.load(db)
    db.execute("SELECT siam_import('default', ?)", (siamsql.default_model_path(),))
    db.execute("SELECT siam_similarity('default', 'zip archives', 'compressed files')")

load() takes a standard-library sqlite3.Connection (from a Python built with
extension loading) or an APSW apsw.Connection, which carries its own SQLite
and loads extensions whatever the interpreter was built with.

The library is looked for first in this package (a copy bundled when the
package was built from the siamsql tree), then where `make install` puts it
(the system library directory).  The default model likewise.
"""
import os
import sqlite3
import sysconfig

__version__ = "0.2.0"
__all__ = ["load", "loadable_path", "default_model_path"]

_HERE = os.path.dirname(os.path.abspath(__file__))


def _installed_library_paths():
    """Where `make install` puts siamsql.so: the system library directory,
    where SQLite's dlopen() finds a bare name."""
    multiarch = sysconfig.get_config_var("MULTIARCH")
    dirs = ([f"/usr/lib/{multiarch}"] if multiarch else []) + ["/usr/lib"]
    return [os.path.join(d, "siamsql.so") for d in dirs]


def _installed_model_paths():
    """Where `make install` puts the default model ($(PREFIX)/share/siamsql)."""
    return [f"{prefix}/share/siamsql/models/default" for prefix in ("/usr/local", "/usr")]


def _first_existing(what, candidates, exists):
    for path in candidates:
        if exists(path):
            return path
    raise FileNotFoundError(
        f"siamsql: no {what} found (looked in {', '.join(candidates)}); "
        "run `make install` in the siamsql tree, or reinstall this package from a tree "
        "where `make` has built siamsql.so")


def loadable_path():
    """The path of siamsql.so, for any connection's load_extension()."""
    bundled = os.path.join(_HERE, "siamsql.so")
    return _first_existing("siamsql.so", [bundled] + _installed_library_paths(), os.path.isfile)


def default_model_path():
    """The directory of the shipped default model, for siam_import()."""
    bundled = os.path.join(_HERE, "models", "default")
    return _first_existing("default model", [bundled] + _installed_model_paths(), os.path.isdir)


def _extension_methods(conn):
    """(enable, load) of a connection: sqlite3 and newer APSW spell them
    enable_load_extension / load_extension, APSW before 3.44 without the
    underscores (Debian 12's python3-apsw is 3.40)."""
    for enable, load in (("enable_load_extension", "load_extension"),
                         ("enableloadextension", "loadextension")):
        if hasattr(conn, enable) and hasattr(conn, load):
            return getattr(conn, enable), getattr(conn, load)
    if isinstance(conn, sqlite3.Connection):
        raise RuntimeError(
            "siamsql.load: this Python's sqlite3 module was built without extension loading "
            "(sqlite3.Connection has no enable_load_extension); use APSW (apsw.Connection), "
            "which carries its own SQLite, or a Python built with --enable-loadable-sqlite-extensions")
    raise TypeError(f"siamsql.load: expected a sqlite3.Connection or an apsw.Connection, "
                    f"got {type(conn).__name__}")


def load(conn):
    """Loads siamsql into conn; extension loading is switched off again after."""
    enable, load_extension = _extension_methods(conn)
    path = loadable_path()
    enable(True)
    try:
        load_extension(path)
    finally:
        enable(False)

"""Builds the siamsql package with the library and the default model inside.

The package's code is pure Python; what makes it useful is siamsql.so, built
by `make` in the siamsql tree this directory sits in.  Building the package
(pip install ./python) copies ../siamsql.so and ../models/default into it, so
the installed package needs nothing else from the tree.

SIAMSQL_BUNDLE=0 builds it without them: siamsql.loadable_path() then finds
the library where `make install` put it.
"""
import os
import shutil

from setuptools import setup
from setuptools.command.build_py import build_py

TREE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LIBRARY = os.path.join(TREE, "siamsql.so")
MODEL = os.path.join(TREE, "models", "default")


def check_library(path):
    """Refuses what would install but not load: no library, or a sanitizer
    build (`make sanitize` leaves one; it loads only under LD_PRELOAD)."""
    if not os.path.isfile(path):
        raise SystemExit(f"siamsql: {path} is missing: run `make` in {TREE} first "
                         "(or set SIAMSQL_BUNDLE=0 to use the library `make install` put in the system)")
    with open(path, "rb") as f:
        if b"libasan.so" in f.read():
            raise SystemExit(f"siamsql: {path} is a sanitizer build: run `make clean && make` first")


class BuildWithLibrary(build_py):
    def run(self):
        super().run()
        # The build directory (python/build) outlives a build: what an earlier
        # one bundled goes first, or SIAMSQL_BUNDLE=0 would still ship it.
        target = os.path.join(self.build_lib, "siamsql")
        library = os.path.join(target, "siamsql.so")
        models = os.path.join(target, "models")
        if os.path.exists(library):
            os.remove(library)
        shutil.rmtree(models, ignore_errors=True)
        if os.environ.get("SIAMSQL_BUNDLE", "1") == "0":
            return
        check_library(LIBRARY)
        shutil.copy2(LIBRARY, library)
        shutil.copytree(MODEL, os.path.join(models, "default"))


setup(cmdclass={"build_py": BuildWithLibrary})

"""Runs the code blocks of README.md and docs/*.md as they are written.

Every fenced block whose info string names code (sh, bash, sql, json, python,
js, javascript, console) carries a marker on the line before it (blank lines
between are allowed):

    <!-- test: sh -->                   run with bash (-e -o pipefail)
    <!-- test: sql db=passages -->      run in the sqlite3 shell (-bail) on this
                                        file's database 'passages', with
                                        `.load ./siamsql` first
    <!-- test: json -->                 must parse as JSON

    *Not run by the tests: REASON*     (a visible paragraph, wrapped or not)
                                        not run, and why

Options after the kind, shell-quoted:
    expect='REGEX'   the block's output must match (Python re, MULTILINE)
    needs=npm        skipped, with a message, when npm cannot reach its registry
    needs=COMMAND    skipped, with a message, when COMMAND is not on PATH
    check=SCRIPT     after the block, /usr/bin/python3 SCRIPT DB_PATH (a path
                     from the tree's root) checks what the block did

Each file's blocks run in order, in a scratch directory that holds a symbolic
link to every top-level entry of the tree (so `./siamsql.so`, `models/default`,
`./python` and `node/` mean what they mean in the tree, and files a block
creates land in the scratch directory), with HOME set to tests/cache/doc-home
(kept between runs, as a user's home is: a venv or node_modules a block makes
there is reused). A database NAME is created on first use in the scratch
directory's parent and set up by tests/docs/setup/NAME.sql when that exists.
A fenced block with no info string is text (program output, error messages)
and needs no marker.

Usage: /usr/bin/python3 tests/docs/run_snippets.py [FILE.md ...]   (from the tree's root)
Prints one line per block and 'run_snippets: N passed, N failed, N skipped'.
"""
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

CODE_LANGS = {"sh", "bash", "sql", "json", "python", "js", "javascript", "console"}
KIND_LANGS = {"sh": {"sh", "bash"}, "sql": {"sql"}, "json": {"json"}}
OPTIONS = {"db", "expect", "needs", "check"}
TEST_MARKER = re.compile(r"^\s*<!--\s*test:(.*?)-->\s*$")
UNTESTED_MARKER = re.compile(r"^\s*\*Not run by the tests: (.+)\*\s*$")
FENCE = re.compile(r"^(\s*)(```+|~~~+)\s*([^\s`]*)")
BLOCK_TIMEOUT_S = 900  # a first run builds better-sqlite3 from source


class Block:
    def __init__(self, path, line, lang, text, marker):
        self.path, self.line, self.lang, self.text = path, line, lang, text
        self.marker = marker        # None, ("test", spec) or ("untested", reason)
        self.kind, self.options = None, {}

    @property
    def where(self):
        return f"{self.path}:{self.line}"


def read_blocks(path):
    """The fenced blocks of a Markdown file, with the marker line before each."""
    lines = open(path, encoding="utf-8").read().split("\n")
    blocks, i = [], 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, fence, lang = m.group(1), m.group(2), m.group(3).lower()
        start, body = i, []
        i += 1
        while i < len(lines) and not lines[i].strip().startswith(fence):
            body.append(lines[i][len(indent):] if lines[i].startswith(indent) else lines[i])
            i += 1
        i += 1
        blocks.append(Block(path, start + 1, lang, "\n".join(body) + "\n", marker_before(lines, start)))
    return blocks


def marker_before(lines, fence_index):
    """The marker in the paragraph just above a fence: a test comment as its
    last line, or a not-run paragraph (which may wrap over several lines)."""
    j = fence_index - 1
    while j >= 0 and not lines[j].strip():
        j -= 1
    if j < 0:
        return None
    m = TEST_MARKER.match(lines[j])
    if m:
        return ("test", m.group(1).strip())
    first = j
    while first > 0 and lines[first - 1].strip():
        first -= 1
    paragraph = " ".join(line.strip() for line in lines[first:j + 1])
    m = UNTESTED_MARKER.match(paragraph)
    return ("untested", m.group(1).strip()) if m else None


def parse_marker(block):
    """Sets block.kind and block.options; returns an error message or None."""
    words = shlex.split(block.marker[1])
    if not words or words[0] not in KIND_LANGS:
        return f"unknown test kind in '<!-- test: {block.marker[1]} -->' (kinds: {', '.join(KIND_LANGS)})"
    block.kind = words[0]
    if block.lang not in KIND_LANGS[block.kind]:
        return f"a ```{block.lang} block marked as {block.kind}"
    for word in words[1:]:
        key, eq, value = word.partition("=")
        if not eq or key not in OPTIONS:
            return f"unknown marker option '{word}' (options: {', '.join(sorted(OPTIONS))})"
        block.options[key] = value
    if block.kind == "sql" and "db" not in block.options:
        return "a sql block needs db=NAME"
    return None


class Runner:
    def __init__(self, root):
        self.root = root
        self.home = os.path.join(root, "tests", "cache", "doc-home")
        self.tmp = tempfile.mkdtemp(prefix="siamsql-docs-")
        self.passed = self.failed = self.skipped = 0
        self._npm = None

    def close(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def result(self, status, block, detail="", seconds=None):
        if status == "ok":
            self.passed += 1
        elif status == "FAIL":
            self.failed += 1
        elif status == "skip":
            self.skipped += 1
        label = block.kind or f"```{block.lang}"
        took = f" ({seconds:.1f} s)" if seconds is not None else ""
        print(f"{status} {block.where} {label}{took}{(': ' + detail) if detail else ''}")

    def scratch_dir(self, md_path):
        """A directory linking every top-level entry of the tree, for one file."""
        scratch = os.path.join(self.tmp, md_path.replace("/", "_"))
        os.makedirs(scratch)
        # A block's `make cluster` builds into the tree's build/, as in the tree.
        os.makedirs(os.path.join(self.root, "build"), exist_ok=True)
        for name in os.listdir(self.root):
            if name != ".git":
                os.symlink(os.path.join(self.root, name), os.path.join(scratch, name))
        return scratch

    def npm_reachable(self):
        if self._npm is None:
            try:
                self._npm = subprocess.run(["npm", "ping"], capture_output=True, timeout=30).returncode == 0
            except (OSError, subprocess.TimeoutExpired):
                self._npm = False
        return self._npm

    def missing_need(self, need):
        """Why a block's needs=... is not met here (None when it is)."""
        if not need:
            return None
        if need == "npm":
            return None if self.npm_reachable() else "npm cannot reach its registry"
        return None if shutil.which(need) else f"{need} is not installed (make deps installs it)"

    def env(self):
        env = dict(os.environ, HOME=self.home)
        # The machine's npm settings (registry, proxy, nodedir) hold whatever HOME is.
        npmrc = os.path.expanduser("~/.npmrc")
        if os.path.exists(npmrc) and "NPM_CONFIG_USERCONFIG" not in env:
            env["NPM_CONFIG_USERCONFIG"] = npmrc
        env.pop("CDPATH", None)
        return env

    def run_file(self, md_path):
        blocks = read_blocks(md_path)
        scratch = None
        dbs = {}
        for block in blocks:
            if block.marker is None:
                if block.lang in CODE_LANGS:
                    self.result("FAIL", block, "a code block with no marker: put '<!-- test: KIND -->' or "
                                "'*Not run by the tests: REASON*' on the line before it (tests/docs/run_snippets.py)")
                continue
            if block.marker[0] == "untested":
                print(f"not run {block.where} ```{block.lang}: {block.marker[1]}")
                continue
            error = parse_marker(block)
            if error:
                self.result("FAIL", block, error)
                continue
            missing = self.missing_need(block.options.get("needs"))
            if missing:
                self.result("skip", block, missing)
                continue
            if scratch is None and block.kind != "json":
                scratch = self.scratch_dir(md_path)
            self.run_block(block, scratch, dbs)

    def run_block(self, block, scratch, dbs):
        if block.kind == "json":
            try:
                json.loads(block.text)
            except ValueError as e:
                return self.result("FAIL", block, f"not JSON: {e}")
            return self.result("ok", block)
        db, start = None, time.monotonic()
        if block.kind == "sql":
            db = dbs.get(block.options["db"])
            if db is None:
                db = dbs[block.options["db"]] = self.create_db(block.options["db"], scratch, block)
                if db is None:
                    return None
            out = self.run_sql(db, block.text, scratch, block)
        else:
            out = self.run_sh(block.text, scratch, block)
        if out is None:
            return None
        expect = block.options.get("expect")
        if expect and not re.search(expect, out, re.MULTILINE):
            return self.result("FAIL", block, f"output does not match /{expect}/:\n{tail(out)}")
        check = block.options.get("check")
        if check and not self.run_check(check, db, scratch, block):
            return None
        return self.result("ok", block, seconds=time.monotonic() - start)

    def create_db(self, name, scratch, block):
        path = os.path.join(os.path.dirname(scratch), f"{os.path.basename(scratch)}-{name}.db")
        setup = os.path.join(self.root, "tests", "docs", "setup", f"{name}.sql")
        if os.path.exists(setup):
            with open(setup, encoding="utf-8") as f:
                if self.run_sql(path, f.read(), scratch, block, what=f"setup {name}.sql") is None:
                    return None
        return path

    def run_sql(self, db, sql, scratch, block, what="the block"):
        if not re.search(r"^\.load \./siamsql\b", sql, re.MULTILINE):
            sql = ".load ./siamsql\n" + sql
        return self.run(["sqlite3", "-bail", "-batch", db], sql, scratch, block, what)

    def run_sh(self, script, scratch, block):
        os.makedirs(self.home, exist_ok=True)
        return self.run(["bash", "-e", "-o", "pipefail"], script, scratch, block, "the block")

    def run(self, argv, stdin, scratch, block, what):
        """Output of argv fed stdin, or None (and a failure reported)."""
        try:
            p = subprocess.run(argv, input=stdin, cwd=scratch, env=self.env(), capture_output=True,
                               text=True, timeout=BLOCK_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.result("FAIL", block, f"{what} ran past {BLOCK_TIMEOUT_S} s")
            return None
        out = p.stdout + p.stderr
        if p.returncode != 0:
            self.result("FAIL", block, f"{what} exited {p.returncode}:\n{tail(out)}")
            return None
        return out

    def run_check(self, script, db, scratch, block):
        p = subprocess.run(["/usr/bin/python3", os.path.join(self.root, script), db or ""], cwd=scratch,
                           env=self.env(), capture_output=True, text=True, timeout=BLOCK_TIMEOUT_S)
        sys.stdout.write(p.stdout + p.stderr)
        if p.returncode != 0:
            self.result("FAIL", block, f"{script} exited {p.returncode}")
            return False
        return True


def tail(text, n=30):
    lines = text.rstrip("\n").split("\n")
    return "\n".join("  | " + line for line in lines[-n:])


def main(paths):
    root = os.getcwd()
    if not paths:
        paths = ["README.md"] + sorted(os.path.join("docs", f) for f in os.listdir("docs") if f.endswith(".md"))
    runner = Runner(root)
    try:
        for path in paths:
            runner.run_file(path)
    finally:
        runner.close()
    print(f"run_snippets: {runner.passed} passed, {runner.failed} failed, {runner.skipped} skipped")
    return 1 if runner.failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

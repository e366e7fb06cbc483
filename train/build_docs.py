#!/usr/bin/python3
"""build_docs.py — sections of the documentation packages train/fetch_sources.sh
unpacked, as (document, title, heading, text) records.

Sources (train/data/raw/docs/<package>/...): HTML manuals (English only) and
info manuals.  Skipped on purpose: anything that is a manual page or a
rendering of one (postgresql's SQL command and client-program reference pages,
apache's programs/ pages, postfix's *.N.html), generated API indexes (rust's
std/core/alloc/... pages), and every other language.

Output: train/data/sections.jsonl, one section per line:
  {"package", "doc" (path within the package), "split", "title", "heading", "text"}
The split is by document: sha1("siamsql-doc:" + package + "/" + doc) mod 100 < 10
is held out, so every section of a page lands on the same side.

Usage:  /usr/bin/python3 train/build_docs.py [--raw train/data/raw] [--out train/data]
"""
import argparse
import gzip
import hashlib
import html.parser
import json
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HELDOUT_PERCENT = 10
MIN_WORDS = 12           # sections shorter than this are dropped
MAX_CHARS = 4000         # text kept per section (the model reads 128 tokens)

SKIP_TAGS = {"script", "style", "nav", "header", "footer", "pre", "head", "title", "button", "form"}
SKIP_CLASS = re.compile(r"sidebar|related|footer|navigation|navheader|navfooter|breadcrumb|toc|sphinxsidebar|"
                        r"headerlink|menu|search|skip", re.I)
BLOCK_TAGS = {"p", "li", "dd", "dt", "td", "th", "blockquote", "div", "section", "article", "tr", "dl", "ul", "ol"}
HEADINGS = {"h1", "h2", "h3", "h4"}


def is_heldout(package, doc):
    h = hashlib.sha1(("siamsql-doc:" + package + "/" + doc).encode()).digest()
    return int.from_bytes(h[:8], "big") % 100 < HELDOUT_PERCENT


def clean(s):
    return " ".join(s.split())


class Sections(html.parser.HTMLParser):
    """Splits a page into (heading, paragraphs) at h1-h4; text inside skipped
    elements (navigation, code, scripts) is left out."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack = []          # (tag, skipping) of open elements
        self.skip = 0
        self.title = ""
        self.in_title = False
        self.heading = None      # text of the heading being read, or None
        self.sections = []       # [heading, [paragraph, ...]]
        self.cur = []            # pieces of the paragraph being read

    def handle_starttag(self, tag, attrs):
        if tag in ("br", "img", "hr", "meta", "link", "input"):
            return
        cls = " ".join(v or "" for k, v in attrs if k in ("class", "id", "role"))
        skipping = tag in SKIP_TAGS or (tag not in ("html", "body") and bool(SKIP_CLASS.search(cls)))
        self.stack.append((tag, skipping))
        self.skip += skipping
        if tag == "title":
            self.in_title = True
        if tag in HEADINGS and not self.skip:
            self.flush()
            self.heading = []
        elif tag in BLOCK_TAGS:
            self.flush()

    def handle_endtag(self, tag):
        if not any(t == tag for t, _ in self.stack):
            return
        while self.stack:
            t, skipping = self.stack.pop()
            self.skip -= skipping
            if t == "title":
                self.in_title = False
            if t in HEADINGS and self.heading is not None:
                text = clean("".join(self.heading)).rstrip("¶#").strip()
                self.heading = None
                if text:
                    self.sections.append([text, []])
            elif t in BLOCK_TAGS:
                self.flush()
            if t == tag:
                break

    def handle_data(self, data):
        if self.in_title:
            self.title += data
        if self.skip:
            return
        if self.heading is not None:
            self.heading.append(data)
        else:
            self.cur.append(data)

    def flush(self):
        text = clean("".join(self.cur))
        self.cur = []
        if text and self.sections:
            self.sections[-1][1].append(text)


def html_sections(path):
    with open(path, "rb") as f:
        raw = f.read()
    if path.endswith(".gz"):
        raw = gzip.decompress(raw)
    p = Sections()
    try:
        p.feed(raw.decode("utf-8", errors="replace"))
        p.close()
    except Exception:  # a broken page gives what was read
        pass
    p.flush()
    return clean(p.title), [(h, paras) for h, paras in p.sections]


INFO_NODE = re.compile(r"^File: [^,]*,\s+Node: ([^,\n]+)", re.M)


def info_sections(path):
    """Nodes of an info file: (node name, paragraphs); menus and tables of
    contents left out."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        text = f.read().decode("utf-8", errors="replace")
    out = []
    for node in text.split("\x1f"):
        m = INFO_NODE.search(node)
        if not m:
            continue
        body = node[m.end():].split("\n", 1)[1] if "\n" in node[m.end():] else ""
        body = body.split("* Menu:")[0]
        paras = []
        for block in re.split(r"\n\s*\n", body):
            lines = [ln for ln in block.split("\n") if not re.match(r"^[=*\-.]{3,}\s*$", ln.strip())]
            if lines and all(ln.startswith("     ") for ln in lines if ln.strip()):
                continue  # an indented example
            t = clean(" ".join(lines))
            if t:
                paras.append(t)
        if paras and len(paras[0].split()) <= 12:
            heading, paras = paras[0], paras[1:]  # the node's own title line
        else:
            heading = m.group(1).strip()
        out.append((heading, paras))
    return out


def wanted(package, rel):
    """Which files of a package are read (see the module docstring)."""
    r = rel.lower()
    if package == "debian-handbook":
        return "/en-us/" in r
    if package == "apache2-doc":
        return "/manual/en/" in r and "/programs/" not in r
    if package == "postgresql-doc-15":
        base = os.path.basename(r)
        return not (base.startswith("sql-") or base.startswith("app-") or "/man" in r)
    if package == "postfix-doc":
        return not re.search(r"\.[1-9]\.html$", r)
    if package == "rust-doc":
        top = r.split("/html/")[-1].split("/")[0]
        return top in ("book", "reference", "rust-by-example", "nomicon", "edition-guide", "embedded-book",
                       "rustc", "rustdoc", "cargo") or (top.endswith(".html") and "guide" in top)
    return True


def doc_files(raw_docs):
    """A package's HTML manual when it has one, else its info manual (the two
    are the same text)."""
    for package in sorted(os.listdir(raw_docs)):
        base = os.path.join(raw_docs, package)
        found = list(package_files(package, base))
        has_html = any(h for _, _, h in found)
        for rel, path, is_html in found:
            if is_html or not has_html:
                yield package, rel, path, is_html


def package_files(package, base):
    for dirpath, dirnames, filenames in os.walk(base):
        dirnames.sort()
        for fn in sorted(filenames):
            path = os.path.join(dirpath, fn)
            rel = os.path.relpath(path, base)
            if "/man/" in "/" + rel or rel.startswith("usr/share/man"):
                continue
            is_html = re.search(r"\.html?(\.en)?(\.gz)?$", fn) is not None
            is_info = re.search(r"\.info(-\d+)?(\.gz)?$", fn) is not None
            if (is_html or is_info) and wanted(package, "/" + rel):
                yield rel, path, is_html


def records(raw_docs):
    seen = set()
    for package, rel, path, is_html in doc_files(raw_docs):
        if is_html:
            title, secs = html_sections(path)
        else:
            title, secs = os.path.basename(rel).split(".info")[0], info_sections(path)
        split = "heldout" if is_heldout(package, rel) else "train"
        for heading, paras in secs:
            text = "\n".join(paras)
            if len(text.split()) < MIN_WORDS or len(heading) > 200:
                continue
            key = (heading.lower(), text[:200])
            if key in seen:  # the same section in two renderings (html and info)
                continue
            seen.add(key)
            yield {"package": package, "doc": rel, "split": split, "title": title[:200], "heading": heading,
                   "text": text[:MAX_CHARS]}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--raw", default=os.path.join(ROOT, "train", "data", "raw"))
    ap.add_argument("--out", default=os.path.join(ROOT, "train", "data"))
    args = ap.parse_args()
    counts = {}
    with open(os.path.join(args.out, "sections.jsonl"), "w", encoding="utf-8") as f:
        for r in records(os.path.join(args.raw, "docs")):
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
            c = counts.setdefault(r["package"], [0, 0, 0])
            c[r["split"] == "heldout"] += 1
            c[2] += len(r["text"])
    for p, (tr, ho, chars) in sorted(counts.items()):
        print(f"{p:24s} sections train {tr:6d} heldout {ho:5d}  text {chars / 1e6:6.1f} MB")
    print(f"{'all':24s} sections train {sum(c[0] for c in counts.values()):6d} "
          f"heldout {sum(c[1] for c in counts.values()):5d}  text {sum(c[2] for c in counts.values()) / 1e6:6.1f} MB")


if __name__ == "__main__":
    main()

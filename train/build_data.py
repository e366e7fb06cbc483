#!/usr/bin/python3
"""build_data.py — training pairs for siamsql's default model, from Debian's own
package metadata.

Inputs (train/fetch_sources.sh downloads them into train/data/raw/lists):
  <release>_main_i18n_Translation-en.(xz|bz2)   Package, Description-md5,
        Description-en (first line: synopsis; following lines: long description, with
        " ." lines separating paragraphs)
  <release>_main_binary-amd64_Packages.xz       Package -> Source (defaults to
        the package name; a version in parentheses is dropped) and Description-md5
  for bullseye, bookworm, trixie and sid.  bookworm's are the passages; the others
  give paraphrase pairs (a package's description as rewritten between releases).

Outputs (under train/data/, which is not committed):
  passages.jsonl   one package per line: package, source, split, synopsis, text
                   (paragraphs joined with "\n")
  {train,heldout}_dup.tsv   near-duplicate positives: two binary packages of the same
                   source whose long descriptions differ but share a paragraph
                   columns: source, package_a, package_b
  {train,heldout}_syn.tsv   synopsis -> long description: source, package
  releases.jsonl   package, source, split, release, synopsis, text: every release's
                   description of every package
  {train,heldout}_para.tsv  paraphrases: source, package, release_a, release_b, where
                   the two releases' long descriptions differ in at least a fifth of
                   their words but share a third
and the small shipped demo sample demo/data/passages.tsv (held-out packages only):
  package, source, synopsis, text   (tab-separated, header line, tabs/newlines -> spaces)

The split is by SOURCE package: sha1("siamsql:" + source) mod 100 < 10 is held out, so
every binary package of a source lands on the same side.  Everything is deterministic.

Usage:  /usr/bin/python3 train/build_data.py [--lists /var/lib/apt/lists] [--out train/data]
"""
import argparse
import bz2
import glob
import gzip
import hashlib
import io
import json
import lzma
import os
import random
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HELDOUT_PERCENT = 10
MAX_DUP_PAIRS_PER_SOURCE = 30       # a few sources (linux, texlive, ...) have hundreds
DEMO_PASSAGES = 3000
DEMO_GROUP_SHARE = 0.6              # share of the demo sample that comes from sibling groups
DEMO_MAX_GROUP = 8                  # siblings taken from one source
DEMO_MAX_TEXT = 700                 # characters of the long description kept in the demo TSV


def open_list(path):
    """Text stream over an apt list file, whatever its compression."""
    if path.endswith(".lz4"):
        data = subprocess.run(["lz4cat", path], check=True, stdout=subprocess.PIPE).stdout
        return io.StringIO(data.decode("utf-8", errors="replace"))
    if path.endswith(".gz"):
        return io.TextIOWrapper(gzip.open(path), encoding="utf-8", errors="replace")
    if path.endswith(".xz"):
        return io.TextIOWrapper(lzma.open(path), encoding="utf-8", errors="replace")
    if path.endswith(".bz2"):
        return io.TextIOWrapper(bz2.open(path), encoding="utf-8", errors="replace")
    return open(path, encoding="utf-8", errors="replace")


def stanzas(stream):
    """Yields each deb822 stanza as {field: value}; continuation lines keep their
    leading space and are joined to the value with "\n"."""
    fields, key = {}, None
    for line in stream:
        line = line.rstrip("\n")
        if not line.strip():
            if fields:
                yield fields
            fields, key = {}, None
        elif line[0] in " \t" and key:
            fields[key] += "\n" + line
        else:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    if fields:
        yield fields


RELEASES = ("bullseye", "bookworm", "trixie", "sid")
PASSAGE_RELEASE = "bookworm"


def list_files(lists, kind, release):
    pats = {"tr": "*_i18n_Translation-en*", "pk": "*_binary-*_Packages*"}[kind]
    files = [f for f in glob.glob(os.path.join(lists, release + "_" + pats)) if not f.endswith(".part")]
    return sorted(files)


def normalize_long(lines):
    """Long-description lines -> list of paragraphs (each one line of single-spaced text).
    " ." lines separate paragraphs; verbatim lines (two leading spaces) are just joined."""
    paras, cur = [], []
    for line in lines:
        s = line.strip()
        if s == ".":
            if cur:
                paras.append(" ".join(cur))
            cur = []
        elif s:
            cur.append(" ".join(s.split()))
    if cur:
        paras.append(" ".join(cur))
    return paras


def read_translations(lists, release):
    """(package, md5) -> (synopsis, [paragraphs]); also package -> the same (any md5)."""
    by_md5, by_pkg = {}, {}
    for path in list_files(lists, "tr", release):
        for st in stanzas(open_list(path)):
            desc = st.get("Description-en")
            if not desc or "Package" not in st:
                continue
            lines = desc.split("\n")
            entry = (" ".join(lines[0].split()), normalize_long(lines[1:]))
            by_md5[(st["Package"], st.get("Description-md5", ""))] = entry
            by_pkg[st["Package"]] = entry
    return by_md5, by_pkg


def read_sources(lists, release):
    """package -> (source, description md5)."""
    out = {}
    for path in list_files(lists, "pk", release):
        for st in stanzas(open_list(path)):
            pkg = st.get("Package")
            if not pkg:
                continue
            src = st.get("Source", pkg).split("(")[0].strip() or pkg
            out[pkg] = (src, st.get("Description-md5", ""))
    return out


def is_heldout(source):
    h = hashlib.sha1(("siamsql:" + source).encode()).digest()
    return int.from_bytes(h[:8], "big") % 100 < HELDOUT_PERCENT


def build_passages(by_md5, by_pkg, sources):
    passages = []
    for pkg in sorted(set(by_pkg)):
        src, md5 = sources.get(pkg, (pkg, ""))
        synopsis, paras = by_md5.get((pkg, md5)) or by_pkg[pkg]
        if not paras or not synopsis:
            continue
        passages.append({"package": pkg, "source": src,
                         "split": "heldout" if is_heldout(src) else "train",
                         "synopsis": synopsis, "text": "\n".join(paras)})
    return passages


def group_by_source(passages):
    groups = {}
    for p in passages:
        groups.setdefault(p["source"], []).append(p)
    return groups


def dup_pairs(groups, rng):
    """Pairs of same-source packages with different long descriptions that share at least
    one paragraph, at most MAX_DUP_PAIRS_PER_SOURCE per source (sampled)."""
    pairs = []
    for src in sorted(groups):
        ps = groups[src]
        cand = []
        for i in range(len(ps)):
            for j in range(i + 1, len(ps)):
                a, b = ps[i], ps[j]
                if a["text"] == b["text"]:
                    continue
                if set(a["text"].split("\n")) & set(b["text"].split("\n")):
                    cand.append((src, a["package"], b["package"]))
        if len(cand) > MAX_DUP_PAIRS_PER_SOURCE:
            cand = rng.sample(cand, MAX_DUP_PAIRS_PER_SOURCE)
        pairs.extend(cand)
    return pairs


def syn_pairs(passages):
    """One synopsis -> description pair per distinct (synopsis, text)."""
    seen, pairs = set(), []
    for p in passages:
        key = (p["synopsis"].lower(), p["text"])
        if key not in seen:
            seen.add(key)
            pairs.append((p["source"], p["package"]))
    return pairs


def para_pairs(by_release, sources):
    """(source, package, release_a, release_b): the same package described
    differently in two releases; the earliest and the latest distinct texts."""
    pairs = []
    for pkg in sorted(by_release):
        texts = []
        for rel in RELEASES:
            t = by_release[pkg].get(rel)
            if t and all(t != u for _, u in texts):
                texts.append((rel, t))
        if len(texts) < 2:
            continue
        (ra, ta), (rb, tb) = texts[0], texts[-1]
        wa, wb = set(ta.lower().split()), set(tb.lower().split())
        overlap = len(wa & wb) / max(1, len(wa | wb))
        if 1 / 3 <= overlap <= 0.8:
            pairs.append((sources.get(pkg, (pkg, ""))[0], pkg, ra, rb))
    return pairs


def write_tsv(path, rows):
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write("\t".join(r) + "\n")


def flat(s):
    return " ".join(s.replace("\t", " ").split())


def clip(text, n):
    """Cut at a word boundary at most n characters in."""
    if len(text) <= n:
        return text
    cut = text[:n]
    return cut[:cut.rfind(" ")] if " " in cut else cut


def demo_sample(groups, rng):
    """Held-out packages: sibling groups (>= 2 distinct descriptions sharing a paragraph)
    plus singletons (sources with one package), DEMO_PASSAGES in all."""
    sib, single = [], []
    for src in sorted(groups):
        ps = [p for p in groups[src] if p["split"] == "heldout"]
        uniq = {}
        for p in ps:
            uniq.setdefault(p["text"], p)        # identical descriptions: keep one
        ps = list(uniq.values())
        if len(ps) >= 2:
            sib.append(ps)
        elif len(ps) == 1 and len(groups[src]) == 1:
            single.append(ps[0])
    rng.shuffle(sib)
    chosen = []
    want_sib = int(DEMO_PASSAGES * DEMO_GROUP_SHARE)
    for ps in sib:
        if len(chosen) >= want_sib:
            break
        take = ps if len(ps) <= DEMO_MAX_GROUP else rng.sample(ps, DEMO_MAX_GROUP)
        chosen.extend(take)
    rng.shuffle(single)
    chosen.extend(single[:DEMO_PASSAGES - len(chosen)])
    chosen.sort(key=lambda p: (p["source"], p["package"]))
    return chosen


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lists", default=os.path.join(ROOT, "train", "data", "raw", "lists"))
    ap.add_argument("--out", default=os.path.join(ROOT, "train", "data"))
    ap.add_argument("--demo", default=os.path.join(ROOT, "demo", "data", "passages.tsv"))
    args = ap.parse_args()
    rng = random.Random(20240601)

    by_md5, by_pkg = read_translations(args.lists, PASSAGE_RELEASE)
    sources = read_sources(args.lists, PASSAGE_RELEASE)
    if not by_pkg or not sources:
        sys.exit("build_data: no Translation-en / Packages under %s; run bash train/fetch_sources.sh first"
                 % args.lists)
    passages = build_passages(by_md5, by_pkg, sources)
    by_release = {}
    with open(os.path.join(args.out, "releases.jsonl"), "w", encoding="utf-8") as f:
        for rel in RELEASES:
            r_md5, r_pkg = read_translations(args.lists, rel)
            r_src = read_sources(args.lists, rel)
            for p in build_passages(r_md5, r_pkg, r_src):
                p = dict(p, source=sources.get(p["package"], (p["source"], ""))[0])
                p["split"] = "heldout" if is_heldout(p["source"]) else "train"
                p["release"] = rel
                by_release.setdefault(p["package"], {})[rel] = p["text"]
                f.write(json.dumps(p, ensure_ascii=False) + "\n")
    paras = para_pairs(by_release, sources)
    groups = group_by_source(passages)
    os.makedirs(args.out, exist_ok=True)

    with open(os.path.join(args.out, "passages.jsonl"), "w", encoding="utf-8") as f:
        for p in passages:
            f.write(json.dumps(p, ensure_ascii=False) + "\n")
    dups, syns = dup_pairs(groups, rng), syn_pairs(passages)
    for split in ("train", "heldout"):
        d = [r for r in dups if is_heldout(r[0]) == (split == "heldout")]
        s = [r for r in syns if is_heldout(r[0]) == (split == "heldout")]
        write_tsv(os.path.join(args.out, split + "_dup.tsv"), d)
        write_tsv(os.path.join(args.out, split + "_syn.tsv"), s)
        pp = [r for r in paras if is_heldout(r[0]) == (split == "heldout")]
        write_tsv(os.path.join(args.out, split + "_para.tsv"), pp)
        print("%-8s sources %6d  passages %6d  dup pairs %6d  syn pairs %6d  paraphrase pairs %6d" % (
            split, sum(1 for g in groups if is_heldout(g) == (split == "heldout")),
            sum(1 for p in passages if p["split"] == split), len(d), len(s), len(pp)))

    demo = demo_sample(groups, rng)
    os.makedirs(os.path.dirname(args.demo), exist_ok=True)
    with open(args.demo, "w", encoding="utf-8") as f:
        f.write("package\tsource\tsynopsis\ttext\n")
        for p in demo:
            f.write("\t".join([p["package"], p["source"], flat(p["synopsis"]),
                               clip(flat(p["text"]), DEMO_MAX_TEXT)]) + "\n")
    nsrc = len({p["source"] for p in demo})
    print("demo     %d passages from %d sources -> %s (%d bytes)" % (
        len(demo), nsrc, args.demo, os.path.getsize(args.demo)))


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""train.py — trains siamsql's default model from scratch, on CPU, and saves it in
the sentence-transformers layout under models/default/.

The recipe (train/README.md has the measurements behind each choice):
  1. data      package descriptions of four Debian releases and the sections of
               eighteen documentation packages (build_data.py, build_docs.py);
               split by source package / by document into train, valid (3%, for
               model and fusion choices) and heldout (10%, evaluation only).
  2. vocab     WordPiece (wordpiece.py) learned on the train split.
  3. fastText  skipgram vectors (Debian's fasttext) trained on the train split's
               text; every vocab token's embedding starts as its fastText vector
               (continuation pieces: the vector of the piece without "##").
  4. pairs     synopsis -> description, sibling descriptions (near-duplicates),
               a description rewritten between releases (paraphrase), section
               heading -> section text, page title + heading -> text, and two
               independent crops of one text; each with one hard negative mined
               with SQLite FTS5 bm25 among the other training texts.
  5. training  symmetric in-batch contrastive loss (MultipleNegativesRanking) over
               positives and hard negatives, AdamW, linear warmup then linear decay,
               bf16 autocast (oneDNN: AMX or AVX512-BF16 where present), 2 threads.
               A fixed number of steps; a checkpoint every few minutes (--resume
               goes on from the last one); validation MRR logged as a learning curve
               against CPU minutes.

Usage (from the repository root):
  bash train/fetch_sources.sh && /usr/bin/python3 train/build_data.py && /usr/bin/python3 train/build_docs.py
  /usr/bin/python3 train/train.py [--steps N] [--layers L --hidden H] [--resume] [--out DIR]
"""
import argparse
import collections
import hashlib
import json
import os
import random
import re
import sqlite3
import subprocess
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import wordpiece  # noqa: E402
from siamese import SiameseBert, pad_batch, reference_embeddings, save_model, write_json  # noqa: E402

SEED = 20261206
T0 = time.time()
WORD = re.compile(r"\w+", re.UNICODE)


def cpu_minutes():
    """CPU time of this process and its children, in minutes (the budget: the
    machine is shared, so wall time says little)."""
    t = os.times()
    return (t.user + t.system + t.children_user + t.children_system) / 60


def log(msg):
    print("[%7.1fs %6.1f cpu-min] %s" % (time.time() - T0, cpu_minutes(), msg), flush=True)


# ---- data ------------------------------------------------------------------------

def bucket(key):
    return int.from_bytes(hashlib.sha1(key.encode()).digest()[:8], "big") % 100


def pkg_split(source):
    """heldout as build_data.py decides; valid: the next three buckets."""
    b = bucket("siamsql:" + source)
    return "heldout" if b < 10 else "valid" if b < 13 else "train"


def doc_split(package, doc):
    b = bucket("siamsql-doc:" + package + "/" + doc)
    return "heldout" if b < 10 else "valid" if b < 13 else "train"


def load(data_dir):
    def jsonl(name):
        with open(os.path.join(data_dir, name), encoding="utf-8") as f:
            return [json.loads(line) for line in f]

    def tsv(name):
        with open(os.path.join(data_dir, name), encoding="utf-8") as f:
            return [line.rstrip("\n").split("\t") for line in f if line.strip()]
    passages = {p["package"]: p for p in jsonl("passages.jsonl")}
    for p in passages.values():
        p["split"] = pkg_split(p["source"])
    releases = collections.defaultdict(dict)
    for r in jsonl("releases.jsonl"):
        releases[r["package"]][r["release"]] = r["text"]
    sections = jsonl("sections.jsonl")
    for s in sections:
        s["split"] = doc_split(s["package"], s["doc"])
    pairs = {k: tsv(f"{s}_{k}.tsv") for k in ("dup", "syn", "para") for s in ("train",)}
    return passages, releases, sections, pairs


def texts_of_split(passages, sections, split):
    for p in passages.values():
        if p["split"] == split:
            yield p["synopsis"]
            yield p["text"]
    for s in sections:
        if s["split"] == split:
            yield s["heading"]
            yield s["text"]


# ---- vocab and fastText -------------------------------------------------------------

def build_vocab(passages, sections, size):
    counts = collections.Counter()
    for t in texts_of_split(passages, sections, "train"):
        counts.update(wordpiece.words_of(t))
    log("vocab: %d distinct words in the training split" % len(counts))
    return wordpiece.learn_vocab(counts, size)


def fasttext_init(model, vocab, passages, sections, work, dim, epochs):
    """Token embeddings from skipgram vectors trained on the training split."""
    out = os.path.join(work, "fasttext-%d-%d" % (dim, epochs))
    if not os.path.exists(out + ".bin"):  # kept: every run of one size starts from the same vectors
        corpus = os.path.join(work, "fasttext-corpus.txt")
        with open(corpus, "w", encoding="utf-8") as f:
            for t in texts_of_split(passages, sections, "train"):
                f.write(" ".join(wordpiece.words_of(t)) + "\n")
        subprocess.run(["fasttext", "skipgram", "-input", corpus, "-output", out, "-dim", str(dim), "-epoch",
                        str(epochs), "-minCount", "3", "-thread", "2", "-minn", "3", "-maxn", "6", "-verbose", "1"],
                       check=True, stdout=subprocess.DEVNULL)
        os.remove(corpus)
        os.remove(out + ".vec")
    words = [t[2:] if t.startswith("##") else t for t in vocab]
    r = subprocess.run(["fasttext", "print-word-vectors", out + ".bin"], input="\n".join(words) + "\n",
                       capture_output=True, text=True, check=True)
    vecs = []
    for line in r.stdout.splitlines():
        parts = line.rstrip().split(" ")
        vecs.append([float(x) for x in parts[-dim:]])
    if len(vecs) != len(vocab):
        raise SystemExit("fasttext: %d vectors for %d tokens" % (len(vecs), len(vocab)))
    v = torch.tensor(vecs)
    v = v / v.norm(dim=1, keepdim=True).clamp(min=1e-6) * 0.5   # the scale an embedding LayerNorm likes
    with torch.no_grad():
        model.word.weight[5:] = v[5:]                              # specials keep their init


# ---- pairs --------------------------------------------------------------------------

def crop(words, rng, lo=24, hi=64):
    n = len(words)
    if n <= lo:
        return " ".join(words)
    k = rng.randint(lo, min(hi, n))
    s = rng.randint(0, n - k)
    return " ".join(words[s:s + k])


def make_pairs(passages, releases, sections, pairs, split, rng):
    """[(kind, group, query text, positive text)] of one split."""
    out = []
    for src, a, b in pairs["dup"]:  # the tsv's "train" holds train and valid sources
        if pkg_split(src) == split:
            out.append(("dup", src, passages[a]["text"], passages[b]["text"]))
    for p in passages.values():
        if p["split"] != split:
            continue
        out.append(("syn", p["source"], p["synopsis"], p["text"]))
        w = p["text"].split()
        if len(w) > 40:
            out.append(("crop", p["source"], crop(w, rng), crop(w, rng)))
    for src, pkg, ra, rb in pairs["para"]:
        if pkg_split(src) == split:
            out.append(("para", src, releases[pkg][ra], releases[pkg][rb]))
    for s in sections:
        if s["split"] != split:
            continue
        g = s["package"] + "/" + s["doc"]
        out.append(("head", g, s["heading"], s["text"]))
        if s["title"] and s["title"] != s["heading"]:
            out.append(("title", g, s["title"] + ": " + s["heading"], s["text"]))
        w = s["text"].split()
        if len(w) > 40:
            out.append(("crop", g, crop(w, rng), crop(w, rng)))
    return out


def fts_query(text, limit=32, skip=frozenset()):
    words = [w for w in dict.fromkeys(w.lower() for w in WORD.findall(text)) if w not in skip][:limit]
    return " OR ".join('"' + w.replace('"', '""') + '"' for w in words)


MINED_KINDS = ("syn", "head", "title")   # short queries: the lexical confusions worth learning from


def mine_negatives(examples, log_every=20000):
    """For each pair with a short query, the bm25-best other positive text (not of
    its group) among all positives of the set: the hard negative.  SQLite FTS5 in
    memory, the query's first 12 words.  Long queries (crops, siblings,
    paraphrases) get none: in-batch negatives serve them, and a bm25 query of a
    whole paragraph costs a hundred times more."""
    db = sqlite3.connect(":memory:")
    db.execute("CREATE VIRTUAL TABLE t USING fts5(body)")
    texts = sorted({e[3] for e in examples})
    index = {t: i for i, t in enumerate(texts)}
    db.executemany("INSERT INTO t(rowid, body) VALUES (?, ?)", ((i + 1, t) for i, t in enumerate(texts)))
    groups = collections.defaultdict(set)
    for e in examples:
        groups[e[1]].add(index[e[3]])
    # Words in more than 2% of the texts would make every query score most of
    # the corpus; they say little about which text is the confusable one.
    db.execute("CREATE VIRTUAL TABLE v USING fts5vocab(t, 'row')")
    common = frozenset(w for (w,) in db.execute("SELECT term FROM v WHERE doc > ?", (len(texts) // 50,)))
    negs = []
    for n, e in enumerate(examples):
        q = fts_query(e[2], 12, common) if e[0] in MINED_KINDS else ""
        neg = -1
        if q:
            for (rowid,) in db.execute("SELECT rowid FROM t WHERE t MATCH ? ORDER BY bm25(t) LIMIT 8", (q,)):
                j = rowid - 1
                if j not in groups[e[1]] and texts[j] != e[2]:
                    neg = j
                    break
        negs.append(texts[neg] if neg >= 0 else None)
        if (n + 1) % log_every == 0:
            log("mined %d / %d hard negatives" % (n + 1, len(examples)))
    return negs


def batches(examples, size, rng):
    """Shuffled batches in which no two pairs share a group (siblings are never each
    other's negatives); runs forever, reshuffling each epoch."""
    epoch = 0
    while True:
        epoch += 1
        order = list(range(len(examples)))
        rng.shuffle(order)
        pending = collections.deque()
        it = iter(order)
        while True:
            batch, seen, skipped = [], set(), []
            while len(batch) < size:
                i = pending.popleft() if pending else next(it, None)
                if i is None:
                    break
                if examples[i][1] in seen:
                    skipped.append(i)
                else:
                    batch.append(i)
                    seen.add(examples[i][1])
            pending.extendleft(reversed(skipped))
            if len(batch) < size:
                break
            yield epoch, batch


# ---- validation -----------------------------------------------------------------------

@torch.no_grad()
def embed(model, seqs, batch=256):
    model.eval()
    order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))
    out = torch.zeros(len(seqs), model.cfg["hidden_size"])
    for s in range(0, len(order), batch):
        idx = order[s:s + batch]
        ids, mask = pad_batch([seqs[i] for i in idx])
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out[idx] = model(ids, mask).float()
    model.train()
    return F.normalize(out, dim=1)


def mrr(q, c, target):
    sim = q @ c.T
    best = sim[torch.arange(len(target)), torch.tensor(target)]
    ranks = 1 + (sim > best[:, None]).sum(1)
    return float((1.0 / ranks.float()).mean())


def make_validation(valid, tok, max_q, max_d, rng, n=1500):
    """Per kind: queries and their positives' corpus (all the kind's positives)."""
    by_kind = collections.defaultdict(list)
    for e in valid:
        by_kind[e[0]].append(e)
    out = {}
    for kind, ex in sorted(by_kind.items()):
        ex = rng.sample(ex, min(n, len(ex)))
        docs = sorted({e[3] for e in ex})
        di = {d: i for i, d in enumerate(docs)}
        out[kind] = ([tok.encode(e[2], max_q) for e in ex], [tok.encode(d, max_d) for d in docs],
                     [di[e[3]] for e in ex])
    return out


def validate(model, vset):
    res = {}
    for kind, (qs, ds, target) in vset.items():
        res[kind] = round(mrr(embed(model, qs), embed(model, ds), target), 4)
    res["mean"] = round(sum(res.values()) / len(res), 4)
    return res


# ---- training -------------------------------------------------------------------------

def encode_all(examples, negs, tok, max_q, max_d):
    cache = {}

    def enc(t, n):
        k = (t, n)
        if k not in cache:
            cache[k] = tok.encode(t, n)
        return cache[k]
    out = []
    for e, neg in zip(examples, negs):
        q_len = max_q if e[0] in ("syn", "head", "title") else max_d
        out.append((e[0], e[1], enc(e[2], q_len), enc(e[3], max_d), enc(neg, max_d) if neg else None))
    return out


def train(model, data, vset, args, work):
    rng = random.Random(SEED)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    step, curve = 0, []
    ckpt = os.path.join(work, "checkpoint.pt")
    if args.resume and os.path.exists(ckpt):
        st = torch.load(ckpt)
        model.load_state_dict(st["model"])
        opt.load_state_dict(st["opt"])
        step, curve = st["step"], st["curve"]
        rng.setstate(st["rng"])
        torch.set_rng_state(st["torch_rng"])
        log("resumed at step %d" % step)
    stream = batches(data, args.batch, rng)
    for _ in range(step):  # the batches already trained on, so a resumed run sees the same ones
        next(stream)
    warm = max(1, int(0.05 * args.steps))
    cpu_at_start = cpu_minutes() - (curve[-1]["train_cpu_min"] if curve else 0)
    last_ckpt, losses = time.time(), []
    model.train()
    while step < args.steps:
        epoch, batch = next(stream)
        lr = args.lr * min((step + 1) / warm, max(0.0, (args.steps - step) / (args.steps - warm)))
        for g in opt.param_groups:
            g["lr"] = lr
        ex = [data[i] for i in batch]
        qi, qm = pad_batch([e[2] for e in ex])
        docs = [e[3] for e in ex] + [e[4] for e in ex if e[4] is not None]
        di, dm = pad_batch(docs)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            eq, ed = model(qi, qm), model(di, dm)
        eq, ed = eq.float(), ed.float()
        scores = args.scale * eq @ ed.T                       # (B, B + negatives)
        labels = torch.arange(len(ex))
        loss = F.cross_entropy(scores, labels) + F.cross_entropy(scores[:, :len(ex)].T, labels)
        opt.zero_grad()
        (loss / 2).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        losses.append(loss.item() / 2)
        step += 1
        if step % 50 == 0:
            log("step %d/%d (epoch %d)  loss %.4f  lr %.2e" % (step, args.steps, epoch, sum(losses[-50:]) / 50, lr))
        if step % args.eval_every == 0 or step == args.steps:
            v = validate(model, vset)
            curve.append({"step": step, "train_cpu_min": round(cpu_minutes() - cpu_at_start, 1), "valid_mrr": v})
            log("validation MRR at step %d: %s" % (step, json.dumps(v)))
        if time.time() - last_ckpt > args.checkpoint_minutes * 60 or step == args.steps:
            torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step, "curve": curve,
                        "rng": rng.getstate(), "torch_rng": torch.get_rng_state()}, ckpt + ".part")
            os.replace(ckpt + ".part", ckpt)
            last_ckpt = time.time()
        if args.max_cpu_minutes and cpu_minutes() - cpu_at_start > args.max_cpu_minutes:
            log("WARNING: --max-cpu-minutes ran out at step %d" % step)
            break
    return step, curve


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=os.path.join(HERE, "data"))
    ap.add_argument("--work", default=os.path.join(HERE, "data", "run"))
    ap.add_argument("--out", default=os.path.join(ROOT, "models", "default"))
    ap.add_argument("--reference", default=os.path.join(HERE, "reference_embeddings.json"))
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--vocab-size", type=int, default=20000)
    ap.add_argument("--max-seq", type=int, default=96, help="tokens the model reads (training and siamsql)")
    ap.add_argument("--query-len", type=int, default=32)
    ap.add_argument("--steps", type=int, default=6000)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=4e-4)
    ap.add_argument("--scale", type=float, default=20.0)
    ap.add_argument("--no-fasttext", action="store_true")
    ap.add_argument("--fasttext-epochs", type=int, default=3)
    ap.add_argument("--eval-every", type=int, default=500)
    ap.add_argument("--checkpoint-minutes", type=float, default=5.0)
    ap.add_argument("--max-cpu-minutes", type=float, default=0.0, help="stop training after this much CPU time")
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--no-save", action="store_true")
    args = ap.parse_args()

    random.seed(SEED)
    np.random.seed(SEED)
    torch.manual_seed(SEED)
    torch.set_num_threads(2)
    os.makedirs(args.work, exist_ok=True)
    passages, releases, sections, pairs = load(args.data)
    log("%d passages, %d sections" % (len(passages), len(sections)))

    vocab_path = os.path.join(args.work, "vocab-%d.txt" % args.vocab_size)
    if os.path.exists(vocab_path):
        with open(vocab_path, encoding="utf-8") as f:
            vocab = f.read().split("\n")[:-1]
    else:
        vocab = build_vocab(passages, sections, args.vocab_size)
        with open(vocab_path, "w", encoding="utf-8") as f:
            f.write("".join(t + "\n" for t in vocab))
    tok = wordpiece.BertTokenizer(vocab, args.max_seq)
    log("vocab: %d tokens" % len(vocab))

    cfg = {"vocab_size": len(vocab), "hidden_size": args.hidden, "num_hidden_layers": args.layers,
           "num_attention_heads": max(1, args.hidden // 64), "intermediate_size": 4 * args.hidden,
           "max_position_embeddings": 128, "type_vocab_size": 2, "layer_norm_eps": 1e-12,
           "hidden_dropout_prob": 0.1}
    model = SiameseBert(cfg, "mean", "tanh")
    log("model: %d layers, hidden %d: %d parameters" % (args.layers, args.hidden,
                                                        sum(p.numel() for p in model.parameters())))
    if not args.no_fasttext and not args.resume:
        fasttext_init(model, vocab, passages, sections, args.work, args.hidden, args.fasttext_epochs)
        log("token embeddings initialised from fastText")

    rng = random.Random(SEED)
    train_ex = make_pairs(passages, releases, sections, pairs, "train", rng)
    valid_ex = make_pairs(passages, releases, sections, pairs, "valid", rng)
    log("pairs: train %s; valid %d" % (dict(collections.Counter(e[0] for e in train_ex)), len(valid_ex)))
    neg_path = os.path.join(args.work, "negatives.json")
    key = hashlib.sha1(json.dumps(train_ex).encode()).hexdigest()  # the negatives belong to these pairs
    negs = None
    if os.path.exists(neg_path):
        with open(neg_path, encoding="utf-8") as f:
            saved = json.load(f)
        negs = saved["negatives"] if isinstance(saved, dict) and saved.get("pairs_sha1") == key else None
    if negs is None:
        negs = mine_negatives(train_ex)
        with open(neg_path, "w", encoding="utf-8") as f:
            json.dump({"pairs_sha1": key, "negatives": negs}, f)
    data = encode_all(train_ex, negs, tok, args.query_len, args.max_seq)
    vset = make_validation(valid_ex, tok, args.query_len, args.max_seq, random.Random(SEED))
    log("%d training pairs encoded (%d with a hard negative)" % (len(data), sum(e[4] is not None for e in data)))
    if not args.resume:
        log("validation MRR before training: %s" % json.dumps(validate(model, vset)))

    steps, curve = train(model, data, vset, args, args.work)
    res = {"layers": args.layers, "hidden": args.hidden, "vocab": len(vocab), "steps": steps, "batch": args.batch,
           "max_seq": args.max_seq, "fasttext": not args.no_fasttext, "cpu_minutes": round(cpu_minutes(), 1),
           "wall_minutes": round((time.time() - T0) / 60, 1), "curve": curve}
    write_json(os.path.join(args.work, "run.json"), res)
    if args.no_save:
        return
    save_model(model, vocab, args.out, args.max_seq)
    reference_embeddings(model, tok, args.reference)
    write_json(os.path.join(HERE, "last_run.json"), res)
    log("saved %s and %s" % (args.out, args.reference))


if __name__ == "__main__":
    main()

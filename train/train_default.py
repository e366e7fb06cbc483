#!/usr/bin/python3
"""train_default.py — trains siamsql's embedded default model and saves it in the
sentence-transformers layout under models/default/.

A small BERT (4 layers, hidden 256, 4 heads, FFN 1024, exact GELU, post-LayerNorm,
eps 1e-12), trained from scratch as a Siamese bi-encoder: one shared encoder, mean
pooling over real tokens (or CLS), a Dense projection head, L2 normalization, cosine
similarity.  Loss: symmetric MultipleNegativesRankingLoss (cross-entropy over in-batch
cosine scores x 20, both directions), AdamW with linear warmup and decay.  Pairs are
the two kinds build_data.py writes (near-duplicate sibling descriptions; synopsis ->
long description), mixed in one shuffled stream; a batch never holds two pairs of the
same source package, so siblings are never used as each other's negatives.

Nothing here uses transformers / sentence-transformers / safetensors / tokenizers: the
vocabulary, tokenizer (wordpiece.py), encoder and safetensors writer are written out.

Usage (from the repository root; see train/README.md):
  nice -n 10 /usr/bin/python3 train/train_default.py [--head mean-tanh|cls-relu]
"""
import argparse
import collections
import json
import math
import os
import random
import shutil
import struct
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import wordpiece  # noqa: E402

SEED = 1234
T0 = time.time()


def log(msg):
    print("[%6.1fs] %s" % (time.time() - T0, msg), flush=True)


# ------------------------------------------------------------------------------------
# Data
# ------------------------------------------------------------------------------------

def load_data(data_dir):
    passages = {}
    with open(os.path.join(data_dir, "passages.jsonl"), encoding="utf-8") as f:
        for line in f:
            p = json.loads(line)
            passages[p["package"]] = p

    def tsv(name):
        with open(os.path.join(data_dir, name), encoding="utf-8") as f:
            return [line.rstrip("\n").split("\t") for line in f if line.strip()]
    return passages, {k: tsv(k + ".tsv") for k in
                      ("train_dup", "train_syn", "heldout_dup", "heldout_syn")}


def build_vocab(passages, size):
    counts = collections.Counter()
    for p in passages.values():
        if p["split"] == "train":
            counts.update(wordpiece.words_of(p["synopsis"]))
            counts.update(wordpiece.words_of(p["text"]))
    log("vocab: %d distinct words in the training split" % len(counts))
    return wordpiece.learn_vocab(counts, size)


# ------------------------------------------------------------------------------------
# Model: HF BertModel (no pooler) + Pooling + Dense + Normalize
# ------------------------------------------------------------------------------------

class Layer(nn.Module):
    def __init__(self, h, nh, ff, eps, drop):
        super().__init__()
        self.nh = nh
        self.query, self.key, self.value = nn.Linear(h, h), nn.Linear(h, h), nn.Linear(h, h)
        self.attn_out, self.attn_ln = nn.Linear(h, h), nn.LayerNorm(h, eps=eps)
        self.inter, self.out, self.out_ln = nn.Linear(h, ff), nn.Linear(ff, h), nn.LayerNorm(h, eps=eps)
        self.drop = nn.Dropout(drop)

    def forward(self, x, bias):
        # x: (B, T, H); bias: (B, 1, 1, T) additive mask (0 or large negative)
        B, T, H = x.shape
        d = H // self.nh

        def heads(t):
            return t.view(B, T, self.nh, d).transpose(1, 2)       # (B, nh, T, d)
        q, k, v = heads(self.query(x)), heads(self.key(x)), heads(self.value(x))
        att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(d) + bias, dim=-1)
        ctx = (self.drop(att) @ v).transpose(1, 2).reshape(B, T, H)
        x = self.attn_ln(x + self.drop(self.attn_out(ctx)))
        y = self.out(F.gelu(self.inter(x)))                       # exact (erf) GELU
        return self.out_ln(x + self.drop(y))


class SiameseBert(nn.Module):
    def __init__(self, cfg, pooling, head_act):
        super().__init__()
        h = cfg["hidden_size"]
        self.cfg, self.pooling, self.head_act = cfg, pooling, head_act
        self.word = nn.Embedding(cfg["vocab_size"], h)
        self.pos = nn.Embedding(cfg["max_position_embeddings"], h)
        self.tok_type = nn.Embedding(cfg["type_vocab_size"], h)
        self.emb_ln = nn.LayerNorm(h, eps=cfg["layer_norm_eps"])
        self.drop = nn.Dropout(cfg["hidden_dropout_prob"])
        self.layers = nn.ModuleList(Layer(h, cfg["num_attention_heads"], cfg["intermediate_size"],
                                          cfg["layer_norm_eps"], cfg["hidden_dropout_prob"])
                                    for _ in range(cfg["num_hidden_layers"]))
        self.dense = nn.Linear(h, h)
        self.apply(self.init)

    def init(self, m):
        # BERT's initializer_range 0.02
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, std=0.02)
        if isinstance(m, nn.Linear):
            nn.init.zeros_(m.bias)
        if isinstance(m, nn.Embedding) and m is getattr(self, "word", None):
            with torch.no_grad():
                m.weight[0].zero_()                               # [PAD]

    def forward(self, ids, mask):
        # ids, mask: (B, T) -> unit vectors (B, H)
        T = ids.shape[1]
        pos = torch.arange(T, device=ids.device)
        x = self.word(ids) + self.pos(pos)[None] + self.tok_type(torch.zeros_like(ids))
        x = self.drop(self.emb_ln(x))
        bias = (1.0 - mask[:, None, None, :].to(x.dtype)) * torch.finfo(x.dtype).min
        for layer in self.layers:
            x = layer(x, bias)
        if self.pooling == "cls":
            pooled = x[:, 0]
        else:
            m = mask[:, :, None].to(x.dtype)
            pooled = (x * m).sum(1) / m.sum(1).clamp(min=1e-9)
        y = self.dense(pooled)
        y = torch.tanh(y) if self.head_act == "tanh" else torch.relu(y)
        return F.normalize(y, p=2, dim=1)

    def hf_state(self):
        """Encoder tensors under HF BertModel names, head tensors under 2_Dense names."""
        enc = {
            "embeddings.word_embeddings.weight": self.word.weight,
            "embeddings.position_embeddings.weight": self.pos.weight,
            "embeddings.token_type_embeddings.weight": self.tok_type.weight,
            "embeddings.LayerNorm.weight": self.emb_ln.weight,
            "embeddings.LayerNorm.bias": self.emb_ln.bias,
        }
        for n, L in enumerate(self.layers):
            p = "encoder.layer.%d." % n
            for name, mod in (("attention.self.query", L.query), ("attention.self.key", L.key),
                              ("attention.self.value", L.value), ("attention.output.dense", L.attn_out),
                              ("attention.output.LayerNorm", L.attn_ln), ("intermediate.dense", L.inter),
                              ("output.dense", L.out), ("output.LayerNorm", L.out_ln)):
                enc[p + name + ".weight"] = mod.weight
                enc[p + name + ".bias"] = mod.bias
        head = {"linear.weight": self.dense.weight, "linear.bias": self.dense.bias}
        return enc, head


def pad_batch(seqs):
    T = max(len(s) for s in seqs)
    ids = torch.zeros(len(seqs), T, dtype=torch.long)
    mask = torch.zeros(len(seqs), T, dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, :len(s)] = torch.tensor(s)
        mask[i, :len(s)] = 1
    return ids, mask


@torch.no_grad()
def embed(model, seqs, batch=128):
    """Eval-mode embeddings, batched by length (padding does not change the result)."""
    model.eval()
    order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))
    out = torch.zeros(len(seqs), model.cfg["hidden_size"])
    for s in range(0, len(order), batch):
        idx = order[s:s + batch]
        ids, mask = pad_batch([seqs[i] for i in idx])
        out[idx] = model(ids, mask)
    return out


# ------------------------------------------------------------------------------------
# Training
# ------------------------------------------------------------------------------------

def make_examples(pairs, passages, tok, max_len):
    """[(source, ids_a, ids_b)] for both pair kinds (texts cut to max_len ids)."""
    cache = {}

    def enc(text):
        if text not in cache:
            cache[text] = tok.encode(text, max_len)
        return cache[text]
    ex = []
    for src, a, b in pairs["train_dup"]:
        ex.append((src, enc(passages[a]["text"]), enc(passages[b]["text"])))
    for src, pkg in pairs["train_syn"]:
        p = passages[pkg]
        ex.append((src, enc(p["synopsis"]), enc(p["text"])))
    return ex


def batches(examples, size, rng):
    """Shuffled batches (both pair kinds mixed) in which no two pairs share a source
    package: a pair whose source is already in the batch waits for the next one."""
    order = list(range(len(examples)))
    rng.shuffle(order)
    todo, pending = iter(order), collections.deque()
    while True:
        batch, seen, skipped = [], set(), []
        while len(batch) < size:
            i = pending.popleft() if pending else next(todo, None)
            if i is None:
                return
            if examples[i][0] in seen:
                skipped.append(i)
            else:
                batch.append(i)
                seen.add(examples[i][0])
        pending.extendleft(reversed(skipped))
        yield [examples[i] for i in batch]


def train(model, examples, args):
    """AdamW under a schedule of args.steps steps (linear warmup over 6%, then linear
    decay to 0), stopped after args.stop_after steps (the shipped model: 274 of 450,
    where a 20-minute budget ran out on the 2-core build machine; fixed here so a rerun
    is deterministic), or earlier, with a warning, if args.minutes run out."""
    rng = random.Random(SEED)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    deadline = time.time() + args.minutes * 60
    total, warm = args.steps, max(1, int(0.06 * args.steps))
    step, losses, epoch = 0, [], 0
    model.train()
    while True:
        epoch += 1
        for batch in batches(examples, args.batch, rng):
            lr = args.lr * min((step + 1) / warm, max(0.0, (total - step) / (total - warm)))
            for g in opt.param_groups:
                g["lr"] = lr
            ids_a, m_a = pad_batch([e[1] for e in batch])
            ids_b, m_b = pad_batch([e[2] for e in batch])
            ea, eb = model(ids_a, m_a), model(ids_b, m_b)
            scores = args.scale * ea @ eb.T                     # (B, B) scaled cosines
            labels = torch.arange(len(batch))
            loss = (F.cross_entropy(scores, labels) + F.cross_entropy(scores.T, labels)) / 2
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            losses.append(loss.item())
            step += 1
            if step % 50 == 0:
                log("step %d/%d (epoch %d)  loss %.4f  lr %.2e" % (
                    step, total, epoch, sum(losses[-50:]) / 50, lr))
            if step >= min(total, args.stop_after or total):
                return step
            if time.time() > deadline:
                log("WARNING: --minutes %.1f ran out at step %d of %d" % (args.minutes, step, total))
                return step


# ------------------------------------------------------------------------------------
# Evaluation on the held-out split
# ------------------------------------------------------------------------------------

def ranks(q, c, relevant):
    """q: (Nq, H), c: (Nc, H) unit vectors; relevant[i] = (set of corpus indices relevant
    to query i, corpus index to leave out of its ranking or None).  Returns the 1-based
    rank of the best-ranked relevant item per query."""
    out = []
    for s in range(0, len(q), 512):
        sim = q[s:s + 512] @ c.T
        for j in range(sim.shape[0]):
            rel, excl = relevant[s + j]
            row = sim[j].clone()
            if excl is not None:
                row[excl] = -float("inf")
            best = max(row[list(rel)]).item()
            out.append(1 + int((row > best).sum().item()))
    return out


def summarize(r):
    r = np.array(r)
    return {"queries": int(len(r)), "recall@1": float((r <= 1).mean()),
            "recall@10": float((r <= 10).mean()), "mrr": float((1.0 / r).mean())}


def evaluate(model, passages, pairs, tok, max_len):
    """(a) sibling retrieval: each held-out description that has a near-duplicate sibling
    queries all held-out descriptions (itself excluded); relevant = its siblings.
    (b) synopsis -> description: each held-out synopsis queries all held-out
    descriptions; relevant = its own description (identical texts merged)."""
    held = [p for p in passages.values() if p["split"] == "heldout"]
    texts = sorted({p["text"] for p in held})
    tindex = {t: i for i, t in enumerate(texts)}
    corpus = embed(model, [tok.encode(t, max_len) for t in texts])

    sib = collections.defaultdict(set)
    for _src, a, b in pairs["heldout_dup"]:
        ia, ib = tindex[passages[a]["text"]], tindex[passages[b]["text"]]
        sib[ia].add(ib)
        sib[ib].add(ia)
    qa = sorted(sib)
    ra = ranks(corpus[qa], corpus, [(sib[i], i) for i in qa])

    syn = [passages[pkg] for _src, pkg in pairs["heldout_syn"]]
    qb = embed(model, [tok.encode(p["synopsis"], max_len) for p in syn])
    rb = ranks(qb, corpus, [({tindex[p["text"]]}, None) for p in syn])
    return {"corpus": len(texts), "siblings": summarize(ra), "synopsis": summarize(rb)}


# ------------------------------------------------------------------------------------
# Saving: sentence-transformers layout, F16 safetensors
# ------------------------------------------------------------------------------------

def write_safetensors(path, tensors, dtype=torch.float16):
    """tensors: {name: tensor} in the order to store.  Header: u64 LE length + JSON,
    padded with spaces so the data starts at a multiple of 8; data contiguous."""
    header, blobs, off = {}, [], 0
    for name, t in tensors.items():
        b = t.detach().to(dtype).contiguous().numpy().astype("<f2").tobytes()
        header[name] = {"dtype": "F16", "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    header["__metadata__"] = {"format": "pt"}
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - (8 + len(h)) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def write_json(path, obj):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")


def save_model(model, vocab, out, max_seq):
    if os.path.isdir(out):
        shutil.rmtree(out)
    for d in ("", "1_Pooling", "2_Dense", "3_Normalize"):
        os.makedirs(os.path.join(out, d), exist_ok=True)
    cfg = model.cfg
    write_json(os.path.join(out, "config.json"), dict(
        {"architectures": ["BertModel"], "model_type": "bert"}, **cfg,
        **{"attention_probs_dropout_prob": cfg["hidden_dropout_prob"], "hidden_act": "gelu",
           "initializer_range": 0.02, "pad_token_id": 0, "position_embedding_type": "absolute",
           "torch_dtype": "float16", "use_cache": True}))
    with open(os.path.join(out, "vocab.txt"), "w", encoding="utf-8", newline="\n") as f:
        for t in vocab:
            f.write(t + "\n")
    specials = {"unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]",
                "cls_token": "[CLS]", "mask_token": "[MASK]"}
    write_json(os.path.join(out, "tokenizer_config.json"), dict(
        {"do_lower_case": True, "strip_accents": None, "tokenize_chinese_chars": True,
         "do_basic_tokenize": True, "never_split": None, "model_max_length": max_seq,
         "tokenizer_class": "BertTokenizer", "clean_up_tokenization_spaces": True}, **specials))
    write_json(os.path.join(out, "special_tokens_map.json"), specials)
    write_json(os.path.join(out, "sentence_bert_config.json"),
               {"max_seq_length": max_seq, "do_lower_case": False})
    write_json(os.path.join(out, "modules.json"), [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Dense", "type": "sentence_transformers.models.Dense"},
        {"idx": 3, "name": "3", "path": "3_Normalize", "type": "sentence_transformers.models.Normalize"}])
    h = cfg["hidden_size"]
    write_json(os.path.join(out, "1_Pooling", "config.json"), {
        "word_embedding_dimension": h,
        "pooling_mode_cls_token": model.pooling == "cls",
        "pooling_mode_mean_tokens": model.pooling == "mean",
        "pooling_mode_max_tokens": False, "pooling_mode_mean_sqrt_len_tokens": False})
    act = {"tanh": "torch.nn.modules.activation.Tanh", "relu": "torch.nn.modules.activation.ReLU"}
    write_json(os.path.join(out, "2_Dense", "config.json"), {
        "in_features": h, "out_features": h, "bias": True,
        "activation_function": act[model.head_act]})
    enc, head = model.hf_state()
    write_safetensors(os.path.join(out, "model.safetensors"), enc)
    write_safetensors(os.path.join(out, "2_Dense", "model.safetensors"), head)


REFERENCE_TEXTS = [
    "",
    "sqlite",
    "lightweight database engine library",
    "SQLite is a C library that implements an SQL database engine. Programs that link "
    "with the SQLite library can have SQL database access without running a separate "
    "RDBMS process.",
    "Real-time strategy game of ancient warfare",
    "command-line tool to search files for text patterns",
    "Python 3 bindings for the GTK graphical toolkit",
    "documentation for the GNU C compiler (HTML and PDF)",
    "Library for reading and writing PNG images -- development files",
    "The quick brown fox jumps over the lazy dog.",
    "Héllo WÖRLD!! naïve café, Ångström — “quotes” and ‘apostrophes’",
    "中文字符 mixed with ASCII; 日本語のテキスト; 한국어",
    "[MASK] tokens [CLS] inside [SEP] text, and [mask] in lower case",
    "tabs\tand\nnewlines\r\nand\u00a0no-break\u2003spaces",
    "punctuation: $5^2 ~ `a|b` <=> {x} (y) [z] @home #tag 100% a/b\\c",
    "supercalifragilisticexpialidocious " + "x" * 120 + " pneumonoultramicroscopic",
    "emoji 😀🚀 and symbols ™ © ° µ ½",
    "e\u0301 combining accent vs é precomposed; ﬁ ligature; Ⅳ roman",
    " ".join(["lorem ipsum dolor sit amet consectetur adipiscing elit"] * 30),
    "   leading and trailing whitespace   ",
]


def reference_embeddings(model, tok, path):
    """Embeddings of REFERENCE_TEXTS by the model with its weights rounded to F16 (the
    stored weights), computed in float32, each text alone (no padding)."""
    model.eval()
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(p.half().float())
        ids = [tok.encode(t) for t in REFERENCE_TEXTS]
        embs = [model(*pad_batch([s]))[0].tolist() for s in ids]
    write_json(path, {"model": "models/default", "dtype": "f16-weights, f32 compute",
                      "texts": REFERENCE_TEXTS, "ids": ids, "embeddings": embs})


# ------------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=os.path.join(HERE, "data"))
    ap.add_argument("--out", default=os.path.join(ROOT, "models", "default"))
    ap.add_argument("--reference", default=os.path.join(HERE, "reference_embeddings.json"))
    ap.add_argument("--head", default="mean-tanh", choices=["mean-tanh", "cls-relu"])
    ap.add_argument("--steps", type=int, default=450, help="length of the LR schedule")
    ap.add_argument("--stop-after", type=int, default=274, help="steps actually run (0: all)")
    ap.add_argument("--minutes", type=float, default=45.0, help="hard cap on training time")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--scale", type=float, default=20.0)
    ap.add_argument("--train-len", type=int, default=64, help="ids per training text")
    ap.add_argument("--vocab-size", type=int, default=8000)
    ap.add_argument("--no-save", action="store_true")
    ap.add_argument("--no-eval", action="store_true")
    args = ap.parse_args()

    random.seed(SEED)
    np.random.seed(SEED)
    torch.manual_seed(SEED)
    torch.set_num_threads(2)
    max_seq = 128

    passages, pairs = load_data(args.data)
    log("%d passages; pairs: %s" % (len(passages), {k: len(v) for k, v in pairs.items()}))
    vocab = build_vocab(passages, args.vocab_size)
    tok = wordpiece.BertTokenizer(vocab, max_seq)
    log("vocab: %d tokens" % len(vocab))

    cfg = {"vocab_size": len(vocab), "hidden_size": 256, "num_hidden_layers": 4,
           "num_attention_heads": 4, "intermediate_size": 1024, "max_position_embeddings": 256,
           "type_vocab_size": 2, "layer_norm_eps": 1e-12, "hidden_dropout_prob": 0.1}
    pooling, head_act = args.head.split("-")
    model = SiameseBert(cfg, pooling, head_act)
    log("model: %d parameters, pooling %s, head Dense %s" % (
        sum(p.numel() for p in model.parameters()), pooling, head_act))

    examples = make_examples(pairs, passages, tok, args.train_len)
    log("%d training pairs tokenized" % len(examples))
    t = time.time()
    steps = train(model, examples, args)
    train_s = time.time() - t
    log("trained %d steps (batch %d) in %.1f s" % (steps, args.batch, train_s))

    res = {"head": args.head, "steps": steps, "train_seconds": round(train_s, 1)}
    if not args.no_eval:
        res.update(run_eval(model, passages, pairs, tok, max_seq))
    if args.no_save:
        return
    save_model(model, vocab, args.out, max_seq)
    reference_embeddings(model, tok, args.reference)
    write_json(os.path.join(os.path.dirname(os.path.abspath(args.reference)), "last_run.json"), res)
    log("saved %s and %s" % (args.out, args.reference))


def run_eval(model, passages, pairs, tok, max_seq):
    t = time.time()
    res = evaluate(model, passages, pairs, tok, max_seq)
    log("held-out evaluation (%.1f s): %s" % (time.time() - t, json.dumps(res)))
    for k in ("siblings", "synopsis"):
        r = res[k]
        print("  %-9s queries %5d  recall@1 %.3f  recall@10 %.3f  MRR %.3f" % (
            k, r["queries"], r["recall@1"], r["recall@10"], r["mrr"]))
    return res


if __name__ == "__main__":
    main()

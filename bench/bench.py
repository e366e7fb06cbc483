#!/usr/bin/python3
"""siamsql against PyTorch and the machine's sgemm, on the same model and texts.

    make bench                     (= bash bench/run.sh)
    /usr/bin/python3 bench/bench.py [--texts 256] [--texts-big 64] [--runs 3] [--shapes minilm,bertbase]

(--texts passages for the MiniLM shape, --texts-big for BERT-base: sized so
that the whole run stays near 5 minutes on a 2-core machine.)

Every measurement runs in its own child process (so peak memory is that
measurement's alone, and OpenBLAS reads its environment afresh):

  gen      MiniLM-L6-shaped (6 layers, hidden 384, 12 heads, intermediate 1536)
           and BERT-base-shaped (12 / 768 / 12 / 3072) models with random
           weights, vocab 30522 (the uncased fixture vocab padded with
           [benchN]), mean pooling + Normalize, max_seq_length 128, written
           in the sentence-transformers layout under bench/.cache (reused).
           Pure Python: no PyTorch needed.
  import   siam_import into a fresh database, and the passages.
  siamsql  once per compute mode ("compute": f32, bf16, int8, set in the model's
           config by SQL): cold load
           (first siam_embed in a fresh connection); single 16-token query
           latency; bulk through siam_embed_each (the batched path); row by
           row through UPDATE ... SET emb = siam_embed(...); the token ids.
  torch    the same weights in PyTorch 1.13 (torch.inference_mode), texts
           sorted by length and batched 32 with padding as
           sentence-transformers does, on siamsql's token ids: f32 with
           OPENBLAS_CORETYPE=SkylakeX on AVX-512 (1 torch thread, OpenBLAS
           threads = siamsql's) and as installed (PyTorch f32 at its best is
           the faster); torch.autocast bf16 on 1 and 2 threads (oneDNN; the
           ISA it runs is printed from ONEDNN_VERBOSE).
  probe    OpenBLAS sgemm GFLOP/s at M=512 and the model's N, K, with the core
           and thread count siamsql runs with.

  probe.c  one core's instruction peaks (f32 FMA, VDPBF16PS, VPDPBUSD, AMX), to
           say what share of its peak each mode's kernel reaches.
  retrieval  the default model on the held-out tasks (eval_retrieval.py) in
           each compute mode, where train/data has been built.

Figures are medians of --runs runs.  FLOPs count the useful work only (each
text's own tokens, no padding): 2 * (4H^2 + 2 H I) per token per layer plus
attention's 4 H T per token.  The targets of issue 15 are printed at the
end, each met or MISSED.
"""
import argparse
import contextlib
import ctypes
import json
import math
import os
import random
import resource
import sqlite3
import statistics
import struct
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CACHE = os.path.join(HERE, ".cache")
SO = os.path.join(ROOT, "siamsql")  # sqlite appends .so
PASSAGES = os.path.join(ROOT, "demo", "data", "passages.tsv")
FIXTURE_VOCAB = os.path.join(ROOT, "tests", "fixtures", "models", "st_a_mean_norm_f16", "vocab.txt")

SHAPES = {
    "minilm": dict(L=6, H=384, A=12, I=1536),
    "bertbase": dict(L=12, H=768, A=12, I=3072),
}
VOCAB_SIZE = 30522
MAX_SEQ = 128
P = 512
QUERY = "a tool to find duplicate files on disk"
COMPUTE_MODES = ["f32", "bf16", "int8"]  # the config's "compute", each measured  # 16 tokens with [CLS]/[SEP] in the bench vocab


# ---------------------------------------------------------------------------------------
# model generation (pure Python)
# ---------------------------------------------------------------------------------------

def write_json(path, obj):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")


def tensor_bytes(rng, numel, kind):
    """numel random float32 values, built from random bits so that they compress
    as poorly as trained weights do: "w" ~ +-[0.008, 0.031) (std ~0.02),
    "ln" in [1, 2) (LayerNorm weights)."""
    b = bytearray(rng.randbytes(4 * numel))
    if kind == "w":
        b[3::4] = b[3::4].translate(bytes(0x3C | (x & 0x80) for x in range(256)))
    else:
        b[2::4] = b[2::4].translate(bytes(x | 0x80 for x in range(256)))
        b[3::4] = bytes([0x3F]) * numel
    return bytes(b)


def write_safetensors(path, tensors):
    """tensors: list of (name, shape, raw f32 bytes)."""
    header, offset = {"__metadata__": {"format": "pt"}}, 0
    for name, shape, raw in tensors:
        header[name] = {"dtype": "F32", "shape": list(shape), "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for _, _, raw in tensors:
            f.write(raw)


def gen_model(shape_name):
    d = os.path.join(CACHE, shape_name)
    if os.path.exists(os.path.join(d, "modules.json")):
        return d
    s = SHAPES[shape_name]
    L, H, A, I = s["L"], s["H"], s["A"], s["I"]
    os.makedirs(d, exist_ok=True)
    rng = random.Random(1234 + L)
    with open(FIXTURE_VOCAB, encoding="utf-8") as f:
        vocab = [t.rstrip("\n") for t in f if t.rstrip("\n")]
    vocab += [f"[bench{i}]" for i in range(VOCAB_SIZE - len(vocab))]
    with open(os.path.join(d, "vocab.txt"), "w", encoding="utf-8") as f:
        f.write("".join(t + "\n" for t in vocab))
    write_json(os.path.join(d, "config.json"), {
        "architectures": ["BertModel"], "hidden_act": "gelu", "hidden_size": H, "intermediate_size": I,
        "layer_norm_eps": 1e-12, "max_position_embeddings": P, "model_type": "bert",
        "num_attention_heads": A, "num_hidden_layers": L, "pad_token_id": 0,
        "position_embedding_type": "absolute", "torch_dtype": "float32", "type_vocab_size": 2,
        "vocab_size": VOCAB_SIZE})
    write_json(os.path.join(d, "tokenizer_config.json"), {
        "cls_token": "[CLS]", "do_basic_tokenize": True, "do_lower_case": True, "mask_token": "[MASK]",
        "model_max_length": P, "pad_token": "[PAD]", "sep_token": "[SEP]", "strip_accents": None,
        "tokenize_chinese_chars": True, "tokenizer_class": "BertTokenizer", "unk_token": "[UNK]"})
    write_json(os.path.join(d, "special_tokens_map.json"), {
        "cls_token": "[CLS]", "mask_token": "[MASK]", "pad_token": "[PAD]", "sep_token": "[SEP]",
        "unk_token": "[UNK]"})
    t = []

    def add(name, shape, kind="w"):
        numel = 1
        for x in shape:
            numel *= x
        t.append((name, shape, tensor_bytes(rng, numel, kind)))

    add("embeddings.word_embeddings.weight", (VOCAB_SIZE, H))
    add("embeddings.position_embeddings.weight", (P, H))
    add("embeddings.token_type_embeddings.weight", (2, H))
    add("embeddings.LayerNorm.weight", (H,), "ln")
    add("embeddings.LayerNorm.bias", (H,))
    for i in range(L):
        p = f"encoder.layer.{i}."
        for n in ("query", "key", "value"):
            add(p + f"attention.self.{n}.weight", (H, H))
            add(p + f"attention.self.{n}.bias", (H,))
        add(p + "attention.output.dense.weight", (H, H))
        add(p + "attention.output.dense.bias", (H,))
        add(p + "attention.output.LayerNorm.weight", (H,), "ln")
        add(p + "attention.output.LayerNorm.bias", (H,))
        add(p + "intermediate.dense.weight", (I, H))
        add(p + "intermediate.dense.bias", (I,))
        add(p + "output.dense.weight", (H, I))
        add(p + "output.dense.bias", (H,))
        add(p + "output.LayerNorm.weight", (H,), "ln")
        add(p + "output.LayerNorm.bias", (H,))
    add("pooler.dense.weight", (H, H))
    add("pooler.dense.bias", (H,))
    write_safetensors(os.path.join(d, "model.safetensors"), t)
    write_json(os.path.join(d, "sentence_bert_config.json"), {"max_seq_length": MAX_SEQ, "do_lower_case": False})
    os.makedirs(os.path.join(d, "1_Pooling"), exist_ok=True)
    write_json(os.path.join(d, "1_Pooling", "config.json"), {
        "word_embedding_dimension": H, "pooling_mode_cls_token": False, "pooling_mode_mean_tokens": True,
        "pooling_mode_max_tokens": False, "pooling_mode_mean_sqrt_len_tokens": False})
    os.makedirs(os.path.join(d, "2_Normalize"), exist_ok=True)
    write_json(os.path.join(d, "modules.json"), [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}])
    return d


def read_passages(n):
    with open(PASSAGES, encoding="utf-8") as f:
        rows = [line.rstrip("\n").split("\t") for line in f][1:]
    return [r[3] for r in rows if len(r) >= 4 and r[3]][:n]


def flops(shape, lens):
    s = SHAPES[shape]
    H, I, L = s["H"], s["I"], s["L"]
    return sum(L * T * (2 * (4 * H * H + 2 * H * I) + 4 * H * T) for T in lens)


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


# ---------------------------------------------------------------------------------------
# siamsql (child process)
# ---------------------------------------------------------------------------------------

def connect(db):
    c = sqlite3.connect(db, isolation_level=None)
    c.enable_load_extension(True)
    c.load_extension(SO)
    return c


def child_import(a):
    """A fresh database holding the model and the passages."""
    db = os.path.join(a.tmp, f"{a.shape}.db")
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(db + suffix):
            os.remove(db + suffix)
    c = connect(db)
    t = time.perf_counter()
    c.execute("SELECT siam_import('m', ?)", (gen_model(a.shape),))
    import_s = time.perf_counter() - t
    c.execute("CREATE TABLE passages(id INTEGER PRIMARY KEY, text TEXT, emb BLOB)")
    c.executemany("INSERT INTO passages(text) VALUES (?)", [(x,) for x in read_passages(a.texts)])
    c.close()
    json.dump({"import_s": import_s, "db_mb": os.path.getsize(db) / 2 ** 20}, sys.stdout)


def child_siamsql(a):
    db = os.path.join(a.tmp, f"{a.shape}.db")
    out = {"compute": a.compute}
    c = connect(db)  # the model's precision is part of its config: set it by SQL, as a user would
    c.execute("UPDATE siam_model SET config = CASE ?1 WHEN 'f32' THEN json_remove(config, '$.compute') "
              "ELSE json_set(config, '$.compute', ?1) END WHERE name = 'm'", (a.compute,))
    c.close()
    connect(":memory:").close()
    rss_before = peak_rss_mb()

    # Cold load: the first siam_embed of a fresh connection reads, decompresses
    # and lays out the model.  The first connection of the process also loads
    # OpenBLAS; a second fresh connection shows the load alone.
    cold = []
    for _ in range(3):
        c = connect(db)
        t = time.perf_counter()
        c.execute("SELECT siam_embed('m', 'x')").fetchone()
        cold.append(time.perf_counter() - t)
        c.close()
    out["cold_first_s"], out["cold_s"] = cold[0], statistics.median(cold[1:])

    c = connect(db)
    texts = [r[0] for r in c.execute("SELECT text FROM passages ORDER BY id")]
    out["info"] = json.loads(c.execute("SELECT siam_info()").fetchone()[0])
    ids = [json.loads(c.execute("SELECT siam_tokenize('m', ?)", (x,)).fetchone()[0]) for x in texts]
    out["ids"] = ids
    q = json.loads(c.execute("SELECT siam_tokenize('m', ?)", (QUERY,)).fetchone()[0])
    out["query_tokens"] = len(q)
    out["query_ids"] = q

    # Single query latency (prepared statement reused, as an application would).
    cur = c.cursor()
    for _ in range(20):
        cur.execute("SELECT siam_embed('m', ?)", (QUERY,)).fetchone()
    lat = []
    for _ in range(a.queries):
        t = time.perf_counter()
        cur.execute("SELECT siam_embed('m', ?)", (QUERY,)).fetchone()
        lat.append(time.perf_counter() - t)
    out["query_ms"] = [1000 * x for x in lat]

    has_each = c.execute("SELECT 1 FROM pragma_module_list WHERE name = 'siam_embed_each'").fetchone()
    bulk = []
    if has_each:
        for _ in range(a.runs):
            t = time.perf_counter()
            c.execute("UPDATE passages SET emb = e.embedding FROM siam_embed_each('m', "
                      "'SELECT id, text FROM passages') AS e WHERE passages.id = e.id")
            bulk.append(time.perf_counter() - t)
        e1 = [r[0] for r in c.execute("SELECT emb FROM passages ORDER BY id")]
        out["embs_hex"] = [x.hex() for x in e1]
    out["bulk_s"] = bulk
    rows = []
    for _ in range(max(1, a.row_runs)):
        t = time.perf_counter()
        c.execute("UPDATE passages SET emb = siam_embed('m', text)")
        rows.append(time.perf_counter() - t)
    out["row_s"] = rows
    if has_each:
        e2 = [r[0] for r in c.execute("SELECT emb FROM passages ORDER BY id")]
        worst = 0.0
        for x, y in zip(e1, e2):
            fx, fy = struct.unpack(f"<{len(x) // 4}f", x), struct.unpack(f"<{len(y) // 4}f", y)
            worst = max(worst, max(abs(u - v) for u, v in zip(fx, fy)))
        out["bulk_vs_row_maxdiff"] = worst
    out["emb0"] = list(struct.unpack(f"<{len(c.execute('SELECT emb FROM passages WHERE id = 1').fetchone()[0]) // 4}f",
                                     c.execute("SELECT emb FROM passages WHERE id = 1").fetchone()[0]))
    out["rss_mb"] = peak_rss_mb()
    out["rss_before_mb"] = rss_before
    c.close()
    json.dump(out, sys.stdout)


# ---------------------------------------------------------------------------------------
# PyTorch (child process)
# ---------------------------------------------------------------------------------------

def child_torch(a):
    import torch
    import torch.nn.functional as F
    if a.torch_threads:
        torch.set_num_threads(a.torch_threads)
    sys.path.insert(0, os.path.join(ROOT, "tests", "gen"))
    sys.dont_write_bytecode = True
    import reference as ref
    s = SHAPES[a.shape]
    L, H, A, I = s["L"], s["H"], s["A"], s["I"]
    d = gen_model(a.shape)
    w = ref.read_safetensors(os.path.join(d, "model.safetensors"))
    w = {k: v.float().contiguous() for k, v in w.items()}
    with open(a.ids_file) as f:
        job = json.load(f)
    ids, query = job["ids"], job["query_ids"]
    HD = H // A

    def forward(batch):
        """HF BertModel (eager attention) + mean pooling + normalize; batch: list of id lists."""
        T = max(len(x) for x in batch)
        inp = torch.zeros(len(batch), T, dtype=torch.long)
        mask = torch.zeros(len(batch), T)
        for i, x in enumerate(batch):
            inp[i, :len(x)] = torch.tensor(x)
            mask[i, :len(x)] = 1
        x = (w["embeddings.word_embeddings.weight"][inp] + w["embeddings.token_type_embeddings.weight"][0]
             + w["embeddings.position_embeddings.weight"][:T])
        x = F.layer_norm(x, (H,), w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], 1e-12)
        ext = (1.0 - mask)[:, None, None, :] * torch.finfo(torch.float32).min
        B = len(batch)
        for l in range(L):
            p = f"encoder.layer.{l}."

            def lin(n, t):
                return F.linear(t, w[p + n + ".weight"], w[p + n + ".bias"])

            def heads(t):
                return t.view(B, T, A, HD).permute(0, 2, 1, 3)
            q, k, v = (heads(lin(f"attention.self.{n}", x)) for n in ("query", "key", "value"))
            sc = torch.matmul(q, k.transpose(-1, -2)) / (HD ** 0.5) + ext
            ctx = torch.matmul(sc.softmax(-1), v).permute(0, 2, 1, 3).reshape(B, T, H)
            x = F.layer_norm(lin("attention.output.dense", ctx) + x, (H,),
                             w[p + "attention.output.LayerNorm.weight"], w[p + "attention.output.LayerNorm.bias"], 1e-12)
            h = F.gelu(lin("intermediate.dense", x))
            x = F.layer_norm(lin("output.dense", h) + x, (H,),
                             w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"], 1e-12)
        pooled = (x * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
        return F.normalize(pooled, p=2, dim=1)

    order = sorted(range(len(ids)), key=lambda i: -len(ids[i]))  # as sentence-transformers' encode
    out = {"threads": torch.get_num_threads(), "autocast": a.autocast}
    embs = [None] * len(ids)
    # autocast bf16: nn.Linear and the attention matmuls in bfloat16 through
    # oneDNN (AMX where the CPU has it), LayerNorm and softmax in float32.
    mode = torch.autocast("cpu", dtype=torch.bfloat16) if a.autocast else contextlib.nullcontext()
    with torch.inference_mode(), mode:
        forward([ids[order[0]]] * 2)  # warm-up
        runs, emb0 = [], None
        for _ in range(a.runs):
            t = time.perf_counter()
            for b in range(0, len(order), a.batch):
                e = forward([ids[i] for i in order[b:b + a.batch]]).float()
                for j, i in enumerate(order[b:b + a.batch]):
                    embs[i] = e[j]
                if 0 in order[b:b + a.batch]:
                    emb0 = e[order[b:b + a.batch].index(0)].tolist()
            runs.append(time.perf_counter() - t)
        out["bulk_s"] = runs
        out["emb0"] = emb0
        out["embs_hex"] = [struct.pack(f"<{len(x)}f", *x.tolist()).hex() for x in embs]
        for _ in range(10):
            forward([query])
        lat = []
        for _ in range(a.queries):
            t = time.perf_counter()
            forward([query])
            lat.append(time.perf_counter() - t)
        out["query_ms"] = [1000 * x for x in lat]
    out["rss_mb"] = peak_rss_mb()
    try:
        lib = ctypes.CDLL("libopenblas.so.0")
        lib.openblas_get_corename.restype = ctypes.c_char_p
        out["blas_core"] = lib.openblas_get_corename().decode()
        out["blas_threads"] = lib.openblas_get_num_threads()
    except (OSError, AttributeError):
        out["blas_core"], out["blas_threads"] = "?", "?"
    json.dump(out, sys.stdout)


# ---------------------------------------------------------------------------------------
# sgemm probe (child process)
# ---------------------------------------------------------------------------------------

def child_probe(a):
    lib = ctypes.CDLL("libopenblas.so.0")
    lib.openblas_get_corename.restype = ctypes.c_char_p
    sg = lib.cblas_sgemm
    sg.argtypes = [ctypes.c_int] * 6 + [ctypes.c_float, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p, ctypes.c_int,
                                        ctypes.c_float, ctypes.c_void_p, ctypes.c_int]
    M = 512
    res = []
    for N, K in json.loads(a.nk):
        A = (ctypes.c_float * (M * K))(*([0.01] * (M * K)))
        Bm = (ctypes.c_float * (N * K))(*([0.01] * (N * K)))
        C = (ctypes.c_float * (M * N))()
        # RowMajor=101, NoTrans=111, Trans=112: y = x W^T as siamsql calls it
        sg(101, 111, 112, M, N, K, 1.0, A, K, Bm, K, 0.0, C, N)
        reps, best = max(3, int(2e9 / (2 * M * N * K))), []
        for _ in range(3):
            t = time.perf_counter()
            for _ in range(reps):
                sg(101, 111, 112, M, N, K, 1.0, A, K, Bm, K, 0.0, C, N)
            best.append(2.0 * M * N * K * reps / (time.perf_counter() - t) / 1e9)
        res.append({"M": M, "N": N, "K": K, "gflops": statistics.median(best)})
    json.dump({"core": lib.openblas_get_corename().decode(), "results": res}, sys.stdout)


# ---------------------------------------------------------------------------------------
# driver
# ---------------------------------------------------------------------------------------

def run_child(args, env=None):
    e = dict(os.environ)
    for k in ("OPENBLAS_CORETYPE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
        e.pop(k, None)
    e.update(env or {})
    r = subprocess.run([sys.executable, os.path.abspath(__file__)] + args, env=e, capture_output=True, text=True)
    if r.returncode != 0:
        sys.stderr.write(r.stderr)
        raise SystemExit(f"bench: child {' '.join(args[:2])} failed")
    return json.loads(r.stdout)


def instruction_peaks():
    """bench/probe.c's one-core peaks (GFLOP/s: f32 FMA, VDPBF16PS, AMX bf16; GOP/s: VPDPBUSD,
    AMX int8), or None where it does not build."""
    exe = os.path.join(CACHE, "probe")
    src = os.path.join(ROOT, "bench", "probe.c")
    r = subprocess.run(["cc", "-O2", "-o", exe, src], capture_output=True, text=True)
    if r.returncode != 0:
        print("bench: bench/probe.c did not build, no instruction peaks:", r.stderr.strip()[:200])
        return None
    return json.loads(subprocess.run([exe], capture_output=True, text=True, check=True).stdout)


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "?"


def unhex(rows):
    return [struct.unpack(f"<{len(x) // 8}f", bytes.fromhex(x)) for x in rows]


def cosines(a, b):
    """min and mean cosine between paired rows."""
    cs = []
    for x, y in zip(a, b):
        d = sum(u * v for u, v in zip(x, y))
        cs.append(d / math.sqrt(sum(u * u for u in x) * sum(v * v for v in y)))
    return min(cs), sum(cs) / len(cs)


def cos_to_torch(r, x):
    """min and mean cosine of engine result x's embeddings to PyTorch f32's, computed once
    (the table and the targets both ask)."""
    if "cos" not in x:
        x["cos"] = cosines(unhex(x["embs_hex"]), unhex(r["torch_skx"]["embs_hex"]))
    return x["cos"]


def retrieval_by_compute(modes):
    """The default model's dense retrieval on the held-out tasks in each compute mode
    (eval_retrieval.py), or None without train/data (it is built, not shipped)."""
    data = os.path.join(ROOT, "train", "data")
    if not all(os.path.exists(os.path.join(data, f)) for f in ("passages.jsonl", "sections.jsonl", "releases.jsonl")):
        print("\nbench: no train/data, so no held-out retrieval figures per compute mode (build it: bash "
              "train/fetch_sources.sh, then /usr/bin/python3 train/build_data.py and train/build_docs.py)")
        return None
    sys.path.insert(0, os.path.join(ROOT, "bench"))
    import eval_retrieval as ev
    out = {}
    for m in modes:
        t = time.perf_counter()
        out[m] = ev.evaluate(os.path.join(ROOT, "models", "default"), data, methods=["dense"], log=lambda *x: None,
                             compute=m)
        out[m]["seconds"] = time.perf_counter() - t
    return out


def print_retrieval(res):
    """Recall@10 and MRR per task in each compute mode, the change from f32, and int8's
    target: MRR within 0.01 of f32's on every task."""
    modes = list(res)
    tasks = [t for t in res[modes[0]] if isinstance(res[modes[0]][t], dict) and "dense" in res[modes[0]][t]]
    print("\n== held-out retrieval, default model, dense (bench/eval_retrieval.py), per compute mode")
    print(f"   {'task':18s} " + " ".join(f"{m + ' R@10':>10s} {m + ' MRR':>9s}" for m in modes) + "   MRR change")
    worst = {m: 0.0 for m in modes[1:]}
    for t in tasks:
        cells = " ".join(f"{res[m][t]['dense']['recall@10']:10.3f} {res[m][t]['dense']['mrr']:9.3f}" for m in modes)
        f32 = res[modes[0]][t]["dense"]["mrr"]
        for m in modes[1:]:
            worst[m] = max(worst[m], abs(res[m][t]["dense"]["mrr"] - f32))
        print(f"   {t:18s} {cells}   " + " ".join(f"{m} {res[m][t]['dense']['mrr'] - f32:+.4f}" for m in modes[1:]))
    for m in modes[1:]:
        if m == "int8":
            print(f"   int8: MRR within 0.01 of f32 on every task: largest change {worst[m]:.4f}, "
                  f"{'met' if worst[m] <= 0.01 else 'MISSED'}")
        else:
            print(f"   {m}: largest MRR change {worst[m]:.4f}")


def onednn_isa():
    """What oneDNN (PyTorch's bf16 path) says it runs on, and the kernel of one autocast
    nn.Linear, from ONEDNN_VERBOSE=1 (AMX shows as avx512_core_amx)."""
    code = ("import torch, torch.nn.functional as F\n"
            "x, w = torch.randn(64, 384), torch.randn(384, 384)\n"
            "with torch.inference_mode(), torch.autocast('cpu', dtype=torch.bfloat16):\n"
            "    F.linear(x, w)\n")
    r = subprocess.run([sys.executable, "-c", code], env=dict(os.environ, ONEDNN_VERBOSE="1"), capture_output=True,
                       text=True)
    isa = [ln.split("isa:", 1)[1] for ln in r.stdout.splitlines() if ",isa:" in ln]
    impl = [ln.split(",")[4] for ln in r.stdout.splitlines() if ln.startswith("onednn_verbose,exec,cpu,matmul")]
    return f"{isa[0] if isa else '?'}; an autocast nn.Linear ran {impl[0] if impl else '?'}"


def has_avx512():
    try:
        with open("/proc/cpuinfo") as f:
            flags = f.read()
        return all(x in flags for x in ("avx512f", "avx512bw", "avx512vl", "avx512dq"))
    except OSError:
        return False


def main(a):
    have_torch = subprocess.run([sys.executable, "-c", "import torch"], capture_output=True).returncode == 0
    os.makedirs(CACHE, exist_ok=True)
    tmp = os.path.join(CACHE, "tmp")
    os.makedirs(tmp, exist_ok=True)
    ncpu = os.cpu_count()
    print(f"bench: {ncpu} CPUs, {a.texts} passages from demo/data/passages.tsv (max_seq_length {MAX_SEQ}), "
          f"{a.runs} runs, medians")
    if not have_torch:
        print("bench: PyTorch is not installed for", sys.executable,
              "-- skipping the PyTorch columns (apt-get install python3-torch to get them)")
    print(f"bench: CPU {cpu_model()}")
    if have_torch:
        print(f"bench: PyTorch autocast runs on oneDNN: {onednn_isa()}")
    peaks = instruction_peaks()
    if peaks:
        print(f"bench: one core's instruction peaks (bench/probe.c): f32 FMA {peaks['f32']:.0f} GFLOP/s, "
              f"VDPBF16PS {peaks['bf16']:.0f}, AMX bf16 {peaks['amx_bf16']:.0f}; VPDPBUSD {peaks['int8']:.0f} GOP/s, "
              f"AMX int8 {peaks['amx_int8']:.0f}" + (f"; missing: {peaks['missing']}" if peaks["missing"] else ""))
    report = {}
    for shape in a.shapes.split(","):
        t0 = time.perf_counter()
        gen_model(shape)
        gen_s = time.perf_counter() - t0
        n = a.texts if shape == "minilm" else a.texts_big
        sq = run_child(["import", "--shape", shape, "--texts", str(n), "--tmp", tmp])
        imported = dict(sq)
        # One child per compute mode, the model's config set by SQL as a user
        # would.  No embedding cache: the query figure must be the encoder's.
        siam = ["siamsql", "--shape", shape, "--runs", str(a.runs), "--row-runs", "1",
                "--queries", str(a.queries if shape == "minilm" else a.queries_big), "--tmp", tmp]
        nocache = {"SIAMSQL_EMBED_CACHE_BYTES": "0"}
        modes = {m: dict(imported, **run_child(siam + ["--compute", m], nocache)) for m in COMPUTE_MODES}
        sq = modes["f32"]
        threads = sq["info"].get("threads", ncpu)
        lens = [len(x) for x in sq["ids"]]
        r = {"siamsql": sq, "modes": modes, "lens": lens, "flops": flops(shape, lens), "gen_s": gen_s,
             "peaks": peaks}
        s = SHAPES[shape]
        nk = sorted({(s["H"], s["H"]), (s["I"], s["H"]), (s["H"], s["I"]), (3 * s["H"], s["H"])})
        core = sq["info"].get("blas_core", "")
        r["probe"] = run_child(["probe", "--nk", json.dumps(nk)],
                               {"OPENBLAS_CORETYPE": core, "OPENBLAS_NUM_THREADS": str(threads)})
        r["probe1"] = run_child(["probe", "--nk", json.dumps(nk)],
                                {"OPENBLAS_CORETYPE": core, "OPENBLAS_NUM_THREADS": "1"})
        if have_torch:
            idf = os.path.join(tmp, f"{shape}.ids.json")
            with open(idf, "w") as f:
                json.dump({"ids": sq["ids"], "query_ids": sq["query_ids"]}, f)
            best_env = {"OPENBLAS_NUM_THREADS": str(threads)}
            if has_avx512():
                best_env["OPENBLAS_CORETYPE"] = "SkylakeX"
            common = ["torch", "--shape", shape, "--ids-file", idf, "--batch", "32", "--runs", str(a.runs),
                      "--queries", str(a.queries if shape == "minilm" else a.queries_big)]
            # PyTorch f32 two ways, its best the faster: OpenBLAS told the
            # core (Debian's 0.3.21 may not know it) and as installed.
            r["torch_skx"] = run_child(common + ["--torch-threads", "1"], best_env)
            r["torch_skx"]["env"] = best_env
            r["torch_inst"] = run_child(common)
            for t in (1, 2):
                r[f"torch_ac{t}"] = run_child(common + ["--torch-threads", str(t), "--autocast"], best_env)
        report[shape] = r
        print_shape(shape, r, threads)
    if report:
        print_targets(report)
    if not a.no_retrieval:
        ret = retrieval_by_compute(COMPUTE_MODES)
        if ret:
            print_retrieval(ret)
            report["retrieval"] = ret
    with open(os.path.join(CACHE, "last.json"), "w") as f:
        json.dump(slim(report), f, default=str)


def slim(o):
    """The report without the per-text lists (ids, embeddings)."""
    if isinstance(o, dict):
        return {k: slim(v) for k, v in o.items() if k not in ("embs_hex", "ids", "lens", "query_ids")}
    return o


def mode_peak(peaks, mode, kernel, threads):
    """The instruction peak a compute mode's kernel can reach on `threads` cores (GFLOP/s;
    GOP/s for int8), from bench/probe.c's one-core figures; None without them."""
    if not peaks:
        return None
    key = {("f32", "avx512"): "f32", ("f32", "portable"): "f32", ("bf16", "amx"): "amx_bf16",
           ("bf16", "avx512bf16"): "bf16", ("int8", "amx"): "amx_int8", ("int8", "avx512vnni"): "int8"}
    return peaks[key.get((mode, kernel), "f32")] * threads


def engine_rows(r, threads):
    """(name, result, peak) for every engine that embedded the passages, siamsql's compute
    modes first, then PyTorch's."""
    peaks, out = r.get("peaks"), []
    for mode, x in r["modes"].items():
        kernel = x["info"].get("kernels", {}).get(mode, x["info"].get("encoder_kernel"))
        if x.get("bulk_s"):
            out.append((f"siamsql {mode} ({kernel}, siam_embed_each)", x, mode_peak(peaks, mode, kernel, threads)))
    out.append(("siamsql f32 row by row (siam_embed)", {"bulk_s": r["siamsql"]["row_s"]},
                mode_peak(peaks, "f32", "avx512", threads)))
    if "torch_skx" in r:
        tb, ti = r["torch_skx"], r["torch_inst"]
        f32 = mode_peak(peaks, "f32", "avx512", threads)
        bf16 = mode_peak(peaks, "bf16", "amx" if peaks and peaks["amx_bf16"] else "avx512bf16", threads)
        out.append((f"PyTorch f32 ({tb['blas_core']} OpenBLAS, {tb['threads']} torch + {tb['blas_threads']} BLAS thr)",
                    tb, f32))
        out.append((f"PyTorch f32 as installed ({ti['blas_core']}, {ti['threads']} torch + {ti['blas_threads']} BLAS "
                     "thr)", ti, f32))
        for t in (1, 2):
            out.append((f"PyTorch bf16 autocast, {t} thr (oneDNN)", r[f"torch_ac{t}"], bf16))
    return out


def sps(r, x):
    return len(r["lens"]) / statistics.median(x["bulk_s"])


def best_torch(r, keys):
    """The fastest of the given PyTorch rows: (key, sentences/s)."""
    have = [k for k in keys if k in r]
    k = max(have, key=lambda k: sps(r, r[k]))
    return k, sps(r, r[k])


def print_engines(r, threads):
    """One table: every engine's sentences/s, its ratio to the best PyTorch row, its share
    of its instruction peak, a 16-token query, and its embeddings' cosine to PyTorch f32's."""
    n, fl = len(r["lens"]), r["flops"]
    best = best_torch(r, ("torch_skx", "torch_inst", "torch_ac1", "torch_ac2"))[1] if "torch_skx" in r else None
    print(f"   {'':62s} {'sent/s':>7s} {'ratio':>6s} {'GFLOP/s':>8s} {'%peak':>6s} {'q med':>6s} {'q p99':>6s} "
          f"{'cos min':>9s} {'cos mean':>9s} {'RSS MB':>7s}")
    for name, x, peak in engine_rows(r, threads):
        t = statistics.median(x["bulk_s"])
        gf = fl / t / 1e9
        ratio = f"{n / t / best:5.2f}x" if best else f"{'':6s}"
        pk = f"{100 * gf / peak:5.0f}%" if peak else f"{'':6s}"
        q = x.get("query_ms")
        qs = f"{statistics.median(q):6.2f} {pct(q, 0.99):6.2f}" if q else f"{'':6s} {'':6s}"
        cs = f"{'':9s} {'':9s}"
        if "torch_skx" in r and x.get("embs_hex"):
            cmin, cmean = cos_to_torch(r, x)
            cs = f"{cmin:9.6f} {cmean:9.6f}"
        rss = f"{x['rss_mb']:7.0f}" if x.get("rss_mb") else f"{'':7s}"
        print(f"   {name:62s} {n / t:7.1f} {ratio} {gf:8.1f} {pk} {qs} {cs} {rss}")
    print("   (ratio: to the fastest PyTorch row; %peak: of the kernel's instruction peak, bench/probe.c's one-core "
          f"figure x {threads}; q: a 16-token query in ms; cos: each passage's embedding against PyTorch f32's)")


def print_targets(report):
    """Issue 15's targets, each with the figure this run measured and met or MISSED."""
    print("\n== targets (2 threads, same model and texts, this run)")
    lines = []

    def check(what, value, ok, note=""):
        lines.append(f"   {what:70s} {value:>18s}  {'met' if ok else 'MISSED'}{note}")

    for shape, r in report.items():
        m = r["modes"]
        peaks = r.get("peaks") or {}
        amx = bool(peaks.get("amx_bf16"))
        if "torch_skx" in r:
            k, tf32 = best_torch(r, ("torch_skx", "torch_inst"))
            v = sps(r, m["f32"]) / tf32
            check(f"{shape}: siamsql f32 >= 1.2x PyTorch f32 at its best", f"{v:.2f}x", v >= 1.2)
            k, tbf = best_torch(r, ("torch_ac1", "torch_ac2"))
            v = sps(r, m["bf16"]) / tbf
            check(f"{shape}: siamsql bf16 >= 1.5x PyTorch autocast bf16 at its best", f"{v:.2f}x", v >= 1.5,
                  "" if amx else " (the target is for CPUs with AMX; this one has none)")
            c = cos_to_torch(r, m["bf16"])[0]
            check(f"{shape}: bf16 embeddings' cosine to PyTorch f32 >= 0.9999 (min)", f"{c:.6f}", c >= 0.9999)
            c = cos_to_torch(r, m["int8"])[0]
            check(f"{shape}: int8 embeddings' cosine to PyTorch f32 >= 0.995 (min)", f"{c:.6f}", c >= 0.995)
        if amx:
            v = sps(r, m["int8"]) / sps(r, m["bf16"])
            check(f"{shape}: siamsql int8 faster than bf16 (AMX)", f"{v:.2f}x", v > 1)
        else:
            v = sps(r, m["int8"]) / sps(r, m["f32"])
            check(f"{shape}: siamsql int8 >= 2x siamsql f32 (AVX512-VNNI, no AMX)", f"{v:.2f}x", v >= 2)
        if shape == "minilm":
            q = min(statistics.median(m[x]["query_ms"]) for x in ("bf16", "int8"))
            check("minilm: a 16-token query <= 1.5 ms in bf16 or int8 (median)", f"{q:.2f} ms", q <= 1.5)
    print("\n".join(lines))


def print_shape(shape, r, threads):
    s, sq, n = SHAPES[shape], r["siamsql"], len(r["lens"])
    fl = r["flops"]
    peak = max(x["gflops"] for x in r["probe"]["results"])
    peak1 = max(x["gflops"] for x in r["probe1"]["results"])
    info = sq["info"]
    print()
    print(f"== {shape}: {s['L']} layers, hidden {s['H']}, {s['A']} heads, intermediate {s['I']}; "
          f"{n} texts, {sum(r['lens'])} tokens (mean {sum(r['lens']) / n:.1f}, max {max(r['lens'])}); "
          f"{fl / n / 1e9:.2f} GFLOP/text")
    print(f"   siamsql: kernels {json.dumps(info.get('kernels'))}, {info.get('threads')} threads; "
          f"siam_import {sq['import_s']:.2f} s, database {sq['db_mb']:.0f} MB")
    print(f"   OpenBLAS sgemm probe (M=512, N,K in {sorted({(x['N'], x['K']) for x in r['probe']['results']})}), core "
          f"{r['probe']['core']}: {peak:.0f} GFLOP/s at best on {threads} threads, {peak1:.0f} on 1")
    print_engines(r, threads)
    for mode, x in r["modes"].items():
        print(f"   siamsql {mode}: bulk runs {', '.join(f'{t:.2f}' for t in x['bulk_s'])} s; bulk vs row by row "
              f"max |diff| {x.get('bulk_vs_row_maxdiff', float('nan')):.2e}; cold load {1000 * x['cold_s']:.0f} ms "
              f"({1000 * x['cold_first_s']:.0f} ms in a fresh process); peak RSS {x['rss_mb']:.0f} MB")
    if "torch_skx" in r:
        e0, t0 = sq["emb0"], r["torch_skx"]["emb0"]
        if e0 and t0:
            print(f"   same result check (text 0, f32): max |siamsql - PyTorch| = "
                  f"{max(abs(u - v) for u, v in zip(e0, t0)):.2e}")
    wbytes = 4 * (VOCAB_SIZE * s["H"] + P * s["H"] + 2 * s["H"] + s["L"] * (4 * s["H"] ** 2 + 2 * s["H"] * s["I"]))
    # siamsql's activation arena (model/encoder.c): a chunk of 1024 tokens
    # times (6H + IM) floats, plus one S x (S + HD) attention scratch per
    # thread (at most 8), S = max_seq_length = 128 here.
    S, HD = 128, s["H"] // s["A"]
    abytes = 4 * (1024 * (6 * s["H"] + s["I"]) + min(threads, 8) * S * (S + HD))
    used = sq["rss_mb"] - sq["rss_before_mb"]
    allowed = 1.3 * wbytes / 2 ** 20 + abytes / 2 ** 20
    print(f"   peak RSS (f32): siamsql process {sq['rss_mb']:.0f} MB, of which Python + SQLite + siamsql.so before any "
          f"model {sq['rss_before_mb']:.0f} MB; f32 weights {wbytes / 2 ** 20:.0f} MB, activations "
          f"{abytes / 2 ** 20:.0f} MB\n"
          f"      peak - base = {used:.0f} MB = {used / (wbytes / 2 ** 20):.2f} x weights; "
          f"target 1.3 x weights + activations = {allowed:.0f} MB: {'met' if used <= allowed else 'MISSED'}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", nargs="?", default="main", choices=["main", "import", "siamsql", "torch", "probe", "gen"])
    ap.add_argument("--shape", default="minilm")
    ap.add_argument("--shapes", default="minilm,bertbase")
    ap.add_argument("--texts", type=int, default=256)
    ap.add_argument("--texts-big", type=int, default=64)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--row-runs", type=int, default=1)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--queries-big", type=int, default=30)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--torch-threads", type=int, default=0)
    ap.add_argument("--compute", default="f32", choices=COMPUTE_MODES)
    ap.add_argument("--autocast", action="store_true")
    ap.add_argument("--no-retrieval", action="store_true", help="skip the held-out retrieval per compute mode")
    ap.add_argument("--ids-file")
    ap.add_argument("--nk")
    ap.add_argument("--tmp")
    args = ap.parse_args()
    {"main": main, "import": child_import, "siamsql": child_siamsql, "torch": child_torch, "probe": child_probe,
     "gen": lambda a: [gen_model(s) for s in a.shapes.split(",")]}[args.mode](args)

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
  siamsql  siam_import into a fresh database; cold load (first siam_embed in
           a fresh connection); single 16-token query latency; bulk through
           siam_embed_each (the batched path); row by row through
           UPDATE ... SET emb = siam_embed(...); the token ids it used.
  torch    the same weights in PyTorch 1.13 (torch.inference_mode), texts
           sorted by length and batched 32 with padding as
           sentence-transformers does, on siamsql's token ids: "best"
           (OPENBLAS_CORETYPE=SkylakeX on AVX-512, 1 torch thread, OpenBLAS
           threads = siamsql's) and "as installed" (no settings).
  probe    OpenBLAS sgemm GFLOP/s at M=512 and the model's N, K, with the core
           and thread count siamsql runs with.

Figures are medians of --runs runs.  FLOPs count the useful work only (each
text's own tokens, no padding): 2 * (4H^2 + 2 H I) per token per layer plus
attention's 4 H T per token.
"""
import argparse
import ctypes
import json
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
QUERY = "a tool to find duplicate files on disk"  # 16 tokens with [CLS]/[SEP] in the bench vocab


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
    out = {}
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
    out = {"threads": torch.get_num_threads()}
    with torch.inference_mode():
        forward([ids[order[0]]] * 2)  # warm-up
        runs, emb0 = [], None
        for _ in range(a.runs):
            t = time.perf_counter()
            for b in range(0, len(order), a.batch):
                e = forward([ids[i] for i in order[b:b + a.batch]])
                if 0 in order[b:b + a.batch]:
                    emb0 = e[order[b:b + a.batch].index(0)].tolist()
            runs.append(time.perf_counter() - t)
        out["bulk_s"] = runs
        out["emb0"] = emb0
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
    report = {}
    for shape in a.shapes.split(","):
        t0 = time.perf_counter()
        gen_model(shape)
        gen_s = time.perf_counter() - t0
        n = a.texts if shape == "minilm" else a.texts_big
        sq = run_child(["import", "--shape", shape, "--texts", str(n), "--tmp", tmp])
        sq.update(run_child(["siamsql", "--shape", shape, "--runs", str(a.runs), "--row-runs", "1",
                             "--queries", str(a.queries if shape == "minilm" else a.queries_big), "--tmp", tmp]))
        threads = sq["info"].get("threads", ncpu)
        lens = [len(x) for x in sq["ids"]]
        fl = flops(shape, lens)
        r = {"siamsql": sq, "lens": lens, "flops": fl, "gen_s": gen_s}
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
            common = ["torch", "--shape", shape, "--ids-file", idf, "--batch", "32",
                      "--queries", str(a.queries if shape == "minilm" else a.queries_big)]
            r["torch_best"] = run_child(common + ["--runs", str(a.runs), "--torch-threads", "1"], best_env)
            r["torch_best"]["env"] = best_env
            r["torch_inst"] = run_child(common + ["--runs", "1"])
        report[shape] = r
        print_shape(shape, r, threads)
    with open(os.path.join(CACHE, "last.json"), "w") as f:
        json.dump({k: {kk: vv for kk, vv in v.items() if kk != "lens"} for k, v in report.items()}, f, default=str)


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
    print(f"   siamsql: encoder kernel {info.get('encoder_kernel')}; OpenBLAS core {info.get('blas_core')} "
          f"(chosen by {info.get('core_chosen_by')}), "
          f"{info.get('threads')} threads; siam_import {sq['import_s']:.2f} s, database {sq['db_mb']:.0f} MB")
    print(f"   sgemm probe (M=512, N,K in {sorted({(x['N'], x['K']) for x in r['probe']['results']})}), core "
          f"{r['probe']['core']}: peak {peak:.0f} GFLOP/s on {threads} threads, {peak1:.0f} on 1")
    for x in r["probe"]["results"]:
        print(f"      N={x['N']:5d} K={x['K']:5d}: {x['gflops']:6.1f} GFLOP/s")
    rows = []

    def row(name, runs, q=None, rss=None, note=""):
        t = statistics.median(runs)
        rows.append((name, n / t, fl / t / 1e9, q, rss, note, t))

    if sq["bulk_s"]:
        row("siamsql bulk (siam_embed_each)", sq["bulk_s"], sq["query_ms"], sq["rss_mb"],
            f"runs {', '.join(f'{x:.2f}' for x in sq['bulk_s'])} s")
    else:
        print("   (siam_embed_each not in this build: no siamsql bulk figure)")
    row("siamsql row by row (siam_embed)", sq["row_s"], None, None)
    if "torch_best" in r:
        tb, ti = r["torch_best"], r["torch_inst"]
        row(f"PyTorch best ({tb['blas_core']}, {tb['threads']} torch + {tb['blas_threads']} BLAS thr)",
            tb["bulk_s"], tb["query_ms"], tb["rss_mb"], f"runs {', '.join(f'{x:.2f}' for x in tb['bulk_s'])} s")
        row(f"PyTorch as installed ({ti['blas_core']}, {ti['threads']} torch + {ti['blas_threads']} BLAS thr)",
            ti["bulk_s"], ti["query_ms"],
            ti["rss_mb"])
    print(f"   {'':52s} {'sent/s':>8s} {'GFLOP/s':>8s} {'%peak':>6s} {'q med ms':>9s} {'q p99 ms':>9s} {'RSS MB':>7s}")
    for name, sps, gf, q, rss, note, t in rows:
        qm = f"{statistics.median(q):9.2f} {pct(q, 0.99):9.2f}" if q else f"{'':9s} {'':9s}"
        print(f"   {name:52s} {sps:8.1f} {gf:8.1f} {100 * gf / peak:5.0f}% {qm} "
              f"{(f'{rss:7.0f}' if rss else ''):>7s}  {note}")
    if "torch_best" in r and sq["bulk_s"]:
        sb = n / statistics.median(sq["bulk_s"])
        tb = n / statistics.median(r["torch_best"]["bulk_s"])
        ti = n / statistics.median(r["torch_inst"]["bulk_s"])
        qs, qt = statistics.median(sq["query_ms"]), statistics.median(r["torch_best"]["query_ms"])
        print(f"   ratio siamsql bulk / PyTorch best: {sb / tb:.2f}x   / PyTorch as installed: {sb / ti:.2f}x   "
              f"query latency PyTorch best / siamsql: {qt / qs:.2f}x")
        e0, t0 = sq["emb0"], r["torch_best"]["emb0"]
        if e0 and t0:
            print(f"   same result check (text 0): max |siamsql - PyTorch| = {max(abs(u - v) for u, v in zip(e0, t0)):.2e}")
    if "bulk_vs_row_maxdiff" in sq:
        print(f"   bulk vs row-by-row embeddings: max |diff| {sq['bulk_vs_row_maxdiff']:.2e}")
    print(f"   {sq['query_tokens']}-token query: siamsql median {statistics.median(sq['query_ms']):.2f} ms, "
          f"p99 {pct(sq['query_ms'], 0.99):.2f} ms over {len(sq['query_ms'])} calls")
    print(f"   cold load (first siam_embed in a fresh connection): {1000 * sq['cold_s']:.0f} ms "
          f"({1000 * sq['cold_first_s']:.0f} ms in a fresh process)")
    wbytes = 4 * (VOCAB_SIZE * s["H"] + P * s["H"] + 2 * s["H"] + s["L"] * (4 * s["H"] ** 2 + 2 * s["H"] * s["I"]))
    # siamsql's activation arena (model/encoder.c): a chunk of 1024 tokens
    # times (6H + IM) floats, plus one S x (S + HD) attention scratch per
    # thread (at most 8), S = max_seq_length = 128 here.
    S, HD = 128, s["H"] // s["A"]
    abytes = 4 * (1024 * (6 * s["H"] + s["I"]) + min(threads, 8) * S * (S + HD))
    used = sq["rss_mb"] - sq["rss_before_mb"]
    allowed = 1.3 * wbytes / 2 ** 20 + abytes / 2 ** 20
    print(f"   peak RSS: siamsql process {sq['rss_mb']:.0f} MB, of which Python + SQLite + siamsql.so before any "
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
    ap.add_argument("--ids-file")
    ap.add_argument("--nk")
    ap.add_argument("--tmp")
    args = ap.parse_args()
    {"main": main, "import": child_import, "siamsql": child_siamsql, "torch": child_torch, "probe": child_probe,
     "gen": lambda a: [gen_model(s) for s in a.shapes.split(",")]}[args.mode](args)

#!/usr/bin/python3
"""Writes siamsql's test fixtures: small random Siamese-BERT models saved exactly as
HuggingFace / sentence-transformers save them, a set of awkward texts, and the PyTorch
(float64) reference token ids and embeddings for every (model, text).

Run from the repository root with Debian's Python (it has torch):
    /usr/bin/python3 tests/gen/gen_fixtures.py
Deterministic: fixed seeds, and the English corpus for the vocab comes from
/usr/share/common-licenses (stable texts on any Debian).

Texts are stored as hex of raw bytes; the reference decodes them with
bytes.decode("utf-8", errors="replace") (one U+FFFD per maximal invalid subpart), which
is what a Python caller handing the same bytes to sentence-transformers would see.
"""
import collections
import json
import os
import re
import shutil
import sys
import unicodedata

import torch

sys.dont_write_bytecode = True  # keep tests/gen free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference as ref  # noqa: E402

FIX = "tests/fixtures"
MODELS = os.path.join(FIX, "models")
REFS = os.path.join(FIX, "ref")
CORPUS_FILES = ["GPL-3", "Apache-2.0", "LGPL-3", "MPL-2.0", "GFDL-1.3", "Artistic", "CC0-1.0"]

# --------------------------------------------------------------------------------------
# Vocabulary
# --------------------------------------------------------------------------------------

ACCENTED = "àáâãäåæçèéêëìíîïñòóôõöøùúûüýÿßœ"
GREEK = "αβγδεζηθικλμνξοπρσςτυφχψω"
CYRILLIC = "абвгдежзийклмнопрстуфхцчшщыьэюя"
# 50 common CJK ideographs; includes 中文字符 and 六 (the NFC target of compatibility U+F9D1).
CJK = "中文字符测试这是一个句子世界人大小上下不了的我你他们国家日月年时分学生六七八九十百千万水火山木金土"
KANA = "こんにちはありがとうカタナ"
EMOJI = ["😀", "👍", "🎉", "❤", "🚀"]
# Unicode symbols (S*): BERT does not split these off, so "5€" needs "##€".
SYMBOLS = ["€", "£", "¥", "©", "®", "°", "±", "×", "÷", "→", "∞", "§", "¶"]
# Hangul syllables plus their NFD jamo: the uncased models strip accents via NFD, which turns
# syllables into conjoining jamo (category Lo, kept), so only the jamo pieces can match there.
HANGUL = "안녕하세요계"
UNICODE_PUNCT = ["«", "»", "“", "”", "‘", "’", "—", "–", "¿", "¡", "…", "·", "，", "。", "、", "！", "？"]
SUFFIXES = ["##ing", "##ed", "##s", "##es", "##tion", "##tions", "##ly", "##er", "##ers", "##ment",
            "##ness", "##able", "##ible", "##al", "##ize", "##ity", "##ive", "##ous", "##ful", "##less"]


def read_corpus():
    text = []
    for name in CORPUS_FILES:
        p = os.path.join("/usr/share/common-licenses", name)
        if os.path.exists(p):
            with open(p, encoding="utf-8", errors="replace") as f:
                text.append(f.read())
    if not text:  # fallback: this very file is English enough
        with open(__file__, encoding="utf-8") as f:
            text.append(f.read())
    return "\n".join(text)


def learn_pieces(words, n_words, n_prefix, n_suffix, n_inner):
    """Cheap WordPiece-like piece learning: frequent whole words, frequent word starts,
    frequent word endings ("##...") and frequent inner n-grams ("##...")."""
    freq = collections.Counter(words)
    whole = [w for w, _ in freq.most_common() if len(w) >= 2][:n_words]
    pre, suf, inner = collections.Counter(), collections.Counter(), collections.Counter()
    for w, c in freq.items():
        for n in range(2, 6):
            if len(w) > n + 1:
                pre[w[:n]] += c
                suf["##" + w[-n:]] += c
                for i in range(1, len(w) - n):
                    inner["##" + w[i:i + n]] += c
    pick = lambda ctr, k: [p for p, _ in ctr.most_common(k)]  # noqa: E731
    return whole + pick(pre, n_prefix) + pick(suf, n_suffix) + pick(inner, n_inner)


def build_vocab(corpus, cased):
    specials = ["[PAD]"] + [f"[unused{i}]" for i in range(10)] + ["[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    ascii_chars = [chr(c) for c in range(33, 127)]
    alnum = [chr(c) for c in range(48, 58)] + [chr(c) for c in range(97, 123)]
    letters = ACCENTED + GREEK + CYRILLIC
    if cased:
        alnum += [chr(c) for c in range(65, 91)]
        letters += "".join(ch.upper() for ch in ACCENTED + GREEK + CYRILLIC if len(ch.upper()) == 1
                           and ch.upper() != ch)
    jamo = "".join(unicodedata.normalize("NFD", HANGUL))
    singles = list(letters) + list(CJK) + list(KANA) + EMOJI + UNICODE_PUNCT + SYMBOLS + list(HANGUL + jamo)
    cont = (["##" + c for c in alnum] + ["##" + c for c in letters + CJK + KANA + HANGUL + jamo]
            + ["##" + e for e in EMOJI + SYMBOLS])
    words = re.findall(r"[A-Za-z]+", corpus)
    if not cased:
        words = [w.lower() for w in words]
    learned = learn_pieces(words, n_words=900, n_prefix=200, n_suffix=250, n_inner=250)
    extra = ["hello", "world", "password", "reset", "café", "naïve", "über", "истина", "мир", "λόγος",
             "中文", "こんにちは", "un", "##aff", "##able", "##believ", "##ab"]
    if cased:
        extra += ["Hello", "World", "The", "GNU", "THE", "Café", "İ"]
    out, seen = [], set()
    for t in specials + ascii_chars + singles + cont + SUFFIXES + learned + extra:
        if t not in seen:
            seen.add(t)
            out.append(t)
    # vocab.txt is one token per line: no token may be empty or contain whitespace / line breaks.
    assert all(t and not any(c.isspace() for c in t) for t in out)
    return out


# --------------------------------------------------------------------------------------
# Texts
# --------------------------------------------------------------------------------------

def make_texts(corpus):
    long_words = re.findall(r"\S+", corpus)[:420]
    T = [
        ("The quick brown fox jumps over the lazy dog.", "plain English"),
        ("How do I reset my password?", "plain question"),
        ("Password reset instructions", "paraphrase target"),
        ("This program is free software: you can redistribute it and/or modify it.", "license-ish English"),
        ("unaffable unbelievably redistributing relicensing", "subword-heavy words"),
        ("Mixed CASE WordPiece: Licensing, LICENSED, licensee's", "mixed case + apostrophe"),
        ("THE GNU GENERAL PUBLIC LICENSE IS A FREE, COPYLEFT LICENSE!", "all uppercase"),
        ("Café naïve Ångström façade résumé über", "precomposed accents (NFC)"),
        ("Cafe\u0301 nai\u0308ve A\u030angstro\u0308m", "decomposed accents (NFD input; BasicTokenizer NFCs it)"),
        ("中文字符测试，这是一个句子。", "CJK ideographs + fullwidth punctuation"),
        ("こんにちは世界 ありがとう カタカナ", "Japanese kana + kanji"),
        ("안녕하세요 세계", "Korean hangul (not CJK for BERT)"),
        ("I ❤ emoji 😀👍🎉 and 🚀rockets 👨\u200d👩\u200d👧 👍🏽", "emoji, ZWJ sequence, skin tone (Sk)"),
        ("Ελληνικά λόγος ΟΔΟΣ and Русский текст МИР", "Greek (uppercase final sigma) + Cyrillic"),
        ("مرحبا بالعالم", "Arabic (not in vocab)"),
        ("Wow!!!...??? «quoted» “smart quotes” — em dash ¿qué? ¡sí! …", "punctuation runs, Unicode P*"),
        ("$100 ^caret^ `backtick` ~tilde~ |pipe| a\\b {x} <tag> #1 @user 50% a&b *s* _u_ +p= \"dq\" 'sq'",
         "ASCII symbols: all split as punctuation"),
        ("5€ £3 ¥ © ® 10° ±1 2×3 ÷ → ∞ §4 ¶", "Unicode symbols S* (not split) vs P* (§ ¶ split)"),
        ("ctrl\x01chars\x7fhere\tand\ttabs\nnew\r\nlines\x0bvt\x0cff\x1cfs\x85nel", "control chars and C0/C1"),
        ("nul\x00inside text", "NUL byte inside (bound as BLOB)"),
        ("replacement \ufffd char and ab\ufffdcd", "U+FFFD is dropped, does not split"),
        (b"lone \xff byte and ab\xffcd", "invalid UTF-8: lone 0xFF"),
        (b"truncated \xe2\x82 then ASCII and euro\xe2\x82abc", "invalid UTF-8: truncated sequence"),
        (b"overlong \xc0\xaf slash and surrogate \xed\xa0\x80 end", "invalid UTF-8: overlong, surrogate"),
        (" \u0301 \u0308 x\u0301y a\u0301 o\u0308 \u0301alone \u20dd", "combining marks alone and after letters"),
        ("zero\u200bwidth space and joiner\u200dhere \ufeffbom \u2060wj soft\u00adhyphen",
         "Cf chars (ZWSP, ZWJ, BOM, WJ, SHY) are dropped"),
        ("private \ue000 use and unassigned \u0378 and \U0010ffff", "Co / Cn are 'control' too"),
        ("non\u00a0breaking\u3000ideographic\u2028line\u2029para\u2003em", "Zs -> space; U+2028/9 split by str.split"),
        ("compat ideograph \uf9d1 and fullwidth ＡＢＣ１２３", "CJK compat ideograph (NFC -> 六), fullwidth Latin"),
        ("İstanbul ŞEHİR ß ẞ ǅ", "special casing: İ lowercases to i + U+0307"),
        ("x " + "abcdefghij" * 10 + " y", "a 100-code-point word (still WordPiece'd)"),
        ("x " + "abcdefghij" * 10 + "k y", "a 101-code-point word -> [UNK]"),
        ("é" * 60 + " and " + "中" * 3, "60 two-byte chars: limit counts code points"),
        ("pneumonoultramicroscopicsilicovolcanoconiosis" * 3, "135-char word -> [UNK]"),
        ("", "empty string"),
        ("   \t\n  ", "whitespace only"),
        ("   leading and trailing whitespace   \n", "leading/trailing whitespace"),
        (" ".join(long_words), "several hundred words: truncation"),
        ("[MASK]", "literal special token"),
        ("The [SEP] token and [CLS] start", "literal specials in a sentence"),
        ("hello[MASK]world", "special token glued to words"),
        ("[mask] lowercase and [Mask] mixed", "special tokens are case-sensitive"),
        ("[UNK] unknown and [PAD] pad [unused0]", "more specials; [unused0] is not special"),
        ("x [MA\x01SK] y", "control char inside a special: split happens before cleaning"),
        ("numbers 3.14159 1,000,000 2024-01-01 and hyphen-ated e.g. don't", "digits and punctuation"),
    ]
    texts = [(t if isinstance(t, bytes) else t.encode("utf-8")) for t, _ in T]
    return texts, [n for _, n in T]


# --------------------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------------------

ACT = "torch.nn.modules.activation."
SPECS = [
    # HF-only dir: "bert." names + position_ids buffer + pooler; model_max_length < max_position_embeddings.
    dict(name="hf_uncased_prefixed", layout="hf", cased=False, H=64, L=2, A=4, I=128, P=128,
         model_max_length=48, act="gelu", dtype="f32", scale="bert", seed=1),
    # all-MiniLM-like: mean pooling + Normalize, f16.  (First st_* alphabetically: the "plain" one.)
    dict(name="st_a_mean_norm_f16", layout="st", cased=False, H=48, L=3, A=4, I=96, P=128, max_seq=64,
         act="gelu", dtype="f16", scale="bert", seed=2, pooling=["mean_tokens"], dense=[], normalize=True),
    # classic Keras Siamese: cls -> Dense(relu), no normalize; cased; large weights.
    dict(name="st_cls_relu_keras", layout="st", cased=True, H=32, L=2, A=2, I=64, P=128, max_seq=128,
         act="relu", dtype="f32", scale="large", seed=3, pooling=["cls_token"],
         dense=[(24, True, "ReLU")], normalize=False),
    # max pooling, two Dense (tanh, identity without bias), Normalize; bf16; seq 16; eps 1e-5.
    dict(name="st_max_trunc16_bf16", layout="st", cased=False, H=96, L=2, A=6, I=192, P=64, max_seq=16,
         act="gelu_new", dtype="bf16", scale="bert", seed=4, eps=1e-5, pooling=["max_tokens"],
         dense=[(48, True, "Tanh"), (32, False, "Identity")], normalize=True),
    # mean_sqrt_len, Dense(sigmoid, no bias); cased vocab, lowercase off but strip_accents on; head dim 10.
    dict(name="st_sqrtlen_stripaccents", layout="st", cased=True, strip_accents=True, H=40, L=4, A=4, I=80,
         P=128, max_seq=128, act="gelu", dtype="f32", scale="large", seed=5,
         pooling=["mean_sqrt_len_tokens"], dense=[(40, False, "Sigmoid")], normalize=False),
    # all four poolings -> Dense(GELU) -> Normalize; no CJK splitting; 6 layers; f16; large weights.
    dict(name="st_all4_nocjk_f16", layout="st", cased=False, chinese=False, H=32, L=6, A=4, I=64, P=128,
         max_seq=96, act="gelu_new", dtype="f16", scale="large", seed=6,
         pooling=["cls_token", "max_tokens", "mean_tokens", "mean_sqrt_len_tokens"],
         dense=[(64, True, "GELU")], normalize=True),
    # cased, mean, nothing else; older-ST pooling config (four keys only); huge model_max_length.
    dict(name="st_cased_mean_plain", layout="st", cased=True, H=64, L=2, A=8, I=256, P=160, max_seq=128,
         act="gelu", dtype="f32", scale="bert", seed=7, pooling=["mean_tokens"], dense=[], normalize=False,
         old_pooling_cfg=True, model_max_length=1000000000000000019884624838656),
]

TORCH_DTYPE = {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16}
TORCH_DTYPE_NAME = {"f32": "float32", "f16": "float16", "bf16": "bfloat16"}


class Init:
    """Random weights.  'bert': BERT init (std 0.02) with LayerNorm params perturbed so a
    swapped weight/bias shows.  'large': std ~0.3 so a wrong epsilon / GELU variant shows."""

    def __init__(self, scale, seed):
        self.g = torch.Generator().manual_seed(seed)
        big = scale == "large"
        self.std, self.bias_std = (0.3, 0.1) if big else (0.02, 0.02)
        self.ln_w_std, self.ln_b_std = (0.3, 0.2) if big else (0.1, 0.05)

    def normal(self, shape, std):
        return torch.randn(*shape, generator=self.g) * std

    def linear(self, d, prefix, out_f, in_f, std=None):
        d[prefix + ".weight"] = self.normal((out_f, in_f), std or self.std)
        d[prefix + ".bias"] = self.normal((out_f,), self.bias_std)

    def layer_norm(self, d, prefix, n):
        d[prefix + ".weight"] = 1.0 + self.normal((n,), self.ln_w_std)
        d[prefix + ".bias"] = self.normal((n,), self.ln_b_std)


def bert_weights(s, vocab_size):
    ini, H, I = Init(s["scale"], s["seed"]), s["H"], s["I"]
    w = {}
    w["embeddings.word_embeddings.weight"] = ini.normal((vocab_size, H), ini.std)
    w["embeddings.position_embeddings.weight"] = ini.normal((s["P"], H), ini.std)
    w["embeddings.token_type_embeddings.weight"] = ini.normal((2, H), ini.std)
    ini.layer_norm(w, "embeddings.LayerNorm", H)
    for i in range(s["L"]):
        p = f"encoder.layer.{i}."
        for n in ("query", "key", "value"):
            ini.linear(w, p + "attention.self." + n, H, H)
        ini.linear(w, p + "attention.output.dense", H, H)
        ini.layer_norm(w, p + "attention.output.LayerNorm", H)
        ini.linear(w, p + "intermediate.dense", I, H)
        ini.linear(w, p + "output.dense", H, I)
        ini.layer_norm(w, p + "output.LayerNorm", H)
    ini.linear(w, "pooler.dense", H, H)  # BertModel always has (and saves) its pooler
    return w, ini


def write_json(path, obj):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2, ensure_ascii=False)
        f.write("\n")


def write_transformer(d, s, vocab):
    """config.json, vocab.txt, tokenizer_config.json, special_tokens_map.json, model.safetensors."""
    cased = s["cased"]
    write_json(os.path.join(d, "config.json"), {
        "architectures": ["BertModel"], "attention_probs_dropout_prob": 0.1, "classifier_dropout": None,
        "hidden_act": s["act"], "hidden_dropout_prob": 0.1, "hidden_size": s["H"], "initializer_range": 0.02,
        "intermediate_size": s["I"], "layer_norm_eps": s.get("eps", 1e-12), "max_position_embeddings": s["P"],
        "model_type": "bert", "num_attention_heads": s["A"], "num_hidden_layers": s["L"], "pad_token_id": 0,
        "position_embedding_type": "absolute", "torch_dtype": TORCH_DTYPE_NAME[s["dtype"]],
        "transformers_version": "4.36.2", "type_vocab_size": 2, "use_cache": True, "vocab_size": len(vocab)})
    with open(os.path.join(d, "vocab.txt"), "w", encoding="utf-8") as f:
        f.write("".join(t + "\n" for t in vocab))
    write_json(os.path.join(d, "tokenizer_config.json"), {
        "clean_up_tokenization_spaces": True, "cls_token": "[CLS]", "do_basic_tokenize": True,
        "do_lower_case": not cased, "mask_token": "[MASK]",
        "model_max_length": s.get("model_max_length", 512), "never_split": None, "pad_token": "[PAD]",
        "sep_token": "[SEP]", "strip_accents": s.get("strip_accents"),
        "tokenize_chinese_chars": s.get("chinese", True), "tokenizer_class": "BertTokenizer",
        "unk_token": "[UNK]"})
    write_json(os.path.join(d, "special_tokens_map.json"), {
        "cls_token": "[CLS]", "mask_token": "[MASK]", "pad_token": "[PAD]", "sep_token": "[SEP]",
        "unk_token": "[UNK]"})
    w, ini = bert_weights(s, len(vocab))
    dt = TORCH_DTYPE[s["dtype"]]
    stored = {k: v.to(dt) for k, v in w.items()}
    if s["layout"] == "hf":
        # A BertFor*-style checkpoint: "bert." prefix and the (old, persistent) position_ids buffer.
        stored = {"bert." + k: v for k, v in stored.items()}
        stored["bert.embeddings.position_ids"] = torch.arange(s["P"], dtype=torch.int64)[None]
    ref.write_safetensors(os.path.join(d, "model.safetensors"), stored)
    return ini


def write_model(s, vocab):
    d = os.path.join(MODELS, s["name"])
    os.makedirs(d)
    ini = write_transformer(d, s, vocab)
    if s["layout"] == "hf":
        return d
    write_json(os.path.join(d, "sentence_bert_config.json"), {"max_seq_length": s["max_seq"], "do_lower_case": False})
    modules = [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
               {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}]
    os.makedirs(os.path.join(d, "1_Pooling"))
    modes = ["cls_token", "mean_tokens", "max_tokens", "mean_sqrt_len_tokens"]
    pcfg = {"word_embedding_dimension": s["H"]}
    pcfg.update({"pooling_mode_" + m: m in s["pooling"] for m in modes})
    if not s.get("old_pooling_cfg"):  # newer sentence-transformers writes these too
        pcfg.update({"pooling_mode_weightedmean_tokens": False, "pooling_mode_lasttoken": False,
                     "include_prompt": True})
    write_json(os.path.join(d, "1_Pooling", "config.json"), pcfg)
    in_f = s["H"] * len(s["pooling"])
    for out_f, bias, act in s["dense"]:
        idx = len(modules)
        path = f"{idx}_Dense"
        os.makedirs(os.path.join(d, path))
        full = ("torch.nn.modules.linear." if act == "Identity" else ACT) + act
        write_json(os.path.join(d, path, "config.json"),
                   {"in_features": in_f, "out_features": out_f, "bias": bias, "activation_function": full})
        t = {"linear.weight": ini.normal((out_f, in_f), in_f ** -0.5)}
        if bias:
            t["linear.bias"] = ini.normal((out_f,), 0.1)
        dt = TORCH_DTYPE[s["dtype"]]
        ref.write_safetensors(os.path.join(d, path, "model.safetensors"), {k: v.to(dt) for k, v in t.items()})
        modules.append({"idx": idx, "name": str(idx), "path": path, "type": "sentence_transformers.models.Dense"})
        in_f = out_f
    if s["normalize"]:
        idx = len(modules)
        os.makedirs(os.path.join(d, f"{idx}_Normalize"))
        modules.append({"idx": idx, "name": str(idx), "path": f"{idx}_Normalize",
                        "type": "sentence_transformers.models.Normalize"})
    write_json(os.path.join(d, "modules.json"), modules)
    return d


# --------------------------------------------------------------------------------------
# Reference outputs and self-checks
# --------------------------------------------------------------------------------------

def fmt(x):
    return float("%.9g" % x)


def write_ref(s, d, model, ids, emb):
    path = os.path.join(REFS, s["name"] + ".json")
    head = {"model": s["name"], "dir": d, "layout": model.layout, "dtype": s["dtype"],
            "max_seq_length": model.max_seq_length, "dim": emb.shape[1]}
    # Hand-assembled so every text sits on one line (diffable) while staying plain JSON.
    lines = [json.dumps(head)[:-1] + ","]
    lines.append(' "ids": [\n  ' + ",\n  ".join(json.dumps(x) for x in ids) + "],")
    lines.append(' "embeddings": [\n  ' + ",\n  ".join(json.dumps([fmt(v) for v in row]) for row in emb.tolist()) + "]}")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    json.load(open(path))  # must parse back


def check_unbatched(model, ids, emb):
    """The batched (padded + masked) run must equal running each sequence alone."""
    for i in (0, 9, 20, len(ids) - 4, len(ids) - 1):
        alone = model.embed_ids([ids[i]])[0]
        err = (alone - emb[i]).abs().max().item()
        assert err < 1e-10, (model.dir, i, err)


def float32_margin(d, ids, emb):
    """How close a float32 implementation gets (the C tests' tolerance: cos >= 0.99999 and
    max|diff| <= 2e-5 * max(1, max|ref|)).  Guards against ill-conditioned fixtures."""
    m32 = ref.SentenceModelRef(d, dtype=torch.float32)
    e32 = m32.embed_ids(ids).double()
    cos = torch.nn.functional.cosine_similarity(e32, emb, dim=1).min().item()
    rel = max(((e32[i] - emb[i]).abs().max() / max(1.0, emb[i].abs().max().item())).item()
              for i in range(len(ids)))
    return cos, rel


def main():
    torch.manual_seed(0)
    shutil.rmtree(MODELS, ignore_errors=True)
    shutil.rmtree(REFS, ignore_errors=True)
    os.makedirs(MODELS)
    os.makedirs(REFS)
    corpus = read_corpus()
    vocabs = {c: build_vocab(corpus, c) for c in (False, True)}
    texts, notes = make_texts(corpus)
    with open(os.path.join(FIX, "texts.json"), "w") as f:
        json.dump({"texts_hex": [t.hex() for t in texts], "notes": notes}, f, indent=1, ensure_ascii=False)
        f.write("\n")
    strs = [ref.decode_bytes(t) for t in texts]
    ok = True
    for s in SPECS:
        d = write_model(s, vocabs[s["cased"]])
        model = ref.SentenceModelRef(d)
        ids, emb = model.embed(strs)
        assert not torch.isnan(emb).any() and not torch.isinf(emb).any(), s["name"]
        check_unbatched(model, ids, emb)
        write_ref(s, d, model, ids, emb)
        cos, rel = float32_margin(d, ids, emb)
        good = cos >= 0.99999 and rel <= 2e-5
        ok &= good
        print(f"{s['name']:26s} vocab={len(vocabs[s['cased']])} dim={emb.shape[1]:3d} "
              f"maxlen={model.max_seq_length:3d} |emb|max={emb.abs().max().item():.3g} "
              f"f32: min cos={cos:.9f} max rel={rel:.2e} {'ok' if good else 'TOO SENSITIVE'}")
    if not ok:
        sys.exit("a fixture is too ill-conditioned for a float32 implementation")


if __name__ == "__main__":
    main()

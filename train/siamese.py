#!/usr/bin/python3
"""siamese.py — the model train.py trains, in PyTorch, and how it is saved.

A BERT encoder (post-LayerNorm, exact GELU, eps 1e-12) as HuggingFace's
BertModel computes it, mean (or CLS) pooling over real tokens, a Dense head
(tanh or relu) and L2 normalization: one tower of the Siamese pair, shared.
It is saved in the sentence-transformers layout (F16 safetensors) that
siam_import reads, with a file of reference embeddings for the C test.

Nothing here uses transformers / sentence-transformers / safetensors: the
model and the safetensors writer are written out.
"""
import json
import math
import os
import shutil
import struct

import torch
import torch.nn as nn
import torch.nn.functional as F

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

"""Independent PyTorch reference for siamsql: loads a HuggingFace / sentence-transformers
model directory from disk (as written by gen_fixtures.py) and embeds texts exactly the way
sentence-transformers + transformers 4.3x (slow BertTokenizer) would.

Nothing here imports transformers / sentence-transformers / safetensors: those are not
installed, and an independent re-implementation is the point.  Semantics follow
transformers' tokenization_bert.py + PreTrainedTokenizer.tokenize and
sentence-transformers' models/{Transformer,Pooling,Dense,Normalize}.py.
"""
import json
import math
import os
import struct
import unicodedata

import numpy as np
import torch

# --------------------------------------------------------------------------------------
# safetensors
# --------------------------------------------------------------------------------------

# dtype name -> (torch dtype, bytes per element)
ST_DTYPES = {
    "F32": (torch.float32, 4),
    "F16": (torch.float16, 2),
    "BF16": (torch.bfloat16, 2),
    "I64": (torch.int64, 8),
}


def tensor_bytes(t):
    """Raw little-endian bytes of a tensor (bf16 has no numpy dtype: go through int16)."""
    t = t.contiguous()
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().tobytes()
    return t.numpy().tobytes()


def write_safetensors(path, tensors):
    """tensors: dict name -> torch tensor (already in the dtype to store).

    Layout: u64 LE header length, JSON header padded with spaces to a multiple of 8
    (as the Rust safetensors writer does, so the data section is 8-byte aligned), data.
    """
    rev = {v[0]: k for k, v in ST_DTYPES.items()}
    header = {"__metadata__": {"format": "pt"}}
    blobs, offset = [], 0
    for name in sorted(tensors):
        t = tensors[name]
        b = tensor_bytes(t)
        header[name] = {"dtype": rev[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def read_safetensors(path):
    """Returns dict name -> torch tensor in its stored dtype."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    data = raw[8 + n:]
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dt, _ = ST_DTYPES[info["dtype"]]
        b, e = info["data_offsets"]
        buf = bytearray(data[b:e])
        if dt == torch.bfloat16:
            t = torch.frombuffer(buf, dtype=torch.int16).view(torch.bfloat16)
        else:
            t = torch.frombuffer(buf, dtype=dt)
        out[name] = t.reshape(info["shape"]).clone()
    return out


# --------------------------------------------------------------------------------------
# Tokenizer: HF BertTokenizer (slow) as driven by sentence-transformers
# --------------------------------------------------------------------------------------

# all_special_tokens of BertTokenizer, in HF's order.  They do not prefix one another,
# so "first alternative" (the lowercase regex) and "longest match" (the trie) agree.
SPECIAL_TOKENS = ["[UNK]", "[SEP]", "[PAD]", "[CLS]", "[MASK]"]


def load_vocab(path):
    """vocab.txt: one token per line, id = line number (HF strips the trailing newline only)."""
    vocab = {}
    with open(path, encoding="utf-8") as f:
        for i, line in enumerate(f):
            vocab[line.rstrip("\n")] = i
    return vocab


def is_whitespace(ch):
    # tokenization_bert._is_whitespace: \t \n \r and ' ' count, plus category Zs.
    return ch in " \t\n\r" or unicodedata.category(ch) == "Zs"


def is_control(ch):
    # tokenization_bert._is_control: any category C* (Cc, Cf, Cn, Co, Cs) except \t\n\r.
    if ch in "\t\n\r":
        return False
    return unicodedata.category(ch).startswith("C")


def is_punctuation(ch):
    # ASCII non-letter/digit printable ranges count even when Unicode says S* (e.g. $ ^ ` ~ | + < = >).
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def is_cjk(cp):
    # The exact ranges of tokenization_bert._is_chinese_char (kana / hangul are NOT included).
    return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF
            or 0x2A700 <= cp <= 0x2B73F or 0x2B740 <= cp <= 0x2B81F or 0x2B820 <= cp <= 0x2CEAF
            or 0xF900 <= cp <= 0xFAFF or 0x2F800 <= cp <= 0x2FA1F)


def strip_accents(text):
    return "".join(c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn")


def whitespace_split(text):
    # HF's whitespace_tokenize is text.strip().split(): Python's notion of whitespace, which
    # (after _clean_text) still includes U+2028 / U+2029 (categories Zl / Zp).
    return text.split()


class BertTokenizerRef:
    def __init__(self, vocab, do_lower_case=True, strip_accents=None, tokenize_chinese_chars=True,
                 max_seq_length=512):
        self.vocab = vocab
        self.do_lower_case = do_lower_case
        self.strip_accents = strip_accents  # None = follow do_lower_case (original BERT)
        self.tokenize_chinese_chars = tokenize_chinese_chars
        self.max_seq_length = max_seq_length

    # -- PreTrainedTokenizer.tokenize ------------------------------------------------
    def lowercase_outside_specials(self, text):
        """HF: re.sub(r"(SPECIALS)|(.+?)", keep special or lower(), text).

        `.+?` matches ONE character at a time, so str.lower() is applied per code point:
        no context-sensitive Final_Sigma ('ΟΔΟΣ' -> 'οδοσ', not 'οδος'), but full
        one-to-many mappings still apply ('İ' -> 'i' + U+0307).  Without re.DOTALL '.'
        does not match '\n', which is then left as is (lowercasing it is a no-op anyway).
        Special tokens are matched case-sensitively, so '[mask]' is not special.
        """
        out, i = [], 0
        while i < len(text):
            for s in SPECIAL_TOKENS:
                if text.startswith(s, i):
                    out.append(s)
                    i += len(s)
                    break
            else:
                out.append(text[i].lower())
                i += 1
        return "".join(out)

    def split_on_specials(self, text):
        """Trie.split: cut out literal special tokens (case-sensitive, leftmost-longest).

        HF may also strip whitespace next to a special token; that cannot change the result
        here because every remaining chunk is whitespace-split by BasicTokenizer anyway.
        """
        chunks, start, i = [], 0, 0
        while i < len(text):
            hit = max((s for s in SPECIAL_TOKENS if text.startswith(s, i)), key=len, default=None)
            if hit:
                if i > start:
                    chunks.append(text[start:i])
                chunks.append(hit)
                i += len(hit)
                start = i
            else:
                i += 1
        if start < len(text):
            chunks.append(text[start:])
        return chunks

    def tokenize(self, text):
        if self.do_lower_case:
            text = self.lowercase_outside_specials(text)
        tokens = []
        for chunk in self.split_on_specials(text):
            if chunk in SPECIAL_TOKENS:
                tokens.append(chunk)
            else:
                for word in self.basic_tokenize(chunk):
                    # BertTokenizer._tokenize checks basic_tokenizer.never_split, which is the
                    # tokenizer_config never_split (empty here), so a special token that only
                    # appears after _clean_text (e.g. "[MA\x01SK]") goes through WordPiece,
                    # where it still matches the vocab entry "[MASK]".
                    tokens.extend(self.wordpiece(word))
        return tokens

    # -- BasicTokenizer ---------------------------------------------------------------
    def clean_text(self, text):
        out = []
        for ch in text:
            if ord(ch) == 0 or ord(ch) == 0xFFFD or is_control(ch):
                continue
            out.append(" " if is_whitespace(ch) else ch)
        return "".join(out)

    def basic_tokenize(self, text):
        never_split = set(SPECIAL_TOKENS)  # _tokenize passes all_special_tokens
        text = self.clean_text(text)
        if self.tokenize_chinese_chars:
            text = "".join(f" {c} " if is_cjk(ord(c)) else c for c in text)
        # transformers >= 4.2x: NFC before splitting (so "e\u0301" == "é"; CJK compatibility
        # ideographs become their unified twins).
        text = unicodedata.normalize("NFC", text)
        pieces = []
        for tok in whitespace_split(text):
            if tok not in never_split:
                if self.do_lower_case:
                    tok = tok.lower()
                    if self.strip_accents is not False:
                        tok = strip_accents(tok)
                elif self.strip_accents:
                    tok = strip_accents(tok)
            pieces.extend(self.split_on_punc(tok, never_split))
        return whitespace_split(" ".join(pieces))

    @staticmethod
    def split_on_punc(tok, never_split):
        if tok in never_split:
            return [tok]
        out, new_word = [], True
        for ch in tok:
            if is_punctuation(ch):
                out.append(ch)
                new_word = True
            else:
                if new_word:
                    out.append("")
                new_word = False
                out[-1] += ch
        return out

    # -- WordpieceTokenizer -----------------------------------------------------------
    def wordpiece(self, word, max_chars=100):
        out = []
        for tok in whitespace_split(word):
            if len(tok) > max_chars:  # code points, not bytes
                out.append("[UNK]")
                continue
            sub, start = [], 0
            while start < len(tok):
                end = len(tok)
                while end > start:
                    piece = tok[start:end] if start == 0 else "##" + tok[start:end]
                    if piece in self.vocab:
                        break
                    end -= 1
                if end == start:  # no piece fits: the whole word is unknown
                    sub = ["[UNK]"]
                    break
                sub.append(piece)
                start = end
            out.extend(sub)
        return out

    # -- sentence-transformers Transformer.tokenize + tokenizer(__call__) --------------
    def encode(self, text):
        """text: str -> ids with [CLS]/[SEP], truncated to max_seq_length (longest_first)."""
        toks = self.tokenize(str(text).strip())  # ST strips (Python whitespace) first
        toks = toks[: self.max_seq_length - 2]
        unk = self.vocab["[UNK]"]
        return [self.vocab["[CLS]"]] + [self.vocab.get(t, unk) for t in toks] + [self.vocab["[SEP]"]]


def decode_bytes(b):
    """How a byte string reaches the model: UTF-8 with errors='replace', i.e. one U+FFFD per
    maximal invalid subpart (Unicode 'substitution of maximal subparts'); lone surrogates
    encoded as \\xed\\xa0\\x80 give three U+FFFD.  _clean_text then drops every U+FFFD."""
    return b.decode("utf-8", errors="replace")


# --------------------------------------------------------------------------------------
# Model loading (the way sentence-transformers resolves a directory)
# --------------------------------------------------------------------------------------

def read_json(path, default=None):
    if not os.path.exists(path):
        return default
    with open(path, encoding="utf-8") as f:
        return json.load(f)


ACTIVATIONS = {
    "torch.nn.modules.activation.Tanh": torch.tanh,
    "torch.nn.modules.activation.ReLU": torch.relu,
    "torch.nn.modules.activation.Sigmoid": torch.sigmoid,
    "torch.nn.modules.activation.GELU": lambda x: 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0))),
    "torch.nn.modules.linear.Identity": lambda x: x,
}


def hidden_act(name):
    if name == "gelu":  # exact, erf-based
        return ACTIVATIONS["torch.nn.modules.activation.GELU"]
    if name == "gelu_new":  # tanh approximation (GPT-2 / "gelu_new")
        c = math.sqrt(2.0 / math.pi)
        return lambda x: 0.5 * x * (1.0 + torch.tanh(c * (x + 0.044715 * x ** 3)))
    if name == "relu":
        return torch.relu
    raise ValueError(name)


class SentenceModelRef:
    """Transformer -> Pooling -> Dense* -> Normalize?, computed in `dtype` (float64 default)."""

    def __init__(self, model_dir, dtype=torch.float64):
        self.dir = model_dir
        self.dtype = dtype
        modules = read_json(os.path.join(model_dir, "modules.json"))
        if modules is None:
            # A plain HF directory: sentence-transformers builds Transformer + mean Pooling.
            self.layout = "hf"
            modules = [{"type": "sentence_transformers.models.Transformer", "path": ""},
                       {"type": "sentence_transformers.models.Pooling", "path": None}]
        else:
            self.layout = "st"
        self.dense, self.normalize, self.pooling = [], False, None
        for m in modules:
            kind = m["type"].rsplit(".", 1)[-1]
            path = os.path.join(model_dir, m["path"]) if m["path"] is not None else None
            if kind == "Transformer":
                self.load_transformer(path)
            elif kind == "Pooling":
                cfg = read_json(os.path.join(path, "config.json")) if path else {"pooling_mode_mean_tokens": True}
                self.pooling = [k for k in ("cls_token", "max_tokens", "mean_tokens", "mean_sqrt_len_tokens")
                                if cfg.get("pooling_mode_" + k)]
                for k in ("weightedmean_tokens", "lasttoken"):
                    assert not cfg.get("pooling_mode_" + k), "not modelled"
            elif kind == "Dense":
                cfg = read_json(os.path.join(path, "config.json"))
                w = read_safetensors(os.path.join(path, "model.safetensors"))
                b = w.get("linear.bias") if cfg.get("bias", True) else None
                self.dense.append((self.cast(w["linear.weight"]), None if b is None else self.cast(b),
                                   ACTIVATIONS[cfg["activation_function"]]))
            elif kind == "Normalize":
                self.normalize = True
            else:
                raise ValueError(m["type"])

    def cast(self, t):
        return t.to(self.dtype)

    def load_transformer(self, path):
        cfg = read_json(os.path.join(path, "config.json"))
        tok_cfg = read_json(os.path.join(path, "tokenizer_config.json"), {})
        sbert = read_json(os.path.join(path, "sentence_bert_config.json"))
        if sbert and sbert.get("max_seq_length"):
            max_len = sbert["max_seq_length"]
        else:  # Transformer(): min(config.max_position_embeddings, tokenizer.model_max_length)
            max_len = min(cfg["max_position_embeddings"], tok_cfg.get("model_max_length", 10 ** 30))
        self.max_seq_length = max_len
        self.cfg = cfg
        self.tokenizer = BertTokenizerRef(
            load_vocab(os.path.join(path, "vocab.txt")),
            do_lower_case=tok_cfg.get("do_lower_case", True),
            strip_accents=tok_cfg.get("strip_accents"),
            tokenize_chinese_chars=tok_cfg.get("tokenize_chinese_chars", True),
            max_seq_length=max_len)
        w = read_safetensors(os.path.join(path, "model.safetensors"))
        # BertForX checkpoints carry a "bert." prefix; a saved BertModel does not.
        w = {k[5:] if k.startswith("bert.") else k: v for k, v in w.items()}
        self.stored_dtype = {t.dtype for k, t in w.items() if t.is_floating_point()}
        self.w = {k: self.cast(v) for k, v in w.items() if v.is_floating_point()}
        self.eps = cfg.get("layer_norm_eps", 1e-12)
        self.act = hidden_act(cfg.get("hidden_act", "gelu"))

    # -- BERT encoder -----------------------------------------------------------------
    def layer_norm(self, x, prefix):
        mu = x.mean(-1, keepdim=True)
        var = ((x - mu) ** 2).mean(-1, keepdim=True)  # biased variance, as torch LayerNorm
        return (x - mu) / torch.sqrt(var + self.eps) * self.w[prefix + ".weight"] + self.w[prefix + ".bias"]

    def linear(self, x, prefix):
        return x @ self.w[prefix + ".weight"].T + self.w[prefix + ".bias"]

    def encoder(self, ids, mask):
        """ids, mask: (B, L) int64 -> last hidden state (B, L, H)."""
        w, H = self.w, self.cfg["hidden_size"]
        A = self.cfg["num_attention_heads"]
        d = H // A
        B, L = ids.shape
        x = (w["embeddings.word_embeddings.weight"][ids]
             + w["embeddings.position_embeddings.weight"][:L][None]
             + w["embeddings.token_type_embeddings.weight"][0])  # token_type_ids are all 0
        x = self.layer_norm(x, "embeddings.LayerNorm")
        # HF: extended mask (1 - mask) * finfo(dtype).min added to the scores.
        bias = (1.0 - mask.to(self.dtype))[:, None, None, :] * torch.finfo(self.dtype).min
        for i in range(self.cfg["num_hidden_layers"]):
            p = f"encoder.layer.{i}."

            def heads(t):
                return t.view(B, L, A, d).transpose(1, 2)

            q = heads(self.linear(x, p + "attention.self.query"))
            k = heads(self.linear(x, p + "attention.self.key"))
            v = heads(self.linear(x, p + "attention.self.value"))
            scores = q @ k.transpose(-1, -2) / math.sqrt(d) + bias
            ctx = (torch.softmax(scores, dim=-1) @ v).transpose(1, 2).reshape(B, L, H)
            x = self.layer_norm(self.linear(ctx, p + "attention.output.dense") + x, p + "attention.output.LayerNorm")
            h = self.act(self.linear(x, p + "intermediate.dense"))
            x = self.layer_norm(self.linear(h, p + "output.dense") + x, p + "output.LayerNorm")
        return x

    # -- Pooling / Dense / Normalize ----------------------------------------------------
    def pool(self, tok, mask):
        m = mask.to(self.dtype).unsqueeze(-1).expand(tok.shape)
        out = []
        for mode in self.pooling:  # ST's concatenation order: cls, max, mean, mean_sqrt_len
            if mode == "cls_token":
                out.append(tok[:, 0])
            elif mode == "max_tokens":
                t = tok.clone()
                t[m == 0] = -1e9
                out.append(t.max(dim=1).values)
            else:
                s = (tok * m).sum(1)
                n = m.sum(1).clamp(min=1e-9)
                out.append(s / n if mode == "mean_tokens" else s / torch.sqrt(n))
        return torch.cat(out, dim=1)

    def head(self, x):
        for wt, b, act in self.dense:
            x = x @ wt.T
            if b is not None:
                x = x + b
            x = act(x)
        if self.normalize:  # F.normalize(p=2, dim=1, eps=1e-12)
            x = x / x.norm(dim=1, keepdim=True).clamp(min=1e-12)
        return x

    def embed_ids(self, id_lists):
        """Batched like sentence-transformers: right-padded with [PAD]=0 plus attention mask."""
        L = max(len(s) for s in id_lists)
        ids = torch.zeros(len(id_lists), L, dtype=torch.int64)
        mask = torch.zeros(len(id_lists), L, dtype=torch.int64)
        for i, s in enumerate(id_lists):
            ids[i, :len(s)] = torch.tensor(s)
            mask[i, :len(s)] = 1
        with torch.no_grad():
            return self.head(self.pool(self.encoder(ids, mask), mask))

    def embed(self, texts):
        ids = [self.tokenizer.encode(t) for t in texts]
        return ids, self.embed_ids(ids)


def write_mode_refs(refs_dir, out_dir, model_class, mode):
    """For a compute mode's reference encoder (model_class, a SentenceModelRef with its own
    linear()): writes out_dir/<name>.json, {"model", "dim", "embeddings"}, for the ids of
    every refs_dir/<name>.json, and prints how far the mode lands from the float64
    embeddings."""
    os.makedirs(out_dir, exist_ok=True)
    for name in sorted(os.listdir(refs_dir)):
        r = json.load(open(os.path.join(refs_dir, name)))
        emb = model_class(r["dir"]).embed_ids(r["ids"])
        f64 = torch.tensor(r["embeddings"], dtype=torch.float64)
        cos = torch.nn.functional.cosine_similarity(emb, f64, dim=1)
        head = {"model": r["model"], "dim": emb.shape[1]}
        lines = [json.dumps(head)[:-1] + ","]
        lines.append(' "embeddings": [\n  ' + ",\n  ".join(
            json.dumps([float("%.9g" % v) for v in row]) for row in emb.tolist()) + "]}")
        with open(os.path.join(out_dir, name), "w") as f:
            f.write("\n".join(lines) + "\n")
        rel = ((emb - f64).abs().max(dim=1).values / f64.abs().max(dim=1).values.clamp(min=1)).max().item()
        print(f"{r['model']:26s} {mode} vs float: 1 - cos max {(1 - cos).max().item():.2e} "
              f"mean {(1 - cos).mean().item():.2e}, max |diff| / max(1, |emb|) {rel:.2e}")

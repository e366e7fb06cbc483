"""wordpiece.py — the tokenizer and vocabulary builder for siamsql's default model.

BertTokenizer is HuggingFace's slow BERT tokenizer (transformers 4.3x) as
sentence-transformers drives it, re-implemented here because neither package is
available.  siamsql's C tokenizer (model/tokenizer.c) tokenizes from the saved vocab.txt
and tokenizer_config.json with the same rules, so the ids this file produces are the
ids siamsql produces:

  encode(text)
    strip surrounding whitespace (Python str.strip, as sentence-transformers does)
    lowercase code point by code point, literal special tokens ([CLS], [MASK], ...)
        excepted (HF's re.sub(r"(specials)|(.+?)") in PreTrainedTokenizer.tokenize)
    cut out literal special tokens (case-sensitive, leftmost-longest); they stay whole
    BasicTokenizer on each other chunk:
      clean: drop U+0000, U+FFFD and controls (category C*, except \\t \\n \\r);
             whitespace (\\t \\n \\r ' ' and Zs) -> ' '
      CJK ideographs (BERT's _is_chinese_char ranges) padded with spaces
      NFC normalize
      split on whitespace (Python str.split); per word: lower(), NFD, drop Mn
      split on punctuation: ASCII 33-47, 58-64, 91-96, 123-126, and Unicode P*
    WordPiece per word: > 100 code points -> [UNK]; otherwise greedy longest match from
      the left, continuations prefixed "##"; if any position has no match the whole
      word is [UNK]
    truncate to max_seq_length - 2, then [CLS] ... [SEP]

learn_vocab() builds a WordPiece vocabulary the way HF tokenizers' WordPieceTrainer does
(BPE merges over "##"-prefixed continuation symbols), from words pre-tokenized by the
BasicTokenizer above.
"""
import heapq
import unicodedata

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def is_whitespace(ch):
    return ch in " \t\n\r" or unicodedata.category(ch) == "Zs"


def is_control(ch):
    if ch in "\t\n\r":
        return False
    return unicodedata.category(ch).startswith("C")


def is_punctuation(ch):
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def is_cjk(cp):
    return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF
            or 0x2A700 <= cp <= 0x2B73F or 0x2B740 <= cp <= 0x2B81F or 0x2B820 <= cp <= 0x2CEAF
            or 0xF900 <= cp <= 0xFAFF or 0x2F800 <= cp <= 0x2FA1F)


def strip_accents(text):
    return "".join(c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn")


def clean_text(text):
    out = []
    for ch in text:
        if ord(ch) == 0 or ord(ch) == 0xFFFD or is_control(ch):
            continue
        out.append(" " if is_whitespace(ch) else ch)
    return "".join(out)


def split_on_punc(word):
    out, new_word = [], True
    for ch in word:
        if is_punctuation(ch):
            out.append(ch)
            new_word = True
        else:
            if new_word:
                out.append("")
            new_word = False
            out[-1] += ch
    return out


def basic_tokenize(text, specials=SPECIALS):
    """BasicTokenizer.tokenize with do_lower_case=True, strip_accents=None,
    tokenize_chinese_chars=True, never_split = the special tokens."""
    text = clean_text(text)
    text = "".join(" %s " % c if is_cjk(ord(c)) else c for c in text)
    text = unicodedata.normalize("NFC", text)
    pieces = []
    for tok in text.split():
        if tok in specials:
            pieces.append(tok)
            continue
        pieces.extend(split_on_punc(strip_accents(tok.lower())))
    return " ".join(pieces).split()


def lower_outside_specials(text, specials=SPECIALS):
    if "[" not in text:
        return "".join(c.lower() for c in text)
    out, i = [], 0
    while i < len(text):
        for s in specials:
            if text.startswith(s, i):
                out.append(s)
                i += len(s)
                break
        else:
            out.append(text[i].lower())
            i += 1
    return "".join(out)


def split_specials(text, specials=SPECIALS):
    if "[" not in text:
        return [text]
    chunks, start, i = [], 0, 0
    while i < len(text):
        hit = max((s for s in specials if text.startswith(s, i)), key=len, default=None)
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


def words_of(text):
    """The words WordPiece sees for one text (specials kept whole)."""
    text = lower_outside_specials(text.strip())
    words = []
    for chunk in split_specials(text):
        if chunk in SPECIALS:
            words.append(chunk)
        else:
            words.extend(basic_tokenize(chunk))
    return words


class BertTokenizer:
    def __init__(self, vocab_list, max_seq_length=128):
        self.vocab_list = list(vocab_list)
        self.vocab = {t: i for i, t in enumerate(self.vocab_list)}
        if len(self.vocab) != len(self.vocab_list):
            raise ValueError("duplicate token in vocab")
        self.max_seq_length = max_seq_length
        self.unk, self.cls, self.sep = self.vocab["[UNK]"], self.vocab["[CLS]"], self.vocab["[SEP]"]
        self.cache = {}

    def wordpiece(self, word):
        """One pre-tokenized word -> ids (cached)."""
        ids = self.cache.get(word)
        if ids is not None:
            return ids
        if word in self.vocab:
            ids = [self.vocab[word]]
        elif len(word) > 100:
            ids = [self.unk]
        else:
            ids, start = [], 0
            while start < len(word):
                end = len(word)
                while end > start:
                    piece = word[start:end] if start == 0 else "##" + word[start:end]
                    if piece in self.vocab:
                        break
                    end -= 1
                if end == start:
                    ids = [self.unk]
                    break
                ids.append(self.vocab[piece])
                start = end
        if len(self.cache) < 2000000:
            self.cache[word] = ids
        return ids

    def encode(self, text, max_len=None):
        """text -> [CLS] ids [SEP], at most max_len (default max_seq_length) ids."""
        max_len = max_len or self.max_seq_length
        ids = []
        for w in words_of(text):
            ids.extend(self.wordpiece(w))
            if len(ids) >= max_len - 2:
                break
        return [self.cls] + ids[:max_len - 2] + [self.sep]

    def tokens(self, text):
        return [self.vocab_list[i] for i in self.encode(text)]


def learn_vocab(word_counts, vocab_size, min_char_count=20, min_word_count=2, log=None):
    """WordPiece vocab by BPE merges.

    word_counts: {word: count} of BasicTokenizer words.  Alphabet: every printable
    character seen >= min_char_count times (plus all printable ASCII), each as a
    word-initial symbol and as a "##" continuation.  Then merges of the most frequent
    adjacent symbol pair (counted over words seen >= min_word_count times) until
    vocab_size tokens.  Returns the token list, specials first.
    """
    char_counts = {}
    for w, c in word_counts.items():
        for ch in w:
            char_counts[ch] = char_counts.get(ch, 0) + c
    alphabet = {chr(c) for c in range(33, 127)}
    alphabet |= {ch for ch, c in char_counts.items() if c >= min_char_count
                 and ch.isprintable() and not ch.isspace()}
    alphabet = sorted(alphabet)
    vocab = list(SPECIALS) + alphabet + ["##" + ch for ch in alphabet]
    have = set(vocab)

    words, counts = [], []
    for w, c in sorted(word_counts.items()):
        if c >= min_word_count and len(w) > 1 and len(w) <= 40 and all(ch in have for ch in w):
            words.append([w[0]] + ["##" + ch for ch in w[1:]])
            counts.append(c)

    pair_count, pair_where = {}, {}

    def add_pairs(i, sign):
        syms, c = words[i], counts[i]
        for a, b in zip(syms, syms[1:]):
            p = (a, b)
            pair_count[p] = pair_count.get(p, 0) + sign * c
            if sign > 0:
                pair_where.setdefault(p, set()).add(i)

    for i in range(len(words)):
        add_pairs(i, 1)
    heap = [(-c, p) for p, c in pair_count.items()]
    heapq.heapify(heap)

    while len(vocab) < vocab_size and heap:
        negc, p = heapq.heappop(heap)
        if pair_count.get(p, 0) != -negc or negc == 0:
            continue                      # stale entry
        a, b = p
        new = a + b[2:]
        if new not in have:
            vocab.append(new)
            have.add(new)
        touched = set()
        for i in list(pair_where.get(p, ())):
            syms = words[i]
            if not any(x == a and y == b for x, y in zip(syms, syms[1:])):
                continue
            add_pairs(i, -1)
            touched.update(zip(syms, syms[1:]))   # counts went down: re-queue them
            out, j = [], 0
            while j < len(syms):
                if j + 1 < len(syms) and syms[j] == a and syms[j + 1] == b:
                    out.append(new)
                    j += 2
                else:
                    out.append(syms[j])
                    j += 1
            words[i] = out
            add_pairs(i, 1)
            touched.update(zip(out, out[1:]))
        pair_count.pop(p, None)
        for q in touched:
            c = pair_count.get(q, 0)
            if c > 0:
                heapq.heappush(heap, (-c, q))
        if log and len(vocab) % 2000 == 0:
            log("vocab %d tokens (last merge %r, count %d)" % (len(vocab), new, -negc))
    return vocab

/*
** tokenizer.c — BERT BasicTokenizer + WordPiece, id-for-id identical to
** HuggingFace's slow BertTokenizer (transformers 4.3x) as sentence-transformers
** calls it: tokenizer(text.strip(), truncation=True, max_length=max_seq_length).
**
**   SiamTokenizer *t = siam_tokenizer_new(&cfg.tokenizer, vocab, n, err);
**   int n = siam_tokenize(t, "Hello, world!", 13, ids);
**       -> [CLS] hello , world ! [SEP]
**
** How it works, stage by stage, and the Python each stage mirrors:
**
**   1. decode    bytes.decode("utf-8", errors="replace"): one U+FFFD per
**                maximal invalid subpart.  NUL and U+FFFD stay in the text
**                until step 4 (they matter to special-token matching).
**   2. lowercase PreTrainedTokenizer.tokenize: re.sub("(SPECIALS)|(.+?)")
**                lowercases one code point at a time (so no Final_Sigma, but
**                U+0130 -> "i\u0307"), leaving literal special tokens alone.
**                The alternation tries the specials in all_special_tokens
**                order at each position.
**   3. split     Trie.split: literal special tokens, leftmost-longest, become
**                tokens of their own; the text between them is a "chunk".
**   4. per chunk BasicTokenizer.tokenize: _clean_text (drop NUL, U+FFFD, C*
**                but \t\n\r; whitespace -> ' '), CJK ideographs padded with
**                spaces, NFC, str.split(), then per word: a word that equals
**                a special token is kept as is; otherwise lowercase again,
**                strip accents (NFD, drop Mn), split off punctuation.
**   5. WordPiece greedy longest-match-first, "##" continuations, [UNK] for
**                a word over 100 code points or one with no match.
**   6. output    [CLS] + the first max_seq_length-2 pieces + [SEP].
**
** sentence-transformers' text.strip() is not done: every character it strips
** is either dropped by _clean_text or splits words, so it cannot change ids.
**
** Cost is linear in the input, and the whole pipeline streams: steps 1-2 run
** BLOCK code points ahead of step 3, step 4 goes word by word, and all of it
** stops as soon as max_seq_length-2 pieces exist (the rest would be truncated
** away), so a long document costs only the prefix that is used.  A word
** longer than SEGMENT code points is itself streamed: it is normalized in
** segments cut just before a code point that no normalization step can join
** to what precedes it (see segment_break), and WordPiece keeps only the
** current punctuation-free piece, at most 101 code points (longer is
** [UNK]).  So memory is O(BLOCK + SEGMENT) whatever the input, except for a
** run of more than SEGMENT code points with no such break in it (a starter
** followed by that many combining marks, or a long word in a script whose
** letters can compose backward, such as Hangul jamo or some Indic vowel
** signs), which costs about 16 bytes per code point of the run.  Long work
** polls siam_stop_requested() once per BLOCK of input.  Canonical reordering uses a counting sort on long
** runs of combining marks, where utf8proc's and CPython's insertion sorts
** would be quadratic.  WordPiece tries only substrings no longer than the
** longest vocab token, so a word costs O(100 * longest token).
**
** Unicode data (categories, case, decomposition, composition) is utf8proc's;
** the only tables here are BERT's own CJK ranges and ASCII punctuation.
*/
#include "tokenizer.h"

#include <string.h>
#include <utf8proc.h>

#define WORD_MAX_CHARS 100      /* WordpieceTokenizer.max_input_chars_per_word */
#define N_SPECIAL_MAX (5 + SIAM_MAX_SPECIAL)
#define SORT_SMALL 16           /* runs this short use insertion sort */

/* A special token kept whole when it appears literally in the text. */
typedef struct {
  char name[SIAM_MAX_NAME];     /* UTF-8, NUL-terminated */
  size_t nbytes;                /* strlen(name) */
  int32_t cp[SIAM_MAX_NAME];    /* its code points */
  int ncp;                      /* code point count */
  int id;                       /* vocab id; unk's id if not in the vocab */
} Special;

struct SiamTokenizer {
  SiamTokenizerConfig cfg;      /* copy of the options */
  int n_vocab;                  /* ids are 0..n_vocab-1 */
  char *arena;                  /* every token, NUL-terminated, back to back */
  size_t *off;                  /* off[id]: start of token id in arena (n_vocab) */
  uint32_t *len;                /* len[id]: its length in bytes (n_vocab) */
  int32_t *slots;               /* open-addressing table of ids, -1 = empty */
  size_t slot_mask;             /* table size - 1 (a power of two) */
  size_t max_bytes;             /* longest vocab token, bytes */
  int unk_id, cls_id, sep_id;   /* vocab ids of the required specials */
  int n_special;                /* specials in all_special_tokens order */
  int max_special;              /* code points in the longest one (>= 1) */
  Special special[N_SPECIAL_MAX];
};

/* ------------------------------------------------------------------------ */
/* Vocab hash table                                                          */

/* FNV-1a, continued over a second part so "##" + piece needs no copy. */
static uint64_t fnv1a(uint64_t h, const char *p, size_t n) {
  for (size_t i = 0; i < n; i++) {
    h ^= (unsigned char)p[i];
    h *= 0x100000001b3ULL;
  }
  return h;
}
#define FNV_SEED 0xcbf29ce484222325ULL

/* Id of the token pre[0..npre) + s[0..n), or -1. */
static int vocab_find(const SiamTokenizer *t, const char *pre, size_t npre, const char *s, size_t n) {
  size_t i = (size_t)fnv1a(fnv1a(FNV_SEED, pre, npre), s, n) & t->slot_mask;
  for (;;) {
    int32_t id = t->slots[i];
    if (id < 0) return -1;
    const char *tok = t->arena + t->off[id];
    if (t->len[id] == npre + n && memcmp(tok, pre, npre) == 0 && memcmp(tok + npre, s, n) == 0) return id;
    i = (i + 1) & t->slot_mask;
  }
}

/* Inserts id; returns the id already holding the same token, or -1. */
static int vocab_insert(SiamTokenizer *t, int id) {
  const char *tok = t->arena + t->off[id];
  size_t i = (size_t)fnv1a(FNV_SEED, tok, t->len[id]) & t->slot_mask;
  for (;;) {
    int32_t other = t->slots[i];
    if (other < 0) {
      t->slots[i] = id;
      return -1;
    }
    if (t->len[other] == t->len[id] && memcmp(t->arena + t->off[other], tok, t->len[id]) == 0) return other;
    i = (i + 1) & t->slot_mask;
  }
}

int siam_tokenizer_id(const SiamTokenizer *tok, const char *token, size_t len) {
  if (!tok || !token) return -1;
  return vocab_find(tok, "", 0, token, len);
}

/* ------------------------------------------------------------------------ */
/* UTF-8 decoding with Python's errors="replace"                            */

/* Decodes the code point at s[*i] (i < n) and advances *i.  An invalid
** sequence yields U+FFFD and consumes its maximal subpart: the longest prefix
** that could still start a valid sequence (at least one byte). */
static int32_t utf8_next(const unsigned char *s, size_t n, size_t *i) {
  size_t p = *i;
  unsigned c = s[p];
  if (c < 0x80) {
    *i = p + 1;
    return (int32_t)c;
  }
  int need;                     /* continuation bytes */
  unsigned lo = 0x80, hi = 0xBF;  /* allowed range of the first continuation */
  int32_t cp;
  if (c >= 0xC2 && c <= 0xDF) {
    need = 1;
    cp = c & 0x1F;
  } else if (c >= 0xE0 && c <= 0xEF) {
    need = 2;
    cp = c & 0x0F;
    if (c == 0xE0) lo = 0xA0;   /* overlong */
    if (c == 0xED) hi = 0x9F;   /* surrogates */
  } else if (c >= 0xF0 && c <= 0xF4) {
    need = 3;
    cp = c & 0x07;
    if (c == 0xF0) lo = 0x90;   /* overlong */
    if (c == 0xF4) hi = 0x8F;   /* above U+10FFFF */
  } else {
    *i = p + 1;                 /* 80..C1, F5..FF never start a sequence */
    return 0xFFFD;
  }
  p++;
  for (int k = 0; k < need; k++, p++) {
    if (p >= n || s[p] < lo || s[p] > hi) {
      *i = p;                   /* the valid prefix is one replaced subpart */
      return 0xFFFD;
    }
    cp = (cp << 6) | (s[p] & 0x3F);
    lo = 0x80;
    hi = 0xBF;
  }
  *i = p;
  return cp;
}

/* Decodes a NUL-terminated special-token name; -1 if it is not valid UTF-8
** or holds U+FFFD (it is matched against raw bytes, see prepare_step). */
static int decode_name(Special *sp) {
  const unsigned char *s = (const unsigned char *)sp->name;
  size_t i = 0;
  sp->ncp = 0;
  while (i < sp->nbytes) {
    int32_t c = utf8_next(s, sp->nbytes, &i);
    if (c == 0xFFFD) return -1;
    sp->cp[sp->ncp++] = c;
  }
  return 0;
}

/* ------------------------------------------------------------------------ */
/* Character classes                                                         */

static int is_cat_c(int32_t c) {
  utf8proc_category_t k = utf8proc_category(c);
  return k == UTF8PROC_CATEGORY_CN || k == UTF8PROC_CATEGORY_CC || k == UTF8PROC_CATEGORY_CF ||
         k == UTF8PROC_CATEGORY_CS || k == UTF8PROC_CATEGORY_CO;
}

/* _clean_text drops these: NUL, U+FFFD and _is_control (C* but \t\n\r). */
static int is_dropped(int32_t c) {
  if (c == 0 || c == 0xFFFD) return 1;
  if (c == '\t' || c == '\n' || c == '\r') return 0;
  return is_cat_c(c);
}

/* Word separators once cleaned: BERT's _is_whitespace (' ', \t, \n, \r, Zs)
** plus whatever else Python's str.split() splits on (Zs or bidi class
** B/S/WS), which after cleaning adds U+2028 and U+2029. */
static int is_space(int32_t c) {
  if (c == ' ' || c == '\t' || c == '\n' || c == '\r') return 1;
  if (utf8proc_category(c) == UTF8PROC_CATEGORY_ZS) return 1;
  int b = utf8proc_get_property(c)->bidi_class;
  return b == UTF8PROC_BIDI_CLASS_B || b == UTF8PROC_BIDI_CLASS_S || b == UTF8PROC_BIDI_CLASS_WS;
}

/* BasicTokenizer._is_chinese_char: the CJK Unified Ideographs blocks. */
static int is_cjk(int32_t c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
         (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

/* _is_punctuation: all non-alphanumeric printable ASCII (even $ + < = > ^ ` | ~,
** which Unicode calls symbols), plus Unicode category P*. */
static int is_punct(int32_t c) {
  if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126)) return 1;
  utf8proc_category_t k = utf8proc_category(c);
  return k >= UTF8PROC_CATEGORY_PC && k <= UTF8PROC_CATEGORY_PO;
}

/* ------------------------------------------------------------------------ */
/* Growable code point buffers                                               */

typedef struct {
  int32_t *p;                   /* code points */
  size_t n, cap;                /* used, allocated */
} CpBuf;

static int buf_reserve(CpBuf *b, size_t extra) {
  if (extra <= b->cap - b->n) return 0;
  size_t want = b->cap ? b->cap : 64, bytes;
  while (want - b->n < extra) {
    if (want > SIZE_MAX / 2) return -1;
    want *= 2;
  }
  if (siam_mul_size(want, sizeof(int32_t), &bytes)) return -1;
  int32_t *p = siam_realloc(b->p, bytes);
  if (!p) return -1;
  b->p = p;
  b->cap = want;
  return 0;
}

static int buf_push(CpBuf *b, int32_t c) {
  if (b->n == b->cap && buf_reserve(b, 1)) return -1;
  b->p[b->n++] = c;
  return 0;
}

/* ------------------------------------------------------------------------ */
/* Normalization                                                             */

static int ccc(int32_t c) { return utf8proc_get_property(c)->combining_class; }

/* Stable sort of p[0..n) by combining class.  Short runs (the normal case)
** use insertion sort; long ones a counting sort through tmp, so that a text
** of nothing but combining marks stays linear. */
static int sort_marks(int32_t *p, size_t n, CpBuf *tmp) {
  if (n <= SORT_SMALL) {
    for (size_t i = 1; i < n; i++) {
      int32_t c = p[i];
      int k = ccc(c);
      size_t j = i;
      while (j > 0 && ccc(p[j - 1]) > k) {
        p[j] = p[j - 1];
        j--;
      }
      p[j] = c;
    }
    return 0;
  }
  size_t count[257] = {0};
  for (size_t i = 0; i < n; i++) count[ccc(p[i]) + 1]++;
  for (int k = 1; k < 257; k++) count[k] += count[k - 1];
  tmp->n = 0;
  if (buf_reserve(tmp, n)) return -1;
  for (size_t i = 0; i < n; i++) tmp->p[count[ccc(p[i])]++] = p[i];
  memcpy(p, tmp->p, n * sizeof *p);
  return 0;
}

/* Canonical ordering: each maximal run of non-starters sorted by class. */
static int canonical_order(CpBuf *b, CpBuf *tmp) {
  size_t i = 0;
  while (i < b->n) {
    if (ccc(b->p[i]) == 0) {
      i++;
      continue;
    }
    size_t j = i;
    while (j < b->n && ccc(b->p[j]) != 0) j++;
    if (j - i > 1 && sort_marks(b->p + i, j - i, tmp)) return -1;
    i = j;
  }
  return 0;
}

/* Appends the full canonical decomposition of in[0..n) to out, without
** canonical ordering.  drop_mn leaves out category Mn as it goes, which is
** what _run_strip_accents keeps (dropping before or after the stable sort
** leaves the same order for the rest). */
static int decompose(CpBuf *out, const int32_t *in, size_t n, int drop_mn) {
  for (size_t i = 0; i < n; i++) {
    int32_t d[32];
    utf8proc_ssize_t k = utf8proc_decompose_char(in[i], d, 32, UTF8PROC_DECOMPOSE, NULL);
    if (k < 0 || k > 32) {      /* cannot happen for canonical mappings */
      d[0] = in[i];
      k = 1;
    }
    if (buf_reserve(out, (size_t)k)) return -1;
    for (utf8proc_ssize_t j = 0; j < k; j++) {
      if (drop_mn && utf8proc_category(d[j]) == UTF8PROC_CATEGORY_MN) continue;
      out->p[out->n++] = d[j];
    }
  }
  return 0;
}

/* out = NFC(in). */
static int nfc(CpBuf *out, const int32_t *in, size_t n, CpBuf *tmp) {
  out->n = 0;
  if (decompose(out, in, n, 0) || canonical_order(out, tmp)) return -1;
  utf8proc_ssize_t m =
      utf8proc_normalize_utf32(out->p, (utf8proc_ssize_t)out->n, UTF8PROC_COMPOSE | UTF8PROC_STABLE);
  if (m < 0) return -1;
  out->n = (size_t)m;
  return 0;
}

/* out = the text with accents stripped: NFD, then without category Mn. */
static int strip_accents(CpBuf *out, const int32_t *in, size_t n, CpBuf *tmp) {
  out->n = 0;
  if (decompose(out, in, n, 1) || canonical_order(out, tmp)) return -1;
  return 0;
}

/* Appends Python's str.lower() of c.  utf8proc gives the simple mapping; the
** one unconditional full mapping that differs is U+0130 -> i + U+0307.
** Final_Sigma is the one context-dependent rule: the per-character regex
** never gives it context, and the BasicTokenizer's whole-word lower() finds
** no capital sigma left by then (the regex ran first; NFC composes none). */
static int push_lower(CpBuf *out, int32_t c) {
  if (c == 0x130) return buf_push(out, 'i') || buf_push(out, 0x307);
  return buf_push(out, utf8proc_tolower(c));
}

/* ------------------------------------------------------------------------ */
/* One siam_tokenize call                                                    */

#define BLOCK 1024              /* code points prepared ahead at a time */
/* Words up to this many code points go through step 4 whole (a special
** token, at most SIAM_MAX_NAME bytes, is far shorter even decomposed: no
** canonical decomposition is longer than 4); longer ones are streamed.  A
** variable only so the tests can compare against the whole-word path. */
size_t siam_tokenizer_segment = 1024;
#define SEGMENT siam_tokenizer_segment

typedef struct {
  const SiamTokenizer *t;
  const unsigned char *src;     /* the input bytes */
  size_t len, pos;              /* input length; next byte to decode */
  CpBuf text;                   /* steps 1-2 output not yet consumed by step 3 */
  CpBuf word;                   /* the current whitespace-separated word (or its open segment) */
  CpBuf a, b, tmp;              /* normalization scratch */
  int streaming;                /* the current word is long: its segments went to the piece */
  int32_t piece[WORD_MAX_CHARS + 1]; /* a streamed word's open punctuation-free piece */
  int piece_n;                  /* its length, capped at WORD_MAX_CHARS + 1 (then [UNK]) */
  int32_t *out;                 /* word piece ids (after [CLS]) */
  int n, cap;                   /* pieces so far; max_seq_length-2 */
} Run;

/* Adds one id; 1 once the output is full (the rest would be truncated). */
static int emit(Run *r, int id) {
  if (r->n < r->cap) r->out[r->n++] = id;
  return r->n >= r->cap;
}

/* ------------------------------------------------------------------------ */
/* Steps 1-3: decode, lowercase outside specials, split out specials         */

/* Index of the first special (in order) whose bytes start s[0..n), or -1. */
static int special_at_bytes(const SiamTokenizer *t, const unsigned char *s, size_t n) {
  for (int k = 0; k < t->n_special; k++) {
    const Special *sp = &t->special[k];
    if (sp->nbytes <= n && s[0] == (unsigned char)sp->name[0] && memcmp(s, sp->name, sp->nbytes) == 0) return k;
  }
  return -1;
}

/* Index of the longest special starting at p[0..n), or -1 (Trie.split). */
static int special_at_cps(const SiamTokenizer *t, const int32_t *p, size_t n) {
  int best = -1;
  for (int k = 0; k < t->n_special; k++) {
    const Special *sp = &t->special[k];
    if ((size_t)sp->ncp > n || p[0] != sp->cp[0]) continue;
    if (memcmp(p, sp->cp, (size_t)sp->ncp * sizeof *p) != 0) continue;
    if (best < 0 || sp->ncp > t->special[best].ncp) best = k;
  }
  return best;
}

/* Steps 1 and 2 for the next input position, appended to r->text (which has
** room for SIAM_MAX_NAME more): the decoded code point, lowercased unless a
** literal special token starts here, which is copied whole.  Specials are
** matched on the raw bytes, which is the same as matching the decoded text:
** a name is valid UTF-8 without U+FFFD, and bytes that spell it decode to
** exactly its code points. */
static void prepare_step(Run *r) {
  CpBuf *o = &r->text;
  if (!r->t->cfg.lowercase) {
    o->p[o->n++] = utf8_next(r->src, r->len, &r->pos);
    return;
  }
  int k = special_at_bytes(r->t, r->src + r->pos, r->len - r->pos);
  if (k >= 0) {
    const Special *sp = &r->t->special[k];
    memcpy(o->p + o->n, sp->cp, (size_t)sp->ncp * sizeof(int32_t));
    o->n += (size_t)sp->ncp;
    r->pos += sp->nbytes;
    return;
  }
  int32_t c = utf8_next(r->src, r->len, &r->pos);
  if (c == 0x130) {             /* see push_lower */
    o->p[o->n++] = 'i';
    o->p[o->n++] = 0x307;
  } else {
    o->p[o->n++] = utf8proc_tolower(c);
  }
}

/* Drops the consumed text[0..used) and prepares up to BLOCK code points. */
static int refill(Run *r, size_t used) {
  CpBuf *o = &r->text;
  if (used > 0) {
    memmove(o->p, o->p + used, (o->n - used) * sizeof *o->p);
    o->n -= used;
  }
  if (buf_reserve(o, BLOCK + SIAM_MAX_NAME - o->n)) return -1;
  while (o->n < BLOCK && r->pos < r->len) prepare_step(r);
  return 0;
}

/* ------------------------------------------------------------------------ */
/* Steps 4-5, word by word                                                   */

/* WordpieceTokenizer.tokenize for one punctuation-free word w[0..n). */
static int wordpiece(Run *r, const int32_t *w, size_t n) {
  const SiamTokenizer *t = r->t;
  if (n == 0) return 0;
  if (n > WORD_MAX_CHARS) return emit(r, t->unk_id);
  char bytes[WORD_MAX_CHARS * 4];
  size_t off[WORD_MAX_CHARS + 1];
  off[0] = 0;
  for (size_t i = 0; i < n; i++) {
    utf8proc_ssize_t k = utf8proc_encode_char(w[i], (utf8proc_uint8_t *)bytes + off[i]);
    off[i + 1] = off[i] + (size_t)(k > 0 ? k : 0);
  }
  int piece[WORD_MAX_CHARS];
  size_t np = 0, start = 0;
  while (start < n) {
    int id = -1;
    size_t end = n;
    for (; end > start; end--) {
      size_t nb = off[end] - off[start], npre = start > 0 ? 2 : 0;
      if (nb + npre > t->max_bytes) continue;  /* longer than any token */
      id = vocab_find(t, "##", npre, bytes + off[start], nb);
      if (id >= 0) break;
    }
    if (id < 0) return emit(r, t->unk_id);  /* no piece fits: the word is unknown */
    piece[np++] = id;
    start = end;
  }
  for (size_t i = 0; i < np; i++)
    if (emit(r, piece[i])) return 1;
  return 0;
}

/* _run_split_on_punc, then WordPiece on each part.  (Whitespace cannot be
** left in a word here; splitting on it anyway mirrors the str.split() that
** follows in BasicTokenizer.) */
static int split_punct(Run *r, const int32_t *w, size_t n) {
  size_t start = 0;
  for (size_t i = 0; i < n; i++) {
    int punct = is_punct(w[i]);
    if (!punct && !is_space(w[i])) continue;
    if (wordpiece(r, w + start, i - start)) return 1;
    if (punct && wordpiece(r, w + i, 1)) return 1;
    start = i + 1;
  }
  return wordpiece(r, w + start, n - start);
}

/* 1 if w[0..n) spells a special token (BasicTokenizer's never_split). */
static int is_special_word(const SiamTokenizer *t, const int32_t *w, size_t n) {
  for (int k = 0; k < t->n_special; k++) {
    const Special *sp = &t->special[k];
    if ((size_t)sp->ncp == n && memcmp(w, sp->cp, n * sizeof *w) == 0) return 1;
  }
  return 0;
}

/* NFC, then lowercase and strip accents as the config says: the per-word
** part of BasicTokenizer.tokenize before the punctuation split, on w[0..n);
** the result is left in r->a. */
static int normalize(Run *r, const int32_t *w, size_t n, int *special) {  /* special may be NULL: not checked */
  const SiamTokenizerConfig *cfg = &r->t->cfg;
  CpBuf swap;
  if (nfc(&r->a, w, n, &r->tmp)) return -1;
  /* A word that became a special token only after cleaning or NFC (e.g.
  ** "[MA\x01SK]" when cased) is neither lowercased nor split;
  ** BertTokenizer._tokenize still runs WordPiece on it, which finds it. */
  if (special && (*special = is_special_word(r->t, r->a.p, r->a.n)) != 0) return 0;
  if (cfg->lowercase) {
    r->b.n = 0;
    for (size_t i = 0; i < r->a.n; i++)
      if (push_lower(&r->b, r->a.p[i])) return -1;
    swap = r->a;
    r->a = r->b;
    r->b = swap;
  }
  if (cfg->strip_accents) {
    if (strip_accents(&r->b, r->a.p, r->a.n, &r->tmp)) return -1;
    swap = r->a;
    r->a = r->b;
    r->b = swap;
  }
  return 0;
}

/* ---- a long word, streamed ----------------------------------------------- */

/* Whether a word may be cut just before c: c is a starter that canonical
** composition never joins to a preceding code point, so NFC, lowercasing
** and accent stripping of the two parts, put together, are those of the
** whole.  All of U+0000-U+08FF with combining class 0 are such (no
** composition before U+0900 has a starter as its second part; tested over
** every pair in test_tokenizer.c); above, Indic vowel signs and Hangul jamo
** can be second parts, so no cut is made there. */
static int segment_break(int32_t c) { return c < 0x900 && ccc(c) == 0; }

/* WordPiece on the open piece of a streamed word. */
static int end_piece(Run *r) {
  int n = r->piece_n;
  r->piece_n = 0;
  if (n > WORD_MAX_CHARS) return emit(r, r->t->unk_id);
  return wordpiece(r, r->piece, (size_t)n);
}

/* _run_split_on_punc over normalized code points as they come: the piece
** keeps at most WORD_MAX_CHARS + 1 of them (one more means [UNK]). */
static int piece_feed(Run *r, const int32_t *w, size_t n) {
  int rc;
  for (size_t i = 0; i < n; i++) {
    int punct = is_punct(w[i]);
    if (punct || is_space(w[i])) {
      if ((rc = end_piece(r)) != 0) return rc;
      if (punct && (rc = wordpiece(r, w + i, 1)) != 0) return rc;
    } else if (r->piece_n <= WORD_MAX_CHARS) {
      r->piece[r->piece_n++] = w[i];
    }
  }
  return 0;
}

/* Normalizes the open segment of a long word and moves it to the piece. */
static int flush_segment(Run *r) {
  r->streaming = 1;
  int rc = normalize(r, r->word.p, r->word.n, NULL) ? -1 : piece_feed(r, r->a.p, r->a.n);
  r->word.n = 0;
  return rc;
}

/* ---- words ----------------------------------------------------------------- */

/* The per-word part of BasicTokenizer.tokenize, then WordPiece, on r->word
** (cleaned; emptied here).  NFC per word equals NFC of the whole chunk, as
** spaces neither compose nor reorder.  Returns 1 when the output is full,
** -1 on allocation failure. */
static int end_word(Run *r) {
  if (r->streaming) {
    int rc = r->word.n ? flush_segment(r) : 0;
    r->streaming = 0;
    return rc ? rc : end_piece(r);
  }
  if (r->word.n == 0) return 0;
  int special;
  int rc = normalize(r, r->word.p, r->word.n, &special);
  r->word.n = 0;
  if (rc) return -1;
  return special ? wordpiece(r, r->a.p, r->a.n) : split_punct(r, r->a.p, r->a.n);
}

/* Adds c to the current word; a long word's open segment goes to step 4
** first when c may start the next one. */
static int word_push(Run *r, int32_t c) {
  if (r->word.n >= SEGMENT && segment_break(c)) {
    int rc = flush_segment(r);
    if (rc) return rc;
  }
  return buf_push(&r->word, c);
}

/* _clean_text and _tokenize_chinese_chars for one code point of a chunk
** (text between literal specials), ending words at whitespace. */
static int feed(Run *r, int32_t c) {
  int rc;
  if (is_dropped(c)) return 0;
  if (is_space(c)) return end_word(r);
  if (r->t->cfg.tokenize_chinese_chars && is_cjk(c)) {
    if ((rc = end_word(r)) != 0) return rc;
    if (buf_push(&r->word, c)) return -1;
    return end_word(r);
  }
  return word_push(r, c);
}

/* Trie.split over the prepared text, streamed: a special needs at most
** max_special code points of lookahead, so BLOCK at a time suffices. */
static int run_text(Run *r) {
  const SiamTokenizer *t = r->t;
  size_t j = 0;
  int rc;
  for (;;) {
    if (r->text.n - j < (size_t)t->max_special && r->pos < r->len) {
      if (siam_stop_requested() || refill(r, j)) return -1;
      j = 0;
    }
    if (j == r->text.n) break;
    int k = special_at_cps(t, r->text.p + j, r->text.n - j);
    if (k < 0) {
      if ((rc = feed(r, r->text.p[j++])) != 0) return rc;
      continue;
    }
    if ((rc = end_word(r)) != 0) return rc;
    if (emit(r, t->special[k].id)) return 1;
    j += (size_t)t->special[k].ncp;
  }
  return end_word(r);
}

int siam_tokenize(const SiamTokenizer *tok, const char *text, size_t len, int32_t *ids) {
  if (!tok || !ids) return -1;
  Run r;
  memset(&r, 0, sizeof r);
  r.t = tok;
  r.src = (const unsigned char *)text;
  r.len = text ? len : 0;
  r.out = ids + 1;
  r.cap = tok->cfg.max_seq_length - 2;
  int rc = r.len > 0 && r.cap > 0 ? run_text(&r) : 0;
  siam_free(r.text.p);
  siam_free(r.word.p);
  siam_free(r.a.p);
  siam_free(r.b.p);
  siam_free(r.tmp.p);
  if (rc < 0) return -1;
  ids[0] = tok->cls_id;
  ids[r.n + 1] = tok->sep_id;
  return r.n + 2;
}

/* ------------------------------------------------------------------------ */
/* Construction                                                              */

/* Copies the vocab into one arena and indexes it; rejects empty and
** duplicate tokens. */
static int build_vocab(SiamTokenizer *t, const char *const *vocab, int n, char *err) {
  size_t total = 0, bytes;
  for (int i = 0; i < n; i++) {
    if (!vocab[i]) return siam_errf(err, "vocab token at id %d is missing", i);
    size_t l = strlen(vocab[i]);
    if (l == 0) return siam_errf(err, "vocab token at id %d is empty", i);
    if (l > UINT32_MAX || total > SIZE_MAX - l - 1) return siam_errf(err, "vocab is too large");
    total += l + 1;
  }
  size_t slots = 16;
  while (slots < (size_t)n * 2) slots *= 2;
  t->arena = siam_malloc(total);
  t->off = siam_mul_size((size_t)n, sizeof(size_t), &bytes) ? NULL : siam_malloc(bytes);
  t->len = siam_mul_size((size_t)n, sizeof(uint32_t), &bytes) ? NULL : siam_malloc(bytes);
  t->slots = siam_mul_size(slots, sizeof(int32_t), &bytes) ? NULL : siam_malloc(bytes);
  if (!t->arena || !t->off || !t->len || !t->slots) return siam_errf(err, "out of memory building the vocab");
  memset(t->slots, 0xff, bytes);  /* every slot -1 */
  t->slot_mask = slots - 1;
  size_t at = 0;
  for (int i = 0; i < n; i++) {
    size_t l = strlen(vocab[i]);
    memcpy(t->arena + at, vocab[i], l + 1);
    t->off[i] = at;
    t->len[i] = (uint32_t)l;
    if (l > t->max_bytes) t->max_bytes = l;
    at += l + 1;
    int other = vocab_insert(t, i);
    if (other >= 0)
      return siam_errf(err, "vocab token '%.*s' appears twice (ids %d and %d)", (int)(l > 64 ? 64 : l), vocab[i],
                       other, i);
  }
  return 0;
}

/* Adds a special token (skipping empty names and repeats); required ones
** must be in the vocab.  An optional one that is not (HF would give it a new
** id past the embedding table) maps to the unknown token. */
static int add_special(SiamTokenizer *t, const char *field, const char *name, int required, char *err) {
  size_t nb = strnlen(name, SIAM_MAX_NAME);
  if (nb == SIAM_MAX_NAME) return siam_errf(err, "%s is too long", field);
  if (nb == 0) return required ? siam_errf(err, "%s is empty", field) : 0;
  for (int k = 0; k < t->n_special; k++)
    if (strcmp(t->special[k].name, name) == 0) return 0;
  if (t->n_special == N_SPECIAL_MAX) return siam_errf(err, "too many special tokens");
  Special *sp = &t->special[t->n_special];
  memcpy(sp->name, name, nb + 1);
  sp->nbytes = nb;
  if (decode_name(sp)) return siam_errf(err, "%s '%s' is not valid UTF-8", field, name);
  sp->id = siam_tokenizer_id(t, name, nb);
  if (sp->id < 0 && required) return siam_errf(err, "%s '%s' is not in the vocab", field, name);
  if (sp->id < 0) sp->id = t->unk_id;
  if (sp->ncp > t->max_special) t->max_special = sp->ncp;
  t->n_special++;
  return 0;
}

/* The specials in HF's all_special_tokens order (unk, sep, pad, cls, mask,
** additional), which is the order the lowercasing regex tries them in. */
static int add_specials(SiamTokenizer *t, char *err) {
  const SiamTokenizerConfig *c = &t->cfg;
  if (add_special(t, "unk_token", c->unk_token, 1, err)) return -1;
  t->unk_id = t->special[0].id;
  if (add_special(t, "sep_token", c->sep_token, 1, err)) return -1;
  if (add_special(t, "pad_token", c->pad_token, 0, err)) return -1;
  if (add_special(t, "cls_token", c->cls_token, 1, err)) return -1;
  if (add_special(t, "mask_token", c->mask_token, 0, err)) return -1;
  if (c->n_extra_special < 0 || c->n_extra_special > SIAM_MAX_SPECIAL)
    return siam_errf(err, "n_extra_special %d out of range", c->n_extra_special);
  for (int i = 0; i < c->n_extra_special; i++)
    if (add_special(t, "extra special token", c->extra_special[i], 0, err)) return -1;
  t->sep_id = siam_tokenizer_id(t, c->sep_token, strlen(c->sep_token));
  t->cls_id = siam_tokenizer_id(t, c->cls_token, strlen(c->cls_token));
  return 0;
}

SiamTokenizer *siam_tokenizer_new(const SiamTokenizerConfig *cfg, const char *const *vocab, int n_vocab,
                                  char err[SIAM_ERRMAX]) {
  if (!cfg || !vocab || n_vocab <= 0) {
    siam_errf(err, "tokenizer needs a non-empty vocab");
    return NULL;
  }
  if (cfg->max_seq_length < 2) {
    siam_errf(err, "max_seq_length is %d, but [CLS] and [SEP] need 2", cfg->max_seq_length);
    return NULL;
  }
  SiamTokenizer *t = siam_calloc(1, sizeof *t);
  if (!t) {
    siam_errf(err, "out of memory");
    return NULL;
  }
  t->cfg = *cfg;
  t->n_vocab = n_vocab;
  if (build_vocab(t, vocab, n_vocab, err) || add_specials(t, err)) {
    siam_tokenizer_free(t);
    return NULL;
  }
  return t;
}

void siam_tokenizer_free(SiamTokenizer *tok) {
  if (!tok) return;
  siam_free(tok->arena);
  siam_free(tok->off);
  siam_free(tok->len);
  siam_free(tok->slots);
  siam_free(tok);
}

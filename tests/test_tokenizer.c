/*
** test_tokenizer.c — the BERT tokenizer against hand-derived HuggingFace
** results (small in-test vocab), its rejections, allocation failures, linear
** time on hostile input, and the PyTorch-side reference ids in
** tests/fixtures/ref/<model>.json for every fixture text and model.
**
** Every expected id list below was worked out by hand from transformers'
** BertTokenizer (4.3x) code, not by running this tokenizer.
*/
#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tokenizer.h"

#include <utf8proc.h>
#include "testutil.h"

extern long siam_fail_countdown;

/* The in-test vocab: id = index. */
static const char *VOCAB[] = {
    "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]",       /* 0-4 */
    "hello", "world", ",", "!", "un",                   /* 5-9 */
    "##aff", "##able", "cafe", "caf\xc3\xa9", "\xe4\xb8\xad", /* 10-14: café 中 */
    "\xe6\x96\x87", ".", "a", "##a", "[",               /* 15-19: 文 */
    "]", "cls", "mask", "b", "##b",                     /* 20-24 */
    "i", "##\xcc\x87", "x", "##x", "?",                 /* 25-29: ##U+0307 */
    "Hello", "e", "##e", "$", "\xe5\x85\xad",           /* 30-34: 六 */
    "<s>", "Caf\xc3\xa9", "##\xc3\xa9", "\xce\xbf\xce\xb4\xce\xbf\xcf\x83", "c", /* 35-39: οδοσ */
};
#define NV ((int)(sizeof VOCAB / sizeof VOCAB[0]))

static SiamTokenizerConfig base_cfg(int lowercase, int strip, int max_len) {
  SiamTokenizerConfig c;
  memset(&c, 0, sizeof c);
  c.lowercase = lowercase;
  c.strip_accents = strip;
  c.tokenize_chinese_chars = 1;
  c.max_seq_length = max_len;
  strcpy(c.unk_token, "[UNK]");
  strcpy(c.cls_token, "[CLS]");
  strcpy(c.sep_token, "[SEP]");
  strcpy(c.pad_token, "[PAD]");
  strcpy(c.mask_token, "[MASK]");
  return c;
}

/* Tokenizes text[0..len) and compares with want (a -1-terminated id list
** without [CLS]/[SEP]). */
static void expect_n(const SiamTokenizer *t, const char *label, const char *text, size_t len, const int *want) {
  int32_t ids[512];
  int n = siam_tokenize(t, text, len, ids);
  int nw = 0;
  while (want[nw] >= 0) nw++;
  int ok = n == nw + 2 && ids[0] == 2 && ids[n - 1] == 3;
  for (int i = 0; ok && i < nw; i++) ok = ids[i + 1] == want[i];
  char got[2048] = "", exp[2048] = "";
  if (!ok) {
    for (int i = 0; i < n && strlen(got) < 2000; i++) snprintf(got + strlen(got), 16, "%d ", ids[i]);
    for (int i = 0; i < nw && strlen(exp) < 2000; i++) snprintf(exp + strlen(exp), 16, "%d ", want[i]);
  }
  CHECK(ok, "%s: got [%s] want [2 %s3]", label, got, exp);
}
#define EXPECT(t, label, text, ...)                              \
  do {                                                          \
    static const int w_[] = {__VA_ARGS__, -1};                  \
    expect_n(t, label, text, sizeof(text) - 1, w_);             \
  } while (0)
#define EXPECT_EMPTY(t, label, text)                             \
  do {                                                          \
    static const int w_[] = {-1};                               \
    expect_n(t, label, text, sizeof(text) - 1, w_);             \
  } while (0)

static SiamTokenizer *make(SiamTokenizerConfig c) {
  char err[SIAM_ERRMAX] = "";
  SiamTokenizer *t = siam_tokenizer_new(&c, VOCAB, NV, err);
  CHECK(t != NULL, "tokenizer_new: %s", err);
  return t;
}

/* lowercase + strip_accents: bert-base-uncased behaviour. */
static void test_uncased(void) {
  SiamTokenizer *t = make(base_cfg(1, 1, 64));
  if (!t) return;
  EXPECT(t, "basic", "Hello, world!", 5, 7, 6, 8);
  EXPECT(t, "wordpiece", "unaffable", 9, 10, 11);
  EXPECT(t, "repeat pieces", "aaa", 17, 18, 18);
  EXPECT(t, "whitespace kinds", "  \t\nHello\xc2\xa0WORLD\r\n", 5, 6);  /* U+00A0 is Zs */
  EXPECT(t, "U+2028 splits (str.split)", "hello\xe2\x80\xa8world", 5, 6);
  EXPECT(t, "control dropped, no split", "hel\x01lo wor\xe2\x80\x8b" "ld", 5, 6);  /* \x01 Cc, ZWSP Cf */
  EXPECT(t, "U+FFFD dropped", "hel\xef\xbf\xbdlo", 5);
  EXPECT(t, "C1 control dropped", "a\xc2\x85" "a", 17, 18);  /* U+0085 is Cc */
  EXPECT(t, "private use dropped", "a\xee\x80\x80" "a", 17, 18);  /* U+E000 Co */
  EXPECT(t, "accent stripped", "Caf\xc3\xa9", 12);
  EXPECT(t, "decomposed accent stripped", "Cafe\xcc\x81", 12);
  EXPECT(t, "lone combining mark vanishes", "a \xcc\x81 a", 17, 17);
  EXPECT(t, "CJK padded", "\xe4\xb8\xad\xe6\x96\x87", 14, 15);
  EXPECT(t, "CJK inside a word", "a\xe4\xb8\xad" "b", 17, 14, 23);
  EXPECT(t, "CJK compatibility ideograph NFCs to its twin", "\xef\xa7\x91", 34);  /* U+F9D1 -> 六 */
  EXPECT(t, "punctuation", "a.b", 17, 16, 23);
  EXPECT(t, "ASCII symbol is punctuation", "$a", 33, 17);
  EXPECT(t, "no match -> [UNK]", "q", 1);
  EXPECT(t, "partial match -> whole word [UNK]", "aq b", 1, 23);
  EXPECT(t, "unk between punctuation", "a,q!", 17, 7, 1, 8);
  EXPECT(t, "U+0130 lowercases to i + U+0307, then stripped", "\xc4\xb0", 25);
  EXPECT(t, "per-char lowercase: no final sigma", "\xce\x9f\xce\x94\xce\x9f\xce\xa3", 38);
  EXPECT(t, "Unicode P* splits", "a\xc2\xbf" "a", 17, 1, 17);  /* ¿ is Po, not in vocab */
  EXPECT(t, "literal specials kept", "[CLS] hello [MASK]", 2, 5, 4);
  EXPECT(t, "special glued to words", "a[SEP]b[MASK]", 17, 3, 23, 4);
  EXPECT(t, "specials are case-sensitive", "[cls] [Mask]", 19, 21, 20, 19, 22, 20);
  EXPECT(t, "control inside special: no longer special", "[MA\x01SK]", 19, 22, 20);
  EXPECT(t, "NUL inside special", "[CL\0S]", 19, 21, 20);
  EXPECT(t, "NUL byte dropped", "hel\0lo", 5);
  EXPECT(t, "invalid: lone 0xff", "a\xff" "a", 17, 18);
  EXPECT(t, "invalid: truncated then ASCII", "\xe2\x82\x41", 17);
  EXPECT(t, "invalid: truncated at end", "a\xe2\x82", 17);
  EXPECT(t, "invalid: overlong", "a\xc0\xaf" "b", 17, 24);
  EXPECT(t, "invalid: surrogate", "a\xed\xa0\x80" "b", 17, 24);
  EXPECT(t, "invalid: above U+10FFFF", "a\xf4\x90\x80\x80" "b", 17, 24);
  EXPECT(t, "invalid: stray continuation", "\x80" "a\xbf", 17);
  EXPECT_EMPTY(t, "only invalid", "\xff\xc0\xaf\xed\xa0\x80");
  EXPECT_EMPTY(t, "empty", "");
  EXPECT_EMPTY(t, "whitespace only", " \t\r\n\xe3\x80\x80");  /* U+3000 */
  EXPECT_EMPTY(t, "controls only", "\x01\x02\x7f");
  siam_tokenizer_free(t);
}

/* lowercase without strip_accents, cased, cased + strip_accents, no CJK. */
static void test_options(void) {
  SiamTokenizer *t = make(base_cfg(1, 0, 64));
  if (t) {
    EXPECT(t, "lowercase keeps accents", "CAF\xc3\x89", 13);
    EXPECT(t, "NFC before lookup", "cafe\xcc\x81", 13);
    EXPECT(t, "U+0130 keeps its dot", "\xc4\xb0", 25, 26);
    siam_tokenizer_free(t);
  }
  t = make(base_cfg(0, 0, 64));
  if (t) {
    EXPECT(t, "cased", "Hello hello", 30, 5);
    EXPECT(t, "cased accents", "Caf\xc3\xa9 cafe\xcc\x81", 36, 13);
    EXPECT(t, "cased: control inside special still matches vocab", "[MA\x01SK]", 4);
    EXPECT(t, "cased: [cls] is not special", "[cls]", 19, 21, 20);
    siam_tokenizer_free(t);
  }
  t = make(base_cfg(0, 1, 64));
  if (t) {
    EXPECT(t, "strip without lowercase", "Caf\xc3\xa9", 1);  /* "Cafe": C is not in vocab */
    EXPECT(t, "strip without lowercase 2", "cafe\xcc\x81", 12);
    siam_tokenizer_free(t);
  }
  SiamTokenizerConfig c = base_cfg(1, 1, 64);
  c.tokenize_chinese_chars = 0;
  t = make(c);
  if (t) {
    EXPECT(t, "no CJK padding: 中文 is one word", "\xe4\xb8\xad\xe6\x96\x87", 1);
    EXPECT(t, "no CJK padding: a中", "a\xe4\xb8\xad", 1);
    siam_tokenizer_free(t);
  }
  c = base_cfg(1, 1, 64);
  c.n_extra_special = 1;
  strcpy(c.extra_special[0], "<s>");
  t = make(c);
  if (t) {
    /* The regex lowercases "<S>" to "<s>", which the trie then splits out. */
    EXPECT(t, "extra special", "a<s>b <S>", 17, 35, 23, 35);
    siam_tokenizer_free(t);
  }
}

/* Word length limit and truncation. */
static void test_lengths(void) {
  SiamTokenizer *t = make(base_cfg(1, 1, 128));
  if (!t) return;
  char buf[400];
  int want[130];
  memset(buf, 'a', 101);
  want[0] = 1, want[1] = -1;
  expect_n(t, "101 chars -> [UNK]", buf, 101, want);
  want[0] = 17;
  for (int i = 1; i < 100; i++) want[i] = 18;
  want[100] = -1;
  expect_n(t, "100 chars are WordPiece'd", buf, 100, want);
  /* 60 two-byte é: the limit counts code points; é strips to e. */
  for (int i = 0; i < 101; i++) memcpy(buf + 2 * i, "\xc3\xa9", 2);
  want[0] = 31;
  for (int i = 1; i < 60; i++) want[i] = 32;
  want[60] = -1;
  expect_n(t, "60 two-byte chars", buf, 120, want);
  want[0] = 1, want[1] = -1;
  expect_n(t, "101 two-byte chars", buf, 202, want);
  siam_tokenizer_free(t);

  t = make(base_cfg(1, 1, 6));
  if (!t) return;
  EXPECT(t, "truncated to 4 pieces", "a b a b a b", 17, 23, 17, 23);
  EXPECT(t, "truncated inside a word", "a b aaaa", 17, 23, 17, 18);
  EXPECT(t, "special at the cut", "a b a [SEP] b", 17, 23, 17, 3);
  siam_tokenizer_free(t);
  t = make(base_cfg(1, 1, 2));
  if (!t) return;
  EXPECT_EMPTY(t, "max_seq_length 2", "hello world");
  siam_tokenizer_free(t);
}

/* Bad vocab or config: exact messages. */
static void expect_new_error(SiamTokenizerConfig c, const char *const *v, int n, const char *want) {
  char err[SIAM_ERRMAX] = "";
  SiamTokenizer *t = siam_tokenizer_new(&c, v, n, err);
  CHECK(t == NULL && strcmp(err, want) == 0, "want error '%s', got '%s'", want, err);
  siam_tokenizer_free(t);
}

static void test_rejects(void) {
  const char *dup[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "x", "y", "z", "w", "x"};
  expect_new_error(base_cfg(1, 1, 8), dup, 10, "vocab token 'x' appears twice (ids 5 and 9)");
  const char *empty[] = {"[UNK]", "[CLS]", "[SEP]", ""};
  expect_new_error(base_cfg(1, 1, 8), empty, 4, "vocab token at id 3 is empty");
  const char *nocls[] = {"[UNK]", "[SEP]", "a"};
  expect_new_error(base_cfg(1, 1, 8), nocls, 3, "cls_token '[CLS]' is not in the vocab");
  const char *nounk[] = {"[CLS]", "[SEP]", "a"};
  expect_new_error(base_cfg(1, 1, 8), nounk, 3, "unk_token '[UNK]' is not in the vocab");
  expect_new_error(base_cfg(1, 1, 1), VOCAB, NV, "max_seq_length is 1, but [CLS] and [SEP] need 2");
  SiamTokenizerConfig c = base_cfg(1, 1, 8);
  c.sep_token[0] = 0;
  expect_new_error(c, VOCAB, NV, "sep_token is empty");
  c = base_cfg(1, 1, 8);
  strcpy(c.mask_token, "[M\xff]");
  expect_new_error(c, VOCAB, NV, "mask_token '[M\xff]' is not valid UTF-8");

  /* Optional specials may be absent: a literal one then maps to [UNK]. */
  const char *nomask[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "a"};
  char err[SIAM_ERRMAX] = "";
  SiamTokenizerConfig c2 = base_cfg(1, 1, 8);
  SiamTokenizer *t = siam_tokenizer_new(&c2, nomask, 5, err);
  CHECK(t != NULL, "optional mask: %s", err);
  if (t) {
    int32_t ids[8];
    int n = siam_tokenize(t, "a[MASK]", 7, ids);
    CHECK(n == 4 && ids[1] == 4 && ids[2] == 1, "absent mask: n %d ids %d %d", n, ids[1], ids[2]);
    CHECK(siam_tokenizer_id(t, "a", 1) == 4 && siam_tokenizer_id(t, "b", 1) == -1 &&
              siam_tokenizer_id(t, "[CLS]", 5) == 2,
          "siam_tokenizer_id");
    siam_tokenizer_free(t);
  }
}

/* Every allocation failure is reported, never a crash or a leak. */
static void test_alloc_failures(void) {
  SiamTokenizerConfig c = base_cfg(1, 1, 64);
  int new_ok = 0, tok_ok = 0;
  for (long k = 1; k < 64 && !new_ok; k++) {
    char err[SIAM_ERRMAX] = "";
    siam_fail_countdown = k;
    SiamTokenizer *t = siam_tokenizer_new(&c, VOCAB, NV, err);
    siam_fail_countdown = 0;
    if (t) new_ok = 1;
    else CHECK(strstr(err, "out of memory") != NULL, "countdown %ld: '%s'", k, err);
    siam_tokenizer_free(t);
  }
  CHECK(new_ok, "tokenizer_new never succeeded under fault injection");
  SiamTokenizer *t = make(c);
  if (!t) return;
  static const char text[] = "Hello, Cafe\xcc\x81 \xe4\xb8\xad [MASK] unaffable";
  for (long k = 1; k < 64 && !tok_ok; k++) {
    int32_t ids[64];
    siam_fail_countdown = k;
    int n = siam_tokenize(t, text, sizeof text - 1, ids);
    siam_fail_countdown = 0;
    if (n >= 0) tok_ok = n == 10;
    else CHECK(n == -1, "countdown %ld: %d", k, n);
  }
  CHECK(tok_ok, "tokenize never succeeded under fault injection");
  siam_tokenizer_free(t);
}

/* Hostile inputs stay linear: long runs of combining marks (both Mn, which
** NFC must reorder, and alternating classes), one giant word, huge input. */
static void test_linear(void) {
  SiamTokenizer *t = make(base_cfg(1, 1, 16));
  SiamTokenizerConfig cased = base_cfg(0, 0, 16);
  SiamTokenizer *tc = make(cased);
  if (!t || !tc) goto done;
  size_t n = 4u << 20;
  char *buf = malloc(n);
  if (!buf) goto done;
  buf[0] = 'a';
  for (size_t i = 1; i + 2 <= n; i += 4) {
    memcpy(buf + i, "\xcc\x81", 2);                  /* U+0301, class 230 */
    if (i + 4 <= n) memcpy(buf + i + 2, "\xcc\x96", 2); /* U+0316, class 220 */
  }
  size_t used = 1 + (n - 1) / 4 * 4;
  int32_t ids[16];
  clock_t t0 = clock();
  int k1 = siam_tokenize(t, buf, used, ids);
  int ok1 = k1 == 3 && ids[1] == 17;  /* strip accents: just "a" */
  int k2 = siam_tokenize(tc, buf, used, ids);
  int ok2 = k2 == 3 && ids[1] == 1;   /* kept marks: a 1M-char word -> [UNK] */
  memset(buf, 'a', n);
  int k3 = siam_tokenize(t, buf, n, ids);
  int ok3 = k3 == 3 && ids[1] == 1;
  for (size_t i = 0; i < n; i += 2) memcpy(buf + i, "a ", 2);
  int k4 = siam_tokenize(t, buf, n, ids);
  int ok4 = k4 == 16 && ids[14] == 17;
  double secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
  CHECK(ok1 && ok2 && ok3 && ok4, "hostile results: %d %d %d %d", k1, k2, k3, k4);
  CHECK(secs < 5.0, "hostile inputs took %.2f s", secs);
  free(buf);
done:
  siam_tokenizer_free(t);
  siam_tokenizer_free(tc);
}

/* The text is prepared in blocks of 1024 code points: a special token must
** be found wherever it falls relative to a block end. */
static void test_block_edges(void) {
  SiamTokenizer *t = make(base_cfg(1, 1, 64));
  SiamTokenizer *tc = make(base_cfg(0, 0, 64));
  if (!t || !tc) goto done;
  char buf[1200];
  int all_ok = 1;
  for (int pre = 1000; pre < 1040 && all_ok; pre++) {
    memset(buf, 'x', (size_t)pre);  /* one 1000+-char word: [UNK] */
    memcpy(buf + pre, "[MASK]b", 7);
    for (int cased = 0; cased < 2; cased++) {
      int32_t ids[64];
      int n = siam_tokenize(cased ? tc : t, buf, (size_t)pre + 7, ids);
      int ok = n == 5 && ids[1] == 1 && ids[2] == 4 && ids[3] == 23;
      CHECK(ok, "special after %d chars (cased %d): n %d, %d %d %d", pre, cased, n, ids[1], ids[2], ids[3]);
      all_ok &= ok;
    }
  }
done:
  siam_tokenizer_free(t);
  siam_tokenizer_free(tc);
}

/* Random bytes (with specials, accents, CJK and spaces mixed in) never
** crash, and early stopping gives exactly the prefix of the full result. */
static void test_fuzz_prefix(void) {
  static const char *bits[] = {"a", "b", " ", "[MASK]", "[SEP", "]", "\xc3\xa9", "e\xcc\x81", "\xe4\xb8\xad",
                               "\xc4\xb0", "\xff", "\xed\xa0", "\0", ",", "un", "aff", "able", "\xe2\x80\xa8",
                               "\xcc\x81\xcc\x96", "\xf0\x9f\x98\x80", "\x01", "\xe2\x82"};
  SiamTokenizerConfig full[4], cut[4];
  SiamTokenizer *tf[4] = {0}, *tk[4] = {0};
  for (int m = 0; m < 4; m++) {
    full[m] = base_cfg(m & 1, (m >> 1) & 1, 512);
    cut[m] = base_cfg(m & 1, (m >> 1) & 1, 9);
    tf[m] = make(full[m]);
    tk[m] = make(cut[m]);
  }
  unsigned seed = 12345;
  int bad = 0;
  char text[4096];
  for (int it = 0; it < 3000; it++) {
    size_t len = 0;
    int parts = (int)((seed = seed * 1103515245u + 12345u) >> 16) % 200;
    for (int k = 0; k < parts; k++) {
      seed = seed * 1103515245u + 12345u;
      unsigned r = seed >> 16;
      if (r % 4 == 0) {
        text[len++] = (char)(r >> 3);  /* a random byte */
      } else {
        const char *b = bits[(r >> 2) % (sizeof bits / sizeof bits[0])];
        size_t bl = b[0] ? strlen(b) : 1;
        memcpy(text + len, b, bl);
        len += bl;
      }
    }
    for (int m = 0; m < 4; m++) {
      if (!tf[m] || !tk[m]) continue;
      int32_t a[512], b[9];
      int na = siam_tokenize(tf[m], text, len, a), nb = siam_tokenize(tk[m], text, len, b);
      int ok = na >= 2 && nb >= 2 && nb <= 9 && (nb == 9 || nb == na);
      for (int i = 1; ok && i < nb - 1; i++) ok = a[i] == b[i];
      for (int i = 0; ok && i < na; i++) ok = a[i] >= 0 && a[i] < NV;
      if (!ok && bad++ < 3) CHECK(0, "fuzz %d mode %d: prefix mismatch (%d vs %d ids)", it, m, na, nb);
    }
  }
  CHECK(bad == 0, "%d fuzz mismatches", bad);
  for (int m = 0; m < 4; m++) {
    siam_tokenizer_free(tf[m]);
    siam_tokenizer_free(tk[m]);
  }
}

/* ------------------------------------------------------------------------ */
/* Reference fixtures from tests/gen (PyTorch side)                          */

static char *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  char *data = NULL;
  size_t cap = 0, n = 0;
  for (;;) {
    if (n == cap) {
      cap = cap ? cap * 2 : 65536;
      char *p = realloc(data, cap + 1);
      if (!p) break;
      data = p;
    }
    size_t r = fread(data + n, 1, cap - n, f);
    if (r == 0) break;
    n += r;
  }
  fclose(f);
  if (data) data[n] = 0;
  *len = n;
  return data;
}

static cJSON *read_json(const char *path) {
  size_t len;
  char *s = read_file(path, &len);
  if (!s) return NULL;
  cJSON *j = cJSON_ParseWithLength(s, len);
  free(s);
  return j;
}

/* vocab.txt lines, as Python's universal-newline readlines() + rstrip("\n"). */
static char **read_vocab(const char *path, int *n_out) {
  size_t len;
  char *s = read_file(path, &len);
  if (!s) return NULL;
  int cap = 1024, n = 0;
  char **v = malloc(sizeof *v * (size_t)cap);
  size_t start = 0;
  for (size_t i = 0; v && i <= len; i++) {
    if (i < len && s[i] != '\n' && s[i] != '\r') continue;
    if (i == len && i == start) break;
    if (n == cap) v = realloc(v, sizeof *v * (size_t)(cap *= 2));
    if (!v) break;
    v[n] = malloc(i - start + 1);
    memcpy(v[n], s + start, i - start);
    v[n++][i - start] = 0;
    if (i < len && s[i] == '\r' && i + 1 < len && s[i + 1] == '\n') i++;
    start = i + 1;
  }
  free(s);
  *n_out = n;
  return v;
}

static void copy_name(char *dst, const cJSON *cfg, const char *key, const char *dflt) {
  const cJSON *j = cJSON_GetObjectItemCaseSensitive(cfg, key);
  const char *s = cJSON_IsString(j) ? j->valuestring : dflt;
  snprintf(dst, SIAM_MAX_NAME, "%s", s);
}

static int get_bool(const cJSON *cfg, const char *key, int dflt) {
  const cJSON *j = cJSON_GetObjectItemCaseSensitive(cfg, key);
  return cJSON_IsBool(j) ? cJSON_IsTrue(j) : dflt;
}

/* The mapping an importer uses from a model directory to our options. */
static int load_cfg(const char *dir, SiamTokenizerConfig *c) {
  char path[1024];
  memset(c, 0, sizeof *c);
  snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
  cJSON *tc = read_json(path);
  snprintf(path, sizeof path, "%s/sentence_bert_config.json", dir);
  cJSON *st = read_json(path);
  snprintf(path, sizeof path, "%s/config.json", dir);
  cJSON *mc = read_json(path);
  if (!tc || !mc) {
    cJSON_Delete(tc), cJSON_Delete(st), cJSON_Delete(mc);
    return -1;
  }
  c->lowercase = get_bool(tc, "do_lower_case", 1);
  c->strip_accents = get_bool(tc, "strip_accents", c->lowercase);  /* null: follows lowercase */
  c->tokenize_chinese_chars = get_bool(tc, "tokenize_chinese_chars", 1);
  copy_name(c->unk_token, tc, "unk_token", "[UNK]");
  copy_name(c->cls_token, tc, "cls_token", "[CLS]");
  copy_name(c->sep_token, tc, "sep_token", "[SEP]");
  copy_name(c->pad_token, tc, "pad_token", "[PAD]");
  copy_name(c->mask_token, tc, "mask_token", "[MASK]");
  const cJSON *msl = st ? cJSON_GetObjectItemCaseSensitive(st, "max_seq_length") : NULL;
  if (cJSON_IsNumber(msl)) {
    c->max_seq_length = msl->valueint;
  } else {
    double mpe = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(mc, "max_position_embeddings"));
    const cJSON *mml = cJSON_GetObjectItemCaseSensitive(tc, "model_max_length");
    double m = cJSON_IsNumber(mml) && mml->valuedouble < mpe ? mml->valuedouble : mpe;
    c->max_seq_length = (int)m;
  }
  cJSON_Delete(tc), cJSON_Delete(st), cJSON_Delete(mc);
  return 0;
}

static int hexval(char h) {
  if (h >= '0' && h <= '9') return h - '0';
  if (h >= 'a' && h <= 'f') return h - 'a' + 10;
  if (h >= 'A' && h <= 'F') return h - 'A' + 10;
  return -1;
}

/* One fixture model: every text's ids against the reference. */
static void check_fixture(const char *name, const cJSON *texts) {
  char path[1024];
  snprintf(path, sizeof path, "tests/fixtures/ref/%s.json", name);
  cJSON *ref = read_json(path);
  const cJSON *dir = cJSON_GetObjectItemCaseSensitive(ref, "dir");
  const cJSON *ids = cJSON_GetObjectItemCaseSensitive(ref, "ids");
  const cJSON *rmsl = cJSON_GetObjectItemCaseSensitive(ref, "max_seq_length");
  SiamTokenizerConfig c;
  int nv = 0;
  char **vocab = NULL;
  SiamTokenizer *t = NULL;
  if (!cJSON_IsString(dir) || !cJSON_IsArray(ids) || load_cfg(dir->valuestring, &c)) {
    CHECK(0, "%s: unreadable reference or model dir", name);
    goto done;
  }
  CHECK(cJSON_GetArraySize(ids) == cJSON_GetArraySize(texts), "%s: %d id lists for %d texts", name,
        cJSON_GetArraySize(ids), cJSON_GetArraySize(texts));
  CHECK(cJSON_IsNumber(rmsl) && rmsl->valueint == c.max_seq_length, "%s: max_seq_length %d, reference %d", name,
        c.max_seq_length, rmsl ? rmsl->valueint : -1);
  snprintf(path, sizeof path, "%s/vocab.txt", dir->valuestring);
  vocab = read_vocab(path, &nv);
  char err[SIAM_ERRMAX] = "";
  t = vocab ? siam_tokenizer_new(&c, (const char *const *)vocab, nv, err) : NULL;
  CHECK(t != NULL, "%s: %s", name, vocab ? err : "no vocab.txt");
  if (!t) goto done;
  int i = 0, bad = 0;
  const cJSON *hex, *want;
  int32_t *got = malloc(sizeof *got * (size_t)c.max_seq_length);
  for (hex = texts->child, want = ids->child; got && hex && want; hex = hex->next, want = want->next, i++) {
    size_t hl = strlen(hex->valuestring), len = hl / 2;
    char *text = malloc(len + 1);
    for (size_t k = 0; k < len; k++)
      text[k] = (char)(hexval(hex->valuestring[2 * k]) * 16 + hexval(hex->valuestring[2 * k + 1]));
    int n = siam_tokenize(t, text, len, got);
    int ok = n == cJSON_GetArraySize(want);
    const cJSON *w = want->child;
    for (int k = 0; ok && k < n; k++, w = w->next) ok = got[k] == w->valueint;
    if (!ok && bad++ < 5) {
      fprintf(stderr, "%s text %d (%.*s...):\n  got ", name, i, 60, hex->valuestring);
      for (int k = 0; k < n; k++) fprintf(stderr, "%d ", got[k]);
      fprintf(stderr, "\n  ref ");
      for (w = want->child; w; w = w->next) fprintf(stderr, "%d ", w->valueint);
      fputc('\n', stderr);
    }
    CHECK(ok, "%s: text %d differs from the reference", name, i);
    free(text);
  }
  free(got);
done:
  siam_tokenizer_free(t);
  for (int k = 0; k < nv; k++) free(vocab[k]);
  free(vocab);
  cJSON_Delete(ref);
}

static void test_fixtures(void) {
  static const char *MODELS[] = {"hf_uncased_prefixed", "st_a_mean_norm_f16", "st_all4_nocjk_f16",
                                 "st_cased_mean_plain", "st_cls_relu_keras", "st_max_trunc16_bf16",
                                 "st_sqrtlen_stripaccents"};
  cJSON *tj = read_json("tests/fixtures/texts.json");
  const cJSON *texts = cJSON_GetObjectItemCaseSensitive(tj, "texts_hex");
  if (!cJSON_IsArray(texts)) {
    printf("test_tokenizer: no tests/fixtures/texts.json, reference check skipped\n");
    cJSON_Delete(tj);
    return;
  }
  for (size_t m = 0; m < sizeof MODELS / sizeof MODELS[0]; m++) check_fixture(MODELS[m], texts);
  cJSON_Delete(tj);
}

/* ---- long words: streamed in segments (issue 12) ---------------------------- */

extern size_t siam_tokenizer_segment;  /* model/tokenizer.c: words longer are streamed */
extern int siam_alloc_counting;        /* model/common.c: byte counting */
extern size_t siam_alloc_now, siam_alloc_peak;

/* A cut before a code point segment_break accepts (combining class 0, below
** U+0900) is safe only if no canonical composition has such a code point as
** a later part: checked over every code point's full decomposition. */
static void test_segment_breaks(void) {
  int bad = 0;
  for (int32_t p = 0; p <= 0x10FFFF; p++) {
    int32_t d[8];
    utf8proc_ssize_t k = utf8proc_decompose_char(p, d, 8, UTF8PROC_DECOMPOSE, NULL);
    if (k < 2 || k > 8) continue;
    for (int i = 1; i < k; i++)
      if (d[i] < 0x900 && utf8proc_get_property(d[i])->combining_class == 0) {
        if (bad++ < 5) fprintf(stderr, "U+%04X decomposes with starter U+%04X as a later part\n", p, d[i]);
      }
  }
  CHECK(bad == 0, "%d compositions would join across a segment break", bad);
}

/* Random long words from pieces that exercise every step (accents composed
** and decomposed, U+0130, marks, punctuation, Greek final sigma, specials'
** brackets, vocab pieces): the streamed path gives the whole-word path's ids. */
static void test_long_words(void) {
  static const char *bits[] = {"a", "b", "un", "aff", "able", "hello", "e\xcc\x81", "\xc3\xa9", "\xc3\x89", ",",
                               ".", "!", "[", "]", "\xc4\xb0", "\xcc\x87", "\xce\xbf\xce\xb4\xce\xbf\xce\xa3",
                               "x", "\xcc\x81\xcc\x96", "A", "$", "\xe4\xb8\xad", "caf\xc3\xa9", "?", "\xe0\xa4\x95",
                               "\xe0\xa4\xbe", "\xea\xb0\x80"};
  static char buf[200000];
  uint32_t seed = 12345;
  int all_ok = 1, compared = 0;
  for (int cfg = 0; cfg < 4; cfg++) {
    SiamTokenizer *t = make(base_cfg(cfg & 1, cfg >> 1, 512));
    for (int w = 0; t && w < 60; w++) {
      size_t n = 0, want = 2000 + (size_t)(w * 2711 % 150000);
      int punct_rate = w % 3 == 0 ? 0 : w % 3 == 1 ? 5 : 200;  /* no punctuation, some, a lot */
      while (n + 16 < want) {
        seed = seed * 1103515245u + 12345u;
        int pick = (int)((seed >> 8) % (sizeof bits / sizeof *bits));
        if (punct_rate == 0 && (bits[pick][0] == ',' || bits[pick][0] == '.' || bits[pick][0] == '!' ||
                                bits[pick][0] == '[' || bits[pick][0] == ']' || bits[pick][0] == '?' ||
                                bits[pick][0] == '$'))
          continue;
        if (punct_rate == 5 && bits[pick][0] == ',' && (seed >> 20) % 40) continue;
        size_t l = strlen(bits[pick]);
        memcpy(buf + n, bits[pick], l);
        n += l;
      }
      int32_t streamed[512], whole[512];
      siam_tokenizer_segment = 1024;
      int ns = siam_tokenize(t, buf, n, streamed);
      siam_tokenizer_segment = (size_t)-1;
      int nw = siam_tokenize(t, buf, n, whole);
      siam_tokenizer_segment = 1024;
      int ok = ns == nw && ns > 0 && memcmp(streamed, whole, (size_t)ns * sizeof *whole) == 0;
      if (!ok && all_ok) CHECK(ok, "config %d word %d (%zu bytes): streamed %d ids, whole %d", cfg, w, n, ns, nw);
      all_ok &= ok;
      compared++;
    }
    siam_tokenizer_free(t);
  }
  CHECK(all_ok && compared == 240, "streamed long words equal the whole-word path (%d compared)", compared);
}

/* Bytes the allocators held at most during one siam_tokenize. */
static size_t tokenize_peak(const SiamTokenizer *t, const char *text, size_t n) {
  int32_t ids[512];
  siam_alloc_now = siam_alloc_peak = 0;
  siam_alloc_counting = 1;
  int k = siam_tokenize(t, text, n, ids);
  siam_alloc_counting = 0;
  CHECK(k >= 2, "tokenize for the memory count");
  return siam_alloc_peak;
}

/* A 10 MB and a 50 MB single word cost the tokenizer a few kilobytes, as
** do long punctuation-split and accented words. */
static void test_memory(void) {
  SiamTokenizer *t = make(base_cfg(1, 1, 512)), *tc = make(base_cfg(0, 0, 512));
  size_t n = (size_t)50 << 20;
  char *buf = malloc(n);
  if (!t || !tc || !buf) goto done;
  enum { BOUND = 256 * 1024 };
  memset(buf, 'a', n);
  size_t p10 = tokenize_peak(t, buf, (size_t)10 << 20), p50 = tokenize_peak(t, buf, n);
  size_t m = (size_t)10 << 20;
  size_t p10c = tokenize_peak(tc, buf, m);
  for (size_t i = 0; i + 3 <= m; i += 3) memcpy(buf + i, "\xc3\xa9" "a", 3);  /* é a é a ... (no break before é) */
  size_t pacc = tokenize_peak(t, buf, m / 3 * 3);
  memset(buf, 'a', m);
  for (size_t i = 5000; i < m; i += 97) buf[i] = ',';
  size_t ppunct = tokenize_peak(t, buf, m);
  printf("  peak tokenizer memory: 10 MB word %zu B, 50 MB word %zu B, 10 MB cased %zu B, 10 MB accented %zu B,"
         " 10 MB with commas %zu B\n", p10, p50, p10c, pacc, ppunct);
  CHECK(p10 < BOUND && p50 < BOUND && p10c < BOUND && pacc < BOUND && ppunct < BOUND,
        "tokenizer peak memory over %d bytes", BOUND);
  siam_tokenizer_segment = (size_t)-1;  /* the whole-word path: what the old tokenizer held */
  memset(buf, 'a', (size_t)2 << 20);
  size_t old = tokenize_peak(t, buf, (size_t)2 << 20);
  siam_tokenizer_segment = 1024;
  printf("  a 2 MB word through the whole-word path (the old tokenizer): %zu B\n", old);
  CHECK(old > (size_t)16 << 20, "the whole-word path should hold the word (%zu B)", old);
done:
  free(buf);
  siam_tokenizer_free(t);
  siam_tokenizer_free(tc);
}

/* A stop check that says stop at its n-th poll. */
static int polls_left;
static int stop_after(void *ctx) {
  (void)ctx;
  return --polls_left <= 0;
}

/* Told to stop, a 50 MB text gives up at that poll: polled once per block
** of 1024 code points, so a handful of polls means a few kilobytes read. */
static void test_stop(void) {
  SiamTokenizer *t = make(base_cfg(1, 1, 512));
  size_t n = (size_t)50 << 20;
  char *buf = malloc(n);
  if (!t || !buf) goto done;
  memset(buf, 'a', n);
  int32_t ids[512];
  polls_left = 7;
  SiamStop prev = siam_stop_push(stop_after, NULL);
  int k = siam_tokenize(t, buf, n, ids);
  int stopped = siam_stop_was_requested();
  siam_stop_pop(prev);
  CHECK(k == -1 && stopped && polls_left == 0, "stopped tokenize: %d, stopped %d, polls left %d", k, stopped,
        polls_left);
  CHECK(siam_tokenize(t, buf, 4096, ids) == 3, "without a stop check it runs");
done:
  free(buf);
  siam_tokenizer_free(t);
}

int main(void) {
  test_segment_breaks();
  test_long_words();
  test_memory();
  test_stop();
  test_uncased();
  test_options();
  test_lengths();
  test_rejects();
  test_alloc_failures();
  test_linear();
  test_block_edges();
  test_fuzz_prefix();
  test_fixtures();
  return TEST_DONE();
}

/*
** fuzz_tokenizer.c — libFuzzer harness for siam_tokenize.
**
**   make fuzz-tokenizer FUZZ_SECONDS=600
**
** The input's first byte picks one of a few tokenizer option sets (cased or
** not, accents stripped or not, CJK splitting, extra special tokens, a short
** or long max_seq_length); the rest is the text, arbitrary bytes: invalid
** UTF-8, NULs, lone combining marks, literal special tokens.  The vocab is a
** real one (tests/fixtures/models/st_a_mean_norm_f16/vocab.txt, 2083 tokens).
**
** Checked on every input: the call succeeds, gives [CLS] first and [SEP]
** last, 2..max_seq_length ids, every id inside the vocab, and the same ids
** when run again (no hidden state between calls).
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../model/tokenizer.h"

#define VOCAB_PATH "tests/fixtures/models/st_a_mean_norm_f16/vocab.txt"
#define N_OPTIONS 6

static SiamTokenizer *toks[N_OPTIONS];
static int max_len[N_OPTIONS];
static int n_vocab;

/* Reads the vocab, one token a line; exits on failure (a harness, not the library). */
static char **load_vocab(const char *path, int *n) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "fuzz_tokenizer: cannot open %s (run from the repository root)\n", path);
    exit(2);
  }
  char line[1024];
  char **v = NULL;
  int count = 0, cap = 0;
  while (fgets(line, sizeof line, f)) {
    line[strcspn(line, "\r\n")] = 0;
    if (count == cap) {
      cap = cap ? 2 * cap : 1024;
      v = realloc(v, (size_t)cap * sizeof *v);
    }
    v[count++] = strdup(line);
  }
  fclose(f);
  *n = count;
  return v;
}

static void set_name(char dst[SIAM_MAX_NAME], const char *s) { snprintf(dst, SIAM_MAX_NAME, "%s", s); }

static SiamTokenizerConfig options(int k) {
  SiamTokenizerConfig c;
  memset(&c, 0, sizeof c);
  set_name(c.unk_token, "[UNK]");
  set_name(c.cls_token, "[CLS]");
  set_name(c.sep_token, "[SEP]");
  set_name(c.pad_token, "[PAD]");
  set_name(c.mask_token, "[MASK]");
  c.lowercase = k != 1 && k != 4;
  c.strip_accents = k == 0 || k == 3 || k == 5;
  c.tokenize_chinese_chars = k != 2;
  c.max_seq_length = k == 3 ? 8 : k == 5 ? 4096 : 128;
  if (k >= 4) {  /* extra specials: one in the vocab, two not, one with non-ASCII */
    c.n_extra_special = 4;
    set_name(c.extra_special[0], "[unused0]");
    set_name(c.extra_special[1], "<e1>");
    set_name(c.extra_special[2], "[X]");
    set_name(c.extra_special[3], "\xc3\xa9t\xc3\xa9");
  }
  return c;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  const char *path = getenv("SIAM_FUZZ_VOCAB");
  char **vocab = load_vocab(path ? path : VOCAB_PATH, &n_vocab);
  char err[SIAM_ERRMAX];
  for (int k = 0; k < N_OPTIONS; k++) {
    SiamTokenizerConfig c = options(k);
    max_len[k] = c.max_seq_length;
    toks[k] = siam_tokenizer_new(&c, (const char *const *)vocab, n_vocab, err);
    if (!toks[k]) {
      fprintf(stderr, "fuzz_tokenizer: option set %d: %s\n", k, err);
      exit(2);
    }
  }
  for (int i = 0; i < n_vocab; i++) free(vocab[i]);  /* the tokenizer keeps its own copy */
  free(vocab);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size == 0) return 0;
  int k = data[0] % N_OPTIONS;
  const SiamTokenizer *t = toks[k];
  /* A copy of exactly the text, so ASan sees any read past its end. */
  size_t n = size - 1;
  char *text = malloc(n ? n : 1);
  memcpy(text, data + 1, n);
  int32_t *ids = malloc((size_t)max_len[k] * sizeof *ids);
  int32_t *again = malloc((size_t)max_len[k] * sizeof *again);
  int count = siam_tokenize(t, text, n, ids);
  if (count < 2 || count > max_len[k]) abort();
  if (ids[0] != siam_tokenizer_id(t, "[CLS]", 5) || ids[count - 1] != siam_tokenizer_id(t, "[SEP]", 5)) abort();
  for (int i = 0; i < count; i++)
    if (ids[i] < 0 || ids[i] >= n_vocab) abort();
  if (siam_tokenize(t, text, n, again) != count || memcmp(ids, again, (size_t)count * sizeof *ids) != 0) abort();
  free(again);
  free(ids);
  free(text);
  return 0;
}

/*
** test_alloc.c — allocation failure at every point of model loading.
**
** Everything model/ allocates goes through siam_malloc / siam_calloc /
** siam_realloc (common.c); with siam_fail_countdown = k the k-th of them
** fails.  For k = 1, 2, 3, ... until a whole run makes fewer than k
** allocations, this test
**   - reads the fixture directory (siam_bundle_read_dir),
**   - builds the model from rows as the store does (siam_model_new, then
**     add_tensor for each tensor, add_token for each token, finish),
**   - embeds one text and tokenizes another,
** and checks that the failing call reports it (-1 or NULL with a message),
** nothing after it is used, and the run ends with the model freed.  Leaks
** show under `make sanitize` (LeakSanitizer) and `make valgrind`.
**
** Not covered: zstd, cJSON, utf8proc and OpenBLAS allocate with malloc
** themselves; their failures are reported by their return values (which the
** code checks) but cannot be injected here.
*/
#include <stdlib.h>
#include <string.h>

#include "bundle.h"
#include "model.h"
#include "testutil.h"

extern long siam_fail_countdown;

#define FIXTURE "tests/fixtures/models/st_a_mean_norm_f16"

/* The model as the store holds it: config text and, per tensor, its row. */
typedef struct {
  char *config;
  int n;
  char **names;
  const char **dtypes;
  char (*shapes)[96];
  void **frames;
  size_t *frame_n;
  SiamBundle b;         /* vocab and the raw tensors */
} Rows;

static int rows_from_fixture(Rows *r) {
  char err[SIAM_ERRMAX];
  memset(r, 0, sizeof *r);
  if (siam_bundle_read_dir(&r->b, FIXTURE, err)) {
    fprintf(stderr, "cannot read %s: %s\n", FIXTURE, err);
    return -1;
  }
  r->config = siam_config_to_json(&r->b.cfg);
  r->n = r->b.n_tensors;
  r->names = calloc((size_t)r->n, sizeof *r->names);
  r->dtypes = calloc((size_t)r->n, sizeof *r->dtypes);
  r->shapes = calloc((size_t)r->n, sizeof *r->shapes);
  r->frames = calloc((size_t)r->n, sizeof *r->frames);
  r->frame_n = calloc((size_t)r->n, sizeof *r->frame_n);
  for (int i = 0; i < r->n; i++) {
    const SiamTensor *t = &r->b.tensors[i];
    r->names[i] = t->name;
    r->dtypes[i] = siam_dtype_name(t->dtype);
    siam_shape_print(t->ndim, t->shape, r->shapes[i], sizeof r->shapes[i]);
    if (siam_blob_pack(t->data, t->nbytes, &r->frames[i], &r->frame_n[i], err)) return -1;
  }
  return 0;
}

static void rows_free(Rows *r) {
  for (int i = 0; i < r->n; i++) siam_free(r->frames[i]);
  free(r->names);
  free(r->dtypes);
  free(r->shapes);
  free(r->frames);
  free(r->frame_n);
  siam_free(r->config);
  siam_bundle_free(&r->b);
}

/* Builds the model step by step as store_load_model does.  Returns the
** finished model, or NULL with err set (the half-built one already freed). */
static SiamModel *load(const Rows *r, char *err) {
  err[0] = 0;
  SiamModel *m = siam_model_new(r->config, strlen(r->config), err);
  if (!m) return NULL;
  int rc = 0;
  for (int i = 0; rc == 0 && i < r->n; i++)
    rc = siam_model_add_tensor(m, r->names[i], r->dtypes[i], r->shapes[i], r->frames[i], r->frame_n[i], err);
  for (int i = 0; rc == 0 && i < r->b.n_vocab; i++)
    rc = siam_model_add_token(m, i, r->b.vocab[i], strlen(r->b.vocab[i]), err);
  if (rc == 0) rc = siam_model_finish(m, err);
  if (rc == 0) return m;
  siam_model_free(m);
  return NULL;
}

static const char TEXT[] = "Allocation failure at every point: Caf\xc3\xa9 na\xc3\xafve [MASK] \xe4\xb8\xad\xe6\x96\x87.";

static void test_model_load(void) {
  Rows r;
  if (rows_from_fixture(&r)) {
    CHECK(0, "fixture rows");
    return;
  }
  char err[SIAM_ERRMAX];
  SiamModel *ref = load(&r, err);
  CHECK(ref != NULL, "load without faults: %s", err);
  if (!ref) return;
  int dim = siam_model_dim(ref), max = siam_model_max_tokens(ref);
  float *want = malloc((size_t)dim * sizeof *want), *got = malloc((size_t)dim * sizeof *got);
  int32_t *ids = malloc((size_t)max * sizeof *ids);
  CHECK(siam_model_embed(ref, TEXT, sizeof TEXT - 1, want) == 0, "reference embedding");

  long k, load_failures = 0, embed_failures = 0, silent = 0, no_message = 0;
  int done = 0;
  for (k = 1; !done && k < 1000000; k++) {
    siam_fail_countdown = k;
    SiamModel *m = load(&r, err);
    int embedded = -2, tokens = -2;
    if (m) {
      embedded = siam_model_embed(m, TEXT, sizeof TEXT - 1, got);
      tokens = siam_model_tokenize(m, TEXT, sizeof TEXT - 1, ids);
    }
    done = siam_fail_countdown > 0;  /* fewer than k allocations: nothing failed */
    siam_fail_countdown = 0;
    if (!m) {
      load_failures++;
      no_message += err[0] == 0;
    } else if (embedded != 0 || tokens < 0) {
      embed_failures++;
    } else if (!done) {
      silent++;  /* an allocation failed, yet everything succeeded */
    }
    if (done) {
      CHECK(m && embedded == 0 && memcmp(got, want, (size_t)dim * sizeof *got) == 0,
            "the run with no failure gives the reference embedding");
    }
    siam_model_free(m);
  }
  printf("  model load: %ld allocation points, %ld failed the load, %ld failed embed/tokenize\n", k - 2,
         load_failures, embed_failures);
  CHECK(done, "ran out of attempts before loading succeeded");
  CHECK(silent == 0, "%ld allocation failures went unreported", silent);
  CHECK(no_message == 0, "%ld load failures without a message", no_message);
  CHECK(load_failures > 2000, "only %ld failure points in loading (2083 tokens alone)", load_failures);
  CHECK(embed_failures > 0, "embed and tokenize allocate per call and can fail");
  /* The reference model still works after all that. */
  CHECK(siam_model_embed(ref, TEXT, sizeof TEXT - 1, got) == 0 && memcmp(got, want, (size_t)dim * sizeof *got) == 0,
        "reference model unchanged");
  siam_model_free(ref);
  free(want);
  free(got);
  free(ids);
  rows_free(&r);
}

/* siam_bundle_read_dir on a sentence-transformers directory (modules.json,
** pooling, normalize): every failure reported, the bundle left empty. */
static void test_read_dir(void) {
  char err[SIAM_ERRMAX];
  SiamBundle b;
  long k, failures = 0, not_empty = 0, silent = 0;
  int done = 0;
  for (k = 1; !done && k < 1000000; k++) {
    siam_fail_countdown = k;
    err[0] = 0;
    int rc = siam_bundle_read_dir(&b, FIXTURE, err);
    done = siam_fail_countdown > 0;
    siam_fail_countdown = 0;
    if (rc == 0) {
      silent += !done;
      siam_bundle_free(&b);
    } else {
      failures++;
      not_empty += b.tensors != NULL || b.vocab != NULL || err[0] == 0;
    }
  }
  printf("  read_dir: %ld allocation points\n", k - 2);
  CHECK(done && failures > 50, "read_dir: %ld failures", failures);
  CHECK(silent == 0, "read_dir: %ld allocation failures went unreported", silent);
  CHECK(not_empty == 0, "read_dir: %ld failures left a half-filled bundle or no message", not_empty);
}

/* Config parsing, printing and the tensor list: the same, for completeness. */
static void test_config(void) {
  Rows r;
  if (rows_from_fixture(&r)) return;
  long k;
  int done = 0, silent = 0;
  for (k = 1; !done && k < 100000; k++) {
    SiamConfig cfg;
    SiamTensorSpec *specs = NULL;
    char err[SIAM_ERRMAX];
    siam_fail_countdown = k;
    int rc = siam_config_parse(&cfg, r.config, strlen(r.config), err);
    char *json = rc == 0 ? siam_config_to_json(&cfg) : NULL;
    int n = json ? siam_config_tensors(&cfg, &specs, err) : -1;
    done = siam_fail_countdown > 0;
    siam_fail_countdown = 0;
    silent += !done && n >= 0;
    siam_free(json);
    siam_free(specs);
  }
  CHECK(done && silent == 0, "config: %d allocation failures went unreported", silent);
  rows_free(&r);
}

int main(void) {
  test_model_load();
  test_read_dir();
  test_config();
  return TEST_DONE();
}

/*
** sql_reference.c — siamsql against the PyTorch reference.
**
** For every model in tests/fixtures/ref/ (written by tests/gen/gen_fixtures.py
** with PyTorch, committed so CI needs no PyTorch): import its directory with
** siam_import, then for every text in tests/fixtures/texts.json check
**   siam_tokenize == the reference token ids, exactly;
**   siam_embed    ~= the reference embedding: cosine >= 0.99999 and
**                    max |diff| <= 2e-5 * max(1, max |ref|);
**   siam_similarity(model, a, b) == cosine(siam_embed(a), siam_embed(b)).
** Then the model's config is set to "compute":"bf16" by SQL, and siam_embed
** is held to tests/fixtures/ref_bf16/ (gen_bf16.py: the dense layers'
** inputs and weights rounded to bf16, the rest in float64), and likewise
** "int8" to tests/fixtures/ref_int8/ (gen_int8.py: weights per channel and
** inputs per row quantized, the sums exact): per text a cosine bound, and
** over the texts a distance to the mode's reference that float32 results
** do not meet on any fixture; the cosine to the float32 reference is
** printed.
*/
#include <cjson/cJSON.h>
#include <dirent.h>
#include <math.h>

#include "sqlutil.h"

typedef struct {
  unsigned char *bytes;
  int len;
} Text;

static int hexval(int c) { return c <= '9' ? c - '0' : (c | 32) - 'a' + 10; }

static Text *load_texts(int *n) {
  char *json = read_file("tests/fixtures/texts.json", NULL);
  cJSON *root = json ? cJSON_Parse(json) : NULL;
  cJSON *arr = cJSON_GetObjectItemCaseSensitive(root, "texts_hex");
  *n = cJSON_GetArraySize(arr);
  Text *t = calloc((size_t)*n + 1, sizeof *t);
  int i = 0;
  const cJSON *h;
  cJSON_ArrayForEach(h, arr) {
    size_t len = strlen(h->valuestring) / 2;
    t[i].bytes = malloc(len + 1);
    for (size_t k = 0; k < len; k++)
      t[i].bytes[k] = (unsigned char)(hexval(h->valuestring[2 * k]) * 16 + hexval(h->valuestring[2 * k + 1]));
    t[i++].len = (int)len;
  }
  cJSON_Delete(root);
  free(json);
  return t;
}

/* Binds a text as TEXT when it is NUL-free, else as a BLOB of raw bytes. */
static void bind_text(sqlite3_stmt *st, int i, const Text *t) {
  if (memchr(t->bytes, 0, (size_t)t->len))
    sqlite3_bind_blob(st, i, t->bytes, t->len, SQLITE_STATIC);
  else
    sqlite3_bind_text(st, i, (const char *)t->bytes, t->len, SQLITE_STATIC);
}

static int ids_equal(const char *got_json, const cJSON *want) {
  cJSON *got = cJSON_Parse(got_json);
  int same = cJSON_IsArray(got) && cJSON_GetArraySize(got) == cJSON_GetArraySize(want);
  for (int i = 0; same && i < cJSON_GetArraySize(want); i++)
    same = cJSON_GetArrayItem(got, i)->valueint == cJSON_GetArrayItem(want, i)->valueint;
  cJSON_Delete(got);
  return same;
}

static double cosine(const float *a, const double *b, int n) {
  double dot = 0, na = 0, nb = 0;
  for (int i = 0; i < n; i++) {
    dot += a[i] * b[i];
    na += (double)a[i] * a[i];
    nb += b[i] * b[i];
  }
  return na == 0 && nb == 0 ? 1 : dot / sqrt(na * nb);
}

/* siam_embed (and siam_tokenize) of every text against want; also, where
** f32 is given (a bf16 or int8 run), the worst cosine to the float32
** reference. */
static void compare(sqlite3 *db, const char *name, const char *mode, const cJSON *ids, const cJSON *embs,
                    const cJSON *f32, const Text *texts, int n_texts) {
  sqlite3_stmt *st = NULL;
  sqlite3_prepare_v2(db, "SELECT siam_tokenize(?1, ?2), siam_embed(?1, ?2)", -1, &st, NULL);
  double worst_cos = 1, worst_diff = 0, worst_f32 = 1, to_mode = 0, f32_to_mode = 0;
  int token_mismatches = 0, emb_failures = 0, errors = 0;
  for (int i = 0; i < n_texts; i++) {
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    bind_text(st, 2, &texts[i]);
    if (sqlite3_step(st) != SQLITE_ROW) {
      if (errors++ < 3) CHECK(0, "%s %s text %d: %s", name, mode, i, sqlite3_errmsg(db));
      sqlite3_reset(st);
      continue;
    }
    const char *got_ids = (const char *)sqlite3_column_text(st, 0);
    const cJSON *want_ids = cJSON_GetArrayItem(ids, i);
    if (!ids_equal(got_ids, want_ids)) {
      char *w = cJSON_PrintUnformatted(want_ids);
      if (token_mismatches++ < 3) fprintf(stderr, "%s text %d ids\n  got  %s\n  want %s\n", name, i, got_ids, w);
      free(w);
    }
    const cJSON *want = cJSON_GetArrayItem(embs, i);
    int dim = cJSON_GetArraySize(want);
    const float *got = sqlite3_column_blob(st, 1);
    if (sqlite3_column_bytes(st, 1) != 4 * dim) {
      CHECK(0, "%s text %d: embedding has %d bytes, reference %d floats", name, i, sqlite3_column_bytes(st, 1), dim);
      sqlite3_reset(st);
      continue;
    }
    double *w = malloc(sizeof(double) * (size_t)dim), maxref = 0, maxdiff = 0;
    for (int k = 0; k < dim; k++) {
      w[k] = cJSON_GetArrayItem(want, k)->valuedouble;
      maxref = fmax(maxref, fabs(w[k]));
      maxdiff = fmax(maxdiff, fabs(w[k] - got[k]));
    }
    /* bf16, int8: a value that lands within float32 error of a rounding
    ** boundary rounds one way here and the other in float64, a 2^-8
    ** change the random fixtures can amplify, so per text only a cosine
    ** bound; the distance ratio below is what tells the mode from float32. */
    /* An int8 value that flips moves a whole step of 1/255 of its row's
    ** range, so its bound is looser. */
    double c = cosine(got, w, dim), tol = f32 ? INFINITY : 2e-5 * fmax(1, maxref);
    double min_cos = !f32 ? 0.99999 : strcmp(mode, "int8") == 0 ? 0.999 : 0.9999;
    if (c < min_cos || maxdiff > tol) {
      if (emb_failures++ < 3) fprintf(stderr, "%s %s text %d: cosine %.8f, max diff %.3g (tol %.3g)\n", name, mode, i, c, maxdiff, tol);
    }
    worst_cos = fmin(worst_cos, c);
    if (f32) {
      const cJSON *r = cJSON_GetArrayItem(f32, i);
      for (int k = 0; k < dim; k++) w[k] = cJSON_GetArrayItem(r, k)->valuedouble;
      worst_f32 = fmin(worst_f32, cosine(got, w, dim));
      double d_got = 0, d_f32 = 0;
      for (int k = 0; k < dim; k++) {
        double want_k = cJSON_GetArrayItem(want, k)->valuedouble;
        d_got += (got[k] - want_k) * (got[k] - want_k);
        d_f32 += (w[k] - want_k) * (w[k] - want_k);
      }
      to_mode += sqrt(d_got);
      f32_to_mode += sqrt(d_f32);
    }
    worst_diff = fmax(worst_diff, maxdiff / fmax(1, maxref));
    free(w);
    sqlite3_reset(st);
  }
  sqlite3_finalize(st);
  CHECK(errors == 0, "%s: %d of %d texts gave an error", name, errors, n_texts);
  CHECK(token_mismatches == 0, "%s: %d of %d texts tokenized differently from the reference", name, token_mismatches, n_texts);
  CHECK(emb_failures == 0, "%s %s: %d of %d embeddings outside tolerance", name, mode, emb_failures, n_texts);
  printf("%-28s %-4s %d texts: ids %s, worst cosine %.9f, worst max|diff|/max(1,|ref|) %.2e", name, mode, n_texts,
         errors ? "ERRORS" : token_mismatches ? "DIFFER" : "equal", worst_cos, worst_diff);
  if (f32) {
    /* Summed over the texts, the distance to the mode's reference is a
    ** small part of the float32 reference's distance to it: float32
    ** results would give 1. */
    double ratio = to_mode / fmax(f32_to_mode, 1e-300);
    printf(", worst cosine to f32 %.7f, distance ratio %.3f", worst_f32, ratio);
    CHECK(ratio < 0.25, "%s %s: embeddings as far from the %s reference as %.3f of float32's distance", name, mode,
          mode, ratio);
  }
  printf("\n");

}

static void check_model(sqlite3 *db, const char *ref_path, const Text *texts, int n_texts) {
  char *json = read_file(ref_path, NULL);
  cJSON *ref = json ? cJSON_Parse(json) : NULL;
  const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(ref, "model"));
  const char *dir = cJSON_GetStringValue(cJSON_GetObjectItem(ref, "dir"));
  const cJSON *ids = cJSON_GetObjectItem(ref, "ids"), *embs = cJSON_GetObjectItem(ref, "embeddings");
  CHECK(name && dir && cJSON_GetArraySize(ids) == n_texts && cJSON_GetArraySize(embs) == n_texts,
        "%s: malformed reference file", ref_path);
  if (!name || !dir || cJSON_GetArraySize(ids) != n_texts || cJSON_GetArraySize(embs) != n_texts) goto done;

  char *imported = Q(db, "SELECT siam_import(?1, ?2)", name, dir);
  CHECK(imported && strncmp(imported, "ERROR", 5) != 0, "import %s: %s", dir, imported ? imported : "NULL");
  free(imported);

  compare(db, name, "f32", ids, embs, NULL, texts, n_texts);

  /* The Siamese score is the cosine of the two towers' outputs. */
  char *pair = Q(db, "SELECT siam_similarity(?1, ?2, ?3) - siam_similarity(siam_embed(?1, ?2), siam_embed(?1, ?3))",
                 name, "a cat sat on the mat", "the dog is not on the mat");
  CHECK(pair && fabs(atof(pair)) < 1e-9, "%s: siam_similarity(model,a,b) differs from cosine of embeddings: %s", name,
        pair ? pair : "NULL");
  free(pair);

  static const char *const modes[] = {"bf16", "int8"};
  for (size_t m = 0; m < sizeof modes / sizeof *modes; m++) {
    char path[512];
    snprintf(path, sizeof path, "tests/fixtures/ref_%s/%s.json", modes[m], name);
    char *mode_json = read_file(path, NULL);
    cJSON *mode_ref = mode_json ? cJSON_Parse(mode_json) : NULL;
    const cJSON *mode_embs = cJSON_GetObjectItem(mode_ref, "embeddings");
    CHECK(cJSON_GetArraySize(mode_embs) == n_texts, "%s: missing or malformed", path);
    char *set = Q(db, "UPDATE siam_model SET config = json_set(config, '$.compute', ?2) WHERE name = ?1", name, modes[m]);
    free(set);
    if (cJSON_GetArraySize(mode_embs) == n_texts) compare(db, name, modes[m], ids, mode_embs, embs, texts, n_texts);
    cJSON_Delete(mode_ref);
    free(mode_json);
  }
done:
  cJSON_Delete(ref);
  free(json);
}

int main(void) {
  int n_texts;
  Text *texts = load_texts(&n_texts);
  CHECK(n_texts > 0, "no texts in tests/fixtures/texts.json");
  sqlite3 *db = open_db(":memory:");
  DIR *d = opendir("tests/fixtures/ref");
  CHECK(d != NULL, "no tests/fixtures/ref directory");
  struct dirent *e;
  char *paths[64];
  int n = 0;
  while (d && (e = readdir(d)) && n < 64) {
    size_t len = strlen(e->d_name);
    if (len > 5 && strcmp(e->d_name + len - 5, ".json") == 0) {
      paths[n] = malloc(len + 32);
      sprintf(paths[n++], "tests/fixtures/ref/%s", e->d_name);
    }
  }
  if (d) closedir(d);
  CHECK(n >= 5, "expected at least 5 reference models, found %d", n);
  for (int i = 0; i < n; i++) {
    check_model(db, paths[i], texts, n_texts);
    free(paths[i]);
  }
  sqlite3_close(db);
  for (int i = 0; i < n_texts; i++) free(texts[i].bytes);
  free(texts);
  return TEST_DONE();
}

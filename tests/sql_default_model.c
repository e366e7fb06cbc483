/*
** sql_default_model.c — the shipped default model (models/default), trained
** with PyTorch by train/train.py, gives through siam_import +
** siam_embed the embeddings the trained PyTorch model gave
** (train/reference_embeddings.json: cosine >= 0.99999, same token ids).
*/
#include <cjson/cJSON.h>
#include <math.h>

#include "sqlutil.h"

int main(void) {
  char *json = read_file("train/reference_embeddings.json", NULL);
  cJSON *ref = json ? cJSON_Parse(json) : NULL;
  const cJSON *texts = cJSON_GetObjectItem(ref, "texts"), *ids = cJSON_GetObjectItem(ref, "ids"),
              *embs = cJSON_GetObjectItem(ref, "embeddings");
  int n = cJSON_GetArraySize(texts);
  CHECK(n >= 10 && cJSON_GetArraySize(embs) == n && cJSON_GetArraySize(ids) == n, "reference file malformed");
  sqlite3 *db = open_db(":memory:");
  CHECK_Q(db, "39", "SELECT siam_import('default', 'models/default')"); /* 5 embedding tensors, 16 per layer x 2, Dense 2 */
  sqlite3_stmt *st = NULL;
  sqlite3_prepare_v2(db, "SELECT siam_embed('default', ?1), siam_tokenize('default', ?1)", -1, &st, NULL);
  double worst = 1;
  for (int i = 0; i < n; i++) {
    sqlite3_bind_text(st, 1, cJSON_GetArrayItem(texts, i)->valuestring, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_ROW) {
      CHECK(0, "text %d: %s", i, sqlite3_errmsg(db));
      sqlite3_reset(st);
      continue;
    }
    const cJSON *want = cJSON_GetArrayItem(embs, i);
    int dim = cJSON_GetArraySize(want);
    const float *got = sqlite3_column_blob(st, 0);
    CHECK(sqlite3_column_bytes(st, 0) == 4 * dim, "text %d: %d bytes for %d dims", i, sqlite3_column_bytes(st, 0), dim);
    double dot = 0, ng = 0, nw = 0;
    for (int k = 0; k < dim && sqlite3_column_bytes(st, 0) == 4 * dim; k++) {
      double w = cJSON_GetArrayItem(want, k)->valuedouble;
      dot += w * got[k];
      ng += (double)got[k] * got[k];
      nw += w * w;
    }
    double cosine = dot / sqrt(ng * nw);
    worst = fmin(worst, cosine);
    CHECK(cosine >= 0.99999, "text %d: cosine %.8f with the trained PyTorch model", i, cosine);
    char *want_ids = cJSON_PrintUnformatted(cJSON_GetArrayItem(ids, i));
    const char *got_ids = (const char *)sqlite3_column_text(st, 1);
    CHECK(strcmp(got_ids, want_ids) == 0, "text %d ids\n  got  %s\n  want %s", i, got_ids, want_ids);
    free(want_ids);
    sqlite3_reset(st);
  }
  printf("default model: %d texts, worst cosine with PyTorch %.9f\n", n, worst);
  sqlite3_finalize(st);
  sqlite3_close(db);
  cJSON_Delete(ref);
  free(json);
  return TEST_DONE();
}

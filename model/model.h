/*
** model.h — a loaded model: config + tokenizer + encoder, built from the rows
** of the model tables and owned by one object.
**
**   SiamModel *m = siam_model_new(config_json, len, err);
**   for each siam_tensor row: siam_model_add_tensor(m, name, dtype, shape, blob, n, err);
**   for each siam_vocab row, by id: siam_model_add_token(m, id, token, len, err);
**   siam_model_finish(m, err);     -- every tensor present, vocab complete
**   siam_model_embed(m, text, len, out);
**   siam_model_free(m);
**
** Any failure leaves the caller to free the half-built model: nothing of it is
** ever used.
*/
#ifndef SIAM_MODEL_H
#define SIAM_MODEL_H

#include "blob.h"
#include "common.h"
#include "config.h"
#include "tensor.h"

typedef struct SiamModel SiamModel;

SiamModel *siam_model_new(const char *config_json, size_t len, char err[SIAM_ERRMAX]);

/* Memory.  siam_model_plan_bytes: what siam_model_new allocates for this
** config, parsed and checked, before any of it is allocated (-1 + err for a
** config it would refuse).  siam_model_bytes: what the model holds now, its
** tokens included (each is held twice: as added and in the tokenizer), so
** a loader can check the vocab's rows as they come. */
int siam_model_plan_bytes(const char *config_json, size_t len, size_t *bytes, char err[SIAM_ERRMAX]);
size_t siam_model_bytes(const SiamModel *m);
int siam_model_add_tensor(SiamModel *m, const char *name, const char *dtype, const char *shape_json,
                          const void *blob, size_t n, char err[SIAM_ERRMAX]);
/* The same, reading the stored frame piece by piece: the tensor is decoded
** straight into the encoder's memory, so loading needs no more than the
** model's own size plus a small buffer. */
int siam_model_add_tensor_from(SiamModel *m, const char *name, const char *dtype, const char *shape_json,
                               const SiamBlobReader *src, char err[SIAM_ERRMAX]);
int siam_model_add_token(SiamModel *m, int64_t id, const char *token, size_t len, char err[SIAM_ERRMAX]);
int siam_model_finish(SiamModel *m, char err[SIAM_ERRMAX]);

const SiamConfig *siam_model_config(const SiamModel *m);
int siam_model_dim(const SiamModel *m);
int siam_model_max_tokens(const SiamModel *m);

/* ids must hold siam_model_max_tokens entries; returns the count or -1 (OOM). */
int siam_model_tokenize(const SiamModel *m, const char *text, size_t len, int32_t *ids);

/* out holds siam_model_dim floats.  Returns 0, or -1 on allocation failure
** or when siam_stop_requested() says stop. */
int siam_model_embed(SiamModel *m, const char *text, size_t len, float *out);

/* Embeds n texts (texts[i] of lens[i] bytes) into out (n * dim floats, row
** i for text i).  Same result as siam_model_embed per text (within 1e-6),
** faster: sequences are packed into long chunks.  Returns 0, or -1 on
** allocation failure or when siam_stop_requested() says stop. */
int siam_model_embed_batch(SiamModel *m, const char *const *texts, const size_t *lens, int n, float *out);

void siam_model_free(SiamModel *m);

#endif

/*
** model.c — builds a runnable model from stored rows and checks every piece
** against the config on the way in.
**
** The config decides which tensors must exist and their shapes
** (siam_config_tensors); each row is matched to that list, decoded from its
** zstd frame, converted to float32 and written straight into the encoder's
** parameter memory.  finish() refuses a model with a tensor or a vocab id
** missing.  Only a finished model is ever handed out.
*/
#include "model.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "encoder.h"
#include "tokenizer.h"

struct SiamModel {
  SiamConfig cfg;
  SiamTensorSpec *specs;    /* (n_specs) tensors the config requires */
  int n_specs;
  unsigned char *seen;      /* (n_specs) 1 once that tensor was added */
  SiamEncoder *encoder;
  char **vocab;             /* (vocab_size) tokens, filled by add_token */
  int n_vocab;              /* tokens added so far: ids arrive 0, 1, 2, ... */
  SiamTokenizer *tokenizer; /* built by finish */
  int32_t *ids;             /* (max_tokens) scratch for embed */
  int32_t *batch_ids;       /* (B + max_tokens) a batch's ids, packed; B = encoder's batch tokens */
  const int32_t **batch_seq; /* (B) where each of its sequences starts */
  int *batch_len;           /* (B) and how long it is */
  size_t planned_bytes;     /* what plan_bytes counts: everything but the tokens */
  size_t token_bytes;       /* bytes of the tokens added so far */
};

/* Tokens per batch chunk: what siam_encoder_batch_tokens will say. */
static size_t batch_tokens(const SiamConfig *cfg) {
  size_t S = (size_t)cfg->tokenizer.max_seq_length, P = (size_t)cfg->encoder.max_position_embeddings;
  if (P < S) S = P;
  return S > 1024 ? S : 1024;
}

/* Bytes a model of cfg allocates before its tokens arrive: the encoder, the
** scratch, and per vocab entry its pointer and the tokenizer's index (the
** tokens' own bytes are counted as they come, see siam_model_bytes). */
static int plan_bytes(const SiamConfig *cfg, size_t *out, char *err) {
  size_t enc, B = batch_tokens(cfg), S = (size_t)cfg->tokenizer.max_seq_length, V = (size_t)cfg->encoder.vocab_size;
  if (siam_encoder_bytes(cfg, &enc, err)) return -1;
  size_t scratch = (S + B + S) * sizeof(int32_t) + B * (sizeof(int32_t *) + sizeof(int));
  size_t per_token = sizeof(char *) + sizeof(size_t) + sizeof(uint32_t) + 4 * sizeof(int32_t);
  if (V > (SIZE_MAX / 2 - enc - scratch) / per_token) return siam_errf(err, "vocab_size too large");
  *out = sizeof(SiamModel) + enc + scratch + V * per_token;
  return 0;
}

int siam_model_plan_bytes(const char *config_json, size_t len, size_t *bytes, char err[SIAM_ERRMAX]) {
  SiamConfig cfg;
  if (siam_config_parse(&cfg, config_json, len, err)) return -1;
  return plan_bytes(&cfg, bytes, err);
}

size_t siam_model_bytes(const SiamModel *m) { return m->planned_bytes + 2 * m->token_bytes; }

SiamModel *siam_model_new(const char *config_json, size_t len, char err[SIAM_ERRMAX]) {
  SiamModel *m = siam_calloc(1, sizeof *m);
  if (!m) {
    siam_errf(err, "out of memory");
    return NULL;
  }
  if (siam_config_parse(&m->cfg, config_json, len, err) || plan_bytes(&m->cfg, &m->planned_bytes, err)) goto fail;
  m->n_specs = siam_config_tensors(&m->cfg, &m->specs, err);
  if (m->n_specs < 0) goto fail;
  m->seen = siam_calloc((size_t)m->n_specs, 1);
  m->vocab = siam_calloc((size_t)m->cfg.encoder.vocab_size, sizeof *m->vocab);
  m->ids = siam_calloc((size_t)m->cfg.tokenizer.max_seq_length, sizeof *m->ids);
  if (!m->seen || !m->vocab || !m->ids) {
    siam_errf(err, "out of memory");
    goto fail;
  }
  m->encoder = siam_encoder_new(&m->cfg, err);
  if (!m->encoder) goto fail;
  size_t B = (size_t)siam_encoder_batch_tokens(m->encoder);
  m->batch_ids = siam_calloc(B + (size_t)m->cfg.tokenizer.max_seq_length, sizeof *m->batch_ids);
  m->batch_seq = siam_calloc(B, sizeof *m->batch_seq);
  m->batch_len = siam_calloc(B, sizeof *m->batch_len);
  if (!m->batch_ids || !m->batch_seq || !m->batch_len) {
    siam_errf(err, "out of memory");
    goto fail;
  }
  return m;
fail:
  siam_model_free(m);
  return NULL;
}

void siam_model_free(SiamModel *m) {
  if (!m) return;
  siam_encoder_free(m->encoder);
  siam_tokenizer_free(m->tokenizer);
  if (m->vocab)
    for (int i = 0; i < m->n_vocab; i++) siam_free(m->vocab[i]);
  siam_free(m->vocab);
  siam_free(m->specs);
  siam_free(m->seen);
  siam_free(m->ids);
  siam_free(m->batch_ids);
  siam_free(m->batch_seq);
  siam_free(m->batch_len);
  siam_free(m);
}

/* ---- tensors ------------------------------------------------------------- */

int siam_model_add_tensor_from(SiamModel *m, const char *name, const char *dtype, const char *shape_json,
                               const SiamBlobReader *src, char err[SIAM_ERRMAX]) {
  int i = siam_tensor_spec_find(m->specs, m->n_specs, name);
  if (i < 0) return siam_errf(err, "unexpected tensor %s (not part of the config's architecture)", name);
  if (m->seen[i]) return siam_errf(err, "tensor %s appears twice", name);
  SiamTensor t;
  int rc = siam_tensor_parse_row(&t, name, dtype, shape_json, err) || siam_shape_check(&m->specs[i], &t, err) ? -1 : 0;
  if (rc == 0) {
    size_t numel = t.nbytes / siam_dtype_size(t.dtype);
    float *dst = siam_encoder_param(m->encoder, name, numel);
    /* A tensor the forward pass does not use (pooler.*) is decoded and
    ** checked all the same, then dropped. */
    rc = dst ? siam_tensor_decode_f32(dst, numel, t.dtype, src, name, err) : siam_tensor_read_data(&t, src, err);
  }
  m->seen[i] = rc == 0;
  siam_free(t.name);
  siam_free(t.data);
  return rc;
}

int siam_model_add_tensor(SiamModel *m, const char *name, const char *dtype, const char *shape_json,
                          const void *blob, size_t n, char err[SIAM_ERRMAX]) {
  SiamBlobReader src = siam_blob_reader_mem(blob, n);
  return siam_model_add_tensor_from(m, name, dtype, shape_json, &src, err);
}

/* ---- vocabulary and finish ----------------------------------------------- */

int siam_model_add_token(SiamModel *m, int64_t id, const char *token, size_t len, char err[SIAM_ERRMAX]) {
  if (id != m->n_vocab) {
    if (id < 0)
      return siam_errf(err, "vocab id %lld is negative (ids must be 0..%d)", (long long)id,
                       m->cfg.encoder.vocab_size - 1);
    if (id < m->n_vocab) return siam_errf(err, "vocab id %lld appears twice", (long long)id);
    return siam_errf(err, "vocab has no token with id %d (ids must be 0..%d with no gaps)", m->n_vocab,
                     m->cfg.encoder.vocab_size - 1);
  }
  if (id >= m->cfg.encoder.vocab_size)
    return siam_errf(err, "vocab has more tokens than config's vocab_size %d", m->cfg.encoder.vocab_size);
  if (len == 0 || memchr(token, 0, len)) return siam_errf(err, "vocab token %lld is empty or holds a NUL", (long long)id);
  m->vocab[m->n_vocab] = siam_strndup(token, len);
  if (!m->vocab[m->n_vocab]) return siam_errf(err, "out of memory");
  m->n_vocab++;
  m->token_bytes += len + 1;
  return 0;
}

int siam_model_finish(SiamModel *m, char err[SIAM_ERRMAX]) {
  for (int i = 0; i < m->n_specs; i++)
    if (!m->seen[i]) return siam_errf(err, "missing tensor %s", m->specs[i].name);
  if (m->n_vocab != m->cfg.encoder.vocab_size)
    return siam_errf(err, "vocab has %d tokens, config expects %d", m->n_vocab, m->cfg.encoder.vocab_size);
  m->tokenizer = siam_tokenizer_new(&m->cfg.tokenizer, (const char *const *)m->vocab, m->n_vocab, err);
  if (!m->tokenizer) return -1;
  return siam_encoder_finish(m->encoder, err);
}

/* ---- running --------------------------------------------------------------- */

const SiamConfig *siam_model_config(const SiamModel *m) { return &m->cfg; }
int siam_model_dim(const SiamModel *m) { return siam_config_output_dim(&m->cfg); }
int siam_model_max_tokens(const SiamModel *m) { return m->cfg.tokenizer.max_seq_length; }

int siam_model_tokenize(const SiamModel *m, const char *text, size_t len, int32_t *ids) {
  return siam_tokenize(m->tokenizer, text, len, ids);
}

int siam_model_embed(SiamModel *m, const char *text, size_t len, float *out) {
  int n = siam_tokenize(m->tokenizer, text, len, m->ids);
  if (n < 0) return -1;
  return siam_encoder_forward(m->encoder, m->ids, n, out);
}

/* Texts are tokenized one after another into the packed scratch until the
** next would overflow the encoder's chunk, then that chunk is encoded in one
** batched pass.  Packing leaves no padding, so the order of the texts
** changes no work and they are not sorted; each row lands at its index. */
int siam_model_embed_batch(SiamModel *m, const char *const *texts, const size_t *lens, int n, float *out) {
  int dim = siam_model_dim(m), B = siam_encoder_batch_tokens(m->encoder), S = siam_encoder_max_tokens(m->encoder);
  int first = 0, count = 0, used = 0; /* texts [first, first+count) are in the scratch, used ids */
  for (int i = 0; i <= n; i++) {
    int len = 0;
    if (i < n) {
      if (siam_stop_requested()) return -1;
      len = siam_tokenize(m->tokenizer, texts[i], lens[i], m->batch_ids + used);
      if (len < 0 || len > S) return -1; /* what siam_model_embed does; keeps used <= B */
    }
    if (count && (i == n || used + len > B)) {
      if (siam_encoder_forward_batch(m->encoder, m->batch_seq, m->batch_len, count, out + (size_t)first * dim))
        return -1;
      if (i < n) memmove(m->batch_ids, m->batch_ids + used, (size_t)len * sizeof *m->batch_ids);
      first = i, count = 0, used = 0;
    }
    if (i < n) {
      m->batch_seq[count] = m->batch_ids + used;
      m->batch_len[count++] = len;
      used += len;
    }
  }
  return 0;
}

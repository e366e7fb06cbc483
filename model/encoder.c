/*
** encoder.c — the BERT forward pass, sentence-transformers pooling, the dense
** head and L2 normalization, in float32 with every matrix product on sgemm.
**
** How it works (llm.c style):
**   - The parameters are one float allocation carved into a struct of
**     pointers.  Per-layer tensors are stacked over layers, and the query, key
**     and value weights of a layer are stored as one (3H, H) matrix, so a single
**     sgemm computes all three projections.  siam_encoder_param() hands out
**     the destination of each stored tensor inside that layout, so the fused
**     layout costs no copy.
**   - The activations are a second allocation, carved the same way and sized
**     at load time for the longest sequence; the forward pass allocates nothing
**     and so one encoder runs one forward pass at a time.
**   - Each operation is one function: outputs first, shapes last, and each
**     takes a row count T so that a batched path can reuse it.
**
** Shapes: V vocab, P positions, H hidden, NH heads, HD = H/NH, L layers,
** IM intermediate, S longest sequence, T tokens in this call.
**
** Weights are torch's nn.Linear layout, (out, in) row-major, so y = x W^T + b
** is sgemm(NoTrans, Trans).
*/
#include "encoder.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "blas.h"

/* ---- parameters and activations ------------------------------------------ */

typedef struct {
  float *wte;      /* (V, H) word embeddings */
  float *wpe;      /* (P, H) position embeddings */
  float *wtt;      /* (TT, H) token type embeddings; only row 0 is used */
  float *lnew;     /* (H) embedding LayerNorm weight */
  float *lneb;     /* (H) embedding LayerNorm bias */
  float *qkvw;     /* (L, 3H, H) query rows, then key rows, then value rows */
  float *qkvb;     /* (L, 3H) */
  float *attprojw; /* (L, H, H) attention output dense */
  float *attprojb; /* (L, H) */
  float *ln1w;     /* (L, H) attention output LayerNorm */
  float *ln1b;     /* (L, H) */
  float *fcw;      /* (L, IM, H) intermediate dense */
  float *fcb;      /* (L, IM) */
  float *fcprojw;  /* (L, H, IM) output dense */
  float *fcprojb;  /* (L, H) */
  float *ln2w;     /* (L, H) output LayerNorm */
  float *ln2b;     /* (L, H) */
  float *headw[SIAM_MAX_HEAD]; /* (out_j, in_j) dense head weights */
  float *headb[SIAM_MAX_HEAD]; /* (out_j) or NULL when the layer has no bias */
} ParameterTensors;

#define N_FIXED_PARAMS 17 /* the tensors above the head arrays, in order */

typedef struct {
  float *x;      /* (S, H) the residual stream */
  float *qkv;    /* (S, 3H) per token: query | key | value */
  float *att;    /* (S, S) one head's attention probabilities */
  float *ctx;    /* (S, H) attention output, heads side by side */
  float *proj;   /* (S, H) a projection's output before the residual add */
  float *fch;    /* (S, IM) MLP hidden */
  float *pooled; /* (D) pooled vector */
  float *head0;  /* (DH) dense head ping-pong buffers */
  float *head1;  /* (DH) */
} ActivationTensors;

#define N_ACTS 9

struct SiamEncoder {
  SiamConfig cfg;             /* copy of the config it was built for */
  int V, P, TT, H, NH, L, IM; /* sizes from cfg.encoder */
  int S;                      /* longest sequence: min(max_seq_length, P) */
  int D;                      /* pooled width: H times the pooling modes */
  int DH;                     /* widest dense head output (>= 1) */
  int dim;                    /* output width */
  ParameterTensors params;    /* carved from param_memory */
  float *param_memory;        /* the one parameter allocation */
  size_t num_parameters;      /* floats in param_memory */
  ActivationTensors acts;     /* carved from act_memory */
  float *act_memory;          /* the one activation arena */
  int finished;               /* 1 once siam_encoder_finish succeeded */
};

/* ---- sizes --------------------------------------------------------------- */

/* a*b*c floats with overflow check; 0 or -1. */
static int size3(size_t *out, size_t a, size_t b, size_t c) {
  size_t ab;
  return siam_mul_size(a, b, &ab) || siam_mul_size(ab, c, out) ? -1 : 0;
}

/* Sum of n sizes with overflow check; 0 or -1. */
static int size_sum(size_t *out, const size_t *sizes, int n) {
  size_t total = 0;
  for (int i = 0; i < n; i++) {
    if (sizes[i] > SIZE_MAX / sizeof(float) - total) return -1;
    total += sizes[i];
  }
  *out = total;
  return 0;
}

static int pool_modes(int flags) {
  int n = 0;
  for (int f = flags; f; f >>= 1) n += f & 1;
  return n;
}

static int valid_activation(SiamActivation a) { return a >= SIAM_ACT_IDENTITY && a <= SIAM_ACT_GELU_NEW; }

/* The structural checks the forward pass relies on.  siam_config_validate is
** stricter; this keeps a hand-built config from causing out-of-bounds work. */
static int check_config(const SiamConfig *c, char *err) {
  const SiamEncoderConfig *e = &c->encoder;
  if (e->vocab_size < 1 || e->hidden_size < 1 || e->num_layers < 0 || e->num_heads < 1 ||
      e->intermediate_size < 1 || e->max_position_embeddings < 1 || e->type_vocab_size < 1 ||
      c->tokenizer.max_seq_length < 1)
    return siam_errf(err, "encoder: config sizes must be positive");
  if (e->hidden_size > INT_MAX / 4 || e->intermediate_size > INT_MAX / 4)
    return siam_errf(err, "encoder: hidden_size or intermediate_size too large");
  if (e->hidden_size % e->num_heads)
    return siam_errf(err, "encoder: hidden_size %d is not a multiple of num_heads %d", e->hidden_size, e->num_heads);
  if (!valid_activation(e->activation)) return siam_errf(err, "encoder: unknown activation %d", (int)e->activation);
  if (!(e->layer_norm_eps >= 0)) return siam_errf(err, "encoder: layer_norm_eps must be >= 0");
  if (c->pooling < 1 || c->pooling > 15) return siam_errf(err, "encoder: pooling flags %d invalid", c->pooling);
  if (e->hidden_size > INT_MAX / 4 / pool_modes(c->pooling)) return siam_errf(err, "encoder: pooled width too large");
  if (c->n_head < 0 || c->n_head > SIAM_MAX_HEAD) return siam_errf(err, "encoder: %d head layers", c->n_head);
  int in = e->hidden_size * pool_modes(c->pooling);
  for (int j = 0; j < c->n_head; j++) {
    const SiamDenseConfig *d = &c->head[j];
    if (d->in_features != in)
      return siam_errf(err, "encoder: head layer %d takes %d features, previous stage gives %d", j, d->in_features, in);
    if (d->out_features < 1 || d->out_features > INT_MAX / 4)
      return siam_errf(err, "encoder: head layer %d out_features %d invalid", j, d->out_features);
    if (!valid_activation(d->activation))
      return siam_errf(err, "encoder: head layer %d has unknown activation %d", j, (int)d->activation);
    in = d->out_features;
  }
  return 0;
}

/* Floats of each parameter tensor, in ParameterTensors order (fixed ones,
** then per head layer: weight, bias).  Returns the count or -1 on overflow. */
static int param_sizes(const SiamEncoder *e, size_t sizes[N_FIXED_PARAMS + 2 * SIAM_MAX_HEAD]) {
  size_t V = e->V, P = e->P, TT = e->TT, H = e->H, L = e->L, IM = e->IM;
  int bad = 0;
  bad |= size3(&sizes[0], V, H, 1);
  bad |= size3(&sizes[1], P, H, 1);
  bad |= size3(&sizes[2], TT, H, 1);
  sizes[3] = H;
  sizes[4] = H;
  bad |= size3(&sizes[5], L, 3 * H, H);
  bad |= size3(&sizes[6], L, 3 * H, 1);
  bad |= size3(&sizes[7], L, H, H);
  bad |= size3(&sizes[8], L, H, 1);
  bad |= size3(&sizes[9], L, H, 1);
  bad |= size3(&sizes[10], L, H, 1);
  bad |= size3(&sizes[11], L, IM, H);
  bad |= size3(&sizes[12], L, IM, 1);
  bad |= size3(&sizes[13], L, H, IM);
  bad |= size3(&sizes[14], L, H, 1);
  bad |= size3(&sizes[15], L, H, 1);
  bad |= size3(&sizes[16], L, H, 1);
  int n = N_FIXED_PARAMS;
  for (int j = 0; j < e->cfg.n_head; j++) {
    const SiamDenseConfig *d = &e->cfg.head[j];
    bad |= size3(&sizes[n++], (size_t)d->out_features, (size_t)d->in_features, 1);
    sizes[n++] = d->bias ? (size_t)d->out_features : 0;
  }
  return bad ? -1 : n;
}

static int alloc_params(SiamEncoder *e, char *err) {
  size_t sizes[N_FIXED_PARAMS + 2 * SIAM_MAX_HEAD];
  int n = param_sizes(e, sizes);
  if (n < 0 || size_sum(&e->num_parameters, sizes, n)) return siam_errf(err, "encoder: parameter size overflows");
  e->param_memory = siam_calloc(e->num_parameters, sizeof(float));
  if (!e->param_memory) return siam_errf(err, "out of memory (%zu parameters)", e->num_parameters);
  ParameterTensors *p = &e->params;
  float **fixed[N_FIXED_PARAMS] = {&p->wte,  &p->wpe,      &p->wtt,      &p->lnew, &p->lneb, &p->qkvw,
                                   &p->qkvb, &p->attprojw, &p->attprojb, &p->ln1w, &p->ln1b, &p->fcw,
                                   &p->fcb,  &p->fcprojw,  &p->fcprojb,  &p->ln2w, &p->ln2b};
  float *at = e->param_memory;
  for (int i = 0; i < N_FIXED_PARAMS; i++) {
    *fixed[i] = at;
    at += sizes[i];
  }
  for (int j = 0; j < e->cfg.n_head; j++) {
    p->headw[j] = at;
    at += sizes[N_FIXED_PARAMS + 2 * j];
    p->headb[j] = e->cfg.head[j].bias ? at : NULL;
    at += sizes[N_FIXED_PARAMS + 2 * j + 1];
  }
  return 0;
}

static int alloc_acts(SiamEncoder *e, char *err) {
  size_t S = e->S, H = e->H, IM = e->IM;
  size_t sizes[N_ACTS];
  int bad = size3(&sizes[0], S, H, 1) | size3(&sizes[1], S, 3 * H, 1) | size3(&sizes[2], S, S, 1) |
            size3(&sizes[3], S, H, 1) | size3(&sizes[4], S, H, 1) | size3(&sizes[5], S, IM, 1);
  sizes[6] = (size_t)e->D;
  sizes[7] = (size_t)e->DH;
  sizes[8] = (size_t)e->DH;
  size_t total;
  if (bad || size_sum(&total, sizes, N_ACTS)) return siam_errf(err, "encoder: activation size overflows");
  e->act_memory = siam_calloc(total, sizeof(float));
  if (!e->act_memory) return siam_errf(err, "out of memory (%zu activation floats)", total);
  ActivationTensors *a = &e->acts;
  float **ptrs[N_ACTS] = {&a->x, &a->qkv, &a->att, &a->ctx, &a->proj, &a->fch, &a->pooled, &a->head0, &a->head1};
  float *at = e->act_memory;
  for (int i = 0; i < N_ACTS; i++) {
    *ptrs[i] = at;
    at += sizes[i];
  }
  return 0;
}

SiamEncoder *siam_encoder_new(const SiamConfig *cfg, char err[SIAM_ERRMAX]) {
  if (check_config(cfg, err) || siam_blas_init(err)) return NULL;
  SiamEncoder *e = siam_calloc(1, sizeof *e);
  if (!e) {
    siam_errf(err, "out of memory");
    return NULL;
  }
  e->cfg = *cfg;
  const SiamEncoderConfig *c = &cfg->encoder;
  e->V = c->vocab_size;
  e->P = c->max_position_embeddings;
  e->TT = c->type_vocab_size;
  e->H = c->hidden_size;
  e->NH = c->num_heads;
  e->L = c->num_layers;
  e->IM = c->intermediate_size;
  e->S = cfg->tokenizer.max_seq_length < e->P ? cfg->tokenizer.max_seq_length : e->P;
  e->D = e->H * pool_modes(cfg->pooling);
  e->DH = 1;
  for (int j = 0; j < cfg->n_head; j++)
    if (cfg->head[j].out_features > e->DH) e->DH = cfg->head[j].out_features;
  e->dim = cfg->n_head ? cfg->head[cfg->n_head - 1].out_features : e->D;
  if (alloc_params(e, err) || alloc_acts(e, err)) {
    siam_encoder_free(e);
    return NULL;
  }
  return e;
}

void siam_encoder_free(SiamEncoder *enc) {
  if (!enc) return;
  siam_free(enc->param_memory);
  siam_free(enc->act_memory);
  siam_free(enc);
}

int siam_encoder_dim(const SiamEncoder *enc) { return enc->dim; }

/* ---- parameter names ----------------------------------------------------- */

/* Parses "<index>." (decimal, no sign, no leading zero) below limit and moves
** *s past the dot.  Returns the index or -1. */
static int parse_index(const char **s, int limit) {
  const char *p = *s;
  long v = 0;
  if (*p < '0' || *p > '9' || (*p == '0' && p[1] != '.')) return -1;
  for (; *p >= '0' && *p <= '9'; p++) {
    v = v * 10 + (*p - '0');
    if (v >= limit) return -1;
  }
  if (*p != '.') return -1;
  *s = p + 1;
  return (int)v;
}

typedef struct {
  const char *name; /* stored name (suffix for per-layer tensors) */
  float *dst;       /* where it lives */
  size_t numel;     /* floats it must have */
} ParamSlot;

static float *find_slot(const ParamSlot *slots, int n, const char *name, size_t numel) {
  for (int i = 0; i < n; i++)
    if (strcmp(slots[i].name, name) == 0) return slots[i].numel == numel ? slots[i].dst : NULL;
  return NULL;
}

static float *embedding_param(SiamEncoder *e, const char *name, size_t numel) {
  ParameterTensors *p = &e->params;
  size_t H = e->H;
  const ParamSlot slots[] = {
      {"word_embeddings.weight", p->wte, (size_t)e->V * H},
      {"position_embeddings.weight", p->wpe, (size_t)e->P * H},
      {"token_type_embeddings.weight", p->wtt, (size_t)e->TT * H},
      {"LayerNorm.weight", p->lnew, H},
      {"LayerNorm.bias", p->lneb, H},
  };
  return find_slot(slots, (int)(sizeof slots / sizeof *slots), name, numel);
}

/* name is what follows "encoder.layer.<l>." */
static float *layer_param(SiamEncoder *e, int l, const char *name, size_t numel) {
  ParameterTensors *p = &e->params;
  size_t H = e->H, IM = e->IM, L3 = (size_t)l * 3;
  const ParamSlot slots[] = {
      {"attention.self.query.weight", p->qkvw + (L3 + 0) * H * H, H * H},
      {"attention.self.key.weight", p->qkvw + (L3 + 1) * H * H, H * H},
      {"attention.self.value.weight", p->qkvw + (L3 + 2) * H * H, H * H},
      {"attention.self.query.bias", p->qkvb + (L3 + 0) * H, H},
      {"attention.self.key.bias", p->qkvb + (L3 + 1) * H, H},
      {"attention.self.value.bias", p->qkvb + (L3 + 2) * H, H},
      {"attention.output.dense.weight", p->attprojw + l * H * H, H * H},
      {"attention.output.dense.bias", p->attprojb + l * H, H},
      {"attention.output.LayerNorm.weight", p->ln1w + l * H, H},
      {"attention.output.LayerNorm.bias", p->ln1b + l * H, H},
      {"intermediate.dense.weight", p->fcw + l * IM * H, IM * H},
      {"intermediate.dense.bias", p->fcb + l * IM, IM},
      {"output.dense.weight", p->fcprojw + l * H * IM, H * IM},
      {"output.dense.bias", p->fcprojb + l * H, H},
      {"output.LayerNorm.weight", p->ln2w + l * H, H},
      {"output.LayerNorm.bias", p->ln2b + l * H, H},
  };
  return find_slot(slots, (int)(sizeof slots / sizeof *slots), name, numel);
}

/* name is what follows "head.<j>." */
static float *head_param(SiamEncoder *e, int j, const char *name, size_t numel) {
  const SiamDenseConfig *d = &e->cfg.head[j];
  if (strcmp(name, "weight") == 0 && numel == (size_t)d->out_features * (size_t)d->in_features)
    return e->params.headw[j];
  if (strcmp(name, "bias") == 0 && numel == (size_t)d->out_features) return e->params.headb[j]; /* NULL without bias */
  return NULL;
}

float *siam_encoder_param(SiamEncoder *enc, const char *name, size_t numel) {
  static const char emb[] = "embeddings.", layer[] = "encoder.layer.", head[] = "head.";
  if (strncmp(name, emb, sizeof emb - 1) == 0) return embedding_param(enc, name + sizeof emb - 1, numel);
  if (strncmp(name, layer, sizeof layer - 1) == 0) {
    const char *rest = name + sizeof layer - 1;
    int l = parse_index(&rest, enc->L);
    return l < 0 ? NULL : layer_param(enc, l, rest, numel);
  }
  if (strncmp(name, head, sizeof head - 1) == 0) {
    const char *rest = name + sizeof head - 1;
    int j = parse_index(&rest, enc->cfg.n_head);
    return j < 0 ? NULL : head_param(enc, j, rest, numel);
  }
  return NULL;
}

/* Names the stored tensor that holds float `off` of the parameter memory
** (for error messages): the inverse of siam_encoder_param. */
static void param_name(const SiamEncoder *e, size_t off, char *buf, size_t cap) {
  static const char *const fixed[N_FIXED_PARAMS] = {
      "embeddings.word_embeddings.weight", "embeddings.position_embeddings.weight",
      "embeddings.token_type_embeddings.weight", "embeddings.LayerNorm.weight", "embeddings.LayerNorm.bias",
      "attention.self.*.weight", "attention.self.*.bias", "attention.output.dense.weight",
      "attention.output.dense.bias", "attention.output.LayerNorm.weight", "attention.output.LayerNorm.bias",
      "intermediate.dense.weight", "intermediate.dense.bias", "output.dense.weight", "output.dense.bias",
      "output.LayerNorm.weight", "output.LayerNorm.bias"};
  static const char *const qkv[3] = {"query", "key", "value"};
  size_t sizes[N_FIXED_PARAMS + 2 * SIAM_MAX_HEAD];
  int n = param_sizes(e, sizes), i = 0;
  while (i < n - 1 && off >= sizes[i]) off -= sizes[i++];
  if (i >= N_FIXED_PARAMS) {
    snprintf(buf, cap, "head.%d.%s", (i - N_FIXED_PARAMS) / 2, (i - N_FIXED_PARAMS) % 2 ? "bias" : "weight");
  } else if (i < 5) {
    snprintf(buf, cap, "%s", fixed[i]);
  } else {
    size_t per = sizes[i] / (size_t)e->L; /* floats per layer; nonzero since off lies here */
    if (i <= 6)
      snprintf(buf, cap, "encoder.layer.%zu.attention.self.%s.%s", off / per, qkv[off % per / (per / 3)],
               i == 5 ? "weight" : "bias");
    else
      snprintf(buf, cap, "encoder.layer.%zu.%s", off / per, fixed[i]);
  }
}

int siam_encoder_finish(SiamEncoder *enc, char err[SIAM_ERRMAX]) {
  /* A NaN or infinity in any weight would turn every embedding into NaNs;
  ** refuse the model here, naming the tensor, rather than at query time. */
  for (size_t i = 0; i < enc->num_parameters; i++) {
    float v = enc->param_memory[i];
    if (!isfinite(v)) {
      char name[128];
      param_name(enc, i, name, sizeof name);
      return siam_errf(err, "tensor %s holds %s", name, isnan(v) ? "NaN" : "an infinity");
    }
  }
  /* Nothing to re-lay: the query, key and value weights were written straight
  ** into their fused (3H, H) slots by siam_encoder_param. */
  enc->finished = 1;
  return 0;
}

/* ---- operations ---------------------------------------------------------- */

/* out = word[ids[t]] + type[0] + pos[t], in torch's order of additions. */
static void embedding_forward(float *out, const int32_t *ids, const float *wte, const float *wpe, const float *wtt,
                              int T, int H) {
  /* out (T, H), ids (T), wte (V, H), wpe (P, H), wtt (TT, H) */
  for (int t = 0; t < T; t++) {
    float *o = out + (size_t)t * H;
    const float *w = wte + (size_t)ids[t] * H;
    const float *p = wpe + (size_t)t * H;
    for (int i = 0; i < H; i++) o[i] = (w[i] + wtt[i]) + p[i];
  }
}

/* LayerNorm over each row; out may equal inp.  Two-pass mean and biased
** variance, as torch. */
static void layernorm_forward(float *out, const float *inp, const float *weight, const float *bias, float eps, int T,
                              int C) {
  /* out (T, C), inp (T, C), weight (C), bias (C) */
  for (int t = 0; t < T; t++) {
    const float *x = inp + (size_t)t * C;
    float *o = out + (size_t)t * C;
    float mean = 0.0f, var = 0.0f;
    for (int i = 0; i < C; i++) mean += x[i];
    mean /= (float)C;
    for (int i = 0; i < C; i++) var += (x[i] - mean) * (x[i] - mean);
    var /= (float)C;
    float rstd = 1.0f / sqrtf(var + eps);
    for (int i = 0; i < C; i++) o[i] = (x[i] - mean) * rstd * weight[i] + bias[i];
  }
}

/* out = inp weight^T + bias: the nn.Linear forward, one sgemm. */
static void matmul_forward(float *out, const float *inp, const float *weight, const float *bias, int T, int C,
                           int OC) {
  /* out (T, OC), inp (T, C), weight (OC, C), bias (OC) or NULL */
  if (bias)
    for (int t = 0; t < T; t++) memcpy(out + (size_t)t * OC, bias, (size_t)OC * sizeof *out);
  siam_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, OC, C, 1.0f, inp, C, weight, C, bias ? 1.0f : 0.0f, out, OC);
}

/* Softmax of each row in place, max subtracted first. */
static void softmax_forward(float *x, int T, int C) {
  /* x (T, C) */
  for (int t = 0; t < T; t++) {
    float *r = x + (size_t)t * C;
    float max = r[0], sum = 0.0f;
    for (int i = 1; i < C; i++)
      if (r[i] > max) max = r[i];
    for (int i = 0; i < C; i++) {
      r[i] = expf(r[i] - max);
      sum += r[i];
    }
    for (int i = 0; i < C; i++) r[i] /= sum;
  }
}

/* Multi-head self-attention over one sequence, without the output projection:
** for each head, softmax(q k^T / sqrt(HD)) v into that head's columns of out. */
static void attention_forward(float *out, float *att, const float *qkv, int T, int H, int NH) {
  /* out (T, H), att (T, T) scratch, qkv (T, 3H) */
  int HD = H / NH;
  float scale = 1.0f / sqrtf((float)HD);
  for (int h = 0; h < NH; h++) {
    const float *q = qkv + (size_t)h * HD;
    const float *k = qkv + H + (size_t)h * HD;
    const float *v = qkv + 2 * (size_t)H + (size_t)h * HD;
    siam_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, HD, scale, q, 3 * H, k, 3 * H, 0.0f, att, T);
    softmax_forward(att, T, T);
    siam_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, HD, T, 1.0f, att, T, v, 3 * H, 0.0f,
               out + (size_t)h * HD, H);
  }
}

static float gelu(float x) { return 0.5f * x * (1.0f + erff(x * 0.70710678118654752440f)); }

static float gelu_new(float x) {
  return 0.5f * x * (1.0f + tanhf(0.79788456080286535588f * (x + 0.044715f * x * x * x)));
}

/* Elementwise activation in place. */
static void activation_forward(float *x, SiamActivation act, size_t N) {
  /* x (N) */
  switch (act) {
  case SIAM_ACT_IDENTITY:
    break;
  case SIAM_ACT_RELU:
    for (size_t i = 0; i < N; i++) x[i] = x[i] > 0.0f ? x[i] : 0.0f;
    break;
  case SIAM_ACT_TANH:
    for (size_t i = 0; i < N; i++) x[i] = tanhf(x[i]);
    break;
  case SIAM_ACT_SIGMOID:
    for (size_t i = 0; i < N; i++) x[i] = 1.0f / (1.0f + expf(-x[i]));
    break;
  case SIAM_ACT_GELU:
    for (size_t i = 0; i < N; i++) x[i] = gelu(x[i]);
    break;
  case SIAM_ACT_GELU_NEW:
    for (size_t i = 0; i < N; i++) x[i] = gelu_new(x[i]);
    break;
  }
}

/* out += inp */
static void residual_forward(float *out, const float *inp, size_t N) {
  /* out (N), inp (N) */
  for (size_t i = 0; i < N; i++) out[i] += inp[i];
}

/* sentence-transformers pooling of one sequence whose T tokens are all real:
** the selected modes concatenated in the order cls, max, mean, mean_sqrt_len. */
static void pool_forward(float *out, const float *x, int modes, int T, int H) {
  /* out (modes * H), x (T, H) */
  if (modes & SIAM_POOL_CLS) {
    memcpy(out, x, (size_t)H * sizeof *out);
    out += H;
  }
  if (modes & SIAM_POOL_MAX) {
    for (int i = 0; i < H; i++) {
      float m = x[i];
      for (int t = 1; t < T; t++)
        if (x[(size_t)t * H + i] > m) m = x[(size_t)t * H + i];
      out[i] = m;
    }
    out += H;
  }
  if (modes & (SIAM_POOL_MEAN | SIAM_POOL_MEAN_SQRT_LEN)) {
    /* Column sums go into the first of the two slots; mean_sqrt_len is
    ** derived before mean overwrites them. */
    for (int i = 0; i < H; i++) {
      float s = 0.0f;
      for (int t = 0; t < T; t++) s += x[(size_t)t * H + i];
      out[i] = s;
    }
    if (modes & SIAM_POOL_MEAN_SQRT_LEN) {
      float *msl = (modes & SIAM_POOL_MEAN) ? out + H : out;
      float root = sqrtf((float)T);
      for (int i = 0; i < H; i++) msl[i] = out[i] / root;
    }
    if (modes & SIAM_POOL_MEAN)
      for (int i = 0; i < H; i++) out[i] /= (float)T;
  }
}

/* x / max(||x||, 1e-12), as torch.nn.functional.normalize. */
static void l2norm_forward(float *x, int N) {
  /* x (N) */
  double ss = 0.0;
  for (int i = 0; i < N; i++) ss += (double)x[i] * x[i];
  float norm = (float)sqrt(ss);
  if (norm < 1e-12f) norm = 1e-12f;
  for (int i = 0; i < N; i++) x[i] /= norm;
}

/* ---- the forward pass ---------------------------------------------------- */

/* One post-LN transformer layer on the residual stream a->x. */
static void layer_forward(SiamEncoder *e, int l, int T) {
  const ParameterTensors *p = &e->params;
  ActivationTensors *a = &e->acts;
  size_t H = e->H, IM = e->IM;
  float eps = (float)e->cfg.encoder.layer_norm_eps;
  matmul_forward(a->qkv, a->x, p->qkvw + l * 3 * H * H, p->qkvb + l * 3 * H, T, e->H, 3 * e->H);
  attention_forward(a->ctx, a->att, a->qkv, T, e->H, e->NH);
  matmul_forward(a->proj, a->ctx, p->attprojw + l * H * H, p->attprojb + l * H, T, e->H, e->H);
  residual_forward(a->x, a->proj, (size_t)T * H);
  layernorm_forward(a->x, a->x, p->ln1w + l * H, p->ln1b + l * H, eps, T, e->H);
  matmul_forward(a->fch, a->x, p->fcw + l * IM * H, p->fcb + l * IM, T, e->H, e->IM);
  activation_forward(a->fch, e->cfg.encoder.activation, (size_t)T * IM);
  matmul_forward(a->proj, a->fch, p->fcprojw + l * H * IM, p->fcprojb + l * H, T, e->IM, e->H);
  residual_forward(a->x, a->proj, (size_t)T * H);
  layernorm_forward(a->x, a->x, p->ln2w + l * H, p->ln2b + l * H, eps, T, e->H);
}

/* Pooled vector through the dense head; returns where the result is. */
static const float *head_forward(SiamEncoder *e) {
  const float *y = e->acts.pooled;
  for (int j = 0; j < e->cfg.n_head; j++) {
    const SiamDenseConfig *d = &e->cfg.head[j];
    float *o = (j % 2) ? e->acts.head1 : e->acts.head0;
    matmul_forward(o, y, e->params.headw[j], e->params.headb[j], 1, d->in_features, d->out_features);
    activation_forward(o, d->activation, (size_t)d->out_features);
    y = o;
  }
  return y;
}

int siam_encoder_forward(SiamEncoder *enc, const int32_t *ids, int n, float *out) {
  if (!enc->finished || n < 1 || n > enc->S) return -1;
  for (int t = 0; t < n; t++)
    if (ids[t] < 0 || ids[t] >= enc->V) return -1;
  const ParameterTensors *p = &enc->params;
  ActivationTensors *a = &enc->acts;
  embedding_forward(a->x, ids, p->wte, p->wpe, p->wtt, n, enc->H);
  layernorm_forward(a->x, a->x, p->lnew, p->lneb, (float)enc->cfg.encoder.layer_norm_eps, n, enc->H);
  for (int l = 0; l < enc->L; l++) layer_forward(enc, l, n);
  pool_forward(a->pooled, a->x, enc->cfg.pooling, n, enc->H);
  const float *y = head_forward(enc);
  memcpy(out, y, (size_t)enc->dim * sizeof *out);
  if (enc->cfg.normalize) l2norm_forward(out, enc->dim);
  return 0;
}

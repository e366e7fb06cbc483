/*
** encoder.c — the BERT forward pass, sentence-transformers pooling, the dense
** head and L2 normalization, in float32, with every matrix product on
** siamsql's own kernel (gemm.h) and its threads (pool.h).
**
** How it works (llm.c style):
**   - The parameters are one float allocation carved into a struct of
**     pointers.  Per-layer tensors are stacked over layers, and the query, key
**     and value weights of a layer are stored as one (3H, H) matrix, so one
**     product computes all three projections.  siam_encoder_param() hands out
**     the destination of each stored tensor inside that layout, so the fused
**     layout costs no copy.
**   - The activations are a second allocation, carved the same way and sized
**     at load time for a chunk of B tokens; the forward pass allocates nothing
**     and so one encoder runs one forward pass at a time.
**   - Batches are packed, not padded: the tokens of several sequences are
**     stacked into one (T, H) matrix, so every dense layer is one product over
**     hundreds of rows, and only attention and pooling look at each
**     sequence's own rows.  A single sequence is a batch of one, so both
**     entry points run the same code.
**   - Threads: the dense layers split their columns, attention splits its
**     (sequence, head) pairs and LayerNorm and GELU split their rows over
**     the pool.  Every value is computed the same way whatever the split,
**     so results do not depend on the thread count or on batching.
**   - Each operation is one function: outputs first, shapes last, taking a
**     row count T.  The elementwise ones are compiled for AVX-512, AVX2 and
**     plain x86-64, picked at load time (SIAM_SIMD), and use exp and erf
**     written so that gcc vectorizes them (exp_approx, erfc_approx).
**
** Shapes: V vocab, P positions, H hidden, NH heads, HD = H/NH, L layers,
** IM intermediate, S longest sequence, B tokens per chunk (>= S), T tokens
** in this chunk.
**
** Weights arrive in torch's nn.Linear layout, (out, in) row-major, and
** siam_encoder_finish transposes every matrix to (in, out), the layout
** siam_linear streams row by row.
*/
#include "encoder.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "gemm.h"
#include "gemm_bf16.h"
#include "gemm_int8.h"
#include "pool.h"

/* Tokens per chunk of a batch: enough rows for the dense kernel to run near
** its peak, few enough that the activations (about B * (6H + IM) floats: 15 MB for
** MiniLM, 31 MB for BERT-base) stay small beside the weights. */
#define BATCH_TOKENS 1024

/* At most this many threads share the attention of a chunk (each needs its
** own scratch, S * (S + HD) floats: 1.2 MB for BERT-base). */
#define MAX_ATT_PARTS 8

/* Row-wise work (LayerNorm, GELU) is split over threads only for chunks of
** at least this many tokens: a short query's rows take microseconds. */
#define MT_MIN_ROWS 64
#define MT_MIN_ACTIVATIONS 8192 /* values of GELU worth splitting over threads */
#define MT_MIN_ATTENTION 65536  /* T * T * H: attention worth splitting over threads (T = 16 is) */

/* Elementwise loops: one clone per ISA level, chosen once by the loader, so
** the .so runs on any x86-64 and uses AVX-512 where there is one.  No
** -ffast-math: the loops are written so that vectorizing them changes no
** result (no float reductions reordered by the compiler). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define SIAM_SIMD __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default"), optimize("O3")))
#elif defined(__GNUC__) && !defined(__clang__)
#define SIAM_SIMD __attribute__((optimize("O3")))
#else
#define SIAM_SIMD
#endif

/* ---- parameters and activations ------------------------------------------ */

typedef struct {
  float *wte;      /* (V, H) word embeddings */
  float *wpe;      /* (P, H) position embeddings */
  float *wtt;      /* (TT, H) token type embeddings; only row 0 is used */
  float *lnew;     /* (H) embedding LayerNorm weight */
  float *lneb;     /* (H) embedding LayerNorm bias */
  float *qkvw;     /* (L, 3H, H) query rows, then key rows, then value rows; (L, H, 3H) after finish */
  float *qkvb;     /* (L, 3H) */
  float *attprojw; /* (L, H, H) attention output dense; transposed by finish */
  float *attprojb; /* (L, H) */
  float *ln1w;     /* (L, H) attention output LayerNorm */
  float *ln1b;     /* (L, H) */
  float *fcw;      /* (L, IM, H) intermediate dense; (L, H, IM) after finish */
  float *fcb;      /* (L, IM) */
  float *fcprojw;  /* (L, H, IM) output dense; (L, IM, H) after finish */
  float *fcprojb;  /* (L, H) */
  float *ln2w;     /* (L, H) output LayerNorm */
  float *ln2b;     /* (L, H) */
  float *headw[SIAM_MAX_HEAD]; /* (out_j, in_j) dense head weights; (in_j, out_j) after finish */
  float *headb[SIAM_MAX_HEAD]; /* (out_j) or NULL when the layer has no bias */
} ParameterTensors;

#define N_FIXED_PARAMS 17 /* the tensors above the head arrays, in order */

typedef struct {
  float *x;      /* (B, H) the residual stream */
  float *qkv;    /* (B, 3H) per token: query | key | value */
  float *att;    /* (n_att, S, S + HD) per part: one head's scores, and its keys transposed */
  float *ctx;    /* (B, H) attention output, heads side by side */
  float *proj;   /* (B, H) a projection's output before the residual add */
  float *fch;    /* (B, IM) MLP hidden */
  float *pooled; /* (D) pooled vector */
  float *head0;  /* (DH) dense head ping-pong buffers */
  float *head1;  /* (DH) */
} ActivationTensors;

#define N_ACTS 9

/* A layer's four dense products, in the order the forward pass runs them. */
enum { DENSE_QKV, DENSE_ATTPROJ, DENSE_FC, DENSE_FCPROJ, N_DENSE };

/* For a "compute" other than f32: the layers' dense weights rounded to bf16
** (gemm_bf16.h) or quantized to int8 (gemm_int8.h) and packed for their
** kernel by siam_encoder_finish, and the scratch the rows of x are rounded
** or quantized into.  The float32 weights stay beside them. */
typedef struct {
  unsigned char *w[N_DENSE]; /* L packed matrices of each kind (layer_packed_bytes each); NULL for f32 */
  unsigned char *scratch;    /* rows of x in the model's precision */
} PackedWeights;

#define N_PACKED (N_DENSE + 1) /* the parts of packed_memory: the four kinds and the scratch */

struct SiamEncoder {
  SiamConfig cfg;             /* copy of the config it was built for */
  int V, P, TT, H, NH, L, IM; /* sizes from cfg.encoder */
  int S;                      /* longest sequence: min(max_seq_length, P) */
  int B;                      /* tokens per chunk: max(S, BATCH_TOKENS) */
  int D;                      /* pooled width: H times the pooling modes */
  int DH;                     /* widest dense head output (>= 1) */
  int dim;                    /* output width */
  int n_att;                  /* attention scratch areas: parts attention may be split into */
  ParameterTensors params;    /* carved from param_memory */
  float *param_memory;        /* the one parameter allocation */
  size_t num_parameters;      /* floats in param_memory */
  ActivationTensors acts;     /* carved from act_memory */
  float *act_memory;          /* the one activation arena */
  PackedWeights packed;       /* carved from packed_memory */
  unsigned char *packed_memory; /* NULL for an f32 model */
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

/* The structural checks the forward pass relies on are the validator's:
** a config that passes it cannot cause out-of-bounds work. */
static int check_config(const SiamConfig *c, char *err) { return siam_config_validate(c, err); }

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
  /* Not zeroed: every parameter is written by siam_encoder_param's caller
  ** before siam_encoder_finish (the model checks that every tensor came). */
  e->param_memory = siam_malloc_big(e->num_parameters * sizeof(float));
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

/* Floats of each activation tensor, in ActivationTensors order; 0 or -1 on
** overflow. */
static int act_sizes(const SiamEncoder *e, size_t sizes[N_ACTS]) {
  size_t S = e->S, B = e->B, H = e->H, IM = e->IM;
  int bad = size3(&sizes[0], B, H, 1) | size3(&sizes[1], B, 3 * H, 1) |
            size3(&sizes[2], (size_t)e->n_att, S, S + H / (size_t)e->NH) |
            size3(&sizes[3], B, H, 1) | size3(&sizes[4], B, H, 1) | size3(&sizes[5], B, IM, 1);
  sizes[6] = (size_t)e->D;
  sizes[7] = (size_t)e->DH;
  sizes[8] = (size_t)e->DH;
  return bad ? -1 : 0;
}

static int alloc_acts(SiamEncoder *e, char *err) {
  size_t sizes[N_ACTS], total;
  if (act_sizes(e, sizes) || size_sum(&total, sizes, N_ACTS)) return siam_errf(err, "encoder: activation size overflows");
  e->act_memory = siam_malloc_big(total * sizeof(float));
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

/* K (inputs) and N (outputs) of a layer's dense product. */
static void dense_shape(const SiamEncoder *e, int kind, int *K, int *N) {
  switch (kind) {
  case DENSE_QKV: *K = e->H, *N = 3 * e->H; break;
  case DENSE_ATTPROJ: *K = e->H, *N = e->H; break;
  case DENSE_FC: *K = e->H, *N = e->IM; break;
  default: *K = e->IM, *N = e->H; break;
  }
}

static size_t round64(size_t n) { return (n + 63) / 64 * 64; }

/* Bytes of one layer's packed matrix of a kind, a multiple of 64; 0 for f32. */
static size_t layer_packed_bytes(const SiamEncoder *e, int kind) {
  int K, N;
  dense_shape(e, kind, &K, &N);
  switch (e->cfg.compute) {
  case SIAM_COMPUTE_BF16: return round64(siam_bf16_packed_elems(K, N) * sizeof(uint16_t));
  case SIAM_COMPUTE_INT8: return round64(siam_int8_packed_bytes(K, N));
  default: return 0;
  }
}

/* Bytes of scratch a product of M rows of K takes in the model's precision. */
static size_t scratch_bytes(const SiamEncoder *e, int M, int K) {
  switch (e->cfg.compute) {
  case SIAM_COMPUTE_BF16: return round64(siam_bf16_scratch_elems(M, K) * sizeof(uint16_t));
  case SIAM_COMPUTE_INT8: return round64(siam_int8_scratch_bytes(M, K));
  default: return 0;
  }
}

/* Bytes of each part of packed_memory, in PackedWeights order (all 0 for
** an f32 model); 0 or -1 on overflow. */
static int packed_sizes(const SiamEncoder *e, size_t sizes[N_PACKED]) {
  sizes[N_DENSE] = 0;
  for (int kind = 0; kind < N_DENSE; kind++) {
    int K, N;
    dense_shape(e, kind, &K, &N);
    if (size3(&sizes[kind], layer_packed_bytes(e, kind), (size_t)e->L, 1)) return -1;
    size_t scratch = scratch_bytes(e, e->B, K);
    if (scratch > sizes[N_DENSE]) sizes[N_DENSE] = scratch;
  }
  return 0;
}

static int alloc_packed(SiamEncoder *e, char *err) {
  size_t sizes[N_PACKED], total;
  if (packed_sizes(e, sizes) || size_sum(&total, sizes, N_PACKED))
    return siam_errf(err, "encoder: packed weight size overflows");
  if (!total) return 0;
  e->packed_memory = siam_malloc_big(total);
  if (!e->packed_memory) return siam_errf(err, "out of memory (%zu bytes of packed weights)", total);
  PackedWeights *pw = &e->packed;
  unsigned char **ptrs[N_PACKED] = {&pw->w[0], &pw->w[1], &pw->w[2], &pw->w[3], &pw->scratch};
  unsigned char *at = e->packed_memory;
  for (int i = 0; i < N_PACKED; i++) {
    *ptrs[i] = sizes[i] ? at : NULL;
    at += sizes[i];
  }
  return 0;
}

/* The sizes the config gives (cfg already checked). */
static void derive_sizes(SiamEncoder *e, const SiamConfig *cfg) {
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
  e->B = e->S > BATCH_TOKENS ? e->S : BATCH_TOKENS;
  e->D = siam_config_pooled_dim(cfg);
  e->DH = 1;
  for (int j = 0; j < cfg->n_head; j++)
    if (cfg->head[j].out_features > e->DH) e->DH = cfg->head[j].out_features;
  e->dim = cfg->n_head ? cfg->head[cfg->n_head - 1].out_features : e->D;
  e->n_att = siam_pool_width() < MAX_ATT_PARTS ? siam_pool_width() : MAX_ATT_PARTS;
}

int siam_encoder_bytes(const SiamConfig *cfg, size_t *bytes, char err[SIAM_ERRMAX]) {
  if (check_config(cfg, err)) return -1;
  SiamEncoder e;
  memset(&e, 0, sizeof e);
  derive_sizes(&e, cfg);
  size_t params[N_FIXED_PARAMS + 2 * SIAM_MAX_HEAD], acts[N_ACTS], packed[N_PACKED], n_params, n_acts, n_packed;
  int n = param_sizes(&e, params);
  if (n < 0 || size_sum(&n_params, params, n) || act_sizes(&e, acts) || size_sum(&n_acts, acts, N_ACTS) ||
      packed_sizes(&e, packed) || size_sum(&n_packed, packed, N_PACKED) ||
      n_params > (SIZE_MAX - sizeof e - n_packed) / sizeof(float) - n_acts)
    return siam_errf(err, "encoder: size overflows");
  *bytes = sizeof e + (n_params + n_acts) * sizeof(float) + n_packed;
  return 0;
}

SiamEncoder *siam_encoder_new(const SiamConfig *cfg, char err[SIAM_ERRMAX]) {
  if (check_config(cfg, err)) return NULL;
  SiamEncoder *e = siam_calloc(1, sizeof *e);
  if (!e) {
    siam_errf(err, "out of memory");
    return NULL;
  }
  derive_sizes(e, cfg);
  if (alloc_params(e, err) || alloc_acts(e, err) || alloc_packed(e, err)) {
    siam_encoder_free(e);
    return NULL;
  }
  return e;
}

void siam_encoder_free(SiamEncoder *enc) {
  if (!enc) return;
  siam_free(enc->param_memory);
  siam_free(enc->act_memory);
  siam_free(enc->packed_memory);
  siam_free(enc);
}

int siam_encoder_dim(const SiamEncoder *enc) { return enc->dim; }

const char *siam_compute_kernel(SiamCompute c) {
  switch (c) {
  case SIAM_COMPUTE_BF16: return siam_bf16_kernel_name(siam_bf16_kernel());
  case SIAM_COMPUTE_INT8: return siam_int8_kernel_name(siam_int8_kernel());
  default: return siam_linear_native() ? "avx512" : "portable";
  }
}

int siam_encoder_max_tokens(const SiamEncoder *enc) { return enc->S; }

int siam_encoder_batch_tokens(const SiamEncoder *enc) { return enc->B; }

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

/* m (R, C) becomes its transpose (C, R), through tmp (R * C floats).  The
** copy is one memcpy; the scatter back is split over the pool's threads by
** rows of tmp, in 32 x 32 tiles that stay in L1. */
typedef struct {
  float *m;
  const float *tmp;
  size_t R, C;
} Transpose;

static void transpose_part(void *ctx, int part, int parts) {
  enum { BLK = 32 };
  const Transpose *t = ctx;
  size_t blocks = (t->R + BLK - 1) / BLK;
  size_t b0 = blocks * part / parts, b1 = blocks * (part + 1) / parts;
  for (size_t r0 = b0 * BLK; r0 < b1 * BLK && r0 < t->R; r0 += BLK)
    for (size_t c0 = 0; c0 < t->C; c0 += BLK)
      for (size_t r = r0; r < t->R && r < r0 + BLK; r++)
        for (size_t c = c0; c < t->C && c < c0 + BLK; c++) t->m[c * t->R + r] = t->tmp[r * t->C + c];
}

static void transpose(float *m, float *tmp, size_t R, size_t C) {
  memcpy(tmp, m, R * C * sizeof *m);
  Transpose t = {m, tmp, R, C};
  siam_pool_run(transpose_part, &t, (int)(R / 32 + 1));
}

/* Layer l's float32 weight (K, N after relayout) and bias of a dense kind:
** each kind's tensors are stacked over the layers. */
static void dense_params(const SiamEncoder *e, int kind, size_t l, const float **weight, const float **bias) {
  const ParameterTensors *p = &e->params;
  const float *const w[N_DENSE] = {p->qkvw, p->attprojw, p->fcw, p->fcprojw};
  const float *const b[N_DENSE] = {p->qkvb, p->attprojb, p->fcb, p->fcprojb};
  int K, N;
  dense_shape(e, kind, &K, &N);
  *weight = w[kind] + l * (size_t)K * (size_t)N;
  *bias = b[kind] + l * (size_t)N;
}

static const void *dense_packed(const SiamEncoder *e, int kind, size_t l) {
  const unsigned char *w = e->packed.w[kind];
  return w ? w + l * layer_packed_bytes(e, kind) : NULL;
}

typedef struct {
  SiamEncoder *e;
  int kind;
} PackJob;

/* The layers' dense weights, now (in, out), rounded or quantized and packed;
** one layer per part. */
static void pack_part(void *ctx, int part, int parts) {
  const PackJob *job = ctx;
  SiamEncoder *e = job->e;
  int K, N;
  dense_shape(e, job->kind, &K, &N);
  for (size_t l = (size_t)e->L * part / parts; l < (size_t)e->L * (part + 1) / parts; l++) {
    void *dst = e->packed.w[job->kind] + l * layer_packed_bytes(e, job->kind);
    const float *weight, *bias;
    dense_params(e, job->kind, l, &weight, &bias);
    if (e->cfg.compute == SIAM_COMPUTE_BF16) siam_bf16_pack(dst, weight, K, N);
    else siam_int8_pack(dst, weight, K, N);
  }
}

static void pack_weights(SiamEncoder *e) {
  for (int kind = 0; kind < N_DENSE; kind++) {
    if (!e->packed.w[kind]) continue;
    PackJob job = {e, kind};
    siam_pool_run(pack_part, &job, e->L);
  }
}

/* Every weight matrix from (out, in) to (in, out).  0 or -1 (out of memory). */
static int relayout(SiamEncoder *e) {
  ParameterTensors *p = &e->params;
  size_t H = e->H, IM = e->IM, most = 3 * H * H > IM * H ? 3 * H * H : IM * H;
  for (int j = 0; j < e->cfg.n_head; j++) {
    size_t n = (size_t)e->cfg.head[j].in_features * (size_t)e->cfg.head[j].out_features;
    if (n > most) most = n;
  }
  float *tmp = siam_malloc(most * sizeof *tmp);
  if (!tmp) return -1;
  for (size_t l = 0; l < (size_t)e->L; l++) {
    transpose(p->qkvw + l * 3 * H * H, tmp, 3 * H, H);
    transpose(p->attprojw + l * H * H, tmp, H, H);
    transpose(p->fcw + l * IM * H, tmp, IM, H);
    transpose(p->fcprojw + l * H * IM, tmp, H, IM);
  }
  for (int j = 0; j < e->cfg.n_head; j++)
    transpose(p->headw[j], tmp, (size_t)e->cfg.head[j].out_features, (size_t)e->cfg.head[j].in_features);
  siam_free(tmp);
  pack_weights(e);
  return 0;
}

/* Index of the first NaN or infinity in x[0..n), or n: a whole block is
** tested at once (all exponent bits set), so the scan runs at memory speed. */
SIAM_SIMD static size_t first_nonfinite(const float *x, size_t n) {
  enum { BLOCK = 4096 };
  for (size_t i0 = 0; i0 < n; i0 += BLOCK) {
    size_t i1 = n - i0 < BLOCK ? n : i0 + BLOCK;
    uint32_t any = 0;
    for (size_t i = i0; i < i1; i++) {
      uint32_t b;
      memcpy(&b, &x[i], sizeof b);
      any |= (b & 0x7f800000u) == 0x7f800000u;
    }
    if (any)
      for (size_t i = i0; i < i1; i++)
        if (!isfinite(x[i])) return i;
  }
  return n;
}

int siam_encoder_finish(SiamEncoder *enc, char err[SIAM_ERRMAX]) {
  if (enc->finished) return 0; /* the weights are laid out once */
  /* A NaN or infinity in any weight would turn every embedding into NaNs;
  ** refuse the model here, naming the tensor, rather than at query time. */
  size_t bad = first_nonfinite(enc->param_memory, enc->num_parameters);
  if (bad < enc->num_parameters) {
    char name[128];
    param_name(enc, bad, name, sizeof name);
    return siam_errf(err, "tensor %s holds %s", name, isnan(enc->param_memory[bad]) ? "NaN" : "an infinity");
  }
  /* The query, key and value weights were written straight into their fused
  ** (3H, H) slots by siam_encoder_param; now every matrix is transposed. */
  if (relayout(enc)) return siam_errf(err, "out of memory");
  enc->finished = 1;
  return 0;
}

/* ---- operations ---------------------------------------------------------- */

static inline float float_of_bits(uint32_t u) {
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}

static inline uint32_t bits_of_float(float f) {
  uint32_t u;
  memcpy(&u, &f, sizeof u);
  return u;
}

/* exp(x), written so that a loop over it vectorizes: Cody-Waite reduction
** x = n ln2 + r, |r| <= ln2/2, then Cephes expf's polynomial and 2^n put
** together from bits.  Relative error below 2 ulp (tested against exp());
** 0 below -87.3, and exp(88.3) ~ 2e38 above 88.3, never infinity.  n comes
** from rounding with a magic constant rather than a float-to-int cast, so a
** NaN gives NaN instead of undefined behaviour. */
static inline float exp_approx(float x) {
  const float magic = 12582912.0f; /* 1.5 * 2^23: adding it rounds to an integer */
  float xc = x < -87.3f ? -87.3f : x > 88.3f ? 88.3f : x;
  float big = xc * 1.44269504088896341f + magic;
  float n = big - magic;
  uint32_t scale = (bits_of_float(big) - bits_of_float(magic) + 127u) << 23; /* 2^n, n in [-126, 127] */
  float r = xc - n * 0.693359375f - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  float e = (p * r * r + r + 1.0f) * float_of_bits(scale);
  return x < -87.3f ? 0.0f : e;
}

/* erfc(z) for z >= 0 (Numerical Recipes' erfcc, fractional error < 1.2e-7
** in exact arithmetic): t exp(-z^2 - 1.26551223 + t P(t)), so that GELU's
** 1 + erf(x) = erfc(-x) keeps its precision for negative x too.  One exp:
** rounding its argument costs about (z^2 + 1.3) 6e-8 of relative error,
** 5e-7 where GELU's value is still above 1e-3 in magnitude (z < 2.5). */
static inline float erfc_approx(float z) {
  float t = 1.0f / (1.0f + 0.5f * z);
  float p = 0.17087277f;
  p = p * t - 0.82215223f;
  p = p * t + 1.48851587f;
  p = p * t - 1.13520398f;
  p = p * t + 0.27886807f;
  p = p * t - 0.18628806f;
  p = p * t + 0.09678418f;
  p = p * t + 0.37409196f;
  p = p * t + 1.00002368f;
  return t * exp_approx(t * p - 1.26551223f - z * z);
}

/* x Phi(x) = 0.5 x (1 + erf(x / sqrt 2)) */
static inline float gelu(float x) {
  float e = erfc_approx(fabsf(x) * 0.70710678118654752440f);
  return 0.5f * x * (x < 0.0f ? e : 2.0f - e);
}

/* 0.5 x (1 + tanh(u)) = x / (1 + exp(-2u)), u = sqrt(2/pi) (x + 0.044715 x^3):
** the same function, without tanh's cancellation for negative u. */
static inline float gelu_new(float x) {
  float u = 0.79788456080286535588f * (x + 0.044715f * x * x * x);
  return x / (1.0f + exp_approx(-2.0f * u));
}

/* Sum of x[0..n) in 16 interleaved partial sums added pairwise at the end:
** an order fixed by the source (the same result from every ISA clone) that
** the compiler can still vectorize. */
static inline float sum16(const float *restrict x, int n) {
  float acc[16] = {0};
  int i = 0;
  for (; i + 16 <= n; i += 16)
    for (int j = 0; j < 16; j++) acc[j] += x[i + j];
  for (int j = 0; i < n; i++, j++) acc[j] += x[i];
  for (int w = 8; w; w >>= 1)
    for (int j = 0; j < w; j++) acc[j] += acc[j + w];
  return acc[0];
}

/* Sum of (x[i] - mean)^2, in sum16's order. */
static inline float sumsq16(const float *restrict x, float mean, int n) {
  float acc[16] = {0};
  int i = 0;
  for (; i + 16 <= n; i += 16)
    for (int j = 0; j < 16; j++) acc[j] += (x[i + j] - mean) * (x[i + j] - mean);
  for (int j = 0; i < n; i++, j++) acc[j] += (x[i] - mean) * (x[i] - mean);
  for (int w = 8; w; w >>= 1)
    for (int j = 0; j < w; j++) acc[j] += acc[j + w];
  return acc[0];
}

/* Largest of x[0..n), n >= 1. */
static inline float max16(const float *restrict x, int n) {
  float acc[16];
  for (int j = 0; j < 16; j++) acc[j] = x[0];
  int i = 0;
  for (; i + 16 <= n; i += 16)
    for (int j = 0; j < 16; j++) acc[j] = x[i + j] > acc[j] ? x[i + j] : acc[j];
  for (int j = 0; i < n; i++, j++) acc[j] = x[i] > acc[j] ? x[i] : acc[j];
  for (int w = 8; w; w >>= 1)
    for (int j = 0; j < w; j++) acc[j] = acc[j + w] > acc[j] ? acc[j + w] : acc[j];
  return acc[0];
}

/* out = word[ids[t]] + type[0] + pos[t], in torch's order of additions. */
SIAM_SIMD static void embedding_forward(float *restrict out, const int32_t *ids, const float *wte,
                                        const float *wpe, const float *wtt, int T, int H) {
  /* out (T, H), ids (T), wte (V, H), wpe (P, H), wtt (TT, H) */
  for (int t = 0; t < T; t++) {
    float *restrict o = out + (size_t)t * H;
    const float *restrict w = wte + (size_t)ids[t] * H;
    const float *restrict p = wpe + (size_t)t * H;
    for (int i = 0; i < H; i++) o[i] = (w[i] + wtt[i]) + p[i];
  }
}

/* LayerNorm over each row, in place.  Two-pass mean and biased variance, as
** torch. */
SIAM_SIMD static void layernorm_forward(float *x, const float *restrict weight, const float *restrict bias,
                                        float eps, int T, int C) {
  /* x (T, C), weight (C), bias (C) */
  for (int t = 0; t < T; t++) {
    float *restrict r = x + (size_t)t * C;
    float mean = sum16(r, C) / (float)C;
    float var = sumsq16(r, mean, C) / (float)C;
    float rstd = 1.0f / sqrtf(var + eps);
    for (int i = 0; i < C; i++) r[i] = (r[i] - mean) * rstd * weight[i] + bias[i];
  }
}

/* out = inp weight + bias: the nn.Linear forward (weight transposed at
** load), on siamsql's own kernel and threads (gemm.h). */
static void matmul_forward(float *out, const float *inp, const float *weight, const float *bias, int T, int C,
                           int OC) {
  /* out (T, OC), inp (T, C), weight (C, OC), bias (OC) or NULL */
  siam_linear(out, inp, weight, bias, T, C, OC);
}

/* Layer l's dense product of a kind in its precision: out (T, N) = inp
** (T, K) W + b. */
static void dense_forward(const SiamEncoder *e, int kind, size_t l, float *out, const float *inp, int T) {
  int K, N;
  dense_shape(e, kind, &K, &N);
  const float *weight, *bias;
  dense_params(e, kind, l, &weight, &bias);
  switch (e->cfg.compute) {
  case SIAM_COMPUTE_BF16:
    siam_linear_bf16(out, inp, dense_packed(e, kind, l), bias, T, K, N, (uint16_t *)e->packed.scratch);
    break;
  case SIAM_COMPUTE_INT8: siam_linear_int8(out, inp, dense_packed(e, kind, l), bias, T, K, N, e->packed.scratch); break;
  default: matmul_forward(out, inp, weight, bias, T, K, N); break;
  }
}

/* Softmax of each row of x times scale (> 0), in place, the largest
** subtracted first.  Scaling inside the exp's loop gives the same values
** as scaling first: rounding scale * x is monotone, so the largest scaled
** value is the scaled largest value. */
SIAM_SIMD static void softmax_forward(float *x, float scale, int T, int C) {
  /* x (T, C) */
  for (int t = 0; t < T; t++) {
    float *restrict r = x + (size_t)t * C;
    float max = scale * max16(r, C);
    for (int i = 0; i < C; i++) r[i] = exp_approx(scale * r[i] - max);
    float inv = 1.0f / sum16(r, C);
    for (int i = 0; i < C; i++) r[i] *= inv;
  }
}

/* kt (HD, T) = the transpose of k's first HD columns (T rows, stride ld).
** Rows of kt in the inner loop: contiguous stores, and gathers where the
** CPU has them. */
SIAM_SIMD static void transpose_keys(float *restrict kt, const float *restrict k, int T, int HD, int ld) {
  for (int d = 0; d < HD; d++)
    for (int t = 0; t < T; t++) kt[(size_t)d * T + t] = k[(size_t)t * ld + d];
}

/* One head of self-attention over one sequence: softmax(q k^T / sqrt(HD)) v
** into that head's HD columns of out, with both products on the calling
** thread (the caller spreads heads over threads). */
static void attention_head(float *out, float *scratch, const float *qkv, int T, int H, int HD, int h) {
  /* out (T, H), scratch (T * T + HD * T), qkv (T, 3H) */
  const float *q = qkv + (size_t)h * HD, *k = q + H, *v = q + 2 * (size_t)H;
  float *scores = scratch, *kt = scratch + (size_t)T * T;
  transpose_keys(kt, k, T, HD, 3 * H);
  siam_matmul(scores, T, q, 3 * H, kt, T, T, HD, T);
  softmax_forward(scores, 1.0f / sqrtf((float)HD), T, T);
  siam_matmul(out + (size_t)h * HD, H, scores, T, v, 3 * H, T, T, HD);
}

/* The attention of every sequence of a chunk, split over threads by
** (sequence, head) pairs, each part with its own scratch. */
typedef struct {
  SiamEncoder *e;
  const int *lens;
  int n;
} AttentionJob;

static void attention_part(void *ctx, int part, int parts) {
  const AttentionJob *job = ctx;
  SiamEncoder *e = job->e;
  ActivationTensors *a = &e->acts;
  size_t H = e->H, HD = H / e->NH;
  float *scratch = a->att + (size_t)part * e->S * (e->S + HD);
  int task = 0;
  for (size_t s = 0, off = 0; s < (size_t)job->n; off += (size_t)job->lens[s++])
    for (int h = 0; h < e->NH; h++, task++)
      if (task % parts == part)
        attention_head(a->ctx + off * H, scratch, a->qkv + off * 3 * H, job->lens[s], e->H, (int)HD, h);
}

static void attention_forward(SiamEncoder *e, const int *lens, int n, int T) {
  AttentionJob job = {e, lens, n};
  siam_pool_run(attention_part, &job, (size_t)T * T * e->H >= MT_MIN_ATTENTION ? e->n_att : 1);
}

/* GELU, the hidden layers' usual activation, over N values in place. */
SIAM_SIMD static void gelu_forward(float *restrict x, size_t N) {
  for (size_t i = 0; i < N; i++) x[i] = gelu(x[i]);
}

SIAM_SIMD static void gelu_new_forward(float *restrict x, size_t N) {
  for (size_t i = 0; i < N; i++) x[i] = gelu_new(x[i]);
}

SIAM_SIMD static void relu_forward(float *restrict x, size_t N) {
  for (size_t i = 0; i < N; i++) x[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

/* Elementwise activation in place. */
static void activation_forward(float *x, SiamActivation act, size_t N) {
  /* x (N) */
  switch (act) {
  case SIAM_ACT_IDENTITY:
    break;
  case SIAM_ACT_RELU:
    relu_forward(x, N);
    break;
  case SIAM_ACT_TANH: /* dense heads only, in practice: a few values */
    for (size_t i = 0; i < N; i++) x[i] = tanhf(x[i]);
    break;
  case SIAM_ACT_SIGMOID:
    for (size_t i = 0; i < N; i++) x[i] = 1.0f / (1.0f + expf(-x[i]));
    break;
  case SIAM_ACT_GELU:
    gelu_forward(x, N);
    break;
  case SIAM_ACT_GELU_NEW:
    gelu_new_forward(x, N);
    break;
  }
}

void siam_activation(SiamActivation act, float *x, size_t n) { activation_forward(x, act, n); }

/* out += inp */
SIAM_SIMD static void residual_forward(float *restrict out, const float *restrict inp, size_t N) {
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

/* Row-wise steps of a layer, split over threads by rows. */
typedef enum { ADD_NORM_1, ACTIVATE, ADD_NORM_2 } RowStep;

typedef struct {
  SiamEncoder *e;
  int l, T;
  RowStep step;
} RowJob;

static void rows_part(void *ctx, int part, int parts) {
  const RowJob *job = ctx;
  const SiamEncoder *e = job->e;
  const ParameterTensors *p = &e->params;
  const ActivationTensors *a = &e->acts;
  size_t H = e->H, IM = e->IM, l = job->l;
  size_t t0 = (size_t)job->T * part / parts, rows = (size_t)job->T * (part + 1) / parts - t0;
  float eps = (float)e->cfg.encoder.layer_norm_eps;
  switch (job->step) {
  case ADD_NORM_1:
    residual_forward(a->x + t0 * H, a->proj + t0 * H, rows * H);
    layernorm_forward(a->x + t0 * H, p->ln1w + l * H, p->ln1b + l * H, eps, (int)rows, e->H);
    break;
  case ACTIVATE:
    activation_forward(a->fch + t0 * IM, e->cfg.encoder.activation, rows * IM);
    break;
  case ADD_NORM_2:
    residual_forward(a->x + t0 * H, a->proj + t0 * H, rows * H);
    layernorm_forward(a->x + t0 * H, p->ln2w + l * H, p->ln2b + l * H, eps, (int)rows, e->H);
    break;
  }
}

static void rows_forward(SiamEncoder *e, int l, int T, RowStep step) {
  RowJob job = {e, l, T, step};
  /* GELU costs tens of flops per value: worth splitting even for a short
  ** query's few rows, which the add-and-normalize steps are not. */
  int split = step == ACTIVATE ? (size_t)T * (size_t)e->IM >= MT_MIN_ACTIVATIONS : T >= MT_MIN_ROWS;
  siam_pool_run(rows_part, &job, split ? T : 1);
}

/* One post-LN transformer layer on the residual stream a->x, which holds n
** sequences of lens[s] tokens, T in all, one after another. */
static void layer_forward(SiamEncoder *e, int l, const int *lens, int n, int T) {
  ActivationTensors *a = &e->acts;
  dense_forward(e, DENSE_QKV, (size_t)l, a->qkv, a->x, T);
  attention_forward(e, lens, n, T);
  dense_forward(e, DENSE_ATTPROJ, (size_t)l, a->proj, a->ctx, T);
  rows_forward(e, l, T, ADD_NORM_1);
  dense_forward(e, DENSE_FC, (size_t)l, a->fch, a->x, T);
  rows_forward(e, l, T, ACTIVATE);
  dense_forward(e, DENSE_FCPROJ, (size_t)l, a->proj, a->fch, T);
  rows_forward(e, l, T, ADD_NORM_2);
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

/* Encodes n sequences whose lengths sum to T <= B as one packed chunk; row
** s of out (dim floats) for sequence s.  -1 when asked to stop (polled once
** per layer: a layer of a full BERT-base chunk is a fraction of a second). */
static int chunk_forward(SiamEncoder *e, const int32_t *const *ids, const int *lens, int n, int T, float *out) {
  const ParameterTensors *p = &e->params;
  ActivationTensors *a = &e->acts;
  size_t H = e->H;
  for (size_t s = 0, off = 0; s < (size_t)n; off += (size_t)lens[s++])
    embedding_forward(a->x + off * H, ids[s], p->wte, p->wpe, p->wtt, lens[s], e->H);
  layernorm_forward(a->x, p->lnew, p->lneb, (float)e->cfg.encoder.layer_norm_eps, T, e->H);
  for (int l = 0; l < e->L; l++) {
    if (siam_stop_requested()) return -1;
    layer_forward(e, l, lens, n, T);
  }
  for (size_t s = 0, off = 0; s < (size_t)n; off += (size_t)lens[s++]) {
    float *o = out + s * (size_t)e->dim;
    pool_forward(a->pooled, a->x + off * H, e->cfg.pooling, lens[s], e->H);
    memcpy(o, head_forward(e), (size_t)e->dim * sizeof *o);
    if (e->cfg.normalize) l2norm_forward(o, e->dim);
  }
  return 0;
}

/* 0 if every sequence is 1..S valid ids; checked before any work so that a
** refused batch writes nothing. */
static int check_batch(const SiamEncoder *e, const int32_t *const *ids, const int *lens, int n_seq) {
  if (!e->finished || n_seq < 0) return -1;
  for (int s = 0; s < n_seq; s++) {
    if (!ids[s] || lens[s] < 1 || lens[s] > e->S) return -1;
    for (int t = 0; t < lens[s]; t++)
      if (ids[s][t] < 0 || ids[s][t] >= e->V) return -1;
  }
  return 0;
}

int siam_encoder_forward_batch(SiamEncoder *enc, const int32_t *const *ids, const int *lens, int n_seq, float *out) {
  if (check_batch(enc, ids, lens, n_seq)) return -1;
  for (int s = 0; s < n_seq;) {
    int n = 0, T = 0; /* as many whole sequences as fit in B tokens; at least one, as lens <= S <= B */
    while (s + n < n_seq && T + lens[s + n] <= enc->B) T += lens[s + n++];
    if (chunk_forward(enc, ids + s, lens + s, n, T, out + (size_t)s * enc->dim)) return -1;
    s += n;
  }
  return 0;
}

int siam_encoder_forward(SiamEncoder *enc, const int32_t *ids, int n, float *out) {
  return siam_encoder_forward_batch(enc, &ids, &n, 1, out);
}

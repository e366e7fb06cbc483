/*
** test_encoder.c — the encoder against a naive double-precision one.
**
** Tiny configs are built by hand (no config.c), every tensor is filled from a
** seeded PRNG through siam_encoder_param(), and siam_encoder_forward() is
** compared with a straightforward loop implementation of the same model in
** double written below.  This checks the fast path's self-consistency; the
** comparison with PyTorch comes from the fixture tests.
**
** Also: parameter lookup (unknown names, wrong sizes, overlap), bad input,
** bad configs, allocation failure, and reuse of the activation arena; the
** batched path (siam_encoder_forward_batch, siam_model_embed_batch) against
** the single-sequence one and the reference; the vectorized activations
** against double-precision formulas.
*/
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gemm.h"
#include "pool.h"
#include "bundle.h"
#include "encoder.h"
#include "model.h"
#include "testutil.h"

extern long siam_fail_countdown; /* common.c: fault injection */

#define TOL 2e-5 /* max |float - double| allowed on any output element */

/* ---- PRNG ---------------------------------------------------------------- */

static uint64_t rng = 88172645463325252ull;

static float frand(void) { /* uniform in [-1, 1) */
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return (float)((double)(rng >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

/* ---- a reference model: the same weights, kept by the test ---------------- */

enum { QW, QB, KW, KB, VW, VB, AOW, AOB, LN1W, LN1B, IW, IB, OW, OB, LN2W, LN2B, N_LAYER_T };

static const char *const layer_names[N_LAYER_T] = {
    "attention.self.query.weight",       "attention.self.query.bias",      "attention.self.key.weight",
    "attention.self.key.bias",           "attention.self.value.weight",    "attention.self.value.bias",
    "attention.output.dense.weight",     "attention.output.dense.bias",    "attention.output.LayerNorm.weight",
    "attention.output.LayerNorm.bias",   "intermediate.dense.weight",      "intermediate.dense.bias",
    "output.dense.weight",               "output.dense.bias",              "output.LayerNorm.weight",
    "output.LayerNorm.bias"};

#define MAX_LAYERS 4

typedef struct {
  SiamConfig cfg;
  float *wte, *wpe, *wtt, *lnw, *lnb;        /* (V,H) (P,H) (TT,H) (H) (H) */
  float *layer[MAX_LAYERS][N_LAYER_T];       /* torch layout per tensor */
  float *hw[SIAM_MAX_HEAD], *hb[SIAM_MAX_HEAD]; /* (out,in) (out) or NULL */
} RefModel;

static size_t layer_numel(const SiamConfig *c, int k) {
  size_t H = (size_t)c->encoder.hidden_size, IM = (size_t)c->encoder.intermediate_size;
  switch (k) {
  case QW: case KW: case VW: case AOW: return H * H;
  case IW: case OW: return IM * H;
  case IB: return IM;
  default: return H;
  }
}

/* A tensor of numel values base + scale * U(-1,1), written into the encoder
** under name and returned for the reference. */
static float *fill(SiamEncoder *enc, const char *name, size_t numel, float base, float scale) {
  float *v = malloc(numel * sizeof *v);
  for (size_t i = 0; i < numel; i++) v[i] = base + scale * frand();
  float *dst = siam_encoder_param(enc, name, numel);
  CHECK(dst != NULL, "siam_encoder_param(%s, %zu) is NULL", name, numel);
  if (dst) memcpy(dst, v, numel * sizeof *v);
  return v;
}

static void fill_model(RefModel *m, SiamEncoder *enc) {
  const SiamEncoderConfig *e = &m->cfg.encoder;
  size_t H = (size_t)e->hidden_size;
  char name[128];
  m->wte = fill(enc, "embeddings.word_embeddings.weight", (size_t)e->vocab_size * H, 0, 1);
  m->wpe = fill(enc, "embeddings.position_embeddings.weight", (size_t)e->max_position_embeddings * H, 0, 0.5f);
  m->wtt = fill(enc, "embeddings.token_type_embeddings.weight", (size_t)e->type_vocab_size * H, 0, 0.5f);
  m->lnw = fill(enc, "embeddings.LayerNorm.weight", H, 1, 0.2f);
  m->lnb = fill(enc, "embeddings.LayerNorm.bias", H, 0, 0.1f);
  for (int l = 0; l < e->num_layers; l++) {
    for (int k = 0; k < N_LAYER_T; k++) {
      int is_ln_weight = k == LN1W || k == LN2W;
      int is_bias = k % 2 == 1;
      snprintf(name, sizeof name, "encoder.layer.%d.%s", l, layer_names[k]);
      m->layer[l][k] = fill(enc, name, layer_numel(&m->cfg, k), is_ln_weight ? 1.0f : 0.0f,
                            is_ln_weight ? 0.2f : is_bias ? 0.1f : 0.5f);
    }
  }
  for (int j = 0; j < m->cfg.n_head; j++) {
    const SiamDenseConfig *d = &m->cfg.head[j];
    snprintf(name, sizeof name, "head.%d.weight", j);
    m->hw[j] = fill(enc, name, (size_t)d->out_features * (size_t)d->in_features, 0, 0.5f);
    m->hb[j] = NULL;
    if (d->bias) {
      snprintf(name, sizeof name, "head.%d.bias", j);
      m->hb[j] = fill(enc, name, (size_t)d->out_features, 0, 0.1f);
    }
  }
}

/* A new encoder for c with random weights, filled through m (the double
** reference, which keeps a copy); NULL (a failed check) if it cannot be made. */
static SiamEncoder *filled_encoder(SiamConfig c, RefModel *m) {
  char err[SIAM_ERRMAX] = "";
  memset(m, 0, sizeof *m);
  m->cfg = c;
  SiamEncoder *enc = siam_encoder_new(&c, err);
  CHECK(enc != NULL, "siam_encoder_new: %s", err);
  if (enc) fill_model(m, enc);
  return enc;
}

static void free_model(RefModel *m) {
  free(m->wte);
  free(m->wpe);
  free(m->wtt);
  free(m->lnw);
  free(m->lnb);
  for (int l = 0; l < m->cfg.encoder.num_layers; l++)
    for (int k = 0; k < N_LAYER_T; k++) free(m->layer[l][k]);
  for (int j = 0; j < m->cfg.n_head; j++) {
    free(m->hw[j]);
    free(m->hb[j]);
  }
}

/* ---- naive double-precision kernels -------------------------------------- */

/* out = inp w^T + b */
static void ref_linear(double *out, const double *inp, const float *w, const float *b, int T, int C, int OC) {
  for (int t = 0; t < T; t++)
    for (int o = 0; o < OC; o++) {
      double s = b ? b[o] : 0.0;
      for (int c = 0; c < C; c++) s += inp[t * C + c] * (double)w[o * C + c];
      out[t * OC + o] = s;
    }
}

static void ref_layernorm(double *x, const float *w, const float *b, double eps, int T, int C) {
  for (int t = 0; t < T; t++) {
    double *r = x + t * C, mean = 0, var = 0;
    for (int i = 0; i < C; i++) mean += r[i];
    mean /= C;
    for (int i = 0; i < C; i++) var += (r[i] - mean) * (r[i] - mean);
    var /= C;
    for (int i = 0; i < C; i++) r[i] = (r[i] - mean) / sqrt(var + eps) * w[i] + b[i];
  }
}

static double ref_act(double x, SiamActivation a) {
  switch (a) {
  case SIAM_ACT_RELU: return x > 0 ? x : 0;
  case SIAM_ACT_TANH: return tanh(x);
  case SIAM_ACT_SIGMOID: return 1 / (1 + exp(-x));
  case SIAM_ACT_GELU: return 0.5 * x * (1 + erf(x / sqrt(2.0)));
  case SIAM_ACT_GELU_NEW: return 0.5 * x * (1 + tanh(sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
  default: return x;
  }
}

/* ctx = softmax(q k^T / sqrt(hd)) v per head; q, k, v, ctx (T, H) */
static void ref_attention(double *ctx, const double *q, const double *k, const double *v, int T, int H, int NH) {
  int hd = H / NH;
  double *p = malloc((size_t)T * sizeof *p);
  for (int h = 0; h < NH; h++)
    for (int i = 0; i < T; i++) {
      double max = -INFINITY, sum = 0;
      for (int j = 0; j < T; j++) {
        double s = 0;
        for (int d = 0; d < hd; d++) s += q[i * H + h * hd + d] * k[j * H + h * hd + d];
        p[j] = s / sqrt((double)hd);
        if (p[j] > max) max = p[j];
      }
      for (int j = 0; j < T; j++) sum += (p[j] = exp(p[j] - max));
      for (int d = 0; d < hd; d++) {
        double s = 0;
        for (int j = 0; j < T; j++) s += p[j] / sum * v[j * H + h * hd + d];
        ctx[i * H + h * hd + d] = s;
      }
    }
  free(p);
}

/* The whole model on one sequence; out holds the output dim. Returns it. */
static int ref_forward(const RefModel *m, const int32_t *ids, int T, double *out) {
  const SiamEncoderConfig *e = &m->cfg.encoder;
  int H = e->hidden_size, IM = e->intermediate_size;
  size_t th = (size_t)T * H;
  double *x = malloc(th * sizeof *x), *q = malloc(th * sizeof *q), *k = malloc(th * sizeof *k);
  double *v = malloc(th * sizeof *v), *ctx = malloc(th * sizeof *ctx), *y = malloc(th * sizeof *y);
  double *h = malloc((size_t)T * IM * sizeof *h);
  double *vec = malloc(4096 * sizeof *vec), *vec2 = malloc(4096 * sizeof *vec2);
  for (int t = 0; t < T; t++)
    for (int i = 0; i < H; i++)
      x[t * H + i] = (double)m->wte[ids[t] * H + i] + m->wtt[i] + m->wpe[t * H + i];
  ref_layernorm(x, m->lnw, m->lnb, e->layer_norm_eps, T, H);
  for (int l = 0; l < e->num_layers; l++) {
    float *const *w = m->layer[l];
    ref_linear(q, x, w[QW], w[QB], T, H, H);
    ref_linear(k, x, w[KW], w[KB], T, H, H);
    ref_linear(v, x, w[VW], w[VB], T, H, H);
    ref_attention(ctx, q, k, v, T, H, e->num_heads);
    ref_linear(y, ctx, w[AOW], w[AOB], T, H, H);
    for (size_t i = 0; i < th; i++) x[i] += y[i];
    ref_layernorm(x, w[LN1W], w[LN1B], e->layer_norm_eps, T, H);
    ref_linear(h, x, w[IW], w[IB], T, H, IM);
    for (size_t i = 0; i < (size_t)T * IM; i++) h[i] = ref_act(h[i], e->activation);
    ref_linear(y, h, w[OW], w[OB], T, IM, H);
    for (size_t i = 0; i < th; i++) x[i] += y[i];
    ref_layernorm(x, w[LN2W], w[LN2B], e->layer_norm_eps, T, H);
  }
  int D = 0;
  int modes[4] = {SIAM_POOL_CLS, SIAM_POOL_MAX, SIAM_POOL_MEAN, SIAM_POOL_MEAN_SQRT_LEN};
  for (int mi = 0; mi < 4; mi++) {
    if (!(m->cfg.pooling & modes[mi])) continue;
    for (int i = 0; i < H; i++) {
      double s = 0, mx = -INFINITY;
      for (int t = 0; t < T; t++) {
        s += x[t * H + i];
        if (x[t * H + i] > mx) mx = x[t * H + i];
      }
      vec[D + i] = mi == 0 ? x[i] : mi == 1 ? mx : mi == 2 ? s / T : s / sqrt((double)T);
    }
    D += H;
  }
  for (int j = 0; j < m->cfg.n_head; j++) {
    const SiamDenseConfig *d = &m->cfg.head[j];
    ref_linear(vec2, vec, m->hw[j], m->hb[j], 1, d->in_features, d->out_features);
    for (int i = 0; i < d->out_features; i++) vec[i] = ref_act(vec2[i], d->activation);
    D = d->out_features;
  }
  double norm = 0;
  for (int i = 0; i < D; i++) norm += vec[i] * vec[i];
  norm = sqrt(norm);
  if (norm < 1e-12) norm = 1e-12;
  for (int i = 0; i < D; i++) out[i] = m->cfg.normalize ? vec[i] / norm : vec[i];
  free(x), free(q), free(k), free(v), free(ctx), free(y), free(h), free(vec), free(vec2);
  return D;
}

/* ---- configs ------------------------------------------------------------- */

/* H=8, 2 heads, 2 layers, I=16, V=20, P=12, max_seq_length 10, gelu,
** pooling cls|mean, one dense tanh head 16 -> 6, normalized. */
static SiamConfig base_config(void) {
  SiamConfig c;
  memset(&c, 0, sizeof c);
  c.encoder.vocab_size = 20;
  c.encoder.hidden_size = 8;
  c.encoder.num_layers = 2;
  c.encoder.num_heads = 2;
  c.encoder.intermediate_size = 16;
  c.encoder.max_position_embeddings = 12;
  c.encoder.type_vocab_size = 2;
  c.encoder.activation = SIAM_ACT_GELU;
  c.encoder.layer_norm_eps = 1e-12;
  c.tokenizer.max_seq_length = 10;
  c.pooling = SIAM_POOL_CLS | SIAM_POOL_MEAN;
  c.n_head = 1;
  c.head[0] = (SiamDenseConfig){16, 6, 1, SIAM_ACT_TANH};
  c.normalize = 1;
  return c;
}

static int pooled_dim(const SiamConfig *c) {
  int n = 0;
  for (int f = c->pooling; f; f >>= 1) n += f & 1;
  return n * c->encoder.hidden_size;
}

/* No head, no normalization: the raw pooled vector. */
static SiamConfig bare(SiamConfig c, int pooling) {
  c.pooling = pooling;
  c.n_head = 0;
  c.normalize = 0;
  return c;
}

/* ---- tests --------------------------------------------------------------- */

static double worst_overall;

/* Builds the encoder for cfg, checks several sequences against the reference. */
static void check_forward(const char *label, SiamConfig cfg) {
  char err[SIAM_ERRMAX] = "";
  RefModel m;
  SiamEncoder *enc = filled_encoder(cfg, &m);
  if (!enc) return;
  CHECK(siam_encoder_finish(enc, err) == 0, "%s: finish: %s", label, err);
  int S = cfg.tokenizer.max_seq_length < cfg.encoder.max_position_embeddings ? cfg.tokenizer.max_seq_length
                                                                            : cfg.encoder.max_position_embeddings;
  int dim = siam_encoder_dim(enc);
  int want_dim = cfg.n_head ? cfg.head[cfg.n_head - 1].out_features : pooled_dim(&cfg);
  CHECK(dim == want_dim, "%s: dim %d, want %d", label, dim, want_dim);
  int lengths[] = {1, 2, 5, S};
  double worst = 0;
  float *out = malloc((size_t)dim * sizeof *out), *again = malloc((size_t)dim * sizeof *again);
  double *ref = malloc(4096 * sizeof *ref);
  int32_t ids[64];
  for (int li = 0; li < 4; li++) {
    int n = lengths[li];
    for (int t = 0; t < n; t++) ids[t] = (int32_t)((rng >> 20) % (uint64_t)cfg.encoder.vocab_size), frand();
    if (n > 2) ids[0] = 0, ids[n - 1] = cfg.encoder.vocab_size - 1; /* both ends of the table */
    CHECK(siam_encoder_forward(enc, ids, n, out) == 0, "%s: forward n=%d failed", label, n);
    int rd = ref_forward(&m, ids, n, ref);
    CHECK(rd == dim, "%s: reference dim %d vs %d", label, rd, dim);
    double d = 0, norm = 0;
    for (int i = 0; i < dim; i++) {
      double di = fabs(out[i] - ref[i]);
      if (!(di <= d)) d = di; /* NaN counts as worst */
      norm += (double)out[i] * out[i];
    }
    CHECK(d <= TOL, "%s: n=%d max |diff| %.3g > %.1g", label, n, d, TOL);
    if (cfg.normalize) CHECK(fabs(sqrt(norm) - 1) < 1e-6, "%s: n=%d norm %.9f", label, n, sqrt(norm));
    if (d > worst || d != d) worst = d;
    /* A longer sequence in between must not change the result: the arena
    ** holds nothing across calls. */
    int32_t full[64];
    for (int t = 0; t < S; t++) full[t] = (int32_t)(t % cfg.encoder.vocab_size);
    CHECK(siam_encoder_forward(enc, full, S, again) == 0, "%s: forward S=%d", label, S);
    CHECK(siam_encoder_forward(enc, ids, n, again) == 0, "%s: forward n=%d again", label, n);
    CHECK(memcmp(out, again, (size_t)dim * sizeof *out) == 0, "%s: n=%d not reproducible", label, n);
  }
  printf("  %-34s dim %3d  max |diff| %.3g\n", label, dim, worst);
  if (worst > worst_overall) worst_overall = worst;
  free(out), free(again), free(ref);
  free_model(&m);
  siam_encoder_free(enc);
}

static void test_forward(void) {
  SiamConfig c = base_config();
  check_forward("base (gelu, cls|mean, tanh head)", c);

  c = base_config();
  c.encoder.activation = SIAM_ACT_RELU;
  check_forward("relu", c);
  c.encoder.activation = SIAM_ACT_GELU_NEW;
  check_forward("gelu_new", c);

  c = base_config();
  check_forward("pool cls", bare(c, SIAM_POOL_CLS));
  check_forward("pool max", bare(c, SIAM_POOL_MAX));
  check_forward("pool mean", bare(c, SIAM_POOL_MEAN));
  check_forward("pool mean_sqrt_len", bare(c, SIAM_POOL_MEAN_SQRT_LEN));
  check_forward("pool mean|mean_sqrt_len", bare(c, SIAM_POOL_MEAN | SIAM_POOL_MEAN_SQRT_LEN));
  check_forward("pool all four", bare(c, 15));
  SiamConfig n = bare(c, 15);
  n.normalize = 1;
  check_forward("pool all four, normalized", n);

  /* A deeper head: every head activation, a layer without bias. */
  c = base_config();
  c.pooling = SIAM_POOL_MAX | SIAM_POOL_MEAN_SQRT_LEN;
  c.n_head = 5;
  c.head[0] = (SiamDenseConfig){16, 12, 1, SIAM_ACT_RELU};
  c.head[1] = (SiamDenseConfig){12, 9, 0, SIAM_ACT_SIGMOID};
  c.head[2] = (SiamDenseConfig){9, 7, 1, SIAM_ACT_GELU};
  c.head[3] = (SiamDenseConfig){7, 20, 1, SIAM_ACT_IDENTITY};
  c.head[4] = (SiamDenseConfig){20, 5, 0, SIAM_ACT_TANH};
  check_forward("5-layer head, no-bias layers", c);

  /* Four heads of width 3, one layer, 3 layers, larger eps. */
  c = base_config();
  c.encoder.hidden_size = 12;
  c.encoder.num_heads = 4;
  c.encoder.num_layers = 3;
  c.encoder.intermediate_size = 20;
  c.encoder.layer_norm_eps = 1e-5;
  c.head[0].in_features = 24;
  check_forward("H=12, 4 heads, 3 layers", c);
  c.encoder.num_heads = 1;
  c.encoder.num_layers = 0;
  check_forward("1 head, 0 layers", c);

}

/* The stored tensors a config needs (what siam_config_tensors would list),
** written by hand so this test does not depend on config.c. */
typedef struct {
  char name[96];
  size_t numel;
  float *p;
} Tensor;

static int list_tensors(const SiamConfig *c, Tensor *out) {
  size_t H = (size_t)c->encoder.hidden_size;
  const char *emb[] = {"word_embeddings.weight", "position_embeddings.weight", "token_type_embeddings.weight",
                       "LayerNorm.weight", "LayerNorm.bias"};
  size_t emb_numel[] = {(size_t)c->encoder.vocab_size * H, (size_t)c->encoder.max_position_embeddings * H,
                        (size_t)c->encoder.type_vocab_size * H, H, H};
  int n = 0;
  for (int i = 0; i < 5; i++) {
    snprintf(out[n].name, sizeof out[n].name, "embeddings.%s", emb[i]);
    out[n++].numel = emb_numel[i];
  }
  for (int l = 0; l < c->encoder.num_layers; l++)
    for (int k = 0; k < N_LAYER_T; k++) {
      snprintf(out[n].name, sizeof out[n].name, "encoder.layer.%d.%s", l, layer_names[k]);
      out[n++].numel = layer_numel(c, k);
    }
  for (int j = 0; j < c->n_head; j++) {
    const SiamDenseConfig *d = &c->head[j];
    snprintf(out[n].name, sizeof out[n].name, "head.%d.weight", j);
    out[n++].numel = (size_t)d->out_features * (size_t)d->in_features;
    if (d->bias) {
      snprintf(out[n].name, sizeof out[n].name, "head.%d.bias", j);
      out[n++].numel = (size_t)d->out_features;
    }
  }
  return n;
}

/* Every stored name maps to a separate region; other names give NULL. */
static void test_params(void) {
  char err[SIAM_ERRMAX] = "";
  SiamConfig c = base_config();
  c.n_head = 2;
  c.head[0] = (SiamDenseConfig){16, 6, 0, SIAM_ACT_TANH};
  c.head[1] = (SiamDenseConfig){6, 4, 1, SIAM_ACT_IDENTITY};
  SiamEncoder *enc = siam_encoder_new(&c, err);
  CHECK(enc != NULL, "siam_encoder_new: %s", err);
  if (!enc) return;
  size_t H = 8, IM = 16;

  struct { const char *name; size_t numel; } bad[] = {
      {"pooler.dense.weight", H * H},
      {"pooler.dense.bias", H},
      {"embeddings.position_ids", 12},
      {"embeddings.word_embeddings.weight", 20 * H - 1},
      {"embeddings.word_embeddings.weight", 20 * H + 1},
      {"embeddings.word_embeddings", 20 * H},
      {"embeddings.", H},
      {"", 0},
      {"encoder.layer.2.attention.self.query.weight", H * H},
      {"encoder.layer.01.attention.self.query.weight", H * H},
      {"encoder.layer.00.attention.self.query.weight", H * H},
      {"encoder.layer.-1.attention.self.query.weight", H * H},
      {"encoder.layer.+1.attention.self.query.weight", H * H},
      {"encoder.layer..attention.self.query.weight", H * H},
      {"encoder.layer.0attention.self.query.weight", H * H},
      {"encoder.layer.99999999999999999999.attention.self.query.weight", H * H},
      {"encoder.layer.0.attention.self.query.weight", H * H + 1},
      {"encoder.layer.0.attention.self.query.weightx", H * H},
      {"encoder.layer.0.attention.self.query", H * H},
      {"encoder.layer.1.intermediate.dense.weight", H * H},
      {"encoder.layer.1.output.dense.weight", IM * IM},
      {"encoder.layer.0.", 0},
      {"head.0.bias", 6},      /* layer 0 has no bias */
      {"head.0.weight", 6 * 8}, /* wrong in_features */
      {"head.2.weight", 4 * 6},
      {"head.1.weight.", 4 * 6},
      {"head.x.weight", 4 * 6},
      {"Embeddings.word_embeddings.weight", 20 * H},
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
    CHECK(siam_encoder_param(enc, bad[i].name, bad[i].numel) == NULL, "param(\"%s\", %zu) not NULL", bad[i].name,
          bad[i].numel);

  /* All the good names: non-NULL, and no two regions overlap. */
  Tensor good[64];
  int n = list_tensors(&c, good);
  for (int i = 0; i < n; i++) {
    good[i].p = siam_encoder_param(enc, good[i].name, good[i].numel);
    CHECK(good[i].p != NULL, "param(\"%s\", %zu) is NULL", good[i].name, good[i].numel);
  }
  for (int i = 0; i < n; i++)
    for (int j = i + 1; j < n; j++) {
      if (!good[i].p || !good[j].p) continue;
      uintptr_t a0 = (uintptr_t)good[i].p, a1 = a0 + good[i].numel * sizeof(float);
      uintptr_t b0 = (uintptr_t)good[j].p, b1 = b0 + good[j].numel * sizeof(float);
      CHECK(a1 <= b0 || b1 <= a0, "%s and %s overlap", good[i].name, good[j].name);
    }
  /* Writing each whole region is in bounds (ASan checks this). */
  for (int i = 0; i < n; i++)
    if (good[i].p) memset(good[i].p, 0, good[i].numel * sizeof(float));
  siam_encoder_free(enc);
}

static void test_bad_input(void) {
  char err[SIAM_ERRMAX] = "";
  RefModel m;
  SiamEncoder *enc = filled_encoder(base_config(), &m);
  if (!enc) return;
  float out[6];
  int32_t ids[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
  CHECK(siam_encoder_forward(enc, ids, 3, out) == -1, "forward before finish should fail");
  CHECK(siam_encoder_finish(enc, err) == 0, "finish: %s", err);
  CHECK(siam_encoder_forward(enc, ids, 3, out) == 0, "forward n=3");
  float before[6];
  memcpy(before, out, sizeof out);
  CHECK(siam_encoder_forward(enc, ids, 0, out) == -1, "n=0 accepted");
  CHECK(siam_encoder_forward(enc, ids, -1, out) == -1, "n=-1 accepted");
  CHECK(siam_encoder_forward(enc, ids, 11, out) == -1, "n=11 > max_seq_length 10 accepted");
  CHECK(siam_encoder_forward(enc, ids, 10, out) == 0, "n=10 refused");
  memcpy(out, before, sizeof out);
  ids[1] = 20;
  CHECK(siam_encoder_forward(enc, ids, 3, out) == -1, "id 20 = vocab_size accepted");
  ids[1] = -1;
  CHECK(siam_encoder_forward(enc, ids, 3, out) == -1, "id -1 accepted");
  ids[1] = INT32_MAX;
  CHECK(siam_encoder_forward(enc, ids, 3, out) == -1, "id INT32_MAX accepted");
  ids[1] = 2;
  CHECK(memcmp(out, before, sizeof out) == 0, "refused call wrote its output");
  free_model(&m);
  siam_encoder_free(enc);
}

/* A NaN or infinity anywhere in the weights is refused by finish, which
** names the tensor. */
static void test_nonfinite(void) {
  char err[SIAM_ERRMAX];
  SiamConfig c = base_config();
  c.n_head = 2;
  c.head[0] = (SiamDenseConfig){16, 6, 0, SIAM_ACT_TANH};
  c.head[1] = (SiamDenseConfig){6, 4, 1, SIAM_ACT_IDENTITY};
  Tensor t[64];
  int n = list_tensors(&c, t);
  for (int i = 0; i < n; i++) {
    SiamEncoder *enc = siam_encoder_new(&c, err);
    CHECK(enc != NULL, "siam_encoder_new: %s", err);
    if (!enc) return;
    for (int j = 0; j < n; j++) { /* every weight written (the encoder's memory starts uninitialized) */
      float *w = siam_encoder_param(enc, t[j].name, t[j].numel);
      if (w) memset(w, 0, t[j].numel * sizeof *w);
    }
    float *p = siam_encoder_param(enc, t[i].name, t[i].numel);
    int inf = i % 2;
    if (p) p[t[i].numel / 2] = inf ? -INFINITY : NAN;
    char want[SIAM_ERRMAX];
    snprintf(want, sizeof want, "tensor %.95s holds %s", t[i].name, inf ? "an infinity" : "NaN");
    err[0] = 0;
    CHECK(siam_encoder_finish(enc, err) == -1, "%s: non-finite value accepted", t[i].name);
    CHECK(strcmp(err, want) == 0, "message \"%s\", want \"%s\"", err, want);
    int32_t ids[2] = {1, 2};
    float out[4];
    CHECK(siam_encoder_forward(enc, ids, 2, out) == -1, "%s: forward ran after a failed finish", t[i].name);
    siam_encoder_free(enc);
  }
}

static void test_bad_config(void) {
  char err[SIAM_ERRMAX];
  struct { const char *label, *want; SiamConfig c; } cases[9];
  int n = 0;
  cases[n].label = "heads do not divide hidden", cases[n].want = "num_heads", cases[n].c = base_config();
  cases[n++].c.encoder.num_heads = 3;
  cases[n].label = "head in mismatch", cases[n].want = "head[0].in is 8", cases[n].c = base_config();
  cases[n++].c.head[0].in_features = 8;
  cases[n].label = "no pooling", cases[n].want = "pooling", cases[n].c = base_config();
  cases[n++].c.pooling = 0;
  cases[n].label = "zero vocab", cases[n].want = "vocab_size is 0", cases[n].c = base_config();
  cases[n++].c.encoder.vocab_size = 0;
  cases[n].label = "zero max_seq_length", cases[n].want = "max_seq_length is 0", cases[n].c = base_config();
  cases[n++].c.tokenizer.max_seq_length = 0;
  cases[n].label = "too many head layers", cases[n].want = "head has 17 layers", cases[n].c = base_config();
  cases[n++].c.n_head = SIAM_MAX_HEAD + 1;
  cases[n].label = "bad activation", cases[n].want = "activation", cases[n].c = base_config();
  cases[n++].c.encoder.activation = (SiamActivation)99;
  cases[n].label = "size overflow", cases[n].want = "hidden_size is 268435456", cases[n].c = bare(base_config(), SIAM_POOL_CLS);
  cases[n].c.encoder.num_layers = 100;
  cases[n++].c.encoder.hidden_size = 1 << 28; /* L*3H*H floats do not fit in size_t */
  /* The encoder's checks are the config validator's (a hand-built config
  ** gets no further than one parsed from JSON). */
  cases[n].label = "max_seq_length beyond the position table", cases[n].want = "max_seq_length is 40",
  cases[n].c = base_config();
  cases[n].c.encoder.max_position_embeddings = 16;
  cases[n++].c.tokenizer.max_seq_length = 40;
  for (int i = 0; i < n; i++) {
    err[0] = 0;
    SiamEncoder *enc = siam_encoder_new(&cases[i].c, err);
    CHECK(enc == NULL, "%s: accepted", cases[i].label);
    CHECK(err[0] && strstr(err, cases[i].want), "%s: message \"%s\" lacks \"%s\"", cases[i].label, err,
          cases[i].want);
    siam_encoder_free(enc);
  }
}

/* Each allocation siam_encoder_new makes fails in turn: NULL, a message, no leak. */
static void test_oom(void) {
  SiamConfig c = base_config();
  char err[SIAM_ERRMAX];
  int failures = 0;
  for (long k = 1; k < 20; k++) {
    err[0] = 0;
    siam_fail_countdown = k;
    SiamEncoder *enc = siam_encoder_new(&c, err);
    siam_fail_countdown = 0;
    if (enc) {
      siam_encoder_free(enc);
      break;
    }
    failures++;
    CHECK(strstr(err, "out of memory") != NULL, "allocation %ld failing: message \"%s\"", k, err);
  }
  CHECK(failures >= 3, "only %d allocations seen", failures);
}

/* ---- the batched path ---------------------------------------------------- */

#define BATCH_TOL 1e-6 /* batched row vs the same sequence encoded alone */

/* n_seq random sequences of lengths 1..S (some at both ends) through one
** siam_encoder_forward_batch call, each row compared with
** siam_encoder_forward and with the double reference.  With S = 10 and 300
** sequences the batch spans two chunks of B = 1024 tokens. */
static void check_batch(const char *label, SiamConfig cfg, int n_seq) {
  char err[SIAM_ERRMAX] = "";
  RefModel m;
  SiamEncoder *enc = filled_encoder(cfg, &m);
  if (!enc) return;
  CHECK(siam_encoder_finish(enc, err) == 0, "%s: finish: %s", label, err);
  int S = siam_encoder_max_tokens(enc), dim = siam_encoder_dim(enc), V = cfg.encoder.vocab_size;
  int32_t *pool = malloc((size_t)n_seq * S * sizeof *pool);
  const int32_t **ids = malloc((size_t)n_seq * sizeof *ids), **rev = malloc((size_t)n_seq * sizeof *rev);
  int *lens = malloc((size_t)n_seq * sizeof *lens), *rlens = malloc((size_t)n_seq * sizeof *rlens);
  float *out = malloc((size_t)n_seq * dim * sizeof *out), *out2 = malloc((size_t)n_seq * dim * sizeof *out2);
  float *one = malloc((size_t)dim * sizeof *one);
  double *ref = malloc(4096 * sizeof *ref);
  long tokens = 0;
  for (int s = 0; s < n_seq; s++) {
    lens[s] = s == 0 ? S : s == 1 ? 1 : 1 + (int)((rng >> 20) % (uint64_t)S);
    frand();
    ids[s] = pool + (size_t)s * S;
    for (int t = 0; t < lens[s]; t++) pool[(size_t)s * S + t] = (int32_t)((rng >> 24) % (uint64_t)V), frand();
    tokens += lens[s];
  }
  CHECK(siam_encoder_forward_batch(enc, ids, lens, n_seq, out) == 0, "%s: batch of %d failed", label, n_seq);
  double worst_single = 0, worst_ref = 0;
  for (int s = 0; s < n_seq; s++) {
    CHECK(siam_encoder_forward(enc, ids[s], lens[s], one) == 0, "%s: forward %d", label, s);
    int ref_this = s < 40 || lens[s] == S; /* the reference is slow: a sample */
    if (ref_this) ref_forward(&m, ids[s], lens[s], ref);
    for (int i = 0; i < dim; i++) {
      double d = fabs(out[(size_t)s * dim + i] - one[i]);
      if (!(d <= worst_single)) worst_single = d;
      if (ref_this) {
        d = fabs(out[(size_t)s * dim + i] - ref[i]);
        if (!(d <= worst_ref)) worst_ref = d;
      }
    }
  }
  CHECK(worst_single <= BATCH_TOL, "%s: batch vs single max |diff| %.3g", label, worst_single);
  CHECK(worst_ref <= TOL, "%s: batch vs reference max |diff| %.3g", label, worst_ref);
  /* Reversed order: each row follows its sequence. */
  for (int s = 0; s < n_seq; s++) rev[s] = ids[n_seq - 1 - s], rlens[s] = lens[n_seq - 1 - s];
  CHECK(siam_encoder_forward_batch(enc, rev, rlens, n_seq, out2) == 0, "%s: reversed batch", label);
  double worst_rev = 0;
  for (int s = 0; s < n_seq; s++)
    for (int i = 0; i < dim; i++) {
      double d = fabs(out2[(size_t)(n_seq - 1 - s) * dim + i] - out[(size_t)s * dim + i]);
      if (!(d <= worst_rev)) worst_rev = d;
    }
  CHECK(worst_rev <= BATCH_TOL, "%s: reversed batch max |diff| %.3g", label, worst_rev);
  /* The same batch again gives the same bits: nothing is kept across calls. */
  CHECK(siam_encoder_forward_batch(enc, ids, lens, n_seq, out2) == 0, "%s: batch again", label);
  CHECK(memcmp(out, out2, (size_t)n_seq * dim * sizeof *out) == 0, "%s: batch not reproducible", label);
  printf("  batch %-28s %3d seqs %5ld tokens  vs single %.3g  vs ref %.3g\n", label, n_seq, tokens, worst_single,
         worst_ref);
  free(pool), free(ids), free(rev), free(lens), free(rlens), free(out), free(out2), free(one), free(ref);
  free_model(&m);
  siam_encoder_free(enc);
}

static void test_batch(void) {
  SiamConfig c = base_config();
  check_batch("base", c, 300);
  c.encoder.activation = SIAM_ACT_GELU_NEW;
  check_batch("gelu_new", c, 300);
  c = bare(base_config(), 15);
  c.normalize = 1;
  check_batch("pool all four, normalized", c, 300);
  c = base_config();
  c.encoder.hidden_size = 12;
  c.encoder.num_heads = 4;
  c.encoder.num_layers = 3;
  c.head[0].in_features = 24;
  check_batch("H=12, 4 heads, 3 layers", c, 300);
  /* Sequences longer than half a chunk: one or two per chunk. */
  c = base_config();
  c.tokenizer.max_seq_length = 700;
  c.encoder.max_position_embeddings = 700;
  check_batch("S=700", c, 7);
}

/* Bad input anywhere in a batch: -1 and out untouched; an empty batch is 0. */
static void test_batch_bad_input(void) {
  char err[SIAM_ERRMAX] = "";
  SiamConfig c = base_config();
  RefModel m;
  memset(&m, 0, sizeof m);
  m.cfg = c;
  SiamEncoder *enc = siam_encoder_new(&c, err);
  CHECK(enc != NULL, "siam_encoder_new: %s", err);
  if (!enc) return;
  fill_model(&m, enc);
  int32_t a[3] = {1, 2, 3}, b[3] = {4, 5, 6};
  const int32_t *ids[3] = {a, b, a};
  int lens[3] = {3, 3, 2};
  float out[18], sentinel[18];
  for (int i = 0; i < 18; i++) out[i] = sentinel[i] = (float)i;
  CHECK(siam_encoder_forward_batch(enc, ids, lens, 3, out) == -1, "batch before finish accepted");
  CHECK(siam_encoder_finish(enc, err) == 0, "finish: %s", err);
  CHECK(siam_encoder_forward_batch(enc, ids, lens, 0, out) == 0, "empty batch refused");
  lens[2] = 0;
  CHECK(siam_encoder_forward_batch(enc, ids, lens, 3, out) == -1, "length 0 accepted");
  lens[2] = 11;
  CHECK(siam_encoder_forward_batch(enc, ids, lens, 3, out) == -1, "length 11 > 10 accepted");
  lens[2] = 2;
  b[1] = 20;
  CHECK(siam_encoder_forward_batch(enc, ids, lens, 3, out) == -1, "id 20 = vocab_size accepted");
  b[1] = 5;
  ids[1] = NULL;
  CHECK(siam_encoder_forward_batch(enc, ids, lens, 3, out) == -1, "NULL sequence accepted");
  CHECK(siam_encoder_forward_batch(enc, ids, lens, -1, out) == -1, "n_seq -1 accepted");
  CHECK(memcmp(out, sentinel, sizeof out) == 0, "a refused batch wrote its output");
  ids[1] = b;
  CHECK(siam_encoder_forward_batch(enc, ids, lens, 3, out) == 0, "good batch refused");
  free_model(&m);
  siam_encoder_free(enc);
}

/* siam_model_embed_batch against siam_model_embed, through a whole model
** (config JSON, packed tensors, a letter vocabulary): 400 texts of 0 to ~12
** tokens span several chunks, and one text exactly fills max_seq_length. */
/* A stop check that says stop at its fifth call. */
static int stop_at_fifth(void *ctx) { return ++*(int *)ctx >= 5; }

static void test_model_batch(void) {
  char err[SIAM_ERRMAX] = "";
  static const char *const specials[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
  char vocab[5 + 52][8];
  int V = 0;
  for (int i = 0; i < 5; i++) snprintf(vocab[V++], sizeof vocab[0], "%s", specials[i]);
  for (char ch = 'a'; ch <= 'z'; ch++) snprintf(vocab[V++], sizeof vocab[0], "%c", ch);
  for (char ch = 'a'; ch <= 'z'; ch++) snprintf(vocab[V++], sizeof vocab[0], "##%c", ch);
  SiamConfig c = base_config();
  c.encoder.vocab_size = V;
  c.tokenizer.max_seq_length = 12;
  c.encoder.max_position_embeddings = 16;
  c.tokenizer.lowercase = 1;
  snprintf(c.tokenizer.unk_token, SIAM_MAX_NAME, "[UNK]");
  snprintf(c.tokenizer.cls_token, SIAM_MAX_NAME, "[CLS]");
  snprintf(c.tokenizer.sep_token, SIAM_MAX_NAME, "[SEP]");
  snprintf(c.tokenizer.pad_token, SIAM_MAX_NAME, "[PAD]");
  snprintf(c.tokenizer.mask_token, SIAM_MAX_NAME, "[MASK]");
  char *json = siam_config_to_json(&c);
  CHECK(json != NULL, "siam_config_to_json");
  if (!json) return;
  SiamModel *model = siam_model_new(json, strlen(json), err);
  siam_free(json);
  CHECK(model != NULL, "siam_model_new: %s", err);
  if (!model) return;
  SiamTensorSpec *specs = NULL;
  int n_specs = siam_config_tensors(&c, &specs, err);
  CHECK(n_specs > 0, "siam_config_tensors: %s", err);
  int ok = n_specs > 0;
  for (int i = 0; ok && i < n_specs; i++) {
    size_t numel = (size_t)specs[i].shape[0] * (size_t)(specs[i].ndim == 2 ? specs[i].shape[1] : 1);
    int is_ln_weight = strstr(specs[i].name, "LayerNorm.weight") != NULL;
    float *v = malloc(numel * sizeof *v);
    for (size_t k = 0; k < numel; k++) v[k] = (is_ln_weight ? 1.0f : 0.0f) + 0.5f * frand();
    void *blob = NULL;
    size_t blob_n = 0;
    char shape[64];
    if (specs[i].ndim == 2)
      snprintf(shape, sizeof shape, "[%lld,%lld]", (long long)specs[i].shape[0], (long long)specs[i].shape[1]);
    else
      snprintf(shape, sizeof shape, "[%lld]", (long long)specs[i].shape[0]);
    ok = siam_blob_pack(v, numel * sizeof *v, &blob, &blob_n, err) == 0 &&
         siam_model_add_tensor(model, specs[i].name, "f32", shape, blob, blob_n, err) == 0;
    CHECK(ok, "tensor %s: %s", specs[i].name, err);
    free(v);
    siam_free(blob);
  }
  siam_free(specs);
  for (int i = 0; ok && i < V; i++) ok = siam_model_add_token(model, i, vocab[i], strlen(vocab[i]), err) == 0;
  ok = ok && siam_model_finish(model, err) == 0;
  CHECK(ok, "building the model: %s", err);
  enum { N = 400 };
  static char text[N][64];
  const char *texts[N];
  size_t lens[N];
  for (int i = 0; i < N; i++) {
    int words = i == 0 ? 0 : (int)((rng >> 30) % 9), at = 0;
    frand();
    if (i == 1) words = 10; /* [CLS] + 10 + [SEP] = max_seq_length exactly */
    for (int w = 0; w < words; w++) {
      int letters = i == 1 ? 1 : 1 + (int)((rng >> 40) % 3);
      frand();
      for (int k = 0; k < letters; k++) text[i][at++] = (char)('a' + (rng >> 33) % 26), frand();
      text[i][at++] = ' ';
    }
    text[i][at] = 0;
    texts[i] = text[i];
    lens[i] = (size_t)at;
  }
  int dim = siam_model_dim(model);
  float *batch = malloc((size_t)N * dim * sizeof *batch), *one = malloc((size_t)dim * sizeof *one);
  double worst = 0;
  if (ok) {
    CHECK(siam_model_embed_batch(model, texts, lens, N, batch) == 0, "siam_model_embed_batch failed");
    for (int i = 0; i < N; i++) {
      CHECK(siam_model_embed(model, texts[i], lens[i], one) == 0, "siam_model_embed %d", i);
      for (int k = 0; k < dim; k++) {
        double d = fabs(batch[(size_t)i * dim + k] - one[k]);
        if (!(d <= worst)) worst = d;
      }
    }
    CHECK(worst <= BATCH_TOL, "siam_model_embed_batch vs siam_model_embed max |diff| %.3g", worst);
    CHECK(siam_model_embed_batch(model, texts, lens, 0, batch) == 0, "empty batch refused");
    printf("  model batch of %d texts vs one by one max |diff| %.3g\n", N, worst);
    /* Asked to stop at the 5th poll: the batch gives up there, and says so
    ** by the stop state; without a check installed nothing stops. */
    int polls = 0;
    SiamStop prev = siam_stop_push(stop_at_fifth, &polls);
    int rc = siam_model_embed_batch(model, texts, lens, N, batch);
    int stopped = siam_stop_was_requested();
    siam_stop_pop(prev);
    CHECK(rc == -1 && stopped && polls == 5, "a stopped batch: rc %d, stopped %d, %d polls", rc, stopped, polls);
    CHECK(siam_model_embed_batch(model, texts, lens, N, batch) == 0 && !siam_stop_was_requested(),
          "after the stop check is popped, batches run");
  }
  free(batch), free(one);
  siam_model_free(model);
}

/* The vectorized GELUs against double-precision formulas over [-20, 20]:
** absolute error at most 3e-7 max(1, |x|), no worse than 0.5x(1+erff(x/sqrt2))
** in float, and without its cancellation for negative x. */
static void test_activations(void) {
  size_t n = 400001;
  float *x = malloc(n * sizeof *x);
  for (int act = SIAM_ACT_GELU; act <= SIAM_ACT_GELU_NEW; act++) {
    for (size_t i = 0; i < n; i++) x[i] = -20.0f + 40.0f * (float)i / (float)(n - 1);
    siam_activation((SiamActivation)act, x, n);
    double worst_abs = 0, worst_rel = 0;
    for (size_t i = 0; i < n; i++) {
      double xi = -20.0f + 40.0f * (float)i / (float)(n - 1);
      double u = sqrt(2 / M_PI) * (xi + 0.044715 * xi * xi * xi);
      double want = act == SIAM_ACT_GELU ? 0.5 * xi * erfc(-xi / sqrt(2.0)) : xi / (1 + exp(-2 * u));
      double d = fabs(x[i] - want) / (fabs(xi) > 1 ? fabs(xi) : 1);
      if (!(d <= worst_abs)) worst_abs = d;
      if (fabs(want) > 1e-3 && fabs(x[i] - want) / fabs(want) > worst_rel) worst_rel = fabs(x[i] - want) / fabs(want);
    }
    CHECK(worst_abs <= 3e-7, "%s: max |diff| / max(1,|x|) %.3g", act == SIAM_ACT_GELU ? "gelu" : "gelu_new",
          worst_abs);
    CHECK(worst_rel <= 3e-6, "%s: max relative diff %.3g", act == SIAM_ACT_GELU ? "gelu" : "gelu_new", worst_rel);
    printf("  %-8s max |diff|/max(1,|x|) %.3g, max rel (|y| > 1e-3) %.3g\n",
           act == SIAM_ACT_GELU ? "gelu" : "gelu_new", worst_abs, worst_rel);
  }
  free(x);
}

/* siam_linear and siam_matmul against double loops, on shapes that hit every
** edge of the kernel's tiles: rows not a multiple of the tile's 6 (or the
** narrow tile's 12, for panels of at most 32 columns), columns not a
** multiple of 16 or 64, K of 1, K cut into blocks (2100 > 1024, the
** block on a 1 MB L2), strided operands, and enough rows and
** columns for the threaded and the few-rows paths. */
static void test_linear(void) {
  static const int Ms[] = {1, 5, 6, 7, 12, 13, 25, 70, 200}, Ks[] = {1, 3, 130, 300, 2100},
                   Ns[] = {1, 15, 17, 32, 33, 64, 65, 96, 200};
  double worst = 0;
  for (size_t mi = 0; mi < sizeof Ms / sizeof *Ms; mi++)
    for (size_t ki = 0; ki < sizeof Ks / sizeof *Ks; ki++)
      for (size_t ni = 0; ni < sizeof Ns / sizeof *Ns; ni++) {
        int M = Ms[mi], K = Ks[ki], N = Ns[ni], lda = K + 3, ldb = N + 5, ldc = N + 2;
        float *a = malloc((size_t)M * lda * sizeof *a), *b = malloc((size_t)K * ldb * sizeof *b);
        float *bias = malloc((size_t)N * sizeof *bias), *y = malloc((size_t)M * N * sizeof *y);
        float *c = malloc((size_t)M * ldc * sizeof *c);
        float *pa = malloc((size_t)M * K * sizeof *pa), *pb = malloc((size_t)K * N * sizeof *pb);
        for (int i = 0; i < M * lda; i++) a[i] = frand();
        for (int i = 0; i < K * ldb; i++) b[i] = frand();
        for (int i = 0; i < N; i++) bias[i] = frand();
        for (int i = 0; i < M; i++) memcpy(pa + (size_t)i * K, a + (size_t)i * lda, (size_t)K * sizeof *a);
        for (int k = 0; k < K; k++) memcpy(pb + (size_t)k * N, b + (size_t)k * ldb, (size_t)N * sizeof *b);
        for (int i = 0; i < M * ldc; i++) c[i] = 12345.0f; /* the gaps between rows must stay untouched */
        siam_linear(y, pa, pb, bias, M, K, N);
        siam_matmul(c, ldc, a, lda, b, ldb, M, K, N);
        int gaps_kept = 1;
        for (int i = 0; i < M; i++) {
          for (int j = 0; j < N; j++) {
            double s = 0, mag = 1 + fabs(bias[j]); /* float32's error grows with sum |a b| */
            for (int k = 0; k < K; k++) {
              s += (double)pa[(size_t)i * K + k] * pb[(size_t)k * N + j];
              mag += fabs((double)pa[(size_t)i * K + k] * pb[(size_t)k * N + j]);
            }
            double d1 = fabs(y[(size_t)i * N + j] - (s + bias[j])) / mag, d2 = fabs(c[(size_t)i * ldc + j] - s) / mag;
            if (d1 > worst) worst = d1;
            if (d2 > worst) worst = d2;
          }
          for (int j = N; j < ldc; j++) gaps_kept &= c[(size_t)i * ldc + j] == 12345.0f;
        }
        CHECK(gaps_kept, "siam_matmul %dx%dx%d wrote outside its rows", M, K, N);
        free(a), free(b), free(bias), free(y), free(c), free(pa), free(pb);
      }
  CHECK(worst < 1e-6, "siam_linear / siam_matmul max |diff| / (1 + sum |a b|) %.3g", worst);
  printf("  linear (%s kernel) vs loops        max |diff| / (1 + sum |a b|) %.3g\n",
         siam_linear_native() ? "avx512" : "portable", worst);
}

/* A batch gives bit-identical embeddings on 1, 2 and 3 threads: every value
** is summed the same way whatever the split. */
static void test_thread_counts(void) {
  char err[SIAM_ERRMAX] = "";
  SiamConfig c = base_config();
  RefModel m;
  SiamEncoder *enc = filled_encoder(c, &m);
  if (!enc) return;
  CHECK(siam_encoder_finish(enc, err) == 0, "finish: %s", err);
  enum { N_SEQ = 120 };
  int S = siam_encoder_max_tokens(enc), dim = siam_encoder_dim(enc), lens[N_SEQ];
  int32_t *pool = malloc((size_t)N_SEQ * S * sizeof *pool);
  const int32_t *ids[N_SEQ];
  for (int s = 0; s < N_SEQ; s++) {
    lens[s] = 1 + s % S;
    ids[s] = pool + (size_t)s * S;
    for (int t = 0; t < lens[s]; t++) pool[(size_t)s * S + t] = (int32_t)((s * 31 + t * 7) % c.encoder.vocab_size);
  }
  float *out[3];
  for (int n = 1; n <= 3; n++) {
    siam_set_threads(n);
    out[n - 1] = malloc((size_t)N_SEQ * dim * sizeof(float));
    CHECK(siam_encoder_forward_batch(enc, ids, lens, N_SEQ, out[n - 1]) == 0, "batch on %d threads", n);
  }
  siam_set_threads(0);
  CHECK(memcmp(out[0], out[1], (size_t)N_SEQ * dim * sizeof(float)) == 0, "1 and 2 threads differ");
  CHECK(memcmp(out[0], out[2], (size_t)N_SEQ * dim * sizeof(float)) == 0, "1 and 3 threads differ");
  /* After fork() the child has none of the parent's worker threads: it must
  ** start its own rather than wait for them (Python's multiprocessing forks). */
  fflush(NULL);
  pid_t pid = fork();
  if (pid == 0) {
    siam_set_threads(2);
    float *again = malloc((size_t)N_SEQ * dim * sizeof(float));
    int ok = siam_encoder_forward_batch(enc, ids, lens, N_SEQ, again) == 0 &&
             memcmp(again, out[0], (size_t)N_SEQ * dim * sizeof(float)) == 0;
    _exit(ok ? 0 : 1);
  }
  int status = -1, waited = 0;
  for (; pid > 0 && waited < 200 && waitpid(pid, &status, WNOHANG) == 0; waited++) usleep(50000);
  if (waited == 200) kill(pid, SIGKILL), waitpid(pid, &status, 0);
  CHECK(pid > 0 && waited < 200, "forward pass in a forked child hung");
  CHECK(pid > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0, "forked child's embeddings differ");
  for (int n = 0; n < 3; n++) free(out[n]);
  free(pool);
  free_model(&m);
  siam_encoder_free(enc);
}

/* siam_matmul_mt (similarity search's products, on the pool) against plain
** loops, with strides, on shapes that split over threads and that do not. */
static void test_matmul_mt(void) {
  static const int shapes[][3] = {{7, 9, 5}, {300, 70, 513}, {1, 384, 2048}, {130, 3, 65}};
  double worst = 0;
  for (int t = 0; t < 4; t++) {
    int M = shapes[t][0], K = shapes[t][1], N = shapes[t][2], lda = K + 3, ldb = N + 5, ldc = N + 2;
    float *a = malloc(sizeof(float) * M * lda), *b = malloc(sizeof(float) * K * ldb), *c = malloc(sizeof(float) * M * ldc);
    for (int i = 0; i < M * lda; i++) a[i] = frand();
    for (int i = 0; i < K * ldb; i++) b[i] = frand();
    for (int i = 0; i < M * ldc; i++) c[i] = 1234.0f;
    siam_set_threads(2);
    siam_matmul_mt(c, ldc, a, lda, b, ldb, M, K, N);
    siam_set_threads(0);
    int outside_ok = 1;
    for (int i = 0; i < M; i++) {
      for (int j = 0; j < N; j++) {
        double s = 0;
        for (int k = 0; k < K; k++) s += (double)a[i * lda + k] * b[k * ldb + j];
        double d = fabs(c[i * ldc + j] - s);
        if (d > worst) worst = d;
      }
      for (int j = N; j < ldc; j++) outside_ok &= c[i * ldc + j] == 1234.0f;
    }
    CHECK(outside_ok, "siam_matmul_mt %dx%dx%d wrote outside its columns", M, K, N);
    free(a);
    free(b);
    free(c);
  }
  CHECK(worst < 2e-5, "siam_matmul_mt max |diff| %.3g", worst);
  printf("  siam_matmul_mt vs loops            max |diff| %.3g\n", worst);
}

int main(void) {
  test_matmul_mt();
  test_params();
  test_bad_input();
  test_bad_config();
  test_nonfinite();
  test_oom();
  test_forward();
  printf("  worst forward max |diff| %.3g (tolerance %.1g)\n", worst_overall, TOL);
  test_activations();
  test_batch();
  test_batch_bad_input();
  test_model_batch();
  test_linear();
  test_thread_counts();
  return TEST_DONE();
}

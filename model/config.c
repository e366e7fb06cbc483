/*
** config.c — parse, validate and print the model config (format "siamsql/1").
**
** The JSON text is the only description of the architecture: everything the
** encoder, tokenizer and tensor checks need is derived from it here.  The
** printer writes keys in a fixed order with no whitespace so that the same
** model always has the same config text.
*/
#include "config.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

/* Limits far above any real BERT but low enough that sizes computed from them
** cannot overflow and a hostile config cannot ask for absurd memory. */
#define MAX_VOCAB 1000000
#define MAX_HIDDEN 16384
#define MAX_LAYERS 256
#define MAX_HEADS 256
#define MAX_INTERMEDIATE 65536
#define MAX_POSITIONS 65536
#define MAX_TYPES 1024
#define MAX_DENSE 65536
/* Each size alone in range can still multiply out to terabytes (hidden 16384
** with 256 layers is 3 TB of weights).  The whole model, weights plus the
** activations of one max-length text, must fit in 2^32 floats (16 GiB). */
#define MAX_FLOATS 4294967296.0

/* ---- the architecture's names ---------------------------------------------- */

#define T(x) "torch.nn.modules." x
static const SiamActivationInfo activations[] = {
    {SIAM_ACT_IDENTITY, "identity", {NULL, NULL}, {T("linear.Identity"), T("activation.Identity")}, SIAM_ACT_IN_HEAD},
    {SIAM_ACT_RELU, "relu", {"relu", NULL}, {T("activation.ReLU"), NULL}, SIAM_ACT_IN_ENCODER | SIAM_ACT_IN_HEAD},
    {SIAM_ACT_TANH, "tanh", {NULL, NULL}, {T("activation.Tanh"), NULL}, SIAM_ACT_IN_HEAD},
    {SIAM_ACT_SIGMOID, "sigmoid", {NULL, NULL}, {T("activation.Sigmoid"), NULL}, SIAM_ACT_IN_HEAD},
    {SIAM_ACT_GELU, "gelu", {"gelu", NULL}, {T("activation.GELU"), NULL}, SIAM_ACT_IN_ENCODER | SIAM_ACT_IN_HEAD},
    {SIAM_ACT_GELU_NEW, "gelu_new", {"gelu_new", "gelu_pytorch_tanh"}, {NULL, NULL}, SIAM_ACT_IN_ENCODER},
};
#undef T
#define N_ACTIVATIONS (int)(sizeof activations / sizeof *activations)

const SiamActivationInfo *siam_activation_info(SiamActivation a) {
  for (int i = 0; i < N_ACTIVATIONS; i++)
    if (activations[i].act == a) return &activations[i];
  return NULL;
}

const char *siam_activation_name(SiamActivation a) {
  const SiamActivationInfo *info = siam_activation_info(a);
  return info ? info->name : "?";
}

/* field 0: siamsql's name, 1: HF names, 2: torch names. */
static int find_activation(int field, const char *name, SiamActivation *a) {
  for (int i = 0; i < N_ACTIVATIONS; i++) {
    const SiamActivationInfo *x = &activations[i];
    const char *names[2] = {field == 0 ? x->name : field == 1 ? x->hf[0] : x->torch[0],
                            field == 0 ? NULL : field == 1 ? x->hf[1] : x->torch[1]};
    for (int k = 0; k < 2; k++) {
      if (names[k] && strcmp(name, names[k]) == 0) {
        *a = x->act;
        return 0;
      }
    }
  }
  return -1;
}

int siam_activation_parse(const char *name, SiamActivation *a) { return find_activation(0, name, a); }
int siam_activation_from_hf(const char *name, SiamActivation *a) { return find_activation(1, name, a); }
int siam_activation_from_torch(const char *name, SiamActivation *a) { return find_activation(2, name, a); }

void siam_activation_names(int where, int hf, int torch, char *buf, size_t cap) {
  const char *names[N_ACTIVATIONS];
  int n = 0;
  for (int i = 0; i < N_ACTIVATIONS; i++) {
    const SiamActivationInfo *x = &activations[i];
    const char *name = hf ? x->hf[0] : torch ? x->torch[0] : x->name;
    if ((x->where & where) && name) names[n++] = torch ? strrchr(name, '.') + 1 : name;
  }
  for (int i = 1; i < n; i++)  /* alphabetical: the order messages always gave */
    for (int k = i; k > 0 && strcmp(names[k - 1], names[k]) > 0; k--) {
      const char *t = names[k];
      names[k] = names[k - 1];
      names[k - 1] = t;
    }
  size_t used = 0;
  buf[0] = 0;
  for (int i = 0; i < n && used < cap; i++)
    used += (size_t)snprintf(buf + used, cap - used, "%s%s", i == 0 ? "" : i == n - 1 ? " or " : ", ", names[i]);
}

const SiamPoolInfo siam_pool_info[SIAM_POOL_MODES] = {
    {SIAM_POOL_CLS, "cls", "pooling_mode_cls_token"},
    {SIAM_POOL_MAX, "max", "pooling_mode_max_tokens"},
    {SIAM_POOL_MEAN, "mean", "pooling_mode_mean_tokens"},
    {SIAM_POOL_MEAN_SQRT_LEN, "mean_sqrt_len", "pooling_mode_mean_sqrt_len_tokens"},
};
#define N_POOL_MODES SIAM_POOL_MODES
#define pool_modes siam_pool_info

int siam_pool_count(int flags) {
  int n = 0;
  for (int i = 0; i < N_POOL_MODES; i++) n += (flags & pool_modes[i].flag) != 0;
  return n;
}

/* "cls, max, mean, mean_sqrt_len", for messages. */
static const char *pool_names(char *buf, size_t cap) {
  size_t used = 0;
  buf[0] = 0;
  for (int i = 0; i < N_POOL_MODES && used < cap; i++)
    used += (size_t)snprintf(buf + used, cap - used, "%s%s", i ? ", " : "", pool_modes[i].name);
  return buf;
}

static int all_pool_flags(void) {
  int f = 0;
  for (int i = 0; i < N_POOL_MODES; i++) f |= pool_modes[i].flag;
  return f;
}

/* ---- reading fields ---------------------------------------------------- */

static const cJSON *need(const cJSON *obj, const char *path, const char *key, char *err) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
  if (!v) siam_errf(err, "config: missing %s%s", path, key);
  return v;
}

static const char *const compute_names[SIAM_N_COMPUTE] = {"f32", "bf16", "int8"}; /* by SiamCompute */

const char *siam_compute_name(SiamCompute c) {
  return (unsigned)c < sizeof compute_names / sizeof *compute_names ? compute_names[c] : "?";
}

int siam_compute_parse(const char *name, SiamCompute *c) {
  for (size_t i = 0; i < sizeof compute_names / sizeof *compute_names; i++)
    if (strcmp(name, compute_names[i]) == 0) {
      *c = (SiamCompute)i;
      return 0;
    }
  return -1;
}

/* "compute" is optional: absent means f32 (configs written before it existed). */
static int get_compute(const cJSON *root, SiamCompute *out, char *err) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "compute");
  *out = SIAM_COMPUTE_F32;
  if (v && (!cJSON_IsString(v) || siam_compute_parse(v->valuestring, out)))
    return siam_errf(err, "config: compute must be \"f32\", \"bf16\" or \"int8\"");
  return 0;
}

static int get_int(const cJSON *obj, const char *path, const char *key, int lo, int hi,
                   int *out, char *err) {
  const cJSON *v = need(obj, path, key, err);
  if (!v) return -1;
  double d = cJSON_IsNumber(v) ? v->valuedouble : NAN;
  if (!cJSON_IsNumber(v) || d != floor(d))
    return siam_errf(err, "config: %s%s must be an integer", path, key);
  if (d < lo || d > hi)
    return siam_errf(err, "config: %s%s is %.17g, must be in %d..%d", path, key, d, lo, hi);
  *out = (int)d;
  return 0;
}

static int get_bool(const cJSON *obj, const char *path, const char *key, int *out, char *err) {
  const cJSON *v = need(obj, path, key, err);
  if (!v) return -1;
  if (!cJSON_IsBool(v)) return siam_errf(err, "config: %s%s must be true or false", path, key);
  *out = cJSON_IsTrue(v);
  return 0;
}

static int get_string(const cJSON *obj, const char *path, const char *key, char *out,
                      size_t cap, char *err) {
  const cJSON *v = need(obj, path, key, err);
  if (!v) return -1;
  if (!cJSON_IsString(v)) return siam_errf(err, "config: %s%s must be a string", path, key);
  size_t n = strlen(v->valuestring);
  if (n == 0 || n >= cap)
    return siam_errf(err, "config: %s%s must be 1..%zu bytes", path, key, cap - 1);
  memcpy(out, v->valuestring, n + 1);
  return 0;
}

static int get_activation(const cJSON *obj, const char *path, SiamActivation *out, char *err) {
  const cJSON *v = need(obj, path, "activation", err);
  if (!v) return -1;
  if (!cJSON_IsString(v) || siam_activation_parse(v->valuestring, out))
    return siam_errf(err, "config: %sactivation: unknown activation %s%s%s", path,
                     cJSON_IsString(v) ? "'" : "", cJSON_IsString(v) ? v->valuestring : "(not a string)",
                     cJSON_IsString(v) ? "'" : "");
  return 0;
}

static int get_object(const cJSON *root, const char *key, const cJSON **out, char *err) {
  *out = need(root, "", key, err);
  if (!*out) return -1;
  if (!cJSON_IsObject(*out)) return siam_errf(err, "config: %s must be an object", key);
  return 0;
}

/* ---- sections ----------------------------------------------------------- */

static int parse_encoder(SiamEncoderConfig *e, const cJSON *o, char *err) {
  const char *p = "encoder.";
  const cJSON *type = need(o, p, "type", err);
  if (!type) return -1;
  if (!cJSON_IsString(type) || strcmp(type->valuestring, "bert") != 0)
    return siam_errf(err, "config: encoder.type must be \"bert\"");
  if (get_int(o, p, "vocab_size", 1, MAX_VOCAB, &e->vocab_size, err) ||
      get_int(o, p, "hidden_size", 1, MAX_HIDDEN, &e->hidden_size, err) ||
      get_int(o, p, "num_layers", 0, MAX_LAYERS, &e->num_layers, err) ||
      get_int(o, p, "num_heads", 1, MAX_HEADS, &e->num_heads, err) ||
      get_int(o, p, "intermediate_size", 1, MAX_INTERMEDIATE, &e->intermediate_size, err) ||
      get_int(o, p, "max_position_embeddings", 1, MAX_POSITIONS, &e->max_position_embeddings, err) ||
      get_int(o, p, "type_vocab_size", 1, MAX_TYPES, &e->type_vocab_size, err) ||
      get_activation(o, p, &e->activation, err) ||
      get_bool(o, p, "pooler", &e->pooler, err))
    return -1;
  const cJSON *eps = need(o, p, "layer_norm_eps", err);
  if (!eps) return -1;
  if (!cJSON_IsNumber(eps)) return siam_errf(err, "config: encoder.layer_norm_eps must be a number");
  e->layer_norm_eps = eps->valuedouble;
  return 0;
}

static int parse_special(SiamTokenizerConfig *t, const cJSON *o, char *err) {
  const cJSON *extra = need(o, "tokenizer.", "extra_special_tokens", err);
  if (!extra) return -1;
  if (!cJSON_IsArray(extra))
    return siam_errf(err, "config: tokenizer.extra_special_tokens must be an array");
  int n = cJSON_GetArraySize(extra);
  if (n > SIAM_MAX_SPECIAL)
    return siam_errf(err, "config: tokenizer.extra_special_tokens has %d entries, at most %d", n,
                     SIAM_MAX_SPECIAL);
  t->n_extra_special = 0;
  const cJSON *s;
  cJSON_ArrayForEach(s, extra) {
    size_t len = cJSON_IsString(s) ? strlen(s->valuestring) : 0;
    if (len == 0 || len >= SIAM_MAX_NAME)
      return siam_errf(err, "config: tokenizer.extra_special_tokens[%d] must be a string of 1..%d bytes",
                       t->n_extra_special, SIAM_MAX_NAME - 1);
    memcpy(t->extra_special[t->n_extra_special++], s->valuestring, len + 1);
  }
  return 0;
}

static int parse_tokenizer(SiamTokenizerConfig *t, const cJSON *o, char *err) {
  const char *p = "tokenizer.";
  if (get_bool(o, p, "lowercase", &t->lowercase, err) ||
      get_bool(o, p, "strip_accents", &t->strip_accents, err) ||
      get_bool(o, p, "tokenize_chinese_chars", &t->tokenize_chinese_chars, err) ||
      get_int(o, p, "max_seq_length", 2, MAX_POSITIONS, &t->max_seq_length, err) ||
      get_string(o, p, "unk_token", t->unk_token, SIAM_MAX_NAME, err) ||
      get_string(o, p, "cls_token", t->cls_token, SIAM_MAX_NAME, err) ||
      get_string(o, p, "sep_token", t->sep_token, SIAM_MAX_NAME, err) ||
      get_string(o, p, "pad_token", t->pad_token, SIAM_MAX_NAME, err) ||
      get_string(o, p, "mask_token", t->mask_token, SIAM_MAX_NAME, err))
    return -1;
  return parse_special(t, o, err);
}

static int parse_pooling(SiamConfig *cfg, const cJSON *root, char *err) {
  const cJSON *arr = need(root, "", "pooling", err);
  char names[96];
  if (!arr) return -1;
  if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) == 0)
    return siam_errf(err, "config: pooling must be a non-empty array of %s", pool_names(names, sizeof names));
  cfg->pooling = 0;
  const cJSON *m;
  cJSON_ArrayForEach(m, arr) {
    int flag = 0;
    for (int i = 0; i < N_POOL_MODES && cJSON_IsString(m); i++)
      if (strcmp(m->valuestring, pool_modes[i].name) == 0) flag = pool_modes[i].flag;
    if (!flag)
      return siam_errf(err, "config: pooling: unknown mode %s%s%s (expected %s)", cJSON_IsString(m) ? "'" : "",
                       cJSON_IsString(m) ? m->valuestring : "(not a string)", cJSON_IsString(m) ? "'" : "",
                       pool_names(names, sizeof names));
    if (cfg->pooling & flag) return siam_errf(err, "config: pooling: mode '%s' listed twice", m->valuestring);
    cfg->pooling |= flag;
  }
  return 0;
}

static int parse_head(SiamConfig *cfg, const cJSON *root, char *err) {
  const cJSON *arr = need(root, "", "head", err);
  if (!arr) return -1;
  if (!cJSON_IsArray(arr)) return siam_errf(err, "config: head must be an array of dense layers");
  int n = cJSON_GetArraySize(arr);
  if (n > SIAM_MAX_HEAD) return siam_errf(err, "config: head has %d layers, at most %d", n, SIAM_MAX_HEAD);
  cfg->n_head = 0;
  const cJSON *l;
  cJSON_ArrayForEach(l, arr) {
    char path[32];
    snprintf(path, sizeof path, "head[%d].", cfg->n_head);
    SiamDenseConfig *d = &cfg->head[cfg->n_head];
    if (!cJSON_IsObject(l)) return siam_errf(err, "config: %s must be an object", path);
    if (get_int(l, path, "in", 1, MAX_DENSE, &d->in_features, err) ||
        get_int(l, path, "out", 1, MAX_DENSE, &d->out_features, err) ||
        get_bool(l, path, "bias", &d->bias, err) || get_activation(l, path, &d->activation, err))
      return -1;
    cfg->n_head++;
  }
  return 0;
}

static int get_number(const cJSON *obj, const char *path, const char *key, double lo, double hi, double *out,
                      char *err) {
  const cJSON *v = need(obj, path, key, err);
  if (!v) return -1;
  if (!cJSON_IsNumber(v) || !(v->valuedouble >= lo && v->valuedouble <= hi))
    return siam_errf(err, "config: %s%s must be a number from %g to %g", path, key, lo, hi);
  *out = v->valuedouble;
  return 0;
}

int siam_search_config_parse(SiamSearchConfig *s, const void *object, char err[SIAM_ERRMAX]) {
  const cJSON *o = object;
  double depth;
  if (!cJSON_IsObject(o)) return siam_errf(err, "config: search must be an object");
  const cJSON *f = cJSON_GetObjectItemCaseSensitive(o, "fusion");
  if (!cJSON_IsString(f) || strcmp(f->valuestring, "rrf") != 0)
    return siam_errf(err, "config: search.fusion must be \"rrf\"");
  if (get_number(o, "search.", "k", 0, 1e6, &s->k, err) ||
      get_number(o, "search.", "dense_weight", 0, 1, &s->dense_weight, err) ||
      get_number(o, "search.", "depth", 1, 100000, &depth, err))
    return -1;
  if (depth != (double)(int)depth) return siam_errf(err, "config: search.depth must be an integer");
  s->depth = (int)depth;
  s->present = 1;
  return 0;
}

int siam_config_parse(SiamConfig *cfg, const char *json, size_t len, char err[SIAM_ERRMAX]) {
  memset(cfg, 0, sizeof *cfg);
  cfg->search = (SiamSearchConfig)SIAM_SEARCH_DEFAULT;
  cJSON *root = cJSON_ParseWithLengthOpts(json, len, NULL, 0);
  if (!root) return siam_errf(err, "config: not valid JSON");
  int rc = -1;
  const cJSON *fmt, *enc, *tok;
  if (!cJSON_IsObject(root)) {
    siam_errf(err, "config: must be a JSON object");
    goto done;
  }
  fmt = need(root, "", "format", err);
  if (!fmt) goto done;
  if (!cJSON_IsString(fmt) || strcmp(fmt->valuestring, SIAM_FORMAT) != 0) {
    siam_errf(err, "config: format is %s%s%s, this siamsql reads \"" SIAM_FORMAT "\" (re-import the model with this version)",
              cJSON_IsString(fmt) ? "\"" : "", cJSON_IsString(fmt) ? fmt->valuestring : "not a string",
              cJSON_IsString(fmt) ? "\"" : "");
    goto done;
  }
  if (get_object(root, "encoder", &enc, err) || parse_encoder(&cfg->encoder, enc, err)) goto done;
  if (get_object(root, "tokenizer", &tok, err) || parse_tokenizer(&cfg->tokenizer, tok, err)) goto done;
  if (parse_pooling(cfg, root, err) || parse_head(cfg, root, err)) goto done;
  if (get_bool(root, "", "normalize", &cfg->normalize, err) || get_compute(root, &cfg->compute, err)) goto done;
  const cJSON *search = cJSON_GetObjectItemCaseSensitive(root, "search");
  if (search && siam_search_config_parse(&cfg->search, search, err)) goto done;
  rc = siam_config_validate(cfg, err);
done:
  cJSON_Delete(root);
  return rc;
}

/* ---- validation ---------------------------------------------------------- */

int siam_config_pooled_dim(const SiamConfig *cfg) { return siam_pool_count(cfg->pooling) * cfg->encoder.hidden_size; }

int siam_config_output_dim(const SiamConfig *cfg) {
  return cfg->n_head ? cfg->head[cfg->n_head - 1].out_features : siam_config_pooled_dim(cfg);
}

/* Floats the model needs: every weight, plus roughly what one text of
** max_seq_length tokens needs while it runs (attention scores S x S and a
** few S x hidden / S x intermediate buffers).  Doubles: nothing overflows. */
static double model_floats(const SiamConfig *cfg) {
  const SiamEncoderConfig *e = &cfg->encoder;
  double h = e->hidden_size, im = e->intermediate_size, s = cfg->tokenizer.max_seq_length;
  double n = ((double)e->vocab_size + e->max_position_embeddings + e->type_vocab_size + 2) * h;
  n += e->num_layers * (4 * h * h + 2 * h * im + 9 * h + im);
  if (e->pooler) n += h * h + h;
  for (int i = 0; i < cfg->n_head; i++)
    n += ((double)cfg->head[i].in_features + 1) * cfg->head[i].out_features;
  return n + s * s + s * (6 * h + im);
}

static int allowed_activation(SiamActivation a, int where) {
  const SiamActivationInfo *info = siam_activation_info(a);
  return info && (info->where & where);
}

/* Each encoder size against its range, naming the one that is out of it
** (configs built from a HuggingFace config.json arrive here unchecked). */
static int check_sizes(const SiamEncoderConfig *e, char *err) {
  const struct { const char *name; int value, lo, hi; } sizes[] = {
      {"vocab_size", e->vocab_size, 1, MAX_VOCAB},
      {"hidden_size", e->hidden_size, 1, MAX_HIDDEN},
      {"num_layers", e->num_layers, 0, MAX_LAYERS},
      {"num_heads", e->num_heads, 1, MAX_HEADS},
      {"intermediate_size", e->intermediate_size, 1, MAX_INTERMEDIATE},
      {"max_position_embeddings", e->max_position_embeddings, 1, MAX_POSITIONS},
      {"type_vocab_size", e->type_vocab_size, 1, MAX_TYPES},
  };
  for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++)
    if (sizes[i].value < sizes[i].lo || sizes[i].value > sizes[i].hi)
      return siam_errf(err, "config: encoder.%s is %d, must be in %d..%d", sizes[i].name, sizes[i].value,
                       sizes[i].lo, sizes[i].hi);
  return 0;
}

int siam_config_validate(const SiamConfig *cfg, char err[SIAM_ERRMAX]) {
  const SiamEncoderConfig *e = &cfg->encoder;
  if (check_sizes(e, err)) return -1;
  if (e->hidden_size % e->num_heads)
    return siam_errf(err, "config: encoder.num_heads (%d) does not divide encoder.hidden_size (%d)",
                     e->num_heads, e->hidden_size);
  if (!allowed_activation(e->activation, SIAM_ACT_IN_ENCODER)) {
    char names[128];
    siam_activation_names(SIAM_ACT_IN_ENCODER, 0, 0, names, sizeof names);
    return siam_errf(err, "config: encoder.activation must be %s, not %s", names, siam_activation_name(e->activation));
  }
  if (!(e->layer_norm_eps > 0 && e->layer_norm_eps < 1))
    return siam_errf(err, "config: encoder.layer_norm_eps must be in (0, 1)");
  const SiamTokenizerConfig *t = &cfg->tokenizer;
  if (t->max_seq_length < 2 || t->max_seq_length > e->max_position_embeddings)
    return siam_errf(err, "config: tokenizer.max_seq_length is %d, must be in 2..%d (max_position_embeddings)",
                     t->max_seq_length, e->max_position_embeddings);
  char names[96];
  if (cfg->pooling == 0 || (cfg->pooling & ~all_pool_flags()))
    return siam_errf(err, "config: pooling must name at least one of %s", pool_names(names, sizeof names));
  if (cfg->n_head < 0 || cfg->n_head > SIAM_MAX_HEAD)
    return siam_errf(err, "config: head has %d layers, at most %d", cfg->n_head, SIAM_MAX_HEAD);
  int width = siam_config_pooled_dim(cfg);
  for (int i = 0; i < cfg->n_head; i++) {
    const SiamDenseConfig *d = &cfg->head[i];
    if (d->in_features != width)
      return siam_errf(err, "config: head[%d].in is %d, but its input is %d wide", i, d->in_features, width);
    if (d->out_features < 1 || d->out_features > MAX_DENSE)
      return siam_errf(err, "config: head[%d].out is %d, must be in 1..%d", i, d->out_features, MAX_DENSE);
    if (!allowed_activation(d->activation, SIAM_ACT_IN_HEAD)) {
      char allowed[128];
      siam_activation_names(SIAM_ACT_IN_HEAD, 0, 0, allowed, sizeof allowed);
      return siam_errf(err, "config: head[%d].activation must be %s", i, allowed);
    }
    width = d->out_features;
  }
  if ((unsigned)cfg->compute >= SIAM_N_COMPUTE) return siam_errf(err, "config: compute %d is unknown", (int)cfg->compute);
  double floats = model_floats(cfg);
  if (floats > MAX_FLOATS)
    return siam_errf(err, "config: the model needs %.0f MiB of float32 weights and activations, more than the "
                          "%.0f MiB siamsql allows (sizes too large)", floats * 4 / 1048576, MAX_FLOATS * 4 / 1048576);
  return 0;
}

/* ---- printing ------------------------------------------------------------ */

static int add_tokenizer(cJSON *root, const SiamTokenizerConfig *t) {
  cJSON *o = cJSON_AddObjectToObject(root, "tokenizer");
  if (!o || !cJSON_AddBoolToObject(o, "lowercase", t->lowercase) ||
      !cJSON_AddBoolToObject(o, "strip_accents", t->strip_accents) ||
      !cJSON_AddBoolToObject(o, "tokenize_chinese_chars", t->tokenize_chinese_chars) ||
      !cJSON_AddNumberToObject(o, "max_seq_length", t->max_seq_length) ||
      !cJSON_AddStringToObject(o, "unk_token", t->unk_token) ||
      !cJSON_AddStringToObject(o, "cls_token", t->cls_token) ||
      !cJSON_AddStringToObject(o, "sep_token", t->sep_token) ||
      !cJSON_AddStringToObject(o, "pad_token", t->pad_token) ||
      !cJSON_AddStringToObject(o, "mask_token", t->mask_token))
    return -1;
  cJSON *extra = cJSON_AddArrayToObject(o, "extra_special_tokens");
  if (!extra) return -1;
  for (int i = 0; i < t->n_extra_special; i++) {
    cJSON *s = cJSON_CreateString(t->extra_special[i]);
    if (!s || !cJSON_AddItemToArray(extra, s)) return -1;
  }
  return 0;
}

static int add_encoder(cJSON *root, const SiamEncoderConfig *e) {
  cJSON *o = cJSON_AddObjectToObject(root, "encoder");
  if (!o || !cJSON_AddStringToObject(o, "type", "bert") ||
      !cJSON_AddNumberToObject(o, "vocab_size", e->vocab_size) ||
      !cJSON_AddNumberToObject(o, "hidden_size", e->hidden_size) ||
      !cJSON_AddNumberToObject(o, "num_layers", e->num_layers) ||
      !cJSON_AddNumberToObject(o, "num_heads", e->num_heads) ||
      !cJSON_AddNumberToObject(o, "intermediate_size", e->intermediate_size) ||
      !cJSON_AddNumberToObject(o, "max_position_embeddings", e->max_position_embeddings) ||
      !cJSON_AddNumberToObject(o, "type_vocab_size", e->type_vocab_size) ||
      !cJSON_AddStringToObject(o, "activation", siam_activation_name(e->activation)) ||
      !cJSON_AddNumberToObject(o, "layer_norm_eps", e->layer_norm_eps) ||
      !cJSON_AddBoolToObject(o, "pooler", e->pooler))
    return -1;
  return 0;
}

static int add_pooling_and_head(cJSON *root, const SiamConfig *cfg) {
  cJSON *pool = cJSON_AddArrayToObject(root, "pooling");
  if (!pool) return -1;
  for (int i = 0; i < N_POOL_MODES; i++) {
    if (!(cfg->pooling & pool_modes[i].flag)) continue;
    cJSON *s = cJSON_CreateString(pool_modes[i].name);
    if (!s || !cJSON_AddItemToArray(pool, s)) return -1;
  }
  cJSON *head = cJSON_AddArrayToObject(root, "head");
  if (!head) return -1;
  for (int i = 0; i < cfg->n_head; i++) {
    const SiamDenseConfig *d = &cfg->head[i];
    cJSON *l = cJSON_CreateObject();
    if (!l || !cJSON_AddItemToArray(head, l)) {
      cJSON_Delete(l);
      return -1;
    }
    if (!cJSON_AddNumberToObject(l, "in", d->in_features) ||
        !cJSON_AddNumberToObject(l, "out", d->out_features) ||
        !cJSON_AddBoolToObject(l, "bias", d->bias) ||
        !cJSON_AddStringToObject(l, "activation", siam_activation_name(d->activation)))
      return -1;
  }
  return 0;
}

static int add_search(cJSON *root, const SiamSearchConfig *s) {
  cJSON *o = cJSON_AddObjectToObject(root, "search");
  return !o || !cJSON_AddStringToObject(o, "fusion", "rrf") || !cJSON_AddNumberToObject(o, "k", s->k) ||
         !cJSON_AddNumberToObject(o, "dense_weight", s->dense_weight) ||
         !cJSON_AddNumberToObject(o, "depth", s->depth);
}

char *siam_config_to_json(const SiamConfig *cfg) {
  cJSON *root = cJSON_CreateObject();
  char *out = NULL;
  if (!root || !cJSON_AddStringToObject(root, "format", SIAM_FORMAT) ||
      add_encoder(root, &cfg->encoder) || add_tokenizer(root, &cfg->tokenizer) ||
      add_pooling_and_head(root, cfg) || !cJSON_AddBoolToObject(root, "normalize", cfg->normalize) ||
      (cfg->search.present && add_search(root, &cfg->search)) ||
      (cfg->compute != SIAM_COMPUTE_F32 && !cJSON_AddStringToObject(root, "compute", siam_compute_name(cfg->compute))))
    goto done;
  char *text = cJSON_PrintUnformatted(root);  /* cJSON's allocator: copy into ours */
  if (text) {
    out = siam_strndup(text, strlen(text));
    cJSON_free(text);
  }
done:
  cJSON_Delete(root);
  return out;
}

/* ---- the tensors a config requires -------------------------------------- */

static void spec(SiamTensorSpec *s, int *n, const char *name, int64_t d0, int64_t d1) {
  SiamTensorSpec *t = &s[(*n)++];
  snprintf(t->name, sizeof t->name, "%s", name);
  t->ndim = d1 ? 2 : 1;
  t->shape[0] = d0;
  t->shape[1] = d1;
}

static void layer_specs(SiamTensorSpec *s, int *n, int layer, int64_t h, int64_t im) {
  static const char *const qkv[] = {"query", "key", "value"};
  char name[96];
#define L(suffix, d0, d1)                                                    \
  do {                                                                       \
    snprintf(name, sizeof name, "encoder.layer.%d.%s", layer, suffix);       \
    spec(s, n, name, d0, d1);                                                \
  } while (0)
  for (int i = 0; i < 3; i++) {
    char suffix[64];
    snprintf(suffix, sizeof suffix, "attention.self.%s.weight", qkv[i]);
    L(suffix, h, h);
    snprintf(suffix, sizeof suffix, "attention.self.%s.bias", qkv[i]);
    L(suffix, h, 0);
  }
  L("attention.output.dense.weight", h, h);
  L("attention.output.dense.bias", h, 0);
  L("attention.output.LayerNorm.weight", h, 0);
  L("attention.output.LayerNorm.bias", h, 0);
  L("intermediate.dense.weight", im, h);
  L("intermediate.dense.bias", im, 0);
  L("output.dense.weight", h, im);
  L("output.dense.bias", h, 0);
  L("output.LayerNorm.weight", h, 0);
  L("output.LayerNorm.bias", h, 0);
#undef L
}

#define TENSORS_PER_LAYER 16

int siam_config_tensors(const SiamConfig *cfg, SiamTensorSpec **specs, char err[SIAM_ERRMAX]) {
  const SiamEncoderConfig *e = &cfg->encoder;
  size_t cap = 5 + (size_t)e->num_layers * TENSORS_PER_LAYER + 2 + 2 * (size_t)cfg->n_head;
  SiamTensorSpec *s = siam_calloc(cap, sizeof *s);
  if (!s) return siam_errf(err, "out of memory");
  int n = 0;
  int64_t h = e->hidden_size;
  spec(s, &n, "embeddings.word_embeddings.weight", e->vocab_size, h);
  spec(s, &n, "embeddings.position_embeddings.weight", e->max_position_embeddings, h);
  spec(s, &n, "embeddings.token_type_embeddings.weight", e->type_vocab_size, h);
  spec(s, &n, "embeddings.LayerNorm.weight", h, 0);
  spec(s, &n, "embeddings.LayerNorm.bias", h, 0);
  for (int i = 0; i < e->num_layers; i++) layer_specs(s, &n, i, h, e->intermediate_size);
  if (e->pooler) {
    spec(s, &n, "pooler.dense.weight", h, h);
    spec(s, &n, "pooler.dense.bias", h, 0);
  }
  for (int i = 0; i < cfg->n_head; i++) {
    char name[96];
    snprintf(name, sizeof name, "head.%d.weight", i);
    spec(s, &n, name, cfg->head[i].out_features, cfg->head[i].in_features);
    if (cfg->head[i].bias) {
      snprintf(name, sizeof name, "head.%d.bias", i);
      spec(s, &n, name, cfg->head[i].out_features, 0);
    }
  }
  *specs = s;
  return n;
}

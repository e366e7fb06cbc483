/*
** hfdir.c — import a model from, and export it to, a directory on disk in the
** layouts HuggingFace transformers and sentence-transformers use.
**
**   SELECT siam_import('minilm', '/models/all-MiniLM-L6-v2');
**   SELECT siam_export('minilm', '/tmp/minilm-copy');
**
** A plain HuggingFace BERT directory holds config.json (BertConfig),
** vocab.txt, tokenizer_config.json, special_tokens_map.json and
** model.safetensors; it becomes a model with mean pooling, no head, no
** normalization.  A sentence-transformers directory adds modules.json, which
** lists the pipeline in order:
**
**   Transformer (path "")  ->  Pooling (1_Pooling/config.json)
**   -> Dense* (N_Dense/{config.json,model.safetensors})  ->  Normalize?
**
** and sentence_bert_config.json beside the Transformer's files.
**
** How it works: the reader fills a SiamBundle from those files, naming the
** file in every message ("1_Pooling/config.json: missing ..."), then hands the
** result to siam_config_validate and siam_bundle_check, which know what the
** architecture requires.  The writer produces the sentence-transformers layout
** (whose root is also a plain HuggingFace directory) so that reading it back
** gives the same config and byte-identical tensors.
*/
#include "bundle.h"
#include "safetensors.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <ftw.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifndef PATH_MAX
#define PATH_MAX 4096
#endif

#define MAX_JSON_FILE ((size_t)64 << 20)    /* config files are KBs; tokenizer.json is not read */
#define MAX_VOCAB_FILE ((size_t)256 << 20)
#define MAX_MODULES 64
#define ST_PREFIX "sentence_transformers.models."
#define NO_SAFETENSORS_HINT                                                                  \
  "siamsql reads safetensors — convert it (e.g. save_pretrained(..., safe_serialization=True))"

/* ---- paths and files ------------------------------------------------------ */

/* "dir/module/file" into out; module and file may be "". */
static int join(char out[PATH_MAX], const char *dir, const char *module, const char *file, char *err) {
  int n = snprintf(out, PATH_MAX, "%s%s%s%s%s", dir, *module ? "/" : "", module, *file ? "/" : "", file);
  if (n < 0 || n >= PATH_MAX) return siam_errf(err, "path too long: %s/%s/%s", dir, module, file);
  return 0;
}

/* How messages name a file: relative to the model directory. */
static void rel_name(char *out, size_t cap, const char *module, const char *file) {
  snprintf(out, cap, "%s%s%s", module, *module ? "/" : "", file);
}

static int is_file(const char *dir, const char *module, const char *file) {
  char path[PATH_MAX];
  struct stat sb;
  return join(path, dir, module, file, NULL) == 0 && stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

/* Parses dir/module/file as a JSON object (a list if `list`); *root is freed
** with cJSON_Delete. */
static int load_json_as(const char *dir, const char *module, const char *file, int list, cJSON **root, char *err) {
  char path[PATH_MAX], rel[PATH_MAX], why[SIAM_ERRMAX];
  uint8_t *text = NULL;
  size_t len = 0;
  *root = NULL;
  rel_name(rel, sizeof rel, module, file);
  if (join(path, dir, module, file, err)) return -1;
  if (siam_read_file(path, MAX_JSON_FILE, &text, &len, why)) return siam_errf(err, "%s: %s", rel, why);
  const char *end = NULL;
  *root = cJSON_ParseWithLengthOpts((const char *)text, len, &end, 0);
  size_t at = end ? (size_t)(end - (const char *)text) : 0;
  siam_free(text);
  if (!*root) return siam_errf(err, "%s: not valid JSON (at byte %zu)", rel, at);
  if (list ? cJSON_IsArray(*root) : cJSON_IsObject(*root)) return 0;
  cJSON_Delete(*root);
  *root = NULL;
  return siam_errf(err, "%s: expected a JSON %s", rel, list ? "list" : "object");
}

static int load_json(const char *dir, const char *module, const char *file, cJSON **root, char *err) {
  return load_json_as(dir, module, file, 0, root, err);
}

/* ---- JSON fields, with the file named in every message -------------------- */

typedef struct {
  const cJSON *o;    /* the object being read */
  const char *file;  /* its name relative to the model directory */
  char *err;
} Json;

/* Present and not null. */
static const cJSON *jget(const Json *j, const char *key) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(j->o, key);
  return v && !cJSON_IsNull(v) ? v : NULL;
}

/* An integer in lo..hi; if absent, def (or an error when required). */
static int jint(const Json *j, const char *key, int required, int def, int lo, int hi, int *out) {
  const cJSON *v = jget(j, key);
  if (!v) {
    if (required) return siam_errf(j->err, "%s: missing %s", j->file, key);
    *out = def;
    return 0;
  }
  double d = cJSON_IsNumber(v) ? v->valuedouble : NAN;
  if (!(d >= lo && d <= hi) || d != floor(d))
    return siam_errf(j->err, "%s: %s must be an integer in %d..%d", j->file, key, lo, hi);
  *out = (int)d;
  return 0;
}

/* A boolean; def < 0 means required. */
static int jbool(const Json *j, const char *key, int def, int *out) {
  const cJSON *v = jget(j, key);
  if (!v) {
    if (def < 0) return siam_errf(j->err, "%s: missing %s", j->file, key);
    *out = def;
    return 0;
  }
  if (!cJSON_IsBool(v)) return siam_errf(j->err, "%s: %s must be true or false", j->file, key);
  *out = cJSON_IsTrue(v);
  return 0;
}

/* A string, or def when absent (NULL def: required). */
static int jstr(const Json *j, const char *key, const char *def, const char **out) {
  const cJSON *v = jget(j, key);
  if (!v) {
    if (!def) return siam_errf(j->err, "%s: missing %s", j->file, key);
    *out = def;
    return 0;
  }
  if (!cJSON_IsString(v)) return siam_errf(j->err, "%s: %s must be a string", j->file, key);
  *out = v->valuestring;
  return 0;
}

/* ---- reader state ----------------------------------------------------------- */

typedef struct {
  const char *dir;
  SiamBundle *b;
  int cap;              /* allocated length of b->tensors */
  int tok_lower;        /* tokenizer_config.json do_lower_case */
  int strip_accents;    /* -1: follow tok_lower (null in the file) */
  int model_max;        /* tokenizer model_max_length when sane, else 0 */
  int sbert_max;        /* sentence_bert_config.json max_seq_length, else 0 */
  int sbert_lower;      /* sentence_bert_config.json do_lower_case */
  char *err;
} Reader;

/* A JSON file of the directory being read, with the reader over it; the
** caller frees root with cJSON_Delete. */
typedef struct {
  cJSON *root;
  char rel[PATH_MAX]; /* its name relative to the directory, for messages */
  Json j;
} JsonFile;

/* Reads module/file into f: 0, or -1 + r->err. */
static int open_json(Reader *r, const char *module, const char *file, JsonFile *f) {
  rel_name(f->rel, sizeof f->rel, module, file);
  if (load_json(r->dir, module, file, &f->root, r->err)) return -1;
  f->j = (Json){f->root, f->rel, r->err};
  return 0;
}

typedef enum { MOD_TRANSFORMER, MOD_POOLING, MOD_DENSE, MOD_NORMALIZE } ModKind;

typedef struct {
  int idx;              /* position in the pipeline */
  int pos;              /* position in modules.json, to break ties */
  ModKind kind;
  char path[256];       /* relative to the model directory, "" for the root */
} Module;

/* ---- tensors ------------------------------------------------------------------ */

static SiamTensor *push_tensor(Reader *r) {
  SiamBundle *b = r->b;
  if (b->n_tensors == r->cap) {
    size_t bytes;
    int cap = r->cap ? r->cap * 2 : 64;
    if (cap < r->cap || siam_mul_size((size_t)cap, sizeof *b->tensors, &bytes)) return NULL;
    SiamTensor *t = siam_realloc(b->tensors, bytes);
    if (!t) return NULL;
    b->tensors = t;
    r->cap = cap;
  }
  SiamTensor *t = &b->tensors[b->n_tensors++];
  memset(t, 0, sizeof *t);
  return t;
}

/* float64 is narrowed to float32 (round to nearest even, as the FPU does);
** values past float's range become infinities explicitly, since the C cast
** leaves that case undefined. */
static void f64_to_f32(const uint8_t *src, float *dst, size_t count) {
  for (size_t i = 0; i < count; i++) {
    uint64_t bits = 0;
    for (int k = 7; k >= 0; k--) bits = bits << 8 | src[8 * i + k];
    double d;
    memcpy(&d, &bits, sizeof d);
    if (isfinite(d) && fabs(d) >= 0x1.ffffffp127) dst[i] = d > 0 ? INFINITY : -INFINITY;
    else dst[i] = (float)d;
  }
}

/* The dtype a safetensors entry is stored as: its own, or F32 for F64. */
static int float_dtype(const char *st, SiamDtype *d, int *is_f64) {
  *is_f64 = strcmp(st, "F64") == 0;
  if (*is_f64) {
    *d = SIAM_F32;
    return 0;
  }
  return siam_dtype_from_safetensors(st, d);
}

/* Copies entry e out of the file image as tensor `name`. */
static int add_tensor(Reader *r, const char *file, const char *name, const SiamStEntry *e) {
  SiamDtype d;
  int is_f64;
  if (float_dtype(e->dtype, &d, &is_f64))
    return siam_errf(r->err, "%s: tensor %s has dtype %s, expected F32, F16, BF16 or F64", file, e->name, e->dtype);
  if (e->ndim > 4) return siam_errf(r->err, "%s: tensor %s has %d dimensions", file, e->name, e->ndim);
  SiamTensor *t = push_tensor(r);
  if (!t) return siam_errf(r->err, "out of memory");
  t->dtype = d;
  t->ndim = e->ndim;
  memcpy(t->shape, e->shape, sizeof t->shape);
  t->nbytes = is_f64 ? e->nbytes / 2 : e->nbytes;
  t->name = siam_strndup(name, strlen(name));
  t->data = siam_malloc(t->nbytes);
  if (!t->name || !t->data) return siam_errf(r->err, "out of memory for tensor %s (%zu bytes)", name, t->nbytes);
  if (is_f64) f64_to_f32(e->data, t->data, t->nbytes / 4);
  else if (t->nbytes) memcpy(t->data, e->data, t->nbytes);
  return 0;
}

/* Opens module/model.safetensors, explaining what to do when only a PyTorch
** pickle or a sharded checkpoint is there. */
static int open_safetensors(Reader *r, const char *module, SiamSafetensors *st) {
  char path[PATH_MAX], rel[PATH_MAX], why[SIAM_ERRMAX];
  rel_name(rel, sizeof rel, module, "model.safetensors");
  const char *where = *module ? module : "the model directory";
  if (!is_file(r->dir, module, "model.safetensors")) {
    if (is_file(r->dir, module, "model.safetensors.index.json"))
      return siam_errf(r->err, "%s holds a sharded checkpoint (model.safetensors.index.json); siamsql reads one "
                               "model.safetensors file — save it with a larger max_shard_size", where);
    if (is_file(r->dir, module, "pytorch_model.bin"))
      return siam_errf(r->err, "%s has only pytorch_model.bin; " NO_SAFETENSORS_HINT, where);
  }
  if (join(path, r->dir, module, "model.safetensors", r->err)) return -1;
  if (siam_st_read_file(st, path, why)) return siam_errf(r->err, "%s: %s", rel, why);
  return 0;
}

/* The encoder's tensors: "bert." prefixes dropped, integer buffers such as
** embeddings.position_ids skipped (they are not weights), and so are the
** pretraining heads (cls.predictions.*, cls.seq_relationship.*) that a raw
** BERT checkpoint carries and no sentence encoder uses; anything else unknown
** is left for siam_bundle_check to report. */
static int read_encoder_tensors(Reader *r, const char *module) {
  SiamSafetensors st;
  char rel[PATH_MAX];
  if (open_safetensors(r, module, &st)) return -1;
  rel_name(rel, sizeof rel, module, "model.safetensors");
  int rc = 0, is_f64;
  SiamDtype d;
  for (int i = 0; i < st.n_entries && rc == 0; i++) {
    const SiamStEntry *e = &st.entries[i];
    const char *name = strncmp(e->name, "bert.", 5) == 0 ? e->name + 5 : e->name;
    if (strcmp(name, "embeddings.position_ids") == 0 || strncmp(e->name, "cls.", 4) == 0 ||
        float_dtype(e->dtype, &d, &is_f64))
      continue;
    if (strncmp(name, "pooler.", 7) == 0) r->b->cfg.encoder.pooler = 1;
    rc = add_tensor(r, rel, name, e);
  }
  siam_st_free(&st);
  return rc;
}

/* A Dense module's linear.weight / linear.bias become head.<j>.weight / .bias. */
static int read_dense_tensors(Reader *r, const char *module, int j) {
  SiamSafetensors st;
  char rel[PATH_MAX];
  if (open_safetensors(r, module, &st)) return -1;
  rel_name(rel, sizeof rel, module, "model.safetensors");
  int rc = 0;
  for (int i = 0; i < st.n_entries && rc == 0; i++) {
    const SiamStEntry *e = &st.entries[i];
    char name[64];
    if (strcmp(e->name, "linear.weight") == 0) snprintf(name, sizeof name, "head.%d.weight", j);
    else if (strcmp(e->name, "linear.bias") == 0) snprintf(name, sizeof name, "head.%d.bias", j);
    else rc = siam_errf(r->err, "%s: unexpected tensor %s (a Dense module has linear.weight and linear.bias)",
                        rel, e->name);
    if (rc == 0) rc = add_tensor(r, rel, name, e);
  }
  siam_st_free(&st);
  return rc;
}

/* ---- config.json (BertConfig) ---------------------------------------------- */

static int parse_hidden_act(const Json *j, SiamActivation *a) {
  const char *s;
  char names[128];
  if (jstr(j, "hidden_act", "gelu", &s)) return -1;
  if (siam_activation_from_hf(s, a) == 0) return 0;
  siam_activation_names(SIAM_ACT_IN_ENCODER, 1, 0, names, sizeof names);
  return siam_errf(j->err, "%s: hidden_act '%.40s' is not supported (%s)", j->file, s, names);
}

/* model_type and position_embedding_type guard against other architectures
** that share BERT's file layout but not its forward pass. */
static int check_architecture(const Json *j) {
  const char *type, *pos;
  if (jstr(j, "model_type", "bert", &type) || jstr(j, "position_embedding_type", "absolute", &pos)) return -1;
  if (strcmp(type, "bert") != 0)
    return siam_errf(j->err, "%s: model_type is '%.40s'; siamsql reads BERT models only", j->file, type);
  if (strcmp(pos, "absolute") != 0)
    return siam_errf(j->err, "%s: position_embedding_type '%.40s' is not supported (absolute only)", j->file, pos);
  return 0;
}

/* Sizes BertConfig always writes are required; the rest default as in
** transformers' BertConfig. */
static int parse_bert_config(Reader *r, const char *module) {
  JsonFile f;
  if (open_json(r, module, "config.json", &f)) return -1;
  SiamEncoderConfig *e = &r->b->cfg.encoder;
  int rc = -1;
  const cJSON *eps = jget(&f.j, "layer_norm_eps");
  if (check_architecture(&f.j) || jint(&f.j, "vocab_size", 1, 0, 1, INT_MAX, &e->vocab_size) ||
      jint(&f.j, "hidden_size", 1, 0, 1, INT_MAX, &e->hidden_size) ||
      jint(&f.j, "num_hidden_layers", 1, 0, 0, INT_MAX, &e->num_layers) ||
      jint(&f.j, "num_attention_heads", 1, 0, 1, INT_MAX, &e->num_heads) ||
      jint(&f.j, "intermediate_size", 1, 0, 1, INT_MAX, &e->intermediate_size) ||
      jint(&f.j, "max_position_embeddings", 0, 512, 1, INT_MAX, &e->max_position_embeddings) ||
      jint(&f.j, "type_vocab_size", 0, 2, 1, INT_MAX, &e->type_vocab_size) || parse_hidden_act(&f.j, &e->activation))
    goto done;
  if (eps && !cJSON_IsNumber(eps)) {
    siam_errf(r->err, "%s: layer_norm_eps must be a number", f.rel);
    goto done;
  }
  e->layer_norm_eps = eps ? eps->valuedouble : 1e-12;
  rc = 0;
done:
  cJSON_Delete(f.root);
  return rc;
}

/* ---- vocab.txt ------------------------------------------------------------------ */

static int count_lines(const uint8_t *text, size_t len) {
  size_t n = 0;
  for (size_t i = 0; i < len; i++) n += text[i] == '\n';
  if (len && text[len - 1] != '\n') n++;  /* last line without a newline */
  return n > INT_MAX ? INT_MAX : (int)n;
}

/* One token per line, id = line number; only the line end ("\n" or "\r\n")
** is removed, since spaces can be part of a token. */
static int split_vocab(Reader *r, const uint8_t *text, size_t len, int n) {
  SiamBundle *b = r->b;
  b->vocab = siam_calloc((size_t)n, sizeof *b->vocab);
  if (!b->vocab) return siam_errf(r->err, "out of memory");
  size_t at = 0;
  for (int i = 0; i < n; i++) {
    const uint8_t *nl = memchr(text + at, '\n', len - at);
    size_t end = nl ? (size_t)(nl - text) : len, tl = end - at;
    if (tl && text[at + tl - 1] == '\r') tl--;
    if (memchr(text + at, 0, tl)) return siam_errf(r->err, "vocab.txt: line %d contains a NUL byte", i + 1);
    b->vocab[i] = siam_strndup((const char *)text + at, tl);
    if (!b->vocab[i]) return siam_errf(r->err, "out of memory");
    b->n_vocab = i + 1;
    at = end + 1;
  }
  return 0;
}

static int read_vocab(Reader *r, const char *module) {
  char path[PATH_MAX], rel[PATH_MAX], why[SIAM_ERRMAX];
  uint8_t *text;
  size_t len;
  rel_name(rel, sizeof rel, module, "vocab.txt");
  if (join(path, r->dir, module, "vocab.txt", r->err)) return -1;
  if (siam_read_file(path, MAX_VOCAB_FILE, &text, &len, why)) return siam_errf(r->err, "%s: %s", rel, why);
  int n = count_lines(text, len), rc;
  if (n != r->b->cfg.encoder.vocab_size)
    rc = siam_errf(r->err, "%s has %d tokens, config.json vocab_size is %d", rel, n, r->b->cfg.encoder.vocab_size);
  else
    rc = split_vocab(r, text, len, n);
  siam_free(text);
  return rc;
}

/* ---- tokenizer_config.json / special_tokens_map.json ----------------------------- */

/* A token is a string or an AddedToken object {"content": "...", ...}. */
static int token_text(const Json *j, const char *key, const cJSON *v, const char **out) {
  if (cJSON_IsObject(v)) v = cJSON_GetObjectItemCaseSensitive(v, "content");
  if (!cJSON_IsString(v) || !v->valuestring[0])
    return siam_errf(j->err, "%s: %s must be a non-empty string or {\"content\": ...}", j->file, key);
  if (strlen(v->valuestring) >= SIAM_MAX_NAME)
    return siam_errf(j->err, "%s: %s is longer than %d bytes", j->file, key, SIAM_MAX_NAME - 1);
  *out = v->valuestring;
  return 0;
}

static int special_token(const Json *j, const char *key, char dst[SIAM_MAX_NAME]) {
  const cJSON *v = jget(j, key);
  const char *s;
  if (!v) return 0;  /* keep what we have */
  if (token_text(j, key, v, &s)) return -1;
  snprintf(dst, SIAM_MAX_NAME, "%s", s);
  return 0;
}

static int has_extra(const SiamTokenizerConfig *t, const char *s) {
  for (int i = 0; i < t->n_extra_special; i++)
    if (strcmp(t->extra_special[i], s) == 0) return 1;
  return 0;
}

static int add_extra(const Json *j, SiamTokenizerConfig *t, const char *s) {
  if (has_extra(t, s)) return 0;
  if (t->n_extra_special >= SIAM_MAX_SPECIAL)
    return siam_errf(j->err, "%s: more than %d additional special tokens", j->file, SIAM_MAX_SPECIAL);
  snprintf(t->extra_special[t->n_extra_special++], SIAM_MAX_NAME, "%s", s);
  return 0;
}

/* additional_special_tokens replaces the list read so far, as in transformers. */
static int extra_tokens(const Json *j, SiamTokenizerConfig *t) {
  const cJSON *v = jget(j, "additional_special_tokens"), *item;
  if (!v) return 0;
  if (!cJSON_IsArray(v)) return siam_errf(j->err, "%s: additional_special_tokens must be a list", j->file);
  t->n_extra_special = 0;
  cJSON_ArrayForEach(item, v) {
    const char *s;
    if (token_text(j, "additional_special_tokens", item, &s) || add_extra(j, t, s)) return -1;
  }
  return 0;
}

static int is_standard_special(const SiamTokenizerConfig *t, const char *s) {
  return !strcmp(s, t->unk_token) || !strcmp(s, t->cls_token) || !strcmp(s, t->sep_token) ||
         !strcmp(s, t->pad_token) || !strcmp(s, t->mask_token);
}

/* Newer transformers list added tokens in added_tokens_decoder; those marked
** special are kept whole in text like the additional special tokens. */
static int added_specials(const Json *j, SiamTokenizerConfig *t) {
  const cJSON *v = jget(j, "added_tokens_decoder"), *item;
  if (!cJSON_IsObject(v)) return 0;
  cJSON_ArrayForEach(item, v) {
    const cJSON *content = cJSON_GetObjectItemCaseSensitive(item, "content");
    const char *s;
    if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(item, "special"))) continue;
    if (token_text(j, "added_tokens_decoder content", content, &s)) return -1;
    if (!is_standard_special(t, s) && add_extra(j, t, s)) return -1;
  }
  return 0;
}

static int special_tokens(const Json *j, SiamTokenizerConfig *t) {
  if (special_token(j, "unk_token", t->unk_token) || special_token(j, "cls_token", t->cls_token) ||
      special_token(j, "sep_token", t->sep_token) || special_token(j, "pad_token", t->pad_token) ||
      special_token(j, "mask_token", t->mask_token))
    return -1;
  return extra_tokens(j, t);
}

/* model_max_length is often a huge placeholder (1e30): use it only if sane. */
static void read_model_max(Reader *r, const Json *j) {
  const cJSON *v = jget(j, "model_max_length");
  double d = cJSON_IsNumber(v) ? v->valuedouble : 0;
  r->model_max = d >= 1 && d <= 1000000 && d == floor(d) ? (int)d : 0;
}

static int parse_tokenizer_config(Reader *r, const char *module) {
  JsonFile f;
  if (!is_file(r->dir, module, "tokenizer_config.json")) return 0;
  if (open_json(r, module, "tokenizer_config.json", &f)) return -1;
  SiamTokenizerConfig *t = &r->b->cfg.tokenizer;
  const cJSON *sa = jget(&f.j, "strip_accents");
  int rc = jbool(&f.j, "do_lower_case", 1, &r->tok_lower) ||
           jbool(&f.j, "tokenize_chinese_chars", 1, &t->tokenize_chinese_chars) || special_tokens(&f.j, t) ||
           added_specials(&f.j, t);
  if (rc == 0 && sa) rc = jbool(&f.j, "strip_accents", 0, &r->strip_accents);
  if (rc == 0) read_model_max(r, &f.j);
  cJSON_Delete(f.root);
  return rc ? -1 : 0;
}

/* transformers lets special_tokens_map.json override tokenizer_config.json. */
static int parse_special_tokens_map(Reader *r, const char *module) {
  JsonFile f;
  if (!is_file(r->dir, module, "special_tokens_map.json")) return 0;
  if (open_json(r, module, "special_tokens_map.json", &f)) return -1;
  int rc = special_tokens(&f.j, &r->b->cfg.tokenizer);
  cJSON_Delete(f.root);
  return rc;
}

static int parse_sbert_config(Reader *r, const char *module) {
  JsonFile f;
  if (!is_file(r->dir, module, "sentence_bert_config.json")) return 0;
  if (open_json(r, module, "sentence_bert_config.json", &f)) return -1;
  int rc = jint(&f.j, "max_seq_length", 0, 0, 1, INT_MAX, &r->sbert_max) ||
           jbool(&f.j, "do_lower_case", 0, &r->sbert_lower);
  cJSON_Delete(f.root);
  return rc ? -1 : 0;
}

static void tokenizer_defaults(SiamTokenizerConfig *t) {
  snprintf(t->unk_token, SIAM_MAX_NAME, "[UNK]");
  snprintf(t->cls_token, SIAM_MAX_NAME, "[CLS]");
  snprintf(t->sep_token, SIAM_MAX_NAME, "[SEP]");
  snprintf(t->pad_token, SIAM_MAX_NAME, "[PAD]");
  snprintf(t->mask_token, SIAM_MAX_NAME, "[MASK]");
  t->tokenize_chinese_chars = 1;
}

/* strip_accents null follows the tokenizer's own do_lower_case; the
** sentence-transformers flag lowercases the text before the tokenizer, so it
** adds lowercasing but not accent stripping. */
static void finish_tokenizer(Reader *r) {
  SiamConfig *c = &r->b->cfg;
  SiamTokenizerConfig *t = &c->tokenizer;
  t->strip_accents = r->strip_accents < 0 ? r->tok_lower : r->strip_accents;
  t->lowercase = r->tok_lower || r->sbert_lower;
  int maxpos = c->encoder.max_position_embeddings;
  if (r->sbert_max) t->max_seq_length = r->sbert_max;
  else t->max_seq_length = r->model_max && r->model_max < maxpos ? r->model_max : maxpos;
}

/* Everything the Transformer module's directory holds. */
static int read_transformer(Reader *r, const char *module) {
  tokenizer_defaults(&r->b->cfg.tokenizer);
  r->tok_lower = 1;
  r->strip_accents = -1;
  if (parse_bert_config(r, module) || read_vocab(r, module) || parse_tokenizer_config(r, module) ||
      parse_special_tokens_map(r, module) || parse_sbert_config(r, module) || read_encoder_tensors(r, module))
    return -1;
  finish_tokenizer(r);
  return 0;
}

/* ---- sentence-transformers modules ------------------------------------------- */

static int parse_pooling(Reader *r, const char *module) {
  static const char *const unsupported[] = {"pooling_mode_weightedmean_tokens", "pooling_mode_lasttoken"};
  JsonFile f;
  if (open_json(r, module, "config.json", &f)) return -1;
  SiamConfig *c = &r->b->cfg;
  int rc = -1, dim, on;
  if (jint(&f.j, "word_embedding_dimension", 1, 0, 1, INT_MAX, &dim)) goto done;
  if (dim != c->encoder.hidden_size) {
    siam_errf(r->err, "%s: word_embedding_dimension is %d, but config.json hidden_size is %d", f.rel, dim,
              c->encoder.hidden_size);
    goto done;
  }
  for (int i = 0; i < SIAM_POOL_MODES; i++) {
    if (jbool(&f.j, siam_pool_info[i].st_key, -1, &on)) goto done;
    if (on) c->pooling |= siam_pool_info[i].flag;
  }
  for (size_t i = 0; i < sizeof unsupported / sizeof *unsupported; i++) {
    if (jbool(&f.j, unsupported[i], 0, &on)) goto done;
    if (on) {
      siam_errf(r->err, "%s: %s is not supported (cls, max, mean and mean_sqrt_len are)", f.rel, unsupported[i]);
      goto done;
    }
  }
  rc = c->pooling ? 0 : siam_errf(r->err, "%s: no pooling mode is enabled", f.rel);
done:
  cJSON_Delete(f.root);
  return rc;
}

static int parse_dense_activation(const Json *j, SiamActivation *a) {
  const char *s;
  /* sentence-transformers' Dense defaults to Tanh. */
  char names[128];
  if (jstr(j, "activation_function", "torch.nn.modules.activation.Tanh", &s)) return -1;
  if (siam_activation_from_torch(s, a) == 0) return 0;
  siam_activation_names(SIAM_ACT_IN_HEAD, 0, 1, names, sizeof names);
  return siam_errf(j->err, "%s: activation_function '%.80s' is not supported (%s)", j->file, s, names);
}

static int parse_dense(Reader *r, const char *module) {
  SiamConfig *c = &r->b->cfg;
  JsonFile f;
  if (c->n_head >= SIAM_MAX_HEAD) return siam_errf(r->err, "modules.json: more than %d Dense modules", SIAM_MAX_HEAD);
  if (open_json(r, module, "config.json", &f)) return -1;
  SiamDenseConfig *d = &c->head[c->n_head];
  int rc = jint(&f.j, "in_features", 1, 0, 1, INT_MAX, &d->in_features) ||
           jint(&f.j, "out_features", 1, 0, 1, INT_MAX, &d->out_features) || jbool(&f.j, "bias", 1, &d->bias) ||
           parse_dense_activation(&f.j, &d->activation);
  cJSON_Delete(f.root);
  if (rc || read_dense_tensors(r, module, c->n_head)) return -1;
  c->n_head++;
  return 0;
}

/* "sentence_transformers.models.Dense" -> MOD_DENSE. */
static int module_kind(const char *type, ModKind *k) {
  static const char *const names[] = {"Transformer", "Pooling", "Dense", "Normalize"};
  size_t plen = strlen(ST_PREFIX);
  if (strncmp(type, ST_PREFIX, plen) != 0) return -1;
  for (int i = 0; i < 4; i++) {
    if (strcmp(type + plen, names[i]) == 0) {
      *k = (ModKind)i;
      return 0;
    }
  }
  return -1;
}

/* Module paths stay inside the model directory. */
static int safe_path(const char *p) {
  if (p[0] == '/') return 0;
  for (const char *s = p; (s = strstr(s, "..")) != NULL; s += 2)
    if ((s == p || s[-1] == '/') && (s[2] == 0 || s[2] == '/')) return 0;
  return 1;
}

static int parse_module(const cJSON *item, int pos, Module *m, char *err) {
  Json j = {item, "modules.json", err};
  const char *type, *path;
  if (!cJSON_IsObject(item)) return siam_errf(err, "modules.json: entry %d is not an object", pos);
  if (jint(&j, "idx", 0, pos, 0, INT_MAX, &m->idx) || jstr(&j, "type", NULL, &type) || jstr(&j, "path", "", &path))
    return -1;
  if (module_kind(type, &m->kind))
    return siam_errf(err, "modules.json: module %d has type '%.100s'; siamsql supports the sentence-transformers "
                          "Transformer, Pooling, Dense and Normalize modules", pos, type);
  if (strlen(path) >= sizeof m->path || !safe_path(path))
    return siam_errf(err, "modules.json: module %d has an unusable path '%.100s'", pos, path);
  snprintf(m->path, sizeof m->path, "%s", path);
  m->pos = pos;
  return 0;
}

static int by_idx(const void *a, const void *b) {
  const Module *x = a, *y = b;
  if (x->idx != y->idx) return (x->idx > y->idx) - (x->idx < y->idx);
  return (x->pos > y->pos) - (x->pos < y->pos);
}

/* The pipeline siamsql can run: Transformer, Pooling, Dense*, Normalize?. */
static int check_order(const Module *m, int n, char *err) {
  static const char *const kinds[] = {"Transformer", "Pooling", "Dense", "Normalize"};
  if (n < 2 || m[0].kind != MOD_TRANSFORMER || m[1].kind != MOD_POOLING)
    return siam_errf(err, "modules.json: expected a Transformer then a Pooling module first");
  for (int i = 2; i < n; i++) {
    int ok = m[i].kind == MOD_DENSE ? m[i - 1].kind != MOD_NORMALIZE : m[i].kind == MOD_NORMALIZE && i == n - 1;
    if (!ok)
      return siam_errf(err, "modules.json: a %s module cannot come at position %d (expected Transformer, Pooling, "
                            "Dense..., Normalize)", kinds[m[i].kind], i);
  }
  return 0;
}

static int read_modules_json(Reader *r, Module *mods, int *n) {
  cJSON *root;
  if (load_json_as(r->dir, "", "modules.json", 1, &root, r->err)) return -1;
  int rc = 0, count = cJSON_GetArraySize(root);
  if (count > MAX_MODULES) rc = siam_errf(r->err, "modules.json: more than %d modules", MAX_MODULES);
  for (int i = 0; rc == 0 && i < count; i++) rc = parse_module(cJSON_GetArrayItem(root, i), i, &mods[i], r->err);
  cJSON_Delete(root);
  if (rc) return -1;
  qsort(mods, (size_t)count, sizeof *mods, by_idx);
  *n = count;
  return check_order(mods, count, r->err);
}

static int read_sentence_transformers(Reader *r) {
  Module mods[MAX_MODULES];
  int n = 0;
  if (read_modules_json(r, mods, &n) || read_transformer(r, mods[0].path) || parse_pooling(r, mods[1].path))
    return -1;
  for (int i = 2; i < n; i++) {
    if (mods[i].kind == MOD_NORMALIZE) r->b->cfg.normalize = 1;
    else if (parse_dense(r, mods[i].path)) return -1;
  }
  return 0;
}

/* siamsql.json: what siamsql keeps beside a model that sentence-transformers
** has no file for (how siam_search fuses rankings).  Optional. */
static int read_siamsql_json(const char *dir, SiamConfig *cfg, char *err) {
  cfg->search = (SiamSearchConfig)SIAM_SEARCH_DEFAULT;
  if (!is_file(dir, "", "siamsql.json")) return 0;
  cJSON *root;
  char why[SIAM_ERRMAX];
  if (load_json(dir, "", "siamsql.json", &root, err)) return -1;
  const cJSON *search = cJSON_GetObjectItemCaseSensitive(root, "search");
  int rc = search && siam_search_config_parse(&cfg->search, search, why) ? siam_errf(err, "siamsql.json: %s", why) : 0;
  cJSON_Delete(root);
  return rc;
}

int siam_bundle_read_dir(SiamBundle *b, const char *dir, char err[SIAM_ERRMAX]) {
  struct stat sb;
  memset(b, 0, sizeof *b);
  if (stat(dir, &sb) != 0) return siam_errf(err, "cannot open directory (%s)", strerror(errno));
  if (!S_ISDIR(sb.st_mode)) return siam_errf(err, "not a directory");
  Reader r = {.dir = dir, .b = b, .err = err};
  int rc;
  if (is_file(dir, "", "modules.json")) {
    rc = read_sentence_transformers(&r);
  } else {
    rc = read_transformer(&r, "");
    b->cfg.pooling = SIAM_POOL_MEAN;  /* what sentence-transformers gives a plain model */
  }
  if (rc == 0) rc = read_siamsql_json(dir, &b->cfg, err);
  if (rc == 0) rc = siam_config_validate(&b->cfg, err);
  if (rc == 0) rc = siam_bundle_check(b, err);
  if (rc) siam_bundle_free(b);
  return rc;
}

/* ---- export ------------------------------------------------------------------ */

static int dir_is_empty(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return 0;
  struct dirent *e;
  int empty = 1;
  while (empty && (e = readdir(d)) != NULL)
    empty = strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0;
  closedir(d);
  return empty;
}

/* What is at the target now: 0 nothing, 1 a directory export may replace;
** -1 + err for a link, something else, or a non-empty directory without
** overwrite.  lstat: the target itself is never followed. */
static int check_target(const char *dir, int overwrite, char *err) {
  struct stat sb;
  if (lstat(dir, &sb) != 0) {
    if (errno == ENOENT) return 0;
    return siam_errf(err, "cannot open directory (%s)", strerror(errno));
  }
  if (S_ISLNK(sb.st_mode)) return siam_errf(err, "is a symbolic link (siam_export never follows links)");
  if (!S_ISDIR(sb.st_mode)) return siam_errf(err, "exists and is not a directory");
  if (!overwrite && !dir_is_empty(dir))
    return siam_errf(err, "directory is not empty (pass {\"overwrite\": true} to replace it)");
  return 1;
}

/* A new directory beside dir ("<dir>.siamsql-<random>"), made with mkdir so
** the user's umask applies; out holds its path. */
static int make_sibling(const char *dir, char out[PATH_MAX], char *err) {
  size_t n = strlen(dir);
  while (n > 1 && dir[n - 1] == '/') n--;
  for (int attempt = 0; attempt < 100; attempt++) {
    unsigned long long r = 0;
    if (getrandom(&r, sizeof r, GRND_NONBLOCK) != (ssize_t)sizeof r) r = (unsigned long long)clock() ^ ((unsigned long long)getpid() << 32) ^ (unsigned long long)attempt;
    int len = snprintf(out, PATH_MAX, "%.*s.siamsql-%012llx", (int)n, dir, r & 0xffffffffffffULL);
    if (len < 0 || len >= PATH_MAX) return siam_errf(err, "path too long");
    if (mkdir(out, 0777) == 0) return 0;
    if (errno != EEXIST) return siam_errf(err, "cannot create directory (%s)", strerror(errno));
  }
  return siam_errf(err, "cannot create directory (too many names taken)");
}

static int remove_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw) {
  (void)sb, (void)type, (void)ftw;
  return remove(path);  /* a link is removed, never what it points to */
}

/* Removes a tree without following links (FTW_PHYS). */
static void remove_tree(const char *dir) { nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS); }

/* Puts the finished export at dir: swapped with the old directory in one
** rename where the kernel can (Linux renameat2), else the old one moved
** aside first.  What was at dir is removed once the new one is in place. */
static int install(const char *tmp, const char *dir, int replace, char *err) {
  if (!replace) {
    if (rename(tmp, dir) == 0) return 0;
    return siam_errf(err, "cannot move the export into place (%s)", strerror(errno));
  }
#ifdef RENAME_EXCHANGE
  if (renameat2(AT_FDCWD, tmp, AT_FDCWD, dir, RENAME_EXCHANGE) == 0) {
    remove_tree(tmp);  /* now the old contents */
    return 0;
  }
  if (errno != EINVAL && errno != ENOSYS) return siam_errf(err, "cannot move the export into place (%s)", strerror(errno));
#endif
  char old[PATH_MAX];
  if (make_sibling(dir, old, err)) return -1;
  if (rename(dir, old) != 0) {
    int e = errno;
    rmdir(old);
    return siam_errf(err, "cannot move the old directory aside (%s)", strerror(e));
  }
  if (rename(tmp, dir) != 0) {
    int e = errno;
    rename(old, dir);
    return siam_errf(err, "cannot move the export into place (%s)", strerror(e));
  }
  remove_tree(old);
  return 0;
}

static int make_subdir(const char *dir, const char *module, char *err) {
  char path[PATH_MAX];
  if (join(path, dir, module, "", err)) return -1;
  if (mkdir(path, 0777) == 0) return 0;
  return siam_errf(err, "%s: cannot create directory (%s)", module, strerror(errno));
}

static int write_file(const char *dir, const char *module, const char *file, const void *data, size_t n,
                      char *err) {
  char path[PATH_MAX], rel[PATH_MAX];
  rel_name(rel, sizeof rel, module, file);
  if (join(path, dir, module, file, err)) return -1;
  FILE *f = siam_create_file(path);
  if (!f) return siam_errf(err, "%s: cannot create (%s)", rel, strerror(errno));
  int bad = n && fwrite(data, 1, n, f) != n;
  bad |= fclose(f) != 0;
  return bad ? siam_errf(err, "%s: write failed (%s)", rel, strerror(errno)) : 0;
}

/* Writes root as indented JSON and frees it (root may be NULL after OOM). */
static int write_json(const char *dir, const char *module, const char *file, cJSON *root, char *err) {
  char *text = root ? cJSON_Print(root) : NULL;
  cJSON_Delete(root);
  if (!text) return siam_errf(err, "out of memory");
  size_t n = strlen(text);
  char *buf = siam_malloc(n + 2);
  int rc = buf ? 0 : siam_errf(err, "out of memory");
  if (buf) {
    memcpy(buf, text, n);
    buf[n] = '\n';
    rc = write_file(dir, module, file, buf, n + 1, err);
  }
  cJSON_free(text);
  siam_free(buf);
  return rc;
}

/* cJSON's adders return NULL on OOM; `ok` collects them so that builders
** stay a flat list of fields. */
static void add_num(cJSON *o, const char *k, double v, int *ok) { *ok &= cJSON_AddNumberToObject(o, k, v) != NULL; }
static void add_str(cJSON *o, const char *k, const char *v, int *ok) { *ok &= cJSON_AddStringToObject(o, k, v) != NULL; }
static void add_bool(cJSON *o, const char *k, int v, int *ok) { *ok &= cJSON_AddBoolToObject(o, k, v) != NULL; }

static cJSON *finish(cJSON *o, int ok) {
  if (ok) return o;
  cJSON_Delete(o);
  return NULL;
}

static const char *torch_dtype(const SiamBundle *b) {
  return siam_dtype_torch(b->n_tensors ? b->tensors[0].dtype : SIAM_F32);
}

static int token_id(const SiamBundle *b, const char *token) {
  for (int i = 0; i < b->n_vocab; i++)
    if (strcmp(b->vocab[i], token) == 0) return i;
  return -1;
}

static cJSON *bert_config_json(const SiamBundle *b) {
  const SiamEncoderConfig *e = &b->cfg.encoder;
  cJSON *o = cJSON_CreateObject(), *arch = cJSON_CreateStringArray((const char *const[]){"BertModel"}, 1);
  int ok = o && arch && cJSON_AddItemToObject(o, "architectures", arch), pad = token_id(b, b->cfg.tokenizer.pad_token);
  if (!ok) cJSON_Delete(arch);
  add_num(o, "attention_probs_dropout_prob", 0.1, &ok);
  add_str(o, "hidden_act", siam_activation_name(e->activation), &ok);
  add_num(o, "hidden_dropout_prob", 0.1, &ok);
  add_num(o, "hidden_size", e->hidden_size, &ok);
  add_num(o, "initializer_range", 0.02, &ok);
  add_num(o, "intermediate_size", e->intermediate_size, &ok);
  add_num(o, "layer_norm_eps", e->layer_norm_eps, &ok);
  add_num(o, "max_position_embeddings", e->max_position_embeddings, &ok);
  add_str(o, "model_type", "bert", &ok);
  add_num(o, "num_attention_heads", e->num_heads, &ok);
  add_num(o, "num_hidden_layers", e->num_layers, &ok);
  add_num(o, "pad_token_id", pad < 0 ? 0 : pad, &ok);
  add_str(o, "position_embedding_type", "absolute", &ok);
  add_str(o, "torch_dtype", torch_dtype(b), &ok);
  add_num(o, "type_vocab_size", e->type_vocab_size, &ok);
  add_num(o, "vocab_size", e->vocab_size, &ok);
  return finish(o, ok);
}

static void add_specials(cJSON *o, const SiamTokenizerConfig *t, int *ok) {
  add_str(o, "cls_token", t->cls_token, ok);
  add_str(o, "mask_token", t->mask_token, ok);
  add_str(o, "pad_token", t->pad_token, ok);
  add_str(o, "sep_token", t->sep_token, ok);
  add_str(o, "unk_token", t->unk_token, ok);
  if (!*ok || t->n_extra_special == 0) return;
  cJSON *list = cJSON_AddArrayToObject(o, "additional_special_tokens");
  for (int i = 0; list && i < t->n_extra_special; i++) {
    cJSON *s = cJSON_CreateString(t->extra_special[i]);
    if (!s || !cJSON_AddItemToArray(list, s)) {
      cJSON_Delete(s);
      list = NULL;
    }
  }
  *ok &= list != NULL;
}

/* Everything explicit (strip_accents too), so no default can change meaning. */
static cJSON *tokenizer_config_json(const SiamTokenizerConfig *t) {
  cJSON *o = cJSON_CreateObject();
  int ok = o != NULL;
  add_bool(o, "clean_up_tokenization_spaces", 1, &ok);
  add_bool(o, "do_basic_tokenize", 1, &ok);
  add_bool(o, "do_lower_case", t->lowercase, &ok);
  add_num(o, "model_max_length", t->max_seq_length, &ok);
  add_bool(o, "strip_accents", t->strip_accents, &ok);
  add_bool(o, "tokenize_chinese_chars", t->tokenize_chinese_chars, &ok);
  add_str(o, "tokenizer_class", "BertTokenizer", &ok);
  add_specials(o, t, &ok);
  return finish(o, ok);
}

static cJSON *special_tokens_map_json(const SiamTokenizerConfig *t) {
  cJSON *o = cJSON_CreateObject();
  int ok = o != NULL;
  add_specials(o, t, &ok);
  return finish(o, ok);
}

static cJSON *sbert_config_json(const SiamConfig *c) {
  cJSON *o = cJSON_CreateObject();
  int ok = o != NULL;
  add_num(o, "max_seq_length", c->tokenizer.max_seq_length, &ok);
  add_bool(o, "do_lower_case", 0, &ok);  /* the tokenizer config carries lowercasing */
  return finish(o, ok);
}

static cJSON *pooling_json(const SiamConfig *c) {
  cJSON *o = cJSON_CreateObject();
  int ok = o != NULL;
  add_num(o, "word_embedding_dimension", c->encoder.hidden_size, &ok);
  for (int i = 0; i < SIAM_POOL_MODES; i++)
    add_bool(o, siam_pool_info[i].st_key, (c->pooling & siam_pool_info[i].flag) != 0, &ok);
  add_bool(o, "pooling_mode_weightedmean_tokens", 0, &ok);
  add_bool(o, "pooling_mode_lasttoken", 0, &ok);
  add_bool(o, "include_prompt", 1, &ok);
  return finish(o, ok);
}

static const char *torch_activation(SiamActivation a) {
  const SiamActivationInfo *info = siam_activation_info(a);
  return info && info->torch[0] ? info->torch[0] : "?";
}

static cJSON *dense_json(const SiamDenseConfig *d) {
  cJSON *o = cJSON_CreateObject();
  int ok = o != NULL;
  add_num(o, "in_features", d->in_features, &ok);
  add_num(o, "out_features", d->out_features, &ok);
  add_bool(o, "bias", d->bias, &ok);
  add_str(o, "activation_function", torch_activation(d->activation), &ok);
  return finish(o, ok);
}

/* Dense j sits at pipeline position 2 + j; Normalize after the last one. */
static void module_dir(char out[32], const SiamConfig *c, int pos) {
  if (pos == 1) snprintf(out, 32, "1_Pooling");
  else if (pos - 2 < c->n_head) snprintf(out, 32, "%d_Dense", pos);
  else snprintf(out, 32, "%d_Normalize", pos);
}

static const char *module_type(const SiamConfig *c, int pos) {
  if (pos == 0) return ST_PREFIX "Transformer";
  if (pos == 1) return ST_PREFIX "Pooling";
  return pos - 2 < c->n_head ? ST_PREFIX "Dense" : ST_PREFIX "Normalize";
}

static cJSON *modules_json(const SiamConfig *c) {
  cJSON *list = cJSON_CreateArray();
  int ok = list != NULL, n = 2 + c->n_head + (c->normalize != 0);
  for (int pos = 0; ok && pos < n; pos++) {
    char name[16], path[32] = "";
    cJSON *o = cJSON_CreateObject();
    if (!o || !cJSON_AddItemToArray(list, o)) {
      cJSON_Delete(o);
      ok = 0;
      break;
    }
    snprintf(name, sizeof name, "%d", pos);
    if (pos) module_dir(path, c, pos);
    add_num(o, "idx", pos, &ok);
    add_str(o, "name", name, &ok);
    add_str(o, "path", path, &ok);
    add_str(o, "type", module_type(c, pos), &ok);
  }
  return finish(list, ok);
}

/* vocab.txt cannot hold a token with a line break, or one ending in "\r"
** (the reader strips it): refuse rather than write a file that reads back
** differently. */
static int write_vocab(const SiamBundle *b, const char *dir, char *err) {
  size_t total = 0;
  for (int i = 0; i < b->n_vocab; i++) {
    if (!b->vocab[i]) return siam_errf(err, "vocab.txt: token %d is missing", i);
    size_t n = strlen(b->vocab[i]);
    if (strchr(b->vocab[i], '\n') || (n && b->vocab[i][n - 1] == '\r'))
      return siam_errf(err, "vocab.txt: token %d contains a line break", i);
    total += n + 1;  /* cannot overflow: every token is already in memory */
  }
  char *buf = siam_malloc(total), *p = buf;
  if (!buf) return siam_errf(err, "out of memory");
  for (int i = 0; i < b->n_vocab; i++) {
    size_t n = strlen(b->vocab[i]);
    memcpy(p, b->vocab[i], n);
    p[n] = '\n';
    p += n + 1;
  }
  int rc = write_file(dir, "", "vocab.txt", buf, total, err);
  siam_free(buf);
  return rc;
}

static int write_safetensors(const char *dir, const char *module, const SiamTensor *t, int n, char *err) {
  char path[PATH_MAX], rel[PATH_MAX], why[SIAM_ERRMAX];
  rel_name(rel, sizeof rel, module, "model.safetensors");
  if (join(path, dir, module, "model.safetensors", err)) return -1;
  if (siam_st_write_file(path, t, n, why)) return siam_errf(err, "%s: %s", rel, why);
  return 0;
}

/* The encoder's tensors (and the pooler's): everything not in the head. */
static int write_encoder_tensors(const SiamBundle *b, const char *dir, char *err) {
  SiamTensor *t = siam_calloc((size_t)b->n_tensors, sizeof *t);
  if (!t) return siam_errf(err, "out of memory");
  int n = 0;
  for (int i = 0; i < b->n_tensors; i++)
    if (strncmp(b->tensors[i].name, "head.", 5) != 0) t[n++] = b->tensors[i];
  int rc = write_safetensors(dir, "", t, n, err);
  siam_free(t);
  return rc;
}

static const SiamTensor *find_tensor(const SiamBundle *b, const char *name) {
  for (int i = 0; i < b->n_tensors; i++)
    if (strcmp(b->tensors[i].name, name) == 0) return &b->tensors[i];
  return NULL;
}

/* head.<j>.weight / .bias renamed to linear.weight / linear.bias. */
static int write_dense(const SiamBundle *b, const char *dir, int j, char *err) {
  char module[32], wname[64], bname[64];
  char lw[] = "linear.weight", lb[] = "linear.bias";
  const SiamDenseConfig *d = &b->cfg.head[j];
  module_dir(module, &b->cfg, 2 + j);
  snprintf(wname, sizeof wname, "head.%d.weight", j);
  snprintf(bname, sizeof bname, "head.%d.bias", j);
  const SiamTensor *w = find_tensor(b, wname), *bias = d->bias ? find_tensor(b, bname) : NULL;
  if (!w || (d->bias && !bias)) return siam_errf(err, "missing tensor %s", w ? bname : wname);
  SiamTensor t[2] = {*w};
  t[0].name = lw;
  if (bias) {
    t[1] = *bias;
    t[1].name = lb;
  }
  if (make_subdir(dir, module, err) || write_json(dir, module, "config.json", dense_json(d), err)) return -1;
  return write_safetensors(dir, module, t, bias ? 2 : 1, err);
}

static int write_modules(const SiamBundle *b, const char *dir, char *err) {
  const SiamConfig *c = &b->cfg;
  char module[32];
  if (write_json(dir, "", "sentence_bert_config.json", sbert_config_json(c), err) ||
      write_json(dir, "", "modules.json", modules_json(c), err) || make_subdir(dir, "1_Pooling", err) ||
      write_json(dir, "1_Pooling", "config.json", pooling_json(c), err))
    return -1;
  for (int j = 0; j < c->n_head; j++)
    if (write_dense(b, dir, j, err)) return -1;
  if (!c->normalize) return 0;
  module_dir(module, c, 2 + c->n_head);
  return make_subdir(dir, module, err);
}

static cJSON *siamsql_json(const SiamSearchConfig *s) {
  cJSON *root = cJSON_CreateObject(), *o = root ? cJSON_AddObjectToObject(root, "search") : NULL;
  int ok = o != NULL;
  if (ok) add_str(o, "fusion", "rrf", &ok);
  if (ok) add_num(o, "k", s->k, &ok);
  if (ok) add_num(o, "dense_weight", s->dense_weight, &ok);
  if (ok) add_num(o, "depth", s->depth, &ok);
  return finish(root, ok);
}

/* Every file of the export, into dir (new and empty). */
static int write_all(const SiamBundle *b, const char *dir, char *err) {
  const SiamTokenizerConfig *t = &b->cfg.tokenizer;
  if (write_json(dir, "", "config.json", bert_config_json(b), err) || write_vocab(b, dir, err) ||
      write_json(dir, "", "tokenizer_config.json", tokenizer_config_json(t), err) ||
      write_json(dir, "", "special_tokens_map.json", special_tokens_map_json(t), err) ||
      write_encoder_tensors(b, dir, err) || write_modules(b, dir, err))
    return -1;
  return b->cfg.search.present ? write_json(dir, "", "siamsql.json", siamsql_json(&b->cfg.search), err) : 0;
}

/* Written into a new directory beside dir, which takes dir's place only
** once complete: a failure part-way leaves dir as it was, and every file is
** created anew (O_EXCL | O_NOFOLLOW), so no link is ever written through. */
int siam_bundle_write_dir(const SiamBundle *b, const char *dir, int overwrite, char err[SIAM_ERRMAX]) {
  char tmp[PATH_MAX];
  if (siam_config_validate(&b->cfg, err)) return -1;
  int existing = check_target(dir, overwrite, err);
  if (existing < 0 || make_sibling(dir, tmp, err)) return -1;
  if (write_all(b, tmp, err) || install(tmp, dir, existing, err)) {
    remove_tree(tmp);
    return -1;
  }
  return 0;
}

/*
** config.h — the model's architecture as stored in siam_model.config.
**
** The config is one JSON document (format "siamsql/1") that fully determines
** the architecture, the tokenizer and the tensors the model must have:
**
**   {"format":"siamsql/1",
**    "encoder":{"type":"bert","vocab_size":30522,"hidden_size":384,
**               "num_layers":6,"num_heads":12,"intermediate_size":1536,
**               "max_position_embeddings":512,"type_vocab_size":2,
**               "activation":"gelu","layer_norm_eps":1e-12,"pooler":false},
**    "tokenizer":{"lowercase":true,"strip_accents":true,
**                 "tokenize_chinese_chars":true,"max_seq_length":128,
**                 "unk_token":"[UNK]","cls_token":"[CLS]","sep_token":"[SEP]",
**                 "pad_token":"[PAD]","mask_token":"[MASK]",
**                 "extra_special_tokens":[]},
**    "pooling":["mean"],
**    "head":[{"in":384,"out":256,"bias":true,"activation":"tanh"}],
**    "normalize":true}
**
** and, optionally, how siam_search fuses the model's ranking with FTS5's
** (printed only when present):
**
**    "search":{"fusion":"rrf","k":60,"dense_weight":0.5,"depth":100}
**
** and the precision of the encoder's dense layers (printed only when not
** "f32", so an f32 model's config text is what it was before the key):
**
**    "compute":"bf16"
**
** "f32" (the default) matches PyTorch to float precision; "bf16" rounds the
** dense layers' inputs and weights to bfloat16 and sums the products in
** float32, as torch.autocast(dtype=torch.bfloat16) does (AMX tiles where the
** CPU has them); "int8" quantizes the weights per output channel and the
** inputs per row and sums the bytes exactly (gemm_int8.h), as ONNX
** Runtime's dynamic quantization does.  Attention, softmax, LayerNorm,
** GELU and the dense head stay float32.
**
** Pooling modes are concatenated in sentence-transformers' order
** (cls, max, mean, mean_sqrt_len) whatever order the JSON lists them in.
*/
#ifndef SIAM_CONFIG_H
#define SIAM_CONFIG_H

#include "common.h"

#define SIAM_FORMAT "siamsql/1"
#define SIAM_MAX_HEAD 16       /* dense layers in the projection head */
#define SIAM_MAX_SPECIAL 32    /* special tokens kept whole in text */
#define SIAM_MAX_NAME 64       /* bytes of a special token, with NUL */

typedef enum {
  SIAM_ACT_IDENTITY = 0,
  SIAM_ACT_RELU,
  SIAM_ACT_TANH,
  SIAM_ACT_SIGMOID,
  SIAM_ACT_GELU,      /* exact: 0.5x(1+erf(x/sqrt2)) */
  SIAM_ACT_GELU_NEW   /* tanh approximation (HF "gelu_new") */
} SiamActivation;

typedef enum {
  SIAM_COMPUTE_F32 = 0,
  SIAM_COMPUTE_BF16,
  SIAM_COMPUTE_INT8,
  SIAM_N_COMPUTE
} SiamCompute;

/* Bit flags; several may be set, output order is fixed (see above). */
enum {
  SIAM_POOL_CLS = 1,
  SIAM_POOL_MAX = 2,
  SIAM_POOL_MEAN = 4,
  SIAM_POOL_MEAN_SQRT_LEN = 8
};

typedef struct {
  int vocab_size;
  int hidden_size;
  int num_layers;
  int num_heads;
  int intermediate_size;
  int max_position_embeddings;
  int type_vocab_size;
  SiamActivation activation;  /* gelu, gelu_new or relu */
  double layer_norm_eps;
  int pooler;                 /* 1: pooler.dense.* tensors stored (unused by the forward pass) */
} SiamEncoderConfig;

typedef struct {
  int lowercase;
  int strip_accents;
  int tokenize_chinese_chars;
  int max_seq_length;         /* includes [CLS] and [SEP] */
  char unk_token[SIAM_MAX_NAME];
  char cls_token[SIAM_MAX_NAME];
  char sep_token[SIAM_MAX_NAME];
  char pad_token[SIAM_MAX_NAME];
  char mask_token[SIAM_MAX_NAME];
  int n_extra_special;
  char extra_special[SIAM_MAX_SPECIAL][SIAM_MAX_NAME];
} SiamTokenizerConfig;

typedef struct {
  int in_features;
  int out_features;
  int bias;
  SiamActivation activation;  /* identity, relu, tanh, sigmoid, gelu */
} SiamDenseConfig;

/* Reciprocal rank fusion of a dense and a bm25 ranking (siam_search): a
** row's score is dense_weight / (k + dense rank) + (1 - dense_weight) /
** (k + bm25 rank), over the best `depth` rows of each ranking (a row absent
** from one adds nothing for it). */
typedef struct {
  int present;                /* 1: the config carries a "search" object */
  double k;                   /* >= 0 */
  double dense_weight;        /* 0..1 */
  int depth;                  /* 1..100000 */
} SiamSearchConfig;

#define SIAM_SEARCH_DEFAULT {0, 60.0, 0.5, 100}

typedef struct {
  SiamEncoderConfig encoder;
  SiamTokenizerConfig tokenizer;
  int pooling;                /* SIAM_POOL_* flags, at least one */
  int n_head;
  SiamDenseConfig head[SIAM_MAX_HEAD];
  int normalize;
  SiamSearchConfig search;    /* SIAM_SEARCH_DEFAULT when the config has none */
  SiamCompute compute;        /* "compute"; SIAM_COMPUTE_F32 when absent */
} SiamConfig;

/* One tensor the config requires: its stored name and shape. */
typedef struct {
  char name[96];
  int ndim;                   /* 1 or 2 */
  int64_t shape[2];           /* torch layout: Linear weight is [out, in] */
} SiamTensorSpec;

/* Parses and validates the "search" object on its own (siam_import reads it
** from a model directory's siamsql.json). */
int siam_search_config_parse(SiamSearchConfig *s, const void *cjson_object, char err[SIAM_ERRMAX]);

/* Parses and validates a config document. */
int siam_config_parse(SiamConfig *cfg, const char *json, size_t len, char err[SIAM_ERRMAX]);

/* Checks sizes, ranges and consistency (heads divide hidden, head layers chain). */
int siam_config_validate(const SiamConfig *cfg, char err[SIAM_ERRMAX]);

/* Canonical JSON text (fixed key order, no whitespace): the same model always
** gives the same string.  Caller frees with siam_free.  NULL on OOM. */
char *siam_config_to_json(const SiamConfig *cfg);

const char *siam_compute_name(SiamCompute c);
/* Returns 0 and sets *c, or -1 if the name is unknown. */
int siam_compute_parse(const char *name, SiamCompute *c);

/* Width of the pooled vector: hidden_size times the number of pooling modes. */
int siam_config_pooled_dim(const SiamConfig *cfg);

/* Width of the final embedding (the last head layer's out, else pooled dim). */
int siam_config_output_dim(const SiamConfig *cfg);

/* Every tensor the model must have, in a fixed order.  *specs is allocated
** with siam_malloc; returns the count, or -1 (err set) on failure. */
int siam_config_tensors(const SiamConfig *cfg, SiamTensorSpec **specs, char err[SIAM_ERRMAX]);

/* ---- the architecture's names: one table each (config.c) -------------------
** A new activation is a row in the activation table plus its kernel case
** (encoder.c, siam_activation); a new pooling mode a row in the pooling table
** plus its kernel case (encoder.c, pool_forward). */

/* Activations.  `where` says which a config may use it for. */
enum { SIAM_ACT_IN_ENCODER = 1, SIAM_ACT_IN_HEAD = 2 };
typedef struct {
  SiamActivation act;
  const char *name;        /* siamsql's config ("gelu_new") */
  const char *hf[2];       /* HuggingFace config.json hidden_act names, or NULL */
  const char *torch[2];    /* sentence-transformers Dense activation_function names (the first is
                              what export writes), or NULL */
  int where;               /* SIAM_ACT_IN_* */
} SiamActivationInfo;

const SiamActivationInfo *siam_activation_info(SiamActivation a);   /* NULL if not an activation */
const char *siam_activation_name(SiamActivation a);                /* "?" if not one */
/* Returns 0 and sets *a, or -1 if the name is unknown (siamsql's names). */
int siam_activation_parse(const char *name, SiamActivation *a);
/* The same for a HuggingFace hidden_act / a Dense activation_function. */
int siam_activation_from_hf(const char *name, SiamActivation *a);
int siam_activation_from_torch(const char *name, SiamActivation *a);
/* "gelu, gelu_new or relu": the names allowed `where` (HF names when hf,
** torch class names' last part when torch), for messages. */
void siam_activation_names(int where, int hf, int torch, char *buf, size_t cap);

/* Pooling modes, in output order. */
#define SIAM_POOL_MODES 4
typedef struct {
  int flag;                /* SIAM_POOL_* */
  const char *name;        /* siamsql's config ("mean_sqrt_len") */
  const char *st_key;      /* sentence-transformers Pooling config key */
} SiamPoolInfo;

extern const SiamPoolInfo siam_pool_info[SIAM_POOL_MODES];
int siam_pool_count(int flags);   /* modes set in flags: the pooled width is this times hidden_size */

#endif

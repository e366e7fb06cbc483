/*
** test_config.c — the config document: parsing, every rejection, the
** canonical printer and the tensor list it implies.
*/
#include <string.h>

#include "config.h"
#include "testutil.h"

/* A valid config: the classic Keras Siamese BERT (CLS -> Dense(relu)). */
static const char *VALID =
    "{\"format\":\"siamsql/1\","
    "\"encoder\":{\"type\":\"bert\",\"vocab_size\":100,\"hidden_size\":32,\"num_layers\":2,\"num_heads\":4,"
    "\"intermediate_size\":64,\"max_position_embeddings\":40,\"type_vocab_size\":2,\"activation\":\"gelu\","
    "\"layer_norm_eps\":1e-12,\"pooler\":false},"
    "\"tokenizer\":{\"lowercase\":true,\"strip_accents\":true,\"tokenize_chinese_chars\":true,\"max_seq_length\":32,"
    "\"unk_token\":\"[UNK]\",\"cls_token\":\"[CLS]\",\"sep_token\":\"[SEP]\",\"pad_token\":\"[PAD]\","
    "\"mask_token\":\"[MASK]\",\"extra_special_tokens\":[]},"
    "\"pooling\":[\"cls\"],\"head\":[{\"in\":32,\"out\":16,\"bias\":true,\"activation\":\"relu\"}],\"normalize\":false}";

/* VALID with the first occurrence of `from` replaced by `to`. */
static int parse_edited(const char *from, const char *to, char *err) {
  char buf[4096];
  const char *at = strstr(VALID, from);
  if (!at) return siam_errf(err, "test bug: '%s' not in VALID", from);
  size_t pre = (size_t)(at - VALID);
  snprintf(buf, sizeof buf, "%.*s%s%s", (int)pre, VALID, to, at + strlen(from));
  SiamConfig cfg;
  return siam_config_parse(&cfg, buf, strlen(buf), err);
}

static void expect_error(const char *from, const char *to, const char *want) {
  char err[SIAM_ERRMAX] = "";
  int rc = parse_edited(from, to, err);
  CHECK(rc != 0 && strstr(err, want), "edit %s -> %s: rc %d, err '%s', want '%s'", from, to, rc, err, want);
}

static void test_valid_and_canonical(void) {
  SiamConfig cfg;
  char err[SIAM_ERRMAX] = "";
  CHECK(siam_config_parse(&cfg, VALID, strlen(VALID), err) == 0, "valid config rejected: %s", err);
  CHECK(siam_config_pooled_dim(&cfg) == 32 && siam_config_output_dim(&cfg) == 16, "dims %d %d",
        siam_config_pooled_dim(&cfg), siam_config_output_dim(&cfg));
  char *json = siam_config_to_json(&cfg);
  CHECK(json && strcmp(json, VALID) == 0, "canonical text differs:\n%s\n%s", json, VALID);
  siam_free(json);

  /* Pooling modes come out in sentence-transformers' order whatever the input order. */
  char e2[SIAM_ERRMAX];
  char buf[4096];
  const char *at = strstr(VALID, "[\"cls\"]");
  snprintf(buf, sizeof buf, "%.*s[\"mean_sqrt_len\",\"mean\",\"cls\",\"max\"]%s", (int)(at - VALID), VALID,
           at + strlen("[\"cls\"]"));
  char *h = strstr(buf, "\"in\":32");
  memcpy(h, "\"in\":99", 7);  /* head input must follow the pooled width */
  CHECK(siam_config_parse(&cfg, buf, strlen(buf), e2) != 0 && strstr(e2, "head[0].in is 99, but its input is 128"),
        "pooled width: %s", e2);
  memcpy(h, "\"in\":12", 7);
  memmove(h + 8, h + 7, strlen(h + 7) + 1);
  h[7] = '8';
  CHECK(siam_config_parse(&cfg, buf, strlen(buf), e2) == 0, "4 pooling modes: %s", e2);
  json = siam_config_to_json(&cfg);
  CHECK(json && strstr(json, "\"pooling\":[\"cls\",\"max\",\"mean\",\"mean_sqrt_len\"]"), "order: %s", json);
  siam_free(json);
}

static void test_rejections(void) {
  char err[SIAM_ERRMAX];
  SiamConfig cfg;
  CHECK(siam_config_parse(&cfg, "{", 1, err) && strstr(err, "not valid JSON"), "%s", err);
  CHECK(siam_config_parse(&cfg, "[]", 2, err) && strstr(err, "must be a JSON object"), "%s", err);
  expect_error("\"siamsql/1\"", "\"siamsql/9\"", "format is \"siamsql/9\"");
  expect_error("\"num_layers\":2", "\"num_layers\":1000000000", "num_layers is 1000000000");
  expect_error("\"num_layers\":2", "\"num_layerz\":2", "missing encoder.num_layers");
  expect_error("\"hidden_size\":32", "\"hidden_size\":-32", "hidden_size is -32");
  expect_error("\"hidden_size\":32", "\"hidden_size\":32.5", "must be an integer");
  expect_error("\"num_heads\":4", "\"num_heads\":5", "num_heads (5) does not divide encoder.hidden_size (32)");
  expect_error("\"activation\":\"gelu\"", "\"activation\":\"swish\"", "unknown activation 'swish'");
  expect_error("\"activation\":\"gelu\"", "\"activation\":\"tanh\"", "encoder.activation must be gelu, gelu_new or relu");
  expect_error("\"activation\":\"relu\"", "\"activation\":\"softmax\"", "head[0].activation: unknown activation");
  expect_error("[\"cls\"]", "[\"weightedmean\"]", "unknown mode 'weightedmean'");
  expect_error("[\"cls\"]", "[]", "pooling must be a non-empty array");
  expect_error("[\"cls\"]", "[\"cls\",\"cls\"]", "listed twice");
  expect_error("\"max_seq_length\":32", "\"max_seq_length\":41", "max_seq_length is 41");
  expect_error("\"layer_norm_eps\":1e-12", "\"layer_norm_eps\":0", "layer_norm_eps must be in (0, 1)");
  expect_error("\"normalize\":false", "\"normalize\":1", "normalize must be true or false");
  expect_error("\"unk_token\":\"[UNK]\"", "\"unk_token\":\"\"", "unk_token must be 1..");
  expect_error("\"type\":\"bert\"", "\"type\":\"gpt\"", "encoder.type must be \"bert\"");
}

/* "compute" is optional, round-trips when set, and is left out of the
** canonical text when f32, so existing models keep their exact config. */
static void test_compute(void) {
  SiamConfig cfg;
  char err[SIAM_ERRMAX] = "", buf[4096];
  CHECK(siam_config_parse(&cfg, VALID, strlen(VALID), err) == 0 && cfg.compute == SIAM_COMPUTE_F32, "absent: %s", err);
  static const char *const modes[] = {"f32", "bf16", "int8"};
  for (int i = 0; i < 3; i++) {
    snprintf(buf, sizeof buf, "%.*s,\"compute\":\"%s\"}", (int)strlen(VALID) - 1, VALID, modes[i]);
    CHECK(siam_config_parse(&cfg, buf, strlen(buf), err) == 0 && cfg.compute == (SiamCompute)i, "%s: %s", modes[i], err);
    char *json = siam_config_to_json(&cfg);
    CHECK(json && strcmp(json, i == 0 ? VALID : buf) == 0, "%s prints as %s", modes[i], json);
    siam_free(json);
  }
  expect_error("\"normalize\":false", "\"normalize\":false,\"compute\":\"int4\"",
               "compute must be \"f32\", \"bf16\" or \"int8\"");
  expect_error("\"normalize\":false", "\"normalize\":false,\"compute\":\"INT8\"", "compute must be");
  expect_error("\"normalize\":false", "\"normalize\":false,\"compute\":16", "compute must be");
}

static void test_tensor_list(void) {
  SiamConfig cfg;
  char err[SIAM_ERRMAX];
  CHECK(siam_config_parse(&cfg, VALID, strlen(VALID), err) == 0, "%s", err);
  SiamTensorSpec *s = NULL;
  int n = siam_config_tensors(&cfg, &s, err);
  /* 5 embedding tensors + 16 per layer + head weight and bias */
  CHECK(n == 5 + 2 * 16 + 2, "tensor count %d", n);
  int found_q = 0, found_head = 0;
  for (int i = 0; i < n; i++) {
    if (strcmp(s[i].name, "encoder.layer.1.intermediate.dense.weight") == 0)
      found_q = s[i].ndim == 2 && s[i].shape[0] == 64 && s[i].shape[1] == 32;
    if (strcmp(s[i].name, "head.0.weight") == 0) found_head = s[i].shape[0] == 16 && s[i].shape[1] == 32;
  }
  CHECK(found_q && found_head, "shapes in the tensor list");
  CHECK(strcmp(s[0].name, "embeddings.word_embeddings.weight") == 0 && s[0].shape[0] == 100, "first tensor %s", s[0].name);
  siam_free(s);
}

int main(void) {
  test_valid_and_canonical();
  test_rejections();
  test_compute();
  test_tensor_list();
  return TEST_DONE();
}

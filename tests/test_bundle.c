/*
** test_bundle.c — bundles: the zstd blob codec, dtype conversion, the check
** against the config, and directory import/export (HuggingFace and
** sentence-transformers layouts), including every error a directory can cause.
*/
#define _XOPEN_SOURCE 700
#include "bundle.h"
#include "safetensors.h"
#include "testutil.h"

#include <ftw.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#define FIXTURES "tests/fixtures/models"

/* ---- helpers ------------------------------------------------------------------ */

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb, (void)flag, (void)ftw;
  return remove(path);
}

static void rm_rf(const char *dir) { nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS); }

static void write_bytes(const char *dir, const char *rel, const char *data, size_t n) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", dir, rel);
  FILE *f = fopen(path, "wb");
  if (f) {
    fwrite(data, 1, n, f);
    fclose(f);
  }
}

static void write_text(const char *dir, const char *rel, const char *text) {
  write_bytes(dir, rel, text, strlen(text));
}

static void remove_file(const char *dir, const char *rel) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", dir, rel);
  unlink(path);
}

static uint32_t rng = 12345;
static uint8_t next_byte(void) {
  rng = rng * 1103515245u + 12345u;
  return (uint8_t)(rng >> 16);
}

static uint16_t f16_of(float f) {
  SiamTensor t = {.name = "x", .dtype = SIAM_F32, .ndim = 1, .shape = {1}, .nbytes = 4};
  SiamBundle b = {.tensors = &t, .n_tensors = 1};
  char err[SIAM_ERRMAX];
  t.data = siam_malloc(4);
  memcpy(t.data, &f, 4);
  siam_bundle_convert(&b, SIAM_F16, err);
  uint16_t h;
  memcpy(&h, t.data, 2);
  siam_free(t.data);
  return h;
}

static uint16_t bf16_of(float f) {
  SiamTensor t = {.name = "x", .dtype = SIAM_F32, .ndim = 1, .shape = {1}, .nbytes = 4};
  SiamBundle b = {.tensors = &t, .n_tensors = 1};
  char err[SIAM_ERRMAX];
  t.data = siam_malloc(4);
  memcpy(t.data, &f, 4);
  siam_bundle_convert(&b, SIAM_BF16, err);
  uint16_t h;
  memcpy(&h, t.data, 2);
  siam_free(t.data);
  return h;
}

static float bits_f(uint32_t u) {
  float f;
  memcpy(&f, &u, 4);
  return f;
}

static uint32_t f_bits(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  return u;
}

/* ---- blob codec ------------------------------------------------------------------- */

static void test_blob(void) {
  char err[SIAM_ERRMAX];
  uint8_t raw[4096], back[4096];
  for (int i = 0; i < 4096; i++) raw[i] = (uint8_t)(i % 251 < 200 ? i % 7 : next_byte());
  void *frame;
  size_t n;
  CHECK(siam_blob_pack(raw, sizeof raw, &frame, &n, err) == 0, "pack: %s", err);
  CHECK(n < sizeof raw, "compressed %zu", n);
  CHECK(ZSTD_getFrameContentSize(frame, n) == 4096, "content size in frame");
  CHECK(siam_blob_unpack(frame, n, back, 4096, err) == 0 && memcmp(raw, back, 4096) == 0, "unpack: %s", err);
  void *out;
  size_t out_n;
  CHECK(siam_blob_unpack_alloc(frame, n, 4096, &out, &out_n, err) == 0 && out_n == 4096 &&
            memcmp(out, raw, 4096) == 0, "unpack_alloc: %s", err);
  siam_free(out);
  CHECK(siam_blob_unpack_alloc(frame, n, 4095, &out, &out_n, err) && out == NULL &&
            strcmp(err, "zstd frame declares 4096 bytes, more than the limit of 4095") == 0,
        "limit: %s", err);
  CHECK(siam_blob_unpack(frame, n, back, 4000, err) && strcmp(err, "zstd frame declares 4096 bytes, shape needs 4000") == 0,
        "declared size: %s", err);
  CHECK(siam_blob_unpack(frame, n - 1, back, 4096, err) && strstr(err, "corrupt zstd frame: "), "truncated: %s", err);
  CHECK(siam_blob_unpack(frame, 3, back, 4096, err) && strstr(err, "corrupt zstd frame"), "header only: %s", err);
  uint8_t *bad = siam_malloc(2 * n);
  memcpy(bad, frame, n);
  bad[n - 2] ^= 0x10;  /* inside the 4-byte checksum */
  CHECK(siam_blob_unpack(bad, n, back, 4096, err) && strstr(err, "corrupt zstd frame: ") && strstr(err, "checksum"),
        "bit flip: %s", err);
  memcpy(bad, frame, n);
  memcpy(bad + n, frame, n);
  CHECK(siam_blob_unpack(bad, 2 * n, back, 4096, err) && strstr(err, "bytes after its zstd frame"), "two frames: %s",
        err);
  CHECK(siam_blob_unpack("not zstd", 8, back, 8, err) && strstr(err, "not a zstd frame"), "garbage: %s", err);
  CHECK(siam_blob_unpack(NULL, 0, back, 0, err), "empty blob refused");
  siam_free(bad);
  siam_free(frame);

  /* A frame without a declared size is refused before any allocation. */
  size_t cap = ZSTD_compressBound(64);
  void *nosize = siam_malloc(cap);
  ZSTD_CCtx *c = ZSTD_createCCtx();
  ZSTD_CCtx_setParameter(c, ZSTD_c_contentSizeFlag, 0);
  ZSTD_outBuffer ob = {nosize, cap, 0};
  ZSTD_inBuffer ib = {raw, 64, 0};
  ZSTD_compressStream2(c, &ob, &ib, ZSTD_e_end);
  ZSTD_freeCCtx(c);
  CHECK(siam_blob_unpack(nosize, ob.pos, back, 64, err) && strstr(err, "does not declare"), "unknown size: %s", err);
  CHECK(siam_blob_unpack_alloc(nosize, ob.pos, 1 << 20, &out, &out_n, err) && strstr(err, "does not declare"),
        "unknown size (alloc): %s", err);
  siam_free(nosize);

  CHECK(siam_blob_pack(NULL, 0, &frame, &n, err) == 0, "pack empty: %s", err);
  CHECK(siam_blob_unpack(frame, n, back, 0, err) == 0, "unpack empty: %s", err);
  CHECK(siam_blob_unpack(frame, n, back, 1, err) && strstr(err, "declares 0 bytes, shape needs 1"), "empty vs 1: %s",
        err);
  siam_free(frame);
}

/* ---- dtypes ------------------------------------------------------------------------- */

/* A reader over a blob in memory that can fail at its nth call and counts
** its calls: what ext/ builds over sqlite3_blob_read. */
typedef struct {
  const unsigned char *blob;
  int calls, fail_at; /* fail_at 0: never */
} PieceReader;

static int read_piece(void *ctx, size_t off, void *buf, size_t n) {
  PieceReader *r = ctx;
  if (++r->calls == r->fail_at) return -1;
  memcpy(buf, r->blob + off, n);
  return 0;
}

static int unpack_pieces(const unsigned char *blob, size_t n, void *out, size_t expect, int fail_at, int *calls,
                         char *err) {
  PieceReader r = {blob, 0, fail_at};
  SiamBlobReader src = {n, read_piece, &r};
  int rc = siam_blob_unpack_from(&src, out, expect, err);
  if (calls) *calls = r.calls;
  return rc;
}

/* A frame of about 1 MB is read in several pieces: decoded whole, and every
** way of cutting it short, padding it or corrupting it in a later piece is
** refused, as is a read that fails midway. */
static void test_blob_pieces(void) {
  enum { RAW = 1000000 };
  char err[SIAM_ERRMAX];
  unsigned char *raw = malloc(RAW), *back = malloc(RAW);
  uint64_t x = 88172645463325252ull;
  for (size_t i = 0; i < RAW; i++) { /* incompressible, so the frame is as long as the data */
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    raw[i] = (unsigned char)x;
  }
  void *frame = NULL;
  size_t n = 0;
  CHECK(siam_blob_pack(raw, RAW, &frame, &n, err) == 0, "pack: %s", err);
  unsigned char *f = frame, *padded = malloc(n + 10);
  int calls = 0;
  CHECK(unpack_pieces(f, n, back, RAW, 0, &calls, err) == 0 && memcmp(raw, back, RAW) == 0, "pieces: %s", err);
  CHECK(calls >= 4, "a %zu-byte frame read in %d pieces", n, calls);
  static const size_t cuts[] = {262144, 262145, 524288, 1};
  for (size_t i = 0; i < sizeof cuts / sizeof *cuts; i++) {
    size_t cut = cuts[i] == 1 ? n - 1 : cuts[i];
    CHECK(unpack_pieces(f, cut, back, RAW, 0, NULL, err) && strstr(err, "corrupt zstd frame"), "cut at %zu: %s", cut,
          err);
  }
  memcpy(padded, f, n);
  memset(padded + n, 0, 10);
  CHECK(unpack_pieces(padded, n + 10, back, RAW, 0, NULL, err) && strstr(err, "10 bytes after its zstd frame"),
        "padded: %s", err);
  padded[n - 100000] ^= 0x40; /* in the last pieces */
  CHECK(unpack_pieces(padded, n, back, RAW, 0, NULL, err) && strstr(err, "corrupt zstd frame"), "bit flip: %s", err);
  CHECK(unpack_pieces(f, n, back, RAW, 3, NULL, err) && strcmp(err, "cannot read the stored frame") == 0,
        "failing read: %s", err);
  CHECK(unpack_pieces(f, n, back, RAW - 1, 0, NULL, err) && strstr(err, "declares 1000000 bytes, shape needs 999999"),
        "wrong size: %s", err);
  free(raw), free(back), free(padded), siam_free(frame);
}

static void test_dtype_names(void) {
  SiamDtype d;
  CHECK(siam_dtype_parse("bf16", &d) == 0 && d == SIAM_BF16, "parse bf16");
  CHECK(siam_dtype_parse("F32", &d) == -1, "names are lowercase");
  CHECK(strcmp(siam_dtype_name(SIAM_F16), "f16") == 0 && siam_dtype_size(SIAM_F16) == 2, "f16 name/size");
  CHECK(siam_dtype_size(SIAM_F32) == 4 && siam_dtype_size((SiamDtype)7) == 0, "sizes");
}

static void test_f16(void) {
  CHECK(f16_of(1.0f) == 0x3c00, "1.0 -> %04x", f16_of(1.0f));
  CHECK(f16_of(-2.0f) == 0xc000, "-2.0");
  CHECK(f16_of(65504.0f) == 0x7bff, "max f16");
  CHECK(f16_of(65519.99f) == 0x7bff, "just below the inf threshold");
  CHECK(f16_of(65520.0f) == 0x7c00, "65520 ties to inf");
  CHECK(f16_of(1e10f) == 0x7c00 && f16_of(-INFINITY) == 0xfc00, "overflow / -inf");
  CHECK((f16_of(NAN) & 0x7c00) == 0x7c00 && (f16_of(NAN) & 0x3ff), "NaN stays NaN");
  CHECK(f16_of(bits_f(0xff800001)) == 0xfe00, "signalling NaN made quiet, sign kept: %04x", f16_of(bits_f(0xff800001)));
  CHECK(f16_of(1.0f + 0x1p-11f) == 0x3c00, "tie rounds to even (down)");
  CHECK(f16_of(1.0f + 3 * 0x1p-11f) == 0x3c02, "tie rounds to even (up)");
  CHECK(f16_of(1.0f + 0x1p-11f + 0x1p-20f) == 0x3c01, "above tie rounds up");
  CHECK(f16_of(0x1p-14f) == 0x0400, "smallest normal");
  CHECK(f16_of(0x1p-24f) == 0x0001, "smallest subnormal");
  CHECK(f16_of(0x1p-25f) == 0x0000, "half the smallest subnormal ties to zero");
  CHECK(f16_of(0x1.8p-24f) == 0x0002, "1.5 subnormal ulps tie to even 2");
  CHECK(f16_of(0x1.000002p-25f) == 0x0001, "just above half rounds up");
  CHECK(f16_of(-0x1p-26f) == 0x8000, "tiny negative -> -0");
  CHECK(f16_of(0x1.ffcp-15f) == 0x0400, "subnormal rounding carries into the smallest normal: %04x",
        f16_of(0x1.ffcp-15f));
  CHECK(f16_of(0x1.ff8p-15f) == 0x03ff, "largest subnormal exact");
  CHECK(f16_of(0x1.554p-20f) == 0x0015, "subnormal 21/2^24 exact: %04x", f16_of(0x1.554p-20f));

  /* Every f16 value widens exactly and narrows back to itself. */
  int bad = 0;
  for (uint32_t h = 0; h < 65536; h++) {
    uint8_t src[2] = {(uint8_t)h, (uint8_t)(h >> 8)};
    float f;
    siam_to_f32(SIAM_F16, src, &f, 1);
    int nan = (h & 0x7c00) == 0x7c00 && (h & 0x3ff);
    if (nan ? !isnan(f) : f16_of(f) != h) bad++;
  }
  CHECK(bad == 0, "%d f16 values do not round-trip", bad);
#ifdef __FLT16_MAX__
  /* Against the compiler's own conversion for random float32 bit patterns. */
  bad = 0;
  for (int i = 0; i < 200000; i++) {
    uint32_t u = (uint32_t)next_byte() << 24 | (uint32_t)next_byte() << 16 | (uint32_t)next_byte() << 8 | next_byte();
    if (i & 1) u = (u & 0x87ffffff) | 0x30000000;  /* concentrate on f16's exponent range */
    float f = bits_f(u);
    if (isnan(f)) continue;
    _Float16 ref = (_Float16)f;
    uint16_t rb;
    memcpy(&rb, &ref, 2);
    if (rb != f16_of(f)) bad++;
  }
  CHECK(bad == 0, "%d float32 values narrow differently from (_Float16)", bad);
#endif
}

static void test_bf16(void) {
  CHECK(bf16_of(1.0f) == 0x3f80, "1.0 -> %04x", bf16_of(1.0f));
  CHECK(bf16_of(bits_f(0x3f808000)) == 0x3f80, "tie to even (down)");
  CHECK(bf16_of(bits_f(0x3f818000)) == 0x3f82, "tie to even (up)");
  CHECK(bf16_of(bits_f(0x3f808001)) == 0x3f81, "above tie");
  CHECK(bf16_of(bits_f(0x7f7fffff)) == 0x7f80, "max float rounds to inf");
  CHECK(bf16_of(INFINITY) == 0x7f80 && bf16_of(-INFINITY) == 0xff80, "inf");
  CHECK(bf16_of(bits_f(0x7f800001)) == 0x7fc0, "NaN with low payload stays NaN: %04x", bf16_of(bits_f(0x7f800001)));
  CHECK(bf16_of(bits_f(0x00008000)) == 0x0000, "subnormal tie to even zero");
  int bad = 0;
  for (uint32_t h = 0; h < 65536; h++) {
    uint8_t src[2] = {(uint8_t)h, (uint8_t)(h >> 8)};
    float f;
    siam_to_f32(SIAM_BF16, src, &f, 1);
    if (f_bits(f) != h << 16 || ((h & 0x7f80) != 0x7f80 || !(h & 0x7f) ? bf16_of(f) != h : 0)) bad++;
  }
  CHECK(bad == 0, "%d bf16 values do not round-trip", bad);
}

/* f16 <-> bf16 goes through float32 exactly: one rounding. */
static void test_convert_bundle(void) {
  char err[SIAM_ERRMAX];
  uint16_t vals[4] = {0x3c00, 0x3c01, 0x0001, 0x7c00};  /* 1, 1+2^-10, 2^-24, inf (f16) */
  SiamTensor t = {.name = "t", .dtype = SIAM_F16, .ndim = 1, .shape = {4}, .nbytes = 8};
  SiamBundle b = {.tensors = &t, .n_tensors = 1};
  t.data = siam_malloc(8);
  memcpy(t.data, vals, 8);
  CHECK(siam_bundle_convert(&b, SIAM_BF16, err) == 0 && t.dtype == SIAM_BF16 && t.nbytes == 8, "f16->bf16: %s", err);
  uint16_t out[4];
  memcpy(out, t.data, 8);
  CHECK(out[0] == 0x3f80 && out[1] == 0x3f80 && out[2] == 0x3380 && out[3] == 0x7f80, "bf16 values %04x %04x %04x %04x",
        out[0], out[1], out[2], out[3]);
  CHECK(siam_bundle_convert(&b, SIAM_F32, err) == 0 && t.nbytes == 16, "bf16->f32");
  float f[4];
  memcpy(f, t.data, 16);
  CHECK(f[0] == 1.0f && f[2] == 0x1p-24f && isinf(f[3]), "f32 values");
  CHECK(siam_bundle_convert(&b, SIAM_F16, err) == 0 && t.nbytes == 8, "f32->f16");
  memcpy(out, t.data, 8);
  CHECK(out[0] == 0x3c00 && out[2] == 0x0001 && out[3] == 0x7c00, "back to f16");
  siam_free(t.data);
}

/* ---- a synthetic bundle ------------------------------------------------------------ */

static const char *CONFIG =
    "{\"format\":\"siamsql/1\",\"encoder\":{\"type\":\"bert\",\"vocab_size\":12,\"hidden_size\":8,"
    "\"num_layers\":2,\"num_heads\":2,\"intermediate_size\":16,\"max_position_embeddings\":32,"
    "\"type_vocab_size\":2,\"activation\":\"gelu_new\",\"layer_norm_eps\":1e-7,\"pooler\":true},"
    "\"tokenizer\":{\"lowercase\":false,\"strip_accents\":true,\"tokenize_chinese_chars\":false,"
    "\"max_seq_length\":20,\"unk_token\":\"[UNK]\",\"cls_token\":\"<s>\",\"sep_token\":\"[SEP]\","
    "\"pad_token\":\"[PAD]\",\"mask_token\":\"[MASK]\",\"extra_special_tokens\":[\"<e1>\",\"[X]\"]},"
    "\"pooling\":[\"cls\",\"mean\"],\"head\":[{\"in\":16,\"out\":6,\"bias\":true,\"activation\":\"identity\"},"
    "{\"in\":6,\"out\":4,\"bias\":false,\"activation\":\"gelu\"}],\"normalize\":true}";

static const char *const VOCAB[12] = {"[PAD]", "[UNK]", "<s>",  "[SEP]", "[MASK]", "hello",
                                      " sp ace", "##x", "<e1>", "[X]",   "\xc3\xa9", "tab\there"};

/* Builds the bundle for `json` with random bytes in dtypes that rotate, so
** a round trip must keep each tensor's own dtype. */
static int make_bundle(SiamBundle *b, const char *json, int reverse) {
  char err[SIAM_ERRMAX];
  memset(b, 0, sizeof *b);
  if (siam_config_parse(&b->cfg, json, strlen(json), err)) {
    fprintf(stderr, "config: %s\n", err);
    return -1;
  }
  SiamTensorSpec *specs;
  int n = siam_config_tensors(&b->cfg, &specs, err);
  b->tensors = siam_calloc((size_t)n, sizeof *b->tensors);
  for (int i = 0; i < n; i++) {
    const SiamTensorSpec *s = &specs[reverse ? n - 1 - i : i];
    SiamTensor *t = &b->tensors[i];
    t->name = siam_strndup(s->name, strlen(s->name));
    t->dtype = (SiamDtype)(i % 3);
    t->ndim = s->ndim;
    size_t numel = 1;
    for (int k = 0; k < s->ndim; k++) numel *= (size_t)(t->shape[k] = s->shape[k]);
    t->nbytes = numel * siam_dtype_size(t->dtype);
    t->data = siam_malloc(t->nbytes);
    for (size_t k = 0; k < t->nbytes; k++) ((uint8_t *)t->data)[k] = next_byte();
  }
  b->n_tensors = n;
  siam_free(specs);
  b->n_vocab = b->cfg.encoder.vocab_size;
  b->vocab = siam_calloc((size_t)b->n_vocab, sizeof *b->vocab);
  for (int i = 0; i < b->n_vocab; i++) {
    char tmp[32];
    const char *s = i < 12 ? VOCAB[i] : (snprintf(tmp, sizeof tmp, "w%d", i), tmp);
    b->vocab[i] = siam_strndup(s, strlen(s));
  }
  return 0;
}

static const SiamTensor *find(const SiamBundle *b, const char *name) {
  for (int i = 0; i < b->n_tensors; i++)
    if (strcmp(b->tensors[i].name, name) == 0) return &b->tensors[i];
  return NULL;
}

/* Same config text, same vocab, and every tensor byte-identical. */
static int same_bundle(const SiamBundle *a, const SiamBundle *b, const char *what) {
  char *ja = siam_config_to_json(&a->cfg), *jb = siam_config_to_json(&b->cfg);
  int ok = ja && jb && strcmp(ja, jb) == 0;
  if (!ok) fprintf(stderr, "%s config differs:\n  %s\n  %s\n", what, ja, jb);
  siam_free(ja);
  siam_free(jb);
  ok &= a->n_tensors == b->n_tensors && a->n_vocab == b->n_vocab;
  for (int i = 0; ok && i < a->n_vocab; i++) ok = strcmp(a->vocab[i], b->vocab[i]) == 0;
  for (int i = 0; ok && i < a->n_tensors; i++) {
    const SiamTensor *x = &a->tensors[i], *y = find(b, x->name);
    ok = y && x->dtype == y->dtype && x->ndim == y->ndim && x->nbytes == y->nbytes &&
         memcmp(x->shape, y->shape, sizeof x->shape) == 0 && memcmp(x->data, y->data, x->nbytes) == 0;
    if (!ok) fprintf(stderr, "%s: tensor %s differs\n", what, x->name);
  }
  return ok;
}

/* ---- siam_bundle_check ---------------------------------------------------------- */

static void expect_check(SiamBundle *b, const char *want, int line) {
  char err[SIAM_ERRMAX] = "";
  int rc = siam_bundle_check(b, err);
  CHECK(want ? rc != 0 && strcmp(err, want) == 0 : rc == 0, "line %d: want '%s', got rc=%d '%s'", line,
        want ? want : "ok", rc, err);
}
#define EXPECT_CHECK(b, want) expect_check(b, want, __LINE__)

static void test_check(void) {
  SiamBundle b;
  if (make_bundle(&b, CONFIG, 1)) {
    CHECK(0, "make_bundle");
    return;
  }
  EXPECT_CHECK(&b, NULL);
  SiamTensorSpec *specs;
  char err[SIAM_ERRMAX];
  int n = siam_config_tensors(&b.cfg, &specs, err);
  int ordered = n == b.n_tensors;
  for (int i = 0; ordered && i < n; i++) ordered = strcmp(specs[i].name, b.tensors[i].name) == 0;
  CHECK(ordered, "check puts tensors in spec order");
  siam_free(specs);

  SiamTensor *q = (SiamTensor *)find(&b, "encoder.layer.1.attention.self.query.weight");
  q->shape[0] = 4;
  q->shape[1] = 16;
  EXPECT_CHECK(&b, "tensor encoder.layer.1.attention.self.query.weight has shape [4,16], config expects [8,8]");
  q->shape[0] = q->shape[1] = 8;
  q->nbytes -= 2;
  EXPECT_CHECK(&b, "tensor encoder.layer.1.attention.self.query.weight holds 126 bytes, its shape in bf16 needs 128");
  q->nbytes += 2;
  EXPECT_CHECK(&b, NULL);

  char *name = q->name;
  q->name = siam_strndup("encoder.layer.1.attention.self.key.weight", 41);
  EXPECT_CHECK(&b, "tensor encoder.layer.1.attention.self.key.weight appears twice");
  siam_free(q->name);
  q->name = siam_strndup("cls.predictions.bias", 20);
  EXPECT_CHECK(&b, "unexpected tensor cls.predictions.bias");
  siam_free(q->name);
  q->name = name;

  b.n_tensors--;  /* the last one, pooler's or head's, goes missing */
  char want[160];
  snprintf(want, sizeof want, "missing tensor %s", b.tensors[b.n_tensors].name);
  EXPECT_CHECK(&b, want);
  b.n_tensors++;
  EXPECT_CHECK(&b, NULL);

  b.n_vocab--;
  EXPECT_CHECK(&b, "vocab has 11 tokens, config expects 12");
  b.n_vocab++;
  char *tok = b.vocab[5];
  b.vocab[5] = siam_strndup("", 0);
  EXPECT_CHECK(&b, "vocab token 5 is empty");
  siam_free(b.vocab[5]);
  b.vocab[5] = tok;
  EXPECT_CHECK(&b, NULL);
  siam_bundle_free(&b);
  CHECK(b.tensors == NULL && b.n_tensors == 0, "free clears the bundle");
  siam_bundle_free(&b);  /* harmless twice */
}

/* ---- directory round trips ---------------------------------------------------------- */

static void test_round_trip_synthetic(void) {
  char dir[] = "/tmp/siam_bundle_XXXXXX", err[SIAM_ERRMAX];
  CHECK(mkdtemp(dir) != NULL, "mkdtemp");
  SiamBundle a, b;
  if (make_bundle(&a, CONFIG, 0)) return;
  CHECK(siam_bundle_write_dir(&a, dir, 0, err) == 0, "write: %s", err);
  int rc = siam_bundle_read_dir(&b, dir, err);
  CHECK(rc == 0, "read back: %s", err);
  if (rc == 0) CHECK(same_bundle(&a, &b, "synthetic"), "synthetic round trip identical");
  siam_bundle_free(&b);

  /* Writing again: refused while non-empty, allowed with overwrite. */
  CHECK(siam_bundle_write_dir(&a, dir, 0, err) && strstr(err, "not empty"), "non-empty refused: %s", err);
  CHECK(siam_bundle_write_dir(&a, dir, 1, err) == 0, "overwrite: %s", err);
  char sub[64], file[64];
  snprintf(sub, sizeof sub, "%s/new", dir);
  CHECK(siam_bundle_write_dir(&a, sub, 0, err) == 0, "creates a missing directory: %s", err);
  snprintf(file, sizeof file, "%s/vocab.txt", dir);
  CHECK(siam_bundle_write_dir(&a, file, 1, err) && strstr(err, "not a directory"), "file as dir: %s", err);
  CHECK(siam_bundle_write_dir(&a, "/nonexistent-siam/x", 0, err) && strstr(err, "cannot create directory"),
        "missing parent: %s", err);
  siam_bundle_free(&a);
  rm_rf(dir);
}

static void test_round_trip_fixtures(void) {
  static const char *const names[] = {"hf_uncased_prefixed", "st_a_mean_norm_f16", "st_all4_nocjk_f16",
                                      "st_cased_mean_plain", "st_cls_relu_keras",  "st_max_trunc16_bf16",
                                      "st_sqrtlen_stripaccents"};
  for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
    char src[256], dir[] = "/tmp/siam_fix_XXXXXX", err[SIAM_ERRMAX];
    snprintf(src, sizeof src, "%s/%s", FIXTURES, names[i]);
    SiamBundle a, b;
    if (siam_bundle_read_dir(&a, src, err)) {
      CHECK(0, "%s: %s", names[i], err);
      continue;
    }
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    int rc = siam_bundle_write_dir(&a, dir, 1, err);
    if (rc == 0) rc = siam_bundle_read_dir(&b, dir, err);
    CHECK(rc == 0, "%s export/import: %s", names[i], err);
    if (rc == 0) {
      CHECK(same_bundle(&a, &b, names[i]), "%s round trip identical", names[i]);
      siam_bundle_free(&b);
    }
    siam_bundle_free(&a);
    rm_rf(dir);
  }
}

/* What the importer derives from the fixtures' files. */
static void test_fixture_details(void) {
  char err[SIAM_ERRMAX];
  SiamBundle b;
  int rc = siam_bundle_read_dir(&b, FIXTURES "/hf_uncased_prefixed", err);
  CHECK(rc == 0, "hf fixture: %s", err);
  if (rc == 0) {
    CHECK(b.cfg.pooling == SIAM_POOL_MEAN && b.cfg.n_head == 0 && !b.cfg.normalize, "plain HF: mean, no head");
    CHECK(b.cfg.encoder.pooler == 1 && find(&b, "pooler.dense.weight"), "pooler kept");
    CHECK(!find(&b, "embeddings.position_ids") && find(&b, "embeddings.word_embeddings.weight"), "bert. stripped");
    CHECK(b.cfg.tokenizer.max_seq_length == 48, "max_seq_length from model_max_length: %d",
          b.cfg.tokenizer.max_seq_length);
    CHECK(b.cfg.tokenizer.lowercase && b.cfg.tokenizer.strip_accents, "uncased: strip_accents follows lowercase");
    siam_bundle_free(&b);
  }
  rc = siam_bundle_read_dir(&b, FIXTURES "/st_max_trunc16_bf16", err);
  CHECK(rc == 0, "st fixture: %s", err);
  if (rc == 0) {
    CHECK(b.cfg.pooling == SIAM_POOL_MAX && b.cfg.n_head == 2 && b.cfg.normalize, "pooling/head/normalize");
    CHECK(b.cfg.head[0].activation == SIAM_ACT_TANH && b.cfg.head[1].activation == SIAM_ACT_IDENTITY &&
              !b.cfg.head[1].bias, "dense configs");
    CHECK(b.cfg.tokenizer.max_seq_length == 16 && b.tensors[0].dtype == SIAM_BF16, "max_seq, dtype kept");
    CHECK(find(&b, "head.1.weight") && !find(&b, "head.1.bias"), "dense tensors renamed");
    siam_bundle_free(&b);
  }
  rc = siam_bundle_read_dir(&b, FIXTURES "/st_sqrtlen_stripaccents", err);
  if (rc == 0) {
    CHECK(!b.cfg.tokenizer.lowercase && b.cfg.tokenizer.strip_accents, "cased with explicit strip_accents");
    siam_bundle_free(&b);
  }
}

/* ---- import errors -------------------------------------------------------------------- */

/* A fresh export of the synthetic bundle to mutate. */
static int fresh(char *dir) {
  char err[SIAM_ERRMAX];
  SiamBundle a;
  strcpy(dir, "/tmp/siam_err_XXXXXX");
  if (!mkdtemp(dir) || make_bundle(&a, CONFIG, 0)) return -1;
  int rc = siam_bundle_write_dir(&a, dir, 1, err);
  siam_bundle_free(&a);
  return rc;
}

static void expect_read(const char *dir, const char *want, int line) {
  SiamBundle b;
  char err[SIAM_ERRMAX] = "";
  int rc = siam_bundle_read_dir(&b, dir, err);
  CHECK(rc != 0 && strstr(err, want), "line %d: want error containing '%s', got rc=%d '%s'", line, want, rc, err);
  CHECK(b.tensors == NULL && b.vocab == NULL, "line %d: failed read leaves nothing allocated", line);
  if (rc == 0) siam_bundle_free(&b);
}
#define EXPECT_READ(dir, want) expect_read(dir, want, __LINE__)

/* Replaces one file of a fresh export with text, and expects `want`. */
static void bad_file(const char *rel, const char *text, const char *want, int line) {
  char dir[32];
  if (fresh(dir)) {
    CHECK(0, "fresh export");
    return;
  }
  if (text) write_text(dir, rel, text);
  else remove_file(dir, rel);
  expect_read(dir, want, line);
  rm_rf(dir);
}
#define BAD_FILE(rel, text, want) bad_file(rel, text, want, __LINE__)

#define BERT_CONFIG \
    "{\"architectures\":[\"BertModel\"],\"hidden_act\":\"%s\",\"hidden_size\":8,\"intermediate_size\":16," \
    "\"layer_norm_eps\":1e-7,\"max_position_embeddings\":32,\"model_type\":\"%s\",\"num_attention_heads\":2," \
    "\"num_hidden_layers\":2,\"type_vocab_size\":2,\"vocab_size\":%d}"

static void bert_config(char *buf, size_t cap, const char *act, const char *type, int vocab) {
  snprintf(buf, cap, BERT_CONFIG, act, type, vocab);
}

static void test_read_errors(void) {
  char cfg[1024];
  EXPECT_READ("/nonexistent-siam", "cannot open directory");
  EXPECT_READ(FIXTURES "/hf_uncased_prefixed/vocab.txt", "not a directory");
  BAD_FILE("config.json", "{\"vocab_size\": 12,", "config.json: not valid JSON");
  BAD_FILE("config.json", "[]", "config.json: expected a JSON object");
  BAD_FILE("config.json", NULL, "config.json: cannot open");
  bert_config(cfg, sizeof cfg, "gelu", "roberta", 12);
  BAD_FILE("config.json", cfg, "config.json: model_type is 'roberta'; siamsql reads BERT models only");
  bert_config(cfg, sizeof cfg, "silu", "bert", 12);
  BAD_FILE("config.json", cfg, "config.json: hidden_act 'silu' is not supported");
  bert_config(cfg, sizeof cfg, "gelu", "bert", 13);
  BAD_FILE("config.json", cfg, "vocab.txt has 12 tokens, config.json vocab_size is 13");
  BAD_FILE("config.json", "{\"hidden_size\":8}", "config.json: missing vocab_size");
  BAD_FILE("config.json", "{\"vocab_size\":12.5}", "config.json: vocab_size must be an integer");
  BAD_FILE("vocab.txt", NULL, "vocab.txt: cannot open");
  BAD_FILE("tokenizer_config.json", "{\"do_lower_case\": 1}", "tokenizer_config.json: do_lower_case must be true or false");
  BAD_FILE("tokenizer_config.json", "{\"unk_token\": 7}", "tokenizer_config.json: unk_token must be a non-empty string");
  BAD_FILE("model.safetensors", NULL, "model.safetensors: cannot open");
  BAD_FILE("modules.json", "{}", "modules.json: expected a JSON list");
  BAD_FILE("modules.json",
           "[{\"idx\":0,\"path\":\"\",\"type\":\"sentence_transformers.models.Transformer\"},"
           "{\"idx\":1,\"path\":\"1_Pooling\",\"type\":\"sentence_transformers.models.WeightedLayerPooling\"}]",
           "modules.json: module 1 has type 'sentence_transformers.models.WeightedLayerPooling'");
  BAD_FILE("modules.json",
           "[{\"idx\":0,\"path\":\"\",\"type\":\"sentence_transformers.models.Transformer\"},"
           "{\"idx\":1,\"path\":\"../x\",\"type\":\"sentence_transformers.models.Pooling\"}]",
           "unusable path '../x'");
  BAD_FILE("modules.json", "[{\"idx\":0,\"path\":\"\",\"type\":\"sentence_transformers.models.Transformer\"}]",
           "modules.json: expected a Transformer then a Pooling module first");
  BAD_FILE("1_Pooling/config.json",
           "{\"word_embedding_dimension\":8,\"pooling_mode_cls_token\":true,\"pooling_mode_max_tokens\":false,"
           "\"pooling_mode_mean_sqrt_len_tokens\":false}",
           "1_Pooling/config.json: missing pooling_mode_mean_tokens");
  BAD_FILE("1_Pooling/config.json",
           "{\"word_embedding_dimension\":8,\"pooling_mode_cls_token\":false,\"pooling_mode_max_tokens\":false,"
           "\"pooling_mode_mean_tokens\":false,\"pooling_mode_mean_sqrt_len_tokens\":false,"
           "\"pooling_mode_weightedmean_tokens\":true}",
           "1_Pooling/config.json: pooling_mode_weightedmean_tokens is not supported");
  BAD_FILE("1_Pooling/config.json",
           "{\"word_embedding_dimension\":8,\"pooling_mode_cls_token\":false,\"pooling_mode_max_tokens\":false,"
           "\"pooling_mode_mean_tokens\":false,\"pooling_mode_mean_sqrt_len_tokens\":false}",
           "1_Pooling/config.json: no pooling mode is enabled");
  BAD_FILE("1_Pooling/config.json",
           "{\"word_embedding_dimension\":16,\"pooling_mode_cls_token\":true,\"pooling_mode_max_tokens\":false,"
           "\"pooling_mode_mean_tokens\":false,\"pooling_mode_mean_sqrt_len_tokens\":false}",
           "1_Pooling/config.json: word_embedding_dimension is 16, but config.json hidden_size is 8");
  BAD_FILE("2_Dense/config.json",
           "{\"in_features\":16,\"out_features\":6,\"activation_function\":\"torch.nn.modules.activation.SiLU\"}",
           "2_Dense/config.json: activation_function 'torch.nn.modules.activation.SiLU' is not supported");
  BAD_FILE("2_Dense/config.json", "{\"in_features\":16,\"out_features\":6,\"bias\":false}",
           "unexpected tensor head.0.bias");
  BAD_FILE("config.json", "{\"hidden_size\":8,\"intermediate_size\":12,\"max_position_embeddings\":32,"
           "\"num_attention_heads\":2,\"num_hidden_layers\":2,\"vocab_size\":12}",
           "tensor encoder.layer.0.intermediate.dense.weight has shape [16,8], config expects [12,8]");
  BAD_FILE("2_Dense/model.safetensors", NULL, "2_Dense/model.safetensors: cannot open");
  BAD_FILE("3_Dense/config.json", "{\"in_features\":7,\"out_features\":4,\"bias\":false,"
           "\"activation_function\":\"torch.nn.modules.activation.GELU\"}",
           "config: head[1].in is 7, but its input is 6 wide");

  /* Only a PyTorch checkpoint: say how to convert it. */
  char dir[32];
  if (fresh(dir) == 0) {
    remove_file(dir, "model.safetensors");
    write_text(dir, "pytorch_model.bin", "PK");
    EXPECT_READ(dir, "the model directory has only pytorch_model.bin; siamsql reads safetensors");
    remove_file(dir, "2_Dense/model.safetensors");
    write_text(dir, "2_Dense/pytorch_model.bin", "PK");
    write_text(dir, "model.safetensors", "");
    EXPECT_READ(dir, "model.safetensors: file is 0 bytes");
    rm_rf(dir);
  }
  if (fresh(dir) == 0) {
    remove_file(dir, "2_Dense/model.safetensors");
    write_text(dir, "2_Dense/pytorch_model.bin", "PK");
    EXPECT_READ(dir, "2_Dense has only pytorch_model.bin");
    rm_rf(dir);
  }
  if (fresh(dir) == 0) {
    write_bytes(dir, "model.safetensors", "\x39\x30\0\0\0\0\0\0{}", 10);
    EXPECT_READ(dir, "model.safetensors: header length 12345 exceeds file size 10");
    rm_rf(dir);
  }
  /* float64 weights are narrowed to float32 on import. */
  if (fresh(dir) == 0) {
    const char *h = "{\"linear.weight\":{\"dtype\":\"F64\",\"shape\":[6,16],\"data_offsets\":[0,768]},"
                    "\"linear.bias\":{\"dtype\":\"F32\",\"shape\":[6],\"data_offsets\":[768,792]}}";
    size_t hl = strlen(h), n = 8 + hl + 792;
    char *img = calloc(1, n);
    img[0] = (char)hl;
    memcpy(img + 8, h, hl);
    double w[96];
    for (int i = 0; i < 96; i++) w[i] = i == 1 ? 1e39 : i == 2 ? -1e300 : 0.1 * i;
    memcpy(img + 8 + hl, w, sizeof w);
    write_bytes(dir, "2_Dense/model.safetensors", img, n);
    free(img);
    SiamBundle b;
    char err[SIAM_ERRMAX];
    int rc = siam_bundle_read_dir(&b, dir, err);
    CHECK(rc == 0, "F64 dense: %s", err);
    if (rc == 0) {
      const SiamTensor *t = find(&b, "head.0.weight");
      const float *f = t ? t->data : NULL;
      CHECK(f && t->dtype == SIAM_F32 && t->nbytes == 384, "F64 became f32");
      CHECK(f && f[0] == 0.0f && isinf(f[1]) && f[1] > 0 && isinf(f[2]) && f[2] < 0 && f[5] == (float)0.5,
            "F64 values narrowed");
      siam_bundle_free(&b);
    }
    rm_rf(dir);
  }
  /* A Dense file with a stray tensor. */
  if (fresh(dir) == 0) {
    char path[64], err[SIAM_ERRMAX];
    float w[96] = {0};
    SiamTensor t[2] = {{.name = "linear.weight", .dtype = SIAM_F32, .ndim = 2, .shape = {6, 16}, .data = w, .nbytes = 384},
                       {.name = "linear.scale", .dtype = SIAM_F32, .ndim = 1, .shape = {6}, .data = w, .nbytes = 24}};
    snprintf(path, sizeof path, "%s/2_Dense/model.safetensors", dir);
    unlink(path);
    CHECK(siam_st_write_file(path, t, 2, err) == 0, "write dense: %s", err);
    EXPECT_READ(dir, "2_Dense/model.safetensors: unexpected tensor linear.scale");
    rm_rf(dir);
  }
}

/* Tokenizer settings as the files state them, and the max_seq_length rules. */
static void test_tokenizer_files(void) {
  char dir[32], err[SIAM_ERRMAX];
  SiamBundle b;
  if (fresh(dir)) return;
  write_text(dir, "tokenizer_config.json",
             "{\"do_lower_case\":true,\"strip_accents\":null,\"model_max_length\":1e30,"
             "\"cls_token\":{\"content\":\"<s>\",\"lstrip\":false},\"mask_token\":\"[MASK]\","
             "\"added_tokens_decoder\":{\"8\":{\"content\":\"<e1>\",\"special\":true},"
             "\"5\":{\"content\":\"hello\",\"special\":false}}}");
  write_text(dir, "special_tokens_map.json", "{\"unk_token\":{\"content\":\"[UNK]\"}}");
  remove_file(dir, "sentence_bert_config.json");
  /* [CLS] as well as <s>: the later reads fall back to the default cls_token,
  ** and a bundle whose tokenizer cannot be built is refused. */
  write_text(dir, "vocab.txt", "[PAD]\r\n[UNK]\r\n<s>\r\n[SEP]\r\n[MASK]\r\nhello\r\n sp ace\r\n##x\r\n<e1>\r\n"
                               "[CLS]\r\n\xc3\xa9\r\ntab\there");
  int rc = siam_bundle_read_dir(&b, dir, err);
  CHECK(rc == 0, "tokenizer variants: %s", err);
  if (rc == 0) {
    const SiamTokenizerConfig *t = &b.cfg.tokenizer;
    CHECK(t->lowercase && t->strip_accents, "strip_accents null follows do_lower_case");
    CHECK(t->max_seq_length == 32, "huge model_max_length ignored: %d", t->max_seq_length);
    CHECK(strcmp(t->cls_token, "<s>") == 0, "AddedToken object");
    CHECK(t->n_extra_special == 1 && strcmp(t->extra_special[0], "<e1>") == 0, "special added token kept: %d",
          t->n_extra_special);
    CHECK(strcmp(b.vocab[6], " sp ace") == 0 && strcmp(b.vocab[11], "tab\there") == 0, "CRLF vocab, no final newline");
    siam_bundle_free(&b);
  }
  write_text(dir, "sentence_bert_config.json", "{\"max_seq_length\": 24, \"do_lower_case\": true}");
  write_text(dir, "tokenizer_config.json", "{\"do_lower_case\":false,\"model_max_length\":16}");
  remove_file(dir, "special_tokens_map.json");
  rc = siam_bundle_read_dir(&b, dir, err);
  CHECK(rc == 0, "sbert config: %s", err);
  if (rc == 0) {
    const SiamTokenizerConfig *t = &b.cfg.tokenizer;
    CHECK(t->max_seq_length == 24, "sentence_bert_config wins: %d", t->max_seq_length);
    CHECK(t->lowercase && !t->strip_accents, "sbert do_lower_case lowercases without stripping accents");
    CHECK(strcmp(t->cls_token, "[CLS]") == 0 && t->n_extra_special == 0, "defaults");
    siam_bundle_free(&b);
  }
  remove_file(dir, "sentence_bert_config.json");
  rc = siam_bundle_read_dir(&b, dir, err);
  CHECK(rc == 0 && b.cfg.tokenizer.max_seq_length == 16, "model_max_length below max_position_embeddings: %s", err);
  if (rc == 0) siam_bundle_free(&b);
  /* Without modules.json the root is a plain HuggingFace model. */
  remove_file(dir, "modules.json");
  rc = siam_bundle_read_dir(&b, dir, err);
  CHECK(rc == 0 && b.cfg.pooling == SIAM_POOL_MEAN && b.cfg.n_head == 0 && !b.cfg.normalize, "plain HF: %s", err);
  if (rc == 0) siam_bundle_free(&b);
  write_text(dir, "vocab.txt", "[PAD]\n\n<s>\n[SEP]\n[MASK]\nhello\nx\n##x\n<e1>\n[X]\ny\nz\n");
  EXPECT_READ(dir, "vocab token 1 is empty");
  rm_rf(dir);
}

/* Every allocation failure, one at a time: the call fails cleanly (ASan
** reports any leak) and the bundle is left empty. */
extern long siam_fail_countdown;

static void test_out_of_memory(void) {
  char err[SIAM_ERRMAX], dir[] = "/tmp/siam_oom_XXXXXX";
  SiamBundle src, b;
  CHECK(mkdtemp(dir) != NULL, "mkdtemp");
  if (make_bundle(&src, CONFIG, 0) || siam_bundle_write_dir(&src, dir, 1, err)) return;
  int failures = 0, done = 0;
  for (long k = 1; k < 100000 && !done; k++) {
    siam_fail_countdown = k;
    int rc = siam_bundle_read_dir(&b, dir, err);
    done = siam_fail_countdown > 0;  /* nothing left to fail */
    siam_fail_countdown = 0;
    if (rc == 0) siam_bundle_free(&b);
    else failures += b.tensors == NULL && b.vocab == NULL;
    if (!done && rc == 0) CHECK(0, "allocation %ld failed but read_dir succeeded", k);
  }
  CHECK(done && failures > 10, "read_dir survives every allocation failure (%d)", failures);
  done = 0;
  for (long k = 1; k < 100000 && !done; k++) {
    siam_fail_countdown = k;
    int rc = siam_bundle_write_dir(&src, dir, 1, err);
    done = siam_fail_countdown > 0;
    siam_fail_countdown = 0;
    if (!done) CHECK(rc != 0, "allocation %ld failed but write_dir succeeded", k);
  }
  done = 0;
  for (long k = 1; k < 100000 && !done; k++) {
    void *frame = NULL, *raw = NULL;
    size_t n = 0, rn;
    siam_fail_countdown = k;
    int rc = siam_blob_pack(src.tensors[0].data, src.tensors[0].nbytes, &frame, &n, err);
    if (rc == 0) rc = siam_blob_unpack_alloc(frame, n, 1 << 20, &raw, &rn, err);
    if (rc == 0) rc = siam_bundle_convert(&src, SIAM_BF16, err);
    done = siam_fail_countdown > 0;
    siam_fail_countdown = 0;
    siam_free(frame);
    siam_free(raw);
  }
  CHECK(done, "codec and convert survive allocation failures");
  siam_bundle_free(&src);
  rm_rf(dir);
}

int main(void) {
  test_blob();
  test_blob_pieces();
  test_dtype_names();
  test_f16();
  test_bf16();
  test_convert_bundle();
  test_check();
  test_round_trip_synthetic();
  test_round_trip_fixtures();
  test_fixture_details();
  test_read_errors();
  test_tokenizer_files();
  test_out_of_memory();
  return TEST_DONE();
}

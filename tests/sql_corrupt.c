/*
** sql_corrupt.c — the corrupt-model matrix, through SQL.
**
** One fixture model is imported twice, as 'good' and 'bad'.  Each case breaks
** 'bad' with plain SQL (a tensor row, its frame, the config, the vocab) and
** checks that
**   - siam_embed('bad', ...) fails with an error naming the model and the
**     broken part, and fails again on the next call (nothing half-loaded was
**     cached);
**   - siam_export('bad', ...) fails too, and leaves no directory behind;
**   - siam_embed('good', ...) still gives exactly its embedding;
**   - once the rows are put back by SQL, 'bad' embeds exactly as before.
** Then corrupt directories through siam_import (the cases tests/sql_store.c
** does not already cover).
**
** Two test-only SQL functions help write corruptions as SQL:
**   flip_byte(blob, i)  -- the blob with byte i (negative: from the end) XOR 0x10
**   blob_cat(a, b)      -- a || b as a BLOB (SQL's || makes TEXT)
*/
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sqlutil.h"

#define FIXTURE "tests/fixtures/models/st_a_mean_norm_f16"
#define TEXT "The quick brown fox jumps over the lazy dog."

static char tmp_root[] = "/tmp/siamsql-corrupt-XXXXXX";
static char *emb_before;  /* hex(siam_embed(model, TEXT)) of the intact model */

/* ---- test-only SQL functions ------------------------------------------------ */

static void flip_byte(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  int n = sqlite3_value_bytes(argv[0]);
  sqlite3_int64 i = sqlite3_value_int64(argv[1]);
  if (i < 0) i += n;
  if (i < 0 || i >= n) {
    sqlite3_result_error(ctx, "flip_byte: index out of range", -1);
    return;
  }
  unsigned char *b = sqlite3_malloc(n);
  memcpy(b, sqlite3_value_blob(argv[0]), (size_t)n);
  b[i] ^= 0x10;
  sqlite3_result_blob(ctx, b, n, sqlite3_free);
}

static void blob_cat(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  int a = sqlite3_value_bytes(argv[0]), b = sqlite3_value_bytes(argv[1]);
  unsigned char *out = sqlite3_malloc(a + b + 1);
  if (a) memcpy(out, sqlite3_value_blob(argv[0]), (size_t)a);
  if (b) memcpy(out + a, sqlite3_value_blob(argv[1]), (size_t)b);
  sqlite3_result_blob(ctx, out, a + b, sqlite3_free);
}

static sqlite3 *open_test_db(void) {
  sqlite3 *db = open_db(":memory:");
  sqlite3_create_function(db, "flip_byte", 2, SQLITE_UTF8, NULL, flip_byte, NULL, NULL);
  sqlite3_create_function(db, "blob_cat", 2, SQLITE_UTF8, NULL, blob_cat, NULL, NULL);
  return db;
}

static int exec_ok(sqlite3 *db, const char *sql) {
  char *err = NULL;
  int rc = sqlite3_exec(db, sql, NULL, NULL, &err);
  CHECK(rc == SQLITE_OK, "%s\n   error: %s", sql, err ? err : "?");
  sqlite3_free(err);
  return rc == SQLITE_OK;
}

/* ---- the matrix ------------------------------------------------------------- */

typedef struct {
  const char *tag;     /* what is broken */
  const char *sql;     /* breaks 'bad' (may be several statements) */
  const char *want;    /* the load error contains this (after "model 'bad': ") */
  const char *export_want;  /* the export error contains this; NULL: same as want */
} Case;

/* Tensors used below: LN = [48] f16, Q = [48,48] f16, FC = [96,48] f16. */
#define LN "embeddings.LayerNorm.weight"
#define QW "encoder.layer.0.attention.self.query.weight"
#define FC "encoder.layer.1.intermediate.dense.weight"
#define WHERE_T(name) " WHERE model = 'bad' AND name = '" name "'"
#define SET_CONFIG(path, value) "UPDATE siam_model SET config = json_set(config, '" path "', " value ") WHERE name = 'bad'"
#define DROP_CONFIG(path) "UPDATE siam_model SET config = json_remove(config, '" path "') WHERE name = 'bad'"

static const Case cases[] = {
    /* tensors */
    {"tensor missing", "DELETE FROM siam_tensor" WHERE_T("encoder.layer.1.attention.self.key.weight"),
     "missing tensor encoder.layer.1.attention.self.key.weight", NULL},
    {"tensor unexpected",
     "INSERT INTO siam_tensor SELECT model, 'encoder.layer.9.output.dense.bias', dtype, shape, data FROM siam_tensor"
     WHERE_T("encoder.layer.0.output.dense.bias"),
     "unexpected tensor encoder.layer.9.output.dense.bias", NULL},
    {"shape: same size, other layout", "UPDATE siam_tensor SET shape = '[2304]'" WHERE_T(QW),
     "tensor " QW " has shape [2304], config expects [48,48]", NULL},
    {"shape: transposed", "UPDATE siam_tensor SET shape = '[48,96]'" WHERE_T(FC),
     "tensor " FC " has shape [48,96], config expects [96,48]", NULL},
    {"shape: smaller", "UPDATE siam_tensor SET shape = '[47]'" WHERE_T(LN),
     "tensor " LN " has shape [47], config expects [48]", NULL},
    /* Regression: the stored shape sized an allocation before it was checked
    ** (400 GB here: ASan aborted, a plain build reported out of memory). */
    {"shape: huge", "UPDATE siam_tensor SET shape = '[200000000000]'" WHERE_T(LN),
     "tensor " LN " has shape [200000000000], config expects [48]", NULL},
    {"shape: not JSON", "UPDATE siam_tensor SET shape = '48'" WHERE_T(LN),
     "tensor " LN ": shape 48 is not a JSON array", NULL},
    {"shape: negative", "UPDATE siam_tensor SET shape = '[-48]'" WHERE_T(LN),
     "tensor " LN ": shape [-48] has a size that is not a non-negative integer", NULL},
    {"shape: fraction", "UPDATE siam_tensor SET shape = '[47.5]'" WHERE_T(LN),
     "tensor " LN ": shape [47.5] has a size that is not a non-negative integer", NULL},
    {"shape: 5 dims", "UPDATE siam_tensor SET shape = '[1,1,1,1,48]'" WHERE_T(LN),
     "tensor " LN ": shape [1,1,1,1,48] is not a JSON array of at most 4 sizes", NULL},
    {"shape: not TEXT", "UPDATE siam_tensor SET shape = x'5b34385d'" WHERE_T(LN),
     "siam_tensor row with a name, dtype or shape that is not TEXT", NULL},
    {"dtype unknown", "UPDATE siam_tensor SET dtype = 'f64'" WHERE_T(LN),
     "tensor " LN ": unknown dtype 'f64' (expected f32, f16 or bf16)", NULL},
    {"dtype wrong (f32 for f16 data)", "UPDATE siam_tensor SET dtype = 'f32'" WHERE_T(LN),
     "tensor " LN ": zstd frame declares 96 bytes, shape needs 192", NULL},
    {"dtype not TEXT", "UPDATE siam_tensor SET dtype = x'6631'" WHERE_T(LN),
     "siam_tensor row with a name, dtype or shape that is not TEXT", NULL},
    /* frames */
    {"frame truncated", "UPDATE siam_tensor SET data = substr(data, 1, length(data) - 7)" WHERE_T(QW),
     "tensor " QW ": corrupt zstd frame: ", NULL},
    {"frame cut to its header", "UPDATE siam_tensor SET data = substr(data, 1, 7)" WHERE_T(QW),
     "tensor " QW ": corrupt zstd frame: ", NULL},
    {"frame: checksum bit flipped", "UPDATE siam_tensor SET data = flip_byte(data, -2)" WHERE_T(QW),
     "tensor " QW ": corrupt zstd frame: Restored data doesn't match checksum", NULL},
    {"frame: content bit flipped", "UPDATE siam_tensor SET data = flip_byte(data, length(data) / 2)" WHERE_T(QW),
     "tensor " QW ": corrupt zstd frame: ", NULL},
    {"frame: trailing byte", "UPDATE siam_tensor SET data = blob_cat(data, x'00')" WHERE_T(QW),
     "tensor " QW ": blob has 1 bytes after its zstd frame", NULL},
    {"frame: two frames", "UPDATE siam_tensor SET data = blob_cat(data, data)" WHERE_T(QW),
     "tensor " QW ": blob has ", NULL},
    {"frame: not zstd", "UPDATE siam_tensor SET data = x'00112233445566778899'" WHERE_T(LN),
     "tensor " LN ": corrupt zstd frame: not a zstd frame header", NULL},
    {"frame: empty", "UPDATE siam_tensor SET data = x''" WHERE_T(LN),
     "tensor " LN ": corrupt zstd frame", NULL},
    {"frame: TEXT", "UPDATE siam_tensor SET data = 'hello'" WHERE_T(LN),
     "tensor " LN ": corrupt zstd frame", NULL},
    /* Regression: a frame without a checksum was accepted.  96 zero bytes:
    ** magic, header descriptor 0x20 (single segment, 1-byte size, no
    ** checksum), size 96, one last RLE block of 96 x 00. */
    {"frame: no checksum", "UPDATE siam_tensor SET data = x'28b52ffd206003030000'" WHERE_T(LN),
     "tensor " LN ": zstd frame has no checksum", NULL},
    /* Decompression bombs: the declared size is refused before anything is
    ** allocated or inflated. */
    {"frame: declares 8 MB for 96 bytes", "UPDATE siam_tensor SET data = siam_pack(zeroblob(8000000))" WHERE_T(LN),
     "tensor " LN ": zstd frame declares 8000000 bytes, shape needs 96", NULL},
    {"frame: declares 2^56 bytes",
     "UPDATE siam_tensor SET data = x'28b52ffde4000000000000000101000000000000'" WHERE_T(LN),
     "tensor " LN ": zstd frame declares 72057594037927936 bytes, shape needs 96", NULL},
    {"frame: bomb with a shape to match",
     "UPDATE siam_tensor SET shape = '[2000000]', data = siam_pack(zeroblob(8000000))" WHERE_T(LN),
     "tensor " LN " has shape [2000000], config expects [48]", NULL},
    /* config */
    {"config: not JSON", "UPDATE siam_model SET config = '{\"format\":\"siamsql/1\",' WHERE name = 'bad'",
     "config: not valid JSON", NULL},
    {"config: not TEXT", "UPDATE siam_model SET config = CAST(config AS BLOB) WHERE name = 'bad'",
     "config is not TEXT", NULL},
    {"config: not an object", "UPDATE siam_model SET config = '[1,2]' WHERE name = 'bad'",
     "config: must be a JSON object", NULL},
    {"config: other format", SET_CONFIG("$.format", "'siamsql/2'"), "config: format is \"siamsql/2\"", NULL},
    {"config: field missing", DROP_CONFIG("$.encoder.hidden_size"), "config: missing encoder.hidden_size", NULL},
    {"config: tokenizer field missing", DROP_CONFIG("$.tokenizer.unk_token"), "config: missing tokenizer.unk_token",
     NULL},
    {"config: section missing", DROP_CONFIG("$.tokenizer"), "config: missing tokenizer", NULL},
    {"config: normalize missing", DROP_CONFIG("$.normalize"), "config: missing normalize", NULL},
    {"config: negative hidden", SET_CONFIG("$.encoder.hidden_size", "-48"),
     "config: encoder.hidden_size is -48, must be in 1..16384", NULL},
    {"config: negative layers", SET_CONFIG("$.encoder.num_layers", "-1"),
     "config: encoder.num_layers is -1, must be in 0..256", NULL},
    {"config: 10^9 layers", SET_CONFIG("$.encoder.num_layers", "1000000000"),
     "config: encoder.num_layers is 1000000000, must be in 0..256", NULL},
    {"config: 10^9 vocab", SET_CONFIG("$.encoder.vocab_size", "1000000000"),
     "config: encoder.vocab_size is 1000000000, must be in 1..1000000", NULL},
    {"config: 1e300 hidden", SET_CONFIG("$.encoder.hidden_size", "1e300"),
     "config: encoder.hidden_size is 1.0000000000000001e+300, must be in 1..16384", NULL},
    {"config: fractional heads", SET_CONFIG("$.encoder.num_heads", "4.5"), "config: encoder.num_heads must be an integer",
     NULL},
    {"config: size as a string", SET_CONFIG("$.encoder.intermediate_size", "'96'"),
     "config: encoder.intermediate_size must be an integer", NULL},
    {"config: zero heads", SET_CONFIG("$.encoder.num_heads", "0"), "config: encoder.num_heads is 0, must be in 1..256",
     NULL},
    {"config: heads do not divide hidden", SET_CONFIG("$.encoder.num_heads", "5"),
     "config: encoder.num_heads (5) does not divide encoder.hidden_size (48)", NULL},
    /* Regression: each size in range, together terabytes of weights. */
    {"config: absurd total size",
     "UPDATE siam_model SET config = json_set(config, '$.encoder.hidden_size', 16384, '$.encoder.num_layers', 256,"
     " '$.encoder.intermediate_size', 65536) WHERE name = 'bad'",
     "config: the model needs ", "more than the 16384 MiB siamsql allows"},
    {"config: max_seq_length past positions", SET_CONFIG("$.tokenizer.max_seq_length", "129"),
     "config: tokenizer.max_seq_length is 129, must be in 2..128", NULL},
    {"config: layer_norm_eps 0", SET_CONFIG("$.encoder.layer_norm_eps", "0"),
     "config: encoder.layer_norm_eps must be in (0, 1)", NULL},
    {"config: unknown activation", SET_CONFIG("$.encoder.activation", "'swish'"),
     "config: encoder.activation: unknown activation 'swish'", NULL},
    {"config: activation not a string", SET_CONFIG("$.encoder.activation", "1"),
     "config: encoder.activation: unknown activation (not a string)", NULL},
    {"config: activation not for the encoder", SET_CONFIG("$.encoder.activation", "'tanh'"),
     "config: encoder.activation must be gelu, gelu_new or relu, not tanh", NULL},
    {"config: unknown pooling", SET_CONFIG("$.pooling", "json('[\"weighted\"]')"),
     "config: pooling: unknown mode 'weighted'", NULL},
    {"config: no pooling", SET_CONFIG("$.pooling", "json('[]')"), "config: pooling must be a non-empty array", NULL},
    {"config: pooling twice", SET_CONFIG("$.pooling", "json('[\"mean\",\"mean\"]')"),
     "config: pooling: mode 'mean' listed twice", NULL},
    {"config: head of the wrong width", SET_CONFIG("$.head", "json('[{\"in\":47,\"out\":8,\"bias\":true,\"activation\":\"tanh\"}]')"),
     "config: head[0].in is 47, but its input is 48 wide", NULL},
    {"config: head with an unknown activation",
     SET_CONFIG("$.head", "json('[{\"in\":48,\"out\":8,\"bias\":true,\"activation\":\"swish\"}]')"),
     "config: head[0].activation: unknown activation 'swish'", NULL},
    {"config: head without its tensors",
     SET_CONFIG("$.head", "json('[{\"in\":48,\"out\":8,\"bias\":true,\"activation\":\"tanh\"}]')"),
     "missing tensor head.0.weight", NULL},
    {"config: vocab_size above the rows", SET_CONFIG("$.encoder.vocab_size", "2084"),
     "tensor embeddings.word_embeddings.weight has shape [2083,48], config expects [2084,48]", NULL},
    {"config: unk_token not in the vocab", SET_CONFIG("$.tokenizer.unk_token", "'[NOPE]'"),
     "unk_token '[NOPE]' is not in the vocab", NULL},
    {"config: encoder type", SET_CONFIG("$.encoder.type", "'roberta'"), "config: encoder.type must be \"bert\"", NULL},
    /* vocab */
    {"vocab: gap", "DELETE FROM siam_vocab WHERE model = 'bad' AND id = 100",
     "vocab has no token with id 100 (ids must be 0..2082 with no gaps)",
     "vocab ids must be 0..2082 with no gaps or duplicates (at id 100)"},
    {"vocab: gap and an extra id past vocab_size",
     "DELETE FROM siam_vocab WHERE model = 'bad' AND id = 100;"
     "INSERT INTO siam_vocab(model, id, token) VALUES ('bad', 2083, 'zzzextra')",
     "vocab has no token with id 100", "vocab ids must be 0..2082 with no gaps or duplicates (at id 100)"},
    {"vocab: fewer tokens", "DELETE FROM siam_vocab WHERE model = 'bad' AND id = 2082",
     "vocab has 2082 tokens, config expects 2083", NULL},
    {"vocab: more tokens", "INSERT INTO siam_vocab(model, id, token) VALUES ('bad', 2083, 'zzzextra')",
     "vocab has more tokens than config's vocab_size 2083", NULL},
    {"vocab: negative id", "INSERT INTO siam_vocab(model, id, token) VALUES ('bad', -1, 'zzzextra')",
     "vocab id -1 is negative (ids must be 0..2082)", "vocab ids must be 0..2082 with no gaps or duplicates (at id 0)"},
    /* Regression: export read id 100.5 as 100 and wrote the model out. */
    {"vocab: fractional id", "UPDATE siam_vocab SET id = 100.5 WHERE model = 'bad' AND id = 100",
     "siam_vocab row with a non-integer id or non-text token", NULL},
    {"vocab: a token twice",
     "UPDATE siam_vocab SET token = (SELECT token FROM siam_vocab WHERE model = 'bad' AND id = 2000)"
     " WHERE model = 'bad' AND id = 1999",
     "appears twice (ids 1999 and 2000)", NULL},
    {"vocab: empty token", "UPDATE siam_vocab SET token = '' WHERE model = 'bad' AND id = 7",
     "vocab token 7 is empty or holds a NUL", NULL},
    /* Regression: export cut the token at the NUL and wrote it out. */
    {"vocab: NUL in a token", "UPDATE siam_vocab SET token = CAST(x'610062' AS TEXT) WHERE model = 'bad' AND id = 7",
     "vocab token 7 is empty or holds a NUL", NULL},
    {"vocab: token not TEXT", "UPDATE siam_vocab SET token = x'61' WHERE model = 'bad' AND id = 7",
     "siam_vocab row with a non-integer id or non-text token", NULL},
    /* Regression: export wrote a vocab the loader refuses. */
    {"vocab: [CLS] renamed", "UPDATE siam_vocab SET token = '[CLZ]' WHERE model = 'bad' AND token = '[CLS]'",
     "cls_token '[CLS]' is not in the vocab", NULL},
};

#undef LN
#undef QW
#undef FC

static int dir_exists(const char *path) {
  struct stat sb;
  return stat(path, &sb) == 0;
}

/* Puts every row of 'bad' back as it was (the SQL fix). */
static void restore_bad(sqlite3 *db) {
  exec_ok(db,
          "BEGIN;"
          "DELETE FROM siam_tensor WHERE model = 'bad';"
          "INSERT INTO siam_tensor SELECT * FROM temp.bak_tensor;"
          "DELETE FROM siam_vocab WHERE model = 'bad';"
          "INSERT INTO siam_vocab SELECT * FROM temp.bak_vocab;"
          "UPDATE siam_model SET config = (SELECT config FROM temp.bak_model) WHERE name = 'bad';"
          "COMMIT;");
}

static void run_case(sqlite3 *db, const Case *c, int index) {
  const char *embed = "SELECT hex(siam_embed('bad', '" TEXT "'))";
  /* 'bad' is loaded and cached before it breaks. */
  CHECK_Q(db, emb_before, embed);
  if (!exec_ok(db, c->sql)) return;
  const char *want = c->want;
  for (int attempt = 0; attempt < 2; attempt++) {
    char *got = Q(db, embed);
    const char *prefix = "ERROR: siam_embed: model 'bad': ";
    CHECK(got && strncmp(got, prefix, strlen(prefix)) == 0 && strstr(got, want),
          "[%s] load (attempt %d)\n   got:  %s\n   want: %s...%s", c->tag, attempt + 1, got ? got : "NULL", prefix,
          want);
    free(got);
  }
  char *tok = Q(db, "SELECT siam_tokenize('bad', 'x')");
  CHECK(tok && strncmp(tok, "ERROR: siam_tokenize: model 'bad': ", 35) == 0, "[%s] tokenize: %s", c->tag,
        tok ? tok : "NULL");
  free(tok);

  /* Export refuses it too and writes nothing. */
  char out[600];
  snprintf(out, sizeof out, "%s/export-%d", tmp_root, index);
  const char *ewant = c->export_want ? c->export_want : want;
  char *got = Q(db, "SELECT siam_export('bad', ?1)", out);
  const char *eprefix = "ERROR: siam_export: model 'bad': ";
  CHECK(got && strncmp(got, eprefix, strlen(eprefix)) == 0 && strstr(got, ewant),
        "[%s] export\n   got:  %s\n   want: %s...%s", c->tag, got ? got : "NULL", eprefix, ewant);
  CHECK(!dir_exists(out), "[%s] a failed export left %s behind", c->tag, out);
  free(got);

  /* The good model is untouched. */
  CHECK_Q(db, emb_before, "SELECT hex(siam_embed('good', '" TEXT "'))");
  restore_bad(db);
  CHECK_Q(db, emb_before, embed);
}

static void test_matrix(void) {
  sqlite3 *db = open_test_db();
  CHECK_Q(db, "1", "SELECT siam_import('good', '" FIXTURE "') > 0");
  CHECK_Q(db, "1", "SELECT siam_import('bad', '" FIXTURE "') > 0");
  exec_ok(db, "CREATE TEMP TABLE bak_tensor AS SELECT * FROM siam_tensor WHERE model = 'bad';"
              "CREATE TEMP TABLE bak_vocab AS SELECT * FROM siam_vocab WHERE model = 'bad';"
              "CREATE TEMP TABLE bak_model AS SELECT * FROM siam_model WHERE name = 'bad';");
  emb_before = Q(db, "SELECT hex(siam_embed('good', '" TEXT "'))");
  CHECK(emb_before && strlen(emb_before) == 48 * 8, "good embeds: %s", emb_before ? emb_before : "NULL");
  CHECK_Q(db, emb_before, "SELECT hex(siam_embed('bad', '" TEXT "'))");
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) run_case(db, &cases[i], (int)i);
  /* Rows written between statements of one transaction: the model is read at
  ** each statement, so a half-written model is refused, the finished one used. */
  exec_ok(db, "BEGIN; DELETE FROM siam_tensor WHERE model = 'bad' AND name LIKE 'encoder.layer.2.%'");
  CHECK_ERR(db, "siam_embed: model 'bad': missing tensor encoder.layer.2.", "SELECT siam_embed('bad', 'x')");
  exec_ok(db, "INSERT INTO siam_tensor SELECT * FROM temp.bak_tensor WHERE name LIKE 'encoder.layer.2.%'; COMMIT");
  CHECK_Q(db, emb_before, "SELECT hex(siam_embed('bad', '" TEXT "'))");
  free(emb_before);
  sqlite3_close(db);
}

/* A bit flipped in any byte after the frame header (a different bit in each
** byte), or in the checksum, of one tensor's frame is caught: the model is
** refused or, should a flip not change what the frame decodes to, the same. */
static void test_every_flip(void) {
  sqlite3 *db = open_test_db();
  CHECK_Q(db, "1", "SELECT siam_import('bad', '" FIXTURE "') > 0");
  char *before = Q(db, "SELECT hex(siam_embed('bad', 'x'))");
  sqlite3_stmt *get = NULL, *put = NULL;
  sqlite3_prepare_v2(db, "SELECT data FROM siam_tensor WHERE model = 'bad' AND name = 'embeddings.LayerNorm.bias'", -1,
                     &get, NULL);
  sqlite3_prepare_v2(db, "UPDATE siam_tensor SET data = ?1 WHERE model = 'bad' AND name = 'embeddings.LayerNorm.bias'",
                     -1, &put, NULL);
  int n = sqlite3_step(get) == SQLITE_ROW ? sqlite3_column_bytes(get, 0) : 0;
  unsigned char *orig = malloc((size_t)n + 1), *b = malloc((size_t)n + 1);
  if (n) memcpy(orig, sqlite3_column_blob(get, 0), (size_t)n);
  sqlite3_finalize(get);
  int caught = 0, same = 0;
  /* Header: 4 magic + descriptor + 1 size byte (96 < 256, single segment). */
  for (int i = 6; i < n; i++) {
    memcpy(b, orig, (size_t)n);
    b[i] ^= (unsigned char)(1u << (i % 8));
    sqlite3_bind_blob(put, 1, b, n, SQLITE_TRANSIENT);
    sqlite3_step(put);
    sqlite3_reset(put);
    char *got = Q(db, "SELECT hex(siam_embed('bad', 'x'))");
    const char *prefix = "ERROR: siam_embed: model 'bad': tensor embeddings.LayerNorm.bias: ";
    int err = got && strncmp(got, prefix, strlen(prefix)) == 0;
    int unchanged = got && before && strcmp(got, before) == 0;
    CHECK(err || unchanged, "flip in byte %d of %d went unnoticed: %.60s", i, n, got ? got : "NULL");
    caught += err;
    same += unchanged;
    free(got);
  }
  CHECK(n > 20 && caught + same == n - 6 && caught > (n - 6) * 9 / 10, "%d of %d flips caught, %d harmless", caught,
        n - 6, same);
  sqlite3_bind_blob(put, 1, orig, n, SQLITE_TRANSIENT);
  sqlite3_step(put);
  sqlite3_finalize(put);
  CHECK_Q(db, before, "SELECT hex(siam_embed('bad', 'x'))");
  free(orig);
  free(b);
  free(before);
  sqlite3_close(db);
}

/* ---- corrupt directories through siam_import ------------------------------- */

static char *scratch_copy(const char *tag) {
  char *dst = malloc(strlen(tmp_root) + strlen(tag) + 2);
  sprintf(dst, "%s/%s", tmp_root, tag);
  char cmd[2048];
  snprintf(cmd, sizeof cmd, "rm -rf '%s' && cp -r '" FIXTURE "' '%s'", dst, dst);
  if (system(cmd) != 0) fprintf(stderr, "cannot copy the fixture\n");
  return dst;
}

/* Rewrites model.safetensors' header with a Python expression over `h` (the
** header dict); data offsets are kept, so only what the edit says changes. */
#define EDIT_ST(expr)                                                                                        \
  "python3 -c \"import json,struct;f=open('model.safetensors','rb').read();n=struct.unpack('<Q',f[:8])[0];" \
  "h=json.loads(f[8:8+n]);" expr ";b=json.dumps(h).encode();"                                             \
  "open('model.safetensors','wb').write(struct.pack('<Q',len(b))+b+f[8+n:])\""

static void test_import_dirs(void) {
  sqlite3 *db = open_test_db();
  CHECK_Q(db, "1", "SELECT siam_import('good', '" FIXTURE "') > 0");
  const char *rows = "SELECT (SELECT group_concat(name) FROM siam_model) || '/' || (SELECT count(*) FROM siam_tensor)"
                     " || '/' || (SELECT count(*) FROM siam_vocab)";
  char *before = Q(db, rows);
  struct {
    const char *tag, *edit, *want;
  } dirs[] = {
      {"layers-1e9", "sed -i 's/\"num_hidden_layers\": *[0-9]*/\"num_hidden_layers\": 1000000000/' config.json",
       "num_layers is 1000000000, must be in 0..256"},
      {"hidden-negative", "sed -i 's/\"hidden_size\": *[0-9]*/\"hidden_size\": -48/' config.json", "hidden_size"},
      {"heads-5", "sed -i 's/\"num_attention_heads\": *[0-9]*/\"num_attention_heads\": 5/' config.json",
       "does not divide"},
      {"vocab-size", "sed -i 's/\"vocab_size\": *[0-9]*/\"vocab_size\": 2084/' config.json", "2084"},
      {"config-array", "echo '[1,2,3]' > config.json", "config.json"},
      {"config-empty", ": > config.json", "config.json"},
      {"tensor-missing", EDIT_ST("h['encoder.layer.0.attention.self.kez.weight']=h.pop('encoder.layer.0.attention.self.key.weight')"),
       "encoder.layer.0.attention.self.kez.weight"},
      {"tensor-shape", EDIT_ST("h['embeddings.LayerNorm.weight']['shape']=[2,24]"), "embeddings.LayerNorm.weight"},
      {"tensor-dtype-int", EDIT_ST("h['embeddings.LayerNorm.weight']['dtype']='I16'"), "embeddings.LayerNorm.weight"},
      {"tensor-dtype-unknown", EDIT_ST("h['embeddings.LayerNorm.weight']['dtype']='F8'"), "unknown dtype 'F8'"},
      {"tensor-offsets", EDIT_ST("h['embeddings.LayerNorm.weight']['data_offsets'][1]+=2"), "embeddings.LayerNorm.weight"},
      {"tensor-huge", EDIT_ST("h['embeddings.LayerNorm.weight']['shape']=[2**40,2**40]"), "embeddings.LayerNorm.weight"},
      {"st-header-garbage", "printf '\\020\\0\\0\\0\\0\\0\\0\\0{\"a\":1}xxxxxxxx' > model.safetensors", "model.safetensors"},
      {"st-empty", ": > model.safetensors", "model.safetensors"},
      {"st-dir", "rm model.safetensors && mkdir model.safetensors", "model.safetensors"},
      {"st-dev-zero", "rm model.safetensors && ln -s /dev/zero model.safetensors", "model.safetensors"},
      {"vocab-dev-zero", "rm vocab.txt && ln -s /dev/zero vocab.txt", "vocab.txt"},
      {"vocab-duplicate", "sed -i '101s/.*/the/' vocab.txt", "appears twice"},
      {"vocab-extra-line", "echo zzzextra >> vocab.txt", "vocab"},
      {"vocab-empty-line", "sed -i '101s/.*//' vocab.txt", "vocab token 100 is empty"},
      {"modules-escape", "sed -i 's/\"1_Pooling\"/\"..\\/..\\/etc\"/' modules.json", "modules.json"},
      {"modules-not-json", "echo '{' > modules.json", "modules.json"},
      {"pooling-unknown", "echo '{\"word_embedding_dimension\": 48, \"pooling_mode_weightedmean_tokens\": true}'"
                          " > 1_Pooling/config.json", "1_Pooling"},
      {"pooling-width", "sed -i 's/\"word_embedding_dimension\": *[0-9]*/\"word_embedding_dimension\": 47/'"
                        " 1_Pooling/config.json", "1_Pooling"},
      {"tokenizer-config-not-json", "echo '{' > tokenizer_config.json", "tokenizer_config.json"},
      {"special-map-not-json", "echo 'nope' > special_tokens_map.json", "special_tokens_map.json"},
  };
  for (size_t i = 0; i < sizeof dirs / sizeof *dirs; i++) {
    char *dir = scratch_copy(dirs[i].tag);
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "cd '%s' && %s", dir, dirs[i].edit);
    CHECK(system(cmd) == 0, "%s: edit failed", dirs[i].tag);
    char *got = Q(db, "SELECT siam_import('bad', ?1)", dir);
    CHECK(got && strncmp(got, "ERROR: siam_import: ", 20) == 0 && strstr(got, dirs[i].want),
          "[%s] got %s, want an error naming %s", dirs[i].tag, got ? got : "NULL", dirs[i].want);
    CHECK_Q(db, before, rows);
    free(got);
    free(dir);
  }
  free(before);
  sqlite3_close(db);
}

int main(void) {
  (void)read_file;
  if (!mkdtemp(tmp_root)) return 2;
  test_matrix();
  test_every_flip();
  test_import_dirs();
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp_root);
  if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", tmp_root);
  return TEST_DONE();
}

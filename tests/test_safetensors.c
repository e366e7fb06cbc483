/*
** test_safetensors.c — the safetensors reader and writer: a round trip, and
** every way a header can be malformed, each refused with its own message.
*/
#include "safetensors.h"
#include "testutil.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A file image: 8-byte length, header text, then dlen data bytes (0x11...). */
static uint8_t *image(const char *header, size_t dlen, size_t *len) {
  size_t h = strlen(header);
  *len = 8 + h + dlen;
  uint8_t *p = siam_malloc(*len);
  for (int i = 0; i < 8; i++) p[i] = (uint8_t)((uint64_t)h >> (8 * i));
  memcpy(p + 8, header, h);
  for (size_t i = 0; i < dlen; i++) p[8 + h + i] = (uint8_t)(0x11 + i);
  return p;
}

/* Parses header+data; returns the parse result, leaves the message in err. */
static int parse(const char *header, size_t dlen, SiamSafetensors *st, char *err) {
  size_t len;
  uint8_t *p = image(header, dlen, &len);
  err[0] = 0;
  return siam_st_parse(st, p, len, err);
}

/* Expects the header to be refused with a message containing `want`. */
static void refused(const char *header, size_t dlen, const char *want, int line) {
  SiamSafetensors st;
  char err[SIAM_ERRMAX];
  int rc = parse(header, dlen, &st, err);
  CHECK(rc != 0 && strstr(err, want), "line %d: want error containing '%s', got rc=%d '%s'", line, want, rc, err);
  if (rc == 0) siam_st_free(&st);
}
#define REFUSED(h, n, want) refused(h, n, want, __LINE__)

static void test_valid(void) {
  SiamSafetensors st;
  char err[SIAM_ERRMAX];
  /* Out-of-order keys, a zero-size tensor between two others, metadata. */
  const char *h = "{\"b\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[8,12]},"
                  "\"__metadata__\":{\"format\":\"pt\"},"
                  "\"z\":{\"dtype\":\"I64\",\"shape\":[0,3],\"data_offsets\":[8,8]},"
                  "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}   ";
  int rc = parse(h, 12, &st, err);
  CHECK(rc == 0, "valid header refused: %s", err);
  if (rc) return;
  CHECK(st.n_entries == 3, "n_entries %d", st.n_entries);
  CHECK(strcmp(st.entries[0].name, "b") == 0 && strcmp(st.entries[2].name, "a") == 0, "file order kept");
  CHECK(strcmp(st.entries[0].dtype, "F16") == 0 && st.entries[0].nbytes == 4, "b dtype/bytes");
  CHECK(st.entries[1].ndim == 2 && st.entries[1].shape[0] == 0 && st.entries[1].nbytes == 0, "z shape");
  CHECK(st.entries[2].data[0] == 0x11 && st.entries[0].data[0] == 0x19, "data pointers");
  siam_st_free(&st);

  rc = parse("{\"__metadata__\":{}}", 0, &st, err);
  CHECK(rc == 0 && st.n_entries == 0, "empty file: %s", err);
  if (rc == 0) siam_st_free(&st);
  /* Every dtype the format defines has a known size. */
  static const char *const ok[] = {"F64", "I64", "F32", "I32", "F16", "BF16", "I16", "I8", "U8", "BOOL"};
  static const int sizes[] = {8, 8, 4, 4, 2, 2, 2, 1, 1, 1};
  for (int i = 0; i < 10; i++) {
    char hdr[160];
    snprintf(hdr, sizeof hdr, "{\"t\":{\"dtype\":\"%s\",\"shape\":[3],\"data_offsets\":[0,%d]}}", ok[i], 3 * sizes[i]);
    rc = parse(hdr, (size_t)(3 * sizes[i]), &st, err);
    CHECK(rc == 0, "dtype %s: %s", ok[i], err);
    if (rc == 0) siam_st_free(&st);
  }
}

static void test_malformed(void) {
  SiamSafetensors st;
  char err[SIAM_ERRMAX];
  uint8_t *p = siam_malloc(5);
  memset(p, 0, 5);
  CHECK(siam_st_parse(&st, p, 5, err) && strstr(err, "too short"), "short file: %s", err);

  size_t len;
  p = image("{}", 90, &len);
  p[0] = 0x39, p[1] = 0x30;  /* 12345 */
  CHECK(siam_st_parse(&st, p, len, err) && strcmp(err, "header length 12345 exceeds file size 100") == 0,
        "long header: %s", err);
  p = image("{}", 0, &len);
  memset(p, 0xff, 8);  /* 2^64-1 must not wrap */
  CHECK(siam_st_parse(&st, p, len, err) && strstr(err, "exceeds file size"), "huge header length: %s", err);

  REFUSED("{\"a\":", 0, "not valid JSON");
  REFUSED("[1,2]", 0, "not a JSON object");
  REFUSED("{}x", 0, "bytes after its JSON");
  REFUSED("{\"a\":[]}", 0, "not a JSON object");
  REFUSED("{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "missing dtype");
  REFUSED("{\"a\":{\"dtype\":\"F8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1, "unknown dtype 'F8'");
  REFUSED("{\"a\":{\"dtype\":\"f32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "unknown dtype");
  REFUSED("{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4, "missing shape");
  REFUSED("{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4, "non-negative integers");
  REFUSED("{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", 4, "non-negative integers");
  REFUSED("{\"a\":{\"dtype\":\"F32\",\"shape\":[\"1\"],\"data_offsets\":[0,4]}}", 4, "non-negative integers");
  REFUSED("{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4, "9 dimensions");
  REFUSED("{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4294967296],\"data_offsets\":[0,4]}}", 4,
          "shape too large");
  REFUSED("{\"a\":{\"dtype\":\"F32\",\"shape\":[4503599627370496],\"data_offsets\":[0,4]}}", 4, "need");
  REFUSED("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4,
          "tensor a: shape and dtype F32 need 2 elements of 4 bytes, data_offsets give 4 bytes");
  REFUSED("{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, "data_offsets must be");
  REFUSED("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", 4, "data_offsets must be");
  REFUSED("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}}", 4, "data_offsets must be");
  REFUSED("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,8]}}", 4, "outside the 4-byte data section");
  REFUSED("{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,0]}}", 4, "outside");
  /* Layout: gap, overlap, a first tensor not at 0, trailing bytes. */
  REFUSED("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
          "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}", 12, "tensor b: 4 unused bytes before it");
  REFUSED("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
          "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12, "tensor b overlaps a");
  REFUSED("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "tensor a: 4 unused bytes");
  REFUSED("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 6, "2 trailing bytes");
  REFUSED("{}", 3, "3 trailing bytes");
  REFUSED("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
          "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "tensor a appears twice");
  /* Two tensors on the same bytes are an overlap even when both fit. */
  REFUSED("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
          "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "overlaps");
}

static int equal_tensor(const SiamStEntry *e, const SiamTensor *t, const char *dtype) {
  if (strcmp(e->name, t->name) || strcmp(e->dtype, dtype) || e->ndim != t->ndim || e->nbytes != t->nbytes) return 0;
  for (int i = 0; i < t->ndim; i++)
    if (e->shape[i] != t->shape[i]) return 0;
  return t->nbytes == 0 || memcmp(e->data, t->data, t->nbytes) == 0;
}

static void test_round_trip(void) {
  char dir[] = "/tmp/siam_st_XXXXXX", path[64], err[SIAM_ERRMAX];
  CHECK(mkdtemp(dir) != NULL, "mkdtemp");
  snprintf(path, sizeof path, "%s/t.safetensors", dir);
  uint8_t d0[24], d1[6], d2[8];
  for (int i = 0; i < 24; i++) d0[i] = (uint8_t)i;
  for (int i = 0; i < 6; i++) d1[i] = (uint8_t)(100 + i);
  for (int i = 0; i < 8; i++) d2[i] = (uint8_t)(200 + i);
  SiamTensor t[4] = {
      {.name = "w.weight", .dtype = SIAM_F32, .ndim = 2, .shape = {2, 3}, .data = d0, .nbytes = 24},
      {.name = "b\"quoted\\", .dtype = SIAM_F16, .ndim = 1, .shape = {3}, .data = d1, .nbytes = 6},
      {.name = "c", .dtype = SIAM_BF16, .ndim = 2, .shape = {2, 2}, .data = d2, .nbytes = 8},
      {.name = "empty", .dtype = SIAM_F32, .ndim = 1, .shape = {0}, .data = NULL, .nbytes = 0},
  };
  CHECK(siam_st_write_file(path, t, 4, err) == 0, "write: %s", err);
  uint8_t *raw;
  size_t len;
  CHECK(siam_read_file(path, 1 << 20, &raw, &len, err) == 0, "read raw: %s", err);
  uint64_t h = 0;
  for (int i = 7; i >= 0; i--) h = h << 8 | raw[i];
  CHECK((8 + h) % 8 == 0, "data section 8-aligned (header %llu)", (unsigned long long)h);
  CHECK(memcmp(raw + 8, "{\"__metadata__\":{\"format\":\"pt\"},\"w.weight\":{\"dtype\":\"F32\",\"shape\":[2,3],"
                        "\"data_offsets\":[0,24]}", 84) == 0, "header text: %.120s", (const char *)raw + 8);
  CHECK(raw[8 + h - 1] == ' ' || raw[8 + h - 1] == '}', "padding is spaces");
  CHECK(len == 8 + h + 38, "file length %zu", len);
  siam_free(raw);

  SiamSafetensors st;
  int rc = siam_st_read_file(&st, path, err);
  CHECK(rc == 0, "read back: %s", err);
  if (rc == 0) {
    CHECK(st.n_entries == 4, "4 entries");
    CHECK(equal_tensor(&st.entries[0], &t[0], "F32"), "tensor 0");
    CHECK(equal_tensor(&st.entries[1], &t[1], "F16"), "tensor 1 (escaped name)");
    CHECK(equal_tensor(&st.entries[2], &t[2], "BF16"), "tensor 2");
    CHECK(equal_tensor(&st.entries[3], &t[3], "F32"), "tensor 3 (empty)");
    siam_st_free(&st);
  }
  /* An empty tensor list is still a valid file.  (siam_st_write_file
  ** creates a new file: it never writes over one, nor through a link.) */
  CHECK(siam_st_write_file(path, t, 0, err) && strstr(err, "cannot create (File exists)"), "wrote over a file");
  unlink(path);
  CHECK(siam_st_write_file(path, t, 0, err) == 0 && siam_st_read_file(&st, path, err) == 0 && st.n_entries == 0,
        "empty file: %s", err);
  siam_st_free(&st);
  unlink(path);
  CHECK(siam_st_read_file(&st, path, err) && strstr(err, "cannot open"), "missing file: %s", err);
  CHECK(siam_st_write_file("/nonexistent-dir/x.safetensors", t, 1, err) && strstr(err, "cannot create"),
        "unwritable: %s", err);
  CHECK(siam_read_file(dir, 100, &raw, &len, err) && strstr(err, "not a regular file"), "directory: %s", err);
  rmdir(dir);
}

int main(void) {
  test_valid();
  test_malformed();
  test_round_trip();
  return TEST_DONE();
}

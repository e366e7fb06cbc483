/*
** safetensors.c — read and write the safetensors format.
**
**   [u64 LE header length N][N bytes JSON header][data section]
**   header: {"__metadata__":{...}, "name":{"dtype":"F32","shape":[2,3],
**            "data_offsets":[begin,end]}, ...}   offsets relative to data
**
** How it works: the whole file is read into memory and the entries point into
** that image.  The parser trusts nothing: the header length is bounded by the
** file, every entry's byte count must equal its shape times its element size,
** and the entries, sorted by offset, must tile the data section exactly, so no
** byte of the file is unaccounted for and no two tensors share bytes.
*/
#include "safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Real headers are a few hundred KB; far more than this is a hostile file. */
#define MAX_HEADER ((uint64_t)100 << 20)
/* Offsets and shapes are JSON numbers (doubles): integers are exact to 2^53. */
#define MAX_JSON_INT 9007199254740992.0

static const struct { const char *name; size_t size; } st_dtypes[] = {
    {"F64", 8}, {"F32", 4}, {"F16", 2}, {"BF16", 2}, {"I64", 8},
    {"I32", 4}, {"I16", 2}, {"I8", 1},  {"U8", 1},   {"BOOL", 1},
};

static size_t st_dtype_size(const char *name) {
  for (size_t i = 0; i < sizeof st_dtypes / sizeof *st_dtypes; i++)
    if (strcmp(name, st_dtypes[i].name) == 0) return st_dtypes[i].size;
  return 0;
}

/* ---- reading files -------------------------------------------------------- */

static int read_all(int fd, uint8_t *buf, size_t len, char *err) {
  size_t got = 0;
  while (got < len) {
    size_t want = len - got > ((size_t)1 << 30) ? (size_t)1 << 30 : len - got;
    ssize_t r = read(fd, buf + got, want);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return siam_errf(err, "read failed (%s)", strerror(errno));
    if (r == 0) return siam_errf(err, "file shrank while being read");
    got += (size_t)r;
  }
  return 0;
}

/* O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer,
** forever; the file type is checked before anything is read. */
int siam_read_file(const char *path, size_t max, uint8_t **out, size_t *len, char err[SIAM_ERRMAX]) {
  *out = NULL;
  *len = 0;
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return siam_errf(err, "cannot open (%s)", strerror(errno));
  struct stat sb;
  int rc = -1;
  uint8_t *buf = NULL;
  if (fstat(fd, &sb) != 0) {
    siam_errf(err, "cannot stat (%s)", strerror(errno));
  } else if (!S_ISREG(sb.st_mode)) {
    siam_errf(err, "not a regular file");
  } else if ((uint64_t)sb.st_size > max) {
    siam_errf(err, "file is %lld bytes, more than the limit of %zu", (long long)sb.st_size, max);
  } else if (!(buf = siam_malloc((size_t)sb.st_size))) {
    siam_errf(err, "out of memory reading %lld bytes", (long long)sb.st_size);
  } else if (read_all(fd, buf, (size_t)sb.st_size, err) == 0) {
    *out = buf;
    *len = (size_t)sb.st_size;
    buf = NULL;
    rc = 0;
  }
  siam_free(buf);
  close(fd);
  return rc;
}

/* ---- parsing one entry ---------------------------------------------------- */

/* A JSON number that is a non-negative integer exactly representable. */
static int json_uint(const cJSON *v, uint64_t *out) {
  if (!cJSON_IsNumber(v)) return -1;
  double d = v->valuedouble;
  if (!(d >= 0 && d <= MAX_JSON_INT) || d != (double)(uint64_t)d) return -1;
  *out = (uint64_t)d;
  return 0;
}

static int parse_dtype(SiamStEntry *e, const cJSON *o, size_t *elem, char *err) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "dtype");
  if (!cJSON_IsString(v)) return siam_errf(err, "tensor %s: missing dtype", e->name);
  *elem = st_dtype_size(v->valuestring);
  if (*elem == 0)
    return siam_errf(err, "tensor %s: unknown dtype '%.16s' (expected F64, F32, F16, BF16, I64, I32, I16, I8, U8 "
                          "or BOOL)", e->name, v->valuestring);
  memcpy(e->dtype, v->valuestring, strlen(v->valuestring) + 1);
  return 0;
}

/* Shape into e->shape; *numel gets the element count, overflow-checked. */
static int parse_shape(SiamStEntry *e, const cJSON *o, size_t *numel, char *err) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "shape");
  if (!cJSON_IsArray(v)) return siam_errf(err, "tensor %s: missing shape", e->name);
  int nd = cJSON_GetArraySize(v);
  if (nd > (int)(sizeof e->shape / sizeof *e->shape))
    return siam_errf(err, "tensor %s: shape has %d dimensions, at most 8 supported", e->name, nd);
  size_t n = 1;
  const cJSON *d;
  e->ndim = 0;
  cJSON_ArrayForEach(d, v) {
    uint64_t dim;
    if (json_uint(d, &dim)) return siam_errf(err, "tensor %s: shape must hold non-negative integers", e->name);
    if (dim > SIZE_MAX || siam_mul_size(n, (size_t)dim, &n))
      return siam_errf(err, "tensor %s: shape too large", e->name);
    e->shape[e->ndim++] = (int64_t)dim;
  }
  *numel = n;
  return 0;
}

static int parse_offsets(SiamStEntry *e, const cJSON *o, size_t data_len, uint64_t off[2], char *err) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "data_offsets");
  if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) != 2 || json_uint(cJSON_GetArrayItem(v, 0), &off[0]) ||
      json_uint(cJSON_GetArrayItem(v, 1), &off[1]))
    return siam_errf(err, "tensor %s: data_offsets must be [begin, end], two non-negative integers", e->name);
  if (off[0] > off[1] || off[1] > data_len)
    return siam_errf(err, "tensor %s: data_offsets [%llu,%llu] outside the %zu-byte data section", e->name,
                     (unsigned long long)off[0], (unsigned long long)off[1], data_len);
  return 0;
}

static int parse_entry(SiamStEntry *e, const cJSON *o, const uint8_t *data, size_t data_len, char *err) {
  size_t elem = 0, numel = 0, nbytes = 0;
  uint64_t off[2] = {0, 0};
  if (!cJSON_IsObject(o)) return siam_errf(err, "tensor %s: entry is not a JSON object", e->name);
  if (parse_dtype(e, o, &elem, err) || parse_shape(e, o, &numel, err) ||
      parse_offsets(e, o, data_len, off, err))
    return -1;
  if (siam_mul_size(numel, elem, &nbytes) || nbytes != off[1] - off[0])
    return siam_errf(err, "tensor %s: shape and dtype %s need %zu elements of %zu bytes, data_offsets give %llu bytes",
                     e->name, e->dtype, numel, elem, (unsigned long long)(off[1] - off[0]));
  e->data = data + off[0];
  e->nbytes = nbytes;
  return 0;
}

/* ---- whole-header checks -------------------------------------------------- */

static int by_name(const void *a, const void *b) {
  return strcmp((*(const SiamStEntry *const *)a)->name, (*(const SiamStEntry *const *)b)->name);
}

static int by_offset(const void *a, const void *b) {
  const SiamStEntry *x = *(const SiamStEntry *const *)a, *y = *(const SiamStEntry *const *)b;
  if (x->data != y->data) return x->data < y->data ? -1 : 1;
  return x->nbytes < y->nbytes ? -1 : x->nbytes > y->nbytes;
}

/* Sorting pointers keeps the check O(n log n) even for a header with a million
** entries, and leaves st->entries in file order. */
static int check_layout(SiamSafetensors *st, const uint8_t *data, size_t data_len, char *err) {
  int n = st->n_entries, rc = 0;
  SiamStEntry **p = siam_calloc((size_t)n, sizeof *p);
  if (!p) return siam_errf(err, "out of memory");
  for (int i = 0; i < n; i++) p[i] = &st->entries[i];
  qsort(p, (size_t)n, sizeof *p, by_name);
  for (int i = 1; i < n && rc == 0; i++)
    if (strcmp(p[i - 1]->name, p[i]->name) == 0) rc = siam_errf(err, "tensor %s appears twice", p[i]->name);
  if (rc == 0) qsort(p, (size_t)n, sizeof *p, by_offset);
  size_t at = 0;  /* end of the data covered so far */
  for (int i = 0; i < n && rc == 0; i++) {
    size_t b = (size_t)(p[i]->data - data);
    if (b > at)
      rc = siam_errf(err, "tensor %s: %zu unused bytes before it in the data section", p[i]->name, b - at);
    else if (b < at)
      rc = siam_errf(err, "tensor %s overlaps %s in the data section", p[i]->name, p[i - 1]->name);
    at = b + p[i]->nbytes;
  }
  if (rc == 0 && at != data_len)
    rc = siam_errf(err, "%zu trailing bytes after the last tensor in the data section", data_len - at);
  siam_free(p);
  return rc;
}

static int count_tensors(const cJSON *root) {
  int n = 0;
  const cJSON *c;
  cJSON_ArrayForEach(c, root) n += strcmp(c->string, "__metadata__") != 0;
  return n;
}

static int parse_entries(SiamSafetensors *st, const cJSON *root, const uint8_t *data, size_t data_len,
                         char *err) {
  int n = count_tensors(root);
  st->entries = siam_calloc((size_t)n, sizeof *st->entries);
  if (!st->entries) return siam_errf(err, "out of memory");
  const cJSON *c;
  cJSON_ArrayForEach(c, root) {
    if (strcmp(c->string, "__metadata__") == 0) continue;
    SiamStEntry *e = &st->entries[st->n_entries++];
    e->name = siam_strndup(c->string, strlen(c->string));
    if (!e->name) return siam_errf(err, "out of memory");
    if (parse_entry(e, c, data, data_len, err)) return -1;
  }
  return check_layout(st, data, data_len, err);
}

/* The header may be followed by spaces (padding); anything else is corrupt. */
static int parse_header(SiamSafetensors *st, const char *hdr, size_t n, const uint8_t *data, size_t data_len,
                        char *err) {
  const char *end = NULL;
  cJSON *root = cJSON_ParseWithLengthOpts(hdr, n, &end, 0);
  int rc = -1;
  if (!root) {
    siam_errf(err, "header is not valid JSON (at byte %zu)", end ? (size_t)(end - hdr) : (size_t)0);
    goto done;
  }
  for (const char *p = end; p < hdr + n; p++) {
    if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
      siam_errf(err, "header has bytes after its JSON object");
      goto done;
    }
  }
  if (!cJSON_IsObject(root)) {
    siam_errf(err, "header is not a JSON object");
    goto done;
  }
  rc = parse_entries(st, root, data, data_len, err);
done:
  cJSON_Delete(root);
  return rc;
}

int siam_st_parse(SiamSafetensors *st, uint8_t *image, size_t len, char err[SIAM_ERRMAX]) {
  memset(st, 0, sizeof *st);
  st->image = image;
  st->image_len = len;
  if (len < 8) {
    siam_st_free(st);
    return siam_errf(err, "file is %zu bytes, too short for a safetensors header", len);
  }
  uint64_t hlen = 0;
  for (int i = 7; i >= 0; i--) hlen = hlen << 8 | image[i];
  int rc;
  if (hlen > len - 8)
    rc = siam_errf(err, "header length %llu exceeds file size %zu", (unsigned long long)hlen, len);
  else if (hlen > MAX_HEADER)
    rc = siam_errf(err, "header length %llu exceeds the limit of %llu", (unsigned long long)hlen,
                   (unsigned long long)MAX_HEADER);
  else
    rc = parse_header(st, (const char *)image + 8, (size_t)hlen, image + 8 + hlen, len - 8 - (size_t)hlen, err);
  if (rc) siam_st_free(st);
  return rc;
}

int siam_st_read_file(SiamSafetensors *st, const char *path, char err[SIAM_ERRMAX]) {
  uint8_t *image;
  size_t len;
  memset(st, 0, sizeof *st);
  if (siam_read_file(path, SIZE_MAX, &image, &len, err)) return -1;
  return siam_st_parse(st, image, len, err);
}

void siam_st_free(SiamSafetensors *st) {
  for (int i = 0; i < st->n_entries; i++) siam_free(st->entries[i].name);
  siam_free(st->entries);
  siam_free(st->image);
  memset(st, 0, sizeof *st);
}

/* ---- writing -------------------------------------------------------------- */

static int add_numbers(cJSON *arr, const double *v, int n) {
  for (int i = 0; i < n; i++) {
    cJSON *d = cJSON_CreateNumber(v[i]);
    if (!d) return -1;
    if (!cJSON_AddItemToArray(arr, d)) {
      cJSON_Delete(d);
      return -1;
    }
  }
  return 0;
}

/* Keys in the reference writer's order: dtype, shape, data_offsets. */
static int add_entry(cJSON *root, const SiamTensor *t, size_t begin) {
  double shape[4], off[2] = {(double)begin, (double)(begin + t->nbytes)};
  if (t->ndim < 0 || t->ndim > 4) return -1;
  for (int i = 0; i < t->ndim; i++) shape[i] = (double)t->shape[i];
  cJSON *o = cJSON_AddObjectToObject(root, t->name);
  if (!o || !cJSON_AddStringToObject(o, "dtype", siam_dtype_safetensors(t->dtype))) return -1;
  cJSON *s = cJSON_AddArrayToObject(o, "shape");
  if (!s || add_numbers(s, shape, t->ndim)) return -1;
  cJSON *d = cJSON_AddArrayToObject(o, "data_offsets");
  return !d || add_numbers(d, off, 2) ? -1 : 0;
}

/* The header text (cJSON's allocator), or NULL on OOM. */
static char *build_header(const SiamTensor *t, int n) {
  cJSON *root = cJSON_CreateObject();
  cJSON *meta = root ? cJSON_AddObjectToObject(root, "__metadata__") : NULL;
  char *text = NULL;
  if (!meta || !cJSON_AddStringToObject(meta, "format", "pt")) goto done;
  size_t at = 0;
  for (int i = 0; i < n; i++) {
    if (add_entry(root, &t[i], at)) goto done;
    at += t[i].nbytes;
  }
  text = cJSON_PrintUnformatted(root);
done:
  cJSON_Delete(root);
  return text;
}

static int write_bytes(FILE *f, const void *p, size_t n) { return n == 0 || fwrite(p, 1, n, f) == n ? 0 : -1; }

static int write_image(FILE *f, const char *hdr, const SiamTensor *t, int n) {
  size_t len = strlen(hdr), padded = (len + 7) & ~(size_t)7;  /* 8 + padded is a multiple of 8 */
  uint8_t lenbuf[8];
  for (int i = 0; i < 8; i++) lenbuf[i] = (uint8_t)((uint64_t)padded >> (8 * i));
  static const char spaces[8] = "        ";
  if (write_bytes(f, lenbuf, 8) || write_bytes(f, hdr, len) || write_bytes(f, spaces, padded - len)) return -1;
  for (int i = 0; i < n; i++)
    if (write_bytes(f, t[i].data, t[i].nbytes)) return -1;
  return 0;
}

FILE *siam_create_file(const char *path) {
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
  if (fd < 0) return NULL;
  FILE *f = fdopen(fd, "wb");
  if (!f) close(fd);
  return f;
}

int siam_st_write_file(const char *path, const SiamTensor *t, int n, char err[SIAM_ERRMAX]) {
  char *hdr = build_header(t, n);
  if (!hdr) return siam_errf(err, "out of memory");
  int rc = 0;
  FILE *f = siam_create_file(path);
  if (!f) {
    rc = siam_errf(err, "cannot create (%s)", strerror(errno));
  } else {
    if (write_image(f, hdr, t, n)) rc = siam_errf(err, "write failed (%s)", strerror(errno));
    if (fclose(f) != 0 && rc == 0) rc = siam_errf(err, "write failed (%s)", strerror(errno));
  }
  cJSON_free(hdr);
  return rc;
}

# siamsql — a SQLite extension that stores and runs Siamese BERT models.
#
#   make deps       install the Debian packages it needs (apt-get)
#   make            build siamsql.so
#   make test       build and run the whole test suite
#   make sanitize   run the suite under ASan + UBSan
#   make demo       import the shipped model and find near-duplicate passages
#   make bench      siamsql against PyTorch and OpenBLAS's sgemm (bench/bench.py)
#   make cluster    the dqlite node and client (see the end of this file; make test-cluster)

CC      ?= cc
PKGS    := sqlite3 libcjson libzstd libutf8proc
# pkg-config runs the first time a recipe needs these, not when the Makefile
# is read: `make deps` and `make demo` run on a machine that has no pkg-config
# yet.  (The $(eval) keeps each answer, so pkg-config runs once per variable.)
PKG_CFLAGS = $(eval PKG_CFLAGS := $$(call pkg_config,--cflags $(PKGS)))$(PKG_CFLAGS)
PKG_LIBS   = $(eval PKG_LIBS := $$(call pkg_config,--libs libcjson libzstd libutf8proc))$(PKG_LIBS)
pkg_config = $(if $(shell command -v pkg-config),$(shell pkg-config $(1)),$(error pkg-config is not installed: run `make deps` first))
CFLAGS  ?= -O2 -g
# Always on, even when CFLAGS is given on the command line (make sanitize).
override CFLAGS += -std=c11 -D_GNU_SOURCE -fPIC -Wall -Wextra -Wformat=2 -Wshadow \
           -fvisibility=hidden $(PKG_CFLAGS)
LDLIBS  += $(PKG_LIBS) -ldl -lm -lpthread

MODEL_SRC := $(wildcard model/*.c)
EXT_SRC   := $(wildcard ext/*.c)
MODEL_OBJ := $(MODEL_SRC:.c=.o)
EXT_OBJ   := $(EXT_SRC:.c=.o)
# The generated schema header is left out: objects that do not include it
# must not be rebuilt once it appears (only ext/store.o depends on it, below).
HEADERS   := $(filter-out ext/schema_sql.h,$(wildcard model/*.h ext/*.h))

# C unit tests: tests/test_*.c link model/ only; tests/sql_*.c link SQLite too.
UNIT_TESTS := $(patsubst %.c,%,$(wildcard tests/test_*.c))
SQL_TESTS  := $(patsubst %.c,%,$(wildcard tests/sql_*.c))

all: siamsql.so

siamsql.so: $(MODEL_OBJ) $(EXT_OBJ)
	$(CC) $(CFLAGS) -shared -o $@ $^ $(LDFLAGS) $(LDLIBS)

%.o: %.c $(HEADERS)
	$(CC) $(CFLAGS) -c -o $@ $<

tests/test_%: tests/test_%.c $(MODEL_OBJ) tests/testutil.h
	$(CC) $(CFLAGS) -Imodel -o $@ $< $(MODEL_OBJ) $(LDFLAGS) $(LDLIBS)

tests/sql_%: tests/sql_%.c tests/testutil.h siamsql.so
	$(CC) $(CFLAGS) -o $@ $< $(LDFLAGS) -lsqlite3 $(LDLIBS)

test: siamsql.so $(UNIT_TESTS) $(SQL_TESTS)
	@bash tests/run.sh $(UNIT_TESTS) $(SQL_TESTS)

sanitize:
	$(MAKE) clean
	$(MAKE) test CFLAGS="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined"

demo: deps
	$(MAKE) siamsql.so
	bash demo/run.sh

# `make install` puts siamsql.so where SQLite's dlopen() finds a bare name,
# so `.load siamsql` and conn.load_extension("siamsql") work from anywhere:
# the system library directory (dlopen does not search /usr/local/lib for a
# file that is not in ld.so.cache, and ldconfig caches only lib*.so files).
PREFIX   ?= /usr/local
MULTIARCH := $(shell $(CC) -print-multiarch 2>/dev/null)
EXTDIR   ?= $(if $(MULTIARCH),/usr/lib/$(MULTIARCH),/usr/lib)
DATADIR  ?= $(PREFIX)/share/siamsql

install: siamsql.so
	install -d $(DESTDIR)$(EXTDIR) $(DESTDIR)$(DATADIR)
	install -m 644 siamsql.so $(DESTDIR)$(EXTDIR)/siamsql.so
	install -m 644 sql/schema.sql sql/clone_and_replace_head.sql README.md $(DESTDIR)$(DATADIR)/
	install -d $(DESTDIR)$(DATADIR)/models/default/1_Pooling $(DESTDIR)$(DATADIR)/models/default/2_Dense \
	           $(DESTDIR)$(DATADIR)/models/default/3_Normalize
	for f in $$(cd models/default && find . -type f); do \
	  install -m 644 models/default/$$f $(DESTDIR)$(DATADIR)/models/default/$$f; done

uninstall:
	rm -f $(DESTDIR)$(EXTDIR)/siamsql.so
	rm -rf $(DESTDIR)$(DATADIR)

deps:
	bash scripts/install-deps

bench: siamsql.so
	bash bench/run.sh

clean:
	rm -f siamsql.so model/*.o ext/*.o $(UNIT_TESTS) $(SQL_TESTS)

.PHONY: all demo deps install uninstall test sanitize clean bench

# The schema is compiled in from sql/schema.sql.
ext/schema_sql.h: sql/schema.sql
	awk 'BEGIN{print "#define SIAM_SCHEMA_SQL \\"} {gsub(/\\/,"\\\\"); gsub(/"/,"\\\""); print "  \"" $$0 "\\n\" \\"} END{print "  \"\""}' $< > $@

ext/store.o ext/dump.o: ext/schema_sql.h

# ---- hardening: fuzzing, valgrind, ThreadSanitizer -------------------------
#
#   make fuzz                 every fuzz target for FUZZ_SECONDS each (make -j2 runs two at once)
#   make fuzz-tokenizer       one target (also fuzz-safetensors, fuzz-config, fuzz-blob)
#   make fuzz-build           build the fuzzers only
#   FUZZ_FLAGS=-len_control=0 passes libFuzzer options (here: long inputs from the start)
#   make valgrind             the core tests under valgrind memcheck (apt-get install valgrind)
#   make tsan                 the concurrency test under ThreadSanitizer (clang)
#
# Fuzzers link model/ only (no SQLite), built by clang with libFuzzer, ASan and
# UBSan.  Seeds come from tests/corpus/<target>; what libFuzzer adds goes to
# fuzz/work/<target>, crashes to fuzz/artifacts/, logs to fuzz/logs/.

FUZZ_CC      ?= $(or $(shell command -v clang-14),clang)
FUZZ_SECONDS ?= 600
FUZZ_FLAGS   ?=
FUZZ_TARGETS := tokenizer safetensors config blob
FUZZ_CFLAGS   = -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined \
                -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wshadow $(PKG_CFLAGS)
FUZZ_OBJ     := $(patsubst model/%.c,fuzz/build/%.o,$(MODEL_SRC))
FUZZ_BINS    := $(addprefix fuzz/build/fuzz_,$(FUZZ_TARGETS))
# Per-target input size caps: long texts exercise the streaming tokenizer.
FUZZ_MAXLEN_tokenizer   := 65536
FUZZ_MAXLEN_safetensors := 16384
FUZZ_MAXLEN_config      := 8192
FUZZ_MAXLEN_blob        := 16384

fuzz/build/%.o: model/%.c $(HEADERS)
	@mkdir -p fuzz/build
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

fuzz/build/fuzz_%: fuzz/fuzz_%.c $(FUZZ_OBJ)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_OBJ) $(LDLIBS)

fuzz-build: $(FUZZ_BINS)

# Built through pattern rules, so make would delete them as intermediates.
.SECONDARY: $(FUZZ_OBJ) $(FUZZ_BINS)

fuzz-%: fuzz/build/fuzz_%
	@mkdir -p fuzz/work/$* fuzz/artifacts fuzz/logs
	@echo "fuzz-$*: $(FUZZ_SECONDS) s, log in fuzz/logs/$*.log"
	@./fuzz/build/fuzz_$* -max_total_time=$(FUZZ_SECONDS) -max_len=$(FUZZ_MAXLEN_$*) -timeout=10 \
	  -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix=fuzz/artifacts/$*- $(FUZZ_FLAGS) \
	  fuzz/work/$* tests/corpus/$* > fuzz/logs/$*.log 2>&1; rc=$$?; \
	  grep -E '^(#[0-9]+.*(INITED|DONE)|stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)|==[0-9]+==|SUMMARY)' \
	    fuzz/logs/$*.log | sed 's/^/fuzz-$*: /'; exit $$rc

fuzz: $(addprefix fuzz-,$(FUZZ_TARGETS))

# The core tests, about 5 minutes under valgrind, which hides AVX-512: the
# portable and reference kernels run.  (test_tokenizer is left out: its
# linear-time check has a wall-clock limit that valgrind's slowdown breaks.)
VALGRIND_TESTS := tests/test_config tests/test_bundle tests/test_safetensors tests/test_encoder \
                  tests/test_gemm_bf16 tests/test_gemm_int8 \
                  tests/sql_store tests/sql_reference tests/sql_corrupt tests/sql_alloc
VALGRIND := valgrind -q --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite \
            --show-leak-kinds=definite

valgrind: siamsql.so $(VALGRIND_TESTS)
	@fail=0; for t in $(VALGRIND_TESTS); do \
	  out=$$($(VALGRIND) ./$$t 2>&1); rc=$$?; \
	  printf '%s\n' "$$out" | grep -E 'passed|FAIL|==[0-9]+=='; \
	  [ $$rc -eq 0 ] || { echo "valgrind: $$t exited $$rc"; fail=1; }; \
	done; exit $$fail

# Built apart, in build/tsan, so the usual objects are neither used nor
# replaced.  Debian's libsqlite3 and OpenBLAS are not instrumented: races
# inside them go unseen, ours do not.
TSAN_CFLAGS  = -O1 -g -fsanitize=thread -fno-omit-frame-pointer -std=c11 -D_GNU_SOURCE -fPIC -Wall -Wextra \
               -fvisibility=hidden $(PKG_CFLAGS)

tsan: ext/schema_sql.h
	@mkdir -p build/tsan
	$(FUZZ_CC) $(TSAN_CFLAGS) -shared -o build/tsan/siamsql.so $(MODEL_SRC) $(EXT_SRC) $(LDLIBS)
	$(FUZZ_CC) $(TSAN_CFLAGS) -o build/tsan/sql_concurrency tests/sql_concurrency.c -lsqlite3 $(LDLIBS)
	SIAMSQL_EXT=build/tsan/siamsql TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=tests/tsan.supp" \
	  ./build/tsan/sql_concurrency

.PHONY: fuzz fuzz-build valgrind tsan

# ---- similarity at scale --------------------------------------------------
#   make bench-similarity   siam_embed_each, the embedding cache, siam_pairs and
#                           siam_nearest against the plain SQL they replace
#                           (BENCH_SIMILARITY_ARGS="--runs 1 --sizes 10000" for a quick one)
bench-similarity: siamsql.so
	/usr/bin/python3 bench/bench_similarity.py $(BENCH_SIMILARITY_ARGS)

.PHONY: bench-similarity

# ---- replicated on dqlite -------------------------------------------------
#   make cluster        build/cluster/siamsql-node and siamsql-client (Go on Debian's go-dqlite)
#   make test-cluster   three nodes on loopback: failover, catch-up, atomic bulk inserts (cluster/test.sh)
#   make bench-cluster  embed-and-store through the cluster against a local database; failover time
#
# Go builds from Debian's packages only: GOPATH mode over /usr/share/gocode,
# no module proxy, nothing fetched; build/gopath links cluster/ in as the
# package siamsql/cluster, so the programs share cluster/dqconn.
# go-dqlite's cgo flags include -Wl,-z,now, which Go refuses unless allowed.
GO_BUILD := env GOPATH=$(CURDIR)/build/gopath:/usr/share/gocode GO111MODULE=off GOPROXY=off GOFLAGS= \
            GOCACHE=$(CURDIR)/build/go-cache CGO_LDFLAGS_ALLOW='-Wl,-z,now' go build

cluster: deps siamsql.so
	mkdir -p build/gopath/src/siamsql
	ln -sfn $(CURDIR)/cluster build/gopath/src/siamsql/cluster
	$(GO_BUILD) -o build/cluster/siamsql-node siamsql/cluster/node
	$(GO_BUILD) -o build/cluster/siamsql-client siamsql/cluster/client
	$(GO_BUILD) -o build/cluster/siamsql-cachecheck siamsql/cluster/cachecheck

test-cluster: cluster
	timeout -k 10 170 bash cluster/test.sh

bench-cluster: cluster
	bash bench/cluster.sh $(BENCH_CLUSTER_ARGS)

.PHONY: cluster test-cluster bench-cluster

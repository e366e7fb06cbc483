# siamsql — a SQLite extension that stores and runs Siamese BERT models.
#
#   make deps       install the Debian packages it needs (apt-get)
#   make            build siamsql.so
#   make test       build and run the whole test suite
#   make sanitize   run the suite under ASan + UBSan
#   make demo       import the shipped model and find near-duplicate passages

CC      ?= cc
PKGS    := sqlite3 libcjson libzstd libutf8proc openblas
CFLAGS  ?= -O2 -g
# Always on, even when CFLAGS is given on the command line (make sanitize).
override CFLAGS += -std=c11 -D_GNU_SOURCE -fPIC -Wall -Wextra -Wformat=2 -Wshadow \
           -fvisibility=hidden $(shell pkg-config --cflags $(PKGS))
LDLIBS  += $(shell pkg-config --libs libcjson libzstd libutf8proc) -ldl -lm -lpthread

MODEL_SRC := $(wildcard model/*.c)
EXT_SRC   := $(wildcard ext/*.c)
MODEL_OBJ := $(MODEL_SRC:.c=.o)
EXT_OBJ   := $(EXT_SRC:.c=.o)
HEADERS   := $(wildcard model/*.h ext/*.h)

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

uninstall:
	rm -f $(DESTDIR)$(EXTDIR)/siamsql.so
	rm -rf $(DESTDIR)$(DATADIR)

deps:
	bash scripts/install-deps

clean:
	rm -f siamsql.so model/*.o ext/*.o $(UNIT_TESTS) $(SQL_TESTS)

.PHONY: all demo deps install uninstall test sanitize clean

# The schema is compiled in from sql/schema.sql.
ext/schema_sql.h: sql/schema.sql
	awk 'BEGIN{print "#define SIAM_SCHEMA_SQL \\"} {gsub(/\\/,"\\\\"); gsub(/"/,"\\\""); print "  \"" $$0 "\\n\" \\"} END{print "  \"\""}' $< > $@

ext/store.o: ext/schema_sql.h

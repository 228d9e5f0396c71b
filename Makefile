# pagelab — build, test and benchmark.
#
#   make            release build: libpagelab.a, pagelab.so, pagelab
#   make test       install missing packages, debug build, every test
#   make sanitize   every test under ASan + UBSan
#   make memcheck   every test under valgrind memcheck
#   make bench      benchmarks (release build)
#   make demo       install, build, run the default experiment, show results
#
# MODE selects the object directory and flags: release, debug (invariant
# walkers after every public core call) or sanitize (debug + ASan/UBSan).

MODE    ?= release
O       := build/$(MODE)
CC      ?= cc
LUA     ?= lua5.4

PKGS      := lua5.4 sqlite3 zlib
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs sqlite3 zlib 2>/dev/null)
LUA_LIBS   = $(shell pkg-config --libs lua5.4 2>/dev/null)

WARN    := -Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes \
           -Wmissing-prototypes -Werror
CFLAGS_release  := -O2 -DNDEBUG -fno-semantic-interposition
CFLAGS_debug    := -O1 -g -DMM_DEBUG
CFLAGS_sanitize := -O1 -g -DMM_DEBUG -fsanitize=address,undefined \
                   -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS_sanitize := -fsanitize=address,undefined

ALL_CFLAGS = -std=c11 -D_GNU_SOURCE -fPIC $(WARN) $(CFLAGS_$(MODE)) \
             -Icore $(PKG_CFLAGS) $(CFLAGS)
ALL_LDFLAGS = $(LDFLAGS_$(MODE)) $(LDFLAGS)

CORE_SRC := $(sort $(wildcard core/*.c core/policy/*.c))
CORE_OBJ := $(CORE_SRC:%.c=$(O)/%.o)
BIND_SRC := $(sort $(wildcard bindings/*.c))
BIND_LIB_SRC := $(filter-out bindings/main.c,$(BIND_SRC))
BIND_OBJ := $(BIND_LIB_SRC:%.c=$(O)/%.o)

LIB     := $(O)/libpagelab.a
MODULE  := $(O)/pagelab.so
EXE     := $(O)/pagelab

TEST_SRC := $(sort $(wildcard tests/core/test_*.c))
TEST_BIN := $(TEST_SRC:tests/core/%.c=$(O)/tests/%)

# Fixtures and extra targets contributed by mk/*.mk append here.
TEST_DATA :=

.PHONY: all lib test check build-tests sanitize memcheck bench demo clean deps deps-test
.DEFAULT_GOAL := all

all: $(LIB) $(MODULE) $(EXE)
ifeq ($(MODE),release)
	@ln -sf $(O)/libpagelab.a libpagelab.a
	@ln -sf $(O)/pagelab.so pagelab.so
	@ln -sf $(O)/pagelab pagelab
endif

lib: $(LIB)

# V=1 shows the commands.
Q := $(if $(V),,@)

$(O)/%.o: %.c
	@mkdir -p $(dir $@)
	$(if $(V),,@echo "  CC      $<")
	$(Q)$(CC) $(ALL_CFLAGS) -MMD -MP -c $< -o $@

$(LIB): $(CORE_OBJ)
	@rm -f $@
	$(Q)ar rcs $@ $^

$(MODULE): $(BIND_OBJ) $(LIB)
	$(if $(V),,@echo "  LD      $@")
	$(Q)$(CC) -shared $(ALL_LDFLAGS) -o $@ $(BIND_OBJ) $(LIB) $(PKG_LIBS) -lm

$(EXE): $(O)/bindings/main.o $(BIND_OBJ) $(LIB)
	$(if $(V),,@echo "  LD      $@")
	$(Q)$(CC) $(ALL_LDFLAGS) -rdynamic -o $@ $^ $(LUA_LIBS) $(PKG_LIBS) -lm -ldl

$(O)/tests/%: tests/core/%.c $(LIB) tests/core/testutil.h
	@mkdir -p $(dir $@)
	$(if $(V),,@echo "  CC      $<")
	$(Q)$(CC) $(ALL_CFLAGS) -Itests/core -o $@ $< $(LIB) $(ALL_LDFLAGS) \
	    $(shell pkg-config --libs cmocka) $(PKG_LIBS) -lm

deps:
	@scripts/deps.sh build
deps-test:
	@scripts/deps.sh test

-include mk/*.mk

# Everything a test run needs, in one mode.
check: build-tests
	@tests/run $(O)

build-tests: all $(TEST_BIN) $(TEST_DATA)

# The suite twice: the debug build (invariant walkers after every public
# core call) and the ASan + UBSan build; one closing line for both.
test: deps-test
	@$(MAKE) --no-print-directory MODE=debug build-tests
	@$(MAKE) --no-print-directory MODE=sanitize build-tests
	@tests/run build/debug build/sanitize

sanitize: deps-test
	@$(MAKE) --no-print-directory MODE=sanitize check

memcheck: deps-test
	@$(MAKE) --no-print-directory MODE=debug all $(addprefix build/debug/tests/,$(notdir $(TEST_BIN)))
	@PAGELAB_VALGRIND=1 tests/run build/debug

BENCH_SRC := $(sort $(wildcard bench/*.c))
BENCH_BIN := $(BENCH_SRC:bench/%.c=build/release/bench/%)

build/release/bench/%: bench/%.c build/release/libpagelab.a
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(ALL_CFLAGS) -o $@ $< build/release/libpagelab.a $(PKG_LIBS) -lm

# Benchmarks: numbers printed, never a pass/fail.
bench: deps
	@$(MAKE) --no-print-directory MODE=release all $(BENCH_BIN)
	@for b in $(BENCH_BIN); do echo; $$b; done
	@for l in bench/*.lua; do [ -f "$$l" ] || continue; echo; \
	  LUA_CPATH="build/release/?.so;;" $(LUA) $$l; done
	@for b in bench/*.sh; do [ -f "$$b" ] || continue; echo; bash $$b; done

clean:
	rm -rf build libpagelab.a pagelab.so pagelab

-include $(CORE_OBJ:.o=.d) $(BIND_OBJ:.o=.d) $(O)/bindings/main.d

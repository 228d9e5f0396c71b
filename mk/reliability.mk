# reliability.mk — issue 9: the failure-injection build and `make soak`.
# Included by the top Makefile (docs/reliability.md describes the tests).
#
#   make check, test, sanitize, memcheck
#                   also build $(O)/tests/test_failalloc: the core compiled a
#                   second time with -include tests/core/failalloc.h, so that
#                   its Nth host allocation can be made to fail; tests/run
#                   runs it with the other test_* binaries
#   make failalloc  builds it (debug) and runs it alone
#   make soak       the long runs: SOAK_SEQUENCES model sequences of SOAK_OPS
#                   operations from SOAK_SEED, then every injected failure,
#                   in the debug build (invariant walkers after every call)

FA_HDR := tests/core/failalloc.h
FA_O   := $(O)/failalloc
FA_OBJ := $(CORE_SRC:%.c=$(FA_O)/%.o)
FA_LIB := $(FA_O)/libpagelab-failalloc.a
# The invariant walkers allocate scratch memory; they are the checker, not
# a path under test: not counted.
FA_UNCOUNTED := core/check.c
# Asserts stay, but not the walkers after every call (MM_DEBUG): the harness
# runs mm_check itself after each call from the injected failure on, which
# keeps a few thousand runs of the scenario within seconds.
FA_CFLAGS := -UMM_DEBUG

$(FA_O)/core/%.o: core/%.c $(FA_HDR) mk/reliability.mk
	@mkdir -p $(dir $@)
	$(if $(V),,@echo "  CC      $< (failalloc)")
	$(Q)$(CC) $(ALL_CFLAGS) $(FA_CFLAGS) \
	    $(if $(filter $<,$(FA_UNCOUNTED)),,-include $(FA_HDR)) \
	    -MMD -MP -c $< -o $@

# The wrappers themselves call the real allocator: no -include.
$(FA_O)/failalloc.o: tests/core/failalloc.c $(FA_HDR)
	@mkdir -p $(dir $@)
	$(if $(V),,@echo "  CC      $<")
	$(Q)$(CC) $(ALL_CFLAGS) -MMD -MP -c $< -o $@

$(FA_LIB): $(FA_OBJ) $(FA_O)/failalloc.o
	@rm -f $@
	$(Q)ar rcs $@ $^

# An explicit rule: it wins over the top Makefile's pattern rule for
# $(O)/tests/test_*, which would link the ordinary library.
$(O)/tests/test_failalloc: tests/core/test_failalloc.c $(FA_LIB) \
                           tests/core/testutil.h $(FA_HDR)
	@mkdir -p $(dir $@)
	$(if $(V),,@echo "  CC      $<")
	$(Q)$(CC) $(ALL_CFLAGS) -Itests/core -o $@ $< $(FA_LIB) $(ALL_LDFLAGS) \
	    $(shell pkg-config --libs cmocka) $(PKG_LIBS) -lm

TEST_DATA += $(O)/tests/test_failalloc

-include $(FA_OBJ:.o=.d) $(FA_O)/failalloc.d

.PHONY: failalloc soak

failalloc: deps-test
	@$(MAKE) --no-print-directory MODE=debug build/debug/tests/test_failalloc
	@build/debug/tests/test_failalloc

SOAK_SEQUENCES ?= 20000
SOAK_OPS       ?= 600
SOAK_SEED      ?= 1000001

soak: deps-test
	@$(MAKE) --no-print-directory MODE=debug all build/debug/tests/test_model \
	    build/debug/tests/test_failalloc
	@echo "soak: $(SOAK_SEQUENCES) model sequences of $(SOAK_OPS) operations from seed $(SOAK_SEED)"
	@st=0; PAGELAB_MODEL_SEQUENCES=$(SOAK_SEQUENCES) PAGELAB_MODEL_OPS=$(SOAK_OPS) \
	    PAGELAB_MODEL_SEED=$(SOAK_SEED) build/debug/tests/test_model || st=1; \
	  build/debug/tests/test_failalloc || st=1; exit $$st

# fuzz.mk — libFuzzer targets (clang, ASan, UBSan); never part of make test.
#
#   make fuzz           both targets below, FUZZ_SECONDS (default 60) each
#   make fuzz-pe        core/pe.c                          (fuzz/fuzz_pe.c)
#   make fuzz-trace     the trace readers and their passes (fuzz/fuzz_trace.c)
#
# libFuzzer adds what it finds to build/fuzz/NAME_corpus; the committed seeds
# in tests/fuzz/NAME_corpus are only read. Crashes land in build/fuzz/.

FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_FLAGS   := -g -O1 -fsanitize=fuzzer,address,undefined \
                -fno-sanitize-recover=all -std=c11 -D_GNU_SOURCE -Icore
FUZZ_TRACE_SRC := core/trace.c core/source.c core/scan.c core/tracewriter.c \
                  core/u64map.c

build/fuzz/fuzz_pe: fuzz/fuzz_pe.c core/pe.c core/pe.h
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) fuzz/fuzz_pe.c core/pe.c -o $@

build/fuzz/fuzz_trace: fuzz/fuzz_trace.c $(FUZZ_TRACE_SRC) $(wildcard core/*.h)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) fuzz/fuzz_trace.c $(FUZZ_TRACE_SRC) -lz -o $@

# $(call fuzz_run,NAME,MAX_LEN): runs build/fuzz/fuzz_NAME on its corpora.
define fuzz_run
	@mkdir -p build/fuzz/$(1)_corpus
	build/fuzz/fuzz_$(1) -max_total_time=$(FUZZ_SECONDS) -max_len=$(2) \
	    -timeout=10 -rss_limit_mb=2048 -artifact_prefix=build/fuzz/ \
	    -print_final_stats=1 build/fuzz/$(1)_corpus tests/fuzz/$(1)_corpus
endef

.PHONY: fuzz fuzz-pe fuzz-trace
fuzz: fuzz-pe fuzz-trace
fuzz-pe: build/fuzz/fuzz_pe
	$(call fuzz_run,pe,16384)
fuzz-trace: build/fuzz/fuzz_trace
	$(call fuzz_run,trace,4096)

# scripts.mk — the Lua command line embedded into the pagelab executable.
#
# Every scripts/pagelab/NAME.lua becomes module "pagelab.NAME" inside
# $(O)/gen/scripts.c (byte arrays written by the tiny generator mk/embed.c,
# built for the host without sanitizers), compiled and linked into $(EXE):
# the top Makefile's link line uses $^, so the extra prerequisite is linked.

SCRIPTS_LUA := $(sort $(wildcard scripts/pagelab/*.lua))
EMBED       := $(O)/gen/embed

$(EMBED): mk/embed.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -O1 $(WARN) -o $@ $<

$(O)/gen/scripts.c: $(EMBED) $(SCRIPTS_LUA) mk/scripts.mk
	$(EMBED) $@ $(foreach f,$(SCRIPTS_LUA),pagelab.$(basename $(notdir $(f)))=$(f))

$(O)/gen/scripts.o: $(O)/gen/scripts.c bindings/embedded.h
	$(CC) $(ALL_CFLAGS) -Ibindings -c $< -o $@

$(EXE): $(O)/gen/scripts.o

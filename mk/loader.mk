# mk/loader.mk: the image loader's test images (tests/core/test_loader.c,
# tests/lua/loader_spec.lua). Included by the top Makefile; `make check`
# builds them (they are part of TEST_DATA).
#
#   tests/data/pe/loader/*.exe        programs whose import graphs the tests
#                                     need (one source, ldr_prog.c; import
#                                     libraries made with dlltool name the
#                                     DLLs and functions, even absent ones)
#   tests/data/pe/loader/sys/         a "system folder": ntdll.dll and an
#                                     apisetschema.dll whose .apiset section
#                                     ldr_apiset.lua writes
#   tests/data/pe/loader/stubs/       stand-in KERNEL32.dll and msvcrt.dll
#                                     exporting what the Debian mingw-w64
#                                     runtime DLLs import, so that the real
#                                     libstdc++-6.dll loads (only when those
#                                     DLLs are installed); runtime.txt names
#                                     their folder for the tests
#
# The DLLs the programs import at run time (leaf.dll, mid.dll, ...) are
# mk/pe.mk's, in tests/data/pe. Without a mingw-w64 compiler nothing here
# is built and the tests that need it skip.

LDR_SRC   := tests/data/pe/src
LDR_DIR   := tests/data/pe/loader
LDR_TMP   := build/pe/loader
LDR_CC    ?= x86_64-w64-mingw32-gcc
LDR_DLLTOOL = $(LDR_CC:gcc=dlltool)
LDR_OBJDUMP = $(LDR_CC:gcc=objdump)
LDR_CFLAGS := -nostdlib -nostartfiles -Os -fno-asynchronous-unwind-tables \
              -fno-ident -s -Wl,--no-insert-timestamp
# conflict.exe sits at fixed.dll's preferred base (mk/pe.mk), so that the
# fixed DLL cannot load.
LDR_FIXED_BASE := 0x180200000
LDR_NTDLL_BASE := 0x180400000
# The Debian mingw-w64 runtime whose DLLs the stubs stand under.
LDR_RT_DIR  := $(firstword $(wildcard /usr/lib/gcc/x86_64-w64-mingw32/*-win32))
LDR_RT_DLLS := $(wildcard $(LDR_RT_DIR)/libstdc++-6.dll $(LDR_RT_DIR)/libgcc_s_seh-1.dll)

# $(1) = library stem, $(2) = the DLL name it imports from, $(3) = the
# EXPORTS line(s): an import library for a DLL that need not exist.
define LDR_IMPLIB
$(LDR_TMP)/lib$(1).a: mk/loader.mk
	@mkdir -p $(LDR_TMP)
	@printf 'LIBRARY %s\nEXPORTS\n  %s\n' '$(2)' '$(3)' >$(LDR_TMP)/$(1).def
	$(LDR_DLLTOOL) -m i386:x86-64 -d $(LDR_TMP)/$(1).def -l $$@
endef

# $(1) = program, $(2) = import library stems (import order), $(3) = what
# it imports (-D flags), $(4) = extra linker flags
define LDR_PROG
$(LDR_DIR)/$(1): $(LDR_SRC)/ldr_prog.c $(addprefix $(LDR_TMP)/lib,$(addsuffix .a,$(2))) mk/loader.mk
	@mkdir -p $(LDR_DIR)
	$(LDR_CC) $(LDR_CFLAGS) -Wl,-e,prog_start $(3) $(4) -o $$@ $$< \
	    $(addprefix $(LDR_TMP)/lib,$(addsuffix .a,$(2)))
LDR_IMAGES += $(LDR_DIR)/$(1)
endef

ifneq ($(shell command -v $(LDR_CC) 2>/dev/null),)
LDR_IMAGES :=

$(eval $(call LDR_IMPLIB,apitest,api-ms-win-pagelab-test-l1-1-1.dll,leaf_add))
$(eval $(call LDR_IMPLIB,apichoice,ext-ms-pagelab-choice-l1-1-0.dll,mid_twice))
$(eval $(call LDR_IMPLIB,nosuch,nosuch.dll,nosuch_fn))
$(eval $(call LDR_IMPLIB,leafgone,leaf.dll,leaf_gone))
$(eval $(call LDR_IMPLIB,leafnine,leaf.dll,leaf_nine @9 NONAME))
$(eval $(call LDR_IMPLIB,fixed,fixed.dll,reloc_get))
$(eval $(call LDR_IMPLIB,ldrmid,mid.dll,mid_twice))
$(eval $(call LDR_IMPLIB,ldrreloc,reloc.dll,reloc_get))

# apiuser.exe: leaf_add through an API set (a later minor version than the
# schema lists), mid_twice through one with a per-importer host.
$(eval $(call LDR_PROG,apiuser.exe,apitest apichoice,-DIMPORT1=leaf_add -DIMPORT2=mid_twice))
# order.exe: mid.dll (which imports leaf.dll) before reloc.dll, so the load
# order tells depth-first from breadth-first.
$(eval $(call LDR_PROG,order.exe,ldrmid ldrreloc,-DIMPORT1=mid_twice -DIMPORT2=reloc_get))
$(eval $(call LDR_PROG,missing.exe,nosuch,-DIMPORT1=nosuch_fn))
$(eval $(call LDR_PROG,noexport.exe,leafgone,-DIMPORT1=leaf_gone))
$(eval $(call LDR_PROG,noord.exe,leafnine,-DIMPORT1=leaf_nine))
LDR_CONFLICT_LDFLAGS := -Wl,--image-base=$(LDR_FIXED_BASE)
$(eval $(call LDR_PROG,conflict.exe,fixed,-DIMPORT1=reloc_get,$(LDR_CONFLICT_LDFLAGS)))

$(LDR_DIR)/sys/ntdll.dll: $(LDR_SRC)/ldr_ntdll.c mk/loader.mk
	@mkdir -p $(dir $@)
	$(LDR_CC) $(LDR_CFLAGS) -shared -Wl,-e,ntdll_entry \
	    -Wl,--image-base=$(LDR_NTDLL_BASE) -o $@ $<

$(LDR_TMP)/apiset.bin: $(LDR_SRC)/ldr_apiset.lua mk/loader.mk
	@mkdir -p $(LDR_TMP)
	$(LUA) $< $@

$(LDR_DIR)/sys/apisetschema.dll: $(LDR_SRC)/ldr_apiset.S $(LDR_TMP)/apiset.bin mk/loader.mk
	@mkdir -p $(dir $@)
	$(LDR_CC) $(LDR_CFLAGS) -shared -Wl,-e,apiset_entry -Wa,-I$(LDR_TMP) -o $@ $<

LDR_IMAGES += $(LDR_DIR)/sys/ntdll.dll $(LDR_DIR)/sys/apisetschema.dll

ifneq ($(LDR_RT_DLLS),)
# Each stub exports, as aliases of one function, every name the runtime
# DLLs import from it (read from objdump's import listing).
$(LDR_DIR)/stubs/%.dll: $(LDR_SRC)/ldr_stub.c $(LDR_RT_DLLS) mk/loader.mk
	@mkdir -p $(dir $@) $(LDR_TMP)
	$(LDR_OBJDUMP) -p $(LDR_RT_DLLS) | awk -v dll='$*.dll' \
	    '/^The /{ cur = "" } /DLL Name:/{ cur = $$3 } \
	     cur == dll && /^\t[0-9a-f]+\t +[0-9]+ +[^ ]+$$/ { print $$3 }' | \
	    sort -u >$(LDR_TMP)/$*.names
	{ printf 'LIBRARY %s\nEXPORTS\n' '$*.dll'; \
	  sed 's/.*/  & = stub_function/' $(LDR_TMP)/$*.names; } >$(LDR_TMP)/$*.def
	$(LDR_CC) $(LDR_CFLAGS) -shared -Wl,-e,stub_entry -o $@ $< $(LDR_TMP)/$*.def

$(LDR_DIR)/stubs/runtime.txt: mk/loader.mk
	@mkdir -p $(dir $@)
	echo '$(LDR_RT_DIR)' >$@

LDR_IMAGES += $(LDR_DIR)/stubs/KERNEL32.dll $(LDR_DIR)/stubs/msvcrt.dll \
              $(LDR_DIR)/stubs/runtime.txt
endif

TEST_DATA += $(LDR_IMAGES)
.PHONY: loader-images
loader-images: $(LDR_IMAGES)
endif

# mk/pe.mk: small real PE images for the parser and loader tests. Included
# by the top Makefile (the parser's fuzzer is in mk/fuzz.mk).
#
#   make check          also builds tests/data/pe/*.{exe,dll} (x64) and
#                       tests/data/pe/x86/* (i686) with mingw-w64
#
# The images are linked with -nostdlib and their own entry points, so they are
# a few KiB and need none of the mingw runtime DLLs. Without a mingw compiler
# the images are skipped with a message, and the tests that need them skip.

PE_SRC    := tests/data/pe/src
PE_TMP    := build/pe
PE_CC_x64 ?= x86_64-w64-mingw32-gcc
PE_CC_x86 ?= i686-w64-mingw32-gcc
PE_NAMES  := app.exe leaf.dll mid.dll reloc.dll fixed.dll shared.dll

# -s strips symbols, --no-insert-timestamp makes builds reproducible.
PE_CFLAGS := -nostdlib -nostartfiles -Os -fno-asynchronous-unwind-tables \
             -fno-ident -s -Wl,--no-insert-timestamp

# Preferred bases. reloc.dll takes app.exe's base, so it must be relocated.
PE_BASE_x64_app   := 0x140000000
PE_BASE_x64_leaf  := 0x180000000
PE_BASE_x64_mid   := 0x180100000
PE_BASE_x64_fixed := 0x180200000
PE_BASE_x64_share := 0x180300000
PE_BASE_x86_app   := 0x400000
PE_BASE_x86_leaf  := 0x10000000
PE_BASE_x86_mid   := 0x10100000
PE_BASE_x86_fixed := 0x10200000
PE_BASE_x86_share := 0x10300000

# i686 C symbols carry a leading underscore, stdcall ones an @bytes suffix.
PE_SYM_x64 = $(1)
PE_SYM_x86 = _$(1)
PE_DLLSYM_x64 = $(1)
PE_DLLSYM_x86 = _$(1)@12

# GNU ld emits a .reloc section for every DLL, even with
# --disable-reloc-section, and never sets IMAGE_FILE_RELOCS_STRIPPED. For a
# DLL that is fixed like MSVC's /FIXED we strip .reloc with objcopy and set
# that flag (bit 0 of Characteristics, at e_lfanew + 22) by hand.
PE_SET_RELOCS_STRIPPED = set -e; f=$(1); \
    set -- $$(od -An -tu1 -j60 -N4 $$f); \
    off=$$(( $$1 + 256 * $$2 + 65536 * $$3 + 16777216 * $$4 + 22 )); \
    c=$$(od -An -tu1 -j$$off -N1 $$f); \
    printf "$$(printf '\\%03o' $$(( c | 1 )))" | \
        dd of=$$f bs=1 seek=$$off conv=notrunc 2>/dev/null

# $(1) = arch (x64 or x86), $(2) = output directory
define PE_RULES
PE_IMAGES_$(1) := $$(addprefix $(2)/,$$(PE_NAMES))

$(2)/leaf.dll $(PE_TMP)/$(1)/libleaf.a &: $$(PE_SRC)/leaf.c $$(PE_SRC)/leaf.def mk/pe.mk
	@mkdir -p $(2) $(PE_TMP)/$(1)
	$$(PE_CC_$(1)) $$(PE_CFLAGS) -shared -Wl,-e,$$(call PE_DLLSYM_$(1),leaf_entry) \
	    -Wl,--image-base=$$(PE_BASE_$(1)_leaf) \
	    -Wl,--out-implib,$(PE_TMP)/$(1)/libleaf.a -o $(2)/leaf.dll \
	    $$(PE_SRC)/leaf.c $$(PE_SRC)/leaf.def

$(2)/mid.dll $(PE_TMP)/$(1)/libmid.a &: $$(PE_SRC)/mid.c $$(PE_SRC)/mid.def $(PE_TMP)/$(1)/libleaf.a mk/pe.mk
	@mkdir -p $(2) $(PE_TMP)/$(1)
	$$(PE_CC_$(1)) $$(PE_CFLAGS) -shared -Wl,-e,$$(call PE_DLLSYM_$(1),mid_entry) \
	    -Wl,--image-base=$$(PE_BASE_$(1)_mid) \
	    -Wl,--out-implib,$(PE_TMP)/$(1)/libmid.a -o $(2)/mid.dll \
	    $$(PE_SRC)/mid.c $$(PE_SRC)/mid.def $(PE_TMP)/$(1)/libleaf.a

$(2)/app.exe: $$(PE_SRC)/app.c $(PE_TMP)/$(1)/libmid.a $(PE_TMP)/$(1)/libleaf.a mk/pe.mk
	@mkdir -p $(2)
	$$(PE_CC_$(1)) $$(PE_CFLAGS) -Wl,-e,$$(call PE_SYM_$(1),app_start) \
	    -Wl,--image-base=$$(PE_BASE_$(1)_app) -o $$@ $$< \
	    $(PE_TMP)/$(1)/libmid.a $(PE_TMP)/$(1)/libleaf.a

$(2)/reloc.dll: $$(PE_SRC)/reloc.c mk/pe.mk
	@mkdir -p $(2)
	$$(PE_CC_$(1)) $$(PE_CFLAGS) -shared -Wl,-e,$$(call PE_DLLSYM_$(1),reloc_entry) \
	    -Wl,--image-base=$$(PE_BASE_$(1)_app) -Wl,--dynamicbase \
	    -Wl,--enable-reloc-section -o $$@ $$<

$(2)/fixed.dll: $$(PE_SRC)/reloc.c mk/pe.mk
	@mkdir -p $(2)
	$$(PE_CC_$(1)) $$(PE_CFLAGS) -shared -Wl,-e,$$(call PE_DLLSYM_$(1),reloc_entry) \
	    -Wl,--image-base=$$(PE_BASE_$(1)_fixed) -Wl,--disable-dynamicbase \
	    -Wl,--disable-reloc-section -o $$@ $$<
	$$(PE_CC_$(1):gcc=objcopy) -R .reloc $$@
	@$$(call PE_SET_RELOCS_STRIPPED,$$@)

$(2)/shared.dll: $$(PE_SRC)/shared.c mk/pe.mk
	@mkdir -p $(2)
	$$(PE_CC_$(1)) $$(PE_CFLAGS) -shared -Wl,-e,$$(call PE_DLLSYM_$(1),shared_entry) \
	    -Wl,--image-base=$$(PE_BASE_$(1)_share) -o $$@ $$<
endef

ifneq ($(shell command -v $(PE_CC_x64) 2>/dev/null),)
$(eval $(call PE_RULES,x64,tests/data/pe))
TEST_DATA += $(PE_IMAGES_x64)
else
TEST_DATA += pe-no-mingw-x64
endif
ifneq ($(shell command -v $(PE_CC_x86) 2>/dev/null),)
$(eval $(call PE_RULES,x86,tests/data/pe/x86))
TEST_DATA += $(PE_IMAGES_x86)
else
TEST_DATA += pe-no-mingw-x86
endif

.PHONY: pe-images pe-no-mingw-x64 pe-no-mingw-x86
pe-images: $(PE_IMAGES_x64) $(PE_IMAGES_x86)
pe-no-mingw-x64:
	@echo "pe.mk: $(PE_CC_x64) not found; x64 PE test images not built, their tests skip (apt-get install mingw-w64)"
pe-no-mingw-x86:
	@echo "pe.mk: $(PE_CC_x86) not found; x86 PE test images not built, their tests skip (apt-get install mingw-w64)"

/* reloc.dll and fixed.dll: absolute pointers in .data and .rdata, so that the
** image has base relocations. reloc.dll is linked at app.exe's preferred
** base, so a loader must move and relocate it; fixed.dll is linked without a
** relocation section, so it can only load at its own base. */

static int table[4] = { 1, 2, 3, 4 };

int *reloc_ptr = &table[2];                             /* .data */
int *const reloc_consts[2] = { &table[0], &table[3] };  /* .rdata */

int reloc_get(void) { return *reloc_ptr + *reloc_consts[1]; }

int __stdcall reloc_entry(void *module, unsigned long reason, void *reserved) {
  (void)module; (void)reason; (void)reserved;
  return 1;
}

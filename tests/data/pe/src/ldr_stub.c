/* ldr_stub.c: every export of the stand-in system DLLs (KERNEL32.dll,
** msvcrt.dll) that the mingw-w64 runtime DLLs import. mk/loader.mk lists
** the names the runtime imports in a .def file, each an alias of this one
** function, so that the real libstdc++-6.dll and libgcc_s_seh-1.dll can be
** loaded and bound without Windows' own DLLs. */

int stub_function(void) { return 0; }

int __stdcall stub_entry(void *module, unsigned long reason, void *reserved) {
  (void)module; (void)reason; (void)reserved;
  return 1;
}

/* ldr_ntdll.c: a stand-in ntdll.dll for the loader tests. The loader maps
** ntdll.dll into every new process when the search path holds one, right
** after the program (docs/loader.md); this one only has to be a DLL. */

__declspec(dllexport) long NtClose(void *handle) { (void)handle; return 0; }

int __stdcall ntdll_entry(void *module, unsigned long reason, void *reserved) {
  (void)module; (void)reason; (void)reserved;
  return 1;
}

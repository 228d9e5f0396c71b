/* shared.dll: a section that is both shared and writable. GCC's "shared"
** attribute marks .shared with IMAGE_SCN_MEM_SHARED, so every process that
** maps the DLL sees one copy (READWRITE, not WRITECOPY; WINDOWS.md A.12.2). */

int shared_counter __attribute__((section(".shared"), shared)) = 1;
int private_counter = 2;

int shared_bump(void) { return ++shared_counter + private_counter; }

int __stdcall shared_entry(void *module, unsigned long reason, void *reserved) {
  (void)module; (void)reason; (void)reserved;
  return 1;
}

/* leaf.dll: the bottom of the test import graph. app.exe imports leaf_ord
** by ordinal; mid.dll imports leaf_add by name and forwards mid_add to it.
** Built with -nostdlib: nothing here may need the C runtime. */

int leaf_value = 42;                    /* a data export, in .data */

int leaf_add(int a, int b) { return a + b; }

int leaf_ord(int a) { return a * 3; }   /* NONAME in leaf.def */

/* The DLL entry point (DllMain's signature); never run by the simulator. */
int __stdcall leaf_entry(void *module, unsigned long reason, void *reserved) {
  (void)module; (void)reason; (void)reserved;
  return 1;
}

/* mid.dll: imports from leaf.dll and is imported by app.exe. Its export
** mid_add is a forwarder to leaf.leaf_add (see mid.def): the export table
** holds the string "leaf.leaf_add" instead of an address. */

int leaf_add(int a, int b);

int mid_twice(int a) { return leaf_add(a, a); }

int __stdcall mid_entry(void *module, unsigned long reason, void *reserved) {
  (void)module; (void)reason; (void)reserved;
  return 1;
}

/* app.exe: imports from two DLLs, leaf_ord by ordinal from leaf.dll and
** mid_twice and mid_add (a forwarder to leaf.dll) by name from mid.dll.
** counter gives a writable initialised .data section, scratch a .bss. */

int leaf_ord(int a);
int mid_twice(int a);
int mid_add(int a, int b);

int counter = 7;
int scratch[64];

int app_start(void) {
  scratch[1] = counter;
  return mid_twice(leaf_ord(counter)) + mid_add(1, 2) + scratch[1];
}

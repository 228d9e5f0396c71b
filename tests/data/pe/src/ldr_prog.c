/* ldr_prog.c: the loader tests' programs (mk/loader.mk). Each build picks
** the functions it imports with -DIMPORT1=name [-DIMPORT2=name]; the
** import libraries made with dlltool decide which DLL (or API set) each
** comes from, so one source gives every import graph the tests need.
** Never run: the simulator maps and binds, it does not execute. */

int IMPORT1(int a, int b);
#ifdef IMPORT2
int IMPORT2(int a);
#endif

int prog_start(void) {
  int r = IMPORT1(1, 2);
#ifdef IMPORT2
  r += IMPORT2(r);
#endif
  return r;
}

/* pool.c — kernel pools. Placeholder hooks until the pools land. */
#include "internal.h"

int pool_init(mm_system *sys) { (void)sys; return 0; }
void pool_destroy(mm_system *sys) { (void)sys; }
int pool_check(mm_system *sys) { (void)sys; return 0; }

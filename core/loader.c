/* loader.c — the image loader. Placeholder hook until it lands. */
#include "internal.h"

void loader_process_free(mm_system *sys, mm_process *p) { (void)sys; (void)p; }

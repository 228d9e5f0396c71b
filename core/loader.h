/*
** loader.h — the image loader (public part, included by mm.h). Being
** written.
*/
#ifndef PAGELAB_LOADER_H
#define PAGELAB_LOADER_H
#endif

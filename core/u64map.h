/*
 * u64map.h — internal: an open-addressing hash map from uint64_t keys to
 * uint32_t values.
 *
 * Linear probing in a power-of-two table kept at most 70% full; keys and
 * values live in two parallel arrays (12 bytes per slot). UINT64_MAX marks
 * an empty slot, so that key itself is stored out of line. No deletion:
 * the users (distinct counting, Belady's next-use pass) only insert and
 * update. The struct is public so callers can keep it on the stack.
 */
#ifndef MM_U64MAP_H
#define MM_U64MAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct u64map {
    uint64_t *keys;     /* cap slots, UINT64_MAX = empty */
    uint32_t *vals;     /* cap slots */
    size_t cap;         /* 0 or a power of two */
    size_t count;       /* keys in the table, not counting UINT64_MAX */
    int has_max;        /* the key UINT64_MAX is present */
    uint32_t max_val;   /* its value */
} u64map;

/* Makes an empty map that owns no memory. Never fails. */
void u64map_init(u64map *m);

/* Frees the map's memory and leaves it empty. Never fails. */
void u64map_free(u64map *m);

/* Makes room for n keys without growing again. Returns 0, or -1 when out of
 * memory (on error nothing is changed). */
int u64map_reserve(u64map *m, size_t n);

/* Finds key, inserting it with value init when absent. Returns a pointer to
 * its value (valid until the next insertion) and sets *found (may be NULL)
 * to 1 if the key was already there, 0 if inserted. On out of memory nothing
 * is changed and NULL is returned. */
uint32_t *u64map_upsert(u64map *m, uint64_t key, uint32_t init, int *found);

/* Sets key to val, inserting when absent. Returns 0, or -1 when out of
 * memory (nothing is changed). */
int u64map_put(u64map *m, uint64_t key, uint32_t val);

/* Returns 1 and stores the value in *val (may be NULL) when key is present,
 * else 0. Never fails. */
int u64map_get(const u64map *m, uint64_t key, uint32_t *val);

/* Number of keys. Never fails. */
size_t u64map_count(const u64map *m);

/* Iteration: start with *it = 0; each call returning 1 yields one key and
 * its value (either pointer may be NULL); 0 means done. Order is the table
 * order. The map must not change during an iteration. Never fails. */
int u64map_next(const u64map *m, size_t *it, uint64_t *key, uint32_t *val);

#endif /* MM_U64MAP_H */

/*
 * u64map.c — open-addressing uint64 -> uint32 hash map (see u64map.h).
 *
 * Invariants:
 *   - cap is 0 or a power of two, and count * 10 <= cap * 7 (load <= 70%);
 *   - every stored key k != UINT64_MAX sits in the probe run that starts at
 *     u64map_slot(k) with no empty slot between that start and k (no
 *     deletions, so linear probing never needs tombstones);
 *   - the key UINT64_MAX is never in keys[]: it is the empty marker, and its
 *     presence is recorded in has_max.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "u64map.h"

#define U64MAP_EMPTY UINT64_MAX
#define U64MAP_MIN_CAP 16u

/* Spreads a key over all 64 bits (the murmur3 finalizer): block numbers and
 * page numbers are small and consecutive, and linear probing needs their
 * hashes scattered. Never fails. */
static uint64_t u64map_hash(uint64_t k)
{
    k ^= k >> 33;
    k *= UINT64_C(0xff51afd7ed558ccd);
    k ^= k >> 33;
    k *= UINT64_C(0xc4ceb9fe1a85ec53);
    k ^= k >> 33;
    return k;
}

/* Makes an empty map. Never fails. */
void u64map_init(u64map *m)
{
    memset(m, 0, sizeof *m);
}

/* Frees the map's memory. Never fails. */
void u64map_free(u64map *m)
{
    free(m->keys);
    free(m->vals);
    u64map_init(m);
}

/* The slot holding key, or the empty slot where it would go. cap > 0.
 * Never fails. */
static size_t u64map_find(const u64map *m, uint64_t key)
{
    size_t mask = m->cap - 1;
    size_t i = (size_t)u64map_hash(key) & mask;
    while (m->keys[i] != key && m->keys[i] != U64MAP_EMPTY)
        i = (i + 1) & mask;
    return i;
}

/* Rebuilds the table with newcap slots. On out of memory nothing is changed
 * and -1 is returned. */
static int u64map_resize(u64map *m, size_t newcap)
{
    u64map n;
    size_t i;
    assert(newcap >= U64MAP_MIN_CAP && (newcap & (newcap - 1)) == 0);
    u64map_init(&n);
    n.keys = malloc(newcap * sizeof *n.keys);
    n.vals = malloc(newcap * sizeof *n.vals);
    if (n.keys == NULL || n.vals == NULL) {
        free(n.keys);
        free(n.vals);
        return -1;
    }
    memset(n.keys, 0xff, newcap * sizeof *n.keys);   /* all UINT64_MAX */
    n.cap = newcap;
    for (i = 0; i < m->cap; i++) {
        if (m->keys[i] != U64MAP_EMPTY) {
            size_t j = u64map_find(&n, m->keys[i]);
            n.keys[j] = m->keys[i];
            n.vals[j] = m->vals[i];
        }
    }
    n.count = m->count;
    n.has_max = m->has_max;
    n.max_val = m->max_val;
    free(m->keys);
    free(m->vals);
    *m = n;
    return 0;
}

/* Makes room for n keys. 0, or -1 when out of memory (nothing changed). */
int u64map_reserve(u64map *m, size_t n)
{
    size_t cap = m->cap ? m->cap : U64MAP_MIN_CAP;
    if (n > SIZE_MAX / 16)
        return -1;
    while (n * 10 > cap * 7)
        cap *= 2;
    return cap == m->cap ? 0 : u64map_resize(m, cap);
}

/* Finds or inserts key; NULL when out of memory (nothing changed). */
uint32_t *u64map_upsert(u64map *m, uint64_t key, uint32_t init, int *found)
{
    size_t i;
    if (key == U64MAP_EMPTY) {
        if (found)
            *found = m->has_max;
        if (!m->has_max) {
            m->has_max = 1;
            m->max_val = init;
        }
        return &m->max_val;
    }
    if ((m->count + 1) * 10 > m->cap * 7 &&
        u64map_reserve(m, m->count + 1) != 0)
        return NULL;
    i = u64map_find(m, key);
    if (m->keys[i] == key) {
        if (found)
            *found = 1;
    } else {
        m->keys[i] = key;
        m->vals[i] = init;
        m->count++;
        if (found)
            *found = 0;
    }
    return &m->vals[i];
}

/* Sets key to val. 0, or -1 when out of memory (nothing changed). */
int u64map_put(u64map *m, uint64_t key, uint32_t val)
{
    uint32_t *v = u64map_upsert(m, key, val, NULL);
    if (v == NULL)
        return -1;
    *v = val;
    return 0;
}

/* 1 and the value when present, else 0. Never fails. */
int u64map_get(const u64map *m, uint64_t key, uint32_t *val)
{
    size_t i;
    if (key == U64MAP_EMPTY) {
        if (m->has_max && val)
            *val = m->max_val;
        return m->has_max;
    }
    if (m->cap == 0)
        return 0;
    i = u64map_find(m, key);
    if (m->keys[i] != key)
        return 0;
    if (val)
        *val = m->vals[i];
    return 1;
}

/* Number of keys. Never fails. */
size_t u64map_count(const u64map *m)
{
    return m->count + (m->has_max ? 1 : 0);
}

/* Next key in table order; the out-of-line UINT64_MAX key comes last.
 * Never fails. */
int u64map_next(const u64map *m, size_t *it, uint64_t *key, uint32_t *val)
{
    size_t i = *it;
    for (; i < m->cap; i++) {
        if (m->keys[i] != U64MAP_EMPTY) {
            if (key)
                *key = m->keys[i];
            if (val)
                *val = m->vals[i];
            *it = i + 1;
            return 1;
        }
    }
    if (i == m->cap && m->has_max) {
        if (key)
            *key = U64MAP_EMPTY;
        if (val)
            *val = m->max_val;
        *it = i + 1;
        return 1;
    }
    *it = m->cap + 1;
    return 0;
}

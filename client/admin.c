/* SPDX-License-Identifier: MIT */
/*
 * admin.c -- the daemon's administrative requests (sync, statistics, the
 * table list) and shmc_info(), which reads the table's header from the
 * mapping without the daemon.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "handle.h"
#include "seqlock.h"

/* Write the table to its file now (see shmcache.h). */
SHMC_EXPORT int
shmc_sync(shmc_t *h)
{
    return conn_call_table(h, PROTO_OP_SYNC);
}

/* The daemon's statistics or table list as JSON (see shmcache.h). */
SHMC_EXPORT int
shmc_stats_json(shmc_t *h, int which, char **json)
{
    char saved[PROTO_TABLE_MAX + 1];
    uint8_t op = which == SHMC_LIST_TABLES ? PROTO_OP_LIST : PROTO_OP_STATS;
    int rc;

    if (json == NULL)
        return -EINVAL;
    *json = NULL;
    if (h == NULL || which < SHMC_STATS_TABLE || which > SHMC_LIST_TABLES)
        return -EINVAL;
    pthread_mutex_lock(&h->lock);
    /* STATS with an empty table name covers the daemon and every table. */
    memcpy(saved, h->table, sizeof(saved));
    if (which == SHMC_STATS_ALL)
        h->table[0] = '\0';
    rc = conn_call_locked(h, op, NULL, 0, NULL, 0, 0, 0, NULL, NULL, json);
    memcpy(h->table, saved, sizeof(saved));
    pthread_mutex_unlock(&h->lock);
    if (rc != 0) {
        free(*json);
        *json = NULL;
    }
    return rc;
}

/* The table's header facts, from the mapping (see shmcache.h). */
SHMC_EXPORT int
shmc_info(const shmc_t *h, struct shmc_info *info, size_t size)
{
    const struct mapping *m;
    const struct fmt_header *hd;
    struct shmc_info i;

    if (h == NULL || info == NULL || size == 0)
        return -EINVAL;
    /* ORDERING: acquire; pairs with the release in handle_reopen(). */
    m = __atomic_load_n(&h->cur, __ATOMIC_ACQUIRE);
    hd = m->t.hdr;
    memset(&i, 0, sizeof(i));
    i.file_size = m->t.size;
    i.arena_bytes = m->t.arena_size;
    i.buckets = m->t.nbuckets;
    i.max_key_bytes = m->t.max_key;
    i.max_value_bytes = m->t.max_value;
    i.generation = m->t.generation;
    i.format_version = FMT_VERSION;
    i.used_bytes = fmt_ring_used(seq_load_u64(&hd->h_ring), m->t.arena_size);
    i.created_ms = m->t.lim.epoch_ms;
    i.heartbeat_ms = seq_load_u64(&hd->h_heartbeat_ms);
    i.entries = seq_load_u64(&hd->h_entries);
    i.sets = seq_load_u64(&hd->h_sets);
    i.deletes = seq_load_u64(&hd->h_deletes);
    i.evictions = seq_load_u64(&hd->h_evictions);
    i.expirations = seq_load_u64(&hd->h_expirations);
    i.relocations = seq_load_u64(&hd->h_relocations);
    i.live_bytes = seq_load_u64(&hd->h_live_bytes);
    i.moves = seq_load_u64(&hd->h_moves);
    i.evictions_index = seq_load_u64(&hd->h_evictions_index);
    i.retired = table_state(&m->t) == FMT_STATE_RETIRED;
    i.clean = seq_load_u32(&hd->h_clean) == 1;
    memcpy(info, &i, size < sizeof(i) ? size : sizeof(i));
    return 0;
}

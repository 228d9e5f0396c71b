/*
** recorder.c — pagelab.results: experiment runs recorded in SQLite.
**
** Two userdata types:
**   Db   "pagelab.Db"   one open results database (one sqlite3 connection)
**   Rec  "pagelab.Rec"  one run in flight on a Db
**
** Invariants
**  1. A Db has at most one run in flight (db->active). Everything the run
**     records goes to the connection's staging tables (temp.pl_stage_*,
**     private to the connection, never on disk in the results file); they
**     are empty whenever no run is in flight.
**  2. A run reaches the results file in exactly one short transaction:
**     finish (or __close) copies the staged rows into run, param, metric,
**     series, snapshot and snapshot_row between BEGIN IMMEDIATE and COMMIT.
**     A process that dies mid-run therefore leaves nothing at all: readers
**     never see a run in flight, and resume (db:completed) sees the run as
**     missing. Abandoning a run (__gc, db:close) just empties the staging.
**     Why staging: a run may take minutes, and holding the file's write
**     lock that long would serialize every parallel writer (sweep -j N,
**     GNU parallel on one file) behind it; staged, writers hold the lock
**     only while their finished run is copied.
**  3. A Rec keeps its Db userdata in uservalue 1, so the connection outlives
**     every Rec on it; a Rec that samples a System keeps that System in
**     uservalue 2 until the run ends, and removes its sampler then.
**  4. The sampler runs inside the core's hot loop: it touches SQLite only,
**     never Lua, and never allocates beyond SQLite's own statement cache.
**
** run_key is the 64-bit FNV-1a hash, in hex, of the canonical JSON text
**   {"experiment":E,"params":{sorted keys},"repetition":R,"seed":S}
** where numbers with an integral value print as integers (so 345 and 345.0
** give the same key) and other numbers with the shortest text that reads
** back to the same double.
*/
#include "recorder.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>
#include <sqlite3.h>

#include "mm.h"
#include "pagelab.h"

#define DB_MT "pagelab.Db"
#define REC_MT "pagelab.Rec"

/* Waiting this long for another writer (a parallel sweep job) before a
** begin_run gives up: runs are short transactions, so 10 s means trouble. */
#define BUSY_TIMEOUT_MS 10000

/* Process counters the sampler records as "<name>.<field>": the ones a
** plot of memory pressure needs, not all of mm_pstats (keep it cheap). */
static const char *const proc_sample_fields[] = {
  "faults", "hard", "soft", "demand_zero", "ws_size", "trimmed",
  "private_pages", "pagefile_reads", NULL
};
#define PROC_FIELDS_MAX 16

typedef struct pl_rec pl_rec;

typedef struct pl_db {
  sqlite3 *db;                  /* NULL once closed */
  sqlite3_stmt *st_metric;      /* prepared once: the per-run hot inserts */
  sqlite3_stmt *st_series;
  pl_rec *active;               /* the run in flight (invariant 1) */
  int readonly;
} pl_db;

struct pl_rec {
  pl_db *db;                    /* NULL once the run has ended */
  sqlite3_int64 run_id;         /* 0 until the run is committed */
  char run_key[17];
  mm_system *sampled;           /* system carrying our sampler, or NULL */
  size_t nproc;                 /* process fields sampled */
  size_t proc_off[PROC_FIELDS_MAX];
  const char *proc_name[PROC_FIELDS_MAX];
};

/* ================================================================ hashing */

#define FNV64_OFFSET UINT64_C(0xcbf29ce484222325)
#define FNV64_PRIME UINT64_C(0x100000001b3)

static uint64_t fnv1a64(const char *s, size_t n) {
  uint64_t h = FNV64_OFFSET;
  for (size_t i = 0; i < n; i++) {
    h ^= (unsigned char)s[i];
    h *= FNV64_PRIME;
  }
  return h;
}

/* ======================================================= canonical JSON */

static void json_string(luaL_Buffer *b, const char *s, size_t n) {
  luaL_addchar(b, '"');
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\\') {
      luaL_addchar(b, '\\');
      luaL_addchar(b, (char)c);
    } else if (c < 0x20) {
      char esc[8];
      snprintf(esc, sizeof esc, "\\u%04x", c);
      luaL_addstring(b, esc);
    } else {
      luaL_addchar(b, (char)c);
    }
  }
  luaL_addchar(b, '"');
}

/* The canonical text of a finite double: an integer when integral, else
** the shortest %.Ng that reads back exactly. */
static void format_number(char *out, size_t len, double x) {
  if (x == floor(x) && fabs(x) < 9007199254740992.0) {   /* 2^53 */
    snprintf(out, len, "%lld", (long long)x);
    return;
  }
  for (int prec = 15; prec <= 17; prec++) {
    snprintf(out, len, "%.*g", prec, x);
    if (strtod(out, NULL) == x) return;
  }
}

/* Appends the value at idx (a scalar) as JSON; what names it in errors. */
static void json_scalar(lua_State *L, luaL_Buffer *b, int idx,
                        const char *what, const char *key) {
  char num[40];
  switch (lua_type(L, idx)) {
  case LUA_TSTRING: {
    size_t n;
    const char *s = lua_tolstring(L, idx, &n);
    json_string(b, s, n);
    break;
  }
  case LUA_TBOOLEAN:
    luaL_addstring(b, lua_toboolean(L, idx) ? "true" : "false");
    break;
  case LUA_TNUMBER:
    if (lua_isinteger(L, idx)) {
      snprintf(num, sizeof num, "%lld", (long long)lua_tointeger(L, idx));
    } else {
      double x = lua_tonumber(L, idx);
      if (!isfinite(x))
        luaL_error(L, "%s.%s: %f is not a finite number", what, key, x);
      format_number(num, sizeof num, x);
    }
    luaL_addstring(b, num);
    break;
  default:
    luaL_error(L, "%s.%s: expected a number, string or boolean, got %s",
               what, key, luaL_typename(L, idx));
  }
}

static int cmp_cstr(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Pushes an array userdata of the string keys of the table at t, sorted
** (byte order); *n receives the count. Keys must be strings. */
static const char **sorted_keys(lua_State *L, int t, const char *what,
                                size_t *n) {
  size_t count = 0, i = 0;
  t = lua_absindex(L, t);
  lua_pushnil(L);
  while (lua_next(L, t)) {
    if (lua_type(L, -2) != LUA_TSTRING)
      luaL_error(L, "%s: keys must be strings, got a %s key", what,
                 luaL_typename(L, -2));
    count++;
    lua_pop(L, 1);
  }
  const char **keys = lua_newuserdatauv(L, (count ? count : 1) * sizeof *keys, 0);
  lua_pushnil(L);
  while (lua_next(L, t)) {
    keys[i++] = lua_tostring(L, -2);    /* anchored by the table */
    lua_pop(L, 1);
  }
  qsort(keys, count, sizeof *keys, cmp_cstr);
  *n = count;
  return keys;
}

/* Pushes the canonical JSON of the flat table at t. */
static const char *push_flat_json(lua_State *L, int t, const char *what) {
  luaL_Buffer b;
  size_t n;
  t = lua_absindex(L, t);
  /* sorted keys first, so that the buffer is the top of the stack while
  ** it is being filled */
  const char **keys = sorted_keys(L, t, what, &n);
  luaL_buffinit(L, &b);
  luaL_addchar(&b, '{');
  for (size_t i = 0; i < n; i++) {
    if (i) luaL_addchar(&b, ',');
    json_string(&b, keys[i], strlen(keys[i]));
    luaL_addchar(&b, ':');
    lua_getfield(L, t, keys[i]);
    json_scalar(L, &b, -1, what, keys[i]);
    lua_pop(L, 1);
  }
  luaL_addchar(&b, '}');
  luaL_pushresult(&b);
  lua_remove(L, -2);   /* keys */
  return lua_tostring(L, -1);
}

/* ==================================================== run identity */

typedef struct run_spec {
  const char *experiment;
  int has_seed;
  lua_Integer seed;
  lua_Integer repetition;
  int params;                  /* stack index of the params table */
} run_spec;

static void check_known_keys(lua_State *L, int t, const char *const *known,
                             const char *what) {
  lua_pushnil(L);
  while (lua_next(L, t)) {
    int ok = 0;
    if (lua_type(L, -2) == LUA_TSTRING) {
      const char *k = lua_tostring(L, -2);
      for (size_t i = 0; known[i]; i++)
        if (strcmp(k, known[i]) == 0) ok = 1;
    }
    if (!ok) {
      luaL_Buffer b;
      luaL_buffinit(L, &b);
      for (size_t i = 0; known[i]; i++) {
        if (i) luaL_addstring(&b, ", ");
        luaL_addstring(&b, known[i]);
      }
      luaL_pushresult(&b);                      /* key value known */
      const char *list = lua_tostring(L, -1);
      const char *bad = luaL_tolstring(L, -3, NULL);
      luaL_error(L, "%s: unknown option '%s' (known: %s)", what, bad, list);
    }
    lua_pop(L, 1);
  }
}

/* Reads {experiment=, params=, seed=, repetition=} at arg. Pushes the
** params table (an empty one when absent) and fills spec. */
static void read_run_spec(lua_State *L, int arg, run_spec *spec) {
  static const char *const known[] = { "experiment", "params", "seed",
                                       "repetition", NULL };
  luaL_checktype(L, arg, LUA_TTABLE);
  check_known_keys(L, arg, known, "begin_run");

  lua_getfield(L, arg, "experiment");
  if (lua_type(L, -1) != LUA_TSTRING || lua_rawlen(L, -1) == 0)
    luaL_error(L, "begin_run: 'experiment' must be a non-empty string");
  spec->experiment = lua_tostring(L, -1);   /* anchored by the arg table */
  lua_pop(L, 1);

  lua_getfield(L, arg, "seed");
  spec->has_seed = !lua_isnil(L, -1);
  spec->seed = 0;
  if (spec->has_seed) {
    int isint;
    spec->seed = lua_tointegerx(L, -1, &isint);
    if (!isint) luaL_error(L, "begin_run: 'seed' must be an integer");
  }
  lua_pop(L, 1);

  lua_getfield(L, arg, "repetition");
  spec->repetition = 1;
  if (!lua_isnil(L, -1)) {
    int isint;
    spec->repetition = lua_tointegerx(L, -1, &isint);
    if (!isint || spec->repetition < 1)
      luaL_error(L, "begin_run: 'repetition' must be an integer >= 1");
  }
  lua_pop(L, 1);

  lua_getfield(L, arg, "params");
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    lua_newtable(L);
  } else if (!lua_istable(L, -1)) {
    luaL_error(L, "begin_run: 'params' must be a table");
  }
  spec->params = lua_gettop(L);
}

/* Pushes the canonical params JSON and returns it; writes the run_key
** (16 hex digits and a NUL) into key. */
static const char *push_identity(lua_State *L, const run_spec *spec,
                                 char key[17]) {
  luaL_Buffer b;
  char num[32];
  const char *params_json = push_flat_json(L, spec->params, "params");
  size_t plen = lua_rawlen(L, -1);
  luaL_buffinit(L, &b);
  luaL_addstring(&b, "{\"experiment\":");
  json_string(&b, spec->experiment, strlen(spec->experiment));
  luaL_addstring(&b, ",\"params\":");
  luaL_addlstring(&b, params_json, plen);
  snprintf(num, sizeof num, "%lld", (long long)spec->repetition);
  luaL_addstring(&b, ",\"repetition\":");
  luaL_addstring(&b, num);
  luaL_addstring(&b, ",\"seed\":");
  if (spec->has_seed) {
    snprintf(num, sizeof num, "%lld", (long long)spec->seed);
    luaL_addstring(&b, num);
  } else {
    luaL_addstring(&b, "null");
  }
  luaL_addchar(&b, '}');
  luaL_pushresult(&b);
  size_t n;
  const char *ident = lua_tolstring(L, -1, &n);
  snprintf(key, 17, "%016llx", (unsigned long long)fnv1a64(ident, n));
  lua_pop(L, 1);
  return params_json;
}

/* results.run_key{experiment=, params=, seed=, repetition=}
**   → run_key, params_json   (what begin_run would record) */
static int results_run_key(lua_State *L) {
  run_spec spec;
  char key[17];
  read_run_spec(L, 1, &spec);
  push_identity(L, &spec, key);
  lua_pushstring(L, key);
  lua_insert(L, -2);
  return 2;
}

/* ============================================================ SQLite glue */

/* Raises "results database: <what>: <sqlite message>". */
static int db_fail(lua_State *L, sqlite3 *db, const char *what) {
  return luaL_error(L, "results database: %s: %s", what, sqlite3_errmsg(db));
}

static int exec_sql(sqlite3 *db, const char *sql) {
  return sqlite3_exec(db, sql, NULL, NULL, NULL);
}

static const char SCHEMA_SQL[] =
  "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT);\n"
  "CREATE TABLE IF NOT EXISTS run(\n"
  "  run_id INTEGER PRIMARY KEY,\n"
  "  run_key TEXT NOT NULL UNIQUE,\n"
  "  experiment TEXT NOT NULL,\n"
  "  status TEXT NOT NULL CHECK (status IN ('ok','failed','running')),\n"
  "  seed INTEGER,\n"
  "  repetition INTEGER NOT NULL DEFAULT 1,\n"
  "  params_json TEXT NOT NULL,\n"
  "  started_at TEXT NOT NULL,\n"
  "  finished_at TEXT,\n"
  "  host TEXT,\n"
  "  version TEXT,\n"
  "  error TEXT);\n"
  "CREATE TABLE IF NOT EXISTS param(\n"
  "  run_id INTEGER NOT NULL REFERENCES run(run_id) ON DELETE CASCADE,\n"
  "  key TEXT NOT NULL,\n"
  "  value,\n"
  "  value_num REAL,\n"
  "  PRIMARY KEY (run_id, key));\n"
  "CREATE TABLE IF NOT EXISTS metric(\n"
  "  run_id INTEGER NOT NULL REFERENCES run(run_id) ON DELETE CASCADE,\n"
  "  key TEXT NOT NULL,\n"
  "  value REAL,\n"
  "  PRIMARY KEY (run_id, key));\n"
  "CREATE TABLE IF NOT EXISTS series(\n"
  "  run_id INTEGER NOT NULL REFERENCES run(run_id) ON DELETE CASCADE,\n"
  "  key TEXT NOT NULL,\n"
  "  step INTEGER NOT NULL,\n"
  "  value REAL);\n"
  /* one row per rec:snapshot call; its rows per view in snapshot_row */
  "CREATE TABLE IF NOT EXISTS snapshot(\n"
  "  snapshot_id INTEGER PRIMARY KEY,\n"
  "  run_id INTEGER NOT NULL REFERENCES run(run_id) ON DELETE CASCADE,\n"
  "  label TEXT NOT NULL,\n"
  "  step INTEGER,\n"
  "  page_size INTEGER);\n"
  "CREATE TABLE IF NOT EXISTS snapshot_row(\n"
  "  snapshot_id INTEGER NOT NULL\n"
  "    REFERENCES snapshot(snapshot_id) ON DELETE CASCADE,\n"
  "  view TEXT NOT NULL,\n"
  "  pid INTEGER,\n"
  "  process TEXT,\n"
  "  row_no INTEGER NOT NULL,\n"
  "  row_json TEXT NOT NULL,\n"
  "  PRIMARY KEY (snapshot_id, view, row_no));\n"
  "CREATE INDEX IF NOT EXISTS run_by_experiment ON run(experiment, status);\n"
  "CREATE INDEX IF NOT EXISTS param_by_key ON param(key, value_num);\n"
  "CREATE INDEX IF NOT EXISTS metric_by_key ON metric(key);\n"
  "CREATE INDEX IF NOT EXISTS series_by_run ON series(run_id, key, step);\n"
  "CREATE INDEX IF NOT EXISTS snapshot_by_run ON snapshot(run_id, label);\n"
  /* one row per run, its metrics folded into one JSON object */
  "CREATE VIEW IF NOT EXISTS run_summary AS\n"
  "  SELECT r.run_id, r.experiment, r.status, r.seed, r.repetition,\n"
  "         r.params_json,\n"
  "         (SELECT json_group_object(m.key, m.value) FROM metric m\n"
  "           WHERE m.run_id = r.run_id) AS metrics_json,\n"
  "         (SELECT count(*) FROM metric m WHERE m.run_id = r.run_id) AS metrics,\n"
  "         (SELECT count(*) FROM series s WHERE s.run_id = r.run_id) AS series_points,\n"
  "         r.started_at, r.finished_at,\n"
  "         round((julianday(r.finished_at) - julianday(r.started_at)) * 86400.0, 3)\n"
  "           AS seconds,\n"
  "         r.error, r.run_key, r.host, r.version\n"
  "    FROM run r;\n"
  /* one row per (run, metric), every run whatever its status */
  "CREATE VIEW IF NOT EXISTS run_metrics AS\n"
  "  SELECT r.run_id, r.experiment, r.status, r.seed, r.repetition,\n"
  "         r.params_json, m.key, m.value\n"
  "    FROM run r JOIN metric m ON m.run_id = r.run_id;\n"
  /* one row per (run, param, metric) of successful runs: GROUP BY food */
  "CREATE VIEW IF NOT EXISTS param_metric AS\n"
  "  SELECT r.run_id, r.experiment, r.seed, r.repetition,\n"
  "         p.key AS param, p.value AS param_value, p.value_num AS param_num,\n"
  "         m.key AS metric, m.value AS value\n"
  "    FROM run r JOIN param p ON p.run_id = r.run_id\n"
  "               JOIN metric m ON m.run_id = r.run_id\n"
  "   WHERE r.status = 'ok';\n"
  /* one row per stored view row, with its run and snapshot */
  "CREATE VIEW IF NOT EXISTS snapshot_rows AS\n"
  "  SELECT s.run_id, s.snapshot_id, s.label, s.step, s.page_size,\n"
  "         w.view, w.pid, w.process, w.row_no, w.row_json\n"
  "    FROM snapshot s JOIN snapshot_row w ON w.snapshot_id = s.snapshot_id;\n";

/* Schema 1 kept snapshots as snapshot(run_id, label, view, row_json): one
** snapshot per (run, label), its rows in insertion order. Run inside the
** transaction that opens the file, before SCHEMA_SQL creates the new
** tables (the old index name is reused, so it goes first). */
static const char MIGRATE_1_TO_2_SQL[] =
  "DROP INDEX IF EXISTS snapshot_by_run;\n"
  "ALTER TABLE snapshot RENAME TO snapshot_v1;\n";
static const char MIGRATE_1_TO_2_COPY_SQL[] =
  "INSERT INTO snapshot(run_id, label)\n"
  "  SELECT run_id, label FROM snapshot_v1\n"
  "   GROUP BY run_id, label ORDER BY min(rowid);\n"
  "INSERT INTO snapshot_row(snapshot_id, view, row_no, row_json)\n"
  "  SELECT s.snapshot_id, o.view,\n"
  "         row_number() OVER (PARTITION BY s.snapshot_id, o.view\n"
  "                            ORDER BY o.rowid), o.row_json\n"
  "    FROM snapshot_v1 o JOIN snapshot s\n"
  "      ON s.run_id = o.run_id AND s.label = o.label;\n"
  "DROP TABLE snapshot_v1;\n"
  "UPDATE meta SET value = '2' WHERE key = 'schema_version';\n";

/* The staging tables of invariant 1: one run at a time per connection, so
** no run_id column; snapshot_no numbers the run's snapshots from 1. They
** live in SQLite's temp store (the default: a private temporary file behind
** a small page cache, never synced), so a run sampling millions of points
** spills to disk instead of filling memory. (A bigger temp cache_size made
** the per-sample autocommits ten times slower.) */
static const char STAGE_SQL[] =
  "CREATE TEMP TABLE IF NOT EXISTS pl_stage_run(run_key TEXT NOT NULL,\n"
  "  experiment TEXT NOT NULL, seed INTEGER, repetition INTEGER NOT NULL,\n"
  "  params_json TEXT NOT NULL, started_at TEXT NOT NULL, host TEXT,\n"
  "  version TEXT);\n"
  "CREATE TEMP TABLE IF NOT EXISTS pl_stage_param(key TEXT PRIMARY KEY,\n"
  "  value, value_num REAL);\n"
  "CREATE TEMP TABLE IF NOT EXISTS pl_stage_metric(key TEXT PRIMARY KEY,\n"
  "  value REAL);\n"
  "CREATE TEMP TABLE IF NOT EXISTS pl_stage_series(key TEXT NOT NULL,\n"
  "  step INTEGER NOT NULL, value REAL);\n"
  "CREATE TEMP TABLE IF NOT EXISTS pl_stage_snapshot(\n"
  "  snapshot_no INTEGER PRIMARY KEY, label TEXT NOT NULL, step INTEGER,\n"
  "  page_size INTEGER);\n"
  "CREATE TEMP TABLE IF NOT EXISTS pl_stage_snapshot_row(\n"
  "  snapshot_no INTEGER NOT NULL, view TEXT NOT NULL, pid INTEGER,\n"
  "  process TEXT, row_no INTEGER NOT NULL, row_json TEXT NOT NULL);\n";

static const char STAGE_CLEAR_SQL[] =
  "DELETE FROM temp.pl_stage_run; DELETE FROM temp.pl_stage_param;\n"
  "DELETE FROM temp.pl_stage_metric; DELETE FROM temp.pl_stage_series;\n"
  "DELETE FROM temp.pl_stage_snapshot;\n"
  "DELETE FROM temp.pl_stage_snapshot_row;\n";

/* Reads meta.schema_version: -1 when there is no meta table, 0 when the
** table has no version row. Returns an SQLite code. */
static int read_schema_version(sqlite3 *db, long *version, int *tables) {
  sqlite3_stmt *st;
  int rc = sqlite3_prepare_v2(db, "SELECT count(*), "
      "count(CASE WHEN name = 'meta' THEN 1 END) FROM sqlite_master "
      "WHERE type = 'table'", -1, &st, NULL);
  if (rc != SQLITE_OK) return rc;
  rc = sqlite3_step(st);
  if (rc != SQLITE_ROW) { sqlite3_finalize(st); return rc; }
  *tables = sqlite3_column_int(st, 0);
  int has_meta = sqlite3_column_int(st, 1);
  sqlite3_finalize(st);
  *version = -1;
  if (!has_meta) return SQLITE_OK;
  rc = sqlite3_prepare_v2(db, "SELECT value FROM meta "
                          "WHERE key = 'schema_version'", -1, &st, NULL);
  if (rc != SQLITE_OK) return rc;
  rc = sqlite3_step(st);
  *version = 0;
  if (rc == SQLITE_ROW) {
    const char *v = (const char *)sqlite3_column_text(st, 0);
    *version = v ? strtol(v, NULL, 10) : 0;
  }
  sqlite3_finalize(st);
  return rc == SQLITE_ROW || rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* True when the file at path exists, is not empty and does not start with
** the SQLite header (so SQLite would later fail with an obscure message). */
static int not_sqlite(const char *path) {
  static const char magic[16] = "SQLite format 3";   /* with its NUL */
  char head[16];
  FILE *f = fopen(path, "rb");
  if (!f) return 0;                  /* missing: SQLite creates it */
  size_t n = fread(head, 1, sizeof head, f);
  fclose(f);
  return n > 0 && (n < sizeof head || memcmp(head, magic, sizeof head) != 0);
}

/* mkdir -p of the directory part of path. Returns 0 or an errno value. */
static int make_parent_dirs(const char *path) {
  size_t n = strlen(path);
  char *dir = malloc(n + 1);
  if (!dir) return ENOMEM;
  memcpy(dir, path, n + 1);
  char *slash = strrchr(dir, '/');
  int err = 0;
  if (slash && slash != dir) {
    *slash = '\0';
    for (char *p = dir + 1; ; p++) {
      if (*p == '/' || *p == '\0') {
        char c = *p;
        *p = '\0';
        if (mkdir(dir, 0777) != 0 && errno != EEXIST) { err = errno; break; }
        *p = c;
        if (c == '\0') break;
      }
    }
  }
  free(dir);
  return err;
}

/* Reads the schema version in a transaction begun with begin ("BEGIN" or
** "BEGIN IMMEDIATE", left open) and checks it. Returns NULL, or a message
** for a file that must be refused (the caller rolls back). */
static const char *check_schema(sqlite3 *db, const char *path,
                                const char *begin, long *version, char *msg,
                                size_t len) {
  int tables = 0;
  int rc = exec_sql(db, begin);
  if (rc == SQLITE_OK) rc = read_schema_version(db, version, &tables);
  if (rc == SQLITE_NOTADB) {
    snprintf(msg, len, "'%s' is not a SQLite database", path);
    return msg;
  }
  if (rc != SQLITE_OK) {
    snprintf(msg, len, "cannot open results database '%s': %s", path,
             sqlite3_errmsg(db));
    return msg;
  }
  if (*version < 0 && tables > 0) {
    snprintf(msg, len, "'%s' is a SQLite database but not a pagelab results "
             "database (it has tables and no meta table)", path);
    return msg;
  }
  if (*version > PL_RESULTS_SCHEMA_VERSION) {
    snprintf(msg, len, "'%s' has results schema version %ld, newer than "
             "this pagelab understands (%d): use a newer pagelab", path,
             *version, PL_RESULTS_SCHEMA_VERSION);
    return msg;
  }
  return NULL;
}

/* Switching a new file to WAL needs the database to itself, and SQLite
** answers SQLITE_BUSY at once, without its busy handler, when another
** connection is opening the same new file: so retry, up to the timeout. */
static int exec_patient(sqlite3 *db, const char *sql) {
  int rc, waited = 0;
  while ((rc = exec_sql(db, sql)) == SQLITE_BUSY || rc == SQLITE_LOCKED) {
    if (waited >= BUSY_TIMEOUT_MS) break;
    sqlite3_sleep(10);
    waited += 10;
  }
  return rc;
}

/* Sets up a fresh connection: pragmas, schema (created, migrated or
** checked). On failure returns a message (static or SQLite's, valid until
** close). A file that is refused is left byte for byte as it was: it is
** checked in a read transaction before anything (even journal_mode=WAL,
** which rewrites the header) may write to it. */
static const char *setup_connection(pl_db *d, const char *path,
                                    char *msg, size_t len) {
  sqlite3 *db = d->db;
  long version = -1;
  int rc;
  const char *err;
  sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS);
  /* before BEGIN: inside a transaction this pragma is a no-op; a failure
  ** here shows again, with a better message, when the schema is read */
  exec_sql(db, "PRAGMA foreign_keys=ON");
  if ((err = check_schema(db, path, "BEGIN", &version, msg, len))) return err;
  exec_sql(db, "COMMIT");
  if (d->readonly) {
    if (version < 0) {
      snprintf(msg, len, "'%s' is not a pagelab results database (empty)",
               path);
      return msg;
    }
    return NULL;
  }
  rc = exec_patient(db, "PRAGMA journal_mode=WAL");
  if (rc == SQLITE_OK) rc = exec_patient(db, "PRAGMA synchronous=NORMAL");
  if (rc != SQLITE_OK) {
    snprintf(msg, len, "cannot write results database '%s': %s", path,
             sqlite3_errmsg(db));
    return msg;
  }
  /* BEGIN IMMEDIATE: two sweep jobs creating the same new file must not
  ** both create the schema; the second one waits and checks it again. */
  if ((err = check_schema(db, path, "BEGIN IMMEDIATE", &version, msg, len)))
    return err;
  int migrate = version == 1;
  rc = migrate ? exec_sql(db, MIGRATE_1_TO_2_SQL) : SQLITE_OK;
  if (rc == SQLITE_OK) rc = exec_sql(db, SCHEMA_SQL);
  if (rc == SQLITE_OK && migrate) rc = exec_sql(db, MIGRATE_1_TO_2_COPY_SQL);
  if (rc == SQLITE_OK) {
    char sql[160];
    snprintf(sql, sizeof sql, "INSERT OR IGNORE INTO meta(key, value) "
             "VALUES ('schema_version', '%d'), ('pagelab_version', '%s')",
             PL_RESULTS_SCHEMA_VERSION, MM_VERSION);
    rc = exec_sql(db, sql);
  }
  if (rc == SQLITE_OK) rc = exec_sql(db, "COMMIT");
  if (rc == SQLITE_OK) rc = exec_sql(db, STAGE_SQL);
  if (rc == SQLITE_OK)
    rc = sqlite3_prepare_v3(db, "INSERT OR REPLACE INTO "
                            "temp.pl_stage_metric(key, value) VALUES (?, ?)",
                            -1, SQLITE_PREPARE_PERSISTENT, &d->st_metric,
                            NULL);
  if (rc == SQLITE_OK)
    rc = sqlite3_prepare_v3(db, "INSERT INTO temp.pl_stage_series(key, step, "
                            "value) VALUES (?, ?, ?)", -1,
                            SQLITE_PREPARE_PERSISTENT, &d->st_series, NULL);
  if (rc != SQLITE_OK) {
    snprintf(msg, len, "cannot write results database '%s': %s", path,
             sqlite3_errmsg(db));
    return msg;
  }
  return NULL;
}

/* ==================================================================== Db */

static pl_db *to_db(lua_State *L, int idx) {
  return luaL_checkudata(L, idx, DB_MT);
}

static pl_db *check_db(lua_State *L, int idx) {
  pl_db *d = to_db(L, idx);
  if (!d->db) luaL_error(L, "attempt to use a closed Db");
  return d;
}

/* Ends the run in flight without recording it (invariant 2). A sampler
** it set stays registered but inert (r->db is NULL) until the Rec's own
** finalizer, which can reach the System, removes it. */
static void rec_abandon(pl_rec *r) {
  if (!r->db) return;
  if (r->db->db) exec_sql(r->db->db, STAGE_CLEAR_SQL);
  r->db->active = NULL;
  r->db = NULL;
}

static void db_release(pl_db *d) {
  if (d->active) rec_abandon(d->active);
  if (d->db) {
    sqlite3_finalize(d->st_metric);
    sqlite3_finalize(d->st_series);
    d->st_metric = d->st_series = NULL;
    sqlite3_close_v2(d->db);
    d->db = NULL;
  }
}

/* __gc, __close and db:close: idempotent. A run still in flight is rolled
** back: it never happened. */
static int db_close(lua_State *L) {
  db_release(to_db(L, 1));
  return 0;
}

/* Boolean field of an options table (nil = false); raises on other types. */
static int opt_bool(lua_State *L, int t, const char *k) {
  int v = 0;
  if (lua_isnoneornil(L, t)) return 0;
  lua_getfield(L, t, k);
  if (!lua_isnil(L, -1)) {
    if (!lua_isboolean(L, -1))
      luaL_error(L, "open: option '%s' must be a boolean", k);
    v = lua_toboolean(L, -1);
  }
  lua_pop(L, 1);
  return v;
}

/* results.open(path [, {readonly=, mkdir=}]) → Db | nil, message */
static int results_open(lua_State *L) {
  static const char *const known[] = { "readonly", "mkdir", NULL };
  const char *path = luaL_checkstring(L, 1);
  char msg[1024];
  if (!lua_isnoneornil(L, 2)) {
    luaL_checktype(L, 2, LUA_TTABLE);
    check_known_keys(L, 2, known, "open");
  }
  int readonly = opt_bool(L, 2, "readonly");
  int mkdirs = opt_bool(L, 2, "mkdir");
  lua_settop(L, 2);

  if (not_sqlite(path)) {
    lua_pushnil(L);
    lua_pushfstring(L, "'%s' is not a SQLite database", path);
    return 2;
  }
  if (mkdirs && !readonly) {
    int err = make_parent_dirs(path);
    if (err) {
      lua_pushnil(L);
      lua_pushfstring(L, "cannot create the directory of '%s': %s", path,
                      strerror(err));
      return 2;
    }
  }
  pl_db *d = lua_newuserdatauv(L, sizeof *d, 0);
  memset(d, 0, sizeof *d);
  d->readonly = readonly;
  luaL_setmetatable(L, DB_MT);
  int flags = readonly ? SQLITE_OPEN_READONLY
                       : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
  int rc = sqlite3_open_v2(path, &d->db, flags, NULL);
  const char *err = NULL;
  if (rc != SQLITE_OK) {
    snprintf(msg, sizeof msg, "cannot open results database '%s': %s", path,
             d->db ? sqlite3_errmsg(d->db) : sqlite3_errstr(rc));
    err = msg;
  } else {
    err = setup_connection(d, path, msg, sizeof msg);
  }
  if (err) {
    lua_pushnil(L);
    lua_pushstring(L, err);
    if (d->db) exec_sql(d->db, "ROLLBACK");
    db_release(d);
    return 2;
  }
  return 1;
}

/* Binds the Lua value at idx to parameter i (nil, boolean, number, string). */
static int bind_value(lua_State *L, sqlite3_stmt *st, int i, int idx) {
  switch (lua_type(L, idx)) {
  case LUA_TNIL: return sqlite3_bind_null(st, i);
  case LUA_TBOOLEAN: return sqlite3_bind_int(st, i, lua_toboolean(L, idx));
  case LUA_TNUMBER:
    if (lua_isinteger(L, idx))
      return sqlite3_bind_int64(st, i, (sqlite3_int64)lua_tointeger(L, idx));
    return sqlite3_bind_double(st, i, lua_tonumber(L, idx));
  case LUA_TSTRING: {
    size_t n;
    const char *s = lua_tolstring(L, idx, &n);
    return sqlite3_bind_text64(st, i, s, n, SQLITE_TRANSIENT, SQLITE_UTF8);
  }
  default:
    return luaL_error(L, "query: parameter %d: cannot bind a %s", i,
                      luaL_typename(L, idx));
  }
}

static void push_column(lua_State *L, sqlite3_stmt *st, int c) {
  switch (sqlite3_column_type(st, c)) {
  case SQLITE_INTEGER:
    lua_pushinteger(L, (lua_Integer)sqlite3_column_int64(st, c));
    break;
  case SQLITE_FLOAT:
    lua_pushnumber(L, sqlite3_column_double(st, c));
    break;
  case SQLITE_NULL:
    lua_pushnil(L);
    break;
  default:
    lua_pushlstring(L, (const char *)sqlite3_column_blob(st, c),
                    (size_t)sqlite3_column_bytes(st, c));
  }
}

/* Statement holder: a userdata whose __gc finalizes the statement, so
** that raising midway (a bad row, a bad binding) leaks nothing. */
static int stmt_gc(lua_State *L) {
  sqlite3_stmt **pst = lua_touserdata(L, 1);
  if (*pst) sqlite3_finalize(*pst);
  *pst = NULL;
  return 0;
}

static sqlite3_stmt **push_stmt_holder(lua_State *L) {
  sqlite3_stmt **pst = lua_newuserdatauv(L, sizeof *pst, 0);
  *pst = NULL;
  if (luaL_newmetatable(L, "pagelab.Stmt")) {
    lua_pushcfunction(L, stmt_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_setmetatable(L, -2);
  return pst;
}

/* Finalizes *pst and raises "results database: what: message". */
static int stmt_fail(lua_State *L, sqlite3 *db, sqlite3_stmt **pst,
                     const char *what) {
  lua_pushfstring(L, "results database: %s: %s", what, sqlite3_errmsg(db));
  sqlite3_finalize(*pst);
  *pst = NULL;
  return lua_error(L);
}

/* db:query(sql, ...) → rows, columns
** Runs every statement of sql in order; the ... values bind to the first
** one. rows: array of {column = value} (NULL columns absent); columns:
** array of the column names of the last statement that has columns. */
static int db_query(lua_State *L) {
  pl_db *d = check_db(L, 1);
  const char *sql = luaL_checkstring(L, 2);
  int nargs = lua_gettop(L) - 2, first = 1;
  sqlite3_stmt **pst = push_stmt_holder(L);
  int holder = lua_gettop(L);
  lua_newtable(L);                      /* rows */
  lua_newtable(L);                      /* columns */
  int rows = holder + 1, cols = holder + 2;
  while (*sql) {
    const char *tail;
    int rc = sqlite3_prepare_v2(d->db, sql, -1, pst, &tail);
    if (rc != SQLITE_OK) return stmt_fail(L, d->db, pst, "query");
    sql = tail;
    if (!*pst) continue;                /* whitespace or a comment */
    if (first) {
      if (nargs > sqlite3_bind_parameter_count(*pst)) {
        lua_pushfstring(L, "query: %d values for %d parameters", nargs,
                        sqlite3_bind_parameter_count(*pst));
        sqlite3_finalize(*pst);
        *pst = NULL;
        return lua_error(L);
      }
      for (int i = 1; i <= nargs; i++) bind_value(L, *pst, i, 2 + i);
      first = 0;
    }
    int ncol = sqlite3_column_count(*pst);
    if (ncol > 0) {
      lua_newtable(L);
      for (int c = 0; c < ncol; c++) {
        lua_pushstring(L, sqlite3_column_name(*pst, c));
        lua_rawseti(L, -2, c + 1);
      }
      lua_replace(L, cols);
      lua_newtable(L);
      lua_replace(L, rows);
    }
    lua_Integer n = 0;
    while ((rc = sqlite3_step(*pst)) == SQLITE_ROW) {
      lua_createtable(L, 0, ncol);
      for (int c = 0; c < ncol; c++) {
        push_column(L, *pst, c);
        lua_setfield(L, -2, sqlite3_column_name(*pst, c));
      }
      lua_rawseti(L, rows, ++n);
    }
    if (rc != SQLITE_DONE) return stmt_fail(L, d->db, pst, "query");
    sqlite3_finalize(*pst);
    *pst = NULL;
  }
  return 2;
}

/* db:completed(run_key) → true when that run finished with status 'ok' */
static int db_completed(lua_State *L) {
  pl_db *d = check_db(L, 1);
  size_t n;
  const char *key = luaL_checklstring(L, 2, &n);
  sqlite3_stmt *st;
  if (sqlite3_prepare_v2(d->db, "SELECT 1 FROM run WHERE run_key = ? "
                         "AND status = 'ok'", -1, &st, NULL) != SQLITE_OK)
    return db_fail(L, d->db, "completed");
  sqlite3_bind_text(st, 1, key, (int)n, SQLITE_TRANSIENT);
  int rc = sqlite3_step(st);
  sqlite3_finalize(st);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE)
    return db_fail(L, d->db, "completed");
  lua_pushboolean(L, rc == SQLITE_ROW);
  return 1;
}

static int db_tostring(lua_State *L) {
  pl_db *d = to_db(L, 1);
  const char *f = d->db ? sqlite3_db_filename(d->db, "main") : NULL;
  lua_pushfstring(L, "Db (%s)", d->db ? (f && *f ? f : ":memory:") : "closed");
  return 1;
}

/* ============================================================= begin_run */

/* value_num of a parameter: numbers as they are, booleans 0/1, strings
** that are a number or a size with a binary unit ("64MiB") as that
** number of bytes; otherwise NULL. */
static int param_number(lua_State *L, int idx, double *out) {
  static const struct { const char *suffix; double mult; } units[] = {
    { "B", 1.0 }, { "KiB", 1024.0 }, { "MiB", 1048576.0 },
    { "GiB", 1073741824.0 }, { "TiB", 1099511627776.0 }, { NULL, 0 }
  };
  switch (lua_type(L, idx)) {
  case LUA_TNUMBER: *out = lua_tonumber(L, idx); return 1;
  case LUA_TBOOLEAN: *out = lua_toboolean(L, idx); return 1;
  case LUA_TSTRING: {
    const char *s = lua_tostring(L, idx);
    char *end;
    if (!*s) return 0;
    double x = strtod(s, &end);
    if (end == s) return 0;
    while (*end == ' ') end++;
    if (!*end) { *out = x; return 1; }
    for (size_t i = 0; units[i].suffix; i++)
      if (strcmp(end, units[i].suffix) == 0) {
        *out = x * units[i].mult;
        return 1;
      }
    return 0;
  }
  default: return 0;
  }
}

/* Stages the params of the run (invariant 1). */
static int insert_params(lua_State *L, sqlite3 *db, int params) {
  sqlite3_stmt *st;
  int rc = sqlite3_prepare_v2(db, "INSERT INTO temp.pl_stage_param(key, "
                              "value, value_num) VALUES (?, ?, ?)", -1, &st,
                              NULL);
  if (rc != SQLITE_OK) return rc;
  lua_pushnil(L);
  while (rc == SQLITE_OK && lua_next(L, params)) {
    double num;
    sqlite3_bind_text(st, 1, lua_tostring(L, -2), -1, SQLITE_TRANSIENT);
    if (lua_isboolean(L, -1))
      sqlite3_bind_text(st, 2, lua_toboolean(L, -1) ? "true" : "false", -1,
                        SQLITE_STATIC);
    else
      bind_value(L, st, 2, -1);
    if (param_number(L, -1, &num))
      sqlite3_bind_double(st, 3, num);
    else
      sqlite3_bind_null(st, 3);
    rc = sqlite3_step(st);
    rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
    sqlite3_reset(st);
    lua_pop(L, 1);
  }
  if (rc != SQLITE_OK) lua_pop(L, 1);   /* the key lua_next left */
  sqlite3_finalize(st);
  return rc;
}

/* Stages the run row and its params (invariant 1). */
static int insert_run(lua_State *L, pl_db *d, const run_spec *spec,
                      const char *key, const char *params_json) {
  sqlite3_stmt *st;
  char host[256] = "";
  if (gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
  int rc = sqlite3_prepare_v2(d->db,
      "INSERT INTO temp.pl_stage_run(run_key, experiment, seed, repetition, "
      "params_json, started_at, host, version) VALUES (?, ?, ?, ?, "
      "?, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), ?, ?)", -1, &st, NULL);
  if (rc != SQLITE_OK) return rc;
  sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, spec->experiment, -1, SQLITE_STATIC);
  if (spec->has_seed) sqlite3_bind_int64(st, 3, (sqlite3_int64)spec->seed);
  sqlite3_bind_int64(st, 4, (sqlite3_int64)spec->repetition);
  sqlite3_bind_text(st, 5, params_json, -1, SQLITE_STATIC);
  if (host[0]) sqlite3_bind_text(st, 6, host, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(st, 7, MM_VERSION, -1, SQLITE_STATIC);
  rc = sqlite3_step(st);
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE) return rc;
  return insert_params(L, d->db, spec->params);
}

/* db:begin_run{experiment=, params=, seed=, repetition=} → Rec */
static int db_begin_run(lua_State *L) {
  pl_db *d = check_db(L, 1);
  run_spec spec;
  char key[17];
  if (d->readonly) return luaL_error(L, "begin_run: the Db is read-only");
  if (d->active)
    return luaL_error(L, "begin_run: a run is already in progress on this "
                      "Db (finish it first)");
  read_run_spec(L, 2, &spec);
  const char *params_json = push_identity(L, &spec, key);
  pl_rec *r = lua_newuserdatauv(L, sizeof *r, 2);
  memset(r, 0, sizeof *r);

  /* nothing touches the results file until finish (invariant 2) */
  int rc = exec_sql(d->db, STAGE_CLEAR_SQL);
  if (rc == SQLITE_OK) rc = insert_run(L, d, &spec, key, params_json);
  if (rc != SQLITE_OK) {
    lua_pushfstring(L, "results database: begin_run: %s",
                    sqlite3_errmsg(d->db));
    exec_sql(d->db, STAGE_CLEAR_SQL);
    return lua_error(L);
  }
  r->db = d;
  memcpy(r->run_key, key, sizeof r->run_key);
  luaL_setmetatable(L, REC_MT);
  lua_pushvalue(L, 1);
  lua_setiuservalue(L, -2, 1);          /* invariant 3 */
  d->active = r;
  return 1;
}

/* =================================================================== Rec */

static pl_rec *to_rec(lua_State *L, int idx) {
  return luaL_checkudata(L, idx, REC_MT);
}

static pl_rec *check_rec(lua_State *L, int idx) {
  pl_rec *r = to_rec(L, idx);
  if (!r->db) luaL_error(L, "attempt to use a finished Rec (key %s)",
                         r->run_key);
  if (!r->db->db) luaL_error(L, "attempt to use a closed Db");
  return r;
}

static int insert_metric(pl_db *d, const char *key, double value) {
  sqlite3_stmt *st = d->st_metric;
  sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
  sqlite3_bind_double(st, 2, value);
  int rc = sqlite3_step(st);
  sqlite3_reset(st);
  return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static int insert_series(pl_db *d, const char *key, sqlite3_int64 step,
                         double value) {
  sqlite3_stmt *st = d->st_series;
  sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 2, step);
  sqlite3_bind_double(st, 3, value);
  int rc = sqlite3_step(st);
  sqlite3_reset(st);
  return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static double check_value(lua_State *L, int idx) {
  if (lua_isboolean(L, idx)) return lua_toboolean(L, idx);
  return luaL_checknumber(L, idx);
}

/* rec:metric(key, number): the last value recorded under a key wins */
static int rec_metric(lua_State *L) {
  pl_rec *r = check_rec(L, 1);
  const char *key = luaL_checkstring(L, 2);
  double v = check_value(L, 3);
  if (insert_metric(r->db, key, v) != SQLITE_OK)
    return db_fail(L, r->db->db, "metric");
  return 0;
}

/* rec:series(key, step, value) */
static int rec_series(lua_State *L) {
  pl_rec *r = check_rec(L, 1);
  const char *key = luaL_checkstring(L, 2);
  lua_Integer step = luaL_checkinteger(L, 3);
  double v = check_value(L, 4);
  if (insert_series(r->db, key, (sqlite3_int64)step, v) != SQLITE_OK)
    return db_fail(L, r->db->db, "series");
  return 0;
}

/* ------------------------------------------------------------ snapshots */

/* What rec:snapshot(sys, label) asks for: the Sysinternals views the core
** offers (p:vmmap() per process, sys:rammap(), sys:poolused()), each only
** when the object has the method. name_field names a row when a view comes
** keyed by name ({ image = {...}, private = {...} }) instead of as a list. */
typedef struct snap_view {
  const char *view;
  int per_process;
  const char *name_field;
} snap_view;

static const snap_view snap_views[] = {
  { "vmmap", 1, "type" },
  { "rammap", 0, "use" },
  { "poolused", 0, "tag" },
  { NULL, 0, NULL }
};

typedef struct snap_ctx {
  sqlite3 *db;
  sqlite3_stmt *st;            /* INSERT INTO temp.pl_stage_snapshot_row */
  sqlite3_int64 snapshot_no;
  lua_Integer row_no;          /* rows of the current view so far */
  lua_Integer rows;            /* rows of the snapshot so far */
} snap_ctx;

/* Pushes the method obj[name] and returns 1, or pushes nothing and
** returns 0 when obj has no such function. */
static int push_method(lua_State *L, int obj, const char *name) {
  lua_getfield(L, obj, name);
  if (lua_isfunction(L, -1)) return 1;
  lua_pop(L, 1);
  return 0;
}

static int is_scalar(lua_State *L, int idx) {
  int t = lua_type(L, idx);
  return t == LUA_TNUMBER || t == LUA_TSTRING || t == LUA_TBOOLEAN;
}

/* Pushes a flat copy of the row table at idx: its scalar fields, and the
** scalar fields of a nested table as "field.sub"; other values are left
** out. When name_idx is not 0, the value there becomes field name_field
** unless the row has one. */
static void push_flat_row(lua_State *L, int idx, const char *name_field,
                          int name_idx) {
  idx = lua_absindex(L, idx);
  lua_newtable(L);
  int out = lua_gettop(L);
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    if (lua_type(L, -2) == LUA_TSTRING) {
      if (is_scalar(L, -1)) {
        lua_pushvalue(L, -2);
        lua_pushvalue(L, -2);
        lua_rawset(L, out);
      } else if (lua_istable(L, -1)) {
        const char *field = lua_tostring(L, -2);
        int sub = lua_gettop(L);
        lua_pushnil(L);
        while (lua_next(L, sub)) {
          if (lua_type(L, -2) == LUA_TSTRING && is_scalar(L, -1)) {
            lua_pushfstring(L, "%s.%s", field, lua_tostring(L, -2));
            lua_pushvalue(L, -2);
            lua_rawset(L, out);
          }
          lua_pop(L, 1);
        }
      }
    }
    lua_pop(L, 1);
  }
  if (name_idx) {
    if (lua_getfield(L, out, name_field) == LUA_TNIL) {
      lua_pushvalue(L, name_idx);
      lua_setfield(L, out, name_field);
    }
    lua_pop(L, 1);
  }
}

/* Stages the flat row on top of the stack (popped) as row_json. */
static void stage_row(lua_State *L, snap_ctx *c, const char *view,
                      lua_Integer pid, const char *process) {
  size_t len;
  char what[48];
  snprintf(what, sizeof what, "snapshot %s row", view);
  push_flat_json(L, -1, what);
  const char *json = lua_tolstring(L, -1, &len);
  sqlite3_stmt *st = c->st;
  sqlite3_bind_int64(st, 1, c->snapshot_no);
  sqlite3_bind_text(st, 2, view, -1, SQLITE_TRANSIENT);
  if (pid > 0) sqlite3_bind_int64(st, 3, (sqlite3_int64)pid);
  else sqlite3_bind_null(st, 3);
  if (process) sqlite3_bind_text(st, 4, process, -1, SQLITE_TRANSIENT);
  else sqlite3_bind_null(st, 4);
  sqlite3_bind_int64(st, 5, (sqlite3_int64)++c->row_no);
  sqlite3_bind_text(st, 6, json, (int)len, SQLITE_TRANSIENT);
  int rc = sqlite3_step(st);
  sqlite3_reset(st);
  lua_pop(L, 2);
  if (rc != SQLITE_DONE) db_fail(L, c->db, "snapshot");
  c->rows++;
}

/* Stages the view value at idx: a list of row tables, a table of row
** tables keyed by name (each gets name_field = its key), or one flat
** table (one row); an empty table has no rows. */
static void stage_view(lua_State *L, snap_ctx *c, int idx, const char *view,
                       const char *name_field, lua_Integer pid,
                       const char *process) {
  idx = lua_absindex(L, idx);
  if (!lua_istable(L, idx))
    luaL_error(L, "snapshot: %s gave a %s, expected a table of rows", view,
               luaL_typename(L, idx));
  lua_Integer n = (lua_Integer)lua_rawlen(L, idx);
  if (n > 0) {
    for (lua_Integer i = 1; i <= n; i++) {
      if (lua_rawgeti(L, idx, i) != LUA_TTABLE)
        luaL_error(L, "snapshot: %s row %I is not a table", view, i);
      push_flat_row(L, -1, name_field, 0);
      stage_row(L, c, view, pid, process);
      lua_pop(L, 1);
    }
    return;
  }
  int keyed = 0, empty = 1;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    if (lua_istable(L, -1)) keyed = 1;
    empty = 0;
    lua_pop(L, 1);
  }
  if (empty) return;                     /* no rows: an empty list */
  if (!keyed) {                          /* one flat row */
    push_flat_row(L, idx, name_field, 0);
    stage_row(L, c, view, pid, process);
    return;
  }
  size_t nkeys;
  const char **keys = sorted_keys(L, idx, view, &nkeys);
  for (size_t i = 0; i < nkeys; i++) {
    lua_pushstring(L, keys[i]);
    if (lua_rawget(L, idx) == LUA_TTABLE) {
      lua_pushstring(L, keys[i]);
      push_flat_row(L, -2, name_field, lua_gettop(L));
      lua_remove(L, -2);                 /* the key copy */
      stage_row(L, c, view, pid, process);
    }
    lua_pop(L, 1);
  }
  lua_pop(L, 1);                         /* keys */
}

/* Stages a new snapshot row and returns its number. */
static sqlite3_int64 stage_snapshot(lua_State *L, pl_rec *r,
                                    const char *label, int has_step,
                                    lua_Integer step, lua_Integer page_size) {
  sqlite3 *db = r->db->db;
  sqlite3_stmt *st;
  if (sqlite3_prepare_v2(db, "INSERT INTO temp.pl_stage_snapshot(label, "
                         "step, page_size) VALUES (?, ?, ?)", -1, &st,
                         NULL) != SQLITE_OK)
    db_fail(L, db, "snapshot");
  sqlite3_bind_text(st, 1, label, -1, SQLITE_TRANSIENT);
  if (has_step) sqlite3_bind_int64(st, 2, (sqlite3_int64)step);
  if (page_size > 0) sqlite3_bind_int64(st, 3, (sqlite3_int64)page_size);
  int rc = sqlite3_step(st);
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE) db_fail(L, db, "snapshot");
  return sqlite3_last_insert_rowid(db);
}

static void prepare_row_insert(lua_State *L, snap_ctx *c,
                               sqlite3_stmt **pst) {
  if (sqlite3_prepare_v2(c->db, "INSERT INTO temp.pl_stage_snapshot_row("
                         "snapshot_no, view, pid, process, row_no, row_json) "
                         "VALUES (?, ?, ?, ?, ?, ?)", -1, pst, NULL)
      != SQLITE_OK)
    stmt_fail(L, c->db, pst, "snapshot");
  c->st = *pst;
}

/* Calls obj:method() (obj at idx, the method on top) for one result. */
static void call_view(lua_State *L, int obj) {
  lua_pushvalue(L, obj);
  lua_call(L, 1, 1);
}

/* The step (simulated time) and page size of sys, when it tells them. */
static int system_clock(lua_State *L, int sys, lua_Integer *step,
                        lua_Integer *page_size) {
  int has_step = 0, isint;
  *page_size = 0;
  if (push_method(L, sys, "stats")) {
    call_view(L, sys);
    if (lua_istable(L, -1)) {
      lua_getfield(L, -1, "time");
      *step = lua_tointegerx(L, -1, &has_step);
      lua_pop(L, 1);
    }
    lua_pop(L, 1);
  }
  lua_getfield(L, sys, "page_size");
  lua_Integer ps = lua_tointegerx(L, -1, &isint);
  if (isint && ps > 0) *page_size = ps;
  lua_pop(L, 1);
  return has_step;
}

/* rec:snapshot(sys, label) → rows stored. Stores what the System shows
** now: the views of snap_views it has (and each process's vmmap). */
static int snapshot_system(lua_State *L, pl_rec *r) {
  const char *label = luaL_checkstring(L, 3);
  if (!lua_istable(L, 2) && !lua_isuserdata(L, 2))
    return luaL_typeerror(L, 2, "System");
  lua_settop(L, 3);
  snap_ctx c = { r->db->db, NULL, 0, 0, 0 };
  lua_Integer step = 0, page_size;
  int has_step = system_clock(L, 2, &step, &page_size);
  c.snapshot_no = stage_snapshot(L, r, label, has_step, step, page_size);
  sqlite3_stmt **pst = push_stmt_holder(L);            /* index 4 */
  prepare_row_insert(L, &c, pst);
  for (const snap_view *v = snap_views; v->view; v++) {
    c.row_no = 0;
    if (!v->per_process) {
      if (!push_method(L, 2, v->view)) continue;
      call_view(L, 2);
      if (!lua_isnil(L, -1)) stage_view(L, &c, -1, v->view, v->name_field, 0,
                                        NULL);
      lua_pop(L, 1);
      continue;
    }
    if (!push_method(L, 2, "processes")) continue;
    call_view(L, 2);
    int procs = lua_gettop(L);
    lua_Integer n = lua_istable(L, procs) ? (lua_Integer)lua_rawlen(L, procs)
                                          : 0;
    for (lua_Integer i = 1; i <= n; i++) {
      lua_rawgeti(L, procs, i);
      int p = lua_gettop(L);
      if ((lua_istable(L, p) || lua_isuserdata(L, p)) &&
          push_method(L, p, v->view)) {
        call_view(L, p);                 /* nil, "STATUS_…": exited, skip */
        lua_getfield(L, p, "pid");
        lua_getfield(L, p, "name");
        if (!lua_isnil(L, -3))
          stage_view(L, &c, -3, v->view, v->name_field, lua_tointeger(L, -2),
                     lua_tostring(L, -1));
        lua_pop(L, 3);
      }
      lua_pop(L, 1);
    }
    lua_pop(L, 1);
  }
  sqlite3_finalize(*pst);
  *pst = NULL;
  lua_pushinteger(L, c.rows);
  return 1;
}

/* rec:snapshot(label, view, rows) → rows stored: a view the experiment
** computed itself (rows as stage_view takes them). */
static int snapshot_rows(lua_State *L, pl_rec *r) {
  const char *label = luaL_checkstring(L, 2);
  const char *view = luaL_checkstring(L, 3);
  luaL_checktype(L, 4, LUA_TTABLE);
  lua_settop(L, 4);
  snap_ctx c = { r->db->db, NULL, 0, 0, 0 };
  c.snapshot_no = stage_snapshot(L, r, label, 0, 0, 0);
  sqlite3_stmt **pst = push_stmt_holder(L);
  prepare_row_insert(L, &c, pst);
  stage_view(L, &c, 4, view, "name", 0, NULL);
  sqlite3_finalize(*pst);
  *pst = NULL;
  lua_pushinteger(L, c.rows);
  return 1;
}

/* rec:snapshot(sys, label) or rec:snapshot(label, view, rows) */
static int rec_snapshot(lua_State *L) {
  pl_rec *r = check_rec(L, 1);
  if (lua_type(L, 2) == LUA_TSTRING) return snapshot_rows(L, r);
  return snapshot_system(L, r);
}

/* ------------------------------------------------------------- sampling */

static uint64_t field_at(const void *base, size_t off) {
  uint64_t v;
  memcpy(&v, (const char *)base + off, sizeof v);
  return v;
}

/* The core calls this in its hot loop (invariant 4). */
static int sampler(void *ud, mm_system *sys) {
  pl_rec *r = ud;
  char key[128];
  mm_sstats ss;
  int rc = SQLITE_OK;
  if (!r->db || !r->db->db) return 0;    /* run over: ignore */
  mm_system_stats(sys, &ss);
  sqlite3_int64 step = (sqlite3_int64)ss.time;
  for (const mm_stat_field *f = mm_sstats_fields; f->name && rc == SQLITE_OK;
       f++) {
    snprintf(key, sizeof key, "sys.%s", f->name);
    rc = insert_series(r->db, key, step,
                       (double)field_at(&ss, f->offset));
  }
  uint32_t n = mm_process_count(sys);
  for (mm_pid pid = 1; pid <= n && rc == SQLITE_OK; pid++) {
    mm_pstats ps;
    if (!mm_process_alive(sys, pid)) continue;
    if (!MM_OK(mm_process_stats(sys, pid, &ps))) continue;
    const char *name = mm_process_name(sys, pid);
    char label[64];
    if (name && *name) snprintf(label, sizeof label, "%s", name);
    else snprintf(label, sizeof label, "%u", (unsigned)pid);
    for (size_t i = 0; i < r->nproc && rc == SQLITE_OK; i++) {
      snprintf(key, sizeof key, "%s.%s", label, r->proc_name[i]);
      rc = insert_series(r->db, key, step,
                         (double)field_at(&ps, r->proc_off[i]));
    }
  }
  if (rc != SQLITE_OK) {
    snprintf(key, sizeof key, "recording a sample failed: %s",
             sqlite3_errmsg(r->db->db));
    mm_set_error(sys, key);
    return 1;
  }
  return 0;
}

/* The mm_system of the System in uservalue 2 of the Rec at idx, or NULL
** when there is none or it has been closed. Never raises: finalizers call
** it, possibly after the System's own finalizer has run. */
static mm_system *live_system(lua_State *L, int idx) {
  mm_system *sys = NULL;
  lua_getiuservalue(L, idx, 2);
  pl_system *s = luaL_testudata(L, -1, PL_SYSTEM_MT);
  if (s) sys = s->sys;
  lua_pop(L, 1);
  return sys;
}

/* Removes the sampler of the Rec r at stack index idx from the system it
** was set on, if that system is still open (a closed one dropped it). */
static void sampler_off(lua_State *L, pl_rec *r, int idx) {
  if (!r->sampled) return;
  if (live_system(L, idx) == r->sampled)
    mm_set_sampler(r->sampled, 0, NULL, NULL);
  r->sampled = NULL;
  lua_pushnil(L);
  lua_setiuservalue(L, idx, 2);
}

/* rec:sample(sys, every): records every mm_sstats field as series
** "sys.<field>" and key counters of each live process as
** "<name or pid>.<field>", at step = simulated time, every `every`
** references; also records one sample right away. */
static int rec_sample(lua_State *L) {
  pl_rec *r = check_rec(L, 1);
  mm_system *sys = pl_check_system(L, 2);
  lua_Integer every = luaL_checkinteger(L, 3);
  luaL_argcheck(L, every > 0, 3, "sampling period must be > 0");
  if (r->sampled && r->sampled != sys) sampler_off(L, r, 1);
  r->nproc = 0;
  for (size_t i = 0; proc_sample_fields[i] && r->nproc < PROC_FIELDS_MAX; i++)
    for (const mm_stat_field *f = mm_pstats_fields; f->name; f++)
      if (strcmp(f->name, proc_sample_fields[i]) == 0) {
        r->proc_name[r->nproc] = f->name;
        r->proc_off[r->nproc++] = f->offset;
      }
  lua_pushvalue(L, 2);
  lua_setiuservalue(L, 1, 2);                 /* invariant 3 */
  r->sampled = sys;
  mm_set_sampler(sys, (uint64_t)every, sampler, r);
  if (sampler(r, sys) != 0)
    return luaL_error(L, "sample: %s", mm_last_error(sys));
  return 0;
}

/* ---------------------------------------------------------------- finish */

/* copy_staged's code for a staging that lost its run row (it cannot
** happen without someone dropping temp tables under us); not an SQLite
** code, so that SQLite's own errors keep their message. */
#define STAGE_LOST (-1)

/* Runs one statement of the commit, binding ?1 and ?2 (when the statement
** has them) to a and b. Returns an SQLite code (SQLITE_OK when done). */
static int commit_step(sqlite3 *db, const char *sql, sqlite3_int64 a,
                       sqlite3_int64 b) {
  sqlite3_stmt *st;
  int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
  if (rc != SQLITE_OK) return rc;
  int n = sqlite3_bind_parameter_count(st);
  if (n >= 1) sqlite3_bind_int64(st, 1, a);
  if (n >= 2) sqlite3_bind_int64(st, 2, b);
  rc = sqlite3_step(st);
  sqlite3_finalize(st);
  return rc == SQLITE_DONE || rc == SQLITE_ROW ? SQLITE_OK : rc;
}

/* Inside the commit transaction: the largest snapshot_id in the file. */
static int max_snapshot_id(sqlite3 *db, sqlite3_int64 *out) {
  sqlite3_stmt *st;
  int rc = sqlite3_prepare_v2(db, "SELECT coalesce(max(snapshot_id), 0) "
                              "FROM main.snapshot", -1, &st, NULL);
  if (rc != SQLITE_OK) return rc;
  rc = sqlite3_step(st);
  *out = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
  sqlite3_finalize(st);
  return rc == SQLITE_ROW ? SQLITE_OK : rc;
}

/* Copies the staged run into the results file (invariant 2): a rerun of
** the same point replaces the old one (and, by cascade, everything
** recorded for it). Sets r->run_id. The transaction is open. */
static int copy_staged(pl_rec *r, int ok, const char *err) {
  sqlite3 *db = r->db->db;
  sqlite3_stmt *st;
  sqlite3_int64 id, base = 0;
  int rc = commit_step(db, "DELETE FROM main.run WHERE run_key IN "
                       "(SELECT run_key FROM temp.pl_stage_run)", 0, 0);
  if (rc != SQLITE_OK) return rc;
  rc = sqlite3_prepare_v2(db, "INSERT INTO main.run(run_key, experiment, "
      "status, seed, repetition, params_json, started_at, finished_at, host, "
      "version, error) SELECT run_key, experiment, ?1, seed, repetition, "
      "params_json, started_at, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), host, "
      "version, ?2 FROM temp.pl_stage_run", -1, &st, NULL);
  if (rc != SQLITE_OK) return rc;
  sqlite3_bind_text(st, 1, ok ? "ok" : "failed", -1, SQLITE_STATIC);
  if (!ok) sqlite3_bind_text(st, 2, err ? err : "failed", -1,
                             SQLITE_TRANSIENT);
  rc = sqlite3_step(st);
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE) return rc;
  if (sqlite3_changes(db) != 1) return STAGE_LOST;
  id = sqlite3_last_insert_rowid(db);
  static const char *const copies[] = {
    "INSERT INTO main.param(run_id, key, value, value_num) "
    "SELECT ?1, key, value, value_num FROM temp.pl_stage_param",
    "INSERT INTO main.metric(run_id, key, value) "
    "SELECT ?1, key, value FROM temp.pl_stage_metric",
    "INSERT INTO main.series(run_id, key, step, value) "
    "SELECT ?1, key, step, value FROM temp.pl_stage_series ORDER BY rowid",
    "INSERT INTO main.snapshot(snapshot_id, run_id, label, step, page_size) "
    "SELECT ?2 + snapshot_no, ?1, label, step, page_size "
    "FROM temp.pl_stage_snapshot",
    "INSERT INTO main.snapshot_row(snapshot_id, view, pid, process, row_no, "
    "row_json) SELECT ?2 + snapshot_no, view, pid, process, row_no, row_json "
    "FROM temp.pl_stage_snapshot_row",
    NULL
  };
  rc = max_snapshot_id(db, &base);
  for (size_t i = 0; copies[i] && rc == SQLITE_OK; i++)
    rc = commit_step(db, copies[i], id, base);
  if (rc == SQLITE_OK) r->run_id = id;
  return rc;
}

/* Records the outcome of the Rec at stack index 1: copies the staged run
** into the file in one transaction. Returns NULL or an error message
** (pushed on the stack); either way the run has ended and the staging is
** empty. */
static const char *rec_commit(lua_State *L, pl_rec *r, int ok,
                              const char *err) {
  pl_db *d = r->db;
  sampler_off(L, r, 1);
  int rc = exec_sql(d->db, "BEGIN IMMEDIATE");
  if (rc == SQLITE_OK) {
    rc = copy_staged(r, ok, err);
    if (rc == SQLITE_OK) rc = exec_sql(d->db, "COMMIT");
  }
  const char *msg = NULL;
  if (rc != SQLITE_OK) {
    msg = lua_pushfstring(L, "results database: finish: %s",
                          rc == STAGE_LOST ? "the staged run is gone"
                                           : sqlite3_errmsg(d->db));
    if (!sqlite3_get_autocommit(d->db)) exec_sql(d->db, "ROLLBACK");
  }
  exec_sql(d->db, STAGE_CLEAR_SQL);
  d->active = NULL;
  r->db = NULL;
  return msg;
}

/* rec:finish(ok [, err]) → run_id: commits the run ('ok' or 'failed') */
static int rec_finish(lua_State *L) {
  pl_rec *r = check_rec(L, 1);
  int ok = lua_toboolean(L, 2);
  const char *err = NULL;
  if (!ok && !lua_isnoneornil(L, 3)) err = luaL_tolstring(L, 3, NULL);
  if (rec_commit(L, r, ok, err)) return lua_error(L);
  lua_pushinteger(L, (lua_Integer)r->run_id);
  return 1;
}

/* __close(rec, err): an unfinished run is finished, 'ok' when the scope
** ended normally, 'failed' with the error when it raised. */
static int rec_close(lua_State *L) {
  pl_rec *r = to_rec(L, 1);
  if (!r->db) return 0;
  if (!r->db->db) { r->db = NULL; return 0; }
  int ok = lua_isnoneornil(L, 2);
  const char *err = ok ? NULL : luaL_tolstring(L, 2, NULL);
  if (rec_commit(L, r, ok, err)) return lua_error(L);
  return 0;
}

/* __gc: a run nobody finished is rolled back, as if the process died. */
static int rec_gc(lua_State *L) {
  pl_rec *r = to_rec(L, 1);
  sampler_off(L, r, 1);
  rec_abandon(r);
  return 0;
}

static int rec_index(lua_State *L) {
  pl_rec *r = to_rec(L, 1);
  const char *k = luaL_checkstring(L, 2);
  if (strcmp(k, "run_id") == 0) {
    if (r->run_id) lua_pushinteger(L, (lua_Integer)r->run_id);
    else lua_pushnil(L);                 /* known once committed */
  } else if (strcmp(k, "run_key") == 0) {
    lua_pushstring(L, r->run_key);
  } else {
    luaL_getmetatable(L, REC_MT);
    lua_getfield(L, -1, "methods");
    lua_getfield(L, -1, k);
  }
  return 1;
}

static int rec_tostring(lua_State *L) {
  pl_rec *r = to_rec(L, 1);
  if (r->db || !r->run_id)
    lua_pushfstring(L, "Rec (%s, key %s)", r->db ? "in flight" : "abandoned",
                    r->run_key);
  else
    lua_pushfstring(L, "Rec (run %I, finished)", (lua_Integer)r->run_id);
  return 1;
}

/* ================================================================ isatty */

/* pagelab.isatty(fd | file) → true when it is a terminal: the command line
** draws progress bars only there. */
static int l_isatty(lua_State *L) {
  int fd;
  luaL_Stream *s = luaL_testudata(L, 1, LUA_FILEHANDLE);
  if (s) {
    if (!s->closef) return luaL_argerror(L, 1, "attempt to use a closed file");
    fd = fileno(s->f);
  } else {
    lua_Integer n = luaL_checkinteger(L, 1);
    fd = n < 0 || n > INT32_MAX ? -1 : (int)n;
  }
  lua_pushboolean(L, fd >= 0 && isatty(fd));
  return 1;
}

/* ========================================================= registration */

static const luaL_Reg db_methods[] = {
  { "begin_run", db_begin_run },
  { "completed", db_completed },
  { "query", db_query },
  { "close", db_close },
  { NULL, NULL }
};

static const luaL_Reg rec_methods[] = {
  { "metric", rec_metric },
  { "series", rec_series },
  { "sample", rec_sample },
  { "snapshot", rec_snapshot },
  { "finish", rec_finish },
  { NULL, NULL }
};

static const luaL_Reg results_funcs[] = {
  { "open", results_open },
  { "run_key", results_run_key },
  { NULL, NULL }
};

int pl_open_recorder(lua_State *L) {
  luaL_checkstack(L, 6, NULL);
  if (luaL_newmetatable(L, DB_MT)) {
    luaL_newlib(L, db_methods);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, db_close);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, db_close);
    lua_setfield(L, -2, "__close");
    lua_pushcfunction(L, db_tostring);
    lua_setfield(L, -2, "__tostring");
  }
  lua_pop(L, 1);
  if (luaL_newmetatable(L, REC_MT)) {
    luaL_newlib(L, rec_methods);
    lua_setfield(L, -2, "methods");
    lua_pushcfunction(L, rec_index);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, rec_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, rec_close);
    lua_setfield(L, -2, "__close");
    lua_pushcfunction(L, rec_tostring);
    lua_setfield(L, -2, "__tostring");
  }
  lua_pop(L, 1);
  luaL_newlib(L, results_funcs);
  lua_pushinteger(L, PL_RESULTS_SCHEMA_VERSION);
  lua_setfield(L, -2, "SCHEMA_VERSION");
  lua_setfield(L, -2, "results");
  lua_pushcfunction(L, l_isatty);
  lua_setfield(L, -2, "isatty");
  return 0;
}

/*
 * The pooled relay's MySQL/MariaDB engine: pg_pool.c's pools, servers,
 * waiters, limits, sweeps and TLS serve both engines; this file frames a
 * MySQL client's commands and its server's responses, and keeps what a
 * multiplexed MySQL client carries from one server connection to the next.
 * docs/architecture.md ("Proxy endpoints") and docs/proxies-pooling.md have
 * the design; gateway/proxy/mysql-native-pool.ts is the JavaScript half.
 *
 * Compiled as part of data_path.c's translation unit (included after
 * pg_pool.c), so everything stays file-private.
 *
 * Commands are handled one at a time: the command at the head of the
 * client's input stays there until the server (or the proxy) has answered
 * it, so a server connection can change hands at any answer's end. Per
 * command (my_frame_one):
 *   - local answers: COM_QUIT, COM_PING without a server, COM_STMT_CLOSE,
 *     COM_STMT_SEND_LONG_DATA (kept for the next execute), COM_STMT_RESET,
 *     refused commands (COM_CHANGE_USER, replication);
 *   - the statement filter (pg_scan.c, MySQL rules) and, when it says so,
 *     JavaScript's verdict (mysql-session-state.ts): a pin reason, and for
 *     tracked SETs, USE and COM_INIT_DB the client's settings after the
 *     statement succeeds (an id and the commands that recreate them);
 *   - a server: borrowed (link_server runs the client's settings first, after
 *     a COM_RESET_CONNECTION when the connection carries others);
 *   - binary prepared statements: the client's ids are the proxy's; each
 *     server connection keeps the ids its server gave each (settings, text),
 *     and a statement it lacks is prepared there first (reply swallowed, an
 *     error answered to the client's execute), with the client's parameter
 *     types when the execute carries none.
 * Per response (my_frame_server, with my_resp.c finding each end): it goes to
 * the client or is swallowed (what the proxy sent itself); its status flags
 * say whether a transaction is open, and at the end of the last one queued
 * the server goes back to the pool unless the client is pinned, in a
 * transaction or holds a cursor.
 *
 * Ownership (adds to pg_pool.c's table):
 *   my_client   Owned by its pg_client (c->my), built by CMD_ATTACH for a MySQL
 *               pool, freed by my_client_free() from client_detach().
 *   my_cstmt    A client's statement: owned by its my_client's `stmts` map,
 *               freed by cstmt_free(); holds one count on its pg_stmt.
 *   my_server   Owned by its pg_server (sv->my), built by CMD_POOL_ADD for a
 *               MySQL pool, freed by my_server_free() from server_unref(). Its
 *               statement table keeps registry ids, never pointers.
 *   bytes       Every dbuf and copy belongs to the struct that holds it.
 */

#define MY_FRAME_MAX 0xFFFFFFu
#define MY_LONG_TEXT 16384          /* RDS Proxy's rule: statement text over 16 KB pins */
#define MY_SERVER_STMTS 256         /* statements one server connection keeps; the least recently used beyond go */
#define MY_CLIENT_STMTS 16382       /* statements one client keeps (MariaDB's default max_prepared_stmt_count) */
#define MY_CLIENT_STMT_BYTES (64u << 20) /* and their texts' bytes: the registry keeps each text while a client names it */
#define MY_LONG_DATA_MAX (64u << 20) /* COM_STMT_SEND_LONG_DATA kept per client (all its statements) until their executes */

/* Commands. */
enum {
  MY_QUIT = 0x01, MY_INIT_DB = 0x02, MY_QUERY = 0x03, MY_PING = 0x0e, MY_CHANGE_USER = 0x11,
  MY_STMT_PREPARE = 0x16, MY_STMT_EXECUTE = 0x17, MY_STMT_LONG_DATA = 0x18, MY_STMT_CLOSE = 0x19,
  MY_STMT_RESET = 0x1a, MY_SET_OPTION = 0x1b, MY_STMT_FETCH = 0x1c, MY_RESET_CONNECTION = 0x1f, MY_STMT_BULK = 0xfa
};

/* Server status flags. */
#define MYS_IN_TRANS 0x0001
#define MYS_AUTOCOMMIT 0x0002
#define MYS_MORE_RESULTS 0x0008
#define MYS_CURSOR 0x0040
#define MYS_NO_BACKSLASH 0x0200
#define MYS_STATE_CHANGED 0x4000

#define MYC_SESSION_TRACK 0x00800000u /* CLIENT_SESSION_TRACK: an OK packet carries its info string */

/* Pin codes the native side finds itself (mysql-session-state.ts MYSQL_PIN_CODES names them all). */
#define MYPIN_LONG 1
#define MYPIN_SESSION_VARIABLE 6
#define MYPIN_CURSOR 15
#define MYPIN_SET_OPTION 16
#define MYPIN_STATE_CHANGE 17

/* Verdict flags (CMD_VERDICT's my.flags, mysql-native-pool.ts VERDICT_*). */
#define MYV_SETTINGS 1     /* the statement changes the client's settings, when it succeeds */
#define MYV_SETTING_ONLY 2 /* only tracked SETs or USE: does not begin a transaction with autocommit off */
#define MYV_PIN_ON_ERROR 4 /* a SET of several items that fails leaves unknown state: pin */
#define MYV_AUTOCOMMIT 8   /* the new settings' autocommit */
#define MYV_STICKY 16      /* the new settings hold a database a reset cannot take away */
#define MYV_RESET_AFTER 32 /* may leave what the server does not report (a CALL's named lock): reset before another client */
#define MYV_HELD_ONLY 64   /* reads the previous statement's leftovers (ROW_COUNT()): refused on a connection not yet held */
#define MYV_FRESH_ROWS 128 /* a stored routine that may read ROW_COUNT(): where another's statement ran last, DO 0 first */
#define MYV_TRANSIENT 256  /* SET STATEMENT … FOR a statement that keeps no state: the change it reports lasted the statement */

/* rq kinds of MySQL pools (pg_pool.c's are below 16). */
enum { RQ_MY_STMT = 16, RQ_MY_PREPARE, RQ_MY_REPREPARE, RQ_MY_OTHER, RQ_MY_SETUP };
#define RQF_MY_STARTED 8  /* the response's first bytes have been seen */
#define RQF_MY_TO_CLIENT 16 /* an injected prepare's error: it answers the client's execute */
#define RQF_MY_PATCH 32   /* a client's prepare OK: its statement id becomes the proxy's once the tracker has read it */

typedef struct {
  uint64_t stmt; /* registry id */
  uint32_t id;   /* the server's */
  uint16_t params;
  uint64_t used;
  uint8_t *types; /* the types last bound there (2 bytes each), NULL: none */
  size_t ntypes;
} my_sstmt;

typedef struct my_server {
  my_resp t;
  uint16_t status;
  my_sstmt *stmts;
  size_t nstmts, cap;
  uint64_t tick;
  int sticky; /* carries a database a reset cannot take away: closed when given back */
  int diag;   /* a response left warnings or an error (SHOW WARNINGS reads them): reset before another client */
  uint64_t insert_id; /* its session's LAST_INSERT_ID() as the proxy last set it (0 after a reset, n after DO LAST_INSERT_ID(n)) */
  /*
   * A client's statement reported an id since: an OK's last_insert_id is the
   * generated id, or a row's own (an INSERT of an explicit id, ON DUPLICATE
   * KEY UPDATE) that leaves LAST_INSERT_ID() as it was, so the session's
   * value is no longer known and the next borrower gets DO whatever it wants.
   */
  int insert_unknown;
  /*
   * Whose command the session ran last (a client's session id + 1; 0: the
   * proxy's own, a reset, settings, a DO): whose statement ROW_COUNT() reads.
   */
  uint64_t last_owner;
} my_server;

typedef struct {
  pg_stmt *st;
  uint16_t params;
  uint8_t *types; /* the types the client last bound (2 bytes each) */
  size_t ntypes;
  dbuf long_data; /* COM_STMT_SEND_LONG_DATA packets, whole, for the next execute */
} my_cstmt;

typedef struct my_client {
  uint32_t caps;   /* negotiated with the client: the OK packets the proxy writes */
  uint16_t status; /* the status flags the client last heard */
  int autocommit;  /* its settings' autocommit */
  int sticky;
  int tx_open, tx_seen;
  uint64_t insert_id; /* the last nonzero last_insert_id its OK packets carried: replayed where a server has another */
  bmap stmts; /* 4-byte ids → my_cstmt */
  uint32_t next_id, last_id;
  size_t long_total; /* bytes of long data its statements keep, under MY_LONG_DATA_MAX */
  size_t text_total; /* bytes of its statements' texts, under MY_CLIENT_STMT_BYTES */
  int busy;       /* the head command went to the server: its answer is outstanding */
  int preparing;  /* an injected prepare for the head execute is outstanding */
  /* That prepare is done and the execute not yet sent: the server stays the client's (released here, it went to the
   * next waiter, whose settings reset could drop the statement again: two clients could trade a server forever). */
  int prepared_head;
  int long_cmd;   /* a command of several frames is being streamed */
  uint8_t long_seq;
  uint8_t long_head[6];
  uint64_t long_len;
  /* The verdict on the head command, then the effect of the command in flight. */
  uint32_t v_flags;
  uint64_t v_settings;
  dbuf v_bytes;
  uint32_t fx_flags;
  uint64_t fx_settings;
  dbuf fx_bytes;
  uint8_t *prep_text; /* the COM_STMT_PREPARE in flight: its text and the id the client was given */
  size_t prep_len;
  uint32_t prep_id;
} my_client;

static uint32_t le24(const uint8_t *p) { return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16); }
static uint32_t le32(const uint8_t *p) { return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24); }
static void put_le24(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
  p[2] = (uint8_t)(v >> 16);
}
static void put_le32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
  p[2] = (uint8_t)(v >> 16);
  p[3] = (uint8_t)(v >> 24);
}

/* ------------------------------------------------------------ lifetimes */

static my_server *my_server_new(uint32_t caps, uint32_t mcaps, uint16_t status, const char **why) {
  my_server *ms = calloc(1, sizeof(my_server));
  if (ms == NULL) {
    *why = "out of memory";
    return NULL;
  }
  if (my_resp_init(&ms->t, caps, mcaps, status, 1u << 30, why) < 0) {
    free(ms);
    return NULL;
  }
  ms->status = status;
  return ms;
}

static void sstmts_clear(my_server *ms) {
  for (size_t i = 0; i < ms->nstmts; i++) free(ms->stmts[i].types);
  ms->nstmts = 0;
}

static void my_server_free(my_server *ms) {
  if (ms == NULL) return;
  sstmts_clear(ms);
  free(ms->stmts);
  free(ms);
}

static void cstmt_free(pg_pool *p, my_cstmt *cs) {
  stmt_unref(p, cs->st);
  free(cs->types);
  dbuf_free(&cs->long_data);
  free(cs);
}

/* Every statement the client named goes (it leaves, or COM_RESET_CONNECTION). */
static void cstmts_clear(pg_client *c) {
  my_client *mc = c->my;
  for (size_t i = 0; i < mc->stmts.nb; i++) {
    for (bent *e = mc->stmts.b[i]; e != NULL; e = e->next) cstmt_free(c->pool, e->val);
  }
  bmap_free(&mc->stmts, NULL);
  mc->stmts = (bmap){0};
  mc->long_total = 0;
  mc->text_total = 0;
}

static void my_client_free(pg_client *c) {
  my_client *mc = c->my;
  if (mc == NULL) return;
  cstmts_clear(c);
  c->my = NULL;
  dbuf_free(&mc->v_bytes);
  dbuf_free(&mc->fx_bytes);
  free(mc->prep_text);
  free(mc);
}

/* ------------------------------------------------------------ packets */

/* One packet for the client, with the sequence id its command's answer takes. */
static int to_client(pg_client *c, const uint8_t *payload, size_t n, uint8_t seq) {
  uint8_t h[4] = {(uint8_t)n, (uint8_t)(n >> 8), (uint8_t)(n >> 16), seq};
  if (dbuf_append(&c->s->to_cli, h, 4) < 0) return -1;
  return dbuf_append(&c->s->to_cli, payload, n);
}

/* The OK the proxy answers itself: the status the client last heard, with no transaction (it holds no server, or keeps it). */
static int local_ok(pg_client *c, uint8_t seq) {
  uint16_t st = c->my->status & (uint16_t)~(MYS_MORE_RESULTS | MYS_STATE_CHANGED);
  uint8_t ok[8] = {0x00, 0, 0, (uint8_t)st, (uint8_t)(st >> 8), 0, 0, 0};
  return to_client(c, ok, (c->my->caps & MYC_SESSION_TRACK) ? 8 : 7, seq);
}

static int local_err(pg_client *c, uint8_t seq, uint16_t code, const char *state, const char *msg) {
  uint8_t buf[256];
  size_t m = strlen(msg);
  if (m > sizeof buf - 9) m = sizeof buf - 9;
  buf[0] = 0xff;
  buf[1] = (uint8_t)code;
  buf[2] = (uint8_t)(code >> 8);
  buf[3] = '#';
  memcpy(buf + 4, state, 5);
  memcpy(buf + 9, msg, m);
  return to_client(c, buf, 9 + m, seq);
}

/*
 * Sends a whole command packet (seq 0) to the server and queues what its
 * response means. 1: a response will come, 0: none, -1: the tracker refuses
 * it or memory ran out.
 */
static int my_put(pg_server *sv, const uint8_t *pkt, size_t total, uint8_t kind, uint8_t action, uint64_t stmt) {
  size_t len = total - 4;
  int r = my_resp_sent(&sv->my->t, pkt + 4, len < 6 ? len : 6, len);
  if (r < 0) return -1;
  if (dbuf_append(&sv->out, pkt, total) < 0) return -1;
  sv->my->last_owner = action == RA_FORWARD && sv->client != NULL ? (uint64_t)sv->client->s->id + 1 : 0;
  if (r == 1 && rq_push(sv, kind, action, stmt) < 0) return -1;
  return r;
}

/* Sends a run of whole packets JS built (settings, the pool's reset), each answered by one OK or ERR. */
static int my_put_all(pg_server *sv, const dbuf *b, uint8_t action) {
  const uint8_t *p = b->data + b->off;
  size_t n = b->len;
  while (n >= 4) {
    size_t total = 4 + (size_t)le24(p);
    if (total > n) return -1;
    if (my_put(sv, p, total, RQ_MY_SETUP, action, 0) < 0) return -1;
    p += total;
    n -= total;
  }
  return n == 0 ? 0 : -1;
}

/* COM_STMT_CLOSE of a server statement (no response). */
static int my_close_stmt(pg_server *sv, uint32_t id) {
  uint8_t pkt[9] = {5, 0, 0, 0, MY_STMT_CLOSE};
  put_le32(pkt + 5, id);
  return my_put(sv, pkt, sizeof pkt, RQ_MY_OTHER, RA_SKIP, 0) < 0 ? -1 : 0;
}

/* ------------------------------------------------------ server statements */

static my_sstmt *sstmt_find(my_server *ms, uint64_t stmt) {
  for (size_t i = 0; i < ms->nstmts; i++) {
    if (ms->stmts[i].stmt == stmt) {
      ms->stmts[i].used = ++ms->tick;
      return &ms->stmts[i];
    }
  }
  return NULL;
}

static void sstmt_remove(my_server *ms, size_t i) {
  free(ms->stmts[i].types);
  ms->stmts[i] = ms->stmts[--ms->nstmts];
}

/* Records a statement the server prepared; an older one of the same registry id, and the least used beyond the bound, are closed. */
static int sstmt_add(pg_server *sv, uint64_t stmt, uint32_t id, uint16_t params) {
  my_server *ms = sv->my;
  for (size_t i = 0; i < ms->nstmts; i++) {
    if (ms->stmts[i].stmt == stmt) {
      if (ms->stmts[i].id != id && my_close_stmt(sv, ms->stmts[i].id) < 0) return -1;
      sstmt_remove(ms, i);
      break;
    }
  }
  while (ms->nstmts >= MY_SERVER_STMTS) {
    size_t lru = 0;
    for (size_t i = 1; i < ms->nstmts; i++) if (ms->stmts[i].used < ms->stmts[lru].used) lru = i;
    if (my_close_stmt(sv, ms->stmts[lru].id) < 0) return -1;
    sstmt_remove(ms, lru);
  }
  if (ms->nstmts == ms->cap) {
    size_t cap = ms->cap ? ms->cap * 2 : 8;
    my_sstmt *a = realloc(ms->stmts, cap * sizeof(my_sstmt));
    if (a == NULL) return -1;
    ms->stmts = a;
    ms->cap = cap;
  }
  ms->stmts[ms->nstmts++] = (my_sstmt){.stmt = stmt, .id = id, .params = params, .used = ++ms->tick};
  return 0;
}

/* ------------------------------------------------------ client statements */

static my_cstmt *cstmt_get(my_client *mc, uint32_t id) {
  if (id == 0xffffffffu) id = mc->last_id; /* MariaDB: the statement prepared last */
  uint8_t k[4];
  put_le32(k, id);
  return bmap_get(&mc->stmts, k, 4, fnv1a(k, 4, FNV_SEED));
}

/* A statement's long data is sent or dropped: the client may keep that much more. */
static void cstmt_drop_long(my_client *mc, my_cstmt *cs) {
  mc->long_total -= cs->long_data.len;
  dbuf_free(&cs->long_data);
}

static void cstmt_close(pg_client *c, uint32_t id) {
  uint8_t k[4];
  put_le32(k, id);
  my_cstmt *cs = bmap_del(&c->my->stmts, k, 4, fnv1a(k, 4, FNV_SEED));
  if (cs == NULL) return;
  cstmt_drop_long(c->my, cs);
  c->my->text_total -= cs->st->klen - 8;
  cstmt_free(c->pool, cs);
}

/* The registry entry for text under the client's settings (made if new), counted once more. */
static pg_stmt *my_register(pg_client *c, const uint8_t *text, size_t n) {
  pg_pool *p = c->pool;
  size_t klen = 8 + n;
  uint8_t *key = malloc(klen);
  if (key == NULL) return NULL;
  uint64_t sid = c->settings_id;
  memcpy(key, &sid, 8);
  memcpy(key + 8, text, n);
  uint32_t hash = fnv1a(key, klen, FNV_SEED);
  pg_stmt *st = bmap_get(&p->stmts, key, klen, hash);
  if (st != NULL) {
    free(key);
    st->refs++;
    return st;
  }
  st = calloc(1, sizeof(pg_stmt));
  if (st == NULL || bmap_put(&p->stmts, key, klen, hash, st) < 0) {
    free(st);
    free(key);
    return NULL;
  }
  st->id = ++p->next_stmt;
  st->refs = 1;
  st->key = key;
  st->klen = klen;
  st->hash = hash;
  return st;
}

/* The client's new statement under the id its prepare's answer gave it. */
static int cstmt_add(pg_client *c, uint32_t id, const uint8_t *text, size_t n, uint16_t params, pg_stmt **out) {
  my_cstmt *cs = calloc(1, sizeof(my_cstmt));
  if (cs == NULL) return -1;
  cs->st = my_register(c, text, n);
  if (cs->st == NULL) {
    free(cs);
    return -1;
  }
  cs->params = params;
  uint8_t k[4];
  put_le32(k, id);
  if (bmap_put(&c->my->stmts, k, 4, fnv1a(k, 4, FNV_SEED), cs) < 0) {
    cstmt_free(c->pool, cs);
    return -1;
  }
  c->my->last_id = id;
  c->my->text_total += n;
  *out = cs->st;
  return 0;
}

/* ------------------------------------------------------------ settings */

/*
 * A client borrows a server that carries other settings: the pool's reset
 * (COM_RESET_CONNECTION, its database, the InitQuery) when the server carries
 * anything but the neutral settings, then the client's own. A reset frees
 * the server's prepared statements.
 */
static int my_link_insert_id(pg_client *c, pg_server *sv);

/* Sends the pool's reset (COM_RESET_CONNECTION, then its database, tracking and InitQuery): the server is neutral again, its statements gone. */
static int my_send_reset(pg_server *sv) {
  if (my_put_all(sv, &sv->pool->reset_msg, RA_SKIP_RESET) < 0) return -1;
  my_server *ms = sv->my;
  ms->diag = 0;
  ms->insert_id = 0;
  ms->insert_unknown = 0;
  sstmts_clear(ms);
  sv->settings_id = sv->pool->neutral_settings;
  return 0;
}

static int my_link_settings(pg_client *c, pg_server *sv) {
  pg_pool *p = c->pool;
  if (sv->settings_id != c->settings_id) {
    if (sv->settings_id != p->neutral_settings && my_send_reset(sv) < 0) return -1;
    if (c->settings.len > 0 && my_put_all(sv, &c->settings, RA_SKIP_SETTINGS) < 0) return -1;
    sv->settings_id = c->settings_id;
    sv->my->sticky = c->my->sticky;
  }
  return my_link_insert_id(c, sv);
}

/*
 * LAST_INSERT_ID() is the session's: a client that inserted on one server
 * connection and reads it on another would get that connection's last
 * client's id. Where the server's differs from the client's, `DO
 * LAST_INSERT_ID(n)` (no result set, reply swallowed) gives it the client's.
 */
static int my_link_insert_id(pg_client *c, pg_server *sv) {
  uint64_t want = c->my->insert_id;
  if (!sv->my->insert_unknown && sv->my->insert_id == want) return 0;
  uint8_t pkt[64];
  int n = snprintf((char *)pkt + 5, sizeof pkt - 5, "DO LAST_INSERT_ID(%llu)", (unsigned long long)want);
  if (n < 0 || (size_t)n >= sizeof pkt - 5) return -1;
  uint32_t len = (uint32_t)n + 1; /* the command byte and the text */
  put_le24(pkt, len);
  pkt[3] = 0;
  pkt[4] = MY_QUERY;
  if (my_put(sv, pkt, 5 + (size_t)n, RQ_MY_SETUP, RA_SKIP_SETTINGS, 0) < 0) return -1;
  sv->my->insert_id = want;
  sv->my->insert_unknown = 0;
  return 0;
}

/* The client's settings become those of its verdict (the statement succeeded); so do its server's. */
static void my_apply_settings(pg_client *c, pg_server *sv) {
  my_client *mc = c->my;
  dbuf_free(&c->settings);
  c->settings = mc->fx_bytes;
  mc->fx_bytes = (dbuf){0};
  c->settings_id = mc->fx_settings;
  mc->autocommit = (mc->fx_flags & MYV_AUTOCOMMIT) != 0;
  mc->sticky = (mc->fx_flags & MYV_STICKY) != 0;
  if (sv != NULL) {
    sv->settings_id = c->settings_id;
    sv->my->sticky = mc->sticky;
  }
}

/* ------------------------------------------------------------ transactions */

/*
 * As mysql-client-state.ts's Transaction: IN_TRANS set opens one; with
 * autocommit off, the first statement that is not only tracked SETs opens
 * one, and it ends when the server reports one it had open closed, or
 * autocommit comes back on.
 */
static void my_after_statement(my_client *mc, uint16_t status, int setting_only) {
  if (status & MYS_IN_TRANS) {
    mc->tx_open = 1;
    mc->tx_seen = 1;
  } else if ((status & MYS_AUTOCOMMIT) || mc->tx_seen) {
    mc->tx_open = 0;
    mc->tx_seen = 0;
  } else if (!setting_only) {
    mc->tx_open = 1;
  }
}

/* ------------------------------------------------------------ the client side */

/* The head command is answered or gone: the next one starts afresh. */
static void my_head_done(pg_client *c) {
  c->my->prepared_head = 0;
  c->verdict = 0;
  c->told = 0;
  c->my->v_flags = 0;
  dbuf_free(&c->my->v_bytes);
}

/* The head command answered by the proxy itself (`r`: the answer's append). */
static int my_answered(pg_client *c, size_t total, int r) {
  if (r < 0) return FC_NOMEM;
  dbuf_consume(&c->s->to_srv, total);
  my_head_done(c);
  return FC_PROGRESS;
}

/* JavaScript reads the statement (mysql-session-state.ts); the client waits for its verdict. */
static int my_ask(pg_client *c, uint8_t type, const uint8_t *text, size_t n) {
  return ask(c, type, text, n) < 0 ? FC_NOMEM : FC_WAIT;
}

/*
 * A stored routine reads ROW_COUNT() where the proxy does not see it: at the
 * routine's start, that is the session's previous statement, which on a
 * connection another client (or the proxy's reset and settings) used last is
 * not this client's. `DO 0` (reply swallowed) leaves it at 0 there; where the
 * client's own statement ran last it stays, as on a connection of its own.
 */
static int my_fresh_rows(pg_client *c, pg_server *sv) {
  if (sv->my->last_owner == (uint64_t)c->s->id + 1) return 0;
  uint8_t msg[] = {5, 0, 0, 0, MY_QUERY, 'D', 'O', ' ', '0'};
  return my_put(sv, msg, sizeof msg, RQ_MY_SETUP, RA_SKIP_SETTINGS, 0) < 0 ? -1 : 0;
}

/*
 * Sends the head command on the client's server (borrowed first) and
 * consumes it; the verdict becomes the effect of the command in flight.
 */
static int my_forward(pg_client *c, const uint8_t *pkt, size_t total, uint8_t kind, size_t consume) {
  my_client *mc = c->my;
  int a = acquire(c);
  if (a < 0) return FC_NOMEM;
  if (a == 0) return FC_WAIT;
  pg_server *sv = c->server;
  if ((mc->v_flags & MYV_FRESH_ROWS) && my_fresh_rows(c, sv) < 0) return FC_NOMEM;
  int r = my_put(sv, pkt, total, kind, RA_FORWARD, 0);
  if (r < 0) return FC_NOMEM;
  if (r == 1) {
    mc->busy = 1;
    if (kind == RQ_MY_STMT) rq_tail(sv)->sent_us = uv_hrtime() / 1000;
  }
  mc->prepared_head = 0;
  dbuf_free(&mc->fx_bytes);
  mc->fx_flags = mc->v_flags;
  mc->fx_settings = mc->v_settings;
  mc->fx_bytes = mc->v_bytes;
  mc->v_bytes = (dbuf){0};
  mc->v_flags = 0;
  c->verdict = 0;
  c->told = 0;
  dbuf_consume(&c->s->to_srv, consume);
  return FC_PROGRESS;
}

static void my_debug(pg_client *c, uint8_t type, const uint8_t *text, size_t n) {
  if (!c->pool->debug_sql || c->told) return;
  debug_statement(c, type, n > MY_LONG_TEXT ? NULL : text, n > MY_LONG_TEXT ? 0 : n);
  c->told = 1;
}

/* COM_QUERY and COM_STMT_PREPARE: the filter, then JavaScript when it says so. FC_PROGRESS to go on. */
static int my_classify(pg_client *c, uint8_t type, const uint8_t *text, size_t n) {
  if (c->verdict == 2) return FC_PROGRESS;
  if (n > MY_LONG_TEXT) {
    pin(c, MYPIN_LONG);
    return FC_PROGRESS;
  }
  if (scan_sql(text, n, 1) == SCAN_CLEAN) return FC_PROGRESS;
  return my_ask(c, type, text, n);
}

/* ROW_COUNT() or FOUND_ROWS() on a connection about to be borrowed would read the statement another client ran there last. */
static int my_held_only(const pg_client *c) { return (c->my->v_flags & MYV_HELD_ONLY) && c->server == NULL; }

static int my_refuse_held_only(pg_client *c, size_t total) {
  return my_answered(c, total, local_err(c, 1, 1235, "42000", "ROW_COUNT() and FOUND_ROWS() through this proxy work only in the transaction (or pinned session) of the statement they describe: outside one, that statement ran on a server connection now another client's"));
}

static int my_query(pg_client *c, const uint8_t *m, size_t total) {
  const uint8_t *text = m + 5;
  size_t n = total - 5;
  my_debug(c, 'Q', text, n);
  int w = my_classify(c, 'Q', text, n);
  if (w != FC_PROGRESS) return w;
  if (my_held_only(c)) return my_refuse_held_only(c, total);
  w = my_forward(c, m, total, RQ_MY_STMT, total);
  if (w == FC_PROGRESS) stat_add(c->pool, ST_QUERIES, 1);
  return w;
}

static int my_prepare(pg_client *c, const uint8_t *m, size_t total) {
  my_client *mc = c->my;
  const uint8_t *text = m + 5;
  size_t n = total - 5;
  my_debug(c, 'P', text, n);
  /* What the proxy keeps for a client's statements is bounded as the server bounds them (ER_MAX_PREPARED_STMT_COUNT_REACHED). */
  if (mc->stmts.n >= MY_CLIENT_STMTS || mc->text_total + n > MY_CLIENT_STMT_BYTES) {
    mc->last_id = 0;
    return my_answered(c, total, local_err(c, 1, 1461, "42000", "Can't create more than max_prepared_stmt_count statements (current value: 16382)"));
  }
  int w = my_classify(c, 'P', text, n);
  if (w != FC_PROGRESS) return w;
  /* A prepare leaves ROW_COUNT() as it was: the first execute would read the statement before it, another client's. */
  if (my_held_only(c)) {
    mc->last_id = 0; /* a prepare that failed: statement -1 names none */
    return my_refuse_held_only(c, total);
  }
  uint8_t *copy = malloc(n ? n : 1);
  if (copy == NULL) return FC_NOMEM;
  memcpy(copy, text, n);
  w = my_forward(c, m, total, RQ_MY_PREPARE, total);
  if (w != FC_PROGRESS) {
    free(copy);
    return w;
  }
  free(mc->prep_text);
  mc->prep_text = copy;
  mc->prep_len = n;
  mc->prep_id = 0;
  return w;
}

/* COM_INIT_DB and COM_RESET_CONNECTION change the client's settings: JavaScript names the new ones. */
static int my_init_db(pg_client *c, const uint8_t *m, size_t total) {
  if (c->verdict != 2) return my_ask(c, 'D', m + 5, total - 5);
  return my_forward(c, m, total, RQ_MY_STMT, total);
}

/*
 * The client's COM_RESET_CONNECTION: its session starts again (settings,
 * statements, pin; the database stays, as the server's reset keeps it); a
 * server it holds goes back to be reset. Answered by the proxy.
 */
static int my_reset_connection(pg_client *c, size_t total) {
  my_client *mc = c->my;
  if (c->verdict != 2) return my_ask(c, 'R', NULL, 0);
  cstmts_clear(c);
  if (c->pinned) {
    c->pinned = 0;
    stat_add(c->pool, ST_PINNED, -1);
  }
  mc->tx_open = mc->tx_seen = 0;
  mc->status = MYS_AUTOCOMMIT;
  mc->insert_id = 0; /* as the server's reset does */
  if (mc->v_flags & MYV_SETTINGS) {
    mc->fx_flags = mc->v_flags;
    mc->fx_settings = mc->v_settings;
    dbuf_free(&mc->fx_bytes);
    mc->fx_bytes = mc->v_bytes;
    mc->v_bytes = (dbuf){0};
    my_apply_settings(c, NULL);
  }
  pg_server *sv = c->server;
  if (sv != NULL) {
    unlink_client(sv);
    sv->dirty = 1;
    defer_alone(sv);
  }
  return my_answered(c, total, local_ok(c, 1));
}

static int unknown_stmt(pg_client *c, size_t total, uint32_t id, const char *what) {
  char msg[96];
  snprintf(msg, sizeof msg, "Unknown prepared statement handler (%u) given to %s", id, what);
  return my_answered(c, total, local_err(c, 1, 1243, "HY000", msg));
}

static int my_long_data(pg_client *c, const uint8_t *m, size_t total) {
  if (total < 4 + 7) return FC_VIOLATION;
  my_cstmt *cs = cstmt_get(c->my, le32(m + 5));
  /* Unknown statement: the server would ignore it too (no reply exists to carry an error). */
  if (cs != NULL) {
    /* Bounded per client, not per statement: a client has as many statements as it likes. */
    if (c->my->long_total + total > MY_LONG_DATA_MAX) return FC_VIOLATION;
    if (dbuf_reserve(&cs->long_data, cs->long_data.len + total) < 0 || dbuf_append(&cs->long_data, m, total) < 0) return FC_NOMEM;
    c->my->long_total += total;
  }
  dbuf_consume(&c->s->to_srv, total);
  return FC_PROGRESS;
}

static int my_stmt_reset(pg_client *c, const uint8_t *m, size_t total) {
  if (total < 4 + 5) return FC_VIOLATION;
  my_cstmt *cs = cstmt_get(c->my, le32(m + 5));
  if (cs == NULL) return unknown_stmt(c, total, le32(m + 5), "mysqld_stmt_reset");
  /* Cursors pin, so no other connection holds one of this client's: what is left to reset is the long data, kept here. */
  cstmt_drop_long(c->my, cs);
  return my_answered(c, total, local_ok(c, 1));
}

/* Where an execute's new-params-bound byte is, or 0 when the packet is too short for it. */
static size_t bound_at(const uint8_t *pl, size_t len, uint16_t params) {
  size_t at = 10 + ((size_t)params + 7) / 8;
  return params > 0 && at < len ? at : 0;
}

/* Sends the client's long data for a statement ahead of its execute, under the server's id. */
static int send_long_data(my_client *mc, pg_server *sv, my_cstmt *cs, uint32_t server_id) {
  uint8_t *p = cs->long_data.data + cs->long_data.off;
  size_t n = cs->long_data.len;
  while (n >= 9) {
    size_t total = 4 + (size_t)le24(p);
    if (total > n) return -1;
    put_le32(p + 5, server_id);
    if (my_put(sv, p, total, RQ_MY_OTHER, RA_SKIP, 0) < 0) return -1;
    p += total;
    n -= total;
  }
  cstmt_drop_long(mc, cs);
  return 0;
}

/* Prepares a client statement on the held server first; the execute waits for the server's id. */
static int my_reprepare(pg_client *c, pg_server *sv, const pg_stmt *st) {
  size_t n = st->klen - 8;
  if (n + 1 > MY_FRAME_MAX - 1) return FC_VIOLATION;
  uint8_t *pkt = malloc(5 + n);
  if (pkt == NULL) return FC_NOMEM;
  uint32_t len = (uint32_t)(n + 1);
  put_le24(pkt, len);
  pkt[3] = 0;
  pkt[4] = MY_STMT_PREPARE;
  memcpy(pkt + 5, st->key + 8, n);
  int r = my_put(sv, pkt, 5 + n, RQ_MY_REPREPARE, RA_SKIP, st->id);
  free(pkt);
  if (r < 0) return FC_NOMEM;
  c->my->preparing = 1;
  return FC_WAIT;
}

/*
 * The execute under the server's statement id; with the client's parameter
 * types when it sends none and the server statement last had others.
 */
static int my_send_execute(pg_client *c, pg_server *sv, my_cstmt *cs, my_sstmt *ss, const uint8_t *m, size_t total) {
  const uint8_t *pl = m + 4;
  size_t len = total - 4;
  size_t at = pl[0] == MY_STMT_EXECUTE ? bound_at(pl, len, cs->params) : 0;
  int bound = at > 0 && pl[at] != 0;
  int supply = at > 0 && !bound && cs->types != NULL && !(ss->types != NULL && ss->ntypes == cs->ntypes && memcmp(ss->types, cs->types, cs->ntypes) == 0);
  size_t extra = supply ? cs->ntypes : 0;
  if (len + extra >= MY_FRAME_MAX) return FC_VIOLATION;
  uint8_t *pkt = malloc(total + extra);
  if (pkt == NULL) return FC_NOMEM;
  size_t head = supply ? 4 + at : total;
  memcpy(pkt, m, head);
  put_le32(pkt + 5, ss->id);
  if (supply) {
    pkt[4 + at] = 1;
    memcpy(pkt + 5 + at, cs->types, cs->ntypes);
    memcpy(pkt + 5 + at + cs->ntypes, m + 5 + at, total - 5 - at);
    uint32_t nl = (uint32_t)(len + extra);
    put_le24(pkt, nl);
  }
  if (bound || supply) {
    uint8_t *t = realloc(ss->types, cs->ntypes ? cs->ntypes : 1);
    if (t == NULL) {
      free(pkt);
      return FC_NOMEM;
    }
    memcpy(t, cs->types, cs->ntypes);
    ss->types = t;
    ss->ntypes = cs->ntypes;
  }
  /* Last before the execute: long data left on a server statement by an execute that never went would be the next client's parameter. */
  if (cs->long_data.len > 0 && send_long_data(c->my, sv, cs, ss->id) < 0) {
    free(pkt);
    return FC_NOMEM;
  }
  int w = my_forward(c, pkt, total + extra, RQ_MY_STMT, total);
  free(pkt);
  return w;
}

/* COM_STMT_EXECUTE and MariaDB's COM_STMT_BULK_EXECUTE: the client's id mapped to the server's, prepared there first when needed. */
static int my_execute(pg_client *c, const uint8_t *m, size_t total) {
  const uint8_t *pl = m + 4;
  size_t len = total - 4;
  int bulk = pl[0] == MY_STMT_BULK;
  if (len < (bulk ? 7u : 10u)) return FC_VIOLATION;
  uint32_t id = le32(pl + 1);
  my_cstmt *cs = cstmt_get(c->my, id);
  if (cs == NULL) return unknown_stmt(c, total, id, bulk ? "mysqld_stmt_bulk_execute" : "mysqld_stmt_execute");
  if (!bulk && c->verdict != 2) {
    size_t at = bound_at(pl, len, cs->params);
    if (cs->params > 0 && at == 0) return FC_VIOLATION;
    if (at > 0 && pl[at] != 0) {
      size_t nt = 2 * (size_t)cs->params;
      if (at + 1 + nt > len) return FC_VIOLATION;
      if (cs->ntypes != nt || cs->types == NULL || memcmp(cs->types, pl + at + 1, nt) != 0) {
        uint8_t *t = realloc(cs->types, nt);
        if (t == NULL) return FC_NOMEM;
        memcpy(t, pl + at + 1, nt);
        cs->types = t;
        cs->ntypes = nt;
      }
    }
    if (pl[5] & 0x07) pin(c, MYPIN_CURSOR); /* READ_ONLY, FOR_UPDATE, SCROLLABLE: a cursor stays on the server */
    c->verdict = 2; /* read once: the execute may wait for a server or a prepare, then comes back here */
  }
  int a = acquire(c);
  if (a < 0) return FC_NOMEM;
  if (a == 0) return FC_WAIT;
  pg_server *sv = c->server;
  my_sstmt *ss = sstmt_find(sv->my, cs->st->id);
  if (ss == NULL) return my_reprepare(c, sv, cs->st);
  int w = my_send_execute(c, sv, cs, ss, m, total);
  if (w == FC_PROGRESS) stat_add(c->pool, ST_QUERIES, 1);
  return w;
}

static int my_fetch(pg_client *c, const uint8_t *m, size_t total) {
  if (total < 4 + 9) return FC_VIOLATION;
  uint32_t id = le32(m + 5);
  my_cstmt *cs = cstmt_get(c->my, id);
  my_sstmt *ss = cs != NULL && c->server != NULL ? sstmt_find(c->server->my, cs->st->id) : NULL;
  if (ss == NULL) return unknown_stmt(c, total, id, "mysqld_stmt_fetch");
  uint8_t *pkt = malloc(total);
  if (pkt == NULL) return FC_NOMEM;
  memcpy(pkt, m, total);
  put_le32(pkt + 5, ss->id);
  int w = my_forward(c, pkt, total, RQ_MY_OTHER, total);
  free(pkt);
  return w;
}

/* A command of more than one frame (16 MB or more): only COM_QUERY, streamed to a server the client is pinned to. */
static int my_long_start(pg_client *c) {
  my_client *mc = c->my;
  dbuf *in = &c->s->to_srv;
  int w = whole(in, 10);
  if (w <= 0) return w < 0 ? FC_NOMEM : FC_WAIT;
  const uint8_t *m = in->data + in->off;
  if (m[4] != MY_QUERY) {
    local_err(c, 1, 1153, "08S01", "Got a packet bigger than 'max_allowed_packet' bytes");
    return FC_VIOLATION;
  }
  pin(c, MYPIN_LONG);
  my_debug(c, 'Q', NULL, MY_LONG_TEXT + 1);
  int a = acquire(c);
  if (a < 0) return FC_NOMEM;
  if (a == 0) return FC_WAIT;
  stat_add(c->pool, ST_QUERIES, 1);
  mc->long_cmd = 1;
  mc->long_seq = 1;
  mc->long_len = MY_FRAME_MAX;
  memcpy(mc->long_head, m + 4, 6);
  my_head_done(c);
  stream(c, 4 + (size_t)MY_FRAME_MAX, 0);
  return FC_PROGRESS;
}

/* The next frame of a long command; the last one (shorter than 16 MB) completes it. */
static int my_long_frame(pg_client *c) {
  my_client *mc = c->my;
  const uint8_t *m = c->s->to_srv.data + c->s->to_srv.off;
  uint32_t len = le24(m);
  pg_server *sv = c->server;
  if (m[3] != mc->long_seq || sv == NULL) return FC_VIOLATION;
  mc->long_seq++;
  mc->long_len += len;
  if (len < MY_FRAME_MAX) {
    mc->long_cmd = 0;
    int r = my_resp_sent(&sv->my->t, mc->long_head, 6, mc->long_len);
    if (r < 0) return FC_VIOLATION;
    if (r == 1) {
      if (rq_push(sv, RQ_MY_STMT, RA_FORWARD, 0) < 0) return FC_NOMEM;
      sv->my->last_owner = (uint64_t)c->s->id + 1;
      mc->busy = 1;
      dbuf_free(&mc->fx_bytes);
      mc->fx_flags = 0;
    }
  }
  stream(c, 4 + (size_t)len, 0);
  return FC_PROGRESS;
}

/* Commands relayed as they are (their response follows the usual shapes). */
static int relayed_as_is(uint8_t cmd) {
  switch (cmd) {
    case 0x04: /* COM_FIELD_LIST */
    case 0x07: /* COM_REFRESH */
    case 0x08: /* COM_SHUTDOWN */
    case 0x09: /* COM_STATISTICS */
    case 0x0a: /* COM_PROCESS_INFO */
    case 0x0c: /* COM_PROCESS_KILL */
    case 0x0d: /* COM_DEBUG */
    case MY_PING:
    case MY_SET_OPTION:
      return 1;
    default:
      return 0;
  }
}

/* One client command: answers or routes it, or FC_WAIT when it cannot go on yet. */
static int my_frame_one(pg_client *c) {
  my_client *mc = c->my;
  dbuf *in = &c->s->to_srv;
  if (mc->busy || mc->preparing || c->verdict == 1) return FC_WAIT;
  if (mc->long_cmd) return my_long_frame(c);
  const uint8_t *m = in->data + in->off;
  uint32_t len = le24(m);
  if (m[3] != 0 || len == 0) return FC_VIOLATION;
  if (len == MY_FRAME_MAX) return my_long_start(c);
  size_t total = 4 + (size_t)len;
  int w = whole(in, total);
  if (w <= 0) return w < 0 ? FC_NOMEM : FC_WAIT;
  m = in->data + in->off;
  uint8_t cmd = m[4];
  switch (cmd) {
    case MY_QUIT:
      return FC_TERMINATE;
    case MY_STMT_CLOSE:
      if (len < 5) return FC_VIOLATION;
      cstmt_close(c, le32(m + 5));
      dbuf_consume(in, total);
      return FC_PROGRESS;
    case MY_STMT_LONG_DATA:
      return my_long_data(c, m, total);
    case MY_STMT_RESET:
      return my_stmt_reset(c, m, total);
    case MY_RESET_CONNECTION:
      return my_reset_connection(c, total);
    case MY_STMT_PREPARE:
      return my_prepare(c, m, total);
    case MY_STMT_EXECUTE:
    case MY_STMT_BULK:
      return my_execute(c, m, total);
    case MY_STMT_FETCH:
      return my_fetch(c, m, total);
    case MY_QUERY:
      return my_query(c, m, total);
    case MY_INIT_DB:
      return my_init_db(c, m, total);
    case MY_PING:
      if (c->server == NULL) return my_answered(c, total, local_ok(c, 1));
      break;
    case MY_SET_OPTION:
      pin(c, MYPIN_SET_OPTION);
      break;
  }
  /* COM_CHANGE_USER, replication and unknown commands: answered as a server answers an unknown command. */
  if (!relayed_as_is(cmd)) return my_answered(c, total, local_err(c, 1, 1047, "08S01", "Unknown command"));
  return my_forward(c, m, total, RQ_MY_OTHER, total);
}

/* ------------------------------------------------------------ the server side */

/*
 * Before the first byte of a response goes anywhere: a client's prepare
 * gets the proxy's statement id in its OK, and an injected prepare that
 * failed answers the client's execute. 0: more bytes needed.
 */
static int my_response_start(pg_server *sv, rq *h) {
  h->flags |= RQF_MY_STARTED;
  if (h->kind != RQ_MY_PREPARE && h->kind != RQ_MY_REPREPARE) return 1;
  if (sv->in.len < 4) goto wait;
  uint8_t *b = sv->in.data + sv->in.off;
  uint32_t plen = le24(b);
  size_t need = 4 + (plen < 5 ? plen : 5);
  if (sv->in.len < need) goto wait;
  if (plen == 0) return 1; /* the tracker refuses it */
  pg_client *c = sv->client;
  if (c == NULL) return 1;
  if (h->kind == RQ_MY_REPREPARE) {
    if (b[4] == 0xff && c->my->preparing) h->flags |= RQF_MY_TO_CLIENT;
  } else if (h->action == RA_FORWARD && b[4] == 0x00 && plen >= 5) {
    my_client *mc = c->my;
    uint32_t id = mc->next_id;
    mc->next_id = id >= 0xfffffffeu ? 1 : id + 1;
    mc->prep_id = id;
    h->flags |= RQF_MY_PATCH;
  }
  return 1;
wait:
  h->flags &= (uint8_t)~RQF_MY_STARTED;
  return 0;
}

/* The client's head command, answered by a response it was not sent for (an injected prepare's error). */
static void my_head_answered(pg_client *c) {
  dbuf *in = &c->s->to_srv;
  if (in->len >= 4) {
    size_t total = 4 + (size_t)le24(in->data + in->off);
    dbuf_consume(in, total <= in->len ? total : in->len);
  }
  my_head_done(c);
}

/* A statement's answer: its effect on the settings (when it worked), the transaction, the pin. */
static void my_statement_done(pg_client *c, pg_server *sv, const my_end *e) {
  my_client *mc = c->my;
  uint32_t fx = mc->fx_flags;
  /* Whatever its outcome, a procedure may have left a named lock no status flag shows: nobody else gets the session as it is. */
  if ((fx & MYV_RESET_AFTER) && sv->dirty == 0) sv->dirty = 1;
  if (e->insert_id != 0) {
    mc->insert_id = e->insert_id;
    /* Not the server's value for sure (an upsert reports the row's id): the next borrower sets its own. */
    sv->my->insert_unknown = 1;
  }
  if (e->outcome == MYR_OK || e->outcome == MYR_EOF) {
    if (fx & MYV_SETTINGS) my_apply_settings(c, sv);
    /* A change the server reports that no statement the proxy read explains cannot be carried over: pinned. */
    else if (!(fx & (MYV_SETTING_ONLY | MYV_TRANSIENT)) && (e->status & MYS_STATE_CHANGED)) pin(c, MYPIN_STATE_CHANGE);
    if (((e->status & MYS_AUTOCOMMIT) != 0) != (mc->autocommit != 0)) pin(c, MYPIN_STATE_CHANGE);
  } else if (e->outcome == MYR_ERR && (fx & MYV_PIN_ON_ERROR)) {
    /* Some items of a failed SET may have applied: what the connection carries is no longer known. */
    pin(c, MYPIN_SESSION_VARIABLE);
  }
  my_after_statement(mc, e->status, (fx & MYV_SETTING_ONLY) != 0);
  mc->fx_flags = 0;
  dbuf_free(&mc->fx_bytes);
}

/* A client's prepare worked: its id names the statement, and this server has it. */
static int my_prepared(pg_client *c, pg_server *sv, const my_end *e) {
  my_client *mc = c->my;
  pg_stmt *st;
  if (mc->prep_text == NULL || mc->prep_id == 0) return 0;
  if (cstmt_add(c, mc->prep_id, mc->prep_text, mc->prep_len, e->num_params, &st) < 0) return -1;
  return sstmt_add(sv, st->id, e->stmt_id, e->num_params);
}

/* The response at the queue's head has ended. -1: the server must close. */
static int my_response_end(pg_server *sv, const my_end *e) {
  rq h = *rq_head(sv);
  rq_pop(sv);
  sv->my->status = e->status;
  if (e->diag) sv->my->diag = 1;
  pg_client *c = sv->client;
  my_client *mc = c != NULL ? c->my : NULL;
  int mine = mc != NULL && h.action == RA_FORWARD; /* the client's own command, answered */
  if (h.sent_us != 0) {
    stat_add(sv->pool, ST_RESPONSES, 1);
    stat_add(sv->pool, ST_RESPONSE_US, (double)(uv_hrtime() / 1000 - h.sent_us));
  }
  if (mine && e->status_reported) mc->status = e->status;
  switch (h.kind) {
    case RQ_MY_SETUP:
      if (e->outcome != MYR_ERR) return 0;
      if (h.action == RA_SKIP_RESET) sv->dirty = 2; /* a reset failed: the connection cannot be trusted */
      else if (h.action == RA_SKIP_SETTINGS && c != NULL) client_fail(c, &sv->pool->lost_err);
      return 0;
    case RQ_MY_REPREPARE:
      if (e->outcome == MYR_OK && sstmt_add(sv, h.stmt, e->stmt_id, e->num_params) < 0) return -1;
      if (mc != NULL && mc->preparing) {
        mc->preparing = 0;
        if (h.flags & RQF_MY_TO_CLIENT) my_head_answered(c);
        else mc->prepared_head = 1;
      }
      return 0;
    case RQ_MY_PREPARE:
      if (!mine) return e->outcome == MYR_OK ? my_close_stmt(sv, e->stmt_id) : 0; /* nobody will name it */
      mc->busy = 0;
      /* MariaDB's statement -1 is the last prepare's: after one that failed it names none, not the one before. */
      if (e->outcome != MYR_OK) mc->last_id = 0;
      int r = e->outcome == MYR_OK ? my_prepared(c, sv, e) : 0;
      free(mc->prep_text);
      mc->prep_text = NULL;
      return r;
    case RQ_MY_STMT:
      if (!mine) return 0;
      mc->busy = 0;
      my_statement_done(c, sv, e);
      return 0;
    default:
      if (mine) mc->busy = 0;
      return 0;
  }
}

/* A server that carries a database its reset cannot take away goes instead of back; one with the client's warnings is reset first. */
static void my_release(pg_server *sv) {
  unlink_client(sv);
  my_after_response(sv); /* nobody holds it now: closed, reset or given back there */
}

/* Nothing is outstanding on the server: the client may let go of it; one left behind is cleaned. */
static void my_after_response(pg_server *sv) {
  if (sv->dirty == 2) return server_close(sv, "reset failed");
  my_server *ms = sv->my;
  pg_client *c = sv->client;
  if (c != NULL) {
    my_client *mc = c->my;
    set_in_tx(sv, mc->tx_open);
    if (mc->busy || mc->preparing || mc->prepared_head || mc->long_cmd || c->pinned || mc->tx_open || (ms->status & MYS_CURSOR) || c->stream_left > 0) return;
    return my_release(sv);
  }
  /* Warnings or an error a client left stay readable (SHOW WARNINGS) until a reset clears them. */
  if ((ms->status & MYS_IN_TRANS) || sv->dirty || ms->diag) {
    if (ms->sticky) return server_close(sv, "it carries a database the pool's reset cannot undo");
    /* COM_RESET_CONNECTION rolls back what was open and drops the session's state and statements. */
    sv->dirty = 0;
    if (my_send_reset(sv) < 0) return server_close(sv, "out of memory");
    return;
  }
  if (ms->sticky) return server_close(sv, "it carries a database the pool's reset cannot undo");
  give_back(sv);
}

/*
 * Frames what sv->in holds: each response's bytes go to the client or
 * nowhere, each end is acted on. 1 if it made progress, 0 if not, -1 if the
 * server must close (a protocol error, or bytes nobody asked for: MySQL
 * 8.0.24+ sends ERR 4031 before closing an idle connection).
 */
static int my_frame_server(pg_server *sv) {
  int progress = 0;
  while (sv->in.len > 0 && !sv->closed) {
    pg_client *c = sv->client;
    if (c != NULL && c->s->to_cli.len >= PG_HIGH) break;
    rq *h = rq_head(sv);
    if (h == NULL) return -1;
    if (!(h->flags & RQF_MY_STARTED) && !my_response_start(sv, h)) break;
    size_t used = 0;
    my_end e = {0};
    const char *why = NULL;
    int r = my_resp_push(&sv->my->t, sv->in.data + sv->in.off, sv->in.len, &used, &e, &why);
    if (r < 0 || (r == 1 && e.unsolicited)) return -1;
    if (h->flags & RQF_MY_PATCH) {
      /* The OK's first bytes (at least 9, my_response_start waited for them) were just read with the server's id. */
      h->flags &= (uint8_t)~RQF_MY_PATCH;
      if (c != NULL) put_le32(sv->in.data + sv->in.off + 5, c->my->prep_id);
    }
    int forward = c != NULL && (h->action == RA_FORWARD || (h->flags & RQF_MY_TO_CLIENT));
    if (forward && dbuf_append(&c->s->to_cli, sv->in.data + sv->in.off, used) < 0) return -1;
    dbuf_consume(&sv->in, used);
    progress = 1;
    if (r == 0) continue;
    if (my_response_end(sv, &e) < 0) return -1;
    if (sv->closed) return progress;
    if (sv->qlen == 0) my_after_response(sv);
  }
  return progress;
}

/*
 * A client's server died under it (a failover, a restart). Outside a
 * transaction, with nothing of the answer passed on, only the command in
 * flight fails (ERR 2013) and the client goes on with another server
 * connection; otherwise the client is let go, as the session it had is gone.
 */
static void my_lose_in_flight(pg_client *c, pg_server *sv) {
  my_client *mc = c->my;
  rq *h = rq_head(sv);
  int passed = h != NULL && (h->flags & RQF_MY_STARTED) && (h->action == RA_FORWARD || (h->flags & RQF_MY_TO_CLIENT));
  if (passed) return client_fail(c, NULL);
  if (mc->tx_open || c->pinned || mc->long_cmd || c->stream_left > 0) return client_fail(c, &sv->pool->lost_err);
  sv->qlen = 0;
  if (mc->busy || mc->preparing) {
    const dbuf *err = &sv->pool->failed_err;
    if (dbuf_append(&c->s->to_cli, err->data + err->off, err->len) < 0) return client_fail(c, NULL);
    if (mc->preparing) my_head_answered(c);
    mc->busy = mc->preparing = 0;
    mc->fx_flags = 0;
    dbuf_free(&mc->fx_bytes);
    if (mc->prep_text != NULL) mc->last_id = 0; /* a prepare that failed: statement -1 names none */
    free(mc->prep_text);
    mc->prep_text = NULL;
  }
  mc->tx_open = mc->tx_seen = 0;
  mc->prepared_head = 0; /* the execute goes to the next server, prepared there again */
  session *s = c->s;
  if (!s->in_pump) {
    ref(s);
    client_pump(s);
    unref(s);
  }
}

/* ------------------------------------------------------------ pg_pool.c's hooks */

/* flags: MYV_AUTOCOMMIT and MYV_STICKY of the client's settings at login. */
static int my_client_new(pg_client *c, uint32_t caps, uint32_t flags) {
  my_client *mc = calloc(1, sizeof(my_client));
  if (mc == NULL) return -1;
  mc->caps = caps;
  mc->status = MYS_AUTOCOMMIT;
  mc->autocommit = (flags & MYV_AUTOCOMMIT) != 0;
  mc->sticky = (flags & MYV_STICKY) != 0;
  mc->next_id = 1;
  c->my = mc;
  return 0;
}

static uint16_t my_client_status(const pg_client *c) { return c->my->status; }

/*
 * A client lets go of its server: -1 it must close (a command half sent), 1
 * it must be reset (a transaction, or a command in flight: what it does to
 * the session, a tracked SET or USE that the server's settings id does not
 * show, a change only its answer reports, is read by nobody), 0 as it is.
 */
static int my_orphan_dirty(const pg_client *c) {
  if (c->my->long_cmd) return -1;
  return c->my->tx_open || c->my->busy ? 1 : 0;
}

/*
 * JavaScript's verdict on the head command: with the settings it leaves,
 * when it succeeds. 0: its pin reason does not apply (the command will be
 * refused: MYV_HELD_ONLY without a held server), 1: it does.
 */
static int my_verdict(pg_client *c, const cmd *cm) {
  my_client *mc = c->my;
  mc->v_flags = cm->my.flags;
  mc->v_settings = (uint64_t)cm->d;
  dbuf_free(&mc->v_bytes);
  if ((cm->my.flags & MYV_SETTINGS) && cm->nbytes2 > 0) {
    mc->v_bytes.data = malloc(cm->nbytes2);
    if (mc->v_bytes.data == NULL) {
      /* Without the commands the settings cannot follow the client: keep it where it is. */
      mc->v_flags &= ~(uint32_t)MYV_SETTINGS;
      pin(c, MYPIN_SESSION_VARIABLE);
      return 1;
    }
    memcpy(mc->v_bytes.data, cm->bytes2, cm->nbytes2);
    mc->v_bytes.len = mc->v_bytes.cap = cm->nbytes2;
  }
  return !my_held_only(c);
}

/* ------------------------------------------------------------ JS bindings */

/* Optional trailing [a, b, c, d] of uint32 (MySQL's extra fields of a command); absent: zeros. */
static int my_fields(napi_env env, napi_value v, uint32_t out[4]) {
  bool is_array = false;
  napi_valuetype t;
  memset(out, 0, 4 * sizeof(uint32_t));
  if (napi_typeof(env, v, &t) == napi_ok && t == napi_undefined) return 0;
  if (napi_is_array(env, v, &is_array) != napi_ok || !is_array) return -1;
  uint32_t n;
  if (napi_get_array_length(env, v, &n) != napi_ok || n > 4) return -1;
  for (uint32_t i = 0; i < n; i++) {
    napi_value e;
    if (napi_get_element(env, v, i, &e) != napi_ok || napi_get_value_uint32(env, e, &out[i]) != napi_ok) return -1;
  }
  return 0;
}

/* mysqlVerdict(sessionId, pinReason, flags, settingsId, settings: Buffer): the verdict on a MySQL command. */
static napi_value js_mysql_verdict(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 5) return throw_msg(env, "mysqlVerdict expects 5 arguments");
  uint32_t id, pin_reason, flags;
  double settings;
  CHECK(napi_get_value_uint32(env, argv[0], &id));
  CHECK(napi_get_value_uint32(env, argv[1], &pin_reason));
  CHECK(napi_get_value_uint32(env, argv[2], &flags));
  CHECK(napi_get_value_double(env, argv[3], &settings));
  cmd *c = new_cmd(env, CMD_VERDICT, id);
  if (c == NULL) return NULL;
  dbuf b = {0};
  if (buffer_copy(env, argv[4], &b) < 0) {
    free(c);
    return throw_msg(env, "mysqlVerdict expects a Buffer");
  }
  c->a = pin_reason;
  c->my.flags = flags;
  c->d = settings;
  c->bytes2 = b.data;
  c->nbytes2 = b.len;
  submit(c);
  return NULL;
}

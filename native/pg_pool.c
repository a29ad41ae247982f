/*
 * The pooled relay for PostgreSQL proxy endpoints: clients that have logged
 * in (in JavaScript) borrow a server connection from a pool for one
 * transaction at a time. docs/architecture.md ("Proxy endpoints") has the
 * design; this file is its hot path.
 *
 * Compiled as part of data_path.c's translation unit (included at its end),
 * so the session type, the engine and the event queue stay file-private.
 *
 * What happens per client message (frame_client): the message is framed
 * (type and length), a Query or Parse is run through the statement filter
 * (pg_scan.c) and, when the filter says so, held until JavaScript's verdict
 * (pin or go on); the client borrows a server if it holds none (or waits in
 * the pool's queue); named statements are renamed to the pool's own
 * (iamdb_<n>) and prepared on the server when it lacks them; every request
 * is queued on the server with what its reply means.
 *
 * What happens per server message (frame_server): the reply pops its request
 * and is forwarded to the client, swallowed (replies to what the pooler
 * injected) or preceded by synthesized replies (ParseComplete for a statement
 * the server already had, CloseComplete for a Close kept local). A
 * ReadyForQuery with status I, nothing outstanding and the client not pinned
 * gives the server back to the pool.
 *
 * Ownership (adds to the table at the top of data_path.c):
 *   pg_pool    Built by poolCreate() on the JS thread, the loop thread's from
 *              CMD_POOL_CREATE on (listed in P.pools). Freed by pool_maybe_free()
 *              once it is closing and has no server and no client left.
 *   pg_limit   The bound a proxy's pools of one target share (CMD_POOL_LIMIT),
 *              listed in P.limits, counted by the pools that use it (pools)
 *              and freed when the last lets go (limit_leave).
 *   pg_server  Built by CMD_POOL_ADD around JS's fd (a dup), owned by its pool
 *              (listed in pool->all). Freed when closed and its poll handle's
 *              close callback has run (refs, as sessions). A server reached
 *              over TLS also owns the SSL it took from its login's link
 *              (pg_server_tls.c), freed by server_close().
 *   pg_client  Built by CMD_ATTACH for a session, owned by that session
 *              (s->pc) and freed by client_detach(), called from finish().
 *   pg_stmt    Owned by its pool's registry; counted by the client names that
 *              point at it (refs) and freed when the last goes. Server
 *              connections keep only its id, never a pointer.
 *   bytes      Every dbuf and the unnamed Parse copy belong to the struct
 *              that holds them.
 */

#define PG_SCAN_LIMIT 16384    /* statements longer than this pin: RDS Proxy's 16 KB rule */
#define PG_SMALL_LIMIT 65536   /* Describe, Close, Execute, Sync, Flush: never this large */
#define PG_BIND_PREFIX 4096    /* portal and statement names of a Bind */
#define PG_IN_MAX 65536        /* client bytes read ahead of the framer */
#define PG_HIGH 262144         /* stop reading one side while the other's buffer holds this much */
#define PG_MAX_PREPARED 256    /* statements one server connection keeps; the least recently used beyond go */
#define CLIENT_MAX_LIFE_MS (24ull * 3600 * 1000) /* RDS Proxy's fixed limit on a client connection's life */

/* How a pooled client ended (session.ended, EV_CLOSED's number): its server went back as it was, reset or closed; why it was let go. */
#define END_KEPT 1
#define END_RESET 2
#define END_CLOSED 3
#define END_IDLE 4    /* IdleClientTimeout */
#define END_EXPIRED 8 /* RDS Proxy's 24 hours */
#define END_STALLED 16 /* held a server and took none of its answer for client_stall_ms */

/* pg_client.discarding: why its messages are dropped up to the next Sync, and who answers that Sync. */
#define DISCARD_LOST 1   /* its series failed with its server: the pooler answers the Sync (idle) */
#define DISCARD_SERVER 2 /* its server skips after an error the pooler made it report: the Sync goes to it */

/* Pin reason the native side finds itself; the others come from JavaScript's verdicts. */
#define PIN_LONG_TEXT 1
#define PIN_FUNCTION_CALL 15 /* the fastpath FunctionCall: any function, unread */

/* Stats slots in the pool's Float64Array (gateway/proxy/native-pool.ts names them). */
enum { ST_SERVERS, ST_IDLE, ST_BORROWED, ST_IN_TX, ST_PINNED, ST_WAITING, ST_QUERIES, ST_BORROWS, ST_BORROW_US, ST_CLIENTS, ST_RESPONSES, ST_RESPONSE_US, ST_COUNT };

typedef enum { RQ_PARSE, RQ_BIND, RQ_DESCRIBE, RQ_EXECUTE, RQ_CLOSE, RQ_SYNC, RQ_QUERY, RQ_FUNC } rq_kind;
typedef enum {
  RA_FORWARD,       /* the client asked: its reply goes to the client */
  RA_SKIP,          /* the pooler injected it: swallow the reply */
  RA_FAKE,          /* not sent: synthesize the reply when it comes up */
  RA_SKIP_SETTINGS, /* the client's startup settings, injected: swallow; an error ends the client */
  RA_SKIP_RESET     /* ROLLBACK / DISCARD ALL after a client left: swallow; an error ends the server */
} rq_action;

/* rq flags of an RQ_PARSE */
#define RQF_NAMED 1  /* the client's own named Parse (forwarded or answered by the pooler) */
#define RQF_UNSENT 2 /* never reached the server (a fake turned skip after an error) */
#define RQF_EVICT 4  /* an RQ_CLOSE the pooler sent to make room: if skipped, the statement stays */

typedef struct {
  uint8_t kind, action, flags;
  uint64_t stmt; /* RQ_PARSE of a registered statement: its id */
  uint64_t sent_us; /* a client's Query, Sync or FunctionCall: when it went (QueryDatabaseResponseLatency) */
  uint64_t tick;    /* RQ_SYNC, RQ_QUERY: use_tick when it was queued */
} rq;

/*
 * Statement use is marked with a tick that only grows. A statement last used
 * before a Sync or Query whose ReadyForQuery said idle belongs to a finished
 * transaction, so no portal can still need it: only those are evicted.
 */
static uint64_t use_tick;

typedef struct pg_pool pg_pool;
typedef struct pg_server pg_server;

/*
 * RDS Proxy's MaxConnectionsPercent is a share of the target's connections
 * for the whole proxy: every (user, database) pool of the proxy counts its
 * open and opening server connections here, and a pool that needs one when
 * the bound is reached closes an idle one of another pool (make_room).
 */
typedef struct pg_limit {
  struct pg_limit *next;
  uint32_t id;
  int max;
  int count; /* open and opening, over all its pools */
  int pools; /* pools that use it */
} pg_limit;
typedef struct pg_client pg_client;

#define STMT_KEY_HEAD 16 /* settings id, then the pinned client's serial (0 for everyone else) */

typedef struct pg_stmt {
  uint64_t id;
  int refs;
  size_t klen; /* key: STMT_KEY_HEAD bytes, then the Parse body after the name */
  uint8_t *key;
  uint32_t hash;
} pg_stmt;

struct my_server;
struct my_client;

struct pg_pool {
  pg_pool *next;
  uint32_t id;
  int mysql; /* a MySQL/MariaDB pool: my_pool.c frames its clients and servers */
  int max_servers;
  int count;   /* open and opening */
  pg_limit *limit; /* shared with the proxy's other pools of the target, or NULL (max_servers alone) */
  int reserve;     /* JS's first login waits for room (CMD_POOL_RESERVE): counts as a waiter */
  int opening; /* asked of JS, not yet added */
  uint64_t borrow_timeout_ms;
  pg_server *all, *idle;
  pg_client *wait_head, *wait_tail;
  int nwaiting;
  int nclients;
  pg_client *clients; /* every attached client, for the sweep */
  uint64_t idle_client_timeout_ms; /* IdleClientTimeout; 0: none */
  uint64_t client_stall_ms;        /* a client holding a server that takes none of its answer this long goes */
  int max_idle;                    /* MaxIdleConnectionsPercent of the server's connections */
  uint64_t idle_server_ms;         /* how long a server beyond max_idle may stay idle */
  int debug_sql; /* DebugLogging: every Query's and Parse's text goes to JS (EV_STATEMENT) */
  bmap stmts;
  u64set valid; /* statements a server has accepted: a client without a server may prepare them */
  uint64_t next_stmt;
  uint64_t neutral_settings;
  dbuf reset_msg;   /* a Query: DISCARD ALL and the InitQuery */
  dbuf timeout_err; /* ErrorResponse bytes JS rendered */
  dbuf lost_err;    /* FATAL: a client whose open transaction died with its server */
  dbuf failed_err;  /* ERROR: a client whose statement in flight died with its server (it stays) */
  double *stats; /* JS's Float64Array (kept alive by JS until the pool is freed) */
  int closing;
  int holds;     /* frames walking the pool's lists: it is not freed under them */
  int scheduled; /* on P.ready: waiters may find a server */
  pg_pool *ready_next;
};

struct pg_server {
  pg_server *next_all, *prev_all, *next_idle;
  uint32_t id;
  pg_pool *pool;
  int fd;
  SSL *ssl;            /* TLS to the server (pg_server_tls.c), or NULL: plain TCP */
  int read_want, write_want; /* TLS: what the last SSL_read / SSL_write waits for, or 0 */
  uv_poll_t poll;
  int poll_on, pev, refs;
  int closed;
  pg_client *client;
  dbuf in, out;
  int in_ready, out_blocked, eof;
  int broken; /* libuv saw POLLERR (a reset): read until recv says so, whatever the size of a read */
  int retire; /* JS says its target no longer fits the pool (a role change): closed once nobody holds it */
  /* framer: the message being read */
  uint8_t hdr[6];
  int hdr_have;
  size_t body_left;
  int cur_drop;
  /* outstanding requests */
  rq *q;
  size_t qhead, qlen, qcap;
  char tx;
  int copy;
  int dirty; /* session state a client left: reset before reuse */
  int in_idle;
  uint64_t settings_id;
  u64set prepared;
  uint64_t unnamed_owner;
  int in_tx;     /* counted in ST_IN_TX */
  int canceling; /* cancels JS is delivering to it */
  int held;      /* given back while cancels were in flight */
  pg_server *next_alone;
  int alone_queued;
  int series_open; /* an extended message went out after the last Sync: the server holds an implicit transaction */
  int skipping;    /* the server reported an error in the open series: it ignores everything up to the Sync */
  uint64_t idle_tick; /* statements marked before this are in no open transaction (see use_tick) */
  uint64_t idle_since; /* when it last joined the idle list */
  struct my_server *my; /* MySQL pools: the server's protocol state (my_pool.c), owned here */
};

struct pg_client {
  session *s;
  pg_pool *pool;
  pg_server *server;
  pg_client *wait_next;
  pg_client *next_in_pool, *prev_in_pool;
  uint64_t started;     /* when it joined: clients live at most CLIENT_MAX_LIFE_MS, as on RDS Proxy */
  uint64_t last_active; /* its last bytes: IdleClientTimeout counts from here */
  uint64_t last_taken;  /* it last took bytes of its answers: a stall counts from here */
  int waiting;
  uint64_t wait_since;
  size_t stream_left; /* rest of the current message, streamed (or dropped) */
  int stream_drop;
  int pinned;  /* reason code; 0 = not pinned */
  int verdict; /* 0 none, 1 asked, 2 answered for the message at the head */
  int told;    /* DebugLogging: the message at the head has been reported */
  int raw_names; /* pinned, it prepared a statement too long for the registry under its own name */
  int closing; /* send what is queued, then end */
  int discarding; /* DISCARD_*: drop messages up to the Sync, as a server skipping after an error would */
  uint64_t settings_id;
  dbuf settings; /* a Query message setting the client's startup settings */
  bmap names;
  uint8_t *unnamed; /* the body of its last unnamed Parse */
  size_t unnamed_len;
  uint64_t unnamed_tag;
  uint32_t serial;
  uint32_t unnamed_seq;
  struct my_client *my; /* MySQL pools: the client's protocol state (my_pool.c), owned here */
};

static pg_server *alone_head; /* servers queued by defer_alone() */

static struct {
  pg_pool *pools;
  pg_limit *limits;
  pg_pool *ready; /* pools with idle servers and waiting clients */
  int running_ready;
  uv_timer_t timer;
  uv_timer_t sweep; /* once a second while pools exist: idle and old clients */
  int sweep_on;
  int timer_on;
  uint32_t next_serial;
} P;

static uint64_t now_ms(void) { return uv_now(&E.loop); }

/* The MySQL engine (my_pool.c, included after this file). */
static int my_frame_server(pg_server *sv);
static int my_frame_one(pg_client *c);
static int my_link_settings(pg_client *c, pg_server *sv);
static void my_lose_in_flight(pg_client *c, pg_server *sv);
static void my_after_response(pg_server *sv);
static void my_client_free(pg_client *c);
static void my_server_free(struct my_server *ms);
static int my_client_new(pg_client *c, uint32_t caps, uint32_t flags);
static struct my_server *my_server_new(uint32_t caps, uint32_t mcaps, uint16_t status, const char **why);
static int my_orphan_dirty(const pg_client *c);
static int my_verdict(pg_client *c, const cmd *cm);
static uint16_t my_client_status(const pg_client *c);

#ifdef IAMDB_POOL_TRACE
#include <stdio.h>
#define TRACE(...) fprintf(stderr, "[pool] " __VA_ARGS__)
#else
#define TRACE(...) ((void)0)
#endif

static void stat_set(pg_pool *p, int slot, double v) {
  if (p->stats == NULL) return;
  uint64_t bits;
  memcpy(&bits, &v, sizeof bits);
  __atomic_store_n((uint64_t *)&p->stats[slot], bits, __ATOMIC_RELAXED);
}
static double stat_get(pg_pool *p, int slot) {
  if (p->stats == NULL) return 0;
  uint64_t bits = __atomic_load_n((uint64_t *)&p->stats[slot], __ATOMIC_RELAXED);
  double v;
  memcpy(&v, &bits, sizeof v);
  return v;
}
static void stat_add(pg_pool *p, int slot, double d) { stat_set(p, slot, stat_get(p, slot) + d); }

static uint32_t be32(const uint8_t *p) { return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3]; }
static void put32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

static int dbuf_append(dbuf *b, const void *p, size_t n) {
  if (n == 0) return 0;
  if (b->off + b->len + n > b->cap && dbuf_reserve(b, b->len + n) < 0) return -1;
  memcpy(b->data + b->off + b->len, p, n);
  b->len += n;
  return 0;
}

/* ------------------------------------------------------------ the queue */

static int rq_is_extended(uint8_t k);

/*
 * Queues what a request's reply means. Also follows the server's extended
 * series: an extended request opens one (an implicit transaction until the
 * Sync), a Sync or a Query ends it; a reply made up while the server skips
 * to the Sync after an error is dropped as the server would drop it.
 */
static int rq_push(pg_server *sv, uint8_t kind, uint8_t action, uint64_t stmt) {
  uint8_t flags = 0;
  if (rq_is_extended(kind)) {
    if (action == RA_FAKE && sv->skipping) {
      action = RA_SKIP;
      flags = RQF_UNSENT;
    }
    if (action != RA_FAKE) sv->series_open = 1;
  } else if (kind == RQ_SYNC || kind == RQ_QUERY) {
    sv->series_open = 0;
    sv->skipping = 0;
  }
  if (sv->qlen == sv->qcap) {
    size_t cap = sv->qcap ? sv->qcap * 2 : 16;
    rq *q = malloc(cap * sizeof(rq));
    if (q == NULL) return -1;
    for (size_t i = 0; i < sv->qlen; i++) q[i] = sv->q[(sv->qhead + i) % sv->qcap];
    free(sv->q);
    sv->q = q;
    sv->qcap = cap;
    sv->qhead = 0;
  }
  rq *e = &sv->q[(sv->qhead + sv->qlen) % sv->qcap];
  e->kind = kind;
  e->action = action;
  e->flags = flags;
  e->stmt = stmt;
  e->tick = use_tick;
  e->sent_us = (action == RA_FORWARD && (kind == RQ_QUERY || kind == RQ_SYNC || kind == RQ_FUNC)) ? uv_hrtime() / 1000 : 0;
  sv->qlen++;
  return 0;
}

static rq *rq_head(pg_server *sv) { return sv->qlen ? &sv->q[sv->qhead] : NULL; }

/* The entry rq_push just added. */
static rq *rq_tail(pg_server *sv) { return &sv->q[(sv->qhead + sv->qlen - 1) % sv->qcap]; }

static void rq_pop(pg_server *sv) {
  if (sv->qlen == 0) return;
  sv->qhead = (sv->qhead + 1) % sv->qcap;
  sv->qlen--;
}

static int rq_is_extended(uint8_t k) { return k == RQ_PARSE || k == RQ_BIND || k == RQ_DESCRIBE || k == RQ_EXECUTE || k == RQ_CLOSE; }

/* ------------------------------------------------------------ the bound */

static void server_close(pg_server *sv, const char *why);
static void schedule(pg_pool *p);

static void count_add(pg_pool *p, int d) {
  p->count += d;
  if (p->limit != NULL) p->limit->count += d;
}

/* No room for one more server connection: the pool's own bound, or the one its limit shares. */
static int pool_full(const pg_pool *p) { return p->count >= p->max_servers || (p->limit != NULL && p->limit->count >= p->limit->max); }

/* Clients (or JS's first login) wait for a connection the pool may not open only because of the shared bound. */
static int starving(const pg_pool *p) {
  return !p->closing && p->nwaiting + p->reserve > p->opening && p->count < p->max_servers && p->limit != NULL && p->limit->count >= p->limit->max;
}

static int sibling_starving(const pg_pool *p) {
  if (p->limit == NULL) return 0;
  for (pg_pool *q = P.pools; q != NULL; q = q->next) {
    if (q != p && q->limit == p->limit && starving(q)) return 1;
  }
  return 0;
}

/* A connection left the bound: the pool, and the others sharing its limit, may grow now. */
static void wake_limit(pg_pool *p) {
  schedule(p);
  if (p->limit == NULL) return;
  for (pg_pool *q = P.pools; q != NULL; q = q->next) {
    if (q != p && q->limit == p->limit) schedule(q);
  }
}

/*
 * p needs a connection and the shared bound is reached: the least recently
 * used idle connection of another pool of its limit is closed for it (an idle
 * connection helps nobody; RDS Proxy hands capacity over the same way).
 */
static int make_room(pg_pool *p) {
  if (p->limit == NULL || p->count >= p->max_servers) return 0;
  for (pg_pool *q = P.pools; q != NULL; q = q->next) {
    if (q == p || q->limit != p->limit || q->idle == NULL) continue;
    pg_server *sv = q->idle;
    while (sv->next_idle != NULL) sv = sv->next_idle;
    server_close(sv, "closed to make room for another pool of the proxy");
    return !pool_full(p);
  }
  return 0;
}

/* The pool lets go of its limit (freed with its last pool). */
static void limit_leave(pg_pool *p) {
  pg_limit *l = p->limit;
  if (l == NULL) return;
  l->count -= p->count;
  p->limit = NULL;
  if (--l->pools > 0) return;
  pg_limit **pp = &P.limits;
  while (*pp != NULL && *pp != l) pp = &(*pp)->next;
  if (*pp == l) *pp = l->next;
  free(l);
}

/* ------------------------------------------------------ the server side */

static void server_on_poll(uv_poll_t *p, int status, int events);
static void server_unref(pg_server *sv);
static void pool_maybe_free(pg_pool *p);
static void schedule(pg_pool *p);
static void client_pump(session *s);
static void after_ready(pg_server *sv);
static void client_fail(pg_client *c, const dbuf *err);

static void server_on_closed(uv_handle_t *h) { server_unref(h->data); }

static void server_unref(pg_server *sv) {
  if (--sv->refs > 0) return;
  dbuf_free(&sv->in);
  dbuf_free(&sv->out);
  free(sv->q);
  u64set_clear(&sv->prepared);
  my_server_free(sv->my);
  free(sv);
}

static void set_in_tx(pg_server *sv, int v) {
  if (sv->in_tx == v) return;
  sv->in_tx = v;
  stat_add(sv->pool, ST_IN_TX, v ? 1 : -1);
}

static void idle_remove(pg_server *sv) {
  if (!sv->in_idle) return;
  pg_server **pp = &sv->pool->idle;
  while (*pp != NULL && *pp != sv) pp = &(*pp)->next_idle;
  if (*pp == sv) *pp = sv->next_idle;
  sv->in_idle = 0;
  stat_add(sv->pool, ST_IDLE, -1);
}

static int local_reply(pg_client *c, const uint8_t *m, size_t n, size_t consume);

/*
 * A client's server died under it (a failover, a server restart). Outside a
 * transaction block, only what was in flight fails: each pipeline segment
 * it was waiting on gets the pool's ERROR and its ReadyForQuery (idle), a
 * segment still open drops the client's messages up to its Sync, and the
 * client goes on with its next statement on another server connection. In
 * a transaction block the transaction is gone and the client cannot be told
 * so in-band: it gets the FATAL and is disconnected.
 */
static void lose_in_flight(pg_client *c, pg_server *sv) {
  if (c->my != NULL) return my_lose_in_flight(c, sv);
  if (sv->body_left > 0 && !sv->cur_drop) {
    /* Half of a message reached the client: nothing more can be said in-band. */
    client_fail(c, NULL);
    return;
  }
  if (sv->tx != 'I' || sv->copy || (c->stream_left > 0 && !c->stream_drop) || c->pinned) {
    /* A transaction block, a COPY, or a pinned client's session state: gone with the server. */
    client_fail(c, &sv->pool->lost_err);
    return;
  }
  static const uint8_t ready_idle[] = {'Z', 0, 0, 0, 5, 'I'};
  const dbuf *err = &sv->pool->failed_err;
  int open = 0; /* a segment with requests whose error has been sent */
  for (size_t i = 0; i < sv->qlen; i++) {
    const rq *e = &sv->q[(sv->qhead + i) % sv->qcap];
    if (e->action != RA_FORWARD) continue; /* the pooler's own, and replies it would have made up */
    if (!open && dbuf_append(&c->s->to_cli, err->data + err->off, err->len) < 0) return client_fail(c, NULL);
    open = 1;
    if (e->kind == RQ_SYNC || e->kind == RQ_QUERY || e->kind == RQ_FUNC) {
      if (dbuf_append(&c->s->to_cli, ready_idle, sizeof ready_idle) < 0) return client_fail(c, NULL);
      open = 0;
    }
  }
  if (sv->series_open && !open) {
    /* Replies came, the Sync did not: the implicit transaction they ran in is gone. */
    if (dbuf_append(&c->s->to_cli, err->data + err->off, err->len) < 0) return client_fail(c, NULL);
    open = 1;
  }
  sv->qlen = 0;
  c->discarding = open ? DISCARD_LOST : 0;
  session *s = c->s;
  if (!s->in_pump) {
    ref(s);
    client_pump(s);
    unref(s);
  }
}

/* Ends a server connection: JS hears why, its client (if any) loses what it had in flight. */
static void server_close(pg_server *sv, const char *why) {
  if (sv->closed) return;
  sv->closed = 1;
  pg_pool *p = sv->pool;
  TRACE("%llu server_close %u client %u count %d opening %d: %s\n", (unsigned long long)now_ms(), sv->id, sv->client ? sv->client->s->id : 0, p->count, p->opening, why);
  idle_remove(sv);
  if (sv->next_all) sv->next_all->prev_all = sv->prev_all;
  if (sv->prev_all) sv->prev_all->next_all = sv->next_all; else p->all = sv->next_all;
  count_add(p, -1);
  stat_add(p, ST_SERVERS, -1);
  set_in_tx(sv, 0);
  pg_client *c = sv->client;
  sv->client = NULL;
  if (c != NULL) {
    c->server = NULL;
    stat_add(p, ST_BORROWED, -1);
    lose_in_flight(c, sv);
  }
  if (sv->poll_on) {
    sv->poll_on = 0;
    sv->refs++;
    uv_close((uv_handle_t *)&sv->poll, server_on_closed);
  }
  server_tls_close(sv);
  close_fd(&sv->fd);
  event *ev = calloc(1, sizeof(event));
  if (ev != NULL) {
    ev->kind = EV_SERVER_CLOSED;
    ev->id = sv->id;
    ev->a = p->id;
    snprintf(ev->reason, sizeof ev->reason, "%s", why);
    emit_event(ev);
  }
  server_unref(sv);
  /* A waiting client (of this pool, or of another sharing its limit) may now get a new connection in its place. */
  wake_limit(p);
  pool_maybe_free(p);
}

static int server_watch(pg_server *sv) {
  if (sv->closed) return 0;
  int want = 0;
  int room = sv->client == NULL || sv->client->s->to_cli.len < PG_HIGH;
  if (!sv->eof && room) want |= UV_READABLE;
  if (sv->ssl != NULL) want |= server_tls_want(sv);
  else if (sv->out.len > 0 && sv->out_blocked) want |= UV_WRITABLE;
  if (!sv->poll_on) {
    if (uv_poll_init(&E.loop, &sv->poll, sv->fd) != 0) return -1;
    sv->poll.data = sv;
    sv->poll_on = 1;
    sv->pev = 0;
  }
  if (want == sv->pev) return 0;
  sv->pev = want;
  return want ? uv_poll_start(&sv->poll, want, server_on_poll) : uv_poll_stop(&sv->poll);
}

/* Sends what the server's out buffer holds; -1 when the connection is broken. */
static int server_flush(pg_server *sv) {
  if (sv->out.len == 0) return 0;
  if (sv->ssl != NULL) return server_tls_flush(sv);
  return flush_plain(sv->fd, &sv->out, &sv->out_blocked, NULL);
}

/* Reads what the server sent into sv->in; 1 if bytes came, 0 if none, -1 at EOF or error. */
static int server_read(pg_server *sv) {
  if (sv->ssl != NULL) return server_tls_read(sv);
  if (dbuf_reserve(&sv->in, sv->in.len + CHUNK) < 0) return -1;
  for (;;) {
    ssize_t n = recv(sv->fd, sv->in.data + sv->in.off + sv->in.len, sv->in.cap - sv->in.off - sv->in.len, 0);
    if (n > 0) {
      sv->in.len += (size_t)n;
      /* A short read empties the socket, unless it was reset: then the error is still to be read. */
      if ((size_t)n < CHUNK && !sv->broken) sv->in_ready = 0;
      return 1;
    }
    if (n == 0) return -1;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      sv->in_ready = 0;
      return 0;
    }
    return -1;
  }
}

/* Gives a server back: to the cancel hold, the reset, the idle list (and the waiters). */
static void give_back(pg_server *sv) {
  pg_pool *p = sv->pool;
  TRACE("give_back server %u canceling %d idle %d waiters %d\n", sv->id, sv->canceling, sv->in_idle, p->nwaiting);
  if (sv->closed) return;
  if (sv->canceling > 0) {
    sv->held = 1;
    return;
  }
  if (p->closing) return server_close(sv, "pool closed");
  if (sv->retire) return server_close(sv, "retired: its target changed role or left the target group");
  /* Nobody here needs it and another pool of the proxy waits for room: it goes, to make that room. */
  if (p->wait_head == NULL && sibling_starving(p)) return server_close(sv, "closed to make room for another pool of the proxy");
  if (!sv->in_idle) {
    sv->next_idle = p->idle;
    p->idle = sv;
    sv->in_idle = 1;
    sv->idle_since = now_ms();
    stat_add(p, ST_IDLE, 1);
  }
  schedule(p);
}

/* The client is done with its transaction: the server goes back. */
/* The client and its server part (release, orphan, MySQL's reset and release): nobody holds the server now. */
static void unlink_client(pg_server *sv) {
  sv->client->server = NULL;
  sv->client = NULL;
  set_in_tx(sv, 0);
  stat_add(sv->pool, ST_BORROWED, -1);
}

static void release(pg_server *sv) {
  TRACE("release client %u server %u\n", sv->client->s->id, sv->id);
  unlink_client(sv);
  give_back(sv);
}

/* Appends a synthesized reply (ParseComplete '1', CloseComplete '3') for the client. */
static void fake_reply(pg_server *sv, uint8_t type) {
  if (sv->client == NULL) return;
  uint8_t m[5] = {type, 0, 0, 0, 4};
  if (dbuf_append(&sv->client->s->to_cli, m, 5) < 0) client_fail(sv->client, NULL);
}

/* Never in the middle of a message being forwarded to the client: then when it is complete. */
static void emit_fakes(pg_server *sv) {
  if (sv->body_left > 0 && !sv->cur_drop) return;
  for (rq *h = rq_head(sv); h != NULL && h->action == RA_FAKE; h = rq_head(sv)) {
    fake_reply(sv, h->kind == RQ_PARSE ? '1' : '3');
    rq_pop(sv);
  }
}

static void forget_client_names(pg_client *c, uint64_t stmt_id);

/*
 * A Parse that failed, or that the server skipped after an error, created
 * nothing: the server does not have the statement (unless the pooler never
 * sent it), and a client's name for it is free again, as on a direct
 * connection, so the client may prepare it anew.
 */
static void parse_not_done(pg_server *sv, const rq *h) {
  if (h->stmt == 0) return;
  if (!(h->flags & RQF_UNSENT) && h->action != RA_FAKE) u64set_del(&sv->prepared, h->stmt);
  if ((h->flags & RQF_NAMED) && sv->client != NULL) forget_client_names(sv->client, h->stmt);
}

/* After an error in an extended series the server skips to the Sync: so do its queued requests. */
static void skip_to_sync(pg_server *sv) {
  for (rq *h = rq_head(sv); h != NULL && rq_is_extended(h->kind); h = rq_head(sv)) {
    if (h->kind == RQ_PARSE) parse_not_done(sv, h);
    /* A skipped eviction: the server still has the statement (marked for the next one). */
    if (h->kind == RQ_CLOSE && (h->flags & RQF_EVICT) && u64set_put(&sv->prepared, h->stmt, 0) < 0) sv->dirty = 2;
    rq_pop(sv);
  }
}

/*
 * Decides what to do with the server message whose header is in sv->hdr:
 * pops what it answers and says whether it reaches the client. -1 when the
 * server said something the protocol does not allow here.
 */
static int route_server_message(pg_server *sv, uint8_t type, int *forward) {
  rq *h = rq_head(sv);
  int skipping = h != NULL && (h->action == RA_SKIP || h->action == RA_SKIP_SETTINGS || h->action == RA_SKIP_RESET);
  *forward = sv->client != NULL && !skipping;
  switch (type) {
    case '1': /* ParseComplete */
    case '2': /* BindComplete */
    case '3': /* CloseComplete */
      if (h == NULL || h->kind != (type == '1' ? RQ_PARSE : type == '2' ? RQ_BIND : RQ_CLOSE)) return -1;
      if (type == '1' && h->stmt != 0 && u64set_add(&sv->pool->valid, h->stmt) < 0) return -1;
      rq_pop(sv);
      return 0;
    case 'n': /* NoData */
    case 'T': /* RowDescription */
      if (h != NULL && h->kind == RQ_DESCRIBE) rq_pop(sv);
      else if (type == 'n' || h == NULL) return -1;
      return 0;
    case 't': /* ParameterDescription: a Describe's first reply */
      return (h != NULL && h->kind == RQ_DESCRIBE) ? 0 : -1;
    case 'C': /* CommandComplete */
    case 'I': /* EmptyQueryResponse */
    case 's': /* PortalSuspended */
      if (h == NULL) return -1;
      if (h->kind == RQ_EXECUTE) rq_pop(sv);
      sv->copy = 0;
      return 0;
    case 'E': /* ErrorResponse */
      if (h == NULL) return -1;
      sv->copy = 0;
      if (h->action == RA_SKIP_RESET) {
        sv->dirty = 2; /* a reset failed: the connection cannot be trusted */
        return 0;
      }
      if (h->action == RA_SKIP_SETTINGS) {
        /* The client's settings cannot be applied: it cannot go on (client_fail may reallocate the queue). */
        if (sv->client != NULL) client_fail(sv->client, &sv->pool->lost_err);
        return 0;
      }
      if (rq_is_extended(h->kind)) {
        /* The failed request and the rest of its series are done (a failed Parse created nothing). */
        *forward = sv->client != NULL;
        skip_to_sync(sv);
        /*
         * What is queued from now on is skipped too, unless the Sync that ends the skip is queued
         * already (a pipeline; the pooler's own Sync after a duplicate Parse): what follows it runs.
         * Marked skipping then, a made-up ParseComplete would turn into a reply that never comes.
         */
        h = rq_head(sv);
        sv->skipping = h == NULL || h->kind != RQ_SYNC;
      }
      return 0;
    case 'Z': /* ReadyForQuery */
      /* Extended requests still queued before the Sync were skipped by the server after an error. */
      skip_to_sync(sv);
      h = rq_head(sv);
      if (h == NULL || !(h->kind == RQ_SYNC || h->kind == RQ_QUERY || h->kind == RQ_FUNC)) return -1;
      if (h->sent_us != 0) {
        stat_add(sv->pool, ST_RESPONSES, 1);
        stat_add(sv->pool, ST_RESPONSE_US, (double)(uv_hrtime() / 1000 - h->sent_us));
      }
      if (sv->hdr[5] == 'I') sv->idle_tick = h->tick;
      rq_pop(sv);
      sv->tx = (char)sv->hdr[5];
      return 0;
    case 'G': /* CopyInResponse */
    case 'H': /* CopyOutResponse */
    case 'W': /* CopyBothResponse */
      /* Nobody left to feed or drain a COPY: the connection goes (frame_server closes it). */
      if (h == NULL || sv->client == NULL) return -1;
      sv->copy = 1;
      return 0;
    case 'D': /* DataRow */
    case 'd': /* CopyData */
    case 'c': /* CopyDone */
    case 'V': /* FunctionCallResponse */
      return h == NULL ? -1 : 0;
    case 'N': /* NoticeResponse */
    case 'A': /* NotificationResponse */
    case 'S': /* ParameterStatus */
      /* Asynchronous: reaches a client only while one holds the connection for a request. */
      if (h == NULL) *forward = 0;
      return 0;
    default:
      return -1;
  }
}

/*
 * Frames what sv->in holds, forwarding to the client what is the client's.
 * Returns 1 if it made progress, 0 if not, -1 if the server must close.
 */
static int frame_server(pg_server *sv) {
  if (sv->my != NULL) return my_frame_server(sv);
  int progress = 0;
  while (sv->in.len > 0 && !sv->closed) {
    pg_client *c = sv->client;
    if (c != NULL && c->s->to_cli.len >= PG_HIGH) break;
    if (sv->body_left > 0) {
      size_t n = sv->in.len < sv->body_left ? sv->in.len : sv->body_left;
      if (!sv->cur_drop && c != NULL && dbuf_append(&c->s->to_cli, sv->in.data + sv->in.off, n) < 0) return -1;
      dbuf_consume(&sv->in, n);
      sv->body_left -= n;
      progress = 1;
      /* Replies made up while this message was on its way go after it. */
      if (sv->body_left == 0) emit_fakes(sv);
      continue;
    }
    /* Header, plus the status byte of a ReadyForQuery. */
    uint8_t *b = sv->in.data + sv->in.off;
    if (sv->in.len < 5) break;
    uint32_t len = be32(b + 1);
    if (len < 4 || len > (1u << 30)) return -1;
    if (b[0] == 'Z' && (len != 5 || sv->in.len < 6)) {
      if (len != 5) return -1;
      break;
    }
    /*
     * A FATAL from the server (terminated, shutting down) ends its connection: the client is told by
     * lose_in_flight() instead, so that outside a transaction it can stay. That needs the severity,
     * the first field of the message.
     */
    int server_fatal = 0;
    if (b[0] == 'E' && sv->client != NULL) {
      /* S (localized) then V (never localized, 9.6+): look at the first fields. */
      size_t want = 1 + (size_t)len < 64 ? 1 + (size_t)len : 64;
      if (sv->in.len < want) break;
      const uint8_t *f = b + 5, *end = b + want;
      for (int k = 0; k < 2 && f < end && (*f == 'S' || *f == 'V'); k++) {
        if ((size_t)(end - f) >= 7 && (memcmp(f + 1, "FATAL", 6) == 0 || memcmp(f + 1, "PANIC", 6) == 0)) server_fatal = 1;
        const uint8_t *z = memchr(f, 0, (size_t)(end - f));
        if (z == NULL) break;
        f = z + 1;
      }
    }
    memcpy(sv->hdr, b, b[0] == 'Z' ? 6 : 5);
    TRACE("%llu server %u msg %c client %u qlen %zu head %d/%d\n", (unsigned long long)now_ms(), sv->id, b[0], sv->client ? sv->client->s->id : 0, sv->qlen, sv->qlen ? rq_head(sv)->kind : -1, sv->qlen ? rq_head(sv)->action : -1);
    int forward = 0;
    if (route_server_message(sv, b[0], &forward) < 0) return -1;
    if (sv->closed) return 0;
    c = sv->client; /* client_fail() may have let go of it */
    if (c == NULL || server_fatal) forward = 0;
    size_t whole = 1 + (size_t)len;
    size_t now = sv->in.len < whole ? sv->in.len : whole;
    if (forward && dbuf_append(&c->s->to_cli, b, now) < 0) return -1;
    dbuf_consume(&sv->in, now);
    sv->body_left = whole - now;
    sv->cur_drop = !forward;
    progress = 1;
    if (sv->hdr[0] == 'Z') {
      emit_fakes(sv);
      if (sv->qlen == 0) {
        after_ready(sv);
        /* Bytes after this point belong to whoever holds the connection next (none yet). */
      }
    } else {
      emit_fakes(sv);
    }
  }
  return progress;
}

/* ReadyForQuery answered the last outstanding request. */
static void after_ready(pg_server *sv) {
  if (sv->my != NULL) return my_after_response(sv);
  if (sv->dirty == 2) return server_close(sv, "reset failed");
  pg_client *c = sv->client;
  if (c != NULL) {
    set_in_tx(sv, sv->tx != 'I');
    if (sv->tx == 'I' && !sv->copy && !c->pinned && c->stream_left == 0) release(sv);
    return;
  }
  /* Nobody holds it: it was left behind by a client. Clean it before anyone else gets it. */
  if (sv->tx != 'I') {
    static const uint8_t rollback[] = {'Q', 0, 0, 0, 13, 'R', 'O', 'L', 'L', 'B', 'A', 'C', 'K', 0};
    if (dbuf_append(&sv->out, rollback, sizeof rollback) < 0 || rq_push(sv, RQ_QUERY, RA_SKIP_RESET, 0) < 0) return server_close(sv, "out of memory");
    sv->unnamed_owner = 0;
    return;
  }
  if (sv->dirty) {
    sv->dirty = 0;
    if (dbuf_append(&sv->out, sv->pool->reset_msg.data + sv->pool->reset_msg.off, sv->pool->reset_msg.len) < 0 || rq_push(sv, RQ_QUERY, RA_SKIP_RESET, 0) < 0) {
      return server_close(sv, "out of memory");
    }
    /* DISCARD ALL drops prepared statements and settings: the connection is as new. */
    u64set_clear(&sv->prepared);
    sv->unnamed_owner = 0;
    sv->settings_id = sv->pool->neutral_settings;
    return;
  }
  give_back(sv);
}

/* An unlinked server (idle, or being cleaned) can read, write and move on by itself. */
static void server_pump_alone(pg_server *sv) {
  for (int progress = 1; progress && !sv->closed && sv->client == NULL;) {
    progress = 0;
    if (server_flush(sv) < 0) return server_close(sv, "server write failed");
    if (sv->in_ready && !sv->eof) {
      int r = server_read(sv);
      if (r < 0) {
        sv->eof = 1;
      } else if (r > 0) {
        progress = 1;
      }
    }
    int f = frame_server(sv);
    if (f < 0) return server_close(sv, "server protocol error");
    if (f > 0) progress = 1;
    if (sv->eof && sv->in.len == 0) return server_close(sv, "server closed the connection");
  }
  if (!sv->closed && server_watch(sv) != 0) server_close(sv, "poll failed");
}

static void run_ready(void);
static void on_timer(uv_timer_t *t);
static void stop_timer_if_idle(void);

static void server_on_poll(uv_poll_t *p, int status, int events) {
  pg_server *sv = p->data;
  sv->refs++;
  if (status < 0) {
    /*
     * POLLERR (the server reset the connection): libuv has stopped this poll by itself. The
     * server's last words (a WARNING or FATAL sent before it died) may be queued ahead of the
     * error, so one read can return them and not the error: without reading on, the
     * connection would stay (idle, or under a client waiting for its reply) with nothing left
     * to wake it. server_watch() arms the poll again.
     */
    sv->pev = 0;
    sv->broken = 1;
  }
  if (status < 0 || (events & UV_READABLE)) sv->in_ready = 1;
  if (events & UV_WRITABLE) sv->out_blocked = 0;
  if (sv->ssl != NULL) server_tls_polled(sv, events);
  if (sv->client != NULL) {
    session *s = sv->client->s;
    ref(s);
    client_pump(s);
    unref(s);
  } else {
    server_pump_alone(sv);
  }
  server_unref(sv);
  run_ready();
}

/* ------------------------------------------------------------- the pool */

static void pool_maybe_free(pg_pool *p) {
  if (!p->closing || p->holds > 0 || p->all != NULL || p->nclients > 0 || p->opening > 0 || p->scheduled) return;
  pg_pool **pp = &P.pools;
  while (*pp != NULL && *pp != p) pp = &(*pp)->next;
  if (*pp == p) *pp = p->next;
  limit_leave(p);
  bmap_free(&p->stmts, NULL);
  u64set_clear(&p->valid);
  dbuf_free(&p->reset_msg);
  dbuf_free(&p->timeout_err);
  dbuf_free(&p->lost_err);
  dbuf_free(&p->failed_err);
  event *ev = calloc(1, sizeof(event));
  if (ev != NULL) {
    ev->kind = EV_POOL_CLOSED;
    ev->id = p->id;
    emit_event(ev);
  }
  free(p);
}

static pg_pool *find_pool(uint32_t id) {
  for (pg_pool *p = P.pools; p != NULL; p = p->next) if (p->id == id) return p;
  return NULL;
}

static void schedule(pg_pool *p) {
  if (p->scheduled || (p->wait_head == NULL && !p->reserve)) return;
  p->scheduled = 1;
  p->ready_next = P.ready;
  P.ready = p;
}

static void wait_remove(pg_client *c) {
  if (!c->waiting) return;
  pg_pool *p = c->pool;
  pg_client **pp = &p->wait_head;
  pg_client *prev = NULL;
  while (*pp != NULL && *pp != c) {
    prev = *pp;
    pp = &(*pp)->wait_next;
  }
  if (*pp == c) *pp = c->wait_next;
  if (p->wait_tail == c) p->wait_tail = prev;
  c->wait_next = NULL;
  c->waiting = 0;
  p->nwaiting--;
  stat_set(p, ST_WAITING, p->nwaiting);
}

/* Asks JS for one more server connection if the pool may grow and needs it. */
static void maybe_grow(pg_pool *p) {
  if (p->closing || p->nwaiting + p->reserve <= p->opening) return;
  if (pool_full(p) && !make_room(p)) return;
  TRACE("%llu grow pool %u count %d opening %d waiting %d\n", (unsigned long long)now_ms(), p->id, p->count, p->opening, p->nwaiting);
  count_add(p, 1);
  p->opening++;
  p->reserve = 0; /* JS's first login, if it waits, takes the first room (JS hands it the first need) */
  event *ev = calloc(1, sizeof(event));
  if (ev == NULL) {
    count_add(p, -1);
    p->opening--;
    return;
  }
  ev->kind = EV_POOL_NEED;
  ev->id = p->id;
  emit_event(ev);
}

/* Links a client to a server: settings first, if the server carries other ones. */
static int link_server(pg_client *c, pg_server *sv) {
  pg_pool *p = c->pool;
  TRACE("link client %u server %u\n", c->s->id, sv->id);
  idle_remove(sv);
  sv->client = c;
  c->server = sv;
  stat_add(p, ST_BORROWED, 1);
  stat_add(p, ST_BORROWS, 1);
  if (c->waiting) wait_remove(c);
  if (c->wait_since) {
    stat_add(p, ST_BORROW_US, (double)(now_ms() - c->wait_since) * 1000.0);
    c->wait_since = 0;
  }
  if (c->my != NULL) return my_link_settings(c, sv);
  if (sv->settings_id != c->settings_id && c->settings.len > 0) {
    if (dbuf_append(&sv->out, c->settings.data + c->settings.off, c->settings.len) < 0 || rq_push(sv, RQ_QUERY, RA_SKIP_SETTINGS, 0) < 0) return -1;
    sv->settings_id = c->settings_id;
    sv->unnamed_owner = 0;
  }
  return 0;
}

/* The client needs a server: an idle one now, else a place in the queue. 1 if linked. */
static int acquire(pg_client *c) {
  pg_pool *p = c->pool;
  if (c->server != NULL) return 1;
  if (p->idle != NULL && p->wait_head == NULL) {
    if (link_server(c, p->idle) < 0) return -1;
    return 1;
  }
  TRACE("acquire client %u waits (idle %p head %p)\n", c->s->id, (void *)p->idle, (void *)p->wait_head);
  if (!c->waiting) {
    c->waiting = 1;
    c->wait_since = now_ms();
    if (p->wait_tail) p->wait_tail->wait_next = c; else p->wait_head = c;
    p->wait_tail = c;
    p->nwaiting++;
    stat_set(p, ST_WAITING, p->nwaiting);
    if (!P.timer_on) {
      /* One tick for every pool while anyone waits: borrow timeouts are whole seconds. */
      P.timer_on = 1;
      uv_timer_start(&P.timer, on_timer, 50, 50);
    }
  }
  maybe_grow(p);
  schedule(p);
  return 0;
}

static void run_alone(void);

/* Gives idle servers to waiting clients and lets left-behind servers clean up, outside any pump. */
static void run_ready(void) {
  if (P.running_ready) return;
  P.running_ready = 1;
  while (P.ready != NULL || alone_head != NULL) {
    run_alone();
    if (P.ready == NULL) continue;
    pg_pool *p = P.ready;
    P.ready = p->ready_next;
    p->scheduled = 0;
    TRACE("run_ready pool %u waiters %d idle %p\n", p->id, p->nwaiting, (void *)p->idle);
    p->holds++;
    while (p->wait_head != NULL && p->idle != NULL) {
      pg_client *c = p->wait_head;
      session *s = c->s;
      if (link_server(c, p->idle) < 0) {
        client_fail(c, NULL);
        continue;
      }
      ref(s);
      client_pump(s);
      unref(s);
    }
    maybe_grow(p);
    p->holds--;
    pool_maybe_free(p);
  }
  P.running_ready = 0;
  stop_timer_if_idle();
}

/* ------------------------------------------------------------ the sweep */

/*
 * Once a second: clients idle for longer than their proxy's IdleClientTimeout,
 * and clients older than 24 hours, are let go (the connection closes, as on
 * RDS Proxy), but never with a request of theirs in flight.
 */
/*
 * MaxIdleConnectionsPercent: idle servers beyond the pool's share that have
 * been idle for idle_server_ms are closed. The idle list is last-in first-out,
 * so the ones past the share are those least used.
 */
static void trim_idle(pg_pool *p, uint64_t now) {
  int kept = 0;
  for (pg_server *sv = p->idle, *next; sv != NULL; sv = next) {
    next = sv->next_idle;
    if (kept < p->max_idle || now - sv->idle_since < p->idle_server_ms) {
      kept++;
      continue;
    }
    server_close(sv, "more idle connections than MaxIdleConnectionsPercent allows");
  }
}

/*
 * A client that holds a server connection and has left its answer untaken
 * for client_stall_ms: it would keep that connection from everyone for as
 * long as it liked (IdleClientTimeout never counts a client with a request
 * in flight). It goes; its server is cleaned or closed as for any client
 * that leaves mid-answer.
 */
static int client_stalled(const pg_pool *p, const pg_client *c, uint64_t now) {
  return !c->closing && c->server != NULL && c->s->to_cli.len > 0 && p->client_stall_ms > 0 && now - c->last_taken >= p->client_stall_ms;
}

static void on_sweep(uv_timer_t *t) {
  (void)t;
  uint64_t now = now_ms();
  for (pg_pool *p = P.pools, *next; p != NULL; p = next) {
    p->holds++;
    trim_idle(p, now);
    for (pg_client *c = p->clients, *cn; c != NULL; c = cn) {
      cn = c->next_in_pool;
      if (client_stalled(p, c, now)) {
        c->s->ended |= END_STALLED;
        /*
         * client_fail ends a client once what is queued for it has gone out, which a
         * client that takes nothing never lets happen: its socket and session (and the
         * record of its end) would stay for as long as it did. Its answer is dropped
         * (the half it got is cut off, as any client let go of mid-answer is).
         */
        dbuf_consume(&c->s->to_cli, c->s->to_cli.len);
        client_fail(c, NULL);
        continue;
      }
      if (c->closing || (c->server != NULL && c->server->qlen > 0) || c->stream_left > 0) continue;
      int idle = p->idle_client_timeout_ms > 0 && now - c->last_active >= p->idle_client_timeout_ms;
      int old = now - c->started >= CLIENT_MAX_LIFE_MS && c->server == NULL;
      if (idle || old) {
        c->s->ended |= idle ? END_IDLE : END_EXPIRED;
        client_fail(c, NULL);
      }
    }
    p->holds--;
    next = p->next;
    pool_maybe_free(p);
  }
  run_ready();
}

/* ------------------------------------------------------------ borrow timeout */

static void on_timer(uv_timer_t *t) {
  (void)t;
  uint64_t now = now_ms();
  for (pg_pool *p = P.pools, *next; p != NULL; p = next) {
    p->holds++;
    while (p->wait_head != NULL && now - p->wait_head->wait_since >= p->borrow_timeout_ms) {
      pg_client *c = p->wait_head;
      TRACE("%llu timeout client %u\n", (unsigned long long)now, c->s->id);
      wait_remove(c);
      client_fail(c, &p->timeout_err);
    }
    p->holds--;
    next = p->next;
    pool_maybe_free(p);
  }
  run_ready();
}

static void stop_timer_if_idle(void) {
  if (!P.timer_on) return;
  for (pg_pool *p = P.pools; p != NULL; p = p->next) if (p->wait_head != NULL) return;
  P.timer_on = 0;
  uv_timer_stop(&P.timer);
}

/* ------------------------------------------------------ the client side */

/* A FATAL ErrorResponse for protocol problems the pooler finds itself (texts as the gateway's elsewhere). */
static int fatal_message(dbuf *out, const char *code, const char *msg) {
  size_t body = 1 + 6 + 1 + strlen(code) + 1 + 1 + strlen(msg) + 1 + 1;
  uint8_t hdr[5] = {'E'};
  put32(hdr + 1, (uint32_t)(4 + body));
  if (dbuf_append(out, hdr, 5) < 0 || dbuf_append(out, "SFATAL", 7) < 0 || dbuf_append(out, "C", 1) < 0 || dbuf_append(out, code, strlen(code) + 1) < 0 ||
      dbuf_append(out, "M", 1) < 0 || dbuf_append(out, msg, strlen(msg) + 1) < 0 || dbuf_append(out, "", 1) < 0) {
    return -1;
  }
  return 0;
}

static void defer_alone(pg_server *sv);

/* The client lets go of its server mid-way: whatever it asked is answered to nobody, then the server is cleaned. */
static void orphan(pg_client *c) {
  pg_server *sv = c->server;
  c->s->ended = (c->s->ended & ~3u) | END_CLOSED; /* until shown otherwise below */
  unlink_client(sv);
  if ((c->stream_left > 0 && !c->stream_drop) || sv->copy) return server_close(sv, "client left in the middle of a message");
  /*
   * An extended series without its Sync holds an implicit transaction (or, after an error, a server
   * ignoring everything): a Sync would commit what the client never confirmed. Closing the
   * connection rolls it back, as the client leaving a direct connection would.
   */
  if (sv->series_open) return server_close(sv, "client left in the middle of an extended series");
  if (c->my != NULL && my_orphan_dirty(c) < 0) return server_close(sv, "client left in the middle of a command");
  if (c->pinned || (c->my != NULL && my_orphan_dirty(c) > 0)) sv->dirty = 1;
  c->s->ended = (c->s->ended & ~3u) | (sv->dirty ? END_RESET : END_KEPT);
  size_t kept = 0;
  for (size_t i = 0; i < sv->qlen; i++) {
    rq e = sv->q[(sv->qhead + i) % sv->qcap];
    if (e.action == RA_FAKE) continue;
    if (e.action == RA_FORWARD || e.action == RA_SKIP_SETTINGS) e.action = RA_SKIP;
    sv->q[(sv->qhead + kept) % sv->qcap] = e;
    kept++;
  }
  sv->qlen = kept;
  defer_alone(sv);
}

/* Ends the client after what is queued for it; err (bytes of an ErrorResponse) goes out first. */
static void client_fail(pg_client *c, const dbuf *err) {
  if (c->closing) return;
  c->closing = 1;
  wait_remove(c);
  if (err != NULL && err->len > 0) dbuf_append(&c->s->to_cli, err->data + err->off, err->len);
  if (c->server != NULL) orphan(c);
  session *s = c->s;
  if (!s->in_pump) {
    ref(s);
    client_pump(s);
    unref(s);
  }
}

static void stmt_unref(pg_pool *p, pg_stmt *st) {
  if (--st->refs > 0) return;
  u64set_del(&p->valid, st->id);
  bmap_del(&p->stmts, st->key, st->klen, st->hash);
  free(st->key);
  free(st);
}

static int stmt_has_id(void *val, void *arg) { return ((pg_stmt *)val)->id == *(const uint64_t *)arg; }

/* The client's names for a statement that was never created: gone, as the server never had them. */
static void forget_client_names(pg_client *c, uint64_t stmt_id) {
  void *gone[8];
  size_t n;
  while ((n = bmap_take_if(&c->names, stmt_has_id, &stmt_id, gone, 8)) > 0) {
    for (size_t i = 0; i < n; i++) stmt_unref(c->pool, gone[i]);
  }
}

/* Called by finish(): the session is ending, its client lets go of everything. */
static void client_detach(session *s) {
  pg_client *c = s->pc;
  if (c == NULL) return;
  s->pc = NULL;
  pg_pool *p = c->pool;
  wait_remove(c);
  if (c->server != NULL) orphan(c);
  if (c->pinned) stat_add(p, ST_PINNED, -1);
  for (size_t i = 0; i < c->names.nb; i++) {
    for (bent *e = c->names.b[i]; e != NULL; e = e->next) stmt_unref(p, e->val);
  }
  bmap_free(&c->names, NULL);
  free(c->unnamed);
  my_client_free(c);
  dbuf_free(&c->settings);
  if (c->next_in_pool) c->next_in_pool->prev_in_pool = c->prev_in_pool;
  if (c->prev_in_pool) c->prev_in_pool->next_in_pool = c->next_in_pool; else if (p->clients == c) p->clients = c->next_in_pool;
  p->nclients--;
  stat_set(p, ST_CLIENTS, p->nclients);
  free(c);
  pool_maybe_free(p);
}

static void pin(pg_client *c, int reason) {
  if (c->pinned || reason == 0) return;
  c->pinned = reason;
  stat_add(c->pool, ST_PINNED, 1);
  event *ev = calloc(1, sizeof(event));
  if (ev == NULL) return;
  ev->kind = EV_PINNED;
  ev->id = c->s->id;
  ev->a = (uint32_t)reason;
  emit_event(ev);
}

/* Asks JavaScript whether a statement leaves session state; the client waits for the verdict. */
static int ask(pg_client *c, uint8_t type, const uint8_t *text, size_t n) {
  event *ev = calloc(1, sizeof(event));
  uint8_t *copy = malloc(n ? n : 1);
  if (ev == NULL || copy == NULL) {
    free(ev);
    free(copy);
    return -1;
  }
  /* MySQL's COM_RESET_CONNECTION asks with no text (NULL, 0): memcpy must not see a NULL source, even for nothing. */
  if (n > 0) memcpy(copy, text, n);
  ev->kind = EV_CLASSIFY;
  ev->id = c->s->id;
  ev->a = type;
  /* MySQL's classifier needs the client's settings and how the server reads backslashes now. */
  ev->from_cli = (double)c->settings_id;
  ev->from_srv = c->my != NULL ? (double)my_client_status(c) : 0;
  ev->payload = copy;
  ev->npayload = n;
  emit_event(ev);
  c->verdict = 1;
  return 0;
}

/* DebugLogging: one statement's text for JS's log (NULL: over 16 KB, not copied). */
static void debug_statement(pg_client *c, uint8_t type, const uint8_t *text, size_t n) {
  event *ev = calloc(1, sizeof(event));
  uint8_t *copy = text != NULL ? malloc(n ? n : 1) : NULL;
  if (ev == NULL || (text != NULL && copy == NULL)) {
    free(ev);
    free(copy);
    return;
  }
  if (copy != NULL) memcpy(copy, text, n);
  ev->kind = EV_STATEMENT;
  ev->id = c->s->id;
  ev->a = type;
  ev->payload = copy;
  ev->npayload = copy != NULL ? n : 0;
  emit_event(ev);
}

/* The server-side name of a registered statement. */
static size_t stmt_name(const pg_stmt *st, char *out, size_t cap) { return (size_t)snprintf(out, cap, "iamdb_%llu", (unsigned long long)st->id); }

/*
 * Keeps a server connection's statements under PG_MAX_PREPARED: closes the
 * least recently used one of a finished transaction, if there is one (its
 * clients keep their names; it is prepared again when next needed).
 */
static int evict_prepared(pg_server *sv) {
  if (sv->prepared.live < PG_MAX_PREPARED || sv->skipping) return 0;
  uint64_t victim = u64set_oldest(&sv->prepared, sv->idle_tick);
  if (victim == 0) return 0;
  char name[32];
  size_t nlen = (size_t)snprintf(name, sizeof name, "iamdb_%llu", (unsigned long long)victim);
  uint8_t hdr[6] = {'C', 0, 0, 0, 0, 'S'};
  put32(hdr + 1, (uint32_t)(4 + 1 + nlen + 1));
  if (dbuf_append(&sv->out, hdr, 6) < 0 || dbuf_append(&sv->out, name, nlen + 1) < 0 || rq_push(sv, RQ_CLOSE, RA_SKIP, victim) < 0) return -1;
  rq_tail(sv)->flags |= RQF_EVICT;
  u64set_del(&sv->prepared, victim);
  return 0;
}

/* Appends a Parse of st under its pooled name; its reply is the client's (forward) or swallowed. */
static int send_parse(pg_server *sv, const pg_stmt *st, uint8_t action) {
  if (evict_prepared(sv) < 0) return -1;
  char name[32];
  size_t nlen = stmt_name(st, name, sizeof name);
  size_t body = st->klen - STMT_KEY_HEAD;
  uint8_t hdr[5] = {'P'};
  put32(hdr + 1, (uint32_t)(4 + nlen + 1 + body));
  if (dbuf_append(&sv->out, hdr, 5) < 0 || dbuf_append(&sv->out, name, nlen + 1) < 0 || dbuf_append(&sv->out, st->key + STMT_KEY_HEAD, body) < 0) return -1;
  if (rq_push(sv, RQ_PARSE, action, st->id) < 0 || u64set_put(&sv->prepared, st->id, ++use_tick) < 0) return -1;
  return 0;
}

/* The statement is on sv (prepared now if it was not), marked as just used. */
static int ensure_prepared(pg_server *sv, const pg_stmt *st) {
  u64slot *e = u64set_find(&sv->prepared, st->id);
  if (e == NULL) return send_parse(sv, st, RA_SKIP);
  e->mark = ++use_tick;
  return 0;
}

/* The unnamed statement on this server must be the client's own latest. */
static int ensure_unnamed(pg_client *c, pg_server *sv) {
  if (sv->unnamed_owner != 0 && sv->unnamed_owner == c->unnamed_tag) return 0;
  if (c->unnamed == NULL) {
    /* The client has no unnamed statement here: whoever's is on this server goes, so its Bind fails as it should. */
    static const uint8_t close_unnamed[] = {'C', 0, 0, 0, 6, 'S', 0};
    if (dbuf_append(&sv->out, close_unnamed, sizeof close_unnamed) < 0 || rq_push(sv, RQ_CLOSE, RA_SKIP, 0) < 0) return -1;
    sv->unnamed_owner = 0;
    return 0;
  }
  uint8_t hdr[6] = {'P'};
  put32(hdr + 1, (uint32_t)(4 + 1 + c->unnamed_len));
  if (dbuf_append(&sv->out, hdr, 6) < 0 || dbuf_append(&sv->out, c->unnamed, c->unnamed_len) < 0 || rq_push(sv, RQ_PARSE, RA_SKIP, 0) < 0) return -1;
  sv->unnamed_owner = c->unnamed_tag;
  return 0;
}

/* The length of the NUL-terminated string at p (within n bytes), or -1. */
static long cstr(const uint8_t *p, size_t n) {
  const uint8_t *z = memchr(p, 0, n);
  return z ? (long)(z - p) : -1;
}

/* Is a Parse body (after the name) well formed: query NUL, int16 count, count int32s? */
static int parse_rest_ok(const uint8_t *rest, size_t n, const uint8_t **query, size_t *qlen) {
  long q = cstr(rest, n);
  if (q < 0 || (size_t)q + 3 > n) return 0;
  size_t count = ((size_t)rest[q + 1] << 8) | rest[q + 2];
  if ((size_t)q + 3 + count * 4 != n) return 0;
  *query = rest;
  *qlen = (size_t)q;
  return 1;
}

enum { FC_WAIT = 0, FC_PROGRESS = 1, FC_VIOLATION = -1, FC_TERMINATE = -2, FC_DUPLICATE = -3, FC_NOMEM = -4 };

/*
 * The registry's key for a statement: the client's settings id, the client's
 * own serial once it is pinned (its session settings may differ from what its
 * startup settings say, so its statements are its own), then the Parse body
 * after the name.
 */
static uint8_t *stmt_key(const pg_client *c, const uint8_t *rest, size_t rlen, size_t *klen, uint32_t *hash) {
  *klen = STMT_KEY_HEAD + rlen;
  uint8_t *key = malloc(*klen);
  if (key == NULL) return NULL;
  uint64_t own = c->pinned ? c->serial : 0;
  memcpy(key, &c->settings_id, 8);
  memcpy(key + 8, &own, 8);
  memcpy(key + STMT_KEY_HEAD, rest, rlen);
  *hash = fnv1a(key, *klen, FNV_SEED);
  return key;
}

/*
 * Gives the client's name to a statement (the registry's entry, made if new).
 * Only the registry's lookup when `known_only`: NULL then if no server has
 * accepted the statement yet. *err is FC_DUPLICATE or FC_NOMEM on failure.
 */
static pg_stmt *name_statement(pg_client *c, const uint8_t *name, size_t nlen, const uint8_t *rest, size_t rlen, int known_only, int *err) {
  pg_pool *p = c->pool;
  *err = FC_NOMEM;
  uint32_t nh = fnv1a(name, nlen, FNV_SEED);
  if (bmap_get(&c->names, name, nlen, nh) != NULL) {
    *err = FC_DUPLICATE;
    return NULL;
  }
  size_t klen;
  uint32_t kh;
  uint8_t *key = stmt_key(c, rest, rlen, &klen, &kh);
  if (key == NULL) return NULL;
  pg_stmt *st = bmap_get(&p->stmts, key, klen, kh);
  if (known_only && (st == NULL || !u64set_has(&p->valid, st->id))) {
    free(key);
    *err = FC_WAIT;
    return NULL;
  }
  if (st == NULL) {
    st = calloc(1, sizeof(pg_stmt));
    if (st == NULL || bmap_put(&p->stmts, key, klen, kh, st) < 0) {
      free(st);
      free(key);
      return NULL;
    }
    st->id = ++p->next_stmt;
    st->key = key;
    st->klen = klen;
    st->hash = kh;
  } else {
    free(key);
  }
  if (bmap_put(&c->names, name, nlen, nh, st) < 0) {
    if (st->refs == 0) {
      st->refs = 1;
      stmt_unref(p, st);
    }
    return NULL;
  }
  st->refs++;
  return st;
}

/* Registers a named Parse for the client and queues it on sv. */
static int client_parse_named(pg_client *c, pg_server *sv, const uint8_t *name, size_t nlen, const uint8_t *rest, size_t rlen) {
  int err;
  pg_stmt *st = name_statement(c, name, nlen, rest, rlen, 0, &err);
  if (st == NULL) return err;
  u64slot *e = u64set_find(&sv->prepared, st->id);
  if (e != NULL) {
    e->mark = ++use_tick;
    if (rq_push(sv, RQ_PARSE, RA_FAKE, st->id) < 0) return FC_NOMEM;
  } else if (send_parse(sv, st, RA_FORWARD) < 0) {
    return FC_NOMEM;
  }
  rq_tail(sv)->flags |= RQF_NAMED;
  return FC_PROGRESS;
}

/* The pool's id in a name of the pool's form (iamdb_<n>, as stmt_name() writes it), or 0. */
static uint64_t pooled_id(const uint8_t *name, size_t nlen) {
  if (nlen < 7 || nlen > 6 + 19 || memcmp(name, "iamdb_", 6) != 0 || name[6] == '0') return 0;
  uint64_t id = 0;
  for (size_t i = 6; i < nlen; i++) {
    if (name[i] < '0' || name[i] > '9') return 0;
    id = id * 10 + (uint64_t)(name[i] - '0');
  }
  return id;
}

/*
 * A Parse (m, whole) of a name the client already has. PostgreSQL answers
 * ERROR 42P05, skips to the Sync, and fails the transaction the series runs
 * in: an open transaction block stays failed (25P02, then E) until
 * ROLLBACK, an implicit one rolls back what the series did before. Rather
 * than imitate each of these, the pooler has the server itself say it: the
 * client's Parse goes to the server twice under the client's own name. The
 * first creates the statement (its reply swallowed) or fails as PostgreSQL
 * would have failed the client's (a text that does not parse, a transaction
 * already failed: those come before the name); the second fails with
 * PostgreSQL's own 42P05 bytes. The server's transaction state is then its
 * own, so its ReadyForQuery and later errors are right with nothing tracked
 * here. A Sync of the pooler's ends the server's skipping so that a Close
 * removes the name again (prepared statements outlive transactions, and the
 * server's names are the pool's); that Sync ends no transaction the client
 * still had (an implicit one has failed: it rolls back; a block stays
 * failed). The client's messages up to its Sync are dropped here, as the
 * server would have dropped them, and its Sync goes to the server. The
 * caller consumes the Parse.
 */
static int client_parse_duplicate(pg_client *c, pg_server *sv, const uint8_t *m, size_t total, const uint8_t *name, size_t nlen) {
  static const uint8_t sync[] = {'S', 0, 0, 0, 4};
  uint8_t close[6] = {'C', 0, 0, 0, 0, 'S'};
  put32(close + 1, (uint32_t)(4 + 1 + nlen + 1));
  if (dbuf_append(&sv->out, m, total) < 0 || rq_push(sv, RQ_PARSE, RA_SKIP, 0) < 0) return FC_NOMEM;
  if (dbuf_append(&sv->out, m, total) < 0 || rq_push(sv, RQ_PARSE, RA_FORWARD, 0) < 0) return FC_NOMEM;
  if (dbuf_append(&sv->out, sync, sizeof sync) < 0 || rq_push(sv, RQ_SYNC, RA_SKIP, 0) < 0) return FC_NOMEM;
  if (dbuf_append(&sv->out, close, sizeof close) < 0 || dbuf_append(&sv->out, name, nlen + 1) < 0 || rq_push(sv, RQ_CLOSE, RA_SKIP, 0) < 0) return FC_NOMEM;
  /* A client's name of the pool's form: the Close removed the pool's statement of that name too. */
  uint64_t id = pooled_id(name, nlen);
  if (id != 0) u64set_del(&sv->prepared, id);
  c->discarding = DISCARD_SERVER;
  return FC_PROGRESS;
}

/* Appends a reply the pooler gives itself to a client that holds no server (nothing else is owed to it). */
static int local_reply(pg_client *c, const uint8_t *m, size_t n, size_t consume) {
  if (dbuf_append(&c->s->to_cli, m, n) < 0) return FC_NOMEM;
  dbuf_consume(&c->s->to_srv, consume);
  return FC_PROGRESS;
}

/*
 * What a client holding no server can be answered without one, so that a
 * driver that prepares synchronously (libpq's PQprepare, pgbench -M prepared)
 * never waits for a server just to hear that a known statement is prepared:
 * Parse of a statement a server has already accepted, Close of a named
 * statement, Flush, and Sync (its transaction status is I: it holds no
 * server). FC_WAIT when the message needs a server.
 */
static int answer_locally(pg_client *c, uint8_t type, const uint8_t *body, size_t blen, size_t total, const uint8_t *name, long nlen, const uint8_t *rest, size_t rlen) {
  static const uint8_t parse_complete[] = {'1', 0, 0, 0, 4}, close_complete[] = {'3', 0, 0, 0, 4}, ready_idle[] = {'Z', 0, 0, 0, 5, 'I'};
  switch (type) {
    case 'P': {
      if (nlen <= 0) return FC_WAIT;
      int err;
      /* A name the client already has: the server reports that (client_parse_duplicate), so it needs one. */
      if (name_statement(c, name, (size_t)nlen, rest, rlen, 1, &err) == NULL) return err == FC_DUPLICATE ? FC_WAIT : err;
      return local_reply(c, parse_complete, sizeof parse_complete, total);
    }
    case 'C': {
      if (blen < 2 || body[0] != 'S') return FC_WAIT;
      long sn = cstr(body + 1, blen - 1);
      if (sn <= 0) return FC_WAIT;
      pg_stmt *st = bmap_del(&c->names, body + 1, (size_t)sn, fnv1a(body + 1, (size_t)sn, FNV_SEED));
      if (st != NULL) stmt_unref(c->pool, st);
      return local_reply(c, close_complete, sizeof close_complete, total);
    }
    case 'S':
      return local_reply(c, ready_idle, sizeof ready_idle, total);
    case 'H':
      return local_reply(c, NULL, 0, total);
    default:
      return FC_WAIT;
  }
}

/* Takes the whole message at the head of the client's input, or says to wait for more. */
static int whole(dbuf *in, size_t total) {
  if (in->len >= total) return 1;
  if (dbuf_reserve(in, total) < 0) return -1;
  return 0;
}

/* Starts streaming the message at the head (already routed) to the server. */
static void stream(pg_client *c, size_t total, int drop) {
  c->stream_left = total;
  c->stream_drop = drop;
}

/* A Query or a Parse's text: the filter, then JavaScript if the filter says so. FC_PROGRESS to go on. */
static int classify(pg_client *c, uint8_t type, const uint8_t *text, size_t n) {
  if (c->pinned || c->verdict == 2) return FC_PROGRESS;
  if (scan_sql(text, n, 0) == SCAN_CLEAN) return FC_PROGRESS;
  return ask(c, type, text, n) < 0 ? FC_NOMEM : FC_WAIT;
}

/* One client message: routes it, or returns FC_WAIT when it cannot go on yet. */
static int frame_one(pg_client *c) {
  session *s = c->s;
  dbuf *in = &s->to_srv;
  uint8_t *m = in->data + in->off;
  uint8_t type = m[0];
  uint32_t len = be32(m + 1);
  if (len < 4 || len > (1u << 30)) return FC_VIOLATION;
  TRACE("%llu client %u msg %c len %u server %u verdict %d\n", (unsigned long long)now_ms(), s->id, type, len, c->server ? c->server->id : 0, c->verdict);
  size_t total = 1 + (size_t)len;
  const uint8_t *body = m + 5;
  size_t blen = len - 4;
  int w;

  if (type == 'X') return FC_TERMINATE;
  if (c->discarding) {
    /* The rest of a failed series: dropped up to its Sync, which says idle (or goes to the server, below). */
    static const uint8_t ready_idle[] = {'Z', 0, 0, 0, 5, 'I'};
    if (type != 'S') {
      stream(c, total, 1);
      return FC_PROGRESS;
    }
    int lost = c->discarding == DISCARD_LOST;
    c->discarding = 0;
    if (lost) {
      if (in->len < total) return FC_WAIT;
      return local_reply(c, ready_idle, sizeof ready_idle, total);
    }
  }
  if (type == 'd' || type == 'c' || type == 'f') {
    /* Copy data for a COPY the server already ended (after an error) is dropped, as the server would. */
    stream(c, total, c->server == NULL || !c->server->copy);
    return FC_PROGRESS;
  }
  if (c->verdict == 1) return FC_WAIT;

  /* What must be whole before it can be routed. */
  int big_text = (type == 'Q' || type == 'P') && blen > PG_SCAN_LIMIT;
  if (type == 'B') {
    size_t need = total < PG_BIND_PREFIX ? total : PG_BIND_PREFIX;
    if ((w = whole(in, need)) <= 0) return w < 0 ? FC_NOMEM : FC_WAIT;
    m = in->data + in->off;
    body = m + 5;
  } else if (type == 'Q' || type == 'P' || type == 'D' || type == 'C' || type == 'E' || type == 'S' || type == 'H') {
    if (big_text) {
      /* RDS Proxy's rule: text over 16 KB pins, unread (a Parse's name is read: it must be whole). */
      pin(c, PIN_LONG_TEXT);
      if (type == 'P') {
        if ((w = whole(in, PG_BIND_PREFIX)) <= 0) return w < 0 ? FC_NOMEM : FC_WAIT;
        m = in->data + in->off;
        body = m + 5;
      }
    } else {
      if (type != 'Q' && type != 'P' && total > PG_SMALL_LIMIT) return FC_VIOLATION;
      if ((w = whole(in, total)) <= 0) return w < 0 ? FC_NOMEM : FC_WAIT;
      m = in->data + in->off;
      body = m + 5;
    }
  } else if (type != 'F') {
    return FC_VIOLATION;
  }

  /* The text filter comes before borrowing: a client waiting for a verdict holds no server. */
  const uint8_t *name = NULL, *rest = NULL, *query = NULL;
  long nlen = 0;
  size_t rlen = 0, qlen = 0;
  if (type == 'Q' && !big_text) {
    if (blen == 0 || body[blen - 1] != 0) return FC_VIOLATION;
    if ((w = classify(c, 'Q', body, blen - 1)) != FC_PROGRESS) return w;
  } else if (type == 'P' && !big_text) {
    nlen = cstr(body, blen);
    if (nlen < 0) return FC_VIOLATION;
    name = body;
    rest = body + nlen + 1;
    rlen = blen - (size_t)nlen - 1;
    if (!parse_rest_ok(rest, rlen, &query, &qlen)) return FC_VIOLATION;
    if ((w = classify(c, 'P', query, qlen)) != FC_PROGRESS) return w;
  }

  if (c->pool->debug_sql && !c->told && (type == 'Q' || type == 'P')) {
    /* DebugLogging: the text once per message, also when the message then waits for a server. */
    debug_statement(c, type, big_text ? NULL : (type == 'Q' ? body : query), big_text ? 0 : (type == 'Q' ? blen - 1 : qlen));
    c->told = 1;
  }
  if (c->server == NULL && !big_text) {
    w = answer_locally(c, type, body, blen, total, name, nlen, rest, rlen);
    if (w != FC_WAIT) {
      c->verdict = 0;
      c->told = 0;
      return w;
    }
  }
  int a = acquire(c);
  if (a < 0) return FC_NOMEM;
  if (a == 0) return FC_WAIT;
  pg_server *sv = c->server;
  c->verdict = 0;
  c->told = 0;

  switch (type) {
    case 'Q':
      stat_add(c->pool, ST_QUERIES, 1);
      /* A simple Query drops the unnamed statement, on the server and so for the client. */
      sv->unnamed_owner = 0;
      free(c->unnamed);
      c->unnamed = NULL;
      if (rq_push(sv, RQ_QUERY, RA_FORWARD, 0) < 0) return FC_NOMEM;
      stream(c, total, 0);
      return FC_PROGRESS;
    case 'P':
      if (big_text) {
        /* Pinned: the statement goes to this server as the client named it (iamdb_ names are the pool's). */
        long bn = cstr(body, 1024);
        if (bn < 0) return FC_VIOLATION;
        if (bn >= 6 && memcmp(body, "iamdb_", 6) == 0) return FC_VIOLATION;
        if (bn > 0) c->raw_names = 1;
        if (rq_push(sv, RQ_PARSE, RA_FORWARD, 0) < 0) return FC_NOMEM;
        free(c->unnamed);
        c->unnamed = NULL;
        c->unnamed_tag = ((uint64_t)c->serial << 32) | ++c->unnamed_seq;
        sv->unnamed_owner = c->unnamed_tag;
        stream(c, total, 0);
        return FC_PROGRESS;
      }
      if (nlen == 0) {
        uint8_t *copy = malloc(rlen);
        if (copy == NULL) return FC_NOMEM;
        memcpy(copy, rest, rlen);
        free(c->unnamed);
        c->unnamed = copy;
        c->unnamed_len = rlen;
        c->unnamed_tag = ((uint64_t)c->serial << 32) | ++c->unnamed_seq;
        sv->unnamed_owner = c->unnamed_tag;
        if (rq_push(sv, RQ_PARSE, RA_FORWARD, 0) < 0) return FC_NOMEM;
        stream(c, total, 0);
        return FC_PROGRESS;
      }
      w = client_parse_named(c, sv, name, (size_t)nlen, rest, rlen);
      if (w == FC_DUPLICATE) w = client_parse_duplicate(c, sv, m, total, name, (size_t)nlen);
      if (w != FC_PROGRESS) return w;
      dbuf_consume(in, total);
      emit_fakes(sv);
      return FC_PROGRESS;
    case 'B':
    case 'D': {
      size_t have = in->len < total ? in->len : total;
      const uint8_t *names = body;
      size_t avail = have - 5;
      long portal = 0;
      if (type == 'B') {
        portal = cstr(names, avail);
        if (portal < 0) return FC_VIOLATION;
        names += portal + 1;
        avail -= (size_t)portal + 1;
      } else {
        if (avail < 2 || (body[0] != 'S' && body[0] != 'P')) return FC_VIOLATION;
        if (body[0] == 'P') {
          if (rq_push(sv, RQ_DESCRIBE, RA_FORWARD, 0) < 0) return FC_NOMEM;
          stream(c, total, 0);
          return FC_PROGRESS;
        }
        names += 1;
        avail -= 1;
      }
      long sn = cstr(names, avail);
      if (sn < 0) return FC_VIOLATION;
      uint8_t kind = type == 'B' ? RQ_BIND : RQ_DESCRIBE;
      pg_stmt *st = sn > 0 ? bmap_get(&c->names, names, (size_t)sn, fnv1a(names, (size_t)sn, FNV_SEED)) : NULL;
      if (sn == 0) {
        if (ensure_unnamed(c, sv) < 0) return FC_NOMEM;
      }
      int reserved = sn >= 6 && memcmp(names, "iamdb_", 6) == 0;
      if (st == NULL && (sn == 0 || (c->raw_names && !reserved))) {
        /* Unnamed, or a pinned client's own statement prepared under its own name. */
        if (rq_push(sv, kind, RA_FORWARD, 0) < 0) return FC_NOMEM;
        stream(c, total, 0);
        return FC_PROGRESS;
      }
      /*
       * A name the client never prepared must not reach another client's statement on this
       * server: it becomes one that never exists, and the server says so.
       */
      char pooled[32];
      size_t plen;
      if (st != NULL) {
        if (ensure_prepared(sv, st) < 0) return FC_NOMEM;
        plen = stmt_name(st, pooled, sizeof pooled);
      } else {
        plen = (size_t)snprintf(pooled, sizeof pooled, "iamdb_missing");
      }
      size_t head = (size_t)(names - m) + (size_t)sn + 1; /* bytes up to and including the client's name */
      size_t prefix = type == 'B' ? (size_t)portal + 1 : 1; /* the portal name, or the 'S' */
      uint8_t hdr[5] = {type};
      put32(hdr + 1, (uint32_t)(4 + prefix + plen + 1 + (total - head)));
      if (dbuf_append(&sv->out, hdr, 5) < 0) return FC_NOMEM;
      if (dbuf_append(&sv->out, body, prefix) < 0) return FC_NOMEM;
      if (dbuf_append(&sv->out, pooled, plen + 1) < 0 || rq_push(sv, kind, RA_FORWARD, 0) < 0) return FC_NOMEM;
      dbuf_consume(in, head);
      stream(c, total - head, 0);
      return FC_PROGRESS;
    }
    case 'C': {
      if (blen < 2 || (body[0] != 'S' && body[0] != 'P')) return FC_VIOLATION;
      long sn = cstr(body + 1, blen - 1);
      if (sn < 0) return FC_VIOLATION;
      if (body[0] == 'S' && sn > 0) {
        /* Named statements are the pool's: only the client's name goes. */
        pg_stmt *st = bmap_del(&c->names, body + 1, (size_t)sn, fnv1a(body + 1, (size_t)sn, FNV_SEED));
        if (st != NULL) stmt_unref(c->pool, st);
        if (rq_push(sv, RQ_CLOSE, RA_FAKE, 0) < 0) return FC_NOMEM;
        dbuf_consume(in, total);
        emit_fakes(sv);
        return FC_PROGRESS;
      }
      if (body[0] == 'S') {
        /* Close of the unnamed statement: gone from this server, and from the client. */
        sv->unnamed_owner = 0;
        free(c->unnamed);
        c->unnamed = NULL;
      }
      if (rq_push(sv, RQ_CLOSE, RA_FORWARD, 0) < 0) return FC_NOMEM;
      stream(c, total, 0);
      return FC_PROGRESS;
    }
    case 'E':
      stat_add(c->pool, ST_QUERIES, 1);
      if (rq_push(sv, RQ_EXECUTE, RA_FORWARD, 0) < 0) return FC_NOMEM;
      stream(c, total, 0);
      return FC_PROGRESS;
    case 'S':
      if (rq_push(sv, RQ_SYNC, RA_FORWARD, 0) < 0) return FC_NOMEM;
      stream(c, total, 0);
      return FC_PROGRESS;
    case 'H':
      sv->series_open = 1;
      stream(c, total, 0);
      return FC_PROGRESS;
    case 'F':
      /* A function called by oid (set_config, pg_advisory_lock, …): nothing tells what it changes. */
      pin(c, PIN_FUNCTION_CALL);
      if (rq_push(sv, RQ_FUNC, RA_FORWARD, 0) < 0) return FC_NOMEM;
      stream(c, total, 0);
      return FC_PROGRESS;
  }
  return FC_VIOLATION;
}

/* Frames the client's input into its server's output. */
static int frame_client(pg_client *c) {
  dbuf *in = &c->s->to_srv;
  int progress = 0;
  while (!c->closing) {
    /* Backpressure for what never reaches a server: replies made up locally, and queued entries. */
    if (c->s->to_cli.len >= PG_HIGH || (c->server != NULL && c->server->qlen >= 65536)) break;
    if (c->stream_left > 0) {
      if (in->len == 0) break;
      size_t n = in->len < c->stream_left ? in->len : c->stream_left;
      if (!c->stream_drop) {
        pg_server *sv = c->server;
        if (sv == NULL) return FC_VIOLATION; /* cannot happen: streams start linked */
        if (sv->out.len >= PG_HIGH) break;
        if (dbuf_append(&sv->out, in->data + in->off, n) < 0) return FC_NOMEM;
      }
      dbuf_consume(in, n);
      c->stream_left -= n;
      progress = 1;
      continue;
    }
    if (in->len < (c->my != NULL ? 4u : 5u)) break;
    int r = c->my != NULL ? my_frame_one(c) : frame_one(c);
    if (r == FC_WAIT) break;
    if (r != FC_PROGRESS) return r;
    progress = 1;
  }
  return progress;
}

/* Reads what the client sent (TLS or clear) into its input; as pump_once() does for a 1:1 session. */
static int client_read(session *s) {
  if (dbuf_reserve(&s->to_srv, s->to_srv.len + CHUNK) < 0) return -1;
  int e = 0;
  int n = cli_read(s, s->to_srv.data + s->to_srv.off + s->to_srv.len, s->to_srv.cap - s->to_srv.off - s->to_srv.len, &e);
  if (n > 0) {
    s->to_srv.len += (size_t)n;
    s->from_cli += (uint64_t)n;
    s->read_want = 0;
    s->cli_in = 0;
    return 1;
  }
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
    s->read_want = e;
    s->cli_in = 0;
    return 0;
  }
  s->read_want = 0;
  if (e == SSL_ERROR_ZERO_RETURN) {
    s->cli_eof = 1;
    return 1;
  }
  return -1;
}

static int client_write(session *s) {
  int e = 0;
  int n = cli_write(s, s->to_cli.data + s->to_cli.off, s->to_cli.len, &e);
  if (n > 0) {
    s->from_srv += (uint64_t)n;
    dbuf_consume(&s->to_cli, (size_t)n);
    s->write_want = 0;
    return 1;
  }
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
    s->write_want = e;
    return 0;
  }
  return -1;
}

/* One step of the linked server's I/O inside the client's pump; 1 if anything moved. */
static int linked_server_step(session *s, pg_server *sv) {
  int progress = 0;
  if (server_flush(sv) < 0) {
    server_close(sv, "server write failed");
    return 1;
  }
  if (sv->in_ready && !sv->eof && s->to_cli.len < PG_HIGH) {
    int r = server_read(sv);
    if (r < 0) sv->eof = 1;
    if (r != 0) progress = 1;
  }
  int f = frame_server(sv);
  if (f < 0) {
    server_close(sv, "server protocol error");
    return 1;
  }
  if (f > 0) progress = 1;
  if (!sv->closed && sv->client != NULL && sv->eof && sv->in.len == 0) {
    server_close(sv, "server closed the connection");
    return 1;
  }
  /* A server let go of inside frame_server (released) may have unread bytes, or a cleanup to send. */
  if (!sv->closed && sv->client == NULL) defer_alone(sv);
  return progress;
}

/*
 * How far ahead a client is read. A MySQL command is framed whole (up to one
 * 16 MB frame, what the server would buffer itself), so its client is read
 * until the command at the head is in.
 */
static size_t client_in_max(const pg_client *c) {
  const dbuf *in = &c->s->to_srv;
  if (c->my == NULL || in->len < 4) return PG_IN_MAX;
  size_t head = 4 + (size_t)(in->data[in->off] | (in->data[in->off + 1] << 8) | (in->data[in->off + 2] << 16));
  return head > PG_IN_MAX ? head : PG_IN_MAX;
}

/* Moves everything that can move for a pooled client and its server, then sets the polls. */
static void client_pump(session *s) {
  if (s->state != POOLED || s->in_pump) return;
  s->in_pump = 1;
  pg_client *c = s->pc;
  for (int progress = 1; progress && s->state == POOLED;) {
    progress = 0;
    if (!s->cli_eof && !c->closing && s->to_srv.len < client_in_max(c) && (s->cli_in || cli_pending(s))) {
      int r = client_read(s);
      TRACE("client %u read r=%d in=%zu\n", s->id, r, s->to_srv.len);
      if (r > 0) c->last_active = now_ms();
      if (r < 0) {
        finish(s, ssl_failure());
        break;
      }
      if (r > 0) progress = 1;
    }
    int f = frame_client(c);
    if (f == FC_TERMINATE) {
      finish(s, "client");
      break;
    }
    if (f < 0 && c->my != NULL) {
      /* MySQL: what the client was told (if anything) is already queued. */
      client_fail(c, NULL);
      progress = 1;
    } else if (f < 0) {
      dbuf err = {0};
      if (f == FC_VIOLATION) fatal_message(&err, "08P01", "invalid message from client");
      client_fail(c, &err);
      dbuf_free(&err);
      progress = 1;
    } else if (f > 0) {
      progress = 1;
    }
    if (c->server != NULL && linked_server_step(s, c->server)) progress = 1;
    if (s->to_cli.len > 0) {
      TRACE("client %u write %zu\n", s->id, s->to_cli.len);
      int w = client_write(s);
      if (w < 0) {
        finish(s, "client write failed");
        break;
      }
      if (w > 0) {
        progress = 1;
        c->last_taken = now_ms();
      }
    }
    if (c->closing && s->to_cli.len == 0) {
      finish(s, "closed by the proxy");
      break;
    }
    if (s->cli_eof && !progress) {
      finish(s, "client");
      break;
    }
  }
  if (s->state == POOLED) {
    int want_in = !s->cli_eof && !c->closing && s->to_srv.len < client_in_max(c);
    int cwant = 0;
    if (want_in && s->read_want != SSL_ERROR_WANT_WRITE) cwant |= UV_READABLE;
    if (s->to_cli.len > 0 && s->write_want == SSL_ERROR_WANT_READ) cwant |= UV_READABLE;
    if ((want_in && s->read_want == SSL_ERROR_WANT_WRITE) || (s->to_cli.len > 0 && s->write_want == SSL_ERROR_WANT_WRITE)) cwant |= UV_WRITABLE;
    TRACE("client %u end pump cwant %d cli_in %d in %zu out %zu server %u\n", s->id, cwant, s->cli_in, s->to_srv.len, s->to_cli.len, c->server ? c->server->id : 0);
    if (watch(s, &s->cpoll, &s->cpoll_on, &s->cev, s->cfd, cwant) != 0) finish(s, "poll failed");
    else if (c->server != NULL && server_watch(c->server) != 0) server_close(c->server, "poll failed");
  }
  s->in_pump = 0;
}

/* ---------------------------------------------------- deferred server work */

/* Queues a server nobody holds for its own pump, outside whatever pump let go of it. */
static void defer_alone(pg_server *sv) {
  if (sv->closed || sv->alone_queued) return;
  sv->refs++; /* the list's */
  sv->alone_queued = 1;
  sv->next_alone = alone_head;
  alone_head = sv;
}

static void run_alone(void) {
  while (alone_head != NULL) {
    pg_server *sv = alone_head;
    alone_head = sv->next_alone;
    sv->next_alone = NULL;
    sv->alone_queued = 0;
    if (!sv->closed && sv->client == NULL) {
      if (sv->qlen == 0 && !sv->in_idle) after_ready(sv);
      /*
       * No forced read: in_ready still says whether the socket may hold more (a short read
       * cleared it, a poll or a full read left it set, OpenSSL's pending records are counted in
       * pg_server_tls.c), and bytes already read wait in sv->in for frame_server. Forcing one
       * cost a recv() answered EAGAIN after nearly every transaction (strace, pgbench -S).
       */
      if (!sv->closed && sv->client == NULL) server_pump_alone(sv);
    }
    server_unref(sv);
  }
}

/* ------------------------------------------------------------- commands */

static pg_server *find_server(uint32_t id) {
  for (pg_pool *p = P.pools; p != NULL; p = p->next) {
    for (pg_server *sv = p->all; sv != NULL; sv = sv->next_all) if (sv->id == id) return sv;
  }
  return NULL;
}

static void pool_cmd_create(cmd *c) {
  pg_pool *p = c->ptr;
  c->ptr = NULL;
  p->next = P.pools;
  P.pools = p;
  if (!P.sweep_on) {
    P.sweep_on = 1;
    uv_timer_start(&P.sweep, on_sweep, 1000, 1000);
  }
  if (E.stopping) {
    p->closing = 1;
    pool_maybe_free(p);
  }
}

static void pool_cmd_config(cmd *c) {
  pg_pool *p = find_pool(c->id);
  if (p == NULL) return;
  p->max_servers = (int)c->cfg.max_servers;
  p->max_idle = (int)c->cfg.max_idle;
  p->borrow_timeout_ms = c->cfg.borrow_timeout_ms;
  p->idle_client_timeout_ms = c->cfg.idle_client_timeout_ms;
  p->idle_server_ms = c->cfg.idle_server_ms;
  p->client_stall_ms = c->cfg.client_stall_ms;
  p->debug_sql = c->cfg.debug_sql;
  maybe_grow(p);
}

/* A server connection JS has logged in: the pool's from now on. */
static void pool_cmd_add(cmd *c) {
  pg_pool *p = find_pool(c->id);
  int fd = c->fd;
  c->fd = -1;
  /* Logged in over TLS: the fd and the SSL come from the login's link (pg_server_tls.c). */
  const char *refused = NULL;
  dbuf in = {0};
  SSL *ssl = c->link != 0 ? server_tls_take(c->link, c->js_received, &fd, &in, &refused) : NULL;
  int over = 0;
  TRACE("%llu add server %u requested %d count %d opening %d\n", (unsigned long long)now_ms(), c->a, (int)c->nbytes2, p ? p->count : -1, p ? p->opening : -1);
  if (p != NULL && c->nbytes2 == 1 && p->opening > 0) {
    p->opening--; /* the login the pool asked for (EV_POOL_NEED) */
  } else if (p != NULL) {
    /* Not asked for: welcome only while the pool has room. */
    over = pool_full(p);
    count_add(p, 1);
  }
  /* A MySQL pool's server carries its protocol state (my_pool.c); capabilities it cannot follow refuse it. */
  struct my_server *my = NULL;
  if (p != NULL && p->mysql && refused == NULL && (my = my_server_new(c->my.caps, c->my.mcaps, (uint16_t)c->my.status, &refused)) == NULL && refused == NULL) refused = "out of memory";
  pg_server *sv = p != NULL && !p->closing && !over && refused == NULL ? calloc(1, sizeof(pg_server)) : NULL;
  if (sv == NULL) {
    my_server_free(my);
    if (p != NULL) count_add(p, -1);
    if (fd >= 0) close(fd);
    if (ssl != NULL) SSL_free(ssl);
    dbuf_free(&in);
    event *ev = calloc(1, sizeof(event));
    if (ev != NULL) {
      ev->kind = EV_SERVER_CLOSED;
      ev->id = c->a;
      ev->a = c->id;
      snprintf(ev->reason, sizeof ev->reason, "%s", p == NULL ? "no such pool" : refused != NULL ? refused : over ? "pool full" : "pool closed");
      emit_event(ev);
    }
    /* A refused link leaves clients waiting: the pool may ask for another login. */
    if (p != NULL && refused != NULL && !p->closing) maybe_grow(p);
    if (p != NULL) pool_maybe_free(p);
    return;
  }
  sv->my = my;
  sv->id = c->a;
  sv->pool = p;
  sv->fd = fd;
  sv->ssl = ssl;
  sv->in = in;
  sv->in_ready = ssl != NULL; /* OpenSSL may hold bytes the poll will never announce */
  sv->refs = 1; /* the pool's, dropped by server_close() */
  sv->tx = 'I';
  sv->settings_id = (uint64_t)c->d;
  sv->next_all = p->all;
  if (p->all) p->all->prev_all = sv;
  p->all = sv;
  stat_add(p, ST_SERVERS, 1);
  if (server_watch(sv) != 0) return server_close(sv, "poll failed");
  give_back(sv);
  if (ssl != NULL) defer_alone(sv);
}

/* JS could not log a server in: the pool may ask again (JS paces its retries). */
static void pool_cmd_failed(cmd *c) {
  pg_pool *p = find_pool(c->id);
  TRACE("%llu failed pool %u count %d opening %d\n", (unsigned long long)now_ms(), c->id, p ? p->count : -1, p ? p->opening : -1);
  if (p == NULL || p->opening == 0) return;
  p->opening--;
  count_add(p, -1);
  wake_limit(p);
  if (c->nbytes > 0) {
    /* JS says the failure is for everyone waiting now (the server refuses the pool's login). */
    dbuf err = {.data = c->bytes, .len = c->nbytes, .cap = c->nbytes};
    p->holds++;
    while (p->wait_head != NULL) {
      pg_client *w = p->wait_head;
      wait_remove(w);
      client_fail(w, &err);
    }
    p->holds--;
  } else {
    /* Clients still wait (up to the borrow timeout): ask again. JS paced this answer, so
       asking at once is a retry every backoff step, not a spin; during a failover the next
       login finds the new writer. */
    maybe_grow(p);
  }
  pool_maybe_free(p);
}

static void pool_cmd_close(cmd *c) {
  pg_pool *p = find_pool(c->id);
  if (p == NULL || p->closing) return;
  p->closing = 1;
  p->holds++;
  while (p->idle != NULL) server_close(p->idle, "pool closed");
  while (p->wait_head != NULL) {
    pg_client *w = p->wait_head;
    wait_remove(w);
    client_fail(w, &p->lost_err);
  }
  p->holds--;
  pool_maybe_free(p);
}

/* A session whose login JS finished joins a pool instead of getting a server of its own. */
static void pool_cmd_attach(cmd *c) {
  session *s = find(c->id);
  pg_pool *p = find_pool(c->a);
  if (s == NULL || s->state != LOGIN) return;
  if (p == NULL || p->closing) return finish(s, "no such pool");
  if (s->sp_written != c->js_received) return finish(s, "client sent data before the login completed");
  pg_client *pc = calloc(1, sizeof(pg_client));
  if (pc == NULL) return finish(s, "out of memory");
  if (p->mysql && my_client_new(pc, c->my.caps, c->my.flags) < 0) {
    free(pc);
    return finish(s, "out of memory");
  }
  pc->s = s;
  pc->pool = p;
  pc->serial = ++P.next_serial;
  pc->started = pc->last_active = pc->last_taken = now_ms();
  pc->next_in_pool = p->clients;
  if (p->clients) p->clients->prev_in_pool = pc;
  p->clients = pc;
  pc->settings_id = (uint64_t)c->d;
  pc->settings.data = c->bytes2;
  pc->settings.len = pc->settings.cap = c->nbytes2;
  c->bytes2 = NULL;
  p->nclients++;
  stat_set(p, ST_CLIENTS, p->nclients);
  s->pc_pending = pc;
  s->held.data = c->bytes;
  s->held.len = s->held.cap = c->nbytes;
  c->bytes = NULL;
  s->state = SPLICE_WAIT;
  pump(s);
}

static void pool_cmd_verdict(cmd *c) {
  session *s = find(c->id);
  if (s == NULL || s->pc == NULL || s->pc->verdict != 1) return;
  s->pc->verdict = 2;
  if (s->pc->my == NULL || my_verdict(s->pc, c)) pin(s->pc, (int)c->a);
  ref(s);
  client_pump(s);
  unref(s);
}

/* Which server does this client hold now? It stays out of other hands until cancelDone. */
static void pool_cmd_cancel_lookup(cmd *c) {
  session *s = find(c->id);
  pg_server *sv = (s != NULL && s->pc != NULL) ? s->pc->server : NULL;
  event *ev = calloc(1, sizeof(event));
  if (ev == NULL) return;
  if (sv != NULL) sv->canceling++;
  ev->kind = EV_CANCEL_TARGET;
  ev->id = c->a;
  ev->a = sv != NULL ? sv->id : 0;
  emit_event(ev);
}

static void pool_cmd_cancel_done(cmd *c) {
  pg_server *sv = find_server(c->id);
  if (sv == NULL || sv->canceling == 0) return;
  if (--sv->canceling == 0 && sv->held) {
    sv->held = 0;
    give_back(sv);
  }
}

/* The bound the pool shares with the proxy's other pools of its target (created with the first), and its size. */
static void pool_cmd_limit(cmd *c) {
  pg_pool *p = find_pool(c->id);
  if (p == NULL || p->closing) return;
  if (p->limit == NULL || p->limit->id != c->a) {
    pg_limit *l = P.limits;
    while (l != NULL && l->id != c->a) l = l->next;
    if (l == NULL) {
      if ((l = calloc(1, sizeof(pg_limit))) == NULL) return;
      l->id = c->a;
      l->next = P.limits;
      P.limits = l;
    }
    limit_leave(p);
    p->limit = l;
    l->pools++;
    l->count += p->count;
  }
  p->limit->max = (int)c->d;
  wake_limit(p);
}

/* JS says a server connection's target no longer fits the pool: closed now if idle, else once given back. */
static void pool_cmd_retire(cmd *c) {
  pg_pool *p = find_pool(c->id);
  if (p == NULL) return;
  for (pg_server *sv = p->all; sv != NULL; sv = sv->next_all) {
    if (sv->id != c->a) continue;
    sv->retire = 1;
    if (sv->in_idle) server_close(sv, "retired: its target changed role or left the target group");
    return;
  }
}

/* JS's first login waits for room under the bound, as a client would (answered by EV_POOL_NEED). */
static void pool_cmd_reserve(cmd *c) {
  pg_pool *p = find_pool(c->id);
  if (p == NULL || p->closing) return;
  p->reserve = 1;
  maybe_grow(p);
}

/* At the stop: every pool closes (sessions have already finished). */
static void pool_stop_all(void) {
  for (pg_pool *p = P.pools, *next; p != NULL; p = next) {
    next = p->next;
    p->closing = 1;
    p->holds++;
    while (p->all != NULL) server_close(p->all, "gateway stopped");
    p->holds--;
    pool_maybe_free(p);
  }
  run_ready();
  uv_timer_stop(&P.timer);
  uv_close((uv_handle_t *)&P.timer, NULL);
  uv_timer_stop(&P.sweep);
  uv_close((uv_handle_t *)&P.sweep, NULL);
}

/* The session's barrier passed (JS closed its end): it becomes a pooled client. */
static void pool_client_start(session *s) {
  s->pc = s->pc_pending;
  s->pc_pending = NULL;
  s->state = POOLED;
  s->cli_in = 1;
  s->from_cli = s->from_srv = 0;
  /* What JS read ahead of the login goes first, then what the client sent while we held off. */
  if (s->held.len > 0) {
    size_t total = s->held.len + s->to_srv.len;
    if (dbuf_reserve(&s->held, total) < 0) return finish(s, "out of memory");
    if (s->to_srv.len > 0) memcpy(s->held.data + s->held.len, s->to_srv.data + s->to_srv.off, s->to_srv.len);
    s->held.len = total;
    dbuf tmp = s->to_srv;
    s->to_srv = s->held;
    s->held = tmp;
    s->held.off = s->held.len = 0;
  }
  client_pump(s);
}

/* finish() of any session: a pooled one lets go of its pool. */
static void pooled_session_ended(session *s) {
  if (s->pc != NULL) client_detach(s);
  pg_client *pending = s->pc_pending;
  if (pending != NULL) {
    /* Attached, but the barrier never passed. */
    s->pc_pending = NULL;
    s->pc = pending;
    client_detach(s);
  }
}

/* A pool a command still owned (the loop never ran CMD_POOL_CREATE). */
static void pool_free_unclaimed(void *ptr) {
  pg_pool *p = ptr;
  if (p == NULL) return;
  dbuf_free(&p->reset_msg);
  dbuf_free(&p->timeout_err);
  dbuf_free(&p->lost_err);
  dbuf_free(&p->failed_err);
  free(p);
}

/* ------------------------------------------------------------ JS bindings */

/*
 * A copy of exactly the Buffer's size into an empty dbuf: dbuf_append would
 * round it up to a 16 KB CHUNK, and a client's settings query (about 100
 * bytes) lives as long as the client (docs/performance.md, idle clients).
 */
static int my_fields(napi_env env, napi_value v, uint32_t out[4]);
static int buffer_copy(napi_env env, napi_value v, dbuf *out) {
  void *data;
  size_t n;
  if (napi_get_buffer_info(env, v, &data, &n) != napi_ok) return -1;
  if (n == 0) return 0;
  if (out->cap != 0) return dbuf_append(out, data, n);
  if ((out->data = malloc(n)) == NULL) return -1;
  memcpy(out->data, data, n);
  out->off = 0;
  out->len = out->cap = n;
  return 0;
}

static int scan_word_cmp(const void *a, const void *b) { return strcmp(((const scan_word *)a)->word, ((const scan_word *)b)->word); }

/* scanWords([[word, flags], …]): the statement filter's words (before any pool exists). */
/* scanWords(words, mysql?): the filter's words for one dialect (PostgreSQL unless mysql is true). */
static napi_value js_scan_words(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  bool mysql = false;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  napi_valuetype t1 = napi_undefined;
  if (argc > 1) CHECK(napi_typeof(env, argv[1], &t1));
  if (t1 != napi_undefined) CHECK(napi_get_value_bool(env, argv[1], &mysql));
  uint32_t n;
  CHECK(napi_get_array_length(env, argv[0], &n));
  if (n > SCAN_MAX_WORDS) return throw_msg(env, "too many words");
  /* Static, not on the stack: the table is large; only the JS thread writes it. */
  static scan_word words[SCAN_MAX_WORDS];
  for (uint32_t i = 0; i < n; i++) {
    napi_value pair, w, f;
    uint32_t flags;
    size_t len;
    CHECK(napi_get_element(env, argv[0], i, &pair));
    CHECK(napi_get_element(env, pair, 0, &w));
    CHECK(napi_get_element(env, pair, 1, &f));
    CHECK(napi_get_value_uint32(env, f, &flags));
    if (napi_get_value_string_utf8(env, w, words[i].word, sizeof words[i].word, &len) != napi_ok || len == 0 || len >= SCAN_MAX_WORD) {
      return throw_msg(env, "scan words are 1-39 lowercase characters");
    }
    if (flags > 0xff) return throw_msg(env, "scan word flags are 8 bits");
    words[i].len = (uint8_t)len;
    words[i].flags = (uint8_t)flags;
  }
  /* Sorted for word_flags' binary search; a word given twice would hide one of its entries. */
  qsort(words, n, sizeof words[0], scan_word_cmp);
  for (uint32_t i = 1; i < n; i++) {
    if (strcmp(words[i - 1].word, words[i].word) == 0) return throw_msg(env, "a scan word is given twice");
  }
  memcpy(scan_words[mysql], words, n * sizeof words[0]);
  scan_nwords[mysql] = (int)n;
  return NULL;
}

/* scan(text: Buffer, mysql: boolean): the filter's answer, for tests and the fuzzer. */
static napi_value js_scan(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], out;
  void *data;
  size_t n;
  bool mysql;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  CHECK(napi_get_buffer_info(env, argv[0], &data, &n));
  CHECK(napi_get_value_bool(env, argv[1], &mysql));
  CHECK(napi_create_int32(env, scan_sql(data, n, mysql), &out));
  return out;
}

static cmd *new_cmd(napi_env env, cmd_kind kind, uint32_t id) {
  if (!E.started) {
    throw_msg(env, "native data path not started");
    return NULL;
  }
  cmd *c = calloc(1, sizeof(cmd));
  if (c == NULL) {
    throw_msg(env, "out of memory");
    return NULL;
  }
  c->kind = kind;
  c->id = id;
  c->fd = -1;
  return c;
}

/*
 * poolCreate(id, maxServers, borrowTimeoutMs, neutralSettingsId, resetQuery, timeoutError, lostError, failedError, stats: Float64Array, mysql?)
 * For a MySQL pool (mysql true) the reset is a run of command packets and the errors are whole ERR packets (sequence id 1).
 */
static napi_value js_pool_create(napi_env env, napi_callback_info info) {
  size_t argc = 10;
  napi_value argv[10];
  bool mysql = false;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  uint32_t id, max;
  double timeout, neutral;
  CHECK(napi_get_value_uint32(env, argv[0], &id));
  CHECK(napi_get_value_uint32(env, argv[1], &max));
  CHECK(napi_get_value_double(env, argv[2], &timeout));
  CHECK(napi_get_value_double(env, argv[3], &neutral));
  napi_typedarray_type type;
  size_t len;
  void *stats;
  CHECK(napi_get_typedarray_info(env, argv[8], &type, &len, &stats, NULL, NULL));
  if (type != napi_float64_array || len < ST_COUNT) return throw_msg(env, "poolCreate expects a Float64Array of stats");
  napi_valuetype t9 = napi_undefined;
  if (argc > 9) CHECK(napi_typeof(env, argv[9], &t9));
  if (t9 != napi_undefined) CHECK(napi_get_value_bool(env, argv[9], &mysql));
  pg_pool *p = calloc(1, sizeof(pg_pool));
  if (p == NULL) return throw_msg(env, "out of memory");
  if (buffer_copy(env, argv[4], &p->reset_msg) < 0 || buffer_copy(env, argv[5], &p->timeout_err) < 0 || buffer_copy(env, argv[6], &p->lost_err) < 0 ||
      buffer_copy(env, argv[7], &p->failed_err) < 0) {
    pool_free_unclaimed(p);
    return throw_msg(env, "poolCreate expects Buffers");
  }
  p->id = id;
  p->mysql = mysql;
  p->max_servers = (int)max;
  p->max_idle = INT_MAX; /* no trimming until JS has configured the pool */
  p->borrow_timeout_ms = (uint64_t)timeout;
  p->neutral_settings = (uint64_t)neutral;
  p->stats = stats;
  cmd *c = new_cmd(env, CMD_POOL_CREATE, id);
  if (c == NULL) {
    pool_free_unclaimed(p);
    return NULL;
  }
  c->ptr = p;
  submit(c);
  return NULL;
}

/* A duration in milliseconds from JS: 0 to 2^53. */
static int get_ms(napi_env env, napi_value v, uint64_t *out) {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok || !(d >= 0 && d < 9007199254740992.0)) return -1;
  *out = (uint64_t)d;
  return 0;
}

/* poolConfigure(id, maxServers, maxIdleServers, borrowTimeoutMs, idleClientTimeoutMs, idleServerMs, clientStallMs, debugSql) */
static napi_value js_pool_configure(napi_env env, napi_callback_info info) {
  size_t argc = 8;
  napi_value argv[8];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 8) return throw_msg(env, "poolConfigure expects 8 arguments");
  uint32_t id, max, max_idle;
  uint64_t borrow, idle_client, idle_server, stall;
  bool debug;
  CHECK(napi_get_value_uint32(env, argv[0], &id));
  CHECK(napi_get_value_uint32(env, argv[1], &max));
  CHECK(napi_get_value_uint32(env, argv[2], &max_idle));
  if (get_ms(env, argv[3], &borrow) < 0 || get_ms(env, argv[4], &idle_client) < 0 || get_ms(env, argv[5], &idle_server) < 0 || get_ms(env, argv[6], &stall) < 0) return throw_msg(env, "poolConfigure expects durations");
  CHECK(napi_get_value_bool(env, argv[7], &debug));
  cmd *c = new_cmd(env, CMD_POOL_CONFIG, id);
  if (c == NULL) return NULL;
  c->cfg.max_servers = max;
  c->cfg.max_idle = max_idle;
  c->cfg.borrow_timeout_ms = borrow;
  c->cfg.idle_client_timeout_ms = idle_client;
  c->cfg.idle_server_ms = idle_server;
  c->cfg.client_stall_ms = stall;
  c->cfg.debug_sql = debug ? 1 : 0;
  submit(c);
  return NULL;
}

/*
 * poolAdd(poolId, serverId, fd, settingsId, requested, mysql?: [capabilities, mariadbCapabilities, statusFlags]):
 * a logged-in server connection joins the pool (fd duplicated).
 */
static napi_value js_pool_add(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  uint32_t my[4] = {0};
  bool requested;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  uint32_t id, server;
  int32_t fd;
  double settings;
  CHECK(napi_get_value_uint32(env, argv[0], &id));
  CHECK(napi_get_value_uint32(env, argv[1], &server));
  CHECK(napi_get_value_int32(env, argv[2], &fd));
  CHECK(napi_get_value_double(env, argv[3], &settings));
  CHECK(napi_get_value_bool(env, argv[4], &requested));
  if (argc > 5 && my_fields(env, argv[5], my) < 0) return throw_msg(env, "poolAdd expects [capabilities, mariadbCapabilities, statusFlags]");
  int dfd = dup_nonblocking(fd);
  if (dfd < 0) return throw_msg(env, "cannot take over the server connection");
  cmd *c = new_cmd(env, CMD_POOL_ADD, id);
  if (c == NULL) {
    close(dfd);
    return NULL;
  }
  c->a = server;
  c->fd = dfd;
  c->d = settings;
  c->my.caps = my[0];
  c->my.mcaps = my[1];
  c->my.status = my[2];
  c->nbytes2 = requested ? 1 : 0; /* no bytes: the flag rides in the length */
  submit(c);
  return NULL;
}

/* poolFailed(poolId, errorForWaiters: Buffer): a requested server login failed. */
static napi_value js_pool_failed(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  uint32_t id;
  void *data;
  size_t n;
  CHECK(napi_get_value_uint32(env, argv[0], &id));
  CHECK(napi_get_buffer_info(env, argv[1], &data, &n));
  cmd *c = new_cmd(env, CMD_POOL_FAILED, id);
  if (c == NULL) return NULL;
  if (n > 0 && (c->bytes = malloc(n)) == NULL) {
    free(c);
    return throw_msg(env, "out of memory");
  }
  if (n > 0) memcpy(c->bytes, data, n);
  c->nbytes = n;
  submit(c);
  return NULL;
}

/* Commands that carry one id and one number: poolClose, verdict, cancelLookup, cancelDone. */
static napi_value id_command(napi_env env, napi_callback_info info, cmd_kind kind) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  uint32_t id, a = 0;
  CHECK(napi_get_value_uint32(env, argv[0], &id));
  if (argc > 1) CHECK(napi_get_value_uint32(env, argv[1], &a));
  cmd *c = new_cmd(env, kind, id);
  if (c == NULL) return NULL;
  c->a = a;
  submit(c);
  return NULL;
}
static napi_value js_pool_close(napi_env env, napi_callback_info info) { return id_command(env, info, CMD_POOL_CLOSE); }
static napi_value js_verdict(napi_env env, napi_callback_info info) { return id_command(env, info, CMD_VERDICT); }
static napi_value js_cancel_lookup(napi_env env, napi_callback_info info) { return id_command(env, info, CMD_CANCEL_LOOKUP); }
static napi_value js_cancel_done(napi_env env, napi_callback_info info) { return id_command(env, info, CMD_CANCEL_DONE); }
static napi_value js_pool_retire(napi_env env, napi_callback_info info) { return id_command(env, info, CMD_POOL_RETIRE); }
static napi_value js_pool_reserve(napi_env env, napi_callback_info info) { return id_command(env, info, CMD_POOL_RESERVE); }

/* poolLimit(poolId, limitId, maxServers): the pool shares this bound with the other pools given the same limit id. */
static napi_value js_pool_limit(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  uint32_t id, limit, max;
  CHECK(napi_get_value_uint32(env, argv[0], &id));
  CHECK(napi_get_value_uint32(env, argv[1], &limit));
  CHECK(napi_get_value_uint32(env, argv[2], &max));
  cmd *c = new_cmd(env, CMD_POOL_LIMIT, id);
  if (c == NULL) return NULL;
  c->a = limit;
  c->d = max;
  submit(c);
  return NULL;
}

/*
 * attach(sessionId, poolId, settingsId, settingsQuery: Buffer, pendingForServer: Buffer, bytesJsReceived, mysql?: [clientCapabilities, settingsFlags])
 * For a MySQL pool, settingsQuery is the run of commands that makes a neutral connection carry the client's settings.
 */
static napi_value js_attach(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  uint32_t my[4] = {0};
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  uint32_t id, pool;
  double settings, received;
  CHECK(napi_get_value_uint32(env, argv[0], &id));
  CHECK(napi_get_value_uint32(env, argv[1], &pool));
  CHECK(napi_get_value_double(env, argv[2], &settings));
  CHECK(napi_get_value_double(env, argv[5], &received));
  if (!(received >= 0 && received < 9007199254740992.0)) return throw_msg(env, "attach expects a byte count");
  if (argc > 6 && my_fields(env, argv[6], my) < 0) return throw_msg(env, "attach expects [clientCapabilities, settingsFlags]");
  cmd *c = new_cmd(env, CMD_ATTACH, id);
  if (c == NULL) return NULL;
  dbuf set = {0}, pend = {0};
  if (buffer_copy(env, argv[3], &set) < 0 || buffer_copy(env, argv[4], &pend) < 0) {
    dbuf_free(&set);
    dbuf_free(&pend);
    free(c);
    return throw_msg(env, "attach expects Buffers");
  }
  c->a = pool;
  c->d = settings;
  c->my.caps = my[0];
  c->my.flags = my[1];
  c->bytes2 = set.data;
  c->nbytes2 = set.len;
  c->bytes = pend.data;
  c->nbytes = pend.len;
  c->js_received = (uint64_t)received;
  submit(c);
  return NULL;
}

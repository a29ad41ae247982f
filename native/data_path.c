/*
 * iamdb's native data path: client-side TLS and the post-login byte relay,
 * run on a thread of their own, outside Node's stream and TLS machinery.
 *
 * Why this exists: on a small machine a relay's throughput is set by the CPU
 * it spends per message. Node's TLSSocket and stream layers cost roughly
 * twice what PgBouncer spends per round trip (docs/performance.md); the
 * bytes themselves need only a read, a decrypt, a write and the reverse.
 *
 * Life of a session (one client connection):
 *   HANDSHAKE   JS has answered the protocol's TLS request in clear and hands
 *               over the client's fd; we write the answer byte ('S' for
 *               PostgreSQL) and run the TLS handshake. A clear session (a
 *               client that did not ask for TLS, acceptTls() with a null
 *               context) has no SSL: it writes the answer, if any, and is in
 *               LOGIN at once; from then on it differs only in how bytes
 *               cross cfd (cli_read(), cli_write(): plain recv/send with the
 *               same readiness logic).
 *   LOGIN       Plaintext flows between the TLS connection and one end of a
 *               socketpair; JS holds the other end as an ordinary socket and
 *               runs the whole login there (token checks stay in TypeScript).
 *   SPLICE_WAIT JS has logged in to the server and hands over the server fd.
 *               We stop reading the client, pass on to the client whatever JS
 *               still writes on the socketpair until JS closes it (the
 *               barrier that keeps the order of bytes), then
 *   RELAY       move bytes between the client's TLS and the server's plain
 *               TCP connection directly, with backpressure both ways.
 *   POOLED      (proxy endpoints) instead of SPLICE_WAIT/RELAY: after the
 *               login the session is attached to a pool (pg_pool.c, with
 *               my_pool.c for MySQL), which frames its messages and lends it
 *               a server connection one transaction at a time.
 *
 * One libuv loop serves every session; JS talks to it through a command
 * queue and hears back through a thread-safe function. This file parses no
 * database protocol (the 1:1 relay moves bytes); the pools frame PostgreSQL
 * and MySQL messages to find transaction ends, and ask JavaScript for every
 * decision (verdicts on statements, logins, health): policy and audit stay
 * in TypeScript.
 *
 * Ownership: every object has one owner, and only the owner frees it.
 *   engine E    Process-wide, static. start() sets up its loop, lock, wake
 *               handle and thread; the env cleanup hook queues the stop
 *               command (CMD_STOP finishes every session and closes the wake
 *               handle, so the loop runs out), joins the thread, then closes
 *               the loop and the lock.
 *   tsfn        Node's, created by start() and unref'd; Node finalizes it
 *               when the env goes.
 *   SSL_CTX     The JS external tlsContext() returns; its finalizer frees
 *               it when JS drops it. Each SSL holds an OpenSSL reference of
 *               its own, so live sessions outlive a collected context.
 *   cmd         Built on the JS thread, owned by the queue once submitted,
 *               then by run_command(), which frees it with whatever of its
 *               fd and bytes it did not hand to a session. The stop command
 *               is static and never freed.
 *   session     Built by acceptTls() on the JS thread, which never touches
 *               it after submitting its CMD_ACCEPT; from then the loop
 *               thread's. It is freed, with its four dbufs, when its count
 *               of references `refs` reaches zero (unref()). References:
 *                 - one while it is live (listed in E.sessions), dropped by
 *                   finish();
 *                 - one per poll handle from uv_close() to its close
 *                   callback (libuv still holds the handle, inside it);
 *                 - one per call frame that touches it after a call that
 *                   may finish it: pump() around pump_once(), on_poll()
 *                   around on_wake() and pump_held(). Nothing may touch a
 *                   session after finish(), on_wake() or pump() without one
 *                   (commands for it found by id see only live sessions).
 *   SSL         Its session's, or NULL for a clear session; freed by
 *               finish() (by acceptTls() if the session never reached the
 *               loop). The client's early bytes (acceptTls()'s `early`: TLS
 *               records JS read before it handed the fd over) sit in a
 *               memory BIO that is the SSL's read BIO until it is drained;
 *               the SSL owns it and frees it when it is replaced by the
 *               socket BIO (client_handshake()) or with the SSL.
 *   cfd         A dup of JS's client fd (JS closes its own at once); the
 *               session's, closed by finish().
 *   pfd         Our socketpair end; the session's, closed when SPLICE_WAIT
 *               turns into RELAY, or by finish(). The other end is JS's from
 *               acceptTls() on (a net.Socket closes it).
 *   ufd         A dup of JS's server fd, the CMD_SPLICE command's until
 *               run_command() gives it to a session in LOGIN (closed by
 *               finish()) or closes it (no such session).
 *   dbufs       prefix, to_srv, to_cli, held: the session's, freed when it
 *               is (dbuf_free: munmap for what dbuf_reserve mapped, free for
 *               malloc'd bytes taken over, per the dbuf's `mapped`). held's memory is the CMD_SPLICE command's bytes, taken
 *               over; at RELAY held and to_srv trade buffers. prefix is
 *               freed once the handshake is done; an empty one of the other
 *               three is freed by the idle sweep when the session is quiet
 *               (allocated again by its next byte), as are OpenSSL's record
 *               buffers (SSL_free_buffers).
 *   poll handle Inside its session; open from uv_poll_init() (watch) until
 *               close_poll() hands it to uv_close(), never re-opened after.
 *   server link A session with `connect` set: TLS toward a PostgreSQL server
 *               for a pool's login (pg_server_tls.c has its table): cfd is
 *               the server's connection, and CMD_POOL_ADD may take cfd and
 *               SSL from it for a pooled server connection.
 *   event       Built by emit() on the loop thread, the tsfn queue's once
 *               accepted; call_js() frees it (also when called without an
 *               env at teardown), emit() if the queue refuses it.
 */
#define NAPI_VERSION 8
#include <node_api.h>
#include <uv.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0 /* macOS: Node ignores SIGPIPE anyway */
#endif

#define CHUNK 16384 /* one TLS record of plaintext */

enum state { HANDSHAKE, LOGIN, SPLICE_WAIT, RELAY, POOLED, CLOSED };

typedef struct {
  uint8_t *data;
  size_t off, len, cap;
  int mapped; /* data is dbuf_reserve()'s mmap (cap bytes), not malloc's: dbuf_free() unmaps it */
} dbuf;

typedef struct session {
  struct session *next, *prev;
  uint32_t id;
  enum state state;
  int cfd;  /* the client's TCP connection (TLS, or clear when ssl is NULL) */
  int pfd;  /* our end of the socketpair (LOGIN, SPLICE_WAIT) */
  int ufd;  /* the server connection (RELAY; parked during SPLICE_WAIT) */
  SSL *ssl;          /* NULL: a clear session (see cli_read()) */
  int cli_more;      /* clear sessions: the last recv() filled the buffer, more may wait (SSL_has_pending's stand-in) */
  uv_poll_t cpoll, ppoll, upoll;
  int cpoll_on, ppoll_on, upoll_on;
  int cev, pev, uev; /* events each poll currently watches */
  dbuf prefix;       /* clear bytes before the handshake */
  dbuf to_srv;       /* plaintext read from the client, not yet written on */
  dbuf to_cli;       /* plaintext for the client, not yet through SSL_write */
  dbuf held;         /* JS's bytes for the server, sent first at RELAY */
  int read_want;     /* SSL_ERROR_WANT_READ/WRITE of the last SSL_read, or 0 */
  int write_want;    /* the same for SSL_write */
  int cli_eof, src_eof, told_js_eof;
  /*
   * Readiness hints: set when a poll reports the fd readable, cleared once a
   * read has taken what was there. Polls are level-triggered, so a wrong
   * "drained" guess costs one loop turn, never a lost byte; a right one
   * saves the read that would only have said EAGAIN.
   */
  int cli_in, src_in;
  int src_broken; /* the server side's poll saw an error: read what is left, then stop */
  uint64_t sp_written;   /* bytes written into the socketpair */
  uint64_t js_received;  /* what JS says it read from it (at splice) */
  uint64_t from_cli, from_srv;
  uint64_t swept;   /* from_cli + from_srv at the last idle sweep */
  int lean;         /* the idle sweep gave its buffers back; cleared when bytes move again */
  int refs;    /* see Ownership above: freed when it reaches zero */
  int in_pump; /* commands run from inside pump() must not pump again */
  struct pg_client *pc;         /* POOLED: the pooled relay's state (pg_pool.c) */
  struct pg_client *pc_pending; /* SPLICE_WAIT into a pool: becomes pc at the barrier */
  int connect; /* a link to a server (pg_server_tls.c): cfd is the server's, the SSL client-mode */
  uint32_t ended; /* POOLED: how it ended (pg_pool.c END_*), told to JS with EV_CLOSED */
} session;

typedef enum {
  CMD_ACCEPT, CMD_SPLICE, CMD_CLOSE, CMD_STOP,
  /* the pooled relay (pg_pool.c) */
  CMD_POOL_CREATE, CMD_POOL_CONFIG, CMD_POOL_ADD, CMD_POOL_FAILED, CMD_POOL_CLOSE, CMD_ATTACH, CMD_VERDICT, CMD_CANCEL_LOOKUP, CMD_CANCEL_DONE,
  CMD_POOL_LIMIT, CMD_POOL_RETIRE, CMD_POOL_RESERVE
} cmd_kind;

typedef struct cmd {
  struct cmd *next;
  cmd_kind kind;
  uint32_t id;
  session *s;      /* CMD_ACCEPT: the new session */
  int fd;          /* CMD_SPLICE: server fd */
  uint8_t *bytes;  /* CMD_SPLICE: JS's pending bytes for the server */
  size_t nbytes;
  uint64_t js_received;
  uint32_t link; /* CMD_POOL_ADD: the TLS link the server logged in over (0: plain fd) */
  /* the pooled relay's commands */
  uint32_t a;
  double d;
  uint8_t *bytes2;
  size_t nbytes2;
  void *ptr; /* CMD_POOL_CREATE: the pool */
  struct {   /* CMD_POOL_CONFIG */
    uint32_t max_servers, max_idle;
    uint64_t borrow_timeout_ms, idle_client_timeout_ms, idle_server_ms, client_stall_ms;
    int debug_sql;
  } cfg;
  struct { /* MySQL pools (my_pool.c): CMD_POOL_ADD's server, CMD_ATTACH's client, CMD_VERDICT's settings */
    uint32_t caps, mcaps, status, flags;
  } my;
} cmd;

typedef enum { EV_HANDSHAKE_OK, EV_HANDSHAKE_FAILED, EV_CLOSED, EV_POOL_NEED, EV_SERVER_CLOSED, EV_CLASSIFY, EV_PINNED, EV_CANCEL_TARGET, EV_POOL_CLOSED, EV_STATEMENT } ev_kind;

typedef struct {
  ev_kind kind;
  uint32_t id;
  double from_cli, from_srv;
  char reason[96];
  uint32_t a;       /* pool events: a second id or a code */
  uint8_t *payload; /* EV_CLASSIFY: the statement's text (the event's) */
  size_t npayload;
} event;

typedef struct {
  uv_loop_t loop;
  uv_async_t wake;
  uv_thread_t thread;
  uv_mutex_t lock;
  cmd *head, *tail;
  session *sessions;
  napi_threadsafe_function tsfn;
  int started;  /* JS thread: start() ran and the cleanup hook has not */
  int stopping; /* loop thread: CMD_STOP ran; sessions still queued are refused */
  uint32_t next_id;
  uv_timer_t idle_sweep; /* once a second while sessions exist: quiet ones give their buffers back */
  int idle_sweep_on;
} engine;

static engine E;

/* ---------------------------------------------------------------- buffers */

/*
 * Buffers of CHUNK bytes and more come from mmap, not malloc. They come and
 * go with a session's activity (the idle sweep frees them), while small
 * allocations of the same sessions (OpenSSL's state, pg_client) stay for
 * the session's life: from malloc, each freed buffer left a hole between
 * those in the loop thread's arena that glibc never gave back (about 11 KB
 * resident per idle client at 3,000 clients, docs/performance.md). An
 * unmapped buffer is gone at once. When mmap fails (the map count limit),
 * malloc serves instead.
 */
static uint8_t *big_alloc(size_t n, int *mapped) {
  void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  *mapped = p != MAP_FAILED;
  return p != MAP_FAILED ? p : malloc(n);
}

static void big_free(uint8_t *p, size_t n, int mapped) {
  if (p == NULL) return;
  if (mapped) munmap(p, n);
  else free(p);
}

static int dbuf_reserve(dbuf *b, size_t need) {
  if (b->off > 0 && b->len > 0) memmove(b->data, b->data + b->off, b->len);
  b->off = 0;
  if (b->cap >= need) return 0;
  size_t cap = b->cap ? b->cap : CHUNK;
  while (cap < need) cap *= 2;
  int mapped;
  uint8_t *p = big_alloc(cap, &mapped);
  if (p == NULL) return -1;
  if (b->len > 0) memcpy(p, b->data, b->len);
  big_free(b->data, b->cap, b->mapped);
  b->data = p;
  b->cap = cap;
  b->mapped = mapped;
  return 0;
}

static void dbuf_consume(dbuf *b, size_t n) {
  b->off += n;
  b->len -= n;
  if (b->len == 0) b->off = 0;
}

/* A length for OpenSSL's int-sized calls: never more than INT_MAX at once. */
static int io_len(size_t n) { return n > INT_MAX ? INT_MAX : (int)n; }

static void dbuf_free(dbuf *b) {
  big_free(b->data, b->cap, b->mapped);
  b->data = NULL;
  b->off = b->len = b->cap = 0;
  b->mapped = 0;
}

/* ----------------------------------------------------------------- events */

static void free_event(event *ev) {
  free(ev->payload);
  free(ev);
}

/* Hands an event to the JS thread (it owns it then), or frees it. */
static void emit_event(event *ev) {
  if (napi_call_threadsafe_function(E.tsfn, ev, napi_tsfn_nonblocking) != napi_ok) free_event(ev);
}

static void emit(ev_kind kind, session *s, const char *reason) {
  event *ev = calloc(1, sizeof(event));
  if (ev == NULL) return;
  ev->kind = kind;
  ev->id = s->id;
  ev->from_cli = (double)s->from_cli;
  ev->from_srv = (double)s->from_srv;
  if (kind == EV_CLOSED) ev->a = s->ended;
  if (reason != NULL) snprintf(ev->reason, sizeof ev->reason, "%s", reason);
  emit_event(ev);
}

/* Runs on the JS thread: onEvent(kind, id, fromClient, fromServer, reason, a, payload). */
static void call_js(napi_env env, napi_value js_cb, void *context, void *data) {
  (void)context;
  event *ev = data;
  if (env != NULL && js_cb != NULL) {
    static const char *kinds[] = {"handshake", "handshake-failed", "closed", "pool-need", "server-closed", "classify", "pinned", "cancel-target", "pool-closed", "statement"};
    napi_value argv[7], undefined;
    napi_create_string_utf8(env, kinds[ev->kind], NAPI_AUTO_LENGTH, &argv[0]);
    napi_create_uint32(env, ev->id, &argv[1]);
    napi_create_double(env, ev->from_cli, &argv[2]);
    napi_create_double(env, ev->from_srv, &argv[3]);
    napi_create_string_utf8(env, ev->reason, NAPI_AUTO_LENGTH, &argv[4]);
    napi_create_uint32(env, ev->a, &argv[5]);
    napi_get_undefined(env, &undefined);
    argv[6] = undefined;
    if (ev->payload != NULL) napi_create_buffer_copy(env, ev->npayload, ev->payload, NULL, &argv[6]);
    napi_call_function(env, undefined, js_cb, 7, argv, NULL);
  }
  free_event(ev);
}

/* ------------------------------------------------------------- lifecycle */

static void pooled_session_ended(session *s);
/* TLS toward servers (pg_server_tls.c): the handshake of either kind of session. */
static int tls_handshake(session *s);
static const char *tls_handshake_failure(session *s, char *buf, size_t n);
static void tls_handshake_done(session *s);
static void client_pump(session *s);
static void pool_client_start(session *s);
static void run_ready(void);

/* Takes a reference: the session stays allocated until the matching unref(). */
static void ref(session *s) { s->refs++; }

/* Drops a reference; the last one frees the session (see Ownership above). */
static void unref(session *s) {
  if (--s->refs > 0) return;
  dbuf_free(&s->prefix);
  dbuf_free(&s->to_srv);
  dbuf_free(&s->to_cli);
  dbuf_free(&s->held);
  free(s);
}

static void on_handle_closed(uv_handle_t *h) { unref(h->data); }

/* libuv holds the handle, inside the session, until its close callback: a reference until then. */
static void close_poll(uv_poll_t *p, int *on, session *s) {
  if (!*on) return;
  *on = 0;
  ref(s);
  uv_close((uv_handle_t *)p, on_handle_closed);
}

static void close_fd(int *fd) {
  if (*fd >= 0) close(*fd);
  *fd = -1;
}

/*
 * Ends a session now: sockets closed, handles released, JS told why. Drops
 * the live reference: the caller must hold one of its own to touch the
 * session afterwards.
 */
static void finish(session *s, const char *why) {
  if (s->state == CLOSED) return;
  enum state was = s->state;
  s->state = CLOSED;
  if (s->ssl != NULL) {
    /* A best-effort close_notify; the peer may already be gone. */
    if (was != HANDSHAKE) SSL_shutdown(s->ssl);
    SSL_free(s->ssl);
    s->ssl = NULL;
  }
  close_poll(&s->cpoll, &s->cpoll_on, s);
  close_poll(&s->ppoll, &s->ppoll_on, s);
  close_poll(&s->upoll, &s->upoll_on, s);
  close_fd(&s->cfd);
  close_fd(&s->pfd);
  close_fd(&s->ufd);
  pooled_session_ended(s);
  if (s->prev) s->prev->next = s->next; else E.sessions = s->next;
  if (s->next) s->next->prev = s->prev;
  if (was == HANDSHAKE) {
    emit(EV_HANDSHAKE_FAILED, s, why);
  } else {
    emit(EV_CLOSED, s, why);
  }
  unref(s);
}

static void on_poll(uv_poll_t *p, int status, int events);
static void on_wake(uv_async_t *a);

static int watch(session *s, uv_poll_t *p, int *on, int *cur, int fd, int want) {
  if (fd < 0) return 0;
  if (!*on) {
    if (want == 0) return 0;
    if (uv_poll_init(&E.loop, p, fd) != 0) return -1;
    p->data = s;
    *on = 1;
    *cur = 0;
  }
  if (want == *cur) return 0;
  *cur = want;
  if (want == 0) return uv_poll_stop(p);
  return uv_poll_start(p, want, on_poll);
}

/* ------------------------------------------------------------------ pump */

static const char *ssl_failure(void) {
  unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "connection closed";
  const char *r = ERR_reason_error_string(e);
  return r != NULL ? r : "TLS error";
}

/*
 * The client's bytes: through its SSL, or straight on cfd for a clear
 * session. Both return what SSL_read()/SSL_write() would: n > 0, or n <= 0
 * with *err the SSL_ERROR_* code saying why (WANT_READ / WANT_WRITE: try
 * again on that readiness; ZERO_RETURN: the client closed), so that every
 * caller keeps one readiness logic for both kinds of session.
 */
static int cli_read(session *s, uint8_t *buf, size_t cap, int *err) {
  ERR_clear_error();
  if (s->ssl != NULL) {
    int n = SSL_read(s->ssl, buf, io_len(cap));
    if (n <= 0) *err = SSL_get_error(s->ssl, n);
    return n;
  }
  ssize_t n;
  do n = recv(s->cfd, buf, (size_t)io_len(cap), 0);
  while (n < 0 && errno == EINTR);
  s->cli_more = n > 0 && (size_t)n == (size_t)io_len(cap);
  if (n > 0) return (int)n;
  if (n == 0) *err = SSL_ERROR_ZERO_RETURN;
  else *err = (errno == EAGAIN || errno == EWOULDBLOCK) ? SSL_ERROR_WANT_READ : SSL_ERROR_SYSCALL;
  return 0;
}

static int cli_write(session *s, const uint8_t *buf, size_t len, int *err) {
  ERR_clear_error();
  if (s->ssl != NULL) {
    int n = SSL_write(s->ssl, buf, io_len(len));
    if (n <= 0) *err = SSL_get_error(s->ssl, n);
    return n;
  }
  ssize_t n;
  do n = send(s->cfd, buf, (size_t)io_len(len), MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  if (n > 0) return (int)n;
  *err = n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) ? SSL_ERROR_WANT_WRITE : SSL_ERROR_SYSCALL;
  return 0;
}

/* Client bytes already received that no poll will announce: OpenSSL's, or a clear recv() that filled its buffer. */
static int cli_pending(session *s) {
  return s->ssl != NULL ? SSL_has_pending(s->ssl) : s->cli_more;
}

/*
 * The client-side handshake step (tls_handshake() for server links). While
 * the read BIO is the memory BIO of early bytes and they are all consumed,
 * the socket takes over: OpenSSL keeps a partly read record in its own
 * buffer, so the swap loses nothing. A clear session has no handshake.
 */
static int client_handshake(session *s) {
  if (s->ssl == NULL) return 1;
  int r = tls_handshake(s);
  BIO *rb = SSL_get_rbio(s->ssl);
  if (s->connect || BIO_method_type(rb) != BIO_TYPE_MEM || BIO_ctrl_pending(rb) > 0) return r;
  if (r != 1 && SSL_get_error(s->ssl, r) != SSL_ERROR_WANT_READ) return r;
  BIO *sock = BIO_new_socket(s->cfd, BIO_NOCLOSE);
  if (sock == NULL) return r;
  SSL_set0_rbio(s->ssl, sock); /* frees the memory BIO */
  return r == 1 ? r : tls_handshake(s);
}

/* Writes what `b` holds to a plain fd; -1 on a hard error. */
static int flush_plain(int fd, dbuf *b, int *blocked, uint64_t *counter) {
  while (b->len > 0) {
    ssize_t n = send(fd, b->data + b->off, b->len, MSG_NOSIGNAL);
    if (n > 0) {
      if (counter) *counter += (uint64_t)n;
      dbuf_consume(b, (size_t)n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      *blocked = 1;
      return 0;
    }
    return -1;
  }
  *blocked = 0;
  return 0;
}

/* Moves every byte that can move without blocking, then sets the polls. */
static void pump_once(session *s);

/* pump() for a caller that holds a reference of its own. */
static void pump_held(session *s) {
  if (s->in_pump) return;
  if (s->state == POOLED) return client_pump(s);
  s->in_pump = 1;
  pump_once(s);
  s->in_pump = 0;
  /* Turned pooled at the barrier: the pooled relay goes on from here. */
  if (s->state == POOLED) client_pump(s);
}

/*
 * pump_once() may finish the session (a failed send or SSL_accept before any
 * poll handle is open drops its last other reference), and may run queued
 * commands that finish it: the reference taken here keeps it allocated
 * until in_pump is cleared.
 */
static void pump(session *s) {
  ref(s);
  pump_held(s);
  unref(s);
}

static void pump_once(session *s) {
  if (s->state == HANDSHAKE) {
    int blocked = 0;
    if (flush_plain(s->cfd, &s->prefix, &blocked, NULL) < 0) return finish(s, "client closed before TLS");
    if (blocked) {
      if (watch(s, &s->cpoll, &s->cpoll_on, &s->cev, s->cfd, UV_WRITABLE) != 0) finish(s, "poll failed");
      return;
    }
    ERR_clear_error();
    int r = client_handshake(s);
    if (r != 1) {
      int e = SSL_get_error(s->ssl, r);
      if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        /* The socketpair turns readable only if JS gives up (timeout). */
        if (watch(s, &s->cpoll, &s->cpoll_on, &s->cev, s->cfd, e == SSL_ERROR_WANT_READ ? UV_READABLE : UV_WRITABLE) != 0 ||
            watch(s, &s->ppoll, &s->ppoll_on, &s->pev, s->pfd, UV_READABLE) != 0) {
          finish(s, "poll failed");
        }
        return;
      }
      char why[96];
      return finish(s, tls_handshake_failure(s, why, sizeof why));
    }
    if (s->ssl != NULL && BIO_method_type(SSL_get_rbio(s->ssl)) == BIO_TYPE_MEM) {
      /* Early bytes left after the handshake: the client did not wait for it (a protocol violation). */
      return finish(s, "client sent data during the TLS handshake");
    }
    s->state = LOGIN;
    dbuf_free(&s->prefix); /* written before the handshake; never needed again */
    s->cli_in = 1; /* the startup message may have come with the last handshake flight */
    tls_handshake_done(s);
  }

  int progress = 1;
  while (progress && s->state != CLOSED) {
    progress = 0;
    int src = s->state == RELAY ? s->ufd : s->pfd;

    /* client -> server side */
    if (!s->cli_eof && s->to_srv.len == 0 && s->state != SPLICE_WAIT && (s->cli_in || cli_pending(s))) {
      if (dbuf_reserve(&s->to_srv, CHUNK) < 0) return finish(s, "out of memory");
      int e = 0;
      int n = cli_read(s, s->to_srv.data, s->to_srv.cap, &e);
      if (n > 0) {
        s->to_srv.len = (size_t)n;
        s->from_cli += (uint64_t)n;
        s->read_want = 0;
        s->cli_in = 0; /* OpenSSL read ahead all it could (a clear recv all it fit); cli_pending covers the rest */
        progress = 1;
      } else {
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
          s->read_want = e;
          s->cli_in = 0;
        } else if (e == SSL_ERROR_ZERO_RETURN) {
          /* With SSL_OP_IGNORE_UNEXPECTED_EOF a bare TCP close lands here too; SSL_ERROR_SYSCALL is a real error (a reset). */
          s->cli_eof = 1;
          s->read_want = 0;
          progress = 1;
        } else {
          return finish(s, ssl_failure());
        }
      }
    }
    if (s->to_srv.len > 0 && s->state != SPLICE_WAIT) {
      int blocked = 0;
      size_t before = s->to_srv.len;
      if (flush_plain(s->state == RELAY ? s->ufd : s->pfd, &s->to_srv, &blocked, s->state == LOGIN ? &s->sp_written : NULL) < 0) {
        return finish(s, s->state == RELAY ? "server write failed" : "login ended");
      }
      if (s->to_srv.len != before) progress = 1;
    }

    /* server side -> client */
    if (!s->src_eof && s->to_cli.len == 0 && (s->src_in || s->src_broken)) {
      if (dbuf_reserve(&s->to_cli, CHUNK) < 0) return finish(s, "out of memory");
      ssize_t n = recv(src, s->to_cli.data, s->to_cli.cap, 0);
      if (n > 0) {
        s->to_cli.len = (size_t)n;
        if ((size_t)n < s->to_cli.cap) s->src_in = 0; /* a short read took all there was */
        if (s->state == RELAY) s->from_srv += (uint64_t)n;
        progress = 1;
      } else if (n == 0) {
        s->src_eof = 1;
        progress = 1;
      } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
        if (s->src_broken) return finish(s, s->state == RELAY ? "server connection error" : "login ended");
        s->src_in = 0;
      } else if (errno != EINTR) {
        if (s->state == RELAY) return finish(s, "server read failed");
        s->src_eof = 1; /* JS dropped its end hard: same as a close */
        progress = 1;
      }
    }
    if (s->to_cli.len > 0) {
      int e = 0;
      int n = cli_write(s, s->to_cli.data + s->to_cli.off, s->to_cli.len, &e);
      if (n > 0) {
        dbuf_consume(&s->to_cli, (size_t)n);
        s->write_want = 0;
        progress = 1;
      } else {
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
          s->write_want = e;
        } else {
          return finish(s, "client write failed");
        }
      }
    }

    /* Transitions once a side has ended and its bytes are through. */
    if (s->src_eof && s->to_cli.len == 0 && s->state == LOGIN) {
      /* JS queues a splice before it ends its socketpair end: run queued commands before deciding. */
      on_wake(NULL);
      if (s->state == CLOSED) return;
    }
    if (s->src_eof && s->to_cli.len == 0) {
      if (s->state == SPLICE_WAIT && s->pc_pending != NULL) {
        /* JS closed its end: the login's last words are out, the client joins its pool. */
        close_poll(&s->ppoll, &s->ppoll_on, s);
        close_fd(&s->pfd);
        s->src_eof = 0;
        s->src_broken = 0;
        return pool_client_start(s);
      }
      if (s->state == SPLICE_WAIT) {
        /* JS closed its end: everything it wrote has reached the client. */
        close_poll(&s->ppoll, &s->ppoll_on, s);
        close_fd(&s->pfd);
        s->state = RELAY;
        s->src_eof = 0;
        s->src_broken = 0;
        s->src_in = 1; /* the server may have spoken already */
        s->cli_in = 1; /* and the client, while we held off */
        s->from_cli = 0;
        s->from_srv = 0;
        if (s->held.len > 0) {
          /* JS's bytes go first, then whatever the client sent meanwhile. */
          size_t total = s->held.len + s->to_srv.len;
          if (dbuf_reserve(&s->held, total) < 0) return finish(s, "out of memory");
          if (s->to_srv.len > 0) memcpy(s->held.data + s->held.len, s->to_srv.data + s->to_srv.off, s->to_srv.len);
          s->held.len = total;
          dbuf tmp = s->to_srv;
          s->to_srv = s->held;
          s->held = tmp;
          s->held.off = s->held.len = 0;
        }
        s->from_cli = s->to_srv.len;
        progress = 1;
        continue;
      }
      return finish(s, s->state == RELAY ? "server" : "login ended");
    }
    if (s->cli_eof && s->to_srv.len == 0 && s->state == RELAY) return finish(s, "client");
    if (s->cli_eof && s->state == LOGIN && s->to_srv.len == 0 && !s->told_js_eof) {
      /* Tell JS the client is gone: it sees EOF on its socket. */
      shutdown(s->pfd, SHUT_WR);
      s->told_js_eof = 1;
    }
  }
  if (s->state == CLOSED) return;

  /* Which readiness each fd needs now. */
  int want_client_bytes = !s->cli_eof && s->to_srv.len == 0 && s->state != SPLICE_WAIT;
  int cwant = 0;
  if (want_client_bytes && s->read_want != SSL_ERROR_WANT_WRITE) cwant |= UV_READABLE;
  if (s->to_cli.len > 0 && s->write_want == SSL_ERROR_WANT_READ) cwant |= UV_READABLE;
  if ((want_client_bytes && s->read_want == SSL_ERROR_WANT_WRITE) || (s->to_cli.len > 0 && s->write_want == SSL_ERROR_WANT_WRITE)) cwant |= UV_WRITABLE;
  int side_fd = s->state == RELAY ? s->ufd : s->pfd;
  int swant = 0;
  if (!s->src_eof && s->to_cli.len == 0) swant |= UV_READABLE;
  if (s->to_srv.len > 0 && s->state != SPLICE_WAIT) swant |= UV_WRITABLE;
  int rc = watch(s, &s->cpoll, &s->cpoll_on, &s->cev, s->cfd, cwant);
  if (rc == 0) {
    if (s->state == RELAY) rc = watch(s, &s->upoll, &s->upoll_on, &s->uev, side_fd, swant);
    else rc = watch(s, &s->ppoll, &s->ppoll_on, &s->pev, side_fd, swant);
  }
  if (rc != 0) finish(s, "poll failed");
}

/* The caller holds a reference. */
static void on_poll_event(session *s, uv_poll_t *p, int status, int events) {
  /*
   * Commands first: JS queues a splice before it closes its socketpair end,
   * so the EOF we may be about to read must find the session spliced.
   */
  on_wake(NULL);
  if (s->state == CLOSED) return;
  if (status < 0) {
    /* libuv has stopped this poll (POLLERR: a reset). Nothing more can reach a reset client. */
    if (p == &s->cpoll) return finish(s, "client connection error");
    /* The server's last words (a FATAL before a reset) may still be queued: read them, then the error. */
    if (p == &s->upoll) s->uev = 0;
    else s->pev = 0;
    s->src_broken = 1;
  }
  if (s->state == HANDSHAKE && p == &s->ppoll) return finish(s, "login ended");
  if (events & UV_READABLE) {
    if (p == &s->cpoll) s->cli_in = 1;
    else s->src_in = 1;
  }
  /* SSL_read waiting to write (or SSL_write to read) retries on the other readiness. */
  if (p == &s->cpoll && (events & UV_WRITABLE) && s->read_want == SSL_ERROR_WANT_WRITE) s->cli_in = 1;
  pump_held(s);
}

/* Queued commands may finish the session: hold it across them and the pump. */
static void on_poll(uv_poll_t *p, int status, int events) {
  session *s = p->data;
  ref(s);
  on_poll_event(s, p, status, events);
  unref(s);
  run_ready();
}

/* ------------------------------------------------------------ idle sweep */

/*
 * Memory per idle client (docs/performance.md, issue 10). A session needs
 * its plaintext buffers (to_srv, to_cli: 16 KB each once used) and OpenSSL's
 * record buffers (about 17 KB each way) only while bytes move. Once a
 * second, a session that moved no byte since the previous sweep gives back
 * the ones that are empty; its next byte allocates them again. The hot path
 * is untouched: a busy session keeps its buffers.
 *
 * The freed buffers sit between live objects in the malloc arena, where the
 * next sessions' buffers reuse them. A malloc_trim() after the sweep would
 * give their pages back to the system too, but it walks every arena (the JS
 * thread's included) and took 15-250 ms with thousands of clients, all of
 * it a stall of this loop: not done (docs/performance.md).
 */
#define IDLE_SWEEP_MS 1000

static void release_if_empty(dbuf *b) {
  if (b->len == 0 && b->data != NULL) dbuf_free(b);
}

/* 1 once nothing of the session's buffers is left to give back. */
static int make_lean(session *s) {
  release_if_empty(&s->to_srv);
  release_if_empty(&s->to_cli);
  release_if_empty(&s->held);
  /* SSL_free_buffers refuses while a record is partly read or written; a clear session has none. */
  return s->to_srv.data == NULL && s->to_cli.data == NULL && s->held.data == NULL && (s->ssl == NULL || SSL_free_buffers(s->ssl) == 1);
}

static void on_idle_sweep(uv_timer_t *t) {
  for (session *s = E.sessions; s != NULL; s = s->next) {
    if (s->state != LOGIN && s->state != RELAY && s->state != POOLED) continue;
    uint64_t moved = s->from_cli + s->from_srv;
    if (moved != s->swept) {
      s->swept = moved;
      s->lean = 0;
      continue;
    }
    if (!s->lean && make_lean(s)) s->lean = 1;
  }
  if (E.sessions == NULL) {
    uv_timer_stop(t);
    E.idle_sweep_on = 0;
  }
}

/* ------------------------------------------------------------- commands */

static session *find(uint32_t id) {
  for (session *s = E.sessions; s != NULL; s = s->next) if (s->id == id) return s;
  return NULL;
}

static cmd stop_command = {.kind = CMD_STOP, .fd = -1};

/* The pooled relay lives in files of its own, compiled here so that everything stays file-private. */
static napi_value throw_msg(napi_env env, const char *msg);
static int dup_nonblocking(int fd);
static void submit(cmd *c);
#define CHECK(call)                                                    \
  do {                                                                 \
    if ((call) != napi_ok) {                                           \
      napi_throw_error(env, "IAMDB_NATIVE", "native data path: " #call); \
      return NULL;                                                     \
    }                                                                  \
  } while (0)
#include "pg_scan.c"
#include "pg_maps.c"
#include "my_resp.c"
/* pg_server_tls.c's, used by pg_pool.c and defined after it. */
struct pg_server;
static SSL *server_tls_take(uint32_t link, uint64_t js_received, int *fd, dbuf *in, const char **why);
static int server_tls_read(struct pg_server *sv);
static int server_tls_flush(struct pg_server *sv);
static int server_tls_want(const struct pg_server *sv);
static void server_tls_polled(struct pg_server *sv, int events);
static void server_tls_close(struct pg_server *sv);
static void free_ctx(napi_env env, void *data, void *hint);
#include "pg_pool.c"
#include "my_pool.c"
#include "pg_server_tls.c"

static void run_command(cmd *c) {
  switch (c->kind) {
    case CMD_ACCEPT: {
      session *s = c->s;
      s->next = E.sessions;
      if (E.sessions) E.sessions->prev = s;
      E.sessions = s;
      /* After the stop, nothing may open a handle: the loop must run out. */
      if (E.stopping) {
        finish(s, "gateway stopped");
        break;
      }
      if (!E.idle_sweep_on) {
        E.idle_sweep_on = 1;
        uv_timer_start(&E.idle_sweep, on_idle_sweep, IDLE_SWEEP_MS, IDLE_SWEEP_MS);
      }
      pump(s);
      break;
    }
    case CMD_SPLICE: {
      session *s = find(c->id);
      if (s == NULL || s->state != LOGIN) break; /* already gone: its closed event is on its way */
      s->ufd = c->fd;
      c->fd = -1;
      if (s->sp_written != c->js_received) {
        /* The client sent bytes JS never read: it spoke before the login finished. */
        finish(s, "client sent data before the login completed");
        break;
      }
      s->held.data = c->bytes;
      s->held.len = c->nbytes;
      s->held.cap = c->nbytes;
      c->bytes = NULL;
      s->state = SPLICE_WAIT;
      pump(s);
      break;
    }
    case CMD_CLOSE: {
      session *s = find(c->id);
      if (s != NULL) finish(s, "closed by the gateway");
      break;
    }
    case CMD_STOP: {
      if (E.stopping) return;
      E.stopping = 1;
      while (E.sessions != NULL) finish(E.sessions, "gateway stopped");
      pool_stop_all();
      uv_timer_stop(&E.idle_sweep);
      uv_close((uv_handle_t *)&E.idle_sweep, NULL);
      uv_close((uv_handle_t *)&E.wake, NULL);
      return; /* static: nothing to free */
    }
    case CMD_POOL_CREATE: pool_cmd_create(c); break;
    case CMD_POOL_CONFIG: pool_cmd_config(c); break;
    case CMD_POOL_ADD: pool_cmd_add(c); break;
    case CMD_POOL_FAILED: pool_cmd_failed(c); break;
    case CMD_POOL_CLOSE: pool_cmd_close(c); break;
    case CMD_ATTACH: pool_cmd_attach(c); break;
    case CMD_VERDICT: pool_cmd_verdict(c); break;
    case CMD_CANCEL_LOOKUP: pool_cmd_cancel_lookup(c); break;
    case CMD_CANCEL_DONE: pool_cmd_cancel_done(c); break;
    case CMD_POOL_LIMIT: pool_cmd_limit(c); break;
    case CMD_POOL_RETIRE: pool_cmd_retire(c); break;
    case CMD_POOL_RESERVE: pool_cmd_reserve(c); break;
  }
  if (c->fd >= 0) close(c->fd);
  free(c->bytes);
  free(c->bytes2);
  pool_free_unclaimed(c->ptr);
  free(c);
}

static cmd *next_command(void) {
  uv_mutex_lock(&E.lock);
  cmd *c = E.head;
  if (c != NULL) {
    E.head = c->next;
    if (E.head == NULL) E.tail = NULL;
  }
  uv_mutex_unlock(&E.lock);
  return c;
}

/*
 * Runs queued commands in the order JS queued them. It is re-entered from
 * inside a command (pump_once() runs the queue before it decides a login has
 * ended), so it takes one command at a time off the shared queue: the inner
 * call goes on where the outer one was, never ahead of an older command.
 */
static void on_wake(uv_async_t *a) {
  for (cmd *c = next_command(); c != NULL; c = next_command()) run_command(c);
  /* From the loop itself (not from inside a pump): pools may have work. */
  if (a != NULL) run_ready();
}

static void loop_main(void *arg) {
  (void)arg;
  uv_run(&E.loop, UV_RUN_DEFAULT);
}

static void submit(cmd *c) {
  c->next = NULL;
  uv_mutex_lock(&E.lock);
  if (E.tail) E.tail->next = c; else E.head = c;
  E.tail = c;
  uv_mutex_unlock(&E.lock);
  uv_async_send(&E.wake);
}

/* ------------------------------------------------------------ JS bindings */

static napi_value throw_msg(napi_env env, const char *msg) {
  napi_throw_error(env, "IAMDB_NATIVE", msg);
  return NULL;
}

/* Env teardown: stop the loop thread (no allocation, so it cannot fail), then free the engine's parts. */
static void cleanup_hook(void *arg) {
  (void)arg;
  if (!E.started) return;
  E.started = 0;
  submit(&stop_command);
  uv_thread_join(&E.thread);
  uv_loop_close(&E.loop);
  uv_mutex_destroy(&E.lock);
}

/* start(onEvent): starts the loop thread once per process. */
static napi_value js_start(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (E.started) return throw_msg(env, "native data path already started");
  E.stopping = 0;
  E.head = E.tail = NULL;
  napi_value name;
  CHECK(napi_create_string_utf8(env, "iamdb-data-path", NAPI_AUTO_LENGTH, &name));
  CHECK(napi_create_threadsafe_function(env, argv[0], NULL, name, 0, 1, NULL, NULL, NULL, call_js, &E.tsfn));
  /* Sessions keep nothing alive: the JS side holds sockets that do. */
  CHECK(napi_unref_threadsafe_function(env, E.tsfn));
  if (uv_loop_init(&E.loop) != 0) return throw_msg(env, "uv_loop_init failed");
  if (uv_mutex_init(&E.lock) != 0) return throw_msg(env, "uv_mutex_init failed");
  if (uv_async_init(&E.loop, &E.wake, on_wake) != 0) return throw_msg(env, "uv_async_init failed");
  if (uv_timer_init(&E.loop, &E.idle_sweep) != 0) return throw_msg(env, "uv_timer_init failed");
  E.idle_sweep_on = 0;
  if (uv_timer_init(&E.loop, &P.timer) != 0 || uv_timer_init(&E.loop, &P.sweep) != 0) return throw_msg(env, "uv_timer_init failed");
  if (uv_thread_create(&E.thread, loop_main, NULL) != 0) return throw_msg(env, "cannot start the data path thread");
  E.started = 1;
  CHECK(napi_add_env_cleanup_hook(env, cleanup_hook, NULL));
  return NULL;
}

static void free_ctx(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  SSL_CTX_free(data);
}

/* tlsContext(certChainPem, keyPem): a server SSL_CTX (TLS 1.2+). */
static napi_value js_tls_context(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char *pem[2] = {NULL, NULL};
  for (int i = 0; i < 2; i++) {
    size_t len;
    if (napi_get_value_string_utf8(env, argv[i], NULL, 0, &len) != napi_ok) {
      free(pem[0]);
      return throw_msg(env, "tlsContext expects PEM strings");
    }
    pem[i] = malloc(len + 1);
    if (pem[i] == NULL) {
      free(pem[0]);
      return throw_msg(env, "out of memory");
    }
    napi_get_value_string_utf8(env, argv[i], pem[i], len + 1, &len);
  }
  SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
  const char *problem = NULL;
  if (ctx == NULL) problem = "SSL_CTX_new failed";
  if (!problem) {
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_TICKET | SSL_OP_IGNORE_UNEXPECTED_EOF);
    /* Database clients do not resume sessions; tickets would only cost a handshake. */
    SSL_CTX_set_num_tickets(ctx, 0);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    /*
     * RELEASE_BUFFERS: OpenSSL frees its record buffers (about 17 KB each way) whenever they are
     * empty, not only at the idle sweep's SSL_free_buffers. Freed at once, they are reused by the
     * next record of any session; freed only after a second of silence, each left a hole between
     * long-lived allocations in this thread's arena that glibc kept resident (about 7 KB per idle
     * client at 3,000 clients, docs/performance.md).
     */
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
    /* One read(2) per burst of records instead of one for each header and body. */
    SSL_CTX_set_read_ahead(ctx, 1);
    /*
     * TLS 1.3: OpenSSL's three suites, AES-128-GCM first (the server's order
     * decides). Its SHA-256 key schedule and transcript hash cost a login a
     * good deal less than SHA-384's on CPUs with SHA extensions, and its
     * records are cheaper to seal; all three stay offered.
     */
    if (SSL_CTX_set_ciphersuites(ctx, "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256") != 1) problem = "cannot set the TLS 1.3 cipher suites";
  }
  if (!problem) {
    BIO *certs = BIO_new_mem_buf(pem[0], -1);
    X509 *leaf = certs ? PEM_read_bio_X509(certs, NULL, NULL, NULL) : NULL;
    if (leaf == NULL || SSL_CTX_use_certificate(ctx, leaf) != 1) problem = "cannot load the certificate";
    X509_free(leaf);
    while (!problem) {
      X509 *extra = PEM_read_bio_X509(certs, NULL, NULL, NULL);
      if (extra == NULL) break;
      if (SSL_CTX_add0_chain_cert(ctx, extra) != 1) {
        X509_free(extra);
        problem = "cannot load the certificate chain";
      }
    }
    BIO_free(certs);
    if (!problem) {
      BIO *kb = BIO_new_mem_buf(pem[1], -1);
      EVP_PKEY *key = kb ? PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL) : NULL;
      if (key == NULL || SSL_CTX_use_PrivateKey(ctx, key) != 1 || SSL_CTX_check_private_key(ctx) != 1) problem = "cannot load the private key";
      EVP_PKEY_free(key);
      BIO_free(kb);
    }
  }
  /* The key's PEM must not linger in freed memory. */
  OPENSSL_cleanse(pem[1], strlen(pem[1]));
  free(pem[0]);
  free(pem[1]);
  ERR_clear_error();
  if (problem) {
    SSL_CTX_free(ctx);
    return throw_msg(env, problem);
  }
  napi_value out;
  CHECK(napi_create_external(env, ctx, free_ctx, NULL, &out));
  return out;
}

static int dup_nonblocking(int fd) {
  int d = fcntl(fd, F_DUPFD_CLOEXEC, 3);
  if (d < 0) return -1;
  int fl = fcntl(d, F_GETFL);
  if (fl < 0 || fcntl(d, F_SETFL, fl | O_NONBLOCK) < 0) {
    close(d);
    return -1;
  }
  return d;
}

/*
 * The SSL for a client: on cfd, or reading first the `early` bytes JS has
 * already received (MySQL clients send their ClientHello right behind the
 * SSL request, without waiting for an answer), from a memory BIO that
 * client_handshake() replaces with the socket once drained.
 */
static SSL *client_ssl(SSL_CTX *ctx, int cfd, const void *early, size_t nearly) {
  SSL *ssl = SSL_new(ctx);
  if (ssl == NULL) return NULL;
  if (nearly == 0) {
    if (SSL_set_fd(ssl, cfd) == 1) return ssl;
    SSL_free(ssl);
    return NULL;
  }
  BIO *mem = BIO_new(BIO_s_mem());
  BIO *sock = BIO_new_socket(cfd, BIO_NOCLOSE);
  if (mem == NULL || sock == NULL || nearly > INT_MAX || BIO_write(mem, early, (int)nearly) != (int)nearly) {
    BIO_free(mem);
    BIO_free(sock);
    SSL_free(ssl);
    return NULL;
  }
  BIO_set_mem_eof_return(mem, -1); /* drained: "retry", not end of stream */
  SSL_set_bio(ssl, mem, sock);     /* the SSL owns both */
  return ssl;
}

/*
 * acceptTls(ctx, clientFd, prefix: Buffer, early?: Buffer): duplicates the
 * client's fd (JS closes its own copy), returns [id, jsFd] where jsFd is the
 * socketpair end on which JS runs the login. The handshake result arrives as
 * an event. `early`: TLS bytes JS read from the client already. A null ctx
 * makes a clear session (no TLS: `prefix` is written, then LOGIN at once).
 */
static napi_value js_accept_tls(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (!E.started) return throw_msg(env, "native data path not started");
  if (argc < 3) return throw_msg(env, "acceptTls expects a context, an fd and a prefix");
  SSL_CTX *ctx = NULL;
  int32_t fd;
  void *pre, *early = NULL;
  size_t npre, nearly = 0;
  napi_valuetype t;
  CHECK(napi_typeof(env, argv[0], &t));
  if (t != napi_null) CHECK(napi_get_value_external(env, argv[0], (void **)&ctx));
  CHECK(napi_get_value_int32(env, argv[1], &fd));
  CHECK(napi_get_buffer_info(env, argv[2], &pre, &npre));
  if (argc > 3) {
    CHECK(napi_typeof(env, argv[3], &t));
    if (t != napi_undefined) CHECK(napi_get_buffer_info(env, argv[3], &early, &nearly));
  }
  if (ctx == NULL && nearly > 0) return throw_msg(env, "a clear session has no TLS bytes");
  int pair[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, pair) != 0) return throw_msg(env, "socketpair failed");
  fcntl(pair[0], F_SETFD, FD_CLOEXEC);
  fcntl(pair[1], F_SETFD, FD_CLOEXEC);
  int cfd = dup_nonblocking(fd);
  int fl = fcntl(pair[0], F_GETFL);
  session *s = calloc(1, sizeof(session));
  SSL *ssl = ctx != NULL && cfd >= 0 ? client_ssl(ctx, cfd, early, nearly) : NULL;
  if (cfd < 0 || fl < 0 || fcntl(pair[0], F_SETFL, fl | O_NONBLOCK) < 0 || s == NULL || (ctx != NULL && ssl == NULL) ||
      (npre > 0 && (s->prefix.data = malloc(npre)) == NULL)) {
    if (cfd >= 0) close(cfd);
    close(pair[0]);
    close(pair[1]);
    if (ssl) SSL_free(ssl);
    if (s) dbuf_free(&s->prefix);
    free(s);
    ERR_clear_error();
    return throw_msg(env, "cannot set up the TLS session");
  }
  if (npre > 0) memcpy(s->prefix.data, pre, npre);
  s->prefix.len = s->prefix.cap = npre;
  s->refs = 1; /* the live reference, dropped by finish() */
  uint32_t id = ++E.next_id;
  s->id = id;
  s->state = HANDSHAKE;
  s->cfd = cfd;
  s->pfd = pair[0];
  s->ufd = -1;
  s->ssl = ssl;
  /* Everything that can fail comes before the session is handed to the loop thread (which may free it at once). */
  cmd *c = calloc(1, sizeof(cmd));
  napi_value out, v0, v1;
  if (c == NULL || napi_create_array_with_length(env, 2, &out) != napi_ok || napi_create_uint32(env, id, &v0) != napi_ok ||
      napi_create_int32(env, pair[1], &v1) != napi_ok || napi_set_element(env, out, 0, v0) != napi_ok || napi_set_element(env, out, 1, v1) != napi_ok) {
    free(c);
    if (ssl) SSL_free(ssl);
    close(cfd);
    close(pair[0]);
    close(pair[1]);
    dbuf_free(&s->prefix);
    free(s);
    return throw_msg(env, "cannot set up the session");
  }
  c->kind = CMD_ACCEPT;
  c->s = s;
  c->fd = -1;
  submit(c);
  return out;
}

/*
 * splice(id, serverFd, pendingForServer: Buffer, bytesJsReceived): hands the
 * session over to the relay once JS has ended its socketpair end.
 */
static napi_value js_splice(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  uint32_t id;
  int32_t fd;
  void *bytes;
  size_t n;
  double received;
  CHECK(napi_get_value_uint32(env, argv[0], &id));
  CHECK(napi_get_value_int32(env, argv[1], &fd));
  CHECK(napi_get_buffer_info(env, argv[2], &bytes, &n));
  CHECK(napi_get_value_double(env, argv[3], &received));
  if (!E.started) return throw_msg(env, "native data path not started");
  if (!(received >= 0 && received < 9007199254740992.0)) return throw_msg(env, "splice expects a byte count");
  int ufd = dup_nonblocking(fd);
  if (ufd < 0) return throw_msg(env, "cannot take over the server connection");
  cmd *c = calloc(1, sizeof(cmd));
  uint8_t *copy = n > 0 ? malloc(n) : NULL;
  if (c == NULL || (n > 0 && copy == NULL)) {
    close(ufd);
    free(c);
    free(copy);
    return throw_msg(env, "out of memory");
  }
  if (n > 0) memcpy(copy, bytes, n);
  c->kind = CMD_SPLICE;
  c->id = id;
  c->fd = ufd;
  c->bytes = copy;
  c->nbytes = n;
  c->js_received = (uint64_t)received;
  submit(c);
  return NULL;
}

/* close(id): ends a session at once (drain deadline, login timeout). */
static napi_value js_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  uint32_t id;
  CHECK(napi_get_value_uint32(env, argv[0], &id));
  if (!E.started) return throw_msg(env, "native data path not started");
  cmd *c = calloc(1, sizeof(cmd));
  if (c == NULL) return throw_msg(env, "out of memory");
  c->kind = CMD_CLOSE;
  c->id = id;
  c->fd = -1;
  submit(c);
  return NULL;
}

/* ------------------------------------------------ MySQL response tracker (tests) */

static const char *my_outcome_name(uint8_t o) {
  return o == MYR_OK ? "ok" : o == MYR_ERR ? "err" : o == MYR_EOF ? "eof" : "other";
}

static napi_status set_num(napi_env env, napi_value obj, const char *name, double v) {
  napi_value x;
  napi_status st = napi_create_double(env, v, &x);
  return st != napi_ok ? st : napi_set_named_property(env, obj, name, x);
}

static napi_status set_bool(napi_env env, napi_value obj, const char *name, bool v) {
  napi_value x;
  napi_status st = napi_get_boolean(env, v, &x);
  return st != napi_ok ? st : napi_set_named_property(env, obj, name, x);
}

static napi_status set_str(napi_env env, napi_value obj, const char *name, const char *v) {
  napi_value x;
  /* latin1: a SQLSTATE is 5 raw bytes, as the TS reads them (String.fromCharCode). */
  napi_status st = napi_create_string_latin1(env, v, strlen(v), &x);
  return st != napi_ok ? st : napi_set_named_property(env, obj, name, x);
}

/* One entry of mysqlTrack's answer: the op it came from, then an event, a refusal or an error. */
static napi_value track_entry(napi_env env, napi_value out, uint32_t *count, double op) {
  napi_value o;
  if (napi_create_object(env, &o) != napi_ok || set_num(env, o, "op", op) != napi_ok) return NULL;
  if (napi_set_element(env, out, (*count)++, o) != napi_ok) return NULL;
  return o;
}

static napi_value track_event(napi_env env, napi_value out, uint32_t *count, uint32_t op, const my_end *e, size_t end) {
  napi_value o = track_entry(env, out, count, op);
  if (o == NULL) return NULL;
  CHECK(set_bool(env, o, "unsolicited", e->unsolicited));
  CHECK(set_num(env, o, "command", e->command));
  CHECK(set_str(env, o, "outcome", my_outcome_name(e->outcome)));
  CHECK(set_num(env, o, "status", e->status));
  CHECK(set_bool(env, o, "statusReported", e->status_reported));
  CHECK(set_num(env, o, "errno", e->err_code));
  CHECK(set_str(env, o, "sqlState", e->sqlstate));
  CHECK(set_num(env, o, "stmtId", e->stmt_id));
  CHECK(set_num(env, o, "numColumns", e->num_columns));
  CHECK(set_num(env, o, "numParams", e->num_params));
  CHECK(set_num(env, o, "resultSets", e->result_sets));
  CHECK(set_num(env, o, "end", (double)end));
  return o;
}

static napi_value track_error(napi_env env, napi_value out, uint32_t *count, double op, const char *why) {
  napi_value o = track_entry(env, out, count, op);
  if (o == NULL) return NULL;
  CHECK(set_str(env, o, "error", why));
  return o;
}

/* A JS number as a length: NaN and negatives are 0, and the cast stays defined past 2^64. */
static uint64_t track_u64(double v) {
  if (!(v > 0)) return 0;
  return v >= 18446744073709551615.0 ? UINT64_MAX : (uint64_t)v;
}

/* Pushes one buffer: 0, -1 after recording the tracker's error, -2 when N-API failed. */
static int track_push(napi_env env, my_resp *t, napi_value buf, napi_value out, uint32_t *count, uint32_t op) {
  void *data;
  size_t n, off = 0;
  if (napi_get_buffer_info(env, buf, &data, &n) != napi_ok) return -2;
  for (;;) {
    size_t used;
    my_end e;
    const char *why;
    int r = my_resp_push(t, (const uint8_t *)data + off, n - off, &used, &e, &why);
    if (r < 0) return track_error(env, out, count, op, why) == NULL ? -2 : -1;
    off += used;
    if (r == 0) return 0;
    if (track_event(env, out, count, op, &e, off) == NULL) return -2;
  }
}

/* Sends one [head, len] command: 0, -1 after recording too many pending, -2 when N-API failed. A refusal is recorded and is not an error. */
static int track_sent(napi_env env, my_resp *t, napi_value pair, napi_value out, uint32_t *count, uint32_t op) {
  napi_value head, lenv;
  void *data;
  size_t n;
  double len;
  if (napi_get_element(env, pair, 0, &head) != napi_ok || napi_get_element(env, pair, 1, &lenv) != napi_ok) return -2;
  if (napi_get_buffer_info(env, head, &data, &n) != napi_ok || napi_get_value_double(env, lenv, &len) != napi_ok) return -2;
  int r = my_resp_sent(t, data, n, track_u64(len));
  if (r == -2) return track_error(env, out, count, op, "PROTO_MYSQL_TOO_MANY_PENDING") == NULL ? -2 : -1;
  if (r == -1) {
    napi_value o = track_entry(env, out, count, op);
    return o == NULL || set_bool(env, o, "refused", true) != napi_ok ? -2 : 0;
  }
  return 0;
}

/*
 * mysqlTrack(caps, mariadbCaps, status, maxPacket, ops: Array<Buffer | [Buffer, number]>): runs the C tracker
 * (my_resp.c) over ops, for the differential tests against response-tracker.ts. Returns its events in order
 * ({op, unsolicited, command, outcome, ..., end: offset in that op's Buffer}), {op, refused: true} for a
 * refused command, and {op, error} where a call failed (the last entry). op -1: my_resp_init refused.
 * The array also carries the tracker's state after the last op: idle, eof (0 or -1) and status.
 */
static napi_value js_mysql_track(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5], out;
  uint32_t caps, mcaps, status, nops, count = 0;
  double max;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  CHECK(napi_get_value_uint32(env, argv[0], &caps));
  CHECK(napi_get_value_uint32(env, argv[1], &mcaps));
  CHECK(napi_get_value_uint32(env, argv[2], &status));
  CHECK(napi_get_value_double(env, argv[3], &max));
  CHECK(napi_get_array_length(env, argv[4], &nops));
  CHECK(napi_create_array(env, &out));
  my_resp t;
  const char *why;
  if (my_resp_init(&t, caps, mcaps, (uint16_t)status, track_u64(max), &why) < 0) {
    return track_error(env, out, &count, -1, why) == NULL ? NULL : out;
  }
  for (uint32_t op = 0; op < nops; op++) {
    napi_value v;
    bool is_buffer;
    CHECK(napi_get_element(env, argv[4], op, &v));
    CHECK(napi_is_buffer(env, v, &is_buffer));
    int r = is_buffer ? track_push(env, &t, v, out, &count, op) : track_sent(env, &t, v, out, &count, op);
    if (r == -2) return throw_msg(env, "mysqlTrack: bad op");
    if (r < 0) return out;
  }
  CHECK(set_bool(env, out, "idle", my_resp_idle(&t)));
  CHECK(set_num(env, out, "eof", my_resp_eof(&t)));
  CHECK(set_num(env, out, "status", my_resp_status(&t)));
  return out;
}

/* native/v8_heap.cc: V8's API is C++ only. */
napi_value iamdb_js_release_heap(napi_env env, napi_callback_info info);

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"start", NULL, js_start, NULL, NULL, NULL, napi_default, NULL},
      {"tlsContext", NULL, js_tls_context, NULL, NULL, NULL, napi_default, NULL},
      {"acceptTls", NULL, js_accept_tls, NULL, NULL, NULL, napi_default, NULL},
      {"splice", NULL, js_splice, NULL, NULL, NULL, napi_default, NULL},
      {"close", NULL, js_close, NULL, NULL, NULL, napi_default, NULL},
      {"scanWords", NULL, js_scan_words, NULL, NULL, NULL, napi_default, NULL},
      {"scan", NULL, js_scan, NULL, NULL, NULL, napi_default, NULL},
      {"poolCreate", NULL, js_pool_create, NULL, NULL, NULL, napi_default, NULL},
      {"poolConfigure", NULL, js_pool_configure, NULL, NULL, NULL, napi_default, NULL},
      {"poolAdd", NULL, js_pool_add, NULL, NULL, NULL, napi_default, NULL},
      {"poolFailed", NULL, js_pool_failed, NULL, NULL, NULL, napi_default, NULL},
      {"poolClose", NULL, js_pool_close, NULL, NULL, NULL, napi_default, NULL},
      {"attach", NULL, js_attach, NULL, NULL, NULL, napi_default, NULL},
      {"verdict", NULL, js_verdict, NULL, NULL, NULL, napi_default, NULL},
      {"cancelLookup", NULL, js_cancel_lookup, NULL, NULL, NULL, napi_default, NULL},
      {"cancelDone", NULL, js_cancel_done, NULL, NULL, NULL, napi_default, NULL},
      {"poolLimit", NULL, js_pool_limit, NULL, NULL, NULL, napi_default, NULL},
      {"poolRetire", NULL, js_pool_retire, NULL, NULL, NULL, napi_default, NULL},
      {"poolReserve", NULL, js_pool_reserve, NULL, NULL, NULL, napi_default, NULL},
      {"clientTlsContext", NULL, js_client_tls_context, NULL, NULL, NULL, napi_default, NULL},
      {"connectTls", NULL, js_connect_tls, NULL, NULL, NULL, napi_default, NULL},
      {"poolAddTls", NULL, js_pool_add_tls, NULL, NULL, NULL, napi_default, NULL},
      {"mysqlVerdict", NULL, js_mysql_verdict, NULL, NULL, NULL, napi_default, NULL},
      {"mysqlTrack", NULL, js_mysql_track, NULL, NULL, NULL, napi_default, NULL},
      {"releaseHeap", NULL, iamdb_js_release_heap, NULL, NULL, NULL, napi_default, NULL},
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok) return NULL;
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)

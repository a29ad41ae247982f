/*
 * TLS from the native side to a PostgreSQL server (client mode), for the
 * pooled relay's server connections. docs/architecture.md ("TLS to pooled
 * servers") has the design; in short:
 *
 *   JS opens TCP and sends SSLRequest itself (the 'S'/'N' answer and what
 *   targetTls says about it are decisions: TypeScript's). On 'S' it hands
 *   the fd here (connectTls): we run SSL_connect with the SSL_CTX JS built
 *   for the target (CA bundle, verify or not) and the host name JS names,
 *   then bridge the plaintext to one end of a socketpair exactly as a
 *   client session's login is bridged (a `session` with `connect` set:
 *   data_path.c's pump serves both). JS logs in on the other end (SCRAM,
 *   channel binding from the certificate we report, InitQuery), then
 *   poolAddTls() moves the TLS connection into the pool: the pg_server
 *   takes the fd and the SSL, and reads and writes with SSL_read/SSL_write.
 *
 * Compiled as part of data_path.c's translation unit, after pg_pool.c.
 *
 * Ownership (adds to the tables at the top of data_path.c and pg_pool.c):
 *   client SSL_CTX  The JS external clientTlsContext() returns; freed by its
 *                   finalizer (free_ctx). Each SSL holds its own reference.
 *   link session    A `session` with connect=1, built by connectTls() on the
 *                   JS thread and the loop thread's from CMD_ACCEPT, as any
 *                   session (refs, finish()). Its cfd is the server's TCP
 *                   connection (a dup of JS's fd), its SSL the client-mode
 *                   TLS, its pfd our socketpair end.
 *   SSL, fd         The link session's until CMD_POOL_ADD with a link id
 *                   takes them (server_tls_take) for a pg_server, which owns
 *                   them from then: server_close() sends close_notify, frees
 *                   the SSL and closes the fd. If the take is refused they
 *                   stay with the session, which finish() ends.
 *   bytes           Plaintext the session had read from the server and not
 *                   yet passed to JS (to_srv) moves into the pg_server's `in`.
 *   peer cert DER   Built by handshake_done() into the handshake event's
 *                   payload (the event's, freed with it).
 */

#include <openssl/x509v3.h>

/* ------------------------------------------------------------ handshake */

/* The handshake step of either kind of session. */
static int tls_handshake(session *s) {
  return s->connect ? SSL_connect(s->ssl) : SSL_accept(s->ssl);
}

/*
 * Why a handshake failed. For a server link a certificate that did not
 * verify says which check failed, in OpenSSL's words; TypeScript words the
 * message (it recognises the "certificate verify failed: " prefix).
 */
static const char *tls_handshake_failure(session *s, char *buf, size_t n) {
  if (s->connect) {
    long v = SSL_get_verify_result(s->ssl);
    if (v != X509_V_OK) {
      ERR_clear_error();
      snprintf(buf, n, "certificate verify failed: %s", X509_verify_cert_error_string(v));
      return buf;
    }
  }
  return ssl_failure();
}

/* Tells JS the handshake is done; a server link's event carries the server's certificate (DER), for channel binding. */
static void tls_handshake_done(session *s) {
  if (!s->connect) return emit(EV_HANDSHAKE_OK, s, NULL);
  event *ev = calloc(1, sizeof(event));
  if (ev == NULL) return;
  ev->kind = EV_HANDSHAKE_OK;
  ev->id = s->id;
  #if OPENSSL_VERSION_MAJOR >= 3
  X509 *cert = SSL_get1_peer_certificate(s->ssl);
#else
  X509 *cert = SSL_get_peer_certificate(s->ssl);
#endif
  if (cert != NULL) {
    int len = i2d_X509(cert, NULL);
    if (len > 0 && (ev->payload = malloc((size_t)len)) != NULL) {
      uint8_t *p = ev->payload;
      ev->npayload = (size_t)i2d_X509(cert, &p);
    }
    X509_free(cert);
  }
  emit_event(ev);
}

/* ----------------------------------------------------- the pooled server */

/*
 * Takes a logged-in server link for a pg_server: its fd, its SSL and the
 * server's bytes JS has not seen. NULL and `why` when the link cannot be
 * taken (gone, or the server spoke after the login: bytes JS was given but
 * did not read); the session is ended either way.
 */
static SSL *server_tls_take(uint32_t link, uint64_t js_received, int *fd, dbuf *in, const char **why) {
  session *s = find(link);
  *fd = -1;
  if (s == NULL || !s->connect || s->state != LOGIN) {
    *why = "TLS link gone";
    return NULL;
  }
  if (s->sp_written != js_received || s->to_cli.len > 0) {
    *why = "the server spoke after its login";
    finish(s, *why);
    return NULL;
  }
  SSL *ssl = s->ssl;
  *fd = s->cfd;
  s->ssl = NULL;
  s->cfd = -1;
  dbuf tmp = *in;
  *in = s->to_srv;
  s->to_srv = tmp;
  /* Closes the socketpair and stops the fd's poll (before the pg_server watches the same fd). */
  finish(s, "joined its pool");
  return ssl;
}

/* Reads what the server sent into sv->in; as server_read(). */
static int server_tls_read(pg_server *sv) {
  size_t got = 0;
  int ended = 0;
  while (got < 4 * CHUNK) {
    if (dbuf_reserve(&sv->in, sv->in.len + CHUNK) < 0) return -1;
    ERR_clear_error();
    int n = SSL_read(sv->ssl, sv->in.data + sv->in.off + sv->in.len, io_len(sv->in.cap - sv->in.off - sv->in.len));
    if (n > 0) {
      sv->in.len += (size_t)n;
      got += (size_t)n;
      sv->read_want = 0;
      continue;
    }
    int e = SSL_get_error(sv->ssl, n);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
      sv->read_want = e;
    } else {
      ERR_clear_error();
      ended = 1; /* close_notify, a bare close or an error: the server is gone */
    }
    break;
  }
  /* Records OpenSSL read ahead are not seen by the poll: read again while any wait. */
  sv->in_ready = !ended && sv->read_want == 0 && SSL_has_pending(sv->ssl);
  if (got > 0) return 1;
  return ended ? -1 : 0;
}

/* Sends what the server's out buffer holds; -1 when the connection is broken. */
static int server_tls_flush(pg_server *sv) {
  while (sv->out.len > 0) {
    ERR_clear_error();
    int n = SSL_write(sv->ssl, sv->out.data + sv->out.off, io_len(sv->out.len));
    if (n > 0) {
      dbuf_consume(&sv->out, (size_t)n);
      continue;
    }
    int e = SSL_get_error(sv->ssl, n);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
      sv->write_want = e;
      sv->out_blocked = 1;
      return 0;
    }
    ERR_clear_error();
    return -1;
  }
  sv->write_want = 0;
  sv->out_blocked = 0;
  return 0;
}

/* The poll events a TLS server connection needs for its writes, and for a read that must write first. */
static int server_tls_want(const pg_server *sv) {
  int want = 0;
  if (sv->read_want == SSL_ERROR_WANT_WRITE) want |= UV_WRITABLE;
  if (sv->out.len > 0 && sv->out_blocked) want |= sv->write_want == SSL_ERROR_WANT_READ ? UV_READABLE : UV_WRITABLE;
  return want;
}

/* A poll event for a TLS server connection: which stalled call may go on. */
static void server_tls_polled(pg_server *sv, int events) {
  if ((events & UV_READABLE) && sv->write_want == SSL_ERROR_WANT_READ) sv->out_blocked = 0;
  if ((events & UV_WRITABLE) && sv->read_want == SSL_ERROR_WANT_WRITE) sv->in_ready = 1;
}

/* A server connection ends: a best-effort close_notify (never waits), then the SSL goes. */
static void server_tls_close(pg_server *sv) {
  if (sv->ssl == NULL) return;
  ERR_clear_error();
  SSL_shutdown(sv->ssl);
  ERR_clear_error();
  SSL_free(sv->ssl);
  sv->ssl = NULL;
}

/* -------------------------------------------------------- JS bindings */

/*
 * clientTlsContext(caPem: string | null, verify: boolean): an SSL_CTX for
 * links to servers (TLS 1.2+). With `verify` the chain must lead to caPem;
 * the host name is set per link (connectTls).
 */
static napi_value js_client_tls_context(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  bool verify;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  CHECK(napi_get_value_bool(env, argv[1], &verify));
  char *pem = NULL;
  napi_valuetype t;
  CHECK(napi_typeof(env, argv[0], &t));
  if (t == napi_string) {
    size_t len;
    CHECK(napi_get_value_string_utf8(env, argv[0], NULL, 0, &len));
    if ((pem = malloc(len + 1)) == NULL) return throw_msg(env, "out of memory");
    napi_get_value_string_utf8(env, argv[0], pem, len + 1, &len);
  }
  const char *problem = NULL;
  SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
  if (ctx == NULL) problem = "SSL_CTX_new failed";
  if (!problem) {
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_NO_TICKET | SSL_OP_IGNORE_UNEXPECTED_EOF);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    /* The out buffer may move between a partial write and its retry. */
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_read_ahead(ctx, 1);
    SSL_CTX_set_verify(ctx, verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, NULL);
  }
  if (!problem && pem != NULL) {
    BIO *b = BIO_new_mem_buf(pem, -1);
    X509_STORE *store = SSL_CTX_get_cert_store(ctx);
    int n = 0;
    for (X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL; x != NULL; x = PEM_read_bio_X509(b, NULL, NULL, NULL)) {
      if (X509_STORE_add_cert(store, x) == 1) n++;
      X509_free(x);
    }
    BIO_free(b);
    if (n == 0) problem = "no certificate in the CA bundle";
  }
  if (!problem && verify && pem == NULL) problem = "verification needs a CA bundle";
  free(pem);
  ERR_clear_error();
  if (problem) {
    SSL_CTX_free(ctx);
    return throw_msg(env, problem);
  }
  napi_value out;
  CHECK(napi_create_external(env, ctx, free_ctx, NULL, &out));
  return out;
}

/* Sets the name the server's certificate must carry: a DNS name or an IP address. */
static int expect_host(SSL *ssl, const char *host) {
  X509_VERIFY_PARAM *param = SSL_get0_param(ssl);
  X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  ASN1_OCTET_STRING *ip = a2i_IPADDRESS(host);
  if (ip != NULL) {
    ASN1_OCTET_STRING_free(ip);
    return X509_VERIFY_PARAM_set1_ip_asc(param, host) == 1 ? 0 : -1;
  }
  ERR_clear_error();
  return X509_VERIFY_PARAM_set1_host(param, host, 0) == 1 ? 0 : -1;
}

/* A string argument into a fresh buffer (empty string: NULL). */
static int string_arg(napi_env env, napi_value v, char **out) {
  size_t len;
  *out = NULL;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) return -1;
  if (len == 0) return 0;
  if ((*out = malloc(len + 1)) == NULL) return -1;
  napi_get_value_string_utf8(env, v, *out, len + 1, &len);
  return 0;
}

/*
 * connectTls(ctx, serverFd, sniName, expectedHost): duplicates the server's
 * fd (JS closes its own copy) and starts client-mode TLS on it; returns
 * [id, jsFd], jsFd the socketpair end JS logs in on. sniName '' sends no
 * SNI; expectedHost '' checks no name (verify-ca, or no verification). The
 * result arrives as a handshake event (with the server's certificate).
 */
static napi_value js_connect_tls(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (!E.started) return throw_msg(env, "native data path not started");
  SSL_CTX *ctx;
  int32_t fd;
  char *sni = NULL, *host = NULL;
  CHECK(napi_get_value_external(env, argv[0], (void **)&ctx));
  CHECK(napi_get_value_int32(env, argv[1], &fd));
  if (string_arg(env, argv[2], &sni) < 0 || string_arg(env, argv[3], &host) < 0) {
    free(sni);
    free(host);
    return throw_msg(env, "connectTls expects names");
  }
  int pair[2] = {-1, -1};
  int ufd = -1;
  session *s = NULL;
  SSL *ssl = NULL;
  cmd *c = NULL;
  napi_value out, v0, v1;
  int ok = socketpair(AF_UNIX, SOCK_STREAM, 0, pair) == 0;
  if (ok) {
    fcntl(pair[0], F_SETFD, FD_CLOEXEC);
    fcntl(pair[1], F_SETFD, FD_CLOEXEC);
    int fl = fcntl(pair[0], F_GETFL);
    ok = fl >= 0 && fcntl(pair[0], F_SETFL, fl | O_NONBLOCK) == 0;
  }
  if (ok) ok = (ufd = dup_nonblocking(fd)) >= 0;
  if (ok) ok = (s = calloc(1, sizeof(session))) != NULL && (c = calloc(1, sizeof(cmd))) != NULL;
  if (ok) ok = (ssl = SSL_new(ctx)) != NULL && SSL_set_fd(ssl, ufd) == 1;
  if (ok) {
    SSL_set_connect_state(ssl);
    if (sni != NULL) ok = SSL_set_tlsext_host_name(ssl, sni) == 1;
    if (ok && host != NULL) ok = expect_host(ssl, host) == 0;
  }
  uint32_t id = E.next_id + 1;
  if (ok) {
    ok = napi_create_array_with_length(env, 2, &out) == napi_ok && napi_create_uint32(env, id, &v0) == napi_ok && napi_create_int32(env, pair[1], &v1) == napi_ok &&
         napi_set_element(env, out, 0, v0) == napi_ok && napi_set_element(env, out, 1, v1) == napi_ok;
  }
  free(sni);
  free(host);
  ERR_clear_error();
  if (!ok) {
    if (ssl != NULL) SSL_free(ssl);
    if (ufd >= 0) close(ufd);
    if (pair[0] >= 0) close(pair[0]);
    if (pair[1] >= 0) close(pair[1]);
    free(s);
    free(c);
    return throw_msg(env, "cannot set up the TLS link to the server");
  }
  E.next_id = id;
  s->refs = 1; /* the live reference, dropped by finish() */
  s->id = id;
  s->state = HANDSHAKE;
  s->connect = 1;
  s->cfd = ufd;
  s->pfd = pair[0];
  s->ufd = -1;
  s->ssl = ssl;
  c->kind = CMD_ACCEPT;
  c->s = s;
  c->fd = -1;
  submit(c);
  return out;
}

/*
 * poolAddTls(poolId, serverId, linkId, bytesJsReceived, settingsId, requested, mysql?):
 * a server logged in over a TLS link joins the pool (poolAdd's twin).
 */
static napi_value js_pool_add_tls(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  uint32_t my[4] = {0};
  bool requested;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  uint32_t id, server, link;
  double received, settings;
  CHECK(napi_get_value_uint32(env, argv[0], &id));
  CHECK(napi_get_value_uint32(env, argv[1], &server));
  CHECK(napi_get_value_uint32(env, argv[2], &link));
  CHECK(napi_get_value_double(env, argv[3], &received));
  CHECK(napi_get_value_double(env, argv[4], &settings));
  CHECK(napi_get_value_bool(env, argv[5], &requested));
  if (!(received >= 0 && received < 9007199254740992.0)) return throw_msg(env, "poolAddTls expects a byte count");
  if (argc > 6 && my_fields(env, argv[6], my) < 0) return throw_msg(env, "poolAddTls expects [capabilities, mariadbCapabilities, statusFlags]");
  cmd *c = new_cmd(env, CMD_POOL_ADD, id);
  if (c == NULL) return NULL;
  c->a = server;
  c->fd = -1;
  c->link = link;
  c->js_received = (uint64_t)received;
  c->d = settings;
  c->my.caps = my[0];
  c->my.mcaps = my[1];
  c->my.status = my[2];
  c->nbytes2 = requested ? 1 : 0; /* as poolAdd: the flag rides in the length */
  submit(c);
  return NULL;
}

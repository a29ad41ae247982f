/*
 * The MySQL/MariaDB response tracker, in C, for the pooled relay of MySQL
 * endpoints: it follows the server → client bytes of the command phase and
 * says where each command's response ends, how (OK, ERR with errno and
 * SQLSTATE, EOF, other) and which status flags the server left behind.
 *
 * It is a port of src/protocol/mysql/response-tracker.ts and must make the
 * same decisions on every input: the same refusals, the same ends, the same
 * status flags (src/gateway/native-mysql-tracker.test.ts runs both on the
 * same generated and corrupted streams). The TypeScript file explains the
 * protocol rules; comments here say only what differs or why C needs it.
 *
 * Cost: a frame header and at most MYR_HEAD bytes of each packet are read;
 * rows are skipped by length. Nothing is sized from a peer's length.
 *
 * Compiled as part of data_path.c's translation unit (after pg_maps.c).
 *
 * Ownership: a my_resp is a plain value embedded in its owner (a server
 * connection of the relay, or a stack frame in tests) and has no pointer to
 * anything: no heap, no handles, nothing to free. The caller's bytes given
 * to my_resp_push() are only read during the call, never kept; what
 * straddles two calls (a frame header, a packet's first MYR_HEAD bytes) is
 * copied into the struct. The `why` strings are static.
 */

#define MYR_HEAD 23            /* bytes of a packet's start the tracker reads (RESPONSE_HEAD_BYTES) */
#define MYR_MAX_PENDING 16     /* commands awaiting a response at once (the relay pipelines a few injected ones) */
enum { MYR_OK = 1, MYR_ERR = 2, MYR_EOF = 3, MYR_OTHER = 4 };

typedef struct {
  uint8_t unsolicited;   /* 1: a packet no command asked for (see UnsolicitedPacket in the TS) */
  uint8_t command;       /* the command byte whose response ended (responses only) */
  uint8_t outcome;       /* MYR_* */
  uint8_t status_reported;
  uint16_t status;       /* status flags after the response (as statusFlags in the TS) */
  uint16_t err_code;     /* MYR_ERR: errno */
  char sqlstate[6];      /* MYR_ERR: the 5-char SQLSTATE, NUL-terminated; "" when no '#' marker */
  uint32_t stmt_id;      /* COM_STMT_PREPARE that succeeded: the server's statement id */
  uint16_t num_columns, num_params; /* COM_STMT_PREPARE that succeeded */
  uint32_t result_sets;
  uint8_t diag;          /* the response left warnings or an error in the session's diagnostics area (SHOW WARNINGS) */
  uint64_t insert_id;    /* the last nonzero last_insert_id of the response's OK packets, 0: none */
} my_end;
typedef struct my_resp my_resp;   /* fixed size, no heap allocation anywhere, embeddable in a server struct */

/* 0, or -1 when the capabilities cannot be tracked (no CLIENT_PROTOCOL_41, CLIENT_COMPRESS, ZSTD, LOCAL_FILES,
   OPTIONAL_RESULTSET_METADATA, unknown MariaDB extended bits) or max_packet is 0; *why says which (static string). */
static int my_resp_init(my_resp *t, uint32_t caps, uint32_t mariadb_caps, uint16_t status, uint64_t max_packet, const char **why);
/* A command is about to be written to the server. head: its payload's first min(len, 6) bytes; len: the whole payload
   length (>= 0xFFFFFF moves the response's first sequence id). Returns 1 (a response will follow), 0 (COM_QUIT,
   COM_STMT_CLOSE, COM_STMT_SEND_LONG_DATA: none), -1 (a command that must be refused, see commandDisposition, or
   head/len inconsistent, or the tracker spent; the tracker is unchanged) or -2 (more than MYR_MAX_PENDING
   outstanding; the tracker is unchanged). */
static int my_resp_sent(my_resp *t, const uint8_t *head, size_t headlen, uint64_t len);
/* Server bytes b[0..n). Consumes bytes up to and including the last byte of the first response or unsolicited packet
   that ends in them, and returns 1 with *used = bytes consumed and *end filled; or consumes all n and returns 0
   (*used = n); or returns -1 on a protocol error (the tracker is then spent: every later call returns -1) with *why a
   static string naming it ("PROTO_MYSQL_<code>: ...", the TS error's code). Never reads outside b[0..n); carries at
   most a frame header and MYR_HEAD bytes between calls. */
static int my_resp_push(my_resp *t, const uint8_t *b, size_t n, size_t *used, my_end *end, const char **why);
static int my_resp_idle(const my_resp *t);        /* no response outstanding */
static uint16_t my_resp_status(const my_resp *t); /* latest status flags */
/* The stream ended: 0 at a packet boundary, -1 inside a packet (or spent). */
static int my_resp_eof(const my_resp *t);

#define MYR_MAX_FRAME 0xFFFFFFu
#define MYR_MAX_COLUMNS 0xFFFFu  /* MySQL and MariaDB stop at 4096: more means a misread stream */
#define MYR_CURSOR_FLAGS 0x07    /* COM_STMT_EXECUTE flags asking for a cursor */

/* Capability bits (constants.ts). */
#define MYR_CLIENT_COMPRESS (1u << 5)
#define MYR_CLIENT_LOCAL_FILES (1u << 7)
#define MYR_CLIENT_PROTOCOL_41 (1u << 9)
#define MYR_CLIENT_DEPRECATE_EOF (1u << 24)
#define MYR_CLIENT_OPTIONAL_RESULTSET_METADATA (1u << 25)
#define MYR_CLIENT_ZSTD (1u << 26)
#define MYR_MARIADB_PROGRESS (1u << 0)
#define MYR_MARIADB_CACHE_METADATA (1u << 4)
#define MYR_MARIADB_KNOWN 0x3Fu  /* PROGRESS .. BULK_UNIT_RESULTS: the bits the TS codec knows */
#define MYR_MORE_RESULTS (1u << 3)
#define MYR_CURSOR_EXISTS (1u << 6)

/* Response shapes, one per family of commands (Shape in the TS). */
enum { MYS_REFUSE = 0, MYS_NONE, MYS_RESULT, MYS_EXECUTE, MYS_PREPARE, MYS_FETCH, MYS_FIELD_LIST, MYS_SIMPLE, MYS_STRING };

/* By command byte; every byte not listed is refused (commandDisposition). */
static const uint8_t my_shapes[256] = {
    [0x01] = MYS_NONE,       /* COM_QUIT */
    [0x18] = MYS_NONE,       /* COM_STMT_SEND_LONG_DATA */
    [0x19] = MYS_NONE,       /* COM_STMT_CLOSE */
    [0x03] = MYS_RESULT,     /* COM_QUERY */
    [0x0a] = MYS_RESULT,     /* COM_PROCESS_INFO */
    [0x17] = MYS_EXECUTE,    /* COM_STMT_EXECUTE */
    [0xfa] = MYS_EXECUTE,    /* COM_STMT_BULK_EXECUTE */
    [0x16] = MYS_PREPARE,    /* COM_STMT_PREPARE */
    [0x1c] = MYS_FETCH,      /* COM_STMT_FETCH */
    [0x04] = MYS_FIELD_LIST, /* COM_FIELD_LIST */
    [0x02] = MYS_SIMPLE,     /* COM_INIT_DB */
    [0x07] = MYS_SIMPLE,     /* COM_REFRESH */
    [0x08] = MYS_SIMPLE,     /* COM_SHUTDOWN */
    [0x0c] = MYS_SIMPLE,     /* COM_PROCESS_KILL */
    [0x0d] = MYS_SIMPLE,     /* COM_DEBUG */
    [0x0e] = MYS_SIMPLE,     /* COM_PING */
    [0x1a] = MYS_SIMPLE,     /* COM_STMT_RESET */
    [0x1b] = MYS_SIMPLE,     /* COM_SET_OPTION */
    [0x1f] = MYS_SIMPLE,     /* COM_RESET_CONNECTION */
    [0x09] = MYS_STRING,     /* COM_STATISTICS */
};

/* What the tracker awaits next inside a response (Awaiting in the TS). */
enum {
  MYA_FIRST_PACKET, MYA_COLUMN_DEFINITIONS, MYA_COLUMNS_EOF, MYA_ROWS, MYA_PREPARE_OK, MYA_PARAMETER_DEFINITIONS,
  MYA_PARAMETERS_EOF, MYA_PREPARED_COLUMN_DEFINITIONS, MYA_PREPARED_COLUMNS_EOF, MYA_FIELD_DEFINITIONS,
  MYA_SINGLE_PACKET, MYA_TEXT
};

/* A command awaiting its response. */
typedef struct {
  uint8_t command, shape;
  uint8_t first_seq; /* the command's frame count, mod 256 */
  uint8_t cursor;
} my_pending;

struct my_resp {
  const char *failure; /* set once: the tracker is spent */
  uint64_t max_packet;
  uint8_t deprecate_eof, cache_metadata, progress;
  uint16_t status;
  /* Commands awaiting a response: a ring, the head's response in progress. */
  my_pending queue[MYR_MAX_PENDING];
  uint8_t qhead, qcount;
  /* The response in progress. */
  uint8_t awaiting, shape, cursor;
  uint8_t started;    /* a packet of it has been accepted */
  uint8_t expect_seq; /* sequence id its next packet must carry */
  uint8_t prepared;   /* a COM_STMT_PREPARE OK was read: stmt_id and the counts are set */
  uint8_t diag;       /* an OK or EOF of it counted warnings, or it ended in ERR */
  uint64_t insert_id; /* my_end's */
  uint32_t remaining; /* definitions still to come (at most 0xFFFF) */
  uint16_t num_columns, num_params; /* of the COM_STMT_PREPARE OK: column definitions follow the parameters' */
  uint32_t stmt_id;
  uint32_t result_sets;
  /* Framing. */
  uint8_t header[4], header_have;
  uint8_t continuing;       /* the current frame is 0xFFFFFF bytes: the packet goes on */
  uint8_t continuation_seq; /* sequence id the next continuation frame must carry */
  uint32_t frame_left;      /* payload bytes of the current frame not yet seen */
  uint32_t first_frame_len;
  uint64_t total;           /* payload bytes of the current packet so far */
  uint8_t head[MYR_HEAD], head_have, head_want;
  uint8_t unsolicited;      /* the current packet is */
  uint8_t has_ending;       /* `ending` is reported when the current packet's last byte arrives */
  my_end ending;
};

static int my_fail(my_resp *t, const char *why) {
  t->failure = why;
  return -1;
}

static uint16_t my_u16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }

/* int<lenenc> at h[o] within h[..n): its size (1, 3, 4 or 9) and *v, or 0 when it does not fit or is 0xFB/0xFF. */
static int my_lenenc(const uint8_t *h, size_t o, size_t n, uint64_t *v) {
  if (o >= n) return 0;
  uint8_t first = h[o];
  if (first < 0xfb) {
    *v = first;
    return 1;
  }
  int size = first == 0xfc ? 3 : first == 0xfd ? 4 : first == 0xfe ? 9 : 0;
  if (size == 0 || o + (size_t)size > n) return 0;
  uint64_t x = 0;
  for (int k = size - 1; k >= 1; k--) x = (x << 8) | h[o + (size_t)k];
  *v = x;
  return size;
}

static int my_resp_init(my_resp *t, uint32_t caps, uint32_t mariadb_caps, uint16_t status, uint64_t max_packet, const char **why) {
  memset(t, 0, sizeof *t);
  const char *bad = NULL;
  /* In the TS's order, so that both name the same problem first. */
  if (max_packet < 1) bad = "PROTO_MYSQL_INVALID_ARGUMENT: max packet size must be positive";
  else if (!(caps & MYR_CLIENT_PROTOCOL_41)) bad = "PROTO_MYSQL_UNSUPPORTED: protocol 3.20 (no CLIENT_PROTOCOL_41)";
  else if (caps & MYR_CLIENT_COMPRESS) bad = "PROTO_MYSQL_UNSUPPORTED: CLIENT_COMPRESS";
  else if (caps & MYR_CLIENT_ZSTD) bad = "PROTO_MYSQL_UNSUPPORTED: CLIENT_ZSTD_COMPRESSION_ALGORITHM";
  else if (caps & MYR_CLIENT_LOCAL_FILES) bad = "PROTO_MYSQL_UNSUPPORTED: CLIENT_LOCAL_FILES";
  else if (caps & MYR_CLIENT_OPTIONAL_RESULTSET_METADATA) bad = "PROTO_MYSQL_UNSUPPORTED: CLIENT_OPTIONAL_RESULTSET_METADATA";
  else if (mariadb_caps & ~MYR_MARIADB_KNOWN) bad = "PROTO_MYSQL_UNSUPPORTED: unknown MariaDB extended capability bits";
  if (bad != NULL) {
    *why = bad;
    t->failure = bad;
    return -1;
  }
  t->max_packet = max_packet;
  t->status = status;
  t->deprecate_eof = (caps & MYR_CLIENT_DEPRECATE_EOF) != 0;
  t->cache_metadata = (mariadb_caps & MYR_MARIADB_CACHE_METADATA) != 0;
  t->progress = (mariadb_caps & MYR_MARIADB_PROGRESS) != 0;
  return 0;
}

static int my_resp_idle(const my_resp *t) { return t->qcount == 0; }

static uint16_t my_resp_status(const my_resp *t) { return t->status; }

static int my_resp_eof(const my_resp *t) {
  if (t->failure != NULL || t->header_have > 0 || t->frame_left > 0 || t->continuing) return -1;
  return 0;
}

static uint8_t my_first_awaited(uint8_t shape) {
  switch (shape) {
    case MYS_PREPARE: return MYA_PREPARE_OK;
    case MYS_FETCH: return MYA_ROWS;
    case MYS_FIELD_LIST: return MYA_FIELD_DEFINITIONS;
    case MYS_SIMPLE: return MYA_SINGLE_PACKET;
    case MYS_STRING: return MYA_TEXT;
    default: return MYA_FIRST_PACKET;
  }
}

/* Prepares for the response of the command at the queue's head. */
static void my_begin(my_resp *t) {
  const my_pending *p = &t->queue[t->qhead];
  t->shape = p->shape;
  t->cursor = p->cursor;
  t->awaiting = my_first_awaited(p->shape);
  t->expect_seq = p->first_seq;
  t->started = 0;
  t->remaining = 0;
  t->result_sets = 0;
  t->prepared = 0;
  t->diag = 0;
  t->insert_id = 0;
  t->stmt_id = 0;
  t->num_columns = t->num_params = 0;
}

static int my_resp_sent(my_resp *t, const uint8_t *head, size_t headlen, uint64_t len) {
  /* A spent tracker cannot frame a response, and a command without its first bytes cannot be classified. */
  if (t->failure != NULL) return -1;
  if (len < 1 || headlen < (len < 6 ? len : 6) || headlen > len) return -1;
  uint8_t command = head[0], shape = my_shapes[command];
  if (shape == MYS_REFUSE) return -1;
  if (shape == MYS_NONE) return 0;
  if (t->qcount >= MYR_MAX_PENDING) return -2;
  my_pending *p = &t->queue[(t->qhead + t->qcount) % MYR_MAX_PENDING];
  p->command = command;
  p->shape = shape;
  /* A payload of 0xFFFFFF bytes or more spans frames, each taking a sequence id. */
  p->first_seq = (uint8_t)((len / MYR_MAX_FRAME + 1) & 0xff);
  p->cursor = shape == MYS_EXECUTE && command == 0x17 && headlen > 5 && (head[5] & MYR_CURSOR_FLAGS) != 0;
  if (t->qcount++ == 0) my_begin(t);
  return 1;
}

/* Marks the response as ending with the current packet. */
static void my_finish(my_resp *t, uint8_t outcome, int status_reported) {
  my_end *e = &t->ending;
  memset(e, 0, sizeof *e);
  e->command = t->queue[t->qhead].command;
  e->outcome = outcome;
  e->status = t->status;
  e->status_reported = (uint8_t)status_reported;
  e->result_sets = t->result_sets;
  e->diag = (uint8_t)(t->diag || outcome == MYR_ERR);
  e->insert_id = t->insert_id;
  if (outcome == MYR_OK && t->prepared) {
    e->stmt_id = t->stmt_id;
    e->num_columns = t->num_columns;
    e->num_params = t->num_params;
  }
  t->has_ending = 1;
}

/* The five characters after '#' in an ERR packet, when present; copied as sent (a NUL among them shortens the string). */
static void my_sqlstate(const uint8_t *h, size_t n, char out[6]) {
  memset(out, 0, 6);
  if (n >= 9 && h[3] == '#') memcpy(out, h + 4, 5);
}

/* OK packet fields up to the status flags. */
static int my_read_ok(my_resp *t, const uint8_t *h, size_t n) {
  uint64_t v;
  int a = my_lenenc(h, 1, n, &v);
  int b = a == 0 ? 0 : my_lenenc(h, 1 + (size_t)a, n, &v);
  size_t at = 1 + (size_t)a + (size_t)b;
  if (b == 0 || at + 2 > n) return my_fail(t, "PROTO_MYSQL_MALFORMED: OK packet: truncated before the status flags");
  if (v != 0) t->insert_id = v;
  t->status = my_u16(h + at);
  if (at + 4 <= n && my_u16(h + at + 2) != 0) t->diag = 1;
  return 0;
}

/* An EOF packet: 0xFE, warnings, status flags; shorter than 9 bytes. `why` names what was expected. */
static int my_read_eof(my_resp *t, const uint8_t *h, size_t n, const char *why) {
  if (h[0] != 0xfe || t->first_frame_len >= 9 || n < 5) return my_fail(t, why);
  t->status = my_u16(h + 3);
  if (my_u16(h + 1) != 0) t->diag = 1;
  return 0;
}

/* The 0xFE packet that ends rows or a field list: OK under CLIENT_DEPRECATE_EOF (7+ bytes), else EOF; 0 on error. */
static uint8_t my_read_terminator(my_resp *t, const uint8_t *h, size_t n) {
  if (t->deprecate_eof && t->first_frame_len >= 7) return my_read_ok(t, h, n) < 0 ? 0 : MYR_OK;
  const char *why = t->deprecate_eof ? "PROTO_MYSQL_UNEXPECTED_PACKET: OK packet (0xFE)" : "PROTO_MYSQL_UNEXPECTED_PACKET: EOF packet";
  return my_read_eof(t, h, n, why) < 0 ? 0 : MYR_EOF;
}

/* A terminator that ends the response; -1 on error. */
static int my_finish_terminator(my_resp *t, const uint8_t *h, size_t n) {
  uint8_t outcome = my_read_terminator(t, h, n);
  if (outcome == 0) return -1;
  my_finish(t, outcome, 1);
  return 0;
}

/* Describes an unsolicited packet without trusting it: nothing here fails. */
static void my_describe_unsolicited(my_resp *t, const uint8_t *h, size_t n) {
  my_end *e = &t->ending;
  memset(e, 0, sizeof *e);
  e->unsolicited = 1;
  e->outcome = MYR_OTHER;
  e->status = t->status;
  if (h[0] == 0xff && n >= 3) {
    e->outcome = MYR_ERR;
    e->err_code = my_u16(h + 1);
    my_sqlstate(h, n, e->sqlstate);
  } else if (h[0] == 0x00 && n >= 7) {
    e->outcome = MYR_OK;
  } else if (h[0] == 0xfe && t->first_frame_len < MYR_MAX_FRAME && n >= 5) {
    e->outcome = t->deprecate_eof && n >= 7 ? MYR_OK : MYR_EOF;
  }
  t->has_ending = 1;
}

/* ERR, or a MariaDB progress report (errno 0xFFFF), which does not end anything. */
static int my_on_err(my_resp *t, const uint8_t *h, size_t n) {
  if (n < 3) return my_fail(t, "PROTO_MYSQL_MALFORMED: ERR packet: no error number");
  uint16_t errno_ = my_u16(h + 1);
  if (errno_ == 0xffff) {
    if (t->progress) return 0;
    return my_fail(t, "PROTO_MYSQL_UNEXPECTED_PACKET: response (a progress report needs MARIADB_CLIENT_PROGRESS)");
  }
  my_finish(t, MYR_ERR, 0);
  t->ending.err_code = errno_;
  my_sqlstate(h, n, t->ending.sqlstate);
  return 0;
}

/* OK, ERR (handled before), LOCAL INFILE or a column count. */
static int my_on_first_packet(my_resp *t, const uint8_t *h, size_t n) {
  if (h[0] == 0x00) {
    if (my_read_ok(t, h, n) < 0) return -1;
    /* Multi-statements and CALL chain results; the last one clears the flag. */
    if (!(t->status & MYR_MORE_RESULTS)) my_finish(t, MYR_OK, 1);
    return 0;
  }
  if (h[0] == 0xfb) return my_fail(t, "PROTO_MYSQL_LOCAL_INFILE_REQUEST: the server asked for a local file");
  if (h[0] == 0xfe) return my_fail(t, "PROTO_MYSQL_UNEXPECTED_PACKET: OK, ERR or column count");
  uint64_t count = 0;
  int size = my_lenenc(h, 0, n, &count);
  if (size == 0 || count < 1 || count > MYR_MAX_COLUMNS) return my_fail(t, "PROTO_MYSQL_MALFORMED: column count packet: column count out of range");
  int metadata = 1;
  size_t length = (size_t)size;
  if (t->cache_metadata) {
    /* MARIADB_CLIENT_CACHE_METADATA: a byte after the count says whether column definitions follow. */
    int follows = n > (size_t)size ? h[size] : -1;
    if (follows != 0 && follows != 1) return my_fail(t, "PROTO_MYSQL_MALFORMED: column count packet: no metadata-follows byte (0 or 1)");
    metadata = follows == 1;
    length++;
  }
  if (t->first_frame_len != length) return my_fail(t, "PROTO_MYSQL_MALFORMED: column count packet: wrong length");
  t->result_sets++;
  if (metadata) {
    t->remaining = (uint32_t)count;
    t->awaiting = MYA_COLUMN_DEFINITIONS;
  } else {
    t->awaiting = t->deprecate_eof ? MYA_ROWS : MYA_COLUMNS_EOF;
  }
  return 0;
}

/* A terminator after rows: the result set ends; another may follow. */
static int my_on_rows_end(my_resp *t, const uint8_t *h, size_t n) {
  uint8_t outcome = my_read_terminator(t, h, n);
  if (outcome == 0) return -1;
  if (t->shape != MYS_FETCH && (t->status & MYR_MORE_RESULTS)) t->awaiting = MYA_FIRST_PACKET;
  else my_finish(t, outcome, 1);
  return 0;
}

/* Column definitions follow the parameters', or the prepare ends with the packet just read. */
static void my_after_parameters(my_resp *t, int status_reported) {
  t->remaining = t->num_columns;
  if (t->remaining > 0) t->awaiting = MYA_PREPARED_COLUMN_DEFINITIONS;
  else my_finish(t, MYR_OK, status_reported);
}

static int my_on_prepare_ok(my_resp *t, const uint8_t *h, size_t n) {
  if (h[0] != 0x00) return my_fail(t, "PROTO_MYSQL_UNEXPECTED_PACKET: COM_STMT_PREPARE OK or ERR");
  if (n < 9) return my_fail(t, "PROTO_MYSQL_MALFORMED: COM_STMT_PREPARE OK: shorter than 9 bytes");
  t->stmt_id = (uint32_t)h[1] | ((uint32_t)h[2] << 8) | ((uint32_t)h[3] << 16) | ((uint32_t)h[4] << 24);
  t->num_columns = my_u16(h + 5);
  t->num_params = my_u16(h + 7);
  t->remaining = t->num_params;
  t->prepared = 1;
  if (t->remaining > 0) t->awaiting = MYA_PARAMETER_DEFINITIONS;
  else my_after_parameters(t, 0);
  return 0;
}

/* A parameter or column definition: only its first byte is checked (0xFF was taken as ERR already). */
static int my_on_definition(my_resp *t, uint8_t h, const char *why) {
  return h == 0xfe ? my_fail(t, why) : 0;
}

/* Prepare's parameter and column definitions and their EOFs. */
static int my_on_prepare_rest(my_resp *t, const uint8_t *h, size_t n) {
  switch (t->awaiting) {
    case MYA_PARAMETER_DEFINITIONS:
      if (my_on_definition(t, h[0], "PROTO_MYSQL_UNEXPECTED_PACKET: parameter definition") < 0) return -1;
      if (--t->remaining == 0) {
        if (t->deprecate_eof) my_after_parameters(t, 0);
        else t->awaiting = MYA_PARAMETERS_EOF;
      }
      return 0;
    case MYA_PARAMETERS_EOF:
      if (my_read_eof(t, h, n, "PROTO_MYSQL_UNEXPECTED_PACKET: EOF after parameter definitions") < 0) return -1;
      my_after_parameters(t, 1);
      return 0;
    case MYA_PREPARED_COLUMN_DEFINITIONS:
      if (my_on_definition(t, h[0], "PROTO_MYSQL_UNEXPECTED_PACKET: column definition") < 0) return -1;
      if (--t->remaining == 0) {
        if (t->deprecate_eof) my_finish(t, MYR_OK, 0);
        else t->awaiting = MYA_PREPARED_COLUMNS_EOF;
      }
      return 0;
    default: /* MYA_PREPARED_COLUMNS_EOF */
      if (my_read_eof(t, h, n, "PROTO_MYSQL_UNEXPECTED_PACKET: EOF after column definitions") < 0) return -1;
      my_finish(t, MYR_OK, 1);
      return 0;
  }
}

/* Prepare, field list, single-packet and text responses. */
static int my_on_other_shapes(my_resp *t, const uint8_t *h, size_t n) {
  int terminator = h[0] == 0xfe && t->first_frame_len < MYR_MAX_FRAME;
  switch (t->awaiting) {
    case MYA_PREPARE_OK:
      return my_on_prepare_ok(t, h, n);
    case MYA_FIELD_DEFINITIONS:
      if (terminator) return my_finish_terminator(t, h, n);
      return my_on_definition(t, h[0], "PROTO_MYSQL_UNEXPECTED_PACKET: column definition");
    case MYA_SINGLE_PACKET:
      if (h[0] == 0x00) {
        if (my_read_ok(t, h, n) < 0) return -1;
        my_finish(t, MYR_OK, 1);
        return 0;
      }
      if (terminator) return my_finish_terminator(t, h, n);
      return my_fail(t, "PROTO_MYSQL_UNEXPECTED_PACKET: OK, ERR or EOF packet");
    case MYA_TEXT: /* COM_STATISTICS answers with one packet of text */
      my_finish(t, MYR_OTHER, 0);
      return 0;
    default:
      return my_on_prepare_rest(t, h, n);
  }
}

/* The first bytes of a packet (h[0..n), n = min(first frame, MYR_HEAD), n >= 1). */
static int my_on_head(my_resp *t, const uint8_t *h, size_t n) {
  if (t->unsolicited) {
    my_describe_unsolicited(t, h, n);
    return 0;
  }
  if (h[0] == 0xff) return my_on_err(t, h, n);
  switch (t->awaiting) {
    case MYA_ROWS:
      /* A row may start 0xFE only when it spans frames (a value of 16 MiB or more); a terminator never does. */
      if (h[0] == 0xfe && t->first_frame_len < MYR_MAX_FRAME) return my_on_rows_end(t, h, n);
      return 0;
    case MYA_FIRST_PACKET:
      return my_on_first_packet(t, h, n);
    case MYA_COLUMN_DEFINITIONS:
      if (my_on_definition(t, h[0], "PROTO_MYSQL_UNEXPECTED_PACKET: column definition") < 0) return -1;
      if (--t->remaining == 0) t->awaiting = t->deprecate_eof ? MYA_ROWS : MYA_COLUMNS_EOF;
      return 0;
    case MYA_COLUMNS_EOF:
      if (my_read_eof(t, h, n, "PROTO_MYSQL_UNEXPECTED_PACKET: EOF after column definitions") < 0) return -1;
      /* A cursor was opened: the rows stay on the server until COM_STMT_FETCH. */
      if (t->cursor && (t->status & MYR_CURSOR_EXISTS)) my_finish(t, MYR_EOF, 1);
      else t->awaiting = MYA_ROWS;
      return 0;
    default:
      return my_on_other_shapes(t, h, n);
  }
}

/* A packet's first frame: bounds, sequence id, and whether any command asked for it. */
static int my_on_first_frame(my_resp *t, uint32_t length, uint8_t seq) {
  if (length == 0) return my_fail(t, "PROTO_MYSQL_MALFORMED: server packet: empty payload");
  if (length > t->max_packet) return my_fail(t, "PROTO_MYSQL_PACKET_TOO_LARGE: server packet over the maximum size");
  t->total = length;
  t->first_frame_len = length;
  t->continuing = length == MYR_MAX_FRAME;
  t->frame_left = length;
  t->continuation_seq = (uint8_t)(seq + 1);
  /* Nothing asked for it, or no response starts at sequence id 0 (the server numbers it after the command's frames). */
  if (t->qcount == 0 || (!t->started && seq == 0 && t->expect_seq != 0)) {
    t->unsolicited = 1;
    return 0;
  }
  if (seq != t->expect_seq) return my_fail(t, "PROTO_MYSQL_SEQUENCE_MISMATCH: response packet out of sequence");
  t->started = 1;
  return 0;
}

static int my_on_continuation_frame(my_resp *t, uint32_t length, uint8_t seq) {
  if (seq != t->continuation_seq) return my_fail(t, "PROTO_MYSQL_SEQUENCE_MISMATCH: continuation frame out of sequence");
  t->total += length;
  if (t->total > t->max_packet) return my_fail(t, "PROTO_MYSQL_PACKET_TOO_LARGE: server packet over the maximum size");
  t->continuing = length == MYR_MAX_FRAME;
  t->frame_left = length;
  t->continuation_seq = (uint8_t)(seq + 1);
  return 0;
}

/* The packet's last byte went by: 1 with *end when it ended a response or was unsolicited; moves to the next command. */
static int my_complete(my_resp *t, my_end *end) {
  if (t->unsolicited) t->unsolicited = 0;
  else t->expect_seq = t->continuation_seq;
  if (!t->has_ending) return 0;
  t->has_ending = 0;
  *end = t->ending;
  if (!end->unsolicited) {
    t->qhead = (uint8_t)((t->qhead + 1) % MYR_MAX_PENDING);
    if (--t->qcount > 0) my_begin(t);
  }
  return 1;
}

/* A header is complete at b[*i..) or in t->header: the frame starts; its head is read now if whole in b. */
static int my_on_header(my_resp *t, const uint8_t *hd, const uint8_t *b, size_t n, size_t i) {
  uint32_t length = (uint32_t)hd[0] | ((uint32_t)hd[1] << 8) | ((uint32_t)hd[2] << 16);
  if (t->continuing) return my_on_continuation_frame(t, length, hd[3]);
  if (my_on_first_frame(t, length, hd[3]) < 0) return -1;
  size_t want = length < MYR_HEAD ? length : MYR_HEAD;
  if (n - i >= want) return my_on_head(t, b + i, want);
  /* The head straddles calls: collect it into t->head (the frame's bytes are counted as they arrive). */
  t->head_want = (uint8_t)want;
  t->head_have = 0;
  return 0;
}

/* Bytes of the current frame at b[*i..n): collects a straddling head, or skips. */
static int my_on_payload(my_resp *t, const uint8_t *b, size_t n, size_t *i) {
  size_t avail = n - *i;
  if (t->head_want == 0) {
    size_t take = avail < t->frame_left ? avail : t->frame_left;
    *i += take;
    t->frame_left -= (uint32_t)take;
    return 0;
  }
  size_t take = (size_t)(t->head_want - t->head_have);
  if (take > avail) take = avail;
  memcpy(t->head + t->head_have, b + *i, take);
  *i += take;
  t->frame_left -= (uint32_t)take;
  t->head_have = (uint8_t)(t->head_have + take);
  if (t->head_have < t->head_want) return 0;
  t->head_want = 0;
  return my_on_head(t, t->head, t->head_have);
}

static int my_resp_push(my_resp *t, const uint8_t *b, size_t n, size_t *used, my_end *end, const char **why) {
  size_t i = 0;
  *used = 0;
  if (t->failure != NULL) {
    *why = t->failure;
    return -1;
  }
  while (i < n) {
    int r;
    if (t->frame_left > 0) {
      r = my_on_payload(t, b, n, &i);
    } else if (t->header_have == 0 && n - i >= 4) {
      i += 4;
      r = my_on_header(t, b + i - 4, b, n, i);
    } else {
      while (t->header_have < 4 && i < n) t->header[t->header_have++] = b[i++];
      if (t->header_have < 4) break;
      t->header_have = 0;
      r = my_on_header(t, t->header, b, n, i);
    }
    if (r < 0) {
      *why = t->failure;
      *used = i;
      return -1;
    }
    if (t->frame_left == 0 && !t->continuing && my_complete(t, end)) {
      *used = i;
      return 1;
    }
  }
  *used = n;
  return 0;
}

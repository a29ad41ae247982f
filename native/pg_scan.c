/*
 * The pooler's statement filter: a lexer over PostgreSQL (and MySQL) SQL
 * text that answers one question cheaply, "might this statement leave
 * session state behind?". It decides nothing: a statement that contains one
 * of the words JavaScript registered (scan_set_words), in the position the
 * word needs, or that the lexer cannot read with certainty, goes up to the
 * TypeScript classifier (gateway/proxy/session-state.ts). Every other
 * statement is forwarded without a thread hop.
 *
 * Compiled as part of data_path.c's translation unit (included there), so
 * nothing here is visible outside the addon.
 *
 * What it skips: single-quoted strings ('' doubles a quote; E'…' strings
 * also take backslash escapes), dollar-quoted strings ($tag$…$tag$), line
 * comments (--, and # for MySQL), block comments (nested for PostgreSQL),
 * and for MySQL double-quoted and backtick-quoted text. A backslash in a
 * plain PostgreSQL string makes the answer "uncertain": the string's end
 * depends on standard_conforming_strings, which the lexer cannot see, so a
 * word it would hide is not allowed to hide. Quoted identifiers are words
 * too ("set_config"(…) calls the function).
 *
 * Ownership: the word table is static, written only by scan_set_words on the
 * JS thread before any pool exists (proxy start), read by the loop thread.
 */

#define SCAN_MAX_WORDS 1024
#define SCAN_MAX_WORD 40

enum scan_result { SCAN_CLEAN = 0, SCAN_ATTENTION = 1, SCAN_UNCERTAIN = 2 };

/* Word flags: where in a statement the word matters. */
#define W_ANYWHERE 1 /* any position (function names, TEMP) */
#define W_INITIAL 2  /* only as a statement's first word (SET, PREPARE, …) */
/*
 * MySQL's stored-routine rule (mysql-session-state.ts callsRoutine): a name
 * before `(` is a stored-function call unless it is one of these.
 */
#define W_NOT_CALL 4      /* native function or grammar keyword, however spaced */
#define W_NOT_CALL_ADJ 8  /* native function only when `(` follows at once (NOW () calls db.now) */
#define W_OBJECT_NEXT 16  /* the next name is an object (INSERT INTO t (…)) */
#define W_DEFINES 32      /* as a first word (CREATE, ALTER): its names before `(` are definitions… */
#define W_QUERY 64        /* …up to this word (SELECT) */
#define W_AFTER_OPERAND 128 /* grammar right after an operand: MATCH (a) AGAINST (…), LIKE 'x' ESCAPE (…) */

typedef struct {
  char word[SCAN_MAX_WORD + 1];
  uint8_t len;
  uint8_t flags;
} scan_word;

/* One table per dialect: [0] PostgreSQL, [1] MySQL; sorted by word (scan_set_words) for a binary search. */
static scan_word scan_words[2][SCAN_MAX_WORDS];
static int scan_nwords[2];

static int is_ident_start(uint8_t ch) { return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_' || ch >= 0x80; }
static int is_ident_char(uint8_t ch) { return is_ident_start(ch) || (ch >= '0' && ch <= '9') || ch == '$'; }
static uint8_t lower(uint8_t ch) { return (ch >= 'A' && ch <= 'Z') ? (uint8_t)(ch + 32) : ch; }

/* The flags of the word [p, p+n) (case-insensitive), 0 when it is not registered. */
static uint8_t word_flags(const uint8_t *p, size_t n, int mysql) {
  if (n == 0 || n > SCAN_MAX_WORD) return 0;
  char key[SCAN_MAX_WORD + 1];
  for (size_t k = 0; k < n; k++) key[k] = (char)lower(p[k]);
  key[n] = 0;
  int lo = 0, hi = scan_nwords[mysql] - 1;
  while (lo <= hi) {
    int mid = (lo + hi) / 2;
    int c = strcmp(key, scan_words[mysql][mid].word);
    if (c == 0) return scan_words[mysql][mid].flags;
    if (c < 0) hi = mid - 1; else lo = mid + 1;
  }
  return 0;
}

/* Does the word [p, p+n) match a registered word usable at this position? */
static int word_matters(const uint8_t *p, size_t n, int initial, int mysql) {
  uint8_t f = word_flags(p, n, mysql);
  return (f & W_ANYWHERE) || ((f & W_INITIAL) && initial);
}

/* The length of a dollar-quote opener at p ("$$" or "$tag$"), or 0 if p does not start one. */
/*
 * A "--" line comment at t[i]? MySQL wants a space or control character
 * after the dashes (1--1 is arithmetic there, and what follows is SQL).
 */
static int line_comment(const uint8_t *t, size_t i, size_t n, int mysql) {
  if (mysql && t[i] == '#') return 1;
  if (t[i] != '-' || i + 1 >= n || t[i + 1] != '-') return 0;
  return !mysql || i + 2 >= n || t[i + 2] <= ' ';
}

static size_t dollar_tag(const uint8_t *p, size_t n) {
  if (n < 2 || p[0] != '$') return 0;
  if (p[1] == '$') return 2;
  if (!is_ident_start(p[1])) return 0; /* $1 is a parameter */
  size_t i = 2;
  while (i < n && is_ident_char(p[i]) && p[i] != '$') i++;
  return (i < n && p[i] == '$') ? i + 1 : 0;
}

/*
 * MySQL's stored-routine rule, as mysql-session-state.ts callsRoutine reads
 * it: a stored function can do anything to the session where the proxy does
 * not read (a named lock, ROW_COUNT(), session tracking off), so a statement
 * that may call one goes up. A call: a name before `(`, unless the name is
 * W_NOT_CALL (or W_NOT_CALL_ADJ with the `(` right after it), follows a
 * W_OBJECT_NEXT word (INSERT INTO t (…)), or is in a CREATE or ALTER before
 * its SELECT; a qualified (db.f) or quoted name before `(` is one whatever
 * its name.
 */
typedef struct {
  int obj;      /* the previous word makes the next name an object */
  int qual;     /* the previous token was `name .`: the next name is qualified */
  int head_obj; /* the qualified name's head followed a W_OBJECT_NEXT word */
  int defs;     /* in a CREATE or ALTER, before its SELECT */
  int operand;  /* the previous token ends an operand: `)`, a string, a number */
} my_names;

/* From i, past whitespace and plain comments; *spaced: something was passed. */
static size_t skip_gap(const uint8_t *t, size_t i, size_t n, int *spaced) {
  *spaced = 0;
  for (;;) {
    if (i >= n) return i;
    uint8_t ch = t[i];
    if (ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\f' || ch == '\v') {
      i++;
    } else if (line_comment(t, i, n, 1)) {
      while (i < n && t[i] != '\n') i++;
    } else if (ch == '/' && i + 1 < n && t[i + 1] == '*' && !(i + 2 < n && (t[i + 2] == '!' || t[i + 2] == 'M'))) {
      size_t j = i + 2;
      while (j + 1 < n && !(t[j] == '*' && t[j + 1] == '/')) j++;
      if (j + 1 >= n) return n; /* unterminated: the main loop says so */
      i = j + 2;
    } else {
      return i;
    }
    *spaced = 1;
  }
}

/* A digit-led run of identifier characters that is (the start of) a number: digits, an exponent, 0x…, 0b…. */
static int my_number_start(const uint8_t *p, size_t n) {
  size_t k = 0;
  if (n >= 2 && p[0] == '0' && (p[1] == 'x' || p[1] == 'X' || p[1] == 'b' || p[1] == 'B')) {
    int hex = p[1] == 'x' || p[1] == 'X';
    for (k = 2; k < n; k++) {
      uint8_t c = lower(p[k]);
      if (!((c >= '0' && c <= '1') || (c >= '2' && c <= '9' && hex) || (c >= 'a' && c <= 'f' && hex))) break;
    }
    if (k == n) return 1;
    k = 0;
  }
  while (k < n && p[k] >= '0' && p[k] <= '9') k++;
  if (k < n && (p[k] == 'e' || p[k] == 'E')) {
    k++;
    while (k < n && p[k] >= '0' && p[k] <= '9') k++;
  }
  return k == n;
}

/*
 * A name ending at *pi (flags: its registered ones; quoted: `name` or "name"): 1 when it is a stored-routine call.
 * A `.` after it (a qualifier) is consumed: *pi moves past it.
 */
static int my_name_calls(const uint8_t *t, size_t *pi, size_t n, uint8_t flags, int quoted, my_names *ns) {
  int spaced;
  size_t j = skip_gap(t, *pi, n, &spaced);
  int qualified = ns->qual;
  int head_obj = qualified ? ns->head_obj : ns->obj;
  int after_operand = ns->operand;
  ns->operand = 0;
  ns->qual = 0;
  ns->obj = !quoted && (flags & W_OBJECT_NEXT);
  if (j < n && t[j] == '.') {
    ns->qual = 1;
    ns->head_obj = head_obj;
    ns->obj = 0;
    *pi = j + 1;
    return 0;
  }
  if (j >= n || t[j] != '(' || head_obj || ns->defs) return 0;
  if (qualified || quoted) return 1;
  if ((flags & W_AFTER_OPERAND) && after_operand) return 0;
  if (flags & W_NOT_CALL) return 0;
  if ((flags & W_NOT_CALL_ADJ) && !spaced) return 0;
  return 1;
}

/*
 * Scans text for words that matter. mysql selects MySQL's quoting rules.
 * Returns SCAN_CLEAN, SCAN_ATTENTION or SCAN_UNCERTAIN (unterminated
 * string, comment or quote, or a backslash whose meaning is not known).
 */
static int scan_sql(const uint8_t *t, size_t n, int mysql) {
  size_t i = 0;
  int initial = 1; /* the next word starts a statement */
  int uncertain = 0;
  int ended = 0; /* MySQL: a ';' ended a statement */
  my_names ns = {0, 0, 0, 0, 0};
  while (i < n) {
    uint8_t ch = t[i];
    if (ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\f' || ch == '\v') {
      i++;
      continue;
    }
    if (ch == ';') {
      initial = 1;
      ended = mysql;
      ns = (my_names){0, 0, 0, 0, 0};
      i++;
      continue;
    }
    /*
     * MySQL: anything but a comment after a ';' is a second statement, which the classifier
     * pins (it reads one statement per text). Comments are skipped below before this is asked.
     */
    if (ended && !(line_comment(t, i, n, mysql) || (ch == '/' && i + 1 < n && t[i + 1] == '*' && !(i + 2 < n && (t[i + 2] == '!' || t[i + 2] == 'M'))))) return SCAN_ATTENTION;
    if (ch == '(' ) {
      /* A parenthesised statement starts again: (SET …) is not SQL, but WITH … ( SELECT is; keep it simple. */
      ns.obj = ns.qual = ns.operand = 0;
      i++;
      continue;
    }
    /* Comments. */
    if (line_comment(t, i, n, mysql)) {
      while (i < n && t[i] != '\n') i++;
      continue;
    }
    if (ch == '/' && i + 1 < n && t[i + 1] == '*') {
      /* MySQL's executable comments (slash-star-bang, slash-star-M-bang) run their contents: look at them. */
      if (mysql && i + 2 < n && (t[i + 2] == '!' || t[i + 2] == 'M')) return SCAN_ATTENTION;
      int depth = 1;
      i += 2;
      while (i < n && depth > 0) {
        if (!mysql && t[i] == '/' && i + 1 < n && t[i + 1] == '*') {
          depth++;
          i += 2;
        } else if (t[i] == '*' && i + 1 < n && t[i + 1] == '/') {
          depth--;
          i += 2;
        } else {
          i++;
        }
      }
      if (depth > 0) return SCAN_UNCERTAIN;
      continue;
    }
    /* Strings. */
    if (ch == '\'' || (mysql && ch == '"')) {
      uint8_t q = ch;
      int backslash_escapes = mysql || (i > 0 && (t[i - 1] == 'E' || t[i - 1] == 'e') && (i < 2 || !is_ident_char(t[i - 2])));
      size_t start = ++i;
      int closed = 0;
      while (i < n) {
        if (t[i] == '\\') {
          /* Its meaning depends on a server setting (standard_conforming_strings, NO_BACKSLASH_ESCAPES). */
          if (mysql || !backslash_escapes) uncertain = 1;
          if (backslash_escapes) {
            i += 2;
            continue;
          }
        }
        if (t[i] == q) {
          if (i + 1 < n && t[i + 1] == q) {
            i += 2;
            continue;
          }
          i++;
          closed = 1;
          break;
        }
        i++;
      }
      if (!closed) return SCAN_UNCERTAIN;
      /* MySQL under ANSI_QUOTES (a setting the lexer cannot see): "get_lock"(…) calls the function. */
      if (mysql && q == '"' && word_matters(t + start, i - 1 - start, 0, mysql)) return SCAN_ATTENTION;
      if (mysql && q == '"' && my_name_calls(t, &i, n, 0, 1, &ns)) return SCAN_ATTENTION;
      if (mysql && q == '\'') ns.obj = ns.qual = 0;
      ns.operand = 1;
      initial = 0;
      continue;
    }
    if (!mysql && ch == '$') {
      size_t tag = dollar_tag(t + i, n - i);
      if (tag > 0) {
        size_t j = i + tag;
        int closed = 0;
        while (j + tag <= n) {
          if (t[j] == '$' && memcmp(t + j, t + i, tag) == 0) {
            closed = 1;
            break;
          }
          j++;
        }
        if (!closed) return SCAN_UNCERTAIN;
        i = j + tag;
        initial = 0;
        continue;
      }
    }
    /* U&"…" identifiers and U&'…' strings carry escapes the lexer does not decode: not certain. */
    if (!mysql && (ch == 'U' || ch == 'u') && i + 2 < n && t[i + 1] == '&' && (t[i + 2] == '"' || t[i + 2] == '\'')) {
      uncertain = 1;
      i += 2;
      continue;
    }
    /* Quoted identifiers: "…" (PostgreSQL) and `…` (MySQL). */
    if ((!mysql && ch == '"') || (mysql && ch == '`')) {
      uint8_t q = ch;
      size_t start = ++i;
      int closed = 0;
      int doubled = 0;
      while (i < n) {
        if (t[i] == q) {
          if (i + 1 < n && t[i + 1] == q) {
            doubled = 1;
            i += 2;
            continue;
          }
          closed = 1;
          break;
        }
        i++;
      }
      if (!closed) return SCAN_UNCERTAIN;
      if (!doubled && word_matters(t + start, i - start, initial, mysql)) return SCAN_ATTENTION;
      if (doubled) uncertain = 1;
      i++;
      if (mysql && my_name_calls(t, &i, n, 0, 1, &ns)) return SCAN_ATTENTION;
      initial = 0;
      continue;
    }
    /* MySQL user variables (@name, not @@system) are session state. */
    if (mysql && ch == '@' && !(i + 1 < n && t[i + 1] == '@')) return SCAN_ATTENTION;
    if (mysql && ch == '@') {
      i += 2;
      continue;
    }
    /* MySQL: a name may start with digits where it is no number (1f() calls a stored function `1f`). */
    if (mysql && ch >= '0' && ch <= '9') {
      size_t start = i;
      while (i < n && is_ident_char(t[i])) i++;
      /* After a qualifier's dot MySQL reads any identifier run as a name: d.1e5() calls d.`1e5`. */
      if (!ns.qual && my_number_start(t + start, i - start)) {
        /* The rest of the number as mysql-session-state.ts lexes it (1.5, 1e-3): nothing in it is a name. */
        while (i < n && (is_ident_char(t[i]) || t[i] == '.' || ((t[i] == '+' || t[i] == '-') && (t[i - 1] == 'e' || t[i - 1] == 'E')))) i++;
        ns.obj = ns.qual = 0;
        ns.operand = 1;
      } else if (my_name_calls(t, &i, n, 0, 0, &ns)) {
        return SCAN_ATTENTION;
      }
      initial = 0;
      continue;
    }
    if (is_ident_start(ch) || (mysql && ch == '$')) {
      size_t start = i;
      while (i < n && is_ident_char(t[i])) i++;
      if (word_matters(t + start, i - start, initial, mysql)) return SCAN_ATTENTION;
      if (mysql) {
        uint8_t f = word_flags(t + start, i - start, mysql);
        if (initial && (f & W_DEFINES)) ns.defs = 1;
        if (f & W_QUERY) ns.defs = 0;
        if (my_name_calls(t, &i, n, f, 0, &ns)) return SCAN_ATTENTION;
      }
      initial = 0;
      continue;
    }
    ns.obj = ns.qual = 0;
    ns.operand = ch == ')';
    initial = 0;
    i++;
  }
  return uncertain ? SCAN_UNCERTAIN : SCAN_CLEAN;
}

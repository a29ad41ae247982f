/*
 * Small containers for the pooler, written here because the addon has no
 * C dependencies beyond libuv and OpenSSL: a map from byte strings to
 * pointers (statement registry, client statement names) and a set of 64-bit
 * ids (the statements a server connection has prepared).
 *
 * Compiled as part of data_path.c's translation unit.
 *
 * Ownership: a bmap owns its entries (each a copy of its key); it never owns
 * the values, whose owner is whoever put them (see pg_pool.c). A u64set
 * owns its slot array.
 */

static uint32_t fnv1a(const uint8_t *p, size_t n, uint32_t h) {
  for (size_t i = 0; i < n; i++) {
    h ^= p[i];
    h *= 16777619u;
  }
  return h;
}
#define FNV_SEED 2166136261u

typedef struct bent {
  struct bent *next;
  uint32_t hash;
  size_t klen;
  void *val;
  uint8_t key[];
} bent;

typedef struct {
  bent **b;
  size_t nb; /* buckets, a power of two (0 until the first put) */
  size_t n;  /* entries */
} bmap;

static bent **bmap_slot(bmap *m, const uint8_t *key, size_t klen, uint32_t hash) {
  if (m->nb == 0) return NULL;
  bent **pp = &m->b[hash & (m->nb - 1)];
  while (*pp != NULL && !((*pp)->hash == hash && (*pp)->klen == klen && memcmp((*pp)->key, key, klen) == 0)) pp = &(*pp)->next;
  return pp;
}

static void *bmap_get(bmap *m, const uint8_t *key, size_t klen, uint32_t hash) {
  bent **pp = bmap_slot(m, key, klen, hash);
  return (pp != NULL && *pp != NULL) ? (*pp)->val : NULL;
}

static int bmap_grow(bmap *m) {
  size_t nb = m->nb ? m->nb * 2 : 16;
  bent **b = calloc(nb, sizeof(bent *));
  if (b == NULL) return -1;
  for (size_t i = 0; i < m->nb; i++) {
    for (bent *e = m->b[i], *next; e != NULL; e = next) {
      next = e->next;
      e->next = b[e->hash & (nb - 1)];
      b[e->hash & (nb - 1)] = e;
    }
  }
  free(m->b);
  m->b = b;
  m->nb = nb;
  return 0;
}

/* Adds key -> val; the key must not be present. 0, or -1 out of memory. */
static int bmap_put(bmap *m, const uint8_t *key, size_t klen, uint32_t hash, void *val) {
  if ((m->n + 1) * 4 > m->nb * 3 && bmap_grow(m) < 0) return -1;
  bent *e = malloc(sizeof(bent) + klen);
  if (e == NULL) return -1;
  e->hash = hash;
  e->klen = klen;
  e->val = val;
  memcpy(e->key, key, klen);
  bent **head = &m->b[hash & (m->nb - 1)];
  e->next = *head;
  *head = e;
  m->n++;
  return 0;
}

/* Removes key and returns its value (NULL if absent). */
static void *bmap_del(bmap *m, const uint8_t *key, size_t klen, uint32_t hash) {
  bent **pp = bmap_slot(m, key, klen, hash);
  if (pp == NULL || *pp == NULL) return NULL;
  bent *e = *pp;
  void *val = e->val;
  *pp = e->next;
  free(e);
  m->n--;
  return val;
}

/* Removes up to `cap` entries whose value `match` accepts; their values go to out. Returns how many. */
static size_t bmap_take_if(bmap *m, int (*match)(void *val, void *arg), void *arg, void **out, size_t cap) {
  size_t n = 0;
  for (size_t i = 0; i < m->nb && n < cap; i++) {
    bent **pp = &m->b[i];
    while (*pp != NULL && n < cap) {
      bent *e = *pp;
      if (!match(e->val, arg)) {
        pp = &e->next;
        continue;
      }
      out[n++] = e->val;
      *pp = e->next;
      free(e);
      m->n--;
    }
  }
  return n;
}

/* Frees every entry, calling each(val) first when given. */
static void bmap_free(bmap *m, void (*each)(void *)) {
  for (size_t i = 0; i < m->nb; i++) {
    for (bent *e = m->b[i], *next; e != NULL; e = next) {
      next = e->next;
      if (each) each(e->val);
      free(e);
    }
  }
  free(m->b);
  m->b = NULL;
  m->nb = m->n = 0;
}

/*
 * ---- a set of nonzero 64-bit ids, open addressing, each with a 64-bit
 * mark (the statements a server has prepared, marked with when each was
 * last used) ----
 */

#define U64_TOMB UINT64_MAX

typedef struct {
  uint64_t id; /* 0 = empty, U64_TOMB = removed */
  uint64_t mark;
} u64slot;

typedef struct {
  u64slot *slot;
  size_t cap, used; /* used counts tombstones too */
  size_t live;
} u64set;

static size_t u64_pos(uint64_t v, size_t cap) { return (size_t)((v * 0x9E3779B97F4A7C15ull) >> 7) & (cap - 1); }

static u64slot *u64set_find(const u64set *s, uint64_t v) {
  if (s->cap == 0) return NULL;
  for (size_t i = u64_pos(v, s->cap), k = 0; k < s->cap; i = (i + 1) & (s->cap - 1), k++) {
    if (s->slot[i].id == v) return &s->slot[i];
    if (s->slot[i].id == 0) return NULL;
  }
  return NULL;
}

static int u64set_has(const u64set *s, uint64_t v) { return u64set_find(s, v) != NULL; }

static int u64set_put(u64set *s, uint64_t v, uint64_t mark);

/* A new table for the live entries: twice as big only when they, not tombstones, filled it. */
static int u64set_rehash(u64set *s) {
  size_t cap = s->cap == 0 ? 16 : (s->live + 1) * 4 > s->cap ? s->cap * 2 : s->cap;
  u64set n = {calloc(cap, sizeof(u64slot)), cap, 0, 0};
  if (n.slot == NULL) return -1;
  for (size_t i = 0; i < s->cap; i++) {
    if (s->slot[i].id != 0 && s->slot[i].id != U64_TOMB) u64set_put(&n, s->slot[i].id, s->slot[i].mark);
  }
  free(s->slot);
  *s = n;
  return 0;
}

/* Adds v (or finds it) and sets its mark. 0, or -1 out of memory. */
static int u64set_put(u64set *s, uint64_t v, uint64_t mark) {
  u64slot *e = u64set_find(s, v);
  if (e != NULL) {
    e->mark = mark;
    return 0;
  }
  if ((s->used + 1) * 2 > s->cap && u64set_rehash(s) < 0) return -1;
  size_t i = u64_pos(v, s->cap);
  while (s->slot[i].id != 0 && s->slot[i].id != U64_TOMB) i = (i + 1) & (s->cap - 1);
  if (s->slot[i].id == 0) s->used++;
  s->slot[i].id = v;
  s->slot[i].mark = mark;
  s->live++;
  return 0;
}

static int u64set_add(u64set *s, uint64_t v) {
  u64slot *e = u64set_find(s, v);
  return e != NULL ? 0 : u64set_put(s, v, 0);
}

static void u64set_del(u64set *s, uint64_t v) {
  u64slot *e = u64set_find(s, v);
  if (e == NULL) return;
  e->id = U64_TOMB;
  s->live--;
}

/* The id with the smallest mark below `below` (0 if none): the least recently used. */
static uint64_t u64set_oldest(const u64set *s, uint64_t below) {
  uint64_t best = 0, best_mark = below;
  for (size_t i = 0; i < s->cap; i++) {
    const u64slot *e = &s->slot[i];
    if (e->id != 0 && e->id != U64_TOMB && e->mark < best_mark) {
      best = e->id;
      best_mark = e->mark;
    }
  }
  return best;
}

static void u64set_clear(u64set *s) {
  free(s->slot);
  s->slot = NULL;
  s->cap = s->used = s->live = 0;
}

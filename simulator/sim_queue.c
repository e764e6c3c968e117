#include "sim_queue.h"

#include <stdlib.h>

struct sim_queue {
  sim_event *heap;
  size_t n, alloc, cap;
  uint64_t counter;
};

static int before(const sim_event *a, const sim_event *b) {
  if (a->time_ms != b->time_ms) return a->time_ms < b->time_ms;
  return a->order < b->order;
}

int sim_queue_create(size_t capacity, sim_queue **out) {
  if (!out) return SIM_QUEUE_EINVAL;
  *out = NULL;
  if (capacity == 0 || capacity > SIZE_MAX / 2 / sizeof(sim_event)) return SIM_QUEUE_EINVAL;
  sim_queue *q = calloc(1, sizeof *q);
  if (!q) return SIM_QUEUE_ENOMEM;
  /* Start small and grow up to capacity: a 1,000-agent run needs a few
   * thousand slots, not the worst-case bound. */
  q->alloc = capacity < 1024 ? capacity : 1024;
  q->heap = malloc(q->alloc * sizeof(sim_event));
  if (!q->heap) {
    free(q);
    return SIM_QUEUE_ENOMEM;
  }
  q->cap = capacity;
  *out = q;
  return SIM_QUEUE_OK;
}

void sim_queue_free(sim_queue *q) {
  if (!q) return;
  free(q->heap);
  free(q);
}

int sim_queue_push(sim_queue *q, const sim_event *ev) {
  if (!q || !ev) return SIM_QUEUE_EINVAL;
  if (q->n >= q->cap) return SIM_QUEUE_EFULL;
  if (q->n == q->alloc) {
    size_t na = q->alloc * 2;
    if (na > q->cap) na = q->cap;
    sim_event *nh = realloc(q->heap, na * sizeof(sim_event));
    if (!nh) return SIM_QUEUE_ENOMEM;
    q->heap = nh;
    q->alloc = na;
  }
  sim_event e = *ev;
  e.order = q->counter++;
  size_t i = q->n++;
  while (i > 0) {
    size_t p = (i - 1) / 2;
    if (!before(&e, &q->heap[p])) break;
    q->heap[i] = q->heap[p];
    i = p;
  }
  q->heap[i] = e;
  return SIM_QUEUE_OK;
}

int sim_queue_pop(sim_queue *q, sim_event *out) {
  if (!q || !out) return SIM_QUEUE_EINVAL;
  if (q->n == 0) return SIM_QUEUE_EEMPTY;
  *out = q->heap[0];
  sim_event last = q->heap[--q->n];
  size_t i = 0, n = q->n;
  for (;;) {
    size_t l = 2 * i + 1;
    if (l >= n) break;
    size_t c = l;
    if (l + 1 < n && before(&q->heap[l + 1], &q->heap[l])) c = l + 1;
    if (!before(&q->heap[c], &last)) break;
    q->heap[i] = q->heap[c];
    i = c;
  }
  if (n > 0) q->heap[i] = last;
  return SIM_QUEUE_OK;
}

int sim_queue_peek(const sim_queue *q, sim_event *out) {
  if (!q || !out) return SIM_QUEUE_EINVAL;
  if (q->n == 0) return SIM_QUEUE_EEMPTY;
  *out = q->heap[0];
  return SIM_QUEUE_OK;
}

size_t sim_queue_size(const sim_queue *q) { return q ? q->n : 0; }
size_t sim_queue_capacity(const sim_queue *q) { return q ? q->cap : 0; }

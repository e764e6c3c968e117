/* sim_queue.h - the simulator's event queue: a binary min-heap ordered by
 * (time_ms, insertion counter), so events with equal deadlines fire in the
 * order they were scheduled (libuv's timer rule) and runs are deterministic.
 *
 * Events are small values copied in and out; the queue owns only its array.
 * Capacity is fixed at creation: push on a full queue fails with
 * SIM_QUEUE_EFULL and changes nothing.
 *
 * Return codes: SIM_QUEUE_OK (0) or negative:
 *   SIM_QUEUE_EFULL    the queue holds `capacity` events already
 *   SIM_QUEUE_EEMPTY   pop/peek on an empty queue
 *   SIM_QUEUE_ENOMEM   allocation failed (create)
 *   SIM_QUEUE_EINVAL   bad argument
 */
#ifndef OUTPOST_SIM_QUEUE_H
#define OUTPOST_SIM_QUEUE_H

#include <stddef.h>
#include <stdint.h>

#define SIM_QUEUE_OK 0
#define SIM_QUEUE_EFULL (-1)
#define SIM_QUEUE_EEMPTY (-2)
#define SIM_QUEUE_ENOMEM (-3)
#define SIM_QUEUE_EINVAL (-4)

typedef struct sim_event {
  int64_t time_ms;
  uint64_t order;  /* set by push: the insertion counter */
  int type;        /* meaning chosen by the caller */
  int32_t agent;   /* agent index or -1 */
  uint64_t arg;    /* caller data (request id, generation, ...) */
} sim_event;

typedef struct sim_queue sim_queue;

/* Creates an empty queue for at most capacity events (>= 1). *out NULL on error. */
int sim_queue_create(size_t capacity, sim_queue **out);
void sim_queue_free(sim_queue *q); /* safe on NULL */
/* Copies ev in (its order field is overwritten). */
int sim_queue_push(sim_queue *q, const sim_event *ev);
/* Removes the earliest event into *out. */
int sim_queue_pop(sim_queue *q, sim_event *out);
int sim_queue_peek(const sim_queue *q, sim_event *out);
size_t sim_queue_size(const sim_queue *q);
size_t sim_queue_capacity(const sim_queue *q);

#endif

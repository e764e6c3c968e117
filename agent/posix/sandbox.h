/* sandbox.h - what the real agent does to itself after start-up (Linux):
 * lowest CPU and I/O priority, and a default-deny seccomp allowlist that
 * takes away every way to accept a connection, run code or reach the
 * kernel's wider attack surface (issues #5 and 13; NET-2, EXEC-1..3, LOCAL-1).
 * The filesystem and TCP-port half of the box is landlock.h.
 *
 * sandbox_lower_priority: nice 19, then the CPU policy cpu (SANDBOX_CPU_*:
 *   SCHED_IDLE, SCHED_BATCH or SCHED_OTHER) and the I/O class io
 *   (SANDBOX_IO_*: idle, or best-effort at level 7) (issue #14,
 *   docs/hardening.md "Priority"). Call before any thread exists: threads
 *   inherit these at creation, and the seccomp filter refuses these calls
 *   afterwards, so the setting is fixed for the process's life. A process
 *   without CAP_SYS_NICE that already runs SCHED_IDLE (the unit's
 *   CPUSchedulingPolicy=idle) cannot leave it while RLIMIT_NICE is 0: the
 *   call then fails with EPERM and the process stays lower than asked.
 * sandbox_install_seccomp: a libseccomp filter whose default is EPERM and
 *   which allows exactly the calls agent/posix/syscalls.txt tags "run" (and
 *   "asan" in sanitizer builds), plus the "arg" calls under their argument
 *   checks: clone only with CLONE_THREAD (threads, never processes), socket
 *   only for AF_INET, AF_INET6, AF_UNIX and AF_NETLINK/NETLINK_ROUTE. clone3
 *   fails with ENOSYS: its flags are behind a pointer seccomp cannot read,
 *   and glibc then falls back to clone. Everything else - listen, accept,
 *   bind, execve, ptrace, io_uring_*, unshare, setns, bpf, mount, kexec,
 *   modules, keyrings, perf, pidfd_getfd, userfaultfd, ... - fails with EPERM
 *   (not kill: the agent keeps running and reporting, and a test can observe
 *   the refusal). Sets no_new_privs, and TSYNC: threads that already exist
 *   get the filter too (or loading fails). Irreversible. *n_allowed (may be
 *   NULL) receives the number of allowed calls.
 * sandbox_probe_start: test aid. Starts a thread that waits; call it BEFORE
 *   sandbox_install_seccomp and pass the probe to sandbox_selftest, which
 *   wakes the thread to try forbidden calls (the proof of TSYNC) and joins
 *   it. The caller owns the struct; 0 or -1 (no thread started).
 * sandbox_selftest: tries each refused call in this process and writes one
 *   line per call to fd; returns the number of calls that were NOT refused
 *   (0 = all refused). Thread creation must still succeed (counted too).
 *   early: a started probe, or NULL.
 *
 * Return codes: 0, or -1 with a message in err (errno-style text).
 */
#ifndef OUTPOST_POSIX_SANDBOX_H
#define OUTPOST_POSIX_SANDBOX_H

#include <pthread.h>
#include <stddef.h>

typedef struct sandbox_probe {
  pthread_t t;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int started, go;
  int e_unshare, e_listen, e_io_uring; /* errno each call got in the thread */
} sandbox_probe;

#define SANDBOX_CPU_IDLE 0
#define SANDBOX_CPU_BATCH 1
#define SANDBOX_CPU_OTHER 2
#define SANDBOX_IO_IDLE 0
#define SANDBOX_IO_BEST_EFFORT 1

int sandbox_lower_priority(int cpu, int io, char *err, size_t err_cap);
int sandbox_install_seccomp(int *n_allowed, char *err, size_t err_cap);
int sandbox_probe_start(sandbox_probe *p);
int sandbox_selftest(int fd, sandbox_probe *early);

#endif

/* sandbox.h - what the real agent does to itself after start-up (Linux):
 * lowest CPU and I/O priority, and a seccomp filter that takes away every
 * way to accept a connection or run code (issue #5, threats NET-2, EXEC-1..3).
 *
 * sandbox_lower_priority: nice 19, SCHED_IDLE, I/O class idle (ioprio_set).
 *   Call before any thread exists: threads inherit these at creation.
 * sandbox_install_seccomp: a libseccomp filter, default allow, that makes
 *   listen, accept, accept4, bind, execve, execveat, ptrace,
 *   process_vm_readv/writev, fork, vfork and clone without CLONE_THREAD fail
 *   with EPERM (not kill: a test can observe the refusal, and a refused call
 *   in a library is an error path, not a crash). clone3 fails with ENOSYS,
 *   because its flags are behind a pointer seccomp cannot read; glibc then
 *   falls back to clone, whose flags are checked. Threads (libcurl's
 *   threaded resolver) still work. Also sets no_new_privs. Irreversible.
 * sandbox_selftest: tries each refused call in this process and writes one
 *   line per call to fd; returns the number of calls that were NOT refused
 *   (0 = all refused). Thread creation must still succeed (counted too).
 *
 * Return codes: 0, or -1 with a message in err (errno-style text).
 */
#ifndef OUTPOST_POSIX_SANDBOX_H
#define OUTPOST_POSIX_SANDBOX_H

#include <stddef.h>

int sandbox_lower_priority(char *err, size_t err_cap);
int sandbox_install_seccomp(char *err, size_t err_cap);
int sandbox_selftest(int fd);

#endif

/* sandbox.c - priority and seccomp for the real agent (see sandbox.h). */
#define _GNU_SOURCE
#include "posix/sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <seccomp.h>
#include <stdio.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* linux/ioprio.h is not in every libc's headers; the ABI is stable. */
#define SANDBOX_IOPRIO_CLASS_IDLE 3
#define SANDBOX_IOPRIO_CLASS_SHIFT 13
#define SANDBOX_IOPRIO_WHO_PROCESS 1

#if defined(__SANITIZE_ADDRESS__)
#define SANDBOX_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANDBOX_ASAN 1
#endif
#endif
#ifdef SANDBOX_ASAN
/* LeakSanitizer's exit-time check stops the world with a clone() without
 * CLONE_THREAD and ptrace, both refused once the filter is in: run the check
 * now instead (this also switches off the one at exit). */
void __lsan_do_leak_check(void);
#endif

static int fail(char *err, size_t cap, const char *what, int e) {
  if (err && cap) snprintf(err, cap, "%s: %s", what, strerror(e));
  return -1;
}

int sandbox_lower_priority(char *err, size_t err_cap) {
  struct sched_param sp;
  errno = 0;
  if (setpriority(PRIO_PROCESS, 0, 19) != 0 && errno != 0) return fail(err, err_cap, "nice 19", errno);
  memset(&sp, 0, sizeof sp);
  if (sched_setscheduler(0, SCHED_IDLE, &sp) != 0)
    return fail(err, err_cap, "SCHED_IDLE", errno);
  int prio = SANDBOX_IOPRIO_CLASS_IDLE << SANDBOX_IOPRIO_CLASS_SHIFT;
  if (syscall(SYS_ioprio_set, SANDBOX_IOPRIO_WHO_PROCESS, 0, prio) != 0)
    return fail(err, err_cap, "ioprio_set idle", errno);
  return 0;
}

int sandbox_install_seccomp(char *err, size_t err_cap) {
  static const int refused[] = {
      SCMP_SYS(listen),  SCMP_SYS(accept), SCMP_SYS(accept4),          SCMP_SYS(bind),
      SCMP_SYS(execve),  SCMP_SYS(execveat), SCMP_SYS(ptrace),         SCMP_SYS(fork),
      SCMP_SYS(vfork),   SCMP_SYS(process_vm_readv), SCMP_SYS(process_vm_writev),
  };
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
  int rc = 0;
  if (!ctx) return fail(err, err_cap, "seccomp_init", ENOMEM);
  for (size_t i = 0; i < sizeof refused / sizeof refused[0] && rc == 0; i++)
    rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), refused[i], 0);
  /* clone: only threads (CLONE_THREAD set) may be created. */
  if (rc == 0)
    rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
                          SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, 0));
  if (rc == 0) rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
  if (rc == 0) rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 1);
  if (rc != 0) {
    seccomp_release(ctx);
    return fail(err, err_cap, "seccomp rule", -rc);
  }
#ifdef SANDBOX_ASAN
  __lsan_do_leak_check();
#endif
  rc = seccomp_load(ctx);
  seccomp_release(ctx);
  if (rc != 0) return fail(err, err_cap, "seccomp_load", -rc);
  return 0;
}

static void *thread_fn(void *arg) { return arg; }

static int report(int fd, const char *what, int refused, int e) {
  char line[160];
  int n = snprintf(line, sizeof line, "seccomp-selftest %s: %s (%s)\n", what,
                   refused ? "refused" : "ALLOWED", e ? strerror(e) : "no error");
  if (n > 0 && write(fd, line, (size_t)n) < 0) { /* best effort */
  }
  return refused ? 0 : 1;
}

int sandbox_selftest(int fd) {
  int bad = 0, e;
  int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  errno = 0;
  e = bind(s, (struct sockaddr *)&a, sizeof a) == 0 ? 0 : errno;
  bad += report(fd, "bind", e == EPERM, e);
  errno = 0;
  e = listen(s, 1) == 0 ? 0 : errno;
  bad += report(fd, "listen", e == EPERM, e);
  errno = 0;
  e = accept(s, NULL, NULL) >= 0 ? 0 : errno;
  bad += report(fd, "accept", e == EPERM, e);
  errno = 0;
  e = accept4(s, NULL, NULL, SOCK_CLOEXEC) >= 0 ? 0 : errno;
  bad += report(fd, "accept4", e == EPERM, e);
  if (s >= 0) close(s);
  /* A Unix socket bound to an abstract name: also refused. */
  s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr un = {.sa_family = AF_UNIX, .sa_data = {0, 'o', 'p'}};
  e = bind(s, &un, sizeof un) == 0 ? 0 : errno;
  bad += report(fd, "bind(AF_UNIX abstract)", e == EPERM, e);
  if (s >= 0) close(s);
  char *const argv[] = {(char *)"/bin/true", NULL};
  char *const envp[] = {NULL};
  e = execve("/bin/true", argv, envp) == 0 ? 0 : errno;
  bad += report(fd, "execve", e == EPERM, e);
  e = syscall(SYS_execveat, AT_FDCWD, "/bin/true", argv, envp, 0) == 0 ? 0 : errno;
  bad += report(fd, "execveat", e == EPERM, e);
  e = ptrace(PTRACE_TRACEME, 0, NULL, NULL) == 0 ? 0 : errno;
  bad += report(fd, "ptrace", e == EPERM, e);
  pid_t p = fork();
  if (p == 0) _exit(0); /* only if the filter failed */
  e = p < 0 ? errno : 0;
  if (p > 0) waitpid(p, NULL, 0);
  bad += report(fd, "fork", p < 0 && e == EPERM, e);
  long vr = syscall(SYS_vfork); /* raw, so the filter (not libc) answers */
  if (vr == 0) _exit(0);        /* only if the filter failed */
  e = vr < 0 ? errno : 0;
  bad += report(fd, "vfork", e == EPERM, e);
  pthread_t t;
  e = pthread_create(&t, NULL, thread_fn, NULL);
  if (e == 0) pthread_join(t, NULL);
  {
    char line[128];
    int n = snprintf(line, sizeof line, "seccomp-selftest pthread_create: %s\n",
                     e == 0 ? "works (threads stay allowed)" : strerror(e));
    if (n > 0 && write(fd, line, (size_t)n) < 0) { /* best effort */
    }
    bad += e != 0;
  }
  return bad;
}

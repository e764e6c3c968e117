/* sandbox.c - priority and seccomp for the real agent (see sandbox.h). */
#define _GNU_SOURCE
#include "posix/sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <seccomp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "outpost_syscalls.h"

/* linux/ioprio.h is not in every libc's headers; the ABI is stable. */
#define SANDBOX_IOPRIO_CLASS_BE 2
#define SANDBOX_IOPRIO_CLASS_IDLE 3
#define SANDBOX_IOPRIO_BE_LOWEST 7
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

int sandbox_lower_priority(int cpu, int io, char *err, size_t err_cap) {
  struct sched_param sp;
  int policy = cpu == SANDBOX_CPU_BATCH ? SCHED_BATCH : cpu == SANDBOX_CPU_OTHER ? SCHED_OTHER : SCHED_IDLE;
  const char *pname = policy == SCHED_BATCH ? "SCHED_BATCH" : policy == SCHED_OTHER ? "SCHED_OTHER" : "SCHED_IDLE";
  int prio = io == SANDBOX_IO_BEST_EFFORT
                 ? (SANDBOX_IOPRIO_CLASS_BE << SANDBOX_IOPRIO_CLASS_SHIFT) | SANDBOX_IOPRIO_BE_LOWEST
                 : SANDBOX_IOPRIO_CLASS_IDLE << SANDBOX_IOPRIO_CLASS_SHIFT;
  errno = 0;
  /* nice first: leaving SCHED_IDLE without CAP_SYS_NICE is judged on the
   * nice value (sched(7), RLIMIT_NICE). */
  if (setpriority(PRIO_PROCESS, 0, 19) != 0 && errno != 0) return fail(err, err_cap, "nice 19", errno);
  memset(&sp, 0, sizeof sp);
  if (sched_setscheduler(0, policy, &sp) != 0) return fail(err, err_cap, pname, errno);
  if (syscall(SYS_ioprio_set, SANDBOX_IOPRIO_WHO_PROCESS, 0, prio) != 0)
    return fail(err, err_cap, io == SANDBOX_IO_BEST_EFFORT ? "ioprio_set best-effort 7" : "ioprio_set idle",
                errno);
  return 0;
}

/* One allowed call with an argument check (tag "arg" in syscalls.txt). */
typedef struct sandbox__arg_rule {
  const char *name;
  int (*add)(scmp_filter_ctx ctx, int nr);
} sandbox__arg_rule;

/* clone: threads only. A new process needs CLONE_THREAD clear; the flags are
 * the first argument, a plain integer seccomp can read. */
static int arg_clone(scmp_filter_ctx ctx, int nr) {
  return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 1,
                          SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD));
}

/* socket: the families the agent speaks (TCP/UDP over IPv4/6 for the cloud,
 * the proxy and DNS; AF_UNIX for NSS) and netlink's route family for the
 * interface inventory. No packet, raw-netlink (audit, xfrm, ...), vsock,
 * bluetooth or other families: fewer kernel code paths within reach. The type
 * carries flags (SOCK_CLOEXEC), so only the family and, for netlink, the
 * protocol are checked. */
static int arg_socket(scmp_filter_ctx ctx, int nr) {
  static const int fam[] = {AF_INET, AF_INET6, AF_UNIX};
  int rc = 0;
  for (size_t i = 0; i < sizeof fam / sizeof fam[0] && rc == 0; i++)
    rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 1, SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)fam[i]));
  if (rc == 0)
    rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 2, SCMP_A0(SCMP_CMP_EQ, AF_NETLINK),
                          SCMP_A2(SCMP_CMP_EQ, NETLINK_ROUTE));
  return rc;
}

static const sandbox__arg_rule arg_rules[] = {{"clone", arg_clone}, {"socket", arg_socket}};

/* Adds every name of a NULL-terminated list; 0, or -1 with err naming the
 * name libseccomp does not know (a typo in syscalls.txt must not silently
 * narrow or widen the filter). */
static int add_names(scmp_filter_ctx ctx, const char *const *names, int *count, char *err,
                     size_t cap) {
  for (size_t i = 0; names[i]; i++) {
    int nr = seccomp_syscall_resolve_name(names[i]);
    if (nr == __NR_SCMP_ERROR) {
      if (err && cap) snprintf(err, cap, "syscalls.txt: unknown system call \"%s\"", names[i]);
      return -1;
    }
    int rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
    if (rc != 0) return fail(err, cap, names[i], -rc);
    (*count)++;
  }
  return 0;
}

static int add_arg_names(scmp_filter_ctx ctx, const char *const *names, int *count, char *err,
                         size_t cap) {
  for (size_t i = 0; names[i]; i++) {
    const sandbox__arg_rule *r = NULL;
    for (size_t k = 0; k < sizeof arg_rules / sizeof arg_rules[0]; k++)
      if (strcmp(arg_rules[k].name, names[i]) == 0) r = &arg_rules[k];
    int nr = seccomp_syscall_resolve_name(names[i]);
    if (!r || nr == __NR_SCMP_ERROR) {
      if (err && cap)
        snprintf(err, cap, "syscalls.txt: \"%s\" is tagged arg but sandbox.c has no check for it",
                 names[i]);
      return -1;
    }
    int rc = r->add(ctx, nr);
    if (rc != 0) return fail(err, cap, names[i], -rc);
    (*count)++;
  }
  return 0;
}

int sandbox_install_seccomp(int *n_allowed, char *err, size_t err_cap) {
  static const char *const run[] = {OUTPOST_SYSCALLS_RUN};
  static const char *const arg[] = {OUTPOST_SYSCALLS_ARG};
#ifdef SANDBOX_ASAN
  static const char *const asan[] = {OUTPOST_SYSCALLS_ASAN};
#endif
  int count = 0, rc;
  /* Default EPERM, not kill: the agent keeps running and reporting, a refused
   * call in a library is an error path, and a test can observe the refusal. */
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ERRNO(EPERM));
  if (!ctx) return fail(err, err_cap, "seccomp_init", ENOMEM);
  if (add_names(ctx, run, &count, err, err_cap) != 0 ||
      add_arg_names(ctx, arg, &count, err, err_cap) != 0) {
    seccomp_release(ctx);
    return -1;
  }
#ifdef SANDBOX_ASAN
  if (add_names(ctx, asan, &count, err, err_cap) != 0) {
    seccomp_release(ctx);
    return -1;
  }
#endif
  /* clone3's flags sit behind a pointer seccomp cannot read: ENOSYS makes
   * glibc fall back to clone, whose flags are checked above. */
  rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
  if (rc == 0) rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 1);
  /* TSYNC: every thread that already exists gets the filter too, or the load
   * fails; a thread made before this line must not stay unfiltered. */
  if (rc == 0) rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
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
  if (n_allowed) *n_allowed = count;
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

/* errno of a raw system call, 0 when it succeeded. A descriptor it returned
 * is closed: some probes (io_uring_setup, userfaultfd, pidfd_open) make one
 * when the filter fails to refuse them. */
static int raw_errno(long r) {
  int e = r < 0 ? errno : 0;
  if (r > 2) close((int)r);
  return e;
}

/* Every probe uses arguments that do nothing harmful when the call is
 * allowed (a bad magic, a missing path, descriptor -1), so a broken filter
 * shows up as "ALLOWED" with some other error, never as damage. */
#define PROBE(fd, bad, label, call)                                \
  do {                                                             \
    errno = 0;                                                     \
    int pe_ = raw_errno((long)(call));                             \
    (bad) += report((fd), (label), pe_ == EPERM, pe_);             \
  } while (0)

static int probe_kernel_surface(int fd) {
  int bad = 0;
  struct {
    uint32_t sq_entries, cq_entries, flags, sq_thread_cpu, sq_thread_idle, features, wq_fd,
        resv[3];
    uint8_t offsets[80];
  } uring;
  memset(&uring, 0, sizeof uring);
  /* io_uring's own bind/listen/accept opcodes would get round the socket
   * rules: no ring may ever exist. */
  PROBE(fd, bad, "io_uring_setup", syscall(SYS_io_uring_setup, 4, &uring));
  PROBE(fd, bad, "io_uring_enter", syscall(SYS_io_uring_enter, -1, 0, 0, 0, NULL, 0));
  PROBE(fd, bad, "io_uring_register", syscall(SYS_io_uring_register, -1, 0, NULL, 0));
  PROBE(fd, bad, "unshare", syscall(SYS_unshare, 0));
  PROBE(fd, bad, "setns", syscall(SYS_setns, -1, 0));
  PROBE(fd, bad, "bpf", syscall(SYS_bpf, 0, NULL, 0));
  PROBE(fd, bad, "mount", syscall(SYS_mount, "none", "/nonexistent-outpost", "tmpfs", 0, NULL));
  PROBE(fd, bad, "umount2", syscall(SYS_umount2, "/nonexistent-outpost", 0));
  PROBE(fd, bad, "pivot_root", syscall(SYS_pivot_root, "/nonexistent-outpost", "/nonexistent-outpost"));
  PROBE(fd, bad, "chroot", syscall(SYS_chroot, "/nonexistent-outpost"));
  PROBE(fd, bad, "pidfd_open", syscall(SYS_pidfd_open, getpid(), 0));
  PROBE(fd, bad, "pidfd_getfd", syscall(SYS_pidfd_getfd, -1, 0, 0));
  PROBE(fd, bad, "userfaultfd", syscall(SYS_userfaultfd, O_CLOEXEC));
  PROBE(fd, bad, "open_by_handle_at", syscall(SYS_open_by_handle_at, -1, NULL, 0));
  PROBE(fd, bad, "name_to_handle_at", syscall(SYS_name_to_handle_at, AT_FDCWD, "/nonexistent-outpost", NULL, NULL, 0));
  PROBE(fd, bad, "kexec_load", syscall(SYS_kexec_load, 0, 0, NULL, 0));
  PROBE(fd, bad, "kexec_file_load", syscall(SYS_kexec_file_load, -1, -1, 0, NULL, 0));
  PROBE(fd, bad, "init_module", syscall(SYS_init_module, NULL, 0, ""));
  PROBE(fd, bad, "finit_module", syscall(SYS_finit_module, -1, "", 0));
  PROBE(fd, bad, "delete_module", syscall(SYS_delete_module, "outpost_nonexistent", O_NONBLOCK));
  PROBE(fd, bad, "perf_event_open", syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0));
  PROBE(fd, bad, "keyctl", syscall(SYS_keyctl, 0 /* GET_KEYRING_ID */, -3 /* session */, 0));
  PROBE(fd, bad, "add_key", syscall(SYS_add_key, NULL, NULL, NULL, 0, 0));
  PROBE(fd, bad, "request_key", syscall(SYS_request_key, NULL, NULL, NULL, 0));
  PROBE(fd, bad, "personality", syscall(SYS_personality, 0xffffffffUL /* query only */));
  PROBE(fd, bad, "process_vm_readv", syscall(SYS_process_vm_readv, getpid(), NULL, 0, NULL, 0, 0));
  PROBE(fd, bad, "process_vm_writev", syscall(SYS_process_vm_writev, getpid(), NULL, 0, NULL, 0, 0));
  PROBE(fd, bad, "memfd_create", syscall(SYS_memfd_create, "outpost-probe", MFD_CLOEXEC));
  PROBE(fd, bad, "socket(AF_PACKET)", syscall(SYS_socket, AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0));
  PROBE(fd, bad, "socket(AF_NETLINK audit)", syscall(SYS_socket, AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, 9));
  PROBE(fd, bad, "reboot", syscall(SYS_reboot, 0, 0, 0, NULL));
  PROBE(fd, bad, "swapon", syscall(SYS_swapon, "/nonexistent-outpost", 0));
  PROBE(fd, bad, "setuid", syscall(SYS_setuid, getuid()));
  return bad;
}

/* The thread made before the filter: it waits for go, then tries calls the
 * filter refuses. Without TSYNC they would succeed here, since a seccomp
 * filter otherwise binds only the thread that loads it and its later
 * children. */
static void *early_fn(void *arg) {
  sandbox_probe *p = arg;
  pthread_mutex_lock(&p->mu);
  while (!p->go) pthread_cond_wait(&p->cv, &p->mu);
  pthread_mutex_unlock(&p->mu);
  errno = 0;
  p->e_unshare = raw_errno(syscall(SYS_unshare, 0));
  int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  errno = 0;
  p->e_listen = listen(s, 1) == 0 ? 0 : errno;
  if (s >= 0) close(s);
  uint32_t params[30];
  memset(params, 0, sizeof params);
  errno = 0;
  p->e_io_uring = raw_errno(syscall(SYS_io_uring_setup, 4, params));
  return NULL;
}

int sandbox_probe_start(sandbox_probe *p) {
  memset(p, 0, sizeof *p);
  if (pthread_mutex_init(&p->mu, NULL) != 0) return -1;
  if (pthread_cond_init(&p->cv, NULL) != 0) {
    pthread_mutex_destroy(&p->mu);
    return -1;
  }
  if (pthread_create(&p->t, NULL, early_fn, p) != 0) {
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    return -1;
  }
  p->started = 1;
  return 0;
}

static int probe_finish(sandbox_probe *p, int fd) {
  int bad = 0;
  if (!p->started) return report(fd, "thread from before the filter", 0, EINVAL);
  pthread_mutex_lock(&p->mu);
  p->go = 1;
  pthread_cond_signal(&p->cv);
  pthread_mutex_unlock(&p->mu);
  pthread_join(p->t, NULL);
  pthread_cond_destroy(&p->cv);
  pthread_mutex_destroy(&p->mu);
  p->started = 0;
  bad += report(fd, "tsync: early thread unshare", p->e_unshare == EPERM, p->e_unshare);
  bad += report(fd, "tsync: early thread listen", p->e_listen == EPERM, p->e_listen);
  bad += report(fd, "tsync: early thread io_uring_setup", p->e_io_uring == EPERM, p->e_io_uring);
  return bad;
}

int sandbox_selftest(int fd, sandbox_probe *early) {
  int bad = 0, e;
  /* Non-blocking: should the filter let listen through, accept must fail
   * (EAGAIN) rather than wait for a connection that never comes. */
  int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
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
  /* A missing program and a process we do not trace: allowed, these fail
   * with ENOENT/ESRCH and change nothing (TRACEME or a real binary would
   * stop or replace this process and hang or hide a broken filter). */
  char *const argv[] = {(char *)"/nonexistent-outpost", NULL};
  char *const envp[] = {NULL};
  e = execve(argv[0], argv, envp) == 0 ? 0 : errno;
  bad += report(fd, "execve", e == EPERM, e);
  e = syscall(SYS_execveat, AT_FDCWD, argv[0], argv, envp, 0) == 0 ? 0 : errno;
  bad += report(fd, "execveat", e == EPERM, e);
  errno = 0;
  e = ptrace(PTRACE_PEEKDATA, getpid(), NULL, NULL) == -1 ? errno : 0;
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
  /* clone3 answers ENOSYS (glibc's cue to fall back to clone). Invalid size
   * 0, so an allowed clone3 fails with EINVAL and creates nothing. */
  errno = 0;
  e = syscall(SYS_clone3, NULL, 0) == 0 ? 0 : errno;
  bad += report(fd, "clone3", e == ENOSYS, e);
  bad += probe_kernel_surface(fd);
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
  /* What the agent needs must still work: the interface inventory's
   * netlink route socket (never bound: the kernel autobinds it on sendto). */
  s = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  e = s < 0 ? errno : 0;
  if (s >= 0) close(s);
  {
    char line[128];
    int n = snprintf(line, sizeof line, "seccomp-selftest socket(AF_NETLINK route): %s\n",
                     e == 0 ? "works (interface inventory stays allowed)" : strerror(e));
    if (n > 0 && write(fd, line, (size_t)n) < 0) { /* best effort */
    }
    bad += e != 0;
  }
  if (early) bad += probe_finish(early, fd);
  return bad;
}

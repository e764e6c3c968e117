/* supervise_child - a stand-in agent for supervise.sh, installed as
 * bin/<version>/outpost-agent. Its version is its directory's name
 * (/proc/self/exe), so one build serves every version.
 *   mode "good" (default): writes update/health.json for its version, then
 *     waits; exits 75 when update/pending.json appears (like the updater),
 *     0 on SIGTERM.
 *   mode "bad": exits 1 at once.
 * The mode comes from a file next to the binary, bin/<version>/mode holding
 * "bad", so the same bytes serve good and bad versions without a rebuild
 * (each copy is signed for its own version). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop;
static void on_term(int sig) { stop = 1; }

int main(int argc, char **argv) {
  char exe[1024], dir[1024], path[1200], mode[16] = "";
  const char *state = getenv("OUTPOST_TEST_STATE");
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0 || !state) return 2;
  exe[n] = 0;
  char *slash = strrchr(exe, '/');
  if (!slash) return 2;
  *slash = 0;
  snprintf(dir, sizeof dir, "%s", exe);
  const char *version = strrchr(dir, '/') ? strrchr(dir, '/') + 1 : dir;
  snprintf(path, sizeof path, "%s/mode", dir);
  FILE *m = fopen(path, "r");
  if (m) {
    if (!fgets(mode, sizeof mode, m)) mode[0] = 0;
    fclose(m);
  }
  if (strncmp(mode, "bad", 3) == 0) return 1;
  signal(SIGTERM, on_term);
  /* Health, written atomically like the agent does. */
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  char tmp[1200], dst[1200];
  snprintf(tmp, sizeof tmp, "%s/update/health.json.tmp", state);
  snprintf(dst, sizeof dst, "%s/update/health.json", state);
  FILE *h = fopen(tmp, "w");
  if (h) {
    fprintf(h, "{\"version\":\"%s\",\"at\":%lld}\n", version,
            (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
    fclose(h);
    rename(tmp, dst);
  }
  snprintf(path, sizeof path, "%s/update/pending.json", state);
  for (int i = 0; i < 20 * 600 && !stop; i++) { /* bounded: 10 minutes */
    if (access(path, F_OK) == 0) return 75;
    struct timespec t = {0, 50 * 1000000L};
    nanosleep(&t, NULL);
  }
  return 0;
}

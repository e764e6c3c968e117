/* mc_rings.c - the promotion gate (mc_rings.h): a version an agent's
 * supervisor rolled back is not promoted further without --force. The
 * group half of mc_rings.h lives in mc_policy.c, beside the tables it
 * shares with the workspace policy. */
#include <stdio.h>
#include <string.h>

#include "mc_int.h"
#include "mc_rings.h"

int64_t mc_promote_rollbacks(mc_cloud *c, const char *version, char *why, size_t why_cap) {
  if (why && why_cap) why[0] = 0;
  if (!c || !version) return MC_EINVAL;
  /* The agent relays the supervisor's event as {"kind":"rollback",
   * "version":V,"message":"supervisor: <reason>",...} (docs/updates.md);
   * a detail that is not JSON (an old or hostile agent) matches nothing. */
  sqlite3_stmt *s = NULL;
  if (sqlite3_prepare_v2(c->db,
                         "SELECT count(DISTINCT agent_id), min(agent_id) FROM events"
                         " WHERE kind = 'update_rollback' AND json_valid(detail)"
                         " AND json_extract(detail, '$.version') = ?1",
                         -1, &s, NULL) != SQLITE_OK)
    return MC_EDB;
  sqlite3_bind_text(s, 1, version, -1, SQLITE_STATIC);
  int64_t n = MC_EDB;
  if (sqlite3_step(s) == SQLITE_ROW) {
    n = sqlite3_column_int64(s, 0);
    const char *first = (const char *)sqlite3_column_text(s, 1);
    if (n > 0 && why && why_cap)
      snprintf(why, why_cap, "%lld agent(s) rolled %s back (first: agent %s)", (long long)n,
               version, first ? first : "?");
  }
  sqlite3_finalize(s);
  return n;
}

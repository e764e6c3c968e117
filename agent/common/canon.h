/* canon.h - canonical JSON (OLPC rules, as securesystemslib's encode_canonical
 * writes it): the exact bytes TUF signatures cover.
 *
 * Rules: object keys sorted by byte order (UTF-8 byte order = code point
 * order), no whitespace, strings escape only '\\' and '"' (every other byte,
 * control characters and non-ASCII included, is written raw), numbers must be
 * integers (a value with a fraction, a non-finite value or one beyond +-2^53,
 * where a double stops being exact, is an error), true/false/null as is.
 * Duplicate keys in one object are an error (parsers disagree on which wins,
 * so the signed meaning would be ambiguous).
 *
 * Input is a cJSON tree. cJSON reads every number as a double, so "1.0" in
 * the source is seen as 1 and encodes like "1": a signature over "1" would
 * still verify. Callers that need the text to be plain JSON check it
 * themselves (core/tuf.c check_json_text refuses "1.0" and raw control
 * characters before any signature is looked at).
 *
 * Ownership: canon_encode allocates *out (NUL-terminated, not counted in
 * *out_len); the caller frees it with free(). On error *out is NULL.
 *
 * Return codes: CANON_OK (0) or negative:
 *   CANON_ENOMEM   allocation failed
 *   CANON_ETOOBIG  output would exceed max_len
 *   CANON_EFLOAT   a number that is not an exact integer
 *   CANON_EDUPKEY  an object has the same key twice
 *   CANON_EDEPTH   nested deeper than CANON_MAX_DEPTH
 *   CANON_ETYPE    a node cJSON could not have produced from JSON (raw/invalid)
 *   CANON_EINVAL   NULL argument
 */
#ifndef OUTPOST_COMMON_CANON_H
#define OUTPOST_COMMON_CANON_H

#include <stddef.h>

#include <cjson/cJSON.h>

#define CANON_OK        0
#define CANON_ENOMEM  (-1)
#define CANON_ETOOBIG (-2)
#define CANON_EFLOAT  (-3)
#define CANON_EDUPKEY (-4)
#define CANON_EDEPTH  (-5)
#define CANON_ETYPE   (-6)
#define CANON_EINVAL  (-7)

#define CANON_MAX_DEPTH 64

int canon_encode(const cJSON *value, size_t max_len, char **out, size_t *out_len);

/* Short English text for a CANON_* code (never NULL). */
const char *canon_strerror(int code);

#endif

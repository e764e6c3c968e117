/* version: the version compiled into this build.
 *
 * outpost_version is MAJOR.MINOR.PATCH: the project version, or CMake's
 * OUTPOST_VERSION_OVERRIDE in test builds. It lives in one generated source
 * file (agent/common/version.c.in, filled in by CMake) instead of a global
 * compile definition, so that builds differing only in the version
 * (tests/integration/real_update.sh builds three) recompile that one file,
 * not every object. Read-only; no error codes. */
#ifndef OUTPOST_COMMON_VERSION_H
#define OUTPOST_COMMON_VERSION_H

extern const char outpost_version[];

#endif

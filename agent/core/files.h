/* files.h - small-file helpers over the os shim: whole-file reads with a size
 * cap, atomic replace (temp file, sync, rename), private directories.
 *
 * Return codes: OS_OK or a negative OS_E* code (shim/os.h); OS_EFBIG when a
 * file is larger than the caller's cap.
 */
#ifndef OUTPOST_CORE_FILES_H
#define OUTPOST_CORE_FILES_H

#include <stddef.h>
#include <stdint.h>

#include "shim/os.h"

/* Reads all of path into buf (at most cap bytes). */
int files_read_small(const os_shim *os, const char *path, void *buf, size_t cap, size_t *len);
/* Writes data to path.tmp (mode), syncs, renames over path. */
int files_write_atomic(const os_shim *os, const char *path, const void *data, size_t len,
                       uint32_t mode);
/* Creates dir with mode, or, when it exists, resets its mode to mode. Refuses
 * a symlink (OS_ELOOP) or a non-directory (OS_ENOTDIR). */
int files_ensure_dir(const os_shim *os, const char *path, uint32_t mode);
/* Joins dir and name into out; OS_ENAMETOOLONG if it does not fit. */
int files_join(char *out, size_t cap, const char *dir, const char *name);
/* Text for an OS_E* code. */
const char *files_strerror(int os_error);

#endif

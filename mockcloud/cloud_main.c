/* cloud_main.c - outpost-cloud: the mock cloud as a real HTTPS server for
 * real agents on loopback, plus the commands that set up its data
 * directory and its release repository. `outpost-cloud help` lists the
 * commands; the list is generated from one table, so it is the reference.
 *
 * Where things are (one prefix and one header each):
 *   cloud_cli.c    cli_   the command table, the parser and usage it drives
 *   cloud_cmd.c    cmd_   one handler per command
 *   cloud_serve.c  srv_   serve: libmicrohttpd with TLS, repository files,
 *                         the re-sign timer
 *   cloud_pki.c    pki_   init's test CA and server certificate (mbedTLS)
 *   cloud_io.c     cio_   real clock and randomness, files, the store, the
 *                         PKCS#11 token settings
 * The cloud itself is the library in mc_*.c (mc.h).
 *
 * The release repository (docs/updates.md) lives in DATA/repo; the token
 * settings (module, label, PIN file path: never the PIN) in DATA/pkcs11.json.
 * serve reads DATA/repo/metadata and DATA/repo/targets only, and re-signs
 * timestamp/snapshot through the token on a timer; it never opens RDIR.
 *
 * Exit codes: 0 ok, 1 runtime failure, 2 usage error.
 */
#include "cloud_cli.h"

int main(int argc, char **argv) { return cli_main(argc, argv); }

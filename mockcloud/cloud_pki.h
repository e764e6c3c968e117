/* cloud_pki.h - the test PKI outpost-cloud init writes (prefix pki_): a CA
 * and a server certificate for localhost / 127.0.0.1, ECDSA P-256, made
 * with mbedTLS. For loopback tests and demos only: agents are pointed at
 * ca.pem explicitly (ca_file), nothing is installed system-wide.
 */
#ifndef OUTPOST_MOCKCLOUD_CLOUD_PKI_H
#define OUTPOST_MOCKCLOUD_CLOUD_PKI_H

/* Writes dir/ca.pem, dir/ca.key, dir/server.pem, dir/server.key (keys
 * 0600, certificates 0644), replacing any there. 0, or -1 when a key, a
 * certificate or a file could not be made (some files may then exist). */
int pki_make(const char *dir);

#endif

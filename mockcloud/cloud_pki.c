/* cloud_pki.c - the test CA and server certificate (cloud_pki.h). */
#include "cloud_pki.h"

#include <string.h>
#include <time.h>

#include <mbedtls/asn1write.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/oid.h>
#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>

#include "cloud_io.h"

#define PEM_CAP 4096

static int time_str(time_t t, char out[16]) {
  struct tm tm;
  if (!gmtime_r(&t, &tm)) return -1;
  return strftime(out, 16, "%Y%m%d%H%M%S", &tm) == 14 ? 0 : -1;
}

/* subjectAltName = DNS:localhost, IP:127.0.0.1. mbedTLS 2.28 has no helper for
 * IP SANs, so the GeneralNames DER is written by hand (backwards, as asn1write
 * does). */
static int san_der(unsigned char *buf, size_t cap, unsigned char **start, size_t *len) {
  static const unsigned char ip[4] = {127, 0, 0, 1};
  unsigned char *p = buf + cap;
  int n, total = 0;
#define W(call)              \
  do {                       \
    if ((n = (call)) < 0)    \
      return -1;             \
    total += n;              \
  } while (0)
  int inner = 0;
  W(mbedtls_asn1_write_raw_buffer(&p, buf, ip, sizeof ip));
  W(mbedtls_asn1_write_len(&p, buf, sizeof ip));
  W(mbedtls_asn1_write_tag(&p, buf, MBEDTLS_ASN1_CONTEXT_SPECIFIC | 7)); /* iPAddress */
  W(mbedtls_asn1_write_raw_buffer(&p, buf, (const unsigned char *)"localhost", 9));
  W(mbedtls_asn1_write_len(&p, buf, 9));
  W(mbedtls_asn1_write_tag(&p, buf, MBEDTLS_ASN1_CONTEXT_SPECIFIC | 2)); /* dNSName */
  inner = total;
  W(mbedtls_asn1_write_len(&p, buf, (size_t)inner));
  W(mbedtls_asn1_write_tag(&p, buf, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE));
#undef W
  *start = p;
  *len = (size_t)total;
  return 0;
}

static int gen_key(mbedtls_pk_context *pk, mbedtls_ctr_drbg_context *drbg) {
  return mbedtls_pk_setup(pk, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)) != 0 ||
                 mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(*pk),
                                     mbedtls_ctr_drbg_random, drbg) != 0
             ? -1
             : 0;
}

/* Writes a certificate for subject_key signed by issuer_key, PEM into out. */
static int make_cert(mbedtls_pk_context *subject_key, mbedtls_pk_context *issuer_key,
                     const char *subject, const char *issuer, int is_ca,
                     mbedtls_ctr_drbg_context *drbg, unsigned char *out, size_t cap) {
  mbedtls_x509write_cert crt;
  mbedtls_mpi serial;
  unsigned char sbytes[16], san[64], *san_p;
  size_t san_len;
  char nb[16], na[16];
  time_t now = time(NULL);
  int rc = -1;

  mbedtls_x509write_crt_init(&crt);
  mbedtls_mpi_init(&serial);
  if (mbedtls_ctr_drbg_random(drbg, sbytes, sizeof sbytes) != 0) goto done;
  sbytes[0] &= 0x7f; /* serial must be positive */
  sbytes[0] |= 0x01;
  if (mbedtls_mpi_read_binary(&serial, sbytes, sizeof sbytes) != 0) goto done;
  if (time_str(now - 86400, nb) != 0 || time_str(now + (time_t)3653 * 86400, na) != 0) goto done;

  mbedtls_x509write_crt_set_version(&crt, MBEDTLS_X509_CRT_VERSION_3);
  mbedtls_x509write_crt_set_md_alg(&crt, MBEDTLS_MD_SHA256);
  mbedtls_x509write_crt_set_subject_key(&crt, subject_key);
  mbedtls_x509write_crt_set_issuer_key(&crt, issuer_key);
  if (mbedtls_x509write_crt_set_subject_name(&crt, subject) != 0 ||
      mbedtls_x509write_crt_set_issuer_name(&crt, issuer) != 0 ||
      mbedtls_x509write_crt_set_serial(&crt, &serial) != 0 ||
      mbedtls_x509write_crt_set_validity(&crt, nb, na) != 0 ||
      mbedtls_x509write_crt_set_basic_constraints(&crt, is_ca, is_ca ? 0 : -1) != 0 ||
      mbedtls_x509write_crt_set_subject_key_identifier(&crt) != 0 ||
      mbedtls_x509write_crt_set_authority_key_identifier(&crt) != 0)
    goto done;
  if (is_ca) {
    if (mbedtls_x509write_crt_set_key_usage(
            &crt, MBEDTLS_X509_KU_KEY_CERT_SIGN | MBEDTLS_X509_KU_CRL_SIGN) != 0)
      goto done;
  } else {
    if (mbedtls_x509write_crt_set_key_usage(&crt, MBEDTLS_X509_KU_DIGITAL_SIGNATURE) != 0 ||
        san_der(san, sizeof san, &san_p, &san_len) != 0 ||
        mbedtls_x509write_crt_set_extension(&crt, MBEDTLS_OID_SUBJECT_ALT_NAME,
                                            MBEDTLS_OID_SIZE(MBEDTLS_OID_SUBJECT_ALT_NAME), 0,
                                            san_p, san_len) != 0)
      goto done;
  }
  if (mbedtls_x509write_crt_pem(&crt, out, cap, mbedtls_ctr_drbg_random, drbg) != 0) goto done;
  rc = 0;
done:
  mbedtls_x509write_crt_free(&crt);
  mbedtls_mpi_free(&serial);
  return rc;
}

static int write_key_pem(mbedtls_pk_context *pk, const char *path) {
  unsigned char pem[PEM_CAP];
  int rc = mbedtls_pk_write_key_pem(pk, pem, sizeof pem) == 0
               ? cio_write_file(path, pem, strlen((char *)pem), 0600)
               : -1;
  memset(pem, 0, sizeof pem);
  return rc;
}

int pki_make(const char *dir) {
  mbedtls_entropy_context entropy;
  mbedtls_ctr_drbg_context drbg;
  mbedtls_pk_context ca_key, srv_key;
  unsigned char pem[PEM_CAP];
  char path[CIO_PATH_CAP];
  int rc = -1;
  static const char ca_name[] = "CN=Outpost Mock Cloud Test CA,O=Outpost";

  mbedtls_entropy_init(&entropy);
  mbedtls_ctr_drbg_init(&drbg);
  mbedtls_pk_init(&ca_key);
  mbedtls_pk_init(&srv_key);
  if (mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &entropy,
                            (const unsigned char *)"outpost-cloud-init", 18) != 0 ||
      gen_key(&ca_key, &drbg) != 0 || gen_key(&srv_key, &drbg) != 0)
    goto done;
  if (make_cert(&ca_key, &ca_key, ca_name, ca_name, 1, &drbg, pem, sizeof pem) != 0 ||
      cio_join(path, dir, "ca.pem") != 0 || cio_write_file(path, pem, strlen((char *)pem), 0644) != 0)
    goto done;
  if (cio_join(path, dir, "ca.key") != 0 || write_key_pem(&ca_key, path) != 0) goto done;
  if (make_cert(&srv_key, &ca_key, "CN=localhost,O=Outpost", ca_name, 0, &drbg, pem,
                sizeof pem) != 0 ||
      cio_join(path, dir, "server.pem") != 0 ||
      cio_write_file(path, pem, strlen((char *)pem), 0644) != 0)
    goto done;
  if (cio_join(path, dir, "server.key") != 0 || write_key_pem(&srv_key, path) != 0) goto done;
  rc = 0;
done:
  mbedtls_pk_free(&ca_key);
  mbedtls_pk_free(&srv_key);
  mbedtls_ctr_drbg_free(&drbg);
  mbedtls_entropy_free(&entropy);
  return rc;
}


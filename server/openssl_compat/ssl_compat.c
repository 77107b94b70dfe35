/* libssl.so for Debian bookworm's civetweb 1.15, which loads OpenSSL at run
 * time with dlopen("libssl.so") and dlsym()s the OpenSSL 1.1 API. Built with
 * DT_SONAME "libssl.so" and DT_NEEDED libssl.so.3, and linked into the
 * server, so that it is loaded at start: glibc's dlopen then returns this
 * object for "libssl.so" (an already loaded object matches by soname), and
 * dlsym on it searches this object, then libssl.so.3 and libcrypto.so.3.
 *
 * It defines only what civetweb asks for that OpenSSL 3 no longer exports
 * (checked against civetweb's list of names with nm -D on libssl.so.3 and
 * libcrypto.so.3): SSL_get_peer_certificate, a macro for
 * SSL_get1_peer_certificate since OpenSSL 3.0. */

#include <openssl/ssl.h>

#undef SSL_get_peer_certificate

/* Returns the peer's certificate with a reference the caller frees (civetweb
 * calls X509_free on it), as OpenSSL 1.1's did. */
__attribute__((visibility("default"))) X509* SSL_get_peer_certificate(
    const SSL* ssl) {
  return SSL_get1_peer_certificate(ssl);
}

/* libcrypto.so for Debian bookworm's civetweb 1.15, which dlopen()s
 * "libcrypto.so", a name only libssl-dev installs. Built with DT_SONAME
 * "libcrypto.so" and DT_NEEDED libcrypto.so.3, and linked into the server,
 * so that civetweb's dlopen returns this object and its dlsym()s find
 * libcrypto.so.3's functions: every name civetweb asks of libcrypto is still
 * exported by OpenSSL 3, so this defines none of its own. */

/* A translation unit must declare something (ISO C). */
typedef int activation_crypto_compat_unused;

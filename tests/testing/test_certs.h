// Test certificates made with the openssl CLI: a CA and leaves it signs.

#ifndef ACTIVATION_TESTS_TESTING_TEST_CERTS_H_
#define ACTIVATION_TESTS_TESTING_TEST_CERTS_H_

#include <cstdlib>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"

namespace activation::testing {

// Runs `command` in a shell with its output discarded; true if it exits 0.
inline bool RunQuietly(const std::string& command) {
  return std::system(absl::StrCat(command, " >/dev/null 2>&1").c_str()) == 0;
}

// Makes the self-signed CA `dir`/`name`.pem and `dir`/`name`.key; true on
// success.
inline bool MakeCa(const std::string& dir, const std::string& name) {
  const std::string path = absl::StrCat(dir, "/", name);
  return RunQuietly(absl::StrCat(
      "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -keyout '", path,
      ".key' -out '", path, ".pem' -subj '/CN=", name,
      "' -addext 'basicConstraints=critical,CA:TRUE'",
      " -addext 'keyUsage=critical,keyCertSign,cRLSign'"));
}

// Makes `dir`/`name`.pem and `dir`/`name`.key for `common_name`, signed by
// the CA `dir`/`ca`.pem, with the X.509 v3 `extensions` (one per line);
// true on success.
inline bool MakeLeaf(const std::string& dir, const std::string& name,
                     const std::string& ca, const std::string& common_name,
                     const std::string& extensions) {
  const std::string path = absl::StrCat(dir, "/", name);
  const std::string ca_path = absl::StrCat(dir, "/", ca);
  std::ofstream(path + ".ext") << extensions << "\n";
  return RunQuietly(absl::StrCat(
             "openssl req -newkey rsa:2048 -nodes -keyout '", path,
             ".key' -out '", path, ".csr' -subj '/CN=", common_name, "'")) &&
         RunQuietly(absl::StrCat("openssl x509 -req -days 1 -in '", path,
                                 ".csr' -CA '", ca_path, ".pem' -CAkey '",
                                 ca_path, ".key' -CAcreateserial -out '", path,
                                 ".pem' -extfile '", path, ".ext'"));
}

// The extensions of a server certificate for localhost and 127.0.0.1.
inline constexpr char kServerExtensions[] =
    "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth";
// The extensions of a client certificate.
inline constexpr char kClientExtensions[] = "extendedKeyUsage=clientAuth";

}  // namespace activation::testing

#endif  // ACTIVATION_TESTS_TESTING_TEST_CERTS_H_

// One HTTP/1.1 request over TLS (OpenSSL) for tests, on a new loopback
// connection closed after the response.

#ifndef ACTIVATION_TESTS_TESTING_HTTPS_CLIENT_H_
#define ACTIVATION_TESTS_TESTING_HTTPS_CLIENT_H_

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <unistd.h>

#include <initializer_list>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "tests/testing/http_client.h"

namespace activation::testing {

// What the client trusts and presents.
struct TlsClientOptions {
  std::string ca_file;    // PEM CA the server's certificate must chain to
  std::string cert_file;  // PEM client certificate; empty: none
  std::string key_file;   // its key
  int max_version = 0;    // e.g. TLS1_1_VERSION; 0: OpenSSL's highest
};

// Sends one request to https://127.0.0.1:`port``path` (the certificate must
// name IP 127.0.0.1) with "Connection: close" and reads the response to the
// end of the connection. Unavailable, with OpenSSL's reason, when the
// connection or the handshake fails or the server closes it unanswered.
inline absl::StatusOr<HttpResponse> HttpsRequest(
    int port, const TlsClientOptions& tls, const std::string& method,
    const std::string& path, const std::string& body = "",
    std::initializer_list<std::string> headers = {}) {
  const auto failed = [](absl::string_view what) {
    char reason[256] = "no OpenSSL error";
    if (const unsigned long e = ERR_get_error(); e != 0) {
      ERR_error_string_n(e, reason, sizeof(reason));
    }
    ERR_clear_error();
    return absl::UnavailableError(absl::StrCat(what, ": ", reason));
  };
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> context(
      SSL_CTX_new(TLS_client_method()), &SSL_CTX_free);
  SSL_CTX_set_verify(context.get(), SSL_VERIFY_PEER, nullptr);
  if (tls.max_version != 0) {
    // Old versions need security level 0 in OpenSSL 3.
    SSL_CTX_set_security_level(context.get(), 0);
    SSL_CTX_set_min_proto_version(context.get(), TLS1_VERSION);
    SSL_CTX_set_max_proto_version(context.get(), tls.max_version);
  }
  if (SSL_CTX_load_verify_locations(context.get(), tls.ca_file.c_str(),
                                    nullptr) != 1 ||
      (!tls.cert_file.empty() &&
       (SSL_CTX_use_certificate_chain_file(context.get(),
                                           tls.cert_file.c_str()) != 1 ||
        SSL_CTX_use_PrivateKey_file(context.get(), tls.key_file.c_str(),
                                    SSL_FILETYPE_PEM) != 1))) {
    return failed("cannot load the client's TLS files");
  }
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || connect(fd, reinterpret_cast<sockaddr*>(&address),
                        sizeof(address)) != 0) {
    if (fd >= 0) close(fd);
    return absl::UnavailableError(absl::StrCat("cannot connect to ", port));
  }
  std::unique_ptr<SSL, decltype(&SSL_free)> ssl(SSL_new(context.get()),
                                                &SSL_free);
  X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl.get()), "127.0.0.1");
  SSL_set_fd(ssl.get(), fd);
  std::string request = absl::StrCat(method, " ", path,
                                     " HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                     "Connection: close\r\nContent-Length: ",
                                     body.size(), "\r\n");
  for (const std::string& header : headers) {
    absl::StrAppend(&request, header, "\r\n");
  }
  absl::StrAppend(&request, "\r\n", body);
  std::string response;
  absl::Status status;
  if (SSL_connect(ssl.get()) != 1) {
    status = failed("TLS handshake failed");
  } else if (SSL_write(ssl.get(), request.data(),
                       static_cast<int>(request.size())) <= 0) {
    status = failed("TLS write failed");
  } else {
    char chunk[16384];
    for (int n; (n = SSL_read(ssl.get(), chunk, sizeof(chunk))) > 0;) {
      response.append(chunk, static_cast<size_t>(n));
    }
    if (response.empty()) status = failed("no response");
  }
  ERR_clear_error();
  close(fd);
  if (!status.ok()) return status;
  HttpResponse parsed;
  const size_t end = response.find("\r\n\r\n");
  if (end == std::string::npos) {
    return absl::InternalError(absl::StrCat("not a response: ", response));
  }
  if (absl::Status s = ParseResponseHead(response.substr(0, end), &parsed);
      !s.ok()) {
    return s;
  }
  parsed.body = response.substr(end + 4);
  return parsed;
}

}  // namespace activation::testing

#endif  // ACTIVATION_TESTS_TESTING_HTTPS_CLIENT_H_

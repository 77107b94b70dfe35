// A minimal HTTP/1.1 client for tests, over a loopback TCP socket: one
// connection, requests written whole, responses read by Content-Length, so
// that keep-alive, raw bytes and half-sent requests can be tested.

#ifndef ACTIVATION_TESTS_TESTING_HTTP_CLIENT_H_
#define ACTIVATION_TESTS_TESTING_HTTP_CLIENT_H_

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace activation::testing {

struct HttpResponse {
  int code = 0;
  std::map<std::string, std::string> headers;  // names in lower case
  std::string body;

  std::string Header(const std::string& name) const {
    const auto it = headers.find(absl::AsciiStrToLower(name));
    return it == headers.end() ? "" : it->second;
  }
};

// Parses `head` (a response's status line and headers, without the blank
// line) into `response`'s code and headers; InternalError if the status
// line is not one.
inline absl::Status ParseResponseHead(absl::string_view head,
                                      HttpResponse* response) {
  bool first = true;
  for (absl::string_view line : absl::StrSplit(head, "\r\n")) {
    if (first) {
      first = false;
      const std::vector<absl::string_view> parts =
          absl::StrSplit(line, absl::MaxSplits(' ', 2));
      if (parts.size() < 2 || !absl::SimpleAtoi(parts[1], &response->code)) {
        return absl::InternalError(absl::StrCat("bad status line: ", line));
      }
      continue;
    }
    const size_t colon = line.find(':');
    if (colon == absl::string_view::npos) continue;
    response->headers[absl::AsciiStrToLower(line.substr(0, colon))] =
        std::string(absl::StripAsciiWhitespace(line.substr(colon + 1)));
  }
  return absl::OkStatus();
}

// One connection to 127.0.0.1:`port`. Not thread-safe.
class HttpConnection {
 public:
  explicit HttpConnection(int port) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd_ >= 0 && connect(fd_, reinterpret_cast<sockaddr*>(&address),
                            sizeof(address)) != 0) {
      close(fd_);
      fd_ = -1;
    }
  }
  ~HttpConnection() {
    if (fd_ >= 0) close(fd_);
  }
  HttpConnection(const HttpConnection&) = delete;
  HttpConnection& operator=(const HttpConnection&) = delete;

  bool connected() const { return fd_ >= 0; }

  // Writes `bytes` whole; false if the connection broke.
  bool Write(const std::string& bytes) {
    size_t done = 0;
    while (done < bytes.size()) {
      const ssize_t n =
          send(fd_, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
      if (n <= 0) return false;
      done += static_cast<size_t>(n);
    }
    return true;
  }

  // Sends a request and reads its response. `headers` are whole lines
  // without the line end, e.g. "Authorization: Bearer x".
  absl::StatusOr<HttpResponse> Request(
      const std::string& method, const std::string& path,
      const std::string& body = "",
      std::initializer_list<std::string> headers = {}) {
    std::string request =
        absl::StrCat(method, " ", path, " HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    for (const std::string& header : headers) {
      absl::StrAppend(&request, header, "\r\n");
    }
    if (!body.empty() || method == "POST") {
      absl::StrAppend(&request, "Content-Length: ", body.size(), "\r\n");
    }
    absl::StrAppend(&request, "\r\n", body);
    if (!Write(request)) return absl::UnavailableError("write failed");
    return ReadResponse();
  }

  // Reads one response (headers, then Content-Length bytes of body).
  absl::StatusOr<HttpResponse> ReadResponse() {
    size_t end;
    while ((end = buffer_.find("\r\n\r\n")) == std::string::npos) {
      if (!Fill()) {
        return absl::UnavailableError(
            absl::StrCat("connection closed before a response: ", buffer_));
      }
    }
    HttpResponse response;
    const std::string head = buffer_.substr(0, end);
    buffer_.erase(0, end + 4);
    if (absl::Status s = ParseResponseHead(head, &response); !s.ok()) return s;
    size_t length = 0;
    if (!absl::SimpleAtoi(response.Header("Content-Length"), &length)) {
      return absl::InternalError("response without Content-Length");
    }
    while (buffer_.size() < length) {
      if (!Fill()) return absl::UnavailableError("body cut short");
    }
    response.body = buffer_.substr(0, length);
    buffer_.erase(0, length);
    return response;
  }

  // Returns true once the server closes the connection (reads return 0 or
  // fail) within `timeout`, discarding what it sends.
  bool ClosedWithin(std::chrono::milliseconds timeout) {
    const auto give_up = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < give_up) {
      pollfd p{fd_, POLLIN, 0};
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          give_up - std::chrono::steady_clock::now());
      if (poll(&p, 1, static_cast<int>(std::max<int64_t>(left.count(), 0))) <=
          0) {
        continue;
      }
      char scratch[4096];
      if (read(fd_, scratch, sizeof(scratch)) <= 0) return true;
    }
    return false;
  }

 private:
  bool Fill() {
    char chunk[65536];
    const ssize_t n = read(fd_, chunk, sizeof(chunk));
    if (n <= 0) return false;
    buffer_.append(chunk, static_cast<size_t>(n));
    return true;
  }

  int fd_ = -1;
  std::string buffer_;
};

// Sends one request on a new connection.
inline absl::StatusOr<HttpResponse> HttpRequest(
    int port, const std::string& method, const std::string& path,
    const std::string& body = "",
    std::initializer_list<std::string> headers = {}) {
  HttpConnection connection(port);
  if (!connection.connected()) {
    return absl::UnavailableError(absl::StrCat("cannot connect to ", port));
  }
  return connection.Request(method, path, body, headers);
}

}  // namespace activation::testing

#endif  // ACTIVATION_TESTS_TESTING_HTTP_CLIENT_H_

#include "server/civetweb_listener.h"

#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

namespace activation::server {

void WakeListener(int port) {
  for (const char* host : {"127.0.0.1", "::1"}) {
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
    addrinfo* found = nullptr;
    if (getaddrinfo(host, std::to_string(port).c_str(), &hints, &found) != 0) {
      continue;
    }
    const int fd = socket(found->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const bool connected =
        fd >= 0 && connect(fd, found->ai_addr, found->ai_addrlen) == 0;
    if (fd >= 0) close(fd);
    freeaddrinfo(found);
    if (connected) return;
  }
}

}  // namespace activation::server

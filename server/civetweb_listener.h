// What both of the server's civetweb listeners (/metrics, HTTP/REST) need
// to stop promptly.

#ifndef ACTIVATION_SERVER_CIVETWEB_LISTENER_H_
#define ACTIVATION_SERVER_CIVETWEB_LISTENER_H_

namespace activation::server {

// Opens and closes a TCP connection to `port` on the loopback address, which
// a listener accepts whether it was bound there or to a wildcard: civetweb's
// listener wakes from its poll and notices it is being stopped.
void WakeListener(int port);

}  // namespace activation::server

#endif  // ACTIVATION_SERVER_CIVETWEB_LISTENER_H_

// The build the server reports (ServerInfo, activation_build_info, logs).

#ifndef ACTIVATION_SERVER_VERSION_H_
#define ACTIVATION_SERVER_VERSION_H_

namespace activation::server {

// The release, e.g. "0.1.0".
const char* Version();

// The commit built (12 hex digits), or "unknown" outside a git checkout.
// Generated at build time (server/version.cmake), so it follows the checkout
// without a re-configure; -DACTIVATION_GIT_SHA= fixes it (the Dockerfile).
const char* GitSha();

}  // namespace activation::server

#endif  // ACTIVATION_SERVER_VERSION_H_

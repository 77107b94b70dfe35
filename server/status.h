// The one mapping from absl::Status to grpc::Status.

#ifndef ACTIVATION_SERVER_STATUS_H_
#define ACTIVATION_SERVER_STATUS_H_

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace activation::server {

// Returns the grpc::Status with the same code and message. Abseil's codes
// mirror gRPC's one to one.
grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace activation::server

#endif  // ACTIVATION_SERVER_STATUS_H_

// The one mapping from absl::Status to each front's status: grpc::Status for
// gRPC, an HTTP status code for the HTTP/REST front.

#ifndef ACTIVATION_SERVER_STATUS_H_
#define ACTIVATION_SERVER_STATUS_H_

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace activation::server {

// Returns the grpc::Status with the same code and message. Abseil's codes
// mirror gRPC's one to one.
grpc::Status ToGrpcStatus(const absl::Status& status);

// Returns the HTTP status code for `status`: OK 200, InvalidArgument 400,
// Unauthenticated 401, NotFound 404, ResourceExhausted 429 when admission
// refused it for a limit that frees up (CallGate::kReasonPayload
// "max_inflight" or "max_memory": retry later) and 413 for a size limit
// (the request is too large), Cancelled 499 (nginx's "client closed
// request"), Unimplemented 501, Unavailable 503, DeadlineExceeded 504,
// anything else 500.
int ToHttpStatus(const absl::Status& status);

}  // namespace activation::server

#endif  // ACTIVATION_SERVER_STATUS_H_

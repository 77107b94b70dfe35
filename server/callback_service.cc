#include "server/callback_service.h"

#include <memory>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "server/codec.h"
#include "server/stream_reactor.h"

namespace activation::server {
namespace {

// What a computation holds from admission until its response is sent: the
// payload, moved from request to response, and the response's serialized
// copy, plus the call's own state.
uint64_t MemoryFor(const v1::ReluRequest& request) {
  return MemoryForPayload(PayloadBytes(request.input()));
}

// Admits, computes and serializes one parsed request.
absl::Status Compute(const Backend& backend, Call& call,
                     v1::ReluRequest* request, grpc::ByteBuffer* out) {
  if (absl::Status s = call.Admit(*backend.gate, MemoryFor(*request));
      !s.ok()) {
    return s;
  }
  v1::ReluResponse response;
  if (absl::Status s = call.Relu(*backend.handler, request, &response);
      !s.ok()) {
    return s;
  }
  return SerializeResponse(response, out);
}

// A ReluStream message: parsed and computed; an error ends the stream.
struct ReluStep {
  static absl::Status Serve(const Backend& backend, Call& call, int64_t index,
                            grpc::ByteBuffer* in, grpc::ByteBuffer* out) {
    v1::ReluRequest request;
    absl::Status s = ParseRequest(in, &request);
    call.Received(PayloadBytes(request.input()));
    if (s.ok()) s = Compute(backend, call, &request, out);
    if (s.ok()) return s;
    return absl::Status(s.code(),
                        absl::StrCat("message ", index, ": ", s.message()));
  }
};

}  // namespace

grpc::ServerUnaryReactor* CallbackService::Relu(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  return ServeUnary(
      backend_.metrics, Metrics::Rpc::kRelu, context,
      [&](Call& call) {
        // The token before the bytes: a refused caller costs no parse.
        if (absl::Status s = call.Authorize(*backend_.gate); !s.ok()) {
          call.Received();
          return s;
        }
        // gRPC runs a ByteBuffer handler even when the message never
        // arrived (the client cancelled or went away while sending it):
        // that is no invalid request.
        if (!request->Valid()) {
          return absl::CancelledError("the request message did not arrive");
        }
        // The bytes are ours for the call; parsing moves them into the
        // request, computed in place and moved on into the response.
        v1::ReluRequest parsed;
        absl::Status s =
            ParseRequest(const_cast<grpc::ByteBuffer*>(request), &parsed);
        call.Received(PayloadBytes(parsed.input()));
        if (!s.ok()) return s;
        return Compute(backend_, call, &parsed, response);
      },
      backend_.calls);
}

grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>*
CallbackService::ReluStream(grpc::CallbackServerContext* context) {
  return StreamReactor<ReluStep>::Start(backend_, Metrics::Rpc::kReluStream,
                                        context);
}

grpc::ServerUnaryReactor* CallbackService::GetServerInfo(
    grpc::CallbackServerContext* context,
    const v1::GetServerInfoRequest* /*request*/, v1::ServerInfo* response) {
  return ServeUnary(
      backend_.metrics, Metrics::Rpc::kGetServerInfo, context, [&](Call& call) {
        call.Received();
        if (absl::Status s = call.Authorize(*backend_.gate); !s.ok()) {
          return s;
        }
        *response = *backend_.info;
        call.Sent();
        return absl::OkStatus();
      });
}

}  // namespace activation::server

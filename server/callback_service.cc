#include "server/callback_service.h"

#include "absl/strings/str_cat.h"
#include "google/protobuf/arena.h"
#include "server/codec.h"
#include "server/stream_reactor.h"

namespace activation::server {
namespace {

// The messages of one computation: an arena whose first block is on the
// stack, so a small request's message objects cost no allocation.
class MessageArena {
 public:
  MessageArena() : arena_(Options(block_, sizeof(block_))) {}

  // Not copyable.
  MessageArena(const MessageArena&) = delete;
  MessageArena& operator=(const MessageArena&) = delete;

  template <typename Message>
  Message* Create() {
    return google::protobuf::Arena::CreateMessage<Message>(&arena_);
  }

 private:
  static google::protobuf::ArenaOptions Options(char* block, size_t size) {
    google::protobuf::ArenaOptions options;
    options.initial_block = block;
    options.initial_block_size = size;
    return options;
  }

  alignas(16) char block_[1024];
  google::protobuf::Arena arena_;
};

// Parses, admits, computes and serializes one request's bytes. A large
// payload is computed from the slices it arrived in into a buffer of its
// own, which becomes the response's payload slice; a small one is parsed
// into the request, computed in place and moved on into the response. Both
// messages live on a MessageArena.
absl::Status ReluBytes(const Backend& backend, Call& call, grpc::ByteBuffer* in,
                       grpc::ByteBuffer* out) {
  MessageArena arena;
  auto* request = arena.Create<v1::ReluRequest>();
  SplitPayload split;
  absl::Status s = ParseReluRequest(in, request, &split);
  const uint64_t payload_bytes = PayloadBytes(request->input()) + split.size;
  call.Received(payload_bytes);
  if (!s.ok()) return s;
  if (s = call.Admit(*backend.gate, MemoryForPayload(payload_bytes)); !s.ok()) {
    return s;
  }
  auto* response = arena.Create<v1::ReluResponse>();
  s = call.Relu(*backend.handler, request, &split, response);
  split.ReleaseInput();
  if (!s.ok()) return s;
  return SerializeReluResponse(response, &split, out);
}

// A ReluStream message: as a Relu call; an error ends the stream.
struct ReluStep {
  static absl::Status Serve(const Backend& backend, Call& call, int64_t index,
                            grpc::ByteBuffer* in, grpc::ByteBuffer* out) {
    absl::Status s = ReluBytes(backend, call, in, out);
    if (s.ok()) return s;
    return absl::Status(s.code(),
                        absl::StrCat("message ", index, ": ", s.message()));
  }
};

}  // namespace

grpc::ServerUnaryReactor* CallbackService::Relu(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  return ServeRawUnary(backend_, Metrics::Rpc::kRelu, context, request,
                       [&](Call& call, grpc::ByteBuffer* bytes) {
                         return ReluBytes(backend_, call, bytes, response);
                       });
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

#include "server/oip_service.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "server/codec.h"
#include "server/oip.h"
#include "server/stream_reactor.h"
#include "wire/convert.h"

namespace activation::server {
namespace {

using inference::ModelInferRequest;
using inference::ModelInferResponse;

// Decodes, admits and computes one parsed request into `response`; its raw
// contents may be in `split` (or null; see InferHandler::Infer).
absl::Status Infer(const Backend& backend, Call& call,
                   ModelInferRequest* request, SplitPayload* split,
                   ModelInferResponse* response) {
  absl::StatusOr<DecodedInfer> decoded =
      backend.infer->Decode(*request, split == nullptr ? 0 : split->size);
  if (!decoded.ok()) return decoded.status();
  if (absl::Status s =
          call.Admit(*backend.gate, MemoryForPayload(decoded->wire_bytes));
      !s.ok()) {
    return s;
  }
  absl::Status s = call.Compute(
      [&](const core::Engine::CancelCheck& cancelled, ComputeStats* stats) {
        return backend.infer->Infer(*decoded, request, split, response,
                                    cancelled, stats);
      });
  if (s.ok()) call.Sent(decoded->wire_bytes);
  return s;
}

// Parses, computes and serializes one request's bytes: large raw contents
// from the slices they arrived in into a buffer that is sent as the
// answer's (as ReluBytes does for activation.v1).
absl::Status InferBytes(const Backend& backend, Call& call,
                        grpc::ByteBuffer* in, grpc::ByteBuffer* out) {
  ModelInferRequest request;
  SplitPayload split;
  absl::Status s = ParseInferRequest(in, &request, &split);
  call.Received(InferPayloadBytes(request) + split.size);
  if (!s.ok()) return s;
  ModelInferResponse response;
  s = Infer(backend, call, &request, &split, &response);
  split.ReleaseInput();
  if (!s.ok()) return s;
  return SerializeInferResponse(response, &split, out);
}

// A ModelStreamInfer message, as Triton serves them: a request's error is
// that request's answer (error_message) and the stream goes on, but for
// the errors that end every call (draining, a cancelled stream).
struct InferStep {
  static absl::Status Serve(const Backend& backend, Call& call,
                            int64_t /*index*/, grpc::ByteBuffer* in,
                            grpc::ByteBuffer* out) {
    ModelInferRequest request;
    absl::Status s = ParseRequest(in, &request);
    call.Received(InferPayloadBytes(request));
    inference::ModelStreamInferResponse response;
    if (s.ok()) {
      s = Infer(backend, call, &request, nullptr,
                response.mutable_infer_response());
    }
    if (s.code() == absl::StatusCode::kUnavailable ||
        s.code() == absl::StatusCode::kCancelled ||
        s.code() == absl::StatusCode::kDeadlineExceeded) {
      return s;
    }
    if (!s.ok()) {
      response.Clear();
      response.set_error_message(std::string(s.message()));
      response.mutable_infer_response()->set_id(request.id());
      call.Sent();
    }
    return SerializeResponse(response, out);
  }
};

inference::ModelMetadataResponse::TensorMetadata TensorMetadata(
    absl::string_view name) {
  inference::ModelMetadataResponse::TensorMetadata tensor;
  tensor.set_name(std::string(name));
  tensor.set_datatype(
      std::string(wire::OipDataTypeName(oip::kAdvertisedDataType)));
  tensor.add_shape(-1);
  return tensor;
}

}  // namespace

grpc::ServerUnaryReactor* OipService::ServerLive(
    grpc::CallbackServerContext* context,
    const inference::ServerLiveRequest* /*request*/,
    inference::ServerLiveResponse* response) {
  return ServeUnary(backend_.metrics, Metrics::Rpc::kServerLive, context,
                    [&](Call& call) {
                      call.Received();
                      response->set_live(true);
                      call.Sent();
                      return absl::OkStatus();
                    });
}

grpc::ServerUnaryReactor* OipService::ServerReady(
    grpc::CallbackServerContext* context,
    const inference::ServerReadyRequest* /*request*/,
    inference::ServerReadyResponse* response) {
  return ServeUnary(backend_.metrics, Metrics::Rpc::kServerReady, context,
                    [&](Call& call) {
                      call.Received();
                      response->set_ready(!backend_.gate->draining());
                      call.Sent();
                      return absl::OkStatus();
                    });
}

grpc::ServerUnaryReactor* OipService::ModelReady(
    grpc::CallbackServerContext* context,
    const inference::ModelReadyRequest* request,
    inference::ModelReadyResponse* response) {
  return ServeUnary(
      backend_.metrics, Metrics::Rpc::kModelReady, context, [&](Call& call) {
        call.Received();
        if (absl::Status s =
                oip::CheckModel(request->name(), request->version());
            !s.ok()) {
          return s;
        }
        response->set_ready(!backend_.gate->draining());
        call.Sent();
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* OipService::ServerMetadata(
    grpc::CallbackServerContext* context,
    const inference::ServerMetadataRequest* /*request*/,
    inference::ServerMetadataResponse* response) {
  return ServeUnary(backend_.metrics, Metrics::Rpc::kServerMetadata, context,
                    [&](Call& call) {
                      call.Received();
                      if (absl::Status s = call.Authorize(*backend_.gate);
                          !s.ok())
                        return s;
                      response->set_name("activation-service");
                      response->set_version(backend_.info->version());
                      response->add_extensions("binary_tensor_data");
                      response->add_extensions("model_stream_infer");
                      call.Sent();
                      return absl::OkStatus();
                    });
}

grpc::ServerUnaryReactor* OipService::ModelMetadata(
    grpc::CallbackServerContext* context,
    const inference::ModelMetadataRequest* request,
    inference::ModelMetadataResponse* response) {
  return ServeUnary(
      backend_.metrics, Metrics::Rpc::kModelMetadata, context, [&](Call& call) {
        call.Received();
        if (absl::Status s = call.Authorize(*backend_.gate); !s.ok()) return s;
        if (absl::Status s =
                oip::CheckModel(request->name(), request->version());
            !s.ok()) {
          return s;
        }
        response->set_name(std::string(oip::kModelName));
        response->add_versions(std::string(oip::kModelVersion));
        response->set_platform(std::string(oip::kPlatform));
        *response->add_inputs() = TensorMetadata(oip::kInputName);
        *response->add_outputs() = TensorMetadata(oip::kOutputName);
        call.Sent();
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* OipService::ModelInfer(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  return ServeRawUnary(backend_, Metrics::Rpc::kModelInfer, context, request,
                       [&](Call& call, grpc::ByteBuffer* bytes) {
                         return InferBytes(backend_, call, bytes, response);
                       });
}

grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>*
OipService::ModelStreamInfer(grpc::CallbackServerContext* context) {
  return StreamReactor<InferStep>::Start(
      backend_, Metrics::Rpc::kModelStreamInfer, context);
}

}  // namespace activation::server

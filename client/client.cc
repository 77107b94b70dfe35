#include "client/client.h"

#include <chrono>
#include <condition_variable>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "grpc/health/v1/health.grpc.pb.h"

namespace activation {
namespace {

// Room for a request's fields besides the payload (dtype, shape, params).
constexpr uint64_t kMessageOverhead = 4096;
// Tensors up to this size go in one call without asking the server's limit.
constexpr uint64_t kSmallTensorBytes = 65536;

absl::StatusOr<std::string> ReadFile(const std::string& option,
                                     const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    return absl::InvalidArgumentError(
        absl::StrCat(option, ": cannot read \"", path, "\""));
  }
  std::ostringstream contents;
  contents << file.rdbuf();
  return contents.str();
}

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> Credentials(
    const ClientOptions& o) {
  const bool mtls = !o.tls_cert_file.empty() || !o.tls_key_file.empty();
  if (!o.tls && o.tls_ca_file.empty() && !mtls) {
    return grpc::InsecureChannelCredentials();
  }
  if (o.tls_cert_file.empty() != o.tls_key_file.empty()) {
    return absl::InvalidArgumentError("tls_cert and tls_key go together");
  }
  grpc::SslCredentialsOptions ssl;
  if (!o.tls_ca_file.empty()) {
    absl::StatusOr<std::string> ca = ReadFile("tls_ca", o.tls_ca_file);
    if (!ca.ok()) return ca.status();
    ssl.pem_root_certs = *ca;
  }
  if (mtls) {
    absl::StatusOr<std::string> cert = ReadFile("tls_cert", o.tls_cert_file);
    if (!cert.ok()) return cert.status();
    absl::StatusOr<std::string> key = ReadFile("tls_key", o.tls_key_file);
    if (!key.ok()) return key.status();
    ssl.pem_cert_chain = *cert;
    ssl.pem_private_key = *key;
  }
  return grpc::SslCredentials(ssl);
}

std::string ServiceConfig(const std::string& target, bool retry) {
  std::string config = "{";
  // Schemes that can name several servers: balance per call over them all.
  if (absl::StartsWith(target, "dns:") || absl::StartsWith(target, "ipv4:") ||
      absl::StartsWith(target, "ipv6:")) {
    config += R"("loadBalancingConfig": [{"round_robin": {}}])";
  }
  if (retry) {
    if (config.size() > 1) config += ", ";
    config += R"("methodConfig": [{
      "name": [{"service": "activation.v1.ActivationService"}],
      "retryPolicy": {
        "maxAttempts": 3, "initialBackoff": "0.1s", "maxBackoff": "1s",
        "backoffMultiplier": 2, "retryableStatusCodes": ["UNAVAILABLE"]}}])";
  }
  return config + "}";
}

v1::ReluRequest MakeRequest(const Tensor& tensor, const ReluParams& params) {
  v1::ReluRequest request;
  v1::Tensor* input = request.mutable_input();
  input->set_dtype(static_cast<v1::DataType>(static_cast<int>(tensor.dtype)));
  for (int64_t dim : tensor.shape) input->add_shape(dim);
  *request.mutable_params() = ToWire(params);
  return request;
}

// Checks that a response matches its request's dtype and size.
absl::Status CheckOutput(const v1::Tensor& output, core::DataType dtype,
                         uint64_t bytes) {
  if (output.dtype() != static_cast<int>(dtype) ||
      output.raw_data().size() != bytes) {
    return absl::InternalError(
        absl::StrCat("server answered ", output.raw_data().size(),
                     " bytes of dtype ", output.dtype(), "; expected ", bytes,
                     " bytes of ", core::DataTypeName(dtype)));
  }
  return absl::OkStatus();
}

}  // namespace

v1::ReluParams ToWire(const ReluParams& params) {
  v1::ReluParams wire;
  if (params.max_value.has_value()) wire.set_max_value(*params.max_value);
  wire.set_negative_slope(params.negative_slope);
  wire.set_threshold(params.threshold);
  wire.set_mode(params.mode == core::Mode::kKeras ? v1::MODE_KERAS
                                                  : v1::MODE_DOCUMENTED);
  return wire;
}

absl::Status FromGrpcStatus(const grpc::Status& status, absl::string_view rpc) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                      absl::StrCat(rpc, ": ", status.error_message()));
}

absl::StatusOr<std::unique_ptr<Client>> Client::Create(
    const std::string& target, const ClientOptions& options) {
  if (target.empty()) return absl::InvalidArgumentError("target is empty");
  if (options.max_chunks_in_flight <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_chunks_in_flight must be > 0, got ",
                     options.max_chunks_in_flight));
  }
  if (options.max_message_bytes < 0 ||
      static_cast<uint64_t>(options.max_message_bytes) <
          kSmallTensorBytes + kMessageOverhead) {
    return absl::InvalidArgumentError(absl::StrCat(
        "max_message_bytes must be >= ", kSmallTensorBytes + kMessageOverhead,
        ", got ", options.max_message_bytes));
  }
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> credentials =
      Credentials(options);
  if (!credentials.ok()) return credentials.status();
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(options.max_message_bytes);
  args.SetMaxSendMessageSize(options.max_message_bytes);
  args.SetServiceConfigJSON(ServiceConfig(target, options.retry_unavailable));
  if (options.dedicated_connection) {
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  }
  if (!options.tls_server_name.empty()) {
    args.SetSslTargetNameOverride(options.tls_server_name);
  }
  if (options.keepalive > absl::ZeroDuration()) {
    args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS,
                static_cast<int>(absl::ToInt64Milliseconds(options.keepalive)));
    args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10000);
  }
  return std::unique_ptr<Client>(new Client(
      options, grpc::CreateCustomChannel(target, *credentials, args)));
}

Client::Client(ClientOptions options, std::shared_ptr<grpc::Channel> channel)
    : options_(std::move(options)),
      channel_(std::move(channel)),
      stub_(v1::ActivationService::NewStub(channel_)) {}

std::unique_ptr<grpc::ClientContext> Client::NewContext(
    std::optional<absl::Duration> deadline) const {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(
      absl::ToChronoTime(absl::Now() + deadline.value_or(options_.deadline)));
  if (!options_.token.empty()) {
    context->AddMetadata("authorization", "Bearer " + options_.token);
  }
  return context;
}

absl::StatusOr<uint64_t> Client::MaxPayloadBytes() {
  absl::MutexLock lock(&mu_);
  if (!max_payload_bytes_.has_value()) {
    int64_t limit = options_.max_message_bytes;
    absl::StatusOr<v1::ServerInfo> info = GetServerInfo();
    if (info.ok()) {
      if (info->max_message_bytes() > 0) {  // 0: a server that doesn't say
        limit = std::min<int64_t>(limit, info->max_message_bytes());
      }
    } else if (info.status().code() != absl::StatusCode::kUnimplemented) {
      return info.status();
    }
    // Our servers accept at least kSmallTensorBytes + kMessageOverhead;
    // keep half of a smaller limit for the tensor anyway.
    const auto overhead =
        std::min<int64_t>(static_cast<int64_t>(kMessageOverhead), limit / 2);
    max_payload_bytes_ = static_cast<uint64_t>(limit - overhead);
  }
  return *max_payload_bytes_;
}

absl::StatusOr<Tensor> Client::Relu(Tensor input, const ReluParams& params,
                                    std::optional<absl::Duration> deadline) {
  const uint64_t bytes = input.elements() * core::ItemSize(input.dtype);
  if (input.data.size() != bytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "tensor has ", input.data.size(), " bytes; its shape needs ", bytes));
  }
  // Small tensors fit in the messages of every server (its
  // --max_message_bytes is at least 128 KiB) and skip the GetServerInfo probe.
  if (bytes > kSmallTensorBytes) {
    absl::StatusOr<uint64_t> max_payload = MaxPayloadBytes();
    if (!max_payload.ok()) return max_payload.status();
    if (bytes > *max_payload) {
      return ReluChunked(std::move(input), params,
                         deadline.value_or(options_.deadline), *max_payload);
    }
  }
  v1::ReluRequest request = MakeRequest(input, params);
  request.mutable_input()->set_raw_data(std::move(input.data));
  v1::ReluResponse response;
  std::unique_ptr<grpc::ClientContext> context = NewContext(deadline);
  if (absl::Status s = FromGrpcStatus(
          stub_->Relu(context.get(), request, &response), "Relu");
      !s.ok()) {
    return s;
  }
  if (absl::Status s = CheckOutput(response.output(), input.dtype, bytes);
      !s.ok()) {
    return s;
  }
  input.data = std::move(*response.mutable_output()->mutable_raw_data());
  return input;
}

absl::StatusOr<Tensor> Client::ReluChunked(Tensor input,
                                           const ReluParams& params,
                                           absl::Duration deadline,
                                           uint64_t chunk_bytes) {
  const size_t item = core::ItemSize(input.dtype);
  const uint64_t chunk_elements = std::max<uint64_t>(1, chunk_bytes / item);
  const uint64_t total = input.elements();
  const uint64_t chunks = (total + chunk_elements - 1) / chunk_elements;
  std::unique_ptr<grpc::ClientContext> context = NewContext(deadline);
  auto stream = stub_->ReluStream(context.get());

  // The writer sends chunk i once fewer than max_chunks_in_flight are
  // unanswered; this thread reads answer i into the chunk's own bytes.
  std::mutex mu;
  std::condition_variable answered;
  uint64_t done = 0;
  bool stop = false;
  std::thread writer([&] {
    for (uint64_t i = 0; i < chunks; ++i) {
      {
        std::unique_lock<std::mutex> lock(mu);
        answered.wait(lock, [&] {
          return stop || i - done < static_cast<uint64_t>(
                                        options_.max_chunks_in_flight);
        });
        if (stop) break;
      }
      const uint64_t begin = i * chunk_elements;
      const uint64_t count = std::min(chunk_elements, total - begin);
      Tensor chunk;
      chunk.dtype = input.dtype;
      chunk.shape = {static_cast<int64_t>(count)};
      v1::ReluRequest request = MakeRequest(chunk, params);
      request.mutable_input()->set_raw_data(input.data.data() + begin * item,
                                            count * item);
      if (!stream->Write(request)) break;
    }
    stream->WritesDone();
  });

  absl::Status status;
  v1::ReluResponse response;
  for (uint64_t i = 0; i < chunks; ++i) {
    if (!stream->Read(&response)) break;
    const uint64_t begin = i * chunk_elements;
    const uint64_t count = std::min(chunk_elements, total - begin);
    status = CheckOutput(response.output(), input.dtype, count * item);
    if (!status.ok()) {
      context->TryCancel();
      break;
    }
    std::memcpy(input.data.data() + begin * item,
                response.output().raw_data().data(), count * item);
    {
      std::lock_guard<std::mutex> lock(mu);
      done = i + 1;
    }
    answered.notify_all();
  }
  {
    std::lock_guard<std::mutex> lock(mu);
    stop = true;
  }
  answered.notify_all();
  if (done < chunks && status.ok()) context->TryCancel();
  writer.join();
  const absl::Status finish = FromGrpcStatus(stream->Finish(), "ReluStream");
  if (!status.ok()) return status;
  if (!finish.ok()) return finish;
  if (done < chunks) {
    return absl::InternalError(
        absl::StrCat("ReluStream: answered ", done, " of ", chunks, " chunks"));
  }
  return input;
}

void Client::ReluAsync(Tensor input, const ReluParams& params, Callback done,
                       std::optional<absl::Duration> deadline) {
  const uint64_t bytes = input.elements() * core::ItemSize(input.dtype);
  if (bytes > kSmallTensorBytes || input.data.size() != bytes) {
    // Large (maybe chunked) or malformed: the synchronous path, on a thread.
    std::thread([this, input = std::move(input), params, done = std::move(done),
                 deadline]() mutable {
      done(Relu(std::move(input), params, deadline));
    }).detach();
    return;
  }
  struct Call {
    std::unique_ptr<grpc::ClientContext> context;
    v1::ReluRequest request;
    v1::ReluResponse response;
    Tensor tensor;  // dtype and shape of the answer
    Callback done;
  };
  auto* call = new Call;
  call->context = NewContext(deadline);
  call->request = MakeRequest(input, params);
  call->request.mutable_input()->set_raw_data(std::move(input.data));
  call->tensor = std::move(input);
  call->done = std::move(done);
  stub_->async()->Relu(
      call->context.get(), &call->request, &call->response,
      [call, bytes](grpc::Status grpc_status) {
        std::unique_ptr<Call> owned(call);
        absl::Status status = FromGrpcStatus(grpc_status, "Relu");
        if (status.ok()) {
          status =
              CheckOutput(owned->response.output(), owned->tensor.dtype, bytes);
        }
        if (!status.ok()) {
          owned->done(status);
          return;
        }
        owned->tensor.data =
            std::move(*owned->response.mutable_output()->mutable_raw_data());
        owned->done(std::move(owned->tensor));
      });
}

absl::StatusOr<v1::ServerInfo> Client::GetServerInfo(
    std::optional<absl::Duration> deadline) {
  std::unique_ptr<grpc::ClientContext> context = NewContext(deadline);
  v1::ServerInfo info;
  if (absl::Status s =
          FromGrpcStatus(stub_->GetServerInfo(
                             context.get(), v1::GetServerInfoRequest(), &info),
                         "GetServerInfo");
      !s.ok()) {
    return s;
  }
  return info;
}

absl::StatusOr<std::string> Client::Health(
    const std::string& service, std::optional<absl::Duration> deadline) {
  auto health = grpc::health::v1::Health::NewStub(channel_);
  std::unique_ptr<grpc::ClientContext> context = NewContext(deadline);
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(service);
  grpc::health::v1::HealthCheckResponse response;
  if (absl::Status s = FromGrpcStatus(
          health->Check(context.get(), request, &response), "Health/Check");
      !s.ok()) {
    return s;
  }
  return grpc::health::v1::HealthCheckResponse::ServingStatus_Name(
      response.status());
}

}  // namespace activation

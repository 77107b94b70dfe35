#include "client/client.h"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <sstream>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "wire/convert.h"

namespace activation {
namespace {

using Done = Client::Callback;

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

grpc::ChannelArguments ChannelArgs(const std::string& target,
                                   const ClientOptions& options) {
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
  return args;
}

absl::Status FromGrpcStatus(const grpc::Status& status, absl::string_view rpc) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                      absl::StrCat(rpc, ": ", status.error_message()));
}

// Returns the size `input.data` must have; InvalidArgument if its shape is
// bad or its data has another size.
absl::StatusOr<uint64_t> CheckInput(const Tensor& input) {
  absl::StatusOr<uint64_t> bytes = ByteSize(input);
  if (!bytes.ok()) return bytes.status();
  if (input.data.size() != *bytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "tensor has ", input.data.size(), " bytes; its shape needs ", *bytes));
  }
  return *bytes;
}

// Returns the payload limit given the client's message limit and the
// server's answer to GetServerInfo.
absl::StatusOr<uint64_t> PayloadLimit(
    int64_t client_limit, const absl::StatusOr<v1::ServerInfo>& info) {
  int64_t limit = client_limit;
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
  return static_cast<uint64_t>(limit - overhead);
}

// Returns a request with the dtype and params set, and no shape or payload.
v1::ReluRequest RequestFor(core::DataType dtype, const ReluParams& params) {
  v1::ReluRequest request;
  request.mutable_input()->set_dtype(wire::DataTypeToProto(dtype));
  *request.mutable_params() = wire::ParamsToProto(params);
  return request;
}

// Returns the request for all of `input`, moving its data out.
v1::ReluRequest RequestFor(Tensor& input, const ReluParams& params) {
  v1::ReluRequest request = RequestFor(input.dtype, params);
  for (int64_t dim : input.shape) request.mutable_input()->add_shape(dim);
  request.mutable_input()->set_raw_data(std::move(input.data));
  return request;
}

// The status of a call not started because ~Client has begun.
absl::Status Closing(absl::string_view rpc) {
  return absl::CancelledError(
      absl::StrCat(rpc, ": the client is being destroyed"));
}

// Checks that a response matches its request's dtype and size.
absl::Status CheckOutput(const v1::Tensor& output, core::DataType dtype,
                         uint64_t bytes) {
  if (output.dtype() != wire::DataTypeToProto(dtype) ||
      output.raw_data().size() != bytes) {
    return absl::InternalError(
        absl::StrCat("server answered ", output.raw_data().size(),
                     " bytes of dtype ", output.dtype(), "; expected ", bytes,
                     " bytes of ", core::DataTypeName(dtype)));
  }
  return absl::OkStatus();
}

// Returns `tensor` holding the output of a unary Relu call, or its error.
absl::StatusOr<Tensor> TakeOutput(const grpc::Status& grpc_status,
                                  v1::ReluResponse& response, Tensor tensor,
                                  uint64_t bytes) {
  if (absl::Status s = FromGrpcStatus(grpc_status, "Relu"); !s.ok()) return s;
  if (absl::Status s = CheckOutput(response.output(), tensor.dtype, bytes);
      !s.ok()) {
    return s;
  }
  tensor.data = std::move(*response.mutable_output()->mutable_raw_data());
  return tensor;
}

// ReLU of one tensor as chunks over one ReluStream, through gRPC's callback
// API: chunk i is written once fewer than `max_in_flight` chunks are
// unanswered, and answer i is copied into chunk i's own bytes. One write and
// one read are outstanding at most. Deletes itself after calling `done`.
class ChunkedRelu final
    : public grpc::ClientBidiReactor<v1::ReluRequest, v1::ReluResponse> {
 public:
  ChunkedRelu(Tensor tensor, const ReluParams& params, uint64_t chunk_bytes,
              int max_in_flight, std::shared_ptr<grpc::ClientContext> context,
              Done done)
      : item_(core::ItemSize(tensor.dtype)),
        chunk_elements_(std::max<uint64_t>(1, chunk_bytes / item_)),
        total_(tensor.data.size() / item_),
        chunks_((total_ + chunk_elements_ - 1) / chunk_elements_),
        max_in_flight_(static_cast<uint64_t>(max_in_flight)),
        context_(std::move(context)),
        done_(std::move(done)),
        request_(RequestFor(tensor.dtype, params)),
        tensor_(std::move(tensor)) {}

  // Starts the stream. `stub` need only live until Start returns.
  void Start(v1::ActivationService::Stub& stub) {
    stub.async()->ReluStream(context_.get(), this);
    StartRead(&response_);
    WriteNext();
    StartCall();
  }

 private:
  void OnWriteDone(bool ok) override {
    {
      absl::MutexLock lock(&mu_);
      writing_ = false;
      if (!ok) writes_over_ = true;  // the stream is ending; OnDone says why
    }
    WriteNext();
  }

  void OnReadDone(bool ok) override {
    if (!ok) return;  // the stream ended; OnDone says why
    const uint64_t begin = answered() * chunk_elements_;
    const uint64_t bytes = std::min(chunk_elements_, total_ - begin) * item_;
    if (absl::Status s = CheckOutput(response_.output(), tensor_.dtype, bytes);
        !s.ok()) {
      {
        absl::MutexLock lock(&mu_);
        error_ = s;
      }
      context_->TryCancel();
      return;
    }
    std::memcpy(tensor_.data.data() + begin * item_,
                response_.output().raw_data().data(), bytes);
    bool more;
    {
      absl::MutexLock lock(&mu_);
      more = ++answered_ < chunks_;
    }
    if (more) StartRead(&response_);
    WriteNext();
  }

  void OnDone(const grpc::Status& grpc_status) override {
    absl::StatusOr<Tensor> result;
    {
      absl::MutexLock lock(&mu_);
      absl::Status status = error_;
      if (status.ok()) status = FromGrpcStatus(grpc_status, "ReluStream");
      if (status.ok() && answered_ < chunks_) {
        status = absl::InternalError(absl::StrCat(
            "ReluStream: answered ", answered_, " of ", chunks_, " chunks"));
      }
      result = status.ok() ? absl::StatusOr<Tensor>(std::move(tensor_))
                           : absl::StatusOr<Tensor>(status);
    }
    Done done = std::move(done_);
    delete this;
    done(std::move(result));
  }

  uint64_t answered() {
    absl::MutexLock lock(&mu_);
    return answered_;
  }

  // Writes the next chunk, or ends the writes after the last, unless a
  // write is outstanding or max_in_flight chunks are unanswered.
  void WriteNext() {
    uint64_t index;
    {
      absl::MutexLock lock(&mu_);
      if (writing_ || writes_over_) return;
      if (next_write_ == chunks_) {
        writes_over_ = true;
        index = chunks_;
      } else if (next_write_ - answered_ >= max_in_flight_) {
        return;
      } else {
        index = next_write_++;
        writing_ = true;
      }
    }
    if (index == chunks_) {
      StartWritesDone();
      return;
    }
    // request_ is ours alone until OnWriteDone.
    const uint64_t begin = index * chunk_elements_;
    const uint64_t count = std::min(chunk_elements_, total_ - begin);
    v1::Tensor* input = request_.mutable_input();
    input->clear_shape();
    input->add_shape(static_cast<int64_t>(count));
    input->set_raw_data(tensor_.data.data() + begin * item_, count * item_);
    StartWrite(&request_);
  }

  const size_t item_;
  const uint64_t chunk_elements_;
  const uint64_t total_;   // elements
  const uint64_t chunks_;  // > 0: the tensor is over the payload limit
  const uint64_t max_in_flight_;
  const std::shared_ptr<grpc::ClientContext> context_;
  Done done_;
  v1::ReluRequest request_;    // the chunk being written
  v1::ReluResponse response_;  // the answer being read
  // Chunks are read from and answers written to disjoint bytes, each by the
  // one thread whose write or read it is.
  Tensor tensor_;
  absl::Mutex mu_;
  uint64_t next_write_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t answered_ ABSL_GUARDED_BY(mu_) = 0;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool writes_over_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status error_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

absl::StatusOr<std::shared_ptr<grpc::Channel>> CreateChannel(
    const std::string& target, const ClientOptions& options) {
  if (target.empty()) return absl::InvalidArgumentError("target is empty");
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> credentials =
      Credentials(options);
  if (!credentials.ok()) return credentials.status();
  return grpc::CreateCustomChannel(target, *credentials,
                                   ChannelArgs(target, options));
}

absl::StatusOr<std::unique_ptr<Client>> Client::Create(
    const std::string& target, const ClientOptions& options) {
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
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel =
      CreateChannel(target, options);
  if (!channel.ok()) return channel.status();
  return std::unique_ptr<Client>(new Client(options, *std::move(channel)));
}

Client::Client(ClientOptions options, std::shared_ptr<grpc::Channel> channel)
    : options_(std::move(options)),
      channel_(std::move(channel)),
      stub_(v1::ActivationService::NewStub(channel_)) {}

Client::~Client() {
  std::vector<std::shared_ptr<grpc::ClientContext>> live;
  {
    absl::MutexLock lock(&mu_);
    closing_ = true;
    live.assign(live_contexts_.begin(), live_contexts_.end());
  }
  // Not under mu_: gRPC may run the calls' reactions on this thread.
  for (const auto& context : live) context->TryCancel();
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(
      +[](int* outstanding) { return *outstanding == 0; },
      &outstanding_calls_));
}

absl::Time Client::DeadlineFrom(std::optional<absl::Duration> timeout) const {
  return absl::Now() + timeout.value_or(options_.deadline);
}

std::shared_ptr<grpc::ClientContext> Client::NewContext(absl::Time deadline) {
  auto context = std::make_shared<grpc::ClientContext>();
  context->set_deadline(absl::ToChronoTime(deadline));
  if (!options_.token.empty()) {
    context->AddMetadata("authorization", "Bearer " + options_.token);
  }
  absl::MutexLock lock(&mu_);
  if (closing_) return nullptr;
  live_contexts_.insert(context);
  return context;
}

void Client::ReleaseContext(
    const std::shared_ptr<grpc::ClientContext>& context) {
  absl::MutexLock lock(&mu_);
  live_contexts_.erase(context);
}

void Client::BeginCall() {
  absl::MutexLock lock(&mu_);
  ++outstanding_calls_;
}

void Client::EndCall() {
  absl::MutexLock lock(&mu_);
  --outstanding_calls_;
}

absl::StatusOr<uint64_t> Client::MaxPayloadBytes() {
  {
    absl::MutexLock lock(&mu_);
    if (max_payload_bytes_.has_value()) return *max_payload_bytes_;
  }
  // Not under mu_: an RPC. Concurrent first callers may each ask.
  absl::StatusOr<uint64_t> limit =
      PayloadLimit(options_.max_message_bytes, GetServerInfo());
  if (!limit.ok()) return limit.status();
  absl::MutexLock lock(&mu_);
  max_payload_bytes_ = *limit;
  return *limit;
}

absl::StatusOr<Tensor> Client::Relu(Tensor input, const ReluParams& params,
                                    std::optional<absl::Duration> deadline) {
  const absl::StatusOr<uint64_t> bytes = CheckInput(input);
  if (!bytes.ok()) return bytes.status();
  const absl::Time deadline_at = DeadlineFrom(deadline);
  // Small tensors fit in the messages of every server (its
  // --max_message_bytes is at least 128 KiB) and skip the GetServerInfo probe.
  if (*bytes > kSmallTensorBytes) {
    absl::StatusOr<uint64_t> max_payload = MaxPayloadBytes();
    if (!max_payload.ok()) return max_payload.status();
    if (*bytes > *max_payload) {
      absl::Notification finished;
      absl::StatusOr<Tensor> result;
      StartChunked(std::move(input), params, *max_payload, deadline_at,
                   [&](absl::StatusOr<Tensor> r) {
                     result = std::move(r);
                     finished.Notify();
                   });
      finished.WaitForNotification();
      return result;
    }
  }
  std::shared_ptr<grpc::ClientContext> context = NewContext(deadline_at);
  if (context == nullptr) return Closing("Relu");
  v1::ReluRequest request = RequestFor(input, params);
  v1::ReluResponse response;
  const grpc::Status status = stub_->Relu(context.get(), request, &response);
  ReleaseContext(context);
  return TakeOutput(status, response, std::move(input), *bytes);
}

void Client::ReluAsync(Tensor input, const ReluParams& params, Callback done,
                       std::optional<absl::Duration> deadline) {
  const absl::StatusOr<uint64_t> bytes = CheckInput(input);
  if (!bytes.ok()) {
    done(bytes.status());
    return;
  }
  BeginCall();
  Callback finish =
      [this, done = std::move(done)](absl::StatusOr<Tensor> result) mutable {
        Callback callback = std::move(done);
        callback(std::move(result));
        callback = nullptr;  // the caller's state goes before ~Client may end
        EndCall();           // the last use of *this
      };
  const absl::Time deadline_at = DeadlineFrom(deadline);
  std::optional<uint64_t> max_payload;
  {
    absl::MutexLock lock(&mu_);
    max_payload = max_payload_bytes_;
  }
  if (*bytes > kSmallTensorBytes && !max_payload.has_value()) {
    ProbeThenStartRelu(std::move(input), params, *bytes, deadline_at,
                       std::move(finish));
    return;
  }
  StartRelu(std::move(input), params, *bytes,
            max_payload.value_or(kSmallTensorBytes), deadline_at,
            std::move(finish));
}

void Client::StartRelu(Tensor input, const ReluParams& params, uint64_t bytes,
                       uint64_t max_payload, absl::Time deadline,
                       Callback done) {
  if (bytes > max_payload) {
    StartChunked(std::move(input), params, max_payload, deadline,
                 std::move(done));
  } else {
    StartUnary(std::move(input), params, bytes, deadline, std::move(done));
  }
}

void Client::ProbeThenStartRelu(Tensor input, const ReluParams& params,
                                uint64_t bytes, absl::Time deadline,
                                Callback done) {
  struct Probe {
    std::shared_ptr<grpc::ClientContext> context;
    v1::GetServerInfoRequest request;
    v1::ServerInfo info;
    Tensor input;
    ReluParams params;
    Callback done;
  };
  auto probe = std::make_shared<Probe>();
  probe->context = NewContext(deadline);
  if (probe->context == nullptr) return done(Closing("GetServerInfo"));
  probe->input = std::move(input);
  probe->params = params;
  probe->done = std::move(done);
  stub_->async()->GetServerInfo(
      probe->context.get(), &probe->request, &probe->info,
      [this, probe, bytes, deadline](grpc::Status grpc_status) {
        ReleaseContext(probe->context);
        probe->context.reset();  // contexts go before ~Client may end
        absl::StatusOr<v1::ServerInfo> info = std::move(probe->info);
        if (!grpc_status.ok()) {
          info = FromGrpcStatus(grpc_status, "GetServerInfo");
        }
        absl::StatusOr<uint64_t> limit =
            PayloadLimit(options_.max_message_bytes, info);
        if (!limit.ok()) return probe->done(limit.status());
        {
          absl::MutexLock lock(&mu_);
          max_payload_bytes_ = *limit;
        }
        StartRelu(std::move(probe->input), probe->params, bytes, *limit,
                  deadline, std::move(probe->done));
      });
}

void Client::StartUnary(Tensor input, const ReluParams& params, uint64_t bytes,
                        absl::Time deadline, Callback done) {
  struct Call {
    std::shared_ptr<grpc::ClientContext> context;
    v1::ReluRequest request;
    v1::ReluResponse response;
    Tensor tensor;  // dtype and shape of the answer
    Callback done;
  };
  auto call = std::make_unique<Call>();
  call->context = NewContext(deadline);
  if (call->context == nullptr) return done(Closing("Relu"));
  call->request = RequestFor(input, params);
  call->tensor = std::move(input);
  call->done = std::move(done);
  Call* raw = call.release();  // owned by the callback below
  stub_->async()->Relu(raw->context.get(), &raw->request, &raw->response,
                       [this, raw, bytes](grpc::Status grpc_status) {
                         std::unique_ptr<Call> owned(raw);
                         ReleaseContext(owned->context);
                         Callback done = std::move(owned->done);
                         absl::StatusOr<Tensor> result =
                             TakeOutput(grpc_status, owned->response,
                                        std::move(owned->tensor), bytes);
                         owned.reset();
                         done(std::move(result));
                       });
}

void Client::StartChunked(Tensor input, const ReluParams& params,
                          uint64_t chunk_bytes, absl::Time deadline,
                          Callback done) {
  std::shared_ptr<grpc::ClientContext> context = NewContext(deadline);
  if (context == nullptr) return done(Closing("ReluStream"));
  auto* stream =
      new ChunkedRelu(std::move(input), params, chunk_bytes,
                      options_.max_chunks_in_flight, context,
                      [this, context, done = std::move(done)](
                          absl::StatusOr<Tensor> result) mutable {
                        ReleaseContext(context);
                        context.reset();  // contexts go before ~Client may end
                        Callback callback = std::move(done);
                        callback(std::move(result));
                      });
  stream->Start(*stub_);
}

absl::StatusOr<v1::ServerInfo> Client::GetServerInfo(
    std::optional<absl::Duration> deadline) {
  std::shared_ptr<grpc::ClientContext> context =
      NewContext(DeadlineFrom(deadline));
  if (context == nullptr) return Closing("GetServerInfo");
  v1::ServerInfo info;
  const grpc::Status status =
      stub_->GetServerInfo(context.get(), v1::GetServerInfoRequest(), &info);
  ReleaseContext(context);
  if (absl::Status s = FromGrpcStatus(status, "GetServerInfo"); !s.ok()) {
    return s;
  }
  return info;
}

absl::StatusOr<std::string> Client::Health(
    const std::string& service, std::optional<absl::Duration> deadline) {
  auto health = grpc::health::v1::Health::NewStub(channel_);
  std::shared_ptr<grpc::ClientContext> context =
      NewContext(DeadlineFrom(deadline));
  if (context == nullptr) return Closing("Health/Check");
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(service);
  grpc::health::v1::HealthCheckResponse response;
  const grpc::Status status = health->Check(context.get(), request, &response);
  ReleaseContext(context);
  if (absl::Status s = FromGrpcStatus(status, "Health/Check"); !s.ok()) {
    return s;
  }
  return grpc::health::v1::HealthCheckResponse::ServingStatus_Name(
      response.status());
}

}  // namespace activation

// A C++ client for activation.v1.ActivationService.
//
//   auto client = activation::Client::Create("127.0.0.1:50051");
//   absl::StatusOr<activation::Tensor> out =
//       (*client)->Relu(activation::Tensor::Float32({-1, 2, 7}));
//
// Tensors of any size: one larger than the server's message limit is split
// into chunks streamed over ReluStream, a bounded number in flight, and the
// answers are written back into the tensor's own buffer. ReLU is element-wise,
// so the result is the same as one call's.

#ifndef ACTIVATION_CLIENT_CLIENT_H_
#define ACTIVATION_CLIENT_CLIENT_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "activation/v1/activation.grpc.pb.h"
#include "client/tensor.h"
#include "grpcpp/grpcpp.h"

namespace activation {

struct ClientOptions {
  // TLS with the system's roots, or with tls_ca_file's when set.
  bool tls = false;
  std::string tls_ca_file;
  // Mutual TLS: the client's certificate and key (PEM files).
  std::string tls_cert_file;
  std::string tls_key_file;
  // Name to verify the server's certificate against, if not the target host.
  std::string tls_server_name;
  // Non-empty: sent as "authorization: Bearer <token>" on every call.
  std::string token;
  // Deadline of calls that give none.
  absl::Duration deadline = absl::Seconds(30);
  // HTTP/2 keepalive ping interval while calls are active; zero: none. The
  // server accepts pings every 10 s at most.
  absl::Duration keepalive = absl::ZeroDuration();
  // Largest message either way; the client also asks the server for its own.
  int max_message_bytes = 64 << 20;
  // Chunks of a large tensor in flight at once (memory: about this many
  // chunks of up to the message limit each).
  int max_chunks_in_flight = 4;
  // Retry calls that fail with UNAVAILABLE (up to 3 attempts, backoff from
  // 0.1 s), through gRPC's service config.
  bool retry_unavailable = true;
  // A TCP connection of this client's own rather than one shared with other
  // clients of the same target (load generators want several).
  bool dedicated_connection = false;
};

// Thread-safe: any number of threads may call at once over one channel.
class Client {
 public:
  using Callback = std::function<void(absl::StatusOr<Tensor>)>;

  // Connects (lazily) to `target`: "host:port", or "dns:///name:port" to
  // balance calls round-robin over every address the name resolves to, or
  // "ipv4:a:p1,b:p2" (and ipv6:) to balance them over the addresses listed.
  // Returns InvalidArgument for bad options or unreadable TLS files.
  static absl::StatusOr<std::unique_ptr<Client>> Create(
      const std::string& target, const ClientOptions& options = {});

  // Not copyable.
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Returns ReLU of `input`, taking its buffer (no copy for the call). Tensors
  // over the message limit go in chunks (see above). Errors: the server's
  // status and message (e.g. INVALID_ARGUMENT "input.raw_data has ..."),
  // UNAVAILABLE when the server cannot be reached, DEADLINE_EXCEEDED.
  absl::StatusOr<Tensor> Relu(
      Tensor input, const ReluParams& params = {},
      std::optional<absl::Duration> deadline = std::nullopt);

  // As Relu, but returns at once and calls `done` with the result, on a
  // gRPC thread (or, for chunked tensors, a thread of its own). *this must
  // outlive the call.
  void ReluAsync(Tensor input, const ReluParams& params, Callback done,
                 std::optional<absl::Duration> deadline = std::nullopt);

  absl::StatusOr<v1::ServerInfo> GetServerInfo(
      std::optional<absl::Duration> deadline = std::nullopt);

  // The serving status of `service` ("" is the whole server).
  absl::StatusOr<std::string> Health(
      const std::string& service = "",
      std::optional<absl::Duration> deadline = std::nullopt);

  // The largest tensor payload sent in one message, in bytes: the smaller
  // of the client's and the server's message limits, less room for the
  // message's other fields.
  absl::StatusOr<uint64_t> MaxPayloadBytes();

  // For tools that make their own calls (activation_client bench): a context
  // with the deadline and token set, and the stub.
  std::unique_ptr<grpc::ClientContext> NewContext(
      std::optional<absl::Duration> deadline = std::nullopt) const;
  v1::ActivationService::Stub& stub() { return *stub_; }

 private:
  Client(ClientOptions options, std::shared_ptr<grpc::Channel> channel);

  absl::StatusOr<Tensor> ReluChunked(Tensor input, const ReluParams& params,
                                     absl::Duration deadline,
                                     uint64_t chunk_bytes);

  const ClientOptions options_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::ActivationService::Stub> stub_;
  absl::Mutex mu_;
  std::optional<uint64_t> max_payload_bytes_ ABSL_GUARDED_BY(mu_);
};

// Converts the wire contract's types, for tools built on the client.
v1::ReluParams ToWire(const ReluParams& params);
absl::Status FromGrpcStatus(const grpc::Status& status, absl::string_view rpc);

}  // namespace activation

#endif  // ACTIVATION_CLIENT_CLIENT_H_

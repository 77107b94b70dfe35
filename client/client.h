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
#include <unordered_set>

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

// Returns a channel to `target` (see Client::Create) with the credentials,
// message limits, service config (round-robin, retries), keepalive and
// connection sharing `options` ask for. The token is not part of the
// channel: callers add it to each call. For tools that make their own calls
// on the same terms as Client (activation_client bench). Returns
// InvalidArgument for an empty target, a certificate without its key (or the
// reverse) or an unreadable TLS file.
absl::StatusOr<std::shared_ptr<grpc::Channel>> CreateChannel(
    const std::string& target, const ClientOptions& options);

// Thread-safe: any number of threads may call at once over one channel.
// Destroying the client cancels the ReluAsync calls still outstanding and
// waits until each has run its callback.
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
  // Cancels outstanding ReluAsync calls and waits for their callbacks. Must
  // not be called from one of those callbacks.
  ~Client();

  // Returns ReLU of `input`, taking its buffer (no copy for the call). Tensors
  // over the message limit go in chunks (see above). Errors: INVALID_ARGUMENT
  // for a bad shape ("tensor.shape[0] must be >= 0, got -1", a size that
  // overflows) or a buffer that does not match it, checked before anything
  // is sent; the server's status and message (e.g. INVALID_ARGUMENT
  // "Relu: input.raw_data has ..."); UNAVAILABLE when the server cannot be
  // reached; DEADLINE_EXCEEDED.
  absl::StatusOr<Tensor> Relu(
      Tensor input, const ReluParams& params = {},
      std::optional<absl::Duration> deadline = std::nullopt);

  // As Relu, but returns at once and calls `done` exactly once with the
  // result: on a gRPC thread, or on the calling thread before ReluAsync
  // returns when `input` is rejected before anything is sent. Starts no
  // thread: chunked tensors stream through gRPC's callback API.
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
  // message's other fields. Asks the server (GetServerInfo) until it has
  // answered once; concurrent first callers may each ask.
  absl::StatusOr<uint64_t> MaxPayloadBytes();

 private:
  Client(ClientOptions options, std::shared_ptr<grpc::Channel> channel);

  // Returns the deadline of a call that gives `timeout`, or none.
  absl::Time DeadlineFrom(std::optional<absl::Duration> timeout) const;

  // Returns a context with the deadline and token set, registered so that
  // ~Client can cancel it until ReleaseContext; null once ~Client has begun.
  std::shared_ptr<grpc::ClientContext> NewContext(absl::Time deadline);
  void ReleaseContext(const std::shared_ptr<grpc::ClientContext>& context);

  // Counts a ReluAsync call from its start until its callback has returned.
  void BeginCall();
  void EndCall();

  // Starts ReLU of a validated `input` of `bytes` bytes, given the payload
  // limit, and calls `done` with the result on a gRPC thread.
  void StartRelu(Tensor input, const ReluParams& params, uint64_t bytes,
                 uint64_t max_payload, absl::Time deadline, Callback done);
  // Asks the server's payload limit, then StartRelu.
  void ProbeThenStartRelu(Tensor input, const ReluParams& params,
                          uint64_t bytes, absl::Time deadline, Callback done);
  void StartUnary(Tensor input, const ReluParams& params, uint64_t bytes,
                  absl::Time deadline, Callback done);
  void StartChunked(Tensor input, const ReluParams& params,
                    uint64_t chunk_bytes, absl::Time deadline, Callback done);

  const ClientOptions options_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::ActivationService::Stub> stub_;
  absl::Mutex mu_;
  std::optional<uint64_t> max_payload_bytes_ ABSL_GUARDED_BY(mu_);
  // ReluAsync calls whose callback has not returned yet.
  int outstanding_calls_ ABSL_GUARDED_BY(mu_) = 0;
  // Set by ~Client: contexts are no longer handed out.
  bool closing_ ABSL_GUARDED_BY(mu_) = false;
  // The contexts of calls in progress, for ~Client to cancel.
  std::unordered_set<std::shared_ptr<grpc::ClientContext>> live_contexts_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace activation

#endif  // ACTIVATION_CLIENT_CLIENT_H_

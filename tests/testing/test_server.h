// A real activation server on 127.0.0.1:0 for tests, and a stub to call it.

#ifndef ACTIVATION_TESTS_TESTING_TEST_SERVER_H_
#define ACTIVATION_TESTS_TESTING_TEST_SERVER_H_

#include <chrono>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "activation/v1/activation.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "server/metrics.h"
#include "server/server.h"
#include "tests/testing/prometheus_text.h"

namespace activation::testing {

// Starts a server with `options` (address forced to 127.0.0.1:0); fails the
// test and returns null if it cannot. Tests shut servers down without the
// production drain delay, unless they set one of their own. No HTTP/REST
// front unless the test asks for one (e.g. "127.0.0.1:0"): tests running
// in parallel must not all bind port 8080.
inline std::unique_ptr<server::Server> StartServer(
    server::ServerOptions options) {
  options.address = "127.0.0.1:0";
  if (options.http_address == server::ServerOptions().http_address) {
    options.http_address = "";
  }
  if (options.drain_delay == server::ServerOptions().drain_delay) {
    options.drain_delay = absl::ZeroDuration();
  }
  auto server = server::Server::Create(options);
  EXPECT_TRUE(server.ok()) << server.status();
  return server.ok() ? *std::move(server) : nullptr;
}

inline std::shared_ptr<grpc::Channel> Connect(
    int port,
    std::shared_ptr<grpc::ChannelCredentials> credentials =
        grpc::InsecureChannelCredentials(),
    int max_message_bytes = 64 << 20) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(max_message_bytes);
  args.SetMaxSendMessageSize(max_message_bytes);
  return grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", port),
                                   credentials, args);
}

// A FLOAT32 tensor in raw_data.
inline v1::Tensor Float32Tensor(const std::vector<float>& values,
                                std::vector<int64_t> shape = {}) {
  v1::Tensor tensor;
  tensor.set_dtype(v1::DATA_TYPE_FLOAT32);
  if (shape.empty()) shape = {static_cast<int64_t>(values.size())};
  for (int64_t dim : shape) tensor.add_shape(dim);
  tensor.set_raw_data(values.data(), values.size() * sizeof(float));
  return tensor;
}

// A request for ReLU of `values` (FLOAT32, 1-d), default parameters.
inline v1::ReluRequest Float32Request(const std::vector<float>& values) {
  v1::ReluRequest request;
  *request.mutable_input() = Float32Tensor(values);
  return request;
}

// Calls Relu with a 30 s deadline.
inline grpc::Status CallRelu(v1::ActivationService::Stub& stub,
                             const v1::ReluRequest& request,
                             v1::ReluResponse* response) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(30));
  return stub.Relu(&context, request, response);
}

inline std::vector<float> Float32Values(const v1::Tensor& tensor) {
  std::vector<float> values(tensor.raw_data().size() / sizeof(float));
  if (!values.empty()) {
    std::memcpy(values.data(), tensor.raw_data().data(),
                values.size() * sizeof(float));
  }
  return values;
}

// Returns the server's gauge `name` (e.g. "activation_inflight_requests":
// computations holding a slot; "activation_memory_held_bytes": bytes that
// computations and their unsent answers hold). The server must have metrics
// on (metrics_address).
inline double Gauge(const server::Server& server, const std::string& name) {
  if (server.metrics() == nullptr) {
    ADD_FAILURE() << "Gauge needs a server with metrics_address set";
    return -1;
  }
  return ParseSamples(server.metrics()->Scrape())[name];
}

inline int Inflight(const server::Server& server) {
  return static_cast<int>(Gauge(server, "activation_inflight_requests"));
}

inline double HeldBytes(const server::Server& server) {
  return Gauge(server, "activation_memory_held_bytes");
}

// How much slower than Release a build runs the tests' large uploads and
// computations: ThreadSanitizer takes ~25 s for a 256 MiB call alone, more
// next to another test.
#if defined(__SANITIZE_THREAD__)
inline constexpr int kSlowdown = 4;
#else
inline constexpr int kSlowdown = 1;
#endif

// Waits until `done(server)` holds or `timeout` (times kSlowdown) passes;
// returns whether it did. Polls every millisecond.
template <typename Predicate>
bool WaitFor(const server::Server& server, const Predicate& done,
             std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
  const auto give_up = std::chrono::steady_clock::now() + kSlowdown * timeout;
  while (!done(server)) {
    if (std::chrono::steady_clock::now() > give_up) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

// Waits until Inflight(server) == `n`; see WaitFor.
inline bool WaitForInflight(
    const server::Server& server, int n,
    std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
  return WaitFor(
      server, [n](const server::Server& s) { return Inflight(s) == n; },
      timeout);
}

// Waits until the server holds an answer it cannot send: its computation
// over (no slot held), its bytes still held.
inline bool WaitForUnsentAnswer(
    const server::Server& server,
    std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
  return WaitFor(
      server,
      // Two scrapes, bytes first: bytes held at the first, no slot at the
      // second means the computation holding them has ended. (One scrape
      // reads the gauges one after the other, and could see the slot
      // before it was taken and the bytes after.)
      [](const server::Server& s) {
        return HeldBytes(s) > 0 && Inflight(s) == 0;
      },
      timeout);
}

}  // namespace activation::testing

#endif  // ACTIVATION_TESTS_TESTING_TEST_SERVER_H_

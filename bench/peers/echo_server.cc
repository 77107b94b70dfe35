// echo_server: the transport's ceiling for activation.v1.ActivationService.
// A bare completion-queue server that answers every Relu call with the
// request's own bytes, never parsed (the method is registered raw, as a
// grpc::ByteBuffer): one completion queue per core, one thread polling each,
// --calls_per_queue calls requested ahead on each. ReluStream and
// GetServerInfo get UNIMPLEMENTED. A peer for bench/compare.sh, not a server
// to deploy. SIGTERM or SIGINT stops it.
//
//   build/bench/echo_server --address=127.0.0.1:0 --port_file=/tmp/port

#include <signal.h>

#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/synchronization/mutex.h"
#include "activation/v1/activation.grpc.pb.h"
#include "grpcpp/grpcpp.h"

ABSL_FLAG(std::string, address, "127.0.0.1:0",
          "host:port to listen on; port 0 picks a free port");
ABSL_FLAG(std::string, port_file, "",
          "once serving, write the bound port and a newline to this file");
ABSL_FLAG(int, queues, 0, "completion queues, one thread each; 0 = cores");
ABSL_FLAG(int, calls_per_queue, 32, "Relu calls requested ahead per queue");
ABSL_FLAG(int, max_message_bytes, 64 << 20,
          "largest message received or sent (activation_server's default)");

namespace {

using activation::v1::ActivationService;

// Relu as raw bytes. The other two methods are left to the generic service
// (which answers UNIMPLEMENTED), so the server needs no threads of its own
// for synchronous methods.
using EchoService = ActivationService::WithRawMethod_Relu<
    ActivationService::WithGenericMethod_ReluStream<
        ActivationService::WithGenericMethod_GetServerInfo<
            ActivationService::Service>>>;

// The services the queues serve.
struct Services {
  EchoService relu;
  grpc::AsyncGenericService other;
};

// One completion queue and whether new calls may still be requested on it.
// Thread-safe.
struct Queue {
  std::unique_ptr<grpc::ServerCompletionQueue> cq;
  absl::Mutex mu;
  bool accepting ABSL_GUARDED_BY(mu) = true;
};

// A call in progress; its address is its tag on the queue. Owns itself:
// Proceed() deletes it once its last tag has come back.
class Call {
 public:
  virtual ~Call() = default;
  // Advances the call on its tag's completion (`ok` as the queue says).
  virtual void Proceed(bool ok) = 0;
};

// One Relu call: answered with its own bytes.
class EchoCall : public Call {
 public:
  // Requests the next Relu call on `queue`. Not owned; both must outlive
  // the call.
  static void Request(Services& services, Queue& queue) {
    absl::MutexLock lock(&queue.mu);
    if (!queue.accepting) return;
    auto* call = new EchoCall(services, queue);
    services.relu.RequestRelu(&call->context_, &call->bytes_, &call->responder_,
                              queue.cq.get(), queue.cq.get(), call);
  }

  void Proceed(bool ok) override {
    if (!ok || answered_) {
      delete this;
      return;
    }
    Request(services_, queue_);
    answered_ = true;
    responder_.Finish(bytes_, grpc::Status::OK, this);
  }

 private:
  EchoCall(Services& services, Queue& queue)
      : services_(services), queue_(queue), responder_(&context_) {}

  Services& services_;
  Queue& queue_;
  grpc::ServerContext context_;
  grpc::ByteBuffer bytes_;
  grpc::ServerAsyncResponseWriter<grpc::ByteBuffer> responder_;
  bool answered_ = false;
};

// A call to any other method: answered UNIMPLEMENTED.
class OtherCall : public Call {
 public:
  // Requests the next such call on `queue`. Not owned; both must outlive
  // the call.
  static void Request(Services& services, Queue& queue) {
    absl::MutexLock lock(&queue.mu);
    if (!queue.accepting) return;
    auto* call = new OtherCall(services, queue);
    services.other.RequestCall(&call->context_, &call->stream_, queue.cq.get(),
                               queue.cq.get(), call);
  }

  void Proceed(bool ok) override {
    if (!ok || answered_) {
      delete this;
      return;
    }
    Request(services_, queue_);
    answered_ = true;
    stream_.Finish(grpc::Status(grpc::StatusCode::UNIMPLEMENTED,
                                context_.method() + " is not served here"),
                   this);
  }

 private:
  OtherCall(Services& services, Queue& queue)
      : services_(services), queue_(queue), stream_(&context_) {}

  Services& services_;
  Queue& queue_;
  grpc::GenericServerContext context_;
  grpc::GenericServerAsyncReaderWriter stream_;
  bool answered_ = false;
};

// Polls `queue` until it is shut down and drained.
void Poll(Queue& queue) {
  void* tag = nullptr;
  bool ok = false;
  while (queue.cq->Next(&tag, &ok)) static_cast<Call*>(tag)->Proceed(ok);
}

// Writes `port` and a newline to `path` all at once (through a rename), so a
// reader never sees half of it. Returns false if it cannot.
bool WritePortFile(const std::string& path, int port) {
  const std::string partial = path + ".partial";
  FILE* file = std::fopen(partial.c_str(), "w");
  if (file == nullptr) return false;
  const bool written = std::fprintf(file, "%d\n", port) > 0;
  return std::fclose(file) == 0 && written &&
         std::rename(partial.c_str(), path.c_str()) == 0;
}

// The server, its queues and their threads. Not thread-safe.
class EchoServer {
 public:
  // Starts serving on `address` with `queue_count` queues and messages of
  // up to `max_message_bytes`; returns null if it cannot listen there.
  static std::unique_ptr<EchoServer> Start(const std::string& address,
                                           int queue_count, int calls_per_queue,
                                           int max_message_bytes) {
    std::unique_ptr<EchoServer> echo(new EchoServer(queue_count));
    grpc::ServerBuilder builder;
    builder.AddListeningPort(address, grpc::InsecureServerCredentials(),
                             &echo->port_);
    builder.SetMaxReceiveMessageSize(max_message_bytes);
    builder.SetMaxSendMessageSize(max_message_bytes);
    builder.RegisterService(&echo->services_.relu);
    builder.RegisterAsyncGenericService(&echo->services_.other);
    for (Queue& queue : echo->queues_) queue.cq = builder.AddCompletionQueue();
    echo->server_ = builder.BuildAndStart();
    if (echo->server_ == nullptr) return nullptr;
    for (Queue& queue : echo->queues_) {
      for (int i = 0; i < calls_per_queue; ++i) {
        EchoCall::Request(echo->services_, queue);
      }
      OtherCall::Request(echo->services_, queue);
      echo->threads_.emplace_back(Poll, std::ref(queue));
    }
    return echo;
  }

  // Not copyable.
  EchoServer(const EchoServer&) = delete;
  EchoServer& operator=(const EchoServer&) = delete;

  // Stops: calls in flight get up to 1 s to finish.
  ~EchoServer() {
    for (Queue& queue : queues_) {
      absl::MutexLock lock(&queue.mu);
      queue.accepting = false;
    }
    if (server_ != nullptr) {
      server_->Shutdown(gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                                     gpr_time_from_seconds(1, GPR_TIMESPAN)));
    }
    for (Queue& queue : queues_) {
      if (queue.cq != nullptr) queue.cq->Shutdown();
    }
    for (std::thread& thread : threads_) thread.join();
    if (threads_.empty()) {  // never started: drain here
      for (Queue& queue : queues_) {
        if (queue.cq != nullptr) Poll(queue);
      }
    }
  }

  int port() const { return port_; }

 private:
  explicit EchoServer(int queue_count) : queues_(queue_count) {}

  Services services_;
  std::vector<Queue> queues_;
  std::unique_ptr<grpc::Server> server_;
  std::vector<std::thread> threads_;
  int port_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  // As activation_server does: Debian's Abseil checks lock order on every
  // lock (gRPC's included) unless told not to.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  sigset_t signals;  // blocked here, so in every thread; main waits for them
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  int queues = absl::GetFlag(FLAGS_queues);
  if (queues <= 0) {
    queues = static_cast<int>(std::thread::hardware_concurrency());
  }
  const std::string address = absl::GetFlag(FLAGS_address);
  auto echo =
      EchoServer::Start(address, queues, absl::GetFlag(FLAGS_calls_per_queue),
                        absl::GetFlag(FLAGS_max_message_bytes));
  if (echo == nullptr) {
    std::fprintf(stderr, "echo_server: cannot listen on %s\n", address.c_str());
    return 1;
  }
  std::fprintf(stderr, "echo_server listening on port %d, %d queues\n",
               echo->port(), queues);
  if (const std::string path = absl::GetFlag(FLAGS_port_file);
      !path.empty() && !WritePortFile(path, echo->port())) {
    std::fprintf(stderr, "echo_server: cannot write %s\n", path.c_str());
    return 1;
  }
  int signal_number = 0;
  sigwait(&signals, &signal_number);
  echo.reset();
  std::fprintf(stderr, "echo_server: stopped\n");
  return 0;
}

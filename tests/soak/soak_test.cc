// A soak of a real activation_server process (docs/testing in issue 11, 3):
// for SOAK_SECONDS (default 170) it drives, concurrently over loopback,
// valid unary and streaming calls of every dtype and mode with random
// parameters and shapes, invalid and oversized requests, calls cancelled
// mid-compute, tiny deadlines, client processes SIGKILLed mid-call, and raw
// garbage TCP connections; then it drains the server with SIGTERM.
//
// It asserts: every OK answer is bit-exact against core::Relu on the same
// bytes; every failure has the code expected for what was sent; the
// server's grpc_server_handled_total per (method, code) is what the clients
// saw, plus at most the calls whose outcome on the server a client cannot
// know (counted per kind, see Reconcile); RSS stays under the budget + 64
// MiB and comes back near its baseline; file descriptors and threads come
// back to their baseline; the server exits 0 after the drain.
//
// The server is a child process (binary from CMake); SOAK_SERVER_ENV adds
// NAME=VALUE,... to its environment only. With --soak_child=PORT the binary
// is instead one of the clients that the soak kills.

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "activation/v1/activation.grpc.pb.h"
#include "core/dtype.h"
#include "core/relu.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "tests/testing/http.h"
#include "tests/testing/prometheus_text.h"

extern char** environ;

namespace activation {
namespace {

// The server's flags (the pod's limits, short timeouts).
constexpr int64_t kMaxMessageBytes = 4 << 20;
constexpr int64_t kMaxMemory = int64_t{512} << 20;
constexpr int kMaxRank = 64;
constexpr absl::Duration kDrainDelay = absl::Seconds(1);
// Valid requests stay this far under the message limit (shape, params).
constexpr uint64_t kMaxValidPayload = kMaxMessageBytes - (4 << 10);
constexpr int64_t kRssBoundKib = (kMaxMemory >> 10) + (64 << 10);
// After the load, once connections are closed: what may stay above the
// baseline taken after a warm-up (see tests/soak/README.md).
constexpr int kFdSlack = 2;
constexpr int kThreadSlack = 2;
constexpr int64_t kRssAfterSlackKib = 64 << 10;

// gRPC-Go's code names, as grpc_server_handled_total's grpc_code holds them.
constexpr std::array<const char*, 17> kCodeNames = {"OK",
                                                    "Canceled",
                                                    "Unknown",
                                                    "InvalidArgument",
                                                    "DeadlineExceeded",
                                                    "NotFound",
                                                    "AlreadyExists",
                                                    "PermissionDenied",
                                                    "ResourceExhausted",
                                                    "FailedPrecondition",
                                                    "Aborted",
                                                    "OutOfRange",
                                                    "Unimplemented",
                                                    "Internal",
                                                    "Unavailable",
                                                    "DataLoss",
                                                    "Unauthenticated"};
constexpr int kCodeCount = kCodeNames.size();

enum Method { kRelu, kReluStream, kGetServerInfo, kMethodCount };
constexpr std::array<const char*, kMethodCount> kMethodNames = {
    "Relu", "ReluStream", "GetServerInfo"};

// gRPC's blocking unary call reports UNIMPLEMENTED "No message returned
// for unary request" when the status it received is OK but its batch
// failed (grpcpp/impl/client_unary_call.h; CallOpRecvMessage drops a
// received message when any op of the batch failed, call_op_set.h): the
// client's deadline firing as the server's OK answer arrives. Seen once in
// about 10^5 calls with 50 us to 5 ms deadlines. The server recorded OK or
// a deadline, as for any call of the deadline group.
bool IsDeadlineRaceVerdict(const grpc::Status& s) {
  return s.error_code() == grpc::StatusCode::UNIMPLEMENTED &&
         s.error_message() == "No message returned for unary request";
}

// Calls whose record on the server the client cannot know, by why. Each may
// be recorded with one of its group's codes, or not at all (it never reached
// the service).
enum Group {
  kCancelled,    // the client's TryCancel won (client saw CANCELLED)
  kDeadline,     // the client's deadline won (client saw DEADLINE_EXCEEDED)
  kKilled,       // the call in progress when its client process was killed
  kGrpcRefused,  // RESOURCE_EXHAUSTED from gRPC, not from the service
  kRawHalfSent,  // a raw HTTP/2 call whose connection closed mid-message
  kGroupCount
};
constexpr std::array<const char*, kGroupCount> kGroupNames = {
    "cancelled", "deadline", "killed", "grpc-refused", "raw-half-sent"};

// The codes the server may record for a call of each group.
bool GroupAllows(Group group, grpc::StatusCode code) {
  using C = grpc::StatusCode;
  switch (group) {
    case kCancelled:
    case kKilled:
      return code == C::OK || code == C::CANCELLED ||
             code == C::RESOURCE_EXHAUSTED;
    case kDeadline:
      return code == C::OK || code == C::CANCELLED ||
             code == C::DEADLINE_EXCEEDED || code == C::RESOURCE_EXHAUSTED;
    case kGrpcRefused:
    case kRawHalfSent:
      return code == C::CANCELLED;
    case kGroupCount:
      break;
  }
  return false;
}

absl::Duration SoakDuration() {
  const char* text = std::getenv("SOAK_SECONDS");
  int seconds = 170;
  if (text != nullptr && !absl::SimpleAtoi(text, &seconds)) seconds = 170;
  return absl::Seconds(std::clamp(seconds, 5, 24 * 3600));
}

// splitmix64: fast, and good enough for test data.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t Next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
  }
  uint64_t Below(uint64_t n) { return n == 0 ? 0 : Next() % n; }
  double Uniform(double lo, double hi) {
    return lo + (hi - lo) * static_cast<double>(Next() >> 11) * 0x1.0p-53;
  }
  bool Chance(double p) { return Uniform(0, 1) < p; }

 private:
  uint64_t state_;
};

// ---------------------------------------------------------------------------
// Requests and their expected answers.

// A valid request and the bytes of its expected output.
struct Case {
  v1::ReluRequest request;
  core::DataType dtype = core::DataType::kFloat32;
  std::vector<int64_t> shape;
  bool float_data = false;
  std::string expected;
};

template <typename T>
T FromDouble(double v) {
  if constexpr (std::is_same_v<T, core::Float16>) {
    return core::Float16{core::FloatToHalf(static_cast<float>(v))};
  } else if constexpr (std::is_same_v<T, core::BFloat16>) {
    return core::BFloat16{core::FloatToBFloat16(static_cast<float>(v))};
  } else if constexpr (std::is_floating_point_v<T>) {
    return static_cast<T>(v);
  } else if constexpr (std::is_signed_v<T>) {
    return static_cast<T>(std::llround(v));
  } else {
    return static_cast<T>(std::llround(std::fabs(v)));
  }
}

// Fills `count` elements: random bit patterns (NaNs, infinities,
// subnormals, extremes) or values around the parameters' range.
void FillElements(Rng& rng, core::DataType dtype, char* out, uint64_t count) {
  const size_t bytes = count * core::ItemSize(dtype);
  if (rng.Chance(0.5)) {
    for (size_t i = 0; i < bytes; i += 8) {
      const uint64_t bits = rng.Next();
      std::memcpy(out + i, &bits, std::min<size_t>(8, bytes - i));
    }
    return;
  }
  core::VisitDataType(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    for (uint64_t i = 0; i < count; ++i) {
      const T value = FromDouble<T>(rng.Uniform(-20, 20));
      std::memcpy(out + i * sizeof(T), &value, sizeof(T));
    }
  });
}

core::ReluParams RandomParams(Rng& rng, core::DataType dtype) {
  for (;;) {
    core::ReluParams params;
    if (rng.Chance(0.4)) params.max_value = rng.Uniform(0, 30);
    if (rng.Chance(0.5)) params.negative_slope = rng.Uniform(0, 1.5);
    if (rng.Chance(0.5)) params.threshold = rng.Uniform(-10, 10);
    if (core::IsFloatingPoint(dtype) && rng.Chance(0.4)) {
      params.mode = core::Mode::kKeras;
    }
    if (core::ValidateReluParams(params, dtype).ok()) return params;
  }
}

// The wire form of `params`, written here rather than by wire::, so that a
// conversion bug on the server's side shows.
void SetParams(Rng& rng, const core::ReluParams& params, v1::ReluRequest* r) {
  const bool defaults = !params.max_value && params.negative_slope == 0 &&
                        params.threshold == 0 &&
                        params.mode == core::Mode::kDocumented;
  if (defaults && rng.Chance(0.5)) return;  // params unset
  v1::ReluParams* wire = r->mutable_params();
  if (params.max_value) wire->set_max_value(*params.max_value);
  wire->set_negative_slope(params.negative_slope);
  wire->set_threshold(params.threshold);
  if (params.mode == core::Mode::kKeras) {
    wire->set_mode(v1::MODE_KERAS);
  } else if (rng.Chance(0.5)) {
    wire->set_mode(v1::MODE_DOCUMENTED);
  }
}

// A row-major shape of about `elements` elements, rank 1 to 4, and its
// exact element count.
std::vector<int64_t> RandomShape(Rng& rng, uint64_t elements, uint64_t* count) {
  const int rank = 1 + static_cast<int>(rng.Below(4));
  std::vector<int64_t> shape(rank, 1);
  uint64_t rest = 1;
  for (int i = 1; i < rank; ++i) {
    shape[i] = 1 + static_cast<int64_t>(rng.Below(8));
    rest *= shape[i];
  }
  shape[0] = static_cast<int64_t>(std::max<uint64_t>(1, elements / rest));
  *count = static_cast<uint64_t>(shape[0]) * rest;
  return shape;
}

// A valid request of any dtype and mode, up to `max_payload` bytes
// (log-uniform; some empty tensors and scalars), with its expected output.
Case RandomCase(Rng& rng, uint64_t max_payload, uint64_t min_payload = 1) {
  Case c;
  c.dtype = core::kAllDataTypes[rng.Below(core::kAllDataTypes.size())];
  const size_t item = core::ItemSize(c.dtype);
  uint64_t count = 0;
  const uint64_t pick = min_payload > 1 ? 9 : rng.Below(20);
  if (pick == 0) {
    c.shape = {static_cast<int64_t>(rng.Below(4)), 0};
  } else if (pick == 1) {
    count = 1;  // a scalar, shape []
  } else {
    const double lo = std::log(static_cast<double>(min_payload));
    const double hi = std::log(static_cast<double>(max_payload));
    const uint64_t bytes = static_cast<uint64_t>(std::exp(rng.Uniform(lo, hi)));
    c.shape = RandomShape(rng, std::max<uint64_t>(1, bytes / item), &count);
  }
  std::string input(count * item, '\0');
  FillElements(rng, c.dtype, input.data(), count);
  const core::ReluParams params = RandomParams(rng, c.dtype);
  c.expected.resize(input.size());
  const absl::Status s =
      core::Relu(params, c.dtype, input.data(), c.expected.data(), count);
  if (!s.ok()) std::abort();  // RandomParams validated them
  v1::Tensor* tensor = c.request.mutable_input();
  tensor->set_dtype(static_cast<v1::DataType>(c.dtype));
  for (int64_t dim : c.shape) tensor->add_shape(dim);
  c.float_data =
      c.dtype == core::DataType::kFloat32 && count > 0 && rng.Chance(0.15);
  if (c.float_data) {
    tensor->mutable_float_data()->Resize(static_cast<int>(count), 0.0f);
    std::memcpy(tensor->mutable_float_data()->mutable_data(), input.data(),
                input.size());
  } else {
    tensor->set_raw_data(std::move(input));
  }
  SetParams(rng, params, &c.request);
  return c;
}

uint64_t PayloadBytes(const v1::Tensor& tensor) {
  return tensor.raw_data().size() +
         static_cast<uint64_t>(tensor.float_data_size()) * 4;
}

// Returns "" when `response` is exactly the expected answer, else why not.
std::string Mismatch(const Case& c, const v1::ReluResponse& response) {
  const v1::Tensor& out = response.output();
  if (out.dtype() != c.request.input().dtype()) return "dtype differs";
  if (!std::equal(out.shape().begin(), out.shape().end(), c.shape.begin(),
                  c.shape.end())) {
    return "shape differs";
  }
  std::string bytes = out.raw_data();
  if (c.float_data) {
    if (!bytes.empty()) return "raw_data in, float_data expected out";
    bytes.resize(static_cast<size_t>(out.float_data_size()) * 4);
    if (!bytes.empty()) {
      std::memcpy(bytes.data(), out.float_data().data(), bytes.size());
    }
  } else if (out.float_data_size() > 0) {
    return "float_data out for raw_data in";
  }
  if (bytes.size() != c.expected.size()) {
    return absl::StrCat("size ", bytes.size(), ", expected ",
                        c.expected.size());
  }
  for (size_t i = 0; i < bytes.size(); ++i) {
    if (bytes[i] != c.expected[i]) {
      return absl::StrCat(core::DataTypeName(c.dtype), " byte ", i,
                          " differs of ", bytes.size(), "; params ",
                          c.request.params().ShortDebugString());
    }
  }
  return "";
}

// True when RESOURCE_EXHAUSTED came from the service's admission (counted
// by the server), not from gRPC.
bool IsServiceRefusal(const grpc::Status& s) {
  return s.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED &&
         (absl::StrContains(s.error_message(), "(--max_inflight)") ||
          absl::StrContains(s.error_message(), "(--max_memory)"));
}

// ---------------------------------------------------------------------------
// What the clients saw.

class Tally {
 public:
  // A call the server must have recorded with exactly `code`.
  void Definite(Method m, const std::string& kind, grpc::StatusCode code) {
    absl::MutexLock lock(&mu_);
    ++definite_[m][code];
    ++by_kind_[{kind, kCodeNames[code]}];
  }
  // A call the server may have recorded with any code of `group`, or not.
  void Ambiguous(Method m, const std::string& kind, Group group,
                 grpc::StatusCode code) {
    absl::MutexLock lock(&mu_);
    ++ambiguous_[m][group];
    ++by_kind_[{kind,
                absl::StrCat(kCodeNames[code], " (", kGroupNames[group], ")")}];
  }
  // Something the server sent that it should not have, or nothing at all.
  void Fail(const std::string& what) {
    absl::MutexLock lock(&mu_);
    if (failures_.size() < 20) failures_.push_back(what);
    ++failure_count_;
  }
  void Count(const std::string& kind, const std::string& what) {
    absl::MutexLock lock(&mu_);
    ++by_kind_[{kind, what}];
  }
  void Bytes(uint64_t sent, uint64_t received) {
    bytes_sent_ += sent;
    bytes_received_ += received;
  }

  // Records a call of `kind` that sent valid requests: OK answers bit-exact
  // (`mismatch` empty), admission refusals, and the codes its `expected`
  // group allows.
  void Outcome(Method m, const std::string& kind, const grpc::Status& s,
               const std::string& mismatch,
               std::optional<Group> expected = std::nullopt) {
    const grpc::StatusCode code = s.error_code();
    if (!mismatch.empty()) Fail(absl::StrCat(kind, ": ", mismatch));
    if (code == grpc::StatusCode::OK || IsServiceRefusal(s)) {
      Definite(m, kind, code);
    } else if (code == grpc::StatusCode::RESOURCE_EXHAUSTED) {
      Ambiguous(m, kind, kGrpcRefused, code);
    } else if (expected == kCancelled && code == grpc::StatusCode::CANCELLED) {
      Ambiguous(m, kind, kCancelled, code);
    } else if (expected == kDeadline &&
               (code == grpc::StatusCode::DEADLINE_EXCEEDED ||
                IsDeadlineRaceVerdict(s))) {
      Ambiguous(m, kind, kDeadline, code);
    } else {
      Count(kind, absl::StrCat(kCodeNames[code], " (unexpected)"));
      Fail(absl::StrCat(kind, ": unexpected ", kCodeNames[code], " \"",
                        s.error_message(), "\""));
    }
  }

  struct Snapshot {
    std::array<std::array<int64_t, kCodeCount>, kMethodCount> definite{};
    std::array<std::array<int64_t, kGroupCount>, kMethodCount> ambiguous{};
    std::map<std::pair<std::string, std::string>, int64_t> by_kind;
    std::vector<std::string> failures;
    int64_t failure_count = 0;
    uint64_t bytes_sent = 0;
    uint64_t bytes_received = 0;
  };
  Snapshot Get() {
    absl::MutexLock lock(&mu_);
    return {definite_,      ambiguous_,  by_kind_,       failures_,
            failure_count_, bytes_sent_, bytes_received_};
  }

 private:
  absl::Mutex mu_;
  std::array<std::array<int64_t, kCodeCount>, kMethodCount> definite_
      ABSL_GUARDED_BY(mu_){};
  std::array<std::array<int64_t, kGroupCount>, kMethodCount> ambiguous_
      ABSL_GUARDED_BY(mu_){};
  std::map<std::pair<std::string, std::string>, int64_t> by_kind_
      ABSL_GUARDED_BY(mu_);
  std::vector<std::string> failures_ ABSL_GUARDED_BY(mu_);
  int64_t failure_count_ ABSL_GUARDED_BY(mu_) = 0;
  std::atomic<uint64_t> bytes_sent_{0};
  std::atomic<uint64_t> bytes_received_{0};
};

// ---------------------------------------------------------------------------
// The server process and what /proc says about it.

int64_t ReadStatusField(pid_t pid, const char* field) {
  std::ifstream status(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(status, line)) {
    if (absl::StartsWith(line, field)) {
      std::istringstream rest(line.substr(std::strlen(field)));
      int64_t value = -1;
      rest >> value;
      return value;
    }
  }
  return -1;
}
int64_t RssKib(pid_t pid) { return ReadStatusField(pid, "VmRSS:"); }
int64_t Threads(pid_t pid) { return ReadStatusField(pid, "Threads:"); }

int CountFds(pid_t pid) {
  DIR* dir = opendir(absl::StrCat("/proc/", pid, "/fd").c_str());
  if (dir == nullptr) return -1;
  int count = 0;
  while (dirent* entry = readdir(dir)) {
    if (entry->d_name[0] != '.') ++count;
  }
  closedir(dir);
  return count;
}

// Returns "name xN, ..." for the process's threads, by /proc comm.
std::string ThreadNames(pid_t pid) {
  std::map<std::string, int> names;
  const std::string dir = absl::StrCat("/proc/", pid, "/task");
  std::error_code error;
  for (const auto& task : std::filesystem::directory_iterator(dir, error)) {
    std::ifstream comm(task.path() / "comm");
    std::string name;
    if (std::getline(comm, name)) ++names[name];
  }
  std::string text;
  for (const auto& [name, n] : names) {
    absl::StrAppend(&text, text.empty() ? "" : ", ", name, " x", n);
  }
  return text;
}

// A NULL-terminated argv/envp that owns its strings.
class CStrings {
 public:
  explicit CStrings(std::vector<std::string> strings)
      : strings_(std::move(strings)) {
    for (std::string& s : strings_) pointers_.push_back(s.data());
    pointers_.push_back(nullptr);
  }
  char** get() { return pointers_.data(); }

 private:
  std::vector<std::string> strings_;
  std::vector<char*> pointers_;
};

// The environment with SOAK_SERVER_ENV's NAME=VALUE,... added; without
// SOAK_SERVER_ENV, the server preloads the tcmalloc it ships with (the
// image and scripts/run.sh do; ACTIVATION_SERVER_PRELOAD, empty where the
// build found none). Under glibc's malloc the RSS left after the load moved
// by ±30 MiB from run to run (its arenas keep what they grew to at
// different times), which the bound after the load cannot tell from a leak.
std::vector<std::string> ServerEnvironment() {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) env.emplace_back(*e);
  if (const char* extra = std::getenv("SOAK_SERVER_ENV")) {
    for (absl::string_view kv : absl::StrSplit(extra, ',', absl::SkipEmpty())) {
      env.emplace_back(kv);
    }
  } else if (*ACTIVATION_SERVER_PRELOAD != '\0') {
    env.emplace_back(absl::StrCat("LD_PRELOAD=", ACTIVATION_SERVER_PRELOAD));
  }
  return env;
}

// The server under test: SOAK_SERVER_BINARY, else the build's.
std::string ServerBinary() {
  const char* path = std::getenv("SOAK_SERVER_BINARY");
  return path != nullptr && *path != '\0' ? path : ACTIVATION_SERVER_BINARY;
}

class ServerProcess {
 public:
  // Starts the server; call before any thread exists (it forks). The
  // server gets SIGKILL if this thread dies, so it never outlives the test.
  static std::unique_ptr<ServerProcess> Start(const std::string& dir) {
    const std::string port_file = dir + "/ports";
    const std::string binary = ServerBinary();
    CStrings argv(
        {binary, "--address=127.0.0.1:0", "--port_file=" + port_file,
         "--metrics_address=127.0.0.1:0",
         "--http_address=", "--max_inflight=48",
         absl::StrCat("--max_message_bytes=", kMaxMessageBytes),
         absl::StrCat("--max_memory=", kMaxMemory), "--threads=2",
         "--stream_idle_timeout=2s",
         absl::StrCat("--drain_delay=", absl::FormatDuration(kDrainDelay))});
    CStrings envp(ServerEnvironment());
    const std::string log = dir + "/server.log";
    const pid_t parent = getpid();
    const pid_t pid = fork();
    if (pid == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) _exit(127);
      const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
      }
      execve(binary.c_str(), argv.get(), envp.get());
      _exit(127);
    }
    auto server = std::unique_ptr<ServerProcess>(new ServerProcess(pid, log));
    for (int i = 0; i < 200 && server->port_ == 0; ++i) {
      absl::SleepFor(absl::Milliseconds(50));
      std::ifstream ports(port_file);
      int grpc_port = 0, metrics_port = 0;
      if (ports >> grpc_port >> metrics_port && metrics_port > 0) {
        server->port_ = grpc_port;
        server->metrics_port_ = metrics_port;
      }
    }
    return server;
  }

  ~ServerProcess() {
    if (!exited_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }

  pid_t pid() const { return pid_; }
  int port() const { return port_; }
  int metrics_port() const { return metrics_port_; }
  const std::string& log() const { return log_; }

  // True while the process has not exited (nor been reaped).
  bool Alive() {
    if (exited_) return false;
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      exited_ = true;
      status_ = status;
    }
    return !exited_;
  }

  // Sends SIGTERM and waits up to `limit` for the exit; returns the wait
  // status (or nullopt if the process is still running) and the time taken.
  std::optional<int> Terminate(absl::Duration limit, absl::Duration* took) {
    const absl::Time start = absl::Now();
    kill(pid_, SIGTERM);
    while (Alive() && absl::Now() - start < limit) {
      absl::SleepFor(absl::Milliseconds(10));
    }
    *took = absl::Now() - start;
    if (!exited_) return std::nullopt;
    return status_;
  }

 private:
  ServerProcess(pid_t pid, std::string log) : pid_(pid), log_(std::move(log)) {}

  const pid_t pid_;
  const std::string log_;
  int port_ = 0;
  int metrics_port_ = 0;
  bool exited_ = false;
  int status_ = 0;
};

// Samples the server's RSS and threads every 100 ms on its own thread.
class Monitor {
 public:
  explicit Monitor(pid_t pid) : pid_(pid), thread_([this] { Run(); }) {}
  ~Monitor() {
    stop_ = true;
    thread_.join();
  }
  int64_t peak_rss_kib() const { return peak_rss_kib_; }
  int64_t peak_threads() const { return peak_threads_; }
  int64_t samples() const { return samples_; }
  int64_t lost_samples() const { return lost_; }

 private:
  void Run() {
    while (!stop_) {
      const int64_t rss = RssKib(pid_);
      const int64_t threads = Threads(pid_);
      if (rss < 0) {
        ++lost_;  // the process is gone, or not yet readable
      } else {
        peak_rss_kib_ = std::max<int64_t>(peak_rss_kib_, rss);
        peak_threads_ = std::max<int64_t>(peak_threads_, threads);
        ++samples_;
      }
      absl::SleepFor(absl::Milliseconds(100));
    }
  }

  const pid_t pid_;
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> peak_rss_kib_{0};
  std::atomic<int64_t> peak_threads_{0};
  std::atomic<int64_t> samples_{0};
  std::atomic<int64_t> lost_{0};
  std::thread thread_;
};

// ---------------------------------------------------------------------------
// Clients.

std::shared_ptr<grpc::Channel> Connect(int port) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 << 20);
  args.SetMaxSendMessageSize(64 << 20);  // the server refuses oversize ones
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // a connection each
  return grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", port),
                                   grpc::InsecureChannelCredentials(), args);
}

void SetDeadline(grpc::ClientContext& context, absl::Duration timeout) {
  context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
}

struct Worker {
  int port;
  absl::Time end;
  Tally* tally;
  Rng rng;
};

// Valid Relu calls, 60 s deadline: OK bit-exact, or an admission refusal.
void UnaryWorker(Worker w) {
  auto stub = v1::ActivationService::NewStub(Connect(w.port));
  while (absl::Now() < w.end) {
    Case c = RandomCase(w.rng, kMaxValidPayload);
    grpc::ClientContext context;
    SetDeadline(context, absl::Seconds(60));
    v1::ReluResponse response;
    const grpc::Status s = stub->Relu(&context, c.request, &response);
    w.tally->Bytes(PayloadBytes(c.request.input()),
                   PayloadBytes(response.output()));
    w.tally->Outcome(kRelu, "unary valid", s,
                     s.ok() ? Mismatch(c, response) : "");
  }
}

// An invalid request, the code it must get and a piece of its message.
struct Invalid {
  const char* name;
  v1::ReluRequest request;
  grpc::StatusCode code;
  const char* message;
};

v1::ReluRequest Float32Request(std::vector<int64_t> shape, size_t bytes) {
  v1::ReluRequest r;
  r.mutable_input()->set_dtype(v1::DATA_TYPE_FLOAT32);
  for (int64_t dim : shape) r.mutable_input()->add_shape(dim);
  r.mutable_input()->set_raw_data(std::string(bytes, '\x01'));
  return r;
}

std::vector<Invalid> InvalidRequests() {
  using C = grpc::StatusCode;
  std::vector<Invalid> all;
  auto add = [&all](const char* name, v1::ReluRequest r, C code,
                    const char* message) {
    all.push_back({name, std::move(r), code, message});
  };
  v1::ReluRequest r = Float32Request({4}, 16);
  r.mutable_input()->set_dtype(v1::DATA_TYPE_UNSPECIFIED);
  add("dtype unspecified", r, C::INVALID_ARGUMENT, "input.dtype must be set");
  r.mutable_input()->set_dtype(static_cast<v1::DataType>(99));
  add("dtype 99", r, C::INVALID_ARGUMENT, "must be a known DataType, got 99");
  add("payload size", Float32Request({4}, 15), C::INVALID_ARGUMENT,
      "input.raw_data has 15 bytes");
  add("negative dim", Float32Request({2, -3}, 0), C::INVALID_ARGUMENT,
      "input.shape[1] must be >= 0, got -3");
  r = Float32Request({4}, 16);
  r.mutable_input()->set_dtype(v1::DATA_TYPE_INT32);
  r.mutable_params()->set_mode(v1::MODE_KERAS);
  add("keras on int32", r, C::INVALID_ARGUMENT, "params.");
  add("max_rank + 1", Float32Request(std::vector<int64_t>(kMaxRank + 1, 1), 4),
      C::RESOURCE_EXHAUSTED, "this server accepts at most 64 (--max_rank)");
  add("max_elements + 1", Float32Request({int64_t{1} << 28, 1, 1, 2}, 0),
      C::RESOURCE_EXHAUSTED, "(--max_elements)");
  add("shape overflow", Float32Request({int64_t{1} << 40, int64_t{1} << 40}, 0),
      C::INVALID_ARGUMENT, "more than 2^64 elements");
  r = v1::ReluRequest();
  r.mutable_input()->set_dtype(v1::DATA_TYPE_INT32);
  r.mutable_input()->add_shape(2);
  r.mutable_input()->add_float_data(1);
  r.mutable_input()->add_float_data(2);
  add("float_data on int32", r, C::INVALID_ARGUMENT, "FLOAT32 only");
  r = Float32Request({1}, 4);
  r.mutable_input()->add_float_data(1);
  add("raw and float data", r, C::INVALID_ARGUMENT, "both set");
  r = Float32Request({4}, 16);
  r.mutable_params()->set_max_value(-1);
  add("max_value -1", r, C::INVALID_ARGUMENT, "params.max_value");
  r = Float32Request({4}, 16);
  r.mutable_params()->set_threshold(std::nan(""));
  add("threshold NaN", r, C::INVALID_ARGUMENT, "params.threshold");
  add("no input", v1::ReluRequest(), C::INVALID_ARGUMENT, "input must be set");
  return all;
}

// Calls `method` with `bytes` as its message, as they are.
grpc::Status RawUnaryCall(grpc::GenericStub& stub, const std::string& bytes) {
  grpc::ClientContext context;
  SetDeadline(context, absl::Seconds(60));
  grpc::Slice slice(bytes);
  grpc::ByteBuffer request(&slice, 1);
  grpc::ByteBuffer response;
  absl::Mutex mu;
  std::optional<grpc::Status> status;
  stub.UnaryCall(&context, "/activation.v1.ActivationService/Relu",
                 grpc::StubOptions(), &request, &response, [&](grpc::Status s) {
                   absl::MutexLock lock(&mu);
                   status = std::move(s);
                 });
  absl::MutexLock lock(&mu);
  mu.Await(absl::Condition(
      +[](std::optional<grpc::Status>* s) { return s->has_value(); }, &status));
  return *status;
}

// Bytes that are no ReluRequest: a tag of wire type 7, or a valid request
// cut inside its payload.
std::string MalformedBytes(Rng& rng) {
  if (rng.Chance(0.5)) {
    std::string bytes(1 + rng.Below(4096), '\0');
    for (char& b : bytes) b = static_cast<char>(rng.Next());
    bytes[0] = '\x0f';
    return bytes;
  }
  const std::string whole = Float32Request({256}, 1024).SerializeAsString();
  return whole.substr(0, whole.size() - 1 - rng.Below(1000));
}

// Records a call that must end with `code`, its message starting with
// `prefix` and containing `message`; or with an admission refusal.
void CheckCode(Tally& tally, Method m, const std::string& kind,
               const grpc::Status& s, grpc::StatusCode code,
               const std::string& message, const std::string& prefix = "") {
  if (s.error_code() == code && absl::StartsWith(s.error_message(), prefix) &&
      absl::StrContains(s.error_message(), message)) {
    tally.Definite(m, kind, code);
    return;
  }
  if (IsServiceRefusal(s)) {
    tally.Definite(m, kind, s.error_code());
    return;
  }
  tally.Count(kind, absl::StrCat(kCodeNames[s.error_code()], " (unexpected)"));
  tally.Fail(absl::StrCat(
      kind, ": expected ", kCodeNames[code], " \"", prefix, "...", message,
      "\", got ", kCodeNames[s.error_code()], " \"", s.error_message(), "\""));
}

// Streams 0 to 3 valid messages, then `last` (if any); checks each answer.
// Returns the status and whether every answer matched.
grpc::Status RunStream(v1::ActivationService::Stub& stub, Worker& w,
                       grpc::ClientContext& context, int valid,
                       const v1::ReluRequest* last, std::string* mismatch) {
  auto stream = stub.ReluStream(&context);
  bool open = true;
  for (int i = 0; i < valid && open; ++i) {
    Case c = RandomCase(w.rng, kMaxValidPayload);
    v1::ReluResponse response;
    open = stream->Write(c.request) && stream->Read(&response);
    w.tally->Bytes(PayloadBytes(c.request.input()),
                   PayloadBytes(response.output()));
    if (open && mismatch->empty()) *mismatch = Mismatch(c, response);
  }
  if (open && last != nullptr) {
    v1::ReluResponse response;
    if (stream->Write(*last) && stream->Read(&response)) {
      *mismatch = "an answer to an invalid message";
    }
  }
  stream->WritesDone();
  v1::ReluResponse extra;
  while (stream->Read(&extra)) *mismatch = "an answer after the last";
  return stream->Finish();
}

// Valid ReluStream calls of 1 to 8 messages.
void StreamWorker(Worker w) {
  auto stub = v1::ActivationService::NewStub(Connect(w.port));
  while (absl::Now() < w.end) {
    grpc::ClientContext context;
    SetDeadline(context, absl::Seconds(60));
    std::string mismatch;
    const grpc::Status s =
        RunStream(*stub, w, context, 1 + static_cast<int>(w.rng.Below(8)),
                  nullptr, &mismatch);
    w.tally->Outcome(kReluStream, "stream valid", s, mismatch);
  }
}

// Invalid requests (unary, or a stream's last message after valid ones),
// malformed bytes, oversized messages, and GetServerInfo.
void InvalidWorker(Worker w) {
  const std::vector<Invalid> invalid = InvalidRequests();
  auto channel = Connect(w.port);
  auto stub = v1::ActivationService::NewStub(channel);
  grpc::GenericStub generic(channel);
  for (uint64_t i = 0; absl::Now() < w.end; ++i) {
    const uint64_t pick = w.rng.Below(invalid.size() + 4);
    grpc::ClientContext context;
    SetDeadline(context, absl::Seconds(60));
    if (pick < invalid.size()) {
      const Invalid& bad = invalid[pick];
      if (w.rng.Chance(0.5)) {
        v1::ReluResponse response;
        const grpc::Status s = stub->Relu(&context, bad.request, &response);
        CheckCode(*w.tally, kRelu, absl::StrCat("unary ", bad.name), s,
                  bad.code, bad.message);
      } else {
        const int valid = static_cast<int>(w.rng.Below(4));
        std::string mismatch;
        const grpc::Status s =
            RunStream(*stub, w, context, valid, &bad.request, &mismatch);
        if (!mismatch.empty()) w.tally->Fail("stream invalid: " + mismatch);
        CheckCode(*w.tally, kReluStream, absl::StrCat("stream ", bad.name), s,
                  bad.code, bad.message, absl::StrCat("message ", valid, ": "));
      }
    } else if (pick == invalid.size()) {
      CheckCode(*w.tally, kRelu, "unary malformed bytes",
                RawUnaryCall(generic, MalformedBytes(w.rng)),
                grpc::StatusCode::INVALID_ARGUMENT,
                "is not an activation.v1.ReluRequest");
    } else if (pick == invalid.size() + 1) {
      v1::ServerInfo info;
      const grpc::Status s =
          stub->GetServerInfo(&context, v1::GetServerInfoRequest(), &info);
      CheckCode(*w.tally, kGetServerInfo, "GetServerInfo", s,
                grpc::StatusCode::OK, "");
    } else {
      // Over --max_message_bytes: gRPC refuses it before the service.
      const size_t over = kMaxMessageBytes + 1 + w.rng.Below(1 << 20);
      v1::ReluRequest big =
          Float32Request({static_cast<int64_t>(over / 4)}, over / 4 * 4);
      grpc::Status s;
      const bool unary = pick == invalid.size() + 2;
      if (unary) {
        v1::ReluResponse response;
        s = stub->Relu(&context, big, &response);
      } else {
        std::string mismatch;
        s = RunStream(*stub, w, context, 0, &big, &mismatch);
      }
      const std::string kind = unary ? "unary oversize" : "stream oversize";
      if (s.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED &&
          !IsServiceRefusal(s)) {
        w.tally->Ambiguous(unary ? kRelu : kReluStream, kind, kGrpcRefused,
                           s.error_code());
      } else {
        CheckCode(*w.tally, unary ? kRelu : kReluStream, kind, s,
                  grpc::StatusCode::RESOURCE_EXHAUSTED, "larger than max");
      }
    }
  }
}

// Large calls cancelled after a short random delay: CANCELLED, or OK when
// the answer came first (bit-exact). Unary through the callback API;
// streams cancelled after their k-th message was sent, before its answer.
void CancelWorker(Worker w) {
  auto stub = v1::ActivationService::NewStub(Connect(w.port));
  while (absl::Now() < w.end) {
    grpc::ClientContext context;
    SetDeadline(context, absl::Seconds(60));
    if (w.rng.Chance(0.7)) {
      Case c = RandomCase(w.rng, kMaxValidPayload, 1 << 20);
      v1::ReluResponse response;
      absl::Notification done;
      grpc::Status status;
      stub->async()->Relu(&context, &c.request, &response, [&](grpc::Status s) {
        status = std::move(s);
        done.Notify();
      });
      absl::SleepFor(absl::Microseconds(w.rng.Below(15000)));
      context.TryCancel();
      done.WaitForNotification();
      w.tally->Outcome(kRelu, "unary cancel", status,
                       status.ok() ? Mismatch(c, response) : "", kCancelled);
      continue;
    }
    auto stream = stub->ReluStream(&context);
    const int k = 1 + static_cast<int>(w.rng.Below(4));
    std::string mismatch;
    bool open = true;
    for (int i = 0; i < k && open; ++i) {
      Case c = RandomCase(w.rng, kMaxValidPayload, 1 << 20);
      open = stream->Write(c.request);
      v1::ReluResponse response;
      if (open && i + 1 < k) {
        open = stream->Read(&response);
        if (open && mismatch.empty()) mismatch = Mismatch(c, response);
      }
    }
    context.TryCancel();
    w.tally->Outcome(kReluStream, "stream cancel", stream->Finish(), mismatch,
                     kCancelled);
  }
}

// Calls with deadlines of 50 us to 5 ms: DEADLINE_EXCEEDED, or OK if fast.
void DeadlineWorker(Worker w) {
  auto stub = v1::ActivationService::NewStub(Connect(w.port));
  while (absl::Now() < w.end) {
    grpc::ClientContext context;
    SetDeadline(context, absl::Microseconds(50 + w.rng.Below(5000)));
    if (w.rng.Chance(0.7)) {
      Case c = RandomCase(w.rng, kMaxValidPayload);
      v1::ReluResponse response;
      const grpc::Status s = stub->Relu(&context, c.request, &response);
      w.tally->Outcome(kRelu, "unary deadline", s,
                       s.ok() ? Mismatch(c, response) : "", kDeadline);
    } else {
      std::string mismatch;
      const grpc::Status s =
          RunStream(*stub, w, context, 1 + static_cast<int>(w.rng.Below(4)),
                    nullptr, &mismatch);
      w.tally->Outcome(kReluStream, "stream deadline", s, mismatch, kDeadline);
    }
  }
}

// ---------------------------------------------------------------------------
// Client processes killed mid-call (this binary with --soak_child).

// Writes all of `text` to `fd`, ignoring errors.
void WriteAll(int fd, absl::string_view text) {
  while (!text.empty()) {
    const ssize_t n = send(fd, text.data(), text.size(), MSG_NOSIGNAL);
    if (n <= 0) {
      if (n < 0 && errno == ENOTSOCK) {
        if (write(fd, text.data(), text.size()) <= 0) return;
        return;
      }
      return;
    }
    text.remove_prefix(static_cast<size_t>(n));
  }
}

// The child: large valid calls, one at a time, for at most 20 s; on stdout
// "S r|s" before each call and "E r|s <code> <x>" after it, x being 's' for
// a service refusal, 'm' for a mismatched answer, else '-'.
int RunChild(int port, uint64_t seed) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  Worker w{port, absl::Now() + absl::Seconds(20), nullptr, Rng(seed)};
  auto stub = v1::ActivationService::NewStub(Connect(port));
  for (int i = 0; i < 1000 && absl::Now() < w.end; ++i) {
    const bool stream = w.rng.Chance(0.4);
    WriteAll(1, stream ? "S s\n" : "S r\n");
    grpc::ClientContext context;
    SetDeadline(context, absl::Seconds(30));
    grpc::Status s;
    std::string mismatch;
    if (stream) {
      auto call = stub->ReluStream(&context);
      for (int k = 0; k < 4 && mismatch.empty(); ++k) {
        Case c = RandomCase(w.rng, kMaxValidPayload, 256 << 10);
        v1::ReluResponse response;
        if (!call->Write(c.request) || !call->Read(&response)) break;
        mismatch = Mismatch(c, response);
      }
      call->WritesDone();
      s = call->Finish();
    } else {
      Case c = RandomCase(w.rng, kMaxValidPayload, 256 << 10);
      v1::ReluResponse response;
      s = stub->Relu(&context, c.request, &response);
      if (s.ok()) mismatch = Mismatch(c, response);
    }
    const char x = !mismatch.empty() ? 'm' : IsServiceRefusal(s) ? 's' : '-';
    WriteAll(1, absl::StrFormat("E %c %d %c\n", stream ? 's' : 'r',
                                static_cast<int>(s.error_code()), x));
  }
  return 0;
}

// Reads the child's report: finished calls are definite, a started one
// without its end is the killed call.
void TallyChild(Tally& tally, const std::string& report) {
  std::optional<Method> open;
  for (absl::string_view line : absl::StrSplit(report, '\n')) {
    std::vector<absl::string_view> f = absl::StrSplit(line, ' ');
    if (f.size() < 2) continue;  // a line cut by the kill
    const Method m = f[1] == "s" ? kReluStream : kRelu;
    if (f[0] == "S") {
      open = m;
      continue;
    }
    int code = 0;
    if (f.size() != 4 || !absl::SimpleAtoi(f[2], &code) || code < 0 ||
        code >= kCodeCount) {
      continue;
    }
    open.reset();
    const std::string kind = m == kRelu ? "killed-client unary (finished)"
                                        : "killed-client stream (finished)";
    const auto c = static_cast<grpc::StatusCode>(code);
    if (f[3] == "m") tally.Fail(kind + ": answer not bit-exact");
    if (c == grpc::StatusCode::OK || f[3] == "s") {
      tally.Definite(m, kind, c);
    } else if (c == grpc::StatusCode::RESOURCE_EXHAUSTED) {
      tally.Ambiguous(m, kind, kGrpcRefused, c);
    } else {
      tally.Count(kind, absl::StrCat(kCodeNames[code], " (unexpected)"));
      tally.Fail(absl::StrCat(kind, ": unexpected ", kCodeNames[code]));
    }
  }
  if (open) {
    tally.Ambiguous(*open,
                    *open == kRelu ? "killed-client unary (killed mid-call)"
                                   : "killed-client stream (killed mid-call)",
                    kKilled, grpc::StatusCode::UNKNOWN);
  }
}

std::string SelfPath() {
  char path[4096];
  const ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 1);
  return n > 0 ? std::string(path, static_cast<size_t>(n)) : "";
}

void KillWorker(Worker w) {
  const std::string self = SelfPath();
  while (absl::Now() < w.end) {
    int pipe_fds[2];
    if (pipe2(pipe_fds, O_CLOEXEC) != 0) return;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], 1);
    CStrings argv({self, absl::StrCat("--soak_child=", w.port),
                   absl::StrCat("--soak_seed=", w.rng.Next())});
    pid_t pid = 0;
    const int spawned =
        posix_spawn(&pid, self.c_str(), &actions, nullptr, argv.get(), environ);
    posix_spawn_file_actions_destroy(&actions);
    close(pipe_fds[1]);
    if (spawned != 0) {
      close(pipe_fds[0]);
      w.tally->Fail("cannot spawn a client process");
      return;
    }
    absl::SleepFor(absl::Milliseconds(30 + w.rng.Below(800)));
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    std::string report;
    char buffer[4096];
    for (ssize_t n; (n = read(pipe_fds[0], buffer, sizeof(buffer))) > 0;) {
      report.append(buffer, static_cast<size_t>(n));
    }
    close(pipe_fds[0]);
    TallyChild(*w.tally, report);
    w.tally->Count("killed-client processes", "SIGKILL");
  }
}

// ---------------------------------------------------------------------------
// Raw TCP: garbage, half a preface, calls cut mid-message.

int ConnectRaw(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) !=
      0) {
    close(fd);
    return -1;
  }
  return fd;
}

// Closes `fd`, with a TCP RST when `reset`.
void CloseRaw(int fd, bool reset) {
  if (reset) {
    linger l{1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
  }
  close(fd);
}

std::string Frame(uint8_t type, uint8_t flags, uint32_t stream,
                  const std::string& payload) {
  const uint32_t n = static_cast<uint32_t>(payload.size());
  std::string frame = {static_cast<char>(n >> 16),
                       static_cast<char>(n >> 8),
                       static_cast<char>(n),
                       static_cast<char>(type),
                       static_cast<char>(flags),
                       static_cast<char>(stream >> 24),
                       static_cast<char>(stream >> 16),
                       static_cast<char>(stream >> 8),
                       static_cast<char>(stream)};
  return frame + payload;
}

// An HPACK literal header field without indexing, new name (RFC 7541 6.2.2).
std::string Literal(const std::string& name, const std::string& value) {
  return std::string(1, '\0') + static_cast<char>(name.size()) + name +
         static_cast<char>(value.size()) + value;
}

constexpr char kPreface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

// Opens a call of `method` on a new connection and sends part of its
// message; then, with `reset`, cancels it (RST_STREAM CANCEL).
void HalfSentCall(Rng& rng, int fd, const char* method, bool reset) {
  const std::string headers =
      Literal(":method", "POST") + Literal(":scheme", "http") +
      Literal(":path",
              absl::StrCat("/activation.v1.ActivationService/", method)) +
      Literal(":authority", "127.0.0.1") +
      Literal("content-type", "application/grpc") + Literal("te", "trailers");
  const std::string message = Float32Request({1024}, 4096).SerializeAsString();
  const uint32_t n = static_cast<uint32_t>(message.size());
  const std::string prefix = {0, static_cast<char>(n >> 24),
                              static_cast<char>(n >> 16),
                              static_cast<char>(n >> 8), static_cast<char>(n)};
  const std::string part = prefix + message.substr(0, 1 + rng.Below(n - 1));
  WriteAll(fd, std::string(kPreface) + Frame(4, 0, 0, "") +
                   Frame(1, 4, 1, headers) + Frame(0, 0, 1, part));
  absl::SleepFor(absl::Milliseconds(20 + rng.Below(100)));
  if (reset) {
    WriteAll(fd, Frame(3, 0, 1, std::string("\0\0\0\x08", 4)));
    absl::SleepFor(absl::Milliseconds(20 + rng.Below(100)));
  }
}

void GarbageWorker(Worker w) {
  while (absl::Now() < w.end) {
    absl::SleepFor(absl::Milliseconds(20 + w.rng.Below(150)));
    const int fd = ConnectRaw(w.port);
    if (fd < 0) {
      w.tally->Fail("cannot connect to the server");
      continue;
    }
    const uint64_t pick = w.rng.Below(7);
    std::string kind;
    if (pick == 0) {
      std::string bytes(1 + w.rng.Below(64 << 10), '\0');
      for (char& b : bytes) b = static_cast<char>(w.rng.Next());
      WriteAll(fd, bytes);
      kind = "raw random bytes";
    } else if (pick == 1) {
      WriteAll(fd,
               std::string(kPreface, 1 + w.rng.Below(sizeof(kPreface) - 2)));
      absl::SleepFor(absl::Milliseconds(w.rng.Below(50)));
      kind = "raw half preface";
    } else if (pick == 2) {
      std::string bytes(1 + w.rng.Below(4096), '\0');
      for (char& b : bytes) b = static_cast<char>(w.rng.Next());
      WriteAll(fd, std::string(kPreface) + Frame(4, 0, 0, "") + bytes);
      kind = "raw preface + garbage frames";
    } else {
      const bool stream = pick % 2 == 1;
      const bool cancel = pick >= 5;
      HalfSentCall(w.rng, fd, stream ? "ReluStream" : "Relu", cancel);
      kind =
          absl::StrCat(stream ? "raw ReluStream" : "raw Relu",
                       cancel ? " cancelled mid-message" : " cut mid-message");
      w.tally->Ambiguous(stream ? kReluStream : kRelu, kind, kRawHalfSent,
                         grpc::StatusCode::UNKNOWN);
    }
    const bool reset = w.rng.Chance(0.5);
    CloseRaw(fd, reset);
    if (pick < 3) w.tally->Count(kind, reset ? "closed (RST)" : "closed (FIN)");
  }
}

// ---------------------------------------------------------------------------
// The server's counts and their reconciliation with the clients'.

std::string Label(const std::string& key, const std::string& name) {
  const std::string start = name + "=\"";
  const size_t at = key.find(start);
  if (at == std::string::npos) return "";
  const size_t from = at + start.size();
  return key.substr(from, key.find('"', from) - from);
}

struct ServerCounts {
  std::array<std::array<int64_t, kCodeCount>, kMethodCount> handled{};
  std::array<int64_t, kMethodCount> started{};
  double inflight = -1;
  double memory_held = -1;
};

std::optional<ServerCounts> Scrape(int metrics_port) {
  absl::StatusOr<std::string> text = testing::HttpGet(metrics_port, "/metrics");
  if (!text.ok()) return std::nullopt;
  ServerCounts counts;
  for (const auto& [key, value] : testing::ParseSamples(*text)) {
    if (key == "activation_inflight_requests") counts.inflight = value;
    if (key == "activation_memory_held_bytes") counts.memory_held = value;
    if (Label(key, "grpc_service") != "activation.v1.ActivationService") {
      continue;
    }
    const std::string method = Label(key, "grpc_method");
    const auto m = std::find(kMethodNames.begin(), kMethodNames.end(), method);
    if (m == kMethodNames.end()) continue;
    const int mi = static_cast<int>(m - kMethodNames.begin());
    if (absl::StartsWith(key, "grpc_server_started_total{")) {
      counts.started[mi] = static_cast<int64_t>(value);
    } else if (absl::StartsWith(key, "grpc_server_handled_total{")) {
      const std::string code = Label(key, "grpc_code");
      const auto c = std::find(kCodeNames.begin(), kCodeNames.end(), code);
      if (c != kCodeNames.end()) {
        counts.handled[mi][c - kCodeNames.begin()] =
            static_cast<int64_t>(value);
      }
    }
  }
  return counts;
}

// Checks that `server` is `definite` plus, for each code, an excess that
// ambiguous calls can explain: an assignment of distinct ambiguous calls to
// the excess, each to a code its group allows, exists (Hall's condition
// over every set of codes). Returns the problems; fills `explained`.
std::vector<std::string> Reconcile(
    Method m, const std::array<int64_t, kCodeCount>& server,
    const std::array<int64_t, kCodeCount>& definite,
    const std::array<int64_t, kGroupCount>& ambiguous, std::string* explained) {
  std::vector<std::string> problems;
  std::vector<int> excess_codes;
  std::array<int64_t, kCodeCount> excess{};
  for (int c = 0; c < kCodeCount; ++c) {
    excess[c] = server[c] - definite[c];
    if (excess[c] < 0) {
      problems.push_back(absl::StrCat(kMethodNames[m], " ", kCodeNames[c],
                                      ": the server recorded ", server[c],
                                      ", clients saw ", definite[c]));
    } else if (excess[c] > 0) {
      excess_codes.push_back(c);
    }
  }
  if (excess_codes.size() > 12) {
    problems.push_back("too many codes in excess");
    return problems;
  }
  for (uint32_t set = 1; set < (1u << excess_codes.size()); ++set) {
    int64_t need = 0, have = 0;
    std::string codes;
    for (size_t i = 0; i < excess_codes.size(); ++i) {
      if (set & (1u << i)) {
        need += excess[excess_codes[i]];
        absl::StrAppend(&codes, codes.empty() ? "" : "+",
                        kCodeNames[excess_codes[i]]);
      }
    }
    for (int g = 0; g < kGroupCount; ++g) {
      bool allows = false;
      for (size_t i = 0; i < excess_codes.size(); ++i) {
        allows |= (set & (1u << i)) &&
                  GroupAllows(static_cast<Group>(g),
                              static_cast<grpc::StatusCode>(excess_codes[i]));
      }
      if (allows) have += ambiguous[g];
    }
    if (need > have) {
      problems.push_back(absl::StrCat(
          kMethodNames[m], ": the server recorded ", need, " more ", codes,
          " than clients saw, and only ", have, " calls could explain them"));
    }
  }
  int64_t total_excess = 0, total_ambiguous = 0;
  for (int c : excess_codes) {
    absl::StrAppend(explained, kCodeNames[c], " +", excess[c], " ");
    total_excess += excess[c];
  }
  for (int g = 0; g < kGroupCount; ++g) total_ambiguous += ambiguous[g];
  absl::StrAppend(explained, "(of ", total_ambiguous, " ambiguous calls; ",
                  total_ambiguous - total_excess,
                  " never reached the service)");
  return problems;
}

// Scrapes until started == handled for every method, twice alike, or 15 s.
std::optional<ServerCounts> ScrapeSettled(int metrics_port) {
  std::optional<ServerCounts> last;
  for (int i = 0; i < 60; ++i) {
    std::optional<ServerCounts> now = Scrape(metrics_port);
    bool settled = now.has_value() && now->inflight == 0;
    for (int m = 0; settled && m < kMethodCount; ++m) {
      int64_t handled = 0;
      for (int64_t n : now->handled[m]) handled += n;
      settled = handled == now->started[m];
    }
    if (settled && last && last->handled == now->handled) return now;
    last = now;
    absl::SleepFor(absl::Milliseconds(250));
  }
  return last;
}

// Returns what the server recorded between two settled scrapes, e.g.
// "Relu Canceled +1", or "nothing".
std::string Recorded(const ServerCounts& before, const ServerCounts& after) {
  std::string recorded;
  for (int m = 0; m < kMethodCount; ++m) {
    for (int c = 0; c < kCodeCount; ++c) {
      const int64_t delta = after.handled[m][c] - before.handled[m][c];
      if (delta != 0) {
        absl::StrAppend(&recorded, recorded.empty() ? "" : ", ",
                        kMethodNames[m], " ", kCodeNames[c], " ",
                        delta > 0 ? "+" : "", delta);
      }
    }
  }
  return recorded.empty() ? "nothing" : recorded;
}

// One call alone, so that what the server records for it is known exactly;
// fails unless that is one of `allowed`.
void Probe(int metrics_port, const std::string& name,
           const std::vector<std::string>& allowed,
           const std::function<void()>& call) {
  const std::optional<ServerCounts> before = ScrapeSettled(metrics_port);
  call();
  const std::optional<ServerCounts> after = ScrapeSettled(metrics_port);
  ASSERT_TRUE(before && after);
  const std::string recorded = Recorded(*before, *after);
  std::printf("soak: probe %-40s server recorded: %s\n", name.c_str(),
              recorded.c_str());
  EXPECT_NE(std::find(allowed.begin(), allowed.end(), recorded), allowed.end())
      << name << ": the server recorded " << recorded;
}

// The calls whose record docs/metrics.md states, one at a time: oversize
// messages (refused by gRPC: not recorded), and a Relu cancelled while its
// message was arriving (CANCELLED, or not recorded).
void Probes(int port, int metrics_port, Tally& tally) {
  auto stub = v1::ActivationService::NewStub(Connect(port));
  const v1::ReluRequest big =
      Float32Request({(kMaxMessageBytes >> 2) + 1}, kMaxMessageBytes + 4);
  auto oversize = [&](Method m, const grpc::Status& s) {
    EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
        << s.error_message();
    tally.Ambiguous(m, "probe oversize", kGrpcRefused, s.error_code());
  };
  Probe(metrics_port, "oversize Relu", {"nothing"}, [&] {
    grpc::ClientContext context;
    SetDeadline(context, absl::Seconds(30));
    v1::ReluResponse response;
    oversize(kRelu, stub->Relu(&context, big, &response));
  });
  // The stream started with its headers; gRPC then fails its read without
  // saying why, and the server counts the stream Canceled (docs/metrics.md
  // says "not recorded", true of unary calls only).
  Probe(metrics_port, "oversize ReluStream message",
        {"nothing", "ReluStream Canceled +1"}, [&] {
          grpc::ClientContext context;
          SetDeadline(context, absl::Seconds(30));
          Worker w{port, absl::Now(), &tally, Rng(3)};
          std::string mismatch;
          oversize(kReluStream,
                   RunStream(*stub, w, context, 0, &big, &mismatch));
        });
  Probe(metrics_port, "Relu cancelled mid-message (raw HTTP/2)",
        {"nothing", "Relu Canceled +1"}, [&] {
          Rng rng(4);
          const int fd = ConnectRaw(port);
          ASSERT_GE(fd, 0);
          HalfSentCall(rng, fd, "Relu", /*reset=*/true);
          absl::SleepFor(absl::Milliseconds(200));
          CloseRaw(fd, false);
          tally.Ambiguous(kRelu, "probe Relu cancelled mid-message",
                          kRawHalfSent, grpc::StatusCode::CANCELLED);
        });
}

// ---------------------------------------------------------------------------
// The test.

std::string MakeTempDir() {
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern =
      absl::StrCat(tmp != nullptr ? tmp : "/tmp", "/activation_soak.XXXXXX");
  return mkdtemp(pattern.data()) != nullptr ? pattern : "";
}

std::string Tail(const std::string& path, size_t bytes) {
  std::ifstream file(path);
  std::string text((std::istreambuf_iterator<char>(file)),
                   std::istreambuf_iterator<char>());
  return text.size() > bytes ? text.substr(text.size() - bytes) : text;
}

// Every dtype in both modes (KERAS for floating point), one call each, and
// one large call, so that the engine's and gRPC's threads exist before the
// baseline. Returns the number of calls.
void WarmUp(int port, Tally& tally) {
  auto stub = v1::ActivationService::NewStub(Connect(port));
  Rng rng(1);
  for (int i = 0; i < 64; ++i) {
    Case c = RandomCase(rng, kMaxValidPayload, i < 8 ? 3 << 20 : 1);
    grpc::ClientContext context;
    SetDeadline(context, absl::Seconds(30));
    v1::ReluResponse response;
    const grpc::Status s = stub->Relu(&context, c.request, &response);
    tally.Outcome(kRelu, "warm-up", s, s.ok() ? Mismatch(c, response) : "");
  }
  grpc::ClientContext context;
  SetDeadline(context, absl::Seconds(30));
  v1::ServerInfo info;
  const grpc::Status s =
      stub->GetServerInfo(&context, v1::GetServerInfoRequest(), &info);
  CheckCode(tally, kGetServerInfo, "warm-up GetServerInfo", s,
            grpc::StatusCode::OK, "");
  EXPECT_EQ(info.max_memory_bytes(), kMaxMemory);
  EXPECT_EQ(info.max_message_bytes(), kMaxMessageBytes);
  EXPECT_EQ(info.max_inflight(), 48);
  EXPECT_EQ(info.max_rank(), kMaxRank);
  EXPECT_EQ(info.stream_idle_timeout_ms(), 2000);
}

struct ProcStats {
  int64_t rss_kib;
  int64_t threads;
  int fds;
};
ProcStats Stats(pid_t pid) {
  return {RssKib(pid), Threads(pid), CountFds(pid)};
}

// Waits up to `limit` for fds and threads to come back to `base` + slack.
ProcStats WaitForBaseline(pid_t pid, const ProcStats& base,
                          absl::Duration limit) {
  const absl::Time end = absl::Now() + limit;
  ProcStats now = Stats(pid);
  while (absl::Now() < end && (now.fds > base.fds + kFdSlack ||
                               now.threads > base.threads + kThreadSlack)) {
    absl::SleepFor(absl::Milliseconds(200));
    now = Stats(pid);
  }
  return now;
}

void RunLoad(int port, absl::Duration duration, Tally& tally) {
  const absl::Time end = absl::Now() + duration;
  std::vector<std::thread> threads;
  uint64_t seed = static_cast<uint64_t>(absl::ToUnixNanos(absl::Now()));
  std::printf("soak: load for %s, seed %llu\n",
              absl::FormatDuration(duration).c_str(),
              static_cast<unsigned long long>(seed));
  std::fflush(stdout);
  auto start = [&](void (*body)(Worker), int count) {
    for (int i = 0; i < count; ++i) {
      threads.emplace_back(body, Worker{port, end, &tally, Rng(seed++)});
    }
  };
  start(UnaryWorker, 4);
  start(StreamWorker, 2);
  start(InvalidWorker, 1);
  start(CancelWorker, 2);
  start(DeadlineWorker, 1);
  start(KillWorker, 1);
  start(GarbageWorker, 1);
  for (std::thread& t : threads) t.join();
}

// Opens a stream, has one answer, then SIGTERMs: the stream must end
// UNAVAILABLE and the server exit 0 within the drain delay + 5 s.
void Drain(ServerProcess& server) {
  auto stub = v1::ActivationService::NewStub(Connect(server.port()));
  grpc::ClientContext context;
  SetDeadline(context, absl::Seconds(30));
  auto stream = stub->ReluStream(&context);
  Rng rng(2);
  Case c = RandomCase(rng, 1 << 16);
  v1::ReluResponse response;
  ASSERT_TRUE(stream->Write(c.request) && stream->Read(&response));
  EXPECT_EQ(Mismatch(c, response), "");
  absl::Duration took;
  const std::optional<int> status =
      server.Terminate(kDrainDelay + absl::Seconds(5), &took);
  EXPECT_FALSE(stream->Read(&response));
  const grpc::Status s = stream->Finish();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
  ASSERT_TRUE(status.has_value())
      << "no exit " << took << " after SIGTERM; log:\n"
      << Tail(server.log(), 4000);
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0)
      << "wait status " << *status << "; log:\n"
      << Tail(server.log(), 4000);
  std::printf("soak: SIGTERM -> exit %d in %s (limit %s)\n",
              WIFEXITED(*status) ? WEXITSTATUS(*status) : -1,
              absl::FormatDuration(took).c_str(),
              absl::FormatDuration(kDrainDelay + absl::Seconds(5)).c_str());
}

void PrintCalls(const Tally::Snapshot& t) {
  std::printf("\n%-46s %-34s %10s\n", "calls by kind", "code (group)", "count");
  for (const auto& [key, n] : t.by_kind) {
    std::printf("%-46s %-34s %10lld\n", key.first.c_str(), key.second.c_str(),
                static_cast<long long>(n));
  }
  std::printf("payload bytes: sent %.1f MiB, received %.1f MiB\n",
              t.bytes_sent / 1048576.0, t.bytes_received / 1048576.0);
}

void PrintReconciliation(const Tally::Snapshot& t, const ServerCounts& s) {
  std::printf("\n%-14s %-18s %10s %10s\n", "method", "grpc_code", "server",
              "definite");
  for (int m = 0; m < kMethodCount; ++m) {
    for (int c = 0; c < kCodeCount; ++c) {
      if (s.handled[m][c] == 0 && t.definite[m][c] == 0) continue;
      std::printf("%-14s %-18s %10lld %10lld\n", kMethodNames[m], kCodeNames[c],
                  static_cast<long long>(s.handled[m][c]),
                  static_cast<long long>(t.definite[m][c]));
    }
    std::string groups;
    for (int g = 0; g < kGroupCount; ++g) {
      if (t.ambiguous[m][g] > 0) {
        absl::StrAppend(&groups, kGroupNames[g], " ", t.ambiguous[m][g], " ");
      }
    }
    std::printf("%-14s ambiguous: %s\n", kMethodNames[m],
                groups.empty() ? "none" : groups.c_str());
  }
}

TEST(SoakTest, MixedTrafficWithFaultsLosesNothingAndLeaksNothing) {
  const std::string dir = MakeTempDir();
  ASSERT_FALSE(dir.empty());
  std::unique_ptr<ServerProcess> server = ServerProcess::Start(dir);
  ASSERT_GT(server->port(), 0) << "no ports; log:\n"
                               << Tail(server->log(), 4000);
  const pid_t pid = server->pid();
  Tally tally;
  ProcStats idle, base, after_load, after;
  int64_t peak_rss = 0, peak_threads = 0, samples = 0;
  std::optional<ServerCounts> counts;
  {
    Monitor monitor(pid);
    idle = Stats(pid);
    WarmUp(server->port(), tally);
    Probes(server->port(), server->metrics_port(), tally);
    // The baseline: after a burst of the same load, so that gRPC's and
    // TBB's thread pools and malloc's arenas have grown to their working
    // size; a leak grows past it with the length of the soak.
    RunLoad(server->port(), absl::Seconds(5), tally);
    absl::SleepFor(absl::Seconds(3));  // the burst's connections close
    base = Stats(pid);
    std::printf("soak: baseline threads: %s\n", ThreadNames(pid).c_str());
    RunLoad(server->port(), SoakDuration(), tally);
    ASSERT_TRUE(server->Alive()) << Tail(server->log(), 4000);
    after_load = Stats(pid);
    counts = ScrapeSettled(server->metrics_port());
    after = WaitForBaseline(pid, base, absl::Seconds(15));
    std::printf("soak: settled threads:  %s\n", ThreadNames(pid).c_str());
    absl::SleepFor(absl::Seconds(3));
    after.rss_kib = RssKib(pid);
    peak_rss = monitor.peak_rss_kib();
    peak_threads = monitor.peak_threads();
    samples = monitor.samples();
  }
  ASSERT_TRUE(counts.has_value()) << "cannot scrape /metrics";
  const Tally::Snapshot t = tally.Get();
  PrintCalls(t);
  PrintReconciliation(t, *counts);
  std::printf(
      "\nserver  %12s %12s %12s %12s %12s\n"
      "RSS MiB %12.1f %12.1f %12.1f %12.1f %12.1f (bound %lld, %lld "
      "samples)\n"
      "threads %12lld %12lld %12lld %12lld %12lld\n"
      "fds     %12d %12d %12s %12d %12d\n",
      "idle start", "baseline", "peak", "load ended", "settled",
      idle.rss_kib / 1024.0, base.rss_kib / 1024.0, peak_rss / 1024.0,
      after_load.rss_kib / 1024.0, after.rss_kib / 1024.0,
      static_cast<long long>(kRssBoundKib >> 10),
      static_cast<long long>(samples), static_cast<long long>(idle.threads),
      static_cast<long long>(base.threads),
      static_cast<long long>(peak_threads),
      static_cast<long long>(after_load.threads),
      static_cast<long long>(after.threads), idle.fds, base.fds, "-",
      after_load.fds, after.fds);
  std::fflush(stdout);

  for (const std::string& f : t.failures) ADD_FAILURE() << f;
  EXPECT_EQ(t.failure_count, 0);
  for (int m = 0; m < kMethodCount; ++m) {
    int64_t handled = 0;
    for (int64_t n : counts->handled[m]) handled += n;
    EXPECT_EQ(handled, counts->started[m]) << kMethodNames[m];
    std::string explained;
    for (const std::string& p :
         Reconcile(static_cast<Method>(m), counts->handled[m], t.definite[m],
                   t.ambiguous[m], &explained)) {
      ADD_FAILURE() << p;
    }
    std::printf("%-14s server excess: %s\n", kMethodNames[m],
                explained.c_str());
  }
  EXPECT_EQ(counts->inflight, 0);
  EXPECT_EQ(counts->memory_held, 0);
  EXPECT_LT(peak_rss, kRssBoundKib);
  EXPECT_LE(after.rss_kib, base.rss_kib + kRssAfterSlackKib);
  EXPECT_LE(after.fds, base.fds + kFdSlack);
  EXPECT_LE(after.threads, base.threads + kThreadSlack);
  Drain(*server);
  if (!HasFailure()) std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace activation

int main(int argc, char** argv) {
  signal(SIGPIPE, SIG_IGN);
  int port = 0;
  uint64_t seed = 0;
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg = argv[i];
    if (absl::ConsumePrefix(&arg, "--soak_child=")) {
      if (!absl::SimpleAtoi(arg, &port)) return 2;
    } else if (absl::ConsumePrefix(&arg, "--soak_seed=")) {
      if (!absl::SimpleAtoi(arg, &seed)) return 2;
    }
  }
  if (port > 0) return activation::RunChild(port, seed);
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}

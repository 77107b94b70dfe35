// A load generator modelled on ghz: closed-loop workers over one or more
// connections, by count or duration, optionally rate-limited, with ghz's
// summary (or its JSON) and a check of a sample of answers.

#ifndef ACTIVATION_CLIENT_CLI_BENCH_H_
#define ACTIVATION_CLIENT_CLI_BENCH_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "client/client.h"

namespace activation::cli {

struct BenchOptions {
  int concurrency = 50;  // workers, each with one call in flight (-c)
  int connections = 1;   // TCP connections, workers spread over them
  int64_t total = 200;   // calls in all (-n); 0: run for `duration`
  absl::Duration duration = absl::ZeroDuration();  // (-z)
  double rps = 0;  // calls per second over all workers; 0: no limit
  core::DataType dtype = core::DataType::kFloat32;
  std::vector<int64_t> shape = {16};
  bool float_data = false;  // encoding of FLOAT32 payloads
  bool stream = false;      // calls are messages on one stream per worker
  int stream_window = 1;    // with `stream`: messages in flight per stream
  // The protocol called: activation.v1 (Relu, ReluStream) or the Open
  // Inference Protocol (inference.GRPCInferenceService ModelInfer,
  // ModelStreamInfer; model "relu", raw contents, or typed with
  // float_data).
  enum class Protocol { kActivationV1, kOip };
  Protocol protocol = Protocol::kActivationV1;
  ReluParams params;
  int verify_every = 100;  // check every Nth answer against the engine
  bool progress = false;   // a progress bar on stderr
};

struct BenchReport {
  int64_t count = 0;
  absl::Duration total;
  absl::Duration slowest, fastest, average;
  double rps = 0;
  double mbps = 0;  // request payload megabytes per second
  std::vector<absl::Duration> latencies;        // sorted, for the histogram
  std::map<std::string, int64_t> status_codes;  // ghz's "OK" -> count
  std::map<std::string, int64_t> errors;        // message -> count
  int64_t verified = 0;
  int64_t mismatches = 0;

  // ghz's latency histogram: 11 marks evenly from fastest to slowest, each
  // counting the latencies above the previous mark and up to its own.
  struct Bucket {
    absl::Duration mark;
    int64_t count = 0;
  };
  std::vector<Bucket> Histogram() const;

  // ghz's text summary.
  std::string Summary() const;
  // ghz's JSON report (durations in nanoseconds).
  std::string Json() const;
};

// Runs the load against `target` over channels of its own made with the
// connection options `connection` (CreateChannel; its token and deadline
// apply to every call, a stream's deadline is 24 h). Returns
// InvalidArgument for bad options; failed calls are counted, not returned.
absl::StatusOr<BenchReport> RunBench(const std::string& target,
                                     const ClientOptions& connection,
                                     const BenchOptions& options);

}  // namespace activation::cli

#endif  // ACTIVATION_CLIENT_CLI_BENCH_H_

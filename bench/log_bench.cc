// Cost of one log line: server/log.h (text and JSON) against spdlog 1.10
// with a pattern, all writing to /dev/null, so that the formatting and the
// write(2) are what is timed.
//
//   build/bench/log_bench --benchmark_min_time=0.5

#include <fcntl.h>
#include <unistd.h>

#include <memory>

#include "benchmark/benchmark.h"
#include "server/log.h"
#include "spdlog/sinks/basic_file_sink.h"
#include "spdlog/spdlog.h"

namespace {

using activation::server::Log;
using activation::server::LogFormat;
using activation::server::LogLevel;

// Points stderr at /dev/null for the benchmark's life.
class NullStderr {
 public:
  NullStderr() : saved_(dup(STDERR_FILENO)) {
    const int null = open("/dev/null", O_WRONLY);
    dup2(null, STDERR_FILENO);
    close(null);
  }
  ~NullStderr() {
    dup2(saved_, STDERR_FILENO);
    close(saved_);
  }

 private:
  const int saved_;
};

// The access line of one call: what --access_log writes per call.
void AccessLine(benchmark::State& state, LogFormat format) {
  NullStderr null;
  activation::server::ConfigureLog(format, LogLevel::kInfo);
  for (auto _ : state) {
    Log(LogLevel::kInfo, "call",
        {{"method", "activation.v1.ActivationService/Relu"},
         {"peer", "ipv4:127.0.0.1:54321"},
         {"code", "OK"},
         {"dtype", "FLOAT32"},
         {"elements", uint64_t{16}},
         {"received_bytes", uint64_t{64}},
         {"sent_bytes", uint64_t{64}},
         {"latency", 0.000113}});
  }
}

void BM_AccessLineText(benchmark::State& state) {
  AccessLine(state, LogFormat::kText);
}
void BM_AccessLineJson(benchmark::State& state) {
  AccessLine(state, LogFormat::kJson);
}

// A line below the level: what the call path pays with only warnings on.
void BM_DisabledLine(benchmark::State& state) {
  activation::server::ConfigureLog(LogFormat::kJson, LogLevel::kWarning);
  for (auto _ : state) {
    if (activation::server::AccessLogEnabled()) Log(LogLevel::kInfo, "call");
    benchmark::ClobberMemory();
  }
}

void BM_SpdlogPatternLine(benchmark::State& state) {
  auto logger =
      spdlog::basic_logger_st("bench", "/dev/null", /*truncate=*/false);
  // spdlog has no JSON formatter: a JSON line is a pattern, and field
  // values are not escaped.
  logger->set_pattern(R"({"ts":"%Y-%m-%dT%H:%M:%S.%fZ","level":"%l","msg":%v})",
                      spdlog::pattern_time_type::utc);
  for (auto _ : state) {
    logger->info(
        R"("call","method":"{}","peer":"{}","code":"{}","dtype":"{}",)"
        R"("elements":{},"received_bytes":{},"sent_bytes":{},"latency":{})",
        "activation.v1.ActivationService/Relu", "ipv4:127.0.0.1:54321", "OK",
        "FLOAT32", 16, 64, 64, 0.000113);
  }
  logger->flush();
  spdlog::drop("bench");
}

BENCHMARK(BM_AccessLineText);
BENCHMARK(BM_AccessLineJson);
BENCHMARK(BM_DisabledLine);
BENCHMARK(BM_SpdlogPatternLine);

}  // namespace

BENCHMARK_MAIN();

// activation_client: call activation_server from the shell.
//
//   activation_client relu --input in.npy --output out.npy --max_value=6
//   activation_client relu --values=-1,0,2.5
//   activation_client health        # exit 0 when SERVING
//   activation_client info
//   activation_client bench -c 50 -n 10000 --shape=1024
//
// `activation_client <command> --help` describes each command.

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/reflection.h"
#include "absl/flags/usage.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "client/cli/bench.h"
#include "client/cli/npy.h"
#include "client/cli/values.h"
#include "client/client.h"
#include "core/dtype.h"
#include "google/protobuf/util/json_util.h"

// Connection, shared by every command.
ABSL_FLAG(std::string, target, "127.0.0.1:50051",
          "server: host:port, or dns:///name:port for round-robin over all "
          "its addresses; $ACTIVATION_TARGET, when set, is the default");

ABSL_FLAG(bool, tls, false, "use TLS (system roots unless --tls_ca)");
ABSL_FLAG(std::string, tls_ca, "", "PEM CA bundle to verify the server with");
ABSL_FLAG(std::string, tls_cert, "", "PEM client certificate (mutual TLS)");
ABSL_FLAG(std::string, tls_key, "", "PEM client key (mutual TLS)");
ABSL_FLAG(std::string, tls_server_name, "",
          "name to verify the server's certificate against");
ABSL_FLAG(std::string, token_file, "",
          "file with a bearer token sent as 'authorization: Bearer <token>'");
ABSL_FLAG(absl::Duration, deadline, absl::Seconds(30), "per-call deadline");
ABSL_FLAG(int, max_message_bytes, 64 << 20,
          "largest message; bigger tensors go in chunks over ReluStream");
ABSL_FLAG(int, chunks_in_flight, 4, "chunks of a large tensor in flight");
// relu
ABSL_FLAG(std::string, input, "", "relu: .npy file to read");
ABSL_FLAG(std::string, output, "", "relu: .npy file to write");
ABSL_FLAG(std::string, values, "",
          "relu: comma-separated values instead of --input; prints the result");
ABSL_FLAG(std::string, dtype, "float32",
          "relu --values and bench: float32 float64 float16 bfloat16 int8 "
          "int16 int32 int64 uint8 uint16 uint32 uint64");
ABSL_FLAG(std::string, max_value, "", "ReLU max_value; empty: no cap");
ABSL_FLAG(double, negative_slope, 0.0, "ReLU negative_slope");
ABSL_FLAG(double, threshold, 0.0, "ReLU threshold");
ABSL_FLAG(std::string, mode, "documented", "documented or keras");
// health
ABSL_FLAG(std::string, service, "", "health: service name; empty: the server");
// bench
ABSL_FLAG(int, c, 50, "bench: concurrent workers, one call in flight each");
ABSL_FLAG(int, connections, 1, "bench: TCP connections");
ABSL_FLAG(int64_t, n, 200, "bench: total calls (ignored with -z)");
ABSL_FLAG(absl::Duration, z, absl::ZeroDuration(),
          "bench: run for this long instead of -n calls (e.g. 10s)");
ABSL_FLAG(double, rps, 0, "bench: calls per second over all workers; 0: max");
ABSL_FLAG(std::string, shape, "16", "bench: tensor shape, e.g. 1024 or 4,256");
ABSL_FLAG(std::string, encoding, "raw", "bench: raw or float_data");
ABSL_FLAG(bool, stream, false,
          "bench: messages on one stream per worker (ReluStream or "
          "ModelStreamInfer), not unary calls");
ABSL_FLAG(int, stream_window, 1,
          "bench: with --stream, messages in flight on each stream");
ABSL_FLAG(std::string, protocol, "activation",
          "bench: activation (activation.v1 Relu) or oip (the Open Inference "
          "Protocol's ModelInfer, model relu)");
ABSL_FLAG(std::string, O, "summary", "bench: output format, summary or json");
ABSL_FLAG(int, verify_every, 100, "bench: check every Nth answer; 0: none");
ABSL_FLAG(bool, allow_errors, false, "bench: exit 0 even if calls failed");

namespace activation::cli {
namespace {

constexpr char kUsage[] = R"(activation_client: call activation_server.

Commands:
  relu     ReLU of a .npy file (--input, --output) or of --values
  health   exit 0 when the server (or --service) is SERVING
  info     print the server's version, dtypes and limits
  bench    load test in the manner of ghz; prints its summary

Run `activation_client <command> --help` for a command's flags.)";

struct Command {
  const char* name;
  const char* summary;
  std::vector<const char*> flags;
};

const std::vector<Command>& Commands() {
  static const auto* commands = new std::vector<Command>{
      {"relu",
       "activation_client relu --input in.npy --output out.npy "
       "[--max_value= --negative_slope= --threshold= --mode=documented|keras]\n"
       "activation_client relu --values=-1,0,2.5 [--dtype=float32]\n"
       "Reads NumPy .npy (versions 1-3, either byte order, C or Fortran "
       "order, f2 f4 f8 i1 i2 i4 i8 u1 u2 u4 u8) and writes the result as "
       ".npy. Tensors over the message limit are streamed in chunks.",
       {"input", "output", "values", "dtype", "max_value", "negative_slope",
        "threshold", "mode"}},
      {"health",
       "activation_client health [--service=NAME]\n"
       "Exit 0 when SERVING, 1 otherwise (usable as a Docker HEALTHCHECK or "
       "a Kubernetes exec probe).",
       {"service"}},
      {"info", "activation_client info\nPrints GetServerInfo as JSON.", {}},
      {"bench",
       "activation_client bench [-c 50] [--connections 1] [-n 200 | -z 10s] "
       "[--rps 0] [--shape 16] [--dtype float32] [--encoding raw|float_data] "
       "[--stream [--stream_window 1]] [--protocol activation|oip] "
       "[-O summary|json] "
       "[--allow_errors]\n"
       "Keeps -c calls in flight and prints a summary like ghz's: count, "
       "total, slowest, fastest, average, requests/s, MB/s, a latency "
       "histogram and distribution, status codes and errors. Checks every "
       "--verify_every-th answer against the local engine. Exits 1 on any "
       "failed call or wrong answer unless --allow_errors.",
       {"c", "connections", "n", "z", "rps", "shape", "dtype", "encoding",
        "stream", "stream_window", "protocol", "O", "verify_every",
        "allow_errors", "max_value", "negative_slope", "threshold", "mode"}},
  };
  return *commands;
}

constexpr const char* kConnectionFlags[] = {
    "target",          "tls",      "tls_ca",
    "tls_cert",        "tls_key",  "tls_server_name",
    "token_file",      "deadline", "max_message_bytes",
    "chunks_in_flight"};

// "  --name  help (default: value)" for each flag.
template <typename Names>
void PrintFlags(const Names& names) {
  for (const char* name : names) {
    const absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name);
    std::cout << "  --" << name;
    if (flag != nullptr) {
      std::cout << "  " << flag->Help();
      const std::string default_value = flag->DefaultValue();
      if (!default_value.empty()) {
        std::cout << " (default: " << default_value << ")";
      }
    }
    std::cout << "\n";
  }
}

void PrintHelp(const Command& command) {
  std::cout << command.summary << "\n\nFlags:\n";
  PrintFlags(command.flags);
  std::cout << "\nConnection flags (every command):\n";
  PrintFlags(kConnectionFlags);
}

int Fail(const absl::Status& status) {
  std::cerr << "activation_client: " << status << "\n";
  return 2;
}

absl::StatusOr<core::DataType> ParseDataType(const std::string& name) {
  for (core::DataType dtype : core::kAllDataTypes) {
    if (absl::AsciiStrToUpper(name) == core::DataTypeName(dtype)) return dtype;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("--dtype: unknown dtype \"", name, "\""));
}

absl::StatusOr<ReluParams> ParamsFromFlags() {
  ReluParams params;
  if (const std::string m = absl::GetFlag(FLAGS_max_value); !m.empty()) {
    double value;
    if (!absl::SimpleAtod(m, &value)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--max_value: not a number: \"", m, "\""));
    }
    params.max_value = value;
  }
  params.negative_slope = absl::GetFlag(FLAGS_negative_slope);
  params.threshold = absl::GetFlag(FLAGS_threshold);
  const std::string mode = absl::GetFlag(FLAGS_mode);
  if (mode == "keras") {
    params.mode = core::Mode::kKeras;
  } else if (mode != "documented") {
    return absl::InvalidArgumentError(
        absl::StrCat("--mode must be documented or keras, got \"", mode, "\""));
  }
  if (absl::Status s =
          core::ValidateReluParams(params, core::DataType::kFloat64);
      !s.ok() && params.mode != core::Mode::kKeras) {
    return s;
  }
  return params;
}

// The connection flags every command shares.
absl::StatusOr<ClientOptions> OptionsFromFlags() {
  ClientOptions options;
  options.tls = absl::GetFlag(FLAGS_tls);
  options.tls_ca_file = absl::GetFlag(FLAGS_tls_ca);
  options.tls_cert_file = absl::GetFlag(FLAGS_tls_cert);
  options.tls_key_file = absl::GetFlag(FLAGS_tls_key);
  options.tls_server_name = absl::GetFlag(FLAGS_tls_server_name);
  options.deadline = absl::GetFlag(FLAGS_deadline);
  options.max_message_bytes = absl::GetFlag(FLAGS_max_message_bytes);
  options.max_chunks_in_flight = absl::GetFlag(FLAGS_chunks_in_flight);
  if (const std::string path = absl::GetFlag(FLAGS_token_file); !path.empty()) {
    std::ifstream file(path);
    std::string token;
    if (!file || !std::getline(file, token)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--token_file: cannot read \"", path, "\""));
    }
    options.token = std::string(absl::StripAsciiWhitespace(token));
  }
  return options;
}

absl::StatusOr<std::unique_ptr<Client>> ClientFromFlags() {
  absl::StatusOr<ClientOptions> options = OptionsFromFlags();
  if (!options.ok()) return options.status();
  return Client::Create(absl::GetFlag(FLAGS_target), *options);
}

int RunRelu() {
  absl::StatusOr<ReluParams> params = ParamsFromFlags();
  if (!params.ok()) return Fail(params.status());
  const std::string values = absl::GetFlag(FLAGS_values);
  const std::string input = absl::GetFlag(FLAGS_input);
  if (values.empty() == input.empty()) {
    return Fail(absl::InvalidArgumentError("give one of --input or --values"));
  }
  absl::StatusOr<Tensor> tensor;
  if (!values.empty()) {
    absl::StatusOr<core::DataType> dtype =
        ParseDataType(absl::GetFlag(FLAGS_dtype));
    if (!dtype.ok()) return Fail(dtype.status());
    tensor = TensorFromValues(values, *dtype);
  } else {
    if (absl::GetFlag(FLAGS_output).empty()) {
      return Fail(absl::InvalidArgumentError("--input needs --output"));
    }
    tensor = ReadNpy(input);
  }
  if (!tensor.ok()) return Fail(tensor.status());
  absl::StatusOr<std::unique_ptr<Client>> client = ClientFromFlags();
  if (!client.ok()) return Fail(client.status());
  absl::StatusOr<Tensor> result = (*client)->Relu(*std::move(tensor), *params);
  if (!result.ok()) return Fail(result.status());
  if (!values.empty()) {
    std::cout << FormatValues(*result) << "\n";
    return 0;
  }
  if (absl::Status s = WriteNpy(absl::GetFlag(FLAGS_output), *result);
      !s.ok()) {
    return Fail(s);
  }
  return 0;
}

int RunHealth() {
  absl::StatusOr<std::unique_ptr<Client>> client = ClientFromFlags();
  if (!client.ok()) return Fail(client.status());
  absl::StatusOr<std::string> status =
      (*client)->Health(absl::GetFlag(FLAGS_service));
  if (!status.ok()) {
    std::cerr << "activation_client: " << status.status() << "\n";
    return 1;
  }
  std::cout << *status << "\n";
  return *status == "SERVING" ? 0 : 1;
}

int RunInfo() {
  absl::StatusOr<std::unique_ptr<Client>> client = ClientFromFlags();
  if (!client.ok()) return Fail(client.status());
  absl::StatusOr<v1::ServerInfo> info = (*client)->GetServerInfo();
  if (!info.ok()) return Fail(info.status());
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.always_print_primitive_fields = true;
  (void)google::protobuf::util::MessageToJsonString(*info, &json, options);
  std::cout << json;
  return 0;
}

int RunBenchCommand() {
  BenchOptions options;
  absl::StatusOr<ReluParams> params = ParamsFromFlags();
  if (!params.ok()) return Fail(params.status());
  options.params = *params;
  options.concurrency = absl::GetFlag(FLAGS_c);
  options.connections = absl::GetFlag(FLAGS_connections);
  options.duration = absl::GetFlag(FLAGS_z);
  options.total =
      options.duration > absl::ZeroDuration() ? 0 : absl::GetFlag(FLAGS_n);
  options.rps = absl::GetFlag(FLAGS_rps);
  options.stream = absl::GetFlag(FLAGS_stream);
  options.stream_window = absl::GetFlag(FLAGS_stream_window);
  options.verify_every = absl::GetFlag(FLAGS_verify_every);
  options.progress = isatty(STDERR_FILENO) != 0;
  absl::StatusOr<core::DataType> dtype =
      ParseDataType(absl::GetFlag(FLAGS_dtype));
  if (!dtype.ok()) return Fail(dtype.status());
  options.dtype = *dtype;
  options.shape.clear();
  for (absl::string_view part :
       absl::StrSplit(absl::GetFlag(FLAGS_shape), ',')) {
    int64_t dim;
    if (!absl::SimpleAtoi(part, &dim) || dim < 0) {
      return Fail(absl::InvalidArgumentError(
          absl::StrCat("--shape: bad dimension \"", part, "\"")));
    }
    options.shape.push_back(dim);
  }
  const std::string encoding = absl::GetFlag(FLAGS_encoding);
  if (encoding != "raw" && encoding != "float_data") {
    return Fail(
        absl::InvalidArgumentError("--encoding must be raw or float_data"));
  }
  options.float_data = encoding == "float_data";
  const std::string protocol = absl::GetFlag(FLAGS_protocol);
  if (protocol != "activation" && protocol != "oip") {
    return Fail(
        absl::InvalidArgumentError("--protocol must be activation or oip"));
  }
  options.protocol = protocol == "oip" ? BenchOptions::Protocol::kOip
                                       : BenchOptions::Protocol::kActivationV1;
  const std::string format = absl::GetFlag(FLAGS_O);
  if (format != "summary" && format != "json") {
    return Fail(absl::InvalidArgumentError("-O must be summary or json"));
  }
  absl::StatusOr<ClientOptions> client_options = OptionsFromFlags();
  if (!client_options.ok()) return Fail(client_options.status());
  client_options->retry_unavailable = false;  // count what happened
  absl::StatusOr<BenchReport> report =
      RunBench(absl::GetFlag(FLAGS_target), *client_options, options);
  if (!report.ok()) return Fail(report.status());
  std::cout << (format == "json" ? report->Json() + "\n" : report->Summary());
  const int64_t ok =
      report->status_codes.count("OK") ? report->status_codes.at("OK") : 0;
  const bool clean = ok == report->count && report->mismatches == 0;
  return clean || absl::GetFlag(FLAGS_allow_errors) ? 0 : 1;
}

}  // namespace
}  // namespace activation::cli

int main(int argc, char** argv) {
  using activation::cli::Commands;
  // `<command> --help` is ours; absl's --help would list every flag.
  const activation::cli::Command* named = nullptr;
  bool help = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    help = help || arg == "--help" || arg == "-h";
    for (const auto& command : Commands()) {
      if (named == nullptr && arg == command.name) named = &command;
    }
  }
  if (help && named != nullptr) {
    activation::cli::PrintHelp(*named);
    return 0;
  }

  // $ACTIVATION_TARGET, when set, is the default --target (the container's
  // HEALTHCHECK follows it); the flag still wins.
  if (const char* target = std::getenv("ACTIVATION_TARGET");
      target != nullptr && *target != '\0') {
    absl::SetFlag(&FLAGS_target, target);
  }
  absl::SetProgramUsageMessage(activation::cli::kUsage);
  std::vector<char*> positional = absl::ParseCommandLine(argc, argv);
  if (positional.size() != 2) {
    std::cerr << activation::cli::kUsage << "\n";
    return 2;
  }
  const std::string command = positional[1];
  if (command == "relu") return activation::cli::RunRelu();
  if (command == "health") return activation::cli::RunHealth();
  if (command == "info") return activation::cli::RunInfo();
  if (command == "bench") return activation::cli::RunBenchCommand();
  std::cerr << "activation_client: unknown command \"" << command << "\"\n\n"
            << activation::cli::kUsage << "\n";
  return 2;
}

// Every way ServerOptions can be unusable, in one table: the error comes from
// the narrowest function that can see it (ValidateServerOptions,
// ServerCredentialsFor, or only binding in Server::Create), and Server::Create
// returns that same error.

#include "server/options.h"

#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/server.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_server.h"

namespace activation::server {
namespace {

using ::activation::testing::StatusIs;

// Which function first sees the problem.
enum class Stage {
  kValidate,     // ValidateServerOptions
  kCredentials,  // ServerCredentialsFor (reads the PEM files)
  kBind,         // only Server::Create, binding the address
};

struct InvalidCase {
  std::string name;
  std::function<void(ServerOptions&)> mutate;
  Stage stage;
  absl::StatusCode code;
  std::string message;
};

TEST(ServerOptionsTest, DefaultsAreValid) {
  EXPECT_OK(ValidateServerOptions(ServerOptions()));
  EXPECT_OK(ServerCredentialsFor(ServerOptions()));
}

TEST(ServerOptionsTest, InvalidOptionsFailAtTheirStageAndAtCreate) {
  // A running server, whose ports a second one cannot take.
  ServerOptions running_options;
  running_options.metrics_address = "127.0.0.1:0";
  std::unique_ptr<Server> running = testing::StartServer(running_options);
  ASSERT_NE(running, nullptr);
  const std::string taken = absl::StrCat("127.0.0.1:", running->port());
  const std::string taken_metrics =
      absl::StrCat("127.0.0.1:", running->metrics_port());

  const std::string missing = ::testing::TempDir() + "no/such/cert.pem";
  const std::string not_pem = ::testing::TempDir() + "not_a_cert.pem";
  std::ofstream(not_pem) << "hello\n";

  const std::vector<InvalidCase> cases = {
      {"port over 65535 (gRPC would wrap it to 34463)",
       [](ServerOptions& o) { o.address = "127.0.0.1:99999"; },
       Stage::kValidate, absl::StatusCode::kInvalidArgument,
       "address must be host:port with a port in [0, 65535], got "
       "\"127.0.0.1:99999\""},
      {"address without a port",
       [](ServerOptions& o) { o.address = "localhost"; }, Stage::kValidate,
       absl::StatusCode::kInvalidArgument,
       "address must be host:port with a port in [0, 65535], got "
       "\"localhost\""},
      {"negative port", [](ServerOptions& o) { o.address = "127.0.0.1:-1"; },
       Stage::kValidate, absl::StatusCode::kInvalidArgument,
       "address must be host:port with a port in [0, 65535], got "
       "\"127.0.0.1:-1\""},
      {"metrics_address without a port",
       [](ServerOptions& o) { o.metrics_address = "localhost"; },
       Stage::kValidate, absl::StatusCode::kInvalidArgument,
       "metrics_address must be host:port with a port in [0, 65535], got "
       "\"localhost\""},
      {"negative engine threads",
       [](ServerOptions& o) { o.engine_threads = -1; }, Stage::kValidate,
       absl::StatusCode::kInvalidArgument, "threads must be >= 0, got -1"},
      {"max_message_bytes under 128 KiB",
       [](ServerOptions& o) { o.max_message_bytes = 65536; }, Stage::kValidate,
       absl::StatusCode::kInvalidArgument,
       "max_message_bytes must be in [131072, 2147483647], got 65536"},
      {"max_message_bytes over INT_MAX",
       [](ServerOptions& o) { o.max_message_bytes = int64_t{1} << 31; },
       Stage::kValidate, absl::StatusCode::kInvalidArgument,
       "max_message_bytes must be in [131072, 2147483647], got 2147483648"},
      {"zero max_elements", [](ServerOptions& o) { o.max_elements = 0; },
       Stage::kValidate, absl::StatusCode::kInvalidArgument,
       "max_elements must be in [1, 1152921504606846976], got 0"},
      {"max_elements over 2^60",
       [](ServerOptions& o) { o.max_elements = (uint64_t{1} << 60) + 1; },
       Stage::kValidate, absl::StatusCode::kInvalidArgument,
       "max_elements must be in [1, 1152921504606846976], got "
       "1152921504606846977"},
      {"zero max_inflight", [](ServerOptions& o) { o.max_inflight = 0; },
       Stage::kValidate, absl::StatusCode::kInvalidArgument,
       "max_inflight must be > 0, got 0"},
      {"negative max_inflight", [](ServerOptions& o) { o.max_inflight = -3; },
       Stage::kValidate, absl::StatusCode::kInvalidArgument,
       "max_inflight must be > 0, got -3"},
      {"tls_cert without tls_key",
       [](ServerOptions& o) { o.tls_cert_file = "/dev/null"; },
       Stage::kValidate, absl::StatusCode::kInvalidArgument,
       "tls_cert and tls_key go together; got only tls_cert"},
      {"tls_key without tls_cert",
       [](ServerOptions& o) { o.tls_key_file = "/dev/null"; }, Stage::kValidate,
       absl::StatusCode::kInvalidArgument,
       "tls_cert and tls_key go together; got only tls_key"},
      {"tls_client_ca without tls_cert",
       [](ServerOptions& o) { o.tls_client_ca_file = "/dev/null"; },
       Stage::kValidate, absl::StatusCode::kInvalidArgument,
       "tls_client_ca needs tls_cert and tls_key"},
      {"max_connection_age over INT_MAX ms",
       [](ServerOptions& o) { o.max_connection_age = absl::Hours(600); },
       Stage::kValidate, absl::StatusCode::kInvalidArgument,
       "max_connection_age must be in (0, 596h31m23.647s] or inf, got 600h"},
      {"zero max_connection_age",
       [](ServerOptions& o) { o.max_connection_age = absl::ZeroDuration(); },
       Stage::kValidate, absl::StatusCode::kInvalidArgument,
       "max_connection_age must be in (0, 596h31m23.647s] or inf, got 0"},
      {"negative shutdown_grace",
       [](ServerOptions& o) { o.shutdown_grace = absl::Seconds(-1); },
       Stage::kValidate, absl::StatusCode::kInvalidArgument,
       "shutdown_grace must be in [0, 596h31m23.647s], got -1s"},
      {"infinite shutdown_grace",
       [](ServerOptions& o) { o.shutdown_grace = absl::InfiniteDuration(); },
       Stage::kValidate, absl::StatusCode::kInvalidArgument,
       "shutdown_grace must be in [0, 596h31m23.647s], got inf"},
      {"unreadable tls_cert",
       [&](ServerOptions& o) {
         o.tls_cert_file = missing;
         o.tls_key_file = missing + ".key";
       },
       Stage::kCredentials, absl::StatusCode::kInvalidArgument,
       absl::StrCat("tls_cert: cannot read \"", missing, "\"")},
      {"tls_cert that is not PEM",
       [&](ServerOptions& o) {
         o.tls_cert_file = not_pem;
         o.tls_key_file = not_pem;
       },
       Stage::kCredentials, absl::StatusCode::kInvalidArgument,
       absl::StrCat("tls_cert: \"", not_pem,
                    "\" holds no PEM CERTIFICATE block")},
      {"address in use (the port is exclusive)",
       [&](ServerOptions& o) { o.address = taken; }, Stage::kBind,
       absl::StatusCode::kUnavailable,
       absl::StrCat("cannot listen on ", taken,
                    " (in use, or not a valid host:port)")},
      {"unresolvable host",
       [](ServerOptions& o) { o.address = "no-such-host.invalid:50051"; },
       Stage::kBind, absl::StatusCode::kUnavailable,
       "cannot listen on no-such-host.invalid:50051 (in use, or not a valid "
       "host:port)"},
      {"metrics_address in use",
       [&](ServerOptions& o) { o.metrics_address = taken_metrics; },
       Stage::kBind, absl::StatusCode::kUnavailable,
       absl::StrCat("metrics: cannot listen on ", taken_metrics,
                    " (null context when constructing CivetServer. Possible "
                    "problem binding to port.)")},
  };

  for (const InvalidCase& c : cases) {
    SCOPED_TRACE(c.name);
    ServerOptions options;
    options.address = "127.0.0.1:0";  // loopback, should Create accept it
    c.mutate(options);
    // The stages before the case's pass; its own gives the error.
    switch (c.stage) {
      case Stage::kValidate:
        EXPECT_THAT(ValidateServerOptions(options),
                    StatusIs(c.code, c.message));
        break;
      case Stage::kCredentials:
        EXPECT_OK(ValidateServerOptions(options));
        EXPECT_THAT(ServerCredentialsFor(options), StatusIs(c.code, c.message));
        break;
      case Stage::kBind:
        EXPECT_OK(ValidateServerOptions(options));
        EXPECT_OK(ServerCredentialsFor(options));
        break;
    }
    EXPECT_THAT(Server::Create(options), StatusIs(c.code, c.message));
  }
}

}  // namespace
}  // namespace activation::server

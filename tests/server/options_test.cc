// Every way ServerOptions can be unusable, in one table: the error comes from
// the narrowest function that can see it (ValidateServerOptions,
// ServerCredentialsFor, or only binding in Server::Create), and Server::Create
// returns that same error.

#include "server/options.h"

#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <utility>
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
      {"max_memory under 2 * max_message_bytes + 16 KiB",
       [](ServerOptions& o) {
         o.max_message_bytes = 1 << 20;
         o.max_memory_bytes = (2 << 20) + (16 << 10) - 1;
       },
       Stage::kValidate, absl::StatusCode::kInvalidArgument,
       "max_memory must be >= 2 * max_message_bytes + 16 KiB = 2113536, got "
       "2113535"},
      {"max_memory under the default max_message_bytes' floor",
       [](ServerOptions& o) { o.max_memory_bytes = 1; }, Stage::kValidate,
       absl::StatusCode::kInvalidArgument,
       "max_memory must be >= 2 * max_message_bytes + 16 KiB = 134234112, got "
       "1"},
      {"zero max_rank", [](ServerOptions& o) { o.max_rank = 0; },
       Stage::kValidate, absl::StatusCode::kInvalidArgument,
       "max_rank must be in [1, 1024], got 0"},
      {"max_rank over 1024", [](ServerOptions& o) { o.max_rank = 1025; },
       Stage::kValidate, absl::StatusCode::kInvalidArgument,
       "max_rank must be in [1, 1024], got 1025"},
      {"zero max_concurrent_streams",
       [](ServerOptions& o) { o.max_concurrent_streams = 0; }, Stage::kValidate,
       absl::StatusCode::kInvalidArgument,
       "max_concurrent_streams must be > 0, got 0"},
      {"zero metrics_threads", [](ServerOptions& o) { o.metrics_threads = 0; },
       Stage::kValidate, absl::StatusCode::kInvalidArgument,
       "metrics_threads must be in [1, 64], got 0"},
      {"metrics_threads over 64",
       [](ServerOptions& o) { o.metrics_threads = 65; }, Stage::kValidate,
       absl::StatusCode::kInvalidArgument,
       "metrics_threads must be in [1, 64], got 65"},
      {"token without TLS (sent in clear text)",
       [](ServerOptions& o) { o.auth_token = "t0ken"; }, Stage::kValidate,
       absl::StatusCode::kInvalidArgument,
       "auth_token_file without tls_cert would send the token in clear "
       "text; set tls_cert and tls_key, or allow_insecure_token (e.g. "
       "behind a TLS-terminating proxy)"},
      {"negative drain_delay",
       [](ServerOptions& o) { o.drain_delay = absl::Seconds(-1); },
       Stage::kValidate, absl::StatusCode::kInvalidArgument,
       "drain_delay must be in [0, shutdown_grace = 20s], got -1s"},
      {"drain_delay over shutdown_grace",
       [](ServerOptions& o) {
         o.shutdown_grace = absl::Seconds(5);
         o.drain_delay = absl::Seconds(6);
       },
       Stage::kValidate, absl::StatusCode::kInvalidArgument,
       "drain_delay must be in [0, shutdown_grace = 5s], got 6s"},
      {"tls_reload_interval under 1s",
       [](ServerOptions& o) {
         o.tls_reload_interval = absl::Milliseconds(999);
       },
       Stage::kValidate, absl::StatusCode::kInvalidArgument,
       "tls_reload_interval must be in [1s, 24h], got 999ms"},
      {"tls_reload_interval over 24h",
       [](ServerOptions& o) {
         o.tls_reload_interval = absl::Hours(24) + absl::Seconds(1);
       },
       Stage::kValidate, absl::StatusCode::kInvalidArgument,
       "tls_reload_interval must be in [1s, 24h], got 24h1s"},
      {"zero stream_idle_timeout",
       [](ServerOptions& o) { o.stream_idle_timeout = absl::ZeroDuration(); },
       Stage::kValidate, absl::StatusCode::kInvalidArgument,
       "stream_idle_timeout must be in (0, 596h31m23.647s], got 0"},
      {"stream_idle_timeout over INT_MAX ms",
       [](ServerOptions& o) { o.stream_idle_timeout = absl::Hours(600); },
       Stage::kValidate, absl::StatusCode::kInvalidArgument,
       "stream_idle_timeout must be in (0, 596h31m23.647s], got 600h"},
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

// Each new option's bounds are inclusive: the values at the edges start.
TEST(ServerOptionsTest, BoundaryValuesAreValid) {
  const std::vector<std::pair<std::string, std::function<void(ServerOptions&)>>>
      edges = {
          {"max_memory exactly 2 * max_message_bytes + 16 KiB",
           [](ServerOptions& o) {
             o.max_message_bytes = 1 << 20;
             o.max_memory_bytes = (2 << 20) + (16 << 10);
           }},
          {"max_rank 1", [](ServerOptions& o) { o.max_rank = 1; }},
          {"max_rank 1024", [](ServerOptions& o) { o.max_rank = 1024; }},
          {"max_concurrent_streams 1",
           [](ServerOptions& o) { o.max_concurrent_streams = 1; }},
          {"metrics_threads 1",
           [](ServerOptions& o) { o.metrics_threads = 1; }},
          {"metrics_threads 64",
           [](ServerOptions& o) { o.metrics_threads = 64; }},
          {"tls_reload_interval 1s",
           [](ServerOptions& o) { o.tls_reload_interval = absl::Seconds(1); }},
          {"tls_reload_interval 24h",
           [](ServerOptions& o) { o.tls_reload_interval = absl::Hours(24); }},
          {"drain_delay = shutdown_grace",
           [](ServerOptions& o) {
             o.shutdown_grace = absl::Seconds(5);
             o.drain_delay = absl::Seconds(5);
           }},
          {"stream_idle_timeout 1ms",
           [](ServerOptions& o) {
             o.stream_idle_timeout = absl::Milliseconds(1);
           }},
          {"token without TLS, allowed explicitly",
           [](ServerOptions& o) {
             o.auth_token = "t0ken";
             o.allow_insecure_token = true;
           }},
      };
  for (const auto& [name, mutate] : edges) {
    SCOPED_TRACE(name);
    ServerOptions options;
    mutate(options);
    EXPECT_OK(ValidateServerOptions(options));
  }
}

TEST(ServerOptionsTest, TokenWithoutTlsStartsOnlyWhenAllowed) {
  ServerOptions options;
  options.address = "127.0.0.1:0";
  options.auth_token = "t0ken";
  EXPECT_THAT(Server::Create(options),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       ::testing::StartsWith("auth_token_file without "
                                             "tls_cert would send the token")));
  options.allow_insecure_token = true;
  options.drain_delay = absl::ZeroDuration();
  absl::StatusOr<std::unique_ptr<Server>> server = Server::Create(options);
  ASSERT_OK(server);
  EXPECT_TRUE((*server)->info().auth_required());
}

TEST(ServerOptionsTest, MachineDefaultsFillMaxMemoryWithHalfOfWhatIsAvailable) {
  EXPECT_EQ(WithMachineDefaults(ServerOptions()).max_memory_bytes,
            MemoryAvailable() / 2);
  ServerOptions set;
  set.max_memory_bytes = uint64_t{5} << 30;
  EXPECT_EQ(WithMachineDefaults(set).max_memory_bytes, uint64_t{5} << 30);
  EXPECT_GT(MemoryAvailable(), uint64_t{0});
}

}  // namespace
}  // namespace activation::server

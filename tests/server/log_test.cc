#include "server/log.h"

#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace activation::server {
namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;

// Runs `log` with stderr sent to a file; returns the lines it wrote.
template <typename F>
std::vector<std::string> CaptureLines(F log) {
  std::fflush(stderr);
  FILE* file = std::tmpfile();
  const int saved = dup(STDERR_FILENO);
  dup2(fileno(file), STDERR_FILENO);
  log();
  dup2(saved, STDERR_FILENO);
  close(saved);
  std::rewind(file);
  std::string text;
  char buffer[4096];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof(buffer), file)) > 0) {
    text.append(buffer, n);
  }
  std::fclose(file);
  std::vector<std::string> lines = absl::StrSplit(text, '\n');
  lines.pop_back();  // after the last newline
  return lines;
}

class LogTest : public ::testing::Test {
 protected:
  ~LogTest() override { ConfigureLog(LogFormat::kText, LogLevel::kInfo); }
};

TEST_F(LogTest, JsonLineHasTimestampLevelMessageAndTypedFields) {
  ConfigureLog(LogFormat::kJson, LogLevel::kInfo);
  const std::vector<std::string> lines = CaptureLines([] {
    Log(LogLevel::kInfo, "serving",
        {{"port", 50051},
         {"tls", false},
         {"name", "a \"quoted\"\nname"},
         {"grace", absl::Milliseconds(1500)},
         {"age", absl::InfiniteDuration()}});
  });
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_THAT(
      lines[0],
      MatchesRegex(R"(\{"ts":"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:)"
                   R"([0-9]{2}\.[0-9]{6}Z","level":"info","msg":"serving",)"
                   R"("port":50051,"tls":false,)"
                   R"("name":"a \\"quoted\\"\\nname","grace":1\.500000,)"
                   R"("age":"inf"\})"));
}

TEST_F(LogTest, TextLineQuotesOnlyWhatNeedsIt) {
  ConfigureLog(LogFormat::kText, LogLevel::kInfo);
  const std::vector<std::string> lines = CaptureLines([] {
    Log(LogLevel::kWarning, "call failed",
        {{"code", "InvalidArgument"}, {"error", "input.dtype must be set"}});
  });
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_THAT(lines[0], MatchesRegex(R"([0-9T:.Z-]+ warning call failed )"
                                     R"(code=InvalidArgument )"
                                     R"(error="input.dtype must be set")"));
}

TEST_F(LogTest, LinesBelowTheLevelAreNotWritten) {
  ConfigureLog(LogFormat::kText, LogLevel::kWarning);
  EXPECT_FALSE(LogEnabled(LogLevel::kInfo));
  EXPECT_TRUE(LogEnabled(LogLevel::kError));
  const std::vector<std::string> lines = CaptureLines([] {
    Log(LogLevel::kInfo, "hidden");
    Log(LogLevel::kError, "shown");
  });
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_THAT(lines[0], HasSubstr(" error shown"));
}

TEST_F(LogTest, RateLimitWritesAtMostItsBudgetAndCountsTheRest) {
  ConfigureLog(LogFormat::kJson, LogLevel::kInfo);
  LogRateLimit limit(3);
  // 1000 lines within one second (retried if the second turns meanwhile):
  // 3 written, 997 counted, and the count rides on the next line written.
  std::vector<std::string> lines;
  for (int attempt = 0; attempt < 3; ++attempt) {
    lines = CaptureLines([&] {
      const int64_t second = absl::ToUnixSeconds(absl::Now());
      for (int i = 0; i < 1000; ++i) limit.Log(LogLevel::kWarning, "bad");
      if (absl::ToUnixSeconds(absl::Now()) != second) return;
      absl::SleepFor(absl::FromUnixSeconds(second + 1) - absl::Now());
      limit.Log(LogLevel::kWarning, "bad", {{"n", 1}});
    });
    if (lines.size() == 4) break;
  }
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_THAT(lines[2], ::testing::Not(HasSubstr("suppressed")));
  EXPECT_THAT(lines[3], HasSubstr(R"("n":1,"suppressed":997})"));
}

TEST(ParseLogTest, NamesAndErrors) {
  EXPECT_EQ(*ParseLogLevel("warning"), LogLevel::kWarning);
  EXPECT_EQ(*ParseLogFormat("json"), LogFormat::kJson);
  EXPECT_EQ(ParseLogLevel("loud").status().message(),
            "log_level must be debug, info, warning or error, got \"loud\"");
  EXPECT_EQ(ParseLogFormat("xml").status().message(),
            "log_format must be text or json, got \"xml\"");
}

}  // namespace
}  // namespace activation::server

// Logging for operators: one line per event on stderr, as text or JSON
// (timestamp RFC 3339 with microseconds, level, message, fields), so that a
// Kubernetes log pipeline can ship and search them.
//
//   Log(LogLevel::kInfo, "serving", {{"port", 50051}, {"tls", false}});
//   {"ts":"2026-12-01T12:00:00.123456Z","level":"info","msg":"serving",
//    "port":50051,"tls":false}
//   2026-12-01T12:00:00.123456Z info serving port=50051 tls=false
//
// Configure once at start (before other threads log); Log is thread-safe and
// writes each line with one write(2), so lines never interleave.

#ifndef ACTIVATION_SERVER_LOG_H_
#define ACTIVATION_SERVER_LOG_H_

#include <cstdint>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/span.h"

namespace activation::server {

enum class LogLevel { kDebug, kInfo, kWarning, kError };
enum class LogFormat { kText, kJson };

// Parses "debug", "info", "warning", "error" / "text", "json".
absl::StatusOr<LogLevel> ParseLogLevel(absl::string_view name);
absl::StatusOr<LogFormat> ParseLogFormat(absl::string_view name);

// One field of a line: a key and a string, integer, floating-point, bool
// or duration (written in seconds) value.
class LogField {
 public:
  LogField(absl::string_view key, absl::string_view value)
      : key_(key), value_(value), quoted_(true) {}
  LogField(absl::string_view key, const char* value)
      : LogField(key, absl::string_view(value)) {}
  LogField(absl::string_view key, const std::string& value)
      : LogField(key, absl::string_view(value)) {}
  LogField(absl::string_view key, bool value)
      : key_(key), value_(value ? "true" : "false"), quoted_(false) {}
  LogField(absl::string_view key, int value) : LogField(key, int64_t{value}) {}
  LogField(absl::string_view key, int64_t value);
  LogField(absl::string_view key, uint64_t value);
  LogField(absl::string_view key, double value);
  LogField(absl::string_view key, absl::Duration value);

  // Appends ` key=value` (text) or `,"key":value` (JSON) to `line`.
  void AppendTo(LogFormat format, std::string& line) const;

 private:
  absl::string_view key_;
  std::string value_;
  bool quoted_;  // a string: escaped and, in JSON, quoted
};

// Sets the format, the lowest level written and whether every call is
// logged (default: text, info, no access log).
void ConfigureLog(LogFormat format, LogLevel level, bool access_log = false);

// Returns whether every call is logged (--access_log).
bool AccessLogEnabled();

// Returns whether lines of `level` are written: check before building
// costly fields.
bool LogEnabled(LogLevel level);

// Writes one line to stderr if `level` is enabled.
void Log(LogLevel level, absl::string_view message,
         absl::Span<const LogField> fields = {});

// A bound on the lines one kind of event may write: at most `per_second`
// lines each second; the rest are counted, and the next line written
// carries "suppressed": how many were dropped since the last one. So a
// flood of bad requests costs a counter increment per request, not a line.
// Thread-safe.
class LogRateLimit {
 public:
  explicit LogRateLimit(int per_second) : per_second_(per_second) {}

  // Writes the line if the budget allows, else counts it.
  void Log(LogLevel level, absl::string_view message,
           absl::Span<const LogField> fields = {}) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  const int per_second_;
  absl::Mutex mu_;
  int64_t second_ ABSL_GUARDED_BY(mu_) = 0;
  int written_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t suppressed_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace activation::server

#endif  // ACTIVATION_SERVER_LOG_H_

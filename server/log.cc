#include "server/log.h"

#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"

namespace activation::server {
namespace {

std::atomic<LogFormat> g_format{LogFormat::kText};
std::atomic<LogLevel> g_level{LogLevel::kInfo};
std::atomic<bool> g_access_log{false};

constexpr absl::string_view kLevelNames[] = {"debug", "info", "warning",
                                             "error"};

absl::string_view LevelName(LogLevel level) {
  return kLevelNames[static_cast<int>(level)];
}

// Appends `text` as the inside of a JSON string (RFC 8259 escapes); the
// text format uses the same escapes, so a line is always one line.
void AppendEscaped(absl::string_view text, std::string& line) {
  for (const char c : text) {
    switch (c) {
      case '"':
        line += "\\\"";
        break;
      case '\\':
        line += "\\\\";
        break;
      case '\n':
        line += "\\n";
        break;
      case '\r':
        line += "\\r";
        break;
      case '\t':
        line += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          absl::StrAppendFormat(&line, "\\u%04x", c);
        } else {
          line += c;
        }
    }
  }
}

// A string in the text format needs quotes when it is empty or holds a
// space, a quote or an equals sign.
bool NeedsQuotes(absl::string_view text) {
  if (text.empty()) return true;
  for (const char c : text) {
    if (c == ' ' || c == '"' || c == '=' ||
        static_cast<unsigned char>(c) < 0x20) {
      return true;
    }
  }
  return false;
}

void WriteLine(const std::string& line) {
  // One write(2): lines from several threads never interleave.
  size_t written = 0;
  while (written < line.size()) {
    const ssize_t n =
        write(STDERR_FILENO, line.data() + written, line.size() - written);
    if (n <= 0) return;  // stderr closed: nothing more to do
    written += static_cast<size_t>(n);
  }
}

}  // namespace

absl::StatusOr<LogLevel> ParseLogLevel(absl::string_view name) {
  for (int i = 0; i < 4; ++i) {
    if (absl::AsciiStrToLower(name) == kLevelNames[i]) {
      return static_cast<LogLevel>(i);
    }
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "log_level must be debug, info, warning or error, got \"", name, "\""));
}

absl::StatusOr<LogFormat> ParseLogFormat(absl::string_view name) {
  if (name == "text") return LogFormat::kText;
  if (name == "json") return LogFormat::kJson;
  return absl::InvalidArgumentError(
      absl::StrCat("log_format must be text or json, got \"", name, "\""));
}

LogField::LogField(absl::string_view key, int64_t value)
    : key_(key), value_(absl::StrCat(value)), quoted_(false) {}
LogField::LogField(absl::string_view key, uint64_t value)
    : key_(key), value_(absl::StrCat(value)), quoted_(false) {}
LogField::LogField(absl::string_view key, double value)
    : key_(key),
      value_(absl::StrFormat("%.6g", value)),
      // JSON has no infinity or NaN: those go as strings ("inf").
      quoted_(!std::isfinite(value)) {}
LogField::LogField(absl::string_view key, absl::Duration value)
    : key_(key),
      value_(value == absl::InfiniteDuration()
                 ? "inf"
                 : absl::StrFormat("%.6f", absl::ToDoubleSeconds(value))),
      quoted_(value == absl::InfiniteDuration()) {}

void LogField::AppendTo(LogFormat format, std::string& line) const {
  if (format == LogFormat::kJson) {
    line += ",\"";
    AppendEscaped(key_, line);
    line += "\":";
    if (!quoted_) {
      line += value_;
      return;
    }
    line += '"';
    AppendEscaped(value_, line);
    line += '"';
    return;
  }
  line += ' ';
  line.append(key_.data(), key_.size());
  line += '=';
  if (!quoted_ || !NeedsQuotes(value_)) {
    line += value_;
    return;
  }
  line += '"';
  AppendEscaped(value_, line);
  line += '"';
}

void ConfigureLog(LogFormat format, LogLevel level, bool access_log) {
  g_format.store(format);
  g_level.store(level);
  g_access_log.store(access_log);
}

bool AccessLogEnabled() { return g_access_log.load(std::memory_order_relaxed); }

bool LogEnabled(LogLevel level) { return level >= g_level.load(); }

void Log(LogLevel level, absl::string_view message,
         absl::Span<const LogField> fields) {
  if (!LogEnabled(level)) return;
  const LogFormat format = g_format.load();
  const std::string time = absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", absl::Now(),
                                            absl::UTCTimeZone());
  std::string line;
  line.reserve(128);
  if (format == LogFormat::kJson) {
    absl::StrAppend(&line, "{\"ts\":\"", time, "\",\"level\":\"",
                    LevelName(level), "\",\"msg\":\"");
    AppendEscaped(message, line);
    line += '"';
  } else {
    absl::StrAppend(&line, time, " ", LevelName(level), " ");
    AppendEscaped(message, line);
  }
  for (const LogField& field : fields) field.AppendTo(format, line);
  if (format == LogFormat::kJson) line += '}';
  line += '\n';
  WriteLine(line);
}

void LogRateLimit::Log(LogLevel level, absl::string_view message,
                       absl::Span<const LogField> fields) {
  if (!LogEnabled(level)) return;
  int64_t suppressed;
  {
    const int64_t second = absl::ToUnixSeconds(absl::Now());
    absl::MutexLock lock(&mu_);
    if (second != second_) {
      second_ = second;
      written_ = 0;
    }
    if (written_ >= per_second_) {
      ++suppressed_;
      return;
    }
    ++written_;
    suppressed = suppressed_;
    suppressed_ = 0;
  }
  if (suppressed == 0) {
    server::Log(level, message, fields);
    return;
  }
  // The count of the lines dropped before this one goes last.
  std::vector<LogField> all(fields.begin(), fields.end());
  all.emplace_back("suppressed", suppressed);
  server::Log(level, message, all);
}

}  // namespace activation::server

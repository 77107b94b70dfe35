#include "server/process_metrics.h"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>

#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace activation::server {
namespace {

using prometheus::MetricType;

// Reads a whole small file, or "" if it cannot.
std::string Slurp(const char* path) {
  std::ifstream file(path);
  std::ostringstream contents;
  contents << file.rdbuf();
  return contents.str();
}

double CountOpenFds() {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return 0;
  int count = 0;
  while (dirent* entry = readdir(dir)) {
    if (entry->d_name[0] != '.') ++count;
  }
  closedir(dir);
  return count - 1;  // not the descriptor opendir itself holds
}

double BootTime() {
  for (absl::string_view line : absl::StrSplit(Slurp("/proc/stat"), '\n')) {
    if (absl::ConsumePrefix(&line, "btime ")) {
      return std::strtod(std::string(line).c_str(), nullptr);
    }
  }
  return 0;
}

// CPU time, memory and start time from /proc/self/stat.
void AddProcStat(std::vector<prometheus::MetricFamily>& families) {
  const std::string stat = Slurp("/proc/self/stat");
  const size_t paren = stat.rfind(')');
  if (paren == std::string::npos) return;
  // Fields after "pid (comm)": state is field 3; utime 14, stime 15,
  // starttime 22, vsize 23, rss 24.
  const std::vector<std::string> fields =
      absl::StrSplit(stat.substr(paren + 2), ' ');
  auto field = [&](int number) {
    const size_t index = static_cast<size_t>(number - 3);
    return index < fields.size() ? std::strtod(fields[index].c_str(), nullptr)
                                 : 0.0;
  };
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
  families.push_back(SingleValueFamily(
      "process_cpu_seconds_total", "User and system CPU time spent in seconds.",
      MetricType::Counter, (field(14) + field(15)) / ticks));
  families.push_back(SingleValueFamily("process_resident_memory_bytes",
                                       "Resident memory size in bytes.",
                                       MetricType::Gauge, field(24) * page));
  families.push_back(SingleValueFamily("process_virtual_memory_bytes",
                                       "Virtual memory size in bytes.",
                                       MetricType::Gauge, field(23)));
  families.push_back(SingleValueFamily(
      "process_start_time_seconds",
      "Start time of the process since unix epoch in seconds.",
      MetricType::Gauge, BootTime() + field(22) / ticks));
}

}  // namespace

prometheus::MetricFamily SingleValueFamily(const std::string& name,
                                           const std::string& help,
                                           MetricType type, double value) {
  prometheus::ClientMetric metric;
  if (type == MetricType::Counter) {
    metric.counter.value = value;
  } else {
    metric.gauge.value = value;
  }
  return prometheus::MetricFamily{name, help, type, {std::move(metric)}};
}

std::vector<prometheus::MetricFamily> ProcessCollector::Collect() const {
  std::vector<prometheus::MetricFamily> families;
  AddProcStat(families);
  families.push_back(SingleValueFamily("process_open_fds",
                                       "Number of open file descriptors.",
                                       MetricType::Gauge, CountOpenFds()));
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0) {
    families.push_back(SingleValueFamily(
        "process_max_fds", "Maximum number of open file descriptors.",
        MetricType::Gauge, static_cast<double>(limit.rlim_cur)));
  }
  return families;
}

}  // namespace activation::server

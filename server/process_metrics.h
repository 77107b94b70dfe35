// The standard process_* metrics of Prometheus clients, read from /proc at
// scrape time.

#ifndef ACTIVATION_SERVER_PROCESS_METRICS_H_
#define ACTIVATION_SERVER_PROCESS_METRICS_H_

#include <vector>

#include "prometheus/collectable.h"
#include "prometheus/metric_family.h"

namespace activation::server {

// process_cpu_seconds_total, process_resident_memory_bytes,
// process_virtual_memory_bytes, process_start_time_seconds, process_open_fds
// and process_max_fds of this process. Thread-safe; holds no state.
class ProcessCollector final : public prometheus::Collectable {
 public:
  std::vector<prometheus::MetricFamily> Collect() const override;
};

// Returns a family of one unlabelled counter or gauge.
prometheus::MetricFamily SingleValueFamily(const std::string& name,
                                           const std::string& help,
                                           prometheus::MetricType type,
                                           double value);

}  // namespace activation::server

#endif  // ACTIVATION_SERVER_PROCESS_METRICS_H_

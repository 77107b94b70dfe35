// grpc.health.v1.Health, Check and Watch, generated from the standard proto
// so that reflection (grpcurl, ghz) can see it.

#ifndef ACTIVATION_SERVER_HEALTH_SERVICE_H_
#define ACTIVATION_SERVER_HEALTH_SERVICE_H_

#include <map>
#include <memory>
#include <set>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "server/metrics.h"

namespace activation::server {

// Thread-safe.
class HealthService final : public grpc::health::v1::Health::CallbackService {
 public:
  using ServingStatus = grpc::health::v1::HealthCheckResponse::ServingStatus;
  class Watcher;

  struct Limits {
    // Longer service names get INVALID_ARGUMENT (no known name comes close).
    size_t max_name_bytes = 256;
    // Watch streams at once; more get RESOURCE_EXHAUSTED.
    int max_watchers = 100;
  };

  // `services` are the names Check and Watch know ("" is always known);
  // all start SERVING. `metrics` (not owned, may be null) records the calls.
  HealthService(const std::set<std::string>& services, Metrics* metrics,
                const Limits& limits);
  ~HealthService() override;

  // Sets every known service to NOT_SERVING and ends every Watch stream
  // after it has been told. Later Watch calls get NOT_SERVING and end.
  void Shutdown();

  grpc::ServerUnaryReactor* Check(
      grpc::CallbackServerContext* context,
      const grpc::health::v1::HealthCheckRequest* request,
      grpc::health::v1::HealthCheckResponse* response) override;

  grpc::ServerWriteReactor<grpc::health::v1::HealthCheckResponse>* Watch(
      grpc::CallbackServerContext* context,
      const grpc::health::v1::HealthCheckRequest* request) override;

 private:
  friend class Watcher;

  // Returns the status of `service`, SERVICE_UNKNOWN if it is not known.
  ServingStatus StatusOf(const std::string& service) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RemoveWatcher(Watcher* watcher) ABSL_LOCKS_EXCLUDED(mu_);

  // Returns why `service` cannot be asked about, or OK.
  absl::Status CheckName(const std::string& service) const;

  Metrics* const metrics_;  // Not owned; may be null.
  const Limits limits_;
  mutable absl::Mutex mu_;
  std::map<std::string, ServingStatus> statuses_ ABSL_GUARDED_BY(mu_);
  // Reactor methods are never called with mu_ held: gRPC may run reactions
  // inline, and OnDone takes mu_.
  std::map<Watcher*, std::weak_ptr<Watcher>> watchers_ ABSL_GUARDED_BY(mu_);
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace activation::server

#endif  // ACTIVATION_SERVER_HEALTH_SERVICE_H_

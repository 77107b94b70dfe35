#include "server/health_service.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "server/call.h"
#include "server/client_text.h"

namespace activation::server {

using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;

// One Watch stream: writes the latest status whenever it changes, one write
// at a time. Decides under mu_ and calls the reactor methods after releasing
// it, since gRPC may run OnWriteDone or OnDone inline. Owned by `self_` until
// OnDone, and by whoever else holds a shared_ptr, so the service can call
// Send on a watcher that a cancellation has just finished.
class HealthService::Watcher final
    : public grpc::ServerWriteReactor<HealthCheckResponse> {
 public:
  static std::shared_ptr<Watcher> Create(HealthService* service,
                                         std::string name, Metrics* metrics,
                                         grpc::CallbackServerContext& context) {
    auto watcher = std::shared_ptr<Watcher>(
        new Watcher(service, std::move(name), metrics, context));
    watcher->self_ = watcher;
    return watcher;
  }

  const std::string& name() const { return name_; }

  // Queues `status` for the client; with `last`, ends the stream after it.
  void Send(ServingStatus status, bool last) ABSL_LOCKS_EXCLUDED(mu_) {
    {
      absl::MutexLock lock(&mu_);
      if (finished_) return;
      pending_ = status;
      finish_after_ = finish_after_ || last;
    }
    Pump();
  }

  // Ends the stream with `status` before anything was sent.
  void Refuse(const absl::Status& status) ABSL_LOCKS_EXCLUDED(mu_) {
    {
      absl::MutexLock lock(&mu_);
      finished_ = true;
    }
    Finish(call_.Finish(status));
  }

  void OnWriteDone(bool ok) override ABSL_LOCKS_EXCLUDED(mu_) {
    {
      absl::MutexLock lock(&mu_);
      writing_ = false;
      broken_ = broken_ || !ok;
    }
    Pump();
  }

  void OnCancel() override ABSL_LOCKS_EXCLUDED(mu_) {
    {
      absl::MutexLock lock(&mu_);
      broken_ = true;
    }
    Pump();
  }

  void OnDone() override {
    AfterEveryReaction(this);
    service_->RemoveWatcher(this);
    self_.reset();  // may delete *this
  }

 private:
  Watcher(HealthService* service, std::string name, Metrics* metrics,
          grpc::CallbackServerContext& context)
      : service_(service),
        name_(std::move(name)),
        call_(metrics, Metrics::Rpc::kHealthWatch, context) {
    call_.Received();
  }

  // Starts the next write or the finish, if one is due.
  void Pump() ABSL_LOCKS_EXCLUDED(mu_) {
    bool finish = false;
    absl::Status finish_status;
    {
      absl::MutexLock lock(&mu_);
      if (writing_ || finished_) return;
      if (!broken_ && pending_ != sent_) {
        sent_ = pending_;
        response_.set_status(sent_);
        writing_ = true;
      } else if (broken_ || finish_after_) {
        finished_ = finish = true;
        finish_status = broken_ ? absl::CancelledError("watch cancelled")
                                : absl::OkStatus();
      } else {
        return;
      }
    }
    // Only this thread got to start this write or the finish (the flags
    // were claimed under mu_), so call_ is not touched concurrently.
    if (finish) {
      Finish(call_.Finish(finish_status));
    } else {
      call_.Sent();
      StartWrite(&response_);
    }
  }

  HealthService* const service_;  // Not owned.
  const std::string name_;
  std::shared_ptr<Watcher> self_;
  Call call_;
  absl::Mutex mu_;
  // Written under mu_ while no write is in flight; read by gRPC during one.
  HealthCheckResponse response_;
  ServingStatus pending_ ABSL_GUARDED_BY(mu_) = HealthCheckResponse::UNKNOWN;
  ServingStatus sent_ ABSL_GUARDED_BY(mu_) = HealthCheckResponse::UNKNOWN;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool broken_ ABSL_GUARDED_BY(mu_) = false;  // cancelled or a write failed
  bool finish_after_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
};

HealthService::HealthService(const std::set<std::string>& services,
                             Metrics* metrics, const Limits& limits)
    : metrics_(metrics), limits_(limits) {
  absl::MutexLock lock(&mu_);
  statuses_[""] = HealthCheckResponse::SERVING;
  for (const std::string& service : services) {
    statuses_[service] = HealthCheckResponse::SERVING;
  }
}

HealthService::~HealthService() = default;

absl::Status HealthService::CheckName(const std::string& service) const {
  if (service.size() > limits_.max_name_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("service name has ", service.size(), " bytes; at most ",
                     limits_.max_name_bytes));
  }
  return absl::OkStatus();
}

HealthService::ServingStatus HealthService::StatusOf(
    const std::string& service) const {
  const auto it = statuses_.find(service);
  return it == statuses_.end() ? HealthCheckResponse::SERVICE_UNKNOWN
                               : it->second;
}

void HealthService::Shutdown() {
  std::vector<std::pair<std::shared_ptr<Watcher>, ServingStatus>> to_tell;
  {
    absl::MutexLock lock(&mu_);
    shut_down_ = true;
    for (auto& [name, status] : statuses_) {
      status = HealthCheckResponse::NOT_SERVING;
    }
    for (const auto& [raw, weak] : watchers_) {
      if (std::shared_ptr<Watcher> watcher = weak.lock()) {
        to_tell.emplace_back(watcher, StatusOf(watcher->name()));
      }
    }
  }
  for (const auto& [watcher, status] : to_tell) {
    watcher->Send(status, /*last=*/true);
  }
}

void HealthService::RemoveWatcher(Watcher* watcher) {
  absl::MutexLock lock(&mu_);
  watchers_.erase(watcher);
}

grpc::ServerUnaryReactor* HealthService::Check(
    grpc::CallbackServerContext* context, const HealthCheckRequest* request,
    HealthCheckResponse* response) {
  return ServeUnary(
      metrics_, Metrics::Rpc::kHealthCheck, context, [&](Call& call) {
        call.Received();
        if (absl::Status s = CheckName(request->service()); !s.ok()) return s;
        ServingStatus status;
        {
          absl::MutexLock lock(&mu_);
          status = StatusOf(request->service());
        }
        if (status == HealthCheckResponse::SERVICE_UNKNOWN) {
          return absl::NotFoundError(absl::StrCat(
              "unknown service ", QuoteClientText(request->service())));
        }
        response->set_status(status);
        call.Sent();
        return absl::OkStatus();
      });
}

grpc::ServerWriteReactor<HealthCheckResponse>* HealthService::Watch(
    grpc::CallbackServerContext* context, const HealthCheckRequest* request) {
  absl::Status refusal = CheckName(request->service());
  std::shared_ptr<Watcher> watcher = Watcher::Create(
      this, refusal.ok() ? request->service() : "", metrics_, *context);
  ServingStatus status;
  bool last;
  {
    absl::MutexLock lock(&mu_);
    if (refusal.ok() &&
        watchers_.size() >= static_cast<size_t>(limits_.max_watchers)) {
      refusal = absl::ResourceExhaustedError(
          absl::StrCat("server is at its limit of ", limits_.max_watchers,
                       " Watch streams; poll with Check"));
    }
    if (refusal.ok()) watchers_[watcher.get()] = watcher;
    status = StatusOf(request->service());
    last = shut_down_;
  }
  if (!refusal.ok()) {
    watcher->Refuse(refusal);
  } else {
    watcher->Send(status, last);
  }
  return watcher.get();
}

}  // namespace activation::server

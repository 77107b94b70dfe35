#include "server/call_context.h"

#include "absl/strings/str_cat.h"
#include "server/auth.h"

namespace activation::server {

absl::Status GrpcCallContext::CheckToken(absl::string_view token) const {
  return CheckBearerMetadata(context_.client_metadata(), token);
}

void GrpcCallContext::SetRetryPushback(absl::Duration delay) {
  context_.AddTrailingMetadata("grpc-retry-pushback-ms",
                               absl::StrCat(absl::ToInt64Milliseconds(delay)));
}

}  // namespace activation::server

// GoogleTest helpers for absl::Status and absl::StatusOr.

#ifndef ACTIVATION_TESTS_TESTING_STATUS_MATCHERS_H_
#define ACTIVATION_TESTS_TESTING_STATUS_MATCHERS_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace activation::testing {

inline const absl::Status& GetStatus(const absl::Status& status) {
  return status;
}
template <typename T>
const absl::Status& GetStatus(const absl::StatusOr<T>& status_or) {
  return status_or.status();
}

// Matches an OK absl::Status or absl::StatusOr<T>.
MATCHER(IsOk, "is OK") {
  const absl::Status& status = GetStatus(arg);
  if (!status.ok()) *result_listener << "status is " << status;
  return status.ok();
}

// Matches a status with `code` whose message matches `message_matcher`.
MATCHER_P2(StatusIs, code, message_matcher,
           "has code " + absl::StatusCodeToString(code)) {
  const absl::Status& status = GetStatus(arg);
  *result_listener << "status is " << status;
  return status.code() == code &&
         ::testing::ExplainMatchResult(
             message_matcher, std::string(status.message()), result_listener);
}

}  // namespace activation::testing

#define ASSERT_OK(expr) ASSERT_THAT((expr), ::activation::testing::IsOk())
#define EXPECT_OK(expr) EXPECT_THAT((expr), ::activation::testing::IsOk())

#endif  // ACTIVATION_TESTS_TESTING_STATUS_MATCHERS_H_

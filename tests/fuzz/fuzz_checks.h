// How the fuzz targets report a failed check: one line on stderr naming the
// target and the check, then abort, so that libFuzzer keeps the input as a
// crash artifact and scripts/fuzz.sh can show the line.

#ifndef ACTIVATION_TESTS_FUZZ_FUZZ_CHECKS_H_
#define ACTIVATION_TESTS_FUZZ_FUZZ_CHECKS_H_

#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <initializer_list>
#include <string>

#include "absl/status/status.h"

namespace activation::testing {

// Prints "<target>: <what>: <detail>" to stderr and aborts. `detail` is
// printed up to its first NUL.
[[noreturn]] inline void Fail(const char* target, const char* what,
                              const std::string& detail) {
  std::fprintf(stderr, "%s: %s: %s\n", target, what, detail.c_str());
  std::abort();
}

// Fails as `target` unless the refusal `status` has one of `codes` and a
// message of at most `max_message_bytes`. The bound catches a message that
// echoes client input whole instead of quoting a bounded part of it.
inline void CheckRefusal(const char* target, const absl::Status& status,
                         std::initializer_list<absl::StatusCode> codes,
                         size_t max_message_bytes) {
  bool expected = false;
  for (absl::StatusCode code : codes) {
    if (status.code() == code) expected = true;
  }
  if (!expected) {
    Fail(target, "refusal with an unexpected code", status.ToString());
  }
  if (status.message().size() > max_message_bytes) {
    Fail(target, "refusal message too long",
         std::to_string(status.message().size()) + " bytes");
  }
}

}  // namespace activation::testing

#endif  // ACTIVATION_TESTS_FUZZ_FUZZ_CHECKS_H_

// Reads Prometheus' text exposition format, for tests.

#ifndef ACTIVATION_TESTS_TESTING_PROMETHEUS_TEXT_H_
#define ACTIVATION_TESTS_TESTING_PROMETHEUS_TEXT_H_

#include <map>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

namespace activation::testing {

// Returns "name{labels}" -> value for every sample line of `text`.
inline std::map<std::string, double> ParseSamples(absl::string_view text) {
  std::map<std::string, double> samples;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (line.empty() || line[0] == '#') continue;
    const size_t space = line.rfind(' ');
    double value = 0;
    if (space == absl::string_view::npos ||
        !absl::SimpleAtod(line.substr(space + 1), &value)) {
      continue;
    }
    samples[std::string(line.substr(0, space))] = value;
  }
  return samples;
}

}  // namespace activation::testing

#endif  // ACTIVATION_TESTS_TESTING_PROMETHEUS_TEXT_H_

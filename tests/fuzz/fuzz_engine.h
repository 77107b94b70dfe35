// The engine the fuzz targets compute with.

#ifndef ACTIVATION_TESTS_FUZZ_FUZZ_ENGINE_H_
#define ACTIVATION_TESTS_FUZZ_FUZZ_ENGINE_H_

#include <cstdlib>
#include <memory>

#include "absl/status/statusor.h"
#include "core/engine.h"

namespace activation::testing {

// Returns an engine with two threads and a small grain, so that tensors of a
// few hundred elements already run in parallel chunks. Aborts if it cannot
// be made.
inline const core::Engine& FuzzEngine() {
  static const core::Engine* const engine = [] {
    core::EngineOptions options;
    options.threads = 2;
    options.grain_elements = 64;
    absl::StatusOr<std::unique_ptr<core::Engine>> created =
        core::Engine::Create(options);
    if (!created.ok()) std::abort();
    return created->release();
  }();
  return *engine;
}

}  // namespace activation::testing

#endif  // ACTIVATION_TESTS_FUZZ_FUZZ_ENGINE_H_

// The ReLU activation of tf.keras.layers.ReLU, element-wise over a buffer.
//
//   ReluParams params;
//   params.max_value = 6.0;
//   absl::Status s = Relu(params, DataType::kFloat32, in, out, count);
//
// Two modes: DOCUMENTED evaluates the formula of the Keras reference
// documentation; KERAS reproduces, bit for bit, what TF 2.x
// tf.keras.backend.relu computes. docs/semantics.md states both and the inputs
// on which they differ.

#ifndef ACTIVATION_CORE_RELU_H_
#define ACTIVATION_CORE_RELU_H_

#include <cstddef>
#include <optional>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/dtype.h"
#include "core/internal/relu_constants.h"

namespace activation::core {

enum class Mode {
  kDocumented,  // The formula of the tf.keras.layers.ReLU reference.
  kKeras,       // What tf.keras.backend.relu computes; floating point only.
};

struct ReluParams {
  // Unset: no cap. When set, finite and >= 0.
  std::optional<double> max_value;
  // Finite, >= 0.
  double negative_slope = 0.0;
  // Finite, any sign.
  double threshold = 0.0;
  Mode mode = Mode::kDocumented;
};

// Returns OK when `params` can be applied to tensors of `dtype`, else
// InvalidArgument naming the parameter and its value, e.g.
// "max_value must be >= 0, got -1".
absl::Status ValidateReluParams(const ReluParams& params, DataType dtype);

// A ReLU with its parameters validated and converted for one dtype: what the
// engine runs. Create it once per call (or once for many calls with the same
// parameters); Apply and Engine::Relu then do no validation of their own.
// Cheap to copy; immutable, so any number of threads may use one at once.
class ReluOp {
 public:
  // Returns the op, or ValidateReluParams's error.
  static absl::StatusOr<ReluOp> Create(const ReluParams& params,
                                       DataType dtype);

  DataType dtype() const { return plan_.dtype; }
  const internal::ReluPlan& plan() const { return plan_; }

  // Applies the op to `count` elements, as Relu below (same contract).
  absl::Status Apply(const void* input, void* output, size_t count) const;

 private:
  explicit ReluOp(const internal::ReluPlan& plan) : plan_(plan) {}

  internal::ReluPlan plan_;
};

// Applies ReLU to `count` elements of `dtype` read from `input` and written to
// `output`, serially on the calling thread. `input == output` computes in
// place; otherwise the two ranges must not overlap. The pointers need no
// particular alignment; elements are in host byte order.
//
// Returns InvalidArgument for invalid params (see ValidateReluParams) or
// partially overlapping buffers; then `output` is untouched.
absl::Status Relu(const ReluParams& params, DataType dtype, const void* input,
                  void* output, size_t count);

// Returns the instruction set the kernels picked on this CPU at load time:
// "x86-64-v4 (AVX-512)", "x86-64-v3 (AVX2)" or "x86-64", with "+F16C" when
// FLOAT16 converts in hardware; "portable" off x86-64.
absl::string_view KernelIsa();

}  // namespace activation::core

#endif  // ACTIVATION_CORE_RELU_H_

// activation_client relu --values: tensors from and to comma-separated text.

#ifndef ACTIVATION_CLIENT_CLI_VALUES_H_
#define ACTIVATION_CLIENT_CLI_VALUES_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "client/tensor.h"
#include "core/dtype.h"

namespace activation::cli {

// Returns a one-dimensional tensor of `dtype` holding the comma-separated
// `text`. Integers are parsed exactly and must be in the dtype's range;
// floating-point values are rounded to the dtype. Returns InvalidArgument
// quoting the first bad entry: `"300" is not an integer in INT8's range
// [-128, 127]`, `not a number: "x"`.
absl::StatusOr<Tensor> TensorFromValues(absl::string_view text,
                                        core::DataType dtype);

// Returns the elements of `tensor` as comma-separated text ("-0.1,0,2.5"),
// 16-bit floats widened to float32 first.
std::string FormatValues(const Tensor& tensor);

}  // namespace activation::cli

#endif  // ACTIVATION_CLIENT_CLI_VALUES_H_

// NumPy .npy files: format versions 1.0, 2.0 and 3.0; dtypes f2 f4 f8 i1 i2
// i4 i8 u1 u2 u4 u8 in either byte order; C or Fortran order.

#ifndef ACTIVATION_CLIENT_CLI_NPY_H_
#define ACTIVATION_CLIENT_CLI_NPY_H_

#include <string>

#include "absl/status/statusor.h"
#include "client/tensor.h"

namespace activation::cli {

// Parses the bytes of a .npy file into a little-endian, row-major Tensor
// (converting byte order and Fortran order). Returns InvalidArgument saying
// what is wrong for anything else: bad magic, unknown version, a dtype
// outside the list above, object arrays, a size that does not match.
absl::StatusOr<Tensor> ParseNpy(const std::string& bytes);

// Reads and parses the .npy file at `path`; NotFound if it cannot be read.
absl::StatusOr<Tensor> ReadNpy(const std::string& path);

// Returns the .npy bytes of `tensor` (version 1.0, or 2.0 when the header
// needs it; little-endian, C order). InvalidArgument for BFLOAT16, which
// NumPy has no dtype for.
absl::StatusOr<std::string> SerializeNpy(const Tensor& tensor);

// Writes `tensor` to `path` as .npy.
absl::Status WriteNpy(const std::string& path, const Tensor& tensor);

}  // namespace activation::cli

#endif  // ACTIVATION_CLIENT_CLI_NPY_H_

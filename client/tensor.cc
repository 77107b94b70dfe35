#include "client/tensor.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace activation {

absl::StatusOr<uint64_t> ByteSize(const Tensor& tensor) {
  uint64_t bytes = core::ItemSize(tensor.dtype);
  for (size_t i = 0; i < tensor.shape.size(); ++i) {
    const int64_t dim = tensor.shape[i];
    if (dim < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("tensor.shape[", i, "] must be >= 0, got ", dim));
    }
    if (__builtin_mul_overflow(bytes, static_cast<uint64_t>(dim), &bytes)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "tensor.shape [", absl::StrJoin(tensor.shape, ", "), "] of ",
          core::DataTypeName(tensor.dtype), " needs more than 2^64 bytes"));
    }
  }
  return bytes;
}

}  // namespace activation

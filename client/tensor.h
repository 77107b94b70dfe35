// The client's tensor: a dtype, a row-major shape and little-endian bytes.

#ifndef ACTIVATION_CLIENT_TENSOR_H_
#define ACTIVATION_CLIENT_TENSOR_H_

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/dtype.h"
#include "core/relu.h"

namespace activation {

struct Tensor {
  core::DataType dtype = core::DataType::kFloat32;
  std::vector<int64_t> shape;  // row-major; {} is a scalar
  // product(shape) * ItemSize(dtype) bytes, little-endian. A std::string so
  // that it moves into and out of protobuf messages without a copy.
  std::string data;

  // product(shape), for a shape ByteSize accepts: it wraps for others.
  uint64_t elements() const {
    uint64_t n = 1;
    for (int64_t dim : shape) n *= static_cast<uint64_t>(dim);
    return n;
  }

  // A FLOAT32 tensor holding `values` with `shape` ({size} when empty).
  static Tensor Float32(const std::vector<float>& values,
                        std::vector<int64_t> shape = {}) {
    Tensor tensor;
    tensor.shape =
        shape.empty()
            ? std::vector<int64_t>{static_cast<int64_t>(values.size())}
            : std::move(shape);
    tensor.data.assign(reinterpret_cast<const char*>(values.data()),
                       values.size() * sizeof(float));
    return tensor;
  }

  // The elements as T (no dtype check).
  template <typename T>
  std::vector<T> As() const {
    std::vector<T> values(data.size() / sizeof(T));
    if (!values.empty()) std::memcpy(values.data(), data.data(), data.size());
    return values;
  }
};

// Returns product(shape) * ItemSize(dtype), the size `data` must have.
// Returns InvalidArgument naming the dimension for a negative one
// ("tensor.shape[0] must be >= 0, got -1"), or when the size does not fit
// in 64 bits. Does not look at `data`.
absl::StatusOr<uint64_t> ByteSize(const Tensor& tensor);

// The ReLU parameters; the engine's, which docs/semantics.md describes.
using ReluParams = core::ReluParams;

}  // namespace activation

#endif  // ACTIVATION_CLIENT_TENSOR_H_

#include "server/shape.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace activation::server {

std::string ShapeString(absl::Span<const int64_t> shape) {
  constexpr size_t kMaxShown = 16;
  if (shape.size() <= kMaxShown) {
    return absl::StrCat("[", absl::StrJoin(shape, ","), "]");
  }
  return absl::StrCat("[", absl::StrJoin(shape.subspan(0, kMaxShown), ","),
                      ",...] (", shape.size(), " dimensions)");
}

absl::StatusOr<uint64_t> ElementCount(absl::Span<const int64_t> shape,
                                      absl::string_view field,
                                      uint64_t max_elements, int max_rank) {
  if (shape.size() > static_cast<size_t>(max_rank)) {
    return absl::ResourceExhaustedError(
        absl::StrCat(field, " has ", shape.size(),
                     " dimensions; this server accepts at most ", max_rank,
                     " (--max_rank)"));
  }
  bool empty = false;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, "[", i, "] must be >= 0, got ", shape[i]));
    }
    empty = empty || shape[i] == 0;
  }
  if (empty) return 0;
  uint64_t count = 1;
  for (int64_t dim : shape) {
    if (__builtin_mul_overflow(count, static_cast<uint64_t>(dim), &count)) {
      return absl::InvalidArgumentError(absl::StrCat(
          field, " ", ShapeString(shape), " has more than 2^64 elements"));
    }
  }
  if (count > max_elements) {
    return absl::ResourceExhaustedError(
        absl::StrCat(field, " ", ShapeString(shape), " has ", count,
                     " elements; this server accepts at most ", max_elements,
                     " (--max_elements)"));
  }
  return count;
}

absl::StatusOr<uint64_t> PayloadSize(uint64_t count, core::DataType dtype,
                                     absl::Span<const int64_t> shape,
                                     absl::string_view field) {
  uint64_t bytes;
  if (__builtin_mul_overflow(count, core::ItemSize(dtype), &bytes)) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, " ", ShapeString(shape), " of ",
                     core::DataTypeName(dtype), " needs 2^64 bytes or more"));
  }
  return bytes;
}

}  // namespace activation::server

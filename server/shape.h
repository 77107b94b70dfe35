// Shape checks shared by every front's codec: a client's shape is bounded
// before anything is sized from it, and quoted briefly in errors.

#ifndef ACTIVATION_SERVER_SHAPE_H_
#define ACTIVATION_SERVER_SHAPE_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "core/dtype.h"

namespace activation::server {

// Returns `shape` for error messages: whole up to 16 dimensions, else the
// first 16 and the rank, so that a client's shape cannot make a huge message.
std::string ShapeString(absl::Span<const int64_t> shape);

// Returns product(shape), `field` naming the shape in errors (e.g.
// "input.shape"). A negative dimension, or a product that overflows 64 bits,
// is InvalidArgument; more than `max_elements` elements or `max_rank`
// dimensions is ResourceExhausted, naming the flag.
absl::StatusOr<uint64_t> ElementCount(absl::Span<const int64_t> shape,
                                      absl::string_view field,
                                      uint64_t max_elements, int max_rank);

// Returns the bytes `count` elements of `dtype` take, or InvalidArgument
// (naming `field` and `shape`) when that overflows 64 bits.
absl::StatusOr<uint64_t> PayloadSize(uint64_t count, core::DataType dtype,
                                     absl::Span<const int64_t> shape,
                                     absl::string_view field);

}  // namespace activation::server

#endif  // ACTIVATION_SERVER_SHAPE_H_

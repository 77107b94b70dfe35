// Validates ReluRequest messages and converts between the wire types and the
// engine's. Knows no transport.

#ifndef ACTIVATION_SERVER_CODEC_H_
#define ACTIVATION_SERVER_CODEC_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "activation/v1/activation.pb.h"
#include "core/dtype.h"
#include "core/relu.h"

namespace activation::server {

// A request that passed validation.
struct DecodedRequest {
  core::DataType dtype = core::DataType::kFloat32;
  uint64_t count = 0;       // product(shape)
  bool float_data = false;  // the elements are in input.float_data
  core::ReluParams params;
};

// Validates `request` and returns what the engine needs. Errors:
// InvalidArgument naming the field, what was expected and what came (e.g.
// "input.raw_data has 12 bytes; shape [2,2] of FLOAT32 needs 16");
// ResourceExhausted for a tensor of more than `max_elements` elements.
absl::StatusOr<DecodedRequest> DecodeRequest(const v1::ReluRequest& request,
                                             uint64_t max_elements);

// Converts between the wire and engine dtypes. ToWire never fails.
v1::DataType ToWire(core::DataType dtype);

}  // namespace activation::server

#endif  // ACTIVATION_SERVER_CODEC_H_

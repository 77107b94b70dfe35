// A tensor payload the server keeps out of its protobuf messages.

#ifndef ACTIVATION_SERVER_SPLIT_PAYLOAD_H_
#define ACTIVATION_SERVER_SPLIT_PAYLOAD_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/types/span.h"

namespace activation::server {

// A request's payload kept out of its message (activation.v1's
// input.raw_data, the Open Inference Protocol's raw_input_contents[0]; see
// ParseSplit): views of the pieces gRPC received it in, and the buffer its
// answer is computed into, out of place, which serialization sends as a
// slice of its own.
struct SplitPayload {
  std::vector<absl::Span<const uint8_t>> input;  // in order
  std::shared_ptr<const void> input_owner;       // keeps `input` alive
  uint64_t size = 0;                             // of input, in bytes
  std::unique_ptr<uint8_t[]> output;             // size bytes, once computed

  // Frees the input, once computed.
  void ReleaseInput() {
    input.clear();
    input_owner.reset();
  }
};

}  // namespace activation::server

#endif  // ACTIVATION_SERVER_SPLIT_PAYLOAD_H_

// What the tests of the split parse (server/codec.h ParseSplit) share: a
// message cut into slices as gRPC might hand it over, and the payload put
// back together.

#ifndef ACTIVATION_TESTS_TESTING_SPLIT_PAYLOAD_H_
#define ACTIVATION_TESTS_TESTING_SPLIT_PAYLOAD_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/types/span.h"
#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/support/slice.h"
#include "server/split_payload.h"

namespace activation::testing {

// `prefix` then the fuzzer's `data`, in slices whose sizes the data choose:
// many of 1 to 8 bytes (so that keys, lengths and elements straddle them),
// some up to 16 KiB.
inline grpc::ByteBuffer InSlices(const std::string& prefix, const uint8_t* data,
                                 size_t size) {
  const std::string wire =
      prefix + std::string(reinterpret_cast<const char*>(data), size);
  std::vector<grpc::Slice> slices;
  for (size_t at = 0, i = 0; at < wire.size(); ++i) {
    const uint8_t b = size == 0 ? 0 : data[i % size];
    const size_t cut = (b & 1) != 0 ? 1 + (b >> 1) % 8 : 1 + size_t{b} * 64;
    slices.emplace_back(wire.data() + at, std::min(cut, wire.size() - at));
    at += slices.back().size();
  }
  return grpc::ByteBuffer(slices.data(), slices.size());
}

// The split payload's bytes, one piece after the other.
inline std::string Joined(const server::SplitPayload& split) {
  std::string joined;
  for (absl::Span<const uint8_t> piece : split.input) {
    joined.append(reinterpret_cast<const char*>(piece.data()), piece.size());
  }
  return joined;
}

}  // namespace activation::testing

#endif  // ACTIVATION_TESTS_TESTING_SPLIT_PAYLOAD_H_

// Fuzzes the Open Inference Protocol's JSON over HTTP/REST
// (server/oip_json.h) with a client's bodies: the first input byte splits
// the rest into the JSON request and the binary section that
// Inference-Header-Content-Length would announce. Checks that refusals have
// the decoder's codes and bounded messages, that an accepted request's
// payload has product(shape) elements of its datatype, and that what the
// encoder prints for those elements reads back to the same elements (bit
// for bit; NaN for NaN): the shortest-round-trip promise of docs/oip.md.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/dtype.h"
#include "server/oip.h"
#include "server/oip_json.h"
#include "tests/fuzz/fuzz_checks.h"
#include "wire/convert.h"

namespace activation {
namespace {

constexpr uint64_t kMaxElements = uint64_t{1} << 16;
constexpr int kMaxRank = 64;
constexpr size_t kMaxMessageBytes = 1024;

constexpr char kTarget[] = "fuzz_oip_json";

[[noreturn]] void Fail(const char* what, const std::string& detail) {
  testing::Fail(kTarget, what, detail);
}

void CheckRefusal(const absl::Status& status) {
  testing::CheckRefusal(kTarget, status,
                        {absl::StatusCode::kInvalidArgument,
                         absl::StatusCode::kResourceExhausted},
                        kMaxMessageBytes);
}

// True when element `i` of `a` and `b` (of `dtype`) are the same bits, or
// both NaN.
bool SameElement(core::DataType dtype, const char* a, const char* b,
                 uint64_t i) {
  return core::VisitDataType(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    T x, y;
    std::memcpy(&x, a + i * sizeof(T), sizeof(T));
    std::memcpy(&y, b + i * sizeof(T), sizeof(T));
    if (std::memcmp(&x, &y, sizeof(T)) == 0) return true;
    if constexpr (std::is_same_v<T, core::Float16>) {
      return std::isnan(core::HalfToFloat(x.bits)) &&
             std::isnan(core::HalfToFloat(y.bits));
    } else if constexpr (std::is_same_v<T, core::BFloat16>) {
      return std::isnan(core::BFloat16ToFloat(x.bits)) &&
             std::isnan(core::BFloat16ToFloat(y.bits));
    } else if constexpr (std::is_floating_point_v<T>) {
      return std::isnan(x) && std::isnan(y);
    } else {
      return false;
    }
  });
}

// Prints `infer`'s elements as JSON and reads them back.
void CheckRoundTrip(const server::oip::JsonInfer& infer) {
  server::oip::JsonInfer printed = infer;
  printed.binary_output = false;
  const std::string answer = server::oip::EncodeJsonInfer(printed);
  const size_t data = answer.find("\"data\":");
  if (data == std::string::npos || answer.size() < data + 7 + 3 ||
      answer.compare(answer.size() - 3, 3, "}]}") != 0) {
    Fail("answer without data", answer.substr(0, 256));
  }
  const std::string values =
      answer.substr(data + 7, answer.size() - 3 - (data + 7));
  std::string body =
      std::string("{\"inputs\":[{\"name\":\"input\",") + "\"datatype\":\"" +
      std::string(wire::OipDataTypeName(infer.op->dtype())) + "\",\"shape\":[" +
      std::to_string(infer.count) + "],\"data\":" + values + "}]}";
  const size_t size = body.size();
  absl::StatusOr<server::oip::JsonInfer> again =
      server::oip::DecodeJsonInfer(body, size, kMaxElements, kMaxRank);
  if (!again.ok()) {
    Fail("printed numbers do not read back", again.status().ToString());
  }
  if (again->count != infer.count) Fail("count changed on reading back", "");
  for (uint64_t i = 0; i < infer.count; ++i) {
    if (!SameElement(infer.op->dtype(), infer.data(), again->data(), i)) {
      Fail("element changed on printing and reading back",
           std::string(wire::OipDataTypeName(infer.op->dtype())) + " element " +
               std::to_string(i) + " printed as " + values.substr(0, 256));
    }
  }
}

}  // namespace
}  // namespace activation

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string body(reinterpret_cast<const char*>(data) + 1, size - 1);
  // The first byte: how much of the end is the binary section.
  const size_t binary =
      std::min<size_t>(data[0] == 0 ? 0 : data[0] * 4, body.size());
  const size_t json_size = body.size() - binary;
  absl::StatusOr<activation::server::oip::JsonInfer> infer =
      activation::server::oip::DecodeJsonInfer(
          body, json_size, activation::kMaxElements, activation::kMaxRank);
  if (!infer.ok()) {
    activation::CheckRefusal(infer.status());
    return 0;
  }
  if (!infer->op.has_value() ||
      infer->payload_bytes !=
          infer->count * activation::core::ItemSize(infer->op->dtype())) {
    activation::Fail("accepted a payload of the wrong size", "");
  }
  activation::CheckRoundTrip(*infer);
  return 0;
}

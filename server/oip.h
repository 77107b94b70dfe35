// The Open Inference Protocol (KServe v2) model this server serves, as both
// of its fronts (gRPC: server/oip_service.h, HTTP/REST: server/http_front.h)
// see it: the model's name and tensors, the protocol's datatype names, and
// ReLU's parameters from request parameters. Knows no transport.

#ifndef ACTIVATION_SERVER_OIP_H_
#define ACTIVATION_SERVER_OIP_H_

#include <cstdint>
#include <string_view>
#include <variant>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/dtype.h"
#include "core/relu.h"

namespace activation::server::oip {

// One model, "relu" version "1": one input tensor "input" of any of the
// twelve datatypes and any shape, one output "output" of the same datatype
// and shape.
inline constexpr absl::string_view kModelName = "relu";
inline constexpr absl::string_view kModelVersion = "1";
inline constexpr absl::string_view kInputName = "input";
inline constexpr absl::string_view kOutputName = "output";
// The platform ModelMetadata names.
inline constexpr absl::string_view kPlatform = "activation-service";
// The datatype metadata advertises; every one of the twelve is accepted.
inline constexpr core::DataType kAdvertisedDataType = core::DataType::kFloat32;

// Returns the dtype the protocol's `name` stands for (names:
// wire::OipDataTypeName). InvalidArgument naming
// `field` for the protocol's types this model does not compute (BOOL, BYTES)
// and for names the protocol does not have.
absl::StatusOr<core::DataType> DataTypeFromName(absl::string_view name,
                                                absl::string_view field);

// Returns OK for model "relu" with version "" or "1"; else NotFound naming
// what was asked for.
absl::Status CheckModel(absl::string_view name, absl::string_view version);

// A request parameter's value, as either front decoded it.
using ParamValue =
    std::variant<bool, int64_t, uint64_t, double, std::string_view>;

// Builds ReLU's parameters from a request's parameters: "max_value",
// "negative_slope" and "threshold" (numbers: double, int64 or uint64 values
// exactly representable as a double) and "mode" ("documented" or "keras").
// Not thread-safe.
class ReluParamsBuilder {
 public:
  // Sets parameter `name`. InvalidArgument naming it (as
  // "parameters.<name>") for an unknown name, a value of the wrong type, or
  // an integer a double cannot hold exactly.
  absl::Status Set(absl::string_view name, const ParamValue& value);

  // Returns the op for tensors of `dtype`, or InvalidArgument naming the
  // parameter the dtype cannot take (e.g. "parameters.max_value must be >=
  // 0, got -1").
  absl::StatusOr<core::ReluOp> Build(core::DataType dtype) const;

 private:
  core::ReluParams params_;
};

}  // namespace activation::server::oip

#endif  // ACTIVATION_SERVER_OIP_H_

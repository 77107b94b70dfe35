// The one mapping between the wire contract (activation.v1) and the engine's
// types (core/), used by the server's codec and by the client alike. Only
// converts: whether parameters suit a dtype is ReluOp::Create's to say.

#ifndef ACTIVATION_WIRE_CONVERT_H_
#define ACTIVATION_WIRE_CONVERT_H_

#include <optional>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "activation/v1/activation.pb.h"
#include "core/dtype.h"
#include "core/relu.h"

namespace activation::wire {

// Converts an engine dtype to the wire's. Never fails.
v1::DataType DataTypeToProto(core::DataType dtype);

// Converts the wire value of `field` (e.g. "input.dtype") to an engine dtype.
// Returns InvalidArgument naming `field` for DATA_TYPE_UNSPECIFIED and for
// values no DataType has (a newer client's, say).
absl::StatusOr<core::DataType> DataTypeFromProto(int value,
                                                 absl::string_view field);

// Converts an engine mode to the wire's. Never fails.
v1::Mode ModeToProto(core::Mode mode);

// Converts the wire value of `field` to an engine mode; MODE_UNSPECIFIED is
// DOCUMENTED. Returns InvalidArgument naming `field` for unknown values.
absl::StatusOr<core::Mode> ModeFromProto(int value, absl::string_view field);

// Converts parameters to the wire's. Never fails.
v1::ReluParams ParamsToProto(const core::ReluParams& params);

// Converts the wire's parameters; errors as ModeFromProto, for field
// "params.mode".
absl::StatusOr<core::ReluParams> ParamsFromProto(const v1::ReluParams& wire);

// Returns the Open Inference Protocol's (KServe v2) name of `dtype`: "FP32",
// "FP64", "FP16", "BF16", "INT8" ... "UINT64".
absl::string_view OipDataTypeName(core::DataType dtype);

// Returns the dtype the protocol's datatype `name` stands for; nullopt for
// the protocol's BOOL and BYTES and for names it does not have.
std::optional<core::DataType> DataTypeFromOipName(absl::string_view name);

// Returns the name gRPC-Go gives `code` ("OK", "Canceled", "InvalidArgument",
// ...): the grpc_code label of go-grpc-prometheus and ghz's status names.
// Codes outside gRPC's 17 are "Unknown".
absl::string_view CodeName(absl::StatusCode code);

}  // namespace activation::wire

#endif  // ACTIVATION_WIRE_CONVERT_H_

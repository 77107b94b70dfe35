#include "wire/convert.h"

#include <array>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace activation::wire {

// The wire's DataType values are the engine's: converting is a range check
// and a cast.
static_assert(static_cast<int>(core::DataType::kFloat32) ==
              v1::DATA_TYPE_FLOAT32);
static_assert(static_cast<int>(core::DataType::kUInt64) ==
              v1::DATA_TYPE_UINT64);
static_assert(v1::DataType_MAX == v1::DATA_TYPE_UINT64);

v1::DataType DataTypeToProto(core::DataType dtype) {
  return static_cast<v1::DataType>(static_cast<int>(dtype));
}

absl::StatusOr<core::DataType> DataTypeFromProto(int value,
                                                 absl::string_view field) {
  if (value == v1::DATA_TYPE_UNSPECIFIED) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, " must be set, got DATA_TYPE_UNSPECIFIED"));
  }
  if (!core::IsValidDataType(value)) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, " must be a known DataType, got ", value));
  }
  return static_cast<core::DataType>(value);
}

v1::Mode ModeToProto(core::Mode mode) {
  return mode == core::Mode::kKeras ? v1::MODE_KERAS : v1::MODE_DOCUMENTED;
}

absl::StatusOr<core::Mode> ModeFromProto(int value, absl::string_view field) {
  switch (value) {
    case v1::MODE_UNSPECIFIED:
    case v1::MODE_DOCUMENTED:
      return core::Mode::kDocumented;
    case v1::MODE_KERAS:
      return core::Mode::kKeras;
  }
  return absl::InvalidArgumentError(
      absl::StrCat(field, " must be a known Mode, got ", value));
}

v1::ReluParams ParamsToProto(const core::ReluParams& params) {
  v1::ReluParams wire;
  if (params.max_value.has_value()) wire.set_max_value(*params.max_value);
  wire.set_negative_slope(params.negative_slope);
  wire.set_threshold(params.threshold);
  wire.set_mode(ModeToProto(params.mode));
  return wire;
}

absl::StatusOr<core::ReluParams> ParamsFromProto(const v1::ReluParams& wire) {
  absl::StatusOr<core::Mode> mode = ModeFromProto(wire.mode(), "params.mode");
  if (!mode.ok()) return mode.status();
  core::ReluParams params;
  if (wire.has_max_value()) params.max_value = wire.max_value();
  params.negative_slope = wire.negative_slope();
  params.threshold = wire.threshold();
  params.mode = *mode;
  return params;
}

namespace {

constexpr std::array<std::pair<core::DataType, absl::string_view>, 12>
    kOipNames = {{
        {core::DataType::kFloat32, "FP32"},
        {core::DataType::kFloat64, "FP64"},
        {core::DataType::kFloat16, "FP16"},
        {core::DataType::kBFloat16, "BF16"},
        {core::DataType::kInt8, "INT8"},
        {core::DataType::kInt16, "INT16"},
        {core::DataType::kInt32, "INT32"},
        {core::DataType::kInt64, "INT64"},
        {core::DataType::kUInt8, "UINT8"},
        {core::DataType::kUInt16, "UINT16"},
        {core::DataType::kUInt32, "UINT32"},
        {core::DataType::kUInt64, "UINT64"},
    }};

}  // namespace

absl::string_view OipDataTypeName(core::DataType dtype) {
  for (const auto& [type, name] : kOipNames) {
    if (type == dtype) return name;
  }
  return "UNKNOWN";
}

std::optional<core::DataType> DataTypeFromOipName(absl::string_view name) {
  for (const auto& [type, known] : kOipNames) {
    if (known == name) return type;
  }
  return std::nullopt;
}

absl::string_view CodeName(absl::StatusCode code) {
  constexpr int kCodes = 17;  // OK .. UNAUTHENTICATED
  // Abseil's names ("INVALID_ARGUMENT") in camel case; gRPC-Go spells
  // CANCELLED with one L.
  static const auto* const kNames = [] {
    auto* names = new std::array<std::string, kCodes>;
    for (int i = 0; i < kCodes; ++i) {
      std::string& name = (*names)[i];
      bool upper = true;
      for (char c :
           absl::StatusCodeToString(static_cast<absl::StatusCode>(i))) {
        if (c == '_') {
          upper = true;
        } else {
          name += upper ? c : absl::ascii_tolower(c);
          upper = false;
        }
      }
    }
    (*names)[static_cast<int>(absl::StatusCode::kOk)] = "OK";
    (*names)[static_cast<int>(absl::StatusCode::kCancelled)] = "Canceled";
    return names;
  }();
  const int index = static_cast<int>(code);
  return index >= 0 && index < kCodes ? (*kNames)[index] : (*kNames)[2];
}

}  // namespace activation::wire

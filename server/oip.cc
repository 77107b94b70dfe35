#include "server/oip.h"

#include <optional>
#include <string>
#include <type_traits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "server/client_text.h"
#include "wire/convert.h"

namespace activation::server::oip {
namespace {

std::string AllNames() {
  return absl::StrJoin(core::kAllDataTypes, ", ",
                       [](std::string* out, core::DataType dtype) {
                         absl::StrAppend(out, wire::OipDataTypeName(dtype));
                       });
}

// Returns `value` as a double, or InvalidArgument naming `name` when it is
// no number or a double cannot hold it exactly.
absl::StatusOr<double> NumberParam(absl::string_view name,
                                   const ParamValue& value) {
  if (const double* d = std::get_if<double>(&value)) return *d;
  auto exact = [name](auto integer) -> absl::StatusOr<double> {
    using Integer = decltype(integer);
    const double d = static_cast<double>(integer);
    // The integer's type cannot hold every double it rounds to (2^63 for
    // INT64_MAX): compare in range only.
    const double limit = std::is_signed_v<Integer> ? 0x1p63 : 0x1p64;
    if (d >= limit || static_cast<Integer>(d) != integer) {
      return absl::InvalidArgumentError(
          absl::StrCat("parameters.", name, " ", integer,
                       " is not exactly representable as a double"));
    }
    return d;
  };
  if (const int64_t* i = std::get_if<int64_t>(&value)) return exact(*i);
  if (const uint64_t* u = std::get_if<uint64_t>(&value)) return exact(*u);
  return absl::InvalidArgumentError(
      absl::StrCat("parameters.", name, " must be a number"));
}

}  // namespace

absl::StatusOr<core::DataType> DataTypeFromName(absl::string_view name,
                                                absl::string_view field) {
  if (std::optional<core::DataType> dtype = wire::DataTypeFromOipName(name)) {
    return *dtype;
  }
  if (name == "BOOL" || name == "BYTES") {
    return absl::InvalidArgumentError(
        absl::StrCat(field, " ", name, " is not supported; model ", kModelName,
                     " computes ", AllNames()));
  }
  return absl::InvalidArgumentError(
      absl::StrCat(field, " ", QuoteClientText(name),
                   " is no datatype of the protocol; model ", kModelName,
                   " computes ", AllNames()));
}

absl::Status CheckModel(absl::string_view name, absl::string_view version) {
  if (name != kModelName) {
    return absl::NotFoundError(
        absl::StrCat("unknown model ", QuoteClientText(name),
                     "; this server serves \"", kModelName, "\""));
  }
  if (!version.empty() && version != kModelVersion) {
    return absl::NotFoundError(absl::StrCat(
        "unknown version ", QuoteClientText(version), " of model \"",
        kModelName, "\"; it has version \"", kModelVersion, "\""));
  }
  return absl::OkStatus();
}

absl::Status ReluParamsBuilder::Set(absl::string_view name,
                                    const ParamValue& value) {
  if (name == "mode") {
    const std::string_view* mode = std::get_if<std::string_view>(&value);
    if (mode != nullptr && *mode == "documented") {
      params_.mode = core::Mode::kDocumented;
    } else if (mode != nullptr && *mode == "keras") {
      params_.mode = core::Mode::kKeras;
    } else {
      return absl::InvalidArgumentError(
          "parameters.mode must be the string \"documented\" or \"keras\"");
    }
    return absl::OkStatus();
  }
  double* target = nullptr;
  if (name == "negative_slope") {
    target = &params_.negative_slope;
  } else if (name == "threshold") {
    target = &params_.threshold;
  } else if (name != "max_value") {
    return absl::InvalidArgumentError(absl::StrCat(
        "unknown parameter ", QuoteClientText(name), "; model ", kModelName,
        " takes max_value, negative_slope, threshold and mode"));
  }
  absl::StatusOr<double> number = NumberParam(name, value);
  if (!number.ok()) return number.status();
  if (target == nullptr) {
    params_.max_value = *number;
  } else {
    *target = *number;
  }
  return absl::OkStatus();
}

absl::StatusOr<core::ReluOp> ReluParamsBuilder::Build(
    core::DataType dtype) const {
  absl::StatusOr<core::ReluOp> op = core::ReluOp::Create(params_, dtype);
  if (!op.ok()) {
    return absl::Status(op.status().code(),
                        absl::StrCat("parameters.", op.status().message()));
  }
  return op;
}

}  // namespace activation::server::oip

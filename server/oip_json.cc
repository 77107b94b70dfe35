#include "server/oip_json.h"

#include <pthread.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <optional>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "rapidjson/error/en.h"
#include "rapidjson/reader.h"
#include "server/client_text.h"
#include "server/oip.h"
#include "server/shape.h"
#include "wire/convert.h"

namespace activation::server::oip {
namespace {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "binary tensor data is little-endian; it is computed in place");

template <typename... Parts>
absl::Status Invalid(const Parts&... parts) {
  return absl::InvalidArgumentError(absl::StrCat(parts...));
}

// Rounds `value` to the nearest float32 with round-to-odd: truncated toward
// zero, with the last bit set when that was inexact. Rounding that to a
// narrower format (11 or 8 significant bits, far fewer than float's 24) to
// nearest then gives the nearest value of the narrower format to `value`:
// no double-rounding error.
float RoundToOddFloat(double value) {
  if (!std::isfinite(value)) return static_cast<float>(value);
  float f = static_cast<float>(value);
  if (std::fabs(static_cast<double>(f)) > std::fabs(value)) {
    f = std::nextafter(f, 0.0f);
  }
  if (static_cast<double>(f) != value) {
    uint32_t bits;
    std::memcpy(&bits, &f, sizeof(bits));
    bits |= 1;
    std::memcpy(&f, &bits, sizeof(bits));
  }
  return f;
}

// Parses a JSON number's text as a float or double, correctly rounded.
// from_chars reports both overflow and underflow as out of range; strtod
// tells them apart and rounds an underflow correctly.
template <typename T>
std::optional<T> ParseFloating(absl::string_view token) {
  T value{};
  const auto [end, ec] =
      std::from_chars(token.data(), token.data() + token.size(), value);
  if (ec == std::errc() && end == token.data() + token.size()) return value;
  if (ec != std::errc::result_out_of_range) return std::nullopt;
  const std::string copy(token);
  const T fallback = std::is_same_v<T, float>
                         ? static_cast<T>(std::strtof(copy.c_str(), nullptr))
                         : static_cast<T>(std::strtod(copy.c_str(), nullptr));
  if (std::isinf(fallback)) return std::nullopt;  // overflow
  return fallback;
}

bool LooksIntegral(absl::string_view token) {
  return token.find_first_of(".eEIN") == absl::string_view::npos;
}

// Converts one JSON number's text to an element of type T, or says why
// not, naming `field` (e.g. "inputs[0].data[3]").
template <typename T>
absl::Status ToElement(absl::string_view token, core::DataType dtype,
                       absl::string_view field, T* out) {
  const absl::string_view name = wire::OipDataTypeName(dtype);
  if constexpr (std::is_integral_v<T>) {
    if (!LooksIntegral(token)) {
      return Invalid(field, ": expected an integer of ", name, ", got ",
                     QuoteClientText(token));
    }
    if (token == "-0") {
      *out = 0;
      return absl::OkStatus();
    }
    const auto [end, ec] =
        std::from_chars(token.data(), token.data() + token.size(), *out);
    if (ec != std::errc() || end != token.data() + token.size()) {
      return Invalid(field, ": ", QuoteClientText(token),
                     " is out of range for ", name);
    }
    return absl::OkStatus();
  } else if constexpr (std::is_floating_point_v<T>) {
    const std::optional<T> value = ParseFloating<T>(token);
    if (!value.has_value()) {
      return Invalid(field, ": ", QuoteClientText(token),
                     " is out of range for ", name);
    }
    *out = *value;
    return absl::OkStatus();
  } else {
    const std::optional<double> value = ParseFloating<double>(token);
    const float odd = value.has_value() ? RoundToOddFloat(*value) : 0.0f;
    const uint16_t bits = std::is_same_v<T, core::Float16>
                              ? core::FloatToHalf(odd)
                              : core::FloatToBFloat16(odd);
    const float back = std::is_same_v<T, core::Float16>
                           ? core::HalfToFloat(bits)
                           : core::BFloat16ToFloat(bits);
    if (!value.has_value() || (std::isinf(back) && !std::isinf(*value))) {
      return Invalid(field, ": ", QuoteClientText(token),
                     " is out of range for ", name);
    }
    out->bits = bits;
    return absl::OkStatus();
  }
}

// Appends one element of `dtype` parsed from `token` to `out`.
absl::Status AppendElement(core::DataType dtype, absl::string_view token,
                           uint64_t index, int input, std::string& out) {
  return core::VisitDataType(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    T value{};
    absl::Status s = ToElement<T>(
        token, dtype, absl::StrCat("inputs[", input, "].data[", index, "]"),
        &value);
    if (s.ok()) {
      out.append(reinterpret_cast<const char*>(&value), sizeof(T));
    }
    return s;
  });
}

// Parses a parameter's number: an int64, a uint64 or a double.
std::optional<ParamValue> NumberParam(absl::string_view token) {
  if (LooksIntegral(token)) {
    int64_t i = 0;
    const char* end = token.data() + token.size();
    if (auto r = std::from_chars(token.data(), end, i);
        r.ec == std::errc() && r.ptr == end) {
      return ParamValue(i);
    }
    uint64_t u = 0;
    if (auto r = std::from_chars(token.data(), end, u);
        r.ec == std::errc() && r.ptr == end) {
      return ParamValue(u);
    }
  }
  const std::optional<double> d = ParseFloating<double>(token);
  if (!d.has_value()) return std::nullopt;
  return ParamValue(*d);
}

// Where in the request a JSON value is.
enum class Where {
  kTop,
  kParams,  // the request's parameters
  kInputs,
  kInput,
  kShape,
  kInputParams,
  kData,
  kOutputs,
  kOutput,
  kOutputParams,
};

struct Frame {
  Where where;
  absl::string_view key;  // the last key seen (objects)
  int64_t size = 0;       // values seen (arrays)
  uint32_t seen = 0;      // the known keys seen (objects), by index
};

// The request's fields, as RapidJSON's SAX reader reports them; numbers
// arrive as their text (kParseNumbersAsStringsFlag), pointing into the
// buffer parsed in place.
class RequestHandler {
 public:
  RequestHandler(uint64_t max_elements, int max_rank)
      : max_elements_(max_elements), max_rank_(max_rank) {}

  bool Null() { return Scalar("null", std::nullopt); }
  bool Bool(bool b) { return Scalar("a boolean", ParamValue(b)); }
  bool Int(int) { return Unreachable(); }
  bool Uint(unsigned) { return Unreachable(); }
  bool Int64(int64_t) { return Unreachable(); }
  bool Uint64(uint64_t) { return Unreachable(); }
  bool Double(double) { return Unreachable(); }
  bool RawNumber(const char* str, rapidjson::SizeType length, bool) {
    return Number(absl::string_view(str, length));
  }
  bool String(const char* str, rapidjson::SizeType length, bool) {
    return Text(absl::string_view(str, length));
  }
  bool StartObject();
  bool Key(const char* str, rapidjson::SizeType length, bool);
  bool EndObject(rapidjson::SizeType) { return Pop(); }
  bool StartArray();
  bool EndArray(rapidjson::SizeType) { return Pop(); }

  // Checks what the whole request said and builds the result.
  absl::StatusOr<JsonInfer> Finish(char* binary, size_t binary_size);

  const absl::Status& error() const { return error_; }

 private:
  bool Fail(absl::Status status) {
    error_ = std::move(status);
    return false;
  }
  bool Unreachable() {
    return Fail(absl::InternalError("a number was not parsed as text"));
  }
  // Returns the path of the value about to be read, e.g. "inputs[0].shape".
  std::string Path() const;
  bool Unexpected(absl::string_view got) {
    return Fail(Invalid(Path(), ": did not expect ", got));
  }
  bool Pop() {
    if (frames_.back().where == Where::kData) --data_depth_;
    frames_.pop_back();
    if (!frames_.empty()) frames_.back().size++;
    return true;
  }
  bool Scalar(absl::string_view what, std::optional<ParamValue> value);
  bool Number(absl::string_view token);
  bool Text(absl::string_view text);
  bool Param(std::optional<ParamValue> value, absl::string_view what);

  const uint64_t max_elements_;
  const int max_rank_;
  std::vector<Frame> frames_;
  int data_depth_ = 0;  // kData frames in frames_
  absl::Status error_;

  std::optional<absl::string_view> id_;
  std::vector<std::pair<absl::string_view, ParamValue>> params_;
  int inputs_ = 0;
  int outputs_ = 0;
  std::optional<absl::string_view> input_name_;
  std::optional<absl::string_view> output_name_;
  std::optional<core::DataType> dtype_;
  bool has_shape_ = false;
  std::vector<int64_t> shape_;
  bool has_data_ = false;
  uint64_t data_count_ = 0;
  std::string values_;                     // converted as they came
  std::vector<absl::string_view> tokens_;  // before the datatype was known
  std::optional<uint64_t> binary_data_size_;
  std::optional<bool> binary_output_param_;   // outputs[0]'s binary_data
  std::optional<bool> binary_output_global_;  // binary_data_output
};

std::string RequestHandler::Path() const {
  std::string path;
  for (const Frame& frame : frames_) {
    switch (frame.where) {
      case Where::kTop:
      case Where::kInput:
      case Where::kOutput:
      case Where::kParams:
      case Where::kInputParams:
      case Where::kOutputParams:
        if (!path.empty()) path += '.';
        path += std::string(frame.key.substr(0, kMaxQuotedBytes));
        break;
      case Where::kInputs:
      case Where::kOutputs:
      case Where::kShape:
        absl::StrAppend(&path, "[", frame.size, "]");
        break;
      case Where::kData:
        // Elements are numbered flat, row-major, whatever the nesting.
        if (&frame == &frames_.back()) {
          absl::StrAppend(&path, "[", data_count_, "]");
        }
        break;
    }
  }
  return path.empty() ? "the request" : path;
}

bool RequestHandler::StartObject() {
  if (frames_.empty()) {
    frames_.push_back(Frame{Where::kTop, {}, 0});
    return true;
  }
  const Frame& parent = frames_.back();
  std::optional<Where> where;
  if (parent.where == Where::kTop && parent.key == "parameters") {
    where = Where::kParams;
  } else if (parent.where == Where::kInputs) {
    if (++inputs_ > 1) {
      return Fail(Invalid("inputs has more than 1 tensor; model ", kModelName,
                          " takes 1 (\"", kInputName, "\")"));
    }
    where = Where::kInput;
  } else if (parent.where == Where::kOutputs) {
    if (++outputs_ > 1) {
      return Fail(Invalid("outputs asks for more than 1 tensor; model ",
                          kModelName, " has 1 (\"", kOutputName, "\")"));
    }
    where = Where::kOutput;
  } else if (parent.where == Where::kInput && parent.key == "parameters") {
    where = Where::kInputParams;
  } else if (parent.where == Where::kOutput && parent.key == "parameters") {
    where = Where::kOutputParams;
  }
  if (!where.has_value()) return Unexpected("an object");
  frames_.push_back(Frame{*where, {}, 0});
  return true;
}

bool RequestHandler::Key(const char* str, rapidjson::SizeType length, bool) {
  const absl::string_view key(str, length);
  Frame& frame = frames_.back();
  frame.key = key;
  // Every object takes a few known keys, each once: a repeated "datatype",
  // "shape" or "data" would describe the tensor twice.
  static constexpr absl::string_view kTop[] = {"id", "parameters", "inputs",
                                               "outputs"};
  static constexpr absl::string_view kInput[] = {"name", "shape", "datatype",
                                                 "parameters", "data"};
  static constexpr absl::string_view kOutput[] = {"name", "parameters"};
  static constexpr absl::string_view kParams[] = {
      "max_value", "negative_slope", "threshold", "mode", "binary_data_output"};
  static constexpr absl::string_view kInputParams[] = {"binary_data_size"};
  static constexpr absl::string_view kOutputParams[] = {"binary_data"};
  absl::Span<const absl::string_view> keys;
  switch (frame.where) {
    case Where::kTop:
      keys = kTop;
      break;
    case Where::kInput:
      keys = kInput;
      break;
    case Where::kOutput:
      keys = kOutput;
      break;
    case Where::kParams:
      keys = kParams;
      break;
    case Where::kInputParams:
      keys = kInputParams;
      break;
    case Where::kOutputParams:
      keys = kOutputParams;
      break;
    default:
      return true;
  }
  int index = 0;
  for (absl::string_view known : keys) {
    if (known == key) break;
    ++index;
  }
  if (index == static_cast<int>(keys.size())) {
    switch (frame.where) {
      case Where::kParams:
        return Fail(Invalid("unknown parameter ", QuoteClientText(key),
                            "; model ", kModelName,
                            " takes max_value, negative_slope, threshold and "
                            "mode (and binary_data_output)"));
      case Where::kInputParams:
        return Fail(Invalid(Path(),
                            ": unknown parameter; an input takes "
                            "binary_data_size"));
      case Where::kOutputParams:
        return Fail(Invalid(Path(),
                            ": unknown parameter; an output takes "
                            "binary_data"));
      default:
        return Fail(Invalid("unknown field ", Path()));
    }
  }
  if (frame.seen & (1u << index)) {
    return Fail(Invalid(Path(), " is given twice"));
  }
  frame.seen |= 1u << index;
  return true;
}

bool RequestHandler::StartArray() {
  if (frames_.empty()) return Unexpected("an array; expected an object");
  const Frame& parent = frames_.back();
  std::optional<Where> where;
  if (parent.where == Where::kTop && parent.key == "inputs") {
    where = Where::kInputs;
  } else if (parent.where == Where::kTop && parent.key == "outputs") {
    where = Where::kOutputs;
  } else if (parent.where == Where::kInput && parent.key == "shape") {
    has_shape_ = true;
    where = Where::kShape;
  } else if ((parent.where == Where::kInput && parent.key == "data") ||
             parent.where == Where::kData) {
    // Nested data has one level per dimension: a tensor has at most
    // max_rank (and a client's nesting must not grow frames_ without bound).
    if (++data_depth_ > max_rank_) {
      return Fail(Invalid(Path(), ": data nests deeper than the ", max_rank_,
                          " dimensions a tensor may have (--max_rank)"));
    }
    has_data_ = true;
    where = Where::kData;
  }
  if (!where.has_value()) return Unexpected("an array");
  frames_.push_back(Frame{*where, {}, 0});
  return true;
}

bool RequestHandler::Scalar(absl::string_view what,
                            std::optional<ParamValue> value) {
  if (frames_.empty())
    return Unexpected(absl::StrCat(what, "; expected an object"));
  switch (frames_.back().where) {
    case Where::kParams:
    case Where::kInputParams:
    case Where::kOutputParams:
      return Param(std::move(value), what);
    case Where::kData:
      return Fail(Invalid(Path(), ": expected a number, got ", what));
    default:
      return Unexpected(what);
  }
}

bool RequestHandler::Param(std::optional<ParamValue> value,
                           absl::string_view what) {
  Frame& frame = frames_.back();
  if (!value.has_value()) {
    return Fail(
        Invalid(Path(), ": expected a boolean, number or string, got ", what));
  }
  const bool* flag = std::get_if<bool>(&*value);
  if (frame.where == Where::kParams) {
    if (frame.key == "binary_data_output") {
      if (flag == nullptr) return Fail(Invalid(Path(), ": expected a boolean"));
      binary_output_global_ = *flag;
      return true;
    }
    params_.emplace_back(frame.key, *value);
    return true;
  }
  if (frame.where == Where::kOutputParams && frame.key == "binary_data") {
    if (flag == nullptr) return Fail(Invalid(Path(), ": expected a boolean"));
    binary_output_param_ = *flag;
    return true;
  }
  if (frame.where == Where::kInputParams && frame.key == "binary_data_size") {
    const uint64_t* u = std::get_if<uint64_t>(&*value);
    const int64_t* i = std::get_if<int64_t>(&*value);
    if (u == nullptr && (i == nullptr || *i < 0)) {
      return Fail(Invalid(Path(), ": expected a byte count (an integer >= 0)"));
    }
    binary_data_size_ = u != nullptr ? *u : static_cast<uint64_t>(*i);
    return true;
  }
  return Fail(Invalid(Path(), ": unknown parameter; ",
                      frame.where == Where::kInputParams
                          ? "an input takes binary_data_size"
                          : "an output takes binary_data"));
}

bool RequestHandler::Number(absl::string_view token) {
  if (frames_.empty()) return Unexpected("a number; expected an object");
  Frame& frame = frames_.back();
  switch (frame.where) {
    case Where::kShape: {
      int64_t dim = 0;
      const char* end = token.data() + token.size();
      const auto r = std::from_chars(token.data(), end, dim);
      if (!LooksIntegral(token) || r.ec != std::errc() || r.ptr != end) {
        return Fail(Invalid(Path(), ": expected an integer, got ",
                            QuoteClientText(token)));
      }
      if (static_cast<int>(shape_.size()) >= max_rank_) {
        return Fail(absl::ResourceExhaustedError(
            absl::StrCat("inputs[0].shape has more than ", max_rank_,
                         " dimensions (--max_rank)")));
      }
      shape_.push_back(dim);
      frame.size++;
      return true;
    }
    case Where::kData: {
      if (data_count_ >= max_elements_) {
        return Fail(absl::ResourceExhaustedError(
            absl::StrCat("inputs[0].data has more than ", max_elements_,
                         " elements (--max_elements)")));
      }
      absl::Status s = absl::OkStatus();
      if (dtype_.has_value()) {
        s = AppendElement(*dtype_, token, data_count_, 0, values_);
      } else {
        tokens_.push_back(token);
      }
      if (!s.ok()) return Fail(std::move(s));
      ++data_count_;
      return true;
    }
    case Where::kParams:
    case Where::kInputParams:
    case Where::kOutputParams: {
      std::optional<ParamValue> value = NumberParam(token);
      if (!value.has_value()) {
        return Fail(Invalid(Path(), ": ", QuoteClientText(token),
                            " is out of range for a double"));
      }
      return Param(std::move(value), "a number");
    }
    default:
      return Unexpected(
          absl::StrCat("a number (", QuoteClientText(token), ")"));
  }
}

bool RequestHandler::Text(absl::string_view text) {
  if (frames_.empty()) return Unexpected("a string; expected an object");
  Frame& frame = frames_.back();
  switch (frame.where) {
    case Where::kTop:
      if (frame.key != "id") break;
      id_ = text;
      return true;
    case Where::kInput:
      if (frame.key == "name") {
        input_name_ = text;
        return true;
      }
      if (frame.key == "datatype") {
        absl::StatusOr<core::DataType> dtype =
            DataTypeFromName(text, "inputs[0].datatype");
        if (!dtype.ok()) return Fail(dtype.status());
        dtype_ = *dtype;
        return true;
      }
      break;
    case Where::kOutput:
      if (frame.key != "name") break;
      output_name_ = text;
      return true;
    case Where::kParams:
    case Where::kInputParams:
    case Where::kOutputParams:
      return Param(ParamValue(std::string_view(text.data(), text.size())),
                   "a string");
    case Where::kData:
      return Fail(Invalid(Path(), ": expected a number, got a string"));
    default:
      break;
  }
  return Unexpected("a string");
}

absl::StatusOr<JsonInfer> RequestHandler::Finish(char* binary,
                                                 size_t binary_size) {
  if (inputs_ == 0) {
    return Invalid("inputs is missing or empty; model ", kModelName,
                   " takes 1 input (\"", kInputName, "\")");
  }
  if (!input_name_.has_value() || *input_name_ != kInputName) {
    return Invalid("inputs[0].name ",
                   input_name_.has_value() ? QuoteClientText(*input_name_)
                                           : std::string("is missing and"),
                   " is no input of model ", kModelName, "; its input is \"",
                   kInputName, "\"");
  }
  if (outputs_ == 1 &&
      (!output_name_.has_value() || *output_name_ != kOutputName)) {
    return Invalid("outputs[0].name ",
                   output_name_.has_value() ? QuoteClientText(*output_name_)
                                            : std::string("is missing and"),
                   " is no output of model ", kModelName, "; its output is \"",
                   kOutputName, "\"");
  }
  if (!dtype_.has_value()) return Invalid("inputs[0].datatype is missing");
  if (!has_shape_) {
    return Invalid("inputs[0].shape is missing");
  }
  JsonInfer infer;
  absl::StatusOr<uint64_t> count =
      ElementCount(shape_, "inputs[0].shape", max_elements_, max_rank_);
  if (!count.ok()) return count.status();
  absl::StatusOr<uint64_t> bytes =
      PayloadSize(*count, *dtype_, shape_, "inputs[0].shape");
  if (!bytes.ok()) return bytes.status();
  ReluParamsBuilder builder;
  for (const auto& [name, value] : params_) {
    if (absl::Status s = builder.Set(name, value); !s.ok()) return s;
  }
  absl::StatusOr<core::ReluOp> op = builder.Build(*dtype_);
  if (!op.ok()) return op.status();

  if (binary_data_size_.has_value()) {
    if (has_data_) {
      return Invalid(
          "inputs[0] has both data and parameters.binary_data_size; set one");
    }
    if (*binary_data_size_ != binary_size) {
      return Invalid(
          "inputs[0].parameters.binary_data_size is ", *binary_data_size_,
          " but ", binary_size,
          " bytes follow the JSON (Inference-Header-Content-Length)");
    }
    if (binary_size != *bytes) {
      return Invalid("inputs[0] has ", binary_size, " bytes of binary data; ",
                     "shape ", ShapeString(shape_), " of ",
                     wire::OipDataTypeName(*dtype_), " needs ", *bytes);
    }
    infer.binary = binary;
    infer.binary_input = true;
  } else {
    if (binary_size != 0) {
      return Invalid(binary_size,
                     " bytes follow the JSON (Inference-Header-Content-Length) "
                     "but inputs[0] has no parameters.binary_data_size");
    }
    if (!has_data_) {
      return Invalid(
          "inputs[0] has no data and no parameters.binary_data_size");
    }
    if (data_count_ != *count) {
      return Invalid("inputs[0].data has ", data_count_, " values; shape ",
                     ShapeString(shape_), " needs ", *count);
    }
    if (!tokens_.empty()) {
      values_.reserve(*bytes);
      for (size_t i = 0; i < tokens_.size(); ++i) {
        if (absl::Status s = AppendElement(*dtype_, tokens_[i], i, 0, values_);
            !s.ok()) {
          return s;
        }
      }
    }
    infer.values = std::move(values_);
    if (infer.values.size() != *bytes) {  // Finish's own invariant
      return absl::InternalError(absl::StrCat(
          "decoded ", infer.values.size(), " bytes of data; shape ",
          ShapeString(shape_), " needs ", *bytes));
    }
  }
  if (id_.has_value()) {
    infer.id = std::string(*id_);
    infer.has_id = true;
  }
  infer.op = *op;
  infer.shape = std::move(shape_);
  infer.count = *count;
  infer.payload_bytes = *bytes;
  infer.binary_output =
      binary_output_param_.value_or(binary_output_global_.value_or(false));
  return infer;
}

// Appends `value` as the shortest text that reads back to it; JSON has no
// infinities nor NaN, so those are written as JavaScript's and Python's
// json modules write (and read) them.
template <typename T>
void AppendNumber(T value, std::string& out) {
  if constexpr (std::is_floating_point_v<T>) {
    if (std::isnan(value)) {
      out += "NaN";
      return;
    }
    if (std::isinf(value)) {
      out += value > 0 ? "Infinity" : "-Infinity";
      return;
    }
  }
  char buffer[32];
  const auto result = std::to_chars(buffer, buffer + sizeof(buffer), value);
  out.append(buffer, result.ptr);
}

void AppendData(const JsonInfer& infer, std::string& out) {
  out += '[';
  core::VisitDataType(infer.op->dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    for (uint64_t i = 0; i < infer.count; ++i) {
      if (i != 0) out += ',';
      T value;
      std::memcpy(&value, infer.data() + i * sizeof(T), sizeof(T));
      if constexpr (std::is_same_v<T, core::Float16>) {
        AppendNumber(core::HalfToFloat(value.bits), out);
      } else if constexpr (std::is_same_v<T, core::BFloat16>) {
        AppendNumber(core::BFloat16ToFloat(value.bits), out);
      } else {
        AppendNumber(value, out);
      }
    }
  });
  out += ']';
}

}  // namespace

void AppendJsonString(absl::string_view text, std::string& out) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += '"';
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20) {
      out += "\\u00";
      out += kHex[u >> 4];
      out += kHex[u & 15];
    } else {
      out += c;
    }
  }
  out += '"';
}

namespace {

// The levels around a request's data: the request, inputs, the input.
constexpr int kEnvelopeDepth = 3;
// Nesting parsed on the calling thread; deeper goes to a thread with a
// kDeepStackBytes stack.
constexpr int kShallowDepth = 8;
constexpr size_t kDeepStackBytes = size_t{8} << 20;

// Returns the deepest nesting of arrays and objects in `json` (strings
// skipped; malformed JSON is the reader's to refuse).
int NestingDepth(absl::string_view json) {
  int depth = 0;
  int deepest = 0;
  bool in_string = false;
  for (size_t i = 0; i < json.size(); ++i) {
    const char c = json[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return deepest;
}

// Runs `fn` on a thread of its own with a stack of `bytes`, and waits for
// it. Unavailable when no such thread can be made.
absl::Status RunOnStackOf(size_t bytes, absl::FunctionRef<void()> fn) {
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, bytes);
  pthread_t thread;
  const int error = pthread_create(
      &thread, &attr,
      [](void* f) -> void* {
        (*static_cast<absl::FunctionRef<void()>*>(f))();
        return nullptr;
      },
      &fn);
  pthread_attr_destroy(&attr);
  if (error != 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot start a thread to read deeply nested JSON (",
                     std::strerror(error), ")"));
  }
  pthread_join(thread, nullptr);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<JsonInfer> DecodeJsonInfer(std::string& body, size_t json_size,
                                          uint64_t max_elements, int max_rank) {
  if (json_size > body.size()) {
    return Invalid("Inference-Header-Content-Length is ", json_size,
                   " but the body has ", body.size(), " bytes");
  }
  // The reader parses in place up to a NUL, and RapidJSON 1.1's UTF-8 check
  // reads the rest of a multi-byte sequence before it looks at it (past the
  // NUL, for one cut short at the end: fuzz_oip_json). So the JSON is
  // followed by kPadding NULs: in a copy of its own when binary data follows
  // it (the JSON is small then), else appended to the body.
  constexpr size_t kPadding = 4;
  const size_t binary_size = body.size() - json_size;
  std::string header;
  char* json;
  if (binary_size > 0) {
    header.reserve(json_size + kPadding);
    header.assign(body.data(), json_size);
    header.append(kPadding, '\0');
    json = header.data();
  } else {
    body.append(kPadding, '\0');
    json = body.data();
  }
  if (std::memchr(json, '\0', json_size) != nullptr) {
    return Invalid("the JSON request holds a NUL byte");
  }
  // The reader recurses once per nesting level, and stops as soon as the
  // handler refuses a value: the handler takes arrays and objects only where
  // the protocol has them, and data arrays max_rank deep. (RapidJSON 1.1's
  // iterative mode would not recurse, but its stack does UB on its first
  // push: UBSan, fuzz_oip_json.) Deeper than kShallowDepth, the reader gets
  // a stack of its own: civetweb's threads have 100 KiB.
  const int depth = NestingDepth(absl::string_view(json, json_size));
  if (depth > max_rank + kEnvelopeDepth) {
    return Invalid("the JSON nests ", depth,
                   " levels deep; a request of a "
                   "tensor of at most ",
                   max_rank,
                   " dimensions (--max_rank) "
                   "nests at most ",
                   max_rank + kEnvelopeDepth);
  }
  RequestHandler handler(max_elements, max_rank);
  rapidjson::ParseResult result;
  auto parse = [&] {
    rapidjson::Reader reader;
    rapidjson::InsituStringStream stream(json);
    constexpr unsigned kFlags =
        rapidjson::kParseInsituFlag | rapidjson::kParseNumbersAsStringsFlag |
        rapidjson::kParseNanAndInfFlag | rapidjson::kParseValidateEncodingFlag;
    result = reader.Parse<kFlags>(stream, handler);
  };
  if (depth <= kShallowDepth) {
    parse();
  } else if (absl::Status s = RunOnStackOf(kDeepStackBytes, parse); !s.ok()) {
    return s;
  }
  if (result.IsError()) {
    if (!handler.error().ok()) return handler.error();
    return Invalid("the body is not valid JSON: ",
                   rapidjson::GetParseError_En(result.Code()), " (at byte ",
                   result.Offset(), ")");
  }
  return handler.Finish(body.data() + json_size, binary_size);
}

std::string EncodeJsonInfer(const JsonInfer& infer) {
  std::string out;
  out.reserve(128 + (infer.binary_output ? 0 : infer.count * 8));
  absl::StrAppend(&out, "{\"model_name\":\"", kModelName,
                  "\",\"model_version\":\"", kModelVersion, "\"");
  if (infer.has_id) {
    out += ",\"id\":";
    AppendJsonString(infer.id, out);
  }
  absl::StrAppend(&out, ",\"outputs\":[{\"name\":\"", kOutputName,
                  "\",\"datatype\":\"",
                  wire::OipDataTypeName(infer.op->dtype()), "\",\"shape\":[");
  for (size_t i = 0; i < infer.shape.size(); ++i) {
    if (i != 0) out += ',';
    AppendNumber(infer.shape[i], out);
  }
  out += "],";
  if (infer.binary_output) {
    absl::StrAppend(&out, "\"parameters\":{\"binary_data_size\":",
                    infer.payload_bytes, "}}]}");
  } else {
    out += "\"data\":";
    AppendData(infer, out);
    out += "}]}";
  }
  return out;
}

std::string JsonError(absl::string_view message) {
  std::string out = "{\"error\":";
  AppendJsonString(message, out);
  out += '}';
  return out;
}

}  // namespace activation::server::oip

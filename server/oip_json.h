// The Open Inference Protocol's JSON over HTTP/REST (KServe v2 with Triton's
// binary tensor data extension): decodes an infer request's body into a
// tensor of its datatype, and encodes the answer. Numbers convert exactly:
// parsed from their text straight into the datatype (std::from_chars,
// correctly rounded; FP16 and BF16 through double, see docs/oip.md) and
// printed as the shortest text that reads back to the same value
// (std::to_chars). Knows no transport.

#ifndef ACTIVATION_SERVER_OIP_JSON_H_
#define ACTIVATION_SERVER_OIP_JSON_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/dtype.h"
#include "core/relu.h"

namespace activation::server::oip {

// An infer request that passed validation.
struct JsonInfer {
  std::string id;  // the request's "id"
  bool has_id = false;
  std::optional<core::ReluOp> op;  // the parameters, for the datatype
  std::vector<int64_t> shape;
  uint64_t count = 0;          // product(shape)
  bool binary_input = false;   // the elements came as raw bytes
  bool binary_output = false;  // the answer's elements go as raw bytes
  // The elements that came as raw bytes: in the body's binary section (not
  // owned), or null.
  char* binary = nullptr;
  std::string values;          // the elements that came as JSON numbers
  uint64_t payload_bytes = 0;  // count * item size

  // Returns the `count` elements of op->dtype(), little-endian.
  char* data() { return binary != nullptr ? binary : values.data(); }
  const char* data() const {
    return binary != nullptr ? binary : values.data();
  }
};

// Decodes the body of POST /v2/models/relu/infer. Its first `json_size`
// bytes are the JSON request, the rest the inputs' raw bytes (each input's
// parameters.binary_data_size of them, in order). `body` is modified (the
// JSON is parsed in place) and must outlive the result, whose data may
// point into it. Errors are InvalidArgument naming the field, what was
// expected and what came (e.g. "inputs[0].data[3]: expected a number, got
// a string"), or ResourceExhausted over `max_elements` or `max_rank`.
absl::StatusOr<JsonInfer> DecodeJsonInfer(std::string& body, size_t json_size,
                                          uint64_t max_elements, int max_rank);

// Returns the JSON answer to `infer`, its data computed: the elements in
// "data" (flat, row-major), or for a binary output the output's
// parameters.binary_data_size, the payload_bytes at data() to be sent
// after the JSON.
std::string EncodeJsonInfer(const JsonInfer& infer);

// Returns {"error": "<message>"}.
std::string JsonError(absl::string_view message);

// Appends `text` to `out` as a JSON string, quoted and escaped.
void AppendJsonString(absl::string_view text, std::string& out);

}  // namespace activation::server::oip

#endif  // ACTIVATION_SERVER_OIP_JSON_H_

// The Open Inference Protocol's JSON decoder on hostile bodies: nesting is
// bounded (no recursion, no unbounded state), refusals name the field.

#include "server/oip_json.h"

#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace activation::server::oip {
namespace {

using ::activation::testing::StatusIs;
using ::testing::HasSubstr;

absl::StatusOr<JsonInfer> Decode(std::string body) {
  const size_t size = body.size();
  return DecodeJsonInfer(body, size, /*max_elements=*/1 << 20,
                         /*max_rank=*/64);
}

std::string Request(const std::string& shape, const std::string& data) {
  return R"({"inputs": [{"name": "input", "datatype": "FP32", "shape": )" +
         shape + R"(, "data": )" + data + "}]}";
}

TEST(OipJsonTest, NestedDataUpToMaxRankIsRead) {
  std::string shape = "[1";
  for (int i = 1; i < 64; ++i) shape += ",1";
  shape += "]";
  absl::StatusOr<JsonInfer> infer = Decode(
      Request(shape, std::string(64, '[') + "-2.5" + std::string(64, ']')));
  ASSERT_OK(infer);
  EXPECT_EQ(infer->count, 1u);
  float value;
  std::memcpy(&value, infer->data(), 4);
  EXPECT_EQ(value, -2.5f);
}

TEST(OipJsonTest, NestingDeeperThanMaxRankIsRefusedBeforeParsing) {
  // A million levels: a recursive parser would overflow the stack.
  for (int depth : {65, 10'000, 1'000'000}) {
    EXPECT_THAT(Decode(Request("[1]", std::string(depth, '[') + "1" +
                                          std::string(depth, ']'))),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         absl::StrCat("the JSON nests ", depth + 3,
                                      " levels deep; a request of a tensor "
                                      "of at most 64 dimensions (--max_rank) "
                                      "nests at most 67")))
        << depth;
  }
  EXPECT_THAT(Decode(std::string(1'000'000, '[')),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("the JSON nests 1000000 levels deep")));
  // Brackets in strings are no nesting.
  EXPECT_THAT(Decode(R"({"id": ")" + std::string(100, '[') + R"(\"", )" +
                     Request("[1]", "[1]").substr(1)),
              ::activation::testing::IsOk());
}

TEST(OipJsonTest, NestingElsewhereIsRefusedAtItsFirstLevel) {
  EXPECT_THAT(Decode(R"({"parameters": {"max_value": )" + std::string(50, '[')),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "parameters.max_value: did not expect an array"));
  std::string objects = R"({"id": )";
  for (int i = 0; i < 50; ++i) objects += R"({"a": )";
  EXPECT_THAT(Decode(objects), StatusIs(absl::StatusCode::kInvalidArgument,
                                        "id: did not expect an object"));
}

TEST(OipJsonTest, AKeyGivenTwiceIsRefused) {
  // A second "datatype" after the data once re-typed the decoded bytes
  // (heap bytes answered, or a crash for a larger second type).
  EXPECT_THAT(
      Decode(R"({"inputs": [{"name": "input", "datatype": "INT8", "shape": )"
             R"([2], "data": [1, 2], "datatype": "FP64"}]})"),
      StatusIs(absl::StatusCode::kInvalidArgument,
               "inputs[0].datatype is given twice"));
  EXPECT_THAT(
      Decode(R"({"inputs": [{"name": "input", "datatype": "FP32", "shape": )"
             R"([2], "data": [1, 2], "data": [3, 4]}]})"),
      StatusIs(absl::StatusCode::kInvalidArgument,
               "inputs[0].data is given twice"));
  EXPECT_THAT(
      Decode(R"({"inputs": [{"name": "input", "datatype": "FP32", "shape": )"
             R"([1], "shape": [1], "data": [1]}]})"),
      StatusIs(absl::StatusCode::kInvalidArgument,
               "inputs[0].shape is given twice"));
  EXPECT_THAT(
      Decode(R"({"parameters": {"max_value": 1, "max_value": 2}, "inputs": [)"
             R"({"name": "input", "datatype": "FP32", "shape": [1], )"
             R"("data": [1]}]})"),
      StatusIs(absl::StatusCode::kInvalidArgument,
               "parameters.max_value is given twice"));
}

TEST(OipJsonTest, TruncatedAndBinaryGarbageAreInvalidJson) {
  EXPECT_THAT(Decode(Request("[2]", "[1, ")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("the body is not valid JSON")));
  EXPECT_THAT(Decode(std::string("\xff\xfe{}", 4)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("the body is not valid JSON")));
}

}  // namespace
}  // namespace activation::server::oip

#include "wire/convert.h"

#include <optional>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "gtest/gtest.h"

namespace activation::wire {
namespace {

TEST(OipNamesTest, EveryDtypeHasTheProtocolsNameAndBack) {
  std::vector<std::string> names;
  for (core::DataType dtype : core::kAllDataTypes) {
    names.emplace_back(OipDataTypeName(dtype));
    EXPECT_EQ(DataTypeFromOipName(names.back()), dtype) << names.back();
  }
  EXPECT_EQ(names, (std::vector<std::string>{
                       "FP32", "FP64", "FP16", "BF16", "INT8", "INT16", "INT32",
                       "INT64", "UINT8", "UINT16", "UINT32", "UINT64"}));
}

TEST(OipNamesTest, NamesTheModelDoesNotComputeHaveNoDtype) {
  for (const char* name : {"BOOL", "BYTES", "fp32", "FLOAT32", "FP8", ""}) {
    EXPECT_EQ(DataTypeFromOipName(name), std::nullopt) << name;
  }
}

}  // namespace
}  // namespace activation::wire

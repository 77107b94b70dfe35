#include "client/cli/npy.h"

#include <stdlib.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace activation::cli {
namespace {

using ::activation::testing::StatusIs;
using ::testing::HasSubstr;

std::string Slurp(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  std::ostringstream contents;
  contents << file.rdbuf();
  return contents.str();
}

class NpyTest : public ::testing::Test {
 protected:
  // NumPy writes the files once for the suite.
  static void SetUpTestSuite() {
    // Each test process its own directory: ctest runs cases in parallel.
    std::string pattern = ::testing::TempDir() + "npy_test_XXXXXX";
    dir_ = new std::string(mkdtemp(pattern.data()));

    python_ok_ =
        std::system(("/usr/bin/python3 " + Script() + " write '" + *dir_ + "'")
                        .c_str()) == 0;
  }
  static void TearDownTestSuite() {
    std::system(("rm -rf '" + *dir_ + "'").c_str());
    delete dir_;
  }
  static std::string Script() {
    return std::string(ACTIVATION_SOURCE_DIR) + "/tests/client/make_npy.py";
  }
  void SetUp() override { ASSERT_TRUE(python_ok_) << "make_npy.py failed"; }

  static std::string* dir_;
  static bool python_ok_;
};
std::string* NpyTest::dir_ = nullptr;
bool NpyTest::python_ok_ = false;

const char* const kCodes[] = {"f2", "f4", "f8", "i1", "i2", "i4",
                              "i8", "u1", "u2", "u4", "u8"};

TEST_F(NpyTest, ReadsEveryDtypeByteOrderAndLayoutNumPyWrites) {
  int files = 0;
  for (const char* code : kCodes) {
    for (const char* order : {"le", "be"}) {
      for (const char* layout : {"C", "F"}) {
        for (int ndim = 0; ndim <= 3; ++ndim) {
          const std::string name = absl::StrCat(*dir_, "/", code, "_", order,
                                                "_", layout, "_", ndim, "d");
          absl::StatusOr<Tensor> tensor = ReadNpy(name + ".npy");
          ASSERT_OK(tensor);
          // The shape NumPy saved (np.asfortranarray makes a 0-d array 1-d).
          EXPECT_EQ(absl::StrJoin(tensor->shape, ","), Slurp(name + ".shape"))
              << name;
          EXPECT_EQ(tensor->data, Slurp(name + ".bin")) << name;
          ++files;
        }
      }
    }
  }
  EXPECT_EQ(files, 11 * 2 * 2 * 4);
}

TEST_F(NpyTest, ReadsFormatVersionsTwoAndThree) {
  for (const char* name : {"version_2", "version_3"}) {
    absl::StatusOr<Tensor> tensor = ReadNpy(*dir_ + "/" + name + ".npy");
    ASSERT_OK(tensor);
    EXPECT_EQ(tensor->dtype, core::DataType::kFloat32);
    EXPECT_THAT(tensor->shape, ::testing::ElementsAre(3, 4));
    EXPECT_EQ(tensor->data, Slurp(*dir_ + "/" + name + ".bin"));
  }
}

TEST_F(NpyTest, WhatItWritesNumPyReadsBack) {
  // Read every NumPy file, write it again as out_*.npy, let NumPy compare
  // dtype, shape and bytes.
  for (const char* code : kCodes) {
    for (const char* order : {"le", "be"}) {
      for (const char* layout : {"C", "F"}) {
        for (int ndim = 0; ndim <= 3; ++ndim) {
          const std::string name =
              absl::StrCat(code, "_", order, "_", layout, "_", ndim, "d");
          absl::StatusOr<Tensor> tensor = ReadNpy(*dir_ + "/" + name + ".npy");
          ASSERT_OK(tensor);
          ASSERT_OK(
              WriteNpy(absl::StrCat(*dir_, "/out_", name, ".npy"), *tensor));
          std::ofstream(absl::StrCat(*dir_, "/out_", name, ".bin"),
                        std::ios::binary)
              << tensor->data;
        }
      }
    }
  }
  EXPECT_EQ(
      std::system(
          ("/usr/bin/python3 " + Script() + " check '" + *dir_ + "'").c_str()),
      0);
}

TEST(NpyParseTest, RejectsMalformedFilesSayingWhy) {
  auto header = [](const std::string& dict, const std::string& data) {
    std::string h = dict;
    h.append(63 - (10 + h.size()) % 64, ' ');
    h.push_back('\n');
    std::string out("\x93NUMPY\x01\x00", 8);
    out.push_back(static_cast<char>(h.size() & 0xFF));
    out.push_back(static_cast<char>(h.size() >> 8));
    return out + h + data;
  };
  EXPECT_THAT(ParseNpy("hello"), StatusIs(absl::StatusCode::kInvalidArgument,
                                          HasSubstr("no \\x93NUMPY magic")));
  EXPECT_THAT(ParseNpy(std::string("\x93NUMPY\x04\x00\x00\x00", 10)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("format version 4.x is not supported")));
  EXPECT_THAT(ParseNpy(header(
                  "{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }",
                  std::string(8, '\0'))),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("dtype '<c8' is not supported")));
  EXPECT_THAT(ParseNpy(header(
                  "{'descr': '|b1', 'fortran_order': False, 'shape': (1,), }",
                  std::string(1, '\0'))),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("dtype '|b1' is not supported")));
  EXPECT_THAT(
      ParseNpy(header("{'descr': [('a', '<f4')], 'fortran_order': False, "
                      "'shape': (1,), }",
                      std::string(4, '\0'))),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("structured or object dtype")));
  EXPECT_THAT(
      ParseNpy(
          header("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }",
                 std::string(8, '\0'))),
      StatusIs(
          absl::StatusCode::kInvalidArgument,
          HasSubstr("needs 3 elements of 4 bytes; the file holds 8 bytes")));
  EXPECT_THAT(
      ParseNpy(header(
          "{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }", "")),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("bad dimension")));
  EXPECT_THAT(ParseNpy(header("{'descr': '<f4', 'shape': (1,), }", "1234")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("no 'fortran_order'")));
  EXPECT_THAT(ReadNpy("/no/such/file.npy"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("cannot read")));
}

TEST(NpyParseTest, BFloat16HasNoNumPyDtype) {
  Tensor tensor;
  tensor.dtype = core::DataType::kBFloat16;
  tensor.shape = {1};
  tensor.data = std::string(2, '\0');
  EXPECT_THAT(SerializeNpy(tensor),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("BFLOAT16 has no NumPy dtype")));
}

}  // namespace
}  // namespace activation::cli

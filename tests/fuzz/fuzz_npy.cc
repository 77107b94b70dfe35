// Fuzzes the client's .npy reader (client/cli/npy.h) with arbitrary file
// contents. Checks that it never crashes or reads out of bounds, that a
// refusal is InvalidArgument, and that an accepted array is consistent:
// non-negative dimensions, data of exactly product(shape) * itemsize bytes,
// and the same tensor after writing it back with SerializeNpy and reading
// that again.

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "client/cli/npy.h"
#include "client/tensor.h"
#include "core/dtype.h"
#include "tests/fuzz/fuzz_checks.h"

namespace activation {
namespace {

constexpr char kTarget[] = "fuzz_npy";

[[noreturn]] void Fail(const char* what, const std::string& detail) {
  testing::Fail(kTarget, what, detail);
}

void FuzzOne(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<Tensor> tensor = cli::ParseNpy(bytes);
  if (!tensor.ok()) {
    if (tensor.status().code() != absl::StatusCode::kInvalidArgument) {
      Fail("refusal with a code other than InvalidArgument",
           tensor.status().ToString());
    }
    return;
  }
  // product(shape) * itemsize, with every dimension checked here.
  const size_t item = core::ItemSize(tensor->dtype);
  if (item == 0 || tensor->dtype == core::DataType::kBFloat16) {
    Fail("accepted a dtype .npy has no code for",
         std::string(core::DataTypeName(tensor->dtype)));
  }
  bool empty = false;
  for (int64_t dim : tensor->shape) {
    if (dim < 0) Fail("accepted a negative dimension", std::to_string(dim));
    empty = empty || dim == 0;
  }
  uint64_t needed = 0;
  if (!empty) {
    needed = item;
    for (int64_t dim : tensor->shape) {
      // No accepted tensor needs more bytes than the file holds.
      if (__builtin_mul_overflow(needed, static_cast<uint64_t>(dim), &needed) ||
          needed > size) {
        Fail("accepted a shape that needs more bytes than the file", "");
      }
    }
  }
  if (tensor->data.size() != needed) {
    Fail("data size is not product(shape) * itemsize",
         std::to_string(tensor->data.size()));
  }
  absl::StatusOr<uint64_t> byte_size = ByteSize(*tensor);
  if (!byte_size.ok() || *byte_size != tensor->data.size()) {
    Fail("ByteSize disagrees", byte_size.status().ToString());
  }

  // Written back (little-endian, C order) and read again: the same tensor.
  absl::StatusOr<std::string> written = cli::SerializeNpy(*tensor);
  if (!written.ok()) Fail("SerializeNpy failed", written.status().ToString());
  absl::StatusOr<Tensor> again = cli::ParseNpy(*written);
  if (!again.ok()) Fail("cannot read back", again.status().ToString());
  if (again->dtype != tensor->dtype || again->shape != tensor->shape ||
      again->data != tensor->data) {
    Fail("round trip changed the tensor", "");
  }
}

}  // namespace
}  // namespace activation

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  activation::FuzzOne(data, size);
  return 0;
}

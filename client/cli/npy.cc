#include "client/cli/npy.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"

namespace activation::cli {
namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicSize = 6;

struct DtypeCode {
  const char* code;  // kind and size, e.g. "f4"
  core::DataType dtype;
};
constexpr DtypeCode kDtypes[] = {
    {"f2", core::DataType::kFloat16}, {"f4", core::DataType::kFloat32},
    {"f8", core::DataType::kFloat64}, {"i1", core::DataType::kInt8},
    {"i2", core::DataType::kInt16},   {"i4", core::DataType::kInt32},
    {"i8", core::DataType::kInt64},   {"u1", core::DataType::kUInt8},
    {"u2", core::DataType::kUInt16},  {"u4", core::DataType::kUInt32},
    {"u8", core::DataType::kUInt64},
};

absl::Status Invalid(absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("npy: ", what));
}

// Returns the value text of `key` in the header dict, e.g. "'<f4'",
// "False" or "(2, 3)".
absl::StatusOr<absl::string_view> DictValue(absl::string_view header,
                                            absl::string_view key) {
  for (char quote : {'\'', '"'}) {
    const std::string quoted =
        absl::StrCat(std::string(1, quote), key, std::string(1, quote));
    size_t at = header.find(quoted);
    if (at == absl::string_view::npos) continue;
    at = header.find(':', at + quoted.size());
    if (at == absl::string_view::npos) break;
    absl::string_view rest =
        absl::StripLeadingAsciiWhitespace(header.substr(at + 1));
    size_t end;
    if (!rest.empty() && rest[0] == '(') {
      end = rest.find(')');
      if (end == absl::string_view::npos) break;
      return rest.substr(0, end + 1);
    }
    if (!rest.empty() && (rest[0] == '\'' || rest[0] == '"')) {
      end = rest.find(rest[0], 1);
      if (end == absl::string_view::npos) break;
      return rest.substr(0, end + 1);
    }
    end = rest.find_first_of(",}");
    return absl::StripTrailingAsciiWhitespace(rest.substr(0, end));
  }
  return Invalid(absl::StrCat("header has no '", key, "': ", header));
}

absl::StatusOr<std::vector<int64_t>> ParseShape(absl::string_view text) {
  if (text.size() < 2 || text.front() != '(' || text.back() != ')') {
    return Invalid(absl::StrCat("shape must be a tuple, got ", text));
  }
  std::vector<int64_t> shape;
  for (absl::string_view part : absl::StrSplit(text.substr(1, text.size() - 2),
                                               ',', absl::SkipWhitespace())) {
    int64_t dim;
    if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(part), &dim) || dim < 0) {
      return Invalid(
          absl::StrCat("bad dimension '", part, "' in shape ", text));
    }
    shape.push_back(dim);
  }
  return shape;
}

// Reverses the bytes of every `item`-byte element.
void SwapBytes(std::string& data, size_t item) {
  for (size_t i = 0; i + item <= data.size(); i += item) {
    std::reverse(data.begin() + static_cast<ptrdiff_t>(i),
                 data.begin() + static_cast<ptrdiff_t>(i + item));
  }
}

// Reorders Fortran-order (column-major) elements into C order.
std::string FortranToC(const std::string& data,
                       const std::vector<int64_t>& shape, size_t item) {
  const size_t ndim = shape.size();
  std::vector<uint64_t> f_stride(ndim, 1);
  for (size_t k = 1; k < ndim; ++k) {
    f_stride[k] = f_stride[k - 1] * static_cast<uint64_t>(shape[k - 1]);
  }
  std::string out(data.size(), '\0');
  std::vector<int64_t> index(ndim, 0);  // C-order multi-index
  const uint64_t n = data.size() / item;
  for (uint64_t c = 0; c < n; ++c) {
    uint64_t f = 0;
    for (size_t k = 0; k < ndim; ++k) {
      f += static_cast<uint64_t>(index[k]) * f_stride[k];
    }
    std::memcpy(&out[c * item], &data[f * item], item);
    for (size_t k = ndim; k-- > 0;) {  // increment, last axis fastest
      if (++index[k] < shape[k]) break;
      index[k] = 0;
    }
  }
  return out;
}

// Where the header dict and the data are in a .npy file.
struct Layout {
  absl::string_view header;
  size_t data_start;
};

// Reads the magic string, the version and the header length.
absl::StatusOr<Layout> ParsePreamble(const std::string& bytes) {
  if (bytes.size() < 10 || bytes.compare(0, kMagicSize, kMagic) != 0) {
    return Invalid("not a .npy file (no \\x93NUMPY magic)");
  }
  const int major = static_cast<unsigned char>(bytes[6]);
  if (major < 1 || major > 3) {
    return Invalid(absl::StrCat("format version ", major,
                                ".x is not supported (1.0, 2.0, 3.0 are)"));
  }
  // Little-endian length: 2 bytes in version 1, 4 in versions 2 and 3.
  const size_t length_bytes = major == 1 ? 2 : 4;
  const size_t header_start = 8 + length_bytes;
  if (bytes.size() < header_start) return Invalid("truncated header");
  size_t header_len = 0;
  for (size_t i = length_bytes; i-- > 0;) {
    header_len = (header_len << 8) | static_cast<unsigned char>(bytes[8 + i]);
  }
  if (header_start + header_len > bytes.size()) {
    return Invalid("truncated header");
  }
  return Layout{absl::string_view(bytes.data() + header_start, header_len),
                header_start + header_len};
}

// The element type a header's 'descr' names.
struct Descr {
  absl::string_view code;  // as written, e.g. "<f4"
  core::DataType dtype;
  bool big_endian;
};

absl::StatusOr<Descr> ParseDescr(absl::string_view header) {
  absl::StatusOr<absl::string_view> descr = DictValue(header, "descr");
  if (!descr.ok()) return descr.status();
  if (descr->size() < 2 || ((*descr)[0] != '\'' && (*descr)[0] != '"')) {
    return Invalid(absl::StrCat("structured or object dtype ", *descr,
                                " is not supported"));
  }
  const absl::string_view code = descr->substr(1, descr->size() - 2);
  if (code.size() == 3 &&
      absl::string_view("<>|=").find(code[0]) != absl::string_view::npos) {
    for (const DtypeCode& d : kDtypes) {
      if (code.substr(1) == d.code) return Descr{code, d.dtype, code[0] == '>'};
    }
  }
  return Invalid(absl::StrCat("dtype '", code,
                              "' is not supported; use one of "
                              "f2 f4 f8 i1 i2 i4 i8 u1 u2 u4 u8"));
}

absl::StatusOr<bool> ParseFortranOrder(absl::string_view header) {
  absl::StatusOr<absl::string_view> fortran =
      DictValue(header, "fortran_order");
  if (!fortran.ok()) return fortran.status();
  if (*fortran != "True" && *fortran != "False") {
    return Invalid(
        absl::StrCat("fortran_order must be True or False, got ", *fortran));
  }
  return *fortran == "True";
}

// Checks that `tensor`'s shape, written `shape_text` in the header, needs
// exactly the `available` bytes of data.
absl::Status CheckDataSize(const Tensor& tensor, absl::string_view shape_text,
                           absl::string_view code, uint64_t available) {
  absl::StatusOr<uint64_t> needed = ByteSize(tensor);
  if (!needed.ok()) {
    return Invalid(absl::StrCat("shape ", shape_text, " overflows"));
  }
  if (*needed != available) {
    const size_t item = core::ItemSize(tensor.dtype);
    return Invalid(absl::StrCat("shape ", shape_text, " of '", code, "' needs ",
                                *needed / item, " elements of ", item,
                                " bytes; the file holds ", available,
                                " bytes of data"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Tensor> ParseNpy(const std::string& bytes) {
  absl::StatusOr<Layout> layout = ParsePreamble(bytes);
  if (!layout.ok()) return layout.status();
  absl::StatusOr<Descr> descr = ParseDescr(layout->header);
  if (!descr.ok()) return descr.status();
  absl::StatusOr<bool> fortran = ParseFortranOrder(layout->header);
  if (!fortran.ok()) return fortran.status();
  absl::StatusOr<absl::string_view> shape_text =
      DictValue(layout->header, "shape");
  if (!shape_text.ok()) return shape_text.status();
  absl::StatusOr<std::vector<int64_t>> shape = ParseShape(*shape_text);
  if (!shape.ok()) return shape.status();

  Tensor tensor;
  tensor.dtype = descr->dtype;
  tensor.shape = *std::move(shape);
  if (absl::Status s = CheckDataSize(tensor, *shape_text, descr->code,
                                     bytes.size() - layout->data_start);
      !s.ok()) {
    return s;
  }
  const size_t item = core::ItemSize(tensor.dtype);
  tensor.data = bytes.substr(layout->data_start);
  if (descr->big_endian && item > 1) SwapBytes(tensor.data, item);
  if (*fortran && tensor.shape.size() > 1) {
    tensor.data = FortranToC(tensor.data, tensor.shape, item);
  }
  return tensor;
}

absl::StatusOr<Tensor> ReadNpy(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::ostringstream contents;
  contents << file.rdbuf();
  absl::StatusOr<Tensor> tensor = ParseNpy(contents.str());
  if (!tensor.ok()) {
    return absl::Status(tensor.status().code(),
                        absl::StrCat(path, ": ", tensor.status().message()));
  }
  return tensor;
}

absl::StatusOr<std::string> SerializeNpy(const Tensor& tensor) {
  const char* code = nullptr;
  for (const DtypeCode& d : kDtypes) {
    if (d.dtype == tensor.dtype) code = d.code;
  }
  if (code == nullptr) {
    return Invalid(
        absl::StrCat(core::DataTypeName(tensor.dtype), " has no NumPy dtype"));
  }
  std::string shape = absl::StrCat("(", absl::StrJoin(tensor.shape, ", "),
                                   tensor.shape.size() == 1 ? ",)" : ")");
  std::string header =
      absl::StrCat("{'descr': '", core::ItemSize(tensor.dtype) == 1 ? "|" : "<",
                   code, "', 'fortran_order': False, 'shape': ", shape, ", }");
  // Pad with spaces and end with a newline so the data starts 64-aligned.
  const bool v2 = header.size() + 11 > 65535;
  const size_t prefix = v2 ? 12 : 10;
  header.append(63 - (prefix + header.size()) % 64, ' ');
  header.push_back('\n');
  std::string out(kMagic, kMagicSize);
  out.push_back(static_cast<char>(v2 ? 2 : 1));
  out.push_back('\0');
  const size_t len = header.size();
  for (size_t i = 0; i < (v2 ? 4u : 2u); ++i) {
    out.push_back(static_cast<char>((len >> (8 * i)) & 0xFF));
  }
  out += header;
  out += tensor.data;
  return out;
}

absl::Status WriteNpy(const std::string& path, const Tensor& tensor) {
  absl::StatusOr<std::string> bytes = SerializeNpy(tensor);
  if (!bytes.ok()) return bytes.status();
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  file.write(bytes->data(), static_cast<std::streamsize>(bytes->size()));
  if (!file) return absl::InternalError(absl::StrCat("cannot write ", path));
  return absl::OkStatus();
}

}  // namespace activation::cli

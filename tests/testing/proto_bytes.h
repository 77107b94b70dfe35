// A protobuf message's bytes for comparing two messages exactly: map
// entries sorted by key (a map serializes in any order otherwise), floats
// bit for bit (NaN payloads and -0 included).

#ifndef ACTIVATION_TESTS_TESTING_PROTO_BYTES_H_
#define ACTIVATION_TESTS_TESTING_PROTO_BYTES_H_

#include <string>

#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/message_lite.h"

namespace activation::testing {

inline std::string DeterministicBytes(
    const google::protobuf::MessageLite& message) {
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream stream(&bytes);
    google::protobuf::io::CodedOutputStream out(&stream);
    out.SetSerializationDeterministic(true);
    message.SerializeToCodedStream(&out);
  }
  return bytes;
}

}  // namespace activation::testing

#endif  // ACTIVATION_TESTS_TESTING_PROTO_BYTES_H_

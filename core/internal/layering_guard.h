// Included before every core/ source by the build (-include). core/ is the
// engine and knows nothing of RPC or serialization: any gRPC or protobuf
// header uses these identifiers, so including one fails to compile.

#ifndef ACTIVATION_CORE_INTERNAL_LAYERING_GUARD_H_
#define ACTIVATION_CORE_INTERNAL_LAYERING_GUARD_H_

#pragma GCC poison grpc protobuf

#endif  // ACTIVATION_CORE_INTERNAL_LAYERING_GUARD_H_

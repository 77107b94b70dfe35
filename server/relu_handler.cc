#include "server/relu_handler.h"

#include "absl/status/statusor.h"
#include "server/codec.h"

namespace activation::server {

absl::Status ReluHandler::Relu(
    v1::ReluRequest* request, v1::ReluResponse* response,
    const core::Engine::CancelCheck& cancelled) const {
  absl::StatusOr<DecodedRequest> decoded =
      DecodeRequest(*request, max_elements_);
  if (!decoded.ok()) return decoded.status();

  v1::Tensor* input = request->mutable_input();
  v1::Tensor* output = response->mutable_output();
  output->set_dtype(input->dtype());
  output->mutable_shape()->Swap(input->mutable_shape());
  void* data;
  if (decoded->float_data) {
    output->mutable_float_data()->Swap(input->mutable_float_data());
    data = output->mutable_float_data()->mutable_data();
  } else {
    output->mutable_raw_data()->swap(*input->mutable_raw_data());
    data = output->mutable_raw_data()->data();
  }
  // Timed only for an observer: no clock reads on the hot path without one.
  const absl::Time start =
      observer_ != nullptr ? absl::Now() : absl::InfinitePast();

  absl::Status status = engine_->Relu(decoded->params, decoded->dtype, data,
                                      data, decoded->count, cancelled);
  if (observer_ != nullptr) {
    observer_->OnComputed(decoded->dtype, decoded->count, absl::Now() - start,
                          status.ok());
  }
  return status;
}

}  // namespace activation::server

// XNNPACK beside lsuv on the seed model: an optional peer of `lsuv bench`, built only when
// Debian's libxnnpack-dev, libpthreadpool-dev and libcpuinfo-dev are found (Meson option
// -Dxnnpack=auto|enabled|disabled); never a dependency of the library or the tests. Without
// them, xnnpack_seed_absent.cpp provides these functions and says why.
//
//   const lsuv::bench::PeerTiming t = lsuv::bench::xnnpack_seed_model(64);
//   if (t.images_per_second > 0) std::printf("%.0f images/s\n", t.images_per_second);
#pragma once

#include <cstdint>

namespace lsuv::bench {

// Null when this build has the peer, else why not (one phrase).
const char* xnnpack_missing();

struct PeerTiming {
  double images_per_second = 0.0;  // 0 when the peer is absent or failed
  // max |peer logit - lsuv logit| / max |lsuv logit| over the batch: the two computed the same
  // network on the same numbers.
  double max_relative_difference = 0.0;
  const char* error = nullptr;  // what failed, when images_per_second is 0
};

// The seed model in XNNPACK's f32 operators (NHWC convolutions with ReLU fused through their
// output clamp [0, +inf), global average pooling, fully connected), single thread (no
// threadpool), on the weights and images of make_seed_model_run(batch); lsuv's forward on the
// same run gives the reference logits.
PeerTiming xnnpack_seed_model(std::int32_t batch);

}  // namespace lsuv::bench

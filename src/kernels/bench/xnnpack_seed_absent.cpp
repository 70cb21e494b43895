// The build without XNNPACK (see xnnpack_seed.hpp).
#include "kernels/bench/xnnpack_seed.hpp"

namespace lsuv::bench {

const char* xnnpack_missing() {
  return "not built: needs libxnnpack-dev, libpthreadpool-dev and libcpuinfo-dev at configure "
         "time";
}

PeerTiming xnnpack_seed_model(std::int32_t) {
  PeerTiming t;
  t.error = xnnpack_missing();
  return t;
}

}  // namespace lsuv::bench

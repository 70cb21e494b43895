// Where the kernels' moments (kernels::ChannelMoments, filled by an epilogue or by
// add_channel_moments) become the core's RunningStats: the kernels do not depend on core.
#pragma once

#include <cstddef>

#include "kernels/params.hpp"
#include "lsuv/running_stats.hpp"

namespace lsuv {

// stats[c] merges moments[c] for c < channels.
void merge_moments(const kernels::ChannelMoments* moments, std::size_t channels,
                   RunningStats* stats);

}  // namespace lsuv

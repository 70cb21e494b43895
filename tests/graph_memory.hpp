// Room for a model's op records (Model::configure's `graph` arena) that lives as long as the test
// program, so a test can configure a model in one line and keep it; and an LSUV report with room
// for any of the test models.
#pragma once

#include <cstdint>
#include <deque>
#include <vector>

#include "lsuv/arena.hpp"
#include "lsuv/lsuv_initialize.hpp"
#include "lsuv/model.hpp"

namespace lsuv_test {

inline lsuv::Arena& graph(std::int32_t count) {
  static std::deque<std::vector<unsigned char>> buffers;
  static std::deque<lsuv::Arena> arenas;
  const std::size_t bytes = lsuv::Model::graph_bytes(count > 0 ? count : 1);
  buffers.emplace_back(bytes + lsuv::Arena::kAlignment);
  arenas.emplace_back(buffers.back().data(), buffers.back().size());
  return arenas.back();
}

struct Report : lsuv::LsuvReport {
  Report() : lsuv::LsuvReport(entries_, kEntries) {}
  Report(const Report&) = delete;
  Report& operator=(const Report&) = delete;

 private:
  static constexpr std::int32_t kEntries = 256;
  lsuv::LsuvLayerReport entries_[kEntries];
};

}  // namespace lsuv_test

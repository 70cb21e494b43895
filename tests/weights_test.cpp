#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "graph_memory.hpp"
#include "lsuv/io/npy.hpp"
#include "lsuv/io/weights.hpp"
#include "lsuv/model.hpp"

namespace {

using lsuv::NpyArray;
using lsuv::Status;

// Input 6 x 5 x 4 (H x W x C). conv1: grouped, no bias, a non-square kernel (kh 3, kw 2);
// conv2: 1x1 with bias; then Flatten and Linear over 6 * 6 * 3 features.
constexpr lsuv::LayerSpec kLayers[] = {
    lsuv::conv2d("conv1", 4, 6, 3, 2).with_groups(2).without_bias().with_padding(1),
    lsuv::relu("relu1"),
    lsuv::conv2d("conv2", 6, 3, 1),
    lsuv::flatten("flat"),
    lsuv::linear("fc", 108, 7),
};
constexpr lsuv::ImageShape kInput = {6, 5, 4};

struct BoundModel {
  lsuv::Model model;
  std::vector<unsigned char> memory;

  BoundModel() {
    REQUIRE(model.configure(kLayers, 5, kInput, 2, lsuv_test::graph(5)) == Status::ok);
    memory.resize(model.required_bytes() + lsuv::Arena::kAlignment);
    lsuv::Arena arena(memory.data(), memory.size());
    REQUIRE(model.bind(arena) == Status::ok);
  }
  const lsuv::Layer& layer(const char* name) const {
    const std::int32_t index = model.find_layer(name);
    REQUIRE(index >= 0);
    return model.layer(index);
  }
};

// Every parameter value, as bytes, in layer order: for bit-exact comparisons.
std::vector<unsigned char> snapshot(const lsuv::Model& model) {
  std::vector<unsigned char> bytes;
  for (std::int32_t i = 0; i < model.layer_count(); ++i) {
    const lsuv::Layer& layer = model.layer(i);
    const auto* weights = reinterpret_cast<const unsigned char*>(layer.weights);
    const auto* bias = reinterpret_cast<const unsigned char*>(layer.bias);
    if (weights != nullptr) bytes.insert(bytes.end(), weights, weights + layer.weight_count * 4);
    if (bias != nullptr) bytes.insert(bytes.end(), bias, bias + layer.bias_count * 4);
  }
  return bytes;
}

// Distinct values everywhere, with the awkward ones (signed zero, denormal, extremes) mixed in.
void fill_parameters(const lsuv::Model& model, float offset) {
  const float specials[] = {-0.0f, std::numeric_limits<float>::denorm_min(),
                            std::numeric_limits<float>::max(), -1e-30f};
  std::size_t n = 0;
  for (std::int32_t i = 0; i < model.layer_count(); ++i) {
    const lsuv::Layer& layer = model.layer(i);
    for (std::size_t k = 0; k < layer.weight_count; ++k, ++n)
      layer.weights[k] = n % 17 == 5 ? specials[n % 4] : offset + 0.001f * static_cast<float>(n);
    for (std::size_t k = 0; k < layer.bias_count; ++k, ++n)
      layer.bias[k] = offset - 0.01f * static_cast<float>(n);
  }
}

std::string scratch_directory(const char* name) {
  static const std::string root = [] {
    const std::string path = "weights_test_files";
    mkdir(path.c_str(), 0777);
    return path;
  }();
  return root + "/" + name;
}

std::string file_in(const std::string& directory, const char* name) {
  return directory + "/" + name;
}

void remove_directory(const std::string& directory) {
  for (const char* name : {"conv1.weight.npy", "conv1.bias.npy", "conv2.weight.npy",
                           "conv2.bias.npy", "fc.weight.npy", "fc.bias.npy"})
    std::remove(file_in(directory, name).c_str());
  rmdir(directory.c_str());
}

NpyArray read(const std::string& path) {
  NpyArray array;
  REQUIRE(lsuv::read_npy(path.c_str(), &array) == Status::ok);
  REQUIRE(array.dtype == lsuv::NpyDtype::float32);
  return array;
}

void write_floats(const std::string& path, std::vector<std::int64_t> shape,
                  const std::vector<float>& values) {
  REQUIRE(lsuv::write_npy(path.c_str(), lsuv::NpyDtype::float32, shape.data(),
                          static_cast<int>(shape.size()), values.data()) == Status::ok);
}

}  // namespace

TEST_CASE("weights: save then load restores every parameter bit for bit") {
  const std::string directory = scratch_directory("round_trip");
  BoundModel source;
  fill_parameters(source.model, 0.25f);
  REQUIRE(lsuv::save_weights(source.model, directory.c_str()) == Status::ok);

  BoundModel target;
  REQUIRE(snapshot(target.model) != snapshot(source.model));
  REQUIRE(lsuv::load_weights(target.model, directory.c_str()) == Status::ok);
  CHECK(snapshot(target.model) == snapshot(source.model));

  // Saving again over an existing directory replaces the files.
  fill_parameters(source.model, -3.0f);
  REQUIRE(lsuv::save_weights(source.model, directory.c_str()) == Status::ok);
  REQUIRE(lsuv::load_weights(target.model, directory.c_str()) == Status::ok);
  CHECK(snapshot(target.model) == snapshot(source.model));
  remove_directory(directory);
}

TEST_CASE("weights: files are named and shaped like PyTorch's state_dict") {
  const std::string directory = scratch_directory("names");
  BoundModel model;
  fill_parameters(model.model, 1.0f);
  REQUIRE(lsuv::save_weights(model.model, directory.c_str()) == Status::ok);
  CHECK(read(file_in(directory, "conv1.weight.npy")).shape ==
        std::vector<std::int64_t>{6, 2, 3, 2});
  CHECK(read(file_in(directory, "conv2.weight.npy")).shape ==
        std::vector<std::int64_t>{3, 6, 1, 1});
  CHECK(read(file_in(directory, "conv2.bias.npy")).shape == std::vector<std::int64_t>{3});
  CHECK(read(file_in(directory, "fc.weight.npy")).shape == std::vector<std::int64_t>{7, 108});
  CHECK(read(file_in(directory, "fc.bias.npy")).shape == std::vector<std::int64_t>{7});
  // No bias, no file; layers without parameters write nothing.
  CHECK(access(file_in(directory, "conv1.bias.npy").c_str(), F_OK) != 0);
  CHECK(access(file_in(directory, "relu1.weight.npy").c_str(), F_OK) != 0);
  // The bias is stored as is.
  const NpyArray bias = read(file_in(directory, "fc.bias.npy"));
  CHECK(std::memcmp(bias.as_float32(), model.layer("fc").bias, 7 * sizeof(float)) == 0);
  remove_directory(directory);
}

TEST_CASE("weights: a conv weight file is OIHW whatever the kernel layout is") {
  const std::string directory = scratch_directory("oihw");
  BoundModel model;
  const lsuv::Layer& conv = model.layer("conv1");
  // The kernels' layout, written out by hand: [ky][kx][i][out] with i inside the group.
  constexpr int kOut = 6, kGroupIn = 2, kH = 3, kW = 2;
  const auto code = [](int o, int i, int ky, int kx) {
    return static_cast<float>(1000 * o + 100 * i + 10 * ky + kx);
  };
  for (int ky = 0; ky < kH; ++ky)
    for (int kx = 0; kx < kW; ++kx)
      for (int i = 0; i < kGroupIn; ++i)
        for (int o = 0; o < kOut; ++o)
          conv.weights[((ky * kW + kx) * kGroupIn + i) * kOut + o] = code(o, i, ky, kx);
  REQUIRE(lsuv::save_weights(model.model, directory.c_str()) == Status::ok);

  const NpyArray weight = read(file_in(directory, "conv1.weight.npy"));
  const float* oihw = weight.as_float32();
  for (int o = 0; o < kOut; ++o)
    for (int i = 0; i < kGroupIn; ++i)
      for (int ky = 0; ky < kH; ++ky)
        for (int kx = 0; kx < kW; ++kx) {
          CAPTURE(o);
          CAPTURE(i);
          CAPTURE(ky);
          CAPTURE(kx);
          REQUIRE(oihw[((o * kGroupIn + i) * kH + ky) * kW + kx] == code(o, i, ky, kx));
        }
  // Strides 12 (o), 6 (i), 2 (ky), 1 (kx): [o=5][i=1][ky=2][kx=0] is element 70.
  CHECK(oihw[0] == 0.0f);
  CHECK(oihw[1] == 1.0f);      // kx
  CHECK(oihw[2] == 10.0f);     // ky
  CHECK(oihw[6] == 100.0f);    // i
  CHECK(oihw[12] == 1000.0f);  // o
  CHECK(oihw[5 * 12 + 6 + 4] == 5120.0f);
  remove_directory(directory);
}

TEST_CASE("weights: a Linear after Flatten numbers its inputs C x H x W, as PyTorch does") {
  const std::string directory = scratch_directory("chw");
  BoundModel model;
  const lsuv::Layer& fc = model.layer("fc");
  // fc sees 6 x 6 x 3 (H x W x C); the kernels number features in NHWC order.
  constexpr int kH = 6, kW = 6, kC = 3, kOut = 7;
  const auto code = [](int o, int c, int y, int x) {
    return static_cast<float>(1000 * o + 100 * c + 10 * y + x);
  };
  for (int y = 0; y < kH; ++y)
    for (int x = 0; x < kW; ++x)
      for (int c = 0; c < kC; ++c)
        for (int o = 0; o < kOut; ++o)
          fc.weights[((y * kW + x) * kC + c) * kOut + o] = code(o, c, y, x);
  REQUIRE(lsuv::save_weights(model.model, directory.c_str()) == Status::ok);

  const NpyArray weight = read(file_in(directory, "fc.weight.npy"));
  const float* rows = weight.as_float32();
  for (int o = 0; o < kOut; ++o)
    for (int c = 0; c < kC; ++c)
      for (int y = 0; y < kH; ++y)
        for (int x = 0; x < kW; ++x) {
          CAPTURE(o);
          CAPTURE(c);
          CAPTURE(y);
          CAPTURE(x);
          REQUIRE(rows[o * 108 + (c * kH + y) * kW + x] == code(o, c, y, x));
        }
  remove_directory(directory);
}

TEST_CASE("weights: a bad file anywhere leaves the whole model unchanged") {
  const std::string directory = scratch_directory("bad_file");
  BoundModel source;
  fill_parameters(source.model, 0.5f);
  REQUIRE(lsuv::save_weights(source.model, directory.c_str()) == Status::ok);

  BoundModel target;
  fill_parameters(target.model, -7.0f);
  const std::vector<unsigned char> before = snapshot(target.model);
  const std::vector<float> seven(7, 1.0f);
  Status expected = Status::ok;

  // The broken files are the last ones read (fc), so staging is what keeps conv1 and conv2.
  SUBCASE("wrong shape") {
    write_floats(file_in(directory, "fc.weight.npy"), {7, 107}, std::vector<float>(7 * 107));
    expected = Status::shape_mismatch;
  }
  SUBCASE("wrong rank") {
    write_floats(file_in(directory, "fc.bias.npy"), {7, 1}, seven);
    expected = Status::shape_mismatch;
  }
  SUBCASE("transposed conv weight") {
    write_floats(file_in(directory, "conv2.weight.npy"), {6, 3, 1, 1}, std::vector<float>(18));
    expected = Status::shape_mismatch;
  }
  SUBCASE("NaN") {
    std::vector<float> bias = seven;
    bias[6] = std::nanf("");
    write_floats(file_in(directory, "fc.bias.npy"), {7}, bias);
    expected = Status::non_finite;
  }
  SUBCASE("infinity") {
    std::vector<float> weights(7 * 108, 0.5f);
    weights.back() = -std::numeric_limits<float>::infinity();
    write_floats(file_in(directory, "fc.weight.npy"), {7, 108}, weights);
    expected = Status::non_finite;
  }
  SUBCASE("missing bias") {
    std::remove(file_in(directory, "fc.bias.npy").c_str());
    expected = Status::file_not_found;
  }
  SUBCASE("another dtype") {
    const std::int32_t values[7] = {};
    const std::int64_t shape[] = {7};
    REQUIRE(lsuv::write_npy(file_in(directory, "fc.bias.npy").c_str(), lsuv::NpyDtype::int32, shape,
                            1, values) == Status::ok);
    expected = Status::unsupported;
  }
  SUBCASE("corrupt file") {
    std::FILE* file = std::fopen(file_in(directory, "fc.bias.npy").c_str(), "wb");
    REQUIRE(file != nullptr);
    std::fputs("\x93NUMPY\x01", file);
    std::fclose(file);
    expected = Status::truncated;
  }

  CHECK(lsuv::load_weights(target.model, directory.c_str()) == expected);
  CHECK(snapshot(target.model) == before);
  remove_directory(directory);
}

TEST_CASE("weights: a bias file for a bias-less layer is ignored") {
  const std::string directory = scratch_directory("extra_bias");
  BoundModel source;
  fill_parameters(source.model, 2.0f);
  REQUIRE(lsuv::save_weights(source.model, directory.c_str()) == Status::ok);
  write_floats(file_in(directory, "conv1.bias.npy"), {2}, {std::nanf(""), 1.0f});
  BoundModel target;
  REQUIRE(lsuv::load_weights(target.model, directory.c_str()) == Status::ok);
  CHECK(snapshot(target.model) == snapshot(source.model));
  remove_directory(directory);
}

TEST_CASE("weights: unbound models, missing directories and bad arguments") {
  lsuv::Model unbound;
  REQUIRE(unbound.configure(kLayers, 5, kInput, 1, lsuv_test::graph(5)) == Status::ok);
  const std::string directory = scratch_directory("unbound");
  CHECK(lsuv::save_weights(unbound, directory.c_str()) == Status::not_bound);
  CHECK(access(directory.c_str(), F_OK) != 0);  // nothing created
  CHECK(lsuv::load_weights(unbound, directory.c_str()) == Status::not_bound);

  BoundModel model;
  fill_parameters(model.model, 1.0f);
  const std::vector<unsigned char> before = snapshot(model.model);
  CHECK(lsuv::load_weights(model.model, scratch_directory("never_saved").c_str()) ==
        Status::file_not_found);
  CHECK(lsuv::save_weights(model.model, scratch_directory("no_parent/child").c_str()) ==
        Status::file_not_found);
  CHECK(lsuv::save_weights(model.model, nullptr) == Status::invalid_argument);
  CHECK(lsuv::save_weights(model.model, "") == Status::invalid_argument);
  CHECK(lsuv::load_weights(model.model, nullptr) == Status::invalid_argument);
  CHECK(snapshot(model.model) == before);

  // A layer name is a file name: a path separator in it is refused before any file is touched.
  const lsuv::LayerSpec escaping[] = {lsuv::linear("../fc", 120, 2)};
  lsuv::Model named;
  REQUIRE(named.configure(escaping, 1, kInput, 1, lsuv_test::graph(1)) == Status::ok);
  std::vector<unsigned char> memory(named.required_bytes() + lsuv::Arena::kAlignment);
  lsuv::Arena arena(memory.data(), memory.size());
  REQUIRE(named.bind(arena) == Status::ok);
  const std::string escape_directory = scratch_directory("escape");
  CHECK(lsuv::save_weights(named, escape_directory.c_str()) == Status::invalid_argument);
  CHECK(lsuv::load_weights(named, escape_directory.c_str()) == Status::invalid_argument);
  CHECK(access(escape_directory.c_str(), F_OK) != 0);

  // A plain file where the directory should be is not replaced.
  const std::string file = scratch_directory("a_file");
  std::FILE* handle = std::fopen(file.c_str(), "wb");
  REQUIRE(handle != nullptr);
  std::fclose(handle);
  CHECK(lsuv::save_weights(model.model, file.c_str()) == Status::invalid_argument);
  struct stat info;
  CHECK((stat(file.c_str(), &info) == 0 && S_ISREG(info.st_mode)));
  std::remove(file.c_str());
}

TEST_CASE("weights: BatchNorm2d and nested names load and save as PyTorch's state_dict") {
  const lsuv::LayerSpec layers[] = {
      lsuv::conv2d("layer1.0.conv1", 2, 3, 3).without_bias(),
      lsuv::batch_norm2d("layer1.0.bn1", 3),
  };
  const auto bind = [&](lsuv::Model& model, std::vector<unsigned char>& memory) {
    REQUIRE(model.configure(layers, 2, {5, 5, 2}, 1, lsuv_test::graph(2)) == Status::ok);
    memory.resize(model.required_bytes() + lsuv::Arena::kAlignment);
    lsuv::Arena arena(memory.data(), memory.size());
    REQUIRE(model.bind(arena) == Status::ok);
  };
  lsuv::Model source;
  std::vector<unsigned char> source_memory;
  bind(source, source_memory);
  const lsuv::Layer& bn = source.layer(1);
  // PyTorch's construction: gamma 1, beta 0, mean 0, variance 1, no batches seen.
  CHECK(bn.weights[2] == 1.0f);
  CHECK(bn.bias[2] == 0.0f);
  CHECK(bn.running_mean[2] == 0.0f);
  CHECK(bn.running_var[2] == 1.0f);
  CHECK(*bn.batches_tracked == 0);
  for (int c = 0; c < 3; ++c) {
    bn.weights[c] = 0.5f + c;
    bn.bias[c] = -0.25f * c;
    bn.running_mean[c] = 0.125f * c;
    bn.running_var[c] = 2.0f + c;
  }
  *bn.batches_tracked = 937;
  for (std::size_t k = 0; k < source.layer(0).weight_count; ++k)
    source.layer(0).weights[k] = 0.01f * static_cast<float>(k);
  const std::string directory = scratch_directory("batch_norm");
  REQUIRE(lsuv::save_weights(source, directory.c_str()) == Status::ok);

  CHECK(read(file_in(directory, "layer1.0.bn1.running_var.npy")).shape ==
        std::vector<std::int64_t>{3});
  NpyArray tracked;
  REQUIRE(lsuv::read_npy(file_in(directory, "layer1.0.bn1.num_batches_tracked.npy").c_str(),
                         &tracked) == Status::ok);
  CHECK(tracked.dtype == lsuv::NpyDtype::int64);
  CHECK(tracked.shape.empty());
  CHECK(tracked.as_int64()[0] == 937);

  lsuv::Model target;
  std::vector<unsigned char> target_memory;
  bind(target, target_memory);
  REQUIRE(lsuv::load_weights(target, directory.c_str()) == Status::ok);
  std::vector<float> a(source.parameter_count()), b(target.parameter_count());
  REQUIRE(source.copy_parameters_to(a.data(), a.size()) == Status::ok);
  REQUIRE(target.copy_parameters_to(b.data(), b.size()) == Status::ok);
  CHECK(a == b);
  CHECK(*target.layer(1).batches_tracked == 937);

  // A negative variance, or a count that is not an int64 scalar, is refused; nothing changes.
  lsuv::Model fresh;
  std::vector<unsigned char> fresh_memory;
  bind(fresh, fresh_memory);
  std::vector<float> before(fresh.parameter_count());
  REQUIRE(fresh.copy_parameters_to(before.data(), before.size()) == Status::ok);
  write_floats(file_in(directory, "layer1.0.bn1.running_var.npy"), {3}, {1.0f, -0.5f, 1.0f});
  lsuv::FileError why;
  CHECK(lsuv::load_weights(fresh, directory.c_str(), &why) == Status::bad_format);
  CHECK(std::string(why.message).find("negative variance at element 1") != std::string::npos);
  write_floats(file_in(directory, "layer1.0.bn1.running_var.npy"), {3}, {1.0f, 1.0f, 1.0f});
  write_floats(file_in(directory, "layer1.0.bn1.num_batches_tracked.npy"), {}, {3.0f});
  CHECK(lsuv::load_weights(fresh, directory.c_str(), &why) == Status::unsupported);
  CHECK(std::string(why.message).find("an int64 scalar") != std::string::npos);
  std::vector<float> after(fresh.parameter_count());
  REQUIRE(fresh.copy_parameters_to(after.data(), after.size()) == Status::ok);
  CHECK(after == before);
  for (const char* name : {"layer1.0.conv1.weight.npy", "layer1.0.bn1.weight.npy",
                           "layer1.0.bn1.bias.npy", "layer1.0.bn1.running_mean.npy",
                           "layer1.0.bn1.running_var.npy", "layer1.0.bn1.num_batches_tracked.npy"})
    std::remove(file_in(directory, name).c_str());
  rmdir(directory.c_str());
}

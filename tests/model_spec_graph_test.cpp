// The model spec's graph grammar: named inputs, Add, BatchNorm2d, the clamps, float arguments,
// nested PyTorch blocks, a byte order mark, and the shipped graph models.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "lsuv/io/model_spec.hpp"

namespace {

struct Parsed {
  lsuv::Status status;
  lsuv::ModelSpec spec;
  lsuv::SpecError error;
};

Parsed parse(const std::string& text) {
  Parsed result;
  std::vector<char> exact(text.begin(), text.end());  // no terminator to lean on
  result.status = lsuv::parse_model_spec(exact.empty() ? nullptr : exact.data(), exact.size(),
                                         &result.spec, &result.error);
  return result;
}

std::string format(const lsuv::ModelSpec& spec) {
  std::size_t length = 0;
  REQUIRE(lsuv::format_model_spec(spec, nullptr, 0, &length) == lsuv::Status::arena_too_small);
  std::vector<char> buffer(length + 1);
  REQUIRE(lsuv::format_model_spec(spec, buffer.data(), buffer.size(), &length) == lsuv::Status::ok);
  return std::string(buffer.data(), length);
}

std::vector<std::string> inputs_of(const lsuv::LayerSpec& layer) {
  std::vector<std::string> names;
  for (int i = 0; i < layer.input_count; ++i) names.emplace_back(layer.inputs[i]);
  return names;
}

using Names = std::vector<std::string>;

}  // namespace

TEST_CASE("model spec graph: a trailing call names an op's inputs") {
  const Parsed parsed = parse(
      "input: 16x8x8\n"
      "conv1: Conv2d(16, 16, kernel_size=3, padding=1)\n"
      "relu1: ReLU()\n"
      "conv2: Conv2d(16, 16, kernel_size=3, padding=1)\n"
      "proj: Conv2d(16, 16, kernel_size=1)(input)\n"
      "add1: Add(relu=True)(conv2, proj)\n"
      "add2: Add()(add1, relu1, input)\n"
      "tail: ReLU()(conv1)\n");
  REQUIRE(parsed.status == lsuv::Status::ok);
  const std::vector<lsuv::LayerSpec>& layers = parsed.spec.layers;
  REQUIRE(layers.size() == 7);
  CHECK(layers[0].input_count == 0);  // the previous op's output, here the network input
  CHECK(layers[2].input_count == 0);
  CHECK(inputs_of(layers[3]) == Names{"input"});
  CHECK(layers[4].kind == lsuv::LayerKind::add);
  CHECK(layers[4].relu);
  CHECK(inputs_of(layers[4]) == Names{"conv2", "proj"});
  CHECK(!layers[5].relu);
  CHECK(inputs_of(layers[5]) == Names{"add1", "relu1", "input"});
  CHECK(inputs_of(layers[6]) == Names{"conv1"});
  CHECK(parse(format(parsed.spec)).spec == parsed.spec);
  // The same thing built in code compares equal.
  lsuv::ModelSpec built;
  built.input = {8, 8, 16};
  built.layers = {
      lsuv::conv2d("conv1", 16, 16, 3).with_padding(1),
      lsuv::relu("relu1"),
      lsuv::conv2d("conv2", 16, 16, 3).with_padding(1),
      lsuv::conv2d("proj", 16, 16, 1).with_input("input"),
      lsuv::add("add1", "conv2", "proj").with_relu(),
      lsuv::add("add2", "add1", "relu1").with_input("input"),
      lsuv::relu("tail").with_input("conv1"),
  };
  CHECK(built == parsed.spec);
  // Inputs are compared: another name, order or count is another spec.
  lsuv::ModelSpec changed = built;
  changed.layers[4] = lsuv::add("add1", "proj", "conv2").with_relu();
  CHECK(changed != built);
  changed = built;
  changed.layers[4] = lsuv::add("add1", "conv2", "proj");
  CHECK(changed != built);
  changed = built;
  changed.layers[6] = lsuv::relu("tail");
  CHECK(changed != built);
}

TEST_CASE("model spec graph: input errors name the line and the op") {
  struct Case {
    const char* text;
    lsuv::Status status;
    const char* message;
  };
  const Case cases[] = {
      {"a: ReLU()\nb: ReLU()(foo)\n", lsuv::Status::invalid_argument,
       "line 2, column 11: 'foo' is not an earlier op"},
      {"a: ReLU()(b)\nb: ReLU()\n", lsuv::Status::invalid_argument,
       "line 1, column 11: 'b' is not an earlier op"},
      {"a: ReLU()(a)\n", lsuv::Status::invalid_argument,
       "line 1, column 11: 'a' is not an earlier op"},
      {"a: ReLU()\nb: Add()\n", lsuv::Status::invalid_argument,
       "line 2, column 4: Add needs two or more inputs: Add()(a, b)"},
      {"a: ReLU()\nb: Add()(a)\n", lsuv::Status::invalid_argument,
       "line 2, column 4: Add needs two or more inputs: Add()(a, b)"},
      {"a: ReLU()\nb: ReLU()(a, input)\n", lsuv::Status::invalid_argument,
       "line 2, column 4: ReLU reads one input"},
      {"a: ReLU()\nb: Add()(a, a, a, a, a)\n", lsuv::Status::invalid_argument,
       "line 2, column 22: an op reads at most 4 inputs"},
      {"a: Add(relu=1)(input, input)\n", lsuv::Status::invalid_argument,
       "line 1, column 13: 'relu' must be True or False"},
      {"a: Add(bias=True)(input, input)\n", lsuv::Status::unsupported,
       "line 1, column 8: Add has no keyword 'bias'"},
  };
  for (const Case& c : cases) {
    CAPTURE(std::string(c.text));
    const Parsed parsed = parse(c.text);
    CHECK(parsed.status == c.status);
    CHECK(std::string(parsed.error.message) == c.message);
  }
}

TEST_CASE("model spec graph: BatchNorm2d, ReLU6 and Hardtanh with float arguments") {
  const Parsed parsed = parse(
      "bn: BatchNorm2d(8, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)\n"
      "bn2: BatchNorm2d(num_features=8, eps=0.001, momentum=0.01)\n"
      "r6: ReLU6(inplace=True)\n"
      "ht: Hardtanh(min_val=-1.0, max_val=1.0)\n"
      "ht2: Hardtanh(-2, 3.5e+0, False)\n"
      "bn3: BatchNorm2d(8, 2E-3)\n");
  REQUIRE(parsed.status == lsuv::Status::ok);
  const std::vector<lsuv::LayerSpec>& l = parsed.spec.layers;
  REQUIRE(l.size() == 6);
  CHECK(l[0].kind == lsuv::LayerKind::batch_norm2d);
  CHECK((l[0].in_channels == 8 && l[0].out_channels == 8));
  CHECK(l[0].eps == 1e-5f);
  CHECK(l[0].momentum == 0.1f);
  CHECK(l[1].eps == 0.001f);
  CHECK(l[1].momentum == 0.01f);
  CHECK(l[2].kind == lsuv::LayerKind::relu6);
  CHECK((l[2].clamp_min == 0.0f && l[2].clamp_max == 6.0f));
  CHECK(l[3].kind == lsuv::LayerKind::hardtanh);
  CHECK((l[3].clamp_min == -1.0f && l[3].clamp_max == 1.0f));
  CHECK((l[4].clamp_min == -2.0f && l[4].clamp_max == 3.5f));
  CHECK(l[5].eps == 0.002f);
  const std::string text = format(parsed.spec);
  CHECK(text ==
        "bn: BatchNorm2d(8)\n"
        "bn2: BatchNorm2d(8, eps=0.001, momentum=0.01)\n"
        "r6: ReLU6()\n"
        "ht: Hardtanh(min_val=-1.0, max_val=1.0)\n"
        "ht2: Hardtanh(min_val=-2.0, max_val=3.5)\n"
        "bn3: BatchNorm2d(8, eps=0.002)\n");
  CHECK(parse(text).spec == parsed.spec);

  struct Case {
    const char* text;
    lsuv::Status status;
    const char* message;
  };
  const Case cases[] = {
      {"a: BatchNorm2d(0)", lsuv::Status::invalid_argument,
       "line 1, column 16: 'num_features' must be at least 1"},
      {"a: BatchNorm2d(8, eps=0)", lsuv::Status::invalid_argument,
       "line 1, column 23: 'eps' must be positive"},
      {"a: BatchNorm2d(8, eps=-1e-5)", lsuv::Status::invalid_argument,
       "line 1, column 23: 'eps' must be positive"},
      {"a: BatchNorm2d(8, momentum=None)", lsuv::Status::invalid_argument,
       "line 1, column 28: 'momentum' must be a number"},
      {"a: BatchNorm2d(8.0)", lsuv::Status::invalid_argument,
       "line 1, column 16: 'num_features' must be an integer"},
      {"a: Hardtanh(1.0, 1.0)", lsuv::Status::invalid_argument,
       "line 1, column 4: Hardtanh needs max_val greater than min_val"},
      {"a: Hardtanh(max_val=1e39)", lsuv::Status::invalid_argument,
       "line 1, column 21: number does not fit in a float"},
      {"a: Conv2d(1, 2, kernel_size=3.0)", lsuv::Status::invalid_argument,
       "line 1, column 29: 'kernel_size' must be an integer or a pair (h, w)"},
  };
  for (const Case& c : cases) {
    CAPTURE(std::string(c.text));
    const Parsed failed = parse(c.text);
    CHECK(failed.status == c.status);
    CHECK(std::string(failed.error.message) == c.message);
  }
}

TEST_CASE("model spec graph: padding=same and padding=valid unquoted, as PyTorch 1.13 prints") {
  const Parsed parsed = parse(
      "Net(\n"
      "  (a): Conv2d(3, 4, kernel_size=(3, 3), stride=(1, 1), padding=same)\n"
      "  (b): Conv2d(4, 4, kernel_size=(5, 5), stride=(1, 1), padding=valid)\n"
      ")\n");
  REQUIRE(parsed.status == lsuv::Status::ok);
  CHECK((parsed.spec.layers[0].pad_h == 1 && parsed.spec.layers[0].pad_w == 1));
  CHECK((parsed.spec.layers[1].pad_h == 0 && parsed.spec.layers[1].pad_w == 0));
  // Other bare words are still not values.
  const Parsed other = parse("a: Conv2d(3, 4, 3, padding=full)");
  CHECK(other.status == lsuv::Status::bad_format);
  CHECK(std::string(other.error.message) == "line 1, column 28: expected a value, found 'full'");
}

TEST_CASE("model spec graph: a pasted residual block names layers like state_dict") {
  // print(model) of a torchvision-style BasicBlock network, with the Add lines and the input
  // calls the repr cannot show added by hand. Inside a block, names are found in the block
  // first, then outwards.
  const Parsed parsed = parse(
      "ResNet(\n"
      "  (conv1): Conv2d(1, 16, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), bias=False)\n"
      "  (bn1): BatchNorm2d(16, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)\n"
      "  (relu): ReLU(inplace=True)\n"
      "  (layer1): Sequential(\n"
      "    (0): BasicBlock(\n"
      "      (conv1): Conv2d(16, 32, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1), "
      "bias=False)\n"
      "      (bn1): BatchNorm2d(32, eps=1e-05, momentum=0.1, affine=True, "
      "track_running_stats=True)\n"
      "      (relu): ReLU(inplace=True)\n"
      "      (conv2): Conv2d(32, 32, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), "
      "bias=False)\n"
      "      (bn2): BatchNorm2d(32, eps=1e-05, momentum=0.1, affine=True, "
      "track_running_stats=True)\n"
      "      (downsample): Sequential(\n"
      "        (0): Conv2d(16, 32, kernel_size=(1, 1), stride=(2, 2), bias=False)(relu)\n"
      "        (1): BatchNorm2d(32, eps=1e-05, momentum=0.1, affine=True, "
      "track_running_stats=True)\n"
      "      )\n"
      "      (add): Add(relu=True)(bn2, downsample.1)\n"
      "    )\n"
      "  )\n"
      "  (avgpool): AdaptiveAvgPool2d(output_size=(1, 1))\n"
      "  (fc): Linear(in_features=32, out_features=10, bias=True)\n"
      ")\n");
  REQUIRE(parsed.status == lsuv::Status::ok);
  const Names names = {"conv1",
                       "bn1",
                       "relu",
                       "layer1.0.conv1",
                       "layer1.0.bn1",
                       "layer1.0.relu",
                       "layer1.0.conv2",
                       "layer1.0.bn2",
                       "layer1.0.downsample.0",
                       "layer1.0.downsample.1",
                       "layer1.0.add",
                       "avgpool",
                       "fc"};
  REQUIRE(parsed.spec.layers.size() == names.size());
  for (std::size_t i = 0; i < names.size(); ++i)
    CHECK(std::string(parsed.spec.layers[i].name) == names[i]);
  // `relu` inside layer1.0's downsample is the block's own relu (layer1.0.relu), the nearest
  // enclosing one that exists.
  CHECK(inputs_of(parsed.spec.layers[8]) == Names{"layer1.0.relu"});
  CHECK(inputs_of(parsed.spec.layers[10]) == Names{"layer1.0.bn2", "layer1.0.downsample.1"});
  CHECK(parse(format(parsed.spec)).spec == parsed.spec);
}

TEST_CASE("model spec graph: a UTF-8 byte order mark at the start is skipped") {
  const Parsed parsed = parse("\xEF\xBB\xBFinput: 1x4x4\na: ReLU()\n");
  REQUIRE(parsed.status == lsuv::Status::ok);
  CHECK(parsed.spec.input == lsuv::ImageShape{4, 4, 1});
  // Columns count from after the mark.
  const Parsed bad = parse(
      "\xEF\xBB\xBF"
      "a ReLU()");
  CHECK(std::string(bad.error.message) == "line 1, column 3: expected ':' after the layer name");
  // A mark anywhere else is no name character.
  CHECK(parse("a: ReLU()\n\xEF\xBB\xBF"
              "b: ReLU()\n")
            .status == lsuv::Status::invalid_argument);
}

TEST_CASE("model spec graph: the shipped ResNet-8 and DS-CNN parse with state_dict names") {
  const std::filesystem::path models = std::filesystem::path(LSUV_SOURCE_ROOT) / "models";
  lsuv::ModelSpec resnet;
  lsuv::SpecError error;
  REQUIRE(lsuv::load_model_spec((models / "resnet8.spec").string().c_str(), &resnet, &error) ==
          lsuv::Status::ok);
  CHECK(resnet.input == lsuv::ImageShape{28, 28, 1});
  REQUIRE(resnet.count() == 25);
  int convs = 0, norms = 0, adds = 0;
  for (const lsuv::LayerSpec& layer : resnet.layers) {
    convs += layer.kind == lsuv::LayerKind::conv2d;
    norms += layer.kind == lsuv::LayerKind::batch_norm2d;
    adds += layer.kind == lsuv::LayerKind::add;
  }
  CHECK(convs == 9);
  CHECK(norms == 7);
  CHECK(adds == 3);
  CHECK(std::string(resnet.layers[14].name) == "layer2.0.downsample.0");
  CHECK(inputs_of(resnet.layers[14]) == Names{"layer1.0.add"});
  CHECK(inputs_of(resnet.layers[8]) == Names{"layer1.0.bn2", "stem.relu"});
  CHECK(resnet.layers[8].relu);
  CHECK(parse(format(resnet)).spec == resnet);

  lsuv::ModelSpec ds_cnn;
  REQUIRE(lsuv::load_model_spec((models / "ds_cnn.spec").string().c_str(), &ds_cnn, &error) ==
          lsuv::Status::ok);
  REQUIRE(ds_cnn.count() == 3 + 4 * 6 + 2);
  CHECK(std::string(ds_cnn.layers[3].name) == "blocks.0.depthwise");
  CHECK(ds_cnn.layers[3].groups == 64);
  CHECK(std::string(ds_cnn.layers[26].name) == "blocks.3.relu2");
  CHECK(std::string(ds_cnn.layers[28].name) == "fc");
  for (const lsuv::LayerSpec& layer : ds_cnn.layers) CHECK(layer.input_count == 0);
  CHECK(parse(format(ds_cnn)).spec == ds_cnn);
}

TEST_CASE("model spec graph: random graphs survive format and parse") {
  std::mt19937 random(7);
  auto pick = [&](int low, int high) {
    return low + static_cast<int>(random() % static_cast<unsigned>(high - low + 1));
  };
  const float reals[] = {1e-5f, 0.1f, -1.0f, 6.0f, 0.001f, 3.14159f, -0.25f, 1e-3f, 2.5e-7f};
  auto real = [&] { return reals[pick(0, 8)]; };
  for (int trial = 0; trial < 300; ++trial) {
    lsuv::ModelSpec spec;
    const int count = pick(1, 30);
    for (int i = 0; i < count; ++i) {
      const std::string name =
          (pick(0, 2) == 0 ? "layer" + std::to_string(pick(1, 3)) + ".0." : "") + "op" +
          std::to_string(i);
      auto earlier = [&] {
        const int at = pick(-1, i - 1);
        return at < 0 ? std::string("input") : std::string(spec.layers[at].name);
      };
      lsuv::LayerSpec layer;
      switch (pick(0, 5)) {
        case 0: {
          layer = lsuv::add(name.c_str(), earlier().c_str(), earlier().c_str());
          for (int extra = pick(0, 2); extra > 0; --extra)
            layer = layer.with_input(earlier().c_str());
          if (pick(0, 1)) layer = layer.with_relu();
          break;
        }
        case 1:
          layer = lsuv::batch_norm2d(name.c_str(), pick(1, 512)).with_eps(std::fabs(real()));
          layer.momentum = real();
          break;
        case 2:
          layer = lsuv::relu6(name.c_str());
          break;
        case 3: {
          const float low = real();
          layer = lsuv::hardtanh(name.c_str(), low, low + std::fabs(real()) + 1.0f);
          break;
        }
        case 4:
          layer = lsuv::conv2d(name.c_str(), pick(0, 8), pick(1, 8), pick(1, 3))
                      .with_stride(pick(1, 2));
          break;
        default:
          layer = lsuv::relu(name.c_str());
          break;
      }
      if (layer.kind != lsuv::LayerKind::add && pick(0, 2) == 0)
        layer = layer.with_input(earlier().c_str());
      spec.layers.push_back(layer);
    }
    const std::string text = format(spec);
    CAPTURE(text);
    const Parsed back = parse(text);
    REQUIRE(back.status == lsuv::Status::ok);
    CHECK(back.spec == spec);
  }
}

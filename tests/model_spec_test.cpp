#include <doctest/doctest.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "lsuv/io/model_spec.hpp"

namespace {

// The same text as models/fashion_mnist_seed.spec (a test below compares them when the source
// tree is where a build directory usually sits).
constexpr char kSeedSpec[] =
    R"(# The seed's network (shared/seed/lsuv-blog-post.md, class MJ): four 3x3/5x5 convolutions with
# ReLU, global average pooling and one linear classifier, for 28x28 grey Fashion-MNIST images.
# Layer names match the PyTorch module, so its state_dict keys (conv1.weight, l1.bias) line up.
input: 1x28x28                      # C x H x W
conv1: Conv2d(1, 8, kernel_size=5, stride=2, padding=1)
relu1: ReLU()
conv2: Conv2d(8, 16, kernel_size=3, padding=2)
relu2: ReLU()
conv3: Conv2d(16, 32, kernel_size=3, padding=2)
relu3: ReLU()
conv4: Conv2d(32, 32, kernel_size=3, padding=2)
relu4: ReLU()
avg: AdaptiveAvgPool2d(1)
l1: Linear(32, 10)
)";

// print(model) of the seed's model, as the blog post shows it (indented as a code block).
constexpr char kSeedRepr[] = R"(    MJ(
    (conv1): Conv2d(1, 8, kernel_size=(5, 5), stride=(2, 2), padding=(1, 1))
    (relu1): ReLU()
    (conv2): Conv2d(8, 16, kernel_size=(3, 3), stride=(1, 1), padding=(2, 2))
    (relu2): ReLU()
    (conv3): Conv2d(16, 32, kernel_size=(3, 3), stride=(1, 1), padding=(2, 2))
    (relu3): ReLU()
    (conv4): Conv2d(32, 32, kernel_size=(3, 3), stride=(1, 1), padding=(2, 2))
    (relu4): ReLU()
    (avg): AdaptiveAvgPool2d(output_size=1)
    (l1): Linear(in_features=32, out_features=10, bias=True)
    )
)";

struct Parsed {
  lsuv::Status status;
  lsuv::ModelSpec spec;
  lsuv::SpecError error;
};

// Parses from a heap copy of exactly the text's bytes, without a terminator, so a read past
// the end is a heap overflow the sanitizers see.
Parsed parse(const std::string& text) {
  Parsed result;
  std::unique_ptr<char[]> exact(new char[text.size() + 1]);
  std::memcpy(exact.get(), text.data(), text.size());
  result.status = lsuv::parse_model_spec(text.empty() ? nullptr : exact.get(), text.size(),
                                         &result.spec, &result.error);
  return result;
}

std::string format(const lsuv::ModelSpec& spec) {
  std::size_t length = 0;
  REQUIRE(lsuv::format_model_spec(spec, nullptr, 0, &length) == lsuv::Status::arena_too_small);
  std::vector<char> buffer(length + 1);
  REQUIRE(lsuv::format_model_spec(spec, buffer.data(), buffer.size(), &length) == lsuv::Status::ok);
  REQUIRE(buffer[length] == '\0');
  return std::string(buffer.data(), length);
}

void check_conv(const lsuv::LayerSpec& layer, const char* name, int in, int out, int kernel,
                int stride, int padding) {
  CAPTURE(std::string(name));
  CHECK(layer.kind == lsuv::LayerKind::conv2d);
  CHECK(std::string(layer.name) == name);
  CHECK(layer.in_channels == in);
  CHECK(layer.out_channels == out);
  CHECK(layer.kernel_h == kernel);
  CHECK(layer.kernel_w == kernel);
  CHECK(layer.stride_h == stride);
  CHECK(layer.stride_w == stride);
  CHECK(layer.pad_h == padding);
  CHECK(layer.pad_w == padding);
  CHECK(layer.dilation_h == 1);
  CHECK(layer.dilation_w == 1);
  CHECK(layer.groups == 1);
  CHECK(layer.bias);
}

void check_seed_layers(const lsuv::ModelSpec& spec) {
  REQUIRE(spec.count() == 10);
  check_conv(spec.layers[0], "conv1", 1, 8, 5, 2, 1);
  check_conv(spec.layers[2], "conv2", 8, 16, 3, 1, 2);
  check_conv(spec.layers[4], "conv3", 16, 32, 3, 1, 2);
  check_conv(spec.layers[6], "conv4", 32, 32, 3, 1, 2);
  const char* relus[] = {"relu1", "relu2", "relu3", "relu4"};
  for (int i = 0; i < 4; ++i) {
    CHECK(spec.layers[2 * i + 1].kind == lsuv::LayerKind::relu);
    CHECK(std::string(spec.layers[2 * i + 1].name) == relus[i]);
  }
  CHECK(spec.layers[8].kind == lsuv::LayerKind::adaptive_avg_pool2d);
  CHECK(std::string(spec.layers[8].name) == "avg");
  CHECK(spec.layers[9].kind == lsuv::LayerKind::linear);
  CHECK(std::string(spec.layers[9].name) == "l1");
  CHECK(spec.layers[9].in_channels == 32);
  CHECK(spec.layers[9].out_channels == 10);
  CHECK(spec.layers[9].bias);
}

}  // namespace

TEST_CASE("model spec: the seed's spec parses field by field") {
  const Parsed parsed = parse(kSeedSpec);
  REQUIRE(parsed.status == lsuv::Status::ok);
  CHECK(parsed.spec.input == lsuv::ImageShape{28, 28, 1});
  check_seed_layers(parsed.spec);
  CHECK(parsed.error.line == 0);
  CHECK(parsed.error.message[0] == '\0');
}

TEST_CASE("model spec: the seed's spec file matches the text tested here") {
  // The build passes the source tree's location (tests/meson.build), wherever the build is.
  const std::filesystem::path path =
      std::filesystem::path(LSUV_SOURCE_ROOT) / "models" / "fashion_mnist_seed.spec";
  REQUIRE(std::filesystem::exists(path));
  std::ifstream file(path, std::ios::binary);
  std::stringstream content;
  content << file.rdbuf();
  CHECK(content.str() == kSeedSpec);
  lsuv::ModelSpec spec;
  lsuv::SpecError error;
  REQUIRE(lsuv::load_model_spec(path.string().c_str(), &spec, &error) == lsuv::Status::ok);
  CHECK(spec == parse(kSeedSpec).spec);
}

TEST_CASE("model spec: the seed's PyTorch repr parses to the same layers") {
  const Parsed repr = parse(kSeedRepr);
  REQUIRE(repr.status == lsuv::Status::ok);
  CHECK(repr.spec.input == lsuv::ImageShape{});  // a repr has no input line
  check_seed_layers(repr.spec);
  lsuv::ModelSpec with_input = repr.spec;
  with_input.input = {28, 28, 1};
  CHECK(with_input == parse(kSeedSpec).spec);
}

TEST_CASE("model spec: format writes the canonical text and parses back") {
  const lsuv::ModelSpec seed = parse(kSeedSpec).spec;
  const std::string text = format(seed);
  CHECK(text ==
        "input: 1x28x28\n"
        "conv1: Conv2d(1, 8, kernel_size=5, stride=2, padding=1)\n"
        "relu1: ReLU()\n"
        "conv2: Conv2d(8, 16, kernel_size=3, padding=2)\n"
        "relu2: ReLU()\n"
        "conv3: Conv2d(16, 32, kernel_size=3, padding=2)\n"
        "relu3: ReLU()\n"
        "conv4: Conv2d(32, 32, kernel_size=3, padding=2)\n"
        "relu4: ReLU()\n"
        "avg: AdaptiveAvgPool2d(1)\n"
        "l1: Linear(32, 10)\n");
  const Parsed back = parse(text);
  REQUIRE(back.status == lsuv::Status::ok);
  CHECK(back.spec == seed);

  // Every field away from its default, pairs with unequal halves, and a spec with no input.
  lsuv::ModelSpec rich;
  const lsuv::LayerSpec layers[] = {
      lsuv::conv2d("features.0", 0, 12, 3, 5)
          .with_stride(1, 2)
          .with_padding(0, 2)
          .with_dilation(2, 1)
          .with_groups(3)
          .without_bias(),
      lsuv::max_pool2d("pool_a", 3).with_stride(2).with_padding(1, 0),
      lsuv::avg_pool2d("pool_b", 2),
      lsuv::relu("act"),
      lsuv::flatten("flat"),
      lsuv::linear("head", 0, 7).without_bias(),
  };
  rich.layers.assign(std::begin(layers), std::end(layers));
  const std::string rich_text = format(rich);
  CHECK(rich_text ==
        "features.0: Conv2d(0, 12, kernel_size=(3, 5), stride=(1, 2), padding=(0, 2), "
        "dilation=(2, 1), groups=3, bias=False)\n"
        "pool_a: MaxPool2d(kernel_size=3, stride=2, padding=(1, 0))\n"
        "pool_b: AvgPool2d(kernel_size=2)\n"
        "act: ReLU()\n"
        "flat: Flatten()\n"
        "head: Linear(0, 7, bias=False)\n");
  const Parsed rich_back = parse(rich_text);
  REQUIRE(rich_back.status == lsuv::Status::ok);
  CHECK(rich_back.spec == rich);
  // Equality really compares: one field changed is a different spec.
  lsuv::ModelSpec changed = rich;
  changed.layers[0].dilation_w = 3;
  CHECK(changed != rich);
  changed = rich;
  changed.layers[1].stride_w = 3;
  CHECK(changed != rich);
}

TEST_CASE("model spec: save_model_spec writes the canonical text atomically, load reads it back") {
  const lsuv::ModelSpec seed = parse(kSeedSpec).spec;
  const std::string path = "model_spec_test_saved.spec";
  REQUIRE(lsuv::save_model_spec(path.c_str(), seed) == lsuv::Status::ok);
  lsuv::ModelSpec loaded;
  REQUIRE(lsuv::load_model_spec(path.c_str(), &loaded, nullptr) == lsuv::Status::ok);
  CHECK(loaded == seed);
  // A spec the parser would refuse is not written, and the file keeps what it had.
  lsuv::ModelSpec bad = seed;
  bad.layers[1].name[0] = '\0';
  CHECK(lsuv::save_model_spec(path.c_str(), bad) == lsuv::Status::invalid_argument);
  REQUIRE(lsuv::load_model_spec(path.c_str(), &loaded, nullptr) == lsuv::Status::ok);
  CHECK(loaded == seed);
  lsuv::FileError why;
  CHECK(lsuv::save_model_spec("no_such_directory/x.spec", seed, &why) ==
        lsuv::Status::file_not_found);
  CHECK(why.message[0] != '\0');
  std::remove(path.c_str());
}

TEST_CASE("model spec: random valid specs survive format and parse") {
  std::mt19937 random(42);
  auto pick = [&](int low, int high) {
    return low + static_cast<int>(random() % static_cast<unsigned>(high - low + 1));
  };
  for (int trial = 0; trial < 300; ++trial) {
    lsuv::ModelSpec spec;
    if (pick(0, 1) == 1) spec.input = {pick(1, 500), pick(1, 500), pick(1, 64)};
    spec.layers.resize(static_cast<std::size_t>(pick(1, 40)));
    for (int i = 0; i < spec.count(); ++i) {
      const std::string name = (pick(0, 3) == 0 ? "block" + std::to_string(pick(0, 9)) + "." : "") +
                               "layer_" + std::to_string(i);
      const int kh = pick(1, 7);
      const int kw = pick(0, 1) ? kh : pick(1, 7);
      lsuv::LayerSpec layer;
      switch (pick(0, 6)) {
        case 0: {
          const int groups = pick(1, 4);
          layer = lsuv::conv2d(name.c_str(), groups * pick(0, 8), groups * pick(1, 8), kh, kw)
                      .with_stride(pick(1, 3), pick(1, 3))
                      .with_padding(pick(0, 3), pick(0, 3))
                      .with_dilation(pick(1, 2), pick(1, 2))
                      .with_groups(groups);
          if (pick(0, 1)) layer = layer.without_bias();
          break;
        }
        case 1:
          layer = lsuv::linear(name.c_str(), pick(0, 1000), pick(1, 1000));
          if (pick(0, 1)) layer = layer.without_bias();
          break;
        case 2:
          layer = lsuv::max_pool2d(name.c_str(), kh).with_stride(pick(1, 3), pick(1, 3));
          layer.kernel_w = kw;
          layer = layer.with_padding(pick(0, kh / 2), pick(0, kw / 2));
          break;
        case 3:
          layer = lsuv::avg_pool2d(name.c_str(), kh);
          break;
        case 4:
          layer = lsuv::adaptive_avg_pool2d(name.c_str());
          break;
        case 5:
          layer = lsuv::flatten(name.c_str());
          break;
        default:
          layer = lsuv::relu(name.c_str());
          break;
      }
      spec.layers[static_cast<std::size_t>(i)] = layer;
    }
    const std::string text = format(spec);
    CAPTURE(text);
    const Parsed back = parse(text);
    REQUIRE(back.status == lsuv::Status::ok);
    CHECK(back.spec == spec);
  }
}

TEST_CASE("model spec: format reports a small buffer and specs the parser would reject") {
  const lsuv::ModelSpec seed = parse(kSeedSpec).spec;
  std::size_t needed = 0;
  REQUIRE(lsuv::format_model_spec(seed, nullptr, 0, &needed) == lsuv::Status::arena_too_small);
  std::vector<char> buffer(needed + 1, 'z');
  std::size_t length = 0;
  // Room for the text but not its terminator is still too small.
  CHECK(lsuv::format_model_spec(seed, buffer.data(), needed, &length) ==
        lsuv::Status::arena_too_small);
  CHECK(length == needed);
  CHECK(lsuv::format_model_spec(seed, buffer.data(), buffer.size(), &length) == lsuv::Status::ok);
  CHECK(length == needed);
  CHECK(std::strlen(buffer.data()) == needed);
  CHECK(lsuv::format_model_spec(seed, buffer.data(), buffer.size(), nullptr) ==
        lsuv::Status::invalid_argument);

  auto rejected = [&](lsuv::ModelSpec spec) {
    std::vector<char> room(8192);
    std::size_t n = 0;
    return lsuv::format_model_spec(spec, room.data(), room.size(), &n);
  };
  lsuv::ModelSpec bad = seed;
  bad.layers.clear();
  CHECK(rejected(bad) == lsuv::Status::invalid_argument);
  bad = seed;
  std::strcpy(bad.layers[1].name, "relu 1");
  CHECK(rejected(bad) == lsuv::Status::invalid_argument);
  bad = seed;
  std::strcpy(bad.layers[1].name, "");
  CHECK(rejected(bad) == lsuv::Status::invalid_argument);
  bad = seed;
  std::strcpy(bad.layers[1].name, "input");
  CHECK(rejected(bad) == lsuv::Status::invalid_argument);
  bad = seed;
  std::strcpy(bad.layers[1].name, "conv1");
  CHECK(rejected(bad) == lsuv::Status::invalid_argument);
  bad = seed;
  bad.layers[0].kernel_h = 0;
  CHECK(rejected(bad) == lsuv::Status::invalid_argument);
  bad = seed;
  bad.layers[0].groups = 3;  // does not divide 8
  CHECK(rejected(bad) == lsuv::Status::invalid_argument);
  bad = seed;
  bad.input = {28, 0, 1};
  CHECK(rejected(bad) == lsuv::Status::invalid_argument);
  bad = seed;
  bad.layers[2].kind = static_cast<lsuv::LayerKind>(99);
  CHECK(rejected(bad) == lsuv::Status::invalid_argument);
}

TEST_CASE("model spec: PyTorch's argument forms") {
  const Parsed parsed = parse(
      "net0: Conv2d(3, 6, (3, 5), (1, 2), (0, 1), 2, 3, False, 'zeros')\n"
      "net1: Conv2d(in_channels=6, out_channels=6, kernel_size=3, padding='same', "
      "dilation=2, padding_mode=\"zeros\",)\n"
      "net2: Conv2d(6, 4, 3, padding='valid', bias=True)\n"
      "net3: ReLU(inplace=True)\n"
      "net4: MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)\n"
      "net5: MaxPool2d(3, None, 1, (1, 1), False, False)\n"
      "net6: AvgPool2d(kernel_size=(2, 4), stride=(2, 1), padding=(1, 0), ceil_mode=False, "
      "count_include_pad=True, divisor_override=None)\n"
      "net7: AdaptiveAvgPool2d(output_size=(1, 1))\n"
      "net8: Flatten(start_dim=1, end_dim=-1)\n"
      "net9: Linear(in_features=24, out_features=3, bias=False)\n"
      "net10: ReLU(False)\n"
      "net11 : Linear ( 3 , ( 5 ) )\n");
  REQUIRE(parsed.status == lsuv::Status::ok);
  const lsuv::ModelSpec& s = parsed.spec;
  REQUIRE(s.count() == 12);
  const lsuv::LayerSpec& c0 = s.layers[0];
  CHECK(c0.in_channels == 3);
  CHECK(c0.out_channels == 6);
  CHECK((c0.kernel_h == 3 && c0.kernel_w == 5));
  CHECK((c0.stride_h == 1 && c0.stride_w == 2));
  CHECK((c0.pad_h == 0 && c0.pad_w == 1));
  CHECK((c0.dilation_h == 2 && c0.dilation_w == 2));
  CHECK(c0.groups == 3);
  CHECK_FALSE(c0.bias);
  // 'same' with a 3x3 kernel dilated by 2 pads 2 on every side.
  CHECK((s.layers[1].pad_h == 2 && s.layers[1].pad_w == 2));
  CHECK((s.layers[2].pad_h == 0 && s.layers[2].pad_w == 0));
  CHECK(s.layers[2].bias);
  CHECK(s.layers[3].kind == lsuv::LayerKind::relu);
  CHECK(s.layers[4].kind == lsuv::LayerKind::max_pool2d);
  CHECK((s.layers[4].kernel_h == 2 && s.layers[4].stride_w == 2 && s.layers[4].pad_h == 0));
  // stride=None means the kernel size.
  CHECK((s.layers[5].kernel_w == 3 && s.layers[5].stride_h == 3 && s.layers[5].pad_w == 1));
  const lsuv::LayerSpec& a = s.layers[6];
  CHECK(a.kind == lsuv::LayerKind::avg_pool2d);
  CHECK((a.kernel_h == 2 && a.kernel_w == 4 && a.stride_h == 2 && a.stride_w == 1));
  CHECK((a.pad_h == 1 && a.pad_w == 0));
  CHECK(s.layers[7].kind == lsuv::LayerKind::adaptive_avg_pool2d);
  CHECK(s.layers[8].kind == lsuv::LayerKind::flatten);
  CHECK((s.layers[9].in_channels == 24 && s.layers[9].out_channels == 3 && !s.layers[9].bias));
  CHECK(std::string(s.layers[11].name) == "net11");
  CHECK(s.layers[11].out_channels == 5);
}

TEST_CASE("model spec: comments, blank lines, CRLF and tabs") {
  const Parsed parsed = parse(
      "\r\n# heading\r\n\t input :\t3 x 32x 16 # c h w\r\n\r\n"
      "  a: ReLU()   # trailing\r\n"
      "\tb:Linear(1,2)#no space\r\n"
      "#");
  REQUIRE(parsed.status == lsuv::Status::ok);
  CHECK(parsed.spec.input == lsuv::ImageShape{32, 16, 3});
  REQUIRE(parsed.spec.count() == 2);
  CHECK(std::string(parsed.spec.layers[1].name) == "b");
  CHECK(parsed.spec.layers[1].out_channels == 2);
}

TEST_CASE("model spec: a pasted repr with Sequential blocks names layers like state_dict") {
  const Parsed parsed = parse(
      "Net(\n"
      "  (features): Sequential(\n"
      "    (0): Conv2d(1, 4, kernel_size=(3, 3), stride=(1, 1))\n"
      "    (1): ReLU(inplace=True)\n"
      "    (2): MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)\n"
      "    (block): Sequential(\n"
      "      (0): Conv2d(4, 4, kernel_size=(1, 1), stride=(1, 1), bias=False)\n"
      "    )\n"
      "  )\n"
      "  (flatten): Flatten(start_dim=1, end_dim=-1)\n"
      "  (classifier): Linear(in_features=676, out_features=10, bias=True)\n"
      ")\n");
  REQUIRE(parsed.status == lsuv::Status::ok);
  REQUIRE(parsed.spec.count() == 6);
  const char* names[] = {"features.0",       "features.1", "features.2",
                         "features.block.0", "flatten",    "classifier"};
  for (int i = 0; i < 6; ++i) CHECK(std::string(parsed.spec.layers[i].name) == names[i]);

  // A top-level Sequential numbers its layers from 0.
  const Parsed numbered = parse("Sequential(\n  (0): Linear(4, 2)\n  (1): ReLU()\n)\n");
  REQUIRE(numbered.status == lsuv::Status::ok);
  CHECK(std::string(numbered.spec.layers[0].name) == "0");
  CHECK(std::string(numbered.spec.layers[1].name) == "1");
}

namespace {

struct ErrorCase {
  const char* text;
  lsuv::Status status;
  int line;
  int column;
  const char* message;  // the whole message
};

void check_errors(const ErrorCase* cases, std::size_t count) {
  for (std::size_t i = 0; i < count; ++i) {
    const ErrorCase& c = cases[i];
    CAPTURE(std::string(c.text));
    const Parsed parsed = parse(c.text);
    CHECK(parsed.status == c.status);
    CHECK(parsed.error.line == c.line);
    CHECK(parsed.error.column == c.column);
    CHECK(std::string(parsed.error.message) == c.message);
  }
}

}  // namespace

TEST_CASE("model spec: syntax errors give bad_format with line and column") {
  const ErrorCase cases[] = {
      {"input: 1x28x28\na: ReLU()\nconv1: Conv2d(1, 8, 5 stride=2)\n", lsuv::Status::bad_format, 3,
       23, "line 3, column 23: expected ',' or ')' after an argument"},
      {"a: ReLU()\n\nb: Linear(1, 2\n", lsuv::Status::bad_format, 3, 15,
       "line 3, column 15: expected ')' after the arguments"},
      {"a: Linear(1, 2", lsuv::Status::bad_format, 1, 15,
       "line 1, column 15: expected ')' after the arguments"},
      {"a ReLU()", lsuv::Status::bad_format, 1, 3,
       "line 1, column 3: expected ':' after the layer name"},
      {"ReLU()", lsuv::Status::bad_format, 1, 5,
       "line 1, column 5: expected ':' after the layer name"},
      {"a: ReLU", lsuv::Status::bad_format, 1, 8,
       "line 1, column 8: expected '(' after the layer type"},
      {"a: (1)", lsuv::Status::bad_format, 1, 4, "line 1, column 4: expected a layer type"},
      {": ReLU()", lsuv::Status::bad_format, 1, 1, "line 1, column 1: expected a layer name"},
      {"(a: ReLU()", lsuv::Status::bad_format, 1, 3,
       "line 1, column 3: expected ')' after the layer name"},
      {"a: ReLU() x", lsuv::Status::bad_format, 1, 11,
       "line 1, column 11: expected end of line after ')'"},
      {"a: Linear(1, , 2)", lsuv::Status::bad_format, 1, 14, "line 1, column 14: expected a value"},
      {"a: Linear(in_features=1, 2)", lsuv::Status::bad_format, 1, 26,
       "line 1, column 26: positional argument after a keyword argument"},
      {"a: Linear(1, 2, bias=maybe)", lsuv::Status::bad_format, 1, 22,
       "line 1, column 22: expected a value, found 'maybe'"},
      {"a: Conv2d(1, 2, (3, 3, 3))", lsuv::Status::bad_format, 1, 22,
       "line 1, column 22: expected ')' after a pair (h, w)"},
      {"a: Conv2d(1, 2, (3 3))", lsuv::Status::bad_format, 1, 20,
       "line 1, column 20: expected ',' in a pair (h, w)"},
      {"a: Conv2d(1, 2, 3, padding_mode='zeros)", lsuv::Status::bad_format, 1, 33,
       "line 1, column 33: unterminated string"},
      {"a: Linear(1.5.2, 2)", lsuv::Status::bad_format, 1, 14,
       "line 1, column 14: expected ',' or ')' after an argument"},
      {"a: Hardtanh(1e, 2)", lsuv::Status::bad_format, 1, 15,
       "line 1, column 15: expected the exponent's digits"},
      {"a: Hardtanh(-.5)", lsuv::Status::bad_format, 1, 14, "line 1, column 14: expected a digit"},
      {"a: ReLU()(", lsuv::Status::bad_format, 1, 11,
       "line 1, column 11: expected the name of an earlier op"},
      {"a: ReLU()(input b)", lsuv::Status::bad_format, 1, 17,
       "line 1, column 17: expected ',' or ')' after an input name"},
      {"a: ReLU()(input) x", lsuv::Status::bad_format, 1, 18,
       "line 1, column 18: expected end of line after ')'"},
      {"a: Linear(-, 2)", lsuv::Status::bad_format, 1, 12,
       "line 1, column 12: expected an integer"},
      {"a: Linear(1,2,3,4,5,6,7,8,9,10,11,12,13)", lsuv::Status::bad_format, 1, 38,
       "line 1, column 38: more than 12 arguments"},
      {"input: 1x28\na: ReLU()", lsuv::Status::bad_format, 1, 12,
       "line 1, column 12: expected 'x' between the input's C x H x W"},
      {"input: 1x28x28 px\na: ReLU()", lsuv::Status::bad_format, 1, 16,
       "line 1, column 16: expected end of line after the input's C x H x W"},
      {"input: big\na: ReLU()", lsuv::Status::bad_format, 1, 8,
       "line 1, column 8: expected the input's C x H x W"},
      {"input: 1x2x3\ninput: 1x2x3\na: ReLU()", lsuv::Status::bad_format, 2, 1,
       "line 2, column 1: a second 'input:' line"},
      {"a: ReLU()\n)\n", lsuv::Status::bad_format, 2, 1, "line 2, column 1: ')' closes nothing"},
      {"a: ReLU()\n) x\n", lsuv::Status::bad_format, 2, 3,
       "line 2, column 3: expected end of line after ')'"},
      {"  Net(\n  (a): ReLU()\n", lsuv::Status::bad_format, 1, 3,
       "line 1, column 3: 'Net(' is never closed"},
      {"Net(\n  Inner(\n  )\n)", lsuv::Status::bad_format, 2, 3,
       "line 2, column 3: a model line 'Inner(' inside a block needs a '(name):'"},
      {"Net( x\n", lsuv::Status::bad_format, 1, 4,
       "line 1, column 4: expected ':' after the layer name"},
      {"", lsuv::Status::bad_format, 0, 0, "the spec has no layers"},
      {"# only a comment\n\n   \n", lsuv::Status::bad_format, 0, 0, "the spec has no layers"},
      {"input: 1x28x28\n", lsuv::Status::bad_format, 0, 0, "the spec has no layers"},
  };
  check_errors(cases, sizeof cases / sizeof cases[0]);
}

TEST_CASE("model spec: unknown types and keywords are unsupported") {
  const ErrorCase cases[] = {
      {"a: LayerNorm(8)", lsuv::Status::unsupported, 1, 4,
       "line 1, column 4: unknown layer type 'LayerNorm'"},
      {"a: BatchNorm2d(8, affine=False)", lsuv::Status::unsupported, 1, 26,
       "line 1, column 26: only affine=True is supported"},
      {"a: BatchNorm2d(8, track_running_stats=False)", lsuv::Status::unsupported, 1, 39,
       "line 1, column 39: only track_running_stats=True is supported"},
      {"a: Conv2d(1, 2, 3, padding_mode='reflect')", lsuv::Status::unsupported, 1, 33,
       "line 1, column 33: only padding_mode='zeros' is supported"},
      {"a: Conv2d(1, 2, 3, device=None)", lsuv::Status::unsupported, 1, 20,
       "line 1, column 20: Conv2d has no keyword 'device'"},
      {"a: MaxPool2d(2, ceil_mode=True)", lsuv::Status::unsupported, 1, 27,
       "line 1, column 27: only ceil_mode=False is supported"},
      {"a: MaxPool2d(2, dilation=(1, 2))", lsuv::Status::unsupported, 1, 26,
       "line 1, column 26: only dilation=1 is supported"},
      {"a: MaxPool2d(2, return_indices=True)", lsuv::Status::unsupported, 1, 32,
       "line 1, column 32: only return_indices=False is supported"},
      {"a: AvgPool2d(2, count_include_pad=False)", lsuv::Status::unsupported, 1, 35,
       "line 1, column 35: only count_include_pad=True is supported"},
      {"a: AvgPool2d(2, divisor_override=3)", lsuv::Status::unsupported, 1, 34,
       "line 1, column 34: only divisor_override=None is supported"},
      {"a: AdaptiveAvgPool2d(2)", lsuv::Status::unsupported, 1, 22,
       "line 1, column 22: only output_size 1 is supported"},
      {"a: AdaptiveAvgPool2d((1, 2))", lsuv::Status::unsupported, 1, 22,
       "line 1, column 22: only output_size 1 is supported"},
      {"a: Flatten(start_dim=0)", lsuv::Status::unsupported, 1, 22,
       "line 1, column 22: only start_dim=1 is supported"},
      {"a: Conv2d(1, 2, 4, padding='same')", lsuv::Status::unsupported, 1, 28,
       "line 1, column 28: padding='same' with an even kernel pads one side more"},
      {"Net(\n  (body): ModuleList(\n", lsuv::Status::bad_format, 2, 11,
       "line 2, column 11: 'ModuleList(' is never closed"},
      {"a: Conv2d(\n", lsuv::Status::bad_format, 1, 11,
       "line 1, column 11: expected ')' after the arguments"},
      {"(s0): Sequential(\n(s1): Sequential(\n(s2): Sequential(\n(s3): Sequential(\n"
       "(s4): Sequential(\n(s5): Sequential(\n(s6): Sequential(\n(s7): Sequential(\n"
       "(s8): Sequential(\n",
       lsuv::Status::unsupported, 9, 7, "line 9, column 7: blocks nested more than 8 deep"},
  };
  check_errors(cases, sizeof cases / sizeof cases[0]);
}

TEST_CASE("model spec: bad names and values are invalid_argument") {
  const ErrorCase cases[] = {
      {"conv-1: ReLU()", lsuv::Status::invalid_argument, 1, 5,
       "line 1, column 5: layer names may hold letters, digits, '_' and '.' only"},
      {"(a\"b): ReLU()", lsuv::Status::invalid_argument, 1, 3,
       "line 1, column 3: layer names may hold letters, digits, '_' and '.' only"},
      {"abcdefghijklmnopqrstuvwxyz0123456: ReLU()", lsuv::Status::invalid_argument, 1, 1,
       "line 1, column 1: layer name longer than 31 characters"},
      {"(abcdefghijklmnopqrst): Sequential(\n  (abcdefghijk): ReLU()\n)",
       lsuv::Status::invalid_argument, 2, 4,
       "line 2, column 4: layer name longer than 31 characters"},
      {"a: ReLU()\nb: ReLU()\na: ReLU()", lsuv::Status::invalid_argument, 3, 1,
       "line 3, column 1: a second layer named 'a'"},
      {"(input): ReLU()", lsuv::Status::invalid_argument, 1, 2,
       "line 1, column 2: 'input' names the input line, not a layer"},
      {"a: Linear(1, 99999999999)", lsuv::Status::invalid_argument, 1, 14,
       "line 1, column 14: number does not fit in 32 bits"},
      {"a: Linear(1, 2147483648)", lsuv::Status::invalid_argument, 1, 14,
       "line 1, column 14: number does not fit in 32 bits"},
      {"a: Linear(-2147483649, 2)", lsuv::Status::invalid_argument, 1, 11,
       "line 1, column 11: number does not fit in 32 bits"},
      {"a: Linear(-2147483648, 2)", lsuv::Status::invalid_argument, 1, 11,
       "line 1, column 11: 'in_features' must be at least 0"},
      {"input: 1x0x28\na: ReLU()", lsuv::Status::invalid_argument, 1, 10,
       "line 1, column 10: input sizes must be positive"},
      {"input: 1x99999999999x28\na: ReLU()", lsuv::Status::invalid_argument, 1, 10,
       "line 1, column 10: number does not fit in 32 bits"},
      {"a: Conv2d(1, 0, 3)", lsuv::Status::invalid_argument, 1, 14,
       "line 1, column 14: 'out_channels' must be at least 1"},
      {"a: Conv2d(1, 2, (3, 0))", lsuv::Status::invalid_argument, 1, 17,
       "line 1, column 17: 'kernel_size' must be at least 1"},
      {"a: Conv2d(1, 2, 3, padding=-1)", lsuv::Status::invalid_argument, 1, 28,
       "line 1, column 28: 'padding' must be at least 0"},
      {"a: Conv2d(1, 2, 3, stride=True)", lsuv::Status::invalid_argument, 1, 27,
       "line 1, column 27: 'stride' must be an integer or a pair (h, w)"},
      {"a: Conv2d(4, 6, 3, groups=4)", lsuv::Status::invalid_argument, 1, 27,
       "line 1, column 27: groups must divide in_channels and out_channels"},
      {"a: Conv2d(1, 2, 3, stride=2, padding='same')", lsuv::Status::invalid_argument, 1, 38,
       "line 1, column 38: padding='same' needs stride 1"},
      {"a: Conv2d(1, 2, 3, padding='full')", lsuv::Status::invalid_argument, 1, 28,
       "line 1, column 28: padding must be a size, 'valid' or 'same'"},
      {"a: Conv2d(1, 2)", lsuv::Status::invalid_argument, 1, 4,
       "line 1, column 4: Conv2d needs 'kernel_size'"},
      {"a: Conv2d(1, 2, 3, kernel_size=3)", lsuv::Status::invalid_argument, 1, 32,
       "line 1, column 32: 'kernel_size' given twice"},
      {"a: Linear(1, 2, True, 4)", lsuv::Status::invalid_argument, 1, 23,
       "line 1, column 23: Linear takes at most 3 arguments"},
      {"a: Linear(1, 2, bias=1)", lsuv::Status::invalid_argument, 1, 22,
       "line 1, column 22: 'bias' must be True or False"},
      {"a: Linear((1, 1), 2)", lsuv::Status::invalid_argument, 1, 11,
       "line 1, column 11: 'in_features' must be an integer"},
      {"a: MaxPool2d(2, padding=2)", lsuv::Status::invalid_argument, 1, 25,
       "line 1, column 25: padding must be at most half the kernel size"},
      {"a: AdaptiveAvgPool2d('x')", lsuv::Status::invalid_argument, 1, 22,
       "line 1, column 22: 'output_size' must be a size"},
  };
  check_errors(cases, sizeof cases / sizeof cases[0]);
}

TEST_CASE("model spec: no cap on the number of layers") {
  std::string text;
  for (int i = 0; i < 1000; ++i) text += "r" + std::to_string(i) + ": ReLU()\n";
  const Parsed parsed = parse(text);
  REQUIRE(parsed.status == lsuv::Status::ok);
  CHECK(parsed.spec.count() == 1000);
  CHECK(std::string(parsed.spec.layers[999].name) == "r999");
}

TEST_CASE("model spec: a failed parse leaves the output alone and errors may be ignored") {
  lsuv::ModelSpec spec = parse(kSeedSpec).spec;
  const lsuv::ModelSpec before = spec;
  const char text[] = "a: Nope()";
  CHECK(lsuv::parse_model_spec(text, sizeof text - 1, &spec, nullptr) == lsuv::Status::unsupported);
  CHECK(spec == before);
  CHECK(lsuv::parse_model_spec(text, sizeof text - 1, nullptr, nullptr) ==
        lsuv::Status::invalid_argument);
  lsuv::SpecError error;
  CHECK(lsuv::parse_model_spec(nullptr, 100, &spec, &error) == lsuv::Status::bad_format);
  // Only `length` bytes count: the layer after them is not seen.
  const char two[] = "a: ReLU()\nb: ReLU()";
  REQUIRE(lsuv::parse_model_spec(two, 10, &spec, &error) == lsuv::Status::ok);
  CHECK(spec.count() == 1);
}

TEST_CASE("model spec: every truncation parses or fails cleanly") {
  for (const char* source : {kSeedSpec, kSeedRepr}) {
    const std::string text = source;
    int complete = 0;
    for (std::size_t length = 0; length <= text.size(); ++length) {
      CAPTURE(length);
      const Parsed parsed = parse(text.substr(0, length));
      if (parsed.status == lsuv::Status::ok) {
        ++complete;
        CHECK(parsed.spec.count() >= 1);
        continue;
      }
      CHECK((parsed.status == lsuv::Status::bad_format ||
             parsed.status == lsuv::Status::invalid_argument ||
             parsed.status == lsuv::Status::unsupported));
      CHECK(parsed.error.message[0] != '\0');
    }
    // The whole text parses; the repr only once its closing ')' is in.
    CHECK(complete >= 1);
    CHECK(parse(text).status == lsuv::Status::ok);
    if (source == kSeedRepr) CHECK(complete <= 6);
  }
}

TEST_CASE("model spec: arbitrary bytes never crash the parser") {
  std::mt19937 random(1234);
  const std::string seed = kSeedRepr;
  const char alphabet[] = "()[],:=#'\"-x0123456789 \t\r\nabcTFN._\x00\xff";
  int accepted = 0;
  for (int trial = 0; trial < 4000; ++trial) {
    std::string text;
    if (trial % 4 == 0) {
      text.resize(random() % 200);
      for (char& c : text) c = static_cast<char>(random());
    } else {
      text = trial % 4 == 1 ? seed : std::string(kSeedSpec);
      const int edits = 1 + static_cast<int>(random() % 6);
      for (int e = 0; e < edits && !text.empty(); ++e) {
        const std::size_t at = random() % text.size();
        const char c = alphabet[random() % (sizeof alphabet - 1)];
        switch (random() % 3) {
          case 0:
            text[at] = c;
            break;
          case 1:
            text.insert(at, 1, c);
            break;
          default:
            text.erase(at, 1);
            break;
        }
      }
    }
    const Parsed parsed = parse(text);
    if (parsed.status == lsuv::Status::ok) {
      ++accepted;
      REQUIRE(parsed.spec.count() >= 1);
      // What parses, formats and parses to the same thing.
      const Parsed again = parse(format(parsed.spec));
      REQUIRE(again.status == lsuv::Status::ok);
      CHECK(again.spec == parsed.spec);
    } else {
      CHECK(std::memchr(parsed.error.message, '\0', sizeof parsed.error.message) != nullptr);
      CHECK(parsed.error.message[0] != '\0');
      CHECK(parsed.error.line >= 0);
    }
  }
  CHECK(accepted > 100);  // the mutations also reach the end of a valid spec
}

TEST_CASE("model spec: load_model_spec reads a file") {
  const std::filesystem::path dir =
      std::filesystem::current_path() / ("model_spec_test." + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "seed.spec").string();
  {
    std::ofstream file(path, std::ios::binary);
    file << kSeedSpec;
  }
  lsuv::ModelSpec spec;
  lsuv::SpecError error;
  REQUIRE(lsuv::load_model_spec(path.c_str(), &spec, &error) == lsuv::Status::ok);
  CHECK(spec == parse(kSeedSpec).spec);

  {
    std::ofstream file(path, std::ios::binary);
    file << "a: ReLU()\nb: Linear(1 2)\n";
  }
  CHECK(lsuv::load_model_spec(path.c_str(), &spec, &error) == lsuv::Status::bad_format);
  CHECK(error.line == 2);
  CHECK(error.column == 13);

  {
    std::ofstream file(path, std::ios::binary);
    file << std::string(lsuv::kMaxModelSpecBytes + 1, '#');
  }
  CHECK(lsuv::load_model_spec(path.c_str(), &spec, &error) == lsuv::Status::size_overflow);
  CHECK(lsuv::load_model_spec((dir / "absent.spec").string().c_str(), &spec, &error) ==
        lsuv::Status::file_not_found);
  CHECK(lsuv::load_model_spec(dir.string().c_str(), &spec, &error) == lsuv::Status::io_error);
  CHECK(lsuv::load_model_spec(nullptr, &spec, &error) == lsuv::Status::invalid_argument);
  CHECK(spec == parse(kSeedSpec).spec);  // failures left it alone
  std::filesystem::remove_all(dir);
}

// The int8 model file: what is written reads back to the same model, and every damaged,
// truncated or inconsistent file is refused with a status that says why.
#include <doctest/doctest.h>

#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "graph_models.hpp"
#include "lsuv/io/checkpoint.hpp"
#include "lsuv/io/quantized_file.hpp"
#include "quantized_support.hpp"

namespace {

using lsuv::Status;

struct Quantized {
  std::unique_ptr<lsuv_test::BoundModel> original, folded;
  std::unique_ptr<lsuv_test::BoundQuantized> q;
  lsuv::ModelSpec spec;
  std::vector<float> images;
};

Quantized residual() {
  Quantized r;
  r.original = lsuv_test::make_model(lsuv_test::kResidual, lsuv_test::kResidualCount,
                                     lsuv_test::kResidualInput, 4);
  r.folded = lsuv_test::folded_copy(r.original->model);
  r.images = lsuv_test::gaussian_images(8, lsuv_test::kResidualInput, 11);
  lsuv::ArrayBatchSource source(r.images.data(), 8, lsuv_test::kResidualInput, 4);
  r.q = lsuv_test::quantized(r.folded->model, source);
  r.spec.input = lsuv_test::kResidualInput;
  for (std::int32_t i = 0; i < r.folded->model.layer_count(); ++i)
    r.spec.layers.push_back(r.folded->model.layer(i).spec);
  return r;
}

std::vector<std::int8_t> int8_output(lsuv::QuantizedModel& m, const float* images) {
  REQUIRE(m.forward(images, 4) == Status::ok);
  const lsuv::BasicTensorView<const std::int8_t> out = m.output();
  return {out.data, out.data + out.elements()};
}

void reseal(std::vector<unsigned char>& bytes) {
  const std::uint32_t crc = lsuv::crc32(bytes.data(), bytes.size() - 4);
  for (int k = 0; k < 4; ++k)
    bytes[bytes.size() - 4 + k] = static_cast<unsigned char>(crc >> (8 * k));
}

Status parse(const std::vector<unsigned char>& bytes, lsuv::FileError* error = nullptr) {
  lsuv::QuantizedModelFile file;
  return file.parse(bytes.data(), bytes.size(), 4, error);
}

}  // namespace

TEST_CASE("quantized file: a written model reads back computing the same codes") {
  Quantized r = residual();
  std::vector<unsigned char> bytes;
  REQUIRE(lsuv::encode_quantized_model(r.spec, r.q->model, &bytes) == Status::ok);
  lsuv::QuantizedModelFile file;
  REQUIRE(file.parse(bytes.data(), bytes.size(), 4) == Status::ok);
  CHECK(file.spec() == r.spec);
  CHECK(int8_output(file.model(), r.images.data()) == int8_output(r.q->model, r.images.data()));
  // Written and read through the file system, atomically.
  const std::filesystem::path dir = std::filesystem::temp_directory_path() / "lsuv_qfile_test";
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "residual.q8").string();
  REQUIRE(lsuv::save_quantized_model(path.c_str(), r.spec, r.q->model) == Status::ok);
  lsuv::QuantizedModelFile loaded;
  REQUIRE(loaded.load(path.c_str(), 2) == Status::ok);
  CHECK(loaded.model().max_batch() == 2);
  // Moving the object keeps the model valid.
  lsuv::QuantizedModelFile moved = std::move(loaded);
  REQUIRE(moved.model().forward(r.images.data(), 2) == Status::ok);
  lsuv::FileError error;
  CHECK(loaded.load((dir / "absent.q8").string().c_str(), 2, &error) == Status::file_not_found);
  std::filesystem::remove_all(dir);

  // A spec of another network is refused on writing.
  lsuv::ModelSpec other = r.spec;
  other.layers.pop_back();
  CHECK(lsuv::encode_quantized_model(other, r.q->model, &bytes) == Status::invalid_argument);
}

TEST_CASE("quantized file: damage anywhere is refused, and the object keeps what it had") {
  Quantized r = residual();
  std::vector<unsigned char> good;
  REQUIRE(lsuv::encode_quantized_model(r.spec, r.q->model, &good) == Status::ok);
  lsuv::QuantizedModelFile file;
  REQUIRE(file.parse(good.data(), good.size(), 4) == Status::ok);
  const std::vector<std::int8_t> want = int8_output(file.model(), r.images.data());

  // Any flipped bit: refused (the CRC, or before it the magic or version).
  for (std::size_t at = 0; at < good.size(); at += at < 64 ? 1 : 13) {
    std::vector<unsigned char> bad = good;
    bad[at] ^= static_cast<unsigned char>(1u << (at % 8));
    CAPTURE(at);
    CHECK(file.parse(bad.data(), bad.size(), 4) != Status::ok);
  }
  // Any truncation.
  for (std::size_t n = 0; n < good.size(); n += n < 64 ? 1 : 29) {
    CAPTURE(n);
    const Status status = file.parse(good.data(), n, 4);
    CHECK((status == Status::truncated || status == Status::bad_format));
  }
  CHECK(int8_output(file.model(), r.images.data()) == want);

  lsuv::FileError error;
  std::vector<unsigned char> bad = good;
  bad[0] = 'X';
  CHECK(parse(bad, &error) == Status::bad_format);
  CHECK(std::string(error.message).find("magic") != std::string::npos);
  bad = good;
  bad[8] = 2;  // version 2
  reseal(bad);
  CHECK(parse(bad, &error) == Status::unsupported);
  bad = good;
  bad[good.size() / 2] ^= 0x10;
  CHECK(parse(bad, &error) == Status::bad_format);
  CHECK(std::string(error.message).find("CRC") != std::string::npos);
  // Bytes after the trailer, resealed.
  bad = good;
  bad.insert(bad.end() - 4, {0, 0, 0, 0});
  reseal(bad);
  CHECK(parse(bad, &error) == Status::bad_format);

  // Consistent CRC, inconsistent content.
  const std::size_t spec_at = 28;
  const std::string text(reinterpret_cast<const char*>(good.data() + spec_at),
                         good[12] | good[13] << 8);
  const std::size_t stem = text.find("Conv2d(3, 8");
  REQUIRE(stem != std::string::npos);
  bad = good;
  bad[spec_at + stem + 10] = '9';  // Conv2d(3, 9, ...): the arrays no longer fit the spec
  reseal(bad);
  CHECK(parse(bad, &error) == Status::bad_format);
  bad = good;
  bad[spec_at] = '@';  // a spec that does not parse
  reseal(bad);
  CHECK(parse(bad, &error) == Status::bad_format);
  CHECK(std::string(error.message).find("spec") != std::string::npos);
  // The stem's first multiplier (its arrays start right after the op records) set to 5.
  const std::size_t arrays = spec_at + text.size() + 60 * r.spec.layers.size();
  const std::size_t weights = r.q->model.layer(0).weight_count;
  const std::size_t channels = static_cast<std::size_t>(r.q->model.layer(0).channels);
  const std::size_t multiplier = arrays + 8 + weights + 8 * channels;
  bad = good;
  bad[multiplier] = 5;
  bad[multiplier + 1] = bad[multiplier + 2] = bad[multiplier + 3] = 0;
  reseal(bad);
  CHECK(parse(bad, &error) == Status::bad_format);
  CHECK(std::string(error.message).find("contract") != std::string::npos);
  // An op count that disagrees with the spec.
  bad = good;
  bad[16] ^= 1;
  reseal(bad);
  CHECK(parse(bad, &error) == Status::bad_format);

  CHECK(file.parse(nullptr, 4, 4) == Status::invalid_argument);
  CHECK(file.parse(good.data(), good.size(), 0) == Status::invalid_argument);
  CHECK(int8_output(file.model(), r.images.data()) == want);
}

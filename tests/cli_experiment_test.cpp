// `lsuv experiment` as a user runs it, on the tiny model and synthetic data of the train tests:
// the results directory holds the tables and plots, the numbers parse and agree with each other
// and with `lsuv train` of the same init and seed, runs repeat exactly, the SVG is well formed,
// and options that cannot work are refused with nothing written.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "cli_run.hpp"

namespace {

using namespace cli_run;

// `lsuv experiment` of the tiny model on 256 training and 64 held-out images, batches of 16.
std::vector<std::string> experiment_args(const std::string& out,
                                         const std::vector<std::string>& extra) {
  return tiny_run_args("experiment", out, extra);
}

std::vector<std::string> split(const std::string& text, char separator) {
  std::vector<std::string> parts;
  std::string part;
  std::istringstream stream(text);
  while (std::getline(stream, part, separator)) parts.push_back(part);
  return parts;
}

// A number that is the whole of `text` (surrounding spaces allowed).
double parsed(const std::string& text) {
  INFO("field: '" << text << "'");
  const char* start = text.c_str();
  char* end = nullptr;
  const double value = std::strtod(start, &end);
  REQUIRE(end != start);
  while (*end == ' ') ++end;
  CHECK(*end == '\0');
  CHECK(std::isfinite(value));
  return value;
}

// A CSV file as rows of fields; the header must be `header`.
std::vector<std::vector<std::string>> csv_rows(const std::string& path, const std::string& header) {
  const std::vector<std::string> lines = split(slurp(path), '\n');
  REQUIRE(!lines.empty());
  CHECK(lines[0] == header);
  std::vector<std::vector<std::string>> rows;
  for (std::size_t i = 1; i < lines.size(); ++i) rows.push_back(split(lines[i], ','));
  return rows;
}

std::string results(const std::string& out, const std::string& name) {
  return scratch_dir() + "/" + out + "/" + name;
}

// Checks that `svg` is one <svg> element of properly nested, quoted tags (the structure a
// browser needs) and returns the text of its <text> elements.
std::vector<std::string> svg_texts(const std::string& svg) {
  REQUIRE(svg.rfind("<?xml version=\"1.0\"", 0) == 0);
  std::vector<std::string> open, texts;
  std::size_t at = svg.find("?>");
  REQUIRE(at != std::string::npos);
  bool root_seen = false;
  for (at = svg.find('<', at); at != std::string::npos; at = svg.find('<', at)) {
    const std::size_t end = svg.find('>', at);
    REQUIRE(end != std::string::npos);
    const std::string tag = svg.substr(at + 1, end - at - 1);
    CHECK(tag.find('<') == std::string::npos);
    std::size_t quotes = 0;
    for (char c : tag) quotes += c == '"' ? 1 : 0;
    CHECK(quotes % 2 == 0);
    if (tag[0] == '/') {
      REQUIRE(!open.empty());
      CHECK(tag.substr(1) == open.back());
      open.pop_back();
    } else if (tag.back() != '/') {
      const std::string name = tag.substr(0, tag.find(' '));
      if (open.empty()) {
        CHECK_FALSE(root_seen);
        CHECK(name == "svg");
        root_seen = true;
      }
      open.push_back(name);
      if (name == "text") texts.push_back(svg.substr(end + 1, svg.find('<', end) - end - 1));
    }
    at = end;
  }
  CHECK(root_seen);
  CHECK(open.empty());
  return texts;
}

bool contains(const std::vector<std::string>& texts, const std::string& text) {
  for (const std::string& t : texts)
    if (t.find(text) != std::string::npos) return true;
  return false;
}

const char* const kResultsHeader =
    "init,runs,epoch,test_accuracy_percent_mean,test_accuracy_percent_std,test_loss_mean,"
    "test_loss_std,seconds_mean,seconds_std";
const char* const kRunsHeader = "init,seed,epoch,test_accuracy_percent,test_loss,seconds";

}  // namespace

TEST_CASE("cli experiment: tables of every init's runs, and each run is lsuv train's") {
  const Run run = lsuv(
      experiment_args("two", {"--inits", "he_normal,lsuv-seed", "--seeds", "2", "--epochs", "2"}));
  INFO("stdout: " << run.out << "\nstderr: " << run.err);
  REQUIRE(run.exit_code == 0);

  const auto runs = csv_rows(results("two", "runs.csv"), kRunsHeader);
  REQUIRE(runs.size() == 2 * 2 * 2);                    // seeds x inits x epochs
  std::map<std::string, std::vector<double>> accuracy;  // "init epoch" -> over the seeds
  for (const auto& row : runs) {
    REQUIRE(row.size() == 6);
    CHECK((row[0] == "he_normal" || row[0] == "lsuv-seed"));
    CHECK((row[1] == "0" || row[1] == "1"));
    const double percent = parsed(row[3]);
    CHECK(percent >= 0.0);
    CHECK(percent <= 100.0);
    CHECK(parsed(row[4]) > 0.0);
    CHECK(parsed(row[5]) > 0.0);
    accuracy[row[0] + " " + row[2]].push_back(percent);
  }
  const auto table = csv_rows(results("two", "results.csv"), kResultsHeader);
  REQUIRE(table.size() == 2 * 2);  // inits x epochs
  for (const auto& row : table) {
    REQUIRE(row.size() == 9);
    CHECK(row[1] == "2");
    const std::vector<double>& values = accuracy.at(row[0] + " " + row[2]);
    REQUIRE(values.size() == 2);
    const double mean = (values[0] + values[1]) / 2;
    CHECK(parsed(row[3]) == doctest::Approx(mean).epsilon(1e-4));
    CHECK(parsed(row[4]) ==
          doctest::Approx(std::fabs(values[0] - values[1]) / std::sqrt(2.0)).epsilon(1e-3));
    for (std::size_t i = 5; i < row.size(); ++i) CHECK(parsed(row[i]) >= 0.0);
  }
  // Learned: the four quadrant classes are well above chance (25%) after two epochs.
  CHECK(accuracy.at("he_normal 2")[0] > 50.0);

  // The Markdown table: a header, a rule, a row per init whose cells are "mean ± std".
  std::vector<std::string> rows;
  for (const std::string& line : split(slurp(results("two", "results.md")), '\n'))
    if (line.rfind("|", 0) == 0) rows.push_back(line);
  REQUIRE(rows.size() == 4);
  CHECK(rows[0] ==
        "| init | epoch 1 test accuracy (%) | epoch 2 test accuracy (%) | time per run (s) |");
  CHECK(rows[2].rfind("| he_normal | ", 0) == 0);
  CHECK(rows[3].rfind("| lsuv-seed | ", 0) == 0);
  for (std::size_t r = 2; r < rows.size(); ++r) {
    const std::vector<std::string> cells = split(rows[r], '|');
    REQUIRE(cells.size() == 5);  // "", init, epoch 1, epoch 2, time
    for (std::size_t c = 2; c < cells.size(); ++c) {
      const std::size_t pm = cells[c].find("±");
      REQUIRE(pm != std::string::npos);
      CHECK(parsed(cells[c].substr(0, pm)) >= 0.0);
      CHECK(parsed(cells[c].substr(pm + std::string("±").size())) >= 0.0);
    }
  }

  // Seed 1's lsuv-seed run is `lsuv train --init lsuv-seed --seed 1`: the same init, data order
  // and steps, so the same held-out accuracy after each epoch.
  std::vector<std::string> train =
      experiment_args("trained", {"--init", "lsuv-seed", "--seed", "1", "--epochs", "2"});
  train[0] = "train";
  const Run trained = lsuv(train);
  REQUIRE(trained.exit_code == 0);
  for (const auto& row : runs) {
    if (row[0] != "lsuv-seed" || row[1] != "1") continue;
    char expected[64];
    std::snprintf(expected, sizeof expected, "| test loss %.4f, accuracy %.2f%%", parsed(row[4]),
                  parsed(row[3]));
    CHECK(trained.out.find("epoch " + row[2] + ": ") != std::string::npos);
    CHECK(trained.out.find(expected) != std::string::npos);
  }
}

TEST_CASE("cli experiment: the same seeds give the same results, other seeds others") {
  const std::vector<std::string> options = {"--inits", "pytorch_default,lsuv-paper", "--seeds",
                                            "3,5"};
  REQUIRE(lsuv(experiment_args("first", options)).exit_code == 0);
  REQUIRE(lsuv(experiment_args("again", options)).exit_code == 0);
  const auto first = csv_rows(results("first", "runs.csv"), kRunsHeader);
  const auto again = csv_rows(results("again", "runs.csv"), kRunsHeader);
  REQUIRE(first.size() == 2 * 2);
  REQUIRE(again.size() == first.size());
  for (std::size_t i = 0; i < first.size(); ++i) {
    REQUIRE(first[i].size() == 6);
    REQUIRE(again[i].size() == 6);
    CHECK(std::vector<std::string>(first[i].begin(), first[i].begin() + 5) ==
          std::vector<std::string>(again[i].begin(), again[i].begin() + 5));  // all but time
  }
  CHECK(slurp(results("first", "loss.svg")) == slurp(results("again", "loss.svg")));
  CHECK(slurp(results("first", "lsuv_std.svg")) == slurp(results("again", "lsuv_std.svg")));
  // Rows: seed 3's inits, then seed 5's; the held-out loss tells the seeds apart.
  CHECK(first[0][1] == "3");
  CHECK(first[2][1] == "5");
  CHECK(first[0][4] != first[2][4]);
  CHECK(first[1][4] != first[3][4]);
}

TEST_CASE("cli experiment: the plots are well-formed SVG with axes, labels and a legend") {
  const Run run = lsuv(
      experiment_args("plots", {"--inits", "orthonormal,lsuv-seed,lsuv-paper", "--seeds", "1"}));
  INFO("stderr: " << run.err);
  REQUIRE(run.exit_code == 0);
  const std::string loss = slurp(results("plots", "loss.svg"));
  const std::vector<std::string> loss_texts = svg_texts(loss);
  CHECK(contains(loss_texts, "Training loss"));
  CHECK(contains(loss_texts, "step (batch of 16)"));
  CHECK(contains(loss_texts, "training loss (softmax cross-entropy)"));
  for (const char* init : {"orthonormal", "lsuv-seed", "lsuv-paper"})
    CHECK(contains(loss_texts, init));  // the legend
  std::size_t lines = 0;
  for (std::size_t at = loss.find("<polyline"); at != std::string::npos;
       at = loss.find("<polyline", at + 1))
    ++lines;
  CHECK(lines == 3);
  CHECK(loss.find("nan") == std::string::npos);
  CHECK(loss.find("inf") == std::string::npos);
  CHECK(contains(loss_texts, "0.5"));  // a y tick (the loss starts near ln 4 = 1.39)
  CHECK(contains(loss_texts, "10"));   // an x tick (16 steps)

  const std::vector<std::string> std_texts = svg_texts(slurp(results("plots", "lsuv_std.svg")));
  CHECK(contains(std_texts, "before and after LSUV"));
  for (const char* label : {"c1", "l1", "lsuv-seed: before", "lsuv-seed: after",
                            "lsuv-paper: before", "lsuv-paper: after", "output std"})
    CHECK(contains(std_texts, label));
  CHECK_FALSE(contains(std_texts, "orthonormal: "));  // no LSUV, no series

  // Without an LSUV init there is nothing to show before and after it.
  REQUIRE(lsuv(experiment_args("no_lsuv", {"--inits", "he_normal", "--seeds", "1"})).exit_code ==
          0);
  CHECK(std::filesystem::exists(results("no_lsuv", "loss.svg")));
  CHECK_FALSE(std::filesystem::exists(results("no_lsuv", "lsuv_std.svg")));
}

TEST_CASE("cli experiment: options that cannot work are refused and nothing is written") {
  const std::vector<std::string> quick = {"--seeds", "1", "--inits", "he_normal"};
  // Each with one seed and one init unless it says otherwise.
  const auto refused = [&](std::vector<std::string> extra, const std::string& prefix) {
    for (std::size_t i = 0; i < quick.size(); i += 2)
      if (std::find(extra.begin(), extra.end(), quick[i]) == extra.end())
        extra.insert(extra.end(), {quick[i], quick[i + 1]});
    check_failure(lsuv(experiment_args("refused", extra)), prefix);
    CHECK_FALSE(std::filesystem::exists(scratch_dir() + "/refused"));
  };
  refused({"--inits", "kaiming"}, "lsuv: --inits: kaiming not in {");
  refused({"--inits", "he_normal,he_normal"}, "lsuv: --inits names he_normal twice");
  refused({"--seeds", "0"}, "lsuv: --seeds must be a count 1..1000 or a list (got 0)");
  refused({"--seeds", "1,x"}, "lsuv: --seeds");
  refused({"--seeds", "4,4"}, "lsuv: --seeds lists seed 4 twice");
  refused({"--epochs", "0"}, "lsuv: --epochs must be 1..");
  refused({"--lr", "nan"}, "lsuv: --lr must be ");
  refused({"--momentum", "1"}, "lsuv: --momentum must be ");
  refused({"--train-count", "100000"}, "lsuv: ");
  refused({"--model", "resnet8"}, "lsuv: --model excludes --spec");
  std::vector<std::string> resnet = experiment_args("refused", quick);
  resnet.erase(resnet.begin() + 1, resnet.begin() + 3);  // --spec tiny.spec
  resnet.insert(resnet.end(), {"--model", "resnet8"});
  check_failure(lsuv(resnet), "lsuv: " + scratch_dir() +
                                  "/train-images.idx holds 1x8x8 images but the spec's input is "
                                  "1x28x28");
  CHECK_FALSE(std::filesystem::exists(scratch_dir() + "/refused"));
  // A directory holding anything but results is not replaced; what it holds stays.
  const std::string kept = scratch_dir() + "/kept";
  std::filesystem::create_directories(kept);
  std::ofstream(kept + "/notes.txt") << "mine";
  check_failure(lsuv(experiment_args("kept", quick)),
                "lsuv: writing " + kept + ": holds notes.txt, which is not a results file");
  CHECK(slurp(kept + "/notes.txt") == "mine");
  CHECK_FALSE(std::filesystem::exists(kept + "/results.md"));
}

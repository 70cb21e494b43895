#include "io/model_spec_parser.hpp"

#include <cfloat>
#include <climits>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <unordered_map>

namespace lsuv::detail {
namespace {

constexpr int kMaxArguments = 12;
constexpr int kMaxParameters = 9;
// Sequential blocks inside Sequential blocks; a repr rarely goes past two.
constexpr int kMaxNesting = 8;
// Longest piece of the input quoted in an error message.
constexpr std::size_t kMaxQuote = 24;
// Longest decimal number read ("1e-05", "-0.0001"); beyond it a number is refused.
constexpr std::size_t kMaxNumberLength = 64;
// What PyTorch calls the network's input when a layer names its inputs.
constexpr const char* kNetworkInput = "input";

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}
bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
bool is_letter(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool is_word_char(char c) {
  return is_letter(c) || is_digit(c) || c == '_';
}
bool is_name_char(char c) {
  return is_word_char(c) || c == '.';
}

int clamp_to_int(std::size_t value) {
  return value > static_cast<std::size_t>(INT_MAX) ? INT_MAX : static_cast<int>(value);
}

// A piece of the caller's text.
struct Token {
  const char* begin = nullptr;
  std::size_t length = 0;

  bool is(const char* word) const {
    const std::size_t n = std::strlen(word);
    return length == n && std::memcmp(begin, word, n) == 0;
  }
};

// real: a number written with a decimal point or an exponent ("0.1", "1e-05").
enum class ValueKind : std::uint8_t { integer, real, pair, boolean, none, string };

struct Value {
  ValueKind kind = ValueKind::none;
  std::int32_t first = 0;   // integer, boolean (0 or 1), pair (height)
  std::int32_t second = 0;  // pair (width)
  double number = 0.0;      // real, and integer too
  Token text;               // string, without quotes; a bare word (same, valid)
  std::size_t position = 0;
};

struct Argument {
  Token keyword;  // empty for a positional argument
  Value value;
};

struct LayerType {
  const char* name;
  LayerKind kind;
  const char* parameters[kMaxParameters];  // PyTorch's names, in positional order
  int parameter_count;
  int required;
};

constexpr LayerType kLayerTypes[] = {
    {"Conv2d",
     LayerKind::conv2d,
     {"in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation", "groups",
      "bias", "padding_mode"},
     9,
     3},
    {"Linear", LayerKind::linear, {"in_features", "out_features", "bias"}, 3, 2},
    {"ReLU", LayerKind::relu, {"inplace"}, 1, 0},
    {"MaxPool2d",
     LayerKind::max_pool2d,
     {"kernel_size", "stride", "padding", "dilation", "return_indices", "ceil_mode"},
     6,
     1},
    {"AvgPool2d",
     LayerKind::avg_pool2d,
     {"kernel_size", "stride", "padding", "ceil_mode", "count_include_pad", "divisor_override"},
     6,
     1},
    {"AdaptiveAvgPool2d", LayerKind::adaptive_avg_pool2d, {"output_size"}, 1, 1},
    {"Flatten", LayerKind::flatten, {"start_dim", "end_dim"}, 2, 0},
    {"Add", LayerKind::add, {"relu"}, 1, 0},
    {"BatchNorm2d",
     LayerKind::batch_norm2d,
     {"num_features", "eps", "momentum", "affine", "track_running_stats"},
     5,
     1},
    {"ReLU6", LayerKind::relu6, {"inplace"}, 1, 0},
    {"Hardtanh", LayerKind::hardtanh, {"min_val", "max_val", "inplace"}, 3, 0},
};

class Parser {
 public:
  Parser(const char* text, std::size_t length, SpecError* error)
      : text_(text), length_(text == nullptr ? 0 : length), error_(error) {}

  Status parse(ModelSpec* spec) {
    std::size_t start = 0;
    // A UTF-8 byte order mark, as some editors write: not part of the first line.
    if (length_ >= 3 && std::memcmp(text_, "\xEF\xBB\xBF", 3) == 0) start = 3;
    while (start < length_) {
      std::size_t newline = start;
      while (newline < length_ && text_[newline] != '\n') ++newline;
      std::size_t content_end = start;
      while (content_end < newline && text_[content_end] != '#') ++content_end;
      line_start_ = start;
      pos_ = start;
      line_end_ = content_end;
      LSUV_TRY(parse_line(spec));
      start = newline + 1;
      if (line_ < INT_MAX) ++line_;
    }
    if (depth_ > 0) {
      const Container& open = containers_[depth_ - 1];
      return fail_at(Status::bad_format, open.line, open.column, "'%s(' is never closed",
                     open.type);
    }
    if (spec->layers.empty()) return fail_at(Status::bad_format, 0, 0, "the spec has no layers");
    return Status::ok;
  }

 private:
  struct Container {
    int line;
    int column;
    std::size_t prefix_length;  // of the prefix before this block's names were added
    char type[kMaxQuote + 1];
  };

  // --- errors ---

  __attribute__((format(printf, 4, 5))) Status fail(Status status, std::size_t position,
                                                    const char* format, ...) {
    va_list args;
    va_start(args, format);
    report(line_, column_of(position), format, args);
    va_end(args);
    return status;
  }
  __attribute__((format(printf, 5, 6))) Status fail_at(Status status, int line, int column,
                                                       const char* format, ...) {
    va_list args;
    va_start(args, format);
    report(line, column, format, args);
    va_end(args);
    return status;
  }
  void report(int line, int column, const char* format, va_list args) {
    if (error_ == nullptr) return;
    error_->line = line;
    error_->column = column;
    int used = 0;
    if (line > 0) {
      used = std::snprintf(error_->message, sizeof error_->message, "line %d, column %d: ", line,
                           column);
      if (used < 0 || static_cast<std::size_t>(used) >= sizeof error_->message) return;
    }
    std::vsnprintf(error_->message + used, sizeof error_->message - static_cast<std::size_t>(used),
                   format, args);
  }

  int column_of(std::size_t position) const { return clamp_to_int(position - line_start_ + 1); }

  // A printable copy of a token for messages.
  const char* quote(Token token) {
    std::size_t n = token.length < kMaxQuote ? token.length : kMaxQuote;
    for (std::size_t i = 0; i < n; ++i) {
      const char c = token.begin[i];
      quote_[i] = c >= ' ' && c <= '~' ? c : '?';
    }
    quote_[n] = '\0';
    return quote_;
  }

  // --- scanning within the current line ---

  bool at_end() const { return pos_ >= line_end_; }
  bool peek_is(char c) const { return !at_end() && text_[pos_] == c; }
  void skip_space() {
    while (!at_end() && is_space(text_[pos_])) ++pos_;
  }
  Token scan_while(bool (*accept)(char)) {
    Token token{text_ + pos_, 0};
    while (!at_end() && accept(text_[pos_])) ++pos_;
    token.length = static_cast<std::size_t>(text_ + pos_ - token.begin);
    return token;
  }
  Status expect_line_end(const char* after) {
    skip_space();
    if (!at_end()) return fail(Status::bad_format, pos_, "expected end of line after %s", after);
    return Status::ok;
  }

  // --- lines ---

  Status parse_line(ModelSpec* spec) {
    skip_space();
    if (at_end()) return Status::ok;
    if (peek_is(')')) return close_container();

    const bool parenthesised = peek_is('(');
    if (parenthesised) {
      ++pos_;
      skip_space();
    }
    const std::size_t name_position = pos_;
    const Token name = scan_while([](char c) {
      return !is_space(c) && c != ':' && c != '(' && c != ')' && c != ',' && c != '=';
    });
    if (name.length == 0) return fail(Status::bad_format, pos_, "expected a layer name");
    if (parenthesised) {
      skip_space();
      if (!peek_is(')')) return fail(Status::bad_format, pos_, "expected ')' after the layer name");
      ++pos_;
    }
    skip_space();
    if (!parenthesised && peek_is('(')) return open_model(name, name_position);
    if (!peek_is(':')) return fail(Status::bad_format, pos_, "expected ':' after the layer name");
    ++pos_;
    skip_space();
    if (!parenthesised && name.is("input")) return parse_input(spec, name_position);
    return parse_layer(spec, name, name_position);
  }

  // `Net(`: the first line of a repr. Only its layers matter.
  Status open_model(Token type, std::size_t type_position) {
    for (std::size_t i = 0; i < type.length; ++i)
      if (!is_word_char(type.begin[i]))
        return fail(Status::bad_format, type_position + i, "expected ':' after the layer name");
    ++pos_;
    skip_space();
    if (!at_end())
      return fail(Status::bad_format, type_position + type.length,
                  "expected ':' after the layer name");
    if (depth_ > 0)
      return fail(Status::bad_format, type_position,
                  "a model line '%s(' inside a block needs a '(name):'", quote(type));
    return push_container(type, type_position, Token{});
  }

  Status push_container(Token type, std::size_t type_position, Token name) {
    if (depth_ == kMaxNesting)
      return fail(Status::unsupported, type_position, "blocks nested more than %d deep",
                  kMaxNesting);
    Container& block = containers_[depth_];
    block.line = line_;
    block.column = column_of(type_position);
    block.prefix_length = prefix_length_;
    std::snprintf(block.type, sizeof block.type, "%s", quote(type));
    if (name.length > 0) {
      // Layers inside are named "<name>.<child>", as in PyTorch's state_dict.
      if (prefix_length_ + name.length + 1 > static_cast<std::size_t>(LayerSpec::kMaxNameLength))
        return fail(Status::invalid_argument, type_position,
                    "block name makes layer names longer than %d characters",
                    LayerSpec::kMaxNameLength);
      std::memcpy(prefix_ + prefix_length_, name.begin, name.length);
      prefix_length_ += name.length;
      prefix_[prefix_length_++] = '.';
    }
    ++depth_;
    return Status::ok;
  }

  Status close_container() {
    const std::size_t position = pos_;
    ++pos_;
    LSUV_TRY(expect_line_end("')'"));
    if (depth_ == 0) return fail(Status::bad_format, position, "')' closes nothing");
    --depth_;
    prefix_length_ = containers_[depth_].prefix_length;
    return Status::ok;
  }

  Status parse_input(ModelSpec* spec, std::size_t position) {
    if (has_input_) return fail(Status::bad_format, position, "a second 'input:' line");
    std::int32_t dims[3] = {};
    for (int i = 0; i < 3; ++i) {
      skip_space();
      if (i > 0) {
        if (!peek_is('x'))
          return fail(Status::bad_format, pos_, "expected 'x' between the input's C x H x W");
        ++pos_;
        skip_space();
      }
      if (at_end() || !is_digit(text_[pos_]))
        return fail(Status::bad_format, pos_, "expected the input's C x H x W");
      const std::size_t number_position = pos_;
      Value value;
      LSUV_TRY(parse_integer(&value));
      if (value.first < 1)
        return fail(Status::invalid_argument, number_position, "input sizes must be positive");
      dims[i] = value.first;
    }
    LSUV_TRY(expect_line_end("the input's C x H x W"));
    spec->input = {dims[1], dims[2], dims[0]};
    has_input_ = true;
    return Status::ok;
  }

  Status parse_layer(ModelSpec* spec, Token name, std::size_t name_position) {
    const std::size_t type_position = pos_;
    const Token type = scan_while(is_word_char);
    if (type.length == 0) return fail(Status::bad_format, pos_, "expected a layer type");
    skip_space();
    if (!peek_is('(')) return fail(Status::bad_format, pos_, "expected '(' after the layer type");
    ++pos_;
    skip_space();
    LSUV_TRY(check_name(name, name_position));

    const LayerType* layer_type = nullptr;
    for (const LayerType& candidate : kLayerTypes)
      if (type.is(candidate.name)) layer_type = &candidate;
    // `(layer1): Sequential(` or `(0): BasicBlock(`: a block whose name prefixes its layers'.
    if (at_end() && layer_type == nullptr) return push_container(type, type_position, name);
    if (layer_type == nullptr)
      return fail(Status::unsupported, type_position, "unknown layer type '%s'", quote(type));
    if (spec->layers.size() >= static_cast<std::size_t>(INT32_MAX))
      return fail(Status::size_overflow, name_position, "more than %d layers", INT32_MAX);

    Argument arguments[kMaxArguments];
    int argument_count = 0;
    LSUV_TRY(parse_arguments(arguments, &argument_count));

    LayerSpec layer;
    layer.kind = layer_type->kind;
    std::memcpy(layer.name, prefix_, prefix_length_);
    std::memcpy(layer.name + prefix_length_, name.begin, name.length);
    if (names_.count(layer.name) != 0)
      return fail(Status::invalid_argument, name_position, "a second layer named '%s'", layer.name);
    LSUV_TRY(build_layer(*layer_type, type_position, arguments, argument_count, &layer));
    skip_space();
    if (peek_is('(')) LSUV_TRY(parse_inputs(&layer));
    LSUV_TRY(expect_line_end("')'"));
    LSUV_TRY(check_input_count(*layer_type, type_position, layer));
    names_.emplace(layer.name, static_cast<std::int32_t>(spec->layers.size()));
    spec->layers.push_back(layer);
    return Status::ok;
  }

  // `(a, b)` after the module, as in PyTorch's forward: the ops whose outputs this op reads.
  Status parse_inputs(LayerSpec* layer) {
    ++pos_;
    for (;;) {
      skip_space();
      const std::size_t position = pos_;
      const Token name = scan_while(is_name_char);
      if (name.length == 0)
        return fail(Status::bad_format, pos_, "expected the name of an earlier op");
      if (layer->input_count == LayerSpec::kMaxInputs)
        return fail(Status::invalid_argument, position, "an op reads at most %d inputs",
                    LayerSpec::kMaxInputs);
      LSUV_TRY(resolve_input(name, position, layer->inputs[layer->input_count]));
      ++layer->input_count;
      skip_space();
      if (peek_is(')')) {
        ++pos_;
        return Status::ok;
      }
      if (!peek_is(','))
        return fail(Status::bad_format, pos_, "expected ',' or ')' after an input name");
      ++pos_;
    }
  }

  // An input name is looked up as written inside the current block first, then in each
  // enclosing block, then as a whole name: in `(0): BasicBlock(`, `(relu1)` finds
  // `layer1.0.relu1`. `input` is the network's input.
  Status resolve_input(Token name, std::size_t position, char* out) {
    if (name.is(kNetworkInput)) {
      std::memcpy(out, kNetworkInput, std::strlen(kNetworkInput));
      return Status::ok;
    }
    std::size_t scope = prefix_length_;
    for (int level = depth_;; --level) {
      if (scope + name.length <= static_cast<std::size_t>(LayerSpec::kMaxNameLength)) {
        std::string candidate(prefix_, scope);
        candidate.append(name.begin, name.length);
        if (names_.count(candidate) != 0) {
          std::memcpy(out, candidate.data(), candidate.size());
          return Status::ok;
        }
      }
      if (level == 0 || scope == 0) break;
      scope = containers_[level - 1].prefix_length;
    }
    return fail(Status::invalid_argument, position, "'%s' is not an earlier op", quote(name));
  }

  Status check_input_count(const LayerType& type, std::size_t position, const LayerSpec& layer) {
    if (type.kind == LayerKind::add && layer.input_count < 2)
      return fail(Status::invalid_argument, position, "Add needs two or more inputs: Add()(a, b)");
    if (type.kind != LayerKind::add && layer.input_count > 1)
      return fail(Status::invalid_argument, position, "%s reads one input", type.name);
    return Status::ok;
  }

  Status check_name(Token name, std::size_t position) {
    for (std::size_t i = 0; i < name.length; ++i)
      if (!is_name_char(name.begin[i]))
        return fail(Status::invalid_argument, position + i,
                    "layer names may hold letters, digits, '_' and '.' only");
    if (prefix_length_ + name.length > static_cast<std::size_t>(LayerSpec::kMaxNameLength))
      return fail(Status::invalid_argument, position, "layer name longer than %d characters",
                  LayerSpec::kMaxNameLength);
    if (prefix_length_ == 0 && name.is("input"))
      return fail(Status::invalid_argument, position, "'input' names the input line, not a layer");
    return Status::ok;
  }

  // --- arguments ---

  // From just after '(' to just after the closing ')'.
  Status parse_arguments(Argument* arguments, int* count) {
    bool keywords_started = false;
    for (;;) {
      skip_space();
      if (peek_is(')')) {
        ++pos_;
        return Status::ok;
      }
      if (at_end()) return fail(Status::bad_format, pos_, "expected ')' after the arguments");
      if (*count == kMaxArguments)
        return fail(Status::bad_format, pos_, "more than %d arguments", kMaxArguments);
      Argument& argument = arguments[*count];
      argument = Argument{};
      const std::size_t start = pos_;
      if (is_letter(text_[pos_]) || text_[pos_] == '_') {
        const Token word = scan_while(is_word_char);
        skip_space();
        if (peek_is('=')) {
          argument.keyword = word;
          ++pos_;
          skip_space();
        } else {
          pos_ = start;  // a value such as True
        }
      }
      if (argument.keyword.length > 0) {
        keywords_started = true;
      } else if (keywords_started) {
        return fail(Status::bad_format, start, "positional argument after a keyword argument");
      }
      LSUV_TRY(parse_value(&argument.value));
      ++*count;
      skip_space();
      if (peek_is(',')) {
        ++pos_;
      } else if (at_end()) {
        return fail(Status::bad_format, pos_, "expected ')' after the arguments");
      } else if (!peek_is(')')) {
        return fail(Status::bad_format, pos_, "expected ',' or ')' after an argument");
      }
    }
  }

  Status parse_value(Value* value) {
    const std::size_t start = pos_;
    value->position = start;
    if (at_end()) return fail(Status::bad_format, pos_, "expected a value");
    const char c = text_[pos_];
    if (c == '-' || is_digit(c)) return parse_number(value);
    if (c == '(') {
      ++pos_;
      skip_space();
      LSUV_TRY(parse_integer(value));
      skip_space();
      if (peek_is(')')) {  // (5) is just 5
        ++pos_;
        return Status::ok;
      }
      if (!peek_is(',')) return fail(Status::bad_format, pos_, "expected ',' in a pair (h, w)");
      ++pos_;
      skip_space();
      Value second;
      LSUV_TRY(parse_integer(&second));
      skip_space();
      if (!peek_is(')')) return fail(Status::bad_format, pos_, "expected ')' after a pair (h, w)");
      ++pos_;
      value->kind = ValueKind::pair;
      value->second = second.first;
      value->position = start;
      return Status::ok;
    }
    if (c == '\'' || c == '"') {
      const std::size_t contents = ++pos_;
      while (!at_end() && text_[pos_] != c) ++pos_;
      if (at_end()) return fail(Status::bad_format, value->position, "unterminated string");
      value->text = Token{text_ + contents, pos_ - contents};
      ++pos_;
      value->kind = ValueKind::string;
      return Status::ok;
    }
    if (is_letter(c)) {
      const Token word = scan_while(is_word_char);
      if (word.is("True") || word.is("False")) {
        value->kind = ValueKind::boolean;
        value->first = word.is("True") ? 1 : 0;
        return Status::ok;
      }
      if (word.is("None")) {
        value->kind = ValueKind::none;
        return Status::ok;
      }
      // PyTorch 1.13 prints Conv2d's padding='same' as `padding=same`.
      if (word.is("same") || word.is("valid")) {
        value->kind = ValueKind::string;
        value->text = word;
        return Status::ok;
      }
      return fail(Status::bad_format, value->position, "expected a value, found '%s'", quote(word));
    }
    return fail(Status::bad_format, pos_, "expected a value");
  }

  // An integer, or a real when a decimal point or an exponent follows the digits.
  Status parse_number(Value* value) {
    const std::size_t start = pos_;
    std::size_t end = pos_;
    if (end < line_end_ && text_[end] == '-') ++end;
    while (end < line_end_ && is_digit(text_[end])) ++end;
    bool real = false;
    if (end < line_end_ && text_[end] == '.') {
      real = true;
      ++end;
      while (end < line_end_ && is_digit(text_[end])) ++end;
    }
    if (end < line_end_ && (text_[end] == 'e' || text_[end] == 'E')) {
      real = true;
      ++end;
      if (end < line_end_ && (text_[end] == '+' || text_[end] == '-')) ++end;
      const std::size_t exponent = end;
      while (end < line_end_ && is_digit(text_[end])) ++end;
      if (end == exponent) return fail(Status::bad_format, end, "expected the exponent's digits");
    }
    if (!real) return parse_integer(value);
    const std::size_t digits = start + (text_[start] == '-' ? 1 : 0);
    if (digits == end || !is_digit(text_[digits]))
      return fail(Status::bad_format, digits, "expected a digit");
    if (end - start >= kMaxNumberLength)
      return fail(Status::invalid_argument, start, "number longer than %zu characters",
                  kMaxNumberLength - 1);
    char copy[kMaxNumberLength];
    std::memcpy(copy, text_ + start, end - start);
    copy[end - start] = '\0';
    const double number = std::strtod(copy, nullptr);
    if (!std::isfinite(number) || std::fabs(number) > FLT_MAX)
      return fail(Status::invalid_argument, start, "number does not fit in a float");
    value->kind = ValueKind::real;
    value->number = number;
    value->position = start;
    pos_ = end;
    return Status::ok;
  }

  Status parse_integer(Value* value) {
    const std::size_t start = pos_;
    const bool negative = peek_is('-');
    if (negative) ++pos_;
    if (at_end() || !is_digit(text_[pos_]))
      return fail(Status::bad_format, pos_, "expected an integer");
    std::int64_t magnitude = 0;
    while (!at_end() && is_digit(text_[pos_])) {
      magnitude = magnitude * 10 + (text_[pos_] - '0');
      if (magnitude > std::int64_t{INT32_MAX} + (negative ? 1 : 0))
        return fail(Status::invalid_argument, start, "number does not fit in 32 bits");
      ++pos_;
    }
    value->kind = ValueKind::integer;
    value->first = static_cast<std::int32_t>(negative ? -magnitude : magnitude);
    value->number = value->first;
    value->position = start;
    return Status::ok;
  }

  // --- turning arguments into a LayerSpec ---

  Status build_layer(const LayerType& type, std::size_t type_position, const Argument* arguments,
                     int count, LayerSpec* layer) {
    const Value* slots[kMaxParameters] = {};
    for (int i = 0; i < count; ++i) {
      const Argument& argument = arguments[i];
      int slot = i;
      if (argument.keyword.length > 0) {
        slot = -1;
        for (int p = 0; p < type.parameter_count; ++p)
          if (argument.keyword.is(type.parameters[p])) slot = p;
        if (slot < 0)
          return fail(Status::unsupported, static_cast<std::size_t>(argument.keyword.begin - text_),
                      "%s has no keyword '%s'", type.name, quote(argument.keyword));
      } else if (slot >= type.parameter_count) {
        return fail(Status::invalid_argument, argument.value.position,
                    "%s takes at most %d arguments", type.name, type.parameter_count);
      }
      if (slots[slot] != nullptr)
        return fail(Status::invalid_argument, argument.value.position, "'%s' given twice",
                    type.parameters[slot]);
      slots[slot] = &argument.value;
    }
    for (int p = 0; p < type.required; ++p)
      if (slots[p] == nullptr)
        return fail(Status::invalid_argument, type_position, "%s needs '%s'", type.name,
                    type.parameters[p]);
    parameter_names_ = type.parameters;

    switch (type.kind) {
      case LayerKind::conv2d:
        return build_conv2d(slots, layer);
      case LayerKind::linear:
        LSUV_TRY(read_count(slots, 0, 0, &layer->in_channels));
        LSUV_TRY(read_count(slots, 1, 1, &layer->out_channels));
        return read_bool(slots, 2, true, &layer->bias);
      case LayerKind::relu: {
        bool inplace = false;  // either way the same for lsuv
        return read_bool(slots, 0, false, &inplace);
      }
      case LayerKind::max_pool2d:
        LSUV_TRY(build_pool(slots, layer));
        LSUV_TRY(expect_integer(slots, 3, 1, true));
        LSUV_TRY(expect_bool(slots, 4, false));
        return expect_bool(slots, 5, false);
      case LayerKind::avg_pool2d:
        LSUV_TRY(build_pool(slots, layer));
        LSUV_TRY(expect_bool(slots, 3, false));
        LSUV_TRY(expect_bool(slots, 4, true));
        return expect_none(slots, 5);
      case LayerKind::adaptive_avg_pool2d: {
        const Value& size = *slots[0];
        if (size.kind != ValueKind::integer && size.kind != ValueKind::pair)
          return fail(Status::invalid_argument, size.position, "'output_size' must be a size");
        const std::int32_t width = size.kind == ValueKind::pair ? size.second : size.first;
        if (size.first != 1 || width != 1)
          return fail(Status::unsupported, size.position, "only output_size 1 is supported");
        return Status::ok;
      }
      case LayerKind::flatten:
        LSUV_TRY(expect_integer(slots, 0, 1, false));
        return expect_integer(slots, 1, -1, false);
      case LayerKind::add:
        return read_bool(slots, 0, false, &layer->relu);
      case LayerKind::batch_norm2d:
        LSUV_TRY(read_count(slots, 0, 1, &layer->in_channels));
        layer->out_channels = layer->in_channels;
        LSUV_TRY(read_float(slots, 1, &layer->eps));
        if (!(layer->eps > 0.0f))
          return fail(Status::invalid_argument, slots[1]->position, "'eps' must be positive");
        LSUV_TRY(read_float(slots, 2, &layer->momentum));
        // lsuv runs BatchNorm in eval mode from its running statistics and the affine pair.
        LSUV_TRY(expect_bool(slots, 3, true));
        return expect_bool(slots, 4, true);
      case LayerKind::relu6: {
        bool inplace = false;
        layer->clamp_min = 0.0f;
        layer->clamp_max = 6.0f;
        return read_bool(slots, 0, false, &inplace);
      }
      case LayerKind::hardtanh: {
        bool inplace = false;
        layer->clamp_min = -1.0f;
        layer->clamp_max = 1.0f;
        LSUV_TRY(read_float(slots, 0, &layer->clamp_min));
        LSUV_TRY(read_float(slots, 1, &layer->clamp_max));
        if (!(layer->clamp_max > layer->clamp_min))
          return fail(Status::invalid_argument, type_position,
                      "Hardtanh needs max_val greater than min_val");
        return read_bool(slots, 2, false, &inplace);
      }
    }
    return Status::unsupported;
  }

  Status build_conv2d(const Value* const* slots, LayerSpec* layer) {
    LSUV_TRY(read_count(slots, 0, 0, &layer->in_channels));
    LSUV_TRY(read_count(slots, 1, 1, &layer->out_channels));
    LSUV_TRY(read_size(slots, 2, 1, &layer->kernel_h, &layer->kernel_w));
    LSUV_TRY(read_size(slots, 3, 1, &layer->stride_h, &layer->stride_w));
    LSUV_TRY(read_size(slots, 5, 1, &layer->dilation_h, &layer->dilation_w));
    LSUV_TRY(read_count(slots, 6, 1, &layer->groups));
    LSUV_TRY(read_bool(slots, 7, true, &layer->bias));
    if (slots[8] != nullptr && (slots[8]->kind != ValueKind::string || !slots[8]->text.is("zeros")))
      return fail(Status::unsupported, slots[8]->position,
                  "only padding_mode='zeros' is supported");
    if (layer->out_channels % layer->groups != 0 ||
        (layer->in_channels != 0 && layer->in_channels % layer->groups != 0))
      return fail(Status::invalid_argument, slots[6]->position,
                  "groups must divide in_channels and out_channels");

    const Value* padding = slots[4];
    if (padding == nullptr || padding->kind != ValueKind::string)
      return read_size(slots, 4, 0, &layer->pad_h, &layer->pad_w);
    if (padding->text.is("valid")) {
      layer->pad_h = layer->pad_w = 0;
      return Status::ok;
    }
    if (!padding->text.is("same"))
      return fail(Status::invalid_argument, padding->position,
                  "padding must be a size, 'valid' or 'same'");
    if (layer->stride_h != 1 || layer->stride_w != 1)
      return fail(Status::invalid_argument, padding->position, "padding='same' needs stride 1");
    const std::int64_t span_h = std::int64_t{layer->dilation_h} * (layer->kernel_h - 1);
    const std::int64_t span_w = std::int64_t{layer->dilation_w} * (layer->kernel_w - 1);
    if (span_h % 2 != 0 || span_w % 2 != 0)
      return fail(Status::unsupported, padding->position,
                  "padding='same' with an even kernel pads one side more");
    if (span_h / 2 > INT32_MAX || span_w / 2 > INT32_MAX)
      return fail(Status::invalid_argument, padding->position, "padding does not fit in 32 bits");
    layer->pad_h = static_cast<std::int32_t>(span_h / 2);
    layer->pad_w = static_cast<std::int32_t>(span_w / 2);
    return Status::ok;
  }

  Status build_pool(const Value* const* slots, LayerSpec* layer) {
    LSUV_TRY(read_size(slots, 0, 1, &layer->kernel_h, &layer->kernel_w));
    if (slots[1] == nullptr || slots[1]->kind == ValueKind::none) {
      layer->stride_h = layer->kernel_h;
      layer->stride_w = layer->kernel_w;
    } else {
      LSUV_TRY(read_size(slots, 1, 1, &layer->stride_h, &layer->stride_w));
    }
    LSUV_TRY(read_size(slots, 2, 0, &layer->pad_h, &layer->pad_w));
    if (layer->pad_h > layer->kernel_h / 2 || layer->pad_w > layer->kernel_w / 2)
      return fail(Status::invalid_argument, slots[2]->position,
                  "padding must be at most half the kernel size");
    return Status::ok;
  }

  // An integer >= minimum; *out unchanged when absent.
  Status read_count(const Value* const* slots, int slot, std::int32_t minimum, std::int32_t* out) {
    const Value* value = slots[slot];
    if (value == nullptr) return Status::ok;
    if (value->kind != ValueKind::integer)
      return fail(Status::invalid_argument, value->position, "'%s' must be an integer",
                  parameter_names_[slot]);
    if (value->first < minimum)
      return fail(Status::invalid_argument, value->position, "'%s' must be at least %d",
                  parameter_names_[slot], minimum);
    *out = value->first;
    return Status::ok;
  }

  // An integer or a pair (h, w), each >= minimum; *h and *w unchanged when absent.
  Status read_size(const Value* const* slots, int slot, std::int32_t minimum, std::int32_t* h,
                   std::int32_t* w) {
    const Value* value = slots[slot];
    if (value == nullptr) return Status::ok;
    if (value->kind != ValueKind::integer && value->kind != ValueKind::pair)
      return fail(Status::invalid_argument, value->position,
                  "'%s' must be an integer or a pair (h, w)", parameter_names_[slot]);
    const std::int32_t width = value->kind == ValueKind::pair ? value->second : value->first;
    if (value->first < minimum || width < minimum)
      return fail(Status::invalid_argument, value->position, "'%s' must be at least %d",
                  parameter_names_[slot], minimum);
    *h = value->first;
    *w = width;
    return Status::ok;
  }

  // A number (integer or real) that fits in a float; *out unchanged when absent.
  Status read_float(const Value* const* slots, int slot, float* out) {
    const Value* value = slots[slot];
    if (value == nullptr) return Status::ok;
    if (value->kind != ValueKind::integer && value->kind != ValueKind::real)
      return fail(Status::invalid_argument, value->position, "'%s' must be a number",
                  parameter_names_[slot]);
    *out = static_cast<float>(value->number);
    return Status::ok;
  }

  Status read_bool(const Value* const* slots, int slot, bool fallback, bool* out) {
    const Value* value = slots[slot];
    *out = fallback;
    if (value == nullptr) return Status::ok;
    if (value->kind != ValueKind::boolean)
      return fail(Status::invalid_argument, value->position, "'%s' must be True or False",
                  parameter_names_[slot]);
    *out = value->first != 0;
    return Status::ok;
  }

  // Keywords lsuv does not model: fine at PyTorch's default, unsupported elsewhere.
  Status expect_bool(const Value* const* slots, int slot, bool expected) {
    bool actual = expected;
    LSUV_TRY(read_bool(slots, slot, expected, &actual));
    if (actual != expected)
      return fail(Status::unsupported, slots[slot]->position, "only %s=%s is supported",
                  parameter_names_[slot], expected ? "True" : "False");
    return Status::ok;
  }
  Status expect_integer(const Value* const* slots, int slot, std::int32_t expected,
                        bool pair_allowed) {
    const Value* value = slots[slot];
    if (value == nullptr) return Status::ok;
    const bool pair = pair_allowed && value->kind == ValueKind::pair;
    if (value->kind != ValueKind::integer && !pair)
      return fail(Status::invalid_argument, value->position, "'%s' must be an integer",
                  parameter_names_[slot]);
    if (value->first != expected || (pair && value->second != expected))
      return fail(Status::unsupported, value->position, "only %s=%d is supported",
                  parameter_names_[slot], expected);
    return Status::ok;
  }
  Status expect_none(const Value* const* slots, int slot) {
    const Value* value = slots[slot];
    if (value != nullptr && value->kind != ValueKind::none)
      return fail(Status::unsupported, value->position, "only %s=None is supported",
                  parameter_names_[slot]);
    return Status::ok;
  }

  const char* text_;
  std::size_t length_;
  SpecError* error_;
  std::size_t pos_ = 0;
  std::size_t line_start_ = 0;
  std::size_t line_end_ = 0;  // the comment, if any, is beyond it
  int line_ = 1;
  bool has_input_ = false;
  Container containers_[kMaxNesting] = {};
  int depth_ = 0;
  char prefix_[LayerSpec::kMaxNameLength + 1] = {};
  std::unordered_map<std::string, std::int32_t> names_;  // every layer so far, by full name
  std::size_t prefix_length_ = 0;
  const char* const* parameter_names_ = nullptr;
  char quote_[kMaxQuote + 1] = {};
};

}  // namespace

Status parse_spec_text(const char* text, std::size_t length, ModelSpec* spec, SpecError* error) {
  Parser parser(text, length, error);
  return parser.parse(spec);
}

}  // namespace lsuv::detail

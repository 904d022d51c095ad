#include "runtime/calculator.hpp"

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <stdexcept>
#include <string>

namespace cohort {
namespace {

constexpr size_t max_length = 1000;
constexpr int max_depth = 64;

// Recursive descent, one function a precedence level:
//   sum := product (('+' | '-') product)*
//   product := power (('*' | '/') power)*
//   power := unary ('^' power)?
//   unary := ('+' | '-') unary | atom
//   atom := number | '(' sum ')'
class parser {
 public:
  explicit parser(std::string_view text) : text_(text) {}

  double whole() {
    auto v = sum();
    skip_space();
    if (pos_ < text_.size()) fail("unexpected '" + std::string(1, text_[pos_]) + "'");
    return v;
  }

 private:
  double sum() {
    auto v = product();
    while (take('+') || take('-')) v = last_ == '+' ? v + product() : v - product();
    return v;
  }

  double product() {
    auto v = power();
    while (take('*') || take('/')) {
      if (last_ == '*') {
        v *= power();
      } else {
        auto d = power();
        if (d == 0) fail("division by zero");
        v /= d;
      }
    }
    return v;
  }

  double power() {
    auto base = unary();
    if (!take('^')) return base;
    return std::pow(base, nested([&] { return power(); }));
  }

  double unary() {
    if (take('-')) return -nested([&] { return unary(); });
    if (take('+')) return nested([&] { return unary(); });
    return atom();
  }

  double atom() {
    if (take('(')) {
      auto v = nested([&] { return sum(); });
      if (!take(')')) fail("missing ')'");
      return v;
    }
    skip_space();
    auto start = pos_;
    while (pos_ < text_.size() && (std::isdigit(static_cast<unsigned char>(text_[pos_])) || text_[pos_] == '.')) ++pos_;
    if (start == pos_) fail(pos_ < text_.size() ? "unexpected '" + std::string(1, text_[pos_]) + "'" : "a number is missing");
    std::string number(text_.substr(start, pos_ - start));
    char* end = nullptr;
    auto v = std::strtod(number.c_str(), &end);
    if (end != number.c_str() + number.size()) fail("\"" + number + "\" is not a number", start);
    return v;
  }

  template <class F>
  double nested(F&& f) {
    if (++depth_ > max_depth) fail("nested deeper than " + std::to_string(max_depth) + " levels");
    auto v = f();
    --depth_;
    return v;
  }

  bool take(char c) {
    skip_space();
    if (pos_ >= text_.size() || text_[pos_] != c) return false;
    last_ = c;
    ++pos_;
    return true;
  }

  void skip_space() {
    while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_]))) ++pos_;
  }

  [[noreturn]] void fail(const std::string& what) const { fail(what, pos_); }
  [[noreturn]] void fail(const std::string& what, size_t at) const {
    throw std::invalid_argument(what + " at character " + std::to_string(at + 1));
  }

  std::string_view text_;
  size_t pos_ = 0;
  int depth_ = 0;
  char last_ = 0;
};

}  // namespace

double evaluate_arithmetic(std::string_view expression) {
  if (expression.size() > max_length)
    throw std::invalid_argument("the expression is longer than " + std::to_string(max_length) + " characters");
  auto v = parser(expression).whole();
  if (!std::isfinite(v)) throw std::invalid_argument("the result is not a finite number");
  return v;
}

}  // namespace cohort

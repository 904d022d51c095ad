// The built-in calculator's arithmetic: precedence, associativity, signs, and the
// errors a model's bad expression gets (with the position), bounded in length and depth.
#include <string>

#include <gtest/gtest.h>

#include "runtime/calculator.hpp"

using cohort::evaluate_arithmetic;

namespace {

std::string calculation_error(const std::string& expression) {
  try {
    evaluate_arithmetic(expression);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace

TEST(Calculator, PrecedenceAssociativityAndSigns) {
  EXPECT_DOUBLE_EQ(evaluate_arithmetic("2 + 3 * 4"), 14);
  EXPECT_DOUBLE_EQ(evaluate_arithmetic("(2 + 3) * 4"), 20);
  EXPECT_DOUBLE_EQ(evaluate_arithmetic("10 - 4 - 3"), 3);
  EXPECT_DOUBLE_EQ(evaluate_arithmetic("64 / 4 / 2"), 8);
  EXPECT_DOUBLE_EQ(evaluate_arithmetic("2 ^ 3 ^ 2"), 512);  // right-associative
  EXPECT_DOUBLE_EQ(evaluate_arithmetic("-2 ^ 2"), 4);       // the sign binds first
  EXPECT_DOUBLE_EQ(evaluate_arithmetic("--3 + +1.5"), 4.5);
  EXPECT_DOUBLE_EQ(evaluate_arithmetic(" 100 * 4210 / 29925 "), 100.0 * 4210 / 29925);
}

TEST(Calculator, ABadExpressionSaysWhereAndWhat) {
  EXPECT_EQ(calculation_error("2 +"), "a number is missing at character 4");
  EXPECT_EQ(calculation_error("2 * (3 + 4"), "missing ')' at character 11");
  EXPECT_EQ(calculation_error("2 $ 3"), "unexpected '$' at character 3");
  EXPECT_EQ(calculation_error("1.2.3"), "\"1.2.3\" is not a number at character 1");
  EXPECT_EQ(calculation_error("1 / (2 - 2)"), "division by zero at character 12");
  EXPECT_EQ(calculation_error("10 ^ 400"), "the result is not a finite number");
  EXPECT_EQ(calculation_error(""), "a number is missing at character 1");
}

TEST(Calculator, HostileInputIsBounded) {
  EXPECT_EQ(calculation_error(std::string(100, '(') + "1" + std::string(100, ')')), "nested deeper than 64 levels at character 66");
  EXPECT_EQ(calculation_error(std::string(1001, '1')), "the expression is longer than 1000 characters");
  EXPECT_EQ(calculation_error(std::string(500, '-') + "1"), "nested deeper than 64 levels at character 66");
}

#pragma once
// The built-in `calculator` tool's arithmetic: + - * / ^ (right-associative), unary
// signs, parentheses and decimal numbers. Its input comes from a model, so it is
// bounded (1,000 characters, 64 levels of parentheses) and every error says where.
#include <string_view>

namespace cohort {

// The value of `expression`; throws std::invalid_argument naming the position of what
// is wrong, or a result that is not a finite number (1/0).
double evaluate_arithmetic(std::string_view expression);

}  // namespace cohort

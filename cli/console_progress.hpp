#pragma once
// Live progress lines for `cohort run` (to stderr): one line per branch while a run is
// small, then a periodic count so a 100,000-branch run does not flood the terminal.
#include <chrono>
#include <cstdio>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>

#include "cohort/runtime.hpp"

namespace cohort {

class console_progress {
 public:
  // `clean` is applied to every line before it is written (masking secrets, escaping
  // what a terminal would obey): event messages carry servers' error text.
  using line_filter = std::function<std::string(std::string_view)>;
  explicit console_progress(std::FILE* out, line_filter clean = nullptr, size_t detailed_lines = 40);
  void operator()(const Event& e);

 private:
  void print(const char* format, ...) __attribute__((format(printf, 2, 3)));
  double seconds() const;
  void streamed(const Event& e);

  std::FILE* out_;
  line_filter clean_;
  size_t detailed_lines_;
  size_t lines_ = 0;
  size_t started_ = 0;
  size_t finished_ = 0;
  size_t failed_ = 0;
  size_t chunks_ = 0;  // token events (streamed text pieces)
  std::chrono::steady_clock::time_point begin_ = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point last_tick_ = begin_;
  std::chrono::steady_clock::time_point last_stream_line_{};
};

}  // namespace cohort

#include "cli/console_progress.hpp"

#include <cstdarg>
#include <string>

namespace cohort {

console_progress::console_progress(std::FILE* out, line_filter clean, size_t detailed_lines)
    : out_(out), clean_(std::move(clean)), detailed_lines_(detailed_lines) {}

void console_progress::print(const char* format, ...) {
  char small[512];
  std::va_list args;
  va_start(args, format);
  std::va_list again;
  va_copy(again, args);
  int n = std::vsnprintf(small, sizeof small, format, args);
  va_end(args);
  std::string line;
  if (n >= 0 && static_cast<size_t>(n) < sizeof small) {
    line.assign(small, static_cast<size_t>(n));
  } else if (n >= 0) {
    line.resize(static_cast<size_t>(n) + 1);
    std::vsnprintf(line.data(), line.size(), format, again);
    line.resize(static_cast<size_t>(n));
  }
  va_end(again);
  if (clean_) line = clean_(line);
  std::fputs(line.c_str(), out_);
}

double console_progress::seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - begin_).count();
}

void console_progress::operator()(const Event& e) {
  if (e.kind == "token") return streamed(e);
  if (e.kind == "token_reset") return;  // the retry's pieces or the failure will show
  if (!e.leaf) {
    if (e.kind == "finished")
      print("%7.2fs  %s %-10s %s  %s\n", seconds(), e.status == "succeeded" ? "done" : e.status == "cancelled" ? "stop" : "FAIL",
                   e.agent.c_str(), e.path.c_str(), e.status == "succeeded" ? "" : e.message.c_str());
    return;
  }
  if (e.kind == "started") ++started_;
  else ++finished_;
  if (e.kind == "finished" && e.status != "succeeded") ++failed_;
  if (lines_ < detailed_lines_) {
    ++lines_;
    if (e.kind == "started") {
      print("%7.2fs  ...  %-10s %s\n", seconds(), e.agent.c_str(), e.path.c_str());
    } else {
      bool ok = e.status == "succeeded";
      // A branch stopped because the outcome was decided did not fail.
      const char* mark = ok ? " ok " : e.status == "cancelled" ? "stop" : "FAIL";
      print("%7.2fs  %s %-10s %s  %.0f ms%s%s\n", seconds(), mark,
                   e.agent.c_str(), e.path.c_str(), e.duration_us / 1000.0,
                   ok ? "" : ("  " + e.status + ": ").c_str(), ok ? "" : e.message.c_str());
    }
    if (lines_ == detailed_lines_) print("         (more branches: counting from here)\n");
    return;
  }
  auto now = std::chrono::steady_clock::now();
  if (now - last_tick_ >= std::chrono::milliseconds(500)) {
    last_tick_ = now;
    print("%7.2fs  %zu finished (%zu failed), %zu running%s\n", seconds(), finished_, failed_,
                 started_ - finished_, chunks_ ? (", " + std::to_string(chunks_) + " streamed chunks").c_str() : "");
  }
}

// Streamed text: a line now and then with the count so far and the latest text, so a
// long answer shows it is moving without a line per chunk.
void console_progress::streamed(const Event& e) {
  ++chunks_;
  auto now = std::chrono::steady_clock::now();
  if (now - last_stream_line_ < std::chrono::milliseconds(250)) return;
  last_stream_line_ = now;
  std::string tail = e.message.size() > 40 ? e.message.substr(e.message.size() - 40) : e.message;
  for (auto& c : tail)
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  print("%7.2fs  ~~~  %-10s %s  %zu chunks streamed, last \"%s\"\n", seconds(), e.agent.c_str(),
               e.path.c_str(), chunks_, tail.c_str());
}

}  // namespace cohort

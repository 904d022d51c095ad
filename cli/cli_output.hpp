#pragma once
// What `cohort run` writes, and how: the result on stdout (for people, or as JSON),
// every event as a line of a file, logs on stderr. Every channel goes through the
// run's secret_mask; what people read has its control characters escaped. A write
// that fails (a full disk, a closed stdout) is reported, never passed over: the run's
// work may be in it.
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>

#include "cli/secret_mask.hpp"
#include "cohort/runtime.hpp"

namespace cohort {

// The exit code when the result or the events could not be written.
constexpr int exit_write_failed = 3;

// The result as `cohort run` shows it to people / as one JSON document; masked.
std::string human_result(const RunResult& r, const secret_mask& mask);
std::string json_result(const RunResult& r, const secret_mask& mask);

// Writes all of `text` and flushes; false (errno set) when any of it failed.
bool write_all(std::FILE* out, const std::string& text);

// `--events FILE`: one masked JSON line per event. Remembers the first failed write.
class events_file {
 public:
  // Throws std::runtime_error "--events: cannot write ..." when it cannot be opened.
  events_file(const std::string& path, std::shared_ptr<const secret_mask> mask);
  ~events_file();
  events_file(const events_file&) = delete;
  events_file& operator=(const events_file&) = delete;
  void write(const Event& e);
  // Flushes; the reason when anything failed to reach the file, else empty.
  std::string finish();

 private:
  std::string path_;
  std::shared_ptr<const secret_mask> mask_;
  std::FILE* file_;
  int first_errno_ = 0;
};

// Log lines (spdlog) on stderr, masked and escaped; the mask can be set once the
// scenario is loaded (before, only Bearer tokens are masked).
void log_to_stderr_masked(const std::string& level);
void set_log_mask(std::shared_ptr<const secret_mask> mask);

}  // namespace cohort

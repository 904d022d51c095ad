// Fuzz target: the text of a scenario file, through the path `cohort validate` takes
// (Runtime::load_file -> load_scenario_file, with the built-in tools registered).
// The documented outcome for bad input is an exception: scenario_error naming the JSON
// path, or another std::runtime_error / std::invalid_argument. Anything else (a crash,
// a hang, a leak, UB, an exception of another kind) is a finding.
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

#include "runtime/builtin_tools.hpp"
#include "spec/scenario.hpp"

namespace {

// The scenario file: an in-memory file rewritten for each input, so the loader reads
// it through its own std::ifstream as it reads a file on disk.
class scenario_file {
 public:
  scenario_file() : fd_(memfd_create("scenario.json", 0)) {
    if (fd_ < 0) std::abort();
    path_ = "/proc/self/fd/" + std::to_string(fd_);
  }

  const std::string& write(const uint8_t* data, size_t size) {
    if (ftruncate(fd_, 0) != 0) std::abort();
    for (size_t done = 0; done < size;) {
      auto n = pwrite(fd_, data + done, size - done, static_cast<off_t>(done));
      if (n <= 0) std::abort();
      done += static_cast<size_t>(n);
    }
    return path_;
  }

 private:
  int fd_;
  std::string path_;
};

std::vector<std::string> builtin_tool_names() {
  std::vector<std::string> names;
  for (const auto& [name, tool] : cohort::builtin_tools()) names.push_back(name);
  return names;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static scenario_file file;
  static const auto tools = builtin_tool_names();
  const auto& path = file.write(data, size);
  try {
    auto loaded = cohort::load_scenario_file(path, tools);
  } catch (const std::runtime_error&) {      // scenario_error and its like
  } catch (const std::invalid_argument&) {
  }
  return 0;
}

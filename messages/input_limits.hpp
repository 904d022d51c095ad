#pragma once
// Bounds on everything read from outside the process (scenario files, --input, model
// answers, mock-llm requests): its size and its JSON nesting. nlohmann's parser is
// iterative, but copying, printing and walking a value recurse, so a 100,000-deep
// answer would overflow the stack later, far from where it came in. Plain C++, no CAF.
#include <cstddef>
#include <stdexcept>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace cohort {

struct input_limits {
  size_t max_json_depth = 256;            // arrays and objects inside each other
  size_t max_file_bytes = 64u << 20;      // a scenario, --input @FILE, a rules or config file
  size_t max_rendered_bytes = 16u << 20;  // one rendered prompt or template string
};

// The process-wide limits (Runtime sets them from RuntimeOptions).
input_limits current_input_limits();
void set_input_limits(const input_limits& limits);

// "WHERE: DETAIL", with the two parts apart for callers that name the place their way.
struct input_error : std::runtime_error {
  input_error(const std::string& where, const std::string& detail)
      : std::runtime_error(where + ": " + detail), detail(detail) {}
  std::string detail;
};

// The deepest nesting of arrays and objects in JSON text, counted without parsing
// (strings skipped); stops counting once `limit` is passed and returns limit + 1.
size_t json_depth(std::string_view text, size_t limit);

// Parses JSON from outside: throws input_error "WHERE: ..." when the text is not
// JSON, nests deeper than the limit, or holds a number too large to represent.
nlohmann::json parse_untrusted_json(std::string_view text, const std::string& where);

// The same without exceptions: a discarded value when any of those checks fails.
nlohmann::json parse_untrusted_json_or_discarded(std::string_view text);

// Throws input_error "WHERE: ..." when a value built in memory (by an embedding
// program) nests deeper than the limit. Walks with its own stack, never recursing.
void check_json_depth(const nlohmann::json& value, const std::string& where);

// Reads a whole file (or stream such as /dev/stdin) of at most the file limit;
// throws input_error "PATH: ..." when it cannot be read or is larger.
std::string read_bounded_file(const std::string& path);

// Whether text holds a control character other than a tab (or DEL): what no HTTP
// header line may hold, since CR or LF would end it and start another.
bool has_control_chars(std::string_view text);

}  // namespace cohort

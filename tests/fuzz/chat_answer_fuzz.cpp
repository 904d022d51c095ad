// Fuzz target: a model server's answer body as cohort reads it (models/chat_completions):
// the bytes as a whole chat completion, and as the data of one streamed event. The
// readers never throw; every input is some form (text, tool calls, not JSON, ...).
// A crash, UB, a leak or an exception is a finding.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "models/chat_completions.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view body(reinterpret_cast<const char*>(data), size);
  (void)cohort::read_chat_answer(body);
  (void)cohort::read_chat_chunk(body);
  return 0;
}

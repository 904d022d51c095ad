// Fuzz target: a streamed answer (text/event-stream) as the HTTP client reads it: the
// SSE parser (models/http/sse_parser) fed the body in pieces cut where the fuzzer chooses,
// each event's data read as a chat chunk (or "[DONE]"), and the same bytes read as a
// whole answer (a server that ignored "stream"). The events must not depend on where
// the network cut the bytes: the body fed at once must give the same ones.
// Input: one byte k, then k % 8 piece lengths (a byte each, 1 + its value), then the
// body, cut into pieces of those lengths in turn.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "models/chat_completions.hpp"
#include "models/http/sse_parser.hpp"

namespace {

struct cut_body {
  std::vector<size_t> piece_lengths;  // empty: one piece
  std::string_view body;
};

cut_body split_input(const uint8_t* data, size_t size) {
  cut_body in;
  if (size == 0) return in;
  size_t cuts = std::min<size_t>(data[0] % 8, size - 1);
  for (size_t i = 1; i <= cuts; ++i) in.piece_lengths.push_back(1 + data[i]);
  in.body = std::string_view(reinterpret_cast<const char*>(data) + 1 + cuts, size - 1 - cuts);
  return in;
}

std::vector<std::string> events_of(const cut_body& in, bool cut) {
  std::vector<std::string> events;
  auto on_event = [&](const std::string& data) { events.push_back(data); };
  cohort::sse_parser parser;
  if (!cut || in.piece_lengths.empty()) {
    parser.feed(in.body, on_event);
  } else {
    for (size_t at = 0, k = 0; at < in.body.size(); k = (k + 1) % in.piece_lengths.size()) {
      auto n = std::min(in.piece_lengths[k], in.body.size() - at);
      parser.feed(in.body.substr(at, n), on_event);
      at += n;
    }
  }
  parser.finish(on_event);
  return events;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto in = split_input(data, size);
  auto streamed = events_of(in, /*cut=*/true);
  if (streamed != events_of(in, /*cut=*/false)) {
    std::fprintf(stderr, "sse_parser: the events depend on where the body was cut\n");
    std::abort();
  }
  for (const auto& event : streamed)
    if (event != "[DONE]") (void)cohort::read_chat_chunk(event);
  (void)cohort::read_chat_answer(in.body);
  return 0;
}

#include "models/http/sse_parser.hpp"

namespace cohort {

void sse_parser::feed(std::string_view bytes, const event_fn& on_event) {
  // Lines end with "\r\n", "\n" or "\r" (the SSE grammar allows all three).
  size_t start = 0;
  for (size_t i = 0; i < bytes.size(); ++i) {
    char c = bytes[i];
    if (c != '\n' && c != '\r') {
      after_cr_ = false;
      continue;
    }
    if (c == '\n' && after_cr_ && i == start) {  // the '\n' of a "\r\n" split across calls
      after_cr_ = false;
      start = i + 1;
      continue;
    }
    pending_.append(bytes.substr(start, i - start));
    line(pending_, on_event);
    pending_.clear();
    after_cr_ = c == '\r';
    start = i + 1;
    if (after_cr_ && i + 1 < bytes.size() && bytes[i + 1] == '\n') {
      ++i;
      ++start;
      after_cr_ = false;
    }
  }
  pending_.append(bytes.substr(start));
}

void sse_parser::finish(const event_fn& on_event) {
  if (!pending_.empty()) {
    line(pending_, on_event);
    pending_.clear();
  }
  line({}, on_event);
}

void sse_parser::line(std::string_view text, const event_fn& on_event) {
  if (text.empty()) {  // the blank line that ends an event
    if (has_data_) on_event(data_);
    data_.clear();
    has_data_ = false;
    return;
  }
  if (text.front() == ':') return;  // a comment (keep-alive)
  auto colon = text.find(':');
  auto field = text.substr(0, colon);
  if (field != "data") return;
  auto value = colon == std::string_view::npos ? std::string_view() : text.substr(colon + 1);
  if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  if (has_data_) data_ += '\n';
  data_.append(value);
  has_data_ = true;
}

}  // namespace cohort

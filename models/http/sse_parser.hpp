#pragma once
// Server-sent events (text/event-stream) as an OpenAI-compatible server streams a
// chat completion: bytes in, in whatever pieces the network delivers them; the data of
// each complete event out. Only `data:` matters here (event names, ids, retry and
// comments are skipped); several data lines of one event join with '\n'.
#include <functional>
#include <string>
#include <string_view>

namespace cohort {

class sse_parser {
 public:
  using event_fn = std::function<void(const std::string& data)>;

  // Calls `on_event` for every event that `bytes` completes.
  void feed(std::string_view bytes, const event_fn& on_event);
  // The body ended: an event cut off before its closing blank line still counts.
  void finish(const event_fn& on_event);

 private:
  void line(std::string_view text, const event_fn& on_event);

  std::string pending_;  // an incomplete line
  std::string data_;     // the data lines of the event so far
  bool has_data_ = false;
  bool after_cr_ = false;  // the last byte was '\r': a following '\n' belongs to it
};

}  // namespace cohort

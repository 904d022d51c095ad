#include "messages/input_limits.hpp"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <memory>
#include <utility>
#include <vector>

namespace cohort {
namespace {

std::atomic<size_t> max_json_depth{input_limits{}.max_json_depth};
std::atomic<size_t> max_file_bytes{input_limits{}.max_file_bytes};
std::atomic<size_t> max_rendered_bytes{input_limits{}.max_rendered_bytes};

std::string too_deep(size_t limit) {
  return "JSON nested deeper than " + std::to_string(limit) + " levels (the limit, max_json_depth)";
}

}  // namespace

input_limits current_input_limits() {
  return {max_json_depth.load(std::memory_order_relaxed), max_file_bytes.load(std::memory_order_relaxed),
          max_rendered_bytes.load(std::memory_order_relaxed)};
}

void set_input_limits(const input_limits& limits) {
  max_json_depth.store(limits.max_json_depth, std::memory_order_relaxed);
  max_file_bytes.store(limits.max_file_bytes, std::memory_order_relaxed);
  max_rendered_bytes.store(limits.max_rendered_bytes, std::memory_order_relaxed);
}

size_t json_depth(std::string_view text, size_t limit) {
  size_t depth = 0, deepest = 0;
  bool in_string = false, escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > deepest && (deepest = depth) > limit) return limit + 1;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}

nlohmann::json parse_untrusted_json(std::string_view text, const std::string& where) {
  auto limit = max_json_depth.load(std::memory_order_relaxed);
  if (json_depth(text, limit) > limit) throw input_error(where, too_deep(limit));
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    // parse_error (syntax) and out_of_range (a number beyond a double) both land here.
    throw input_error(where, std::string("not valid JSON: ") + e.what());
  }
}

nlohmann::json parse_untrusted_json_or_discarded(std::string_view text) {
  auto limit = max_json_depth.load(std::memory_order_relaxed);
  if (json_depth(text, limit) > limit) return nlohmann::json(nlohmann::json::value_t::discarded);
  try {
    return nlohmann::json::parse(text, nullptr, false);
  } catch (const nlohmann::json::exception&) {  // out_of_range is thrown even with allow_exceptions off
    return nlohmann::json(nlohmann::json::value_t::discarded);
  }
}

void check_json_depth(const nlohmann::json& value, const std::string& where) {
  const auto limit = max_json_depth.load(std::memory_order_relaxed);
  std::vector<std::pair<const nlohmann::json*, size_t>> todo{{&value, 1}};
  while (!todo.empty()) {
    auto [v, depth] = todo.back();
    todo.pop_back();
    if (!v->is_structured()) continue;
    if (depth > limit) throw input_error(where, too_deep(limit));
    for (const auto& child : *v)
      if (child.is_structured()) todo.emplace_back(&child, depth + 1);
  }
}

std::string read_bounded_file(const std::string& path) {
  std::unique_ptr<FILE, int (*)(FILE*)> file(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!file) throw input_error(path, "cannot open the file");
  const auto limit = max_file_bytes.load(std::memory_order_relaxed);
  std::string text;
  char buf[65536];
  while (size_t n = std::fread(buf, 1, sizeof buf, file.get())) {
    if (text.size() + n > limit)
      throw input_error(path, "larger than " + std::to_string(limit) + " bytes (the limit, max_file_bytes)");
    text.append(buf, n);
  }
  if (std::ferror(file.get())) throw input_error(path, "cannot read the file");
  return text;
}

bool has_control_chars(std::string_view text) {
  return std::any_of(text.begin(), text.end(), [](char ch) {
    auto c = static_cast<unsigned char>(ch);
    return (c < 0x20 && c != '\t') || c == 0x7f;
  });
}

}  // namespace cohort

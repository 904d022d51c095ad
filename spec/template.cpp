#include "spec/template.hpp"

#include "messages/input_limits.hpp"

namespace cohort {
namespace {

// An array index a template may name: beyond this no array from outside can reach.
constexpr size_t max_index_digits = 9;

bool is_index(const std::string& s) {
  return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos;
}

std::string trim(const std::string& s) {
  auto b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return {};
  auto e = s.find_last_not_of(" \t");
  return s.substr(b, e - b + 1);
}

// "item.tags[0]" -> {"item", "tags", "0"}
std::vector<std::string> split_path(const std::string& path) {
  std::vector<std::string> segs;
  std::string cur;
  auto flush = [&] {
    if (cur.empty()) throw template_error("empty segment in \"" + path + "\"");
    segs.push_back(cur);
    cur.clear();
  };
  for (size_t i = 0; i < path.size(); ++i) {
    char c = path[i];
    if (c == '.') {
      flush();
    } else if (c == '[') {
      if (!cur.empty()) flush();
      auto close = path.find(']', i);
      if (close == std::string::npos) throw template_error("unclosed '[' in \"" + path + "\"");
      cur = path.substr(i + 1, close - i - 1);
      if (!is_index(cur)) throw template_error("index must be a number in \"" + path + "\"");
      segs.push_back(cur);
      cur.clear();
      i = close;
      if (i + 1 < path.size() && path[i + 1] == '.') ++i;
    } else if (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-') {
      cur += c;
    } else {
      throw template_error(std::string("unexpected character '") + c + "' in \"" + path + "\"");
    }
  }
  if (!cur.empty()) segs.push_back(cur);
  if (segs.empty()) throw template_error("empty reference {{}}");
  for (const auto& s : segs)
    if (is_index(s) && s.size() > max_index_digits)
      throw template_error("index " + s + " in \"" + path + "\" is out of range (at most " +
                           std::to_string(max_index_digits) + " digits)");
  return segs;
}

// A prompt is built in memory before it is sent: stop one that would take gigabytes.
void check_rendered_size(size_t bytes) {
  auto limit = current_input_limits().max_rendered_bytes;
  if (bytes > limit)
    throw template_error("the rendered text is larger than " + std::to_string(limit) +
                         " bytes (the limit, max_rendered_bytes)");
}

}  // namespace

std::vector<template_ref> template_refs(const std::string& tmpl) {
  std::vector<template_ref> refs;
  size_t pos = 0;
  while ((pos = tmpl.find("{{", pos)) != std::string::npos) {
    auto close = tmpl.find("}}", pos + 2);
    if (close == std::string::npos)
      throw template_error("unclosed \"{{\" at character " + std::to_string(pos));
    auto text = trim(tmpl.substr(pos + 2, close - pos - 2));
    refs.push_back({text, split_path(text)});
    pos = close + 2;
  }
  return refs;
}

const nlohmann::json* lookup(const nlohmann::json& scope, const std::vector<std::string>& segs) {
  const nlohmann::json* cur = &scope;
  for (const auto& s : segs) {
    if (cur->is_object()) {
      auto it = cur->find(s);
      if (it == cur->end()) return nullptr;
      cur = &*it;
    } else if (cur->is_array() && is_index(s) && s.size() <= max_index_digits) {
      auto i = std::stoul(s);
      if (i >= cur->size()) return nullptr;
      cur = &(*cur)[i];
    } else {
      return nullptr;
    }
  }
  return cur;
}

const nlohmann::json* lookup(const nlohmann::json& scope, const std::string& path) {
  return lookup(scope, split_path(path));
}

const nlohmann::json* template_scope::find(const std::vector<std::string>& segs) const {
  if (input_ && !segs.empty() && segs[0] == "input")
    return lookup(*input_, std::vector<std::string>(segs.begin() + 1, segs.end()));
  if (!inherited_ || segs.empty()) return lookup(*bindings_, segs);
  const auto* named = find_binding(*bindings_, inherited_, segs[0]);
  return named ? lookup(*named, std::vector<std::string>(segs.begin() + 1, segs.end())) : nullptr;
}

std::string to_prompt_text(const nlohmann::json& v) {
  return v.is_string() ? v.get<std::string>() : v.dump();
}

std::string render(const std::string& tmpl, const template_scope& scope) {
  std::string out;
  out.reserve(tmpl.size());
  size_t pos = 0;
  while (true) {
    auto open = tmpl.find("{{", pos);
    if (open == std::string::npos) break;
    auto close = tmpl.find("}}", open + 2);
    if (close == std::string::npos)
      throw template_error("unclosed \"{{\" at character " + std::to_string(open));
    out.append(tmpl, pos, open - pos);
    auto text = trim(tmpl.substr(open + 2, close - open - 2));
    const auto* v = scope.find(split_path(text));
    if (!v) throw template_error("{{" + text + "}} does not resolve");
    out += to_prompt_text(*v);
    check_rendered_size(out.size());
    pos = close + 2;
  }
  out.append(tmpl, pos, std::string::npos);
  return out;
}

nlohmann::json render_json(const nlohmann::json& tmpl, const template_scope& scope) {
  if (tmpl.is_string()) {
    const auto& s = tmpl.get_ref<const std::string&>();
    auto refs = template_refs(s);
    auto t = trim(s);
    bool whole = refs.size() == 1 && t.size() >= 4 && t.compare(0, 2, "{{") == 0 &&
                 t.compare(t.size() - 2, 2, "}}") == 0;
    if (whole) {
      const auto* v = scope.find(refs[0].segments);
      if (!v) throw template_error("{{" + refs[0].text + "}} does not resolve");
      return *v;
    }
    return render(s, scope);
  }
  if (tmpl.is_array() || tmpl.is_object()) {
    auto out = tmpl;
    for (auto it = out.begin(); it != out.end(); ++it) *it = render_json(*it, scope);
    return out;
  }
  return tmpl;
}

}  // namespace cohort

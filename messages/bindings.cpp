#include "messages/bindings.hpp"

#include <vector>

namespace cohort {

const nlohmann::json* find_binding(const nlohmann::json& own, const binding_layer* inherited,
                                   const std::string& name) {
  if (own.is_object())
    if (auto it = own.find(name); it != own.end()) return &*it;
  for (const auto* layer = inherited; layer; layer = layer->parent.get())
    if (auto it = layer->names.find(name); it != layer->names.end()) return &*it;
  return nullptr;
}

nlohmann::json flatten_bindings(const nlohmann::json& own, const binding_chain& inherited) {
  std::vector<const nlohmann::json*> outer_first;
  for (const auto* layer = inherited.get(); layer; layer = layer->parent.get()) outer_first.push_back(&layer->names);
  nlohmann::json all = nlohmann::json::object();
  for (auto it = outer_first.rbegin(); it != outer_first.rend(); ++it)
    for (const auto& [k, v] : (*it)->items()) all[k] = v;
  if (own.is_object())
    for (const auto& [k, v] : own.items()) all[k] = v;
  return all;
}

binding_chain push_bindings(const nlohmann::json& own, binding_chain inherited) {
  if (!own.is_object() || own.empty()) return inherited;
  auto layer = std::make_shared<binding_layer>();
  layer->names = own;
  layer->parent = std::move(inherited);
  return layer;
}

}  // namespace cohort

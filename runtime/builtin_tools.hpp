#pragma once
// The tools every runtime has: echo, join, json_merge, concat, partition, count_values,
// and calculator (for models: it comes with its description and parameters).
#include <map>
#include <string>

#include "cohort/tool.hpp"

namespace cohort {

std::map<std::string, Tool> builtin_tools();

// What a model is told about the built-in tools made for it.
std::map<std::string, ToolInfo> builtin_tool_infos();

}  // namespace cohort

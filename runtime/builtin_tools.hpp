#pragma once
// The tools every runtime has: echo, join, json_merge, concat, partition.
#include <map>
#include <string>

#include "cohort/tool.hpp"

namespace cohort {

std::map<std::string, Tool> builtin_tools();

}  // namespace cohort

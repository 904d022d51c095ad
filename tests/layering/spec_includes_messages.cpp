// The control for spec_includes_workflow.cpp: the same compile with a legal include
// succeeds, so that test fails for the layering and nothing else.
#include "messages/task.hpp"
#include "spec/scenario.hpp"

// Deliberately wrong: spec/ is the bottom of the tree and may not see workflow/.
// tests/CMakeLists.txt compiles this file with spec's include view and expects it to fail.
#include "spec/scenario.hpp"
#include "workflow/pattern.hpp"

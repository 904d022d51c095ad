#pragma once
// Text for a terminal: a server's error body may hold escape sequences (clear the
// screen, set the window title, hide what follows). Control characters other than
// newline and tab are written as \xHH, so a terminal shows them instead of obeying.
#include <string>
#include <string_view>

namespace cohort {

std::string escape_control_chars(std::string_view text);

}  // namespace cohort

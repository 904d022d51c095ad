#pragma once
// cohort's version: a worker of another version is refused at join. CMakeLists.txt
// checks that this says the project's version.

namespace cohort {

constexpr const char* cohort_version_text = "0.1.0";

}  // namespace cohort

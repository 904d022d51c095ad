#pragma once
// Every model call in flight holds a socket (and a server, one per client), so 10,000
// calls at once need more than the usual soft limit of 1,024 open files.

namespace cohort {

// Lifts this process's soft open-file limit to its hard limit (as Go and nginx do),
// once; returns the soft limit now in force.
long raise_open_file_limit();

}  // namespace cohort

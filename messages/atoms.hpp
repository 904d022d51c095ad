#pragma once
// Atoms of the cohort protocol (0.17 spelling: at most 10 characters).
#include <caf/atom.hpp>

namespace cohort {

using http_done_atom = caf::atom_constant<caf::atom("httpdone")>;
using sim_done_atom = caf::atom_constant<caf::atom("simdone")>;
using deadline_atom = caf::atom_constant<caf::atom("deadline")>;
using cancel_req_atom = caf::atom_constant<caf::atom("cancelreq")>;
using permit_atom = caf::atom_constant<caf::atom("permit")>;  // a queued resource request granted
using run_atom = caf::atom_constant<caf::atom("run")>;
using pump_atom = caf::atom_constant<caf::atom("pump")>;
using stream_delta_atom = caf::atom_constant<caf::atom("delta")>;  // (request id, text) of a streamed answer
using stream_reset_atom = caf::atom_constant<caf::atom("dreset")>;  // (request id): its pieces so far are void
using stats_atom = caf::atom_constant<caf::atom("stats")>;

}  // namespace cohort

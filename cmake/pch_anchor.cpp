// Anchor for the shared precompiled header (caf/all.hpp, nlohmann/json.hpp).

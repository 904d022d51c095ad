#pragma once
// Proving the cluster secret at join without sending it (docs/cluster.md): the head
// hands out a fresh random challenge, the worker answers HMAC-SHA256(secret, challenge).
// CAF 0.17's middleman authenticates nothing itself.
#include <string>

namespace cohort {

// 32 random bytes, hex.
std::string make_cluster_challenge();
// HMAC-SHA256(secret, challenge), hex.
std::string prove_cluster_secret(const std::string& secret, const std::string& challenge);
// Whether `proof` answers `challenge` for `secret` (in constant time).
bool proves_cluster_secret(const std::string& secret, const std::string& challenge, const std::string& proof);

}  // namespace cohort

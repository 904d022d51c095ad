#!/usr/bin/env bash
# Installs the third-party OpenAI-compatible mock server that one integration test runs
# cohort against (@dwmkerr/mock-llm from the npm registry, pinned) into DIR. Idempotent:
# a second run with the version in place does nothing. Without npm, installs Debian's
# nodejs and npm (as root). Fails loudly when the registry cannot be reached; only
# COHORT_SKIP_NPM_MOCK=1 makes it (and the test) stand down.
set -euo pipefail
dir=${1:?usage: install-npm-mock.sh DIR}
package=@dwmkerr/mock-llm
version=0.1.29
# The official OpenAI client, run against `cohort mock-llm` (tests/third_party).
client=openai
client_version=4.104.0
# Reference MCP servers, for cohort's MCP client and examples/mcp-files.json.
mcp=@modelcontextprotocol/server-everything
mcp_version=2026.8.31
mcp_fs=@modelcontextprotocol/server-filesystem
# The official A2A JavaScript SDK, a client of the node's A2A agents.
a2a=@a2a-js/sdk
a2a_version=0.3.14

if [ -n "${COHORT_SKIP_NPM_MOCK:-}" ]; then
  echo "cohort: COHORT_SKIP_NPM_MOCK is set: not installing $package"
  exit 0
fi

manifest="$dir/node_modules/$package/package.json"
client_manifest="$dir/node_modules/$client/package.json"
mcp_manifest="$dir/node_modules/$mcp/package.json"
mcp_fs_manifest="$dir/node_modules/$mcp_fs/package.json"
a2a_manifest="$dir/node_modules/$a2a/package.json"
if [ -f "$manifest" ] && [ -f "$client_manifest" ] && [ -f "$mcp_manifest" ] && [ -f "$mcp_fs_manifest" ] && [ -f "$a2a_manifest" ] &&
   command -v node >/dev/null &&
   [ "$(node -p "require('$manifest').version" 2>/dev/null)" = "$version" ] &&
   [ "$(node -p "require('$client_manifest').version" 2>/dev/null)" = "$client_version" ] &&
   [ "$(node -p "require('$mcp_manifest').version" 2>/dev/null)" = "$mcp_version" ] &&
   [ "$(node -p "require('$a2a_manifest').version" 2>/dev/null)" = "$a2a_version" ]; then
  exit 0
fi

if ! command -v npm >/dev/null || ! command -v node >/dev/null; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "cohort: npm is missing; run as root, or: sudo apt-get install nodejs npm" >&2
    exit 1
  fi
  echo "cohort: installing nodejs and npm (Debian packages)" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi

mkdir -p "$dir"
cd "$dir"
[ -f package.json ] || echo '{"name": "cohort-npm-mock", "private": true}' >package.json
if ! npm install --no-audit --no-fund --save-exact --fetch-retries=1 --fetch-timeout=60000 \
     "$package@$version" "$client@$client_version" "$mcp@$mcp_version" "$mcp_fs@$mcp_version" "$a2a@$a2a_version" \
     >npm-install.log 2>&1; then
  echo "cohort: could not install $package@$version from the npm registry into $dir:" >&2
  tail -n 20 npm-install.log >&2
  echo "cohort: the third-party mock test needs it (COHORT_SKIP_NPM_MOCK=1 skips that test on purpose)" >&2
  exit 1
fi
echo "cohort: installed $package@$version, $client@$client_version, $mcp@$mcp_version, $mcp_fs and $a2a@$a2a_version in $dir"

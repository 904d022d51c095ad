#!/usr/bin/env python3
# A minimal MCP server over stdio (JSON-RPC, one message a line) for tests that run
# without the npm registry: one tool, "echo", which says its message back.
import json
import sys

TOOLS = [{
    "name": "echo",
    "description": "Says the message back.",
    "inputSchema": {"type": "object", "properties": {"message": {"type": "string"}}, "required": ["message"]},
}]

for line in sys.stdin:
    message = json.loads(line)
    if "id" not in message:
        continue  # a notification
    method = message.get("method")
    params = message.get("params") or {}
    if method == "initialize":
        answer = {"result": {"protocolVersion": params.get("protocolVersion", "2025-06-18"),
                             "capabilities": {"tools": {}}, "serverInfo": {"name": "tiny", "version": "1"}}}
    elif method == "tools/list":
        answer = {"result": {"tools": TOOLS}}
    elif method == "tools/call":
        text = "echo: " + str(params.get("arguments", {}).get("message", ""))
        answer = {"result": {"content": [{"type": "text", "text": text}]}}
    else:
        answer = {"error": {"code": -32601, "message": "no method " + str(method)}}
    print(json.dumps(dict(answer, jsonrpc="2.0", id=message["id"])), flush=True)

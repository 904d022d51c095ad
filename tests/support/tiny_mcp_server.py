#!/usr/bin/env python3
# A minimal MCP server over stdio (JSON-RPC, one message a line) for tests that run
# without the npm registry: "echo", which says its message back, "sleep", which answers
# after the seconds asked, "leave_holder", which leaves a process holding its output,
# "exit_leaving_holder", which does that too (its process id in `pid_file`) and exits
# without an answer, "open_files", which lists what its descriptors above 2 point at,
# and "flood_requests", which sends `count` requests of its own before its answer, then
# reads nothing for 30 s.
import json
import os
import subprocess
import sys
import time

TOOLS = [{
    "name": "echo",
    "description": "Says the message back.",
    "inputSchema": {"type": "object", "properties": {"message": {"type": "string"}}, "required": ["message"]},
}, {
    "name": "sleep",
    "description": "Answers after the seconds asked.",
    "inputSchema": {"type": "object", "properties": {"seconds": {"type": "number"}}, "required": ["seconds"]},
}, {
    "name": "leave_holder",
    "description": "Starts `sleep 20` in a session of its own, holding this server's output; its process id.",
    "inputSchema": {"type": "object", "properties": {}},
}, {
    "name": "flood_requests",
    "description": "Sends count ping requests, then its answer, then sleeps 30 s without reading its input.",
    "inputSchema": {"type": "object", "properties": {"count": {"type": "integer"}}},
}, {
    "name": "exit_leaving_holder",
    "description": "Starts `sleep 20` holding this server's output (its process id written to pid_file), then exits.",
    "inputSchema": {"type": "object", "properties": {"pid_file": {"type": "string"}}, "required": ["pid_file"]},
}, {
    "name": "open_files",
    "description": "Lists the server's open descriptors above 2.",
    "inputSchema": {"type": "object", "properties": {}},
}]


def open_files():
    found = []
    for fd in sorted(int(n) for n in os.listdir("/proc/self/fd")):
        if fd > 2:
            try:
                found.append(str(fd) + " " + os.readlink("/proc/self/fd/" + str(fd)))
            except OSError:
                pass  # the directory listdir had open
    return "\n".join(found)

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
    elif method == "tools/call" and params.get("name") == "sleep":
        time.sleep(float(params.get("arguments", {}).get("seconds", 0)))
        answer = {"result": {"content": [{"type": "text", "text": "slept"}]}}
    elif method == "tools/call" and params.get("name") == "leave_holder":
        holder = subprocess.Popen(["sleep", "20"], start_new_session=True)
        answer = {"result": {"content": [{"type": "text", "text": str(holder.pid)}]}}
    elif method == "tools/call" and params.get("name") == "flood_requests":
        for n in range(int(params.get("arguments", {}).get("count", 1000))):
            sys.stdout.write(json.dumps({"jsonrpc": "2.0", "id": "ping-" + str(n), "method": "ping"}) + "\n")
        answer = {"result": {"content": [{"type": "text", "text": "flooded"}]}}
        print(json.dumps(dict(answer, jsonrpc="2.0", id=message["id"])), flush=True)
        time.sleep(30)
        continue
    elif method == "tools/call" and params.get("name") == "exit_leaving_holder":
        holder = subprocess.Popen(["sleep", "20"], start_new_session=True)
        with open(params.get("arguments", {}).get("pid_file", "/dev/null"), "w") as f:
            f.write(str(holder.pid))
        os._exit(0)
    elif method == "tools/call" and params.get("name") == "open_files":
        answer = {"result": {"content": [{"type": "text", "text": open_files()}]}}
    elif method == "tools/call":
        text = "echo: " + str(params.get("arguments", {}).get("message", ""))
        answer = {"result": {"content": [{"type": "text", "text": text}]}}
    else:
        answer = {"error": {"code": -32601, "message": "no method " + str(method)}}
    print(json.dumps(dict(answer, jsonrpc="2.0", id=message["id"])), flush=True)

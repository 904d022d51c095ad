#!/usr/bin/env python3
"""Seed 000's analyzers-and-aggregator across processes (standard library only).

    run_analyzers.py NODE_URL

Submits analyzers.json to the node, starts the four analyzers (analyzer.py) as programs
of their own, waits for the run and prints its output. Exits 0 when the run succeeded.
"""
import json
import os
import subprocess
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))


def call(node, method, path, body=None):
    request = urllib.request.Request(node + path, method=method,
                                     data=None if body is None else json.dumps(body).encode())
    request.add_header("Content-Type", "application/json")
    if os.environ.get("COHORT_TOKEN"):
        request.add_header("Authorization", "Bearer " + os.environ["COHORT_TOKEN"])
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.load(answer)


def main():
    node = sys.argv[1].rstrip("/")
    with open(os.path.join(HERE, "analyzers.json")) as f:
        run = call(node, "POST", "/v1/runs", {"scenario": json.load(f)})["id"]
    analyzers = [subprocess.Popen([sys.executable, os.path.join(HERE, "analyzer.py"), node, run, "analyzer-" + side])
                 for side in ("north", "south", "east", "west")]
    for a in analyzers:
        a.wait(timeout=60)
    deadline = time.time() + 60
    while True:
        doc = call(node, "GET", f"/v1/runs/{run}")
        if doc["status"] not in ("queued", "running") or time.time() > deadline:
            break
        time.sleep(0.05)
    print(json.dumps({"id": run, "status": doc["status"], "output": doc.get("output")}, indent=2))
    sys.exit(0 if doc["status"] == "succeeded" and all(a.returncode == 0 for a in analyzers) else 1)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""One analyzer of seed 000's example, played from outside the run (standard library only).

    analyzer.py NODE_URL RUN_ID AGENT      e.g. analyzer.py http://127.0.0.1:7070 run-... analyzer-north

It joins the run as AGENT (an agent of "type": "external" in the scenario), sends its
insight to the aggregator, meets the others at the "analysis" barrier, waits for the
aggregator's summary and hands in its result. COHORT_TOKEN, if set, is the node's token.
"""
import json
import os
import sys
import urllib.error
import urllib.request


def call(node, method, path, body=None, timeout=60):
    request = urllib.request.Request(node + path, method=method,
                                     data=None if body is None else json.dumps(body).encode())
    request.add_header("Content-Type", "application/json")
    if os.environ.get("COHORT_TOKEN"):
        request.add_header("Authorization", "Bearer " + os.environ["COHORT_TOKEN"])
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return json.load(answer)
    except urllib.error.HTTPError as e:
        sys.exit(f"{method} {path}: HTTP {e.code}: {e.read().decode(errors='replace')}")


def main():
    node, run, agent = sys.argv[1:4]
    me = f"/v1/workflows/{run}/agents/{agent}"
    joined = call(node, "POST", me + "/register", {})
    segment = agent.split("-", 1)[1]
    topic = joined["input"]["segments"][segment]
    insight = {"segment": segment, "insight": f"{topic} is trending"}
    call(node, "POST", me + "/send", {"to": "aggregator", "content": insight})
    call(node, "POST", f"/v1/workflows/{run}/sync/barrier",
         {"name": "analysis", "agent": agent, "timeout_ms": 30000})
    summary = None
    while summary is None:  # a long poll: answers at once when a message is there
        for m in call(node, "GET", me + "/messages?max=10&timeout_ms=10000")["messages"]:
            if m["from"] == "aggregator":
                summary = m["content"]["summary"]
    call(node, "POST", me + "/result", {"output": dict(insight, summary=summary)})
    print(json.dumps({"agent": agent, "summary": summary}))


if __name__ == "__main__":
    main()

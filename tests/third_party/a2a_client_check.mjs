// The official A2A JavaScript SDK (@a2a-js/sdk, from the npm registry) as a client of a
// cohort node's A2A agents: the card, message/send, message/stream, tasks/get and
// tasks/cancel, tasks/resubscribe, push notifications, and the error a finished task's cancel gets.
//   node a2a_client_check.mjs NODE_URL NODE_MODULES_DIR
const [node, modules] = process.argv.slice(2);
const { A2AClient } = await import(modules + "/node_modules/@a2a-js/sdk/dist/client/index.js");
let failures = 0;
const check = (ok, what, seen) => {
  if (!ok) {
    failures++;
    console.error("FAILED: " + what + (seen === undefined ? "" : ": " + JSON.stringify(seen)));
  }
};
const message = (text) => ({ kind: "message", messageId: "m-" + Math.random(), role: "user", parts: [{ kind: "text", text }] });
const text = (task) => (task.artifacts || []).flatMap((a) => a.parts).map((p) => p.text || "").join("");

const client = await A2AClient.fromCardUrl(node + "/a2a/summarizer/.well-known/agent-card.json");
const card = await client.getAgentCard();
check(card.name === "summarizer" && card.capabilities.streaming === true, "card", card);
check(card.skills.length === 1 && card.skills[0].id === "summarizer", "card: the scenario as a skill", card.skills);

const sent = await client.sendMessage({ message: message("the actor model") });
check(!("error" in sent), "message/send: no error", sent.error);
const task = sent.result;
check(task.kind === "task" && task.status.state === "completed", "message/send: a completed task", task);
check(text(task).includes("the actor model"), "message/send: the run's output as an artifact", task);

const kinds = [];
let last;
for await (const event of client.sendMessageStream({ message: message("streams") })) {
  kinds.push(event.kind);
  last = event;
}
check(kinds[0] === "task", "message/stream: the task first", kinds);
check(kinds.includes("artifact-update"), "message/stream: the output", kinds);
check(last.kind === "status-update" && last.final === true && last.status.state === "completed", "message/stream: final", last);

const got = await client.getTask({ id: task.id });
check(got.result && got.result.status.state === "completed" && text(got.result) === text(task), "tasks/get", got);

const replay = [];
for await (const event of client.resubscribeTask({ id: task.id })) replay.push(event);
const lastReplayed = replay[replay.length - 1];
check(replay.length >= 2 && replay[0].kind === "task" && replay[0].id === task.id, "tasks/resubscribe: the task first", replay);
check(lastReplayed && lastReplayed.final === true && lastReplayed.status.state === "completed", "tasks/resubscribe: to its end", replay);

const slowAgent = await A2AClient.fromCardUrl(node + "/a2a/slow/.well-known/agent-card.json");
const slow = await slowAgent.sendMessage({ message: message("take your time"), configuration: { blocking: false } });
check(slow.result && slow.result.status.state !== "completed", "non-blocking send: not ended yet", slow.result);
const cancelled = await slowAgent.cancelTask({ id: slow.result.id });
check(cancelled.result && cancelled.result.status.state === "canceled", "tasks/cancel: canceled", cancelled);

// Push notifications: a webhook (a plain node HTTP server here) set for a running task
// gets the task POSTed, with the token, when it is cancelled.
const http = await import("node:http");
const received = [];
const hook = http.createServer((req, res) => {
  let body = "";
  req.on("data", (piece) => (body += piece));
  req.on("end", () => {
    received.push({ path: req.url, token: req.headers["x-a2a-notification-token"], task: JSON.parse(body) });
    res.end("{}");
  });
});
await new Promise((ready) => hook.listen(0, "127.0.0.1", ready));
const hookUrl = "http://127.0.0.1:" + hook.address().port + "/a2a-hook";
const pushed = await slowAgent.sendMessage({ message: message("push me"), configuration: { blocking: false } });
const set = await slowAgent.setTaskPushNotificationConfig({
  taskId: pushed.result.id,
  pushNotificationConfig: { url: hookUrl, token: "js-token" },
});
check(set.result && set.result.pushNotificationConfig.url === hookUrl, "pushNotificationConfig/set", set);
const listed = await slowAgent.listTaskPushNotificationConfig({ id: pushed.result.id });
check(listed.result && listed.result.length === 1 && listed.result[0].pushNotificationConfig.token === "js-token",
  "pushNotificationConfig/list", listed);
await slowAgent.cancelTask({ id: pushed.result.id });
const told = () => received.some((r) => r.task.id === pushed.result.id && r.task.status.state === "canceled");
for (let i = 0; i < 100 && !told(); i++) await new Promise((later) => setTimeout(later, 50));
check(told() && received.every((r) => r.token === "js-token" && r.path === "/a2a-hook"), "push: the canceled task", received);
hook.close();

const again = await client.cancelTask({ id: task.id });
check(again.error && again.error.code === -32002, "tasks/cancel of a completed task: TaskNotCancelable", again);
const missing = await client.getTask({ id: "no-such-task" });
check(missing.error && missing.error.code === -32001, "tasks/get of an unknown task: TaskNotFound", missing);

console.log(failures === 0 ? "ok" : failures + " checks failed");
process.exit(failures === 0 ? 0 : 1);

// The official `openai` client (from the npm registry) against a cohort node's router:
// its model list, a completion, the same answer streamed with usage, and a refusal it
// raises as the right error class.
//   node openai_router_check.mjs BASE_URL NODE_MODULES_DIR
import { createRequire } from "node:module";

const [baseURL, modules] = process.argv.slice(2);
const require = createRequire(modules + "/package.json");
const OpenAI = require("openai");
const client = new OpenAI({
  baseURL, apiKey: "router-token", maxRetries: 0, timeout: 10000,
  defaultHeaders: { "X-Workflow-Id": "js-client" },
});
const messages = [{ role: "user", content: "Describe the actor model." }];
let failures = 0;
const check = (ok, what, seen) => {
  if (!ok) {
    failures++;
    console.error("FAILED: " + what + (seen === undefined ? "" : ": " + JSON.stringify(seen)));
  }
};

const models = [];
for await (const m of client.models.list()) models.push(m.id);
check(models.includes("fast"), "models.list", models);

const whole = await client.chat.completions.create({ model: "fast", messages });
const answer = whole.choices[0].message.content;
check(typeof answer === "string" && answer.includes("actor model"), "create: content", whole);
check(whole.choices[0].finish_reason === "stop", "create: finish_reason", whole.choices[0]);
check(whole.usage && whole.usage.total_tokens > 0, "create: usage", whole.usage);

const stream = await client.chat.completions.create({
  model: "fast", messages, stream: true, stream_options: { include_usage: true },
});
const chunks = [];
for await (const chunk of stream) chunks.push(chunk);
const text = chunks.map((c) => (c.choices[0] && c.choices[0].delta.content) || "").join("");
check(text === answer, "stream: the same text", text);
check(chunks.length > 3, "stream: in pieces", chunks.length);
const last = chunks[chunks.length - 1];
check(last.usage && last.usage.total_tokens > 0 && last.choices.length === 0, "stream: usage chunk", last);

try {
  await client.chat.completions.create({ model: "no-such-model", messages });
  check(false, "unknown model: no error raised");
} catch (e) {
  check(e instanceof OpenAI.NotFoundError, "unknown model: NotFoundError", e.constructor.name);
  check(e.status === 404 && e.code === "model_not_found", "unknown model: status and code", { status: e.status, code: e.code });
}

console.log(failures === 0 ? "ok" : failures + " checks failed");
process.exit(failures === 0 ? 0 : 1);

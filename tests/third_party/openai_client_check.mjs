// The official `openai` client (from the npm registry) against `cohort mock-llm`:
// structured output (json_schema, json_object), n choices, and streamed usage in a last
// chunk of its own only when stream_options.include_usage asks for it, as OpenAI does.
//   node openai_client_check.mjs BASE_URL NODE_MODULES_DIR
import { createRequire } from "node:module";

const [baseURL, modules] = process.argv.slice(2);
const require = createRequire(modules + "/package.json");
const OpenAI = require("openai");
const client = new OpenAI({ baseURL, apiKey: "not-needed", maxRetries: 0, timeout: 10000 });
const messages = [{ role: "user", content: "Describe Ada Lovelace." }];
let failures = 0;
const check = (ok, what, seen) => {
  if (!ok) {
    failures++;
    console.error("FAILED: " + what + (seen === undefined ? "" : ": " + JSON.stringify(seen)));
  }
};

const schema = {
  type: "object",
  required: ["name", "born", "fields"],
  properties: {
    name: { type: "string", minLength: 3 },
    born: { type: "integer", minimum: 1815 },
    fields: { type: "array", items: { enum: ["mathematics", "computing"] }, minItems: 2 },
  },
};
const structured = await client.chat.completions.create({
  model: "mock", messages,
  response_format: { type: "json_schema", json_schema: { name: "person", schema } },
});
const person = JSON.parse(structured.choices[0].message.content);
check(typeof person.name === "string" && person.name.length >= 3, "json_schema: name", person);
check(Number.isInteger(person.born) && person.born >= 1815, "json_schema: born", person);
check(Array.isArray(person.fields) && person.fields.length >= 2 && person.fields[0] === "mathematics",
      "json_schema: fields", person);

const object = await client.chat.completions.create({ model: "mock", messages, response_format: { type: "json_object" } });
check(typeof JSON.parse(object.choices[0].message.content) === "object", "json_object", object.choices[0]);

const three = await client.chat.completions.create({ model: "mock", messages, n: 3 });
check(three.choices.length === 3, "n: 3 choices", three.choices.length);
check(three.choices.map((c) => c.index).join() === "0,1,2", "n: indices", three.choices);
check(three.usage && three.usage.completion_tokens > 0, "n: usage", three.usage);

async function streamed(includeUsage) {
  const stream = await client.chat.completions.create({
    model: "mock", messages, stream: true, ...(includeUsage ? { stream_options: { include_usage: true } } : {}),
  });
  const chunks = [];
  for await (const chunk of stream) chunks.push(chunk);
  return chunks;
}
const withUsage = await streamed(true);
const last = withUsage[withUsage.length - 1];
check(last.usage && last.usage.total_tokens > 0 && last.choices.length === 0, "stream: usage in a last chunk of its own", last);
check(withUsage.slice(0, -1).every((c) => !c.usage), "stream: no usage before the last chunk");
const text = withUsage.map((c) => (c.choices[0] && c.choices[0].delta.content) || "").join("");
check(text.length > 0, "stream: text", text);
const withoutUsage = await streamed(false);
check(withoutUsage.every((c) => !c.usage), "stream: no usage unless asked for");

console.log(failures === 0 ? "ok" : failures + " checks failed");
process.exit(failures === 0 ? 0 : 1);

#include "spec/output_schema.hpp"

#include "spec/json_schema.hpp"
#include "spec/tool_uses.hpp"

namespace cohort {

void read_output_schema(agent_def& d, const nlohmann::json& a, const model_def& model, const std::string& path,
                        std::vector<std::string>& problems) {
  d.output_schema = a["output_schema"];
  d.output_check = compile_schema_at(d.output_schema, path + ".output_schema", problems);
  d.json_output = true;
  d.max_repairs = a.value("max_repairs", d.max_repairs);
  if (d.params.contains("response_format"))
    problems.push_back(path + ".params.response_format: give the answer's shape by \"output_schema\", not both");
  if (model.takes_json_schema) {
    d.params["response_format"] = {
        {"type", "json_schema"},
        {"json_schema", {{"name", detail::as_callable_name(d.name)}, {"schema", d.output_schema}, {"strict", false}}}};
  } else {
    d.schema_instruction = "Answer with one JSON value only, no prose and no code fences, matching this JSON Schema:\n" +
                           d.output_schema.dump();
  }
}

std::string repair_request(const std::vector<std::string>& problems) {
  std::string text = "That answer does not match the required JSON Schema:";
  for (const auto& p : problems) text += "\n- " + p;
  return text + "\nAnswer again with only the corrected JSON.";
}

}  // namespace cohort

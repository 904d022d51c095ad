#include <gtest/gtest.h>

#include "spec/template.hpp"

using cohort::render;
using cohort::render_json;
using cohort::template_error;
using cohort::template_refs;
using nlohmann::json;

TEST(Template, RendersStringsRawAndValuesAsJson) {
  json scope{{"input", {{"topic", "actors"}, {"n", 3}, {"tags", {"a", "b"}}}}, {"item", "Rust"}};
  EXPECT_EQ(render("About {{input.topic}} ({{input.n}}): {{item}}", scope), "About actors (3): Rust");
  EXPECT_EQ(render("{{input.tags}}", scope), R"(["a","b"])");
  EXPECT_EQ(render("{{ input.tags[1] }}", scope), "b");
  EXPECT_EQ(render("{{input.tags.0}}", scope), "a");
  EXPECT_EQ(render("no references", scope), "no references");
}

TEST(Template, MissingReferenceNamesIt) {
  json scope{{"input", json::object()}};
  try {
    render("x {{input.missing}} y", scope);
    FAIL() << "expected template_error";
  } catch (const template_error& e) {
    EXPECT_NE(std::string(e.what()).find("{{input.missing}}"), std::string::npos) << e.what();
  }
}

TEST(Template, MalformedTemplatesAreErrors) {
  EXPECT_THROW(template_refs("open {{input"), template_error);
  EXPECT_THROW(template_refs("{{}}"), template_error);
  EXPECT_THROW(template_refs("{{input..x}}"), template_error);
  EXPECT_THROW(template_refs("{{input[x]}}"), template_error);
  auto refs = template_refs("{{a.b}} and {{results}}");
  ASSERT_EQ(refs.size(), 2u);
  EXPECT_EQ(refs[0].segments, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(refs[1].text, "results");
}

TEST(Template, RenderJsonKeepsTypesOfWholeReferences) {
  json scope{{"results", {1, 2, 3}}, {"item", {{"name", "x"}}}};
  json tmpl{{"all", "{{results}}"}, {"label", "item {{item.name}}"}, {"n", 5}};
  auto out = render_json(tmpl, scope);
  EXPECT_EQ(out["all"], json({1, 2, 3}));
  EXPECT_EQ(out["label"], "item x");
  EXPECT_EQ(out["n"], 5);
  EXPECT_EQ(render_json(" {{ results }} ", scope), json({1, 2, 3}));
}

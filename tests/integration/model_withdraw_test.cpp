// Every model provider answers a call its asker withdraws (cancel_req_atom). CAF 0.17
// keeps an asker's response handler until an answer comes: the router's long-lived
// desks kept one for every call a client hung up on, for ever (memory, and slower
// lookups of every later answer).
#include <chrono>
#include <string>

#include <gtest/gtest.h>
#include <caf/all.hpp>
#include <nlohmann/json.hpp>

#include "cohort/runtime.hpp"
#include "messages/atoms.hpp"
#include "messages/model_call.hpp"
#include "models/provider_actors.hpp"
#include "runtime/runtime_access.hpp"
#include "spec/model_reader.hpp"
#include "tests/support/scripted_server.hpp"
#include "tests/support/test_runtime.hpp"

namespace cohort {
namespace {

using json = nlohmann::json;

// Asks `provider` for a call, withdraws it at once, and says what answer came (within
// 3 s; the call itself would take far longer).
std::string answer_to_a_withdrawn_call(caf::actor_system& sys, const caf::actor& provider) {
  caf::scoped_actor self{sys};
  model_request req;
  req.id = next_model_request_id();
  req.messages = json::array({{{"role", "user"}, {"content", "never answered"}}});
  auto asked = self->request(provider, std::chrono::seconds(3), req);
  self->send(provider, cancel_req_atom::value, req.id);
  std::string seen;
  asked.receive([&](model_reply& r) { seen = r.ok ? "answered" : r.error.kind; },
                [&](caf::error& e) { seen = "no answer: " + sys.render(e); });
  return seen;
}

TEST(ModelProviders, AWithdrawnCallIsAnsweredWithdrawn) {
  Runtime rt(testing::test_options());
  auto& sys = runtime_access::system(rt);
  testing::scripted_server silent({""}), also_silent({""});  // take the request, never answer
  std::string url = silent.base_url(), other_url = also_silent.base_url();
  auto models = load_models(
      {{"models",
        {{"sim", {{"provider", "sim"}, {"latency_ms", 60000}}},
         {"lone", {{"provider", "openai"}, {"base_url", url}, {"request_timeout_ms", 60000}}},
         {"pooled",
          {{"provider", "openai"}, {"endpoints", {{{"base_url", url}}, {{"base_url", other_url}}}}, {"request_timeout_ms", 60000}}},
         {"queued", {{"provider", "openai"}, {"base_url", url}, {"max_in_flight", 1}, {"request_timeout_ms", 60000}}}}}},
      "test");
  auto sim = spawn_sim_model(sys, models.at("sim"));
  EXPECT_EQ(answer_to_a_withdrawn_call(sys, sim), "cancelled") << "sim model";
  caf::anon_send_exit(sim, caf::exit_reason::user_shutdown);
  EXPECT_EQ(answer_to_a_withdrawn_call(sys, runtime_access::model_provider(rt, models.at("lone"))), "cancelled")
      << "HTTP client, call in flight";
  EXPECT_EQ(answer_to_a_withdrawn_call(sys, runtime_access::model_provider(rt, models.at("pooled"))), "cancelled")
      << "model pool";
  // A call waiting behind one in flight (max_in_flight 1) is answered too.
  auto queued = runtime_access::model_provider(rt, models.at("queued"));
  caf::scoped_actor first{sys};
  model_request busy;
  busy.id = next_model_request_id();
  busy.messages = json::array({{{"role", "user"}, {"content", "holds the one slot"}}});
  first->send(queued, busy);
  EXPECT_EQ(answer_to_a_withdrawn_call(sys, queued), "cancelled") << "HTTP client, call queued";
  first->send(queued, cancel_req_atom::value, busy.id);
}

}  // namespace
}  // namespace cohort

#include "runtime/worker_host.hpp"

#include <deque>
#include <unordered_map>
#include <vector>

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include "agents/spawn_agent.hpp"
#include "messages/cancel.hpp"
#include "messages/cluster.hpp"
#include "messages/event.hpp"
#include "run/run_events.hpp"
#include "runtime/runtime_access.hpp"

namespace cohort {
namespace {

using beat_atom = caf::atom_constant<caf::atom("beat")>;
using branch_deadline_atom = caf::atom_constant<caf::atom("bdeadline")>;
using worker_flush_atom = caf::atom_constant<caf::atom("wflush")>;

// Past a branch's deadline the head cancels it; if that cancel never comes (the head
// stopped caring), the worker stops it itself a little later.
constexpr int64_t deadline_grace_ms = 2000;

class worker_host_logic {
 public:
  worker_host_logic(caf::event_based_actor* self, worker_host_config config)
      : self_(self), config_(std::move(config)) {}

  void joined(const caf::actor& head, uint64_t worker_id, int32_t heartbeat_ms) {
    head_ = head;
    worker_id_ = worker_id;
    heartbeat_ms_ = std::max(50, heartbeat_ms);
    self_->monitor(head_);
    ++generation_;
    self_->send(self_, beat_atom::value, generation_);
  }

  void order(branch_order& o) {
    auto& run = runs_[o.run_id];
    run.last_used_ms = now_ms();
    if (run.shared.ctx) {
      start(run, o);
      return;
    }
    run.parked.push_back(std::move(o));
    if (run.asked) return;
    run.asked = true;
    auto run_id = run.parked.back().run_id;
    self_->request(head_, std::chrono::seconds(10), run_spec_atom::value, run_id)
        .then([this, run_id](run_spec& spec) { spec_arrived(run_id, spec); },
              [this, run_id](caf::error& e) {
                fail_parked(run_id, "connection", "the head did not send the run: " + self_->system().render(e));
              });
  }

  // A branch still waiting for its run's spec never starts: it is answered cancelled now
  // (the head holds its slot until the answer).
  void cancel_branch(const branch_cancel& c) {
    auto it = branches_.find(c.request_id);
    if (it != branches_.end()) {
      self_->send(it->second.leaf, cancel{c.reason});
      return;
    }
    for (auto& [run_id, run] : runs_)
      for (auto o = run.parked.begin(); o != run.parked.end(); ++o)
        if (o->request_id == c.request_id) {
          answer(o->request_id, failure(outcome::cancelled, "cancelled", o->work.path + ": " + c.reason));
          run.parked.erase(o);
          return;
        }
  }

  void deadline(uint64_t request_id) {
    auto it = branches_.find(request_id);
    if (it != branches_.end()) self_->send(it->second.leaf, cancel{"the branch's deadline passed on the worker"});
  }

  void beat(uint64_t generation) {
    if (generation != generation_ || !head_) return;
    self_->request(head_, std::chrono::milliseconds(4 * heartbeat_ms_), heartbeat_atom::value, worker_id_)
        .then([this, generation](bool known) {
          if (!known && generation == generation_) head_lost("the head declared this worker lost");
        });
    drop_idle_runs();
    self_->delayed_send(self_, std::chrono::milliseconds(heartbeat_ms_), beat_atom::value, generation);
  }

  void down(const caf::down_msg& dm) {
    if (head_ && dm.source == head_.address()) head_lost("the connection to the head went down");
  }

  // Everything running here stops: the head is gone, or the worker leaves.
  void stop_all(const std::string& why) {
    for (auto& [id, b] : branches_) {
      self_->send(b.leaf, cancel{why});
      self_->send_exit(b.leaf, caf::exit_reason::user_shutdown);
    }
    branches_.clear();
    for (auto& [id, run] : runs_) end_run(run);
    runs_.clear();
    answers_out_.clear();
    events_out_.clear();
  }

 private:
  struct held_run {
    worker_run shared;
    caf::actor sink;                  // the run's event sink on the head
    std::deque<branch_order> parked;  // orders that came before the run's spec
    bool asked = false;
    int active = 0;
    int64_t last_used_ms = 0;
  };
  struct running_branch {
    caf::actor leaf;
    std::string run_id;
  };

  void head_lost(const std::string& why) {
    spdlog::warn("worker: {}; stopping {} branch(es)", why, branches_.size());
    stop_all(why);
    if (head_) self_->demonitor(head_);
    head_ = caf::actor{};
    worker_id_ = 0;
    ++generation_;
    if (config_.on_head_lost) config_.on_head_lost(why);
  }

  void spec_arrived(const std::string& run_id, run_spec& spec) {
    auto it = runs_.find(run_id);
    if (it == runs_.end()) return;
    if (spec.run_id != run_id) {
      fail_parked(run_id, "cancelled", "the head's run " + run_id + " has ended");
      return;
    }
    try {
      it->second.shared = runtime_access::worker_context(*config_.runtime, spec, config_.own_models,
                                                         caf::actor_cast<caf::actor>(self_));
      it->second.sink = spec.events;
    } catch (const std::exception& e) {
      fail_parked(run_id, "invalid_input", std::string("the worker cannot load the run: ") + e.what());
      return;
    }
    auto parked = std::move(it->second.parked);
    for (auto& o : parked) start(it->second, o);
  }

  void fail_parked(const std::string& run_id, const std::string& kind, const std::string& why) {
    auto it = runs_.find(run_id);
    if (it == runs_.end()) return;
    for (auto& o : it->second.parked) answer(o.request_id, failure(outcome::failed, kind, o.work.path + ": " + why));
    runs_.erase(it);
  }

  void start(held_run& run, branch_order& o) {
    const auto& ctx = run.shared.ctx;
    auto agent = ctx->spec->agents.find(o.agent);
    if (agent == ctx->spec->agents.end()) {
      answer(o.request_id, failure(outcome::failed, "invalid_input", o.work.path + ": no agent " + o.agent));
      return;
    }
    if (agent->second.type == agent_type::tool && !ctx->tools->count(agent->second.tool)) {
      answer(o.request_id, failure(outcome::failed, "placement",
                                   o.work.path + ": tool " + agent->second.tool + " is not on this worker"));
      return;
    }
    auto leaf = spawn_leaf_agent(self_->system(), ctx, agent->second);
    auto id = o.request_id;
    branches_[id] = {leaf, o.run_id};
    ++run.active;
    if (o.work.deadline_ms > 0)
      self_->delayed_send(
          self_, std::chrono::milliseconds(std::max<int64_t>(0, o.work.deadline_ms - now_ms()) + deadline_grace_ms),
          branch_deadline_atom::value, id);
    o.work.keep_alive = false;  // one task, then the leaf ends
    self_->request(leaf, caf::infinite, std::move(o.work))
        .then([this, id](result& r) { finish(id, std::move(r)); },
              [this, id](caf::error& e) {
                finish(id,
                       failure(outcome::failed, "crashed", "the agent on the worker: " + self_->system().render(e)));
              });
  }

  void finish(uint64_t id, result r) {
    auto it = branches_.find(id);
    if (it == branches_.end()) return;  // stopped with the head
    self_->send_exit(it->second.leaf, caf::exit_reason::user_shutdown);
    if (auto run = runs_.find(it->second.run_id); run != runs_.end()) {
      --run->second.active;
      run->second.last_used_ms = now_ms();
    }
    branches_.erase(it);
    answer(id, std::move(r));
  }

  // Answers and events go to the head in batches: what the mailbox brought meanwhile
  // leaves together when the flush scheduled by the first of them comes up (fewer
  // messages over the network under load, no added wait when idle). A branch's events
  // leave before its answer, so its run never ends before they arrive.
  void answer(uint64_t id, result r) {
    answers_out_.push_back(branch_answer{id, worker_id_, std::move(r)});
    schedule_flush();
  }

 public:
  void relay(event& e) {
    events_out_[e.run_id].push_back(std::move(e));
    schedule_flush();
  }

  void flush() {
    flush_scheduled_ = false;
    for (auto& [run_id, events] : events_out_) {
      auto run = runs_.find(run_id);
      if (run != runs_.end() && run->second.sink && !events.empty()) self_->send(run->second.sink, std::move(events));
    }
    events_out_.clear();
    if (head_ && !answers_out_.empty()) self_->send(head_, std::move(answers_out_));
    answers_out_.clear();
  }

 private:
  void schedule_flush() {
    if (flush_scheduled_) return;
    flush_scheduled_ = true;
    self_->send(self_, worker_flush_atom::value);
  }

  void drop_idle_runs() {
    auto now = now_ms();
    for (auto it = runs_.begin(); it != runs_.end();) {
      auto& run = it->second;
      if (run.active == 0 && run.parked.empty() && run.shared.ctx && now - run.last_used_ms > config_.run_idle_ms) {
        end_run(run);
        it = runs_.erase(it);
      } else {
        ++it;
      }
    }
  }

  void end_run(held_run& run) {
    for (auto& a : run.shared.owned) self_->send_exit(a, caf::exit_reason::user_shutdown);
  }

  caf::event_based_actor* self_;
  worker_host_config config_;
  caf::actor head_;
  uint64_t worker_id_ = 0;
  int32_t heartbeat_ms_ = 500;
  uint64_t generation_ = 0;  // of the current membership: beats of an earlier one stop
  std::unordered_map<std::string, held_run> runs_;
  std::unordered_map<uint64_t, running_branch> branches_;
  std::vector<branch_answer> answers_out_;
  std::unordered_map<std::string, std::vector<event>> events_out_;  // by run
  bool flush_scheduled_ = false;
};

caf::behavior worker_host(caf::event_based_actor* self, worker_host_config config) {
  auto logic = std::make_shared<worker_host_logic>(self, std::move(config));
  self->set_down_handler([=](caf::down_msg& dm) { logic->down(dm); });
  return {
      [=](joined_atom, const caf::actor& head, uint64_t id, int32_t heartbeat_ms) {
        logic->joined(head, id, heartbeat_ms);
      },
      [=](std::vector<branch_order>& orders) {
        for (auto& o : orders) logic->order(o);
      },
      [=](event& e) { logic->relay(e); },
      [=](worker_flush_atom) { logic->flush(); },
      [=](const branch_cancel& c) { logic->cancel_branch(c); },
      [=](branch_deadline_atom, uint64_t id) { logic->deadline(id); },
      [=](beat_atom, uint64_t generation) { logic->beat(generation); },
      [=](stop_work_atom) {
        logic->stop_all("the worker is stopping");
        self->quit();
      },
  };
}

}  // namespace

caf::actor spawn_worker_host(caf::actor_system& sys, worker_host_config config) {
  return sys.spawn(worker_host, std::move(config));
}

}  // namespace cohort

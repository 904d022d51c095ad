#include "node/a2a_push.hpp"

#include <atomic>
#include <deque>
#include <stdexcept>
#include <thread>

#include <boost/algorithm/string/predicate.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <spdlog/spdlog.h>

#include "messages/input_limits.hpp"
#include "models/http/http_connection.hpp"
#include "models/http/http_target.hpp"
#include "models/http/tls_client.hpp"
#include "node/a2a_wire.hpp"

namespace cohort::node {
namespace {

constexpr int attempts_per_notification = 3;

// Where one config sends: its URL taken apart, and the header lines its token and
// credentials make.
struct webhook {
  nlohmann::json config;  // as get and list answer it (credentials left out)
  http_target target;
  std::string header_lines;
};

// A string field of `config`, bounded and printable (it may become a header); "" when absent.
std::string field(const nlohmann::json& config, const char* key, size_t max, const std::string& at) {
  if (!config.contains(key)) return "";
  const auto& v = config[key];
  if (!v.is_string() || v.get_ref<const std::string&>().size() > max || has_control_chars(v.get_ref<const std::string&>()))
    throw std::invalid_argument(at + "." + key + " must be a string of at most " + std::to_string(max) +
                                " printable characters");
  return v.get<std::string>();
}

webhook checked_webhook(const nlohmann::json& config, const std::string& task_id, const std::string& at) {
  if (!config.is_object()) throw std::invalid_argument(at + " must be a push notification config: {\"url\", ...}");
  webhook w;
  auto url = field(config, "url", 2048, at);
  auto target = parse_http_target(url);
  if (!target) throw std::invalid_argument(at + ".url must be an http or https URL");
  w.target = *target;
  auto id = field(config, "id", 128, at);
  w.config = {{"id", id.empty() ? task_id : id}, {"url", url}};
  if (auto token = field(config, "token", 1024, at); !token.empty()) {
    w.config["token"] = token;
    w.header_lines += "X-A2A-Notification-Token: " + token + "\r\n";
  }
  if (config.contains("authentication")) {
    const auto& a = config["authentication"];
    auto where = at + ".authentication";
    if (!a.is_object() || !a.contains("schemes") || !a["schemes"].is_array() || a["schemes"].size() > 10)
      throw std::invalid_argument(where + " must be {\"schemes\": [at most 10 names], \"credentials\"}");
    bool bearer = false;
    for (const auto& s : a["schemes"]) {
      if (!s.is_string()) throw std::invalid_argument(where + ".schemes must be names");
      bearer = bearer || boost::algorithm::iequals(s.get<std::string>(), "bearer");
    }
    auto credentials = field(a, "credentials", 4096, where);
    if (bearer && !credentials.empty()) w.header_lines += "Authorization: Bearer " + credentials + "\r\n";
    w.config["authentication"] = {{"schemes", a["schemes"]}};
  }
  return w;
}

// The thread the POSTs run on. a2a_push owns it; subscriptions reach it weakly, so a
// run's event arriving while the node shuts down finds it gone and does nothing.
struct courier {
  boost::asio::io_context io{1};
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work{io.get_executor()};
  std::shared_ptr<boost::asio::ssl::context> tls = make_tls_client_context({});
  std::shared_ptr<std::atomic<int64_t>> open = std::make_shared<std::atomic<int64_t>>(0);
  std::thread thread{[this] {
    for (;;) {
      try {
        io.run();
        return;
      } catch (const std::exception& e) {  // one notification's fault, not the node's
        spdlog::error("a2a: the push notification thread caught: {}", e.what());
      }
    }
  }};

  // Once, by a2a_push (never on the courier's own thread): after it no handler runs.
  void shut() {
    work.reset();
    io.stop();
    if (thread.joinable()) thread.join();
  }
  ~courier() { shut(); }
};

}  // namespace

struct a2a_push::impl {
  explicit impl(run_registry& r) : runs(r) {}
  run_registry& runs;
  std::shared_ptr<courier> post_office = std::make_shared<courier>();
  mutable std::mutex mutex;
  std::map<std::string, std::vector<std::shared_ptr<subscription>>> tasks;  // task ids sort by time
};

// One webhook of one task: it watches the task's run (history first) and POSTs the task,
// one notification at a time, in order. It keeps itself alive until the run's log ended
// and its last POST is done, or until it is stopped.
class a2a_push::subscription : public event_watcher, public std::enable_shared_from_this<subscription> {
 public:
  subscription(std::weak_ptr<courier> post_office, webhook hook, std::string task_id, std::string context_id)
      : post_office_(std::move(post_office)),
        hook_(std::move(hook)),
        task_id_(std::move(task_id)),
        context_id_(std::move(context_id)) {}

  const nlohmann::json& config() const { return hook_.config; }
  std::string id() const { return hook_.config.value("id", ""); }

  void start() {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!stopped_) self_ = shared_from_this();
  }

  // Nothing queued or being sent.
  bool idle_now() {
    std::lock_guard<std::mutex> lock(mutex_);
    return !busy_;
  }

  void stop() {
    std::shared_ptr<subscription> last;  // let go after the lock
    std::lock_guard<std::mutex> lock(mutex_);
    stopped_ = true;
    queue_.clear();
    last = std::move(self_);
  }

  // Called under the run registry's lock: only queues.
  void deliver(const nlohmann::json& event, bool) override {
    auto kind = event.value("kind", "");
    nlohmann::json run;
    if (kind == "started") {  // every agent's and pattern's start: the first tells "working"
      std::lock_guard<std::mutex> lock(mutex_);
      if (working_told_) return;
      working_told_ = true;
      run = {{"id", task_id_}, {"status", "running"}};
    } else if (kind == "result") {
      run = {{"id", task_id_}};
      run.update(event.value("result", nlohmann::json::object()));
    } else {
      return;
    }
    auto body = a2a::task(run, context_id_).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopped_) return;
    queue_.push_back(std::move(body));
    if (!busy_) {
      busy_ = true;
      post_next();
    }
  }

  void end() override {
    std::shared_ptr<subscription> last;
    std::lock_guard<std::mutex> lock(mutex_);
    ended_ = true;
    if (!busy_) last = std::move(self_);
  }
  void deliver_data(const std::string&) override {}
  void on_close(std::function<void()>) override {}

 private:
  // Under mutex_: the next POST, on the courier's thread.
  void post_next() {
    auto c = post_office_.lock();
    if (!c) return;
    boost::asio::post(c->io, [self = shared_from_this()] { self->send_front(); });
  }

  void send_front() {
    std::string body;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (stopped_ || queue_.empty()) return idle();
      body = queue_.front();
    }
    auto c = post_office_.lock();
    if (!c) return;
    const auto& t = hook_.target;
    auto request = "POST " + t.target + " HTTP/1.1\r\nHost: " + t.host_header +
                   "\r\nContent-Type: application/json\r\nUser-Agent: cohort/0.1\r\nConnection: close\r\n" +
                   hook_.header_lines + "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
    // The connection keeps itself alive while it works: held weakly here, so a subscription
    // let go at shutdown never outlives the I/O its socket belongs to.
    auto connection = make_http_connection(c->io, t.host, t.port, t.https ? c->tls : nullptr, true, c->open);
    std::weak_ptr<http_connection> weak_connection = connection;
    connection->send([request] { return request; }, std::chrono::seconds(5), std::chrono::seconds(10),
                     [weak = weak_from_this(), weak_connection](http_outcome o) {
                       if (auto used = weak_connection.lock()) used->close_gracefully();
                       if (auto self = weak.lock()) self->sent(o);
                     });
  }

  // On the courier's thread.
  void sent(const http_outcome& o) {
    bool delivered = o.status >= 200 && o.status < 300;
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopped_) return idle();
    if (!delivered && ++attempts_ < attempts_per_notification) {
      auto c = post_office_.lock();
      if (!c) return;
      auto timer = std::make_shared<boost::asio::steady_timer>(c->io, std::chrono::milliseconds(500 * attempts_));
      timer->async_wait([self = shared_from_this(), timer](const boost::system::error_code&) { self->send_front(); });
      return;
    }
    if (!delivered)
      spdlog::warn("a2a: push notification for task {} to {} dropped after {} attempts: {}", task_id_,
                   hook_.config.value("url", ""), attempts_per_notification,
                   o.status ? "HTTP " + std::to_string(o.status) : o.error.empty() ? o.error_kind : o.error);
    attempts_ = 0;
    queue_.pop_front();
    if (queue_.empty()) return idle();
    post_next();
  }

  // Under mutex_ (or alone): nothing to send now; let go once the run's log has ended.
  void idle() {
    busy_ = false;
    if (ended_ || stopped_) {
      auto last = std::move(self_);
      (void)last;  // this object outlives the call: the caller's handler holds it too
    }
  }

  std::weak_ptr<courier> post_office_;
  webhook hook_;
  std::string task_id_, context_id_;
  std::mutex mutex_;
  std::deque<std::string> queue_;  // notification bodies, oldest first
  int attempts_ = 0;
  bool busy_ = false, ended_ = false, stopped_ = false, working_told_ = false;
  std::shared_ptr<subscription> self_;
};

a2a_push::a2a_push(run_registry& runs) : impl_(std::make_unique<impl>(runs)) {}

a2a_push::~a2a_push() {
  std::map<std::string, std::vector<std::shared_ptr<subscription>>> tasks;
  {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    tasks.swap(impl_->tasks);
  }
  // The runs that ended as the node drained: their final notifications get a moment.
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  auto busy = [&] {
    for (auto& [id, subs] : tasks)
      for (auto& s : subs)
        if (!s->idle_now()) return true;
    return false;
  };
  while (busy() && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  for (auto& [id, subs] : tasks)
    for (auto& s : subs) s->stop();
  impl_->post_office->shut();
}

nlohmann::json a2a_push::set(const std::string& task_id, const std::string& context_id, const nlohmann::json& config,
                             const std::string& at) {
  auto hook = checked_webhook(config, task_id, at);
  auto sub = std::make_shared<subscription>(impl_->post_office, std::move(hook), task_id, context_id);
  std::vector<std::shared_ptr<subscription>> replaced;
  {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    auto& subs = impl_->tasks[task_id];
    for (auto it = subs.begin(); it != subs.end();)
      if ((*it)->id() == sub->id()) {
        replaced.push_back(*it);
        it = subs.erase(it);
      } else {
        ++it;
      }
    if (subs.size() >= max_per_task)
      throw std::invalid_argument(at + ": a task has at most " + std::to_string(max_per_task) +
                                  " push notification configs");
    subs.push_back(sub);
    while (impl_->tasks.size() > max_tasks) {
      for (auto& s : impl_->tasks.begin()->second) replaced.push_back(s);
      impl_->tasks.erase(impl_->tasks.begin());
    }
  }
  for (auto& s : replaced) s->stop();
  sub->start();
  try {
    impl_->runs.watch(task_id, 0, sub);
  } catch (...) {
    remove(task_id, sub->id());
    throw;
  }
  return sub->config();
}

void a2a_push::check(const nlohmann::json& config, const std::string& at) { (void)checked_webhook(config, "", at); }

nlohmann::json a2a_push::get(const std::string& task_id, const std::string& config_id) const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  auto it = impl_->tasks.find(task_id);
  if (it == impl_->tasks.end()) return nullptr;
  for (const auto& s : it->second)
    if (s->id() == config_id) return s->config();
  return nullptr;
}

nlohmann::json a2a_push::list(const std::string& task_id) const {
  auto out = nlohmann::json::array();
  std::lock_guard<std::mutex> lock(impl_->mutex);
  auto it = impl_->tasks.find(task_id);
  if (it != impl_->tasks.end())
    for (const auto& s : it->second) out.push_back(s->config());
  return out;
}

bool a2a_push::remove(const std::string& task_id, const std::string& config_id) {
  std::shared_ptr<subscription> gone;
  {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    auto it = impl_->tasks.find(task_id);
    if (it == impl_->tasks.end()) return false;
    auto& subs = it->second;
    for (auto s = subs.begin(); s != subs.end(); ++s)
      if ((*s)->id() == config_id) {
        gone = *s;
        subs.erase(s);
        break;
      }
    if (subs.empty()) impl_->tasks.erase(it);
  }
  if (gone) gone->stop();
  return gone != nullptr;
}

}  // namespace cohort::node

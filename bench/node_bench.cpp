// make bench, the node's part: a real `cohort serve` (started by run.sh, its port given)
// driven over HTTP on 127.0.0.1, each figure next to a baseline measured in the same run.
//   latency PORT N              submit-to-result of a one-agent sim run (p50, p99), next to
//                               a GET /healthz round trip and the same run embedded
//   throughput PORT RUNS C [stream|wait]
//                               runs completed per second with C clients each submitting
//                               and waiting for the result, next to the same runs embedded
//                               with C in flight; stream (the default): submit, then read
//                               the event stream to the result; wait: one request each,
//                               answered at the run's end ("wait_ms")
//   watchers PORT W BRANCHES    events per second delivered to W SSE watchers of one run of
//                               BRANCHES sim branches, next to one watcher of the same run
//   messages PORT N             round trip of a message between two external agents through
//                               the node's agent API (ping sends, pong's long poll gets it and
//                               answers, ping's long poll gets that), next to four GET /healthz
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <nlohmann/json.hpp>

#include "cohort/runtime.hpp"

namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;
using clock_type = std::chrono::steady_clock;
using json = nlohmann::json;

double ms_since(clock_type::time_point t) {
  return std::chrono::duration<double, std::milli>(clock_type::now() - t).count();
}

// A keep-alive HTTP/1.1 connection to the node.
class link {
 public:
  explicit link(int port) : socket_(io_) {
    socket_.connect({asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)});
    socket_.set_option(tcp::no_delay(true));
  }
  std::pair<unsigned, std::string> request(http::verb verb, const std::string& target, const std::string& body = "") {
    http::request<http::string_body> req{verb, target, 11};
    req.set(http::field::host, "127.0.0.1");
    if (!body.empty()) req.set(http::field::content_type, "application/json");
    req.body() = body;
    req.prepare_payload();
    http::write(socket_, req);
    http::response<http::string_body> res;
    http::read(socket_, buffer_, res);
    return {res.result_int(), std::move(res.body())};
  }

 private:
  asio::io_context io_;
  tcp::socket socket_;
  boost::beast::flat_buffer buffer_;
};

struct stream_count {
  size_t events = 0;
  bool result = false;
  int64_t last_id = 0;
};

// Reads a run's event stream to its end (resuming after a "dropped" notice), counting
// the events; the stream connection is the node's to close.
stream_count watch(int port, const std::string& id) {
  stream_count c;
  while (!c.result) {
    asio::io_context io;
    tcp::socket s(io);
    s.connect({asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)});
    std::string req = "GET /v1/runs/" + id + "/events HTTP/1.1\r\nHost: 127.0.0.1\r\n";
    if (c.last_id > 0) req += "Last-Event-ID: " + std::to_string(c.last_id) + "\r\n";
    req += "\r\n";
    asio::write(s, asio::buffer(req));
    std::string pending;
    char buf[65536];
    boost::system::error_code ec;
    size_t before = c.events;
    for (;;) {
      size_t n = s.read_some(asio::buffer(buf), ec);
      pending.append(buf, n);
      size_t at;
      while ((at = pending.find("\n\n")) != std::string::npos) {
        auto block = pending.substr(0, at);
        pending.erase(0, at + 2);
        if (block.rfind("id: ", 0) == 0) {
          c.last_id = std::stoll(block.substr(4));
          ++c.events;
          if (block.find("\nevent: result\n") != std::string::npos) c.result = true;
        } else if (auto head = block.find("\r\n\r\nid: "); head != std::string::npos) {  // the first, after the header
          c.last_id = std::stoll(block.substr(head + 8));
          ++c.events;
          if (block.find("\nevent: result\n") != std::string::npos) c.result = true;
        }
      }
      if (ec) break;
    }
    if (!c.result && c.events == before) {
      std::fprintf(stderr, "the stream of %s ended without events or a result\n", id.c_str());
      break;
    }
  }
  return c;
}

std::string one_agent_scenario() {
  return R"({"name": "one", "models": {"m": {"provider": "sim", "latency_ms": 0}},
             "agents": {"a": {"type": "llm", "model": "m", "prompt": "hello"}}, "workflow": {"agent": "a"}})";
}

json wide_scenario(int branches) {
  auto doc = json::parse(R"({"name": "wide", "models": {"m": {"provider": "sim", "latency_ms": {"min": 0, "max": 1000}}},
    "agents": {"a": {"type": "llm", "model": "m", "prompt": "item {{item}}"}},
    "workflow": {"type": "fan_out", "over": "input.items", "do": {"agent": "a"}, "policy": "all_settled"}})");
  json items = json::array();
  for (int i = 0; i < branches; ++i) items.push_back(i);
  doc["input"] = {{"items", items}};
  return doc;
}

std::string submit(link& l, const std::string& scenario_json) {
  auto [status, body] = l.request(http::verb::post, "/v1/runs", "{\"scenario\": " + scenario_json + "}");
  if (status != 201) throw std::runtime_error("POST /v1/runs: " + std::to_string(status) + " " + body);
  return json::parse(body)["id"].get<std::string>();
}

// One request: the answer is the ended run. Whether it succeeded.
bool submit_and_wait(link& l, const std::string& scenario_json) {
  auto [status, body] = l.request(http::verb::post, "/v1/runs", "{\"wait_ms\": 60000, \"scenario\": " + scenario_json + "}");
  if (status != 201) throw std::runtime_error("POST /v1/runs: " + std::to_string(status) + " " + body);
  return json::parse(body)["status"] == "succeeded";
}

void report(const char* what, std::vector<double> ms) {
  std::sort(ms.begin(), ms.end());
  auto at = [&](double q) { return ms[std::min(ms.size() - 1, static_cast<size_t>(q * static_cast<double>(ms.size())))]; };
  std::printf("%-44s p50 %8.3f ms  p99 %8.3f ms  (%zu samples)\n", what, at(0.50), at(0.99), ms.size());
}

int latency(int port, int n) {
  link l(port);
  auto scenario = one_agent_scenario();
  std::vector<double> node_ms, wait_ms, health_ms, embedded_ms;
  for (int i = 0; i < n / 10; ++i) watch(port, submit(l, scenario));  // warm up
  for (int i = 0; i < n; ++i) {
    auto t = clock_type::now();
    auto c = watch(port, submit(l, scenario));
    node_ms.push_back(ms_since(t));
    if (!c.result) return 1;
  }
  for (int i = 0; i < n; ++i) {
    auto t = clock_type::now();
    if (!submit_and_wait(l, scenario)) return 1;
    wait_ms.push_back(ms_since(t));
  }
  for (int i = 0; i < n; ++i) {
    auto t = clock_type::now();
    l.request(http::verb::get, "/healthz");
    health_ms.push_back(ms_since(t));
  }
  cohort::Runtime rt;
  auto loaded = rt.load(json::parse(scenario));
  for (int i = 0; i < n; ++i) {
    auto t = clock_type::now();
    rt.run(loaded);
    embedded_ms.push_back(ms_since(t));
  }
  report("node: POST /v1/runs -> result event", node_ms);
  report("node: POST /v1/runs with wait_ms -> the ended run", wait_ms);
  report("baseline: GET /healthz on a kept connection", health_ms);
  report("baseline: the same run embedded (Runtime::run)", embedded_ms);
  return 0;
}

int throughput(int port, int runs, int clients, bool one_request) {
  auto scenario = one_agent_scenario();
  std::atomic<int> next{0}, failed{0};
  auto t = clock_type::now();
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c)
    threads.emplace_back([&] {
      try {
        link l(port);
        while (next.fetch_add(1) < runs)
          if (one_request ? !submit_and_wait(l, scenario) : !watch(port, submit(l, scenario)).result) ++failed;
      } catch (const std::exception& e) {
        std::fprintf(stderr, "client: %s\n", e.what());
        ++failed;
      }
    });
  for (auto& th : threads) th.join();
  double node_s = ms_since(t) / 1000;

  cohort::Runtime rt;
  auto loaded = rt.load(json::parse(scenario));
  int embedded_runs = std::min(runs, 20000);
  t = clock_type::now();
  std::vector<cohort::Run> in_flight;
  for (int i = 0; i < embedded_runs; ++i) {
    in_flight.push_back(rt.start(loaded));
    if (static_cast<int>(in_flight.size()) == clients) {
      for (auto& r : in_flight) r.wait();
      in_flight.clear();
    }
  }
  for (auto& r : in_flight) r.wait();
  double embedded_s = ms_since(t) / 1000;
  std::printf("node: %d runs by %d clients (%s): %.0f runs/s, %d failed\n", runs, clients,
              one_request ? "one request each, answered at the run's end" : "submit, then the event stream to the result",
              runs / node_s, failed.load());
  std::printf("baseline: %d of the same runs embedded, %d in flight: %.0f runs/s; node/embedded %.2f\n", embedded_runs,
              clients, embedded_runs / embedded_s, (runs / node_s) / (embedded_runs / embedded_s));
  return failed.load() == 0 ? 0 : 1;
}

// Events per second delivered to `watchers` watchers of one wide run.
double delivered_rate(int port, int watchers, int branches, size_t* per_watcher) {
  link l(port);
  auto id = submit(l, wide_scenario(branches).dump());
  std::vector<size_t> counts(static_cast<size_t>(watchers));
  auto t = clock_type::now();
  std::vector<std::thread> threads;
  for (int w = 0; w < watchers; ++w)
    threads.emplace_back([&, w] { counts[static_cast<size_t>(w)] = watch(port, id).events; });
  for (auto& th : threads) th.join();
  double s = ms_since(t) / 1000;
  size_t total = 0;
  for (auto c : counts) total += c;
  *per_watcher = counts.empty() ? 0 : *std::min_element(counts.begin(), counts.end());
  return static_cast<double>(total) / s;
}

int watchers(int port, int watchers, int branches) {
  size_t one_events = 0, many_events = 0;
  double one = delivered_rate(port, 1, branches, &one_events);
  double many = delivered_rate(port, watchers, branches, &many_events);
  std::printf("node: %d watchers of one %d-branch run: %.0f events/s delivered in all (each watcher got all %zu)\n",
              watchers, branches, many, many_events);
  std::printf("baseline: 1 watcher of the same run: %.0f events/s (%zu events); %d watchers / 1: %.1fx\n", one, one_events,
              watchers, many / one);
  return many_events == one_events ? 0 : 1;
}

}  // namespace

namespace {

// Two external agents, ping and pong, in a run that waits for them.
std::string ping_pong_scenario() {
  return R"({"name": "ping-pong", "timeout_ms": 600000,
             "agents": {"ping": {"type": "external", "timeout_ms": 600000}, "pong": {"type": "external", "timeout_ms": 600000}},
             "workflow": {"type": "fan_out", "branches": [{"agent": "ping"}, {"agent": "pong"}]}})";
}

// One message from a long poll of `agent`'s mailbox (empty polls are asked again).
json next_message(link& l, const std::string& run, const std::string& agent) {
  for (;;) {
    auto [status, body] =
        l.request(http::verb::get, "/v1/workflows/" + run + "/agents/" + agent + "/messages?max=1&timeout_ms=10000");
    if (status != 200) throw std::runtime_error("messages: " + std::to_string(status) + " " + body);
    auto list = json::parse(body)["messages"];
    if (!list.empty()) return list[0];
  }
}

int messages(int port, int n) {
  link control(port);
  auto run = submit(control, ping_pong_scenario());
  auto send = [&](link& l, const std::string& from, const std::string& to, int i) {
    auto [status, body] = l.request(http::verb::post, "/v1/workflows/" + run + "/agents/" + from + "/send",
                                    json{{"to", to}, {"content", i}}.dump());
    if (status != 200) throw std::runtime_error("send: " + std::to_string(status) + " " + body);
  };
  std::thread pong([&] {
    link l(port);
    for (int i = 0; i < n + n / 10; ++i) send(l, "pong", "ping", next_message(l, run, "pong")["content"].get<int>());
  });
  link ping(port);
  std::vector<double> rtt_ms, health_ms;
  for (int i = 0; i < n + n / 10; ++i) {  // the first tenth warms up
    auto t = clock_type::now();
    send(ping, "ping", "pong", i);
    if (next_message(ping, run, "ping")["content"] != i) return 1;
    if (i >= n / 10) rtt_ms.push_back(ms_since(t));
  }
  pong.join();
  control.request(http::verb::post, "/v1/runs/" + run + "/cancel");
  for (int i = 0; i < n; ++i) {
    auto t = clock_type::now();
    for (int k = 0; k < 4; ++k) ping.request(http::verb::get, "/healthz");
    health_ms.push_back(ms_since(t));
  }
  report("node: message round trip ping -> pong -> ping", rtt_ms);
  report("baseline: four GET /healthz on a kept connection", health_ms);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  alarm(1800);  // a benchmark that hangs ends
  if (argc < 3) {
    std::fprintf(stderr, "usage: cohort_node_bench latency|throughput|watchers|messages PORT ...\n");
    return 2;
  }
  std::string mode = argv[1];
  int port = std::stoi(argv[2]);
  auto arg = [&](int i, int fallback) { return argc > i ? std::stoi(argv[i]) : fallback; };
  try {
    if (mode == "latency") return latency(port, arg(3, 2000));
    if (mode == "throughput")
      return throughput(port, arg(3, 100000), arg(4, 64), argc > 5 && std::string(argv[5]) == "wait");
    if (mode == "watchers") return watchers(port, arg(3, 100), arg(4, 10000));
    if (mode == "messages") return messages(port, arg(3, 2000));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cohort_node_bench %s: %s\n", mode.c_str(), e.what());
    return 1;
  }
  std::fprintf(stderr, "unknown mode %s\n", mode.c_str());
  return 2;
}

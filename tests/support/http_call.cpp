#include "tests/support/http_call.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <functional>
#include <thread>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

namespace cohort::testing {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

asio::ip::tcp::endpoint local(int port) {
  return {asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)};
}

}  // namespace

http_answer http_call(int port, const std::string& method, const std::string& target, const std::string& body,
                      const std::vector<std::pair<std::string, std::string>>& headers, int timeout_ms) {
  http_answer out;
  try {
    asio::io_context io;
    beast::tcp_stream stream(io);
    stream.expires_after(std::chrono::milliseconds(timeout_ms));
    stream.connect(local(port));
    http::request<http::string_body> req{http::string_to_verb(method), target, 11};
    req.set(http::field::host, "127.0.0.1");
    for (const auto& [name, value] : headers) req.set(name, value);
    if (!body.empty()) req.set(http::field::content_type, "application/json");
    req.body() = body;
    req.keep_alive(false);
    req.prepare_payload();
    http::write(stream, req);
    beast::flat_buffer buf;
    http::response_parser<http::string_body> parser;
    parser.body_limit(64u << 20);
    http::read(stream, buf, parser);
    auto res = parser.release();
    out.status = static_cast<int>(res.result_int());
    for (const auto& field : res) {
      std::string name(field.name_string());
      std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
      out.headers[name] = std::string(field.value());
    }
    out.body = res.body();
  } catch (const std::exception&) {
    out.status = 0;
  }
  return out;
}

namespace {

// `writes` sent, `gap_ms` apart; everything read until the server closes (or the time is up).
std::string read_until_closed(int port, const std::vector<std::string>& writes, int timeout_ms, int gap_ms = 0) {
  std::string got;
  try {
    asio::io_context io;
    beast::tcp_stream stream(io);
    stream.expires_after(std::chrono::milliseconds(timeout_ms));
    stream.connect(local(port));
    for (size_t i = 0; i < writes.size(); ++i) {
      if (i > 0) std::this_thread::sleep_for(std::chrono::milliseconds(gap_ms));
      asio::write(stream, asio::buffer(writes[i]));
    }
    // Read asynchronously: the stream's deadline binds async operations only, and a
    // stream the server keeps open must still end at timeout_ms.
    char buf[4096];
    std::function<void()> read_more = [&] {
      stream.async_read_some(asio::buffer(buf), [&](boost::system::error_code ec, size_t n) {
        got.append(buf, n);
        if (!ec) read_more();
      });
    };
    read_more();
    io.run();
  } catch (const std::exception&) {
  }
  return got;
}

std::string header_lines(const std::vector<std::pair<std::string, std::string>>& headers) {
  std::string lines;
  for (const auto& [name, value] : headers) lines += name + ": " + value + "\r\n";
  return lines;
}

}  // namespace

std::string http_stream(int port, const std::string& target,
                        const std::vector<std::pair<std::string, std::string>>& headers, int timeout_ms) {
  return read_until_closed(port, {"GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" + header_lines(headers) + "\r\n"},
                           timeout_ms);
}

std::string http_post_stream(int port, const std::string& target, const std::string& body,
                             const std::vector<std::pair<std::string, std::string>>& headers, int timeout_ms) {
  return read_until_closed(port,
                           {"POST " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n" +
                            header_lines(headers) + "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body},
                           timeout_ms);
}

std::string http_raw(int port, const std::vector<std::string>& writes, int gap_ms, int timeout_ms) {
  return read_until_closed(port, writes, timeout_ms, gap_ms);
}

}  // namespace cohort::testing

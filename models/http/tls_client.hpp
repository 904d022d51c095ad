#pragma once
// TLS for the HTTP-client actors: one OpenSSL client context per endpoint
// configuration, set up once and shared by its connections, and what each
// connection does before and after its handshake.
#include <memory>
#include <string>

#include <boost/asio/ssl/context.hpp>

namespace cohort {

struct tls_client_options {
  std::string ca_file;  // PEM: trusted besides the system CA store ("" = the store alone)
  bool verify = true;   // false: no certificate check at all (unsafe; for tests and labs)
};

// Throws std::runtime_error naming the file when the CA file cannot be loaded.
std::shared_ptr<boost::asio::ssl::context> make_tls_client_context(const tls_client_options& options);

// Before the handshake: SNI (for a host name) and the name or IP address the
// certificate must carry. Returns false when OpenSSL refuses either.
bool prepare_tls_client(SSL* ssl, const std::string& host, bool verify);

// After a failed handshake: why the peer's certificate was not accepted, or "" when
// verification was not what failed.
std::string tls_verify_failure(SSL* ssl);

}  // namespace cohort

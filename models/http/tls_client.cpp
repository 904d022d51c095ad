#include "models/http/tls_client.hpp"

#include <stdexcept>

#include <boost/asio/ip/address.hpp>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

namespace cohort {

namespace ssl = boost::asio::ssl;

std::shared_ptr<ssl::context> make_tls_client_context(const tls_client_options& options) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                   ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
  if (!options.verify) {
    ctx->set_verify_mode(ssl::verify_none);
    return ctx;
  }
  boost::system::error_code ec;
  ctx->set_default_verify_paths(ec);  // the system store; a missing one leaves only ca_file
  if (!options.ca_file.empty()) {
    ctx->load_verify_file(options.ca_file, ec);
    if (ec)
      throw std::runtime_error("cannot load the CA file \"" + options.ca_file + "\" (ca_file): " + ec.message());
  }
  ctx->set_verify_mode(ssl::verify_peer);
  return ctx;
}

bool prepare_tls_client(SSL* ssl, const std::string& host, bool verify) {
  boost::system::error_code not_ip;
  boost::asio::ip::make_address(host, not_ip);
  // SNI carries host names only (RFC 6066), never an address.
  if (not_ip && SSL_set_tlsext_host_name(ssl, host.c_str()) != 1) return false;
  if (!verify) return true;
  // OpenSSL checks the name during verification, so a mismatch reports
  // X509_V_ERR_HOSTNAME_MISMATCH / IP_ADDRESS_MISMATCH like any other failure.
  auto* param = SSL_get0_param(ssl);
  if (not_ip) {
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    return X509_VERIFY_PARAM_set1_host(param, host.c_str(), host.size()) == 1;
  }
  return X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str()) == 1;
}

std::string tls_verify_failure(SSL* ssl) {
  auto result = SSL_get_verify_result(ssl);
  if (result == X509_V_OK) return {};
  return X509_verify_cert_error_string(result);
}

}  // namespace cohort

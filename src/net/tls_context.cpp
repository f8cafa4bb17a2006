// Kept apart from tls.cpp so that only this file pays for the Asio SSL headers.
#include <boost/asio/ssl.hpp>

#include "net/tls.hpp"

namespace caremail::net {

Result<std::shared_ptr<boost::asio::ssl::context>> make_server_context(const TlsFiles& files,
                                                                        const std::string& min_version) {
  namespace ssl = boost::asio::ssl;
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  SSL_CTX* raw = ctx->native_handle();
  SSL_CTX_set_min_proto_version(raw, min_version == "1.3" ? TLS1_3_VERSION : TLS1_2_VERSION);
  SSL_CTX_set_options(raw, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  // Idle connections (IMAP IDLE) give their record buffers back between reads.
  SSL_CTX_set_mode(raw, SSL_MODE_RELEASE_BUFFERS);
  // TLS 1.2: AEAD and forward secrecy only. TLS 1.3 suites are all acceptable.
  SSL_CTX_set_cipher_list(raw, "ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:DHE+CHACHA20");
  boost::system::error_code ec;
  ctx->use_certificate_chain_file(files.cert.string(), ec);
  if (ec) return make_error(Errc::invalid_argument, files.cert.string() + ": cannot load certificate: " + ec.message());
  ctx->use_private_key_file(files.key.string(), ssl::context::pem, ec);
  if (ec) return make_error(Errc::invalid_argument, files.key.string() + ": cannot load private key: " + ec.message());
  if (SSL_CTX_check_private_key(raw) != 1)
    return make_error(Errc::invalid_argument, files.key.string() + ": private key does not match the certificate");
  return ctx;
}

}  // namespace caremail::net

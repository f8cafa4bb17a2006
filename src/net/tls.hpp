// TLS for every listener: certificate files (configured, or self-signed and generated on
// first start) and the server context (TLS 1.2 or newer only, no compression, no
// renegotiation, forward-secret ciphers).
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "common/config.hpp"
#include "common/result.hpp"

namespace boost::asio::ssl { class context; }

namespace caremail::net {

struct TlsFiles {
  std::filesystem::path cert;
  std::filesystem::path key;
  bool generated = false;
};

// The configured files, or data_dir/tls/{cert,key}.pem, generated (EC P-256, 2 years,
// SAN = hostname, localhost, 127.0.0.1, ::1) when absent. The key file is mode 0600.
Result<TlsFiles> ensure_certificate(const Config& config);

// Errors name the file that could not be loaded.
Result<std::shared_ptr<boost::asio::ssl::context>> make_server_context(const TlsFiles& files,
                                                                        const std::string& min_version);

}  // namespace caremail::net

#include "net/tls.hpp"

#include <sys/stat.h>

#include <cstdio>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "common/log.hpp"

namespace caremail::net {

namespace {

std::string openssl_error() {
  unsigned long e = ERR_get_error();
  if (!e) return "unknown OpenSSL error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

Status generate(const std::filesystem::path& cert_path, const std::filesystem::path& key_path,
                const std::string& hostname) {
  EVP_PKEY* pkey = EVP_EC_gen("P-256");
  if (!pkey) return make_error(Errc::io, "generating a TLS key: " + openssl_error());
  X509* x = X509_new();
  Status result;
  do {
    X509_set_version(x, 2);
    unsigned char serial[16];
    FILE* ur = std::fopen("/dev/urandom", "rb");
    if (!ur || std::fread(serial, 1, sizeof serial, ur) != sizeof serial) {
      if (ur) std::fclose(ur);
      result = make_error(Errc::io, "reading /dev/urandom for a certificate serial");
      break;
    }
    std::fclose(ur);
    serial[0] &= 0x7f;
    BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x));
    BN_free(bn);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 2L * 365 * 24 * 3600);
    X509_set_pubkey(x, pkey);
    X509_NAME* name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("Caremail (self-signed)"),
                               -1, -1, 0);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(hostname.c_str()), -1,
                               -1, 0);
    X509_set_issuer_name(x, name);
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, x, x, nullptr, nullptr, 0);
    std::string san = "DNS:" + hostname + ",DNS:localhost,IP:127.0.0.1,IP:::1";
    for (auto [nid, value] : {std::pair{NID_subject_alt_name, san.c_str()},
                              std::pair{NID_basic_constraints, "critical,CA:FALSE"},
                              std::pair{NID_ext_key_usage, "serverAuth"}}) {
      X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
      if (!ext) { result = make_error(Errc::io, "certificate extension: " + openssl_error()); break; }
      X509_add_ext(x, ext, -1);
      X509_EXTENSION_free(ext);
    }
    if (!result) break;
    if (!X509_sign(x, pkey, EVP_sha256())) { result = make_error(Errc::io, "signing certificate: " + openssl_error()); break; }

    std::string key_tmp = key_path.string() + ".tmp";
    FILE* kf = std::fopen(key_tmp.c_str(), "wb");
    if (!kf) { result = make_error(Errc::io, "cannot write " + key_tmp); break; }
    ::chmod(key_tmp.c_str(), 0600);
    bool ok = PEM_write_PrivateKey(kf, pkey, nullptr, nullptr, 0, nullptr, nullptr) == 1;
    std::fclose(kf);
    FILE* cf = std::fopen(cert_path.c_str(), "wb");
    ok = ok && cf && PEM_write_X509(cf, x) == 1;
    if (cf) std::fclose(cf);
    if (!ok || std::rename(key_tmp.c_str(), key_path.c_str()) != 0) {
      result = make_error(Errc::io, "cannot write TLS files in " + cert_path.parent_path().string());
      break;
    }
  } while (false);
  X509_free(x);
  EVP_PKEY_free(pkey);
  return result;
}

}  // namespace

Result<TlsFiles> ensure_certificate(const Config& config) {
  if (!config.tls.cert_file.empty()) {
    std::error_code ec;
    for (const auto& p : {config.tls.cert_file, config.tls.key_file})
      if (!std::filesystem::exists(p, ec))
        return make_error(Errc::invalid_argument, "tls.cert_file/tls.key_file: " + p.string() +
                                                      " does not exist; fix the path or remove both options to "
                                                      "use a generated self-signed certificate");
    return TlsFiles{config.tls.cert_file, config.tls.key_file, false};
  }
  auto dir = config.tls_dir();
  TlsFiles f{dir / "cert.pem", dir / "key.pem", false};
  std::error_code ec;
  if (std::filesystem::exists(f.cert, ec) && std::filesystem::exists(f.key, ec)) return f;
  std::filesystem::create_directories(dir, ec);
  ::chmod(dir.c_str(), 0700);
  if (Status s = generate(f.cert, f.key, config.server.hostname); !s) return s.error();
  f.generated = true;
  log::info("tls.self_signed_generated", {{"cert", f.cert.string()}, {"hostname", config.server.hostname}});
  return f;
}

}  // namespace caremail::net

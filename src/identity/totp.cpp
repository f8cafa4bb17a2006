#include "identity/totp.hpp"

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>

#include <liboath/oath.h>
#include <sodium.h>

#include "crypto/crypto.hpp"

namespace caremail::identity {

namespace {

void ensure_oath() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (int rc = oath_init(); rc != OATH_OK) {
      std::fprintf(stderr, "caremail: liboath failed to initialise: %s\n", oath_strerror(rc));
      std::abort();
    }
  });
}

struct FreeDeleter {
  void operator()(char* p) const { std::free(p); }
};

bool is_unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
         c == '_' || c == '~';
}

std::string percent_encode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (is_unreserved(c)) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xf]);
    }
  }
  return out;
}

}  // namespace

std::string totp_generate_secret() {
  std::string secret(20, '\0');
  randombytes_buf(secret.data(), secret.size());
  return secret;
}

std::string base32_encode(std::string_view raw) {
  ensure_oath();
  char* out = nullptr;
  size_t len = 0;
  if (oath_base32_encode(raw.data(), raw.size(), &out, &len) != OATH_OK) std::abort();  // only on out of memory
  std::unique_ptr<char, FreeDeleter> owned(out);
  std::string text(out, len);
  while (!text.empty() && text.back() == '=') text.pop_back();
  return text;
}

std::optional<std::string> base32_decode(std::string_view text) {
  ensure_oath();
  // liboath wants upper case and complete padding; people type neither reliably.
  std::string norm;
  for (char c : text) {
    if (c == ' ' || c == '=') continue;
    norm.push_back((c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c);
  }
  if (norm.empty()) return std::nullopt;
  while (norm.size() % 8 != 0) norm.push_back('=');
  char* out = nullptr;
  size_t len = 0;
  if (oath_base32_decode(norm.data(), norm.size(), &out, &len) != OATH_OK) return std::nullopt;
  std::unique_ptr<char, FreeDeleter> owned(out);
  std::string raw(out, len);
  sodium_memzero(out, len);
  return raw;
}

std::string totp_uri(std::string_view issuer, std::string_view address, std::string_view secret,
                     const TotpParams& params) {
  const std::string enc_issuer = percent_encode(issuer);
  return "otpauth://totp/" + enc_issuer + ":" + percent_encode(address) + "?secret=" + base32_encode(secret) +
         "&issuer=" + enc_issuer + "&algorithm=SHA1&digits=" + std::to_string(params.digits) +
         "&period=" + std::to_string(params.period.count());
}

int64_t totp_step(std::chrono::sys_seconds now, const TotpParams& params) {
  const int64_t t = now.time_since_epoch().count();
  const int64_t p = params.period.count();
  // Floor division, so times before the epoch (never real, but a bad clock) do not round
  // towards step 0.
  return t >= 0 ? t / p : -((-t + p - 1) / p);
}

std::string totp_code(std::string_view secret, int64_t step, const TotpParams& params) {
  ensure_oath();
  char out[16] = {};
  // TOTP is HOTP of the step; passing the step's start time and start offset 0 makes
  // liboath compute exactly that step.
  const time_t at = static_cast<time_t>(step) * static_cast<time_t>(params.period.count());
  int rc = oath_totp_generate2(secret.data(), secret.size(), at, static_cast<unsigned>(params.period.count()), 0,
                               params.digits, 0, out);
  if (rc != OATH_OK) {
    // Only reachable by breaking the REQUIRES (digits outside 6..8, empty secret).
    std::fprintf(stderr, "caremail: oath_totp_generate2: %s\n", oath_strerror(rc));
    std::abort();
  }
  std::string code(out, params.digits);
  sodium_memzero(out, sizeof out);
  return code;
}

Result<int64_t> totp_verify(std::string_view secret, std::string_view code, std::chrono::sys_seconds now,
                            std::optional<int64_t> last_accepted_step, const TotpParams& params) {
  std::string typed;
  for (char c : code) {
    if (c == ' ') continue;  // apps show "123 456"
    if (c < '0' || c > '9' || typed.size() >= params.digits)
      return make_error(Errc::invalid_argument,
                        "The code must be the " + std::to_string(params.digits) + " digits your authenticator app shows.");
    typed.push_back(c);
  }
  if (typed.size() != params.digits)
    return make_error(Errc::invalid_argument,
                      "The code must be the " + std::to_string(params.digits) + " digits your authenticator app shows.");

  const int64_t now_step = totp_step(now, params);
  const auto window = static_cast<int64_t>(params.window);
  // Compute every step in the window whatever matches, so the time taken says nothing
  // about which step (if any) the code belongs to.
  std::optional<int64_t> fresh;  // the latest matching step after last_accepted_step
  bool matched_used = false;
  for (int64_t step = now_step - window; step <= now_step + window; ++step) {
    if (step < 0) continue;
    bool match = crypto::equal_ct(totp_code(secret, step, params), typed);
    if (!match) continue;
    if (last_accepted_step && step <= *last_accepted_step)
      matched_used = true;
    else
      fresh = step;
  }
  if (fresh) return *fresh;
  if (matched_used)
    return make_error(Errc::unauthenticated, "That code has already been used. Wait for the next code and enter it.");
  return make_error(Errc::unauthenticated,
                    "That code is not right or has expired. Enter the newest code from your authenticator app; "
                    "if it still fails, check that your phone's clock is set automatically.");
}

}  // namespace caremail::identity

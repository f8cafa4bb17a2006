// Time-based one-time passwords (RFC 6238: HMAC-SHA1, 6 digits, 30-second steps by
// default, the parameters every authenticator app supports), computed with liboath.
// Pure: the caller passes the time and stores the secret and the last accepted step.
//
// Thread-safety: every function may be called from any thread (liboath is initialised
// once, on first use, under std::call_once).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.hpp"

namespace caremail::identity {

struct TotpParams {
  unsigned digits = 6;                // 6, 7 or 8 (RFC 4226 allows no others)
  std::chrono::seconds period{30};    // step length; REQUIRES: > 0
  unsigned window = 1;                // steps accepted either side of now, for clock drift
};

// A new secret: 20 random bytes (160 bits, the HMAC-SHA1 key length RFC 4226 recommends),
// raw. The caller stores it as a secret (it lets anyone make codes), never logs it.
std::string totp_generate_secret();

// RFC 4648 base32, upper case, without '=' padding (as otpauth URIs want it).
std::string base32_encode(std::string_view raw);
// Accepts either case, spaces and optional padding (people type secrets by hand when they
// cannot scan the QR code); nullopt for anything else.
std::optional<std::string> base32_decode(std::string_view text);

// The otpauth:// URI an authenticator app scans (Google's Key URI format):
// otpauth://totp/ISSUER:ADDRESS?secret=BASE32&issuer=ISSUER&algorithm=SHA1&digits=6&period=30
// with issuer and address percent-encoded. `secret` is raw (as from totp_generate_secret).
std::string totp_uri(std::string_view issuer, std::string_view address, std::string_view secret,
                     const TotpParams& params = {});

// The step number of `now` (seconds since the epoch / period).
int64_t totp_step(std::chrono::sys_seconds now, const TotpParams& params = {});

// The code for `step`, zero-padded to params.digits. REQUIRES: step >= 0, secret not empty,
// params.digits in 6..8.
std::string totp_code(std::string_view secret, int64_t step, const TotpParams& params = {});

// Checks a code typed by the person (spaces ignored) against the steps within
// params.window of `now`, comparing in constant time. On success returns the step it
// matched; the caller stores it and passes it back as `last_accepted_step` next time, so a
// code (or any code of an earlier step) is accepted only once, even within its 30 seconds
// (RFC 6238 section 5.2). Errors: Errc::invalid_argument when the text is not
// params.digits digits; Errc::unauthenticated when it matches no step in the window, or
// only steps at or before `last_accepted_step`. Messages are for the person.
Result<int64_t> totp_verify(std::string_view secret, std::string_view code, std::chrono::sys_seconds now,
                            std::optional<int64_t> last_accepted_step, const TotpParams& params = {});

}  // namespace caremail::identity

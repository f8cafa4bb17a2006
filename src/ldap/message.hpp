// LDAPv3 messages (RFC 4511): framing the byte stream, decoding the requests a read-only
// directory front-end serves, and encoding its responses.
//
// SECURITY: framing and decoding run before authentication on every byte a client sends
// (a BindRequest is itself a message). They do no I/O, touch no store, and never trust a
// length or count the client sent: the framer checks the outer length against
// Limits::max_message before buffering one octet of contents, and the decoder bounds BER
// nesting, filter depth and size, value lengths and list counts (Limits below) before
// holding anything. Peer input never asserts or throws out of here; it becomes a
// DecodeError that says which LDAP result to send, and whether the session must end.
//
// What a request decodes to (one LDAPMessage; all requests must carry a messageID in
// 1..2^31-1 and may carry controls):
//   BindRequest      version 3, simple authentication (name + password). A SASL bind or any
//                    other authentication choice is DecodeError authMethodNotSupported;
//                    another version is protocolError, both answered in a BindResponse.
//   UnbindRequest    (the session closes; nothing is sent)
//   SearchRequest    base, scope, derefAliases, size/time limits, typesOnly, Filter, the
//                    attribute selection as sent ("*", "+", "1.1" and names)
//   AbandonRequest   the messageID to abandon (nothing is sent)
//   ExtendedRequest  StartTLS (1.3.6.1.4.1.1466.20037) and Who am I? (RFC 4532,
//                    1.3.6.1.4.1.4203.1.11.3); any other is DecodeError protocolError in
//                    an ExtendedResponse (RFC 4511 §4.12)
//   UnsupportedRequest  Add, Modify, Delete, ModifyDN, Compare: well framed, not read
//                    further; answer unwillingToPerform (53) in `response`
// Controls: the paged-results control (RFC 2696, 1.2.840.113556.1.4.319) on a search is
// decoded into Request::paged; ManageDsaIT is accepted (we have no referrals); any other
// control marked critical is DecodeError unavailableCriticalExtension (RFC 4511 §4.1.11);
// non-critical unknown controls are kept in Request::controls and otherwise ignored.
//
// What is a disconnect and what is a result: RFC 4511 §4.1.1 says a message whose
// encoding is wrong (tags, lengths, an unknown protocolOp, no messageID) gets a Notice of
// Disconnection and the session ends: DecodeError::disconnect. A well-formed request that
// breaks a rule or a limit (bad scope, filter too deep, unknown extended operation,
// unsupported critical control) is answered with a result on the same messageID and the
// session goes on.
//
// Thread-safety: pure functions; a Framer belongs to one session.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "ldap/filter.hpp"

namespace caremail::ldap {

inline constexpr std::string_view kStartTlsOid = "1.3.6.1.4.1.1466.20037";
inline constexpr std::string_view kNoticeOfDisconnectionOid = "1.3.6.1.4.1.1466.20036";
inline constexpr std::string_view kWhoAmIOid = "1.3.6.1.4.1.4203.1.11.3";
inline constexpr std::string_view kPagedResultsOid = "1.2.840.113556.1.4.319";
inline constexpr std::string_view kManageDsaItOid = "2.16.840.1.113730.3.4.2";

// RFC 4511 §4.1.9 and Appendix A: the ones a read-only directory sends.
enum class ResultCode : int32_t {
  success = 0,
  operations_error = 1,
  protocol_error = 2,
  time_limit_exceeded = 3,
  size_limit_exceeded = 4,
  auth_method_not_supported = 7,
  stronger_auth_required = 8,
  admin_limit_exceeded = 11,
  unavailable_critical_extension = 12,
  confidentiality_required = 13,
  no_such_attribute = 16,
  undefined_attribute_type = 17,
  inappropriate_matching = 18,
  no_such_object = 32,
  invalid_dn_syntax = 34,
  inappropriate_authentication = 48,
  invalid_credentials = 49,
  insufficient_access_rights = 50,
  busy = 51,
  unavailable = 52,
  unwilling_to_perform = 53,
  other = 80,
};
// "protocolError", as RFC 4511 spells it.
std::string_view to_string(ResultCode c) noexcept;

// The protocolOp CHOICE: the [APPLICATION n] number of each request and response.
enum class Op : uint8_t {
  bind_request = 0,
  bind_response = 1,
  unbind_request = 2,
  search_request = 3,
  search_result_entry = 4,
  search_result_done = 5,
  modify_request = 6,
  modify_response = 7,
  add_request = 8,
  add_response = 9,
  del_request = 10,
  del_response = 11,
  moddn_request = 12,
  moddn_response = 13,
  compare_request = 14,
  compare_response = 15,
  abandon_request = 16,
  search_result_reference = 19,
  extended_request = 23,
  extended_response = 24,
  intermediate_response = 25,
};
// "SearchRequest", for logs.
std::string_view to_string(Op op) noexcept;

// Every limit bounds what one hostile message can make a session hold or do.
struct Limits {
  // Octets of one LDAPMessage, header included. A read-only directory's biggest requests
  // are searches of a few hundred octets; 1 MiB leaves room for any client while keeping
  // what one connection can make us buffer small. Larger messages end the session: we
  // cannot skip them without reading them.
  size_t max_message = 1 << 20;
  // Octets of a DN (bind name, search base). Our DNs are under 300; RFC 4514 sets none.
  size_t max_dn = 4096;
  // Octets of a simple bind password. Ours are at most 256 by default
  // (identity/password_policy.hpp max_bytes, configurable); a longer one is answered
  // invalidCredentials without being hashed.
  size_t max_password = 1024;
  // Attribute descriptions in a search's selection list. Outlook asks for ~40.
  size_t max_attributes = 256;
  // Controls on one message. Clients send one to three.
  size_t max_controls = 16;
  // Octets of an OID (control type, extended request name).
  size_t max_oid = 128;
  // Octets of a paged-results cookie sent back to us. Ours are short; a longer one is not
  // ours, and would only be logged and compared.
  size_t max_cookie = 256;
  // Search filters: depth, nodes, substring components, value and attribute sizes.
  FilterLimits filter;
};

// ---- framing ---------------------------------------------------------------------------

enum class FrameStatus {
  need_more,  // feed more octets
  complete,   // message() is one whole LDAPMessage
  error,      // error() says why; send a Notice of Disconnection (protocolError) and close
};

// Splits a byte stream into LDAPMessages. Usage:
//   size_t n = framer.feed(bytes);   // consumes a prefix of bytes
//   if (framer.status() == FrameStatus::complete) { decode_request(framer.message()); framer.next(); }
// feed() never consumes more than it is given and stops at the end of a message, so bytes
// after it stay with the caller (pipelined requests); any split of the same stream gives
// the same messages. Memory: at most max_message octets, grown only as octets arrive.
class Framer {
 public:
  explicit Framer(const Limits& limits = {}) : max_message_(limits.max_message) {}

  // Consumes a prefix of `chunk` and returns its length; 0 when status() is not need_more.
  size_t feed(std::string_view chunk);

  FrameStatus status() const noexcept { return status_; }
  // REQUIRES: status() == complete. Valid until next() or feed().
  std::string_view message() const noexcept { return buffer_; }
  // REQUIRES: status() == error.
  const std::string& error() const noexcept { return error_; }
  // Octets held: a partial message, or the complete one.
  size_t buffered() const noexcept { return buffer_.size(); }
  // Ready for the next message. REQUIRES: status() == complete.
  void next();

 private:
  size_t max_message_;
  FrameStatus status_ = FrameStatus::need_more;
  std::string buffer_;
  size_t total_ = 0;  // header + contents, once the header is known; 0 before
  std::string error_;
};

// ---- requests --------------------------------------------------------------------------

struct Control {
  std::string oid;
  bool critical = false;
  std::optional<std::string> value;
  bool operator==(const Control&) const = default;
};

// RFC 2696 realSearchControlValue: in a request, `size` is the page size wanted and
// `cookie` is empty on the first page, else the cookie of our previous response; in a
// response, `size` is our estimate of the total (0: unknown) and an empty cookie ends the
// paged search.
struct PagedResults {
  int32_t size = 0;
  std::string cookie;
  bool operator==(const PagedResults&) const = default;
};

struct BindRequest {
  int32_t version = 3;
  std::string name;      // the DN as sent ("" for anonymous)
  std::string password;  // simple credentials. "" with a name is an unauthenticated bind
                         // (RFC 4513 §5.1.2): the server must refuse it, not treat it as
                         // anonymous.
  bool operator==(const BindRequest&) const = default;
};

struct UnbindRequest {
  bool operator==(const UnbindRequest&) const = default;
};

enum class Scope : uint8_t { base_object = 0, single_level = 1, whole_subtree = 2, subordinate_subtree = 3 };
enum class DerefAliases : uint8_t { never = 0, in_searching = 1, finding_base = 2, always = 3 };

struct SearchRequest {
  std::string base;  // DN as sent; "" with base_object scope is the root DSE
  Scope scope = Scope::base_object;
  DerefAliases deref = DerefAliases::never;
  int32_t size_limit = 0;  // 0: no client limit (ours still applies)
  int32_t time_limit = 0;  // seconds; 0: no client limit
  bool types_only = false;
  Filter filter;
  std::vector<std::string> attributes;  // as sent; empty means all user attributes
  bool operator==(const SearchRequest&) const = default;
};

struct AbandonRequest {
  int32_t message_id = 0;  // the operation to abandon
  bool operator==(const AbandonRequest&) const = default;
};

struct ExtendedRequest {
  enum class Kind : uint8_t { start_tls, who_am_i };
  Kind kind = Kind::start_tls;
  bool operator==(const ExtendedRequest&) const = default;
};

// Add, Modify, Delete, ModifyDN, Compare: a read-only directory refuses them.
struct UnsupportedRequest {
  Op op = Op::add_request;
  bool operator==(const UnsupportedRequest&) const = default;
};

using RequestBody =
    std::variant<BindRequest, UnbindRequest, SearchRequest, AbandonRequest, ExtendedRequest, UnsupportedRequest>;

struct Request {
  int32_t message_id = 0;
  RequestBody body;
  std::vector<Control> controls;        // every control as sent, paged results included
  std::optional<PagedResults> paged;    // the paged-results control of a search

  // The protocolOp, and the response op that answers it (nullopt for unbind and abandon).
  Op op() const noexcept;
  std::optional<Op> response_op() const noexcept;
  bool operator==(const Request&) const = default;
};

// The response op that answers a request op; nullopt for unbind, abandon and non-requests.
std::optional<Op> response_for(Op request) noexcept;

struct DecodeError {
  ResultCode code = ResultCode::protocol_error;
  // The diagnosticMessage: printable ASCII, at most a line, never any of the client's
  // secrets; safe to send and to log.
  std::string message;
  // Send encode_notice_of_disconnection(code, message) and close the session.
  bool disconnect = true;
  // When !disconnect: the request's messageID and the response op to answer it with.
  int32_t message_id = 0;
  Op response = Op::extended_response;
};

// Either a Request or a DecodeError; the accessors of common/result.hpp's Result.
class [[nodiscard]] DecodeResult {
 public:
  DecodeResult(Request r) : v_(std::in_place_index<0>, std::move(r)) {}      // NOLINT
  DecodeResult(DecodeError e) : v_(std::in_place_index<1>, std::move(e)) {}  // NOLINT

  bool ok() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }
  Request& value() & { return std::get<0>(v_); }
  const Request& value() const& { return std::get<0>(v_); }
  Request&& value() && { return std::get<0>(std::move(v_)); }
  Request* operator->() { return &value(); }
  const Request* operator->() const { return &value(); }
  const DecodeError& error() const { return std::get<1>(v_); }

 private:
  std::variant<Request, DecodeError> v_;
};

// Decodes one complete LDAPMessage (as Framer::message() gives it). Trailing octets after
// the message are an error.
DecodeResult decode_request(std::string_view message, const Limits& limits = {});

// One line describing a request for logs and tests: op, id, fields, the filter in RFC 4515
// form, controls. The bind password is shown as "<redacted>" unless `with_secrets`.
std::string debug_string(const Request& r, bool with_secrets = false);

// ---- responses -------------------------------------------------------------------------

struct LdapResult {
  ResultCode code = ResultCode::success;
  std::string matched_dn;
  std::string diagnostic;
  bool operator==(const LdapResult&) const = default;
};

// An LDAPResult-only response (BindResponse without SASL credentials, DelResponse...,
// SearchResultDone, ExtendedResponse without name or value), with optional controls.
// REQUIRES: `response` is a response op other than search_result_entry/reference and
// intermediate_response.
std::string encode_result(int32_t message_id, Op response, const LdapResult& r,
                          const std::vector<Control>& controls = {});
inline std::string encode_bind_response(int32_t message_id, const LdapResult& r) {
  return encode_result(message_id, Op::bind_response, r);
}
// SearchResultEntry. With `types_only` the values are left out (each vals SET empty).
std::string encode_search_entry(int32_t message_id, const Entry& e, bool types_only = false);
// SearchResultDone, with the paged-results response control when `paged` is given.
std::string encode_search_done(int32_t message_id, const LdapResult& r,
                               const std::optional<PagedResults>& paged = std::nullopt);
// ExtendedResponse; `name` and `value` are left out when nullopt. StartTLS answers carry
// name kStartTlsOid (RFC 4511 §4.14.2); Who am I? carries only a value.
std::string encode_extended_response(int32_t message_id, const LdapResult& r,
                                     std::optional<std::string_view> name = std::nullopt,
                                     std::optional<std::string_view> value = std::nullopt);
// The unsolicited Notice of Disconnection (messageID 0, RFC 4511 §4.4.1).
std::string encode_notice_of_disconnection(ResultCode code, std::string_view diagnostic);
// What to send for a DecodeError: the notice when it disconnects, else its result.
std::string encode_error(const DecodeError& e);

// The control value alone: SEQUENCE { size INTEGER, cookie OCTET STRING }.
std::string encode_paged_results_value(const PagedResults& p);
Result<PagedResults> decode_paged_results_value(std::string_view value, size_t max_cookie = 256);

// Client side, for tests, fuzzing and tools: encodes a Request (a Control's value is sent as
// is; Request::paged, if set and no control of that OID is in `controls`, is added as a
// non-critical control). UnsupportedRequest encodes as an empty element of its op.
std::string encode_request(const Request& r);
// The BER encoding of a filter (its Filter CHOICE element).
std::string encode_filter(const Filter& f);

}  // namespace caremail::ldap

// LDAPMessage framing, request decoding and response encoding; the contract (what is a
// result, what ends the session) is in message.hpp.
//
// The decoder reads with BerReader, whose depth bound is the filter depth limit plus the
// few levels around a filter, so no path through a message can recurse further than
// FilterLimits::max_depth + a constant. Errors are carried as Fail values up to
// decode_request, which fills in the messageID and the response op once they are known.
#include "ldap/message.hpp"

#include <limits>

#include "ldap/ber.hpp"

namespace caremail::ldap {

namespace {

constexpr int64_t kMaxInt = std::numeric_limits<int32_t>::max();  // RFC 4511 maxInt

// BER levels above a filter: LDAPMessage, SearchRequest; and below a leaf test: the AVA or
// SubstringFilter SEQUENCE and its substrings SEQUENCE. One spare.
constexpr size_t kBerLevelsAroundFilter = 6;

// What went wrong while decoding; decode_request turns it into a DecodeError.
struct Fail {
  ResultCode code = ResultCode::protocol_error;
  std::string message;
  bool disconnect = true;
};

// A malformed encoding: the session ends (RFC 4511 §4.1.1).
Fail malformed(const Error& e) { return Fail{ResultCode::protocol_error, e.message, true}; }
Fail malformed(std::string m) { return Fail{ResultCode::protocol_error, "malformed: " + std::move(m), true}; }
// A well-formed request we refuse: answered, the session goes on.
Fail refuse(ResultCode c, std::string m) { return Fail{c, std::move(m), false}; }
Fail limit(std::string m) { return Fail{ResultCode::admin_limit_exceeded, std::move(m), false}; }

// Text from the client quoted in a diagnostic: printable ASCII only, cut short.
std::string quote(std::string_view s, size_t max = 64) {
  std::string out;
  for (char c : s.substr(0, max)) out.push_back(c >= 0x20 && c < 0x7F ? c : '?');
  if (s.size() > max) out += "...";
  return out;
}

template <class T>
using Decoded = std::variant<T, Fail>;

template <class T>
bool failed(const Decoded<T>& d) { return d.index() == 1; }

// ---- filters ---------------------------------------------------------------------------

class FilterDecoder {
 public:
  explicit FilterDecoder(const FilterLimits& lim) : lim_(lim) {}

  // Decodes the next element of `r` as a Filter at `depth` (the root is depth 1).
  Decoded<Filter> decode(BerReader& r, size_t depth) {
    if (depth > lim_.max_depth) return limit("filter nested deeper than " + std::to_string(lim_.max_depth));
    if (++nodes_ > lim_.max_nodes) return limit("filter has more than " + std::to_string(lim_.max_nodes) + " parts");
    auto e = r.read_any();
    if (!e) return malformed(e.error());
    const Element& el = *e;
    if (el.tag.cls != TagClass::context) return malformed("filter element " + to_string(el.tag));
    Filter f;
    switch (el.tag.number) {
      case 0: case 1: case 2: {  // and, or: SET OF Filter; not: Filter
        f.kind = el.tag.number == 0 ? Filter::Kind::and_ : el.tag.number == 1 ? Filter::Kind::or_ : Filter::Kind::not_;
        auto in = r.enter(el);
        if (!in) return malformed(in.error());
        while (!in->at_end()) {
          auto child = decode(*in, depth + 1);
          if (failed(child)) return std::get<1>(std::move(child));
          f.children.push_back(std::get<0>(std::move(child)));
        }
        if (f.kind == Filter::Kind::not_ && f.children.size() != 1) return malformed("'not' filter without one filter");
        return f;
      }
      case 3: case 5: case 6: case 8: {  // AttributeValueAssertion
        f.kind = el.tag.number == 3 ? Filter::Kind::equality : el.tag.number == 5 ? Filter::Kind::greater_or_equal :
                 el.tag.number == 6 ? Filter::Kind::less_or_equal : Filter::Kind::approx;
        auto in = r.enter(el);
        if (!in) return malformed(in.error());
        auto attr = in->read_octet_string();
        if (!attr) return malformed(attr.error());
        auto value = in->read_octet_string();
        if (!value) return malformed(value.error());
        if (!in->at_end()) return malformed("trailing data in an attribute value assertion");
        if (auto st = attribute(*attr, f); failed(st)) return std::get<1>(std::move(st));
        if (value->size() > lim_.max_value) return value_too_long();
        f.value = std::string(*value);
        return f;
      }
      case 4: {  // SubstringFilter
        f.kind = Filter::Kind::substrings;
        auto in = r.enter(el);
        if (!in) return malformed(in.error());
        auto attr = in->read_octet_string();
        if (!attr) return malformed(attr.error());
        auto subs = in->read_constructed(kSequence);
        if (!subs) return malformed(subs.error());
        if (!in->at_end()) return malformed("trailing data in a substring filter");
        if (auto st = attribute(*attr, f); failed(st)) return std::get<1>(std::move(st));
        size_t count = 0;
        while (!subs->at_end()) {
          auto s = subs->read_any();
          if (!s) return malformed(s.error());
          if (s->tag.cls != TagClass::context || s->tag.constructed || s->tag.number > 2)
            return malformed("substring element " + to_string(s->tag));
          if (++count > lim_.max_substring_components)
            return limit("substring filter with more than " + std::to_string(lim_.max_substring_components) + " parts");
          if (s->contents.empty()) return refuse(ResultCode::protocol_error, "empty substring in a filter");
          if (s->contents.size() > lim_.max_value) return value_too_long();
          std::string v(s->contents);
          // RFC 4511 §4.5.1.7.2: initial at most once and first, final at most once and last.
          if (f.final_) return refuse(ResultCode::protocol_error, "substring after 'final'");
          if (s->tag.number == 0) {
            if (count != 1) return refuse(ResultCode::protocol_error, "'initial' substring not first");
            f.initial = std::move(v);
          } else if (s->tag.number == 1) {
            f.any.push_back(std::move(v));
          } else {
            f.final_ = std::move(v);
          }
        }
        if (count == 0) return refuse(ResultCode::protocol_error, "substring filter without substrings");
        return f;
      }
      case 7: {  // present: AttributeDescription, primitive
        f.kind = Filter::Kind::present;
        if (el.tag.constructed) return malformed("constructed 'present' filter");
        if (auto st = attribute(el.contents, f); failed(st)) return std::get<1>(std::move(st));
        return f;
      }
      case 9: {  // MatchingRuleAssertion
        f.kind = Filter::Kind::extensible;
        auto in = r.enter(el);
        if (!in) return malformed(in.error());
        bool have_value = false;
        if (!in->at_end() && in->peek_tag().ok() && *in->peek_tag() == Tag::context(1, false)) {
          auto rule = in->read_octet_string(Tag::context(1, false));
          if (!rule) return malformed(rule.error());
          if (rule->size() > lim_.max_attribute) return limit("matching rule too long");
          if (!valid_oid_or_name(*rule) || iequals(*rule, "dn"))
            return refuse(ResultCode::inappropriate_matching, "invalid matching rule '" + quote(*rule) + "'");
          f.matching_rule = std::string(*rule);
        }
        if (!in->at_end() && in->peek_tag().ok() && *in->peek_tag() == Tag::context(2, false)) {
          auto attr = in->read_octet_string(Tag::context(2, false));
          if (!attr) return malformed(attr.error());
          if (auto st = attribute(*attr, f); failed(st)) return std::get<1>(std::move(st));
        }
        if (auto v = in->read_octet_string(Tag::context(3, false)); v) {
          if (v->size() > lim_.max_value) return value_too_long();
          f.value = std::string(*v);
          have_value = true;
        } else {
          return malformed(v.error());
        }
        if (!in->at_end()) {
          auto dn = in->read_boolean(Tag::context(4, false));
          if (!dn) return malformed(dn.error());
          f.dn_attributes = *dn;
        }
        if (!in->at_end()) return malformed("trailing data in an extensible match");
        if (!have_value || (f.attribute.empty() && f.matching_rule.empty()))
          return refuse(ResultCode::protocol_error, "extensible match without an attribute or a matching rule");
        return f;
      }
      default:
        return refuse(ResultCode::protocol_error, "unsupported filter type " + std::to_string(el.tag.number));
    }
  }

 private:
  Decoded<bool> attribute(std::string_view a, Filter& f) {
    if (a.size() > lim_.max_attribute) return limit("attribute description too long");
    if (!valid_attribute_description(a))
      return refuse(ResultCode::protocol_error, "invalid attribute description '" + quote(a) + "' in filter");
    f.attribute = std::string(a);
    return true;
  }
  Fail value_too_long() const {
    return limit("filter value longer than " + std::to_string(lim_.max_value) + " octets");
  }

  const FilterLimits& lim_;
  size_t nodes_ = 0;
};

// ---- operations ------------------------------------------------------------------------

Decoded<int32_t> int32_in(Result<int64_t> v, int64_t min, const char* what, bool disconnect) {
  if (!v) return malformed(v.error());
  if (*v < min || *v > kMaxInt) {
    Fail f{ResultCode::protocol_error, std::string(what) + " out of range", disconnect};
    return f;
  }
  return static_cast<int32_t>(*v);
}

Decoded<RequestBody> decode_bind(BerReader& in, const Limits& lim) {
  auto version = in.read_integer();
  if (!version) return malformed(version.error());
  auto name = in.read_octet_string();
  if (!name) return malformed(name.error());
  auto auth = in.read_any();
  if (!auth) return malformed(auth.error());
  if (!in.at_end()) return malformed("trailing data in BindRequest");
  // RFC 4511 §4.2: version 1..127, and a server that does not support it says protocolError.
  if (*version != 3) return refuse(ResultCode::protocol_error, "only LDAP version 3 is supported");
  if (name->size() > lim.max_dn) return limit("bind name too long");
  if (auth->tag == Tag::context(3, true))
    return refuse(ResultCode::auth_method_not_supported, "SASL bind is not supported; use a simple bind over TLS");
  if (!(auth->tag == Tag::context(0, false)))
    return refuse(ResultCode::auth_method_not_supported, "authentication method not supported; use a simple bind");
  if (auth->contents.size() > lim.max_password) return refuse(ResultCode::invalid_credentials, "invalid credentials");
  BindRequest b;
  b.version = 3;
  b.name = std::string(*name);
  b.password = std::string(auth->contents);
  return RequestBody(std::move(b));
}

Decoded<RequestBody> decode_search(BerReader& in, const Limits& lim) {
  SearchRequest s;
  auto base = in.read_octet_string();
  if (!base) return malformed(base.error());
  auto scope = in.read_enumerated();
  if (!scope) return malformed(scope.error());
  auto deref = in.read_enumerated();
  if (!deref) return malformed(deref.error());
  auto size = in.read_integer();
  if (!size) return malformed(size.error());
  auto time = in.read_integer();
  if (!time) return malformed(time.error());
  auto types = in.read_boolean();
  if (!types) return malformed(types.error());
  FilterDecoder fd(lim.filter);
  auto filter = fd.decode(in, 1);
  if (failed(filter)) return std::get<1>(std::move(filter));
  auto attrs = in.read_constructed(kSequence);
  if (!attrs) return malformed(attrs.error());
  if (!in.at_end()) return malformed("trailing data in SearchRequest");

  if (base->size() > lim.max_dn) return limit("search base too long");
  s.base = std::string(*base);
  if (*scope < 0 || *scope > 3) return refuse(ResultCode::protocol_error, "invalid scope");
  s.scope = static_cast<Scope>(*scope);
  if (*deref < 0 || *deref > 3) return refuse(ResultCode::protocol_error, "invalid derefAliases");
  s.deref = static_cast<DerefAliases>(*deref);
  auto sl = int32_in(size, 0, "sizeLimit", false);
  if (failed(sl)) return std::get<1>(std::move(sl));
  s.size_limit = std::get<0>(sl);
  auto tl = int32_in(time, 0, "timeLimit", false);
  if (failed(tl)) return std::get<1>(std::move(tl));
  s.time_limit = std::get<0>(tl);
  s.types_only = *types;
  s.filter = std::get<0>(std::move(filter));
  while (!attrs->at_end()) {
    auto a = attrs->read_octet_string();
    if (!a) return malformed(a.error());
    if (s.attributes.size() >= lim.max_attributes)
      return limit("more than " + std::to_string(lim.max_attributes) + " attributes requested");
    // Unknown or odd names are the server's to ignore (RFC 4511 §4.5.1.8); only size matters.
    if (a->size() > lim.filter.max_attribute) return limit("requested attribute name too long");
    s.attributes.emplace_back(*a);
  }
  return RequestBody(std::move(s));
}

Decoded<RequestBody> decode_extended(BerReader& in, const Limits& lim) {
  auto name = in.read_octet_string(Tag::context(0, false));
  if (!name) return malformed(name.error());
  std::optional<std::string_view> value;
  if (!in.at_end()) {
    auto v = in.read_octet_string(Tag::context(1, false));
    if (!v) return malformed(v.error());
    value = *v;
  }
  if (!in.at_end()) return malformed("trailing data in ExtendedRequest");
  if (name->size() > lim.max_oid) return refuse(ResultCode::protocol_error, "extended operation name too long");
  ExtendedRequest x;
  if (*name == kStartTlsOid) {
    x.kind = ExtendedRequest::Kind::start_tls;
  } else if (*name == kWhoAmIOid) {
    x.kind = ExtendedRequest::Kind::who_am_i;
  } else {
    // RFC 4511 §4.12: an unrecognised requestName gets protocolError.
    return refuse(ResultCode::protocol_error, "unsupported extended operation " + quote(*name));
  }
  if (value) return refuse(ResultCode::protocol_error, "this extended operation takes no value");
  return RequestBody(x);
}

Decoded<std::vector<Control>> decode_controls(BerReader& in, const Limits& lim) {
  std::vector<Control> out;
  while (!in.at_end()) {
    auto c = in.read_constructed(kSequence);
    if (!c) return malformed(c.error());
    auto oid = c->read_octet_string();
    if (!oid) return malformed(oid.error());
    Control ctl;
    if (!c->at_end() && c->peek_tag().ok() && *c->peek_tag() == kBoolean) {
      auto crit = c->read_boolean();
      if (!crit) return malformed(crit.error());
      ctl.critical = *crit;
    }
    if (!c->at_end()) {
      auto v = c->read_octet_string();
      if (!v) return malformed(v.error());
      ctl.value = std::string(*v);
    }
    if (!c->at_end()) return malformed("trailing data in a control");
    if (out.size() >= lim.max_controls) return limit("more than " + std::to_string(lim.max_controls) + " controls");
    if (oid->size() > lim.max_oid) return refuse(ResultCode::protocol_error, "control type too long");
    ctl.oid = std::string(*oid);
    out.push_back(std::move(ctl));
  }
  return out;
}

}  // namespace

// ---- names -----------------------------------------------------------------------------

std::string_view to_string(ResultCode c) noexcept {
  switch (c) {
    case ResultCode::success: return "success";
    case ResultCode::operations_error: return "operationsError";
    case ResultCode::protocol_error: return "protocolError";
    case ResultCode::time_limit_exceeded: return "timeLimitExceeded";
    case ResultCode::size_limit_exceeded: return "sizeLimitExceeded";
    case ResultCode::auth_method_not_supported: return "authMethodNotSupported";
    case ResultCode::stronger_auth_required: return "strongerAuthRequired";
    case ResultCode::admin_limit_exceeded: return "adminLimitExceeded";
    case ResultCode::unavailable_critical_extension: return "unavailableCriticalExtension";
    case ResultCode::confidentiality_required: return "confidentialityRequired";
    case ResultCode::no_such_attribute: return "noSuchAttribute";
    case ResultCode::undefined_attribute_type: return "undefinedAttributeType";
    case ResultCode::inappropriate_matching: return "inappropriateMatching";
    case ResultCode::no_such_object: return "noSuchObject";
    case ResultCode::invalid_dn_syntax: return "invalidDNSyntax";
    case ResultCode::inappropriate_authentication: return "inappropriateAuthentication";
    case ResultCode::invalid_credentials: return "invalidCredentials";
    case ResultCode::insufficient_access_rights: return "insufficientAccessRights";
    case ResultCode::busy: return "busy";
    case ResultCode::unavailable: return "unavailable";
    case ResultCode::unwilling_to_perform: return "unwillingToPerform";
    case ResultCode::other: return "other";
  }
  return "unknown";
}

std::string_view to_string(Op op) noexcept {
  switch (op) {
    case Op::bind_request: return "BindRequest";
    case Op::bind_response: return "BindResponse";
    case Op::unbind_request: return "UnbindRequest";
    case Op::search_request: return "SearchRequest";
    case Op::search_result_entry: return "SearchResultEntry";
    case Op::search_result_done: return "SearchResultDone";
    case Op::modify_request: return "ModifyRequest";
    case Op::modify_response: return "ModifyResponse";
    case Op::add_request: return "AddRequest";
    case Op::add_response: return "AddResponse";
    case Op::del_request: return "DelRequest";
    case Op::del_response: return "DelResponse";
    case Op::moddn_request: return "ModifyDNRequest";
    case Op::moddn_response: return "ModifyDNResponse";
    case Op::compare_request: return "CompareRequest";
    case Op::compare_response: return "CompareResponse";
    case Op::abandon_request: return "AbandonRequest";
    case Op::search_result_reference: return "SearchResultReference";
    case Op::extended_request: return "ExtendedRequest";
    case Op::extended_response: return "ExtendedResponse";
    case Op::intermediate_response: return "IntermediateResponse";
  }
  return "unknown";
}

std::optional<Op> response_for(Op request) noexcept {
  switch (request) {
    case Op::bind_request: return Op::bind_response;
    case Op::search_request: return Op::search_result_done;
    case Op::modify_request: return Op::modify_response;
    case Op::add_request: return Op::add_response;
    case Op::del_request: return Op::del_response;
    case Op::moddn_request: return Op::moddn_response;
    case Op::compare_request: return Op::compare_response;
    case Op::extended_request: return Op::extended_response;
    default: return std::nullopt;
  }
}

Op Request::op() const noexcept {
  struct Visit {
    Op operator()(const BindRequest&) const { return Op::bind_request; }
    Op operator()(const UnbindRequest&) const { return Op::unbind_request; }
    Op operator()(const SearchRequest&) const { return Op::search_request; }
    Op operator()(const AbandonRequest&) const { return Op::abandon_request; }
    Op operator()(const ExtendedRequest&) const { return Op::extended_request; }
    Op operator()(const UnsupportedRequest& u) const { return u.op; }
  };
  return std::visit(Visit{}, body);
}

std::optional<Op> Request::response_op() const noexcept { return response_for(op()); }

// ---- framing ---------------------------------------------------------------------------

size_t Framer::feed(std::string_view chunk) {
  if (status_ != FrameStatus::need_more) return 0;
  size_t used = 0;
  // Header: one octet at a time (at most 10), so we never hold more than the header
  // before the length is checked.
  while (total_ == 0 && used < chunk.size()) {
    buffer_.push_back(chunk[used++]);
    if (static_cast<uint8_t>(buffer_[0]) != 0x30) {
      status_ = FrameStatus::error;
      error_ = "not an LDAPMessage (expected a SEQUENCE)";
      return used;
    }
    Header h;
    std::string err;
    HeaderStatus hs = decode_header(buffer_, h, err);
    if (hs == HeaderStatus::need_more) continue;
    if (hs == HeaderStatus::error) {
      status_ = FrameStatus::error;
      error_ = "malformed BER: " + err;
      return used;
    }
    if (h.length > max_message_ || h.header_size + h.length > max_message_) {
      status_ = FrameStatus::error;
      error_ = "message of " + std::to_string(h.length) + " octets is over the limit of " +
               std::to_string(max_message_);
      return used;
    }
    total_ = h.header_size + static_cast<size_t>(h.length);
  }
  if (total_ != 0 && buffer_.size() < total_) {
    size_t take = std::min(total_ - buffer_.size(), chunk.size() - used);
    buffer_.append(chunk.substr(used, take));
    used += take;
  }
  if (total_ != 0 && buffer_.size() == total_) status_ = FrameStatus::complete;
  return used;
}

void Framer::next() {
  buffer_.clear();
  total_ = 0;
  status_ = FrameStatus::need_more;
}

// ---- request decoding ------------------------------------------------------------------

DecodeResult decode_request(std::string_view message, const Limits& lim) {
  BerLimits bl;
  bl.max_depth = lim.filter.max_depth + kBerLevelsAroundFilter;
  auto to_error = [](Fail f, int32_t id, std::optional<Op> response) {
    DecodeError e;
    e.code = f.code;
    e.message = std::move(f.message);
    // Without a response op there is no way to answer on the message: disconnect instead
    // unless nothing needs saying (handled by the caller for abandon/unbind).
    e.disconnect = f.disconnect || !response;
    e.message_id = id;
    e.response = response.value_or(Op::extended_response);
    return e;
  };
  auto fatal = [&](Fail f) { return DecodeResult(to_error(std::move(f), 0, std::nullopt)); };

  if (message.size() > lim.max_message) return fatal(malformed("message too large"));
  BerReader top(message, bl);
  auto msg = top.read_constructed(kSequence);
  if (!msg) return fatal(malformed(msg.error()));
  if (!top.at_end()) return fatal(malformed("trailing data after the message"));
  auto id = int32_in(msg->read_integer(), 1, "messageID", true);
  if (failed(id)) return fatal(std::get<1>(std::move(id)));
  Request req;
  req.message_id = std::get<0>(id);

  auto op_el = msg->read_any();
  if (!op_el) return fatal(malformed(op_el.error()));
  const Tag t = op_el->tag;
  if (t.cls != TagClass::application) return fatal(malformed("protocolOp " + to_string(t)));
  auto op = static_cast<Op>(t.number);
  std::optional<Op> response = t.number <= 25 ? response_for(op) : std::nullopt;

  Decoded<RequestBody> body = RequestBody(UnbindRequest{});
  switch (t.number) {
    case 0: case 3: case 23: {
      if (!t.constructed) return fatal(malformed(std::string(to_string(op)) + " is not constructed"));
      auto in = msg->enter(*op_el);
      if (!in) return fatal(malformed(in.error()));
      body = t.number == 0   ? decode_bind(*in, lim)
             : t.number == 3 ? decode_search(*in, lim)
                             : decode_extended(*in, lim);
      break;
    }
    case 2:
      if (t.constructed || !op_el->contents.empty()) return fatal(malformed("UnbindRequest is not NULL"));
      break;
    case 16: {
      if (t.constructed) return fatal(malformed("AbandonRequest is constructed"));
      auto target = int32_in(decode_integer(op_el->contents), 0, "abandoned messageID", true);
      if (failed(target)) return fatal(std::get<1>(std::move(target)));
      body = RequestBody(AbandonRequest{std::get<0>(target)});
      break;
    }
    case 6: case 8: case 10: case 12: case 14:
      // Read-only: refused without reading the operation itself.
      body = RequestBody(UnsupportedRequest{op});
      break;
    default:
      return fatal(malformed("protocolOp " + to_string(t) + " is not a request"));
  }

  // Controls are read even when the operation was refused: a malformed message must still
  // end the session rather than be answered.
  Decoded<std::vector<Control>> controls = std::vector<Control>{};
  if (!msg->at_end()) {
    auto cs = msg->read_constructed(Tag::context(0, true));
    if (!cs) return fatal(malformed(cs.error()));
    controls = decode_controls(*cs, lim);
  }
  if (!msg->at_end()) return fatal(malformed("trailing data in LDAPMessage"));
  if (failed(controls) && std::get<1>(controls).disconnect) return fatal(std::get<1>(std::move(controls)));
  if (failed(body)) {
    Fail f = std::get<1>(std::move(body));
    if (f.disconnect) return fatal(std::move(f));
    return to_error(std::move(f), req.message_id, response);
  }
  if (failed(controls)) return to_error(std::get<1>(std::move(controls)), req.message_id, response);
  req.body = std::get<0>(std::move(body));
  req.controls = std::get<0>(std::move(controls));

  for (const Control& c : req.controls) {
    bool on_search = t.number == 3;
    if (c.oid == kPagedResultsOid && on_search) {
      if (req.paged)
        return to_error(refuse(ResultCode::protocol_error, "two paged-results controls"), req.message_id, response);
      if (!c.value) return to_error(refuse(ResultCode::protocol_error, "paged-results control without a value"),
                                    req.message_id, response);
      auto p = decode_paged_results_value(*c.value, lim.max_cookie);
      if (!p) return to_error(refuse(ResultCode::protocol_error, p.error().message), req.message_id, response);
      req.paged = std::move(p).value();
      continue;
    }
    if (c.oid == kManageDsaItOid) continue;  // no referrals here: it changes nothing
    // RFC 4511 §4.1.11: an unrecognised (or inapplicable) critical control fails the
    // operation. Unbind and abandon have no result to carry it: they go ahead.
    if (c.critical && response)
      return to_error(
          refuse(ResultCode::unavailable_critical_extension, "unsupported critical control " + quote(c.oid)),
          req.message_id, response);
  }
  return req;
}

// ---- paged results ---------------------------------------------------------------------

std::string encode_paged_results_value(const PagedResults& p) {
  BerWriter w;
  w.begin(kSequence);
  w.integer(p.size);
  w.octet_string(p.cookie);
  w.end();
  return std::move(w).take();
}

Result<PagedResults> decode_paged_results_value(std::string_view value, size_t max_cookie) {
  BerReader r(value, BerLimits{2});
  auto seq = r.read_constructed(kSequence);
  if (!seq) return seq.error();
  if (!r.at_end()) return make_error(Errc::invalid_argument, "trailing data after the paged-results value");
  auto size = seq->read_integer();
  if (!size) return size.error();
  auto cookie = seq->read_octet_string();
  if (!cookie) return cookie.error();
  if (!seq->at_end()) return make_error(Errc::invalid_argument, "trailing data in the paged-results value");
  if (*size < 0 || *size > kMaxInt) return make_error(Errc::invalid_argument, "paged-results size out of range");
  if (cookie->size() > max_cookie) return make_error(Errc::invalid_argument, "paged-results cookie too long");
  return PagedResults{static_cast<int32_t>(*size), std::string(*cookie)};
}

// ---- response encoding -----------------------------------------------------------------

namespace {

void result_fields(BerWriter& w, const LdapResult& r) {
  w.enumerated(static_cast<int32_t>(r.code));
  w.octet_string(r.matched_dn);
  w.octet_string(r.diagnostic);
}

void write_controls(BerWriter& w, const std::vector<Control>& controls) {
  if (controls.empty()) return;
  w.begin(Tag::context(0, true));
  for (const Control& c : controls) {
    w.begin(kSequence);
    w.octet_string(c.oid);
    if (c.critical) w.boolean(true);  // DEFAULT FALSE: left out when false (DER)
    if (c.value) w.octet_string(*c.value);
    w.end();
  }
  w.end();
}

void write_filter(BerWriter& w, const Filter& f) {
  switch (f.kind) {
    case Filter::Kind::and_:
    case Filter::Kind::or_:
    case Filter::Kind::not_:
      w.begin(Tag::context(f.kind == Filter::Kind::and_ ? 0 : f.kind == Filter::Kind::or_ ? 1 : 2, true));
      for (const Filter& c : f.children) write_filter(w, c);
      w.end();
      return;
    case Filter::Kind::equality:
    case Filter::Kind::greater_or_equal:
    case Filter::Kind::less_or_equal:
    case Filter::Kind::approx:
      w.begin(Tag::context(f.kind == Filter::Kind::equality ? 3 : f.kind == Filter::Kind::greater_or_equal ? 5 :
                           f.kind == Filter::Kind::less_or_equal ? 6 : 8, true));
      w.octet_string(f.attribute);
      w.octet_string(f.value);
      w.end();
      return;
    case Filter::Kind::substrings:
      w.begin(Tag::context(4, true));
      w.octet_string(f.attribute);
      w.begin(kSequence);
      if (f.initial) w.octet_string(*f.initial, Tag::context(0, false));
      for (const std::string& a : f.any) w.octet_string(a, Tag::context(1, false));
      if (f.final_) w.octet_string(*f.final_, Tag::context(2, false));
      w.end();
      w.end();
      return;
    case Filter::Kind::present:
      w.octet_string(f.attribute, Tag::context(7, false));
      return;
    case Filter::Kind::extensible:
      w.begin(Tag::context(9, true));
      if (!f.matching_rule.empty()) w.octet_string(f.matching_rule, Tag::context(1, false));
      if (!f.attribute.empty()) w.octet_string(f.attribute, Tag::context(2, false));
      w.octet_string(f.value, Tag::context(3, false));
      if (f.dn_attributes) w.boolean(true, Tag::context(4, false));
      w.end();
      return;
  }
}

}  // namespace

std::string encode_result(int32_t message_id, Op response, const LdapResult& r, const std::vector<Control>& controls) {
  BerWriter w;
  w.begin(kSequence);
  w.integer(message_id);
  w.begin(Tag::application(static_cast<uint8_t>(response), true));
  result_fields(w, r);
  w.end();
  write_controls(w, controls);
  w.end();
  return std::move(w).take();
}

std::string encode_search_entry(int32_t message_id, const Entry& e, bool types_only) {
  BerWriter w;
  w.begin(kSequence);
  w.integer(message_id);
  w.begin(Tag::application(static_cast<uint8_t>(Op::search_result_entry), true));
  w.octet_string(e.dn);
  w.begin(kSequence);
  for (const Attribute& a : e.attributes) {
    w.begin(kSequence);
    w.octet_string(a.name);
    w.begin(kSet);
    if (!types_only)
      for (const std::string& v : a.values) w.octet_string(v);
    w.end();
    w.end();
  }
  w.end();
  w.end();
  w.end();
  return std::move(w).take();
}

std::string encode_search_done(int32_t message_id, const LdapResult& r, const std::optional<PagedResults>& paged) {
  std::vector<Control> controls;
  if (paged) controls.push_back(Control{std::string(kPagedResultsOid), false, encode_paged_results_value(*paged)});
  return encode_result(message_id, Op::search_result_done, r, controls);
}

std::string encode_extended_response(int32_t message_id, const LdapResult& r, std::optional<std::string_view> name,
                                     std::optional<std::string_view> value) {
  BerWriter w;
  w.begin(kSequence);
  w.integer(message_id);
  w.begin(Tag::application(static_cast<uint8_t>(Op::extended_response), true));
  result_fields(w, r);
  if (name) w.octet_string(*name, Tag::context(10, false));
  if (value) w.octet_string(*value, Tag::context(11, false));
  w.end();
  w.end();
  return std::move(w).take();
}

std::string encode_notice_of_disconnection(ResultCode code, std::string_view diagnostic) {
  return encode_extended_response(0, LdapResult{code, "", std::string(diagnostic)}, kNoticeOfDisconnectionOid);
}

std::string encode_error(const DecodeError& e) {
  if (e.disconnect) return encode_notice_of_disconnection(e.code, e.message);
  return encode_result(e.message_id, e.response, LdapResult{e.code, "", e.message});
}

// ---- client side -----------------------------------------------------------------------

std::string encode_filter(const Filter& f) {
  BerWriter w;
  write_filter(w, f);
  return std::move(w).take();
}

std::string encode_request(const Request& r) {
  BerWriter w;
  w.begin(kSequence);
  w.integer(r.message_id);
  struct Visit {
    BerWriter& w;
    void operator()(const BindRequest& b) const {
      w.begin(Tag::application(0, true));
      w.integer(b.version);
      w.octet_string(b.name);
      w.octet_string(b.password, Tag::context(0, false));
      w.end();
    }
    void operator()(const UnbindRequest&) const { w.null(Tag::application(2, false)); }
    void operator()(const SearchRequest& s) const {
      w.begin(Tag::application(3, true));
      w.octet_string(s.base);
      w.enumerated(static_cast<int>(s.scope));
      w.enumerated(static_cast<int>(s.deref));
      w.integer(s.size_limit);
      w.integer(s.time_limit);
      w.boolean(s.types_only);
      write_filter(w, s.filter);
      w.begin(kSequence);
      for (const std::string& a : s.attributes) w.octet_string(a);
      w.end();
      w.end();
    }
    void operator()(const AbandonRequest& a) const { w.integer(a.message_id, Tag::application(16, false)); }
    void operator()(const ExtendedRequest& x) const {
      w.begin(Tag::application(23, true));
      w.octet_string(x.kind == ExtendedRequest::Kind::start_tls ? kStartTlsOid : kWhoAmIOid, Tag::context(0, false));
      w.end();
    }
    void operator()(const UnsupportedRequest& u) const {
      bool primitive = u.op == Op::del_request;
      if (primitive) {
        w.octet_string("", Tag::application(static_cast<uint8_t>(u.op), false));
      } else {
        w.begin(Tag::application(static_cast<uint8_t>(u.op), true));
        w.end();
      }
    }
  };
  std::visit(Visit{w}, r.body);
  std::vector<Control> controls = r.controls;
  if (r.paged) {
    bool present = false;
    for (const Control& c : controls) present = present || c.oid == kPagedResultsOid;
    if (!present)
      controls.push_back(Control{std::string(kPagedResultsOid), false, encode_paged_results_value(*r.paged)});
  }
  write_controls(w, controls);
  w.end();
  return std::move(w).take();
}

// ---- debug -----------------------------------------------------------------------------

std::string debug_string(const Request& r, bool with_secrets) {
  std::string s = std::string(to_string(r.op())) + " id=" + std::to_string(r.message_id);
  struct Visit {
    std::string& s;
    bool secrets;
    void operator()(const BindRequest& b) const {
      s += " version=" + std::to_string(b.version) + " name=\"" + quote(b.name, 512) + "\" password=";
      s += secrets ? "\"" + quote(b.password, 512) + "\"" : (b.password.empty() ? "\"\"" : "<redacted>");
    }
    void operator()(const UnbindRequest&) const {}
    void operator()(const SearchRequest& q) const {
      static constexpr const char* kScope[] = {"base", "one", "sub", "children"};
      s += " base=\"" + quote(q.base, 512) + "\" scope=" + kScope[static_cast<int>(q.scope) & 3] +
           " deref=" + std::to_string(static_cast<int>(q.deref)) + " size=" + std::to_string(q.size_limit) +
           " time=" + std::to_string(q.time_limit) + (q.types_only ? " typesOnly" : "") + " filter=" +
           to_string(q.filter) + " attrs=[";
      for (size_t i = 0; i < q.attributes.size(); ++i) s += (i ? "," : "") + quote(q.attributes[i]);
      s += "]";
    }
    void operator()(const AbandonRequest& a) const { s += " abandon=" + std::to_string(a.message_id); }
    void operator()(const ExtendedRequest& x) const {
      s += x.kind == ExtendedRequest::Kind::start_tls ? " StartTLS" : " WhoAmI";
    }
    void operator()(const UnsupportedRequest&) const {}
  };
  std::visit(Visit{s, with_secrets}, r.body);
  for (const Control& c : r.controls)
    s += " control=" + quote(c.oid) + (c.critical ? "!" : "") + (c.value ? "+value" : "");
  if (r.paged)
    s += " paged(size=" + std::to_string(r.paged->size) + ",cookie=" + std::to_string(r.paged->cookie.size()) + "B)";
  return s;
}

}  // namespace caremail::ldap

// The Connect unary protocol (connectrpc.com/docs/protocol) without a server:
// codes and their HTTP statuses, the error JSON with details, and the two
// codecs (application/proto, application/json = protobuf JSON mapping).
// Pure functions over bytes so the server, the CLI and tests share them.
#pragma once

#include <google/protobuf/message.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace v6g::api {

enum class Code : std::uint8_t {
  kCanceled,
  kUnknown,
  kInvalidArgument,
  kDeadlineExceeded,
  kNotFound,
  kAlreadyExists,
  kPermissionDenied,
  kResourceExhausted,
  kFailedPrecondition,
  kAborted,
  kOutOfRange,
  kUnimplemented,
  kInternal,
  kUnavailable,
  kDataLoss,
  kUnauthenticated,
};

std::string_view code_name(Code code);  // "invalid_argument"
std::optional<Code> code_from_name(std::string_view name);
// The spec's table: invalid_argument 400, permission_denied 403, not_found 404,
// already_exists 409, resource_exhausted 429, failed_precondition 400, ...
int http_status(Code code);
// For responses without a Connect error body (proxies, httplib's own 413/404).
Code code_from_http_status(int status);

// One context value: a scalar, a number or a list (allocated_blocks).
using ContextValue = std::variant<std::string, std::int64_t, std::vector<std::string>>;

// What went wrong with one request field. Rendered as a Connect error detail
// of type google.protobuf.Struct whose `debug` is the same object as JSON:
// {"field": "...", "validation_error": "...", "context": {...}}.
struct ErrorDetail {
  std::string field;             // "config.network[0].ipv6.address"
  std::string validation_error;  // machine-readable, e.g. "address_not_in_allocated_blocks"
  std::string message;           // human text for this field (optional)
  std::vector<std::pair<std::string, ContextValue>> context;
};

struct Error {
  Code code = Code::kUnknown;
  std::string message;
  std::vector<ErrorDetail> details;
  int http_status_override = 0;  // e.g. 413 for an oversized body, 415 for a codec

  int status() const { return http_status_override ? http_status_override : http_status(code); }
};

Error make_error(Code code, std::string message);

// {"code":"...","message":"...","details":[{"type","value","debug"}]}.
std::string error_json(const Error& error);
// Reads an error body back (client side); falls back to the HTTP status.
Error parse_error(int http_status, std::string_view body);

enum class Codec : std::uint8_t { kProto, kJson };
// "application/proto", "application/json; charset=utf-8" ...; nullopt = 415.
std::optional<Codec> codec_from_content_type(std::string_view content_type);
std::string_view content_type(Codec codec);

// Parses a request body. Unknown fields are rejected in both codecs: a field
// this server doesn't understand might be a security setting it would
// otherwise silently ignore.
std::optional<Error> decode(Codec codec, std::string_view body, google::protobuf::Message& out);
std::optional<Error> encode(Codec codec, const google::protobuf::Message& message,
                            std::string& out);

// JSON rendering for humans and the audit log (snake_case field names).
std::string to_json(const google::protobuf::Message& message, bool pretty = false);

}  // namespace v6g::api

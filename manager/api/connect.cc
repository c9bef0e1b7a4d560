#include "api/connect.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/unknown_field_set.h>
#include <google/protobuf/util/json_util.h>

#include <array>
#include <cctype>

namespace v6g::api {
namespace {

namespace pb = google::protobuf;

struct CodeInfo {
  Code code;
  std::string_view name;
  int http;
};

constexpr std::array<CodeInfo, 16> kCodes{{
    {Code::kCanceled, "canceled", 499},
    {Code::kUnknown, "unknown", 500},
    {Code::kInvalidArgument, "invalid_argument", 400},
    {Code::kDeadlineExceeded, "deadline_exceeded", 504},
    {Code::kNotFound, "not_found", 404},
    {Code::kAlreadyExists, "already_exists", 409},
    {Code::kPermissionDenied, "permission_denied", 403},
    {Code::kResourceExhausted, "resource_exhausted", 429},
    {Code::kFailedPrecondition, "failed_precondition", 400},
    {Code::kAborted, "aborted", 409},
    {Code::kOutOfRange, "out_of_range", 400},
    {Code::kUnimplemented, "unimplemented", 501},
    {Code::kInternal, "internal", 500},
    {Code::kUnavailable, "unavailable", 503},
    {Code::kDataLoss, "data_loss", 500},
    {Code::kUnauthenticated, "unauthenticated", 401},
}};

// Connect encodes detail values as base64 without padding (decoders accept both).
std::string base64(std::string_view in) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  std::uint32_t acc = 0;
  int bits = 0;
  for (unsigned char c : in) {
    acc = (acc << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(kAlphabet[(acc >> bits) & 0x3f]);
    }
  }
  if (bits > 0) out.push_back(kAlphabet[(acc << (6 - bits)) & 0x3f]);
  return out;
}

pb::Value string_value(std::string_view s) {
  pb::Value v;
  v.set_string_value(std::string(s));
  return v;
}

pb::Struct detail_struct(const ErrorDetail& d) {
  pb::Struct s;
  auto& fields = *s.mutable_fields();
  if (!d.field.empty()) fields["field"] = string_value(d.field);
  if (!d.validation_error.empty()) fields["validation_error"] = string_value(d.validation_error);
  if (!d.message.empty()) fields["message"] = string_value(d.message);
  if (!d.context.empty()) {
    auto& ctx = *fields["context"].mutable_struct_value()->mutable_fields();
    for (const auto& [key, value] : d.context) {
      pb::Value v;
      if (const auto* text = std::get_if<std::string>(&value)) {
        v.set_string_value(*text);
      } else if (const auto* number = std::get_if<std::int64_t>(&value)) {
        v.set_number_value(static_cast<double>(*number));
      } else {
        for (const auto& item : std::get<std::vector<std::string>>(value)) {
          *v.mutable_list_value()->add_values() = string_value(item);
        }
      }
      ctx[key] = std::move(v);
    }
  }
  return s;
}

ErrorDetail detail_from_struct(const pb::Struct& s) {
  ErrorDetail d;
  const auto& f = s.fields();
  auto text = [&](const char* key) {
    auto it = f.find(key);
    return it == f.end() ? std::string() : it->second.string_value();
  };
  d.field = text("field");
  d.validation_error = text("validation_error");
  d.message = text("message");
  if (auto it = f.find("context"); it != f.end()) {
    for (const auto& [key, value] : it->second.struct_value().fields()) {
      if (value.has_list_value()) {
        std::vector<std::string> items;
        for (const auto& item : value.list_value().values()) items.push_back(item.string_value());
        d.context.emplace_back(key, std::move(items));
      } else if (value.kind_case() == pb::Value::kNumberValue) {
        d.context.emplace_back(key, static_cast<std::int64_t>(value.number_value()));
      } else {
        d.context.emplace_back(key, value.string_value());
      }
    }
  }
  return d;
}

// First unknown field anywhere in the message tree, as a path ("config.#17").
std::optional<std::string> find_unknown_field(const pb::Message& m, const std::string& prefix) {
  const auto* reflection = m.GetReflection();
  const auto& unknown = reflection->GetUnknownFields(m);
  if (!unknown.empty()) return prefix + "#" + std::to_string(unknown.field(0).number());
  std::vector<const pb::FieldDescriptor*> fields;
  reflection->ListFields(m, &fields);
  for (const auto* field : fields) {
    if (field->cpp_type() != pb::FieldDescriptor::CPPTYPE_MESSAGE) continue;
    const std::string path = prefix + field->name();
    if (field->is_repeated()) {
      const int n = reflection->FieldSize(m, field);
      for (int i = 0; i < n; ++i) {
        if (auto hit = find_unknown_field(reflection->GetRepeatedMessage(m, field, i),
                                          path + "[" + std::to_string(i) + "]."))
          return hit;
      }
    } else if (auto hit = find_unknown_field(reflection->GetMessage(m, field), path + ".")) {
      return hit;
    }
  }
  return std::nullopt;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

std::string_view code_name(Code code) { return kCodes[static_cast<std::size_t>(code)].name; }

std::optional<Code> code_from_name(std::string_view name) {
  for (const auto& info : kCodes) {
    if (info.name == name) return info.code;
  }
  return std::nullopt;
}

int http_status(Code code) { return kCodes[static_cast<std::size_t>(code)].http; }

Code code_from_http_status(int status) {
  switch (status) {
    case 400:
      return Code::kInternal;
    case 401:
      return Code::kUnauthenticated;
    case 403:
      return Code::kPermissionDenied;
    case 404:
      return Code::kUnimplemented;
    case 413:
      return Code::kResourceExhausted;
    case 429:
    case 502:
    case 503:
    case 504:
      return Code::kUnavailable;
    default:
      return Code::kUnknown;
  }
}

Error make_error(Code code, std::string message) {
  Error e;
  e.code = code;
  e.message = std::move(message);
  return e;
}

std::string error_json(const Error& error) {
  pb::Struct body;
  auto& fields = *body.mutable_fields();
  fields["code"] = string_value(code_name(error.code));
  if (!error.message.empty()) fields["message"] = string_value(error.message);
  if (!error.details.empty()) {
    auto* list = fields["details"].mutable_list_value();
    for (const auto& detail : error.details) {
      const pb::Struct s = detail_struct(detail);
      auto& entry = *list->add_values()->mutable_struct_value()->mutable_fields();
      entry["type"] = string_value(pb::Struct::descriptor()->full_name());
      entry["value"] = string_value(base64(s.SerializeAsString()));
      *entry["debug"].mutable_struct_value() = s;
    }
  }
  std::string out;
  (void)pb::util::MessageToJsonString(body, &out);
  return out;
}

Error parse_error(int http_status, std::string_view body) {
  Error e;
  e.code = code_from_http_status(http_status);
  e.http_status_override = http_status;
  pb::Struct parsed;
  if (!pb::util::JsonStringToMessage(std::string(body), &parsed).ok()) {
    e.message = "HTTP " + std::to_string(http_status);
    return e;
  }
  const auto& f = parsed.fields();
  if (auto it = f.find("code"); it != f.end()) {
    if (auto code = code_from_name(it->second.string_value())) e.code = *code;
  }
  if (auto it = f.find("message"); it != f.end()) e.message = it->second.string_value();
  if (auto it = f.find("details"); it != f.end()) {
    for (const auto& v : it->second.list_value().values()) {
      const auto& entry = v.struct_value().fields();
      // The debug object is what we emit; a peer that only sends `value`
      // still gets its code and message through.
      if (auto debug = entry.find("debug"); debug != entry.end()) {
        e.details.push_back(detail_from_struct(debug->second.struct_value()));
      }
    }
  }
  return e;
}

std::optional<Codec> codec_from_content_type(std::string_view content_type) {
  const std::string type = lower(content_type.substr(0, content_type.find(';')));
  const auto end = type.find_last_not_of(" \t");
  const std::string_view media = std::string_view(type).substr(0, end + 1);
  if (media == "application/proto" || media == "application/protobuf") return Codec::kProto;
  if (media == "application/json") return Codec::kJson;
  return std::nullopt;
}

std::string_view content_type(Codec codec) {
  return codec == Codec::kProto ? "application/proto" : "application/json";
}

std::optional<Error> decode(Codec codec, std::string_view body, pb::Message& out) {
  const std::string& type = out.GetDescriptor()->full_name();
  if (codec == Codec::kJson) {
    pb::util::JsonParseOptions options;
    options.ignore_unknown_fields = false;
    // An empty body is the empty message in JSON ("{}") terms too.
    const auto status =
        pb::util::JsonStringToMessage(body.empty() ? "{}" : std::string(body), &out, options);
    if (!status.ok()) {
      return make_error(Code::kInvalidArgument,
                        "invalid JSON for " + type + ": " + std::string(status.message()));
    }
    return std::nullopt;
  }
  if (!out.ParseFromArray(body.data(), static_cast<int>(body.size()))) {
    return make_error(Code::kInvalidArgument, "invalid protobuf encoding of " + type);
  }
  if (auto field = find_unknown_field(out, "")) {
    return make_error(Code::kInvalidArgument,
                      "unknown field " + *field + " in " + type + " (client schema is newer?)");
  }
  return std::nullopt;
}

std::optional<Error> encode(Codec codec, const pb::Message& message, std::string& out) {
  if (codec == Codec::kProto) {
    if (!message.SerializeToString(&out)) return make_error(Code::kInternal, "serialize failed");
    return std::nullopt;
  }
  pb::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  out.clear();
  const auto status = pb::util::MessageToJsonString(message, &out, options);
  if (!status.ok()) return make_error(Code::kInternal, std::string(status.message()));
  return std::nullopt;
}

std::string to_json(const pb::Message& message, bool pretty) {
  pb::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.add_whitespace = pretty;
  std::string out;
  (void)pb::util::MessageToJsonString(message, &out, options);
  return out;
}

}  // namespace v6g::api

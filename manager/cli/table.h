// Human rendering of JSON responses: the first list of objects becomes a
// table (columns = scalar keys in first-seen order), other scalars become
// "key: value" lines.
#pragma once

#include <google/protobuf/struct.pb.h>

#include <ostream>
#include <string>

namespace v6g::cli {

std::string scalar_text(const google::protobuf::Value& v);
void print_table(const google::protobuf::ListValue& rows, std::ostream& out);
void print_human(const google::protobuf::Struct& response, std::ostream& out);

}  // namespace v6g::cli

// Human rendering: aligned columns (print_columns, for the typed guard
// responses) and generic JSON responses (VmService), where the first list of
// objects becomes a table (columns = scalar keys in first-seen order) and
// other scalars become "key: value" lines.
#pragma once

#include <google/protobuf/struct.pb.h>

#include <ostream>
#include <string>
#include <vector>

namespace v6g::cli {

std::string scalar_text(const google::protobuf::Value& v);
void print_table(const google::protobuf::ListValue& rows, std::ostream& out);
// Aligned columns, two spaces apart, headers upper-cased.
void print_columns(const std::vector<std::string>& headers,
                   const std::vector<std::vector<std::string>>& rows, std::ostream& out);
void print_human(const google::protobuf::Struct& response, std::ostream& out);

}  // namespace v6g::cli

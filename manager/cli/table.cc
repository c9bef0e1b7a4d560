#include "cli/table.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <vector>

namespace v6g::cli {

namespace pb = google::protobuf;

std::string scalar_text(const pb::Value& v) {
  switch (v.kind_case()) {
    case pb::Value::kStringValue:
      return v.string_value();
    case pb::Value::kBoolValue:
      return v.bool_value() ? "true" : "false";
    case pb::Value::kNumberValue: {
      const double d = v.number_value();
      char buf[64];
      if (std::floor(d) == d && std::fabs(d) < 1e15) {
        std::snprintf(buf, sizeof(buf), "%.0f", d);
      } else {
        std::snprintf(buf, sizeof(buf), "%g", d);
      }
      return buf;
    }
    case pb::Value::kListValue: {
      std::string joined;
      for (const auto& item : v.list_value().values()) {
        if (!joined.empty()) joined += ",";
        joined += scalar_text(item);
      }
      return joined;
    }
    case pb::Value::kStructValue:
      return "{...}";
    default:
      return "";
  }
}

void print_table(const pb::ListValue& rows, std::ostream& out) {
  std::vector<std::string> columns;
  for (const auto& row : rows.values()) {
    // Map iteration order is unspecified; sort keys per row for stable output.
    std::vector<std::string> keys;
    for (const auto& [key, value] : row.struct_value().fields()) {
      if (value.kind_case() != pb::Value::kStructValue) keys.push_back(key);
    }
    std::sort(keys.begin(), keys.end());
    for (const auto& key : keys) {
      if (std::find(columns.begin(), columns.end(), key) == columns.end()) columns.push_back(key);
    }
  }
  // Identity columns first: operators scan by these.
  for (const char* first : {"status", "tenant_id", "vm_id", "ifname", "id"}) {
    auto it = std::find(columns.begin(), columns.end(), first);
    if (it != columns.end()) std::rotate(columns.begin(), it, it + 1);
  }
  std::vector<std::vector<std::string>> cells;
  for (const auto& row : rows.values()) {
    std::vector<std::string> line;
    const auto& fields = row.struct_value().fields();
    for (const auto& column : columns) {
      auto it = fields.find(column);
      line.push_back(it == fields.end() ? "-" : scalar_text(it->second));
    }
    cells.push_back(std::move(line));
  }
  print_columns(columns, cells, out);
}

void print_columns(const std::vector<std::string>& headers,
                   const std::vector<std::vector<std::string>>& rows, std::ostream& out) {
  std::vector<std::size_t> width;
  for (const auto& h : headers) width.push_back(h.size());
  for (const auto& row : rows) {
    for (std::size_t i = 0; i < row.size() && i < width.size(); ++i) {
      width[i] = std::max(width[i], row[i].size());
    }
  }
  auto emit = [&](const std::vector<std::string>& line, bool upper) {
    for (std::size_t i = 0; i < line.size() && i < width.size(); ++i) {
      std::string text = line[i];
      if (upper) std::transform(text.begin(), text.end(), text.begin(), ::toupper);
      out << text;
      if (i + 1 < line.size()) out << std::string(width[i] - text.size() + 2, ' ');
    }
    out << '\n';
  };
  emit(headers, true);
  for (const auto& line : rows) emit(line, false);
}

void print_human(const pb::Struct& response, std::ostream& out) {
  std::vector<std::string> keys;
  for (const auto& [key, value] : response.fields()) keys.push_back(key);
  std::sort(keys.begin(), keys.end());
  bool printed_table = false;
  for (const auto& key : keys) {
    const auto& value = response.fields().at(key);
    if (value.has_list_value() && !printed_table &&
        (value.list_value().values_size() == 0 ||
         value.list_value().values(0).has_struct_value())) {
      print_table(value.list_value(), out);
      printed_table = true;
    } else if (value.has_struct_value()) {
      out << key << ":\n";
      std::vector<std::string> nested_keys;
      for (const auto& [k, v] : value.struct_value().fields()) nested_keys.push_back(k);
      std::sort(nested_keys.begin(), nested_keys.end());
      for (const auto& k : nested_keys) {
        out << "  " << k << ": " << scalar_text(value.struct_value().fields().at(k)) << '\n';
      }
    } else {
      out << key << ": " << scalar_text(value) << '\n';
    }
  }
}

}  // namespace v6g::cli

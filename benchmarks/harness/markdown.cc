#include "benchmarks/harness/markdown.h"

#include <algorithm>
#include <utility>

namespace moco {
namespace {

// Characters of UTF-8 text: the bytes that do not continue a multi-byte sequence.
size_t Width(const std::string& text) {
  return static_cast<size_t>(std::count_if(text.begin(), text.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  }));
}

void AppendRow(const std::vector<std::string>& cells, std::string* out) {
  for (const std::string& cell : cells) {
    out->append("| ");
    out->append(cell);
    out->append(" ");
  }
  out->append("|\n");
}

}  // namespace

MarkdownTable::MarkdownTable(std::vector<TableColumn> columns) : columns_(std::move(columns)) {}

MarkdownTable& MarkdownTable::AddRow(std::vector<std::string> cells) {
  cells.resize(columns_.size());
  rows_.push_back(std::move(cells));
  return *this;
}

std::string MarkdownTable::Render() const {
  std::string out;
  std::vector<std::string> header;
  for (const TableColumn& c : columns_) header.push_back(c.header);
  AppendRow(header, &out);
  for (const TableColumn& c : columns_) {
    out.append(c.align == Align::kLeft ? "| :--- " : c.align == Align::kRight ? "| ---: " : "| --- ");
  }
  out.append("|\n");
  for (const std::vector<std::string>& row : rows_) AppendRow(row, &out);
  return out;
}

std::string MarkdownTable::RenderText(size_t gap) const {
  std::vector<size_t> widths;
  for (size_t i = 0; i < columns_.size(); ++i) {
    size_t w = std::max(columns_[i].min_width, Width(columns_[i].header));
    for (const std::vector<std::string>& row : rows_) w = std::max(w, Width(row[i]));
    widths.push_back(w);
  }
  std::string out;
  auto line = [&](const std::vector<std::string>& cells) {
    for (size_t i = 0; i < cells.size(); ++i) {
      if (i > 0) out.append(gap, ' ');
      const std::string padding(widths[i] - Width(cells[i]), ' ');
      const bool last = i + 1 == cells.size();
      if (columns_[i].align == Align::kRight) {
        out.append(padding).append(cells[i]);
      } else {
        out.append(cells[i]);
        if (!last) out.append(padding);
      }
    }
    out.append("\n");
  };
  std::vector<std::string> header;
  for (const TableColumn& c : columns_) header.push_back(c.header);
  line(header);
  for (const std::vector<std::string>& row : rows_) line(row);
  return out;
}

}  // namespace moco

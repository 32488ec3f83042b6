// The one table writer of the reports: a header, rows of text cells, and two renderings, a
// Markdown (GitHub) table for the .md reports and fixed-width columns for a terminal (the CI
// regression's verdicts). No LibTorch, no protos.
//
//   MarkdownTable table({"run", "state", {"img/s", Align::kRight}});
//   table.AddRow({"moco-256-s0", "done", "412"});
//   table.AddRow({"moco-1024-s0", "to run"});  // missing cells are empty
//   md += table.Render();
//   // | run | state | img/s |
//   // | --- | --- | ---: |
//   // | moco-256-s0 | done | 412 |
//   // | moco-1024-s0 | to run |  |
//   std::cout << table.RenderText();  // the same, padded to columns, two spaces apart
#ifndef MOCO_BENCHMARKS_HARNESS_MARKDOWN_H_
#define MOCO_BENCHMARKS_HARNESS_MARKDOWN_H_

#include <cstddef>
#include <string>
#include <vector>

namespace moco {

// kDefault writes Markdown's plain "---" rule (left in viewers) and pads text to the left;
// kLeft and kRight write ":---" and "---:" and pad on that side.
enum class Align { kDefault, kLeft, kRight };

struct TableColumn {
  TableColumn(const char* header) : header(header) {}  // NOLINT: {"a", "b"} lists of headers
  TableColumn(std::string header) : header(std::move(header)) {}  // NOLINT
  TableColumn(std::string header, Align align, size_t min_width = 0)
      : header(std::move(header)), align(align), min_width(min_width) {}
  std::string header;
  Align align = Align::kDefault;
  size_t min_width = 0;  // RenderText only: the column is at least this wide
};

class MarkdownTable {
 public:
  explicit MarkdownTable(std::vector<TableColumn> columns);

  // A row of cells, left to right; fewer than the columns are padded with empty cells, more
  // are an error in the caller (they are dropped).
  MarkdownTable& AddRow(std::vector<std::string> cells);
  size_t rows() const { return rows_.size(); }

  // "| h1 | h2 |\n| --- | --- |\n| a | b |\n": each cell between "| " and " |", as written
  // (a "|" in a cell is the caller's to escape), an empty cell as "|  |".
  std::string Render() const;

  // Fixed-width text: each column as wide as its widest cell (header included, in UTF-8
  // characters) or its min_width, kRight columns right-aligned, columns `gap` spaces apart, a
  // left-aligned last column unpadded; no rule line.
  std::string RenderText(size_t gap = 2) const;

 private:
  std::vector<TableColumn> columns_;
  std::vector<std::vector<std::string>> rows_;
};

}  // namespace moco

#endif  // MOCO_BENCHMARKS_HARNESS_MARKDOWN_H_

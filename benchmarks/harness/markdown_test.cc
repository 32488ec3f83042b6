#include "benchmarks/harness/markdown.h"

#include "gtest/gtest.h"

namespace moco {
namespace {

TEST(MarkdownTableTest, HeaderRuleAndRows) {
  MarkdownTable table({"run", "state", "img/s"});
  table.AddRow({"moco-256-s0", "done", "412"});
  EXPECT_EQ(table.rows(), 1u);
  EXPECT_EQ(table.Render(),
            "| run | state | img/s |\n"
            "| --- | --- | --- |\n"
            "| moco-256-s0 | done | 412 |\n");
}

TEST(MarkdownTableTest, MissingAndEmptyCellsAreEmpty) {
  MarkdownTable table({"", ""});
  table.AddRow({"CPU"});
  table.AddRow({"", "x"});
  table.AddRow({"a", "b", "dropped"});
  EXPECT_EQ(table.Render(),
            "|  |  |\n"
            "| --- | --- |\n"
            "| CPU |  |\n"
            "|  | x |\n"
            "| a | b |\n");
}

TEST(MarkdownTableTest, AlignmentShowsInTheRule) {
  MarkdownTable table({"name", {"left", Align::kLeft}, {"right", Align::kRight}});
  EXPECT_EQ(table.Render(), "| name | left | right |\n| --- | :--- | ---: |\n");
}

TEST(MarkdownTableTest, NoRowsIsHeaderAndRule) {
  EXPECT_EQ(MarkdownTable({"a"}).Render(), "| a |\n| --- |\n");
}

TEST(MarkdownTableTest, TextColumnsArePaddedToTheWidestCell) {
  MarkdownTable table({"figure", {"value", Align::kRight, 8}, "verdict"});
  table.AddRow({"smoke/loss", "1.250", "pass"});
  table.AddRow({"x", "123456789.5", "REGRESSED"});
  // The value column grows past its minimum for the long value; the last column is unpadded.
  EXPECT_EQ(table.RenderText(),
            "figure            value  verdict\n"
            "smoke/loss        1.250  pass\n"
            "x           123456789.5  REGRESSED\n");
}

TEST(MarkdownTableTest, TextWidthCountsCharactersNotBytes) {
  MarkdownTable table({"a", "b"});
  table.AddRow({"42 ± 1", "x"});  // ± is two bytes, one character
  table.AddRow({"1", "y"});
  EXPECT_EQ(table.RenderText(1),
            "a      b\n"
            "42 ± 1 x\n"
            "1      y\n");
}

}  // namespace
}  // namespace moco

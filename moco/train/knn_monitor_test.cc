#include "moco/train/knn_monitor.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <random>
#include <vector>

#include "gtest/gtest.h"

namespace moco {
namespace {

// The official CIFAR-10 notebook's knn_predict, written out plainly (no tensor ops): for each
// query the k training features of highest cosine similarity, each voting exp(sim / t) for its
// class; the class with the largest sum wins (the first such class on a tie, as argmax).
double ReferenceKnnTopOne(const std::vector<std::vector<double>>& memory, const std::vector<int>& memory_labels,
                          const std::vector<std::vector<double>>& queries, const std::vector<int>& query_labels,
                          int k, double t, int num_classes) {
  int correct = 0;
  for (size_t q = 0; q < queries.size(); ++q) {
    std::vector<std::pair<double, int>> sims;  // (similarity, memory index)
    for (size_t m = 0; m < memory.size(); ++m) {
      double dot = 0;
      for (size_t d = 0; d < memory[m].size(); ++d) dot += memory[m][d] * queries[q][d];
      sims.emplace_back(dot, static_cast<int>(m));
    }
    std::stable_sort(sims.begin(), sims.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
    std::vector<double> votes(num_classes, 0.0);
    for (int i = 0; i < std::min<int>(k, sims.size()); ++i) votes[memory_labels[sims[i].second]] += std::exp(sims[i].first / t);
    const int predicted = static_cast<int>(std::max_element(votes.begin(), votes.end()) - votes.begin());
    correct += predicted == query_labels[q];
  }
  return queries.empty() ? 0.0 : static_cast<double>(correct) / queries.size();
}

at::Tensor ToTensor(const std::vector<std::vector<double>>& rows) {
  std::vector<float> flat;
  for (const auto& row : rows) flat.insert(flat.end(), row.begin(), row.end());
  return at::tensor(flat, at::kFloat).view({static_cast<int64_t>(rows.size()), static_cast<int64_t>(rows[0].size())});
}

at::Tensor Labels(const std::vector<int>& labels) {
  return at::tensor(std::vector<int64_t>(labels.begin(), labels.end()), at::kLong);
}

std::vector<double> Unit(double x, double y) {
  const double n = std::hypot(x, y);
  return {x / n, y / n};
}

// A case worked by hand in 2-d. The query at angle 0; memory at 10 deg (class 0), 20 and 25 deg
// (class 1) and 90 deg (class 0).
// - k = 3, t = 0.1: the neighbours at 10, 20, 25 deg; class 1's two votes, exp(cos 20 / 0.1) +
//   exp(cos 25 / 0.1) = 12,051 + 8,631, beat class 0's one, exp(cos 10 / 0.1) = 18,922: class 1.
// - k = 1: only the 10 deg neighbour votes: class 0.
// - k = 4 (more than either class has), t = 50: two votes each; class 0 exp(0.9848 / 50) + exp(0)
//   = 2.0199, class 1 exp(0.9397 / 50) + exp(0.9063 / 50) = 2.0373: class 1 (uniform votes would tie
//   and give class 0).
TEST(KnnMonitorTest, AWeightedVoteWorkedByHand) {
  const double pi = std::acos(-1.0);
  auto at = [&](double degrees) { return Unit(std::cos(degrees * pi / 180), std::sin(degrees * pi / 180)); };
  const std::vector<std::vector<double>> memory = {at(10), at(20), at(25), at(90)};
  const std::vector<int> labels = {0, 1, 1, 0};
  const std::vector<std::vector<double>> query = {at(0)};
  const at::Tensor m = ToTensor(memory), q = ToTensor(query);
  EXPECT_EQ(KnnTopOne(m, Labels(labels), q, Labels({1}), 3, 0.1, 2), 1.0);
  EXPECT_EQ(KnnTopOne(m, Labels(labels), q, Labels({0}), 1, 0.1, 2), 1.0);
  EXPECT_EQ(KnnTopOne(m, Labels(labels), q, Labels({1}), 4, 50.0, 2), 1.0);
  // k larger than the memory: every entry votes, as with k = 4.
  EXPECT_EQ(KnnTopOne(m, Labels(labels), q, Labels({1}), 200, 50.0, 2), 1.0);
}

// A tie in the votes goes to the lower class, as argmax does: two neighbours at the same angle on
// either side, one of each class.
TEST(KnnMonitorTest, ATieGoesToTheLowerClass) {
  const std::vector<std::vector<double>> memory = {Unit(1, 1), Unit(1, -1)};
  const at::Tensor m = ToTensor(memory), q = ToTensor({Unit(1, 0)});
  EXPECT_EQ(KnnTopOne(m, Labels({1, 0}), q, Labels({0}), 2, 0.1, 2), 1.0);
  EXPECT_EQ(KnnTopOne(m, Labels({1, 0}), q, Labels({1}), 2, 0.1, 2), 0.0);
}

// Random unit features, 5 classes of uneven size (one smaller than k), queries in several chunks
// of the monitor's 512: the same accuracy as the plain computation above, at several k and t.
TEST(KnnMonitorTest, MatchesAPlainComputationOfTheNotebooksVote) {
  std::mt19937 rng(7);
  std::normal_distribution<double> normal;
  auto random_unit = [&](int label) {
    std::vector<double> v(16);
    for (double& x : v) x = normal(rng);
    v[label] += 2.0;  // some class structure, so the accuracy is neither 0 nor 1
    const double n = std::sqrt(std::inner_product(v.begin(), v.end(), v.begin(), 0.0));
    for (double& x : v) x /= n;
    return v;
  };
  std::vector<std::vector<double>> memory, queries;
  std::vector<int> memory_labels, query_labels;
  const int class_sizes[5] = {300, 250, 200, 150, 7};
  for (int c = 0; c < 5; ++c) {
    for (int i = 0; i < class_sizes[c]; ++i) {
      memory.push_back(random_unit(c));
      memory_labels.push_back(c);
    }
  }
  for (int i = 0; i < 1100; ++i) {
    query_labels.push_back(i % 5);
    queries.push_back(random_unit(i % 5));
  }
  // Float32 features on both sides, so that both rank the same similarities.
  for (auto* rows : {&memory, &queries}) {
    for (auto& row : *rows) {
      for (double& x : row) x = static_cast<float>(x);
    }
  }
  const at::Tensor m = ToTensor(memory), q = ToTensor(queries);
  for (const auto& [k, t] : std::vector<std::pair<int, double>>{{1, 0.1}, {20, 0.1}, {200, 0.1}, {200, 0.5}, {5000, 1.0}}) {
    const double expected = ReferenceKnnTopOne(memory, memory_labels, queries, query_labels, k, t, 5);
    EXPECT_GT(expected, 0.3);
    EXPECT_LT(expected, 1.0);
    EXPECT_NEAR(KnnTopOne(m, Labels(memory_labels), q, Labels(query_labels), k, t, 5), expected, 1.5 / 1100)
        << "k " << k << ", t " << t;
  }
}

}  // namespace
}  // namespace moco

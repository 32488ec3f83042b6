// SplitMix64: the small, seedable random generator behind every augmentation draw, and
// Mix64, the hash that derives independent seeds from it.
//
//   SplitMix64 rng(ViewSeed(run_seed, epoch, index, /*view=*/0));
//   double scale = rng.Uniform(0.2, 1.0);
//   bool flip = rng.Bernoulli(0.5);
//
// Why not std::mt19937_64: its 2.5 KB state costs more to seed than a 32x32 view costs to
// augment, and std::uniform_real_distribution's output is implementation-defined, so views
// would differ between standard libraries. SplitMix64 (Steele, Lea and Flood, OOPSLA 2014)
// has one 64-bit word of state, passes BigCrush, and every value below is computed the same
// way everywhere.
#ifndef MOCO_AUGMENT_RANDOM_H_
#define MOCO_AUGMENT_RANDOM_H_

#include <cstdint>

namespace moco {

// The SplitMix64 output function: a bijective 64-bit finaliser whose every output bit
// depends on every input bit. Used on its own as a hash.
inline uint64_t Mix64(uint64_t x) {
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}

  uint64_t Next() {
    state_ += 0x9e3779b97f4a7c15ULL;  // 2^64 / golden ratio: a full-period Weyl sequence
    return Mix64(state_);
  }

  // Uniform in [0, 1), from the top 53 bits (every double in the range is reachable).
  double UniformDouble() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }

  // Uniform in [lo, hi); exactly lo when lo == hi.
  double Uniform(double lo, double hi) { return lo + (hi - lo) * UniformDouble(); }

  // Uniform integer in [0, n), n >= 1, by Lemire's multiply-shift (bias below 2^-32 for the
  // small n used here, and no division).
  uint32_t Below(uint32_t n) {
    return static_cast<uint32_t>(((Next() >> 32) * static_cast<uint64_t>(n)) >> 32);
  }

  // True with probability p: never for p <= 0, always for p >= 1 (as torchvision's
  // `torch.rand(1) < p`).
  bool Bernoulli(double p) { return UniformDouble() < p; }

 private:
  uint64_t state_;
};

}  // namespace moco

#endif  // MOCO_AUGMENT_RANDOM_H_

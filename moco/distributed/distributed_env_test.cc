#include "moco/distributed/distributed_env.h"

#include <cstdlib>
#include <map>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace moco {
namespace {

using ::testing::HasSubstr;

std::map<std::string, std::string> TorchrunVariables() {
  return {{"RANK", "1"},
          {"WORLD_SIZE", "4"},
          {"LOCAL_RANK", "1"},
          {"MASTER_ADDR", "10.0.0.7"},
          {"MASTER_PORT", "29501"}};
}

TEST(DistributedEnvTest, NothingSetIsASingleProcess) {
  absl::StatusOr<DistributedEnv> env = DistributedEnvFromVariables({});
  ASSERT_TRUE(env.ok()) << env.status();
  EXPECT_EQ(env->rank, 0);
  EXPECT_EQ(env->world_size, 1);
  EXPECT_EQ(env->local_rank, 0);
}

TEST(DistributedEnvTest, EmptyValuesCountAsUnset) {
  absl::StatusOr<DistributedEnv> env =
      DistributedEnvFromVariables({{"RANK", ""}, {"MASTER_PORT", ""}});
  ASSERT_TRUE(env.ok()) << env.status();
  EXPECT_EQ(env->world_size, 1);
}

TEST(DistributedEnvTest, ParsesTheTorchrunContract) {
  absl::StatusOr<DistributedEnv> env = DistributedEnvFromVariables(TorchrunVariables());
  ASSERT_TRUE(env.ok()) << env.status();
  EXPECT_EQ(env->rank, 1);
  EXPECT_EQ(env->world_size, 4);
  EXPECT_EQ(env->local_rank, 1);
  EXPECT_EQ(env->master_addr, "10.0.0.7");
  EXPECT_EQ(env->master_port, 29501);
}

TEST(DistributedEnvTest, ReadsTorchrunsAgentStoreAndRestartCount) {
  auto variables = TorchrunVariables();
  absl::StatusOr<DistributedEnv> env = DistributedEnvFromVariables(variables);
  ASSERT_TRUE(env.ok()) << env.status();
  EXPECT_FALSE(env->use_agent_store);  // the built-in launcher and plain torchrun contracts
  EXPECT_EQ(env->restart_count, 0);
  variables["TORCHELASTIC_USE_AGENT_STORE"] = "True";
  variables["TORCHELASTIC_RESTART_COUNT"] = "2";
  env = DistributedEnvFromVariables(variables);
  ASSERT_TRUE(env.ok()) << env.status();
  EXPECT_TRUE(env->use_agent_store);
  EXPECT_EQ(env->restart_count, 2);
  variables["TORCHELASTIC_USE_AGENT_STORE"] = "False";
  variables["TORCHELASTIC_RESTART_COUNT"] = "two";
  env = DistributedEnvFromVariables(variables);
  EXPECT_FALSE(env.ok());
  EXPECT_NE(env.status().message().find("TORCHELASTIC_RESTART_COUNT"), std::string::npos) << env.status();
}

TEST(DistributedEnvTest, ReadsTheProcessEnvironment) {
  for (const auto& [name, value] : TorchrunVariables()) setenv(name.c_str(), value.c_str(), 1);
  absl::StatusOr<DistributedEnv> env = DistributedEnvFromEnvironment();
  for (const auto& [name, value] : TorchrunVariables()) unsetenv(name.c_str());
  ASSERT_TRUE(env.ok()) << env.status();
  EXPECT_EQ(env->rank, 1);
  EXPECT_EQ(env->world_size, 4);
  EXPECT_EQ(env->master_addr, "10.0.0.7");
  EXPECT_EQ(env->master_port, 29501);

  absl::StatusOr<DistributedEnv> alone = DistributedEnvFromEnvironment();
  ASSERT_TRUE(alone.ok()) << alone.status();
  EXPECT_EQ(alone->world_size, 1);
}

void ExpectInvalid(const std::map<std::string, std::string>& variables,
                   const std::string& fragment) {
  absl::StatusOr<DistributedEnv> env = DistributedEnvFromVariables(variables);
  ASSERT_FALSE(env.ok());
  EXPECT_EQ(env.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(env.status().message()), HasSubstr(fragment));
}

TEST(DistributedEnvTest, RejectsANonNumericPort) {
  auto variables = TorchrunVariables();
  variables["MASTER_PORT"] = "abc";
  ExpectInvalid(variables, "MASTER_PORT=\"abc\" is not an integer");
}

TEST(DistributedEnvTest, RejectsAPortOutOfRange) {
  auto variables = TorchrunVariables();
  variables["MASTER_PORT"] = "70000";
  ExpectInvalid(variables, "MASTER_PORT=70000 is out of range");
  variables["MASTER_PORT"] = "0";
  ExpectInvalid(variables, "MASTER_PORT=0 is out of range");
}

TEST(DistributedEnvTest, RejectsRankNotBelowWorldSize) {
  auto variables = TorchrunVariables();
  variables["RANK"] = "4";
  ExpectInvalid(variables, "RANK=4 is out of range: must be in [0, WORLD_SIZE=4)");
  variables["RANK"] = "-1";
  ExpectInvalid(variables, "RANK=-1 is out of range");
}

TEST(DistributedEnvTest, RejectsBadWorldSizeAndLocalRank) {
  auto variables = TorchrunVariables();
  variables["WORLD_SIZE"] = "0";
  ExpectInvalid(variables, "WORLD_SIZE=0 is out of range");
  variables = TorchrunVariables();
  variables["LOCAL_RANK"] = "two";
  ExpectInvalid(variables, "LOCAL_RANK=\"two\" is not an integer");
  variables["LOCAL_RANK"] = "9";
  ExpectInvalid(variables, "LOCAL_RANK=9 is out of range");
}

TEST(DistributedEnvTest, RejectsAPartialEnvironment) {
  ExpectInvalid({{"RANK", "0"}, {"WORLD_SIZE", "2"}},
                "RANK=\"0\", WORLD_SIZE=\"2\" set but LOCAL_RANK, MASTER_ADDR, MASTER_PORT not");
  ExpectInvalid({{"MASTER_PORT", "29500"}}, "MASTER_PORT=\"29500\" set but RANK");
}

TEST(DistributedEnvTest, ValidatesHandBuiltEnvironments) {
  DistributedEnv env;
  EXPECT_TRUE(ValidateDistributedEnv(env).ok());
  env.master_addr = "";
  EXPECT_EQ(ValidateDistributedEnv(env).code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace moco

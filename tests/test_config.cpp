#include <fstream>

#include "forgery/core/config.h"
#include "forgery/core/error.h"
#include "forgery/core/presets.h"
#include "forgery/train/options.h"
#include "test_util.h"

namespace forgery {
namespace {

using test::TempDir;

template <class F>
std::string error_of(F&& f) {
  return test::error_message(std::forward<F>(f));
}

TEST(Config, GanMnistPresetIsTheSeedsProgram) {
  Config c = build_config("gan-mnist", {});
  EXPECT_EQ(c.get_string("model"), "mlp-gan");
  EXPECT_EQ(c.get_string("dataset"), "mnist");
  EXPECT_EQ(c.get_int("epochs"), 200);
  EXPECT_EQ(c.get_int("batch_size"), 512);
  EXPECT_FALSE(c.get_bool("drop_last"));
  EXPECT_EQ(c.get_int("nz"), 128);
  EXPECT_EQ(c.get_int("k"), 1);
  EXPECT_EQ(c.get_int("width"), 256);
  EXPECT_DOUBLE_EQ(c.get_float("lr_g"), 0.0002);
  EXPECT_DOUBLE_EQ(c.get_float("lr_d"), 0.0002);
  EXPECT_DOUBLE_EQ(c.get_float("beta1"), 0.9);
  EXPECT_DOUBLE_EQ(c.get_float("beta2"), 0.999);
  EXPECT_DOUBLE_EQ(c.get_float("dropout"), 0.3);
  EXPECT_DOUBLE_EQ(c.get_float("leaky_slope"), 0.2);
  EXPECT_EQ(c.get_string("loss"), "bce");
  EXPECT_EQ(c.get_int("sample_size"), 64);
  EXPECT_EQ(c.get_int("grid_nrow"), 8);
  EXPECT_EQ(c.get_int("grid_padding"), 2);
  EXPECT_EQ(c.get_int("final_samples"), 10);
}

TEST(Config, SetOverridesParseByDeclaredType) {
  Config c = build_config("gan-mnist", {"nz=64", "lr_g=1e-3", "drop_last=true", "seed=42", "device=cpu"});
  EXPECT_EQ(c.get_int("nz"), 64);
  EXPECT_DOUBLE_EQ(c.get_float("lr_g"), 1e-3);
  EXPECT_TRUE(c.get_bool("drop_last"));
  EXPECT_EQ(c.get_int("seed"), 42);
  EXPECT_EQ(c.get_string("device"), "cpu");
}

TEST(Config, UnknownSetKeyIsNamedWithSuggestion) {
  std::string msg = error_of([] { build_config("gan-mnist", {"bach_size=3"}); });
  EXPECT_NE(msg.find("unknown option 'bach_size'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("batch_size"), std::string::npos) << msg;
  EXPECT_THROW(build_config("gan-mnist", {"bach_size=3"}), UsageError);
}

TEST(Config, BadValueTypesAreNamed) {
  std::string msg = error_of([] { build_config("gan-mnist", {"epochs=ten"}); });
  EXPECT_NE(msg.find("epochs=ten"), std::string::npos) << msg;
  EXPECT_NE(msg.find("integer"), std::string::npos) << msg;
  msg = error_of([] { build_config("gan-mnist", {"lr_g=fast"}); });
  EXPECT_NE(msg.find("lr_g"), std::string::npos) << msg;
  msg = error_of([] { build_config("gan-mnist", {"drop_last=maybe"}); });
  EXPECT_NE(msg.find("boolean"), std::string::npos) << msg;
  msg = error_of([] { build_config("gan-mnist", {"epochs=3.5"}); });
  EXPECT_NE(msg.find("integer"), std::string::npos) << msg;
  msg = error_of([] { build_config("gan-mnist", {"noequals"}); });
  EXPECT_NE(msg.find("key=value"), std::string::npos) << msg;
}

TEST(Config, CharactersBeyondAsciiOnlyInStringsAndComments) {
  // Found by fuzzing: toml++ 3.3 has undefined behaviour classifying such characters elsewhere.
  Config c({{"data_dir", OptionType::String, std::string(), ""}, {"epochs", OptionType::Int, int64_t{1}, ""}});
  c.merge_toml("# Übungslauf, 練習\ndata_dir = \"/daten/größe\" # é\nepochs = 3\n", "ok.toml");
  EXPECT_EQ(c.get_string("data_dir"), "/daten/größe");
  std::string msg = error_of([&] { c.merge_toml("data_dir = \'/tmp/ü\'\n", "literal.toml"); });
  EXPECT_NE(msg.find("literal.toml: invalid TOML at line 1, column 18: a character beyond ASCII in a single-quoted"),
            std::string::npos) << msg;
  c.merge_toml("data_dir = \"\"\"a \\\" é\\\n  ü\"\"\"\n", "basic.toml");
  EXPECT_EQ(c.get_string("data_dir"), "a \" éü");
  msg = error_of([&] { c.merge_toml("epochs = 3\n名前 = 1\n", "bad.toml"); });
  EXPECT_NE(msg.find("bad.toml: invalid TOML at line 2, column 1: a character beyond ASCII"), std::string::npos) << msg;
  msg = error_of([&] { c.merge_toml("m\xef\xac\xbb#\n", "fuzzed.toml"); });
  EXPECT_NE(msg.find("line 1, column 2"), std::string::npos) << msg;
  // A value toml++ reads where this check saw a string: still only ASCII reaches toml++.
  msg = error_of([&] { c.merge_toml("\tdata_dir =0\"ml\xd0\x98\xd1\x9a\"\n", "fuzzed2.toml"); });
  EXPECT_NE(msg.find("fuzzed2.toml: invalid TOML"), std::string::npos) << msg;
  msg = error_of([&] { c.merge_toml("data_dir = \"\xff\"\n", "latin1.toml"); });
  EXPECT_NE(msg.find("line 1, column 13: not UTF-8"), std::string::npos) << msg;
  EXPECT_EQ(c.get_string("data_dir"), "a \" éü");  // failed merges change nothing
  msg = error_of([&] { c.merge_toml(std::string("epochs = 3\n[\0\x01]\n", 16), "nul.toml"); });
  EXPECT_NE(msg.find("nul.toml: invalid TOML at line 2, column 2: control character 0x0"), std::string::npos) << msg;
  msg = error_of([&] { Config::peek_string("model = \"gan\"\nx = ¡\n", "model", "peek.toml"); });
  EXPECT_NE(msg.find("line 2, column 5"), std::string::npos) << msg;
}

TEST(Config, ValuesOutOfRangeAreRejected) {
  EXPECT_NE(error_of([] { build_config("gan-mnist", {"batch_size=0"}); }).find("batch_size"), std::string::npos);
  EXPECT_NE(error_of([] { build_config("gan-mnist", {"beta1=1.5"}); }).find("beta1"), std::string::npos);
  EXPECT_NE(error_of([] { build_config("gan-mnist", {"dataset=cifar"}); }).find("dataset"), std::string::npos);
  EXPECT_NE(error_of([] { build_config("gan-mnist", {"model=nope"}); }).find("unknown model 'nope'"), std::string::npos);
  EXPECT_NE(error_of([] { build_config("gan-mnist", {"progress=loud"}); }).find("progress"), std::string::npos);
  EXPECT_NE(error_of([] { build_config("gan-mnist", {"ema_kimg=-1"}); }).find("ema_kimg must be 0"), std::string::npos);
  EXPECT_NE(error_of([] { build_config("dcgan-mnist", {"ema_kimg=10", "ema_batchnorm=average"}); })
                .find("option ema_batchnorm must be recompute or trained, not 'average'"),
            std::string::npos);
  EXPECT_NE(error_of([] { build_config("gan-mnist", {"ema_rampup=0.05"}); }).find("ema_rampup needs ema_kimg"),
            std::string::npos);
  // Seeds beyond the generator's 32 bits would repeat smaller ones.
  EXPECT_NE(error_of([] { build_config("gan-mnist", {"seed=4294967296"}); }).find("option seed must be between 0 and 4294967295"),
            std::string::npos);
  EXPECT_NE(error_of([] { build_config("gan-mnist", {"seed=-1"}); }).find("option seed"), std::string::npos);
  EXPECT_EQ(build_config("gan-mnist", {"seed=4294967295"}).get_int("seed"), 4294967295LL);
  // Another model under a preset's options: the message says why its options do not fit.
  const std::string other = error_of([] { build_config("gan-mnist", {"model=dcgan"}); });
  EXPECT_NE(other.find("--set model=dcgan keeps preset gan-mnist's options, which are those of mlp-gan"),
            std::string::npos) << other;
}

// lr_policy linear: a new run trains its whole schedule, as the reference trains n_epochs +
// n_epochs_decay, unless epochs is given; a config.toml's fixed epochs stays.
TEST(Config, EpochsFollowALinearScheduleUnlessGiven) {
  EXPECT_EQ(build_config("pix2pix-facades", {}).get_int("epochs"), 200);
  EXPECT_EQ(build_config("pix2pix-facades", {"n_epochs=150"}).get_int("epochs"), 250);
  EXPECT_EQ(build_config("cyclegan-horse2zebra", {"n_epochs=5", "n_epochs_decay=5"}).get_int("epochs"), 10);
  EXPECT_EQ(build_config("pix2pix-facades", {"n_epochs=150", "epochs=20"}).get_int("epochs"), 20);
  EXPECT_EQ(build_config("pix2pix-facades", {"epochs=20", "n_epochs=150"}).get_int("epochs"), 20);
  // A constant rate has no schedule to follow.
  EXPECT_EQ(build_config("gan-mnist", {"n_epochs=3"}).get_int("epochs"), 200);
  EXPECT_EQ(build_config("gan-mnist", {"lr_policy=linear", "n_epochs=3", "n_epochs_decay=4"}).get_int("epochs"), 7);
  TempDir tmp;
  // A file without epochs trains its schedule; one whose epochs is not the schedule's length keeps it.
  std::ofstream(tmp / "short.toml") << "model = \"pix2pix\"\nlr_policy = \"linear\"\nn_epochs = 4\nn_epochs_decay = 6\n";
  EXPECT_EQ(build_config((tmp / "short.toml").string(), {}).get_int("epochs"), 10);
  Config run = build_config("pix2pix-facades", {"epochs=30"});
  std::ofstream(tmp / "config.toml") << run.to_toml();
  EXPECT_EQ(build_config((tmp / "config.toml").string(), {"n_epochs=120"}).get_int("epochs"), 30);
  // Resuming (a checkpoint's copy of the config) never moves epochs by itself.
  EXPECT_EQ(config_from_toml(build_config("pix2pix-facades", {}).to_toml(), "ck", {{"n_epochs", "150"}}).get_int("epochs"),
            200);
}

TEST(Config, UnknownPresetIsNamed) {
  std::string msg = error_of([] { build_config("gan-mnsit", {}); });
  EXPECT_NE(msg.find("unknown preset 'gan-mnsit'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("gan-mnist"), std::string::npos) << msg;
}

TEST(Config, WrittenConfigRerunsIdentically) {
  TempDir tmp;
  Config a = build_config("gan-mnist", {"epochs=7", "lr_d=0.00031", "data_dir=/x/y \"q\"", "drop_last=true"});
  std::ofstream(tmp / "config.toml") << a.to_toml();
  Config b = build_config((tmp / "config.toml").string(), {});
  ASSERT_EQ(a.specs().size(), b.specs().size());
  EXPECT_EQ(a.to_toml(), b.to_toml());
  EXPECT_EQ(b.get_int("epochs"), 7);
  EXPECT_DOUBLE_EQ(b.get_float("lr_d"), 0.00031);
  EXPECT_EQ(b.get_string("data_dir"), "/x/y \"q\"");
}

// A UTF-8 byte-order mark (as some editors save files) is not part of the document.
TEST(Config, AFileWithAByteOrderMarkReads) {
  TempDir tmp;
  std::ofstream(tmp / "bom.toml") << "\xEF\xBB\xBFmodel = \"mlp-gan\"\nepochs = 7\n";
  EXPECT_EQ(build_config((tmp / "bom.toml").string(), {}).get_int("epochs"), 7);
  // Elsewhere those bytes are still refused.
  std::ofstream(tmp / "inner.toml") << "epochs = 7\n\xEF\xBB\xBF\n";
  EXPECT_NE(error_of([&] { build_config((tmp / "inner.toml").string(), {}); }).find("line 2"), std::string::npos);
}

TEST(Config, FileErrorsNameTheFileAndKey) {
  TempDir tmp;
  std::ofstream(tmp / "wrong_type.toml") << "model = \"mlp-gan\"\nepochs = \"ten\"\n";
  std::string msg = error_of([&] { build_config((tmp / "wrong_type.toml").string(), {}); });
  EXPECT_NE(msg.find("wrong_type.toml"), std::string::npos) << msg;
  EXPECT_NE(msg.find("'epochs'"), std::string::npos) << msg;
  std::ofstream(tmp / "syntax.toml") << "model = \"mlp-gan\"\nepochs = = 3\n";
  msg = error_of([&] { build_config((tmp / "syntax.toml").string(), {}); });
  EXPECT_NE(msg.find("syntax.toml"), std::string::npos) << msg;
  EXPECT_NE(msg.find("line 2"), std::string::npos) << msg;
  std::ofstream(tmp / "unknown.toml") << "epoch = 3\n";
  msg = error_of([&] { build_config((tmp / "unknown.toml").string(), {}); });
  EXPECT_NE(msg.find("unknown option 'epoch'"), std::string::npos) << msg;
  msg = error_of([&] { build_config((tmp / "absent.toml").string(), {}); });
  EXPECT_NE(msg.find("absent.toml"), std::string::npos) << msg;
  EXPECT_NE(msg.find("does not exist"), std::string::npos) << msg;
}

TEST(Config, FloatsPrintSoTheyReadBack) {
  for (double v : {0.0002, 0.1, 1.0, 3e-7, 123456.789, 0.9})
    EXPECT_EQ(std::strtod(format_option_value(v).c_str(), nullptr), v);
  EXPECT_EQ(format_option_value(1.0), "1.0");
}

}  // namespace
}  // namespace forgery

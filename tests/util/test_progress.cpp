// progress_bar: exact output for logs (one line per 10%), rates and ETA, and the terminal
// mode's in-place redraws at most every redraw_interval, all on an injected clock.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include <kiln/util/progress.hpp>

namespace {

double fake_now = 0;
double fake_clock() { return fake_now; }

/// Everything written to f so far.
std::string contents(std::FILE* f) {
    std::fflush(f);
    long end = std::ftell(f);
    std::string s(static_cast<std::size_t>(end), '\0');
    std::rewind(f);
    std::size_t n = std::fread(s.data(), 1, s.size(), f);
    s.resize(n);
    std::fseek(f, 0, SEEK_END);
    return s;
}

std::vector<std::string> split_lines(const std::string& s) {
    std::vector<std::string> out;
    std::size_t start = 0;
    for (std::size_t i = 0; i < s.size(); ++i)
        if (s[i] == '\n') out.push_back(s.substr(start, i - start)), start = i + 1;
    if (start < s.size()) out.push_back(s.substr(start));
    return out;
}

struct temp_out {
    std::FILE* f = std::tmpfile();
    ~temp_out() { std::fclose(f); }
};

}  // namespace

TEST(ProgressBar, LinesModeWritesOneLinePerTenPercentAndAFinalLine) {
    temp_out out;
    fake_now = 100;
    {
        kiln::progress_bar bar(20, {.label = "epoch 3/10", .out = out.f, .clock = &fake_clock});
        EXPECT_FALSE(bar.is_terminal());  // a file, not a terminal
        for (int step = 1; step <= 20; ++step) {
            fake_now += 0.5;
            bar.update(step, {{"loss", 2.0 / step}, {"acc", 0.5}}, 32);
        }
    }
    const std::vector<std::string> want = {
        "epoch 3/10   2/20   10%  loss 1.5000  acc 0.5000  64.0 img/s  ETA 0:09",
        "epoch 3/10   4/20   20%  loss 1.0417  acc 0.5000  64.0 img/s  ETA 0:08",
        "epoch 3/10   6/20   30%  loss 0.8167  acc 0.5000  64.0 img/s  ETA 0:07",
        "epoch 3/10   8/20   40%  loss 0.6795  acc 0.5000  64.0 img/s  ETA 0:06",
        "epoch 3/10  10/20   50%  loss 0.5858  acc 0.5000  64.0 img/s  ETA 0:05",
        "epoch 3/10  12/20   60%  loss 0.5172  acc 0.5000  64.0 img/s  ETA 0:04",
        "epoch 3/10  14/20   70%  loss 0.4645  acc 0.5000  64.0 img/s  ETA 0:03",
        "epoch 3/10  16/20   80%  loss 0.4226  acc 0.5000  64.0 img/s  ETA 0:02",
        "epoch 3/10  18/20   90%  loss 0.3883  acc 0.5000  64.0 img/s  ETA 0:01",
        "epoch 3/10  20/20  100%  loss 0.3598  acc 0.5000  64.0 img/s  elapsed 10.0s",
    };
    EXPECT_EQ(split_lines(contents(out.f)), want);
    EXPECT_EQ(contents(out.f).find('\r'), std::string::npos);
}

TEST(ProgressBar, LinesModeWritesOneLineForAJumpOverSeveralTenths) {
    temp_out out;
    fake_now = 0;
    kiln::progress_bar bar(100, {.out = out.f, .clock = &fake_clock});
    fake_now = 1;
    bar.update(5);
    bar.update(45);  // crosses 10, 20, 30 and 40%: one line
    bar.update(49);
    fake_now = 2;
    bar.update(100);
    const std::vector<std::string> want = {
        " 45/100   45%  45.0 it/s  ETA 0:01",
        "100/100  100%  50.0 it/s  elapsed 2.0s",
    };
    EXPECT_EQ(split_lines(contents(out.f)), want);
}

TEST(ProgressBar, RateAndEtaFigures) {
    temp_out out;
    fake_now = 10;
    kiln::progress_bar bar(400, {.out = out.f, .clock = &fake_clock});
    EXPECT_EQ(bar.rate(), 0);
    EXPECT_EQ(bar.eta(), 0);
    fake_now = 14;  // 100 steps of 256 images in 4 s
    for (int i = 1; i <= 100; ++i) bar.update(i, {}, 256);
    EXPECT_DOUBLE_EQ(bar.elapsed(), 4.0);
    EXPECT_DOUBLE_EQ(bar.rate(), 6400.0);                             // images per second
    EXPECT_DOUBLE_EQ(bar.eta(), 12.0);                                // 300 steps left at 25 steps/s
    EXPECT_STREQ(bar.line(), " 80/400   20%  5120 img/s  ETA 0:16");  // the last line written, at 20%
}

TEST(ProgressBar, SlowStepsShowSecondsPerStepAndLongTimesHoursMinutes) {
    temp_out out;
    fake_now = 0;
    kiln::progress_bar bar(10, {.label = "fit", .out = out.f, .clock = &fake_clock});
    fake_now = 1250;  // 1 step took 20:50
    bar.update(1, {{"loss", 1e-5}});
    EXPECT_STREQ(bar.line(), "fit   1/10   10%  loss 1.000e-05  1250.00 s/it  ETA 3:07:30");
    fake_now = 1300;
    bar.finish();
    EXPECT_STREQ(bar.line(), "fit   1/10   10%  loss 1.000e-05  1300.00 s/it  elapsed 21:40");
    bar.update(5);  // ignored after finish
    EXPECT_EQ(split_lines(contents(out.f)).size(), 2u);
}

TEST(ProgressBar, MetricsAreWeightedMeansOrLatestValues) {
    temp_out out;
    fake_now = 0;
    kiln::progress_bar mean(10, {.out = out.f, .clock = &fake_clock});
    kiln::progress_bar last(10, {.out = out.f, .average = false, .clock = &fake_clock});
    for (auto* b : {&mean, &last}) {
        b->update(1, {{"loss", 4.0}});
        b->update(4, {{"loss", 1.0}});  // counts for 3 steps
        b->update(4, {{"acc", 0.5}});   // no step advanced: counts once
    }
    EXPECT_DOUBLE_EQ(mean.value("loss"), (4.0 + 3 * 1.0) / 4);
    EXPECT_DOUBLE_EQ(last.value("loss"), 1.0);
    EXPECT_DOUBLE_EQ(mean.value("acc"), 0.5);
    EXPECT_TRUE(std::isnan(mean.value("missing")));
}

TEST(ProgressBar, TerminalModeRedrawsInPlaceAtMostTenTimesASecond) {
    temp_out out;
    fake_now = 0;
    std::string s;
    {
        kiln::progress_bar bar(100, {.label = "epoch 1/1",
                                     .out = out.f,
                                     .width = 10,
                                     .mode = kiln::progress_mode::terminal,
                                     .clock = &fake_clock});
        EXPECT_TRUE(bar.is_terminal());
        for (int step = 1; step <= 100; ++step) {
            fake_now = step * 0.01;  // 100 updates over 1 s
            bar.update(step, {{"loss", 0.25}}, 8);
        }
        s = contents(out.f);
    }
    // Draws: the first update, then each time 0.1 s has passed since the last draw, and the end.
    std::size_t draws = 0;
    for (char c : s) draws += c == '\r';
    EXPECT_GE(draws, 10u);
    EXPECT_LE(draws, 12u);
    EXPECT_EQ(s.find('\n'), s.size() - 1);  // one line, ended once
    std::size_t last = s.rfind('\r');
    EXPECT_EQ(s.substr(last), "\repoch 1/1 [==========] 100/100  loss 0.2500  800 img/s  elapsed 1.0s\n");
    EXPECT_EQ(s.substr(0, s.find('\r', 1)), "\repoch 1/1 [>.........]   1/100  loss 0.2500  800 img/s  ETA 0:01");
}

TEST(ProgressBar, TerminalModeBlanksTheRestOfALongerPreviousLine) {
    temp_out out;
    fake_now = 0;
    kiln::progress_bar bar(
        4,
        {.out = out.f, .width = 4, .mode = kiln::progress_mode::terminal, .redraw_interval = 0, .clock = &fake_clock});
    fake_now = 1;
    bar.update(1, {{"loss", -12345.0}});  // a wider number first
    fake_now = 2;
    bar.update(2, {{"loss", 12345.0 * 3}});  // mean 12345: one character shorter
    std::string s = contents(out.f);
    std::size_t second = s.rfind('\r');
    std::string first_line = s.substr(1, second - 1), second_line = s.substr(second + 1);
    EXPECT_EQ(second_line.size(), first_line.size());
    EXPECT_EQ(second_line.back(), ' ');
    EXPECT_EQ(second_line, "[==>.] 2/4  loss 12345.0000  1.00 it/s  ETA 0:02 ");
}

TEST(ProgressBar, AnUnfinishedTerminalLineIsEndedWhenTheBarGoesAway) {
    temp_out out;
    fake_now = 0;
    {
        kiln::progress_bar bar(10, {.out = out.f, .mode = kiln::progress_mode::terminal, .clock = &fake_clock});
        bar.update(3);
    }
    std::string s = contents(out.f);
    ASSERT_FALSE(s.empty());
    EXPECT_EQ(s.back(), '\n');
}

TEST(ProgressBar, StepsPastTheTotalAreClampedAndFinishOnce) {
    temp_out out;
    fake_now = 0;
    kiln::progress_bar bar(3, {.out = out.f, .clock = &fake_clock});
    fake_now = 3;
    bar.update(7);
    bar.update(8);
    EXPECT_EQ(split_lines(contents(out.f)), std::vector<std::string>{"3/3  100%  1.00 it/s  elapsed 3.0s"});
}

// This file also compiles with -fno-exceptions -fno-rtti (the header needs neither); there
// kiln::fail prints the message and aborts.
TEST(ProgressBar, ZeroStepsIsAClearError) {
#if KILN_HAS_EXCEPTIONS
    try {
        kiln::progress_bar bar(0, {.label = "epoch 1"});
        FAIL() << "no error";
    } catch (const kiln::error& e) {
        EXPECT_STREQ(e.what(), "[progress_bar] epoch 1: total must be at least 1 step");
    }
#else
    EXPECT_DEATH(kiln::progress_bar(0, {.label = "epoch 1"}),
                 "\\[progress_bar\\] epoch 1: total must be at least 1 step");
#endif
}

// training_curves: the SVG's structure (panels, one path per series, markers, legend, ticks),
// coordinates inside the view box, NaN/inf and empty series, XML escaping, and write_svg's
// temporary file: a failed write leaves the previous plot as it was.
#include <gtest/gtest.h>

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <kiln/util/plot.hpp>

namespace {

std::size_t count(const std::string& s, const std::string& what) {
    std::size_t n = 0;
    for (std::size_t p = s.find(what); p != std::string::npos; p = s.find(what, p + 1)) ++n;
    return n;
}

std::string read(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

std::vector<std::string> files_in(const std::string& dir) {
    std::vector<std::string> out;
    if (DIR* d = ::opendir(dir.c_str())) {
        while (dirent* e = ::readdir(d))
            if (e->d_name[0] != '.') out.push_back(e->d_name);
        ::closedir(d);
    }
    return out;
}

struct temp_dir {
    std::string path;
    temp_dir() {
        char tmpl[] = "/tmp/kiln_plot_XXXXXX";
        path = ::mkdtemp(tmpl);
    }
    ~temp_dir() {
        for (const auto& f : files_in(path)) std::remove((path + "/" + f).c_str());
        ::rmdir(path.c_str());
    }
};

/// A realistic 10-epoch history.
kiln::training_curves ten_epochs() {
    kiln::training_curves c;
    for (int e = 1; e <= 10; ++e)
        c.add_epoch({{"train loss", 2.3 * std::exp(-0.45 * e) + 0.05},
                     {"val loss", 2.2 * std::exp(-0.4 * e) + 0.09},
                     {"train acc", 1 - 0.9 * std::exp(-0.5 * e)},
                     {"val acc", 0.97 - 0.85 * std::exp(-0.5 * e)}});
    return c;
}

/// Every coordinate (x, y, x1, ..., cx, cy and path points) lies inside the view box, and no
/// attribute holds a NaN or infinity.
void expect_inside_view_box(const std::string& svg) {
    double w = 0, h = 0;
    std::size_t vb = svg.find("viewBox=\"0 0 ");
    ASSERT_NE(vb, std::string::npos);
    ASSERT_EQ(std::sscanf(svg.c_str() + vb, "viewBox=\"0 0 %lf %lf\"", &w, &h), 2);
    std::size_t checked = 0;
    for (std::size_t q = svg.find("=\""); q != std::string::npos; q = svg.find("=\"", q + 1)) {
        std::size_t name_start = svg.rfind(' ', q) + 1, end = svg.find('"', q + 2);
        std::string name = svg.substr(name_start, q - name_start), value = svg.substr(q + 2, end - q - 2);
        EXPECT_EQ(value.find("nan"), std::string::npos) << name << "=" << value;
        EXPECT_EQ(value.find("inf"), std::string::npos) << name << "=" << value;
        bool is_x = name == "x" || name == "x1" || name == "x2" || name == "cx";
        bool is_y = name == "y" || name == "y1" || name == "y2" || name == "cy";
        if (is_x || is_y) {
            double v = std::strtod(value.c_str(), nullptr);
            EXPECT_TRUE(v >= 0 && v <= (is_x ? w : h)) << name << "=" << value;
            ++checked;
        } else if (name == "d") {  // "M1.00,2.00 L3.00,4.00 M..."
            std::istringstream in(value);
            std::string cmd;
            while (in >> cmd) {
                double x = 0, y = 0;
                ASSERT_EQ(std::sscanf(cmd.c_str() + 1, "%lf,%lf", &x, &y), 2) << cmd;
                EXPECT_TRUE((cmd[0] == 'M' || cmd[0] == 'L') && x >= 0 && x <= w && y >= 0 && y <= h) << cmd;
                ++checked;
            }
        }
    }
    EXPECT_GT(checked, 10u);
}

/// Elements open and close in balance (a cheap well-formedness check without an XML parser).
void expect_balanced(const std::string& svg) {
    EXPECT_EQ(svg.rfind("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\"", 0),
              0u);
    EXPECT_EQ(svg.substr(svg.size() - 7), "</svg>\n");
    EXPECT_EQ(count(svg, "<svg"), 1u);
    EXPECT_EQ(count(svg, "<g "), count(svg, "</g>"));
    EXPECT_EQ(count(svg, "<text"), count(svg, "</text>"));
    EXPECT_EQ(count(svg, "<"), count(svg, ">"));
}

}  // namespace

TEST(TrainingCurves, TwoPanelsOnePathPerSeriesMarkersAndLegend) {
    std::string svg = ten_epochs().svg("MNIST");
    expect_balanced(svg);
    expect_inside_view_box(svg);
    EXPECT_EQ(count(svg, "<path"), 4u);
    EXPECT_EQ(count(svg, "<circle"), 40u + 4u);  // a marker per point, one per legend entry
    for (const char* label : {">MNIST</text>", ">loss</text>", ">accuracy</text>", ">epoch</text>",
                              ">train loss</text>", ">val loss</text>", ">train acc</text>", ">val acc</text>"})
        EXPECT_NE(svg.find(label), std::string::npos) << label;
    // Whole-epoch ticks 1..10 and nice value ticks.
    for (int e = 1; e <= 10; ++e) EXPECT_NE(svg.find(">" + std::to_string(e) + "</text>"), std::string::npos) << e;
    EXPECT_EQ(svg.find(">0.5</text>"), svg.rfind(">0.5</text>"));  // once per axis at most
    EXPECT_NE(svg.find(">1.0</text>"), std::string::npos);
    EXPECT_NE(svg.find(">0.0</text>"), std::string::npos);
}

TEST(TrainingCurves, NiceTicks) {
    auto labels = [](const kiln::detail::plot_axis& a) {
        std::string s;
        for (double t : a.ticks) s += (s.empty() ? "" : " ") + kiln::detail::tick_label(t, a.decimals);
        return s;
    };
    // Values: the range plus 5% each side, ends snapped out to a tick within half a step, and the
    // step of 1, 2 or 5 x 10^k whose tick count is nearest the target.
    EXPECT_EQ(labels(kiln::detail::value_axis(0.07, 1.56, 6.7)), "0.0 0.2 0.4 0.6 0.8 1.0 1.2 1.4 1.6");
    auto acc = kiln::detail::value_axis(0.812, 0.991, 6.7);
    EXPECT_EQ(labels(acc), "0.80 0.85 0.90 0.95 1.00");
    EXPECT_DOUBLE_EQ(acc.lo, 0.8);
    EXPECT_DOUBLE_EQ(acc.hi, 1.0);
    EXPECT_EQ(labels(kiln::detail::value_axis(0.23, 2.31, 6.7)), "0.0 0.5 1.0 1.5 2.0 2.5");
    EXPECT_EQ(labels(kiln::detail::value_axis(1200, 98000, 6.7)), "0 20000 40000 60000 80000 100000");
    EXPECT_EQ(labels(kiln::detail::value_axis(-3e-5, 2e-4, 6.7)), "-5e-05 0 5e-05 0.0001 0.00015 0.0002");
    EXPECT_EQ(labels(kiln::detail::value_axis(0.43, 0.43, 6.7)), "0.41 0.42 0.43 0.44 0.45");  // constant
    EXPECT_EQ(labels(kiln::detail::value_axis(0, 0, 6.7)), "-0.4 -0.2 0.0 0.2 0.4");
    // Epochs: whole numbers only when every epoch is whole.
    EXPECT_EQ(labels(kiln::detail::epoch_axis(1, 10, true, 11)), "1 2 3 4 5 6 7 8 9 10");
    EXPECT_EQ(labels(kiln::detail::epoch_axis(1, 200, true, 11)), "0 20 40 60 80 100 120 140 160 180 200");
    EXPECT_EQ(labels(kiln::detail::epoch_axis(1, 2, true, 11)), "1 2");
    EXPECT_EQ(labels(kiln::detail::epoch_axis(3, 3, true, 11)), "3");
    EXPECT_EQ(labels(kiln::detail::epoch_axis(0.5, 3.5, false, 11)), "0.5 1.0 1.5 2.0 2.5 3.0 3.5");
}

TEST(TrainingCurves, OneEpochAndConstantSeries) {
    kiln::training_curves c;
    c.add_epoch({{"train loss", 0.43}, {"val loss", 0.43}, {"train acc", 0.88}});
    std::string svg = c.svg("one epoch");
    expect_balanced(svg);
    expect_inside_view_box(svg);
    EXPECT_EQ(count(svg, "<circle"), 3u + 3u);
    EXPECT_NE(svg.find(">1</text>"), std::string::npos);
    EXPECT_EQ(svg.find(">0</text>"), std::string::npos);  // no epoch 0 or 2 around a single epoch
    EXPECT_EQ(svg.find(">2</text>"), std::string::npos);

    kiln::training_curves flat;
    for (int e = 0; e < 5; ++e) flat.add("loss", 0.0);
    std::string f = flat.svg();
    expect_balanced(f);
    expect_inside_view_box(f);
    EXPECT_EQ(count(f, "<path"), 1u);
}

TEST(TrainingCurves, NonFiniteValuesAreSkippedWithAGap) {
    kiln::training_curves c;
    const double inf = INFINITY;
    for (double v : {1.0, 0.8, double(NAN), 0.6, inf, -inf, 0.5, 0.45}) c.add("val loss", v);
    std::string svg = c.svg();
    expect_balanced(svg);
    expect_inside_view_box(svg);
    std::string path = svg.substr(svg.find("<path"));
    path = path.substr(0, path.find("/>"));
    EXPECT_EQ(count(path, "M"), 3u) << path;  // 1-2, 4, 7-8
    EXPECT_EQ(count(path, "L"), 2u) << path;
    EXPECT_EQ(count(svg, "<circle"), 5u + 1u);
    EXPECT_NE(svg.find(">val loss (3 non-finite skipped)</text>"), std::string::npos);
    // The scale comes from the finite values only.
    EXPECT_NE(svg.find(">1.0</text>"), std::string::npos);
    EXPECT_NE(svg.find(">0.4</text>"), std::string::npos);
}

TEST(TrainingCurves, EmptyHistoryAndEmptySeries) {
    kiln::training_curves none;
    std::string svg = none.svg();
    expect_balanced(svg);
    EXPECT_NE(svg.find(">no data</text>"), std::string::npos);
    EXPECT_EQ(count(svg, "<path"), 0u);

    kiln::training_curves c;
    c.set_panel("val acc", kiln::curve_panel::automatic);  // declared, never filled
    c.add("val acc", NAN);
    c.add("train acc", 0.5);
    c.add("train acc", 0.7);
    std::string s = c.svg();
    expect_balanced(s);
    expect_inside_view_box(s);
    EXPECT_NE(s.find(">val acc (no data)</text>"), std::string::npos);
    EXPECT_EQ(count(s, "<path"), 1u);
    EXPECT_EQ(s.find(">loss</text>"), std::string::npos);  // only the accuracy panel, full width
    EXPECT_NE(s.find(">accuracy</text>"), std::string::npos);
}

TEST(TrainingCurves, PanelsByNameOrExplicit) {
    kiln::training_curves c;
    c.add("Accuracy", 0.9);
    c.add("f1", 0.8);
    c.set_panel("f1", kiln::curve_panel::accuracy);
    c.add("mse", 0.1);
    c.add("mse", 3, 0.05);  // an explicit epoch
    EXPECT_EQ(c.all()[2].points[1].epoch, 3.0);
    std::string s = c.svg();
    // Panels are drawn in order: loss (mse), then accuracy (Accuracy, f1).
    std::size_t loss = s.find(">loss</text>"), acc = s.find(">accuracy</text>");
    ASSERT_NE(loss, std::string::npos);
    ASSERT_NE(acc, std::string::npos);
    EXPECT_LT(loss, s.find(">mse</text>"));
    EXPECT_LT(s.find(">mse</text>"), acc);
    EXPECT_LT(acc, s.find(">f1</text>"));
}

TEST(TrainingCurves, TitlesAndLabelsAreEscaped) {
    kiln::training_curves c;
    c.add("a<b & \"c\"", 1.0);
    std::string s = c.svg("x < y & 'z'\x01");
    expect_balanced(s);
    EXPECT_NE(s.find(">x &lt; y &amp; &apos;z&apos;</text>"), std::string::npos);
    EXPECT_NE(s.find(">a&lt;b &amp; &quot;c&quot;</text>"), std::string::npos);
    EXPECT_EQ(s.find("a<b"), std::string::npos);
    EXPECT_EQ(s.find('\x01'), std::string::npos);  // not allowed in XML 1.0
}

TEST(TrainingCurves, LongLegendsWrapOrAreCutInsideTheImage) {
    kiln::training_curves c;
    for (int i = 0; i < 7; ++i) c.add("validation loss of head number " + std::to_string(i), 1.0 / (i + 1));
    c.add(std::string(300, 'x'), 0.5);
    std::string s = c.svg("legend");
    expect_balanced(s);
    expect_inside_view_box(s);
    EXPECT_NE(s.find("xxx...</text>"), std::string::npos);
}

TEST(TrainingCurves, WriteSvgReplacesTheFileWhole) {
    temp_dir dir;
    std::string path = dir.path + "/curves.svg";
    auto c = ten_epochs();
    c.write_svg(path, "first");
    EXPECT_EQ(read(path), c.svg("first"));
    c.write_svg(path, "second");
    EXPECT_EQ(read(path), c.svg("second"));
    EXPECT_EQ(files_in(dir.path), std::vector<std::string>{"curves.svg"});  // no temporary left
}

TEST(TrainingCurves, AFailedWriteLeavesThePreviousFileIntact) {
    temp_dir dir;
    std::string path = dir.path + "/curves.svg";
    auto c = ten_epochs();
    c.write_svg(path, "good");
    const std::string before = read(path);
    // Writes past 1 KiB fail (EFBIG) in this process: the temporary cannot be completed.
    rlimit old{};
    ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &old), 0);
    auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
    rlimit small = old;
    small.rlim_cur = 1024;
    ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
    std::string message;
    try {
        c.write_svg(path, "bad");
    } catch (const kiln::error& e) {
        message = e.what();
    }
    ::setrlimit(RLIMIT_FSIZE, &old);
    std::signal(SIGXFSZ, old_handler);
    EXPECT_EQ(message.rfind("[write_svg] " + path + ": writing " + path + ".tmp-", 0), 0u) << message;
    EXPECT_NE(message.find("File too large (the file was left unchanged)"), std::string::npos) << message;
    EXPECT_EQ(read(path), before);
    EXPECT_EQ(files_in(dir.path), std::vector<std::string>{"curves.svg"});
}

TEST(TrainingCurves, AnUnwritableDirectoryIsAnErrorNamingTheFile) {
    kiln::training_curves c;
    c.add("loss", 1.0);
    try {
        c.write_svg("/nonexistent-dir/curves.svg");
        FAIL() << "no error";
    } catch (const kiln::error& e) {
        std::string m = e.what();
        EXPECT_EQ(m.rfind("[write_svg] /nonexistent-dir/curves.svg: cannot create the temporary file", 0), 0u) << m;
        EXPECT_NE(m.find("No such file or directory"), std::string::npos) << m;
    }
}

#include <kiln/data/csv.hpp>

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <string>
#include <vector>

using kiln::data::csv_options;
using kiln::data::label_kind;
using kiln::data::read_csv;
using kiln::data::read_sklearn_csv;

namespace {
namespace fs = std::filesystem;

std::string write(const std::string& name, const std::string& text) {
    fs::path d = fs::temp_directory_path() / ("kiln_csv_" + std::to_string(::getpid()));
    fs::create_directories(d);
    auto path = (d / name).string();
    std::ofstream(path, std::ios::binary) << text;
    return path;
}
std::string error_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const kiln::error& e) {
        return e.what();
    }
    return "no error";
}
// The message a reader gives for `text` with label column "y", minus the "[csv] path: " prefix.
std::string csv_error(const std::string& text, csv_options opt = {.label = "y"}) {
    auto p = write("bad.csv", text);
    std::string e = error_of([&] { read_csv(p, opt); });
    const std::string prefix = "[csv] " + p + ": ";
    return e.rfind(prefix, 0) == 0 ? e.substr(prefix.size()) : "unexpected prefix: " + e;
}
}  // namespace

TEST(Csv, ReadsHeaderFeaturesAndLabelByName) {
    auto t = read_csv(write("ok.csv", "a,y,b\n1,0,2\n3.5,1,-4e2\n-0.25,2,+7\n"), {.label = "y"});
    EXPECT_EQ(t.rows(), 3u);
    EXPECT_EQ(t.cols(), 2u);
    EXPECT_EQ(t.names, (std::vector<std::string>{"a", "b"}));
    EXPECT_EQ(t.label_name, "y");
    EXPECT_EQ(t.features, (std::vector<float>{1, 2, 3.5f, -400, -0.25f, 7}));
    EXPECT_EQ(t.labels, (std::vector<std::int64_t>{0, 1, 2}));
    EXPECT_TRUE(t.targets.empty());
    EXPECT_EQ(t(2, 1), 7.f);
    EXPECT_EQ(t.row(1)[0], 3.5f);
    EXPECT_EQ(t.num_classes(), 3u);
}

TEST(Csv, LabelByIndexWithoutHeaderNamesColumnsByPosition) {
    const std::string text = "1,2,3,1\n4,5,6,0\n";
    auto t = read_csv(write("nohdr.csv", text), {.header = false, .label_index = -1});
    EXPECT_EQ(t.names, (std::vector<std::string>{"0", "1", "2"}));
    EXPECT_EQ(t.label_name, "3");
    EXPECT_EQ(t.labels, (std::vector<std::int64_t>{1, 0}));
    t = read_csv(write("nohdr.csv", text), {.header = false, .label_index = 1});
    EXPECT_EQ(t.names, (std::vector<std::string>{"0", "2", "3"}));
    EXPECT_EQ(t.features, (std::vector<float>{1, 3, 1, 4, 6, 0}));
    EXPECT_EQ(t.labels, (std::vector<std::int64_t>{2, 5}));
}

TEST(Csv, NoLabelColumnKeepsEveryColumnAsFeature) {
    auto t = read_csv(write("nolabel.csv", "a,b\n1,2\n3,4\n"));
    EXPECT_EQ(t.cols(), 2u);
    EXPECT_EQ(t.rows(), 2u);
    EXPECT_TRUE(t.labels.empty());
    EXPECT_TRUE(t.label_name.empty());
    // A header alone is a valid table of no rows.
    t = read_csv(write("hdronly.csv", "a,b,y\n"), {.label = "y"});
    EXPECT_EQ(t.rows(), 0u);
    EXPECT_EQ(t.cols(), 2u);
}

TEST(Csv, RealValuedLabelsAndDoubleTables) {
    auto t = read_csv<double>(write("reg.csv", "x,price\n0.1,1.5\n0.2,-2.25\n"),
                              {.label = "price", .labels = label_kind::values});
    EXPECT_TRUE(t.labels.empty());
    EXPECT_EQ(t.targets, (std::vector<double>{1.5, -2.25}));
    EXPECT_EQ(t.features[0], 0.1);  // parsed as double directly, not via float
}

TEST(Csv, LineEndingsBomAndBlankLines) {
    for (const std::string text : {"a,y\r\n1,0\r\n2,1\r\n", "a,y\r\n1,0\r\n2,1", "a,y\n1,0\n2,1",
                                   "\xEF\xBB\xBF"
                                   "a,y\n1,0\n2,1\n",
                                   "a,y\n\n1,0\r\n\r\n2,1\n\n\n"}) {
        auto t = read_csv(write("eol.csv", text), {.label = "y"});
        EXPECT_EQ(t.names, (std::vector<std::string>{"a"}));
        EXPECT_EQ(t.features, (std::vector<float>{1, 2}));
        EXPECT_EQ(t.labels, (std::vector<std::int64_t>{0, 1}));
    }
    // Line numbers count the skipped blank lines: the bad cell is on the file's fourth line.
    EXPECT_EQ(csv_error("a,y\r\n\r\n1,0\r\nx,1\r\n"), "line 4, column 1 (\"a\"): cannot parse \"x\" as a number");
}

TEST(Csv, DelimitersAndSurroundingSpaces) {
    auto t = read_csv(write("semi.csv", "a ; b;y\n 1.5 ; 2 ;1\n"), {.delimiter = ';', .label = "y"});
    EXPECT_EQ(t.names, (std::vector<std::string>{"a", "b"}));
    EXPECT_EQ(t.features, (std::vector<float>{1.5f, 2}));
    t = read_csv(write("tab.tsv", "a\tb\ty\n1\t2\t0\n"), {.delimiter = '\t', .label = "y"});
    EXPECT_EQ(t.features, (std::vector<float>{1, 2}));
    // A European decimal comma under ';' is not silently read as something else.
    EXPECT_EQ(csv_error("a;y\n1,5;0\n", {.delimiter = ';', .label = "y"}),
              "line 2, column 1 (\"a\"): cannot parse \"1,5\" as a number");
}

TEST(Csv, QuotedFields) {
    auto t = read_csv(write("q.csv", "\"radius, mean\",\"say \"\"hi\"\"\",\"two\nlines\",y\n\"1.5\", \"2\" ,3,\"0\"\n"),
                      {.label = "y"});
    EXPECT_EQ(t.names, (std::vector<std::string>{"radius, mean", "say \"hi\"", "two\nlines"}));
    EXPECT_EQ(t.features, (std::vector<float>{1.5f, 2, 3}));
    EXPECT_EQ(t.labels, (std::vector<std::int64_t>{0}));
    // The quoted header spans lines 1-2, so the data row is line 3.
    EXPECT_EQ(csv_error("\"a\nb\",y\n\"1,5\",0\n"), "line 3, column 1 (\"a\nb\"): cannot parse \"1,5\" as a number");
    EXPECT_EQ(csv_error("a,y\n\"1,0\n2,1\n"),
              "line 2, column 1: quoted field has no closing quote before the end of the file");
    EXPECT_EQ(csv_error("a,y\n\"1\"x,0\n"),
              "line 2, column 1: unexpected 'x' after a closing quote (expected ',' or the end of the line)");
    // With quoting off, a quote is an ordinary character (and so not a number).
    EXPECT_EQ(csv_error("a,y\n\"1\",0\n", {.quote = '\0', .label = "y"}),
              "line 2, column 1 (\"a\"): cannot parse \"\"1\"\" as a number");
}

TEST(Csv, NonFiniteCellsRejectedUnlessAllowed) {
    for (const std::string cell : {"nan", "NaN", "inf", "-Infinity"})
        EXPECT_EQ(csv_error("a,y\n" + cell + ",0\n"),
                  "line 2, column 1 (\"a\"): \"" + cell +
                      "\" is not a finite number (set allow_non_finite to keep NaN/inf cells)");
    auto t = read_csv(write("nan.csv", "a,b,y\nnan,-inf,1\n"), {.label = "y", .allow_non_finite = true});
    EXPECT_TRUE(std::isnan(t.features[0]));
    EXPECT_TRUE(std::isinf(t.features[1]) && t.features[1] < 0);
    // A label is never NaN, whatever allow_non_finite says.
    EXPECT_EQ(csv_error("a,y\n1,nan\n", {.label = "y", .allow_non_finite = true}),
              "line 2, column 2 (\"y\"): cannot use \"nan\" as a class label (need an integer >= 0; use "
              "label_kind::values for real-valued labels)");
}

TEST(Csv, MalformedCellsNameLineColumnAndName) {
    EXPECT_EQ(csv_error("a,b,y\n1,2,0\n1,,0\n"), "line 3, column 2 (\"b\"): empty cell (expected a number)");
    EXPECT_EQ(csv_error("a,b,y\n1,abc,0\n"), "line 2, column 2 (\"b\"): cannot parse \"abc\" as a number");
    EXPECT_EQ(csv_error("a,b,y\n1.2.3,1,0\n"), "line 2, column 1 (\"a\"): cannot parse \"1.2.3\" as a number");
    EXPECT_EQ(csv_error("a,b,y\n12abc,1,0\n"), "line 2, column 1 (\"a\"): cannot parse \"12abc\" as a number");
    EXPECT_EQ(csv_error("a,b,y\n+-1,1,0\n"), "line 2, column 1 (\"a\"): cannot parse \"+-1\" as a number");
    EXPECT_EQ(csv_error("a,b,y\n0x10,1,0\n"), "line 2, column 1 (\"a\"): cannot parse \"0x10\" as a number");
    EXPECT_EQ(csv_error("a,b,y\n1,1e39,0\n"), "line 2, column 2 (\"b\"): \"1e39\" is out of range for float");
    EXPECT_EQ(csv_error("a,b,y\n1,-1e999,0\n"), "line 2, column 2 (\"b\"): \"-1e999\" is out of range for float");
    EXPECT_EQ(csv_error("a,b,y\n1,2,0\r,3,0\n"), "line 2: 5 cells, expected 3 (extra cell at column 4)");
    // Long cells are cut in messages.
    EXPECT_EQ(csv_error("a,y\n" + std::string(100, 'z') + ",0\n"),
              "line 2, column 1 (\"a\"): cannot parse \"" + std::string(37, 'z') + "...\" as a number");
    // Without a header a column has no name to give.
    EXPECT_EQ(csv_error("1,x,0\n", {.header = false, .label_index = 2}),
              "line 1, column 2: cannot parse \"x\" as a number");
    // Tiny values round to zero (or a subnormal), as numpy reads them, rather than failing.
    auto t = read_csv(write("tiny.csv", "a,b,c\n1e-50,-1e-400,1e-9999\n"));
    EXPECT_EQ(t.features, (std::vector<float>{0, 0, 0}));
    EXPECT_TRUE(std::signbit(t.features[1]));
    auto d = read_csv<double>(write("tiny.csv", "a,b,c\n1e-310,-1e-400,1e300\n"));
    EXPECT_EQ(d.features[0], 1e-310);  // a subnormal double
    EXPECT_EQ(d.features[1], 0.0);
    EXPECT_EQ(d.features[2], 1e300);
    EXPECT_EQ(csv_error("a,y\n1e9999,0\n"), "line 2, column 1 (\"a\"): \"1e9999\" is out of range for float");
    const auto big = write("big.csv", "a\n1e309\n");
    EXPECT_EQ(error_of([&] { read_csv<double>(big); }),
              "[csv] " + big + ": line 2, column 1 (\"a\"): \"1e309\" is out of range for double");
}

TEST(Csv, RowsWithTooFewOrTooManyCells) {
    EXPECT_EQ(csv_error("a,b,y\n1,2,0\n1,2\n"), "line 3: 2 cells, expected 3 (missing column 3 (\"y\"))");
    EXPECT_EQ(csv_error("a,b,y\n1,2,0,4\n"), "line 2: 4 cells, expected 3 (extra cell at column 4)");
    EXPECT_EQ(csv_error("a,b,y\n1,2,0,\n"), "line 2: 4 cells, expected 3 (extra cell at column 4)");
    EXPECT_EQ(csv_error("1,2\n3\n", {.header = false}), "line 2: 1 cells, expected 2 (missing column 2)");
}

TEST(Csv, LabelColumnErrors) {
    EXPECT_EQ(csv_error("a,b\n1,0\n"), "label column \"y\" is not in the header (columns: \"a\", \"b\")");
    EXPECT_EQ(csv_error("a,y,y\n1,0,0\n"), "label column \"y\" appears more than once in the header");
    EXPECT_EQ(csv_error("1,0\n", {.header = false, .label = "y"}),
              "label column \"y\" chosen by name, but header = false (choose it by label_index)");
    EXPECT_EQ(csv_error("a,y\n1,0\n", {.label = "y", .label_index = 0}),
              "choose the label column by name or by index, not both");
    EXPECT_EQ(csv_error("a,y\n1,0\n", {.label_index = 2}), "label column index 2 is out of range for 2 columns");
    EXPECT_EQ(csv_error("a,y\n1,0\n", {.label_index = -3}), "label column index -3 is out of range for 2 columns");
    const std::string why = " as a class label (need an integer >= 0; use label_kind::values for real-valued labels)";
    EXPECT_EQ(csv_error("a,y\n1,1.5\n"), "line 2, column 2 (\"y\"): cannot use \"1.5\"" + why);
    EXPECT_EQ(csv_error("a,y\n1,-1\n"), "line 2, column 2 (\"y\"): cannot use \"-1\"" + why);
    EXPECT_EQ(csv_error("a,y\n1,cat\n"), "line 2, column 2 (\"y\"): cannot use \"cat\"" + why);
    EXPECT_EQ(csv_error("a,y\n1,\n"), "line 2, column 2 (\"y\"): empty label cell (expected an integer class)");
    // Integers written as floats are classes.
    auto t = read_csv(write("flt.csv", "a,y\n1,2.0\n"), {.label = "y"});
    EXPECT_EQ(t.labels, (std::vector<std::int64_t>{2}));
    // Real-valued labels go through the number checks instead.
    EXPECT_EQ(csv_error("a,y\n1,cat\n", {.label = "y", .labels = label_kind::values}),
              "line 2, column 2 (\"y\"): cannot parse \"cat\" as a number");
}

TEST(Csv, FileErrors) {
    auto missing = (fs::temp_directory_path() / "kiln_csv_no_such_dir" / "x.csv").string();
    EXPECT_EQ(error_of([&] { read_csv(missing); }), "[csv] " + missing + ": cannot open (No such file or directory)");
    EXPECT_EQ(csv_error(""), "empty file (no header and no rows)");
    EXPECT_EQ(csv_error("\r\n\n\n"), "empty file (no header and no rows)");
    EXPECT_EQ(csv_error("a\n1\n", {.delimiter = '"'}), "delimiter '\"' cannot be a line break or the quote character");
}

TEST(Csv, SklearnLayout) {
    auto t = read_sklearn_csv(write("sk.csv", "3,2,setosa,versicolor,virginica\n5.1,3.5,0\n4.9,3.0,2\r\n6.3,2.5,1\n"));
    EXPECT_EQ(t.rows(), 3u);
    EXPECT_EQ(t.cols(), 2u);
    EXPECT_EQ(t.class_names, (std::vector<std::string>{"setosa", "versicolor", "virginica"}));
    EXPECT_EQ(t.num_classes(), 3u);
    EXPECT_EQ(t.labels, (std::vector<std::int64_t>{0, 2, 1}));
    EXPECT_EQ(t.features[3], 3.0f);
    auto err = [](const std::string& text) {
        auto p = write("skbad.csv", text);
        std::string e = error_of([&] { read_sklearn_csv(p); });
        return e.substr(("[csv] " + p + ": ").size());
    };
    EXPECT_EQ(err("3,2,a,b\n1,2,0\n3,4,1\n"), "the header says 3 samples, the file has 2 rows");
    EXPECT_EQ(err("1,2,a,b\n1,2,2\n"), "line 2, column 3: class 2 is not below the header's 2 classes");
    EXPECT_EQ(err("1,2,a,b\n1,2\n"), "line 2: 2 cells, expected 3 (missing column 3)");
    EXPECT_EQ(err("1,2,a,b\n1,2,0.5\n"),
              "line 2, column 3: cannot use \"0.5\" as a class label (need an integer >= 0; use label_kind::values "
              "for real-valued labels)");
    EXPECT_EQ(err("a,b,y\n1,2,0\n"),
              "line 1, column 1: expected n_samples as a whole number in the scikit-learn header "
              "\"n_samples,n_features,class names...\", found \"a\"");
    EXPECT_EQ(err("1,2\n1,2,0\n"),
              "line 1: the scikit-learn header names no classes (expected \"n_samples,n_features,class names...\")");
    EXPECT_EQ(err(""), "empty file (expected \"n_samples,n_features,class names...\")");
}

// The real file Debian's python3-sklearn ships. CI installs that package, so a missing file is a
// broken setup to report, not a reason to skip.
TEST(Csv, SklearnBreastCancerReads) {
    const std::string path = "/usr/lib/python3/dist-packages/sklearn/datasets/data/breast_cancer.csv";
    ASSERT_TRUE(fs::exists(path)) << path
                                  << " is missing: install Debian's scikit-learn (apt-get install -y python3-sklearn)";
    auto t = read_sklearn_csv(path);
    EXPECT_EQ(t.rows(), 569u);
    EXPECT_EQ(t.cols(), 30u);
    EXPECT_EQ(t.class_names, (std::vector<std::string>{"malignant", "benign"}));
    EXPECT_EQ(std::set<std::int64_t>(t.labels.begin(), t.labels.end()), (std::set<std::int64_t>{0, 1}));
    EXPECT_EQ(std::count(t.labels.begin(), t.labels.end(), 1), 357);  // sklearn: 212 malignant, 357 benign
    EXPECT_FLOAT_EQ(t(0, 0), 17.99f);                                 // first row's mean radius
    EXPECT_FLOAT_EQ(t(568, 29), 0.07039f);
}

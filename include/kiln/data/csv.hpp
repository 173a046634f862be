// Tabular data: a table with a runtime number of rows (features row-major, plus one label per
// row), read from CSV. The number of features is runtime here and checked against the model's
// compile-time width where a loader makes tensors. Every defect in a file is reported with the
// file, line and column (and the column's name when there is a header).
#pragma once

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "../core/error.hpp"

namespace kiln::data {

/// What the label column holds: integer class ids (classification) or real values (regression).
enum class label_kind { classes, values };

/// A data set in memory: rows() x cols() features (row-major) and one label per row.
template <class T>
struct basic_table {
    std::vector<std::string> names;        // feature column names; cols() of them
    std::vector<T> features;               // row-major, rows() * cols() values
    std::vector<std::int64_t> labels;      // class ids, one per row (label_kind::classes), else empty
    std::vector<T> targets;                // real labels, one per row (label_kind::values), else empty
    std::string label_name;                // the label column's name ("" when there is none)
    std::vector<std::string> class_names;  // names of classes 0, 1, ... when the file gives them

    /// Number of feature columns.
    std::size_t cols() const { return names.size(); }
    /// Number of rows.
    std::size_t rows() const {
        if (!names.empty()) return features.size() / names.size();
        return std::max(labels.size(), targets.size());
    }
    /// The features of row i.
    std::span<const T> row(std::size_t i) const { return {features.data() + i * cols(), cols()}; }
    std::span<T> row(std::size_t i) { return {features.data() + i * cols(), cols()}; }
    /// Feature j of row i; unchecked.
    T& operator()(std::size_t i, std::size_t j) { return features[i * cols() + j]; }
    const T& operator()(std::size_t i, std::size_t j) const { return features[i * cols() + j]; }

    /// Number of classes: the class names' count if known, else the largest label + 1.
    std::size_t num_classes() const {
        if (!class_names.empty()) return class_names.size();
        std::int64_t m = -1;
        for (std::int64_t l : labels) m = std::max(m, l);
        return static_cast<std::size_t>(m + 1);
    }

    /// A new table of the given rows, in that order (like numpy's take / pandas' iloc).
    basic_table take(std::span<const std::size_t> idx) const {
        check("take");
        basic_table out;
        out.names = names;
        out.label_name = label_name;
        out.class_names = class_names;
        const std::size_t c = cols(), n = rows();
        out.features.reserve(idx.size() * c);
        if (!labels.empty()) out.labels.reserve(idx.size());
        if (!targets.empty()) out.targets.reserve(idx.size());
        for (std::size_t i : idx) {
            if (i >= n) fail("[table] take: row %zu is out of range for %zu rows", i, n);
            out.features.insert(out.features.end(), features.begin() + std::ptrdiff_t(i * c),
                                features.begin() + std::ptrdiff_t((i + 1) * c));
            if (!labels.empty()) out.labels.push_back(labels[i]);
            if (!targets.empty()) out.targets.push_back(targets[i]);
        }
        return out;
    }

    /// Reports "[op] ..." if the vectors' sizes disagree (a hand-built table can get them wrong).
    void check(const char* op) const {
        const std::size_t c = cols();
        if (c == 0 && !features.empty())
            fail("[%s] table has %zu feature values but no column names", op, features.size());
        if (c != 0 && features.size() % c != 0)
            fail("[%s] table has %zu feature values, not a multiple of its %zu columns", op, features.size(), c);
        const std::size_t n = rows();
        if (!labels.empty() && labels.size() != n) fail("[%s] table has %zu labels for %zu rows", op, labels.size(), n);
        if (!targets.empty() && targets.size() != n)
            fail("[%s] table has %zu targets for %zu rows", op, targets.size(), n);
    }

    /// A table from row-major features with columns named "0", "1", ... and optional class labels.
    static basic_table from_features(std::vector<T> features, std::size_t cols, std::vector<std::int64_t> labels = {}) {
        basic_table t;
        for (std::size_t j = 0; j < cols; ++j) t.names.push_back(std::to_string(j));
        t.features = std::move(features);
        t.labels = std::move(labels);
        t.check("table");
        return t;
    }
};

/// A table of float features, the usual case.
using table = basic_table<float>;

/// How read_csv interprets a file.
struct csv_options {
    char delimiter = ',';
    char quote = '"';                             // fields may be quoted (RFC 4180, "" escapes); '\0': no quoting
    bool header = true;                           // the first record names the columns
    std::string label{};                          // label column by name (needs a header) ...
    std::optional<std::ptrdiff_t> label_index{};  // ... or by 0-based index, negative from the end (-1: last)
    label_kind labels = label_kind::classes;      // integer class ids or real values
    bool allow_non_finite = false;                // keep NaN/inf cells instead of rejecting them
};

namespace detail {

struct csv_cell {
    std::string text;
    std::size_t line = 0;
};

// Splits a whole file into records. Works on the full buffer rather than on lines, because a
// quoted field may contain the delimiter or a newline.
class csv_records {
public:
    csv_records(std::string text, const std::string& path, char delimiter, char quote)
        : s_(std::move(text)), path_(path), delim_(delimiter), quote_(quote) {
        if (s_.size() >= 3 && s_.compare(0, 3, "\xEF\xBB\xBF") == 0) pos_ = 3;  // UTF-8 BOM, as Excel writes
    }
    const std::string& path() const { return path_; }

    // Reads the next non-blank record into cells[0, count); false at end of file.
    bool next(std::vector<csv_cell>& cells, std::size_t& count, std::size_t& record_line) {
        const std::size_t n = s_.size();
        for (;;) {  // blank lines are skipped, as pandas does
            if (pos_ >= n) return false;
            if (s_[pos_] == '\n') {
                ++line_, ++pos_;
            } else if (s_[pos_] == '\r' && (pos_ + 1 == n || s_[pos_ + 1] == '\n')) {
                ++pos_;
            } else {
                break;
            }
        }
        record_line = line_;
        count = 0;
        for (;;) {
            if (count == cells.size()) cells.emplace_back();
            csv_cell& c = cells[count++];
            c.text.clear();
            c.line = line_;
            std::size_t j = pos_;
            while (j < n && is_blank(s_[j])) ++j;
            if (quote_ != '\0' && j < n && s_[j] == quote_) {
                pos_ = j + 1;
                for (;;) {
                    if (pos_ >= n)
                        fail(
                            "[csv] %s: line %zu, column %zu: quoted field has no closing quote before the end of the "
                            "file",
                            path_.c_str(), c.line, count);
                    const char ch = s_[pos_];
                    if (ch == quote_) {
                        if (pos_ + 1 < n && s_[pos_ + 1] == quote_) {
                            c.text += ch;
                            pos_ += 2;
                            continue;
                        }
                        ++pos_;
                        break;
                    }
                    if (ch == '\n') ++line_;
                    c.text += ch;
                    ++pos_;
                }
                while (pos_ < n && is_blank(s_[pos_])) ++pos_;
                if (pos_ < n && s_[pos_] != delim_ && !at_line_end())
                    fail(
                        "[csv] %s: line %zu, column %zu: unexpected '%c' after a closing quote (expected '%c' or the "
                        "end of the line)",
                        path_.c_str(), line_, count, s_[pos_], delim_);
            } else {
                const std::size_t start = pos_;
                while (pos_ < n && s_[pos_] != delim_ && s_[pos_] != '\n') ++pos_;
                std::size_t end = pos_;
                if (end > start && s_[end - 1] == '\r' && (end == n || s_[end] == '\n')) --end;  // CRLF
                std::size_t b = start;
                while (b < end && is_blank(s_[b])) ++b;
                while (end > b && is_blank(s_[end - 1])) --end;
                c.text.assign(s_, b, end - b);
            }
            if (pos_ < n && s_[pos_] == delim_) {
                ++pos_;
                continue;
            }
            if (pos_ < n && s_[pos_] == '\r') ++pos_;
            if (pos_ < n && s_[pos_] == '\n') ++pos_, ++line_;
            return true;
        }
    }

private:
    bool is_blank(char ch) const { return (ch == ' ' || ch == '\t') && ch != delim_; }
    bool at_line_end() const {
        return s_[pos_] == '\n' || (s_[pos_] == '\r' && (pos_ + 1 == s_.size() || s_[pos_ + 1] == '\n'));
    }

    std::string s_;
    std::string path_;
    char delim_, quote_;
    std::size_t pos_ = 0, line_ = 1;
};

inline std::string read_text_file(const std::string& path, const char* tag) {
    std::ifstream f(path, std::ios::binary);
    if (!f) fail("[%s] %s: cannot open (%s)", tag, path.c_str(), std::strerror(errno));
    std::string s((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    if (f.bad()) fail("[%s] %s: read error (%s)", tag, path.c_str(), std::strerror(errno));
    return s;
}

// Cell text for a message: long cells are cut so the message stays readable and in fail()'s buffer.
inline std::string shown(std::string_view s) {
    return s.size() <= 40 ? std::string(s) : std::string(s.substr(0, 37)) + "...";
}

enum class number_status { ok, empty, malformed, out_of_range };

// Locale-independent (std::from_chars), and the whole cell must be one number: "1.2.3" and
// "12abc" are malformed. A leading '+' is accepted, as strtod and Python do.
template <class T>
number_status parse_number(std::string_view s, T& out) {
    if (s.empty()) return number_status::empty;
    std::string_view body = s;
    if (body[0] == '+') {
        body.remove_prefix(1);
        if (body.empty() || body[0] == '+' || body[0] == '-') return number_status::malformed;
    }
    const char* end = body.data() + body.size();
    auto [p, ec] = std::from_chars(body.data(), end, out, std::chars_format::general);
    if (ec == std::errc::invalid_argument || p != end) return number_status::malformed;
    if (ec == std::errc::result_out_of_range) {
        // from_chars reports underflow as well as overflow. Underflow is no error: it rounds to 0
        // (or a subnormal) as numpy reads it. A wider parse tells the two apart, and past long
        // double's range too the exponent's sign does (strtod would, but it follows the locale).
        long double v = 0;
        auto [q, wide] = std::from_chars(body.data(), end, v, std::chars_format::general);
        if (wide == std::errc::result_out_of_range || q != end) {
            const auto e = body.find_first_of("eE");
            const bool under = e != std::string_view::npos && e + 1 < body.size() && body[e + 1] == '-';
            if (!under) return number_status::out_of_range;
            v = body[0] == '-' ? -0.0L : 0.0L;
        }
        if (std::isinf(v) || std::fabs(v) > static_cast<long double>(std::numeric_limits<T>::max()))
            return number_status::out_of_range;
        out = static_cast<T>(v);
    }
    return number_status::ok;
}

// Where a cell sits, for messages: `line 12, column 3 ("radius")`.
struct cell_place {
    const std::string& path;
    const std::vector<std::string>* header;  // nullptr without a header row
    std::string column(std::size_t col) const {
        std::string w = "column " + std::to_string(col + 1);
        if (header && col < header->size()) w += " (\"" + shown((*header)[col]) + "\")";
        return w;
    }
    std::string where(std::size_t line, std::size_t col) const {
        return "line " + std::to_string(line) + ", " + column(col);
    }
};

template <class T>
T parse_cell(const csv_cell& c, std::size_t col, const cell_place& at, bool allow_non_finite) {
    T v{};
    switch (parse_number(c.text, v)) {
        case number_status::ok:
            break;
        case number_status::empty:
            fail("[csv] %s: %s: empty cell (expected a number)", at.path.c_str(), at.where(c.line, col).c_str());
        case number_status::malformed:
            fail("[csv] %s: %s: cannot parse \"%s\" as a number", at.path.c_str(), at.where(c.line, col).c_str(),
                 shown(c.text).c_str());
        case number_status::out_of_range:
            fail("[csv] %s: %s: \"%s\" is out of range for %s", at.path.c_str(), at.where(c.line, col).c_str(),
                 shown(c.text).c_str(), sizeof(T) == 4 ? "float" : "double");
    }
    if (!allow_non_finite && !std::isfinite(v))
        fail("[csv] %s: %s: \"%s\" is not a finite number (set allow_non_finite to keep NaN/inf cells)",
             at.path.c_str(), at.where(c.line, col).c_str(), shown(c.text).c_str());
    return v;
}

inline std::int64_t parse_class(const csv_cell& c, std::size_t col, const cell_place& at) {
    double v = 0;
    // Integers written as floats ("1.0", as pandas writes an int column that had a NaN) are accepted.
    const number_status st = parse_number(c.text, v);
    if (st == number_status::empty)
        fail("[csv] %s: %s: empty label cell (expected an integer class)", at.path.c_str(),
             at.where(c.line, col).c_str());
    if (st != number_status::ok || !std::isfinite(v) || v != std::floor(v) || v < 0 || v > 2147483647.0)
        fail(
            "[csv] %s: %s: cannot use \"%s\" as a class label (need an integer >= 0; use label_kind::values for "
            "real-valued labels)",
            at.path.c_str(), at.where(c.line, col).c_str(), shown(c.text).c_str());
    return static_cast<std::int64_t>(v);
}

// One data record into the table: features in file order without the label column.
template <class T>
void add_record(basic_table<T>& t, const std::vector<csv_cell>& cells, std::size_t count, std::size_t expected,
                std::size_t record_line, std::optional<std::size_t> label_col, label_kind kind, const cell_place& at,
                bool allow_non_finite) {
    if (count != expected) {
        if (count < expected)
            fail("[csv] %s: line %zu: %zu cells, expected %zu (missing %s)", at.path.c_str(), record_line, count,
                 expected, at.column(count).c_str());
        fail("[csv] %s: line %zu: %zu cells, expected %zu (extra cell at column %zu)", at.path.c_str(), record_line,
             count, expected, expected + 1);
    }
    for (std::size_t j = 0; j < count; ++j) {
        if (label_col && j == *label_col) {
            if (kind == label_kind::classes)
                t.labels.push_back(parse_class(cells[j], j, at));
            else
                t.targets.push_back(parse_cell<T>(cells[j], j, at, allow_non_finite));
        } else {
            t.features.push_back(parse_cell<T>(cells[j], j, at, allow_non_finite));
        }
    }
}

inline std::string list_names(const std::vector<std::string>& names) {
    std::string s;
    for (std::size_t i = 0; i < names.size(); ++i) {
        if (s.size() > 200) return s + ", ...";
        s += (i ? ", \"" : "\"") + shown(names[i]) + "\"";
    }
    return s;
}

}  // namespace detail

/// Reads a numeric CSV file into a table; the label column (if chosen) is split off.
template <class T = float>
basic_table<T> read_csv(const std::string& path, const csv_options& opt = {}) {
    static_assert(std::is_floating_point_v<T>, "[csv] tables hold float or double features");
    const char* p = path.c_str();
    if (opt.delimiter == '\n' || opt.delimiter == '\r' || opt.delimiter == opt.quote)
        fail("[csv] %s: delimiter '%c' cannot be a line break or the quote character", p, opt.delimiter);
    if (!opt.label.empty() && opt.label_index)
        fail("[csv] %s: choose the label column by name or by index, not both", p);
    if (!opt.label.empty() && !opt.header)
        fail("[csv] %s: label column \"%s\" chosen by name, but header = false (choose it by label_index)", p,
             detail::shown(opt.label).c_str());

    detail::csv_records rec(detail::read_text_file(path, "csv"), path, opt.delimiter, opt.quote);
    std::vector<detail::csv_cell> cells;
    std::size_t count = 0, line = 0;
    if (!rec.next(cells, count, line)) fail("[csv] %s: empty file (no header and no rows)", p);
    const std::size_t ncols = count;

    std::vector<std::string> header;
    bool have_record = true;
    if (opt.header) {
        for (std::size_t j = 0; j < count; ++j) header.push_back(cells[j].text);
        have_record = false;
    }
    std::optional<std::size_t> label_col;
    if (!opt.label.empty()) {
        auto it = std::find(header.begin(), header.end(), opt.label);
        if (it == header.end())
            fail("[csv] %s: label column \"%s\" is not in the header (columns: %s)", p,
                 detail::shown(opt.label).c_str(), detail::list_names(header).c_str());
        if (std::find(it + 1, header.end(), opt.label) != header.end())
            fail("[csv] %s: label column \"%s\" appears more than once in the header", p,
                 detail::shown(opt.label).c_str());
        label_col = std::size_t(it - header.begin());
    } else if (opt.label_index) {
        const std::ptrdiff_t i = *opt.label_index < 0 ? *opt.label_index + std::ptrdiff_t(ncols) : *opt.label_index;
        if (i < 0 || i >= std::ptrdiff_t(ncols))
            fail("[csv] %s: label column index %td is out of range for %zu columns", p, *opt.label_index, ncols);
        label_col = std::size_t(i);
    }

    basic_table<T> t;
    for (std::size_t j = 0; j < ncols; ++j) {
        // Without a header, columns are named by their 0-based position in the file, like pandas.
        std::string name = opt.header ? header[j] : std::to_string(j);
        if (label_col && j == *label_col)
            t.label_name = std::move(name);
        else
            t.names.push_back(std::move(name));
    }
    const detail::cell_place at{path, opt.header ? &header : nullptr};
    if (have_record) detail::add_record(t, cells, count, ncols, line, label_col, opt.labels, at, opt.allow_non_finite);
    while (rec.next(cells, count, line))
        detail::add_record(t, cells, count, ncols, line, label_col, opt.labels, at, opt.allow_non_finite);
    // A file whose only column is the label has no features; rows() then counts labels.
    return t;
}

/// Reads scikit-learn's bundled-data layout (breast_cancer.csv, iris.csv, wine_data.csv): a
/// first line "n_samples,n_features,class names..." then rows of features and an integer class.
template <class T = float>
basic_table<T> read_sklearn_csv(const std::string& path) {
    const char* p = path.c_str();
    detail::csv_records rec(detail::read_text_file(path, "csv"), path, ',', '"');
    std::vector<detail::csv_cell> cells;
    std::size_t count = 0, line = 0;
    if (!rec.next(cells, count, line))
        fail("[csv] %s: empty file (expected \"n_samples,n_features,class names...\")", p);
    // The caps keep a corrupt header from asking for absurd allocations.
    auto header_int = [&](std::size_t j, const char* what, double cap) {
        double v = 0;
        if (j >= count || detail::parse_number(cells[j].text, v) != detail::number_status::ok || !std::isfinite(v) ||
            v < 0 || v != std::floor(v) || v > cap)
            fail(
                "[csv] %s: line %zu, column %zu: expected %s as a whole number in the scikit-learn header "
                "\"n_samples,n_features,class names...\", found \"%s\"",
                p, line, j + 1, what, j < count ? detail::shown(cells[j].text).c_str() : "");
        return static_cast<std::size_t>(v);
    };
    const std::size_t n_samples = header_int(0, "n_samples", 1e12),
                      n_features = header_int(1, "n_features", 1e6);
    basic_table<T> t;
    for (std::size_t j = 2; j < count; ++j) t.class_names.push_back(cells[j].text);
    if (t.class_names.empty())
        fail(
            "[csv] %s: line %zu: the scikit-learn header names no classes (expected \"n_samples,n_features,class "
            "names...\")",
            p, line);
    for (std::size_t j = 0; j < n_features; ++j) t.names.push_back(std::to_string(j));
    t.label_name = "target";
    const detail::cell_place at{path, nullptr};
    const std::int64_t classes = std::int64_t(t.class_names.size());
    while (rec.next(cells, count, line)) {
        detail::add_record(t, cells, count, n_features + 1, line, n_features, label_kind::classes, at, false);
        if (t.labels.back() >= classes)
            fail("[csv] %s: line %zu, column %zu: class %lld is not below the header's %lld classes", p, line,
                 n_features + 1, static_cast<long long>(t.labels.back()), static_cast<long long>(classes));
    }
    if (t.labels.size() != n_samples)
        fail("[csv] %s: the header says %zu samples, the file has %zu rows", p, n_samples, t.labels.size());
    return t;
}

}  // namespace kiln::data

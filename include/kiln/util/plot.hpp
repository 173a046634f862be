// Training curves as a self-contained SVG: loss on the left, accuracy on the right.
//
//   kiln::training_curves curves;
//   for (int epoch = 1; epoch <= 10; ++epoch) {
//       ...
//       curves.add_epoch({{"train loss", tl}, {"val loss", vl}, {"train acc", ta}, {"val acc", va}});
//   }
//   curves.write_svg("curves.svg", "MNIST, 2-layer MLP");
//
// A series whose name contains "acc" goes to the accuracy panel, any other to the loss panel
// (set_panel overrides); with only one kind, one panel takes the whole width. Axes have nice
// ticks (1, 2 or 5 times a power of ten; whole epochs), gridlines, a legend under each panel and
// markers on points. NaN and infinite values are skipped: the line has a gap there and the
// legend says how many were left out. write_svg writes a temporary file next to the target and
// renames it over, so a reader never sees a half-written plot; failures go through kiln::fail.
#pragma once

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../core/error.hpp"

namespace kiln {

/// Which panel a series is drawn in; automatic decides by name ("acc" -> accuracy).
enum class curve_panel { automatic, loss, accuracy };

/// Per-epoch values of named series, drawn as training curves.
class training_curves {
public:
    struct point {
        double epoch, value;
    };
    struct series {
        std::string name;
        curve_panel panel;
        std::vector<point> points;
    };

    /// Appends `value` at the series' next epoch (1, 2, ...), creating the series on first use.
    void add(std::string_view name, double value) {
        series& s = get(name);
        s.points.push_back({s.points.empty() ? 1.0 : std::floor(s.points.back().epoch) + 1, value});
    }
    /// Appends `value` at an explicit epoch (may be fractional, e.g. 2.5 for mid-epoch).
    void add(std::string_view name, double epoch, double value) { get(name).points.push_back({epoch, value}); }
    /// Appends one epoch of several series: {{"train loss", 0.41}, {"val loss", 0.47}}.
    void add_epoch(std::initializer_list<std::pair<std::string_view, double>> values) {
        for (const auto& [name, v] : values) add(name, v);
    }
    /// Draws the named series (created if new) in panel p.
    void set_panel(std::string_view name, curve_panel p) { get(name).panel = p; }
    /// The series in order of first use.
    const std::vector<series>& all() const { return series_; }

    /// The SVG document.
    std::string svg(std::string_view title = "") const;
    /// Writes svg(title) to path through a temporary file renamed over it.
    void write_svg(const std::string& path, std::string_view title = "") const;

private:
    series& get(std::string_view name) {
        for (auto& s : series_)
            if (s.name == name) return s;
        series_.push_back({std::string(name), curve_panel::automatic, {}});
        return series_.back();
    }
    std::vector<series> series_;
};

namespace detail {

__attribute__((format(printf, 2, 3))) inline void svg_printf(std::string& out, const char* fmt, ...) {
    char buf[512];
    va_list ap, again;
    va_start(ap, fmt);
    va_copy(again, ap);
    int n = std::vsnprintf(buf, sizeof buf, fmt, ap);
    if (n > 0 && static_cast<std::size_t>(n) < sizeof buf) {
        out.append(buf, static_cast<std::size_t>(n));
    } else if (n > 0) {  // a long path: format again straight into the output
        std::size_t at = out.size();
        out.resize(at + static_cast<std::size_t>(n) + 1);
        std::vsnprintf(out.data() + at, static_cast<std::size_t>(n) + 1, fmt, again);
        out.resize(at + static_cast<std::size_t>(n));
    }
    va_end(again);
    va_end(ap);
}

/// Text as XML character data or attribute value; control characters XML forbids are dropped.
inline void xml_escape(std::string& out, std::string_view s) {
    for (char c : s) {
        switch (c) {
            case '&':
                out += "&amp;";
                break;
            case '<':
                out += "&lt;";
                break;
            case '>':
                out += "&gt;";
                break;
            case '"':
                out += "&quot;";
                break;
            case '\'':
                out += "&apos;";
                break;
            default:
                if (static_cast<unsigned char>(c) >= 0x20 || c == '\t' || c == '\n' || c == '\r') out += c;
        }
    }
}

/// Approximate width in pixels of text in a sans-serif font (no font metrics in a header): DejaVu
/// Sans' digits and capitals are about 0.65 em, lower case 0.55, a space 0.32.
inline double text_width(std::string_view s, double font_size) {
    double em = 0;
    for (char c : s) {
        auto u = static_cast<unsigned char>(c);
        if ((u & 0xC0) == 0x80) continue;  // a UTF-8 continuation byte
        em += c == ' ' ? 0.32 : (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || u >= 0x80 ? 0.65 : 0.55;
    }
    return em * font_size;
}

/// An axis: the data range shown and its ticks.
struct plot_axis {
    double lo = 0, hi = 1, step = 0.2;
    std::vector<double> ticks;
    int decimals = 1;
};

/// An axis over [mn, mx] plus `margin` of the range each side (a single value gets a range
/// around it), with ticks at the multiples of a step of 1, 2 or 5 times a power of ten: the step
/// whose tick count is nearest `target`. With `snap`, an end within half a step of the next tick
/// is moved out to it (0.803..0.9995 shows as 0.80..1.00).
inline plot_axis make_axis(double mn, double mx, double target, double margin, double min_step, bool snap) {
    if (!(mn <= mx)) mn = 0, mx = 1;  // no finite data
    if (mx - mn <= 1e-12 * std::fmax(1.0, std::fabs(mx))) {
        double half = min_step >= 1 || mn == 0 ? 0.5 : std::fabs(mn) * 0.05;
        mn -= half, mx += half;
    } else {
        double pad = (mx - mn) * margin;
        mn -= pad, mx += pad;
    }
    double mag = std::pow(10.0, std::floor(std::log10((mx - mn) / (target < 1 ? 1 : target))));
    plot_axis best;
    double best_miss = INFINITY;
    for (double m : {mag / 10, mag, mag * 10})
        for (double f : {1.0, 2.0, 5.0}) {
            plot_axis a;
            a.step = std::fmax(f * m, min_step);
            double eps = a.step * 1e-9;
            a.lo = mn, a.hi = mx;
            if (snap) {
                double down = std::floor(mn / a.step + 1e-9) * a.step, up = std::ceil(mx / a.step - 1e-9) * a.step;
                if (mn - down < a.step / 2) a.lo = down;
                if (up - mx < a.step / 2) a.hi = up;
            }
            for (double k = std::ceil(a.lo / a.step - 1e-9); k * a.step <= a.hi + eps; k += 1)
                a.ticks.push_back(std::fabs(k * a.step) < eps ? 0.0 : k * a.step);
            double miss = std::fabs(static_cast<double>(a.ticks.size()) - target);
            if (a.ticks.size() >= 2 || best.ticks.empty()) {
                if (miss <= best_miss + 1e-9 || best.ticks.size() < 2) best = std::move(a), best_miss = miss;
            }
        }
    // As many decimals as the step needs (0.05 -> 2, 0.5 -> 1, 20 -> 0).
    best.decimals = 0;
    for (double st = best.step; best.decimals < 12 && std::fabs(st - std::round(st)) > 1e-6 * st; st *= 10)
        ++best.decimals;
    return best;
}

/// A value axis over [mn, mx] with about `target` ticks.
inline plot_axis value_axis(double mn, double mx, double target) { return make_axis(mn, mx, target, 0.05, 0, true); }

/// The epoch axis over [mn, mx] (whole-epoch ticks when every epoch is whole).
inline plot_axis epoch_axis(double mn, double mx, bool whole, double target) {
    return make_axis(mn, mx, target, 0.04, whole ? 1 : 0, false);
}

inline std::string tick_label(double v, int decimals) {
    char buf[32];
    if (std::fabs(v) >= 1e6 || decimals > 4)  // 1e+06, 5e-05: shorter than all the zeros
        std::snprintf(buf, sizeof buf, "%.3g", v);
    else
        std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
    return buf;
}

inline constexpr const char* plot_colors[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                              "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
inline constexpr const char* plot_font = "DejaVu Sans, Helvetica, Arial, sans-serif";

inline constexpr std::size_t max_markers = 60;  // more points get a bare line

struct plot_panel {
    const char* title;
    std::vector<const training_curves::series*> members;
};

/// Legend rows of one panel: each entry's x offset and row, wrapped at `width`.
struct legend_layout {
    std::vector<std::string> labels;
    std::vector<double> x;
    std::vector<int> row;
    std::vector<double> row_width;
    std::vector<bool> markers;  // whether the series' points have markers
    int rows = 0;
};

inline legend_layout layout_legend(const plot_panel& p, double width) {
    constexpr double font = 12, sample = 28, gap = 18;
    legend_layout l;
    double x = 0;
    int row = 0;
    for (const auto* s : p.members) {
        std::size_t skipped = 0, finite = 0;
        for (const auto& pt : s->points) (std::isfinite(pt.value) && std::isfinite(pt.epoch) ? finite : skipped) += 1;
        std::string label = s->name;
        if (finite == 0) label += " (no data)";
        if (skipped > 0 && finite > 0) label += " (" + std::to_string(skipped) + " non-finite skipped)";
        // A label wider than the panel is cut (on a UTF-8 boundary) and ends in "...".
        if (sample + 6 + text_width(label, font) > width) {
            std::size_t keep = static_cast<std::size_t>((width - sample - 6) / (font * 0.65)) - 3;
            while (keep > 0 && keep < label.size() && (static_cast<unsigned char>(label[keep]) & 0xC0) == 0x80) --keep;
            label = label.substr(0, keep) + "...";
        }
        double w = sample + 6 + text_width(label, font);
        if (x > 0 && x + w > width) {
            l.row_width.push_back(x - gap);
            x = 0, ++row;
        }
        l.labels.push_back(std::move(label));
        l.markers.push_back(finite <= max_markers);
        l.x.push_back(x);
        l.row.push_back(row);
        x += w + gap;
    }
    if (!p.members.empty()) l.row_width.push_back(x - gap);
    l.rows = static_cast<int>(l.row_width.size());
    return l;
}

inline void draw_panel(std::string& o, const plot_panel& p, const legend_layout& leg, double px, double pw, double top,
                       double plot_h) {
    constexpr double tick_font = 11, label_font = 13, title_font = 15, legend_font = 12;
    // Data ranges.
    double xmn = INFINITY, xmx = -INFINITY, ymn = INFINITY, ymx = -INFINITY;
    bool whole = true;
    for (const auto* s : p.members)
        for (const auto& pt : s->points) {
            if (!std::isfinite(pt.value) || !std::isfinite(pt.epoch)) continue;
            xmn = std::fmin(xmn, pt.epoch), xmx = std::fmax(xmx, pt.epoch);
            ymn = std::fmin(ymn, pt.value), ymx = std::fmax(ymx, pt.value);
            whole = whole && pt.epoch == std::floor(pt.epoch);
        }
    bool any = xmn <= xmx;
    plot_axis ya = value_axis(ymn, ymx, plot_h / 45);
    double ylabel_w = 0;
    for (double t : ya.ticks) ylabel_w = std::fmax(ylabel_w, text_width(tick_label(t, ya.decimals), tick_font));
    double left = px + 30 + ylabel_w + 8, right = px + pw - 16;
    double bottom = top + plot_h, w = right - left;
    plot_axis xa = epoch_axis(xmn, xmx, whole, w / 40);
    auto X = [&](double v) { return left + (v - xa.lo) / (xa.hi - xa.lo) * w; };
    auto Y = [&](double v) { return bottom - (v - ya.lo) / (ya.hi - ya.lo) * plot_h; };

    // Title, frame, gridlines and ticks.
    svg_printf(o,
               "<text x=\"%.1f\" y=\"%.1f\" font-size=\"%g\" font-weight=\"bold\" text-anchor=\"middle\">%s</text>\n",
               (left + right) / 2, top - 12, title_font, p.title);
    svg_printf(o, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#fcfcfc\" stroke=\"none\"/>\n",
               left, top, w, plot_h);
    o += "<g stroke=\"#e3e3e3\" stroke-width=\"1\">\n";
    for (double t : ya.ticks)
        svg_printf(o, "<line x1=\"%.1f\" y1=\"%.2f\" x2=\"%.1f\" y2=\"%.2f\"/>\n", left, Y(t), right, Y(t));
    for (double t : xa.ticks)
        svg_printf(o, "<line x1=\"%.2f\" y1=\"%.1f\" x2=\"%.2f\" y2=\"%.1f\"/>\n", X(t), top, X(t), bottom);
    o += "</g>\n";
    svg_printf(o, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" stroke=\"#555\"/>\n", left,
               top, w, plot_h);
    svg_printf(o, "<g font-size=\"%g\" fill=\"#333\">\n", tick_font);
    for (double t : ya.ticks)
        svg_printf(o, "<text x=\"%.1f\" y=\"%.2f\" text-anchor=\"end\" dominant-baseline=\"central\">%s</text>\n",
                   left - 6, Y(t), tick_label(t, ya.decimals).c_str());
    for (double t : xa.ticks)
        svg_printf(o, "<text x=\"%.2f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n", X(t), bottom + 16,
                   tick_label(t, xa.decimals).c_str());
    o += "</g>\n";
    svg_printf(o, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"%g\" text-anchor=\"middle\">epoch</text>\n",
               (left + right) / 2, bottom + 36, label_font);
    double ly = (top + bottom) / 2, lx = px + 18;
    svg_printf(o,
               "<text x=\"%.1f\" y=\"%.1f\" font-size=\"%g\" text-anchor=\"middle\" transform=\"rotate(-90 %.1f "
               "%.1f)\">%s</text>\n",
               lx, ly, label_font, lx, ly, p.title);
    if (!any)
        svg_printf(o,
                   "<text x=\"%.1f\" y=\"%.1f\" font-size=\"%g\" fill=\"#999\" text-anchor=\"middle\">no data</text>\n",
                   (left + right) / 2, ly, label_font);

    // Curves: one path per series, a new subpath after each non-finite value; markers on points
    // (on every point up to max_markers, else only on isolated ones so they stay visible).
    for (std::size_t i = 0; i < p.members.size(); ++i) {
        const auto& pts = p.members[i]->points;
        const char* color = plot_colors[i % 10];
        std::string d, dots;
        bool pen = false;
        std::size_t finite = 0;
        for (const auto& pt : pts) finite += std::isfinite(pt.value) && std::isfinite(pt.epoch);
        for (std::size_t k = 0; k < pts.size(); ++k) {
            auto ok = [&](std::size_t j) {
                return j < pts.size() && std::isfinite(pts[j].value) && std::isfinite(pts[j].epoch);
            };
            if (!ok(k)) {
                pen = false;
                continue;
            }
            svg_printf(d, "%s%.2f,%.2f", pen ? " L" : (d.empty() ? "M" : " M"), X(pts[k].epoch), Y(pts[k].value));
            bool isolated = !pen && !(ok(k + 1));
            pen = true;
            if (finite <= max_markers || isolated)
                svg_printf(dots, "<circle cx=\"%.2f\" cy=\"%.2f\" r=\"3.2\"/>\n", X(pts[k].epoch), Y(pts[k].value));
        }
        if (!d.empty())
            svg_printf(o, "<path d=\"%s\" fill=\"none\" stroke=\"%s\" stroke-width=\"2\" stroke-linejoin=\"round\"/>\n",
                       d.c_str(), color);
        if (!dots.empty()) {
            svg_printf(o, "<g fill=\"%s\" stroke=\"white\" stroke-width=\"1\">\n", color);
            o += dots;
            o += "</g>\n";
        }
    }

    // Legend under the axis label, each row centred.
    double legend_top = bottom + 54;
    for (std::size_t i = 0; i < p.members.size(); ++i) {
        double x = (left + right - leg.row_width[static_cast<std::size_t>(leg.row[i])]) / 2 + leg.x[i],
               y = legend_top + 18.0 * leg.row[i];
        const char* color = plot_colors[i % 10];
        svg_printf(o, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"2\"/>\n", x,
                   y, x + 28, y, color);
        if (leg.markers[i])
            svg_printf(o,
                       "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3.2\" fill=\"%s\" stroke=\"white\" stroke-width=\"1\"/>\n",
                       x + 14, y, color);
        svg_printf(o, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"%g\" dominant-baseline=\"central\">", x + 34, y,
                   legend_font);
        xml_escape(o, leg.labels[i]);
        o += "</text>\n";
    }
}

inline bool is_accuracy_name(std::string_view name) {
    for (std::size_t i = 0; i + 3 <= name.size(); ++i)
        if ((name[i] | 0x20) == 'a' && (name[i + 1] | 0x20) == 'c' && (name[i + 2] | 0x20) == 'c') return true;
    return false;
}

}  // namespace detail

inline std::string training_curves::svg(std::string_view title) const {
    detail::plot_panel loss{"loss", {}}, acc{"accuracy", {}};
    for (const auto& s : series_) {
        bool is_acc =
            s.panel == curve_panel::accuracy || (s.panel == curve_panel::automatic && detail::is_accuracy_name(s.name));
        (is_acc ? acc : loss).members.push_back(&s);
    }
    std::vector<const detail::plot_panel*> panels;
    if (!loss.members.empty() || acc.members.empty()) panels.push_back(&loss);
    if (!acc.members.empty()) panels.push_back(&acc);

    const double panel_w = panels.size() == 1 ? 760 : 520, width = panel_w * static_cast<double>(panels.size());
    const double title_h = title.empty() ? 0 : 34, top = title_h + 44, plot_h = 300;
    std::vector<detail::legend_layout> legends;
    int rows = 0;
    for (const auto* p : panels) {
        legends.push_back(detail::layout_legend(*p, panel_w - 90));
        rows = std::max(rows, legends.back().rows);
    }
    const double height = top + plot_h + 54 + 18.0 * rows + 6;

    std::string o;
    o.reserve(16384);
    o += "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
    detail::svg_printf(o,
                       "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f "
                       "%.0f\" font-family=\"%s\">\n",
                       width, height, width, height, detail::plot_font);
    o += "<title>";
    detail::xml_escape(o, title.empty() ? std::string_view("training curves") : title);
    o += "</title>\n";
    detail::svg_printf(o, "<rect width=\"%.0f\" height=\"%.0f\" fill=\"white\"/>\n", width, height);
    if (!title.empty()) {
        detail::svg_printf(o, "<text x=\"%.1f\" y=\"28\" font-size=\"18\" font-weight=\"bold\" text-anchor=\"middle\">",
                           width / 2);
        detail::xml_escape(o, title);
        o += "</text>\n";
    }
    for (std::size_t i = 0; i < panels.size(); ++i)
        detail::draw_panel(o, *panels[i], legends[i], panel_w * static_cast<double>(i), panel_w, top, plot_h);
    o += "</svg>\n";
    return o;
}

inline void training_curves::write_svg(const std::string& path, std::string_view title) const {
    const std::string text = svg(title);
    static std::atomic<unsigned> counter{0};
    const std::string tmp = path + ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(counter.fetch_add(1));
    std::FILE* f = std::fopen(tmp.c_str(), "wb");
    if (!f) {
        int e = errno;
        fail("[write_svg] %s: cannot create the temporary file %s: %s", path.c_str(), tmp.c_str(), std::strerror(e));
    }
    bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size();
    ok = std::fflush(f) == 0 && ok;
    int e = errno;
    if (std::fclose(f) != 0 && ok) ok = false, e = errno;
    if (!ok) {
        std::remove(tmp.c_str());
        fail("[write_svg] %s: writing %s failed: %s (the file was left unchanged)", path.c_str(), tmp.c_str(),
             std::strerror(e));
    }
    if (std::rename(tmp.c_str(), path.c_str()) != 0) {
        e = errno;
        std::remove(tmp.c_str());
        fail("[write_svg] %s: renaming %s into place failed: %s (the file was left unchanged)", path.c_str(),
             tmp.c_str(), std::strerror(e));
    }
}

}  // namespace kiln

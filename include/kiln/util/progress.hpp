// A training progress bar in the manner of tqdm and Keras' Progbar:
//
//   kiln::progress_bar bar(steps, {.label = "epoch 3/10"});
//   for (std::size_t i = 0; i < steps; ++i) {
//       ...
//       bar.update(i + 1, {{"loss", loss}, {"acc", acc}}, batch_size);
//   }
//
// On a terminal (isatty) one line is redrawn in place with '\r', at most every
// `redraw_interval` seconds, and kept within the terminal's width (a wrapped line could not be
// redrawn):
//   epoch 3/10 [=========>....................] 120/469  loss 0.4312  acc 0.9100  2310 img/s  ETA 0:12
// Anywhere else (a log file, CI) it writes plain lines, one per `line_every_percent` and a last
// one, so logs stay readable:
//   epoch 3/10  47/469  10%  loss 0.4312  acc 0.9100  2310 img/s  ETA 0:12
// The last line of both shows the elapsed time instead of the ETA. Metrics are averaged over
// the steps so far (Keras' convention; `average = false` shows the latest value).
//
// update() formats into fixed buffers with snprintf: no heap, no exceptions, no iostreams. The
// clock is injectable so tests are deterministic.
#pragma once

#include <sys/ioctl.h>
#include <unistd.h>

#include <chrono>
#include <cstdarg>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <initializer_list>

#include "../core/error.hpp"

namespace kiln {

/// How a progress bar writes: automatic picks terminal when isatty(fileno(out)).
enum class progress_mode { automatic, terminal, lines };

/// A named value shown after the counts; the name is copied (up to 23 characters).
struct metric {
    const char* name;
    double value;
};

/// Options of a progress_bar (designated initialisers: `{.label = "epoch 1/5", .width = 20}`).
struct progress_options {
    const char* label = "";  // printed first; copied (up to 63 characters)
    std::FILE* out = stdout;
    int width = 30;            // bar cells (at most 200), fewer on a narrow terminal
    const char* unit = "img";  // what update()'s `items` count; without items, rates are it/s
    progress_mode mode = progress_mode::automatic;
    double redraw_interval = 0.1;  // seconds between terminal redraws
    int line_every_percent = 10;   // lines mode: one line each time progress crosses a multiple
    bool average = true;           // metrics averaged over the steps so far, else the latest value
    double (*clock)() = nullptr;   // seconds on a monotonic clock; nullptr: std::chrono::steady_clock
};

namespace detail {
inline double steady_seconds() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

/// Appends printf output to buf[len..cap), keeping it terminated; returns the new length.
__attribute__((format(printf, 4, 5))) inline std::size_t progress_append(char* buf, std::size_t len, std::size_t cap,
                                                                const char* fmt, ...) {
    if (len + 1 >= cap) return len;
    va_list ap;
    va_start(ap, fmt);
    int n = std::vsnprintf(buf + len, cap - len, fmt, ap);
    va_end(ap);
    if (n < 0) return len;
    return len + static_cast<std::size_t>(n) < cap ? len + static_cast<std::size_t>(n) : cap - 1;
}

/// "0:12", "12:05", "1:02:03" (ETA style).
inline std::size_t progress_clock(char* buf, std::size_t len, std::size_t cap, double s) {
    long t = std::isfinite(s) && s > 0 ? static_cast<long>(s + 0.5) : 0;
    if (t >= 3600) return progress_append(buf, len, cap, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    return progress_append(buf, len, cap, "%ld:%02ld", t / 60, t % 60);
}

/// A metric value: 4 decimals in the usual range, scientific notation outside it.
inline std::size_t progress_value(char* buf, std::size_t len, std::size_t cap, double v) {
    double a = std::fabs(v);
    if (!std::isfinite(v) || a == 0 || (a >= 1e-3 && a < 1e5)) return progress_append(buf, len, cap, "%.4f", v);
    return progress_append(buf, len, cap, "%.3e", v);
}
}  // namespace detail

/// A progress bar over `total` steps; see the top of this file.
class progress_bar {
public:
    static constexpr int max_metrics = 8;

    /// Starts the clock; total must be at least 1.
    explicit progress_bar(std::size_t total, const progress_options& o = {}) : opt_(o), total_(total) {
        if (total == 0) fail("[progress_bar] %s: total must be at least 1 step", o.label ? o.label : "");
        if (!opt_.out) opt_.out = stdout;
        if (!opt_.clock) opt_.clock = &detail::steady_seconds;
        if (!opt_.unit) opt_.unit = "img";
        if (opt_.width < 1) opt_.width = 1;
        if (opt_.line_every_percent < 1) opt_.line_every_percent = 1;
        std::snprintf(label_, sizeof label_, "%s", o.label ? o.label : "");
        int fd = ::fileno(opt_.out);
        terminal_ =
            opt_.mode == progress_mode::terminal || (opt_.mode == progress_mode::automatic && fd >= 0 && ::isatty(fd));
        winsize ws{};
        if (terminal_ && fd >= 0 && ::ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) columns_ = ws.ws_col;
        start_ = opt_.clock();
    }
    progress_bar(const progress_bar&) = delete;
    progress_bar& operator=(const progress_bar&) = delete;

    /// Ends an unfinished terminal line, so later output does not overwrite it.
    ~progress_bar() {
        if (terminal_ && drawn_len_ > 0 && !finished_) {
            std::fputc('\n', opt_.out);
            std::fflush(opt_.out);
        }
    }

    /// Records that `done` steps of total are finished (`items` images in the steps since the last
    /// call) with these metrics; draws when due, and the final line once done reaches total.
    void update(std::size_t done, std::initializer_list<metric> metrics = {}, std::size_t items = 0) {
        if (finished_) return;
        if (done > total_) done = total_;
        // Keras' weighting: each update counts for the steps it advanced, at least one.
        double weight = done > done_ ? static_cast<double>(done - done_) : 1.0;
        for (const metric& m : metrics) record(m, weight);
        done_ = done;
        items_ += items;
        now_ = opt_.clock();
        if (done_ == total_) {
            finish();
            return;
        }
        if (terminal_) {
            if (drawn_len_ == 0 || now_ - last_draw_ >= opt_.redraw_interval) draw(false);
        } else {
            std::size_t bucket = done_ * 100 / total_ / static_cast<std::size_t>(opt_.line_every_percent);
            if (bucket > last_bucket_) {
                last_bucket_ = bucket;
                draw(false);
            }
        }
    }

    /// Writes the final line (elapsed time instead of ETA) now, also if fewer than total steps ran;
    /// later updates are ignored.
    void finish() {
        if (finished_) return;
        now_ = opt_.clock();
        draw(true);
        finished_ = true;
    }

    /// Items (or steps, when no items were counted) per second so far; 0 before any time passed.
    double rate() const {
        double t = elapsed();
        if (t <= 0) return 0;
        return static_cast<double>(items_ > 0 ? items_ : done_) / t;
    }
    /// Seconds left at the average pace so far; 0 when nothing is done yet.
    double eta() const {
        if (done_ == 0) return 0;
        return elapsed() / static_cast<double>(done_) * static_cast<double>(total_ - done_);
    }
    /// Seconds since construction, as of the last update or finish.
    double elapsed() const { return now_ > start_ ? now_ - start_ : 0; }
    /// The running value of a metric as shown (mean or latest), NaN if it was never given.
    double value(const char* name) const {
        for (int i = 0; i < n_metrics_; ++i)
            if (std::strcmp(metrics_[i].name, name) == 0) return shown(metrics_[i]);
        return NAN;
    }
    /// The last line written, without '\r' or '\n'.
    const char* line() const { return line_; }
    /// Whether this bar redraws one line (true) or writes plain lines.
    bool is_terminal() const { return terminal_; }

private:
    struct slot {
        char name[24];
        double sum, weight, last;
    };

    void record(const metric& m, double weight) {
        const char* name = m.name ? m.name : "";
        int i = 0;
        while (i < n_metrics_ && std::strncmp(metrics_[i].name, name, sizeof metrics_[i].name - 1) != 0) ++i;
        if (i == n_metrics_) {
            if (n_metrics_ == max_metrics) return;  // more would not fit on a line anyway
            ++n_metrics_;
            std::snprintf(metrics_[i].name, sizeof metrics_[i].name, "%s", name);
            metrics_[i].sum = metrics_[i].weight = 0;
        }
        metrics_[i].sum += m.value * weight;
        metrics_[i].weight += weight;
        metrics_[i].last = m.value;
    }
    double shown(const slot& s) const { return opt_.average && s.weight > 0 ? s.sum / s.weight : s.last; }

    // Counts, metrics, rate and ETA (or elapsed): everything after the bar.
    std::size_t format_tail(char* buf, std::size_t cap, bool final) const {
        constexpr std::size_t one = 1;
        int digits = std::snprintf(nullptr, 0, "%zu", total_);
        std::size_t n = 0;
        n = detail::progress_append(buf, n, cap, "%*zu/%zu", digits, done_, total_);
        if (!terminal_) n = detail::progress_append(buf, n, cap, "  %3zu%%", done_ * 100 / (total_ > 0 ? total_ : one));
        for (int i = 0; i < n_metrics_; ++i) {
            n = detail::progress_append(buf, n, cap, "  %s ", metrics_[i].name);
            n = detail::progress_value(buf, n, cap, shown(metrics_[i]));
        }
        double r = rate();
        if (r > 0) {
            const char* unit = items_ > 0 ? opt_.unit : "it";
            if (items_ == 0 && r < 1)
                n = detail::progress_append(buf, n, cap, "  %.2f s/it", 1 / r);
            else
                n = detail::progress_append(buf, n, cap,
                                   r >= 100  ? "  %.0f %s/s"
                                   : r >= 10 ? "  %.1f %s/s"
                                             : "  %.2f %s/s",
                                   r, unit);
        }
        if (final) {
            double t = elapsed();
            if (t < 60)
                n = detail::progress_append(buf, n, cap, "  elapsed %.1fs", t);
            else
                n = detail::progress_clock(buf, detail::progress_append(buf, n, cap, "  elapsed "), cap, t);
        } else if (done_ > 0) {
            n = detail::progress_clock(buf, detail::progress_append(buf, n, cap, "  ETA "), cap, eta());
        }
        return n;
    }

    void draw(bool final) {
        char tail[sizeof line_];
        std::size_t tail_len = format_tail(tail, sizeof tail, final);
        std::size_t label_len = std::strlen(label_);
        std::size_t n = 0;
        if (!terminal_) {
            n = detail::progress_append(line_, n, sizeof line_, label_len ? "%s  %s" : "%s%s", label_, tail);
            std::fprintf(opt_.out, "%s\n", line_);
        } else {
            // The bar gives up cells before the line may wrap, and goes when fewer than 4 would be
            // left; only then is the line cut.
            std::size_t fixed = label_len + (label_len ? 1 : 0) + 3 + tail_len;
            long cells = opt_.width;
            if (columns_ > 0) {
                long room = static_cast<long>(columns_) - 1 - static_cast<long>(fixed);
                if (room < cells) cells = room < 4 ? 0 : room;
            }
            if (cells > 200) cells = 200;
            long filled = static_cast<long>(static_cast<double>(done_) / static_cast<double>(total_) * cells);
            if (label_len) n = detail::progress_append(line_, n, sizeof line_, "%s ", label_);
            if (cells > 0) {
                char bar[208];
                for (long i = 0; i < cells; ++i) bar[i] = i < filled ? '=' : (i == filled && !final ? '>' : '.');
                bar[cells] = '\0';
                n = detail::progress_append(line_, n, sizeof line_, "[%s] ", bar);
            }
            n = detail::progress_append(line_, n, sizeof line_, "%s", tail);
            if (columns_ > 0 && n > columns_ - 1) line_[n = columns_ - 1] = '\0';
            // Blanks over what is left of a longer previous line.
            int pad = drawn_len_ > n ? static_cast<int>(drawn_len_ - n) : 0;
            std::fprintf(opt_.out, "\r%s%*s%s", line_, pad, "", final ? "\n" : "");
            drawn_len_ = n;
        }
        std::fflush(opt_.out);
        last_draw_ = now_;
    }

    progress_options opt_;
    std::size_t total_;
    std::size_t done_ = 0, items_ = 0, last_bucket_ = 0, drawn_len_ = 0, columns_ = 0;
    double start_ = 0, now_ = 0, last_draw_ = 0;
    bool terminal_ = false, finished_ = false;
    int n_metrics_ = 0;
    slot metrics_[max_metrics]{};
    char label_[64]{};
    char line_[512]{};
};

}  // namespace kiln

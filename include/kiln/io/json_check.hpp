// The first pass over a safetensors header's JSON (io/safetensors.hpp): what is wrong and
// where, without throwing.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace kiln::io::detail {

/// A first pass over the header JSON that says what is wrong and where ("fc.weight.shape[0]"):
/// syntax errors, numbers beyond double's range (nlohmann's out_of_range.406, which a plain
/// parse would throw as a foreign exception), nesting deeper than a header needs (so that no
/// later recursive walk can overflow the stack) and names given twice (JSON would keep the last
/// silently). It never throws, with or without exceptions.
struct json_checker : nlohmann::json_sax<nlohmann::json> {
    static constexpr std::size_t max_depth = 64;
    struct frame {
        bool array;
        std::size_t index = 0;          ///< array: elements finished so far
        std::string key = {};           ///< object: the last key read
        std::set<std::string> keys = {};  ///< object: every key read
    };
    std::vector<frame> stack;
    std::string problem;  ///< empty while all is well

    std::string where() const {
        std::string r;
        for (const auto& fr : stack) {
            if (r.size() > 200) return r + "...";
            // appended piece by piece: GCC 12 warns (-Wrestrict, falsely) on "[" + std::string
            if (fr.array) {
                r += '[';
                r += std::to_string(fr.index);
                r += ']';
            } else {
                if (!r.empty()) r += '.';
                r += fr.key;
            }
        }
        return r;
    }
    std::string in_where() const {
        std::string w = where();
        return w.empty() ? "" : ", in " + w;
    }
    bool value() {
        if (!stack.empty() && stack.back().array) ++stack.back().index;
        return true;
    }
    bool open(bool array) {
        if (stack.size() >= max_depth) {
            problem = "nests deeper than " + std::to_string(max_depth) + " levels" + in_where();
            return false;
        }
        stack.push_back(frame{array});
        return true;
    }
    bool close() {
        stack.pop_back();
        return value();
    }
    bool null() override { return value(); }
    bool boolean(bool) override { return value(); }
    bool number_integer(number_integer_t) override { return value(); }
    bool number_unsigned(number_unsigned_t) override { return value(); }
    bool number_float(number_float_t, const string_t&) override { return value(); }
    bool string(string_t&) override { return value(); }
    bool binary(binary_t&) override { return value(); }
    bool start_object(std::size_t) override { return open(false); }
    bool start_array(std::size_t) override { return open(true); }
    bool end_object() override { return close(); }
    bool end_array() override { return close(); }
    bool key(string_t& k) override {
        auto& fr = stack.back();
        fr.key = k;
        if (fr.keys.insert(k).second) return true;
        problem = "names " + where() + " twice";
        return false;
    }
    bool parse_error(std::size_t position, const std::string& token, const nlohmann::json::exception& e) override {
        std::string what = e.what();  // "[json.exception.parse_error.101] parse error at line 1, column 7: ..."
        auto tag = what.rfind("[json.exception.", 0) == 0 ? what.find("] ") : std::string::npos;
        if (tag != std::string::npos) what = what.substr(tag + 2);
        if (what.find("line ") == std::string::npos)  // out_of_range.406 has no position: where its token starts
            what += " at byte " + std::to_string(position - std::min(position, token.size())) + " of the header";
        problem = "is not valid JSON: " + what + in_where();
        return false;
    }
};

}  // namespace kiln::io::detail

#!/usr/bin/env python3
"""Writes each ```cpp block of a Markdown file as a compilable program: #include lines, `using
namespace`, and templates/structs at file scope, the statements inside main(). A README whose
snippet stops compiling fails the build (tests/CMakeLists.txt builds every file written here).

usage: extract.py README.md OUT_DIR   (prints the files written, one per line)"""
import os
import re
import sys


def split(block):
    top, body, depth, in_decl = [], [], 0, False
    for line in block.splitlines():
        s = line.strip()
        if not in_decl and (s.startswith("#include") or s.startswith("using namespace")):
            top.append(line)
            continue
        if not in_decl and re.match(r"(template\s*<|struct\s|class\s)", s):
            in_decl = True
        if in_decl:
            top.append(line)
            depth += line.count("{") - line.count("}")
            if depth == 0 and s.endswith(";"):
                in_decl = False
            continue
        body.append(line)
    return top, body


def main():
    src, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    text = open(src, encoding="utf-8").read()
    blocks = re.findall(r"```cpp\n(.*?)```", text, re.S)
    for i, block in enumerate(blocks):
        top, body = split(block)
        path = os.path.join(out, f"readme_snippet_{i}.cpp")
        code = (f"// Generated from {os.path.basename(src)} (snippet {i}) by tests/readme/extract.py.\n"
                + "\n".join(top) + "\n\nint main() {\n" + "\n".join("    " + l for l in body) + "\n}\n")
        old = open(path).read() if os.path.exists(path) else None
        if old != code:
            with open(path + ".tmp", "w") as f:
                f.write(code)
            os.replace(path + ".tmp", path)
        print(path)


main()

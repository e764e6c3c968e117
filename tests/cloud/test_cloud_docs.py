#!/usr/bin/env python3
"""issue #17: the docs cannot drift from outpost-cloud's command table.

Reads the usage that `outpost-cloud help` generates from the table, then
every mention of a command in README.md and docs/*.md: inline code that
starts with `outpost-cloud WORD`, and lines of fenced code blocks that run
outpost-cloud (continued lines joined). Fails when a mention names a
command that does not exist or an option that command does not accept, and
when a command of the table is documented nowhere.

usage: test_cloud_docs.py PATH/TO/outpost-cloud SOURCE_DIR
"""
import glob
import os
import re
import subprocess
import sys


def commands(binary):
    """{name: set of options} from the generated usage."""
    out = subprocess.run([binary, "help"], check=True, capture_output=True, text=True).stdout
    table = {}
    for line in out.splitlines():
        if not line.startswith("  outpost-cloud "):
            continue
        toks = line.split()[1:]
        words = []
        for t in toks:
            if not re.fullmatch(r"[a-z][a-z0-9-]*", t):
                break
            words.append(t)
        table[" ".join(words)] = set(re.findall(r"--[a-z0-9-]+", line))
    if len(table) < 10:
        sys.exit("FAIL: outpost-cloud help lists %d commands: %r" % (len(table), out))
    return table


def mentions(path):
    """(line number, text after 'outpost-cloud ') for every command mention."""
    text = open(path, encoding="utf-8").read()
    found = []
    fence = False
    lines = text.split("\n")
    prose = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.lstrip().startswith("```"):
            fence = not fence
            prose.append("")
            i += 1
            continue
        if fence:
            start = i
            while line.endswith("\\") and i + 1 < len(lines):
                i += 1
                line = line[:-1] + " " + lines[i]
            for m in re.finditer(r"(?:^|[\s/#$(])outpost-cloud ([^`]*)", line):
                found.append((start + 1, m.group(1)))
            prose.append("")
        else:
            prose.append(line)
        i += 1
    # Inline code may span a line break; fenced blocks are blanked above.
    body = "\n".join(prose)
    for m in re.finditer(r"`outpost-cloud ([^`]+)`", body):
        found.append((body.count("\n", 0, m.start()) + 1, m.group(1).replace("\n", " ")))
    return found


def main():
    binary, src = sys.argv[1], sys.argv[2]
    table = commands(binary)
    firsts = {n.split()[0] for n in table}
    docs = [os.path.join(src, "README.md")] + sorted(glob.glob(os.path.join(src, "docs", "*.md")))
    errors, seen = [], set()
    for path in docs:
        rel = os.path.relpath(path, src)
        for lineno, rest in mentions(path):
            # One command per mention: stop at a shell separator or comment.
            rest = re.split(r"\s[#|;&>]|\s\(|\s{3,}", rest)[0]
            toks = rest.split()
            if not toks or toks[0] not in firsts:
                errors.append("%s:%d: `outpost-cloud %s`: no such command" % (rel, lineno, rest))
                continue
            name = toks[0]
            if name not in table:
                name = " ".join(toks[:2])
                if name not in table:
                    errors.append("%s:%d: `outpost-cloud %s`: no such command" % (rel, lineno, rest))
                    continue
            seen.add(name)
            for opt in re.findall(r"(?<![\w-])--[a-z0-9-]+", rest):
                if opt not in table[name]:
                    errors.append("%s:%d: `outpost-cloud %s`: %s does not take %s"
                                  % (rel, lineno, rest, name, opt))
    for name in sorted(set(table) - seen - {"help"}):
        errors.append("outpost-cloud %s is documented nowhere (README.md, docs/*.md)" % name)
    if errors:
        print("\n".join("FAIL: " + e for e in errors), file=sys.stderr)
        return 1
    print("ok: %d commands, every documented mention exists" % len(table))
    return 0


if __name__ == "__main__":
    sys.exit(main())

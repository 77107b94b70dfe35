#!/usr/bin/env bash
# The C++ sources follow .clang-format: clang-format --dry-run --Werror on
# every tracked .cc and .h (every one under the source folders when this is
# not a git checkout).
#
#   format_test.sh [CLANG_FORMAT]
set -euo pipefail
clang_format=${1:-clang-format}
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"

if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  mapfile -t files < <(git ls-files '*.cc' '*.h')
else
  mapfile -t files < <(find bench client core proto server tests \
    -name node_modules -prune -o \( -name '*.cc' -o -name '*.h' \) -print)
fi
[[ ${#files[@]} -gt 0 ]] || { echo "no sources found under $repo"; exit 1; }

"$clang_format" --version
"$clang_format" --dry-run --Werror "${files[@]}"
echo "${#files[@]} files follow .clang-format"

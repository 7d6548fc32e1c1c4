# The demo's survey step: how many files are left in the directory of the deleted file ($1).
dir=$(dirname -- "$1")
n=$(find "$dir" -maxdepth 1 -type f | wc -l)
printf '{"files_left": %d}' "$n"

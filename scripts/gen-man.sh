#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Writes a man page for one program of the suite from its own --help and --version, so the
# page says exactly what the program says (help2man is not in Debian's minimal set).
#
#   scripts/gen-man.sh PROGRAM SECTION > page
#
# NAME is the program and the first sentence of its summary, SYNOPSIS its usage line,
# DESCRIPTION the rest of --help as it prints it (the option and configuration tables keep
# their columns). For vexfsctl, every command's --help follows as its own subsection.
set -euo pipefail

prog=${1:?usage: gen-man.sh PROGRAM SECTION}
section=${2:?usage: gen-man.sh PROGRAM SECTION}
name=$(basename "$prog")
help=$("$prog" --help)
version=$("$prog" --version | awk '{print $NF; exit}')

# Text for roff: backslashes escaped, and a line that starts with a control character
# ('.' or "'") protected by a zero-width escape.
s_roff() {
    sed -e 's/\\/\\e/g' -e "s/^\\([.']\\)/\\\\\\&\\1/"
}

usage=$(printf '%s\n' "$help" | sed -n '1s/^usage: //p')
# The summary: the first paragraph after the usage line, its first sentence.
summary=$(printf '%s\n' "$help" | awk 'NR > 2 && NF == 0 { exit } NR > 2 { printf "%s ", $0 }' |
    sed -e 's/  */ /g' -e 's/\. .*/./' -e 's/ $//')
rest=$(printf '%s\n' "$help" | tail -n +3)

upper=$(printf '%s' "$name" | tr '[:lower:]' '[:upper:]')
printf '.TH %s %s "" "VexFS %s" "VexFS"\n' "$upper" "$section" "$version"
printf '.SH NAME\n%s \\- %s\n' "${name//-/\\-}" "$(printf '%s' "${summary:-$name}" | s_roff)"
printf '.SH SYNOPSIS\n.nf\n%s\n.fi\n' "$(printf '%s' "${usage:-$name}" | s_roff)"
printf '.SH DESCRIPTION\n.nf\n%s\n.fi\n' "$(printf '%s\n' "$rest" | s_roff)"

if [ "$name" = vexfsctl ]; then
    printf '.SH COMMANDS\n'
    # The commands are the indented first words of the "Commands:" block of --help.
    for cmd in $(printf '%s\n' "$help" |
        awk '/^Commands:/ { on = 1; next } on && NF == 0 { exit } on && /^  [a-z]/ { print $1 }'); do
        printf '.SS %s\n.nf\n%s\n.fi\n' "$cmd" "$("$prog" "$cmd" --help 2>&1 | s_roff)"
    done
fi
printf '.SH SEE ALSO\nThe README of the VexFS suite; vexfsctl(1), vexfs\\-propagation(8).\n'

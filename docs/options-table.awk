# Turns `feedbackd --help` into the options table of docs/configuration.md:
#   go run ./pkg/cmd/feedbackd --help 2>&1 | awk -f docs/options-table.awk
# The help text is printed from pkg/collector/config.Options, so the table is
# the code's own option list, not a copy kept by hand.
/^  -/ { name = $1; sub(/^-/, "", name); next }
/^    \t/ {
  line = $0; sub(/^    \t/, "", line)
  def = ""; env = ""; key = "—"
  if (match(line, / \(default "[^"]*"\)$/)) { def = "`" substr(line, RSTART + 11, RLENGTH - 13) "`"; line = substr(line, 1, RSTART - 1) }
  if (match(line, / \(env [A-Z_]+(, file key [a-z_]+)?\)$/)) {
    n = split(substr(line, RSTART + 2, RLENGTH - 3), p, /[ ,]+/); env = p[2]; if (n >= 5) key = "`" p[5] "`"
    line = substr(line, 1, RSTART - 1)
  }
  gsub(/\|/, "\\|", line); gsub(/</, "\\&lt;", line); gsub(/>/, "\\&gt;", line)
  printf "| `--%s` | `%s` | %s | %s | %s |\n", name, env, key, def, line
}

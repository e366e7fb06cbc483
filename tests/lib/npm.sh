# Sourced by the tests that install packages from npm (bash).
#
#   npm_reachable            true when the npm registry answers (npm ping, 30 s)
#   npm_install DIR SPEC...  npm install SPEC... into the project DIR; on failure
#                            prints the command and the tail of npm's output
#
# npm's output goes to DIR/npm-install.log, not the terminal: a build of
# better-sqlite3 prints hundreds of lines.  On failure the tail is what says
# why (a registry or certificate error, a compiler missing).

npm_reachable() {
  timeout 30 npm ping >/dev/null 2>&1
}

npm_install() {
  local dir=$1; shift
  mkdir -p "$dir"
  [ -f "$dir/package.json" ] || echo '{"private": true}' > "$dir/package.json"
  if ! (cd "$dir" && npm install --no-audit --no-fund "$@") > "$dir/npm-install.log" 2>&1; then
    echo "FAIL npm install $* (in $dir) failed; the end of its output:"
    tail -n 25 "$dir/npm-install.log" | sed 's/^/  | /'
    return 1
  fi
}

# Sourced by the benchmark scripts: wrk installed if missing, and one wrk run reduced to
# "rps p50_ms p99_ms". Reads THREADS, CONNECTIONS and DURATION from the caller.

# wrk from Debian's package when it is missing (every benchmark script needs it).
if ! command -v wrk >/dev/null 2>&1; then
  echo "installing wrk (Debian package)" >&2
  sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get install -y -qq wrk >/dev/null 2>&1 || { $sudo apt-get update -qq && $sudo apt-get install -y -qq wrk >/dev/null; }
fi

# Prints "rps p50_ms p99_ms" for one wrk run; warns on stderr about non-2xx answers.
run() {
  local out rps p50 p99 errors
  out="$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$@")"
  rps="$(awk '/^Requests\/sec/ {print $2}' <<<"$out")"
  p50="$(awk '$1 == "50%" {print $2}' <<<"$out")"
  p99="$(awk '$1 == "99%" {print $2}' <<<"$out")"
  errors="$(awk '/Non-2xx/ {print $NF}' <<<"$out")"
  [ -n "$errors" ] && echo "warning: $errors non-2xx answers" >&2
  echo "$rps $(to_ms "$p50") $(to_ms "$p99")"
}

# wrk's latency ("812.00us", "3.20ms", "1.02s") in milliseconds.
to_ms() {
  local v="$1"
  case "$v" in
    *us) awk -v x="${v%us}" 'BEGIN {printf "%.2f", x / 1000}' ;;
    *ms) awk -v x="${v%ms}" 'BEGIN {printf "%.2f", x}' ;;
    *s) awk -v x="${v%s}" 'BEGIN {printf "%.2f", x * 1000}' ;;
    *) echo "$v" ;;
  esac
}

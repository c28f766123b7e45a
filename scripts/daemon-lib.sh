# SPDX-License-Identifier: MIT
# Sourced by tests and benchmarks: start a throwaway shmcached.
#
#   shmc_start_daemon BIN DIR JSON [ENV...]
#
# writes JSON to DIR/conf.json, makes DIR/run and DIR/state, starts BIN in
# the foreground there (stderr to DIR/daemon.log, ENV as VAR=value pairs),
# waits up to 10 s for DIR/run/control.sock, and sets SHMC_DPID.  Returns
# non-zero if the socket never appeared.
shmc_start_daemon() {
    _bin=$1 _dir=$2 _json=$3
    shift 3
    mkdir -p "$_dir/run" "$_dir/state"
    printf '%s\n' "$_json" >"$_dir/conf.json"
    env "$@" "$_bin" --foreground -c "$_dir/conf.json" \
        --runtime-dir "$_dir/run" --state-dir "$_dir/state" \
        2>"$_dir/daemon.log" &
    SHMC_DPID=$!
    _i=0
    while [ ! -S "$_dir/run/control.sock" ] && [ "$_i" -lt 200 ]; do
        sleep 0.05
        _i=$((_i + 1))
    done
    [ -S "$_dir/run/control.sock" ]
}

# shmc_wait_socket PATH PID: wait until PATH is a socket, while process
# PID lives, 10 s at most.  Returns non-zero if it never appeared.
shmc_wait_socket() {
    _i=0
    while [ ! -S "$1" ]; do
        if ! kill -0 "$2" 2>/dev/null || [ "$_i" -ge 200 ]; then
            return 1
        fi
        sleep 0.05
        _i=$((_i + 1))
    done
}

# shmc_sanitizer_preload LIB: print the sanitizer runtimes a program that
# is not itself instrumented (the Python interpreter) must LD_PRELOAD to
# load LIB, when LIB was built with them; nothing otherwise.
shmc_sanitizer_preload() {
    if nm -D "$1" 2>/dev/null | grep -q __asan_init; then
        for _r in libasan.so libubsan.so; do
            _f=$(${CC:-cc} -print-file-name=$_r)
            [ -f "$_f" ] && printf '%s ' "$_f"
        done
    fi
    return 0
}

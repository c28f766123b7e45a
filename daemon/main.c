/* SPDX-License-Identifier: MIT */
/*
 * main.c -- shmcached: command line, start-up, signals, timers, exit codes.
 *
 * Start-up order: parse the command line, load the config (exit 78 on any
 * error), resolve the runtime and state directories (command line, then
 * $RUNTIME_DIRECTORY / $STATE_DIRECTORY from systemd, then the configure
 * defaults), open every table (tables.c), listen on the control socket
 * (control.c), and only then tell systemd READY=1.  Without --foreground
 * the process forks before opening the tables and the parent waits: it
 * exits with the child's start-up status, so the command's exit status
 * says whether start-up worked.  The detached child has moved to "/" (so
 * every path it keeps was made absolute first), and once ready it logs to
 * syslog, or to --log-file when given; --pid-file is taken (pidfile.c)
 * right after detaching, before any table is opened.
 *
 * One thread runs one libevent loop.  Timers: the expiry sweep and the
 * heartbeat (expire_interval_ms), msync of disk tables (sync_interval_s),
 * the systemd watchdog (half of WATCHDOG_USEC).  Every access of a timer
 * to a table's mapping is guarded against SIGBUS (guard.c), and the sweep
 * checks each table file's size first: a file truncated under us gets its
 * table replaced (tables.c), not the daemon killed.  SIGTERM/SIGINT stop the
 * loop; tables are then synced and marked clean.  SIGHUP re-reads the
 * config: limits, log level, TTLs and ACLs apply at once; anything that
 * would change a table's file (size, limits, mode, new or removed tables,
 * socket path) is logged as ignored until restart.
 *
 * Exit codes (sysexits): 0 clean stop, 64 usage, 69 unavailable (socket or
 * table in use), 70 internal, 77 permission denied, 78 configuration.
 */
#include "config.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"
#include "error.h"
#include "guard.h"
#include "loader.h"
#include "worker.h"
#include "redis.h"
#include "log.h"
#include "watch.h"
#include "notify.h"
#include "pidfile.h"

#define EX_OK_ 0
#define EX_USAGE_ 64
#define EX_UNAVAILABLE_ 69
#define EX_SOFTWARE_ 70
#define EX_NOPERM_ 77
#define EX_CONFIG_ 78

#define SWEEP_BUCKETS 4096  /* buckets the expiry sweep visits per tick */
#define CLOCK_SLACK_MS 1000 /* wall-clock drift per sweep that is no jump */

static struct daemon D;
static struct event *ev_sweep, *ev_sync; /* re-armed on reload */
static int verbose;                      /* -v count, kept on reload */

static void
usage(FILE *f)
{
    fprintf(f,
            "usage: shmcached [-f|--foreground] [-c|--config FILE]\n"
            "                 [--runtime-dir DIR] [--state-dir DIR]\n"
            "                 [--log-file FILE] [--pid-file FILE]\n"
            "                 [--check-config] [-v]... [-h|--help] "
            "[--version]\n"
            "\n"
            "  -f, --foreground   stay attached (systemd, tests)\n"
            "  -c, --config FILE  default %s/shmcached/shmcached.json\n"
            "  --runtime-dir DIR  socket and memory tables (default "
            "$RUNTIME_DIRECTORY or %s/shmcached)\n"
            "  --state-dir DIR    disk tables (default $STATE_DIRECTORY or "
            "%s/shmcached)\n"
            "  --log-file FILE    log there (reopened on SIGHUP) instead of "
            "stderr,\n"
            "                     or syslog once detached\n"
            "  --pid-file FILE    write the pid there; refuse to start if a "
            "running\n"
            "                     daemon holds it\n"
            "  --check-config     validate the config and exit (0 or 78)\n"
            "  -v                 more log output (repeat for debug)\n",
            SYSCONFDIR, RUNSTATEDIR, STATEDIR);
}

/* Map a start-up errno to an exit status. */
static int
exit_code(int rc)
{
    if (rc == -EACCES || rc == -EPERM)
        return EX_NOPERM_;
    if (rc == -ENAMETOOLONG || rc == -EINVAL)
        return EX_CONFIG_;
    if (rc == -ENOMEM)
        return EX_SOFTWARE_;
    return EX_UNAVAILABLE_; /* in use, missing directory, ... */
}

/* Pick a directory: flag, then environment (first path of a list). */
static void
pick_dir(char *dst, const char *flag, const char *env, const char *dflt)
{
    const char *e = getenv(env);
    size_t n;

    if (flag != NULL) {
        snprintf(dst, PATH_MAX, "%s", flag);
    } else if (e != NULL && *e != '\0') {
        n = strcspn(e, ":");
        snprintf(dst, PATH_MAX, "%.*s", (int)n, e);
    } else {
        snprintf(dst, PATH_MAX, "%s", dflt);
    }
}

/*
 * Make path absolute in place (against the current directory), for a
 * daemon about to chdir("/").  Returns 0, or -1 with the reason in err.
 */
static int
absolutize(char *path, size_t size, char *err, size_t errlen)
{
    char cwd[PATH_MAX], abs[PATH_MAX];

    if (path[0] == '/' || path[0] == '\0')
        return 0;
    if (getcwd(cwd, sizeof(cwd)) == NULL) {
        snprintf(err, errlen, "cannot resolve %.300s: getcwd: %s", path,
                 strerror(errno));
        return -1;
    }
    if ((size_t)snprintf(abs, sizeof(abs), "%s/%s", cwd, path) >= size) {
        snprintf(err, errlen, "path too long: %.300s/%.300s", cwd, path);
        return -1;
    }
    snprintf(path, size, "%s", abs);
    return 0;
}

/*
 * Make sure a directory of ours exists: create it (and its parents) with
 * mode if it does not.  Returns 0, or -1 with the reason in err, naming
 * the directory.
 */
static int
ensure_dir(const char *what, const char *path, mode_t mode, char *err,
           size_t errlen)
{
    char p[PATH_MAX];
    struct stat st;
    size_t i;

    snprintf(p, sizeof(p), "%s", path);
    for (i = 1; p[i - 1] != '\0'; i++) {
        if (p[i] != '/' && p[i] != '\0')
            continue;
        p[i] = '\0';
        if (mkdir(p, mode) != 0 && errno != EEXIST) {
            snprintf(err, errlen, "cannot create the %s %.300s: %s", what, p,
                     strerror(errno));
            return -1;
        }
        p[i] = path[i];
    }
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "the %s %.300s is not a directory", what, path);
        return -1;
    }
    return 0;
}

/* Sweep one table (hints, expiry, heartbeat) with its mapping guarded;
 * the count expired, or -1 if an access faulted (guard.c). */
static int64_t
sweep_table(struct dtable *t, uint64_t now)
{
    struct guard g;
    uint64_t n;

    if (sigsetjmp(g.env, 0) != 0)
        return -1;
    guard_arm(&g, t->st->base, t->st->size);
    hints_drain(&t->hints, t->st, now);
    n = store_expire(t->st, now, SWEEP_BUCKETS);
    store_heartbeat(t->st, now);
    guard_disarm(&g);
    return (int64_t)n;
}

/*
 * Tell wall-clock jumps from the sweep: between two sweeps the wall clock
 * must advance as the monotonic one does, within CLOCK_SLACK_MS (and what
 * a slewing NTP adds, under 1 ms a second).  A jump is logged, and the
 * start time moves with it, so that uptime_s stays the time since start.
 * Entry expiries are wall-clock times: a jump forward expires what it
 * passes, a jump back makes every TTL that much longer.
 */
static void
watch_clock(uint64_t now)
{
    static uint64_t last_wall, last_mono;
    uint64_t mono = mono_ms();
    int64_t skew = (int64_t)(now - last_wall) - (int64_t)(mono - last_mono);
    int64_t slack = CLOCK_SLACK_MS + (int64_t)(mono - last_mono) / 1000;

    if (last_mono != 0 && (skew > slack || skew < -slack)) {
        log_warn("clock: wall clock jumped %s by %lld ms; entry expiries "
                 "are wall-clock times",
                 skew > 0 ? "forward" : "back",
                 (long long)(skew > 0 ? skew : -skew));
        D.start_ms += (uint64_t)skew;
    }
    last_wall = now;
    last_mono = mono;
}

/* Timer: expiry sweep and heartbeat (a table whose file shrank or was
 * deleted is replaced, before any access to it can fault; one whose epoch
 * the clock has left far behind is rebuilt), and giving back connection
 * memory. */
static void
sweep_cb(evutil_socket_t fd, short what, void *arg)
{
    uint64_t now = table_now_ms();
    int64_t n;
    size_t i;

    (void)fd;
    (void)what;
    (void)arg;
    watch_clock(now);
    for (i = 0; i < D.ntables; i++) {
        if (tables_check_size(&D.tables[i]) ||
            tables_check_epoch(&D.tables[i], now))
            continue; /* a new table: swept next time */
        n = sweep_table(&D.tables[i], now);
        if (n < 0)
            tables_faulted(&D.tables[i]);
        else if (n > 0)
            log_debug("evict: expired table=%s count=%lld",
                      D.tables[i].cfg.name, (long long)n);
    }
    control_tidy(&D);
}

/* store_sync() with the mapping guarded; 0, -errno, or 1 if it faulted. */
static int
sync_table(struct dtable *t)
{
    struct guard g;
    int rc;

    if (sigsetjmp(g.env, 0) != 0)
        return 1;
    guard_arm(&g, t->st->base, t->st->size);
    rc = store_sync(t->st);
    guard_disarm(&g);
    return rc;
}

/* Timer: write disk tables back. */
static void
sync_cb(evutil_socket_t fd, short what, void *arg)
{
    size_t i;
    int rc;

    (void)fd;
    (void)what;
    (void)arg;
    for (i = 0; i < D.ntables; i++) {
        if (!D.tables[i].cfg.disk)
            continue;
        rc = sync_table(&D.tables[i]);
        if (rc == 1)
            tables_faulted(&D.tables[i]);
        else if (rc != 0)
            log_err("persist: msync table=%s: %s", D.tables[i].cfg.name,
                    strerror(-rc));
    }
}

/* Timer: systemd watchdog. */
static void
watchdog_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    notify_send("WATCHDOG=1");
}

/* SIGTERM, SIGINT: stop. */
static void
stop_cb(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    (void)arg;
    log_notice("main: stopping signal=%d", (int)sig);
    notify_send("STOPPING=1\nSTATUS=Stopping");
    event_base_loopbreak(D.base);
}

/* (Re)start the periodic timers with c's intervals. */
static void
arm_timers(const struct conf *c)
{
    struct timeval tv;

    tv.tv_sec = c->expire_interval_ms / 1000;
    tv.tv_usec = (c->expire_interval_ms % 1000) * 1000;
    event_add(ev_sweep, &tv);
    event_del(ev_sync);
    if (c->sync_interval_s > 0) {
        tv.tv_sec = c->sync_interval_s;
        tv.tv_usec = 0;
        event_add(ev_sync, &tv);
    }
}

/* SIGHUP: reload what can change without a restart. */
static void
reload_cb(evutil_socket_t sig, short what, void *arg)
{
    char err[512];
    struct conf *c;
    const struct conf_table *nt;
    size_t i;

    (void)sig;
    (void)what;
    (void)arg;
    notify_send("RELOADING=1");
    log_reopen(); /* logrotate moved it */
    if (conf_load(D.conf_path, &c, err, sizeof(err)) != 0) {
        log_err("config: reload failed, keeping the running config: %s", err);
        notify_send("READY=1\nSTATUS=Reload failed; running config kept");
        return;
    }
    if (strcmp(c->socket_path, D.conf->socket_path) != 0)
        log_warn("config: socket_path change ignored until restart");
    for (i = 0; i < D.ntables; i++) {
        struct dtable *t = &D.tables[i];
        int res_changed;
        nt = conf_table(c, t->cfg.name, strlen(t->cfg.name));
        if (nt == NULL) {
            log_warn("config: removal of table=%s ignored until restart",
                     t->cfg.name);
            continue;
        }
        res_changed = nt->populate != t->cfg.populate ||
                      nt->lock != t->cfg.lock ||
                      nt->huge_pages != t->cfg.huge_pages;
        if (!tables_same_geometry(nt, &t->cfg)) {
            log_warn("config: new size/limits/mode/directory of table=%s "
                     "ignored until restart; TTLs, ACLs, live_high_water_pct "
                     "and residency applied",
                     t->cfg.name);
            t->cfg.default_ttl_s = nt->default_ttl_s;
            t->cfg.negative_ttl_s = nt->negative_ttl_s;
            t->cfg.write_uids = nt->write_uids;
            t->cfg.write_gids = nt->write_gids;
            t->cfg.read_uids = nt->read_uids;
            t->cfg.read_gids = nt->read_gids;
            t->cfg.read_any = nt->read_any;
            t->cfg.loader = nt->loader;
            memcpy(t->cfg.invalidate_on, nt->invalidate_on,
                   sizeof(t->cfg.invalidate_on));
            t->cfg.ninvalidate = nt->ninvalidate;
            t->cfg.live_hwm_pct = nt->live_hwm_pct;
            t->cfg.populate = nt->populate;
            t->cfg.lock = nt->lock;
            t->cfg.huge_pages = nt->huge_pages;
        } else {
            t->cfg = *nt;
        }
        tables_apply_mode(t);
        store_set_live_hwm(t->st, t->cfg.live_hwm_pct);
        /* New settings, or a new nsswitch.conf: new worker processes. */
        worker_recycle(t);
        /* A lock that fails now is logged; the table keeps serving. */
        if (res_changed && tables_apply_residency(t, err, sizeof(err)) != 0)
            log_err("config: %s", err);
    }
    for (i = 0; i < c->ntables; i++)
        if (tables_find(D.tables, D.ntables, c->tables[i].name,
                        strlen(c->tables[i].name)) == NULL)
            log_warn("config: new table=%s ignored until restart",
                     c->tables[i].name);
    /* The tables keep copies; the rest of the new config takes over. */
    arm_timers(c);
    watch_setup(&D);
    if (redis_setup(&D) != 0)
        log_err("config: out of memory starting redis sessions");
    snprintf(c->socket_path, sizeof(c->socket_path), "%s", D.conf->socket_path);
    conf_free(D.conf);
    D.conf = c;
    log_set_level(c->log_level + verbose > LOG_LVL_DEBUG
                      ? LOG_LVL_DEBUG
                      : c->log_level + verbose);
    log_notice("config: reloaded path=%s", D.conf_path);
    notify_send("READY=1\nSTATUS=Serving %zu tables", D.ntables);
}

/* Detach from the terminal; the parent exits with the child's start-up
 * status, read from a pipe. */
static int
detach(int *ready_fd)
{
    int p[2], status = EX_SOFTWARE_;
    pid_t pid;
    unsigned char b;

    if (pipe(p) != 0)
        return -errno;
    pid = fork();
    if (pid < 0)
        return -errno;
    if (pid > 0) {
        close(p[1]);
        if (read(p[0], &b, 1) == 1)
            status = b;
        _exit(status);
    }
    close(p[0]);
    setsid();
    /* Hold no directory busy (an unmount); paths were made absolute. */
    if (chdir("/") != 0)
        return -errno;
    *ready_fd = p[1];
    return 0;
}

/* Tell a waiting parent how start-up went, and drop the terminal. */
static void
detach_done(int ready_fd, int status)
{
    unsigned char b = (unsigned char)status;
    int null;

    if (ready_fd < 0)
        return;
    if (status == 0) {
        null = open("/dev/null", O_RDWR);
        if (null >= 0) {
            dup2(null, STDIN_FILENO);
            dup2(null, STDOUT_FILENO);
            dup2(null, STDERR_FILENO);
            if (null > STDERR_FILENO)
                close(null);
        }
    }
    if (write(ready_fd, &b, 1) != 1) {
        /* The parent is gone; nothing to tell. */
    }
    close(ready_fd);
}

int
main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"foreground", no_argument, NULL, 'f'},
        {"config", required_argument, NULL, 'c'},
        {"runtime-dir", required_argument, NULL, 'R'},
        {"state-dir", required_argument, NULL, 'S'},
        {"check-config", no_argument, NULL, 'C'},
        {"log-file", required_argument, NULL, 'L'},
        {"pid-file", required_argument, NULL, 'P'},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    const char *runtime_flag = NULL, *state_flag = NULL;
    static char conf_path[PATH_MAX], log_file[PATH_MAX], pid_file[PATH_MAX];
    char err[PATH_MAX + 512], dflt[PATH_MAX];
    struct event *ev[6] = {NULL};
    struct timeval tv;
    uint64_t wd;
    int c, foreground = 0, check = 0, rc, status = EX_OK_;
    int ready_fd = -1, pid_fd = -1, log_flag = 0, pid_flag = 0;
    size_t i;

    D.conf_path = SYSCONFDIR "/shmcached/shmcached.json";
    while ((c = getopt_long(argc, argv, "fc:vh", opts, NULL)) != -1) {
        switch (c) {
        case 'f':
            foreground = 1;
            break;
        case 'c':
            D.conf_path = optarg;
            break;
        case 'L':
            snprintf(log_file, sizeof(log_file), "%s", optarg);
            log_flag = 1;
            break;
        case 'P':
            snprintf(pid_file, sizeof(pid_file), "%s", optarg);
            pid_flag = 1;
            break;
        case 'R':
            runtime_flag = optarg;
            break;
        case 'S':
            state_flag = optarg;
            break;
        case 'C':
            check = 1;
            break;
        case 'v':
            verbose++;
            break;
        case 'h':
            usage(stdout);
            return EX_OK_;
        case 'V':
            printf("shmcached %s\n", PACKAGE_VERSION);
            return EX_OK_;
        default:
            usage(stderr);
            return EX_USAGE_;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return EX_USAGE_;
    }
    if ((log_file[0] == '\0' && log_flag) ||
        (pid_file[0] == '\0' && pid_flag)) {
        fprintf(stderr, "shmcached: --log-file and --pid-file need a path\n");
        return EX_USAGE_;
    }
    log_init("shmcached", LOG_LVL_NOTICE);
    if (conf_load(D.conf_path, &D.conf, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s\n", err);
        return EX_CONFIG_;
    }
    if (check) {
        printf("%s: OK, %zu table(s)\n", D.conf_path, D.conf->ntables);
        conf_free(D.conf);
        return EX_OK_;
    }
    log_set_level(D.conf->log_level + verbose > LOG_LVL_DEBUG
                      ? LOG_LVL_DEBUG
                      : D.conf->log_level + verbose);
    signal(SIGPIPE, SIG_IGN);
    /* Our own name lookups (a loader's user, ...) must not come back to
     * us through libnss_shmcache when nsswitch.conf lists it: we would
     * wait on ourselves.  The module steps aside when this is set. */
    setenv("SHMCACHE_NSS_DISABLE", "1", 1);
    /* A table file truncated under us must not kill us (guard.c). */
    if (guard_init() != 0) {
        fprintf(stderr, "shmcached: cannot handle SIGBUS: %s\n",
                strerror(errno));
        return EX_SOFTWARE_;
    }

    snprintf(dflt, sizeof(dflt), "%s/shmcached", RUNSTATEDIR);
    pick_dir(D.runtime_dir, runtime_flag, "RUNTIME_DIRECTORY", dflt);
    snprintf(dflt, sizeof(dflt), "%s/shmcached", STATEDIR);
    pick_dir(D.state_dir, state_flag, "STATE_DIRECTORY", dflt);
    if (D.conf->socket_path[0] != '\0')
        snprintf(D.socket_path, sizeof(D.socket_path), "%s",
                 D.conf->socket_path);
    else if ((size_t)snprintf(D.socket_path, sizeof(D.socket_path),
                              "%.*s/control.sock", PATH_MAX - 16,
                              D.runtime_dir) >= sizeof(D.socket_path)) {
        fprintf(stderr, "shmcached: runtime directory path too long\n");
        return EX_CONFIG_;
    }
    /* The detached daemon runs in "/": every path it keeps is absolute. */
    if (!foreground) {
        snprintf(conf_path, sizeof(conf_path), "%s", D.conf_path);
        D.conf_path = conf_path;
        if (absolutize(conf_path, sizeof(conf_path), err, sizeof(err)) != 0 ||
            absolutize(D.runtime_dir, sizeof(D.runtime_dir), err,
                       sizeof(err)) != 0 ||
            absolutize(D.state_dir, sizeof(D.state_dir), err, sizeof(err)) !=
                0 ||
            absolutize(D.socket_path, sizeof(D.socket_path), err,
                       sizeof(err)) != 0 ||
            absolutize(log_file, sizeof(log_file), err, sizeof(err)) != 0 ||
            absolutize(pid_file, sizeof(pid_file), err, sizeof(err)) != 0) {
            fprintf(stderr, "shmcached: %s\n", err);
            return EX_CONFIG_;
        }
    }
    if (log_file[0] != '\0') {
        rc = log_open_file(log_file, err, sizeof(err));
        if (rc != 0) {
            fprintf(stderr, "shmcached: %s\n", err);
            return exit_code(rc);
        }
        /* Until it has detached, the terminal sees what went wrong. */
        log_set_tee(!foreground);
    }
    D.euid = geteuid();
    D.start_ms = table_now_ms();
    if (ensure_dir("runtime directory", D.runtime_dir, 0755, err,
                   sizeof(err)) != 0 ||
        ensure_dir("state directory", D.state_dir, 0750, err, sizeof(err)) !=
            0) {
        log_err("main: %s", err);
        return EX_UNAVAILABLE_;
    }

    /* systemd's variables name our pid: read them before detaching. */
    D.listen_fd = notify_listen_fd(err, sizeof(err));
    if (D.listen_fd == -2) {
        log_err("control: %s", err);
        return EX_CONFIG_;
    }
    wd = notify_watchdog_usec();
    /* A SIGHUP before the loop runs must not kill us (its default). */
    signal(SIGHUP, SIG_IGN);
    if (!foreground && (rc = detach(&ready_fd)) != 0) {
        fprintf(stderr, "shmcached: cannot detach: %s\n", strerror(-rc));
        return EX_SOFTWARE_;
    }
    if (pid_file[0] != '\0') {
        pid_fd = pidfile_take(pid_file, err, sizeof(err));
        if (pid_fd < 0) {
            log_err("main: %s", err);
            status = exit_code(pid_fd);
            pid_fd = -1;
            goto out;
        }
    }
    D.base = event_base_new();
    if (D.base == NULL) {
        log_err("main: cannot create the event loop");
        status = EX_SOFTWARE_;
        goto out;
    }
    rc = tables_open(D.conf, D.runtime_dir, D.state_dir, &D.tables, &D.ntables,
                     err, sizeof(err));
    if (rc != 0) {
        log_err("tables: %s", err);
        status = exit_code(rc);
        goto out;
    }
    rc = control_listen(&D, err, sizeof(err));
    if (rc != 0) {
        log_err("control: %s", err);
        status = exit_code(rc);
        goto out;
    }
    tables_retire_replaced(D.tables, D.ntables);

    ev[0] = evsignal_new(D.base, SIGTERM, stop_cb, NULL);
    ev[1] = evsignal_new(D.base, SIGINT, stop_cb, NULL);
    ev[2] = evsignal_new(D.base, SIGHUP, reload_cb, NULL);
    ev[3] = ev_sweep = event_new(D.base, -1, EV_PERSIST, sweep_cb, NULL);
    ev[4] = ev_sync = event_new(D.base, -1, EV_PERSIST, sync_cb, NULL);
    ev[5] = event_new(D.base, -1, EV_PERSIST, watchdog_cb, NULL);
    for (i = 0; i < 6; i++)
        if (ev[i] == NULL) {
            log_err("main: out of memory");
            status = EX_SOFTWARE_;
            goto out;
        }
    event_add(ev[0], NULL);
    event_add(ev[1], NULL);
    event_add(ev[2], NULL);
    if (loader_init(&D) != 0) {
        log_err("main: cannot watch SIGCHLD for loaders");
        status = EX_SOFTWARE_;
        goto out;
    }
    if (redis_setup(&D) != 0) {
        log_err("main: out of memory");
        status = EX_SOFTWARE_;
        goto out;
    }
    watch_setup(&D);
    arm_timers(D.conf);
    if (wd > 0) {
        tv.tv_sec = (time_t)(wd / 2 / 1000000);
        tv.tv_usec = (suseconds_t)(wd / 2 % 1000000);
        event_add(ev[5], &tv);
    }
    sweep_cb(-1, 0, NULL); /* first heartbeat before readers look */

    if (ready_fd >= 0) {
        /* Detaching: stderr is about to become /dev/null. */
        log_use_syslog(); /* unless there is a log file */
        log_set_tee(0);
    }
    log_notice("main: ready tables=%zu socket=%s pid=%d", D.ntables,
               D.socket_path, (int)getpid());
    notify_send("READY=1\nSTATUS=Serving %zu tables\nMAINPID=%d", D.ntables,
                (int)getpid());
    detach_done(ready_fd, EX_OK_);
    ready_fd = -1;
    if (event_base_dispatch(D.base) < 0)
        status = EX_SOFTWARE_;

out:
    detach_done(ready_fd, status);
    watch_shutdown();
    loader_shutdown(&D);
    redis_shutdown(&D);
    control_shutdown(&D);
    for (i = 0; i < 6; i++)
        if (ev[i] != NULL)
            event_free(ev[i]);
    tables_close(D.tables, D.ntables);
    if (D.base != NULL)
        event_base_free(D.base);
    conf_free(D.conf);
    pidfile_remove(pid_file, pid_fd);
    if (status == EX_OK_)
        log_notice("main: stopped cleanly");
    return status;
}

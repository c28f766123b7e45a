/* SPDX-License-Identifier: MIT */
/*
 * child.c -- a loader's program as a child process, started the one way
 * both kinds of run use: a one-shot exec run (loader.c) and a persistent
 * worker (worker.c).
 *
 * What the child gets, and nothing more: stdin and stdout pipes to the
 * daemon, the daemon's stderr, the environment PATH and SHMCACHE_TABLE,
 * "/" as its directory, default signal dispositions and an empty mask, a
 * session (and so a process group) of its own, which is what the daemon
 * kills at a timeout; and, when the daemon is root, the loader's "user"
 * with no supplementary groups.  It must never outlive the daemon: the
 * parent-death signal is set to SIGKILL after the user change (which
 * would clear it), and a daemon already gone by then ends the child at
 * once; a worker also exits on EOF on stdin, which the daemon's death
 * brings (common/loadwire.h).
 *
 * The daemon's end of each pipe is close-on-exec and non-blocking: the
 * event loop reads and writes them, never waits on them.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "child.h"
#include "error.h"
#include "format.h"
#include "log.h"
#include "tables.h"

/* In the child: become the loader (never returns). */
static void
exec_child(const struct dtable *t, int in_fd, int out_fd, const void *key_arg,
           size_t klen, uid_t uid, gid_t gid, int drop, pid_t parent)
{
    const struct conf_loader *ld = &t->cfg.loader;
    char *argv[CONF_ARGV_MAX + 2], keybuf[FMT_KEY_MAX + 1], envt[96];
    char *envp[] = {"PATH=/usr/local/bin:/usr/bin:/bin", envt, NULL};
    const char *p = ld->argv;
    sigset_t none;
    uint32_t i;
#ifndef HAVE_CLOSEFROM
    int fd;
#endif

    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    for (i = 1; i < NSIG; i++)
        signal((int)i, SIG_DFL);
    setsid();
    if (dup2(in_fd, 0) < 0 || dup2(out_fd, 1) < 0)
        _exit(126);
#ifdef HAVE_CLOSEFROM
    closefrom(3);
#else
    for (fd = 3; fd < 65536; fd++)
        close(fd);
#endif
    if (drop && (setgroups(0, NULL) != 0 || setgid(gid) != 0 ||
                 setuid(uid) != 0 || (uid != 0 && setuid(0) == 0)))
        _exit(126);
    /* After the user change, which clears it; then make sure the daemon
     * did not die before it was set. */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
        _exit(126);
    if (chdir("/") != 0)
        _exit(126);
    for (i = 0; i < ld->argc; i++) {
        argv[i] = (char *)p;
        p += strlen(p) + 1;
    }
    if (key_arg != NULL) {
        memcpy(keybuf, key_arg, klen);
        keybuf[klen] = '\0';
        argv[i++] = keybuf;
    }
    argv[i] = NULL;
    snprintf(envt, sizeof(envt), "SHMCACHE_TABLE=%s", t->cfg.name);
    execve(argv[0], argv, envp);
    _exit(127);
}

/*
 * Start t's loader program; key_arg (klen bytes, no NUL), if not NULL, is
 * its last argument.  Fills c and returns 0, or returns an error for the
 * waiting clients: -errno, or SHMC_ELOADER (logged) when the loader's
 * user does not exist.
 */
int
child_start(const struct dtable *t, const void *key_arg, size_t klen,
            struct child *c)
{
    const struct conf_loader *ld = &t->cfg.loader;
    int in[2] = {-1, -1}, out[2] = {-1, -1}, drop = geteuid() == 0, e;
    struct passwd *pw = NULL;
    pid_t pid, self = getpid();

    if (key_arg != NULL && memchr(key_arg, '\0', klen) != NULL)
        return -EINVAL; /* no NUL in an argument */
    if (drop && (pw = getpwnam(ld->user)) == NULL) {
        log_err("loader: no user \"%s\" to run the loader of table=%s as",
                ld->user, t->cfg.name);
        return SHMC_ELOADER;
    }
    if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0)
        goto fail;
    pid = fork();
    if (pid < 0)
        goto fail;
    if (pid == 0)
        exec_child(t, in[0], out[1], key_arg, klen, pw ? pw->pw_uid : 0,
                   pw ? pw->pw_gid : 0, drop, self);
    close(in[0]);
    close(out[1]);
    fcntl(in[1], F_SETFL, O_NONBLOCK);
    fcntl(out[0], F_SETFL, O_NONBLOCK);
    c->pid = pid;
    c->in_fd = in[1];
    c->out_fd = out[0];
    return 0;

fail:
    e = -errno;
    if (in[0] >= 0) {
        close(in[0]);
        close(in[1]);
    }
    if (out[0] >= 0) {
        close(out[0]);
        close(out[1]);
    }
    return e;
}

/* Kill a child and everything in its session's process group.  (Not yet
 * reaped, so its pid, and the group's id, are still its own.) */
void
child_kill(pid_t pid)
{
    if (pid > 0) {
        kill(-pid, SIGKILL);
        kill(pid, SIGKILL);
    }
}

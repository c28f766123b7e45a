/* SPDX-License-Identifier: MIT */
/*
 * fdpass.h -- passing a descriptor over the control socket (SCM_RIGHTS),
 * both ways: the daemon hands readers table descriptors (OPEN), readers
 * hand the daemon their hint areas (HINTS).  One way to send one, one way
 * to take what arrived, for the library, the daemon and the tests.
 */
#ifndef SHMC_FDPASS_H
#define SHMC_FDPASS_H

#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

/* Send n bytes of buf on sock with descriptor fd riding on them.  Returns
 * as sendmsg(2), with MSG_NOSIGNAL. */
static inline ssize_t
fdpass_send(int sock, const void *buf, size_t n, int fd)
{
    char cbuf[CMSG_SPACE(sizeof(int))];
    struct iovec iov = {(void *)buf, n};
    struct msghdr mh;
    struct cmsghdr *cm;

    memset(&mh, 0, sizeof(mh));
    memset(cbuf, 0, sizeof(cbuf));
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = cbuf;
    mh.msg_controllen = sizeof(cbuf);
    cm = CMSG_FIRSTHDR(&mh);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &fd, sizeof(int));
    return sendmsg(sock, &mh, MSG_NOSIGNAL);
}

/* Take the descriptors a recvmsg(2) into mh received: the first into
 * *keep if keep is not NULL and *keep is -1, every other one closed at
 * once (a peer cannot park descriptors with us). */
static inline void
fdpass_take(struct msghdr *mh, int *keep)
{
    struct cmsghdr *cm;
    size_t i, nfd;
    int fd;

    for (cm = CMSG_FIRSTHDR(mh); cm != NULL; cm = CMSG_NXTHDR(mh, cm)) {
        if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
            continue;
        nfd = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (i = 0; i < nfd; i++) {
            memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
            if (keep != NULL && *keep < 0)
                *keep = fd;
            else
                close(fd);
        }
    }
}

#endif /* SHMC_FDPASS_H */

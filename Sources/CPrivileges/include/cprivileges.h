#ifndef PEERWATCH_CPRIVILEGES_H
#define PEERWATCH_CPRIVILEGES_H

#include <stdint.h>
#include <sys/types.h>

/// The step of `pw_drop_privileges` that failed (with errno set).
enum pw_drop_step {
    PW_DROP_OK = 0,
    PW_DROP_BOUNDING = 1,
    PW_DROP_KEEPCAPS = 2,
    PW_DROP_GROUPS = 3,
    PW_DROP_GID = 4,
    PW_DROP_UID = 5,
    PW_DROP_CAPSET = 6,
    PW_DROP_AMBIENT = 7,
    PW_DROP_NO_NEW_PRIVS = 8,
};

/// Becomes `user` as `uid`/`gid` (real, effective and saved; supplementary groups: gid and the
/// groups the group database lists for `user`, so that a socket group it belongs to works), keeping
/// exactly the capabilities in `keep` (bit n = capability n) permitted and effective, none
/// inheritable or ambient, and the rest dropped from the bounding set. Must be called as root.
/// Returns PW_DROP_OK or the failed step, with errno set. prctl and the capset system call are
/// variadic or raw in C, which Swift cannot call directly; hence this shim.
int pw_drop_privileges(const char *user, uid_t uid, gid_t gid, uint64_t keep);

#endif

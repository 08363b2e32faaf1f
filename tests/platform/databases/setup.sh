#!/bin/sh
# Prepare what the database tests need; idempotent, safe to run before every CI run.
#   - btrfs-progs, pgbouncer, acl, mariadb client (Debian packages)
#   - a btrfs filesystem in a loop file mounted at $CODEFORGE_TEST_BTRFS (default
#     /var/tmp/codeforge-btrfs), for the copy-on-write branch tests
#   - an XFS filesystem made with reflink=1 in a loop file at $CODEFORGE_TEST_XFS (default
#     /var/tmp/codeforge-xfs), for the reflink branch tests
#   - the `codeforge` system user that runs PostgreSQL and PgBouncer when tests run as root
# Without root it does nothing and the tests that need these skip with their reason.
set -eu
MNT="${CODEFORGE_TEST_BTRFS:-/var/tmp/codeforge-btrfs}"
IMG="${CODEFORGE_TEST_BTRFS_IMAGE:-/var/tmp/codeforge-btrfs.img}"
SIZE="${CODEFORGE_TEST_BTRFS_SIZE:-8G}"
XMNT="${CODEFORGE_TEST_XFS:-/var/tmp/codeforge-xfs}"
XIMG="${CODEFORGE_TEST_XFS_IMAGE:-/var/tmp/codeforge-xfs.img}"

if [ "$(id -u)" != 0 ]; then
    echo "setup: not root; skipping (tests needing btrfs/pgbouncer will skip)" >&2
    exit 0
fi

missing=""
command -v mkfs.btrfs >/dev/null 2>&1 || missing="$missing btrfs-progs"
[ -x /usr/sbin/pgbouncer ] || command -v pgbouncer >/dev/null 2>&1 || missing="$missing pgbouncer"
command -v setfacl >/dev/null 2>&1 || missing="$missing acl"
command -v mkfs.xfs >/dev/null 2>&1 || missing="$missing xfsprogs"
command -v mariadb-dump >/dev/null 2>&1 || command -v mysqldump >/dev/null 2>&1 || missing="$missing mariadb-client"
if [ -n "$missing" ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y $missing >/dev/null 2>&1 \
        || { apt-get update >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y $missing >/dev/null 2>&1; } \
        || echo "setup: could not install$missing" >&2
fi

id codeforge >/dev/null 2>&1 || useradd --system --user-group --no-create-home --home-dir /nonexistent \
    --shell /usr/sbin/nologin codeforge || true

if ! mountpoint -q "$MNT" 2>/dev/null; then
    mkdir -p "$MNT"
    if [ ! -f "$IMG" ]; then
        truncate -s "$SIZE" "$IMG"
        mkfs.btrfs -q "$IMG" >/dev/null 2>&1 || { echo "setup: mkfs.btrfs failed" >&2; rm -f "$IMG"; exit 0; }
    fi
    mount -o loop "$IMG" "$MNT" || { echo "setup: could not mount a btrfs loop file" >&2; exit 0; }
fi
chmod 0755 "$MNT"
echo "setup: btrfs at $MNT"

if ! mountpoint -q "$XMNT" 2>/dev/null; then
    mkdir -p "$XMNT"
    if [ ! -f "$XIMG" ]; then
        truncate -s 2G "$XIMG"
        mkfs.xfs -q -m reflink=1 "$XIMG" >/dev/null 2>&1 || { echo "setup: mkfs.xfs failed" >&2; rm -f "$XIMG"; exit 0; }
    fi
    mount -o loop "$XIMG" "$XMNT" || { echo "setup: could not mount an XFS loop file" >&2; exit 0; }
fi
chmod 0755 "$XMNT"
echo "setup: xfs (reflink) at $XMNT"

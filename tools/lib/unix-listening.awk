# Exit 0 if the unix socket at `path` listens, read from /proc/net/unix:
#   awk -v path=/run/pcscd/pcscd.comm -f tools/lib/unix-listening.awk /proc/net/unix
# A listening socket has the flag __SO_ACCEPTCON (Flags 00010000, the only flag
# the kernel prints); its file alone is not enough (it exists from bind(),
# before listen(), and a client connecting in between is refused). Columns:
# Num RefCount Protocol Flags Type St Inode Path. Reading the table starts
# nothing (a socket-activated daemon stays asleep).
NR > 1 && $4 == "00010000" && $8 == path { found = 1 }
END { exit !found }

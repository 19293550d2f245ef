mount --bind "$HOSTS" /etc/hosts || exit 1
rm -f $FUSEBOX_STATE
export LD_PRELOAD=/work/wt-hard/build/libfusebox.so
for i in 1 2; do perl /tmp/exp/perlget.pl $P; /work/wt-hard/build/fusebox status | grep ^dual; done
strace -e trace=socket,connect,getsockopt,close,dup2,dup3 perl /tmp/exp/perlget.pl $P 2>&1 | grep -v ENOENT | tail -12

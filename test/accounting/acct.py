# Turns the kernel's BSD process accounting on (into FILE) or off, via acct(2): one 64-byte v3
# record per process that exits in this pid namespace (pid, parent, CPU, command name), everyone's,
# not only a test run's (kinds.py keeps the run's tree). Root only. Global state: turn it off after.
#   python3 test/accounting/acct.py on /tmp/NAME.acct | off
import ctypes, sys, os
libc = ctypes.CDLL(None, use_errno=True)
if sys.argv[1] == 'on':
    open(sys.argv[2], 'ab').close()
    r = libc.acct(sys.argv[2].encode())
else:
    r = libc.acct(None)
if r != 0: raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))

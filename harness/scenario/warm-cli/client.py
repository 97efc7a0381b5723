"""
The client half of escher-harness's warm aws CLI (server.py): what the run's `aws` wrapper
execs for each call,

    <python> -I -S client.py SOCKET REAL_AWS ARG...

It hands the call to the run's warm server (argv, environment, umask, ignored signals, fds 0-2
and the working directory, over a Unix socket), relays the signals it gets to the call, and
exits as the call did (its exit code, or the signal that ended it). When the server is not
there, does not answer, or says the call must run cold, it execs REAL_AWS ARG... itself, so a
call never fails because of the warm path.

Why a Python client started with -I -S, importing only built-in C modules (_socket, _signal,
posix): passing file descriptors needs SCM_RIGHTS, which Node cannot send (and Node starts in
~40 ms), and bash/socat cannot pass descriptors at all (proxying stdio instead would change
what the CLI sees: isatty, EOF, ordering). No compiled helper is built. This starts in about
10-15 ms on an idle machine, next to 300-800 ms for the CLI itself.
"""
import os
import sys
import _signal
import _socket

SOCK, REAL = sys.argv[1], sys.argv[2]
ARGS = sys.argv[3:]
pending = []
relay = []


def cold():
    """Runs the call with the cold CLI, as the wrapper would have; a signal that came meanwhile ends us."""
    for sig in pending:
        if sig in ENDING:
            _signal.signal(sig, _signal.SIG_DFL)
            os.kill(os.getpid(), sig)
    os.execv(REAL, [REAL] + ARGS)


def on_signal(sig, frame):
    if relay:
        try:
            relay[0].send(bytes([RELAYED[sig]]))
        except OSError:
            pass
    else:
        pending.append(sig)
    if sig == _signal.SIGTSTP:
        os.kill(os.getpid(), _signal.SIGSTOP)  # Ctrl-Z stops us too (the call gets SIGSTOP)


# the signals that end or stop a process by default are relayed to the call; ignored ones stay
# ignored (the server gives the call the same: e.g. SIGINT of a background job)
RELAYED = {
    _signal.SIGINT: _signal.SIGINT, _signal.SIGTERM: _signal.SIGTERM, _signal.SIGHUP: _signal.SIGHUP,
    _signal.SIGQUIT: _signal.SIGQUIT, _signal.SIGUSR1: _signal.SIGUSR1, _signal.SIGUSR2: _signal.SIGUSR2,
    _signal.SIGALRM: _signal.SIGALRM, _signal.SIGTSTP: _signal.SIGSTOP, _signal.SIGCONT: _signal.SIGCONT,
    _signal.SIGWINCH: _signal.SIGWINCH,
}
ENDING = (_signal.SIGINT, _signal.SIGTERM, _signal.SIGHUP, _signal.SIGQUIT, _signal.SIGUSR1, _signal.SIGUSR2, _signal.SIGALRM)
ignored = []
for sig in range(1, _signal.NSIG):
    try:
        if _signal.getsignal(sig) == _signal.SIG_IGN and sig not in (_signal.SIGPIPE, _signal.SIGXFSZ):
            ignored.append(sig)
    except (OSError, ValueError):
        pass
for sig in RELAYED:
    if sig not in ignored:
        _signal.signal(sig, on_signal)

try:
    for fd in (0, 1, 2):
        os.fstat(fd)
    cwd = os.open('.', os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    conn = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    conn.settimeout(10)
    conn.connect(SOCK)
except OSError:
    cold()

umask = os.umask(0)
os.umask(umask)
argv = [os.fsencode(a) for a in [REAL] + ARGS]
env = [k + b'=' + v for k, v in os.environb.items()]
body = b'\0'.join([b'%d' % umask, b','.join(b'%d' % s for s in ignored), b'%d' % len(argv)] + argv + env)
msg = b'EHW1' + len(body).to_bytes(4, 'big') + body
fds = (0).to_bytes(4, sys.byteorder) + (1).to_bytes(4, sys.byteorder) + (2).to_bytes(4, sys.byteorder) + cwd.to_bytes(4, sys.byteorder)


def read_line():
    line = b''
    while not line.endswith(b'\n'):
        chunk = conn.recv(64)
        if not chunk:
            return line
        line += chunk
    return line


try:
    sent = conn.sendmsg([msg[:65536]], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, fds)])
    conn.sendall(msg[sent:])
    answer = read_line()
    if answer != b'A\n':
        raise OSError('run cold')  # C, or nothing: nothing was run
    conn.sendall(b'G')
except OSError:
    conn.close()
    cold()
os.close(cwd)

# committed: the call runs in the server now
conn.settimeout(None)
relay.append(conn)
for sig in pending:
    on_signal(sig, None)
pending.clear()
try:
    status = read_line()
except OSError:
    status = b''
if status.startswith(b'E'):
    os._exit(int(status[1:]))
if status.startswith(b'K'):
    sig = int(status[1:])
    _signal.signal(sig, _signal.SIG_DFL)
    os.kill(os.getpid(), sig)
    os._exit(128 + sig)
os.write(2, b'aws: the escher-harness warm CLI server ended this call without an exit status (was the harness stopped?)\n')
os._exit(255)

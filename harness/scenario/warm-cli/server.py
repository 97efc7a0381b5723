"""
The warm aws CLI of an escher-harness run: a resident process that has imported the CLI once
and runs each `aws` call of the deploy scripts in a fork of itself.

    <the CLI's own python> server.py --socket PATH --cli /path/to/bin/aws [--services ecs,ec2,...]

Started by the harness (harness/scenario/warm-cli.ts) with the scripts' environment, after the
scaled waiters are written; prints `ready <pid>` on stdout once it listens. The run's `aws`
wrapper hands each call to it through client.py.

Per connection (one `aws` call):
  server      accepts and hands the connection (its fd, SCM_RIGHTS) to a ready spare, or, when
              none is ready (two calls at once, a spare still pre-faulting), forks a supervisor
              for it; goes back to accept (it never reads a request), forking a new spare;
  spare       a supervisor the server forked ahead of time, with its worker forked at once: the
              worker pre-faults its private writable memory (madvise MADV_POPULATE_WRITE over
              /proc/self/maps' private writable mappings, from a thread at nice 19; one byte per
              page read and written back where the kernel lacks it), so the call does not pay the
              copy-on-write faults of a fresh fork (30-50 us a page in a micro-VM: 0.5-1 s for the
              warm heap), then says R and waits for its job;
  supervisor  receives the caller's argv, environment, umask, ignored signals and its fds 0-2 and
              working directory (SCM_RIGHTS), answers C (run it cold: nothing was done) or A;
              after the client's G it starts the worker (a spare's: the request and fds passed
              over a socketpair; or forked now), forwards the signals the client relays (to the
              worker's process group), kills it when the client goes away, and sends back the
              worker's wait status (E<code> or K<signal>): it is the worker's parent either way;
  worker      becomes the call: its own process group, fds 0-2 and cwd the caller's, os.environ
              the caller's, the caller's umask and ignored signals, fresh sys.std* built the way
              CPython builds them at start-up, then the CLI's own entry script runs as __main__
              and the interpreter exits the way a cold `aws` exits (flushes, exit code, signals).
HARNESS_WARM_SPARES in the server's environment: spares kept ready (default 1; 0: every worker is
forked on demand). A spare's supervisor ends with the server (its socket closes), its worker with
its supervisor (PR_SET_PDEATHSIG).

What is shared between calls, and only that: imported modules (and the `re` cache), and a botocore
Loader (the object that reads the JSON models from disk) filled by one rehearsal of the CLI's own
calls for the emulated services. A call whose data path differs gets a fresh Loader, as does any
second session within one call. Sessions, credentials, region, profile, config files, clients and
plugins are created by each call from its own environment, exactly as a cold `aws` does.
A call the server cannot run identically (other Python or locale settings than the server's, an
interactive command, a terminal the worker has no control of) is answered C and runs cold.
"""

import os
import sys
import time

_HERE = os.path.abspath(__file__)


def _parse_args(argv):
    opts = {'services': ''}
    it = iter(argv)
    for a in it:
        if a in ('--socket', '--cli', '--services'):
            opts[a[2:]] = next(it)
        else:
            raise SystemExit('warm aws server: unknown argument %r' % a)
    if 'socket' not in opts or 'cli' not in opts:
        raise SystemExit('warm aws server: --socket and --cli are required')
    return opts


# ---------------------------------------------------------------- what a call must match

# CPython reads these at start-up (stdio encoding and buffering, hash seed, paths, UTF-8 mode,
# locale coercion): a call whose values differ from the server's runs cold.
def _interpreter_settings(environ):
    keys = [k for k in environ if k.startswith(b'PYTHON')] + [b'LC_ALL', b'LC_CTYPE', b'LANG']
    return {k: environ.get(k) for k in sorted(set(keys))}


# Commands that talk to a person (prompts, pagers, man pages) run cold: the worker has no
# controlling terminal.
_INTERACTIVE = {'help', 'configure', 'history', 'sso', 'login', 'logout'}


# global options that take a value (so the words after them are not the command)
_VALUED = {'--endpoint-url', '--region', '--profile', '--output', '--query', '--ca-bundle', '--color',
           '--cli-read-timeout', '--cli-connect-timeout', '--cli-binary-format'}


def _command(args):
    """`ecs describe-services`: the service and operation, for the log (never option values)."""
    words, skip = [], False
    for a in args:
        if skip:
            skip = False
        elif a in _VALUED:
            skip = True
        elif not a.startswith('-'):
            words.append(a)
            if len(words) == 2:
                break
    return ' '.join(w if all(c.isalnum() or c == '-' for c in w) else '?' for w in words)


def _cold_reason(args, environ, fds, major):
    """Why this call must run cold, or None."""
    if _interpreter_settings(environ) != SERVER_INTERPRETER_SETTINGS:
        return 'python/locale settings differ from the server'
    words = [a for a in args if not a.startswith('-')]
    if not args or '--version' in args or any(w in _INTERACTIVE for w in words[:3]) or (args and args[-1] == 'help'):
        return 'interactive or informational command'
    if '--debug' in args:
        return 'debug output (the warm state leaves out debug lines of work done once)'
    if '--cli-auto-prompt' in args or environ.get(b'AWS_CLI_AUTO_PROMPT', b'') not in (b'', b'off'):
        return 'auto-prompt'
    if major == 2 and os.isatty(fds[1]) and environ.get(b'AWS_PAGER', None) != b'' and b'--no-cli-pager' not in [os.fsencode(a) for a in args]:
        return 'v2 pager on a terminal'
    return None


# ---------------------------------------------------------------- the warm state

def _awscli_data_path(awscli_data_dir):
    """What `import awscli` sets AWS_DATA_PATH to, from the current os.environ (mirrors
    awscli/__init__.py of v1 and v2; checked against the real import at start-up)."""
    parts = []
    if 'AWS_DATA_PATH' in os.environ:
        for p in os.environ['AWS_DATA_PATH'].split(os.pathsep):
            parts.append(os.path.expanduser(os.path.expandvars(p)))
    parts.append(awscli_data_dir)
    return os.pathsep.join(parts)


_LOADER_METHODS = ('list_available_services', 'determine_latest_version', 'list_api_versions',
                   'load_service_model', 'load_data_with_path', 'load_data')


class _Watch:
    """Watches the shared Loader while a rehearsal step fills it: each outermost Loader call,
    the cache entries it added, and each new dict or list they hold as it was right after that
    call (JSON text; an object held by several entries once). Code outside the Loader may change
    loaded data in place (botocore's endpoint resolver completes the entries of endpoints.json it
    resolves): the entries of such a call are loaded again by a fresh Loader, so each `aws` call
    starts from exactly what a cold `aws` would read from disk."""

    def __init__(self, loader, json_mod):
        self.loader, self.json, self.depth, self.groups, self.objects = loader, json_mod, 0, [], {}
        self.known = set(loader._cache)
        for name in _LOADER_METHODS:
            setattr(loader, name, self._watch(name, getattr(loader, name)))

    def _dump(self, value):
        try:
            return self.json.dumps(value, check_circular=False)
        except (TypeError, ValueError):
            return None

    @staticmethod
    def _parts(value):
        return [v for v in (value if isinstance(value, tuple) else (value,)) if isinstance(v, (dict, list))]

    def _watch(self, name, method):
        def watched(*args, **kwargs):
            self.depth += 1
            try:
                return method(*args, **kwargs)
            finally:
                self.depth -= 1
                if self.depth == 0:
                    cache = self.loader._cache
                    new = [k for k in cache if k not in self.known]
                    if new:
                        self.known.update(new)
                        group = len(self.groups)
                        self.groups.append((name, args, kwargs, new))
                        for k in new:
                            for obj in self._parts(cache[k]):
                                if id(obj) not in self.objects:
                                    self.objects[id(obj)] = (obj, self._dump(obj), group)
        return watched

    def end(self, create_fresh_loader, path):
        """Stops watching; reloads what was changed after loading."""
        loader = self.loader
        for name in _LOADER_METHODS:
            delattr(loader, name)
        changed = sorted({g for obj, dump, g in self.objects.values() if dump is None or self._dump(obj) != dump})
        for g in changed:
            name, args, kwargs, keys = self.groups[g]
            fresh = create_fresh_loader(path)
            getattr(fresh, name)(*args, **kwargs)
            for k in keys:
                if k in fresh._cache:
                    loader._cache[k] = fresh._cache[k]
                else:
                    del loader._cache[k]  # not reproducible: each call loads it itself
                    _log('rehearsal: %r is not shared' % (k[:3],))


def _share_kwargs_checks(hooks_mod):
    """botocore checks every handler a session registers (hundreds per call) with
    inspect.getfullargspec(handler).varkw; the answer depends on the function alone, so it is
    computed once per function and shared (bound methods: per underlying function)."""
    import types
    original = getattr(hooks_mod, 'accepts_kwargs', None)
    if original is None:
        return
    known = {}

    def accepts_kwargs(func):
        key = func.__func__ if isinstance(func, types.MethodType) else func
        if not isinstance(key, types.FunctionType):
            return original(func)
        try:
            return known[key]
        except KeyError:
            answer = known[key] = original(func)
            return answer

    hooks_mod.accepts_kwargs = accepts_kwargs


def _share_event_aliases(hooks_mod):
    """Each session's EventAliaser rewrites every event name it sees through botocore's
    EVENT_ALIASES table (a constant), remembering the answers per session; they are remembered
    per server instead. The only other effect of that rewriting is a debug log line, and calls
    with --debug run cold."""
    aliaser = getattr(hooks_mod, 'EventAliaser', None)
    table = getattr(hooks_mod, 'EVENT_ALIASES', None)
    if aliaser is None or table is None:
        return  # (v2's botocore has no aliaser)
    original = aliaser._alias_event_name
    known = {}

    def _alias_event_name(self, event_name):
        if self._event_aliases is not table:
            return original(self, event_name)
        try:
            return known[event_name]
        except KeyError:
            answer = known[event_name] = original(self, event_name)
            return answer

    aliaser._alias_event_name = _alias_event_name


class _Warm:
    """The warm state: the CLI imported, one rehearsal session of it, and the shared Loader.

    The rehearsal runs the CLI's own code up to (not including) a request: the driver, its
    command table and top-level arguments, then per emulated service its commands, a client,
    its waiters and paginators. Only the Loader (the models read from disk) is kept for calls;
    the rehearsal's session and clients are never handed to a call."""

    def __init__(self, services):
        import json
        self.json = json
        environ_before = dict(os.environ)
        import awscli
        import awscli.clidriver
        import botocore.hooks
        import botocore.session
        self.version = awscli.__version__

        awscli_data_dir = os.path.join(os.path.dirname(os.path.abspath(awscli.__file__)), 'data')
        saved = os.environ.get('AWS_DATA_PATH')
        os.environ.clear()
        os.environ.update(environ_before)
        mirrored = _awscli_data_path(awscli_data_dir)
        if saved is not None:
            os.environ['AWS_DATA_PATH'] = saved
        if mirrored != saved:
            raise RuntimeError('awscli set AWS_DATA_PATH to %r, the server computes %r: this CLI is not one the server knows' % (saved, mirrored))

        _share_kwargs_checks(botocore.hooks)
        _share_event_aliases(botocore.hooks)

        self.path, self.loader, self.handed_out, self.rehearsing = None, None, False, True
        self.original_create_loader = botocore.session.create_loader
        botocore.session.create_loader = self._create_loader

        self.watch = None
        self.driver = awscli.clidriver.create_clidriver()
        self.session = self.driver.session
        self.session.get_component('data_loader')
        if self.loader is None:
            raise RuntimeError('the CLI session did not create its Loader through botocore.session.create_loader')
        self.table = {}
        self.watch = _Watch(self.loader, json)
        self._attempt('command table', lambda: self.table.update(self.driver._get_command_table()))
        self._attempt('top-level arguments', self.driver._get_argument_table)
        available = set(self.session.get_available_services())
        self.watch.end(self.original_create_loader, self.path)
        self.watch = None
        self.rehearsing = False
        self.pending = [svc for svc in services if svc in available]

    def _create_loader(self, search_path_string=None):
        if self.rehearsing and self.loader is None:
            # the rehearsal session's Loader: the one calls will share
            self.path = search_path_string
            self.loader = self.original_create_loader(search_path_string)
            return self.loader
        # a call: the warm Loader once (one session's worth), for the data path it was filled with
        if not self.rehearsing and not self.handed_out and self.loader is not None and search_path_string == self.path:
            self.handed_out = True
            return self.loader
        return self.original_create_loader(search_path_string)

    def _attempt(self, what, fn, quiet=()):
        try:
            fn()
        except Exception as e:  # a changed private API, a service without waiters: less warm, still right
            if type(e).__name__ not in quiet:
                _log('rehearsal: %s: %s: %s' % (what, type(e).__name__, str(e)[:200]))

    def step(self):
        """Rehearses the next service; False when there is none left."""
        if not self.pending:
            return False
        svc = self.pending.pop(0)
        self.rehearsing = True
        self.watch = _Watch(self.loader, self.json)
        try:
            if svc in self.table:
                self._attempt(svc + ' commands', self.table[svc]._get_command_table)
            self._attempt(svc + ' client', lambda: self.session.create_client(
                svc, region_name='us-east-1', endpoint_url='http://127.0.0.1:9',
                aws_access_key_id='AKIAWARMUP', aws_secret_access_key='warm-up-not-a-key'))
            missing = ('UnknownServiceError', 'DataNotFoundError')
            self._attempt(svc + ' waiters', lambda: self.session.get_waiter_model(svc), quiet=missing)
            self._attempt(svc + ' paginators', lambda: self.session.get_paginator_model(svc), quiet=missing)
        finally:
            # nothing the rehearsal did may change what a cold call would load
            self.watch.end(self.original_create_loader, self.path)
            self.watch = None
            self.rehearsing = False
        if not self.pending:
            self.driver = self.session = self.table = None
        return True


# ---------------------------------------------------------------- wire format

def _recv_request(conn, socket_mod):
    """b'EHW1' + length + body; the fds ride with the first bytes."""
    fds = []
    data = b''
    need = 8
    while len(data) < need:
        chunk, got, _flags, _addr = socket_mod.recv_fds(conn, 65536, 8)
        if not chunk:
            raise EOFError('client went away')
        fds.extend(got)
        data += chunk
        if len(data) >= 8 and need == 8:
            if data[:4] != b'EHW1':
                raise ValueError('not a warm aws request')
            need = 8 + int.from_bytes(data[4:8], 'big')
    body = data[8:need]
    f = body.split(b'\0')
    umask, ignored, argc = int(f[0]), [int(x) for x in f[1].split(b',') if x], int(f[2])
    argv = f[3:3 + argc]
    env = f[3 + argc:]
    return {'umask': umask, 'ignored': ignored, 'argv': argv, 'env': env}, fds


def _environ_from(entries):
    """As CPython builds os.environ at start-up: split at the first '=', first occurrence wins."""
    env = {}
    for e in entries:
        k, sep, v = e.partition(b'=')
        if sep:
            env.setdefault(k, v)
    return env


# ---------------------------------------------------------------- server, supervisor, worker

def _spares_wanted():
    """HARNESS_WARM_SPARES in the server's environment: how many spares to keep (default 1, 0: none)."""
    try:
        return max(0, min(4, int(os.environ.get('HARNESS_WARM_SPARES', '1'))))
    except ValueError:
        return 1


def serve(opts, warm):
    """Runs the server loop; returns only in a worker, with the call to run."""
    import select
    import signal
    import socket

    path = opts['socket']
    tmp = '%s.%d.tmp' % (path, os.getpid())
    lsock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        os.unlink(tmp)
    except FileNotFoundError:
        pass
    lsock.bind(tmp)
    os.chmod(tmp, 0o600)
    lsock.listen(128)
    os.rename(tmp, path)
    parent = os.getppid()
    sys.stdout.write('ready %d\n' % os.getpid())
    sys.stdout.flush()
    os.dup2(2, 1)  # nothing more goes to the harness's pipe

    wanted = _spares_wanted()
    spares = {}  # the server's end of each spare supervisor's socket -> {'pid', 'ready'}
    failures = 0

    while True:
        while len(spares) < wanted and failures < 3:
            # a spare: a supervisor with a worker that pre-faults its memory, then waits for a call
            theirs, ours = socket.socketpair()
            pid = os.fork()
            if pid == 0:
                lsock.close()
                ours.close()
                for other in spares:
                    other.close()
                try:
                    job = _spare(theirs, warm, socket, signal, select)
                except BaseException as e:
                    _log('spare: %s: %s' % (type(e).__name__, e))
                    os._exit(1)
                if job is None:
                    os._exit(0)
                return job
            theirs.close()
            spares[ours] = {'pid': pid, 'ready': False}
        try:
            readable, _, _ = select.select([lsock] + list(spares), [], [], 1.0)
        except InterruptedError:
            readable = []
        _reap()
        if os.getppid() != parent:
            _log('the harness process is gone: exiting')
            try:
                os.unlink(path)
            except OSError:
                pass
            os._exit(0)  # (the spares see their socket close and end with their workers)
        for s in readable:
            if s in spares:
                data = b''
                try:
                    data = s.recv(64)
                except OSError:
                    pass
                if data:
                    spares[s]['ready'] = True
                else:
                    _log('a spare ended before it was used')
                    failures += 1
                    del spares[s]
                    s.close()
        if lsock not in readable:
            continue
        try:
            conn, _ = lsock.accept()
        except OSError:
            continue
        spare = next((s for s, v in spares.items() if v['ready']), None)
        if spare is not None:
            # the spare's supervisor takes the connection; a new spare is forked at the top of the loop
            try:
                socket.send_fds(spare, [b'J'], [conn.fileno()])
                handed = True
            except OSError:
                handed = False
            del spares[spare]
            spare.close()
            if handed:
                conn.close()
                continue
        pid = os.fork()
        if pid == 0:
            lsock.close()
            for s in spares:
                s.close()
            try:
                job = _supervise(conn, warm, socket, signal, select, None)
            except BaseException as e:  # the supervisor never lets an exception escape into the server loop
                _log('supervisor: %s: %s' % (type(e).__name__, e))
                os._exit(1)
            if job is None:
                os._exit(0)
            return job
        conn.close()


def _reap():
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _log(msg):
    try:
        os.write(2, ('warm aws server %d: %s\n' % (os.getpid(), msg)).encode('utf-8', 'replace'))
    except OSError:
        pass


def _spare(server, warm, socket, signal, select):
    """A spare supervisor (a child of the server): forks its worker, which pre-faults its memory
    and tells it so (R, passed on to the server); then waits for the connection of a call (J
    with its fd) and supervises it as _supervise does, the call running in the pre-faulted
    worker. Returns the job in the worker, None in the supervisor when done."""
    ours, theirs = socket.socketpair()
    supervisor = os.getpid()
    pid = os.fork()
    if pid == 0:
        server.close()
        ours.close()
        _worker_setup(supervisor)
        return _spare_worker(theirs, socket)
    theirs.close()
    try:
        os.setpgid(pid, pid)
    except OSError:
        pass
    conn = None
    while conn is None:
        readable, _, _ = select.select([server, ours], [], [])
        if ours in readable:
            data = ours.recv(64)
            if not data:
                os._exit(1)  # the worker died (the server sees our socket close)
            server.sendall(data)
        if server in readable:
            msg, fds, _flags, _addr = socket.recv_fds(server, 16, 1)
            if not msg or not fds:
                _killpg(pid, signal.SIGKILL)  # the server is gone: so is its spare
                os._exit(0)
            conn = socket.socket(fileno=fds[0])
    server.close()

    def start(req, fds):
        import marshal
        body = marshal.dumps(req)
        msg = len(body).to_bytes(8, 'big') + body
        sent = socket.send_fds(ours, [msg[:65536]], fds)
        if sent < len(msg):
            ours.sendall(msg[sent:])
        return pid

    job = _supervise(conn, warm, socket, signal, select, start)
    if job is None:
        # a call that ran cold, or a client that went away before it said go: the spare is not used
        _killpg(pid, signal.SIGKILL)
        try:
            os.waitpid(pid, 0)
        except OSError:
            pass
    return job


def _spare_worker(sock, socket):
    """In a spare's worker: pre-fault, say R, wait for the job (None: the supervisor is gone)."""
    t0, c0 = time.monotonic(), time.process_time()
    faulted, how = _prefault()
    _log('spare ready: %d MB pre-faulted (%s) in %.2f s, cpu %.2f s' % (faulted >> 20, how, time.monotonic() - t0, time.process_time() - c0))
    sock.sendall(b'R')
    import marshal
    data, fds = b'', []
    need = 8
    while len(data) < need:
        chunk, got, _flags, _addr = socket.recv_fds(sock, 65536, 4)
        if not chunk:
            os._exit(0)
        fds.extend(got)
        data += chunk
        if need == 8 and len(data) >= 8:
            need = 8 + int.from_bytes(data[:8], 'big')
    sock.close()
    req = marshal.loads(data[8:need])
    return {'req': req, 'fds': fds, 'spare': True}


_MADV_POPULATE_WRITE = 23


def _private_writable_ranges():
    ranges = []
    with open('/proc/self/maps', 'rb') as f:
        for line in f:
            parts = line.split()
            perms = parts[1]
            if perms[1:2] != b'w' or perms[3:4] != b'p':
                continue
            name = parts[5] if len(parts) > 5 else b''
            if name in (b'[vvar]', b'[vdso]', b'[vsyscall]'):
                continue
            lo, hi = (int(x, 16) for x in parts[0].split(b'-'))
            ranges.append((lo, hi))
    return ranges


def _prefault():
    """Breaks copy-on-write of every private writable mapping (heap, anonymous memory, the
    interpreter's and libraries' data) before a call needs it: madvise(MADV_POPULATE_WRITE)
    from a helper thread at the lowest priority (it leaves contents as they are, and the
    call's CPU time is not taken by it), or, where the kernel has no such advice, by reading
    and writing back one byte per page (in this thread: nothing else runs meanwhile).
    Returns (bytes covered, how)."""
    import ctypes
    import _thread
    libc = ctypes.CDLL(None, use_errno=True)
    madvise = libc.madvise
    madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    madvise.restype = ctypes.c_int
    ranges = _private_writable_ranges()
    total = sum(hi - lo for lo, hi in ranges)
    result = {'einval': False}
    done = _thread.allocate_lock()
    done.acquire()

    def populate():
        try:
            try:
                os.setpriority(os.PRIO_PROCESS, _thread.get_native_id(), 19)
            except (OSError, AttributeError):
                pass
            for lo, hi in ranges:
                if madvise(lo, hi - lo, _MADV_POPULATE_WRITE) != 0 and ctypes.get_errno() == 22:
                    result['einval'] = True  # EINVAL: a kernel without the advice
                    return
        finally:
            done.release()

    _thread.start_new_thread(populate, ())
    done.acquire()
    if not result['einval']:
        return total, 'madvise'
    page = os.sysconf('SC_PAGE_SIZE')
    for lo, hi in _private_writable_ranges():
        for a in range(lo, hi, page):
            b = ctypes.c_char.from_address(a)
            b.value = b.value
    return total, 'touch'


def _supervise(conn, warm, socket, signal, select, start):
    """One call: returns the job in the worker, None in the supervisor when done. `start`
    (req, fds) hands an admitted call to a spare's worker and returns its pid; None: fork one."""
    conn.settimeout(30)
    req, fds = _recv_request(conn, socket)
    started = time.monotonic()
    pid = _start_worker(conn, req, fds, start)
    if pid == 0:
        conn.close()
        return {'req': req, 'fds': fds, 'warm': warm}
    for fd in fds:
        os.close(fd)
    if pid is None:
        return None
    try:
        os.setpgid(pid, pid)
    except OSError:
        pass  # the worker did it first, or is gone already
    try:
        waitable = os.pidfd_open(pid)
    except (AttributeError, OSError):
        waitable = None
    status = None
    client_gone = False
    while status is None:
        watch = [] if client_gone else [conn]
        if waitable is not None:
            watch.append(waitable)
        try:
            readable, _, _ = select.select(watch, [], [], None if waitable is not None else 0.05)
        except InterruptedError:
            readable = []
        if conn in readable:
            data = b''
            try:
                data = conn.recv(64)
            except OSError:
                pass
            if not data:
                # the caller is gone (killed): so is its call, as a cold `aws` would be
                client_gone = True
                _killpg(pid, signal.SIGKILL)
            for sig in data:
                _killpg(pid, sig)
        if waitable is None or waitable in readable:
            got, st = os.waitpid(pid, 0 if waitable is not None else os.WNOHANG)
            if got == pid:
                status = st
    code = os.waitstatus_to_exitcode(status)
    _log('warm, %s in %.2f s%s: %s' % ('exit %d' % code if code >= 0 else 'signal %d' % -code, time.monotonic() - started, ', spare' if start else '', req['command']))
    if not client_gone:
        try:
            conn.sendall(b'E%d\n' % code if code >= 0 else b'K%d\n' % -code)
        except OSError:
            pass
    return None


def _start_worker(conn, req, fds, start):
    """Answers C (cold) or A, waits for the client's G and starts the worker (a spare's, or
    forked now): the worker's pid, 0 in a forked worker, None when the call is not run here."""
    if len(fds) != 4:
        raise ValueError('expected 4 fds, got %d' % len(fds))
    req['env'] = _environ_from(req['env'])
    args = [os.fsdecode(a) for a in req['argv'][1:]]
    req['command'] = _command(args)
    reason = _cold_reason(args, req['env'], fds, MAJOR)
    if reason:
        _log('cold (%s): %s' % (reason, _command(args)))
        conn.sendall(b'C\n')
        return None
    conn.sendall(b'A\n')
    if conn.recv(1) != b'G':
        return None  # the client gave up waiting and runs the call cold
    conn.settimeout(None)
    if start is not None:
        return start(req, fds)
    supervisor = os.getpid()
    pid = os.fork()
    if pid == 0:
        _worker_setup(supervisor)
    return pid


def _worker_setup(supervisor):
    os.setpgid(0, 0)
    # the worker dies with its supervisor (which dies with the server's process group)
    if _PRCTL is not None:
        _PRCTL(1, 9)  # PR_SET_PDEATHSIG, SIGKILL
    if os.getppid() != supervisor:
        os._exit(137)


def _load_prctl():
    try:
        import ctypes
        return ctypes.CDLL(None, use_errno=True).prctl
    except (ImportError, OSError, AttributeError):
        return None


def _killpg(pid, sig):
    try:
        os.killpg(pid, sig)
    except OSError:
        try:
            os.kill(pid, sig)
        except OSError:
            pass


def _become_the_call(job):
    """In the worker: take on the caller's fds, cwd, umask, signals, environment and stdio."""
    import io
    import signal

    req, fds = job['req'], job['fds']
    env = req['env']
    for target, fd in enumerate(fds[:3]):
        os.dup2(fd, target)
    os.fchdir(fds[3])
    for fd in fds:
        if fd > 2:
            os.close(fd)
    os.umask(req['umask'])

    # as CPython at start-up: SIGINT raises KeyboardInterrupt unless the caller ignored it,
    # SIGPIPE and SIGXFSZ ignored, everything else as the caller had it (ignored or default)
    ignored = set(req['ignored'])
    for sig in signal.valid_signals():
        if sig in (signal.SIGKILL, signal.SIGSTOP):
            continue
        if sig in ignored or sig in (signal.SIGPIPE, signal.SIGXFSZ):
            handler = signal.SIG_IGN
        elif sig == signal.SIGINT:
            handler = signal.default_int_handler
        else:
            handler = signal.SIG_DFL
        try:
            signal.signal(sig, handler)
        except (OSError, ValueError, RuntimeError):
            pass

    os.environ.clear()
    for k, v in env.items():
        try:
            os.environb[k] = v
        except ValueError:
            pass  # a name putenv refuses (empty): CPython would list it, nothing reads it
    time.tzset()

    import awscli
    awscli_data_dir = os.path.join(os.path.dirname(os.path.abspath(awscli.__file__)), 'data')
    os.environ['AWS_DATA_PATH'] = _awscli_data_path(awscli_data_dir)
    awscli._awscli_data_path = os.environ['AWS_DATA_PATH'].split(os.pathsep)

    buffered = not os.environ.get('PYTHONUNBUFFERED')
    old = (sys.stdin, sys.stdout, sys.stderr)

    def stdio(fd, write, name, like):
        # CPython's create_stdio (Python/pylifecycle.c)
        buffering = 0 if (write and not buffered) else -1
        buf = io.open(fd, 'wb' if write else 'rb', buffering, closefd=False)
        raw = buf.raw if buffering else buf
        raw.name = name
        line_buffering = buffered and (raw.isatty() or fd == 2)
        stream = io.TextIOWrapper(buf, like.encoding, like.errors, newline='\n',
                                  line_buffering=line_buffering, write_through=not buffered)
        stream.mode = 'w' if write else 'r'
        return stream

    sys.stdin = sys.__stdin__ = stdio(0, False, '<stdin>', old[0])
    sys.stdout = sys.__stdout__ = stdio(1, True, '<stdout>', old[1])
    sys.stderr = sys.__stderr__ = stdio(2, True, '<stderr>', old[2])

    entry = os.fsdecode(req['argv'][0])
    sys.argv = [entry] + [os.fsdecode(a) for a in req['argv'][1:]]
    sys.path[0] = os.path.dirname(os.path.realpath(entry))
    return entry


def _strip_server_frames(tb):
    while tb is not None and tb.tb_frame.f_code.co_filename == _HERE:
        tb = tb.tb_next
    return tb


def _excepthook(etype, value, tb):
    # a traceback shows the CLI's frames only, as a cold run's does
    sys.__excepthook__(etype, value, _strip_server_frames(tb))


def _exit_as_python_would(exc):
    """The end of a worker whose CLI returned or raised SystemExit: what CPython does at exit that
    a caller can see (join threads, atexit callbacks, flush stdout and stderr: 120 when that
    fails, with the same "Exception ignored" report), then _exit. CPython's remaining teardown
    (freeing every module of the warm process, ~0.1 s) has no effect outside the process."""
    code = 0
    if exc is not None and exc.code is not None:
        if isinstance(exc.code, int):
            code = exc.code
        else:
            try:
                sys.stderr.write(str(exc.code) + '\n')
            except Exception:
                pass
            code = 1
    import atexit
    import threading
    threading._shutdown()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        if stream is None or getattr(stream, 'closed', True):
            continue
        try:
            stream.flush()
        except Exception as e:
            if stream is sys.stdout and _UNRAISABLE is not None:
                # as PyErr_WriteUnraisable(stdout) reports it (a C-level flush: no traceback)
                sys.unraisablehook(_UNRAISABLE((type(e), e, None, None, stream)))
            code = 120
    os._exit(code & 0xFF)


def _unraisable_hook_args_type():
    """sys.UnraisableHookArgs is not exposed: take the type of one the interpreter makes."""
    seen = []

    class Dropped:
        def __del__(self):
            raise RuntimeError('probe')

    previous, sys.unraisablehook = sys.unraisablehook, seen.append
    try:
        Dropped()
    finally:
        sys.unraisablehook = previous
    return type(seen[0]) if seen else None


def main():
    started = time.monotonic()
    opts = _parse_args(sys.argv[1:])

    global SERVER_INTERPRETER_SETTINGS, MAJOR
    SERVER_INTERPRETER_SETTINGS = _interpreter_settings(dict(os.environb))
    services = [s for s in opts['services'].split(',') if s]
    warm = _Warm(services)
    MAJOR = int(warm.version.split('.')[0])
    global _PRCTL, _UNRAISABLE
    _PRCTL = _load_prctl()
    _UNRAISABLE = _unraisable_hook_args_type()
    import threading
    if threading.active_count() != 1:
        raise SystemExit('warm aws server: importing the CLI started threads; forking is not safe')
    rehearsed = ','.join(warm.pending) or 'nothing'
    while warm.step():
        pass
    import gc
    gc.collect()
    gc.freeze()  # the warm objects stay out of every worker's collections (fewer copied pages)
    _log('aws-cli %s warm after %.2f s (cpu %.2f s): imports, and a rehearsal of %s' % (warm.version, time.monotonic() - started, time.process_time(), rehearsed))
    return serve(opts, warm)


SERVER_INTERPRETER_SETTINGS = None
MAJOR = 1
_PRCTL = None
_UNRAISABLE = None

if __name__ == '__main__':
    _job = main()
    # ---- from here on this process is one `aws` call (a worker) ----
    _entry = _become_the_call(_job)
    sys.excepthook = _excepthook
    with open(_entry, 'rb') as _f:
        _code = compile(_f.read(), _entry, 'exec')
    _main = type(sys)('__main__')
    _main.__file__ = _entry
    _main.__builtins__ = __builtins__
    sys.modules['__main__'] = _main
    del _job, _f
    try:
        exec(_code, _main.__dict__)
    except SystemExit as _exit:
        _exit_as_python_would(_exit)
    _exit_as_python_would(None)

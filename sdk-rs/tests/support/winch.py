# The terminal program of tests/terminal_props.rs: reads raw bytes and logs
# them, a window size on each SIGWINCH and a name on each SIGUSR1/SIGUSR2.
# Before logging a size or signal it drains input already queued, so bytes
# sent before the resize are logged before it. '.' ends it.
import fcntl, os, signal, struct, sys, termios, tty

log = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_APPEND)
done = False

def record(data):
    global done
    if b"." in data:
        data = data[: data.index(b".")]
        done = True
    os.write(log, data)

def drain():
    flags = fcntl.fcntl(0, fcntl.F_GETFL)
    fcntl.fcntl(0, fcntl.F_SETFL, flags | os.O_NONBLOCK)
    try:
        while not done:
            data = os.read(0, 65536)
            if not data:
                break
            record(data)
    except BlockingIOError:
        pass
    finally:
        fcntl.fcntl(0, fcntl.F_SETFL, flags)

def on_winch(*_):
    drain()
    rows, cols = struct.unpack("hhhh", fcntl.ioctl(0, termios.TIOCGWINSZ, b"\0" * 8))[:2]
    os.write(log, b"<W%d %d>" % (cols, rows))

def on_usr(number, *_):
    drain()
    os.write(log, b"<USR1>" if number == signal.SIGUSR1 else b"<USR2>")

tty.setraw(0)
signal.signal(signal.SIGWINCH, on_winch)
signal.signal(signal.SIGUSR1, on_usr)
signal.signal(signal.SIGUSR2, on_usr)
os.write(1, b"ready\r\n")
while not done:
    data = os.read(0, 65536)
    if not data:
        break
    record(data)
os.write(1, b"done\r\n")

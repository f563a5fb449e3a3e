# The terminal program of tests/terminal_props.rs: reads raw bytes and logs
# them, the window size after each SIGWINCH and a name for each
# SIGUSR1/SIGUSR2. Handlers only note the signal; the main loop logs the
# notes once input has been quiet for 200 ms, so bytes sent before a resize
# or signal are always logged before it (the kernel hands bytes written to
# the PTY master to the line discipline from a work queue, so a signal sent
# right after a write can arrive before those bytes are readable).
# A size equal to the last one logged is not logged again. '.' ends it.
import fcntl, os, select, signal, struct, sys, termios, tty

log = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_APPEND)
pending = []
done = False
last_size = None

def on_winch(*_):
    pending.append("W")

def on_usr(number, *_):
    pending.append("USR1" if number == signal.SIGUSR1 else "USR2")

def log_pending():
    global last_size
    while pending:
        mark = pending.pop(0)
        if mark == "W":
            rows, cols = struct.unpack("hhhh", fcntl.ioctl(0, termios.TIOCGWINSZ, b"\0" * 8))[:2]
            if (cols, rows) == last_size:
                continue
            last_size = (cols, rows)
            os.write(log, b"<W%d %d>" % (cols, rows))
        else:
            os.write(log, b"<%s>" % mark.encode())

tty.setraw(0)
signal.signal(signal.SIGWINCH, on_winch)
signal.signal(signal.SIGUSR1, on_usr)
signal.signal(signal.SIGUSR2, on_usr)
os.write(1, b"ready\r\n")
while not done:
    if not select.select([0], [], [], 0.2)[0]:
        log_pending()
        continue
    data = os.read(0, 65536)
    if not data:
        break
    if b"." in data:
        data = data[: data.index(b".")]
        done = True
    os.write(log, data)
log_pending()
os.write(1, b"done\r\n")

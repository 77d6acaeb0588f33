# Small assertion helpers and shared fixtures for the MicroPython unit tests.
import json

VECTORS_PATH = "protocol/vectors/link_frames.json"
_vectors = None


def vectors():
    global _vectors
    if _vectors is None:
        with open(VECTORS_PATH) as f:
            _vectors = json.load(f)
    return _vectors


def unhex(s):
    return bytes(int(s[i : i + 2], 16) for i in range(0, len(s), 2))


def eq(got, want, what=""):
    if got != want:
        raise AssertionError("%s: got %r, want %r" % (what, got, want))


def true(cond, what):
    if not cond:
        raise AssertionError(what)


def raises(exc_type, fn, *args):
    try:
        fn(*args)
    except exc_type as exc:
        return exc
    raise AssertionError("%s not raised by %r%r" % (exc_type.__name__, fn, args))


class FakeWdt:
    def __init__(self):
        self.feeds = 0

    def feed(self):
        self.feeds += 1


class FakePin:
    def __init__(self, level=0):
        self.level = level
        self.history = []

    def value(self, level=None):
        if level is None:
            return self.level
        self.level = level
        self.history.append(level)
        return None

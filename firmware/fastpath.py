# Viper implementations of the link's hot code (CRC-16, COBS). Imported by codec.py, which
# falls back to its plain versions on ports without viper. Buffers are passed with their
# lengths so callers can reuse preallocated bytearrays without slicing.
import micropython


@micropython.viper
def crc16_viper(buf, n: int, crc: int, table) -> int:
    p = ptr8(buf)  # noqa: F821 (viper builtin)
    t = ptr16(table)  # noqa: F821
    i = 0
    while i < n:
        crc = ((crc << 8) & 0xFFFF) ^ t[((crc >> 8) ^ p[i]) & 0xFF]
        i += 1
    return crc


@micropython.viper
def cobs_encode_viper(src, n: int, dst) -> int:
    s = ptr8(src)  # noqa: F821
    d = ptr8(dst)  # noqa: F821
    code_i = 0
    code = 1
    o = 1
    i = 0
    while i < n:
        b = s[i]
        i += 1
        if b != 0:
            d[o] = b
            o += 1
            code += 1
        if b == 0 or code == 0xFF:
            d[code_i] = code
            code_i = o
            code = 1
            o += 1
    d[code_i] = code
    return o


@micropython.viper
def cobs_decode_viper(src, n: int, dst) -> int:
    s = ptr8(src)  # noqa: F821
    d = ptr8(dst)  # noqa: F821
    i = 0
    o = 0
    while i < n:
        code = int(s[i])
        if code == 0:
            return -1
        end = i + code
        if end > n:
            return -1
        i += 1
        while i < end:
            b = s[i]
            if b == 0:
                return -1
            d[o] = b
            o += 1
            i += 1
        if code != 0xFF and i < n:
            d[o] = 0
            o += 1
    return o

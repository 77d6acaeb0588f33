# CRC-16/CCITT-FALSE and COBS for the link (ARCHITECTURE section 6).
# Plain Python versions work on every port; the viper versions in fastpath.py are used
# when the port supports them. Both are tested to give identical results.
import array

IMPL = "plain"


def _make_table():
    table = array.array("H", bytes(512))
    for byte in range(256):
        crc = byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
        table[byte] = crc & 0xFFFF
    return table


CRC_TABLE = _make_table()


def crc16_plain(buf, n, crc=0xFFFF, table=CRC_TABLE):
    for i in range(n):
        crc = ((crc << 8) & 0xFFFF) ^ table[((crc >> 8) ^ buf[i]) & 0xFF]
    return crc


def cobs_encode_plain(src, n, dst):
    """Encode src[:n] into dst (capacity >= n + n // 254 + 2); returns the encoded length."""
    code_i = 0
    code = 1
    o = 1
    for i in range(n):
        b = src[i]
        if b:
            dst[o] = b
            o += 1
            code += 1
        if not b or code == 0xFF:
            dst[code_i] = code
            code_i = o
            code = 1
            o += 1
    dst[code_i] = code
    return o


def cobs_decode_plain(src, n, dst):
    """Decode src[:n] into dst (capacity >= n); returns the length, or -1 if not valid COBS."""
    i = 0
    o = 0
    while i < n:
        code = src[i]
        if code == 0:
            return -1
        end = i + code
        if end > n:
            return -1
        i += 1
        while i < end:
            b = src[i]
            if b == 0:
                return -1
            dst[o] = b
            o += 1
            i += 1
        if code != 0xFF and i < n:
            dst[o] = 0
            o += 1
    return o


try:
    from fastpath import cobs_decode_viper, cobs_encode_viper, crc16_viper

    _crc16 = crc16_viper
    cobs_encode = cobs_encode_viper
    cobs_decode = cobs_decode_viper
    IMPL = "viper"
except (ImportError, SyntaxError, ValueError, NotImplementedError):
    _crc16 = crc16_plain
    cobs_encode = cobs_encode_plain
    cobs_decode = cobs_decode_plain


def crc16(buf, n=-1, crc=0xFFFF):
    """CRC-16/CCITT-FALSE of buf[:n] (all of buf when n < 0)."""
    return _crc16(buf, len(buf) if n < 0 else n, crc, CRC_TABLE)
